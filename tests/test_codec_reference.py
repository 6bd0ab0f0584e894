"""The reference's worked examples and GSM-7 traps, checked on the oracle AND on the compiled core.

The property tests trust ``tests/oracle.py`` as the specification, so the oracle must first be
shown to agree with the reference (``shared/reference/sms-encoding-and-smpp.md`` sections 1-5):
its tables against a second, independent transcription (the Unicode list under the table, and
the ASCII differences), and its functions against the worked examples. Every example test runs
on both implementations (``impl`` is ``oracle`` or ``core``), so a wrong table in either fails here
with a readable message rather than as a shrunk counterexample.
"""

from __future__ import annotations

import string
import unicodedata
from types import SimpleNamespace

import pytest

from gateway import _core as core
from gateway import codec
from tests import oracle


def _core_septets(text: str) -> int | None:
    n = core.septet_count(text)
    return None if n < 0 else n


CORE = SimpleNamespace(
    is_gsm7=core.is_gsm7,
    septets=_core_septets,
    encode_septets=core.encode_septets,
    decode_septets=core.decode_septets,
    pack_septets=core.pack_septets,
    unpack_septets=core.unpack_septets,
    plan=codec.plan,
    count=codec.count,
)


@pytest.fixture(params=["oracle", "core"])
def impl(request: pytest.FixtureRequest) -> object:
    return oracle if request.param == "oracle" else CORE


# ---------------------------------------------------------------------------------------------
# The oracle's tables, checked against a second transcription of the reference.

#: Section 1, "Unicode of the non-ASCII entries", copied as written.
NON_ASCII_LIST = (
    "£ U+00A3, ¥ U+00A5, è U+00E8, é U+00E9, ù U+00F9, ì U+00EC, ò U+00F2, Ç U+00C7, Ø U+00D8, "
    "ø U+00F8, Å U+00C5, å U+00E5, Δ U+0394, Φ U+03A6, Γ U+0393, Λ U+039B, Ω U+03A9, Π U+03A0, "
    "Ψ U+03A8, Σ U+03A3, Θ U+0398, Ξ U+039E, Æ U+00C6, æ U+00E6, ß U+00DF, É U+00C9, ¤ U+00A4, "
    "¡ U+00A1, Ä U+00C4, Ö U+00D6, Ñ U+00D1, Ü U+00DC, § U+00A7, ¿ U+00BF, ä U+00E4, ö U+00F6, "
    "ñ U+00F1, ü U+00FC, à U+00E0"
)


def test_non_ascii_entries_are_exactly_the_listed_code_points():
    listed = {}
    for entry in NON_ASCII_LIST.split(", "):
        glyph, cp = entry.split(" U+")
        listed[chr(int(cp, 16))] = glyph
    assert all(c == glyph for c, glyph in listed.items())  # glyph as typed == code point
    table_non_ascii = {c for c in oracle.GSM7_BASIC if ord(c) > 0x7F}
    assert table_non_ascii == set(listed)
    # Ω is GREEK CAPITAL LETTER OMEGA, not the OHM SIGN U+2126 that looks the same.
    assert unicodedata.name("\u03a9") == "GREEK CAPITAL LETTER OMEGA"
    assert "\u2126" not in oracle.GSM7_BASIC


def test_ascii_part_of_the_default_alphabet():
    """GSM-7 holds printable ASCII except the backtick and the ten extension characters (which
    are not default-table code points), plus LF and CR; no other control character."""
    punctuation = " !\"#$%&'()*+,-./:;<=>?@_"
    expected = set(string.ascii_letters + string.digits + punctuation) | {"\n", "\r"}
    assert {c for c in oracle.GSM7_BASIC if ord(c) < 0x80} == expected
    assert set(oracle.GSM7_EXT) == set("[\\]^{|}~€\x0c")


def test_tables_have_128_codes_and_no_duplicates():
    codes = sorted(oracle.GSM7_BASIC.values())
    assert codes == [c for c in range(128) if c != 0x1B]
    assert len(set(oracle.GSM7_EXT.values())) == 10


