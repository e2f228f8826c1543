"""Reading an XLSX workbook's cells (termsvc.mappings.reading.read_cells for a `.xlsx`).

- Values as stored (openpyxl, read-only: a sheet's rows stream, a million formatted rows cost nothing): text
  cells as written; numbers rendered from the cell's number format (`0000` pads, `0.00` keeps its decimals, else
  integers without `.0` and other numbers in their shortest form); booleans TRUE/FALSE; dates ISO `YYYY-MM-DD`. A
  cell whose text may not be what was typed is noted (`Cells.notes`): a number in the General format or a date (a
  code's leading zeros are not in the file), a number past 15 significant digits, an error value (#N/A), a formula
  with no saved value. A character XML cannot hold is in the file as Excel escapes it (`_x0007_`; `_x000D_` the
  CR of a cell's line break): read as that character (a control character is then a problem of its row).
- Total rows (a SUBTOTAL, a SUM/COUNT of the rows above, or a total word with counts: reading.total_row) are not
  rows of the sheet; the rows and columns it hides and its merged cells are read from the sheet's XML with the
  standard zipfile (what openpyxl's read-only mode keeps no record of; no private attribute of openpyxl).
- The sheets: the one named `mappings`, else every sheet whose header row names `header` when they have the same
  columns (a sheet per language or modality: one table, its rows `Sheet!row`, reading.SheetRow); a sheet with
  other columns is not read (said, `Cells.unread_sheets`), nor a sheet without the header (a README, a legend:
  `Cells.skipped_sheets`). A `metadata` sheet holds key/value rows.
- What cannot be read is a ValueError that says why, before openpyxl is asked: not a zip archive, an old binary
  Excel file (.xls) or a password-protected workbook (both OLE2 files), an OpenDocument spreadsheet, a workbook
  whose parts unpack to more than MAX_UNPACKED bytes, or its shared strings to more than MAX_SHARED_STRINGS (a zip
  bomb; openpyxl holds the shared strings in memory whole), a sheet that declares more than MAX_COLUMNS columns.
"""
from __future__ import annotations

import datetime
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from xml.etree.ElementTree import iterparse

from termsvc.mappings.reading import (HEADER_SEARCH, MAX_CELLS, MAX_COLUMNS, Cells, SheetRow, canonical_header, header_index,
                                      header_names, too_many_cells, total_row)

