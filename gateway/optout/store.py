"""The opt-out list in LMDB: which numbers may not be messaged, in which scope, and why.

A number is excluded in a *scope*: ``global`` (nobody may message it), ``network:<name>`` (no
account of that network: the "global STOP" of a chain of shops) or ``account:<name>``. Each
exclusion records its reason (``stop_reply``, ``api``, ``import``, ``failed_number``), when
(``at``, Unix seconds), where it came from (``source``: an account, an operator, a file name)
and, for ``failed_number``, when it lapses (``until``).

Layout. The environment must be opened with ``max_dbs >= REQUIRED_DBS`` (:func:`open_env` uses
16, leaving room for the other stores); the store creates three named DBs with ``open_db``:

* ``optout``: key = ``pack(number)`` (8 bytes, :func:`gateway.numbers.pack`) + scope id (4 bytes
  big-endian), value = msgpack ``[reason, at, source, until]``. Fixed width puts all scopes of one
  number next to each other, so checking a number is one ``set_range`` and a short forward scan
  (usually zero steps: most numbers are not on the list at all).
* ``optout_meta``: scope name <-> scope id, the next id, per-scope entry counts (kept in the
  same write transactions as the entries, so ``count_by_scope`` is a read of a few keys, not a
  scan of millions) and the history sequence. Decision: scope ids are small integers assigned in
  order and never reused, not hashes: 4 bytes cannot collide and ids are stable across exports.
  ``global`` is always id 0, so it sorts first.
* ``optout_history``: key = ``pack(number)`` + sequence (8 bytes), value = msgpack
  ``[scope, action, by, at, previous entry]``: every removal, never silent.

Transactions. All methods are synchronous; the daemon calls them in a worker thread. Each write
method runs in *one* write transaction that it begins and commits itself, in the calling thread
(LMDB write txns are bound to their thread), unless the caller passes its own ``txn=``, in which
case the caller commits and handles map growth. Reads use one short read transaction per call
(``check_many`` checks its whole batch in one) and never hand an open transaction to the caller:
``iter_entries`` pages through in chunks and reopens a transaction per chunk.

Growth. ``MapFullError`` aborts the transaction; the store then doubles the map size with
``env.set_mapsize`` (no write txn is open at that point) and retries the whole batch. LMDB
requires that no transaction of this process is active during ``set_mapsize``: use a generous
``map_size`` (address space only on 64-bit: :func:`open_env` defaults to 1 TiB) so growth stays
an exception. A full disk raises :class:`StoreFull`.
"""

from __future__ import annotations

import csv
import enum
import errno
import os
import re
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import lmdb
import msgpack

from gateway.numbers import InvalidNumber, fast_accepts, normalize, pack, unpack

__all__ = [
    "DEFAULT_MAP_SIZE",
    "REQUIRED_DBS",
    "Entry",
    "HistoryEntry",
    "Hit",
    "ImportReport",
    "OptoutStore",
    "Reason",
    "StoreFull",
    "open_env",
    "parse_scope",
]

#: Named DBs this store creates in the environment.
REQUIRED_DBS = 3
#: 1 TiB of address space (only touched pages use disk), as dask/zict does on 64-bit.
DEFAULT_MAP_SIZE = 1 << 40
#: Entries read per read transaction while streaming (export): big enough to amortise the txn,
#: small enough that no reader pins old pages for long (LMDB cannot reuse pages a reader sees).
PAGE_SIZE = 10_000
#: Invalid lines listed in an import report; the counts stay complete.
MAX_INVALID_LISTED = 1_000
#: Longest line of an import file we look at; the rest of a longer line is skipped unread, so a
#: file without newlines cannot make the import hold it in memory.
MAX_LINE_BYTES = 1_024
#: Bytes read from an import file at a time.
READ_CHUNK = 1 << 20

_SCOPE_ID = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_GLOBAL_ID = 0
_SCOPE_RANKS = {"global": 0, "network": 1, "account": 2}
_CANONICAL_LINE = re.compile(rb"\+[1-9][0-9]{1,14}\r?")
_HEADER_WORDS = ("number", "numero", "msisdn", "phone", "telephone", "mobile", "tel", "gsm")

