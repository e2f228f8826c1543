"""FHIR batch at POST /fhir and /r4/fhir: entries dispatched to the operations, answered in order."""
import json
import time
import urllib.parse
from http import HTTPStatus

import pytest

from conftest import CID33, DCM, FHIR_JSON, issue_texts, param

RIS_CS = "http://termsvc.example.eu/fhir/CodeSystem/ris-modality-eu"
RIS_MAP = "http://termsvc.example.eu/fhir/ConceptMap/ris-modality-eu"


def get_entry(path, **query):
    return {"request": {"method": "GET", "url": f"{path}?{urllib.parse.urlencode(query)}"}}


def deep_expand(levels: int) -> dict:
    """$expand of a code system sent with the request whose concepts nest `levels` deep."""
    deep: dict = {"code": "x0"}
    cur = deep
    for i in range(1, levels):
        cur["concept"] = [{"code": f"x{i}"}]
        cur = cur["concept"][0]
    return {"resourceType": "Parameters", "parameter": [
        {"name": "tx-resource", "resource": {"resourceType": "CodeSystem", "url": "http://ex.test/cs/deep",
                                             "content": "complete", "concept": [deep]}},
        {"name": "valueSet", "resource": {"resourceType": "ValueSet",
                                          "compose": {"include": [{"system": "http://ex.test/cs/deep"}]}}}]}


def batch(*entries, type_="batch"):
    return {"resourceType": "Bundle", "type": type_, "entry": list(entries)}


def post_batch(client, bundle, base="/fhir", **kw):
    return client.post(base, data=json.dumps(bundle), content_type=FHIR_JSON, **kw)


def statuses(body) -> list[int]:
    """The status of each entry, from its status line (a code and its reason phrase, as HTTP says it)."""
    lines = [e["response"]["status"] for e in body["entry"]]
    codes = [int(line.split(" ", 1)[0]) for line in lines]
    assert lines == [f"{code} {HTTPStatus(code).phrase}" for code in codes]
    return codes


def test_batch_answers_each_entry_in_order_like_the_single_request(client):
    entries = [
        get_entry("ConceptMap/$translate", system=RIS_CS, sourceCode="TAC"),
        {"request": {"method": "POST", "url": "CodeSystem/$validate-code"},
         "resource": {"resourceType": "Parameters", "parameter": [
             {"name": "url", "valueUri": DCM}, {"name": "code", "valueCode": "MR"}]}},
        get_entry("CodeSystem/$lookup", system=DCM, code="CT"),
        get_entry("ValueSet/$expand", url=CID33, count=3),
        get_entry("ConceptMap/$translate", system=RIS_CS, sourceCode="RM"),
    ]
    r = post_batch(client, batch(*entries))
    assert r.status_code == 200
    body = r.get_json()
    assert body["resourceType"] == "Bundle" and body["type"] == "batch-response"
    assert statuses(body) == [200] * 5
    res = [e["resource"] for e in body["entry"]]
    assert param(res[0], "result") is True
    assert param(res[0], "match")[1]["valueCoding"]["code"] == "CT"
    assert param(res[1], "result") is True and param(res[1], "display") == "Magnetic Resonance"
    assert param(res[2], "display") == "Computed Tomography"
    assert len(res[3]["expansion"]["contains"]) == 3
    assert param(res[4], "match")[1]["valueCoding"]["code"] == "MR"
    # the same answer as the single GET
    single = client.get("/fhir/" + entries[0]["request"]["url"]).get_json()
    assert single == res[0]


