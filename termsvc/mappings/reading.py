"""Reading a spreadsheet's cells: CSV bytes or an XLSX workbook -> header and rows of strings.

- Which of the two a file is comes from its bytes (termsvc.mappings.cells.read_cells); an XLSX is read by
  termsvc.mappings.workbook. A binary file is no CSV (a ValueError saying so).
- CSV bytes: UTF-8 with or without BOM, UTF-16 with a BOM (Excel's "Unicode Text") or without one (told by its
  zero bytes), else Windows-1252 (its five unassigned bytes read as Latin-1, so no byte is lost); the delimiter
  (`,` `;` or tab) is the one a first line `sep=;` names (as Excel takes it: that line is no row), else the one that
  makes a cell of the header line a header name (a title above it has none), else sniffed from the first line;
  quoted fields (a quoted cell may hold line breaks, CRLF or LF); every cell a string as written. A line the csv
  module cannot read (a quote opened and never closed, a cell past MAX_CELL_CHARS...) is a bad record of its own:
  the lines after it are read again, so one bad line costs one row.
- The header row is found as in an XLSX: the first of the first HEADER_SEARCH non-blank rows that names
  the column asked for (a title, a blank line, a "Version: 3" line above it are `Cells.above`).
- Total rows (a total word - Total, Summe, Totale, Totaal, Total general... - with counts: `total_row`, for a
  CSV and an XLSX alike; in an XLSX also a SUBTOTAL or a SUM/COUNT of the rows above) are not rows (`Cells.totals`).
- Row numbers are the ones a spreadsheet program shows: an XLSX's rows (`Sheet!row` for a workbook read across
  sheets: SheetRow); a CSV's records, a blank line one too (a quoted cell with line breaks makes its record no
  longer than a row: Excel shows it so).
- How a CSV is written (delimiter, encoding, line break, a last line break or not) is kept, so that
  it can be written back byte for byte (termsvc.mappings.export).
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Container
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
    totals: list = field(default_factory=list)     # [(row, [cells], why)]: the total rows, not among `rows`
    # an XLSX's: the rows and the column indexes it hides (Hide, or filtered out); the sheet read (`sheet`), or
    # the sheets read as one table (`sheets`), the sheets whose header row names the column asked for but with
    # other columns, not read ([(sheet, how its columns differ)]), the sheets without that header (a README)
    hidden_rows: set = field(default_factory=set)
    hidden_columns: set = field(default_factory=set)
    sheet: str | None = None
    sheets: list = field(default_factory=list)
    unread_sheets: list = field(default_factory=list)
    skipped_sheets: list = field(default_factory=list)


class SheetRow(int):
    """A row of a workbook read across sheets, named as a spreadsheet program names it (`de!12`, `'CT Kopf'!3`).
    As a number it is its place among the table's rows (the sheet's place * SHEET_SPAN + its row), so rows
    of different sheets are different rows, in the order read; `number` is the row the sheet shows."""
    SHEET_SPAN = 10_000_000    # more rows than a sheet has (1,048,576)
    sheet: str
    number: int

    def __new__(cls, place: int, sheet: str, number: int):
        self = super().__new__(cls, place * cls.SHEET_SPAN + number)
        self.sheet, self.number = sheet, number
        return self

    @classmethod
    def at(cls, value: int, sheet: str) -> SheetRow:
        """The row of sheet `sheet` whose place is `value` (as a ConceptMap keeps it)."""
        return cls(value // cls.SHEET_SPAN, sheet, value % cls.SHEET_SPAN)

    def __str__(self) -> str:
        sheet = self.sheet if re.fullmatch(r"\w+", self.sheet) else "'" + self.sheet.replace("'", "''") + "'"
        return f"{sheet}!{self.number}"

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self):
        return SheetRow, (int(self) // self.SHEET_SPAN, self.sheet, self.number)


def row_json(row):
    """A row number as JSON gives it: a number, `Sheet!row` (a string) for a workbook read across sheets."""
    return str(row) if isinstance(row, SheetRow) else row


MAX_FILE_BYTES = 256 * 2**20   # a table file read, at most (an upload is smaller still)
MAX_CELL_CHARS = 131_072       # a CSV cell (the csv module's limit; a spreadsheet cell holds 32,767 characters)
SHOWN_CHARS = 80               # of a cell that cannot be read, in the report
MAX_COLUMNS = 2_000            # a table's columns (a mapping table has a few dozen; Excel's sheet 16,384)
MAX_CELLS = 4_000_000          # cells of a sheet read, at most (100,000 rows of 12 columns: 1.2 million)


def too_many_cells(sheet: str | None = None) -> str:
    return (f"{'sheet ' + repr(sheet) if sheet else 'the file'} has more than {MAX_CELLS:,} cells, more than a table"
            " is read with: split it into tables of their own")


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
    utf16 = _utf16_without_bom(data)
    if utf16:
        try:
            return data.decode(utf16), utf16
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1").translate(_CP1252), "cp1252"


def _utf16_without_bom(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when the text's first bytes are UTF-16's (Latin letters: every other byte zero)."""
    head = data[:4096] if len(data) % 2 == 0 else b""
    if len(head) < 4:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd > 0.8 * len(head) // 2 and even < 0.1 * len(head) // 2:
        return "utf-16-le"
    if even > 0.8 * len(head) // 2 and odd < 0.1 * len(head) // 2:
        return "utf-16-be"
    return None


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
    names = header_names(header)
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
    """The cells of one line read on its own, quotes as plain characters (a long cell cut to SHOWN_CHARS)."""
    return [c if len(c) <= SHOWN_CHARS else c[:SHOWN_CHARS] + "…" for c in line.rstrip("\r\n").split(delimiter)]


