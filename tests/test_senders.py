"""Sender ID rules and the STOP mention."""

import pytest

from gateway.senders import (
    InvalidSender,
    Sender,
    SenderKind,
    append_stop_mention,
    classify_sender,
    has_stop_mention,
)


@pytest.mark.parametrize(("sender", "kind", "ton", "npi", "address"), [
    ("MaBoutique", SenderKind.ALPHANUMERIC, 5, 0, "MaBoutique"),
    ("A", SenderKind.ALPHANUMERIC, 5, 0, "A"),
    ("ABCDEFGHIJK", SenderKind.ALPHANUMERIC, 5, 0, "ABCDEFGHIJK"),
    ("Shop 24", SenderKind.ALPHANUMERIC, 5, 0, "Shop 24"),
    ("E.Leclerc", SenderKind.ALPHANUMERIC, 5, 0, "E.Leclerc"),
    ("Pizza-Roma", SenderKind.ALPHANUMERIC, 5, 0, "Pizza-Roma"),
    ("3Suisses", SenderKind.ALPHANUMERIC, 5, 0, "3Suisses"),
    ("+33612345678", SenderKind.INTERNATIONAL, 1, 1, "33612345678"),
    ("+447911123456", SenderKind.INTERNATIONAL, 1, 1, "447911123456"),
    ("+123456789012345", SenderKind.INTERNATIONAL, 1, 1, "123456789012345"),
    ("33612345678", SenderKind.INTERNATIONAL, 1, 1, "33612345678"),
    ("36184", SenderKind.SHORT_CODE, 3, 0, "36184"),
    ("38100", SenderKind.SHORT_CODE, 3, 0, "38100"),
    ("123", SenderKind.SHORT_CODE, 3, 0, "123"),
    ("12345678", SenderKind.SHORT_CODE, 3, 0, "12345678"),
])
def test_valid_senders(sender, kind, ton, npi, address):
    assert classify_sender(sender) == Sender(kind=kind, ton=ton, npi=npi, address=address)


def test_short_code_ton_npi_from_operator_config():
    s = classify_sender("36184", short_code_ton=0, short_code_npi=1)
    assert (s.kind, s.ton, s.npi) == (SenderKind.SHORT_CODE, 0, 1)


@pytest.mark.parametrize(("sender", "says"), [
    ("", "empty"),
    ("MaBoutiqueParis",
     "'MaBoutiqueParis' is 15 characters; an alphanumeric sender has at most 11"),
    ("Crêperie", "contains 'ê'"),
    ("Fish&Chips", "contains '&'"),
    ("Promo_2026", "contains '_'"),
    ("Soldes!", "contains '!'"),
    (" Shop", "leading or trailing space"),
    ("Shop ", "leading or trailing space"),
    ("12-34", "no letter"),
    ("...", "no letter"),
    ("12", "at least 3"),
    ("1234567890123456", "at most 15"),
    ("0612345678", "national number"),
    ("+33", "an international number has 8 to 15"),
    ("+1234567890123456", "has 16 digits"),
    ("+33 6 12 34 56 78", "digits only"),
    ("+0612345678", "starting with 0"),
    ("Shop\n", "contains '\\n'"),
])
def test_invalid_senders_say_why(sender, says):
    with pytest.raises(InvalidSender) as info:
        classify_sender(sender)
    assert says in str(info.value)
    assert isinstance(info.value, ValueError)


def test_sender_is_frozen():
    s = classify_sender("Shop")
    with pytest.raises(AttributeError):
        s.ton = 1  # type: ignore[misc]


@pytest.mark.parametrize(("text", "present"), [
    ("Soldes -50% ! STOP au 36184", True),
    ("Soldes -50% ! stop au 36184", True),
    ("Soldes -50% ! STOP  au\n36184", True),
    ("Soldes -50% ! STOPau36184", True),
    ("Soldes -50% ! STOP au 36185", False),
    ("Soldes -50% ! STOP", False),
    ("", False),
])
def test_has_stop_mention(text, present):
    assert has_stop_mention(text, "STOP au 36184") is present


def test_append_stop_mention():
    m = "STOP au 36184"
    assert append_stop_mention("Soldes -50% !", m) == "Soldes -50% ! STOP au 36184"
    assert append_stop_mention("Soldes -50% !  \n", m) == "Soldes -50% ! STOP au 36184"
    assert append_stop_mention("Soldes\n-50% !", m) == "Soldes\n-50% !\nSTOP au 36184"
    assert append_stop_mention("Promo stop au 36184", m) == "Promo stop au 36184"
    assert append_stop_mention("", m) == m
    with pytest.raises(ValueError):
        has_stop_mention("x", "  ")
