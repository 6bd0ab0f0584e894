"""The socket API's wire protocol, sans-IO: framing, envelope, every field rule, encoders, and the
client side, driven by hand and by Hypothesis. No sockets here (see test_client_unit.py)."""

import dataclasses
import math
import re

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.api import protocol as p
from gateway.api.protocol import (
    ALL_EVENT_TYPES,
    MAX_EVENTS_LIMIT,
    MAX_FRAME_BYTES,
    MAX_REF_CHARS,
    MAX_SEQ,
    MAX_TIMESTAMP,
    MAX_VALIDITY,
    ClientConnection,
    ConnectionState,
    CountRequest,
    ErrorCode,
    Event,
    EventsSinceRequest,
    FieldError,
    HealthRequest,
    LocalProtocolError,
    OptoutAddRequest,
    OptoutCheckRequest,
    OptoutRemoveRequest,
    ProtocolErrorReply,
    RemoteProtocolError,
    Reply,
    ServerConnection,
    StatusRequest,
    SubmitManyRequest,
    SubmitRequest,
    SubscribeRequest,
    encode_error,
    encode_event,
    encode_reply,
    error_result,
)
from tests.conftest import ROOT

REQUEST_TYPES = (
    SubmitRequest, SubmitManyRequest, StatusRequest, SubscribeRequest, EventsSinceRequest,
    CountRequest, HealthRequest, OptoutAddRequest, OptoutRemoveRequest, OptoutCheckRequest,
)

MSG = {"account": "acme", "to": "+33612345678", "from": "ACME", "text": "Bonjour"}


def pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def submit(**fields):
    return {"op": "submit", "seq": 1, **MSG, **fields}


def one(obj, **conn_kwargs):
    """The single item the server side makes of one frame."""
    conn = ServerConnection(**conn_kwargs)
    items = conn.receive_data(pack(obj))
    assert len(items) == 1, items
    assert conn.state is ConnectionState.OPEN
    return items[0]


def refused(obj, code, *, seq=1, field=None, match=None, **conn_kwargs):
    item = one(obj, **conn_kwargs)
    assert type(item) is ProtocolErrorReply, item
    assert (item.code, item.seq, item.close) == (code, seq, False), item
    if field is not None:
        assert item.field == field
    if match is not None:
        assert re.search(match, item.message), item.message
    return item


# --------------------------------------------------------------------------------------------
# Framing


def test_one_submit_with_defaults_applied():
    item = one(submit())
    assert item == SubmitRequest(
        seq=1, account="acme", to="+33612345678", from_="ACME", text="Bonjour",
        class_="transactional", ref=None, send_at=None, validity=None, transliterate=False,
        priority=5,
    )
    assert item.op == "submit"


def test_all_fields_given():
    item = one(submit(**{"class": "marketing"}, ref="r-1", send_at=1_700_000_000,
                      validity=3600, transliterate=True, priority=9))
    assert (item.class_, item.ref, item.send_at, item.validity, item.transliterate,
            item.priority) == ("marketing", "r-1", 1_700_000_000.0, 3600, True, 9)
    assert type(item.send_at) is float


def test_frozen_slotted_kw_only():
    item = one(submit())
    with pytest.raises(AttributeError):
        item.to = "x"
    assert not hasattr(item, "__dict__")
    with pytest.raises(TypeError):
        SubmitRequest(1, "a", "b", "c", "d")  # type: ignore[misc]


def stream():
    frames = [
        submit(seq=1),
        {"op": "status", "seq": 2, "id": "m1"},
        {"op": "health", "seq": 3},
        {"op": "count", "seq": 4, "text": "é" * 100},
        submit(seq=5, priority="high"),
        {"op": "submit_many", "seq": 6, "messages": [MSG, {"to": "x"}]},
    ]
    return frames, b"".join(pack(f) for f in frames)


def test_split_byte_by_byte_equals_whole():
    _, data = stream()
    whole = ServerConnection().receive_data(data)
    conn = ServerConnection()
    split = []
    for i in range(len(data)):
        split += conn.receive_data(data[i : i + 1])
    assert split == whole
    assert [getattr(i, "seq", None) for i in whole] == [1, 2, 3, 4, 5, 6]
    assert conn.partial_bytes == 0


@given(st.lists(st.integers(min_value=1, max_value=200), max_size=30))
def test_split_anywhere_equals_whole(cuts):
    _, data = stream()
    whole = ServerConnection().receive_data(data)
    conn, got, pos = ServerConnection(), [], 0
    for n in cuts:
        got += conn.receive_data(data[pos : pos + n])
        pos += n
    got += conn.receive_data(data[pos:])
    assert got == whole


def test_coalesced_thousands_in_order():
    data = b"".join(pack({"op": "status", "seq": i, "id": f"m{i}"}) for i in range(5000))
    items = ServerConnection().receive_data(data)
    assert [i.seq for i in items] == list(range(5000))
    assert all(type(i) is StatusRequest for i in items)


