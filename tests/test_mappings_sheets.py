"""What terminologists' spreadsheets hold, read by the one reader of mapping tables and catalogue exports
(termsvc.mappings.reading): codes typed into number or date cells, titles above the header (XLSX and CSV),
apostrophes, non-breaking and zero-width characters, ... - each read as written or reported on the row
Excel shows it on, never a code silently changed. End to end through `termsvc mappings check` and
`termsvc mappings init`, on files the tests write."""
import datetime
import json

import openpyxl
import orjson
import pytest
from click.testing import CliRunner

from termsvc.cli import cli
from termsvc.mappings.codesystems import from_catalogue
from termsvc.mappings.workbook import total_formula
from termsvc.mappings.table import read_table
from test_mappings import TOML, write_table

# the cells a spreadsheet turns into something else than what was typed, and what it says of each
TYPED = [  # (cell, number format or None, the text read, level, kind)
    (12, None, "12", "warning", "typed-cell"),                         # typed 0012 into a General cell
    (1.1, None, "1.1", "warning", "typed-cell"),                       # typed 1.10
    (datetime.datetime(2024, 3, 1), None, "2024-03-01", "warning", "typed-cell"),   # typed 1-3 or MAR1
    (1234567890123456789, None, None, "error", "invalid-cell"),        # past 15 digits: the last ones are gone
    ("#N/A", "error", None, "error", "invalid-cell"),                  # an error value
    ("=A1&\"1\"", None, None, "error", "invalid-cell"),                # a formula no program computed
    (45, "0000", "0045", None, None),                                  # a number shown as 0045: says its digits
]


def run(*args):
    r = CliRunner().invoke(cli, [*map(str, args)])
    return r.exit_code, r.output


