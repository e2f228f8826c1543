"""$subsumes as Parameters (the same in R4 and R5)."""
from termsvc.results import JSON, Subsumption


def subsumption(answer: Subsumption) -> JSON:
    return {"resourceType": "Parameters", "parameter": [{"name": "outcome", "valueCode": answer.outcome}]}
