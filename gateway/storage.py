"""The LMDB environment: opening it, growing it, and the one write path every store uses.

One environment under ``data_dir`` holds every database (messages, their indexes, the event log,
the opt-out list), so a batch that accepts messages and writes their events commits or fails as
one. Writes are durable before they are acknowledged: ``sync=True`` and ``metasync=True`` (the
LMDB defaults), never the ``sync=False`` a cache would use (house style §7).

The map is address space, not disk: it starts at the configured size and doubles when a write
hits ``MapFullError`` (py-lmdb's documented recipe: only with no write transaction open, which
holds here because every write goes through :func:`write` from one thread at a time). A disk
that is really full is :class:`StoreFull`, which the daemon turns into a ``store_full`` error for
the submitter instead of a crash.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import lmdb

T = TypeVar("T")

#: Named databases the environment may hold: the outbox's and the opt-out list's, with room.
MAX_DBS = 32

#: Largest map we grow to (1 TiB of address space on 64-bit, as dask/zict uses).
MAX_MAP_SIZE = 1 << 40

#: LMDB's own "disk full" surfaces as one of these.
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class StoreFull(Exception):
    """The disk (or the configured largest map) has no room left for this write."""


class StoreError(Exception):
    """The store cannot be opened or used (permissions, corrupt file, lock held elsewhere)."""


def open_env(
    path: str | os.PathLike[str], *, map_size: int = 1 << 30, readonly: bool = False
) -> lmdb.Environment:
    """Open (creating it if needed) the environment in directory ``path``."""
    directory = Path(path)
    try:
        if not readonly:
            directory.mkdir(parents=True, exist_ok=True)
        return lmdb.open(
            str(directory),
            map_size=map_size,
            max_dbs=MAX_DBS,
            subdir=True,
            readonly=readonly,
            sync=True,
            metasync=True,
            # Readers and the one writer thread; no thread-local read txns.
            lock=True,
            max_readers=256,
        )
    except lmdb.Error as exc:
        raise StoreError(f"cannot open the store in {directory}: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"cannot open the store in {directory}: {exc.strerror}") from exc


def write(env: lmdb.Environment, fn: Callable[[lmdb.Transaction], T]) -> T:
    """Run ``fn`` in one write transaction and commit it, growing the map as often as needed.

    ``fn`` may run more than once (after a ``MapFullError`` the aborted transaction is retried on
    a larger map), so it must compute its result from the transaction alone.
    """
    while True:
        try:
            with env.begin(write=True) as txn:
                return fn(txn)
        except lmdb.MapResizedError:
            # Another process (a CLI import) grew the map: adopt its size and go again. No
            # transaction of ours is open here (every write goes through this function).
            env.set_mapsize(0)
        except lmdb.MapFullError:
            size = env.info()["map_size"]
            if size >= MAX_MAP_SIZE:
                raise StoreFull(f"the store reached its largest size ({size} bytes)") from None
            env.set_mapsize(min(size * 2, MAX_MAP_SIZE))
        except lmdb.DiskError as exc:
            raise StoreFull(f"no room left on the disk for the store: {exc}") from exc
        except OSError as exc:
            if exc.errno in _DISK_FULL_ERRNOS:
                raise StoreFull(f"no room left on the disk for the store: {exc.strerror}") from exc
            raise
        except lmdb.Error as exc:
            if any(str(code) in str(exc) for code in _DISK_FULL_ERRNOS) or "space" in str(exc):
                raise StoreFull(f"no room left on the disk for the store: {exc}") from exc
            raise


def begin_read(env: lmdb.Environment) -> lmdb.Transaction:
    """A read transaction, after adopting a map another process grew (a CLI import): LMDB then
    refuses new transactions until the map is re-read. Callers open read transactions only
    with none of theirs open (short reads on the event loop's thread), which set_mapsize needs."""
    try:
        return env.begin()
    except lmdb.MapResizedError:
        env.set_mapsize(0)
        return env.begin()


def used_bytes(env: lmdb.Environment) -> int:
    """Bytes the data occupies (pages in use), for the store-size metric."""
    info = env.info()
    return (info["last_pgno"] + 1) * env.stat()["psize"]


__all__ = ["MAX_DBS", "StoreError", "StoreFull", "begin_read", "open_env", "used_bytes", "write"]