def test_one_read_bigger_than_the_frame_limit_is_fine():
    # the bound is per frame, not per read: 3 KiB of small frames with a 1 KiB limit
    data = b"".join(pack({"op": "health", "seq": i}) for i in range(300))
    assert len(data) > 3 * 1024
    items = ServerConnection(max_frame_bytes=1024).receive_data(data)
    assert [i.seq for i in items] == list(range(300))


def test_frame_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not():
    base = pack({"op": "count", "seq": 1, "text": ""})
    pad = 1000 - len(base)
    for extra in range(-3, 3):
        frame = pack({"op": "count", "seq": 1, "text": "x" * (pad + extra)})
        if len(frame) == 1000:
            break
    assert len(frame) == 1000
    assert type(ServerConnection(max_frame_bytes=1000).receive_data(frame)[0]) is CountRequest
    conn = ServerConnection(max_frame_bytes=999)
    items = conn.receive_data(frame)
    assert [(i.code, i.seq, i.close) for i in items] == [(ErrorCode.FRAME_TOO_LARGE, None, True)]
    assert conn.state is ConnectionState.ERROR
    assert "999" in items[0].message


def test_huge_frame_byte_by_byte_fails_at_the_limit():
    conn = ServerConnection(max_frame_bytes=512)
    frame = pack({"op": "count", "seq": 1, "text": "y" * 5000})
    for i in range(len(frame)):
        items = conn.receive_data(frame[i : i + 1])
        if items:
            break
    assert i == 511  # the 512th byte is one too many
    assert items[0].code is ErrorCode.FRAME_TOO_LARGE
    assert conn.receive_data(b"\x80") == []  # ERROR: everything after is ignored


def test_length_header_claiming_gigabytes():
    # a str32 header announcing 4 GiB: refused once the limit's worth of bytes has arrived
    conn = ServerConnection(max_frame_bytes=4096)
    assert conn.receive_data(b"\x81\xa4text\xdb\xff\xff\xff\xff") == []
    items = conn.receive_data(b"z" * 5000)
    assert items[0].code is ErrorCode.FRAME_TOO_LARGE
    # an array32 header announcing 4 billion elements is refused at once
    items = ServerConnection().receive_data(b"\xdd\xff\xff\xff\xff")
    assert [(i.code, i.close) for i in items] == [(ErrorCode.FRAME_TOO_LARGE, True)]


def test_a_large_legitimate_batch_under_the_default_limit():
    messages = [{**MSG, "text": "é" * 600} for _ in range(1000)]
    data = pack({"op": "submit_many", "seq": 9, "messages": messages})
    assert 1024 * 1024 < len(data) < MAX_FRAME_BYTES
    conn = ServerConnection()
    items = []
    for i in range(0, len(data), 65536):
        items += conn.receive_data(data[i : i + 65536])
    assert len(items) == 1 and len(items[0].messages) == 1000


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xc1",  # the one byte msgpack never uses
        b"\xa2\xff\xfe",  # a str that is not UTF-8
        b"\x81\x91\x01\x02",  # a map whose key is a list
        b"\x81\x81\x01\x01\x02",  # a map whose key is a map
        b"\x91" * 3000 + b"\xc0",  # nesting too deep
    ],
    ids=["c1", "bad-utf8", "list-key", "map-key", "deep"],
)
def test_garbage_is_bad_frame_after_the_good_requests(garbage):
    conn = ServerConnection()
    items = conn.receive_data(pack({"op": "health", "seq": 1}) + garbage + pack({"op": "health",
                                                                                  "seq": 2}))
    assert items[0] == HealthRequest(seq=1)
    assert [(i.code, i.seq, i.close) for i in items[1:]] == [(ErrorCode.BAD_FRAME, None, True)]
    assert conn.state is ConnectionState.ERROR
    assert conn.receive_data(pack({"op": "health", "seq": 3})) == []
    assert msgpack.unpackb(items[1].to_bytes())["seq"] is None


def test_eof():
    conn = ServerConnection()
    frame = pack({"op": "health", "seq": 1})
    assert conn.receive_data(frame[:2]) == []
    assert conn.partial_bytes == 2
    assert conn.receive_data(b"") == []
    assert conn.state is ConnectionState.CLOSED
    assert conn.receive_data(b"") == []
    with pytest.raises(LocalProtocolError):
        conn.receive_data(frame)


# --------------------------------------------------------------------------------------------
# Envelope


@pytest.mark.parametrize("obj", [[1, 2], 7, "health", None, True, 1.5, b"\x01"])
def test_not_a_map_is_bad_request_and_the_connection_stays(obj):
    conn = ServerConnection()
    items = conn.receive_data(pack(obj) + pack({"op": "health", "seq": 2}))
    assert (items[0].code, items[0].seq, items[0].close) == (ErrorCode.BAD_REQUEST, None, False)
    assert items[1] == HealthRequest(seq=2)
    assert conn.state is ConnectionState.OPEN


