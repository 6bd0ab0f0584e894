"""The LMDB opt-out store on real LMDB files in tmp_path."""

import io
import random

import lmdb
import pytest

from gateway.optout.store import (
    MAX_INVALID_LISTED,
    RELOAD_QUIET_S,
    Entry,
    OptoutStore,
    open_env,
    parse_scope,
)

A, B, C = "+33612345678", "+33612345679", "+33612345600"
ALL = ["account:shop-1", "network:chain", "global"]


@pytest.fixture
def env(tmp_path):
    e = open_env(tmp_path / "db", map_size=1 << 24)
    yield e
    e.close()


@pytest.fixture
def store(env):
    return OptoutStore(env)


def test_scope_precedence_global_network_account(store):
    assert store.add_many([
        (A, "account:shop-1", "stop_reply", "shop-1", 100),
        (A, "network:chain", "stop_reply", "shop-2", 110),
        (B, "account:shop-1", "api", "shop-1", 120),
    ]) == 3
    hits = store.check_many([A, B, "+33611111111"], ALL, now=200)
    assert [h.scope if h else None for h in hits] == ["network:chain", "account:shop-1", None]
    assert hits[0] == Entry(A, "network:chain", "stop_reply", "shop-2", 110, None)
    store.add(A, "global", "api", source="admin", at=130)
    assert store.check(A, ALL, 200).scope == "global"
    # Scopes not asked for do not block; unknown scopes are simply empty.
    assert store.check(A, ["account:other"], 200) is None
    assert store.check(B, ["network:chain", "account:nobody"], 200) is None


def test_expiry(store):
    store.add(A, "global", "failed_number", source="op1", at=100, until=1000)
    assert store.check(A, ["global"], 999).reason == "failed_number"
    assert store.check(A, ["global"], 1000) is not None  # until is inclusive
    assert store.check(A, ["global"], 1001) is None
    # An expired exclusion re-added counts as new; a permanent one replaces an expiring one.
    assert store.add(A, "global", "failed_number", source="op1", at=2000, until=3000)
    assert not store.add(A, "global", "stop_reply", source="shop", at=2500)
    assert store.check(A, ["global"], 10**9).reason == "stop_reply"
    # ...and a later expiring one does not weaken a permanent one.
    assert not store.add(A, "global", "failed_number", source="op1", at=2600, until=2700)
    assert store.check(A, ["global"], 10**9).until is None


def test_add_many_counts_new_and_validates_first(store):
    assert store.add_many([(A, "global", "api", "x", 1), (A, "global", "api", "x", 2)]) == 1
    assert store.add_many([(A, "global", "api", "x", 3)]) == 0
    with pytest.raises(ValueError):
        store.add_many([(B, "global", "api", "x", 1), ("0612", "global", "api", "x", 1)])
    with pytest.raises(ValueError):
        store.add_many([(B, "galaxy", "api", "x", 1)])
    with pytest.raises(ValueError):
        store.add_many([(B, "global", "because", "x", 1)])
    assert store.check(B, ["global"], 0) is None  # nothing of the bad batches was written
    assert store.add_many([]) == 0


def test_check_many_uses_one_read_transaction(store, env, monkeypatch):
    store.add_many([(f"+3361234{i:04d}", "global", "import", "f", 1) for i in range(0, 200, 2)])
    calls = []
    real_begin = env.begin

    class Spy:
        def begin(self, **kw):
            calls.append(kw)
            return real_begin(**kw)

        def __getattr__(self, name):
            return getattr(env, name)

    store._env = Spy()
    nums = [f"+3361234{i:04d}" for i in range(200)]
    hits = store.check_many(nums, ALL, 5)
    assert len(calls) == 1 and not calls[0].get("write")
    assert [h is not None for h in hits] == [i % 2 == 0 for i in range(200)]


def test_check_many_rejects_garbage_clearly(store):
    store.add(A, "global", "api", source="x", at=1)
    with pytest.raises(ValueError, match=r"E\.164"):
        store.check_many([A, "not a number"], ["global"], 0)


