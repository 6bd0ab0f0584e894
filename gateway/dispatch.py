"""From accepted messages to parts on the operators' links, and back to the outbox.

The dispatcher holds, in memory, the messages that still have parts to send (the outbox holds
them durably; a restart rebuilds this from ``Outbox.pending``). Each operator has a *lane*: a
heap ordered transactional before marketing, then by priority, then by acceptance, and one
feeder task that expands messages into ``SubmitJob``s and hands them to the operator's bounded
queue (where the links take them as fast as the operator's token bucket and windows allow).
Messages with a ``send_after`` in the future wait in one scheduler heap served by one task.

What the links report comes back on one channel; the reporter turns it into outbox operations
in batches: accepted parts get their operator message id indexed for receipts, permanent
failures fail the message, and unknown outcomes (time-out, connection loss) are sent again:
delivery is at-least-once, and those are the only cases where a duplicate can reach a handset.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
import trio

from gateway import codec
from gateway.outbox import Batch, Expire, PartResult, opid_key
from gateway.smpp import codec as smpp_codec
from gateway.smpp.client import Operator, Outcome, SubmitJob, SubmitOutcome
from gateway.smpp.pdu import SubmitSm
from gateway.smpp.receipts import IdFormat, normalize_id
from gateway.writer import BatchWriter

log = structlog.get_logger("gateway.dispatch")

#: Times a part whose outcome stayed unknown is sent again before it is failed.
MAX_UNKNOWN = 3

#: Messages a feeder takes from its lane at most between two checkpoints (it awaits only when
#: the lane is empty or the links' queue full).
FEED_CHECKPOINT = 256

#: Ranks in a lane: retries first, then transactional, then marketing.
RANK_RETRY, RANK_TRANSACTIONAL, RANK_MARKETING = 0, 1, 2

#: ``SubmitSm(...)`` without the frozen dataclass's per-field ``object.__setattr__``.
_submit_sm = smpp_codec.builder(SubmitSm)


@dataclass(slots=True, eq=False)
class Outgoing:
    """A message with parts still to send, as the dispatcher holds it."""

    id: int
    account: str
    to: str
    sender: str
    sender_ton: int
    sender_npi: int
    plan: codec.Plan
    marketing: bool
    priority: int
    send_after: float | None
    expires_at: float
    #: Part indexes not yet accepted or failed.
    todo: set[int] = field(default_factory=set)
    unknown: int = 0
    done: bool = False
    #: The operator a part went to last (receipts are indexed under it).
    operator: str = ""
    #: A short-code sender: its TON/NPI are the route's (operators differ), not the defaults.
    short_code: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """One operator, the prefixes it serves ("" = the default route), and how its ids read."""

    name: str
    prefixes: tuple[str, ...]
    #: How the operator writes ids in submit_sm_resp, and in its receipts.
    id_format: IdFormat = IdFormat.AS_IS
    receipt_id_format: IdFormat = IdFormat.AS_IS
    #: How this operator wants short-code senders typed ([[operators]] short_code_ton/npi).
    short_code_ton: int = 3
    short_code_npi: int = 0


#: Distinct number heads whose routes are remembered (cleared when full).
ROUTE_CACHE = 4096


class Router:
    """Longest matching prefix of the E.164 number; ties go to the operator listed first."""

    def __init__(self, routes: Sequence[Route]) -> None:
        table = [
            (len(prefix), -order, prefix, route.name)
            for order, route in enumerate(routes)
            for prefix in route.prefixes
        ]
        table.sort(reverse=True)
        self._table = [(prefix, name) for _, _, prefix, name in table]
        #: The answer depends only on the number's first ``_span`` characters (the longest
        #: prefix): a campaign's numbers share a few such heads, so the answers are cached.
        self._span = max((len(prefix) for prefix, _ in self._table), default=0)
        self._cache: dict[str, tuple[str, ...]] = {}

    def candidates(self, number: str) -> tuple[str, ...]:
        """Operators that may carry ``number``, best first (each once)."""
        head = number[: self._span]
        found = self._cache.get(head)
        if found is None:
            seen: list[str] = []
            for prefix, name in self._table:
                if head.startswith(prefix) and name not in seen:
                    seen.append(name)
            if len(self._cache) >= ROUTE_CACHE:
                self._cache.clear()
            found = self._cache[head] = tuple(seen)
        return found


def relative_validity(seconds: float) -> str:
    """SMPP 3.4 relative time ``YYMMDDhhmmss000R`` for a validity of ``seconds``."""
    return _relative_time(max(60, int(seconds)))


@functools.lru_cache(maxsize=4096)  # a pure function: a campaign's parts share a few values
def _relative_time(s: int) -> str:
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    years, days = divmod(days, 365)
    months, days = divmod(days, 30)
    return f"{min(years, 99):02d}{months:02d}{days:02d}{hours:02d}{minutes:02d}{s:02d}000R"


class Clock:
    """Wall-clock time (unix seconds) derived from trio's clock, so a test's MockClock moves
    the calendar too: quiet hours, ``send_at`` and validity are all tested in virtual time."""

    def __init__(self, wall_at_start: float, trio_at_start: float) -> None:
        self._offset = wall_at_start - trio_at_start

    def wall(self) -> float:
        return trio.current_time() + self._offset

    def wall_at(self, trio_time: float) -> float:
        """The wall time of ``trio_time`` (for a caller that already read trio's clock)."""
        return trio_time + self._offset

    def trio_time(self, wall: float) -> float:
        return wall - self._offset


class Lane:
    """One operator's waiting work and the feeder that hands it to the operator's queue."""

    def __init__(self, operator: Operator, route: Route) -> None:
        self.operator = operator
        self.route = route
        self._heap: list[tuple[int, int, int, Outgoing, int | None]] = []
        self._ready = trio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, rank: int, priority: int, seq: int, message: Outgoing, part: int | None) -> None:
        heapq.heappush(self._heap, (rank, -priority, seq, message, part))
        self._ready.set()

    def pop_nowait(self) -> tuple[Outgoing, int | None] | None:
        """The next item, or None when the lane is empty (no coroutine: the feeder's hot path)."""
        if not self._heap:
            return None
        _, _, _, message, part = heapq.heappop(self._heap)
        return message, part

    async def pop(self) -> tuple[Outgoing, int | None]:
        while not self._heap:
            self._ready = trio.Event()
            await self._ready.wait()
        _, _, _, message, part = heapq.heappop(self._heap)
        return message, part


