"""Group commit: every write to the outbox goes through one task.

Producers (connection handlers accepting messages, the outcome reader, the receipt handler) add
operations to the *open* batch and wait on its ``done`` event; the writer task closes the batch
when it is full, when nothing else in the daemon can run (everything on its way is in), or one
time window after it took it up, writes it in one LMDB transaction, then wakes everyone waiting
on it. Under load a batch holds whatever arrived during the previous one: the batching comes
from the load, and an idle daemon answers at once. Committing when idle matters for receipts:
a carrier sends at most its window of deliver_sm before our acknowledgements, which go out
after the commit, so the window turns over once per commit (measured in bench/e2e.py: the
receipts left at the end of a campaign drained at 18,000/s with the daemon half idle behind an
8 ms window, and at 25,000-37,000/s committed when idle).
``limiter`` is held around every write, so a prune (which runs in a worker thread) never
overlaps a batch and the map never grows under an open transaction.

Nothing is acknowledged before its batch's commit, so "accepted" survives kill -9.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
import trio.testing

from gateway.outbox import Batch, Outbox
from gateway.storage import StoreFull


class Pending:
    """The batch being filled, and the event its waiters park on."""

    __slots__ = ("batch", "done", "error")

    def __init__(self) -> None:
        self.batch = Batch()
        self.done = trio.Event()
        #: Set when the batch could not be written (the store is full, or a bug).
        self.error: BaseException | None = None

    async def wait(self) -> Batch:
        """Wait for the commit; raises what the write raised."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        return self.batch


class BatchWriter:
    """One writer per outbox. ``interval``: how long a busy daemon's writer lets a batch grow
    after taking it up; ``max_ops``: most operations per transaction; ``max_waiting``:
    operations queued beyond which producers wait (backpressure instead of growing memory)."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        interval: float = 0.002,
        max_ops: int = 2000,
        max_waiting: int = 50_000,
        on_commit: Callable[[Batch, float], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.interval = interval
        self.max_ops = max_ops
        self.max_waiting = max_waiting
        self.on_commit = on_commit
        self._open = Pending()
        self._has_work = trio.Event()
        self._full = trio.Event()
        self._room = trio.Event()
        self._closed = False
        self._limiter = trio.CapacityLimiter(1)
        #: Commits done, and operations written (for metrics and tests).
        self.commits = 0
        self.written = 0

    @property
    def limiter(self) -> trio.CapacityLimiter:
        """Held by whoever writes to the environment: other writers (pruning) take it too, so
        transactions never overlap and the map never grows under an open one."""
        return self._limiter

    @property
    def open(self) -> Pending:
        """The batch new operations go into, for producers that cannot wait (add to
        ``writer.open.batch``, call :meth:`kick`, and wait on ``pending.done`` if they care)."""
        return self._open

    def kick(self) -> None:
        """Operations were added to the open batch directly: the writer should take it."""
        self._has_work.set()
        if len(self._open.batch) >= self.max_ops:
            self._full.set()

    async def room(self) -> None:
        """Wait while too much is queued (backpressure)."""
        while len(self._open.batch) >= self.max_waiting and not self._closed:
            self._room = trio.Event()
            await self._room.wait()

    async def commit(self, fill: Callable[[Batch], Any]) -> Batch:
        """Add operations with ``fill(batch)`` and wait until they are durable."""
        await self.room()
        if self._closed:
            raise trio.ClosedResourceError("the store is closing")
        pending = self._open
        fill(pending.batch)
        self._has_work.set()
        if len(pending.batch) >= self.max_ops:
            self._full.set()
        return await pending.wait()

    def close(self) -> None:
        """No new operations: the writer commits what it has, then returns."""
        self._closed = True
        self._has_work.set()
        self._room.set()

    async def run(
        self, *, task_status: trio.TaskStatus[BatchWriter] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started(self)
        while True:
            if not self._closed:
                await self._has_work.wait()
            if not len(self._open.batch):
                if self._closed:
                    return
                self._has_work = trio.Event()
                continue
            if self.interval > 0 and len(self._open.batch) < self.max_ops and not self._closed:
                await self._gather()
            pending = self._open
            self._open = Pending()
            self._has_work = trio.Event()
            self._full = trio.Event()
            self._room.set()
            await self._write(pending)

    async def _gather(self) -> None:
        """Let the open batch grow until it is full, ``interval`` has passed since the writer
        took it up, or nothing else in the daemon can run: then every operation that was on its
        way (read from a socket, decoded, checked) is in, and waiting longer would only delay
        the replies and the acknowledgements the operators wait for (a carrier's window of
        unacknowledged receipts turns over once per commit)."""

        async def until(event: trio.Event, scope: trio.CancelScope) -> None:
            await event.wait()
            scope.cancel()

        async def until_idle(scope: trio.CancelScope) -> None:
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()

        with trio.move_on_after(self.interval):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(until, self._full, nursery.cancel_scope)
                nursery.start_soon(until_idle, nursery.cancel_scope)

    async def _write(self, pending: Pending) -> None:
        started = trio.current_time()
        # The transaction runs on the event loop's thread, not in a worker thread: py-lmdb
        # releases the GIL around every put, and a worker thread then waits for the busy loop to
        # hand the GIL back after each one (measured here: 17 ms per 500-operation commit in a
        # thread, 5 ms inline, and 3x the accept rate). What blocks the loop is the commit's
        # fsync, about a millisecond per batch on this machine's disk.
        with trio.CancelScope(shield=True):
            try:
                async with self._limiter:
                    self.outbox.write(pending.batch)
            except StoreFull as exc:
                pending.error = exc
            except BaseException as exc:
                pending.error = exc
                pending.done.set()
                raise
            else:
                self.outbox.committed(pending.batch)
                self.commits += 1
                self.written += len(pending.batch)
                if self.on_commit is not None:
                    self.on_commit(pending.batch, trio.current_time() - started)
            pending.done.set()


__all__ = ["BatchWriter", "Pending"]