def test_removal_is_recorded(store):
    store.add(A, "global", "stop_reply", source="shop-1", at=100)
    store.add(A, "account:shop-1", "api", source="shop-1", at=101)
    assert store.remove(A, "global", by="cli:alice", at=200)
    assert not store.remove(A, "global", by="cli:alice", at=201)   # nothing left: no record
    assert not store.remove(B, "network:none", by="x", at=201)
    assert store.check(A, ALL, 300).scope == "account:shop-1"
    (h,) = list(store.history(A))
    assert (h.number, h.scope, h.action, h.by, h.at) == (A, "global", "remove", "cli:alice", 200)
    assert h.previous == Entry(A, "global", "stop_reply", "shop-1", 100, None)
    assert list(store.history()) == [h]
    assert list(store.history(B)) == []
    assert store.count_by_scope() == {"account:shop-1": 1}


def test_count_by_scope_matches_a_scan(store):
    rng = random.Random(3)
    rows = [(f"+336{rng.randrange(10**8):08d}", rng.choice(ALL), "import", "f", 1)
            for _ in range(3000)]
    store.add_many(rows)
    store.remove(rows[0][0], rows[0][1], by="t", at=2)
    scanned = {}
    for e in store.iter_entries():
        scanned[e.scope] = scanned.get(e.scope, 0) + 1
    assert store.count_by_scope() == scanned
    assert sum(1 for _ in store.iter_entries("network:chain")) == scanned["network:chain"]
    assert list(store.iter_entries("account:none")) == []


def test_iter_entries_pages_without_holding_a_txn(store, env):
    store.add_many([(f"+3361234{i:04d}", "global", "import", "f", 1) for i in range(250)])
    it = store.iter_entries(page=100)
    first = [next(it) for _ in range(100)]
    # Between pages no read transaction is open: a writer (and set_mapsize) may run.
    store.add("+33699999999", "global", "api", source="x", at=2)
    env.set_mapsize(env.info()["map_size"] * 2)
    rest = list(it)
    numbers = [e.number for e in first + rest]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers) == 251


def test_import_malformed_csv_reports_lines(store, tmp_path):
    path = tmp_path / "list.csv"
    lines = [
        "numero;nom",                 # 1 header
        "06 12 34 56 78;Dupont",      # 2 ok
        "",                           # 3 blank
        "+33612345679",               # 4 ok (fast path)
        "hello",                      # 5 invalid
        "01 23 45 67 89",             # 6 fixed line
        '"0033 7 81 23 45 67",x',     # 7 ok, quoted
        "+33612345678",               # 8 duplicate of line 2
        "# comment",                  # 9 skipped
        "06 12",                      # 10 invalid
        "x" * 5000,                   # 11 too long
        "+33612345670\r",             # 12 ok, CRLF
        "\x00\xff garbage",           # 13 invalid
        "+33712345678",               # 14 invalid (7 + 1..)
    ]
    path.write_bytes(("\n".join(lines)).encode("utf-8", "surrogateescape"))
    seen = []
    report = store.import_csv(path, "network:chain", "import", "list.csv", at=5,
                              batch=2, progress=lambda r: seen.append(r.imported))
    assert report.header
    assert report.lines == 14
    assert report.imported == 4 and report.duplicates == 1
    assert [(n, reason) for n, _, reason in report.invalid] == [
        (5, "not_a_number"), (6, "not_mobile"), (10, "invalid"), (11, "too_long"),
        (13, "not_a_number"), (14, "invalid")]
    assert report.invalid_count == 6 and report.blank == 2
    assert seen == sorted(seen) and seen[-1] == 4 and len(seen) >= 2
    assert store.check("+33781234567", ["network:chain"], 0).source == "list.csv"
    assert store.count_by_scope() == {"network:chain": 4}


def test_import_caps_the_invalid_list_not_the_counts(store, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(["nope"] * (MAX_INVALID_LISTED + 50) + ["+33612345678"]))
    report = store.import_csv(path, "global", batch=10)
    assert report.invalid_count == MAX_INVALID_LISTED + 50
    assert len(report.invalid) == MAX_INVALID_LISTED
    assert report.imported == 1 and report.invalid[0][0] == 1  # line 1 is not a header word


def test_import_file_without_newlines_is_bounded(store, tmp_path):
    path = tmp_path / "one-line.csv"
    path.write_bytes(b"+33612345678" * 300_000)  # 3.6 MB, no newline
    report = store.import_csv(path, "global")
    assert report.invalid == [(1, "(line too long)", "too_long")] and report.imported == 0


