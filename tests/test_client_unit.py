"""The Python clients against an in-test trio server over a real Unix socket.

The server is ``ServerConnection`` plus canned answers, not the daemon (tests of the clients
against the real daemon live with it): what is tested here is the clients' side of the contract,
that is pipelining over one connection, matching by seq even when replies come out of order,
events, drops, connection loss, timeouts, and the blocking client's pipelined batches that must
not deadlock when both socket buffers fill up.
"""

from __future__ import annotations

import socket

import pytest
import trio

from gateway import codec
from gateway.api.protocol import (
    ClientConnection,
    CountRequest,
    ErrorCode,
    EventsSinceRequest,
    FieldError,
    HealthRequest,
    ProtocolErrorReply,
    ServerConnection,
    StatusRequest,
    SubmitManyRequest,
    SubmitRequest,
    SubscribeRequest,
    encode_error,
    encode_event,
    encode_reply,
)
from gateway.client import (
    Client,
    GatewayConnectionError,
    GatewayError,
    SubscriptionDropped,
    open_client,
)

MSG = {"account": "acme", "to": "+33612345678", "from": "ACME", "text": "Bonjour"}
TIMEOUT = 10  # an absolute bound on every I/O test, so a hang fails instead of blocking the run


class FakeGateway:
    """Answers with ``ServerConnection`` and canned results. Knobs:

    - ``hold``: keep replies until this many are due, then send them all *reversed* (proves the
      client pipelines and matches by seq, not by position);
    - ``events``: pushed after a subscribe reply, then a ``dropped`` event and close if ``drop``;
    - status ids with a meaning: "slow" (answer after 0.3 s), "nil" (answer with seq nil),
      "never" (no answer), "hangup" (close without answering), "garbage" (send bytes that are
      not msgpack).
    """

    def __init__(self, *, hold: int = 0, events: list[dict] | None = None, drop: bool = False,
                 max_batch: int = 1000) -> None:
        self.hold = hold
        self.events = events or []
        self.drop = drop
        self.max_batch = max_batch
        self.requests = 0
        self.reads = 0
        self.connections = 0
        self.release = trio.Event()

    def result(self, req: SubmitRequest) -> dict:
        if req.text == "boom":
            return {"ok": False, "error": {"code": "invalid_text", "message": "boom"}}
        c = codec.count(req.text)
        out = {"ok": True, "id": f"m-{req.ref or req.to}", "parts": c.parts,
               "encoding": c.encoding, "state": "queued"}
        if req.send_at:
            out.update(state="scheduled", send_after=req.send_at)
        return out

    async def answer(self, item, stream) -> tuple[list[bytes], bool]:
        kind = type(item)
        if kind is ProtocolErrorReply:
            return [item.to_bytes()], item.close
        if kind is SubmitRequest:
            result = self.result(item)
            if not result.pop("ok"):
                err = result["error"]
                return [encode_error(item.seq, err["code"], err["message"])], False
            return [encode_reply(item.seq, **result)], False
        if kind is SubmitManyRequest:
            results = [m.as_result() if type(m) is FieldError else self.result(m)
                       for m in item.messages]
            return [encode_reply(item.seq, results=results)], False
        if kind is StatusRequest:
            if item.id == "slow":
                await trio.sleep(0.3)
                return [encode_reply(item.seq, state="queued", account="acme", parts=[])], False
            if item.id == "never":
                return [], False
            if item.id == "nil":
                return [encode_error(None, ErrorCode.BAD_REQUEST, "seq unreadable")], False
            if item.id == "hangup":
                return [], True
            if item.id == "garbage":
                return [b"\xc1"], False
            if not item.id.startswith("m-"):
                return [encode_error(item.seq, ErrorCode.NOT_FOUND, f"no {item.id}", "id")], False
            return [encode_reply(item.seq, state="delivered", account="acme", parts=[])], False
        if kind is CountRequest:
            c = codec.count(item.text, transliterate=item.transliterate)
            return [encode_reply(item.seq, encoding=c.encoding, units=c.units, parts=c.parts,
                                 per_part=c.per_part)], False
        if kind is HealthRequest:
            return [encode_reply(item.seq, uptime=1.0, queued=0, scheduled=0, operators=[])], False
        if kind is EventsSinceRequest:
            events = [e for e in self.events if e["event"] in item.events][: item.limit]
            cursor = events[-1]["cursor"] if events else item.cursor
            return [encode_reply(item.seq, events=events, cursor=cursor, more=False)], False
        if kind is SubscribeRequest:
            frames = [encode_reply(item.seq, cursor="0")]
            frames += [encode_event(e) for e in self.events if e["event"] in item.events]
            if self.drop:
                last = self.events[-1]["cursor"] if self.events else "0"
                frames.append(encode_event({"event": "dropped", "reason": "slow", "cursor": last}))
                return frames, True
            return frames, False
        raise AssertionError(item)

    async def handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        conn = ServerConnection(max_batch=self.max_batch)
        held: list[bytes] = []
        async with stream:
            while True:
                data = await stream.receive_some(65536)
                self.reads += 1
                out: list[bytes] = []
                close = False
                for item in conn.receive_data(data):
                    self.requests += 1
                    frames, close = await self.answer(item, stream)
                    out += frames
                    if close:
                        break
                if self.hold and not close:
                    held += out
                    if len(held) < self.hold:
                        continue
                    out, held = held[::-1], []
                if out:
                    await stream.send_all(b"".join(out))
                if close or not data:
                    return


