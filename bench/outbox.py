"""Outbox micro benchmark: CPU per message of the write path, without sockets or trio.

Each write transaction holds what one daemon batch holds under load: new messages, the
submit_sm_resp results of earlier ones, and the receipts of earlier still (``--lag`` batches
behind), so the records updated are the writer's live cache, as in the daemon. The store is
opened as the daemon opens it (``sync=True``). Prints CPU microseconds per message for the
whole (apply + commit) and for ``apply`` alone, over ``--repeat`` runs (best of).

Run: ``.venv/bin/python bench/outbox.py [--messages 60000] [--batch 400]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from gateway import storage  # noqa: E402
from gateway.outbox import (  # noqa: E402
    Batch,
    NewMessage,
    Outbox,
    PartResult,
    ReceiptUpdate,
    opid_key,
)

TEXT = "Bonjour ! Votre commande n°{} est prête. STOP au 36184"


def new(outbox: Outbox, n: int, at: float) -> NewMessage:
    return NewMessage(
        id=outbox.allocate_ids(1),
        account="bench",
        to=f"+336{n % 100_000_000:08d}",
        sender="BOUTIQUE",
        text=TEXT.format(n),
        marketing=False,
        ref=None,
        priority=0,
        transliterate=False,
        accepted_at=at,
        send_after=None,
        expires_at=at + 172800,
        encoding="ucs2",
        parts=1,
        state="queued",
    )


def result(message_id: int, at: float) -> PartResult:
    opid = str(message_id + 1_000_000)
    return PartResult(
        id=message_id,
        part=0,
        accepted=True,
        operator="sim",
        at=at,
        message_id=opid,
        key=opid_key("sim", opid),
        status=0,
    )


def receipt(message_id: int, at: float) -> ReceiptUpdate:
    opid = str(message_id + 1_000_000)
    return ReceiptUpdate(
        key=opid_key("sim", opid),
        operator="sim",
        message_id=opid,
        stat="DELIVRD",
        err="000",
        final=True,
        delivered=True,
        at=at,
    )


def run(messages: int, batch_size: int, lag: int) -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix="gwoutbox", dir="/tmp"))
    try:
        env = storage.open_env(work / "data")
        outbox = Outbox(env)
        apply_cpu = 0.0
        original = outbox._apply

        def timed(txn, batch):
            nonlocal apply_cpu
            t = time.process_time()
            try:
                return original(txn, batch)
            finally:
                apply_cpu += time.process_time() - t

        outbox._apply = timed  # type: ignore[method-assign]
        batches: list[list[int]] = []
        at = 1_000_000.0
        started = time.process_time()
        for start in range(0, messages + 2 * lag * batch_size, batch_size):
            b = Batch()
            if start < messages:
                b.accept = [new(outbox, n, at) for n in range(start, start + batch_size)]
                batches.append([m.id for m in b.accept])
            k = len(batches) - 1 - lag
            if 0 <= k < len(batches):
                b.results = [result(i, at) for i in batches[k]] if k < len(batches) else []
            k2 = len(batches) - 1 - 2 * lag
            if 0 <= k2 < len(batches):
                b.receipts = [receipt(i, at) for i in batches[k2]]
            if start >= messages:
                k = (start - messages) // batch_size + len(batches) - lag
                b.results = [result(i, at) for i in batches[k]] if k < len(batches) else []
                k2 = k - lag
                b.receipts = [receipt(i, at) for i in batches[k2]] if 0 <= k2 < len(batches) else []
            if not len(b):
                continue
            outbox.write(b)
            outbox.committed(b)
            at += 0.01
        total = time.process_time() - started
        counts = outbox.counts()
        assert counts["pending"] == 0 and counts["orphan_receipts"] == 0, counts
        env.close()
        return total / messages * 1e6, apply_cpu / messages * 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=400)
    parser.add_argument("--lag", type=int, default=2, help="batches between the steps")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [run(args.messages, args.batch, args.lag) for _ in range(args.repeat)]
    total, apply = min(runs)
    print(
        f"outbox: {args.messages:,} messages in batches of {args.batch} (accept + result + "
        f"receipt each): {total:.1f} us CPU per message, of which apply {apply:.1f} us "
        f"(commit {total - apply:.1f} us)"
    )


if __name__ == "__main__":
    main()
