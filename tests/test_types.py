"""mypy over termsvc/ as pyproject.toml configures it: the whole package at the default level, the
modules listed there strictly. Its cache is kept under .venv, so a run after the first takes seconds."""
import os
import subprocess
import sys

from conftest import PROJECT_DIR


def test_mypy_finds_no_error():
    cache = os.path.join(PROJECT_DIR, ".venv", ".mypy_cache")
    run = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", cache, "--no-error-summary"],
                         cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
