"""Reading a spreadsheet's cells: CSV bytes or an XLSX workbook -> header and rows of strings.

- CSV bytes: UTF-8 with or without BOM, UTF-16 with a BOM (Excel's "Unicode Text"), else Windows-1252
  (its five unassigned bytes read as Latin-1, so no byte is lost); the delimiter (`,` `;` or tab) is
  the one a first line `sep=;` names (as Excel takes it: that line is no row), else the one that makes a
  cell of the header line a header name (a title above it has none), else sniffed from the first line;
  quoted fields (a quoted cell may hold line breaks, CRLF or LF); every cell a string as written. A line
  the csv module cannot read (a quote opened and never closed, ...) is a bad record of its own: the lines
  after it are read again, so one bad line costs one row.
- The header row is found as in an XLSX: the first of the first HEADER_SEARCH non-blank rows that names
  the column asked for (a title, a blank line, a "Version: 3" line above it are `Cells.above`).
- XLSX (openpyxl, values as stored): text cells as written; numbers rendered from the cell's number
  format (`0000` pads, `0.00` keeps its decimals, else integers without `.0` and other numbers in
  their shortest form); booleans TRUE/FALSE; dates ISO `YYYY-MM-DD`. A cell whose text may not be what
  was typed is noted (`Cells.notes`): a number in the General format or a date (a code's leading zeros
  are not in the file), a number past 15 significant digits, an error value (#N/A), a formula with no
  saved value.
- An XLSX's total rows (a SUBTOTAL, or a SUM/COUNT of the rows above) are not rows of it; the rows and
  columns it hides, and its other sheets naming the header, are said (`Cells`).
- Row numbers are the ones a spreadsheet program shows: an XLSX's rows; a CSV's records, a blank line
  one too (a quoted cell with line breaks makes its record no longer than a row: Excel shows it so).
- How a CSV is written (delimiter, encoding, line break, a last line break or not) is kept, so that
  it can be written back byte for byte (termsvc.mappings.export).
"""
from __future__ import annotations

import csv
import datetime
import io
import re
import unicodedata
from dataclasses import dataclass, field


@dataclass
class Cells:
    """A sheet's cells: the header, the rows, and the records that could not be read."""
    headers: list
    header_line: int
    rows: list                                     # [(line, [cells])]
    bad: list = field(default_factory=list)        # [(line, message, [cells as far as read])]
    delimiter: str | None = None
    encoding: str | None = None
    line_end: str | None = None                    # a CSV's line break: "\r\n", "\n" or "\r"
    final_line_end: bool = True                    # ... and whether its last line has one
    meta: dict = field(default_factory=dict)       # an XLSX's `metadata` sheet
    # (row, column index) -> (kind, what the cell is) of an XLSX's cells whose text may not be what was typed:
    # kind "number", "whole number" or "date" (a text read from a typed cell), "error" (no text can be trusted),
    # "merged" (the text of the merged cell above it)
    notes: dict = field(default_factory=dict)
    above: list = field(default_factory=list)      # [(row, [cells])]: the rows above the header row
    # an XLSX's: its total rows, not among `rows` ([(row, [cells], the formula)]), the rows and the column
    # indexes it hides (Hide, or filtered out), the other sheets whose header row names `header` (not read)
    totals: list = field(default_factory=list)
    hidden_rows: set = field(default_factory=set)
    hidden_columns: set = field(default_factory=set)
    other_sheets: list = field(default_factory=list)


HEADER_SEARCH = 10   # non-blank rows of a sheet searched for its header row (title rows above it)


# what a character no code holds is called: (Unicode category -> kind); a space other than U+0020 is
# pasted from a web page or a word processor (the non-breaking space), and looks like one
UNSEEN_CATEGORIES = {"Cc": "the control character", "Cf": "the invisible character", "Zs": "the space character",
                     "Zl": "the line separator", "Zp": "the paragraph separator"}


