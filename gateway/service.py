"""What the daemon does for a client request, apart from reading and writing the socket.

Intake checks every message (account, number, sender, text, validity, route) and turns the good
ones into outbox operations in the writer's open batch: a ``submit_many`` of 1,000 messages and
1,000 pipelined ``submit`` requests alike end up in one write transaction. The reply is built
only after that transaction commits. Once committed, new messages go to the dispatcher and the
batch's events to the subscribers (``Service.committed``, the writer's commit hook).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
import trio

from gateway import codec
from gateway.api.protocol import ErrorCode, FieldError, SubmitRequest
from gateway.compliance import Policy, PolicyError
from gateway.config import Config
from gateway.dispatch import Clock, Dispatcher, Outgoing
from gateway.metrics import Metrics
from gateway.numbers import InvalidNumber, normalize
from gateway.optout.actions import OptoutActions
from gateway.optout.frequency import FrequencyStore
from gateway.optout.store import OptoutStore
from gateway.outbox import (
    P_DONE,
    P_ERROR,
    P_MSGID,
    P_OPERATOR,
    P_STATE,
    P_STATUS,
    P_SUBMITTED,
    Batch,
    NewMessage,
    Outbox,
    cursor_of,
)
from gateway.senders import InvalidSender, Sender, SenderKind, classify_sender
from gateway.smpp.client import Operator
from gateway.storage import StoreFull, begin_read
from gateway.writer import BatchWriter, Pending

log = structlog.get_logger("gateway.service")

#: Senders classified at intake, remembered (a campaign uses a handful of senders): bounded,
#: and cleared when full rather than tracked per entry.
SENDER_CACHE = 4096

#: What optout.check reports of an exclusion (nil each when the number is not excluded).
_ENTRY_FIELDS = ("scope", "reason", "at", "until", "source")

#: Part states as the API names them.
_STATES = ("queued", "scheduled", "submitted", "delivered", "failed", "expired", "rejected")


class Rejected(Exception):
    """A message refused at intake: ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


