"""The engine's refusals: a request it will not answer for a reason of its own, as the OpError that says so."""
from termsvc.deadline import TimeLimitExceeded
from termsvc.fhir.outcome import OpError, TooCostly


def refusal(e: BaseException) -> OpError | None:
    """An OpError as it is; past the request's time limit, or too deeply nested, a 422 (too-costly); None
    for anything else (a defect, not an answer)."""
    if isinstance(e, OpError):
        return e
    if isinstance(e, TimeLimitExceeded):
        return TooCostly(str(e))
    if isinstance(e, RecursionError):
        return TooCostly("The request is too deeply nested")
    return None
