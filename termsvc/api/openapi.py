"""/openapi.json: the HTTP API described once, in OpenAPI 3 (apispec).

The FHIR operations and their parameters come from their declaration (fhir/operations.py): each gets
both shapes on both bases (/fhir: R5, /r4/fhir: R4), GET with the parameters a query string can carry
and POST with a FHIR `Parameters` body whose entries are typed as the server reads them (fhir/params.py).
The other endpoints (metadata, read, search, batch, the probes, /metrics, this document, the admin API
when it is on) follow. Every error is an OperationOutcome (4xx; a 5xx would be a bug).
"""
import re

from apispec import APISpec

from termsvc.api.dispatch import OPERATIONS
from termsvc.api.metadata import SOFTWARE_VERSION
from termsvc.api.suggest import openapi_paths as suggest_paths
from termsvc.fhir.operations import OPERATIONS as DECLARED, R4, R5, READ_PARAMETERS, SEARCH_PARAMETERS
from termsvc.fhir.params import KINDS, LEXICAL, MAX_INT, STRING_KEYS

BASES = (("/fhir", "FHIR R5", R5), ("/r4/fhir", "FHIR R4", R4))
FHIR_JSON = "application/fhir+json"

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


INTEGER_MINIMUM = {"integer": -MAX_INT, "unsignedInt": 0, "positiveInt": 1}


def _value_schema(p) -> dict:
    """The JSON schema of the values of the declared parameter `p` (FHIR's lexical rule of its type)."""
    if p.type == "boolean":
        return {"type": "boolean"}
    if p.type in INTEGER_MINIMUM:
        return {"type": "integer", "minimum": INTEGER_MINIMUM[p.type], "maximum": MAX_INT}
    if p.type in ("Coding", "CodeableConcept"):
        return {"type": "object"}
    if p.values:
        return {"type": "string", "enum": list(p.values)}
    if p.type in LEXICAL:
        schema = {"type": "string", "minLength": 1, "pattern": f"^(?:{LEXICAL[p.type].pattern})$"}
        if p.pattern:   # both rules: the type's, and the syntax the declaration adds
            schema = {"allOf": [schema, {"type": "string", "pattern": f"^(?:{p.pattern})$"}]}
        return schema
    return {"type": "string"}


def _query_parameter(p) -> dict:
    schema = _value_schema(p)
    if p.type == "Coding":
        schema = {"type": "string", "description": "system|code"}
    out = {"in": "query", "name": p.name, "description": p.doc, "required": False}
    if p.repeats:
        return {**out, "schema": {"type": "array", "items": schema}, "style": "form", "explode": True}
    return {**out, "schema": schema}


def _body_entry(p) -> dict:
    """One parameter in a Parameters body: its name and exactly one value of its type."""
    kind = KINDS[p.type]
    holds = {}
    if kind.in_resource:
        types = list(p.resource_types or ("Parameters",))
        holds["resource"] = {"type": "object", "required": ["resourceType"],
                             "properties": {"resourceType": {"type": "string", "enum": types}}}
    if kind.in_parts:
        holds["part"] = {"type": "array", "items": {"type": "object", "required": ["name"],
                                                     "properties": {"name": {"type": "string"}}}}
    keys = sorted(kind.body_keys)
    if kind.body_keys == STRING_KEYS:   # the usual spellings, for a readable description
        keys = ["valueString", "valueCode", "valueUri", "valueCanonical"]
    holds.update((k, _value_schema(p)) for k in keys)
    return {"type": "object", "description": p.doc, "required": ["name"], "additionalProperties": False,
            "oneOf": [{"required": [k]} for k in holds],
            "properties": {"name": {"type": "string", "enum": [p.name]}, "id": {"type": "string"},
                           "extension": {"type": "array", "items": {"type": "object"}}, **holds}}


def _parameters_body(parameters) -> dict:
    return {"type": "object", "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string", "enum": ["Parameters"]},
                           "parameter": {"type": "array", "items": {"oneOf": [_body_entry(p) for p in parameters]}}}}


def _json(schema) -> dict:
    return {FHIR_JSON: {"schema": schema}}


