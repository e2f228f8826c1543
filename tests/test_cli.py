"""The termsvc command line: build, info, packages fetch, error exits, configuration."""
import hashlib
import json
import os
import sys
import types

import pytest
from click.testing import CliRunner

from termsvc import build as build_mod
from termsvc import settings
from termsvc.cli import build as build_cli
from termsvc.cli import cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.delenv("TERMSVC_SNOMED", raising=False)
    monkeypatch.delenv("TERMSVC_LOINC", raising=False)
    (tmp_path / "empty-config.toml").write_text("")   # no termsvc.toml of the project applies
    monkeypatch.setenv("TERMSVC_CONFIG", str(tmp_path / "empty-config.toml"))
    monkeypatch.setenv("TERMSVC_DB", str(tmp_path / "env" / "termsvc.db"))
    return CliRunner()


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "content"
    d.mkdir()
    (d / "cs.json").write_text(json.dumps({
        "resourceType": "CodeSystem", "id": "a", "url": "http://x/cs/a", "status": "active",
        "content": "complete", "concept": [{"code": "1"}, {"code": "2"}]}))
    (d / "vs.json").write_text(json.dumps({
        "resourceType": "ValueSet", "id": "b", "url": "http://x/vs/b", "status": "active",
        "compose": {"include": [{"system": "http://x/cs/a"}]}}))
    return d


