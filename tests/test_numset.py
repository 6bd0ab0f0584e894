"""The compiled NumberSet against the pure-Python oracle (tests/numset_oracle.py)."""

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
