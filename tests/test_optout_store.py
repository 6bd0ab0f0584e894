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
