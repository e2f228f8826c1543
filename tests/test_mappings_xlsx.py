"""Mapping tables as XLSX both ways: every documented XLSX layout builds, and `termsvc mappings
export --format xlsx|csv|r5|r4` writes what a terminologist opens in Excel (and reads back as the
same table)."""
import datetime

import openpyxl
import pytest
from click.testing import CliRunner

from termsvc.build import build
from termsvc.cli import cli
from termsvc.mappings.lint import check
from termsvc.mappings.table import read_table
from termsvc.store.reader import Store
from test_mappings import EU, LOCAL, TOML, write_table
from test_mappings_build import content, matches, sources, translate  # noqa: F401  (content: a fixture)

ROWS = [["source_code", "source_display", "target_code", "target_display", "relationship", "status", "urv",
         "Sección"],
        [12, "Tórax", "X1", "Ex one", "wider", "accepted", 1.1, "Radiología"],
        ["1.10", "Abdomen", "X2", "Ex two", "equivalent", "draft", "2.50", None],
        ["0045", "Cabeza", "X3", "Ex three", "equivalent", "accepted", 3, "TC"]]
META = [("url", "http://ex.test/cm/x"), ("title", "From Excel"), ("source_system", LOCAL), ("target_system", EU),
        ("target_scope", "http://ex.test/vs/eu-scope"), ("dicom_attributes", "StudyDescription, (0032,1060)")]