def test_export_round_trip(store, tmp_path, env):
    store.add_many([(A, "global", "stop_reply", "shop, with comma", 10),
                    (B, "account:shop-1", "failed_number", "op", 11, 99),
                    (C, "global", "api", "x", 12)])
    buf = io.StringIO()
    assert store.export_csv(buf) == 3
    text = buf.getvalue().splitlines()
    assert text[0] == "number,scope,reason,source,at,until"
    assert '"shop, with comma"' in buf.getvalue()
    path = tmp_path / "global.csv"
    assert store.export_csv(path, scope="global") == 2
    other = OptoutStore(open_env(tmp_path / "other"))
    report = other.import_csv(path, "global", "import", "restore", at=20)
    assert report.header and report.imported == 2 and report.invalid_count == 0
    assert {e.number for e in other.iter_entries()} == {A, C}
    assert {e.reason for e in other.iter_entries()} == {"import"}


def test_map_growth_from_a_tiny_map(tmp_path):
    env = open_env(tmp_path / "tiny", map_size=64 * 1024)
    store = OptoutStore(env)
    rng = random.Random(9)
    rows = [(f"+336{rng.randrange(10**8):08d}", "global", "import", "f", 1) for _ in range(20_000)]
    new = store.add_many(rows)
    assert new == len({r[0] for r in rows})
    assert env.info()["map_size"] > 64 * 1024
    assert store.check(rows[-1][0], ["global"], 0) is not None
    path = tmp_path / "more.csv"
    path.write_text("\n".join(f"+337{rng.randrange(30, 100) * 10**6 + i:08d}"
                              for i in range(20_000)))
    assert store.import_csv(path, "global", batch=5000).imported == 20_000
    assert store.count_by_scope() == {"global": new + 20_000}
    env.close()


def test_env_needs_named_dbs(tmp_path):
    env = lmdb.open(str(tmp_path / "nodbs"), max_dbs=1)
    with pytest.raises(ValueError, match="max_dbs"):
        OptoutStore(env)
    env.close()


def test_store_reopens_with_its_scope_ids(tmp_path):
    env = open_env(tmp_path / "r")
    OptoutStore(env).add_many([(A, "network:chain", "api", "x", 1),
                               (B, "account:a", "api", "x", 1)])
    env.close()
    env = open_env(tmp_path / "r")
    store = OptoutStore(env)
    store.add(C, "account:b", "api", source="x", at=1)
    assert store.check(A, ["network:chain"], 0).scope == "network:chain"
    assert sorted(store.count_by_scope()) == ["account:a", "account:b", "network:chain"]
    env.close()


@pytest.mark.parametrize("bad", ["", "Global", "network:", "account", "team:x", "account: x"])
def test_parse_scope_rejects(bad):
    with pytest.raises(ValueError):
        parse_scope(bad)


# ---- the membership filter, staleness and reload ---------------------------------------------

def _exact(store, numbers, scopes, now):
    """check_many with the filter out of the way: every number looked up in LMDB."""
    store._gen = b"forced-stale"
    try:
        return store.check_many(numbers, scopes, now)
    finally:
        store.reload()


def test_filter_follows_adds_removes_and_imports(store, tmp_path):
    rng = random.Random(11)
    pool = [f"+336{rng.randrange(10**8):08d}" for _ in range(300)]
    for step in range(200):
        n = rng.choice(pool)
        if rng.random() < 0.6:
            store.add(n, rng.choice(ALL), "api", source="t", at=step,
                      until=rng.choice([None, step + 5]))
        else:
            store.remove(n, rng.choice(ALL), by="t", at=step)
    path = tmp_path / "more.csv"
    path.write_text("\n".join(pool[:50] + [f"+337{i:08d}" for i in range(40_000_000, 40_000_100)]))
    store.import_csv(path, "global", batch=30)
    assert not store.is_stale()
    probe = pool + [f"+337{i:08d}" for i in range(40_000_090, 40_000_110)]
    for now in (0, 100, 10**9):
        assert store.check_many(probe, ALL, now) == _exact(store, probe, ALL, now)
    # Every number with an entry is in the filter; a removed-for-good number is not.
    with_entries = {e.number for e in store.iter_entries()}
    assert with_entries <= {f"+{n}" for n in store._filter}
    for n in with_entries:
        for scope in ALL:
            store.remove(n, scope, by="t", at=1)
    assert len(store._filter) == 0 and store.check_many(probe, ALL, 0) == [None] * len(probe)


