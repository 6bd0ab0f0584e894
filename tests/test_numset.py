"""The compiled NumberSet against the pure-Python oracle (tests/numset_oracle.py)."""

import sys
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway._core import NumberSet, _numset
from tests import numset_oracle

# Few distinct values, so that adds, removes and probe runs collide often.
small_numbers = st.integers(min_value=10, max_value=10_000)
numbers = st.one_of(small_numbers, st.integers(min_value=10, max_value=10**15 - 1))
as_input = numbers.flatmap(lambda n: st.sampled_from([n, f"+{n}"]))
ops = st.lists(st.tuples(st.sampled_from(["add", "discard", "contains"]), as_input),
               max_size=400)
tags = st.integers(min_value=0, max_value=_numset.MAX_TAG)
keys_of = st.lists(numbers, max_size=40).map(
    lambda ns: [n.to_bytes(8, "big") + b"\x00\x00\x00\x01" for n in ns])
tag_ops = st.lists(st.one_of(
    st.tuples(st.just("add"), as_input),
    st.tuples(st.just("discard"), as_input),
    st.tuples(st.just("set_tag"), as_input, tags),
    st.tuples(st.just("add_keys"), keys_of),
    st.tuples(st.just("mark_keys"), keys_of, st.binary(max_size=8)),
    st.tuples(st.just("tag_keys"), keys_of, tags, st.booleans()),
    st.tuples(st.just("load"), st.lists(st.tuples(numbers, st.sampled_from([b"a", b"b"])),
                                        max_size=40)),
), max_size=60)


def _intern(run):
    """A tag that depends only on the run (the compiled load calls it less often)."""
    return sum(suffix[-1] * 7 + value[0] for suffix, value in run) % (_numset.MAX_TAG + 1)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_operations_match_the_oracle(seq):
    c, o = NumberSet(), numset_oracle.NumberSet()
    for op, n in seq:
        if op == "contains":
            assert (n in c) == (n in o)
        else:
            assert getattr(c, op)(n) == getattr(o, op)(n)
        assert len(c) == len(o)
    assert sorted(c) == sorted(o)
    probe = [n for _, n in seq] + [10, 10**15 - 1]
    assert c.find(probe) == o.find(probe)
    assert c.find_keys(probe, b"\x00\x00\x00\x07") == o.find_keys(probe, b"\x00\x00\x00\x07")


@settings(max_examples=300, deadline=None)
@given(tag_ops, st.lists(as_input, max_size=30))
def test_tags_match_the_oracle(seq, probe):
    c, o = NumberSet(), numset_oracle.NumberSet()
    for op, *args in seq:
        if op == "tag_keys":
            keys, tag, use_marks = args
            marks = c.mark_keys(keys) if use_marks else None
            assert marks == (o.mark_keys(keys) if use_marks else None)
            assert c.tag_keys(keys, tag, marks) == o.tag_keys(keys, tag, marks)
        elif op == "mark_keys":
            keys, keep = args
            assert c.mark_keys(keys, keep) == o.mark_keys(keys, keep)
        elif op == "load":
            items = [(n.to_bytes(8, "big") + b"\x00\x00\x00" + bytes([n % 3]), v)
                     for n, v in args[0]]
            assert c.load(iter(items), _intern) == o.load(items, _intern)
        else:
            assert getattr(c, op)(*args) == getattr(o, op)(*args)
        assert sorted(c.items()) == sorted(o.items())
    assert len(c) == len(o)
    probe = probe + [n for n, _ in c.items()][:30]
    assert c.find_tagged(probe) == o.find_tagged(probe)
    assert [c.tag_of(n) for n in probe] == [o.tag_of(n) for n in probe]
    calls_c, calls_o = [], []
    out_c, out_o = ["x"] * len(probe), ["x"] * len(probe)
    got = c.answer(probe, lambda t: calls_c.append(t) or _row_of(t), out_c, Row)
    assert got == o.answer(probe, lambda t: calls_o.append(t) or _row_of(t), out_o, Row)
    assert out_c == out_o and all(type(r) is Row for r in out_c if r != "x")
    assert sorted(calls_c) == sorted(calls_o) == sorted(set(calls_c))  # once per tag


class Row(NamedTuple):
    number: object
    tag: int
    half: str


def _row_of(tag):
    return None if tag % 3 == 0 else (tag, "odd" if tag % 2 else "even")


