"""Code system providers: one interface over a code system held in the store and
one passed in a request (tx-resource), so the operations never care which.
"""
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from termsvc import deadline
from termsvc.fhir.codesystem import FlatConcept, flatten, property_value
from termsvc.results import JSON
from termsvc.store.queries import Queries, Row
from termsvc.store.values import PROPERTY_TYPES, designation_dict, typed_value

PropertyValue = tuple[str | None, str | None, Any]   # (code, its FHIR value key, the value)


@dataclass(slots=True)
class Concept(FlatConcept):
    """A concept of a stored code system: its id in the store, its children and the ids of its ancestors
    once read; and its member of a value set that takes it as it is (an ops.members.Member, never changed)
    once made."""
    cid: int | None = None
    children: "list[Concept] | None" = None
    ancestor_ids: frozenset[int] | None = None
    member: Any = None


C = TypeVar("C", bound=FlatConcept)   # the concepts a provider gives


class CodeSystemProvider(Generic[C]):
    """What the operations need of a code system."""
    url: str
    version: str | None
    content: str
    case_sensitive: bool
    hierarchy_meaning: str | None
    language: str | None
    resource: JSON          # the CodeSystem resource without concepts
    supplements: list[JSON]   # supplement CodeSystem resources applied

    @property
    def status(self) -> str | None:
        status: str | None = self.resource.get("status")
        return status

    @property
    def property_defs(self) -> list[JSON]:
        defs = list(self.resource.get("property", []) or [])
        for s in self.supplements:
            defs += [p for p in s.get("property", []) or [] if p.get("code") not in {d.get("code") for d in defs}]
        return defs

    def vurl(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url

    # the provider-specific part
    def locate(self, code: str) -> C | None: raise NotImplementedError
    def iter_all(self) -> Iterable[C]: raise NotImplementedError
    def children(self, c: C) -> list[C]: raise NotImplementedError
    def parent_codes(self, c: C) -> list[str]: raise NotImplementedError
    def is_ancestor(self, ancestor: str, code: str) -> bool: raise NotImplementedError
    def descendants(self, code: str) -> list[C]: raise NotImplementedError
    def designations(self, c: C) -> list[JSON]: raise NotImplementedError
    def properties(self, c: C) -> list[PropertyValue]: raise NotImplementedError
    def size(self) -> int: raise NotImplementedError
    def with_supplements(self, supplements: list[JSON]) -> "CodeSystemProvider[C]": raise NotImplementedError

    def find(self, code: str) -> tuple[C | None, str | None]:
        """(concept, normalized_code): exact match first, then by case for case-insensitive systems."""
        c = self.locate(code)
        if c is not None:
            return c, None
        if not self.case_sensitive:
            c = self.locate_nocase(code)
            if c is not None:
                return c, (c.code if c.code != code else None)
        return None, None

    def in_load_order(self, codes: set[str]) -> list[C]:
        """The concepts of these codes, in the order iter_all gives them."""
        return [c for c in self.iter_all() if c.code in codes]

    def locate_nocase(self, code: str) -> C | None:
        low = code.lower()
        for c in self.iter_all():
            if c.code.lower() == low:
                return c
        return None

    def has_hierarchy(self) -> bool:
        return True

    def supplement_designations(self, c: FlatConcept) -> list[JSON]:
        out = []
        for s in self.supplements:
            sc = _supplement_concept(s, c.code)
            if sc:
                for d in sc.get("designation", []) or []:
                    out.append(d)
        return out

    def concept_extensions(self, c: FlatConcept) -> Sequence[JSON]:
        if not self.supplements:
            return c.extensions or ()
        out = list(c.extensions or [])
        for s in self.supplements:
            sc = _supplement_concept(s, c.code)
            if sc:
                out += sc.get("extension", []) or []
        return out

    def supplement_properties(self, c: FlatConcept) -> list[PropertyValue]:
        out: list[PropertyValue] = []
        for s in self.supplements:
            sc = _supplement_concept(s, c.code)
            if sc:
                for p in sc.get("property", []) or []:
                    key, value = property_value(p)
                    out.append((p.get("code"), key, value))
        return out


def _supplement_concept(supp: JSON, code: str) -> JSON | None:
    index: dict[str, JSON] | None = supp.get("_index")
    if index is None:
        index = {}

        def walk(concepts: list[JSON] | None) -> None:
            for c in concepts or []:
                if c.get("code") is not None:
                    index.setdefault(c["code"], c)
                walk(c.get("concept"))
        walk(supp.get("concept"))
        supp["_index"] = index
    return index.get(code)


class InMemoryCodeSystem(CodeSystemProvider[FlatConcept]):
    """A CodeSystem resource passed in the request."""

    def __init__(self, cs: JSON, supplements: list[JSON] | None = None):
        self.resource = {k: v for k, v in cs.items() if k != "concept"}
        self.url = cs["url"]   # (the context takes in a code system by its url)
        self.version = cs.get("version")
        self.content = cs.get("content", "complete")
        self.case_sensitive = cs.get("caseSensitive") is not False
        self.hierarchy_meaning = cs.get("hierarchyMeaning")
        self.language = cs.get("language")
        self.supplements = supplements or []
        self._concepts: list[FlatConcept] = []
        self._by_code: dict[str, FlatConcept] = {}
        self._children: dict[str, list[FlatConcept]] = {}
        for c in flatten(cs):
            known = self._by_code.get(c.code)
            if known is not None:  # a concept repeated under another parent
                assert known.parents is not None and c.parents is not None   # (flatten fills every list)
                known.parents += [p for p in c.parents if p not in known.parents]
                continue
            self._concepts.append(c)
            self._by_code[c.code] = c
        for c in self._concepts:
            for p in c.parents or ():
                self._children.setdefault(p, []).append(c)
        self._lower: dict[str, FlatConcept] | None = None

    def locate(self, code: str) -> FlatConcept | None:
        return self._by_code.get(code)

    def locate_nocase(self, code: str) -> FlatConcept | None:
        if self._lower is None:
            self._lower = {}
            for c in self._concepts:
                self._lower.setdefault(c.code.lower(), c)
        return self._lower.get(code.lower())

    def iter_all(self) -> Iterator[FlatConcept]:
        return deadline.bounded(self._concepts)

    def children(self, c: FlatConcept) -> list[FlatConcept]:
        return self._children.get(c.code, [])

    def parent_codes(self, c: FlatConcept) -> list[str]:
        return [p for p in c.parents or () if p in self._by_code]

    def has_hierarchy(self) -> bool:
        return bool(self._children)

    def is_ancestor(self, ancestor: str, code: str) -> bool:
        seen: set[str] = set()
        todo = [code]
        while todo:
            deadline.check()
            n = todo.pop()
            c = self._by_code.get(n)
            if c is None:
                continue
            for p in c.parents or ():
                if p == ancestor:
                    return True
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return False

    def descendants(self, code: str) -> list[FlatConcept]:
        out: list[FlatConcept] = []
        seen: set[str] = set()
        todo = deque(self._children.get(code, []))
        while todo:
            deadline.check()
            c = todo.popleft()
            if c.code in seen:
                continue
            seen.add(c.code)
            out.append(c)
            todo.extend(self._children.get(c.code, []))
        order = {c.code: i for i, c in enumerate(self._concepts)}
        out.sort(key=lambda c: order[c.code])
        return out

    def designations(self, c: FlatConcept) -> list[JSON]:
        return list(c.designations or []) + self.supplement_designations(c)

    def properties(self, c: FlatConcept) -> list[PropertyValue]:
        return list(c.properties or []) + self.supplement_properties(c)

    def size(self) -> int:
        return len(self._concepts)

    def with_supplements(self, supplements: list[JSON]) -> "InMemoryCodeSystem":
        clone = object.__new__(InMemoryCodeSystem)
        clone.__dict__.update(self.__dict__)
        clone.supplements = supplements
        return clone


_CONCEPT_COLS = "id, code, display, definition, status, inactive, abstract"


def _row_concept(r: Row) -> Concept:
    return Concept(r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6]), cid=r[0])