def test_one_bad_entry_does_not_fail_the_others(client):
    r = post_batch(client, batch(
        get_entry("ConceptMap/$translate", system=RIS_CS, sourceCode="TAC"),
        get_entry("ValueSet/$expand", url="http://example.org/no-such-value-set"),
        get_entry("CodeSystem/$lookup", system=DCM),                      # no code
        {"request": {"method": "DELETE", "url": "CodeSystem/x"}},
        {"request": {"method": "GET", "url": "CodeSystem/dicom-body-part-examined"}},  # a read, not an operation
        {"request": {"method": "POST", "url": "CodeSystem/$lookup"}},     # POST without Parameters
        {"nothing": True},
        get_entry("ConceptMap/$translate", system=RIS_CS, sourceCode="RM"),
    ))
    assert r.status_code == 200
    body = r.get_json()
    assert statuses(body) == [200, 404, 400, 405,
                              400, 400, 400, 200]
    for e in body["entry"][1:7]:
        assert e["resource"]["resourceType"] == "OperationOutcome"
        assert e["response"]["outcome"] == e["resource"]
        assert issue_texts(e["resource"])[0]
    assert "no-such-value-set" in issue_texts(body["entry"][1]["resource"])[0]
    assert "operations" in issue_texts(body["entry"][4]["resource"])[0]
    assert param(body["entry"][7]["resource"], "result") is True


def test_r4_batch_answers_in_r4_shapes(client):
    r = post_batch(client, batch(get_entry("ConceptMap/$translate", system=RIS_CS, code="RX")), base="/r4/fhir")
    res = r.get_json()["entry"][0]["resource"]
    parts = param(res, "match")
    assert parts[0] == {"name": "equivalence", "valueCode": "narrower"}
    r5 = post_batch(client, batch(get_entry("ConceptMap/$translate", system=RIS_CS, sourceCode="RX")))
    assert param(r5.get_json()["entry"][0]["resource"], "match")[0]["name"] == "relationship"


@pytest.mark.parametrize("base,code", [("/fhir", "sourceCode"), ("/r4/fhir", "code")])
def test_relative_urls_and_absolute_ones_under_this_base(client, base, code):
    query = urllib.parse.urlencode({"system": RIS_CS, code: "TAC"})
    r = post_batch(client, batch({"request": {"method": "GET", "url": f"http://localhost{base}/ConceptMap/$translate?{query}"}},
                                 {"request": {"method": "GET", "url": f"HTTP://LOCALHOST:80{base}/ConceptMap/$translate?{query}"}},
                                 {"request": {"method": "GET", "url": f"{base}/ConceptMap/$translate?{query}"}},
                                 {"request": {"method": "GET", "url": f"/ConceptMap/$translate?{query}"}},
                                 {"request": {"method": "get", "url": f"ConceptMap/%24translate?{query}"}}),
                   base=base)
    assert statuses(r.get_json()) == [200] * 5


def test_an_entry_the_router_fails_on_is_that_entrys_error_not_the_batchs(client):
    """A resource nested deeper than the response cache's JSON writer goes (254 levels): the batch was a
    500 with an empty body; now the other entries are answered."""
    params = deep_expand(300)
    ok = get_entry("ConceptMap/$translate", system=RIS_CS, sourceCode="TAC")
    r = post_batch(client, batch(ok, {"request": {"method": "POST", "url": "ValueSet/$expand"}, "resource": params},
                                 ok))
    assert r.status_code == 200
    body = r.get_json()
    codes = statuses(body)
    assert codes[0] == codes[2] == 200 and codes[1] >= 400
    assert body["entry"][1]["resource"]["resourceType"] == "OperationOutcome"


def test_an_entry_url_ends_its_query_at_a_fragment(client):
    """RFC 3986: `#` starts the fragment, which is no part of the request (a code holding `#` is
    written %23), as a client sending the URL itself would not send it."""
    query = urllib.parse.urlencode({"system": RIS_CS, "sourceCode": "TAC"})
    r = post_batch(client, batch({"request": {"method": "GET", "url": f"ConceptMap/$translate?{query}#match"}},
                                 {"request": {"method": "GET", "url": f"ConceptMap/$translate#x?{query}"}}))
    body = r.get_json()
    assert statuses(body) == [200, 400]
    assert param(body["entry"][0]["resource"], "result") is True
    assert "No concept to translate" in issue_texts(body["entry"][1]["resource"])[0]   # (its query is the fragment's)


