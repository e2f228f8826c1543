"""The REST surface over HTTP (Flask test client): error shapes, metadata, read and search."""
import json
import random
import urllib.parse

import pytest

from conftest import CID33, IG_R4, IG_R5, issue_texts

ANATOMICAL = "ValueSet/im-anatomical-region-valueset"
PERFORMER_ID = "im-imaging-study-performer-type"


def assert_outcome(r, status, code=None):
    """The answer is an OperationOutcome with `status` (and, when given, an issue with `code`)."""
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    assert r.content_type.startswith("application/fhir+json")
    body = r.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"], body
    for i in body["issue"]:
        assert i["severity"] in ("error", "fatal"), i
        assert i.get("details", {}).get("text"), i
    if code is not None:
        assert code in [i["code"] for i in body["issue"]], body
    return body


# -- errors ------------------------------------------------------------------------------

class TestErrors:
    @pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
    def test_unknown_id_is_404(self, client, base):
        body = assert_outcome(client.get(f"{base}/ValueSet/no-such-value-set"), 404, "not-found")
        assert "no-such-value-set" in " ".join(issue_texts(body))
        assert_outcome(client.get(f"{base}/CodeSystem/no-such-cs"), 404, "not-found")
        assert_outcome(client.get(f"{base}/ConceptMap/no-such-map"), 404, "not-found")

    @pytest.mark.parametrize("path", ["/fhir/Patient/1", "/fhir/Patient", "/r4/fhir/Observation",
                                      "/fhir/MappingTable/ris-modality-eu"])
    def test_unknown_type_is_404(self, client, path):
        assert_outcome(client.get(path), 404)

    def test_unknown_path_is_404_outcome(self, client):
        assert_outcome(client.get("/nothing/here"), 404)
        assert_outcome(client.get("/fhir/ValueSet/$no-such-operation"), 404)

    def test_bad_search_parameter_is_400(self, client):
        assert_outcome(client.get("/fhir/ValueSet?_count=abc"), 400, "invalid")
        assert_outcome(client.get("/fhir/CodeSystem?_offset=x"), 400, "invalid")

    @pytest.mark.parametrize("query,name", [("count=abc", "count"), ("offset=1.5", "offset"),
                                            ("count=-1", "count"), ("activeOnly=maybe", "activeOnly")])
    def test_bad_operation_parameter_is_400(self, client, query, name):
        body = assert_outcome(client.get(f"/fhir/ValueSet/$expand?url={CID33}&{query}"), 400, "invalid")
        assert name in " ".join(issue_texts(body))

    def test_negative_search_count_does_not_lift_the_page_limit(self, client):
        # _count=-5 must not become SQLite's "LIMIT -5" (no limit at all): a 400, or a bounded page
        r = client.get("/fhir/ValueSet?_count=-5")
        if r.status_code == 200:
            assert len(r.get_json().get("entry", [])) <= 1000
        else:
            assert_outcome(r, 400)

    def test_huge_integer_is_400_not_500(self, client):
        assert_outcome(client.get(f"/fhir/ValueSet/$expand?url={CID33}&count=99999999999999999999999"), 400)

    @pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
    def test_method_not_allowed_on_operation(self, client, method):
        r = client.open(f"/fhir/ValueSet/$expand?url={CID33}", method=method)
        assert_outcome(r, 405, "not-supported")
        assert "GET" in r.headers.get("Allow", "")

    @pytest.mark.parametrize("method", ["DELETE", "PUT"])
    def test_method_not_allowed_on_resource(self, client, method):
        assert_outcome(client.open("/fhir/ValueSet/dicom-cid-33", method=method, data="{}"), 405)

    def test_post_xml_is_415(self, client):
        r = client.post("/fhir/ValueSet/$expand", data="<Parameters xmlns='http://hl7.org/fhir'/>",
                        content_type="text/xml")
        assert_outcome(r, 415, "not-supported")
        r = client.post("/fhir/CodeSystem/$lookup", data="system=x&code=y",
                        content_type="application/x-www-form-urlencoded")
        assert_outcome(r, 415)

    @pytest.mark.parametrize("body", ["{not json", "", "   ", "[1, 2]", "\"Parameters\"", "null",
                                      '{"resourceType": "Patient"}', '{"resourceType": "ValueSet", "url": "x"}',
                                      '{"parameter": []}'])
    def test_body_not_json_or_not_parameters_is_400(self, client, body):
        r = client.post("/fhir/ValueSet/$expand", data=body, content_type="application/fhir+json")
        assert_outcome(r, 400)

    def test_malformed_parameters_entry_is_400(self, client):
        body = {"resourceType": "Parameters", "parameter": [{"valueString": "no name"}]}
        r = client.post("/fhir/ValueSet/$expand", data=json.dumps(body), content_type="application/fhir+json")
        assert_outcome(r, 400)

    def test_codeable_concept_not_an_object_is_4xx(self, client):
        body = {"resourceType": "Parameters", "parameter": [{"name": "codeableConcept", "valueString": "x"}]}
        r = client.post("/fhir/CodeSystem/$validate-code", data=json.dumps(body), content_type="application/fhir+json")
        assert 400 <= r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])

    def test_translate_coding_without_code_is_4xx(self, client):
        body = {"resourceType": "Parameters",
                "parameter": [{"name": "sourceCoding", "valueCoding": {"system": "http://example.org/x"}}]}
        r = client.post("/fhir/ConceptMap/$translate", data=json.dumps(body), content_type="application/fhir+json")
        assert 400 <= r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])

    @pytest.mark.parametrize("vs", [
        {"resourceType": "ValueSet", "compose": {"include": "not a list"}},
        {"resourceType": "ValueSet", "compose": {"include": [{"system": 5}]}},
        {"resourceType": "ValueSet", "compose": {"include": [{"system": "http://x", "concept": "y"}]}},
        {"resourceType": "ValueSet", "compose": ["x"]},
    ])
    def test_malformed_value_set_is_4xx_not_500(self, client, vs):
        body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs}]}
        r = client.post("/fhir/ValueSet/$expand", data=json.dumps(body), content_type="application/fhir+json")
        assert 400 <= r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])
        assert r.get_json()["resourceType"] == "OperationOutcome"


