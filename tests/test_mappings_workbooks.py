"""The spreadsheets terminologists send: a workbook with a sheet per language (or modality) read as one table,
its rows `Sheet!row`, from the check through the build to the review page and $translate; total rows of a CSV
said as an XLSX's are; codes a spreadsheet program changed before the CSV was saved (a date, lost leading or
trailing zeros) warned of on their rows and read as written. The tests write every file."""
import io
import json
import urllib.parse

import openpyxl
import orjson
import pytest
from click.testing import CliRunner

from termsvc.api.app import create_app
from termsvc.build import SourceSpec, build
from termsvc.cli import cli
from termsvc.mappings.codesystems import from_catalogue
from termsvc.mappings.reading import SheetRow
from termsvc.mappings.table import read_table
from test_mappings import write_table

LOCAL = "http://ex.test/cs/local"
EU = "http://ex.test/cs/eu"
TOML = (f'url = "http://ex.test/cm/imaging"\ntitle = "Imaging"\nstatus = "active"\nsource_system = "{LOCAL}"\n'
        f'target_system = "{EU}"\n')
HEADER = ["source_code", "source_display", "target_code", "relationship", "status"]


def imaging_workbook(folder, other_columns: bool = False) -> str:
    """imaging.xlsx: a README, a sheet `de`, a sheet `fr` of the same columns in another order, a `Legende`,
    and (when `other_columns`) a sheet `CT Kopf` with a column more."""
    folder.mkdir(exist_ok=True)
    wb = openpyxl.Workbook()
    wb.active.title = "README"
    wb.active.append(["Mapping der Untersuchungen, eine Sprache je Blatt"])
    de = wb.create_sheet("de")
    de.append(["Radiologie – Stand 2026"])     # a title above the header: said, not read
    de.append(HEADER)
    de.append(["A1", "Thorax", "X1", "equivalent", "accepted"])
    de.append(["A2", "Abdomen", "X2", "sortof", "accepted"])
    fr = wb.create_sheet("fr")
    fr.append(["source_display", "status", "source_code", "relationship", "target_code"])
    fr.append(["Thorax (fr)", "accepted", "B1", "equivalent", "X1"])
    fr.append(["Crâne", "accepted", "B2", "equivalent", "X3"])
    fr["C3"].number_format = "General"
    fr["C3"].value = 12                         # a code typed into a number cell
    fr.row_dimensions[2].hidden = True          # (fr's layout, read from fr's XML)
    if other_columns:
        ct = wb.create_sheet("CT Kopf")
        ct.append(HEADER + ["Bemerkung"])
        ct.append(["C1", "Kopf", "X3", "equivalent", "accepted", "nativ"])
    wb.create_sheet("Legende").append(["X = ja"])
    wb.save(folder / "imaging.xlsx")
    (folder / "imaging.toml").write_text(TOML, encoding="utf-8")
    return str(folder / "imaging.xlsx")


def check(path) -> tuple[int, dict, str]:
    runner = CliRunner()
    as_json = runner.invoke(cli, ["mappings", "check", str(path), "--no-db", "--json"])
    text = runner.invoke(cli, ["mappings", "check", str(path), "--no-db"])
    assert as_json.exit_code == text.exit_code
    return as_json.exit_code, json.loads(as_json.output)["tables"][0], text.output


def test_sheets_of_the_same_columns_are_one_table_their_rows_named_sheet_and_row(tmp_path):
    path = imaging_workbook(tmp_path / "maps")
    t = read_table(path)
    assert [(str(r.row), r.source_code, r.source_display, r.target_code) for r in t.rows] == [
        ("de!3", "A1", "Thorax", "X1"), ("de!4", "A2", "Abdomen", "X2"),
        ("fr!2", "B1", "Thorax (fr)", "X1"), ("fr!3", "12", "Crâne", "X3")]   # fr's columns in de's order
    assert t.columns == HEADER
    code, table, text = check(path)
    assert code == 1 and table["rows"] == 4
    problems = [(p["row"], p["level"], p["kind"]) for p in table["problems"]]
    assert problems == [(None, "warning", "read-sheets"), ("de!1", "warning", "above-header"),
                        ("de!4", "error", "unknown-relationship"), ("fr!2", "warning", "hidden-row"),
                        ("fr!3", "warning", "typed-cell")]
    assert table["problems"][0]["message"] == ("the sheets de, fr have the same columns and are read as one table"
                                               " (rows named Sheet!row); not read: README, Legende (no source_code"
                                               " column)")
    assert "imaging.xlsx:de!4: error: unknown-relationship [relationship]: unknown relationship 'sortof'" in text
    assert "imaging.xlsx:fr!3: warning: typed-cell [source_code]: source_code is a number cell, read as '12'" in text