def unseen_character(text: str, categories=tuple(UNSEEN_CATEGORIES)) -> str | None:
    """What the first character of `text` that cannot be seen, or told from a plain space, is (`the invisible
    character U+200B (ZERO WIDTH SPACE)`), or None: of `categories`, a control character, a zero-width or
    other format character (a soft hyphen, a byte order mark), a space other than U+0020 (a non-breaking
    space), a line or paragraph separator."""
    if text.isprintable():
        return None   # (no "Other" or "Separator" character but the space: none of those kinds, at C speed)
    for c in text:
        category = unicodedata.category(c)
        if category in categories and c != " ":
            name = unicodedata.name(c, "")
            return f"{UNSEEN_CATEGORIES[category]} U+{ord(c):04X}" + (f" ({name})" if name else "")
    return None


def canonical_header(h) -> str:
    return re.sub(r"[\s\-]+", "_", str(h).strip().lower())


# Windows-1252 where it differs from Latin-1 (0x81, 0x8D, 0x8F, 0x90, 0x9D, unassigned, stay Latin-1's)
_CP1252 = {b: bytes([b]).decode("cp1252") for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}


def decode_bytes(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1").translate(_CP1252), "cp1252"


def line_end(text: str) -> str:
    """The line break the text is written with (that of its first line; "\n" for one line)."""
    m = LINE_END.search(text)
    return m.group() if m else "\n"


LINE_END = re.compile(r"\r\n|\n|\r")


def sniff_delimiter(text: str, header=None) -> str:
    """The delimiter of a CSV: the one that makes a cell of one of its first HEADER_SEARCH lines a header
    name of `header` (canonical names; a title line above the header has none), else sniffed from its first
    non-blank line."""
    lines = [ln for ln in LINE_END.split(text, HEADER_SEARCH * 2) if ln.strip()][:HEADER_SEARCH]
    names = _header_names(header)
    for line in lines if names else ():
        for d in (",", ";", "\t", "|"):
            cells = next(csv.reader([line], delimiter=d), [])
            if len(cells) > 1 and any(canonical_header(c) in names for c in cells):
                return d
    first = lines[0] if lines else ""
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t").delimiter
    except csv.Error:
        counts = {d: first.count(d) for d in (",", ";", "\t")}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


def _unclosed_quote(text: str, delimiter: str) -> bool:
    """Does this record's text end inside a quoted cell?"""
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as e:
        return "unexpected end of data" in str(e)
    return False


def _lenient_cells(line: str, delimiter: str) -> list:
    """The cells of one line read on its own, quotes as plain characters (and no cell too long)."""
    return line.rstrip("\r\n").split(delimiter)


def _lines(text: str) -> list[str]:
    """The text's lines, each with its line break: split at CR, LF and CRLF only, as the csv module and a
    spreadsheet program split them (str.splitlines also splits at U+2028, U+0085, form feeds... inside a cell)."""
    return [m.group() for m in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)]


def csv_records(text: str, delimiter: str) -> tuple[list, list]:
    """([(row, cells)], [(row, message, cells)]): the non-blank records and the bad ones, each numbered by the
    row a spreadsheet program shows it on: a record is a row (a blank line too), however many lines its
    quoted cells span."""
    lines = _lines(text)
    good: list[tuple[int, list]] = []
    bad: list[tuple[int, str, list]] = []
    start = 0          # index of the first line still to read
    row = 0            # records read (the row of the last one)
    width = 0          # cells of the widest record read: the header's (a title above it has one)
    while start < len(lines):
        reader = csv.reader(io.StringIO("".join(lines[start:]), newline=""), delimiter=delimiter, quotechar='"')
        first = start      # index of the line the current record starts on
        try:
            for cells in reader:
                end = start + reader.line_num          # index just past the record's last line
                if end - first > 1:                    # a quoted cell over several lines: or a stray quote?
                    if end == len(lines) and _unclosed_quote("".join(lines[first:end]), delimiter):
                        raise csv.Error("a quote opened in this row is never closed")
                    if width > 1 and any(c.strip() for c in cells[width:]):
                        raise csv.Error(f"a quoted cell runs over {end - first} lines into more cells than"
                                        " the header has (a stray quote?)")
                row += 1
                if any(c.strip() for c in cells):
                    good.append((row, cells))
                    width = max(width, len(cells))
                first = end
            return good, bad
        except csv.Error as e:
            message = str(e)
            if "never closed" in message:
                message += f" (lines {first + 1}-{len(lines)} would be one cell)"
            row += 1
            bad.append((row, f"cannot read the line as CSV: {message}", _lenient_cells(lines[first], delimiter)))
            start = first + 1
    return good, bad


