"""/openapi.json: the HTTP API described once, in OpenAPI 3 (apispec with marshmallow schemas).

Each FHIR operation's parameters are one marshmallow schema (`OPERATION_PARAMETERS`); from it come
both shapes of the operation: GET with the parameters in the query string (resources excepted) and
POST with a FHIR `Parameters` body naming the same parameters. The operations are those the router
serves (dispatch.OPERATIONS), on both bases (/fhir: R5, /r4/fhir: R4). The other endpoints (metadata,
read, search, batch, the probes, /metrics, this document, the admin API when it is on) follow.
Every error is an OperationOutcome (4xx; a 5xx would be a bug).
"""
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from termsvc.api.dispatch import OPERATIONS
from termsvc.api.metadata import SOFTWARE_VERSION
from termsvc.api.suggest import openapi_paths as suggest_paths

BASES = (("/fhir", "FHIR R5"), ("/r4/fhir", "FHIR R4"))
FHIR_JSON = "application/fhir+json"


def _s(description: str, repeat: bool = False):
    field = fields.String(metadata={"description": description})
    return fields.List(fields.String(), metadata={"description": description}) if repeat else field


def _b(description: str):
    return fields.Boolean(metadata={"description": description})


def _i(description: str, minimum: int = 0):
    return fields.Integer(metadata={"description": description, "minimum": minimum})


def _coding(description: str):
    """A Coding: `system|code` in a query string, valueCoding in a Parameters body."""
    return fields.String(metadata={"description": description + " (system|code in a query string)"})


def _r(description: str, kind: str):
    """A parameter only a POST body can carry: a resource, a Coding or a CodeableConcept."""
    return fields.Raw(metadata={"description": description, "post_only": kind})


def params(name: str, *groups: dict, **declared) -> type[Schema]:
    """An operation's parameters: shared groups, then its own (a keyword's `_` is the parameter's `-`)."""
    merged = {k: v for group in groups for k, v in group.items()}
    merged.update({k.replace("_", "-"): v for k, v in declared.items()})
    return Schema.from_dict(merged, name=name)


_VERSIONS = {
    "system-version": _s("system|version: the version of a code system to use when none is stated", repeat=True),
    "check-system-version": _s("system|version: refuse any other version", repeat=True),
    "force-system-version": _s("system|version: use this version whatever is stated", repeat=True),
    "default-to-latest-version": _b("take the latest version when the one asked for is not loaded"),
    "tx-resource": _r("a CodeSystem, ValueSet or ConceptMap used for this request only", "resource"),
    "cache-id": _s("keep the tx-resources of this request for later ones with the same cache-id"),
}
_VALUE_SET = dict(url=_s("canonical URL of the value set (url|version allowed)"),
                  valueSet=_r("the value set itself", "resource"),
                  valueSetVersion=_s("version of the value set"),
                  displayLanguage=_s("language of the displays (else Accept-Language)"),
                  activeOnly=_b("only active codes"),
                  useSupplement=_s("canonical URL of a code system supplement to use", repeat=True),
                  **{"default-valueset-version": _s("url|version of an imported value set without a version",
                                                    repeat=True)})
_CODING = dict(code=_s("the code"), system=_s("the code system's canonical URL"),
               systemVersion=_s("the code system's version"), version=_s("the code system's version"),
               display=_s("the display to check"), coding=_coding("a Coding"),
               codeableConcept=_r("a CodeableConcept", "CodeableConcept"),
               displayLanguage=_s("language of the display"),
               **{"lenient-display-validation": _b("a wrong display is a warning, not an error")})

