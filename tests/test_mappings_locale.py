"""Excel in every locale: a CSV exports byte for byte as it was read (delimiter, encoding and BOM, line
breaks), through the folders and through a build; a table read from an XLSX exports with the delimiter
Excel uses in its language unless asked otherwise; an export refused for row errors says so first."""
import glob
import os

import openpyxl
import pytest
from click.testing import CliRunner

from termsvc.build import SourceSpec, build
from termsvc.cli import cli
from termsvc.mappings.export import export, language_delimiter
from termsvc.mappings.table import read_table
from termsvc.mappings.to_fhir import concept_map_from_table
from termsvc.store.reader import Store

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = sorted(glob.glob(os.path.join(PROJECT, "mappings_csv", "*.csv")))
TOML = 'url = "http://ex.test/cm/{name}"\nsource_system = "http://ex.test/cs/local"\n' \
       'target_system = "http://ex.test/cs/eu"\n{extra}'
ROWS = [["source_code", "source_display", "target_code", "relationship", "status", "comment", "Abteilung"],
        ["0012", "Radiografía de tórax", "X1", "wider", "accepted", "a; b, \"c\"", "Radiologie"],
        ["1.10", "Schädel CT", "X2", "equivalent", "draft", "zwei\nZeilen", ""],
        ["MR", "Resonancia magnética", "X3", "equivalent", "accepted", "", "Neuro"]]


def csv_text(delimiter: str, line_end: str, final: bool = True) -> str:
    def quote(cell):
        return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in (delimiter, '"', "\n")) else cell
    text = line_end.join(delimiter.join(quote(c) for c in row) for row in ROWS)
    return text + (line_end if final else "")


# (name, delimiter, line break, encoding as written (utf-8-sig: with a BOM), last line break)
VARIANTS = [("excel-de", ";", "\r\n", "utf-8-sig", True), ("excel-en", ",", "\r\n", "utf-8-sig", True),
            ("unix", ",", "\n", "utf-8", True), ("windows-1252", ";", "\r\n", "cp1252", True),
            ("tabs", "\t", "\n", "utf-8", True), ("no-last-line-break", ";", "\r\n", "utf-8-sig", False),
            ("old-mac", ",", "\r", "utf-8", True),
            ("excel-unicode-text", "\t", "\r\n", "utf-16", True)]   # Excel's "Unicode Text": UTF-16 with a BOM, tabs


def write_variant(folder, name, delimiter, line_end, encoding, final) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.csv")
    with open(path, "wb") as f:
        f.write(csv_text(delimiter, line_end, final).encode(encoding))
    with open(os.path.join(folder, f"{name}.toml"), "w", encoding="utf-8") as f:
        f.write(TOML.format(name=name, extra=""))
    return path


def exported(*args) -> bytes:
    r = CliRunner().invoke(cli, ["mappings", "export", *map(str, args), "--format", "csv"])
    assert r.exit_code == 0, r.output
    return r.stdout_bytes


@pytest.mark.parametrize("path", SHIPPED, ids=os.path.basename)
def test_every_shipped_table_exports_byte_for_byte(path):
    with open(path, "rb") as f:
        original = f.read()
    assert export(concept_map_from_table(read_table(path)), "csv") == original
    assert exported(path) == original


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_csv_export_csv_is_byte_identical(tmp_path, variant):
    name, delimiter, line_end, encoding, final = variant
    path = write_variant(tmp_path / "maps", name, delimiter, line_end, encoding, final)
    with open(path, "rb") as f:
        original = f.read()
    t = read_table(path)
    assert not t.errors and [r.source_code for r in t.rows] == ["0012", "1.10", "MR"]
    assert (t.delimiter, t.line_end, t.final_line_end) == (delimiter, line_end, final)
    assert exported(path) == original
    # ... and as a build holds it
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("mappings", str(tmp_path / "maps"), {"include_unaccepted": True})], preexpand=False)
    assert export(Store(db).mapping_table(name), "csv") == original
    assert exported(name, "--db", db) == original


def test_asked_delimiter_and_encoding_win(tmp_path):
    path = write_variant(tmp_path, "t", ";", "\r\n", "utf-8-sig", True)
    data = exported(path, "--delimiter", "tab", "--encoding", "cp1252")
    assert data == csv_text("\t", "\r\n").encode("cp1252")
    r = CliRunner().invoke(cli, ["mappings", "export", path, "--format", "csv", "--delimiter", "#"])
    assert r.exit_code == 2 and "unknown delimiter '#'" in r.output


def test_language_delimiters():
    for language in ("de", "es", "fr", "it", "nl", "pl", "pt", "de-AT", "pt-BR", "ES"):
        assert language_delimiter(language) == ";", language
    for language in ("en", "en-GB", None, "", "xx"):
        assert language_delimiter(language) == ",", language


def xlsx_table(folder, name, language) -> str:
    os.makedirs(folder, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "mappings"
    for row in ROWS:
        ws.append(row)
    meta = wb.create_sheet("metadata")
    for key, value in (("url", f"http://ex.test/cm/{name}"), ("source_system", "http://ex.test/cs/local"),
                       ("target_system", "http://ex.test/cs/eu"), *((("language", language),) if language else ())):
        meta.append([key, value])
    path = os.path.join(folder, f"{name}.xlsx")
    wb.save(path)
    return path


@pytest.mark.parametrize("language,delimiter", [("de", ";"), ("es", ";"), ("fr", ";"), ("it", ";"), ("nl", ";"),
                                                ("pl", ";"), ("pt", ";"), ("en", ","), (None, ",")])
def test_a_table_from_xlsx_exports_csv_in_the_delimiter_of_its_language(tmp_path, language, delimiter):
    path = xlsx_table(tmp_path, "t", language)
    data = exported(path)
    assert data == b"\xef\xbb\xbf" + csv_text(delimiter, "\r\n").encode("utf-8")   # as Excel writes its CSV
    assert exported(path, "--delimiter", ",") == b"\xef\xbb\xbf" + csv_text(",", "\r\n").encode("utf-8")
    # the CSV reads back as the same table
    out = tmp_path / "out"
    out.mkdir()
    (out / "t.csv").write_bytes(data)
    (out / "t.toml").write_text(TOML.format(name="t", extra=f'language = "{language}"\n' if language else ""))
    assert [r.cells for r in read_table(str(out / "t.csv")).rows] == [r.cells for r in read_table(path).rows]


def test_an_export_refused_for_row_errors_says_so_before_the_rows(tmp_path):
    folder = tmp_path / "maps"
    os.makedirs(folder)
    (folder / "t.csv").write_text('source_code,target_code,relationship\nA,X1,sortof\nB,X2,"open\nC,X3,equivalent\n')
    (folder / "t.toml").write_text(TOML.format(name="t", extra=""))
    for fmt, rows in (("r5", 2), ("csv", 1)):
        r = CliRunner().invoke(cli, ["mappings", "export", str(folder / "t.csv"), "--format", fmt])
        assert r.exit_code == 1
        first, *listed = r.output.splitlines()
        assert first.startswith(f"error: {folder / 't.csv'}: export refused: {rows} row(s) in error would be lost")
        assert len(listed) == rows and all(line.startswith("  t.csv:") for line in listed)
    (folder / "u.csv").write_text("code,target\nA,X1\n")
    (folder / "u.toml").write_text(TOML.format(name="u", extra=""))
    r = CliRunner().invoke(cli, ["mappings", "export", str(folder / "u.csv"), "--format", "csv"])
    assert r.exit_code == 2 and r.output.splitlines()[0].endswith("export refused: the table cannot be read:")
