"""Hypothesis strategies for the codec tests, biased toward what breaks SMS codecs.

Uniformly random Unicode almost never lands on the interesting cases (a text of exactly 153
septets whose last character is an extension character, an emoji at UTF-16 unit 67, 255 parts),
so the strategies here mix:

* ``arbitrary_texts``: any Unicode text without lone surrogates (mostly UCS-2, short);
* ``trouble_texts``: texts over a small alphabet of GSM-7 traps (extension characters, '@' which
  is septet 0x00, NUL which is not GSM-7 at all, '§', 'ç', CR/LF, emoji, Greek lookalikes ...);
* ``boundary_texts``: a filler repeated up to a part boundary (160, 70, k * 153, k * 67, ...)
  with a few trouble characters inserted, preferably right at a boundary;
* ``huge_texts``: texts around the 255-part limit (up to about 40 000 septets), built by
  repetition so that generating them stays cheap.
"""

from __future__ import annotations

from hypothesis import strategies as st

#: GSM-7 characters that are easy to get wrong, and characters that must force UCS-2.
GSM7_TRAPS = ["@", "$", "¤", "_", "§", "¡", "¿", "Ç", "é", "ù", "Δ", "Ω", "ß", "Ü", "à", "\r", "\n",
              " ", "a", "Z", "0", "?"]
EXTENSION = ["€", "[", "]", "{", "}", "~", "^", "|", "\\", "\x0c"]
NOT_GSM7 = ["ç", "\x00", "`", "\t", "\x1b", "Α", "Ε", "ê", "’", "œ", "\u00a0"]
ASTRAL = ["😀", "🇫", "🇷", "👍", "🏽", "\U00010000", "\U0010ffff"]
TROUBLE = GSM7_TRAPS + EXTENSION + NOT_GSM7 + ASTRAL

no_surrogates = st.characters(blacklist_categories=("Cs",))

arbitrary_texts = st.text(no_surrogates, max_size=200)

trouble_texts = st.text(st.sampled_from(TROUBLE), max_size=400)

#: GSM-7 only (some extension characters): the texts smpplib and GSM-7 specific checks want.
gsm7_texts = st.text(st.sampled_from(GSM7_TRAPS + EXTENSION), max_size=400)

#: Fillers with their cost in their own encoding.
_FILLERS = [("a", 1), ("@", 1), ("€", 2), ("a€", 3), ("ç", 1), ("😀", 2), ("ça", 2), ("a😀", 3),
            ("\x00", 1)]
_CAPACITIES = [70, 160, 67, 66, 153, 152]
_BOUNDARIES = sorted({k * cap for cap in _CAPACITIES for k in range(1, 7)})


@st.composite
def boundary_texts(draw: st.DrawFn) -> str:
    filler, cost = draw(st.sampled_from(_FILLERS))
    target = max(0, draw(st.sampled_from(_BOUNDARIES)) + draw(st.integers(-3, 3)))
    chars = list(filler * (target // cost))
    # Half the time only GSM-7 insertions, so that GSM-7 fillers stay GSM-7.
    pool = draw(st.sampled_from([TROUBLE, GSM7_TRAPS + EXTENSION]))
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.one_of(st.integers(0, len(chars)), st.sampled_from(_BOUNDARIES)))
        pos = min(max(pos + draw(st.integers(-2, 1)), 0), len(chars))
        chars.insert(pos, draw(st.sampled_from(pool)))
    return "".join(chars)


#: The 255-part limits: 255 * 153 / 152 septets, 255 * 67 / 66 UCS-2 units.
_LIMITS = [255 * 153, 255 * 152, 255 * 67, 255 * 66]


@st.composite
def huge_texts(draw: st.DrawFn) -> str:
    filler, cost = draw(st.sampled_from(_FILLERS))
    target = draw(st.one_of(st.sampled_from(_LIMITS).flatmap(lambda n: st.integers(n - 4, n + 4)),
                            st.integers(161, 40_000)))
    pool = st.sampled_from(draw(st.sampled_from([TROUBLE, GSM7_TRAPS + EXTENSION])))
    head = draw(st.text(pool, max_size=5))
    tail = draw(st.text(pool, max_size=5))
    return head + filler * max(0, (target - len(head) - len(tail)) // cost) + tail


#: What most properties run on: everything but the huge texts (they cost milliseconds each).
texts = st.one_of(arbitrary_texts, trouble_texts, gsm7_texts, boundary_texts())

#: Including texts around the 255-part limit.
texts_with_huge = st.one_of(arbitrary_texts, trouble_texts, gsm7_texts, boundary_texts(),
                            huge_texts())


@st.composite
def refs(draw: st.DrawFn) -> tuple[int, bool]:
    """(ref, udh16) with ref in range for the reference size, edges included."""
    udh16 = draw(st.booleans())
    top = 0xFFFF if udh16 else 0xFF
    ref = draw(st.one_of(st.sampled_from([0, 1, top, top - 1, 0x80, 0x100 if udh16 else 0x7F]),
                         st.integers(0, top)))
    return ref, udh16
