"""The layer rules of the house style, checked on the source (as asyncpg runs its linters as tests).

L0 ``gateway/_core`` is compiled and imports only the standard library and itself. The sans-IO
layer (the codec, SMPP PDUs and session, the socket API's framing) imports no I/O or
observability library: it returns events and bytes, and the adapters that do I/O log and count.
Only storage modules import lmdb.
"""

import ast
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PKG = ROOT / "gateway"
IO_LIBS = {"trio", "lmdb", "structlog", "prometheus_client", "socket", "asyncio", "threading"}
SANS_IO = [
    "gateway/codec.py",
    "gateway/smpp/pdu.py",
    "gateway/smpp/codec.py",
    "gateway/smpp/events.py",
    "gateway/smpp/errors.py",
    "gateway/smpp/session.py",
    "gateway/smpp/receipts.py",
    "gateway/smpp/reassembly.py",
    "gateway/api/protocol.py",
]
LMDB_ALLOWED = {"gateway/storage.py", "gateway/outbox.py", "gateway/receipts.py"}
LMDB_ALLOWED_DIRS = {"gateway/optout"}


def imported_roots(path: Path) -> set[str]:
    """Top-level module names a .py/.pyx/.pxd file imports (cimports included)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        roots = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                roots.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
        return roots
    pattern = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))", re.M)
    return {(m.group(1) or m.group(2)).split(".")[0] for m in pattern.finditer(text)}


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


CORE_FILES = sorted(
    p for ext in ("*.py", "*.pyx", "*.pxd") for p in (PKG / "_core").glob(ext)
)


@pytest.mark.parametrize("path", CORE_FILES, ids=rel)
def test_core_imports_only_stdlib_cython_and_itself(path):
    allowed = set(sys.stdlib_module_names) | {"cython", "cpython", "libc", "gateway", "__future__"}
    extra = imported_roots(path) - allowed
    assert not extra, f"{rel(path)} imports {sorted(extra)}"
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"\s*(from|import)\s+gateway\.", line):
            assert "gateway._core" in line, f"{rel(path)} reaches above L0: {line.strip()}"


def test_core_sources_exist():
    assert len(CORE_FILES) >= 4, CORE_FILES


@pytest.mark.parametrize("name", SANS_IO)
def test_sans_io_modules_do_no_io(name):
    path = ROOT / name
    if not path.exists():
        pytest.skip(f"{name} does not exist yet")
    bad = imported_roots(path) & IO_LIBS
    assert not bad, f"{name} is sans-IO but imports {sorted(bad)}"


def test_only_storage_modules_import_lmdb():
    offenders = [
        rel(p)
        for p in PKG.rglob("*.py")
        if "lmdb" in imported_roots(p)
        and rel(p) not in LMDB_ALLOWED
        and not any(rel(p).startswith(d + "/") for d in LMDB_ALLOWED_DIRS)
    ]
    assert offenders == []


def test_generated_files_are_not_tracked():
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files", "gateway/_core"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    assert not [f for f in tracked if f.endswith((".c", ".so", ".html"))]
