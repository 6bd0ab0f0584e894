"""The local socket: a Unix stream listener, and per connection a reader and a replier task.

The reader parses whatever one read holds (``ServerConnection``, sans-IO) and turns every run of
consecutive ``submit`` requests into one intake call, so pipelined single submits share one
write transaction just like a ``submit_many``. Every request gets a *slot* in an in-order
queue; the replier writes slots as they become ready, as many as are ready in one write, and
subscribed events after them. Replies to submissions and to ``optout.add``/``optout.remove``
wait for their commit; nothing else waits.

A connection's nursery is its lifetime: when either task ends (EOF, a broken frame, a dropped
subscriber, an error) the other is cancelled and the stream closed. One connection's trouble
never reaches another, nor the daemon.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack
import structlog
import trio

from gateway.api.protocol import (
    ALL_EVENT_TYPES,
    CountRequest,
    ErrorCode,
    EventsSinceRequest,
    HealthRequest,
    OptoutAddRequest,
    OptoutCheckRequest,
    OptoutRemoveRequest,
    ProtocolErrorReply,
    ServerConnection,
    StatusRequest,
    SubmitManyRequest,
    SubmitRequest,
    SubscribeRequest,
)
from gateway.outbox import cursor_of
from gateway.service import OptoutTicket, Service, SubmitTicket, Subscriber

log = structlog.get_logger("gateway.api")

#: Bytes asked of the socket per read: a few hundred pipelined submits.
READ_SIZE = 256 * 1024
#: Requests a client may have waiting for replies before we stop reading from it (its replies
#: must be read for more requests to be taken): bounds a connection's memory.
MAX_PIPELINE = 20_000


class _Slot:
    __slots__ = (
        "close", "data", "later", "seqs", "single", "started", "subscriber", "ticket",
    )

    def __init__(self, data: bytes | None = None, *, close: bool = False) -> None:
        self.data = data
        self.ticket: SubmitTicket | None = None
        #: A write other than a submission (optout.add/remove): replied once committed.
        self.later: OptoutTicket | None = None
        self.seqs: Sequence[int] = ()
        #: One submit_many reply (True) or one reply per seq (False).
        self.single = False
        self.close = close
        self.subscriber: Subscriber | None = None
        self.started = 0.0


class _Connection:
    def __init__(self, service: Service, stream: trio.abc.Stream) -> None:
        self.service = service
        self.stream = stream
        g = service.config.gateway
        self.proto = ServerConnection(max_frame_bytes=g.max_frame_bytes, max_batch=g.max_batch)
        self.slots: deque[_Slot] = deque()
        self.wake = trio.Event()
        self.room = trio.Event()
        self.eof = False
        self.subscriber: Subscriber | None = None
        self.subscribed = False
        #: The last optout.add/remove read from this connection (optout.check waits for it).
        self.last_write: OptoutTicket | None = None
        self._pack = msgpack.Packer().pack

    def _wake(self) -> None:
        self.wake.set()

    def _add(self, slot: _Slot) -> None:
        self.slots.append(slot)
        self.wake.set()

    async def reader(self) -> None:
        while True:
            data = await self.stream.receive_some(READ_SIZE)
            items = self.proto.receive_data(data)
            submits: list[SubmitRequest] = []
            for item in items:
                if type(item) is SubmitRequest:
                    submits.append(item)
                    continue
                if submits:
                    await self._submit(submits, single=False)
                    submits = []
                if not await self._request(item):
                    self.eof = True
                    self.wake.set()
                    return
            if submits:
                await self._submit(submits, single=False)
            if not data:
                self.eof = True
                self.wake.set()
                return
            while len(self.slots) > MAX_PIPELINE:
                self.room = trio.Event()
                await self.room.wait()

    async def _submit(self, requests: Sequence[Any], *, single: bool, seq: int = 0) -> None:
        slot = _Slot()
        slot.started = trio.current_time()
        slot.ticket = await self.service.begin_submit(requests)
        slot.single = single
        slot.seqs = (seq,) if single else [r.seq for r in requests]
        self._add(slot)

    async def _request(self, item: Any) -> bool:
        """Handle one non-submit item; False when the connection must close after replying."""
        service = self.service
        pack = self._pack
        kind = type(item)
        if kind is ProtocolErrorReply:
            service.metrics.client_errors.labels(str(item.code)).inc()
            self._add(_Slot(item.to_bytes(), close=item.close))
            return not item.close
        if kind is SubmitManyRequest:
            await self._submit(item.messages, single=True, seq=item.seq)
            return True
        if kind is StatusRequest:
            self._add(_Slot(pack({"seq": item.seq, **service.status(item.id)})))
        elif kind is CountRequest:
            self._add(
                _Slot(pack({"seq": item.seq, **service.count(item.text, item.transliterate)}))
            )
        elif kind is HealthRequest:
            self._add(_Slot(pack({"seq": item.seq, **service.health()})))
        elif kind is EventsSinceRequest:
            kinds = None if item.events == ALL_EVENT_TYPES else item.events
            reply = service.events_since(item.cursor, item.limit, kinds)
            self._add(_Slot(pack({"seq": item.seq, **reply})))
        elif kind is OptoutAddRequest or kind is OptoutRemoveRequest:
            slot = _Slot()
            slot.seqs = (item.seq,)
            slot.later = self.last_write = await (
                service.optout_add(item) if kind is OptoutAddRequest
                else service.optout_remove(item)
            )
            self._add(slot)
        elif kind is OptoutCheckRequest:
            # It sees the opt-out writes this connection sent before it (and none sent after
            # it, which could share their batch): wait for the last one's commit first.
            last = self.last_write
            if last is not None and last.pending is not None:
                await last.pending.done.wait()
            self._add(_Slot(pack({"seq": item.seq, **service.optout_check(item)})))
        elif kind is SubscribeRequest:
            if self.subscriber is not None:
                self.service.hub.subscribers.discard(self.subscriber)
            sub = Subscriber(item.events, service.config.gateway.subscriber_queue, self._wake)
            cursor = cursor_of(service.outbox.next_event - 1)
            sub.last_cursor = cursor
            service.hub.subscribers.add(sub)
            self.subscriber = sub
            slot = _Slot(pack({"seq": item.seq, "ok": True, "cursor": cursor}))
            slot.subscriber = sub
            self._add(slot)
        else:  # a request type the protocol knows and we do not: a bug, answered as such
            self._add(
                _Slot(
                    pack(
                        {
                            "seq": getattr(item, "seq", None),
                            "ok": False,
                            "error": {
                                "code": str(ErrorCode.INTERNAL_ERROR),
                                "message": f"op {getattr(item, 'op', '?')} is not served",
                            },
                        }
                    )
                )
            )
        return True

    async def replier(self) -> None:
        pack = self._pack
        metrics = self.service.metrics
        while True:
            sub = self.subscriber if self.subscribed else None
            if not self.slots and not (sub is not None and (sub.buffer or sub.dropped)):
                if self.eof:
                    return
                self.wake = trio.Event()
                await self.wake.wait()
                continue
            chunks: list[bytes] = []
            closing = False
            while self.slots:
                slot = self.slots[0]
                if slot.ticket is not None:
                    if chunks and not slot.ticket.ready:
                        break  # write what is ready before waiting for the commit
                    results = await slot.ticket.results()
                    if slot.single:
                        chunks.append(pack({"seq": slot.seqs[0], "ok": True, "results": results}))
                    else:
                        chunks.extend(
                            pack({"seq": seq, **result})
                            for seq, result in zip(slot.seqs, results, strict=True)
                        )
                    metrics.accept_seconds.observe(trio.current_time() - slot.started)
                elif slot.later is not None:
                    if chunks and not slot.later.ready:
                        break
                    chunks.append(pack({"seq": slot.seqs[0], **(await slot.later.reply())}))
                else:
                    chunks.append(slot.data)  # type: ignore[arg-type]
                self.slots.popleft()
                if slot.subscriber is not None:
                    self.subscribed = True
                if slot.close:
                    closing = True
                    break
            if len(self.slots) <= MAX_PIPELINE:
                self.room.set()
            sub = self.subscriber if self.subscribed else None
            if sub is not None and not closing:
                if sub.buffer:
                    chunks.extend(pack(event) for event in sub.buffer)
                    sub.last_cursor = sub.buffer[-1]["cursor"]
                    sub.buffer.clear()
                if sub.dropped:
                    chunks.append(
                        pack(
                            {
                                "event": "dropped",
                                "reason": "the subscriber fell too far behind; resume with "
                                "events_since from this cursor",
                                "cursor": sub.last_cursor,
                            }
                        )
                    )
                    closing = True
            if chunks:
                await self.stream.send_all(b"".join(chunks))
            if closing:
                return


class ApiServer:
    """Owns the listening socket and every connection's nursery."""

    def __init__(self, service: Service, path: Path, mode: int = 0o660) -> None:
        self.service = service
        self.path = path
        self.mode = mode
        self.connections = 0

    def _bind(self) -> trio.socket.SocketType:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise OSError(f"{path} exists and is not a socket; not replacing it")
            path.unlink()  # a stale socket from a previous run
        sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        return sock

    async def serve(
        self, *, task_status: trio.TaskStatus[ApiServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        sock = self._bind()
        try:
            await sock.bind(str(self.path))
            os.chmod(self.path, self.mode)
            sock.listen(512)
        except BaseException:
            sock.close()
            raise
        listener = trio.SocketListener(sock)
        try:
            async with trio.open_nursery() as nursery:
                task_status.started(self)
                await trio.serve_listeners(self._handle, [listener], handler_nursery=nursery)
        finally:
            with trio.CancelScope(shield=True):
                await listener.aclose()
            with contextlib.suppress(OSError):
                self.path.unlink()

    async def _handle(self, stream: trio.abc.Stream) -> None:
        conn = _Connection(self.service, stream)
        metrics = self.service.metrics
        metrics.connections.inc()
        try:
            async with trio.open_nursery() as nursery:

                async def replier_then_stop() -> None:
                    await conn.replier()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(conn.reader)
                nursery.start_soon(replier_then_stop)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the client went away: its connection ends, nothing else does
        except* Exception as group:
            log.error("api.connection_failed", error=repr(group.exceptions[0]))
        finally:
            metrics.connections.dec()
            if conn.subscriber is not None:
                self.service.hub.subscribers.discard(conn.subscriber)
            await trio.aclose_forcefully(stream)


__all__ = ["ApiServer"]
