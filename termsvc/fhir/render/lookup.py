"""$lookup as Parameters (the same in R4 and R5)."""
from termsvc.results import JSON, Designation, Lookup, Property


def lookup(answer: Lookup) -> JSON:
    out: list[JSON] = [{"name": "code", "valueCode": answer.code},
                       {"name": "system", "valueUri": answer.system},
                       {"name": "name", "valueString": answer.name}]
    if answer.version:
        out.append({"name": "version", "valueString": answer.version})
    if answer.display:
        out.append({"name": "display", "valueString": answer.display})
    if answer.definition:
        out.append({"name": "definition", "valueString": answer.definition})
    out.append({"name": "abstract", "valueBoolean": answer.abstract})
    out += [_designation(d) for d in answer.designations]
    out += [_property(p) for p in answer.properties]
    out += [{"name": "used-supplement", "valueCanonical": s} for s in answer.used_supplements]
    return {"resourceType": "Parameters", "parameter": out}


def _designation(d: Designation) -> JSON:
    part: list[JSON] = []
    if d.language:
        part.append({"name": "language", "valueCode": d.language})
    if d.use:
        part.append({"name": "use", "valueCoding": d.use})
    if d.source:
        part.append({"name": "source", "valueCanonical": d.source})
    part.append({"name": "value", "valueString": d.value})
    return {"name": "designation", "part": part}


def _property(p: Property) -> JSON:
    part: list[JSON] = [{"name": "code", "valueCode": p.code}, {"name": "value", p.key: p.value}]
    if p.description:
        part.append({"name": "description", "valueString": p.description})
    return {"name": "property", "part": part}
