"""Requests nobody sends on purpose, over real HTTP (a live server on a free port): absurd nesting and
sizes, numbers JSON cannot hold, lone surrogates, control characters, bytes that are no UTF-8, lying
headers, every method on every path, batches of batches. Each answer is a 4xx OperationOutcome in FHIR
JSON (or a correct 200), within the time limit, never a 5xx, never HTML; and the server answers /health
right after."""
import http.client
import json
import socket
import urllib.parse

import pytest

from conftest import CID33, DCM, FHIR_JSON
from termsvc.api.openapi import build_spec
from termsvc.settings import current

DEADLINE = current().time_limit_ms / 1000 + 15   # the time limit, and room for a slow shared machine
LOOKUP = "/fhir/CodeSystem/$lookup"
VALIDATE = "/fhir/ValueSet/$validate-code"


def raw_request(server, method: str, target: bytes, headers: dict | None = None, body: bytes = b""):
    """Send exactly these bytes (a request line no HTTP library would write) -> (status, headers, body)."""
    head = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    for k, v in (headers or {}).items():
        head.append(f"{k}: ".encode() + (v if isinstance(v, bytes) else v.encode("latin-1")))
    if body or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}".encode())
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


# what the HTTP layer (granian) refuses before the app sees the request, with a status and no body: bytes
# that are no UTF-8 in the request line (400), a request line past 64 KB (414), headers past its limit (431)
HTTP_LAYER = (400, 414, 431)


def answered(server, method, target, headers=None, body=b"", ok=(200,)):
    """The request's answer, checked: a 4xx OperationOutcome in FHIR JSON (or the HTTP layer's bare refusal),
    or a status of `ok`; never a 5xx; and /health answers right after. -> (status, JSON or None)"""
    if isinstance(target, str):
        target = target.encode()
    status, hdrs, raw = raw_request(server, method, target, headers, body)
    if not raw and "content-type" not in hdrs and status in HTTP_LAYER:
        assert raw_request(server, "GET", b"/health")[0] == 200
        return status, None
    assert status < 500, (method, target[:120], status, raw[:300])
    assert status in ok or 400 <= status < 500, (method, target[:120], status, raw[:300])
    parsed = None
    if raw:
        assert "json" in hdrs.get("content-type", ""), (method, target[:120], hdrs, raw[:200])
        parsed = json.loads(raw)
    if status >= 400 and method != "HEAD":
        assert parsed["resourceType"] == "OperationOutcome" and parsed["issue"], parsed
    assert raw_request(server, "GET", b"/health")[0] == 200
    return status, parsed


def json_post(server, path, body: bytes, ctype=FHIR_JSON, extra=None, ok=(200,)):
    return answered(server, "POST", path, {"Content-Type": ctype, **(extra or {})}, body, ok=ok)


def parameters(*entries) -> bytes:
    return json.dumps({"resourceType": "Parameters", "parameter": list(entries)}).encode()


# -- JSON bodies -------------------------------------------------------------------------------

def test_json_nested_ten_thousand_deep(live_server):
    deep = b'{"resourceType":"Parameters","parameter":[{"name":"x","part":' + b"[" * 10_000 + b"]" * 10_000 + b"}]}"
    status, body = json_post(live_server, LOOKUP, deep)
    assert status == 400
    for path in ("/fhir", "/r4/fhir"):
        assert json_post(live_server, path, b'{"resourceType":"Bundle","type":"batch","entry":'
                         + b"[" * 10_000 + b"]" * 10_000 + b"}")[0] == 400


def test_duplicate_json_keys_are_refused(live_server):
    status, body = json_post(live_server, LOOKUP, b'{"resourceType":"Parameters","parameter":[{"name":"system",'
                             b'"valueUri":"' + DCM.encode() + b'","valueUri":"http://other"},'
                             b'{"name":"code","valueCode":"CT"}]}')
    assert status == 400 and "valueUri" in body["issue"][0]["details"]["text"]


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"-0", b"-0.0", b"1E400", b"99999999999999999999999"])
def test_numbers_json_cannot_hold_or_signed_zero(live_server, number):
    for name in ("count", "offset"):
        body = (b'{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"' + CID33.encode()
                + b'"},{"name":"' + name.encode() + b'","valueInteger":' + number + b"}]}")
        status, answer = json_post(live_server, "/fhir/ValueSet/$expand", body)
        if number == b"-0":   # the integer 0 (an integer has no sign of zero)
            assert status == 200 and answer["resourceType"] == "ValueSet"
        else:   # no integer, or none a double holds
            assert status == 400, answer


