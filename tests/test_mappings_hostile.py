"""Hostile and odd files where a table or a catalogue is read: each gets a clear error of the file or a report of
its rows - through `termsvc mappings check`, `termsvc mappings init` and the admin upload - never a traceback, and
no more memory than the limits allow (a zip bomb is refused from the sizes its archive declares, before anything
is unpacked). The tests write every file."""
import io
import json
import uuid
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from termsvc.api.app import create_app
from termsvc.cli import cli
from termsvc.mappings.table import read_table
from termsvc.mappings.workbook import MAX_SHARED_STRINGS
from test_mappings import TOML

HEADER = "source_code,source_display,target_code,relationship,status\n"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TOKEN = "admin-" + uuid.uuid4().hex


def xlsx_bytes(rows=(("A1", "Thorax", "X1", "equivalent", "accepted"),), header=HEADER) -> bytes:
    wb = openpyxl.Workbook()
    wb.active.append(header.strip().split(","))
    for row in rows:
        wb.active.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def with_shared_strings(size: int) -> bytes:
    """A workbook whose sharedStrings part (registered: openpyxl reads it) unpacks to `size` bytes (one string; the
    archive holds a few hundred KB)."""
    out = io.BytesIO()
    registered = {
        "[Content_Types].xml": (b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                             b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'),
        "xl/_rels/workbook.xml.rels": (b"</Relationships>", b'<Relationship Id="rIdS" Target="sharedStrings.xml" Type='
                                                            b'"http://schemas.openxmlformats.org/officeDocument/2006/'
                                                            b'relationships/sharedStrings"/>')}
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item)
            if item.filename in registered:
                end, entry = registered[item.filename]
                assert end in data
                data = data.replace(end, entry + end)
            z.writestr(item.filename, data)
        with z.open("xl/sharedStrings.xml", "w") as part:
            part.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>')
            chunk = b"A" * 2**20
            for _ in range(size // len(chunk)):
                part.write(chunk)
            part.write(b"</t></si></sst>")
    return out.getvalue()


def ods_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


# (case, file name, bytes, what the error says)
UNREADABLE = [
    ("not a zip", "t.xlsx", b"\x00\x01\x02garbage\xff" * 10, "cannot open as XLSX: the file is not a zip archive"),
    ("a CSV named .xlsx", "t.xlsx", HEADER.encode(), "the file is text (a CSV named .xlsx? name it .csv)"),
    ("an empty CSV", "t.csv", b"", "the file is empty"),
    ("an empty XLSX", "t.xlsx", b"", "the file is empty"),
    ("an .xls named .xlsx", "t.xlsx", OLE2 + b"\x00" * 4000, "an old binary Excel file (.xls), not an XLSX"),
    ("a password-protected XLSX", "t.xlsx", OLE2 + b"\x00" * 600 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 600,
     "the workbook is password-protected (encrypted): remove the password"),
    ("a big password-protected XLSX", "t.xlsx", OLE2 + b"\x00" * 6 * 2**20 + "EncryptedPackage".encode("utf-16-le")
     + b"\x00" * 600, "the workbook is password-protected (encrypted)"),   # (its directory in its last sectors)
    ("an .ods named .xlsx", "t.xlsx", ods_bytes(), "an OpenDocument spreadsheet (.ods), not an XLSX"),
    ("a zip of no workbook", "t.xlsx", b"PK\x05\x06" + b"\x00" * 18, "cannot open as XLSX: a zip archive, but not of a"),
    ("a damaged workbook", "t.xlsx", xlsx_bytes()[:-200], "cannot open as XLSX"),
    ("a binary file named .csv", "t.csv", bytes(range(256)) * 20, "a binary file, not a CSV"),
]


def run(*args):
    r = CliRunner().invoke(cli, [*map(str, args)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception   # never a traceback
    return r.exit_code, r.output


@pytest.mark.parametrize("case, name, data, says", UNREADABLE, ids=[c[0] for c in UNREADABLE])
def test_a_file_that_is_no_table_is_refused_saying_what_it_is(tmp_path, case, name, data, says):
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / name).write_bytes(data)
    (maps / "t.toml").write_text(TOML.format(name="t"), encoding="utf-8")
    code, out = run("mappings", "check", maps, "--no-db", "--json")
    (table,) = json.loads(out)["tables"]
    (problem,) = table["problems"]
    assert code == 2 and problem["kind"] == "unreadable" and says in problem["message"], problem
    # a catalogue export: the same words
    code, out = run("mappings", "init", maps / name, "--name", "k", "-o", tmp_path / "out")
    assert code != 0 and says in out and not (tmp_path / "out" / "k.csv").exists()


def test_an_xls_or_ods_next_to_the_toml_is_named_not_passed_over(tmp_path):
    (tmp_path / "t.ods").write_bytes(ods_bytes())
    (tmp_path / "t.toml").write_text(TOML.format(name="t"), encoding="utf-8")
    (problem,) = read_table(str(tmp_path / "t.toml")).problems
    assert problem.message == ("no data file t.csv or t.xlsx next to t.toml (t.ods is not read: save it as Excel"
                               " Workbook (.xlsx) or CSV)")
    code, out = run("mappings", "init", tmp_path / "t.ods", "--name", "k", "-o", tmp_path / "out")
    assert code != 0 and "an OpenDocument spreadsheet (.ods), not an XLSX" in out


def test_a_zip_bomb_of_shared_strings_is_refused_before_it_is_unpacked(tmp_path):
    bomb = with_shared_strings(MAX_SHARED_STRINGS + 2**20)
    assert len(bomb) < MAX_SHARED_STRINGS // 50      # (what the file holds: it unpacks 50 times bigger and more)
    (tmp_path / "t.xlsx").write_bytes(bomb)
    (tmp_path / "t.toml").write_text(TOML.format(name="t"), encoding="utf-8")
    (problem,) = read_table(str(tmp_path / "t.xlsx")).problems
    assert problem.kind == "unreadable" and problem.message.startswith(
        f"the workbook's shared strings unpack to {(MAX_SHARED_STRINGS + 2**20) // 2**20} MB, more than the"
        f" {MAX_SHARED_STRINGS // 2**20} MB read")


def table(tmp_path, name: str, data: bytes):
    maps = tmp_path / "maps"
    maps.mkdir(exist_ok=True)
    (maps / name).write_bytes(data)
    (maps / "t.toml").write_text(TOML.format(name="t"), encoding="utf-8")
    return read_table(str(maps / name))


@pytest.mark.parametrize("encoding, data", [
    ("utf-16", ("source_code;source_display;target_code\r\nÄ1;Schädel – 5 €;X1\r\n").encode("utf-16")),   # BOM
    ("utf-16-le", ("source_code;source_display;target_code\r\nÄ1;Schädel – 5 €;X1\r\n").encode("utf-16-le")),
    ("utf-16-be", ("source_code;source_display;target_code\r\nÄ1;Schädel – 5 €;X1\r\n").encode("utf-16-be")),
    ("cp1252", ("source_code;source_display;target_code\r\nÄ1;Schädel – 5 €;X1\r\n").encode("cp1252")),
])
def test_csv_encodings_excel_writes_in_europe_are_read_as_written(tmp_path, encoding, data):
    t = table(tmp_path, "t.csv", data)
    assert t.encoding == encoding and [(r.source_code, r.source_display) for r in t.rows] == [("Ä1", "Schädel – 5 €")]


def test_nul_bytes_and_a_huge_cell_are_reports_of_their_rows(tmp_path):
    data = ("source_code,source_display,target_code,relationship,status\n"
            "A\x001,Thorax,X1,equivalent,accepted\n"
            f"A2,{'y' * 2**20},X2,equivalent,accepted\n"
            "A3,Abdo\x00men,X3,equivalent,accepted\n").encode()
    t = table(tmp_path, "t.csv", data)
    assert [(r.row, r.cells["source_code"]) for r in t.rows] == [(2, "A\x001"), (4, "A3")]
    assert [(p.row, p.kind) for p in t.errors] == [(2, "invalid-cell"), (3, "malformed-row"), (4, "invalid-cell")]
    assert t.rows[1].source_display == "Abdo\x00men"     # (a display is text as written, and its row in error)
    assert "holds the control character U+0000" in t.errors[0].message
    assert t.errors[1].message.startswith("cannot read the line as CSV: a cell is longer than 131,072 characters")
    assert len(t.errors[1].line()) < 400     # (the cell is not in the report whole)


def test_ten_thousand_columns_are_refused_as_no_table_a_few_hundred_are_read(tmp_path):
    wide = ["source_code", "target_code"] + [f"extra{i}" for i in range(10_000)]
    wb = openpyxl.Workbook()
    wb.active.append(wide)
    wb.active.append(["A1", "X1"])
    out = io.BytesIO()
    wb.save(out)
    for name, data in (("t.csv", (",".join(wide) + "\nA1,X1\n").encode()), ("t.xlsx", out.getvalue())):
        (problem,) = table(tmp_path, name, data).problems
        assert problem.kind == "unreadable" and "10,002" in problem.message and "more than the 2,000" in problem.message
    t = table(tmp_path, "t.csv", (",".join(wide[:500]) + "\nA1,X1\n").encode())
    assert len(t.columns) == 500 and [r.source_code for r in t.rows] == ["A1"]


def test_a_file_of_stray_quotes_is_refused_a_few_are_reports_of_their_rows(tmp_path):
    lines = "".join(f'A{i},"x",y,"\n' for i in range(5_000))     # each quote run reads on to the end
    (problem,) = table(tmp_path, "t.csv", ("source_code,target_code\n" + lines).encode()).problems
    assert problem.kind == "unreadable" and problem.message.startswith("the file's quotes do not pair up")
    t = table(tmp_path, "t.csv", ("source_code,target_code,relationship\n" + 'A1,"X1,equivalent\n'
                                  + "".join(f"A{i},X{i},equivalent\n" for i in range(2, 5_002))).encode())
    assert [(p.row, p.kind) for p in t.errors] == [(2, "malformed-row")] and len(t.rows) == 5_000


def test_an_xlsx_cell_longer_than_a_spreadsheet_holds_is_an_error_of_its_row(tmp_path):
    """(openpyxl cuts what it writes to 32,767 characters: the sheet's XML is written here)"""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes([("A1", "MARK", "X1", "equivalent", "accepted"),
                                                ("A2", "Abdomen", "X2", "equivalent", "accepted")]))) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item)
            z.writestr(item.filename, data.replace(b"MARK", b"z" * 2**20) if "worksheets" in item.filename else data)
    t = table(tmp_path, "t.xlsx", out.getvalue())
    (error,) = t.errors
    assert (error.row, error.kind, error.column) == (2, "invalid-cell", "source_display")
    assert error.message.startswith("source_display holds 1,048,576 characters, more than a spreadsheet cell holds"
                                    " (32,767): 'zzz")
    assert len(error.line()) < 400


