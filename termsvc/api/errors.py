"""The one error renderer of both routing paths (the operation router and Flask): an exception
becomes an HTTP status and an OperationOutcome; only an unexpected one is a 500 (and logged)."""
import logging

from werkzeug.exceptions import HTTPException, NotFound

from termsvc.api import metrics
from termsvc.deadline import TimeLimitExceeded
from termsvc.fhir.outcome import issue, outcome
from termsvc.ops.refusal import refusal

log = logging.getLogger("termsvc")

# HTTP errors Flask raises (unknown path, wrong method, ...) -> OperationOutcome issue code
TOO_DEEP = "Recursion limit reached"   # orjson's TypeError past 254 levels
HTTP_ISSUE_CODES = {404: "not-found", 405: "not-supported", 415: "not-supported"}


def error_outcome(e: Exception, where: str = "") -> tuple[int, dict]:
    """(HTTP status, OperationOutcome) for an exception raised while answering a request."""
    refused = refusal(e)
    if refused is not None:
        if isinstance(e, TimeLimitExceeded):
            metrics.TALLY.time_limit_hits += 1
        return refused.status, refused.to_outcome()
    if isinstance(e, TypeError) and str(e) == TOO_DEEP:   # orjson's limit, an answer as deep as what was sent
        return 422, outcome([issue("error", "too-costly", "The answer would be nested deeper than the 254 levels"
                                                           " this server writes")])
    if isinstance(e, HTTPException):
        status = e.code or 500   # (every HTTPException Flask raises has its code)
        text = e.description or e.name
        if isinstance(e, NotFound) and where:   # no route: Werkzeug's text speaks of URLs typed by hand
            text = f"Nothing is served at {where}: FHIR R5 is served under /fhir, FHIR R4 under /r4/fhir"
        return status, outcome([issue("error", HTTP_ISSUE_CODES.get(status, "invalid"), text)])
    log.exception("request failed: %s", where)
    return 500, outcome([issue("error", "exception", "Internal error: see the server log")])
