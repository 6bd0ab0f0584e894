"""decode(): what we receive from operators (deliver_sm, receipts, MO replies such as STOP).

Received payloads are not ours: other IEs share the UDH with the concatenation IE, SMSCs use the
GSM DCS groups for data_coding, headers are truncated or lie about their length, and packed
GSM-7 has to be unpacked after the header's fill bits. Structural faults must raise DecodeError
(a ValueError, so the session answers with an error status instead of crashing); characters that
cannot be shown become U+FFFD.
"""

from __future__ import annotations

import pytest

from gateway import _core as core
from gateway import codec
from tests import oracle


def test_gsm7_default_alphabet_with_at_as_nul_octet():
    d = codec.decode(b"\x00\x02\x11\x24\x5f\x40\x60\x09", 0)
    assert d.text == "@$_¤§¡¿Ç"
    assert (d.ref, d.total, d.seq, d.udh) == (None, None, None, b"")


def test_gsm7_extension_pairs():
    assert codec.decode(b"\x1b\x65\x1b\x3c\x1b\x3e\x1b\x0a", 0).text == "€[]\x0c"


def test_esc_with_unassigned_code_shows_the_base_character():
    # 1B 41 is unassigned: a receiver shows 'A' (the default-table character for 0x41).
    assert codec.decode(b"\x1b\x41", 0).text == "A"
    assert codec.decode(b"\x1b\x00x", 0).text == "@x"
    assert codec.decode(b"\x1b\x0d", 0).text == "\r"  # CR2, reserved: shows CR


def test_lone_trailing_esc_and_esc_esc_show_a_space():
    assert codec.decode(b"ab\x1b", 0).text == "ab "
    assert codec.decode(b"\x1b\x1bx", 0).text == " x"


def test_octet_above_0x7f_in_unpacked_gsm7_is_replacement_character():
    assert codec.decode(b"a\x80b\xff", 0).text == "a\ufffdb\ufffd"


@pytest.mark.parametrize("dc", [0x00, 0xC0, 0xCF, 0xD0, 0xDF, 0xF0, 0xF1, 0xF2, 0xF3])
def test_gsm7_data_codings(dc):
    assert codec.decode(b"\x00\x1b\x65", dc).text == "@€"


@pytest.mark.parametrize("dc", [0x08, 0xE0, 0xE5, 0xEF])
def test_ucs2_data_codings(dc):
    payload = "ça 😀".encode("utf-16-be")
    assert codec.decode(payload, dc).text == "ça 😀"


def test_latin1_and_ascii():
    assert codec.decode(b"caf\xe9 \xa4", 3).text == "café ¤"
    assert codec.decode(b"\x80\x9f", 3).text == "\x80\x9f"  # Latin-1, not Windows-1252 ('€')
    assert codec.decode(b"@$_`", 1).text == "@$_`"  # IA5 is ASCII, not GSM-7
    assert codec.decode(b"caf\xe9", 1).text == "caf\ufffd"


@pytest.mark.parametrize("dc", [0x02, 0x04, 0x05, 0xF4, 0xF7, 0x09])
def test_data_codings_without_text_raise_decode_error(dc):
    with pytest.raises(codec.DecodeError) as info:
        codec.decode(b"\x01\x02", dc)
    assert isinstance(info.value, ValueError)


def test_ucs2_lone_surrogate_is_replaced_not_raised():
    # What a sender that cut a surrogate pair (smpplib) leaves in a part.
    assert codec.decode(b"\x00a\xd8\x3d", 8).text == "a\ufffd"


def test_odd_length_ucs2_raises():
    with pytest.raises(codec.DecodeError, match="odd"):
        codec.decode(b"\x00a\x00", 8)
    # After the UDH, the body alone must be even.
    with pytest.raises(codec.DecodeError):
        codec.decode(bytes.fromhex("05 00 03 01 02 01") + b"\x00a\x00", 8, udhi=True)


# ---------------------------------------------------------------------------------------------
# UDH


def test_eight_bit_concatenation():
    d = codec.decode(bytes.fromhex("05 00 03 CC 02 01") + b"Hello", 0, udhi=True)
    assert (d.text, d.ref, d.total, d.seq) == ("Hello", 0xCC, 2, 1)
    assert d.udh == bytes.fromhex("05 00 03 CC 02 01")


