"""Settings: one table, read once at start, invalid values refused; the CLI's help and docs/configuration.md
show the same table."""
import json
import os
import re

import pytest
from click.testing import CliRunner

from conftest import PROJECT_DIR, codes_of
from termsvc import settings
from termsvc.cli import cli


@pytest.fixture
def env(monkeypatch, tmp_path):
    """An environment without termsvc settings and with an empty configuration file."""
    for s in settings.SETTINGS:
        monkeypatch.delenv(s.env, raising=False)
    config = tmp_path / "termsvc.toml"
    config.write_text("")
    monkeypatch.setenv("TERMSVC_CONFIG", str(config))
    return config


def test_defaults_and_their_origins(env):
    s = settings.load()
    assert (s.cache_size, s.max_expansion, s.time_limit_ms, s.port, s.host) == (20_000, 10_000, 5_000, 8080,
                                                                                 "127.0.0.1")
    assert s.workers is None and s.snomed == () and s.loinc is None
    assert s.db == os.path.join(PROJECT_DIR, "data", "termsvc.db")   # a checkout: its data/ folder
    assert s.fhir_package_cache == os.path.expanduser("~/.fhir/packages")
    assert s.origin("cache_size") == "default" and s.origin("config") == "$TERMSVC_CONFIG"


def test_precedence_command_line_environment_file_default(env, monkeypatch, tmp_path):
    env.write_text('cache_size = 7\nmax_expansion = 300\ntime_limit_ms = 900\nloinc = "releases/Loinc_2.80.zip"\n')
    monkeypatch.setenv("TERMSVC_MAX_EXPANSION", "200")
    monkeypatch.setenv("TERMSVC_TIME_LIMIT_MS", "800")
    s = settings.load({"time_limit_ms": "700"})
    assert (s.cache_size, s.max_expansion, s.time_limit_ms) == (7, 200, 700)
    assert [s.origin(n) for n in ("cache_size", "max_expansion", "time_limit_ms", "port")] == \
        [str(env), "$TERMSVC_MAX_EXPANSION", "command line", "default"]
    # a relative path in the file is relative to the file's folder
    assert s.loinc == str(tmp_path / "releases" / "Loinc_2.80.zip")


@pytest.mark.parametrize("name, env_var, value, reason", [
    ("cache_size", "TERMSVC_CACHE_SIZE", "lots", "not an integer"),
    ("cache_size", "TERMSVC_CACHE_SIZE", "-1", "must be at least 0"),
    ("time_limit_ms", "TERMSVC_TIME_LIMIT_MS", "0", "must be at least 1"),
    ("port", "TERMSVC_PORT", "http", "not an integer"),
    ("workers", "TERMSVC_WORKERS", "0", "must be at least 1"),
])
def test_invalid_values_are_refused_at_start_naming_the_setting(env, monkeypatch, name, env_var, value, reason):
    monkeypatch.setenv(env_var, value)
    with pytest.raises(settings.SettingsError) as e:
        settings.load()
    assert (e.value.name, e.value.origin) == (name, f"${env_var}")
    assert f"invalid value {value!r} for setting '{name}'" in str(e.value) and reason in str(e.value)
    # every command refuses to start, with one line and exit status 1
    for args in (["serve", "--db", "/nonexistent.db"], ["build", "--no-defaults"], ["info"], ["settings"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 1, (args, r.output)
        assert f"${env_var}: invalid value" in r.stderr and "Traceback" not in r.output


def test_configuration_file_problems_are_refused(env):
    env.write_text("cache_sise = 5\n")
    with pytest.raises(settings.SettingsError, match="unknown setting 'cache_sise'"):
        settings.load()
    env.write_text('config = "other.toml"\n')
    with pytest.raises(settings.SettingsError, match="cannot be set in the configuration file"):
        settings.load()
    env.write_text("cache_size = true\n")
    with pytest.raises(settings.SettingsError, match="for setting 'cache_size': not an integer"):
        settings.load()
    os.remove(env)
    with pytest.raises(settings.SettingsError, match="configuration file not found"):
        settings.load()


def test_command_line_setting_and_the_settings_command(env, monkeypatch):
    monkeypatch.setenv("TERMSVC_CACHE_SIZE", "12")
    r = CliRunner().invoke(cli, ["settings", "--json", "--setting", "max_expansion", "42"])
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["max_expansion"]["value"] == 42 and rows["max_expansion"]["origin"] == "command line"
    assert rows["cache_size"]["value"] == 12 and rows["cache_size"]["origin"] == "$TERMSVC_CACHE_SIZE"
    assert [row["name"] for row in json.loads(r.stdout)] == [s.name for s in settings.SETTINGS]
    r = CliRunner().invoke(cli, ["settings", "--setting", "cache_sise", "1"])
    assert r.exit_code == 1 and "unknown setting 'cache_sise'" in r.stderr


def test_serve_help_lists_every_setting():
    r = CliRunner().invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for s in settings.SETTINGS:
        assert f"{s.name} (${s.env}, {s.type.label}, default {s.shown_default}): {s.help}" in text


def test_no_page_mentions_a_setting_that_is_not_declared():
    # (the table of docs/configuration.md is generated: tests/test_docs.py)
    declared = {s.env for s in settings.SETTINGS}
    docs = [os.path.join(PROJECT_DIR, "README.md")] + [os.path.join(PROJECT_DIR, "docs", f)
                                                        for f in os.listdir(os.path.join(PROJECT_DIR, "docs"))]
    text = "".join(open(path, encoding="utf-8").read() for path in docs if path.endswith(".md"))
    mentioned = set(re.findall(r"`((?:TERMSVC|FHIR_PACKAGE)_[A-Z_]+)`", text))
    assert mentioned <= declared, mentioned - declared


def test_a_server_started_with_a_setting_applies_it(db_path, server_factory):
    srv = server_factory(db_path, args=("--setting", "max_expansion", "50"))
    url = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_4.html"
    status, body, _ = srv.get(f"/fhir/ValueSet/$expand?url={url}")
    assert status == 422 and body["issue"][0]["code"] == "too-costly", body
    status, body, _ = srv.get(f"/fhir/ValueSet/$expand?url={url}&count=10")
    assert status == 200 and len(codes_of(body)) == 10
