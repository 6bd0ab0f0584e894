"""Number normalisation: spellings, rejections with reasons, the fast path against
phonenumbers, and the packed key."""

import random

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import numbers
from gateway.numbers import InvalidNumber, normalize, pack, unpack

MOBILE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


@pytest.mark.parametrize("raw", [
    "06 12 34 56 78", "0612345678", "06.12.34.56.78", "06-12-34-56-78", "+33 6 12 34 56 78",
    "+33612345678", "0033612345678", "00 33 6 12 34 56 78", "+33 (0)6 12 34 56 78",
    " 06 12 34 56 78 ", "+33-6-12-34-56-78",
])
def test_french_spellings(raw):
    assert normalize(raw) == "+33612345678"


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("07 81 23 45 67", "FR", "+33781234567"),
    ("+44 7911 123456", "FR", "+447911123456"),
    ("0044 7911 123456", "FR", "+447911123456"),
    ("07911 123456", "GB", "+447911123456"),
    ("+262 692 12 34 56", "FR", "+262692123456"),   # Réunion (shares +262 with Mayotte)
    ("0692 12 34 56", "RE", "+262692123456"),
    ("+1 202 555 0123", "FR", "+12025550123"),       # US: fixed line or mobile counts
])
def test_other_regions(raw, region, expected):
    assert normalize(raw, region=region) == expected


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "not_a_number"), ("   ", "not_a_number"), ("abc", "not_a_number"),
    ("06 12 AB CD 78", "not_a_number"), ("0800 FLOWERS", "not_a_number"),
    ("+", "not_a_number"), ("+-", "not_a_number"),
    ("06 12", "invalid"), ("+3361234567", "invalid"), ("+336123456789", "invalid"),
    ("+33712345678", "invalid"), ("+33639000000", "invalid"),
    ("01 23 45 67 89", "not_mobile"), ("+33123456789", "not_mobile"),
    ("0800 12 34 56", "not_mobile"), ("+33 8 92 12 34 56", "not_mobile"),
    ("+999 123456789", "invalid_country_code"),
    ("+33 6 12 34 56 78 #12", "invalid"),
    ("1" * 30, "too_long"), ("+33612345678" * 100, "too_long"), ("9" * 10_000, "too_long"),
])
def test_rejections_have_reasons(raw, reason):
    with pytest.raises(InvalidNumber) as info:
        normalize(raw)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    assert len(str(info.value)) < 200  # the message quotes the input, truncated


def test_fixed_line_allowed_when_mobile_not_required():
    assert normalize("01 23 45 67 89", require_mobile=False) == "+33123456789"
    assert normalize("+33123456789", require_mobile=False) == "+33123456789"
    with pytest.raises(InvalidNumber) as info:
        normalize("+33712345678", require_mobile=False)
    assert info.value.reason == "invalid"


def test_non_str_is_a_type_error():
    with pytest.raises(TypeError):
        normalize(33612345678)  # type: ignore[arg-type]


def _slow(e164: str, mobile: bool) -> bool:
    try:
        n = phonenumbers.parse(e164, "FR")
    except phonenumbers.NumberParseException:
        return False
    if phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) != e164:
        return False
    if not phonenumbers.is_valid_number(n):
        return False
    return not mobile or phonenumbers.number_type(n) in MOBILE


def _example_numbers():
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):
            ex = phonenumbers.example_number_for_type(region, kind)
            if ex is not None:
                out.append(phonenumbers.format_number(ex, phonenumbers.PhoneNumberFormat.E164))
    return out


def test_fast_path_agrees_with_phonenumbers_on_examples_and_neighbours():
    rng = random.Random(5)
    candidates = []
    for e in _example_numbers():
        candidates.append(e)
        for _ in range(5):  # same prefix, random tail; and one digit more or less
            i = rng.randrange(4, len(e))
            candidates.append(e[:i] + "".join(rng.choice("0123456789") for _ in e[i:]))
        candidates += [e[:-1], e + "5"]
    checked = 0
    for c in candidates:
        if not numbers._E164.fullmatch(c):
            continue
        for mobile in (True, False):
            if numbers.fast_accepts(c, mobile):
                checked += 1
                assert _slow(c, mobile), (c, mobile)
    assert checked > 500


@given(st.integers(min_value=600_000_000, max_value=799_999_999))
def test_fast_path_never_accepts_what_phonenumbers_rejects_fr(nsn):
    e164 = f"+33{nsn}"
    assert numbers.fast_accepts(e164) == _slow(e164, True)


@given(st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True), st.booleans())
def test_fast_path_is_only_a_shortcut(e164, mobile):
    if numbers.fast_accepts(e164, mobile):
        assert _slow(e164, mobile)
        assert normalize(e164, require_mobile=mobile) == e164


@pytest.mark.parametrize("e164", ["+33612345678", "+1", "+12", "+999999999999999",
                                  "+447911123456", "+10"])
def test_pack_round_trip(e164):
    if e164 == "+1":
        with pytest.raises(ValueError):
            pack(e164)
        return
    key = pack(e164)
    assert len(key) == 8
    assert unpack(key) == e164
    assert unpack(key + b"\x00\x00\x00\x07") == e164  # a suffixed store key


def test_pack_preserves_numeric_order_and_rejects_non_e164():
    nums = sorted(random.Random(1).sample(range(10, 10**15), 1000))
    keys = [pack(f"+{n}") for n in nums]
    assert keys == sorted(keys)
    for bad in ["0612345678", "+0612345678", "+33 6 12", "+1234567890123456", "", "+"]:
        with pytest.raises(ValueError):
            pack(bad)
    with pytest.raises(ValueError):
        unpack(b"\x00" * 8)
