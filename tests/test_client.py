"""termsvc.client against a real `termsvc serve` (R5 and R4), and its retries against stand-in servers."""
import dataclasses
import http.server
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import requests

from conftest import CID33, DCM, SCT, eventually, free_port, start_server
from termsvc.client import CANNOT_JUDGE, INVALID, VALID, TerminologyClient, TerminologyError
from termsvc.local_client import LocalClient

RIS_CS = "http://termsvc.example.eu/fhir/CodeSystem/ris-modality-eu"
RIS_MAP = "http://termsvc.example.eu/fhir/ConceptMap/ris-modality-eu"
ES_CS = "http://termsvc.example.eu/fhir/CodeSystem/es-catalogo-procedimientos-radiologia"


class Counting(requests.Session):
    """A session that counts the HTTP requests it sends."""

    def __init__(self):
        super().__init__()
        self.sent = 0

    def request(self, *a, **kw):
        self.sent += 1
        return super().request(*a, **kw)


@pytest.fixture(scope="module")
def r5(live_server):
    with TerminologyClient(live_server.base + "/fhir") as c:
        yield c


@pytest.fixture(scope="module")
def r4(live_server):
    with TerminologyClient(live_server.base + "/r4/fhir", fhir_version="R4") as c:
        yield c


def test_translate_r5(r5):
    r = r5.translate("RX", RIS_CS)
    assert r.result is True and r.message is None
    assert [(m.system, m.code, m.relationship) for m in r.matches] == [
        (DCM, "DX", "source-is-broader-than-target"), (DCM, "CR", "source-is-broader-than-target")]
    assert r.matches[0].display == "Digital Radiography"
    assert r.matches[0].origin_map == RIS_MAP + "|2026.1"
    assert r.matches[0].equivalence is None
    assert r.raw["resourceType"] == "Parameters"


def test_translate_r4_gives_the_equivalence_and_the_r5_relationship(r4):
    r = r4.translate("RX", RIS_CS)
    assert r.result is True
    assert [(m.code, m.equivalence, m.relationship) for m in r.matches] == [
        ("DX", "narrower", "source-is-broader-than-target"), ("CR", "narrower", "source-is-broader-than-target")]


def test_translate_keeps_codes_as_strings_and_names_the_map(r5):
    r = r5.translate("0012", ES_CS, url="http://termsvc.example.eu/fhir/ConceptMap/es-catalogo-procedimientos-radiologia",
                     target_system=SCT)
    assert r.result and r.matches[0].code == "168537006" and r.matches[0].system == SCT


def test_no_translation_says_why(r5):
    r = r5.translate("CONS", RIS_CS)
    assert r.result is False and r.matches == []
    assert "deliberately not mapped" in r.message


def test_validate_code_against_code_system_and_value_set(r5, r4):
    ok = r5.validate_code("CT", DCM)
    assert ok.result is True and ok.display == "Computed Tomography" and ok.system == DCM
    bad = r5.validate_code("NOT-A-CODE", DCM, url=CID33)
    assert bad.result is False
    assert any(i.severity == "error" and i.tx_type for i in bad.issues)
    assert "NOT-A-CODE" in bad.message
    wrong_display = r4.validate_code("CT", DCM, display="Cat scan")
    assert wrong_display.result is False and any("Cat scan" in i.text for i in wrong_display.issues)


def test_validate_cannot_tell_for_a_fragment(r5):
    r = r5.validate_code("123456001", SCT)  # a well-formed SCTID; pydicom's SNOMED CT subset is a fragment
    assert any(i.severity == "warning" and i.message_id == "UNKNOWN_CODE_IN_FRAGMENT" for i in r.issues)
    assert r.result is True and r.verdict == CANNOT_JUDGE   # HL7's convention says true; it is not a yes
    assert "may be valid in some other fragment" in r.reason


IM_PROCEDURE_TYPE = "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type"   # an is-a over DICOM's SCT subset