def test_both_routing_paths_render_an_unexpected_error_alike(app, monkeypatch, caplog, request):
    """The operation router and the Flask routes share one error renderer: an unexpected exception
    is a logged 500 with the same OperationOutcome on either path."""
    from termsvc.api import dispatch, metadata

    def broken(*_args, **_kwargs):
        raise ValueError("a bug")

    monkeypatch.setitem(dispatch.OPERATIONS, ("CodeSystem", "lookup"), broken)
    monkeypatch.setattr(metadata, "versions", broken)
    dispatch.resolve.cache_clear()                    # routes are made once per path
    request.addfinalizer(dispatch.resolve.cache_clear)
    client = app.test_client()
    with caplog.at_level("ERROR", logger="termsvc"):
        via_router = client.get("/fhir/CodeSystem/$lookup?system=x&code=y&nocache=1")
        via_flask = client.get("/fhir/$versions")
    assert_outcome(via_router, 500, "exception")
    assert via_router.get_json() == via_flask.get_json()
    assert [r.exc_info[0] for r in caplog.records] == [ValueError, ValueError]


# -- fuzz: bad input never answers 5xx ------------------------------------------------------

FUZZ_QUERIES = [
    "url=%ZZ", "url=%00", "url=&url=", "=", "&&&=", "%", "%%%", "count=1e3", "count=", "offset=",
    "count=99999999999999999999999", "offset=-1", "system-version=x", "valueSet=abc", "coding=%7C",
    "coding=|||", "displayLanguage=%FF", "displayLanguage=,,;q=x", "filter=%22", "filter=*", "filter=AND",
    "filter=%22a%22%20OR", "filter=NEAR(", "filter=" + "a" * 3000, "property=%00", "includeDesignations=TRUE",
    "activeOnly=", "url=" + "x" * 5000, "context=%3F", "_format=xml", "useSupplement=|", "force-system-version=|",
]
FUZZ_OPS = ["/fhir/ValueSet/$expand", "/fhir/ValueSet/$validate-code", "/fhir/CodeSystem/$lookup",
            "/fhir/CodeSystem/$validate-code", "/fhir/CodeSystem/$subsumes", "/fhir/ConceptMap/$translate",
            "/r4/fhir/ConceptMap/$translate", "/r4/fhir/ValueSet/$expand"]


@pytest.mark.parametrize("op", FUZZ_OPS)
def test_fuzz_query_strings_never_5xx(client, op):
    bad = []
    for q in FUZZ_QUERIES:
        r = client.get(f"{op}?url={urllib.parse.quote(CID33)}&{q}")
        if r.status_code >= 500 or r.get_json()["resourceType"] not in ("OperationOutcome", "Parameters", "ValueSet"):
            bad.append((q[:60], r.status_code))
    assert not bad, f"{op}: {bad}"


