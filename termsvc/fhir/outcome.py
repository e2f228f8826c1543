"""OperationOutcome building and the errors operations raise."""

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
MESSAGE_ID_EXT = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"


def issue(severity: str, code: str, text: str, tx_type: str | None = None,
          expression: str | list | None = None, message_id: str | None = None,
          diagnostics: str | None = None) -> dict:
    """One OperationOutcome.issue; tx_type is a code of the tx-issue-type code system,
    message_id the id of the HL7 (FHIR validator) message it corresponds to, diagnostics what
    else helps (the figures, what to do instead)."""
    out = {}
    if message_id:
        out["extension"] = [{"url": MESSAGE_ID_EXT, "valueString": message_id}]
    out["severity"] = severity
    out["code"] = code
    details = {}
    if tx_type:
        details["coding"] = [{"system": TX_ISSUE_TYPE, "code": tx_type}]
    details["text"] = text
    out["details"] = details
    if expression:
        exprs = [expression] if isinstance(expression, str) else list(expression)
        out["expression"] = exprs
    if diagnostics:
        out["diagnostics"] = diagnostics
    return out


def outcome(issues: list) -> dict:
    return {"resourceType": "OperationOutcome", "issue": issues}


class OpError(Exception):
    """An operation failed: rendered as an OperationOutcome with an HTTP status."""

    def __init__(self, text: str, status: int = 400, code: str = "invalid",
                 tx_type: str | None = None, message_id: str | None = None, issues: list | None = None,
                 diagnostics: str | None = None):
        super().__init__(text)
        self.text = text
        self.status = status
        self.code = code
        self.tx_type = tx_type
        self.message_id = message_id
        self.issues = issues
        self.diagnostics = diagnostics

    def to_outcome(self) -> dict:
        if self.issues:
            return outcome(self.issues)
        return outcome([issue("error", self.code, self.text, self.tx_type, message_id=self.message_id,
                              diagnostics=self.diagnostics)])


class NotFound(OpError):
    def __init__(self, text: str, **kw):
        kw.setdefault("code", "not-found")
        kw.setdefault("tx_type", "not-found")
        super().__init__(text, status=404, **kw)


class TooCostly(OpError):
    def __init__(self, text: str, **kw):
        super().__init__(text, status=422, code="too-costly", **kw)


class TooManyCodes(TooCostly):
    """An expansion with more codes than it may have without paging (the server's max_expansion,
    or the client's _limit). $expand says so in the HL7 words (VALUESET_TOO_COSTLY), or - when the
    client asked for limitedExpansion - answers the first codes instead."""