def test_answer_builds_rows_without_leaking():
    s = NumberSet()
    s.add_all(range(10, 1010))
    for n in range(10, 1010):
        s.set_tag(n, n % 4)  # 0: untagged, 1-3: tagged
    numbers = [*range(10, 1010), 5000]
    text = "a template string"
    row = (text,)
    before = sys.getrefcount(text)
    for _ in range(200):
        out = [None] * len(numbers)
        untagged, keys = s.answer(numbers, lambda t: row if t != 2 else None, out)
    assert untagged == [i for i, n in enumerate(numbers) if n % 4 == 0 and n < 5000]
    assert keys == [numbers[i].to_bytes(8, "big") for i in untagged]
    assert out[1] == (11, text) and type(out[1]) is tuple and out[2] is None
    live = sum(1 for r in out if r is not None)
    assert sys.getrefcount(text) == before + live
    del out
    assert sys.getrefcount(text) == before
    with pytest.raises(TypeError, match="NamedTuple"):
        s.answer(numbers, lambda t: row, [None] * len(numbers), list)
    with pytest.raises(TypeError, match="tuple or None"):
        s.answer(numbers, lambda t: [1], [None] * len(numbers))
    with pytest.raises(ValueError, match="out has"):
        s.answer(numbers, lambda t: row, [])


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(small_numbers, tags, max_size=3000), st.data())
def test_tags_survive_growth_and_backward_shift(tagged, data):
    s = NumberSet()
    for n, t in tagged.items():
        s.add(n)
        assert s.set_tag(n, t)
    gone = data.draw(st.sets(st.sampled_from(sorted(tagged)), max_size=len(tagged))
                     if tagged else st.just(set()))
    for n in gone:
        assert s.discard(n)
    assert dict(s.items()) == {n: t for n, t in tagged.items() if n not in gone}
    assert sorted(s) == sorted(set(tagged) - gone)


def test_tags_share_the_slot_with_the_largest_numbers():
    top = 10**15 - 1
    s = NumberSet()
    s.add(top)
    s.add(10)
    assert s.set_tag(top, _numset.MAX_TAG) and s.set_tag(10, 1)
    assert list(sorted(s)) == [10, top] and f"+{top}" in s
    assert s.find_tagged([f"+{top}", "+10", "+11"]) == ([0, 1], [_numset.MAX_TAG, 1], [], [])
    assert s.add(top) is False and s.tag_of(top) == 0  # adding again untags
    assert s.find_tagged([f"+{top}"]) == ([], [], [0], [top.to_bytes(8, "big")])
    assert s.set_tag("+12", 3) is False and "+12" not in s and s.tag_of("+12") is None
    for bad in (-1, _numset.MAX_TAG + 1):
        with pytest.raises(ValueError, match="tag"):
            s.set_tag(10, bad)
        with pytest.raises(ValueError, match="tag"):
            s.tag_keys([(10).to_bytes(8, "big")], bad)
    assert 1 << _numset.NUMBER_BITS >= 10**15 and s.nbytes == 8 * s.capacity


def test_mark_then_tag_keys_tags_only_the_new_numbers():
    k = [n.to_bytes(8, "big") + b"\x00\x00\x00\x00" for n in (33600000001, 33600000002,
                                                                33600000003, 33600000001)]
    s = NumberSet()
    s.add(33600000002)
    s.add(33600000003)
    s.set_tag(33600000002, 4)
    s.set_tag(33600000003, 5)
    keep = bytes([0, 0, 0, 0, 1])  # keep tag 4, not 5
    marks = s.mark_keys(k, keep)
    assert marks == bytearray([1, 2, 0, 0])  # the repeat of a new number is 0
    assert dict(s.items()) == {33600000001: 0, 33600000002: 4, 33600000003: 0}
    assert s.tag_keys(k, 9, marks) == 1
    assert dict(s.items()) == {33600000001: 9, 33600000002: 4, 33600000003: 0}
    with pytest.raises(ValueError, match="marks"):
        s.tag_keys(k, 9, marks[:2])
    assert s.tag_keys([(33600000009).to_bytes(8, "big")], 9) == 0 and len(s) == 3