@pytest.mark.parametrize("which", ["r5", "r4", "local"])
def test_the_verdict_tells_valid_invalid_and_cannot_judge_apart(which, request, db_path):
    c = LocalClient(db_path) if which == "local" else request.getfixturevalue(which)
    valid = c.validate_code("CT", DCM, url=CID33)
    assert (valid.result, valid.verdict, valid.reason) == (True, VALID, None)
    invalid = c.validate_code("XX", DCM, url=CID33)
    assert (invalid.result, invalid.verdict, invalid.reason) == (False, INVALID, None)
    unjudged = c.validate_code("168537006", SCT, url=IM_PROCEDURE_TYPE.replace("imaging-r5", "imaging")
                               if which == "r4" else IM_PROCEDURE_TYPE)
    assert (unjudged.result, unjudged.verdict) == (False, CANNOT_JUDGE)
    assert "cannot be evaluated" in unjudged.reason and "fragment" in unjudged.reason
    unknown = c.validate_code("1", "http://example.org/unknown-system")
    assert unknown.verdict == CANNOT_JUDGE and "could not be found" in unknown.reason
    many = c.validate_many(["CT", "XX", {"code": "CT", "url": "http://example.org/none"}], DCM, url=CID33)
    assert [r.verdict for r in many] == [VALID, INVALID, CANNOT_JUDGE]
    assert "could not be found" in many[2].reason


def test_a_value_set_by_id_and_the_system_inferred(r5):
    r = r5.validate_code("CT", value_set_id="dicom-cid-33")
    assert (r.verdict, r.system) == (VALID, DCM)
    assert r5.validate_code("CT", url=CID33).system == DCM
    assert r5.validate_code("XX", value_set_id="dicom-cid-33").verdict == INVALID
    with pytest.raises(TerminologyError) as e:
        r5.validate_code("CT", value_set_id="no-such-id")
    assert e.value.status == 404 and "ValueSet/no-such-id not found" in e.value.message


def test_an_unclosed_expansion_says_so(r5):
    e = r5.expand(IM_PROCEDURE_TYPE)
    assert e.unclosed is True and "is-a 363679005" in e.unclosed_reason and "fragment" in e.unclosed_reason
    closed = r5.expand(CID33, limit=3)
    assert closed.unclosed is False and closed.unclosed_reason is None and closed.total > 3
    assert len(list(closed)) == 3 and len(list(closed)) == 3   # iterated again: the same concepts
    assert [c.code for c in r5.expand(value_set_id="dicom-cid-33")] == [c.code for c in r5.expand(CID33)]


def test_lookup_and_subsumes(r5):
    r = r5.lookup("CT", DCM)
    assert (r.code, r.system, r.display, r.name) == ("CT", DCM, "Computed Tomography", "DICOMControlledTerminology")
    assert {"code": "inactive", "value": False} in r.properties
    s = r5.subsumes("CT", "CT", DCM)
    assert s.outcome == "equivalent"


def test_expand_iterates_pages(r5, live_server):
    _, whole, _ = live_server.get(f"/fhir/ValueSet/$expand?url={CID33}")
    expected = [c["code"] for c in whole["expansion"]["contains"]]
    paged = [c.code for c in r5.expand(CID33, page_size=7)]
    assert paged == expected and len(expected) > 14
    assert [c.code for c in r5.expand(CID33, page_size=7, limit=10)] == expected[:10]
    ct = list(r5.expand(CID33, filter="computed"))
    assert any(c.code == "CT" and c.system == DCM and c.display == "Computed Tomography" for c in ct)


def test_errors_raise_with_the_outcome_issues(r5, r4):
    with pytest.raises(TerminologyError) as e:
        r5.lookup("x", "http://example.org/unknown-system")
    assert e.value.status == 404
    assert e.value.issues[0].code == "not-found" and "unknown-system" in e.value.issues[0].text
    assert e.value.outcome["resourceType"] == "OperationOutcome"
    with pytest.raises(TerminologyError) as e:
        r4.translate("TAC", RIS_CS, url="http://example.org/no-map")
    assert e.value.status == 404 and "no-map" in str(e.value)
    with pytest.raises(TerminologyError) as e:
        r5.translate(params={"sourceCode": ""})
    assert e.value.status == 400


