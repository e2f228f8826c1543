"""Every input judged as declared, over real HTTP as well as the test client: a search's parameters
(fhir/operations.py SEARCH_PARAMETERS) and metadata's are read like an operation's; a wrong value
is a 400 OperationOutcome naming the parameter, on GET and POST, /fhir and /r4/fhir. Every answer
under /fhir and /r4/fhir is FHIR JSON (or, for HEAD, OPTIONS and 204s, no body at all) - never
Werkzeug's HTML redirect or page, whatever the path's slashes or the method."""
import http.client
import json
import urllib.parse

import pytest

from conftest import CID33, DCM, FHIR_JSON, issue_texts, refused
from termsvc.fhir.operations import SEARCH_PARAMETERS

BASES = ("/fhir", "/r4/fhir")
WRONG_SEARCH_VALUES = {"uri": ["http://x y"], "code": ["a\tb", "\n"], "unsignedInt": ["-1", "x", "1.5", "05"],
                       "string": []}


# -- search ------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", SEARCH_PARAMETERS, ids=lambda p: p.name)
def test_each_search_parameter_refuses_a_wrong_value_and_a_second_one_naming_itself(client, p):
    wrong = ["neither"] if p.values else WRONG_SEARCH_VALUES[p.type]
    right = p.values[0] if p.values else "1" if p.type == "unsignedInt" else "x"
    for base in BASES:
        for rtype in ("CodeSystem", "ValueSet", "ConceptMap"):
            for value in wrong:
                refused(client.get(f"{base}/{rtype}?{urllib.parse.urlencode({p.name: value})}"), p.name)
            assert refused(client.get(f"{base}/{rtype}?{p.name}={right}&{p.name}={right}"), p.name) \
                == f"The parameter '{p.name}' may be given once, not 2 times"


def test_the_capability_statement_advertises_each_search_criterion_served(client):
    from termsvc.store.queries import SEARCH_COLUMNS
    for base in BASES:
        for res in client.get(f"{base}/metadata").get_json()["rest"][0]["resource"]:
            advertised = {p["name"]: p["type"] for p in res["searchParam"]}
            assert advertised == {"url": "uri", "version": "token", "_id": "token", "status": "token",
                                  "name": "string", "title": "string"}
            assert set(advertised) == set(SEARCH_COLUMNS)   # and each of them is taken (the test above)


def test_search_count_and_offset_bounds(client):
    assert "must be 0 or more, not -1" in refused(client.get("/fhir/ValueSet?_offset=-1"), "_offset")
    assert "out of range" in refused(client.get("/fhir/ValueSet?_offset=99999999999"), "_offset")
    r = client.get("/fhir/ValueSet?_count=100000&_elements=url")   # past the cap: the cap's page, as FHIR allows
    assert r.status_code == 200 and len(r.get_json()["entry"]) == 1000
    r = client.get("/fhir/ValueSet?_count=0")
    assert r.status_code == 200 and "entry" not in r.get_json() and r.get_json()["total"] > 0


def test_an_empty_search_parameter_is_ignored_a_modifier_refused_an_unknown_one_ignored_unless_strict(client):
    everything = client.get("/fhir/ValueSet?_summary=count").get_json()["total"]
    assert client.get("/fhir/ValueSet?url=&_summary=count&_count=").get_json()["total"] == everything
    assert client.get("/fhir/ValueSet?_sort=url&_summary=count").get_json()["total"] == everything
    r = client.get("/fhir/ValueSet?_sort=url&_summary=count", headers={"Prefer": "handling=strict"})
    assert r.status_code == 400 and "Unknown search parameter '_sort'" in issue_texts(r.get_json())[0]
    r = client.get("/fhir/ValueSet?name:contains=CID")
    assert r.status_code == 400 and r.get_json()["issue"][0]["code"] == "not-supported"
    assert "'name' has no modifier ':contains'" in issue_texts(r.get_json())[0]


