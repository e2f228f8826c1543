"""Judging mapping tables: structure (no store needed) and content (against a build).

    report = check(["mappings_csv/"], store)      # store: a Store, a build in progress, or None
    table_report = judge_table(read_table(path), store)

Errors: unreadable file / metadata, missing required column, unknown relationship,
status or no_map value, empty target without no_map, mapped row without
relationship, missing system, conflicting relationships for the same source ->
target (or no-map plus a map), duplicate rows; with a store: source code not in its
(complete) code system, target code not in its (complete) code system, target not in
the target scope value set.
Warnings: display not one of the code's displays, code system a fragment (code not
in it) or not loaded (cannot verify), scope value set not loaded or not evaluable,
source code outside the source scope, rows not yet accepted.
Coverage: the source scope value set's codes with an accepted map, an accepted
deliberate no-map, or nothing (listed; `pending` when only unaccepted rows exist).

The content questions are answered by the service's own operations (termsvc.ops.judge:
$validate-code for codes, displays and membership, $expand for the coverage), so a check
and the service cannot disagree.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from termsvc.mappings.table import ROW_STATUSES, Problem, Table, find_tables, read_table
from termsvc.ops.judge import (FOUND, NOT_MEMBER, UNKNOWN_CODE, UNKNOWN_SYSTEM, UNVERIFIABLE, Judge,
                               NotEvaluable)
from termsvc.store.reader import Store

COVERAGE_LIMIT = 100_000   # codes of a source scope listed for coverage


# -- report ------------------------------------------------------------------------------
@dataclass
class TableReport:
    name: str
    file: str
    path: str
    meta: dict
    usable: bool
    rows: int
    status_counts: dict
    problems: list
    coverage: dict | None = None

    @property
    def errors(self):
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self):
        return [p for p in self.problems if p.level == "warning"]

    def as_dict(self) -> dict:
        return {"name": self.name, "file": self.file, "path": self.path, "url": self.meta.get("url"),
                "title": self.meta.get("title"), "usable": self.usable, "rows": self.rows,
                "status_counts": self.status_counts, "errors": len(self.errors),
                "warnings": len(self.warnings), "coverage": self.coverage,
                "problems": [p.as_dict() for p in self.problems]}


@dataclass
class Report:
    tables: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    db: str | None = None

    @property
    def errors(self) -> int:
        return sum(len(t.errors) for t in self.tables)

    @property
    def warnings(self) -> int:
        return sum(len(t.warnings) for t in self.tables)

    @property
    def unusable(self) -> bool:
        return not self.tables or any(not t.usable for t in self.tables)

    @property
    def exit_code(self) -> int:
        """0 clean (warnings allowed), 1 errors, 2 unusable input (no table, or a table
        whose rows could not be read: unreadable file/metadata, missing column)."""
        if self.unusable:
            return 2
        return 1 if self.errors else 0

    def as_dict(self) -> dict:
        return {"db": self.db, "errors": self.errors, "warnings": self.warnings,
                "exit_code": self.exit_code, "notes": self.notes,
                "tables": [t.as_dict() for t in self.tables]}


def _ranges(nums) -> str:
    nums = sorted(set(nums))
    out, start, prev = [], None, None
    for n in nums:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = n
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else str(start))
    return ", ".join(out)


def judge_table(t: Table, store=None) -> TableReport:
    """A table's report: its structural problems and, with a store (a served Store or a build in
    progress), the engine's judgement of its codes, displays and scopes, and its coverage."""
    status_counts = Counter(r.status or "invalid" for r in t.rows)
    rep = TableReport(name=t.name, file=t.file, path=t.path, meta=t.meta, usable=t.usable,
                      rows=len(t.rows), problems=list(t.problems),
                      status_counts={s: status_counts.get(s, 0) for s in ROW_STATUSES + ["invalid"]
                                     if status_counts.get(s)})
    if not t.usable:
        return rep
    probs = rep.problems

    def add(level, kind, row, msg, col=None):
        probs.append(Problem(level, kind, t.file, row, msg, col))

    for r in t.rows:
        if r.status and r.status != "accepted":
            add("warning", "not-accepted", r.row, f"{r.source_code}: status '{r.status}' - not served",
                t.colmap.get("status"))
    if store is not None:
        rep.coverage = _judge_content(t, Judge(store), add)
    probs.sort(key=lambda p: (p.row or 0, p.level != "error"))
    return rep


