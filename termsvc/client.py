"""A Python client for a FHIR terminology server (termsvc or any other), for converters.

    from termsvc.client import TerminologyClient
    tx = TerminologyClient("http://127.0.0.1:8080/fhir", cache_size=10_000)
    r = tx.translate("TAC", system="http://termsvc.example.eu/fhir/CodeSystem/ris-modality-eu")
    if r.result:
        print(r.matches[0].code, r.matches[0].relationship, r.matches[0].origin_map)

One keep-alive `requests` session; a timeout on every call; retries with exponential backoff
(urllib3's `Retry` on the session) when the server cannot be reached and on 503 (honouring
Retry-After), never once a request was sent and its answer is late; R5 (`/fhir`) or R4 (`/r4/fhir`,
`fhir_version="R4"`) endpoints. Answers are small dataclasses that keep the raw Parameters;
an HTTP 4xx/5xx raises TerminologyError with the OperationOutcome's issues (and the
OperationOutcome itself, a 503 past the retries too). A validation says `verdict`: valid, invalid
or cannot-judge (the server lacks what the answer depends on: a code system, a version, the part of
a fragment; `reason` says what) beside the server's `result`. An expansion is iterated page by page
and says whether it is closed (`unclosed`, `unclosed_reason`). `cache_size` turns on an in-process
LRU of answers (each caller gets its own copy). `translate_many` / `validate_many` send FHIR batch
Bundles (one entry per code, `batch_size` per request) and answer in order; a failing entry
gives a result whose `error` is set, the others are unaffected.

`termsvc.local_client.LocalClient(db_path)` has the same methods and answers in process from a
database file (no HTTP), with the engine the server runs. This module needs only `requests` (its urllib3
too), `cachetools` and the standard library: a converter that uses the client over HTTP does not load the server.
"""
import copy
import threading
import urllib.parse
from dataclasses import dataclass
from collections.abc import Callable, Iterable, Iterator

import cachetools
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from termsvc.fhir.convert import EQUIVALENCE_TO_RELATIONSHIP, to_r5
from termsvc.results import CANNOT_JUDGE as CANNOT_JUDGE, INVALID as INVALID, VALID as VALID   # (the verdicts)
from termsvc.results import Issue, verdict_of

FHIR_JSON = "application/fhir+json"
RETRY_STATUS = 503
UNCLOSED = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed"


# -- results (and Issue: termsvc.results.Issue) ------------------------------------------------------