def test_a_sheet_of_other_columns_is_refused_naming_how_they_differ(tmp_path):
    path = imaging_workbook(tmp_path / "maps", other_columns=True)
    code, table, text = check(path)
    assert code == 1 and table["rows"] == 4      # de and fr read; CT Kopf not
    (unread,) = [p for p in table["problems"] if p["kind"] == "unread-sheet"]
    assert unread["level"] == "error" and unread["message"].startswith(
        "the sheet CT Kopf also has a source_code column, but other columns than de (also bemerkung): it is not read")
    assert "imaging.xlsx: error: unread-sheet: the sheet CT Kopf" in text


def test_a_row_of_a_sheet_orders_and_names_itself_as_a_spreadsheet_does():
    rows = [SheetRow(1, "fr", 2), SheetRow(0, "de", 10), SheetRow(2, "CT Kopf", 3), SheetRow(0, "de", 9)]
    assert [str(r) for r in sorted(rows)] == ["de!9", "de!10", "fr!2", "'CT Kopf'!3"]
    assert f"{rows[0]}" == "fr!2" and rows[0].number == 2 and SheetRow(0, "de", 9) != SheetRow(1, "fr", 9)
    assert SheetRow.at(int(rows[2]), "CT Kopf") == rows[2] and str(SheetRow.at(int(rows[2]), "CT Kopf")) == "'CT Kopf'!3"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A build of the workbook's table (with its code systems), and the app serving it."""
    d = tmp_path_factory.mktemp("sheets")
    content = d / "content"
    content.mkdir()
    for i, (url, codes) in enumerate(((LOCAL, ["A1", "A2", "B1", "12"]), (EU, ["X1", "X2", "X3"]))):
        (content / f"cs{i}.json").write_bytes(orjson.dumps({
            "resourceType": "CodeSystem", "url": url, "status": "active", "content": "complete",
            "concept": [{"code": c, "display": c} for c in codes]}))
    imaging_workbook(d / "maps")
    db = str(d / "t.db")
    build(db, [SourceSpec("fhir", str(content)), SourceSpec("mappings", str(d / "maps"), {"allow_errors": True})],
          preexpand=False)
    return create_app(db).test_client()


def test_a_workbook_of_sheets_is_built_served_and_reviewed_by_its_sheets_rows(served):
    query = urllib.parse.urlencode({"url": "http://ex.test/cm/imaging", "system": LOCAL, "sourceCode": "B1"})
    r = served.get("/fhir/ConceptMap/$translate?" + query)
    assert r.status_code == 200
    params = {p["name"]: p for p in r.get_json()["parameter"]}
    assert params["result"]["valueBoolean"] is True    # a row of the second sheet, served
    html = served.get("/mappings/imaging", headers={"Accept": "text/html"}).get_data(as_text=True)
    shown = [part.split('"', 1)[0] for part in html.split('<tr id="row-')[1:]]
    assert shown == ["de!3", "de!4", "fr!2", "fr!3"]
    de4 = html.split('<tr id="row-de!4"', 1)[1].split('<tr id="row-', 1)[0]
    assert "unknown relationship &#39;sortof&#39;" in de4 or "unknown relationship 'sortof'" in de4
    fr3 = html.split('<tr id="row-fr!3"', 1)[1]
    assert "typed-cell [source_code]: source_code is a number cell" in fr3
    workbook = served.get("/mappings/imaging.xlsx")
    assert workbook.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(workbook.data))   # downloaded on its sheets, as it was read
    assert wb.sheetnames == ["de", "fr", "metadata"]
    assert [row[0] for row in wb["de"].iter_rows(min_row=2, values_only=True)] == ["A1", "A2"]
    header = next(wb["fr"].iter_rows(max_row=1, values_only=True))
    assert [row[header.index("source_code")] for row in wb["fr"].iter_rows(min_row=2, values_only=True)] == ["B1", "12"]


# -- total rows -------------------------------------------------------------------------------------------------
def test_total_rows_of_a_csv_are_said_not_read_as_mappings_in_the_languages_they_come_in(tmp_path):
    write_table(tmp_path, "t", "source_code;source_display;target_code;relationship;status\r\n"
                               "A1;Thorax;X1;equivalent;accepted\r\n"
                               "TOTAL;Total body CT;X2;equivalent;accepted\r\n"       # a code, not a total
                               "Total;;2;;\r\n"
                               ";Summe:;2\r\n"
                               "Totale generale: 2;;;;\r\n"
                               "Total general;2;1;;\r\n"
                               "Totaal;twee;;;\r\n")                                   # no counts: a row
    t = read_table(str(tmp_path / "t.csv"))
    assert [(r.row, r.source_code) for r in t.rows] == [(2, "A1"), (3, "TOTAL"), (8, "Totaal")]
    totals = [(p.row, p.level, p.message) for p in t.problems if p.kind == "total-row"]
    assert totals == [(4, "warning", "the row is a total ('Total' with counts), not read as a mapping: Total | 2"),
                      (5, "warning", "the row is a total ('Summe:' with counts), not read as a mapping: Summe: | 2"),
                      (6, "warning", "the row is a total ('Totale generale: 2' with counts), not read as a mapping:"
                                     " Totale generale: 2"),
                      (7, "warning", "the row is a total ('Total general' with counts), not read as a mapping:"
                                     " Total general | 2 | 1")]


