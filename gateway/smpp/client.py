"""Operator links over trio: the only SMPP code that does I/O.

An ``Operator`` is one carrier: N binds (each a ``Link`` task in the operator's nursery) that take
parts from one shared queue, so a slow or dead bind never holds messages another could send. Each
link connects (optionally over TLS), binds, then runs three tasks on one ``Session``: a reader that
feeds received bytes to the session, a writer that fills the window from the queue without waiting
for each response, and a ticker that wakes at the session's next deadline (response time-outs,
enquire_link). Every write goes through one FIFO lock and carries everything the session queued.

What comes back to the layer above, on the ``outcomes`` channel, is one ``SubmitOutcome`` per job:
accepted (with the operator's message id), failed (a permanent status, a generic_nack, or
retries exhausted) or unknown (no response: time-out or connection loss; the operator may have
taken it). Retryable statuses (throttled, queue full, system error, ...) put the job back at the
head of the queue and pause the whole operator, with a pause that doubles while they continue and
resets on success. Received deliver_sm/data_sm go to an ``InboundHandler`` in batches; they are
acknowledged with the status it returns, after it returns (so a receipt is stored first).

An optional ``Pacer`` (e.g. the token bucket of ``gateway.ratelimit``) paces parts across every
bind of the operator: each writer asks it how many parts may go before each write. ``health()``
is a read-only snapshot for the daemon's status page.
"""

from __future__ import annotations

import math
import random
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import structlog
import trio

from gateway.frozen import maker
from gateway.smpp.errors import ProtocolError
from gateway.smpp.events import (
    BindFailed,
    BindMode,
    Bound,
    Event,
    NackReceived,
    Outstanding,
    PduRejected,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
    UnexpectedResponse,
)
from gateway.smpp.pdu import CommandId, CommandStatus, Pdu, SubmitSm, is_retryable
from gateway.smpp.session import RemoteProtocolError, Role, Session, State

log = structlog.get_logger("gateway.smpp")

#: Bytes asked of the socket per read: enough for a few hundred responses in one go.
READ_SIZE = 64 * 1024

#: Bind statuses that no amount of retrying fixes (bad credentials): back off to the maximum.
BIND_CREDENTIAL_ERRORS = frozenset({CommandStatus.ESME_RINVPASWD, CommandStatus.ESME_RINVSYSID})

#: Statuses that mean "slow down" rather than "something broke": they pause the operator.
THROTTLE_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSettings:
    """How to reach and bind to one operator, and the timings of its links."""

    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    mode: BindMode = BindMode.TRANSCEIVER
    #: Unanswered submit_sm per bind.
    window: int = 10
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    connect_timeout: float = 10.0
    bind_timeout: float = 10.0
    #: Reconnect backoff: doubles from ``reconnect_initial`` up to ``reconnect_max``, with jitter.
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    #: How often a job refused with a retryable status is tried before it fails for good.
    max_attempts: int = 5
    #: Operator-wide pause after a retryable status: doubles up to the maximum, resets on success.
    throttle_initial: float = 0.5
    throttle_max: float = 30.0
    tls: bool = False
    tls_verify: bool = True
    tls_ca_file: str | None = None
    #: Grace for answering our unbind when the link stops.
    unbind_timeout: float = 2.0


@dataclass(slots=True, eq=False)
class SubmitJob:
    """One part to send. ``tag`` is the caller's (e.g. message id and part number)."""

    pdu: SubmitSm
    tag: object = None
    attempts: int = 0


class Outcome(Enum):
    ACCEPTED = "accepted"
    FAILED = "failed"
    #: No response: time-out or connection loss. The operator may have accepted it.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitOutcome:
    tag: object
    outcome: Outcome
    #: The submit_sm_resp status (None when there was no response).
    command_status: int | None = None
    #: The operator's id for the message (accepted only).
    message_id: str | None = None
    attempts: int = 0
    #: Why, for failures and unknown outcomes, in words for logs and the user.
    reason: str = ""
    #: Which operator and link answered.
    operator: str = ""


#: Every accepted part's outcome is one of these (gateway.frozen: no frozen ``__init__``).
_submit_outcome = maker(SubmitOutcome)