def test_build_and_info_json(runner, folder, tmp_path):
    db = str(tmp_path / "t.db")
    r = runner.invoke(cli, ["build", "--db", db, "--no-defaults", "--fhir", str(folder), "--no-preexpand", "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["info", "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["totals"] == {"code_systems": 1, "value_sets": 1, "concept_maps": 0, "concepts": 2}
    (src,) = info["sources"]
    assert src["name"] == "content" and src["kind"] == "fhir-json"
    assert src["counts"]["CodeSystem"] == 1 and src["counts"]["ValueSet"] == 1 and src["counts"]["concepts"] == 2
    h = hashlib.sha256()
    for name in ("cs.json", "vs.json"):
        h.update(name.encode() + b"\0")
        h.update(hashlib.sha256((folder / name).read_bytes()).digest())
    assert src["sha256"] == h.hexdigest()
    assert info["built_at"] and info["build_seconds"] is not None and src["loaded_at"]
    r = runner.invoke(cli, ["info", "--db", db])
    assert r.exit_code == 0 and "fhir-json" in r.stdout and src["sha256"][:12] in r.stdout
    assert "1 code systems, 1 value sets" in r.stdout


def test_info_checks_an_expected_sha256(runner, folder, tmp_path):
    db = str(tmp_path / "t.db")
    assert runner.invoke(cli, ["build", "--db", db, "--no-defaults", "--fhir", str(folder), "--no-preexpand",
                               "-q"]).exit_code == 0
    sha = hashlib.sha256(open(db, "rb").read()).hexdigest()
    assert runner.invoke(cli, ["info", "--db", db, "--expect-sha256", sha.upper()]).exit_code == 0
    for wrong in ("0" * 64, "", "not-hex"):
        r = runner.invoke(cli, ["info", "--db", db, "--expect-sha256", wrong])
        assert r.exit_code == 1 and f"the build's sha256 is {sha}, not {wrong!r}" in r.stderr, r.output


def test_db_from_environment(runner, folder, tmp_path):
    r = runner.invoke(cli, ["build", "--no-defaults", "--fhir", str(folder), "--no-preexpand", "-q"])
    assert r.exit_code == 0, r.output
    assert os.path.isfile(tmp_path / "env" / "termsvc.db")
    assert runner.invoke(cli, ["info"]).exit_code == 0


def test_build_error_exit_1_db_untouched(runner, folder, tmp_path):
    db = tmp_path / "t.db"
    assert runner.invoke(cli, ["build", "--db", str(db), "--no-defaults", "--fhir", str(folder),
                               "--no-preexpand", "-q"]).exit_code == 0
    before = db.read_bytes()
    ino = os.stat(db).st_ino
    (folder / "zz-broken.json").write_text("{nope")
    r = runner.invoke(cli, ["build", "--db", str(db), "--no-defaults", "--fhir", str(folder), "--no-preexpand", "-q"])
    assert r.exit_code == 1
    assert "zz-broken.json" in r.stderr and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == before and os.stat(db).st_ino == ino


def test_error_exits(runner, tmp_path):
    r = runner.invoke(cli, ["info", "--db", str(tmp_path / "missing.db")])
    assert r.exit_code == 1 and "no database" in r.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"x" * 4096)
    r = runner.invoke(cli, ["info", "--db", str(junk)])
    assert r.exit_code == 1 and "not a termsvc database" in r.stderr
    r = runner.invoke(cli, ["build", "--db", str(tmp_path / "t.db"), "--no-defaults"])
    assert r.exit_code == 1 and "nothing to build" in r.stderr
    r = runner.invoke(cli, ["serve", "--db", str(tmp_path / "missing.db")])
    assert r.exit_code == 1 and "termsvc build" in r.stderr
    r = runner.invoke(cli, ["build", "--bogus-option"])
    assert r.exit_code == 2
    r = runner.invoke(cli, ["packages", "fetch", "not-a-reference"])
    assert r.exit_code == 1 and "NAME#VERSION" in r.stderr


def test_packages_fetch(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(tmp_path / "cache"))
    from termsvc.loaders import fhir_package
    from test_loaders import make_tgz, small_package_files
    data = open(make_tgz(str(tmp_path / "p.tgz"), "cli.pkg", "1.0.0", small_package_files()), "rb").read()
    monkeypatch.setattr(fhir_package, "registry_download", lambda n, v: data)
    r = runner.invoke(cli, ["packages", "fetch", "cli.pkg#1.0.0"])
    assert r.exit_code == 0, r.output
    assert str(tmp_path / "cache" / "cli.pkg#1.0.0") in r.stdout
    assert (tmp_path / "cache" / "cli.pkg#1.0.0" / "package" / "CodeSystem-a.json").is_file()


@pytest.fixture
def fake_release_loaders(monkeypatch):
    """snomed/loinc loaders that record what they were asked to load."""
    seen = []
    mod = types.ModuleType("termsvc_test_fake_release")

    def load(writer, location, progress, **opts):
        seen.append(location)
        writer.finish_source(writer.add_source(os.path.basename(location), "fake", None, location, None))

    mod.load = load
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(build_mod.LOADERS, "snomed", mod)
    monkeypatch.setitem(build_mod.LOADERS, "loinc", mod)
    monkeypatch.setattr(build_cli, "default_sources", lambda **kw: [])
    return seen


def test_release_locations_precedence(runner, tmp_path, monkeypatch):
    cfg = tmp_path / "termsvc.toml"
    cfg.write_text('snomed = ["/cfg/int", "/cfg/ext"]\nloinc = "/cfg/loinc"\n')
    monkeypatch.setenv("TERMSVC_CONFIG", str(cfg))
    s = settings.load()
    assert (s.snomed, s.loinc) == (("/cfg/int", "/cfg/ext"), "/cfg/loinc")
    assert s.origin("snomed") == str(cfg)
    monkeypatch.setenv("TERMSVC_SNOMED", os.pathsep.join(["/env/a", "/env/b"]))
    monkeypatch.setenv("TERMSVC_LOINC", "/env/loinc")
    s = settings.load()
    assert (s.snomed, s.loinc) == (("/env/a", "/env/b"), "/env/loinc")
    s = settings.load({"snomed": ("/opt/s",), "loinc": "/opt/l"})
    assert (s.snomed, s.loinc) == (("/opt/s",), "/opt/l") and s.origin("loinc") == "command line"
    cfg.write_text("snomed = [")
    monkeypatch.delenv("TERMSVC_SNOMED")
    with pytest.raises(settings.SettingsError, match="invalid TOML"):
        settings.load()
    r = runner.invoke(cli, ["info"])
    assert r.exit_code == 1 and "invalid TOML" in r.stderr and "Traceback" not in r.output


def test_build_uses_env_releases(runner, tmp_path, monkeypatch, fake_release_loaders):
    monkeypatch.setenv("TERMSVC_SNOMED", os.pathsep.join(["/r/sct-int", "/r/sct-ext"]))
    monkeypatch.setenv("TERMSVC_LOINC", "/r/loinc")
    db = str(tmp_path / "t.db")
    r = runner.invoke(cli, ["build", "--db", db, "--no-preexpand", "-q"])
    assert r.exit_code == 0, r.output
    assert fake_release_loaders == ["/r/sct-int", "/r/sct-ext", "/r/loinc"]
    # --no-defaults: only what the command line names
    fake_release_loaders.clear()
    r = runner.invoke(cli, ["build", "--db", db, "--no-defaults", "--snomed", "/x/s", "--no-preexpand", "-q"])
    assert r.exit_code == 0, r.output
    assert fake_release_loaders == ["/x/s"]
