"""Delivery receipt parsing and message-id matching (gateway/smpp/receipts.py).

Receipts are untrusted, vendor-specific text: besides the reference format, these tests feed the
variants operators actually send (case, key spellings, dates, field order, encodings, TLV-only and
mixed receipts) and check with Hypothesis that no input raises anything but ReceiptParseError.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway._core import encode_septets
from gateway.smpp.receipts import (
    IdFormat,
    Receipt,
    ReceiptParseError,
    ReceiptStat,
    ids_match,
    is_receipt,
    normalize_id,
    parse_receipt,
    receipt_outcome,
    stat_from_word,
)

STANDARD = (
    b"id:0705641595 sub:001 dlvrd:001 submit date:2506010830 done date:2506010831 "
    b"stat:DELIVRD err:000 text:Soldes -50% ce week"
)


# ---------------------------------------------------------------------------------------------
# Sources: text, TLVs, both


def test_text_only_reference_format():
    r = parse_receipt(STANDARD)
    assert r == Receipt(
        message_id="0705641595",
        text_id="0705641595",
        state=ReceiptStat.DELIVRD,
        stat="DELIVRD",
        final=True,
        delivered=True,
        error="000",
        network_error=None,
        submitted=datetime(2025, 6, 1, 8, 30),
        done=datetime(2025, 6, 1, 8, 31),
        sub=1,
        dlvrd=1,
        text="Soldes -50% ce week",
        source="text",
    )


def test_tlv_only_with_empty_short_message():
    r = parse_receipt(
        b"",
        receipted_message_id="2A0F3C7B",
        message_state=5,
        network_error_code=b"\x03\x00\x22",
    )
    assert r.source == "tlv"
    assert r.message_id == "2A0F3C7B"
    assert r.text_id is None
    assert r.state is ReceiptStat.UNDELIV
    assert r.stat == "UNDELIV"
    assert r.final is True
    assert r.delivered is False
    assert r.network_error == (3, 0x22)
    assert (r.submitted, r.done, r.sub, r.dlvrd, r.text, r.error) == (None,) * 6


def test_tlv_id_alone_is_enough():
    r = parse_receipt(b"", receipted_message_id="abc")
    assert (r.message_id, r.state, r.stat, r.final, r.source) == ("abc", None, None, False, "tlv")


def test_tlv_state_alone_is_enough():
    r = parse_receipt(b"", message_state=2)
    assert r.message_id is None
    assert r.delivered is True


def test_mixed_tlvs_win_and_text_fills_the_rest():
    text = (
        b"id:0705641595 sub:001 dlvrd:000 submit date:2506010830 done date:2506010831 "
        b"stat:UNDELIV err:012 text:hi"
    )
    r = parse_receipt(text, receipted_message_id="2A0F3C7B", message_state=2)
    assert r.source == "mixed"
    assert r.message_id == "2A0F3C7B"
    assert r.text_id == "0705641595"
    assert r.state is ReceiptStat.DELIVRD
    assert r.stat == "DELIVRD"
    assert r.delivered is True
    assert r.error == "012"
    assert r.submitted == datetime(2025, 6, 1, 8, 30)
    assert r.dlvrd == 0
    assert r.text == "hi"


def test_mixed_tlv_id_with_text_state():
    r = parse_receipt(b"stat:EXPIRED err:000", receipted_message_id="77")
    assert (r.source, r.message_id, r.state) == ("mixed", "77", ReceiptStat.EXPIRED)


def test_tlv_id_trailing_nul_is_dropped():
    assert parse_receipt(b"", receipted_message_id="12345\x00").message_id == "12345"


def test_out_of_range_message_state_tlv_falls_back_to_text():
    r = parse_receipt(b"id:1 stat:REJECTD", message_state=42)
    assert r.state is ReceiptStat.REJECTD
    assert r.source == "text"


def test_message_payload_carries_the_text_when_short_message_is_empty():
    r = parse_receipt(b"", message_payload=STANDARD)
    assert r.message_id == "0705641595"
    assert r.text == "Soldes -50% ce week"
    assert r.source == "text"


def test_short_message_wins_over_message_payload():
    r = parse_receipt(b"id:1 stat:DELIVRD", message_payload=b"id:2 stat:EXPIRED")
    assert (r.message_id, r.state) == ("1", ReceiptStat.DELIVRD)


# ---------------------------------------------------------------------------------------------
# Tolerant text scanner


def test_hex_id_is_returned_as_received():
    assert parse_receipt(b"id:2a0F3C7B stat:DELIVRD").message_id == "2a0F3C7B"


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("2506010830", datetime(2025, 6, 1, 8, 30)),
        ("250601083059", datetime(2025, 6, 1, 8, 30, 59)),
        ("20250601083059", datetime(2025, 6, 1, 8, 30, 59)),
        ("9912312359", datetime(2099, 12, 31, 23, 59)),
        ("2513010830", None),  # month 13
        ("2502300830", None),  # 30 February
        ("25060108", None),  # 8 digits: neither form
        ("250601083", None),
        ("25O6010830", None),  # letter O, not zero
    ],
)
def test_dates(digits, expected):
    r = parse_receipt(f"id:1 submit date:{digits} done date:{digits} stat:DELIVRD".encode())
    assert r.submitted == expected
    assert r.done == expected


@pytest.mark.parametrize(
    "key",
    ["submit date", "submit_date", "submitdate", "Submit Date", "SUBMIT-DATE", "submit  date"],
)
def test_submit_date_key_spellings(key):
    r = parse_receipt(f"id:1 {key}:2506010830 stat:DELIVRD".encode())
    assert r.submitted == datetime(2025, 6, 1, 8, 30)


def test_done_date_underscore_in_gsm7():
    # An SMSC that sends "done_date" in the GSM default alphabet: '_' is 0x11 there.
    r = parse_receipt(b"id:1 done\x11date:2506010830 stat:DELIVRD", data_coding=0)
    assert r.done == datetime(2025, 6, 1, 8, 30)


def test_uppercase_keys():
    r = parse_receipt(
        b"ID:42 SUB:001 DLVRD:001 SUBMIT DATE:2506010830 DONE DATE:2506010831 "
        b"STAT:DELIVRD ERR:000 TEXT:HELLO"
    )
    assert (r.message_id, r.sub, r.dlvrd, r.state, r.error, r.text) == (
        "42",
        1,
        1,
        ReceiptStat.DELIVRD,
        "000",
        "HELLO",
    )
    assert r.done == datetime(2025, 6, 1, 8, 31)


def test_capitalised_text_key():
    assert parse_receipt(b"id:1 stat:DELIVRD err:000 Text:Bonjour").text == "Bonjour"


def test_missing_text_field_is_none_and_empty_text_is_empty():
    assert parse_receipt(b"id:1 stat:DELIVRD err:000").text is None
    assert parse_receipt(b"id:1 stat:DELIVRD err:000 text:").text == ""


def test_missing_optional_fields():
    r = parse_receipt(b"id:9 stat:EXPIRED")
    assert (r.sub, r.dlvrd, r.submitted, r.done, r.error, r.text) == (None,) * 6
    assert r.state is ReceiptStat.EXPIRED


def test_extra_vendor_fields_in_any_order():
    r = parse_receipt(
        b"smsc_id:XYZ9 stat:DELIVRD imsi:208011234567890 err:000 id:123456 "
        b"mccmnc:20801 sub:001 dlvrd:001 text:hi"
    )
    assert r.message_id == "123456"  # smsc_id: is not id:
    assert r.state is ReceiptStat.DELIVRD
    assert r.error == "000"
    assert r.text == "hi"


def test_key_spelled_inside_another_key_is_not_read():
    r = parse_receipt(b"paid:7 msgid-x id:8 stat:DELIVRD")
    assert r.message_id == "8"


def test_text_that_quotes_keys_does_not_override_fields():
    r = parse_receipt(b"id:1 stat:DELIVRD err:000 text:id:2 stat:EXPIRED err:999")
    assert (r.message_id, r.state, r.error) == ("1", ReceiptStat.DELIVRD, "000")
    assert r.text == "id:2 stat:EXPIRED err:999"


def test_text_first_vendor_order():
    r = parse_receipt(b"text:Hello there id:55 stat:UNDELIV err:001")
    assert r.text == "Hello there"
    assert (r.message_id, r.state, r.error) == ("55", ReceiptStat.UNDELIV, "001")


def test_alternative_key_spellings():
    r = parse_receipt(b"id:5 status:DELIVERED error:000")
    assert (r.state, r.error) == (ReceiptStat.DELIVRD, "000")


def test_space_after_colon():
    r = parse_receipt(b"id: 5 sub: 001 stat: DELIVRD err: 000")
    assert (r.message_id, r.sub, r.state, r.error) == ("5", 1, ReceiptStat.DELIVRD, "000")


def test_empty_value_does_not_swallow_the_next_key():
    r = parse_receipt(b"id:5 sub: dlvrd:001 stat:DELIVRD err:")
    assert (r.sub, r.dlvrd, r.error) == (None, 1, None)


@pytest.mark.parametrize(
    "msg_id",
    [
        "0705641595123456",  # longer than 10
        "a1b2c3d4-e5f6-7890-abcd-ef1234567890",  # UUID
        "ab_12",  # '_' is 0x5F in ASCII but 0x11 in GSM-7: must survive data_coding 0
        "AbCdEf0042",
    ],
)
def test_long_and_alphanumeric_ids(msg_id):
    r = parse_receipt(f"id:{msg_id} sub:001 stat:DELIVRD".encode(), data_coding=0)
    assert r.message_id == msg_id


def test_gsm7_text_with_at_sign_as_0x00():
    raw = b"id:7 sub:001 dlvrd:001 stat:DELIVRD err:000 text:" + encode_septets("Meet @ 5€ ok")
    assert b"\x00" in raw and b"\x1be" in raw
    r = parse_receipt(raw, data_coding=0)
    assert r.text == "Meet @ 5€ ok"
    assert r.message_id == "7"


def test_latin1_receipt():
    r = parse_receipt("id:7 stat:DELIVRD text:Café".encode("latin-1"), data_coding=3)
    assert r.text == "Café"


def test_ucs2_receipt():
    r = parse_receipt("id:AB12 stat:DELIVRD text:Привет 😀".encode("utf-16-be"), data_coding=8)
    assert (r.message_id, r.state, r.text) == ("AB12", ReceiptStat.DELIVRD, "Привет 😀")


def test_ascii_receipt_mislabelled_as_ucs2():
    r = parse_receipt(b"id:12 stat:DELIVRD", data_coding=8)  # even length, not UTF-16
    assert (r.message_id, r.state) == ("12", ReceiptStat.DELIVRD)
    r = parse_receipt(b"id:123 stat:DELIVRD", data_coding=8)  # odd length
    assert (r.message_id, r.state) == ("123", ReceiptStat.DELIVRD)


def test_binary_data_coding_falls_back_to_latin1():
    r = parse_receipt(b"id:1 stat:DELIVRD text:\xe9t\xe9", data_coding=4)
    assert r.text == "été"


def test_trailing_nul_does_not_stick_to_err():
    assert parse_receipt(b"id:1 stat:DELIVRD err:000\x00").error == "000"


# ---------------------------------------------------------------------------------------------
# States


CANONICAL = [
    ("ENROUTE", 1, False),
    ("DELIVRD", 2, True),
    ("EXPIRED", 3, True),
    ("DELETED", 4, True),
    ("UNDELIV", 5, True),
    ("ACCEPTD", 6, True),
    ("UNKNOWN", 7, True),
    ("REJECTD", 8, True),
    ("SCHEDULED", 0, False),
    ("SKIPPED", 9, True),
]


@pytest.mark.parametrize(("word", "state", "final"), CANONICAL)
def test_every_stat_word(word, state, final):
    r = parse_receipt(f"id:1 stat:{word} err:000".encode())
    assert r.state == state
    assert r.stat == word
    assert r.final is final
    assert r.delivered is (word == "DELIVRD")


@pytest.mark.parametrize(("word", "state", "final"), CANONICAL)
def test_every_message_state_tlv(word, state, final):
    r = parse_receipt(b"", receipted_message_id="1", message_state=state)
    assert r.stat == word
    assert r.final is final


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("delivrd", ReceiptStat.DELIVRD),
        ("Delivered", ReceiptStat.DELIVRD),
        ("DELIVERED", ReceiptStat.DELIVRD),
        ("UNDELIVERABLE", ReceiptStat.UNDELIV),
        ("undelivered", ReceiptStat.UNDELIV),
        ("REJECTED", ReceiptStat.REJECTD),
        ("ACCEPTED", ReceiptStat.ACCEPTD),
        ("deleted", ReceiptStat.DELETED),
        ("EN_ROUTE", ReceiptStat.ENROUTE),
        ("Scheduled", ReceiptStat.SCHEDULED),
        ("skipped", ReceiptStat.SKIPPED),
        ("2", ReceiptStat.DELIVRD),
        ("005", ReceiptStat.UNDELIV),
    ],
)
def test_stat_variants(word, state):
    assert stat_from_word(word) is state
    r = parse_receipt(f"id:1 stat:{word}".encode())
    assert r.state is state
    assert r.stat == state.name


def test_enroute_and_scheduled_are_not_final():
    assert not ReceiptStat.ENROUTE.final
    assert not ReceiptStat.SCHEDULED.final
    r = parse_receipt(b"id:1 sub:001 dlvrd:000 stat:ENROUTE err:000")
    assert r.state is ReceiptStat.ENROUTE
    assert r.final is False
    assert r.delivered is False


def test_unknown_stat_word_keeps_the_word_and_is_not_final():
    r = parse_receipt(b"id:1 stat:FAILEDX err:000")
    assert (r.state, r.stat, r.final, r.delivered) == (None, "FAILEDX", False, False)


@pytest.mark.parametrize("word", ["", "42", "DELIV", "?"])
def test_stat_from_word_unknown(word):
    assert stat_from_word(word) is None


# ---------------------------------------------------------------------------------------------
# network_error_code, esm_class


@pytest.mark.parametrize(
    ("octets", "expected"),
    [
        (b"\x03\x00\x01", (3, 1)),
        (b"\x01\x01\x00", (1, 256)),
        (b"\x08\xff\xff", (8, 65535)),
        (b"\x03\x00", None),
        (b"", None),
        (b"\x03\x00\x01\x00", None),
    ],
)
def test_network_error_code(octets, expected):
    r = parse_receipt(STANDARD, network_error_code=octets)
    assert r.network_error == expected
    assert r.source == "text"  # network_error_code alone does not change where id/state came from


@pytest.mark.parametrize(
    ("esm", "expected"),
    [
        (0x04, True),
        (0x44, True),
        (0x07, True),
        (0x20, True),
        (0x00, False),
        (0x40, False),
        (0x08, False),
        (0x10, False),
        (0x24, False),
    ],
)
def test_is_receipt_uses_the_type_mask(esm, expected):
    assert is_receipt(esm) is expected


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"hello, how are you?",
        b"stat:BOGUS err:000",  # a state word we don't know and no id
        b"id: stat: err:000",  # keys with no values
        b"\xff\xfe\x00\x01" * 10,
        b"sub:001 dlvrd:001 submit date:2506010830 text:hi",
    ],
)
def test_garbage_raises_receipt_parse_error(raw):
    with pytest.raises(ReceiptParseError, match="no message id") as info:
        parse_receipt(raw)
    assert isinstance(info.value, ValueError)
    assert info.value.raw == raw


def test_parse_error_message_is_bounded():
    with pytest.raises(ReceiptParseError) as info:
        parse_receipt(b"x" * 10_000)
    assert len(str(info.value)) < 400


def _parse_or_error(**kwargs):
    try:
        r = parse_receipt(**kwargs)
    except ReceiptParseError:
        return None
    assert isinstance(r, Receipt)
    assert r.message_id is not None or r.state is not None
    assert r.source in ("tlv", "text", "mixed")
    return r


@given(
    raw=st.binary(max_size=300),
    dc=st.integers(min_value=-5, max_value=300),
    payload=st.none() | st.binary(max_size=300),
)
def test_random_bytes_never_raise_anything_else(raw, dc, payload):
    _parse_or_error(short_message=raw, data_coding=dc, message_payload=payload)


@given(
    raw=st.binary(max_size=100),
    tlv_id=st.none() | st.text(max_size=70),
    state=st.none() | st.integers(min_value=-3, max_value=300),
    nec=st.none() | st.binary(max_size=5),
)
def test_random_tlvs_never_raise_anything_else(raw, tlv_id, state, nec):
    _parse_or_error(
        short_message=raw,
        receipted_message_id=tlv_id,
        message_state=state,
        network_error_code=nec,
    )


KEYS = st.sampled_from(
    [
        "id",
        "ID",
        "Id",
        "sub",
        "dlvrd",
        "submit date",
        "submit_date",
        "submitdate",
        "done date",
        "stat",
        "STAT",
        "err",
        "text",
        "Text",
        "status",
        "vendor",
    ]
)
FIELD = st.tuples(KEYS, st.text(max_size=15)).map(lambda kv: f"{kv[0]}:{kv[1]}")


@st.composite
def mutated_receipts(draw):
    """A valid-looking receipt (fields shuffled, random values), then octets flipped, cut, or
    inserted."""
    fields = draw(st.lists(FIELD, max_size=10))
    sep = draw(st.sampled_from([" ", "  ", "\t", "", "\n"]))
    raw = bytearray(sep.join(fields).encode("utf-8"))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(0, len(raw)))
        if op == "flip" and pos < len(raw):
            raw[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del raw[pos : pos + draw(st.integers(1, 8))]
        else:
            raw[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    return bytes(raw)


@given(raw=mutated_receipts(), dc=st.sampled_from([0, 1, 3, 4, 8, 0xF0]))
def test_mutated_receipts_never_raise_anything_else(raw, dc):
    _parse_or_error(short_message=raw, data_coding=dc)


ID_TEXT = st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=40)


@given(
    msg_id=ID_TEXT,
    word=st.sampled_from([w for w, _, _ in CANONICAL]),
    upper=st.booleans(),
    order=st.permutations(range(4)),
    text=st.text(alphabet="abc xyz012@£€", max_size=20),
)
def test_generated_receipts_round_trip(msg_id, word, upper, order, text):
    """Whatever the key case and field order, the id, state and err come back exactly, and the
    GSM-7 text (placed last) decodes to what was encoded."""
    fields = [f"id:{msg_id}", f"stat:{word}", "err:000", "submit date:2506010830"]
    fields = [fields[i] for i in order]
    if upper:
        fields = [f.split(":", 1)[0].upper() + ":" + f.split(":", 1)[1] for f in fields]
    raw = " ".join(fields).encode("ascii") + b" text:" + encode_septets(text)
    r = parse_receipt(raw, data_coding=0)
    assert r.message_id == msg_id
    assert r.stat == word
    assert r.error == "000"
    assert r.submitted == datetime(2025, 6, 1, 8, 30)
    assert r.text == text.strip()


# ---------------------------------------------------------------------------------------------
# Message-id matching


def test_reference_example_hex_resp_matches_decimal_receipt():
    key = normalize_id("2A0F3C7B", IdFormat.HEX)
    assert key == normalize_id("0705641595", IdFormat.DECIMAL) == "705641595"
    assert ids_match("2A0F3C7B", IdFormat.HEX, "0705641595", IdFormat.DECIMAL)
    assert ids_match("0705641595", "decimal", "2a0f3c7b", "hex")


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        ("000123", IdFormat.DECIMAL, "123"),
        ("0", IdFormat.DECIMAL, "0"),
        ("0000", IdFormat.HEX, "0"),
        ("000A", IdFormat.HEX, "10"),
        ("2a0f3c7b", IdFormat.HEX, "705641595"),
        ("2A0F3C7B", IdFormat.HEX, "705641595"),
        ("0x2A0F3C7B", IdFormat.HEX, "705641595"),
        ("2A0F3C7B\x00", IdFormat.HEX, "705641595"),
        (" 123 ", IdFormat.DECIMAL, "123"),
        ("123", "hex", "291"),
    ],
)
def test_normalize_numeric_ids(raw, fmt, expected):
    assert normalize_id(raw, fmt) == expected


@pytest.mark.parametrize(
    "raw", ["AbC-012", "00123", "2A0F3C7B", " padded ", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", ""]
)
def test_as_is_never_changes_the_id(raw):
    assert normalize_id(raw, IdFormat.AS_IS) == raw
    assert normalize_id(raw, "as-is") == raw


@pytest.mark.parametrize(
    ("raw", "fmt"),
    [
        ("XYZ-1", IdFormat.HEX),
        ("12A", IdFormat.DECIMAL),
        ("1_000", IdFormat.DECIMAL),  # int() would accept the underscore; we do not
        ("+12", IdFormat.DECIMAL),
        ("-1A", IdFormat.HEX),
        ("١٢٣", IdFormat.DECIMAL),  # Arabic-Indic digits: int() accepts them, ids are ASCII
        ("", IdFormat.HEX),
        ("0x", IdFormat.HEX),
    ],
)
def test_unparseable_numeric_id_falls_back_to_the_raw_string(raw, fmt):
    assert normalize_id(raw, fmt) == raw


def test_huge_numeric_id_does_not_raise():
    digits = "9" * 5000  # beyond Python's int/str digit limit
    assert normalize_id(digits, IdFormat.DECIMAL) == digits
    assert normalize_id("F" * 5000, IdFormat.HEX) == "F" * 5000


def test_unknown_format_is_a_value_error():
    with pytest.raises(ValueError):
        normalize_id("1", "octal")


@pytest.mark.parametrize(
    ("resp", "resp_fmt", "rcpt", "rcpt_fmt", "expected"),
    [
        ("abc", IdFormat.AS_IS, "abc", IdFormat.AS_IS, True),
        ("abc", IdFormat.AS_IS, "ABC", IdFormat.AS_IS, False),  # as-is is case-sensitive
        ("00123", IdFormat.AS_IS, "123", IdFormat.AS_IS, False),  # never strips zeros as-is
        ("00123", IdFormat.DECIMAL, "123", IdFormat.DECIMAL, True),
        ("7B", IdFormat.HEX, "123", IdFormat.DECIMAL, True),
        ("7B", IdFormat.HEX, "124", IdFormat.DECIMAL, False),
        ("XYZ", IdFormat.HEX, "XYZ", IdFormat.DECIMAL, True),  # exact string first
        ("G1", IdFormat.HEX, "G2", IdFormat.DECIMAL, False),
    ],
)
def test_ids_match(resp, resp_fmt, rcpt, rcpt_fmt, expected):
    assert ids_match(resp, resp_fmt, rcpt, rcpt_fmt) is expected


@given(n=st.integers(min_value=0, max_value=2**64), zeros=st.integers(0, 5), upper=st.booleans())
def test_hex_and_decimal_forms_of_one_number_share_a_key(n, zeros, upper):
    hex_id = "0" * zeros + (f"{n:X}" if upper else f"{n:x}")
    dec_id = "0" * zeros + str(n)
    assert normalize_id(hex_id, IdFormat.HEX) == normalize_id(dec_id, IdFormat.DECIMAL) == str(n)


def test_receipt_and_resp_end_to_end():
    """The daemon's path: index the resp id, look the receipt id up under the receipt format."""
    index = {normalize_id("2A0F3C7B", IdFormat.HEX): "msg-1"}
    r = parse_receipt(STANDARD)
    assert r.message_id is not None
    assert index[normalize_id(r.message_id, IdFormat.DECIMAL)] == "msg-1"