@dataclass(slots=True)
class ReadOnce:
    """What the providers of a stored code system read of it once per build (the context keeps one per
    code system and build)."""
    concepts: "_Concepts | None" = None   # held in memory, when not too large to hold
    hierarchy: bool | None = None         # whether any of its concepts has a parent


class _Concepts:
    """The concepts of a stored code system, read once per build: in load order, by code and by id."""

    def __init__(self, rows: list[Row]):
        self.ordered = [_row_concept(r) for r in rows]
        self.by_id = {c.cid: c for c in self.ordered}
        self.position = {c.cid: i for i, c in enumerate(self.ordered)}
        self.by_code: dict[str, Concept] = {}
        for c in self.ordered:
            self.by_code.setdefault(c.code, c)
        self.descendants: dict[int | None, tuple[Concept, ...]] = {}   # by ancestor id, in load order, once asked


class StoredCodeSystem(CodeSystemProvider[Concept]):
    """A code system in the store. One of at most HELD concepts is read whole once per build (a
    provider lives as long as its build) and its concepts kept, with what each is asked for
    (designations, properties, parents, children) once read: every access after the first is a
    lookup in memory. A larger one (SNOMED CT, LOINC) is read by indexed queries each time."""

    HELD = 20_000

    def __init__(self, store: Queries, row: Row, resource: JSON, supplements: list[JSON] | None = None,
                 built: ReadOnce | None = None):
        # row: code_system(id, url, version, content, case_sensitive, hierarchy_meaning, supplements, language, concept_count)
        self.store = store
        self.cs_id = row[0]
        self.url = row[1]
        self.version = row[2]
        self.content = row[3] or "complete"
        self.case_sensitive = bool(row[4])
        self.hierarchy_meaning = row[5]
        self.language = row[7]
        self.count = row[8]
        self.resource = resource
        self.supplements = supplements or []
        # what is read of it once per build, shared with its copies with supplements
        self._built = built if built is not None else ReadOnce()

    def with_supplements(self, supplements: list[JSON]) -> "StoredCodeSystem":
        return StoredCodeSystem(self.store, (self.cs_id, self.url, self.version, self.content,
                                             self.case_sensitive, self.hierarchy_meaning, None,
                                             self.language, self.count), self.resource, supplements, self._built)

    def _concepts(self) -> _Concepts | None:
        """The code system's concepts held in memory, or None when it is too large to hold."""
        held = self._built.concepts
        if held is None:
            if (self.count or 0) > self.HELD:
                return None
            held = self._built.concepts = _Concepts(self.store.all(
                f"SELECT {_CONCEPT_COLS} FROM concept WHERE cs_id=? ORDER BY seq", (self.cs_id,)))
        return held

    def _made(self, rows: list[Row]) -> list[Concept]:
        """The concepts of these rows (id first): the held ones, else made of the rows."""
        held = self._concepts()
        if held is None:
            return [_row_concept(r) for r in rows]
        return [held.by_id[r[0]] for r in rows]

    def locate(self, code: str) -> Concept | None:
        held = self._concepts()
        if held is not None:
            return held.by_code.get(code)
        r = self.store.one(f"SELECT {_CONCEPT_COLS} FROM concept WHERE cs_id=? AND code=?", (self.cs_id, code))
        return _row_concept(r) if r else None

    def in_load_order(self, codes: set[str]) -> list[Concept]:
        held = self._concepts()
        if held is None:
            return super().in_load_order(codes)
        found = [c for c in map(held.by_code.get, codes) if c is not None]
        found.sort(key=lambda c: held.position[c.cid])
        return found

    def locate_nocase(self, code: str) -> Concept | None:
        r = self.store.one(f"SELECT {_CONCEPT_COLS} FROM concept WHERE cs_id=? AND code=? COLLATE NOCASE",
                           (self.cs_id, code))
        return self._made([r])[0] if r else None

    def iter_all(self) -> Iterator[Concept]:
        held = self._concepts()
        if held is not None:
            return deadline.bounded(held.ordered)
        cur = self.store.conn().execute(f"SELECT {_CONCEPT_COLS} FROM concept WHERE cs_id=? ORDER BY seq",
                                        (self.cs_id,))
        return (_row_concept(r) for r in deadline.bounded(cur))

    def children(self, c: Concept) -> list[Concept]:
        if c.children is None:
            c.children = self._made(self.store.all(
                "SELECT c.id, c.code, c.display, c.definition, c.status, c.inactive, c.abstract"
                " FROM edge e JOIN concept c ON c.id = e.child_id WHERE e.parent_id=? ORDER BY e.child_id", (c.cid,)))
        return c.children

    def parent_codes(self, c: Concept) -> list[str]:
        if c.parents is None:
            c.parents = [r[0] for r in self.store.all(
                "SELECT p.code FROM edge e JOIN concept p ON p.id = e.parent_id WHERE e.child_id=?", (c.cid,))]
        return c.parents

    def has_hierarchy(self) -> bool:
        if self._built.hierarchy is None:   # (a walk of every edge for a code system without any)
            self._built.hierarchy = self.store.one(
                "SELECT 1 FROM edge e JOIN concept c ON c.id = e.child_id WHERE c.cs_id=? LIMIT 1",
                (self.cs_id,)) is not None
        return self._built.hierarchy

    def is_ancestor(self, ancestor: str, code: str) -> bool:
        held = self._concepts()
        if held is not None:
            a, c = held.by_code.get(ancestor), held.by_code.get(code)
            if a is None or c is None:
                return False
            if c.ancestor_ids is None:
                c.ancestor_ids = frozenset(r[0] for r in self.store.all(
                    "SELECT ancestor_id FROM closure WHERE descendant_id=?", (c.cid,)))
            return a.cid in c.ancestor_ids
        return self.store.one(
            "SELECT 1 FROM closure x JOIN concept a ON a.id = x.ancestor_id JOIN concept d ON d.id = x.descendant_id"
            " WHERE a.cs_id=? AND a.code=? AND d.cs_id=? AND d.code=?",
            (self.cs_id, ancestor, self.cs_id, code)) is not None

    def descendants(self, code: str) -> list[Concept]:
        held = self._concepts()
        if held is None:
            return [_row_concept(r) for r in self.store.all(
                "SELECT c.id, c.code, c.display, c.definition, c.status, c.inactive, c.abstract FROM concept a"
                " JOIN closure x ON x.ancestor_id = a.id JOIN concept c ON c.id = x.descendant_id"
                " WHERE a.cs_id=? AND a.code=? ORDER BY c.seq", (self.cs_id, code))]
        root = held.by_code.get(code)
        if root is None:
            return []
        known = held.descendants.get(root.cid)
        if known is None:
            ids = [cid for (cid,) in self.store.all("SELECT descendant_id FROM closure WHERE ancestor_id=?", (root.cid,))]
            ids.sort(key=held.position.__getitem__)
            known = held.descendants[root.cid] = tuple(map(held.by_id.__getitem__, ids))
        return list(known)

    def refset_members(self, refsets: list[str]) -> set[int]:
        """Ids of the concepts in any of these reference sets (SNOMED CT `in`)."""
        return {r[0] for r in self.store.all(
            "SELECT DISTINCT concept_id FROM refset_member WHERE cs_id=? AND refset IN (%s)"
            % ",".join("?" * len(refsets)), (self.cs_id, *refsets))}

    def loaded_refsets(self, refsets: list[str]) -> list[str]:
        """Those of these reference sets whose members the build holds."""
        return [r[0] for r in self.store.all(   # (one index probe each: not every member of a large one read)
            "WITH v(r) AS (VALUES %s) SELECT r FROM v WHERE EXISTS"
            " (SELECT 1 FROM refset_member m WHERE m.refset = v.r AND m.cs_id = ?)"
            % ",".join(["(?)"] * len(refsets)), (*refsets, self.cs_id))]

    def in_refsets(self, c: Concept, refsets: list[str]) -> bool:
        return self.store.one("SELECT 1 FROM refset_member WHERE concept_id=? AND refset IN (%s)"
                              % ",".join("?" * len(refsets)), (c.cid, *refsets)) is not None

    def designations(self, c: Concept) -> list[JSON]:
        if c.designations is None:
            c.designations = [designation_dict(*r) for r in self.store.all(
                "SELECT language, use_system, use_code, use_display, value FROM designation"
                " WHERE concept_id=? ORDER BY rowid", (c.cid,))]
        return c.designations + self.supplement_designations(c)

    def properties(self, c: Concept) -> list[PropertyValue]:
        if c.properties is None:
            c.properties = [(code, PROPERTY_TYPES.get(t, "valueString"), typed_value(t, v)) for code, t, v in
                             self.store.all("SELECT code, type, value FROM concept_property WHERE concept_id=?"
                                            " ORDER BY rowid", (c.cid,))]
        return c.properties + self.supplement_properties(c)

    def size(self) -> int:
        count: int = self.count
        return count
