"""The daemon's configuration: one TOML file read with ``tomllib`` into frozen dataclasses.

Each section is a dataclass whose fields carry their own spec (``integer(...)``, ``number(...)``,
``string(...)``, ...): the type check, the default, the range and any extra validator live on the
field's line, and one generic parser (:func:`_parse_table`) reads every section from those specs.
Adding a key is one line; adding a section is a dataclass plus one entry in ``SECTIONS`` (single
tables) or ``LISTS`` (arrays of tables). Checks that span several keys (duplicate names, more than
one default route, an initial delay above its maximum) run once the section's own keys are parsed.

Nothing here does I/O beyond reading the file, and a bad file never gives a traceback: every
problem found is collected and raised together as one :class:`ConfigError`, one line per problem,
``<file>: <key path>: <what is wrong>``. Key paths are dotted, with 0-based indexes for arrays of
tables: ``operators[1].port`` is the ``port`` of the second ``[[operators]]``.

Paths (``gateway.socket``, ``gateway.data_dir``, ``operators[].tls_ca_file``) are kept exactly as
written: relative paths are resolved against the daemon's working directory when it starts, not
against the directory of the configuration file.

Routing (as the dispatcher applies it): an operator's ``prefixes`` are E.164 prefixes
(``"+33"``, ``"+336"``); the longest matching prefix wins. The same prefix may be listed by several
operators, and then the operator that comes first in the file is preferred (with
``routing.failover``, the next one is tried when it has no bound session). An operator without
``prefixes`` (or with ``""``) is the default route, used when no prefix matches; there can be at
most one.

Compliance (issue 5) adds three sections. ``[[networks]]`` (optional, any number) names groups
of accounts, such as the shops of a chain: every account listed must be configured, and an
account is in at most one network. ``[optout]`` says which message classes the STOP list blocks,
where a STOP reply puts the number (``reply_scope``), the extra reply keywords, the confirmation,
and when a number that keeps failing is excluded. ``[compliance]`` holds the marketing window
(time zone, holidays country, hours, Sundays) and whether intake refuses non-mobile numbers. Per
account: the STOP mention and what to do without it, quiet-hours handling, allowed senders,
short code and frequency cap; per operator: the receipt error codes that are permanent failures
of the number, and the TON/NPI of short-code senders.

Opt-out scopes are the store's strings: ``"global"``, ``"network:<name>"``, ``"account:<name>"``.
A message of account A is blocked by an exclusion in any scope of :meth:`Config.optout_scopes`:
global, A's network if it is in one, A itself. A STOP reply to A writes the one scope of
:meth:`Config.reply_scope_for`: with ``optout.reply_scope = "network"``, an account in no network
falls back to its own scope (``"account:<name>"``), never to global: a STOP never reaches wider
than configured.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import json
import math
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.optout.keywords import DEFAULT_STOP_KEYWORDS, fold
from gateway.senders import InvalidSender, classify_sender
from gateway.smpp.events import BindMode
from gateway.smpp.receipts import IdFormat

if TYPE_CHECKING:
    from gateway.smpp.client import LinkSettings

__all__ = [
    "AccountConfig",
    "BindStyle",
    "ComplianceConfig",
    "Config",
    "ConfigError",
    "GatewayConfig",
    "LoggingConfig",
    "MentionMode",
    "MessageClass",
    "MetricsConfig",
    "NetworkConfig",
    "OperatorConfig",
    "OptoutConfig",
    "Problem",
    "QuietHoursMode",
    "ReplyScope",
    "RoutingConfig",
    "load_config",
    "normalize_error_code",
    "parse_config",
]

#: Longest Unix socket path: ``sun_path`` is 108 bytes on Linux, including the NUL.
MAX_SOCKET_PATH_BYTES = 107

#: SMPP 3.4 C-Octet String limits (§5.2: system_id 16, password 9, system_type 13 octets,
#: each including the terminating NUL).
MAX_SYSTEM_ID = 15
MAX_PASSWORD = 8
MAX_SYSTEM_TYPE = 12

#: E.164 numbers have at most 15 digits, so a longer prefix can never match.
MAX_PREFIX_DIGITS = 15

#: Longest reply keyword (``optout.stop_keywords``, ``optout.resubscribe_keywords``).
MAX_KEYWORD = 40
#: Longest STOP confirmation (``optout.confirmation``): two concatenated GSM-7 parts, 2 x 153.
MAX_CONFIRMATION = 306
#: Longest STOP mention (``accounts[].stop_mention``): it is added to every marketing text.
MAX_STOP_MENTION = 60

#: Account and network names (a network's name is part of its opt-out scope "network:<name>").
NAME_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
NAME_TEXT = "1 to 64 of A-Z a-z 0-9 _ . -"


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with a configuration file. ``key`` is "" for the file as a whole."""

    source: str
    key: str
    message: str

    def __str__(self) -> str:
        if self.key:
            return f"{self.source}: {self.key}: {self.message}"
        return f"{self.source}: {self.message}"


class ConfigError(ValueError):
    """A configuration that cannot be used. ``str()`` is one line per problem, all of them."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class _Invalid(Exception):
    """Raised by a field's parser; the message is the "what is wrong" part."""


def _show(value: object) -> str:
    """A value as the user wrote it, roughly in TOML spelling, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
        return text if len(text) <= 60 else "an array"
    return str(value)


def _num(x: float) -> str:
    """A number without exponent or a trailing ".0": 1000000, 0.5, 2."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return str(x)


