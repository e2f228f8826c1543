"""Checking mapping tables: structure (no store needed) and content (against a build).

    report = check(["mappings_csv/"], store)      # store: termsvc.store.reader.Store, a path, or None

Errors: unreadable file / metadata, missing required column, unknown relationship,
status or no_map value, empty target without no_map, mapped row without
relationship, missing system, conflicting relationships for the same source ->
target (or no-map plus a map), duplicate rows; with a store: source code not in its
(complete) code system, target code not in its (complete) code system, target not in
the target scope value set.
Warnings: display differs from the code system's, code system a fragment (code not
in it) or not loaded (cannot verify), scope value set not loaded or not evaluable,
source code outside the source scope, rows not yet accepted.
Coverage: the source scope value set's codes with an accepted map, an accepted
deliberate no-map, or nothing (listed; `pending` when only unaccepted rows exist).

Value set membership uses the build's pre-expansion when `expansion_state` is
'done', else evaluates simple composes itself (enumerated concepts, whole code
systems, imported value sets, excludes); a filter makes it "not evaluable".
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field


from termsvc.mappings.table import ROW_STATUSES, Problem, Table, find_tables, read_table


# -- store access ------------------------------------------------------------------------
class StoreView:
    """The few questions lint asks of a build, cached."""

    def __init__(self, store):
        if isinstance(store, (str, os.PathLike)):
            from termsvc.store.reader import Store
            store = Store(str(store))
        self.s = store
        self._cs = {}
        self._vs = {}

    def code_systems(self, url: str):
        """[(cs_id, content)] of the code systems loaded with this url."""
        if url not in self._cs:
            self._cs[url] = [(r[0], r[1] or "complete") for r in
                             self.s.all("SELECT id, content FROM code_system WHERE url=?", (url,))]
        return self._cs[url]

    def lookup(self, system: str, code: str):
        """('found', display, [designations]) | ('missing', content, None) |
        ('unverifiable', content, None) | ('not-loaded', None, None)"""
        css = self.code_systems(system)
        if not css:
            return "not-loaded", None, None
        ids = [c[0] for c in css]
        row = self.s.one(f"SELECT id, display FROM concept WHERE cs_id IN ({','.join('?' * len(ids))})"
                         " AND code=? LIMIT 1", (*ids, code))
        if row:
            des = [r[0] for r in self.s.all("SELECT value FROM designation WHERE concept_id=?", (row[0],))]
            return "found", row[1], des
        contents = {c[1] for c in css}
        if "complete" in contents:
            return "missing", "complete", None
        return "unverifiable", sorted(contents)[0], None

    def value_set(self, canonical: str):
        """Ordered members [(system, code, display)] of a value set, or a reason string
        ('not loaded' / 'not evaluable: ...')."""
        if canonical not in self._vs:
            self._vs[canonical] = self._members(canonical, 0)
        return self._vs[canonical]

    def _members(self, canonical: str, depth: int):
        if depth > 8:
            return "not evaluable: value sets import each other too deeply"
        url, _, ver = canonical.partition("|")
        sql = "SELECT id, expansion_state FROM value_set WHERE url=?"
        params = [url]
        if ver:
            sql += " AND version=?"
            params.append(ver)
        rows = self.s.all(sql, params)
        if not rows:
            return f"not loaded ({canonical})"
        vs_json = self.s.resource_json(rows[0][0]) or {}
        partial = self._over_partial_system(vs_json)
        if partial:
            return f"not evaluable: its compose selects from {partial}, loaded only as a fragment"
        for vs_id, state in rows:
            if state == "done":
                return [tuple(r) for r in self.s.all(
                    "SELECT system, code, display FROM expansion WHERE vs_id=? ORDER BY seq", (vs_id,))]
        return self._eval_compose(vs_json, depth)

    def _over_partial_system(self, vs: dict):
        """A system the compose filters or includes whole while only a fragment of it is
        loaded: such an expansion is not the value set, so membership can't be decided."""
        compose = vs.get("compose") or {}
        for inc in (compose.get("include") or []) + (compose.get("exclude") or []):
            system = inc.get("system")
            if system and not inc.get("concept"):
                css = self.code_systems(system)
                if css and not any(c[1] == "complete" for c in css):
                    return system
        return None

    def _system_members(self, system: str):
        css = self.code_systems(system)
        if not css:
            return f"not evaluable: code system {system} not loaded"
        ids = [c[0] for c in css]
        return [(system, r[0], r[1]) for r in self.s.all(
            f"SELECT code, display FROM concept WHERE cs_id IN ({','.join('?' * len(ids))}) ORDER BY cs_id, seq",
            ids)]

    def _part(self, inc: dict, depth: int):
        if inc.get("filter"):
            return "not evaluable: the compose uses filters and the build has no pre-expansion"
        result = None
        system = inc.get("system")
        if system:
            if inc.get("concept"):
                result = [(system, c.get("code"), c.get("display")) for c in inc["concept"]]
            else:
                result = self._system_members(system)
                if isinstance(result, str):
                    return result
        for vs in inc.get("valueSet", []) or []:
            m = self._members(vs, depth + 1)
            if isinstance(m, str):
                return m
            if result is None:
                result = m
            else:
                keys = {(s, c) for s, c, _ in m}
                result = [x for x in result if (x[0], x[1]) in keys]
        return result or []

    def _eval_compose(self, vs: dict, depth: int):
        compose = vs.get("compose")
        if not compose:
            contains = (vs.get("expansion") or {}).get("contains")
            if contains is None:
                return "not evaluable: no compose"
            out = []

            def walk(items):
                for c in items:
                    if c.get("code"):
                        out.append((c.get("system"), c["code"], c.get("display")))
                    walk(c.get("contains", []) or [])
            walk(contains)
            return out
        members, seen = [], set()
        for inc in compose.get("include", []) or []:
            part = self._part(inc, depth)
            if isinstance(part, str):
                return part
            for m in part:
                if (m[0], m[1]) not in seen:
                    seen.add((m[0], m[1]))
                    members.append(m)
        for exc in compose.get("exclude", []) or []:
            part = self._part(exc, depth)
            if isinstance(part, str):
                return part
            drop = {(s, c) for s, c, _ in part}
            members = [m for m in members if (m[0], m[1]) not in drop]
        return members


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