_M_SCOPE = b"scope:"        # + name -> id
_M_SCOPE_ID = b"scopeid:"   # + id -> name
_M_NEXT_SCOPE = b"next_scope"
_M_COUNT = b"count:"        # + id -> u64
_M_HISTORY_SEQ = b"history_seq"


class Reason(enum.StrEnum):
    """Why a number is excluded."""

    #: The person replied STOP (or another opt-out keyword).
    STOP_REPLY = "stop_reply"
    #: Added through the socket API or the CLI.
    API = "api"
    #: Loaded from a file.
    IMPORT = "import"
    #: Permanent delivery failures crossed the threshold; usually with ``until``.
    FAILED_NUMBER = "failed_number"


class StoreFull(Exception):
    """The disk holding the LMDB file is full: nothing was written by the failed call."""


class Entry(NamedTuple):
    """One exclusion: what ``add_many`` takes and what checks and exports return."""

    number: str
    scope: str
    reason: str
    source: str
    at: int
    until: int | None = None


#: What a check returns for an excluded number (the matching entry).
Hit = Entry


class HistoryEntry(NamedTuple):
    """One recorded removal (the audit trail of re-subscriptions)."""

    number: str
    scope: str
    action: str
    by: str
    at: int
    previous: Entry | None


@dataclass(slots=True)
class ImportReport:
    """What an import did. ``invalid`` lists at most ``MAX_INVALID_LISTED`` lines as
    ``(line_no, text, reason)``; ``invalid_count`` counts them all."""

    lines: int = 0
    imported: int = 0
    duplicates: int = 0
    invalid_count: int = 0
    blank: int = 0
    header: bool = False
    bytes_read: int = 0
    invalid: list[tuple[int, str, str]] = field(default_factory=list)


def parse_scope(scope: str) -> tuple[int, str]:
    """``(rank, scope)`` for a valid scope string: rank 0 global, 1 network, 2 account.

    Precedence in checks follows the rank: the widest exclusion is the one reported.
    """
    if scope == "global":
        return 0, scope
    kind, sep, name = scope.partition(":")
    if not sep or kind not in ("network", "account") or not name or name != name.strip():
        raise ValueError(
            f"scope {scope!r} is not 'global', 'network:<name>' or 'account:<name>'")
    if len(scope.encode()) > 400:
        raise ValueError(f"scope {scope[:40]!r}... is longer than 400 bytes")
    return _SCOPE_RANKS[kind], scope


def open_env(
    path: str | os.PathLike[str],
    *,
    map_size: int = DEFAULT_MAP_SIZE,
    max_dbs: int = 16,
    sync: bool = True,
) -> lmdb.Environment:
    """Open (creating) an LMDB environment directory suitable for :class:`OptoutStore`.

    ``sync=True`` by default: an opt-out that is acknowledged must survive a power cut.
    ``readahead=False`` because lookups are random: readahead would only evict useful pages.
    """
    Path(path).mkdir(parents=True, exist_ok=True)
    return lmdb.open(os.fspath(path), map_size=map_size, max_dbs=max_dbs, sync=sync,
                     readahead=False)


def _encode(reason: str, at: int, source: str, until: int | None) -> bytes:
    return msgpack.packb([reason, at, source, until])


def _validated(entry: Iterable[Any]) -> tuple[bytes, str, bytes, int, int | None]:
    number, scope, reason, source, at, *rest = entry
    until = rest[0] if rest else None
    parse_scope(scope)
    reason = Reason(reason).value
    at = int(at)
    until = None if until is None else int(until)
    return pack(number), scope, _encode(reason, at, str(source), until), at, until


