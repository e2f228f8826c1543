"""The FHIR core bindings of a resource's coded elements, read from the StructureDefinitions of the
FHIR core package the build loaded (their elements are kept in the store: element_def), and the
walk of a resource that finds them - in its backbone elements, data types (Identifier.use,
Quantity.comparator...), contentReferences and contained resources.

An R4 resource is judged with the R4 definitions when the build holds R4 core; the default build
holds R5 core only, so R4 resources are judged with the R5 definitions, except the elements whose R4
binding differs (facts.R4_DIFFERENCES: another value set, another strength, or R4's own codes where
R5 added or dropped some), which are judged by their R4 binding.
"""
from dataclasses import dataclass

from termsvc.bindings.facts import R4_DIFFERENCES

JUDGED = ("required", "extensible", "preferred")   # an example binding constrains nothing
CODED_TYPES = ("CodeableConcept", "Coding", "CodeableReference")
R5_FOR_R4 = ("R4 resources are judged with the FHIR R5 core definitions (R4 core is not loaded), except the"
             " elements whose R4 binding differs")


@dataclass(frozen=True, slots=True)
class Element:
    path: str                 # ImagingStudy.series.modality, Identifier.use
    types: tuple              # its type codes
    content_ref: str | None   # the element whose definition it shares
    strength: str | None
    value_set: str | None
    codes: tuple | None = None   # an R4 difference: (system, the codes R4 allows) of a code element

    @property
    def judged(self) -> bool:
        """Is a value judged against the binding (else only its codes and displays are)?"""
        return self.strength in JUDGED and bool(self.value_set or self.codes)

    @property
    def coded(self) -> bool:
        return bool(self.strength) or any(t in CODED_TYPES for t in self.types)


class Definitions:
    """The elements of one FHIR version's base resources and data types, by path."""

    def __init__(self, rows, differences=()):
        self.by_path = {p: Element(p, tuple(t for t in (types or "").split(",") if t), ref or None, strength, vs)
                        for p, types, ref, strength, vs in rows}
        for path, types, strength, value in differences:
            vs, codes = (None, value) if isinstance(value, tuple) else (value, None)
            self.by_path[path] = Element(path, types, None, strength, vs, codes)
        self.types = {p.split(".", 1)[0] for p in self.by_path}
        self._choices: dict = {}
        for p, e in self.by_path.items():
            if p.endswith("[x]"):
                parent, _, name = p.rpartition(".")
                self._choices.setdefault(parent, []).append((name[:-3], e))

    def __bool__(self) -> bool:
        return bool(self.by_path)

    def element(self, parent: str, key: str) -> tuple[Element | None, str | None]:
        """(the element `key` of the element at `parent`, the type of the value) - a choice element
        (value[x]) by its typed name (valueCodeableConcept)."""
        e = self.by_path.get(f"{parent}.{key}")
        if e is not None:
            return e, e.types[0] if len(e.types) == 1 else None
        for prefix, choice in self._choices.get(parent, ()):
            if key.startswith(prefix) and len(key) > len(prefix):
                typed = key[len(prefix):]
                for t in choice.types:
                    if t.lower() == typed.lower():
                        return choice, t
        return None, None


def load(store, edition: str) -> tuple[Definitions, str | None]:
    """(the definitions R4 or R5 resources are judged with, a note when they are not the edition's own)."""
    own = store.element_definitions(edition)
    if own or edition != "R4":
        return Definitions(own), None
    return Definitions(store.element_definitions("R5"), R4_DIFFERENCES), R5_FOR_R4


def coded_values(defs: Definitions, res: dict):
    """(location, element, value) of every value of a coded element (bound, or of a coded type)."""
    rtype = res.get("resourceType")
    if isinstance(rtype, str) and rtype in defs.types:
        yield from _walk(defs, res, rtype, rtype)


def _walk(defs: Definitions, node: dict, parent: str, location: str):
    for key, value in node.items():
        if key in ("resourceType", "extension", "modifierExtension") or key.startswith("_"):
            continue
        e, type_code = defs.element(parent, key)
        if e is None:
            continue
        many = isinstance(value, list)
        for i, item in enumerate(value if many else [value]):
            where = f"{location}.{key}[{i}]" if many else f"{location}.{key}"
            if item is not None and (e.coded or type_code in CODED_TYPES):
                yield where, e, item
            if not isinstance(item, dict) or type_code in CODED_TYPES:   # (its codings are the value's)
                continue
            if type_code == "Resource" and item.get("resourceType") in defs.types:   # contained, entry.resource
                yield from _walk(defs, item, item["resourceType"], where)
            elif e.content_ref:
                yield from _walk(defs, item, e.content_ref, where)
            elif type_code in ("BackboneElement", "Element") or (type_code is None and not e.types):
                yield from _walk(defs, item, e.path, where)
            elif type_code is not None and type_code in defs.types:
                yield from _walk(defs, item, type_code, where)


def bindings_of(defs: Definitions, resource_type: str) -> list[Element]:
    """The judged core bindings of a resource type's own elements (its backbone elements included)."""
    prefix = resource_type + "."
    return [e for p, e in defs.by_path.items() if p.startswith(prefix) and e.judged]