def test_sixteen_bit_reference_is_big_endian():
    d = codec.decode(bytes.fromhex("06 08 04 12 34 03 02") + "ç".encode("utf-16-be"), 8,
                     udhi=True)
    assert (d.text, d.ref, d.total, d.seq) == ("ç", 0x1234, 3, 2)


def test_concatenation_after_other_information_elements():
    # Application port addressing (IEI 0x05, 16-bit ports) first, then the concatenation IE.
    udh = bytes.fromhex("0B 05 04 0B 84 23 F0 00 03 7F 04 03")
    d = codec.decode(udh + b"abc", 0, udhi=True)
    assert (d.text, d.ref, d.total, d.seq, d.udh) == ("abc", 0x7F, 4, 3, udh)


def test_national_language_shift_ie_before_16_bit_concatenation():
    udh = bytes.fromhex("09 24 01 01 08 04 00 2A 02 02")
    d = codec.decode(udh + b"x", 0, udhi=True)
    assert (d.text, d.ref, d.total, d.seq) == ("x", 0x2A, 2, 2)


@pytest.mark.parametrize(
    "ie",
    ["00 03 01 00 01",   # total 0
     "00 03 01 02 00",   # seq 0
     "00 03 01 02 03",   # seq > total
     "08 04 00 01 00 01",
     "00 02 01 02",      # wrong IEDL for IEI 0x00
     "08 03 01 02 01"],  # wrong IEDL for IEI 0x08
)
def test_invalid_concatenation_ie_is_ignored(ie):
    body = bytes.fromhex(ie)
    # The text starts with 0x01 0x01: a decoder that reads a short IE past its end finds a
    # plausible total/seq there.
    d = codec.decode(bytes([len(body)]) + body + b"\x01\x01hi", 0, udhi=True)
    assert (d.ref, d.total, d.seq) == (None, None, None)
    assert d.text == "££hi"
    assert d.udh == bytes([len(body)]) + body


def test_empty_udh():
    d = codec.decode(b"\x00hi", 0, udhi=True)
    assert (d.text, d.ref, d.udh) == ("hi", None, b"\x00")


def test_udhi_false_reads_the_header_as_text():
    d = codec.decode(bytes.fromhex("05 00 03 01 02 01") + b"a", 3)
    assert d.text == "\x05\x00\x03\x01\x02\x01a"
    assert d.ref is None


@pytest.mark.parametrize(
    "payload",
    ["",                     # UDHI set but nothing at all
     "05 00 03 01",          # UDHL past the payload
     "FF 00",
     "01 00",                # UDH of one octet: IE without its length
     "04 00 03 01 02 01 41",  # IE longer than the UDH
     "07 05 04 0B 84 23 F0 00 41"],  # second IE truncated to its IEI
)
def test_structural_udh_faults_raise(payload):
    with pytest.raises(codec.DecodeError) as info:
        codec.decode(bytes.fromhex(payload), 0, udhi=True)
    assert isinstance(info.value, ValueError)


def test_udh_exactly_filling_the_payload_leaves_empty_text():
    d = codec.decode(bytes.fromhex("05 00 03 01 02 02"), 8, udhi=True)
    assert (d.text, d.seq) == ("", 2)


def test_accepts_bytearray_and_memoryview():
    raw = bytes.fromhex("05 00 03 01 02 01") + b"ok"
    for payload in (bytearray(raw), memoryview(raw)):
        d = codec.decode(payload, 0, udhi=True)
        assert (d.text, d.seq) == ("ok", 1)


def test_int_payload_is_a_type_error():
    with pytest.raises(TypeError):
        codec.decode(5, 0)


def test_str_payload_is_a_type_error():
    with pytest.raises(TypeError):
        codec.decode("abc", 0)


# ---------------------------------------------------------------------------------------------
# Packed GSM-7


def test_packed_reference_example_with_udh():
    d = codec.decode(bytes.fromhex("05 00 03 CC 02 01 90 65 36 FB 0D"), 0, udhi=True, packed=True)
    assert (d.text, d.ref, d.total, d.seq) == ("Hello", 0xCC, 2, 1)


def test_packed_without_udh():
    assert codec.decode(bytes.fromhex("E8 32 9B FD 46 97 D9 EC 37"), 0, packed=True).text == (
        "hellohello")


