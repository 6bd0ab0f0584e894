"""Routing by the longest matching prefix, and the cache of answers by number head."""

from __future__ import annotations

import random

from gateway import dispatch
from gateway.dispatch import Route, Router


def reference(routes: list[Route], number: str) -> tuple[str, ...]:
    """The rule spelt out: matching prefixes, longest first, ties in config order."""
    matches = [
        (-len(prefix), order, route.name)
        for order, route in enumerate(routes)
        for prefix in route.prefixes
        if number.startswith(prefix)
    ]
    names: list[str] = []
    for _, _, name in sorted(matches):
        if name not in names:
            names.append(name)
    return tuple(names)


ROUTES = [
    Route(name="default", prefixes=("",)),
    Route(name="fr", prefixes=("+33",)),
    Route(name="fr_mobile", prefixes=("+336", "+337")),
    Route(name="fr_mobile_b", prefixes=("+336",)),
    Route(name="orange", prefixes=("+33612",)),
]


def test_longest_prefix_wins_then_config_order_then_default() -> None:
    router = Router(ROUTES)
    assert router.candidates("+33612345678") == (
        "orange", "fr_mobile", "fr_mobile_b", "fr", "default",
    )
    assert router.candidates("+33712345678") == ("fr_mobile", "fr", "default")
    assert router.candidates("+33112345678") == ("fr", "default")
    assert router.candidates("+447911123456") == ("default",)


def test_no_default_route_means_no_candidates() -> None:
    router = Router([Route(name="fr", prefixes=("+33",))])
    assert router.candidates("+447911123456") == ()
    assert router.candidates("+33612345678") == ("fr",)


def test_cached_answers_match_the_rule_for_random_numbers() -> None:
    rng = random.Random(7)
    router = Router(ROUTES)
    for _ in range(5000):
        number = "+3" + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 10)))
        assert router.candidates(number) == reference(ROUTES, number), number
        # Asked again (now from the cache): the same answer.
        assert router.candidates(number) == reference(ROUTES, number), number


def test_the_cache_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(dispatch, "ROUTE_CACHE", 10)
    router = Router(ROUTES)
    for n in range(100):
        number = f"+33{n:06d}{n:03d}"
        assert router.candidates(number) == reference(ROUTES, number)
        assert len(router._cache) <= 10