def read_cells(path: str, header=None) -> Cells:
    """The cells of a CSV or XLSX file (by its suffix), its header row the first of its first HEADER_SEARCH
    non-blank rows that names a column of `header` (a canonical column name, or several), else its first;
    the rows above it are `Cells.above`. Raises ValueError if it cannot be read."""
    return read_xlsx(path, header) if path.lower().endswith(".xlsx") else read_csv(path, header)


SEP_LINE = re.compile(r'"?sep=([^\r\n"])"?(?:\r\n|\n|\r|$)', re.I)


def read_csv(path: str, header=None) -> Cells:
    """The cells of a CSV file (see read_cells). Raises ValueError if it has no header (or cannot be read at all)."""
    with open(path, "rb") as f:
        data = f.read()
    text, enc = decode_bytes(data)
    if not text.strip():
        raise ValueError("the file is empty")
    declared = SEP_LINE.match(text)    # Excel's first line naming the delimiter: no row of the sheet
    delim = declared.group(1) if declared else sniff_delimiter(text, header)
    records, bad = csv_records(text[declared.end():] if declared else text, delim)
    at = header_index(records, header)
    if not records or (bad and bad[0][0] < records[0][0] and at == 0):
        raise ValueError("the file has no header line it can read")
    (header_line, headers), rows = records[at], records[at + 1:]
    above = sorted(records[:at] + [(line, cells) for line, _m, cells in bad if line < header_line])
    return Cells([h.strip() for h in headers], header_line, rows, [b for b in bad if b[0] > header_line], delim,
                 enc, line_end(text), text.endswith(("\n", "\r")), above=above)


def _header_names(header) -> frozenset:
    return frozenset() if not header else frozenset([header] if isinstance(header, str) else header)


def header_index(grid: list, header) -> int:
    """The index in `grid` ([(row, cells)]) of the header row: the first of the first HEADER_SEARCH rows with a
    cell naming a column of `header` (canonical names), else 0."""
    names = _header_names(header)
    return next((i for i, (_n, cells) in enumerate(grid[:HEADER_SEARCH])
                 if any(canonical_header(c) in names for c in cells)), 0)


def _general(cell) -> bool:
    """Is a number cell shown in a format that does not say its digits (General, or none)?"""
    fmt = (cell.number_format or "General").split(";")[0]
    return not (re.fullmatch(r"0+", fmt) or re.fullmatch(r"0+\.(0+)", fmt))


