"""The engine's judgement of codings for callers that are not HTTP requests (the mapping
checks): each question is answered by the operation itself - $validate-code for a code, its
display and value-set membership, $expand for the members of a value set - so such a check
cannot disagree with what the service answers. The judge reads the operations' typed answers
(termsvc.results), as they are: no Parameters in between.

    judge = Judge(store)                       # a served Store, or a build in progress (or None)
    judge = Judge(store, resources)            # ... with CodeSystems / ValueSets that come first
    judge.code(system, code, display)          # CodeVerdict: .verdict valid / invalid / cannot-judge
    judge.membership(vs_url, system, code)     # MembershipVerdict
    judge.membership_of_any(vs_url, codings)   # MembershipVerdict of a CodeableConcept's codings
    judge.members(vs_url, limit)               # [(system, code, display)], or NotEvaluable
"""
from collections.abc import Iterable
from dataclasses import dataclass

from termsvc.fhir import messages
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Param, Params
from termsvc.ops.context import Context
from termsvc.ops.expand import expand
from termsvc.ops.identifiers import problem as identifier_problem
from termsvc.ops.systems import system_named
from termsvc.ops.validate import validate_cs, validate_vs
from termsvc.results import CANNOT_JUDGE as CANNOT_JUDGE, INVALID as INVALID, VALID as VALID   # (the verdicts)
from termsvc.results import JSON, Issue, Validation, verdict_of
from termsvc.store.queries import Queries

# CodeVerdict.state
FOUND = "found"
MALFORMED = "malformed"              # its code system's identifier syntax rules it out (ops.identifiers)
UNKNOWN_CODE = "unknown-code"        # not in its (complete) code system
UNVERIFIABLE = "unverifiable"        # the code system is loaded only in part (a fragment, ...)
UNKNOWN_SYSTEM = "unknown-system"    # the code system is not loaded
MISNAMED_SYSTEM = "misnamed-system"  # a known code system named by its OID or its URI written otherwise (ops.systems)
# MembershipVerdict.state
MEMBER = "member"
NOT_MEMBER = "not-member"


@dataclass(frozen=True, slots=True)
class CodeVerdict:
    state: str
    display: str | None    # the code system's display of the code
    display_ok: bool       # $validate-code accepts the display given (True when none was given)
    display_rejected: bool  # ... and when it does not: whether it answers no (an error), not just a warning
    message: str           # why the verdict is not VALID: what $validate-code said (its errors, or why it cannot judge)
    display_message: str = ""   # what $validate-code said of the display ("" when display_ok)
    verdict: str = VALID   # VALID, INVALID or CANNOT_JUDGE: $validate-code's answer as every surface reads it
    issues: tuple[Issue, ...] = ()   # all $validate-code said
    system_uri: str | None = None    # MISNAMED_SYSTEM: the URI that names the code system

    @property
    def notes(self) -> list[Issue]:
        """The warnings of an answer that is a yes (a retired code, a display a fragment cannot confirm...)."""
        return [i for i in self.issues if i.severity == "warning"] if self.verdict == VALID else []


@dataclass(frozen=True, slots=True)
class MembershipVerdict:
    state: str             # MEMBER, NOT_MEMBER, or UNVERIFIABLE (the answer depends on content not loaded)
    message: str


@dataclass(frozen=True, slots=True)
class NotEvaluable:
    reason: str


def _has(answer: Validation, severity: str, tx_type: str) -> bool:
    """Does the answer have an issue of this severity and tx-issue-type?"""
    return any(i.severity == severity and i.tx_type == tx_type for i in answer.issues)


def _texts(answer: Validation, *tx_types: str, severity: str | None = None) -> str:
    """The texts of the answer's issues of these tx-issue-types (and severity), once each, joined."""
    return "; ".join(dict.fromkeys(i.text for i in answer.issues
                                   if i.tx_type in tx_types and severity in (None, i.severity) and i.text))


