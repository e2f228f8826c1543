"""The operation router: the hot path, in plain WSGI.

Terminology operations are what converters and validators call thousands of
times, so they are dispatched here without Flask's request/response machinery:
parse the query string or Parameters body, call the operation (a pure function
over the store), serialise the plain dict with orjson. Searches (`ValueSet?url=...`) are answered
here too. Answers are cached per build (api/cache.py), POST requests keyed on their
body. Everything else (metadata, read, errors for unknown paths) goes on to the
Flask app.
"""
import contextlib
import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import cachetools
import orjson
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from termsvc import deadline
from termsvc.api import probes, search
from termsvc.api.cache import ResponseCache
from termsvc.api.errors import error_outcome
from termsvc.deadline import TimeLimitExceeded
from termsvc.fhir.operations import OPERATIONS as DECLARED
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import LEFT_OUT, SIGNATURES, Params, Signature, parse_query
from termsvc.fhir.render.expansion import expansion, said_unused as said_unused_in_expansion
from termsvc.fhir.render.lookup import lookup, said_unused as said_unused_in_lookup
from termsvc.fhir.render.subsumption import subsumption
from termsvc.fhir.render.translation import translation
from termsvc.fhir.render.validation import batch_validation, validation
from termsvc.fhir.shape import check_resource
from termsvc.ops import expand as expand_op
from termsvc.ops import lookup as lookup_op
from termsvc.ops import translate as translate_op
from termsvc.ops import validate as validate_op
from termsvc.ops.context import Context
from termsvc.results import JSON
from termsvc.store.reader import Store

JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
FHIR_JSON = "application/fhir+json; charset=utf-8"
MAX_BODY = 50 * 1024 * 1024

# (resource type, operation) -> handler(ctx, params, request) -> the answer as FHIR JSON (the engine's
# typed answer, rendered for the endpoint's FHIR version), for each operation declared in fhir/operations.py
Handler = Callable[[Context, Params, "OpRequest"], object]
OPERATIONS: dict[tuple[str, str], Handler] = {}


# the parameters of $expand and $lookup that change nothing here (`date`), said in the answer as
# $validate-code says them (ops.validate): from the declarations, for every operation that has one
EXPAND_NO_EFFECT = DECLARED[("ValueSet", "expand")].without_effect
EXPAND_NO_EFFECT_NAMES = frozenset(name for name, _ in EXPAND_NO_EFFECT)
LOOKUP_NO_EFFECT = DECLARED[("CodeSystem", "lookup")].without_effect
LOOKUP_NO_EFFECT_NAMES = frozenset(name for name, _ in LOOKUP_NO_EFFECT)


def operation(rtype, name):
    if (rtype, name) not in DECLARED:
        raise LookupError(f"{rtype}/${name} is not declared in termsvc/fhir/operations.py")

    def deco(fn):
        OPERATIONS[(rtype, name)] = fn
        return fn
    return deco


@operation("ValueSet", "expand")
def _expand(ctx, params, req):
    answer = expansion(expand_op.expand(ctx, params, req.accept_language, req.instance_id,
                                        max_size=req.max_expansion), req.r4)
    if params.has_any(EXPAND_NO_EFFECT_NAMES):
        return said_unused_in_expansion(answer, params, EXPAND_NO_EFFECT)
    return answer


@operation("ValueSet", "validate-code")
def _vs_validate(ctx, params, req):
    return validation(validate_op.validate_vs(ctx, params, req.accept_language, req.instance_id))


@operation("ValueSet", "batch-validate-code")
def _vs_batch_validate(ctx, params, req):
    return batch_validation(validate_op.batch_validate(ctx, params, req.accept_language))


@operation("CodeSystem", "validate-code")
def _cs_validate(ctx, params, req):
    return validation(validate_op.validate_cs(ctx, params, req.accept_language, req.instance_id))


