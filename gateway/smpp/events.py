"""What an SMPP session tells its adapter. The session returns these from ``receive_data`` and
``tick``; it never logs, counts or awaits — the trio layer that handles an event does that.

Don't subclass these: the adapter dispatches on the exact type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from gateway.smpp.errors import ProtocolError
from gateway.smpp.pdu import Pdu


class BindMode(Enum):
    """How a link is bound: which directions of traffic it may carry."""

    #: submit_sm from the ESME only.
    TRANSMITTER = "transmitter"
    #: deliver_sm to the ESME only.
    RECEIVER = "receiver"
    #: both, on one socket.
    TRANSCEIVER = "transceiver"


@dataclass(slots=True, eq=False)
class Outstanding:
    """A request we sent that has no response yet. Mutable and identity-compared: the session
    keeps it in its window and hands the same object back with the response or the time-out."""

    sequence_number: int
    command_id: int
    sent_at: float
    deadline: float
    #: Opaque to the session: whatever the adapter needs to find its message again.
    tag: object = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BindRequested:
    """(SMSC role) The peer asks to bind; answer with ``accept_bind`` or ``reject_bind``."""

    pdu: Pdu


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    """The session is bound (ESME: the bind response said OK; SMSC: we accepted the bind)."""

    mode: BindMode
    system_id: str
    #: The peer's sc_interface_version (ESME role), None when absent (an SMSC of 3.3 or older).
    interface_version: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BindFailed:
    """(ESME role) The bind response carried an error status; the session is open, not bound."""

    command_status: int
    request: Outstanding


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived:
    """The peer sent a request the application must answer with ``respond``: submit_sm (SMSC
    role), deliver_sm / data_sm (ESME role). The session never answers these itself, so that a
    receipt is acknowledged only once it is stored."""

    pdu: Pdu


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived:
    """The response to one of our requests, whatever its status."""

    pdu: Pdu
    request: Outstanding


@dataclass(frozen=True, slots=True, kw_only=True)
class NackReceived:
    """The peer answered generic_nack: it could not parse our PDU, or rejected the command.
    ``request`` is the request it refers to, when its sequence number matches one."""

    pdu: Pdu
    request: Outstanding | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestTimedOut:
    """No response within the response time-out. For a submit_sm the outcome is unknown: the
    operator may have accepted it. An enquire_link that times out means the link is dead."""

    request: Outstanding


@dataclass(frozen=True, slots=True, kw_only=True)
class UnexpectedResponse:
    """A response whose sequence number matches no request of ours (late, after a time-out, or a
    peer bug). It is dropped."""

    pdu: Pdu


@dataclass(frozen=True, slots=True, kw_only=True)
class PduRejected:
    """The peer sent a PDU we could not accept; the session has queued the answer (an error
    response or generic_nack) and carries on."""

    error: ProtocolError


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbound:
    """The session is closed by unbind: ``by_peer`` tells who asked. The adapter flushes
    ``data_to_send()`` (our unbind_resp, if any) and closes the connection."""

    by_peer: bool
    #: Requests left without a response: their outcome is unknown.
    unacknowledged: tuple[Outstanding, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLost:
    """The transport went away. Requests without a response have an unknown outcome; the layer
    above decides whether to send them again (at-least-once)."""

    unacknowledged: tuple[Outstanding, ...]


Event = (
    BindRequested
    | Bound
    | BindFailed
    | RequestReceived
    | ResponseReceived
    | NackReceived
    | RequestTimedOut
    | UnexpectedResponse
    | PduRejected
    | Unbound
    | ConnectionLost
)
