"""The response cache (api/cache.py): searches and POST operations are answered from it like GET
operations, keyed on what their answer depends on; what may change within a build is never kept."""
import json
import urllib.parse

import pytest

from conftest import CID33, FHIR_JSON, as_parameters, param
from termsvc.api.app import create_app
from termsvc.api.cache import UNIT, ResponseCache
from test_limits import costly_expand
from test_observability import metric


@pytest.fixture(scope="module")
def cached(db_path):
    return create_app(db_path, {"access_log": "off", "cache_size": "1000"}).test_client()


def cache_counts(client) -> tuple[float, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return (metric(text, "termsvc_response_cache_total", result="hit"),
            metric(text, "termsvc_response_cache_total", result="miss"))


ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def isa_expand(code: str, reverse: bool = False) -> dict:
    """POST $expand of an ad-hoc value set: the ActCode codes under `code` (`reverse`: every object's
    keys in the other order, the same request)."""
    include = {"system": ACT_CODE, "filter": [{"property": "concept", "op": "is-a", "value": code}]}
    vs = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [include]}}
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs},
                                                        {"name": "count", "valueInteger": 20}]}
    if reverse:
        def flip(x):
            if isinstance(x, dict):
                return {k: flip(v) for k, v in reversed(list(x.items()))}
            return [flip(v) for v in x] if isinstance(x, list) else x
        body = flip(body)
    return body


def post(client, path, body):
    r = client.post(path, data=json.dumps(body), content_type=FHIR_JSON)
    return r.status_code, r.get_json()


def test_post_expand_is_answered_from_the_cache_keyed_on_its_body(cached):
    status, first = post(cached, "/fhir/ValueSet/$expand", isa_expand("_ActCoverageLimitCode"))
    assert status == 200 and first["expansion"]["contains"], first
    # an expansion computed anew has a new identifier: the same one is the kept answer
    status, again = post(cached, "/fhir/ValueSet/$expand", isa_expand("_ActCoverageLimitCode", reverse=True))
    assert status == 200 and again == first
    status, other = post(cached, "/fhir/ValueSet/$expand", isa_expand("_MedicationObservationType"))
    assert status == 200 and other["expansion"]["identifier"] != first["expansion"]["identifier"]
    assert {c["code"] for c in other["expansion"].get("contains", [])} != {c["code"] for c in first["expansion"]["contains"]}
    # the R4 endpoint's answer is its own
    status, r4 = post(cached, "/r4/fhir/ValueSet/$expand", isa_expand("_ActCoverageLimitCode"))
    assert status == 200 and r4["expansion"]["identifier"] != first["expansion"]["identifier"]


def test_an_answer_that_depends_on_a_cache_id_is_computed_every_time(cached):
    cs = {"resourceType": "CodeSystem", "url": "http://example.org/fhir/CodeSystem/cache-id-test", "version": "1",
          "status": "active", "content": "complete", "concept": [{"code": "a", "display": "A"}]}
    ask = as_parameters({"url": cs["url"], "code": "a", "cache-id": "cache-test-1"})
    status, before = post(cached, "/fhir/CodeSystem/$validate-code", ask)
    assert status in (200, 404, 422) and param(before, "result") is not True
    status, sent = post(cached, "/fhir/CodeSystem/$validate-code",
                        as_parameters([("url", cs["url"]), ("code", "a"), ("cache-id", "cache-test-1"),
                                       ("tx-resource", cs)]))
    assert status == 200 and param(sent, "result") is True
    # the same request as the first: the code system the cache-id now holds answers it
    status, after = post(cached, "/fhir/CodeSystem/$validate-code", ask)
    assert status == 200 and param(after, "result") is True
    r = cached.get("/fhir/CodeSystem/$validate-code?" + urllib.parse.urlencode(
        {"url": cs["url"], "code": "a", "cache-id": "cache-test-1"}))
    assert r.status_code == 200 and param(r.get_json(), "result") is True


def test_searches_are_answered_from_the_cache_per_origin(cached):
    path = "/fhir/ValueSet?" + urllib.parse.urlencode({"url": CID33})
    first = cached.get(path, headers={"Host": "tx.example"})
    assert first.status_code == 200 and first.get_json()["total"] >= 1
    hits, misses = cache_counts(cached)
    again = cached.get(path, headers={"Host": "tx.example"})
    assert again.get_data() == first.get_data()
    assert cache_counts(cached) == (hits + 1, misses)
    # its links name the origin the request reached the server by: another origin, another answer
    other = cached.get(path, headers={"Host": "other.example:8443"})
    assert cache_counts(cached) == (hits + 1, misses + 1)
    urls = [e["fullUrl"] for e in other.get_json()["entry"]]
    assert urls and all(u.startswith("http://other.example:8443/fhir/ValueSet/") for u in urls)
    # a refusal of the request is answered the same way from the cache
    bad = [cached.get("/fhir/ValueSet?_count=many") for _ in range(2)]
    assert [b.status_code for b in bad] == [400, 400] and bad[0].get_data() == bad[1].get_data()


def test_a_search_of_a_type_not_served_is_a_404(cached):
    r = cached.get("/fhir/Patient?name=x")
    assert r.status_code == 404 and "Unknown resource type 'Patient'" in r.get_data(as_text=True)


def test_the_time_limit_refusal_is_not_kept(db_path):
    client = create_app(db_path, {"access_log": "off", "time_limit_ms": "300", "cache_size": "1000"}).test_client()
    hits, misses = cache_counts(client)
    for _ in range(2):
        status, _ = post(client, "/fhir/ValueSet/$expand", costly_expand(3000))
        assert status == 422
    assert cache_counts(client) == (hits, misses + 2)


def test_the_cache_is_bounded_by_weight_and_emptied_by_a_new_build():
    cache = ResponseCache(4)
    for i in range(3):
        cache.put(("/a", str(i)), 1, 200, b"x")
    assert all(cache.get(("/a", str(i)), 1) for i in range(3))
    cache.put(("/big", ""), 1, 200, b"x" * (2 * UNIT))    # weighs 3: the two least recently used go
    assert cache.get(("/a", "0"), 1) is None and cache.get(("/a", "1"), 1) is None
    assert cache.get(("/a", "2"), 1) == (200, b"x") and cache.get(("/big", ""), 1) is not None
    cache.put(("/huge", ""), 1, 200, b"x" * (4 * UNIT))   # heavier than the whole cache: not kept
    assert cache.get(("/huge", ""), 1) is None and cache.get(("/a", "2"), 1) is not None
    cache.put(("/key",), 1, 200, b"")
    cache.put(("/key", "q" * (5 * UNIT)), 1, 200, b"")      # the key counts too
    assert cache.get(("/key", "q" * (5 * UNIT)), 1) is None
    assert cache.get(("/a", "2"), 2) is None                # another build: nothing of the last one
    cache.put(("/old",), 1, 200, b"late")                   # an answer of the build swapped out
    assert cache.get(("/old",), 2) is None
