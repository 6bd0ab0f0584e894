"""Shared material for the SMPP session tests: a ``SessionPair`` (an ESME and an SMSC ``Session``
joined by a fake link, after h11's ``ConnectionPair``), ``bound_pair`` to start from a bound link,
and a small PDU factory for valid and hand-broken wire input (after h2's ``FrameFactory``).

Nothing here asserts protocol behaviour except ``bound_pair``'s handshake sanity checks: the tests
say what they expect.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import NamedTuple

from gateway.smpp import codec
from gateway.smpp.events import BindMode, BindRequested, Bound, Event
from gateway.smpp.pdu import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from gateway.smpp.session import Role, Session, State

ESME_ID = "gateway01"
SMSC_ID = "SMSC-A"
PASSWORD = "s3cr3t"

BOUND_STATE = {
    BindMode.TRANSMITTER: State.BOUND_TX,
    BindMode.RECEIVER: State.BOUND_RX,
    BindMode.TRANSCEIVER: State.BOUND_TRX,
}
BIND_CLASS = {
    BindMode.TRANSMITTER: BindTransmitter,
    BindMode.RECEIVER: BindReceiver,
    BindMode.TRANSCEIVER: BindTransceiver,
}
BIND_RESP_CLASS = {
    BindMode.TRANSMITTER: BindTransmitterResp,
    BindMode.RECEIVER: BindReceiverResp,
    BindMode.TRANSCEIVER: BindTransceiverResp,
}


class Events(NamedTuple):
    """What each side of a pair received during one exchange or pump."""

    esme: list[Event]
    smsc: list[Event]


class SessionPair:
    """An ESME ``Session`` and an SMSC ``Session`` over a fake, loss-free link.

    ``now`` is the pair's clock: ``exchange``/``pump``/``tick`` use it unless told otherwise, and
    ``advance`` moves it forward. Bytes move only when asked, so a test controls interleavings.
    """

    def __init__(
        self,
        *,
        window: int = 10,
        response_timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        now: float = 0.0,
        **kwargs: object,
    ) -> None:
        self.now = now
        self.esme = Session(
            Role.ESME,
            window=window,
            response_timeout=response_timeout,
            enquire_link_interval=enquire_link_interval,
            **kwargs,  # type: ignore[arg-type]
        )
        self.smsc = Session(
            Role.SMSC,
            window=window,
            response_timeout=response_timeout,
            enquire_link_interval=enquire_link_interval,
            **kwargs,  # type: ignore[arg-type]
        )

    def peer(self, session: Session) -> Session:
        return self.smsc if session is self.esme else self.esme

    def advance(self, dt: float) -> float:
        self.now += dt
        return self.now

    def exchange(self, now: float | None = None) -> Events:
        """One hop each way: take what *both* sides have queued now, then deliver it (so a
        response produced by this delivery waits for the next exchange)."""
        now = self.now if now is None else now
        to_smsc = self.esme.data_to_send()
        to_esme = self.smsc.data_to_send()
        smsc_events = self.smsc.receive_data(to_smsc, now=now) if to_smsc else []
        esme_events = self.esme.receive_data(to_esme, now=now) if to_esme else []
        return Events(esme_events, smsc_events)

    def pump(self, now: float | None = None, *, max_rounds: int = 50) -> Events:
        """Exchange until neither side has anything queued; return all events, in order."""
        out = Events([], [])
        for _ in range(max_rounds):
            step = self.exchange(now)
            out.esme.extend(step.esme)
            out.smsc.extend(step.smsc)
            if not self._queued():
                return out
        raise AssertionError(f"the pair still talks after {max_rounds} rounds")

    def _queued(self) -> bool:
        # data_to_send() drains, so peek at the private queue rather than lose bytes.
        return bool(self.esme._out or self.smsc._out)

    def tick(self, now: float | None = None) -> Events:
        now = self.now if now is None else now
        return Events(self.esme.tick(now), self.smsc.tick(now))

    def bind(
        self,
        mode: BindMode = BindMode.TRANSCEIVER,
        *,
        interface_version: int | None = 0x34,
    ) -> tuple[Bound, Bound]:
        """Run the bind handshake (ESME asks, SMSC accepts); return (ESME's, SMSC's) Bound."""
        self.esme.bind(mode, system_id=ESME_ID, password=PASSWORD, now=self.now)
        requested = self.exchange().smsc
        assert len(requested) == 1 and isinstance(requested[0], BindRequested), requested
        smsc_bound = self.smsc.accept_bind(system_id=SMSC_ID, interface_version=interface_version)
        esme_events = self.exchange().esme
        assert len(esme_events) == 1 and isinstance(esme_events[0], Bound), esme_events
        return esme_events[0], smsc_bound


def bound_pair(mode: BindMode = BindMode.TRANSCEIVER, **kwargs: object) -> SessionPair:
    """A SessionPair already bound in ``mode`` (the bind used ESME sequence number 1)."""
    pair = SessionPair(**kwargs)  # type: ignore[arg-type]
    pair.bind(mode)
    assert pair.esme.state is BOUND_STATE[mode] and pair.smsc.state is BOUND_STATE[mode]
    assert pair.esme.data_to_send() == b"" and pair.smsc.data_to_send() == b""
    return pair


# -- PDU factory -------------------------------------------------------------------------------


def submit(n: int = 0, **kw: object) -> SubmitSm:
    """A valid submit_sm; ``n`` makes the text (and so the PDU) distinguishable."""
    fields: dict[str, object] = dict(
        source_addr="MyShop",
        source_addr_ton=5,
        destination_addr="33612345678",
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1,
        short_message=f"message {n}".encode(),
    )
    fields.update(kw)
    return SubmitSm(**fields)  # type: ignore[arg-type]


def deliver(n: int = 0, **kw: object) -> DeliverSm:
    """A valid deliver_sm (an MO message)."""
    fields: dict[str, object] = dict(
        source_addr="33612345678",
        source_addr_ton=1,
        destination_addr="36184",
        short_message=f"STOP {n}".encode(),
    )
    fields.update(kw)
    return DeliverSm(**fields)  # type: ignore[arg-type]


def data_sm(n: int = 0) -> DataSm:
    return DataSm(
        source_addr="33612345678", destination_addr="36184", message_payload=f"d{n}".encode()
    )


#: One valid instance of every PDU class, sequence number 0 (set it with ``wire``).
SAMPLES: dict[int, Pdu] = {
    p.command_id: p
    for p in (
        GenericNack(command_status=0x03),
        BindTransmitter(system_id=ESME_ID, password=PASSWORD),
        BindReceiver(system_id=ESME_ID, password=PASSWORD),
        BindTransceiver(system_id=ESME_ID, password=PASSWORD),
        BindTransmitterResp(system_id=SMSC_ID, sc_interface_version=0x34),
        BindReceiverResp(system_id=SMSC_ID, sc_interface_version=0x34),
        BindTransceiverResp(system_id=SMSC_ID, sc_interface_version=0x34),
        Outbind(system_id=SMSC_ID, password=PASSWORD),
        submit(),
        SubmitSmResp(message_id="2A0F3C7B"),
        deliver(),
        DeliverSmResp(),
        data_sm(),
        DataSmResp(message_id="m-1"),
        EnquireLink(),
        EnquireLinkResp(),
        Unbind(),
        UnbindResp(),
    )
}


def wire(pdu: Pdu, seq: int | None = None) -> bytes:
    """``pdu`` encoded, with sequence number ``seq`` when given."""
    return codec.encode(pdu, sequence_number=seq)


def header(length: int, command_id: int, status: int = 0, seq: int = 0) -> bytes:
    """A raw 16-octet header, with any command_length (for broken frames)."""
    return struct.pack(">IIII", length, command_id, status, seq)


def raw_pdu(command_id: int, seq: int, body: bytes = b"", status: int = 0) -> bytes:
    """A frame with a correct command_length around any command id and body."""
    return header(16 + len(body), command_id, status, seq) + body


def decode_all(data: bytes) -> list[Pdu]:
    """Every PDU in ``data`` (the output of ``data_to_send``); fails on a partial trailing frame."""
    framer = codec.Framer()
    pdus = [codec.decode(frame) for frame in framer.feed(data)]
    assert framer.buffered == 0, f"{framer.buffered} octets of a partial PDU left over"
    return pdus


def sent(session: Session) -> list[Pdu]:
    """Drain ``session``'s output and decode it."""
    return decode_all(session.data_to_send())


def command_ids(pdus: Iterable[Pdu]) -> list[int]:
    return [p.command_id for p in pdus]

