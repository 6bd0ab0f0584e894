"""gateway.config: the shipped files load, defaults, and every rule's message names file and key."""

import copy
import dataclasses
import os
import sys

import pytest

from gateway.config import (
    MAX_SOCKET_PATH_BYTES,
    BindStyle,
    Config,
    ConfigError,
    LogFormat,
    LogLevel,
    load_config,
    parse_config,
)
from gateway.smpp.client import LinkSettings
from gateway.smpp.events import BindMode
from gateway.smpp.receipts import IdFormat
from tests.conftest import ROOT

SRC = "x.toml"

MINIMAL = {
    "operators": [
        {"name": "op", "host": "smsc.example", "system_id": "gw", "password": "pw", "tps": 100}
    ],
    "accounts": [{"name": "demo"}],
}


def data(**sections):
    """MINIMAL with sections replaced (None removes one)."""
    d = copy.deepcopy(MINIMAL)
    for key, value in sections.items():
        if value is None:
            d.pop(key, None)
        else:
            d[key] = value
    return d


def op(**keys):
    """One operator table: MINIMAL's, with keys replaced (None removes one)."""
    table = dict(MINIMAL["operators"][0])
    for key, value in keys.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return table


def problems(d) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(d, source=SRC)
    lines = str(info.value).split("\n")
    assert lines == [str(p) for p in info.value.problems]
    assert all(line.startswith(f"{SRC}: ") for line in lines)
    return lines


def one_problem(d) -> str:
    lines = problems(d)
    assert len(lines) == 1, lines
    return lines[0]


# ------------------------------------------------------------------------------------------
# Shipped files


@pytest.mark.parametrize("name", ["gateway.toml", "production.example.toml"])
def test_shipped_files_load(name):
    cfg = load_config(ROOT / "config" / name)
    assert isinstance(cfg, Config)
    assert cfg.source == str(ROOT / "config" / name)
    assert cfg.operators and cfg.accounts
    for operator in cfg.operators:
        for mode in operator.bind_modes():
            assert isinstance(operator.link_settings(mode), LinkSettings)


def test_embedded_default_file():
    cfg = load_config(ROOT / "config" / "gateway.toml")
    assert cfg.gateway.socket == "var/gateway.sock"
    assert cfg.gateway.data_dir == "var/data"
    assert (cfg.metrics.host, cfg.metrics.port) == ("127.0.0.1", 9464)
    assert cfg.logging.format is LogFormat.AUTO
    [sim] = cfg.operators
    assert (sim.name, sim.host, sim.port) == ("sim", "127.0.0.1", 2775)
    assert (sim.system_id, sim.password) == ("gateway", "secret")
    assert (sim.binds, sim.window, sim.tps) == (1, 100, 5000.0)
    assert sim.route_prefixes() == ("",)
    assert [a.name for a in cfg.accounts] == ["demo"]


def test_production_example_shows_every_option():
    """Every key of every section appears in the example (so it documents them all)."""
    text = (ROOT / "config" / "production.example.toml").read_text()
    from gateway.config import LISTS, SECTIONS, _specs

    for cls, *_ in [*SECTIONS.values(), *LISTS.values()]:
        for key in _specs(cls):
            assert f"\n{key} = " in text, key
    cfg = load_config(ROOT / "config" / "production.example.toml")
    assert len(cfg.operators) >= 2 and len(cfg.accounts) >= 2
    assert any(o.tls for o in cfg.operators)
    assert sum(o.is_default_route for o in cfg.operators) == 1


# ------------------------------------------------------------------------------------------
# Defaults