async def serve(nursery: trio.Nursery, path, gateway: FakeGateway) -> str:
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await sock.bind(str(path))
    sock.listen(128)
    await nursery.start(trio.serve_listeners, gateway.handle, [trio.SocketListener(sock)])
    return str(path)


@pytest.fixture
async def gateway(nursery, tmp_path):
    gw = FakeGateway()
    gw.path = await serve(nursery, tmp_path / "api.sock", gw)
    return gw


def events(n: int, start: int = 1) -> list[dict]:
    return [{"event": "status", "cursor": f"{i:04d}", "id": f"m-{i}", "account": "acme",
             "state": "delivered", "at": 1.0} for i in range(start, start + n)]


# --------------------------------------------------------------------------------------------
# Async client


async def test_async_ops(gateway):
    with trio.fail_after(TIMEOUT):
        async with open_client(gateway.path) as client:
            got = await client.submit(account="acme", to="+33600000001", from_="ACME", text="hé",
                                      ref="r1", class_="marketing")
            assert got == {"id": "m-r1", "parts": 1, "encoding": "gsm7", "state": "queued"}
            got = await client.submit({**MSG, "send_at": 2e9})
            assert (got["state"], got["send_after"]) == ("scheduled", 2e9)
            with pytest.raises(GatewayError) as info:
                await client.submit(MSG, text="boom")
            assert (info.value.code, info.value.message) == ("invalid_text", "boom")
            with pytest.raises(GatewayError) as info:
                await client.submit(MSG, priority="high")
            assert (info.value.code, info.value.field) == ("invalid_field", "priority")
            results = await client.submit_many([MSG, {**MSG, "text": "boom"}, {"to": 1},
                                                {**MSG, "class_": "marketing", "ref": "r2"}])
            assert [r["ok"] for r in results] == [True, False, False, True]
            assert results[2]["error"]["code"] == "missing_field"
            assert results[3]["id"] == "m-r2"
            with pytest.raises(GatewayError, match="batch_too_large"):
                await client.submit_many([MSG] * 1001)
            assert (await client.status("m-1"))["state"] == "delivered"
            with pytest.raises(GatewayError) as info:
                await client.status("x")
            assert info.value.code == "not_found"
            text = "Soldes -50% ce week-end !" * 10
            expected = codec.count(text)
            assert await client.count(text) == {"encoding": expected.encoding,
                                                "units": expected.units,
                                                "parts": expected.parts,
                                                "per_part": expected.per_part}
            assert (await client.health())["uptime"] == 1.0
            page = await client.events_since("", limit=5, events=["status"])
            assert page == {"events": [], "cursor": "", "more": False}
            with pytest.raises(TypeError):
                await client.submit(MSG, from_="X")  # both "from" and "from_"
        with pytest.raises(GatewayError):  # not wrapped in an ExceptionGroup
            async with open_client(gateway.path) as client:
                await client.status("nope")


