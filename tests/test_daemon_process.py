"""The real daemon as a process: ``python -m gateway run --config FILE`` against the bundled
simulator (``python -m gateway.smpp.simulator``), over loopback TCP and a Unix socket.

What only a process shows: kill -9 loses nothing that was acknowledged, SIGTERM stops cleanly
(exit 0, socket removed, logs), bad configurations and unusable resources give exit codes and
one readable message (never a traceback), the CLI's exit codes, and the systemd notify protocol.

Every test has absolute time bounds, and the ``procs`` fixture kills every process a test
started, whatever happens. The daemon's output is read from files (its JSON log on stdout).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.client import Client, GatewayConnectionError, GatewayError
from tests.helpers_process import (
    Processes,
    Received,
    child_env,
    count_delivered,
    destination,
    free_port,
    message,
    notify_socket,
    processes,
    read_export,
    receive_datagrams,
    start_daemon,
    start_simulator,
    stop_simulator,
    submit_pipelined,
    wait_bound,
    wait_exit,
    wait_final,
    wait_ready,
    wait_settled,
    write_config,
)

GRACE = 3  # shutdown_grace_s in every configuration written here

#: The simulator dies when an ESME resets its connection (kill -9 with data unread): see
#: test_the_simulator_survives_a_peer_that_resets_its_connection.
SIMULATOR_RESET_BUG = (
    "BUG: gateway/smpp/simulator.py:Simulator._handle catches BrokenResourceError/OSError with "
    "a plain except around trio.open_nursery(), but the nursery raises them wrapped in an "
    "ExceptionGroup (trio 0.35, strict groups), so a peer's connection reset propagates out of "
    "serve_listeners and the whole simulator exits 1 with a traceback"
)


@pytest.fixture
def procs():
    with processes() as p:
        yield p


def pretty(reply: dict) -> str:
    return json.dumps(reply, ensure_ascii=False)[:300]


def accepted_ids(results: list[dict]) -> list[str]:
    assert all(r["ok"] and r.get("id") for r in results), [
        pretty(r) for r in results if not r.get("ok")
    ][:5]
    return [r["id"] for r in results]


def stop_daemon(proc, socket_path: Path) -> float:
    """SIGTERM and check the clean stop; returns the seconds it took."""
    proc.send(signal.SIGTERM)
    rc, took = wait_exit(proc, GRACE + 2)
    assert rc == 0, proc.describe()
    assert not socket_path.exists()
    return took


def check_received(procs_export: Path, sent: dict[str, dict]) -> int:
    """Every message reached the simulator at least once with its text; returns the number of
    duplicates (extra copies)."""
    received = read_export(procs_export)
    missing = [i for i, m in sent.items() if destination(m) not in received.texts]
    assert not missing, f"{len(missing)} never reached the operator, e.g. {missing[:5]}"
    wrong = {
        destination(m): received.texts[destination(m)]
        for m in sent.values()
        if set(received.texts[destination(m)]) != {m["text"]}
    }
    assert not wrong, list(wrong.items())[:5]
    extra = set(received.texts) - {destination(m) for m in sent.values()}
    assert not extra, sorted(extra)[:5]
    return received.duplicates()


# --------------------------------------------------------------------------------------------
# 1. kill -9


def test_nothing_accepted_is_lost_across_kill_9_before_anything_was_sent(procs: Processes):
    port = free_port()  # nobody listens there yet: messages are accepted, none can be sent
    files = write_config(procs.base, port)
    daemon = start_daemon(procs, files)
    wait_ready(daemon, files.socket)

    messages = [message(i) for i in range(500)]
    with Client(files.socket, timeout=20) as client:
        # 300 in pipelined submit_many batches, 100 in plain batches ...
        pipelined = client.submit_many_pipelined(
            [messages[i : i + 100] for i in range(0, 300, 100)], window=3
        )
        results = [r for batch in pipelined for r in batch]
        results += client.submit_many(messages[300:350])
        results += client.submit_many(messages[350:400])
    # ... and 100 single submits written back to back before any reply is read.
    results += submit_pipelined(files.socket, messages[400:], timeout=20)
    ids = accepted_ids(results)
    assert len(set(ids)) == 500
    sent = dict(zip(ids, messages, strict=True))

    daemon.send(signal.SIGKILL)
    assert wait_exit(daemon, 5)[0] == -signal.SIGKILL

    export = procs.base / "received.jsonl"
    sim, _ = start_simulator(procs, port, export=export)
    again = start_daemon(procs, files)
    wait_ready(again, files.socket)
    ready = [e for e in again.log_events() if e.get("event") == "daemon.ready"]
    assert ready and ready[0]["recovered"] == 500, again.describe()

    statuses = wait_final(files.socket, ids, timeout=30)
    assert {s["state"] for s in statuses.values()} == {"delivered"}
    stop_daemon(again, files.socket)
    stop_simulator(sim)
    duplicates = check_received(export, sent)
    assert duplicates == 0  # nothing had reached the operator before the kill


@dataclass
class Outcome:
    """What one crash-and-restart scenario left, for the tests that judge it."""

    statuses: dict[str, dict]
    received: Received
    sent: dict[str, dict]
    numbers: dict[str, object] = field(default_factory=dict)

    def states(self) -> dict[str, int]:
        return dict(Counter(s["state"] for s in self.statuses.values()))

    def check_reached_the_operator(self) -> None:
        """Every accepted message reached the simulator at least once, with its text, and the
        daemon knows it (every part has the operator's message id); nothing failed."""
        assert set(self.states()) <= {"submitted", "delivered"}, self.states()
        unsent = [i for i, s in self.statuses.items() if not all(
            p["message_id"] for p in s["parts"])]
        assert not unsent, f"{len(unsent)} without an operator message id: {unsent[:5]}"
        texts = self.received.texts
        missing = [i for i, m in self.sent.items() if destination(m) not in texts]
        assert not missing, f"{len(missing)} never reached the operator, e.g. {missing[:5]}"
        wrong = [
            (destination(m), texts[destination(m)])
            for m in self.sent.values()
            if set(texts[destination(m)]) != {m["text"]}
        ]
        assert not wrong, wrong[:5]

    def unconfirmed(self) -> list[str]:
        """Destinations the operator got although no client was told "accepted" for them."""
        return sorted(set(self.received.texts) - {destination(m) for m in self.sent.values()})


#: Why messages stay "submitted" after a crash or a stop: their receipts are lost.
RECEIPT_REDELIVERY_BUG = (
    "BUG: gateway/smpp/simulator.py never delivers again a deliver_sm (receipt) that was sent "
    "on a connection that ended before its deliver_sm_resp (Simulator._handle drops the "
    "session's outstanding requests; Unbound/ConnectionLost.unacknowledged is ignored), "
    "although the daemon acknowledges a receipt only after committing it and relies on the "
    "SMSC sending it again (gateway/smpp/client.py:_deliverer): the receipts in flight at a "
    "kill -9 or SIGTERM are lost and those messages stay 'submitted' until they expire"
)

WINDOW, BINDS = 50, 1


@pytest.fixture(scope="module")
def kill_9_in_flight() -> Iterator[Outcome]:
    """2000 messages streaming to the simulator; kill -9 once 200 are delivered; restart."""
    with processes() as procs:
        export = procs.base / "received.jsonl"
        sim, port = start_simulator(procs, export=export)
        # tps 1000 (not 5000): the 2000 messages take about 2 s to send, and the kill lands in
        # the middle of the stream, with the window full.
        files = write_config(procs.base, port, operator={"tps": 1000, "window": WINDOW})
        daemon = start_daemon(procs, files)
        wait_ready(daemon, files.socket)
        wait_bound(files.socket)
        messages = [message(i) for i in range(2000)]
        with Client(files.socket, timeout=20) as client:
            batches = client.submit_many_pipelined(
                [messages[i : i + 100] for i in range(0, 2000, 100)], window=4
            )
            ids = accepted_ids([r for batch in batches for r in batch])
            delivered: set[str] = set()
            cursor = ""
            deadline = time.monotonic() + 20
            while len(delivered) < 200:
                assert time.monotonic() < deadline, f"only {len(delivered)} delivered in 20 s"
                cursor = count_delivered(client, cursor, delivered)
                time.sleep(0.01)
        daemon.send(signal.SIGKILL)
        assert wait_exit(daemon, 5)[0] == -signal.SIGKILL
        numbers: dict[str, object] = {"delivered_at_kill": len(delivered)}
        time.sleep(0.3)
        numbers["simulator_died_on_reset"] = sim.poll() is not None
        if sim.poll() is not None:
            # The kill resets the SMPP connection and the simulator dies of it
            # (SIMULATOR_RESET_BUG, shown by its own test). The operator "comes back" on the
            # same port, appending to the same export: the daemon's promise is still checked.
            sim, _ = start_simulator(procs, port, export=export)
        again = start_daemon(procs, files)
        wait_ready(again, files.socket)
        statuses = wait_settled(files.socket, ids, timeout=30)
        numbers["stop_seconds"] = stop_daemon(again, files.socket)
        stop_simulator(sim)
        yield Outcome(statuses, read_export(export), dict(zip(ids, messages, strict=True)), numbers)


def test_kill_9_with_messages_in_flight_loses_nothing_and_bounds_duplicates(
    kill_9_in_flight: Outcome, record_property
):
    outcome = kill_9_in_flight
    duplicates = outcome.received.duplicates()
    for key, value in {**outcome.numbers, "duplicates": duplicates, **outcome.states()}.items():
        record_property(key, value)
    print(f"kill -9 in flight: {outcome.numbers}, {duplicates} duplicates, {outcome.states()}")
    outcome.check_reached_the_operator()
    assert outcome.unconfirmed() == []
    # Messages left "submitted" lost their receipt with the connection (RECEIPT_REDELIVERY_BUG,
    # 3 to 56 per run here; shown deterministically by the next test): recorded, not judged.
    record_property("stuck_submitted", outcome.states().get("submitted", 0))
    # dispatch.py: only parts whose outcome was unknown are sent again: those in the windows
    # (window x binds) and the answers read but not yet committed (bounded by the window too).
    assert duplicates <= 2 * WINDOW * BINDS


def test_receipts_on_the_wire_at_a_kill_9_are_delivered_after_the_restart(procs: Processes):
    """Made deterministic: the daemon is frozen (SIGSTOP) while the simulator writes the
    receipts, so none is acknowledged, then killed. A carrier sends them again on the next
    bind; the daemon must then end with every message delivered."""
    sim, port = start_simulator(procs, receipt_delay=0.5)
    files = write_config(procs.base, port)
    daemon = start_daemon(procs, files)
    wait_ready(daemon, files.socket)
    wait_bound(files.socket)
    with Client(files.socket, timeout=10) as client:
        ids = accepted_ids(client.submit_many([message(i) for i in range(20)]))
        deadline = time.monotonic() + 0.4
        while any(client.status(i)["state"] != "submitted" for i in ids):
            assert time.monotonic() < deadline, "not all submitted before the receipts came"
            time.sleep(0.01)
    daemon.send(signal.SIGSTOP)
    time.sleep(0.8)  # the receipts (due 0.5 s after each submit) are written, unanswered
    daemon.send(signal.SIGKILL)
    assert wait_exit(daemon, 5)[0] == -signal.SIGKILL
    time.sleep(0.3)
    if sim.poll() is not None:
        sim, _ = start_simulator(procs, port)  # so that the daemon can bind again
    again = start_daemon(procs, files)
    wait_ready(again, files.socket)
    statuses = wait_settled(files.socket, ids, timeout=10)
    states = Counter(s["state"] for s in statuses.values())
    assert states == {"delivered": 20}, (dict(states), sim.poll())


# --------------------------------------------------------------------------------------------
# 2. Graceful stop


def test_sigterm_when_idle_exits_0_removes_the_socket_and_logs_stopped(
    procs: Processes, record_property
):
    _sim, port = start_simulator(procs)
    files = write_config(procs.base, port)
    daemon = start_daemon(procs, files)
    wait_ready(daemon, files.socket)
    wait_bound(files.socket)
    took = stop_daemon(daemon, files.socket)
    record_property("idle_stop_seconds", round(took, 3))
    print(f"idle SIGTERM -> exit in {took:.3f} s")
    events = [e.get("event") for e in daemon.log_events()]
    assert "daemon.stopped" in events, daemon.stdout()[-2000:]
    assert events.index("daemon.stopping") < events.index("daemon.stopped")
    assert "Traceback" not in daemon.stderr()


@pytest.fixture(scope="module")
def sigterm_under_load() -> Iterator[Outcome]:
    """1000 messages streaming, and a client submitting one at a time; SIGTERM; restart."""
    with processes() as procs:
        export = procs.base / "received.jsonl"
        sim, port = start_simulator(procs, export=export)
        files = write_config(procs.base, port, operator={"tps": 1000})
        daemon = start_daemon(procs, files)
        wait_ready(daemon, files.socket)
        wait_bound(files.socket)
        messages = [message(i) for i in range(1000)]
        with Client(files.socket, timeout=20) as client:
            batches = client.submit_many_pipelined(
                [messages[i : i + 100] for i in range(0, 1000, 100)], window=4
            )
        ids = accepted_ids([r for batch in batches for r in batch])
        sent = dict(zip(ids, messages, strict=True))
        # Whatever the late client was told "accepted" must be delivered too; the rest is
        # refused (shutting_down) or cut off with the connection.
        late: list[tuple[str, dict]] = []
        refused: list[str] = []

        def keep_submitting() -> None:
            try:
                with Client(files.socket, timeout=10) as c:
                    for i in range(1000, 1500):
                        m = message(i)
                        try:
                            late.append((c.submit(m)["id"], m))
                        except GatewayError as exc:
                            refused.append(exc.code)
                            return
            except (OSError, GatewayConnectionError) as exc:
                cut_off.append(repr(exc))

        cut_off: list[str] = []
        submitter = threading.Thread(target=keep_submitting, daemon=True)
        submitter.start()
        time.sleep(0.3)  # the stream is going, and the late submitter too
        took = stop_daemon(daemon, files.socket)
        submitter.join(10)
        assert not submitter.is_alive()
        sent.update(late)
        numbers: dict[str, object] = {
            "stop_seconds": round(took, 3), "late_accepted": len(late), "refused": refused,
            "cut_off": cut_off,
        }
        again = start_daemon(procs, files)
        wait_ready(again, files.socket)
        statuses = wait_settled(files.socket, list(sent), timeout=30)
        stop_daemon(again, files.socket)
        stop_simulator(sim)
        yield Outcome(statuses, read_export(export), sent, numbers)


def test_sigterm_under_load_exits_0_in_time_and_loses_nothing(
    sigterm_under_load: Outcome, record_property
):
    outcome = sigterm_under_load
    duplicates = outcome.received.duplicates()
    for key, value in {**outcome.numbers, "duplicates": duplicates, **outcome.states()}.items():
        record_property(key, value)
    print(f"SIGTERM under load: {outcome.numbers}, {duplicates} duplicates, {outcome.states()}")
    assert set(outcome.numbers["refused"]) <= {"shutting_down"}  # type: ignore[arg-type]
    outcome.check_reached_the_operator()
    # Messages left "submitted" (their receipt was on the wire at the stop) are the
    # RECEIPT_REDELIVERY_BUG; here it happens in some runs only (0 to 7 seen), so it is
    # recorded; test_receipts_on_the_wire_at_a_kill_9_... shows it deterministically.
    record_property("stuck_submitted", outcome.states().get("submitted", 0))
    # A graceful stop waits for every answer in the windows: nothing is sent twice.
    assert duplicates == 0


def test_sigterm_a_client_submitting_through_the_stop_is_answered_not_cut_off(
    sigterm_under_load: Outcome,
):
    outcome = sigterm_under_load
    assert outcome.numbers["cut_off"] == [], outcome.numbers
    assert outcome.unconfirmed() == []


# --------------------------------------------------------------------------------------------
# 3. Bad configuration files: exit 2, a message naming the file and the key, no traceback

def _bad_configs(base: Path) -> dict[str, tuple[Path, list[str]]]:
    good = write_config(base, 1).config.read_text()
    cases: dict[str, tuple[Path, list[str]]] = {}

    def case(name: str, text: str | None, expect: list[str]) -> None:
        path = base / f"{name}.toml"
        if text is not None:
            path.write_text(text)
        cases[name] = (path, [str(path), *expect])

    case("missing", None, [])
    cases["directory"] = (base, [str(base)])
    case("syntax", good.replace("[metrics]", "[metrics"), [])
    case("unknown_key", good.replace("[logging]\n", '[logging]\ncolour = "red"\n'),
         ["logging.colour"])
    case("wrong_type", good.replace("map_size_mb = 16", 'map_size_mb = "big"'),
         ["gateway.map_size_mb"])
    case("no_operators", good.split("[[operators]]")[0] + '[[accounts]]\nname = "demo"\n',
         ["operators"])
    return cases


BAD_CONFIG_CASES = ["missing", "directory", "syntax", "unknown_key", "wrong_type", "no_operators"]


@pytest.mark.parametrize("name", BAD_CONFIG_CASES)
def test_a_bad_configuration_exits_2_with_the_file_and_key_and_no_traceback(
    procs: Processes, name: str
):
    path, expect = _bad_configs(procs.base)[name]
    rc, out, err = procs.run("daemon", ["-m", "gateway", "run", "--config", str(path)], timeout=20)
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err, err
    for needle in expect:
        assert needle in err, (needle, err)
    assert out == ""  # nothing was started, so nothing was logged


# --------------------------------------------------------------------------------------------
# 4. Resources the daemon cannot use: exit 1, one line, no traceback


def _expect_cannot_start(procs: Processes, config: Path, **kw) -> str:
    rc, out, err = procs.run(
        "daemon", ["-m", "gateway", "run", "--config", str(config)], timeout=20, **kw
    )
    lines = err.strip().splitlines()
    assert rc == 1, (rc, out[-1500:], err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1 and lines[0].startswith("gateway: cannot start: "), err[-3000:]
    return lines[0]


def test_a_file_where_the_data_dir_should_be_exits_1(procs: Processes):
    blocker = procs.base / "data"
    blocker.write_text("not a directory")
    files = write_config(procs.base, 1)
    line = _expect_cannot_start(procs, files.config)
    assert str(blocker) in line


def test_a_data_dir_that_cannot_be_written_exits_1(procs: Processes):
    files = write_config(procs.base, 1)
    files.data_dir.mkdir()
    files.data_dir.chmod(0o555)
    wrapper: list[str] = []
    if os.geteuid() == 0:
        # root writes anyway: run the daemon without CAP_DAC_OVERRIDE (dropping to another
        # user would not do, as the interpreter lives under /root)
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and util-linux setpriv is missing: cannot drop "
                        "CAP_DAC_OVERRIDE, so no directory is unwritable")
        wrapper = [setpriv, "--bounding-set", "-dac_override", "--inh-caps", "-dac_override"]
    line = _expect_cannot_start(procs, files.config, wrapper=wrapper)
    assert str(files.data_dir) in line


def test_a_socket_whose_parent_is_a_file_exits_1(procs: Processes):
    parent = procs.base / "afile"
    parent.write_text("")
    files = write_config(procs.base, 1, gateway={"socket": str(parent / "gw.sock")})
    line = _expect_cannot_start(procs, files.config)
    assert str(parent) in line


def test_a_metrics_port_in_use_exits_1(procs: Processes):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        files = write_config(procs.base, 1, metrics=f"127.0.0.1:{port}")
        line = _expect_cannot_start(procs, files.config)
    # The message does not say which address ("[Errno 98] Address already in use"): an
    # operator has to guess it is the metrics port. Checked loosely on purpose.
    assert "Address already in use" in line
    assert not files.socket.exists()


# --------------------------------------------------------------------------------------------
# 5. The CLI against a running daemon


def test_the_cli_sends_follows_and_reports_errors_with_its_exit_codes(procs: Processes):
    _sim, port = start_simulator(procs)
    files = write_config(procs.base, port)
    daemon = start_daemon(procs, files)
    wait_ready(daemon, files.socket)
    wait_bound(files.socket)
    sock = ["--socket", str(files.socket)]

    rc, out, err = procs.run(
        "send",
        ["-m", "gateway", "send", *sock, "--to", "+33612345678", "--from", "DEMO",
         "--text", "Bonjour"],
        timeout=20,
    )
    assert rc == 0, (out, err)
    first = out.splitlines()[0].split()
    message_id = first[0]
    assert message_id.isdigit() and first[1] == "queued", out
    assert out.splitlines()[-1] == f"{message_id} delivered", out

    rc, out, err = procs.run("status", ["-m", "gateway", "status", *sock, message_id], timeout=20)
    assert rc == 0, err
    status = json.loads(out)
    assert status["state"] == "delivered" and status["to"] == "+33612345678", status
    assert [p["state"] for p in status["parts"]] == ["delivered"]

    rc, out, err = procs.run(
        "send-bad",
        ["-m", "gateway", "send", *sock, "--to", "12", "--from", "DEMO", "--text", "x"],
        timeout=20,
    )
    assert rc == 1, (out, err)
    assert "invalid_number: " in err and "Traceback" not in err, err

    nobody = procs.base / "nobody.sock"
    rc, out, err = procs.run(
        "status-dead", ["-m", "gateway", "status", "--socket", str(nobody), "1"], timeout=20
    )
    assert rc == 3, (out, err)
    assert str(nobody) in err and "Traceback" not in err, err

    # tail: the kept events first, then it follows; stopped with ^C (SIGINT), as a person would.
    tail = procs.start("tail", ["-m", "gateway", "tail", *sock, "--since", ""])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and tail.stdout().count("\n") < 3 and tail.poll() is None:
        time.sleep(0.05)
    tail.send(signal.SIGINT)
    rc, _ = wait_exit(tail, 10)
    assert rc == 130, tail.describe()
    events = [json.loads(line) for line in tail.stdout().splitlines()]
    mine = [
        (e["event"], e.get("state") or e.get("stat")) for e in events if e.get("id") == message_id
    ]
    assert mine == [("status", "submitted"), ("receipt", "DELIVRD"), ("status", "delivered")]
    assert all(e.get("cursor") for e in events)
    stop_daemon(daemon, files.socket)


def test_tail_shows_the_kept_events_before_any_new_one_arrives(procs: Processes):
    """Without PYTHONUNBUFFERED and with stdout a pipe or file (``gateway tail | jq``), the
    backlog must still show up while tail waits for live events."""
    _sim, port = start_simulator(procs)
    files = write_config(procs.base, port)
    daemon = start_daemon(procs, files)
    wait_ready(daemon, files.socket)
    with Client(files.socket, timeout=10) as client:
        reply = client.submit(message(1))
    wait_final(files.socket, [reply["id"]], timeout=10)
    env = child_env()
    del env["PYTHONUNBUFFERED"]
    tail = procs.start(
        "tail", ["-m", "gateway", "tail", "--socket", str(files.socket), "--since", ""], env=env
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and tail.stdout().count("\n") < 3:
        time.sleep(0.05)
    shown = tail.stdout()
    tail.send(signal.SIGINT)
    wait_exit(tail, 10)
    assert shown.count("\n") >= 3, f"nothing shown while tail was running: {shown!r}"


# --------------------------------------------------------------------------------------------
# 6. systemd notify


def test_sd_notify_ready_watchdog_and_stopping(procs: Processes):
    _sim, port = start_simulator(procs)
    files = write_config(procs.base, port)
    with notify_socket(procs.base) as (notify, address):
        env = child_env(NOTIFY_SOCKET=address, WATCHDOG_USEC="200000")
        daemon = start_daemon(procs, files, env=env)
        got: list[str] = []
        deadline = time.monotonic() + 20
        while not any("READY=1" in g for g in got):
            assert time.monotonic() < deadline, (got, daemon.describe())
            assert daemon.poll() is None, daemon.describe()
            got += receive_datagrams(notify, min(deadline, time.monotonic() + 0.2))
        # READY=1 means serving: the socket answers right away.
        with Client(files.socket, timeout=5) as client:
            client.health()
        got += receive_datagrams(notify, time.monotonic() + 1.0)
        pings = sum(g == "WATCHDOG=1" for g in got)
        assert pings >= 4, got  # every 0.1 s (half of WATCHDOG_USEC): about 10 in 1 s
        daemon.send(signal.SIGTERM)
        rc, _ = wait_exit(daemon, GRACE + 2)
        got += receive_datagrams(notify, time.monotonic() + 0.2)
    assert rc == 0, daemon.describe()
    ready = [g for g in got if "READY=1" in g]
    assert len(ready) == 1, got
    assert "STOPPING=1" in got, got
    assert got.index(ready[0]) < got.index("STOPPING=1")
    # Pings may go on while the daemon drains: it is alive, and systemd's stop timeout (not the
    # watchdog) governs a stopping service.


def test_the_simulator_survives_a_peer_that_resets_its_connection(procs: Processes):
    sim, port = start_simulator(procs)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as peer:
        # close() with SO_LINGER 0 sends RST, as a killed process with unread data does
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.2)  # the simulator's reader is waiting in recv
    time.sleep(0.5)
    assert sim.poll() is None, sim.describe()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    stop_simulator(sim)


def test_the_simulator_process_starts_on_port_0_and_stops_on_sigterm(procs: Processes):
    """The helper's own contract (it underlies every test above)."""
    sim, port = start_simulator(procs)
    assert port > 0
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    stop_simulator(sim)
    assert "simulator: stopped;" in sim.stdout()


def test_no_test_here_leaves_a_process_behind(procs: Processes):
    """The fixture kills what a test started, even a process that ignores SIGTERM."""
    proc = procs.start(
        "stubborn",
        ["-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('up', flush=True); time.sleep(60)"],
    )
    deadline = time.monotonic() + 10
    while "up" not in proc.stdout():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    procs.kill_all()
    assert proc.poll() == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)