OPERATION_PARAMETERS = {
    ("ValueSet", "expand"): params(
        "ExpandParameters", _VALUE_SET, _VERSIONS, context=_s("the element the value set is bound to"),
        filter=_s("text filter: every word starts a word of the display, code or a designation"),
        count=_i("codes per page"), offset=_i("codes skipped"),
        includeDesignations=_b("include designations"), designation=_s("designations to include", repeat=True),
        includeDefinition=_b("include the value set's definition"), excludeNested=_b("a flat list"),
        excludeNotForUI=_b("leave out abstract codes"), property=_s("properties to include", repeat=True)),
    ("ValueSet", "validate-code"): params(
        "ValueSetValidateCodeParameters", _VALUE_SET, _CODING, _VERSIONS,
        abstract=_b("an abstract code is valid"), inferSystem=_b("infer the code system from the value set"),
        valueset_membership_only=_b("check membership only, not the display")),
    ("ValueSet", "batch-validate-code"): params(
        "BatchValidateCodeParameters", _VALUE_SET, _VERSIONS,
        validation=_r("one validation request (its parts: the $validate-code parameters)", "parts")),
    ("CodeSystem", "validate-code"): params(
        "CodeSystemValidateCodeParameters", _CODING, _VERSIONS, url=_s("canonical URL of the code system"),
        codeSystem=_r("the code system itself", "resource")),
    ("CodeSystem", "lookup"): params(
        "LookupParameters", _VERSIONS, system=_s("the code system's canonical URL"), code=_s("the code"),
        version=_s("the code system's version"), coding=_coding("a Coding"),
        property=_s("properties to return", repeat=True), displayLanguage=_s("language of the display"),
        useSupplement=_s("canonical URL of a supplement", repeat=True)),
    ("CodeSystem", "subsumes"): params(
        "SubsumesParameters", _VERSIONS, codeA=_s("the first code"), codeB=_s("the second code"),
        system=_s("the code system's canonical URL"), version=_s("the code system's version"),
        codingA=_coding("the first Coding"), codingB=_coding("the second Coding")),
    ("ConceptMap", "translate"): params(
        "TranslateParameters", _VERSIONS, url=_s("canonical URL of the concept map"),
        conceptMap=_r("the concept map itself", "resource"), conceptMapVersion=_s("version of the concept map"),
        sourceCode=_s("the code to translate"), system=_s("its code system"), version=_s("its version"),
        sourceSystem=_s("its code system"), sourceCoding=_coding("the Coding to translate"),
        sourceCodeableConcept=_r("the CodeableConcept to translate", "CodeableConcept"),
        targetCode=_s("a target code: translate in reverse"), targetCoding=_coding("a target Coding"),
        targetCodeableConcept=_r("a target CodeableConcept", "CodeableConcept"),
        sourceScope=_s("value set of the source"), targetScope=_s("value set of the targets"),
        targetSystem=_s("code system of the targets"),
        code=_s("R4: the code to translate"), source=_s("R4: value set of the source"),
        target=_s("R4: value set of the targets"), targetsystem=_s("R4: code system of the targets"),
        reverse=_b("R4: translate from target to source (an error on R5)")),
}
RESULTS = {"expand": "ValueSet"}
INSTANCE_LEVEL = {"expand", "validate-code", "lookup", "subsumes", "translate"}

# JSON schemas of the FHIR shapes the API takes and gives (only what the API relies on)
RESOURCE = {"type": "object", "required": ["resourceType"], "properties": {"resourceType": {"type": "string"}}}
OUTCOME = {"type": "object", "required": ["resourceType", "issue"],
           "properties": {"resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                          "issue": {"type": "array", "minItems": 1, "items": {
                              "type": "object", "required": ["severity", "code"],
                              "properties": {"severity": {"type": "string",
                                                          "enum": ["fatal", "error", "warning", "information"]},
                                             "code": {"type": "string"},
                                             "details": {"type": "object",
                                                         "properties": {"text": {"type": "string"}}}}}}}}


def _typed(resource_type: str) -> dict:
    return {"type": "object", "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string", "enum": [resource_type]}}}


def _parameters_body(names: list[str]) -> dict:
    return {"type": "object", "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string", "enum": ["Parameters"]},
                           "parameter": {"type": "array", "items": {
                               "type": "object", "required": ["name"],
                               "properties": {"name": {"type": "string", "enum": names}},
                               "additionalProperties": True}}}}


def _json(schema) -> dict:
    return {FHIR_JSON: {"schema": schema}}


ERRORS = {"4XX": {"description": "The request cannot be answered: an OperationOutcome (400 bad parameter, 404"
                                 " unknown resource, 405 method, 406 not JSON, 413 too large, 415 media type,"
                                 " 422 too costly)", "content": _json({"$ref": "#/components/schemas/OperationOutcome"})}}


