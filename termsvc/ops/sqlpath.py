"""Expansions answered in SQL, for value sets too large to walk in Python.

- `stored_expansion`: a stored value set pre-expanded at build time is paged out of the
  `expansion` table (a keyset read), a text filter goes through FTS5.
- `query_expansion`: a value set whose compose is one include of a stored code system -
  the whole system (SNOMED CT `?fhir_vs`) or one `is-a` / `descendent-of` filter
  (`?fhir_vs=isa/X`) - minus enumerated excludes, paged or filtered straight from the
  concept tables and the closure.
"""
from typing import Any, Protocol

import orjson

from termsvc.fhir import messages
from termsvc.fhir.outcome import TooManyCodes
from termsvc.ops.codesystems import Concept, StoredCodeSystem
from termsvc.ops.compose import Composer
from termsvc.ops.members import Member
from termsvc.ops.context import Context, Provider, build_cached, canonical_label
from termsvc.results import JSON
from termsvc.store.queries import Queries, Row
from termsvc.store.values import designation_dict


class Options(Protocol):
    """What this module reads of an expansion request (ops.expand.ExpandOptions, which imports it)."""
    count: int | None
    offset: int
    active_only: bool
    exclude_not_for_ui: bool
    filter: str | None

    @property
    def text_query(self) -> str | None: ...

FAST_PATH_MIN = 1000   # smaller pre-expansions go through the Composer (hierarchical output)


def _status_conditions(opts: Options, alias: str) -> list[str]:
    """SQL conditions for activeOnly and excludeNotForUI."""
    conds = []
    if opts.active_only:
        conds.append(f"{alias}.inactive=0")
    if opts.exclude_not_for_ui:
        conds.append(f"{alias}.abstract=0")
    return conds


def member_conditions(opts: Options, alias: str, id_column: str) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their arguments) for activeOnly, excludeNotForUI and a text filter over
    the concepts' texts."""
    conds = _status_conditions(opts, alias)
    args: list[Any] = []
    if opts.text_query:
        conds.append(f"{alias}.{id_column} IN (SELECT concept_id FROM concept_fts WHERE concept_fts MATCH ?)")
        args.append(opts.text_query)
    return conds, args


def _matching_seqs(store: Queries, vs_id: int, opts: Options) -> list[int]:
    """The positions in a pre-expansion of the members that pass the request's conditions. A text
    filter matches a concept's own texts (concept_fts) or the texts the value set gives its members
    (expansion_fts): two queries, each driven by its FTS index (an OR of the two would walk the
    whole expansion); the second only for a value set that gives texts of its own."""
    conds, args = member_conditions(opts, "e", "concept_id")
    seqs = {r[0] for r in store.all(f"SELECT e.seq FROM expansion e WHERE {' AND '.join(['e.vs_id=?'] + conds)}",
                                    [vs_id] + args)}
    if opts.text_query and vs_id in _with_own_texts(store):
        status = "".join(" AND " + c for c in _status_conditions(opts, "e"))
        seqs.update(r[0] for r in store.all(
            "SELECT e.seq FROM expansion e WHERE e.vs_id=? AND e.seq IN (SELECT seq FROM expansion_fts"
            f" WHERE expansion_fts MATCH ? AND vs_id=?){status}", (vs_id, opts.text_query, vs_id)))
    return sorted(seqs)


def _with_own_texts(store: Queries) -> frozenset[int]:
    """The value sets whose pre-expansion has texts of its own (expansion_fts), per build."""
    return build_cached(store, ("with-own-texts",), lambda: frozenset(
        r[0] for r in store.all("SELECT DISTINCT vs_id FROM expansion_fts")))


def _shape(vs: JSON) -> tuple[JSON, list[str]] | None:
    """(include, exclude codes) when the compose has the shape this module serves, else None."""
    compose = vs.get("compose") or {}
    incs = compose.get("include", []) or []
    if len(incs) != 1:
        return None
    inc = incs[0]
    if not inc.get("system") or inc.get("concept") or inc.get("valueSet"):
        return None
    filters = inc.get("filter", []) or []
    if len(filters) > 1:
        return None
    if filters and not (filters[0].get("property") in ("concept", "code")
                        and filters[0].get("op") in ("is-a", "descendent-of") and filters[0].get("value")):
        return None
    excluded = []
    for exc in compose.get("exclude", []) or []:
        if exc.get("system") != inc["system"] or exc.get("filter") or exc.get("valueSet") or not exc.get("concept"):
            return None
        excluded += [c.get("code") for c in exc["concept"]]
    return inc, excluded