@operation("CodeSystem", "lookup")
def _lookup(ctx, params, req):
    answer = lookup(lookup_op.lookup(ctx, params, req.accept_language, req.instance_id))
    if params.has_any(LOOKUP_NO_EFFECT_NAMES):
        return said_unused_in_lookup(answer, params, LOOKUP_NO_EFFECT)
    return answer


@operation("CodeSystem", "subsumes")
def _subsumes(ctx, params, req):
    return subsumption(lookup_op.subsumes(ctx, params, req.instance_id))


@operation("ConceptMap", "translate")
def _translate(ctx, params, req):
    return translation(translate_op.translate(ctx, params, req.r4, req.instance_id), req.r4, True)


BATCH_PATHS = ("/fhir", "/fhir/", "/r4/fhir", "/r4/fhir/")
# the Allow of the paths answered here: an operation's, the base (batch), the probes and /metrics
OPERATION_METHODS = "GET, HEAD, POST, OPTIONS"
BATCH_METHODS = "POST, OPTIONS"
PROBE_METHODS = "GET, HEAD, OPTIONS"


def refuse_format(accept: str, query: str) -> OpError | None:
    """The 406 for a request that asks for another format than JSON (`_format=xml`, or an Accept that
    allows only XML), else None. An Accept naming no XML and no JSON type gets JSON (FHIR's default)."""
    for name, value in parse_query(query):
        if name == "_format" and value and "json" not in value.lower():   # (an empty one is no parameter)
            return OpError(f"_format={value}: this server answers in JSON only (application/fhir+json)",
                           status=406, code="not-supported")
    ranges = parse_accept_header(accept, MIMEAccept)
    wants_xml = any("xml" in media.lower() for media, q in ranges if q > 0)
    refuses = any(q == 0 for _, q in ranges)   # 'application/json;q=0', '*/*;q=0': JSON refused in so many words
    if (wants_xml or refuses) and not any(ranges.quality(media) > 0 for media in JSON_TYPES):
        return OpError(f"Accept: {accept}: this server answers in JSON only (application/fhir+json)", status=406,
                       code="not-supported")
    return None


@dataclass(frozen=True, slots=True)
class Route:
    rtype: str
    instance_id: str | None
    handler: Handler
    label: str                  # 'ConceptMap/$translate'
    signature: Signature        # how its parameters are read


@functools.lru_cache(maxsize=4096)   # the same few paths over and over
def resolve(rest: str) -> Route | None:
    """'ConceptMap/$translate' or 'ConceptMap/{id}/$translate' (the path after the base) -> its Route,
    or None when it names no operation served there."""
    if "$" not in rest:
        return None
    parts = rest.split("/")
    if len(parts) == 2 and parts[1].startswith("$"):
        rtype, instance_id, op = parts[0], None, parts[1][1:]
    elif len(parts) == 3 and parts[2].startswith("$"):
        rtype, instance_id, op = parts[0], parts[1], parts[2][1:]
    else:
        return None
    handler = OPERATIONS.get((rtype, op))
    if handler is None or (instance_id is not None and not DECLARED[(rtype, op)].instance):
        return None
    return Route(rtype, instance_id, handler, f"{rtype}/${op}", SIGNATURES[(rtype, op)])


@dataclass(slots=True)
class OpRequest:
    r4: bool
    accept_language: str | None
    instance_id: str | None     # the id of the resource an instance-level call names
    max_expansion: int


