"""The daemon's lock-free histogram against prometheus_client's: the same exposition."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from gateway.metrics import FAST_BUCKETS, RECEIPT_BUCKETS, LoopHistogram


def exposition(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines()
            if "_created" not in line]  # prometheus_client's creation stamp, not ours


@pytest.mark.parametrize("buckets", [FAST_BUCKETS, RECEIPT_BUCKETS, (1, 2, float("inf"))])
def test_the_same_series_as_prometheus_client(buckets) -> None:
    rng = random.Random(5)
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    a = Histogram("t_seconds", "doc", ["operator"], buckets=buckets, registry=theirs)
    b = LoopHistogram("t_seconds", "doc", ["operator"], buckets=buckets, registry=ours)
    values = [rng.choice(buckets[:-1] or (1,)) for _ in range(50)]  # bounds: "le" edges
    values += [rng.expovariate(1 / 3) for _ in range(500)] + [0.0, 1e9]
    for v in values:
        op = rng.choice(["sim", "orange"])
        a.labels(op).observe(v)
        b.labels(op).observe(v)
    assert exposition(ours) == exposition(theirs)
    assert ours.get_sample_value("t_seconds_count", {"operator": "sim"}) == theirs.get_sample_value(
        "t_seconds_count", {"operator": "sim"})


def test_without_labels_and_misuse() -> None:
    registry = CollectorRegistry()
    h = LoopHistogram("plain_seconds", "doc", buckets=(0.1, 1), registry=registry)
    h.observe(0.5)
    assert registry.get_sample_value("plain_seconds_bucket", {"le": "0.1"}) == 0
    assert registry.get_sample_value("plain_seconds_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("plain_seconds_bucket", {"le": "+Inf"}) == 1
    assert registry.get_sample_value("plain_seconds_sum") == 0.5
    with pytest.raises(ValueError):
        h.labels("x")
    labelled = LoopHistogram("l_seconds", "doc", ["op"], buckets=(1,), registry=registry)
    with pytest.raises(ValueError):
        labelled.observe(1)
    with pytest.raises(ValueError):
        LoopHistogram("bad_seconds", "doc", buckets=(2, 1), registry=registry)
