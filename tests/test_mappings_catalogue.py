"""Coverage without hand-written FHIR: `termsvc mappings init` makes a table, its CodeSystem and its
ValueSet from a catalogue export; `termsvc mappings check` computes the coverage from the folders,
without a rebuild (and without a build at all); a table without a source scope covers its own codes."""
import json
import os

import openpyxl
import orjson
import pytest
from click.testing import CliRunner

from termsvc.build import SourceSpec, build
from termsvc.cli import cli
from termsvc.mappings.lint import check
from termsvc.mappings.table import read_table

EU = "http://ex.test/cs/eu"
BASE = "http://hospital.example/fhir"
# a Spanish catalogue export: its own headers, codes that look like numbers, a hierarchy, an inactive code
CATALOGUE = ("Código;Descripción;Padre;Activo\r\n"
             "RX;Radiología convencional;;sí\r\n"
             "0012;Radiografía de tórax PA y lateral;RX;sí\r\n"
             "1.10;Radiografía de abdomen;RX;sí\r\n"
             "0099;Radiografía obsoleta;RX;no\r\n"
             "TC;Tomografía computarizada;;sí\r\n"
             "TC-CR;TC de cráneo;TC;\r\n")


def run(*args):
    return CliRunner().invoke(cli, [*map(str, args)])


def fill(folder, lines: dict) -> None:
    """The terminologist's edit of a table init wrote: each code's row replaced by the line given."""
    path = folder / "es-proc.csv"
    rows = path.read_bytes().decode("utf-8-sig").split("\r\n")
    rows = [lines.get(r.split(";", 1)[0], r) for r in rows]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8"))


def check_json(*args) -> dict:
    r = run("mappings", "check", *args, "--json")
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.output)


