"""Mapping tables in the build: one judgement with `termsvc mappings check`, strict builds and
--allow-mapping-errors, the code systems' displays served, table folders of one's own, and
source codes matching ignoring case ($translate over HTTP, `termsvc dicom-codes`)."""
import json
import os

import orjson
import pytest
from click.testing import CliRunner

from conftest import param, params_named
from termsvc.api.app import create_app
from termsvc.build import BuildError, SourceSpec, build, mapping_sources
from termsvc.cli import cli
from termsvc.mappings.from_fhir import concept_map_to_table
from termsvc.mappings.lint import check
from termsvc.store.reader import Store
from test_mappings import EU, FRAG, LOCAL, _cs, write_table

SCOPE = "http://ex.test/vs/eu-scope"
CLEAN = """source_code,source_display,target_code,target_display,relationship,status,author,freq
A,Alpha,X1,Equis uno,equivalent,accepted,ana,0012
B,Bravo,X2,,equivalent,accepted,ana,1.10
"""
BAD = f"""source_code,source_display,target_system,target_code,target_display,relationship,status
C,Charlie,,X9,,equivalent,accepted
D,Delta,,X4,Ex four,equivalent,accepted
E,Echo,,X2,Ex 2,equivalent,accepted
ZZ,Zulu,,X3,Ex three,equivalent,accepted
E,Echo,{FRAG},F2,,related-to,accepted
D,Delta,,X8,,equivalent,draft
A,Alpha,,X3,Ex three,source-is-broader-than-target,accepted
"""
BAD_ERRORS = {  # row -> what the build and the check say
    2: "target code X9 is not in http://ex.test/cs/eu",
    3: f"target X4 is not in the target scope value set {SCOPE}",
    4: "target display 'Ex 2' differs from the code system's 'Ex two' for X2: $validate-code rejects it",
    5: "source code ZZ is not in http://ex.test/cs/local",
}


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    d = tmp_path_factory.mktemp("content")
    eu = _cs(EU, [("X1", "Ex one"), ("X2", "Ex two"), ("X3", "Ex three"), ("X4", "Ex four")])
    eu["concept"][0]["designation"] = [{"language": "es", "value": "Equis uno"}]
    resources = [
        _cs(LOCAL, [("A", "Alpha"), ("B", "Bravo"), ("C", "Charlie"), ("D", "Delta"), ("E", "Echo"),
                    ("0012", "Tórax"), ("1.10", "Abdomen"), ("0045", "Cabeza")]),
        {"resourceType": "ValueSet", "url": "http://ex.test/vs/local", "status": "active",
         "compose": {"include": [{"system": LOCAL}]}},
        eu,
        {"resourceType": "ValueSet", "url": SCOPE, "status": "active",
         "compose": {"include": [{"system": EU, "concept": [{"code": "X1"}, {"code": "X2"}, {"code": "X3"}]},
                                 {"system": FRAG}, {"system": "http://ex.test/cs/not-loaded"}]}},
        _cs(FRAG, [("F1", "Frag one")], content="fragment"),
    ]
    for i, r in enumerate(resources):
        (d / f"r{i}.json").write_bytes(orjson.dumps(r))
    return str(d)


def sources(content, *folders, **options):
    return [SourceSpec("fhir", content)] + mapping_sources(folders, default=False, **options)


def translate(client, code, system=LOCAL, path="/fhir"):
    return client.get(f"{path}/ConceptMap/$translate", query_string={"system": system, "sourceCode": code}).get_json()


def matches(body):
    return [{p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in m["part"]}
            for m in params_named(body, "match")]


