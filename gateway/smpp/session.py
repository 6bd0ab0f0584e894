"""The SMPP 3.4 session as a sans-IO state machine, for both roles (like h11's Connection).

Bytes in, events out: ``receive_data(data, now)`` frames and decodes what the peer sent and returns
events; every PDU we produce — our requests, our answers, the generic_nack we owe a peer that sent
garbage — is queued and handed over by ``data_to_send()``, so one socket write carries a whole
batch. Time is a parameter: the adapter passes ``now`` and sleeps until ``next_deadline()``.

The session tracks the window of our outstanding requests (by sequence number, with a deadline
each), answers enquire_link and unbind by itself, and leaves every answer that needs a decision
(binds on the SMSC side, submit_sm, deliver_sm) to the application through ``respond``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

from gateway.frozen import maker
from gateway.smpp import codec
from gateway.smpp.errors import FramingError, PduDecodeError, ProtocolError
from gateway.smpp.events import (
    BindFailed,
    BindMode,
    BindRequested,
    Bound,
    ConnectionLost,
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
from gateway.smpp.pdu import (
    RESPONSE_BIT,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    CommandStatus,
    DataSmResp,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)

#: One of these per PDU in each direction: built without the frozen ``__init__`` (gateway.frozen).
_request_received = maker(RequestReceived)
_response_received = maker(ResponseReceived)


class Role(Enum):
    ESME = "esme"
    SMSC = "smsc"


class State(Enum):
    #: Connected, not bound.
    OPEN = "open"
    #: ESME: bind sent, no response yet. SMSC: bind received, not yet answered.
    BINDING = "binding"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    #: We sent unbind and wait for unbind_resp.
    UNBINDING = "unbinding"
    #: Unbound or connection lost: nothing more may be sent.
    CLOSED = "closed"
    #: The byte stream lost its framing; the adapter must close the connection.
    ERROR = "error"


class LocalProtocolError(ProtocolError):
    """*We* asked for something the protocol forbids in this state (h11's LocalProtocolError)."""


class WindowFull(LocalProtocolError):
    """Every slot of the window holds an unanswered request; wait for a response first."""


class RemoteProtocolError(ProtocolError):
    """The peer's byte stream cannot be framed any more; the session is in ERROR.

    ``events`` are those of the complete PDUs that came before the bad header in the same read:
    the adapter handles them (they may settle requests) before it closes the connection.
    """

    def __init__(self, message: str, *, events: Sequence[Event] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.events = list(events)


C = CommandId
_ESME, _SMSC = Role.ESME, Role.SMSC

#: Requests each side may send, by state: the whole of the session's rules of conduct. A request
#: missing here is refused: raised as LocalProtocolError when we try to send it, answered with
#: ESME_RINVBNDSTS when the peer does.
ALLOWED_REQUESTS: dict[tuple[State, Role], frozenset[int]] = {
    (State.OPEN, _ESME): frozenset(
        {C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER, C.ENQUIRE_LINK}
    ),
    (State.OPEN, _SMSC): frozenset({C.OUTBIND, C.ENQUIRE_LINK}),
    (State.BINDING, _ESME): frozenset({C.ENQUIRE_LINK}),
    (State.BINDING, _SMSC): frozenset({C.ENQUIRE_LINK}),
    (State.BOUND_TX, _ESME): frozenset({C.SUBMIT_SM, C.DATA_SM, C.ENQUIRE_LINK, C.UNBIND}),
    (State.BOUND_TX, _SMSC): frozenset({C.ENQUIRE_LINK, C.UNBIND}),
    (State.BOUND_RX, _ESME): frozenset({C.ENQUIRE_LINK, C.UNBIND}),
    (State.BOUND_RX, _SMSC): frozenset({C.DELIVER_SM, C.DATA_SM, C.ENQUIRE_LINK, C.UNBIND}),
    (State.BOUND_TRX, _ESME): frozenset({C.SUBMIT_SM, C.DATA_SM, C.ENQUIRE_LINK, C.UNBIND}),
    (State.BOUND_TRX, _SMSC): frozenset({C.DELIVER_SM, C.DATA_SM, C.ENQUIRE_LINK, C.UNBIND}),
    (State.UNBINDING, _ESME): frozenset({C.UNBIND, C.ENQUIRE_LINK}),
    (State.UNBINDING, _SMSC): frozenset({C.UNBIND, C.ENQUIRE_LINK}),
}

_BIND = {
    C.BIND_TRANSMITTER: (BindMode.TRANSMITTER, State.BOUND_TX, BindTransmitterResp),
    C.BIND_RECEIVER: (BindMode.RECEIVER, State.BOUND_RX, BindReceiverResp),
    C.BIND_TRANSCEIVER: (BindMode.TRANSCEIVER, State.BOUND_TRX, BindTransceiverResp),
}
_BIND_REQUEST = {
    BindMode.TRANSMITTER: BindTransmitter,
    BindMode.RECEIVER: BindReceiver,
    BindMode.TRANSCEIVER: BindTransceiver,
}
_BOUND_STATES = frozenset({State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX})

#: Requests that take a slot of the window. Keep-alives and session management must get through
#: even when the window is full of submits (reference section 12).
_WINDOWED = frozenset({C.SUBMIT_SM, C.DATA_SM, C.DELIVER_SM})

#: The response class for each request we answer with ``respond`` or refuse by ourselves.
_RESPONSE = {
    C.SUBMIT_SM: SubmitSmResp,
    C.DELIVER_SM: DeliverSmResp,
    C.DATA_SM: DataSmResp,
    C.ENQUIRE_LINK: EnquireLinkResp,
    C.UNBIND: UnbindResp,
    C.BIND_TRANSMITTER: BindTransmitterResp,
    C.BIND_RECEIVER: BindReceiverResp,
    C.BIND_TRANSCEIVER: BindTransceiverResp,
}

MAX_SEQUENCE = 0x7FFFFFFF

#: Requests the protocol gives no response (outbind; alert_notification is not sent by us).
_NO_RESPONSE = frozenset({C.OUTBIND, C.ALERT_NOTIFICATION})
#: What ``respond`` may answer, with the fast constructor of each answer (codec.builder).
#: deliver_sm_resp with an empty message_id: command_length 17, id, status, sequence, NUL.
_DELIVER_SM_RESP = struct.Struct(">IIII1x")
_DELIVER_SM_RESP_ID = C.DELIVER_SM | RESPONSE_BIT
_U32 = 0xFFFFFFFF

_RESPONDABLE = {
    cid: codec.builder(cls)
    for cid, cls in _RESPONSE.items()
    if cid not in (C.ENQUIRE_LINK, C.UNBIND) and cid not in _BIND
}


class Session:
    """One SMPP connection's protocol state, for the ESME or the SMSC side.

    ``window`` bounds our unanswered submit_sm/deliver_sm/data_sm; ``response_timeout`` is how
    long each request may wait for its response; ``enquire_link_interval`` is the silence after
    which ``tick`` sends an enquire_link.
    """

    def __init__(
        self,
        role: Role,
        *,
        window: int = 10,
        response_timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        max_pdu_length: int = codec.DEFAULT_MAX_PDU_LENGTH,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, not {window}")
        self.role = role
        self.peer_role = Role.SMSC if role is Role.ESME else Role.ESME
        self.window = window
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link_interval
        self.state = State.OPEN
        self.bind_mode: BindMode | None = None
        self._framer = codec.Framer(max_length=max_pdu_length)
        self._max_pdu_length = max_pdu_length
        self._out: list[bytes] = []
        self._outstanding: dict[int, Outstanding] = {}
        self._in_flight = 0
        self._probes = 0  # enquire_links of ours without a response
        self._next_seq = 1
        self._last_rx: float | None = None
        self._pending_bind: Pdu | None = None

    # -- introspection -------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Unanswered requests that hold a window slot."""
        return self._in_flight

    @property
    def window_free(self) -> int:
        return self.window - self._in_flight

    @property
    def outstanding(self) -> tuple[Outstanding, ...]:
        return tuple(self._outstanding.values())

    @property
    def is_bound(self) -> bool:
        return self.state in _BOUND_STATES

    # -- output --------------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued since the last call, as one buffer for one write (no I/O here)."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    # -- our requests --------------------------------------------------------------------------

    def bind(
        self,
        mode: BindMode,
        *,
        system_id: str,
        password: str,
        system_type: str = "",
        addr_ton: int = 0,
        addr_npi: int = 0,
        address_range: str = "",
        now: float,
    ) -> Outstanding:
        """(ESME) Ask to bind; the answer arrives as Bound or BindFailed."""
        pdu = _BIND_REQUEST[mode](
            system_id=system_id,
            password=password,
            system_type=system_type,
            addr_ton=addr_ton,
            addr_npi=addr_npi,
            address_range=address_range,
        )
        request = self.send_request(pdu, now=now)
        self.state = State.BINDING
        return request

    def unbind(self, *, now: float) -> Outstanding:
        """Ask the peer to end the session; Unbound follows its unbind_resp."""
        request = self.send_request(Unbind(), now=now)
        self.state = State.UNBINDING
        return request

    def send_request(self, pdu: Pdu, *, now: float, tag: object = None) -> Outstanding:
        """Queue a request under the next sequence number and start its response clock.

        ``pdu.sequence_number`` is ignored (the session numbers its own requests). Raises
        WindowFull when a windowed request finds every slot taken, LocalProtocolError when the
        state does not allow this request.
        """
        cid = pdu.command_id
        if cid not in ALLOWED_REQUESTS.get((self.state, self.role), ()):
            raise LocalProtocolError(
                f"cannot send {CommandId(cid).name.lower()} in state {self.state.value}",
                command_status=CommandStatus.ESME_RINVBNDSTS,
                command_id=cid,
            )
        windowed = cid in _WINDOWED
        if windowed and self._in_flight >= self.window:
            raise WindowFull(
                f"window of {self.window} requests is full",
                command_status=CommandStatus.ESME_RTHROTTLED,
                command_id=cid,
            )
        seq = self._allocate_sequence()
        self._out.append(codec.encode(pdu, sequence_number=seq))
        request = Outstanding(seq, cid, now, now + self.response_timeout, tag)
        if cid in _NO_RESPONSE:  # outbind: nothing will answer it, nothing to wait for
            return request
        self._outstanding[seq] = request
        if windowed:
            self._in_flight += 1
        elif cid == C.ENQUIRE_LINK:
            self._probes += 1
        return request

    def _allocate_sequence(self) -> int:
        seq = self._next_seq
        while seq in self._outstanding:  # only after 2**31 requests with one still unanswered
            seq = seq + 1 if seq < MAX_SEQUENCE else 1
        self._next_seq = seq + 1 if seq < MAX_SEQUENCE else 1
        return seq

    # -- our answers ---------------------------------------------------------------------------

    def respond(self, request: Pdu, *, command_status: int = 0, message_id: str = "") -> None:
        """Answer a peer's submit_sm, deliver_sm or data_sm (after deciding, e.g. after storing
        a receipt). An error status produces the bodiless 3.4 form where the codec says so."""
        build = _RESPONDABLE.get(request.command_id)
        if build is None:
            raise LocalProtocolError(
                f"respond() answers submit_sm, deliver_sm and data_sm, "
                f"not {CommandId(request.command_id).name.lower()}",
                command_status=CommandStatus.ESME_RINVCMDID,
                command_id=request.command_id,
            )
        if self.state in (State.CLOSED, State.ERROR):
            raise LocalProtocolError(
                f"cannot respond in state {self.state.value}",
                command_status=CommandStatus.ESME_RINVBNDSTS,
                command_id=request.command_id,
            )
        if request.command_id == C.DELIVER_SM and not message_id and 0 <= command_status <= _U32:
            # One per receipt: the 17-octet deliver_sm_resp (header + an empty message_id),
            # written without building the PDU (the bytes codec.encode makes; tested).
            self._out.append(
                _DELIVER_SM_RESP.pack(17, _DELIVER_SM_RESP_ID, command_status,
                                      request.sequence_number)
            )
            return
        self._queue(
            build(
                sequence_number=request.sequence_number,
                command_status=command_status,
                message_id=message_id,
            )
        )

    def accept_bind(self, *, system_id: str, interface_version: int | None = 0x34) -> Bound:
        """(SMSC) Accept the bind announced by BindRequested."""
        request = self._take_pending_bind()
        mode, state, resp = _BIND[request.command_id]
        self._queue(
            resp(
                sequence_number=request.sequence_number,
                system_id=system_id,
                sc_interface_version=interface_version,
            )
        )
        self.state = state
        self.bind_mode = mode
        return Bound(mode=mode, system_id=request.system_id)

    def reject_bind(self, command_status: int) -> None:
        """(SMSC) Refuse the bind announced by BindRequested, e.g. ESME_RINVPASWD."""
        request = self._take_pending_bind()
        resp = _BIND[request.command_id][2]
        self._queue(resp(sequence_number=request.sequence_number, command_status=command_status))
        self.state = State.OPEN

    def _take_pending_bind(self) -> Pdu:
        if (
            self.role is not Role.SMSC
            or self._pending_bind is None
            or self.state is not State.BINDING
        ):
            raise LocalProtocolError(
                "no bind request is waiting for an answer",
                command_status=CommandStatus.ESME_RINVBNDSTS,
            )
        request, self._pending_bind = self._pending_bind, None
        return request

    def _queue(self, pdu: Pdu) -> None:
        self._out.append(codec.encode(pdu))

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes, *, now: float) -> list[Event]:
        """Feed bytes read from the connection; returns the events they complete.

        Several PDUs in one read and one PDU over many reads both work. A PDU that cannot be
        decoded is answered (error response or generic_nack) and reported as PduRejected; a
        stream that cannot be framed any more gets a generic_nack, puts the session in ERROR and
        raises RemoteProtocolError — the adapter flushes ``data_to_send()`` and closes.
        """
        if self.state is State.ERROR:
            raise RemoteProtocolError(
                "session is in ERROR after a framing failure",
                command_status=CommandStatus.ESME_RINVCMDLEN,
            )
        self._last_rx = now
        try:
            frames = self._framer.feed(data)
        except FramingError as exc:
            # The frames before the bad header are intact (e.g. submit_sm_resps): handle them,
            # then owe the peer a generic_nack and stop.
            events = self._handle_frames(exc.frames, now)
            self.state = State.ERROR
            self._queue(
                GenericNack(
                    sequence_number=exc.sequence_number or 0, command_status=exc.command_status
                )
            )
            raise RemoteProtocolError(
                str(exc),
                command_status=exc.command_status,
                command_id=exc.command_id,
                sequence_number=exc.sequence_number,
                events=events,
            ) from exc
        return self._handle_frames(frames, now)

    def _handle_frames(self, frames: Iterable[bytes], now: float) -> list[Event]:
        events: list[Event] = []
        for frame in frames:
            try:
                pdu = codec.decode(frame, max_length=self._max_pdu_length)
            except PduDecodeError as exc:
                self._answer_undecodable(exc)
                events.append(PduRejected(error=exc))
                continue
            event = self._handle(pdu, now)
            if event is not None:
                events.append(event)
        return events

    def _answer_undecodable(self, exc: PduDecodeError) -> None:
        """A request we cannot decode gets its own response with the error status when the
        command is one we know, else generic_nack; a response we cannot decode gets nothing
        (its request will time out: outcome unknown)."""
        cid = exc.command_id
        if cid is not None and cid & 0x80000000:
            return
        seq = exc.sequence_number or 0
        cls = _RESPONSE.get(cid) if cid is not None else None
        if cls is None:
            self._queue(GenericNack(sequence_number=seq, command_status=exc.command_status))
        else:
            self._queue(cls(sequence_number=seq, command_status=exc.command_status))

    def _handle(self, pdu: Pdu, now: float) -> Event | None:
        cid = pdu.command_id
        if cid & 0x80000000:
            return self._handle_response(pdu)
        if cid not in ALLOWED_REQUESTS.get((self.state, self.peer_role), ()):
            bound_again = cid in _BIND and self.state in _BOUND_STATES
            status = CommandStatus.ESME_RALYBND if bound_again else CommandStatus.ESME_RINVBNDSTS
            error = ProtocolError(
                f"peer sent {CommandId(cid).name.lower()} in state {self.state.value}",
                command_status=status,
                command_id=cid,
                sequence_number=pdu.sequence_number,
            )
            if self.state is not State.CLOSED:  # once closed, nothing more is said
                self._queue(
                    _RESPONSE.get(cid, GenericNack)(
                        sequence_number=pdu.sequence_number, command_status=status
                    )
                )
            return PduRejected(error=error)
        if cid == C.ENQUIRE_LINK:
            self._queue(EnquireLinkResp(sequence_number=pdu.sequence_number))
            return None
        if cid == C.UNBIND:
            self._queue(UnbindResp(sequence_number=pdu.sequence_number))
            return self._close_unbound(by_peer=True)
        if cid in _BIND:  # SMSC role, state OPEN
            self._pending_bind = pdu
            self.state = State.BINDING
            return BindRequested(pdu=pdu)
        return _request_received(pdu=pdu)

    def _handle_response(self, pdu: Pdu) -> Event:
        seq = pdu.sequence_number
        request = self._outstanding.get(seq)
        if pdu.command_id == C.GENERIC_NACK:
            if request is None:
                return NackReceived(pdu=pdu, request=None)
            self._settle(request)
            if request.command_id in _BIND:  # the peer could not take our bind: not bound
                self.state = State.OPEN
                return BindFailed(command_status=pdu.command_status, request=request)
            if request.command_id == C.UNBIND:  # nothing more to say to this peer
                return self._close_unbound(by_peer=False)
            return NackReceived(pdu=pdu, request=request)
        if request is None or request.command_id | 0x80000000 != pdu.command_id:
            return UnexpectedResponse(pdu=pdu)
        self._settle(request)
        rid = request.command_id
        if rid in _BIND:
            mode, state, _ = _BIND[rid]
            if pdu.command_status == 0:
                self.state = state
                self.bind_mode = mode
                return Bound(
                    mode=mode,
                    system_id=pdu.system_id,
                    interface_version=pdu.sc_interface_version,
                )
            self.state = State.OPEN
            return BindFailed(command_status=pdu.command_status, request=request)
        if rid == C.UNBIND:
            return self._close_unbound(by_peer=False)
        return _response_received(pdu=pdu, request=request)

    def _settle(self, request: Outstanding) -> None:
        del self._outstanding[request.sequence_number]
        if request.command_id in _WINDOWED:
            self._in_flight -= 1
        elif request.command_id == C.ENQUIRE_LINK:
            self._probes -= 1

    def _close_unbound(self, *, by_peer: bool) -> Unbound:
        left = tuple(self._outstanding.values())
        self._outstanding.clear()
        self._in_flight = 0
        self._probes = 0
        self.state = State.CLOSED
        return Unbound(by_peer=by_peer, unacknowledged=left)

    # -- time ----------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Event]:
        """Expire requests past their deadline, and probe a silent peer with enquire_link."""
        events: list[Event] = []
        if self._outstanding:
            # Deadlines grow with send order (one fixed time-out), so expired ones come first.
            for request in list(self._outstanding.values()):
                if request.deadline > now:
                    break
                self._settle(request)
                events.append(RequestTimedOut(request=request))
        if self.state in _BOUND_STATES and not self._probes and self._keepalive_due() <= now:
            self.send_request(EnquireLink(), now=now)
            self._last_rx = now  # the next probe is due one interval after this one
        return events

    def _keepalive_due(self) -> float:
        last = self._last_rx if self._last_rx is not None else 0.0
        return last + self.enquire_link_interval

    def start_clock(self, now: float) -> None:
        """Start the keep-alive clock at connection time (before anything was received)."""
        if self._last_rx is None:
            self._last_rx = now

    def next_deadline(self) -> float | None:
        """When ``tick`` next has something to do; None if nothing is timed."""
        deadlines = []
        if self._outstanding:
            deadlines.append(next(iter(self._outstanding.values())).deadline)
        if self.state in _BOUND_STATES and not self._probes:
            # While a probe is out its own response deadline is the next thing to watch.
            deadlines.append(self._keepalive_due())
        return min(deadlines) if deadlines else None

    def connection_lost(self) -> ConnectionLost:
        """The transport is gone: every unanswered request has an unknown outcome."""
        left = tuple(self._outstanding.values())
        self._outstanding.clear()
        self._in_flight = 0
        self._probes = 0
        self.state = State.CLOSED
        self._pending_bind = None
        return ConnectionLost(unacknowledged=left)