@pytest.mark.parametrize("base,other", [("/fhir", "/r4/fhir"), ("/r4/fhir", "/fhir")])
def test_an_entry_for_another_server_or_base_is_refused_alone(client, base, other):
    """An absolute URL not under this server's base is not answered here (as if it had been sent there)."""
    query = urllib.parse.urlencode({"system": RIS_CS, "sourceCode": "TAC", "code": "TAC"})
    foreign = [f"http://other.example{base}/ConceptMap/$translate?{query}",       # another host
               f"http://localhost:8081{base}/ConceptMap/$translate?{query}",      # another port
               f"https://localhost{base}/ConceptMap/$translate?{query}",          # another scheme
               f"http://localhost{other}/ConceptMap/$translate?{query}",          # the other FHIR version
               f"http://localhost/elsewhere{base}/ConceptMap/$translate?{query}"]
    r = post_batch(client, batch(*({"request": {"method": "GET", "url": url}} for url in foreign),
                                 get_entry("ConceptMap/$translate", system=RIS_CS, sourceCode="TAC", code="TAC")),
                   base=base)
    assert statuses(r.get_json()) == [400] * len(foreign) + [200]
    for url, entry in zip(foreign, r.get_json()["entry"]):
        assert issue_texts(entry["resource"]) == [
            f"The entry's request.url '{url.partition('?')[0]}' is not under this server's base http://localhost{base}:"
            " a batch entry is answered by the server the batch is sent to; give its URL relative to the base"]


def test_behind_a_tls_proxy_the_public_scheme_is_this_server(client):
    query = urllib.parse.urlencode({"system": RIS_CS, "sourceCode": "TAC"})
    r = post_batch(client, batch({"request": {"method": "GET", "url": f"https://tx.example.eu/fhir/ConceptMap/$translate?{query}"}}),
                   headers={"Host": "tx.example.eu", "X-Forwarded-Proto": "https"})
    assert statuses(r.get_json()) == [200]


def test_empty_batch(client):
    r = post_batch(client, batch())
    assert r.status_code == 200
    assert r.get_json() == {"resourceType": "Bundle", "type": "batch-response"}


@pytest.mark.parametrize("body,status,text", [
    ({"resourceType": "Parameters"}, 400, "Bundle of type batch"),
    (batch(type_="transaction"), 400, "transactions are not supported"),
    ({"resourceType": "Bundle", "type": "batch", "entry": {"x": 1}}, 400, "array"),
])
def test_bad_bundles_are_refused_whole(client, body, status, text):
    r = post_batch(client, body)
    assert r.status_code == status
    assert r.get_json()["resourceType"] == "OperationOutcome"
    assert text in issue_texts(r.get_json())[0]


def test_bad_body_and_content_type(client):
    r = client.post("/fhir", data=b"{not json", content_type=FHIR_JSON)
    assert r.status_code == 400 and "not valid JSON" in issue_texts(r.get_json())[0]
    r = client.post("/fhir", data=b"<Bundle/>", content_type="application/fhir+xml")
    assert r.status_code == 415


def test_entry_limit_is_a_setting(db_path):
    from termsvc.api.app import create_app
    app = create_app(db_path, {"batch_max_entries": 3})
    c = app.test_client()
    entry = get_entry("CodeSystem/$lookup", system=DCM, code="CT")
    assert post_batch(c, batch(*[entry] * 3)).status_code == 200
    r = post_batch(c, batch(*[entry] * 4))
    assert r.status_code == 413
    assert "at most 3" in issue_texts(r.get_json())[0]


def test_default_entry_limit_is_10000(client):
    entry = get_entry("CodeSystem/$lookup", system=DCM, code="CT")
    r = post_batch(client, batch(*[entry] * 10_001))
    assert r.status_code == 413
    assert "10001 entries" in issue_texts(r.get_json())[0]