@pytest.fixture
def catalogue(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(CATALOGUE.encode("cp1252"))      # as a Spanish Excel saves it
    return path


def test_init_writes_the_table_and_the_catalogue_as_fhir(tmp_path, catalogue):
    folder = tmp_path / "tables"
    r = run("mappings", "init", catalogue, "--name", "es-proc", "-o", folder, "--base-url", BASE,
            "--language", "es", "--title", "Catálogo de procedimientos", "--target-system", EU)
    assert r.exit_code == 0, r.output
    assert "6 codes (1 inactive); 5 row(s) to map" in r.output and "set " not in r.output
    cs = orjson.loads((folder / "codesystems" / "CodeSystem-es-proc.json").read_bytes())
    vs = orjson.loads((folder / "codesystems" / "ValueSet-es-proc.json").read_bytes())
    assert cs["url"] == f"{BASE}/CodeSystem/es-proc" and cs["content"] == "complete" and cs["count"] == 6
    assert cs["hierarchyMeaning"] == "is-a" and cs["language"] == "es" and cs["valueSet"] == vs["url"]
    rx, tc = cs["concept"]
    assert [c["code"] for c in rx["concept"]] == ["0012", "1.10", "0099"]      # codes stay strings
    assert rx["concept"][2]["property"] == [{"code": "inactive", "valueBoolean": True}]
    assert tc["concept"][0] == {"code": "TC-CR", "display": "TC de cráneo"}
    assert vs["compose"] == {"inactive": False, "include": [{"system": cs["url"]}]}
    t = read_table(str(folder / "es-proc.csv"))
    assert not t.errors and t.delimiter == ";" and t.encoding == "utf-8-sig"
    # a row per active code, to map: its code and display, a draft (the inactive 0099 is not asked for)
    assert [(r.source_code, r.source_display, r.target_code, r.no_map, r.status) for r in t.rows] == [
        ("RX", "Radiología convencional", "", False, "draft"), ("0012", "Radiografía de tórax PA y lateral", "", False,
                                                                "draft"),
        ("1.10", "Radiografía de abdomen", "", False, "draft"), ("TC", "Tomografía computarizada", "", False, "draft"),
        ("TC-CR", "TC de cráneo", "", False, "draft")]
    assert t.meta["target_scope"] is None and "# set" not in (folder / "es-proc.toml").read_text()
    assert t.meta["source_scope"] == vs["url"] and t.meta["source_system"] == cs["url"]
    assert t.meta["target_system"] == EU and t.meta["language"] == "es" and t.meta["url"] == f"{BASE}/ConceptMap/es-proc"
    # the files are there: a second init does not overwrite them
    r = run("mappings", "init", catalogue, "--name", "es-proc", "-o", folder)
    assert r.exit_code == 2 and "exist" in r.output
    assert run("mappings", "init", catalogue, "--name", "es-proc", "-o", folder, "--force").exit_code == 0


def test_check_computes_the_coverage_from_the_folder_without_a_build(tmp_path, catalogue):
    folder = tmp_path / "tables"
    assert run("mappings", "init", catalogue, "--name", "es-proc", "-o", folder, "--target-system", EU,
               "--language", "es").exit_code == 0      # the CSV in `;`, as a Spanish Excel writes it
    report = check_json(folder, "--no-db")
    cov = report["tables"][0]["coverage"]
    assert cov["evaluable"] and cov["total"] == 5 and cov["mapped"] == 0         # the inactive code is not asked for
    assert [u["code"] for u in cov["unmapped_codes"]] == ["RX", "0012", "1.10", "TC", "TC-CR"]
    assert all(u["pending"] for u in cov["unmapped_codes"])    # each has its row, a draft
    # the terminologist maps two codes (one still a draft) and marks one as no map: no rebuild
    fill(folder, {"0012": "0012;Radiografía de tórax;;X1;Chest;equivalent;;accepted;;ana;jo;2026-05-02",
                  "1.10": "1.10;Radiografía de abdomen;;X2;Abdomen;equivalent;;draft;;ana;;",
                  "RX": "RX;Radiología convencional;;;;;sí;accepted;demasiado general;ana;jo;2026-05-02"})
    cov = check_json(folder, "--no-db")["tables"][0]["coverage"]
    assert (cov["mapped"], cov["no_map"], cov["unmapped"], cov["percent_covered"]) == (1, 1, 3, 40.0)
    assert {u["code"]: u["pending"] for u in cov["unmapped_codes"]} == {"1.10": True, "TC": True, "TC-CR": True}
    text = run("mappings", "check", folder, "--no-db").output
    assert "coverage of http://termsvc.local/fhir/ValueSet/es-proc: 5 codes, 1 mapped, 1 no-map, 3 nothing" in text
    assert "unmapped: 1.10 (pending), TC (pending), TC-CR (pending)" in text


def test_check_against_a_build_that_lacks_the_catalogue(tmp_path, catalogue):
    """The served build knows the EU codes but not the new catalogue: the folder's code systems count."""
    content = tmp_path / "content"
    content.mkdir()
    (content / "eu.json").write_bytes(orjson.dumps({
        "resourceType": "CodeSystem", "url": EU, "status": "active", "content": "complete",
        "concept": [{"code": "X1", "display": "Chest"}, {"code": "X2", "display": "Abdomen"}]}))
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("fhir", str(content))], preexpand=False)
    folder = tmp_path / "tables"
    assert run("mappings", "init", catalogue, "--name", "es-proc", "-o", folder, "--target-system", EU,
               "--language", "es").exit_code == 0      # the CSV in `;`, as a Spanish Excel writes it
    fill(folder, {"0012": "0012;Radiografía de tórax PA y lateral;;X1;Chest;equivalent;;accepted;;;;"})
    with open(folder / "es-proc.csv", "ab") as f:
        f.write(b"0013;No existe;;X9;;equivalent;;accepted;;;;\r\n")
    report = check_json(folder, "--db", db)
    t = report["tables"][0]
    assert t["coverage"]["evaluable"] and t["coverage"]["mapped"] == 1 and t["coverage"]["total"] == 5
    kinds = {(p["row"], p["kind"]) for p in t["problems"]}
    assert (7, "unknown-source-code") in kinds and (7, "unknown-target-code") in kinds   # both judged
    assert not any(p["kind"] in ("system-not-loaded", "scope-unverifiable") for p in t["problems"])


def test_a_table_without_a_source_scope_covers_its_own_source_codes(tmp_path):
    folder = tmp_path / "maps"
    folder.mkdir()
    (folder / "t.csv").write_text("source_code,target_code,relationship,no_map,status\n"
                                  "A,X1,equivalent,,accepted\nA,X2,related-to,,accepted\n"
                                  "B,X1,equivalent,,draft\nC,,,yes,accepted\nD,X9,sortof,,accepted\n")
    (folder / "t.toml").write_text(f'url = "http://ex.test/cm/t"\nsource_system = "http://ex.test/cs/l"\n'
                                   f'target_system = "{EU}"\n')
    cov = check([str(folder)], None).tables[0].coverage
    assert (cov["scope"], cov["total"], cov["mapped"], cov["no_map"], cov["unmapped"]) == (None, 4, 1, 1, 2)
    assert [(u["code"], u["pending"]) for u in cov["unmapped_codes"]] == [("B", True), ("D", True)]
    assert "the source codes of the table: 4 codes" in run("mappings", "check", folder, "--no-db").output