def workbook(path, sheets: list, metadata=None, metadata_header=True, metadata_first=False):
    """An XLSX with the mapping rows on the sheets named in `sheets` ("*": the rows; else an empty
    sheet) and, given, a metadata sheet."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    if metadata is not None and metadata_first:
        _metadata(wb, metadata, metadata_header)
    for name in sheets:
        ws = wb.create_sheet(name.lstrip("*"))
        if name.startswith("*"):
            for row in ROWS:
                ws.append(row)
            ws["A2"].number_format = "0000"     # 12 shown as 0012
            ws["G2"].number_format = "0.00"     # 1.1 shown as 1.10
    if metadata is not None and not metadata_first:
        _metadata(wb, metadata, metadata_header)
    wb.save(path)
    return str(path)


def _metadata(wb, metadata, header):
    ws = wb.create_sheet("metadata")
    if header:
        ws.append(["key", "value"])
    for k, v in metadata:
        ws.append([k, v])


LAYOUTS = {
    # name -> (sheets, metadata sheet rows or None, TOML or None, metadata options)
    "mappings-sheet-and-toml": (["notes", "*mappings"], None, True, {}),
    "first-sheet-and-toml": (["*Hoja1"], None, True, {}),
    "metadata-sheet-no-toml": (["*mappings"], META, False, {}),
    "metadata-sheet-first-no-header": (["*Datos"], META, False, {"metadata_header": False, "metadata_first": True}),
    "metadata-sheet-and-toml": (["*mappings"], [("url", "http://ex.test/cm/from-sheet"), ("title", "Sheet title")],
                                True, {}),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_documented_xlsx_layout_builds(layout, tmp_path, content):   # noqa: F811
    sheets, metadata, toml, options = LAYOUTS[layout]
    folder = tmp_path / "maps"
    folder.mkdir()
    workbook(folder / "x.xlsx", sheets, metadata, **options)
    if toml:
        (folder / "x.toml").write_text(TOML.format(name="x"), encoding="utf-8")
    t = read_table(str(folder / "x.xlsx"))
    assert [r.source_code for r in t.rows] == ["0012", "1.10", "0045"]
    assert [r.extras["urv"] for r in t.rows] == ["1.10", "2.50", "3"]
    assert check([str(folder)]).errors == 0
    db = str(tmp_path / "t.db")
    build(db, sources(content, folder), preexpand=False)
    url = "http://ex.test/cm/x"     # the TOML's, or the sheet's when there is no TOML
    assert Store(db).mapping_table(url) is not None
    if layout == "metadata-sheet-and-toml":
        assert t.meta["title"] == "Test table"      # the TOML wins on a key both give
    if metadata is META:
        assert t.meta["dicom_attributes"] == ["StudyDescription", "RequestedProcedureDescription"]
    from termsvc.api.app import create_app
    client = create_app(db).test_client()
    assert [m["concept"]["code"] for m in matches(translate(client, "0012"))] == ["X1"]


def test_an_xlsx_of_only_a_metadata_sheet_is_unreadable_not_a_crash(tmp_path):
    path = workbook(tmp_path / "x.xlsx", [], META)
    t = read_table(path)
    (unreadable,) = t.errors
    assert not t.usable and unreadable.kind == "unreadable" and "only a 'metadata' sheet" in unreadable.message


def test_cells_whose_text_may_not_be_what_was_typed_are_reported_on_their_rows(tmp_path):
    """Codes stored as numbers or dates (leading zeros gone), numbers past 15 digits, error values and
    formulas no spreadsheet program computed: each a problem of its row, never a silent code."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "mappings"
    ws.append(["source_code", "source_display", "target_code", "relationship", "status"])
    ws.append([12, "number, General format", 399208008, "equivalent", "accepted"])   # 2
    ws.append([1.1, "decimal number", "X1", "equivalent", "accepted"])                # 3
    ws.append(["0045", "text", 1.5, "equivalent", "accepted"])                        # 4
    ws.append([9.00000000000207e17, "18 digits as a number", "X1", "equivalent", "accepted"])   # 5
    ws.append([datetime.datetime(2026, 1, 2), "1-2 taken for a date", "X1", "equivalent", "accepted"])  # 6
    ws.append(["MR", "error value", "X1", "equivalent", "accepted"])                  # 7
    ws["C7"].value, ws["C7"].data_type = "#N/A", "e"
    ws.append(['=A4&""', "formula without a saved value", "X1", "equivalent", "accepted"])   # 8
    ws.append([45, "number shown as 0045", "X1", "equivalent", "accepted"])           # 9
    ws["A9"].number_format = "0000"
    wb.save(tmp_path / "typed.xlsx")
    (tmp_path / "typed.toml").write_text(TOML.format(name="typed"), encoding="utf-8")
    t = read_table(str(tmp_path / "typed.xlsx"))
    problems = {(p.row, p.level, p.kind, p.column) for p in t.problems if p.kind in ("typed-cell", "invalid-cell")}
    assert problems == {(2, "warning", "typed-cell", "source_code"), (3, "warning", "typed-cell", "source_code"),
                        (4, "warning", "typed-cell", "target_code"), (5, "error", "invalid-cell", "source_code"),
                        (6, "warning", "typed-cell", "source_code"), (7, "error", "invalid-cell", "target_code"),
                        (8, "error", "invalid-cell", "source_code")}
    by_row = {r.row: r for r in t.rows}
    assert (by_row[2].source_code, by_row[2].target_code, by_row[9].source_code) == ("12", "399208008", "0045")
    r = CliRunner().invoke(cli, ["mappings", "check", "--no-db", "--no-default-mappings", str(tmp_path / "typed.xlsx")])
    assert r.exit_code == 1
    assert "typed.xlsx:2: warning: typed-cell [source_code]: source_code is a number cell, read as '12'" in r.output
    assert "typed.xlsx:5: error: invalid-cell [source_code]: source_code is the number 9.00000000000207e+17" in r.output
    assert "typed.xlsx:7: error: invalid-cell [target_code]: target_code holds the spreadsheet error #N/A" in r.output
    assert "typed.xlsx:8: error: invalid-cell [source_code]: source_code is the formula =A4&\"\" with no saved value" \
        in r.output