def _lines(text: str) -> list[str]:
    """The text's lines, each with its line break: split at CR, LF and CRLF only, as the csv module and a
    spreadsheet program split them (str.splitlines also splits at U+2028, U+0085, form feeds... inside a cell)."""
    return [m.group() for m in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)]


class _Reading:
    """The lines the csv reader is given, counted: a stray quote makes it read on to the next quote, so a file of
    many (a quote opened on every line and closed on the next, or never) would be read again and again from each bad
    line on; past REREAD_LINES times its lines (and a minimum), it is not read at all (ValueError)."""

    def __init__(self, lines: int):
        self.left = REREAD_LINES * lines + 100_000

    def lines(self, lines: list, start: int):
        """The lines from `start` on (not copied)."""
        for i in range(start, len(lines)):
            self.left -= 1
            if self.left < 0:
                raise ValueError("the file's quotes do not pair up: stray quotes on many lines make it unreadable as"
                                 " CSV (save it again from the spreadsheet program)")
            yield lines[i]


REREAD_LINES = 20


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
    read = 0           # cells read (MAX_CELLS at most)
    budget = _Reading(len(lines))
    while start < len(lines):
        reader = csv.reader(budget.lines(lines, start), delimiter=delimiter, quotechar='"')
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
                read += len(cells)
                if read > MAX_CELLS:
                    raise ValueError(too_many_cells())
                if any(c.strip() for c in cells):
                    good.append((row, cells))
                    width = max(width, len(cells))
                first = end
            return good, bad
        except csv.Error as e:
            message = str(e)
            if "field larger than field limit" in message:
                message = (f"a cell is longer than {MAX_CELL_CHARS:,} characters (a spreadsheet cell holds 32,767):"
                           " a stray quote, or no table's text")
            if "never closed" in message:
                message += f" (lines {first + 1}-{len(lines)} would be one cell)"
            row += 1
            bad.append((row, f"cannot read the line as CSV: {message}", _lenient_cells(lines[first], delimiter)))
            start = first + 1
    return good, bad


SEP_LINE = re.compile(r'"?sep=([^\r\n"])"?(?:\r\n|\n|\r|$)', re.I)


