"""Python clients of the gateway's socket API (``docs/protocol.md``): async over trio, and blocking.

Both are thin I/O adapters over ``gateway.api.protocol.ClientConnection``, which owns framing,
seq numbers and reply parsing, so the two cannot disagree about the protocol.

``open_client(path)`` (trio) gives an ``AsyncClient`` that many tasks share: each call queues
its request with no await, then one ``send_all`` under a ``StrictFIFOLock`` carries every request
queued meanwhile, and a single reader task in the client's own nursery hands each reply to its
caller by seq (no task per request). Replies come in request order, and the reader still matches
them by seq. Events from ``subscribe`` go through a bounded channel; the reader never blocks on
a slow event consumer, because a full channel ends the subscription (``SubscriptionDropped``), as
the server would do. So requests on the same connection keep flowing.

``Client(path)`` is the blocking twin for the CLI and scripts, over a plain socket with a
timeout. ``submit_many_pipelined`` keeps a window of batches in flight and reads replies while it
writes, so the two socket buffers can never fill up against each other.

Results are plain dicts: a reply map without ``seq`` and ``ok``. A reply with ``ok: false``
raises ``GatewayError(code, message)``. ``submit_many`` is the exception: it returns each
message's result (``{"ok": false, "error": {...}}`` included) and raises only when the whole
request fails. Losing the connection raises ``GatewayConnectionError`` in every caller waiting,
and whether their requests took effect is then unknown (resubmit with the same ``ref``: it is an
idempotency key).
"""

from __future__ import annotations

import os
import selectors
import socket
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import trio

from gateway.api.protocol import (
    CLIENT_MAX_FRAME_BYTES,
    DEFAULT_EVENTS_LIMIT,
    ClientConnection,
    Event,
    RemoteProtocolError,
    Reply,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "EVENT_BUFFER",
    "AsyncClient",
    "Client",
    "GatewayConnectionError",
    "GatewayError",
    "Subscription",
    "SubscriptionDropped",
    "open_client",
]

#: Bytes asked of the socket per read: a few thousand small replies in one go.
READ_SIZE = 256 * 1024

#: Seconds the blocking client waits for the server before raising TimeoutError.
DEFAULT_TIMEOUT = 10.0

#: Events the async client holds for a subscriber that has not read them yet. More than this,
#: and the subscription is dropped (``SubscriptionDropped``, reason "client_buffer_full"),
#: instead of blocking the reader and with it every reply on the connection.
EVENT_BUFFER = 4096

#: Default batches the blocking client keeps in flight in ``submit_many_pipelined``.
PIPELINE_WINDOW = 16

#: Python spellings of wire keys that are keywords: ``submit(from_="ACME", class_="marketing")``.
_ALIASES = (("from_", "from"), ("class_", "class"))


class GatewayError(Exception):
    """The server answered ``ok: false``. ``code`` is a stable ``ErrorCode`` value. Branch on it,
    never on ``message``, which is for people."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


class GatewayConnectionError(Exception):
    """The connection is gone (closed, broken, or the server broke the protocol). Requests that
    were waiting may or may not have taken effect."""


class SubscriptionDropped(GatewayConnectionError):
    """The subscription ended because the subscriber fell behind. Resume with
    ``events_since(cursor)`` on a new connection. ``cursor`` is the last event delivered."""

    def __init__(self, reason: str, cursor: str | None) -> None:
        super().__init__(f"subscription dropped ({reason}); resume from cursor {cursor!r}")
        self.reason = reason
        self.cursor = cursor


def _wire(message: Mapping[str, Any] | None, fields: dict[str, Any]) -> dict[str, Any]:
    """Merge a message map and keyword fields into wire keys (``from_`` becomes ``from``)."""
    if message:
        merged = dict(message)
        merged.update(fields)
    else:
        merged = fields
    if "from_" in merged or "class_" in merged:
        for alias, key in _ALIASES:
            if alias in merged:
                if key in merged:
                    raise TypeError(f"both {alias!r} and {key!r} given")
                merged[key] = merged.pop(alias)
    return merged


def _wire_messages(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [_wire(m, {}) if ("from_" in m or "class_" in m) else m for m in messages]  # type: ignore[misc]


def _result(reply: Reply) -> dict[str, Any]:
    """The reply's result fields, or GatewayError for ``ok: false``."""
    body = reply.body
    if not reply.ok:
        error = body["error"]
        raise GatewayError(reply.code or "", reply.message or "", error.get("field"))
    body.pop("seq", None)
    body.pop("ok", None)
    return body


