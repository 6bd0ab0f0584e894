"""The daemon: one trio run, one nursery per lifetime, a graceful stop on SIGTERM/SIGINT.

Lifetimes, outermost first (each inner one ends before the one around it):

1. the store writer: the last thing running, so every outcome learned while stopping is kept;
2. the operators' links, the outcome reporter, the receipt side and the metrics endpoint;
3. the front: the socket API, the scheduler and the lane feeders.

Stopping: new submissions get ``shutting_down``; the front stops (nothing new goes to the
links); the windows drain until every submit_sm has its answer or ``shutdown_grace_s`` passes;
the links unbind; the writer commits what it holds; LMDB closes; exit 0. A second signal stops
at once (everything accepted is already durable, so that is safe too).
"""

from __future__ import annotations

import gc
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import trio

from gateway import codec
from gateway.api.server import ApiServer
from gateway.config import Config, ConfigError, load_config
from gateway.dispatch import Clock, Dispatcher, Outgoing, Route
from gateway.inbound import Inbound
from gateway.logs import configure_logging
from gateway.metrics import Metrics, gauge_from, serve_metrics
from gateway.outbox import P_STATE, Outbox
from gateway.ratelimit.limiter import OperatorLimiter
from gateway.senders import InvalidSender, SenderKind, classify_sender
from gateway.service import Service
from gateway.smpp.client import Operator, SubmitOutcome
from gateway.storage import StoreError, open_env, used_bytes
from gateway.writer import BatchWriter

log = structlog.get_logger("gateway.daemon")

#: Outcomes buffered between the links and the reporter (the links wait when it is full).
OUTCOME_BUFFER = 10_000
#: Cyclic GC thresholds for a daemon under load (CPython's default is 700, 10, 10). Every message
#: allocates a few dozen tracked objects (requests, dataclasses, outbox records, events), and
#: the writer keeps up to LIVE_RECORDS records alive: with the defaults a young collection ran
#: every few messages and a full one (walking every live record) every few thousand, about 10 us
#: of CPU per message measured in bench/e2e.py. A collection walks the live objects of its
#: generations (the dead are freed by refcount, not by the collector): young ones cost about
#: the same in all whatever their threshold (each walks ~threshold survivors), but every middle
#: collection walks every message still in flight (15 ms at 10,000 messages/s), so those run
#: every 200 young ones, not 20 (measured: 0.20 s -> 0.02 s of 0.55 s per 100,000 messages).
#: Cyclic garbage (trio cancel scopes, tracebacks) waits longer, a few seconds under load.
GC_THRESHOLDS = (20_000, 200, 20)

#: How long a stopping daemon keeps answering its clients (``shutting_down``) before it closes
#: their connections.
STOP_ANSWER_S = 0.5
#: How often finished messages and old events are pruned.
PRUNE_EVERY = 60.0


def notify(state: str) -> None:
    """sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, when systemd set it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError as exc:
            log.warning("daemon.notify_failed", error=str(exc))


def watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec, when it asked for pings (and they are for us)."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None


@dataclass(slots=True)
class Daemon:
    """What a running daemon exposes to whoever started it (tests, ``run``)."""

    config: Config
    service: Service
    operators: dict[str, Operator]
    metrics_port: int | None
    stop: Callable[[], None]


def recover(outbox: Outbox, service: Service) -> int:
    """Hand the dispatcher every accepted message with parts still to send (after a restart,
    clean or not). Returns how many."""
    recovered: list[Outgoing] = []
    for message_id, record in outbox.pending():
        todo = {i for i, part in enumerate(record["pt"]) if part[P_STATE] == "queued"}
        if not todo:
            continue
        try:
            sender = classify_sender(record["fr"])
        except InvalidSender:
            continue  # cannot happen for what intake accepted; never crash a restart on it
        plan = codec.plan(record["tx"], ref=message_id & 0xFF, transliterate=record["tl"])
        recovered.append(
            Outgoing(
                id=message_id,
                account=record["a"],
                to=record["to"],
                sender=sender.address,
                sender_ton=sender.ton,
                sender_npi=sender.npi,
                short_code=sender.kind is SenderKind.SHORT_CODE,
                plan=plan,
                marketing=record["mk"],
                priority=record["pr"],
                send_after=record["sa"],
                expires_at=record["ex"],
                todo=todo,
            )
        )
    service.dispatcher.release(recovered)
    return len(recovered)


async def serve(
    config: Config,
    *,
    wall_at_start: float | None = None,
    task_status: trio.TaskStatus[Daemon] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon until ``Daemon.stop()`` is called (or cancelled). ``wall_at_start`` pins
    the calendar for tests running on a MockClock."""
    g = config.gateway
    env = open_env(g.data_dir, map_size=g.map_size_mb << 20)
    try:
        await _serve(config, env, wall_at_start, task_status)
    finally:
        env.close()