def _fuzz_bodies(seed=20261127, n=40):
    rnd = random.Random(seed)
    values = [None, 1, -1, 1.5, True, "", "x", [], {}, [1], {"a": 1}, "http://snomed.info/sct", "|", "#x",
              {"system": 5, "code": []}, {"coding": "x"}, {"coding": [{"code": None}]}, "9" * 40]
    keys = ["valueString", "valueUri", "valueCode", "valueInteger", "valueBoolean", "valueCoding",
            "valueCodeableConcept", "resource", "part"]
    names = ["url", "valueSet", "code", "system", "coding", "codeableConcept", "count", "offset", "filter",
             "tx-resource", "cache-id", "displayLanguage", "sourceCode", "targetCode", "sourceCoding", "codeA",
             "codingA", "reverse", "activeOnly", "property"]
    out = []
    for _ in range(n):
        params = []
        for _ in range(rnd.randint(1, 5)):
            p = {"name": rnd.choice(names)}
            k = rnd.choice(keys)
            v = rnd.choice(values)
            if k == "resource" and isinstance(v, dict) and rnd.random() < 0.7:
                v = dict(v, resourceType=rnd.choice(["ValueSet", "CodeSystem", "ConceptMap", "Patient"]))
            p[k] = v
            params.append(p)
        out.append({"resourceType": "Parameters", "parameter": params})
    return out


@pytest.mark.parametrize("op", FUZZ_OPS)
def test_fuzz_bodies_never_5xx(client, op):
    bad = []
    for body in _fuzz_bodies():
        r = client.post(op, data=json.dumps(body), content_type="application/fhir+json")
        if r.status_code >= 500:
            bad.append(json.dumps(body["parameter"]))
    assert not bad, f"{op}: {len(bad)} bodies answered 5xx:\n" + "\n".join(bad)


# -- metadata ----------------------------------------------------------------------------

class TestMetadata:
    def test_r5_capability_statement(self, client):
        r = client.get("/fhir/metadata")
        assert r.status_code == 200
        cs = r.get_json()
        assert cs["resourceType"] == "CapabilityStatement"
        assert cs["fhirVersion"] == "5.0.0"
        assert "http://hl7.org/fhir/CapabilityStatement/terminology-server" in cs["instantiates"]
        ops = {(res["type"], o["name"]) for rest in cs["rest"] for res in rest.get("resource", [])
               for o in res.get("operation", [])}
        assert {("ValueSet", "expand"), ("ValueSet", "validate-code"), ("CodeSystem", "lookup"),
                ("CodeSystem", "validate-code"), ("CodeSystem", "subsumes"), ("ConceptMap", "translate")} <= ops

    def test_r4_capability_statement(self, client):
        cs = client.get("/r4/fhir/metadata").get_json()
        assert cs["resourceType"] == "CapabilityStatement"
        assert cs["fhirVersion"] == "4.0.1"

    @pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
    def test_terminology_capabilities(self, client, base):
        tc = client.get(f"{base}/metadata?mode=terminology").get_json()
        assert tc["resourceType"] == "TerminologyCapabilities"
        uris = {c.get("uri") for c in tc["codeSystem"]}
        assert len(tc["codeSystem"]) >= 1300
        assert {"http://snomed.info/sct", "http://dicom.nema.org/resources/ontology/DCM",
                "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"} <= uris

    def test_health(self, client):
        r = client.get("/health")
        assert r.status_code == 200 and r.get_json() == {"status": "ok"}


# -- read and search ---------------------------------------------------------------------

def entries(bundle):
    return [e["resource"] for e in bundle.get("entry", [])]


