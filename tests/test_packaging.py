"""The package as users install it: every package listed, the content shipped inside the wheel,
and a wheel installed into a fresh virtual environment builds the default content from any
directory (no source tree)."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib

import pytest

from conftest import PROJECT_DIR, require_packages
from termsvc import settings


def pyproject() -> dict:
    with open(os.path.join(PROJECT_DIR, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_every_package_is_listed_and_the_content_folders_are_mapped():
    tool = pyproject()["tool"]["setuptools"]
    found = sorted(os.path.relpath(d, PROJECT_DIR).replace(os.sep, ".")
                   for d, _, files in os.walk(os.path.join(PROJECT_DIR, "termsvc")) if "__init__.py" in files)
    content = dict(tool["package-dir"])
    assert content == {"termsvc.content.valuesets": "valuesets", "termsvc.content.mappings_csv": "mappings_csv"}
    assert sorted(tool["packages"]) == sorted(found + list(content))


def project_files_copy(to):
    """The project's files (tracked or not, but not ignored) copied to `to`: setuptools builds in the tree
    it is given, and a build/ folder left in a working tree by an earlier build would put deleted modules
    into the wheel."""
    listed = subprocess.run(["git", "-C", PROJECT_DIR, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = os.path.join(PROJECT_DIR, name)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(to, name)), exist_ok=True)
            shutil.copy2(source, os.path.join(to, name))
    return to


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this tree, installed into a fresh venv: its python and termsvc. The venv
    borrows the dependencies of the test environment (a .pth file) instead of downloading them."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = project_files_copy(tmp / "source")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").iterdir()
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(site, "test-dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True)
    return python, str(venv / "bin" / "termsvc"), wheel


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not any(k == s.env for s in settings.SETTINGS)
            or k == "FHIR_PACKAGE_CACHE"}


def test_the_wheel_holds_the_content(installed):
    import zipfile
    names = zipfile.ZipFile(installed[2]).namelist()
    shipped = {os.path.relpath(os.path.join(d, f), PROJECT_DIR).replace(os.sep, "/")
               for top in ("valuesets", "mappings_csv")
               for d, _, files in os.walk(os.path.join(PROJECT_DIR, top)) for f in files
               if not f.endswith((".py", ".pyc"))}
    assert {f"termsvc/content/{n}" for n in shipped} <= set(names)
    templates = {f"termsvc/templates/{f}" for f in os.listdir(os.path.join(PROJECT_DIR, "termsvc", "templates"))
                 if f.endswith((".html", ".css"))}
    assert templates and templates <= set(names)


def test_an_installed_wheel_builds_the_default_content_from_any_directory(installed, tmp_path):
    require_packages()
    python, termsvc_bin, _ = installed
    where = subprocess.run([python, "-c", "import termsvc; print(termsvc.__file__)"], check=True,
                           capture_output=True, text=True, cwd=tmp_path).stdout
    assert not where.startswith(PROJECT_DIR)   # the installed package, not the source tree
    env = {**clean_env(), "TERMSVC_CONFIG": ""}
    r = subprocess.run([termsvc_bin, "build", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    db = tmp_path / "data" / "termsvc.db"   # an installed termsvc's default: data/ in the current folder
    r = subprocess.run([termsvc_bin, "info", "--json", "--db", str(db)], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    sources = {s["name"]: s for s in json.loads(r.stdout)["sources"]}
    ig = sources["hl7.fhir.eu.imaging-r5"]
    assert ig["counts"]["ValueSet"] == 9 and "site-packages" in ig["location"]
    assert sources["mappings:ris-modality-eu"]["counts"]["rows"] > 40
    shipped = [f for f in os.listdir(os.path.join(PROJECT_DIR, "mappings_csv", "codesystems")) if f.startswith("CodeSystem-")]
    assert sources["mappings:codesystems"]["counts"]["CodeSystem"] == len(shipped) >= 3


def test_the_installed_package_renders_its_html_from_its_templates(installed, tmp_path):
    python = installed[0]
    r = subprocess.run([python, "-c", "from termsvc.mappings.lint import Report\n"
                        "from termsvc.mappings.report_html import render\n"
                        "import termsvc.templates as t; print(t.__file__); print(render(Report()))"],
                       cwd=tmp_path, env=clean_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    where, page = r.stdout.split("\n", 1)
    assert not where.startswith(PROJECT_DIR) and page.startswith("<!DOCTYPE html>") and "Mapping tables check" in page