class InboundHandler(Protocol):
    """Takes a batch of deliver_sm / data_sm from one read and returns one command_status per
    PDU (0 to acknowledge; e.g. ESME_RX_T_APPN or ESME_RMSGQFUL to have the SMSC redeliver)."""

    async def __call__(self, operator: str, pdus: Sequence[Pdu]) -> Sequence[int]: ...


class Pacer(Protocol):
    """Operator-wide pacing of submit_sm (one pacer shared by every bind of an operator), so a
    carrier's contracted rate holds however many binds there are.

    Each link's writer, holding a job and room in its window, calls ``acquire(wanted)`` with
    ``wanted`` = 1 + min(free window slots - 1, jobs queued): the most it could put in this
    write. A grant is spent when returned: the writer sends at most that many (fewer if other
    binds emptied the queue meanwhile, or if a throttle pause began while it waited), and what
    it does not send is not given back, so the pacer errs on the slow side, never the fast one.
    A writer cancelled inside ``acquire`` (stop, or its connection closing) puts its job back at
    the head of the queue.
    """

    async def acquire(self, wanted: int) -> int:
        """Wait until at least one part may go; return how many (1..wanted) may go now."""
        ...

    def throttled(self) -> None:
        """The operator answered ESME_RTHROTTLED or ESME_RMSGQFUL: slow down."""
        ...

    def ok(self) -> None:
        """A submit_sm was accepted."""
        ...


