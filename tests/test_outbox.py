"""The outbox on real LMDB files: acceptance, idempotency, part results, receipts (also before
their submit_sm_resp is stored), expiry, restart pick-up, pruning, events and map growth."""

import pytest

from gateway.outbox import (
    Batch,
    Expire,
    NewMessage,
    Outbox,
    PartResult,
    ReceiptUpdate,
    ReplyEvent,
    opid_key,
)
from gateway.storage import open_env


@pytest.fixture
def outbox(tmp_path):
    env = open_env(tmp_path / "data", map_size=1 << 20)
    yield Outbox(env)
    env.close()


def new(outbox, *, parts=1, ref=None, account="demo", at=1000.0, state="queued"):
    return NewMessage(
        id=outbox.allocate_ids(1),
        account=account,
        to="+33612345678",
        sender="DEMO",
        text="Bonjour",
        marketing=False,
        ref=ref,
        priority=5,
        transliterate=False,
        accepted_at=at,
        send_after=None,
        expires_at=at + 172800,
        encoding="gsm7",
        parts=parts,
        state=state,
    )


def write(outbox, **ops):
    batch = Batch(**ops)
    outbox.write(batch)
    outbox.committed(batch)
    return batch


def accepted(message_id, part, opid, at=1001.0):
    return PartResult(
        id=message_id,
        part=part,
        accepted=True,
        operator="sim",
        at=at,
        message_id=opid,
        key=opid_key("sim", opid),
        status=0,
    )


def receipt(opid, stat="DELIVRD", at=1005.0, *, err="000", final=True, permanent=False):
    return ReceiptUpdate(
        key=opid_key("sim", opid),
        operator="sim",
        message_id=opid,
        stat=stat,
        err=err,
        final=final,
        delivered=stat == "DELIVRD",
        at=at,
        permanent=permanent,
    )


def test_accept_is_durable_and_pending(outbox, tmp_path):
    m = new(outbox, parts=2)
    batch = write(outbox, accept=[m])
    assert batch.accepted[0].id == m.id and not batch.accepted[0].duplicate
    outbox.env.close()
    reopened = Outbox(open_env(tmp_path / "data"))
    record = reopened.get(m.id)
    assert record["st"] == "queued" and len(record["pt"]) == 2
    assert [i for i, _ in reopened.pending()] == [m.id]
    assert reopened.next_id == m.id + 1


def test_same_ref_returns_the_first_id_even_in_one_batch(outbox):
    a, b = new(outbox, ref="order-1"), new(outbox, ref="order-1")
    other_account = new(outbox, ref="order-1", account="other")
    batch = write(outbox, accept=[a, b, other_account])
    first, second, third = batch.accepted
    assert second.duplicate and second.id == first.id == a.id
    assert not third.duplicate and third.id == other_account.id
    again = write(outbox, accept=[new(outbox, ref="order-1")]).accepted[0]
    assert again.duplicate and again.id == a.id
    assert outbox.get(b.id) is None


def test_parts_then_receipts_make_the_message_delivered(outbox):
    m = new(outbox, parts=2)
    write(outbox, accept=[m])
    batch = write(outbox, results=[accepted(m.id, 0, "A1"), accepted(m.id, 1, "A2")])
    assert [e["state"] for e in batch.events] == ["submitted"]
    assert list(outbox.pending()) == []
    batch = write(outbox, receipts=[receipt("A1")])
    assert [e["event"] for e in batch.events] == ["receipt"]
    batch = write(outbox, receipts=[receipt("A2")])
    assert [(e["event"], e.get("state")) for e in batch.events] == [
        ("receipt", None),
        ("status", "delivered"),
    ]
    assert batch.receipt_delays == [("sim", pytest.approx(4.0))]
    assert outbox.get(m.id)["st"] == "delivered"


