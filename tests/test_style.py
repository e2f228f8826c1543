"""The linter: `ruff check`, with the rules of pyproject.toml's [tool.ruff], finds nothing in the code, the
tests or the scripts (the formatter is not used: the code keeps its hand-made layout)."""
import os
import subprocess
import sys

from conftest import PROJECT_DIR


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *args],
                          cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    r = ruff(".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_reports_what_its_rules_forbid(tmp_path):
    """The rules are in force: an unused import, a private attribute of another object (what a library's
    upgrade breaks, as prometheus-client's `_buckets` would), an exception re-raised without its cause."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f(histogram):\n    return histogram._buckets\n\n\n"
                   "def g(text):\n    try:\n        return int(text)\n    except ValueError:\n"
                   "        raise LookupError(text)\n")
    r = ruff("--config", os.path.join(PROJECT_DIR, "pyproject.toml"), str(bad))
    assert r.returncode == 1
    assert {"F401", "SLF001", "B904"} <= {word for line in r.stdout.splitlines() for word in line.split()}, r.stdout