MAX_UNPACKED = 256 * 2**20   # bytes a workbook's parts unpack to, at most (a sheet of 100,000 x 12 cells: ~100 MB)
MAX_SHARED_STRINGS = 64 * 2**20   # ... its shared strings (openpyxl holds them in memory whole)
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # an old binary Office file; an encrypted (password) XLSX is one too
ENCRYPTED = "EncryptedPackage".encode("utf-16-le")   # the stream an OLE2 file holds a password-protected XLSX in
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def refuse_unreadable(path: str) -> None:
    """ValueError saying what the file is when it is no XLSX openpyxl can read safely."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise ValueError("the file is empty")
    if head.startswith(OLE2):
        raise ValueError("the workbook is password-protected (encrypted): remove the password in the spreadsheet"
                         " program (File > Info > Protect Workbook) and save it again" if _encrypted(path) else
                         "an old binary Excel file (.xls), not an XLSX: save it as Excel Workbook (.xlsx) or CSV")
    if not zipfile.is_zipfile(path):
        kind = "text (a CSV named .xlsx? name it .csv)" if _text(head) else "not a zip archive"
        raise ValueError(f"cannot open as XLSX: the file is {kind}")


def _encrypted(path: str) -> bool:
    """Does the OLE2 file hold a password-protected XLSX (its directory, in its first sectors or its last, names
    the EncryptedPackage stream)?"""
    with open(path, "rb") as f:
        if ENCRYPTED in f.read(4 * 2**20):
            return True
        f.seek(max(0, f.seek(0, 2) - 4 * 2**20))
        return ENCRYPTED in f.read()


def _text(head: bytes) -> bool:
    return all(b in b"\t\r\n" or 0x20 <= b for b in head)


def check_archive(archive: zipfile.ZipFile) -> None:
    """ValueError when the archive is no workbook to read: an OpenDocument spreadsheet, no workbook part, parts
    that unpack to more than MAX_UNPACKED bytes (zipfile reads no more than the sizes the archive declares)."""
    names = set(archive.namelist())
    if "mimetype" in names and b"opendocument" in archive.read("mimetype")[:100]:
        raise ValueError("an OpenDocument spreadsheet (.ods), not an XLSX: save it as Excel Workbook (.xlsx) or CSV")
    if "[Content_Types].xml" not in names:
        raise ValueError("cannot open as XLSX: a zip archive, but not of a workbook")
    unpacked = sum(i.file_size for i in archive.infolist())
    strings = sum(i.file_size for i in archive.infolist() if i.filename.lower().endswith("sharedstrings.xml"))
    if strings > MAX_SHARED_STRINGS:
        raise ValueError(f"the workbook's shared strings unpack to {strings / 2**20:,.0f} MB, more than the"
                         f" {MAX_SHARED_STRINGS // 2**20} MB read (a zip bomb, or a sheet too big: save it as CSV or"
                         " split it)")
    if unpacked > MAX_UNPACKED:
        raise ValueError(f"the workbook unpacks to {unpacked / 2**20:,.0f} MB, more than the"
                         f" {MAX_UNPACKED // 2**20} MB read (a zip bomb, or a sheet too big: save it as CSV or split it)")


def read_xlsx(path: str, header=None) -> Cells:
    """The cells of the mappings sheet(s) and the key/value rows of the `metadata` sheet (see the module).
    Raises ValueError if unreadable."""
    import openpyxl   # only for XLSX tables: the commands start without it
    refuse_unreadable(path)
    try:
        with zipfile.ZipFile(path) as archive:
            check_archive(archive)
            parts = sheet_parts(archive)
            # read-only: the rows as the file holds them; the second time with the formulas (a formula's cell
            # has no value of its own)
            wb = openpyxl.load_workbook(path, data_only=True, read_only=True)
            formulas = openpyxl.load_workbook(path, data_only=False, read_only=True)
            try:
                return _workbook_cells(wb, formulas, header, lambda name: _layout(archive, parts.get(name)))
            finally:
                wb.close()
                formulas.close()
    except ValueError:
        raise
    except Exception as e:   # a damaged part (zipfile.BadZipFile, a CRC error, XML that does not parse, ...)
        raise ValueError(f"cannot read the XLSX: {type(e).__name__}: {str(e)[:200]}") from None


def sheet_parts(archive: zipfile.ZipFile) -> dict:
    """{sheet name: the zip part of its XML}, from the workbook's relationships (as the Open XML spec locates them)."""
    def targets(rels_part: str, base: str) -> dict:
        if rels_part not in archive.namelist():
            return {}
        out = {}
        with archive.open(rels_part) as src:
            for _event, el in iterparse(src):
                if el.tag.rpartition("}")[2] == "Relationship" and el.get("Target"):
                    target = el.get("Target", "")
                    out[el.get("Id")] = target.lstrip("/") if target.startswith("/") else \
                        posixpath.normpath(posixpath.join(base, target))
        return out
    office = next((t for t in targets("_rels/.rels", "").values() if t.endswith(".xml")), "xl/workbook.xml")
    folder, name = posixpath.split(office)
    rels = targets(posixpath.join(folder, "_rels", name + ".rels"), folder)
    out = {}
    with archive.open(office) as src:
        for _event, el in iterparse(src):
            if el.tag.rpartition("}")[2] == "sheet" and el.get(REL) in rels:
                out[el.get("name")] = rels[el.get(REL)]
    return out


def _general(cell) -> bool:
    """Is a number cell shown in a format that does not say its digits (General, or none)?"""
    fmt = (cell.number_format or "General").split(";")[0]
    return not (re.fullmatch(r"0+", fmt) or re.fullmatch(r"0+\.(0+)", fmt))


# Excel's escape of a character XML cannot hold, in a cell's text (openpyxl reads it as written)
XML_ESCAPED = re.compile(r"_x(00[01][0-9A-Fa-f])_")


