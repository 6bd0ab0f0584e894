from typing import Literal

Buffer = bytes | bytearray | memoryview

class Plan:
    encoding: Literal["gsm7", "ucs2"]
    data_coding: Literal[0, 8]
    esm_class: int
    units: int
    parts: tuple[bytes, ...]
    texts: tuple[str, ...]
    transliterated: bool

class Count:
    encoding: Literal["gsm7", "ucs2"]
    units: int
    parts: int
    per_part: int
    transliterated: bool
    @property
    def sendable(self) -> bool: ...

class Decoded:
    text: str
    ref: int | None
    total: int | None
    seq: int | None
    udh: bytes

def plan(text: str, *, ref: int = 0, udh16: bool = False, transliterate: bool = False) -> Plan: ...
def count(text: str, *, transliterate: bool = False, udh16: bool = False) -> Count: ...
def encode_ucs2(text: str) -> bytes: ...
def decode_ucs2(data: Buffer) -> str: ...
def decode(
    payload: Buffer, data_coding: int, *, udhi: bool = False, packed: bool = False
) -> Decoded: ...
