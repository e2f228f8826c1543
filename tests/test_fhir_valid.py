"""Every kind of response both endpoints produce is valid FHIR, with a third-party model library
as the oracle (fhir.resources: R5 models for /fhir, R4B for /r4/fhir), and ids are unique per
endpoint (issue 13, items 4 and 5)."""
import importlib
import urllib.parse

import pytest

from conftest import CID33, DCM, IG_R4, IG_R5, SCT, as_parameters, param
from termsvc.store.reader import Store

ENDPOINTS = [("/fhir", False), ("/r4/fhir", True)]
RIS = "http://termsvc.example.eu/fhir/CodeSystem/ris-modality-eu"
LOINC = "http://loinc.org"


def _model(resource_type: str, r4: bool):
    module = importlib.import_module(("fhir.resources.R4B." if r4 else "fhir.resources.") + resource_type.lower())
    return getattr(module, resource_type)


def _without_choice_primitive_extensions(obj):
    """fhir.resources has no field for the extensions of a choice-typed primitive inside an
    Extension (`"_valueInteger": {...}` beside `valueInteger`, valid FHIR JSON that IPS ships): the
    one thing taken out before the library judges."""
    if isinstance(obj, dict):
        return {k: _without_choice_primitive_extensions(v) for k, v in obj.items()
                if not (k.startswith("_value") and "url" in obj)}
    if isinstance(obj, list):
        return [_without_choice_primitive_extensions(v) for v in obj]
    return obj


def assert_valid(body: dict, r4: bool, what: str = ""):
    try:
        _model(body["resourceType"], r4).model_validate(_without_choice_primitive_extensions(body))
    except Exception as e:   # the library's own report, shortened
        pytest.fail(f"{'R4' if r4 else 'R5'} {body.get('resourceType')} {what}: not valid FHIR:\n{str(e)[:1500]}")


def get(client, path, status=200):
    r = client.get(path)
    assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json()


def post(client, path, body, status=200, content_type="application/fhir+json"):
    r = client.post(path, json=body, content_type=content_type)
    assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json()


def q(**params):
    return urllib.parse.urlencode(params)


VS_PROC = f"{IG_R5}/ValueSet/im-procedure-type"
VS_ANAT = f"{IG_R5}/ValueSet/im-anatomical-region-valueset"
VS_NOTES = f"{IG_R5}/ValueSet/valueset-diagnosticreport-notes"

BIG_CS = {"resourceType": "CodeSystem", "url": "http://example.org/cs/big", "status": "active", "content": "complete",
          "concept": [{"code": f"c{i}"} for i in range(10_001)]}
BIG_VS = {"resourceType": "ValueSet", "url": "http://example.org/vs/big", "status": "active",
          "compose": {"include": [{"system": BIG_CS["url"]}]}}

