"""gateway.config: the shipped files load, defaults, and every rule's message names file and key."""

import copy
import dataclasses
import os
import sys

import pytest

from gateway.config import (
    MAX_SOCKET_PATH_BYTES,
    BindStyle,
    ComplianceConfig,
    Config,
    ConfigError,
    LogFormat,
    LogLevel,
    MentionMode,
    MessageClass,
    NetworkConfig,
    OptoutConfig,
    QuietHoursMode,
    ReplyScope,
    load_config,
    normalize_error_code,
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
    assert [a.name for a in cfg.accounts] == ["demo", "shop2"]
    demo, shop2 = cfg.accounts
    assert (demo.stop_mention, demo.short_code) == ("STOP au 36184", "36184")
    assert demo.mention_mode is MentionMode.APPEND and shop2.mention_mode is MentionMode.APPEND
    assert [(n.name, n.accounts) for n in cfg.networks] == [("demo-chain", ("demo", "shop2"))]
    assert cfg.optout == OptoutConfig() and cfg.compliance == ComplianceConfig()
    assert cfg.optout_scopes("shop2") == ("global", "network:demo-chain", "account:shop2")
    assert cfg.reply_scope_for("demo") == "global"


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
    assert g.map_size_mb == 1 << 20  # 1 TiB of address space: no growth in practice
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
    cfg = parse_config(data(networks=[{"name": "n", "accounts": ["demo"]}]), source=SRC)
    for obj in (cfg, cfg.gateway, cfg.logging, cfg.metrics, cfg.routing, cfg.optout,
                cfg.compliance, *cfg.operators, *cfg.accounts, *cfg.networks):
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


@pytest.mark.parametrize(
    "section", ["gateway", "logging", "metrics", "routing", "optout", "compliance"]
)
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


# ------------------------------------------------------------------------------------------
# Compliance (issue 5): [optout], [compliance], [[networks]], and the new account and operator
# keys


def acc(name="demo", **keys):
    return {"name": name, **keys}


def test_compliance_defaults():
    cfg = parse_config(MINIMAL, source=SRC)
    o = cfg.optout
    assert o.applies_to == (MessageClass.MARKETING,)
    assert o.reply_scope is ReplyScope.GLOBAL
    assert (o.stop_keywords, o.resubscribe_keywords, o.confirmation) == ((), (), "")
    assert (o.failed_threshold, o.failed_window_days, o.failed_exclusion_days) == (3, 30.0, 90.0)
    assert o.blocks_marketing and not o.blocks_transactional and not o.resubscribe_by_reply
    assert o.blocks(marketing=True) and not o.blocks(marketing=False)
    c = cfg.compliance
    assert (c.timezone, c.country, c.subdivision) == ("Europe/Paris", "FR", "")
    assert (c.window_start, c.window_end) == ("08:00", "20:30")
    assert c.no_sundays and c.no_holidays and c.require_mobile
    [a] = cfg.accounts
    assert a.stop_mention == "" and a.stop_mention_mode is MentionMode.AUTO
    assert a.mention_mode is MentionMode.OFF
    assert a.quiet_hours is QuietHoursMode.SCHEDULE and not a.rejects_quiet_hours
    assert (a.senders, a.short_code) == ((), "")
    assert (a.frequency_cap, a.frequency_window_days) == (0, 30.0)
    [op_] = cfg.operators
    assert op_.permanent_errors == ()
    assert (op_.short_code_ton, op_.short_code_npi) == (3, 0)
    assert cfg.networks == ()
    assert OptoutConfig() == o and ComplianceConfig() == c


def test_enum_values_compare_as_strings():
    """The daemon may compare with plain strings ("off", "reject", "marketing")."""
    cfg = parse_config(
        data(accounts=[acc(stop_mention="STOP au 36184", quiet_hours="reject")]), source=SRC
    )
    a = cfg.accounts[0]
    assert a.mention_mode == "append" and a.quiet_hours == "reject" and a.rejects_quiet_hours
    assert "marketing" in cfg.optout.applies_to and cfg.optout.reply_scope == "global"


# --- accounts


@pytest.mark.parametrize(
    ("mention", "mode", "resolved"),
    [
        ("STOP au 36184", None, MentionMode.APPEND),
        ("", None, MentionMode.OFF),
        ("STOP au 36184", "auto", MentionMode.APPEND),
        ("", "auto", MentionMode.OFF),
        ("STOP au 36184", "append", MentionMode.APPEND),
        ("STOP au 36184", "reject", MentionMode.REJECT),
        ("STOP au 36184", "off", MentionMode.OFF),
        ("", "off", MentionMode.OFF),
    ],
)
def test_mention_mode(mention, mode, resolved):
    keys = {"stop_mention": mention}
    if mode is not None:
        keys["stop_mention_mode"] = mode
    a = parse_config(data(accounts=[acc(**keys)]), source=SRC).accounts[0]
    assert a.stop_mention == mention
    assert a.stop_mention_mode is MentionMode(mode or "auto")
    assert a.mention_mode is resolved


@pytest.mark.parametrize("mode", ["append", "reject"])
def test_stop_mention_required_unless_off(mode):
    assert one_problem(data(accounts=[acc(stop_mention_mode=mode)])) == (
        f'{SRC}: accounts[0].stop_mention: is required when stop_mention_mode is "{mode}"'
    )


def test_account_compliance_keys():
    a = parse_config(
        data(accounts=[acc(
            stop_mention="STOP au 36184", quiet_hours="reject", short_code="36184",
            senders=["MaBoutique", "36184", "+33612345678", "Shop-1.fr"],
            frequency_cap=2, frequency_window_days=7,
        )]),
        source=SRC,
    ).accounts[0]
    assert a.senders == ("MaBoutique", "36184", "+33612345678", "Shop-1.fr")
    assert a.quiet_hours is QuietHoursMode.REJECT
    assert (a.short_code, a.frequency_cap, a.frequency_window_days) == ("36184", 2, 7.0)
    assert isinstance(a.frequency_window_days, float)


BAD_ACCOUNT = [
    ("stop_mention", 1, "must be a string, not 1"),
    ("stop_mention", "   ", 'must not be only spaces (use "" for none)'),
    ("stop_mention", "STOP\n36184", 'must be one line of printable characters, not "STOP\\n36184"'),
    ("stop_mention", "S" * 61, "must be at most 60 characters long, not 61"),
    ("stop_mention_mode", "apend",
     'must be one of "auto", "append", "reject", "off", not "apend"; did you mean "append"?'),
    ("stop_mention_mode", True, 'must be one of "auto", "append", "reject", "off", not true'),
    ("quiet_hours", "hold", 'must be one of "schedule", "reject", not "hold"'),
    ("quiet_hours", "rejet",
     'must be one of "schedule", "reject", not "rejet"; did you mean "reject"?'),
    ("senders", "MaBoutique",
     'must be a list of sender IDs, like ["MaBoutique"], not "MaBoutique"'),
    ("senders", [1], "1 is not a string"),
    ("senders", [""], '"" is empty'),
    ("senders", ["Ma_Boutique"],
     "\"Ma_Boutique\" contains '_'; an alphanumeric sender may use only letters A-Z, digits, "
     "space, '-' and '.'"),
    ("senders", ["ABCDEFGHIJKL"],
     '"ABCDEFGHIJKL" is 12 characters; an alphanumeric sender has at most 11'),
    ("senders", ["0612345678"],
     '"0612345678" is a national number; write it in international form (+33612345678 for '
     "France)"),
    ("senders", ["12"], '"12" has 2 digits; a short code has at least 3'),
    ("senders", ["+33 6"], "\"+33 6\" starts with '+' but is not followed by digits only"),
    ("senders", ["Shop", "Shop"], '"Shop" is listed twice'),
    ("senders", ["+33612345678", "33612345678"], '"33612345678" is the same as "+33612345678"'),
    ("senders", ["Shop", 2, "Ma&Co"],
     "2 is not a string; \"Ma&Co\" contains '&'; an alphanumeric sender may use only"),
    ("short_code", "12", 'must be 3 to 8 digits, or "", not "12"'),
    ("short_code", "123456789", 'must be 3 to 8 digits, or "", not "123456789"'),
    ("short_code", "36 184", 'must be 3 to 8 digits, or "", not "36 184"'),
    ("short_code", 36184, 'must be a string, not 36184'),
    ("frequency_cap", -1, "must be an integer from 0 to 1000000, not -1"),
    ("frequency_cap", 1.5, "must be an integer from 0 to 1000000, not 1.5"),
    ("frequency_window_days", 0, "must be a number greater than 0, not 0"),
    ("frequency_window_days", "30", 'must be a number greater than 0, not "30"'),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_ACCOUNT, ids=lambda v: str(v)[:20])
def test_account_compliance_rules(key, value, message):
    line = one_problem(data(accounts=[acc(**{key: value})]))
    assert line.startswith(f"{SRC}: accounts[0].{key}: "), line
    assert message in line, line


def test_account_sender_message_exact():
    assert one_problem(data(accounts=[acc(), acc("b", senders=["OK", "Ma_Boutique"])])) == (
        f"{SRC}: accounts[1].senders: \"Ma_Boutique\" contains '_'; an alphanumeric sender may "
        "use only letters A-Z, digits, space, '-' and '.'"
    )


# --- operators


def test_permanent_errors_are_normalised():
    o = parse_config(
        data(operators=[op(permanent_errors=["001", "009", "00b", "000", "0A0", "12"])]),
        source=SRC,
    ).operators[0]
    assert o.permanent_errors == ("1", "9", "B", "0", "A0", "12")
    assert o.is_permanent_error("001") and o.is_permanent_error("1") and o.is_permanent_error("01")
    assert o.is_permanent_error("00B") and o.is_permanent_error("b")
    assert o.is_permanent_error("000") and o.is_permanent_error("0")
    assert not o.is_permanent_error("002") and not o.is_permanent_error("A")
    assert not o.is_permanent_error(None)


def test_no_permanent_errors_means_every_failure_counts():
    o = parse_config(MINIMAL, source=SRC).operators[0]
    assert o.is_permanent_error("001") and o.is_permanent_error("999")
    assert o.is_permanent_error(None)


@pytest.mark.parametrize(
    ("code", "normal"), [("001", "1"), ("00B", "B"), ("00b", "B"), ("000", "0"), ("0", "0"),
                         ("100", "100"), ("0x1", "X1"), (" 009 ", "9")],
)
def test_normalize_error_code(code, normal):
    assert normalize_error_code(code) == normal


def test_short_code_ton_npi():
    o = parse_config(data(operators=[op(short_code_ton=0, short_code_npi=1)]),
                     source=SRC).operators[0]
    assert (o.short_code_ton, o.short_code_npi) == (0, 1)
    o = parse_config(data(operators=[op(short_code_ton=6, short_code_npi=18)]),
                     source=SRC).operators[0]
    assert (o.short_code_ton, o.short_code_npi) == (6, 18)


BAD_OPERATOR_COMPLIANCE = [
    ("permanent_errors", "001",
     'must be a list of error codes as strings, like ["001", "00B"], not "001"'),
    ("permanent_errors", [1], "1 is not a string"),
    ("permanent_errors", [""], '"" is not an error code (1 to 10 letters or digits, as "00B")'),
    ("permanent_errors", ["0 1"], '"0 1" is not an error code'),
    ("permanent_errors", ["x" * 11], "is not an error code"),
    ("permanent_errors", ["001", "1"], '"1" is the same as "001"'),
    ("permanent_errors", ["00B", "00b"], '"00b" is the same as "00B"'),
    ("permanent_errors", ["009", "009"], '"009" is listed twice'),
    ("short_code_ton", 7, "must be an integer from 0 to 6, not 7"),
    ("short_code_ton", -1, "must be an integer from 0 to 6, not -1"),
    ("short_code_ton", "3", 'must be an integer from 0 to 6, not "3"'),
    ("short_code_npi", 19, "must be an integer from 0 to 18, not 19"),
    ("short_code_npi", False, "must be an integer from 0 to 18, not false"),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), BAD_OPERATOR_COMPLIANCE, ids=lambda v: str(v)[:20]
)
def test_operator_compliance_rules(key, value, message):
    line = one_problem(data(operators=[op(**{key: value})]))
    assert line.startswith(f"{SRC}: operators[0].{key}: "), line
    assert message in line, line


