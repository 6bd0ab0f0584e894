"""The marketing frequency cap: how many marketing messages an account sent one number lately.

One row per accepted marketing message: ``account NUL number(8) time_ms(8) id(8)``, empty value, in
the ``freq`` database of the daemon's environment. Keys sort by account, number, then time, so
the count in a sliding window is one cursor range, and pruning old rows is a walk in key order
per prefix (done in bounded chunks by the daemon's pruner).

Counting runs in the caller's read transaction (intake checks a whole batch in one); recording
runs in the writer's transaction, with the message's acceptance, so a crash never counts a
message that was not accepted (nor forgets one that was).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import lmdb

from gateway.numbers import pack

_U64 = struct.Struct(">Q")


def _prefix(account: str, number: str) -> bytes:
    return account.encode() + b"\x00" + pack(number)


class FrequencyStore:
    def __init__(self, env: lmdb.Environment) -> None:
        self.env = env
        self._db = env.open_db(b"freq")

    def counts(
        self, txn: lmdb.Transaction, items: Sequence[tuple[str, str]], since: Sequence[float]
    ) -> list[int]:
        """For each (account, number), the messages recorded at or after its ``since``."""
        cursor = txn.cursor(self._db)
        out = []
        for (account, number), start in zip(items, since, strict=True):
            prefix = _prefix(account, number)
            n = 0
            if cursor.set_range(prefix + _U64.pack(max(0, int(start * 1000)))):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(prefix):
                        break
                    n += 1
            out.append(n)
        return out

    def record(self, txn: lmdb.Transaction, items: Iterable[tuple[str, str, float, int]]) -> None:
        """In the writer's transaction: one row per (account, number, accepted_at, message id)."""
        rows = [
            (_prefix(a, n) + _U64.pack(int(at * 1000)) + _U64.pack(i), b"")
            for a, n, at, i in items
        ]
        if rows:
            txn.cursor(self._db).putmulti(rows, dupdata=False, overwrite=True)

    def prune(self, txn: lmdb.Transaction, before: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` rows older than ``before``; returns how many went."""
        cutoff = int(before * 1000)
        cursor = txn.cursor(self._db)
        removed = 0
        found = cursor.first()
        while found and removed < limit:
            key = cursor.key()
            if _U64.unpack(key[-16:-8])[0] < cutoff:
                found = cursor.delete()
                removed += 1
                continue
            # the rest of this (account, number) is younger: jump to the next prefix
            found = cursor.set_range(key[:-16] + b"\xff" * 16)
        return removed


__all__ = ["FrequencyStore"]
