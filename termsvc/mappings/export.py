"""A mapping table written out: XLSX, CSV, or the ConceptMap in R5 or R4 JSON.

    data = export(cm, "xlsx")          # cm: the table's complete ConceptMap (to_fhir, or a build's)

Every format starts from the table's complete ConceptMap, which gives back the table's columns in
order and each cell as written (termsvc.mappings.from_fhir), so a table read, built and exported
keeps every cell and extra column, codes as the strings they were (`0012`, `1.10`).

- XLSX: a `mappings` sheet (every cell a text cell; bold, frozen header; columns as wide as their
  text; the status column coloured by status; dropdowns for relationship, status and no_map that
  warn about, but allow, other words) and a `metadata` sheet of key/value rows - the layout the
  reader takes without a TOML.
- CSV: the table's delimiter (`,` when it had none), UTF-8 with a BOM unless another encoding is
  asked for (Excel reads a BOM-less UTF-8 file as Windows-1252).
"""
from __future__ import annotations

import io

import orjson

from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.mappings.from_fhir import concept_map_to_table, extension_value, rows_to_csv, table_extension_values
from termsvc.mappings.reading import canonical_header
from termsvc.mappings.table import META_KEYS, R4_EQUIVALENCES, R5_RELATIONSHIPS, ROW_STATUSES
from termsvc.mappings.to_fhir import EXT_STATUS

FORMATS = ("xlsx", "csv", "r5", "r4")
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "csv": "text/csv", "r5": "application/fhir+json", "r4": "application/fhir+json"}
SUFFIXES = {"xlsx": ".xlsx", "csv": ".csv", "r5": ".json", "r4": ".json"}
DEFAULT_ENCODING = "utf-8-sig"   # UTF-8 with a BOM: what Excel recognises
# the dropdowns: column -> the words offered
CHOICES = {"relationship": R5_RELATIONSHIPS + [w for w in R4_EQUIVALENCES if w not in R5_RELATIONSHIPS],
           "status": ROW_STATUSES, "no_map": ["yes", "no"]}
STATUS_FILLS = {"accepted": "C6EFCE", "in-review": "FFEB9C", "draft": "DDEBF7", "rejected": "FFC7CE"}
MAX_WIDTH = 60


class ExportError(ValueError):
    """The table cannot be written as asked (a character the encoding lacks, ...)."""


def export(cm: dict, fmt: str, encoding: str = DEFAULT_ENCODING, accepted_only: bool = False) -> bytes:
    """The table of this complete ConceptMap in format `fmt` (one of FORMATS)."""
    if accepted_only:
        cm = accepted_rows(cm)
    if fmt in ("r5", "r4"):
        return orjson.dumps(cm if fmt == "r5" else concept_map_r5_to_r4(cm), option=orjson.OPT_INDENT_2) + b"\n"
    meta, columns, rows = concept_map_to_table(cm)
    if fmt == "xlsx":
        return xlsx_bytes(meta, columns, rows)
    if fmt == "csv":
        return csv_bytes(columns, rows, table_extension_values(cm).get("delimiter") or ",", encoding)
    raise ExportError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def csv_bytes(columns, rows, delimiter: str = ",", encoding: str = DEFAULT_ENCODING) -> bytes:
    text = rows_to_csv(columns, rows, delimiter)
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


def xlsx_bytes(meta: dict, columns: list, rows: list) -> bytes:
    from openpyxl import Workbook
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = "mappings"
    bold = Font(bold=True)
    ws.append(columns)
    for n, row in enumerate(rows, start=2):
        for i, header in enumerate(columns, start=1):
            put_text(ws.cell(n, i), row.get(header) or None, f"row {n}, column {header}")
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
    sheet = wb.create_sheet("metadata")
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
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


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