def test_lone_surrogates(live_server):
    for escaped in (b"\\ud800", b"\\udfff", b"a\\ud800b"):
        status, _ = json_post(live_server, LOOKUP, b'{"resourceType":"Parameters","parameter":[{"name":"system",'
                              b'"valueUri":"' + DCM.encode() + b'"},{"name":"code","valueCode":"' + escaped + b'"}]}')
        assert status == 400
    status, _ = answered(live_server, "GET", f"{LOOKUP}?system={DCM}&code=%ED%A0%80")   # one in UTF-8: none
    assert status == 400


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\x85"])
def test_control_characters_in_codes_urls_and_filters(live_server, char):
    q = urllib.parse.quote
    for query in (f"system={DCM}&code=CT{q(char)}", f"system={q(DCM + char)}&code=CT", f"system={DCM}&code={q(char)}"):
        status, body = answered(live_server, "GET", f"{LOOKUP}?{query}")
        assert status == 400 and "must be" in body["issue"][0]["details"]["text"], body
    status, body = answered(live_server, "GET", f"/fhir/ValueSet/$expand?url={q(CID33)}&filter=CT{q(char)}")
    assert status == 200   # a filter is a string: any text, matched as text
    status, body = json_post(live_server, LOOKUP, parameters({"name": "system", "valueUri": DCM},
                                                             {"name": "code", "valueCode": "CT" + char}))
    assert status == 400


def test_invalid_utf8_and_overlong_escapes_in_the_query(live_server):
    system = b"system=" + DCM.encode()
    assert answered(live_server, "GET", LOOKUP.encode() + b"?" + system + b"&code=\xff\xfe")[0] == 400
    for query in (system + b"&code=%ff%fe", system + b"&code=%C0%AF", system + b"&code=%E0%80%AF",
                  b"system=%C0%AE%C0%AE%2F&code=CT", system + b"&code=%ED%A0%80"):
        for path in (LOOKUP.encode(), b"/r4/fhir/ValueSet", b"/fhir/metadata"):
            status, body = answered(live_server, "GET", path + b"?" + query, ok=())
            assert "not UTF-8" in body["issue"][0]["details"]["text"], (path, query, body)
    for query in (b"code=%", b"code=%G1&system=x", b"%=%&=&&="):   # a '%' that escapes nothing is itself
        answered(live_server, "GET", LOOKUP.encode() + b"?" + query, ok=())


def test_a_codeable_concept_of_100000_codings(live_server):
    codings = [{"system": DCM, "code": f"X{i}"} for i in range(100_000)]
    status, body = json_post(live_server, VALIDATE, parameters(
        {"name": "url", "valueUri": CID33}, {"name": "codeableConcept", "valueCodeableConcept": {"coding": codings}}),
        ok=(200,))
    assert status in (200, 413, 422)
    if status == 200:
        assert body["resourceType"] == "Parameters"


def test_ten_thousand_repeated_parameters(live_server):
    status, body = answered(live_server, "GET", f"{LOOKUP}?system={DCM}&" + "&".join(["code=C"] * 10_000))
    assert status == 414 and body is None   # a request line past the HTTP layer's 64 KB
    status, body = answered(live_server, "GET", f"{LOOKUP}?system={DCM}&" + "&".join(["code"] * 10_000))
    assert status == 400 and "'code'" in body["issue"][0]["details"]["text"]
    status, body = answered(live_server, "GET", f"{LOOKUP}?system={DCM}&code=CT&" + "&".join(["p=x"] * 10_000))
    assert status == 200   # parameters nobody declared are ignored
    status, body = json_post(live_server, LOOKUP, parameters({"name": "system", "valueUri": DCM},
                                                             *[{"name": "code", "valueCode": "CT"}] * 10_000))
    assert status == 400 and "'code' may be given once, not 10000 times" in body["issue"][0]["details"]["text"]
    status, body = json_post(live_server, LOOKUP, parameters({"name": "system", "valueUri": DCM},
        {"name": "code", "valueCode": "CT"}, *[{"name": "property", "valueCode": "parent"}] * 10_000))
    assert status == 200