@pytest.fixture
def upload(db_path, tmp_path):
    client = create_app(db_path, {"access_log": "off", "admin_token": TOKEN,
                                  "mappings": str(tmp_path / "uploaded")}).test_client()

    def post(name: str, data: bytes):
        files = {"table": (io.BytesIO(data), name),
                 "metadata": (io.BytesIO(TOML.format(name="t").encode()), "t.toml")}
        return client.post("/admin/mappings", headers={"Authorization": f"Bearer {TOKEN}"}, data=files)
    return post


@pytest.mark.parametrize("case, name, data, says", UNREADABLE + [
    ("a zip bomb", "t.xlsx", with_shared_strings(MAX_SHARED_STRINGS + 2**20), "the workbook's shared strings unpack")],
    ids=[c[0] for c in UNREADABLE] + ["a zip bomb"])
def test_an_upload_of_such_a_file_is_a_422_saying_what_it_is(upload, tmp_path, case, name, data, says):
    r = upload(name, data)
    assert r.status_code == 422 and r.get_json()["resourceType"] == "OperationOutcome"
    texts = [i["details"]["text"] for i in r.get_json()["issue"]]
    assert texts[0] == "The table cannot be used: nothing was changed" and says in texts[1], texts
    assert not list((tmp_path / "uploaded").iterdir())
