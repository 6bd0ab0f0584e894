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

The membership filter. Every instance keeps in memory the set of numbers that have *any* entry
(a :class:`gateway._core.NumberSet`: 8 bytes a slot, at most 3/4 full; 10 million numbers take
2**24 slots, 128 MiB, 13.4 bytes per number), and in each slot's spare high bits a *tag*: 0 for
"read LMDB", ``k > 0`` for "this number has exactly the entries of the ``k``-th set of the
filter's tag table" (each ``(scope, reason, source, at, until)``; at most ``MAX_TAGS`` sets,
shared: an import gives every number the same entry, so 10 million imported numbers share one
tag, and the table costs nothing per number). ``check_many`` asks the filter about the whole
batch in one C call, which also answers the tagged numbers (each distinct tag of the batch is
decided once, with the precedence and expiry rules applied to its set), and reads LMDB only for
the untagged ones (the candidates), in its one read transaction.

The filter is loaded at open (and by :meth:`reload`) from the entries, in chunks of
``LOAD_CHUNK`` per read transaction: a number's entries are adjacent in key order, and it gets
the tag of that run (tag 0 if a chunk boundary splits it). That reads the values too: about
1.6 times the keys alone (0.6 s against 0.4 s for 1.8 million numbers; 3.9 s for 10 million in
``bench/optout.py``, on a machine whose two cores were also busy elsewhere). It is kept up to
date by this instance's own writes, and is always a superset of the list: a written number is
added (or untagged) *before* the write commits, so an aborted write only leaves a harmless
untagged candidate; a removal untags before its commit and removes a number only after the
commit, once it has no entry left in any scope. A tag ``k > 0`` is set only after a commit, for
what the store then *knows*: a number the filter did not hold before an import (so it had no
entry) has the import's entry alone, and one whose tagged set has a permanent entry in the
import's scope keeps it (the import changes nothing there); after :meth:`add_many` or
:meth:`remove` the write transaction reads its numbers' entries back (what it sees is what it
commits). A write in a caller's ``txn=`` tags nothing, since the store never sees that commit.
Tags set after a commit go to the filter the write changed only if it is still the current one
(not replaced by a :meth:`reload`) and no other write has touched the filter in between.

Staleness. Another process writing the same environment (``gateway optout import`` from the CLI
while the daemon runs), or another ``OptoutStore`` on it, is not seen by this filter. So every
write transaction, from any process, stores a new *generation* in the meta DB (a counter and 8
random bytes, so that two writers never produce the same value), and ``check_many`` reads it in
the read transaction it opens anyway: **per batch**, at the cost of one ``get``. When it is not
the generation the filter reflects, the batch is answered from LMDB alone (every number looked
up: exact, only slower), so a foreign write is seen by the very next batch. The filter itself is
rebuilt by :meth:`reload`, which the owner may call from a worker thread (``is_stale()`` says
when); with ``auto_reload`` (the default) ``check_many`` reloads by itself once the foreign
generation has stayed the same for ``RELOAD_QUIET_S`` seconds of its ``now``, i.e. once the other
writer has gone quiet, so a 60-second CLI import costs one reload, not one per commit. A write
made in a caller's ``txn=`` is handled like an own write: its generation is remembered, and the
filter counts as current once that generation is seen committed.

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
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, NamedTuple

import lmdb
import msgpack

from gateway._core import NumberSet
from gateway._core._e164scan import PackedItems, scan, sort_numbers
from gateway._core._numset import MAX_TAG
from gateway.numbers import FastLines, InvalidNumber, fast_accepts, normalize, pack, unpack
from gateway.storage import begin_read