def test_summary_and_elements_subset_the_entries_and_say_so(client):
    url = urllib.parse.quote(CID33)
    for base in BASES:
        whole = client.get(f"{base}/ValueSet?url={url}").get_json()["entry"][0]["resource"]
        assert "compose" in whole
        some = client.get(f"{base}/ValueSet?url={url}&_elements=url,ValueSet.version,Patient.name").get_json()
        resource = some["entry"][0]["resource"]
        assert set(resource) == {"resourceType", "id", "meta", "url", "version", "status"}
        assert {"code": "SUBSETTED", "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"} \
            in resource["meta"]["tag"]
        data = client.get(f"{base}/ValueSet?url={url}&_summary=data").get_json()["entry"][0]["resource"]
        assert data == {k: v for k, v in whole.items() if k != "text"}
        refused(client.get(f"{base}/ValueSet?_elements=url,,version"), "_elements")
        refused(client.get(f"{base}/ValueSet?_elements=url%20version"), "_elements")
        assert "one of count, data, false, text, true" in refused(client.get(f"{base}/ValueSet?_summary=texts"),
                                                                   "_summary")


def test_metadata_mode_is_one_of_its_codes(client):
    for base in BASES:
        assert client.get(f"{base}/metadata?mode=full").get_json()["resourceType"] == "CapabilityStatement"
        assert client.get(f"{base}/metadata?mode=terminology").get_json()["resourceType"] == "TerminologyCapabilities"
        refused(client.get(f"{base}/metadata?mode=terminologyy"), "mode")
        refused(client.get(f"{base}/metadata?mode=full&mode=terminology"), "mode")


# -- over real HTTP ------------------------------------------------------------------------------

