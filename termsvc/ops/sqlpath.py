"""Expansion straight from the concept tables, for value sets too large to walk in Python.

Serves a value set whose compose is one include of a stored code system - the whole
system (SNOMED CT `?fhir_vs`) or one `is-a` / `descendent-of` filter (`?fhir_vs=isa/X`,
the IG's `im-procedure-type`) - minus enumerated excludes, when the request pages or
filters by text. Membership, the text filter (FTS5), activeOnly and the page are one
indexed query each; the total is a COUNT over the same condition.
"""
from termsvc.fhir.outcome import TooCostly
from termsvc.ops.codesystems import Concept, StoredCodeSystem
from termsvc.ops.compose import Member


def _shape(vs):
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


def query_expansion(ctx, composer, vs, opts, fts_query, max_size=None):
    """(members of the page, total) or None when the value set or request is not of this kind."""
    if not (opts.count is not None or opts.offset or opts.filter):
        return None
    shape = _shape(vs)
    if shape is None:
        return None
    inc, excluded = shape
    cs = composer.code_system_for(inc["system"], inc.get("version"), vs)
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
    conds, cond_args = [], []
    if excluded:
        conds.append("c.code NOT IN (%s)" % ",".join("?" * len(excluded)))
        cond_args += excluded
    if opts.active_only or (vs.get("compose") or {}).get("inactive") is False:
        conds.append("c.inactive=0")
    if opts.exclude_not_for_ui:
        conds.append("c.abstract=0")
    if opts.filter:
        q = fts_query(opts.filter)
        if q:
            conds.append("c.id IN (SELECT concept_id FROM concept_fts WHERE concept_fts MATCH ?)")
            cond_args.append(q)
    where, args = where + conds, args + cond_args
    cond = " AND ".join(where)
    store = ctx.store
    # without conditions on the concept a hierarchy is counted and paged in the closure index alone
    closure_only = root is not None and not conds
    if closure_only:
        total = store.one("SELECT count(*) FROM closure WHERE ancestor_id=?", (root.cid,))[0]
    else:
        total = store.all(f"SELECT count(*) FROM {source} WHERE {cond}", args)[0][0]
    head = []
    if root is not None and f["op"] == "is-a":
        extra = (" AND " + " AND ".join(conds)) if conds else ""
        if store.one(f"SELECT 1 FROM concept c WHERE c.id=?{extra}", (root.cid, *cond_args)):
            head = [root]
            total += 1
    if opts.count is None and max_size and total > max_size:
        raise TooCostly(f"The expansion of {vs.get('url')} has {total} codes, more than the limit of {max_size};"
                        " use count and offset to page through it")
    count = opts.count if opts.count is not None else total
    offset = opts.offset
    page_head = head if offset == 0 else []
    if head:
        offset = max(offset - 1, 0)
        count -= len(page_head)
    if closure_only:
        source = ("(SELECT descendant_id FROM closure WHERE ancestor_id=? ORDER BY descendant_id LIMIT ? OFFSET ?) x"
                  " JOIN concept c ON c.id = x.descendant_id")
        rows = store.all("SELECT c.id, c.code, c.display, c.definition, c.status, c.inactive, c.abstract"
                         f" FROM {source} ORDER BY x.descendant_id", (root.cid, max(count, 0), offset))
    else:
        rows = store.all("SELECT c.id, c.code, c.display, c.definition, c.status, c.inactive, c.abstract"
                         f" FROM {source} WHERE {cond} ORDER BY {order} LIMIT ? OFFSET ?", (*args, max(count, 0), offset))
    composer._note_cs(cs)
    concepts = page_head + [Concept(code, display, definition, status, inactive, abstract, cid=cid)
                            for cid, code, display, definition, status, inactive, abstract in rows]
    return [Member(cs.url, cs.version, c.code, c.display, c, cs) for c in concepts], total
