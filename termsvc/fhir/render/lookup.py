"""$lookup as Parameters (the same in R4 and R5)."""
from termsvc.fhir.outcome import outcome
from termsvc.fhir.params import Params
from termsvc.results import JSON, Designation, Issue, Lookup


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
    for d in answer.designations:
        out.append({"name": "designation", "part": _designation(d)})
    for p in answer.properties:
        part: list[JSON] = [{"name": "code", "valueCode": p.code}, {"name": "value", p.key: p.value}]
        if p.description:
            part.append({"name": "description", "valueString": p.description})
        out.append({"name": "property", "part": part})
    for s in answer.used_supplements:
        out.append({"name": "used-supplement", "valueCanonical": s})
    return {"resourceType": "Parameters", "parameter": out}


def said_unused(answer: JSON, params: Params, no_effect: tuple[tuple[str, str], ...]) -> JSON:
    """The $lookup answer with an `issues` OperationOutcome (as $validate-code's) holding an informational
    issue for each parameter given that changes nothing here (Operation.without_effect)."""
    issues = [Issue("information", "informational", text, expression=[name])
              for name, text in no_effect if params.has(name)]
    if issues:
        answer["parameter"].append({"name": "issues", "resource": outcome(issues)})
    return answer


def _designation(d: Designation) -> list[JSON]:
    part: list[JSON] = []
    if d.language:
        part.append({"name": "language", "valueCode": d.language})
    if d.use:
        part.append({"name": "use", "valueCoding": d.use})
    if d.source:
        part.append({"name": "source", "valueCanonical": d.source})
    part.append({"name": "value", "valueString": d.value})
    return part