def _optional(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


# --------------------------------------------------------------------------------------------
# Async (trio)


class _Waiter:
    """One request waiting for its reply. A caller that gives up (cancelled) leaves its waiter
    in place: the reply still arrives in order and is dropped, and the order stays intact."""

    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.reply: Reply | None = None


class AsyncClient:
    """A connection to the daemon shared by any number of tasks. Build it with ``open_client``."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_frame_bytes: int = CLIENT_MAX_FRAME_BYTES,
        event_buffer: int = EVENT_BUFFER,
    ) -> None:
        self._stream = stream
        self._conn = ClientConnection(max_frame_bytes=max_frame_bytes)
        self._pending: dict[int, _Waiter] = {}
        self._send_lock = trio.StrictFIFOLock()
        self._error: GatewayConnectionError | None = None
        self._event_buffer = event_buffer
        self._subscription: Subscription | None = None

    @property
    def closed(self) -> bool:
        return self._error is not None

    # -- the API ------------------------------------------------------------------------------

    async def submit(self, message: Mapping[str, Any] | None = None, /, **fields: Any) -> dict:
        """Submit one message: ``submit(account=..., to=..., from_=..., text=...)``, or a map
        with wire keys. Returns ``{"id", "parts", "encoding", "state", ...}``."""
        return _result(await self.request("submit", _wire(message, fields)))

    async def submit_many(self, messages: Iterable[Mapping[str, Any]]) -> list[dict]:
        """Submit a batch. Returns one result per message, in order. A refused message is
        ``{"ok": false, "error": {...}}`` in its place, and nothing is raised for it."""
        reply = await self.request("submit_many", {"messages": _wire_messages(messages)})
        return _result(reply)["results"]

    async def status(self, id: str) -> dict:
        return _result(await self.request("status", {"id": id}))

    async def count(self, text: str, transliterate: bool = False) -> dict:
        """What the text costs: ``{"encoding", "units", "parts", "per_part"}``."""
        return _result(await self.request("count", {"text": text, "transliterate": transliterate}))

    async def health(self) -> dict:
        return _result(await self.request("health"))

    async def events_since(
        self, cursor: str = "", limit: int = DEFAULT_EVENTS_LIMIT,
        events: Sequence[str] | None = None,
    ) -> dict:
        """One page of the event log: ``{"events": [...], "cursor": str, "more": bool}``."""
        fields = _optional(cursor=cursor, limit=limit, events=list(events) if events else None)
        return _result(await self.request("events_since", fields))

    def subscribe(self, events: Sequence[str] | None = None) -> Subscription:
        """Events on this connection, as an async iterator of event dicts:
        ``async for event in client.subscribe(["status"]): ...``. One subscription per client.
        The subscribe request is sent on first iteration, or by ``await sub.start()``."""
        if self._subscription is not None:
            raise RuntimeError("this client already has a subscription; open another client")
        send, receive = trio.open_memory_channel[dict](self._event_buffer)
        self._subscription = Subscription(self, events, send, receive)
        return self._subscription

    async def request(self, op: str, fields: Mapping[str, Any] | None = None) -> Reply:
        """Send any op and wait for its reply (raw, ``ok: false`` included): the way to reach
        ops this class has no method for."""
        if self._error is not None:
            raise self._error
        seq = self._conn.send_request(op, fields)
        waiter = _Waiter()
        self._pending[seq] = waiter
        await self._flush()
        await waiter.done.wait()
        if waiter.reply is None:
            raise self._error or GatewayConnectionError("connection lost")
        return waiter.reply

    async def aclose(self) -> None:
        """Close the connection. Callers still waiting get GatewayConnectionError."""
        self._fail(GatewayConnectionError("the client was closed"), closing=True)
        await trio.aclose_forcefully(self._stream)

    # -- internals ----------------------------------------------------------------------------

    async def _flush(self) -> None:
        async with self._send_lock:
            if self._error is not None:
                raise self._error
            data = self._conn.data_to_send()
            if not data:
                return  # an earlier flush carried our request
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._fail(GatewayConnectionError(f"sending failed: {exc!r}"))
                raise self._error from exc  # type: ignore[misc]
            except BaseException:
                # Cancelled (or worse) mid-write: part of a frame may be on the wire, and the
                # stream cannot be trusted any more (h11's send_failed).
                self._fail(GatewayConnectionError("a write was interrupted; connection dropped"))
                raise

    async def _read_loop(self) -> None:
        conn = self._conn
        try:
            while True:
                data = await self._stream.receive_some(READ_SIZE)
                try:
                    items = conn.receive_data(data)
                except RemoteProtocolError as exc:
                    self._dispatch(exc.items)
                    raise GatewayConnectionError(f"the server broke the protocol: {exc}") from exc
                self._dispatch(items)
                if not data:
                    raise GatewayConnectionError("the server closed the connection")
        except GatewayConnectionError as exc:
            self._fail(exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._fail(GatewayConnectionError(f"connection lost: {exc!r}"))

    def _dispatch(self, items: list[Reply | Event]) -> None:
        pending = self._pending
        for item in items:
            if type(item) is Reply:
                seq = item.seq
                if seq is None:
                    # answers a frame the server could not read: in order, the oldest one
                    seq = next(iter(pending), None)
                waiter = pending.pop(seq, None) if seq is not None else None
                if waiter is not None:
                    waiter.reply = item
                    waiter.done.set()
            elif self._subscription is not None:
                self._subscription._deliver(item.body)  # type: ignore[union-attr]

    def _fail(self, error: GatewayConnectionError, *, closing: bool = False) -> None:
        if self._error is not None:
            return
        self._error = error
        pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter.done.set()
        if self._subscription is not None:
            self._subscription._end(None if closing else error)


class Subscription:
    """The events of an ``AsyncClient`` connection, as an async iterator of event dicts.

    ``cursor`` is the subscribe reply's cursor, then each delivered event's cursor: it is where
    ``events_since`` resumes. Iteration ends when the client is closed. It raises
    ``SubscriptionDropped`` when the subscriber fell behind (server- or client-side) and
    ``GatewayConnectionError`` when the connection is lost.
    """

    def __init__(
        self,
        client: AsyncClient,
        events: Sequence[str] | None,
        send: trio.MemorySendChannel[dict],
        receive: trio.MemoryReceiveChannel[dict],
    ) -> None:
        self._client = client
        self._events = list(events) if events is not None else None
        self._send = send
        self._receive = receive
        self._started = False
        self._queued_cursor: str | None = None
        self._ending: GatewayConnectionError | None = None
        self.cursor: str | None = None

    async def start(self) -> str:
        """Send the subscribe request (once) and return the stream's cursor."""
        if not self._started:
            self._started = True
            fields = {"events": self._events} if self._events is not None else None
            reply = _result(await self._client.request("subscribe", fields))
            self.cursor = self._queued_cursor = reply["cursor"]
        return self.cursor  # type: ignore[return-value]

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict:
        if not self._started:
            await self.start()
        try:
            event = await self._receive.receive()
        except trio.EndOfChannel:
            if self._ending is not None:
                raise self._ending from None
            raise StopAsyncIteration from None
        if event.get("event") == "dropped":
            self._receive.close()
            raise SubscriptionDropped(str(event.get("reason")), event.get("cursor", self.cursor))
        self.cursor = event.get("cursor", self.cursor)
        return event

    def _deliver(self, event: dict) -> None:
        """(reader task) Queue one event without blocking; a full buffer ends the subscription
        with the last queued cursor, which the subscriber resumes from."""
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self._end(SubscriptionDropped("client_buffer_full", self._queued_cursor))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # ended, or the subscriber closed its end: events are dropped
        else:
            self._queued_cursor = event.get("cursor", self._queued_cursor)

    def _end(self, error: GatewayConnectionError | None) -> None:
        if self._ending is None:
            self._ending = error
        self._send.close()


@asynccontextmanager
async def open_client(
    path: str | os.PathLike[str],
    *,
    max_frame_bytes: int = CLIENT_MAX_FRAME_BYTES,
    event_buffer: int = EVENT_BUFFER,
) -> AsyncIterator[AsyncClient]:
    """Connect to the daemon's socket: ``async with open_client(path) as client: ...``.

    The reader task lives in this block's own nursery. Leaving the block closes the connection.
    """
    stream = await trio.open_unix_socket(os.fspath(path))
    client = AsyncClient(stream, max_frame_bytes=max_frame_bytes, event_buffer=event_buffer)
    # The body's exception is re-raised after the nursery, not through it, so callers catch a
    # plain GatewayError (or Cancelled) rather than an ExceptionGroup around it. The reader
    # task records the connection errors it understands instead of raising them.
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client._read_loop)
        try:
            yield client
        except BaseException as exc:
            body_error = exc
        finally:
            await client.aclose()
            nursery.cancel_scope.cancel()
    if body_error is not None:
        raise body_error


