"""Real processes for the process-level tests: the daemon (``python -m gateway run``) and the
bundled simulator (``python -m gateway.smpp.simulator``), over loopback and a Unix socket in a
short temporary directory (socket paths are limited to 107 bytes).

Every process is started in its own session, with stdout and stderr going to files (a pipe
nobody reads could block it), and is registered with a :class:`Processes` set that the tests'
fixture kills at teardown: no test leaves a process behind, whatever fails. Every wait here
has an absolute deadline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import codec
from gateway.api.protocol import ClientConnection
from gateway.client import Client, GatewayConnectionError

#: The repository the daemon is run from (its ``gateway`` package is the one under test).
REPO = Path(__file__).resolve().parent.parent

#: The environment variables systemd sets: never inherited from whoever runs the tests.
SYSTEMD_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")

LISTENING = re.compile(r"simulator: listening on ([0-9.]+):(\d+)")


def short_dir(prefix: str = "gwp") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# Processes


@dataclass
class Proc:
    """One child process; its output is in ``<base>/<name>.out`` and ``.err``."""

    name: str
    popen: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float) -> int:
        """The exit code; raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        return self.popen.wait(timeout)

    def send(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process (and its session's group, which it leads) and reap it."""
        if self.popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines on stdout (anything else is skipped)."""
        events = []
        for line in self.stdout().splitlines():
            with suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    events.append(item)
        return events

    def describe(self) -> str:
        return (
            f"{self.name} (pid {self.pid}, rc {self.popen.poll()})\n--- stdout ---\n"
            f"{self.stdout()[-3000:]}\n--- stderr ---\n{self.stderr()[-3000:]}"
        )


class Processes:
    """The children of one test, all killed by :meth:`kill_all` (the fixture's teardown)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.procs: list[Proc] = []
        self._counter = 0

    def start(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        wrapper: Sequence[str] = (),
    ) -> Proc:
        self._counter += 1
        stem = f"{self._counter:02d}-{name}"
        out_path = self.base / f"{stem}.out"
        err_path = self.base / f"{stem}.err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            popen = subprocess.Popen(
                [*wrapper, sys.executable, *args],
                cwd=REPO,
                env=env if env is not None else child_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        proc = Proc(name, popen, out_path, err_path)
        self.procs.append(proc)
        return proc

    def run(
        self, name: str, args: Sequence[str], *, timeout: float, **kw: Any
    ) -> tuple[int, str, str]:
        """Start, wait at most ``timeout`` s (then kill: a hang fails the test), and return
        (exit code, stdout, stderr)."""
        proc = self.start(name, args, **kw)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"{name} hung: {timeout} s\n{proc.describe()}") from None
        return rc, proc.stdout(), proc.stderr()

    def kill_all(self) -> None:
        for proc in self.procs:
            proc.kill()


@contextmanager
def processes() -> Iterator[Processes]:
    """A short temporary directory and the processes started in it; both gone on exit."""
    base = short_dir()
    procs = Processes(base)
    try:
        yield procs
    finally:
        procs.kill_all()
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Configuration


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML spelling for {value!r}")


def toml_table(header: str, values: dict[str, Any]) -> str:
    return header + "\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items()) + "\n"


@dataclass
class GatewayFiles:
    """Where one daemon's configuration, socket and data live."""

    base: Path
    sim_port: int
    config: Path
    socket: Path
    data_dir: Path


def write_config(
    base: Path,
    sim_port: int,
    *,
    name: str = "gateway.toml",
    gateway: dict[str, Any] | None = None,
    metrics: str = "",
    operator: dict[str, Any] | None = None,
    logging_level: str = "info",
) -> GatewayFiles:
    socket_path = base / "gw.sock"
    data_dir = base / "data"
    gw = {
        "socket": str(socket_path),
        "data_dir": str(data_dir),
        "map_size_mb": 16,
        "shutdown_grace_s": 3,
        **(gateway or {}),
    }
    op = {
        "name": "sim",
        "host": "127.0.0.1",
        "port": sim_port,
        "system_id": "gateway",
        "password": "secret",
        "window": 50,
        "tps": 5000,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.2,
        **(operator or {}),
    }
    text = (
        toml_table("[gateway]", gw)
        + toml_table("[logging]", {"format": "json", "level": logging_level})
        + toml_table("[metrics]", {"listen": metrics})
        + toml_table("[[operators]]", op)
        + toml_table("[[accounts]]", {"name": "demo"})
    )
    path = base / name
    path.write_text(text, encoding="utf-8")
    return GatewayFiles(base, sim_port, path, Path(str(gw["socket"])), Path(str(gw["data_dir"])))


# --------------------------------------------------------------------------------------------
# Starting and waiting


def start_simulator(
    procs: Processes,
    port: int = 0,
    *,
    export: Path | None = None,
    receipt_delay: float = 0.05,
    extra: Sequence[str] = (),
    timeout: float = 10.0,
) -> tuple[Proc, int]:
    args = ["-m", "gateway.smpp.simulator", "--port", str(port)]
    args += ["--receipt-delay", str(receipt_delay)]
    if export is not None:
        args += ["--export", str(export)]
    proc = procs.start("simulator", [*args, *extra])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = LISTENING.search(proc.stdout())
        if found:
            return proc, int(found.group(2))
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"the simulator did not start listening\n{proc.describe()}")


def stop_simulator(proc: Proc, timeout: float = 10.0) -> None:
    """SIGTERM (the export file is flushed and closed) and check it exited cleanly."""
    proc.send(signal.SIGTERM)
    rc = proc.wait(timeout)
    assert rc == 0, proc.describe()


def start_daemon(
    procs: Processes, files: GatewayFiles, *, env: dict[str, str] | None = None
) -> Proc:
    return procs.start("daemon", ["-m", "gateway", "run", "--config", str(files.config)], env=env)


def wait_ready(proc: Proc, socket_path: Path, timeout: float = 20.0) -> float:
    """Wait until the daemon answers ``health`` on its socket; returns the seconds it took."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the daemon exited before serving\n{proc.describe()}")
        if socket_path.exists():
            try:
                with Client(socket_path, timeout=2.0) as client:
                    client.health()
                return time.monotonic() - proc.started
            except (OSError, GatewayConnectionError):
                pass
        time.sleep(0.02)
    raise AssertionError(f"the daemon did not serve within {timeout} s\n{proc.describe()}")


def wait_bound(socket_path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    with Client(socket_path, timeout=5.0) as client:
        while time.monotonic() < deadline:
            health = client.health()
            if health["operators"] and all(op.get("bound") for op in health["operators"]):
                return
            time.sleep(0.02)
    raise AssertionError(f"the daemon's operators did not bind within {timeout} s: {health}")


def wait_exit(proc: Proc, timeout: float) -> tuple[int, float]:
    """(exit code, seconds since this call) or an AssertionError with the logs."""
    t0 = time.monotonic()
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"no exit within {timeout} s\n{proc.describe()}") from None
    return rc, time.monotonic() - t0


def status_events(client: Client, cursor: str = "") -> tuple[list[dict[str, Any]], str]:
    """Every kept ``status`` event after ``cursor`` and the new cursor."""
    out: list[dict[str, Any]] = []
    while True:
        page = client.events_since(cursor, limit=10_000, events=["status"])
        out += page["events"]
        cursor = page["cursor"]
        if not page["more"]:
            return out, cursor


FINAL = frozenset({"delivered", "failed", "expired", "rejected"})


def wait_final(socket_path: Path, ids: Iterable[str], timeout: float) -> dict[str, dict]:
    """Wait until every id is in a final state, following the event log (cheap), then read
    each one's ``status`` (authoritative). Returns id -> status."""
    wanted = set(ids)
    done: set[str] = set()
    deadline = time.monotonic() + timeout
    cursor = ""
    with Client(socket_path, timeout=10.0) as client:
        while True:
            events, cursor = status_events(client, cursor)
            done |= {e["id"] for e in events if e["state"] in FINAL and e["id"] in wanted}
            if done >= wanted:
                break
            if time.monotonic() > deadline:
                # the log is only a hint: ask for the status of what it did not show
                late = {i: client.status(i)["state"] for i in sorted(wanted - done)[:20]}
                raise AssertionError(
                    f"{len(wanted - done)} of {len(wanted)} not final after {timeout} s; "
                    f"some of them: {late}"
                )
            time.sleep(0.05)
        return {i: client.status(i) for i in wanted}


def wait_settled(
    socket_path: Path, ids: Iterable[str], timeout: float, quiet: float = 1.5
) -> dict[str, dict]:
    """Wait until every id is final, or has at least been submitted and no status event came
    for ``quiet`` seconds (the simulator's receipts come 0.05 s after a submit, so whatever is
    still "submitted" then waits for a receipt that is not coming). Returns id -> status."""
    wanted = set(ids)
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    cursor = ""
    last_change = time.monotonic()
    with Client(socket_path, timeout=10.0) as client:
        while True:
            events, cursor = status_events(client, cursor)
            for e in events:
                if e["id"] in wanted:
                    seen[e["id"]] = e["state"]
                    last_change = time.monotonic()
            final = sum(state in FINAL for state in seen.values())
            if final == len(wanted):
                break
            if len(seen) == len(wanted) and time.monotonic() - last_change > quiet:
                break
            if time.monotonic() > deadline:
                late = {i: client.status(i)["state"] for i in sorted(wanted - set(seen))[:20]}
                raise AssertionError(
                    f"{len(wanted) - len(seen)} of {len(wanted)} never even submitted after "
                    f"{timeout} s; {final} final; some of them: {late}"
                )
            time.sleep(0.05)
        return {i: client.status(i) for i in wanted}


def count_delivered(client: Client, cursor: str, seen: set[str]) -> str:
    events, cursor = status_events(client, cursor)
    seen.update(e["id"] for e in events if e["state"] == "delivered")
    return cursor


# --------------------------------------------------------------------------------------------
# Messages


def message(i: int, **fields: Any) -> dict[str, Any]:
    """A one-part GSM-7 message to a destination of its own, with a text naming it."""
    base = {
        "account": "demo",
        "to": f"+3361{i:07d}",
        "from": "DEMO",
        "text": f"Message {i:05d}: votre code est {i * 7919 % 1000000:06d}",
    }
    base.update(fields)
    return base


def destination(m: dict[str, Any]) -> str:
    """``to`` as the simulator sees it (E.164 digits, no plus)."""
    return str(m["to"]).lstrip("+")


def submit_pipelined(socket_path: Path, messages: Sequence[dict[str, Any]], timeout: float) -> list:
    """Write one ``submit`` request per message back to back, then read every reply (the
    protocol's pipelining); returns the reply bodies in request order."""
    conn = ClientConnection()
    seqs = [conn.send_request("submit", m) for m in messages]
    replies: dict[int | None, Any] = {}
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(conn.data_to_send())
        while len(replies) < len(seqs):
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(replies)} of {len(seqs)} replies")
            data = sock.recv(65536)
            if not data:
                raise AssertionError(f"connection closed after {len(replies)} replies")
            for item in conn.receive_data(data):
                replies[item.seq] = item.body
    return [replies[s] for s in seqs]


