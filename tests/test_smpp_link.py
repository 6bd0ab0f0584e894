"""Integration tests of the operator links (``gateway.smpp.client``) against the bundled SMSC
simulator.

Real loopback TCP on port 0 for every behaviour and every fault; where a test asserts timing
itself (throttle pauses, reconnect backoff, time-outs, keep-alive cadence) it runs on trio's
MockClock (``autojump_clock``) over in-memory streams into the simulator's connection handler, so
the clock can jump without a socket read pending (house style 11.14, 11.22).

The acceptance rule throughout: every submitted job ends in exactly one SubmitOutcome (ACCEPTED,
FAILED or UNKNOWN), the UNKNOWN ones are identified by tag, and each outcome agrees with what
crossed the wire for that job (``assert_one_outcome_each``, ``check_against_wire``). Every test
has an absolute ``trio.fail_after``; nothing sleeps to wait for something to happen.

Tests whose comment starts "Regression:" once failed against gateway/smpp/client.py; the comment
says what the bug was.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from gateway import codec as text_codec
from gateway.smpp.client import (
    LinkSettings,
    Operator,
    Outcome,
    SubmitJob,
    SubmitOutcome,
    Throttle,
    open_operator_stream,
)
from gateway.smpp.events import BindMode
from gateway.smpp.pdu import CommandId, CommandStatus, DeliverSm, SubmitSm
from gateway.smpp.simulator import Faults, Simulator, SimulatorConfig
from tests.helpers_link import (
    HOST,
    InboundLog,
    Watched,
    Wiretap,
    assert_one_outcome_each,
    check_against_wire,
    destination,
    jobs,
    link_settings,
    max_in_flight,
    memory_factory,
    receipt_text_id,
    running,
    scripted_smsc,
    start_operator,
    submit_pdu,
    tag_of,
)

ROOT = Path(__file__).resolve().parent.parent

C = CommandId
S = CommandStatus

#: Real-clock bound on the fault tests' waits: a missing outcome fails in seconds, not at WAIT.
SHORT = 4.0


def intervals(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def retry_faults(kind: str, share: float) -> tuple[Faults, int]:
    status = {
        "throttle": S.ESME_RTHROTTLED,
        "queue_full": S.ESME_RMSGQFUL,
        "system_error": S.ESME_RSYSERR,
    }[kind]
    return Faults(**{f"{kind}_share": share}), status


# =============================================================================================
# Happy path
# =============================================================================================


@pytest.mark.parametrize("window", [1, 10, 100])
async def test_every_job_accepted_with_a_unique_message_id(window: int) -> None:
    with trio.fail_after(20):
        async with running(window=window) as h:
            outcomes = await h.submit_all(jobs(2000))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert len({o.message_id for o in outcomes}) == 2000
            assert {o.attempts for o in outcomes} == {1}
            assert {o.operator for o in outcomes} == {"sim"}
            assert h.sim.stats["submit_sm"] == h.sim.stats["submit_sm_esme_rok"] == 2000
            assert h.sim.stats["connections"] == 1 and h.tap.connections == 1
            # The writer fills the window without waiting for each response, never beyond it.
            assert max_in_flight(h.tap) == window
            check_against_wire(h.tap, outcomes)


async def test_binds_of_one_operator_share_its_queue() -> None:
    with trio.fail_after(20):
        async with running(binds=2, window=5) as h:
            outcomes = await h.submit_all(jobs(400))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert h.sim.stats["binds_transceiver"] == 2
            per_connection = {f.connection for f in h.tap.seen(C.SUBMIT_SM, "out")}
            assert per_connection == {0, 1}, "both binds should carry traffic"
            check_against_wire(h.tap, outcomes)


TEXTS = [
    "Hello, world",
    "Soldes -50% ce week-end ! STOP au 36184. " * 6,  # GSM-7, several parts
    "Accolades {} crochets [] tilde ~ euro € " * 5,  # GSM-7 escapes across part boundaries
    "Привет, мир! " * 12,  # UCS-2, several parts
    "emoji 😀 and more 🎉 " * 6,  # UCS-2 with surrogate pairs
]


def plan_jobs() -> tuple[list[SubmitJob], dict[int, tuple[int, text_codec.Plan]]]:
    """One job per part of each text; tag = 100 * text index + part index."""
    batch: list[SubmitJob] = []
    plans: dict[int, tuple[int, text_codec.Plan]] = {}
    for index, text in enumerate(TEXTS):
        plan = text_codec.plan(text, ref=40 + index, udh16=index % 2 == 1)
        for part_index, payload in enumerate(plan.parts):
            tag = 100 * index + part_index
            plans[tag] = (index, plan)
            batch.append(
                SubmitJob(
                    pdu=SubmitSm(
                        source_addr_ton=3,
                        source_addr_npi=0,
                        source_addr="36184",
                        dest_addr_ton=1,
                        dest_addr_npi=1,
                        destination_addr=destination(tag),
                        esm_class=plan.esm_class,
                        protocol_id=0,
                        priority_flag=1,
                        validity_period="000001000000000R",
                        registered_delivery=1,
                        data_coding=plan.data_coding,
                        short_message=payload,
                        user_message_reference=tag,
                    ),
                    tag=tag,
                )
            )
    return batch, plans


async def test_content_arrives_at_the_smsc_unchanged() -> None:
    batch, plans = plan_jobs()
    assert any(plan.esm_class == 0x40 for _, plan in plans.values())
    with trio.fail_after(20):
        async with running(SimulatorConfig(record=True, receipt_delay=60), window=7) as h:
            outcomes = await h.submit_all(batch)
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            received = {pdu.destination_addr: pdu for pdu in h.sim.received}
            assert len(h.sim.received) == len(batch)
            for job in batch:
                got = received[job.pdu.destination_addr]
                # Every field, TLVs included; only the sequence number is the session's.
                assert dataclasses.replace(got, sequence_number=0) == job.pdu
            # And the texts reassemble from what the SMSC got.
            for index, text in enumerate(TEXTS):
                tags = sorted(t for t, (i, _) in plans.items() if i == index)
                parts = [
                    text_codec.decode(
                        received[destination(t)].short_message,
                        received[destination(t)].data_coding,
                        udhi=bool(received[destination(t)].esm_class & 0x40),
                    )
                    for t in tags
                ]
                assert "".join(p.text for p in parts) == text
                if len(parts) > 1:
                    assert [p.seq for p in parts] == list(range(1, len(parts) + 1))
                    assert {p.total for p in parts} == {len(parts)}
                    assert {p.ref for p in parts} == {40 + index}


# =============================================================================================
# Binds and reconnection
# =============================================================================================


@pytest.mark.parametrize(
    ("override", "status"),
    [({"password": "wrong"}, S.ESME_RINVPASWD), ({"system_id": "nobody"}, S.ESME_RINVSYSID)],
    ids=["password", "system_id"],
)
async def test_refused_bind_is_retried_and_nothing_is_lost(override: dict, status: int) -> None:
    with trio.fail_after(15):
        async with running(**override) as h:
            await h.submit(jobs(3))
            await h.tap.wait_until(
                lambda: len(h.tap.seen(C.BIND_TRANSCEIVER_RESP, "in")) >= 4,
                what="four refused binds",
            )
            refusals = h.tap.seen(C.BIND_TRANSCEIVER_RESP, "in")
            assert {f.command_status for f in refusals} == {status}
            assert h.sim.stats["binds_refused"] >= 4
            assert h.tap.connections >= 4, "each retry is a new connection"
            assert h.operator.bound_links == 0
            assert h.outcomes.items == []
            assert len(h.operator.queue) == 3, "the jobs wait in the queue"
            assert h.tap.count(C.SUBMIT_SM, "out") == 0


async def test_refused_bind_retries_at_the_maximum_backoff(autojump_clock) -> None:
    with trio.fail_after(600):
        async with running(
            transport="memory", password="wrong", reconnect_initial=1, reconnect_max=8, seed=7
        ) as h:
            await h.tap.wait_until(lambda: h.tap.connections >= 5, timeout=200)
            gaps = intervals(h.tap.opened_at)
            rng = random.Random(7)
            # A credential error goes straight to reconnect_max, jittered over its upper half.
            expected = [8 * (0.5 + rng.random() / 2) for _ in gaps]
            assert gaps == pytest.approx(expected)
            assert h.sim.stats["binds_refused"] >= 4
            assert h.outcomes.items == [] and h.operator.bound_links == 0


async def test_reconnect_backoff_doubles_up_to_the_cap_with_jitter(autojump_clock) -> None:
    attempts: list[float] = []
    tried = trio.Event()

    async def refuse(settings: LinkSettings) -> trio.abc.Stream:
        attempts.append(trio.current_time())
        if len(attempts) >= 8:
            tried.set()
        raise ConnectionRefusedError(111, "Connection refused")

    send, _receive = trio.open_memory_channel[SubmitOutcome](10)
    operator = Operator(
        link_settings(1, reconnect_initial=1, reconnect_max=8),
        outcomes=send,
        inbound=InboundLog(),
        rng=random.Random(3),
        stream_factory=refuse,
    )
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            await nursery.start(operator.run)
            await tried.wait()
            nursery.cancel_scope.cancel()
    gaps = intervals(attempts)
    delays = [1, 2, 4, 8, 8, 8, 8]
    rng = random.Random(3)
    assert gaps == pytest.approx([d * (0.5 + rng.random() / 2) for d in delays])
    for gap, delay in zip(gaps, delays, strict=True):
        assert delay / 2 <= gap <= delay


async def test_connection_refused_is_retried_until_the_smsc_is_up() -> None:
    # A port nothing listens on (bound, then released), then a simulator on that very port.
    probe = socket.socket()
    probe.bind((HOST, 0))
    port = probe.getsockname()[1]
    probe.close()
    attempts: list[float] = []
    seen = trio.Event()
    tap = Wiretap()

    async def counting(settings: LinkSettings) -> trio.abc.Stream:
        attempts.append(trio.current_time())
        if len(attempts) >= 4:
            seen.set()
        return tap.wrap(await open_operator_stream(settings))

    send, receive = trio.open_memory_channel[SubmitOutcome](10)
    operator = Operator(
        link_settings(port), outcomes=send, inbound=InboundLog(), stream_factory=counting
    )
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            await nursery.start(operator.run)
            await operator.submit(SubmitJob(pdu=submit_pdu(1), tag=1))
            await seen.wait()
            assert tap.connections == 0 and len(operator.queue) == 1
            sim = Simulator(SimulatorConfig(host=HOST, port=port))
            await nursery.start(sim.serve)
            outcome = await receive.receive()
            assert outcome.outcome is Outcome.ACCEPTED and outcome.tag == 1
            nursery.cancel_scope.cancel()


async def test_backoff_resets_after_a_successful_bind(autojump_clock) -> None:
    # Each connection binds, carries one submit and is dropped by the SMSC.
    config = SimulatorConfig(faults=Faults(drop_after=2))
    with trio.fail_after(600):
        async with running(
            config, transport="memory", window=1, reconnect_initial=1, reconnect_max=60
        ) as h:
            outcomes = await h.submit_all(jobs(12), timeout=300)
            # A job the writer sent after the last answer, as the SMSC closed, is UNKNOWN.
            assert Outcome.ACCEPTED in {o.outcome for o in outcomes}
            assert {o.outcome for o in outcomes} <= {Outcome.ACCEPTED, Outcome.UNKNOWN}
            assert h.tap.connections >= 5
            check_against_wire(h.tap, outcomes)
            gaps = intervals(h.tap.opened_at)
            assert all(0.5 <= gap <= 1.0 for gap in gaps), gaps


async def test_transmitter_and_receiver_pair_receipts_go_to_the_receiver() -> None:
    config = SimulatorConfig(receipt_delay=0.01)
    with trio.fail_after(15):
        async with running(config, mode=BindMode.TRANSMITTER) as h:
            _rx, rx_outcomes, rx_inbound, rx_tap = await start_operator(
                h.nursery, h.port, mode=BindMode.RECEIVER
            )
            await rx_tap.wait_until(
                lambda: any(f.command_status == 0 for f in rx_tap.seen(C.BIND_RECEIVER_RESP)),
                what="the receiver bound",
            )
            outcomes = await h.submit_all(jobs(20, registered_delivery=1))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            receipts = await rx_inbound.wait_receipts(20)
            assert h.inbound.pdus == [], "a transmitter gets no deliver_sm"
            ids = {o.tag: o.message_id for o in outcomes}
            assert {tag_of(r.source_addr): r.receipted_message_id for r in receipts} == ids
            assert h.sim.stats["binds_transmitter"] == 1 and h.sim.stats["binds_receiver"] == 1
            assert rx_outcomes.items == []
            assert rx_tap.count(C.SUBMIT_SM, "out") == 0
            assert h.tap.count(C.DELIVER_SM, "in") == 0


# =============================================================================================
# Receipts and replies (deliver_sm to the InboundHandler)
# =============================================================================================


@pytest.mark.parametrize(
    ("style", "id_format", "receipt_id_format"),
    [("tlv", "decimal", "decimal"), ("text", "decimal", "decimal"), ("both", "hex", "hex")],
)
async def test_receipts_reach_the_handler_with_the_submit_message_id(
    style: str, id_format: str, receipt_id_format: str
) -> None:
    config = SimulatorConfig(
        receipt_delay=0.01,
        receipt_style=style,
        id_format=id_format,
        receipt_id_format=receipt_id_format,
    )
    with trio.fail_after(15):
        async with running(config, window=10) as h:
            outcomes = await h.submit_all(jobs(50, registered_delivery=1))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            receipts = await h.inbound.wait_receipts(50)
            assert len(receipts) == 50 and h.inbound.messages == []
            ids = {o.tag: o.message_id for o in outcomes}
            for receipt in receipts:
                assert receipt.esm_class & 0x3C == 0x04
                tag = tag_of(receipt.source_addr)
                assert receipt.destination_addr == "GATEWAY"
                if style in ("tlv", "both"):
                    assert receipt.receipted_message_id == ids[tag]
                    assert receipt.message_state == 2  # DELIVRD
                else:
                    assert receipt.receipted_message_id is None
                    assert receipt.message_state is None
                if style in ("text", "both"):
                    text_id = receipt_text_id(receipt)
                    base = 16 if receipt_id_format == "hex" else 10
                    assert text_id is not None
                    assert int(text_id, base) == int(ids[tag], 16 if id_format == "hex" else 10)
                    assert b"stat:DELIVRD" in receipt.short_message
                else:
                    assert receipt.short_message == b""
            assert h.sim.stats["receipts_sent"] == 50
            await h.stats_until(lambda stats: stats["deliver_sm_resp"] == 50)


async def test_the_handler_status_is_what_the_smsc_gets() -> None:
    def status(pdu: DeliverSm) -> int:
        return S.ESME_RX_T_APPN if tag_of(pdu.source_addr) % 2 else S.ESME_ROK

    inbound = InboundLog(status)
    with trio.fail_after(15):
        async with running(SimulatorConfig(receipt_delay=0.01), inbound=inbound) as h:
            await h.submit_all(jobs(30, registered_delivery=1))
            receipts = await inbound.wait_receipts(30)
            delivered = {
                (f.connection, f.sequence_number): tag_of(f.pdu.source_addr)
                for f in h.tap.seen(C.DELIVER_SM, "in")
            }
            await h.tap.wait_until(lambda: h.tap.count(C.DELIVER_SM_RESP, "out") >= 30)
            answers = {
                (f.connection, f.sequence_number): f.command_status
                for f in h.tap.seen(C.DELIVER_SM_RESP, "out")
            }
            assert answers.keys() == delivered.keys()
            for key, tag in delivered.items():
                assert answers[key] == (S.ESME_RX_T_APPN if tag % 2 else 0)
            assert len(receipts) == 30
            # The simulator counts every deliver_sm_resp it got, whatever the status.
            await h.stats_until(lambda stats: stats["deliver_sm_resp"] == 30)


async def test_stop_replies_and_mo_messages_reach_the_handler() -> None:
    stopper = destination(7)
    config = SimulatorConfig(receipt_delay=0.01, stop_from=frozenset({stopper}))
    with trio.fail_after(15):
        async with running(config) as h:
            await h.submit_all(jobs(10))
            await h.inbound.wait_until(lambda: len(h.inbound.messages) >= 1, what="STOP")
            (stop,) = h.inbound.messages
            assert stop.esm_class == 0
            assert stop.source_addr == stopper and stop.destination_addr == "GATEWAY"
            assert text_codec.decode(stop.short_message, stop.data_coding).text == "STOP"
            # A reply sent by the test through the simulator.
            h.sim.send_mo("33612345678", "36184", "Stop à 20€")
            h.sim.send_mo("33612345679", "36184", "Стоп")
            await h.inbound.wait_until(lambda: len(h.inbound.messages) >= 3, what="MO")
            texts = {
                m.source_addr: text_codec.decode(m.short_message, m.data_coding).text
                for m in h.inbound.messages[1:]
            }
            assert texts == {"33612345678": "Stop à 20€", "33612345679": "Стоп"}
            assert {m.data_coding for m in h.inbound.messages[1:]} == {0, 8}
            assert h.inbound.receipts == []
            assert h.sim.stats["replies_sent"] == 3


# =============================================================================================
# Retryable statuses: requeue, operator-wide pause, bounded attempts
# =============================================================================================


@pytest.mark.parametrize("kind", ["throttle", "queue_full", "system_error"])
async def test_retryable_status_pauses_then_fails_after_max_attempts(
    kind: str, autojump_clock
) -> None:
    faults, status = retry_faults(kind, 1.0)
    with trio.fail_after(600):
        async with running(
            SimulatorConfig(faults=faults),
            transport="memory",
            window=1,
            throttle_initial=0.5,
            throttle_max=4,
            max_attempts=5,
            response_timeout=100,
            enquire_link_interval=1000,
        ) as h:
            (outcome,) = await h.submit_all(jobs(1), timeout=100)
            assert outcome.outcome is Outcome.FAILED
            assert outcome.command_status == status
            assert outcome.attempts == 5
            assert "5 times" in outcome.reason
            times = h.tap.submit_times(0)
            t0 = times[0]
            # Paused 0.5, 1, 2, then 4 (the cap) before each new attempt.
            assert [t - t0 for t in times] == pytest.approx([0, 0.5, 1.5, 3.5, 7.5])
            assert h.outcomes.times[0] == pytest.approx(t0 + 7.5)
            assert h.operator.throttle.paused_until == pytest.approx(t0 + 7.5)
            assert h.tap.connections == 1, "a retryable status is no reason to reconnect"
            assert h.sim.stats[f"submit_sm_{S(status).name.lower()}"] == 5


@pytest.mark.parametrize("share", [0.3, 1.0])
@pytest.mark.parametrize("kind", ["throttle", "queue_full", "system_error"])
async def test_retryable_faults_end_accepted_or_failed(kind: str, share: float) -> None:
    faults, status = retry_faults(kind, share)
    count = 200 if share < 1 else 20
    with trio.fail_after(20):
        async with running(
            SimulatorConfig(faults=faults, seed=11), window=10, max_attempts=4
        ) as h:
            outcomes = await h.submit_all(jobs(count))
            kinds = {o.outcome for o in outcomes}
            assert Outcome.UNKNOWN not in kinds
            for o in outcomes:
                if o.outcome is Outcome.FAILED:
                    assert o.command_status == status and o.attempts == 4
                else:
                    assert 1 <= o.attempts <= 4
            if share < 1:
                assert Outcome.ACCEPTED in kinds
                assert any(o.attempts > 1 for o in outcomes), "some jobs were retried"
            else:
                assert kinds == {Outcome.FAILED}
            # Every submit the simulator saw is one attempt of one job: nothing lost or doubled.
            assert sum(o.attempts for o in outcomes) == h.sim.stats["submit_sm"]
            assert h.sim.stats[f"submit_sm_{S(status).name.lower()}"] == sum(
                o.attempts - (o.outcome is Outcome.ACCEPTED) for o in outcomes
            )
            assert h.operator.throttle.paused_until > -math.inf, "the operator paused"
            assert h.tap.connections == 1
            check_against_wire(h.tap, outcomes)


async def test_the_throttle_pause_holds_every_bind_of_the_operator(autojump_clock) -> None:
    # One token a second at the SMSC; two binds; a fixed 0.25 s pause per throttle.
    config = SimulatorConfig(max_tps=1)
    with trio.fail_after(600):
        async with running(
            config,
            transport="memory",
            binds=2,
            window=1,
            throttle_initial=0.25,
            throttle_max=0.25,
            max_attempts=100,
            response_timeout=100,
            enquire_link_interval=1000,
        ) as h:
            outcomes = await h.submit_all(jobs(6), timeout=100)
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            throttled = [
                f.time
                for f in h.tap.seen(C.SUBMIT_SM_RESP, "in")
                if f.command_status == S.ESME_RTHROTTLED
            ]
            sent = h.tap.seen(C.SUBMIT_SM, "out")
            assert throttled and {f.connection for f in sent} == {0, 1}
            for hit in throttled:
                for f in sent:
                    if f.time > hit:
                        assert f.time >= hit + 0.25 - 1e-9, (hit, f)
            accepted = sorted(h.outcomes.times)
            assert accepted[-1] - accepted[0] >= 5 - 1e-9, "the SMSC's 1/s was respected"


def test_throttle_pause_doubles_to_its_cap_and_resets_on_success() -> None:
    throttle = Throttle(0.5, 3.0)
    assert [throttle.hit(10.0) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert throttle.paused_until == 13.0
    throttle.ok()
    assert throttle.hit(20.0) == 0.5
    assert throttle.paused_until == 20.5


async def test_max_tps_is_enforced_and_every_job_still_accepted() -> None:
    config = SimulatorConfig(max_tps=400)
    with trio.fail_after(20):
        async with running(config, window=20, max_attempts=1000) as h:
            start = trio.current_time()
            outcomes = await h.submit_all(jobs(600))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert h.sim.stats["submit_sm_esme_rthrottled"] > 0
            assert any(o.attempts > 1 for o in outcomes)
            # 400 in the first second's burst, the other 200 at 400/s at best.
            assert max(h.outcomes.times) - start >= 0.45
            assert sum(o.attempts for o in outcomes) == h.sim.stats["submit_sm"]
            check_against_wire(h.tap, outcomes)


async def test_max_window_answers_queue_full_and_every_job_still_accepted() -> None:
    faults = Faults(slow_share=1.0, slow_delay=0.01)
    config = SimulatorConfig(max_window=3, faults=faults)
    with trio.fail_after(20):
        async with running(config, window=10, max_attempts=1000, response_timeout=5) as h:
            outcomes = await h.submit_all(jobs(100))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert h.sim.stats["submit_sm_esme_rmsgqful"] > 0
            assert h.sim.stats["submit_sm_esme_rok"] == 100
            assert sum(o.attempts for o in outcomes) == h.sim.stats["submit_sm"]
            assert h.tap.connections == 1
            check_against_wire(h.tap, outcomes)


# =============================================================================================
# No response: time-outs and connection loss end in UNKNOWN, the link carries on
# =============================================================================================


async def test_submit_on_an_idle_link_times_out_after_response_timeout(autojump_clock) -> None:
    config = SimulatorConfig(faults=Faults(slow_share=1.0, slow_delay=2.0))
    with trio.fail_after(600):
        async with running(
            config, transport="memory", response_timeout=0.5, enquire_link_interval=30
        ) as h:
            await h.tap.wait_until(lambda: h.tap.count(C.BIND_TRANSCEIVER_RESP, "in") == 1)
            await trio.testing.wait_all_tasks_blocked()  # the link is idle
            start = trio.current_time()
            await h.submit(jobs(1))
            (outcome,) = await h.outcomes.wait_count(1, timeout=100)
            assert outcome.outcome is Outcome.UNKNOWN, outcome
            assert outcome.reason == "no submit_sm_resp in time"
            assert h.outcomes.times[0] == pytest.approx(start + 0.5)


async def test_requests_timing_out_together_are_all_reported(autojump_clock) -> None:
    config = SimulatorConfig(faults=Faults(no_response_share=1.0))
    with trio.fail_after(3000):
        async with running(
            config, transport="memory", window=5, response_timeout=0.5,
            enquire_link_interval=1000,
        ) as h:
            await h.submit(jobs(5))  # one batch, one write: one deadline for all five
            outcomes = await h.outcomes.wait_count(5, timeout=2000)
            assert_one_outcome_each(outcomes, range(5))
            assert {o.outcome for o in outcomes} == {Outcome.UNKNOWN}


async def test_slow_responses_end_unknown_and_the_link_reconnects() -> None:
    faults = Faults(slow_share=0.1, slow_delay=0.3)
    with trio.fail_after(20):
        async with running(
            SimulatorConfig(faults=faults, seed=5, record=True), window=5, response_timeout=0.05
        ) as h:
            outcomes = await h.submit_all(jobs(80), timeout=SHORT)
            unknown = h.outcomes.tags(Outcome.UNKNOWN)
            assert unknown, "slow responses must surface as UNKNOWN"
            assert h.outcomes.tags(Outcome.ACCEPTED) and h.tap.connections > 1
            timed_out = [o for o in outcomes if o.reason == "no submit_sm_resp in time"]
            assert timed_out and {o.outcome for o in timed_out} == {Outcome.UNKNOWN}
            assert all(o.reason for o in outcomes if o.outcome is Outcome.UNKNOWN)
            # The link carries on after the time-outs: the last jobs go through.
            later = await h.submit_all(jobs(5, start=1000))
            assert {o.outcome for o in later} <= {Outcome.ACCEPTED, Outcome.UNKNOWN}
            check_against_wire(h.tap, outcomes)


async def test_missing_responses_end_unknown_and_the_link_carries_on() -> None:
    faults = Faults(no_response_share=0.05)
    with trio.fail_after(20):
        async with running(
            SimulatorConfig(faults=faults, seed=3), window=10, response_timeout=0.05
        ) as h:
            outcomes = await h.submit_all(jobs(200), timeout=SHORT)
            assert h.sim.stats["responses_withheld"] > 0
            unknown = h.outcomes.tags(Outcome.UNKNOWN)
            assert len(unknown) >= h.sim.stats["responses_withheld"]
            assert h.tap.connections > 1
            check_against_wire(h.tap, outcomes)


async def test_dropped_connection_in_flight_jobs_unknown_later_jobs_accepted() -> None:
    config = SimulatorConfig(faults=Faults(drop_after=30), record=True)
    with trio.fail_after(20):
        async with running(config, window=10) as h:
            outcomes = await h.submit_all(jobs(300), timeout=SHORT)
            assert h.sim.stats["dropped_connections"] >= 5 and h.tap.connections >= 6
            unknown = [o for o in outcomes if o.outcome is Outcome.UNKNOWN]
            accepted = h.outcomes.tags(Outcome.ACCEPTED)
            assert unknown and all(o.reason for o in unknown)
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED, Outcome.UNKNOWN}
            # Every accepted job is at the SMSC; UNKNOWN ones may or may not be.
            at_smsc = {tag_of(p.destination_addr) for p in h.sim.received}
            assert accepted <= at_smsc
            assert max(accepted) > max(o.tag for o in unknown), "jobs after the drops pass"
            check_against_wire(h.tap, outcomes)


async def test_decoded_responses_keep_their_outcome_when_the_link_closes(autojump_clock) -> None:
    # The SMSC answers jobs 0 and 1 in one write and never answers job 2. The layer above is
    # busy (unbuffered outcome channel, nobody reading) until after job 2 has timed out: the
    # reader is still handing over job 1's answer when the ticker closes the connection.
    send, receive = trio.open_memory_channel[SubmitOutcome](0)
    got: list[SubmitOutcome] = []
    connected = 0
    reconnected = trio.Event()
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:

            async def connect(settings: LinkSettings) -> trio.abc.Stream:
                nonlocal connected
                connected += 1
                if connected == 2:
                    reconnected.set()
                client, server = trio.testing.memory_stream_pair()
                nursery.start_soon(scripted_smsc, server, lambda p: tag_of(p.destination_addr) != 2)
                return client

            operator = Operator(
                link_settings(1, window=3, response_timeout=1.0, enquire_link_interval=100),
                outcomes=send,
                inbound=InboundLog(),
                stream_factory=connect,
            )
            await nursery.start(operator.run)
            for job in jobs(3):
                await operator.submit(job)
            await trio.sleep(5)  # virtual time: the consumer is busy elsewhere
            with trio.move_on_after(60):
                while len(got) < 3:
                    got.append(await receive.receive())
            with trio.move_on_after(60):
                await reconnected.wait()
            nursery.cancel_scope.cancel()
    assert_one_outcome_each(got, range(3))
    assert {o.tag: o.outcome for o in got} == {
        0: Outcome.ACCEPTED,
        1: Outcome.ACCEPTED,
        2: Outcome.UNKNOWN,
    }
    assert reconnected.is_set()


async def test_stopping_while_a_connection_closes_is_a_clean_stop(autojump_clock) -> None:
    # Regression: with the stop's cancellation and the connection's own end at once, the
    # connection nursery raised [LinkClosed, Cancelled, Cancelled] and Operator.run ended with
    # an ExceptionGroup instead of Cancelled.
    # The consumer takes the time-out's UNKNOWN and stops the operator at once, while the
    # connection that timed out is still being torn down.
    send, receive = trio.open_memory_channel[SubmitOutcome](0)
    sim = Simulator(SimulatorConfig(host=HOST, port=0, faults=Faults(no_response_share=1.0)))
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.serve)
            operator = Operator(
                link_settings(1, response_timeout=0.5, enquire_link_interval=1000),
                outcomes=send,
                inbound=InboundLog(),
                stream_factory=memory_factory(sim, nursery, Wiretap()),
            )
            async with trio.open_nursery() as links:
                await links.start(operator.run)
                await operator.submit(SubmitJob(pdu=submit_pdu(1), tag=1))
                outcome = await receive.receive()
                links.cancel_scope.cancel()
            # Reached only if Operator.run ended as a plain cancellation.
            assert outcome.outcome is Outcome.UNKNOWN
            nursery.cancel_scope.cancel()


SHUTDOWN_SCRIPT = """
import trio, trio.testing
from gateway.smpp.client import Operator
from tests.helpers_link import InboundLog, jobs, link_settings, scripted_smsc