async def test_pipelined_callers_share_one_connection_matched_by_seq(nursery, tmp_path):
    """200 tasks call at once; the server answers only when all 200 requests have arrived, in
    reverse order. Every caller must still get its own reply."""
    gw = FakeGateway(hold=200)
    path = await serve(nursery, tmp_path / "s", gw)
    got: dict[int, str] = {}

    async def one(client, i):
        got[i] = (await client.submit(MSG, ref=f"r{i}"))["id"]

    with trio.fail_after(TIMEOUT):
        async with open_client(path) as client, trio.open_nursery() as callers:
            for i in range(200):
                callers.start_soon(one, client, i)
    assert got == {i: f"m-r{i}" for i in range(200)}
    assert gw.connections == 1
    assert gw.reads < 200  # requests queued meanwhile went out together


async def test_nil_seq_reply_goes_to_the_oldest_request(gateway):
    with trio.fail_after(TIMEOUT):
        async with open_client(gateway.path) as client:
            with pytest.raises(GatewayError) as info:
                await client.status("nil")
            assert info.value.code == "bad_request"
            assert (await client.health())["queued"] == 0  # still in step


async def test_cancelled_caller_does_not_disturb_the_others(gateway):
    with trio.fail_after(TIMEOUT):
        async with open_client(gateway.path) as client:
            with trio.move_on_after(0.05) as scope:
                await client.status("slow")
            assert scope.cancelled_caught
            # the slow reply arrives later and is dropped; the next call gets its own reply
            assert (await client.count("abc"))["units"] == 3
            assert (await client.status("m-2"))["state"] == "delivered"


@pytest.mark.parametrize("how", ["hangup", "garbage"])
async def test_connection_loss_fails_every_waiter(gateway, how):
    with trio.fail_after(TIMEOUT):
        async with open_client(gateway.path) as client:
            outcomes = []

            async def waiter():
                try:
                    await client.status("never")
                except GatewayConnectionError as exc:
                    outcomes.append(exc)

            async with trio.open_nursery() as n:
                n.start_soon(waiter)
                await trio.sleep(0.01)
                with pytest.raises(GatewayConnectionError):
                    await client.status(how)
            assert len(outcomes) == 1
            assert client.closed
            with pytest.raises(GatewayConnectionError):
                await client.health()


async def test_subscribe_events_then_dropped(nursery, tmp_path):
    gw = FakeGateway(events=events(3), drop=True)
    path = await serve(nursery, tmp_path / "s", gw)
    with trio.fail_after(TIMEOUT):
        async with open_client(path) as client:
            sub = client.subscribe(["status"])
            seen = []
            with pytest.raises(SubscriptionDropped) as info:
                async for event in sub:
                    seen.append(event["cursor"])
                    assert sub.cursor == event["cursor"]
            assert seen == ["0001", "0002", "0003"]
            assert (info.value.reason, info.value.cursor) == ("slow", "0003")
            with pytest.raises(RuntimeError):
                client.subscribe()


async def test_subscriber_that_falls_behind_is_dropped_locally_and_requests_go_on(nursery,
                                                                                 tmp_path):
    gw = FakeGateway(events=events(10))
    path = await serve(nursery, tmp_path / "s", gw)
    with trio.fail_after(TIMEOUT):
        async with open_client(path, event_buffer=2) as client:
            sub = client.subscribe()
            assert await sub.start() == "0"
            # the reader is not blocked by the full event buffer: replies still arrive
            assert (await client.count("x"))["parts"] == 1
            got = [await sub.__anext__(), await sub.__anext__()]
            assert [e["cursor"] for e in got] == ["0001", "0002"]
            with pytest.raises(SubscriptionDropped) as info:
                await sub.__anext__()
            assert (info.value.reason, info.value.cursor) == ("client_buffer_full", "0002")
            # resume from the cursor with events_since, as the docs say
            page = await client.events_since(info.value.cursor)
            assert page["events"][0]["cursor"] == "0001"  # the fake ignores the cursor


async def test_leaving_the_block_ends_the_subscription_quietly(nursery, tmp_path):
    gw = FakeGateway(events=events(1))
    path = await serve(nursery, tmp_path / "s", gw)
    seen = []
    with trio.fail_after(TIMEOUT):
        async with open_client(path) as client:
            sub = client.subscribe()

            async def consume():
                async for event in sub:
                    seen.append(event)

            async with trio.open_nursery() as n:
                n.start_soon(consume)
                await trio.sleep(0.05)
                await client.aclose()
    assert len(seen) == 1


# --------------------------------------------------------------------------------------------
# Blocking client (run in a thread against the trio server)