GETS = [   # (path, expected status): one of every kind of answer
    ("/metadata", 200),
    ("/metadata?mode=terminology", 200),
    ("/$versions", 200),
    ("/ValueSet?_id=im-procedure-type", 200),
    ("/ValueSet?name=Value&_count=3", 200),                                    # paged: a next link
    ("/CodeSystem?url=" + urllib.parse.quote(DCM) + "&_summary=true", 200),
    ("/ConceptMap?_summary=count", 200),
    ("/ConceptMap?_count=5", 200),
    ("/ValueSet/im-procedure-type", 200),
    ("/CodeSystem/codesystem-missing-dicom-terminology", 200),
    ("/CodeSystem/example", 200),
    ("/ConceptMap/example-metadata", 200),
    ("/ConceptMap/ris-modality-eu", 200),
    ("/ValueSet/$expand?" + q(url=VS_ANAT, includeDesignations="true", property="definition"), 200),
    ("/ValueSet/$expand?" + q(url=VS_PROC), 200),                              # unclosed, with its reason
    ("/ValueSet/$expand?" + q(url=CID33, count=5, offset=3), 200),
    ("/ValueSet/$expand?" + q(url="http://hl7.org/fhir/ValueSet/example-expansion"), 200),
    ("/ValueSet/$expand?" + q(url="http://hl7.org/fhir/ValueSet/bundle-type", filter="trans",
                              includeDefinition="true"), 200),
    ("/ValueSet/$expand?" + q(url="http://hl7.org/fhir/ValueSet/concept-property-type", displayLanguage="de"), 200),
    ("/ValueSet/$validate-code?" + q(url=VS_PROC, system=SCT, code="168537006"), 200),
    ("/ValueSet/$validate-code?" + q(url=VS_ANAT, system=SCT, code="12345678"), 200),
    ("/ValueSet/$validate-code?" + q(url=VS_NOTES, system=LOINC, code="11329-0", display="History general"), 200),
    ("/ValueSet/$validate-code?" + q(url=VS_ANAT, system="http://unknown.example/cs", code="x"), 200),
    ("/CodeSystem/$validate-code?" + q(url=DCM, code="CT", display="Wrong"), 200),
    ("/CodeSystem/$lookup?" + q(system=DCM, code="CT", property="designation"), 200),
    ("/CodeSystem/$lookup?" + q(system="http://hl7.org/fhir/CodeSystem/example", code="chol-mmol"), 200),
    ("/CodeSystem/$subsumes?" + q(system="http://hl7.org/fhir/CodeSystem/example", codeA="chol", codeB="chol-mmol"),
     200),
    ("/ConceptMap/$translate?" + q(url="http://hl7.org/fhir/ConceptMap/example-metadata",
                                   system="http://hl7.org/fhir/address-use", code="home", sourceCode="home"), 200),
    ("/ConceptMap/$translate?" + q(system=RIS, code="TAC", sourceCode="TAC"), 200),
    ("/ConceptMap/$translate?" + q(system=RIS, code="nope", sourceCode="nope"), 200),
    ("/ValueSet/$expand?" + q(url="http://example.org/no-such-vs"), 404),
    ("/ValueSet/$expand?" + q(url=VS_ANAT, count="many"), 400),
    ("/ValueSet/no-such-id", 404),
    ("/Patient/1", 404),
]


@pytest.mark.parametrize("base, r4", ENDPOINTS)
@pytest.mark.parametrize("path, status", GETS)
def test_every_kind_of_answer_is_valid_fhir(client, base, r4, path, status):
    assert_valid(get(client, base + path, status), r4, path)


@pytest.mark.parametrize("base, r4", ENDPOINTS)
def test_posted_operations_batches_and_refusals_are_valid_fhir(client, base, r4):
    cc = {"coding": [{"system": SCT, "code": "80891009"}, {"system": SCT, "code": "12345678"}]}
    for path, body, status in [
        ("/ValueSet/$validate-code", as_parameters({"url": VS_ANAT, "codeableConcept": cc}), 200),
        ("/ValueSet/$expand", as_parameters({"valueSet": {"resourceType": "ValueSet", "status": "active",
                                                          "compose": {"include": [{"system": DCM, "concept": [
                                                              {"code": "CT"}, {"code": "MR"}]}]}}}), 200),
        ("/ValueSet/$batch-validate-code", as_parameters({"validation": [
            {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": VS_ANAT},
                                                         {"name": "code", "valueCode": "80891009"},
                                                         {"name": "system", "valueUri": SCT}]}]}), 200),
        ("", {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "CodeSystem/$lookup?" + q(system=DCM, code="CT")}},
            {"request": {"method": "GET", "url": "ConceptMap/$translate?" + q(url="http://x/none", code="1")}}]}, 200),
        ("/ValueSet/$expand", as_parameters({"url": "http://example.org/vs/big", "tx-resource": [BIG_CS, BIG_VS]}),
         422),
        ("/ValueSet/$expand", {"resourceType": "Patient"}, 400),
        ("", {"resourceType": "Bundle", "type": "transaction"}, 400),
    ]:
        assert_valid(post(client, base + path, body, status), r4, path or "batch")
    r = client.post(base + "/ValueSet/$expand", data="x", content_type="text/plain")
    assert r.status_code == 415
    assert_valid(r.get_json(), r4, "415")
    r = client.delete(base + "/ValueSet/$expand")
    assert r.status_code == 405
    assert_valid(r.get_json(), r4, "405")


