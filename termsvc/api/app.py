"""Flask app factory: metadata, read and search. Operations are routed before
Flask by `OperationRouter` (see dispatch.py); both share one Store and one error renderer.
"""
import functools
import os
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Flask, Response, current_app, request

from termsvc import deadline
from termsvc import settings as settings_mod
from termsvc.api import admin, metadata, review, suggest
from termsvc.api.batch import serve_batch
from termsvc.api.dispatch import FHIR_JSON, OperationRouter, respond
from termsvc.api.errors import error_outcome
from termsvc.api.observe import Observer
from termsvc.api.openapi import build_spec
from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.fhir.convert import canonical_r5_to_r4
from termsvc.fhir.outcome import NotFound, OpError
from termsvc.store.queries import SEARCH_COLUMNS
from termsvc.store.reader import Store

RESOURCE_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
DEFAULT_COUNT = 50
MAX_COUNT = 1000
MAX_OFFSET = 2**31   # SQLite's OFFSET is a 64-bit integer: past this a search has nothing anyway
MAX_READ_CONCEPTS = 20_000   # a larger CodeSystem is read without its concepts


def fhir_response(body: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status=status, content_type=FHIR_JSON)


def _store() -> Store:
    store = current_app.extensions["termsvc.store"]
    store.refresh()
    return store


def bounded(view):
    """The view runs under the request's deadline (setting time_limit_ms), its queries and loops."""
    @functools.wraps(view)
    def run(*args, **kwargs):
        with _store().time_limit():
            return view(*args, **kwargs)
    return run


def _check_type(rtype: str):
    if rtype not in RESOURCE_TYPES:
        raise OpError(f"Unknown resource type '{rtype}': this server serves {', '.join(RESOURCE_TYPES)}",
                      status=404, code="not-supported")


def make_blueprint(name: str, r4: bool) -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.get("/metadata")
    @bounded
    def capabilities():
        base = request.host_url.rstrip("/") + request.script_root + ("/r4/fhir" if r4 else "/fhir")
        if request.args.get("mode") == "terminology":
            return fhir_response(metadata.terminology_capabilities(_store(), base, r4))
        return fhir_response(metadata.capability_statement(base, r4))

    @bp.get("/$versions")
    @bounded
    def versions():
        return fhir_response(metadata.versions(r4))

    @bp.get("/<rtype>/<rid>")
    @bounded
    def read(rtype, rid):
        _check_type(rtype)
        row = _store().resource_by_fhir_id(rtype, rid, "R4" if r4 else "R5")
        if row is None:
            raise NotFound(f"{rtype}/{rid} is not known", tx_type=None)
        return fhir_response(render_resource(_store(), row[0], rtype, r4))

    @bp.get("/<rtype>")
    @bounded
    def search(rtype):
        _check_type(rtype)
        return fhir_response(search_bundle(_store(), rtype, request.args, r4))

    return bp


def render_resource(store: Store, rid: int, rtype: str, r4: bool) -> dict:
    if rtype == "CodeSystem":
        res = store.code_system_with_concepts(rid, MAX_READ_CONCEPTS)
    else:
        res = store.resource_json(rid)
    return as_r4(res) if r4 else res


def as_r4(res: dict) -> dict:
    """A stored (R5-shaped) resource as the R4 endpoint serves it, its contained ones too."""
    if res.get("resourceType") == "ConceptMap":
        return concept_map_r5_to_r4(res)
    res = canonical_r5_to_r4(res)
    if res.get("contained"):
        res = {**res, "contained": [as_r4(c) for c in res["contained"]]}
    return res


def search_bundle(store: Store, rtype: str, args, r4: bool) -> dict:
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
    base = request.host_url.rstrip("/") + ("/r4/fhir" if r4 else "/fhir")
    for rid, fid in deadline.bounded(page):
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
        bundle["link"] = [{"relation": "next", "url": f"{base}/{rtype}?{urlencode(q)}"}]
    if entries:
        bundle["entry"] = entries
    return bundle


MANAGEMENT_PATHS = ("/metrics", "/health", "/ready")


def management_paths_only(app):
    """The management port's app: /metrics, /admin/..., the probes; anything else is a 404."""
    def only(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in MANAGEMENT_PATHS or path == "/admin" or path.startswith("/admin/"):
            return app(environ, start_response)
        status, body = error_outcome(NotFound(f"{path} is not served on the management port: it serves /metrics,"
                                              " /admin, /health and /ready", tx_type=None), path)
        return respond(start_response, status, body)
    return only


def create_app(db_path: str | None = None, config: dict | None = None, management: bool = False) -> Flask:
    """The app over the build at db_path (default: setting db); `config`: setting values that
    replace the process's settings (termsvc.settings) for this app. With the setting management_port,
    the API's app (management False) serves neither /metrics nor /admin, the management port's
    (management True) only those and the probes."""
    settings = settings_mod.current()
    if config:
        settings = settings.with_values(config)
    db_path = db_path or settings.db
    if not os.path.exists(db_path):
        raise FileNotFoundError(f"No database at {db_path}: run 'termsvc build' first")
    store = Store(db_path, time_limit_ms=settings.time_limit_ms)
    store.check(db_path)
    app = Flask("termsvc")
    app.extensions["termsvc.store"] = store
    app.extensions["termsvc.settings"] = settings
    app.register_blueprint(make_blueprint("fhir", r4=False), url_prefix="/fhir")
    app.register_blueprint(make_blueprint("fhir_r4", r4=True), url_prefix="/r4/fhir")
    app.register_blueprint(suggest.blueprint(), url_prefix="/mappings")
    app.register_blueprint(review.blueprint(), url_prefix="/mappings")

    operator = management or settings.management_port is None   # this app serves /metrics and /admin
    if settings.admin_token and operator:
        app.register_blueprint(admin.make_blueprint(store, settings), url_prefix="/admin")
    openapi = functools.cache(lambda: orjson.dumps(build_spec(admin=settings.admin_token is not None and operator,
                                                              metrics=operator)))

    @app.get("/openapi.json")
    def openapi_json():
        return Response(openapi(), content_type="application/json")

    @app.errorhandler(Exception)
    def any_error(e):
        status, body = error_outcome(e, request.path)
        return fhir_response(body, status)

    router = OperationRouter(app.wsgi_app, store, cache_size=settings.cache_size, max_expansion=settings.max_expansion,
                             batch=functools.partial(serve_batch, max_entries=settings.batch_max_entries))
    app.wsgi_app = Observer(management_paths_only(router) if management else router, store, metrics=operator,
                            access_log=settings.access_log, log_level=settings.log_level)
    return app
