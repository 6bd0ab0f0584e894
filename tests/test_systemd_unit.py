"""The shipped systemd unit: what the daemon relies on is there (the notify protocol, the state
and socket directories it writes, a stop that lets the graceful drain finish)."""

import configparser

from tests.conftest import ROOT

UNIT = ROOT / "systemd" / "gateway.service"


def load() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_the_unit_runs_the_daemon_with_notify_and_watchdog():
    service = load()["Service"]
    assert service["Type"] == "notify"
    assert "-m gateway run --config /etc/gateway/gateway.toml" in service["ExecStart"]
    assert int(service["WatchdogSec"]) > 0
    assert service["KillSignal"] == "SIGTERM"


def test_state_and_socket_directories_match_the_documented_config():
    service = load()["Service"]
    assert service["StateDirectory"] == "gateway"  # /var/lib/gateway: data_dir
    assert service["RuntimeDirectory"] == "gateway"  # /run/gateway: the socket
    text = UNIT.read_text(encoding="utf-8")
    assert 'socket = "/run/gateway/gateway.sock"' in text
    assert 'data_dir = "/var/lib/gateway"' in text


def test_the_stop_timeout_outlasts_the_default_grace():
    from gateway.config import GatewayConfig

    service = load()["Service"]
    assert float(service["TimeoutStopSec"]) > GatewayConfig().shutdown_grace_s


def test_hardening_is_on():
    service = load()["Service"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    }.items():
        assert service[key] == value, key
