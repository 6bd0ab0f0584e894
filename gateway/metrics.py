"""Prometheus metrics: every family on an injected registry, and the /metrics endpoint on trio.

Names follow the Prometheus guide: ``gateway_`` prefix, base units, ``_total`` on counters. No
number or message id is ever a label; label children for known operators are created at start so
a scrape shows zeros rather than nothing. Values that live elsewhere (queue depths, bound
sessions, store size) are read at scrape time through ``set_function``.

The endpoint is a small HTTP/1.0 responder in the daemon's nursery (``start_http_server`` would
run in a thread nobody owns).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, Info
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.utils import floatToGoString

#: Latency buckets for the accept path (commit included) and the operator round trip.
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
#: Receipts take seconds to days.
RECEIPT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 172800)

#: Largest request head the endpoint reads (a scraper's GET is a few hundred bytes).
MAX_REQUEST_HEAD = 8192


class _Buckets:
    """One histogram's counts: ``counts[i]`` holds the observations in bucket ``i`` (not yet
    cumulative), the last bucket being +Inf."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1  # the first bound >= amount: "le"
        self.sum += amount


class LoopHistogram:
    """A Prometheus histogram observed from the event loop's thread only (every observer and the
    /metrics endpoint run on it), so it needs no lock: an observation is a bisect and two
    additions, a quarter of ``prometheus_client.Histogram.observe`` (which locks once per
    bucket and sum). Two of these are observed once per part (submit response and receipt
    delay). Exposed as the same ``_bucket``/``_count``/``_sum`` series."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        bounds = tuple(float(b) for b in buckets)
        if list(bounds) != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must increase")
        if not bounds or bounds[-1] != math.inf:
            bounds += (math.inf,)
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._bounds = bounds
        self._children: dict[tuple[str, ...], _Buckets] = {}
        self._plain = None if self.labelnames else _Buckets(bounds)
        registry.register(self)

    def labels(self, *values: str) -> _Buckets:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {values}")
        key = tuple(str(v) for v in values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = _Buckets(self._bounds)
        return child

    def observe(self, amount: float) -> None:
        if self._plain is None:
            raise ValueError(f"{self.name} has labels: observe on .labels(...)")
        self._plain.observe(amount)

    def describe(self) -> list[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        series = [((), self._plain)] if self._plain is not None else list(self._children.items())
        for values, child in series:
            cumulative = 0
            buckets = []
            for bound, count in zip(self._bounds, child.counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(list(values), buckets, child.sum)
        yield family


class Metrics:
    """The daemon's metric families. Build one per daemon with its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.build = Info("gateway_build", "Version of the gateway.", registry=r)
        self.accepted = Counter(
            "gateway_messages_accepted_total",
            "Messages accepted (durable).",
            ["account"],
            registry=r,
        )
        self.duplicates = Counter(
            "gateway_messages_duplicate_total",
            "Submissions whose ref was already known (nothing new sent).",
            ["account"],
            registry=r,
        )
        self.rejected = Counter(
            "gateway_messages_rejected_total",
            "Submissions refused, by error code.",
            ["account", "reason"],
            registry=r,
        )
        self.parts = Counter(
            "gateway_parts_submitted_total",
            "Parts answered by an operator, by outcome (accepted, failed, unknown).",
            ["operator", "outcome"],
            registry=r,
        )
        self.finished = Counter(
            "gateway_messages_finished_total",
            "Messages reaching a state (submitted, delivered, failed, expired).",
            ["state"],
            registry=r,
        )
        self.receipts = Counter(
            "gateway_receipts_total",
            "Delivery receipts, by stat.",
            ["operator", "stat"],
            registry=r,
        )
        self.receipts_unmatched = Counter(
            "gateway_receipts_unparsed_total",
            "deliver_sm receipts that could not be parsed.",
            ["operator"],
            registry=r,
        )
        self.replies = Counter(
            "gateway_replies_total", "Replies (MO messages) received.", ["operator"], registry=r
        )
        self.accept_seconds = LoopHistogram(
            "gateway_accept_duration_seconds",
            "From a submit request read to its durable reply.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.submit_seconds = LoopHistogram(
            "gateway_submit_response_seconds",
            "From submit_sm handed to a link to its outcome.",
            ["operator"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.receipt_seconds = LoopHistogram(
            "gateway_receipt_delay_seconds",
            "From a part's acceptance by the operator to its receipt.",
            ["operator"],
            buckets=RECEIPT_BUCKETS,
            registry=r,
        )
        self.commits = Counter(
            "gateway_store_commits_total", "Write transactions committed.", registry=r
        )
        self.commit_seconds = LoopHistogram(
            "gateway_store_commit_seconds",
            "Duration of one write transaction, fsync included.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "gateway_store_errors_total",
            "Write transactions that failed (e.g. disk full).",
            registry=r,
        )
        self.client_errors = Counter(
            "gateway_api_errors_total",
            "Client requests answered with an error.",
            ["code"],
            registry=r,
        )
        self.connections = Gauge("gateway_api_connections", "Client connections open.", registry=r)
        self.subscribers_dropped = Counter(
            "gateway_subscribers_dropped_total",
            "Subscribers dropped for falling behind.",
            registry=r,
        )
        self.queue_depth = Gauge(
            "gateway_queue_depth",
            "Parts or messages waiting for an operator (lane and link queue).",
            ["operator"],
            registry=r,
        )
        self.scheduled = Gauge(
            "gateway_scheduled_messages", "Messages waiting for their send time.", registry=r
        )
        self.in_flight = Gauge(
            "gateway_in_flight_parts",
            "submit_sm sent and not yet answered.",
            ["operator"],
            registry=r,
        )
        self.sessions = Gauge(
            "gateway_sessions_bound", "Operator sessions bound.", ["operator"], registry=r
        )
        self.throttle_wait = Gauge(
            "gateway_throttle_wait_seconds_total",
            "Time spent waiting for the operator's token bucket.",
            ["operator"],
            registry=r,
        )
        self.rate = Gauge(
            "gateway_operator_rate_parts_per_second",
            "The operator's current pace (lowered after throttling, then climbing back).",
            ["operator"],
            registry=r,
        )
        self.optouts = Counter(
            "gateway_optouts_total",
            "Numbers excluded (STOP replies, failed numbers) or re-subscribed.",
            ["action", "reason"],
            registry=r,
        )
        self.optout_entries = Gauge(
            "gateway_optout_entries", "Exclusions on the opt-out list, all scopes.", registry=r
        )
        self.store_bytes = Gauge(
            "gateway_store_used_bytes", "Bytes of the LMDB store in use.", registry=r
        )

    def known_operators(self, names: Sequence[str]) -> None:
        for name in names:
            for outcome in ("accepted", "failed", "unknown"):
                self.parts.labels(name, outcome)
            self.receipts.labels(name, "DELIVRD")
            self.replies.labels(name)

    def known_accounts(self, names: Sequence[str]) -> None:
        for name in names:
            self.accepted.labels(name)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def gauge_from(gauge: Gauge, labels: Sequence[str], fn: Callable[[], float]) -> None:
    """Read ``gauge{labels}`` from ``fn`` at scrape time."""
    child = gauge.labels(*labels) if labels else gauge
    child.set_function(fn)


async def serve_metrics(
    metrics: Metrics,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer ``GET /metrics`` (and ``/``) with the exposition format until cancelled."""
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise OSError(exc.errno, f"metrics on {host}:{port}: {exc.strerror}") from None
    bound_port = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(10):
                head = b""
                while b"\r\n\r\n" not in head and b"\n\n" not in head:
                    chunk = await stream.receive_some(1024)
                    if not chunk:
                        return
                    head += chunk
                    if len(head) > MAX_REQUEST_HEAD:
                        await stream.send_all(
                            b"HTTP/1.0 431 Request Header Fields Too Large\r\n\r\n"
                        )
                        return
                line = head.split(b"\r\n", 1)[0].split(b"\n", 1)[0].split()
                if len(line) < 2 or line[0] not in (b"GET", b"HEAD"):
                    await stream.send_all(b"HTTP/1.0 405 Method Not Allowed\r\nAllow: GET\r\n\r\n")
                    return
                path = line[1].split(b"?", 1)[0]
                if path not in (b"/metrics", b"/"):
                    await stream.send_all(b"HTTP/1.0 404 Not Found\r\n\r\nsee /metrics\n")
                    return
                body = metrics.render()
                response = (
                    b"HTTP/1.0 200 OK\r\nContent-Type: "
                    + CONTENT_TYPE_LATEST.encode()
                    + b"\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                )
                await stream.send_all(response + (b"" if line[0] == b"HEAD" else body))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        task_status.started(bound_port)
        await trio.serve_listeners(handle, listeners, handler_nursery=nursery)


__all__ = ["Metrics", "gauge_from", "serve_metrics"]