async def _serve(
    config: Config, env: object, wall_at_start: float | None, task_status: trio.TaskStatus[Daemon]
) -> None:
    g = config.gateway
    outbox = Outbox(env)  # type: ignore[arg-type]
    metrics = Metrics()
    metrics.build.info({"version": "0.1.0"})
    clock = Clock(time.time() if wall_at_start is None else wall_at_start, trio.current_time())
    writer = BatchWriter(
        outbox,
        interval=g.commit_interval_ms / 1000.0,
        max_ops=g.commit_batch,
    )
    routes = [
        Route(op.name, op.route_prefixes(), op.id_format, op.receipt_id_format,
              op.short_code_ton, op.short_code_npi)
        for op in config.operators
    ]
    outcomes_send, outcomes_recv = trio.open_memory_channel[SubmitOutcome](OUTCOME_BUFFER)
    inbound = Inbound(
        writer=writer,
        routes=routes,
        clock=clock,
        metrics=metrics,
        permanent_error={op.name: op.is_permanent_error for op in config.operators},
    )
    limiters: dict[str, OperatorLimiter] = {}
    #: The operator that sends for each route (transceiver or transmitter binds) ...
    operators: dict[str, Operator] = {}
    #: ... and, for transmitter_receiver operators, the receiver binds beside them.
    receivers: list[Operator] = []
    for op in config.operators:
        limiters[op.name] = OperatorLimiter(op.tps, op.burst)
        modes = op.bind_modes()
        operators[op.name] = Operator(
            op.link_settings(modes[0]),
            outcomes=outcomes_send,
            inbound=inbound,
            binds=op.binds,
            # Small: the order (transactional first, priorities) is kept in the lane's heap,
            # and only what the windows can take soon waits in the links' queue.
            queue_size=min(op.queue_size, max(64, 2 * op.window * op.binds)),
            pacer=limiters[op.name],
        )
        receivers.extend(
            Operator(
                op.link_settings(mode), outcomes=outcomes_send, inbound=inbound, binds=op.binds
            )
            for mode in modes[1:]
        )

    part_counters: dict[tuple[str, str], Any] = {}
    submit_timers: dict[str, Any] = {}

    def outcome_seen(outcome: SubmitOutcome, seconds: float) -> None:
        key = (outcome.operator or "none", outcome.outcome.value)
        counter = part_counters.get(key)
        if counter is None:
            counter = part_counters[key] = metrics.parts.labels(*key)
        counter.inc()
        if not math.isnan(seconds) and outcome.operator:
            timer = submit_timers.get(outcome.operator)
            if timer is None:
                timer = submit_timers[outcome.operator] = metrics.submit_seconds.labels(
                    outcome.operator
                )
            timer.observe(seconds)

    dispatcher = Dispatcher(
        writer=writer,
        operators=operators,
        routes=routes,
        clock=clock,
        failover=config.routing.failover,
        on_outcome=outcome_seen,
    )
    service = Service(
        config=config,
        outbox=outbox,
        writer=writer,
        dispatcher=dispatcher,
        operators=operators,
        metrics=metrics,
        clock=clock,
    )
    writer.on_commit = service.committed
    metrics.known_operators(list(operators))
    metrics.known_accounts([a.name for a in config.accounts])
    for name, operator in operators.items():
        gauge_from(
            metrics.queue_depth,
            [name],
            lambda n=name, o=operator: len(dispatcher.lanes[n]) + len(o.queue),
        )
        gauge_from(metrics.sessions, [name], lambda o=operator: o.bound_links)
        gauge_from(metrics.in_flight, [name], lambda o=operator: o.health()["in_flight"])
        gauge_from(metrics.throttle_wait, [name], lambda li=limiters[name]: li.waited_seconds_total)
        gauge_from(metrics.rate, [name], lambda li=limiters[name]: li.current_rate)
    gauge_from(metrics.scheduled, [], lambda: dispatcher.scheduled)
    gauge_from(
        metrics.optout_entries, [], lambda: sum(service.optout.count_by_scope().values())
    )
    gauge_from(metrics.store_bytes, [], lambda: used_bytes(env))  # type: ignore[arg-type]

    recovered = recover(outbox, service)
    stop_requested = trio.Event()

    async with trio.open_nursery() as root:
        await root.start(writer.run)
        async with trio.open_nursery() as links:
            for operator in [*operators.values(), *receivers]:
                await links.start(operator.run)
            links.start_soon(dispatcher.report, outcomes_recv)
            links.start_soon(inbound.expire_replies)
            metrics_port = None
            if config.metrics.enabled:
                metrics_port = await links.start(
                    serve_metrics, metrics, config.metrics.host, config.metrics.port
                )
            async with trio.open_nursery() as front:
                await front.start(dispatcher.feed)
                api = ApiServer(service, Path(g.socket), int(g.socket_mode, 8))
                await front.start(api.serve)
                front.start_soon(_prune, outbox, writer, clock, g.retention_days * 86400.0)
                front.start_soon(_watchdog)
                log.info(
                    "daemon.ready",
                    socket=str(g.socket),
                    operators=list(operators),
                    recovered=recovered,
                    metrics_port=metrics_port,
                )
                notify("READY=1\nSTATUS=serving")
                task_status.started(
                    Daemon(config, service, operators, metrics_port, stop_requested.set)
                )
                await stop_requested.wait()
                log.info("daemon.stopping")
                notify("STOPPING=1")
                service.stopping = True
                # Connections stay open a moment: submissions already read get their commit
                # and reply, and those that keep coming get ``shutting_down`` instead of a
                # reset connection.
                with trio.move_on_after(min(STOP_ANSWER_S, g.shutdown_grace_s)):
                    await _settle_writer(writer)
                    await trio.sleep(STOP_ANSWER_S)
                    await _settle_writer(writer)
                front.cancel_scope.cancel()
            with trio.move_on_after(g.shutdown_grace_s):
                while any(o.health()["in_flight"] for o in operators.values()):
                    await trio.sleep(0.05)
            links.cancel_scope.cancel()
        writer.close()
    log.info("daemon.stopped")