def test_load_tags_each_number_by_its_run_of_entries():
    def key(n, sid):
        return n.to_bytes(8, "big") + sid.to_bytes(4, "big")

    g, a = b"\x00\x00\x00\x00", b"\x00\x00\x00\x05"
    calls = []

    def intern(run):
        calls.append(run)
        return {((g, b"import"),): 2, ((a, b"stop"),): 3,
                ((g, b"import"), (a, b"stop")): 4}.get(run, 0)

    items = [(key(33600000001, 0), b"import"),
             (key(33600000002, 0), b"import"), (key(33600000002, 5), b"stop"),
             (key(33600000003, 0), b"import"),
             (key(33600000004, 5), b"stop"),
             (key(33600000005, 5), b"stop"),
             (key(33600000006, 0), b"import"), (key(33600000007, 0), b"import"),
             (key(33600000006, 5), b"stop")]  # 6 again, in a second run
    s = NumberSet()
    s.add(33600000005)  # already there: loaded untagged
    assert s.load(iter(items), intern) == 6
    assert dict(s.items()) == {33600000001: 2, 33600000002: 4, 33600000003: 2,
                               33600000004: 3, 33600000005: 0, 33600000006: 0,
                               33600000007: 2}
    # A one-pair run equal to the last one-pair run interned is not interned again.
    assert calls == [((g, b"import"),), ((g, b"import"), (a, b"stop")), ((a, b"stop"),),
                     ((g, b"import"),)]
    o = numset_oracle.NumberSet()
    o.add(33600000005)
    assert o.load(items, intern) == 6 and sorted(o.items()) == sorted(s.items())
    with pytest.raises(ValueError, match="tag"):
        NumberSet().load([(key(33600000001, 0), b"x")], lambda run: -1)


def test_keys_must_hold_a_number():
    for bad in ((0).to_bytes(8, "big"), (10**15).to_bytes(8, "big"), b"\xff" * 12):
        with pytest.raises(ValueError, match=r"E\.164"):
            NumberSet().add_keys([bad])
        with pytest.raises(ValueError, match=r"E\.164"):
            numset_oracle.NumberSet().add_keys([bad])
        with pytest.raises(ValueError, match=r"E\.164"):
            NumberSet().load([(bad, b"")], _intern)


@settings(max_examples=50, deadline=None)
@given(st.sets(small_numbers, max_size=3000), st.data())
def test_backward_shift_deletion_keeps_every_other_member(members, data):
    s = NumberSet()
    s.add_all(members)
    gone = data.draw(st.sets(st.sampled_from(sorted(members)), max_size=len(members))
                     if members else st.just(set()))
    for n in gone:
        assert s.discard(n)
    assert sorted(s) == sorted(members - gone)
    assert all(n in s for n in members - gone) and not any(n in s for n in gone)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20) | st.from_regex(r"\+[0-9]{0,17}", fullmatch=True))
def test_parsing_matches_the_oracle(text):
    try:
        expected = numset_oracle.key(text)
    except ValueError as exc:
        with pytest.raises(ValueError) as info:
            NumberSet().add(text)
        assert str(info.value) == str(exc)
    else:
        s = NumberSet()
        assert s.add(text) and expected in s and list(s) == [expected]


@pytest.mark.parametrize("bad", [9, 10**15, -1, 0])
def test_out_of_range_ints(bad):
    with pytest.raises(ValueError):
        NumberSet().add(bad)


@pytest.mark.parametrize("bad", [None, 3.5, b"+336", True])
def test_wrong_types(bad):
    with pytest.raises(TypeError):
        NumberSet().add(bad)


def test_add_keys_reads_the_packed_head_of_lmdb_keys():
    keys = [(33612345678).to_bytes(8, "big") + b"\x00\x00\x00\x00",
            (33612345678).to_bytes(8, "big") + b"\x00\x00\x00\x03",
            memoryview((33700000001).to_bytes(8, "big"))]
    s, o = NumberSet(), numset_oracle.NumberSet()
    assert s.add_keys(iter(keys)) == o.add_keys(keys) == 2
    assert sorted(s) == [33612345678, 33700000001]
    with pytest.raises(ValueError):
        s.add_keys([b"short"])


def test_find_checks_every_item_and_keeps_order():
    s = NumberSet()
    s.add("+33612345678")
    assert s.find(["+33612345678", "+33612345679", 33612345678, "+33612345678"]) == [0, 2, 3]
    assert s.find(("+33612345679",)) == []
    with pytest.raises(ValueError, match=r"E\.164"):
        s.find(["+33612345679", "06 12 34 56 78"])
    with pytest.raises(ValueError):
        s.find_keys(["+33612345678"], b"x" * 65)


def test_memory_and_growth():
    s = NumberSet(10_000_000)
    assert s.capacity == 1 << 24 and s.nbytes / 10_000_000 < 16  # 13.4 B/number
    s.clear()
    assert len(s) == 0 and s.capacity == 0 and "+33612345678" not in s
    s = NumberSet()
    s.add_all(range(10, 10_010))
    assert len(s) == 10_000 and s.capacity == 16_384 and len(s) <= s.capacity * _numset.MAX_LOAD
    s.reserve(100)  # never shrinks
    assert s.capacity == 16_384
    with pytest.raises(ValueError):
        NumberSet(-1)
    assert repr(s) == "NumberSet(10000 numbers, 16384 slots)"
