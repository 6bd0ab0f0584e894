"""Operating the opt-out list: the socket ops ``optout.add``, ``optout.remove`` and
``optout.check`` end to end against the in-process daemon (every error included), and the CLI
``gateway optout add|remove|check|list|import|export`` as real processes, one of them against a
daemon process that must refuse a number the CLI imported behind its back."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio

from gateway.api.protocol import ClientConnection
from gateway.client import Client, GatewayError
from gateway.storage import StoreFull
from tests.helpers_daemon import message, running
from tests.helpers_process import (
    REPO,
    Processes,
    child_env,
    free_port,
    processes,
    start_daemon,
    wait_ready,
    write_config,
)

PARIS = ZoneInfo("Europe/Paris")
TUESDAY_10H = datetime(2026, 12, 1, 10, 0, tzinfo=PARIS).timestamp()
NUMBER = "+33612345678"

CONFIG = {
    "accounts": (
        {"name": "shop1", "stop_mention": "STOP au 36184"},
        {"name": "shop2", "stop_mention": "STOP au 36184"},
        {"name": "elsewhere", "stop_mention": "STOP au 36185"},
    ),
    "extra": {"networks": [{"name": "chain", "accounts": ["shop1", "shop2"]}]},
}


def marketing(i: int, account: str, **fields):
    return message(i, account=account, **{"class": "marketing", "text": "Soldes -50%", **fields})


async def ok(client, op: str, **fields) -> dict:
    reply = await client.request(op, fields)
    assert reply.ok, reply.body
    return reply.body


# --------------------------------------------------------------------------------------------
# The socket ops, in process


async def test_add_check_remove_through_the_socket_with_events_and_history():
    with trio.fail_after(30):
        async with running(wall_at_start=TUESDAY_10H, **CONFIG) as r, \
                r.client() as client, r.client() as listener:
            events = listener.subscribe(["optout"])
            await events.start()
            added = await ok(client, "optout.add", number="06 12 34 56 78", scope="network:chain")
            assert added == {"seq": added["seq"], "ok": True, "added": True, "number": NUMBER,
                             "scope": "network:chain"}
            again = await ok(client, "optout.add", number=NUMBER, scope="network:chain",
                             reason="import", source="other")
            assert again["added"] is False
            check = await ok(client, "optout.check", number="+33 6 12 34 56 78")
            assert (check["excluded"], check["scope"], check["reason"], check["source"],
                    check["until"]) == (True, "network:chain", "api", "api", None)
            assert check["at"] == int(TUESDAY_10H) or abs(check["at"] - TUESDAY_10H) < 60
            assert [e["scope"] for e in check["entries"]] == ["network:chain"]
            # the network's accounts are blocked at their next marketing submit, others not
            with pytest.raises(GatewayError) as info:
                await client.submit(marketing(1, "shop2", to=NUMBER))
            assert info.value.code == "opted_out"
            assert (await client.submit(marketing(2, "elsewhere", to=NUMBER)))["state"] == "queued"
            free = await ok(client, "optout.check", number=NUMBER, account="elsewhere")
            assert {k: free[k] for k in ("excluded", "scope", "reason", "at", "until", "source",
                                         "entries")} == {
                "excluded": False, "scope": None, "reason": None, "at": None, "until": None,
                "source": None, "entries": []}
            # a wider, expiring exclusion is the one reported first
            until = TUESDAY_10H + 86400
            await ok(client, "optout.add", number=NUMBER, scope="global", reason="failed_number",
                     source="ops desk", until=until)
            both = await ok(client, "optout.check", number=NUMBER, account="shop1")
            assert (both["scope"], both["reason"], both["source"]) == (
                "global", "failed_number", "ops desk")
            assert both["until"] == int(until)
            assert [e["scope"] for e in both["entries"]] == ["global", "network:chain"]
            # removal: recorded with who asked, and only in the scope named
            removed = await ok(client, "optout.remove", number="0612345678",
                               scope="network:chain", by="alice (support ticket 42)")
            assert (removed["removed"], removed["number"]) == (True, NUMBER)
            assert (await ok(client, "optout.remove", number=NUMBER, scope="network:chain",
                             by="alice"))["removed"] is False
            left = await ok(client, "optout.check", number=NUMBER)
            assert [e["scope"] for e in left["entries"]] == ["global"]
            history = list(r.daemon.service.optout.history(NUMBER))
            assert [(h.scope, h.action, h.by) for h in history] == [
                ("network:chain", "remove", "alice (support ticket 42)")]
            assert history[0].previous.reason == "api"
            seen = []
            with trio.fail_after(5):
                async for event in events:
                    seen.append(event)
                    if len(seen) == 3:
                        break
            assert [(e["action"], e["scope"], e["reason"]) for e in seen] == [
                ("add", "network:chain", "api"), ("add", "global", "failed_number"),
                ("remove", "network:chain", "api")]
            assert seen[0]["source"] == "api" and seen[1]["until"] == until
            assert seen[2]["by"] == "alice (support ticket 42)"


async def test_a_pipelined_check_sees_the_writes_sent_before_it():
    with trio.fail_after(30):
        async with running(wall_at_start=TUESDAY_10H, **CONFIG) as r:
            conn = ClientConnection()
            seqs = [
                conn.send_request("optout.add", {"number": NUMBER, "scope": "account:shop1"}),
                conn.send_request("optout.check", {"number": NUMBER, "account": "shop1"}),
                conn.send_request("optout.remove",
                                  {"number": NUMBER, "scope": "account:shop1", "by": "b"}),
                conn.send_request("optout.check", {"number": NUMBER}),
            ]
            stream = await trio.open_unix_socket(str(r.socket))
            async with stream:
                await stream.send_all(conn.data_to_send())  # one write: read together
                replies = []
                while len(replies) < len(seqs):
                    replies += conn.receive_data(await stream.receive_some(65536))
            assert [reply.seq for reply in replies] == seqs
            add, check, remove, again = (reply.body for reply in replies)
            assert add["added"] and remove["removed"]
            assert check["excluded"] is True and check["scope"] == "account:shop1"
            assert again["excluded"] is False


ERRORS = [
    ("optout.add", {"scope": "global"}, "missing_field", "number"),
    ("optout.add", {"number": 612345678, "scope": "global"}, "invalid_field", "number"),
    ("optout.add", {"number": "", "scope": "global"}, "invalid_field", "number"),
    ("optout.add", {"number": "abc", "scope": "global"}, "invalid_number", "number"),
    ("optout.add", {"number": "01 40 00 00 00", "scope": "global"}, "invalid_number", "number"),
    ("optout.add", {"number": NUMBER}, "missing_field", "scope"),
    ("optout.add", {"number": NUMBER, "scope": "everywhere"}, "invalid_field", "scope"),
    ("optout.add", {"number": NUMBER, "scope": "account:"}, "invalid_field", "scope"),
    ("optout.add", {"number": NUMBER, "scope": "network:nope"}, "invalid_field", "scope"),
    ("optout.add", {"number": NUMBER, "scope": "account:nope"}, "invalid_field", "scope"),
    ("optout.add", {"number": NUMBER, "scope": "global", "reason": "whim"}, "invalid_field",
     "reason"),
    ("optout.add", {"number": NUMBER, "scope": "global", "source": "x" * 201}, "invalid_field",
     "source"),
    ("optout.add", {"number": NUMBER, "scope": "global", "source": 3}, "invalid_field",
     "source"),
    ("optout.add", {"number": NUMBER, "scope": "global", "until": "tomorrow"}, "invalid_field",
     "until"),
    ("optout.add", {"number": NUMBER, "scope": "global", "until": TUESDAY_10H - 1},
     "invalid_field", "until"),
    ("optout.add", {"number": NUMBER, "scope": "global", "by": "x"}, "invalid_field", "by"),
    ("optout.remove", {"number": NUMBER, "scope": "global"}, "missing_field", "by"),
    ("optout.remove", {"number": NUMBER, "scope": "global", "by": ""}, "invalid_field", "by"),
    ("optout.remove", {"number": NUMBER, "scope": "global", "by": "b" * 201}, "invalid_field",
     "by"),
    ("optout.remove", {"number": NUMBER, "by": "me"}, "missing_field", "scope"),
    ("optout.remove", {"number": "12", "scope": "global", "by": "me"}, "invalid_number",
     "number"),
    ("optout.remove", {"number": NUMBER, "scope": "network:x", "by": "me"}, "invalid_field",
     "scope"),
    ("optout.check", {}, "missing_field", "number"),
    ("optout.check", {"number": "not a number"}, "invalid_number", "number"),
    ("optout.check", {"number": NUMBER, "account": "nope"}, "unknown_account", None),
    ("optout.check", {"number": NUMBER, "account": 7}, "invalid_field", "account"),
    ("optout.check", {"number": NUMBER, "scope": "global"}, "invalid_field", "scope"),
]


async def test_every_error_of_the_optout_ops():
    with trio.fail_after(30):
        async with running(wall_at_start=TUESDAY_10H, **CONFIG) as r, r.client() as client:
            for op, fields, code, field in ERRORS:
                reply = await client.request(op, fields)
                assert not reply.ok, (op, fields, reply.body)
                assert (reply.code, reply.body["error"].get("field")) == (code, field), (
                    op, fields, reply.body)
                assert reply.message
            # nothing of that was written
            assert r.daemon.service.optout.count_by_scope() == {}
            # a full store: the batch's write fails, the reply says so, nothing is kept
            outbox = r.daemon.service.outbox
            real = outbox.write

            def full(batch):
                raise StoreFull("test: the disk is full")

            outbox.write = full
            try:
                reply = await client.request("optout.add", {"number": NUMBER, "scope": "global"})
                assert reply.code == "store_full" and "disk is full" in reply.message
                reply = await client.request("optout.remove",
                                             {"number": NUMBER, "scope": "global", "by": "x"})
                assert reply.code == "store_full"
            finally:
                outbox.write = real
            assert r.daemon.service.optout.count_by_scope() == {}
            # a stopping daemon takes no new writes
            r.daemon.service.stopping = True
            try:
                for op, fields in (("optout.add", {"number": NUMBER, "scope": "global"}),
                                   ("optout.remove", {"number": NUMBER, "scope": "global",
                                                      "by": "x"})):
                    assert (await client.request(op, fields)).code == "shutting_down"
            finally:
                r.daemon.service.stopping = False
            assert (await ok(client, "optout.add", number=NUMBER, scope="global"))["added"]


# --------------------------------------------------------------------------------------------
# The CLI, as real processes


def gateway(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the CLI; stdout and stderr decoded as they are (carriage returns kept)."""
    r = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True, cwd=REPO, env=child_env(), timeout=timeout, check=False,
    )
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(),
                                       r.stderr.decode())


