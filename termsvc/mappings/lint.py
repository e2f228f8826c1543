"""Judging mapping tables: structure (no store needed) and content (against a build).

    report = check(["mappings_csv/"], store)      # store: a Store, a build in progress, or None
    table_report = judge_table(read_table(path), store)

Errors: unreadable file / metadata, missing required column, a line that cannot be read,
unknown relationship, status or no_map value, empty target without no_map, mapped row
without relationship, missing system, conflicting relationships for the same source ->
target (or no-map plus a map), duplicate rows, two tables of one name or url; with a store,
for a row the build serves: source code not in its (complete) code system, target code not
in its (complete) code system, target not in the target scope value set, a target display
$validate-code rejects.
Warnings: those content problems on a row not served; a source display that differs, an inactive or
deprecated code (what $validate-code warns of it), code system a fragment (code not in it) or not
loaded (cannot verify), scope value set not loaded
or not evaluable, source code outside the source scope, rows not yet accepted, source codes
differing only in case in a table that matches ignoring case.
Coverage: of the table's catalogue - the source scope value set, or, for a table without one, its own
source codes (mapped and unmapped rows) - the codes with an accepted map, an accepted deliberate no-map,
or nothing (listed; `pending` when only unaccepted rows exist).

The content questions are answered by the service's own operations (termsvc.ops.judge:
$validate-code for codes, displays and membership, $expand for the coverage), so a check
and the service cannot disagree. The local code systems and value sets of the tables' folders
(`codesystems/`) come first, as a request's tx-resources do: a catalogue added or changed there counts
without a rebuild, and without a build at all for the coverage.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from termsvc.fhir.conceptmap_match import fold
from termsvc.mappings.codesystems import local_resources
from termsvc.mappings.problems import Problem
from termsvc.mappings.table import ROW_STATUSES, Row, Table, find_tables, read_table
from termsvc.ops.judge import (FOUND, MALFORMED, MISNAMED_SYSTEM, NOT_MEMBER, UNKNOWN_CODE, UNKNOWN_SYSTEM, UNVERIFIABLE,
                               CodeVerdict, Judge, MembershipVerdict, NotEvaluable)
from termsvc.results import CANNOT_JUDGE
from termsvc.store.reader import Store

COVERAGE_LIMIT = 100_000   # codes of a source scope listed for coverage
NO_DATABASE = "no database: code, display and scope checks skipped"
SERVED = frozenset({"accepted"})   # the row statuses a build serves (--include-unaccepted-mappings: all)


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
    table: Table | None = None          # what was judged (not in the report's JSON)
    displays: dict = field(default_factory=dict)   # (system, code) -> the code system's display, of the targets
    served: int | None = None           # set by a build: rows served, rows left out for their errors
    dropped: int | None = None

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
                "warnings": len(self.warnings), "coverage": self.coverage, "served": self.served,
                "dropped": self.dropped, "meta": self.meta, "problems": [p.as_dict() for p in self.problems]}

    def served_rows(self, served=SERVED) -> list:
        """The rows a build serves: of a served status, with no error."""
        bad = {p.row for p in self.errors}
        return [r for r in self.table.rows if row_served(r, served) and r.row not in bad] if self.table else []


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

    def error_lines(self) -> list[str]:
        """Every error as `file:row: message (source code ...)`."""
        return [p.line() for t in self.tables for p in t.errors]

    def as_dict(self) -> dict:
        return {"db": self.db, "errors": self.errors, "warnings": self.warnings,
                "exit_code": self.exit_code, "notes": self.notes,
                "tables": [t.as_dict() for t in self.tables]}


def _ranges(nums) -> str:
    nums = sorted(set(nums))
    out: list[str] = []
    start: int | None = None
    prev = 0   # (read only once start is set)
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


def row_served(r, served) -> bool:
    """Is this row one the build serves (its status among `served`; None: every status)?"""
    return served is None or r.status in served


def judge_table(t: Table, store=None, served=SERVED, strict_displays: bool = False, resources=()) -> TableReport:
    """A table's report: its structural problems and, with a store (a served Store or a build in
    progress), the engine's judgement of its codes, displays and scopes; its coverage (of its source
    scope: with a store, or from `resources`, the local CodeSystems and ValueSets that come first).

    `served`: the row statuses the build serves (None: every row). A content problem of a served
    row is an error (the build would serve a wrong answer); of a row not served, a warning.
    `strict_displays`: a display $validate-code only warns about is an error too."""
    status_counts = Counter(r.status or "invalid" for r in t.rows)
    rep = TableReport(name=t.name, file=t.file, path=t.path, meta=t.meta, usable=t.usable,
                      rows=len(t.rows), problems=list(t.problems),
                      status_counts={s: status_counts.get(s, 0) for s in ROW_STATUSES + ["invalid"]
                                     if status_counts.get(s)}, table=t)
    if not t.usable:
        return rep
    probs = rep.problems

    def add(level, kind, row, msg, col=None):
        """A problem of the table, of a Row (an error only if the row is served), or of several rows
        (the number of the first)."""
        if isinstance(row, Row):
            level = level if row_served(row, served) else "warning"
            probs.append(Problem(level, kind, t.file, row.row, msg, col, row.source_code, row.source_display))
        else:
            probs.append(Problem(level, kind, t.file, row, msg, col))

    for r in t.rows:   # (a row without a target has its warning: not mapped yet)
        if r.status and not row_served(r, served) and (r.target_code or r.no_map):
            add("warning", "not-accepted", r, f"{r.source_code}: status '{r.status}' - not served")   # no bad cell
    _conflicts(t, add, served)
    if store is not None:
        rep.coverage = _judge_content(t, Judge(store, resources), add, rep.displays, probs, strict_displays)
    else:
        rep.coverage = _scope_coverage(t, Judge(None, resources), add, probs)
    probs.sort(key=lambda p: (p.row or 0, p.level != "error"))
    return rep


def _conflicts(t: Table, add, served):
    """Rows of one source code (folded, in a table that matches codes ignoring case) that contradict
    each other: the same target with two relationships, `equivalent` to two targets, a no-map and a
    map. Both rows are named and neither is served (an error of each) when both would be served; a
    row not served that contradicts one served is warned about; the served one stands."""
    key = (lambda r: (r.source_system, r.source_code)) if t.meta.get("source_case_sensitive", True) else \
        (lambda r: (r.source_system, fold(r.source_code)))
    by_source = defaultdict(list)
    for r in t.rows:
        if r.status != "rejected" and r.source_code and (r.no_map or (r.target_code and r.relationship)):
            by_source[key(r)].append(r)     # (not a row whose code cannot be read: it is no code's)
    column = t.colmap.get("relationship")
    for rows in by_source.values():
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                why = _contradiction(t, a, b)
                if why is None:
                    continue
                for r, other in ((a, b), (b, a)):
                    mine, theirs = row_served(r, served), row_served(other, served)
                    if mine and theirs:
                        add("error", "conflicting-relationship", r, f"{why}: rows {a.row} and {b.row} contradict each"
                            " other, so neither is served", column)
                    elif not mine:   # (a served row that a row not served contradicts stands)
                        add("warning", "conflicting-relationship", r, f"{why}: this row ({r.status}) contradicts row"
                            f" {other.row}" + (", which is served" if theirs else "; neither is served yet"), column)


def _contradiction(t: Table, a: Row, b: Row) -> str | None:
    def rel(r):
        return r.cells.get(t.colmap.get("relationship")) or r.relationship
    if a.no_map and b.no_map:
        return None   # a duplicate (table.table_checks)
    if _exclusive(a.depends_on, b.depends_on):
        return None   # mappings under conditions that cannot hold together (laterality left / right)
    if a.no_map or b.no_map:
        mapped = b if a.no_map else a
        if mapped.relationship == "not-related-to":
            return None
        return f"{mapped.source_code} is marked no_map and mapped to {mapped.target_code} ({rel(mapped)})"
    same_target = (a.target_system, a.target_code) == (b.target_system, b.target_code)
    if same_target and a.relationship != b.relationship:
        return f"{a.source_code} -> {a.target_code}: relationship '{rel(a)}' and '{rel(b)}'"
    if not same_target and a.relationship == b.relationship == "equivalent":
        return f"{a.source_code} is equivalent to both {a.target_code} and {b.target_code}"
    return None


def _exclusive(a: tuple, b: tuple) -> bool:
    """Can the conditions of two rows (depends_on) not hold together: an attribute with other values in each?"""
    values_a: dict[str, set] = {}
    values_b: dict[str, set] = {}
    for conditions, values in ((a, values_a), (b, values_b)):
        for attribute, system, code in conditions:
            values.setdefault(attribute, set()).add((system, code))
    return any(values_a[x].isdisjoint(values_b[x]) for x in values_a.keys() & values_b.keys())


def _scope_coverage(t: Table, judge: Judge, add, problems: list) -> dict:
    """The coverage without a build: of the table's own source codes, or of a source scope the local
    resources define."""
    sscope = t.meta.get("source_scope")
    smembers = judge.members(sscope, COVERAGE_LIMIT) if sscope else None
    if isinstance(smembers, NotEvaluable):
        reason = smembers.reason + ("" if judge.resources else "; no database and no codesystems/ folder to look in")
        add("warning", "scope-unverifiable", None, f"source scope {sscope}: {reason}; coverage not computed")
        return {"scope": sscope, "evaluable": False, "reason": reason}
    return _coverage(t, sscope, smembers, add, {p.row for p in problems if p.level == "error"})


def _judge_content(t: Table, judge: Judge, add, displays: dict, problems: list, strict_displays: bool) -> dict | None:
    """Codes, displays and target scope of every row (`add` takes the Row for a row's problem);
    the code system's display of each target found goes into `displays`; the coverage of the
    source scope is returned."""
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
    misnamed = defaultdict(list)     # (side, system, its URI) -> rows
    verdicts: dict[tuple, CodeVerdict] = {}   # the same code on many rows is asked once
    memberships: dict[tuple, MembershipVerdict] = {}
    for r in t.rows:
        for side, system, code, display in (("source", r.source_system, r.source_code, r.source_display),
                                            ("target", r.target_system, r.target_code, r.target_display)):
            if not code or not system:
                continue
            key = (system, code, display or None)
            verdict = verdicts.get(key) or verdicts.setdefault(key, judge.code(*key))
            if verdict.verdict == CANNOT_JUDGE and verdict.state != UNKNOWN_SYSTEM:
                add("warning", "unverifiable", r, f"{side} code {code} cannot be verified: {verdict.message}",
                    t.colmap.get(f"{side}_code"))
            elif verdict.state == MALFORMED:
                add("error", f"invalid-{side}-code", r, f"{side} code {code}: {verdict.message}",
                    t.colmap.get(f"{side}_code"))
            elif verdict.state == UNKNOWN_SYSTEM:
                not_loaded[(side, system)].append(r.row)
            elif verdict.state == MISNAMED_SYSTEM:
                misnamed[(side, system, verdict.system_uri)].append(r.row)
            elif verdict.state == UNKNOWN_CODE:
                add("error", f"unknown-{side}-code", r, f"{side} code {code} is not in {system}",
                    t.colmap.get(f"{side}_code"))
            elif verdict.state == FOUND and not verdict.display_ok:
                rejected = side == "target" and verdict.display_rejected   # what $translate would serve
                add("error" if rejected or strict_displays else "warning", "display-differs", r,
                    f"{side} display '{display}' differs from the code system's '{verdict.display}' for {code}: "
                    + ("$validate-code rejects it" if verdict.display_rejected
                       else f"$validate-code warns ({verdict.display_message})"),
                    t.colmap.get(f"{side}_display"))
            for note in verdict.notes if verdict.state == FOUND else ():   # an inactive, a deprecated code
                if note.tx_type == "code-comment":
                    add("warning", "code-status", r, f"{side} code {code}: {note.text}", t.colmap.get(f"{side}_code"))
            if side == "target" and verdict.state == FOUND and verdict.display:
                displays[(system, code)] = verdict.display
        if tscope and r.target_code and r.target_system:
            target = (r.target_system, r.target_code)
            member = memberships.get(target) or memberships.setdefault(target, judge.membership(tscope, *target))
            if member.state == NOT_MEMBER:
                add("error", "target-outside-scope", r, f"target {r.target_code} is not in the target"
                    f" scope value set {tscope}", t.colmap.get("target_code"))
            elif member.state == UNVERIFIABLE:
                undecided.append((r.row, member.message))
    # a problem of many rows is the table's (above its rows on the review page): the message names them
    if undecided:
        rows = [row for row, _ in undecided]
        add("warning", "scope-unverifiable", None, f"target scope {tscope}: {len(rows)} target(s) cannot be"
            f" judged (rows {_ranges(rows)}); the first: {undecided[0][1]}")
    for (side, system, uri), rows in misnamed.items():
        add("error", "misnamed-system", None, f"{side} code system {system} names {uri} otherwise: a ConceptMap"
            f" names a code system by its URI {uri} (rows {_ranges(rows)})")
    for (side, system), rows in not_loaded.items():
        add("warning", "system-not-loaded", None, f"{side} code system {system} is not loaded:"
            f" {len(rows)} code(s) cannot be verified (rows {_ranges(rows)})")
    if isinstance(smembers, NotEvaluable):
        return {"scope": sscope, "evaluable": False, "reason": smembers.reason}
    return _coverage(t, sscope, smembers, add, {p.row for p in problems if p.level == "error"})


def codes_without_rows(t: Table, store=None, resources=()) -> tuple[list[tuple], str | None]:
    """(the codes of the table's source scope that no row of the table names, as (system, code, display)
    in the scope's order; why they cannot be listed, or None). The scope is expanded as `check` counts
    the coverage: the folders' code systems first, then the build. A table without a source scope has
    its rows as its catalogue: none."""
    sscope = t.meta.get("source_scope")
    if not sscope:
        return [], None
    members = Judge(store, resources).members(sscope, COVERAGE_LIMIT)
    if isinstance(members, NotEvaluable):
        return [], members.reason
    key = _source_key(t)
    named = {key(r.source_system, r.source_code) for r in t.rows}
    return [m for m in members if key(m[0], m[1]) not in named], None


def _source_key(t: Table):
    """(system, code) -> the key a source code is one code by in this table (folded where it ignores case)."""
    return (lambda s, c: (s, c)) if t.meta.get("source_case_sensitive", True) else (lambda s, c: (s, fold(c)))


def own_codes(t: Table) -> list[tuple]:
    """The catalogue of a table without a source scope: its source codes, mapped or not, in row order,
    (system, code, display) with the display of the first row that has one."""
    out: dict = {}
    for r in t.rows:
        if not r.source_code:
            continue
        key = (r.source_system, r.source_code)
        if key not in out or (not out[key] and r.source_display):
            out[key] = r.source_display
    return [(s, c, d) for (s, c), d in out.items()]


def _coverage(t: Table, sscope: str | None, smembers: list | None, add, error_rows: set) -> dict:
    """Of the catalogue's codes (the source scope's members, or the table's own source codes when it has
    no scope): those an accepted row without errors maps, or marks a deliberate no-map, and the others
    (`pending` when some row not yet accepted, or in error, names them)."""
    key = _source_key(t)
    if smembers is None:
        smembers = own_codes(t)
    keys = {key(s, c) for s, c, _ in smembers}
    outside = [r.row for r in t.rows if r.source_code and key(r.source_system, r.source_code) not in keys]
    if outside:
        add("warning", "outside-source-scope", None, f"{len(outside)} row(s) have a source code"
            f" outside the source scope {sscope} (rows {_ranges(outside)})")
    mapped: set[tuple] = set()
    nomap: set[tuple] = set()
    pending: set[tuple] = set()
    for r in t.rows:
        k = key(r.source_system, r.source_code)
        if r.accepted and r.row not in error_rows:
            (nomap if r.no_map else mapped).add(k)
        else:
            pending.add(k)
    n_mapped = n_nomap = 0
    unmapped = []
    for s, c, d in smembers:
        k = key(s, c)
        if k in mapped:
            n_mapped += 1
        elif k in nomap:
            n_nomap += 1
        else:
            unmapped.append({"system": s, "code": c, "display": d, "pending": k in pending})
    total = len(smembers)
    return {"scope": sscope, "evaluable": True, "total": total, "mapped": n_mapped,
            "no_map": n_nomap, "unmapped": len(unmapped), "unmapped_codes": unmapped,
            "percent_covered": round(100.0 * (n_mapped + n_nomap) / total, 1) if total else 100.0}


def check(paths, store: Store | str | None = None, served=SERVED, strict_displays: bool = False,
          local: bool = True) -> Report:
    """Judge the tables at `paths` (files or folders) against a build (a Store, a build in progress,
    or a database path; None: structural checks and the coverage only). `served`, `strict_displays`:
    see judge_table. `local`: the code systems and value sets of the tables' folders (`codesystems/`)
    come first (a build, which has loaded them, says False).

    Two tables of one name, or one ConceptMap url, in different folders: the later one is in error."""
    report = Report()
    if isinstance(store, (str, os.PathLike)):
        store = Store(os.fspath(store))
    if store is not None:
        report.db = getattr(store, "path", None)
    else:
        report.notes.append(NO_DATABASE)
    bases = find_tables(paths)
    if not bases:
        report.notes.append("no mapping tables found")
    resources = folder_resources(paths, report.notes) if local else []
    names: dict[str, str] = {}
    urls: dict[str, str] = {}
    for base in bases:
        rep = judge_table(read_table(base), store, served, strict_displays, resources)
        for key, seen, what in ((rep.name, names, "table name"), (rep.meta.get("url"), urls, "url")):
            if key and key in seen:
                rep.problems.insert(0, Problem("error", "duplicate-table", rep.file, None,
                                               f"{what} {key} is also the {what} of {seen[key]}"))
            elif key:
                seen[key] = rep.path
        report.tables.append(rep)
    return report


def folder_resources(paths, notes: list) -> list[dict]:
    """The local CodeSystems and ValueSets of the folders of `paths` (a table file's: the folder it is in);
    a folder whose code systems cannot be read is noted."""
    folders = dict.fromkeys(os.path.abspath(p if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)))
                            for p in paths)
    out = []
    for folder in folders:
        try:
            out += local_resources(folder)
        except (ValueError, OSError) as e:
            notes.append(f"local code systems not read: {e}")
    return out