def test_the_table_is_found_below_a_title_and_on_a_later_sheet(tmp_path):
    """Rows above the header (a title, a merged group heading) are reported, not read as mappings; a
    sheet of notes before the table's sheet is passed over."""
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Notas"
    notes.append(["Catálogo del servicio de radiología, revisado 2026"])
    ws = wb.create_sheet("Tabla")
    ws.append(["Catálogo de procedimientos"])
    ws.append(["Origen", None, "Destino", None])
    ws.merge_cells("A2:B2")
    ws.merge_cells("C2:D2")
    ws.append(["Source code", "Source display", "Target code", "Relationship"])
    ws.append(["0012", "Tórax", "X1", "equivalent"])
    wb.save(tmp_path / "titled.xlsx")
    (tmp_path / "titled.toml").write_text(TOML.format(name="titled"), encoding="utf-8")
    t = read_table(str(tmp_path / "titled.xlsx"))
    assert not t.errors and t.columns == ["Source code", "Source display", "Target code", "Relationship"]
    assert [(r.row, r.source_code, r.target_code) for r in t.rows] == [(4, "0012", "X1")]
    assert [(p.row, p.level, p.kind) for p in t.problems if p.kind == "above-header"] == \
        [(1, "warning", "above-header"), (2, "warning", "above-header")]
    assert t.problems[1].message.endswith("not read as a mapping: Catálogo de procedimientos")
    assert t.problems[0].message == "the sheet Tabla is read; not read: Notas (no source_code column)"


def test_a_sheet_stretched_by_formatting_is_read_to_its_last_cell_holding_something(tmp_path, monkeypatch):
    """A range of rows formatted as text makes a sheet's dimensions a million rows: the empty ones are
    not read (each cell rendered costs; 300,000 rows took ~9 s)."""
    from termsvc.mappings import workbook
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "mappings"
    ws.append(["source_code", "target_code", "relationship"])
    ws.append(["0012", "X1", "equivalent"])
    ws.cell(300_000, 3).number_format = "@"
    wb.save(tmp_path / "tall.xlsx")
    (tmp_path / "tall.toml").write_text(TOML.format(name="tall"), encoding="utf-8")
    rendered = []
    real = workbook.render_xlsx_cell
    monkeypatch.setattr(workbook, "render_xlsx_cell", lambda cell: rendered.append(cell) or real(cell))
    t = read_table(str(tmp_path / "tall.xlsx"))
    assert [(r.row, r.source_code) for r in t.rows] == [(2, "0012")] and not t.errors
    assert len(rendered) == 6    # the 2 rows x 3 columns holding something


def export(*args):
    return CliRunner().invoke(cli, ["mappings", "export", *map(str, args)])


def test_xlsx_export_is_made_for_excel(tmp_path):
    folder = tmp_path / "maps"
    write_table(folder, "t", "source_code,source_display,target_code,relationship,no_map,status,comment,a_long_extra\n"
                "0012,Radiografía de tórax PA y lateral,X1,wider,,accepted,,1.10\n"
                "CONS,Consulta,,,yes,rejected,no imaging,=1+1\n")
    out = tmp_path / "t.xlsx"
    r = export("t", "--mappings", folder, "--no-default-mappings", "-o", out)   # the format from the suffix
    assert r.exit_code == 0, r.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["mappings", "metadata"]
    ws = wb["mappings"]
    assert ws.freeze_panes == "A2"
    assert all(c.font.bold for c in ws[1])
    assert [c.value for c in ws[2]] == ["0012", "Radiografía de tórax PA y lateral", "X1", "wider", None, "accepted",
                                        None, "1.10"]
    assert ws["H3"].value == "=1+1" and ws["H3"].data_type == "s"      # text, never a formula
    assert all(c.data_type == "s" and c.number_format == "@" for row in ws.iter_rows(min_row=2) for c in row
               if c.value is not None)
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    assert widths["B"] == len("Radiografía de tórax PA y lateral") + 2 and widths["C"] == len("target_code") + 2
    validations = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    assert set(validations) == {"D2", "E2", "F2"}          # relationship, no_map, status
    assert validations["F2"].formula1 == '"draft,in-review,accepted,rejected"'
    assert "wider" in validations["D2"].formula1 and "source-is-narrower-than-target" in validations["D2"].formula1
    assert validations["E2"].formula1 == '"yes,no"' and validations["D2"].errorStyle == "warning"
    rules = [(str(cf.sqref), rule.formula[0], rule.dxf.fill.bgColor.rgb) for cf in ws.conditional_formatting
             for rule in cf.rules]
    assert {(sqref.split(":")[0], formula) for sqref, formula, _ in rules} == {
        ("F2", '"accepted"'), ("F2", '"in-review"'), ("F2", '"draft"'), ("F2", '"rejected"')}
    assert len({colour for _, _, colour in rules}) == 4
    meta = dict(wb["metadata"].iter_rows(values_only=True))
    assert meta["url"] == "http://ex.test/cm/t" and meta["key"] == "value"


