"""What a mapping table or a catalogue export can have wrong, and the problems found in a sheet's cells as
it is read, for both alike (termsvc.mappings.table, termsvc.mappings.codesystems): the rows above its header,
cells whose text may not be what was typed, codes holding characters one cannot see."""
from __future__ import annotations

import re
from dataclasses import dataclass

from termsvc.fhir.shape import CONTROL_CHARACTER, control_character
from termsvc.mappings.reading import SHOWN_CHARS, row_json, unseen_character

# a number as a spreadsheet writes one of more than 11 digits in a General cell into a CSV: 1.23457E+15
MAX_CELL = 32_767   # characters of a spreadsheet cell (Excel's, LibreOffice's)
SCIENTIFIC = re.compile(r"-?\d(?:[.,]\d+)?E\+\d+", re.I)

# every kind of problem a table (or a catalogue) can have: what the review page filters rows by
PROBLEM_KINDS = frozenset({
    # the file and the table
    "unreadable", "missing-metadata", "invalid-metadata", "unknown-metadata", "missing-column", "duplicate-column",
    "duplicate-table",
    # a row, read on its own
    "above-header", "total-row", "hidden-row", "hidden-column", "merged-cell", "unread-sheet", "read-sheets", "malformed-row", "invalid-cell",
    "typed-cell", "hidden-character", "empty-source-code", "unknown-relationship",
    "unknown-status", "unknown-no-map", "unreadable-depends-on", "depends-on-no-map",
    "no-map-with-target", "empty-target", "missing-relationship", "missing-system",
    # rows together
    "duplicate-row", "conflicting-relationship", "case-duplicate", "unnamed-target-column",
    # against a build (termsvc.mappings.lint)
    "not-accepted", "unknown-source-code", "unknown-target-code", "invalid-source-code", "invalid-target-code",
    "unverifiable", "display-differs", "code-status",
    "target-outside-scope", "scope-unverifiable", "system-not-loaded", "misnamed-system", "outside-source-scope",
    # a catalogue export (termsvc.mappings.codesystems)
    "unknown-parent", "hierarchy-cycle"})


