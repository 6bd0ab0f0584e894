"""SMPP 3.4 PDUs as plain values: the wire codes as IntEnums, and one frozen, slotted, keyword-only
dataclass per PDU (reference sections 7-11).

Fields use the specification's names and hold plain values: ``int`` for integers (a status or
message_state a peer sends us need not be one we have a name for; the enums are for naming),
``str`` for C-octet strings (ASCII, without the NUL), ``bytes`` for octet strings. Optional
parameters (TLVs) we know are named fields defaulting to None (absent); any other TLV is kept raw
in ``tlvs`` as ``(tag, value)`` pairs, in the order received, so decoding loses nothing.

Building a PDU checks nothing: ``codec.encode`` validates every field (and names the offending
one), and ``codec.decode`` only builds values it has checked. This keeps the decode path free of a
second validation pass.

Each class describes its wire layout in two ClassVars that ``codec`` compiles into its encoders
and decoders: ``BODY`` (mandatory fields, in wire order) and ``TLVS`` (the named optional
parameters, in the order we send them). Dataclass field order is wire order.

Don't subclass the PDU classes: the codec and the session dispatch on the exact type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import ClassVar, NamedTuple

__all__ = [
    "PDU_CLASSES",
    "RESPONSE_BIT",
    "RETRYABLE",
    "BindReceiver",
    "BindReceiverResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "BodyField",
    "CommandId",
    "CommandStatus",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "Kind",
    "MessageState",
    "Outbind",
    "Pdu",
    "SubmitSm",
    "SubmitSmResp",
    "Tlv",
    "TlvField",
    "Unbind",
    "UnbindResp",
    "is_response",
    "is_retryable",
    "response_id",
]


# --------------------------------------------------------------------------------------------
# Wire codes
# --------------------------------------------------------------------------------------------

#: Set in the command_id of every response: response id = request id | RESPONSE_BIT.
RESPONSE_BIT = 0x80000000


class CommandId(IntEnum):
    """command_id values (reference section 7)."""

    #: Negative acknowledgement: the PDU could not be parsed or its command is not supported.
    GENERIC_NACK = 0x80000000
    #: Bind as a receiver: the SMSC may deliver_sm to us.
    BIND_RECEIVER = 0x00000001
    #: Answer to bind_receiver; carries the SMSC's system_id.
    BIND_RECEIVER_RESP = 0x80000001
    #: Bind as a transmitter: we may submit_sm.
    BIND_TRANSMITTER = 0x00000002
    #: Answer to bind_transmitter.
    BIND_TRANSMITTER_RESP = 0x80000002
    #: Ask the state of a submitted message (not supported by this codec).
    QUERY_SM = 0x00000003
    #: Answer to query_sm.
    QUERY_SM_RESP = 0x80000003
    #: Submit one short message.
    SUBMIT_SM = 0x00000004
    #: Answer to submit_sm; carries the SMSC's message_id.
    SUBMIT_SM_RESP = 0x80000004
    #: A message to us: an MO message or a delivery receipt.
    DELIVER_SM = 0x00000005
    #: Answer to deliver_sm (message_id unused, a single NUL).
    DELIVER_SM_RESP = 0x80000005
    #: End the session (either side).
    UNBIND = 0x00000006
    #: Answer to unbind.
    UNBIND_RESP = 0x80000006
    #: Replace a submitted message (not supported by this codec).
    REPLACE_SM = 0x00000007
    #: Answer to replace_sm.
    REPLACE_SM_RESP = 0x80000007
    #: Cancel a submitted message (not supported by this codec).
    CANCEL_SM = 0x00000008
    #: Answer to cancel_sm.
    CANCEL_SM_RESP = 0x80000008
    #: Bind as a transceiver: submit and deliver over one connection.
    BIND_TRANSCEIVER = 0x00000009
    #: Answer to bind_transceiver.
    BIND_TRANSCEIVER_RESP = 0x80000009
    #: The SMSC asks us to bind as a receiver; it has no response.
    OUTBIND = 0x0000000B
    #: Keep-alive probe (either side, any bound state).
    ENQUIRE_LINK = 0x00000015
    #: Answer to enquire_link.
    ENQUIRE_LINK_RESP = 0x80000015
    #: Submit to several destinations (not supported by this codec).
    SUBMIT_MULTI = 0x00000021
    #: Answer to submit_multi.
    SUBMIT_MULTI_RESP = 0x80000021
    #: The SMSC tells us a subscriber became reachable (not supported); it has no response.
    ALERT_NOTIFICATION = 0x00000102
    #: Message transfer with every parameter in TLVs (either direction; receipts from some SMSCs).
    DATA_SM = 0x00000103
    #: Answer to data_sm.
    DATA_SM_RESP = 0x80000103
    #: [5.0] Broadcast a message to an area (not supported).
    BROADCAST_SM = 0x00000111
    #: [5.0] Answer to broadcast_sm.
    BROADCAST_SM_RESP = 0x80000111
    #: [5.0] Query a broadcast (not supported).
    QUERY_BROADCAST_SM = 0x00000112
    #: [5.0] Answer to query_broadcast_sm.
    QUERY_BROADCAST_SM_RESP = 0x80000112
    #: [5.0] Cancel a broadcast (not supported).
    CANCEL_BROADCAST_SM = 0x00000113
    #: [5.0] Answer to cancel_broadcast_sm.
    CANCEL_BROADCAST_SM_RESP = 0x80000113


_NO_RESPONSE = frozenset({CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION})


def is_response(command_id: int) -> bool:
    """True for a response command_id (generic_nack included)."""
    return bool(command_id & RESPONSE_BIT)


def response_id(command_id: int) -> CommandId:
    """The command_id of the response to request ``command_id``.

    Raises ValueError for a response, for outbind and alert_notification (they have none) and
    for an unknown id.
    """
    if command_id & RESPONSE_BIT or command_id in _NO_RESPONSE:
        raise ValueError(f"command_id 0x{command_id:08X} has no response")
    return CommandId(command_id | RESPONSE_BIT)


class CommandStatus(IntEnum):
    """command_status values (reference section 11). Peers may send codes missing here (e.g. the
    vendor range 0x400-0x4FF): PDUs hold the plain int, this enum only names the known ones."""

    #: No error.
    ESME_ROK = 0x00
    #: Message length is invalid (our splitter or encoder is wrong).
    ESME_RINVMSGLEN = 0x01
    #: Command length is invalid.
    ESME_RINVCMDLEN = 0x02
    #: Invalid (unknown or unsupported) command id.
    ESME_RINVCMDID = 0x03
    #: Incorrect bind status for the given command.
    ESME_RINVBNDSTS = 0x04
    #: The ESME is already bound.
    ESME_RALYBND = 0x05
    #: Invalid priority_flag.
    ESME_RINVPRTFLG = 0x06
    #: Invalid registered_delivery.
    ESME_RINVREGDLVFLG = 0x07
    #: System error at the SMSC: retry with backoff, bounded.
    ESME_RSYSERR = 0x08
    #: Invalid source address (sender ID refused).
    ESME_RINVSRCADR = 0x0A
    #: Invalid destination address.
    ESME_RINVDSTADR = 0x0B
    #: Invalid message_id.
    ESME_RINVMSGID = 0x0C
    #: Bind failed (can mean "too many binds"): back off long.
    ESME_RBINDFAIL = 0x0D
    #: Invalid password: stop retrying the bind.
    ESME_RINVPASWD = 0x0E
    #: Invalid system_id: stop retrying the bind.
    ESME_RINVSYSID = 0x0F
    #: cancel_sm failed.
    ESME_RCANCELFAIL = 0x11
    #: replace_sm failed.
    ESME_RREPLACEFAIL = 0x13
    #: Message queue full: retry later.
    ESME_RMSGQFUL = 0x14
    #: Invalid service_type.
    ESME_RINVSERTYP = 0x15
    #: Invalid number of destinations (submit_multi).
    ESME_RINVNUMDESTS = 0x33
    #: Invalid distribution list name (submit_multi).
    ESME_RINVDLNAME = 0x34
    #: Invalid destination flag (submit_multi).
    ESME_RINVDESTFLAG = 0x40
    #: Invalid submit-with-replace request (replace_if_present_flag set).
    ESME_RINVSUBREP = 0x42
    #: Invalid esm_class.
    ESME_RINVESMCLASS = 0x43
    #: Cannot submit to a distribution list.
    ESME_RCNTSUBDL = 0x44
    #: submit_sm or submit_multi failed (generic): retry bounded, map per operator.
    ESME_RSUBMITFAIL = 0x45
    #: Invalid source address TON.
    ESME_RINVSRCTON = 0x48
    #: Invalid source address NPI.
    ESME_RINVSRCNPI = 0x49
    #: Invalid destination address TON.
    ESME_RINVDSTTON = 0x50
    #: Invalid destination address NPI.
    ESME_RINVDSTNPI = 0x51
    #: Invalid system_type.
    ESME_RINVSYSTYP = 0x53
    #: Invalid replace_if_present_flag.
    ESME_RINVREPFLAG = 0x54
    #: Invalid number of messages.
    ESME_RINVNUMMSGS = 0x55
    #: Throttling error: the rate was exceeded; slow down and retry.
    ESME_RTHROTTLED = 0x58
    #: Invalid schedule_delivery_time.
    ESME_RINVSCHED = 0x61
    #: Invalid validity_period (expiry time).
    ESME_RINVEXPIRY = 0x62
    #: Predefined (canned) message id invalid or not found.
    ESME_RINVDFTMSGID = 0x63
    #: ESME receiver temporary application error: retry.
    ESME_RX_T_APPN = 0x64
    #: ESME receiver permanent application error.
    ESME_RX_P_APPN = 0x65
    #: ESME receiver reject message error.
    ESME_RX_R_APPN = 0x66
    #: query_sm failed.
    ESME_RQUERYFAIL = 0x67
    #: Error in the optional part of the PDU body (the TLV stream).
    ESME_RINVOPTPARSTREAM = 0xC0
    #: Optional parameter not allowed.
    ESME_ROPTPARNOTALLWD = 0xC1
    #: Invalid parameter length.
    ESME_RINVPARLEN = 0xC2
    #: Expected optional parameter missing.
    ESME_RMISSINGOPTPARAM = 0xC3
    #: Invalid optional parameter value.
    ESME_RINVOPTPARAMVAL = 0xC4
    #: Delivery failure (data_sm_resp; see delivery_failure_reason).
    ESME_RDELIVERYFAILURE = 0xFE
    #: Unknown error: retry bounded.
    ESME_RUNKNOWNERR = 0xFF


#: Statuses worth retrying (with backoff, bounded): the "retry" rows of reference section 11.
RETRYABLE: frozenset[int] = frozenset({0x08, 0x14, 0x45, 0x58, 0x64, 0xFF})


def is_retryable(status: int) -> bool:
    """True when a request refused with ``status`` may be sent again later."""
    return status in RETRYABLE


class Tlv(IntEnum):
    """Optional parameter tags (reference section 9). Tags 0x1400-0x3FFF are vendor specific."""

    #: additional_status_info_text: C-string (max 256), free-text reason in responses.
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    #: receipted_message_id: C-string (max 65), id of the message a receipt is about.
    RECEIPTED_MESSAGE_ID = 0x001E
    #: user_message_reference: 2-octet integer, our own reference.
    USER_MESSAGE_REFERENCE = 0x0204
    #: source_port: 2-octet integer, application port.
    SOURCE_PORT = 0x020A
    #: destination_port: 2-octet integer, application port.
    DESTINATION_PORT = 0x020B
    #: sar_msg_ref_num: 2-octet integer, concatenation reference.
    SAR_MSG_REF_NUM = 0x020C
    #: language_indicator: 1-octet integer.
    LANGUAGE_INDICATOR = 0x020D
    #: sar_total_segments: 1-octet integer, 1-255.
    SAR_TOTAL_SEGMENTS = 0x020E
    #: sar_segment_seqnum: 1-octet integer, 1-255.
    SAR_SEGMENT_SEQNUM = 0x020F
    #: sc_interface_version: 1-octet integer in bind responses; absent = SMSC of 3.3 or older.
    SC_INTERFACE_VERSION = 0x0210
    #: network_error_code: 3 octets, network type (1) + error code (2).
    NETWORK_ERROR_CODE = 0x0423
    #: message_payload: octet string up to 64 K, the payload when sm_length is 0.
    MESSAGE_PAYLOAD = 0x0424
    #: delivery_failure_reason: 1-octet integer (data_sm_resp).
    DELIVERY_FAILURE_REASON = 0x0425
    #: more_messages_to_send: 1-octet integer.
    MORE_MESSAGES_TO_SEND = 0x0426
    #: message_state: 1-octet integer, see MessageState.
    MESSAGE_STATE = 0x0427
    #: [5.0] congestion_state: 1-octet integer, SMSC load 0-100.
    CONGESTION_STATE = 0x0428


class MessageState(IntEnum):
    """message_state values (reference section 10). Member names are the ``stat:`` words of
    receipt texts, so ``MessageState[stat]`` maps a receipt's text to its state."""

    #: [5.0] Scheduled for later delivery.
    SCHEDULED = 0
    #: In transit (intermediate notifications); not final.
    ENROUTE = 1
    #: Delivered.
    DELIVRD = 2
    #: Validity period passed.
    EXPIRED = 3
    #: Cancelled or deleted.
    DELETED = 4
    #: Undeliverable.
    UNDELIV = 5
    #: Accepted by an operator on the subscriber's behalf.
    ACCEPTD = 6
    #: State unknown.
    UNKNOWN = 7
    #: Rejected.
    REJECTD = 8
    #: [5.0] Skipped.
    SKIPPED = 9