def test_permanent_errors_message_exact():
    assert one_problem(data(operators=[op(permanent_errors=["001", 9, "01", "0-1"])])) == (
        f'{SRC}: operators[0].permanent_errors: 9 is not a string; "01" is the same as "001"; '
        '"0-1" is not an error code (1 to 10 letters or digits, as "00B")'
    )


# --- [optout]


def test_optout_keys():
    o = parse_config(
        data(optout={
            "applies_to": ["transactional", "marketing"], "reply_scope": "network",
            "stop_keywords": ["ANNULER", "Ne plus recevoir"], "resubscribe_keywords": ["START"],
            "confirmation": "Vous ne recevrez plus de SMS.", "failed_threshold": 5,
            "failed_window_days": 7, "failed_exclusion_days": 365.5,
        }),
        source=SRC,
    ).optout
    assert o.applies_to == (MessageClass.TRANSACTIONAL, MessageClass.MARKETING)
    assert o.blocks_marketing and o.blocks_transactional and o.blocks(marketing=False)
    assert o.reply_scope is ReplyScope.NETWORK
    assert o.stop_keywords == ("ANNULER", "Ne plus recevoir")
    assert o.resubscribe_keywords == ("START",) and o.resubscribe_by_reply
    assert o.confirmation == "Vous ne recevrez plus de SMS."
    assert (o.failed_threshold, o.failed_window_days, o.failed_exclusion_days) == (5, 7.0, 365.5)


