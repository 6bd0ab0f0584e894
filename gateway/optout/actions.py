"""What the opt-out and compliance rules write, inside the writer's transaction.

Runs at the end of every outbox batch (``Outbox.hook``), so each effect commits with what
caused it, or not at all:

- accepted messages: who last wrote to a number from which sender (``last`` DB: number(8)
  sender -> account), which tells whose STOP a reply is; marketing rows for the frequency cap;
- replies: a STOP keyword excludes the sender in the configured scope (global by default, else
  the network or the account of whoever last wrote to that number through that short code),
  a re-subscription keyword (when configured) removes that exclusion, recorded; both write an
  ``optout`` event; the reply event gets its account;
- receipts that say the number itself failed for good (UNDELIV/REJECTD with an error code the
  operator's config lists as permanent): counted per number (``fails`` DB), and after
  ``failed_threshold`` in ``failed_window_days`` the number is excluded globally with reason
  ``failed_number`` for ``failed_exclusion_days``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmdb
import msgpack

from gateway.numbers import InvalidNumber, normalize, pack
from gateway.optout.frequency import FrequencyStore
from gateway.optout.keywords import DEFAULT_STOP_KEYWORDS, KeywordMatcher
from gateway.optout.store import OptoutStore

DAY = 86400.0
FAILED_STATS = frozenset({"UNDELIV", "REJECTD"})


class OptoutActions:
    def __init__(
        self, config: Any, store: OptoutStore, frequency: FrequencyStore, env: lmdb.Environment
    ) -> None:
        self.config = config
        self.store = store
        self.frequency = frequency
        self._last = env.open_db(b"last")
        self._fails = env.open_db(b"fails")
        o = config.optout
        self.stop = KeywordMatcher((*DEFAULT_STOP_KEYWORDS, *o.stop_keywords))
        self.start = KeywordMatcher(o.resubscribe_keywords) if o.resubscribe_keywords else None
        self.capped = {a.name for a in config.accounts if a.frequency_cap > 0}
        self.region = config.gateway.default_region
        #: Counted by the service's commit hook for metrics: (scope, reason) per exclusion.
        self.optouts = 0

    def before(self, txn: lmdb.Transaction, batch: Any) -> None:
        """At the start of the batch: whose each reply is (its event carries the account)."""
        for reply in batch.replies:
            reply.number = _number(reply.sender, self.region)
            if reply.number is not None and reply.account is None:
                reply.account = self.last_account(txn, reply.number, reply.to)

    def after(self, txn: lmdb.Transaction, batch: Any, emit: Callable[[dict], None]) -> None:
        """At the end of the batch, in its transaction."""
        if batch.accept:
            self._accepted(txn, batch)
        if batch.replies:
            self._replies(txn, batch, emit)
        if batch.failed_numbers:
            self._failures(txn, batch.failed_numbers, emit)

    # -- accepted messages ---------------------------------------------------------------------

    def _accepted(self, txn: lmdb.Transaction, batch: Any) -> None:
        last_rows = []
        freq_rows = []
        for new, accepted in zip(batch.accept, batch.accepted, strict=True):
            if accepted.duplicate:
                continue
            last_rows.append((pack(new.to) + _sender_key(new.sender), new.account.encode()))
            if new.marketing and new.account in self.capped:
                freq_rows.append((new.account, new.to, new.accepted_at, new.id))
        if last_rows:
            txn.cursor(self._last).putmulti(last_rows)
        self.frequency.record(txn, freq_rows)

    def last_account(self, txn: lmdb.Transaction, number: str, sender: str) -> str | None:
        raw = txn.get(pack(number) + _sender_key(sender), db=self._last)
        return None if raw is None else raw.decode()

    # -- replies -------------------------------------------------------------------------------

    def _replies(self, txn: lmdb.Transaction, batch: Any, emit: Callable[[dict], None]) -> None:
        for reply in batch.replies:
            number, account = reply.number, reply.account
            if number is None:
                continue
            text = reply.text or ""
            if self.stop.matches(text):
                scope = self.config.reply_scope_for(account) if account else "global"
                if account is None and scope != "global":
                    scope = "global"
                added = self.store.add(
                    number,
                    scope,
                    "stop_reply",
                    source=f"reply to {reply.to} via "
                    f"{reply.operator}" + (f" ({account})" if account else ""),
                    at=reply.at,
                    txn=txn,
                )
                if not added:  # already excluded: nothing changed, nothing to tell or confirm
                    continue
                self.optouts += 1
                emit(
                    _optout_event("add", number, scope, "stop_reply", account=account, reply=reply)
                )
            elif self.start is not None and self.start.matches(text):
                scope = self.config.reply_scope_for(account) if account else "global"
                if self.store.remove(
                    number, scope, by=f"reply to {reply.to}", at=reply.at, txn=txn
                ):
                    emit(
                        _optout_event(
                            "remove", number, scope, "resubscribe", account=account, reply=reply
                        )
                    )

    # -- failed numbers ------------------------------------------------------------------------

    def _failures(
        self, txn: lmdb.Transaction, failed: list[tuple[str, float]], emit: Callable[[dict], None]
    ) -> None:
        o = self.config.optout
        window = o.failed_window_days * DAY
        for number, at in failed:
            key = pack(number)
            raw = txn.get(key, db=self._fails)
            times = [t for t in (msgpack.unpackb(raw) if raw else []) if t >= at - window]
            times.append(at)
            if len(times) >= o.failed_threshold:
                txn.delete(key, db=self._fails)
                until = at + o.failed_exclusion_days * DAY
                self.store.add(
                    number,
                    "global",
                    "failed_number",
                    source=f"{len(times)} permanent failures",
                    at=at,
                    until=until,
                    txn=txn,
                )
                self.optouts += 1
                emit(
                    {
                        "event": "optout",
                        "action": "add",
                        "number": number,
                        "scope": "global",
                        "reason": "failed_number",
                        "until": until,
                        "at": at,
                    }
                )
            else:
                txn.put(key, msgpack.packb(times), db=self._fails)


def _number(raw: str, region: str) -> str | None:
    try:
        return normalize(raw, region=region, require_mobile=False)
    except InvalidNumber:
        return None


def _sender_key(sender: str) -> bytes:
    return sender.lstrip("+").upper().encode()


def _optout_event(
    action: str, number: str, scope: str, reason: str, *, account: str | None, reply: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "optout",
        "action": action,
        "number": number,
        "scope": scope,
        "reason": reason,
        "to": reply.to,
        "operator": reply.operator,
        "at": reply.at,
    }
    if account is not None:
        event["account"] = account
    return event


__all__ = ["OptoutActions"]