def raw(server, method: str, path: str, body: bytes | None = None, headers=None):
    """(status, headers, body bytes) of a request sent exactly as written (no client normalises the path)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in {"Content-Length": str(len(body or b"")), **(headers or {})}.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def assert_fhir_json(status, headers, body, expected_status: int, resource_type: str = "OperationOutcome"):
    assert status == expected_status, (status, body[:300])
    assert headers["content-type"].startswith("application/fhir+json"), headers
    assert json.loads(body)["resourceType"] == resource_type


@pytest.mark.parametrize("base", BASES)
def test_odd_paths_get_fhir_json_never_html(live_server, base):
    for path, status, rtype in (
            (f"/{base}//metadata", 404, "OperationOutcome"), (f"{base}//metadata", 404, "OperationOutcome"),
            (f"{base}/ValueSet//x", 404, "OperationOutcome"), (f"{base}/ValueSet/x/", 404, "OperationOutcome"),
            (f"{base}/metadata/", 200, "CapabilityStatement"), (f"{base}/ValueSet/?_count=1", 200, "Bundle"),
            (f"{base}/CodeSystem/$lookup/?system={DCM}&code=CT", 200, "Parameters"),
            (f"{base}/", 405, "OperationOutcome"), (base, 405, "OperationOutcome"),   # the base takes a batch
            (f"{base}/Patient", 404, "OperationOutcome"), (f"{base}/ValueSet/$nothing", 404, "OperationOutcome")):
        assert_fhir_json(*raw(live_server, "GET", path), status, rtype)


@pytest.mark.parametrize("base", BASES)
def test_every_method_gets_a_fhir_answer(live_server, base):
    lookup = f"{base}/CodeSystem/$lookup?system={DCM}&code=CT"
    for path in (f"{base}/metadata", f"{base}/ValueSet?_count=1", lookup, f"{base}/ValueSet/x"):
        status, headers, body = raw(live_server, "HEAD", path)
        get_status, get_headers, get_body = raw(live_server, "GET", path)
        assert (status, body) == (get_status, b"") and headers["content-type"] == get_headers["content-type"]
        assert headers.get("content-length") in (None, str(len(get_body))), (path, headers)
        status, headers, body = raw(live_server, "OPTIONS", path)
        assert (status, body) == (204, b"") and "content-type" not in headers
        assert "GET" in headers["allow"] and "HEAD" in headers["allow"]
        for method in ("PUT", "DELETE", "PATCH", "FOO"):
            status, headers, body = raw(live_server, method, path, b"{}", {"Content-Type": FHIR_JSON})
            assert_fhir_json(status, headers, body, 405)
            assert "GET" in headers["allow"], (method, path, headers)
    assert "POST" in raw(live_server, "OPTIONS", lookup)[1]["allow"]


@pytest.mark.parametrize("base", BASES)
def test_wrong_typed_values_are_a_400_naming_the_parameter_over_http(live_server, base):
    vs = urllib.parse.quote(CID33)
    for query, name in ((f"url={vs}&date=notadate", "date"), (f"url={vs}&date=2023-02-29", "date"),
                        (f"url={vs}&count=-1", "count"), (f"url={vs}&offset=x", "offset"),
                        (f"url={vs}&activeOnly=yes", "activeOnly"), (f"url={vs}&displayLanguage=en%0A", "displayLanguage"),
                        (f"url={vs}&count=5&count=6", "count")):
        status, body, _ = live_server.get(f"{base}/ValueSet/$expand?{query}")
        assert status == 400 and f"'{name}'" in issue_texts(body)[0], (query, body)
    status, body, _ = live_server.get(f"{base}/ValueSet/$expand?url={vs}&date=2023-01&count=1")
    assert status == 200 and body["resourceType"] == "ValueSet"
    for entry, name in (({"name": "date", "valueString": "2023-01-01"}, "date"),
                        ({"name": "activeOnly", "valueInteger": 1}, "activeOnly"),
                        ({"name": "count", "valueBoolean": True}, "count"),
                        ({"name": "url", "valueUri": "http://x y"}, "url")):
        status, body, _ = live_server.post_raw(f"{base}/ValueSet/$expand", {"resourceType": "Parameters", "parameter": [
            {"name": "url", "valueUri": CID33}, entry][-1 if name == "url" else 0:]})
        assert status == 400 and f"'{name}'" in issue_texts(body)[0], (entry, body)
        assert body["issue"][0]["code"] == "invalid"


def test_summary_text_on_search_and_read_keeps_the_narrative_ids_and_mandatory_elements(client):
    """FHIR's _summary=text: text, id, meta and the mandatory top-level elements, tagged SUBSETTED; on a
    read too (with _summary=true/data and _elements as on a search); count is a search's only."""
    for base in BASES:
        for rtype, mandatory in (("CodeSystem", {"status", "content"}), ("ValueSet", {"status"}),
                                 ("ConceptMap", {"status"})):
            full = client.get(f"{base}/{rtype}?_count=1").get_json()["entry"][0]["resource"]
            entry = client.get(f"{base}/{rtype}?_count=1&_summary=text").get_json()["entry"][0]["resource"]
            kept = {"resourceType", "id", "meta"} | mandatory | ({"text"} if "text" in full else set())
            assert set(entry) == kept, (rtype, set(entry))
            assert entry.get("text") == full.get("text") and entry["status"] == full["status"]
            assert entry["meta"]["tag"][-1]["code"] == "SUBSETTED"
            read = client.get(f"{base}/{rtype}/{full['id']}?_summary=text").get_json()
            assert read == entry
            assert client.get(f"{base}/{rtype}/{full['id']}?_summary=false").get_json() == full
            assert set(client.get(f"{base}/{rtype}/{full['id']}?_elements=url").get_json()) \
                == {"resourceType", "id", "meta", "url"} | mandatory
            assert client.get(f"{base}/{rtype}/{full['id']}?_summary=").get_json() == full   # empty: left out
            refused(client.get(f"{base}/{rtype}/{full['id']}?_summary=count"), "_summary")
            refused(client.get(f"{base}/{rtype}/{full['id']}?_elements=1"), "_elements")


def test_a_parameter_that_changes_nothing_here_is_said_to_on_validate_code(client):
    """`date` is accepted (HL7's clients send it) but a build holds one state of each code system: the
    $validate-code answers say so in an informational issue, and are otherwise the same."""
    for base in BASES:
        for path, query in ((f"{base}/ValueSet/$validate-code", f"url={CID33}&system={DCM}&code=CT"),
                            (f"{base}/CodeSystem/$validate-code", f"url={DCM}&code=CT")):
            plain = client.get(f"{path}?{query}").get_json()
            dated = client.get(f"{path}?{query}&date=2020-01-01").get_json()
            issues = next(p["resource"]["issue"] for p in dated["parameter"] if p["name"] == "issues")
            assert issues[-1]["severity"] == "information" and "'date' changes nothing here" \
                in issues[-1]["details"]["text"]
            assert [p for p in dated["parameter"] if p["name"] != "issues"] == plain["parameter"]
            refused(client.get(f"{path}?{query}&date=2020-13-01"), "date")