def test_translate_many_and_validate_many_through_batch(live_server):
    session = Counting()
    with TerminologyClient(live_server.base + "/fhir", session=session, batch_size=3) as c:
        codes = ["TAC", "RM", "zz-unknown", "ECO", {"code": "TAC", "system": RIS_CS, "url": "http://example.org/no-map"},
                 "RX", "MAMO"]
        results = c.translate_many(codes, RIS_CS)
        assert session.sent == 3                      # 7 requests in batches of 3
        assert [r.result for r in results] == [True, True, False, True, False, True, True]
        assert [r.matches[0].code for r in results if r.result] == ["CT", "MR", "US", "DX", "MG"]
        failed = results[4]
        assert failed.error is not None and failed.error.status == 404 and "no-map" in failed.message
        assert results[2].error is None and "No translations" in results[2].message
        v = c.validate_many(["CT", "MR", "NOPE"], DCM)
        assert [r.result for r in v] == [True, True, False]
        v = c.validate_many([{"code": "CT", "system": DCM, "url": CID33}, {"code": "X", "system": DCM,
                                                                          "url": "http://example.org/no-vs"}])
        assert v[0].result is True and v[1].error.status == 404


def test_r4_translate_many(r4):
    results = r4.translate_many(["TAC", "RX"], RIS_CS)
    assert [m.equivalence for m in results[1].matches] == ["narrower", "narrower"]


def test_the_cache_answers_repeated_questions(live_server):
    session = Counting()
    with TerminologyClient(live_server.base + "/fhir", session=session, cache_size=2) as c:
        first = c.translate("TAC", RIS_CS)
        again = c.translate("TAC", RIS_CS)
        assert again == first and again is not first and session.sent == 1
        first.matches.clear()                          # the caller's copy: the cache keeps its own
        again.raw["parameter"].clear()
        assert c.translate("TAC", RIS_CS).matches[0].code == "CT" and session.sent == 1
        assert c.translate("TAC", RIS_CS).raw["parameter"]
        c.validate_code("CT", DCM)
        c.lookup("CT", DCM)                           # evicts the translate (LRU of 2)
        c.translate("TAC", RIS_CS)
        assert session.sent == 4
        many = c.translate_many(["TAC", "RM"], RIS_CS)   # TAC cached: one batch of one entry
        assert session.sent == 5 and many[0] == c.translate("TAC", RIS_CS) and session.sent == 5
        many[1].matches[0].code = "changed"
        assert c.translate_many(["RM"], RIS_CS)[0].matches[0].code != "changed" and session.sent == 5
    with TerminologyClient(live_server.base + "/fhir", session=(s2 := Counting())) as c:
        c.translate("TAC", RIS_CS)
        c.translate("TAC", RIS_CS)
        assert s2.sent == 2                          # no cache unless asked for


def counted_connections(monkeypatch) -> list:
    """The addresses of the TCP connections urllib3 opens from now on (in this test)."""
    import urllib3.util.connection
    opened = []
    connect = urllib3.util.connection.create_connection
    monkeypatch.setattr(urllib3.util.connection, "create_connection",
                        lambda address, *a, **kw: opened.append(address) or connect(address, *a, **kw))
    return opened


def test_one_keep_alive_connection(live_server, monkeypatch):
    opened = counted_connections(monkeypatch)
    with TerminologyClient(live_server.base + "/fhir") as c:
        for code in ("CT", "MR", "US", "NM"):
            c.validate_code(code, DCM)
    assert len(opened) == 1


def test_connection_refused_is_retried_then_raised(monkeypatch):
    attempts = counted_connections(monkeypatch)
    port = free_port()
    with TerminologyClient(f"http://127.0.0.1:{port}/fhir", retries=2, backoff=0.05) as c:
        started = time.monotonic()
        with pytest.raises(TerminologyError) as e:
            c.validate_code("CT", DCM)
        assert len(attempts) == 3 and e.value.status is None and "after 3 attempt(s)" in str(e.value)
        assert time.monotonic() - started >= 0.1   # urllib3's backoff: none before the first retry, then 2 x 0.05


def test_a_server_that_comes_up_during_the_retries_answers(db_path, tmp_path, monkeypatch):
    """The client asks first; the real server comes up a moment later, within the backoff."""
    attempts = counted_connections(monkeypatch)
    port = free_port()
    holder = {}

    def ask():
        with TerminologyClient(f"http://127.0.0.1:{port}/fhir", retries=8, backoff=0.25) as c:
            holder["result"] = c.validate_code("CT", DCM)
    asking = threading.Thread(target=ask)
    asking.start()
    eventually(lambda: len(attempts) >= 2, what="a retry")   # refused, and refused again
    assert "result" not in holder
    srv = start_server(db_path, str(tmp_path / "late.log"), port=port)
    try:
        asking.join(60)
        assert holder["result"].result is True
    finally:
        srv.stop()