ERRORS = {"4XX": {"description": "The request cannot be answered: an OperationOutcome (400 bad parameter, 404"
                                 " unknown resource, 405 method, 406 not JSON, 413 too large, 415 media type,"
                                 " 422 too costly)", "content": _json({"$ref": "#/components/schemas/OperationOutcome"})}}


def _ok(description: str, schema: dict, content_type: str = FHIR_JSON) -> dict:
    return {"200": {"description": description, "content": {content_type: {"schema": schema}}}, **ERRORS}


def _operation_paths(spec: APISpec) -> None:
    for key in sorted(OPERATIONS):
        op = DECLARED[key]
        for base, edition_name, edition in BASES:
            parameters = op.advertised(edition)
            query = [_query_parameter(p) for p in parameters if KINDS[p.type].query_key]
            body = _parameters_body(parameters)
            paths: list[tuple[str, list[dict]]] = [(f"{base}/{op.resource}/${op.name}", [])]
            if op.instance:
                paths.append((f"{base}/{op.resource}/{{id}}/${op.name}",
                              [{"in": "path", "name": "id", "required": True, "schema": {"type": "string"}}]))
            for path, path_params in paths:
                summary = f"{op.label} ({edition_name}): {op.summary}"
                spec.path(path=path, operations={
                    "get": {"summary": summary, "tags": [edition_name], "operationId": _op_id("get", path),
                            "parameters": path_params + query,
                            "responses": _ok(f"The {op.result}", _typed(op.result))},
                    "post": {"summary": summary + ", parameters in a Parameters resource", "tags": [edition_name],
                             "operationId": _op_id("post", path), "parameters": path_params,
                             "requestBody": {"required": True, "content": _json(body)},
                             "responses": _ok(f"The {op.result}", _typed(op.result))}})


def _op_id(method: str, path: str) -> str:
    return method + "".join(ch if ch.isalnum() else "_" for ch in path)


def _fhir_paths(spec: APISpec) -> None:
    for base, edition, _version in BASES:
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
                "parameters": [{"in": "query", "name": p.name, "description": p.doc, "schema": _value_schema(p),
                                "allowEmptyValue": True}   # (an empty one is left out, as FHIR says)
                               for p in SEARCH_PARAMETERS],
                "responses": _ok("A searchset Bundle", _typed("Bundle"))}})
            spec.path(path=f"{base}/{rtype}/{{id}}", operations={"get": {
                "summary": f"Read a {rtype} ({edition})", "tags": tag,
                "operationId": _op_id("get", f"{base}/{rtype}/id"),
                "parameters": [{"in": "path", "name": "id", "required": True, "schema": {"type": "string"}}]
                + [{"in": "query", "name": p.name, "description": p.doc, "schema": _value_schema(p),
                    "allowEmptyValue": True} for p in READ_PARAMETERS],
                "responses": _ok(f"The {rtype}", _typed(rtype))}})
        spec.path(path=base, operations={"post": {
            "summary": f"FHIR batch of operation requests ({edition})", "tags": tag, "operationId": _op_id("post", base),
            "requestBody": {"required": True, "content": _json({**_typed("Bundle"), "required": ["resourceType", "type"],
                                                                "properties": {
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
                   info={"description": "FHIR terminology server for the HL7 Europe Imaging Report IG: "
                                        "$expand, $validate-code, $lookup, $subsumes, $translate, read and search"
                                        " on /fhir (R5) and /r4/fhir (R4). JSON only: XML asked for is a 406."})
    spec.components.schema("OperationOutcome", OUTCOME)
    _operation_paths(spec)
    _fhir_paths(spec)
    _service_paths(spec, admin, metrics)
    return _with_templates_served(spec.to_dict())


def _with_templates_served(doc: dict) -> dict:
    """A path that a templated path also matches (/mappings/suggest and /mappings/{table}) takes precedence
    in OpenAPI: the methods it gets only through the template (GET: the page of a table named 'suggest') are
    added to it, so that the description lists every method each path answers."""
    paths = doc["paths"]
    for template, item in list(paths.items()):
        if "{" not in template:
            continue
        matches = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$").match
        for path in [p for p in paths if "{" not in p and matches(p)]:
            for method, op in item.items():
                if method not in paths[path]:
                    paths[path][method] = {**op, "operationId": _op_id(method, path),
                                           "parameters": [q for q in op.get("parameters", []) if q["in"] != "path"]}
    return doc