def test_expand_and_lookup_say_it_too(client):
    """$expand echoes the parameter as asked and says why it changes nothing in an extension of the
    expansion (an expansion has no issues); $lookup in an `issues` OperationOutcome, as $validate-code."""
    from termsvc.fhir.render.expansion import EXT_NO_EFFECT
    for base in BASES:
        plain = client.get(f"{base}/ValueSet/$expand?url={CID33}&count=3").get_json()["expansion"]
        dated = client.get(f"{base}/ValueSet/$expand?url={CID33}&count=3&date=2020-01-01").get_json()["expansion"]
        assert dated["contains"] == plain["contains"] and dated["total"] == plain["total"]
        assert dated["parameter"] == plain["parameter"] + [{"name": "date", "valueDateTime": "2020-01-01"}]
        [said] = [x for x in dated["extension"] if x["url"] == EXT_NO_EFFECT]
        assert said["extension"][0] == {"url": "parameter", "valueCode": "date"}
        assert "'date' changes nothing here" in said["extension"][1]["valueString"]
        assert not [x for x in plain.get("extension", []) if x["url"] == EXT_NO_EFFECT]
        refused(client.get(f"{base}/ValueSet/$expand?url={CID33}&date=yesterday"), "date")

        plain = client.get(f"{base}/CodeSystem/$lookup?system={DCM}&code=CT").get_json()["parameter"]
        dated = client.get(f"{base}/CodeSystem/$lookup?system={DCM}&code=CT&date=2020-01-01").get_json()["parameter"]
        assert dated[:-1] == plain and dated[-1]["name"] == "issues"
        [issue] = dated[-1]["resource"]["issue"]
        assert (issue["severity"], issue["code"], issue["expression"]) == ("information", "informational", ["date"])
        assert "'date' changes nothing here" in issue["details"]["text"]


def test_every_operation_that_declares_date_says_it_has_no_effect(client):
    """Whatever the operation: the answer to a request with `date` differs from the one without by what
    says that it changed nothing (the declarations decide which operations take it)."""
    from termsvc.fhir.operations import OPERATIONS
    requests = {("ValueSet", "expand"): f"url={CID33}&count=2", ("CodeSystem", "lookup"): f"system={DCM}&code=CT",
                ("ValueSet", "validate-code"): f"url={CID33}&system={DCM}&code=CT",
                ("CodeSystem", "validate-code"): f"url={DCM}&code=CT"}
    declaring = {key for key, op in OPERATIONS.items() if op.parameter("date") is not None}
    assert declaring - {("ValueSet", "batch-validate-code")} == set(requests)
    for (rtype, name), query in requests.items():
        plain = client.get(f"/fhir/{rtype}/${name}?{query}").get_data(as_text=True)
        dated = client.get(f"/fhir/{rtype}/${name}?{query}&date=2021").get_data(as_text=True)
        assert dated != plain and "'date' changes nothing here" in dated, (rtype, name)
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": CID33}, {"name": "date", "valueDateTime": "2021"},
        {"name": "validation", "part": [{"name": "system", "valueUri": DCM}, {"name": "code", "valueCode": "CT"}]}]}
    r = client.post("/fhir/ValueSet/$batch-validate-code", json=body, content_type="application/fhir+json")
    assert r.status_code == 200 and "'date' changes nothing here" in r.get_data(as_text=True)


def test_the_engine_says_so_too_for_every_surface(db_path):
    """The informational issue comes from the engine (ops/validate), so the clients and the judge that use its
    typed results hear it as HTTP does; the verdict stays the same."""
    from termsvc.fhir.params import Params
    from termsvc.ops import validate
    from termsvc.ops.context import Context
    from termsvc.results import verdict_of
    from termsvc.store.reader import Store
    ctx = Context(Store(db_path), [], "R5")
    plain = validate.validate_vs(ctx, Params.from_query([("url", CID33), ("system", DCM), ("code", "CT")]))
    dated = validate.validate_vs(ctx, Params.from_query([("url", CID33), ("system", DCM), ("code", "CT"),
                                                         ("date", "2020-01-01")]))
    said = [i for i in dated.issues if i not in plain.issues]
    assert [(i.severity, i.code, i.expression) for i in said] == [("information", "informational", ["date"])]
    def verdict(v):
        return verdict_of(v.result, v.unknown_systems, v.caused_by, v.issues)
    assert verdict(dated) == verdict(plain) and verdict(plain)[0] == "valid"
