"""Shared material for the operator-link and simulator tests: a harness that runs one
``Simulator`` and one ``Operator`` against it, recorders for what comes back (outcomes, inbound
PDUs) and a wiretap stream that decodes every PDU crossing a connection, in both directions.

Nothing here sleeps to wait: every wait is on a ``trio.Event`` that the recorder sets when it
records something, with a bound (``trio.fail_after``) so a missing outcome fails loudly and fast.
Connections go over real loopback TCP on port 0 (``transport="tcp"``), or over
``trio.testing.memory_stream_pair`` straight into the simulator's per-connection handler
(``transport="memory"``) for the tests that run on trio's MockClock.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import trio
import trio.testing

from gateway.smpp import codec
from gateway.smpp.client import (
    LinkSettings,
    Operator,
    Outcome,
    Pacer,
    SubmitJob,
    SubmitOutcome,
    open_operator_stream,
)
from gateway.smpp.errors import FramingError, PduDecodeError
from gateway.smpp.pdu import CommandId, DeliverSm, Pdu, SubmitSm, is_retryable
from gateway.smpp.simulator import Simulator, SimulatorConfig

SYSTEM_ID = "gateway"
PASSWORD = "secret"
HOST = "127.0.0.1"

#: How long (trio clock seconds) a helper waits for something it was told will happen. Tests on
#: the real clock finish in well under a second each; this only bounds a failure.
WAIT = 8.0

#: Link timings for tests on the real clock: small, so faults cost milliseconds, not seconds.
FAST_LINK = {
    "reconnect_initial": 0.01,
    "reconnect_max": 0.05,
    "throttle_initial": 0.002,
    "throttle_max": 0.02,
    "unbind_timeout": 0.2,
}


def destination(tag: int) -> str:
    """The recipient number of job ``tag``: the tag can be read back from any PDU about it."""
    return f"336{tag:08d}"


def tag_of(number: str) -> int:
    return int(number[3:])


def submit_pdu(tag: int, **fields: Any) -> SubmitSm:
    """A plain GSM-7 submit_sm for job ``tag`` (its number and text both carry the tag)."""
    values: dict[str, Any] = {
        "source_addr_ton": 5,
        "source_addr": "GATEWAY",
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": destination(tag),
        "short_message": f"message {tag}".encode("ascii"),
    }
    values.update(fields)
    return SubmitSm(**values)


def jobs(count: int, start: int = 0, **fields: Any) -> list[SubmitJob]:
    tags = range(start, start + count)
    return [SubmitJob(pdu=submit_pdu(tag, **fields), tag=tag) for tag in tags]


class Watched:
    """Something tests wait on: ``wait_until(predicate)`` wakes on every ``_changed()``."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def _changed(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float = WAIT, what: str = ""
    ) -> None:
        with trio.move_on_after(timeout) as scope:
            while not predicate():
                await self._event.wait()
        if scope.cancelled_caught:
            raise AssertionError(f"gave up after {timeout} s waiting for {what or predicate}")


class WatchedStats(Counter[str]):
    """A drop-in for ``Simulator.stats`` that wakes waiters on every update, so a test can
    wait for the simulator to have counted something (``Harness.stats_until``)."""

    def __init__(self) -> None:
        super().__init__()
        self.watch = Watched()

    def __setitem__(self, key: str, value: int) -> None:
        super().__setitem__(key, value)
        self.watch._changed()


def watch_stats(sim: Simulator) -> WatchedStats:
    stats = WatchedStats()
    stats.update(sim.stats)
    sim.stats = stats
    return stats


