"""A bundled SMSC on trio: the operator for ``make run``, the tests and the benchmarks.

It speaks the same sans-IO ``Session`` as the gateway (SMSC role) and behaves like a carrier:
accepts binds with the configured credentials (wrong ones get ESME_RINVPASWD / ESME_RINVSYSID),
answers submit_sm with unique message ids (decimal or hex), enforces a maximum rate and window,
sends delivery receipts after a delay with a configurable mix of outcomes (text, TLVs or both), and
replies (MO) "STOP" from configured numbers. On request it injects the faults that break gateways
in the field: a share of submits answered ESME_RTHROTTLED / ESME_RMSGQFUL / ESME_RSYSERR, slow or
missing responses, connection drops after N PDUs, PDUs coalesced into one write or written byte by
byte, malformed PDUs.

Faults are drawn from one seeded ``random.Random``, so a test sees the same run every time. Timed
work (late responses, receipts, replies) waits in one heap served by one task: no task per message.

Run it: ``python -m gateway.smpp.simulator --port 2775 --system-id gateway --password secret``
(``--help`` lists every option).
"""

from __future__ import annotations

import argparse
import functools
import gc
import heapq
import itertools
import json
import math
import random
import signal
import struct
import sys
import time
from bisect import bisect
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import trio

from gateway import codec as text_codec
from gateway.smpp import codec as smpp_codec
from gateway.smpp.events import (
    BindRequested,
    Event,
    NackReceived,
    PduRejected,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from gateway.smpp.pdu import CommandStatus, DeliverSm, MessageState, SubmitSm
from gateway.smpp.session import RemoteProtocolError, Role, Session

#: Receipt outcomes and the err: code each carries by default.
DEFAULT_ERRORS = {"DELIVRD": 0, "UNDELIV": 1, "EXPIRED": 0, "REJECTD": 2, "DELETED": 0}

#: Receipts are built by the codec's fast constructor (equal to ``DeliverSm(...)``).
_deliver_sm = smpp_codec.builder(DeliverSm)

#: Cyclic GC thresholds of the simulator process (see ``main``).
GC_THRESHOLDS = (20_000, 20, 20)

#: What a malformed PDU from the simulator looks like, by kind.
MALFORMED_KINDS = ("unknown_command", "bad_body", "bad_length")


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Misbehaviour to inject. Shares are probabilities per submit_sm, drawn from the seed."""

    throttle_share: float = 0.0
    queue_full_share: float = 0.0
    system_error_share: float = 0.0
    #: Share of submits answered only after ``slow_delay`` seconds.
    slow_share: float = 0.0
    slow_delay: float = 5.0
    #: Share of submits never answered at all.
    no_response_share: float = 0.0
    #: Close each connection after receiving this many PDUs (bind included).
    drop_after: int | None = None
    #: Hold writes and send them together every this many seconds.
    coalesce_interval: float | None = None
    #: Write every PDU one byte at a time.
    split_bytes: bool = False
    #: After every N-th submit_sm, send a malformed PDU of ``malformed_kind``.
    malformed_every: int | None = None
    malformed_kind: str = "unknown_command"


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "gateway"
    password: str = "secret"
    #: What we call ourselves in bind responses.
    smsc_id: str = "SIMSMSC"
    #: "decimal" or "hex" message ids in submit_sm_resp; receipts print ``receipt_id_format``.
    id_format: str = "decimal"
    receipt_id_format: str = "decimal"
    #: Seconds from submit_sm to its receipt.
    receipt_delay: float = 0.5
    #: Outcome weights, e.g. {"DELIVRD": 95, "UNDELIV": 4, "EXPIRED": 1}.
    receipt_mix: dict[str, float] = field(default_factory=lambda: {"DELIVRD": 1.0})
    #: "text" (Appendix B text only), "tlv" (TLVs, empty text) or "both".
    receipt_style: str = "both"
    #: Numbers (digits, as in destination_addr) that answer "STOP" to whatever they receive.
    stop_from: frozenset[str] = frozenset()
    #: Most submit_sm per second per system_id (beyond: ESME_RTHROTTLED); None: no limit.
    max_tps: float | None = None
    #: Most submit_sm awaiting our response per connection (beyond: ESME_RMSGQFUL).
    max_window: int | None = None
    #: Our own window for deliver_sm we send.
    deliver_window: int = 100
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    #: Keep every received submit_sm in ``Simulator.received`` (tests); off for load.
    record: bool = False
    #: Append every received short message as a JSON line here.
    export: Path | None = None


#: A timed action in the heap: (due, order, action); ``order`` breaks ties, so actions due at
#: the same instant run in the order they were set and ``action`` is never compared.
_Timed = tuple[float, int, Callable[[], None]]


class _Bucket:
    """The carrier's rate limit: a token bucket refilled at ``rate``/s, burst one second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.last: float | None = None

    def take(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _Conn:
    """One ESME connection: its session, its stream and its write discipline."""

    def __init__(self, sim: Simulator, stream: trio.abc.Stream, number: int) -> None:
        self.sim = sim
        self.stream = stream
        self.number = number
        cfg = sim.config
        self.session = Session(
            Role.SMSC,
            window=cfg.deliver_window,
            response_timeout=cfg.response_timeout,
            enquire_link_interval=cfg.enquire_link_interval,
        )
        self.lock = trio.StrictFIFOLock()
        self.closed = False
        self.received_pdus = 0
        self.awaiting_response = 0
        self.dirty = trio.Event()
        #: The connection's nursery scope: cancelled to drop the connection on request.
        self.scope: trio.CancelScope | None = None
        #: The deadline the ticker sleeps toward (inf: none), and the event that wakes it early.
        self.ticker_at = math.inf
        self.ticker_wakeup = trio.Event()

    async def flush(self) -> None:
        faults = self.sim.config.faults
        async with self.lock:
            data = self.session.data_to_send()
            if not data or self.closed:
                return
            if faults.split_bytes:
                for i in range(len(data)):
                    await self.stream.send_all(data[i : i + 1])
            else:
                await self.stream.send_all(data)

    def wake_writer(self) -> None:
        self.dirty.set()

    def deadlines_changed(self) -> None:
        """Call after anything that can bring the session's next deadline forward (a bind
        accepted, a deliver_sm sent, a response received): the ticker computed its sleep from
        the old deadline (None before the bind) and would otherwise oversleep it."""
        deadline = self.session.next_deadline()
        if deadline is not None and deadline < self.ticker_at:
            self.ticker_wakeup.set()


class Simulator:
    """Serve ``config`` on a TCP listener; ``stats`` counts what happened, by name."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.stats: Counter[str] = Counter()
        self.received: list[SubmitSm] = []
        self.port: int | None = None
        self._ids = itertools.count(1)
        self._conn_numbers = itertools.count(1)
        self._receivers: list[_Conn] = []
        self._buckets: dict[str, _Bucket] = {}
        self._heap: list[_Timed] = []
        self._order = itertools.count()
        self._heap_changed = trio.Event()
        self._export: TextIO | None = None
        self._conns: set[_Conn] = set()
        self._mo_refs = itertools.count(1)
        #: deliver_sm waiting for a receiver with a free window, oldest first.
        self._deferred: deque[tuple[DeliverSm, str]] = deque()
        #: strftime of receipt dates, cached per minute (the format has minutes).
        self._stamps: dict[int, str] = {}
        # Checked here, not at the first receipt: a bad mix would raise in the timer task and
        # take the whole simulator down.
        self._outcome_names, weights = receipt_weights(config.receipt_mix)
        self._outcome_cum = list(itertools.accumulate(weights))
        #: stats key of each submit_sm_resp status, built once per status.
        self._status_keys: dict[int, str] = {}

    # -- running -------------------------------------------------------------------------------

    async def serve(
        self,
        *,
        listeners: Sequence[trio.SocketListener] | None = None,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen and serve until cancelled; ``started`` with the bound port.

        ``listeners`` are already listening sockets (hypercorn's pre-bound sockets): a caller
        that opens them itself sees a port in use as a plain OSError, before any nursery runs.
        """
        cfg = self.config
        if listeners is None:
            listeners = await trio.open_tcp_listeners(cfg.port, host=cfg.host)
        self.port = listeners[0].socket.getsockname()[1]
        if cfg.export is not None:
            self._export = cfg.export.open("a", encoding="utf-8")
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._timer_task)
                await nursery.start(trio.serve_listeners, self._handle, list(listeners))
                task_status.started(self.port)
        finally:
            if self._export is not None:
                self._export.close()

    def _at(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (trio.current_time() + delay, next(self._order), action))
        self._heap_changed.set()

    async def _timer_task(self) -> None:
        while True:
            if not self._heap:
                self._heap_changed = trio.Event()
                await self._heap_changed.wait()
                continue
            due = self._heap[0][0]
            if trio.current_time() < due:
                self._heap_changed = trio.Event()
                with trio.move_on_at(due):
                    await self._heap_changed.wait()
                continue
            heap = self._heap
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                heapq.heappop(heap)[2]()

    def drop_connections(self) -> int:
        """Close every ESME connection now, as a carrier's restart does (tests, chaos runs);
        returns how many were dropped."""
        dropped = 0
        for conn in list(self._conns):
            if conn.scope is not None and not conn.closed:
                conn.scope.cancel()
                dropped += 1
        self.stats["connections_dropped_on_request"] += dropped
        return dropped

    async def _handle(self, stream: trio.abc.Stream) -> None:
        conn = _Conn(self, stream, next(self._conn_numbers))
        self.stats["connections"] += 1
        self._conns.add(conn)
        try:
            async with trio.open_nursery() as nursery:
                conn.scope = nursery.cancel_scope
                nursery.start_soon(self._writer, conn)
                nursery.start_soon(self._ticker, conn)
                await self._reader(conn)
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            # A peer that resets its connection (an ESME killed with data unread) ends that
            # connection only; the errors come grouped out of the connection's nursery.
            self.stats["connections_broken"] += 1
        finally:
            conn.closed = True
            self._conns.discard(conn)
            if conn in self._receivers:
                self._receivers.remove(conn)
            self._redeliver(conn)
            await trio.aclose_forcefully(stream)

    def _redeliver(self, conn: _Conn) -> None:
        """deliver_sm the ESME never acknowledged are delivered again, first, on another
        connection (a carrier keeps a receipt until it is acknowledged)."""
        lost = [
            request.tag
            for request in conn.session.connection_lost().unacknowledged
            if isinstance(request.tag, DeliverSm)
        ]
        if not lost:
            return
        self.stats["deliveries_redelivered"] += len(lost)
        what = {True: "receipts", False: "replies"}
        self._deferred.extendleft(
            (pdu, what[bool(pdu.esm_class & 0x04)]) for pdu in reversed(lost)
        )
        self._drain_deferred()

    async def _reader(self, conn: _Conn) -> None:
        drop_after = self.config.faults.drop_after
        while True:
            data = await conn.stream.receive_some(65536)
            if not data:
                return
            try:
                events = conn.session.receive_data(data, now=trio.current_time())
            except RemoteProtocolError as exc:
                self.stats["framing_errors"] += 1
                self._handle_events(conn, exc.events)
                await conn.flush()
                return
            conn.received_pdus += len(events)
            self._handle_events(conn, events)
            conn.deadlines_changed()
            if drop_after is not None and conn.received_pdus >= drop_after:
                self.stats["dropped_connections"] += 1
                await conn.flush()
                return
            if self.config.faults.coalesce_interval is None:
                await conn.flush()
            else:
                conn.wake_writer()

    async def _writer(self, conn: _Conn) -> None:
        """Writes queued outside the reader (late responses, receipts, coalesced batches)."""
        interval = self.config.faults.coalesce_interval
        while True:
            await conn.dirty.wait()
            conn.dirty = trio.Event()
            if interval is not None:
                await trio.sleep(interval)
            await conn.flush()

    async def _ticker(self, conn: _Conn) -> None:
        """Wake at the session's next deadline (deliver_sm time-outs, enquire_link to a silent
        ESME), or sooner when ``deadlines_changed`` says it moved forward."""
        session = conn.session
        session.start_clock(trio.current_time())
        while True:
            deadline = session.next_deadline()
            conn.ticker_at = math.inf if deadline is None else deadline
            conn.ticker_wakeup = trio.Event()
            with trio.move_on_at(conn.ticker_at):
                await conn.ticker_wakeup.wait()
            if trio.current_time() < conn.ticker_at:
                continue  # woken early: recompute the deadline
            conn.ticker_at = math.inf
            for event in session.tick(trio.current_time()):
                if isinstance(event, RequestTimedOut):
                    self.stats["deliver_sm_timeouts"] += 1
            if self._deferred:
                self._drain_deferred()
            conn.wake_writer()

    # -- protocol ------------------------------------------------------------------------------

    def _handle_events(self, conn: _Conn, events: Sequence[Event]) -> None:
        freed = False
        for event in events:
            if isinstance(event, RequestReceived):
                if isinstance(event.pdu, SubmitSm):
                    self._submit(conn, event.pdu)
                else:
                    conn.session.respond(event.pdu, command_status=CommandStatus.ESME_RINVCMDID)
            elif isinstance(event, BindRequested):
                self._bind(conn, event.pdu)
            elif isinstance(event, ResponseReceived):
                self.stats["deliver_sm_resp"] += 1
                freed = True
            elif isinstance(event, PduRejected):
                self.stats["pdus_rejected"] += 1
            elif isinstance(event, NackReceived):
                self.stats["generic_nacks_received"] += 1
            elif isinstance(event, Unbound):
                self.stats["unbinds"] += 1
        if (freed or conn.session.is_bound) and self._deferred:
            self._drain_deferred()

    def _bind(self, conn: _Conn, pdu: object) -> None:
        cfg = self.config
        if pdu.system_id != cfg.system_id:  # type: ignore[attr-defined]
            conn.session.reject_bind(CommandStatus.ESME_RINVSYSID)
            self.stats["binds_refused"] += 1
            return
        if pdu.password != cfg.password:  # type: ignore[attr-defined]
            conn.session.reject_bind(CommandStatus.ESME_RINVPASWD)
            self.stats["binds_refused"] += 1
            return
        bound = conn.session.accept_bind(system_id=cfg.smsc_id)
        self.stats[f"binds_{bound.mode.value}"] += 1
        if bound.mode.value in ("receiver", "transceiver"):
            self._receivers.append(conn)

    def _status_for(self, conn: _Conn, pdu: SubmitSm) -> int:
        cfg = self.config
        faults = cfg.faults
        if cfg.max_tps is not None:
            bucket = self._buckets.setdefault(cfg.system_id, _Bucket(cfg.max_tps))
            if not bucket.take(trio.current_time()):
                return CommandStatus.ESME_RTHROTTLED
        if cfg.max_window is not None and conn.awaiting_response >= cfg.max_window:
            return CommandStatus.ESME_RMSGQFUL
        draw = self.rng.random()
        if draw < faults.throttle_share:
            return CommandStatus.ESME_RTHROTTLED
        draw -= faults.throttle_share
        if draw < faults.queue_full_share:
            return CommandStatus.ESME_RMSGQFUL
        draw -= faults.queue_full_share
        if draw < faults.system_error_share:
            return CommandStatus.ESME_RSYSERR
        return CommandStatus.ESME_ROK

    def _submit(self, conn: _Conn, pdu: SubmitSm) -> None:
        cfg = self.config
        faults = cfg.faults
        status = self._status_for(conn, pdu)
        key = self._status_keys.get(status)
        if key is None:
            key = self._status_keys[status] = f"submit_sm_{CommandStatus(status).name.lower()}"
        self.stats[key] += 1
        self.stats["submit_sm"] += 1
        message_id = ""
        if status == CommandStatus.ESME_ROK:
            number = next(self._ids)
            message_id = format(number, "X") if cfg.id_format == "hex" else str(number)
            self._accepted(pdu, number)
        draw = self.rng.random()
        if draw < faults.no_response_share:
            self.stats["responses_withheld"] += 1
        elif draw < faults.no_response_share + faults.slow_share:
            self.stats["responses_delayed"] += 1
            conn.awaiting_response += 1

            def late() -> None:
                conn.awaiting_response -= 1
                if not conn.closed:
                    conn.session.respond(pdu, command_status=status, message_id=message_id)
                    conn.wake_writer()

            self._at(faults.slow_delay, late)
        else:
            conn.session.respond(pdu, command_status=status, message_id=message_id)
        if faults.malformed_every and self.stats["submit_sm"] % faults.malformed_every == 0:
            self._send_malformed(conn)

    def _accepted(self, pdu: SubmitSm, number: int) -> None:
        cfg = self.config
        if cfg.record:
            self.received.append(pdu)
        if self._export is not None:
            self._export.write(
                json.dumps(
                    {
                        "id": number,
                        "source": pdu.source_addr,
                        "destination": pdu.destination_addr,
                        "data_coding": pdu.data_coding,
                        "esm_class": pdu.esm_class,
                        "short_message": pdu.short_message.hex(),
                    }
                )
                + "\n"
            )
        if pdu.registered_delivery & 0x03:
            submitted = time.time()
            self._at(cfg.receipt_delay, lambda: self._send_receipt(pdu, number, submitted))
        if pdu.destination_addr in cfg.stop_from:
            reply_to = (pdu.destination_addr, pdu.source_addr)
            self._at(cfg.receipt_delay, lambda: self._send_mo(*reply_to))

    # -- what we send --------------------------------------------------------------------------

    def _receiver(self) -> _Conn | None:
        """A bound connection that can take a deliver_sm now (round robin)."""
        for _ in range(len(self._receivers)):
            conn = self._receivers.pop(0)
            self._receivers.append(conn)
            if not conn.closed and conn.session.is_bound and conn.session.window_free > 0:
                return conn
        return None

    def _deliver(self, pdu: DeliverSm, what: str) -> None:
        """Send now, or queue behind what already waits for a receiver's window (a carrier keeps
        undelivered receipts and replies, in order, and sends them as windows free up)."""
        if self._deferred or not self._try_deliver(pdu, what):
            self._deferred.append((pdu, what))
            self.stats[f"{what}_deferred"] += 1

    def _try_deliver(self, pdu: DeliverSm, what: str) -> bool:
        conn = self._receiver()
        if conn is None:
            return False
        conn.session.send_request(pdu, now=trio.current_time(), tag=pdu)
        self.stats[f"{what}_sent"] += 1
        conn.deadlines_changed()  # its response deadline may come before the next keep-alive
        conn.wake_writer()
        return True

    def _drain_deferred(self) -> None:
        """A window freed up or a receiver bound: send what waits, oldest first."""
        deferred = self._deferred
        while deferred:
            pdu, what = deferred[0]
            if not self._try_deliver(pdu, what):
                return
            deferred.popleft()

    def _send_receipt(self, submit: SubmitSm, number: int, submitted: float) -> None:
        cfg = self.config
        # random.choices(names, weights) without its per-call set-up: the same single draw.
        cum = self._outcome_cum
        stat = self._outcome_names[bisect(cum, self.rng.random() * cum[-1], 0, len(cum) - 1)]
        if stat == "DELIVRD" and submit.registered_delivery & 0x03 == 0x02:
            return  # receipt on failure only
        resp_id = format(number, "X") if cfg.id_format == "hex" else str(number)
        err = DEFAULT_ERRORS.get(stat, 0)
        style = cfg.receipt_style
        with_tlv = style in ("tlv", "both")
        short_message = b""
        if style in ("text", "both"):
            short_message = self._receipt_text(submit, number, submitted, stat, err)
        pdu = _deliver_sm(
            source_addr_ton=submit.dest_addr_ton,
            source_addr_npi=submit.dest_addr_npi,
            source_addr=submit.destination_addr,
            dest_addr_ton=submit.source_addr_ton,
            dest_addr_npi=submit.source_addr_npi,
            destination_addr=submit.source_addr[:20],
            esm_class=0x04,
            short_message=short_message,
            receipted_message_id=resp_id if with_tlv else None,
            message_state=MessageState[stat] if with_tlv else None,
            network_error_code=struct.pack(">BH", 3, err) if with_tlv and err else None,
        )
        self._deliver(pdu, "receipts")

    def _receipt_text(
        self, submit: SubmitSm, number: int, submitted: float, stat: str, err: int
    ) -> bytes:
        """The receipt's text form (SMPP 3.4 appendix B), for styles "text" and "both"."""
        cfg = self.config
        receipt_id = format(number, "X") if cfg.receipt_id_format == "hex" else f"{number:010d}"
        stamp = self._stamp(submitted)
        done = self._stamp(time.time())
        preview = ""
        if submit.data_coding in (0, 8):
            try:
                preview = text_codec.decode(
                    submit.short_message, submit.data_coding, udhi=bool(submit.esm_class & 0x40)
                ).text
            except text_codec.DecodeError:
                # The SMSC took the bytes as they were (odd UCS-2, UDH past the payload): the
                # receipt still goes, with an empty text: preview, as carriers do.
                self.stats["receipt_text_undecodable"] += 1
        text = (
            f"id:{receipt_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:{stamp} done date:{done} stat:{stat} err:{err:03d} "
            f"text:{preview[:20]}"
        )
        return text.encode("ascii", "replace")

    def _stamp(self, when: float) -> str:
        """``YYMMDDhhmm`` (UTC) of unix time ``when``, cached per minute."""
        minute = int(when) // 60
        stamp = self._stamps.get(minute)
        if stamp is None:
            if len(self._stamps) > 4:
                self._stamps.clear()
            stamp = datetime.fromtimestamp(minute * 60, UTC).strftime("%y%m%d%H%M")
            self._stamps[minute] = stamp
        return stamp

    def _send_mo(self, source: str, destination: str, text: str = "STOP") -> None:
        """Every part of ``text``, each its own deliver_sm; the parts of a long text carry a
        concatenation UDH, announced by UDHI in esm_class (plan.esm_class, 0x40)."""
        plan = text_codec.plan(text, ref=next(self._mo_refs) % 256)
        for part in plan.parts:
            pdu = DeliverSm(
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr=source,
                destination_addr=destination[:20],
                esm_class=plan.esm_class,
                data_coding=plan.data_coding,
                short_message=part,
            )
            self._deliver_mo(pdu)

    def _deliver_mo(self, pdu: DeliverSm) -> None:
        self._deliver(pdu, "replies")

    def send_mo(self, source: str, destination: str, text: str) -> None:
        """Send a reply (MO) now, e.g. from a test: "STOP" from a recipient to a short code."""
        self._send_mo(source, destination, text)

    def _send_malformed(self, conn: _Conn) -> None:
        kind = self.config.faults.malformed_kind
        self.stats[f"malformed_{kind}"] += 1
        if kind == "unknown_command":
            raw = struct.pack(">IIII", 16, 0x00000099, 0, 0x7FFF0000 + self.stats["submit_sm"])
        elif kind == "bad_body":
            # A deliver_sm whose service_type has no NUL within its 6 octets.
            body = b"XXXXXXXXXXXX"
            raw = struct.pack(">IIII", 16 + len(body), 0x00000005, 0, 0x7FFE0000) + body
        else:
            raw = struct.pack(">IIII", 8, 0x00000015, 0, 1)
        conn.session._out.append(raw)  # bypasses the encoder on purpose: the bytes are wrong
        conn.wake_writer()


def receipt_weights(mix: dict[str, float]) -> tuple[list[str], list[float]]:
    """Check a receipt mix and return its outcome names (upper case) and weights.

    Refused: an unknown outcome, a weight that is negative or not finite, and a mix whose weights
    add up to nothing (``random.choices`` would raise at the first receipt instead)."""
    names: list[str] = []
    weights: list[float] = []
    for given, weight in mix.items():
        name = given.upper()
        if name not in MessageState.__members__:
            raise ValueError(f"unknown receipt outcome {name!r}")
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight of receipt outcome {name} must be a number >= 0: {weight!r}")
        names.append(name)
        weights.append(weight)
    if not sum(weights) > 0:
        raise ValueError(
            f"receipt mix {mix!r} has no weight: give at least one outcome a weight above 0"
        )
    return names, weights


# -- command line ----------------------------------------------------------------------------


def _mix(value: str) -> dict[str, float]:
    """"DELIVRD:95,UNDELIV:4,EXPIRED:1" -> weights."""
    mix: dict[str, float] = {}
    for item in value.split(","):
        name, _, weight = item.partition(":")
        name = name.strip().upper()
        if name not in MessageState.__members__:
            raise argparse.ArgumentTypeError(f"unknown receipt outcome {name!r}")
        try:
            mix[name] = float(weight or 1)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"weight of {name} is not a number: {weight!r}"
            ) from None
    try:
        receipt_weights(mix)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return mix


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gateway.smpp.simulator", description="A fault-injecting SMPP 3.4 SMSC."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2775)
    p.add_argument("--system-id", default="gateway")
    p.add_argument("--password", default="secret")
    p.add_argument("--id-format", choices=("decimal", "hex"), default="decimal")
    p.add_argument("--receipt-id-format", choices=("decimal", "hex"), default="decimal")
    p.add_argument("--receipt-delay", type=float, default=0.5)
    p.add_argument("--receipt-mix", type=_mix, default={"DELIVRD": 1.0})
    p.add_argument("--receipt-style", choices=("text", "tlv", "both"), default="both")
    p.add_argument("--stop-from", default="", help="comma-separated numbers that reply STOP")
    p.add_argument("--max-tps", type=float)
    p.add_argument("--max-window", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--throttle-share", type=float, default=0.0)
    p.add_argument("--queue-full-share", type=float, default=0.0)
    p.add_argument("--system-error-share", type=float, default=0.0)
    p.add_argument("--slow-share", type=float, default=0.0)
    p.add_argument("--slow-delay", type=float, default=5.0)
    p.add_argument("--no-response-share", type=float, default=0.0)
    p.add_argument("--drop-after", type=int)
    p.add_argument("--coalesce-interval", type=float)
    p.add_argument("--split-bytes", action="store_true")
    p.add_argument("--malformed-every", type=int)
    p.add_argument("--malformed-kind", choices=MALFORMED_KINDS, default="unknown_command")
    p.add_argument("--export", type=Path, help="append every accepted short message (JSON lines)")
    p.add_argument("--stats-interval", type=float, default=0.0, help="print counts every N s")
    return p


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        system_id=args.system_id,
        password=args.password,
        id_format=args.id_format,
        receipt_id_format=args.receipt_id_format,
        receipt_delay=args.receipt_delay,
        receipt_mix=args.receipt_mix,
        receipt_style=args.receipt_style,
        stop_from=frozenset(n.strip().lstrip("+") for n in args.stop_from.split(",") if n.strip()),
        max_tps=args.max_tps,
        max_window=args.max_window,
        seed=args.seed,
        export=args.export,
        faults=Faults(
            throttle_share=args.throttle_share,
            queue_full_share=args.queue_full_share,
            system_error_share=args.system_error_share,
            slow_share=args.slow_share,
            slow_delay=args.slow_delay,
            no_response_share=args.no_response_share,
            drop_after=args.drop_after,
            coalesce_interval=args.coalesce_interval,
            split_bytes=args.split_bytes,
            malformed_every=args.malformed_every,
            malformed_kind=args.malformed_kind,
        ),
    )