def test_an_accepted_row_with_an_error_fails_the_build_like_a_structural_error(tmp_path, content):
    maps = tmp_path / "maps"
    write_table(maps, "clean", CLEAN)
    db = str(tmp_path / "t.db")
    build(db, sources(content, maps), preexpand=False)
    before, inode = open(db, "rb").read(), os.stat(db).st_ino
    write_table(maps, "bad", BAD)
    with pytest.raises(BuildError) as e:
        build(db, sources(content, maps), preexpand=False)
    message = str(e.value)
    for row, text in BAD_ERRORS.items():
        assert f"bad.csv:{row}: {text}" in message
    assert "bad.csv:6" not in message and "bad.csv:7" not in message   # a fragment, a draft row: warnings
    assert "conflicting" not in message
    assert open(db, "rb").read() == before and os.stat(db).st_ino == inode   # the served database is untouched
    # one judgement: `mappings check` against a build of the same content reports exactly these errors
    lines = [ln.strip() for ln in message.splitlines()[1:]]
    assert lines == check([str(maps)], Store(db)).error_lines()
    assert lines[0] == "bad.csv:2: target code X9 is not in http://ex.test/cs/eu (source code 'C' 'Charlie')"
    # ... and the CLI says it the same way, exit status 1
    r = CliRunner().invoke(cli, ["build", "--db", db, "--no-defaults", "--fhir", content, "--mappings", str(maps),
                                 "--no-preexpand", "-q"])
    assert r.exit_code == 1 and "bad.csv:4: target display 'Ex 2'" in r.output
    assert open(db, "rb").read() == before


def test_allow_mapping_errors_builds_without_the_rows_in_error(tmp_path, content):
    maps = tmp_path / "maps"
    write_table(maps, "clean", CLEAN)
    write_table(maps, "bad", BAD)
    db = str(tmp_path / "t.db")
    summary = build(db, sources(content, maps, allow_errors=True), preexpand=False)
    (note,) = summary["notes"]
    assert note.startswith("mapping tables: 4 row(s) with errors left out of what $translate serves")
    assert "bad.csv:2, bad.csv:3, bad.csv:4, bad.csv:5" in note
    client = create_app(db).test_client()
    for code in ("C", "ZZ"):
        assert param(translate(client, code), "result") is False
    assert [m["concept"]["code"] for m in matches(translate(client, "D"))] == []          # row 3 left out
    assert sorted(m["concept"]["code"] for m in matches(translate(client, "E"))) == ["F2"]  # row 4 left out
    assert sorted(m["concept"]["code"] for m in matches(translate(client, "A"))) == ["X1", "X3"]
    # the complete table keeps every row; the report says what was left out
    _, _, rows = concept_map_to_table(Store(db).mapping_table("bad"))
    assert [r["source_code"] for r in rows] == ["C", "D", "E", "ZZ", "E", "D", "A"]
    (report,) = [r for r in Store(db).mapping_reports() if r["name"] == "bad"]
    assert (report["served"], report["dropped"], report["errors"]) == (2, 4, 5)   # X9: unknown and outside scope
    # the CLI says how many were dropped, with --quiet too
    r = CliRunner().invoke(cli, ["build", "--db", db, "--no-defaults", "--fhir", content, "--mappings", str(maps),
                                 "--allow-mapping-errors", "--no-preexpand", "-q"])
    assert r.exit_code == 0, r.output
    assert "termsvc: warning: mapping tables: 4 row(s) with errors left out" in r.output


def test_warnings_never_stop_a_build(tmp_path, content):
    maps = tmp_path / "maps"
    write_table(maps, "warned", f"""source_code,source_display,target_system,target_code,target_display,relationship,status
A,Not Alpha,,X1,,equivalent,accepted
B,Bravo,{FRAG},F7,,related-to,accepted
C,Charlie,http://ex.test/cs/not-loaded,Q1,Q one,equivalent,accepted
D,Delta,,X9,,equivalent,draft
""")
    db = str(tmp_path / "t.db")
    build(db, sources(content, maps), preexpand=False)
    (report,) = Store(db).mapping_reports()
    assert report["errors"] == 0 and report["warnings"] >= 4 and report["served"] == 3
    kinds = {p["kind"] for p in report["problems"]}
    assert {"display-differs", "unverifiable", "system-not-loaded", "not-accepted"} <= kinds