def test_a_filter_of_one_megabyte(live_server):
    status, body = json_post(live_server, "/fhir/ValueSet/$expand", parameters(
        {"name": "url", "valueUri": CID33}, {"name": "filter", "valueString": "a" * 2**20}))
    assert status in (200, 400, 413, 422)
    if status == 200:
        assert body["expansion"].get("total", 0) == 0
    status, body = answered(live_server, "GET", f"/fhir/ValueSet/$expand?url={CID33}&filter={'a' * 2**20}")
    assert status in HTTP_LAYER and body is None


@pytest.mark.parametrize("count", ["99999999999999999999", "-99999999999999999999", "1e3", "0x10", "１２"])
def test_absurd_counts(live_server, count):
    status, body = answered(live_server, "GET", f"/fhir/ValueSet/$expand?url={CID33}&count={urllib.parse.quote(count)}")
    assert status == 400 and "'count'" in body["issue"][0]["details"]["text"]
    status, body = answered(live_server, "GET", f"/fhir/ValueSet?_count={urllib.parse.quote(count)}")
    assert status == 400 and "'_count'" in body["issue"][0]["details"]["text"]


# -- formats and headers ----------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "text/turtle", "ttl", "html", "garbage", ""])
def test_odd_format_parameters(live_server, fmt):
    status, body = answered(live_server, "GET", f"{LOOKUP}?system={DCM}&code=CT&_format={urllib.parse.quote(fmt)}")
    assert status == 406 if fmt else status == 200


@pytest.mark.parametrize("accept, ok", [
    ("application/fhir+xml", False), ("text/turtle", True), ("*/*;q=0", False), ("application/json;q=0", False),
    ("garbage", True), (";;;,,,q=x", True), ("text/html", True), ("*/*", True), ("application/fhir+json;q=0.1", True)])
def test_odd_accept_headers(live_server, accept, ok):
    status, _ = answered(live_server, "GET", f"{LOOKUP}?system={DCM}&code=CT", {"Accept": accept})
    assert status == (200 if ok else 406), accept


BODY = parameters({"name": "system", "valueUri": DCM}, {"name": "code", "valueCode": "CT"})


@pytest.mark.parametrize("ctype, body, expected", [
    ("application/x-www-form-urlencoded", BODY, 415),
    ("application/x-www-form-urlencoded", f"system={DCM}&code=CT".encode(), 415),
    (FHIR_JSON, f"system={DCM}&code=CT".encode(), 400),
    ("application/fhir+json; charset=latin-1", BODY, 415),
    ("application/fhir+json; charset=utf-8", BODY, 200),
    ("text/plain", BODY, 415),
    ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--", 415),
])
def test_content_type_lies(live_server, ctype, body, expected):
    assert json_post(live_server, LOOKUP, body, ctype=ctype)[0] == expected


def test_compressed_bodies_are_refused(live_server):
    import gzip
    for encoding in ("gzip", "deflate", "br", "x-nonsense"):
        status, body = json_post(live_server, LOOKUP, gzip.compress(BODY), extra={"Content-Encoding": encoding})
        assert status == 415, (encoding, body)
    assert json_post(live_server, LOOKUP, BODY, extra={"Content-Encoding": "identity"})[0] == 200


# -- methods ----------------------------------------------------------------------------------

def described_paths():
    """Every path of the description, with an example of each path parameter."""
    for path, item in build_spec()["paths"].items():
        yield path.replace("{id}", "dicom-dcm").replace("{table}", "t"), {m.upper() for m in item}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "TRACE", "PROPFIND", "FOO"])   # (CONNECT: the
# HTTP layer closes the connection: it names a host, not a path)
def test_methods_not_served_on_every_path_are_405_naming_those_that_are(live_server, method):
    for path, served in described_paths():
        status, hdrs, raw = raw_request(live_server, method, path.encode(), {"Content-Type": FHIR_JSON}, b"{}")
        assert status == 405, (method, path, status, raw[:200])
        assert "json" in hdrs.get("content-type", "") and json.loads(raw)["resourceType"] == "OperationOutcome"
        allowed = {m.strip() for m in hdrs["allow"].split(",")}
        assert served <= allowed and method not in allowed, (path, hdrs["allow"])
    assert raw_request(live_server, "GET", b"/health")[0] == 200


