"""The terminologist's whole flow, as a user runs it: a German (CSV from Excel) and a Spanish (XLSX)
catalogue export with codes that look like numbers (0012, 1.10) -> `mappings init` -> the target scope
set (an option, or a line in the TOML) -> `mappings suggest -o XLSX` -> rows accepted in the XLSX
(openpyxl, as Excel would) -> `mappings check` -> `termsvc build` -> $translate over HTTP."""
import json
import os
import shutil
import urllib.parse

import openpyxl
from click.testing import CliRunner

from termsvc.cli import cli

CID29 = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_29.html"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
BASE = "http://hospital.example/fhir"
GERMAN = ("Code;Bezeichnung;Aktiv\r\n0012;CT Schädel nativ;ja\r\n1.10;MRT Knie rechts;ja\r\n"
          "0020;Röntgen Thorax;ja\r\n0099;Altes Verfahren;nein\r\n")
SPANISH = [("0012", "TC CRÁNEO SIN CONTRASTE"), (1.1, "RM RODILLA DERECHA"), ("0015", "ECOGRAFÍA ABDOMINAL")]


def run(*args) -> tuple[int, str]:
    r = CliRunner().invoke(cli, [*map(str, args)])
    return r.exit_code, r.output


def spanish_export(path) -> None:
    """As a Spanish department's Excel holds it: 1.10 a number shown with two decimals."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Código", "Descripción"])
    for code, display in SPANISH:
        ws.append([code, display])
    ws.cell(3, 1).number_format = "0.00"
    wb.save(path)


def accept(xlsx, decisions: dict) -> None:
    """The reviewer's edit in Excel: {source code: target code (None: the suggestion as it is)}."""
    wb = openpyxl.load_workbook(xlsx)
    ws = wb["mappings"]
    col = {c.value: c.column for c in ws[1]}
    for row in range(2, ws.max_row + 1):
        code = ws.cell(row, col["source_code"]).value
        if code in decisions:
            if decisions[code]:
                ws.cell(row, col["target_code"]).value = decisions[code]
                ws.cell(row, col["target_display"]).value = None
            ws.cell(row, col["relationship"]).value = "equivalent"
            ws.cell(row, col["status"]).value = "accepted"
            ws.cell(row, col["reviewer"]).value = "jo"
    wb.save(xlsx)


def translate(srv, table: str, code: str) -> list:
    query = urllib.parse.urlencode({"url": f"{BASE}/ConceptMap/{table}", "system": f"{BASE}/CodeSystem/{table}",
                                    "sourceCode": code})
    status, body, _ = srv.get(f"/fhir/ConceptMap/$translate?{query}")
    assert status == 200, body
    result = next(p["valueBoolean"] for p in body["parameter"] if p["name"] == "result")
    matches = [p for p in body["parameter"] if p["name"] == "match"]
    return [result] + [next(x["valueCoding"]["code"] for x in m["part"] if x["name"] == "concept") for m in matches]


def test_from_catalogue_exports_to_translate_over_http(tmp_path, db_path, server_factory):
    tables, review = tmp_path / "tables", tmp_path / "review"
    review.mkdir()
    (tmp_path / "kat.csv").write_bytes(GERMAN.encode("cp1252"))
    spanish_export(tmp_path / "catalogo.xlsx")
    # init: the German one without a scope (told what to set), the Spanish one with it
    code, out = run("mappings", "init", tmp_path / "kat.csv", "--name", "de-kat", "-o", tables, "--language", "de",
                    "--base-url", BASE)
    assert code == 0 and "3 row(s) to map" in out and "set target_scope, target_system in de-kat.toml" in out
    code, out = run("mappings", "init", tmp_path / "catalogo.xlsx", "--name", "es-cat", "-o", tables, "--language",
                    "es", "--base-url", BASE, "--target-scope", CID29, "--target-system", DCM)
    assert code == 0 and "3 row(s) to map" in out and "set " not in out
    code, out = run("mappings", "check", tables, "--no-db")
    assert code == 0 and out.count("0.0% covered") == 2, out
    with open(tables / "de-kat.toml", "a", encoding="utf-8") as f:     # the scope, set by hand
        f.write(f'target_scope = "{CID29}"\ntarget_system = "{DCM}"\n')
    # the German table lost a row (0020 deleted by mistake): suggest still asks for it, as a new row
    csv_path = tables / "de-kat.csv"
    csv_path.write_bytes(b"".join(line for line in csv_path.read_bytes().splitlines(keepends=True)
                                  if not line.startswith(b"0020;")))
    code, out = run("mappings", "suggest", "de-kat", "--mappings", tables, "--no-default-mappings", "--db", db_path,
                    "--json")
    rows = json.loads(out)["rows"]
    assert [(r["row"], r["source_code"], r["candidates"][0]["code"]) for r in rows] == [
        (2, "0012", "CT"), (3, "1.10", "MR"), (None, "0020", "DX")]
    # suggest -o XLSX, the reviewer accepts in Excel, the XLSX replaces the CSV in the folder
    for name, decisions in (("de-kat", {"0012": None, "0020": "CR"}), ("es-cat", {"0012": None, "1.10": None})):
        xlsx = review / f"{name}.xlsx"
        code, out = run("mappings", "suggest", name, "--mappings", tables, "--no-default-mappings", "--db", db_path,
                        "-o", xlsx)
        assert code == 0 and "3 suggested row(s) as draft" in out, out
        accept(xlsx, decisions)
        os.remove(tables / f"{name}.csv")
        shutil.copy(xlsx, tables / f"{name}.xlsx")
    wb = openpyxl.load_workbook(tables / "es-cat.xlsx")["mappings"]
    assert [wb.cell(r, 1).value for r in range(2, 5)] == ["0012", "1.10", "0015"]   # codes still text
    code, out = run("mappings", "check", tables, "--db", db_path)
    assert code == 0 and "0 error(s)" in out, out
    assert "3 codes, 2 mapped, 0 no-map, 1 nothing (66.7% covered)" in out      # each table: 2 of 3 accepted
    assert out.count("(66.7% covered)") == 2
    built = str(tmp_path / "built.db")
    code, out = run("build", "--db", built, "--quiet", "--no-default-mappings", "--mappings", tables)
    assert code == 0 and os.path.exists(built), out
    srv = server_factory(built)
    assert translate(srv, "de-kat", "0012") == [True, "CT"]
    assert translate(srv, "de-kat", "0020") == [True, "CR"]             # the reviewer's pick, not the suggestion
    assert translate(srv, "de-kat", "1.10")[0] is False                  # still a draft: not served
    assert translate(srv, "es-cat", "1.10") == [True, "MR"] and translate(srv, "es-cat", "1.1")[0] is False
    assert translate(srv, "es-cat", "0012") == [True, "CT"] and translate(srv, "es-cat", "12")[0] is False