def test_translate_answers_the_code_systems_display_and_export_keeps_the_spreadsheets(tmp_path, content):
    maps = tmp_path / "maps"
    write_table(maps, "t", CLEAN)
    (maps / "t.csv").write_text(   # and a row of a target system not loaded
        CLEAN.replace("freq\n", "freq,target_system\n").replace(",0012\n", ",0012,\n")
                                .replace(",1.10\n", ",1.10,\n") + "C,Charlie,Q1,Q one,equivalent,accepted,ana,,"
                                "http://ex.test/cs/not-loaded\n", encoding="utf-8")
    db = str(tmp_path / "t.db")
    build(db, sources(content, maps), preexpand=False)
    client = create_app(db).test_client()
    (a,) = matches(translate(client, "A"))
    assert a["concept"] == {"system": EU, "code": "X1", "display": "Ex one"}   # not the sheet's 'Equis uno'
    (b,) = matches(translate(client, "B"))
    assert b["concept"]["display"] == "Ex two"                                 # the sheet has none
    (c,) = matches(translate(client, "C"))
    assert c["concept"]["display"] == "Q one"        # a code system not loaded: the sheet's, the best known
    r4 = client.get("/r4/fhir/ConceptMap/$translate", query_string={"system": LOCAL, "code": "A"}).get_json()
    assert [m["concept"]["display"] for m in matches(r4)] == ["Ex one"]
    # the spreadsheet's display stays with the row: it comes back on export
    out = tmp_path / "back.csv"
    r = CliRunner().invoke(cli, ["mappings", "export", "t", "--db", db, "--format", "csv", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "A,Alpha,X1,Equis uno,equivalent,accepted,ana,0012," in out.read_text(encoding="utf-8-sig")


def test_own_folders_next_to_the_shipped_tables_or_instead(tmp_path, content, monkeypatch):
    own = tmp_path / "own"
    write_table(own, "clean", CLEAN)
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("dicom"), SourceSpec("fhir", content)] + mapping_sources([str(own)]), preexpand=False)
    names = {r["name"] for r in Store(db).mapping_reports()}
    assert {"clean", "ris-modality-eu", "dicom-laterality"} <= names
    build(db, sources(content, own), preexpand=False)
    assert [r["name"] for r in Store(db).mapping_reports()] == ["clean"]
    # `mappings check` and `export` take the same folders: options, or the settings' environment variables
    runner = CliRunner()
    r = runner.invoke(cli, ["mappings", "check", "--mappings", str(own), "--no-default-mappings", "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    assert [t["name"] for t in json.loads(r.output)["tables"]] == ["clean"]
    monkeypatch.setenv("TERMSVC_MAPPINGS", str(own))
    r = runner.invoke(cli, ["mappings", "check", "--no-db", "--json"])
    assert {"clean", "ris-modality-eu"} <= {t["name"] for t in json.loads(r.output)["tables"]}
    monkeypatch.setenv("TERMSVC_DEFAULT_MAPPINGS", "false")
    r = runner.invoke(cli, ["mappings", "check", "--no-db", "--json"])
    assert [t["name"] for t in json.loads(r.output)["tables"]] == ["clean"]
    r = runner.invoke(cli, ["mappings", "export", "clean", "--format", "r5"])
    assert r.exit_code == 0 and json.loads(r.output)["url"] == "http://ex.test/cm/clean"
    assert runner.invoke(cli, ["mappings", "export", "ris-modality-eu"]).exit_code == 2
    monkeypatch.setenv("TERMSVC_DEFAULT_MAPPINGS", "perhaps")
    r = runner.invoke(cli, ["mappings", "check", "--no-db"])
    assert r.exit_code == 1 and "default_mappings" in r.output


def test_two_tables_of_one_name_or_url_in_different_folders(tmp_path, content):
    write_table(tmp_path / "a", "clean", CLEAN)
    write_table(tmp_path / "b", "clean", CLEAN)
    report = check([str(tmp_path / "a"), str(tmp_path / "b")])
    assert [p.kind for p in report.tables[1].errors] == ["duplicate-table", "duplicate-table"]
    with pytest.raises(BuildError, match="table name clean is also the table name of"):
        build(str(tmp_path / "t.db"), sources(content, tmp_path / "a", tmp_path / "b"), preexpand=False)


PACS = "http://ex.test/cs/pacs"   # not loaded: its codes cannot be checked
CASE_TABLE = (f"source_system,source_code,target_code,relationship,status\n{PACS},CHEST,X1,equivalent,accepted\n"
              f"{PACS},Head,X2,equivalent,accepted\n")


def test_source_codes_matching_ignoring_case(tmp_path, content):
    folder = tmp_path / "maps"
    write_table(folder, "exact", CASE_TABLE.replace("CHEST", "KNEE").replace("Head", "FOOT"))
    write_table(folder, "loose", CASE_TABLE)
    with open(folder / "loose.toml", "a", encoding="utf-8") as f:
        f.write("source_case_sensitive = false\n")
    db = str(tmp_path / "t.db")
    build(db, sources(content, folder), preexpand=False)
    client = create_app(db).test_client()
    for code in ("CHEST", "chest", " Chest "):
        assert [m["concept"]["code"] for m in matches(translate(client, code, PACS))] == ["X1"], code
    assert [m["concept"]["code"] for m in matches(translate(client, "HEAD", PACS))] == ["X2"]
    r4 = client.get("/r4/fhir/ConceptMap/$translate", query_string={"system": PACS, "code": "head"}).get_json()
    assert param(r4, "result") is True
    # the default stays exact
    assert param(translate(client, "KNEE", PACS), "result") is True
    assert param(translate(client, "knee", PACS), "result") is False
    # reverse translation is not affected
    body = client.get("/fhir/ConceptMap/$translate", query_string={"targetSystem": EU, "targetCode": "X1"}).get_json()
    assert sorted(m["source"]["code"] for m in matches(body)) == ["CHEST", "KNEE"]   # each once
    # the ConceptMap says so on its group, so a map sent with the request is read the same way
    cm = client.get("/fhir/ConceptMap/loose").get_json()
    assert cm["group"][0]["extension"] == [{"url": "http://termsvc.local/fhir/StructureDefinition/"
                                            "source-case-insensitive", "valueBoolean": True}]
    cm["url"] = "http://ex.test/cm/sent"
    body = client.post("/fhir/ConceptMap/$translate", json={"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": "http://ex.test/cm/sent"}, {"name": "sourceSystem", "valueUri": PACS},
        {"name": "sourceCode", "valueCode": "chest"}, {"name": "tx-resource", "resource": cm}]},
        content_type="application/fhir+json").get_json()
    assert [m["originMap"] for m in matches(body)] == ["http://ex.test/cm/sent|1"]
    # and export gives the key back
    r = CliRunner().invoke(cli, ["mappings", "export", "loose", "--db", db, "--format", "xlsx", "-o",
                                 str(tmp_path / "x.xlsx")])
    assert r.exit_code == 0
    import openpyxl
    meta = dict(openpyxl.load_workbook(tmp_path / "x.xlsx")["metadata"].iter_rows(values_only=True))
    assert meta["source_case_sensitive"] == "false"


