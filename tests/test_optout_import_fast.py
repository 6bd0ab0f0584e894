"""The bulk import's fast path against the per-line path it replaced.

``OptoutStore.import_csv`` scans each read chunk in C (``gateway._core._e164scan``) next to the
chunk with its accepted lines emptied by one regex call (``gateway.numbers.FastLines``), and
judges only the other lines one by one. The reference here is the import as it was before: a
line-by-line loop (``_reference_import``, copied from it), writing through the same store
methods. Both import the same random files (valid, invalid, non-mobile, other countries,
headers, BOM, blank and comment lines, national spellings, overlong lines, CRLF, no final
newline), with tiny read chunks and batches too, and must leave the same reports, progress
calls, entries, counts and filter tags.
"""

import dataclasses
import os
import random
import re
import struct
import time
from array import array

import phonenumbers
import pytest

import gateway.optout.store as S
from gateway import numbers
from gateway._core import NumberSet
from gateway._core._e164scan import PackedItems, scan, sort_numbers
from gateway.numbers import FastLines, InvalidNumber, fast_accepts, normalize
from gateway.optout.store import ImportReport, OptoutStore, Reason, open_env

_CANONICAL = re.compile(rb"\+[1-9][0-9]{1,14}\r?")


# ---- the reference: the per-line import loop as it was -------------------------------------

class _Lines:
    """The old line reader (``READ_CHUNK`` and ``MAX_LINE_BYTES`` read from the store module,
    so that a test can shrink them for both paths)."""

    def __init__(self, f):
        self._f = f
        self.bytes_read = 0
        self.line_count = 0

    def __iter__(self):
        line_no = 0
        carry = b""
        overlong = False
        while True:
            chunk = self._f.read(S.READ_CHUNK)
            if not chunk:
                break
            self.bytes_read += len(chunk)
            parts = chunk.split(b"\n")
            parts[0] = carry + parts[0]
            carry = parts.pop()
            for part in parts:
                line_no += 1
                if overlong or len(part) > S.MAX_LINE_BYTES:
                    overlong = False
                    yield line_no, None
                else:
                    yield line_no, part
            if len(carry) > S.MAX_LINE_BYTES:
                overlong = True
                carry = b""
        self.line_count = line_no
        if carry or overlong:
            self.line_count = line_no + 1
            yield line_no + 1, None if overlong else carry


def _reference_import(self, path, scope, reason=Reason.IMPORT, source=None, *, region="FR",
                      require_mobile=True, at=None, batch=S.IMPORT_BATCH, progress=None):
    S.parse_scope(scope)
    reason = Reason(reason).value
    stamp = int(time.time() if at is None else at)
    value = S._encode(reason, stamp, os.path.basename(os.fspath(path)) if source is None
                      else source, None)
    report = ImportReport()
    pending = []

    def flush():
        def fn(t, assigned, hold):
            sid = self._assign_id(t, scope, assigned)
            suffix = S._SCOPE_ID.pack(sid)
            pending.sort()
            marks = hold.filter.mark_keys(pending, hold.tags.permanent_in(scope))
            # The same LMDB write as the real import (its arguments are now uint64 numbers).
            sorted_numbers = array("Q", [int.from_bytes(p, "big") for p in pending])
            result = self._put_one_value(t, sorted_numbers, len(pending), suffix=suffix,
                                         value=value, at=stamp, sid=sid)

            def done():
                tag = hold.tags.intern(((scope, value),))
                if tag:
                    hold.filter.tag_keys(pending, tag, marks)

            hold.done = done
            return result

        if pending:
            new, dup = self._write(fn)
            report.imported += new
            report.duplicates += dup
            pending.clear()
        report.bytes_read = lines.bytes_read
        if progress is not None:
            progress(report)

    first_content = True
    canonical = S._CANONICAL_LINE.fullmatch
    with open(path, "rb") as f:
        lines = _Lines(f)
        for line_no, line in lines:
            if line is not None and canonical(line):
                text_s = line.decode("ascii").rstrip("\r")
                if fast_accepts(text_s, require_mobile):
                    pending.append(S._U64.pack(int(text_s)))
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
            if line_no == 1 and text.startswith(b"\xef\xbb\xbf"):
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
                if first_content and raw.casefold().startswith(S._HEADER_WORDS):
                    report.header = True
                else:
                    self._invalid(report, line_no, raw, exc.reason)
                first_content = False
                continue
            first_content = False
            pending.append(S._U64.pack(int(number)))
            if len(pending) >= batch:
                flush()
        report.lines = lines.line_count
        flush()
    return report


