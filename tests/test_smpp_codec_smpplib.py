"""Cross-check the SMPP codec against smpplib 2.2.4, an independent implementation: what we
encode, smpplib parses to the same values; what smpplib generates, we decode to the same values.

smpplib deviations met here (reference section 14 lists the text-handling ones), and how the
tests work around them:

- ``make_pdu`` for a request calls ``client.next_sequence()``: the default client has none, so we
  pass a stub; a ``sequence=`` keyword is ignored, so ``pdu.sequence`` is set afterwards.
- ``parse_pdu`` raises UnknownCommandError on an unknown TLV tag unless
  ``allow_unknown_opt_params=True`` (3.4 says skip it); it then logs a warning per tag.
- It parses C-octet strings to ``bytes`` (not str), leaves the fields of an absent body as None,
  and parses TLV integers by their declared size rather than the TLV's length field.
- Error responses (submit_sm_resp, bind_*_resp, deliver_sm_resp) are generated with a lone NUL
  body (command_length 17) where 3.4 sends none; we accept both.
- bind_*: the ``interface_version`` keyword is overwritten with 0x34.
- An empty C-string TLV (receipted_message_id="") and an empty octet-string TLV
  (message_payload=b"") are silently left out of the PDU.
- data_sm_resp declares delivery_failure_reason and network_error_code as C-strings (3.4: a
  1-octet integer and 3 octets); generating one with an int raises TypeError, so data_sm_resp
  is only cross-checked with message_id.
- submit_sm_resp and deliver_sm_resp declare no TLV: parsing one it knows by name (such as
  additional_status_info_text) raises KeyError, so those are cross-checked without TLVs.
- deliver_sm declares more_messages_to_send, not a 3.4 deliver_sm parameter (we keep it raw).
- Raw vendor TLVs cannot be generated; it knows several tags below 0x1400 (0x1201-0x1383) that
  it parses by its own declared sizes, so our raw TLVs here use the vendor range 0x1400-0x3FFF.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
import smpplib.smpp
from hypothesis import given
from hypothesis import strategies as st

from gateway.smpp import codec
from gateway.smpp.pdu import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Kind,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from tests.helpers_smpp import FULL, RECEIPT_TEXT, UDH_PART, pdus


class _Client:
    """What smpplib's PDUs need from a client: a sequence number source."""

    sequence = 0

    def next_sequence(self) -> int:
        return 1


@pytest.fixture(autouse=True)
def _quiet_smpplib(caplog):
    caplog.set_level(logging.ERROR, logger="smpplib")


def smpplib_make(cls, seq: int, **kwargs):
    """An smpplib PDU of our class ``cls``'s command, with ``pdu.sequence`` set afterwards."""
    pdu = smpplib.smpp.make_pdu(CommandId(cls.command_id).name.lower(), client=_Client(), **kwargs)
    pdu.sequence = seq
    return pdu


def smpplib_parse(wire: bytes):
    return smpplib.smpp.parse_pdu(wire, client=_Client(), allow_unknown_opt_params=True)


def _string_fields(cls) -> set[str]:
    return {f.name for f in cls.BODY if f.kind in (Kind.C_STRING, Kind.TIME)} | {
        t.name for t in cls.TLVS if t.kind is Kind.C_STRING
    }


def values_seen_by_smpplib(parsed, cls) -> dict:
    """smpplib's view of the fields our class names, with bytes of C-strings made str."""
    strings = _string_fields(cls)
    mandatory = {f.name for f in cls.BODY}
    out = {}
    for f in dataclasses.fields(cls)[2:]:
        if f.name == "tlvs":
            continue
        value = getattr(parsed, f.name, None)
        if value is not None and f.name in strings:
            value = value.decode("ascii")
        if value is None and f.name in mandatory:
            value = f.default  # an absent body (16-octet error response)
        out[f.name] = value
    return out


def our_values(pdu) -> dict:
    return {f.name: getattr(pdu, f.name) for f in dataclasses.fields(pdu)[2:] if f.name != "tlvs"}


def assert_smpplib_reads(pdu) -> None:
    wire = codec.encode(pdu)
    parsed = smpplib_parse(wire)
    assert parsed.command == CommandId(pdu.command_id).name.lower()
    assert (parsed.status, parsed.sequence) == (pdu.command_status, pdu.sequence_number)
    assert values_seen_by_smpplib(parsed, type(pdu)) == our_values(pdu)