def test_dicom_codes_finds_a_value_through_a_table_matching_ignoring_case(tmp_path):
    from test_dicom_codes import DESCRIPTION_TOML, dicom_codes, write_dicom
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "descriptions.csv").write_text("source_code,target_code,relationship,status\n"
                                           "CT TORAX,168537006,source-is-narrower-than-target,accepted\n")
    (maps / "descriptions.toml").write_text(DESCRIPTION_TOML + "source_case_sensitive = false\n")
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("dicom"), SourceSpec("mappings", str(maps))], preexpand=False)
    path = write_dicom(tmp_path / "a.dcm", StudyDescription="ct torax", Modality="CT")
    code, out = dicom_codes(db, path)
    value = next(v for v in json.loads(out)["files"][0]["codes"] if v["attribute"] == "StudyDescription")
    assert value["status"] == "mapped" and value["codings"][0]["code"] == "168537006"


SCT = "http://snomed.info/sct"
CONFLICTS = f"""source_system,source_code,target_system,target_code,relationship,status
{LOCAL},A,{EU},X1,equivalent,accepted
{LOCAL},A,{EU},X2,equivalent,accepted
{LOCAL},B,{EU},X1,equivalent,accepted
{LOCAL},B,{EU},X1,not-related-to,accepted
{LOCAL},C,{EU},X3,equivalent,accepted
{PACS},chest,{EU},X1,equivalent,accepted
{PACS},CHEST,{EU},X2,equivalent,accepted
{LOCAL},D,{SCT},71615007,equivalent,accepted
{LOCAL},E,{SCT},12345,equivalent,accepted
"""