def test_optout_transactional_only():
    o = parse_config(data(optout={"applies_to": ["transactional"]}), source=SRC).optout
    assert not o.blocks(marketing=True) and o.blocks(marketing=False)


@pytest.mark.parametrize("scope", ["global", "network", "account"])
def test_reply_scopes(scope):
    o = parse_config(data(optout={"reply_scope": scope}), source=SRC).optout
    assert o.reply_scope is ReplyScope(scope)


def test_keyword_limits():
    o = parse_config(data(optout={"stop_keywords": ["k" * 40, "Désinscription"]}),
                     source=SRC).optout
    assert o.stop_keywords == ("k" * 40, "Désinscription")
    assert parse_config(data(optout={"confirmation": "c" * 306}), source=SRC).optout.confirmation


BAD_OPTOUT = [
    ("applies_to", [], 'must list at least one class (["marketing"]): an opt-out list that '
     "blocks nothing is not an opt-out"),
    ("applies_to", "marketing",
     'must be a list of message classes, like ["marketing"], not "marketing"'),
    ("applies_to", ["marketng"],
     '"marketng" is not "marketing" or "transactional" (did you mean "marketing"?)'),
    ("applies_to", ["promo"], '"promo" is not "marketing" or "transactional"'),
    ("applies_to", ["marketing", "marketing"], '"marketing" is listed twice'),
    ("applies_to", [1], "1 is not a string"),
    ("reply_scope", "networks",
     'must be one of "global", "network", "account", not "networks"; did you mean "network"?'),
    ("reply_scope", "chain", 'must be one of "global", "network", "account", not "chain"'),
    ("stop_keywords", "STOP", 'must be a list of keywords, like ["ANNULER"], not "STOP"'),
    ("stop_keywords", [""], '"" is empty'),
    ("stop_keywords", ["  "], '"  " is empty'),
    ("stop_keywords", ["!!!"], '"!!!" has no letter or digit'),
    ("stop_keywords", ["k" * 41], f'"{"k" * 41}" is longer than 40 characters'),
    ("stop_keywords", ["ANNULER", "annuler"], '"annuler" is the same as "ANNULER"'),
    ("stop_keywords", ["ARRÊTEZ", "arretez!"], '"arretez!" is the same as "ARRÊTEZ"'),
    ("stop_keywords", [5], "5 is not a string"),
    ("resubscribe_keywords", "START", 'must be a list of keywords, like ["START"], not "START"'),
    ("resubscribe_keywords", ["START", "start"], '"start" is the same as "START"'),
    ("resubscribe_keywords", [""], '"" is empty'),
    ("confirmation", 1, "must be a string, not 1"),
    ("confirmation", " ", 'must not be only spaces (use "" for none)'),
    ("confirmation", "c" * 307, "must be at most 306 characters long, not 307"),
    ("failed_threshold", 0, "must be an integer from 1 to 100, not 0"),
    ("failed_threshold", 101, "must be an integer from 1 to 100, not 101"),
    ("failed_threshold", 2.0, "must be an integer from 1 to 100, not 2.0"),
    ("failed_window_days", 0, "must be a number greater than 0, not 0"),
    ("failed_window_days", -1.5, "must be a number greater than 0, not -1.5"),
    ("failed_exclusion_days", 0, "must be a number greater than 0, not 0"),
    ("failed_exclusion_days", True, "must be a number greater than 0, not true"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_OPTOUT, ids=lambda v: str(v)[:20])
def test_optout_rules(key, value, message):
    line = one_problem(data(optout={key: value}))
    assert line.startswith(f"{SRC}: optout.{key}: "), line
    assert message in line, line


def test_keywords_message_exact():
    assert one_problem(data(optout={"stop_keywords": ["OK", "", "!!", "Ok."]})) == (
        f'{SRC}: optout.stop_keywords: "" is empty; "!!" has no letter or digit; '
        '"Ok." is the same as "OK"'
    )


@pytest.mark.parametrize(
    ("optout", "shown"),
    [
        ({"resubscribe_keywords": ["START", "stop"]}, '"stop"'),
        ({"resubscribe_keywords": ["Arrêt", "STOP SMS"]}, '"Arrêt", "STOP SMS"'),
        ({"stop_keywords": ["ANNULER"], "resubscribe_keywords": ["annuler"]}, '"annuler"'),
    ],
)
def test_resubscribe_keyword_that_is_a_stop_keyword(optout, shown):
    assert one_problem(data(optout=optout)) == (
        f"{SRC}: optout.resubscribe_keywords: {shown}: also a STOP keyword"
    )


def test_stop_keyword_may_repeat_a_default():
    """A default listed again is harmless (the matcher folds and dedupes)."""
    o = parse_config(data(optout={"stop_keywords": ["STOP", "Arrêt"]}), source=SRC).optout
    assert o.stop_keywords == ("STOP", "Arrêt")


# --- [compliance]


def test_compliance_keys():
    c = parse_config(
        data(compliance={
            "timezone": "America/Martinique", "country": "FR", "subdivision": "972",
            "window_start": "00:00", "window_end": "23:59", "no_sundays": False,
            "no_holidays": False, "require_mobile": False,
        }),
        source=SRC,
    ).compliance
    assert (c.timezone, c.country, c.subdivision) == ("America/Martinique", "FR", "972")
    assert (c.window_start, c.window_end) == ("00:00", "23:59")
    assert not (c.no_sundays or c.no_holidays or c.require_mobile)


@pytest.mark.parametrize(
    ("country", "subdivision"), [("FR", "57"), ("FR", "Zone A"), ("DE", "BY"), ("GB", ""),
                                 ("FRA", "")],
)
def test_holiday_countries_and_subdivisions(country, subdivision):
    c = parse_config(data(compliance={"country": country, "subdivision": subdivision}),
                     source=SRC).compliance
    assert (c.country, c.subdivision) == (country, subdivision)


def test_compliance_builds_the_quiet_hours_rule():
    """The keys map one to one onto gateway.schedule.QuietHours, which accepts them."""
    import datetime as dt

    from gateway.schedule import QuietHours

    c = parse_config(data(compliance={"subdivision": "57"}), source=SRC).compliance
    rule = QuietHours(tz=c.timezone, country=c.country, start=c.window_start, end=c.window_end,
                      no_sundays=c.no_sundays, holidays=c.no_holidays,
                      subdiv=c.subdivision or None)
    paris = dt.timezone(dt.timedelta(hours=2))
    assert rule.is_allowed(dt.datetime(2024, 7, 12, 20, 29, tzinfo=paris))
    assert not rule.is_allowed(dt.datetime(2024, 7, 12, 20, 30, tzinfo=paris))
    assert not rule.is_allowed(dt.datetime(2024, 7, 14, 12, 0, tzinfo=paris))


BAD_COMPLIANCE = [
    ("timezone", "Europe/Pari",
     'must be a time zone name (such as "Europe/Paris"), not "Europe/Pari"; '
     'did you mean "Europe/Paris"?'),
    ("timezone", "europe/paris", 'not "europe/paris"; did you mean "Europe/Paris"?'),
    ("timezone", "", 'must be a time zone name (such as "Europe/Paris"), not ""'),
    ("timezone", "Europe", 'must be a time zone name (such as "Europe/Paris"), not "Europe"'),
    ("timezone", "/etc/localtime", 'not "/etc/localtime"'),
    ("timezone", "../../etc/passwd", 'not "../../etc/passwd"'),
    ("timezone", "zone.tab", 'not "zone.tab"'),
    ("timezone", 1, "must be a string, not 1"),
    ("country", "ZZ",
     'must be a country code known to the holidays package (such as "FR"), not "ZZ"'),
    ("country", "fr", 'not "fr"; did you mean "FR"?'),
    ("country", "", 'not ""'),
    ("country", 33, "must be a string, not 33"),
    ("subdivision", 57, "must be a string, not 57"),
    ("window_start", "8:00", 'must be a time "HH:MM" from "00:00" to "23:59", not "8:00"'),
    ("window_start", "08:60", 'must be a time "HH:MM" from "00:00" to "23:59", not "08:60"'),
    ("window_start", "08h00", 'not "08h00"'),
    ("window_start", "08:00:00", 'not "08:00:00"'),
    ("window_end", "24:00", 'must be a time "HH:MM" from "00:00" to "23:59", not "24:00"'),
    ("window_end", 2030, 'must be a time "HH:MM" from "00:00" to "23:59", not 2030'),
    ("no_sundays", 1, "must be true or false, not 1"),
    ("no_holidays", "yes", 'must be true or false, not "yes"'),
    ("require_mobile", "false", 'must be true or false, not "false"'),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_COMPLIANCE, ids=lambda v: str(v)[:20])
def test_compliance_rules(key, value, message):
    line = one_problem(data(compliance={key: value}))
    assert line.startswith(f"{SRC}: compliance.{key}: "), line
    assert message in line, line


@pytest.mark.parametrize(("start", "end"), [("20:30", "20:30"), ("20:30", "08:00")])
def test_window_end_must_be_after_start(start, end):
    assert one_problem(data(compliance={"window_start": start, "window_end": end})) == (
        f'{SRC}: compliance.window_end: must be after window_start ("{start}"), not "{end}"'
    )


def test_window_one_minute_is_allowed():
    c = parse_config(data(compliance={"window_start": "08:00", "window_end": "08:01"}),
                     source=SRC).compliance
    assert (c.window_start, c.window_end) == ("08:00", "08:01")


def test_unknown_subdivision():
    assert one_problem(data(compliance={"subdivision": "58"})) == (
        f'{SRC}: compliance.subdivision: must be "" or a subdivision of "FR" in the holidays '
        'package ("57", "6AE", "971", "972", "973", "974", ...), not "58"'
    )
    assert one_problem(data(compliance={"country": "DE", "subdivision": "by"})) == (
        f'{SRC}: compliance.subdivision: must be "" or a subdivision of "DE" in the holidays '
        'package ("BB", "BE", "BW", "BY", "HB", "HE", ...), not "by"'
    )


def test_subdivision_of_a_country_without_any():
    assert one_problem(data(compliance={"country": "IS", "subdivision": "X"})) == (
        f'{SRC}: compliance.subdivision: must be "": the holidays package has no subdivisions '
        'for "IS", not "X"'
    )


def test_subdivision_not_judged_against_a_bad_country():
    assert one_problem(data(compliance={"country": "ZZ", "subdivision": "57"})) == (
        f'{SRC}: compliance.country: must be a country code known to the holidays package '
        '(such as "FR"), not "ZZ"'
    )


# --- [[networks]]


CHAIN = [acc("shop1"), acc("shop2"), acc("solo")]


def net(name="chain", accounts=("shop1", "shop2")):
    return {"name": name, "accounts": list(accounts)}


@pytest.mark.parametrize("networks", [None, []])
def test_networks_are_optional(networks):
    cfg = parse_config(data(accounts=CHAIN, networks=networks), source=SRC)
    assert cfg.networks == ()
    assert cfg.network_of("shop1") is None


def test_networks():
    cfg = parse_config(
        data(accounts=[*CHAIN, acc("x")], networks=[net(), net("other", ["x"])]), source=SRC
    )
    assert cfg.networks == (
        NetworkConfig(name="chain", accounts=("shop1", "shop2")),
        NetworkConfig(name="other", accounts=("x",)),
    )
    assert cfg.network("chain").scope == "network:chain"
    with pytest.raises(KeyError):
        cfg.network("nope")


def test_network_helpers():
    cfg = parse_config(data(accounts=CHAIN, networks=[net()]), source=SRC)
    assert cfg.network_of("shop1") == "chain" and cfg.network_of("shop2") == "chain"
    assert cfg.network_of("solo") is None and cfg.network_of("unknown") is None
    assert cfg.accounts_of_network("chain") == ("shop1", "shop2")
    with pytest.raises(KeyError):
        cfg.accounts_of_network("nope")
    assert cfg.optout_scopes("shop1") == ("global", "network:chain", "account:shop1")
    assert cfg.optout_scopes("solo") == ("global", "account:solo")
    # An account no longer in the file (its old messages may still get replies): no network.
    assert cfg.optout_scopes("gone") == ("global", "account:gone")


@pytest.mark.parametrize(
    ("reply_scope", "in_network", "alone"),
    [
        ("global", "global", "global"),
        ("network", "network:chain", "account:solo"),  # the fallback, never wider
        ("account", "account:shop1", "account:solo"),
    ],
)
def test_reply_scope_for(reply_scope, in_network, alone):
    cfg = parse_config(
        data(accounts=CHAIN, networks=[net()], optout={"reply_scope": reply_scope}), source=SRC
    )
    assert cfg.reply_scope_for("shop1") == in_network
    assert cfg.reply_scope_for("solo") == alone
    assert cfg.reply_scope_for("solo") in cfg.optout_scopes("solo")
    assert cfg.reply_scope_for("shop1") in cfg.optout_scopes("shop1")


def test_reply_scope_for_default_is_global():
    cfg = parse_config(data(accounts=CHAIN, networks=[net()]), source=SRC)
    assert cfg.reply_scope_for("shop2") == "global"


def test_derived_index_follows_replace():
    cfg = parse_config(data(accounts=CHAIN, networks=[net()]), source=SRC)
    moved = dataclasses.replace(cfg, networks=(NetworkConfig(name="n2", accounts=("solo",)),))
    assert moved.network_of("solo") == "n2" and moved.network_of("shop1") is None
    assert moved.optout_scopes("solo") == ("global", "network:n2", "account:solo")
    assert cfg.network_of("shop1") == "chain"
    assert "_scopes" not in repr(cfg) and "_network_by_account" not in repr(cfg)


def test_config_without_the_new_sections():
    """Config built directly (not from a file) gets the defaults of the new sections."""
    cfg = parse_config(MINIMAL, source=SRC)
    direct = Config(gateway=cfg.gateway, logging=cfg.logging, metrics=cfg.metrics,
                    routing=cfg.routing, operators=cfg.operators, accounts=cfg.accounts,
                    source=SRC)
    assert direct == cfg
    assert direct.optout == OptoutConfig() and direct.networks == ()
    assert direct.optout_scopes("demo") == ("global", "account:demo")


def test_network_unknown_account():
    assert one_problem(data(accounts=CHAIN, networks=[net(accounts=["shop1", "shop3"])])) == (
        f'{SRC}: networks[0].accounts: "shop3" is not a configured account '
        '(did you mean "shop2"?)'
    )
    assert one_problem(data(accounts=CHAIN, networks=[net(accounts=["zzz", "yyy"])])) == (
        f'{SRC}: networks[0].accounts: "zzz" is not a configured account; '
        '"yyy" is not a configured account'
    )


def test_account_in_two_networks():
    d = data(accounts=CHAIN, networks=[net(), net("b", ["solo"]), net("c", ["shop2", "solo"])])
    assert one_problem(d) == (
        f'{SRC}: networks[2].accounts: "shop2" is already in network "chain" (networks[0]), '
        'and an account can be in only one; "solo" is already in network "b" (networks[1]), '
        "and an account can be in only one"
    )


def test_duplicate_network_names():
    d = data(accounts=CHAIN, networks=[net(), net("x", ["solo"]), net("chain", [])])
    assert problems(d) == [
        f"{SRC}: networks[2].accounts: must list at least one account",
        f'{SRC}: networks[2].name: duplicate name "chain" (already used by networks[0])',
    ]


def test_network_and_account_may_share_a_name():
    """Their scopes differ ("network:shop1", "account:shop1")."""
    cfg = parse_config(data(accounts=CHAIN, networks=[net("shop1", ["shop1"])]), source=SRC)
    assert cfg.optout_scopes("shop1") == ("global", "network:shop1", "account:shop1")


BAD_NETWORK = [
    ("name", "a b", 'must be 1 to 64 of A-Z a-z 0-9 _ . -, not "a b"'),
    ("name", "", "must be 1 to 64 of A-Z a-z 0-9 _ . -"),
    ("name", "x" * 65, "must be 1 to 64"),
    ("accounts", [], "must list at least one account"),
    ("accounts", "shop1", 'must be a list of account names, like ["shop1", "shop2"], not "shop1"'),
    ("accounts", ["shop1", "shop1"], '"shop1" is listed twice'),
    ("accounts", ["a b"], '"a b" is not an account name (1 to 64 of A-Z a-z 0-9 _ . -)'),
    ("accounts", [1], "1 is not a string"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_NETWORK, ids=lambda v: str(v)[:20])
def test_network_rules(key, value, message):
    line = one_problem(data(accounts=CHAIN, networks=[{**net(), key: value}]))
    assert line.startswith(f"{SRC}: networks[0].{key}: "), line
    assert message in line, line


@pytest.mark.parametrize("key", ["name", "accounts"])
def test_network_required_keys(key):
    table = net()
    del table[key]
    assert one_problem(data(accounts=CHAIN, networks=[table])) == (
        f"{SRC}: networks[0].{key}: is required"
    )


def test_networks_must_be_array_of_tables():
    assert one_problem(data(networks={"name": "x"})) == (
        f"{SRC}: networks: must be an array of tables ([[networks]]), not a table"
    )


def test_network_check_waits_for_readable_accounts():
    """With [[accounts]] missing, its own error is reported, not one per network member."""
    assert one_problem(data(accounts=None, networks=[net()])) == (
        f"{SRC}: accounts: at least one [[accounts]] is required"
    )


def test_network_member_check_uses_accounts_that_parsed():
    d = data(accounts=[acc("shop1"), acc("shop2", frequency_cap=-1)], networks=[net()])
    assert one_problem(d) == (
        f"{SRC}: accounts[1].frequency_cap: must be an integer from 0 to 1000000, not -1"
    )


# --- misplaced keys and many problems at once


def test_compliance_keys_outside_their_section():
    assert one_problem(data(timezone="Europe/Paris")) == (
        f"{SRC}: timezone: unknown key; it belongs under [compliance]"
    )
    assert one_problem(data(reply_scope="global")) == (
        f"{SRC}: reply_scope: unknown key; it belongs under [optout]"
    )
    assert one_problem(data(stop_mention="STOP")) == (
        f"{SRC}: stop_mention: unknown key; it belongs under [[accounts]]"
    )
    assert one_problem(data(optout={"reply_scop": "global"})) == (
        f'{SRC}: optout.reply_scop: unknown key; did you mean "reply_scope"?'
    )
    assert one_problem(data(network=[net()])) == (
        f'{SRC}: network: unknown section; did you mean "networks"?'
    )


def test_all_compliance_problems_reported_together():
    d = data(
        optout={"applies_to": ["promo"], "failed_threshold": 0},
        compliance={"timezone": "Mars/Olympus", "window_end": "25:00"},
        operators=[op(permanent_errors=["1", "001"], short_code_ton=9)],
        accounts=[acc("shop1", stop_mention_mode="reject"), acc("shop2", senders=["a_b"])],
        networks=[net(accounts=["shop1", "shop9"]), net("chain", ["shop1"])],
    )
    keys = [line.split(": ")[1] for line in problems(d)]
    assert sorted(keys) == sorted([
        "optout.applies_to",
        "optout.failed_threshold",
        "compliance.timezone",
        "compliance.window_end",
        "operators[0].permanent_errors",
        "operators[0].short_code_ton",
        "accounts[0].stop_mention",
        "accounts[1].senders",
        "networks[0].accounts",
        "networks[1].name",
        "networks[1].accounts",
    ])


def test_production_example_compliance():
    cfg = load_config(ROOT / "config" / "production.example.toml")
    assert cfg.optout.reply_scope is ReplyScope.NETWORK and cfg.optout.resubscribe_by_reply
    assert cfg.compliance.subdivision == "57"
    assert cfg.operators[0].permanent_errors == ("1", "9", "B")
    assert cfg.account("marketing").mention_mode is MentionMode.APPEND
    [chain] = cfg.networks
    assert cfg.reply_scope_for(chain.accounts[0]) == "network:chain"
    assert cfg.reply_scope_for("marketing") == "account:marketing"