# ---------------------------------------------------------------------------------------------
# receipt_outcome: what the daemon stores, against parse_receipt as the oracle


def _outcome_or_error(**kwargs):
    try:
        r = parse_receipt(**kwargs)
    except ReceiptParseError:
        with pytest.raises(ReceiptParseError):
            receipt_outcome(**kwargs)
        return
    assert receipt_outcome(**kwargs) == (r.message_id, r.stat, r.error, r.final, r.delivered)


@pytest.mark.parametrize("state", [*ReceiptStat, 10, -1, None, True])
@pytest.mark.parametrize("tlv_id", ["0705641595", "2A0F3C7B\x00", " 77 ", "", "\x00", None])
@pytest.mark.parametrize("text", [b"", STANDARD])
def test_receipt_outcome_matches_parse_receipt(state, tlv_id, text):
    _outcome_or_error(
        short_message=text,
        receipted_message_id=tlv_id,
        message_state=None if state is None else (state if state is True else int(state)),
        network_error_code=b"\x03\x00\x01",
    )
    _outcome_or_error(short_message=b"", message_payload=text or None,
                      receipted_message_id=tlv_id, message_state=state)


@given(
    raw=st.sampled_from([b"", STANDARD]) | st.binary(max_size=100),
    tlv_id=st.none() | st.text(max_size=70),
    state=st.none() | st.integers(min_value=-3, max_value=12) | st.booleans(),
    payload=st.none() | st.binary(max_size=40),
    dc=st.sampled_from([0, 3, 8]),
)
def test_receipt_outcome_is_parse_receipt(raw, tlv_id, state, payload, dc):
    _outcome_or_error(
        short_message=raw,
        data_coding=dc,
        receipted_message_id=tlv_id,
        message_state=state,
        message_payload=payload,
    )