@pytest.mark.parametrize(
    ("obj", "seq", "match"),
    [
        ({"op": "health"}, None, "needs 'seq'"),
        ({"op": "health", "seq": None}, None, "needs 'seq'"),
        ({"op": "health", "seq": "7"}, None, "'seq' must be an integer"),
        ({"op": "health", "seq": 1.0}, None, "'seq' must be an integer"),
        ({"op": "health", "seq": True}, None, "'seq' must be an integer"),
        ({"op": "health", "seq": -1}, -1, "'seq' must be an integer"),
        ({"op": "health", "seq": MAX_SEQ + 1}, MAX_SEQ + 1, "'seq' must be an integer"),
        ({"seq": 4}, 4, "needs 'op'"),
        ({"seq": 4, "op": 3}, 4, "'op' must be a string"),
        ({"seq": 4, "op": None}, 4, "needs 'op'"),
    ],
)
def test_bad_envelope(obj, seq, match):
    refused(obj, ErrorCode.BAD_REQUEST, seq=seq, match=match)


@pytest.mark.parametrize("seq", [0, 1, MAX_SEQ])
def test_seq_range(seq):
    assert one({"op": "health", "seq": seq}) == HealthRequest(seq=seq)


@pytest.mark.parametrize("op", ["auth", "Submit", "", "x" * 1000, "send"])
def test_unknown_op(op):
    item = refused({"op": op, "seq": 3}, ErrorCode.UNKNOWN_OP, seq=3)
    assert len(item.message) < 100  # a huge op is not echoed in full


def test_map_with_non_string_keys_is_refused_precisely():
    refused({"op": "health", "seq": 1, 5: "x"}, ErrorCode.INVALID_FIELD, match="unknown field 5")


# --------------------------------------------------------------------------------------------
# submit: every field rule


@pytest.mark.parametrize("name", ["account", "to", "from", "text"])
def test_required_fields(name):
    obj = submit()
    del obj[name]
    refused(obj, ErrorCode.MISSING_FIELD, field=name, match=f"'{name}' is required")
    refused(submit(**{name: None}), ErrorCode.MISSING_FIELD, field=name)


@pytest.mark.parametrize("name", ["account", "to", "from"])
@pytest.mark.parametrize("value", ["", 33612345678, ["a"], b"acme", True])
def test_required_strings(name, value):
    refused(submit(**{name: value}), ErrorCode.INVALID_FIELD, field=name,
            match=f"'{name}' must be a non-empty string, not ")


def test_empty_text_is_invalid_text():
    refused(submit(text=""), ErrorCode.INVALID_TEXT, field="text", match="empty")


@pytest.mark.parametrize("value", [5, b"hi", ["hi"], {"t": 1}])
def test_text_must_be_a_string(value):
    refused(submit(text=value), ErrorCode.INVALID_FIELD, field="text")