def _ok(description: str, schema: dict, content_type: str = FHIR_JSON) -> dict:
    return {"200": {"description": description, "content": {content_type: {"schema": schema}}}, **ERRORS}


def _operation_paths(spec: APISpec) -> None:
    for (rtype, op), _handler in sorted(OPERATIONS.items()):
        schema = OPERATION_PARAMETERS[(rtype, op)]
        post_only = [name for name, f in schema().fields.items() if f.metadata.get("post_only")]
        names = sorted(f.data_key or name for name, f in schema().fields.items())
        result = RESULTS.get(op, "Parameters")
        for base, edition in BASES:
            paths = [(f"{base}/{rtype}/${op}", [])]
            if op in INSTANCE_LEVEL:
                paths.append((f"{base}/{rtype}/{{id}}/${op}", [{"in": "path", "name": "id", "required": True,
                                                                  "schema": {"type": "string"}}]))
            for path, path_params in paths:
                summary = f"{rtype} ${op} ({edition})"
                spec.path(path=path, operations={
                    "get": {"summary": summary, "tags": [edition], "operationId": _op_id("get", path),
                            "parameters": path_params + [{"in": "query", "schema": schema(exclude=post_only)}],
                            "responses": _ok(f"The {result}", _typed(result))},
                    "post": {"summary": summary + ", parameters in a Parameters resource", "tags": [edition],
                             "operationId": _op_id("post", path), "parameters": path_params,
                             "requestBody": {"required": True, "content": _json(_parameters_body(names))},
                             "responses": _ok(f"The {result}", _typed(result))}})


def _op_id(method: str, path: str) -> str:
    return method + "".join(ch if ch.isalnum() else "_" for ch in path)


SEARCH = [("url", "canonical URL"), ("version", "version"), ("name", "name (prefix)"), ("title", "title (contains)"),
          ("status", "status"), ("_id", "id"), ("_summary", "true: without the content; count: only the total"),
          ("_count", "entries per page (at most 1000)"), ("_offset", "entries skipped")]


def _fhir_paths(spec: APISpec) -> None:
    for base, edition in BASES:
        tag = [edition]
        spec.path(path=f"{base}/metadata", operations={"get": {
            "summary": f"CapabilityStatement, or TerminologyCapabilities with mode=terminology ({edition})",
            "tags": tag, "operationId": _op_id("get", f"{base}/metadata"),
            "parameters": [{"in": "query", "name": "mode", "schema": {"type": "string", "enum": ["terminology"]}}],
            "responses": _ok("The statement", RESOURCE)}})
        spec.path(path=f"{base}/$versions", operations={"get": {
            "summary": f"The FHIR versions spoken ({edition})", "tags": tag,
            "operationId": _op_id("get", f"{base}/$versions"), "responses": _ok("Parameters", _typed("Parameters"))}})
        for rtype in ("CodeSystem", "ValueSet", "ConceptMap"):
            spec.path(path=f"{base}/{rtype}", operations={"get": {
                "summary": f"Search {rtype} ({edition})", "tags": tag, "operationId": _op_id("get", f"{base}/{rtype}"),
                "parameters": [{"in": "query", "name": n, "description": d,
                                "schema": {"type": "integer", "minimum": 0} if n in ("_count", "_offset")
                                else {"type": "string"}} for n, d in SEARCH],
                "responses": _ok("A searchset Bundle", _typed("Bundle"))}})
            spec.path(path=f"{base}/{rtype}/{{id}}", operations={"get": {
                "summary": f"Read a {rtype} ({edition})", "tags": tag,
                "operationId": _op_id("get", f"{base}/{rtype}/id"),
                "parameters": [{"in": "path", "name": "id", "required": True, "schema": {"type": "string"}}],
                "responses": _ok(f"The {rtype}", _typed(rtype))}})
        spec.path(path=base, operations={"post": {
            "summary": f"FHIR batch of operation requests ({edition})", "tags": tag, "operationId": _op_id("post", base),
            "requestBody": {"required": True, "content": _json({**_typed("Bundle"), "properties": {
                "resourceType": {"type": "string", "enum": ["Bundle"]}, "type": {"type": "string", "enum": ["batch"]},
                "entry": {"type": "array", "items": {"type": "object"}}}})},
            "responses": _ok("A batch-response Bundle", _typed("Bundle"))}})


