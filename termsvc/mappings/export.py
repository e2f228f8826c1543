"""A mapping table written out: XLSX, CSV, or the ConceptMap in R5 or R4 JSON.

    data = export(cm, "xlsx")          # cm: the table's complete ConceptMap (to_fhir, or a build's)

Every format starts from the table's complete ConceptMap, which gives back the table's columns in
order and each cell as written (termsvc.mappings.from_fhir), so a table read, built and exported
keeps every cell and extra column, codes as the strings they were (`0012`, `1.10`).

- XLSX: a `mappings` sheet, or the sheets a workbook was read from, each row on its own (every cell
  a text cell; bold, frozen header; columns as wide as their text; the status column coloured by
  status; dropdowns for relationship, status and no_map that warn about, but allow, other words) and
  a `metadata` sheet of key/value rows - the layout the reader takes without a TOML.
- CSV: as the table's CSV was written - delimiter, encoding (a BOM or not), line breaks - so that
  CSV -> export -> CSV gives back the same bytes. A table that was not a CSV (an XLSX, a ConceptMap
  made elsewhere) gets the delimiter Excel uses in its `language` (`;` where the decimal separator is
  a comma: de, es, fr, it, nl, pl, pt, ...; `,` for en and when no language is given), UTF-8 with a
  BOM (Excel reads a BOM-less UTF-8 file as Windows-1252) and CRLF line breaks, as Excel writes them.
  `delimiter` and `encoding` given say otherwise.
"""
from __future__ import annotations

import io

import orjson

from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.mappings.from_fhir import extension_value, numbered_rows, rows_to_csv, table_extension_values
from termsvc.mappings.reading import canonical_header
from termsvc.mappings.table import META_KEYS, R4_EQUIVALENCES, R5_RELATIONSHIPS, ROW_STATUSES
from termsvc.mappings.to_fhir import EXT_STATUS

FORMATS = ("xlsx", "csv", "r5", "r4")
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "csv": "text/csv", "r5": "application/fhir+json", "r4": "application/fhir+json"}
SUFFIXES = {"xlsx": ".xlsx", "csv": ".csv", "r5": ".json", "r4": ".json"}
DEFAULT_ENCODING = "utf-8-sig"   # UTF-8 with a BOM: what Excel recognises
DEFAULT_LINE_END = "\r\n"        # what Excel writes
LINE_ENDS = {"crlf": "\r\n", "lf": "\n", "cr": "\r"}
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}
# languages whose Excel separates list items (the cells of a CSV) with `;`: those that write the
# decimal separator as a comma (by the language's primary subtag)
SEMICOLON_LANGUAGES = frozenset("bg ca cs da de el es et eu fi fr gl hr hu is it lt lv nb nl nn no pl pt ro ru"
                                " sk sl sr sv tr uk".split())
# the dropdowns: column -> the words offered
CHOICES = {"relationship": R5_RELATIONSHIPS + [w for w in R4_EQUIVALENCES if w not in R5_RELATIONSHIPS],
           "status": ROW_STATUSES, "no_map": ["yes", "no"]}
STATUS_FILLS = {"accepted": "C6EFCE", "in-review": "FFEB9C", "draft": "DDEBF7", "rejected": "FFC7CE"}
MAX_WIDTH = 60


class ExportError(ValueError):
    """The table cannot be written as asked (a character the encoding lacks, ...)."""


def export(cm: dict, fmt: str, encoding: str | None = None, accepted_only: bool = False,
           delimiter: str | None = None) -> bytes:
    """The table of this complete ConceptMap in format `fmt` (one of FORMATS). A CSV is written as the
    table was read (see the module's description) unless `encoding` or `delimiter` say otherwise."""
    if accepted_only:
        cm = accepted_rows(cm)
    if fmt in ("r5", "r4"):
        return orjson.dumps(cm if fmt == "r5" else concept_map_r5_to_r4(cm), option=orjson.OPT_INDENT_2) + b"\n"
    meta, columns, numbered = numbered_rows(cm)
    rows = [row for _, row in numbered]
    if fmt == "xlsx":
        return xlsx_bytes(meta, columns, rows, [getattr(n, "sheet", None) for n, _ in numbered])
    if fmt == "csv":
        written = table_extension_values(cm)
        return csv_bytes(columns, rows, parse_delimiter(delimiter) if delimiter else written.get("delimiter")
                         or language_delimiter(meta.get("language")), encoding or written.get("encoding")
                         or DEFAULT_ENCODING, LINE_ENDS.get(written.get("line-end", ""), DEFAULT_LINE_END),
                         written.get("final-line-end") != "no")
    raise ExportError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def language_delimiter(language: str | None) -> str:
    """The CSV delimiter Excel uses in this language (BCP 47: `de`, `pt-BR`): `;` or `,`."""
    return ";" if (language or "").split("-")[0].lower() in SEMICOLON_LANGUAGES else ","


def parse_delimiter(text: str) -> str:
    """A delimiter as asked for (`,`, `;`, `tab` or a tab character, `|`)."""
    try:
        return DELIMITERS[text.lower()]
    except KeyError:
        raise ExportError(f"unknown delimiter {text!r} (one of: , ; tab |)") from None


def csv_bytes(columns, rows, delimiter: str = ",", encoding: str = DEFAULT_ENCODING, line_end: str = "\n",
              final_line_end: bool = True) -> bytes:
    text = rows_to_csv(columns, rows, delimiter, line_end, final_line_end)
    try:
        return text.encode(encoding)
    except LookupError:
        raise ExportError(f"unknown encoding {encoding!r}") from None
    except UnicodeEncodeError as e:
        line = text.count("\n", 0, e.start) + 1
        raise ExportError(f"line {line}: {text[e.start:e.end]!r} cannot be written in {encoding}"
                          " (UTF-8 can write every character)") from None