class Dispatcher:
    """Feeds the lanes, reports outcomes to the outbox. See the module docstring."""

    def __init__(
        self,
        *,
        writer: BatchWriter,
        operators: dict[str, Operator],
        routes: Sequence[Route],
        clock: Clock,
        failover: bool = False,
        on_outcome: Callable[[SubmitOutcome, float], None] | None = None,
    ) -> None:
        self.writer = writer
        self.clock = clock
        self.router = Router(routes)
        self.routes = {route.name: route for route in routes}
        self.lanes = {name: Lane(op, self.routes[name]) for name, op in operators.items()}
        self.failover = failover
        self.on_outcome = on_outcome
        self._seq = itertools.count()
        self._scheduled: list[tuple[float, int, Outgoing]] = []
        self._schedule_changed = trio.Event()
        #: Parts handed to a link and not yet answered, by (message id, part).
        self._sent_at: dict[tuple[int, int], float] = {}
        self.expired = 0

    # -- intake side --------------------------------------------------------------------------

    def has_route(self, number: str) -> bool:
        return bool(self.router.candidates(number))

    def release(self, messages: Sequence[Outgoing]) -> None:
        """Messages are durable: send them now, or when their time comes."""
        now = self.clock.wall()
        for message in messages:
            message.todo = set(range(len(message.plan.parts))) if not message.todo else message.todo
            if message.send_after is not None and message.send_after > now:
                heapq.heappush(self._scheduled, (message.send_after, next(self._seq), message))
                self._schedule_changed.set()
            else:
                self._enqueue(
                    message, None, RANK_MARKETING if message.marketing else RANK_TRANSACTIONAL
                )

    def queued(self) -> dict[str, int]:
        return {name: len(lane) for name, lane in self.lanes.items()}

    @property
    def scheduled(self) -> int:
        return len(self._scheduled)

    def _lane_for(self, message: Outgoing) -> Lane | None:
        names = self.router.candidates(message.to)
        if not names:
            return None
        if self.failover:
            for name in names:
                if self.lanes[name].operator.bound_links:
                    return self.lanes[name]
        return self.lanes[names[0]]

    def _enqueue(self, message: Outgoing, part: int | None, rank: int) -> None:
        lane = self._lane_for(message)
        if lane is None:  # the routes changed across a restart: nothing carries it any more
            self._fail_now(message, "no operator route for this number")
            return
        lane.push(rank, message.priority, next(self._seq), message, part)

    def _fail_now(self, message: Outgoing, error: str) -> None:
        message.done = True
        at = self.clock.wall()
        batch = self.writer.open.batch
        for part in sorted(message.todo):
            batch.results.append(
                PartResult(
                    id=message.id, part=part, accepted=False, operator="", at=at, error=error,
                    code="no_route",
                )
            )
        self.writer.kick()

    # -- tasks ---------------------------------------------------------------------------------

    async def feed(
        self, *, task_status: trio.TaskStatus[Dispatcher] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The scheduler and one feeder per lane, until cancelled (stopping them stops new
        parts from going out; what is in the windows still gets its answers)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._scheduler)
            for lane in self.lanes.values():
                nursery.start_soon(self._feed, lane)
            task_status.started(self)

    async def report(self, outcomes: trio.MemoryReceiveChannel[SubmitOutcome]) -> None:
        """Turn link outcomes into outbox operations, until the channel closes or cancelled."""
        await self._report(outcomes)

    async def _scheduler(self) -> None:
        while True:
            self._schedule_changed = trio.Event()
            if not self._scheduled:
                await self._schedule_changed.wait()
                continue
            due, _, message = self._scheduled[0]
            if due > self.clock.wall():
                with trio.move_on_at(self.clock.trio_time(due)):
                    await self._schedule_changed.wait()
                continue
            heapq.heappop(self._scheduled)
            if not message.done:
                self._enqueue(
                    message, None, RANK_MARKETING if message.marketing else RANK_TRANSACTIONAL
                )

    async def _feed(self, lane: Lane) -> None:
        operator = lane.operator
        name = lane.route.name
        submit = operator.submit
        submit_nowait = operator.submit_nowait
        sent_at = self._sent_at
        clock = self.clock
        unchecked = 0
        while True:
            # Without awaiting while there is work and room (the links' queue, bounded, fills
            # within a few hundred parts and the feeder then waits in ``submit``): a coroutine
            # per part and per message costs more than the part's PDU.
            item = lane.pop_nowait()
            if item is None:
                item = await lane.pop()
                unchecked = 0
            elif unchecked >= FEED_CHECKPOINT:
                await trio.lowlevel.checkpoint()  # a long run of skipped or expired messages
                unchecked = 0
            unchecked += 1
            message, only = item
            if message.done:
                continue
            trio_now = trio.current_time()
            now = clock.wall_at(trio_now)
            if now >= message.expires_at:
                message.done = True
                self.expired += 1
                self.writer.open.batch.expire.append(Expire(id=message.id, at=now))
                self.writer.kick()
                continue
            message.operator = name
            validity = relative_validity(message.expires_at - now)
            todo = message.todo
            if only is not None:
                parts = [only]
            elif len(todo) == 1:
                parts = list(todo)
            else:
                parts = sorted(todo)
            plan = message.plan
            total = len(plan.parts)
            destination = message.to[1:]
            if message.short_code:
                ton, npi = lane.route.short_code_ton, lane.route.short_code_npi
            else:
                ton, npi = message.sender_ton, message.sender_npi
            for n, index in enumerate(parts):
                if index not in todo:
                    continue
                pdu = _submit_sm(
                    source_addr_ton=ton,
                    source_addr_npi=npi,
                    source_addr=message.sender,
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=destination,
                    esm_class=plan.esm_class,
                    validity_period=validity,
                    registered_delivery=1,
                    data_coding=plan.data_coding,
                    short_message=plan.parts[index],
                )
                # The clock read above serves the first part; a later part may have waited
                # in ``submit`` for room in the operator's queue, so it reads the clock again.
                sent_at[(message.id, index)] = trio_now if n == 0 else trio.current_time()
                job = SubmitJob(pdu=pdu, tag=(message, index, total))
                try:
                    submit_nowait(job)
                except trio.WouldBlock:
                    await submit(job)
                    unchecked = 0

    async def _report(self, outcomes: trio.MemoryReceiveChannel[SubmitOutcome]) -> None:
        """Outcomes, in batches of what is already there: one outbox batch for many."""
        async for first in outcomes:
            batch = self.writer.open.batch
            # One clock reading for what is already there: it all arrived by now.
            now = trio.current_time()
            at = self.clock.wall_at(now)
            self._outcome(first, batch, now, at)
            while True:
                try:
                    more = outcomes.receive_nowait()
                except trio.WouldBlock:
                    break
                self._outcome(more, batch, now, at)
            self.writer.kick()
            await self.writer.room()

    def _outcome(self, outcome: SubmitOutcome, batch: Batch, now: float, at: float) -> None:
        """``now``: trio's clock as the outcome was taken; ``at``: the same as wall time."""
        message, index, _total = outcome.tag  # type: ignore[misc]
        sent = self._sent_at.pop((message.id, index), None)
        if self.on_outcome is not None:
            self.on_outcome(outcome, math.nan if sent is None else now - sent)
        if outcome.outcome is Outcome.ACCEPTED:
            message.todo.discard(index)
            route = self.routes.get(outcome.operator)
            raw = outcome.message_id or ""
            fmt = route.id_format if route else IdFormat.AS_IS
            key = opid_key(
                outcome.operator, raw if fmt is IdFormat.AS_IS else normalize_id(raw, fmt)
            )
            batch.results.append(
                PartResult(
                    id=message.id,
                    part=index,
                    accepted=True,
                    operator=outcome.operator,
                    at=at,
                    message_id=raw,
                    key=key,
                    status=0,
                )
            )
            if not message.todo:
                message.done = True
            return
        if (
            outcome.outcome is Outcome.UNKNOWN
            and message.unknown < MAX_UNKNOWN
            and not message.done
        ):
            message.unknown += 1
            log.debug("dispatch.resend", id=message.id, part=index, reason=outcome.reason)
            self._enqueue(message, index, RANK_RETRY)
            return
        error = outcome.reason or "failed"
        if outcome.outcome is Outcome.UNKNOWN:
            error = f"no answer from the operator after {message.unknown + 1} attempts ({error})"
        if not message.done:
            message.done = True
            message.todo.clear()
            batch.results.append(
                PartResult(
                    id=message.id,
                    part=index,
                    accepted=False,
                    operator=outcome.operator,
                    at=at,
                    status=outcome.command_status,
                    error=error,
                    code=(
                        "no_answer"
                        if outcome.outcome is Outcome.UNKNOWN
                        else "rejected_by_operator"
                    ),
                )
            )


__all__ = ["Clock", "Dispatcher", "Lane", "Outgoing", "Route", "Router", "relative_validity"]