def _norm(s) -> str:
    return " ".join((s or "").split()).casefold()


def check_table(t: Table, sv: StoreView | None) -> TableReport:
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
    if sv is None:
        probs.sort(key=lambda p: (p.row or 0, p.level != "error"))
        return rep
    not_loaded = defaultdict(list)   # (side, system) -> rows
    # target scope
    tscope = t.meta.get("target_scope")
    tmembers = None
    if tscope:
        m = sv.value_set(tscope)
        if isinstance(m, str):
            add("warning", "scope-unverifiable", None, f"target scope {tscope}: {m}; target membership not checked")
        else:
            tmembers = {(s, c) for s, c, _ in m}
    sscope = t.meta.get("source_scope")
    smembers = None
    coverage = None
    if sscope:
        m = sv.value_set(sscope)
        if isinstance(m, str):
            add("warning", "scope-unverifiable", None, f"source scope {sscope}: {m}; coverage not computed")
            coverage = {"scope": sscope, "evaluable": False, "reason": m}
        else:
            smembers = m
    for r in t.rows:
        for side, system, code, display, col in (
                ("source", r.source_system, r.source_code, r.source_display, "source"),
                ("target", r.target_system, r.target_code, r.target_display, "target")):
            if not code or not system:
                continue
            state, info, des = sv.lookup(system, code)
            if state == "not-loaded":
                not_loaded[(side, system)].append(r.row)
            elif state == "missing":
                add("error", f"unknown-{side}-code", r.row, f"{side} code {code} is not in {system}",
                    t.colmap.get(f"{col}_code"))
            elif state == "unverifiable":
                add("warning", "unverifiable", r.row, f"{side} code {code} cannot be verified: {system}"
                    f" is loaded only as a {info} without it", t.colmap.get(f"{col}_code"))
            elif state == "found" and display and info is not None:
                if _norm(display) != _norm(info) and _norm(display) not in {_norm(d) for d in des or []}:
                    add("warning", "display-differs", r.row, f"{side} display '{display}' differs from"
                        f" the code system's '{info}' for {code}", t.colmap.get(f"{col}_display"))
        if tmembers is not None and r.target_code and (r.target_system, r.target_code) not in tmembers:
            add("error", "target-outside-scope", r.row, f"target {r.target_code} is not in the target"
                f" scope value set {tscope}", t.colmap.get("target_code"))
    for (side, system), rows in not_loaded.items():
        add("warning", "system-not-loaded", rows[0], f"{side} code system {system} is not loaded:"
            f" {len(rows)} code(s) cannot be verified (rows {_ranges(rows)})")
    if smembers is not None:
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
        coverage = {"scope": sscope, "evaluable": True, "total": total, "mapped": n_mapped,
                    "no_map": n_nomap, "unmapped": len(unmapped), "unmapped_codes": unmapped,
                    "percent_covered": round(100.0 * (n_mapped + n_nomap) / total, 1) if total else 100.0}
    rep.coverage = coverage
    probs.sort(key=lambda p: (p.row or 0, p.level != "error"))
    return rep


def check(paths, store=None) -> Report:
    """Check the tables at `paths` (files or folders). `store`: a Store, a db path, or None
    (structural checks only)."""
    report = Report()
    sv = None
    if store is not None:
        sv = StoreView(store)
        report.db = sv.s.path
    else:
        report.notes.append("no database: code, display, scope and coverage checks skipped")
    bases = find_tables(paths)
    if not bases:
        report.notes.append("no mapping tables found")
    for base in bases:
        t = read_table(base)
        report.tables.append(check_table(t, sv))
    return report