# --------------------------------------------------------------------------------------------
# Layout descriptions (compiled by gateway.smpp.codec)
# --------------------------------------------------------------------------------------------


class Kind(Enum):
    """How a field is laid out on the wire."""

    #: 1-octet unsigned integer.
    INT8 = "int8"
    #: 2-octet big-endian unsigned integer (TLV values).
    INT16 = "int16"
    #: C-octet string: ASCII + NUL; its max length counts the NUL.
    C_STRING = "c_string"
    #: Time string: a lone NUL, or 16 characters (``YYMMDDhhmmsstnnp``) + NUL.
    TIME = "time"
    #: sm_length (1 octet) then that many octets of short_message.
    SHORT_MESSAGE = "short_message"
    #: Octet string (TLV value, taken whole).
    OCTETS = "octets"


S = CommandStatus


class BodyField(NamedTuple):
    """One mandatory body field."""

    name: str
    kind: Kind
    #: C_STRING: the most octets we send, NUL included (the spec's "max").
    max_len: int = 0
    #: C_STRING: the most octets we accept, NUL included, when practice is more liberal (0: same).
    decode_max_len: int = 0
    #: The status a bad value is answered with (and carried by PduEncodeError).
    status: int = S.ESME_RINVCMDLEN


class TlvField(NamedTuple):
    """One optional parameter with a named field."""

    name: str
    tag: Tlv
    kind: Kind
    #: C_STRING: max octets with the NUL; OCTETS: exact size, or 0 for anything up to 65535.
    size: int = 0


