"""Builds: atomic swap on success, the served file untouched on failure, default sources."""
import json
import os
import sqlite3

import pytest

from termsvc import build as build_mod
from termsvc.build import BuildError, Progress, SourceSpec, build, default_sources

QUIET = Progress(quiet=True)


def write_cs(path, url, codes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"resourceType": "CodeSystem", "id": "x", "url": url, "status": "active",
                   "content": "complete", "concept": [{"code": c} for c in codes]}, f)


def urls(db):
    c = sqlite3.connect(db)
    try:
        return sorted(u for (u,) in c.execute("SELECT url FROM code_system"))
    finally:
        c.close()


def leftovers(folder):
    return [f for f in os.listdir(folder) if ".building-" in f]


def test_build_replaces_atomically(tmp_path):
    write_cs(str(tmp_path / "a" / "a.json"), "http://x/a", ["1"])
    write_cs(str(tmp_path / "b" / "b.json"), "http://x/b", ["1", "2"])
    db = str(tmp_path / "db" / "t.db")
    build(db, [SourceSpec("fhir", str(tmp_path / "a"))], QUIET, preexpand=False)
    ino = os.stat(db).st_ino
    # a reader holding the old file keeps reading the old content while the new one is swapped in
    old_reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    summary = build(db, [SourceSpec("fhir", str(tmp_path / "b"))], QUIET, preexpand=False)
    assert summary["code_systems"] == 1 and summary["concepts"] == 2
    assert urls(db) == ["http://x/b"]
    assert os.stat(db).st_ino != ino  # a new file renamed over the old one, not rewritten in place
    assert [u for (u,) in old_reader.execute("SELECT url FROM code_system")] == ["http://x/a"]
    old_reader.close()
    assert leftovers(tmp_path / "db") == []


def test_failed_build_leaves_db_untouched(tmp_path):
    write_cs(str(tmp_path / "a" / "a.json"), "http://x/a", ["1"])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.json").write_text("{")
    db = str(tmp_path / "db" / "t.db")
    build(db, [SourceSpec("fhir", str(tmp_path / "a"))], QUIET, preexpand=False)
    before = open(db, "rb").read()
    st = os.stat(db)
    with pytest.raises(BuildError, match="broken.json"):
        build(db, [SourceSpec("fhir", str(tmp_path / "a")), SourceSpec("fhir", str(bad))], QUIET,
              preexpand=False)
    assert open(db, "rb").read() == before
    st2 = os.stat(db)
    assert (st2.st_ino, st2.st_mtime_ns, st2.st_size) == (st.st_ino, st.st_mtime_ns, st.st_size)
    assert leftovers(tmp_path / "db") == []


def test_failed_first_build_creates_nothing(tmp_path):
    db = str(tmp_path / "t.db")
    with pytest.raises(BuildError):
        build(db, [SourceSpec("fhir", str(tmp_path / "missing"))], QUIET, preexpand=False)
    assert not os.path.exists(db) and leftovers(tmp_path) == []


def test_keep_going_skips_a_bad_source(tmp_path):
    write_cs(str(tmp_path / "a" / "a.json"), "http://x/a", ["1"])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.json").write_text("[")
    db = str(tmp_path / "t.db")
    summary = build(db, [SourceSpec("fhir", str(bad)), SourceSpec("fhir", str(tmp_path / "a"))], QUIET,
                    keep_going=True, preexpand=False)
    assert urls(db) == ["http://x/a"]
    assert len(summary["failures"]) == 1 and "broken.json" in summary["failures"][0]


def test_unknown_kind(tmp_path):
    with pytest.raises(BuildError, match="unknown source kind"):
        build(str(tmp_path / "t.db"), [SourceSpec("nope")], QUIET, preexpand=False)


def test_build_records_meta(tmp_path):
    write_cs(str(tmp_path / "a" / "a.json"), "http://x/a", ["1"])
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("fhir", str(tmp_path / "a"))], QUIET, preexpand=False)
    c = sqlite3.connect(db)
    meta = dict(c.execute("SELECT key, value FROM meta"))
    c.close()
    assert meta["built_at"] and float(meta["build_seconds"]) >= 0


def test_default_sources():
    kinds = [(s.kind, s.location) for s in default_sources()]
    assert kinds[0] == ("ig", None)
    assert [loc for k, loc in kinds if k == "package"] == build_mod.DEFAULT_PACKAGES
    assert ("dicom", None) in kinds
    assert ("mappings", None) in kinds   # None: the tables shipped with termsvc
    (mappings,) = [s for s in default_sources(include_unaccepted_mappings=True) if s.kind == "mappings"]
    assert mappings.options == {"include_unaccepted": True, "allow_errors": False, "strict_displays": False}
    folders = [s.location for s in default_sources(mapping_folders=["/a", "/b"], default_mappings=False)
               if s.kind == "mappings"]
    assert folders == ["/a", "/b"]


def test_under_ci_a_missing_fhir_package_fails_instead_of_skipping(monkeypatch, tmp_path):
    from conftest import require_packages
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_packages()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="hl7.fhir.r5.core#5.0.0"):
        require_packages()
