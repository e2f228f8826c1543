"""$translate as Parameters: R5 (`relationship`, a dependsOn / product as `attribute` + `value[x]`) or R4
(`equivalence`, a dependsOn / product as `element` + a `concept` Coding)."""
import orjson

from termsvc.results import JSON, Match, Translation


def translation(answer: Translation, r4: bool = False, to_serialise: bool = False) -> JSON:
    """The answer as a Parameters resource; `to_serialise`: only to be serialised at once (by orjson), so
    the matches made ready by with_wire() stand in it as their bytes."""
    out: list[object] = [] if answer.message is None else [{"name": "message", "valueString": answer.message}]
    out.append({"name": "result", "valueBoolean": answer.result})
    for m in answer.matches:
        out.append(m.wire[r4] if to_serialise and m.wire is not None else _match(m, r4))
    return {"resourceType": "Parameters", "parameter": out}


def with_wire(m: Match) -> Match:
    """`m` with its rendering (R5 and R4) made ready, for a match made once and answered many times: the
    bytes are those translation() writes for it."""
    m.wire = (orjson.Fragment(orjson.dumps(_match(m, False))), orjson.Fragment(orjson.dumps(_match(m, True))))
    return m


def _match(m: Match, r4: bool) -> JSON:
    return {"name": "match", "part": _parts(m, r4)}


def _parts(m: Match, r4: bool) -> list[JSON]:
    parts: list[JSON] = [{"name": "equivalence", "valueCode": m.equivalence} if r4 else
                         {"name": "relationship", "valueCode": m.relationship}]
    if m.concept is not None:
        parts.append({"name": "concept", "valueCoding": m.concept})
    for o in m.depends_on:
        parts.append({"name": "dependsOn", "part": _other(o, r4)})
    for o in m.product:
        parts.append({"name": "product", "part": _other(o, r4)})
    parts.append({"name": "originMap", "valueCanonical": m.origin_map})
    if m.source is not None:
        parts.append({"name": "source", "valueCoding": m.source})
    for c in m.comments:
        parts.append({"name": "message", "valueString": c})
    return parts


def _other(o: JSON, r4: bool) -> list[JSON]:
    """A dependsOn / product of a target: R5 `attribute` + `value[x]`, R4 `element` (the property URI) +
    `concept` (a Coding)."""
    attribute = o.get("attribute") or o.get("property")
    value_key = next((k for k in o if k.startswith("value")), None)
    if r4:
        parts: list[JSON] = [{"name": "element", "valueUri": attribute}] if attribute else []
        if value_key == "valueCoding":
            parts.append({"name": "concept", "valueCoding": o[value_key]})
        elif value_key:
            parts.append({"name": "concept", "valueCoding": {"code": str(o[value_key])}})
        return parts
    parts = [{"name": "attribute", "valueUri": attribute}] if attribute else []
    if value_key:
        parts.append({"name": "value", value_key: o[value_key]})
    return parts