@pytest.fixture
def procs():
    with processes() as p:
        yield p


def test_import_of_a_malformed_file_reports_lines_and_goes_on(procs: Processes):
    data = procs.base / "data"
    good = [f"+3361{i:07d}" for i in range(30)]
    lines = ["numero;nom", f"{good[0]};Alice", "06 10 00 00 01", ""]  # header, 2 good, blank
    lines += [f"bad{i}" for i in range(22)]  # lines 5..26
    lines += ["# a comment", "01 40 00 00 00", '"+33610000002",x', "x" * 5000, *good[3:]]
    path = procs.base / "numbers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = gateway("optout", "import", str(path), "--scope", "global", "--data-dir", str(data),
                "--batch", "10")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "line 5: 'bad0': not_a_number"
    assert out[19] == "line 24: 'bad19': not_a_number"
    assert out[20] == "... and 4 more invalid lines"  # bad20, bad21, the fixed line, too long
    summary = out[-1]
    assert summary.startswith("imported 30 new numbers into global (0 already there, "
                              "24 invalid, 2 blank or comment, header skipped); 57 lines")
    # the progress bar: carriage-return lines on stderr, ending at 100% of the bytes
    assert "\r" in r.stderr and "numbers" in r.stderr and "/s" in r.stderr
    assert r.stderr.rstrip().endswith("24 invalid") and "100.0%" in r.stderr
    # again: idempotent, everything is a duplicate
    again = gateway("optout", "import", str(path), "--scope", "global", "--data-dir", str(data),
                    "--quiet")
    assert again.returncode == 0 and again.stderr == ""
    assert "imported 0 new numbers into global (30 already there" in again.stdout
    # what cannot be imported at all is a usage error
    for args in ([str(procs.base / "missing.csv"), "--scope", "global"],
                 [str(path), "--scope", "everywhere"],
                 [str(procs.base), "--scope", "global"]):
        bad = gateway("optout", "import", *args, "--data-dir", str(data))
        assert bad.returncode == 2, (args, bad.stderr)
        assert bad.stderr.startswith("gateway optout import: ") and "Traceback" not in bad.stderr