BAD_OPTIONAL = [
    ("class", "promo", "'class' must be 'transactional' or 'marketing', not 'promo'"),
    ("class", 1, "'class' must be"),
    ("class", ["marketing"], "'class' must be"),
    ("ref", "", "'ref' must be a string of 1 to 128 characters"),
    ("ref", "r" * (MAX_REF_CHARS + 1), "'ref' must be a string of 1 to 128"),
    ("ref", 12, "'ref' must be a string"),
    ("send_at", "tomorrow", "'send_at' must be unix seconds"),
    ("send_at", -1, "'send_at' must be unix seconds"),
    ("send_at", MAX_TIMESTAMP + 1, "'send_at'"),
    ("send_at", math.nan, "'send_at'"),
    ("send_at", math.inf, "'send_at'"),
    ("send_at", True, "'send_at'"),
    ("validity", 0, "'validity' must be an integer number of seconds from 1 to 2592000"),
    ("validity", MAX_VALIDITY + 1, "'validity'"),
    ("validity", 3600.0, "'validity'"),
    ("validity", True, "'validity'"),
    ("validity", "1h", "'validity'"),
    ("transliterate", 1, "'transliterate' must be true or false, not 1"),
    ("transliterate", "yes", "'transliterate'"),
    ("priority", "high", "'priority' must be an integer from 0 to 9, not 'high'"),
    ("priority", 10, "'priority' must be an integer from 0 to 9, not 10"),
    ("priority", -1, "'priority'"),
    ("priority", 5.0, "'priority'"),
    ("priority", False, "'priority'"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_OPTIONAL)
def test_optional_field_rules(name, value, message):
    item = refused(submit(**{name: value}), ErrorCode.INVALID_FIELD, field=name)
    assert item.message.startswith(message), item.message


GOOD_OPTIONAL = [
    ("class", "transactional", "class_", "transactional"),
    ("class", "marketing", "class_", "marketing"),
    ("ref", "r" * MAX_REF_CHARS, "ref", "r" * MAX_REF_CHARS),
    ("ref", "é", "ref", "é"),
    ("send_at", 0, "send_at", 0.0),
    ("send_at", 1_700_000_000.25, "send_at", 1_700_000_000.25),
    ("send_at", MAX_TIMESTAMP, "send_at", float(MAX_TIMESTAMP)),
    ("validity", 1, "validity", 1),
    ("validity", MAX_VALIDITY, "validity", MAX_VALIDITY),
    ("transliterate", True, "transliterate", True),
    ("priority", 0, "priority", 0),
    ("priority", 9, "priority", 9),
]


@pytest.mark.parametrize(("name", "value", "attr", "expected"), GOOD_OPTIONAL)
def test_optional_field_accepted(name, value, attr, expected):
    assert getattr(one(submit(**{name: value})), attr) == expected


@pytest.mark.parametrize("name", ["class", "ref", "send_at", "validity", "transliterate",
                                  "priority"])
def test_nil_means_default(name):
    assert one(submit(**{name: None})) == one(submit())


@pytest.mark.parametrize("key", ["tranliterate", "from_", "class_", "Text", "id"])
def test_unknown_key_is_refused_by_name(key):
    item = refused(submit(**{key: True}), ErrorCode.INVALID_FIELD, field=key)
    assert item.message.startswith(f"unknown field {key!r}")


def test_long_values_are_cut_in_messages():
    item = refused(submit(priority="x" * 10_000), ErrorCode.INVALID_FIELD)
    assert len(item.message) < 200 and item.message.endswith("...")


# --------------------------------------------------------------------------------------------
# submit_many


def test_submit_many_keeps_per_message_errors_in_order():
    messages = [MSG, {**MSG, "priority": 11}, 5, {"to": "x"}, {**MSG, "op": "submit"},
                {**MSG, "text": ""}, {**MSG, "ref": "r2"}]
    item = one({"op": "submit_many", "seq": 8, "messages": messages})
    assert type(item) is SubmitManyRequest and item.seq == 8
    kinds = [(type(m).__name__, getattr(m, "code", None), getattr(m, "field", None))
             for m in item.messages]
    assert kinds == [
        ("SubmitRequest", None, None),
        ("FieldError", ErrorCode.INVALID_FIELD, "priority"),
        ("FieldError", ErrorCode.INVALID_FIELD, None),
        ("FieldError", ErrorCode.MISSING_FIELD, "account"),
        ("FieldError", ErrorCode.INVALID_FIELD, "op"),
        ("FieldError", ErrorCode.INVALID_TEXT, "text"),
        ("SubmitRequest", None, None),
    ]
    assert item.messages[0].seq == 8 and item.messages[6].ref == "r2"
    assert item.messages[2].message == "a message must be a map, not 5"
    assert item.messages[1].as_result() == {
        "ok": False,
        "error": {"code": "invalid_field", "field": "priority",
                  "message": "'priority' must be an integer from 0 to 9, not 11"},
    }


def test_submit_many_batch_limit():
    ok = one({"op": "submit_many", "seq": 1, "messages": [MSG] * 3}, max_batch=3)
    assert len(ok.messages) == 3
    refused({"op": "submit_many", "seq": 1, "messages": [MSG] * 4}, ErrorCode.BATCH_TOO_LARGE,
            field="messages", match="holds 4 messages; the most per request is 3", max_batch=3)


def test_submit_many_request_level_errors():
    assert one({"op": "submit_many", "seq": 1, "messages": []}).messages == ()
    refused({"op": "submit_many", "seq": 1}, ErrorCode.MISSING_FIELD, field="messages")
    refused({"op": "submit_many", "seq": 1, "messages": {"a": MSG}}, ErrorCode.INVALID_FIELD,
            field="messages")
    refused({"op": "submit_many", "seq": 1, "messages": [], "text": "x"},
            ErrorCode.INVALID_FIELD, field="text")


# --------------------------------------------------------------------------------------------
# The other ops


def test_status():
    assert one({"op": "status", "seq": 2, "id": "m-1"}) == StatusRequest(seq=2, id="m-1")
    refused({"op": "status", "seq": 1}, ErrorCode.MISSING_FIELD, field="id")
    refused({"op": "status", "seq": 1, "id": ""}, ErrorCode.INVALID_FIELD, field="id")
    refused({"op": "status", "seq": 1, "id": 12}, ErrorCode.INVALID_FIELD, field="id")
    refused({"op": "status", "seq": 1, "id": "m", "ids": []}, ErrorCode.INVALID_FIELD,
            field="ids")


def test_subscribe():
    assert one({"op": "subscribe", "seq": 1}).events == ALL_EVENT_TYPES
    assert one({"op": "subscribe", "seq": 1, "events": None}).events == ALL_EVENT_TYPES
    got = one({"op": "subscribe", "seq": 1, "events": ["receipt", "receipt"]})
    assert got == SubscribeRequest(seq=1, events=frozenset({"receipt"}))
    for bad in ([], ["status", "dlr"], "status", [1], [["status"]], {"status": True}):
        refused({"op": "subscribe", "seq": 1, "events": bad}, ErrorCode.INVALID_FIELD,
                field="events", match="'events' must be a non-empty list of 'status'")
    refused({"op": "subscribe", "seq": 1, "cursor": ""}, ErrorCode.INVALID_FIELD, field="cursor")


def test_events_since():
    assert one({"op": "events_since", "seq": 1, "cursor": ""}) == EventsSinceRequest(
        seq=1, cursor="", limit=1000, events=ALL_EVENT_TYPES)
    got = one({"op": "events_since", "seq": 1, "cursor": "42", "limit": MAX_EVENTS_LIMIT,
               "events": ["reply"]})
    assert (got.cursor, got.limit, got.events) == ("42", 10_000, frozenset({"reply"}))
    assert one({"op": "events_since", "seq": 1, "cursor": "", "limit": 1}).limit == 1
    refused({"op": "events_since", "seq": 1}, ErrorCode.MISSING_FIELD, field="cursor")
    refused({"op": "events_since", "seq": 1, "cursor": 42}, ErrorCode.INVALID_FIELD,
            field="cursor")
    for bad in (0, MAX_EVENTS_LIMIT + 1, "10", 1.0, True):
        refused({"op": "events_since", "seq": 1, "cursor": "", "limit": bad},
                ErrorCode.INVALID_FIELD, field="limit",
                match="'limit' must be an integer from 1 to 10000")
    refused({"op": "events_since", "seq": 1, "cursor": "", "events": []},
            ErrorCode.INVALID_FIELD, field="events")


def test_count():
    assert one({"op": "count", "seq": 1, "text": ""}) == CountRequest(seq=1, text="")
    got = one({"op": "count", "seq": 1, "text": "«x»", "transliterate": True})
    assert got == CountRequest(seq=1, text="«x»", transliterate=True)
    refused({"op": "count", "seq": 1}, ErrorCode.MISSING_FIELD, field="text")
    refused({"op": "count", "seq": 1, "text": 3}, ErrorCode.INVALID_FIELD, field="text")
    refused({"op": "count", "seq": 1, "text": "", "transliterate": "no"},
            ErrorCode.INVALID_FIELD, field="transliterate")


def test_health():
    assert one({"op": "health", "seq": 1}) == HealthRequest(seq=1)
    refused({"op": "health", "seq": 1, "verbose": True}, ErrorCode.INVALID_FIELD,
            field="verbose")


def parse_one(obj):
    [item] = ServerConnection().receive_data(pack({"seq": 4, **obj}))
    return item


def test_optout_add_defaults_and_all_fields():
    item = parse_one({"op": "optout.add", "number": "06 12 34 56 78", "scope": "global"})
    assert item == OptoutAddRequest(seq=4, number="06 12 34 56 78", scope="global",
                                    reason="api", source=None, until=None)
    item = parse_one({"op": "optout.add", "number": "+33612345678", "scope": "network:chain",
                      "reason": "import", "source": "crm.csv", "until": 1_800_000_000})
    assert (item.scope, item.reason, item.source, item.until) == (
        "network:chain", "import", "crm.csv", 1.8e9)
    assert type(item.until) is float
    for reason in p.OPTOUT_REASONS:
        assert parse_one({"op": "optout.add", "number": "1", "scope": "account:a",
                          "reason": reason}).reason == reason
    nil = parse_one({"op": "optout.add", "number": "1", "scope": "global", "reason": None,
                     "source": None, "until": None})
    assert (nil.reason, nil.source, nil.until) == ("api", None, None)


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"scope": "global"}, "missing_field", "number"),
        ({"number": None, "scope": "global"}, "missing_field", "number"),
        ({"number": 33612345678, "scope": "global"}, "invalid_field", "number"),
        ({"number": "1"}, "missing_field", "scope"),
        ({"number": "1", "scope": ""}, "invalid_field", "scope"),
        ({"number": "1", "scope": "Global"}, "invalid_field", "scope"),
        ({"number": "1", "scope": "network"}, "invalid_field", "scope"),
        ({"number": "1", "scope": "network:"}, "invalid_field", "scope"),
        ({"number": "1", "scope": "account: x"}, "invalid_field", "scope"),
        ({"number": "1", "scope": "shop:x"}, "invalid_field", "scope"),
        ({"number": "1", "scope": "account:" + "x" * 400}, "invalid_field", "scope"),
        ({"number": "1", "scope": ["global"]}, "invalid_field", "scope"),
        ({"number": "1", "scope": "global", "reason": "stop"}, "invalid_field", "reason"),
        ({"number": "1", "scope": "global", "reason": 1}, "invalid_field", "reason"),
        ({"number": "1", "scope": "global", "source": ""}, "invalid_field", "source"),
        ({"number": "1", "scope": "global", "source": "s" * 201}, "invalid_field", "source"),
        ({"number": "1", "scope": "global", "until": -1}, "invalid_field", "until"),
        ({"number": "1", "scope": "global", "until": MAX_TIMESTAMP + 1}, "invalid_field",
         "until"),
        ({"number": "1", "scope": "global", "until": True}, "invalid_field", "until"),
        ({"number": "1", "scope": "global", "until": "soon"}, "invalid_field", "until"),
        ({"number": "1", "scope": "global", "by": "me"}, "invalid_field", "by"),
    ],
)
def test_optout_add_field_rules(fields, code, field):
    item = parse_one({"op": "optout.add", **fields})
    assert type(item) is ProtocolErrorReply
    assert (item.code, item.field, item.seq) == (code, field, 4)


