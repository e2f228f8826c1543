"""Issues, the errors operations raise, and OperationOutcome: the renderer of both."""
from typing import Any

from termsvc.results import JSON, Issue

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
MESSAGE_ID_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"


def issue(severity: str, code: str, text: str, tx_type: str | None = None,
          expression: str | list[str] | None = None, message_id: str | None = None,
          diagnostics: str | None = None) -> Issue:
    """One issue; tx_type is a code of the tx-issue-type code system, message_id the id of the HL7 (FHIR
    validator) message it corresponds to, diagnostics what else helps (the figures, what to do instead)."""
    if expression is None:
        return Issue(severity, code, text, tx_type, [], message_id, diagnostics)
    return Issue(severity, code, text, tx_type, [expression] if isinstance(expression, str) else list(expression),
                 message_id, diagnostics)


def render_issue(i: Issue) -> JSON:
    """An OperationOutcome.issue."""
    out: JSON = {}
    if i.message_id:
        out["extension"] = [{"url": MESSAGE_ID_EXT, "valueString": i.message_id}]
    out["severity"] = i.severity
    out["code"] = i.code
    details: JSON = {}
    if i.tx_type:
        details["coding"] = [{"system": TX_ISSUE_TYPE, "code": i.tx_type}]
    details["text"] = i.text
    out["details"] = details
    if i.expression:
        out["expression"] = list(i.expression)
    if i.diagnostics:
        out["diagnostics"] = i.diagnostics
    return out


def outcome(issues: list[Issue]) -> JSON:
    return {"resourceType": "OperationOutcome", "issue": [render_issue(i) for i in issues]}


class OpError(Exception):
    """An operation failed: rendered as an OperationOutcome with an HTTP status."""

    def __init__(self, text: str, status: int = 400, code: str = "invalid",
                 tx_type: str | None = None, message_id: str | None = None, issues: list[Issue] | None = None,
                 diagnostics: str | None = None):
        super().__init__(text)
        self.text = text
        self.status = status
        self.code = code
        self.tx_type = tx_type
        self.message_id = message_id
        self.issues = issues
        self.diagnostics = diagnostics

    def as_issues(self) -> list[Issue]:
        """What it says: the issues it was given, else one issue of its own."""
        if self.issues:
            return self.issues
        return [Issue("error", self.code, self.text, self.tx_type, [], self.message_id, self.diagnostics)]

    def to_outcome(self) -> JSON:
        return outcome(self.as_issues())


class NotFound(OpError):
    def __init__(self, text: str, **kw: Any):
        kw.setdefault("code", "not-found")
        kw.setdefault("tx_type", "not-found")
        super().__init__(text, status=404, **kw)


class TooCostly(OpError):
    def __init__(self, text: str, **kw: Any):
        super().__init__(text, status=422, code="too-costly", **kw)


class TooManyCodes(TooCostly):
    """An expansion with more codes than it may have without paging (the server's max_expansion,
    or the client's _limit). $expand says so in the HL7 words (VALUESET_TOO_COSTLY), or - when the
    client asked for limitedExpansion - answers the first codes instead."""