# --------------------------------------------------------------------------------------------
# Blocking


class Client:
    """A blocking connection to the daemon, for the CLI and scripts: ``with Client(path) as c``.

    ``timeout`` (seconds, None = wait forever) bounds each wait for the server and raises
    ``TimeoutError``. The connection stays usable afterwards: a late reply is recognised by its
    seq and dropped. Not thread-safe: use one Client per thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        timeout: float | None = DEFAULT_TIMEOUT,
        *,
        max_frame_bytes: int = CLIENT_MAX_FRAME_BYTES,
    ) -> None:
        self._timeout = timeout
        self._conn = ClientConnection(max_frame_bytes=max_frame_bytes)
        #: seqs sent and not yet answered, oldest first (a nil-seq reply is the oldest's)
        self._outstanding: dict[int, None] = {}
        self._replies: dict[int, Reply] = {}
        self._events: deque[dict] = deque()
        self._subscribed = False
        self._error: GatewayConnectionError | None = None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(os.fspath(path))
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    @property
    def timeout(self) -> float | None:
        """Seconds each wait for the server may take (None = forever); settable."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = value
        if self._error is None:
            self._sock.settimeout(value)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._error is None:
            self._error = GatewayConnectionError("the client was closed")
        self._sock.close()

    # -- the API ------------------------------------------------------------------------------

    def submit(self, message: Mapping[str, Any] | None = None, /, **fields: Any) -> dict:
        """Submit one message (see ``AsyncClient.submit``)."""
        return _result(self.request("submit", _wire(message, fields)))

    def submit_many(self, messages: Iterable[Mapping[str, Any]]) -> list[dict]:
        """Submit one batch; per-message results, in order (see ``AsyncClient.submit_many``)."""
        reply = self.request("submit_many", {"messages": _wire_messages(messages)})
        return _result(reply)["results"]

    def status(self, id: str) -> dict:
        return _result(self.request("status", {"id": id}))

    def count(self, text: str, transliterate: bool = False) -> dict:
        return _result(self.request("count", {"text": text, "transliterate": transliterate}))

    def health(self) -> dict:
        return _result(self.request("health"))

    def events_since(
        self, cursor: str = "", limit: int = DEFAULT_EVENTS_LIMIT,
        events: Sequence[str] | None = None,
    ) -> dict:
        fields = _optional(cursor=cursor, limit=limit, events=list(events) if events else None)
        return _result(self.request("events_since", fields))

    def subscribe(
        self, events: Sequence[str] | None = None, *, timeout: float | None = None
    ) -> Iterator[dict]:
        """Subscribe now and return an iterator of event dicts. ``timeout`` bounds the wait
        for each event (None = forever). Other calls on this client may be interleaved, and
        events that arrive meanwhile are kept for the iterator."""
        if self._subscribed:
            raise RuntimeError("this client already has a subscription; open another client")
        fields = {"events": list(events)} if events is not None else None
        self._subscribed = True  # before the request: events can come in the reply's read
        try:
            _result(self.request("subscribe", fields))
        except BaseException:
            self._subscribed = False
            self._events.clear()
            raise
        return self._iter_events(timeout)

    def submit_many_pipelined(
        self, batches: Iterable[Sequence[Mapping[str, Any]]], *, window: int = PIPELINE_WINDOW
    ) -> list[list[dict]]:
        """Submit many batches without waiting for each reply: up to ``window`` submit_many
        requests are in flight, and replies are read while requests are written. Returns the
        per-message results of each batch, in order. When a whole batch fails, every other
        reply is still read (the connection stays in step), then its GatewayError is raised.
        """
        if window < 1:
            raise ValueError("window must be at least 1")
        self._check_open()
        conn, sock = self._conn, self._sock
        order: list[int] = []
        in_flight: set[int] = set()
        out = bytearray()
        sent = 0
        source = iter(batches)
        exhausted = False
        selector = selectors.DefaultSelector()
        sock.setblocking(False)
        try:
            selector.register(sock, selectors.EVENT_READ)
            while True:
                while not exhausted and len(in_flight) < window:
                    batch = next(source, None)
                    if batch is None:
                        exhausted = True
                        break
                    seq = conn.send_request("submit_many", {"messages": _wire_messages(batch)})
                    self._outstanding[seq] = None
                    order.append(seq)
                    in_flight.add(seq)
                    out += conn.data_to_send()
                if exhausted and not in_flight:
                    break  # every reply is in (so every request went out)
                want = selectors.EVENT_READ | (selectors.EVENT_WRITE if sent < len(out) else 0)
                selector.modify(sock, want)
                ready = selector.select(self.timeout)
                if not ready:
                    raise TimeoutError(f"no progress from the gateway in {self.timeout} s")
                for _key, mask in ready:
                    if mask & selectors.EVENT_WRITE:
                        try:
                            sent += sock.send(memoryview(out)[sent:])
                        except BlockingIOError:
                            pass
                        except OSError as exc:
                            raise self._broken(f"sending failed: {exc!r}") from exc
                        if sent == len(out):
                            out.clear()
                            sent = 0
                    if mask & selectors.EVENT_READ:
                        with suppress(BlockingIOError):
                            self._read_once()
                        in_flight.intersection_update(self._outstanding)
        except BaseException:
            for seq in order:  # give up on this run: its late replies will be dropped
                self._outstanding.pop(seq, None)
                self._replies.pop(seq, None)
            raise
        finally:
            selector.close()
            if self._error is None:
                sock.settimeout(self._timeout)
        replies = [self._replies.pop(seq) for seq in order]
        failed = next((r for r in replies if not r.ok), None)
        if failed is not None:
            _result(failed)
        return [_result(r)["results"] for r in replies]

    def request(self, op: str, fields: Mapping[str, Any] | None = None) -> Reply:
        """Send any op and wait for its reply (raw, ``ok: false`` included)."""
        self._check_open()
        seq = self._conn.send_request(op, fields)
        self._outstanding[seq] = None
        try:
            self._sock.sendall(self._conn.data_to_send())
        except TimeoutError:
            raise self._broken("a write timed out; connection dropped") from None
        except OSError as exc:
            raise self._broken(f"sending failed: {exc!r}") from exc
        try:
            while seq not in self._replies:
                self._read_once()
        except TimeoutError:
            self._outstanding.pop(seq, None)  # its late reply will be dropped
            raise
        return self._replies.pop(seq)

    # -- internals ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._error is not None:
            raise self._error

    def _broken(self, message: str) -> GatewayConnectionError:
        if self._error is None:
            self._error = GatewayConnectionError(message)
            self._sock.close()
        return self._error

    def _read_once(self) -> None:
        """One recv, its replies filed by seq and its events queued."""
        self._check_open()
        try:
            data = self._sock.recv(READ_SIZE)
        except (TimeoutError, BlockingIOError):
            raise
        except OSError as exc:
            raise self._broken(f"connection lost: {exc!r}") from exc
        try:
            items = self._conn.receive_data(data)
        except RemoteProtocolError as exc:
            self._file(exc.items)
            raise self._broken(f"the server broke the protocol: {exc}") from exc
        self._file(items)
        if not data:
            raise self._broken("the server closed the connection")

    def _file(self, items: list[Reply | Event]) -> None:
        outstanding = self._outstanding
        for item in items:
            if type(item) is Reply:
                seq = item.seq if item.seq is not None else next(iter(outstanding), None)
                if seq is not None and seq in outstanding:
                    del outstanding[seq]
                    self._replies[seq] = item
            elif self._subscribed:
                self._events.append(item.body)  # type: ignore[union-attr]

    def _iter_events(self, timeout: float | None) -> Iterator[dict]:
        events = self._events
        while True:
            while events:
                event = events.popleft()
                if event.get("event") == "dropped":
                    raise SubscriptionDropped(str(event.get("reason")), event.get("cursor"))
                yield event
            self._sock.settimeout(timeout)
            try:
                self._read_once()
            finally:
                if self._error is None:
                    self._sock.settimeout(self._timeout)
