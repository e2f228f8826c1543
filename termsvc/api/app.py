"""Flask app factory: metadata, read and search. Operations are routed before
Flask by `OperationRouter` (see dispatch.py); both share one Store.
"""
import logging
import os

import orjson
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from termsvc.api import metadata
from termsvc.api.dispatch import FHIR_JSON, OperationRouter
from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.fhir.outcome import OpError, issue, outcome
from termsvc.ops.codesystems import PROPERTY_TYPES, designation_dict, typed_value
from termsvc.store.reader import Store

RESOURCE_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
# ids repeat across packages and across the IG's R4 and R5 editions: prefer the endpoint's edition
RESOURCE_BY_ID = ("SELECT id FROM resource WHERE type=? AND fhir_id=? ORDER BY (fhir_version = ?) DESC, id DESC"
                  " LIMIT 1")
DEFAULT_COUNT = 50
MAX_COUNT = 1000


def fhir_response(body: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, content_type=FHIR_JSON)


def error(status: int, text: str, code: str = "invalid") -> Response:
    return fhir_response(outcome([issue("error", code, text)]), status)


def _store() -> Store:
    store = current_app.extensions["termsvc.store"]
    store.refresh()
    return store


def make_blueprint(name: str, r4: bool) -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.get("/metadata")
    def capabilities():
        base = request.host_url.rstrip("/") + request.script_root + ("/r4/fhir" if r4 else "/fhir")
        if request.args.get("mode") == "terminology":
            return fhir_response(metadata.terminology_capabilities(_store(), base, r4))
        return fhir_response(metadata.capability_statement(base, r4))

    @bp.get("/$versions")
    def versions():
        return fhir_response(metadata.versions(r4))

    @bp.get("/<rtype>/<rid>")
    def read(rtype, rid):
        if rtype not in RESOURCE_TYPES:
            return error(404, f"Unknown resource type '{rtype}': this server serves {', '.join(RESOURCE_TYPES)}",
                         "not-supported")
        row = _store().one(RESOURCE_BY_ID, (rtype, rid, "R4" if r4 else "R5"))
        if row is None:
            return error(404, f"{rtype}/{rid} is not known", "not-found")
        return fhir_response(render_resource(_store(), row[0], rtype, r4))

    @bp.get("/<rtype>")
    def search(rtype):
        if rtype not in RESOURCE_TYPES:
            return error(404, f"Unknown resource type '{rtype}': this server serves {', '.join(RESOURCE_TYPES)}",
                         "not-supported")
        return fhir_response(search_bundle(_store(), rtype, request.args, r4))

    return bp


def render_resource(store, rid: int, rtype: str, r4: bool) -> dict:
    res = store.resource_json(rid)
    if rtype == "CodeSystem":
        res = with_concepts(store, rid, res)
    if r4 and rtype == "ConceptMap":
        res = concept_map_r5_to_r4(res)
    return res


def with_concepts(store, cs_id: int, cs: dict) -> dict:
    """The CodeSystem as loaded: its concept tree rebuilt from the store."""
    count = store.one("SELECT concept_count FROM code_system WHERE id=?", (cs_id,))
    if not count or count[0] == 0 or count[0] > 20_000:
        return cs
    rows = store.all("SELECT id, code, display, definition FROM concept WHERE cs_id=? ORDER BY seq", (cs_id,))
    by_id = {}
    for cid, code, display, definition in rows:
        c = {"code": code}
        if display is not None:
            c["display"] = display
        if definition is not None:
            c["definition"] = definition
        by_id[cid] = c
    for cid, lang, us, uc, ud, value in store.all(
            "SELECT d.concept_id, d.language, d.use_system, d.use_code, d.use_display, d.value FROM designation d"
            " JOIN concept c ON c.id = d.concept_id WHERE c.cs_id=? ORDER BY d.rowid", (cs_id,)):
        by_id[cid].setdefault("designation", []).append(designation_dict(lang, us, uc, ud, value))
    for cid, code, t, value in store.all(
            "SELECT p.concept_id, p.code, p.type, p.value FROM concept_property p JOIN concept c ON c.id = p.concept_id"
            " WHERE c.cs_id=? ORDER BY p.rowid", (cs_id,)):
        by_id[cid].setdefault("property", []).append({"code": code, PROPERTY_TYPES.get(t, "valueString"): typed_value(t, value)})
    parents = {}
    for p, c in store.all("SELECT e.parent_id, e.child_id FROM edge e JOIN concept c ON c.id = e.child_id"
                          " WHERE c.cs_id=?", (cs_id,)):
        parents.setdefault(c, []).append(p)
    roots = []
    for cid, *_ in rows:
        ps = parents.get(cid)
        if ps and ps[0] in by_id:
            by_id[ps[0]].setdefault("concept", []).append(by_id[cid])
        else:
            roots.append(by_id[cid])
    out = dict(cs)
    out["concept"] = roots
    return out