async def _settle_writer(writer: BatchWriter) -> None:
    pending = writer.open
    if len(pending.batch):
        writer.kick()
        await pending.done.wait()


async def _prune(outbox: Outbox, writer: BatchWriter, clock: Clock, retention: float) -> None:
    while True:
        await trio.sleep(PRUNE_EVERY)
        removed = await trio.to_thread.run_sync(
            outbox.prune, clock.wall() - retention, limiter=writer.limiter
        )
        if removed:
            log.info("daemon.pruned", rows=removed)


async def _watchdog() -> None:
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        notify("WATCHDOG=1")
        await trio.sleep(interval)


async def _main(config: Config) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def lifetime(
                task_status: trio.TaskStatus[Daemon] = trio.TASK_STATUS_IGNORED,
            ) -> None:
                await serve(config, task_status=task_status)
                nursery.cancel_scope.cancel()  # stopped: no more signals to wait for

            daemon: Daemon = await nursery.start(lifetime)
            stopping = False
            async for signum in signals:
                if not stopping:
                    stopping = True
                    log.info("daemon.signal", signal=signal.Signals(signum).name)
                    daemon.stop()
                else:  # a second signal: stop now
                    log.warning("daemon.forced_stop", signal=signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()


def run(config_path: str) -> int:
    """``gateway run --config PATH``: exit 0 after a clean stop, 2 for a bad config, 1 when the
    daemon cannot start (store, socket or port unavailable)."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"gateway: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(config.logging.format, config.logging.level)
    # A daemon's process-wide setting (never lowering what the interpreter was started with).
    gc.set_threshold(*(max(a, b) for a, b in zip(gc.get_threshold(), GC_THRESHOLDS, strict=True)))
    failure: BaseException | None = None
    try:
        trio.run(_main, config)
    except* (StoreError, OSError) as group:
        failure = group.exceptions[0]
        while isinstance(failure, BaseExceptionGroup):
            failure = failure.exceptions[0]
    if failure is not None:
        print(f"gateway: cannot start: {failure}", file=sys.stderr)
        return 1
    return 0


__all__ = ["Daemon", "notify", "recover", "run", "serve"]