def meta_rows(meta: dict) -> list[tuple[str, str]]:
    """The metadata as key/value text rows (a list as `a, b`, a boolean as true/false)."""
    out = []
    for key in META_KEYS:
        value = meta.get(key)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        out.append((key, str(value)))
    return out


def sheet_layout(sheets: list | None, n: int) -> list[tuple[str, int]]:
    """Where each of n rows goes: (its sheet, its row there): the sheet it was read from (`sheets`, a
    workbook read across sheets), else `mappings`; a row of no sheet in such a workbook (a new draft row)
    goes to the last sheet."""
    titles = [t for t in dict.fromkeys(sheets or []) if t]
    placed: list[tuple[str, int]] = []
    count: dict[str, int] = {}
    for i in range(n):
        title = (sheets[i] if sheets and i < len(sheets) else None) or (titles[-1] if titles else "mappings")
        count[title] = count.get(title, 1) + 1
        placed.append((title, count[title]))
    return placed


def xlsx_bytes(meta: dict, columns: list, rows: list, sheets: list | None = None) -> bytes:
    """The table as XLSX: its rows on a `mappings` sheet, or on the sheets they were read from (`sheets`: a
    sheet's name per row, a workbook read across sheets), and a `metadata` sheet."""
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

    wb = Workbook()
    first = wb.active
    assert isinstance(first, Worksheet)   # (a new workbook's one sheet)
    by_sheet: dict[str, list] = {}
    for (title, _), row in zip(sheet_layout(sheets, len(rows)), rows):
        by_sheet.setdefault(title, []).append(row)
    for n, (title, sheet_rows) in enumerate((by_sheet or {"mappings": []}).items()):
        ws = first if n == 0 else wb.create_sheet()
        ws.title = title
        _rows_sheet(ws, columns, sheet_rows, title)
    _metadata_sheet(wb.create_sheet("metadata"), meta)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rows_sheet(ws, columns: list, rows: list, title: str) -> None:
    """A sheet of the table's rows: every cell text, a bold frozen header, widths, dropdowns, status colours."""
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    bold = Font(bold=True)
    ws.append(columns)
    where = "" if title == "mappings" else f"{title}!"
    for n, row in enumerate(rows, start=2):
        for i, header in enumerate(columns, start=1):
            put_text(ws.cell(n, i), row.get(header) or None, f"row {where}{n}, column {header}")
    last = max(len(rows) + 1, 2)
    for i, header in enumerate(columns, start=1):
        letter = get_column_letter(i)
        ws.cell(1, i).font = bold
        for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
            cell.number_format = "@"      # text: a code stays `0012` when the author edits it
        width = max([len(header)] + [max(map(len, (row.get(header) or "").splitlines() or [""])) for row in rows])
        ws.column_dimensions[letter].width = min(width + 2, MAX_WIDTH)
        column = canonical_header(header)
        cells = f"{letter}2:{letter}{max(last, 1000)}"
        if column in CHOICES:
            dv = DataValidation(type="list", formula1='"' + ",".join(CHOICES[column]) + '"', allow_blank=True,
                                showErrorMessage=True, errorStyle="warning", errorTitle=header,
                                error=f"Usual values: {', '.join(CHOICES[column])}")
            dv.add(cells)
            ws.add_data_validation(dv)
        if column == "status":
            for status, colour in STATUS_FILLS.items():
                ws.conditional_formatting.add(cells, CellIsRule(operator="equal", formula=[f'"{status}"'],
                                                                fill=PatternFill("solid", bgColor=colour)))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(columns), 1))}{last}"


def _metadata_sheet(sheet, meta: dict) -> None:
    from openpyxl.styles import Font

    bold = Font(bold=True)
    sheet.append(["key", "value"])
    for n, (key, value) in enumerate(meta_rows(meta), start=2):
        sheet.cell(n, 1, key)
        put_text(sheet.cell(n, 2), value, f"metadata {key}")
    for cell in sheet[1]:
        cell.font = bold
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.number_format = "@"
    sheet.column_dimensions["A"].width = max(len(k) for k in META_KEYS) + 2
    sheet.column_dimensions["B"].width = MAX_WIDTH * 2


def put_text(cell, text: str | None, where: str):
    """A text cell holding exactly `text` (never a formula, a number or a date)."""
    from openpyxl.utils.exceptions import IllegalCharacterError
    try:
        cell.value = text
    except IllegalCharacterError:
        raise ExportError(f"{where}: {text!r} holds a control character XLSX cannot store") from None
    if text is not None:
        cell.data_type = "s"


def accepted_rows(cm: dict) -> dict:
    """The ConceptMap with only its accepted rows (what $translate serves)."""
    def accepted(holder):
        return extension_value(holder, EXT_STATUS) in (None, "accepted")

    groups = []
    for g in cm.get("group", []) or []:
        elements = []
        for e in g.get("element", []) or []:
            if e.get("noMap"):
                if accepted(e):
                    elements.append(dict(e))
                continue
            targets = [t for t in e.get("target", []) or [] if accepted(t)]
            if targets:
                elements.append({**e, "target": targets})
        if elements:
            groups.append({**g, "element": elements})
    out = dict(cm)
    if groups:
        out["group"] = groups
    else:
        out.pop("group", None)
    return out
