"""The group-commit writer over a real LMDB outbox, on trio's MockClock.

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


async def test_an_idle_writer_gathers_for_one_window_from_the_first_operation(
        autojump_clock, tmp_path: Path):
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
    assert outbox.sizes == [2]
    assert sorted((name, round(at - start, 6)) for name, at in log) == [
        ("first", 0.010), ("second", 0.010)]


async def test_operations_arriving_during_a_commit_wait_one_window_after_it(
        autojump_clock, tmp_path: Path):
    # The commit holds the event loop (it runs on the loop's thread): whatever arrives during
    # it is taken in after it, and its batch then gathers for one window before its commit.
    outbox = SlowOutbox(open_env(tmp_path / "data"), autojump_clock, commit_s=0.030)
    writer = BatchWriter(outbox, interval=0.010)
    log: list[tuple[str, float]] = []

    async def during_the_first_commit() -> None:
        await trio.sleep(0.015)  # the first commit runs from 10 ms to 40 ms (virtual)
        await commit_at(writer, log, "second")

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        start = trio.current_time()
        nursery.start_soon(commit_at, writer, log, "first")
        nursery.start_soon(during_the_first_commit)
        await trio.sleep(0.2)
        writer.close()
    times = {name: round(at - start, 6) for name, at in log}
    assert outbox.sizes == [1, 1]
    assert times == {"first": 0.040, "second": 0.080}


async def test_an_operation_arriving_while_the_writer_sleeps_joins_the_open_window(
        autojump_clock, tmp_path: Path):
    outbox = SlowOutbox(open_env(tmp_path / "data"), autojump_clock, commit_s=0.030)
    writer = BatchWriter(outbox, interval=0.010)
    log: list[tuple[str, float]] = []

    async def later(delay: float, name: str) -> None:
        await trio.sleep(delay)
        await commit_at(writer, log, name)

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        start = trio.current_time()
        nursery.start_soon(later, 0.0, "a")
        nursery.start_soon(later, 0.045, "b")  # after a's commit (10 -> 40 ms)
        nursery.start_soon(later, 0.050, "c")  # within b's window (45 -> 55 ms)
        await trio.sleep(0.3)
        writer.close()
    times = {name: round(at - start, 6) for name, at in log}
    assert outbox.sizes == [1, 2]
    assert times == {"a": 0.040, "b": 0.085, "c": 0.085}


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
