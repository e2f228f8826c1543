"""Writing a build: a new database file, filled by the loaders, then swapped in.

    with BuildWriter(final_path) as w:
        sid = w.add_source("hl7.fhir.r5.core", "fhir-package", "5.0.0", location, sha256)
        w.add_resource(resource_dict, sid)
        ...
        w.finish_source(sid)
    # leaving the block without an exception: indexes, closure, FTS, os.replace()
    # an exception: the partial file is deleted and the served database is untouched

Large code systems (SNOMED CT, LOINC) stream through begin_code_system /
insert_concepts / insert_* / end_code_system instead of add_resource.
"""
import datetime
import hashlib
import os
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Literal

import orjson
import sqlite_utils

from termsvc.fhir.codesystem import FlatConcept, flatten, strip_concepts
from termsvc.fhir.conceptmap_match import case_insensitive, fold
from termsvc.fhir.convert import to_r5
from termsvc.store.queries import Queries
from termsvc.store.schema import MAPPING_REPORT_TYPE, MAPPING_TABLE_TYPE, NAMING_SYSTEM_TYPE, create_schema
from termsvc.store.values import property_text

BATCH = 20_000
FHIR_ID = re.compile(r"[A-Za-z0-9.-]{1,64}")


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


class Batched:
    """Rows handed to `write` a batch at a time (loaders stream millions of rows), each batch
    counted in `counts[key]`. Use as a context manager: the last batch is written on exit."""

    def __init__(self, write: Callable[[list[tuple[Any, ...]]], object],
                 counts: MutableMapping[str, int] | None = None, key: str = "", size: int = BATCH):
        self.write, self.counts, self.key, self.size = write, counts, key, size
        self.rows: list[tuple[Any, ...]] = []
        if counts is not None:
            counts[key] += 0  # the count is reported even when nothing comes

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.write(self.rows)
            if self.counts is not None:
                self.counts[self.key] += len(self.rows)
            self.rows = []

    def __enter__(self) -> "Batched":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc_type is None:
            self.flush()
        return False


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made (sqlite3 types lastrowid as optional: None only before any INSERT)."""
    if cur.lastrowid is None:
        raise sqlite3.InterfaceError("no row inserted")
    return cur.lastrowid


class BuildView(Queries):
    """A build in progress, read through the store's named queries and the methods the engine
    uses of a Store (conn, one, all, resource_json, generation): for pre-expansion."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn
        self.generation = -id(conn)

    def conn(self) -> sqlite3.Connection:
        return self._conn