def test_optout_remove_and_check():
    item = parse_one({"op": "optout.remove", "number": "1", "scope": "account:a", "by": "ops"})
    assert item == OptoutRemoveRequest(seq=4, number="1", scope="account:a", by="ops")
    assert parse_one({"op": "optout.remove", "number": "1", "scope": "global",
                      "by": "b" * 200}).by == "b" * 200
    for fields, code, field in [
        ({"number": "1", "scope": "global"}, "missing_field", "by"),
        ({"number": "1", "scope": "global", "by": ""}, "invalid_field", "by"),
        ({"number": "1", "scope": "global", "by": "b" * 201}, "invalid_field", "by"),
        ({"number": "1", "by": "x"}, "missing_field", "scope"),
        ({"number": "1", "scope": "global", "by": "x", "reason": "api"}, "invalid_field",
         "reason"),
    ]:
        bad = parse_one({"op": "optout.remove", **fields})
        assert (bad.code, bad.field) == (code, field), fields
    assert parse_one({"op": "optout.check", "number": "1"}) == OptoutCheckRequest(
        seq=4, number="1", account=None)
    assert parse_one({"op": "optout.check", "number": "1", "account": "acme"}).account == "acme"
    for fields, code, field in [
        ({}, "missing_field", "number"),
        ({"number": "1", "account": ""}, "invalid_field", "account"),
        ({"number": "1", "account": 3}, "invalid_field", "account"),
        ({"number": "1", "scope": "global"}, "invalid_field", "scope"),
    ]:
        bad = parse_one({"op": "optout.check", **fields})
        assert (bad.code, bad.field) == (code, field), fields