async def main():
    send, receive = trio.open_memory_channel(0)   # the consumer: stopped with everything else
    async with trio.open_nursery() as nursery:
        async def connect(settings):
            client, server = trio.testing.memory_stream_pair()
            nursery.start_soon(scripted_smsc, server, lambda pdu: False)   # never answers
            return client
        operator = Operator(link_settings(1, window=10, response_timeout=60),
                            outcomes=send, inbound=InboundLog(), stream_factory=connect,
                            report_timeout=0.5)
        await nursery.start(operator.run)
        for job in jobs(10):
            await operator.submit(job)
        await trio.testing.wait_all_tasks_blocked(0.05)   # ten submits in flight
        print("stopping", flush=True)
        nursery.cancel_scope.deadline = trio.current_time() + 1   # graceful stop, hard bound
        nursery.cancel_scope.cancel()
    print("stopped", flush=True)

trio.run(main)
"""


def test_stopping_with_nobody_reading_outcomes_is_bounded() -> None:
    # Regression: each job in flight waited report_timeout under a shield in turn, so the stop
    # took N * report_timeout whatever the caller's deadline.
    # In a subprocess: a shielded wait cannot be cut short from inside. Ten jobs in flight,
    # report_timeout 0.5 s: bounded means about one report_timeout (plus the unbind), not ten.
    # (A sync test, so that a broken script fails as itself, not as a slow stop.)
    try:
        result = subprocess.run(
            [sys.executable, "-c", SHUTDOWN_SCRIPT],
            cwd=ROOT,
            capture_output=True,
            timeout=3.5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the operator did not stop within 3.5 s") from None
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode())
    lines = result.stdout.splitlines()  # structlog writes to stdout too
    assert b"stopping" in lines and lines[-1] == b"stopped"


async def test_stopping_the_operator_reports_jobs_in_flight_as_unknown() -> None:
    config = SimulatorConfig(faults=Faults(slow_share=1.0, slow_delay=60))
    with trio.fail_after(15):
        async with running(config, window=5, start_operator=False, response_timeout=60) as h:
            async with trio.open_nursery() as links:
                await links.start(h.operator.run)
                await h.submit(jobs(8))
                await h.tap.wait_until(lambda: h.tap.count(C.SUBMIT_SM, "out") == 5)
                links.cancel_scope.cancel()
            outcomes = await h.outcomes.wait_count(5)
            assert {o.tag for o in outcomes} == set(range(5))
            assert {o.outcome for o in outcomes} == {Outcome.UNKNOWN}
            assert all(o.reason for o in outcomes)
            assert len(h.operator.queue) == 3, "jobs never sent stay queued"


async def test_stopping_the_operator_unbinds() -> None:
    with trio.fail_after(15):
        async with running(start_operator=False) as h:
            async with trio.open_nursery() as links:
                await links.start(h.operator.run)
                await h.submit_all(jobs(3))
                links.cancel_scope.cancel()
            assert h.tap.count(C.UNBIND, "out") == 1


# =============================================================================================
# Odd writes: coalesced, byte by byte
# =============================================================================================


async def test_coalesced_writes_many_pdus_per_read() -> None:
    faults = Faults(coalesce_interval=0.005)
    config = SimulatorConfig(faults=faults, receipt_delay=0)
    with trio.fail_after(20):
        async with running(config, window=50) as h:
            outcomes = await h.submit_all(jobs(1000, registered_delivery=1))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            await h.inbound.wait_receipts(1000)
            assert max(len(r) for r in h.tap.reads) >= 20, "many PDUs arrive per read"
            assert any(
                {f.command_id for f in r} >= {C.SUBMIT_SM_RESP, C.DELIVER_SM} for r in h.tap.reads
            ), "responses and receipts share reads"
            assert h.tap.connections == 1
            check_against_wire(h.tap, outcomes)


async def test_byte_by_byte_writes() -> None:
    config = SimulatorConfig(faults=Faults(split_bytes=True), receipt_delay=0.001)
    with trio.fail_after(20):
        async with running(config, window=10) as h:
            outcomes = await h.submit_all(jobs(100, registered_delivery=1))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            await h.inbound.wait_receipts(100)
            assert h.tap.partial_reads > 0, "some reads ended inside a PDU"
            assert h.tap.connections == 1
            check_against_wire(h.tap, outcomes)


# =============================================================================================
# Malformed PDUs from the SMSC
# =============================================================================================


async def test_unknown_command_gets_generic_nack_and_the_session_goes_on() -> None:
    faults = Faults(malformed_every=5, malformed_kind="unknown_command")
    with trio.fail_after(15):
        async with running(SimulatorConfig(faults=faults), window=3) as h:
            outcomes = await h.submit_all(jobs(50))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert h.sim.stats["malformed_unknown_command"] == 10
            await h.tap.wait_until(lambda: h.tap.count(C.GENERIC_NACK, "out") == 10)
            nacks = h.tap.seen(C.GENERIC_NACK, "out")
            assert {f.command_status for f in nacks} == {S.ESME_RINVCMDID}
            assert sorted(f.sequence_number for f in nacks) == [
                0x7FFF0000 + n for n in range(5, 51, 5)
            ]
            await h.stats_until(lambda stats: stats["generic_nacks_received"] == 10)
            assert h.inbound.pdus == [] and h.tap.connections == 1
            check_against_wire(h.tap, outcomes)


async def test_bad_body_gets_an_error_response_and_the_session_goes_on() -> None:
    faults = Faults(malformed_every=5, malformed_kind="bad_body")
    with trio.fail_after(15):
        async with running(SimulatorConfig(faults=faults), window=3) as h:
            outcomes = await h.submit_all(jobs(50))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert h.sim.stats["malformed_bad_body"] == 10
            await h.tap.wait_until(lambda: h.tap.count(C.DELIVER_SM_RESP, "out") == 10)
            answers = h.tap.seen(C.DELIVER_SM_RESP, "out")
            assert {(f.command_status, f.sequence_number) for f in answers} == {
                (S.ESME_RINVCMDLEN, 0x7FFE0000)
            }
            assert h.tap.count(C.GENERIC_NACK, "out") == 0
            assert h.inbound.pdus == [], "an undecodable deliver_sm never reaches the handler"
            assert h.sim.stats["pdus_rejected"] == 0 and h.tap.connections == 1
            check_against_wire(h.tap, outcomes)


async def test_framing_error_while_jobs_wait_in_the_queue(autojump_clock) -> None:
    # Regression: after a framing error the writer, woken by the freed window, took the next
    # job and called Session.send_request in state ERROR: LocalProtocolError crashed the
    # operator and that job was lost.
    # Window 1 and a bad frame right after every answer: when the framing breaks, the next job
    # is already waiting for the window slot the answer frees.
    faults = Faults(malformed_every=1, malformed_kind="bad_length")
    with trio.fail_after(600):
        async with running(
            SimulatorConfig(faults=faults), transport="memory", window=1,
            reconnect_initial=0.1, reconnect_max=0.1,
        ) as h:
            outcomes = await h.submit_all(jobs(4), timeout=100)
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert h.tap.connections >= 4
            check_against_wire(h.tap, outcomes)


async def test_bad_length_breaks_framing_the_link_reconnects_and_nothing_is_lost() -> None:
    faults = Faults(malformed_every=10, malformed_kind="bad_length")
    with trio.fail_after(20):
        async with running(SimulatorConfig(faults=faults, record=True), window=5) as h:
            outcomes = await h.submit_all(jobs(100), timeout=SHORT)
            assert {o.outcome for o in outcomes} <= {Outcome.ACCEPTED, Outcome.UNKNOWN}
            assert h.sim.stats["malformed_bad_length"] >= 5
            assert h.tap.connections >= 5
            nacks = h.tap.seen(C.GENERIC_NACK, "out")
            assert nacks and {f.command_status for f in nacks} == {S.ESME_RINVCMDLEN}
            assert h.sim.stats["framing_errors"] == 0
            await h.stats_until(lambda stats: stats["generic_nacks_received"] >= 1)
            assert all(o.reason for o in outcomes if o.outcome is Outcome.UNKNOWN)
            accepted = h.outcomes.tags(Outcome.ACCEPTED)
            assert accepted <= {tag_of(p.destination_addr) for p in h.sim.received}
            check_against_wire(h.tap, outcomes)


async def test_receipt_in_the_same_read_as_a_framing_error(autojump_clock) -> None:
    # Coalesced writes put [resp 0, receipt 0, resp 1, bad frame] in one write.
    faults = Faults(coalesce_interval=0.05, malformed_every=2, malformed_kind="bad_length")
    config = SimulatorConfig(receipt_delay=0.01, faults=faults)
    with trio.fail_after(600):
        async with running(
            config, transport="memory", window=5, response_timeout=100,
            enquire_link_interval=1000,
        ) as h:
            await h.tap.wait_until(lambda: h.tap.count(C.BIND_TRANSCEIVER_RESP, "in") == 1)
            await h.submit([SubmitJob(pdu=submit_pdu(0, registered_delivery=1), tag=0)])
            await trio.sleep(0.02)  # virtual: the receipt is queued at the SMSC, not yet sent
            await h.submit([SubmitJob(pdu=submit_pdu(1), tag=1)])
            outcomes = await h.outcomes.wait_count(2, timeout=100)
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert h.tap.framing_errors, "the scenario needs the bad frame in that read"
            # The link reconnects and carries on.
            await h.tap.wait_until(
                lambda: len(h.tap.seen(C.BIND_TRANSCEIVER_RESP, "in", connection=1)) == 1,
                timeout=100,
            )
            later = await h.submit_all(jobs(1, start=5), timeout=100)
            assert later[0].outcome is Outcome.ACCEPTED


# =============================================================================================
# Keep-alive
# =============================================================================================


async def test_idle_link_sends_enquire_link_and_stays_up() -> None:
    with trio.fail_after(15):
        async with running(enquire_link_interval=0.02, response_timeout=0.2) as h:
            await h.tap.wait_until(
                lambda: h.tap.count(C.ENQUIRE_LINK_RESP, "in") >= 3, what="3 keep-alives"
            )
            pings = {f.sequence_number for f in h.tap.seen(C.ENQUIRE_LINK, "out")}
            pongs = {f.sequence_number for f in h.tap.seen(C.ENQUIRE_LINK_RESP, "in")}
            assert pongs <= pings and len(pongs) >= 3
            assert h.tap.connections == 1 and h.sim.stats["connections"] == 1
            (outcome,) = await h.submit_all(jobs(1))
            assert outcome.outcome is Outcome.ACCEPTED


@pytest.mark.parametrize("response_timeout", [2, 8])
async def test_enquire_link_cadence(response_timeout: float, autojump_clock) -> None:
    # Regression (8): the enquire_link_resp did not wake the ticker, which slept until the
    # probe's response deadline: with response_timeout > interval, one probe per time-out.
    with trio.fail_after(600):
        async with running(
            transport="memory", enquire_link_interval=5, response_timeout=response_timeout
        ) as h:
            await h.tap.wait_until(
                lambda: h.tap.count(C.ENQUIRE_LINK_RESP, "in") >= 4, timeout=100
            )
            bound = h.tap.seen(C.BIND_TRANSCEIVER_RESP, "in")[0].time
            pings = [f.time - bound for f in h.tap.seen(C.ENQUIRE_LINK, "out")]
            assert pings[:4] == pytest.approx([5, 10, 15, 20])
            assert h.tap.connections == 1


# =============================================================================================
# Receiver binds, and batches of outcomes cut short by a close
# =============================================================================================


async def test_a_receiver_bind_leaves_queued_jobs_alone(autojump_clock) -> None:
    # A receiver may not send submit_sm: its link runs no writer (it used to take the job and
    # crash the operator with LocalProtocolError).
    with trio.fail_after(600):
        async with running(transport="memory", mode=BindMode.RECEIVER) as h:
            await h.submit(jobs(2))
            await h.tap.wait_until(lambda: h.tap.count(C.BIND_RECEIVER_RESP, "in") == 1)
            await trio.sleep(60)
            assert len(h.operator.queue) == 2
            assert h.tap.count(C.SUBMIT_SM, "out") == 0
            assert h.tap.connections == 1 and h.operator.bound_links == 1


async def test_a_close_during_a_batch_of_outcomes_reports_the_whole_batch(autojump_clock) -> None:
    # Five answers in one read, the layer above busy (unbuffered channel): the reader is still
    # handing them over when the ticker closes the connection (job 5 never answered). The
    # answers are settled in the session already: each must still be reported, within the
    # closing bound, after the cancellation reached the reader.
    send, receive = trio.open_memory_channel[SubmitOutcome](0)
    got: list[SubmitOutcome] = []
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:

            async def connect(settings: LinkSettings) -> trio.abc.Stream:
                client, server = trio.testing.memory_stream_pair()
                nursery.start_soon(scripted_smsc, server, lambda p: tag_of(p.destination_addr) != 5)
                return client

            operator = Operator(
                link_settings(1, window=6, response_timeout=1.0, enquire_link_interval=100),
                outcomes=send,
                inbound=InboundLog(),
                stream_factory=connect,
            )
            await nursery.start(operator.run)
            for job in jobs(6):
                await operator.submit(job)
            await trio.sleep(5)  # virtual time: the consumer is busy elsewhere
            with trio.move_on_after(60):
                while len(got) < 6:
                    got.append(await receive.receive())
            nursery.cancel_scope.cancel()
    assert_one_outcome_each(got, range(6))
    assert {o.tag: o.outcome for o in got} == {
        **{tag: Outcome.ACCEPTED for tag in range(5)},
        5: Outcome.UNKNOWN,
    }


# =============================================================================================
# Pacing: an operator-wide Pacer (gateway.ratelimit's token bucket, in production)
# =============================================================================================


class RecordingPacer(Watched):
    """Grants at most ``per_call`` parts per acquire, after ``gate`` is set (if given), and
    records every call: (wanted, granted), and how many submit_sm ``tap`` had seen go out when
    the call began (so the size of each write can be read back)."""

    def __init__(
        self, per_call: int, *, gate: trio.Event | None = None, tap: Wiretap | None = None
    ) -> None:
        super().__init__()
        self.per_call = per_call
        self.gate = gate
        self.tap = tap
        self.wanted: list[int] = []
        self.granted: list[int] = []
        self.sent_before: list[int] = []
        self.throttles = 0
        self.oks = 0

    async def acquire(self, wanted: int) -> int:
        self.wanted.append(wanted)
        if self.tap is not None:
            self.sent_before.append(self.tap.count(C.SUBMIT_SM, "out"))
        self._changed()
        if self.gate is not None:
            await self.gate.wait()
        granted = min(wanted, self.per_call)
        self.granted.append(granted)
        return granted

    def throttled(self) -> None:
        self.throttles += 1

    def ok(self) -> None:
        self.oks += 1


class IntervalPacer:
    """``per_interval`` parts, then nothing until ``interval`` has passed: a crude bucket,
    shared by every bind (safe with several writers: the check and the update have no await
    in between)."""

    def __init__(self, per_interval: int, interval: float) -> None:
        self.per_interval = per_interval
        self.interval = interval
        self.next_at = -math.inf

    async def acquire(self, wanted: int) -> int:
        await trio.lowlevel.checkpoint()
        while trio.current_time() < self.next_at:
            await trio.sleep_until(self.next_at)
        self.next_at = trio.current_time() + self.interval
        return min(wanted, self.per_interval)

    def throttled(self) -> None:
        pass

    def ok(self) -> None:
        pass


async def test_the_writer_sends_no_more_than_the_pacer_grants() -> None:
    with trio.fail_after(20):
        async with running(window=10, start_operator=False) as h:
            pacer = RecordingPacer(3, tap=h.tap)
            h.operator.pacer = pacer
            await h.submit(jobs(60))  # all queued before the link binds
            await h.nursery.start(h.operator.run)
            outcomes = await h.outcomes.wait_count(60)
            assert_one_outcome_each(outcomes, range(60))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert {o.attempts for o in outcomes} == {1}
            total = h.tap.count(C.SUBMIT_SM, "out")
            assert total == 60
            writes = [b - a for a, b in itertools.pairwise([*pacer.sent_before, total])]
            assert len(writes) == len(pacer.granted) == len(pacer.wanted)
            # One acquire per write, and never more in a write than it granted.
            for size, granted, wanted in zip(writes, pacer.granted, pacer.wanted, strict=True):
                assert 1 <= size <= granted == min(3, wanted), (size, granted, wanted)
                assert 1 <= wanted <= 10
            # The first write could have taken a full window: 1 + min(10 - 1, 59 queued).
            assert pacer.wanted[0] == 10 and writes[0] == 3
            assert max_in_flight(h.tap) <= 10
            check_against_wire(h.tap, outcomes)


async def test_without_a_grant_limit_the_writer_still_fills_the_window() -> None:
    with trio.fail_after(20):
        async with running(window=10, start_operator=False) as h:
            pacer = RecordingPacer(1000, tap=h.tap)
            h.operator.pacer = pacer
            await h.submit(jobs(50))
            await h.nursery.start(h.operator.run)
            outcomes = await h.outcomes.wait_count(50)
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert pacer.wanted[0] == pacer.granted[0] == 10
            assert pacer.sent_before[:2] == [0, 10], "the whole grant went in one write"
            assert pacer.oks == 50 and pacer.throttles == 0
            assert max_in_flight(h.tap) == 10


@pytest.mark.parametrize(
    ("kind", "counts"), [("throttle", True), ("queue_full", True), ("system_error", False)]
)
async def test_the_pacer_hears_of_throttles_and_acceptances(kind: str, counts: bool) -> None:
    faults, status = retry_faults(kind, 0.3)
    with trio.fail_after(20):
        async with running(
            SimulatorConfig(faults=faults, seed=11), window=10, max_attempts=1000,
            start_operator=False,
        ) as h:  # fmt: skip
            pacer = RecordingPacer(1000)
            h.operator.pacer = pacer
            await h.nursery.start(h.operator.run)
            outcomes = await h.submit_all(jobs(100))
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            refused = h.sim.stats[f"submit_sm_{S(status).name.lower()}"]
            assert refused > 0
            assert pacer.oks == h.sim.stats["submit_sm_esme_rok"] == 100
            # ESME_RTHROTTLED and ESME_RMSGQFUL mean "slow down"; ESME_RSYSERR does not.
            assert pacer.throttles == (refused if counts else 0)
            check_against_wire(h.tap, outcomes)


async def test_stopping_while_the_writer_waits_on_the_pacer_keeps_the_job() -> None:
    gate = trio.Event()  # never set: the pacer never grants
    pacer = RecordingPacer(10, gate=gate)
    with trio.fail_after(15):
        async with running(start_operator=False, pacer=pacer) as h:
            await h.submit(jobs(3))
            async with trio.open_nursery() as links:
                await links.start(h.operator.run)
                await pacer.wait_until(lambda: len(pacer.wanted) == 1, what="an acquire")
                links.cancel_scope.cancel()
            assert pacer.wanted == [3] and pacer.granted == []
            # The job the writer held is back at the head: the queue is in its first order.
            queue = h.operator.queue
            assert [queue.get_nowait().tag for _ in range(len(queue))] == [0, 1, 2]  # type: ignore[union-attr]
            assert h.tap.count(C.SUBMIT_SM, "out") == 0 and h.outcomes.items == []
            assert h.tap.count(C.UNBIND, "out") == 1


async def test_a_connection_lost_while_the_writer_waits_on_the_pacer_loses_no_job() -> None:
    gate = trio.Event()
    pacer = RecordingPacer(10, gate=gate)
    with trio.fail_after(15):
        async with running(pacer=pacer) as h:
            await h.tap.wait_until(lambda: h.operator.bound_links == 1, what="bound")
            await h.submit(jobs(3))
            await pacer.wait_until(lambda: len(pacer.wanted) == 1, what="an acquire")
            assert h.sim.drop_connections() == 1
            # The new connection's writer takes the same job first: all three were queued.
            await pacer.wait_until(lambda: len(pacer.wanted) == 2, what="a second acquire")
            assert pacer.wanted == [3, 3] and h.tap.connections == 2
            gate.set()
            outcomes = await h.outcomes.wait_count(3)
            assert_one_outcome_each(outcomes, range(3))
            assert {(o.outcome, o.attempts) for o in outcomes} == {(Outcome.ACCEPTED, 1)}
            sent = h.tap.seen(C.SUBMIT_SM, "out")
            assert [tag_of(f.pdu.destination_addr) for f in sent] == [0, 1, 2]  # type: ignore[union-attr]
            assert {f.connection for f in sent} == {1}
            check_against_wire(h.tap, outcomes)


async def test_one_pacer_paces_every_bind_of_the_operator(autojump_clock) -> None:
    # Two parts a second for the whole operator, whatever the number of binds.
    with trio.fail_after(600):
        async with running(
            transport="memory", binds=2, pacer=IntervalPacer(2, 1.0), response_timeout=100,
            enquire_link_interval=1000,
        ) as h:  # fmt: skip
            await h.tap.wait_until(lambda: h.operator.bound_links == 2, what="both bound")
            outcomes = await h.submit_all(jobs(10), timeout=100)
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            sent = h.tap.seen(C.SUBMIT_SM, "out")
            times = sorted(f.time - sent[0].time for f in sent)
            # Never more than two in any one second, however the binds share the work. (Not
            # exactly two a second: a writer granted two may find that the other bind took the
            # second job meanwhile, and an unused grant is lost, by design: see Pacer.)
            assert times[:2] == [0, 0]
            assert all(later - earlier >= 1 - 1e-9 for earlier, later in zip(
                times, times[2:], strict=False
            ))
            assert times[-1] >= 4 - 1e-9
            assert {f.connection for f in sent} == {0, 1}, "both binds carried traffic"


# =============================================================================================
# Health: the read-only view the daemon shows
# =============================================================================================


async def test_health_shows_binds_queue_and_in_flight() -> None:
    config = SimulatorConfig(faults=Faults(slow_share=1.0, slow_delay=60))
    with trio.fail_after(15):
        async with running(config, window=5, start_operator=False, response_timeout=60) as h:
            assert h.operator.health() == {
                "name": "sim",
                "binds": 1,
                "bound": 0,
                "queued": 0,
                "in_flight": 0,
                "throttled_until": None,
                "links": [],
            }
            await h.nursery.start(h.operator.run)
            await h.tap.wait_until(lambda: h.operator.bound_links == 1, what="bound")
            await h.submit(jobs(8))
            await h.tap.wait_until(lambda: h.tap.count(C.SUBMIT_SM, "out") == 5)
            assert h.operator.health() == {
                "name": "sim",
                "binds": 1,
                "bound": 1,
                "queued": 3,
                "in_flight": 5,
                "throttled_until": None,
                "links": [{"index": 0, "state": "bound_trx", "in_flight": 5}],
            }


async def test_health_shows_links_down_and_the_throttle_pause(autojump_clock) -> None:
    with trio.fail_after(600):
        async with running(
            SimulatorConfig(faults=Faults(throttle_share=1.0)), transport="memory",
            throttle_initial=5, throttle_max=5, response_timeout=100, enquire_link_interval=1000,
        ) as h:  # fmt: skip
            await h.tap.wait_until(lambda: h.operator.bound_links == 1, what="bound")
            await h.submit(jobs(1))
            await h.tap.wait_until(lambda: h.tap.count(C.SUBMIT_SM_RESP, "in") == 1)
            await trio.testing.wait_all_tasks_blocked()
            answered = h.tap.seen(C.SUBMIT_SM_RESP, "in")[0].time
            health = h.operator.health()
            assert health["throttled_until"] == pytest.approx(answered + 5)
            assert health["queued"] == 1 and health["in_flight"] == 0, "requeued, paused"
            await trio.sleep(6)  # past the pause: the retry is in flight, and throttled again
            assert h.operator.health()["throttled_until"] is not None

    send, _receive = trio.open_memory_channel[SubmitOutcome](10)

    async def refuse(settings: LinkSettings) -> trio.abc.Stream:
        raise ConnectionRefusedError(111, "Connection refused")

    operator = Operator(
        link_settings(1), outcomes=send, inbound=InboundLog(), binds=2, stream_factory=refuse
    )
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            await nursery.start(operator.run)
            await trio.sleep(0.001)
            health = operator.health()
            nursery.cancel_scope.cancel()
    assert health["bound"] == 0 and health["in_flight"] == 0
    assert health["links"] == [
        {"index": 0, "state": "down", "in_flight": 0},
        {"index": 1, "state": "down", "in_flight": 0},
    ]