def render_xlsx_cell(cell) -> str:
    v = cell.value
    if v is None:
        return ""
    if isinstance(v, str):
        return XML_ESCAPED.sub(lambda m: chr(int(m[1], 16)), v) if "_x" in v else v
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, datetime.datetime):
        return v.date().isoformat() if v.time() == datetime.time(0) else v.isoformat()
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (int, float)):
        fmt = (cell.number_format or "General").split(";")[0]
        if re.fullmatch(r"0+", fmt):
            return str(int(round(v))).zfill(len(fmt))
        m = re.fullmatch(r"0+\.(0+)", fmt)
        if m:
            return f"{v:.{len(m.group(1))}f}"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return repr(v) if isinstance(v, float) else str(v)
    return str(v)


def xlsx_cell_note(cell, formula) -> tuple[str, str] | None:
    """(kind, what the cell is) for a cell whose text may not be what was typed (see Cells.notes);
    `formula` is the same cell's value in the workbook read with its formulas."""
    v = cell.value
    if cell.data_type == "e":
        return "error", f"holds the spreadsheet error {v}"
    if v is None:
        f = formula
        if isinstance(f, str) and f.startswith("="):
            return "error", (f"is the formula {f} with no saved value (a program wrote the file without computing it:"
                             " open and save it in a spreadsheet program)")
        return None
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1e15:
        return "error", (f"is the number {v:.15g}: a spreadsheet keeps 15 significant digits, so the code's last"
                         " digits are lost; store the column as text")
    if isinstance(v, (int, float)) and _general(cell):
        return "whole number" if float(v).is_integer() else "number", (f"is a number cell, read as '{render_xlsx_cell(cell)}': leading zeros (0012) or trailing"
                          " decimal zeros (1.10) typed into it are not in the file; store the column as text")
    if isinstance(v, (datetime.date, datetime.time)):
        return "date", (f"is a date cell, read as '{render_xlsx_cell(cell)}': the spreadsheet took what was typed"
                        " for a date; store the column as text")
    return None


def _workbook_cells(wb, formulas, header, layout_of) -> Cells:
    names = {n.lower(): n for n in wb.sheetnames}
    meta = {}
    if "metadata" in names:
        for r in wb[names["metadata"]].iter_rows():
            if len(r) < 2:
                continue
            k, v = render_xlsx_cell(r[0]).strip(), render_xlsx_cell(r[1]).strip()
            if k and k.lower() != "key" and v:
                meta[canonical_header(k)] = v
    chosen = "mappings" in names
    sheets = [names["mappings"]] if chosen else [n for n in wb.sheetnames if n.lower() != "metadata"]
    if not sheets:
        raise ValueError("no sheet of mappings (only a 'metadata' sheet)")
    naming = [n for n in sheets if _names(_first_rows(wb[n]), header)]
    for name in naming or sheets[:1]:
        if (wb[name].max_column or 0) > MAX_COLUMNS:   # (the size the sheet declares)
            raise ValueError(f"sheet '{name}' spans {wb[name].max_column:,} columns, more than the {MAX_COLUMNS:,} a"
                             " table is read with: delete the columns after the table's last (formatting whole rows"
                             " stretches a sheet too)")
    read = [_sheet(wb[n], formulas[n], header, layout_of(n)) for n in naming or sheets[:1]]
    first = read[0]
    if not first.rows and not first.headers:
        raise ValueError(f"sheet '{first.sheet}' has no header row")
    differing = [(c.sheet, why) for c in read[1:] if (why := _differs(first, c))]
    same = [c for c in read if c.sheet not in dict(differing)]
    out = same[0] if len(same) == 1 else _one_table(same)
    out.meta = meta
    if not chosen:
        out.sheets, out.unread_sheets = [c.sheet for c in same], differing
        out.skipped_sheets = [n for n in sheets if n not in naming and n != first.sheet]
    return out


def _sheet(ws, formulas, header, layout: Layout) -> Cells:
    """One sheet's Cells (its rows numbered as the sheet's)."""
    grid, notes, totals = _sheet_cells(ws, formulas)
    if not grid:
        return Cells([], 0, [], sheet=ws.title)
    at = header_index(grid, header)
    (header_row, headers), rows = grid[at], grid[at + 1:]
    _fill_merged(rows, [m for m in layout.merged if m[1] > header_row], notes, dict(grid))   # (merged in the rows)
    return Cells([h.strip() for h in headers], header_row, [r for r in rows if r[0] not in totals], notes=notes,
                 above=grid[:at], totals=[(n, cells, totals[n]) for n, cells in rows if n in totals],
                 hidden_rows=layout.hidden_rows & {n for n, _c in rows}, hidden_columns=layout.hidden_columns,
                 sheet=ws.title)