class OutcomeLog(Watched):
    """Every SubmitOutcome the operator reported, in order, with the trio time it arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[SubmitOutcome] = []
        self.times: list[float] = []

    async def drain(self, receive: trio.MemoryReceiveChannel[SubmitOutcome]) -> None:
        async for outcome in receive:
            self.items.append(outcome)
            self.times.append(trio.current_time())
            self._changed()

    async def wait_count(self, count: int, *, timeout: float = WAIT) -> list[SubmitOutcome]:
        try:
            await self.wait_until(
                lambda: len(self.items) >= count, timeout=timeout, what=f"{count} outcomes"
            )
        except AssertionError:
            raise AssertionError(
                f"{len(self.items)} of {count} outcomes after {timeout} s; "
                f"by outcome: {self.by_outcome()}"
            ) from None
        return list(self.items)

    def by_outcome(self) -> Counter[Outcome]:
        return Counter(o.outcome for o in self.items)

    def tags(self, outcome: Outcome) -> set[object]:
        return {o.tag for o in self.items if o.outcome is outcome}

    def by_tag(self) -> dict[object, SubmitOutcome]:
        return {o.tag: o for o in self.items}


def assert_one_outcome_each(outcomes: Sequence[SubmitOutcome], tags: Iterable[object]) -> None:
    """The acceptance rule: every submitted job ends in exactly one outcome, none is invented."""
    expected = set(tags)
    counts = Counter(o.tag for o in outcomes)
    duplicated = {tag: n for tag, n in counts.items() if n > 1}
    assert not duplicated, f"jobs reported more than once: {duplicated}"
    assert set(counts) == expected, (
        f"missing: {sorted(expected - set(counts))[:20]}, "
        f"unexpected: {sorted(set(counts) - expected)[:20]}"
    )
    for outcome in outcomes:
        assert isinstance(outcome.outcome, Outcome)
        if outcome.outcome is Outcome.ACCEPTED:
            assert outcome.command_status == 0 and outcome.message_id, outcome
        elif outcome.outcome is Outcome.FAILED:
            assert outcome.command_status, outcome
            assert outcome.reason, outcome
        else:
            assert outcome.command_status is None and outcome.message_id is None, outcome
            assert outcome.reason, outcome


class InboundLog(Watched):
    """An InboundHandler that records every deliver_sm and answers with ``status(pdu)``."""

    def __init__(self, status: int | Callable[[Pdu], int] = 0) -> None:
        super().__init__()
        self.pdus: list[Pdu] = []
        self.operators: list[str] = []
        self.batches = 0
        self._status = status

    async def __call__(self, operator: str, pdus: Sequence[Pdu]) -> Sequence[int]:
        self.batches += 1
        self.pdus.extend(pdus)
        self.operators.extend(operator for _ in pdus)
        self._changed()
        status = self._status
        return [status(pdu) if callable(status) else status for pdu in pdus]

    @property
    def receipts(self) -> list[DeliverSm]:
        return [p for p in self.pdus if isinstance(p, DeliverSm) and p.esm_class & 0x3C == 0x04]

    @property
    def messages(self) -> list[DeliverSm]:
        return [p for p in self.pdus if isinstance(p, DeliverSm) and p.esm_class & 0x3C == 0]

    async def wait_receipts(self, count: int, *, timeout: float = WAIT) -> list[DeliverSm]:
        await self.wait_until(
            lambda: len(self.receipts) >= count, timeout=timeout, what=f"{count} receipts"
        )
        return self.receipts


RECEIPT_ID = re.compile(rb"\bid:(\S+)")
RECEIPT_STAT = re.compile(rb"\bstat:(\w+)")


def receipt_text_id(pdu: DeliverSm) -> str | None:
    match = RECEIPT_ID.search(pdu.short_message)
    return match.group(1).decode("ascii") if match else None


def receipt_text_stat(pdu: DeliverSm) -> str | None:
    match = RECEIPT_STAT.search(pdu.short_message)
    return match.group(1).decode("ascii") if match else None


@dataclass(frozen=True, slots=True)
class Seen:
    """One frame on a tapped connection. ``pdu`` is None when it does not decode (``error``)."""

    time: float
    connection: int
    #: "out": ESME to SMSC; "in": SMSC to ESME.
    direction: str
    command_id: int
    command_status: int
    sequence_number: int
    pdu: Pdu | None
    error: Exception | None = None


class Wiretap(Watched):
    """Records every frame crossing the streams it wraps (one wrap per connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Seen] = []
        self.connections = 0
        #: trio time at which each connection was opened.
        self.opened_at: list[float] = []
        #: Framing errors, by connection and direction.
        self.framing_errors: list[tuple[int, str, FramingError]] = []
        #: The frames each read from the SMSC completed (one list per non-empty read).
        self.reads: list[list[Seen]] = []
        #: Reads from the SMSC that ended inside a PDU.
        self.partial_reads = 0
        #: Connections the ESME closed, and connections the SMSC ended (EOF or error).
        self.closed: set[int] = set()
        self.ended: set[int] = set()

    def wrap(self, stream: trio.abc.Stream) -> trio.abc.Stream:
        number = self.connections
        self.connections += 1
        self.opened_at.append(trio.current_time())
        self._changed()
        return _TappedStream(stream, self, number)

    def _record(
        self, number: int, direction: str, framer: codec.Framer, data: bytes
    ) -> list[Seen]:
        try:
            frames = framer.feed(data)
        except FramingError as exc:
            frames = list(exc.frames)
            self.framing_errors.append((number, direction, exc))
        now = trio.current_time()
        seen: list[Seen] = []
        for frame in frames:
            _length, cid, status, seq = codec.HEADER.unpack_from(frame)
            try:
                pdu: Pdu | None = codec.decode(frame)
                error = None
            except PduDecodeError as exc:
                pdu, error = None, exc
            seen.append(Seen(now, number, direction, cid, status, seq, pdu, error))
        self.frames.extend(seen)
        if direction == "in":
            self.reads.append(seen)
            if framer.buffered:
                self.partial_reads += 1
        self._changed()
        return seen

    def seen(
        self, command_id: int, direction: str | None = None, *, connection: int | None = None
    ) -> list[Seen]:
        return [
            f
            for f in self.frames
            if f.command_id == command_id
            and (direction is None or f.direction == direction)
            and (connection is None or f.connection == connection)
        ]

    def seen_binds(self) -> list[Seen]:
        """Bind responses the ESME received, whatever the bind mode."""
        modes = (
            CommandId.BIND_TRANSMITTER_RESP,
            CommandId.BIND_RECEIVER_RESP,
            CommandId.BIND_TRANSCEIVER_RESP,
        )
        return [f for f in self.frames if f.command_id in modes and f.direction == "in"]

    def count(self, command_id: int, direction: str | None = None) -> int:
        return len(self.seen(command_id, direction))

    def submit_times(self, tag: int) -> list[float]:
        """When each attempt of job ``tag`` went out (any connection)."""
        return [
            f.time
            for f in self.seen(CommandId.SUBMIT_SM, "out")
            if isinstance(f.pdu, SubmitSm) and f.pdu.destination_addr == destination(tag)
        ]


