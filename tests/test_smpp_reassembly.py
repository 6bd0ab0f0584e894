"""Reassembly of concatenated MO replies (gateway/smpp/reassembly.py).

Parts are built with the real splitter (gateway.codec.plan) where it can, and by hand where a test
needs what our splitter never produces: an ESC pair or a surrogate pair cut across two parts, as
some handsets and SMSCs do. Time is plain numbers.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway._core import encode_septets, pack_septets
from gateway.codec import decode, plan
from gateway.smpp.reassembly import (
    ExpiryReason,
    Incomplete,
    Reassembler,
    Reply,
)

UDHI = 0x40
SUB = "33612345678"
US = "36184"
LONG = "Bonjour, je voudrais plus d'informations sur l'offre. " * 6  # 3 GSM-7 parts


def udh8(ref: int, total: int, seq: int) -> bytes:
    return bytes([5, 0x00, 3, ref, total, seq])


def udh16(ref: int, total: int, seq: int) -> bytes:
    return bytes([6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq])


def add(
    r: Reassembler,
    payload: bytes,
    *,
    now: float = 0.0,
    source: str = SUB,
    destination: str = US,
    data_coding: int = 0,
    esm_class: int = UDHI,
    **sar: int,
) -> Reply | None:
    return r.add(
        source=source,
        destination=destination,
        payload=payload,
        data_coding=data_coding,
        esm_class=esm_class,
        now=now,
        **sar,
    )


# ---------------------------------------------------------------------------------------------
# Single messages


def test_single_part_passes_through_at_once():
    r = Reassembler(60, 10)
    reply = add(r, encode_septets("STOP"), esm_class=0)
    assert reply == Reply(
        source=SUB, destination=US, text="STOP", payload=b"STOP", parts=1, data_coding=0, ref=None
    )
    assert len(r) == 0


def test_single_ucs2_part():
    reply = add(Reassembler(60, 10), "Привет 😀".encode("utf-16-be"), data_coding=8, esm_class=0)
    assert reply is not None
    assert reply.text == "Привет 😀"


def test_receipt_esm_bits_other_than_udhi_do_not_matter():
    reply = add(Reassembler(60, 10), b"OUI", esm_class=0x03)
    assert reply is not None and reply.text == "OUI"


def test_udh_without_concatenation_is_a_single_message_with_the_header_stripped():
    port_udh = bytes([4, 0x04, 2, 0x0B, 0x84])  # 8-bit application port addressing
    reply = add(Reassembler(60, 10), port_udh + b"hello")
    assert reply is not None
    assert (reply.text, reply.parts, reply.payload) == ("hello", 1, b"hello")


def test_one_part_concatenation_is_a_single_message():
    reply = add(Reassembler(60, 10), udh8(9, 1, 1) + b"hi")
    assert reply is not None
    assert (reply.text, reply.parts, reply.ref) == ("hi", 1, 9)


@pytest.mark.parametrize("header", [udh8(9, 0, 1), udh8(9, 2, 0), udh8(9, 2, 3)])
def test_concatenation_ie_that_ts23040_says_to_ignore(header):
    reply = add(Reassembler(60, 10), header + b"hi")
    assert reply is not None and reply.text == "hi" and reply.parts == 1


def test_broken_udh_is_delivered_whole_with_the_reason():
    r = Reassembler(60, 10)
    reply = add(r, b"\x09\x00\x03STOP")  # UDHL 9 runs past the 7-octet payload
    assert reply is not None
    assert reply.udh_error is not None and "runs past" in reply.udh_error
    assert reply.payload == b"\x09\x00\x03STOP"
    assert reply.text is not None and reply.text.endswith("STOP")
    assert len(r) == 0


def test_binary_data_coding_has_no_text_but_keeps_the_payload():
    reply = add(Reassembler(60, 10), b"\x01\x02\xff", data_coding=4, esm_class=0)
    assert reply is not None
    assert (reply.text, reply.payload) == (None, b"\x01\x02\xff")


def test_truncated_ucs2_gets_a_replacement_character():
    reply = add(Reassembler(60, 10), b"\x00h\x00i\x00", data_coding=8, esm_class=0)
    assert reply is not None and reply.text == "hi\ufffd"


# ---------------------------------------------------------------------------------------------
# Concatenated messages


def test_in_order():
    p = plan(LONG, ref=42)
    assert len(p.parts) == 3
    r = Reassembler(60, 10)
    assert add(r, p.parts[0], now=0) is None
    assert add(r, p.parts[1], now=1) is None
    assert len(r) == 1
    reply = add(r, p.parts[2], now=2)
    assert reply == Reply(
        source=SUB,
        destination=US,
        text=LONG,
        payload=encode_septets(LONG),
        parts=3,
        data_coding=0,
        ref=42,
    )
    assert len(r) == 0
    assert r.pending_octets == 0


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_out_of_order(order):
    p = plan(LONG, ref=42)
    r = Reassembler(60, 10)
    replies = [add(r, p.parts[i], now=n) for n, i in enumerate(order)]
    assert replies[:2] == [None, None]
    assert replies[2] is not None and replies[2].text == LONG


def test_duplicate_parts_are_ignored():
    p = plan(LONG, ref=42)
    r = Reassembler(60, 10)
    assert add(r, p.parts[0]) is None
    assert add(r, p.parts[0]) is None
    assert add(r, p.parts[1]) is None
    assert add(r, p.parts[1]) is None
    assert r.pending_octets == len(encode_septets(LONG)) - len(p.texts[2])
    reply = add(r, p.parts[2])
    assert reply is not None and reply.text == LONG


def test_redelivery_after_completion_is_ignored():
    """The SMSC redelivers a part whose deliver_sm_resp was lost: it must not start a phantom
    group that would expire later as a partial reply."""
    p = plan(LONG, ref=42)
    r = Reassembler(60, 10)
    for part in p.parts[:2]:
        add(r, part, now=0)
    assert add(r, p.parts[2], now=1) is not None
    assert add(r, p.parts[2], now=5) is None
    assert add(r, p.parts[0], now=6) is None
    assert len(r) == 0
    assert r.expire(1000) == []


def test_same_ref_reused_by_a_new_message_after_completion():
    r = Reassembler(60, 10)
    for part in plan(LONG, ref=42).parts:
        add(r, part, now=0)
    other = "Autre message, meme reference, autre texte. " * 8
    q = plan(other, ref=42)
    assert len(q.parts) == 3
    assert [add(r, part, now=1) for part in q.parts[:2]] == [None, None]
    reply = add(r, q.parts[2], now=2)
    assert reply is not None and reply.text == other


def test_completed_group_is_forgotten_after_timeout():
    p = plan(LONG, ref=42)
    r = Reassembler(60, 10)
    for part in p.parts:
        add(r, part, now=0)
    r.expire(60)
    assert add(r, p.parts[0], now=61) is None
    assert len(r) == 1  # no longer recognised as a redelivery: a new group


def test_16bit_reference():
    p = plan(LONG, ref=0x1234, udh16=True)
    assert p.parts[0][:5] == b"\x06\x08\x04\x12\x34"
    r = Reassembler(60, 10)
    reply = None
    for part in reversed(p.parts):
        reply = add(r, part)
    assert reply is not None
    assert (reply.text, reply.ref, reply.parts) == (LONG, 0x1234, 3)


def test_8bit_and_16bit_udh_by_hand():
    r = Reassembler(60, 10)
    assert add(r, udh8(200, 2, 2) + b"world") is None
    reply = add(r, udh8(200, 2, 1) + b"hello ")
    assert reply is not None and (reply.text, reply.ref) == ("hello world", 200)
    assert add(r, udh16(0xBEEF, 2, 1) + b"foo ") is None
    reply = add(r, udh16(0xBEEF, 2, 2) + b"bar")
    assert reply is not None and (reply.text, reply.ref) == ("foo bar", 0xBEEF)


def test_sar_tlvs():
    r = Reassembler(60, 10)
    assert add(r, b"world", esm_class=0, sar_ref=0x0102, sar_total=2, sar_seq=2) is None
    reply = add(r, b"hello ", esm_class=0, sar_ref=0x0102, sar_total=2, sar_seq=1)
    assert reply is not None
    assert (reply.text, reply.ref, reply.parts) == ("hello world", 0x0102, 2)


@pytest.mark.parametrize(
    "sar",
    [
        {"sar_ref": 1, "sar_total": 2},  # seqnum missing
        {"sar_ref": 1, "sar_total": 0, "sar_seq": 1},
        {"sar_ref": 1, "sar_total": 2, "sar_seq": 0},
        {"sar_ref": 1, "sar_total": 2, "sar_seq": 3},
        {"sar_ref": 1, "sar_total": 256, "sar_seq": 1},
        {"sar_ref": 0x10000, "sar_total": 2, "sar_seq": 1},
    ],
)
def test_unusable_sar_tlvs_make_a_single_message(sar):
    r = Reassembler(60, 10)
    reply = add(r, b"hello", esm_class=0, **sar)
    assert reply is not None and reply.text == "hello" and reply.parts == 1
    assert len(r) == 0


def test_udh_concatenation_wins_over_sar():
    r = Reassembler(60, 10)
    assert add(r, udh8(5, 2, 1) + b"a", sar_ref=9, sar_total=3, sar_seq=3) is None
    reply = add(r, udh8(5, 2, 2) + b"b", sar_ref=9, sar_total=3, sar_seq=1)
    assert reply is not None and (reply.text, reply.ref, reply.parts) == ("ab", 5, 2)


def test_gsm7_esc_pair_split_across_parts():
    r = Reassembler(60, 10)
    first = udh8(7, 2, 1) + encode_septets("Prix: 5") + b"\x1b"
    second = udh8(7, 2, 2) + b"e" + encode_septets(" TTC {ok}")
    # Decoded alone, each part loses the euro sign:
    assert "€" not in decode(first, 0, udhi=True).text + decode(second, 0, udhi=True).text
    assert add(r, second) is None
    reply = add(r, first)
    assert reply is not None and reply.text == "Prix: 5€ TTC {ok}"


def test_ucs2_surrogate_pair_split_across_parts():
    encoded = "Merci 😀!".encode("utf-16-be")
    cut = encoded.index(b"\xd8\x3d") + 2  # between the high and the low surrogate
    r = Reassembler(60, 10)
    assert add(r, udh8(3, 2, 1) + encoded[:cut], data_coding=8) is None
    reply = add(r, udh8(3, 2, 2) + encoded[cut:], data_coding=8)
    assert reply is not None
    assert reply.text == "Merci 😀!"
    assert reply.data_coding == 8


def test_ucs2_from_the_splitter():
    text = "Réponse avec emoji 😀 " * 6
    p = plan(text, ref=77)
    assert p.data_coding == 8 and len(p.parts) > 1
    r = Reassembler(60, 10)
    replies = [add(r, part, data_coding=8) for part in reversed(p.parts)]
    assert replies[-1] is not None and replies[-1].text == text
    assert replies[:-1] == [None] * (len(p.parts) - 1)


def test_interleaved_groups_from_different_senders_with_the_same_ref():
    a = plan(LONG, ref=1)
    b_text = "Un autre abonne repond avec la meme reference de concatenation. " * 5
    b = plan(b_text, ref=1)
    assert len(a.parts) == len(b.parts) == 3
    r = Reassembler(60, 10)
    results = []
    for pa, pb in zip(a.parts, reversed(b.parts), strict=True):
        results.append(add(r, pa, source="331111"))
        results.append(add(r, pb, source="332222"))
        results.append(add(r, pa, source="331111", destination="OTHER"))  # another of our numbers
    done = [x for x in results if x is not None]
    assert {(x.source, x.destination, x.text) for x in done} == {
        ("331111", US, LONG),
        ("332222", US, b_text),
        ("331111", "OTHER", LONG),
    }
    assert len(r) == 0


def test_packed_gsm7_with_an_esc_pair_split_across_parts():
    """An SMSC that delivers packed septets: each part's text starts after the UDH fill bits."""
    first_septets = encode_septets("Total 10") + b"\x1b"
    second_septets = b"e" + encode_septets(" merci")
    first = udh8(4, 2, 1) + pack_septets(first_septets, 1)
    second = udh8(4, 2, 2) + pack_septets(second_septets, 1)
    r = Reassembler(60, 10, packed=True)
    assert add(r, second) is None
    reply = add(r, first)
    assert reply is not None and reply.text == "Total 10€ merci"
    # Unpacked mode on the same octets would read the packed bytes as septets: garbage.
    plain = Reassembler(60, 10)
    add(plain, second)
    other = add(plain, first)
    assert other is not None and other.text != "Total 10€ merci"