def test_packed_seven_septets_has_no_phantom_at():
    # 7 septets = 49 bits in 7 octets: counting octets would read an 8th septet, '@'.
    packed = core.pack_septets(core.encode_septets("abcdefg"))
    assert len(packed) == 7
    assert codec.decode(packed, 0, packed=True).text == "abcdefg"


@pytest.mark.parametrize("udh_len", [1, *range(3, 17)])
def test_packed_after_udh_of_any_length(udh_len):
    """Fill bits = (7 - 8 * udh_len mod 7) mod 7, from 6 bits (1-octet UDH) to 0 (7 octets): every
    UDH length mod 7 occurs (an empty UDH, or one IE 0x70 of udh_len - 3 data octets)."""
    udh = b"\x00" if udh_len == 1 else bytes([udh_len - 1, 0x70, udh_len - 3]) + bytes(udh_len - 3)
    assert len(udh) == udh_len
    fill = (7 - (udh_len * 8) % 7) % 7
    text = "Hi {€} there"
    payload = udh + oracle.pack_septets(oracle.encode_septets(text), fill)
    d = codec.decode(payload, 0, udhi=True, packed=True)
    assert (d.text, d.udh) == (text, udh)


@pytest.mark.parametrize(("last", "char"), [(0x00, "@"), (0x0D, "\r")])
def test_unpack_without_count_drops_a_last_at_or_cr_that_may_be_padding(last, char):
    """8 septets fill 7 octets exactly; a last 0x00 could be 7 zero fill bits, and CR is the
    TS 23.038 padding character, so without a septet count both are dropped (documented)."""
    septets = b"abcdefg" + bytes([last])
    packed = core.pack_septets(septets)
    assert len(packed) == 7
    assert core.unpack_septets(packed) == b"abcdefg"
    assert core.unpack_septets(packed, 8) == septets  # with the count nothing is lost
    assert codec.decode(packed, 0, packed=True).text == "abcdefg"
    # Not on an octet boundary (9 septets in 8 octets): kept.
    assert core.unpack_septets(core.pack_septets(b"abcdefgh" + bytes([last]))) == (
        b"abcdefgh" + bytes([last]))
    assert char in codec.decode(core.pack_septets(b"abcdefgh" + bytes([last])), 0, packed=True).text


def test_packed_after_a_16_bit_udh_has_no_fill():
    udh = bytes.fromhex("06 08 04 01 02 02 01")
    packed = udh + core.pack_septets(core.encode_septets("Hi €"), 0)
    d = codec.decode(packed, 0, udhi=True, packed=True)
    assert (d.text, d.ref) == ("Hi €", 0x0102)


# ---------------------------------------------------------------------------------------------
# Low-level errors


def test_unpack_septets_count_too_large():
    with pytest.raises(codec.DecodeError):
        core.unpack_septets(b"\x41", 2)
    with pytest.raises(codec.DecodeError):
        core.unpack_septets(bytes(7), 9)
    with pytest.raises(codec.DecodeError):
        core.unpack_septets(b"\x41", -1)
    assert core.unpack_septets(bytes(7), 8) == bytes(8)


@pytest.mark.parametrize("fill", [-1, 7, 8])
def test_fill_bits_out_of_range(fill):
    with pytest.raises(ValueError, match="fill_bits"):
        core.pack_septets(b"\x41", fill)
    with pytest.raises(ValueError, match="fill_bits"):
        core.unpack_septets(b"\x41", 1, fill)


def test_pack_rejects_octets_that_are_not_septets():
    with pytest.raises(ValueError):
        core.pack_septets(b"\x41\x80")


def test_encode_septets_names_the_character():
    with pytest.raises(codec.InvalidText) as info:
        core.encode_septets("reçu")
    assert isinstance(info.value, ValueError)
    assert "'ç'" in str(info.value)
    assert "U+00E7" in str(info.value)
    assert "index 2" in str(info.value)


def test_encode_ucs2_rejects_lone_surrogate():
    with pytest.raises(codec.InvalidText):
        core.encode_ucs2("a\ud800")


def test_decode_ucs2_odd_length():
    with pytest.raises(codec.DecodeError):
        core.decode_ucs2(b"\x00")
