"""Flask app factory: metadata and read. Operations and searches are routed before
Flask by `OperationRouter` (see dispatch.py); both share one Store and one error renderer.
"""
import functools
import os

import orjson
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import MethodNotAllowed

from termsvc import settings as settings_mod
from termsvc.api import admin, metadata, review, suggest
from termsvc.api.batch import serve_batch
from termsvc.api.dispatch import FHIR_JSON, OperationRouter, respond
from termsvc.api.errors import error_outcome
from termsvc.api.observe import Observer
from termsvc.api.openapi import build_spec
from termsvc.api.search import RESOURCE_TYPES, read_answer, read_params
from termsvc.fhir.operations import METADATA_PARAMETERS
from termsvc.fhir.outcome import NotFound, OpError
from termsvc.fhir.params import Signature
from termsvc.store.reader import Store


METADATA = Signature(METADATA_PARAMETERS)


def fhir_response(body: dict, status: int = 200, headers=None) -> Response:
    return Response(orjson.dumps(body), status=status, content_type=FHIR_JSON, headers=headers)


class App(Flask):
    """Flask, answering OPTIONS with a 204 that names the methods (Allow), no HTML body."""

    def make_default_options_response(self) -> Response:
        answer = Response(status=204, headers={"Allow": super().make_default_options_response().headers["Allow"]})
        del answer.headers["Content-Type"]
        return answer


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
        if METADATA.from_query_string(request.query_string.decode("latin-1")).str("mode") == "terminology":
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
        params = read_params(request.query_string.decode("latin-1"))
        row = _store().resource_by_fhir_id(rtype, rid, "R4" if r4 else "R5")
        if row is None:
            raise NotFound(f"{rtype}/{rid} is not known", tx_type=None)
        return fhir_response(read_answer(_store(), row[0], rtype, r4, params))

    @bp.get("/<rtype>")
    def search(rtype):   # the router answers GET and HEAD of the types served: here, the others' 404
        _check_type(rtype)
        raise LookupError(f"the operation router answers the searches of {rtype}")

    return bp


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
    store = Store(db_path, time_limit_ms=settings.time_limit_ms, build_check_ms=settings.build_check_ms)
    store.check(db_path)
    app = App("termsvc")
    # a path with a doubled or a trailing slash is a 404 OperationOutcome, not Werkzeug's HTML redirect
    app.url_map.merge_slashes = app.url_map.strict_slashes = False
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
        allow = e.get_headers() if isinstance(e, MethodNotAllowed) else []   # the methods it allows
        return fhir_response(body, status, [(k, v) for k, v in allow if k == "Allow"])

    router = OperationRouter(app.wsgi_app, store, cache_size=settings.cache_size, max_expansion=settings.max_expansion,
                             batch=functools.partial(serve_batch, max_entries=settings.batch_max_entries))
    # (Flask's documented way to wrap its WSGI app: mypy sees a method replaced)
    app.wsgi_app = Observer(management_paths_only(router) if management else router, store,  # type: ignore[method-assign]
                            metrics=operator, access_log=settings.access_log, log_level=settings.log_level)
    return app
