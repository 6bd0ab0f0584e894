"""Splitting: the acceptance property, round trips, the boundaries one by one, and errors.

The splitting rule (reference section 5, gateway.codec docstring): one part up to 160 septets /
70 UTF-16 units, otherwise greedy parts of 153 / 67 (152 / 66 with 16-bit references) in which an
ESC pair or a surrogate pair is never cut, at most 255 parts. A part that ends in a bare ESC or a
half surrogate pair shows garbage on the handset, a part over capacity is rejected by the SMSC,
and a wrong part count is a wrong price quoted to the customer: these are the properties that
matter most, so they are checked on the payload octets themselves, not on the texts.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway import _core as core
from gateway import codec
from tests import oracle
from tests.strategies import boundary_texts, gsm7_texts, refs, texts, texts_with_huge

ESC = 0x1B


def _udh_len(p: codec.Plan, part: bytes) -> int:
    return 1 + part[0] if p.esm_class & 0x40 else 0


def _ends_in_bare_esc(septets: bytes) -> bool:
    """Walk the septets: an ESC consumes the next octet; True when the last ESC has none."""
    i = 0
    while i < len(septets):
        if septets[i] == ESC:
            if i + 1 == len(septets):
                return True
            i += 2
        else:
            i += 1
    return False


def _units(encoding: str, text: str) -> int:
    return oracle.septets(text) if encoding == "gsm7" else oracle.utf16_units(text)


def test_bare_esc_detector():
    assert _ends_in_bare_esc(b"aa\x1b")
    assert not _ends_in_bare_esc(b"a\x1b\x1b")  # ESC ESC is one (reserved) pair
    assert _ends_in_bare_esc(b"\x1b\x65\x1b")
    assert not _ends_in_bare_esc(b"\x1b\x65")
    assert not _ends_in_bare_esc(b"")


@given(texts_with_huge, refs())
@example("a" * 152 + "€" + "a" * 152, (0, False))
@example("a" * 151 + "€" + "a" * 152, (0, True))
@example("ç" * 66 + "😀" + "ç" * 66, (0, False))
@example("ç" * 65 + "😀" + "ç" * 66, (0, True))
@example("€" * 19_380, (0, False))  # 255 parts of 76 '€' (152 septets) each
def test_no_part_ends_inside_an_escape_or_surrogate_pair(text, ref_udh16):
    """THE acceptance property of the splitter, on the octets of every part."""
    ref, udh16 = ref_udh16
    needed = codec.count(text, udh16=udh16).parts
    if needed > 255:
        with pytest.raises(codec.TooManyParts):
            codec.plan(text, ref=ref, udh16=udh16)
        return
    p = codec.plan(text, ref=ref, udh16=udh16)
    assert len(p.parts) == needed
    multipart = len(p.parts) > 1
    assert bool(p.esm_class & 0x40) == multipart
    for seq, part in enumerate(p.parts, start=1):
        udh_len = _udh_len(p, part)
        assert udh_len == (0 if not multipart else 7 if udh16 else 6)
        body = part[udh_len:]
        if p.encoding == "gsm7":
            assert all(o <= 0x7F for o in body)
            assert not _ends_in_bare_esc(body), f"part {seq} ends in a bare ESC"
            # Air interface: header octets, fill bits, then 7 bits per septet, in 140 octets.
            assert udh_len + math.ceil(len(body) * 7 / 8) <= 140, f"part {seq} too long"
            fill = (7 - (udh_len * 8) % 7) % 7
            assert (udh_len * 8 + fill) // 7 + len(body) <= 160  # TP-UDL in septets
        else:
            assert len(body) % 2 == 0
            assert udh_len + len(body) <= 140, f"part {seq} too long"
            if body:
                first = int.from_bytes(body[:2], "big")
                last = int.from_bytes(body[-2:], "big")
                assert not 0xDC00 <= first <= 0xDFFF, f"part {seq} starts with a low surrogate"
                assert not 0xD800 <= last <= 0xDBFF, f"part {seq} ends with a high surrogate"
    # Greedy: a part ends early only when the next character would not fit.
    if multipart:
        cap = codec.PER_PART[(p.encoding, udh16)]
        for k in range(len(p.texts) - 1):
            used = _units(p.encoding, p.texts[k])
            assert used + _units(p.encoding, p.texts[k + 1][0]) > cap, f"part {k + 1} not full"
    assert "".join(p.texts) == text


@given(texts, refs())
def test_round_trip_through_decode(text, ref_udh16):
    """Each payload decodes to its part's text with the right ref/total/seq; joined, the text."""
    ref, udh16 = ref_udh16
    p = codec.plan(text, ref=ref, udh16=udh16)
    udhi = bool(p.esm_class & 0x40)
    decoded = [codec.decode(part, p.data_coding, udhi=udhi) for part in p.parts]
    assert [d.text for d in decoded] == list(p.texts)
    assert "".join(d.text for d in decoded) == text
    if udhi:
        total = len(p.parts)
        assert total > 1
        assert [(d.ref, d.total, d.seq) for d in decoded] == [
            (ref, total, seq) for seq in range(1, total + 1)]
        assert all(len(d.udh) == (7 if udh16 else 6) for d in decoded)
    else:
        assert len(p.parts) == 1
        assert (decoded[0].ref, decoded[0].total, decoded[0].seq, decoded[0].udh) == (
            None, None, None, b"")