class TerminologyError(Exception):
    """The server answered 4xx/5xx (status, issues from its OperationOutcome), or could not be reached
    (status None)."""

    def __init__(self, message: str, status: int | None = None, issues: list | None = None,
                 outcome: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.issues: list[Issue] = issues or []
        self.outcome = outcome


@dataclass
class Match:
    code: str | None
    system: str | None
    display: str | None
    relationship: str | None            # R5 relationship (from the R4 equivalence on an R4 endpoint)
    origin_map: str | None              # canonical|version of the ConceptMap
    equivalence: str | None = None      # the R4 word, when the server answered one
    message: str | None = None
    source: dict | None = None          # the source Coding (reverse translation)


@dataclass
class TranslateResult:
    result: bool
    matches: list[Match]
    message: str | None
    issues: list[Issue]
    raw: dict
    error: TerminologyError | None = None   # set for a failing batch entry


@dataclass
class ValidateResult:
    result: bool                        # the server's answer
    code: str | None
    system: str | None
    display: str | None
    version: str | None
    message: str | None
    issues: list[Issue]
    raw: dict
    error: TerminologyError | None = None
    verdict: str = VALID                # VALID, INVALID or CANNOT_JUDGE: what `result` means
    reason: str | None = None           # for CANNOT_JUDGE: what the answer depends on that the server lacks


@dataclass
class LookupResult:
    code: str
    system: str | None
    name: str | None
    version: str | None
    display: str | None
    designations: list[dict]            # {language, use (Coding), value}
    properties: list[dict]              # {code, value, description?}
    raw: dict


@dataclass
class SubsumesResult:
    outcome: str                        # equivalent | subsumes | subsumed-by | not-subsumed
    raw: dict


@dataclass
class Concept:
    system: str | None
    code: str
    display: str | None = None
    version: str | None = None
    inactive: bool = False
    abstract: bool = False


@dataclass
class Page:
    """One page of an expansion: its concepts (the nested ones too, in order), how many entries it has
    at the top (what paging counts), the total, and whether the server says the expansion is not closed."""
    concepts: list[Concept]
    entries: int
    total: int | None = None
    unclosed: bool = False
    unclosed_reason: str | None = None


# -- reading Parameters -------------------------------------------------------------------------

def _value(p: dict):
    for k, v in p.items():
        if k.startswith("value"):
            return v
    return p.get("resource")


def _first(params: list, name: str):
    return next((_value(p) for p in params if p.get("name") == name), None)


def issues_of(oo: dict | None) -> list[Issue]:
    out = []
    for i in (oo or {}).get("issue", []) or []:
        details = i.get("details") or {}
        tx = next((c.get("code") for c in details.get("coding", []) or []
                   if c.get("system", "").endswith("/tx-issue-type")), None)
        mid = next((x.get("valueString") for x in i.get("extension", []) or []
                    if x.get("url", "").endswith("/operationoutcome-message-id")), None)
        out.append(Issue(i.get("severity", "error"), i.get("code", "unknown"),
                         details.get("text") or i.get("diagnostics") or "", tx, i.get("expression") or [], mid,
                         i.get("diagnostics")))
    return out


def parse_translate(body: dict) -> TranslateResult:
    params = body.get("parameter", []) or []
    matches = []
    for p in params:
        if p.get("name") != "match":
            continue
        parts = p.get("part", []) or []
        concept = _first(parts, "concept") or {}
        equivalence = _first(parts, "equivalence")
        relationship = _first(parts, "relationship") or (
            EQUIVALENCE_TO_RELATIONSHIP.get(equivalence, "not-related-to") if equivalence else None)
        matches.append(Match(concept.get("code"), concept.get("system"), concept.get("display"), relationship,
                             _first(parts, "originMap"), equivalence, _first(parts, "message"),
                             _first(parts, "source")))
    return TranslateResult(bool(_first(params, "result")), matches, _first(params, "message"),
                           issues_of(_first(params, "issues")), body)


def parse_validate(body: dict) -> ValidateResult:
    params = body.get("parameter", []) or []
    result = bool(_first(params, "result"))
    r = ValidateResult(result, _first(params, "code"), _first(params, "system"), _first(params, "display"),
                       _first(params, "version"), _first(params, "message"), issues_of(_first(params, "issues")),
                       body)
    unknown = [str(_value(p)) for p in params if p.get("name") == "x-unknown-system"]
    caused_by = [str(_value(p)) for p in params if p.get("name") == "x-caused-by-unknown-system"]
    r.verdict, r.reason = verdict_of(result, unknown, caused_by, r.issues)
    return r


def parse_lookup(body: dict, code: str, system: str | None) -> LookupResult:
    params = body.get("parameter", []) or []
    designations, properties = [], []
    for p in params:
        parts = p.get("part", []) or []
        if p.get("name") == "designation":
            designations.append({"language": _first(parts, "language"), "use": _first(parts, "use"),
                                 "value": _first(parts, "value")})
        elif p.get("name") == "property":
            prop = {"code": _first(parts, "code"), "value": _first(parts, "value")}
            if _first(parts, "description"):
                prop["description"] = _first(parts, "description")
            properties.append(prop)
    return LookupResult(_first(params, "code") or code, _first(params, "system") or system, _first(params, "name"),
                        _first(params, "version"), _first(params, "display"), designations, properties, body)


def failed_result(parse, error: "TerminologyError"):
    """The result object of a failing batch entry: negative, with the error's message and issues
    (a validation that failed was not judged)."""
    empty = {"resourceType": "Parameters", "parameter": []}
    r = parse(empty)
    r.result, r.message, r.issues, r.raw, r.error = False, error.message, error.issues, error.outcome or {}, error
    if isinstance(r, ValidateResult):
        r.verdict, r.reason = CANNOT_JUDGE, error.message
    return r


def error_from(status: int, body, transport: str | None = "HTTP") -> TerminologyError:
    """The error of a failed request: its status and the OperationOutcome's issues."""
    oo = body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    return terminology_error(status, issues_of(oo), oo, transport)


def terminology_error(status: int, issues: list[Issue], outcome: dict | None,
                      transport: str | None = "HTTP") -> TerminologyError:
    """The error of a request that failed with `status` and these issues (`outcome`: the OperationOutcome
    that says them); the message names the transport's status ('HTTP 404: ...') when there is one."""
    text = "; ".join(i.text for i in issues if i.text) or f"the request failed with status {status}"
    return TerminologyError(f"{transport} {status}: {text}" if transport else text, status, issues, outcome)


# -- the client -----------------------------------------------------------------------------------

def dependency_pair(attribute: str, value: str | dict, r4: bool) -> tuple[str, tuple]:
    """A $translate `dependency` (attribute, a code or a Coding) as a request pair: parts, kept hashable
    (a request is a cache key) until query_and_body() writes them."""
    coding = tuple((k, v) for k, v in ({"code": value} if isinstance(value, str) else value).items()
                   if k in ("system", "code", "display") and v)
    return "dependency", ((("element" if r4 else "attribute"), "valueUri", attribute),
                          (("concept", "valueCodeableConcept", coding) if r4 else ("value", "valueCoding", coding)))


def query_and_body(pairs: list) -> tuple[list, dict | None]:
    """The query pairs of a request and the Parameters that carries its parameters with parts (None: none)."""
    parts = [{"name": name, "part": [{"name": n, key: ({"coding": [dict(v)]} if key == "valueCodeableConcept"
                                                      else dict(v) if isinstance(v, tuple) else v)}
                                     for n, key, v in value]}
             for name, value in pairs if not isinstance(value, str)]
    query = [(name, value) for name, value in pairs if isinstance(value, str)]
    return query, ({"resourceType": "Parameters", "parameter": parts} if parts else None)


def _batch_entry(path: str, pairs: list) -> dict:
    query, body = query_and_body(pairs)
    url = f"{path}?{urllib.parse.urlencode(query)}"
    return {"request": {"method": "GET", "url": url}} if body is None else \
        {"request": {"method": "POST", "url": url}, "resource": body}


class TerminologyClient:
    """Terminology operations over HTTP. Thread-safe for the cache; one session per client."""

    transport: str | None = "HTTP"   # named in error messages ('HTTP 404: ...')

    def __init__(self, base_url: str, fhir_version: str = "R5", timeout: float | tuple = (3.05, 30.0),
                 retries: int = 3, backoff: float = 0.2, cache_size: int = 0, batch_size: int = 1000,
                 headers: dict | None = None, session: requests.Session | None = None):
        if fhir_version not in ("R5", "R4"):
            raise ValueError("fhir_version is 'R5' or 'R4'")
        self.base_url = base_url.rstrip("/")
        self.r4 = fhir_version == "R4"
        self.timeout = timeout
        self.retries = retries
        self.batch_size = batch_size
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": FHIR_JSON, **(headers or {})})
        # every call is a read-only operation (a POST too: a batch of them), so each may be sent again;
        # `backoff` is urllib3's backoff_factor (the pause doubles from one retry to the next)
        retry = Retry(total=retries, connect=retries, read=False, status=retries, other=0, redirect=0,
                      status_forcelist=(RETRY_STATUS,), allowed_methods=frozenset({"GET", "POST"}),
                      backoff_factor=backoff, respect_retry_after_header=True, raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.cache_size = cache_size
        self._cache: cachetools.LRUCache[tuple, object] | None = \
            cachetools.LRUCache(cache_size) if cache_size else None
        self._lock = threading.Lock()

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- answering (termsvc.local_client.LocalClient answers these three in process) ---------------------
    def _result(self, path: str, pairs: list, parse: Callable):
        """The result of one operation request: GET it and `parse` the answer; TerminologyError when it
        fails."""
        return parse(self._call(path, pairs))

    def _results(self, requests_: list, parse: Callable) -> list:
        """The results of (path, pairs) requests, in order, through FHIR batch Bundles; a failing one gives
        a negative result whose `error` says why."""
        return [parse(body) if status == 200 else failed_result(parse, error_from(status, body, self.transport))
                for status, body in self._batch(requests_)]

    def _page(self, path: str, pairs: list, offset: int, count: int) -> Page:
        """One page of an expansion."""
        return page_of(self._call(path, pairs + [("count", str(count)), ("offset", str(offset))]))

    # -- transport -------------------------------------------------------------------------------------
    def _call(self, path: str, pairs: list) -> dict:
        """GET an operation (POST when a parameter has parts); the answer's JSON, or TerminologyError."""
        query, body = query_and_body(pairs)
        if body is None:
            return self._json(self._http("GET", f"{self.base_url}/{path}", params=query))
        return self._json(self._http("POST", f"{self.base_url}/{path}", params=query, json=body,
                                     headers={"Content-Type": FHIR_JSON}))

    def _batch(self, requests_: list) -> list[tuple[int, dict]]:
        """(status, resource) per (path, pairs) request, in order, through FHIR batch Bundles."""
        out = []
        for i in range(0, len(requests_), self.batch_size):
            chunk = requests_[i:i + self.batch_size]
            bundle = {"resourceType": "Bundle", "type": "batch", "entry": [_batch_entry(path, pairs) for path, pairs in chunk]}
            answer = self._json(self._http("POST", self.base_url, json=bundle,
                                           headers={"Content-Type": FHIR_JSON}))
            entries = answer.get("entry", []) or []
            if len(entries) != len(chunk):
                raise TerminologyError(f"The batch answer has {len(entries)} entries for {len(chunk)} requests")
            for e in entries:
                status = int(str((e.get("response") or {}).get("status", "0")).split(" ")[0] or 0)
                out.append((status, e.get("resource") or (e.get("response") or {}).get("outcome") or {}))
        return out

    def _http(self, method: str, url: str, **kw) -> requests.Response:
        """The answer to one request (retried by the session's Retry: a 503 past the retries is returned)."""
        try:
            return self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.ConnectionError as e:   # a connect timeout too: nothing was sent
            raise TerminologyError(f"Cannot reach {url} after {self.retries + 1} attempt(s): {e}") from e
        except requests.Timeout as e:
            raise TerminologyError(f"No answer from {url} within {self.timeout} s") from e

    @staticmethod
    def _json(r: requests.Response) -> dict:
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400:
            raise error_from(r.status_code, body)   # the OperationOutcome kept (a 503 past the retries too)
        if not isinstance(body, dict):
            raise TerminologyError(f"HTTP {r.status_code}: the answer is not FHIR JSON", r.status_code)
        return body

    # -- cache ----------------------------------------------------------------------------------------
    def _cached(self, key):
        """A copy of the cached result of a request (the caller may change it), or None (also when
        the cache is off)."""
        if self._cache is None:
            return None
        with self._lock:
            hit = self._cache.get(key)
        return None if hit is None else copy.deepcopy(hit)

    def _cached_call(self, path: str, pairs: list, parse):
        key = (path, tuple(pairs))
        hit = self._cached(key)
        if hit is not None:
            return hit
        result = self._result(path, pairs, parse)
        self._remember(key, result)
        return result

    def _remember(self, key, result):
        if self._cache is not None:
            kept = copy.deepcopy(result)   # not the caller's object
            with self._lock:
                self._cache[key] = kept

    def _many(self, requests_: list, parse) -> list:
        """Results in order; cached ones from the cache, the others through batches."""
        results = [None] * len(requests_)
        todo = []
        for i, (path, pairs) in enumerate(requests_):
            hit = self._cached((path, tuple(pairs)))
            if hit is not None:
                results[i] = hit
            else:
                todo.append(i)
        answers = self._results([requests_[i] for i in todo], parse) if todo else []
        for i, result in zip(todo, answers):
            results[i] = result
            if result.error is None:
                self._remember((requests_[i][0], tuple(requests_[i][1])), result)
        return results

    # -- request building -------------------------------------------------------------------------------
    def _translate_request(self, code=None, system=None, *, url=None, target_system=None, coding=None,
                           version=None, dependencies=(), params=None) -> tuple[str, list]:
        r4 = self.r4
        pairs: list[tuple[str, object]] = []
        if coding is not None:
            pairs.append(("coding" if r4 else "sourceCoding", f"{coding.get('system', '')}|{coding['code']}"))
        elif code is not None:
            pairs.append(("code" if r4 else "sourceCode", code))
            if system:
                pairs.append(("system", system))
            if version:
                pairs.append(("version" if r4 else "sourceVersion", version))
        if url:
            pairs.append(("url", url))
        if target_system:
            pairs.append(("targetsystem" if r4 else "targetSystem", target_system))
        pairs += [dependency_pair(attribute, value, r4) for attribute, value in dependencies]
        pairs += list((params or {}).items())
        return "ConceptMap/$translate", pairs

    @staticmethod
    def _validate_request(code, system=None, *, url=None, value_set_id=None, display=None, version=None,
                          params=None) -> tuple[str, list]:
        if url or value_set_id:
            path = f"ValueSet/{urllib.parse.quote(value_set_id, safe='')}/$validate-code" if value_set_id \
                else "ValueSet/$validate-code"
            pairs = ([("url", url)] if url else []) + [("code", code)]
            # without a system: the one of the value set's code systems that has the code
            pairs.append(("system", system) if system else ("inferSystem", "true"))
            if version:
                pairs.append(("systemVersion", version))
        else:
            path = "CodeSystem/$validate-code"
            pairs = [("url", system), ("code", code)] + ([("version", version)] if version else [])
        if display:
            pairs.append(("display", display))
        return path, pairs + list((params or {}).items())

    # -- operations ---------------------------------------------------------------------------------------
    def translate(self, code: str | None = None, system: str | None = None, *, url: str | None = None,
                  target_system: str | None = None, coding: dict | None = None, version: str | None = None,
                  dependencies: Iterable[tuple[str, str | dict]] = (), params: dict | None = None) -> TranslateResult:
        """$translate a code (with its system) or a Coding; `url` names the ConceptMap, `target_system`
        the code system wanted; `dependencies`: what else is known of the concept, (attribute uri, a code
        or a Coding) each, such as the laterality beside a procedure code (a target whose dependsOn they
        contradict is left out); `params` adds any other parameter by its FHIR name."""
        return self._cached_call(*self._translate_request(code, system, url=url, target_system=target_system,
                                                          coding=coding, version=version, dependencies=dependencies,
                                                          params=params),
                                 parse_translate)

    def validate_code(self, code: str, system: str | None = None, *, url: str | None = None,
                      value_set_id: str | None = None, display: str | None = None, version: str | None = None,
                      params: dict | None = None) -> ValidateResult:
        """$validate-code: against the value set `url` (or the one whose id is `value_set_id`) when
        given, else against the code system `system`. Against a value set without `system`, the
        server infers the code system from the value set. `verdict` says valid, invalid or
        cannot-judge (with `reason`)."""
        return self._cached_call(*self._validate_request(code, system, url=url, value_set_id=value_set_id,
                                                         display=display, version=version, params=params),
                                 parse_validate)

    def lookup(self, code: str, system: str, *, version: str | None = None, properties: Iterable[str] = (),
               display_language: str | None = None) -> LookupResult:
        pairs = [("system", system), ("code", code)] + ([("version", version)] if version else [])
        pairs += [("property", p) for p in properties]
        if display_language:
            pairs.append(("displayLanguage", display_language))
        return self._cached_call("CodeSystem/$lookup", pairs, lambda b: parse_lookup(b, code, system))

    def subsumes(self, code_a: str, code_b: str, system: str, *, version: str | None = None) -> SubsumesResult:
        pairs = [("system", system), ("codeA", code_a), ("codeB", code_b)] + ([("version", version)] if version else [])
        return self._cached_call("CodeSystem/$subsumes", pairs,
                                 lambda b: SubsumesResult(_first(b.get("parameter", []) or [], "outcome"), b))

    def expand(self, url: str | None = None, *, value_set_id: str | None = None, filter: str | None = None,
               page_size: int = 1000, limit: int | None = None, params: dict | None = None) -> "Expansion":
        """The expansion of the value set `url` (or the one whose id is `value_set_id`): iterate it for
        every concept (or the first `limit`), fetched `page_size` at a time. The first page is asked for
        at once, so `unclosed` (the server says the expansion is not the whole value set, e.g. a filter
        over a fragment), `unclosed_reason` and `total` are known before iterating."""
        path = f"ValueSet/{urllib.parse.quote(value_set_id, safe='')}/$expand" if value_set_id else "ValueSet/$expand"
        pairs = ([("url", url)] if url else []) + ([("filter", filter)] if filter else []) \
            + list((params or {}).items())
        return Expansion(lambda offset, count: self._page(path, pairs, offset, count), page_size, limit)

    def search(self, resource_type: str, params: dict | None = None) -> Iterator[dict]:
        """Every resource of a search (all pages, following the Bundle's `next` links)."""
        url: str | None = f"{self.base_url}/{resource_type}"
        query: dict | None = {"_count": "1000", **(params or {})}
        while url:
            bundle = self._json(self._http("GET", url, params=query))
            for e in bundle.get("entry", []) or []:
                yield e.get("resource") or {}
            url = next((ln.get("url") for ln in bundle.get("link", []) or [] if ln.get("relation") == "next"), None)
            query = None

    def concept_maps(self, params: dict | None = None) -> Iterator[dict]:
        """The ConceptMaps of a search in R5 shape, from either endpoint (an R4 map's conditions come back
        from the cross-version extensions: its additionalAttribute, the dependsOn's attribute codes)."""
        return (to_r5(cm) for cm in self.search("ConceptMap", params))

    def translate_many(self, items: Iterable, system: str | None = None, *, url: str | None = None,
                       target_system: str | None = None, dependencies: Iterable[tuple[str, str | dict]] = ()
                       ) -> list[TranslateResult]:
        """$translate each item (a code, or a dict of translate() arguments) through batch requests."""
        shared = {"url": url, "target_system": target_system, "dependencies": list(dependencies)}
        reqs = [self._translate_request(**(it if isinstance(it, dict) else {"code": it, "system": system, **shared}))
                for it in items]
        return self._many(reqs, parse_translate)

    def validate_many(self, items: Iterable, system: str | None = None, *, url: str | None = None) \
            -> list[ValidateResult]:
        """$validate-code each item (a code, or a dict of validate_code() arguments) through batch requests."""
        reqs = [self._validate_request(**(it if isinstance(it, dict) else {"code": it, "system": system, "url": url}))
                for it in items]
        return self._many(reqs, parse_validate)


class Expansion:
    """The concepts of an expansion, fetched a page at a time as they are iterated; whether the server
    says it is unclosed (and why) is known from the first page."""
    unclosed: bool = False
    unclosed_reason: str | None = None

    def __init__(self, fetch: Callable[[int, int], Page], page_size: int, limit: int | None):
        """`fetch(offset, count)`: the page of `count` entries at `offset`."""
        self._fetch, self._page_size, self._limit = fetch, page_size, limit
        self._first = self._page(0)
        self.total: int | None = self._first[0].total

    def _page(self, offset: int) -> tuple[Page, int]:
        """(the page at `offset`, the count asked for)."""
        count = self._page_size if self._limit is None else min(self._page_size, self._limit - offset)
        page = self._fetch(offset, count)
        if page.unclosed:
            self.unclosed, self.unclosed_reason = True, page.unclosed_reason
        return page, count

    def __iter__(self) -> Iterator[Concept]:
        (page, count), offset, seen = self._first, 0, 0
        while True:
            for c in page.concepts:
                if self._limit is not None and seen >= self._limit:
                    return
                yield c
                seen += 1
            offset += page.entries
            if page.entries != count or (page.total is not None and offset >= page.total) \
                    or (self._limit is not None and seen >= self._limit):
                return   # the last page (or a server that does not page)
            page, count = self._page(offset)


def page_of(body: dict) -> Page:
    """A page of an expansion from the server's ValueSet."""
    expansion = body.get("expansion") or {}
    extensions = {x.get("url"): x for x in expansion.get("extension") or []}
    unclosed = bool((extensions.get(UNCLOSED) or {}).get("valueBoolean"))
    contains = expansion.get("contains") or []
    return Page(list(_flatten(contains)), len(contains), expansion.get("total"), unclosed,
                (extensions.get(UNCLOSED + "-reason") or {}).get("valueString") if unclosed else None)


def _flatten(contains) -> Iterator[Concept]:
    for c in contains or []:
        if c.get("code") is not None:
            yield Concept(c.get("system"), c["code"], c.get("display"), c.get("version"),
                          bool(c.get("inactive")), bool(c.get("abstract")))
        yield from _flatten(c.get("contains"))