def test_packed_single_message_without_udh():
    reply = add(
        Reassembler(60, 10, packed=True), pack_septets(encode_septets("hellohello")), esm_class=0
    )
    assert reply is not None and reply.text == "hellohello"


def test_packed_does_not_touch_ucs2():
    reply = add(
        Reassembler(60, 10, packed=True), "ok".encode("utf-16-be"), data_coding=8, esm_class=0
    )
    assert reply is not None and reply.text == "ok"


# ---------------------------------------------------------------------------------------------
# Expiry and bounds


def test_timeout_expiry_returns_the_partial_content():
    p = plan(LONG, ref=42)
    r = Reassembler(60, 10)
    add(r, p.parts[2], now=10)
    add(r, p.parts[0], now=30)
    assert r.next_deadline() == 70
    assert r.expire(69.9) == []
    [lost] = r.expire(70)
    assert lost == Incomplete(
        source=SUB,
        destination=US,
        ref=42,
        total=3,
        data_coding=0,
        received=(1, 3),
        missing=(2,),
        text_so_far=p.texts[0] + p.texts[2],
        first_seen=10,
        reason=ExpiryReason.TIMEOUT,
    )
    assert len(r) == 0
    assert r.pending_octets == 0
    assert r.next_deadline() is None
    assert r.expire(1000) == []


