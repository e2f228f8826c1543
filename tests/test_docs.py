"""The documentation: a short README that points into docs/, a MkDocs site that builds with --strict (no
broken link, no page left out of the navigation), and reference pages generated from the code."""
import os
import shutil
import subprocess
import sys

from conftest import PROJECT_DIR


def test_the_readme_is_short_and_points_into_the_docs():
    with open(os.path.join(PROJECT_DIR, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert len(readme.splitlines()) <= 150
    assert "scripts/serve.sh" in readme and "scripts/test.sh" in readme
    pages = sorted(f for f in os.listdir(os.path.join(PROJECT_DIR, "docs")) if f.endswith(".md") and f != "index.md")
    missing = [p for p in pages if f"(docs/{p})" not in readme]
    assert not missing, f"README.md does not link to {missing}"


def test_the_docs_site_builds_strictly(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=PROJECT_DIR, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "site" / "mappings" / "index.html").exists()


def gen_docs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(PROJECT_DIR, "scripts", "gen_docs.py"), *args],
                          cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)


def test_the_reference_pages_are_what_the_code_says():
    """docs/reference/cli.md (every command's --help) and the settings table of docs/configuration.md are
    generated from the code: the committed pages are what scripts/gen_docs.py makes of it now."""
    r = gen_docs("--check")
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(PROJECT_DIR, "docs", "reference", "cli.md"), encoding="utf-8") as f:
        reference = f.read()
    assert "## `termsvc mappings suggest`" in reference and "Usage: termsvc serve [OPTIONS]" in reference


def test_the_check_finds_a_page_that_drifted(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(os.path.join(PROJECT_DIR, "docs"), docs)
    reference, configuration = docs / "reference" / "cli.md", docs / "configuration.md"
    reference.write_text(reference.read_text().replace("--quiet", "--silent"))
    configuration.write_text(configuration.read_text().replace("| 20,000 |", "| 10,000 |"))
    r = gen_docs("--check", "--docs", str(docs))
    assert r.returncode == 1 and "cli.md" in r.stdout and "configuration.md" in r.stdout, r.stdout
    assert gen_docs("--docs", str(docs)).returncode == 0            # rewritten
    assert gen_docs("--check", "--docs", str(docs)).returncode == 0
    for page in ("reference/cli.md", "configuration.md"):
        assert (docs / page).read_text() == open(os.path.join(PROJECT_DIR, "docs", page), encoding="utf-8").read()