def test_defaults():
    cfg = parse_config(MINIMAL, source=SRC)
    g = cfg.gateway
    assert g.socket == "var/gateway.sock"
    assert g.data_dir == "var/data"
    assert g.socket_mode == "0660" and g.socket_permissions == 0o660
    assert g.map_size_mb == 1024
    assert g.commit_interval_ms == 2.0
    assert g.commit_batch == 2000
    assert g.retention_days == 7.0
    assert g.default_validity_s == 172_800
    assert g.max_validity_s == 604_800
    assert g.max_frame_bytes == 1 << 20
    assert g.max_batch == 10_000
    assert g.subscriber_queue == 10_000
    assert g.shutdown_grace_s == 10.0
    assert g.default_region == "FR"
    assert cfg.logging.format is LogFormat.AUTO
    assert cfg.logging.level is LogLevel.INFO
    assert cfg.metrics.listen == "127.0.0.1:9464"
    assert (cfg.metrics.host, cfg.metrics.port, cfg.metrics.enabled) == ("127.0.0.1", 9464, True)
    assert cfg.routing.failover is False
    [o] = cfg.operators
    assert o.port == 2775
    assert o.system_type == ""
    assert o.binds == 1
    assert o.bind_mode is BindStyle.TRANSCEIVER
    assert o.window == 50
    assert o.burst == 10.0
    assert o.route_prefixes() == ("",) and o.is_default_route
    assert o.id_format is IdFormat.AS_IS and o.receipt_id_format is IdFormat.AS_IS
    assert (o.response_timeout_s, o.enquire_link_s) == (10.0, 30.0)
    assert (o.connect_timeout_s, o.bind_timeout_s) == (10.0, 10.0)
    assert (o.reconnect_initial_s, o.reconnect_max_s) == (1.0, 60.0)
    assert (o.throttle_initial_s, o.throttle_max_s) == (0.5, 30.0)
    assert (o.max_attempts, o.queue_size) == (5, 1000)
    assert (o.tls, o.tls_verify, o.tls_ca_file) == (False, True, "")
    assert cfg.source == SRC


def test_dataclasses_are_frozen_slotted_kw_only():
    cfg = parse_config(MINIMAL, source=SRC)
    for obj in (cfg, cfg.gateway, cfg.logging, cfg.metrics, cfg.routing, *cfg.operators,
                *cfg.accounts):
        fields = dataclasses.fields(obj)
        assert all(f.kw_only for f in fields)
        assert hasattr(type(obj), "__slots__") and not hasattr(obj, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, fields[0].name, "y")


@pytest.mark.parametrize(
    ("tps", "burst"), [(100, 10.0), (5, 1.0), (0.5, 1.0), (25, 2.5)]
)
def test_burst_default_is_a_tenth_of_tps_at_least_one(tps, burst):
    cfg = parse_config(data(operators=[op(tps=tps)]), source=SRC)
    assert cfg.operators[0].burst == burst


def test_explicit_burst_and_ints_as_floats():
    cfg = parse_config(
        data(operators=[op(tps=7, burst=3, response_timeout_s=2)], gateway={"retention_days": 1}),
        source=SRC,
    )
    o = cfg.operators[0]
    assert o.burst == 3.0 and isinstance(o.burst, float)
    assert isinstance(o.tps, float) and isinstance(o.response_timeout_s, float)
    assert cfg.gateway.retention_days == 1.0 and isinstance(cfg.gateway.retention_days, float)


@pytest.mark.parametrize(("written", "fmt"), [("as-is", IdFormat.AS_IS), ("as_is", IdFormat.AS_IS),
                                             ("hex", IdFormat.HEX), ("decimal", IdFormat.DECIMAL)])
def test_id_formats(written, fmt):
    o = parse_config(data(operators=[op(id_format=written, receipt_id_format=written)]),
                     source=SRC).operators[0]
    assert o.id_format is fmt and o.receipt_id_format is fmt


@pytest.mark.parametrize(("written", "mode"), [("0660", 0o660), ("600", 0o600), ("0777", 0o777)])
def test_socket_mode(written, mode):
    g = parse_config(data(gateway={"socket_mode": written}), source=SRC).gateway
    assert (g.socket_mode, g.socket_permissions) == (written, mode)


def test_metrics_disabled_and_ipv6():
    off = parse_config(data(metrics={"listen": ""}), source=SRC).metrics
    assert (off.host, off.port, off.enabled) == (None, None, False)
    v6 = parse_config(data(metrics={"listen": "[::1]:9464"}), source=SRC).metrics
    assert (v6.host, v6.port) == ("::1", 9464)
    named = parse_config(data(metrics={"listen": "localhost:1"}), source=SRC).metrics
    assert (named.host, named.port) == ("localhost", 1)


def test_paths_stay_as_given():
    cfg = parse_config(data(gateway={"socket": "rel/s.sock", "data_dir": "../d"}), source=SRC)
    assert (cfg.gateway.socket, cfg.gateway.data_dir) == ("rel/s.sock", "../d")