def test_core_tables_agree_with_oracle_on_every_code_point():
    """Exhaustive over the BMP and the start of plane 1 (the core's look-up is a C table)."""
    wrong = []
    for cp in range(0x20000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        if _core_septets(char) != oracle.septets(char):
            wrong.append(f"U+{cp:04X}")
    assert wrong == []
    for char, code in oracle.GSM7_BASIC.items():
        assert core.encode_septets(char) == bytes([code]), char
    for char, code in oracle.GSM7_EXT.items():
        assert core.encode_septets(char) == bytes([0x1B, code]), char


# ---------------------------------------------------------------------------------------------
# Classic GSM-7 traps (section 1 "Where GSM-7 differs from ASCII").


@pytest.mark.parametrize(
    ("char", "code"),
    [("@", 0x00), ("$", 0x02), ("¤", 0x24), ("_", 0x11), ("§", 0x5F), ("¡", 0x40), ("¿", 0x60),
     ("Ç", 0x09), ("\n", 0x0A), ("\r", 0x0D), ("Δ", 0x10), ("É", 0x1F), ("à", 0x7F),
     ("ü", 0x7E), ("A", 0x41), ("a", 0x61), (" ", 0x20)],
)
def test_default_alphabet_codes(impl, char, code):
    assert impl.encode_septets(char) == bytes([code])
    assert impl.septets(char) == 1
    assert impl.decode_septets(bytes([code])) == char


@pytest.mark.parametrize(
    ("char", "code"),
    [("\x0c", 0x0A), ("^", 0x14), ("{", 0x28), ("}", 0x29), ("\\", 0x2F), ("[", 0x3C),
     ("~", 0x3D), ("]", 0x3E), ("|", 0x40), ("€", 0x65)],
)
def test_extension_characters_are_esc_pairs_costing_two_septets(impl, char, code):
    assert impl.encode_septets(char) == bytes([0x1B, code])
    assert impl.septets(char) == 2
    assert impl.decode_septets(bytes([0x1B, code])) == char


NOT_GSM7 = {
    "ç": "small c cedilla (only the capital Ç is 0x09)",
    "`": "backtick",
    "\t": "TAB",
    "\x00": "NUL (the '@' septet is 0x00, the NUL character is not GSM-7)",
    "\x1b": "ESC is not a character",
    "\x07": "control character",
    "\u2126": "OHM SIGN (looks like Ω)",
    **{chr(cp): "Greek capital that looks Latin"
       for cp in (0x391, 0x392, 0x395, 0x396, 0x397, 0x399, 0x39A, 0x39C, 0x39D, 0x39F, 0x3A1,
                  0x3A4, 0x3A5, 0x3A7)},
    **{c: "French character GSM-7 lacks" for c in "êëîïôûâœŒÀÈÊÎÔÛ’«»…\u00a0\u202f"},
    "😀": "emoji",
}


@pytest.mark.parametrize("char", list(NOT_GSM7), ids=[f"U+{ord(c):04X}" for c in NOT_GSM7])
def test_characters_outside_gsm7_force_ucs2(impl, char):
    text = "Bonjour " + char
    assert not impl.is_gsm7(text)
    assert impl.septets(text) is None
    p = impl.plan(text)
    assert (p.encoding, p.data_coding) == ("ucs2", 8)
    assert p.parts == (text.encode("utf-16-be"),)


def test_french_letters_in_gsm7(impl):
    assert impl.is_gsm7("é è à ù É Ç")
    assert impl.plan("Ça a été où ? À").encoding == "ucs2"  # À is not GSM-7
    assert impl.plan("Ça a été où ?").encoding == "gsm7"


def test_at_sign_makes_nul_octets_in_the_payload(impl):
    p = impl.plan("a@b@")
    assert p.parts == (b"\x61\x00\x62\x00",)
    assert p.data_coding == 0


def test_nul_character_is_ucs2_and_encodes_as_two_zero_octets(impl):
    p = impl.plan("\x00")
    assert (p.encoding, p.parts) == ("ucs2", (b"\x00\x00",))


def test_euro_costs_two_septets_in_gsm7_but_one_unit_in_ucs2(impl):
    assert impl.count("€").units == 2
    assert impl.count("€").encoding == "gsm7"
    assert impl.count("€ç").units == 2  # UCS-2: one unit each
    assert impl.count("€" * 80).parts == 1  # 160 septets: a full single SMS
    assert impl.count("€" * 81).parts == 2


@pytest.mark.parametrize(
    ("text", "units"),
    [("😀", 2), ("🇫🇷", 4), ("👍🏽", 4), ("ç", 1), ("ç😀", 3), ("\U0010ffff", 2)],
)
def test_utf16_units(impl, text, units):
    assert oracle.utf16_units(text) == units
    c = impl.count(text)
    assert (c.encoding, c.units) == ("ucs2", units)


# ---------------------------------------------------------------------------------------------
# Section 3: packing.


def test_hellohello_packs_to_the_reference_octets(impl):
    septets = impl.encode_septets("hellohello")
    packed = impl.pack_septets(septets)
    assert packed == bytes.fromhex("E8 32 9B FD 46 97 D9 EC 37")
    assert impl.unpack_septets(packed, 10) == septets


def test_udh_then_one_fill_bit_then_hello(impl):
    """UDH 05 00 03 CC 02 01 is 48 bits; 1 fill bit brings it to 7 septets; TP-UDL = 12."""
    udh = bytes.fromhex("05 00 03 CC 02 01")
    fill = (7 - (len(udh) * 8) % 7) % 7
    assert fill == 1
    header_septets = (len(udh) * 8 + fill) // 7
    septets = impl.encode_septets("Hello")
    assert header_septets + len(septets) == 12
    packed = udh + impl.pack_septets(septets, fill)
    assert packed == bytes.fromhex("05 00 03 CC 02 01 90 65 36 FB 0D")
    assert impl.unpack_septets(packed[6:], 5, fill) == septets


def test_fill_bits_shift_the_septets(impl):
    """After a 7-octet UDH (56 bits) there is no fill; after a 6-octet one, 1 bit."""
    assert impl.pack_septets(b"\x41", 0) == b"\x41"
    assert impl.pack_septets(b"\x41", 1) == b"\x82"
    assert impl.pack_septets(b"\x7f", 6) == b"\xc0\x1f"


def test_160_septets_fill_140_octets(impl):
    assert len(impl.pack_septets(bytes(160))) == 140
    assert len(impl.pack_septets(bytes(153), 1)) + 6 == 140
    assert len(impl.pack_septets(bytes(152), 0)) + 7 == 140


# ---------------------------------------------------------------------------------------------
# Section 5: capacities and the splitting rule.


def test_capacities_follow_the_formulas():
    """Per-part capacity = floor((140 - UDH octets) * 8 / 7) septets or floor((140 - UDH) / 2)
    units, for the codec's published constants and the oracle's."""
    for table in (codec.PER_PART, oracle.PER_PART):
        for (encoding, udh16), capacity in table.items():
            udh = 7 if udh16 else 6
            expected = (140 - udh) * 8 // 7 if encoding == "gsm7" else (140 - udh) // 2
            assert capacity == expected
    assert codec.SINGLE == oracle.SINGLE == {"gsm7": 140 * 8 // 7, "ucs2": 140 // 2}
    assert codec.MAX_PARTS == 255


@pytest.mark.parametrize(
    ("text", "udh16", "sizes"),
    [("a" * 160, False, [160]),
     ("a" * 161, False, [153, 8]),
     ("a" * 161, True, [152, 9]),
     ("ç" * 70, False, [70]),
     ("ç" * 71, False, [67, 4]),
     ("ç" * 71, True, [66, 5]),
     ("a" * 152 + "€" + "a" * 152, False, [152, 153, 1]),
     ("ç" * 66 + "😀" + "ç" * 66, False, [66, 67, 1]),
     ("", False, [0])],
)
def test_part_sizes(impl, text, udh16, sizes):
    p = impl.plan(text, udh16=udh16)
    if p.encoding == "gsm7":
        assert [oracle.septets(t) for t in p.texts] == sizes
    else:
        assert [oracle.utf16_units(t) for t in p.texts] == sizes
    assert "".join(p.texts) == text
    assert impl.count(text, udh16=udh16).parts == len(sizes)


def test_euro_straddling_153_makes_three_parts_not_two(impl):
    text = "a" * 152 + "€" + "a" * 152
    assert oracle.septets(text) == 306  # 306 / 153 = 2 exactly, yet 3 parts
    p = impl.plan(text, ref=0xCC)
    assert len(p.parts) == 3
    assert p.parts[0] == bytes.fromhex("05 00 03 CC 03 01") + b"a" * 152
    assert p.parts[1] == bytes.fromhex("05 00 03 CC 03 02") + b"\x1b\x65" + b"a" * 151
    assert p.parts[2] == bytes.fromhex("05 00 03 CC 03 03") + b"a"
