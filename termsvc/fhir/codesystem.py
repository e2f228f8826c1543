"""Reading a FHIR CodeSystem's concept tree into flat concept records.

Shared by the store writer (which saves the records) and the in-memory code
systems built from `tx-resource` parameters, so both agree on what a concept's
status, abstractness, parents, designations and properties are.
"""
from dataclasses import dataclass
from typing import Any

CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties#"
INACTIVE_STATUSES = {"retired", "inactive"}  # 'deprecated' is still active


@dataclass(slots=True)
class FlatConcept:
    """One concept. flatten() fills the lists; a provider reading the store fills them when
    first asked (None: not read yet)."""
    code: str
    display: str | None = None
    definition: str | None = None
    status: str | None = None
    inactive: bool = False
    abstract: bool = False
    designations: list[dict[str, Any]] | None = None   # FHIR designation dicts
    properties: list[tuple[str | None, str | None, Any]] | None = None     # (code, valueKey, value)
    parents: list[str] | None = None        # parent codes
    extensions: list[dict[str, Any]] | None = None


def property_value(prop: dict[str, Any]) -> tuple[str, Any] | tuple[None, None]:
    """(valueKey, value) of a concept property."""
    for k, v in prop.items():
        if k.startswith("value"):
            return k, v
    return None, None


def property_codes(cs: dict[str, Any]) -> dict[str, str]:
    """Map well-known property meanings to the code this code system uses for them."""
    out = {"status": "status", "inactive": "inactive", "notSelectable": "notSelectable",
           "parent": "parent", "child": "child", "deprecated": "deprecated"}
    for p in cs.get("property", []) or []:
        uri = p.get("uri") or ""
        if uri.startswith(CONCEPT_PROPERTIES):
            out[uri[len(CONCEPT_PROPERTIES):]] = p.get("code")
    return out


def flatten(cs: dict[str, Any]) -> list[FlatConcept]:
    """Depth-first list of the concepts of a CodeSystem resource (R4 or R5)."""
    codes = property_codes(cs)
    out: list[FlatConcept] = []
    by_code: dict[str, FlatConcept] = {}

    def walk(concepts: list[dict[str, Any]] | None, parent: str | None) -> None:
        for c in concepts or []:
            code = c.get("code")
            if not code:  # a concept needs a code (pydicom has one LOINC row without)
                continue
            properties: list[tuple[str | None, str | None, Any]] = []
            parents: list[str] = []
            fc = FlatConcept(code=code, display=c.get("display"), definition=c.get("definition"),
                             designations=list(c.get("designation", []) or []), properties=properties,
                             parents=parents, extensions=list(c.get("extension", []) or []))
            if parent is not None:
                parents.append(parent)
            for p in c.get("property", []) or []:
                key, value = property_value(p)
                pcode = p.get("code")
                properties.append((pcode, key, value))
                if pcode == codes["status"] and isinstance(value, str):
                    fc.status = value
                    if value in INACTIVE_STATUSES:
                        fc.inactive = True
                elif pcode == codes["inactive"] and value is True:
                    fc.inactive = True
                elif pcode == codes["notSelectable"] and value in (True, "true"):
                    fc.abstract = True
                elif pcode in (codes["parent"], "subsumedBy") and isinstance(value, str):
                    if value not in parents:
                        parents.append(value)
            out.append(fc)
            by_code.setdefault(code, fc)
            walk(c.get("concept"), code)

    walk(cs.get("concept"), None)
    # 'child' properties state the edge from the other end
    for fc in out:   # (flatten fills every list: none is None here)
        for pcode, _, value in fc.properties or ():
            if pcode == codes["child"] and isinstance(value, str) and value in by_code:
                parents = by_code[value].parents
                if parents is not None and fc.code not in parents:
                    parents.append(fc.code)
    return out


def strip_concepts(cs: dict[str, Any]) -> dict[str, Any]:
    """The CodeSystem resource without its concept tree (what the store keeps as JSON)."""
    return {k: v for k, v in cs.items() if k != "concept"}
