"""Cross-check with smpplib 2.2.4 (``smpplib.gsm.make_parts``), an independent codec.

Where smpplib is right, our payloads must equal its payloads octet for octet, except octet 3 of a
concatenation UDH (smpplib draws the reference at random), with the same data_coding (0 / 8) and
esm_class (0x40 / 0). That holds for texts that avoid smpplib's known deviations, which the last
tests pin down (reference section 14; in each case smpplib is wrong and we are right):

* it cuts GSM-7 at a fixed 153 octets, so an ESC pair straddling a boundary is split: the part
  ends in a bare ESC and the next starts with the orphan code ('€' arrives as ' ' + 'e');
* it cuts UCS-2 at a fixed 134 octets, splitting a surrogate pair (an emoji becomes two U+FFFD);
* its GSM-7 table has '`' at 0x5F instead of '§': '§' falls back to UCS-2 and '`' is sent as 0x5F,
  which every handset shows as '§';
* its table lacks FORM FEED (ESC 0x0A), so a text with one goes UCS-2;
* it treats the control character ESC (U+001B) as a GSM-7 character and sends a raw 0x1B, which
  the receiver combines with the next septet (a character disappears).
"""

from __future__ import annotations

import smpplib.gsm
from hypothesis import example, given
from hypothesis import strategies as st

from gateway import codec
from tests import oracle
from tests.strategies import arbitrary_texts, boundary_texts, gsm7_texts, trouble_texts

#: Characters smpplib maps wrongly (see the module docstring), replaced before comparing.
SMPPLIB_TABLE_BUGS = {"§": "S", "`": "'", "\x0c": "\n", "\x1b": "E"}
_AVOID_TABLE_BUGS = str.maketrans(SMPPLIB_TABLE_BUGS)


def _units(encoding: str, text: str) -> int:
    return oracle.septets(text) if encoding == "gsm7" else oracle.utf16_units(text)


def without_straddles(text: str) -> str:
    """Insert an 'a' (1 unit in either encoding) wherever our splitter ends a part one unit short
    because an ESC or surrogate pair straddles the boundary, until no pair straddles any; then
    fixed-size cutting (smpplib's) and our greedy split agree."""
    text = text.translate(_AVOID_TABLE_BUGS)
    while True:
        encoding, parts = oracle.split(text)
        cap = oracle.PER_PART[(encoding, False)]
        end = 0
        for part in parts[:-1]:
            end += len(part)
            if _units(encoding, part) < cap:
                text = text[:end] + "a" + text[end:]
                break
        else:
            return text


def test_without_straddles_helper():
    fixed = without_straddles("a" * 152 + "€" + "a" * 10)
    assert fixed == "a" * 153 + "€" + "a" * 10
    assert without_straddles("§`") == "S'"


def assert_same_as_smpplib(text: str, ref: int = 0) -> None:
    ours = codec.plan(text, ref=ref)
    theirs, encoding, esm_class = smpplib.gsm.make_parts(text)
    assert encoding == ours.data_coding
    assert esm_class == ours.esm_class
    assert len(theirs) == len(ours.parts)
    if len(theirs) == 1:
        assert theirs[0] == ours.parts[0]
        return
    assert len({part[3] for part in theirs}) == 1  # one reference for the whole message
    for k, (o, t) in enumerate(zip(ours.parts, theirs, strict=True)):
        assert o[3] == ref
        assert o[:3] + o[4:] == t[:3] + t[4:], f"part {k + 1} differs"


agreeable_texts = st.one_of(arbitrary_texts, trouble_texts, gsm7_texts, boundary_texts())


@given(agreeable_texts.map(without_straddles), st.integers(0, 255))
@example("a" * 153 + "€" + "a" * 152, 0)
@example("ç" * 67 + "😀" * 30, 1)
def test_same_parts_as_smpplib(text, ref):
    assert_same_as_smpplib(text, ref)


