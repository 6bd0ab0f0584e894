from collections.abc import Callable
from typing import Any

Buffer = bytes | bytearray | memoryview

DEFAULT_MAX_PDU_LENGTH: int
SUBMIT_SM_FIELDS: tuple[str, ...]

def register(
    cls: type,
    command_id: int,
    *,
    fields: tuple[tuple[str, object], ...],
    body: tuple[tuple[str, str, int, int], ...],
    tlvs: tuple[tuple[str, int, str, int], ...],
    response: bool,
    omit_empty_body: bool,
) -> None: ...
def configure(
    decode_python: Callable[..., Any],
    encode_python: Callable[..., bytes],
    *,
    default_max_length: int,
) -> None: ...
def registered() -> tuple[type, ...]: ...
def decode(frame: Buffer, *, max_length: int = ...) -> Any: ...
def encode(pdu: Any, *, sequence_number: int | None = None) -> bytes: ...
def cut_frames(buf: bytes | bytearray, off: int, max_length: int, frames: list[bytes]) -> int: ...
def bind_submit_sm(cls: type) -> None: ...
def build_submit_sm(
    *,
    sequence_number: int = 0,
    command_status: int = 0,
    service_type: str = "",
    source_addr_ton: int = 0,
    source_addr_npi: int = 0,
    source_addr: str = "",
    dest_addr_ton: int = 0,
    dest_addr_npi: int = 0,
    destination_addr: str = "",
    esm_class: int = 0,
    protocol_id: int = 0,
    priority_flag: int = 0,
    schedule_delivery_time: str = "",
    validity_period: str = "",
    registered_delivery: int = 0,
    replace_if_present_flag: int = 0,
    data_coding: int = 0,
    sm_default_msg_id: int = 0,
    short_message: bytes = b"",
    user_message_reference: int | None = None,
    source_port: int | None = None,
    destination_port: int | None = None,
    sar_msg_ref_num: int | None = None,
    sar_total_segments: int | None = None,
    sar_segment_seqnum: int | None = None,
    more_messages_to_send: int | None = None,
    message_payload: bytes | None = None,
    language_indicator: int | None = None,
    tlvs: tuple[tuple[int, bytes], ...] = (),
) -> Any: ...

class Builder:
    def __init__(self, cls: type) -> None: ...
    def __call__(self, **fields: Any) -> Any: ...