def respond(start_response, status: int, body: dict | bytes, extra_headers=(), head: bool = False):
    """Start the answer `body` (a HEAD request's: its headers only); a 204 has neither body nor type."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = [CONTENT_TYPE, ("Content-Length", str(len(data)))] if status != 204 else []
    if extra_headers:
        headers += extra_headers
    start_response(status_line(status), headers)
    return [] if head else [data]


def other_method(start_response, method: str, path: str, allow: str):
    """The answer to a method `path` does not serve: OPTIONS names those it does (204), any other is a 405."""
    if method == "OPTIONS":
        return respond(start_response, 204, b"", [("Allow", allow)])
    status, body = error_outcome(OpError(f"Method {method} is not allowed on {path}: it serves {allow}",
                                         status=405, code="not-supported"))
    return respond(start_response, status, body, [("Allow", allow)])


CACHED_ERRORS = (404, 422)   # refusals that hold for the build (the others are the request's own mistakes)

STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}


def status_line(status: int) -> str:
    """'404 Not Found' (a status HTTP does not name: '599 Error')."""
    return STATUS_LINES.get(status) or f"{status} Error"

CONTENT_TYPE = ("Content-Type", FHIR_JSON)


class OperationRouter:
    """WSGI middleware: serves /fhir and /r4/fhir operations, passes the rest on."""

    def __init__(self, app, store: Store, cache_size: int, max_expansion: int, batch=None):
        self.app = app
        self.store = store
        self.max_expansion = max_expansion
        self.batch = batch   # batch(router, environ, start_response, r4) answers POST to the base
        self.cache = ResponseCache(cache_size) if cache_size > 0 else None
        self._tx_cache: cachetools.LRUCache[str, list[JSON]] = cachetools.LRUCache(500)   # cache-id -> tx-resources
        self._tx_gen: int | None = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/health" or path == "/ready":
            if method not in ("GET", "HEAD"):
                return other_method(start_response, method, path, PROBE_METHODS)
            status, body = (200, b'{"status":"ok"}') if path == "/health" else probes.ready(self.store)
            return respond(start_response, status, body, head=method == "HEAD")
        query = environ.get("QUERY_STRING", "")
        accept = environ.get("HTTP_ACCEPT", "")
        if ("xml" in accept or "=0" in accept or "_format" in query) \
                and (path.startswith(("/fhir/", "/r4/fhir/")) or path in BATCH_PATHS):
            refusal = refuse_format(accept, query)
            if refusal is not None:
                status, body = error_outcome(refusal)
                return respond(start_response, status, body)
        if path in BATCH_PATHS and self.batch is not None:
            if method != "POST":
                return other_method(start_response, method, path, BATCH_METHODS)
            return self.batch(self, environ, start_response, r4=path.startswith("/r4/"))
        if path.startswith("/fhir/"):
            r4, rest = False, path[6:]
        elif path.startswith("/r4/fhir/"):
            r4, rest = True, path[9:]
        else:
            return self.app(environ, start_response)
        if rest.endswith("/"):   # 'ValueSet/' is 'ValueSet' (as Flask's routes take it)
            rest = rest[:-1]
        route = resolve(rest)
        if route is None:
            if rest in search.RESOURCE_TYPES and method in ("GET", "HEAD"):
                return self.search(environ, start_response, rest, r4, head=method == "HEAD")
            return self.app(environ, start_response)
        environ["termsvc.operation"] = route.label   # for the access log and the metrics
        if method not in ("GET", "HEAD", "POST"):
            return other_method(start_response, method, path, OPERATION_METHODS)
        self.store.refresh()
        status, body = self.answer(route, r4, path, "POST" if method == "POST" else "GET", query,
                                   environ.get("HTTP_ACCEPT_LANGUAGE"),
                                   (lambda: read_json_body(environ, self.store.time_limit)) if method == "POST"
                                   else None)
        return respond(start_response, status, body, head=method == "HEAD")

    def answer(self, route: Route, r4: bool, path: str, method: str, query: str, lang: str | None,
               read_body) -> tuple[int, bytes]:
        """(status, serialised answer) of the operation request to `path` (its route), from the response
        cache when it holds it; `read_body()` gives a POST's Parameters resource."""
        if method == "POST":
            try:
                resource = read_body()
            except Exception as e:
                status, outcome = error_outcome(e, route.label)
                return status, orjson.dumps(outcome)
            read_body = lambda: resource  # noqa: E731
            key: tuple[object, ...] | None = None
            if self.cache:
                try:
                    key = (path, query, lang, orjson.dumps(resource, option=orjson.OPT_SORT_KEYS))
                except TypeError:   # deeper than orjson writes (254 levels): answered, not cached
                    key = None
        elif self.cache is None:
            status, body, _ = self.execute(route, r4, method, query, read_body, lang)
            return status, body
        else:
            key = (path, query, lang)
        if key is not None and self.cache is not None:
            generation = self.store.generation
            hit = self.cache.get(key, generation)
            if hit is not None:
                return hit
        status, body, keep = self.execute(route, r4, method, query, read_body, lang)
        if key is not None and keep and self.cache is not None:
            self.cache.put(key, generation, status, body)
        return status, body

    def search(self, environ, start_response, rtype: str, r4: bool, head: bool = False):
        """GET (or HEAD) [base]/{rtype}?...: the searchset Bundle (cached like the operations' answers)."""
        environ["termsvc.operation"] = f"{rtype}/search"
        self.store.refresh()
        query = environ.get("QUERY_STRING", "")
        base = search.base_url(environ, r4)
        strict = "handling=strict" in environ.get("HTTP_PREFER", "")
        key = (environ.get("PATH_INFO", ""), query, base, "strict" if strict else "") if self.cache else None
        if key is not None and self.cache is not None:
            generation = self.store.generation
            hit = self.cache.get(key, generation)
            if hit is not None:
                return respond(start_response, *hit, head=head)
        try:
            with self.store.time_limit():
                params = search.search_params(query, strict)
                status, body = 200, orjson.dumps(search.search_bundle(self.store, rtype, params, r4, base))
        except Exception as e:
            status, outcome = error_outcome(e, environ.get("PATH_INFO", ""))
            body = orjson.dumps(outcome)
            if isinstance(e, TimeLimitExceeded):
                key = None
        if key is not None and self.cache is not None:
            self.cache.put(key, generation, status, body)
        return respond(start_response, status, body, head=head)

    def execute(self, route: Route, r4: bool, method: str, query: str, read_body, lang) -> tuple[int, bytes, bool]:
        """Run one operation: `route` from resolve(), its parameters from the query and, for a POST, the
        Parameters resource `read_body()` gives. Any failure, the parameters' included, is an
        OperationOutcome with its status. The third value: whether the answer may be cached (not when it
        depends on the resources earlier requests sent with a cache-id, nor when it is the time limit's
        refusal)."""
        keep = True
        try:
            params, tx = request_params(route.signature, method, query, read_body)
            if params.has("cache-id"):
                cache_id = params.str("cache-id")
                if cache_id:
                    keep = False
                    tx = self._cached_resources(cache_id, tx)
            ctx = Context(self.store, tx, "R4" if r4 else "R5")
            req = OpRequest(r4, lang, route.instance_id, self.max_expansion)
            with self.store.time_limit():
                result = route.handler(ctx, params, req)
            return 200, orjson.dumps(result), keep
        except Exception as e:
            status, body = error_outcome(e, route.label)
            return status, orjson.dumps(body), keep and status in CACHED_ERRORS and not isinstance(e, TimeLimitExceeded)

    def _cached_resources(self, cache_id: str, tx: list) -> list:
        """tx-resources sent earlier with the same cache-id, plus this request's (which replace
        same-url ones). Kept per worker process, for the life of the build (LRU of 500 ids)."""
        with self._lock:
            if self._tx_gen != self.store.generation:
                self._tx_cache.clear()
                self._tx_gen = self.store.generation
            known = self._tx_cache.pop(cache_id, [])
            keys = {(r.get("resourceType"), r.get("url"), r.get("version")) for r in tx}
            merged = [r for r in known if (r.get("resourceType"), r.get("url"), r.get("version")) not in keys] + tx
            self._tx_cache[cache_id] = merged
        return merged