_SERVICE_TYPE = BodyField("service_type", Kind.C_STRING, 6, status=S.ESME_RINVSERTYP)
# Addresses: we send at most 21 octets; some 3.4 texts allow 65 (data_sm), so accept that much.
_SOURCE_ADDR = BodyField("source_addr", Kind.C_STRING, 21, 65, S.ESME_RINVSRCADR)
_DESTINATION_ADDR = BodyField("destination_addr", Kind.C_STRING, 21, 65, S.ESME_RINVDSTADR)
_MESSAGE_ID = BodyField("message_id", Kind.C_STRING, 65, status=S.ESME_RINVMSGID)
_SYSTEM_ID = BodyField("system_id", Kind.C_STRING, 16, status=S.ESME_RINVSYSID)
_PASSWORD = BodyField("password", Kind.C_STRING, 9, status=S.ESME_RINVPASWD)


def _int8(name: str, status: int = S.ESME_RINVCMDLEN) -> BodyField:
    return BodyField(name, Kind.INT8, status=status)


_TLV_USER_MESSAGE_REFERENCE = TlvField(
    "user_message_reference", Tlv.USER_MESSAGE_REFERENCE, Kind.INT16
)
_TLV_SOURCE_PORT = TlvField("source_port", Tlv.SOURCE_PORT, Kind.INT16)
_TLV_DESTINATION_PORT = TlvField("destination_port", Tlv.DESTINATION_PORT, Kind.INT16)
_TLV_SAR_MSG_REF_NUM = TlvField("sar_msg_ref_num", Tlv.SAR_MSG_REF_NUM, Kind.INT16)
_TLV_SAR_TOTAL_SEGMENTS = TlvField("sar_total_segments", Tlv.SAR_TOTAL_SEGMENTS, Kind.INT8)
_TLV_SAR_SEGMENT_SEQNUM = TlvField("sar_segment_seqnum", Tlv.SAR_SEGMENT_SEQNUM, Kind.INT8)
_TLV_MORE_MESSAGES_TO_SEND = TlvField(
    "more_messages_to_send", Tlv.MORE_MESSAGES_TO_SEND, Kind.INT8
)
_TLV_MESSAGE_PAYLOAD = TlvField("message_payload", Tlv.MESSAGE_PAYLOAD, Kind.OCTETS)
_TLV_LANGUAGE_INDICATOR = TlvField("language_indicator", Tlv.LANGUAGE_INDICATOR, Kind.INT8)
_TLV_NETWORK_ERROR_CODE = TlvField(
    "network_error_code", Tlv.NETWORK_ERROR_CODE, Kind.OCTETS, 3
)
_TLV_MESSAGE_STATE = TlvField("message_state", Tlv.MESSAGE_STATE, Kind.INT8)
_TLV_RECEIPTED_MESSAGE_ID = TlvField(
    "receipted_message_id", Tlv.RECEIPTED_MESSAGE_ID, Kind.C_STRING, 65
)
_TLV_ADDITIONAL_STATUS_INFO_TEXT = TlvField(
    "additional_status_info_text", Tlv.ADDITIONAL_STATUS_INFO_TEXT, Kind.C_STRING, 256
)
_TLV_SC_INTERFACE_VERSION = TlvField("sc_interface_version", Tlv.SC_INTERFACE_VERSION, Kind.INT8)
_TLV_DELIVERY_FAILURE_REASON = TlvField(
    "delivery_failure_reason", Tlv.DELIVERY_FAILURE_REASON, Kind.INT8
)