def test_lookup_helpers():
    cfg = parse_config(data(accounts=[{"name": "a"}, {"name": "b"}]), source=SRC)
    assert cfg.operator("op").name == "op"
    assert cfg.account("b").name == "b"
    with pytest.raises(KeyError):
        cfg.operator("nope")


# ------------------------------------------------------------------------------------------
# Routes


def test_prefixes_and_default_route():
    cfg = parse_config(
        data(operators=[op(name="a", prefixes=["+33", "+262"]),
                        op(name="b", prefixes=["", "+33"])]),
        source=SRC,
    )
    a, b = cfg.operators
    assert a.route_prefixes() == ("+33", "+262") and not a.is_default_route
    assert b.route_prefixes() == ("", "+33") and b.is_default_route


@pytest.mark.parametrize("prefixes", [None, "", [""]])
def test_default_route_spellings(prefixes):
    assert parse_config(data(operators=[op(prefixes=prefixes)]), source=SRC).operators[
        0
    ].route_prefixes() == ("",)


def test_same_prefix_on_two_operators_is_allowed_in_file_order():
    cfg = parse_config(
        data(operators=[op(name="a", prefixes=["+33"]), op(name="b", prefixes=["+33"])]),
        source=SRC,
    )
    assert [o.name for o in cfg.operators] == ["a", "b"]


def test_no_default_route_is_allowed():
    parse_config(data(operators=[op(prefixes=["+33"])]), source=SRC)


def test_two_default_routes():
    assert one_problem(data(operators=[op(name="a"), op(name="b", prefixes=[""])])) == (
        f'{SRC}: operators[1].prefixes: a second default route (operators[0] "a" is already '
        "the default route): give one of them prefixes"
    )


@pytest.mark.parametrize(
    ("prefixes", "message"),
    [
        (["33"], '"33" is not "+" followed by 1 to 15 digits'),
        (["+"], '"+" is not "+" followed by 1 to 15 digits'),
        (["+33 6"], '"+33 6" is not "+" followed by 1 to 15 digits'),
        (["+" + "3" * 16], "is not"),
        (["+33", "+33"], '"+33" is listed twice'),
        (["+0"], '"+0" does not start with a country calling code'),
        ([33], "33 is not a string"),
        ([], "must list at least one prefix"),
        ({"a": 1}, "must be a list of E.164 prefixes"),
    ],
)
def test_bad_prefixes(prefixes, message):
    line = one_problem(data(operators=[op(prefixes=prefixes)]))
    assert line.startswith(f"{SRC}: operators[0].prefixes: ")
    assert message in line


def test_short_prefix_spanning_country_codes_is_allowed():
    parse_config(data(operators=[op(prefixes=["+3", "+1"])]), source=SRC)


# ------------------------------------------------------------------------------------------
# Validation: one test per rule, checking the exact file and key


def test_port_message_matches_the_contract():
    assert one_problem(data(operators=[op(), op(name="b", prefixes=["+33"], port="abc")])) == (
        f'{SRC}: operators[1].port: must be an integer from 1 to 65535, not "abc"'
    )