def shown(text: str) -> str:
    """A cell's text as a report shows it: its first SHOWN_CHARS characters, a control character escaped (`\\x1b`:
    a report on a terminal is no way to move its cursor)."""
    if not text.isprintable():
        text = CONTROL_CHARACTER.sub(lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"… ({len(text):,} characters)"


@dataclass
class Problem:
    level: str        # "error" | "warning"
    kind: str         # short machine name, e.g. "unknown-relationship"
    file: str
    row: int | None   # spreadsheet row (header = 1; a reading.SheetRow `Sheet!row`); None for the whole table
    message: str
    column: str | None = None
    source_code: str = ""     # the row's source code and display, as written
    source_display: str = ""

    def __post_init__(self):
        if self.kind not in PROBLEM_KINDS:
            raise ValueError(f"problem kind {self.kind!r} is not one of PROBLEM_KINDS")

    def where(self) -> str:
        return f"{self.file}:{self.row}" if self.row else self.file

    def line(self) -> str:
        """`file:row: message (source code 'X' 'display')` - how a build names a problem."""
        return f"{self.where()}: {self.message}{self.source_text()}"

    def source_text(self) -> str:
        if not self.source_code:
            return ""
        code, display = shown(self.source_code), shown(self.source_display)
        return f" (source code '{code}'" + (f" '{display}')" if display else ")")


    def as_dict(self) -> dict:
        return {"level": self.level, "kind": self.kind, "file": self.file, "row": row_json(self.row),
                "column": self.column, "message": self.message, "source_code": self.source_code,
                "source_display": self.source_display}


def code_problem(column: str, text: str) -> str | None:
    """Why a code cell's text is no code (a character one cannot see in it), or None."""
    unseen = unseen_character(text)
    return f"{column} {text!r} holds {unseen}: no code has one" if unseen else None


def sheet_problems(file: str, cells, cols: list, what: str, header: str) -> list[Problem]:
    """What reading a sheet passed over or found hidden, said: the rows above its header row (a title, a
    version line, a group heading over the columns) and its total rows, not read as `what` (a mapping, a code);
    the columns `cols` ([(index, header)]) it hides; a workbook's sheets read as one table and those not read
    (without the column `header`; with it, but other columns: an error)."""
    out = [Problem("warning", "above-header", file, line, f"the row stands above the header (row"
                   f" {cells.header_line}) and is not read as {what}: {_joined(raw)}") for line, raw in cells.above]
    out += [Problem("warning", "total-row", file, line, f"the row is a total ({formula}), not read as {what}:"
                    f" {_joined(raw)}") for line, raw, formula in cells.totals]
    out += [Problem("warning", "hidden-column", file, cells.header_line, f"column '{h}' is hidden in the sheet: its"
                    " cells are read all the same", h) for i, h in cols if i in cells.hidden_columns]
    if len(cells.sheets) > 1 or cells.skipped_sheets or cells.unread_sheets:
        read = ", ".join(cells.sheets)
        out.append(Problem("warning", "read-sheets", file, None, (
            f"the sheets {read} have the same columns and are read as one table (rows named Sheet!row)"
            if len(cells.sheets) > 1 else f"the sheet {read} is read") + (
            f"; not read: {', '.join(cells.skipped_sheets)} (no {header} column)" if cells.skipped_sheets else "")))
    for sheet, differs in cells.unread_sheets:
        out.append(Problem("error", "unread-sheet", file, None, f"the sheet {sheet} also has a {header} column, but"
                           f" other columns than {cells.sheets[0]} ({differs}): it is not read; give the sheets the same"
                           " columns to read them as one table, name the one to read 'mappings', or give each sheet"
                           " a file of its own"))
    return out


def _joined(raw: list) -> str:
    return " | ".join(c.strip() for c in raw if c.strip())


def cell_problems(file: str, cells, line: int, raw: list, cols: list, codes: dict, displays=(), uris=()) -> list[Problem]:
    """The problems of one row's cells as the sheet holds them, a table's and a catalogue's alike. `cols`:
    [(index, header)] of the columns read; `codes`: header of a code column -> whether a whole number may be
    typed into it as a number (SNOMED CT ids have no leading zeros to lose); `displays`: the headers of
    display columns; `uris`: of system columns.
    - a control character (fhir.shape.CONTROL_CHARACTER: a cell may hold a tab and line breaks, no other) in any
      cell, at its ends too (where reading trims it away), an error: the row is no text its author typed; in a
      code or system cell, no tab or line break either (codes: the row schema's CodeCell; systems: here);
    - a cell whose text may not be what was typed (reading.Cells.notes): an error value or a formula with no
      saved value is an error in any column, a number or a date a warning in a code column;
    - a code that starts with an apostrophe (Excel's mark of a text cell, a character of a CSV's cell), or
      that is a number in scientific notation (1.23457E+15: Excel's CSV of a long number, its digits lost);
    - a display holding an invisible character (a zero-width space: it differs from the name it shows);
    - a row the sheet hides (Hide, or filtered out by its filter): read all the same;
    - a cell merged with the one above it: read as the merged cell's text;
    - a cell longer than a spreadsheet cell holds (MAX_CELL: no program that keeps a table wrote it)."""
    out = []
    if line in cells.hidden_rows:
        out.append(Problem("warning", "hidden-row", file, line, "the row is hidden in the sheet (hidden, or filtered"
                           " out by the sheet's filter): it is read all the same"))
    for i, header in cols:
        note = cells.notes.get((line, i)) if cells.notes else None
        if note is not None:
            kind, what = note
            if kind == "error":
                out.append(Problem("error", "invalid-cell", file, line, f"{header} {what}", header))
            elif kind == "merged":
                out.append(Problem("warning", "merged-cell", file, line, f"{header} {what}", header))
            elif header in codes and not (codes[header] and kind == "whole number"):
                out.append(Problem("warning", "typed-cell", file, line, f"{header} {what}", header))
        text = raw[i].strip() if i < len(raw) else ""
        if len(text) > MAX_CELL:
            out.append(Problem("error", "invalid-cell", file, line, f"{header} holds {len(text):,} characters, more than a"
                               f" spreadsheet cell holds ({MAX_CELL:,}): '{shown(text)}'", header))
            continue
        cell = raw[i] if i < len(raw) else ""
        if not cell.isprintable():
            control = control_character(cell)
            if control and not (header in codes and code_problem(header, text)):   # (a code's: said once)
                out.append(Problem("error", "invalid-cell", file, line, f"{header} '{shown(cell)}' holds {control}: a"
                                   " cell holds none (but a text's tabs and line breaks)", header))
                continue
            unseen = unseen_character(text) if header in uris else None
            if unseen:
                out.append(Problem("error", "invalid-cell", file, line, f"{header} {text!r} holds {unseen}: no system"
                                   " URI has one", header))
                continue
        if header not in codes and header not in displays:
            continue
        if header in displays:
            unseen = unseen_character(text, ("Cf",))
            if unseen:
                out.append(Problem("warning", "hidden-character", file, line, f"{header} '{text}' holds {unseen}: it"
                                   " differs from the text it shows", header))
        elif text[:1] == "'" and len(text) > 1:
            out.append(Problem("warning", "typed-cell", file, line, f"{header} '{text}' starts with an apostrophe:"
                               " Excel's mark of a text cell, here a character of the code (remove it if the code is"
                               f" {text[1:]})", header))
        elif "E" in text.upper() and SCIENTIFIC.fullmatch(text):
            out.append(Problem("error", "invalid-cell", file, line, f"{header} '{text}' is a number as Excel writes a"
                               " long one into a CSV (in scientific notation): the code's digits are lost; store"
                               " the column as text and save the CSV again", header))
    return out
