"""$validate-code (both kinds) and $batch-validate-code as Parameters (the same in R4 and R5)."""
from termsvc.fhir.outcome import outcome
from termsvc.results import JSON, BatchValidation, Failure, Validation


def validation(v: Validation) -> JSON:
    out: list[JSON] = []
    if v.codeable_concept is not None:
        out.append({"name": "codeableConcept", "valueCodeableConcept": v.codeable_concept})
    if v.code is not None:
        out.append({"name": "code", "valueCode": v.code})
    if v.display is not None:
        out.append({"name": "display", "valueString": v.display})
    if v.inactive:
        out.append({"name": "inactive", "valueBoolean": True})
    if v.issues:
        out.append({"name": "issues", "resource": outcome(v.issues)})
    if v.messages:
        out.append({"name": "message", "valueString": v.message})
    if v.normalized_code is not None:
        out.append({"name": "normalized-code", "valueCode": v.normalized_code})
    out.append({"name": "result", "valueBoolean": v.result})
    if v.status is not None:
        out.append({"name": "status", "valueCode": v.status})
    if v.system is not None:
        out.append({"name": "system", "valueUri": v.system})
    if v.version is not None:
        out.append({"name": "version", "valueString": v.version})
    for u in v.unknown_systems:
        out.append({"name": "x-unknown-system", "valueCanonical": u})
    for u in v.caused_by:
        out.append({"name": "x-caused-by-unknown-system", "valueCanonical": u})
    return {"resourceType": "Parameters", "parameter": out}


def batch_validation(b: BatchValidation) -> JSON:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "validation", "resource": outcome(v.issues) if isinstance(v, Failure) else validation(v)}
        for v in b.validations]}
