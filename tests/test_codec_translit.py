"""Transliteration ("smart encoding"): opt-in, GSM-7 or nothing, never touching GSM-7 characters.

One typographic apostrophe or no-break space switches a French message to UCS-2 and cuts a part
from 160 to 70 characters; transliteration replaces such characters by close GSM-7 forms. Because
it changes what the recipient reads, it must only run when asked, must leave characters GSM-7
already has (é è à ù É Ç ü ...) alone, and must only be applied when it makes the whole text GSM-7.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from gateway import codec
from gateway._core._translit import TABLE
from tests import oracle
from tests.strategies import texts

FRENCH = (
    "L’été « caniculaire » arrive\u00a0! Profitez-en… Œuvres, fêtes, château, île, côte, sûr, "
    "Noël, maïs, reçu\u202f: -50\u00a0% chez nous. STOP au 36184"
)


def test_french_text_becomes_gsm7_and_costs_fewer_parts():
    plain = codec.count(FRENCH)
    smart = codec.count(FRENCH, transliterate=True)
    assert (plain.encoding, plain.transliterated) == ("ucs2", False)
    assert (smart.encoding, smart.transliterated) == ("gsm7", True)
    assert smart.parts < plain.parts
    p = codec.plan(FRENCH, transliterate=True)
    assert p.transliterated
    assert (p.encoding, p.data_coding) == ("gsm7", 0)
    assert "".join(p.texts) == codec.transliterate(FRENCH)
    assert oracle.is_gsm7("".join(p.texts))
    assert len(p.parts) == smart.parts


@pytest.mark.parametrize(
    ("char", "replacement"),
    [("’", "'"), ("«", '"'), ("»", '"'), ("…", "..."), ("\u00a0", " "), ("\u202f", " "),
     ("œ", "oe"), ("Œ", "OE"), ("ê", "e"), ("â", "a"), ("î", "i"), ("ô", "o"), ("û", "u"),
     ("ë", "e"), ("ï", "i"), ("ç", "c")],
)
def test_french_characters(char, replacement):
    assert codec.transliterate(f"x{char}y") == f"x{replacement}y"
    assert (char, replacement) in codec.transliteration_changes(f"a{char}b{char}")


def test_changes_are_distinct_and_in_order_of_first_appearance():
    assert codec.transliteration_changes("’ç’é…") == [("’", "'"), ("ç", "c"), ("…", "...")]
    assert codec.transliteration_changes("déjà vu") == []


@pytest.mark.parametrize("char", list("éèàùÉÇüÜäÄöÖñÑ@$§¿¡€[]{}~^|\\\x0c\r\n_"))
def test_gsm7_characters_are_never_changed(char):
    text = f"reçu {char} ’"
    out = codec.transliterate(text)
    assert out == f"recu {char} '"
    assert codec.plan(text, transliterate=True).texts == (out,)


def test_every_table_entry_yields_gsm7():
    for src, dst in TABLE.items():
        assert not oracle.is_gsm7(src), f"{src!r} is GSM-7 and must not be in the table"
        out = codec.transliterate(src)
        assert out == dst
        assert oracle.is_gsm7(out), f"{src!r} -> {out!r} is not GSM-7"


def test_not_applied_when_the_text_stays_ucs2():
    text = "Merci 😀 pour l’accueil"
    for p in (codec.plan(text, transliterate=True), codec.count(text, transliterate=True)):
        assert p.encoding == "ucs2"
        assert p.transliterated is False
    p = codec.plan(text, transliterate=True)
    assert "".join(p.texts) == text
    assert p.parts == (text.encode("utf-16-be"),)


def test_transliterate_returns_the_same_object_when_nothing_changes():
    text = "rien à changer"
    assert codec.transliterate(text) is text
    assert codec.plan(text, transliterate=True).transliterated is False


def test_transliteration_that_removes_characters():
    # Zero-width space and soft hyphen disappear; the result is shorter.
    assert codec.transliterate("a\u200bb\u00adc") == "abc"
    p = codec.plan("a\u200bb", transliterate=True)
    assert (p.texts, p.units, p.transliterated) == (("ab",), 2, True)


def test_lone_surrogate_still_invalid_with_transliteration():
    with pytest.raises(codec.InvalidText):
        codec.plan("’\ud800", transliterate=True)


@given(texts)
def test_without_the_option_the_text_is_never_changed(text):
    p = codec.plan(text) if codec.count(text).sendable else None
    if p is not None:
        assert "".join(p.texts) == text
        assert p.transliterated is False
    assert codec.count(text).transliterated is False


@given(texts)
def test_transliteration_is_all_or_nothing(text):
    """Applied exactly when it makes the whole text GSM-7; GSM-7 characters never change."""
    out = codec.transliterate(text)
    c = codec.count(text, transliterate=True)
    if oracle.is_gsm7(text):
        assert out == text
        assert not c.transliterated
    elif oracle.is_gsm7(out):
        assert c.transliterated
        assert (c.encoding, c.units) == ("gsm7", oracle.septets(out))
    else:
        assert not c.transliterated
        assert (c.encoding, c.units) == ("ucs2", oracle.utf16_units(text))
    # Character by character: GSM-7 characters kept, others replaced from the table or kept.
    assert out == "".join(ch if oracle.is_gsm7(ch) else TABLE.get(ch, ch) for ch in text)


@pytest.mark.parametrize("text", ["…" * 60, "…" * 17_000], ids=["1-part-to-2", "254-parts-to-334"])
def test_transliteration_never_costs_more_parts(text):
    plain = codec.count(text)
    assert plain.sendable
    smart = codec.count(text, transliterate=True)
    assert smart.parts <= plain.parts
    codec.plan(text, transliterate=True)  # must not raise TooManyParts
