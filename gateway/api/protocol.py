"""The local socket API's wire protocol, sans-IO: msgpack maps in, typed requests out.

Both directions of the Unix stream socket carry a sequence of msgpack maps and nothing else
(msgpack is self-delimiting, so there is no other framing). ``docs/protocol.md`` is the contract
for client writers; this module is its executable form, shared by the daemon's socket server
(``gateway/api/server.py``) and the Python clients (``gateway/client.py``).

Server side: one ``ServerConnection`` per accepted connection. ``receive_data(bytes)`` buffers,
cuts frames and returns, in request order, one typed request dataclass per well-formed request
and one ``ProtocolErrorReply`` per request this layer can already refuse (not a map, no seq,
unknown op, a field of the wrong type or out of range, an unknown key). The daemon answers each
item in the order returned (replies go out in request order), and closes the connection after a
``ProtocolErrorReply`` whose ``close`` is true (the byte stream cannot be framed any more). Domain
checks (numbers, senders, accounts, what a text costs) are the daemon's.

Replies and events are built with ``encode_reply``, ``encode_error`` and ``encode_event``: one
``Packer`` call each, no reflection, so the daemon can answer tens of thousands of requests a
second. Client side: ``ClientConnection`` queues requests (``send_request`` then one
``data_to_send`` for many of them) and turns received bytes into ``Reply`` and ``Event`` objects.

Like h11, this module never does I/O, never logs and never counts (``tests/test_layering.py``).
Don't subclass the dataclasses: the daemon dispatches on their exact type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar, TypeAlias

import msgpack

from gateway.frozen import maker

__all__ = [
    "ALL_EVENT_TYPES",
    "CLIENT_MAX_FRAME_BYTES",
    "DEFAULT_EVENTS_LIMIT",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_PRIORITY",
    "EVENT_TYPES",
    "MAX_EVENTS_LIMIT",
    "MAX_FRAME_BYTES",
    "MAX_OPTOUT_TEXT",
    "MAX_PRIORITY",
    "MAX_REF_CHARS",
    "MAX_SEQ",
    "MAX_TIMESTAMP",
    "MAX_VALIDITY",
    "MESSAGE_CLASSES",
    "MESSAGE_STATES",
    "OPTOUT_REASONS",
    "ClientConnection",
    "ConnectionState",
    "CountRequest",
    "ErrorCode",
    "Event",
    "EventsSinceRequest",
    "FieldError",
    "HealthRequest",
    "LocalProtocolError",
    "OptoutAddRequest",
    "OptoutCheckRequest",
    "OptoutRemoveRequest",
    "ProtocolError",
    "ProtocolErrorReply",
    "RemoteProtocolError",
    "Reply",
    "Request",
    "ServerConnection",
    "StatusRequest",
    "SubmitManyRequest",
    "SubmitRequest",
    "SubscribeRequest",
    "encode_error",
    "encode_event",
    "encode_reply",
    "error_result",
]

# --------------------------------------------------------------------------------------------
# Bounds. Every buffer has one, with its reason (house style 11.7, after h11's
# DEFAULT_MAX_INCOMPLETE_EVENT_SIZE).

#: Largest request frame the server accepts, in bytes. The biggest legitimate request is a
#: submit_many of DEFAULT_MAX_BATCH messages: at a few hundred bytes each that is well under
#: 1 MiB, and even a batch of long texts (1,000 x 3 KiB) fits. 4 MiB is gRPC's default maximum
#: received message size, the usual precedent for an RPC frame; it also bounds what one
#: connection can make the daemon hold (a stuck half-sent frame costs at most this). A bigger
#: frame is answered with ``frame_too_large`` and the connection is closed.
MAX_FRAME_BYTES = 4 * 1024 * 1024

#: Largest reply or event frame a client accepts. Replies can be much bigger than requests: an
#: events_since page of MAX_EVENTS_LIMIT reply events (MO texts included) or the results of a
#: full batch. The daemon keeps every reply below this (an events_since page returns fewer events
#: with ``more: true`` instead of exceeding it); 64 MiB leaves room while still stopping a
#: corrupt length header from making the client allocate gigabytes.
CLIENT_MAX_FRAME_BYTES = 64 * 1024 * 1024

#: Initial buffer the Unpacker allocates. msgpack otherwise allocates min(max_buffer_size, 1 MiB)
#: up front, which for thousands of idle connections is memory for nothing; it grows on demand.
INITIAL_BUFFER_BYTES = 64 * 1024

#: Default most messages in one submit_many (the daemon passes its configured ``max_batch``).
#: 1,000 keeps one request's work (one LMDB write txn) short and its frame far below
#: MAX_FRAME_BYTES, while amortising the round trip 1,000 times.
DEFAULT_MAX_BATCH = 1000

#: Largest seq a client may choose: seq is a signed 64-bit integer that is never negative, so
#: every client language can represent it.
MAX_SEQ = 2**63 - 1

#: Longest idempotency key (``ref``), in characters: room for a UUID, a database key and a prefix.
MAX_REF_CHARS = 128

#: Priority range (higher goes first) and the default.
MAX_PRIORITY = 9
DEFAULT_PRIORITY = 5

#: Longest validity a submit may ask for, in seconds (30 days; SMSCs cap it lower anyway, and the
#: server's default is 48 hours).
MAX_VALIDITY = 30 * 24 * 3600

#: Latest ``send_at`` accepted (unix seconds; 2106-02-07). It keeps timestamps in the range every
#: datetime library handles; nothing is ever scheduled that far ahead.
MAX_TIMESTAMP = 2**32

#: events_since page size: default and maximum.
DEFAULT_EVENTS_LIMIT = 1000
MAX_EVENTS_LIMIT = 10_000

#: Event types a client can subscribe to or filter on.
EVENT_TYPES = ("status", "receipt", "reply", "optout")
ALL_EVENT_TYPES = frozenset(EVENT_TYPES)

#: Message classes (submit's ``class``). Marketing traffic is subject to the compliance rules.
MESSAGE_CLASSES = ("transactional", "marketing")

#: States a message goes through (status replies and status events).
MESSAGE_STATES = (
    "queued", "scheduled", "submitted", "delivered", "failed", "expired", "rejected",
)


#: Reasons an exclusion may be recorded with (``optout.add``'s ``reason``), as the opt-out store
#: knows them (``gateway.optout.store.Reason``; this layer does not import the store).
OPTOUT_REASONS = ("api", "import", "stop_reply", "failed_number")

#: Longest ``source`` of an exclusion and ``by`` of a removal, in characters: room for a file
#: name, an operator's name or a person's; both are stored with every entry / history record.
MAX_OPTOUT_TEXT = 200

#: Longest scope in bytes (the store refuses more: scope names are LMDB keys of its meta DB).
MAX_SCOPE_BYTES = 400


class ErrorCode(StrEnum):
    """Stable error codes of ``{"ok": false, "error": {"code": ...}}``. Clients branch on these;
    never rename one. ``docs/protocol.md`` lists the ops that produce each."""

    #: The bytes are not msgpack. Framing is lost: seq is nil and the server closes.
    BAD_FRAME = "bad_frame"
    #: A frame that is not a map, lacks op or seq, or whose seq is not an integer in range.
    BAD_REQUEST = "bad_request"
    #: A frame bigger than the server's limit (MAX_FRAME_BYTES); the server closes.
    FRAME_TOO_LARGE = "frame_too_large"
    #: An op the server does not know (or not in this connection's state).
    UNKNOWN_OP = "unknown_op"
    #: A field of the wrong type or out of range, or a key the op does not take.
    INVALID_FIELD = "invalid_field"
    #: A required field is absent (or nil).
    MISSING_FIELD = "missing_field"
    #: The account does not exist.
    UNKNOWN_ACCOUNT = "unknown_account"
    #: The destination is not a valid phone number.
    INVALID_NUMBER = "invalid_number"
    #: The sender (alphanumeric or number) is not allowed or malformed.
    INVALID_SENDER = "invalid_sender"
    #: The text is empty, or needs more than 255 parts.
    INVALID_TEXT = "invalid_text"
    #: No message has this id.
    NOT_FOUND = "not_found"
    #: The store is full (disk or LMDB map); nothing was accepted.
    STORE_FULL = "store_full"
    #: The daemon is stopping; retry against the next instance.
    SHUTTING_DOWN = "shutting_down"
    #: submit_many with more messages than the server's max_batch.
    BATCH_TOO_LARGE = "batch_too_large"
    #: A bug or an unexpected failure in the daemon; the message says what.
    INTERNAL_ERROR = "internal_error"
    #: (reserved, compliance) The recipient opted out of this account's messages.
    OPTED_OUT = "opted_out"
    #: (reserved, compliance) Marketing outside the allowed hours and the message cannot wait.
    QUIET_HOURS = "quiet_hours"
    #: (reserved, compliance) A marketing text without its STOP mention.
    MISSING_STOP_MENTION = "missing_stop_mention"
    #: (reserved, compliance) Too many marketing messages to this recipient in the period.
    FREQUENCY_CAP = "frequency_cap"


# --------------------------------------------------------------------------------------------
# Errors of this module (h11's split: Local = the caller misused us; Remote = the peer broke
# the protocol). The server side never raises on peer input: it returns ProtocolErrorReply.


class ProtocolError(Exception):
    """Base class of this module's exceptions."""


