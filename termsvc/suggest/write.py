"""The table written back with its suggestions, for the terminologist to accept or pick in Excel.

Every row keeps its cells as written; a row without a target that got candidates becomes a `draft`
row: the best candidate as its target (code, display, system when the table has no default), the
relationship `related-to` (an automatic match is an inexact one until a person says otherwise), and
the columns `suggestion_score`, `suggestion_reason` and `suggestion_candidates` (every candidate with
its display and score). In an XLSX the target code cell offers the other candidates in a dropdown
(its input message lists them with their displays). Rows with a target, and rows nobody could
suggest for, are left as they were. The codes of the table's catalogue (its source scope) that had
no row (`"row": null` in the suggestions) come last as new draft rows, suggested for where they can be. The result is read, checked and built like any table (codes stay
text: `0012` is not 12): an XLSX carries its metadata sheet, a CSV gets the table's TOML beside it
(unless one is there).
"""
from __future__ import annotations

import io
import os

from termsvc.mappings.export import csv_bytes, sheet_layout, xlsx_bytes
from termsvc.mappings.from_fhir import meta_to_toml
from termsvc.mappings.columns import known_columns

OUTPUT_FORMATS = ("xlsx", "csv")
DRAFT_RELATIONSHIP = "related-to"
SUGGESTION_COLUMNS = ("suggestion_score", "suggestion_reason", "suggestion_candidates")
PROMPT_LIMIT = 250          # Excel's input message holds 255 characters


class WriteError(ValueError):
    """The table cannot be written back (rows that could not be read would be lost, ...)."""


def _column(table, columns: list, name: str) -> str:
    """The table's header for a known column, added (canonical name) when the table has none."""
    header = table.colmap.get(name) or known_columns(columns).get(name)
    if header is None:
        header = name
        columns.append(header)
    return header


def suggested_rows(table, result: dict) -> tuple[list, list, dict, list]:
    """(columns, rows as {header: cell}, {index of a suggested row: its candidates}, the sheet of each row
    read across sheets, else None)."""
    lost = [p for p in table.problems if p.kind == "malformed-row"]
    if lost:
        raise WriteError(f"{table.file}: line {lost[0].row} could not be read; writing the table back would"
                         " lose it (fix the file first)")
    columns = list(table.columns)
    best = {r["row"]: r["candidates"] for r in result["rows"] if r["candidates"]}
    headers = {name: _column(table, columns, name) for name in ("target_code", "target_display", "relationship",
                                                                "status")}
    if not table.meta.get("target_system"):
        headers["target_system"] = _column(table, columns, "target_system")
    for name in SUGGESTION_COLUMNS:
        headers[name] = _column(table, columns, name)
    rows: list[dict] = []
    suggested: dict[int, list] = {}

    def add(cells: dict, candidates: list | None) -> None:
        if candidates:
            top = candidates[0]
            cells[headers["target_code"]] = top["code"]
            cells[headers["target_display"]] = top["display"]
            if "target_system" in headers:
                cells[headers["target_system"]] = top["system"]
            cells[headers["relationship"]] = DRAFT_RELATIONSHIP
            cells[headers["status"]] = "draft"
            cells[headers["suggestion_score"]] = f"{top['score']:.2f}"
            cells[headers["suggestion_reason"]] = top["why"]
            cells[headers["suggestion_candidates"]] = "; ".join(
                f"{c['code']} {c['display']} ({c['score']:.2f})" for c in candidates)
            suggested[len(rows)] = candidates
        rows.append(cells)

    for r in table.rows:
        add({c: r.cells.get(c, "") for c in columns}, None if r.target_code or r.no_map else best.get(r.row))
    sheets = [getattr(r.row, "sheet", None) for r in table.rows]
    new = [r for r in result["rows"] if r["row"] is None]   # catalogue codes without a row: new draft rows
    if new:
        source = {name: _column(table, columns, name) for name in ("source_code", "source_display")}
        for r in new:
            cells = dict.fromkeys(columns, "")
            cells.update({source["source_code"]: r["source_code"], source["source_display"]: r["source_display"],
                          headers["status"]: "draft"})
            add(cells, r["candidates"])
    return columns, rows, suggested, sheets


def write_suggestions(table, result: dict, path: str) -> int:
    """Write the table with its suggestions to path (.xlsx or .csv); the number of rows suggested."""
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in OUTPUT_FORMATS:
        raise WriteError(f"{path}: the file must end in .xlsx or .csv")
    data, suggested = suggestions_bytes(table, result, fmt)
    toml = os.path.splitext(path)[0] + ".toml"
    try:
        with open(path, "wb") as f:
            f.write(data)
        if fmt == "csv" and not os.path.exists(toml):   # a CSV is a table with its metadata beside it
            with open(toml, "w", encoding="utf-8") as f:
                f.write(meta_to_toml(table.meta))
    except OSError as e:
        raise WriteError(f"{path}: {e.strerror}") from None
    return suggested


def suggestions_bytes(table, result: dict, fmt: str) -> tuple[bytes, int]:
    """(the table with its suggestions as a file of format fmt, "xlsx" or "csv"; the number of rows suggested)."""
    columns, rows, suggested, sheets = suggested_rows(table, result)
    if fmt == "csv":
        return csv_bytes(columns, rows, table.delimiter or ","), len(suggested)
    return _with_dropdowns(xlsx_bytes(table.meta, columns, rows, sheets), columns.index(
        _column(table, columns, "target_code")) + 1, suggested, sheet_layout(sheets, len(rows))), len(suggested)


def _with_dropdowns(data: bytes, code_column: int, suggested: dict, layout: list) -> bytes:
    """The workbook with a dropdown of the candidates' codes on each suggested row's target code cell."""
    from openpyxl import load_workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = load_workbook(io.BytesIO(data))
    for i, candidates in suggested.items():
        title, row = layout[i]
        ws = wb[title]
        cell = ws.cell(row, code_column)
        codes = [c["code"].replace(",", " ").replace('"', "") for c in candidates]
        prompt = "\n".join(f"{c['code']} {c['display']} ({c['score']:.2f})" for c in candidates)
        dv = DataValidation(type="list", formula1='"' + ",".join(codes)[:250] + '"', allow_blank=True,
                            showErrorMessage=True, errorStyle="warning", errorTitle="target code",
                            error="Not one of the suggested codes (any code of the target scope is allowed)",
                            showInputMessage=True, promptTitle="Suggested codes", prompt=prompt[:PROMPT_LIMIT])
        dv.add(cell.coordinate)
        ws.add_data_validation(dv)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
