"""CodeSystem/$lookup and CodeSystem/$subsumes."""
from collections.abc import Sequence

from termsvc.fhir import messages
from termsvc.fhir.codesystem import FlatConcept
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Params
from termsvc.ops.completeness import PARTIAL_CONTENT
from termsvc.ops.context import Context, Provider, canonical_label, split_canonical, vurl
from termsvc.ops.identifiers import input_error
from termsvc.ops.language import PREFERRED_FOR_LANGUAGE, LanguagePrefs, choose_display, display_language
from termsvc.ops.systems import named_otherwise
from termsvc.results import JSON, Designation, Lookup, Property, Subsumption


def _coding_arg(params: Params, code_name: str = "code", coding_name: str = "coding"
                ) -> tuple[str | None, str | None, str | None]:
    coding = params.get(coding_name)
    if isinstance(coding, dict):
        return coding.get("system"), coding.get("code"), coding.get("version")
    return params.str("system"), params.str(code_name), params.str("version")


def _resolve(ctx: Context, system: str | None, version: str | None, supplements: Sequence[str] = ()) -> Provider:
    if not system:
        raise messages.error("no-system-given", issue_code="required")
    if version is None and "|" in system:
        system, version = split_canonical(system)
    supps = []
    for s in supplements:
        sj = ctx.supplement(s)
        if sj is None:
            raise messages.error("VALUESET_SUPPLEMENT_MISSING", issue_code="not-found", tx_type="not-found", url=s)
        supps.append(sj)
    cs = ctx.code_system(system, version, supps or None)
    if cs is None:
        raise messages.error("lookup-unknown-system", status=404, issue_code="not-found", tx_type="not-found",
                             system=system + (f"|{version}" if version else ""),
                             diagnostics=named_otherwise(ctx.store, system))   # (a known code system misnamed)
    return cs


def unknown_code(ctx: Context, cs: Provider, code: str) -> OpError:
    """Why a code the code system does not hold cannot be looked up: its system's syntax rules it
    out (400), the code system does not have it (404), or holds only part of it (404, and says so)."""
    malformed = input_error(ctx, cs.url, code)
    if malformed is not None:
        return malformed
    if cs.content in PARTIAL_CONTENT:
        return messages.error("UNKNOWN_CODE_IN_FRAGMENT", status=404, issue_code="not-found", tx_type="not-found",
                              code=code, system=cs.url, version=cs.version, content=cs.content)
    return messages.error("Unknown_Code_in_Version", status=404, issue_code="not-found", tx_type="not-found",
                          code=code, system=cs.url, version=cs.version)


def lookup(ctx: Context, params: Params, accept_language: str | None = None, instance_id: str | None = None
           ) -> Lookup:
    """CodeSystem/$lookup (on the code system whose id is `instance_id`, when given)."""
    instance_url = ctx.instance_url("CodeSystem", instance_id)
    language = display_language(params)
    system, code, version = _coding_arg(params)
    if instance_url:
        system = instance_url
    if code is None:
        raise messages.error("lookup-no-code", issue_code="required")
    supplements = params.all("useSupplement")
    cs = _resolve(ctx, system, version, [s for s in supplements if isinstance(s, str)] if supplements else [])
    concept, _ = cs.find(code)
    if concept is None:
        raise unknown_code(ctx, cs, code)
    designations = cs.designations(concept)
    language = language or accept_language
    display = choose_display(LanguagePrefs(language), cs.language, concept.display, designations)[0] \
        if language else concept.display
    asked = {p for p in params.all("property") if isinstance(p, str)}
    every = not asked or "*" in asked   # (none asked for: every one)

    shown = []
    if every or "designation" in asked:
        if cs.language and concept.display:
            shown.append(Designation(concept.display, cs.language, PREFERRED_FOR_LANGUAGE))
        for d in designations:
            shown.append(Designation(d.get("value"), d.get("language"), d.get("use"),
                                     _designation_source(cs, concept, d) if cs.supplements else None))
    props = []
    seen_codes = set()
    for pcode, key, value in cs.properties(concept):
        if key and pcode is not None and (every or pcode in asked) and pcode not in ("parent", "child"):
            props.append(Property(pcode, key, value))
            seen_codes.add(pcode)
    if (every or "inactive" in asked) and "inactive" not in seen_codes:
        props.append(Property("inactive", "valueBoolean", concept.inactive))
    if every or "parent" in asked:
        for p in cs.parent_codes(concept):
            pc = cs.locate(p)
            props.append(Property("parent", "valueCode", p, pc.display if pc else None))
    if every or "child" in asked:
        for c in cs.children(concept):
            props.append(Property("child", "valueCode", c.code, c.display))
    return Lookup(concept.code, cs.url, cs.resource.get("name") or cs.resource.get("title") or cs.url, cs.version,
                  display, concept.definition if every or "definition" in asked else None, bool(concept.abstract),
                  shown, props, [canonical_label(s) for s in cs.supplements] if cs.supplements else [])


def _designation_source(cs: Provider, concept: FlatConcept, d: JSON) -> str | None:
    """The supplement a designation comes from, if any."""
    for s in cs.supplements:
        for c in s.get("concept", []) or []:
            if c.get("code") == concept.code and d in (c.get("designation", []) or []):
                return vurl(s)
    return None


def subsumes(ctx: Context, params: Params, instance_id: str | None = None) -> Subsumption:
    """CodeSystem/$subsumes (on the code system whose id is `instance_id`, when given)."""
    instance_url = ctx.instance_url("CodeSystem", instance_id)
    sa, ca, va = _coding_arg(params, "codeA", "codingA")
    sb, cb, vb = _coding_arg(params, "codeB", "codingB")
    system = instance_url or params.str("system") or sa or sb
    if ca is None or cb is None:
        raise messages.error("subsumes-codes", issue_code="required")
    if (sa and sa != system) or (sb and sb != system):
        raise messages.error("subsumes-systems")
    cs = _resolve(ctx, system, params.str("version") or va or vb)
    a, _ = cs.find(ca)
    b, _ = cs.find(cb)
    for code, c in ((ca, a), (cb, b)):
        if c is None:
            raise messages.error("Unknown_Code_in_Version", tx_type="invalid-code", code=code, system=cs.url,
                                 version=cs.version)
    assert a is not None and b is not None
    if a.code == b.code:
        outcome = "equivalent"
    elif cs.is_ancestor(a.code, b.code):
        outcome = "subsumes"
    elif cs.is_ancestor(b.code, a.code):
        outcome = "subsumed-by"
    else:
        outcome = "not-subsumed"
    return Subsumption(outcome)