def query_expansion(ctx: Context, composer: Composer, vs: JSON, opts: Options, max_size: int | None = None
                    ) -> tuple[list[Member], int] | None:
    """(members of the page, total) or None when the value set or request is not of this kind."""
    if not (opts.count is not None or opts.offset or opts.filter):
        return None
    shape = _shape(vs)
    if shape is None:
        return None
    inc, excluded = shape
    cs = composer.include_version(inc, vs).cs
    if not isinstance(cs, StoredCodeSystem):
        return None
    # the members: a range of the closure's primary key (in concept id order, which is load order)
    # for is-a / descendent-of, else the code system's concepts in load order; is-a puts its root first
    root = None
    f = (inc.get("filter") or [None])[0]
    if f is not None:
        root = cs.locate(f["value"])
        if root is None:
            return [], 0
        source, where, args = "closure x JOIN concept c ON c.id = x.descendant_id", ["x.ancestor_id=?"], [root.cid]
        order = "x.descendant_id"
    else:
        source, where, args, order = "concept c", ["c.cs_id=?"], [cs.cs_id], "c.seq"
    conds, cond_args = member_conditions(opts, "c", "id")
    if excluded:
        conds.append("c.code NOT IN (%s)" % ",".join("?" * len(excluded)))
        cond_args += excluded
    if (vs.get("compose") or {}).get("inactive") is False and not opts.active_only:
        conds.append("c.inactive=0")
    where, args = where + conds, args + cond_args
    cond = " AND ".join(where)
    store = ctx.store
    assert store is not None   # (a stored code system's)
    # without conditions on the concept a hierarchy is counted and paged in the closure index alone
    closure_only = root is not None and not conds
    if closure_only:
        assert root is not None
        total = store.count("SELECT count(*) FROM closure WHERE ancestor_id=?", (root.cid,))
    else:
        total = store.all(f"SELECT count(*) FROM {source} WHERE {cond}", args)[0][0]
    head = []
    if root is not None and f["op"] == "is-a":
        extra = (" AND " + " AND ".join(conds)) if conds else ""
        if store.one(f"SELECT 1 FROM concept c WHERE c.id=?{extra}", (root.cid, *cond_args)):
            head = [root]
            total += 1
    if opts.count is None and max_size and total > max_size:
        raise TooManyCodes(messages.text("expansion-too-large", url=canonical_label(vs), total=total, limit=max_size))
    count = opts.count if opts.count is not None else total
    offset = opts.offset
    page_head = head if offset == 0 else []
    if head:
        offset = max(offset - 1, 0)
        count -= len(page_head)
    if closure_only:
        assert root is not None
        source = ("(SELECT descendant_id FROM closure WHERE ancestor_id=? ORDER BY descendant_id LIMIT ? OFFSET ?) x"
                  " JOIN concept c ON c.id = x.descendant_id")
        rows = store.all("SELECT c.id, c.code, c.display, c.definition, c.status, c.inactive, c.abstract"
                         f" FROM {source} ORDER BY x.descendant_id", (root.cid, max(count, 0), offset))
    else:
        rows = store.all("SELECT c.id, c.code, c.display, c.definition, c.status, c.inactive, c.abstract"
                         f" FROM {source} WHERE {cond} ORDER BY {order} LIMIT ? OFFSET ?", (*args, max(count, 0), offset))
    composer.note_cs(cs)
    concepts = page_head + [Concept(code, display, definition, status, bool(inactive), bool(abstract), cid=cid)
                            for cid, code, display, definition, status, inactive, abstract in rows]
    return [Member(cs.url, cs.version, c.code, c.display, c, cs, None, None, c.inactive, c.abstract)
            for c in concepts], total