@dataclass(slots=True, eq=False)
class SubmitTicket:
    """Submissions handed to the writer: the replier awaits ``results``."""

    pending: Pending | None
    #: Per request, in order: an index into the batch's ``accepted`` list, or a ready error.
    slots: list[int | dict[str, Any]]
    started: float

    @property
    def ready(self) -> bool:
        return self.pending is None or self.pending.done.is_set()

    async def results(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.pending is None:
            return [slot for slot in self.slots if isinstance(slot, dict)]
        try:
            batch = await self.pending.wait()
        except StoreFull as exc:
            message = f"the message store is full; nothing was accepted ({exc})"
            return [
                slot if isinstance(slot, dict) else error(ErrorCode.STORE_FULL, message)
                for slot in self.slots
            ]
        for slot in self.slots:
            if isinstance(slot, dict):
                out.append(slot)
                continue
            accepted = batch.accepted[slot]
            result: dict[str, Any] = {
                "ok": True,
                "id": str(accepted.id),
                "parts": accepted.parts,
                "encoding": accepted.encoding,
                "state": accepted.state,
            }
            if accepted.duplicate:
                result["duplicate"] = True
            if accepted.send_after is not None:
                result["send_after"] = accepted.send_after
            out.append(result)
        return out


class OptoutTicket:
    """An ``optout.add`` or ``optout.remove`` handed to the writer: ``reply()`` once committed.

    ``write(txn, emit)`` runs in the batch's transaction (possibly twice, when the batch is
    retried on a grown map) and leaves its outcome in ``outcome``; ``build(outcome)`` makes the
    reply. A ticket made without ``pending`` carries a ready reply (an error found before any
    write)."""

    __slots__ = ("build", "outcome", "pending", "ready_reply")

    def __init__(
        self,
        pending: Pending | None,
        build: Callable[[Any], dict[str, Any]] | None = None,
        ready_reply: dict[str, Any] | None = None,
    ) -> None:
        self.pending = pending
        self.build = build
        self.ready_reply = ready_reply
        self.outcome: Any = None

    @property
    def ready(self) -> bool:
        return self.pending is None or self.pending.done.is_set()

    async def reply(self) -> dict[str, Any]:
        if self.pending is None:
            return self.ready_reply or error(ErrorCode.INTERNAL_ERROR, "empty opt-out ticket")
        try:
            await self.pending.wait()
        except StoreFull as exc:
            return error(ErrorCode.STORE_FULL, f"the store is full; nothing was written ({exc})")
        except Exception as exc:  # the writer failed: it says so in the daemon's log
            return error(ErrorCode.INTERNAL_ERROR, f"the write failed: {exc!r}")
        if isinstance(self.outcome, Exception):
            return error(ErrorCode.INTERNAL_ERROR, f"the write was refused: {self.outcome}")
        assert self.build is not None
        return self.build(self.outcome)


class Subscriber:
    """A connection that asked for events: a bounded buffer the connection drains."""

    __slots__ = ("buffer", "dropped", "kinds", "last_cursor", "limit", "wake")

    def __init__(self, kinds: frozenset[str], limit: int, wake: Callable[[], None]) -> None:
        self.kinds = kinds
        self.limit = limit
        self.buffer: list[dict[str, Any]] = []
        self.dropped = False
        self.last_cursor = ""
        self.wake = wake


class EventHub:
    """Committed events to live subscribers. A subscriber that falls ``limit`` events behind
    is dropped (told so, with the cursor to resume from) instead of growing the daemon."""

    def __init__(self, metrics: Metrics) -> None:
        self.subscribers: set[Subscriber] = set()
        self.metrics = metrics

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        if not events or not self.subscribers:
            return
        for sub in list(self.subscribers):
            wanted = [e for e in events if e["event"] in sub.kinds]
            if not wanted:
                continue
            if len(sub.buffer) + len(wanted) > sub.limit:
                sub.dropped = True
                self.subscribers.discard(sub)
                self.metrics.subscribers_dropped.inc()
            else:
                sub.buffer.extend(wanted)
            sub.wake()


class Service:
    """Intake, status, events, counts and health, over the outbox, writer and dispatcher."""

    def __init__(
        self,
        *,
        config: Config,
        outbox: Outbox,
        writer: BatchWriter,
        dispatcher: Dispatcher,
        operators: dict[str, Operator],
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.writer = writer
        self.dispatcher = dispatcher
        self.operators = operators
        self.metrics = metrics
        self.clock = clock
        self.hub = EventHub(metrics)
        self.accounts = {account.name: account for account in config.accounts}
        g = config.gateway
        self.default_validity = float(g.default_validity_s)
        self.max_validity = float(g.max_validity_s)
        self.region = g.default_region
        self.started = time.time()
        self.stopping = False
        self.require_mobile = config.compliance.require_mobile
        self.policy = Policy(config)
        self.optout = OptoutStore(outbox.env)
        self.frequency = FrequencyStore(outbox.env)
        self.actions = OptoutActions(config, self.optout, self.frequency, outbox.env)
        outbox.hook = self.actions
        self._blocks = (config.optout.blocks(False), config.optout.blocks(True))
        self.confirmation = config.optout.confirmation
        self._caps = {
            a.name: (a.frequency_cap, a.frequency_window_days * 86400.0)
            for a in config.accounts
            if a.frequency_cap > 0
        }
        # The number checker builds its per-country tables (~200 regexes, ~0.2 s) on first use:
        # pay that at start-up, not in the first client's submit.
        with contextlib.suppress(InvalidNumber):  # any E.164 number builds them all
            normalize("+33612345678", region=self.region)
        #: classify_sender results by sender (only good ones: a refusal is rebuilt each time).
        self._senders: dict[str, Sender] = {}

    # -- intake --------------------------------------------------------------------------------

    def _check(self, req: Any, now: float, message_id: int) -> tuple[NewMessage, Outgoing]:
        account = req.account
        if account not in self.accounts:
            raise Rejected(ErrorCode.UNKNOWN_ACCOUNT, f"unknown account {account!r}")
        try:
            to = normalize(req.to, region=self.region, require_mobile=self.require_mobile)
        except InvalidNumber as exc:
            raise Rejected(ErrorCode.INVALID_NUMBER, f"'to' {req.to!r}: {exc}") from None
        sender = self._senders.get(req.from_)
        if sender is None:
            try:
                sender = classify_sender(req.from_)
            except InvalidSender as exc:
                raise Rejected(ErrorCode.INVALID_SENDER, f"'from' {req.from_!r}: {exc}") from None
            if len(self._senders) >= SENDER_CACHE:
                self._senders.clear()
            self._senders[req.from_] = sender
        self.policy.check_sender(account, sender.address)
        text = req.text
        if not text:
            raise Rejected(ErrorCode.INVALID_TEXT, "'text' is empty")
        validity = self.default_validity if req.validity is None else float(req.validity)
        if not 0 < validity <= self.max_validity:
            raise Rejected(
                ErrorCode.INVALID_FIELD,
                f"'validity' must be from 1 to {int(self.max_validity)} seconds, "
                f"not {req.validity}",
            )
        send_after = None
        start = now
        if req.send_at is not None and float(req.send_at) > now:
            send_after = float(req.send_at)
            start = send_after
        expires_at = start + validity
        marketing = req.class_ == "marketing"
        if marketing:
            # The STOP mention (counted in the parts) and the marketing window.
            decision = self.policy.decide(
                account=account, marketing=True, text=text, start=start, validity=validity
            )
            text = decision.text
            if decision.send_after is not None:
                send_after = decision.send_after
        try:
            plan = codec.plan(text, ref=message_id & 0xFF, transliterate=req.transliterate)
        except codec.TooManyParts as exc:
            raise Rejected(ErrorCode.INVALID_TEXT, f"'text': {exc}") from None
        if not self.dispatcher.has_route(to):
            raise Rejected("no_route", f"no operator route carries {to}")
        state = "scheduled" if send_after is not None else "queued"
        new = NewMessage(
            id=message_id,
            account=account,
            to=to,
            sender=req.from_,
            text=text,
            marketing=marketing,
            ref=req.ref,
            priority=req.priority,
            transliterate=req.transliterate,
            accepted_at=now,
            send_after=send_after,
            expires_at=expires_at,
            encoding=plan.encoding,
            parts=len(plan.parts),
            state=state,
        )
        out = Outgoing(
            id=message_id,
            account=account,
            to=to,
            sender=sender.address,
            sender_ton=sender.ton,
            sender_npi=sender.npi,
            short_code=sender.kind is SenderKind.SHORT_CODE,
            plan=plan,
            marketing=marketing,
            priority=req.priority,
            send_after=send_after,
            expires_at=expires_at,
        )
        return new, out

    async def begin_submit(self, requests: Sequence[Any]) -> SubmitTicket:
        """Check ``requests`` (SubmitRequest, or a per-message field error to pass through) and
        add the good ones to the writer's open batch. Returns at once unless the writer is
        too far behind (backpressure); the replies come from ``ticket.results()``."""
        started = trio.current_time()
        if self.stopping:
            return SubmitTicket(
                None,
                [error(ErrorCode.SHUTTING_DOWN, "the gateway is stopping") for _ in requests],
                started,
            )
        await self.writer.room()
        now = self.clock.wall()
        pending = self.writer.open
        batch: Batch = pending.batch
        first_id = self.outbox.allocate_ids(len(requests))
        slots: list[int | dict[str, Any]] = []
        candidates: list[tuple[int, NewMessage, Outgoing]] = []
        for offset, req in enumerate(requests):
            if type(req) is FieldError:
                slots.append(req.as_result())
                self.metrics.client_errors.labels(str(req.code)).inc()
                continue
            try:
                new, out = self._check(req, now, first_id + offset)
            except (Rejected, PolicyError) as exc:
                slots.append(error(exc.code, exc.message))
                self._count_rejected(req.account, exc.code)
                continue
            candidates.append((len(slots), new, out))
            slots.append(-1)
        refused = self._list_checks(candidates, now) if candidates else {}
        for index, new, out in candidates:
            failure = refused.get(index)
            if failure is not None:
                slots[index] = failure
                self._count_rejected(new.account, failure["error"]["code"])
                continue
            slots[index] = len(batch.accept)
            batch.accept.append(new)
            batch.outgoing.append(out)
        if len(batch.accept):
            self.writer.kick()
            return SubmitTicket(pending, slots, started)
        return SubmitTicket(None, slots, started)

    def _confirm(self, event: dict[str, Any]) -> None:
        """The configured STOP confirmation, to the number that replied, from the sender it
        replied to: a notification (the opt-out list does not hold it back), in the writer's
        next batch, released on its commit like any accepted message."""
        request = SubmitRequest(
            seq=0, account=event["account"], to=event["number"], from_=event["to"],
            text=self.confirmation, transliterate=True, priority=9,
        )
        message_id = self.outbox.allocate_ids(1)
        try:
            new, out = self._check(request, self.clock.wall(), message_id)
        except (Rejected, PolicyError) as exc:
            log.warning("optout.confirmation_refused", code=exc.code, error=exc.message)
            return
        batch = self.writer.open.batch
        batch.accept.append(new)
        batch.outgoing.append(out)
        self.writer.kick()

    def _count_rejected(self, account: str, code: str) -> None:
        self.metrics.rejected.labels(account if account in self.accounts else "", code).inc()

    def _list_checks(
        self, candidates: Sequence[tuple[int, NewMessage, Outgoing]], now: float
    ) -> dict[int, dict[str, Any]]:
        """The opt-out list (one read per account in the batch) and the frequency cap (one read
        transaction), for the messages that passed the other checks: slot -> error."""
        refused: dict[int, dict[str, Any]] = {}
        by_account: dict[str, list[tuple[int, str]]] = {}
        blocks = self._blocks
        for index, new, _ in candidates:
            if blocks[new.marketing]:
                by_account.setdefault(new.account, []).append((index, new.to))
        for account, items in by_account.items():
            hits = self.optout.check_many(
                [number for _, number in items], self.config.optout_scopes(account), now
            )
            for (index, number), hit in zip(items, hits, strict=True):
                if hit is not None:
                    failure = error(
                        ErrorCode.OPTED_OUT,
                        f"{number} is excluded ({hit.reason}) in scope {hit.scope}",
                    )
                    failure["error"]["scope"] = hit.scope
                    failure["state"] = "rejected"
                    refused[index] = failure
        capped = [
            (index, new)
            for index, new, _ in candidates
            if new.marketing and new.account in self._caps and index not in refused
        ]
        if capped:
            with begin_read(self.outbox.env) as txn:
                counts = self.frequency.counts(
                    txn,
                    [(new.account, new.to) for _, new in capped],
                    [now - self._caps[new.account][1] for _, new in capped],
                )
            in_batch: Counter[tuple[str, str]] = Counter()
            for (index, new), count in zip(capped, counts, strict=True):
                cap, window = self._caps[new.account]
                key = (new.account, new.to)
                if count + in_batch[key] >= cap:
                    failure = error(
                        ErrorCode.FREQUENCY_CAP,
                        f"account {new.account!r} may send {new.to} at most {cap} marketing "
                        f"messages in {window / 86400:g} days",
                    )
                    failure["state"] = "rejected"
                    refused[index] = failure
                else:
                    in_batch[key] += 1
        return refused

    def committed(self, batch: Batch, seconds: float) -> None:
        """The writer's commit hook: release new messages, publish events, count."""
        m = self.metrics
        m.commits.inc()
        m.commit_seconds.observe(seconds)
        # Counted per batch, not per message: labels() costs more than the increment.
        if batch.accept:
            fresh = []
            accepted_by: Counter[str] = Counter()
            duplicates_by: Counter[str] = Counter()
            for accepted, out in zip(batch.accepted, batch.outgoing, strict=True):
                if accepted.duplicate:
                    duplicates_by[out.account] += 1
                elif accepted.id == out.id:
                    accepted_by[out.account] += 1
                    fresh.append(out)
            self.dispatcher.release(fresh)
            for account, n in accepted_by.items():
                m.accepted.labels(account).inc(n)
            for account, n in duplicates_by.items():
                m.duplicates.labels(account).inc(n)
        if batch.events:
            states: Counter[str] = Counter()
            receipts: Counter[tuple[str, str]] = Counter()
            for event in batch.events:
                kind = event["event"]
                if kind == "status":
                    states[event["state"]] += 1
                elif kind == "receipt":
                    receipts[(event["operator"], event["stat"] or "unknown")] += 1
                elif kind == "optout":
                    m.optouts.labels(event["action"], event["reason"]).inc()
                    if (
                        self.confirmation
                        and event["action"] == "add"
                        and event["reason"] == "stop_reply"
                        and event.get("account") in self.accounts
                    ):
                        self._confirm(event)
            for state, n in states.items():
                m.finished.labels(state).inc(n)
            for labels, n in receipts.items():
                m.receipts.labels(*labels).inc(n)
            self.hub.publish(batch.events)
        if batch.receipt_delays:
            children: dict[str, Any] = {}
            for operator, delay in batch.receipt_delays:
                child = children.get(operator)
                if child is None:
                    child = children[operator] = m.receipt_seconds.labels(operator)
                child.observe(delay)

    # -- the opt-out list (socket API) ---------------------------------------------------------
    #
    # Writes go into the writer's open batch as a ``Batch.calls`` entry, so they commit in one
    # transaction with whatever else the batch holds (through the writer's limiter: never beside
    # a prune, never while the map grows), their ``optout`` event is written in that same
    # transaction, and the reply is built only after the commit. ``optout_check`` reads the
    # store directly (short read transactions, one per scope asked; an admin op, not intake).

    def _optout_scope_error(self, scope: str) -> dict[str, Any] | None:
        """An ``invalid_field`` error unless ``scope``'s network or account is configured (its
        syntax was checked by the protocol)."""
        if scope == "global":
            return None
        kind, _, name = scope.partition(":")
        known = (
            any(net.name == name for net in self.config.networks)
            if kind == "network"
            else name in self.accounts
        )
        if known:
            return None
        failure = error(
            ErrorCode.INVALID_FIELD, f"'scope' {scope!r}: no {kind} {name!r} in the configuration"
        )
        failure["error"]["field"] = "scope"
        return failure

    def _optout_number(self, raw: str) -> tuple[str | None, dict[str, Any] | None]:
        """(E.164, None), or (None, an ``invalid_number`` error). Any number that can reach
        intake can be excluded, so the same ``require_mobile`` rule applies."""
        try:
            return normalize(raw, region=self.region, require_mobile=self.require_mobile), None
        except InvalidNumber as exc:
            failure = error(ErrorCode.INVALID_NUMBER, f"'number' {exc}")
            failure["error"]["field"] = "number"
            return None, failure

    async def _optout_write(
        self, write: Callable[[Any, Callable[[dict[str, Any]], None]], Any],
        build: Callable[[Any], dict[str, Any]],
    ) -> OptoutTicket:
        await self.writer.room()
        if self.stopping:  # checked after the wait: the writer closes once the front stops
            return OptoutTicket(None, ready_reply=error(ErrorCode.SHUTTING_DOWN,
                                                        "the gateway is stopping"))
        pending = self.writer.open
        ticket = OptoutTicket(pending, build)

        def call(txn: Any, emit: Callable[[dict[str, Any]], None]) -> None:
            try:
                ticket.outcome = write(txn, emit)
            except ValueError as exc:
                # The store validates an entry before it writes anything, so the rest of the
                # batch is unharmed; this request alone fails.
                ticket.outcome = exc

        pending.batch.calls.append(call)
        self.writer.kick()
        return ticket

    async def optout_add(self, req: Any) -> OptoutTicket:
        """``optout.add``: exclude ``req.number`` in ``req.scope``; the reply says whether it
        is new (``added``) once the write has committed."""
        if self.stopping:
            return OptoutTicket(None, ready_reply=error(ErrorCode.SHUTTING_DOWN,
                                                        "the gateway is stopping"))
        number, failure = self._optout_number(req.number)
        failure = failure or self._optout_scope_error(req.scope)
        now = self.clock.wall()
        if failure is None and req.until is not None and req.until <= now:
            failure = error(ErrorCode.INVALID_FIELD,
                            f"'until' {req.until} is in the past: the exclusion would not count")
            failure["error"]["field"] = "until"
        if failure is not None:
            return OptoutTicket(None, ready_reply=failure)
        assert number is not None
        scope, reason, until = req.scope, req.reason, req.until
        source = req.source if req.source is not None else "api"

        def write(txn: Any, emit: Callable[[dict[str, Any]], None]) -> bool:
            added = self.optout.add(
                number, scope, reason, source=source, at=now, until=until, txn=txn
            )
            if added:
                event: dict[str, Any] = {
                    "event": "optout", "action": "add", "number": number, "scope": scope,
                    "reason": reason, "source": source, "at": now,
                }
                if until is not None:
                    event["until"] = until
                emit(event)
            return added

        return await self._optout_write(
            write,
            lambda added: {"ok": True, "added": bool(added), "number": number, "scope": scope},
        )

    async def optout_remove(self, req: Any) -> OptoutTicket:
        """``optout.remove``: the store records who (``by``) and when in its history, in the
        same transaction; ``removed`` is false (and nothing is recorded) when the number was
        not excluded in that scope."""
        if self.stopping:
            return OptoutTicket(None, ready_reply=error(ErrorCode.SHUTTING_DOWN,
                                                        "the gateway is stopping"))
        number, failure = self._optout_number(req.number)
        failure = failure or self._optout_scope_error(req.scope)
        if failure is not None:
            return OptoutTicket(None, ready_reply=failure)
        assert number is not None
        scope, by = req.scope, req.by
        now = self.clock.wall()

        def write(txn: Any, emit: Callable[[dict[str, Any]], None]) -> bool:
            removed = self.optout.remove(number, scope, by=by, at=now, txn=txn)
            if removed:
                emit({"event": "optout", "action": "remove", "number": number, "scope": scope,
                      "reason": "api", "by": by, "at": now})
            return removed

        return await self._optout_write(
            write,
            lambda removed: {"ok": True, "removed": bool(removed), "number": number,
                             "scope": scope},
        )

    def optout_check(self, req: Any) -> dict[str, Any]:
        """``optout.check``: the widest exclusion of the number in ``req.account``'s scopes
        (global, its network, itself), or in every scope when no account is given; ``entries``
        lists every scope that excludes it, widest first."""
        number, failure = self._optout_number(req.number)
        if failure is not None:
            return failure
        assert number is not None
        if req.account is not None:
            if req.account not in self.accounts:
                return error(ErrorCode.UNKNOWN_ACCOUNT, f"unknown account {req.account!r}")
            scopes = list(self.config.optout_scopes(req.account))
        else:
            scopes = ["global"]
            scopes += [f"network:{net.name}" for net in self.config.networks]
            scopes += [f"account:{name}" for name in self.accounts]
            # scopes written by imports for names no longer configured count too
            extra = set(self.optout.count_by_scope()) - set(scopes)
            scopes += sorted(extra, key=lambda s: (not s.startswith("network:"), s))
        now = self.clock.wall()
        hits = [self.optout.check(number, [scope], now) for scope in scopes]
        entries = [
            {"scope": h.scope, "reason": h.reason, "at": h.at, "until": h.until,
             "source": h.source}
            for h in hits
            if h is not None
        ]
        widest = entries[0] if entries else dict.fromkeys(_ENTRY_FIELDS)
        return {"ok": True, "number": number, "excluded": bool(entries), **widest,
                "entries": entries}

    # -- reads ---------------------------------------------------------------------------------

    def status(self, message_id: str) -> dict[str, Any]:
        if not message_id.isdigit() or len(message_id) > 20:
            return error(ErrorCode.NOT_FOUND, f"no message {message_id!r}")
        record = self.outbox.get(int(message_id))
        if record is None:
            return error(ErrorCode.NOT_FOUND, f"no message {message_id!r} (unknown, or pruned)")
        return {
            "ok": True,
            "id": message_id,
            "state": record["st"],
            "account": record["a"],
            "to": record["to"],
            "from": record["fr"],
            "class": "marketing" if record["mk"] else "transactional",
            "ref": record["rf"],
            "encoding": record["en"],
            "accepted_at": record["at"],
            "send_after": record["sa"],
            "expires_at": record["ex"],
            "error": record["er"],
            "parts": [
                {
                    "state": p[P_STATE],
                    "operator": p[P_OPERATOR],
                    "message_id": p[P_MSGID],
                    "status": p[P_STATUS],
                    "error": p[P_ERROR],
                    "submitted_at": p[P_SUBMITTED],
                    "done_at": p[P_DONE],
                }
                for p in record["pt"]
            ],
        }

    def events_since(self, cursor: str, limit: int, kinds: frozenset[str] | None) -> dict[str, Any]:
        if cursor and not cursor.isdigit():
            return error(ErrorCode.INVALID_FIELD, f"'cursor' {cursor!r} is not a cursor we gave")
        events, last, more = self.outbox.events_since(int(cursor or 0), limit, kinds)
        return {"ok": True, "events": events, "cursor": cursor_of(last), "more": more}

    def count(self, text: str, transliterate: bool) -> dict[str, Any]:
        c = codec.count(text, transliterate=transliterate)
        return {
            "ok": True,
            "encoding": c.encoding,
            "units": c.units,
            "parts": c.parts,
            "per_part": c.per_part,
            "sendable": c.sendable,
        }

    def health(self) -> dict[str, Any]:
        queued = self.dispatcher.queued()
        operators = []
        for name, op in self.operators.items():
            view = op.health() if hasattr(op, "health") else {"name": name, "bound": op.bound_links}
            view["waiting"] = queued.get(name, 0)
            operators.append(view)
        return {
            "ok": True,
            "operators": operators,
            "queued": sum(v["waiting"] + v.get("queued", 0) for v in operators),
            "scheduled": self.dispatcher.scheduled,
            "store": self.outbox.counts(),
            "uptime": time.time() - self.started,
            "stopping": self.stopping,
        }


__all__ = [
    "EventHub", "OptoutTicket", "Rejected", "Service", "SubmitTicket", "Subscriber", "error",
]