def max_in_flight(tap: Wiretap, connection: int = 0) -> int:
    """The most submit_sm without a response seen at once on one connection (as the tap saw
    them: a request is counted once written, a response once read, so never more than the
    session had)."""
    level = peak = 0
    for f in tap.frames:
        if f.connection != connection:
            continue
        if f.command_id == CommandId.SUBMIT_SM:
            level += 1
        elif f.command_id in (CommandId.SUBMIT_SM_RESP, CommandId.GENERIC_NACK):
            level -= 1
        peak = max(peak, level)
    return peak


#: The reason of an UNKNOWN outcome whose submit_sm_resp did not come in time.
TIMED_OUT = "no submit_sm_resp in time"


def check_against_wire(tap: Wiretap, outcomes: Sequence[SubmitOutcome]) -> None:
    """Each outcome agrees with what crossed the wire for its job (tags are ints, read back
    from destination_addr): one submit_sm per attempt, the earlier attempts answered with a
    retryable status, and the last one answered as the outcome says (or not at all: UNKNOWN;
    not in time, for an UNKNOWN by time-out)."""
    attempts: dict[int, list[tuple[int, int]]] = {}
    for f in tap.seen(CommandId.SUBMIT_SM, "out"):
        assert isinstance(f.pdu, SubmitSm)
        attempts.setdefault(tag_of(f.pdu.destination_addr), []).append(
            (f.connection, f.sequence_number)
        )
    answers = {(f.connection, f.sequence_number): f for f in tap.seen(CommandId.SUBMIT_SM_RESP)}
    for outcome in outcomes:
        sent = attempts.get(outcome.tag, [])  # type: ignore[call-overload]
        if outcome.outcome is Outcome.UNKNOWN and len(sent) == outcome.attempts - 1:
            continue  # its write failed with the connection: the tap never saw it go out
        assert len(sent) == outcome.attempts, (outcome, sent)
        for earlier in sent[:-1]:
            answer = answers.get(earlier)
            assert answer is not None and is_retryable(answer.command_status), (outcome, answer)
        last = answers.get(sent[-1])
        if outcome.outcome is Outcome.UNKNOWN:
            # A time-out means no answer *in time*: one may still come, late (a slow SMSC, or
            # the loop stalled past a short real-clock deadline), and the link logs it as an
            # unexpected response. Any other UNKNOWN (connection lost, unbound) had none.
            if outcome.reason != TIMED_OUT:
                assert last is None, (outcome, last)
            continue
        assert last is not None, outcome
        assert last.command_status == outcome.command_status, (outcome, last)
        if outcome.outcome is Outcome.ACCEPTED:
            assert last.pdu is not None and last.pdu.message_id == outcome.message_id