def test_every_known_op_has_a_parser_and_a_request_type():
    assert set(p.PARSERS) == {t.op for t in REQUEST_TYPES}
    assert p.OPS_BY_STATE[ConnectionState.OPEN] is p.PARSERS


# --------------------------------------------------------------------------------------------
# Error codes and their documentation

BRIEF_CODES = [
    "bad_frame", "bad_request", "frame_too_large", "unknown_op", "invalid_field",
    "missing_field", "unknown_account", "invalid_number", "invalid_sender", "invalid_text",
    "not_found", "store_full", "shutting_down", "batch_too_large", "internal_error",
    "opted_out", "quiet_hours", "missing_stop_mention", "frequency_cap",
]


def test_error_codes_are_exactly_the_contract():
    assert [c.value for c in ErrorCode] == BRIEF_CODES
    assert all(c == c.value and re.fullmatch(r"[a-z_]+", c) for c in ErrorCode)


def test_docs_describe_every_error_code_and_op():
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = doc[doc.index("## 6. Error codes") :]
    for code in ErrorCode:
        assert re.search(rf"^\| `{code.value}` \|", table, re.M), code
    for op in p.PARSERS:
        assert f"### {op}:" in doc, op
    assert "### auth" in doc
    for state in p.MESSAGE_STATES:
        assert f"| `{state}`" in doc, state
    assert "4 MiB" in doc and MAX_FRAME_BYTES == 4 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# Encoding and the client side


def test_encoders():
    assert msgpack.unpackb(encode_reply(3, id="m", parts=2)) == {
        "seq": 3, "ok": True, "id": "m", "parts": 2}
    assert msgpack.unpackb(encode_error(None, ErrorCode.BAD_FRAME, "no")) == {
        "seq": None, "ok": False, "error": {"code": "bad_frame", "message": "no"}}
    assert msgpack.unpackb(encode_error(4, "not_found", "gone", "id"))["error"] == {
        "code": "not_found", "message": "gone", "field": "id"}
    event = {"event": "status", "cursor": "7", "id": "m", "state": "delivered", "at": 1.5}
    assert msgpack.unpackb(encode_event(event)) == event
    assert error_result(ErrorCode.OPTED_OUT, "stop") == {
        "ok": False, "error": {"code": "opted_out", "message": "stop"}}
    # a StrEnum goes out as a plain str
    assert type(msgpack.unpackb(encode_error(1, ErrorCode.STORE_FULL, "x"))["error"]["code"]) \
        is str


