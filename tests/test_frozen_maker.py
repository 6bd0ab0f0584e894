"""The compiled maker of frozen dataclasses (gateway.frozen over gateway/_core/_slots.pyx):
equal objects of the same type as the class's own constructor, the same errors, no leaks."""

from __future__ import annotations

import dataclasses
import gc
import sys
from typing import ClassVar

import pytest

from gateway.api.protocol import SubmitRequest
from gateway.frozen import maker
from gateway.smpp.client import Outcome, SubmitOutcome
from gateway.smpp.events import RequestReceived, ResponseReceived


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    kind: ClassVar[str] = "sample"
    a: int
    b: str = "b"
    c: object = None


CASES = [
    (SubmitRequest, {"seq": 1, "account": "demo", "to": "+33612345678", "from_": "DEMO",
                     "text": "Bonjour"}),
    (SubmitRequest, {"seq": 7, "account": "demo", "to": "+33612345678", "from_": "DEMO",
                     "text": "Promo", "class_": "marketing", "ref": "r-1", "send_at": 1.5e9,
                     "validity": 3600, "transliterate": True, "priority": 9}),
    (SubmitOutcome, {"tag": ("m", 0, 1), "outcome": Outcome.ACCEPTED, "command_status": 0,
                     "message_id": "A1", "attempts": 1, "operator": "sim"}),
    (SubmitOutcome, {"tag": None, "outcome": Outcome.FAILED}),
    (ResponseReceived, {"pdu": object(), "request": object()}),
    (RequestReceived, {"pdu": object()}),
    (Sample, {"a": 1}),
    (Sample, {"c": [1], "a": 2, "b": "x"}),
]


@pytest.mark.parametrize(("cls", "fields"), CASES)
def test_the_maker_makes_what_the_class_makes(cls, fields) -> None:
    made = maker(cls)(**fields)
    expected = cls(**fields)
    assert type(made) is cls
    assert made == expected
    for f in dataclasses.fields(cls):
        assert getattr(made, f.name) is getattr(expected, f.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.__setattr__(dataclasses.fields(cls)[0].name, 0)
    assert repr(made) == repr(expected)


def test_the_same_errors_as_the_constructor() -> None:
    make = maker(Sample)
    with pytest.raises(TypeError, match="missing required keyword argument 'a'"):
        make(b="x")
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        make(a=1, z=2)
    with pytest.raises(TypeError, match="keyword arguments only"):
        make(1)


def test_classes_a_maker_cannot_serve_are_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Factory:
        a: list = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Post:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Positional:
        a: int

    for cls in (NoSlots, Factory, Post, Positional):
        with pytest.raises(TypeError):
            maker(cls)


def test_no_reference_is_leaked_or_lost() -> None:
    make = maker(Sample)
    value = object()
    default = Sample.__dataclass_fields__["b"].default
    before = sys.getrefcount(value), sys.getrefcount(default)
    made = [make(a=1, c=value) for _ in range(1000)]
    assert sys.getrefcount(value) == before[0] + 1000
    del made
    gc.collect()
    assert (sys.getrefcount(value), sys.getrefcount(default)) == before
    # A failed make (missing field) frees what it had stored.
    for _ in range(1000):
        with pytest.raises(TypeError):
            make(c=value)
    assert sys.getrefcount(value) == before[0]
