"""A fifo (or another file that is not a regular one) named to a tool, or found in a folder it reads: one
rule (termsvc.files) - never opened for a blocking read; a clear error or the file listed with its
reason, as each tool's contract says. The tools run as processes with a deadline: a read that blocks
fails the test instead of hanging it. (check-resource and dicom-codes: tests/test_hostile_tool_inputs.py.)"""
import json
import os
import socket
import subprocess

import pytest

from conftest import TERMSVC_BIN
from synthetic_releases import write_loinc_release, write_snomed_release
from termsvc.files import NotRegularFile, is_regular, not_regular_reason, open_regular

DEADLINE = 120   # seconds: a tool that blocked on a fifo never ends


def termsvc(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([TERMSVC_BIN, *args], capture_output=True, text=True, timeout=DEADLINE, cwd=cwd)


def fifo(path) -> str:
    os.mkfifo(path)
    return str(path)


def test_the_helper_tells_what_a_path_is_without_blocking(tmp_path):
    regular = tmp_path / "r.txt"
    regular.write_text("x")
    with open_regular(str(regular), "r", encoding="utf-8") as f:
        assert f.read() == "x"
    with pytest.raises(NotRegularFile, match=r"not a regular file \(a fifo\)"):
        open_regular(fifo(tmp_path / "f"))
    with pytest.raises(NotRegularFile, match=r"\(a folder\)"):
        open_regular(str(tmp_path))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    try:
        assert not_regular_reason(str(tmp_path / "s")) == "not a regular file (a socket)"
    finally:
        sock.close()
    with pytest.raises(NotRegularFile, match="character device"):
        open_regular("/dev/null")
    assert is_regular(str(regular)) and not is_regular(str(tmp_path / "f")) and not is_regular(str(tmp_path / "no"))
    assert not_regular_reason(str(regular)) is None and not_regular_reason(str(tmp_path / "no")) is None
    with pytest.raises(ValueError):
        open_regular(str(regular), "wb")


@pytest.mark.parametrize("option", ["--fhir", "--package", "--snomed", "--loinc"])
def test_build_refuses_a_fifo_named_as_a_source(tmp_path, option):
    path = fifo(tmp_path / "source.json")
    r = termsvc("build", "--db", str(tmp_path / "t.db"), "--no-defaults", "--quiet", option, path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith("termsvc: error: ") and "not a regular file (a fifo)" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "t.db")


def test_build_refuses_a_fifo_among_the_files_it_reads(tmp_path):
    """A fifo in a release or package folder, where the build reads a file (a release file, a file hashed
    for the source's sha256, a package's JSON): refused naming it, never waited on."""
    snomed = write_snomed_release(str(tmp_path / "sct"), generated=5)
    loinc = write_loinc_release(str(tmp_path / "loinc"))
    package = tmp_path / "pkg" / "package"
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "example.fifo", "version": "1.0.0"}))
    cases = [("--snomed", snomed, fifo(os.path.join(snomed, "Snapshot", "Terminology",
                                                     "sct2_Concept_Snapshot_INT_20990101.txt"))),
             ("--snomed", snomed, fifo(os.path.join(snomed, "README.txt"))),
             ("--loinc", loinc, fifo(os.path.join(loinc, "README.csv"))),
             ("--package", str(tmp_path / "pkg"), fifo(package / "ValueSet-piped.json"))]
    for option, source, piped in cases:
        r = termsvc("build", "--db", str(tmp_path / "t.db"), "--no-defaults", "--quiet", option, source)
        assert r.returncode == 1 and f"{os.path.basename(piped)}: " in r.stderr, (option, piped, r.stderr)
        assert "not a regular file (a fifo)" in r.stderr, r.stderr
        os.unlink(piped)
    r = termsvc("build", "--db", str(tmp_path / "t.db"), "--no-defaults", "--quiet", *(
        x for option, source, _ in cases[1:] for x in (option, source)))
    assert r.returncode == 0, r.stderr


def test_mappings_check_lists_a_fifo_table_as_unreadable(tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    fifo(maps / "piped.csv")
    (maps / "piped.toml").write_text('url = "http://example.org/ConceptMap/piped"\nsource_system = "http://x/s"\n'
                                     'target_system = "http://x/t"\n')
    (maps / "meta.csv").write_text("source_code,target_code,relationship\nA,B,equivalent\n")
    fifo(maps / "meta.toml")
    r = termsvc("mappings", "check", "--no-db", "--json", str(maps))
    assert r.returncode == 2, (r.stdout, r.stderr)
    report = json.loads(r.stdout)
    problems = {(t["name"], p["message"]) for t in report["tables"] for p in t["problems"] if p["kind"] == "unreadable"}
    assert ("piped", "not a regular file (a fifo)") in problems, problems
    assert ("meta", "TOML: not a regular file (a fifo)") in problems, problems


def test_pull_refuses_a_fifo(tmp_path):
    path = fifo(tmp_path / "build.db")
    for url in (path, "file://" + path):
        r = termsvc("pull", url, "--sha256", "0" * 64, "--db", str(tmp_path / "served" / "t.db"), "-q")
        assert r.returncode == 1 and "not a regular file (a fifo)" in r.stderr, (url, r.stderr)