def test_client_queues_and_batches_requests():
    client = ClientConnection()
    assert client.data_to_send() == b""
    seqs = [client.send_request("health"), client.send_request("status", {"id": "m"})]
    assert seqs == [1, 2]
    data = client.data_to_send()
    assert client.data_to_send() == b""
    server = ServerConnection()
    assert server.receive_data(data) == [HealthRequest(seq=1), StatusRequest(seq=2, id="m")]
    with pytest.raises(LocalProtocolError):
        client.encode_request("health", 1, {"seq": 5})
    with pytest.raises(LocalProtocolError):
        ClientConnection(first_seq=-1)


def test_client_seq_wraps():
    client = ClientConnection(first_seq=MAX_SEQ)
    assert [client.next_seq(), client.next_seq()] == [MAX_SEQ, 0]


def test_round_trip_replies_and_events_split_byte_by_byte():
    frames = (
        encode_reply(1, id="m1", parts=1, encoding="gsm7", state="queued")
        + encode_event({"event": "receipt", "cursor": "9", "id": "m1", "stat": "DELIVRD"})
        + encode_error(2, ErrorCode.INVALID_FIELD, "bad", "priority")
        + encode_error(None, ErrorCode.BAD_REQUEST, "not a map")
        + encode_event({"event": "dropped", "reason": "slow", "cursor": "9"})
    )
    client = ClientConnection()
    items = []
    for i in range(len(frames)):
        items += client.receive_data(frames[i : i + 1])
    assert items == [
        Reply(seq=1, ok=True, body={"seq": 1, "ok": True, "id": "m1", "parts": 1,
                                     "encoding": "gsm7", "state": "queued"}),
        Event(name="receipt", body={"event": "receipt", "cursor": "9", "id": "m1",
                                    "stat": "DELIVRD"}),
        Reply(seq=2, ok=False, body={"seq": 2, "ok": False, "error": {
            "code": "invalid_field", "message": "bad", "field": "priority"}},
            code="invalid_field", message="bad"),
        Reply(seq=None, ok=False, body={"seq": None, "ok": False, "error": {
            "code": "bad_request", "message": "not a map"}},
            code="bad_request", message="not a map"),
        Event(name="dropped", body={"event": "dropped", "reason": "slow", "cursor": "9"}),
    ]
    assert client.receive_data(b"") == [] and client.closed


def test_protocol_error_reply_round_trip():
    server = ServerConnection()
    (item,) = server.receive_data(pack(submit(seq=77, priority="high")))
    (reply,) = ClientConnection().receive_data(item.to_bytes())
    assert (reply.seq, reply.ok, reply.code, reply.body["error"]["field"]) == (
        77, False, "invalid_field", "priority")


@pytest.mark.parametrize(
    "frame",
    [
        [1],
        {"seq": 1},  # no ok
        {"seq": "1", "ok": True},
        {"seq": 1, "ok": False},  # no error
        {"seq": 1, "ok": False, "error": {"code": 5, "message": "x"}},
        {"seq": 1, "ok": "yes"},
        {"event": 3},
        {"event": "status", "seq": 1},
        {},
    ],
)
def test_client_refuses_a_server_that_breaks_the_protocol(frame):
    client = ClientConnection()
    with pytest.raises(RemoteProtocolError) as info:
        client.receive_data(encode_reply(1) + pack(frame))
    assert [i.seq for i in info.value.items] == [1]
    assert client.closed and client.receive_data(encode_reply(2)) == []


def test_client_garbage_and_frame_limit():
    with pytest.raises(RemoteProtocolError, match="bad_frame"):
        ClientConnection().receive_data(b"\xc1")
    with pytest.raises(RemoteProtocolError, match="frame_too_large"):
        ClientConnection(max_frame_bytes=100).receive_data(encode_reply(1, text="x" * 200))


def test_connection_pair_every_op():
    """Client -> server -> daemon-like answer -> client, as h11's ConnectionPair does."""
    client, server = ClientConnection(), ServerConnection()
    calls = [
        ("submit", {**MSG, "ref": "r"}),
        ("submit_many", {"messages": [MSG, {**MSG, "to": 1}]}),
        ("status", {"id": "m1"}),
        ("subscribe", {"events": ["status"]}),
        ("events_since", {"cursor": "", "limit": 10}),
        ("count", {"text": "hé"}),
        ("health", None),
        ("optout.add", {"number": "+33612345678", "scope": "global"}),
        ("optout.remove", {"number": "+33612345678", "scope": "global", "by": "me"}),
        ("optout.check", {"number": "+33612345678", "account": "acme"}),
        ("auth", {"token": "t"}),
    ]
    seqs = [client.send_request(op, fields) for op, fields in calls]
    answers = b""
    for item in server.receive_data(client.data_to_send()):
        if type(item) is ProtocolErrorReply:
            answers += item.to_bytes()
        elif type(item) is SubmitManyRequest:
            results = [m.as_result() if type(m) is FieldError else {"ok": True, "id": "x"}
                       for m in item.messages]
            answers += encode_reply(item.seq, results=results)
        else:
            answers += encode_reply(item.seq, op=item.op)
    replies = client.receive_data(answers)
    assert [r.seq for r in replies] == seqs
    assert [r.body.get("op") for r in replies] == [
        "submit", None, "status", "subscribe", "events_since", "count", "health",
        "optout.add", "optout.remove", "optout.check", None]
    assert replies[1].body["results"][1]["error"]["code"] == "invalid_field"
    assert replies[-1].code == "unknown_op"