BAD_GATEWAY = [
    ("socket", "", "must not be empty"),
    ("socket", 3, "must be a non-empty string, not 3"),
    ("socket", "s" * (MAX_SOCKET_PATH_BYTES + 1), "must be at most 107 bytes long"),
    ("data_dir", "", "must not be empty"),
    ("socket_mode", 660, 'must be an octal permission string like "0660", not 660'),
    ("socket_mode", "0980", "must be an octal"),
    ("socket_mode", "rw", "must be an octal"),
    ("map_size_mb", 0, "must be an integer from 1 to"),
    ("map_size_mb", 1.5, "must be an integer from 1 to"),
    ("commit_interval_ms", 1001, "must be a number from 0 to 1000, not 1001"),
    ("commit_interval_ms", -1, "must be a number from 0 to 1000, not -1"),
    ("commit_interval_ms", "2", 'must be a number from 0 to 1000, not "2"'),
    ("commit_batch", 0, "must be an integer from 1 to 1000000, not 0"),
    ("retention_days", 0, "must be a number greater than 0, not 0"),
    ("default_validity_s", 0, "must be an integer of at least 1, not 0"),
    ("max_validity_s", -5, "must be an integer of at least 1, not -5"),
    ("max_frame_bytes", 10, "must be an integer from 1024 to 67108864, not 10"),
    ("max_batch", 0, "must be an integer from 1 to 1000000"),
    ("subscriber_queue", 0, "must be an integer of at least 1"),
    ("shutdown_grace_s", -1, "must be a number of at least 0, not -1"),
    ("default_region", "XX", 'must be a region code known to phonenumbers (such as "FR"), not "X'),
    ("default_region", "fr", 'did you mean "FR"?'),
    ("default_region", 33, "not 33"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_GATEWAY, ids=lambda v: str(v)[:20])
def test_gateway_rules(key, value, message):
    line = one_problem(data(gateway={key: value}))
    assert line.startswith(f"{SRC}: gateway.{key}: "), line
    assert message in line, line


def test_validity_default_above_max():
    assert one_problem(data(gateway={"default_validity_s": 10, "max_validity_s": 5})) == (
        f"{SRC}: gateway.default_validity_s: must not exceed max_validity_s (5), not 10"
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("format", "xml", 'must be one of "auto", "json", "console", not "xml"'),
        ("format", "jsn", 'did you mean "json"?'),
        ("level", "INFO", 'must be one of "debug", "info", "warning", "error", not "INFO"'),
        ("level", "warn", 'did you mean "warning"?'),
        ("level", 1, "not 1"),
    ],
)
def test_logging_rules(key, value, message):
    line = one_problem(data(logging={key: value}))
    assert line.startswith(f"{SRC}: logging.{key}: ")
    assert message in line


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("9464", 'must be "host:port"'),
        (":9464", 'must be "host:port"'),
        ("localhost:0", "port must be an integer from 1 to 65535"),
        ("localhost:99999", "port must be an integer from 1 to 65535"),
        ("localhost:http", "port must be an integer from 1 to 65535"),
        ("::1:9464", "put an IPv6 address in brackets"),
        ("[::1]9464", 'must be "host:port"'),
        ("[nothost]:9464", '"nothost" is not an IPv6 address'),
        ("bad host:1", 'must be "host:port"'),
        (9464, "not 9464"),
    ],
)
def test_metrics_rules(listen, message):
    line = one_problem(data(metrics={"listen": listen}))
    assert line.startswith(f"{SRC}: metrics.listen: ")
    assert message in line


def test_routing_failover_must_be_bool():
    assert one_problem(data(routing={"failover": 1})) == (
        f"{SRC}: routing.failover: must be true or false, not 1"
    )
    assert parse_config(data(routing={"failover": True}), source=SRC).routing.failover is True


