"""`LocalClient`: the client's operations (termsvc.client) answered in process from a database file by
the engine the server runs - no HTTP, and no Parameters in between: the engine's typed answers
(termsvc.results) become the client's results directly. `raw` holds the answer the server would send
(rendered by fhir/render, as the server renders it), for those who read it.

    from termsvc.local_client import LocalClient
    tx = LocalClient("/content/termsvc.db")
    tx.validate_code("CT", "http://dicom.nema.org/resources/ontology/DCM").verdict
"""
import urllib.parse
from collections.abc import Callable
from typing import Any

from termsvc import results
from termsvc import settings as settings_mod
from termsvc.client import (Concept, LookupResult, Match, Page, SubsumesResult, TerminologyClient, TerminologyError,
                            TranslateResult, ValidateResult, failed_result, query_and_body, terminology_error,
                            verdict_of)
from termsvc.fhir.convert import EQUIVALENCE_TO_RELATIONSHIP
from termsvc.fhir.outcome import outcome
from termsvc.fhir.params import SIGNATURES
from termsvc.fhir.render.lookup import lookup as render_lookup
from termsvc.fhir.render.subsumption import subsumption as render_subsumption
from termsvc.fhir.render.translation import translation as render_translation
from termsvc.fhir.render.validation import validation as render_validation
from termsvc.ops import expand, lookup, translate, validate
from termsvc.ops.context import Context
from termsvc.ops.refusal import refusal
from termsvc.store.reader import Store


class LocalClient(TerminologyClient):
    """TerminologyClient's operations, answered from the build at `db_path` (R5 or R4 answers, as the two
    endpoints give them)."""

    transport = None   # errors say no transport ('404: ...' rather than 'HTTP 404: ...')

    def __init__(self, db_path: str, fhir_version: str = "R5", cache_size: int = 0, settings=None):
        super().__init__("local:", fhir_version=fhir_version, cache_size=cache_size)
        settings = settings or settings_mod.current()
        self.store = Store(db_path, time_limit_ms=settings.time_limit_ms)
        self.max_expansion = settings.max_expansion

    def _answer(self, path: str, pairs: list):
        """The engine's typed answer to the operation request `path` with the query `pairs`, read as the
        server reads it; TerminologyError (with the server's status and issues) when it refuses."""
        rtype, instance_id, name = _operation(path)
        self.store.refresh()
        ctx = Context(self.store, fhir_version="R4" if self.r4 else "R5")
        try:
            query, body = query_and_body(pairs)
            signature = SIGNATURES[(rtype, name)]
            params = signature.from_query(query) if body is None else signature.from_resource(body, query)
            with self.store.time_limit():
                return ENGINE[(rtype, name)](self, ctx, params, instance_id)
        except Exception as e:
            refused = refusal(e)
            if refused is None:
                raise
            issues = refused.as_issues()
            raise terminology_error(refused.status, issues, outcome(issues), self.transport) from e

    def _result(self, path: str, pairs: list, parse: Callable):
        rtype, _, name = _operation(path)
        return CLIENT_RESULT[(rtype, name)](self._answer(path, pairs), self.r4)

    def _results(self, requests_: list, parse: Callable) -> list:
        out = []
        for path, pairs in requests_:
            try:
                out.append(self._result(path, pairs, parse))
            except TerminologyError as e:
                out.append(failed_result(parse, e))
        return out

    def _page(self, path: str, pairs: list, offset: int, count: int) -> Page:
        answer = self._answer(path, pairs + [("count", str(count)), ("offset", str(offset))])
        return Page([Concept(e.system, e.code, e.display, e.version, e.inactive, e.abstract)
                     for e in answer.codes() if e.code is not None],
                    len(answer.contains), answer.total, answer.unclosed, answer.unclosed_reason)


def _operation(path: str) -> tuple[str, str | None, str]:
    """(resource type, instance id or None, operation) of 'ValueSet/$expand' or 'ValueSet/{id}/$expand'."""
    parts = path.split("/")
    instance_id = urllib.parse.unquote(parts[1]) if len(parts) == 3 else None
    return parts[0], instance_id, parts[-1].removeprefix("$")


# (resource type, operation) -> engine(client, ctx, params, instance id) -> its typed answer
ENGINE = {
    ("ValueSet", "validate-code"): lambda c, ctx, params, iid: validate.validate_vs(ctx, params, None, iid),
    ("CodeSystem", "validate-code"): lambda c, ctx, params, iid: validate.validate_cs(ctx, params, None, iid),
    ("ConceptMap", "translate"): lambda c, ctx, params, iid: translate.translate(ctx, params, c.r4, iid),
    ("CodeSystem", "lookup"): lambda c, ctx, params, iid: lookup.lookup(ctx, params, None, iid),
    ("CodeSystem", "subsumes"): lambda c, ctx, params, iid: lookup.subsumes(ctx, params, iid),
    ("ValueSet", "expand"): lambda c, ctx, params, iid: expand.expand(ctx, params, None, iid, c.max_expansion),
}


# -- the engine's answers as the client's results ---------------------------------------------------

def _validation(v: results.Validation, r4: bool) -> ValidateResult:
    r = ValidateResult(v.result, v.code, v.system, v.display, v.version, v.message, list(v.issues),
                       render_validation(v))
    r.verdict, r.reason = verdict_of(v.result, v.unknown_systems, v.caused_by, r.issues)
    return r


def _translation(t: results.Translation, r4: bool) -> TranslateResult:
    matches = []
    for m in t.matches:
        concept = m.concept or {}
        relationship = EQUIVALENCE_TO_RELATIONSHIP.get(m.equivalence or "", "not-related-to") if r4 else m.relationship
        matches.append(Match(concept.get("code"), concept.get("system"), concept.get("display"), relationship,
                             m.origin_map, m.equivalence if r4 else None, m.comments[0] if m.comments else None,
                             m.source))
    return TranslateResult(t.result, matches, t.message, [], render_translation(t, r4))


def _lookup(answer: results.Lookup, r4: bool) -> LookupResult:
    designations = [{"language": d.language or None, "use": d.use or None, "value": d.value}
                    for d in answer.designations]
    properties = [{"code": p.code, "value": p.value, **({"description": p.description} if p.description else {})}
                  for p in answer.properties]
    return LookupResult(answer.code, answer.system, answer.name, answer.version or None, answer.display or None,
                        designations, properties, render_lookup(answer))


def _subsumption(answer: results.Subsumption, r4: bool) -> SubsumesResult:
    return SubsumesResult(answer.outcome, render_subsumption(answer))


CLIENT_RESULT: dict[tuple[str, str], Callable[[Any, bool], object]] = {
    ("ValueSet", "validate-code"): _validation,
    ("CodeSystem", "validate-code"): _validation,
    ("ConceptMap", "translate"): _translation,
    ("CodeSystem", "lookup"): _lookup,
    ("CodeSystem", "subsumes"): _subsumption,
}