def test_the_batch_runs_under_one_deadline(db_path):
    """A costly entry stops at the batch's deadline; entries not started by then answer 422 without
    running; the ones before keep their answers; the worker is free soon after the time limit."""
    from termsvc.api.app import create_app
    from test_limits import costly_expand
    app = create_app(db_path, {"time_limit_ms": 300, "cache_size": 0})
    c = app.test_client()
    cheap = get_entry("CodeSystem/$lookup", system=DCM, code="CT")
    # warm: the first request of a fresh app makes its per-build indexes, which under a loaded machine
    # can take a good part of 300 ms (what is measured here is the batch's deadline, not a cold start)
    assert c.get("/fhir/" + cheap["request"]["url"]).status_code == 200
    costly = {"request": {"method": "POST", "url": "ValueSet/$expand"}, "resource": costly_expand(3000)}
    started = time.monotonic()
    body = post_batch(c, batch(cheap, *[costly] * 10, cheap)).get_json()
    assert time.monotonic() - started < 3.0   # ten costly entries alone would take far longer
    got = statuses(body)
    assert got[0] == 200
    assert got[1:] == [422] * 11
    assert "exceeded its time limit" in issue_texts(body["entry"][1]["resource"])[0]
    not_run = body["entry"][-1]["resource"]
    assert not_run["issue"][0]["code"] == "too-costly" and "Not run" in issue_texts(not_run)[0]


def test_batch_over_real_http(live_server):
    status, body, _ = live_server.post_raw("/fhir", batch(
        get_entry("ConceptMap/$translate", system=RIS_CS, sourceCode="TAC"),
        get_entry("ConceptMap/$translate", url="http://example.org/none", sourceCode="TAC")))
    assert status == 200
    assert statuses(body) == [200, 404]
    status, body, _ = live_server.post_raw("/r4/fhir", batch(get_entry("ConceptMap/$translate", system=RIS_CS,
                                                                       code="TAC")))
    assert status == 200 and param(body["entry"][0]["resource"], "match")[0]["name"] == "equivalence"
    query = urllib.parse.urlencode({"system": RIS_CS, "sourceCode": "TAC"})
    status, body, _ = live_server.post_raw("/fhir", batch(
        {"request": {"method": "GET", "url": f"{live_server.base}/fhir/ConceptMap/$translate?{query}"}},
        {"request": {"method": "GET", "url": f"http://other.example/fhir/ConceptMap/$translate?{query}"}}))
    assert statuses(body) == [200, 400]
    assert f"not under this server's base {live_server.base}/fhir" in issue_texts(body["entry"][1]["resource"])[0]


@pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
def test_capability_statement_declares_batch(client, base):
    rest = client.get(base + "/metadata").get_json()["rest"][0]
    assert {"code": "batch"} in rest["interaction"]


def test_entries_past_the_answer_size_limit_are_not_run(client, monkeypatch):
    from termsvc.api import batch as batch_module
    monkeypatch.setattr(batch_module, "MAX_ANSWER", 20_000)
    page = get_entry("ValueSet/$expand", url=CID33, count=1000)   # each answer well over 5 kB
    body = post_batch(client, batch(*[page] * 6)).get_json()
    got = statuses(body)
    assert got[0] == 200 and got[-1] == 422
    assert "Not run" in issue_texts(body["entry"][-1]["resource"])[0]


def test_a_request_nested_deeper_than_the_server_writes_is_refused_with_an_outcome(client):
    """A POST whose Parameters nest 300 levels (the cache key cannot be written): a 500 without a body
    before; now the operation runs and its too-deep answer is a 422 OperationOutcome."""
    params = deep_expand(300)
    r = client.post("/fhir/ValueSet/$expand", json=params, content_type="application/fhir+json")
    assert 400 <= r.status_code < 500 and r.get_json()["resourceType"] == "OperationOutcome"


def test_a_chunked_request_body_is_read_over_http(live_server):
    """A POST sent with Transfer-Encoding: chunked (no Content-Length) is read to its end: it was
    answered 'The POST body is empty'."""
    import http.client
    body = json.dumps({"resourceType": "Parameters", "parameter": [
        {"name": "system", "valueUri": DCM}, {"name": "code", "valueCode": "CT"}]}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    conn.request("POST", "/fhir/CodeSystem/$lookup", body=iter([body[:40], body[40:]]),
                 headers={"Content-Type": "application/fhir+json"}, encode_chunked=True)
    r = conn.getresponse()
    answer = json.loads(r.read())
    conn.close()
    assert r.status == 200 and {"name": "code", "valueCode": "CT"} in answer["parameter"]
