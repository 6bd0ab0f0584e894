"""The frequency cap's counts on a real LMDB file: sliding windows per account and number."""

import pytest

from gateway.optout.frequency import FrequencyStore
from gateway.storage import open_env


@pytest.fixture
def store(tmp_path):
    env = open_env(tmp_path / "data", map_size=1 << 20)
    yield FrequencyStore(env)
    env.close()


def test_counts_per_account_and_number_in_the_window(store):
    a, b = "+33612345678", "+33612345679"
    with store.env.begin(write=True) as txn:
        store.record(txn, [("shop", a, 100.0, 1), ("shop", a, 200.0, 2), ("shop", a, 300.5, 3),
                           ("shop", b, 250.0, 4), ("other", a, 260.0, 5)])
    with store.env.begin() as txn:
        assert store.counts(txn, [("shop", a)], [0.0]) == [3]
        assert store.counts(txn, [("shop", a)], [200.0]) == [2]  # at or after
        assert store.counts(txn, [("shop", a)], [300.6]) == [0]
        assert store.counts(txn, [("shop", b), ("other", a), ("nobody", a)], [0, 0, 0]) == [1, 1, 0]


def test_two_messages_in_the_same_instant_count_twice_and_prune_drops_old_rows(store):
    a = "+33612345678"
    with store.env.begin(write=True) as txn:
        store.record(txn, [("shop", a, 10.0, 1), ("shop", a, 10.0, 2), ("shop", a, 20.0, 3),
                           ("shop", "+33612345679", 5.0, 4), ("x", a, 50.0, 5)])
    with store.env.begin() as txn:
        assert store.counts(txn, [("shop", a)], [0]) == [3]
    with store.env.begin(write=True) as txn:
        assert store.prune(txn, before=15.0) == 3
    with store.env.begin() as txn:
        assert store.counts(txn, [("shop", a), ("x", a)], [0, 0]) == [1, 1]
        assert store.counts(txn, [("shop", "+33612345679")], [0]) == [0]