def typed_workbook(path, header: list, title: bool = True) -> str:
    """An XLSX whose code column holds TYPED's cells, one a row, below a title and a blank row (when `title`)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    if title:
        ws.append(["Katalog Radiologie, Stand 2026"])
        ws.append([])
    ws.append(header)
    for i, (value, fmt, *_rest) in enumerate(TYPED):
        ws.append([None, f"Name {i}", "ja"])
        cell = ws.cell(ws.max_row, 1)
        cell.value = value
        if fmt == "error":
            cell.data_type = "e"
        elif fmt:
            cell.number_format = fmt
    wb.save(path)
    return str(path)


def said(problems) -> list[tuple]:
    return sorted((p.row, p.level, p.kind, p.column, p.message) for p in problems
                  if p.kind in ("typed-cell", "invalid-cell"))


def test_a_catalogue_reports_its_typed_cells_on_their_rows_exactly_as_a_table(tmp_path):
    path = typed_workbook(tmp_path / "katalog.xlsx", ["source_code", "source_display", "active"])
    code, out = run("mappings", "init", path, "--name", "kat", "-o", tmp_path / "out")
    assert code == 1 and not (tmp_path / "out").exists()      # errors: nothing written
    lines = out.splitlines()
    assert lines[0] == "error: katalog.xlsx: nothing written: 3 row(s) in error:"
    for row, (_value, _fmt, text, level, _kind) in enumerate(TYPED, 4):   # the header on row 3, below the title
        mine = [ln for ln in lines if f"katalog.xlsx:{row}:" in ln]
        if level is None:
            assert mine == []
        elif level == "error":
            assert len(mine) == 1 and mine[0].startswith(f"  katalog.xlsx:{row}: source_code ")
        else:
            assert mine == [f"warning: katalog.xlsx:{row}: source_code is a {'date' if '-' in text else 'number'} cell,"
                            f" read as '{text}'" + mine[0].split(f"read as '{text}'")[1]]
    assert "warning: katalog.xlsx:1: the row stands above the header (row 3) and is not read as a code: Katalog" \
           " Radiologie, Stand 2026" in lines
    # the very cells in a mapping table: the same problems, rows, columns and words
    (tmp_path / "katalog.toml").write_text(TOML.format(name="katalog"), encoding="utf-8")
    table, catalogue = read_table(path), from_catalogue(path, "kat")
    assert said(catalogue.problems) == said(table.problems) and len(said(table.problems)) == 6
    # without the error rows the catalogue is written: the warnings said, the codes as read
    ok = typed_workbook(tmp_path / "ok.xlsx", ["Code", "Bezeichnung", "Aktiv"], title=False)
    wb = openpyxl.load_workbook(ok)
    wb.active.delete_rows(5, 3)
    wb.save(ok)
    code, out = run("mappings", "init", ok, "--name", "ok", "-o", tmp_path / "out")
    assert code == 0, out
    assert [ln.split(": ", 2)[1] for ln in out.splitlines() if ln.startswith("warning:")] == [
        "ok.xlsx:2", "ok.xlsx:3", "ok.xlsx:4"]
    cs = orjson.loads((tmp_path / "out" / "codesystems" / "CodeSystem-ok.json").read_bytes())
    assert [c["code"] for c in cs["concept"]] == ["12", "1.1", "2024-03-01", "0045"]


def test_a_catalogue_parent_column_is_a_code_column(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Code", "Bezeichnung", "Übergeordnet"])
    ws.append(["12", "Röntgen", None])
    ws.append(["12-1", "Thorax", 12])        # the parent 0012 typed into a General cell: read as 12
    wb.save(tmp_path / "k.xlsx")
    code, out = run("mappings", "init", tmp_path / "k.xlsx", "--name", "k", "-o", tmp_path / "out", "--parent-column",
                    "Übergeordnet")
    assert code == 0 and "warning: k.xlsx:3: Übergeordnet is a number cell, read as '12'" in out


TITLED_CSV = ("Mapping-Tabelle Radiologie, Nuklearmedizin\r\n"      # a title (with a comma: not the delimiter)
              "\r\n"
              "Version: 3;;;;\r\n"                                    # as Excel writes a row of one cell
              "source_code;source_display;target_code;relationship;status\r\n"
              "0012;Thorax, zwei Ebenen;X1;equivalent;accepted\r\n"
              "1.10;Abdomen;X2;equivalent;accepted\r\n")


def test_a_csv_with_titles_above_its_header_is_read_like_an_xlsx(tmp_path):
    write_table(tmp_path / "maps", "titled", TITLED_CSV)
    code, out = run("mappings", "check", tmp_path / "maps", "--no-db", "--json")
    table = json.loads(out)["tables"][0]
    assert code == 0 and table["usable"] and table["rows"] == 2
    assert [(p["row"], p["level"], p["kind"], p["message"]) for p in table["problems"] if p["row"]] == [
        (1, "warning", "above-header", "the row stands above the header (row 4) and is not read as a mapping:"
                                       " Mapping-Tabelle Radiologie, Nuklearmedizin"),
        (3, "warning", "above-header", "the row stands above the header (row 4) and is not read as a mapping:"
                                       " Version: 3")]
    t = read_table(str(tmp_path / "maps" / "titled.csv"))
    assert [(r.row, r.source_code, r.source_display) for r in t.rows] == [(5, "0012", "Thorax, zwei Ebenen"),
                                                                          (6, "1.10", "Abdomen")]
    assert t.delimiter == ";"
    # a catalogue export with a title: the same header search
    (tmp_path / "export.csv").write_text("Katalog, Stand 2026\nCode,Bezeichnung\n0012,Thorax\n", encoding="utf-8")
    code, out = run("mappings", "init", tmp_path / "export.csv", "--name", "k", "-o", tmp_path / "out")
    assert code == 0 and "warning: export.csv:1: the row stands above the header (row 2) and is not read as a" \
                         " code: Katalog | Stand 2026" in out
    cs = orjson.loads((tmp_path / "out" / "codesystems" / "CodeSystem-k.json").read_bytes())
    assert cs["concept"] == [{"code": "0012", "display": "Thorax"}]


def test_a_csv_without_a_header_naming_source_code_still_says_what_is_missing(tmp_path):
    write_table(tmp_path, "t", "Titel\nCode;Ziel\nA;X1\n")
    t = read_table(str(tmp_path / "t.csv"))
    assert [(p.row, p.kind) for p in t.problems] == [(1, "missing-column")]


INVISIBLE = ("source_code;source_display;target_code;relationship;status\n"
             "'0012;Thorax;X1;equivalent;accepted\n"                 # 2: Excel's text mark, kept in a CSV
             "CT\u00a0HEAD;Kopf;X2;equivalent;accepted\n"            # 3: a non-breaking space in a code
             "0013\u200b;Abdomen;X3;equivalent;accepted\n"           # 4: a zero-width space after a code
             "0014;Scha\u200bdel;X4;equivalent;accepted\n"           # 5: ... in a display
             "0015;Radiographie\u00a0: thorax;X5;equivalent;accepted\n"   # 6: a French display: fine
             "0016;\u00a0Knie\u00a0;X6\u00a0;equivalent;accepted\n")      # 7: around the cells: trimmed as blanks


def test_apostrophes_and_characters_one_cannot_see_are_reported_on_their_rows(tmp_path):
    write_table(tmp_path / "maps", "t", INVISIBLE)
    code, out = run("mappings", "check", tmp_path / "maps", "--no-db", "--json")
    problems = {(p["row"], p["level"], p["kind"], p["column"]): p["message"]
                for p in json.loads(out)["tables"][0]["problems"] if p["row"]}
    assert code == 1 and sorted(problems) == [
        (2, "warning", "typed-cell", "source_code"), (3, "error", "invalid-cell", "source_code"),
        (4, "error", "invalid-cell", "source_code"), (5, "warning", "hidden-character", "source_display")]
    assert problems[(2, "warning", "typed-cell", "source_code")].startswith(
        "source_code ''0012' starts with an apostrophe")
    assert "holds the space character U+00A0 (NO-BREAK SPACE): no code has one" in problems[
        (3, "error", "invalid-cell", "source_code")]
    assert "U+200B (ZERO WIDTH SPACE)" in problems[(4, "error", "invalid-cell", "source_code")]
    t = read_table(str(tmp_path / "maps" / "t.csv"))
    assert [(r.row, r.source_code, r.target_code) for r in t.rows if r.row in (2, 6, 7)] == [
        (2, "'0012", "X1"), (6, "0015", "X5"), (7, "0016", "X6")]
    # a catalogue export: the same
    (tmp_path / "export.csv").write_text("code;display\n'0012;Thorax\nCT\u00a0HEAD;Kopf\nA1;Scha\u200bdel\n",
                                         encoding="utf-8")
    code, out = run("mappings", "init", tmp_path / "export.csv", "--name", "k", "-o", tmp_path / "out")
    assert code == 1 and "export.csv:3: code 'CT\\xa0HEAD' holds the space character U+00A0" in out
    assert "warning: export.csv:2: code ''0012' starts with an apostrophe" in out
    assert "warning: export.csv:4: display 'Scha\u200bdel' holds the invisible character U+200B" in out


HEADER = ["source_code", "source_display", "target_code", "relationship", "status"]


def table_workbook(folder, name: str, rows: list, sheet: str = "Tabelle1"):
    """A table's XLSX (and its TOML) with `rows` below HEADER on the sheet `sheet`; the workbook, to add to."""
    folder.mkdir(exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    (folder / f"{name}.toml").write_text(TOML.format(name=name), encoding="utf-8")
    return wb


def check_json(folder) -> tuple[int, dict]:
    code, out = run("mappings", "check", folder, "--no-db", "--json")
    return code, json.loads(out)["tables"][0]


def test_a_sheet_per_language_with_other_columns_is_not_passed_over_in_silence(tmp_path):
    maps = tmp_path / "maps"
    wb = table_workbook(maps, "lang", [["A1", "Thorax", "X1", "equivalent", "accepted"]], sheet="de")
    fr = wb.create_sheet("fr")
    fr.append(HEADER[:2] + ["commentaire"] + HEADER[2:])     # one column more than de's
    fr.append(["A1", "Thorax (fr)", "", "X1", "equivalent", "accepted"])
    wb.create_sheet("Notizen").append(["nur Notizen"])      # a sheet without the column: said, not read
    wb.save(maps / "lang.xlsx")
    code, table = check_json(maps)
    (unread,) = [p for p in table["problems"] if p["kind"] == "unread-sheet"]
    assert code == 1 and unread["level"] == "error" and unread["row"] is None
    assert unread["message"].startswith("the sheet fr also has a source_code column, but other columns than de (also"
                                        " commentaire): it is not read")
    (said,) = [p["message"] for p in table["problems"] if p["kind"] == "read-sheets"]
    assert said == "the sheet de is read; not read: Notizen (no source_code column)"
    assert [r.source_display for r in read_table(str(maps / "lang.xlsx")).rows] == ["Thorax"]
    # a sheet named `mappings` is the one: the others are the terminologist's business
    wb["fr"].title = "mappings"
    wb.save(maps / "lang.xlsx")
    code, table = check_json(maps)
    assert not [p for p in table["problems"] if p["kind"] == "unread-sheet"] and table["rows"] == 1
    assert read_table(str(maps / "lang.xlsx")).rows[0].source_display == "Thorax (fr)"


def test_hidden_and_filtered_out_rows_and_hidden_columns_are_read_and_said(tmp_path):
    maps = tmp_path / "maps"
    wb = table_workbook(maps, "hid", [[f"C{i}", f"Name {i}", f"X{i}", "equivalent", "accepted"] for i in range(1, 6)])
    ws = wb.active
    ws.auto_filter.ref = "A1:E6"
    ws.row_dimensions[3].hidden = True      # filtered out
    ws.row_dimensions[5].hidden = True
    ws.column_dimensions["B"].hidden = True
    wb.save(maps / "hid.xlsx")
    code, table = check_json(maps)
    assert code == 0 and table["rows"] == 5
    assert sorted((p["row"], p["kind"], p["column"]) for p in table["problems"] if p["kind"].startswith("hidden")) == [
        (1, "hidden-column", "source_display"), (3, "hidden-row", None), (5, "hidden-row", None)]
    hidden = [p for p in table["problems"] if p["kind"] == "hidden-row"]
    assert hidden[0]["source_code"] == "C2" and "read all the same" in hidden[0]["message"]


def test_a_total_row_is_said_not_read_as_a_mapping(tmp_path):
    maps = tmp_path / "maps"
    wb = table_workbook(maps, "tot", [[f"C{i}", f"Name {i}", f"X{i}", "equivalent", "accepted"] for i in range(1, 4)])
    ws = wb.active
    ws.append([None, "Total", "=COUNTA(C2:C4)"])
    ws.append(["Summe", None, "=SUBTOTAL(103,C2:C4)"])
    ws.append(["C9", "Mit Formel", "=\"X\"&9", "equivalent", "accepted"])          # a formula, no total
    ws.append(["C10", "Zeilensumme", "X10", "equivalent", "accepted", "=SUM(A8:E8)"])   # its own row: no total
    wb.save(maps / "tot.xlsx")
    code, table = check_json(maps)
    totals = [(p["row"], p["level"], p["message"]) for p in table["problems"] if p["kind"] == "total-row"]
    assert totals == [(5, "warning", "the row is a total (=COUNTA(C2:C4)), not read as a mapping: Total"),
                      (6, "warning", "the row is a total (=SUBTOTAL(103,C2:C4)), not read as a mapping: Summe")]
    assert [r.row for r in read_table(str(maps / "tot.xlsx")).rows] == [2, 3, 4, 7, 8]
    assert not [p for p in table["problems"] if p["row"] in (5, 6) and p["kind"] != "total-row"]
    # a catalogue export's total row: the same
    wb = openpyxl.Workbook()
    wb.active.append(["Code", "Bezeichnung"])
    wb.active.append(["0012", "Thorax"])
    wb.active.append(["Anzahl", "=COUNTA(A2:A2)"])
    wb.save(tmp_path / "k.xlsx")
    code, out = run("mappings", "init", tmp_path / "k.xlsx", "--name", "k", "-o", tmp_path / "out")
    assert code == 0 and "warning: k.xlsx:3: the row is a total (=COUNTA(A2:A2)), not read as a code: Anzahl" in out


def test_excel_s_sep_line_names_the_delimiter_and_is_no_row(tmp_path):
    """`sep=;` on the first line: Excel takes it as the delimiter and shows no row of it; so do we."""
    write_table(tmp_path, "t", "sep=;\r\nsource_code;source_display;target_code;relationship\r\n"
                               "0012;Thorax, pa;X1;equivalent\r\n1,10;Abdomen;X2;sortof\r\n", encoding="cp1252")
    t = read_table(str(tmp_path / "t.csv"))
    assert t.delimiter == ";" and [(r.row, r.source_code, r.source_display) for r in t.rows] == [
        (2, "0012", "Thorax, pa"), (3, "1,10", "Abdomen")]
    assert [(p.row, p.kind) for p in t.problems] == [(3, "unknown-relationship")]


def test_a_long_code_excel_wrote_in_scientific_notation_is_an_error_of_its_row(tmp_path):
    write_table(tmp_path / "maps", "t", "source_code,target_code,relationship,status\n"
                                       "A1,1.23457E+15,equivalent,accepted\nA2,12345678901234,equivalent,accepted\n"
                                       "A3,1E3,equivalent,accepted\n")
    code, table = check_json(tmp_path / "maps")
    (bad,) = [p for p in table["problems"] if p["row"]]
    assert code == 1 and (bad["row"], bad["level"], bad["kind"], bad["column"]) == (2, "error", "invalid-cell",
                                                                                 "target_code")
    assert bad["message"].startswith("target_code '1.23457E+15' is a number as Excel writes a long one into a CSV")


def test_a_code_merged_over_the_rows_of_its_targets_is_read_on_each(tmp_path):
    maps = tmp_path / "maps"
    wb = table_workbook(maps, "merged", [["0012", "Thorax", "X1", "source-is-broader-than-target", "accepted"],
                                         [None, None, "X2", "source-is-broader-than-target", "accepted"],
                                         [None, None, "X3", "source-is-broader-than-target", "accepted"],
                                         ["0013", "Abdomen", "X4", "equivalent", "accepted"]])
    ws = wb.active
    ws.merge_cells("A2:A4")
    ws.merge_cells("B2:B3")
    ws.merge_cells("C5:D5")        # across columns: the text stays in its first
    wb.save(maps / "merged.xlsx")
    code, table = check_json(maps)
    t = read_table(str(maps / "merged.xlsx"))
    assert [(r.row, r.source_code, r.source_display, r.target_code, r.relationship) for r in t.rows] == [
        (2, "0012", "Thorax", "X1", "source-is-broader-than-target"),
        (3, "0012", "Thorax", "X2", "source-is-broader-than-target"),
        (4, "0012", "", "X3", "source-is-broader-than-target"), (5, "0013", "Abdomen", "X4", None)]
    merged = [(p["row"], p["column"], p["message"]) for p in table["problems"] if p["kind"] == "merged-cell"]
    assert merged == [(3, "source_code", "source_code is merged with the cell above it (rows 2-4): read as '0012',"
                                         " the merged cell's text"),
                      (3, "source_display", "source_display is merged with the cell above it (rows 2-3): read as"
                                            " 'Thorax', the merged cell's text"),
                      (4, "source_code", "source_code is merged with the cell above it (rows 2-4): read as '0012',"
                                         " the merged cell's text")]
    assert [(p["row"], p["kind"]) for p in table["problems"] if p["level"] == "error"] == [(5, "missing-relationship")]


@pytest.mark.parametrize("formula, row, total", [
    ("=SUM(B2:B10)", 11, True), ("=sum( b2 : b9 )", 10, True), ("=COUNTA(C2:C4)", 5, True),
    ("=SUBTOTAL(103,C2:C4)", 6, True), ("=SUBTOTAL(109,Tabelle1[Anzahl])", 9, True),   # an Excel table's total row
    ("=SUM(A8:E8)", 8, False),                      # the row's own cells: a value of the row
    ("=SUM(B2:B200)", 150, False),                  # a range that does not end above the row
    ("=COUNTIF($A$2:$A$100,A150)", 150, False),     # a helper column: is the code above?
    ("=SUM(Lookup!A2:A100)", 150, False),           # a look-up in another sheet
    ('="X"&9', 5, False), ("Total", 5, False), (12, 5, False)])
def test_what_is_a_total_row(formula, row, total):
    assert total_formula(formula, row) is total


def test_a_semicolon_csv_with_a_comma_in_a_header_is_read_with_its_semicolons(tmp_path):
    """Excel in a decimal-comma locale writes `;` between cells; a header like `Descripción, larga` made the
    sniffer take `,` for the delimiter (a table or a catalogue unreadable): the header names decide."""
    write_table(tmp_path / "maps", "t", "source_code;source_display;Nota, interna;target_code;relationship\r\n"
                                       "0012;Tórax, PA;;X1;equivalent\r\n1,10;Abdomen;sí, revisar;X2;equivalent\r\n",
                encoding="cp1252")
    t = read_table(str(tmp_path / "maps" / "t.csv"))
    assert t.delimiter == ";" and not t.errors
    assert [(r.source_code, r.source_display, r.extras) for r in t.rows] == [
        ("0012", "Tórax, PA", {"Nota, interna": ""}), ("1,10", "Abdomen", {"Nota, interna": "sí, revisar"})]
    (tmp_path / "export.csv").write_bytes("Código;Descripción, larga\r\n0012;Tórax, PA\r\n".encode("cp1252"))
    code, out = run("mappings", "init", tmp_path / "export.csv", "--name", "k", "-o", tmp_path / "out",
                    "--display-column", "Descripción, larga")
    assert code == 0, out
    cs = orjson.loads((tmp_path / "out" / "codesystems" / "CodeSystem-k.json").read_bytes())
    assert cs["concept"] == [{"code": "0012", "display": "Tórax, PA"}]


def test_an_xlsx_text_cell_typed_with_an_apostrophe_is_the_code_without_it(tmp_path):
    """In Excel '0012 makes a text cell holding 0012 (the apostrophe is its style, not its text)."""
    maps = tmp_path / "maps"
    wb = table_workbook(maps, "apo", [["0012", "Thorax", "X1", "equivalent", "accepted"]])
    wb.active["A2"].quotePrefix = True
    wb.save(maps / "apo.xlsx")
    code, table = check_json(maps)
    assert code == 0 and not [p for p in table["problems"] if p["row"]]
    assert read_table(str(maps / "apo.xlsx")).rows[0].source_code == "0012"