class Throttle:
    """Operator-wide pause after retryable statuses. Time is trio's clock."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._delay = initial
        self.paused_until = -math.inf

    def hit(self, now: float) -> float:
        """A retryable status arrived: pause (longer each time in a row); returns the pause."""
        delay = self._delay
        self.paused_until = max(self.paused_until, now + delay)
        self._delay = min(self._delay * 2, self.maximum)
        return delay

    def ok(self) -> None:
        self._delay = self.initial

    async def wait(self) -> None:
        while trio.current_time() < self.paused_until:
            await trio.sleep_until(self.paused_until)


class JobQueue:
    """The parts waiting for an operator's links: bounded for new work (``put`` waits while it is
    full: backpressure to the dispatcher), with retries going back to the head unbounded (they
    are at most the links' windows). Readers and writers park on trio ParkingLots, so no task is
    spawned per job."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._items: deque[SubmitJob] = deque()
        self._readers = trio.lowlevel.ParkingLot()
        self._writers = trio.lowlevel.ParkingLot()

    def __len__(self) -> int:
        return len(self._items)

    # Each unpark is guarded by "is anyone parked": ParkingLot.unpark costs a generator even
    # when nobody waits, and that is most calls under load.

    async def put(self, job: SubmitJob) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        while len(self._items) >= self.capacity:
            await self._writers.park()
        self._items.append(job)
        if self._readers:
            self._readers.unpark()

    def put_nowait(self, job: SubmitJob) -> None:
        """Raises trio.WouldBlock when the queue is full."""
        if len(self._items) >= self.capacity:
            raise trio.WouldBlock
        self._items.append(job)
        if self._readers:
            self._readers.unpark()

    def put_front(self, job: SubmitJob) -> None:
        self._items.appendleft(job)
        if self._readers:
            self._readers.unpark()

    async def get(self) -> SubmitJob:
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._items:
            await self._readers.park()
        return self._take()

    def get_nowait(self) -> SubmitJob | None:
        return self._take() if self._items else None

    def _take(self) -> SubmitJob:
        job = self._items.popleft()
        if self._writers:
            self._writers.unpark()
        if self._items and self._readers:
            self._readers.unpark()  # another link may take the next one
        return job


class Operator:
    """One carrier's links, sharing a queue of jobs, a throttle and the outcome channel.

    Feed it with ``await operator.submit(job)`` (waits while the queue is full: backpressure);
    read ``SubmitOutcome``s from the channel given as ``outcomes``.
    """

    def __init__(
        self,
        settings: LinkSettings,
        *,
        outcomes: trio.MemorySendChannel[SubmitOutcome],
        inbound: InboundHandler,
        binds: int = 1,
        queue_size: int = 1000,
        rng: random.Random | None = None,
        stream_factory: Callable[[LinkSettings], Awaitable[trio.abc.Stream]] | None = None,
        report_timeout: float = 10.0,
        pacer: Pacer | None = None,
    ) -> None:
        self.settings = settings
        self.outcomes = outcomes
        self.inbound = inbound
        self.binds = binds
        self.throttle = Throttle(settings.throttle_initial, settings.throttle_max)
        self.queue = JobQueue(queue_size)
        self.rng = rng or random.Random()
        self.open_stream = stream_factory or open_operator_stream
        self.links: list[Link] = []
        #: How long a closing link may wait, in all, for room in a full outcome channel.
        self.report_timeout = report_timeout
        #: Paces parts across all binds (None: only the window and the throttle pause pace).
        self.pacer = pacer

    async def submit(self, job: SubmitJob) -> None:
        await self.queue.put(job)

    def submit_nowait(self, job: SubmitJob) -> None:
        """``submit`` when the queue has room; raises trio.WouldBlock when it is full."""
        self.queue.put_nowait(job)

    @property
    def bound_links(self) -> int:
        return sum(1 for link in self.links if link.session is not None and link.session.is_bound)

    async def run(
        self, *, task_status: trio.TaskStatus[Operator] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run every link until cancelled."""
        async with trio.open_nursery() as nursery:
            for index in range(self.binds):
                link = Link(self, index)
                self.links.append(link)
                nursery.start_soon(link.run)
            task_status.started(self)

    def health(self) -> dict[str, object]:
        """A read-only snapshot for the daemon's status page (no I/O, no await; call it from
        trio, as times are trio's clock).

        ``in_flight`` counts submit_sm awaiting their response on bound sessions; each link's
        ``state`` is its session's state (``State`` value, e.g. "bound_trx") or "down" between
        connections; ``throttled_until`` is the trio time the operator-wide pause ends, or None
        when it is not paused.
        """
        now = trio.current_time()
        links: list[dict[str, object]] = []
        in_flight = 0
        for link in self.links:
            session = link.session
            submits = 0 if session is None else _submits_in_flight(session)
            if session is not None and session.is_bound:
                in_flight += submits
            links.append(
                {
                    "index": link.index,
                    "state": "down" if session is None else session.state.value,
                    "in_flight": submits,
                }
            )
        paused_until = self.throttle.paused_until
        return {
            "name": self.settings.name,
            "binds": self.binds,
            "bound": self.bound_links,
            "queued": len(self.queue),
            "in_flight": in_flight,
            "throttled_until": paused_until if paused_until > now else None,
            "links": links,
        }

    async def report(self, outcome: SubmitOutcome, *, give_up_at: float | None = None) -> None:
        """Hand an outcome to the layer above.

        Without ``give_up_at`` (a link at work) this waits for room in the outcome channel as
        long as it takes: backpressure, and cancellable (a cancelled send delivers nothing, so
        the caller can still report it; ``Link`` does, see ``Link._report``). With
        ``give_up_at`` (a closing link) it waits under a shield until that trio time at most,
        then logs the outcome as undelivered: a reader that has gone away cannot hold a stop
        forever. A closed outcome channel also makes it undelivered."""
        try:
            self.outcomes.send_nowait(outcome)
            return
        except trio.WouldBlock:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._undelivered(outcome)
            return
        if give_up_at is None:
            try:
                await self.outcomes.send(outcome)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._undelivered(outcome)
            return
        if give_up_at <= trio.current_time():
            self._undelivered(outcome)
            return
        delivered = False
        with trio.CancelScope(deadline=give_up_at, shield=True):
            try:
                await self.outcomes.send(outcome)
                delivered = True
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        if not delivered:
            self._undelivered(outcome)

    def _undelivered(self, outcome: SubmitOutcome) -> None:
        log.error(
            "smpp.outcome_undelivered",
            operator=self.settings.name,
            tag=outcome.tag,
            outcome=outcome.outcome.value,
        )


def _submits_in_flight(session: Session) -> int:
    return sum(1 for r in session.outstanding if r.command_id == CommandId.SUBMIT_SM)


async def open_operator_stream(settings: LinkSettings) -> trio.abc.Stream:
    """TCP, wrapped in TLS when configured (certificate verification on unless disabled)."""
    stream: trio.abc.Stream = await trio.open_tcp_stream(settings.host, settings.port)
    if settings.tls:
        context = ssl.create_default_context(cafile=settings.tls_ca_file)
        if not settings.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        tls = trio.SSLStream(stream, context, server_hostname=settings.host)
        await tls.do_handshake()
        stream = tls
    return stream


#: Session states in which deliveries are taken and answered.
_RECEIVING = frozenset({State.BOUND_RX, State.BOUND_TRX})

#: Deliveries read and waiting for the InboundHandler beyond which the reader waits too
#: (backpressure to the SMSC through its window, instead of a growing list).
MAX_PENDING_DELIVERIES = 10_000


class LinkClosed(Exception):
    """The connection ended (peer closed, unbind, fatal protocol error, dead link)."""


#: What ends one connection and makes its link reconnect (anything else is a bug and propagates).
_LINK_ERRORS = (
    LinkClosed,
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
    ssl.SSLError,
)


@dataclass(slots=True)
class _Connection:
    stream: trio.abc.Stream
    session: Session
    lock: trio.StrictFIFOLock = field(default_factory=trio.StrictFIFOLock)
    window_changed: trio.Event = field(default_factory=trio.Event)
    #: Wakes the ticker early (``deadlines_changed``), so it re-reads the next deadline.
    wakeup: trio.Event = field(default_factory=trio.Event)
    #: The deadline the ticker sleeps toward (inf: none, or the ticker is busy).
    ticker_at: float = math.inf
    #: Why the connection ended: the first of its tasks to end it.
    closed_by: BaseException | None = None
    #: Once closing: the trio time after which outcomes still unreported are given up.
    report_until: float | None = None
    #: Events that came in the same read as the bind response (a deliver_sm right behind it).
    after_bind: list[Event] = field(default_factory=list)
    #: deliver_sm / data_sm read and not yet handed to the InboundHandler (the deliverer task
    #: takes them, so the reader goes on reading submit_sm_resps while receipts are stored).
    deliveries: list[Pdu] = field(default_factory=list)
    deliveries_ready: trio.Event = field(default_factory=trio.Event)
    deliveries_room: trio.Event = field(default_factory=trio.Event)

    def deadlines_changed(self) -> None:
        """Call after anything that can bring the session's next deadline forward: a request
        sent (its response deadline), a response received (an answered probe makes the next
        keep-alive the deadline, which may come before the probe's own response deadline)."""
        deadline = self.session.next_deadline()
        if deadline is not None and deadline < self.ticker_at:
            self.wakeup.set()

    def closing(self, grace: float) -> float:
        """The connection is closing: every report from now on shares one bound (so stopping
        with nobody reading costs one ``grace``, not one per outcome). Returns that bound."""
        if self.report_until is None:
            self.report_until = trio.current_time() + grace
        return self.report_until


class Link:
    """One bind to the operator, reconnected forever with capped, jittered exponential backoff."""

    def __init__(self, operator: Operator, index: int) -> None:
        self.operator = operator
        self.index = index
        self.settings = operator.settings
        self.session: Session | None = None
        #: Whether the current connection got as far as a bind (resets the reconnect backoff).
        self.bound_once = False
        self.log = log.bind(operator=self.settings.name, link=index)

    async def run(self) -> None:
        delay = self.settings.reconnect_initial
        while True:
            self.bound_once = False
            try:
                await self._connect_and_serve()
                reason = "closed"
            except _LINK_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except _BindRefused as exc:
                reason = str(exc)
                if exc.status in BIND_CREDENTIAL_ERRORS:
                    delay = self.settings.reconnect_max
            if self.bound_once:  # this connection worked: start the backoff again
                delay = self.settings.reconnect_initial
            # Jitter on the upper half: links of one operator do not reconnect in step.
            pause = delay * (0.5 + self.operator.rng.random() / 2)
            self.log.warning("smpp.link_down", reason=reason, retry_in=round(pause, 3))
            await trio.sleep(pause)
            delay = min(delay * 2, self.settings.reconnect_max)

    async def _connect_and_serve(self) -> None:
        settings = self.settings
        with trio.fail_after(settings.connect_timeout):
            stream = await self.operator.open_stream(settings)
        session = Session(
            Role.ESME,
            window=settings.window,
            response_timeout=settings.response_timeout,
            enquire_link_interval=settings.enquire_link_interval,
        )
        conn = _Connection(stream, session)
        self.session = session
        try:
            await self._bind(conn)
            self.bound_once = True
            self.log.info("smpp.bound", mode=settings.mode.value)
            tasks = [self._reader, self._ticker, self._deliverer]
            if settings.mode is not BindMode.RECEIVER:  # a receiver may not send submit_sm
                tasks.append(self._writer)
            try:
                async with trio.open_nursery() as nursery:
                    for task in tasks:
                        nursery.start_soon(self._until_closed, task, conn, nursery.cancel_scope)
                # Only a task's end (recorded in closed_by) cancels this nursery by itself; a
                # stop (our caller's cancellation) propagates out of it as Cancelled instead.
                if conn.closed_by is not None:
                    raise conn.closed_by
            finally:
                conn.closing(self.operator.report_timeout)
                await self._unbind_if_bound(conn)
                await self._report_lost(
                    conn, session.connection_lost().unacknowledged, "connection lost"
                )
        finally:
            self.session = None
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    async def _until_closed(
        self,
        task: Callable[[_Connection], Awaitable[None]],
        conn: _Connection,
        scope: trio.CancelScope,
    ) -> None:
        """Run one of the connection's tasks. The first to end the connection (peer closed,
        time-out, protocol error: a _LINK_ERRORS) records why and cancels its siblings, so the
        nursery ends with no group to pick apart, and a stop arriving at the same moment stays
        a plain cancellation. Anything else is a bug and propagates."""
        try:
            await task(conn)
        except _LINK_ERRORS as exc:
            if conn.closed_by is None:
                conn.closed_by = exc
            scope.cancel()

    async def _unbind_if_bound(self, conn: _Connection) -> None:
        """On stop (cancellation) the session is still bound: say goodbye with unbind, and take
        the responses still on their way, within ``unbind_timeout``."""
        session = conn.session
        if not session.is_bound:
            return
        with trio.move_on_after(self.settings.unbind_timeout) as scope:
            scope.shield = True
            try:
                session.unbind(now=trio.current_time())
                await self._flush(conn)
                while session.state is not State.CLOSED:
                    data = await conn.stream.receive_some(READ_SIZE)
                    if not data:
                        return
                    events = session.receive_data(data, now=trio.current_time())
                    try:
                        await self._handle(conn, events)
                    except LinkClosed:
                        return
                    await self._flush(conn)
            except (*_LINK_ERRORS, ProtocolError) as exc:
                self.log.info("smpp.unbind_failed", error=str(exc))

    async def _bind(self, conn: _Connection) -> None:
        s = self.settings
        with trio.fail_after(s.bind_timeout):
            conn.session.bind(
                s.mode,
                system_id=s.system_id,
                password=s.password,
                system_type=s.system_type,
                now=trio.current_time(),
            )
            await self._flush(conn)
            while True:
                data = await conn.stream.receive_some(READ_SIZE)
                if not data:
                    raise LinkClosed("operator closed the connection during bind")
                events = conn.session.receive_data(data, now=trio.current_time())
                for i, event in enumerate(events):
                    if isinstance(event, Bound):
                        conn.after_bind = events[i + 1 :]
                        return
                    if isinstance(event, BindFailed):
                        raise _BindRefused(event.command_status)
                await self._flush(conn)

    async def _flush(self, conn: _Connection) -> None:
        async with conn.lock:
            data = conn.session.data_to_send()
            if data:
                await conn.stream.send_all(data)

    async def _reader(self, conn: _Connection) -> None:
        if conn.after_bind:
            events, conn.after_bind = conn.after_bind, []
            await self._handle(conn, events)
            await self._flush(conn)
        while True:
            data = await conn.stream.receive_some(READ_SIZE)
            if not data:
                raise LinkClosed("operator closed the connection")
            try:
                events = conn.session.receive_data(data, now=trio.current_time())
            except RemoteProtocolError as exc:
                await self._handle(conn, exc.events)
                await self._flush(conn)
                raise LinkClosed(f"protocol error: {exc}") from exc
            conn.deadlines_changed()
            try:
                await self._handle(conn, events)
            finally:
                # Owed answers (our unbind_resp, deliver_sm_resps) go out even when closing.
                with trio.move_on_after(self.settings.unbind_timeout) as flush_scope:
                    flush_scope.shield = True
                    await self._flush(conn)
            while len(conn.deliveries) > MAX_PENDING_DELIVERIES:
                conn.deliveries_room = trio.Event()
                await conn.deliveries_room.wait()

    async def _writer(self, conn: _Connection) -> None:
        """Fill the window: one job awaited, then as many as are ready, fit the window and the
        pacer grants, in one write.

        Every await here (window, throttle, queue, pacer) lets the other tasks run, and the
        reader may meanwhile have found the stream broken (session in ERROR) or the operator
        unbound (CLOSED): a job taken then goes back to the head of the queue, for this link
        after it reconnects or for another bind, and the writer waits for the task that is
        ending the connection to cancel it."""
        session = conn.session
        operator = self.operator
        queue = operator.queue
        pacer = operator.pacer
        while True:
            while session.window_free <= 0:
                conn.window_changed = trio.Event()
                await conn.window_changed.wait()
            await operator.throttle.wait()
            job = await queue.get()
            if not _may_submit(session):
                queue.put_front(job)
                await trio.sleep_forever()
            granted = session.window_free
            if pacer is not None:
                wanted = 1 + min(session.window_free - 1, len(queue))
                try:
                    granted = await pacer.acquire(wanted)
                    if granted < 1:
                        raise ValueError(f"Pacer.acquire({wanted}) granted {granted}, not >= 1")
                except BaseException:
                    queue.put_front(job)  # cancelled (stop, connection closing) or a pacer bug
                    raise
                if not _may_submit(session):
                    queue.put_front(job)
                    await trio.sleep_forever()
            now = trio.current_time()
            if now < operator.throttle.paused_until:  # a throttle arrived while we waited
                queue.put_front(job)  # (a pacer's grant is not used: it errs on the slow side)
                continue
            self._send(session, job, now)
            sent = 1
            while sent < granted and session.window_free > 0:
                more = queue.get_nowait()
                if more is None:
                    break  # other binds took the rest: the unused grant is lost (see Pacer)
                self._send(session, more, now)
                sent += 1
            conn.deadlines_changed()  # the ticker may be sleeping toward a later deadline
            await self._flush(conn)

    def _send(self, session: Session, job: SubmitJob, now: float) -> None:
        job.attempts += 1
        session.send_request(job.pdu, now=now, tag=job)

    async def _ticker(self, conn: _Connection) -> None:
        """Wake at the session's next deadline (response time-outs, enquire_link), or sooner
        when the writer or the reader moved that deadline forward (``deadlines_changed``)."""
        session = conn.session
        while True:
            deadline = session.next_deadline()
            conn.ticker_at = math.inf if deadline is None else deadline
            conn.wakeup = trio.Event()
            with trio.move_on_at(conn.ticker_at):
                await conn.wakeup.wait()
            if trio.current_time() < conn.ticker_at:
                continue  # woken early: re-read the deadline
            conn.ticker_at = math.inf
            events = session.tick(trio.current_time())
            await self._handle(conn, events)
            await self._flush(conn)

    async def _handle(self, conn: _Connection, events: list[Event]) -> None:
        """Act on one batch of session events (one read, or one tick): report outcomes, pass
        deliveries to the InboundHandler and answer them, then raise LinkClosed if an event
        ends the connection. Every outcome of the batch is reported before anything raises."""
        inbound: list[Pdu] = []
        window_moved = False
        closed: str | None = None
        cancelled: trio.Cancelled | None = None
        for event in events:
            if isinstance(event, RequestReceived):
                inbound.append(event.pdu)
                continue
            if (
                type(event) is ResponseReceived
                and event.pdu.command_status == 0
                and event.request.command_id == CommandId.SUBMIT_SM
                and conn.report_until is None
                and self._accepted_nowait(event)
            ):
                window_moved = True
                continue
            window_moved = window_moved or _frees_a_slot(event)
            try:
                reason = await self._on_event(conn, event)
            except trio.Cancelled as exc:
                # A report was cancelled (a stop, or a sibling ending the connection): the
                # connection is closing; the rest of the batch is reported within its bound.
                cancelled = exc
                continue
            closed = closed or reason
        if cancelled is not None:  # the whole batch is reported: the cancellation goes on
            raise cancelled
        # Only a session that can still answer takes deliveries: one we cannot acknowledge
        # (framing lost, unbound) will be delivered again by the SMSC.
        if inbound and conn.session.state in _RECEIVING:
            conn.deliveries.extend(inbound)
            conn.deliveries_ready.set()
        if window_moved:
            conn.window_changed.set()
        if closed is not None:
            raise LinkClosed(closed)

    def _accepted_nowait(self, event: ResponseReceived) -> bool:
        """Report an accepted submit_sm at once if the outcome channel has room (nearly every
        part, at work): what ``_submit_answered`` does for status 0, without its awaits. False
        when the channel is full or closed: the caller then takes the general path."""
        job: SubmitJob = event.request.tag  # type: ignore[assignment]
        try:
            self.operator.outcomes.send_nowait(
                _submit_outcome(
                    tag=job.tag,
                    outcome=Outcome.ACCEPTED,
                    command_status=0,
                    message_id=event.pdu.message_id,
                    attempts=job.attempts,
                    operator=self.settings.name,
                )
            )
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        operator = self.operator
        operator.throttle.ok()
        if operator.pacer is not None:
            operator.pacer.ok()
        return True

    async def _deliverer(self, conn: _Connection) -> None:
        """Hand deliveries to the InboundHandler (everything read meanwhile in one call: one
        store commit for many receipts) and acknowledge each with the status it returns, only
        after it returns. Runs beside the reader so submit_sm_resps keep flowing meanwhile.
        What is not yet acknowledged when the connection ends, the SMSC delivers again."""
        while True:
            while not conn.deliveries:
                conn.deliveries_ready = trio.Event()
                await conn.deliveries_ready.wait()
            batch, conn.deliveries = conn.deliveries, []
            conn.deliveries_room.set()
            statuses = await self.operator.inbound(self.settings.name, batch)
            if conn.session.state not in _RECEIVING:
                continue
            for pdu, status in zip(batch, statuses, strict=True):
                conn.session.respond(pdu, command_status=status)
            await self._flush(conn)

    async def _on_event(self, conn: _Connection, event: Event) -> str | None:
        """One event other than a delivery; returns why it ends the connection, if it does."""
        if isinstance(event, ResponseReceived):
            if event.request.command_id == CommandId.SUBMIT_SM:
                await self._submit_answered(conn, event.pdu, event.request)
        elif isinstance(event, RequestTimedOut):
            await self._timed_out(conn, event.request)
            # A link that does not answer in time is not trusted any more (reference section
            # 12); every request of this tick is reported before it closes.
            return f"no response to {CommandId(event.request.command_id).name.lower()} in time"
        elif isinstance(event, NackReceived):
            await self._nacked(conn, event)
        elif isinstance(event, Unbound):
            await self._report_lost(conn, event.unacknowledged, "operator unbound")
            return "unbound by the operator" if event.by_peer else "unbound"
        elif isinstance(event, PduRejected):
            self.log.warning(
                "smpp.pdu_rejected",
                error=str(event.error),
                status=int(event.error.command_status),
            )
        elif isinstance(event, UnexpectedResponse):
            self.log.info("smpp.unexpected_response", seq=event.pdu.sequence_number)
        return None

    async def _report(self, conn: _Connection, outcome: SubmitOutcome) -> None:
        """Report through the operator: at work, as long as the layer above needs
        (backpressure); closing, within the connection's closing bound.

        A report cancelled while it waits (a stop, or a sibling task ending the connection) is
        not lost: the connection is closing from then on, and this outcome gets its shielded
        chance within the closing bound before the cancellation goes on. The callers that
        report a batch (``_handle``, ``_report_lost``) catch that cancellation and report the
        rest of the batch, within the same bound, before re-raising it: those requests are
        already settled in the session, so nothing else would ever report them."""
        if conn.report_until is not None:
            await self.operator.report(outcome, give_up_at=conn.report_until)
            return
        try:
            await self.operator.report(outcome)
        except trio.Cancelled:
            until = conn.closing(self.operator.report_timeout)
            await self.operator.report(outcome, give_up_at=until)
            raise

    async def _submit_answered(self, conn: _Connection, pdu: Pdu, request: Outstanding) -> None:
        job: SubmitJob = request.tag  # type: ignore[assignment]
        status = pdu.command_status
        operator = self.operator
        pacer = operator.pacer
        if status in THROTTLE_STATUSES and pacer is not None:
            pacer.throttled()
        if status == 0:
            operator.throttle.ok()
            if pacer is not None:
                pacer.ok()
            await self._report(
                conn,
                _submit_outcome(
                    tag=job.tag,
                    outcome=Outcome.ACCEPTED,
                    command_status=0,
                    message_id=pdu.message_id,
                    attempts=job.attempts,
                    operator=self.settings.name,
                )
            )
            return
        if is_retryable(status) and job.attempts < self.settings.max_attempts:
            pause = operator.throttle.hit(trio.current_time())
            if status not in THROTTLE_STATUSES:
                self.log.warning("smpp.submit_retry", status=status, attempts=job.attempts)
            self.log.debug("smpp.throttled", status=status, pause=pause)
            operator.queue.put_front(job)
            return
        reason = (
            f"retryable status 0x{status:02X} {job.attempts} times"
            if is_retryable(status)
            else f"operator refused with status 0x{status:02X}"
        )
        await self._report(
            conn,
            SubmitOutcome(
                tag=job.tag,
                outcome=Outcome.FAILED,
                command_status=status,
                attempts=job.attempts,
                reason=reason,
                operator=self.settings.name,
            )
        )

    async def _nacked(self, conn: _Connection, event: NackReceived) -> None:
        request = event.request
        if request is None or request.command_id != CommandId.SUBMIT_SM:
            self.log.warning("smpp.generic_nack", status=event.pdu.command_status)
            return
        job: SubmitJob = request.tag  # type: ignore[assignment]
        # The SMSC could not parse our PDU: sending it again unchanged would fail the same way.
        await self._report(
            conn,
            SubmitOutcome(
                tag=job.tag,
                outcome=Outcome.FAILED,
                command_status=event.pdu.command_status,
                attempts=job.attempts,
                reason="generic_nack: the operator could not parse the submit_sm",
                operator=self.settings.name,
            )
        )

    async def _timed_out(self, conn: _Connection, request: Outstanding) -> None:
        if request.command_id == CommandId.SUBMIT_SM:
            job: SubmitJob = request.tag  # type: ignore[assignment]
            await self._report(
                conn,
                SubmitOutcome(
                    tag=job.tag,
                    outcome=Outcome.UNKNOWN,
                    attempts=job.attempts,
                    reason="no submit_sm_resp in time",
                    operator=self.settings.name,
                )
            )

    async def _report_lost(
        self, conn: _Connection, requests: Sequence[Outstanding], reason: str
    ) -> None:
        cancelled: trio.Cancelled | None = None
        for request in requests:
            if request.command_id == CommandId.SUBMIT_SM:
                job: SubmitJob = request.tag  # type: ignore[assignment]
                outcome = SubmitOutcome(
                    tag=job.tag,
                    outcome=Outcome.UNKNOWN,
                    attempts=job.attempts,
                    reason=reason,
                    operator=self.settings.name,
                )
                try:
                    await self._report(conn, outcome)
                except trio.Cancelled as exc:  # see _report: the others go within the bound
                    cancelled = exc
        if cancelled is not None:
            raise cancelled


def _may_submit(session: Session) -> bool:
    return session.state in (State.BOUND_TX, State.BOUND_TRX)


def _frees_a_slot(event: Event) -> bool:
    """Whether the event settled one of our submit_sm (so the writer may send again)."""
    if isinstance(event, ResponseReceived):
        return event.request.command_id == CommandId.SUBMIT_SM
    return isinstance(event, RequestTimedOut | NackReceived)


class _BindRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused with status 0x{status:02X}")
        self.status = status


__all__ = [
    "InboundHandler",
    "JobQueue",
    "Link",
    "LinkSettings",
    "Operator",
    "Outcome",
    "Pacer",
    "SubmitJob",
    "SubmitOutcome",
    "Throttle",
]