class TestSearch:
    @pytest.mark.parametrize("base, url", [("/fhir", f"{IG_R5}/{ANATOMICAL}"), ("/r4/fhir", f"{IG_R4}/{ANATOMICAL}"),
                                           ("/fhir", CID33), ("/r4/fhir", CID33)])
    def test_search_by_url(self, client, base, url):
        r = client.get(f"{base}/ValueSet?url={urllib.parse.quote(url, safe='')}")
        assert r.status_code == 200
        b = r.get_json()
        assert b["resourceType"] == "Bundle" and b["type"] == "searchset"
        assert b["total"] == 1
        [vs] = entries(b)
        assert vs["resourceType"] == "ValueSet" and vs["url"] == url
        e = b["entry"][0]
        assert e["search"]["mode"] == "match"
        assert e["fullUrl"].endswith(f"{base}/ValueSet/{vs['id']}")

    def test_search_unknown_url_is_empty_bundle(self, client):
        b = client.get("/fhir/ValueSet?url=http://example.org/none").get_json()
        assert b["resourceType"] == "Bundle" and b["total"] == 0 and not b.get("entry")

    def test_summary_count(self, client):
        b = client.get("/fhir/CodeSystem?_summary=count").get_json()
        assert b["type"] == "searchset" and b["total"] >= 1300 and "entry" not in b
        vs_total = client.get("/fhir/ValueSet?_summary=count").get_json()["total"]
        assert vs_total > 4000

    def test_count_and_next_link(self, client):
        b = client.get("/fhir/ValueSet?_count=3").get_json()
        assert len(b["entry"]) == 3 and b["total"] > 3
        nxt = [link["url"] for link in b["link"] if link["relation"] == "next"]
        assert nxt and "_offset=3" in nxt[0]
        path = nxt[0].split("localhost", 1)[1]
        b2 = client.get(path).get_json()
        assert len(b2["entry"]) == 3
        assert not {e["fullUrl"] for e in b["entry"]} & {e["fullUrl"] for e in b2["entry"]}

    def test_count_is_capped(self, client):
        b = client.get("/fhir/ValueSet?_count=5000").get_json()
        assert len(b["entry"]) == 1000

    @pytest.mark.parametrize("base, edition", [("/fhir", IG_R5), ("/r4/fhir", IG_R4)])
    def test_name_search(self, client, base, edition):
        b = client.get(f"{base}/ValueSet?name=ImagingStudyEuImagingPerformer").get_json()
        assert b["total"] == 1   # each endpoint serves its edition of the IG
        assert {vs["url"] for vs in entries(b)} == {f"{edition}/ValueSet/{PERFORMER_ID}"}
        assert all(vs["name"].startswith("ImagingStudyEuImagingPerformer") for vs in entries(b))

    @pytest.mark.parametrize("base, edition", [("/fhir", IG_R5), ("/r4/fhir", IG_R4)])
    def test_the_other_editions_url_is_not_served_by_id_but_answers_operations(self, client, base, edition):
        other = IG_R4 if edition == IG_R5 else IG_R5
        assert client.get(f"{base}/ValueSet?url={other}/{ANATOMICAL}").get_json()["total"] == 0
        r = client.get(f"{base}/ValueSet/$expand?url={other}/{ANATOMICAL}")
        assert r.status_code == 200 and r.get_json()["url"] == f"{other}/{ANATOMICAL}"

    def test_summary_true_drops_content(self, client):
        b = client.get("/fhir/CodeSystem?url=http://dicom.nema.org/resources/ontology/DCM&_summary=true").get_json()
        [cs] = entries(b)
        assert "concept" not in cs

    def test_concept_map_search(self, client):
        b = client.get("/fhir/ConceptMap?url=http://termsvc.example.eu/fhir/ConceptMap/ris-modality-eu").get_json()
        assert b["total"] == 1 and entries(b)[0]["resourceType"] == "ConceptMap"


class TestRead:
    def test_read_value_set(self, client):
        r = client.get("/fhir/ValueSet/dicom-cid-33")
        assert r.status_code == 200
        vs = r.get_json()
        assert vs["resourceType"] == "ValueSet" and vs["id"] == "dicom-cid-33" and vs["url"] == CID33

    def test_read_code_system_has_concepts(self, client):
        cs = client.get("/fhir/CodeSystem/v3-ParticipationType").get_json()
        assert cs["url"] == "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

        def codes(items):
            for c in items:
                yield c["code"]
                yield from codes(c.get("concept", []))
        assert {"PRF", "SPRF", "CON", "VRF", "REF", "CST"} <= set(codes(cs["concept"]))

    def test_read_concept_map_r4_shape(self, client):
        cm5 = client.get("/fhir/ConceptMap/ris-modality-eu").get_json()
        cm4 = client.get("/r4/fhir/ConceptMap/ris-modality-eu").get_json()
        t5 = [t for g in cm5["group"] for e in g["element"] for t in e.get("target", [])]
        t4 = [t for g in cm4["group"] for e in g["element"] for t in e.get("target", [])]
        assert t5 and all("relationship" in t for t in t5)
        assert t4 and all("equivalence" in t and "relationship" not in t for t in t4)

    def test_read_ig_edition_per_endpoint(self, client):
        # both IG editions have the id; each endpoint reads its own edition's canonical
        r5 = client.get(f"/fhir/ValueSet/{PERFORMER_ID}").get_json()
        r4 = client.get(f"/r4/fhir/ValueSet/{PERFORMER_ID}").get_json()
        assert r5["url"] == f"{IG_R5}/ValueSet/{PERFORMER_ID}"
        assert r4["url"] == f"{IG_R4}/ValueSet/{PERFORMER_ID}"