class LocalProtocolError(ProtocolError):
    """We were asked to do something the protocol forbids (data after EOF, a bad seq)."""


class RemoteProtocolError(ProtocolError):
    """(client side) The server sent bytes that are not a valid reply or event stream.

    ``items`` are the replies and events decoded before the fault in the same ``receive_data``
    call; they are intact and should still be delivered before the connection is dropped.
    """

    def __init__(self, message: str, *, items: list[Reply | Event] | None = None) -> None:
        super().__init__(message)
        self.items: list[Reply | Event] = items or []


# --------------------------------------------------------------------------------------------
# Requests: one frozen, slotted, kw-only dataclass per op, defaults applied, fields validated.


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitRequest:
    """Send one message. Inside a ``SubmitManyRequest`` ``seq`` is that request's seq."""

    op: ClassVar[str] = "submit"
    seq: int
    account: str
    to: str
    #: wire key "from" (a Python keyword)
    from_: str
    text: str
    #: wire key "class": "transactional" | "marketing"
    class_: str = "transactional"
    #: idempotency key, unique per account (1..MAX_REF_CHARS characters), or None
    ref: str | None = None
    #: unix seconds to send at (never before), or None for now
    send_at: float | None = None
    #: seconds the message may wait before it expires; None = the server's default (48 h)
    validity: int | None = None
    transliterate: bool = False
    #: 0..9, higher goes first
    priority: int = DEFAULT_PRIORITY


