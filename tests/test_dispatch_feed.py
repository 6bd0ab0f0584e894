"""The dispatcher's feeder: it takes work without awaiting while its lane has some and the
links' queue has room, yet never holds the event loop for long (a checkpoint every
FEED_CHECKPOINT messages) and waits when the queue is full."""

from __future__ import annotations

import itertools
from pathlib import Path

import trio

from gateway import codec, dispatch
from gateway.dispatch import Clock, Dispatcher, Outgoing, Route
from gateway.outbox import Outbox
from gateway.smpp.client import Operator
from gateway.storage import open_env
from gateway.writer import BatchWriter
from tests.helpers_link import link_settings


def outgoing(n: int, *, done: bool = False) -> Outgoing:
    return Outgoing(
        id=n, account="demo", to="+33612345678", sender="DEMO", sender_ton=5, sender_npi=0,
        plan=codec.plan("Bonjour", ref=n & 0xFF), marketing=False, priority=0,
        send_after=None, expires_at=1e12, todo={0}, done=done,
    )


def dispatcher(tmp_path: Path, queue_size: int) -> tuple[Dispatcher, Operator]:
    send, _ = trio.open_memory_channel(100)

    async def inbound(operator, pdus):  # no link runs: nothing is delivered
        return [0] * len(pdus)

    operator = Operator(link_settings(1), outcomes=send, inbound=inbound, queue_size=queue_size)
    writer = BatchWriter(Outbox(open_env(tmp_path / "data")))
    route = Route(name="sim", prefixes=("",))
    clock = Clock(wall_at_start=1_750_000_000.0, trio_at_start=trio.current_time())
    return Dispatcher(writer=writer, operators={"sim": operator}, routes=[route],
                      clock=clock), operator


async def test_the_feeder_fills_the_queue_then_waits(tmp_path: Path) -> None:
    d, operator = dispatcher(tmp_path, queue_size=10)
    d.release([outgoing(n) for n in range(25)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(d._feed, d.lanes["sim"])
        await trio.testing.wait_all_tasks_blocked()
        # Ten in the queue, one in the feeder's hands (waiting for room), fourteen left.
        assert len(operator.queue) == 10 and len(d.lanes["sim"]) == 14
        # The links take jobs: the feeder tops the queue up again, in order.
        taken = [operator.queue.get_nowait() for _ in range(4)]
        await trio.testing.wait_all_tasks_blocked()
        assert len(operator.queue) == 10 and len(d.lanes["sim"]) == 10
        assert [job.tag[0].id for job in taken] == [0, 1, 2, 3]
        nursery.cancel_scope.cancel()


async def test_a_long_run_of_finished_messages_does_not_hold_the_loop(tmp_path: Path) -> None:
    d, operator = dispatcher(tmp_path, queue_size=10)
    count = 20 * dispatch.FEED_CHECKPOINT
    d.release([outgoing(n, done=True) for n in range(count)] + [outgoing(count)])
    lane = d.lanes["sim"]
    seen: list[int] = []

    async def watcher() -> None:
        while lane:
            seen.append(len(lane))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(d._feed, lane)
        nursery.start_soon(watcher)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert len(operator.queue) == 1 and operator.queue.get_nowait().tag[0].id == count
    # The feeder yields after at most FEED_CHECKPOINT messages, so the watcher ran all along
    # the run; trio may order a scheduling batch either way round, so two of the feeder's
    # runs can come between two of the watcher's.
    assert len(seen) >= 10
    assert all(a - b <= 2 * dispatch.FEED_CHECKPOINT + 1 for a, b in itertools.pairwise(seen))
