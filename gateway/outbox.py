"""Accepted messages, their parts and states, the receipt index and the event log, in LMDB.

Everything that must survive kill -9 between "accepted" and "delivered" is here. The daemon's
writer hands a whole batch of operations to :meth:`Outbox.apply` inside one write transaction
(group commit), and only after the commit does anyone hear "accepted" or see an event.

Databases (all keys fixed-width big-endian, so cursor order is id or time order):

- ``msg``     id (u64) -> message record (msgpack map, short keys below)
- ``ref``     account NUL ref -> id: the idempotency index
- ``pending`` id -> b"": messages with parts still to submit (what a restart picks up again)
- ``opid``    operator NUL normalised operator message id -> id (u64) + part (u8)
- ``orphan``  operator NUL normalised id -> receipt seen before its submit_sm_resp was stored
- ``evt``     event number (u64) -> event map (msgpack): the ``events_since`` log
- ``meta``    counters

A message id is a decimal string of a u64 that grows with acceptance, so pruning by age walks
``msg`` from its first key.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import lmdb
import msgpack

from gateway import storage

_U64 = struct.Struct(">Q")
_ID_PART = struct.Struct(">QB")

# Record keys (short: a record is written several times in its life).
# a account, to, fr sender, tx text, mk marketing, rf ref, pr priority, tl transliterate,
# at accepted, sa send_after, ex expires_at, st state, er error, en encoding, pt parts.
# A part is [state, operator, message_id, status, error, submitted_at, done_at, index key].
P_STATE, P_OPERATOR, P_MSGID, P_STATUS, P_ERROR, P_SUBMITTED, P_DONE, P_KEY = range(8)

#: A record is stored as the msgpack array ``[[st, er, pt], [a, to, fr, tx, ...]]``: what changes
#: first, then what never changes after acceptance (``_STATIC``), packed once per message and
#: reused by each rewrite (submitted, delivered), which packs only the first element. Records
#: written as one map (before this layout) still read.
_STATIC = ("a", "to", "fr", "tx", "mk", "rf", "pr", "tl", "at", "sa", "ex", "en")
_RECORD_HEADER = b"\x92"  # msgpack fixarray of 2

#: Records of unfinished messages kept in memory by the writer (about 1 KiB each).
LIVE_RECORDS = 200_000

#: Final states: nothing more happens to such a message.
FINAL_STATES = frozenset({"delivered", "failed", "expired", "rejected"})
#: Part states after which the part is not sent again.
SENT_PART_STATES = frozenset({"submitted", "delivered", "failed", "expired"})


def decode_record(raw: bytes) -> dict[str, Any]:
    """A stored record as the map the rest of the code reads (either layout)."""
    obj = msgpack.unpackb(raw)
    if type(obj) is dict:
        return obj
    (state, error, parts), static = obj
    record = dict(zip(_STATIC, static, strict=True))
    record["st"], record["er"], record["pt"] = state, error, parts
    return record


def _static_of(raw: bytes) -> bytes | None:
    """The packed unchanging half of a stored record (None for the old one-map layout)."""
    if raw[:1] != _RECORD_HEADER:
        return None
    unpacker = msgpack.Unpacker()
    unpacker.feed(raw)
    unpacker.read_array_header()
    unpacker.skip()
    return raw[unpacker.tell() :]


def cursor_of(number: int) -> str:
    """Event cursors are fixed-width decimal, so they compare as strings in event order."""
    return f"{number:016d}"


def id_key(message_id: int) -> bytes:
    return _U64.pack(message_id)


def opid_key(operator: str, normalised: str) -> bytes:
    return f"{operator}\x00{normalised}".encode()


@dataclass(slots=True, eq=False)
class NewMessage:
    """One message to accept. ``id`` is assigned by the caller, so a retried transaction after a
    map growth gives the same answer."""

    id: int
    account: str
    to: str
    sender: str
    text: str
    marketing: bool
    ref: str | None
    priority: int
    transliterate: bool
    accepted_at: float
    send_after: float | None
    expires_at: float
    encoding: str
    parts: int
    state: str


@dataclass(slots=True)
class Accepted:
    """What the submitter is told: the id, and whether ``ref`` had been seen (then nothing new
    was stored and the first message's id, parts and state are returned)."""

    id: int
    parts: int
    encoding: str
    state: str
    duplicate: bool = False
    send_after: float | None = None


@dataclass(slots=True)
class PartResult:
    """An operator's answer to one part's submit_sm: ``accepted`` (with ``message_id`` and its
    index key) or ``failed``. Unknown outcomes are not stored: the part stays to be sent."""

    id: int
    part: int
    accepted: bool
    operator: str
    at: float
    message_id: str | None = None
    key: bytes | None = None
    status: int | None = None
    error: str | None = None
    #: The message's final error code when this fails it (docs/protocol.md, section 5).
    code: str = "rejected_by_operator"


@dataclass(slots=True)
class ReceiptUpdate:
    key: bytes
    operator: str
    message_id: str
    stat: str | None
    err: str | None
    final: bool
    delivered: bool
    at: float
    #: The operator says the number itself failed for good (a permanent error code).
    permanent: bool = False


@dataclass(slots=True)
class Expire:
    id: int
    at: float
    error: str = "validity ran out before the message could be sent"


@dataclass(slots=True)
class ReplyEvent:
    sender: str
    to: str
    text: str | None
    operator: str
    at: float
    account: str | None = None
    #: The sender as E.164, when it is a number (set by the hook).
    number: str | None = None


@dataclass(slots=True)
class Batch:
    """One write transaction's operations, and what they produced once applied."""

    accept: list[NewMessage] = field(default_factory=list)
    results: list[PartResult] = field(default_factory=list)
    receipts: list[ReceiptUpdate] = field(default_factory=list)
    expire: list[Expire] = field(default_factory=list)
    replies: list[ReplyEvent] = field(default_factory=list)
    #: Other writes that must commit with this batch: each is called as ``op(txn, emit)``
    #: near the end of the transaction (after the hook), and again if it is retried, so it
    #: computes its result from ``txn`` alone (the socket API's ``optout.add``/``remove``).
    calls: list[Callable[[lmdb.Transaction, Callable[[dict[str, Any]], None]], None]] = field(
        default_factory=list
    )
    #: Carried along for the commit hook, never stored: what the dispatcher sends for each
    #: ``accept`` item, in order.
    outgoing: list[Any] = field(default_factory=list)
    #: Filled by apply: one per ``accept`` item, in order.
    accepted: list[Accepted] = field(default_factory=list)
    #: Filled by apply: the events written, each with its "cursor".
    events: list[dict[str, Any]] = field(default_factory=list)
    #: Filled by apply: message ids that reached a final state or left the pending set.
    finished: list[int] = field(default_factory=list)
    #: Filled by apply: the records it wrote, by id (for the writer's cache, see committed).
    records: dict[int, Any] = field(default_factory=dict)
    #: Filled by apply: the packed unchanging half of the records it wrote, by id.
    statics: dict[int, bytes] = field(default_factory=dict)
    #: Filled by apply: numbers whose receipt says they failed for good, with the time.
    failed_numbers: list[tuple[str, float]] = field(default_factory=list)
    #: Filled by apply: (operator, seconds from the part's acceptance to its receipt).
    receipt_delays: list[tuple[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.accept)
            + len(self.results)
            + len(self.receipts)
            + len(self.expire)
            + len(self.replies)
            + len(self.calls)
        )


#: Message states of the messages in ``pending`` (accepted, nothing settled yet): leaving one
#: of them is when the message leaves the pending set.
_PENDING_STATES = frozenset({"queued", "scheduled"})


def _state_after_receipt(stat: str | None, delivered: bool) -> str:
    if delivered:
        return "delivered"
    if stat == "EXPIRED":
        return "expired"
    return "failed"


_PART_TO_MESSAGE = {
    "delivered": "delivered",
    "failed": "failed",
    "expired": "expired",
    "submitted": "submitted",
    "queued": None,
}


def _message_state(parts: list[list[Any]]) -> str | None:
    """The message's state from its parts, or None while it is still moving."""
    if len(parts) == 1:  # most messages: one part's state is the message's
        return _PART_TO_MESSAGE.get(parts[0][P_STATE])
    states = [p[P_STATE] for p in parts]
    if all(s == "delivered" for s in states):
        return "delivered"
    if all(s in FINAL_STATES for s in states):
        if "failed" in states:
            return "failed"
        return "expired" if "expired" in states else "delivered"
    if all(s in SENT_PART_STATES for s in states):
        return "submitted"
    return None


class Outbox:
    """The message store. ``apply`` runs in the writer's thread; the read methods run anywhere
    (LMDB readers never block the writer)."""

    def __init__(self, env: lmdb.Environment) -> None:
        self.env = env
        self._msg = env.open_db(b"msg")
        self._ref = env.open_db(b"ref")
        self._pending = env.open_db(b"pending")
        self._opid = env.open_db(b"opid")
        self._orphan = env.open_db(b"orphan")
        self._evt = env.open_db(b"evt")
        self._packer = msgpack.Packer()
        #: Records of messages not yet final, as last written (writer thread only): updates
        #: skip reading and unpacking them again. Bounded; what falls out is read from LMDB.
        self._live: dict[int, dict[str, Any]] = {}
        #: The packed unchanging half of each live record (see _STATIC), same keys as _live.
        self._statics: dict[int, bytes] = {}
        self._batch_statics: dict[int, bytes] = {}
        #: Runs in every batch's transaction (the opt-out rules): ``before(txn, batch)`` and
        #: ``after(txn, batch, emit)``; see gateway.optout.actions.
        self.hook: Any = None
        self.live_limit = LIVE_RECORDS
        self._attempt_touched: set[int] = set()
        self._new_pending: dict[bytes, None] = {}
        self._orphans = False
        with env.begin() as txn:
            self.next_id = self._last_key(txn, self._msg) + 1
            self.next_event = self._last_key(txn, self._evt) + 1
            self.first_event = self._first_key(txn, self._evt)

    @staticmethod
    def _last_key(txn: lmdb.Transaction, db: Any) -> int:
        cursor = txn.cursor(db)
        return _U64.unpack(cursor.key())[0] if cursor.last() else 0

    @staticmethod
    def _first_key(txn: lmdb.Transaction, db: Any) -> int:
        cursor = txn.cursor(db)
        return _U64.unpack(cursor.key())[0] if cursor.first() else 0

    def allocate_ids(self, n: int) -> int:
        """Reserve ``n`` consecutive ids (event-loop side, before the batch is written)."""
        first = self.next_id
        self.next_id += n
        return first

    # -- the write path -----------------------------------------------------------------------

    def write(self, batch: Batch) -> Batch:
        """Apply ``batch`` in one durable transaction (retried on a grown map)."""
        try:
            return storage.write(self.env, lambda txn: self._apply(txn, batch))
        except BaseException:
            for message_id in self._attempt_touched:  # changed in memory, not on disk
                self._live.pop(message_id, None)
                self._statics.pop(message_id, None)
            raise
        finally:
            self._attempt_touched.clear()

    def _apply(self, txn: lmdb.Transaction, batch: Batch) -> Batch:
        # A retried transaction starts again from what LMDB holds: cached records the failed
        # attempt changed in place are dropped (the others are as committed).
        for message_id in self._attempt_touched:
            self._live.pop(message_id, None)
        self._attempt_touched.clear()
        batch.accepted = []
        batch.events = []
        batch.finished = []
        batch.receipt_delays = []
        batch.statics = self._batch_statics = {}
        batch.failed_numbers = []
        hook = self.hook
        if hook is not None:
            hook.before(txn, batch)
        self._event_no = self.next_event
        #: Pending rows of this batch's new messages, put together at the end (one putmulti);
        #: a message leaving the pending set in the same batch drops out of it.
        self._new_pending: dict[bytes, None] = {}
        records: dict[int, dict[str, Any]] = {}
        for new in batch.accept:
            batch.accepted.append(self._accept(txn, new, records))
        # Receipts that overtook their submit_sm_resp are rare: most batches have none to
        # look up (a B-tree probe per accepted part otherwise).
        self._orphans = bool(batch.results) and txn.stat(self._orphan)["entries"] > 0
        for result in batch.results:
            self._part_result(txn, result, records, batch)
        for receipt in batch.receipts:
            self._receipt(txn, receipt, records, batch)
        for expire in batch.expire:
            self._expire(txn, expire, records, batch)
        for reply in batch.replies:
            event = {
                "event": "reply",
                "from": reply.sender,
                "to": reply.to,
                "text": reply.text,
                "operator": reply.operator,
                "at": reply.at,
            }
            if reply.account is not None:
                event["account"] = reply.account
            self._event(txn, event, batch)
        if hook is not None:
            hook.after(txn, batch, lambda event: self._event(txn, event, batch))
        for call in batch.calls:
            call(txn, lambda event: self._event(txn, event, batch))
        pack = self._packer.pack
        if batch.events:
            first = self._event_no - len(batch.events)
            txn.cursor(self._evt).putmulti(
                [(_U64.pack(first + i), pack(e)) for i, e in enumerate(batch.events)],
                append=True,
            )
        if self._new_pending:
            txn.cursor(self._pending).putmulti([(key, b"") for key in self._new_pending])
            self._new_pending = {}
        key_of = _U64.pack
        statics = batch.statics
        live_statics = self._statics
        join = b"".join
        rows = []
        for message_id, record in records.items():
            static = statics.get(message_id) or live_statics.get(message_id)
            if static is None:
                static = statics[message_id] = pack([record[k] for k in _STATIC])
            rows.append((key_of(message_id), join(
                (_RECORD_HEADER, pack([record["st"], record["er"], record["pt"]]), static)
            )))
        txn.cursor(self._msg).putmulti(rows)
        batch.records = records
        # The event counter moves only in ``committed``: this transaction may still be retried.
        return batch

    def committed(self, batch: Batch) -> None:
        """The batch's transaction committed: its event numbers are used for good, and its
        records are what the writer may update next without reading them back."""
        live = self._live
        statics = self._statics
        for message_id, record in batch.records.items():
            if record["st"] in FINAL_STATES:
                live.pop(message_id, None)
                statics.pop(message_id, None)
            else:
                live[message_id] = record
                static = batch.statics.get(message_id)
                if static is not None:
                    statics[message_id] = static
        while len(live) > self.live_limit:
            oldest = next(iter(live))
            del live[oldest]
            statics.pop(oldest, None)
        if batch.events:
            self.next_event = int(batch.events[-1]["cursor"]) + 1
            if not self.first_event:
                self.first_event = int(batch.events[0]["cursor"])

    def _load(
        self, txn: lmdb.Transaction, message_id: int, records: dict[int, dict[str, Any]]
    ) -> dict[str, Any] | None:
        record = records.get(message_id)
        if record is None:
            record = self._live.get(message_id)
            if record is not None:
                records[message_id] = record
                self._attempt_touched.add(message_id)
                return record
            raw = txn.get(id_key(message_id), db=self._msg)
            if raw is None:
                return None
            record = decode_record(raw)
            records[message_id] = record
            static = _static_of(raw)
            if static is not None:
                self._batch_statics[message_id] = static
        return record

    def _accept(
        self, txn: lmdb.Transaction, new: NewMessage, records: dict[int, dict[str, Any]]
    ) -> Accepted:
        if new.ref is not None:
            ref_key = f"{new.account}\x00{new.ref}".encode()
            seen = txn.get(ref_key, db=self._ref)
            if seen is not None:
                first = _U64.unpack(seen)[0]
                record = self._load(txn, first, records)
                if record is not None:
                    return Accepted(
                        id=first,
                        parts=len(record["pt"]),
                        encoding=record["en"],
                        state=record["st"],
                        duplicate=True,
                        send_after=record["sa"],
                    )
            txn.put(ref_key, id_key(new.id), db=self._ref)
        records[new.id] = {
            "a": new.account,
            "to": new.to,
            "fr": new.sender,
            "tx": new.text,
            "mk": new.marketing,
            "rf": new.ref,
            "pr": new.priority,
            "tl": new.transliterate,
            "at": new.accepted_at,
            "sa": new.send_after,
            "ex": new.expires_at,
            "st": new.state,
            "er": None,
            "en": new.encoding,
            "pt": [["queued", None, None, None, None, None, None, None] for _ in range(new.parts)],
        }
        self._new_pending[id_key(new.id)] = None
        return Accepted(
            id=new.id,
            parts=new.parts,
            encoding=new.encoding,
            state=new.state,
            send_after=new.send_after,
        )

    def _event(self, txn: lmdb.Transaction, event: dict[str, Any], batch: Batch) -> None:
        number = self._event_no
        self._event_no += 1
        event["cursor"] = cursor_of(number)
        batch.events.append(event)  # written together at the end of the batch

    def _status_event(
        self,
        txn: lmdb.Transaction,
        message_id: int,
        record: dict[str, Any],
        at: float,
        batch: Batch,
    ) -> None:
        number = self._event_no
        self._event_no = number + 1
        event: dict[str, Any] = {
            "event": "status",
            "id": str(message_id),
            "account": record["a"],
            "state": record["st"],
            "at": at,
        }
        if record["rf"] is not None:
            event["ref"] = record["rf"]
        if record["er"] is not None:
            event["error"] = record["er"]
        event["cursor"] = cursor_of(number)
        batch.events.append(event)

    def _settle(
        self,
        txn: lmdb.Transaction,
        message_id: int,
        record: dict[str, Any],
        at: float,
        batch: Batch,
    ) -> None:
        """Recompute the message's state from its parts; on a change, write the status event."""
        parts = record["pt"]
        if len(parts) == 1:  # most messages: one part's state is the message's
            state = _PART_TO_MESSAGE.get(parts[0][P_STATE])
        else:
            state = _message_state(parts)
        if state is None or state == record["st"]:
            return
        before = record["st"]
        if before in FINAL_STATES:
            return  # a late receipt never reopens a finished message
        record["st"] = state
        if before in _PENDING_STATES and state != "queued":
            key = id_key(message_id)
            self._new_pending.pop(key, None)
            txn.delete(key, db=self._pending)
        if state in FINAL_STATES or state == "submitted":
            batch.finished.append(message_id)
        self._status_event(txn, message_id, record, at, batch)

    def _part_result(
        self,
        txn: lmdb.Transaction,
        result: PartResult,
        records: dict[int, dict[str, Any]],
        batch: Batch,
    ) -> None:
        record = self._load(txn, result.id, records)
        if record is None or not 0 <= result.part < len(record["pt"]):
            return  # pruned meanwhile
        part = record["pt"][result.part]
        if part[P_STATE] in SENT_PART_STATES and part[P_STATE] != "submitted":
            return
        part[P_OPERATOR] = result.operator
        part[P_SUBMITTED] = result.at
        if result.accepted:
            part[P_STATE] = "submitted"
            part[P_MSGID] = result.message_id
            if result.key is not None:
                part[P_KEY] = result.key
                txn.put(result.key, _ID_PART.pack(result.id, result.part), db=self._opid)
                early = txn.pop(result.key, db=self._orphan) if self._orphans else None
                if early is not None:
                    self._apply_receipt(record, result.part, msgpack.unpackb(early))
        else:
            part[P_STATE] = "failed"
            part[P_ERROR] = result.error
            part[P_DONE] = result.at
            if record["er"] is None:
                record["er"] = {"code": result.code, "message": result.error or result.code}
            # A message with a part refused for good is broken: its other parts are not sent
            # (they would cost without making a readable message).
            for other in record["pt"]:
                if other[P_STATE] == "queued":
                    other[P_STATE] = "failed"
                    other[P_ERROR] = f"not sent: part {result.part + 1} failed"
                    other[P_DONE] = result.at
        self._settle(txn, result.id, record, result.at, batch)

    @staticmethod
    def _apply_receipt(record: dict[str, Any], index: int, receipt: dict[str, Any]) -> None:
        """An early receipt (kept in ``orphan``) applied once its part's result is stored."""
        if receipt["final"]:
            Outbox._final_receipt(
                record, index, stat=receipt["stat"], err=receipt["err"],
                delivered=receipt["delivered"], at=receipt["at"],
            )

    @staticmethod
    def _final_receipt(
        record: dict[str, Any], index: int, *, stat: str | None, err: str | None,
        delivered: bool, at: float,
    ) -> None:
        part = record["pt"][index]
        part[P_STATE] = state = _state_after_receipt(stat, delivered)
        part[P_STATUS] = stat
        part[P_DONE] = at
        if state != "delivered":
            part[P_ERROR] = f"receipt {stat or 'without a state'} err:{err}"
            if record["er"] is None:
                code = "expired" if state == "expired" else "undelivered"
                record["er"] = {"code": code, "message": f"part {index + 1}: {part[P_ERROR]}"}

    def _receipt(
        self,
        txn: lmdb.Transaction,
        receipt: ReceiptUpdate,
        records: dict[int, dict[str, Any]],
        batch: Batch,
    ) -> None:
        where = txn.get(receipt.key, db=self._opid)
        if where is None:
            # The receipt overtook the storing of its submit_sm_resp (or the SMSC sent it before
            # answering): keep it until the part's result arrives.
            stored = {
                "stat": receipt.stat,
                "err": receipt.err,
                "final": receipt.final,
                "delivered": receipt.delivered,
                "at": receipt.at,
            }
            txn.put(receipt.key, self._packer.pack(stored), db=self._orphan)
            return
        message_id, index = _ID_PART.unpack(where)
        record = records.get(message_id) or self._load(txn, message_id, records)
        if record is None or index >= len(record["pt"]):
            return
        number = self._event_no
        self._event_no = number + 1
        batch.events.append({
            "event": "receipt",
            "id": str(message_id),
            "account": record["a"],
            "part": index + 1,
            "operator": receipt.operator,
            "message_id": receipt.message_id,
            "stat": receipt.stat,
            "err": receipt.err,
            "at": receipt.at,
            "cursor": cursor_of(number),
        })
        submitted = record["pt"][index][P_SUBMITTED]
        if submitted is not None:
            batch.receipt_delays.append((receipt.operator, max(0.0, receipt.at - submitted)))
        if not receipt.final:
            return
        self._final_receipt(
            record, index, stat=receipt.stat, err=receipt.err, delivered=receipt.delivered,
            at=receipt.at,
        )
        if receipt.permanent and not receipt.delivered:
            batch.failed_numbers.append((record["to"], receipt.at))
        self._settle(txn, message_id, record, receipt.at, batch)

    def _expire(
        self,
        txn: lmdb.Transaction,
        expire: Expire,
        records: dict[int, dict[str, Any]],
        batch: Batch,
    ) -> None:
        record = self._load(txn, expire.id, records)
        if record is None or record["st"] in FINAL_STATES:
            return
        for part in record["pt"]:
            if part[P_STATE] == "queued":
                part[P_STATE] = "expired"
                part[P_DONE] = expire.at
        record["st"] = "expired"
        record["er"] = {"code": "expired", "message": expire.error}
        key = id_key(expire.id)
        self._new_pending.pop(key, None)
        txn.delete(key, db=self._pending)
        batch.finished.append(expire.id)
        self._status_event(txn, expire.id, record, expire.at, batch)

    # -- reads ---------------------------------------------------------------------------------

    def get(self, message_id: int) -> dict[str, Any] | None:
        with storage.begin_read(self.env) as txn:
            raw = txn.get(id_key(message_id), db=self._msg)
        return None if raw is None else decode_record(raw)

    def pending(self, chunk: int = 10_000) -> Iterator[tuple[int, dict[str, Any]]]:
        """Messages with parts still to send (a restart's work), oldest first, read in chunks
        so no read transaction is held across the caller's work."""
        after = b""
        while True:
            rows: list[tuple[int, dict[str, Any]]] = []
            with storage.begin_read(self.env) as txn:
                cursor = txn.cursor(self._pending)
                found = cursor.set_range(after) if after else cursor.first()
                while found and len(rows) < chunk:
                    key = cursor.key()
                    if key != after:
                        raw = txn.get(key, db=self._msg)
                        if raw is not None:
                            rows.append((_U64.unpack(key)[0], decode_record(raw)))
                        after = key
                    found = cursor.next()
            if not rows:
                return
            yield from rows

    def events_since(
        self, cursor: int, limit: int, kinds: frozenset[str] | None
    ) -> tuple[list[dict[str, Any]], int, bool]:
        """Events with a number above ``cursor`` (0: the oldest kept), at most ``limit`` of the
        wanted kinds; returns them, the cursor to continue from, and whether more remain."""
        out: list[dict[str, Any]] = []
        last = cursor
        scanned = 0
        with storage.begin_read(self.env) as txn:
            cur = txn.cursor(self._evt)
            found = cur.set_range(_U64.pack(cursor + 1))
            while found:
                if len(out) >= limit or scanned >= limit * 50:
                    return out, last, True
                number = _U64.unpack(cur.key())[0]
                event = msgpack.unpackb(cur.value())
                scanned += 1
                last = number
                if kinds is None or event["event"] in kinds:
                    out.append(event)
                found = cur.next()
        return out, last, False

    def counts(self) -> dict[str, int]:
        with storage.begin_read(self.env) as txn:
            return {
                "messages": txn.stat(self._msg)["entries"],
                "pending": txn.stat(self._pending)["entries"],
                "events": txn.stat(self._evt)["entries"],
                "orphan_receipts": txn.stat(self._orphan)["entries"],
            }

    # -- retention -----------------------------------------------------------------------------

    def prune(self, cutoff: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` messages accepted before ``cutoff`` (with their indexes) and the
        events older than it; returns how many rows went. Messages still pending are kept."""

        def run(txn: lmdb.Transaction) -> int:
            removed = 0
            cursor = txn.cursor(self._msg)
            found = cursor.first()
            while found and removed < limit:
                key = cursor.key()
                record = decode_record(cursor.value())
                if record["at"] >= cutoff:
                    break
                if txn.get(key, db=self._pending) is not None:
                    found = cursor.next()
                    continue
                if record["rf"] is not None:
                    txn.delete(f"{record['a']}\x00{record['rf']}".encode(), db=self._ref)
                for part in record["pt"]:
                    if part[P_KEY] is not None:
                        txn.delete(part[P_KEY], db=self._opid)
                found = cursor.delete()
                removed += 1
            ecur = txn.cursor(self._evt)
            found = ecur.first()
            while found and removed < 2 * limit:
                if msgpack.unpackb(ecur.value())["at"] >= cutoff:
                    break
                found = ecur.delete()
                removed += 1
            return removed

        return storage.write(self.env, run)

    def stored_ids(self, ids: Sequence[int]) -> list[dict[str, Any] | None]:
        with storage.begin_read(self.env) as txn:
            return [
                None if (raw := txn.get(id_key(i), db=self._msg)) is None else decode_record(raw)
                for i in ids
            ]


__all__ = [
    "FINAL_STATES",
    "Accepted",
    "Batch",
    "Expire",
    "NewMessage",
    "Outbox",
    "PartResult",
    "ReceiptUpdate",
    "ReplyEvent",
    "id_key",
    "opid_key",
]
