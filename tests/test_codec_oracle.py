"""Property tests: the compiled core agrees with the pure-Python oracle on arbitrary input.

The oracle (``tests/oracle.py``) is the reference rules written as plainly as possible and checked
against the reference's examples in ``test_codec_reference.py``; here hypothesis looks for any
input on which the C loops disagree with it: every attribute of ``plan()`` including each part's
octets, ``count()``, and each low-level function of ``gateway._core``.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway import _core as core
from gateway import codec
from tests import oracle
from tests.strategies import refs, texts, texts_with_huge


@given(texts_with_huge, refs())
@example("a" * 255 * 153, (7, False))
@example("a" * (255 * 153 + 1), (7, False))
@example("a" * 152 + "€" + "a" * 152, (0xCC, False))
@example("ç" * 66 + "😀", (0xABCD, True))
@example("", (0, False))
def test_plan_matches_oracle(text, ref_udh16):
    ref, udh16 = ref_udh16
    try:
        expected = oracle.plan(text, ref=ref, udh16=udh16)
    except ValueError:
        with pytest.raises(codec.TooManyParts):
            codec.plan(text, ref=ref, udh16=udh16)
        return
    got = codec.plan(text, ref=ref, udh16=udh16)
    assert got.encoding == expected.encoding
    assert got.data_coding == expected.data_coding
    assert got.esm_class == expected.esm_class
    assert got.units == expected.units
    assert got.texts == expected.texts
    assert len(got.parts) == len(expected.parts)
    for i, (g, e) in enumerate(zip(got.parts, expected.parts, strict=True)):
        assert g == e, f"part {i + 1} of {len(expected.parts)} differs"
    assert got.transliterated is False


@given(texts_with_huge, st.booleans())
def test_count_matches_oracle(text, udh16):
    expected = oracle.count(text, udh16=udh16)
    got = codec.count(text, udh16=udh16)
    assert (got.encoding, got.units, got.parts, got.per_part) == (
        expected.encoding, expected.units, expected.parts, expected.per_part)
    assert got.sendable == (expected.parts <= 255)
    assert got.transliterated is False


@given(texts)
def test_septet_count_and_is_gsm7_match_oracle(text):
    expected = oracle.septets(text)
    assert core.septet_count(text) == (-1 if expected is None else expected)
    assert core.is_gsm7(text) == oracle.is_gsm7(text)


@given(texts)
def test_encode_septets_matches_oracle_or_names_the_first_bad_character(text):
    if oracle.is_gsm7(text):
        assert core.encode_septets(text) == oracle.encode_septets(text)
        return
    index, bad = next((i, c) for i, c in enumerate(text) if not oracle.is_gsm7(c))
    with pytest.raises(codec.InvalidText) as info:
        core.encode_septets(text)
    assert f"U+{ord(bad):04X}" in str(info.value)
    assert f"index {index}" in str(info.value)


#: Octet strings that look like unpacked GSM-7, with ESC, '@' and non-septets (> 0x7F) common.
septet_bytes = st.one_of(
    st.binary(max_size=50),
    st.lists(st.sampled_from([0x00, 0x1B, 0x0A, 0x0D, 0x14, 0x65, 0x41, 0x7F, 0x80, 0xFF, 0x40]),
             max_size=50).map(bytes),
)


@given(septet_bytes)
def test_decode_septets_matches_oracle(data):
    assert core.decode_septets(data) == oracle.decode_septets(data)


@given(texts)
def test_decode_septets_inverts_encode_septets(text):
    if oracle.is_gsm7(text):
        assert core.decode_septets(core.encode_septets(text)) == text


#: Septet values, with '@' (0x00), CR (0x0D, the padding character) and ESC over-represented.
septet_lists = st.lists(st.one_of(st.integers(0, 0x7F), st.sampled_from([0x00, 0x0D, 0x1B])),
                        max_size=200).map(bytes)
fill_bits = st.integers(0, 6)


@given(septet_lists, fill_bits)
def test_pack_septets_matches_oracle(septets, fill):
    packed = core.pack_septets(septets, fill)
    assert packed == oracle.pack_septets(septets, fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8


@given(st.binary(max_size=60), fill_bits, st.data())
def test_unpack_septets_with_count_matches_oracle(data, fill, draw):
    available = max(0, (8 * len(data) - fill) // 7)
    count = draw.draw(st.integers(0, available))
    assert core.unpack_septets(data, count, fill) == oracle.unpack_septets(data, count, fill)
    with pytest.raises(codec.DecodeError):
        core.unpack_septets(data, available + 1, fill)


@given(septet_lists, fill_bits)
def test_unpack_inverts_pack(septets, fill):
    packed = core.pack_septets(septets, fill)
    assert core.unpack_septets(packed, len(septets), fill) == septets
    # Without a count the length is inferred: exact, except that when the septets end exactly on
    # an octet boundary a last '@' (0x00) or CR cannot be told from padding and is dropped.
    inferred = core.unpack_septets(packed, None, fill)
    exact_end = (fill + 7 * len(septets)) % 8 == 0
    if exact_end and septets and septets[-1] in (0x00, 0x0D):
        assert inferred == septets[:-1]
    else:
        assert inferred == septets


@given(texts)
def test_encode_ucs2_is_utf16be(text):
    assert core.encode_ucs2(text) == oracle.encode_ucs2(text) == text.encode("utf-16-be")
    assert core.decode_ucs2(core.encode_ucs2(text)) == text


# Received payloads: a UDH made of information elements (concatenation IEs, valid or not, and
# others), sometimes with a wrong UDHL, then a body.

_ies = st.one_of(
    st.tuples(st.just(0x00), st.binary(min_size=3, max_size=3)),
    st.tuples(st.just(0x08), st.binary(min_size=4, max_size=4)),
    st.tuples(st.just(0x00), st.tuples(st.integers(0, 255), st.integers(0, 3),
                                       st.integers(0, 3)).map(bytes)),
    st.tuples(st.sampled_from([0x00, 0x08, 0x04, 0x05, 0x24, 0x25, 0x70]),
              st.binary(max_size=5)),
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[bytes, bool]:
    if draw(st.booleans()):
        return draw(st.binary(max_size=30)), draw(st.booleans())
    ies = b"".join(bytes([iei, len(v)]) + v for iei, v in draw(st.lists(_ies, max_size=3)))
    udhl = max(0, min(255, len(ies) + draw(st.sampled_from([0, 0, 0, -1, 1, 2]))))
    body = draw(st.one_of(st.binary(max_size=20),
                          texts.map(lambda t: t.encode("utf-16-be")[:40])))
    return bytes([udhl]) + ies + body, True


data_codings = st.one_of(
    st.sampled_from([0x00, 0x01, 0x03, 0x08, 0x02, 0x04, 0xC0, 0xD0, 0xDF, 0xE0, 0xEF, 0xF0,
                     0xF3, 0xF4, 0xF7, 0xFF]),
    st.integers(0, 255),
)


@given(payloads(), data_codings)
def test_decode_matches_oracle(payload_udhi, data_coding):
    payload, udhi = payload_udhi
    try:
        expected = oracle.decode(payload, data_coding, udhi=udhi)
    except ValueError:
        with pytest.raises(codec.DecodeError):
            codec.decode(payload, data_coding, udhi=udhi)
        return
    got = codec.decode(payload, data_coding, udhi=udhi)
    assert (got.text, got.ref, got.total, got.seq, got.udh) == (
        expected.text, expected.ref, expected.total, expected.seq, expected.udh)
