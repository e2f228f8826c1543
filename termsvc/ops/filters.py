"""ValueSet.compose filters: which concepts of a code system a filter selects, and whether one
concept passes it, so that an expansion enumerates and a validation decides one code with the
same rules. An `in` filter's listed value is a reference set when the build holds its members (the
members, not the value), else a code (in_list: read once, by both).
"""
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from termsvc.fhir import messages
from termsvc.fhir.codesystem import CONCEPT_PROPERTIES, FlatConcept
from termsvc.fhir.outcome import TooCostly
from termsvc.ops import ecl, regex
from termsvc.ops.codesystems import Concept, StoredCodeSystem
from termsvc.ops.context import Provider
from termsvc.results import JSON

HIERARCHY_OPS = ("is-a", "descendent-of", "generalizes", "is-not-a", "child-of")
_CHUNK = 10_000   # reference sets asked about in one query (SQLite takes a bounded number of parameters)
SNOMED, REFSET_ROOT = "http://snomed.info/sct", "900000000000455006"   # |Reference set|


@functools.lru_cache(maxsize=256)
def listed(value: str) -> frozenset[str]:
    """The codes an `in` / `not-in` filter lists: its value, comma-separated (read once per value, so
    that testing a concept against thousands of them costs one lookup)."""
    return frozenset(v.strip() for v in value.split(","))


@functools.lru_cache(maxsize=256)
def _chunks(codes: frozenset[str]) -> list[list[str]]:
    """The codes listed, in queries of at most _CHUNK (made once per list: a validation asks per concept)."""
    ordered = sorted(codes)
    return [ordered[i:i + _CHUNK] for i in range(0, len(ordered), _CHUNK)]


@dataclass(frozen=True, slots=True)
class InList:
    """What an `in` filter's value names in a stored code system: each listed value is a reference set whose
    members the build holds (its members), else a code (itself)."""
    refsets: list[str]      # the listed reference sets with members held
    codes: frozenset[str]   # the other values


@functools.lru_cache(maxsize=256)
def in_list(cs: StoredCodeSystem, value: str, prop: str) -> InList:
    """The `in` filter's list, read once per code system and value, so that $expand and $validate-code take
    the same codes. A value that is a reference set of the code system (a SNOMED CT concept under
    |Reference set|) whose members the build does not hold cannot be judged: an error that says so."""
    codes = listed(value)
    refsets = sorted({r for chunk in _chunks(codes) for r in cs.loaded_refsets(chunk)})
    rest = codes.difference(refsets)
    unloaded = sorted(rest & _refset_concepts(cs)) if cs.url == SNOMED else []
    if unloaded:
        raise messages.error("refset-not-loaded", status=422, issue_code="not-found", tx_type="not-found",
                             property=prop, value=value, system=cs.vurl(), refsets=", ".join(unloaded))
    return InList(refsets, rest)


@functools.lru_cache(maxsize=16)
def _refset_concepts(cs: StoredCodeSystem) -> frozenset[str]:
    """The codes of the code system's reference set concepts (SNOMED CT: under |Reference set|)."""
    return frozenset(c.code for c in cs.descendants(REFSET_ROOT))


def _members(cs: StoredCodeSystem, refsets: list[str]) -> set[int]:
    return cs.refset_members(refsets) if refsets else set()


def check_filter(cs: Provider, f: JSON) -> None:
    """Raise for a filter that cannot be evaluated whatever the code (no value, no op, a bad regex)."""
    prop, op, value = f.get("property"), f.get("op"), f.get("value")
    if value is None or value == "":
        _no_value(cs, f)
    if op is None:
        raise messages.error("filter-no-op", system=cs.url, property=prop)
    if op == "regex":
        regex.compile_filter(value, prop, cs.url)


def _no_value(cs: Provider, f: JSON) -> NoReturn:
    raise messages.error("UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE", tx_type="vs-invalid", system=cs.url,
                         property=f.get("property"), op=f.get("op"))


def select(cs: Provider, filters: list[JSON], max_size: int | None) -> list[FlatConcept]:
    """The concepts of cs that pass every filter: the first filter selects, the others test."""
    for f in filters:
        check_filter(cs, f)
    first, rest = filters[0], filters[1:]
    selected = _select_one(cs, first, max_size)
    if not rest:
        return selected
    tests = [_test(cs, f) for f in rest]
    return [c for c in selected if all(test(c) for test in tests)]


def _test(cs: Provider, f: JSON) -> Callable[[FlatConcept], bool]:
    """matches(cs, c, f) as a function of c, what it needs looked up once for every concept tested."""
    if f.get("op") == "in" and _is_concept_prop(f.get("property")) and isinstance(cs, StoredCodeSystem):
        wanted = in_list(cs, f.get("value") or "", f.get("property"))
        members = _members(cs, wanted.refsets)
        return lambda c: c.code in wanted.codes or (isinstance(c, Concept) and c.cid in members)
    return lambda c: matches(cs, c, f)