@pytest.mark.slow   # about a minute each: every stored resource read and validated
@pytest.mark.parametrize("base, r4", ENDPOINTS)
def test_every_stored_resource_read_is_valid_fhir(client, db_path, base, r4):
    store = Store(db_path)
    endpoint = "R4" if r4 else "R5"
    for rtype in ("CodeSystem", "ValueSet", "ConceptMap"):
        total, page = store.search_resources(rtype, {}, 100_000, 0, endpoint)
        assert total == len(page) > 0
        for _, fhir_id in page:
            body = get(client, f"{base}/{rtype}/{fhir_id}")
            assert body["id"] == fhir_id
            assert_valid(body, r4, f"{rtype}/{fhir_id}")


def test_terminology_capabilities_say_each_code_systems_content(client):
    caps = get(client, "/fhir/metadata?mode=terminology")
    content = {c["uri"]: c["content"] for c in caps["codeSystem"]}
    assert content[SCT] == "fragment" and content[DCM] == "complete"
    assert all("content" not in c for c in get(client, "/r4/fhir/metadata?mode=terminology")["codeSystem"])


# -- ids ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("base, edition", [("/fhir", IG_R5), ("/r4/fhir", IG_R4)])
def test_a_search_by_id_gives_each_resource_once(client, base, edition):
    b = get(client, f"{base}/ValueSet?_id=im-procedure-type")
    assert b["total"] == 1 and b["entry"][0]["resource"]["url"] == f"{edition}/ValueSet/im-procedure-type"
    assert b["entry"][0]["fullUrl"].endswith(f"{base}/ValueSet/im-procedure-type")
    core, tho = "http://hl7.org/fhir/ValueSet/action-type", "http://terminology.hl7.org/ValueSet/action-type"
    b = get(client, f"{base}/ValueSet?_id=action-type")     # FHIR core and THO both publish this id
    assert b["total"] == 1 and b["entry"][0]["resource"]["url"] == tho
    (renamed,) = get(client, f"{base}/ValueSet?url={urllib.parse.quote(core)}")["entry"]
    new_id = renamed["resource"]["id"]
    assert new_id != "action-type" and renamed["fullUrl"].endswith(f"/ValueSet/{new_id}")
    assert get(client, f"{base}/ValueSet/{new_id}")["url"] == core
    assert get(client, f"{base}/ValueSet/{new_id}/$expand")["id"] == new_id


@pytest.mark.parametrize("endpoint", ["R5", "R4"])
def test_ids_are_unique_per_endpoint(db_path, endpoint):
    store = Store(db_path)
    for rtype in ("CodeSystem", "ValueSet", "ConceptMap"):
        _, page = store.search_resources(rtype, {}, 100_000, 0, endpoint)
        ids = [fid for _, fid in page]
        assert len(ids) == len(set(ids)), rtype


def test_the_package_root_is_content(client):
    body = get(client, "/fhir/CodeSystem/$lookup?" + q(system="http://hl7.org/fhir/CodeSystem/example",
                                                        code="chol-mmol"))
    assert param(body, "display") == "SChol (mmol/L)"
    body = get(client, "/fhir/ConceptMap/$translate?" + q(url="http://hl7.org/fhir/ConceptMap/example-metadata",
                                                           system="http://hl7.org/fhir/address-use",
                                                           sourceCode="home"))
    assert param(body, "result") is True
    concept = next(p for p in param(body, "match") if p["name"] == "concept")
    assert concept["valueCoding"]["code"] == "H"
    for url in ("http://hl7.org/fhir/CodeSystem/example-metadata", "http://hl7.org/fhir/CodeSystem/example-metadata-2"):
        assert get(client, "/fhir/CodeSystem?url=" + urllib.parse.quote(url))["total"] == 1
