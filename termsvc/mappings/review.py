"""What the review page shows of a build's mapping tables (termsvc.api.review renders it): the filters
and the search over rows, and each row's cells laid out in columns with the problems of each cell.

    f = RowFilter.parse(q="schadel", status="Accepted", problem="error", system=url)   # ValueError: unknown value
    f.keep(row, problems, change)                  # problems: the row's (as_dict) problems
    f.keep_unlisted(code, display, table_meta)     # a catalogue code no row names: as the draft row it would be
    columns = layout(table, report)                # [Column]: the columns of the rows' grid
    cells = row_cells(row, columns, problems)      # [Cell] of one row

The search folds case and accents (`Schadel` finds `Schädel`, as the FHIR text filter does) over the
source and target code and display, the author, the reviewer and the comment.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from termsvc.mappings.reading import canonical_header
from termsvc.mappings.problems import PROBLEM_KINDS
from termsvc.mappings.table import ROW_STATUSES, Row, Table, normalize_status

STATUS_CHOICES = ROW_STATUSES + ["invalid"]
PROBLEM_CHOICES = ["any", "error", "warning", "none"]     # then a problem's kind
CHANGE_CHOICES = ["any", "added", "changed"]              # since the build served before
SEARCHED = ("source_code", "source_display", "target_code", "target_display", "author", "reviewer", "comment")
# what a catalogue code that no row names is, to a filter: a draft row to map (the row the suggestions' download
# adds for it), so not mapped yet
UNLISTED_PROBLEMS = [{"level": "warning", "kind": "empty-target", "column": "target_code"}]


def fold(text: str) -> str:
    """Text as the search compares it: without accents, case folded (`Schädel` -> `schadel`)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def row_matches(r: Row, needle: str) -> bool:
    """Does the folded `needle` occur in one of the row's searched cells?"""
    return any(needle in fold(getattr(r, name) or "") for name in SEARCHED)


def exact_match(r: Row, needle: str) -> bool:
    return needle in (fold(r.source_code), fold(r.target_code))


@dataclass(frozen=True)
class RowFilter:
    q: str = ""            # folded search text
    status: str = ""
    problem: str = ""
    change: str = ""
    system: str = ""       # the target system (a url, as written)

    @classmethod
    def parse(cls, q: str = "", status: str = "", problem: str = "", change: str = "", system: str = "") -> RowFilter:
        """The filter of a request's values, case-insensitive (but the system's url); ValueError names a value
        it does not know."""
        status = normalize_status(status)
        problem, change = problem.strip().lower(), change.strip().lower()
        for name, value, choices in (("status", status, STATUS_CHOICES),
                                     ("problem", problem, PROBLEM_CHOICES + sorted(PROBLEM_KINDS)),
                                     ("change", change, CHANGE_CHOICES)):
            if value and value not in choices:
                raise ValueError(f"unknown {name} '{value}': one of {', '.join(choices)}")
        return cls(fold(q.strip()), status, problem, change, system.strip())

    @property
    def active(self) -> bool:
        return bool(self.q or self.status or self.problem or self.change or self.system)

    def query(self) -> dict:
        """The filter as request values (to link to it)."""
        return {k: v for k, v in (("status", self.status), ("problem", self.problem), ("change", self.change),
                                  ("system", self.system)) if v}

    def keep(self, r: Row, problems: list, change: str | None = None) -> bool:
        """Is the row shown? `problems`: its problems (dicts); `change`: "added", "changed" or None."""
        if self.status and (r.status or "invalid") != self.status:
            return False
        if self.system and r.target_system != self.system:
            return False
        if self.change and (change is None or self.change not in ("any", change)):
            return False
        if self.q and not row_matches(r, self.q):
            return False
        if self.problem == "any":
            return bool(problems)
        if self.problem == "none":
            return not problems
        if self.problem in ("error", "warning"):
            return any(p["level"] == self.problem for p in problems)
        return not self.problem or any(p["kind"] == self.problem for p in problems)

    def keep_unlisted(self, code: str, display: str, meta: dict) -> bool:
        """Is a code of a table's catalogue that no row names listed? As the row it would be: a draft without a
        target, of the table's (`meta`) default systems."""
        row = Row(row=0, cells={}, source_system=meta.get("source_system") or "", source_code=code,
                  source_display=display or "", target_system=meta.get("target_system") or "",
                  status="draft")
        return self.keep(row, UNLISTED_PROBLEMS)