# -- ours -> smpplib -------------------------------------------------------------------------

OURS = {
    "bind_transmitter": FULL[BindTransmitter],
    "bind_receiver": FULL[BindReceiver],
    "bind_transceiver": FULL[BindTransceiver],
    "bind_transmitter_resp": FULL[BindTransmitterResp],
    "bind_receiver_resp (3.3, no TLV)": BindReceiverResp(sequence_number=4, system_id="old"),
    "bind_transceiver_resp error": BindTransceiverResp(sequence_number=4, command_status=0x0E),
    "submit_sm without TLVs": SubmitSm(
        sequence_number=10,
        source_addr_ton=5,
        source_addr="MyShop",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="33612345678",
        registered_delivery=1,
        short_message=b"Soldes -50% ce week-end ! STOP au 36184",
    ),
    "submit_sm with UDH and TLVs": FULL[SubmitSm],
    "submit_sm with message_payload": dataclasses.replace(
        FULL[SubmitSm], short_message=b"", message_payload=b"long text " * 100
    ),
    "submit_sm_resp": SubmitSmResp(sequence_number=10, message_id="2A0F3C7B"),
    "submit_sm_resp error": SubmitSmResp(sequence_number=10, command_status=0x58),
    "deliver_sm receipt": FULL[DeliverSm],
    "deliver_sm MO": DeliverSm(
        sequence_number=11,
        source_addr="33612345678",
        destination_addr="36184",
        short_message=b"STOP",
    ),
    "deliver_sm_resp": DeliverSmResp(sequence_number=11),
    "deliver_sm_resp error": DeliverSmResp(sequence_number=11, command_status=0x14),
    "data_sm": FULL[DataSm],
    "data_sm_resp": DataSmResp(sequence_number=12, message_id="d-1"),
    "enquire_link": EnquireLink(sequence_number=13),
    "enquire_link_resp": EnquireLinkResp(sequence_number=13),
    "unbind": Unbind(sequence_number=14),
    "unbind_resp": UnbindResp(sequence_number=14),
    "generic_nack": GenericNack(sequence_number=15, command_status=0x03),
}


@pytest.mark.parametrize("pdu", OURS.values(), ids=OURS.keys())
def test_smpplib_parses_what_we_encode(pdu):
    assert_smpplib_reads(pdu)


# -- smpplib -> ours -------------------------------------------------------------------------

THEIRS = {
    "bind_transmitter": (
        BindTransmitter,
        dict(system_id="gw", password="pw", system_type="VMA", addr_ton=1, addr_npi=1,
             address_range="^33"),
    ),
    "bind_receiver": (BindReceiver, dict(system_id="gw", password="pw")),
    "bind_transceiver": (BindTransceiver, dict(system_id="gw", password="pw")),
    "bind_transmitter_resp": (
        BindTransmitterResp, dict(system_id="SMSC", sc_interface_version=0x34)
    ),
    "bind_receiver_resp": (BindReceiverResp, dict(system_id="SMSC")),
    "bind_transceiver_resp error": (BindTransceiverResp, dict(command_status=0x0D)),
    "submit_sm without TLVs": (
        SubmitSm,
        dict(source_addr_ton=5, source_addr="MyShop", dest_addr_ton=1, dest_addr_npi=1,
             destination_addr="33612345678", esm_class=0x40, registered_delivery=1,
             short_message=UDH_PART),
    ),
    "submit_sm with TLVs": (
        SubmitSm,
        dict(source_addr="MyShop", destination_addr="33612345678", service_type="CMT",
             schedule_delivery_time="250601083000004+", validity_period="000002000000000R",
             user_message_reference=7, source_port=1, destination_port=2, sar_msg_ref_num=42,
             sar_total_segments=3, sar_segment_seqnum=1, more_messages_to_send=1,
             language_indicator=0, message_payload=b"x" * 400),
    ),
    "submit_sm_resp": (SubmitSmResp, dict(message_id="2A0F3C7B")),
    "submit_sm_resp error (17 octets)": (SubmitSmResp, dict(command_status=0x45)),
    "deliver_sm receipt": (
        DeliverSm,
        dict(source_addr_ton=1, source_addr_npi=1, source_addr="33612345678",
             destination_addr="MyShop", esm_class=0x04, short_message=RECEIPT_TEXT,
             receipted_message_id="0705641595", message_state=2,
             network_error_code=b"\x03\x00\x00"),
    ),
    "deliver_sm_resp": (DeliverSmResp, dict()),
    "data_sm": (
        DataSm,
        dict(source_addr="a", destination_addr="b", message_payload=b"\x00h\x00i",
             data_coding=8, message_state=6, receipted_message_id="r1"),
    ),
    "data_sm_resp": (DataSmResp, dict(message_id="d-1")),
    "enquire_link": (EnquireLink, dict()),
    "enquire_link_resp": (EnquireLinkResp, dict()),
    "unbind": (Unbind, dict()),
    "unbind_resp": (UnbindResp, dict()),
    "generic_nack": (GenericNack, dict(command_status=0x03)),
}


