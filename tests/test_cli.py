"""The ``count`` and ``selfcheck`` commands, run as a user runs them: a real process."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_count_prints_characters_capacity_parts_and_encoding():
    r = run("count", "Soldes -50% ce week-end ! STOP au 36184")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == "39/160 characters - 1 SMS (GSM-7)"


def test_count_multipart_shows_per_part_capacity_and_extension_cost():
    r = run("count", "€" + "a" * 160)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "162/306 characters - 2 SMS (GSM-7, 153 per part)"
    assert lines[1] == "Counted twice (GSM-7 extension table): €"


def test_count_explains_ucs2_and_what_transliteration_would_change():
    r = run("count", "Vos soldes d’été « jusqu’à -50% » … STOP au 36184")
    assert r.returncode == 0
    first, because, smart = r.stdout.splitlines()
    assert first == "49/70 characters - 1 SMS (UCS-2)"  # 49 BMP characters
    assert "U+2019" in because and "U+00AB" in because and "U+2026" in because
    assert smart.startswith("With transliteration (")
    assert "'’'->\"'\"" in smart and "'…'->'...'" in smart
    assert smart.endswith(": 51/160 characters - 1 SMS (GSM-7)")  # … is now 3 dots


def test_count_says_when_transliteration_cannot_avoid_ucs2():
    r = run("count", "Merci ! 😀 l’équipe")
    assert r.returncode == 0
    assert "would not avoid UCS-2" in r.stdout
    assert "U+1F600" in r.stdout.splitlines()[-1]


def test_count_reads_stdin_when_no_argument():
    r = run("count", stdin="Votre code : 482913\n")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == "19/160 characters - 1 SMS (GSM-7)"


def test_count_too_long_text_fails_with_the_limit():
    r = run("count", "a" * (255 * 153 + 1))
    assert r.returncode == 1
    assert "256 SMS" in r.stdout and "at most 255 parts" in r.stdout


def test_count_rejects_invalid_unicode_with_a_clear_error():
    # A lone surrogate reaches Python as surrogateescape from undecodable argv bytes.
    r = subprocess.run(
        [sys.executable, "-m", "gateway", "count", b"caf\xff".decode("utf-8", "surrogateescape")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert "lone surrogate" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [(), ("frobnicate",)])
def test_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2
    assert "usage:" in r.stderr


def test_selfcheck_passes_on_the_compiled_core():
    r = run("selfcheck")
    assert r.returncode == 0, r.stdout
    assert "FAIL" not in r.stdout
    assert "passed (compiled core" in r.stdout and ".so" in r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("optout",),
        ("optout", "add", "+33612345678"),  # --scope is required
        ("optout", "remove", "+33612345678", "--by", "me"),
        ("optout", "import", "f.csv"),
        ("optout", "list", "--limit", "many"),
        ("optout", "add", "+33612345678", "--scope", "global", "--reason", "whim"),
    ],
)
def test_optout_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2
    assert "usage:" in r.stderr


def test_optout_direct_commands_refuse_what_they_cannot_use(tmp_path):
    data = str(tmp_path / "data")
    r = run("optout", "import", str(tmp_path / "none.csv"), "--scope", "global", "--data-dir", data)
    assert r.returncode == 2 and "cannot read" in r.stderr
    (tmp_path / "f.csv").write_text("+33612345678\n")
    r = run("optout", "import", str(tmp_path / "f.csv"), "--scope", "chain", "--data-dir", data)
    assert r.returncode == 2 and "is not 'global'" in r.stderr
    r = run("optout", "import", str(tmp_path / "f.csv"), "--scope", "global", "--data-dir", data,
            "--batch", "0")
    assert r.returncode == 2 and "--batch" in r.stderr
    for command in (("list",), ("export", "-")):
        r = run("optout", *command, "--data-dir", str(tmp_path / "nowhere"))
        assert r.returncode == 2 and "no store in" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("add", "+33612345678", "--scope", "global"),
        ("remove", "+33612345678", "--scope", "global"),
        ("check", "+33612345678"),
    ],
)
def test_optout_client_commands_exit_3_without_a_daemon(tmp_path, args):
    r = run("optout", *args, "--socket", str(tmp_path / "none.sock"))
    assert r.returncode == 3
    assert r.stderr.startswith(f"gateway optout {args[0]}: cannot reach the gateway at ")


def test_optout_help_says_how_direct_writes_reach_a_running_daemon():
    r = run("optout", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "LMDB is safe for several processes" in text and "generation counter" in text