class _Unavailable(http.server.BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) to the first `failures` requests, then a Parameters."""
    failures = 2
    seen = 0
    retry_after = "0"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self):
        type(self).seen += 1
        if type(self).seen <= type(self).failures:
            body = json.dumps({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "transient", "details": {"text": "busy"}}]}).encode()
            self.send_response(503)
            self.send_header("Retry-After", type(self).retry_after)
        else:
            body = json.dumps({"resourceType": "Parameters", "parameter": [
                {"name": "result", "valueBoolean": True}, {"name": "code", "valueCode": "CT"}]}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def unavailable():
    _Unavailable.seen, _Unavailable.failures, _Unavailable.retry_after = 0, 2, "0"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_503_is_retried(unavailable):
    base = f"http://127.0.0.1:{unavailable.server_address[1]}/fhir"
    with TerminologyClient(base, retries=3, backoff=0.01) as c:
        assert c.validate_code("CT", DCM).result is True
    assert _Unavailable.seen == 3


def test_503_past_the_retries_raises_with_the_outcome(unavailable):
    _Unavailable.failures = 10
    try:
        base = f"http://127.0.0.1:{unavailable.server_address[1]}/fhir"
        with TerminologyClient(base, retries=1, backoff=0.01) as c:
            with pytest.raises(TerminologyError) as e:
                c.validate_code("CT", DCM)
        assert e.value.status == 503 and e.value.issues[0].code == "transient"
        assert e.value.outcome == {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "transient", "details": {"text": "busy"}}]}
        assert e.value.message == "HTTP 503: busy" and _Unavailable.seen == 2
        with TerminologyClient(base, retries=1, backoff=0.01) as c:       # a batch too
            with pytest.raises(TerminologyError) as e:
                c.validate_many(["CT", "MR"], DCM)
        assert e.value.status == 503 and e.value.outcome["issue"][0]["details"]["text"] == "busy"
    finally:
        _Unavailable.failures = 2


# questions whose answers cover each kind of result: yes, no, cannot judge, a failing batch entry, ...
QUESTIONS = [
    lambda c: c.translate("RX", RIS_CS), lambda c: c.translate("nope", RIS_CS),
    lambda c: c.translate("CT", DCM, target_system=RIS_CS, params={"reverse": "true"} if c.r4 else {}),
    lambda c: c.validate_code("CT", DCM, url=CID33), lambda c: c.validate_code("XX", DCM, url=CID33),
    lambda c: c.validate_code("CT", DCM, url=CID33, display="Cat scan"), lambda c: c.validate_code("CT", DCM),
    lambda c: c.validate_code("123456001", SCT), lambda c: c.validate_code("1", "http://example.org/unknown"),
    lambda c: c.validate_code("CT", None, url=CID33),
    lambda c: c.validate_many(["CT", "XX", {"code": "CT", "url": "http://example.org/none"}], DCM, url=CID33),
    lambda c: c.translate_many(["TAC", "nope"], RIS_CS),
    lambda c: c.lookup("CT", DCM), lambda c: c.lookup("CT", DCM, properties=["inactive"], display_language="de"),
    lambda c: c.subsumes("CT", "CT", DCM),
]


@pytest.mark.parametrize("version", ["R5", "R4"])
def test_local_client_answers_what_the_server_answers(db_path, r5, r4, version):
    """LocalClient makes the engine's typed answers into the client's results without HTTP or Parameters;
    they are the results a client over HTTP reads from the server's answers, `raw` and all."""
    local, remote = LocalClient(db_path, fhir_version=version), (r5 if version == "R5" else r4)

    def seen(result):   # a failed batch entry: its error's status and issues (its message names the transport)
        if isinstance(result, list):
            return [seen(r) for r in result]
        error = getattr(result, "error", None)
        if error is None:
            return result
        assert result.message == result.reason == error.message == \
            ("HTTP 404: " if c is remote else "") + error.issues[0].text
        return dataclasses.replace(result, error=None, message=None, reason=None), error.status, error.issues
    for ask in QUESTIONS:
        assert seen(ask(c := local)) == seen(ask(c := remote))
    for ask in (lambda c: c.expand(CID33, page_size=7), lambda c: c.expand(IM_PROCEDURE_TYPE, limit=30)):
        here, there = ask(local), ask(remote)
        assert (list(here), here.total, here.unclosed, here.unclosed_reason) == \
            (list(there), there.total, there.unclosed, there.unclosed_reason)