def test_export_round_trip_and_list(procs: Processes):
    data, other = procs.base / "data", procs.base / "other"
    numbers = [f"+3361{i:07d}" for i in range(50)]
    path = procs.base / "in.csv"
    path.write_text("\n".join(numbers) + "\n", encoding="utf-8")
    for scope in ("global", "account:demo"):
        assert gateway("optout", "import", str(path), "--scope", scope, "--data-dir", str(data),
                       "--source", "crm", "--quiet").returncode == 0
    out_file = procs.base / "out.csv"
    r = gateway("optout", "export", str(out_file), "--data-dir", str(data))
    assert r.returncode == 0 and "exported 100 entries" in r.stderr
    rows = list(csv.DictReader(out_file.open(encoding="utf-8")))
    assert len(rows) == 100
    assert {(row["number"], row["scope"]) for row in rows} == {
        (n, s) for n in numbers for s in ("global", "account:demo")}
    assert {row["reason"] for row in rows} == {"import"}
    stdout = gateway("optout", "export", "-", "--scope", "account:demo", "--data-dir", str(data))
    assert stdout.returncode == 0
    demo = list(csv.DictReader(io.StringIO(stdout.stdout)))
    assert sorted(row["number"] for row in demo) == numbers
    # the export imports back as is: into a fresh store, then out again, the same numbers
    assert gateway("optout", "import", str(out_file), "--scope", "global", "--data-dir",
                   str(other), "--quiet").returncode == 0
    back = gateway("optout", "export", "-", "--data-dir", str(other))
    assert sorted(row["number"] for row in csv.DictReader(io.StringIO(back.stdout))) == numbers
    # list: one line per entry, a count, a limit and a scope filter
    listed = gateway("optout", "list", "--data-dir", str(data), "--limit", "0")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert len(lines) == 101
    assert lines[0].split()[:3] == [numbers[0], "global", "import"]
    assert lines[-1] == "100 entries [account:demo: 50, global: 50]"
    short = gateway("optout", "list", "--data-dir", str(data), "--scope", "account:demo",
                    "--limit", "3").stdout.splitlines()
    assert [line.split()[:2] for line in short[:3]] == [[n, "account:demo"] for n in numbers[:3]]
    assert short[3] == "50 entries in account:demo, 3 shown (--limit)"
    missing = gateway("optout", "list", "--data-dir", str(procs.base / "nowhere"))
    assert missing.returncode == 2 and "no store" in missing.stderr
    unwritable = gateway("optout", "export", str(procs.base / "no" / "such" / "dir.csv"),
                         "--data-dir", str(data))
    assert unwritable.returncode == 2 and "cannot write" in unwritable.stderr