@dataclass
class Received:
    """What the simulator's ``--export`` file says it accepted."""

    #: destination -> every text received for it (one per submit_sm: the tests send one part)
    texts: dict[str, list[str]]
    total: int

    def duplicates(self) -> int:
        return sum(len(v) - 1 for v in self.texts.values())


def read_export(path: Path) -> Received:
    texts: dict[str, list[str]] = {}
    total = 0
    if not path.exists():
        return Received(texts, 0)
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        decoded = codec.decode(
            bytes.fromhex(item["short_message"]),
            item["data_coding"],
            udhi=bool(item["esm_class"] & 0x40),
        )
        texts.setdefault(item["destination"], []).append(decoded.text)
        total += 1
    return Received(texts, total)


@contextmanager
def notify_socket(base: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound Unix datagram socket for $NOTIFY_SOCKET, as systemd provides."""
    path = base / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(str(path))
        yield sock, str(path)
    finally:
        sock.close()


def receive_datagrams(sock: socket.socket, until: float) -> list[str]:
    """Every datagram that arrives before the monotonic time ``until``."""
    got = []
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return got
        sock.settimeout(left)
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            return got


__all__ = [
    "FINAL",
    "REPO",
    "GatewayFiles",
    "Proc",
    "Processes",
    "Received",
    "child_env",
    "count_delivered",
    "destination",
    "free_port",
    "message",
    "notify_socket",
    "processes",
    "read_export",
    "receive_datagrams",
    "short_dir",
    "start_daemon",
    "start_simulator",
    "status_events",
    "stop_simulator",
    "submit_pipelined",
    "wait_bound",
    "wait_exit",
    "wait_final",
    "wait_ready",
    "wait_settled",
    "write_config",
]
