"""Read and search of the stored resources (CodeSystem, ValueSet, ConceptMap) as FHIR answers: a
resource as its endpoint serves it, and the searchset Bundle of `GET [base]/{type}?url=...` (the
operation router answers searches, outside Flask, and caches them; Flask answers reads).
"""
import functools
from typing import TypeVar
from urllib.parse import urlencode

import orjson

from werkzeug.sansio.utils import get_current_url
from werkzeug.wsgi import get_host

from termsvc import deadline
from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.fhir.convert import canonical_r5_to_r4
from termsvc.fhir.operations import READ_PARAMETERS, SEARCH_PARAMETERS
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Params, Signature
from termsvc.store.queries import SEARCH_COLUMNS
from termsvc.store.reader import Store

RESOURCE_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
DEFAULT_COUNT = 50
MAX_COUNT = 1000
MAX_READ_CONCEPTS = 20_000   # a larger CodeSystem is read without its concepts


def base_url(environ, r4: bool) -> str:
    """The FHIR base the links of an answer name: the scheme and host the request reached the server
    by (the Host header, else the server's address; no default port), and the endpoint's path."""
    return _origin(environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST"), environ.get("SERVER_NAME"),
                   environ.get("SERVER_PORT")) + ("/r4/fhir" if r4 else "/fhir")


@functools.lru_cache(maxsize=256)   # werkzeug's reading of them takes 13 µs, and they seldom change
def _origin(scheme: str, host: str | None, server_name: str | None, server_port: str | None) -> str:
    environ = {"wsgi.url_scheme": scheme, "SERVER_NAME": server_name, "SERVER_PORT": server_port}
    if host is not None:
        environ["HTTP_HOST"] = host
    return get_current_url(scheme, get_host(environ)).rstrip("/")


Found = TypeVar("Found")


def render_resource(store: Store, rid: int, rtype: str, r4: bool) -> dict | orjson.Fragment:
    """A stored resource as the endpoint serves it: a ValueSet or ConceptMap of the R5 endpoint as it
    is stored (its JSON text, embedded as it is when the answer is written), the others converted, and
    a CodeSystem with its concepts rebuilt from the concept tables."""
    if rtype != "CodeSystem" and not r4:
        return orjson.Fragment(_found(store.resource_text(rid), rid))
    if rtype == "CodeSystem":
        res = _found(store.code_system_with_concepts(rid, MAX_READ_CONCEPTS), rid)
    else:
        res = _found(store.resource_json(rid), rid)
    return as_r4(res) if r4 else res


def _found(value: Found | None, rid: int) -> Found:
    """A resource the build's own index named (a build never changes: a miss is a broken build)."""
    if value is None:
        raise LookupError(f"resource {rid} is indexed but not stored")
    return value


def as_r4(res: dict) -> dict:
    """A stored (R5-shaped) resource as the R4 endpoint serves it, its contained ones too."""
    if res.get("resourceType") == "ConceptMap":
        return concept_map_r5_to_r4(res)
    res = canonical_r5_to_r4(res)
    if res.get("contained"):
        res = {**res, "contained": [as_r4(c) for c in res["contained"]]}
    return res


SEARCH = Signature(SEARCH_PARAMETERS)
READ = Signature(READ_PARAMETERS)
ALWAYS = frozenset({"resourceType", "id", "meta", "status", "content"})   # kept in a subset: ids and the mandatory
SUMMARY_LEAVES_OUT = frozenset({"concept", "compose", "group", "expansion", "text"})
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def search_params(query: str, strict: bool = False) -> Params:
    """The parameters of a search's query string, typed as declared (fhir/operations.py: a wrong value, or
    one given twice, is a 400 naming it; an empty one is left out, as FHIR says). A modifier
    (`name:contains`) is refused: none is supported. An unknown parameter is ignored, as FHIR says -
    refused with `strict` (the request's `Prefer: handling=strict`)."""
    params = SEARCH.from_query_string(_without_empty(query))
    for name in params.firsts():
        if name in SEARCH.declared:
            continue
        base, colon, modifier = name.partition(":")
        if colon and base in SEARCH.declared:
            raise OpError(f"The search parameter '{base}' has no modifier ':{modifier}' here: search by the value"
                          " itself", code="not-supported")
        if strict:
            raise OpError(f"Unknown search parameter '{name}' (Prefer: handling=strict): this server searches by"
                          f" {', '.join(SEARCH.declared)}", code="not-supported")
    return params


