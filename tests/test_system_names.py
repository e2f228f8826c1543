"""A Coding whose system is a known code system named otherwise - by its OID (`urn:oid:2.16.840.1.113883.6.96`
is SNOMED CT's), or by its URI written another way (`https://snomed.info/sct/`) - is a no that says the URI to
use, on every surface: $validate-code (R5 and R4, code system and value set), the engine's Judge,
`check-resource`, `mappings check`. A code system of a like name (`http://snomed.org/sct`) stays unknown, with
the question "did you mean". The OIDs come from the code systems' NamingSystems and their own identifiers."""
import json
import urllib.parse

import pytest
from click.testing import CliRunner

from conftest import param, store_of
from termsvc.cli import cli
from termsvc.ops.judge import MISNAMED_SYSTEM, UNKNOWN_SYSTEM, Judge
from termsvc.ops.systems import GUESS, OID, WRITTEN_OTHERWISE, system_named
from termsvc.store.reader import Store

SCT, DCM = "http://snomed.info/sct", "http://dicom.nema.org/resources/ontology/DCM"
SCT_OID, DCM_OID = "urn:oid:2.16.840.1.113883.6.96", "urn:oid:1.2.840.10008.2.16.4"
CID_29 = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_29.html"


def validate(client, base="/fhir", what="CodeSystem", **query):
    r = client.get(f"{base}/{what}/$validate-code?" + urllib.parse.urlencode(query))
    assert r.status_code == 200, r.data
    return r.get_json()


def issues(answer) -> list[tuple]:
    oo = param(answer, "issues")
    return [(i["severity"], i["code"], i["details"]["text"]) for i in oo["issue"]]


@pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
@pytest.mark.parametrize("system,uri", [(SCT_OID, SCT), (DCM_OID, DCM), ("https://snomed.info/sct/", SCT),
                                        ("HTTP://WWW.SNOMED.INFO/SCT", SCT)])
def test_a_known_code_system_named_otherwise_is_a_no_that_names_its_uri(client, base, system, uri):
    code = "72696002" if uri == SCT else "CT"
    answer = validate(client, base, url=system, code=code) if base == "/fhir" else \
        validate(client, base, system=system, code=code)
    assert param(answer, "result") is False
    assert param(answer, "x-unknown-system") is None     # the server knows which code system it is
    [(severity, kind, text)] = issues(answer)
    assert (severity, kind) == ("error", "invalid") and "a Coding names it by" in text and uri in text
    assert param(answer, "message") == text


def test_in_a_value_set_the_coding_is_not_a_member_and_says_why(client):
    answer = validate(client, what="ValueSet", url=CID_29, system=DCM_OID, code="CT")
    assert param(answer, "result") is False
    texts = [t for _, _, t in issues(answer)]
    assert any(f"is the OID of the code system {DCM}" in t for t in texts)
    assert param(validate(client, what="ValueSet", url=CID_29, system=DCM, code="CT"), "result") is True


def test_a_code_system_of_a_like_name_stays_unknown_with_a_question(client):
    answer = validate(client, url="http://snomed.org/sct", code="72696002")
    assert param(answer, "result") is False and param(answer, "x-unknown-system") == "http://snomed.org/sct"
    assert ("warning", "invalid", f"Did you mean the code system {SCT}?") in issues(answer)
    plain = validate(client, url="http://unknown.example.org/cs", code="x")   # no like name: as before
    assert [k for _, k, _ in issues(plain)] == ["not-found"]


def test_the_judge_reads_the_same_answer(db_path):
    judge = Judge(Store(db_path))
    misnamed = judge.code(SCT_OID, "72696002")
    assert (misnamed.verdict, misnamed.state, misnamed.system_uri) == ("invalid", MISNAMED_SYSTEM, SCT)
    guessed = judge.code("http://snomed.org/sct", "72696002")
    assert (guessed.verdict, guessed.state) == ("cannot-judge", UNKNOWN_SYSTEM)
    assert f"(Did you mean the code system {SCT}?)" in guessed.message
    assert judge.code(SCT, "72696002").verdict == "valid"


