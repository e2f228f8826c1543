"""What a value set needs of its code systems and what the build holds of them: the one place
that knows which answers the content loaded cannot give.

A code system held only in part (content `fragment`, `example` or `not-present`: DICOM's SNOMED
CT and LOINC subsets, say) can confirm the codes it lists and the relations it states, never
their absence: a filter or a whole-system include over it cannot say "not a member", and an
expansion of it is not closed. An enumeration (`include.concept`) needs nothing of the code system
to decide membership.
"""
from dataclasses import dataclass, field
from typing import Any

from termsvc.fhir import messages
from termsvc.results import JSON, Issue

PARTIAL_CONTENT = ("fragment", "example", "not-present")
HIERARCHY_OPS = ("is-a", "descendent-of", "generalizes", "is-not-a", "child-of", "descendent-leaf")
SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"
# what to load for the code systems whose source is known
SOURCES = {
    SNOMED: "a SNOMED CT RF2 release: termsvc build --snomed RELEASE",
    LOINC: "a LOINC release: termsvc build --loinc RELEASE",
    "http://unitsofmeasure.org": "UCUM, which no FHIR package holds in full (its units are a grammar)",
    "http://dicom.nema.org/resources/ontology/DCM": "DICOM (built in from pydicom)",
}


def how_to_load(system: str) -> str:
    """What to load so that the build holds `system` in full."""
    if system in SOURCES:
        return SOURCES[system]
    if system.startswith("http://terminology.hl7.org/"):
        return "HL7 Terminology: termsvc build --package hl7.terminology.r5#VERSION"
    if system.startswith("http://hl7.org/fhir/"):
        return "FHIR core: termsvc build --package hl7.fhir.r5.core#5.0.0"
    return f"a FHIR package or file with the CodeSystem {system}: termsvc build --package NAME#VERSION | --fhir FILE"


def describe_filters(filters: list[JSON]) -> str:
    return " and ".join(f"'{f.get('property')} {f.get('op')} {f.get('value')}'" for f in filters)


def missing_part(filters: list[JSON]) -> str:
    """What a fragment lacks for these filters."""
    if any(f.get("property") in ("concept", "code") and f.get("op") in HIERARCHY_OPS for f in filters):
        return "its hierarchy"
    if any(f.get("property") == "constraint" for f in filters):
        return "the concepts and relationships the expression needs"
    return "the concept properties the filter reads"


@dataclass(slots=True)
class Undecided:
    """An include (or exclude) that cannot settle a code's membership with the content loaded."""
    system: str
    version: str | None          # the version held (a fragment's)
    wanted: str | None           # the version the include asks for (None: any)
    content: str                 # what the build holds of it: fragment, example, not-present
    filters: list[JSON] = field(default_factory=list)   # [] for a whole-system include
    excluding: bool = False

    def canonical(self) -> str:
        """What the answer depends on and the build lacks: the code system (in the wanted version)."""
        return f"{self.system}|{self.wanted}" if self.wanted else self.system

    def issue(self, code: str, vs: str, expression: str) -> Issue:
        """The $validate-code issue of a filter it could not evaluate: which code system and version, why,
        and what to load."""
        return messages.issue("error", "not-found", "vs-filter-not-evaluable", "not-found", expression, code=code,
                              vs=vs, system=self.system, version=self.version, content=self.content,
                              role="excludes" if self.excluding else "selects", filters=describe_filters(self.filters),
                              missing=missing_part(self.filters), fix=how_to_load(self.system))

    def expansion_reason(self) -> str:
        if not self.filters:
            return messages.text("unclosed-fragment", system=self.system)
        return messages.text("unclosed-filter", role="excludes" if self.excluding else "selects", system=self.system,
                             filters=describe_filters(self.filters), version=self.version, content=self.content,
                             missing=missing_part(self.filters), fix=how_to_load(self.system))


def unclosed(composer: Any, vs: JSON, seen: frozenset[object] = frozenset()) -> list[Undecided]:
    """The includes and excludes of vs (and of the value sets it imports) whose part of an
    expansion depends on content the build does not hold. (`composer`: an ops.compose.Composer, which
    imports this module.)"""
    key = vs.get("url") or id(vs)
    if key in seen:
        return []
    out: list[Undecided] = []
    compose = vs.get("compose") or {}
    for excluding, incs in ((False, compose.get("include") or []), (True, compose.get("exclude") or [])):
        for inc in incs:
            if inc.get("system") and not inc.get("concept"):
                iv = composer.include_version(inc, vs)
                if iv.cs is not None and iv.cs.content in PARTIAL_CONTENT:
                    out.append(Undecided(iv.system, iv.cs.version, iv.wanted, iv.cs.content,
                                         list(inc.get("filter") or []), excluding))
            for canonical in inc.get("valueSet") or []:
                sub = composer.ctx.value_set(canonical)
                if sub is not None:
                    out += unclosed(composer, sub, seen | {key})
    return out