async def test_blocking_ops(gateway):
    def work():
        with Client(gateway.path, timeout=5) as c:
            assert c.submit(MSG, ref="b1")["id"] == "m-b1"
            with pytest.raises(GatewayError) as info:
                c.submit(MSG, text="boom")
            assert info.value.code == "invalid_text"
            assert [r["ok"] for r in c.submit_many([MSG, {"to": "x"}])] == [True, False]
            assert c.count("«»", transliterate=True)["encoding"] == "gsm7"
            assert c.status("m-1")["state"] == "delivered"
            assert c.health()["operators"] == []
            assert c.events_since("")["more"] is False
            with pytest.raises(GatewayError, match="not_found"):
                c.status("zz")
        with pytest.raises(GatewayConnectionError):
            c.health()

    with trio.fail_after(TIMEOUT):
        await trio.to_thread.run_sync(work)


async def test_blocking_timeout_then_late_reply_is_dropped(gateway):
    def work():
        with Client(gateway.path, timeout=0.1) as c:
            with pytest.raises(TimeoutError):
                c.status("slow")
            c.timeout = 5
            assert c.count("abcd")["units"] == 4  # the slow reply came first and was dropped

    with trio.fail_after(TIMEOUT):
        await trio.to_thread.run_sync(work)


async def test_blocking_server_gone(gateway):
    def work():
        with Client(gateway.path) as c:
            with pytest.raises(GatewayConnectionError):
                c.status("hangup")
            with pytest.raises(GatewayConnectionError):
                c.health()

    with trio.fail_after(TIMEOUT):
        await trio.to_thread.run_sync(work)


async def test_blocking_pipelined_batches_do_not_deadlock(gateway):
    """60 batches of 200 messages of 1 KiB (12 MiB) with replies that fill the socket buffer:
    the client must read while it writes."""
    batches = [[{**MSG, "text": "x" * 1000, "ref": f"{b}-{i}"} for i in range(200)]
               for b in range(60)]

    def work():
        with Client(gateway.path, timeout=5) as c:
            results = c.submit_many_pipelined(iter(batches), window=8)
            assert len(results) == 60
            for b, batch in enumerate(results):
                assert [r["id"] for r in batch] == [f"m-{b}-{i}" for i in range(200)]
            # the connection is still in step afterwards
            assert c.count("a")["units"] == 1
            assert c.submit_many_pipelined([]) == []

    with trio.fail_after(TIMEOUT):
        await trio.to_thread.run_sync(work)


async def test_blocking_pipelined_whole_batch_failure_is_raised_after_draining(gateway):
    def work():
        with Client(gateway.path, timeout=5) as c:
            with pytest.raises(GatewayError) as info:
                c.submit_many_pipelined([[MSG], [MSG] * 1001, [MSG]])
            assert info.value.code == "batch_too_large"
            assert c.count("ab")["units"] == 2

    with trio.fail_after(TIMEOUT):
        await trio.to_thread.run_sync(work)


async def test_blocking_subscribe(nursery, tmp_path):
    gw = FakeGateway(events=events(2), drop=True)
    path = await serve(nursery, tmp_path / "s", gw)

    def work():
        with Client(path, timeout=5) as c:
            it = c.subscribe(["status"], timeout=5)
            assert next(it)["cursor"] == "0001"
            assert next(it)["cursor"] == "0002"
            with pytest.raises(SubscriptionDropped) as info:
                next(it)
            assert info.value.cursor == "0002"

    with trio.fail_after(TIMEOUT):
        await trio.to_thread.run_sync(work)


async def test_raw_socket_client_from_the_docs(gateway):
    """The minimal client in docs/protocol.md works as written (framing is just msgpack)."""
    import msgpack

    def work():
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(gateway.path)
        sock.sendall(msgpack.packb({"op": "health", "seq": 1}))
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=64 * 1024 * 1024)
        while True:
            unpacker.feed(sock.recv(65536))
            for frame in unpacker:
                if frame.get("seq") == 1:
                    sock.close()
                    return frame

    with trio.fail_after(TIMEOUT):
        frame = await trio.to_thread.run_sync(work)
    assert frame["ok"] is True and "uptime" in frame


def test_client_connection_is_what_both_clients_use():
    # a guard against a client growing its own framing
    import inspect

    from gateway import client as module

    source = inspect.getsource(module)
    assert "msgpack" not in source
    assert isinstance(ClientConnection(), ClientConnection)
