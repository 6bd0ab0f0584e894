"""The group-commit writer over a real LMDB outbox, on trio's MockClock: a batch is committed
when it is full, when the loop has nothing else to run, or one window after the writer took it
up, whichever comes first.

Virtual time only moves when every task sleeps, and a commit takes no virtual time by itself;
``SlowOutbox`` makes each write take ``commit_s`` of virtual time (as an fsync takes real time),
so the tests can say exactly when each batch committed.
"""

from __future__ import annotations

from pathlib import Path

import trio

from gateway.outbox import Batch, Outbox
from gateway.storage import open_env
from gateway.writer import BatchWriter


class SlowOutbox(Outbox):
    """A real outbox whose every write takes ``commit_s`` seconds of the mock clock."""

    def __init__(self, env, clock, commit_s: float) -> None:
        super().__init__(env)
        self.clock, self.commit_s = clock, commit_s
        self.sizes: list[int] = []

    def write(self, batch: Batch) -> Batch:
        self.sizes.append(len(batch))
        self.clock.jump(self.commit_s)
        return super().write(batch)


def noop(batch: Batch) -> None:
    batch.calls.append(lambda txn, emit: None)


async def commit_at(writer: BatchWriter, log: list[tuple[str, float]], name: str) -> None:
    await writer.commit(noop)
    log.append((name, trio.current_time()))


async def test_an_idle_daemon_commits_at_once(autojump_clock, tmp_path: Path):
    # Nothing else can run: waiting for the window would only delay the reply.
    outbox = SlowOutbox(open_env(tmp_path / "data"), autojump_clock, commit_s=0.0)
    writer = BatchWriter(outbox, interval=0.010)
    log: list[tuple[str, float]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        start = trio.current_time()
        nursery.start_soon(commit_at, writer, log, "first")
        await trio.sleep(0.004)
        nursery.start_soon(commit_at, writer, log, "second")
        await trio.sleep(0.1)
        writer.close()
    assert outbox.sizes == [1, 1]
    assert sorted((name, round(at - start, 6)) for name, at in log) == [
        ("first", 0.0), ("second", 0.004)]


async def test_operations_made_in_the_same_pass_share_a_commit(autojump_clock, tmp_path: Path):
    outbox = SlowOutbox(open_env(tmp_path / "data"), autojump_clock, commit_s=0.0)
    writer = BatchWriter(outbox, interval=0.010)
    log: list[tuple[str, float]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for n in range(5):
            nursery.start_soon(commit_at, writer, log, f"op{n}")
        await trio.sleep(0.1)
        writer.close()
    assert outbox.sizes == [5]


async def test_a_busy_daemon_gathers_for_one_window(autojump_clock, tmp_path: Path):
    # A producer that never lets the loop go idle (work between its operations, taking
    # virtual time): the batch grows until the window from when the writer took it up.
    outbox = SlowOutbox(open_env(tmp_path / "data"), autojump_clock, commit_s=0.0)
    writer = BatchWriter(outbox, interval=0.010)
    committed: list[float] = []

    async def busy() -> None:
        pendings = []
        for _ in range(40):
            writer.open.batch.calls.append(lambda txn, emit: None)
            writer.kick()
            pendings.append(writer.open)
            autojump_clock.jump(0.001)  # a millisecond of work
            await trio.sleep(0)  # a checkpoint, but still runnable
        for pending in pendings:
            await pending.wait()

    async with trio.open_nursery() as nursery:
        writer.on_commit = lambda batch, seconds: committed.append(trio.current_time())
        await nursery.start(writer.run)
        start = trio.current_time()
        await busy()
        writer.close()
    assert sum(outbox.sizes) == 40
    assert len(outbox.sizes) <= 5 and max(outbox.sizes) >= 9, outbox.sizes
    gaps = [round(b - a, 6) for a, b in zip([start, *committed], committed, strict=False)]
    # One window (10 ms) plus the millisecond steps of work around its start and end.
    assert all(0.009 <= gap <= 0.015 for gap in gaps[:-1]), gaps


async def test_operations_arriving_during_a_commit_go_in_the_next(
        autojump_clock, tmp_path: Path):
    # The commit holds the event loop (it runs on the loop's thread): whatever arrives during
    # it is taken in after it, and committed as soon as the loop is idle again.
    outbox = SlowOutbox(open_env(tmp_path / "data"), autojump_clock, commit_s=0.030)
    writer = BatchWriter(outbox, interval=0.010)
    log: list[tuple[str, float]] = []

    async def during_the_first_commit(name: str) -> None:
        await trio.sleep(0.015)  # the first commit runs from 0 to 30 ms (virtual)
        await commit_at(writer, log, name)

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        start = trio.current_time()
        nursery.start_soon(commit_at, writer, log, "first")
        nursery.start_soon(during_the_first_commit, "second")
        nursery.start_soon(during_the_first_commit, "third")
        await trio.sleep(0.2)
        writer.close()
    times = {name: round(at - start, 6) for name, at in log}
    assert outbox.sizes == [1, 2]
    assert times == {"first": 0.030, "second": 0.060, "third": 0.060}


async def test_a_full_batch_is_written_without_waiting_for_the_window(
        autojump_clock, tmp_path: Path):
    outbox = SlowOutbox(open_env(tmp_path / "data"), autojump_clock, commit_s=0.0)
    writer = BatchWriter(outbox, interval=1.0, max_ops=3)
    log: list[tuple[str, float]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        start = trio.current_time()
        for n in range(3):
            nursery.start_soon(commit_at, writer, log, f"op{n}")
        await trio.sleep(0.5)
        writer.close()
    assert outbox.sizes == [3]
    assert {round(at - start, 6) for _, at in log} == {0.0}