def test_late_part_after_expiry_starts_a_new_group():
    p = plan(LONG, ref=42)
    r = Reassembler(60, 10)
    add(r, p.parts[0], now=0)
    assert len(r.expire(60)) == 1
    assert add(r, p.parts[1], now=61) is None
    assert len(r) == 1


def test_expire_keeps_young_groups_and_drops_old_ones_in_order():
    r = Reassembler(10, 10)
    add(r, udh8(1, 2, 1) + b"a", now=0)
    add(r, udh8(2, 2, 1) + b"b", now=5)
    add(r, udh8(3, 2, 1) + b"c", now=9)
    assert [x.ref for x in r.expire(15)] == [1, 2]
    assert len(r) == 1
    reply = add(r, udh8(3, 2, 2) + b"d", now=16)  # completing a group past its time still works
    assert reply is not None and reply.text == "cd"


def test_max_pending_evicts_the_oldest_group():
    r = Reassembler(60, 2)
    add(r, udh8(1, 2, 1) + b"one", now=0)
    add(r, udh8(2, 2, 1) + b"two", now=1)
    add(r, udh8(2, 2, 1) + b"two", now=1.5)  # duplicate: no new group, no eviction
    assert len(r) == 2
    add(r, udh8(3, 2, 1) + b"three", now=2)
    assert len(r) == 2
    evicted = r.expire(3)
    assert [(x.ref, x.reason, x.text_so_far) for x in evicted] == [(1, ExpiryReason.EVICTED, "one")]
    reply = add(r, udh8(2, 2, 2) + b"!", now=4)
    assert reply is not None and reply.text == "two!"
    assert [x.ref for x in r.expire(100)] == [3]