def _columns(c: Cells) -> list:
    return [canonical_header(h) for h in c.headers if h.strip()]


def _differs(first: Cells, other: Cells) -> str | None:
    """How `other`'s columns differ from `first`'s (None: the same columns, in any order)."""
    mine, theirs = _columns(first), _columns(other)
    if sorted(mine) == sorted(theirs):
        return None
    lacks, more = [h for h in mine if h not in theirs], [h for h in theirs if h not in mine]
    return "; ".join(part for part in (lacks and "no " + ", ".join(lacks), more and "also " + ", ".join(more)) if part) \
        or "a column given twice"


def _one_table(sheets: list) -> Cells:
    """Sheets of the same columns as one table: the first's column order, each row `Sheet!row`."""
    first = sheets[0]
    out = Cells(first.headers, SheetRow(0, first.sheet, first.header_line), [])
    order = {h: i for i, h in reversed(list(enumerate(_all_columns(first))))}
    for place, c in enumerate(sheets):
        to = [order[h] if h else i for i, h in enumerate(_all_columns(c))]   # this sheet's column -> the table's

        def row(n, c=c, place=place):
            return SheetRow(place, c.sheet, n)

        def cells_of(cells, to=to):
            moved = [""] * max(len(first.headers), len(cells))
            for i, text in enumerate(cells):
                moved[to[i] if i < len(to) and to[i] < len(first.headers) else i] = text
            return moved
        out.rows += [(row(n), cells_of(cells)) for n, cells in c.rows]
        out.above += [(row(n), cells) for n, cells in c.above]
        out.totals += [(row(n), cells, why) for n, cells, why in c.totals]
        out.notes.update({(row(n), to[i] if i < len(to) else i): note for (n, i), note in c.notes.items()})
        out.hidden_rows |= {row(n) for n in c.hidden_rows}
        out.hidden_columns |= {to[i] for i in c.hidden_columns if i < len(to)}
    return out


def _all_columns(c: Cells) -> list:
    return [canonical_header(h) for h in c.headers]


def _names(grid: list, header) -> bool:
    """Does one of the first HEADER_SEARCH rows of `grid` name a column of `header`?"""
    names = header_names(header)
    return any(canonical_header(c) in names for _n, cells in grid[:HEADER_SEARCH] for c in cells)


def _first_rows(ws) -> list:
    """[(row, [cell texts])] of a sheet's first rows, as far as its header row may be."""
    rows = ws.iter_rows(min_row=1, max_row=HEADER_SEARCH * 5, values_only=True)
    return [(n, ["" if v is None else str(v) for v in r]) for n, r in enumerate(rows, 1)]


# a formula that adds up, counts or averages the rows above it: a total row, not a row of the table
# (a range of this sheet: a COUNTIF or a range of another sheet is a helper column's look-up, not a total)
TOTAL = re.compile(r"=\s*(?:_xlfn\.)?(?:SUBTOTAL|AGGREGATE)\s*\(|=\s*(?:SUM|COUNTA?|COUNTBLANK|AVERAGE|MIN|MAX)\s*\("
                   r"[^!]*?\$?[A-Z]{1,3}\$?(\d+)\s*:\s*\$?[A-Z]{1,3}\$?(\d+)[^!]*$", re.I)


def total_formula(formula, row: int) -> bool:
    """Does `formula` (a cell's on `row`) total the rows above it (a SUBTOTAL, or a SUM/COUNT/... of a range of
    rows that ends above it: not a sum of its own row)?"""
    m = TOTAL.match(formula) if isinstance(formula, str) else None
    if m is None:
        return False
    return m.group(1) is None or int(m.group(1)) <= int(m.group(2)) < row