# --------------------------------------------------------------------------------------------
# Fuzzing: whatever arrives, the server side returns typed items and never raises.

KEYS = ["op", "seq", "account", "to", "from", "text", "class", "ref", "send_at", "validity",
        "transliterate", "priority", "messages", "id", "events", "cursor", "limit", "number",
        "scope", "reason", "source", "until", "by", "x"]
OPS = [*p.PARSERS, "auth", "nope"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True), st.text(max_size=20), st.binary(max_size=8),
    st.sampled_from(OPS), st.sampled_from(["status", "receipt", "reply", "marketing"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5),
    max_leaves=20,
)
requests = st.dictionaries(st.sampled_from(KEYS), values, max_size=10) | values


def check_items(items):
    for item in items:
        assert type(item) in (*REQUEST_TYPES, ProtocolErrorReply), item
        if type(item) is ProtocolErrorReply:
            assert isinstance(item.code, ErrorCode) and item.message
            item.to_bytes()
        elif type(item) is SubmitManyRequest:
            assert all(type(m) in (SubmitRequest, FieldError) for m in item.messages)


@given(st.lists(st.binary(min_size=1, max_size=64), max_size=10))
def test_fuzz_random_bytes(chunks):
    conn = ServerConnection(max_frame_bytes=256)
    for chunk in chunks:
        check_items(conn.receive_data(chunk))
    if conn.state is ConnectionState.OPEN:
        assert conn.receive_data(b"") == []


@given(st.lists(requests, min_size=1, max_size=8), st.integers(min_value=1, max_value=50))
def test_fuzz_random_maps(objs, step):
    data = b"".join(pack(o) for o in objs)
    conn = ServerConnection(max_batch=3)
    items = []
    for i in range(0, len(data), step):
        items += conn.receive_data(data[i : i + step])
    check_items(items)
    assert len(items) == len(objs)  # one answer per frame, in order


@given(requests)
def test_fuzz_a_valid_submit_with_one_random_field(obj):
    frame = {"op": "submit", "seq": 5, **MSG}
    if isinstance(obj, dict):
        frame.update({k: v for k, v in obj.items() if k not in ("op", "seq")})
    (item,) = ServerConnection().receive_data(pack(frame))
    check_items([item])
    assert item.seq == 5


@given(st.lists(st.binary(max_size=64), max_size=10))
def test_fuzz_client_random_bytes(chunks):
    client = ClientConnection(max_frame_bytes=256)
    for chunk in chunks:
        try:
            items = client.receive_data(chunk)
        except RemoteProtocolError as exc:
            items = exc.items
        assert all(type(i) in (Reply, Event) for i in items)


valid_submits = st.fixed_dictionaries(
    {"account": st.text(min_size=1, max_size=10), "to": st.text(min_size=1, max_size=16),
     "from": st.text(min_size=1, max_size=11), "text": st.text(min_size=1, max_size=200)},
    optional={
        "class": st.sampled_from(["transactional", "marketing"]),
        "ref": st.text(min_size=1, max_size=MAX_REF_CHARS),
        "send_at": st.floats(min_value=0, max_value=MAX_TIMESTAMP) | st.integers(0, 2**32),
        "validity": st.integers(1, MAX_VALIDITY),
        "transliterate": st.booleans(),
        "priority": st.integers(0, 9),
    },
)


@given(st.lists(valid_submits, min_size=1, max_size=5))
def test_valid_submits_round_trip_their_fields(messages):
    client = ClientConnection()
    client.send_request("submit_many", {"messages": messages})
    for m in messages:
        client.send_request("submit", m)
    items = ServerConnection().receive_data(client.data_to_send())
    batch, singles = items[0], items[1:]
    assert list(batch.messages) == [
        SubmitRequest(**{**_fields(s), "seq": 1})
        for s in singles
    ]
    for m, s in zip(messages, singles, strict=True):
        assert (s.account, s.to, s.from_, s.text) == (m["account"], m["to"], m["from"],
                                                      m["text"])
        assert s.class_ == m.get("class", "transactional")
        assert s.priority == m.get("priority", 5)
        assert s.send_at == (None if "send_at" not in m else float(m["send_at"]))


def _fields(req):
    return {f.name: getattr(req, f.name) for f in dataclasses.fields(req)}