def test_a_number_imported_while_the_daemon_runs_is_refused_at_its_next_submit(
    procs: Processes,
):
    files = write_config(procs.base, free_port())  # no operator listening: nothing is sent
    daemon = start_daemon(procs, files)
    wait_ready(daemon, files.socket)
    sock = ["--socket", str(files.socket)]
    target = "+33698765432"
    offer = {"account": "demo", "to": target, "from": "DEMO", "text": "Soldes -50%",
             "class": "marketing", "validity": 7 * 86400}
    with Client(files.socket, timeout=10) as client:
        before = client.submit(offer)
        assert before["state"] in ("queued", "scheduled")
        path = procs.base / "stop.csv"
        path.write_text(f"number\n{target}\n", encoding="utf-8")
        t0 = time.monotonic()
        r = gateway("optout", "import", str(path), "--scope", "global",
                    "--data-dir", str(files.data_dir), "--quiet")
        assert r.returncode == 0, r.stderr
        assert "imported 1 new numbers into global" in r.stdout
        with pytest.raises(GatewayError) as info:  # the very next submit, no waiting
            client.submit(offer)
        assert info.value.code == "opted_out" and "import" in info.value.message
        assert time.monotonic() - t0 < 10
        assert client.submit({**offer, "class": "transactional"})["state"] == "queued"

    # add, check and remove through the daemon's socket
    r = gateway("optout", "check", target, *sock)
    assert r.returncode == 0
    assert r.stdout.startswith(f"{target} is excluded in global: import since ")
    assert "(source: stop.csv)" in r.stdout
    r = gateway("optout", "add", "06 11 22 33 44", "--scope", "account:demo", *sock)
    assert (r.returncode, r.stdout) == (0, "+33611223344 excluded in account:demo\n")
    r = gateway("optout", "add", "+33611223344", "--scope", "account:demo", *sock)
    assert "already excluded" in r.stdout and r.returncode == 0
    r = gateway("optout", "check", "+33611223344", "--account", "demo", *sock)
    assert r.stdout.startswith("+33611223344 is excluded for account demo in account:demo: api")
    assert "(source: cli:" in r.stdout
    r = gateway("optout", "remove", "+33611223344", "--scope", "account:demo", "--by", "bob",
                *sock)
    assert (r.returncode, r.stdout) == (
        0, "+33611223344 removed from account:demo (recorded, by bob)\n")
    r = gateway("optout", "check", "+33611223344", *sock)
    assert (r.returncode, r.stdout) == (0, "+33611223344 is not excluded\n")
    # the daemon's refusals exit 1 with the code; the list shows what the daemon wrote
    r = gateway("optout", "add", "+33611223344", "--scope", "account:ghost", *sock)
    assert r.returncode == 1
    assert r.stderr.startswith("gateway optout add: invalid_field: 'scope' 'account:ghost'")
    r = gateway("optout", "check", "12", *sock)
    assert r.returncode == 1 and "invalid_number" in r.stderr
    listed = gateway("optout", "list", "--data-dir", str(files.data_dir))
    assert listed.stdout.splitlines()[-1] == "1 entries [global: 1]"
    # no daemon: exit 3
    r = gateway("optout", "check", target, "--socket", str(Path(procs.base) / "none.sock"))
    assert r.returncode == 3 and "cannot reach the gateway" in r.stderr