class OptoutStore:
    """The exclusion list. One instance per process, shared by threads for reads; writes
    should come from one thread at a time (the daemon's writer), as LMDB serialises them."""

    def __init__(self, env: lmdb.Environment) -> None:
        self._env = env
        try:
            self._entries = env.open_db(b"optout")
            self._meta = env.open_db(b"optout_meta")
            self._history = env.open_db(b"optout_history")
        except lmdb.DbsFullError:
            raise ValueError(
                f"the LMDB environment needs max_dbs >= {REQUIRED_DBS} (plus the other stores' "
                "DBs): open it with open_env() or lmdb.open(..., max_dbs=16)") from None
        self._ids: dict[str, int] = {"global": _GLOBAL_ID}
        self._names: dict[int, str] = {_GLOBAL_ID: "global"}

    # ---- write path -----------------------------------------------------------------------

    def _write(self, fn: Callable[[lmdb.Transaction, dict[str, int]], Any]) -> Any:
        """Run ``fn`` in one write txn, growing the map and retrying on MapFullError.

        ``fn`` gets a dict for the scope ids it assigns; they reach the cache only after the
        commit, so an aborted txn cannot leave ids in memory that the file does not have.
        """
        while True:
            pending: dict[str, int] = {}
            try:
                with self._env.begin(write=True) as txn:
                    result = fn(txn, pending)
            except lmdb.MapFullError:
                self._grow()
                continue
            except lmdb.MapResizedError:
                self._env.set_mapsize(0)  # another process grew it: adopt its size
                continue
            except lmdb.DiskError as exc:
                raise StoreFull(f"no space left for the opt-out list ({exc})") from exc
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise StoreFull(f"no space left for the opt-out list ({exc})") from exc
                raise
            for name, sid in pending.items():
                self._ids[name] = sid
                self._names[sid] = name
            return result

    def _grow(self) -> None:
        size = self._env.info()["map_size"]
        self._env.set_mapsize(size * 2)

    def _run(self, txn: lmdb.Transaction | None,
             fn: Callable[[lmdb.Transaction, dict[str, int]], Any]) -> Any:
        if txn is None:
            return self._write(fn)
        return fn(txn, {})  # the caller's txn: its commit is not ours, so cache nothing

    def _assign_id(self, txn: lmdb.Transaction, scope: str, pending: dict[str, int]) -> int:
        sid = self._ids.get(scope)
        if sid is None:
            sid = pending.get(scope)
        if sid is None:
            raw = txn.get(_M_SCOPE + scope.encode(), db=self._meta)
            if raw is not None:
                sid = _SCOPE_ID.unpack(raw)[0]
            else:
                raw_next = txn.get(_M_NEXT_SCOPE, db=self._meta)
                sid = _SCOPE_ID.unpack(raw_next)[0] if raw_next else _GLOBAL_ID + 1
                txn.put(_M_NEXT_SCOPE, _SCOPE_ID.pack(sid + 1), db=self._meta)
                txn.put(_M_SCOPE + scope.encode(), _SCOPE_ID.pack(sid), db=self._meta)
                txn.put(_M_SCOPE_ID + _SCOPE_ID.pack(sid), scope.encode(), db=self._meta)
            pending[scope] = sid
        return sid

    def _bump_counts(self, txn: lmdb.Transaction, deltas: dict[int, int]) -> None:
        for sid, delta in deltas.items():
            if delta:
                key = _M_COUNT + _SCOPE_ID.pack(sid)
                raw = txn.get(key, db=self._meta)
                old = _U64.unpack(raw)[0] if raw else 0
                txn.put(key, _U64.pack(max(0, old + delta)), db=self._meta)

    def _put_one_value(self, txn: lmdb.Transaction, keys: list[bytes], value: bytes, at: int,
                       sid: int) -> tuple[int, int]:
        """Import fast path: sorted keys of one scope, all with the same permanent value.

        One ``putmulti`` (a C loop) inserts the new keys. Only if some keys existed does a
        second pass look at them, to apply :meth:`_put_sorted`'s rule (a permanent entry
        replaces an expiring one; an expired one counts as new).
        """
        cur = txn.cursor(db=self._entries)
        consumed, added = cur.putmulti([(k, value) for k in keys], overwrite=False)
        new, dup = added, consumed - added
        if dup:
            get = txn.get
            for k in keys:
                old = get(k, db=self._entries)
                if old != value and old is not None:
                    old_until = msgpack.unpackb(old)[3]
                    if old_until is not None:
                        txn.put(k, value, db=self._entries)
                        if old_until < at:
                            new += 1
                            dup -= 1
        self._bump_counts(txn, {sid: added})
        return new, dup

    def _put_sorted(self, txn: lmdb.Transaction, items: list[tuple[bytes, bytes, int, int | None]],
                    ) -> tuple[int, int]:
        """Write ``(key, value, at, until)`` items sorted by key; ``(new, duplicates)``.

        An existing entry is kept (the first reason and date stay), except that a permanent
        entry replaces an expiring one, a later expiry extends an earlier one, and an entry
        that had already expired at the new one's ``at`` is replaced and counts as new.
        """
        cur = txn.cursor(db=self._entries)
        put = cur.put
        new = dup = 0
        deltas: dict[int, int] = {}
        for key, value, at, until in items:
            if put(key, value, overwrite=False):
                new += 1
                sid = _SCOPE_ID.unpack_from(key, 8)[0]
                deltas[sid] = deltas.get(sid, 0) + 1
                continue
            old_until = msgpack.unpackb(txn.get(key, db=self._entries))[3]
            if old_until is not None and old_until < at:
                put(key, value)
                new += 1
            else:
                if old_until is not None and (until is None or until > old_until):
                    put(key, value)
                dup += 1
        self._bump_counts(txn, deltas)
        return new, dup

    def add_many(self, entries: Iterable[Entry | Sequence[Any]], *,
                 txn: lmdb.Transaction | None = None) -> int:
        """Add exclusions ``(number, scope, reason, source, at[, until])`` in ONE write txn.

        Numbers must already be E.164 (:func:`gateway.numbers.normalize`). The whole batch is
        validated before anything is written, so a bad entry (ValueError) writes nothing.
        Returns how many (number, scope) pairs were not excluded before.
        """
        rows = [_validated(e) for e in entries]

        def fn(t: lmdb.Transaction, pending: dict[str, int]) -> int:
            items = [(p + _SCOPE_ID.pack(self._assign_id(t, scope, pending)), value, at, until)
                     for p, scope, value, at, until in rows]
            items.sort(key=lambda item: item[0])
            return self._put_sorted(t, items)[0]

        return self._run(txn, fn) if rows else 0

    def add(self, number: str, scope: str, reason: str, *, source: str, at: float,
            until: float | None = None, txn: lmdb.Transaction | None = None) -> bool:
        """Add one exclusion; True if it is new. See :meth:`add_many`."""
        return self.add_many([(number, scope, reason, source, at, until)], txn=txn) == 1

    def remove(self, number: str, scope: str, *, by: str, at: float,
               txn: lmdb.Transaction | None = None) -> bool:
        """Remove the exclusion of ``number`` in ``scope`` (re-subscription), recording who
        (``by``) and when in the history DB, in the same transaction. Returns False (and
        records nothing, since nothing changed) if there was no such exclusion."""
        parse_scope(scope)
        prefix = pack(number)

        def fn(t: lmdb.Transaction, pending: dict[str, int]) -> bool:
            sid = self._lookup_id(t, scope, cache=False)
            if sid is None:
                return False
            key = prefix + _SCOPE_ID.pack(sid)
            raw = t.get(key, db=self._entries)
            if raw is None:
                return False
            t.delete(key, db=self._entries)
            self._bump_counts(t, {sid: -1})
            seq_raw = t.get(_M_HISTORY_SEQ, db=self._meta)
            seq = _U64.unpack(seq_raw)[0] if seq_raw else 0
            t.put(_M_HISTORY_SEQ, _U64.pack(seq + 1), db=self._meta)
            t.put(prefix + _U64.pack(seq),
                  msgpack.packb([scope, "remove", by, int(at), msgpack.unpackb(raw)]),
                  db=self._history)
            return True

        return bool(self._run(txn, fn))

    # ---- read path ------------------------------------------------------------------------

    def _lookup_id(self, txn: lmdb.Transaction, scope: str, *, cache: bool = True) -> int | None:
        sid = self._ids.get(scope)
        if sid is None:
            raw = txn.get(_M_SCOPE + scope.encode(), db=self._meta)
            if raw is None:
                return None
            sid = _SCOPE_ID.unpack(raw)[0]
            if cache:  # committed data (read txn): safe to remember, ids are never reused
                self._ids[scope] = sid
                self._names[sid] = scope
        return sid

    def _name(self, txn: lmdb.Transaction, sid: int) -> str:
        name = self._names.get(sid)
        if name is None:
            raw = txn.get(_M_SCOPE_ID + _SCOPE_ID.pack(sid), db=self._meta)
            name = raw.decode() if raw is not None else f"scope#{sid}"
            if raw is not None:
                self._names[sid] = name
                self._ids[name] = sid
        return name

    def check_many(self, numbers: Sequence[str], scopes: Sequence[str],
                   now: float) -> list[Hit | None]:
        """For each E.164 number, the exclusion that blocks it in any of ``scopes``, or None.

        ONE read transaction for the whole batch. When several scopes match, the widest wins
        (global, then network, then account; ties in the order given). Entries whose
        ``until`` is before ``now`` do not count. Numbers are trusted to be normalised E.164
        (as intake produces them); they are packed with ``int()``, so this stays a C loop.
        """
        ranked = sorted(((parse_scope(s)[0], i, s) for i, s in enumerate(scopes)))
        out: list[Hit | None] = [None] * len(numbers)
        try:
            packed = list(map(_U64.pack, map(int, numbers)))
        except (ValueError, struct.error, TypeError):
            packed = [pack(n) for n in numbers]  # raises a ValueError naming the bad one
        with self._env.begin(db=self._entries) as txn:
            order: dict[bytes, int] = {}
            for pos, (_, _, scope) in enumerate(ranked):
                sid = self._lookup_id(txn, scope)
                if sid is not None:
                    order.setdefault(_SCOPE_ID.pack(sid), pos)
            if not order:
                return out
            cur = txn.cursor()
            set_range, key, nxt = cur.set_range, cur.key, cur.next
            for i, p in enumerate(packed):
                if not set_range(p):
                    continue
                k = key()
                if k[:8] != p:
                    continue
                best: tuple[int, bytes, bytes] | None = None
                while k[:8] == p:
                    pos = order.get(k[8:])
                    if pos is not None and (best is None or pos < best[0]):
                        value = cur.value()
                        until = msgpack.unpackb(value)[3]
                        if until is None or until >= now:
                            best = (pos, k, value)
                    if not nxt():
                        break
                    k = key()
                if best is not None:
                    reason, at, source, until = msgpack.unpackb(best[2])
                    out[i] = Entry(numbers[i], ranked[best[0]][2], reason, source, at, until)
        return out

    def check(self, number: str, scopes: Sequence[str], now: float) -> Hit | None:
        """One number; see :meth:`check_many` (prefer it for batches)."""
        return self.check_many([number], scopes, now)[0]

    def iter_entries(self, scope: str | None = None, *, page: int = PAGE_SIZE
                     ) -> Iterator[Entry]:
        """Every entry (of one scope, if given) in key order, streamed.

        Reads ``page`` entries per read transaction and yields them after it has closed, so a
        slow consumer (an export to a slow disk) never pins old pages.
        """
        want: bytes | None = None
        if scope is not None:
            parse_scope(scope)
            with self._env.begin() as txn:
                sid = self._lookup_id(txn, scope)
            if sid is None:
                return
            want = _SCOPE_ID.pack(sid)
        after = b""
        while True:
            chunk: list[Entry] = []
            with self._env.begin(db=self._entries) as txn:
                cur = txn.cursor()
                ok = cur.set_range(after) if after else cur.first()
                if ok and after and cur.key() == after:
                    ok = cur.next()
                scanned = 0
                while ok and scanned < page:
                    k = cur.key()
                    scanned += 1
                    if want is None or k[8:] == want:
                        reason, at, source, until = msgpack.unpackb(cur.value())
                        sid = _SCOPE_ID.unpack_from(k, 8)[0]
                        chunk.append(Entry(unpack(k), self._name(txn, sid), reason, source,
                                           at, until))
                    after = k
                    ok = cur.next()
            yield from chunk
            if not ok:
                return

    def history(self, number: str | None = None) -> Iterator[HistoryEntry]:
        """Recorded removals, of one number or of all (in number order, then time order)."""
        prefix = pack(number) if number is not None else b""
        after = prefix
        first = True
        while True:
            chunk: list[HistoryEntry] = []
            with self._env.begin(db=self._history) as txn:
                cur = txn.cursor()
                ok = cur.set_range(after)
                if ok and not first and cur.key() == after:
                    ok = cur.next()
                while ok and len(chunk) < PAGE_SIZE:
                    k = cur.key()
                    if prefix and k[:8] != prefix:
                        ok = False
                        break
                    scope, action, by, at, prev = msgpack.unpackb(cur.value())
                    num = unpack(k)
                    previous = (None if prev is None  # stored as [reason, at, source, until]
                                else Entry(num, scope, prev[0], prev[2], prev[1], prev[3]))
                    chunk.append(HistoryEntry(num, scope, action, by, at, previous))
                    after = k
                    ok = cur.next()
            first = False
            yield from chunk
            if not ok:
                return

    def count_by_scope(self) -> dict[str, int]:
        """Entries per scope (expired ``failed_number`` entries included until removed), from
        counters kept in the write transactions: cheap enough for every metrics scrape."""
        counts: dict[str, int] = {}
        with self._env.begin(db=self._meta) as txn:
            cur = txn.cursor()
            if cur.set_range(_M_COUNT):
                for k, v in cur:
                    if not k.startswith(_M_COUNT):
                        break
                    n = _U64.unpack(v)[0]
                    if n:
                        counts[self._name(txn, _SCOPE_ID.unpack_from(k, len(_M_COUNT))[0])] = n
        return counts

    # ---- files ----------------------------------------------------------------------------

    def import_csv(
        self,
        path: str | os.PathLike[str],
        scope: str,
        reason: str = Reason.IMPORT,
        source: str | None = None,
        *,
        region: str = "FR",
        require_mobile: bool = True,
        at: float | None = None,
        batch: int = 50_000,
        progress: Callable[[ImportReport], None] | None = None,
    ) -> ImportReport:
        """Load the numbers of a CSV (or plain list) file into ``scope``.

        The number is the first field (separators ',', ';' or tab; quotes and spaces around it
        are ignored; national spellings use ``region``). A first line that is not a number but
        looks like a header ("number", "msisdn", ...) is skipped; blank lines and lines starting
        with '#' too. Every other line that is not a valid number is reported with its line
        number and reason, and the import goes on. Streaming: constant memory (one batch and
        one read chunk), one write transaction per ``batch`` numbers; ``progress`` is called
        with the running report after each commit. ``source`` defaults to the file name,
        ``at`` (the recorded date) to the current time.
        """
        parse_scope(scope)
        reason = Reason(reason).value
        stamp = int(time.time() if at is None else at)
        value = _encode(reason, stamp, os.path.basename(os.fspath(path)) if source is None
                        else source, None)
        report = ImportReport()
        pending: list[bytes] = []

        def flush() -> None:
            def fn(t: lmdb.Transaction, assigned: dict[str, int]) -> tuple[int, int]:
                sid = self._assign_id(t, scope, assigned)
                suffix = _SCOPE_ID.pack(sid)
                return self._put_one_value(t, sorted(p + suffix for p in pending), value,
                                           stamp, sid)

            if pending:
                new, dup = self._write(fn)
                report.imported += new
                report.duplicates += dup
                pending.clear()
            report.bytes_read = lines.bytes_read
            if progress is not None:
                progress(report)

        first_content = True
        canonical = _CANONICAL_LINE.fullmatch
        with open(path, "rb") as f:
            lines = _Lines(f)
            for line_no, line in lines:
                # Fast path: a bare canonical E.164 line, accepted by the compiled rule.
                if line is not None and canonical(line):
                    text_s = line.decode("ascii").rstrip("\r")
                    if fast_accepts(text_s, require_mobile):
                        pending.append(_U64.pack(int(text_s)))
                        first_content = False
                        if len(pending) >= batch:
                            report.lines = line_no
                            flush()
                        continue
                report.lines = line_no
                if line is None:
                    self._invalid(report, line_no, "(line too long)", "too_long")
                    continue
                text = line.strip()
                if line_no == 1 and text.startswith(b"\xef\xbb\xbf"):  # UTF-8 BOM (Excel)
                    text = text[3:].strip()
                if not text or text.startswith(b"#"):
                    report.blank += 1
                    continue
                for sep in (b",", b";", b"\t"):
                    if sep in text:
                        text = text.split(sep, 1)[0]
                raw = text.decode("utf-8", "replace").strip().strip("\"'").strip()
                try:
                    number = normalize(raw, region=region, require_mobile=require_mobile)
                except InvalidNumber as exc:
                    if first_content and raw.casefold().startswith(_HEADER_WORDS):
                        report.header = True
                    else:
                        self._invalid(report, line_no, raw, exc.reason)
                    first_content = False
                    continue
                first_content = False
                pending.append(_U64.pack(int(number)))
                if len(pending) >= batch:
                    flush()
            report.lines = lines.line_count
            flush()
        return report

    @staticmethod
    def _invalid(report: ImportReport, line_no: int, text: str, reason: str) -> None:
        report.invalid_count += 1
        if len(report.invalid) < MAX_INVALID_LISTED:
            report.invalid.append((line_no, text[:80], reason))

    def export_csv(self, path_or_file: str | os.PathLike[str] | IO[str],
                   scope: str | None = None) -> int:
        """Write entries (of one scope, or all) as CSV with a header line
        ``number,scope,reason,at,source,until``; returns the number of rows. The first column
        is what :meth:`import_csv` reads, so an export imports back as is."""
        if isinstance(path_or_file, (str, os.PathLike)):
            with open(path_or_file, "w", newline="", encoding="utf-8") as f:
                return self._export(f, scope)
        return self._export(path_or_file, scope)

    def _export(self, f: IO[str], scope: str | None) -> int:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(Entry._fields)
        rows = 0
        for e in self.iter_entries(scope):
            writer.writerow((e.number, e.scope, e.reason, e.at, e.source,
                             "" if e.until is None else e.until))
            rows += 1
        return rows


class _Lines:
    """Lines of a binary file read in ``READ_CHUNK`` chunks: iterating yields
    ``(line_no, line)``, with ``line`` None for a line over ``MAX_LINE_BYTES`` (its bytes are
    skipped, never kept). ``bytes_read`` is the progress so far, for a progress bar."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.bytes_read = 0
        self.line_count = 0

    def __iter__(self) -> Iterator[tuple[int, bytes | None]]:
        line_no = 0
        carry = b""
        overlong = False
        while True:
            chunk = self._f.read(READ_CHUNK)
            if not chunk:
                break
            self.bytes_read += len(chunk)
            parts = chunk.split(b"\n")
            parts[0] = carry + parts[0]
            carry = parts.pop()
            for part in parts:
                line_no += 1
                if overlong or len(part) > MAX_LINE_BYTES:
                    overlong = False
                    yield line_no, None
                else:
                    yield line_no, part
            if len(carry) > MAX_LINE_BYTES:
                overlong = True
                carry = b""
        self.line_count = line_no
        if carry or overlong:
            self.line_count = line_no + 1
            yield line_no + 1, None if overlong else carry