class Judge:
    def __init__(self, store: Queries | None, resources: Iterable[JSON] = ()):
        """`store`: a served Store, a build in progress, or None; `resources`: CodeSystems and ValueSets
        that come first, as a request's tx-resources do (a folder's local code systems)."""
        self.store = store
        self.resources = list(resources)
        # the resources' code systems are indexed once for every question, not once per question
        self._with_resources = Context(store, self.resources) if self.resources else None

    def _context(self) -> Context:
        return self._with_resources or Context(self.store)   # else one per question, as each request has its own

    def code(self, system: str, code: str, display: str | None = None, version: str | None = None) -> CodeVerdict:
        """CodeSystem/$validate-code of the code (in that version of its code system, when given) and display:
        its verdict (results.verdict_of, as the clients read it), and the state that says why."""
        params = [Param("url", "valueUri", system), Param("code", "valueCode", code)]
        if version:
            params.append(Param("version", "valueString", version))
        if display:
            params.append(Param("display", "valueString", display))
        ctx = self._context()
        answer = validate_cs(ctx, Params(params))
        verdict, reason = verdict_of(answer.result, answer.unknown_systems, answer.caused_by, answer.issues)
        # a wrong display (invalid-display), or one a fragment cannot confirm or that is retired (display-comment)
        display_message = _texts(answer, "invalid-display", "display-comment")
        display_rejected = _has(answer, "error", "invalid-display")
        named = system_named(ctx.store, system) if verdict == INVALID and ctx.code_system(system) is None else None
        if verdict == CANNOT_JUDGE:
            state = UNKNOWN_SYSTEM if answer.unknown_systems else UNVERIFIABLE
        elif named is not None and named.certain:   # (a no: ops.validate says why)
            state = MISNAMED_SYSTEM
        elif not _has(answer, "error", "invalid-code"):
            state = FOUND       # (a no for its display, or its status, is the verdict's)
        elif identifier_problem(system, code, _resource(ctx, system)):
            state = MALFORMED
        else:
            state = UNKNOWN_CODE
        message = (reason or answer.message or "") if verdict != VALID else ""
        if state == UNKNOWN_SYSTEM and (guess := _texts(answer, "invalid-data", severity="warning")):
            message += f" ({guess})"   # (a code system of a like name: ops.systems)
        return CodeVerdict(state, answer.display, not display_message, display_rejected, message, display_message,
                           verdict, tuple(answer.issues), named.uri if state == MISNAMED_SYSTEM and named else None)

    def has_value_set(self, canonical: str) -> bool:
        return self._context().value_set(canonical) is not None

    def membership(self, value_set: str, system: str, code: str) -> MembershipVerdict:
        """Is system#code in the value set (what $validate-code answers, whatever the display)?"""
        params = Params([Param("url", "valueUri", value_set), Param("system", "valueUri", system),
                         Param("code", "valueCode", code), Param("valueset-membership-only", "valueBoolean", True)])
        return self._membership(params, value_set)

    def membership_of_code(self, value_set: str, code: str) -> MembershipVerdict:
        """Is the code (of a `code` element: its system is the value set's) in the value set?"""
        params = Params([Param("url", "valueUri", value_set), Param("code", "valueCode", code),
                         Param("inferSystem", "valueBoolean", True), Param("valueset-membership-only", "valueBoolean", True)])
        verdict = self._membership(params, value_set)
        if verdict.state == NOT_MEMBER:   # (not the warning that a code alone has no system: its system is inferred)
            verdict = MembershipVerdict(NOT_MEMBER, messages.text("code-not-in-value-set", code=code, vs=value_set))
        return verdict

    def membership_of_any(self, value_set: str, codings: list[JSON]) -> MembershipVerdict:
        """Is one of the codings (a CodeableConcept's) in the value set (what $validate-code answers
        for the CodeableConcept, whatever the displays)?"""
        cc = {"coding": [{k: c[k] for k in ("system", "version", "code") if c.get(k)} for c in codings]}
        params = Params([Param("url", "valueUri", value_set), Param("codeableConcept", "valueCodeableConcept", cc),
                         Param("valueset-membership-only", "valueBoolean", True)])
        return self._membership(params, value_set)

    def _membership(self, params: Params, value_set: str) -> MembershipVerdict:
        """$validate-code's verdict (results.verdict_of, as the clients read it) as a membership."""
        ctx = self._context()
        try:
            answer = validate_vs(ctx, params)
        except OpError as e:
            return MembershipVerdict(UNVERIFIABLE, e.text)
        verdict, reason = verdict_of(answer.result, answer.unknown_systems, answer.caused_by, answer.issues)
        if verdict == CANNOT_JUDGE:   # what it depends on: the issues that say so, else the systems it names
            return MembershipVerdict(UNVERIFIABLE, _texts(answer, "not-found", "invalid-code", "cannot-infer")
                                     or reason or messages.text("value-set-needs", vs=value_set,
                                                                systems=", ".join(answer.caused_by)))
        return MembershipVerdict(MEMBER if verdict == VALID else NOT_MEMBER, answer.message or "")

    def systems_named(self, value_set: str) -> set[str]:
        """The code systems the value set (or one it imports) includes codes of."""
        ctx = self._context()
        return _systems_named(ctx, ctx.value_set(value_set))

    def codes_displayed(self, value_set: str, system: str, display: str) -> list[str]:
        """The codes of `system` in the value set whose display is `display` (ignoring case): what a
        wrong display may have been meant for ($expand with a text filter)."""
        ctx = self._context()
        if not display or ctx.value_set(value_set) is None:
            return []
        params = Params([Param("url", "valueUri", value_set), Param("filter", "valueString", display),
                         Param("excludeNested", "valueBoolean", True), Param("count", "valueInteger", 100)])
        try:
            expansion = expand(ctx, params, max_size=None)
        except OpError:
            return []
        wanted = display.strip().lower()
        return [c.code for c in expansion.contains
                if c.code is not None and c.system == system and (c.display or "").strip().lower() == wanted]

    def members(self, value_set: str, limit: int) -> list[tuple[str | None, str, str | None]] | NotEvaluable:
        """(system, code, display) of every member ($expand), or why they cannot be listed."""
        ctx = self._context()
        if ctx.value_set(value_set) is None:
            return NotEvaluable(f"not loaded ({value_set})")
        params = Params([Param("url", "valueUri", value_set), Param("excludeNested", "valueBoolean", True)])
        try:
            expansion = expand(ctx, params, max_size=limit)
        except OpError as e:
            return NotEvaluable(f"not evaluable: {e.text}")
        if expansion.unclosed:   # the expansion is not the value set: what the engine says is missing
            return NotEvaluable("not evaluable: " + (expansion.unclosed_reason or "its expansion is not closed (the"
                                                     " engine gave no reason)"))
        return [(c.system, c.code, c.display) for c in expansion.codes() if c.code is not None]


def _resource(ctx: Context, system: str) -> JSON | None:
    cs = ctx.code_system(system)
    return cs.resource if cs is not None else None


def _systems_named(ctx: Context, vs: JSON | None, seen: frozenset[int] = frozenset()) -> set[str]:
    if vs is None or id(vs) in seen:
        return set()
    out: set[str] = set()
    for inc in (vs.get("compose") or {}).get("include") or []:
        if inc.get("system"):
            out.add(inc["system"])
        for v in inc.get("valueSet") or []:
            out |= _systems_named(ctx, ctx.value_set(v), seen | {id(vs)})
    return out
