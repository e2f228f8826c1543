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
    where, args = ["c.cs_id=?"], [cs.cs_id]
    for f in inc.get("filter", []) or []:
        root = cs.locate(f["value"])
        if root is None:
            return [], 0
        cond = "c.id IN (SELECT descendant_id FROM closure WHERE ancestor_id=?)"
        if f["op"] == "is-a":
            cond = f"({cond} OR c.id=?)"
            args += [root.cid, root.cid]
        else:
            args.append(root.cid)
        where.append(cond)
    if excluded:
        where.append("c.code NOT IN (%s)" % ",".join("?" * len(excluded)))
        args += excluded
    if opts.active_only or (vs.get("compose") or {}).get("inactive") is False:
        where.append("c.inactive=0")
    if opts.exclude_not_for_ui:
        where.append("c.abstract=0")
    if opts.filter:
        q = fts_query(opts.filter)
        if q:
            where.append("c.id IN (SELECT concept_id FROM concept_fts WHERE concept_fts MATCH ?)")
            args.append(q)
    cond = " AND ".join(where)
    total = ctx.store.all(f"SELECT count(*) FROM concept c WHERE {cond}", args)[0][0]
    if opts.count is None and max_size and total > max_size:
        raise TooCostly(f"The expansion of {vs.get('url')} has {total} codes, more than the limit of {max_size};"
                        " use count and offset to page through it")
    count = opts.count if opts.count is not None else total
    rows = ctx.store.all(
        "SELECT c.id, c.code, c.display, c.definition, c.status, c.inactive, c.abstract FROM concept c"
        f" WHERE {cond} ORDER BY c.seq LIMIT ? OFFSET ?", (*args, count, opts.offset))
    composer._note_cs(cs)
    members = [Member(cs.url, cs.version, code, display, Concept(code, display, definition, status, inactive,
                                                                 abstract, cid=cid), cs)
               for cid, code, display, definition, status, inactive, abstract in rows]
    return members, total
