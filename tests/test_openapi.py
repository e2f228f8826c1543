"""/openapi.json: one description of every endpoint, and a schemathesis run against it (a few examples per
operation here; scripts/fuzz_openapi.py is the full run): no 5xx, every 4xx an OperationOutcome, answers
as described."""
import importlib.util
import os

import schemathesis

from conftest import PROJECT_DIR
from termsvc.api.app import create_app
from termsvc.api.dispatch import OPERATIONS
from termsvc.api.openapi import build_spec
from termsvc.fhir.operations import OPERATIONS as DECLARED


def load_fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_openapi", os.path.join(PROJECT_DIR, "scripts",
                                                                                "fuzz_openapi.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_served_and_openapi_3(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.content_type == "application/json"
    doc = r.get_json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "termsvc"
    schemathesis.openapi.from_dict(doc)   # loads (and checks the shape of) the description


def posted_names(item) -> list[str]:
    body = item["post"]["requestBody"]["content"]["application/fhir+json"]["schema"]
    return [n for entry in body["properties"]["parameter"]["items"]["oneOf"]
            for n in entry["properties"]["name"]["enum"]]


def test_every_operation_on_both_bases_with_get_and_post_as_declared():
    doc = build_spec()
    assert set(DECLARED) == set(OPERATIONS)   # one declaration per operation the router serves
    for op in DECLARED.values():
        for base, edition in (("/fhir", "R5"), ("/r4/fhir", "R4")):
            item = doc["paths"][f"{base}/{op.resource}/${op.name}"]
            assert set(item) == {"get", "post"}
            assert (f"{base}/{op.resource}/{{id}}/${op.name}" in doc["paths"]) == op.instance
            advertised = [p.name for p in op.advertised(edition)]
            assert posted_names(item) == advertised
            names = [p["name"] for p in item["get"]["parameters"]]
            assert names == [p.name for p in op.advertised(edition)
                             if p.type not in ("Resource", "Parameters", "CodeableConcept")]
            assert item["get"]["responses"]["4XX"]["content"]["application/fhir+json"]["schema"]["$ref"] \
                == "#/components/schemas/OperationOutcome"
    get = {p["name"]: p for p in doc["paths"]["/fhir/ValueSet/$expand"]["get"]["parameters"]}
    assert get["count"]["schema"]["type"] == "integer" and get["activeOnly"]["schema"]["type"] == "boolean"
    assert get["system-version"]["schema"]["type"] == "array" and "tx-resource" not in get
    assert "excludePostCoordinated" not in get   # accepted, but changes nothing here: not advertised
    assert "tx-resource" in posted_names(doc["paths"]["/fhir/ValueSet/$expand"])
    r4 = [p["name"] for p in doc["paths"]["/r4/fhir/ConceptMap/$translate"]["get"]["parameters"]]
    r5 = [p["name"] for p in doc["paths"]["/fhir/ConceptMap/$translate"]["get"]["parameters"]]
    assert {"code", "targetsystem", "reverse"} <= set(r4) and not {"sourceCode", "targetSystem"} & set(r4)
    assert {"sourceCode", "targetSystem"} <= set(r5) and not {"code", "targetsystem", "reverse"} & set(r5)
    for path in ("/health", "/ready", "/metrics", "/openapi.json", "/fhir/metadata", "/fhir", "/fhir/ValueSet",
                 "/fhir/ValueSet/{id}", "/r4/fhir/ConceptMap/{id}/$translate", "/mappings", "/mappings/{table}.xlsx"):
        assert path in doc["paths"], path


def test_admin_paths_only_when_the_admin_api_is_on(db_path):
    off = create_app(db_path, {"access_log": "off"}).test_client().get("/openapi.json").get_json()
    on = create_app(db_path, {"access_log": "off", "admin_token": "t"}).test_client().get("/openapi.json").get_json()
    assert not [p for p in off["paths"] if p.startswith("/admin")]
    assert {"/admin/reload", "/admin/jobs", "/admin/jobs/{id}", "/admin/mappings"} <= set(on["paths"])
    assert on["paths"]["/admin/reload"]["post"]["security"] == [{"adminToken": []}]
    assert on["components"]["securitySchemes"]["adminToken"] == {"type": "http", "scheme": "bearer"}


def test_schemathesis_finds_no_server_error_and_only_operation_outcomes(db_path):
    fuzz = load_fuzz()
    app = create_app(db_path, {"access_log": "off", "admin_token": "not-guessable"})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    tally = fuzz.run(schema, examples=3, call=lambda case: case.call())
    assert tally.operations >= 70
    assert tally.requests >= 300
    assert tally.failures == [], tally.failures[:5]
    assert not [s for s in tally.by_status if s >= 500]
    assert {200, 400, 404} <= set(tally.by_status)   # it reached the operations, not only the refusals


def test_the_checks_catch_what_they_must(db_path):
    """The fuzz checks fail an answer that breaks a rule (a check that cannot fail proves nothing)."""
    fuzz = load_fuzz()
    schema = schemathesis.openapi.from_wsgi("/openapi.json", create_app(db_path, {"access_log": "off"}))
    op = schema["/fhir/CodeSystem/$lookup"]["GET"]
    case = op.Case(query={"system": "x", "code": "y"})

    from schemathesis.core.transport import Response
    good = case.call()
    assert fuzz.problems_of(case, good) == []
    for status, body in ((500, b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"x"}]}'),
                         (400, b'{"error": "no"}'), (404, b"not json")):
        bad = Response(status_code=status, headers={"content-type": ["application/fhir+json"]}, content=body,
                       request=good.request, elapsed=0.0, verify=False)
        assert fuzz.problems_of(case, bad), (status, body)


def test_openapi_over_http(live_server):
    status, body, _ = live_server.get("/openapi.json")
    assert status == 200 and "/fhir/ValueSet/$expand" in body["paths"]


def test_each_path_answers_the_methods_described_and_names_them(db_path):
    """What schemathesis' unsupported_method and allow_header_conformance check, for every path at once: a
    method the description does not give a path is a 405 OperationOutcome whose Allow names exactly the
    described ones (with HEAD and OPTIONS, which HTTP implies), and OPTIONS says the same."""
    app = create_app(db_path, {"access_log": "off", "admin_token": "t"})
    client = app.test_client()
    auth = {"Authorization": "Bearer t"}   # (the admin API's: else its paths answer 401 first)
    for path, item in client.get("/openapi.json").get_json()["paths"].items():
        url = path.replace("{id}", "x").replace("{table}", "t")
        described = {m.upper() for m in item} | {"OPTIONS"} | ({"HEAD"} if "get" in item else set())
        r = client.options(url, headers=auth)
        assert r.status_code == 204 and set(r.headers["Allow"].replace(" ", "").split(",")) == described, (path, r)
        for method in {"GET", "POST", "PUT", "DELETE", "PATCH", "TRACE"} - described:
            r = client.open(url, method=method, headers=auth)
            assert r.status_code == 405 and r.get_json()["resourceType"] == "OperationOutcome", (method, path)
            assert set(r.headers["Allow"].replace(" ", "").split(",")) == described, (method, path)