def _must(what: str, value: object) -> _Invalid:
    return _Invalid(f"must be {what}, not {_show(value)}")


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _suggest_inline(word: str, choices: list[str]) -> str:
    """:func:`_suggest` for one item of a list, whose problems are joined with "; "."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


# --------------------------------------------------------------------------------------------
# Field specs: each returns a dataclasses.field whose metadata holds the parser.

#: Marks a key that has no default.
REQUIRED: Any = dataclasses.MISSING

Parser = Callable[[Any], Any]
Check = Callable[[Any], str | None]


def _setting(default: Any, parse: Parser, checks: tuple[Check, ...], doc: str) -> Any:
    meta = {"parse": parse, "checks": checks, "doc": doc}
    return dataclasses.field(default=default, metadata=meta)


def _range_text(noun: str, lo: float | None, hi: float | None, gt: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{noun} from {_num(lo)} to {_num(hi)}"
    if gt is not None:
        return f"{noun} greater than {_num(gt)}"
    if lo is not None:
        return f"{noun} of at least {_num(lo)}"
    if hi is not None:
        return f"{noun} of at most {_num(hi)}"
    return noun


def integer(
    default: Any = REQUIRED,
    *,
    lo: int | None = None,
    hi: int | None = None,
    checks: tuple[Check, ...] = (),
    doc: str = "",
) -> Any:
    what = _range_text("an integer", lo, hi, None)

    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _must(what, value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _must(what, value)
        return value

    return _setting(default, parse, checks, doc)


def number(
    default: Any = REQUIRED,
    *,
    lo: float | None = None,
    hi: float | None = None,
    gt: float | None = None,
    optional: bool = False,
    checks: tuple[Check, ...] = (),
    doc: str = "",
) -> Any:
    """A float; integers are accepted. ``gt`` is an exclusive lower bound."""
    what = _range_text("a number", lo, hi, gt)

    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _must(what, value)
        x = float(value)
        if not math.isfinite(x):
            raise _must(what, value)
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise _must(what, value)
        if gt is not None and x <= gt:
            raise _must(what, value)
        return x

    return _setting(None if optional else default, parse, checks, doc)


def boolean(default: Any = REQUIRED, *, doc: str = "") -> Any:
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise _must("true or false", value)
        return value

    return _setting(default, parse, (), doc)


def string(
    default: Any = REQUIRED,
    *,
    nonempty: bool = False,
    pattern: str | None = None,
    pattern_text: str = "",
    max_bytes: int | None = None,
    ascii_only: bool = False,
    checks: tuple[Check, ...] = (),
    doc: str = "",
) -> Any:
    regex = re.compile(pattern) if pattern else None

    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise _must("a non-empty string" if nonempty else "a string", value)
        if nonempty and not value:
            raise _Invalid("must not be empty")
        if regex is not None and not regex.fullmatch(value):
            raise _must(pattern_text or f"a string matching {pattern}", value)
        if ascii_only and not (value.isascii() and value.isprintable()):
            raise _must("printable ASCII", value)
        if max_bytes is not None and len(value.encode()) > max_bytes:
            raise _Invalid(f"must be at most {max_bytes} bytes long, not {len(value.encode())}")
        return value

    return _setting(default, parse, checks, doc)


def choice(
    default: Any, enum: type[StrEnum], *, aliases: Mapping[str, str] | None = None, doc: str = ""
) -> Any:
    """One of an enum's values (or an alias of one). (Fields using it carry ``noqa: RUF009``:
    ruff cannot tell that the call returns a ``dataclasses.field``, whose default is immutable.)"""
    values = [m.value for m in enum]
    what = "one of " + ", ".join(f'"{v}"' for v in values)
    aliases = dict(aliases or {})

    def parse(value: Any) -> StrEnum:
        if isinstance(value, str) and value in values:
            return enum(value)
        if isinstance(value, str) and value in aliases:
            return enum(aliases[value])
        hint = _suggest(value, values) if isinstance(value, str) else ""
        raise _Invalid(f"must be {what}, not {_show(value)}{hint}")

    return _setting(default, parse, (), doc)


def custom(default: Any, parse: Parser, *, doc: str = "") -> Any:
    """A key with its own parser (which raises ``_Invalid``)."""
    return _setting(default, parse, (), doc)


def strings(
    default: Any = REQUIRED,
    *,
    item: Callable[[str], Any],
    what: str,
    key: Callable[[Any], object] | None = None,
    empty: str = "",
    doc: str = "",
) -> Any:
    """An array of strings, kept as a tuple in the order written. ``item`` checks and
    normalises one string (raising ``_Invalid`` with a message that names it); two items with
    the same ``key`` (default: the normalised value) are an error; ``empty``, when given, refuses
    an empty array with that message. Every bad item is reported, in one line."""

    def parse(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _must(what, value)
        if not value and empty:
            raise _Invalid(empty)
        problems: list[str] = []
        seen: dict[object, str] = {}
        result = []
        for raw in value:
            if not isinstance(raw, str):
                problems.append(f"{_show(raw)} is not a string")
                continue
            try:
                parsed = item(raw)
            except _Invalid as exc:
                problems.append(str(exc))
                continue
            k = parsed if key is None else key(parsed)
            if k in seen:
                first = seen[k]
                problems.append(
                    f"{_show(raw)} is listed twice" if first == raw
                    else f"{_show(raw)} is the same as {_show(first)}"
                )
                continue
            seen[k] = raw
            result.append(parsed)
        if problems:
            raise _Invalid("; ".join(problems))
        return tuple(result)

    return _setting(default, parse, (), doc)


_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


def hhmm(default: Any = REQUIRED, *, doc: str = "") -> Any:
    """A wall-clock time "HH:MM", 24 h, kept as the string (zero-padded, so two of them compare
    as the times do)."""

    def parse(value: Any) -> str:
        if not isinstance(value, str) or not _HHMM.fullmatch(value):
            raise _must('a time "HH:MM" from "00:00" to "23:59"', value)
        return value

    return _setting(default, parse, (), doc)


# --------------------------------------------------------------------------------------------
# Parsers for the few keys that are not plain types.


def _parse_octal_mode(value: Any) -> str:
    """Kept as the string written (``int(mode, 8)`` is always valid on it): a TOML integer is
    refused, since ``660`` is decimal and would not mean rw-rw----."""
    what = 'an octal permission string like "0660"'
    if not isinstance(value, str) or not re.fullmatch(r"0?[0-7]{3}", value):
        raise _must(what, value)
    return value


def _check_region(value: str) -> str | None:
    from phonenumbers import SUPPORTED_REGIONS  # noqa: PLC0415 - costs 35 ms; only when used

    if value in SUPPORTED_REGIONS:
        return None
    hint = f'; did you mean "{value.upper()}"?' if value.upper() in SUPPORTED_REGIONS else ""
    return f"must be a region code known to phonenumbers (such as \"FR\"), not {_show(value)}{hint}"


def _parse_listen(value: Any) -> str:
    """``host:port``, ``[ipv6]:port`` or "" (disabled). Returns the string unchanged."""
    if not isinstance(value, str):
        raise _must('"host:port" or "" to disable', value)
    if value:
        _split_listen(value)
    return value


def _split_listen(value: str) -> tuple[str, int]:
    what = '"host:port" (IPv6 as "[::1]:9464") or "" to disable'
    if value.startswith("["):
        end = value.find("]:")
        if end < 0:
            raise _must(what, value)
        host, port_text = value[1:end], value[end + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _Invalid(f"{_show(host)} is not an IPv6 address, in {_show(value)}") from None
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep or not host:
            raise _must(what, value)
        if ":" in host:
            raise _Invalid(f'put an IPv6 address in brackets ("[::1]:9464"), not {_show(value)}')
        if any(c.isspace() for c in host):
            raise _must(what, value)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise _Invalid(f"port must be an integer from 1 to 65535, in {_show(value)}")
    return host, int(port_text)


def _parse_prefixes(value: Any) -> tuple[str, ...]:
    """A list of E.164 prefixes (a lone string is taken as a list of one); "" is the default
    route. Returned in the order given; duplicates within the list are errors."""
    what = 'a list of E.164 prefixes like ["+33"] ("" for the default route)'
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise _must(what, value)
    if not items:
        raise _Invalid(
            'must list at least one prefix (leave it out, or use "", for the default route)'
        )
    problems = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            problems.append(f"{_show(item)} is not a string")
        elif item in seen:
            problems.append(f"{_show(item)} is listed twice")
        elif item and not re.fullmatch(rf"\+[0-9]{{1,{MAX_PREFIX_DIGITS}}}", item):
            problems.append(f'{_show(item)} is not "+" followed by 1 to 15 digits')
        elif item and not _starts_country_code(item[1:]):
            problems.append(f"{_show(item)} does not start with a country calling code")
        if isinstance(item, str):
            seen.add(item)
    if problems:
        raise _Invalid("; ".join(problems))
    return tuple(items)


def _starts_country_code(digits: str) -> bool:
    """True when ``digits`` begins with a country calling code, or is the start of one (so that
    "+3" routes every +3x country)."""
    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE  # noqa: PLC0415 - as _check_region

    codes = (str(c) for c in COUNTRY_CODE_TO_REGION_CODE)
    return any(digits.startswith(c) or c.startswith(digits) for c in codes)


def _check_timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    else:
        return None
    names = sorted(zoneinfo.available_timezones())
    folded = {n.casefold(): n for n in names}
    if value.casefold() in folded:
        hint = f'; did you mean "{folded[value.casefold()]}"?'
    else:
        hint = _suggest(value, names)
    return f'must be a time zone name (such as "Europe/Paris"), not {_show(value)}{hint}'


@functools.cache
def _holiday_countries() -> dict[str, list[str]]:
    """The ``holidays`` package's country codes (aliases included), each with its subdivisions.
    Imported and listed only when a configuration is checked: it costs about 0.2 s."""
    import holidays  # noqa: PLC0415 - as _check_region

    return holidays.list_supported_countries()


def _check_country(value: str) -> str | None:
    countries = _holiday_countries()
    if value in countries:
        return None
    hint = f'; did you mean "{value.upper()}"?' if value.upper() in countries else ""
    return (
        'must be a country code known to the holidays package (such as "FR"), '
        f"not {_show(value)}{hint}"
    )


def _check_text(value: str, limit: int) -> str | None:
    """Text sent as (part of) an SMS: "" for none, else not only spaces, at most ``limit``."""
    if value and not value.strip():
        return 'must not be only spaces (use "" for none)'
    if len(value) > limit:
        return f"must be at most {limit} characters long, not {len(value)}"
    return None


def _check_confirmation(value: str) -> str | None:
    return _check_text(value, MAX_CONFIRMATION)


def _check_mention(value: str) -> str | None:
    if not value.isprintable():
        return f"must be one line of printable characters, not {_show(value)}"
    return _check_text(value, MAX_STOP_MENTION)


def _keyword(value: str) -> str:
    """A reply keyword, as written (the matcher folds it); duplicates are found folded."""
    if not value.strip():
        raise _Invalid(f"{_show(value)} is empty")
    if len(value) > MAX_KEYWORD:
        raise _Invalid(f"{_show(value)} is longer than {MAX_KEYWORD} characters")
    if not fold(value):
        raise _Invalid(f"{_show(value)} has no letter or digit")
    return value


def normalize_error_code(code: str) -> str:
    """A receipt's ``err:`` code as :attr:`OperatorConfig.permanent_errors` holds it: upper-case,
    without leading zeros, "0" for all zeros ("001" -> "1", "00b" -> "B", "000" -> "0")."""
    return code.strip().upper().lstrip("0") or "0"


def _error_code(value: str) -> str:
    if not re.fullmatch(r"[0-9A-Za-z]{1,10}", value):
        raise _Invalid(f'{_show(value)} is not an error code (1 to 10 letters or digits, as "00B")')
    return normalize_error_code(value)


def _sender(value: str) -> str:
    """A sender, as written, if :func:`gateway.senders.classify_sender` accepts it."""
    try:
        classify_sender(value)
    except InvalidSender as exc:
        detail = str(exc).removeprefix(repr(value)).strip()
        raise _Invalid(f"{_show(value)} {detail}") from None
    return value


def _sender_address(value: str) -> str:
    """Two spellings of one sender ("+33612345678" and "33612345678") are the same sender."""
    return classify_sender(value).address


def _one_of(enum: type[StrEnum]) -> Callable[[str], StrEnum]:
    """An item parser: one of ``enum``'s values."""
    values = [m.value for m in enum]
    what = " or ".join(f'"{v}"' for v in values)

    def parse(value: str) -> StrEnum:
        if value in values:
            return enum(value)
        raise _Invalid(f"{_show(value)} is not {what}{_suggest_inline(value, values)}")

    return parse