class BuildWriter:
    def __init__(self, final_path: str, undoable: bool = False):
        """`undoable`: a `savepoint()` can undo a source's writes (a rollback journal, in memory; without
        it none is kept: a build that fails is thrown away whole)."""
        self.final_path = os.path.abspath(final_path)
        os.makedirs(os.path.dirname(self.final_path), exist_ok=True)
        self.path = f"{self.final_path}.building-{os.getpid()}"
        if os.path.exists(self.path):
            os.remove(self.path)
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.undoable = undoable
        self.conn.execute(f"PRAGMA journal_mode={'MEMORY' if undoable else 'OFF'}")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-400000")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.db = sqlite_utils.Database(self.conn)
        create_schema(self.db)
        self.conn.execute("BEGIN")
        self._next_concept_id = 1
        self._cs_counts: dict[int, int] = {}
        self._cs_source: dict[int, int] = {}
        self._source_counts: dict[int, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._closure_pending: set[int] = set()
        self._loop_check_pending: set[int] = set()

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> "BuildWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc_type is None:
            self.commit_and_swap()
        else:
            self.abort()
        return False

    def reader(self) -> BuildView:
        return BuildView(self.conn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """The block's writes are undone when it raises (the build goes on without them)."""
        if not self.undoable:
            raise RuntimeError("a savepoint needs BuildWriter(undoable=True): without a journal nothing is undone")
        self.conn.execute("SAVEPOINT source")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO source")
            raise
        finally:
            self.conn.execute("RELEASE source")

    def abort(self) -> None:
        try:
            self.conn.close()
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)

    # -- sources -----------------------------------------------------------
    def add_source(self, name: str, kind: str, version: str | None, location: str | None,
                   sha256: str | None) -> int:
        cur = self.conn.execute(
            "INSERT INTO source(name, kind, version, location, sha256, loaded_at, counts)"
            " VALUES (?,?,?,?,?,?,?)",
            (name, kind, version, location, sha256,
             datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "{}"))
        return inserted_id(cur)

    def finish_source(self, source_id: int, extra: dict[str, int] | None = None) -> dict[str, int]:
        counts = dict(self._source_counts[source_id])
        if extra:
            counts.update(extra)
        self.conn.execute("UPDATE source SET counts=? WHERE id=?", (_dumps(counts), source_id))
        return counts

    def count(self, source_id: int, what: str, n: int = 1) -> None:
        self._source_counts[source_id][what] += n

    # -- canonical resources --------------------------------------------------
    def add_resource(self, res: dict[str, Any], source_id: int, fhir_version: str = "R5", endpoint: str | None = None
                     ) -> int | None:
        """Store a CodeSystem, ValueSet or ConceptMap (R4 or R5 JSON). Others are ignored.
        `endpoint`: "R4" or "R5" when only that endpoint serves it by id (an IG edition)."""
        rt = res.get("resourceType")
        if rt not in ("CodeSystem", "ValueSet", "ConceptMap"):
            return None
        res = to_r5(res)
        if rt == "CodeSystem":
            cs_id = self.begin_code_system(res, source_id, fhir_version, endpoint)
            self.insert_flat_concepts(cs_id, flatten(res))
            self.end_code_system(cs_id)
            return cs_id
        rid = self._insert_resource(res, source_id, fhir_version, endpoint)
        if rt == "ValueSet":
            self.conn.execute("INSERT INTO value_set(id, url, version, expansion_state) VALUES (?,?,?,?)",
                              (rid, res.get("url"), res.get("version"), "pending"))
            self.count(source_id, "ValueSet")
        else:
            self._insert_concept_map(rid, res)
            self.count(source_id, "ConceptMap")
        return rid

    def _insert_resource(self, res: dict[str, Any], source_id: int, fhir_version: str, endpoint: str | None = None,
                         rtype: str | None = None) -> int:
        """A row of `resource`; `rtype` (default: its resourceType) the type it is kept as."""
        cur = self.conn.execute(
            "INSERT INTO resource(type, fhir_id, url, version, name, title, status, source_id,"
            " fhir_version, endpoint, json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (rtype or res.get("resourceType"), res.get("id"), res.get("url"), res.get("version"),
             res.get("name"), res.get("title"), res.get("status"), source_id, fhir_version, endpoint,
             _dumps(res)))
        return inserted_id(cur)

    def _insert_concept_map(self, rid: int, cm: dict[str, Any]) -> None:
        src = cm.get("sourceScopeUri") or cm.get("sourceScopeCanonical")
        tgt = cm.get("targetScopeUri") or cm.get("targetScopeCanonical")
        self.conn.execute("INSERT INTO concept_map(id, url, version, source_scope, target_scope)"
                          " VALUES (?,?,?,?,?)", (rid, cm.get("url"), cm.get("version"), src, tgt))
        rows: list[tuple[Any, ...]] = []
        for gi, g in enumerate(cm.get("group", []) or []):
            ss = (g.get("source") or "").split("|")[0] or None
            ts = (g.get("target") or "").split("|")[0] or None
            if g.get("unmapped"):  # so that $translate finds the map for codes it does not list
                rows.append((rid, gi, -1, -2, ss, None, ts, None))
            folded = case_insensitive(g)   # its codes are found folded too
            for ei, e in enumerate(g.get("element", []) or []):
                codes = [e.get("code")]
                if folded and e.get("code") and fold(e["code"]) != e["code"]:
                    codes.append(fold(e["code"]))
                targets = e.get("target", []) or []
                for code in codes:
                    if not targets:
                        rows.append((rid, gi, ei, -1, ss, code, None, None))
                    for ti, t in enumerate(targets):
                        rows.append((rid, gi, ei, ti, ss, code, ts, t.get("code")))
        self.conn.executemany(
            "INSERT INTO cm_entry(cm_id, group_idx, element_idx, target_idx, source_system,"
            " source_code, target_system, target_code) VALUES (?,?,?,?,?,?,?,?)", rows)

    # -- structure definitions -------------------------------------------------------------
    def add_naming_system(self, ns: dict[str, Any], source_id: int, fhir_version: str) -> bool:
        """Keep a NamingSystem of a code system (its OID, its URIs: ops.systems reads them). Others are not kept."""
        if ns.get("kind") != "codesystem" or not isinstance(ns.get("uniqueId"), list):
            return False
        self._insert_resource(ns, source_id, fhir_version, rtype=NAMING_SYSTEM_TYPE)
        self.count(source_id, "NamingSystem")
        return True

    def add_structure_definition(self, sd: dict[str, Any], source_id: int, fhir_version: str) -> bool:
        """Keep the elements of a base resource or data type (a StructureDefinition that specializes):
        path, types, contentReference, binding. Profiles, extensions and logical models are not kept."""
        if sd.get("derivation") != "specialization" or sd.get("kind") not in ("resource", "complex-type"):
            return False
        rows = []
        for e in (sd.get("snapshot") or {}).get("element") or []:
            path = e.get("path") or ""
            if "." not in path:
                continue
            binding = e.get("binding") or {}
            rows.append((source_id, fhir_version, path, ",".join(t.get("code", "") for t in e.get("type") or []),
                         (e.get("contentReference") or "").lstrip("#").split("#")[-1] or None,
                         binding.get("strength"), binding.get("valueSet")))
        self.conn.executemany("INSERT INTO element_def(source_id, fhir_version, path, types, content_ref, strength,"
                              " value_set) VALUES (?,?,?,?,?,?,?)", rows)
        self.count(source_id, "StructureDefinition")
        return True

    # -- code systems (also the streaming API) ------------------------------------
    def begin_code_system(self, cs: dict[str, Any], source_id: int, fhir_version: str = "R5", endpoint: str | None = None
                          ) -> int:
        """Register a CodeSystem (its concepts are inserted separately). Returns its id."""
        meta = strip_concepts(cs)
        rid = self._insert_resource(meta, source_id, fhir_version, endpoint)
        case_sensitive = cs.get("caseSensitive")
        self.conn.execute(
            "INSERT INTO code_system(id, url, version, content, case_sensitive, hierarchy_meaning,"
            " supplements, language, concept_count) VALUES (?,?,?,?,?,?,?,?,0)",
            (rid, cs.get("url"), cs.get("version"), cs.get("content", "complete"),
             1 if case_sensitive in (True, None) else 0, cs.get("hierarchyMeaning"),
             cs.get("supplements"), cs.get("language")))
        self._cs_counts[rid] = 0
        self._cs_source[rid] = source_id
        self.count(source_id, "CodeSystem")
        return rid

    def insert_concepts(self, cs_id: int, rows: Iterable[tuple[Any, ...]]) -> list[int]:
        """rows: iterable of (code, display, definition, status, inactive, abstract).
        Returns the new concept ids in order."""
        ids = []
        batch = []
        seq = self._cs_counts[cs_id]
        for code, display, definition, status, inactive, abstract in rows:
            cid = self._next_concept_id
            self._next_concept_id += 1
            ids.append(cid)
            batch.append((cid, cs_id, code, display, definition, status,
                           1 if inactive else 0, 1 if abstract else 0, seq))
            seq += 1
            if len(batch) >= BATCH:
                self._flush_concepts(batch)
                batch = []
        if batch:
            self._flush_concepts(batch)
        self._cs_counts[cs_id] = seq
        self.count(self._cs_source[cs_id], "concepts", len(ids))
        return ids

    def _flush_concepts(self, batch: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(
            "INSERT INTO concept(id, cs_id, code, display, definition, status, inactive, abstract, seq)"
            " VALUES (?,?,?,?,?,?,?,?,?)", batch)

    def insert_designations(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """rows: (concept_id, language, use_system, use_code, use_display, value)"""
        self.conn.executemany(
            "INSERT INTO designation(concept_id, language, use_system, use_code, use_display, value)"
            " VALUES (?,?,?,?,?,?)", rows)

    def insert_properties(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """rows: (concept_id, code, type, value) - value as text (Codings as 'system|code')."""
        self.conn.executemany(
            "INSERT INTO concept_property(concept_id, code, type, value) VALUES (?,?,?,?)", rows)

    def insert_edges(self, rows: Iterable[tuple[int, int]]) -> None:
        """rows: (parent_id, child_id) direct is-a edges."""
        self.conn.executemany("INSERT INTO edge(parent_id, child_id) VALUES (?,?)", rows)

    def insert_flat_concepts(self, cs_id: int, concepts: list[FlatConcept]) -> None:
        ids = self.insert_concepts(cs_id, ((c.code, c.display, c.definition, c.status, c.inactive,
                                            c.abstract) for c in concepts))
        by_code: dict[str, int] = {}
        for c, cid in zip(concepts, ids):
            by_code.setdefault(c.code, cid)
        des: list[tuple[Any, ...]] = []
        props: list[tuple[Any, ...]] = []
        edges: list[tuple[int, int]] = []
        for c, cid in zip(concepts, ids):
            for d in c.designations or ():
                use = d.get("use") or {}
                des.append((cid, d.get("language"), use.get("system"), use.get("code"),
                            use.get("display"), d.get("value")))
            for code, key, value in c.properties or ():
                props.append((cid, code, (key or "value")[5:], property_text(value)))
            for p in c.parents or ():
                if p in by_code:
                    edges.append((by_code[p], cid))
        self.insert_designations(des)
        self.insert_properties(props)
        self.insert_edges(edges)

    def insert_refset_members(self, rows: Iterable[tuple[str, int, int]]) -> None:
        """rows: (refset, cs_id, concept_id) - the members the `in` filter finds."""
        self.conn.executemany("INSERT INTO refset_member(refset, cs_id, concept_id) VALUES (?,?,?)", rows)

    def declare_properties(self, cs_id: int, properties: list[dict[str, Any]]) -> None:
        """Add property definitions to a CodeSystem registered earlier (those it lacks, by code)."""
        row = self.conn.execute("SELECT json FROM resource WHERE id=?", (cs_id,)).fetchone()
        cs = orjson.loads(row[0])
        known = {p.get("code") for p in cs.get("property", [])}
        new = [p for p in properties if p["code"] not in known]
        if new:
            cs["property"] = cs.get("property", []) + new
            self.conn.execute("UPDATE resource SET json=? WHERE id=?", (_dumps(cs), cs_id))

    def end_code_system(self, cs_id: int) -> None:
        self.conn.execute("UPDATE code_system SET concept_count=? WHERE id=?",
                          (self._cs_counts[cs_id], cs_id))
        self._closure_pending.add(cs_id)
        self._loop_check_pending.add(cs_id)

    # -- mapping tables ------------------------------------------------------------------
    def add_mapping_table(self, cm: dict[str, Any], source_id: int) -> int:
        """Keep a complete mapping table (an R5 ConceptMap of every row): not indexed, not served."""
        return self._insert_resource(cm, source_id, "R5", rtype=MAPPING_TABLE_TYPE)

    def add_mapping_report(self, report: dict[str, Any], source_id: int) -> int:
        """Keep what the build found of a mapping table (problems, coverage, rows served; its `id` the
        table's): not served."""
        return self._insert_resource(report, source_id, "R5", rtype=MAPPING_REPORT_TYPE)

    # -- pre-expansions --------------------------------------------------------------------
    def set_expansion(self, vs_id: int, members: list[tuple[Any, ...]], used_systems: list[str],
                      texts: Iterable[tuple[int, str]] = ()) -> None:
        """members: (system, version, code, display, concept_id, inactive, abstract) in expansion order;
        texts: (seq, text) the members show beyond their concepts' displays and designations."""
        self.conn.executemany("INSERT INTO expansion VALUES (?,?,?,?,?,?,?,?,?,?)",
                              [(vs_id, seq, *m, None) for seq, m in enumerate(members)])
        self.conn.executemany("INSERT INTO expansion_fts(text, vs_id, seq) VALUES (?,?,?)",
                              [(text, vs_id, seq) for seq, text in texts])
        self.conn.execute("UPDATE value_set SET expansion_state='done', expansion_total=?, used_systems=?"
                          " WHERE id=?", (len(members), _dumps(used_systems), vs_id))

    def set_expansion_state(self, vs_id: int, state: str, error: str | None = None) -> None:
        """Why a value set is not pre-expanded: 'too-large', or 'error' and the reason."""
        self.conn.execute("UPDATE value_set SET expansion_state=?, expansion_error=? WHERE id=?", (state, error, vs_id))

    # -- finishing -----------------------------------------------------------
    def build_closure(self) -> list[str]:
        """Transitive closure of the is-a edges of every code system loaded; returns the hierarchies that
        loop (a concept its own ancestor: `url|version: a -> b -> a`, one per code system), which a
        build refuses."""
        if not self._closure_pending:
            return []
        cur = self.conn.execute(
            "SELECT e.parent_id, e.child_id FROM edge e JOIN concept c ON c.id = e.child_id"
            " WHERE c.cs_id IN (%s)" % ",".join(str(i) for i in self._closure_pending))
        parents: defaultdict[int, list[int]] = defaultdict(list)
        for p, c in cur:
            parents[c].append(p)
        self._closure_pending.clear()
        unresolved: list[int] = []
        ancestors = closure_of(parents, unresolved)
        batch = []
        for child, anc in ancestors.items():
            for a in anc:
                batch.append((a, child))
            if len(batch) >= BATCH * 5:
                self.conn.executemany("INSERT OR IGNORE INTO closure VALUES (?,?)", batch)
                batch = []
        if batch:
            self.conn.executemany("INSERT OR IGNORE INTO closure VALUES (?,?)", batch)
        return self._loops_named(unresolved, parents)

    def hierarchy_loops(self) -> list[str]:
        """The hierarchies that loop among the code systems ended since the last call (named as
        build_closure names them): checked per source, so that the build can leave out the one at fault."""
        if not self._loop_check_pending:
            return []
        cur = self.conn.execute(
            "SELECT e.parent_id, e.child_id FROM edge e JOIN concept c ON c.id = e.child_id"
            " WHERE c.cs_id IN (%s)" % ",".join(str(i) for i in self._loop_check_pending))
        self._loop_check_pending.clear()
        parents: defaultdict[int, list[int]] = defaultdict(list)
        for p, c in cur:
            parents[c].append(p)
        return self._loops_named(unordered(parents), parents)

    def _loops_named(self, unresolved: list[int], parents: dict[int, list[int]]) -> list[str]:
        """One loop per code system, by code, among the concepts the closure could not order (those in a
        loop or below one: each has a parent among them, so going up from one comes round to a loop)."""
        left, out, seen_cs = set(unresolved), [], set()
        for start in unresolved:
            url, version, cs_id = self.conn.execute(
                "SELECT cs.url, cs.version, cs.id FROM concept c JOIN code_system cs ON cs.id = c.cs_id"
                " WHERE c.id = ?", (start,)).fetchone()
            if cs_id in seen_cs:
                continue
            seen_cs.add(cs_id)
            path, node = [start], start
            while True:
                node = next(p for p in parents[node] if p in left and p != node)
                if node in path:
                    path = path[path.index(node):] + [node]
                    break
                path.append(node)
            codes = [self.conn.execute("SELECT code FROM concept WHERE id = ?", (n,)).fetchone()[0] for n in path]
            location = self.conn.execute("SELECT location FROM source WHERE id = ?",
                                         (self._cs_source.get(cs_id),)).fetchone()
            out.append(f"{url}{'|' + version if version else ''}" + (f" ({location[0]})" if location else "")
                       + ": " + " -> ".join(reversed(codes)))
        return out

    def build_fts(self) -> None:
        self.conn.execute("DELETE FROM concept_fts")
        self.conn.execute("INSERT INTO concept_fts(text, concept_id)"
                          " SELECT display, id FROM concept WHERE display IS NOT NULL AND display != ''")
        self.conn.execute("INSERT INTO concept_fts(text, concept_id)"
                          " SELECT d.value, d.concept_id FROM designation d JOIN concept c ON c.id = d.concept_id"
                          " WHERE d.value IS NOT NULL AND d.value != c.display")
        self.conn.execute("INSERT INTO concept_fts(concept_fts) VALUES ('optimize')")

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)", (key, value))

    def assign_ids(self) -> None:
        """Make every served id unique per endpoint and type: of the resources that share an id
        (packages reuse ids: FHIR core's and THO's `action-type`), the one loaded last keeps it
        (as it did), the others are renamed `ID--SOURCE` (or a hash when that is too long or taken);
        a resource without a valid id gets one. The JSON says the new id, as every answer does."""
        taken: defaultdict[tuple[str, str], set[str]] = defaultdict(set)   # (type, endpoint) -> ids
        renamed: list[tuple[int, str]] = []
        for rid, rtype, fhir_id, endpoint, source, url, version in self.conn.execute(
                "SELECT r.id, r.type, r.fhir_id, r.endpoint, s.name, r.url, r.version FROM resource r"
                " JOIN source s ON s.id = r.source_id WHERE r.type != ? ORDER BY r.id DESC", (MAPPING_TABLE_TYPE,)):
            places = [(rtype, endpoint)] if endpoint else [(rtype, "R4"), (rtype, "R5")]
            new = fhir_id if fhir_id and FHIR_ID.fullmatch(fhir_id) else None
            if new is None or any(new in taken[p] for p in places):
                new = f"{fhir_id or 'resource'}--{re.sub(r'[^A-Za-z0-9.-]+', '-', source)}"
                if len(new) > 64 or not FHIR_ID.fullmatch(new) or any(new in taken[p] for p in places):
                    digest = hashlib.sha256(f"{rtype}|{url}|{version}|{rid}".encode()).hexdigest()[:12]
                    new = f"{re.sub(r'[^A-Za-z0-9.-]+', '-', fhir_id or 'resource')[:50]}--{digest}"
                renamed.append((rid, new))
            for p in places:
                taken[p].add(new)
        for rid, new in renamed:
            res = orjson.loads(self.conn.execute("SELECT json FROM resource WHERE id=?", (rid,)).fetchone()[0])
            res["id"] = new
            self.conn.execute("UPDATE resource SET fhir_id=?, json=? WHERE id=?", (new, _dumps(res), rid))

    def finalize(self) -> list[str]:
        """Ids, closure and FTS; after this the build file is complete but not yet swapped in. Returns the
        hierarchies that loop (build_closure)."""
        self.assign_ids()
        loops = self.build_closure()
        self.build_fts()
        self.set_meta("built_at", datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
        self.conn.execute("COMMIT")
        self.conn.execute("ANALYZE")
        self.conn.execute("BEGIN")
        return loops

    def commit_and_swap(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self.conn.close()
        os.replace(self.path, self.final_path)


def closure_of(parents: dict[int, list[int]], unresolved: list[int] | None = None) -> dict[int, frozenset[int]]:
    """node -> frozenset of its strict ancestors, from node -> direct parents.
    Kahn's order from the roots down; nodes in a cycle keep what reached them (and are added to
    `unresolved`, with the nodes below a cycle)."""
    children: defaultdict[int, list[int]] = defaultdict(list)
    waiting: dict[int, int] = {}
    for child, ps in parents.items():
        ps = [p for p in ps if p != child]
        waiting[child] = len(ps)
        for p in ps:
            children[p].append(child)
    ready = [n for n in children if n not in waiting]
    ready += [n for n, k in waiting.items() if k == 0]
    ancestors: dict[int, frozenset[int]] = {}
    while ready:
        n = ready.pop()
        if n not in ancestors:
            s: set[int] = set()
            for p in parents.get(n, ()):
                if p != n:
                    s.add(p)
                    s |= ancestors.get(p, frozenset())
            ancestors[n] = frozenset(s)
        for c in children.get(n, ()):
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    for n in parents:  # cycles
        if n not in ancestors:
            if unresolved is not None:
                unresolved.append(n)
            s = {p for p in parents[n] if p != n}
            for p in list(s):
                s |= ancestors.get(p, frozenset())
            ancestors[n] = frozenset(s)
    return {n: a for n, a in ancestors.items() if a}


def unordered(parents: dict[int, list[int]]) -> list[int]:
    """The nodes in a cycle or below one (those Kahn's order from the roots down never reaches)."""
    children: defaultdict[int, list[int]] = defaultdict(list)
    waiting = {}
    for child, ps in parents.items():
        ps = [p for p in ps if p != child]
        waiting[child] = len(ps)
        for p in ps:
            children[p].append(child)
    ready = [n for n in children if n not in waiting] + [n for n, k in waiting.items() if k == 0]
    while ready:
        for c in children.get(ready.pop(), ()):
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return [n for n, k in waiting.items() if k > 0]