def _service_paths(spec: APISpec, admin: bool, metrics: bool) -> None:
    def plain(path, summary, description, schema, content_type="application/json"):
        spec.path(path=path, operations={"get": {
            "summary": summary, "tags": ["service"], "operationId": _op_id("get", path),
            "responses": {"200": {"description": description, "content": {content_type: {"schema": schema}}}}}})
    plain("/health", "Liveness: the process answers", "ok", {"type": "object"}, FHIR_JSON)
    spec.path(path="/ready", operations={"get": {
        "summary": "Readiness: the content database is open and answers a query", "tags": ["service"],
        "operationId": "get_ready", "responses": {
            "200": {"description": "ready", "content": _json({"type": "object"})},
            "503": {"description": "not ready: an OperationOutcome",
                    "content": _json({"$ref": "#/components/schemas/OperationOutcome"})}}}})
    if metrics:
        plain("/metrics", "Prometheus metrics of every worker", "The exposition format", {"type": "string"},
              "text/plain")
    plain("/openapi.json", "This description", "OpenAPI 3", {"type": "object"})
    _review_paths(spec)
    suggest_paths(spec, ERRORS)
    if admin:
        from termsvc.api.admin import openapi_paths   # described where it is served
        openapi_paths(spec, ERRORS)


def _review_paths(spec: APISpec) -> None:
    """The mapping tables' review page (termsvc/api/review.py): HTML, and downloads of each table."""
    table = {"in": "path", "name": "table", "required": True, "schema": {"type": "string"},
             "description": "the table's name"}
    html = {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}, **ERRORS}
    spec.path(path="/mappings", operations={"get": {
        "summary": "Review page: every mapping table loaded, with its coverage; q finds a local code in all of them",
        "tags": ["mappings"], "operationId": "get_mappings",
        "parameters": [{"in": "query", "name": "q", "schema": {"type": "string"}}], "responses": html}})
    spec.path(path="/mappings/{table}", operations={"get": {
        "summary": "One table's rows, filterable by status and by problem", "tags": ["mappings"],
        "operationId": "get_mappings_table",
        "parameters": [table, {"in": "query", "name": "status", "schema": {"type": "string"}},
                       {"in": "query", "name": "problem", "schema": {"type": "string"}}], "responses": html}})
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for path, summary, fmt, media in (
            ("/mappings/{table}.csv", "The table as CSV", "csv", "text/csv"),
            ("/mappings/{table}.xlsx", "The table as XLSX", "xlsx", xlsx),
            ("/mappings/{table}/suggestions.xlsx", "The table with mapping suggestions for its rows without a"
             " target, as XLSX (draft rows, a dropdown of the candidates; 422 past the time limit: ask again)",
             "suggestions_xlsx", xlsx)):
        spec.path(path=path, operations={"get": {
            "summary": summary, "tags": ["mappings"], "operationId": f"get_mappings_{fmt}", "parameters": [table],
            "responses": {"200": {"description": summary, "content": {media: {"schema": {"type": "string"}}}},
                          **ERRORS}}})


def build_spec(admin: bool = False, metrics: bool = True) -> dict:
    """The description of the API port: with the admin API when it is on, /metrics unless the
    management port serves it."""
    spec = APISpec(title="termsvc", version=SOFTWARE_VERSION, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "FHIR terminology server for the HL7 Europe Imaging Report IG: "
                                        "$expand, $validate-code, $lookup, $subsumes, $translate, read and search"
                                        " on /fhir (R5) and /r4/fhir (R4). JSON only: XML asked for is a 406."})
    spec.components.schema("OperationOutcome", OUTCOME)
    _operation_paths(spec)
    _fhir_paths(spec)
    _service_paths(spec, admin, metrics)
    return spec.to_dict()