def test_a_receipt_before_its_submit_resp_is_kept_and_applied(outbox):
    m = new(outbox)
    write(outbox, accept=[m])
    early = write(outbox, receipts=[receipt("X9", stat="UNDELIV")])
    assert early.events == [] and outbox.counts()["orphan_receipts"] == 1
    batch = write(outbox, results=[accepted(m.id, 0, "X9")])
    record = outbox.get(m.id)
    assert record["st"] == "failed" and record["er"]["code"] == "undelivered"
    assert "UNDELIV" in record["er"]["message"]
    assert outbox.counts()["orphan_receipts"] == 0
    assert batch.events[-1]["state"] == "failed"


def test_a_failed_part_fails_the_message_and_its_other_parts(outbox):
    m = new(outbox, parts=3)
    write(outbox, accept=[m])
    write(
        outbox,
        results=[
            PartResult(
                id=m.id,
                part=1,
                accepted=False,
                operator="sim",
                at=2.0,
                status=0x0B,
                error="operator refused with status 0x0B",
            )
        ],
    )
    record = outbox.get(m.id)
    assert record["st"] == "failed"
    assert [p[0] for p in record["pt"]] == ["failed"] * 3
    assert record["er"] == {"code": "rejected_by_operator",
                            "message": "operator refused with status 0x0B"}
    assert list(outbox.pending()) == []


def test_expire_and_late_receipts_do_not_reopen(outbox):
    m = new(outbox)
    write(outbox, accept=[m])
    batch = write(outbox, expire=[Expire(id=m.id, at=5.0)])
    assert batch.events[0]["state"] == "expired"
    write(outbox, results=[accepted(m.id, 0, "L1")])
    write(outbox, receipts=[receipt("L1")])
    assert outbox.get(m.id)["st"] == "expired"


def test_events_since_pages_and_filters(outbox):
    ms = [new(outbox) for _ in range(5)]
    write(outbox, accept=ms)
    write(outbox, results=[accepted(m.id, 0, f"E{i}") for i, m in enumerate(ms)])
    write(
        outbox,
        replies=[
            ReplyEvent(sender="+33600000000", to="36184", text="STOP", operator="sim", at=9.0)
        ],
    )
    events, cursor, more = outbox.events_since(0, 3, None)
    assert len(events) == 3 and more
    rest, _cursor2, more2 = outbox.events_since(cursor, 100, None)
    assert len(rest) == 3 and not more2
    assert [e["cursor"] for e in events + rest] == [f"{n:016d}" for n in range(1, 7)]
    assert sorted(e["cursor"] for e in events + rest) == [e["cursor"] for e in events + rest]
    replies, _, _ = outbox.events_since(0, 100, frozenset({"reply"}))
    assert [e["text"] for e in replies] == ["STOP"]


def test_prune_removes_old_finished_messages_and_their_indexes(outbox):
    old, young, stuck = new(outbox, at=10.0, ref="r"), new(outbox, at=500.0), new(outbox, at=11.0)
    write(outbox, accept=[old, young, stuck])
    write(outbox, results=[accepted(old.id, 0, "P1"), accepted(young.id, 0, "P2")])
    removed = outbox.prune(cutoff=100.0)
    assert removed >= 1
    assert outbox.get(old.id) is None
    assert outbox.get(stuck.id) is not None  # still pending: never pruned
    assert outbox.get(young.id) is not None
    # the ref is free again and the receipt index entry is gone
    assert not write(outbox, accept=[new(outbox, ref="r")]).accepted[0].duplicate
    write(outbox, receipts=[receipt("P1")])
    assert outbox.counts()["orphan_receipts"] == 1


def test_the_map_grows_instead_of_failing(outbox):
    size = outbox.env.info()["map_size"]
    for _ in range(6):
        write(outbox, accept=[new(outbox) for _ in range(2000)])
    assert outbox.env.info()["map_size"] > size
    assert outbox.counts()["messages"] == 12000