@dataclass(frozen=True)
class Column:
    key: str                     # a known column's name, or "extra" for another
    label: str
    header: str | None = None    # the table's header of it (None: the table has no such column)
    names: frozenset = frozenset()   # the canonical columns whose problems are this column's
    nowrap: bool = False
    extra: bool = False


@dataclass
class Cell:
    text: str
    column: Column
    problems: list = field(default_factory=list)   # the row's problems that name this cell's column

    @property
    def level(self) -> str:
        """"error", "warning" or "" (the highlight of the cell)."""
        levels = {p["level"] for p in self.problems}
        return "error" if "error" in levels else "warning" if levels else ""


def layout(t: Table) -> list[Column]:
    """The grid's columns: source, target system, code and display, relationship, status, who and when,
    the comment, then the table's other columns (collapsible). A source system column only when the
    rows have more than one."""
    col = t.colmap.get
    cols = [Column("source_code", "Source code", col("source_code"), frozenset({"source_code"}), nowrap=True),
            Column("source_display", "Source display", col("source_display"), frozenset({"source_display"}))]
    if len({r.source_system for r in t.rows}) > 1:
        cols.append(Column("source_system", "Source system", col("source_system"), frozenset({"source_system"}),
                           nowrap=True))
    cols += [Column("target_system", "Target system", col("target_system"), frozenset({"target_system"}), nowrap=True),
             Column("target_code", "Target", col("target_code"), frozenset({"target_code", "no_map"}), nowrap=True),
             Column("target_display", "Target display", col("target_display"), frozenset({"target_display"})),
             Column("relationship", "Relationship", col("relationship"), frozenset({"relationship"}), nowrap=True),
             *([Column("depends_on", "Depends on", col("depends_on"), frozenset({"depends_on"}))]
               if col("depends_on") else []),
             Column("status", "Status", col("status"), frozenset({"status"}), nowrap=True),
             Column("author", "Author", col("author"), frozenset({"author"}), nowrap=True),
             Column("reviewer", "Reviewer", col("reviewer"), frozenset({"reviewer"}), nowrap=True),
             Column("status_date", "Date", col("status_date"), frozenset({"status_date"}), nowrap=True),
             Column("comment", "Comment", col("comment"), frozenset({"comment"}))]
    cols += [Column("extra", h, h, frozenset({canonical_header(h)}), extra=True)
             for h in t.columns if h not in t.colmap.values()]
    return cols


def row_cells(r: Row, columns: list[Column], problems: list) -> list[Cell]:
    """A row's cells: what the row means (the system a default gave, `no map`), or, in a cell with a
    problem, the cell as written (an unknown relationship `equivalnet` is shown where it is)."""
    out = []
    for c in columns:
        own = [p for p in problems if p.get("column") and (p["column"] == c.header or canonical_header(p["column"]) in c.names)]
        if c.extra:
            text = r.cells.get(c.header, "")
        elif own:   # the cell the problem is about, as written (else what the row means)
            text = next((r.cells[p["column"]] for p in own if r.cells.get(p["column"])), "") or getattr(r, c.key) or ""
        elif c.key == "target_code" and r.no_map:
            text = "no map"
        elif c.key == "relationship":
            text = r.cells.get(c.header, "") or r.r4_word or r.relationship or ""
        elif c.key == "depends_on":
            text = r.cells.get(c.header, "")
        else:
            text = getattr(r, c.key) or ""
        out.append(Cell(text, c, own))
    return out