#: The raw-TLV field type: (tag, value) pairs.
RawTlvs = tuple[tuple[int, bytes], ...]


# --------------------------------------------------------------------------------------------
# PDUs. Private bases share fields only; nothing dispatches on them.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Header:
    #: Echoed unchanged in the response; ``codec.encode(pdu, sequence_number=n)`` overrides it.
    sequence_number: int = 0
    #: 0 in requests; the result in responses (a plain int: peers send codes we cannot name).
    command_status: int = 0

    command_id: ClassVar[CommandId]
    BODY: ClassVar[tuple[BodyField, ...]] = ()
    TLVS: ClassVar[tuple[TlvField, ...]] = ()


# -- header only ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericNack(_Header):
    """The peer's PDU could not be parsed, or its command is not supported (header only)."""

    command_id: ClassVar[CommandId] = CommandId.GENERIC_NACK


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLink(_Header):
    """Keep-alive probe (header only)."""

    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLinkResp(_Header):
    """Answer to enquire_link (header only)."""

    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbind(_Header):
    """End the session (header only)."""

    command_id: ClassVar[CommandId] = CommandId.UNBIND


@dataclass(frozen=True, slots=True, kw_only=True)
class UnbindResp(_Header):
    """Answer to unbind (header only)."""

    command_id: ClassVar[CommandId] = CommandId.UNBIND_RESP


