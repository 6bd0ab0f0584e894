"""Tests of the bundled SMSC simulator (``gateway.smpp.simulator``): what it answers, what it
counts, the faults it injects as they appear on the wire, and its command line.

Most tests drive the simulator with ``RawEsme``, a bare ESME on the sans-IO ``Session`` with no
``gateway.smpp.client`` in the way, so a simulator test does not depend on the link's behaviour;
the others use an ``Operator`` (tests/helpers_link.py). Connections are real loopback TCP on
port 0, or in-memory streams into the simulator's per-connection handler when the test asserts
timing on trio's MockClock. Every test has an absolute ``trio.fail_after``; nothing sleeps to
wait for something to happen.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import signal
import socket
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trio.testing

from gateway import codec as text_codec
from gateway.smpp.client import Outcome, SubmitJob
from gateway.smpp.events import (
    BindFailed,
    BindMode,
    Bound,
    Event,
    PduRejected,
    RequestReceived,
    ResponseReceived,
)
from gateway.smpp.pdu import CommandId, CommandStatus, DataSm, DeliverSm, MessageState, SubmitSm
from gateway.smpp.session import RemoteProtocolError, Role, Session
from gateway.smpp.simulator import (
    Faults,
    Simulator,
    SimulatorConfig,
    build_parser,
    config_from_args,
    main,
)
from tests.helpers_link import (
    HOST,
    PASSWORD,
    SYSTEM_ID,
    WatchedStats,
    jobs,
    receipt_text_id,
    receipt_text_stat,
    running,
    start_operator,
    submit_pdu,
    tag_of,
    watch_stats,
)

ROOT = Path(__file__).resolve().parent.parent
C = CommandId
S = CommandStatus


# -- a bare ESME ---------------------------------------------------------------------------


class RawEsme:
    """One connection driven straight through a Session(Role.ESME): bind, send, read events."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.session = Session(
            Role.ESME, window=1000, response_timeout=math.inf, enquire_link_interval=math.inf
        )
        self.events: list[Event] = []
        #: trio time at which each event was read.
        self.times: list[float] = []
        self.eof = False

    async def flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def read(self) -> list[Event]:
        """One read; answers what the session answers by itself (enquire_link, nacks)."""
        data = await self.stream.receive_some(65536)
        if not data:
            self.eof = True
            return []
        events = self.session.receive_data(data, now=trio.current_time())
        self.events.extend(events)
        self.times.extend(trio.current_time() for _ in events)
        await self.flush()
        return events

    async def until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            if self.eof:
                raise AssertionError("the simulator closed the connection")
            await self.read()

    async def bind(
        self,
        mode: BindMode = BindMode.TRANSCEIVER,
        *,
        system_id: str = SYSTEM_ID,
        password: str = PASSWORD,
    ) -> Bound | BindFailed:
        self.session.bind(mode, system_id=system_id, password=password, now=trio.current_time())
        await self.flush()
        await self.until(lambda: any(isinstance(e, Bound | BindFailed) for e in self.events))
        return next(e for e in self.events if isinstance(e, Bound | BindFailed))

    async def submit(self, *pdus: SubmitSm | DataSm) -> None:
        for pdu in pdus:
            self.session.send_request(pdu, now=trio.current_time(), tag=pdu)
        await self.flush()

    def responses(self, command_id: int = C.SUBMIT_SM_RESP) -> list[ResponseReceived]:
        return [
            e
            for e in self.events
            if isinstance(e, ResponseReceived) and e.pdu.command_id == command_id
        ]

    def requests(self) -> list[RequestReceived]:
        return [e for e in self.events if isinstance(e, RequestReceived)]