@given(st.one_of(gsm7_texts, boundary_texts().filter(oracle.is_gsm7)), st.booleans())
def test_packed_round_trip_for_gsm7_parts(text, udh16):
    """Packing each part's septets after its UDH (with the fill bits) decodes with packed=True;
    the one documented ambiguity is a trailing '@'/CR that ends exactly on an octet boundary."""
    p = codec.plan(text, udh16=udh16)
    udhi = bool(p.esm_class & 0x40)
    for part, part_text in zip(p.parts, p.texts, strict=True):
        udh_len = 1 + part[0] if udhi else 0
        fill = (7 - (udh_len * 8) % 7) % 7
        septets = part[udh_len:]
        packed = part[:udh_len] + core.pack_septets(septets, fill)
        got = codec.decode(packed, 0, udhi=udhi, packed=True).text
        if (udh_len * 8 + fill + 7 * len(septets)) % 8 == 0 and part_text[-1:] in ("@", "\r"):
            assert got == part_text[:-1]
        else:
            assert got == part_text


# ---------------------------------------------------------------------------------------------
# Boundaries, one by one.


def _sizes(p) -> list[int]:
    return [_units(p.encoding, t) for t in p.texts]


@pytest.mark.parametrize(("n", "parts"), [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_single_and_concatenated_limits(n, parts):
    p = codec.plan("a" * n)
    assert len(p.parts) == parts == codec.count("a" * n).parts
    assert p.esm_class == (0x40 if parts > 1 else 0)


@pytest.mark.parametrize(("n", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_single_and_concatenated_limits(n, parts):
    text = "ç" * n
    p = codec.plan(text)
    assert p.encoding == "ucs2"
    assert len(p.parts) == parts == codec.count(text).parts


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("delta", [-1, 0, 1])
def test_multiples_of_153_septets(k, delta):
    n = 153 * k + delta
    p = codec.plan("a" * n)
    expected = 1 if n <= 160 else math.ceil(n / 153)
    assert len(p.parts) == expected
    if expected > 1:
        assert _sizes(p) == [153] * (expected - 1) + [n - 153 * (expected - 1)]
        assert all(len(part) == 6 + 153 for part in p.parts[:-1])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_euro_straddling_each_boundary_moves_to_the_next_part(k):
    """152 + 153 * (k - 1) 'a' then '€': the pair would occupy septets 153k and 153k + 1."""
    head = "a" * (152 + 153 * (k - 1))
    text = head + "€" + "a" * 10
    p = codec.plan(text)
    sizes = _sizes(p)
    assert sizes[k - 1] == 152  # the part that would have cut the pair ends one septet short
    assert p.texts[k].startswith("€")
    assert p.parts[k][6:8] == b"\x1b\x65"
    assert not _ends_in_bare_esc(p.parts[k - 1][6:])


def test_euro_exactly_at_the_end_of_a_part_fits():
    text = "a" * 151 + "€" + "a" * 10
    p = codec.plan(text)
    assert _sizes(p) == [153, 10]
    assert p.parts[0].endswith(b"\x1b\x65")


def test_emoji_straddling_67_moves_to_the_next_part():
    text = "ç" * 66 + "😀" + "ç" * 10
    p = codec.plan(text)
    assert _sizes(p) == [66, 12]
    assert p.texts[1].startswith("😀")
    assert p.parts[1][6:10] == "😀".encode("utf-16-be") == b"\xd8\x3d\xde\x00"


def test_sixteen_bit_reference_capacities_and_header():
    p = codec.plan("a" * 200, ref=0x1234, udh16=True)
    assert _sizes(p) == [152, 48]
    assert p.parts[0][:7] == bytes.fromhex("06 08 04 12 34 02 01")
    assert p.parts[1][:7] == bytes.fromhex("06 08 04 12 34 02 02")
    u = codec.plan("ç" * 100, ref=0xFFFF, udh16=True)
    assert _sizes(u) == [66, 34]
    assert u.parts[0][:7] == bytes.fromhex("06 08 04 FF FF 02 01")
    # ESC pair at the 152 boundary, emoji at the 66 boundary.
    assert _sizes(codec.plan("a" * 151 + "€" + "a" * 10, udh16=True)) == [151, 12]
    assert _sizes(codec.plan("ç" * 65 + "😀" + "ç" * 10, udh16=True)) == [65, 12]


def test_exactly_255_parts_is_sendable():
    p = codec.plan("a" * (255 * 153), ref=9)
    assert len(p.parts) == 255
    assert p.parts[-1][:6] == bytes([5, 0, 3, 9, 255, 255])
    assert codec.count("a" * (255 * 153)).sendable
    assert len(codec.plan("a" * (255 * 152), udh16=True).parts) == 255
    assert len(codec.plan("ç" * (255 * 67)).parts) == 255


@pytest.mark.parametrize(
    ("text", "udh16", "units", "encoding"),
    [("a" * (255 * 153 + 1), False, 255 * 153 + 1, "gsm7"),
     ("a" * (255 * 152 + 1), True, 255 * 152 + 1, "gsm7"),
     ("ç" * (255 * 67 + 1), False, 255 * 67 + 1, "ucs2"),
     # 38 762 septets would fit 254 parts of 153, but a part holds only 76 pairs (152 septets).
     ("€" * 19_381, False, 38_762, "gsm7")],
)
def test_one_unit_past_255_parts_raises_too_many_parts(text, udh16, units, encoding):
    with pytest.raises(codec.TooManyParts) as info:
        codec.plan(text, udh16=udh16)
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, codec.CodecError)
    assert "255" in str(err)
    assert str(units) in str(err)
    assert (err.units, err.encoding) == (units, encoding)
    assert err.parts_needed == codec.count(text, udh16=udh16).parts
    assert err.parts_needed > 255
    c = codec.count(text, udh16=udh16)
    assert c.parts > 255
    assert not c.sendable


def test_count_reports_parts_far_past_the_limit():
    c = codec.count("a" * 100_000)
    assert (c.units, c.parts, c.sendable) == (100_000, math.ceil(100_000 / 153), False)


def test_empty_text_is_one_empty_part():
    p = codec.plan("")
    assert (p.encoding, p.data_coding, p.esm_class, p.units) == ("gsm7", 0, 0, 0)
    assert (p.parts, p.texts) == ((b"",), ("",))
    c = codec.count("")
    assert (c.parts, c.units, c.per_part, c.sendable) == (1, 0, 160, True)


def test_single_part_has_no_udh_even_with_a_reference():
    p = codec.plan("Hello", ref=200, udh16=True)
    assert p.parts == (b"Hello",)
    assert p.esm_class == 0


def test_split_may_cut_words_and_crlf():
    text = "a" * 152 + "\r\n" + "b" * 10
    p = codec.plan(text)
    assert p.texts[0].endswith("\r")
    assert p.texts[1].startswith("\n")


@pytest.mark.parametrize(("text", "per_part"),
                         [("a", 160), ("ç", 70), ("a" * 161, 153), ("ç" * 71, 67)])
def test_count_per_part(text, per_part):
    assert codec.count(text).per_part == per_part
    if per_part in (153, 67):
        assert codec.count(text, udh16=True).per_part == per_part - 1


# ---------------------------------------------------------------------------------------------
# Errors.


@pytest.mark.parametrize("text", ["\ud800", "a\udc00b", "😀\udbff", "€" + "\ud83d"])
def test_lone_surrogate_is_invalid_text(text):
    with pytest.raises(codec.InvalidText) as info:
        codec.plan(text)
    assert isinstance(info.value, ValueError)
    assert "surrogate" in str(info.value)
    with pytest.raises(codec.InvalidText):
        codec.count(text)


@pytest.mark.parametrize(("ref", "udh16"), [(-1, False), (256, False), (-1, True), (65536, True)])
def test_reference_out_of_range(ref, udh16):
    with pytest.raises(ValueError, match="ref"):
        codec.plan("a" * 200, ref=ref, udh16=udh16)


@pytest.mark.parametrize("ref", [2**31, 2**63, -(2**40)])
def test_huge_reference_is_a_value_error(ref):
    with pytest.raises(ValueError):
        codec.plan("a" * 200, ref=ref)


def test_reference_is_checked_even_for_a_single_part():
    with pytest.raises(ValueError):
        codec.plan("short", ref=256)


@pytest.mark.parametrize("bad", [None, b"abc", 42, bytearray(b"a"), ["a"]])
def test_non_str_is_type_error(bad):
    with pytest.raises(TypeError):
        codec.plan(bad)
    with pytest.raises(TypeError):
        codec.count(bad)
    with pytest.raises(TypeError):
        codec.transliterate(bad)


def test_result_objects_cannot_be_built_by_hand():
    with pytest.raises(TypeError):
        codec.Plan()
    with pytest.raises(TypeError):
        codec.Count()
    with pytest.raises(TypeError):
        codec.Decoded()