def _account_ref(value: str) -> str:
    """An account named in a network; checked against [[accounts]] once every section is read."""
    if not re.fullmatch(NAME_PATTERN, value):
        raise _Invalid(f"{_show(value)} is not an account name ({NAME_TEXT})")
    return value


def _check_host(value: str) -> str | None:
    if any(c.isspace() for c in value) or value.startswith("["):
        return f"must be a host name or IP address (without brackets), not {_show(value)}"
    return None


# --------------------------------------------------------------------------------------------
# Sections


class LogFormat(StrEnum):
    #: Console rendering on a tty, JSON lines otherwise.
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class BindStyle(StrEnum):
    """How an operator's binds are made."""

    #: Each bind is one transceiver session.
    TRANSCEIVER = "transceiver"
    #: Each bind is a pair of sessions: a transmitter and a receiver.
    TRANSMITTER_RECEIVER = "transmitter_receiver"


class MessageClass(StrEnum):
    """A message's ``class`` in the socket API."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class ReplyScope(StrEnum):
    """Where a STOP reply puts the number (``optout.reply_scope``)."""

    #: Every account: nobody may message the number.
    GLOBAL = "global"
    #: Every account of the network of the account the reply answers (that account alone when
    #: it is in no network).
    NETWORK = "network"
    #: Only the account the reply answers.
    ACCOUNT = "account"


class MentionMode(StrEnum):
    """What intake does with a marketing text that lacks the account's STOP mention."""

    #: Written in the file only: "append" when ``stop_mention`` is set, "off" when it is "".
    #: :attr:`AccountConfig.mention_mode` is never AUTO.
    AUTO = "auto"
    #: The mention is added to the text (and counted in its parts).
    APPEND = "append"
    #: The message is rejected with ``missing_stop_mention``.
    REJECT = "reject"
    #: No check.
    OFF = "off"