def test_conflicts_and_malformed_identifiers_stop_the_build_and_allow_errors_leaves_them_all_out(tmp_path, content):
    maps = tmp_path / "maps"
    write_table(maps, "conflicts", CONFLICTS)
    with open(maps / "conflicts.toml", "a", encoding="utf-8") as f:
        f.write("source_case_sensitive = false\n")   # chest and CHEST are one source code
    db = str(tmp_path / "t.db")
    with pytest.raises(BuildError) as e:
        build(db, sources(content, maps), preexpand=False)
    message = str(e.value)
    for row in (2, 3):
        assert (f"conflicts.csv:{row}: A is equivalent to both X1 and X2: rows 2 and 3 contradict each other, so"
                " neither is served") in message
    for row in (4, 5):
        assert f"conflicts.csv:{row}: B -> X1: relationship 'equivalent' and 'not-related-to'" in message
    for row in (7, 8):
        assert f"conflicts.csv:{row}: chest is equivalent to both X1 and X2: rows 7 and 8" in message
    assert ("conflicts.csv:9: target code 71615007: The code '71615007' is not a valid SNOMED CT concept identifier:"
            " the check digit is wrong") in message
    assert "conflicts.csv:10: target code 12345: The code '12345' is not a valid SNOMED CT concept identifier: it has"\
           " 5 digits" in message
    assert "conflicts.csv:6" not in message and ": \n" not in message and not message.rstrip().endswith(":")
    summary = build(db, sources(content, maps, allow_errors=True), preexpand=False)
    assert "8 row(s) with errors left out" in summary["notes"][0]
    client = create_app(db).test_client()
    for code, system in (("A", LOCAL), ("B", LOCAL), ("D", LOCAL), ("E", LOCAL), ("chest", PACS), ("CHEST", PACS)):
        assert matches(translate(client, code, system)) == [], code   # neither row of a conflict is served
    assert [m["concept"]["code"] for m in matches(translate(client, "C"))] == ["X3"]


def test_strict_displays_turn_display_warnings_into_errors(tmp_path, content):
    maps = tmp_path / "maps"
    write_table(maps, "t", f"""source_code,target_system,target_code,target_display,relationship,status
A,{FRAG},F1,Not frag one,related-to,accepted
""")
    db = str(tmp_path / "t.db")
    build(db, sources(content, maps), preexpand=False)   # a fragment's display: $validate-code warns
    (problem,) = [p for p in Store(db).mapping_reports()[0]["problems"] if p["kind"] == "display-differs"]
    assert problem["level"] == "warning"
    assert problem["message"] == ("target display 'Not frag one' differs from the code system's 'Frag one' for F1:"
                                  " $validate-code warns (The display 'Not frag one' for http://ex.test/cs/frag#F1"
                                  " could not be verified: the code system version '1' held here is a fragment,"
                                  " whose display is 'Frag one')")
    r = CliRunner().invoke(cli, ["mappings", "check", str(maps), "--db", db, "--strict-displays"])
    assert r.exit_code == 1 and "t.csv:2: error: display-differs" in r.output
    with pytest.raises(BuildError, match="t.csv:2: target display 'Not frag one'"):
        build(db, sources(content, maps, strict_displays=True), preexpand=False)
    r = CliRunner().invoke(cli, ["build", "--db", db, "--no-defaults", "--fhir", content, "--mappings", str(maps),
                                 "--no-preexpand", "-q", "--strict-displays"])
    assert r.exit_code == 1 and "t.csv:2: target display" in r.output
