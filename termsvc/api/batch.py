"""FHIR batch: POST /fhir (or /r4/fhir) with a `batch` Bundle of operation requests.

Each entry is `request.method` GET with the parameters in the query of `request.url`
(`ConceptMap/$translate?system=...&sourceCode=...`), or POST with a Parameters resource. The URL is
relative to the base, or absolute under this server's base (the scheme and host the batch reached it
by, and the base path): an entry for another server, or for the other FHIR version's base, is a 400
for that entry - a batch is answered by the server it is sent to.
Entries are dispatched straight to the operation functions through the router (no HTTP
round trip, no Flask), through the same response cache as single requests, and
the answer is built from the operations' serialised bodies without parsing them again.

The answer is a `batch-response` Bundle: one entry per request, in order, each with
`response.status` and `resource` (the operation's answer, or an OperationOutcome, also in
`response.outcome`, for a failing entry). One bad entry does not fail the others.

Time: the batch is one request, so it runs under one deadline (setting time_limit_ms), and
each entry under its own deadline of the same length that cannot outlast the batch's. Entries
not started before the batch's deadline answer 422 `too-costly` without running: the caller
keeps every answer computed and sends the rest again. So do the entries after the answers
gathered pass MAX_ANSWER bytes (a batch of large expansions).
"""
import urllib.parse
from dataclasses import dataclass

import orjson

from termsvc import deadline
from termsvc.api.dispatch import MAX_BODY, read_json_body, resolve, respond, status_line
from termsvc.api.errors import error_outcome
from termsvc.fhir.outcome import OpError, issue, outcome

MAX_ANSWER = MAX_BODY   # bytes of answers one batch may gather (10,000 large expansions would not fit in memory)
NOT_RUN_TIME = orjson.dumps(outcome([issue(
    "error", "too-costly", "Not run: the batch reached its time limit before this entry; send it again")]))
NOT_RUN_SIZE = orjson.dumps(outcome([issue(
    "error", "too-costly", f"Not run: the batch's answer reached {MAX_ANSWER // 2**20} MB before this entry;"
                           " send it again")]))


def serve_batch(router, environ, start_response, r4: bool, max_entries: int):
    """The router's answer to POST on the base URL: a batch of at most max_entries entries."""
    router.store.refresh()
    try:
        with router.store.time_limit():   # (a large body's checks)
            entries = batch_entries(read_json_body(environ), max_entries)
    except Exception as e:
        return respond(start_response, *error_outcome(e, "batch"))
    lang = environ.get("HTTP_ACCEPT_LANGUAGE")
    base = Base.of(environ, r4)
    out, size = [], 0
    with router.store.time_limit():
        for entry in entries:
            if deadline.expired():
                status, body = 422, NOT_RUN_TIME
            elif size > MAX_ANSWER:
                status, body = 422, NOT_RUN_SIZE
            else:
                status, body = run_entry(router, entry, r4, base, lang)
                size += len(body)
            out.append(_response_entry(status, body))
    return respond(start_response, 200, b'{"resourceType":"Bundle","type":"batch-response"'
                    + (b',"entry":[' + b",".join(out) + b"]}" if out else b"}"))


def batch_entries(bundle, max_entries: int) -> list:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise OpError("POST to the base URL takes a Bundle of type batch", code="invalid")
    if bundle.get("type") != "batch":
        raise OpError(f"Bundle.type must be 'batch', not '{bundle.get('type')}': operations have nothing to"
                      " commit, so transactions are not supported", code="not-supported")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise OpError("Bundle.entry must be an array", code="structure")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise OpError(f"Bundle.entry[{i}] must be an object, not {orjson.dumps(entry).decode()[:40]}",
                          code="structure")
    if len(entries) > max_entries:
        raise OpError(f"The batch has {len(entries)} entries; this server takes at most {max_entries} in one"
                      " batch (setting batch_max_entries): split it", status=413, code="too-costly")
    return entries


def _response_entry(status: int, body: bytes) -> bytes:
    head = b'{"response":{"status":"' + status_line(status).encode() + b'"'
    if status >= 400:
        head += b',"outcome":' + body
    return head + b'},"resource":' + body + b"}"


@dataclass(frozen=True, slots=True)
class Base:
    """Where a batch was sent: the base path ('/fhir/') and the origins it reached the server by
    ((scheme, host) pairs; none for a batch run in process, which takes relative URLs only)."""
    path: str
    origins: frozenset = frozenset()

    @classmethod
    def of(cls, environ, r4: bool) -> "Base":
        path = environ.get("SCRIPT_NAME", "").rstrip("/") + ("/r4/fhir/" if r4 else "/fhir/")
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        schemes = {environ.get("wsgi.url_scheme", "http"),
                   environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()}   # behind a proxy
        return cls(path, frozenset((s, _authority(s, host)) for s in schemes if s in ("http", "https")))

    def url(self) -> str:
        scheme, host = min(self.origins) if self.origins else ("", "")
        return f"{scheme}://{host}{self.path.rstrip('/')}" if host else self.path.rstrip("/")

    def relative(self, url: str) -> str:
        """The part of an entry's URL (without its query) after this base; a 400 when it is absolute
        and not under it."""
        if "://" not in url:
            return url[len(self.path):] if url.startswith(self.path) else url
        split = urllib.parse.urlsplit(url)
        scheme = split.scheme.lower()
        if (scheme, _authority(scheme, split.netloc)) in self.origins and split.path.startswith(self.path):
            return split.path[len(self.path):]
        raise OpError(f"The entry's request.url '{url}' is not under this server's base {self.url()}: a batch"
                      " entry is answered by the server the batch is sent to; give its URL relative to the base",
                      code="not-supported")


def _authority(scheme: str, host: str) -> str:
    """host[:port] in one spelling: lower case, without the scheme's default port."""
    host = host.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    return host[:-len(default)] if default and host.endswith(default) else host


def run_entry(router, entry, r4: bool, base: Base, lang) -> tuple[int, bytes]:
    """(status, serialised answer) of one batch entry."""
    try:
        method, path, query, resource = _entry_request(entry, base)
    except OpError as e:
        status, body = error_outcome(e)
        return status, orjson.dumps(body)
    route = resolve(path)
    if route is None:
        return 400, orjson.dumps(outcome([issue(
            "error", "not-supported", f"Batch entries must be terminology operations ($translate, $validate-code,"
                                      f" $lookup, $expand, $subsumes ...): '{path}' is not one")]))
    try:
        return router.answer(route, r4, ("/r4/fhir/" if r4 else "/fhir/") + path, method, query, lang,
                             lambda: resource)
    except Exception as e:   # (an entry the router cannot answer is that entry's error, not the batch's)
        status, body = error_outcome(e, "batch entry")
        return status, orjson.dumps(body)


def _entry_request(entry, base: Base):
    """(method, path after the base, query, resource) of a batch entry."""
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict) or not isinstance(request.get("url"), str) or not request["url"]:
        raise OpError("Every batch entry needs request.method and request.url", code="required")
    method = str(request.get("method") or "").upper()
    if method not in ("GET", "POST"):
        raise OpError(f"Batch entries are GET or POST operation requests, not {request.get('method')}", status=405,
                      code="not-supported")
    url = request["url"].partition("#")[0]   # (the fragment is no part of the request: RFC 3986)
    path, _, query = url.partition("?")
    path = urllib.parse.unquote(base.relative(path).lstrip("/"))   # `%24translate` is `$translate`
    resource = entry.get("resource")
    if method == "POST" and not isinstance(resource, dict):
        raise OpError("A POST batch entry needs a Parameters resource", code="required")
    return method, path, query, resource