def test_check_resource_and_mappings_check_say_it(db_path, tmp_path):
    study = {"resourceType": "ImagingStudy", "id": "s", "status": "available", "subject": {"reference": "Patient/p"},
             "series": [{"uid": "1.2.3", "modality": {"system": DCM_OID, "code": "CT"}}]}
    (tmp_path / "study.json").write_text(json.dumps(study))
    r = CliRunner().invoke(cli, ["check-resource", str(tmp_path / "study.json"), "--db", db_path])
    assert r.exit_code == 1, r.output
    assert f"'{DCM_OID}' is the OID of the code system {DCM}" in r.output
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "t.csv").write_text("source_code,target_code,relationship,status\nA,CT,equivalent,accepted\n"
                                  "B,MR,equivalent,accepted\n")
    (tables / "t.toml").write_text(f'url = "http://ex.test/cm/t"\nsource_system = "http://ex.test/cs"\n'
                                   f'target_system = "{DCM_OID}"\n')
    r = CliRunner().invoke(cli, ["mappings", "check", str(tables), "--no-default-mappings", "--db", db_path, "--json"])
    problems = [p for t in json.loads(r.output)["tables"] for p in t["problems"] if p["kind"] == "misnamed-system"]
    assert len(problems) == 1 and problems[0]["level"] == "error"
    assert DCM in problems[0]["message"] and "(rows 2-3)" in problems[0]["message"]


def test_the_oids_come_from_naming_systems_and_code_system_identifiers(tmp_path):
    naming = {"resourceType": "NamingSystem", "name": "Local", "status": "active", "kind": "codesystem",
              "date": "2026-01-01", "uniqueId": [{"type": "oid", "value": "1.2.3.4.5", "preferred": True},
                                                 {"type": "uri", "value": "http://ex.test/cs/named", "preferred": True}]}
    by_oid = {"resourceType": "NamingSystem", "name": "ByOid", "status": "active", "kind": "codesystem",
              "date": "2026-01-01", "uniqueId": [{"type": "oid", "value": "1.2.3.4.7", "preferred": True},
                                                 {"type": "uri", "value": "urn:oid:1.2.3.4.7", "preferred": True}]}
    identifier = {"resourceType": "NamingSystem", "name": "Ids", "status": "active", "kind": "identifier",
                  "date": "2026-01-01", "uniqueId": [{"type": "oid", "value": "1.2.3.4.8", "preferred": True},
                                                     {"type": "uri", "value": "http://ex.test/ids", "preferred": True}]}
    cs = {"resourceType": "CodeSystem", "url": "http://ex.test/cs/own", "status": "active", "content": "complete",
          "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3.4.6"}], "concept": [{"code": "a"}]}
    store = store_of(tmp_path, [naming, by_oid, identifier, cs])
    assert system_named(store, "urn:oid:1.2.3.4.5").uri == "http://ex.test/cs/named"
    assert (system_named(store, "urn:oid:1.2.3.4.6").uri, system_named(store, "urn:oid:1.2.3.4.6").kind) == \
        ("http://ex.test/cs/own", OID)
    assert system_named(store, "urn:oid:1.2.3.4.7") is None      # FHIR names that one by its OID
    assert system_named(store, "urn:oid:1.2.3.4.8") is None      # an identifier system, not a code system
    assert system_named(store, "https://ex.test/cs/own/").kind == WRITTEN_OTHERWISE
    assert system_named(store, "http://ex.test/cs/own") is None    # its own URI
    assert system_named(store, "http://ex.org/cs/own").kind == GUESS
    answer = Judge(store).code("urn:oid:1.2.3.4.6", "a")
    assert answer.verdict == "invalid" and "http://ex.test/cs/own" in answer.message


@pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
def test_lookup_and_translate_name_the_uri_too(client, base):
    r = client.get(f"{base}/CodeSystem/$lookup?" + urllib.parse.urlencode({"system": DCM_OID, "code": "CT"}))
    [issue] = r.get_json()["issue"]
    assert r.status_code == 404 and issue["code"] == "not-found"           # HL7's answer, as before
    assert f"is the OID of the code system {DCM}" in issue["diagnostics"]   # and which code system it is
    answer = client.get(f"{base}/ConceptMap/$translate?" + urllib.parse.urlencode(
        {"sourceSystem": DCM_OID, "sourceCode": "CT", "targetSystem": SCT})).get_json()
    assert param(answer, "result") is False and f"is the OID of the code system {DCM}" in param(answer, "message")
    known = client.get(f"{base}/ConceptMap/$translate?" + urllib.parse.urlencode(
        {"sourceSystem": DCM, "sourceCode": "no-such-code", "targetSystem": SCT})).get_json()
    assert "OID" not in param(known, "message") and "written another way" not in param(known, "message")


def test_expanding_a_value_set_that_includes_a_code_system_by_its_oid_says_which(post):
    vs = {"resourceType": "ValueSet", "status": "active", "compose": {"include": [{"system": DCM_OID}]}}
    r = post("/fhir/ValueSet/$expand", {"valueSet": vs})
    [issue] = r.get_json()["issue"]
    assert r.status_code == 404 and issue["code"] == "not-found"
    assert f"is the OID of the code system {DCM}" in issue["diagnostics"]