def _select_one(cs: Provider, f: JSON, max_size: int | None) -> list[FlatConcept]:
    prop, op, value = f.get("property"), f.get("op"), f.get("value")
    if value is None:   # (select checked every filter)
        _no_value(cs, f)
    if _is_concept_prop(prop):
        if op == "is-a":
            root = cs.locate(value)
            return ([root] if root else []) + cs.descendants(value)
        if op == "descendent-of":
            return cs.descendants(value)
        if op == "child-of":
            root = cs.locate(value)
            return list(cs.children(root)) if root else []
        if op == "descendent-leaf":
            return [c for c in cs.descendants(value) if not cs.children(c)]
        if op == "generalizes":
            c = cs.locate(value)
            return [x for x in cs.iter_all() if c and (x.code == value or cs.is_ancestor(x.code, value))]
    if prop == "constraint" and isinstance(cs, StoredCodeSystem):
        ids = _ecl(cs, value)
        return [c for c in cs.iter_all() if c.cid in ids]
    if op == "in" and _is_concept_prop(prop) and isinstance(cs, StoredCodeSystem):
        wanted = in_list(cs, value, prop)   # the members of the reference sets listed, and the codes listed
        ids = _members(cs, wanted.refsets)
        return [c for c in cs.iter_all() if c.cid in ids or c.code in wanted.codes]
    if isinstance(cs, StoredCodeSystem) and cs.size() > (max_size or 10 ** 9) * 20:
        raise TooCostly(messages.text("filter-too-costly", property=prop, op=op, value=value, system=cs.vurl()))
    return [c for c in cs.iter_all() if matches(cs, c, f)]


def matches(cs: Provider, c: FlatConcept, f: JSON) -> bool:
    """Does concept c of cs pass filter f?"""
    prop, op = f.get("property"), f.get("op")
    value: str | None = f.get("value")   # (a string: fhir/shape.py checks a request's filters)
    if value is None:
        _no_value(cs, f)
    if _is_concept_prop(prop):
        if op == "is-a":
            return c.code == value or cs.is_ancestor(value, c.code)
        if op == "descendent-of":
            return cs.is_ancestor(value, c.code)
        if op == "is-not-a":
            return not (c.code == value or cs.is_ancestor(value, c.code))
        if op == "generalizes":
            return c.code == value or cs.is_ancestor(c.code, value)
        if op == "child-of":
            return value in cs.parent_codes(c)
        if op == "descendent-leaf":
            return cs.is_ancestor(value, c.code) and not cs.children(c)
        if op == "in":
            if not isinstance(cs, StoredCodeSystem):
                return c.code in listed(value)
            named = in_list(cs, value, prop)
            return c.code in named.codes or (isinstance(c, Concept) and bool(named.refsets)
                                             and cs.in_refsets(c, named.refsets))
        if op == "not-in":
            return c.code not in listed(value)
        if op == "regex":
            return regex.fullmatch(regex.compile_filter(value, prop, cs.url), c.code)
        if op == "=":
            return c.code == value
        raise messages.error("filter-op-unsupported", tx_type="vs-invalid", op=op, property=prop, system=cs.url)
    if prop == "constraint":
        if isinstance(cs, StoredCodeSystem) and isinstance(c, Concept):
            return c.cid in _ecl(cs, value)
        raise messages.error("ecl-unsupported", system=cs.url)
    values = concept_property_values(cs, c, prop)
    if op == "exists":
        return bool(values) == (str(value).lower() == "true")
    if op == "=":
        return any(v == value for v in values)
    if op in ("in", "not-in"):
        wanted = listed(value)
        return any(v in wanted for v in values) is (op == "in")
    if op == "regex":
        compiled = regex.compile_filter(value, prop, cs.url)
        return any(regex.fullmatch(compiled, v) for v in values)
    if op in HIERARCHY_OPS:
        ok = any(v == value or cs.is_ancestor(value, v) for v in values)
        return (not ok) if op == "is-not-a" else ok
    raise messages.error("filter-op-unsupported", tx_type="vs-invalid", op=op, property=prop, system=cs.url)


def matches_in_part(cs: Provider, c: FlatConcept, f: JSON) -> bool | None:
    """matches() for a code system held only in part (a fragment): None when what it holds cannot
    settle it. A fragment's stated relations and properties are true, their absence proves nothing."""
    ok = matches(cs, c, f)
    prop, op = f.get("property"), f.get("op")
    if _is_concept_prop(prop) and op in ("=", "regex"):
        return ok    # the code alone decides
    if op == "descendent-leaf" or prop == "constraint":
        return None
    negative = op in ("is-not-a", "not-in") or (op == "exists" and str(f.get("value")).lower() != "true")
    if negative:
        return None if ok else False
    return True if ok else None


def _ecl(cs: StoredCodeSystem, expression: str) -> set[int]:
    try:
        return ecl.evaluate(cs.store.conn(), cs.cs_id, expression)
    except ecl.Unsupported as e:   # valid ECL: not the client's error, the server's limit
        raise messages.error("ecl-invalid", issue_code="not-supported", expression=expression, reason=str(e)) from e
    except ValueError as e:
        raise messages.error("ecl-invalid", tx_type="vs-invalid", expression=expression, reason=str(e)) from e


def concept_property_values(cs: Provider, c: FlatConcept, prop: str | None) -> list[str]:
    """A concept's values of a property, as strings (also the implicit ones: status, inactive...)."""
    defs = {d.get("code"): d for d in cs.property_defs}
    uri_name = None
    d = defs.get(prop)
    if d and (d.get("uri") or "").startswith(CONCEPT_PROPERTIES):
        uri_name = d["uri"][len(CONCEPT_PROPERTIES):]
    out = []
    for code, _, value in cs.properties(c):
        if code == prop:
            if isinstance(value, bool):
                out.append("true" if value else "false")
            elif isinstance(value, dict):
                out.append(value.get("code", ""))
            elif value is not None:
                out.append(str(value))
    name = uri_name or prop
    if not out:
        if name == "display":
            out = [c.display] if c.display else []
        elif name == "status" and c.status:
            out = [c.status]
        elif name == "inactive":
            out = ["true" if c.inactive else "false"]
        elif name == "notSelectable" and prop not in defs and c.abstract:
            out = ["true"]
        elif name == "parent":
            out = cs.parent_codes(c)
        elif name == "child":
            out = [x.code for x in cs.children(c)]
    return out


def _is_concept_prop(prop: object) -> bool:
    return prop in ("concept", "code")