def test_a_total_row_is_one_rule_for_a_csv_an_xlsx_and_a_catalogue(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["Code", "Bezeichnung"])
    wb.active.append(["0012", "Thorax"])
    wb.active.append(["Gesamt", 1])               # a total typed as a value (no formula)
    wb.save(tmp_path / "k.xlsx")
    (tmp_path / "k.csv").write_bytes("Code;Bezeichnung\r\n0012;Thorax\r\nGesamt;1\r\n".encode("cp1252"))
    for name in ("k.xlsx", "k.csv"):
        cat = from_catalogue(str(tmp_path / name), "k")
        assert [c.code for c in cat.concepts] == ["0012"]
        assert [(p.row, p.kind, p.message) for p in cat.problems] == [
            (3, "total-row", "the row is a total ('Gesamt' with counts), not read as a code: Gesamt | 1")]


# -- codes a spreadsheet program changed ---------------------------------------------------------------------
def test_codes_a_spreadsheet_mangled_before_the_csv_was_saved_are_warned_of_and_read_as_written(tmp_path):
    write_table(tmp_path / "maps", "t", "source_code,target_code,relationship,status\n"
                "0011,1.10,equivalent,accepted\n"
                "12,1.20,equivalent,accepted\n"           # 0012 lost its leading zeros
                "0013,1.3,equivalent,accepted\n"          # 1.30 lost its trailing zero
                "0014,2,equivalent,accepted\n"            # 2.00 lost its decimals
                "01.02.2023,1.50,equivalent,accepted\n"   # 1.2.2023 (or 1-2) taken for a date
                "1-Feb,1.60,equivalent,accepted\n"        # 1-2 taken for a date
                "2023-02-01,1.70,equivalent,accepted\n"
                "0018,1.80,equivalent,accepted\n")
    t = read_table(str(tmp_path / "maps" / "t.csv"))
    assert [r.source_code for r in t.rows] == ["0011", "12", "0013", "0014", "01.02.2023", "1-Feb", "2023-02-01",
                                               "0018"]   # read as written
    said = [(p.row, p.level, p.column, p.message.split(";")[0]) for p in t.problems if p.kind == "typed-cell"]
    assert said == [
        (3, "warning", "source_code", "source_code '12' is shorter than the column's codes of 4 digits: it may have"
                                      " lost its leading zeros (0012?) when a spreadsheet program took it for a number"),
        (4, "warning", "target_code", "target_code '1.3' has fewer decimals than the column's codes (2): it may have"
                                      " lost trailing zeros (1.30?) when a spreadsheet program took it for a number"),
        (5, "warning", "target_code", "target_code '2' is a whole number where the column's codes have 2 decimals: it"
                                      " may have lost them (2.00?) when a spreadsheet program took it for a number"),
        (6, "warning", "source_code", "source_code '01.02.2023' is a date (dd.mm.yyyy) where the column's other codes"
                                      " are not: a spreadsheet program may have taken the code typed for a date"),
        (7, "warning", "source_code", "source_code '1-Feb' is a date as a spreadsheet program shows one: it may have"
                                      " taken the code typed for a date"),
        (8, "warning", "source_code", "source_code '2023-02-01' is a date (yyyy-mm-dd) where the column's other codes"
                                      " are not: a spreadsheet program may have taken the code typed for a date")]
    r = CliRunner().invoke(cli, ["mappings", "check", str(tmp_path / "maps"), "--no-db"])
    assert r.exit_code == 0      # warnings: the check passes
    assert "t.csv:3: warning: typed-cell [source_code]: source_code '12' is shorter" in r.output


def test_columns_of_codes_that_vary_by_nature_are_not_suspected(tmp_path):
    write_table(tmp_path, "t", "source_code,target_code,relationship,status\n"
                "CT-1,71651007,equivalent,accepted\n"       # SNOMED CT ids: no leading zeros, lengths vary
                "12,399208008,equivalent,accepted\n"
                "123,1.5,equivalent,accepted\n"              # decimals without a trailing zero: no pattern lost
                "1.25,24604-1,equivalent,accepted\n"
                "MAR,2.75,equivalent,accepted\n")
    t = read_table(str(tmp_path / "t.csv"))
    assert not [p for p in t.problems if p.kind == "typed-cell"]


def test_a_catalogue_export_s_mangled_codes_are_warned_of_by_the_same_rule(tmp_path):
    (tmp_path / "k.csv").write_text("Code;Bezeichnung;Parent\n0011;Thorax;\n12;Abdomen;0011\n0013;Kopf;0011\n"
                                    "2-Mär;Hals;\n", encoding="utf-8")
    cat = from_catalogue(str(tmp_path / "k.csv"), "k")
    assert [c.code for c in cat.concepts] == ["0011", "12", "0013", "2-Mär"]
    assert [(p.row, p.kind, p.source_code, p.message.split(" ", 2)[1]) for p in cat.problems] == [
        (3, "typed-cell", "12", "'12'"), (5, "typed-cell", "2-Mär", "'2-Mär'")]