def _judge_content(t: Table, judge: Judge, add) -> dict | None:
    """Codes, displays and target scope of every row; the coverage of the source scope."""
    tscope = t.meta.get("target_scope")
    if tscope and not judge.has_value_set(tscope):
        add("warning", "scope-unverifiable", None, f"target scope {tscope}: not loaded; target membership not checked")
        tscope = None
    undecided = []   # (row, why) of targets whose membership of the target scope the engine cannot decide
    sscope = t.meta.get("source_scope")
    smembers = judge.members(sscope, COVERAGE_LIMIT) if sscope else None
    if isinstance(smembers, NotEvaluable):
        add("warning", "scope-unverifiable", None, f"source scope {sscope}: {smembers.reason}; coverage not computed")
    not_loaded = defaultdict(list)   # (side, system) -> rows
    for r in t.rows:
        for side, system, code, display in (("source", r.source_system, r.source_code, r.source_display),
                                            ("target", r.target_system, r.target_code, r.target_display)):
            if not code or not system:
                continue
            verdict = judge.code(system, code, display or None)
            if verdict.state == UNKNOWN_SYSTEM:
                not_loaded[(side, system)].append(r.row)
            elif verdict.state == UNKNOWN_CODE:
                add("error", f"unknown-{side}-code", r.row, f"{side} code {code} is not in {system}",
                    t.colmap.get(f"{side}_code"))
            elif verdict.state == UNVERIFIABLE:
                add("warning", "unverifiable", r.row, f"{side} code {code} cannot be verified: {verdict.message}",
                    t.colmap.get(f"{side}_code"))
            elif verdict.state == FOUND and not verdict.display_ok:
                add("warning", "display-differs", r.row, f"{side} display '{display}' differs from"
                    f" the code system's '{verdict.display}' for {code}", t.colmap.get(f"{side}_display"))
        if tscope and r.target_code and r.target_system:
            member = judge.membership(tscope, r.target_system, r.target_code)
            if member.state == NOT_MEMBER:
                add("error", "target-outside-scope", r.row, f"target {r.target_code} is not in the target"
                    f" scope value set {tscope}", t.colmap.get("target_code"))
            elif member.state == UNVERIFIABLE:
                undecided.append((r.row, member.message))
    if undecided:
        rows = [row for row, _ in undecided]
        add("warning", "scope-unverifiable", rows[0], f"target scope {tscope}: {len(rows)} target(s) cannot be"
            f" judged (rows {_ranges(rows)}); the first: {undecided[0][1]}")
    for (side, system), rows in not_loaded.items():
        add("warning", "system-not-loaded", rows[0], f"{side} code system {system} is not loaded:"
            f" {len(rows)} code(s) cannot be verified (rows {_ranges(rows)})")
    if not sscope:
        return None
    if isinstance(smembers, NotEvaluable):
        return {"scope": sscope, "evaluable": False, "reason": smembers.reason}
    return _coverage(t, sscope, smembers, add)


def _coverage(t: Table, sscope: str, smembers: list, add) -> dict:
    keys = {(s, c) for s, c, _ in smembers}
    outside = [r.row for r in t.rows if (r.source_system, r.source_code) not in keys]
    if outside:
        add("warning", "outside-source-scope", outside[0], f"{len(outside)} row(s) have a source code"
            f" outside the source scope {sscope} (rows {_ranges(outside)})")
    mapped, nomap, pending = set(), set(), set()
    for r in t.rows:
        k = (r.source_system, r.source_code)
        if r.accepted:
            (nomap if r.no_map else mapped).add(k)
        else:
            pending.add(k)
    n_mapped = n_nomap = 0
    unmapped = []
    for s, c, d in smembers:
        if (s, c) in mapped:
            n_mapped += 1
        elif (s, c) in nomap:
            n_nomap += 1
        else:
            unmapped.append({"system": s, "code": c, "display": d, "pending": (s, c) in pending})
    total = len(smembers)
    return {"scope": sscope, "evaluable": True, "total": total, "mapped": n_mapped,
            "no_map": n_nomap, "unmapped": len(unmapped), "unmapped_codes": unmapped,
            "percent_covered": round(100.0 * (n_mapped + n_nomap) / total, 1) if total else 100.0}


def check(paths, store: Store | str | None = None) -> Report:
    """Judge the tables at `paths` (files or folders) against a build (a Store or its path;
    None: structural checks only)."""
    report = Report()
    if isinstance(store, (str, os.PathLike)):
        store = Store(os.fspath(store))
    if store is not None:
        report.db = store.path
    else:
        report.notes.append("no database: code, display, scope and coverage checks skipped")
    bases = find_tables(paths)
    if not bases:
        report.notes.append("no mapping tables found")
    for base in bases:
        report.tables.append(judge_table(read_table(base), store))
    return report