def test_a_second_instance_sees_writes_at_once_and_reloads_when_quiet(env):
    daemon, cli = OptoutStore(env), OptoutStore(env)
    assert daemon.check(A, ["global"], 100) is None
    cli.add(A, "global", "import", source="cli", at=1)
    assert daemon.is_stale() and not cli.is_stale()
    # Stale: exact from LMDB at once (the next batch sees the other writer's entry)...
    assert daemon.check(A, ["global"], 100).source == "cli"
    # ...and the filter is rebuilt once the writer has been quiet for RELOAD_QUIET_S.
    assert daemon.check(A, ["global"], 100 + RELOAD_QUIET_S - 0.5) is not None
    assert daemon.is_stale()
    assert daemon.check(B, ["global"], 100 + RELOAD_QUIET_S + 0.5) is None
    assert not daemon.is_stale() and A in daemon._filter
    # A removal elsewhere: the stale filter still has A, LMDB says no.
    cli.remove(A, "global", by="cli", at=2)
    assert daemon.check(A, ["global"], 200) is None
    manual = OptoutStore(env, auto_reload=False)
    cli.add(B, "network:chain", "api", source="cli", at=3)
    for now in (300, 400, 500):
        assert manual.check(B, ALL, now).scope == "network:chain"
    assert manual.is_stale()
    manual.reload()
    assert not manual.is_stale() and manual.check(B, ALL, 600).scope == "network:chain"