class QuietHoursMode(StrEnum):
    """What intake does with a marketing message outside the allowed window."""

    #: Accepted as ``scheduled``, sent when the window opens.
    SCHEDULE = "schedule"
    #: Rejected with ``quiet_hours``.
    REJECT = "reject"


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    socket: str = string(
        "var/gateway.sock", nonempty=True, max_bytes=MAX_SOCKET_PATH_BYTES,
        doc="Unix socket path of the client API",
    )
    data_dir: str = string("var/data", nonempty=True, doc="LMDB environment directory")
    socket_mode: str = custom("0660", _parse_octal_mode, doc="socket file permissions (octal)")
    map_size_mb: int = integer(1 << 20, lo=1, hi=1 << 24, doc="LMDB map (address space); grows")
    commit_interval_ms: float = number(
        2.0, lo=0, hi=1000, doc="longest wait to gather a batch (an idle loop commits at once)"
    )
    commit_batch: int = integer(2000, lo=1, hi=1_000_000, doc="most messages per write txn")
    retention_days: float = number(7.0, gt=0, doc="finished messages and events are pruned")
    default_validity_s: int = integer(172_800, lo=1, doc="validity when a submit gives none")
    max_validity_s: int = integer(604_800, lo=1, doc="a submit asking more is rejected")
    max_frame_bytes: int = integer(1 << 20, lo=1024, hi=1 << 26, doc="largest client frame")
    max_batch: int = integer(10_000, lo=1, hi=1_000_000, doc="most messages in a submit_many")
    subscriber_queue: int = integer(10_000, lo=1, doc="events buffered per subscriber")
    shutdown_grace_s: float = number(10.0, lo=0, doc="time links get to unbind on stop")
    default_region: str = string("FR", checks=(_check_region,), doc="for national numbers")

    @property
    def socket_permissions(self) -> int:
        """``socket_mode`` as a number for ``os.chmod``."""
        return int(self.socket_mode, 8)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingConfig:
    format: LogFormat = choice(LogFormat.AUTO, LogFormat)  # noqa: RUF009
    level: LogLevel = choice(LogLevel.INFO, LogLevel)  # noqa: RUF009


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    listen: str = custom("127.0.0.1:9464", _parse_listen, doc='host:port; "" disables')
    #: From ``listen``: None when metrics are disabled.
    host: str | None = None
    port: int | None = None

    @property
    def enabled(self) -> bool:
        return self.port is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingConfig:
    failover: bool = boolean(False, doc="try the next matching route when one has no session")


#: "as_is" is accepted as another spelling of IdFormat's "as-is".
ID_ALIASES = {"as_is": IdFormat.AS_IS.value}


def _id_format() -> Any:
    return choice(IdFormat.AS_IS, IdFormat, aliases=ID_ALIASES)


