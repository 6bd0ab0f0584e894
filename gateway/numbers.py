"""Phone number normalisation for the gateway: one canonical form (E.164) and one compact key.

Every number the gateway sees (a recipient at intake, a STOP reply's sender, a line of an imported
opt-out file) goes through :func:`normalize`, so that "06 12 34 56 78", "+33 6 12 34 56 78" and
"0033612345678" are the same number everywhere, above all in the STOP list: a STOP recorded for one
spelling must block every other spelling.

Validation is delegated to ``phonenumbers`` (Google's libphonenumber metadata), which knows every
numbering plan. It costs about 30 µs a number, too slow for intake at tens of thousands of messages
a second and for importing millions of lines, so canonical E.164 input ("+33612345678") takes a fast
path: the same metadata, with the same rules as ``phonenumbers.number_type``, compiled once per
country calling code into one regular expression. The fast path can only *accept*; whatever it does
not accept goes through ``phonenumbers`` itself, which then produces the verdict and the reason. So
the fast path never accepts a number that ``phonenumbers`` rejects (``tests/test_numbers.py``
checks the two against each other on every country's example numbers and on random numbers).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import struct

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

__all__ = [
    "MAX_INPUT_LENGTH",
    "FastLines",
    "InvalidNumber",
    "fast_accepts",
    "normalize",
    "pack",
    "unpack",
]

#: Longest raw input we try to parse. The longest sensible spelling of an E.164 number with
#: separators, an international prefix and a national "(0)" is under 40 characters;
#: libphonenumber itself gives up at 250. Anything longer is rejected as ``too_long`` before
#: any regex runs, so a hostile multi-megabyte "number" costs nothing.
MAX_INPUT_LENGTH = 64

#: E.164: a country code that never starts with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_PACK = struct.Struct(">Q")

_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "a fixed-line number",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal number",
    PhoneNumberType.PAGER: "a pager number",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail number",
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}


class InvalidNumber(ValueError):
    """A number the gateway will not send to, with a machine-readable ``reason``.

    ``reason`` is one of ``not_a_number``, ``invalid_country_code``, ``too_short``, ``too_long``,
    ``invalid`` (well formed but not allocated in its numbering plan) and ``not_mobile`` (valid
    but cannot receive SMS: fixed line, toll free, ...). The API reports it with
    ``invalid_number``; the message says what was wrong with which input.
    """

    def __init__(self, raw: str, reason: str, detail: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(f"{_shown(raw)}: {detail}")


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= MAX_INPUT_LENGTH else raw[:MAX_INPUT_LENGTH] + "…")


# ---------------------------------------------------------------------------------------------
# Fast path: canonical E.164, compiled from phonenumbers' own metadata
# ---------------------------------------------------------------------------------------------

def _lengths(desc: object) -> frozenset[int]:
    return frozenset(n for n in (getattr(desc, "possible_length", None) or ()) if n > 0)


def _desc_regex(desc: object, implied: frozenset[int] = frozenset()) -> str | None:
    """The regex saying "this national number matches this PhoneNumberDesc", as
    ``phonenumbers._is_number_matching_desc`` decides it: the length must be one of the possible
    lengths (when the desc lists any) and the whole number must match the pattern.

    The pattern comes first (most descs fail on the first digit or two, and the length check
    then never runs), and the length check is left out when the number is known to have one of
    the desc's lengths already: ``implied``, the general desc's lengths, which every regex
    below tests first. Each saves a lookahead per number: a French mobile costs half the time
    of length-first, with the same verdicts."""
    pattern = getattr(desc, "national_number_pattern", None)
    if desc is None or not pattern:
        return None
    lengths = _lengths(desc)
    if not lengths or (implied and lengths >= implied):
        return f"(?:{pattern})\\Z"
    alternatives = "|".join(rf"[0-9]{{{n}}}" for n in sorted(lengths))
    return f"(?=(?:{pattern})\\Z)(?:{alternatives})\\Z"


def _compile_valid(metadata: PhoneMetadata) -> re.Pattern[str] | None:
    """One regex equivalent to ``_number_type_helper(nsn, metadata) != UNKNOWN``: the general
    desc and at least one type desc match (mobile is reached only when fixed line is not, but
    either way one of them matches)."""
    general = _desc_regex(metadata.general_desc)
    if general is None:
        return None
    implied = _lengths(metadata.general_desc)
    types = [_desc_regex(getattr(metadata, name), implied) for name in (
        "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
        "voicemail", "fixed_line", "mobile")]
    alternatives = "|".join(f"(?={rx})" for rx in types if rx is not None)
    return re.compile(f"(?={general})(?:{alternatives})") if alternatives else None


def _compile_mobile(metadata: PhoneMetadata) -> re.Pattern[str] | None:
    """One regex equivalent to ``_number_type_helper(nsn, metadata) in _MOBILE_TYPES``.

    ``_number_type_helper`` returns UNKNOWN unless the general desc matches, then the first of
    premium rate, toll free, shared cost, VoIP, personal, pager, UAN, voicemail that matches;
    then FIXED_LINE_OR_MOBILE if fixed line matches and (the mobile pattern is the same or mobile
    matches), FIXED_LINE if only fixed line matches, MOBILE if only mobile matches. "Mobile-like"
    is therefore: general and none of the eight, and (fixed line if the patterns are the same,
    else mobile), since fixed-and-mobile and mobile-only both need mobile.
    """
    general = _desc_regex(metadata.general_desc)
    if general is None:
        return None
    parts = [f"(?={general})"]
    implied = _lengths(metadata.general_desc)
    for name in ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                 "pager", "uan", "voicemail"):
        rx = _desc_regex(getattr(metadata, name), implied)
        if rx is not None:
            parts.append(f"(?!{rx})")
    final = _desc_regex(
        metadata.fixed_line if metadata.same_mobile_and_fixed_line_pattern else metadata.mobile,
        implied,
    )
    if final is None:
        return None
    parts.append(f"(?={final})")
    return re.compile("".join(parts))


_Fast = tuple[re.Pattern[str] | None, re.Pattern[str] | None]


def _fast_table() -> dict[str, _Fast]:
    """Country calling code (as digits) -> (mobile regex, valid regex); None means "always slow".

    Only codes with one region qualify: for shared codes (+1, +44, +262, ...) phonenumbers first
    picks the region from the number, and we leave that to it. Countries whose national prefix
    for parsing is anything but absent or "0" are left out too: there ``parse`` may strip digits
    even after "+cc". The fast path also refuses national numbers starting with 0 (Italian
    leading zeros, national prefixes), which ``parse`` treats specially.
    """
    table: dict[str, _Fast] = {}
    for cc, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        compiled: _Fast = (None, None)
        if len(regions) == 1 and regions[0] != "001":
            metadata = PhoneMetadata.metadata_for_region(regions[0], None)
            if metadata is not None and metadata.national_prefix_for_parsing in (None, "0"):
                compiled = (_compile_mobile(metadata), _compile_valid(metadata))
        table[str(cc)] = compiled
    return table


_FAST: dict[str, _Fast] | None = None
#: First (up to) 3 digits after "+" -> (country code length, regexes). Country codes are
#: prefix-free and at most 3 digits, so those digits decide the code: one dict lookup.
_BY_PREFIX: dict[str, tuple[int, _Fast]] = {}


def _resolve(head: str) -> tuple[int, _Fast]:
    global _FAST  # noqa: PLW0603  (built on first use: 200 regexes, ~50 ms, not at import)
    table = _FAST
    if table is None:
        table = _FAST = _fast_table()
    found: tuple[int, _Fast] = (0, (None, None))
    for size in (1, 2, 3):
        if head[:size] in table:
            found = (size, table[head[:size]])
            break
    _BY_PREFIX[head] = found
    return found


def fast_accepts(e164: str, mobile: bool = True) -> bool:
    """True only if ``e164``, already in canonical E.164 form (``+`` and digits, which the
    caller has checked), is certainly a valid (mobile, if ``mobile``) number: the fast path of
    :func:`normalize` without its checks, for bulk loaders that check the form themselves.
    False means "ask :func:`normalize`", not "invalid"."""
    head = e164[1:4]
    size, regexes = _BY_PREFIX.get(head) or _resolve(head)
    rx = regexes[0 if mobile else 1]
    if rx is None:
        return False
    nsn = e164[1 + size :]
    return len(nsn) >= 2 and nsn[0] != "0" and rx.match(nsn) is not None


#: What a fast-path regex is made of (``_compile_mobile``, ``_compile_valid`` over the metadata):
#: digits, classes, groups, lookarounds, counted repeats, ``\d`` and the ``\Z`` anchor. Only
#: such a regex is run over a chunk: none of it can match a line's ``\r`` or ``\n``.
_CHUNK_SAFE = re.compile(r"(?:[0-9()\[\]{}|?:=!,\-]|\\[dZ])*")


def _chunk_body(rx: re.Pattern[str]) -> str | None:
    """``rx`` for a national number inside a chunk of lines: ``\\Z`` (end of the number)
    becomes "no digit follows", the same place once the line is ``+``, digits, ``\\r?``."""
    if not _CHUNK_SAFE.fullmatch(rx.pattern):
        return None
    return rx.pattern.replace("\\Z", "(?![0-9])")


def _alternation(entries: list[tuple[str, str]]) -> str:
    """``(digits, regex)`` pairs, the digits prefix-free, as one regex that reads each digit
    once: a trie (``3(?:3...|4...)|4(?:4...)``), since ``re`` tries alternatives in turn."""
    if len(entries) == 1:
        digits, body = entries[0]
        return digits + body
    groups: dict[str, list[tuple[str, str]]] = {}
    for digits, body in entries:
        groups.setdefault(digits[:1], []).append((digits[1:], body))
    return "|".join(f"{d}(?:{_alternation(sub)})" for d, sub in sorted(groups.items()))


def _chunk_pattern(codes: frozenset[str], mobile: bool) -> re.Pattern[bytes] | None:
    entries = []
    for code in codes:
        _size, regexes = _BY_PREFIX.get(code) or _resolve(code)
        rx = regexes[0 if mobile else 1]
        body = None if rx is None else _chunk_body(rx)
        if body is not None:
            # fast_accepts' own conditions: a national number of 2 digits or more, not 0...
            entries.append((code, f"(?=[1-9][0-9]){body}"))
    if not entries:
        return None
    return re.compile(f"\\+(?:{_alternation(sorted(entries))})[0-9]*\\r?".encode("ascii"))


#: Calling codes a :class:`FastLines` regex covers one by one, as they are seen; past that,
#: all of them. Compiling all 174 takes 0.1 s and makes each line 10% slower than one code;
#: adding them one at a time, a chunk apart, would recompile ever larger regexes.
_FEW_CODES = 8


class FastLines:
    """:func:`fast_accepts` over a whole chunk of lines in one regex call, for bulk loaders.

    :meth:`strip` returns the chunk with every line that is canonical E.164 and accepted by
    the fast path emptied (its ``\\n`` kept, so line ``k`` of the result is line ``k`` of the
    chunk): one ``re.sub`` instead of a Python call per line, about half the time per number.
    The regex is the fast path's own, built from the same metadata, with its end anchor moved
    from the end of the string to the end of the number; it covers the calling codes seen so
    far (:meth:`note`), starting with ``region``'s (all of them once more than ``_FEW_CODES``
    were seen), and a number of any other code is simply left in place, for the caller's
    per-line path to judge (which then notes its code for the next chunk). So an emptied line
    is one :func:`fast_accepts` accepts, and a line left as it is proves nothing
    (``tests/test_optout_import_fast.py`` checks both ways).

    The caller must also check that an emptied line was canonical: the regex is not anchored
    at the start of a line, so it may empty the tail of an arbitrary one.
    """

    __slots__ = ("_codes", "_mobile", "_pattern", "_stale")

    def __init__(self, *, region: str = "FR", mobile: bool = True) -> None:
        self._mobile = mobile
        code = phonenumbers.country_code_for_region(region)
        self._codes: set[str] = {str(code)} if code else set()
        self._pattern: re.Pattern[bytes] | None = None
        self._stale = True

    def note(self, e164: str) -> None:
        """``e164`` (canonical) was accepted by :func:`fast_accepts`: accept its calling code
        in the chunks to come."""
        head = e164[1:4]
        size, _regexes = _BY_PREFIX.get(head) or _resolve(head)
        code = e164[1 : 1 + size]
        if size and code not in self._codes:
            self._codes.add(code)
            if len(self._codes) > _FEW_CODES and _FAST is not None:
                self._codes.update(_FAST)  # an international list: all of them, once
            self._stale = True

    def strip(self, chunk: bytes) -> bytes | None:
        """``chunk`` (lines ending in ``\\n``) with the accepted lines emptied, or None when no
        code noted so far has a fast rule (then nothing is accepted here)."""
        if self._stale:
            self._pattern = _chunk_pattern(frozenset(self._codes), self._mobile)
            self._stale = False
        return None if self._pattern is None else self._pattern.sub(b"", chunk)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

def normalize(raw: str, *, region: str = "FR", require_mobile: bool = True) -> str:
    """Return ``raw`` as E.164 ("+33612345678"), or raise :class:`InvalidNumber`.

    ``region`` is the country assumed for national spellings ("06 12 34 56 78" with ``FR``);
    international spellings ("+44 7911 123456", "0044 7911 123456" from France) ignore it.
    With ``require_mobile`` (the default: SMS go to mobiles) fixed lines, toll-free and similar
    numbers are rejected with ``not_mobile``; ``FIXED_LINE_OR_MOBILE`` counts as mobile, as in
    plans (US, ...) where the two cannot be told apart.

    Stricter than ``phonenumbers.parse`` on two points: letters are refused (parse would read
    "0800 FLOWERS" as a keypad spelling, which is never an SMS recipient) and so are extensions.
    """
    if not isinstance(raw, str):
        raise TypeError(f"a phone number is a str, not {type(raw).__name__}")
    if _E164.fullmatch(raw) and fast_accepts(raw, require_mobile):
        return raw
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidNumber(
            raw, "too_long", f"{len(raw)} characters; a phone number has at most {MAX_INPUT_LENGTH}"
        )
    if not raw.strip():
        raise InvalidNumber(raw, "not_a_number", "empty")
    if _HAS_LETTER.search(raw):
        raise InvalidNumber(raw, "not_a_number", "contains letters")
    try:
        parsed = phonenumbers.parse(raw, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not_a_number")
        raise InvalidNumber(raw, reason, f"not a phone number ({exc._msg})") from None
    if parsed.extension:
        raise InvalidNumber(raw, "invalid", "has an extension; SMS cannot reach an extension")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if len(e164) > 16:
        raise InvalidNumber(raw, "too_long", f"{e164} has more than the 15 digits E.164 allows")
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(raw, "invalid", f"{e164} is not a valid number in its numbering plan")
    if require_mobile:
        kind = phonenumbers.number_type(parsed)
        if kind not in _MOBILE_TYPES:
            what = _TYPE_NAMES.get(kind, "not a mobile number")
            raise InvalidNumber(raw, "not_mobile", f"{e164} is {what}; SMS need a mobile number")
    return e164


def pack(e164: str) -> bytes:
    """The fixed-width LMDB key of an E.164 number: its digits as one big-endian unsigned 64-bit
    integer (8 bytes).

    Why this form: E.164 has at most 15 digits and never a leading zero after "+", so the digits
    read as an integer are below 10**15 < 2**50 and the mapping is one-to-one; fixed width makes
    ``pack(n) + suffix`` keys of one number adjacent in LMDB's sort order, and big-endian makes
    byte order equal numeric order. 8 bytes instead of up to 16 for the text.
    """
    if not _E164.fullmatch(e164):
        raise ValueError(f"{_shown(e164)} is not E.164 (normalize() it first)")
    return _PACK.pack(int(e164[1:]))


def unpack(key: bytes) -> str:
    """Inverse of :func:`pack`: the first 8 bytes of ``key`` back to "+<digits>"."""
    (value,) = _PACK.unpack_from(key)
    if not 10 <= value < 10**15:
        raise ValueError(f"{bytes(key[:8]).hex()} is not a packed E.164 number")
    return f"+{value}"