def test_retry_after_is_honoured(unavailable):
    _Unavailable.failures, _Unavailable.retry_after = 1, "1"
    base = f"http://127.0.0.1:{unavailable.server_address[1]}/fhir"
    with TerminologyClient(base, retries=2, backoff=0.01) as c:
        started = time.monotonic()
        assert c.validate_code("CT", DCM).result is True
        assert time.monotonic() - started >= 1.0 and _Unavailable.seen == 2   # the server's pause, not 0.01 s


def test_a_late_answer_is_not_asked_for_again(monkeypatch):
    """A request the server got but answers too late is not sent again: the client says so at its timeout."""
    opened = counted_connections(monkeypatch)
    with socket.create_server(("127.0.0.1", 0)) as silent:   # the kernel accepts; nothing ever answers
        base = f"http://127.0.0.1:{silent.getsockname()[1]}/fhir"
        with TerminologyClient(base, retries=3, timeout=(5, 0.3)) as c:
            with pytest.raises(TerminologyError, match="No answer .* within"):
                c.lookup("CT", DCM)
    assert len(opened) == 1


def test_local_client_answers_like_the_server(db_path, r5):
    local = LocalClient(db_path)
    assert [c.code for c in local.expand(CID33, page_size=10)] == [c.code for c in r5.expand(CID33)]
    assert [r.result for r in local.translate_many(["TAC", "nope"], RIS_CS)] == [True, False]
    with pytest.raises(TerminologyError) as e:
        local.lookup("x", "http://example.org/unknown-system")
    assert e.value.status == 404 and "HTTP" not in e.value.message   # no HTTP involved
    assert e.value.message.startswith("A definition for CodeSystem http://example.org/unknown-system")
    r4 = LocalClient(db_path, fhir_version="R4")
    assert r4.translate("RX", RIS_CS).matches[0].equivalence == "narrower"


def test_the_client_needs_nothing_of_the_server(live_server):
    """A converter that uses the client over HTTP does not load the server: termsvc.client is imported and
    answers with the server's modules and libraries blocked (requests and the standard library suffice)."""
    code = textwrap.dedent("""
        import importlib.abc, sys
        BLOCKED = ("flask", "werkzeug", "granian", "jinja2", "sqlite_utils", "sqlite3", "orjson", "pydicom",
                   "openpyxl", "marshmallow", "prometheus_client", "apispec", "termsvc.api", "termsvc.ops",
                   "termsvc.store", "termsvc.loaders", "termsvc.build", "termsvc.local_client", "termsvc.settings")

        class Blocked(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name in BLOCKED or name.startswith(tuple(b + "." for b in BLOCKED)):
                    raise ImportError(f"{name} is blocked")

        sys.meta_path.insert(0, Blocked())
        from termsvc.client import TerminologyClient
        with TerminologyClient(sys.argv[1]) as tx:
            print(tx.validate_code("CT", "http://dicom.nema.org/resources/ontology/DCM").verdict)
            print(sorted(m for m in sys.modules if m.startswith("termsvc")))
    """)
    p = subprocess.run([sys.executable, "-c", code, live_server.base + "/fhir"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    verdict, loaded = p.stdout.splitlines()
    assert verdict == VALID
    assert eval(loaded) == ["termsvc", "termsvc.client", "termsvc.fhir", "termsvc.fhir.convert", "termsvc.results"]


def test_the_readme_converter_example_runs(live_server, capsys):
    """The README's converter example, run against a real server: it stays true."""
    import os
    import re
    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md"), encoding="utf-8").read()
    section = readme[readme.index("## For converters"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    assert len(code.strip().splitlines()) <= 12
    exec(compile(code.replace("http://127.0.0.1:8080", live_server.base), "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"TAC -> {DCM} CT Computed Tomography (equivalent, {RIS_MAP}|2026.1)")
    assert out[3].startswith("CONS -> no EU code:") and "deliberately not mapped" in out[3]