def read_json_body(environ, time_limit=contextlib.nullcontext):
    """The request body as parsed JSON (FHIR JSON content type in UTF-8, not compressed, at most MAX_BODY bytes,
    no object with a key twice: looked for within `time_limit()`, when the body may hold one)."""
    ctype, _, options = (environ.get("CONTENT_TYPE") or "").partition(";")
    ctype = ctype.strip().lower()
    if ctype and ctype not in JSON_TYPES:
        raise OpError(f"Unsupported content type '{ctype}': send application/fhir+json", status=415,
                      code="not-supported")
    charset = options and options.lower().replace(" ", "").partition("charset=")[2].split(";")[0].strip('"')
    if charset and charset not in ("utf-8", "utf8"):
        raise OpError(f"Unsupported charset '{charset}': FHIR JSON is UTF-8", status=415, code="not-supported")
    coding = environ.get("HTTP_CONTENT_ENCODING")
    if coding is not None and (coding := coding.strip().lower()) not in ("", "identity"):
        raise OpError(f"Unsupported Content-Encoding '{coding}': send the body uncompressed", status=415,
                      code="not-supported")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY:
        raise OpError(f"The request body is larger than {MAX_BODY} bytes", status=413, code="too-costly")
    if length:
        raw = environ["wsgi.input"].read(length)
    elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():   # no length said: read to the end
        raw = environ["wsgi.input"].read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise OpError(f"The request body is larger than {MAX_BODY} bytes", status=413, code="too-costly")
    else:
        raw = b""
    if not raw.strip():
        raise OpError("The POST body is empty: send a Parameters resource", code="required")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise OpError(f"The request body is not valid JSON: {e}", code="structure") from e
    if _may_repeat_a_key(raw, parsed):
        with time_limit():
            twice = _key_given_twice(raw)
        if twice is not None:
            raise OpError(f"The request body is not valid FHIR JSON: the key '{twice[:60]}' is given twice in one"
                          " object", code="structure")
    return parsed


