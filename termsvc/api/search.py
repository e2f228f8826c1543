"""Read and search of the stored resources (CodeSystem, ValueSet, ConceptMap) as FHIR answers: a
resource as its endpoint serves it, and the searchset Bundle of `GET [base]/{type}?url=...` (the
operation router answers searches, outside Flask, and caches them; Flask answers reads).
"""
import functools
from urllib.parse import urlencode
from typing import TypeVar

import orjson

from werkzeug.sansio.utils import get_current_url
from werkzeug.wsgi import get_host

from termsvc import deadline
from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.fhir.convert import canonical_r5_to_r4
from termsvc.fhir.outcome import OpError
from termsvc.store.queries import SEARCH_COLUMNS
from termsvc.store.reader import Store

RESOURCE_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
DEFAULT_COUNT = 50
MAX_COUNT = 1000
MAX_OFFSET = 2**31   # SQLite's OFFSET is a 64-bit integer: past this a search has nothing anyway
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


def search_bundle(store: Store, rtype: str, query: list, r4: bool, base: str) -> dict:
    """The searchset Bundle of a search: `query` its (name, value) pairs (the first value of a name
    counts), `base` from base_url()."""
    args: dict[str, str] = {}
    for name, value in query:
        args.setdefault(name, value)
    criteria = {name: args[name] for name in SEARCH_COLUMNS if args.get(name)}
    summary = args.get("_summary")
    if summary == "count":
        total, _ = store.search_resources(rtype, criteria, 0, 0, "R4" if r4 else "R5")
        return {"resourceType": "Bundle", "type": "searchset", "total": total}
    try:
        count = int(args.get("_count", DEFAULT_COUNT))
        offset = int(args.get("_offset", 0))
    except ValueError:
        raise OpError("_count and _offset must be integers") from None
    if count < 0 or offset < 0:
        raise OpError("_count and _offset must not be negative")
    if offset > MAX_OFFSET:
        raise OpError(f"_offset must be at most {MAX_OFFSET}")
    count = min(count, MAX_COUNT)
    total, page = store.search_resources(rtype, criteria, count, offset, "R4" if r4 else "R5")
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total}
    entries = []
    for rid, fid in deadline.bounded(page):
        res: dict | orjson.Fragment
        if summary == "true":
            stored = _found(store.resource_json(rid), rid)
            res = {k: v for k, v in stored.items() if k not in ("concept", "compose", "group", "expansion", "text")}
            res.setdefault("meta", {})["tag"] = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                                                  "code": "SUBSETTED"}]
        else:
            res = render_resource(store, rid, rtype, r4)
        entries.append({"fullUrl": f"{base}/{rtype}/{fid}", "resource": res, "search": {"mode": "match"}})
    if offset + count < total:
        q = dict(args)
        q["_offset"] = str(offset + count)
        bundle["link"] = [{"relation": "next", "url": f"{base}/{rtype}?{urlencode(q)}"}]
    if entries:
        bundle["entry"] = entries
    return bundle