class _CountingStream(trio.abc.Stream):
    """The simulator's end of a memory connection, counting its writes."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.writes: list[tuple[float, int]] = []

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append((trio.current_time(), len(data)))
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def serving(config: SimulatorConfig | None = None) -> AsyncIterator[Sim]:
    sim = Simulator(replace(config or SimulatorConfig(), host=HOST, port=0))
    watch_stats(sim)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(sim.serve)
        yield Sim(sim, port, nursery)
        nursery.cancel_scope.cancel()


class Sim:
    def __init__(self, sim: Simulator, port: int, nursery: trio.Nursery) -> None:
        self.sim = sim
        self.port = port
        self.nursery = nursery
        self.server_ends: list[_CountingStream] = []

    @property
    def stats(self) -> WatchedStats:
        assert isinstance(self.sim.stats, WatchedStats)
        return self.sim.stats

    async def stats_until(self, predicate: Callable[[Counter[str]], bool]) -> None:
        await self.stats.watch.wait_until(lambda: predicate(self.stats), what="stats")

    async def tcp(self) -> RawEsme:
        return RawEsme(await trio.open_tcp_stream(HOST, self.port))

    def memory(self) -> RawEsme:
        client, server = trio.testing.memory_stream_pair()
        counted = _CountingStream(server)
        self.server_ends.append(counted)
        self.nursery.start_soon(self.sim._handle, counted)
        return RawEsme(client)


# =============================================================================================
# Binds and answers
# =============================================================================================


async def test_binds_are_checked_and_counted() -> None:
    with trio.fail_after(10):
        async with serving() as s:
            ok = await (await s.tcp()).bind(BindMode.TRANSMITTER)
            assert isinstance(ok, Bound) and ok.system_id == "SIMSMSC"
            assert ok.interface_version == 0x34
            rx = await (await s.tcp()).bind(BindMode.RECEIVER)
            assert isinstance(rx, Bound)
            wrong_password = await (await s.tcp()).bind(password="nope")
            assert isinstance(wrong_password, BindFailed)
            assert wrong_password.command_status == S.ESME_RINVPASWD
            # An unknown system_id is refused as such, whatever the password.
            wrong_id = await (await s.tcp()).bind(system_id="other", password="nope")
            assert isinstance(wrong_id, BindFailed)
            assert wrong_id.command_status == S.ESME_RINVSYSID
            assert s.stats["binds_transmitter"] == 1 and s.stats["binds_receiver"] == 1
            assert s.stats["binds_refused"] == 2 and s.stats["connections"] == 4


@pytest.mark.parametrize(("id_format", "base"), [("decimal", 10), ("hex", 16)])
async def test_message_ids_are_unique_in_the_configured_format(id_format: str, base: int) -> None:
    with trio.fail_after(10):
        async with serving(SimulatorConfig(id_format=id_format)) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(*(submit_pdu(n) for n in range(300)))
            await esme.until(lambda: len(esme.responses()) == 300)
            ids = [e.pdu.message_id for e in esme.responses()]
            assert [int(i, base) for i in ids] == list(range(1, 301))
            if id_format == "hex":
                assert "FF" in ids and all(i == i.upper() for i in ids)
            assert {e.pdu.command_status for e in esme.responses()} == {0}


async def test_data_sm_is_refused_as_unsupported() -> None:
    with trio.fail_after(10):
        async with serving() as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(DataSm(source_addr="GATEWAY", destination_addr="33600000001"))
            await esme.until(lambda: bool(esme.responses(C.DATA_SM_RESP)))
            assert esme.responses(C.DATA_SM_RESP)[0].pdu.command_status == S.ESME_RINVCMDID
            assert s.stats["submit_sm"] == 0


async def test_record_keeps_each_accepted_submit_once() -> None:
    config = SimulatorConfig(record=True, faults=Faults(throttle_share=0.3), seed=2)
    with trio.fail_after(10):
        async with serving(config) as s:
            esme = await s.tcp()
            await esme.bind()
            sent = [submit_pdu(n, registered_delivery=n % 2) for n in range(100)]
            await esme.submit(*sent)
            await esme.until(lambda: len(esme.responses()) == 100)
            accepted = [e.request.tag for e in esme.responses() if e.pdu.command_status == 0]
            assert 0 < len(accepted) < 100
            assert [replace(p, sequence_number=0) for p in s.sim.received] == accepted
            assert s.stats["submit_sm_esme_rok"] == len(accepted)


async def test_nothing_is_recorded_unless_asked(tmp_path: Path) -> None:
    export = tmp_path / "accepted.jsonl"
    config = SimulatorConfig(export=export, faults=Faults(queue_full_share=0.5), seed=4)
    sent = [
        submit_pdu(n, data_coding=8, short_message="ça va ? ✓".encode("utf-16-be"))
        for n in range(20)
    ]
    with trio.fail_after(10):
        async with serving(config) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(*sent)
            await esme.until(lambda: len(esme.responses()) == 20)
            accepted = {
                int(e.pdu.message_id): e.request.tag
                for e in esme.responses()
                if e.pdu.command_status == 0
            }
            assert s.sim.received == []
    # Exported on the way, closed when the simulator stops: one JSON line per accepted submit.
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(accepted) and 0 < len(lines) < 20
    for line in lines:
        pdu = accepted[line["id"]]
        assert line["source"] == pdu.source_addr and line["destination"] == pdu.destination_addr
        assert line["data_coding"] == 8 and line["esm_class"] == 0
        assert bytes.fromhex(line["short_message"]) == pdu.short_message


# =============================================================================================
# Receipts
# =============================================================================================

RECEIPT_TEXT = re.compile(
    r"id:(?P<id>\w+) sub:001 dlvrd:(?P<dlvrd>00[01]) submit date:\d{10} done date:\d{10} "
    r"stat:(?P<stat>[A-Z]+) err:(?P<err>\d{3}) text:(?P<text>.*)"
)


async def run_receipts(config: SimulatorConfig, count: int) -> dict[str, DeliverSm]:
    """Submit ``count`` jobs with registered_delivery=1; receipts by submit_sm_resp id."""
    async with running(config, window=20) as h:
        outcomes = await h.submit_all(jobs(count, registered_delivery=1))
        assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
        receipts = await h.inbound.wait_receipts(count)
        ids = {o.tag: o.message_id for o in outcomes}
        return {ids[tag_of(r.source_addr)]: r for r in receipts}


async def test_receipt_outcomes_follow_the_mix() -> None:
    mix = {"DELIVRD": 6, "UNDELIV": 3, "EXPIRED": 1}
    config = SimulatorConfig(receipt_delay=0.001, receipt_mix=mix, seed=7)
    with trio.fail_after(20):
        first = await run_receipts(config, 300)
    stats = {mid: receipt_text_stat(r) for mid, r in first.items()}
    counts = Counter(stats.values())
    assert set(counts) == set(mix)
    for name, weight in mix.items():
        assert abs(counts[name] / 300 - weight / 10) < 0.1, counts
    for message_id, receipt in first.items():
        fields = RECEIPT_TEXT.fullmatch(receipt.short_message.decode("ascii"))
        assert fields is not None, receipt.short_message
        stat = fields["stat"]
        assert int(fields["id"]) == int(message_id)
        assert receipt.receipted_message_id == message_id
        assert receipt.message_state == MessageState[stat]
        assert fields["dlvrd"] == ("001" if stat == "DELIVRD" else "000")
        err = {"DELIVRD": 0, "UNDELIV": 1, "EXPIRED": 0}[stat]
        assert int(fields["err"]) == err
        assert receipt.network_error_code == (struct.pack(">BH", 3, err) if err else None)
        assert fields["text"] == f"message {tag_of(receipt.source_addr)}"[:20]
        assert receipt.esm_class == 0x04 and receipt.data_coding == 0


async def test_a_seed_replays_the_same_run(autojump_clock) -> None:
    # Faults and receipt outcomes come from one seeded generator, drawn in the order things
    # happen: on trio's MockClock that order, hence the run, is the same every time.
    faults = Faults(throttle_share=0.2, queue_full_share=0.1)
    config = SimulatorConfig(
        receipt_delay=0.2, receipt_mix={"DELIVRD": 1, "UNDELIV": 1}, faults=faults, seed=21
    )

    async def once() -> tuple[dict[object, int], dict[int, str | None]]:
        async with running(
            config, transport="memory", window=5, max_attempts=100, enquire_link_interval=1000
        ) as h:
            outcomes = await h.submit_all(jobs(60, registered_delivery=1), timeout=100)
            receipts = await h.inbound.wait_receipts(60, timeout=100)
            return (
                {o.tag: o.attempts for o in outcomes},
                {tag_of(r.source_addr): receipt_text_stat(r) for r in receipts},
            )

    with trio.fail_after(600):
        attempts, stats = await once()
        assert await once() == (attempts, stats)
    assert max(attempts.values()) > 1 and set(stats.values()) == {"DELIVRD", "UNDELIV"}


async def test_receipt_ids_in_the_text_can_differ_in_base_from_the_submit_id() -> None:
    config = SimulatorConfig(receipt_delay=0.001, id_format="decimal", receipt_id_format="hex")
    with trio.fail_after(10):
        receipts = await run_receipts(config, 40)
    for message_id, receipt in receipts.items():
        text_id = receipt_text_id(receipt)
        assert text_id == format(int(message_id), "X")
        assert receipt.receipted_message_id == message_id


async def test_failure_only_receipts_skip_delivered_messages() -> None:
    config = SimulatorConfig(receipt_delay=0.001, receipt_mix={"DELIVRD": 1, "UNDELIV": 1}, seed=3)
    with trio.fail_after(10):
        async with running(config) as h:
            await h.submit_all(jobs(60, registered_delivery=2))
            # A final receipt asked later is due later: once it is in, the others were decided.
            await h.submit_all(jobs(1, start=999, registered_delivery=1))
            await h.inbound.wait_until(
                lambda: any(tag_of(r.source_addr) == 999 for r in h.inbound.receipts)
            )
            failures = [r for r in h.inbound.receipts if tag_of(r.source_addr) != 999]
            assert failures, "UNDELIV receipts are sent"
            assert {receipt_text_stat(r) for r in failures} == {"UNDELIV"}
            assert h.sim.stats["receipts_sent"] == len(failures) + 1


async def test_a_receipt_waits_for_a_receiver_to_bind(autojump_clock) -> None:
    with trio.fail_after(600):
        async with running(
            SimulatorConfig(receipt_delay=0.1), transport="memory", mode=BindMode.TRANSMITTER
        ) as h:
            await h.submit_all(jobs(3, registered_delivery=1))
            await h.stats_until(lambda stats: stats["receipts_deferred"] >= 3)
            assert h.inbound.pdus == []
            _rx, _, rx_inbound, _ = await start_operator(h.nursery, h.port, mode=BindMode.RECEIVER)
            receipts = await rx_inbound.wait_receipts(3)
            assert {tag_of(r.source_addr) for r in receipts} == {0, 1, 2}
            assert h.sim.stats["receipts_sent"] == 3


async def test_a_receipt_for_an_undecodable_text_does_not_crash_the_simulator() -> None:
    config = SimulatorConfig(receipt_delay=0.001)
    odd = submit_pdu(1, data_coding=8, short_message=b"\x00A\x00", registered_delivery=1)
    with trio.fail_after(10):
        async with running(config) as h:
            (outcome,) = await h.submit_all([SubmitJob(pdu=odd, tag=1)])
            assert outcome.outcome is Outcome.ACCEPTED
            await h.inbound.wait_receipts(1)
            later = await h.submit_all(jobs(3, start=10))
            assert {o.outcome for o in later} == {Outcome.ACCEPTED}


def test_unknown_receipt_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown receipt outcome 'NOPE'"):
        Simulator(SimulatorConfig(receipt_mix={"DELIVRD": 1, "NOPE": 1}))


def test_a_receipt_mix_without_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="has no weight"):
        Simulator(SimulatorConfig(receipt_mix={"DELIVRD": 0}))
    with pytest.raises(ValueError, match="must be a number >= 0"):
        Simulator(SimulatorConfig(receipt_mix={"DELIVRD": 1, "UNDELIV": math.nan}))


# =============================================================================================
# Replies (MO)
# =============================================================================================


async def test_stop_from_numbers_reply_stop_to_the_sender() -> None:
    stopper = "33699999999"
    config = SimulatorConfig(receipt_delay=0.001, stop_from=frozenset({stopper}))
    with trio.fail_after(10):
        async with serving(config) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(submit_pdu(1, destination_addr=stopper), submit_pdu(2))
            await esme.until(lambda: bool(esme.requests()))
            (reply,) = [e.pdu for e in esme.requests()]
            assert isinstance(reply, DeliverSm)
            assert reply.esm_class == 0 and reply.source_addr == stopper
            assert reply.destination_addr == "GATEWAY"
            assert text_codec.decode(reply.short_message, reply.data_coding).text == "STOP"


async def test_send_mo_waits_for_a_receiver(autojump_clock) -> None:
    with trio.fail_after(600):
        async with running(transport="memory", start_operator=False) as h:
            h.sim.send_mo("33612345678", "36184", "Bonjour")
            await h.stats_until(lambda stats: stats["replies_deferred"] >= 1)
            await h.nursery.start(h.operator.run)
            await h.inbound.wait_until(lambda: bool(h.inbound.messages))
            (mo,) = h.inbound.messages
            assert text_codec.decode(mo.short_message, mo.data_coding).text == "Bonjour"
            assert h.sim.stats["replies_sent"] == 1


async def test_send_mo_with_a_long_text() -> None:
    text = "Bonjour, je ne souhaite plus recevoir vos messages. " * 5
    with trio.fail_after(10):
        async with running() as h:
            await h.submit_all(jobs(1))
            h.sim.send_mo("33612345678", "36184", text)
            plan = text_codec.plan(text)
            await h.inbound.wait_until(lambda: len(h.inbound.messages) >= len(plan.parts))
            decoded = [
                text_codec.decode(m.short_message, m.data_coding, udhi=bool(m.esm_class & 0x40))
                for m in h.inbound.messages
            ]
            assert "".join(d.text for d in sorted(decoded, key=lambda d: d.seq or 0)) == text


# =============================================================================================
# Faults, as they appear on the wire
# =============================================================================================


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (Faults(throttle_share=1.0), S.ESME_RTHROTTLED),
        (Faults(queue_full_share=1.0), S.ESME_RMSGQFUL),
        (Faults(system_error_share=1.0), S.ESME_RSYSERR),
    ],
    ids=["throttle", "queue_full", "system_error"],
)
async def test_error_shares_answer_with_their_status(faults: Faults, status: int) -> None:
    with trio.fail_after(10):
        async with serving(SimulatorConfig(faults=faults, record=True)) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(*(submit_pdu(n) for n in range(20)))
            await esme.until(lambda: len(esme.responses()) == 20)
            assert {(e.pdu.command_status, e.pdu.message_id) for e in esme.responses()} == {
                (status, "")
            }
            assert s.stats[f"submit_sm_{S(status).name.lower()}"] == 20
            assert s.sim.received == []


async def test_error_shares_mix_and_every_submit_is_counted_once() -> None:
    faults = Faults(throttle_share=0.2, queue_full_share=0.2, system_error_share=0.2)
    with trio.fail_after(10):
        async with serving(SimulatorConfig(faults=faults, seed=9)) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(*(submit_pdu(n) for n in range(1000)))
            await esme.until(lambda: len(esme.responses()) == 1000)
            seen = Counter(e.pdu.command_status for e in esme.responses())
            for status in (S.ESME_ROK, S.ESME_RTHROTTLED, S.ESME_RMSGQFUL, S.ESME_RSYSERR):
                assert seen[status] == s.stats[f"submit_sm_{S(status).name.lower()}"]
            assert sum(seen.values()) == s.stats["submit_sm"] == 1000
            assert 0.3 < seen[S.ESME_ROK] / 1000 < 0.5
            for status in (S.ESME_RTHROTTLED, S.ESME_RMSGQFUL, S.ESME_RSYSERR):
                assert 0.13 < seen[status] / 1000 < 0.27


async def test_max_tps_is_a_token_bucket(autojump_clock) -> None:
    config = SimulatorConfig(max_tps=10)
    with trio.fail_after(600):
        async with running(
            config,
            transport="memory",
            window=1,
            throttle_initial=0.05,
            throttle_max=0.05,
            max_attempts=1000,
            response_timeout=100,
            enquire_link_interval=1000,
        ) as h:
            outcomes = await h.submit_all(jobs(40), timeout=100)
            assert {o.outcome for o in outcomes} == {Outcome.ACCEPTED}
            assert h.sim.stats["submit_sm_esme_rthrottled"] > 0
            times = sorted(
                f.time for f in h.tap.seen(C.SUBMIT_SM_RESP, "in") if f.command_status == 0
            )
            # Burst of one second's worth, then at most 10 a second.
            for i, start in enumerate(times):
                for j in range(i, len(times)):
                    assert j - i + 1 <= 10 + 10 * (times[j] - start) + 1e-6
            assert times[-1] - times[0] >= 2.9


async def test_max_window_counts_only_delayed_answers() -> None:
    faults = Faults(slow_share=1.0, slow_delay=0.05)
    with trio.fail_after(10):
        async with serving(SimulatorConfig(max_window=2, faults=faults)) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(*(submit_pdu(n) for n in range(5)))
            await esme.until(lambda: len(esme.responses()) == 5)
            statuses = [e.pdu.command_status for e in esme.responses()]
            # Two held (accepted, answered after slow_delay); with two answers owed, the next
            # three are refused; slow_share delays those refusals too.
            assert statuses == [0, 0] + [S.ESME_RMSGQFUL] * 3
            assert s.stats["responses_delayed"] == 5


async def test_slow_and_missing_responses(autojump_clock) -> None:
    with trio.fail_after(600):
        async with serving(
            SimulatorConfig(faults=Faults(slow_share=1.0, slow_delay=2.5))
        ) as s:
            esme = s.memory()
            await esme.bind()
            start = trio.current_time()
            await esme.submit(submit_pdu(1))
            await esme.until(lambda: bool(esme.responses()))
            assert esme.times[-1] - start == pytest.approx(2.5)
            assert esme.responses()[0].pdu.command_status == 0
        async with serving(SimulatorConfig(faults=Faults(no_response_share=1.0))) as s:
            esme = s.memory()
            await esme.bind()
            await esme.submit(*(submit_pdu(n) for n in range(3)))
            await s.stats_until(lambda stats: stats["responses_withheld"] == 3)
            with trio.move_on_after(100):
                await esme.read()
            assert esme.responses() == [] and s.stats["submit_sm_esme_rok"] == 3


async def test_drop_after_closes_once_the_answers_are_out() -> None:
    with trio.fail_after(10):
        async with serving(SimulatorConfig(faults=Faults(drop_after=3))) as s:
            esme = await s.tcp()
            await esme.bind()  # PDU 1
            await esme.submit(submit_pdu(1))  # PDU 2
            await esme.until(lambda: len(esme.responses()) == 1)
            await esme.submit(submit_pdu(2))  # PDU 3: answered, then the connection closes
            await esme.until(lambda: len(esme.responses()) == 2)
            while not esme.eof:
                await esme.read()
            assert s.stats["dropped_connections"] == 1
            # The next connection starts counting again.
            again = await s.tcp()
            assert isinstance(await again.bind(), Bound)


async def test_coalesced_writes_hold_everything_for_the_interval(autojump_clock) -> None:
    config = SimulatorConfig(receipt_delay=0, faults=Faults(coalesce_interval=0.05))
    with trio.fail_after(600):
        async with serving(config) as s:
            esme = s.memory()
            start = trio.current_time()
            await esme.bind()
            assert esme.times[0] - start == pytest.approx(0.05)
            for n in range(5):
                sent = trio.current_time()
                await esme.submit(submit_pdu(n, registered_delivery=1))
                await esme.until(lambda n=n: len(esme.responses()) == n + 1)
                assert trio.current_time() - sent == pytest.approx(0.05)
            await esme.until(lambda: len(esme.requests()) == 5)
            # One write per interval: each response travels with the receipt queued after it.
            writes = [t for t, _ in s.server_ends[0].writes]
            assert len(writes) == 6
            assert all(b - a >= 0.05 - 1e-9 for a, b in itertools.pairwise(writes))
            answered = [t for e, t in zip(esme.events, esme.times, strict=True)
                        if isinstance(e, ResponseReceived) and e.pdu.command_id == C.SUBMIT_SM_RESP]
            receipted = [t for e, t in zip(esme.events, esme.times, strict=True)
                         if isinstance(e, RequestReceived)]
            assert answered == receipted


async def test_split_bytes_writes_one_byte_at_a_time(autojump_clock) -> None:
    config = SimulatorConfig(faults=Faults(split_bytes=True), receipt_delay=0)
    with trio.fail_after(600):
        async with serving(config) as s:
            esme = s.memory()
            await esme.bind()
            await esme.submit(*(submit_pdu(n, registered_delivery=1) for n in range(10)))
            await esme.until(lambda: len(esme.responses()) == 10 and len(esme.requests()) == 10)
            writes = s.server_ends[0].writes
            assert {size for _, size in writes} == {1}
            assert len(writes) > 20 * 16


async def test_malformed_unknown_command_is_a_whole_frame_with_an_unknown_id() -> None:
    faults = Faults(malformed_every=2, malformed_kind="unknown_command")
    with trio.fail_after(10):
        async with serving(SimulatorConfig(faults=faults)) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(*(submit_pdu(n) for n in range(4)))
            await esme.until(
                lambda: len(esme.responses()) == 4
                and sum(isinstance(e, PduRejected) for e in esme.events) == 2
            )
            rejected = [e.error for e in esme.events if isinstance(e, PduRejected)]
            assert [(r.command_id, r.sequence_number) for r in rejected] == [
                (0x99, 0x7FFF0002),
                (0x99, 0x7FFF0004),
            ]
            assert {r.command_status for r in rejected} == {S.ESME_RINVCMDID}
            # Our session answered each with generic_nack; the simulator counted them.
            await s.stats_until(lambda stats: stats["generic_nacks_received"] == 2)
            assert s.stats["malformed_unknown_command"] == 2


async def test_malformed_bad_body_is_a_deliver_sm_that_does_not_decode() -> None:
    faults = Faults(malformed_every=1, malformed_kind="bad_body")
    with trio.fail_after(10):
        async with serving(SimulatorConfig(faults=faults)) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(submit_pdu(1))
            await esme.until(lambda: any(isinstance(e, PduRejected) for e in esme.events))
            (error,) = [e.error for e in esme.events if isinstance(e, PduRejected)]
            assert error.command_id == C.DELIVER_SM and error.sequence_number == 0x7FFE0000
            assert error.command_status == S.ESME_RINVCMDLEN
            assert esme.requests() == [] and s.stats["malformed_bad_body"] == 1
            # The ESME's answer is a deliver_sm_resp for a deliver_sm the simulator never sent
            # through its session: it has no counter for it, and nothing breaks.
            await esme.submit(submit_pdu(2))
            await esme.until(lambda: len(esme.responses()) == 2)
            assert s.stats["pdus_rejected"] == 0 and s.stats["connections"] == 1


async def test_malformed_bad_length_breaks_the_framing() -> None:
    faults = Faults(malformed_every=1, malformed_kind="bad_length")
    with trio.fail_after(10):
        async with serving(SimulatorConfig(faults=faults)) as s:
            esme = await s.tcp()
            await esme.bind()
            await esme.submit(submit_pdu(1))
            with pytest.raises(RemoteProtocolError) as caught:
                await esme.until(lambda: False)
            error = caught.value
            assert error.command_status == S.ESME_RINVCMDLEN
            # The response written before the bad header is intact and handed over.
            assert [type(e) for e in error.events] == [ResponseReceived]
            assert error.events[0].pdu.command_status == 0
            await esme.flush()  # the generic_nack the session drafted
            await s.stats_until(lambda stats: stats["generic_nacks_received"] == 1)
            assert s.stats["malformed_bad_length"] == 1


async def test_the_simulator_probes_an_idle_esme_with_enquire_link(autojump_clock) -> None:
    with trio.fail_after(600):
        async with serving(SimulatorConfig(enquire_link_interval=5)) as s:
            esme = s.memory()
            await esme.bind()
            with trio.move_on_after(60):
                await esme.until(lambda: False)
            # After the bind_resp, every write of the simulator's is a probe (nothing else
            # happens on this connection); RawEsme's session answers each by itself.
            probes = s.server_ends[0].writes[1:]
            assert len(probes) >= 10
            # One interval of silence after each answer (virtual time: answers are instant).
            bound_at = s.server_ends[0].writes[0][0]
            assert [t - bound_at for t, _ in probes[:4]] == pytest.approx([5, 10, 15, 20])


async def test_an_unanswered_deliver_sm_times_out_at_the_simulator(autojump_clock) -> None:
    # The ticker also watches the deliver_sm the simulator sends (its response deadline comes
    # before the next keep-alive): an ESME that never answers a receipt makes it time out.
    config = SimulatorConfig(receipt_delay=0.1, response_timeout=3, enquire_link_interval=100)
    with trio.fail_after(600):
        async with serving(config) as s:
            esme = s.memory()
            await esme.bind()
            await esme.submit(submit_pdu(1, registered_delivery=1))
            await esme.until(lambda: bool(esme.requests()))  # the receipt, left unanswered
            sent_at = esme.times[-1]
            await s.stats_until(lambda stats: stats["deliver_sm_timeouts"] == 1)
            assert trio.current_time() == pytest.approx(sent_at + 3)
            assert s.stats["receipts_sent"] == 1


async def test_drop_connections_closes_every_esme_connection() -> None:
    with trio.fail_after(10):
        async with serving() as s:
            first, second = await s.tcp(), await s.tcp()
            await first.bind()
            await second.bind(BindMode.RECEIVER)
            assert s.sim.drop_connections() == 2
            await first.until(lambda: first.eof)
            await second.until(lambda: second.eof)
            assert s.stats["connections_dropped_on_request"] == 2
            third = await s.tcp()
            assert isinstance(await third.bind(), Bound), "the simulator still serves"


# =============================================================================================
# Command line
# =============================================================================================

LISTENING = re.compile(rb"simulator: listening on 127\.0\.0\.1:(\d+) as 'gateway'\n")


async def read_until(stream: trio.abc.ReceiveStream, buffer: bytearray, marker: bytes) -> None:
    while marker not in buffer:
        data = await stream.receive_some(4096)
        if not data:
            raise AssertionError(f"end of output before {marker!r}: {bytes(buffer)!r}")
        buffer += data


async def test_cli_serves_until_sigint_then_prints_its_stats() -> None:
    command = [
        sys.executable, "-m", "gateway.smpp.simulator",
        "--host", HOST, "--port", "0", "--id-format", "hex", "--seed", "5",
        "--receipt-delay", "0.001", "--receipt-mix", "DELIVRD:1", "--stats-interval", "0.02",
    ]  # fmt: skip
    with trio.fail_after(20):
        process = await trio.lowlevel.open_process(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert process.stdout is not None and process.stderr is not None
            out = bytearray()
            await read_until(process.stdout, out, b"\n")
            first = LISTENING.match(out)
            assert first is not None, out
            port = int(first[1])
            async with trio.open_nursery() as nursery:
                _op, outcomes, inbound, _tap = await start_operator(nursery, port)
                for job in jobs(5, registered_delivery=1):
                    await _op.submit(job)
                got = await outcomes.wait_count(5)
                assert {o.outcome for o in got} == {Outcome.ACCEPTED}
                assert sorted(int(o.message_id, 16) for o in got) == [1, 2, 3, 4, 5]
                await inbound.wait_receipts(5)
                # Periodic stats lines (--stats-interval) show the work.
                await read_until(process.stdout, out, b'"submit_sm": 5')
                nursery.cancel_scope.cancel()
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 0
            while data := await process.stdout.receive_some(4096):
                out += data
            last = bytes(out).decode().splitlines()[-1]
            assert last.startswith("simulator: stopped; "), last
            stats = json.loads(last.removeprefix("simulator: stopped; "))
            assert stats["submit_sm"] == stats["submit_sm_esme_rok"] == 5
            assert stats["binds_transceiver"] == 1 and stats["receipts_sent"] == 5
            assert stats["deliver_sm_resp"] == 5
            assert await process.stderr.receive_some() == b""
        finally:
            if process.returncode is None:
                process.kill()
                with trio.CancelScope(shield=True):
                    await process.wait()


async def test_cli_bad_option_value_exits_2_with_a_message() -> None:
    command = [sys.executable, "-m", "gateway.smpp.simulator", "--receipt-mix", "FOO:1"]
    with trio.fail_after(20):
        result = await trio.run_process(
            command, cwd=ROOT, capture_stdout=True, capture_stderr=True, check=False
        )
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode().splitlines()[-1] == (
        "python -m gateway.smpp.simulator: error: argument --receipt-mix: "
        "unknown receipt outcome 'FOO'"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--receipt-mix", "DELIVRD:x"], "weight of DELIVRD is not a number: 'x'"),
        (["--receipt-mix", "DELIVRD:0,UNDELIV:0"], "has no weight"),
        (["--receipt-mix", "DELIVRD:-1"], "must be a number >= 0"),
        (["--malformed-kind", "garbage"], "invalid choice: 'garbage'"),
        (["--id-format", "octal"], "invalid choice: 'octal'"),
        (["--max-tps", "fast"], "invalid float value: 'fast'"),
        (["--drop-after", "1.5"], "invalid int value: '1.5'"),
    ],
)
def test_cli_refuses_bad_values(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_options_reach_the_configuration() -> None:
    args = build_parser().parse_args(
        [
            "--port", "0", "--system-id", "acme", "--password", "pw",
            "--receipt-mix", "delivrd:95,UNDELIV:4,expired", "--receipt-style", "tlv",
            "--stop-from", "+33611111111, 33622222222,", "--max-tps", "50", "--max-window", "7",
            "--throttle-share", "0.1", "--slow-share", "0.2", "--slow-delay", "0.3",
            "--drop-after", "9", "--coalesce-interval", "0.01", "--split-bytes",
            "--malformed-every", "4", "--malformed-kind", "bad_body",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.port == 0 and config.system_id == "acme" and config.password == "pw"
    assert config.receipt_mix == {"DELIVRD": 95.0, "UNDELIV": 4.0, "EXPIRED": 1.0}
    assert config.receipt_style == "tlv"
    assert config.stop_from == frozenset({"33611111111", "33622222222"})
    assert config.max_tps == 50.0 and config.max_window == 7
    assert config.faults == Faults(
        throttle_share=0.1,
        slow_share=0.2,
        slow_delay=0.3,
        drop_after=9,
        coalesce_interval=0.01,
        split_bytes=True,
        malformed_every=4,
        malformed_kind="bad_body",
    )


def test_cli_port_in_use_is_reported_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--host", HOST, "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"simulator: cannot listen on {HOST}:{port}: ")


def test_parser_covers_every_fault() -> None:
    options = {a.dest for a in build_parser()._actions}
    assert set(Faults.__dataclass_fields__) <= options
