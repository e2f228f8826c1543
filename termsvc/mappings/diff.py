"""What changed between two versions of mapping tables: rows added, removed and changed (the cells, old
-> new), status changes (who and when), columns and metadata, and the coverage before and after.

    d = diff_reports(check(old_paths, ...), check(new_paths, ...))   # tables matched by name (else url)
    d.changed, d.as_dict()
    td = diff_tables(old_table, new_table, old_coverage, new_coverage)

Rows are matched by source code and target (system and code; a deliberate no-map is its own target):
a row whose target changed is one removed and one added. Two rows of one key are matched in order.
Cells are compared as written (a known column by its meaning, `Source Code` is `source_code`; another
column by its header); the status as it applies (an empty cell takes the table's default_status).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from termsvc.mappings.reading import row_json
from termsvc.mappings.table import META_KEYS, Row, Table

NO_MAP = "(no map)"
# the build's meta key of the tables the build it replaced had and it has not (a JSON list of names)
REMOVED_TABLES_META = "mapping_tables_removed"


def row_key(r: Row) -> tuple:
    """What matches a row of one version with a row of the other: source code and target."""
    return (r.source_code, "", NO_MAP) if r.no_map else (r.source_code, r.target_system, r.target_code)


def row_dict(r: Row, t: Table) -> dict:
    """A row as the diff shows it: its number, meaning and cells as written."""
    return {"row": row_json(r.row), "source_code": r.source_code, "source_display": r.source_display,
            "target_system": r.target_system, "target_code": r.target_code, "target_display": r.target_display,
            "relationship": r.cells.get(t.colmap.get("relationship"), r.r4_word or r.relationship or ""),
            "no_map": r.no_map, "status": r.status, "author": r.author, "reviewer": r.reviewer,
            "status_date": r.status_date, "comment": r.comment}


def _columns(t: Table) -> dict:
    """column identity (a known column's meaning, another's header) -> header as written."""
    known = {h: c for c, h in t.colmap.items()}
    return {known.get(h, h): h for h in t.columns}


@dataclass
class RowChange:
    old: dict
    new: dict
    cells: list          # [{"column", "old", "new"}]
    status: dict | None  # {"old", "new", "author", "reviewer", "date"} when the status changed

    def as_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "cells": self.cells, "status": self.status}


@dataclass
class TableDiff:
    name: str
    old_file: str | None            # None: the table is new
    new_file: str | None            # None: the table is gone
    added: list = field(default_factory=list)       # row dicts
    removed: list = field(default_factory=list)
    changed: list = field(default_factory=list)     # [RowChange]
    columns_added: list = field(default_factory=list)
    columns_removed: list = field(default_factory=list)
    metadata: list = field(default_factory=list)    # [{"key", "old", "new"}]
    coverage_before: dict | None = None
    coverage_after: dict | None = None

    @property
    def status_changes(self) -> list:
        return [c for c in self.changed if c.status]

    @property
    def has_changes(self) -> bool:
        return bool(self.old_file is None or self.new_file is None or self.added or self.removed or self.changed
                    or self.columns_added or self.columns_removed or self.metadata)

    def counts(self) -> dict:
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed),
                "status_changes": len(self.status_changes)}

    def as_dict(self) -> dict:
        return {"name": self.name, "old_file": self.old_file, "new_file": self.new_file,
                "changed": self.has_changes, "counts": self.counts(), "added": self.added, "removed": self.removed,
                "changes": [c.as_dict() for c in self.changed], "columns_added": self.columns_added,
                "columns_removed": self.columns_removed, "metadata": self.metadata,
                "coverage": {"before": _coverage_summary(self.coverage_before),
                             "after": _coverage_summary(self.coverage_after)}}


def _coverage_summary(cov: dict | None) -> dict | None:
    """The coverage without its list of codes."""
    return None if cov is None else {k: v for k, v in cov.items() if k != "unmapped_codes"}


@dataclass
class Diff:
    old: str
    new: str
    tables: list = field(default_factory=list)    # [TableDiff], every table of either version
    notes: list = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(t.has_changes for t in self.tables)

    @property
    def exit_code(self) -> int:
        """0 nothing changed, 1 something did."""
        return 1 if self.changed else 0

    def as_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "changed": self.changed, "notes": self.notes,
                "tables": [t.as_dict() for t in self.tables]}


def diff_tables(old: Table | None, new: Table | None, coverage_before: dict | None = None,
                coverage_after: dict | None = None) -> TableDiff:
    """The changes from `old` to `new` (either None: a table added or removed, every row with it)."""
    either = new or old
    assert either is not None, "no table on either side"
    d = TableDiff(either.name, old.file if old else None, new.file if new else None,
                  coverage_before=coverage_before, coverage_after=coverage_after)
    if old is None or new is None:
        side = d.added if old is None else d.removed
        side += [row_dict(r, either) for r in either.rows]
        return d
    old_cols, new_cols = _columns(old), _columns(new)
    d.columns_added = [h for c, h in new_cols.items() if c not in old_cols]
    d.columns_removed = [h for c, h in old_cols.items() if c not in new_cols]
    d.metadata = [{"key": k, "old": old.meta.get(k), "new": new.meta.get(k)} for k in META_KEYS
                  if old.meta.get(k) != new.meta.get(k)]
    pending = defaultdict(list)     # key -> old rows not matched yet, in order
    for r in old.rows:
        pending[row_key(r)].append(r)
    for r in new.rows:
        olds = pending.get(row_key(r))
        if not olds:
            d.added.append(row_dict(r, new))
            continue
        change = _row_change(olds.pop(0), r, old, new, old_cols, new_cols)
        if change is not None:
            d.changed.append(change)
    d.removed = [row_dict(r, old) for r in sorted((r for rows in pending.values() for r in rows), key=lambda r: r.row)]
    return d


def _row_change(o: Row, n: Row, old: Table, new: Table, old_cols: dict, new_cols: dict) -> RowChange | None:
    cells = []
    for column in dict.fromkeys([*old_cols, *new_cols]):
        before = o.cells.get(old_cols.get(column), "")
        after = n.cells.get(new_cols.get(column), "")
        if before != after:
            cells.append({"column": new_cols.get(column) or old_cols[column], "old": before, "new": after})
    status = None
    if o.status != n.status:
        status = {"old": o.status, "new": n.status, "author": n.author, "reviewer": n.reviewer,
                  "date": n.status_date}
    if not cells and status is None:
        return None
    return RowChange(row_dict(o, old), row_dict(n, new), cells, status)


def diff_reports(old, new, old_label: str = "old", new_label: str = "new") -> Diff:
    """The changes between the tables of two check Reports (termsvc.mappings.lint): tables matched by
    name, else by url; each with its coverage before and after."""
    d = Diff(old_label, new_label, notes=[*(f"{old_label}: {n}" for n in old.notes),
                                          *(f"{new_label}: {n}" for n in new.notes)])
    olds = {rep.name: rep for rep in old.tables if rep.table is not None}
    by_url = {rep.meta.get("url"): rep for rep in olds.values() if rep.meta.get("url")}
    for rep in new.tables:
        before = olds.pop(rep.name, None)
        if before is None and rep.meta.get("url") in by_url and by_url[rep.meta["url"]].name in olds:
            before = olds.pop(by_url[rep.meta["url"]].name)     # the table was renamed
        d.tables.append(diff_tables(before.table if before else None, rep.table,
                                    before.coverage if before else None, rep.coverage))
    for rep in olds.values():
        d.tables.append(diff_tables(rep.table, None, rep.coverage, None))
    return d