def _without_empty(query: str) -> str:
    """The query without its empty parameters (`version=`: left out, as FHIR says)."""
    if "=&" in query or query.endswith("=") or "&&" in query:
        return "&".join(f for f in query.split("&") if f.partition("=")[2])
    return query


def read_params(query: str) -> Params:
    """The parameters of a read's query string (READ_PARAMETERS; the others are ignored, an empty one left out)."""
    return READ.from_query_string(_without_empty(query))


def _elements(params: Params, rtype: str) -> frozenset[str] | None:
    """The element names `_elements` asks for (None: all); a name of another resource type is left out."""
    text = params.str("_elements")
    if text is None:
        return None
    names = set()
    for item in text.split(","):   # (names as the declaration's pattern says: checked at the door)
        resource_type, _, name = item.strip().rpartition(".")
        if resource_type in ("", rtype):
            names.add(name)
    return frozenset(names)


def _subset(res: dict, keep) -> dict:
    """`res` with only the elements `keep(name)` says, tagged SUBSETTED."""
    out = {k: v for k, v in res.items() if keep(k)}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    out["meta"] = meta
    return out


def _entry(store: Store, rid: int, rtype: str, r4: bool, summary: str | None,
           elements: frozenset[str] | None) -> dict | orjson.Fragment:
    """One resource of a searchset: whole, or the part `_summary` / `_elements` ask for."""
    if summary in (None, "false") and elements is None:
        return render_resource(store, rid, rtype, r4)
    if rtype == "CodeSystem" and elements and "concept" in elements:
        res = render_resource(store, rid, rtype, r4)
        assert isinstance(res, dict)
    else:
        res = _found(store.resource_json(rid), rid)
        res = as_r4(res) if r4 else res
    if summary == "true":
        return _subset(res, lambda k: k not in SUMMARY_LEAVES_OUT)
    if summary == "text":
        return _subset(res, lambda k: k in ALWAYS or k == "text")
    if summary == "data":
        res = {k: v for k, v in res.items() if k != "text"}
    return res if elements is None else _subset(res, lambda k: k in ALWAYS or k in elements)


def read_answer(store: Store, rid: int, rtype: str, r4: bool, params: Params) -> dict | orjson.Fragment:
    """A read's answer: the resource, or the part its `_summary` / `_elements` ask for (READ_PARAMETERS)."""
    return _entry(store, rid, rtype, r4, params.str("_summary"), _elements(params, rtype))


def search_bundle(store: Store, rtype: str, params: Params, r4: bool, base: str) -> dict:
    """The searchset Bundle of a search: `params` from search_params(), `base` from base_url()."""
    criteria = {name: str(params.get(name)) for name in SEARCH_COLUMNS if params.has(name)}
    summary = params.str("_summary")
    if summary == "count":
        total, _ = store.search_resources(rtype, criteria, 0, 0, "R4" if r4 else "R5")
        return {"resourceType": "Bundle", "type": "searchset", "total": total}
    elements = _elements(params, rtype)
    count = min(params.int("_count", DEFAULT_COUNT) or 0, MAX_COUNT)
    offset = params.int("_offset", 0) or 0
    total, page = store.search_resources(rtype, criteria, count, offset, "R4" if r4 else "R5")
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total}
    entries = [{"fullUrl": f"{base}/{rtype}/{fid}", "resource": _entry(store, rid, rtype, r4, summary, elements),
                "search": {"mode": "match"}} for rid, fid in deadline.bounded(page)]
    if offset + count < total:
        q: dict[str, str] = {}
        for p in params.items:
            q.setdefault(p.name, str(p.value))
        q["_offset"] = str(offset + count)
        bundle["link"] = [{"relation": "next", "url": f"{base}/{rtype}?{urlencode(q)}"}]
    if entries:
        bundle["entry"] = entries
    return bundle