#: One per message submitted (gateway.frozen: built without the frozen ``__init__``).
_submit_request = maker(SubmitRequest)


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldError:
    """Why one message of a submit_many was refused; it stays at its index in ``messages``."""

    code: ErrorCode
    message: str
    #: the offending key, when there is one
    field: str | None = None

    def as_result(self) -> dict[str, Any]:
        """The per-message result map for submit_many's ``results``."""
        return error_result(self.code, self.message, self.field)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitManyRequest:
    """Many submits in one frame; each element is validated alone, so one bad message does not
    fail the others: the daemon answers a ``FieldError`` with ``error.as_result()`` in place."""

    op: ClassVar[str] = "submit_many"
    seq: int
    messages: tuple[SubmitRequest | FieldError, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRequest:
    op: ClassVar[str] = "status"
    seq: int
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeRequest:
    op: ClassVar[str] = "subscribe"
    seq: int
    #: non-empty subset of EVENT_TYPES (default: all)
    events: frozenset[str] = ALL_EVENT_TYPES


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsSinceRequest:
    op: ClassVar[str] = "events_since"
    seq: int
    #: opaque cursor from a reply or event; "" = the oldest event kept
    cursor: str
    limit: int = DEFAULT_EVENTS_LIMIT
    events: frozenset[str] = ALL_EVENT_TYPES


@dataclass(frozen=True, slots=True, kw_only=True)
class CountRequest:
    op: ClassVar[str] = "count"
    seq: int
    text: str
    transliterate: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthRequest:
    op: ClassVar[str] = "health"
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OptoutAddRequest:
    """Exclude a number in a scope. The scope's syntax is checked here; whether its network or
    account exists, and the number itself, are the daemon's checks."""

    op: ClassVar[str] = "optout.add"
    seq: int
    #: any spelling; the daemon normalises it with its default region
    number: str
    #: "global", "network:<name>" or "account:<name>"
    scope: str
    #: one of OPTOUT_REASONS
    reason: str = "api"
    #: where the exclusion comes from (1..MAX_OPTOUT_TEXT characters), or None for the default
    source: str | None = None
    #: unix seconds after which the exclusion no longer counts, or None for "for good"
    until: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OptoutRemoveRequest:
    """Remove the exclusion of a number in one scope (a re-subscription), recorded with
    ``by``."""

    op: ClassVar[str] = "optout.remove"
    seq: int
    number: str
    scope: str
    #: who asks (1..MAX_OPTOUT_TEXT characters), kept in the store's history
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OptoutCheckRequest:
    """Is a number excluded: in ``account``'s scopes, or (no account) in any scope."""

    op: ClassVar[str] = "optout.check"
    seq: int
    number: str
    account: str | None = None


Request: TypeAlias = (
    SubmitRequest | SubmitManyRequest | StatusRequest | SubscribeRequest | EventsSinceRequest
    | CountRequest | HealthRequest | OptoutAddRequest | OptoutRemoveRequest | OptoutCheckRequest
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolErrorReply:
    """A request this layer refuses: answer ``encode_error(seq, code, message, field)`` in its
    place in the reply order. When ``close`` is true the stream is beyond repair (bad_frame,
    frame_too_large): send the error, then close the connection."""

    seq: int | None
    code: ErrorCode
    message: str
    field: str | None = None
    close: bool = False

    def to_bytes(self) -> bytes:
        return encode_error(self.seq, self.code, self.message, self.field)


# --------------------------------------------------------------------------------------------
# Field validation. Hand-written per op: the common case (a valid submit) costs a few dict
# lookups and type checks, and only a failing request pays for building a message.


class _Invalid(Exception):
    """Raised inside a parser; becomes a FieldError or ProtocolErrorReply. Never escapes."""

    def __init__(self, code: ErrorCode, message: str, field: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _show(value: object) -> str:
    """A value for an error message, cut short so a huge field does not make a huge reply."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_keys(m: dict[Any, Any], allowed: frozenset[str]) -> None:
    if not allowed.issuperset(m):
        unknown = sorted((k for k in m if k not in allowed), key=repr)
        key = unknown[0]
        raise _Invalid(
            ErrorCode.INVALID_FIELD,
            f"unknown field {_show(key)} (allowed: {', '.join(sorted(allowed))})",
            key if isinstance(key, str) else None,
        )


def _missing(name: str) -> _Invalid:
    return _Invalid(ErrorCode.MISSING_FIELD, f"{name!r} is required", name)


def _invalid(name: str, what: str, value: object) -> _Invalid:
    return _Invalid(
        ErrorCode.INVALID_FIELD, f"{name!r} must be {what}, not {_show(value)}", name
    )


def _required_str(m: dict[Any, Any], name: str) -> str:
    value = m.get(name)
    if type(value) is str and value:
        return value
    if value is None:
        raise _missing(name)
    raise _invalid(name, "a non-empty string", value)


def _optional_bool(m: dict[Any, Any], name: str) -> bool:
    value = m.get(name)
    if value is None:
        return False
    if type(value) is bool:
        return value
    raise _invalid(name, "true or false", value)


def _optional_int(m: dict[Any, Any], name: str, low: int, high: int, default: int) -> int:
    value = m.get(name)
    if value is None:
        return default
    if type(value) is int and low <= value <= high:
        return value
    raise _invalid(name, f"an integer from {low} to {high}", value)


def _optional_events(m: dict[Any, Any], name: str) -> frozenset[str]:
    value = m.get(name)
    if value is None:
        return ALL_EVENT_TYPES
    if type(value) is list and value and all(type(v) is str for v in value):
        events = frozenset(value)
        if events <= ALL_EVENT_TYPES:
            return events
    raise _invalid(name, f"a non-empty list of {', '.join(map(repr, EVENT_TYPES))}", value)


_SUBMIT_FIELDS = frozenset(
    {"account", "to", "from", "text", "class", "ref", "send_at", "validity", "transliterate",
     "priority"}
)
_ENVELOPE = frozenset({"op", "seq"})
_SUBMIT_KEYS = _SUBMIT_FIELDS | _ENVELOPE
_CLASSES = frozenset(MESSAGE_CLASSES)


def _submit(m: dict[Any, Any], seq: int, allowed: frozenset[str]) -> SubmitRequest:
    _check_keys(m, allowed)
    get = m.get
    account = _required_str(m, "account")
    to = _required_str(m, "to")
    sender = _required_str(m, "from")
    text = get("text")
    if type(text) is not str or not text:
        if text is None:
            raise _missing("text")
        if type(text) is str:
            raise _Invalid(ErrorCode.INVALID_TEXT, "'text' is empty", "text")
        raise _invalid("text", "a string", text)
    class_ = get("class")
    if class_ is None:
        class_ = "transactional"
    elif type(class_) is not str or class_ not in _CLASSES:
        raise _invalid("class", "'transactional' or 'marketing'", class_)
    ref = get("ref")
    if ref is not None and (type(ref) is not str or not 0 < len(ref) <= MAX_REF_CHARS):
        raise _invalid("ref", f"a string of 1 to {MAX_REF_CHARS} characters", ref)
    send_at = get("send_at")
    if send_at is not None:
        kind = type(send_at)
        if (kind is not int and kind is not float) or not 0 <= send_at <= MAX_TIMESTAMP:
            raise _invalid("send_at", f"unix seconds from 0 to {MAX_TIMESTAMP}", send_at)
        send_at = float(send_at)
    validity = get("validity")
    if validity is not None and (type(validity) is not int or not 0 < validity <= MAX_VALIDITY):
        raise _invalid("validity", f"an integer number of seconds from 1 to {MAX_VALIDITY}",
                       validity)
    priority = get("priority", DEFAULT_PRIORITY)
    if type(priority) is not int or not 0 <= priority <= MAX_PRIORITY:
        if priority is None:
            priority = DEFAULT_PRIORITY
        else:
            raise _invalid("priority", f"an integer from 0 to {MAX_PRIORITY}", priority)
    return _submit_request(
        seq=seq, account=account, to=to, from_=sender, text=text, class_=class_, ref=ref,
        send_at=send_at, validity=validity, transliterate=_optional_bool(m, "transliterate"),
        priority=priority,
    )


def _parse_submit(m: dict[Any, Any], seq: int, max_batch: int) -> SubmitRequest:
    return _submit(m, seq, _SUBMIT_KEYS)


_SUBMIT_MANY_KEYS = frozenset({"messages"}) | _ENVELOPE


def _parse_submit_many(m: dict[Any, Any], seq: int, max_batch: int) -> SubmitManyRequest:
    _check_keys(m, _SUBMIT_MANY_KEYS)
    messages = m.get("messages")
    if type(messages) is not list:
        if messages is None:
            raise _missing("messages")
        raise _invalid("messages", "a list of submit maps", messages)
    if len(messages) > max_batch:
        raise _Invalid(
            ErrorCode.BATCH_TOO_LARGE,
            f"'messages' holds {len(messages)} messages; the most per request is {max_batch}",
            "messages",
        )
    out: list[SubmitRequest | FieldError] = []
    for item in messages:
        if type(item) is not dict:
            out.append(FieldError(code=ErrorCode.INVALID_FIELD,
                                  message=f"a message must be a map, not {_show(item)}"))
            continue
        try:
            out.append(_submit(item, seq, _SUBMIT_FIELDS))
        except _Invalid as exc:
            out.append(FieldError(code=exc.code, message=exc.message, field=exc.field))
    return SubmitManyRequest(seq=seq, messages=tuple(out))


_STATUS_KEYS = frozenset({"id"}) | _ENVELOPE


def _parse_status(m: dict[Any, Any], seq: int, max_batch: int) -> StatusRequest:
    _check_keys(m, _STATUS_KEYS)
    return StatusRequest(seq=seq, id=_required_str(m, "id"))


_SUBSCRIBE_KEYS = frozenset({"events"}) | _ENVELOPE


def _parse_subscribe(m: dict[Any, Any], seq: int, max_batch: int) -> SubscribeRequest:
    _check_keys(m, _SUBSCRIBE_KEYS)
    return SubscribeRequest(seq=seq, events=_optional_events(m, "events"))


_EVENTS_SINCE_KEYS = frozenset({"cursor", "limit", "events"}) | _ENVELOPE


def _parse_events_since(m: dict[Any, Any], seq: int, max_batch: int) -> EventsSinceRequest:
    _check_keys(m, _EVENTS_SINCE_KEYS)
    cursor = m.get("cursor")
    if type(cursor) is not str:
        if cursor is None:
            raise _missing("cursor")
        raise _invalid("cursor", "a string (\"\" for the oldest event kept)", cursor)
    return EventsSinceRequest(
        seq=seq, cursor=cursor,
        limit=_optional_int(m, "limit", 1, MAX_EVENTS_LIMIT, DEFAULT_EVENTS_LIMIT),
        events=_optional_events(m, "events"),
    )


_COUNT_KEYS = frozenset({"text", "transliterate"}) | _ENVELOPE


def _parse_count(m: dict[Any, Any], seq: int, max_batch: int) -> CountRequest:
    _check_keys(m, _COUNT_KEYS)
    text = m.get("text")
    if type(text) is not str:
        if text is None:
            raise _missing("text")
        raise _invalid("text", "a string", text)
    return CountRequest(seq=seq, text=text, transliterate=_optional_bool(m, "transliterate"))


def _parse_health(m: dict[Any, Any], seq: int, max_batch: int) -> HealthRequest:
    _check_keys(m, _ENVELOPE)
    return HealthRequest(seq=seq)


def _optional_text(m: dict[Any, Any], name: str, limit: int) -> str | None:
    value = m.get(name)
    if value is None:
        return None
    if type(value) is str and 0 < len(value) <= limit:
        return value
    raise _invalid(name, f"a string of 1 to {limit} characters", value)


def _scope(m: dict[Any, Any]) -> str:
    """The scope's syntax (as ``gateway.optout.store.parse_scope`` has it)."""
    scope = _required_str(m, "scope")
    if scope != "global":
        kind, sep, name = scope.partition(":")
        if (not sep or kind not in ("network", "account") or not name or name != name.strip()
                or len(scope.encode()) > MAX_SCOPE_BYTES):
            raise _invalid("scope", "'global', 'network:<name>' or 'account:<name>'", scope)
    return scope


_OPTOUT_ADD_KEYS = frozenset({"number", "scope", "reason", "source", "until"}) | _ENVELOPE
_OPTOUT_REASONS = frozenset(OPTOUT_REASONS)


def _parse_optout_add(m: dict[Any, Any], seq: int, max_batch: int) -> OptoutAddRequest:
    _check_keys(m, _OPTOUT_ADD_KEYS)
    number = _required_str(m, "number")
    scope = _scope(m)
    reason = m.get("reason")
    if reason is None:
        reason = "api"
    elif type(reason) is not str or reason not in _OPTOUT_REASONS:
        raise _invalid("reason", f"one of {', '.join(map(repr, OPTOUT_REASONS))}", reason)
    until = m.get("until")
    if until is not None:
        kind = type(until)
        if (kind is not int and kind is not float) or not 0 <= until <= MAX_TIMESTAMP:
            raise _invalid("until", f"unix seconds from 0 to {MAX_TIMESTAMP}", until)
        until = float(until)
    return OptoutAddRequest(
        seq=seq, number=number, scope=scope, reason=reason,
        source=_optional_text(m, "source", MAX_OPTOUT_TEXT), until=until,
    )


_OPTOUT_REMOVE_KEYS = frozenset({"number", "scope", "by"}) | _ENVELOPE


def _parse_optout_remove(m: dict[Any, Any], seq: int, max_batch: int) -> OptoutRemoveRequest:
    _check_keys(m, _OPTOUT_REMOVE_KEYS)
    number = _required_str(m, "number")
    scope = _scope(m)
    by = _required_str(m, "by")
    if len(by) > MAX_OPTOUT_TEXT:
        raise _invalid("by", f"a string of 1 to {MAX_OPTOUT_TEXT} characters", by)
    return OptoutRemoveRequest(seq=seq, number=number, scope=scope, by=by)


_OPTOUT_CHECK_KEYS = frozenset({"number", "account"}) | _ENVELOPE


def _parse_optout_check(m: dict[Any, Any], seq: int, max_batch: int) -> OptoutCheckRequest:
    _check_keys(m, _OPTOUT_CHECK_KEYS)
    number = _required_str(m, "number")
    account = m.get("account")
    if account is not None and (type(account) is not str or not account):
        raise _invalid("account", "a non-empty string", account)
    return OptoutCheckRequest(seq=seq, number=number, account=account)


_Parser = Callable[[dict[Any, Any], int, int], Request]

#: Every op the server knows, and its parser.
PARSERS: dict[str, _Parser] = {
    "submit": _parse_submit,
    "submit_many": _parse_submit_many,
    "status": _parse_status,
    "subscribe": _parse_subscribe,
    "events_since": _parse_events_since,
    "count": _parse_count,
    "health": _parse_health,
    "optout.add": _parse_optout_add,
    "optout.remove": _parse_optout_remove,
    "optout.check": _parse_optout_check,
}


class ConnectionState(Enum):
    """Where a server connection is. Which ops a state accepts is ``OPS_BY_STATE``."""

    #: Requests are accepted.
    OPEN = "open"
    #: The peer sent EOF (``receive_data(b"")``); answer what was received, then close.
    CLOSED = "closed"
    #: The byte stream lost its framing; the last item returned says so (close=True).
    ERROR = "error"


#: The ops each state accepts; an op missing from a state's table is answered ``unknown_op``.
#: This is where per-account authentication slots in: a state AWAITING_AUTH that accepts only
#: {"auth": _parse_auth}, entered at construction when auth is required and left through a
#: ServerConnection method the daemon calls once it has checked the credentials.
OPS_BY_STATE: dict[ConnectionState, dict[str, _Parser]] = {
    ConnectionState.OPEN: PARSERS,
}


# --------------------------------------------------------------------------------------------
# Framing, shared by both sides.


class _Framer:
    """Cuts a byte stream into msgpack objects, bounding each frame to ``max_frame_bytes``.

    ``Unpacker(max_buffer_size=...)`` alone bounds only the bytes it still holds, and the C
    unpacker consumes a partial object as it goes (``tell()`` moves past it), so a frame's size
    is counted here: bytes fed since the end of the last complete object. Data is fed in chunks
    that keep that count within the bound, so the Unpacker never raises BufferFull.
    """

    __slots__ = ("_fed", "_frame_start", "_max", "_unpacker")

    def __init__(self, max_frame_bytes: int) -> None:
        self._max = max_frame_bytes
        self._unpacker = msgpack.Unpacker(
            raw=False,
            # keys other than str (ints, nil) reach the validator and get a precise answer;
            # unhashable keys still fail in msgpack as bad frames
            strict_map_key=False,
            max_buffer_size=max_frame_bytes,
            read_size=min(INITIAL_BUFFER_BYTES, max_frame_bytes),
        )
        self._fed = 0
        self._frame_start = 0

    @property
    def partial_bytes(self) -> int:
        """Bytes of the incomplete frame received so far."""
        return self._fed - self._frame_start

    def feed(self, data: bytes, out: list[Any]) -> tuple[ErrorCode, str] | None:
        """Append every complete object in ``data`` to ``out``; return (code, message) when the
        stream is broken (the objects before the fault are in ``out``)."""
        unpacker = self._unpacker
        size = len(data)
        pos = 0
        while pos < size:
            room = self._max - (self._fed - self._frame_start)
            chunk = data if pos == 0 and size <= room else data[pos : pos + room]
            unpacker.feed(chunk)
            self._fed += len(chunk)
            pos += len(chunk)
            try:
                for obj in unpacker:
                    self._frame_start = unpacker.tell()
                    out.append(obj)
            except ValueError as exc:  # FormatError, StackError, bad UTF-8, a length over limit
                if "exceeds max" in str(exc):
                    return ErrorCode.FRAME_TOO_LARGE, self._too_large()
                detail = f" ({exc})" if str(exc) else ""
                return ErrorCode.BAD_FRAME, f"the bytes are not msgpack{detail}"
            except TypeError as exc:  # an unhashable map key (a list or map)
                return ErrorCode.BAD_FRAME, f"the bytes are not a valid msgpack frame ({exc})"
            if self._fed - self._frame_start >= self._max:
                return ErrorCode.FRAME_TOO_LARGE, self._too_large()
        return None

    def _too_large(self) -> str:
        return f"a frame is larger than the limit of {self._max} bytes"


# --------------------------------------------------------------------------------------------
# Server side.


def _seq_of(obj: dict[Any, Any]) -> int | None:
    seq = obj.get("seq")
    return seq if type(seq) is int else None


class ServerConnection:
    """One client connection, server side: bytes in, requests out (no I/O).

    Returns items in request order; the daemon must answer them in that order. ``max_batch`` is
    the configured largest submit_many.
    """

    def __init__(
        self, *, max_frame_bytes: int = MAX_FRAME_BYTES, max_batch: int = DEFAULT_MAX_BATCH
    ) -> None:
        self._framer = _Framer(max_frame_bytes)
        self.max_frame_bytes = max_frame_bytes
        self.max_batch = max_batch
        self.state = ConnectionState.OPEN
        self._parsers = OPS_BY_STATE[self.state]

    @property
    def partial_bytes(self) -> int:
        """Bytes of an incomplete request buffered (0 between requests): at EOF a non-zero value
        means the client hung up mid-frame."""
        return self._framer.partial_bytes

    def receive_data(self, data: bytes) -> list[Request | ProtocolErrorReply]:
        """Feed bytes read from the socket; ``b""`` means EOF. Never raises on peer input.

        After a ``close=True`` item the connection is in ERROR and further data is ignored.
        """
        if self.state is not ConnectionState.OPEN:
            if self.state is ConnectionState.CLOSED and data:
                raise LocalProtocolError("receive_data after EOF")
            return []
        if not data:
            self.state = ConnectionState.CLOSED
            return []
        objects: list[Any] = []
        fault = self._framer.feed(data, objects)
        items: list[Request | ProtocolErrorReply] = [self._parse(obj) for obj in objects]
        if fault is not None:
            self.state = ConnectionState.ERROR
            items.append(ProtocolErrorReply(seq=None, code=fault[0], message=fault[1],
                                            close=True))
        return items

    def _parse(self, obj: Any) -> Request | ProtocolErrorReply:
        if type(obj) is not dict:
            return ProtocolErrorReply(
                seq=None, code=ErrorCode.BAD_REQUEST,
                message=f"a request must be a map, not {type(obj).__name__}",
            )
        seq = obj.get("seq")
        op = obj.get("op")
        if type(seq) is not int or not 0 <= seq <= MAX_SEQ or type(op) is not str:
            return self._bad_envelope(obj, seq, op)
        parser = self._parsers.get(op)
        if parser is None:
            return ProtocolErrorReply(seq=seq, code=ErrorCode.UNKNOWN_OP,
                                      message=f"unknown op {_show(op)}")
        try:
            return parser(obj, seq, self.max_batch)
        except _Invalid as exc:
            return ProtocolErrorReply(seq=seq, code=exc.code, message=exc.message,
                                      field=exc.field)

    @staticmethod
    def _bad_envelope(obj: dict[Any, Any], seq: object, op: object) -> ProtocolErrorReply:
        readable = _seq_of(obj)
        if seq is None:
            message = "a request needs 'seq', an integer from 0 to 2**63-1"
        elif type(seq) is not int or not 0 <= seq <= MAX_SEQ:
            message = f"'seq' must be an integer from 0 to 2**63-1, not {_show(seq)}"
        elif op is None:
            message = "a request needs 'op', a string"
        else:
            message = f"'op' must be a string, not {_show(op)}"
        return ProtocolErrorReply(seq=readable, code=ErrorCode.BAD_REQUEST, message=message)


# --------------------------------------------------------------------------------------------
# Encoding. One module-level Packer, reused: the daemon encodes from its one trio thread. (Not
# thread-safe; ClientConnection has its own.)

_pack = msgpack.Packer().pack


def encode_reply(seq: int, /, **fields: Any) -> bytes:
    """``{"seq": seq, "ok": true, **fields}`` as one frame."""
    return _pack({"seq": seq, "ok": True, **fields})


def encode_error(
    seq: int | None, code: ErrorCode | str, message: str, field: str | None = None
) -> bytes:
    """``{"seq": seq, "ok": false, "error": {"code", "message"[, "field"]}}`` as one frame."""
    return _pack({"seq": seq, "ok": False, "error": _error_map(code, message, field)})


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event map (``{"event": ..., "cursor": ..., ...}``) as one frame."""
    return _pack(event)


def error_result(
    code: ErrorCode | str, message: str, field: str | None = None
) -> dict[str, Any]:
    """A failed element of submit_many's ``results``: ``{"ok": false, "error": {...}}``."""
    return {"ok": False, "error": _error_map(code, message, field)}


def _error_map(code: ErrorCode | str, message: str, field: str | None) -> dict[str, Any]:
    if field is None:
        return {"code": str(code), "message": message}
    return {"code": str(code), "message": message, "field": field}


# --------------------------------------------------------------------------------------------
# Client side.


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A reply from the server. ``body`` is the whole map as received (``seq`` and ``ok``
    included); ``code``/``message`` are set when ``ok`` is false."""

    seq: int | None
    ok: bool
    body: dict[str, Any]
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """An event pushed after subscribe; ``body`` is the whole map (``event`` and ``cursor``
    included)."""

    name: str
    body: dict[str, Any]


class ClientConnection:
    """The client side of one connection (no I/O): queue requests, read replies and events.

    ``send_request`` picks the seq and queues the frame; ``data_to_send()`` hands over every
    queued frame at once, so one socket write carries all the requests that piled up while the
    previous write was in progress (h2's ``data_to_send``). A server that breaks the protocol
    makes ``receive_data`` raise ``RemoteProtocolError``.
    """

    def __init__(self, *, max_frame_bytes: int = CLIENT_MAX_FRAME_BYTES, first_seq: int = 1):
        if not 0 <= first_seq <= MAX_SEQ:
            raise LocalProtocolError(f"first_seq must be from 0 to {MAX_SEQ}")
        self._framer = _Framer(max_frame_bytes)
        self._pack = msgpack.Packer().pack
        self._next_seq = first_seq
        self._outgoing: list[bytes] = []
        self.closed = False

    def next_seq(self) -> int:
        """Take the next seq (wrapping after MAX_SEQ, which no connection lives to see)."""
        seq = self._next_seq
        self._next_seq = 0 if seq == MAX_SEQ else seq + 1
        return seq

    def encode_request(self, op: str, seq: int, fields: Mapping[str, Any] | None = None) -> bytes:
        """One request frame; ``fields`` must not hold "op" or "seq"."""
        if fields:
            if "op" in fields or "seq" in fields:
                raise LocalProtocolError("'op' and 'seq' are set by the connection")
            return self._pack({"op": op, "seq": seq, **fields})
        return self._pack({"op": op, "seq": seq})

    def send_request(self, op: str, fields: Mapping[str, Any] | None = None) -> int:
        """Queue one request for ``data_to_send``; return its seq."""
        seq = self.next_seq()
        self._outgoing.append(self.encode_request(op, seq, fields))
        return seq

    def data_to_send(self) -> bytes:
        """Everything queued since the last call (b"" when nothing is)."""
        if not self._outgoing:
            return b""
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        return data

    def receive_data(self, data: bytes) -> list[Reply | Event]:
        """Feed bytes read from the socket; ``b""`` means the server closed."""
        if self.closed:
            return []
        if not data:
            self.closed = True
            return []
        objects: list[Any] = []
        fault = self._framer.feed(data, objects)
        items: list[Reply | Event] = []
        for obj in objects:
            item = _client_item(obj)
            if item is None:
                self.closed = True
                raise RemoteProtocolError(
                    f"the server sent {_show(obj)}, which is neither a reply nor an event",
                    items=items,
                )
            items.append(item)
        if fault is not None:
            self.closed = True
            raise RemoteProtocolError(f"{fault[0]}: {fault[1]}", items=items)
        return items


def _client_item(obj: Any) -> Reply | Event | None:
    if type(obj) is not dict:
        return None
    ok = obj.get("ok")
    if type(ok) is bool and "seq" in obj:
        seq = obj["seq"]
        if seq is not None and type(seq) is not int:
            return None
        if ok:
            return Reply(seq=seq, ok=True, body=obj)
        error = obj.get("error")
        if type(error) is not dict:
            return None
        code, message = error.get("code"), error.get("message")
        if type(code) is not str or type(message) is not str:
            return None
        return Reply(seq=seq, ok=False, body=obj, code=code, message=message)
    name = obj.get("event")
    if type(name) is str and "seq" not in obj:
        return Event(name=name, body=obj)
    return None