def render_xlsx_cell(cell) -> str:
    v = cell.value
    if v is None:
        return ""
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
    `formula` is the same cell of the workbook read with its formulas."""
    v = cell.value
    if cell.data_type == "e":
        return "error", f"holds the spreadsheet error {v}"
    if v is None:
        f = getattr(formula, "value", None)
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


def read_xlsx(path: str, header=None) -> Cells:
    """The cells of the mappings sheet and the key/value rows of the `metadata` sheet. The mappings sheet
    is the one named `mappings`, else the first (not `metadata`) whose header row names `header`, else the
    first that is not `metadata`; rows above its header row are `Cells.above`. Raises ValueError if
    unreadable."""
    import openpyxl   # only for XLSX tables: the commands start without it
    try:
        # read-only: the rows as the file holds them (formatting alone can stretch a sheet to a million
        # rows, which a workbook loaded whole makes a cell object each); the second time with the formulas
        # (a formula's cell has no value of its own)
        wb = openpyxl.load_workbook(path, data_only=True, read_only=True)
        formulas = openpyxl.load_workbook(path, data_only=False, read_only=True)
    except Exception as e:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        raise ValueError(f"cannot open as XLSX: {e}") from None
    try:
        return _workbook_cells(wb, formulas, header)
    finally:
        wb.close()
        formulas.close()


def _workbook_cells(wb, formulas, header) -> Cells:
    names = {n.lower(): n for n in wb.sheetnames}
    meta = {}
    if "metadata" in names:
        for r in wb[names["metadata"]].iter_rows():
            if len(r) < 2:
                continue
            k, v = render_xlsx_cell(r[0]).strip(), render_xlsx_cell(r[1]).strip()
            if k and k.lower() != "key" and v:
                meta[canonical_header(k)] = v
    sheets = [names["mappings"]] if "mappings" in names else [n for n in wb.sheetnames if n.lower() != "metadata"]
    if not sheets:
        raise ValueError("no sheet of mappings (only a 'metadata' sheet)")
    chosen = None
    for name in sheets:
        grid, notes, totals = _sheet_cells(wb[name], formulas[name])
        if chosen is None or _names(grid, header):
            chosen = (name, grid, notes, totals)   # (the first sheet, unless a later one names the header)
        if _names(grid, header):
            break
    assert chosen is not None   # (sheets is not empty)
    sheet, grid, notes, totals = chosen
    if not grid:
        raise ValueError(f"sheet '{sheet}' has no header row")
    at = header_index(grid, header)
    (header_row, headers), rows = grid[at], grid[at + 1:]
    others = [n for n in sheets[sheets.index(sheet) + 1:] if _names(_first_rows(wb[n]), header)]
    layout = _layout(wb[sheet])
    _fill_merged(rows, [m for m in layout.merged if m[1] > header_row], notes, dict(grid))   # (merged in the rows)
    return Cells([h.strip() for h in headers], header_row, [r for r in rows if r[0] not in totals], meta=meta,
                 notes=notes, above=grid[:at], totals=[(n, cells, totals[n]) for n, cells in rows if n in totals],
                 hidden_rows=layout.hidden_rows & {n for n, _c in rows}, hidden_columns=layout.hidden_columns,
                 other_sheets=others)


def _names(grid: list, header) -> bool:
    """Does one of the first HEADER_SEARCH rows of `grid` name a column of `header`?"""
    names = _header_names(header)
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


def _layout(ws) -> Layout:
    """The sheet's Layout (empty when its XML cannot be found; parsed only when it hides or merges cells)."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.utils.cell import range_boundaries
    out = Layout()
    archive, part = getattr(ws.parent, "_archive", None), getattr(ws, "_worksheet_path", None)
    if archive is None or part is None or not _says(archive, part, (b"hidden=", b"mergeCell ")):
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


def _says(archive, part: str, words: tuple) -> bool:
    """Does the archive's part hold one of `words` (a quick look before parsing it)?"""
    tail = b""
    with archive.open(part) as src:
        while chunk := src.read(1 << 20):
            if any(w in tail + chunk for w in words):
                return True
            tail = chunk[-max(map(len, words)):]
    return False


def _sheet_cells(ws, formulas) -> tuple[list, dict, dict]:
    """([(row, [cell texts])] of the non-blank rows, Cells.notes, {row: its total formula}) of a (read-only)
    sheet."""
    grid, notes, totals = [], {}, {}
    rows = zip(ws.iter_rows(min_row=1, min_col=1), formulas.iter_rows(min_row=1, min_col=1))
    for n, (r, fr) in enumerate(rows, 1):
        if all(c.value is None for c in r) and all(c.value is None for c in fr):
            continue   # (a blank row, or one only formatted)
        total = next((c.value for c in fr if total_formula(c.value, n)), None)
        if total:
            totals[n] = total
        noted = False   # (a row of formulas with no saved values is not blank)
        for i, (cell, fcell) in enumerate(zip(r, fr)):
            note = xlsx_cell_note(cell, fcell)
            if note:
                notes[(n, i)] = note
                noted = True
        cells = [render_xlsx_cell(c) for c in r]
        if noted or any(c.strip() for c in cells):
            grid.append((n, cells))
    return grid, notes, totals
