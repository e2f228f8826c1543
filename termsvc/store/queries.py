"""The named read queries of a build, shared by the served Store and a build in progress.

Everything outside the query engine (termsvc/ops) reads the store through these; the
engine's own SQL (expansion paths, ECL, closure queries) stays with it.
"""
import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from termsvc.store.schema import MAPPING_REPORT_TYPE, MAPPING_TABLE_TYPE
from termsvc.store.values import designation_dict, property_dict

# the build makes ids unique per endpoint (BuildWriter.assign_ids): one resource or none
RESOURCE_BY_FHIR_ID = ("SELECT id, url, version FROM resource WHERE type=? AND fhir_id=?"
                       " AND (endpoint IS NULL OR endpoint=?)")

Row = tuple[Any, ...]   # a row as SQLite gives it: the columns the query names

# search parameter -> (column, how it matches)
SEARCH_COLUMNS = {"url": ("url", "exact"), "version": ("version", "exact"), "_id": ("fhir_id", "exact"),
                  "status": ("status", "exact"), "name": ("name", "prefix"), "title": ("title", "contains")}


class NotADatabase(Exception):
    """The file is not a termsvc build."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: not a termsvc database: {reason}")
        self.path = path
        self.reason = reason


class Queries:
    """Named queries over `self.conn()` (a Store's per-thread connection, or a build's)."""
    generation: int   # the build's (a new one for each build swapped in; caches are keyed by it)

    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def one(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        row: Row | None = self.conn().execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        rows: list[Row] = self.conn().execute(sql, params).fetchall()
        return rows

    def count(self, sql: str, params: Sequence[object] = ()) -> int:
        """What a `SELECT count(*) ...` query counts."""
        row = self.one(sql, params)
        return int(row[0]) if row else 0

    # -- build ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key=?", (key,))
        return row[0] if row else None

    def meta_all(self) -> dict[str, str]:
        return dict(self.all("SELECT key, value FROM meta"))

    def check(self, path: str) -> None:
        """Raise NotADatabase unless this is a termsvc build."""
        try:
            version = self.meta("schema_version")
        except sqlite3.DatabaseError as e:
            raise NotADatabase(path, str(e)) from None
        if version is None:
            raise NotADatabase(path, "no schema version")

    def totals(self) -> dict[str, int]:
        return {"code_systems": self.count("SELECT count(*) FROM code_system"),
                "value_sets": self.count("SELECT count(*) FROM value_set"),
                "concept_maps": self.count("SELECT count(*) FROM concept_map"),
                "concepts": self.count("SELECT count(*) FROM concept")}

    def element_definitions(self, fhir_version: str) -> list[Row]:
        """(path, types, content_ref, strength, value_set) of every element of the base resources and
        data types of this FHIR version (R4, R5) the build holds."""
        return self.all("SELECT path, types, content_ref, strength, value_set FROM element_def WHERE fhir_version=?"
                        " ORDER BY rowid", (fhir_version,))

    def expansion_states(self) -> dict[str, int]:
        """Pre-expansion state -> value sets ('error' shown as 'not expandable')."""
        return {{"error": "not expandable"}.get(state, state or "none"): n for state, n in self.all(
            "SELECT expansion_state, count(*) FROM value_set GROUP BY 1")}

    def sources(self) -> list[dict[str, Any]]:
        out = []
        for sid, name, kind, version, location, sha256, loaded_at, counts in self.all(
                "SELECT id, name, kind, version, location, sha256, loaded_at, counts FROM source ORDER BY id"):
            out.append({"id": sid, "name": name, "kind": kind, "version": version, "location": location,
                        "sha256": sha256, "loaded_at": loaded_at, "counts": orjson.loads(counts or "{}")})
        return out

    # -- resources -------------------------------------------------------------------------
    def resource_json(self, rid: int) -> dict[str, Any] | None:
        text = self.resource_text(rid)
        return orjson.loads(text) if text is not None else None

    def resource_text(self, rid: int) -> str | None:
        """The resource as stored: its JSON text (written by orjson, so parsing and writing it again
        gives the same bytes)."""
        row = self.one("SELECT json FROM resource WHERE id=?", (rid,))
        return row[0] if row else None

    def resource_by_fhir_id(self, rtype: str, fhir_id: str, endpoint: str) -> Row | None:
        """(store id, url, version) of the resource `rtype/fhir_id` the endpoint ("R4"/"R5") serves,
        or None."""
        return self.one(RESOURCE_BY_FHIR_ID, (rtype, fhir_id, endpoint))

    def search_resources(self, rtype: str, criteria: dict[str, str], count: int, offset: int,
                         endpoint: str = "R5") -> tuple[int, list[Row]]:
        """(total, [(store id, fhir id)] of the page) of the resources of a type an endpoint ("R4"/"R5")
        serves matching the search parameters in `criteria` (SEARCH_COLUMNS), ordered by url and version."""
        where, args = ["type=?", "(endpoint IS NULL OR endpoint=?)"], [rtype, endpoint]
        for name, value in criteria.items():
            column, how = SEARCH_COLUMNS[name]
            if how == "exact":
                where.append(f"{column}=?")
                args.append(value)
            else:
                where.append(f"{column} LIKE ?")
                text = value.replace("%", "")
                args.append(text + "%" if how == "prefix" else "%" + text + "%")
        cond = " AND ".join(where)
        total = self.count(f"SELECT count(*) FROM resource WHERE {cond}", args)
        page = self.all(f"SELECT id, fhir_id FROM resource WHERE {cond} ORDER BY url, version LIMIT ? OFFSET ?",
                        (*args, count, offset))
        return total, page

    def resources_mentioning(self, rtype: str, text: str) -> list[dict[str, Any]]:
        """The resources of a type whose JSON holds this text (an extension's url, say)."""
        return [orjson.loads(j) for (j,) in self.all("SELECT json FROM resource WHERE type=? AND json LIKE ?",
                                                     (rtype, "%" + text.replace("%", "") + "%"))]

    def mapping_table(self, name: str) -> dict[str, Any] | None:
        """The complete mapping table (every row, as an R5 ConceptMap) stored under this id, name or url."""
        row = self.one("SELECT id FROM resource WHERE type=? AND (fhir_id=? OR name=? OR url=?) ORDER BY id DESC",
                       (MAPPING_TABLE_TYPE, name, name, name))
        return self.resource_json(row[0]) if row else None

    def mapping_reports(self) -> list[dict[str, Any]]:
        """The report of every mapping table the build judged, in load order."""
        return [orjson.loads(j) for (j,) in self.all("SELECT json FROM resource WHERE type=? ORDER BY id",
                                                     (MAPPING_REPORT_TYPE,))]

    # -- code systems and value sets ----------------------------------------------------------
    def code_system_versions(self) -> list[Row]:
        """(url, version, content) of every code system (supplements aside), ordered."""
        return self.all("SELECT url, version, content FROM code_system WHERE content != 'supplement'"
                        " ORDER BY url, version")

    def code_system_with_concepts(self, cs_id: int, max_concepts: int) -> dict[str, Any] | None:
        """The CodeSystem as loaded: its concept tree rebuilt from the concept tables (without
        concepts when it has more than max_concepts); None when the build has no such resource."""
        cs = self.resource_json(cs_id)
        count = self.one("SELECT concept_count FROM code_system WHERE id=?", (cs_id,))
        if cs is None or not count or count[0] == 0 or count[0] > max_concepts:
            return cs
        rows = self.all("SELECT id, code, display, definition FROM concept WHERE cs_id=? ORDER BY seq", (cs_id,))
        by_id: dict[int, dict[str, Any]] = {}
        for cid, code, display, definition in rows:
            c: dict[str, Any] = {"code": code}
            if display is not None:
                c["display"] = display
            if definition is not None:
                c["definition"] = definition
            by_id[cid] = c
        for cid, *designation in self.all(
                "SELECT d.concept_id, d.language, d.use_system, d.use_code, d.use_display, d.value FROM designation d"
                " JOIN concept c ON c.id = d.concept_id WHERE c.cs_id=? ORDER BY d.rowid", (cs_id,)):
            by_id[cid].setdefault("designation", []).append(designation_dict(*designation))
        for cid, code, type_name, value in self.all(
                "SELECT p.concept_id, p.code, p.type, p.value FROM concept_property p"
                " JOIN concept c ON c.id = p.concept_id WHERE c.cs_id=? ORDER BY p.rowid", (cs_id,)):
            by_id[cid].setdefault("property", []).append(property_dict(code, type_name, value))
        parents: dict[int, list[int]] = {}
        for parent, child in self.all("SELECT e.parent_id, e.child_id FROM edge e JOIN concept c ON c.id = e.child_id"
                                      " WHERE c.cs_id=?", (cs_id,)):
            parents.setdefault(child, []).append(parent)
        roots: list[dict[str, Any]] = []
        for cid, *_ in rows:
            ps = parents.get(cid)
            if ps and ps[0] in by_id:
                by_id[ps[0]].setdefault("concept", []).append(by_id[cid])
            else:
                roots.append(by_id[cid])
        return {**cs, "concept": roots}

    def value_set_ids(self) -> list[int]:
        return [vs_id for (vs_id,) in self.all("SELECT id FROM value_set ORDER BY id")]