# -- batches ----------------------------------------------------------------------------------

def batch(*entries) -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": "batch", "entry": list(entries)}).encode()


def test_a_batch_that_nests_a_batch(live_server):
    inner = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"CodeSystem/$lookup?system={DCM}&code=CT"}}]}
    status, body = json_post(live_server, "/fhir", batch({"request": {"method": "POST", "url": ""}, "resource": inner},
                                                         {"request": {"method": "POST", "url": "/"}, "resource": inner},
                                                         {"resource": inner}))
    assert status == 200 and len(body["entry"]) == 3
    assert all(e["response"]["status"].startswith("4") for e in body["entry"]), body


def test_a_batch_of_ten_thousand_entries(live_server):
    entry = {"request": {"method": "GET", "url": f"CodeSystem/$lookup?system={DCM}&code=CT"}}
    status, body = json_post(live_server, "/fhir", batch(*[entry] * 10_000))
    assert status == 200 and len(body["entry"]) == 10_000
    assert {e["response"]["status"][:3] for e in body["entry"]} <= {"200", "422"}
    status, body = json_post(live_server, "/fhir", batch(*[entry] * 10_001))
    assert status == 413


@pytest.mark.parametrize("entries", [[1], [None], ["x"], [[]], [True], None, "x", {}, 0])
def test_a_batch_whose_entries_are_not_objects(live_server, entries):
    status, body = json_post(live_server, "/fhir", json.dumps(
        {"resourceType": "Bundle", "type": "batch", "entry": entries}).encode())
    assert status == 400 and "entry" in body["issue"][0]["details"]["text"]


def test_a_key_given_twice_in_any_object_is_refused_whatever_its_spelling(live_server):
    """orjson keeps the last of two same keys, silently: the body is checked for them (exactly, when writing
    it again does not show that it has none)."""
    for body in (b'{"resourceType":"Parameters","resourceType":"Parameters","parameter":[]}',
                 b'{"resourceType":"Parameters","parameter":[{"name":"code","valueCode":"CT","name":"system"}]}',
                 b'{"resourceType":"Parameters","parameter":[{"name":"system","valueUri":"x","val\\u0075eUri":"y"}]}',
                 b'{"resourceType":"Parameters","parameter":[{"name":"count","valueInteger":1e1,"valueInteger":2}]}'):
        status, answer = json_post(live_server, "/fhir/ValueSet/$expand", body)
        assert status == 400 and "given twice" in answer["issue"][0]["details"]["text"], answer
    for body in (b'{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"' + CID33.encode() + b'"},'
                 b'{"name":"filter","valueString":"\\u0043T \\"{\\"a\\":1,\\"a\\":2}"}]}',    # in a string: text
                 b'{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"' + CID33.encode() + b'"},'
                 b'{"name":"count","valueInteger":1.0E1}]}'):
        status, answer = json_post(live_server, "/fhir/ValueSet/$expand", body)
        assert status == 200 or "given twice" not in answer["issue"][0]["details"]["text"], answer
    status, answer = json_post(live_server, "/fhir", b'{"resourceType":"Bundle","type":"batch","type":"transaction"}')
    assert status == 400 and "given twice" in answer["issue"][0]["details"]["text"]


@pytest.mark.parametrize("entry", [{"x-unknown": 1}, {"modifierExtension": []}, {"id": 1}, {"extension": [1]},
                                   {"extension": {}}, {"valueBoolean": True}])
def test_a_parameter_entry_holds_only_what_a_parameter_has(live_server, entry):
    status, body = json_post(live_server, LOOKUP, parameters({"name": "system", "valueUri": DCM},
                                                             {"name": "code", "valueCode": "CT", **entry}))
    assert status == 400 and body["issue"][0]["expression"] == ["Parameters.parameter[1]"], body
    status, body = json_post(live_server, LOOKUP, parameters({"name": "system", "valueUri": DCM, "id": "a"},
        {"name": "code", "valueCode": "CT", "extension": [{"url": "http://example.org/x", "valueString": "y"}]}))
    assert status == 200 and body["resourceType"] == "Parameters"