class _TappedStream(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream, tap: Wiretap, number: int) -> None:
        self.inner = inner
        self.tap = tap
        self.number = number
        self._out = codec.Framer()
        self._in = codec.Framer()
        self._out_broken = False
        self._in_broken = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)
        if not self._out_broken:
            self._feed("out", self._out, bytes(data))

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._end()
            raise
        if not data:
            self._end()
        elif not self._in_broken:
            self._feed("in", self._in, bytes(data))
        return data

    def _end(self) -> None:
        self.tap.ended.add(self.number)
        self.tap._changed()

    def _feed(self, direction: str, framer: codec.Framer, data: bytes) -> None:
        before = len(self.tap.framing_errors)
        self.tap._record(self.number, direction, framer, data)
        if len(self.tap.framing_errors) > before:
            if direction == "out":
                self._out_broken = True
            else:
                self._in_broken = True

    async def aclose(self) -> None:
        self.tap.closed.add(self.number)
        self.tap._changed()
        await self.inner.aclose()


@dataclass
class Harness:
    """One simulator and one operator connected to it, with everything they said recorded."""

    sim: Simulator
    operator: Operator
    outcomes: OutcomeLog
    inbound: InboundLog
    tap: Wiretap
    port: int
    nursery: trio.Nursery

    async def stats_until(
        self, predicate: Callable[[Counter[str]], bool], *, timeout: float = WAIT
    ) -> None:
        stats = self.sim.stats
        assert isinstance(stats, WatchedStats)
        await stats.watch.wait_until(lambda: predicate(stats), timeout=timeout, what="stats")

    async def submit(self, batch: Iterable[SubmitJob]) -> None:
        for job in batch:
            await self.operator.submit(job)

    async def submit_all(self, batch: Sequence[SubmitJob], *, timeout: float = WAIT) -> list[
        SubmitOutcome
    ]:
        """Submit ``batch`` (from a task of its own: the queue may be smaller than the batch)
        and wait for one outcome per job; checks the one-outcome-each rule."""
        before = len(self.outcomes.items)
        self.nursery.start_soon(self.submit, batch)
        await self.outcomes.wait_count(before + len(batch), timeout=timeout)
        got = self.outcomes.items[before:]
        assert_one_outcome_each(got, [job.tag for job in batch])
        return got


def link_settings(port: int, **overrides: Any) -> LinkSettings:
    values: dict[str, Any] = {
        "name": "sim",
        "host": HOST,
        "port": port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        **FAST_LINK,
    }
    values.update(overrides)
    return LinkSettings(**values)


def tcp_factory(tap: Wiretap) -> Callable[[LinkSettings], Any]:
    async def open_stream(settings: LinkSettings) -> trio.abc.Stream:
        return tap.wrap(await open_operator_stream(settings))

    return open_stream


def memory_factory(sim: Simulator, nursery: trio.Nursery, tap: Wiretap) -> Callable[
    [LinkSettings], Any
]:
    """Connections as in-memory stream pairs, the far end served by the simulator's own
    per-connection handler: no sockets, so MockClock's autojump is exact."""

    async def open_stream(settings: LinkSettings) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        nursery.start_soon(sim._handle, server)
        return tap.wrap(client)

    return open_stream