def smpplib_kwargs(values: dict) -> dict:
    kwargs = {k: v for k, v in values.items() if k != "command_status" and v is not None}
    if "command_status" in values:
        kwargs["status"] = values["command_status"]
    return kwargs


@pytest.mark.parametrize(("cls", "values"), THEIRS.values(), ids=THEIRS.keys())
def test_we_decode_what_smpplib_generates(cls, values):
    wire = smpplib_make(cls, 0x01020304, **smpplib_kwargs(values)).generate()
    assert codec.decode(wire) == cls(sequence_number=0x01020304, **values)


def test_smpplib_sends_error_responses_with_a_nul_body():
    wire = smpplib_make(SubmitSmResp, 1, status=0x58).generate()
    assert len(wire) == 17
    assert codec.decode(wire) == SubmitSmResp(sequence_number=1, command_status=0x58)


def test_smpplib_vendor_tlv_is_kept_raw():
    pdu = dataclasses.replace(FULL[DeliverSm], tlvs=((0x1401, b"abc"),))
    assert_smpplib_reads(pdu)  # smpplib skips it; we keep it
    assert codec.decode(codec.encode(pdu)).tlvs == ((0x1401, b"abc"),)


# -- property: both directions on generated PDUs ---------------------------------------------

CROSS_CLASSES = [
    SubmitSm,
    DeliverSm,
    SubmitSmResp,
    DeliverSmResp,
    BindTransmitter,
    BindTransceiverResp,
    DataSm,
]


def _smpplib_safe(pdu):
    """Our PDU trimmed to what smpplib round-trips (see the module docstring)."""
    changes = {}
    cls = type(pdu)
    if "tlvs" in {f.name for f in dataclasses.fields(cls)}:
        changes["tlvs"] = tuple((0x1400 + tag % 0x2C00, value) for tag, value in pdu.tlvs)
    for t in cls.TLVS:
        value = getattr(pdu, t.name)
        if isinstance(value, bytes | str) and not value:
            changes[t.name] = None  # smpplib leaves empty TLVs out
    if cls in (SubmitSmResp, DeliverSmResp):
        # smpplib's submit_sm_resp / deliver_sm_resp declare no TLV at all: parsing
        # additional_status_info_text fails with KeyError.
        changes["additional_status_info_text"] = None
    if cls is BindTransmitter:
        changes["interface_version"] = 0x34
    if cls in (SubmitSmResp, DeliverSmResp, BindTransceiverResp):
        changes["command_status"] = 0  # error forms: covered by the example tests above
    return dataclasses.replace(pdu, **changes)


cross_pdus = st.one_of([pdus(cls) for cls in CROSS_CLASSES]).map(_smpplib_safe)


@given(cross_pdus)
def test_both_ways_on_generated_pdus(pdu):
    assert_smpplib_reads(pdu)
    # And the other way: smpplib builds the same PDU from the same values; we decode it.
    values = our_values(pdu)
    values["command_status"] = pdu.command_status
    wire = smpplib_make(type(pdu), pdu.sequence_number, **smpplib_kwargs(values)).generate()
    expected = dataclasses.replace(pdu, tlvs=()) if hasattr(pdu, "tlvs") else pdu
    assert codec.decode(wire) == expected