def test_xlsx_build_export_xlsx_keeps_every_cell_and_extra_column(tmp_path, content):   # noqa: F811
    folder = tmp_path / "maps"
    folder.mkdir()
    original = workbook(folder / "x.xlsx", ["*mappings"], META)
    db = str(tmp_path / "t.db")
    build(db, sources(content, folder), preexpand=False)
    out = tmp_path / "back" / "x.xlsx"
    out.parent.mkdir()
    r = export("x", "--db", db, "--format", "xlsx", "-o", out)
    assert r.exit_code == 0, r.output
    before, after = read_table(original), read_table(str(out))
    assert after.columns == before.columns == [str(h) for h in ROWS[0]]
    assert [r.cells for r in after.rows] == [r.cells for r in before.rows]
    assert [r.row for r in after.rows] == [2, 3, 4]
    assert {k: v for k, v in after.meta.items() if v} == {k: v for k, v in before.meta.items() if v}
    assert after.rows[0].cells["source_code"] == "0012" and after.rows[0].cells["urv"] == "1.10"
    # and it builds again, without a TOML, into the same table
    db2 = str(tmp_path / "t2.db")
    build(db2, sources(content, out.parent), preexpand=False)
    assert Store(db2).mapping_table("x") == Store(db).mapping_table("x")


def test_csv_export_keeps_the_encoding_it_was_read_with_unless_asked(tmp_path):
    folder = tmp_path / "maps"
    text = "source_code;source_display;target_code;relationship;status\n0012;Radiografía;X1;wider;accepted\n"
    write_table(folder, "t", text, encoding="cp1252")
    args = ["t", "--mappings", folder, "--no-default-mappings", "--format", "csv"]
    r = CliRunner().invoke(cli, ["mappings", "export", *map(str, args)])
    assert r.stdout_bytes == text.encode("cp1252")       # as read: Windows-1252, its delimiter, LF
    r = CliRunner().invoke(cli, ["mappings", "export", *map(str, args), "--encoding", "utf-8-sig"])
    assert r.stdout_bytes == b"\xef\xbb\xbf" + text.encode("utf-8")
    out = tmp_path / "t.csv"
    assert export(*args, "--encoding", "cp1252", "-o", out).exit_code == 0
    assert out.read_bytes().decode("cp1252").splitlines()[1] == "0012;Radiografía;X1;wider;accepted"
    assert export(*args, "--encoding", "utf-8", "-o", out).exit_code == 0
    assert not out.read_bytes().startswith(b"\xef\xbb\xbf")
    write_table(folder, "u", "source_code,source_display,target_code,relationship\nW,Łódź,X1,equivalent\n")
    r = export("u", "--mappings", folder, "--format", "csv", "--encoding", "cp1252")
    assert r.exit_code == 2 and "line 2: 'Ł' cannot be written in cp1252" in r.output
    assert export("u", "--mappings", folder, "--format", "csv", "--encoding", "klingon").exit_code == 2


def test_a_table_with_row_errors_exports_as_a_spreadsheet_not_as_a_concept_map(tmp_path):
    folder = tmp_path / "maps"
    write_table(folder, "t", "source_code,target_code,relationship\nA,X1,sortof\nB,X2,equivalent\n")
    r = export("t", "--mappings", folder, "--format", "csv", "--encoding", "utf-8")
    assert r.exit_code == 0 and r.output.splitlines()[1] == "A,X1,sortof"    # to be fixed in the spreadsheet
    r = export("t", "--mappings", folder, "--format", "r4")
    assert r.exit_code == 1 and "t.csv:2: unknown relationship 'sortof'" in r.output
    r = export("t", "--mappings", folder, "--format", "r5", "--accepted-only")
    assert r.exit_code == 1
    write_table(folder, "m", "source_code;target_code;relationship;comment\nA;X1;equivalent;one; two\n")
    r = export("m", "--mappings", folder, "--format", "xlsx", "-o", tmp_path / "m.xlsx")
    assert r.exit_code == 1 and "m.csv:2" in r.output      # a row that could not be read would be lost