# -- binds -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _BindBody(_Header):
    #: Our login at the SMSC (max 15 characters).
    system_id: str = ""
    #: Max 8 characters.
    password: str = ""
    #: Kind of ESME, often "" or operator-assigned (max 12 characters).
    system_type: str = ""
    #: The SMPP version we speak: 0x34.
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    #: Addresses served by this ESME (receiver/transceiver), usually "" (max 40 characters).
    address_range: str = ""
    #: Optional parameters without a named field, raw and in order.
    tlvs: RawTlvs = ()

    BODY: ClassVar[tuple[BodyField, ...]] = (
        _SYSTEM_ID,
        _PASSWORD,
        BodyField("system_type", Kind.C_STRING, 13, status=S.ESME_RINVSYSTYP),
        _int8("interface_version"),
        _int8("addr_ton"),
        _int8("addr_npi"),
        BodyField("address_range", Kind.C_STRING, 41, status=S.ESME_RINVSRCADR),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitter(_BindBody):
    """Bind as a transmitter (may submit)."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiver(_BindBody):
    """Bind as a receiver (gets deliver_sm)."""

    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiver(_BindBody):
    """Bind as a transceiver (both, over one connection)."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER


@dataclass(frozen=True, slots=True, kw_only=True)
class _BindRespBody(_Header):
    #: The SMSC's identifier (max 15 characters). In 3.4 an error response has no body at all.
    system_id: str = ""
    #: The SMSC's SMPP version; None (absent) means 3.3 or older, which knows no TLVs.
    sc_interface_version: int | None = None
    tlvs: RawTlvs = ()

    BODY: ClassVar[tuple[BodyField, ...]] = (_SYSTEM_ID,)
    TLVS: ClassVar[tuple[TlvField, ...]] = (_TLV_SC_INTERFACE_VERSION,)


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitterResp(_BindRespBody):
    """Answer to bind_transmitter."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiverResp(_BindRespBody):
    """Answer to bind_receiver."""

    command_id: ClassVar[CommandId] = CommandId.BIND_RECEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiverResp(_BindRespBody):
    """Answer to bind_transceiver."""

    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbind(_Header):
    """The SMSC asks the ESME to bind as a receiver. It has no response."""

    system_id: str = ""
    password: str = ""
    tlvs: RawTlvs = ()

    command_id: ClassVar[CommandId] = CommandId.OUTBIND
    BODY: ClassVar[tuple[BodyField, ...]] = (_SYSTEM_ID, _PASSWORD)


# -- short messages --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _SmBody(_Header):
    #: "" = SMSC default; CMT, CPT, VMN, VMA, WAP, USSD are defined (max 5 characters).
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    #: Sender: an MSISDN without "+", or an alphanumeric sender ID (max 20 characters).
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    #: Recipient MSISDN digits (max 20 characters).
    destination_addr: str = ""
    #: Mode, type and GSM features: test with masks (0x40 UDHI; ``& 0x3C == 0x04`` a receipt).
    esm_class: int = 0
    #: GSM TP-PID, 0 normally.
    protocol_id: int = 0
    #: 0 (normal) to 3.
    priority_flag: int = 0
    #: "" = deliver now, else 16 characters: absolute ``YYMMDDhhmmsstnn[+-]`` or relative ``...R``.
    schedule_delivery_time: str = ""
    #: "" = SMSC default, else a 16-character time string like schedule_delivery_time.
    validity_period: str = ""
    #: Receipt request: 0x01 final outcome, 0x02 failure only (bits 1-0).
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    #: 0x00 SMSC default (GSM-7), 0x08 UCS-2, 0x04 binary, ...
    data_coding: int = 0
    #: 0 = not a canned message.
    sm_default_msg_id: int = 0
    #: Up to 254 octets, UDH included when esm_class has UDHI; sm_length is len(short_message).
    short_message: bytes = b""

    BODY: ClassVar[tuple[BodyField, ...]] = (
        _SERVICE_TYPE,
        _int8("source_addr_ton", S.ESME_RINVSRCTON),
        _int8("source_addr_npi", S.ESME_RINVSRCNPI),
        _SOURCE_ADDR,
        _int8("dest_addr_ton", S.ESME_RINVDSTTON),
        _int8("dest_addr_npi", S.ESME_RINVDSTNPI),
        _DESTINATION_ADDR,
        _int8("esm_class", S.ESME_RINVESMCLASS),
        _int8("protocol_id"),
        _int8("priority_flag", S.ESME_RINVPRTFLG),
        BodyField("schedule_delivery_time", Kind.TIME, 17, status=S.ESME_RINVSCHED),
        BodyField("validity_period", Kind.TIME, 17, status=S.ESME_RINVEXPIRY),
        _int8("registered_delivery", S.ESME_RINVREGDLVFLG),
        _int8("replace_if_present_flag", S.ESME_RINVREPFLAG),
        _int8("data_coding"),
        _int8("sm_default_msg_id", S.ESME_RINVDFTMSGID),
        BodyField("short_message", Kind.SHORT_MESSAGE, 254, status=S.ESME_RINVMSGLEN),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSm(_SmBody):
    """Submit one short message (or one part of a concatenated one)."""

    user_message_reference: int | None = None
    source_port: int | None = None
    destination_port: int | None = None
    #: Concatenation by TLV (instead of a UDH): reference, total parts, this part's number.
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    more_messages_to_send: int | None = None
    #: The payload when it is not in short_message (which must then be empty).
    message_payload: bytes | None = None
    language_indicator: int | None = None
    tlvs: RawTlvs = ()

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM
    TLVS: ClassVar[tuple[TlvField, ...]] = (
        _TLV_USER_MESSAGE_REFERENCE,
        _TLV_SOURCE_PORT,
        _TLV_DESTINATION_PORT,
        _TLV_SAR_MSG_REF_NUM,
        _TLV_SAR_TOTAL_SEGMENTS,
        _TLV_SAR_SEGMENT_SEQNUM,
        _TLV_MORE_MESSAGES_TO_SEND,
        _TLV_MESSAGE_PAYLOAD,
        _TLV_LANGUAGE_INDICATOR,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm(_SmBody):
    """A message for us: an MO message, or a delivery receipt (``esm_class & 0x3C == 0x04``)."""

    user_message_reference: int | None = None
    source_port: int | None = None
    destination_port: int | None = None
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    message_payload: bytes | None = None
    language_indicator: int | None = None
    #: Receipts: network type (1 octet) + error code (2 octets).
    network_error_code: bytes | None = None
    #: Receipts: the final state, see MessageState.
    message_state: int | None = None
    #: Receipts: the id the SMSC gave the message in its submit_sm_resp.
    receipted_message_id: str | None = None
    tlvs: RawTlvs = ()

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM
    TLVS: ClassVar[tuple[TlvField, ...]] = (
        _TLV_USER_MESSAGE_REFERENCE,
        _TLV_SOURCE_PORT,
        _TLV_DESTINATION_PORT,
        _TLV_SAR_MSG_REF_NUM,
        _TLV_SAR_TOTAL_SEGMENTS,
        _TLV_SAR_SEGMENT_SEQNUM,
        _TLV_MESSAGE_PAYLOAD,
        _TLV_LANGUAGE_INDICATOR,
        _TLV_NETWORK_ERROR_CODE,
        _TLV_MESSAGE_STATE,
        _TLV_RECEIPTED_MESSAGE_ID,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSm(_Header):
    """Message transfer with the payload and most parameters in TLVs (either direction; some
    SMSCs deliver receipts with it)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    source_port: int | None = None
    destination_port: int | None = None
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    more_messages_to_send: int | None = None
    message_payload: bytes | None = None
    receipted_message_id: str | None = None
    message_state: int | None = None
    network_error_code: bytes | None = None
    user_message_reference: int | None = None
    language_indicator: int | None = None
    tlvs: RawTlvs = ()

    command_id: ClassVar[CommandId] = CommandId.DATA_SM
    BODY: ClassVar[tuple[BodyField, ...]] = (
        _SERVICE_TYPE,
        _int8("source_addr_ton", S.ESME_RINVSRCTON),
        _int8("source_addr_npi", S.ESME_RINVSRCNPI),
        _SOURCE_ADDR,
        _int8("dest_addr_ton", S.ESME_RINVDSTTON),
        _int8("dest_addr_npi", S.ESME_RINVDSTNPI),
        _DESTINATION_ADDR,
        _int8("esm_class", S.ESME_RINVESMCLASS),
        _int8("registered_delivery", S.ESME_RINVREGDLVFLG),
        _int8("data_coding"),
    )
    TLVS: ClassVar[tuple[TlvField, ...]] = (
        _TLV_SOURCE_PORT,
        _TLV_DESTINATION_PORT,
        _TLV_SAR_MSG_REF_NUM,
        _TLV_SAR_TOTAL_SEGMENTS,
        _TLV_SAR_SEGMENT_SEQNUM,
        _TLV_MORE_MESSAGES_TO_SEND,
        _TLV_MESSAGE_PAYLOAD,
        _TLV_RECEIPTED_MESSAGE_ID,
        _TLV_MESSAGE_STATE,
        _TLV_NETWORK_ERROR_CODE,
        _TLV_USER_MESSAGE_REFERENCE,
        _TLV_LANGUAGE_INDICATOR,
    )


# -- responses to short messages -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _MessageIdBody(_Header):
    #: The SMSC's id for the message (opaque, max 64 characters); "" in an error response.
    message_id: str = ""
    #: Free-text reason, mostly with an error status.
    additional_status_info_text: str | None = None
    tlvs: RawTlvs = ()

    BODY: ClassVar[tuple[BodyField, ...]] = (_MESSAGE_ID,)
    TLVS: ClassVar[tuple[TlvField, ...]] = (_TLV_ADDITIONAL_STATUS_INFO_TEXT,)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSmResp(_MessageIdBody):
    """Answer to submit_sm. With an error status 3.4 sends no body (16 octets)."""

    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM_RESP


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSmResp(_MessageIdBody):
    """Answer to deliver_sm. message_id is unused: always sent as a single NUL (whatever the
    status), and accepted as anything up to 64 characters."""

    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM_RESP
    BODY: ClassVar[tuple[BodyField, ...]] = (
        BodyField("message_id", Kind.C_STRING, 1, 65, S.ESME_RINVMSGID),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSmResp(_Header):
    """Answer to data_sm."""

    message_id: str = ""
    #: With ESME_RDELIVERYFAILURE: 0 unavailable, 1 bad address, 2 permanent, 3 temporary error.
    delivery_failure_reason: int | None = None
    network_error_code: bytes | None = None
    additional_status_info_text: str | None = None
    tlvs: RawTlvs = ()

    command_id: ClassVar[CommandId] = CommandId.DATA_SM_RESP
    BODY: ClassVar[tuple[BodyField, ...]] = (_MESSAGE_ID,)
    TLVS: ClassVar[tuple[TlvField, ...]] = (
        _TLV_DELIVERY_FAILURE_REASON,
        _TLV_NETWORK_ERROR_CODE,
        _TLV_ADDITIONAL_STATUS_INFO_TEXT,
    )


Pdu = (
    GenericNack
    | BindTransmitter
    | BindTransmitterResp
    | BindReceiver
    | BindReceiverResp
    | BindTransceiver
    | BindTransceiverResp
    | Outbind
    | SubmitSm
    | SubmitSmResp
    | DeliverSm
    | DeliverSmResp
    | DataSm
    | DataSmResp
    | EnquireLink
    | EnquireLinkResp
    | Unbind
    | UnbindResp
)

#: The PDU class of each command this codec supports, by command_id.
PDU_CLASSES: dict[int, type[Pdu]] = {cls.command_id: cls for cls in Pdu.__args__}

del S