def search_bundle(store, rtype: str, args, r4: bool) -> dict:
    where, params = ["type=?"], [rtype]
    for name, col in (("url", "url"), ("version", "version"), ("_id", "fhir_id"), ("status", "status")):
        v = args.get(name)
        if v:
            where.append(f"{col}=?")
            params.append(v)
    name = args.get("name")
    if name:
        where.append("name LIKE ?")
        params.append(name.replace("%", "") + "%")
    title = args.get("title")
    if title:
        where.append("title LIKE ?")
        params.append("%" + title.replace("%", "") + "%")
    cond = " AND ".join(where)
    total = store.one(f"SELECT count(*) FROM resource WHERE {cond}", params)[0]
    summary = args.get("_summary")
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total}
    if summary == "count":
        return bundle
    try:
        count = int(args.get("_count", DEFAULT_COUNT))
        offset = int(args.get("_offset", 0))
    except ValueError:
        raise OpError("_count and _offset must be integers")
    if count < 0 or offset < 0:
        raise OpError("_count and _offset must not be negative")
    count = min(count, MAX_COUNT)
    rows = store.all(f"SELECT id, fhir_id FROM resource WHERE {cond} ORDER BY url, version LIMIT ? OFFSET ?",
                     (*params, count, offset))
    entries = []
    base = request.host_url.rstrip("/") + ("/r4/fhir" if r4 else "/fhir")
    for rid, fid in rows:
        if summary == "true":
            res = store.resource_json(rid)
            res = {k: v for k, v in res.items() if k not in ("concept", "compose", "group", "expansion", "text")}
            res.setdefault("meta", {})["tag"] = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                                                  "code": "SUBSETTED"}]
        else:
            res = render_resource(store, rid, rtype, r4)
        entries.append({"fullUrl": f"{base}/{rtype}/{fid}", "resource": res, "search": {"mode": "match"}})
    if offset + count < total:
        q = dict(args)
        q["_offset"] = str(offset + count)
        from urllib.parse import urlencode
        bundle["link"] = [{"relation": "next", "url": f"{base}/{rtype}?{urlencode(q)}"}]
    if entries:
        bundle["entry"] = entries
    return bundle


def create_app(db_path: str | None = None, config: dict | None = None) -> Flask:
    from termsvc.build import default_db_path
    db_path = db_path or default_db_path()
    if not os.path.exists(db_path):
        raise FileNotFoundError(f"No database at {db_path}: run 'termsvc build' first")
    app = Flask("termsvc")
    app.config.update({"max_expansion": int(os.environ.get("TERMSVC_MAX_EXPANSION", 10_000)),
                       "cache_size": int(os.environ.get("TERMSVC_CACHE_SIZE", 20_000)),
                       "time_limit_ms": int(os.environ.get("TERMSVC_TIME_LIMIT_MS", 5000)),
                       "batch_max_entries": int(os.environ.get("TERMSVC_BATCH_MAX_ENTRIES", 10_000))})
    app.config.update(config or {})
    store = Store(db_path, time_limit_ms=app.config["time_limit_ms"])
    app.extensions["termsvc.store"] = store
    app.register_blueprint(make_blueprint("fhir", r4=False), url_prefix="/fhir")
    app.register_blueprint(make_blueprint("fhir_r4", r4=True), url_prefix="/r4/fhir")

    @app.errorhandler(HTTPException)
    def http_error(e):
        code = {404: "not-found", 405: "not-supported", 415: "not-supported"}.get(e.code, "invalid")
        return error(e.code, e.description or e.name, code)

    @app.errorhandler(OpError)
    def op_error(e):
        return fhir_response(e.to_outcome(), e.status)

    @app.errorhandler(Exception)
    def unexpected(e):
        logging.getLogger("termsvc").exception("request failed")
        return error(500, "Internal error: see the server log", "exception")

    app.wsgi_app = OperationRouter(app.wsgi_app, store, {"max_expansion": app.config["max_expansion"],
                                                         "cache_size": app.config["cache_size"],
                                                         "batch_max_entries": app.config["batch_max_entries"]})
    return app