def stored_expansion(ctx: Context, vs: JSON, opts: Options, max_size: int | None = None, tree: bool = False,
                     plain: bool = False) -> tuple[list[Row], int, tuple[str, ...]] | None:
    """(rows of the requested page, total, used code systems) from the pre-expansion, or None when
    the value set has none or the request is better served by the Composer: a small one (under
    FAST_PATH_MIN codes) unless a text filter flattens its expansion anyway (`tree`: it does not).
    The rows: PLAIN_COLUMNS when `plain` (for Entries.plain_rows), else those of stored_members."""
    vs_id = ctx.stored_value_set_id(vs)
    store = ctx.store
    if store is None or vs_id is None:
        return None
    pre = _pre_expansion(store, vs_id)
    if pre is None:
        return None
    total_all, used = pre
    paged = opts.count is not None or opts.offset
    if total_all < FAST_PATH_MIN and (tree or not opts.filter):
        return None
    filtered = bool(opts.text_query or _status_conditions(opts, "e"))
    cols = PLAIN_COLUMNS if plain else _MEMBER_COLUMNS
    if filtered:
        # The positions of the matching members, in one pass over the index on (concept_id, vs_id)
        # driven by the FTS hits (covering: seq is part of the key), then the page by position.
        # (`ORDER BY seq LIMIT/OFFSET` over the join would walk the whole expansion in seq order.)
        seqs = _matching_seqs(store, vs_id, opts)
        total = len(seqs)
        count = opts.count if opts.count is not None else total
        if not paged and max_size and total > max_size:
            return None  # let the caller apply its size limit
        page = seqs[opts.offset:opts.offset + count]
        rows = store.all(f"SELECT {cols} FROM expansion e LEFT JOIN concept c ON c.id = e.concept_id"
                         " WHERE e.vs_id=? AND e.seq IN (SELECT value FROM json_each(?)) ORDER BY e.seq",
                         (vs_id, orjson.dumps(page).decode())) if page else []
    else:  # keyset: seq is the position in the expansion
        total = total_all
        count = opts.count if opts.count is not None else total
        if not paged and max_size and total > max_size:
            return None  # let the caller apply its size limit
        rows = store.all(f"SELECT {cols} FROM expansion e LEFT JOIN concept c ON c.id = e.concept_id"
                         " WHERE e.vs_id=? AND e.seq >= ? ORDER BY e.seq LIMIT ?", (vs_id, opts.offset, count))
    return rows, total, used


# a member of a pre-expansion as stored_expansion reads it: all stored_members needs, or what an entry
# shows when neither designations nor properties are asked for (the status of its stored concept)
_MEMBER_COLUMNS = "e.system, e.version, e.code, e.display, e.concept_id, e.inactive, e.abstract, c.definition," \
                  " c.status, c.display"
PLAIN_COLUMNS = "e.system, e.version, e.code, e.display, e.inactive, e.abstract, c.status"


def _pre_expansion(store: Queries, vs_id: int) -> tuple[int, tuple[str, ...]] | None:
    """(total, used code systems) of the value set's pre-expansion, None when it has none (per build)."""
    def read() -> tuple[int, tuple[str, ...]] | None:
        row = store.one("SELECT expansion_state, expansion_total, used_systems FROM value_set WHERE id=?", (vs_id,))
        return (row[1], tuple(orjson.loads(row[2] or "[]"))) if row is not None and row[0] == "done" else None
    return build_cached(store, ("pre-expansion", vs_id), read)


def pre_expanded_total(store: Queries, vs_id: int) -> int | None:
    """How many codes the pre-expansion of the stored value set holds (None: it has none)."""
    pre = _pre_expansion(store, vs_id)
    return pre[0] if pre is not None else None


def stored_members(ctx: Context, rows: list[Row], with_designations: bool = False) -> list[Member]:
    """The members of rows of stored_expansion (with their stored concepts' designations read, in one
    query, when `with_designations`)."""
    members = []
    providers: dict[tuple[str, str | None], Provider | None] = {}
    stored_concepts = []
    for system, version, code, display, cid, inactive, abstract, definition, status, cdisplay in rows:
        key = (system, version)
        if key not in providers:
            providers[key] = ctx.code_system(system, version)
        concept = None
        if cid is not None:
            concept = Concept(code, cdisplay, definition, status, bool(inactive), bool(abstract), cid=cid)
            stored_concepts.append(concept)
        members.append(Member(system, version, code, display, concept, providers[key], None, None, bool(inactive),
                              bool(abstract)))
    if stored_concepts and with_designations and ctx.store is not None:
        prefetch_designations(ctx.store, stored_concepts)
    return members


def prefetch_designations(store: Queries, concepts: list[Concept]) -> None:
    """Load the designations of a page of stored concepts in one query (what
    StoredCodeSystem.designations would otherwise read concept by concept)."""
    by_id: dict[int | None, list[list[JSON]]] = {}   # concept id -> the designation lists to fill
    for c in concepts:
        if c.designations is None:
            c.designations = []
            by_id.setdefault(c.cid, []).append(c.designations)
    if not by_id:
        return
    for cid, lang, us, uc, ud, value in store.all(
            "SELECT concept_id, language, use_system, use_code, use_display, value FROM designation"
            " WHERE concept_id IN (SELECT value FROM json_each(?)) ORDER BY concept_id, rowid",
            (orjson.dumps(list(by_id)).decode(),)):
        for held in by_id[cid]:
            held.append(designation_dict(lang, us, uc, ud, value))