def _link(default: float) -> Any:
    """A link timing in seconds."""
    return number(default, gt=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorConfig:
    name: str = string(pattern=r"[A-Za-z0-9_-]{1,32}", pattern_text="1 to 32 of A-Z a-z 0-9 _ -")
    host: str = string(nonempty=True, checks=(_check_host,))
    port: int = integer(2775, lo=1, hi=65535)
    system_id: str = string(nonempty=True, ascii_only=True, max_bytes=MAX_SYSTEM_ID)
    password: str = string(ascii_only=True, max_bytes=MAX_PASSWORD)
    system_type: str = string("", ascii_only=True, max_bytes=MAX_SYSTEM_TYPE)
    binds: int = integer(1, lo=1, hi=64)
    bind_mode: BindStyle = choice(BindStyle.TRANSCEIVER, BindStyle)  # noqa: RUF009
    window: int = integer(50, lo=1, hi=10_000)
    tps: float = number(gt=0, doc="parts per second across the operator's binds")
    #: Token bucket size; None in the file means ``max(1, tps / 10)``, resolved when parsed.
    burst: float = number(lo=1, optional=True)
    #: "" is the default route.
    prefixes: tuple[str, ...] = custom(("",), _parse_prefixes)
    #: How the SMSC writes message ids in submit_sm_resp, and in its receipts.
    id_format: IdFormat = _id_format()  # noqa: RUF009
    receipt_id_format: IdFormat = _id_format()  # noqa: RUF009
    response_timeout_s: float = _link(10.0)
    enquire_link_s: float = _link(30.0)
    connect_timeout_s: float = _link(10.0)
    bind_timeout_s: float = _link(10.0)
    reconnect_initial_s: float = _link(1.0)
    reconnect_max_s: float = _link(60.0)
    max_attempts: int = integer(5, lo=1, hi=100)
    throttle_initial_s: float = _link(0.5)
    throttle_max_s: float = _link(30.0)
    queue_size: int = integer(1000, lo=1, hi=10_000_000)
    tls: bool = boolean(False)
    tls_verify: bool = boolean(True)
    #: "" means the system's default CA store.
    tls_ca_file: str = string("")
    #: Receipt ``err:`` codes that are permanent failures of the number, normalised by
    #: :func:`normalize_error_code` ("001" is held as "1"); () means every UNDELIV or REJECTD
    #: receipt counts. See :meth:`is_permanent_error`.
    permanent_errors: tuple[str, ...] = strings(
        (), item=_error_code, what='a list of error codes as strings, like ["001", "00B"]',
    )
    #: SMPP TON and NPI of short-code senders (3..8 digits) on this operator.
    short_code_ton: int = integer(3, lo=0, hi=6)
    short_code_npi: int = integer(0, lo=0, hi=18)

    def is_permanent_error(self, err: str | None) -> bool:
        """Whether an UNDELIV or REJECTD receipt with this ``err:`` code (as printed, or None
        when the receipt has none) counts against the number. The caller checks the state: a
        DELIVRD or EXPIRED receipt never counts, whatever its code."""
        if not self.permanent_errors:
            return True
        return err is not None and normalize_error_code(err) in self.permanent_errors

    def route_prefixes(self) -> tuple[str, ...]:
        """The E.164 prefixes this operator serves, "" standing for the default route."""
        return self.prefixes

    @property
    def is_default_route(self) -> bool:
        return "" in self.prefixes

    def bind_modes(self) -> tuple[BindMode, ...]:
        """The sessions of one bind: one transceiver, or a transmitter and a receiver."""
        if self.bind_mode is BindStyle.TRANSMITTER_RECEIVER:
            return (BindMode.TRANSMITTER, BindMode.RECEIVER)
        return (BindMode.TRANSCEIVER,)

    def link_settings(self, mode: BindMode | None = None) -> LinkSettings:
        """The client's settings for this operator's links. ``LinkSettings`` holds one bind mode,
        so for ``transmitter_receiver`` call it once per mode of :meth:`bind_modes` (the default
        is the first: TRANSCEIVER, or TRANSMITTER)."""
        from gateway.smpp.client import LinkSettings  # noqa: PLC0415 - keeps config trio-free

        modes = self.bind_modes()
        if mode is None:
            mode = modes[0]
        elif mode not in modes:
            raise ValueError(f"operator {self.name!r} binds as {self.bind_mode}, not {mode.value}")
        return LinkSettings(
            name=self.name,
            host=self.host,
            port=self.port,
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            mode=mode,
            window=self.window,
            response_timeout=self.response_timeout_s,
            enquire_link_interval=self.enquire_link_s,
            connect_timeout=self.connect_timeout_s,
            bind_timeout=self.bind_timeout_s,
            reconnect_initial=self.reconnect_initial_s,
            reconnect_max=self.reconnect_max_s,
            max_attempts=self.max_attempts,
            throttle_initial=self.throttle_initial_s,
            throttle_max=self.throttle_max_s,
            tls=self.tls,
            tls_verify=self.tls_verify,
            tls_ca_file=self.tls_ca_file or None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountConfig:
    name: str = string(pattern=NAME_PATTERN, pattern_text=NAME_TEXT)
    #: The opt-out mention of marketing texts ("STOP au 36184"); "" for none.
    stop_mention: str = string("", checks=(_check_mention,))
    #: As written; :attr:`mention_mode` is the mode that applies.
    stop_mention_mode: MentionMode = choice(MentionMode.AUTO, MentionMode)  # noqa: RUF009
    quiet_hours: QuietHoursMode = choice(QuietHoursMode.SCHEDULE, QuietHoursMode)  # noqa: RUF009
    #: The senders the account may use, as written; () allows any valid sender.
    senders: tuple[str, ...] = strings(
        (), item=_sender, key=_sender_address, what='a list of sender IDs, like ["MaBoutique"]',
    )
    #: The short code replies come to ("36184"); "" for none.
    short_code: str = string("", pattern=r"([0-9]{3,8})?", pattern_text='3 to 8 digits, or ""')
    #: Most marketing messages to one number within ``frequency_window_days``; 0 is no cap.
    frequency_cap: int = integer(0, lo=0, hi=1_000_000)
    frequency_window_days: float = number(30.0, gt=0)

    @property
    def mention_mode(self) -> MentionMode:
        """APPEND, REJECT or OFF (never AUTO): "auto" is APPEND with a mention, else OFF."""
        if self.stop_mention_mode is MentionMode.AUTO:
            return MentionMode.APPEND if self.stop_mention else MentionMode.OFF
        return self.stop_mention_mode

    @property
    def rejects_quiet_hours(self) -> bool:
        return self.quiet_hours is QuietHoursMode.REJECT


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkConfig:
    """A named group of accounts (the shops of a chain): a STOP in ``network:<name>`` blocks
    every account of it."""

    name: str = string(pattern=NAME_PATTERN, pattern_text=NAME_TEXT)
    accounts: tuple[str, ...] = strings(
        item=_account_ref, what='a list of account names, like ["shop1", "shop2"]',
        empty="must list at least one account",
    )

    @property
    def scope(self) -> str:
        """This network's opt-out scope."""
        return f"network:{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OptoutConfig:
    #: The classes the STOP list blocks (in the order written).
    applies_to: tuple[MessageClass, ...] = strings(
        (MessageClass.MARKETING,), item=_one_of(MessageClass),
        what='a list of message classes, like ["marketing"]',
        empty='must list at least one class (["marketing"]): an opt-out list that blocks '
        "nothing is not an opt-out",
    )
    reply_scope: ReplyScope = choice(ReplyScope.GLOBAL, ReplyScope)  # noqa: RUF009
    #: Reply keywords that opt out, besides gateway.optout.keywords.DEFAULT_STOP_KEYWORDS.
    stop_keywords: tuple[str, ...] = strings(
        (), item=_keyword, key=fold, what='a list of keywords, like ["ANNULER"]',
    )
    #: Reply keywords that re-subscribe ("START"); () turns re-subscription by reply off.
    resubscribe_keywords: tuple[str, ...] = strings(
        (), item=_keyword, key=fold, what='a list of keywords, like ["START"]',
    )
    #: Text sent back after a STOP reply; "" sends nothing.
    confirmation: str = string("", checks=(_check_confirmation,))
    #: Permanent failures of a number within ``failed_window_days`` that exclude it (reason
    #: failed_number) for ``failed_exclusion_days``.
    failed_threshold: int = integer(3, lo=1, hi=100)
    failed_window_days: float = number(30.0, gt=0)
    failed_exclusion_days: float = number(90.0, gt=0)

    @property
    def blocks_marketing(self) -> bool:
        return MessageClass.MARKETING in self.applies_to

    @property
    def blocks_transactional(self) -> bool:
        return MessageClass.TRANSACTIONAL in self.applies_to

    def blocks(self, marketing: bool) -> bool:
        """Whether the STOP list is checked for a message of this class."""
        return self.blocks_marketing if marketing else self.blocks_transactional

    @property
    def resubscribe_by_reply(self) -> bool:
        return bool(self.resubscribe_keywords)


@dataclass(frozen=True, slots=True, kw_only=True)
class ComplianceConfig:
    """The marketing window, judged on local wall-clock time (see gateway.schedule)."""

    #: A zoneinfo key.
    timezone: str = string("Europe/Paris", checks=(_check_timezone,))
    #: The ``holidays`` package's country code, for public holidays.
    country: str = string("FR", checks=(_check_country,))
    #: A subdivision of ``country`` in the ``holidays`` package ("57": Moselle); "" for none.
    subdivision: str = string("")
    #: Marketing goes out from window_start (included) to window_end (excluded), "HH:MM".
    window_start: str = hhmm("08:00")
    window_end: str = hhmm("20:30")
    no_sundays: bool = boolean(True)
    no_holidays: bool = boolean(True)
    #: Intake refuses (invalid_number) numbers phonenumbers does not see as mobile.
    require_mobile: bool = boolean(True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    gateway: GatewayConfig
    logging: LoggingConfig
    metrics: MetricsConfig
    routing: RoutingConfig
    optout: OptoutConfig = dataclasses.field(default_factory=OptoutConfig)
    compliance: ComplianceConfig = dataclasses.field(default_factory=ComplianceConfig)
    operators: tuple[OperatorConfig, ...]
    accounts: tuple[AccountConfig, ...]
    networks: tuple[NetworkConfig, ...] = ()
    #: The file it was read from (or the ``source`` given to :func:`parse_config`).
    source: str
    #: Derived: account name -> its network's name; configured account -> its opt-out scopes
    #: (computed once, as optout_scopes is asked for every message).
    _network_by_account: dict[str, str] = dataclasses.field(
        init=False, repr=False, compare=False
    )
    _scopes: dict[str, tuple[str, ...]] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index = {acc: net.name for net in self.networks for acc in net.accounts}
        object.__setattr__(self, "_network_by_account", index)
        scopes = {acc.name: self._scopes_of(acc.name) for acc in self.accounts}
        object.__setattr__(self, "_scopes", scopes)

    def _scopes_of(self, account_name: str) -> tuple[str, ...]:
        net = self._network_by_account.get(account_name)
        if net is None:
            return ("global", f"account:{account_name}")
        return ("global", f"network:{net}", f"account:{account_name}")

    def network(self, name: str) -> NetworkConfig:
        for net in self.networks:
            if net.name == name:
                return net
        raise KeyError(name)

    def network_of(self, account_name: str) -> str | None:
        """The name of the network ``account_name`` is in; None when in none (or unknown)."""
        return self._network_by_account.get(account_name)

    def accounts_of_network(self, name: str) -> tuple[str, ...]:
        """The accounts of network ``name``, in the order written; KeyError if there is none."""
        return self.network(name).accounts

    def optout_scopes(self, account_name: str) -> tuple[str, ...]:
        """The opt-out scopes checked for a message of ``account_name``, widest first:
        ``("global", "network:<net>", "account:<name>")``, without the network when it is in
        none. Any name works (an account missing from the file is in no network)."""
        scopes = self._scopes.get(account_name)
        return self._scopes_of(account_name) if scopes is None else scopes

    def reply_scope_for(self, account_name: str) -> str:
        """The scope a STOP reply to ``account_name`` writes, per ``optout.reply_scope``:
        "network" for an account in no network falls back to ``"account:<name>"``."""
        scope = self.optout.reply_scope
        if scope is ReplyScope.GLOBAL:
            return "global"
        net = self._network_by_account.get(account_name)
        if scope is ReplyScope.NETWORK and net is not None:
            return f"network:{net}"
        return f"account:{account_name}"

    def operator(self, name: str) -> OperatorConfig:
        for op in self.operators:
            if op.name == name:
                return op
        raise KeyError(name)

    def account(self, name: str) -> AccountConfig:
        for acc in self.accounts:
            if acc.name == name:
                return acc
        raise KeyError(name)


# --------------------------------------------------------------------------------------------
# The generic parser


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(Problem(source=self.source, key=key, message=message))


def _specs(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The fields of a section that are read from the file (derived fields have no parser)."""
    return {f.name: f for f in dataclasses.fields(cls) if "parse" in f.metadata}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _parse_table(
    cls: type, table: Mapping[str, Any], path: str, problems: _Problems
) -> tuple[dict[str, Any], bool]:
    """Every key of ``cls`` read from ``table``: the values that parsed (defaults filled in),
    and whether all of them did (the problems are recorded)."""
    specs = _specs(cls)
    values: dict[str, Any] = {}
    ok = True
    for key in table:
        if key not in specs:
            ok = False
            problems.add(_join(path, key), "unknown key" + _suggest(key, list(specs)))
    for name, spec in specs.items():
        if name not in table:
            if spec.default is dataclasses.MISSING:
                ok = False
                problems.add(_join(path, name), "is required")
            else:
                values[name] = spec.default
            continue
        try:
            value = spec.metadata["parse"](table[name])
            for check in spec.metadata["checks"]:
                message = check(value)
                if message:
                    raise _Invalid(message)
        except _Invalid as exc:
            ok = False
            problems.add(_join(path, name), str(exc))
        else:
            values[name] = value
    return values, ok


def _not_above(values: dict[str, Any], low: str, high: str, path: str, problems: _Problems) -> bool:
    if values[low] > values[high]:
        message = f"must not exceed {high} ({_num(values[high])}), not {_num(values[low])}"
        problems.add(_join(path, low), message)
        return False
    return True


def _finish_gateway(values: dict[str, Any], path: str, problems: _Problems) -> bool:
    return _not_above(values, "default_validity_s", "max_validity_s", path, problems)


def _finish_metrics(values: dict[str, Any], path: str, problems: _Problems) -> bool:
    if values["listen"]:
        values["host"], values["port"] = _split_listen(values["listen"])
    return True


def _finish_operator(values: dict[str, Any], path: str, problems: _Problems) -> bool:
    ok = _not_above(values, "reconnect_initial_s", "reconnect_max_s", path, problems)
    ok = _not_above(values, "throttle_initial_s", "throttle_max_s", path, problems) and ok
    if values["burst"] is None:
        values["burst"] = max(1.0, values["tps"] / 10)
    if values["tls_ca_file"] and not values["tls"]:
        problems.add(_join(path, "tls_ca_file"), "is set but tls is false")
        ok = False
    if values["tls_ca_file"] and not values["tls_verify"]:
        problems.add(_join(path, "tls_ca_file"), "is set but tls_verify is false")
        ok = False
    return ok


def _finish_account(values: dict[str, Any], path: str, problems: _Problems) -> bool:
    mode = values["stop_mention_mode"]
    if mode in (MentionMode.APPEND, MentionMode.REJECT) and not values["stop_mention"]:
        problems.add(_join(path, "stop_mention"), f'is required when stop_mention_mode is "{mode}"')
        return False
    return True


def _finish_optout(values: dict[str, Any], path: str, problems: _Problems) -> bool:
    """A word cannot both opt out and re-subscribe."""
    stop = {fold(k) for k in (*DEFAULT_STOP_KEYWORDS, *values["stop_keywords"])}
    clashes = [k for k in values["resubscribe_keywords"] if fold(k) in stop]
    if clashes:
        shown = ", ".join(_show(k) for k in clashes)
        problems.add(_join(path, "resubscribe_keywords"), f"{shown}: also a STOP keyword")
        return False
    return True


def _finish_compliance(values: dict[str, Any], path: str, problems: _Problems) -> bool:
    ok = True
    if values["window_end"] <= values["window_start"]:
        problems.add(
            _join(path, "window_end"),
            f'must be after window_start ("{values["window_start"]}"), '
            f'not "{values["window_end"]}"',
        )
        ok = False
    subdivision = values["subdivision"]
    if subdivision:
        known = _holiday_countries()[values["country"]]
        if subdivision not in known:
            country = _show(values["country"])
            if known:
                listed = ", ".join(_show(s) for s in known[:6]) + (", ..." if known[6:] else "")
                message = (
                    f'must be "" or a subdivision of {country} in the holidays package '
                    f"({listed}), not {_show(subdivision)}{_suggest(subdivision, known)}"
                )
            else:
                message = (
                    f'must be "": the holidays package has no subdivisions for {country}, '
                    f"not {_show(subdivision)}"
                )
            problems.add(_join(path, "subdivision"), message)
            ok = False
    return ok


Finisher = Callable[[dict[str, Any], str, _Problems], bool]


def _no_finish(values: dict[str, Any], path: str, problems: _Problems) -> bool:
    return True


#: Single-table sections: ``[name]``, all keys optional, the section itself optional.
SECTIONS: dict[str, tuple[type, Finisher]] = {
    "gateway": (GatewayConfig, _finish_gateway),
    "logging": (LoggingConfig, _no_finish),
    "metrics": (MetricsConfig, _finish_metrics),
    "routing": (RoutingConfig, _no_finish),
    "optout": (OptoutConfig, _finish_optout),
    "compliance": (ComplianceConfig, _finish_compliance),
}


def _section(name: str, data: Mapping[str, Any], problems: _Problems) -> Any:
    cls, finish = SECTIONS[name]
    table = data.get(name, {})
    if not isinstance(table, dict):
        problems.add(name, f"must be a table ([{name}]), not {_show(table)}")
        return None
    values, ok = _parse_table(cls, table, name, problems)
    if not ok or not finish(values, name, problems):
        return None
    return cls(**values)


#: One entry of an array of tables: its index, the values that parsed, and the dataclass (None
#: when some key was wrong).
Entry = tuple[int, dict[str, Any], Any]


def _list(name: str, data: Mapping[str, Any], problems: _Problems) -> list[Entry] | None:
    cls, finish, _, required = LISTS[name]
    if name not in data and not required:
        return []
    if name not in data:
        problems.add(name, f"at least one [[{name}]] is required")
        return None
    items = data[name]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        problems.add(name, f"must be an array of tables ([[{name}]]), not {_show(items)}")
        return None
    if not items and required:
        problems.add(name, f"at least one [[{name}]] is required")
        return None
    entries: list[Entry] = []
    for index, table in enumerate(items):
        path = f"{name}[{index}]"
        values, ok = _parse_table(cls, table, path, problems)
        ok = ok and finish(values, path, problems)
        entries.append((index, values, cls(**values) if ok else None))
    return entries


# Checks across the entries of a list use the keys that parsed, even in an entry with other
# problems, so that a duplicate name is reported in the same run as a bad port.


def _check_unique(name: str, entries: list[Entry], problems: _Problems) -> None:
    first: dict[str, int] = {}
    for index, values, _ in entries:
        if "name" not in values:
            continue
        entry_name = values["name"]
        if entry_name in first:
            problems.add(
                f"{name}[{index}].name",
                f"duplicate name {_show(entry_name)} (already used by {name}[{first[entry_name]}])",
            )
        else:
            first[entry_name] = index


def _check_routes(name: str, entries: list[Entry], problems: _Problems) -> None:
    default: tuple[int, str] | None = None
    for index, values, _ in entries:
        if "" not in values.get("prefixes", ()):
            continue
        if default is None:
            default = (index, values.get("name", "?"))
        else:
            problems.add(
                f"{name}[{index}].prefixes",
                f"a second default route ({name}[{default[0]}] {_show(default[1])} is "
                "already the default route): give one of them prefixes",
            )


def _check_operators(name: str, entries: list[Entry], problems: _Problems) -> None:
    _check_unique(name, entries, problems)
    _check_routes(name, entries, problems)


CrossCheck = Callable[[str, list[Entry], _Problems], None]

#: Arrays of tables: ``[[name]]``, the check across entries, and whether at least one entry is
#: required (an optional list may be left out).
LISTS: dict[str, tuple[type, Finisher, CrossCheck, bool]] = {
    "operators": (OperatorConfig, _finish_operator, _check_operators, True),
    "accounts": (AccountConfig, _finish_account, _check_unique, True),
    "networks": (NetworkConfig, _no_finish, _check_unique, False),
}


def _check_networks(lists: Mapping[str, list[Entry] | None], problems: _Problems) -> None:
    """Across sections: a network lists configured accounts (checked when [[accounts]] itself
    was readable), and an account is in at most one network."""
    accounts = lists["accounts"]
    known = None if accounts is None else [v["name"] for _, v, _ in accounts if "name" in v]
    member_of: dict[str, tuple[int, str]] = {}
    for index, values, _ in lists["networks"] or ():
        wrong = []
        for account in values.get("accounts", ()):
            if known is not None and account not in known:
                hint = _suggest_inline(account, known)
                wrong.append(f"{_show(account)} is not a configured account{hint}")
            elif account in member_of:
                first, first_name = member_of[account]
                wrong.append(
                    f"{_show(account)} is already in network {_show(first_name)} "
                    f"(networks[{first}]), and an account can be in only one"
                )
            else:
                member_of[account] = (index, values.get("name", "?"))
        if wrong:
            problems.add(f"networks[{index}].accounts", "; ".join(wrong))


def parse_config(data: Mapping[str, Any], *, source: str) -> Config:
    """A :class:`Config` from TOML data already parsed, or :class:`ConfigError` listing every
    problem; ``source`` names the file in the messages."""
    problems = _Problems(source)
    for key, value in data.items():
        if key in SECTIONS or key in LISTS:
            continue
        kind = "unknown section" if isinstance(value, dict | list) else "unknown key"
        homes = [s for s, (cls, _) in SECTIONS.items() if key in _specs(cls)]
        homes += [s for s, (cls, *_) in LISTS.items() if key in _specs(cls)]
        if homes:
            brackets = "[{}]" if homes[0] in SECTIONS else "[[{}]]"
            hint = f"; it belongs under {brackets.format(homes[0])}"
        else:
            hint = _suggest(key, [*SECTIONS, *LISTS])
        problems.add(key, kind + hint)
    sections = {name: _section(name, data, problems) for name in SECTIONS}
    lists = {name: _list(name, data, problems) for name in LISTS}
    for name, entries in lists.items():
        if entries is not None:
            LISTS[name][2](name, entries, problems)
    _check_networks(lists, problems)
    if problems.items:
        raise ConfigError(problems.items)
    return Config(
        **sections,
        **{name: tuple(obj for _, _, obj in entries or ()) for name, entries in lists.items()},
        source=source,
    )


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")


def _toml_problem(source: str, text: str, exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    if m := _TOML_POSITION.search(message):
        line, column = int(m[1]), int(m[2])
        message = message[: m.start()]
    elif m := _TOML_END.search(message):
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = message[: m.start()] + " at end of file"
    else:
        return Problem(source=source, key="", message=f"invalid TOML: {message}")
    where = f"line {line}, column {column}"
    return Problem(source=source, key=where, message=f"invalid TOML: {message}")


def load_config(path: str | Path) -> Config:
    """Read and check a configuration file. Any problem (missing or unreadable file, bad TOML,
    bad values) raises :class:`ConfigError`; never another exception for a bad file."""
    source = os.fspath(path)

    def fail(message: str) -> ConfigError:
        return ConfigError([Problem(source=source, key="", message=message)])

    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        raise fail("is a directory, not a file") from None
    except FileNotFoundError:
        raise fail("no such file") from None
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_problem(source, text, exc)]) from None
    return parse_config(data, source=source)