def test_another_process_importing_is_seen(env, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    daemon = OptoutStore(env)
    path = tmp_path / "cli.csv"
    path.write_text("+33612345678\n+33612345679\n")
    script = ("import sys; from gateway.optout.store import OptoutStore, open_env; "
              "s = OptoutStore(open_env(sys.argv[1], map_size=1 << 24)); "
              "print(s.import_csv(sys.argv[2], 'global').imported)")
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "db"), str(path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "2"
    assert [h is not None for h in daemon.check_many([A, B, C], ALL, 0)] == [True, True, False]
    daemon.reload()
    assert not daemon.is_stale()
    assert [h is not None for h in daemon.check_many([A, B, C], ALL, 0)] == [True, True, False]


def test_writes_in_a_callers_txn(store, env):
    with env.begin(write=True) as txn:
        store.add(A, "global", "api", source="x", at=1, txn=txn)
        store.add(B, "global", "api", source="x", at=1, txn=txn)
    assert store.check_many([A, B], ["global"], 0)[1].number == B
    assert not store.is_stale()  # the committed generation was the expected one
    txn = env.begin(write=True)
    store.add(C, "global", "api", source="x", at=1, txn=txn)
    txn.abort()
    assert store.check(C, ["global"], 0) is None and not store.is_stale()
    with env.begin(write=True) as txn:
        store.remove(A, "global", by="x", at=2, txn=txn)
    assert store.check(A, ["global"], 0) is None and store.check(B, ["global"], 0) is not None


def test_import_is_idempotent_and_resumes_after_an_interruption(store, tmp_path):
    path = tmp_path / "big.csv"
    numbers = [f"+337{i:08d}" for i in range(40_000_000, 40_001_000)]
    path.write_text("numero\n" + "\n".join([*numbers, "oops"]) + "\n")

    class Interrupted(Exception):
        pass

    def stop_after_two(report):
        if report.imported >= 200:
            raise Interrupted

    with pytest.raises(Interrupted):
        store.import_csv(path, "global", batch=100, progress=stop_after_two)
    assert store.count_by_scope() == {"global": 200}  # the committed batches, no more
    again = store.import_csv(path, "global", batch=100)
    assert (again.imported, again.duplicates, again.invalid_count) == (800, 200, 1)
    assert again.invalid == [(1002, "oops", "not_a_number")]
    third = store.import_csv(path, "global", batch=100)
    assert (third.imported, third.duplicates) == (0, 1000)
    assert store.count_by_scope() == {"global": 1000}
    assert all(h is not None for h in store.check_many(numbers, ALL, 0))
    fresh = OptoutStore(store._env)
    assert len(fresh._filter) == 1000 and fresh.check_many(numbers, ALL, 0) == \
        store.check_many(numbers, ALL, 0)


# ---- tags: numbers with one known entry, answered without LMDB --------------------------------

def _tag(store, number):
    return store._filter.tag_of(number)


def _entries_of(store, number):
    """The entries a number's tag stands for, as (scope, reason, source, at, until)."""
    return store._tags.entries[_tag(store, number)]


def _no_lmdb_reads(store, monkeypatch):
    """Record the numbers check_many looks up in LMDB."""
    looked: list[str] = []
    real = store._lookup

    def spy(txn, numbers, *, positions, **kw):
        looked.extend(numbers[i] for i in positions)
        return real(txn, numbers, positions=positions, **kw)

    monkeypatch.setattr(store, "_lookup", spy)
    return looked


def _import(store, tmp_path, numbers, *, scope="global", at=5, name="list.csv", **kw):
    path = tmp_path / name
    path.write_text("\n".join(numbers) + "\n")
    return store.import_csv(path, scope, "import", "bench", at=at, **kw)


def test_an_import_tags_its_numbers_and_hits_read_no_lmdb(store, tmp_path, monkeypatch):
    numbers = [f"+337{i:08d}" for i in range(40_000_000, 40_000_500)]
    store.add(numbers[0], "account:shop-1", "stop_reply", source="shop-1", at=1)
    _import(store, tmp_path, numbers, batch=200)
    tags = {_tag(store, n) for n in numbers[1:]}
    assert len(tags) == 1 and tags != {0}  # one shared tag
    assert _tag(store, numbers[0]) == 0     # two entries: read from LMDB
    looked = _no_lmdb_reads(store, monkeypatch)
    probe = [*numbers, "+33612000000"]
    hits = store.check_many(probe, ALL, 10)
    assert looked == [numbers[0]]
    assert hits[1] == Entry(numbers[1], "global", "import", "bench", 5, None)
    assert hits[0].scope == "global" and hits[-1] is None
    assert store.check_many(probe, ["account:shop-1"], 10) == (
        [Entry(numbers[0], "account:shop-1", "stop_reply", "shop-1", 1, None)]
        + [None] * len(numbers))
    assert store.check_many(probe, ALL, 10) == _exact(store, probe, ALL, 10)


def test_reload_tags_numbers_by_their_entries(store, env, monkeypatch):
    store.add_many([(A, "global", "import", "f", 1), (B, "global", "import", "f", 1),
                    (B, "account:shop-1", "api", "x", 2), (C, "network:chain", "api", "y", 3),
                    ("+33612345601", "global", "import", "f", 1),
                    ("+33612345601", "account:shop-1", "api", "x", 2)])
    fresh = OptoutStore(env)
    assert len({_tag(fresh, n) for n in (A, B, C)}) == 3 and _tag(fresh, A)
    assert _tag(fresh, B) == _tag(fresh, "+33612345601")  # the same entries, one tag
    assert _entries_of(fresh, B) == (("global", "import", "f", 1, None),
                                     ("account:shop-1", "api", "x", 2, None))
    looked = _no_lmdb_reads(fresh, monkeypatch)
    assert [h and h.scope for h in fresh.check_many([A, B, C], ALL, 5)] == [
        "global", "global", "network:chain"]
    assert [h and h.scope for h in fresh.check_many([A, B, C], ["account:shop-1"], 5)] == [
        None, "account:shop-1", None]
    assert fresh.check(B, ["account:shop-1", "account:other", "network:chain"], 5) == Entry(
        B, "account:shop-1", "api", "x", 2, None)
    assert looked == []


def test_reload_across_chunks_untags_a_number_split_by_a_chunk(env, monkeypatch):
    import gateway.optout.store as store_mod

    writer = OptoutStore(env)
    scopes = ["global", "network:chain", "account:shop-1"]  # key order: scope ids 0, 1, 2
    rows = [(f"+3361234{i:04d}", sc, "api", "x", i) for i in range(50)
            for sc in scopes[:1 + i % 3]]
    writer.add_many(rows)
    monkeypatch.setattr(store_mod, "LOAD_CHUNK", 7)  # numbers' entries split across chunks
    fresh = OptoutStore(env)
    chunk_of: dict[str, set[int]] = {}
    for position, (number, *_) in enumerate(rows):  # rows are in key order
        chunk_of.setdefault(number, set()).add(position // 7)
    split = {n for n, chunks in chunk_of.items() if len(chunks) > 1}
    assert split and all((_tag(fresh, n) == 0) == (n in split) for n in chunk_of)
    probe = [f"+3361234{i:04d}" for i in range(60)]
    for asked in (ALL, ["global"], ["account:shop-1"], ["network:chain"]):
        assert fresh.check_many(probe, asked, 100) == _exact(fresh, probe, asked, 100)


def test_an_aborted_write_leaves_an_untagged_candidate(store, env, tmp_path):
    _import(store, tmp_path, [A, B])
    txn = env.begin(write=True)
    store.add(A, "account:shop-1", "api", source="x", at=1, txn=txn)
    store.add(C, "global", "api", source="x", at=1, txn=txn)
    txn.abort()
    assert _tag(store, A) == 0 and _tag(store, C) == 0 and _tag(store, B)
    assert store.check(A, ["global"], 0).reason == "import"
    assert store.check(A, ["account:shop-1"], 0) is None and store.check(C, ALL, 0) is None
    # An own write that fails after changing the filter: nothing tagged, nothing committed.

    def boom(*args, **kw):
        raise RuntimeError("disk on fire")

    real, store._put_one_value = store._put_one_value, boom
    with pytest.raises(RuntimeError):
        _import(store, tmp_path, ["+33612340001"], name="b.csv")
    store._put_one_value = real
    assert _tag(store, "+33612340001") == 0 and store.check("+33612340001", ALL, 0) is None


def test_writes_in_a_callers_txn_untag_and_never_tag(store, env, tmp_path):
    _import(store, tmp_path, [A, B])
    with env.begin(write=True) as txn:
        # A STOP reply for an imported number, in the outbox's transaction.
        assert store.add(A, "account:shop-1", "stop_reply", source="r", at=7, txn=txn)
        store.add(C, "network:chain", "stop_reply", source="r", at=7, txn=txn)
    assert not store.is_stale()
    assert _tag(store, A) == 0 and _tag(store, C) == 0
    # The tag said "global only": asking for the account scope alone must still block.
    assert store.check(A, ["account:shop-1"], 10).source == "r"
    assert store.check(A, ALL, 10).scope == "global"
    assert store.check(C, ["network:chain"], 10).at == 7
    with env.begin(write=True) as txn:
        assert store.remove(B, "global", by="r", at=8, txn=txn)
    assert B in store._filter and _tag(store, B) == 0 and store.check(B, ALL, 10) is None
    # A removal in a caller's txn that aborts: untagged before, still excluded after.
    txn = env.begin(write=True)
    assert store.remove(A, "global", by="r", at=9, txn=txn)
    txn.abort()
    assert store.check(A, ["global"], 10).reason == "import"


def test_own_removals_retag_or_discard(store, tmp_path):
    _import(store, tmp_path, [A, B])
    store.add(A, "network:chain", "api", source="x", at=3)
    assert _entries_of(store, A) == (("global", "import", "bench", 5, None),
                                     ("network:chain", "api", "x", 3, None))
    assert store.remove(A, "global", by="t", at=4)
    # One entry left, read back in the removal's txn: tagged with it.
    assert _entries_of(store, A) == (("network:chain", "api", "x", 3, None),)
    assert store.check(A, ["global"], 5) is None
    assert store.check(A, ALL, 5) == Entry(A, "network:chain", "api", "x", 3, None)
    assert store.remove(B, "global", by="t", at=4)
    assert B not in store._filter and store.check(B, ALL, 5) is None
    assert store.check_many([A, B, C], ALL, 5) == _exact(store, [A, B, C], ALL, 5)


def test_own_adds_tag_what_they_read_back(store):
    store.add_many([(A, "global", "api", "x", 1), (B, "global", "api", "x", 1),
                    (B, "network:chain", "api", "y", 2), (C, "account:new", "api", "z", 3)])
    assert _entries_of(store, A) == (("global", "api", "x", 1, None),)
    assert _entries_of(store, B) == (("global", "api", "x", 1, None),
                                     ("network:chain", "api", "y", 2, None))
    assert _entries_of(store, C) == (("account:new", "api", "z", 3, None),)
    # A later add in another scope: read back with both entries.
    store.add(A, "account:shop-1", "api", source="x", at=4)
    assert len(_entries_of(store, A)) == 2
    assert store.check(A, ["account:shop-1"], 5).at == 4
    assert store.check(A, ["account:shop-1", "global"], 5).scope == "global"


def test_expiring_entries_are_checked_against_now(store, env):
    store.add(A, "global", "failed_number", source="op", at=100, until=1000)
    assert _tag(store, A)
    for fresh in (store, OptoutStore(env)):  # tagged by the write, and by a reload
        assert _tag(fresh, A)
        assert fresh.check(A, ["global"], 1000).until == 1000
        assert fresh.check(A, ["global"], 1001) is None
    # An import over an expiring entry replaces it: the old tag must not survive.
    path = env.path() + "/../imp.csv"
    with open(path, "w") as f:
        f.write(A + "\n")
    assert store.import_csv(path, "global", at=2000).imported == 1  # expired: counts as new
    assert _tag(store, A) == 0
    assert store.check(A, ["global"], 10**9).reason == "import"


def test_reimport_keeps_the_first_entry_and_its_tag(store, tmp_path):
    _import(store, tmp_path, [A, B], at=5)
    first = _tag(store, A)
    again = _import(store, tmp_path, [A, B, C], at=9, name="again.csv")
    assert (again.imported, again.duplicates) == (1, 2)
    assert _tag(store, A) == _tag(store, B) == first and _tag(store, C) not in (0, first)
    assert store.check(A, ALL, 10).at == 5 and store.check(C, ALL, 10).at == 9
    # Into another scope: the numbers get a second entry, their tags go.
    _import(store, tmp_path, [A], scope="account:shop-1", name="shop.csv")
    assert _tag(store, A) == 0 and _tag(store, B) == first
    assert store.check(A, ["account:shop-1"], 10).scope == "account:shop-1"


def test_a_foreign_writer_bypasses_the_tags(env, tmp_path):
    daemon, cli = OptoutStore(env, auto_reload=False), OptoutStore(env)
    _import(daemon, tmp_path, [A, B])
    assert _tag(daemon, A) and _tag(daemon, B)
    cli.add(A, "account:shop-1", "api", source="cli", at=3)
    cli.remove(B, "global", by="cli", at=3)
    # Stale: the tags would say "A: global only", "B: excluded"; LMDB decides.
    assert daemon.check(A, ["account:shop-1"], 5).source == "cli"
    assert daemon.check(B, ALL, 5) is None
    daemon.reload()
    assert len(_entries_of(daemon, A)) == 2 and B not in daemon._filter
    assert daemon.check(A, ["account:shop-1"], 5).source == "cli"


def test_a_full_tag_table_leaves_numbers_untagged(env, monkeypatch):
    import gateway.optout.store as store_mod

    monkeypatch.setattr(store_mod, "MAX_TAGS", 3)
    store = OptoutStore(env)
    numbers = [f"+3361234{i:04d}" for i in range(10)]
    store.add_many([(n, "global", "api", f"src{i}", i) for i, n in enumerate(numbers)])
    assert [_tag(store, n) for n in numbers] == [1, 2, 3] + [0] * 7
    for fresh in (store, OptoutStore(env)):
        assert sum(1 for n in numbers if _tag(fresh, n)) == 3
        assert [h.source for h in fresh.check_many(numbers, ALL, 0)] == [
            f"src{i}" for i in range(10)]


def test_a_reload_during_a_write_keeps_the_filter_stale(store, env):
    # A reload (another thread) that reads the list before this write commits must not be
    # taken as current afterwards: its filter lacks the write's numbers.
    real = store._put_sorted

    def racing(txn, items):
        store.reload()
        return real(txn, items)

    store._put_sorted = racing
    store.add(A, "global", "api", source="x", at=1)
    with env.begin(write=True) as txn:
        store.add(B, "global", "api", source="x", at=1, txn=txn)
    store._put_sorted = real
    assert store.is_stale()
    assert [h is not None for h in store.check_many([A, B], ["global"], 2)] == [True, True]


def test_another_write_in_between_cancels_the_tags(store):
    # Another write taking its hold between this write's and its commit: no tags are set.
    real = store._put_sorted

    def interleaved(txn, items):
        store._hold(own=False)
        return real(txn, items)

    store._put_sorted = interleaved
    store.add(A, "global", "api", source="x", at=1)
    store._put_sorted = real
    assert A in store._filter and _tag(store, A) == 0 and not store.is_stale()
    assert store.check(A, ALL, 2).source == "x"


@pytest.mark.parametrize("seed", range(8))
def test_random_writes_match_lmdb(env, tmp_path, seed):
    """Own writes, caller txns (committed and aborted), imports, a foreign writer and reloads
    in random order, with the filter kept between them: every check equals the answer of a
    store that reads LMDB alone."""
    rng = random.Random(seed)
    store, other = OptoutStore(env, auto_reload=False), OptoutStore(env)
    lmdb_only = OptoutStore(env, auto_reload=False)
    pool = [f"+336{rng.randrange(10**8):08d}" for _ in range(40)]
    scopes = [*ALL, "account:shop-2"]
    tagged = 0
    for step in range(150):
        op = rng.randrange(8)
        n, scope = rng.choice(pool), rng.choice(scopes)
        until = rng.choice([None, None, step + rng.randrange(5)])
        if op == 0:
            store.add(n, scope, rng.choice(["api", "stop_reply"]), source=f"s{step % 3}",
                      at=step % 4, until=until)
        elif op == 1:
            store.remove(n, scope, by="t", at=step)
        elif op in (2, 3):
            txn = env.begin(write=True)
            if rng.random() < 0.5:
                store.add(n, scope, "stop_reply", source="r", at=step, until=until, txn=txn)
            else:
                store.remove(n, scope, by="r", at=step, txn=txn)
            if op == 2:
                txn.commit()
            else:
                txn.abort()
        elif op == 4:
            _import(store, tmp_path, rng.sample(pool, 8), scope=scope, at=step % 3,
                    batch=rng.choice([3, 100]))
        elif op == 5 and rng.random() < 0.3:
            if rng.random() < 0.5:
                other.add(n, scope, "api", source="o", at=step)
            else:
                other.remove(n, scope, by="o", at=step)
        elif op == 6 and rng.random() < 0.3:
            store.reload()
        asked = rng.sample(scopes, rng.randrange(1, 4))
        probe = rng.sample(pool, 20)
        now = step + rng.choice([-3, 0, 3])
        lmdb_only._gen = b"never current"
        assert store.check_many(probe, asked, now) == lmdb_only.check_many(probe, asked, now)
        tagged += sum(1 for _, t in store._filter.items() if t)
    assert tagged > 100  # the tags were exercised, not only LMDB


def test_a_tagged_number_with_several_entries_keeps_the_precedence(store, env):
    store.add_many([(A, "global", "failed_number", "op", 100, 1000),
                    (A, "account:b", "api", "b", 101), (A, "account:a", "api", "a", 102),
                    (A, "network:chain", "api", "n", 103, 1500)])
    for fresh in (store, OptoutStore(env)):
        assert len(_entries_of(fresh, A)) == 4
        assert fresh.check(A, ALL, 900).scope == "global"
        assert fresh.check(A, ALL, 1200).scope == "network:chain"  # global expired
        assert fresh.check(A, ["account:b", "account:a"], 2000).source == "b"  # order given
        assert fresh.check(A, ["account:a", "account:b", "global"], 2000).source == "a"
        assert fresh.check(A, ["global", "network:chain"], 2000) is None
        for now in (900, 1200, 2000):
            for asked in (ALL, ["account:b", "account:a"], ["account:a", "account:b"]):
                assert fresh.check_many([A], asked, now) == _exact(fresh, [A], asked, now)


def test_an_entry_of_a_scope_without_a_name_is_not_tagged(store, env):
    store.add_many([(A, "account:shop-1", "api", "x", 1), (B, "global", "api", "x", 1)])
    with env.begin(write=True) as txn:  # a damaged meta DB: the id -> name record is gone
        sid = txn.get(b"scope:account:shop-1", db=store._meta)
        assert txn.delete(b"scopeid:" + sid, db=store._meta)
    fresh = OptoutStore(env)
    assert _tag(fresh, A) == 0 and _tag(fresh, B)
    assert fresh.check(A, ["account:shop-1"], 2).source == "x"