def test_an_intermediate_receipt_is_an_event_and_changes_no_state(outbox):
    m = new(outbox)
    write(outbox, accept=[m])
    write(outbox, results=[accepted(m.id, 0, "B1")])
    enroute = receipt("B1", stat="ENROUTE", at=1003.0, final=False, permanent=True)
    batch = write(outbox, receipts=[enroute])
    assert [(e["event"], e["stat"], e["part"]) for e in batch.events] == [("receipt", "ENROUTE", 1)]
    assert batch.failed_numbers == [] and batch.finished == []
    record = outbox.get(m.id)
    assert record["st"] == "submitted" and record["pt"][0][0] == "submitted"
    assert batch.receipt_delays == [("sim", pytest.approx(2.0))]


def test_a_permanent_failure_receipt_fails_the_message_and_counts_against_the_number(outbox):
    m = new(outbox)
    write(outbox, accept=[m])
    write(outbox, results=[accepted(m.id, 0, "C1")])
    undeliv = receipt("C1", stat="UNDELIV", at=1009.0, err="001", permanent=True)
    batch = write(outbox, receipts=[undeliv])
    assert [e["event"] for e in batch.events] == ["receipt", "status"]
    status = batch.events[1]
    assert status["state"] == "failed" and status["error"]["code"] == "undelivered"
    assert status["cursor"] > batch.events[0]["cursor"]
    assert batch.failed_numbers == [("+33612345678", 1009.0)] and batch.finished == [m.id]
    record = outbox.get(m.id)
    assert record["pt"][0][0] == "failed" and record["pt"][0][3] == "UNDELIV"
    assert record["er"]["message"] == "part 1: receipt UNDELIV err:001"
    # A late duplicate receipt never reopens the message.
    again = write(outbox, receipts=[receipt("C1")])
    assert [e["event"] for e in again.events] == ["receipt"]
    assert outbox.get(m.id)["st"] == "failed"


def test_records_keep_their_content_through_rewrites_and_cache_misses(outbox):
    """The unchanging half of a record is packed once and reused: a record read back from
    LMDB (the writer's cache evicted) and rewritten keeps every field."""
    outbox.live_limit = 1  # every record but the newest falls out of the cache
    messages = [new(outbox, ref=f"r{i}") for i in range(5)]
    write(outbox, accept=messages)
    expected = {m.id: outbox.get(m.id) for m in messages}
    assert expected[messages[0].id]["tx"] == "Bonjour" and expected[messages[0].id]["rf"] == "r0"
    write(outbox, results=[accepted(m.id, 0, f"K{i}") for i, m in enumerate(messages)])
    write(outbox, receipts=[receipt(f"K{i}") for i in range(5)])
    for m in messages:
        record = outbox.get(m.id)
        assert record["st"] == "delivered" and record["pt"][0][0] == "delivered"
        for key in ("a", "to", "fr", "tx", "mk", "rf", "pr", "tl", "at", "sa", "ex", "en"):
            assert record[key] == expected[m.id][key], key


def test_a_record_in_the_old_one_map_layout_reads_and_moves_on(outbox):
    """Records written as a single msgpack map (the first layout) are read as they are, and
    rewritten in the current one when they change."""
    import msgpack

    from gateway.outbox import decode_record, id_key

    m = new(outbox)
    write(outbox, accept=[m])
    old = outbox.get(m.id)
    with outbox.env.begin(write=True) as txn:
        txn.put(id_key(m.id), msgpack.packb(old), db=outbox._msg)
    outbox._live.clear()
    outbox._statics.clear()
    assert outbox.get(m.id) == old
    write(outbox, results=[accepted(m.id, 0, "OLD1")])
    with outbox.env.begin() as txn:
        raw = txn.get(id_key(m.id), db=outbox._msg)
    assert raw[:1] == b"\x92"  # the current layout
    assert decode_record(raw) == {**old, "st": "submitted", "pt": decode_record(raw)["pt"]}
    assert decode_record(raw)["pt"][0][2] == "OLD1"