@dataclass
class Layout:
    """What a read-only sheet keeps no record of, read from its XML: the rows and the column indexes it hides
    (Hide, or filtered out by its filter) and its merged ranges (min_col, min_row, max_col, max_row)."""
    hidden_rows: set = field(default_factory=set)
    hidden_columns: set = field(default_factory=set)
    merged: list = field(default_factory=list)


def _layout(archive: zipfile.ZipFile, part: str | None) -> Layout:
    """The sheet's Layout from its XML part (empty when there is none; parsed only when it hides or merges cells),
    streamed: a row's element is cleared once read, so a big sheet costs no memory."""
    from openpyxl.utils.cell import range_boundaries   # (public: openpyxl.utils)
    out = Layout()
    if part is None or part not in archive.namelist() or not _says(archive, part, (b"hidden=", b"mergeCell ")):
        return out
    row, sheet_data = 0, None
    with archive.open(part) as src:
        for event, el in iterparse(src, events=("start", "end")):
            tag = el.tag.rpartition("}")[2]
            if event == "start":
                if tag == "sheetData":
                    sheet_data = el
                elif tag == "row":
                    row = int(el.get("r") or row + 1)
                    if el.get("hidden") in ("1", "true"):
                        out.hidden_rows.add(row)
                elif tag == "col" and el.get("hidden") in ("1", "true"):
                    out.hidden_columns.update(range(int(el.get("min", "1")) - 1, min(int(el.get("max", "1")), 16384)))
                elif tag == "mergeCell" and el.get("ref"):
                    try:
                        out.merged.append(range_boundaries(el.get("ref")))
                    except (ValueError, TypeError):
                        pass   # (a range that names no cells merges nothing)
            elif tag == "row" and sheet_data is not None:
                sheet_data.clear()   # (what is read of a row is its attributes: the sheet is not kept)
    return out


def _fill_merged(rows: list, merged: list, notes: dict, anchors: dict) -> None:
    """A value merged over rows (a code over the rows of its targets) read on each of them, noted: the
    rows `rows` [(row, cells)] below the anchor of a range get the anchor's text in its first column.
    `anchors`: {row: cells} of the sheet's rows."""
    by_row = dict(rows)
    for min_col, min_row, _max_col, max_row in merged:
        col = min_col - 1
        anchor = anchors.get(min_row)
        text = anchor[col] if anchor is not None and col < len(anchor) else ""
        for n in range(min_row + 1, max_row + 1):
            cells = by_row.get(n)
            if cells is None or not text.strip():
                continue
            cells.extend([""] * (col + 1 - len(cells)))
            cells[col] = text
            notes[(n, col)] = ("merged", f"is merged with the cell above it (rows {min_row}-{max_row}): read as"
                                         f" '{text.strip()}', the merged cell's text")


def _says(archive: zipfile.ZipFile, part: str, words: tuple) -> bool:
    """Does the archive's part hold one of `words` (a quick look before parsing it)?"""
    tail = b""
    with archive.open(part) as src:
        while chunk := src.read(1 << 20):
            if any(w in tail + chunk for w in words):
                return True
            tail = chunk[-max(map(len, words)):]
    return False


def _sheet_cells(ws, formulas) -> tuple[list, dict, dict]:
    """([(row, [cell texts])] of the non-blank rows, Cells.notes, {row: why it is a total}) of a (read-only)
    sheet."""
    grid, notes, totals, read = [], {}, {}, 0
    rows = zip(ws.iter_rows(min_row=1, min_col=1),
               formulas.iter_rows(min_row=1, min_col=1, values_only=True))
    for n, (r, fr) in enumerate(rows, 1):
        if all(c.value is None for c in r) and all(v is None for v in fr):
            continue   # (a blank row, or one only formatted)
        noted = False   # (a row of formulas with no saved values is not blank)
        for i, (cell, formula) in enumerate(zip(r, fr)):
            note = xlsx_cell_note(cell, formula)
            if note:
                notes[(n, i)] = note
                noted = True
        cells = [render_xlsx_cell(c) for c in r]
        total = next((v for v in fr if total_formula(v, n)), None) or total_row(cells)
        if total:
            totals[n] = total
        if noted or any(c.strip() for c in cells):
            grid.append((n, cells))
            read += len(cells)
            if read > MAX_CELLS:
                raise ValueError(too_many_cells(ws.title))
    return grid, notes, totals