WHITESPACE = b" \t\r\n"


def _may_repeat_a_key(raw: bytes, parsed) -> bool:
    """Whether the body may hold an object with a key twice (orjson keeps the last, silently): written again,
    it has fewer keys (a string and its colon, `":`, counted without whitespace) than the body."""
    try:
        again = orjson.dumps(parsed)
    except TypeError:   # deeper than orjson writes
        return True
    return again.count(b'":') < raw.translate(None, WHITESPACE).count(b'":')


# the tokens of a JSON text that say which key belongs to which object: a key (a string and its colon),
# another string (skipped whole: it may hold braces), a brace
JSON_TOKEN = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")\s*:|"[^"\\]*(?:\\.[^"\\]*)*"|[{}]')


def _key_given_twice(raw: bytes) -> str | None:
    """The first key given twice in one object of the (valid) JSON text `raw`, else None."""
    objects: list[set] = []
    for token in deadline.bounded(JSON_TOKEN.finditer(raw), every=1024):
        key = token.group(1)
        if key is not None:
            name = orjson.loads(key) if b"\\" in key else key[1:-1].decode()
            if name in objects[-1]:
                return name
            objects[-1].add(name)
        elif token.group() == b"{":
            objects.append(set())
        elif token.group() == b"}":
            objects.pop()
    return None


def request_params(signature: Signature, method: str, query: str, body) -> tuple[Params, list]:
    """(Params, tx-resources) of an operation request, read by the operation's signature: the query's
    parameters, then for a POST those of the Parameters resource `body()` gives."""
    if method != "POST":
        return signature.from_query_string(query), []
    params = signature.from_resource(body(), parse_query(query, LEFT_OUT) if query else [])
    if params.has("tx-resource"):
        tx = [check_resource(r, "tx-resource") for r in params.resources("tx-resource")]
        params.items = [p for p in params.items if p.name != "tx-resource"]
        return params, tx
    return params, []
