"""$translate's `dependency`: what else the client knows about the concept it translates (R5 parts
`attribute` + `value`, R4 `element` + `concept`), held against the `dependsOn` of each target.

A target maps only where its dependsOn hold ("this mapping is only applicable if the specified data
attribute can be resolved, and it has the specified value"). So with dependencies given:
- a dependsOn whose attribute a dependency names holds when one of them has its value (a Coding: the same
  code, and the same system when both say one; a code or string: the same text, or a Coding with that
  code; a boolean; a Quantity: the same value and unit; a `valueSet`: a Coding in that value set);
- a dependency without an attribute only confirms (a value that matches holds any dependsOn);
- a dependsOn no dependency speaks of cannot be judged: the target stays, with its dependsOn in the
  answer for the client to weigh (as without any dependency);
- a target one of whose dependsOn is contradicted is left out, and the answer's message says why when
  no translation is left.
"""
from collections.abc import Callable
from dataclasses import dataclass

from termsvc.fhir import messages
from termsvc.fhir.convert import quantity_text
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Param, Params
from termsvc.results import JSON, Match

SIMPLE_KEYS = ("valueCode", "valueString", "valueUri", "valueCanonical", "valueId")


@dataclass(frozen=True, slots=True)
class Dependency:
    """One `dependency` of a request: the attribute (R4: element) it is about, None for any, and its value."""
    attribute: str | None
    codings: tuple[tuple[str | None, str], ...] = ()   # (system or None, code)
    texts: tuple[str, ...] = ()                        # a code or a string
    booleans: tuple[bool, ...] = ()
    quantities: tuple[JSON, ...] = ()


def dependencies(params: Params) -> tuple[Dependency, ...]:
    """The request's `dependency` parameters (a 400 for one that cannot be read)."""
    return tuple(_dependency(p, i) for i, p in enumerate(q for q in params.items if q.name == "dependency"))


def _dependency(p: Param, index: int) -> Dependency:
    where = f"dependency[{index}]"
    parts = p.part if p.part is not None else (p.resource or {}).get("parameter") or []
    attribute: str | None = None
    values: list[tuple[str, object]] = []
    for part in parts:
        name = part.get("name")
        key, value = next(((k, v) for k, v in part.items() if k.startswith("value")), (None, None))
        if name in ("attribute", "element"):
            if attribute is not None or not isinstance(value, str) or not value:
                raise _refused(where, f"its {name} must be given once, as a uri")
            attribute = value
        elif name in ("value", "concept") and key is not None:
            if values:
                raise _refused(where, "it gives more than one value")
            values.append((key, value))
        else:
            raise _refused(where, f"it has a part '{name}' ({key or 'no value'})")
    if not values:
        raise _refused(where, "it gives no value (R5: a part 'value', R4: a part 'concept')")
    key, value = values[0]
    if key == "valueCoding" and isinstance(value, dict) and isinstance(value.get("code"), str):
        return Dependency(attribute, codings=((value.get("system"), value["code"]),))
    if key == "valueCodeableConcept" and isinstance(value, dict) and isinstance(value.get("coding", []), list):
        codings = tuple((c.get("system"), c["code"]) for c in value.get("coding", [])
                        if isinstance(c, dict) and isinstance(c.get("code"), str))
        texts = (value["text"],) if isinstance(value.get("text"), str) else ()
        if codings or texts:
            return Dependency(attribute, codings=codings, texts=texts)
    if key in SIMPLE_KEYS and isinstance(value, str):
        return Dependency(attribute, texts=(value,))
    if key == "valueBoolean" and isinstance(value, bool):
        return Dependency(attribute, booleans=(value,))
    if key == "valueQuantity" and isinstance(value, dict) and isinstance(value.get("value"), (int, float)):
        return Dependency(attribute, quantities=(value,))
    raise _refused(where, f"its value ({key}) is not a code, Coding, CodeableConcept, string, boolean or Quantity")


def _refused(where: str, why: str) -> OpError:
    return messages.error("translate-dependency", where=where, why=why)


class DependsOn:
    """The dependsOn of the targets of one map held against a request's dependencies. `in_value_set(url,
    system, code)`: True, False or None (cannot be judged), for a dependsOn by value set."""

    def __init__(self, given: tuple[Dependency, ...], cm: JSON,
                 in_value_set: Callable[[str, str, str], bool | None]):
        self.given = given
        self.in_value_set = in_value_set
        # R5: a dependsOn's attribute is the code of one of the map's additionalAttribute, which has a uri
        self.uris = {a.get("code"): a.get("uri") for a in cm.get("additionalAttribute", []) or []
                     if isinstance(a, dict) and a.get("uri")}

    def kept(self, matches: list[Match], unmet: list[str]) -> list[Match]:
        """The matches none of whose dependsOn the dependencies contradict; what the others needed goes to `unmet`."""
        out = []
        for match in matches:
            failed = next((d for d in match.depends_on if self.holds(d) is False), None)
            if failed is None:
                out.append(match)
            else:
                unmet.append(_condition_text(failed))
        return out

    def holds(self, d: JSON) -> bool | None:
        """Does the dependsOn `d` hold? None: no dependency speaks of its attribute (nor confirms its value)."""
        attribute = d.get("attribute")
        uri = self.uris.get(attribute)
        named = [g for g in self.given if g.attribute is not None and g.attribute in (attribute, uri)]
        if named:
            answers = [self._value_holds(d, g) for g in named]
            return True if True in answers else None if None in answers else False
        if any(self._value_holds(d, g) for g in self.given if g.attribute is None):
            return True
        return None

    def _value_holds(self, d: JSON, g: Dependency) -> bool | None:
        coding = d.get("valueCoding")
        if isinstance(coding, dict):
            code, system = coding.get("code"), coding.get("system")
            return code in g.texts or any(c == code and (not s or not system or s == system) for s, c in g.codings)
        simple = next((d[k] for k in SIMPLE_KEYS if k in d), None)
        if simple is not None:
            return simple in g.texts or any(c == simple for _, c in g.codings)
        if "valueBoolean" in d:   # (R4's dependency is a CodeableConcept: `true` is its code)
            text = str(d["valueBoolean"]).lower()
            return d["valueBoolean"] in g.booleans or text in g.texts or any(c == text for _, c in g.codings)
        if "valueQuantity" in d:
            return any(_same_quantity(d["valueQuantity"], q) for q in g.quantities)
        if d.get("valueSet"):
            answers = [self.in_value_set(d["valueSet"], s, c) for s, c in g.codings if s]
            return True if True in answers else False if answers and all(a is False for a in answers) else None
        return True   # a dependsOn without a value: the attribute is there


def _same_quantity(a: JSON, b: JSON) -> bool:
    return isinstance(a, dict) and a.get("value") == b.get("value") and \
        (a.get("code") or a.get("unit")) == (b.get("code") or b.get("unit"))


def _condition_text(d: JSON) -> str:
    value = next((v for k, v in d.items() if k.startswith("value")), None) or d.get("valueSet")
    if isinstance(value, dict):
        value = f"{value.get('system')}#{value.get('code')}" if "code" in value else quantity_text(value)
    return f"{d.get('attribute')} = {value}" if value is not None else str(d.get("attribute"))


def unmet_note(system: str | None, code: str | None, map_url: str | None, unmet: list[str]) -> str:
    return messages.text("dependency-unmet", count=len(unmet), system=system or "", code=code, map=map_url,
                         conditions="; ".join(dict.fromkeys(unmet)))