def test_same_as_smpplib_explicit_cases():
    for text in ["", "Hello world", "@£$¥", "a" * 160, "a" * 161, "a" + "€" * 80,
                 "€" * 80, "[x]" * 50, "ç" * 70, "ç" * 71, "ç" + "😀" * 35,
                 "STOP au 36184 " * 40, "é" * 153 * 3, "Ω" * 500]:
        assert_same_as_smpplib(text, ref=0x42)


# ---------------------------------------------------------------------------------------------
# Where smpplib is wrong.


def _join_decoded(parts: list[bytes], data_coding: int, udhi: bool) -> str:
    return "".join(codec.decode(p, data_coding, udhi=udhi).text for p in parts)


def test_smpplib_splits_an_esc_pair_and_we_do_not():
    text = "a" * 152 + "€" + "a" * 152
    theirs, encoding, esm = smpplib.gsm.make_parts(text)
    assert (encoding, esm) == (0, 0x40)
    assert len(theirs) == 2  # fixed 153-octet chunks
    assert theirs[0].endswith(b"a\x1b")  # bare ESC at the end of part 1
    assert theirs[1][6:7] == b"\x65"  # orphan code at the start of part 2
    assert _join_decoded(theirs, 0, True) == "a" * 152 + " " + "e" + "a" * 152  # not the text
    ours = codec.plan(text)
    assert len(ours.parts) == 3
    assert not ours.parts[0].endswith(b"\x1b")
    assert _join_decoded(list(ours.parts), 0, True) == text


def test_smpplib_splits_a_surrogate_pair_and_we_do_not():
    text = "ç" * 66 + "😀" + "ç" * 66
    theirs, encoding, _ = smpplib.gsm.make_parts(text)
    assert encoding == 8
    assert theirs[0].endswith(b"\xd8\x3d")  # high surrogate ends part 1
    assert theirs[1][6:8] == b"\xde\x00"  # low surrogate starts part 2
    assert "\ufffd" in _join_decoded(theirs, 8, True)
    ours = codec.plan(text)
    assert [len(p) - 6 for p in ours.parts] == [132, 134, 2]
    assert _join_decoded(list(ours.parts), 8, True) == text


def test_smpplib_sends_section_sign_in_ucs2_we_send_gsm7():
    theirs, encoding, _ = smpplib.gsm.make_parts("Art. 5 §2")
    assert encoding == 8
    assert theirs == ["Art. 5 §2".encode("utf-16-be")]
    ours = codec.plan("Art. 5 §2")
    assert (ours.data_coding, ours.parts) == (0, (b"Art. 5 \x5f2",))


def test_smpplib_sends_backtick_as_0x5f_which_handsets_show_as_section_sign():
    theirs, encoding, _ = smpplib.gsm.make_parts("`code`")
    assert (encoding, theirs) == (0, [b"\x5fcode\x5f"])
    assert codec.decode(theirs[0], 0).text == "§code§"  # what the recipient reads
    ours = codec.plan("`code`")
    assert (ours.encoding, ours.parts) == ("ucs2", ("`code`".encode("utf-16-be"),))


def test_smpplib_lacks_form_feed():
    theirs, encoding, _ = smpplib.gsm.make_parts("page\x0cbreak")
    assert (encoding, theirs) == (8, ["page\x0cbreak".encode("utf-16-be")])
    ours = codec.plan("page\x0cbreak")
    assert (ours.encoding, ours.parts) == ("gsm7", (b"page\x1b\x0abreak",))


def test_smpplib_sends_a_raw_esc_control_character():
    theirs, encoding, _ = smpplib.gsm.make_parts("x\x1by")
    assert (encoding, theirs) == (0, [b"x\x1by"])
    assert codec.decode(theirs[0], 0).text == "xy"  # ESC swallowed the next septet's meaning
    ours = codec.plan("x\x1by")
    assert ours.encoding == "ucs2"
    assert codec.decode(ours.parts[0], 8).text == "x\x1by"