__all__ = [
    "DEFAULT_MAP_SIZE",
    "IMPORT_BATCH",
    "LOAD_CHUNK",
    "MAX_TAGS",
    "RELOAD_QUIET_S",
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
#: Numbers per write transaction of an import. The keys are random, so every commit rewrites
#: most leaf pages of the tree (copy on write) and syncs them: 50,000 a commit made 200 commits
#: and 123 s for 10 million numbers, 1,000,000 makes 10 and about 35 s (before the chunk scan:
#: the parsing cost 20 s of that). Memory is bounded by it: 8 bytes per pending number (a
#: uint64 array; keys are made one at a time as LMDB takes them), 8 MB at this size.
IMPORT_BATCH = 1_000_000
#: Room for numbers an import's batch starts with (it doubles up to the batch size).
_PENDING_START = 1 << 16
#: Keys read per read transaction when (re)loading the filter: few transactions, and none that
#: pins old pages for more than a fraction of a second.
LOAD_CHUNK = 1_000_000
#: With ``auto_reload``, ``check_many`` rebuilds a stale filter once the foreign generation has
#: not changed for this long (in the caller's ``now``): the other writer is done.
RELOAD_QUIET_S = 2.0
#: Decoded values kept by raw bytes (an import gives every number the same value).
_DECODED_MAX = 4_096
#: Entries of a filter's tag table, tag 0 excepted (the NumberSet's 14 spare bits). Distinct
#: ``(scope, value)`` pairs beyond it leave their numbers untagged: read from LMDB, as before.
MAX_TAGS = MAX_TAG

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
_M_GENERATION = b"generation"   # -> u64 counter + 8 random bytes, new in every write txn
_NO_GENERATION = b""            # an environment no write has touched yet
_new_entry = tuple.__new__


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


#: One exclusion without its number: ``(scope, reason, source, at, until)``.
_Rest = tuple[str, str, str, int, "int | None"]


class _Tags:
    """A filter's tag table: tag ``k > 0`` is ``entries[k]``, the entries (each ``(scope,
    reason, source, at, until)``, in key order) that every number the filter tags ``k`` has,
    and no other. Append-only until the filter is replaced (:meth:`OptoutStore.reload` builds
    a new pair), so a reader that holds a filter and its table may index it while a writer
    adds tags."""

    __slots__ = ("_index", "entries")

    def __init__(self) -> None:
        self.entries: list[tuple[_Rest, ...]] = [()]
        self._index: dict[tuple[tuple[str, bytes], ...], int] = {}

    def intern(self, pairs: tuple[tuple[str, bytes], ...]) -> int:
        """The tag of numbers whose entries are ``pairs``, ``(scope, raw value)`` in key order:
        0 once the table is full."""
        tag = self._index.get(pairs)
        if tag is None:
            if len(self.entries) > MAX_TAGS:
                return 0
            rests = []
            for scope, raw in pairs:
                reason, at, source, until = msgpack.unpackb(raw)
                rests.append((scope, reason, source, at, until))
            tag = len(self.entries)
            self.entries.append(tuple(rests))
            self._index[pairs] = tag
        return tag

    def permanent_in(self, scope: str) -> bytes:
        """``keep`` for :meth:`NumberSet.mark_keys`: the tags that have a permanent entry in
        ``scope``, which an import into ``scope`` leaves as they are (it keeps first entries,
        and replaces only expiring ones)."""
        return bytes(any(e[0] == scope and e[4] is None for e in rests)
                     for rests in self.entries)


@dataclass(slots=True)
class _Hold:
    """One write's hold on the membership filter, taken in its write transaction before it
    changes the filter (:meth:`OptoutStore._hold`)."""

    #: The filter (and its tag table) the write changes before its commit.
    filter: NumberSet
    tags: _Tags
    #: The store's write count when the hold was taken: if another write took one since,
    #: ``done`` is skipped (it may have changed numbers this write's knowledge is about).
    epoch: int
    #: The store commits the transaction (False: a caller's ``txn=``, whose commit it never sees).
    own: bool
    #: What the write knows once committed (tags to set, numbers to discard), run by
    #: :meth:`OptoutStore._advance` under the lock, only if this filter is still current.
    done: Callable[[], object] | None = None


class OptoutStore:
    """The exclusion list. One instance per process, shared by threads for reads; writes
    should come from one thread at a time (the daemon's writer), as LMDB serialises them.

    Opening loads the membership filter (see the module docstring); ``auto_reload=False``
    leaves reloading a stale filter to the owner (:meth:`is_stale`, :meth:`reload`).
    """

    def __init__(self, env: lmdb.Environment, *, auto_reload: bool = True) -> None:
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
        self._auto_reload = auto_reload
        self._decoded: dict[bytes, tuple[str, int, str, int | None]] = {}
        # The filter, and the generation of the list it is a superset of. Both change together
        # under the lock (reload, commits); readers only compare.
        self._lock = threading.Lock()
        self._filter = NumberSet()
        self._tags = _Tags()
        self._epoch = 0                     # holds taken by writes (see _Hold)
        self._gen: bytes | None = None
        self._expect: bytes | None = None   # written in a caller's txn, not yet seen committed
        self._stale_gen: bytes | None = None
        self._stale_since = 0.0
        self.reload()

    # ---- the filter -----------------------------------------------------------------------

    def reload(self) -> None:
        """Rebuild the membership filter and its tags from the entries in LMDB (chunked read
        transactions), and make it current. Safe to call from a worker thread while others
        check: the new filter replaces the old one only once complete."""
        fresh, tags = NumberSet(), _Tags()
        with begin_read(self._env) as txn:
            gen = self._generation(txn)
            fresh.reserve(txn.stat(self._entries)["entries"])  # >= distinct numbers
        after: bytes | None = None
        while True:
            with self._env.begin(db=self._entries) as txn:

                def intern(run: tuple[tuple[bytes, bytes], ...],
                           txn: lmdb.Transaction = txn) -> int:
                    pairs = []
                    for suffix, raw in run:
                        if len(suffix) != _SCOPE_ID.size:
                            return 0
                        name = self._known_name(txn, _SCOPE_ID.unpack(suffix)[0])
                        if name is None:
                            return 0
                        pairs.append((name, raw))
                    return tags.intern(tuple(pairs))

                cur = txn.cursor()
                ok = cur.set_range(after) if after is not None else cur.first()
                if ok:
                    # A number's entries are adjacent in key order: tagged with them all.
                    # One whose entries a chunk boundary splits is untagged.
                    fresh.load(islice(cur.iternext(), LOAD_CHUNK), intern)
                    ok = cur.next()  # on the last key read: step to the first unread one
                    after = cur.key() if ok else None
            if not ok:
                break
        # Writes that committed while the chunks were read may be missing: the generation read
        # before them then differs from the file's, and the next check sees it stale.
        with self._lock:
            self._filter, self._tags = fresh, tags
            self._gen = gen
            self._expect = None
            self._stale_gen = None

    def is_stale(self) -> bool:
        """True if the list changed (another process or instance wrote it) since the filter
        was loaded: :meth:`check_many` is then exact but slower until :meth:`reload`."""
        with self._env.begin(db=self._meta) as txn:
            gen = self._generation(txn)
        return self._current(gen) is None

    def _generation(self, txn: lmdb.Transaction) -> bytes:
        raw = txn.get(_M_GENERATION, db=self._meta)
        return _NO_GENERATION if raw is None else raw

    def _current(self, gen: bytes) -> tuple[NumberSet, _Tags] | None:
        """The filter and its tags if they reflect generation ``gen``, else None."""
        with self._lock:
            if gen == self._expect and self._gen is not None:
                self._gen, self._expect = gen, None  # the caller's txn committed
            return (self._filter, self._tags) if gen == self._gen else None

    def _hold(self, own: bool) -> _Hold:
        """Taken by every write in its write transaction, before it changes the filter."""
        with self._lock:
            self._epoch += 1
            return _Hold(self._filter, self._tags, self._epoch, own)

    def _bump(self, txn: lmdb.Transaction) -> tuple[bytes, bytes]:
        """A new generation in this write txn: ``(old, new)``."""
        old = self._generation(txn)
        count = _U64.unpack_from(old)[0] + 1 if old else 1
        new = _U64.pack(count) + os.urandom(8)
        txn.put(_M_GENERATION, new, db=self._meta)
        return old, new

    def _advance(self, old: bytes, new: bytes, hold: _Hold, committed: bool) -> None:
        """After a write of this instance from ``old`` to ``new``: the filter (already given
        the write's numbers, untagged) stays current if it was current before and is still
        the one the write changed (a reload in between decides by its own generation). Then
        ``hold.done`` sets what the committed write knows, unless another write has taken a
        hold since this one's (it may have changed the same numbers)."""
        with self._lock:
            if hold.filter is not self._filter:
                return
            if old == self._expect and self._gen is not None:
                self._gen, self._expect = old, None  # an earlier caller txn was committed
            if old != self._gen:
                return
            if not committed:
                self._expect = new
                return
            self._gen = new
            if hold.done is not None and hold.epoch == self._epoch:
                hold.done()

    # ---- write path -----------------------------------------------------------------------

    def _write(self, fn: Callable[[lmdb.Transaction, dict[str, int], _Hold], Any]) -> Any:
        """Run ``fn`` in one write txn, growing the map and retrying on MapFullError.

        ``fn`` gets a dict for the scope ids it assigns; they reach the cache only after the
        commit, so an aborted txn cannot leave ids in memory that the file does not have. It
        also gets the write's hold on the filter (every attempt takes a new one).
        """
        while True:
            pending: dict[str, int] = {}
            try:
                with self._env.begin(write=True) as txn:
                    hold = self._hold(own=True)
                    result = fn(txn, pending, hold)
                    old, new = self._bump(txn)
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
            self._advance(old, new, hold, committed=True)
            return result

    def _grow(self) -> None:
        size = self._env.info()["map_size"]
        self._env.set_mapsize(size * 2)

    def _run(self, txn: lmdb.Transaction | None,
             fn: Callable[[lmdb.Transaction, dict[str, int], _Hold], Any]) -> Any:
        if txn is None:
            return self._write(fn)
        # The caller's txn: its commit is not ours, so cache nothing and tag nothing.
        hold = self._hold(own=False)
        result = fn(txn, {}, hold)
        self._advance(*self._bump(txn), hold, committed=False)
        return result

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

    def _put_one_value(self, txn: lmdb.Transaction, numbers: array[int], count: int, *,
                       suffix: bytes, value: bytes, at: int, sid: int) -> tuple[int, int]:
        """Import fast path: ``numbers[:count]`` (sorted), one scope (``suffix``, the id
        ``sid``), all with the same permanent value.

        One ``putmulti`` (a C loop over keys made in C, one at a time) inserts the new keys in
        cursor order. Only if some keys existed does a second pass look at them, to apply
        :meth:`_put_sorted`'s rule (a permanent entry replaces an expiring one; an expired one
        counts as new). The caller has put the numbers in the filter.
        """
        cur = txn.cursor(db=self._entries)
        consumed, added = cur.putmulti(PackedItems(numbers, count, suffix, value),
                                       overwrite=False)
        new, dup = added, consumed - added
        if dup:
            get = txn.get
            for k in PackedItems(numbers, count, suffix):
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

        def fn(t: lmdb.Transaction, pending: dict[str, int], hold: _Hold) -> int:
            items = [(p + _SCOPE_ID.pack(self._assign_id(t, scope, pending)), value, at, until)
                     for p, scope, value, at, until in rows]
            items.sort(key=lambda item: item[0])
            # Before the commit: in the filter (a superset), untagged (read from LMDB).
            hold.filter.add_keys([item[0] for item in items])
            new = self._put_sorted(t, items)[0]
            if hold.own:
                # What this txn sees is what it commits: the numbers' entries, read back.
                sets = self._entry_sets(t, {item[0][:8] for item in items}, pending)
                hold.done = lambda: self._tag_sets(hold, sets)
            return new

        return self._run(txn, fn) if rows else 0

    def _entry_sets(self, txn: lmdb.Transaction, prefixes: Iterable[bytes],
                    pending: dict[str, int]) -> list[tuple[bytes, tuple[tuple[str, bytes], ...]]]:
        """``(prefix, ((scope, raw value), ...))`` of each number: all its entries, read in
        ``txn`` (a write txn: scope names it assigned come from ``pending``, none is cached).
        A number with a scope id of unknown name is left out."""
        names = {sid: name for name, sid in pending.items()}
        cur = txn.cursor(db=self._entries)
        out: list[tuple[bytes, tuple[tuple[str, bytes], ...]]] = []
        for p in sorted(prefixes):
            pairs: list[tuple[str, bytes]] | None = []
            ok = cur.set_range(p)
            while ok:
                k = cur.key()
                if k[:8] != p:
                    break
                sid = _SCOPE_ID.unpack_from(k, 8)[0]
                name = names.get(sid) or self._known_name(txn, sid, cache=False)
                if name is None:
                    pairs = None
                    break
                pairs.append((name, cur.value()))
                ok = cur.next()
            if pairs is not None:
                out.append((p, tuple(pairs)))
        return out

    @staticmethod
    def _tag_sets(hold: _Hold,
                  sets: list[tuple[bytes, tuple[tuple[str, bytes], ...]]]) -> None:
        """After the commit: each number tagged with its entries, or gone if it has none."""
        for p, pairs in sets:
            if not pairs:
                hold.filter.discard(_U64.unpack(p)[0])
                continue
            tag = hold.tags.intern(pairs)
            if tag:
                hold.filter.tag_keys([p], tag)

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

        def fn(t: lmdb.Transaction, pending: dict[str, int], hold: _Hold) -> bool:
            sid = self._lookup_id(t, scope, cache=False)
            if sid is None:
                return False
            key = prefix + _SCOPE_ID.pack(sid)
            raw = t.get(key, db=self._entries)
            if raw is None:
                return False
            hold.filter.set_tag(number, 0)  # before the commit: read from LMDB again
            t.delete(key, db=self._entries)
            self._bump_counts(t, {sid: -1})
            seq_raw = t.get(_M_HISTORY_SEQ, db=self._meta)
            seq = _U64.unpack(seq_raw)[0] if seq_raw else 0
            t.put(_M_HISTORY_SEQ, _U64.pack(seq + 1), db=self._meta)
            t.put(prefix + _U64.pack(seq),
                  msgpack.packb([scope, "remove", by, int(at), msgpack.unpackb(raw)]),
                  db=self._history)
            if hold.own:
                # Once committed: no scope left, the number leaves the filter; else it is
                # tagged with what is left. (In a caller's txn the number stays in the filter,
                # untagged: a false positive costs one lookup, a false negative a send.)
                sets = self._entry_sets(t, [prefix], pending)
                hold.done = lambda: self._tag_sets(hold, sets)
            return True

        return self._run(txn, fn)

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

    def _known_name(self, txn: lmdb.Transaction, sid: int, *, cache: bool = True
                    ) -> str | None:
        name = self._names.get(sid)
        if name is None:
            raw = txn.get(_M_SCOPE_ID + _SCOPE_ID.pack(sid), db=self._meta)
            if raw is None:
                return None
            name = raw.decode()
            if cache:  # committed data (read txn): safe to remember, ids are never reused
                self._names[sid] = name
                self._ids[name] = sid
        return name

    def _name(self, txn: lmdb.Transaction, sid: int) -> str:
        name = self._known_name(txn, sid)
        return f"scope#{sid}" if name is None else name

    def check_many(self, numbers: Sequence[str], scopes: Sequence[str],
                   now: float) -> list[Hit | None]:
        """For each E.164 number, the exclusion that blocks it in any of ``scopes``, or None.

        ONE read transaction for the whole batch. When several scopes match, the widest wins
        (global, then network, then account; ties in the order given). Entries whose
        ``until`` is before ``now`` do not count. Numbers must be normalised E.164 (as intake
        produces them; a malformed one raises ValueError) or their ints.

        The membership filter answers the batch in one C call: numbers it does not hold are
        not on the list; a number it tags has exactly the one entry of the tag's table, so it
        is decided in memory (its scope asked, its ``until`` not past); LMDB is read only for
        the untagged candidates: one ``getmulti`` per scope asked, widest first, over the
        candidates not yet decided. If the list changed since the filter was loaded (another
        process wrote: see the module docstring), every number is looked up instead, and with
        ``auto_reload`` the filter is rebuilt once the other writer has been quiet for
        ``RELOAD_QUIET_S`` seconds of ``now``.
        """
        ranked = sorted(((parse_scope(s)[0], i, s) for i, s in enumerate(scopes)))
        out: list[Hit | None] = [None] * len(numbers)
        with begin_read(self._env) as txn:
            gen = self._generation(txn)
            current = self._current(gen)
            if current is not None:
                # The filter holds every number of generation ``gen``, and its tags are right.
                filt, tags = current
                entries = tags.entries
                order: dict[str, tuple[int, int]] = {}
                for rank, i, scope in ranked:
                    order.setdefault(scope, (rank, i))

                def row(tag: int) -> _Rest | None:
                    # The number has exactly these entries: the widest one asked and not
                    # expired blocks it (as _lookup decides from LMDB).
                    best, best_order = None, None
                    for rest in entries[tag]:  # (scope, reason, source, at, until)
                        o = order.get(rest[0])
                        if o is None or (rest[4] is not None and rest[4] < now):
                            continue
                        if best_order is None or o < best_order:
                            best, best_order = rest, o
                    return best

                positions, prefixes = filt.answer(numbers, row, out, Entry)
            else:
                positions = list(range(len(numbers)))
                try:
                    prefixes = list(map(_U64.pack, map(int, numbers)))
                except (ValueError, struct.error, TypeError):
                    prefixes = [pack(n) for n in numbers]  # a ValueError naming the bad one
            if positions:
                self._lookup(txn, numbers, positions=positions, prefixes=prefixes,
                             ranked=ranked, now=now, out=out)
        if current is None and self._auto_reload:
            self._maybe_reload(gen, now)
        return out

    def _lookup(self, txn: lmdb.Transaction, numbers: Sequence[str], *, positions: list[int],
                prefixes: list[bytes], ranked: list[tuple[int, int, str]], now: float,
                out: list[Hit | None]) -> None:
        seen: set[int] = set()
        cur = txn.cursor(db=self._entries)
        decoded = self._decoded
        for _, _, scope in ranked:
            sid = self._lookup_id(txn, scope)
            if sid is None or sid in seen:
                continue
            seen.add(sid)
            suffix = _SCOPE_ID.pack(sid)
            keys = [p + suffix for p in prefixes]
            found = dict(cur.getmulti(keys))
            if not found:
                continue
            left_pos: list[int] = []
            left_pre: list[bytes] = []
            for i, p, k in zip(positions, prefixes, keys, strict=True):
                raw = found.get(k)
                if raw is not None:
                    value = decoded.get(raw)
                    if value is None:
                        if len(decoded) >= _DECODED_MAX:
                            decoded.clear()
                        value = decoded[raw] = tuple(msgpack.unpackb(raw))
                    reason, at, source, until = value
                    if until is None or until >= now:
                        out[i] = _new_entry(Entry, (numbers[i], scope, reason, source, at,
                                                    until))
                        continue
                left_pos.append(i)
                left_pre.append(p)
            if not left_pos:
                return
            positions, prefixes = left_pos, left_pre

    def _maybe_reload(self, gen: bytes, now: float) -> None:
        with self._lock:
            if gen != self._stale_gen:
                self._stale_gen, self._stale_since = gen, now
                return
            due = now - self._stale_since >= RELOAD_QUIET_S
        if due:
            self.reload()

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
            with begin_read(self._env) as txn:
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
        batch: int = IMPORT_BATCH,
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

        Speed: most lines of a big list are bare canonical numbers ("+33612345678"), and those
        never become Python objects. Each read chunk goes through the fast rule in one regex
        call (:class:`gateway.numbers.FastLines`) and then a C scan
        (:func:`gateway._core._e164scan.scan`) that puts the accepted ones into the batch as
        uint64 and stops at every other line, which is judged alone, in file order, exactly as
        before (header, BOM, blank, spelling, ``normalize`` and its reason). Each batch is radix
        sorted (cursor order), marked in the filter with its slots prefetched, and written by
        one ``putmulti`` of keys made in C; with the default ``IMPORT_BATCH`` 10 million
        numbers take 10 commits (about 15 s in all, half of it LMDB's writes; 56 s with the
        per-line loop). Every commit is synced as the environment says (py-lmdb cannot defer
        the sync of an open environment, and the store never turns it off).

        Interrupted imports: each batch commits on its own, so an import stopped half way
        (killed, crashed, disk full) leaves the batches committed before it, and never a
        corrupt store (LMDB commits are atomic; a process crash loses nothing committed).
        Re-run the same import: it is idempotent. A number already in the scope counts as a
        duplicate and keeps its first entry, so the second run adds exactly what the first
        did not, and the scope counts stay exact.
        """
        parse_scope(scope)
        reason = Reason(reason).value
        stamp = int(time.time() if at is None else at)
        value = _encode(reason, stamp, os.path.basename(os.fspath(path)) if source is None
                        else source, None)
        report = ImportReport()
        batch = max(batch, 1)
        # The batch's numbers as uint64 (8 bytes each, not a bytes object), ``count`` of them;
        # the array doubles up to ``batch`` as needed (a huge ``batch`` costs nothing upfront).
        pending = array("Q", bytes(8 * min(batch, _PENDING_START)))
        count = 0

        def room() -> None:
            """``pending`` is full, ``count`` below ``batch``: double it."""
            pending.frombytes(bytes(8 * min(len(pending), batch - len(pending))))

        line_no = 0
        first_content = True

        def flush() -> None:
            nonlocal count

            def fn(t: lmdb.Transaction, assigned: dict[str, int], hold: _Hold
                   ) -> tuple[int, int]:
                sid = self._assign_id(t, scope, assigned)
                n = count
                sort_numbers(pending, n)  # big-endian keys: number order is cursor order
                # Before the commit: every number in the filter (a superset), untagged unless
                # its tag is a permanent entry of this scope (which the import keeps as is).
                # Marked 1: not in the filter, which holds every number of the list this txn
                # sees (checked by _advance), so once committed its one entry is ``value``.
                marks = hold.filter.mark_numbers(pending, n, hold.tags.permanent_in(scope))
                result = self._put_one_value(t, pending, n, suffix=_SCOPE_ID.pack(sid),
                                             value=value, at=stamp, sid=sid)

                def done() -> None:  # before ``pending`` is refilled
                    tag = hold.tags.intern(((scope, value),))
                    if tag:
                        hold.filter.tag_numbers(pending, n, tag, marks)

                hold.done = done
                return result

            if count:
                new, dup = self._write(fn)
                report.imported += new
                report.duplicates += dup
                count = 0
            report.bytes_read = reader.bytes_read
            if progress is not None:
                progress(report)

        canonical = _CANONICAL_LINE.fullmatch

        def one(line: bytes | None) -> None:
            """Line ``line_no`` (None: too long), judged alone: every line the chunk scan
            did not accept."""
            nonlocal count, first_content
            if line is not None and canonical(line):
                text_s = line.decode("ascii").rstrip("\r")
                if fast_accepts(text_s, require_mobile):
                    fast.note(text_s)  # its calling code: accepted by the next chunks' scan
                    if count == len(pending):
                        room()
                    pending[count] = int(text_s)
                    count += 1
                    first_content = False
                    if count >= batch:
                        report.lines = line_no
                        flush()
                    return
            report.lines = line_no
            if line is None:
                self._invalid(report, line_no, "(line too long)", "too_long")
                return
            text = line.strip()
            if line_no == 1 and text.startswith(b"\xef\xbb\xbf"):  # UTF-8 BOM (Excel)
                text = text[3:].strip()
            if not text or text.startswith(b"#"):
                report.blank += 1
                return
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
                return
            first_content = False
            if count == len(pending):
                room()
            pending[count] = int(number)
            count += 1
            if count >= batch:
                flush()

        fast = FastLines(region=region, mobile=require_mobile)
        with open(path, "rb") as f:
            reader = _Blocks(f)
            for chunk, overlong in reader:
                block = chunk
                if overlong:  # the rest of a line too long to look at
                    line_no += 1
                    one(None)
                    block = block[block.index(b"\n") + 1 :]
                # Fast path: the lines the fast rule accepts, emptied by one regex pass over the
                # block; the scan takes those that are bare canonical numbers, in C, and stops
                # at every other line, which ``one`` judges as it comes.
                stripped = fast.strip(block)
                pos = spos = 0
                while pos < len(block):
                    if count == len(pending):
                        room()
                    pos, spos, count, lines, slow = scan(block, pos, stripped, spos, pending,
                                                         count)
                    if lines > (slow >= 0):  # numbers came first: no header after them
                        first_content = False
                    line_no += lines
                    if slow >= 0:
                        one(block[slow : pos - 1] if pos - 1 - slow <= MAX_LINE_BYTES else None)
                    elif count >= batch:
                        report.lines = line_no
                        flush()
            report.lines = line_no
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
        ``number,scope,reason,source,at,until``; returns the number of rows. The first column
        is what :meth:`import_csv` reads, so an export imports back as is."""
        if isinstance(path_or_file, (str, os.PathLike)):
            with open(path_or_file, "w", newline="", encoding="utf-8") as f:
                return self._export(f, scope)
        return self._export(path_or_file, scope)

    def _export(self, f: IO[str], scope: str | None) -> int:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(Entry._fields)
        rows = 0
        for e in self.iter_entries(scope):  # columns in the header's order
            writer.writerow((e.number, e.scope, e.reason, e.source, e.at,
                             "" if e.until is None else e.until))
            rows += 1
        return rows


class _Blocks:
    """A binary file's complete lines, ``READ_CHUNK`` bytes at a time: iterating yields
    ``(block, overlong)``, ``block`` being whole lines, each ending with ``\\n`` (a last line
    without one gets it), and ``overlong`` saying that the first of them is the end of a line
    over ``MAX_LINE_BYTES``, whose bytes were skipped, never kept. A longer line inside a block
    is the caller's to spot. ``bytes_read`` is the progress so far, for a progress bar."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.bytes_read = 0

    def __iter__(self) -> Iterator[tuple[bytes, bool]]:
        carry = b""
        overlong = False
        while True:
            chunk = self._f.read(READ_CHUNK)
            if not chunk:
                break
            self.bytes_read += len(chunk)
            end = chunk.rfind(b"\n") + 1
            if end:
                yield carry + chunk[:end], overlong
                carry, overlong = chunk[end:], False
            else:
                carry += chunk
            if len(carry) > MAX_LINE_BYTES:
                overlong = True
                carry = b""
        if carry or overlong:
            yield carry + b"\n", overlong