def read_csv(path: str, header=None) -> Cells:
    """The cells of a CSV file (see read_cells). Raises ValueError if it has no header (or cannot be read at all)."""
    with open(path, "rb") as f:
        data = f.read()
    text, enc = decode_bytes(data)
    if not text.strip():
        raise ValueError("the file is empty")
    if _binary(text[:4096]):
        raise ValueError("a binary file, not a CSV (or a spreadsheet program's file named .csv): save it as CSV or XLSX")
    declared = SEP_LINE.match(text)    # Excel's first line naming the delimiter: no row of the sheet
    delim = declared.group(1) if declared else sniff_delimiter(text, header)
    records, bad = csv_records(text[declared.end():] if declared else text, delim)
    at = header_index(records, header)
    if not records or (bad and bad[0][0] < records[0][0] and at == 0):
        raise ValueError("the file has no header line it can read")
    (header_line, headers), rows = records[at], records[at + 1:]
    if len(headers) > MAX_COLUMNS:
        raise ValueError(f"the header row has {len(headers):,} cells, more than the {MAX_COLUMNS:,} columns a table is"
                         " read with")
    above = sorted(records[:at] + [(line, cells) for line, _m, cells in bad if line < header_line])
    totals = [(line, cells, why) for line, cells in rows if (why := total_row(cells))]
    return Cells([h.strip() for h in headers], header_line, [r for r in rows if not total_row(r[1])],
                 [b for b in bad if b[0] > header_line], delim, enc, line_end(text), text.endswith(("\n", "\r")),
                 above=above, totals=totals)


def _binary(text: str) -> bool:
    """Is this no text: more than 1 % control characters (but line breaks, tabs and NULs: a CSV may hold a NUL)?"""
    return sum(1 for c in text if c < " " and c not in "\t\r\n\f\0") > len(text) // 100


# a total row's label, in the languages terminologists write (canonical: lower case, a trailing colon dropped)
TOTAL_WORDS = frozenset({
    "total", "totals", "grand total", "sum", "subtotal", "sub-total", "count", "total count",          # en
    "summe", "gesamt", "gesamtsumme", "insgesamt", "zwischensumme", "anzahl", "gesamtzahl",          # de
    "total general", "total geral", "suma", "suma total", "subtotal general",                        # es, pt
    "totale", "totale generale", "subtotale", "somma",                                               # it
    "total général", "somme", "sous-total",                                                          # fr
    "totaal", "subtotaal", "eindtotaal", "som",                                                      # nl
    "razem", "ogółem", "suma całkowita", "totalt", "summa", "i alt", "yhteensä", "celkem", "összesen"})
COUNT = re.compile(r"[-+]?\d[\d.,'\s\u00a0\u202f]*%?")


def total_row(cells: list) -> str | None:
    """Why the row is a total, or None: its first cell holding something is a total word (`Total`, `Summe:`,
    `Total general`; or the word and a count in one cell) and its other cells holding something are counts,
    one at least."""
    texts = [c.strip() for c in cells if isinstance(c, str) and c.strip()]
    if not texts:
        return None
    label = re.match(r"(.*?)\s*:?\s*(\d[\d.,'\s]*)?$", texts[0])
    word = label.group(1).strip().lower() if label else ""
    counted = bool(label and label.group(2)) or len(texts) > 1
    if word in TOTAL_WORDS and counted and all(COUNT.fullmatch(t) for t in texts[1:]):
        return f"'{texts[0]}' with counts"
    return None


def header_names(header) -> Container:
    """The header names `header` gives: a canonical name, several, or a container that recognises them."""
    if not header:
        return frozenset()
    if isinstance(header, str):
        return frozenset([header])
    return frozenset(header) if isinstance(header, (list, tuple, set, frozenset)) else header


def header_index(grid: list, header) -> int:
    """The index in `grid` ([(row, cells)]) of the header row: the first of the first HEADER_SEARCH rows with a
    cell naming a column of `header` (canonical names), else 0."""
    names = header_names(header)
    # a row naming a column exactly comes first, then one naming two columns (a title `Code list` names one)
    for known, least in ((getattr(names, "exact", names), 1), (names, 2), (names, 1)):
        found = next((i for i, (_n, cells) in enumerate(grid[:HEADER_SEARCH])
                      if sum(canonical_header(c) in known for c in cells) >= least), None)
        if found is not None:
            return found
    return 0
