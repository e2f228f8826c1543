"""The documentation: a short README that points into docs/, and a MkDocs site that builds with
--strict (no broken link, no page left out of the navigation)."""
import os
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