def test_an_xlsx_catalogue_keeps_its_codes_as_written(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Code", "Bezeichnung", "Aktiv"])
    ws.append([12, "Thorax", "ja"])
    ws.cell(2, 1).number_format = "0000"
    ws.append([1.1, "Abdomen", "nein"])
    ws.cell(3, 1).number_format = "0.00"
    ws.append(["CT", "Computertomographie", None])
    wb.save(tmp_path / "katalog.xlsx")
    r = run("mappings", "init", tmp_path / "katalog.xlsx", "--name", "de-kat", "-o", tmp_path / "out", "--language", "de")
    assert r.exit_code == 0, r.output
    cs = orjson.loads((tmp_path / "out" / "codesystems" / "CodeSystem-de-kat.json").read_bytes())
    assert [(c["code"], "property" in c) for c in cs["concept"]] == [("0012", False), ("1.10", True), ("CT", False)]
    assert (tmp_path / "out" / "de-kat.csv").read_bytes().startswith(b"\xef\xbb\xbfsource_code;source_display;")


def test_a_catalogue_in_error_writes_nothing_and_names_the_rows(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("code,display,parent,active\nA,Alpha,,yes\nA,Again,,yes\nB,Bravo,Z,yes\nC,Charlie,D,yes\n"
                    "D,Delta,C,yes\nE,Echo,,maybe\n,Nothing,,yes\n")
    out = tmp_path / "out"
    r = run("mappings", "init", path, "--name", "t", "-o", out)
    assert r.exit_code == 1 and not out.exists()
    first, *rows = r.output.splitlines()
    assert first == "error: export.csv: nothing written: 6 row(s) in error:"
    assert sorted(rows) == ["  export.csv:3: code A is also on row 2 (source code 'A' 'Again')",
                            "  export.csv:4: parent Z is not a code of the catalogue (source code 'B' 'Bravo')",
                            "  export.csv:5: C is its own ancestor (through D) (source code 'C' 'Charlie')",
                            "  export.csv:6: D is its own ancestor (through C) (source code 'D' 'Delta')",
                            "  export.csv:7: active 'maybe' is neither yes nor no (source code 'E' 'Echo')",
                            "  export.csv:8: the code is empty"]
    path.write_text("Nummer,Something\n1,x\n")
    r = run("mappings", "init", path, "--name", "t", "-o", out)
    assert r.exit_code == 2 and "no display column (found: Nummer, Something; name it with --display-column)" in r.output
    r = run("mappings", "init", path, "--name", "t", "-o", out, "--display-column", "something")
    assert r.exit_code == 0 and (out / "t.toml").exists()
    assert run("mappings", "init", path, "--name", "../t", "-o", out).exit_code == 2


@pytest.mark.parametrize("export,codes", [
    # headers that name the column as a word or at the end of a compound, with a title row above
    ("Radiologie Katalog 2026\n\nLeistungscode;Leistungsbezeichnung;Aktiv\n0012;CT Schädel;ja\n1.10;Sono;nein\n",
     [("0012", "CT Schädel"), ("1.10", "Sono")]),
    ("Code list 2026\nProcedure code,Procedure name\n0012,CT head\n", [("0012", "CT head")]),
    ("code_acte|libellé_acte\n0012|Scanner cérébral\n", [("0012", "Scanner cérébral")]),
    # the parent's column is not the code's, though `code` is a word of its name
    ("parent_code,Exam code,Exam description\n,0012,CT head\n0012,1.10,CT head with contrast\n",
     [("0012", "CT head"), ("1.10", "CT head with contrast")]),
])
def test_init_recognises_the_columns_by_a_word_of_their_headers(tmp_path, export, codes):
    path = tmp_path / "export.csv"
    path.write_text(export, encoding="utf-8")
    r = run("mappings", "init", path, "--name", "k", "-o", tmp_path / "out", "--language", "de")
    assert r.exit_code == 0, r.output
    cs = orjson.loads((tmp_path / "out" / "codesystems" / "CodeSystem-k.json").read_bytes())

    def concepts(level):   # depth first: a child below its parent
        return [x for c in level for x in [(c["code"], c["display"]), *concepts(c.get("concept", []))]]
    assert concepts(cs["concept"]) == codes
    if export.startswith("parent_code"):
        assert [c["code"] for c in cs["concept"]] == ["0012"]     # 1.10 below 0012


@pytest.mark.parametrize("header,active,inactive", [
    ("Kod;Benämning;Aktiv", "ja", "nej"),                      # sv
    ("Kode;Betegnelse;Aktiv", "ja", "nej"),                    # da
    ("Tutkimuskoodi;Tutkimusnimi;Voimassa", "kyllä", "ei"),    # fi (the column names as compounds)
    ("Kód výkonu;Název výkonu;Platný", "ano", "ne"),           # cs
    ("Kód;Megnevezés;Érvényes", "igen", "nem"),                # hu
    ("ΚΩΔΙΚΟΣ;ΠΕΡΙΓΡΑΦΗ;ΕΝΕΡΓΟ", "ναι", "όχι"),                # el, in capitals
])
def test_init_reads_catalogue_headers_and_flags_in_the_newer_languages(tmp_path, header, active, inactive):
    path = tmp_path / "export.csv"
    path.write_text(f"{header}\n0012;DT thorax;{active}\n1.10;Rtg;{inactive.upper()}\n", encoding="utf-8")
    r = run("mappings", "init", path, "--name", "k", "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    cs = orjson.loads((tmp_path / "out" / "codesystems" / "CodeSystem-k.json").read_bytes())
    assert [(c["code"], c["display"]) for c in cs["concept"]] == [("0012", "DT thorax"), ("1.10", "Rtg")]
    inactive_of = {c["code"]: [p["valueBoolean"] for p in c.get("property", []) if p["code"] == "inactive"]
                   for c in cs["concept"]}
    assert inactive_of == {"0012": [], "1.10": [True]}


def test_init_does_not_guess_between_two_columns_that_could_be_the_display(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Leistungsnummer\tKurztext\tLangtext\n0012\tCT Kopf\tComputertomographie des Kopfes\n")
    r = run("mappings", "init", path, "--name", "k", "-o", tmp_path / "out")
    assert r.exit_code == 2 and not (tmp_path / "out").exists()
    assert "several columns could be the display column (Kurztext, Langtext); name it with --display-column" in r.output
    assert "no display column" not in r.output
    r = run("mappings", "init", path, "--name", "k", "-o", tmp_path / "out", "--display-column", "Langtext")
    assert r.exit_code == 0, r.output
    cs = orjson.loads((tmp_path / "out" / "codesystems" / "CodeSystem-k.json").read_bytes())
    assert [(c["code"], c["display"]) for c in cs["concept"]] == [("0012", "Computertomographie des Kopfes")]


def test_a_table_made_by_init_builds_and_is_reviewed_with_its_coverage(tmp_path, catalogue):
    folder = tmp_path / "tables"
    r = run("mappings", "init", catalogue, "--name", "es-proc", "-o", folder)
    assert r.exit_code == 0
    # without --target-scope / --target-system / --language: the output and the TOML say what to set
    assert ("set target_scope, target_system, language in es-proc.toml (or give --target-scope, --target-system,"
            " --language)") in r.output
    toml = (folder / "es-proc.toml").read_text()
    assert all(f"# set {key} = " in toml for key in ("target_scope", "target_system", "language"))
    text = run("mappings", "check", folder, "--no-db").output    # rows to map are warnings, not errors
    assert "5 codes, 0 mapped, 0 no-map, 5 nothing (0.0% covered)" in text and "0 error(s)" in text
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("mappings", str(folder))], preexpand=False)
    from termsvc.store.reader import Store
    (report,) = Store(db).mapping_reports()
    assert report["coverage"]["total"] == 5 and report["coverage"]["unmapped"] == 5 and report["errors"] == 0
    assert os.path.exists(db)


def test_init_takes_the_target_scope_and_system(tmp_path, catalogue):
    folder = tmp_path / "tables"
    vs = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_4.html"
    r = run("mappings", "init", catalogue, "--name", "es-proc", "-o", folder, "--target-scope", vs, "--language", "es")
    assert r.exit_code == 0 and "set " not in r.output
    t = read_table(str(folder / "es-proc.csv"))
    assert (t.meta["target_scope"], t.meta["target_system"], t.meta["language"]) == (vs, None, "es")


def test_the_text_report_names_the_first_50_unmapped_codes_and_counts_the_rest(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "many.csv").write_text("source_code,target_code,status\n" + "".join(f"C{i},,draft\n" for i in range(60)),
                                     encoding="utf-8")
    (folder / "many.toml").write_text(f'url = "http://ex.test/cm/many"\nsource_system = "http://ex.test/cs"\n'
                                      f'target_system = "{EU}"\n', encoding="utf-8")
    (line,) = [x for x in run("mappings", "check", folder, "--no-db").output.splitlines() if "unmapped:" in x]
    assert line.startswith("  unmapped: C0 (pending), C1 (pending)")
    assert line.endswith("C49 (pending) and 10 more (--json lists them all)")
    assert len(check_json(folder, "--no-db")["tables"][0]["coverage"]["unmapped_codes"]) == 60