def test_evicted_groups_waiting_for_expire_are_bounded_and_counted():
    r = Reassembler(60, 1)
    for ref in range(5):
        add(r, udh8(ref, 2, 1) + b"x", now=ref)
    assert r.lost == 3  # four evicted, room for one
    assert [(x.ref, x.reason) for x in r.expire(10)] == [(3, ExpiryReason.EVICTED)]
    assert [(x.ref, x.reason) for x in r.expire(100)] == [(4, ExpiryReason.TIMEOUT)]


def test_max_octets_evicts_the_oldest_groups():
    r = Reassembler(60, 100, max_octets=100)
    add(r, udh8(1, 2, 1) + b"a" * 40, now=0)
    add(r, udh8(2, 2, 1) + b"b" * 40, now=1)
    assert r.pending_octets == 80
    add(r, udh8(3, 2, 1) + b"c" * 40, now=2)
    assert r.pending_octets == 80
    assert [x.ref for x in r.expire(3)] == [1]
    # One group bigger than the budget on its own is kept (it is bounded by 255 parts).
    add(r, udh8(4, 2, 1) + b"d" * 150, now=4)
    assert len(r) == 1 and r.pending_octets == 150
    assert [x.ref for x in r.expire(5)] == [2, 3]


def test_incomplete_binary_has_no_text():
    r = Reassembler(1, 10)
    add(r, udh8(1, 2, 1) + b"\xff\x00", data_coding=4)
    [lost] = r.expire(1)
    assert lost.text_so_far is None and lost.data_coding == 4