@asynccontextmanager
async def running(
    config: SimulatorConfig | None = None,
    *,
    transport: str = "tcp",
    inbound: InboundLog | None = None,
    binds: int = 1,
    queue_size: int = 1000,
    seed: int = 1,
    start_operator: bool = True,
    pacer: Pacer | None = None,
    **link: Any,
) -> AsyncIterator[Harness]:
    """Serve ``config`` (port 0) and run an operator bound to it; cancelled on exit."""
    config = replace(config or SimulatorConfig(), port=0, host=HOST)
    sim = Simulator(config)
    watch_stats(sim)
    tap = Wiretap()
    outcomes = OutcomeLog()
    inbound = inbound if inbound is not None else InboundLog()
    send, receive = trio.open_memory_channel[SubmitOutcome](100)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(sim.serve)
        factory = tcp_factory(tap) if transport == "tcp" else memory_factory(sim, nursery, tap)
        operator = Operator(
            link_settings(port, **link),
            outcomes=send,
            inbound=inbound,
            binds=binds,
            queue_size=queue_size,
            rng=random.Random(seed),
            stream_factory=factory,
            pacer=pacer,
        )
        nursery.start_soon(outcomes.drain, receive)
        # The operator stops first, while its outcomes are still read: a link reports the jobs
        # it had in flight (shielded) as it goes, and nobody reading would block that forever.
        async with trio.open_nursery() as links:
            if start_operator:
                await links.start(operator.run)
            yield Harness(sim, operator, outcomes, inbound, tap, port, links)
            # Stop with the link bound and steady, not in the middle of a close: a stop during
            # a close is its own case (test_stopping_while_a_connection_closes_is_a_clean_stop).
            ever_bound = any(f.command_status == 0 for f in tap.seen_binds())
            if start_operator and binds == 1 and ever_bound:
                await tap.wait_until(
                    lambda: _steady(operator, tap, outcomes), what="the link bound and steady"
                )
            links.cancel_scope.cancel()
        nursery.cancel_scope.cancel()


def _steady(operator: Operator, tap: Wiretap, outcomes: OutcomeLog) -> bool:
    """The operator's one link is bound on its latest connection and nothing is closing it."""
    last = tap.connections - 1
    if last < 0 or last in tap.closed or last in tap.ended or operator.bound_links != 1:
        return False
    if any(number == last for number, _, _ in tap.framing_errors):
        return False
    binds = [f for f in tap.seen_binds() if f.connection == last]
    if not binds or binds[-1].command_status != 0:
        return False
    # A time-out reported since that bind closes this connection next.
    return not any(
        o.reason.endswith("in time") and at >= binds[-1].time
        for o, at in zip(outcomes.items, outcomes.times, strict=True)
    )


async def start_operator(
    nursery: trio.Nursery,
    port: int,
    *,
    inbound: InboundLog | None = None,
    tap: Wiretap | None = None,
    seed: int = 1,
    **link: Any,
) -> tuple[Operator, OutcomeLog, InboundLog, Wiretap]:
    """A further operator (e.g. the receiver of a transmitter/receiver pair) in ``nursery``."""
    tap = tap or Wiretap()
    outcomes = OutcomeLog()
    inbound = inbound if inbound is not None else InboundLog()
    send, receive = trio.open_memory_channel[SubmitOutcome](100)
    operator = Operator(
        link_settings(port, **link),
        outcomes=send,
        inbound=inbound,
        rng=random.Random(seed),
        stream_factory=tcp_factory(tap),
    )
    nursery.start_soon(outcomes.drain, receive)
    await nursery.start(operator.run)
    return operator, outcomes, inbound, tap


async def scripted_smsc(
    stream: trio.abc.Stream, answer: Callable[[SubmitSm], bool], *, system_id: str = "SCRIPT"
) -> None:
    """A minimal SMSC for scenarios the simulator's seeded faults cannot pin down exactly: it
    accepts any bind and answers a submit_sm (with a fresh message id) when ``answer(pdu)``."""
    from gateway.smpp.events import BindRequested, RequestReceived
    from gateway.smpp.session import Role, Session

    session = Session(Role.SMSC, window=10, enquire_link_interval=math.inf)
    number = 0
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        for event in session.receive_data(data, now=trio.current_time()):
            if isinstance(event, BindRequested):
                session.accept_bind(system_id=system_id)
            elif isinstance(event, RequestReceived) and answer(event.pdu):
                number += 1
                session.respond(event.pdu, message_id=str(number))
        out = session.data_to_send()
        if out:
            await stream.send_all(out)