# ---- random files ---------------------------------------------------------------------------

def _examples():
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):
            ex = phonenumbers.example_number_for_type(region, kind)
            if ex is not None:
                out.append(phonenumbers.format_number(ex, phonenumbers.PhoneNumberFormat.E164))
    return out


EXAMPLES = _examples()


def _digits(rng, n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def _number(rng):
    """A canonical candidate: mostly French mobiles, then other countries' numbers near their
    examples (valid or not), random digits."""
    r = rng.random()
    if r < 0.5:
        return f"+33{rng.choice('67')}{_digits(rng, 8)}"
    if r < 0.8:
        e = rng.choice(EXAMPLES)
        i = rng.randrange(4, len(e))
        return e[:i] + _digits(rng, len(e) - i + rng.choice((0, 0, 0, -1, 1)))
    return f"+{rng.randrange(1, 10)}{_digits(rng, rng.randrange(1, 16))}"


def _line(rng, seen):
    r = rng.random()
    if r < 0.55:
        n = rng.choice(seen) if seen and rng.random() < 0.1 else _number(rng)
        seen.append(n)
        return n.encode() + (b"\r" if rng.random() < 0.1 else b"")
    return rng.choice([
        b"", b"   ", b"\r", b"# a comment", b"#", b"06 12 34 56 78", b"0612345678",
        b'"0033 7 81 23 45 67",x', b"+33 6 12 34 56 78", b"+33612345678 ", b" +33612345678",
        b"+33612345678\r\r", b"++33612345678", b"+033612345678", b"+33612345678;foo",
        b"+33612345678,account,import", b"\t+33612345678", b"hello", b"\x00\xff garbage",
        b"01 23 45 67 89", b"+12025550123", b"+447911123456", b"0044 7911 123456",
        b"+3361234567812345678", b"+", b"+3", b"number", b"MSISDN;scope", b"\xef\xbb\xbfphone",
        b"x" * rng.choice((60, 1100, 3000)), (b"+33612345678" * 200)[: rng.choice((39, 41))],
        b"\xe9\xe8", b"+33 6 12 34 56 78 ext. 5", "+33\u00a0612345678".encode(),
    ])


def _file(rng, path, n):
    seen = []
    lines = [_line(rng, seen) for _ in range(n)]
    if rng.random() < 0.3:
        lines.insert(0, rng.choice([b"number", b"msisdn,scope", b"Telephone", b"#"]))
    if rng.random() < 0.3:
        lines[0] = b"\xef\xbb\xbf" + lines[0]
    data = b"\n".join(lines)
    if rng.random() < 0.5:
        data += b"\n"
    path.write_bytes(data)


# ---- comparing two stores -------------------------------------------------------------------

def _state(store, env):
    with env.begin() as txn:
        entries = list(txn.cursor(db=store._entries))
        meta = [(k, v) for k, v in txn.cursor(db=store._meta) if k != S._M_GENERATION]
    tags = sorted(store._filter.items())
    table = [tuple(t) for t in store._tags.entries]
    return entries, meta, tags, table


def _import_both(tmp_path, path, imports, **kw):
    """Each of ``imports`` (scope, kwargs) run on a store with the reference and on one with
    the real import; returns both (reports, progress snapshots, final state)."""
    out = []
    for name, run in (("ref", _reference_import), ("new", OptoutStore.import_csv)):
        env = open_env(tmp_path / name, map_size=1 << 26, sync=False)  # commits: many
        try:
            store = OptoutStore(env)
            reports, seen = [], []

            def snapshot(r, seen=seen):
                seen.append(dataclasses.replace(r, invalid=list(r.invalid)))

            for scope, extra in imports:
                reports.append(run(store, path, scope, "import", "f", at=100,
                                   progress=snapshot, **{**kw, **extra}))
            out.append((reports, seen, _state(store, env)))
        finally:
            env.close()
    return out


@pytest.mark.parametrize("seed", range(12))
def test_import_matches_the_per_line_path(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    if seed % 3:
        monkeypatch.setattr(S, "READ_CHUNK", rng.choice((7, 64, 331)))
    if seed % 4 == 1:
        monkeypatch.setattr(S, "MAX_LINE_BYTES", rng.choice((16, 40)))
    path = tmp_path / "in.csv"
    _file(rng, path, rng.choice((0, 1, 30, 400, 1500)))
    batch = rng.choice((1, 2, 3, 50, 100_000))
    region = rng.choice(("FR", "FR", "DE", "US", "ZZ"))
    mobile = rng.random() < 0.75
    # The same file twice (idempotent: all duplicates), then into a second scope.
    imports = [("global", {}), ("global", {}), ("account:a", {"batch": 7})]
    ref, new = _import_both(tmp_path, path, imports[: rng.choice((1, 3))], batch=batch,
                            region=region, require_mobile=mobile)
    assert new[0] == ref[0]  # reports
    assert new[1] == ref[1]  # progress: same batches, at the same lines and bytes
    assert new[2] == ref[2]  # entries, counts, filter tags, tag table


@pytest.mark.parametrize("batch", [10_000, 10**12])
def test_import_matches_on_a_big_mixed_file(tmp_path, batch):
    """Past the batch array's first size (65,536), and with a batch far too big to allocate
    upfront (one transaction)."""
    rng = random.Random(99)
    path = tmp_path / "big.csv"
    lines = []
    for i in range(70_000):
        if i % 500 == 7:
            lines.append(_line(rng, []))
        elif i % 10:
            lines.append(f"+33{rng.choice('67')}{_digits(rng, 8)}".encode())
        else:
            lines.append(_number(rng).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    ref, new = _import_both(tmp_path, path, [("global", {})], batch=batch)
    assert new == ref
    assert new[0][0].imported > 30_000


# ---- FastLines: the chunk rule is fast_accepts -----------------------------------------------

def _candidates(rng):
    out = []
    for e in EXAMPLES:
        out.append(e)
        for _ in range(4):
            i = rng.randrange(2, len(e))
            out.append(e[:i] + _digits(rng, len(e) - i + rng.choice((0, 0, -1, 1))))
        out += [e[:-1], e + "5", e[:4] + "0" + e[5:]]
    out += [_number(rng) for _ in range(3000)]
    return [c for c in out if re.fullmatch(r"\+[1-9][0-9]{1,14}", c)]


@pytest.mark.parametrize("mobile", [True, False])
def test_fast_lines_empty_exactly_what_fast_accepts_accepts(mobile):
    rng = random.Random(3)
    candidates = _candidates(rng)
    fast = FastLines(region="FR", mobile=mobile)
    for c in candidates:  # every calling code there is
        fast.note(c)
    lines = [c.encode() + (b"\r" if rng.random() < 0.3 else b"") for c in candidates]
    stripped = fast.strip(b"\n".join(lines) + b"\n").split(b"\n")[:-1]
    assert len(stripped) == len(lines)
    accepted = 0
    for c, line, rest in zip(candidates, lines, stripped, strict=True):
        assert (rest == b"") == fast_accepts(c, mobile), (c, line, rest)
        accepted += rest == b""
    assert accepted > 1000


def test_fast_lines_learn_calling_codes():
    de = "+4915123456789"
    assert fast_accepts(de)
    fast = FastLines(region="FR")
    chunk = b"+33612345678\n" + de.encode() + b"\n"
    assert fast.strip(chunk) == b"\n" + de.encode() + b"\n"  # +49 is not asked for yet
    fast.note(de)
    assert fast.strip(chunk) == b"\n\n"
    # A code without a fast rule (+1: shared by many regions) is never taken.
    us = FastLines(region="US")
    us.note("+12025550123")
    assert us.strip(b"+12025550123\n") is None


def test_fast_lines_take_every_code_once_many_were_seen():
    fast = FastLines(region="FR")
    for e in EXAMPLES:
        if fast_accepts(e) and not e.startswith(("+33", "+49")):
            fast.note(e)
    assert fast.strip(b"+4915123456789\n") == b"\n"  # never noted itself


def test_fast_lines_never_eat_a_newline():
    fast = FastLines(region="FR")
    chunk = b"+33612345678\r\n\n+33612345678+33612345678\n+33 612345678\nx+33612345678\n"
    stripped = fast.strip(chunk)
    assert stripped.count(b"\n") == chunk.count(b"\n")
    assert stripped.split(b"\n")[0] == b""


def _old_desc_regex(desc):
    pattern = getattr(desc, "national_number_pattern", None)
    if desc is None or not pattern:
        return None
    lengths = [n for n in (desc.possible_length or ()) if n > 0]
    length = f"(?=(?:{'|'.join(rf'[0-9]{{{n}}}' for n in lengths)})\\Z)" if lengths else ""
    return f"{length}(?:{pattern})\\Z"


def _old_regexes(metadata):
    """``_compile_mobile`` and ``_compile_valid`` as they were: length check first, in every
    desc."""
    general = _old_desc_regex(metadata.general_desc)
    if general is None:
        return None, None
    parts = [f"(?={general})"]
    for name in ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                 "pager", "uan", "voicemail"):
        rx = _old_desc_regex(getattr(metadata, name))
        if rx is not None:
            parts.append(f"(?!{rx})")
    final = _old_desc_regex(
        metadata.fixed_line if metadata.same_mobile_and_fixed_line_pattern else metadata.mobile)
    mobile = None if final is None else re.compile("".join(parts) + f"(?={final})")
    types = [_old_desc_regex(getattr(metadata, name)) for name in (
        "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
        "voicemail", "fixed_line", "mobile")]
    alternatives = "|".join(f"(?={rx})" for rx in types if rx is not None)
    valid = re.compile(f"(?={general})(?:{alternatives})") if alternatives else None
    return mobile, valid


def test_fast_regexes_decide_as_the_length_first_ones():
    rng = random.Random(11)
    numbers.fast_accepts("+33612345678")  # builds the table
    by_code = {}
    for c in _candidates(rng):
        by_code.setdefault(c[1:4], []).append(c)
    compared = 0
    for cc, regions in numbers.COUNTRY_CODE_TO_REGION_CODE.items():
        code = str(cc)
        mine = numbers._FAST[code]
        if mine == (None, None):
            continue
        old = _old_regexes(phonenumbers.PhoneMetadata.metadata_for_region(regions[0], None))
        nsns = {c[1 + len(code):] for head, cs in by_code.items() if head.startswith(code)
                for c in cs if c[1:].startswith(code)}
        nsns |= {_digits(rng, rng.randrange(2, 13)) for _ in range(50)}
        for new_rx, old_rx in zip(mine, old, strict=True):
            assert (new_rx is None) == (old_rx is None), code
            if new_rx is None:
                continue
            for nsn in nsns:
                assert bool(new_rx.match(nsn)) == bool(old_rx.match(nsn)), (code, nsn)
                compared += 1
    assert compared > 20_000


# ---- the C side ------------------------------------------------------------------------------

def test_scan_takes_canonical_emptied_lines_and_stops_at_the_others():
    data = b"+33612345678\n+3361234567x\n\n+33612345679\r\n+1\n"
    stripped = b"\n+3361234567x\n\n\n\n"  # "+1" emptied but not canonical (one digit)
    out = array("Q", bytes(8 * 4))
    assert scan(data, 0, stripped, 0, out, 0) == (26, 14, 1, 2, 13)
    assert out[0] == 33612345678
    assert scan(data, 26, stripped, 14, out, 1) == (27, 15, 1, 1, 26)
    assert scan(data, 27, stripped, 15, out, 1) == (44, 17, 2, 2, 41)
    assert out[1] == 33612345679
    assert scan(data, 44, stripped, 17, out, 2) == (44, 17, 2, 0, -1)
    # Stops once ``out`` is full, after the line that filled it.
    full = array("Q", bytes(8))
    assert scan(b"+33612345678\n+33612345678\n", 0, b"\n\n", 0, full, 0) == (13, 1, 1, 1, -1)
    # Without a stripped chunk, nothing is accepted.
    assert scan(data, 0, None, 0, out, 0) == (13, 0, 0, 1, 0)
    for bad in ((b"+33612345678", b"", 0), (b"+33612345678\n", b"", 0), (data, stripped, 4)):
        with pytest.raises(ValueError):
            scan(bad[0], 0, bad[1], 0, out, bad[2])


def test_scan_canonical_is_the_store_rule():
    rng = random.Random(4)
    for _ in range(5000):
        line = bytes(rng.choice(b"+0123456789\r ") for _ in range(rng.randrange(0, 19)))
        if rng.random() < 0.5:
            line = b"+" + line
        out = array("Q", [0])
        got = scan(line + b"\n", 0, b"\n", 0, out, 0)
        if _CANONICAL.fullmatch(line):
            assert got == (len(line) + 1, 1, 1, 1, -1) and out[0] == int(line.rstrip(b"\r")[1:])
        else:
            assert got[-1] == 0, line


@pytest.mark.parametrize("n", [0, 1, 2, 3, 1000, 70_000])
def test_sort_numbers_and_packed_items(n):
    rng = random.Random(n)
    values = [rng.choice((rng.randrange(10, 10**15), rng.randrange(10, 1000), 2**64 - 1))
              for _ in range(n)]
    a = array("Q", [*values, 7, 5])
    sort_numbers(a, n)
    assert list(a) == [*sorted(values), 7, 5]
    keys = [struct.pack(">QI", v, 2) for v in sorted(values)]
    assert list(PackedItems(a, n, b"\x00\x00\x00\x02")) == keys
    assert list(PackedItems(a, n, b"\x00\x00\x00\x02", b"v")) == [(k, b"v") for k in keys]
    with pytest.raises(ValueError):
        PackedItems(a, n + 3, b"")
    with pytest.raises(ValueError):
        sort_numbers(a, n + 3)


def test_mark_and_tag_numbers_do_what_mark_and_tag_keys_do():
    rng = random.Random(8)
    base = [rng.randrange(10, 10**15) for _ in range(5000)]
    one, two = NumberSet(), NumberSet()
    for s in (one, two):
        s.add_all(base[:3000])
        for i, n in enumerate(base[:3000]):
            s.set_tag(n, i % 4)
    batch = [rng.choice(base) for _ in range(4000)] + base[4000:]
    rng.shuffle(batch)
    keep = bytes([0, 1, 0, 1])
    marks = one.mark_keys([struct.pack(">Q", n) for n in batch], keep)
    arr = array("Q", [*batch, 0, 0])
    assert two.mark_numbers(arr, len(batch), keep) == marks
    assert sorted(one.items()) == sorted(two.items())
    assert one.tag_keys([struct.pack(">Q", n) for n in batch], 9, marks) \
        == two.tag_numbers(arr, len(batch), 9, marks)
    assert sorted(one.items()) == sorted(two.items())
    assert one.tag_keys([struct.pack(">Q", n) for n in batch], 3) \
        == two.tag_numbers(arr, len(batch), 3)
    assert sorted(one.items()) == sorted(two.items())
    with pytest.raises(ValueError):
        two.mark_numbers(array("Q", [5]), 1)
    with pytest.raises(ValueError):
        two.tag_numbers(arr, len(batch), 1, marks[:-1])
    assert NumberSet().tag_numbers(arr, 3, 1) == 0


def test_reference_is_what_import_used_to_be(tmp_path):
    """The reference really is the old path: the example of test_optout_store."""
    env = open_env(tmp_path / "db", map_size=1 << 24)
    path = tmp_path / "l.csv"
    path.write_bytes(b"number\n+33612345678\n\n06 12 34 56 78\nhello\n+33612345679\r")
    report = _reference_import(OptoutStore(env), path, "global", batch=1)
    assert (report.lines, report.imported, report.duplicates, report.header, report.blank) \
        == (6, 2, 1, True, 1)
    assert report.invalid == [(5, "hello", "not_a_number")]
    env.close()