BAD_OPERATOR = [
    ("name", "", "must be 1 to 32 of A-Z a-z 0-9 _ -"),
    ("name", "a b", "must be 1 to 32 of A-Z a-z 0-9 _ -, not \"a b\""),
    ("name", "x" * 33, "must be 1 to 32"),
    ("name", "op.1", "must be 1 to 32"),
    ("host", "", "must not be empty"),
    ("host", "a host", "must be a host name or IP address"),
    ("host", "[::1]", "must be a host name or IP address (without brackets)"),
    ("port", 0, "must be an integer from 1 to 65535, not 0"),
    ("port", 65536, "must be an integer from 1 to 65535, not 65536"),
    ("port", True, "must be an integer from 1 to 65535, not true"),
    ("port", 2775.0, "must be an integer from 1 to 65535, not 2775.0"),
    ("system_id", "", "must not be empty"),
    ("system_id", "x" * 16, "must be at most 15 bytes long, not 16"),
    ("system_id", "gé", "must be printable ASCII"),
    ("password", "123456789", "must be at most 8 bytes long, not 9"),
    ("password", "a\tb", "must be printable ASCII"),
    ("system_type", "x" * 13, "must be at most 12 bytes long, not 13"),
    ("binds", 0, "must be an integer from 1 to 64, not 0"),
    ("binds", 65, "must be an integer from 1 to 64, not 65"),
    ("bind_mode", "trx", 'must be one of "transceiver", "transmitter_receiver", not "trx"'),
    ("bind_mode", "transmiter_receiver", 'did you mean "transmitter_receiver"?'),
    ("window", 0, "must be an integer from 1 to 10000, not 0"),
    ("window", 10_001, "must be an integer from 1 to 10000"),
    ("tps", 0, "must be a number greater than 0, not 0"),
    ("tps", False, "must be a number greater than 0, not false"),
    ("tps", float("inf"), "must be a number greater than 0, not inf"),
    ("burst", 0.5, "must be a number of at least 1, not 0.5"),
    ("id_format", "as is", 'must be one of "as-is", "hex", "decimal", not "as is"; did you mean'),
    ("receipt_id_format", "HEX", 'must be one of "as-is", "hex", "decimal", not "HEX"'),
    ("response_timeout_s", 0, "must be a number greater than 0, not 0"),
    ("enquire_link_s", -1, "must be a number greater than 0"),
    ("connect_timeout_s", "10", 'not "10"'),
    ("bind_timeout_s", 0, "greater than 0"),
    ("reconnect_initial_s", 0, "greater than 0"),
    ("reconnect_max_s", 0, "greater than 0"),
    ("max_attempts", 0, "must be an integer from 1 to 100, not 0"),
    ("throttle_initial_s", 0, "greater than 0"),
    ("throttle_max_s", 0, "greater than 0"),
    ("queue_size", 0, "must be an integer from 1 to 10000000, not 0"),
    ("tls", "yes", 'must be true or false, not "yes"'),
    ("tls_verify", 0, "must be true or false, not 0"),
    ("tls_ca_file", 1, "must be a string, not 1"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_OPERATOR, ids=lambda v: str(v)[:20])
def test_operator_rules(key, value, message):
    line = one_problem(data(operators=[op(**{key: value})]))
    assert line.startswith(f"{SRC}: operators[0].{key}: "), line
    assert message in line, line


@pytest.mark.parametrize("key", ["name", "host", "system_id", "password", "tps"])
def test_operator_required_keys(key):
    assert one_problem(data(operators=[op(**{key: None})])) == (
        f"{SRC}: operators[0].{key}: is required"
    )


@pytest.mark.parametrize(
    ("low", "high"),
    [("reconnect_initial_s", "reconnect_max_s"), ("throttle_initial_s", "throttle_max_s")],
)
def test_initial_delay_above_maximum(low, high):
    assert one_problem(data(operators=[op(**{low: 5, high: 2})])) == (
        f"{SRC}: operators[0].{low}: must not exceed {high} (2), not 5"
    )


def test_tls_ca_file_needs_tls_and_verification():
    assert one_problem(data(operators=[op(tls_ca_file="ca.pem")])) == (
        f"{SRC}: operators[0].tls_ca_file: is set but tls is false"
    )
    assert one_problem(data(operators=[op(tls=True, tls_verify=False, tls_ca_file="ca.pem")])) == (
        f"{SRC}: operators[0].tls_ca_file: is set but tls_verify is false"
    )
    parse_config(data(operators=[op(tls=True, tls_ca_file="ca.pem")]), source=SRC)


def test_duplicate_operator_names():
    d = data(operators=[op(name="a"), op(name="b", prefixes=["+33"]),
                        op(name="a", prefixes=["+1"])])
    assert one_problem(d) == (
        f'{SRC}: operators[2].name: duplicate name "a" (already used by operators[0])'
    )


def test_duplicate_account_names():
    assert one_problem(data(accounts=[{"name": "x"}, {"name": "y"}, {"name": "x"}])) == (
        f'{SRC}: accounts[2].name: duplicate name "x" (already used by accounts[0])'
    )


@pytest.mark.parametrize(
    ("name", "ok"),
    [("demo", True), ("a.b-c_D9", True), ("x" * 64, True), ("x" * 65, False), ("a b", False),
     ("", False), ("é", False)],
)
def test_account_name(name, ok):
    d = data(accounts=[{"name": name}])
    if ok:
        assert parse_config(d, source=SRC).accounts[0].name == name
    else:
        line = one_problem(d)
        assert line.startswith(f"{SRC}: accounts[0].name: must be 1 to 64 of A-Z a-z 0-9 _ . -")


def test_account_name_required():
    assert one_problem(data(accounts=[{}])) == f"{SRC}: accounts[0].name: is required"


@pytest.mark.parametrize("section", ["operators", "accounts"])
def test_at_least_one_entry(section):
    assert one_problem(data(**{section: None})) == (
        f"{SRC}: {section}: at least one [[{section}]] is required"
    )
    assert one_problem(data(**{section: []})) == (
        f"{SRC}: {section}: at least one [[{section}]] is required"
    )


@pytest.mark.parametrize("section", ["operators", "accounts"])
def test_list_section_must_be_array_of_tables(section):
    line = one_problem(data(**{section: {"name": "x"}}))
    assert line == f"{SRC}: {section}: must be an array of tables ([[{section}]]), not a table"


@pytest.mark.parametrize("section", ["gateway", "logging", "metrics", "routing"])
def test_table_section_must_be_table(section):
    assert one_problem(data(**{section: "x"})) == (
        f'{SRC}: {section}: must be a table ([{section}]), not "x"'
    )


# ------------------------------------------------------------------------------------------
# Unknown keys


def test_unknown_key_suggestion():
    assert one_problem(data(operators=[op(prot=2775)])) == (
        f'{SRC}: operators[0].prot: unknown key; did you mean "port"?'
    )
    assert one_problem(data(gateway={"sokcet": "s"})) == (
        f'{SRC}: gateway.sokcet: unknown key; did you mean "socket"?'
    )
    assert one_problem(data(gateway={"zzz": 1})) == f"{SRC}: gateway.zzz: unknown key"


def test_derived_fields_are_not_keys():
    assert one_problem(data(metrics={"port": 1})) == f"{SRC}: metrics.port: unknown key"


def test_unknown_section_suggestion():
    assert one_problem(data(operator=[op()])) == (
        f'{SRC}: operator: unknown section; did you mean "operators"?'
    )
    assert one_problem(data(loging={})) == (
        f'{SRC}: loging: unknown section; did you mean "logging"?'
    )
    assert one_problem(data(zzz=1)) == f"{SRC}: zzz: unknown key"


def test_key_outside_its_section():
    """socket at the top level (a forgotten [gateway] header) points at where it belongs."""
    assert one_problem(data(socket="s")) == (
        f"{SRC}: socket: unknown key; it belongs under [gateway]"
    )
    assert one_problem(data(tps=1)) == f"{SRC}: tps: unknown key; it belongs under [[operators]]"


def test_float_error_shows_the_value_as_written():
    assert one_problem(data(operators=[op(tps=0)])) == (
        f"{SRC}: operators[0].tps: must be a number greater than 0, not 0"
    )


# ------------------------------------------------------------------------------------------
# Many problems at once


def test_all_problems_reported_together():
    d = data(
        gateway={"socket": "", "commit_interval_ms": 5000, "default_region": "ZZ", "bogus": 1},
        logging={"level": "loud"},
        metrics={"listen": "nowhere"},
        operators=[
            op(name="a", port="abc", window=0),
            op(name="a"),  # duplicate name and second default route
            op(name="b bad", system_id="x" * 20, prefixes=["33"]),
        ],
        accounts=[{"name": "z"}, {"name": "z"}],
        extra={},
    )
    keys = [line.split(": ")[1] for line in problems(d)]
    assert sorted(keys) == sorted([
        "extra",
        "gateway.bogus",
        "gateway.socket",
        "gateway.commit_interval_ms",
        "gateway.default_region",
        "logging.level",
        "metrics.listen",
        "operators[0].port",
        "operators[0].window",
        "operators[1].name",
        "operators[2].name",
        "operators[2].system_id",
        "operators[2].prefixes",
        "operators[1].prefixes",
        "accounts[1].name",
    ])


def test_cross_entry_checks_still_run_when_an_entry_is_bad():
    lines = problems(data(operators=[op(name="a"), op(name="a", prefixes=["+33"]), op(port=0)]))
    assert any("operators[1].name: duplicate name" in line for line in lines)
    assert any("operators[2].port" in line for line in lines)


# ------------------------------------------------------------------------------------------
# Files


def write(tmp_path, text, name="g.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_TOML = """
[[operators]]
name = "op"
host = "h"
system_id = "gw"
password = "pw"
tps = 10

[[accounts]]
name = "demo"
"""


def test_load_from_str_and_path(tmp_path):
    path = write(tmp_path, GOOD_TOML)
    assert load_config(path).source == str(path)
    assert load_config(str(path)).operators[0].name == "op"


def test_problems_name_the_file(tmp_path):
    path = write(tmp_path, GOOD_TOML.replace("tps = 10", 'tps = "fast"'))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f'{path}: operators[0].tps: must be a number greater than 0, not "fast"'
    )


def test_toml_syntax_error_names_line_and_column(tmp_path):
    path = write(tmp_path, '[gateway]\nsocket = "a"\ndata_dir = \n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: line 3, column 12: invalid TOML: Invalid value"


def test_toml_error_at_end_of_file(tmp_path):
    path = write(tmp_path, '[gateway]\nsocket = "a')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: line 2, column 12: invalid TOML: Unterminated string at end of file"
    )


def test_toml_duplicate_key(tmp_path):
    path = write(tmp_path, "[gateway]\nmax_batch = 1\nmax_batch = 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line ") and "invalid TOML" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: no such file"


def test_directory(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a file"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path):
    path = write(tmp_path, GOOD_TOML)
    path.chmod(0)
    try:
        with pytest.raises(ConfigError) as info:
            load_config(path)
    finally:
        path.chmod(0o600)
    assert str(info.value) == f"{path}: cannot read: Permission denied"


def test_read_error(tmp_path, monkeypatch):
    """Any OSError while reading (here faked, so that it runs as root too) is a ConfigError."""
    path = write(tmp_path, GOOD_TOML)

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(path), "read_bytes", refuse)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: cannot read: Permission denied"


def test_not_utf8(tmp_path):
    path = tmp_path / "g.toml"
    path.write_bytes(b'[gateway]\nsocket = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: not UTF-8 text")


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


# ------------------------------------------------------------------------------------------
# link_settings


def test_link_settings_mapping():
    o = parse_config(
        data(operators=[op(
            name="carrier", host="10.0.0.1", port=3550, system_id="sys", password="pw",
            system_type="vma", window=7, response_timeout_s=3, enquire_link_s=15,
            connect_timeout_s=4, bind_timeout_s=5, reconnect_initial_s=2, reconnect_max_s=20,
            max_attempts=3, throttle_initial_s=0.25, throttle_max_s=8, tls=True,
            tls_verify=True, tls_ca_file="ca.pem",
        )]),
        source=SRC,
    ).operators[0]
    assert o.link_settings() == LinkSettings(
        name="carrier", host="10.0.0.1", port=3550, system_id="sys", password="pw",
        system_type="vma", mode=BindMode.TRANSCEIVER, window=7, response_timeout=3.0,
        enquire_link_interval=15.0, connect_timeout=4.0, bind_timeout=5.0,
        reconnect_initial=2.0, reconnect_max=20.0, max_attempts=3, throttle_initial=0.25,
        throttle_max=8.0, tls=True, tls_verify=True, tls_ca_file="ca.pem",
    )


def test_link_settings_empty_ca_file_is_none():
    o = parse_config(MINIMAL, source=SRC).operators[0]
    s = o.link_settings()
    assert s.tls_ca_file is None and s.tls is False and s.mode is BindMode.TRANSCEIVER
    assert o.bind_modes() == (BindMode.TRANSCEIVER,)
    with pytest.raises(ValueError, match="binds as transceiver"):
        o.link_settings(BindMode.TRANSMITTER)


def test_link_settings_transmitter_receiver():
    o = parse_config(
        data(operators=[op(bind_mode="transmitter_receiver")]), source=SRC
    ).operators[0]
    assert o.bind_mode is BindStyle.TRANSMITTER_RECEIVER
    assert o.bind_modes() == (BindMode.TRANSMITTER, BindMode.RECEIVER)
    assert o.link_settings().mode is BindMode.TRANSMITTER
    assert o.link_settings(BindMode.RECEIVER).mode is BindMode.RECEIVER
    with pytest.raises(ValueError):
        o.link_settings(BindMode.TRANSCEIVER)


def test_config_module_imports_no_io_libraries():
    """gateway.config is pure: importing it pulls in neither trio, lmdb nor structlog (the client
    is imported inside link_settings only)."""
    import subprocess

    code = (
        "import sys, gateway.config; "
        "bad = {'trio', 'lmdb', 'structlog', 'prometheus_client'} & set(sys.modules); "
        "sys.exit(sorted(bad) or 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