def test_incomplete_with_a_gap_decodes_each_run_alone():
    r = Reassembler(1, 10)
    add(r, udh8(1, 4, 1) + b"a")
    add(r, udh8(1, 4, 2) + b"b\x1b")  # ESC at the end of a run: shown as a space
    add(r, udh8(1, 4, 4) + b"ed")
    [lost] = r.expire(1)
    assert (lost.received, lost.missing, lost.text_so_far) == ((1, 2, 4), (3,), "ab ed")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout": 0, "max_pending": 1}, "timeout"),
        ({"timeout": -1, "max_pending": 1}, "timeout"),
        ({"timeout": float("nan"), "max_pending": 1}, "timeout"),
        ({"timeout": 1, "max_pending": 0}, "max_pending"),
        ({"timeout": 1, "max_pending": 1, "max_octets": 0}, "max_octets"),
    ],
)
def test_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Reassembler(**kwargs)


@pytest.mark.parametrize(("dc", "esm"), [(256, 0), (-1, 0), (0, 256), (0, -1)])
def test_out_of_octet_values_are_caller_errors(dc, esm):
    with pytest.raises(ValueError, match="one octet"):
        add(Reassembler(1, 1), b"x", data_coding=dc, esm_class=esm)


# ---------------------------------------------------------------------------------------------
# Properties


GSM_TEXT = st.text(alphabet="abcXYZ 019@£$€{}[]~^|\\\n", min_size=1, max_size=400)
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=200)


@given(
    text=GSM_TEXT | ANY_TEXT,
    data=st.data(),
    udh_form=st.sampled_from(["8", "16", "sar"]),
)
def test_any_split_any_order_with_duplicates_gives_the_text_back(text, data, udh_form):
    """Cut the encoded text at arbitrary unit boundaries (through ESC and surrogate pairs too),
    deliver the parts shuffled with some twice: the reply is the original text, exactly once."""
    gsm = set(text) <= set("abcXYZ 019@£$€{}[]~^|\\\n")
    encoded = encode_septets(text) if gsm else text.encode("utf-16-be")
    unit = 1 if gsm else 2
    units = len(encoded) // unit
    n = data.draw(st.integers(min_value=2, max_value=min(8, units + 1)))
    cuts = sorted(data.draw(st.lists(st.integers(0, units), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *(c * unit for c in cuts), len(encoded)]
    bodies = [encoded[a:b] for a, b in itertools.pairwise(bounds)]
    ref = data.draw(st.integers(0, 255 if udh_form == "8" else 0xFFFF))
    deliveries = list(range(len(bodies)))
    deliveries += data.draw(st.lists(st.sampled_from(deliveries), max_size=4))
    deliveries = data.draw(st.permutations(deliveries))
    r = Reassembler(60, 4)
    replies = []
    for now, i in enumerate(deliveries):
        total, seq = len(bodies), i + 1
        if udh_form == "sar":
            reply = add(
                r,
                bodies[i],
                now=now,
                data_coding=0 if gsm else 8,
                esm_class=0,
                sar_ref=ref,
                sar_total=total,
                sar_seq=seq,
            )
        else:
            header = udh8(ref, total, seq) if udh_form == "8" else udh16(ref, total, seq)
            reply = add(r, header + bodies[i], now=now, data_coding=0 if gsm else 8)
        if reply is not None:
            replies.append(reply)
    assert len(replies) == 1
    assert replies[0].text == text
    assert replies[0].payload == encoded
    assert len(r) == 0 and r.pending_octets == 0
    assert r.expire(10_000) == []


@given(
    payload=st.binary(max_size=200),
    dc=st.integers(0, 255),
    esm=st.integers(0, 255),
    packed=st.booleans(),
    sar=st.none() | st.tuples(st.integers(-1, 70000), st.integers(-1, 300), st.integers(-1, 300)),
)
def test_arbitrary_octets_never_raise(payload, dc, esm, packed, sar):
    r = Reassembler(5, 3, packed=packed)
    kwargs = {} if sar is None else dict(zip(("sar_ref", "sar_total", "sar_seq"), sar, strict=True))
    for now in range(3):
        reply = add(r, payload, now=now, data_coding=dc, esm_class=esm, **kwargs)
        assert reply is None or isinstance(reply, Reply)
    for item in r.expire(100):
        assert isinstance(item, Incomplete)
    assert len(r) == 0 and r.pending_octets == 0
