"""STOP and START reply keywords: is this incoming SMS a request to opt out (or back in)?

The law expects an opt-out to work however the person types it, and a missed STOP is a complaint
and a fine; a false STOP only costs one lost recipient. But a reply that merely *contains* "stop"
("stopper", "non stop", "stop ou encore ?") is a conversation, not a request, so the rule is: the
whole reply, once folded, is one keyword phrase, optionally repeated, with a few polite words
around it and optionally the short code it answers.

Folding (:func:`fold`): Unicode compatibility decomposition, accents dropped ("ARRÊT" = "arret"),
case folded, and every run of characters that are not letters or digits (spaces, punctuation,
emoji) turned into one space, then trimmed. So "Stop!!!", " stop. " and "STOP 🙏" all fold to
"stop"; "S.T.O.P" folds to "s t o p", which is not a keyword (we do not guess at spellings).

Accepted shape, on the folded text::

    [polite ...] KEYWORD [KEYWORD ...] [[au|a] SHORTCODE] [polite ...]

* KEYWORD: STOP, ARRET, STOP SMS, STOPSMS, DESABONNER, DESABONNEMENT, DESINSCRIRE, UNSUBSCRIBE,
  plus configured extras (folded the same way, so extras may contain spaces and accents).
* polite: svp, stp, merci, merci beaucoup, s il vous plait, s il te plait, please, pls, thanks,
  bonjour, bonsoir: at most 3 before and 3 after.
* SHORTCODE: 3 to 8 digits. Decision: "STOP 36184" and "STOP au 36184" opt out. People copy the
  mention "STOP au 36184" from the message they received; reading that as anything but STOP
  would ignore the clearest request there is.

START (re-subscription) uses the same shape with the default keyword START only; the daemon acts
on it only when the account enables keyword re-subscription. "abonner" is not a default: in a
reply it is as likely to be a question ("comment m'abonner ?") as a request.

Replies longer than :data:`MAX_REPLY_LENGTH` are never keywords and are not folded at all.
Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "DEFAULT_START_KEYWORDS",
    "DEFAULT_STOP_KEYWORDS",
    "MAX_REPLY_LENGTH",
    "POLITE_WORDS",
    "KeywordMatcher",
    "fold",
    "match_start",
    "match_stop",
]

#: One SMS segment of GSM-7. A STOP phrase with its polite words is under 60 characters; a
#: longer reply is a message, and skipping it bounds the work done on hostile input.
MAX_REPLY_LENGTH = 160

DEFAULT_STOP_KEYWORDS: tuple[str, ...] = (
    "STOP", "ARRET", "ARRÊT", "STOP SMS", "STOPSMS", "DESABONNER", "DÉSABONNER",
    "DESABONNEMENT", "DESINSCRIRE", "UNSUBSCRIBE",
)
DEFAULT_START_KEYWORDS: tuple[str, ...] = ("START",)
POLITE_WORDS: tuple[str, ...] = (
    "svp", "stp", "merci", "merci beaucoup", "s il vous plait", "s il te plait", "please",
    "pls", "thanks", "bonjour", "bonsoir",
)

_NON_ALNUM = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Text reduced for keyword comparison: no accents, case folded, one space between words."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", bare.casefold()).strip()


def _alternation(phrases: Iterable[str]) -> str:
    folded = {fold(p) for p in phrases}
    folded.discard("")
    # Longest first so "stop sms" wins over "stop" (the regex would backtrack anyway; this is
    # only the cheaper order).
    return "|".join(re.escape(p) for p in sorted(folded, key=lambda p: (-len(p), p)))


class KeywordMatcher:
    """A compiled keyword rule. Build once (from config) and call :meth:`matches` per reply."""

    __slots__ = ("_rx", "keywords")

    def __init__(self, keywords: Iterable[str]) -> None:
        self.keywords: tuple[str, ...] = tuple(keywords)
        kw = _alternation(self.keywords)
        if not kw:
            raise ValueError("a keyword rule needs at least one non-empty keyword")
        polite = _alternation(POLITE_WORDS)
        self._rx = re.compile(
            rf"(?:(?:{polite}) ){{0,3}}"
            rf"(?:{kw})(?: (?:{kw}))*"
            r"(?: (?:au |a )?[0-9]{3,8})?"
            rf"(?: (?:{polite})){{0,3}}"
        )

    def matches(self, text: str) -> bool:
        """True if the whole reply is a keyword phrase (see the module doc for the shape)."""
        if len(text) > MAX_REPLY_LENGTH:
            return False
        return self._rx.fullmatch(fold(text)) is not None


@functools.lru_cache(maxsize=64)
def _matcher(keywords: tuple[str, ...]) -> KeywordMatcher:
    return KeywordMatcher(keywords)


def match_stop(text: str, extra: Iterable[str] = ()) -> bool:
    """Is ``text`` an opt-out request? Defaults plus ``extra`` keywords (from config).

    Matchers are cached per keyword set, so calling this per reply compiles nothing after the
    first call.
    """
    return _matcher(DEFAULT_STOP_KEYWORDS + tuple(extra)).matches(text)


def match_start(text: str, extra: Iterable[str] = ()) -> bool:
    """Is ``text`` a re-subscription request? Default keyword START plus ``extra``."""
    return _matcher(DEFAULT_START_KEYWORDS + tuple(extra)).matches(text)