async def _main(config: SimulatorConfig, stats_interval: float) -> None:
    sim = Simulator(config)
    # Listen before any nursery: a port in use is then a plain OSError out of trio.run (inside
    # the nursery it would come out as an ExceptionGroup), which main reports in one line.
    listeners = await trio.open_tcp_listeners(config.port, host=config.host)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(functools.partial(sim.serve, listeners=listeners))
        print(f"simulator: listening on {config.host}:{port} as {config.system_id!r}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            if stats_interval > 0:

                async def report() -> None:
                    while True:
                        await trio.sleep(stats_interval)
                        print("simulator:", json.dumps(dict(sim.stats)), flush=True)

                nursery.start_soon(report)
            async for _ in signals:
                break
        nursery.cancel_scope.cancel()
    print("simulator: stopped;", json.dumps(dict(sorted(sim.stats.items()))), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # As the daemon does (gateway.daemon.GC_THRESHOLDS, why there): every PDU allocates a few
    # tracked objects that die young by refcount; default thresholds cost the simulator about
    # a sixth of its CPU in collections under load (bench/e2e.py).
    gc.set_threshold(*(max(a, b) for a, b in zip(gc.get_threshold(), GC_THRESHOLDS, strict=True)))
    try:
        trio.run(_main, config_from_args(args), args.stats_interval)
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
