"""The real daemon and the real simulator in one trio run, over loopback TCP and a Unix socket
in a short temporary directory (socket paths are limited to 107 bytes)."""

from __future__ import annotations

import shutil
import socket
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from gateway.client import AsyncClient, open_client
from gateway.config import Config, parse_config
from gateway.daemon import Daemon, serve
from gateway.smpp.simulator import Simulator, SimulatorConfig


def short_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="gw", dir="/tmp"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(
    base: Path,
    sim_port: int,
    *,
    operators: list[dict[str, Any]] | None = None,
    operator: dict[str, Any] | None = None,
    gateway: dict[str, Any] | None = None,
    metrics: str = "",
    accounts: tuple[str | dict[str, Any], ...] = ("demo", "shop2"),
    routing: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Config:
    data: dict[str, Any] = {
        "gateway": {
            "socket": str(base / "gw.sock"),
            "data_dir": str(base / "data"),
            "map_size_mb": 16,
            "shutdown_grace_s": 2.0,
            **(gateway or {}),
        },
        "logging": {"format": "json", "level": "warning"},
        "metrics": {"listen": metrics},
        "operators": operators
        or [
            {
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
        ],
        "accounts": [{"name": a} if isinstance(a, str) else a for a in accounts],
        **(extra or {}),
    }
    if routing:
        data["routing"] = routing
    return parse_config(data, source="test")


@dataclass
class Running:
    daemon: Daemon
    sim: Simulator
    socket: Path
    base: Path
    config: Config

    @asynccontextmanager
    async def client(self):
        async with open_client(self.socket) as client:
            yield client


@asynccontextmanager
async def running(
    sim_config: SimulatorConfig | None = None,
    *,
    base: Path | None = None,
    wall_at_start: float | None = None,
    **config_kw: Any,
):
    """Start the simulator and the daemon; stop both (the daemon gracefully) on exit."""
    base = base or short_dir()
    sim = Simulator(sim_config or SimulatorConfig(port=0, receipt_delay=0.05, record=True))
    try:
        async with trio.open_nursery() as nursery:
            sim_port = await nursery.start(sim.serve)
            config = make_config(base, sim_port, **config_kw)
            done = trio.Event()

            async def run_daemon(task_status=trio.TASK_STATUS_IGNORED):
                try:
                    await serve(config, wall_at_start=wall_at_start, task_status=task_status)
                finally:
                    done.set()

            daemon: Daemon = await nursery.start(run_daemon)
            try:
                yield Running(daemon, sim, Path(config.gateway.socket), base, config)
            finally:
                daemon.stop()
                with trio.fail_after(15):  # the graceful stop, then the simulator goes
                    await done.wait()
                nursery.cancel_scope.cancel()
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def wait_bound(daemon: Daemon, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not all(op.bound_links for op in daemon.operators.values()):
            await trio.sleep(0.01)


async def wait_state(
    client: AsyncClient, message_id: str, states: set[str], timeout: float = 10.0
) -> dict:
    with trio.fail_after(timeout):
        while True:
            status = await client.status(message_id)
            if status["state"] in states:
                return status
            await trio.sleep(0.02)


def message(i: int = 0, **fields: Any) -> dict[str, Any]:
    base = {
        "account": "demo",
        "to": f"+336{10000000 + i:08d}",
        "from": "DEMO",
        "text": f"Bonjour, votre code est {i:06d}",
    }
    base.update(fields)
    return base
