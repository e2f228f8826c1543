"""Identifier syntax (issue 17, item 1): SNOMED CT identifiers and LOINC codes judged wherever a code
is judged - units of the rules, then $validate-code, $lookup and $translate over HTTP (R5 and R4),
a CodeSystem that declares its syntax, and what a fragment still cannot know."""
import pytest

from conftest import SCT, issue_texts, param
from termsvc.ops.identifiers import (CODE_SYNTAX, DESCRIPTION, LOINC, RELATIONSHIP, SNOMED, luhn_check_digit,
                                     problem, sctid_problem, verhoeff_ok)

WELL_FORMED_ABSENT = "123456001"   # a valid SCTID the DICOM fragment does not hold


@pytest.mark.parametrize("sctid", ["7771000", "24028007", "598151000005105", "900000000000013009", "71616004",
                                   WELL_FORMED_ABSENT])
def test_real_sctids_pass(sctid):
    assert sctid_problem(sctid) is None and verhoeff_ok(sctid)


@pytest.mark.parametrize("sctid,reason", [
    ("71615007", "the check digit is wrong"),                       # the typo of issue 17
    ("12345", "it has 5 digits (an identifier has 6 to 18)"),
    ("1234567890123456789", "it has 19 digits (an identifier has 6 to 18)"),
    ("0771000", "it starts with a zero"),
    ("77710O0", "an identifier has only the digits 0-9"),
    ("999999999", "its partition identifier '99' is not one of a concept, description or relationship"),
    ("123456114", "its partition identifier '11' needs a 7-digit namespace, which 9 digits cannot hold"),
    ("", "it is empty"),
])
def test_malformed_sctids_say_why(sctid, reason):
    assert sctid_problem(sctid) == reason


def test_the_partition_must_fit_the_context():
    description = "900000000000003001"[:-3] + "01"   # a description id of the same item
    description += next(str(d) for d in range(10) if verhoeff_ok(description + str(d)))
    assert sctid_problem(description) == "its partition identifier '01' is that of a description, not a concept"
    assert sctid_problem(description, DESCRIPTION) is None
    relationship = "1000002" + next(str(d) for d in range(10) if verhoeff_ok("1000002" + str(d)))
    assert sctid_problem(relationship, RELATIONSHIP) is None


def test_expressions_are_judged_by_the_ids_they_name():
    assert problem(SNOMED, "128045006:{363698007=56459004}") is None
    assert problem(SNOMED, "128045006 |Cellulitis|:{363698007 |Finding site| = 56459004 |Foot 123|}") is None
    bad = problem(SNOMED, "128045006:{363698007=56459005}")
    assert (bad.what, bad.reason) == ("SNOMED CT expression", "'56459005': the check digit is wrong")


@pytest.mark.parametrize("code,ok", [("18748-4", True), ("18748-5", False), ("73569-6", True), ("55115-0", True),
                                     ("100066-0", True), ("LP29693-6", True), ("LA6576-8", True), ("18748", False),
                                     ("C74569", False), ("18748-44", False)])
def test_loinc_codes(code, ok):
    assert (problem(LOINC, code) is None) is ok


def test_luhn_check_digit():
    assert [luhn_check_digit(n) for n in ("18748", "73569", "18726", "55115")] == [4, 6, 0, 0]


def test_a_declared_syntax_and_no_syntax():
    cs = {"url": "http://ex.test/cs", "extension": [{"url": CODE_SYNTAX, "valueString": "[A-Z]{2}[0-9]{3}"}]}
    assert problem("http://ex.test/cs", "AB123", cs) is None
    bad = problem("http://ex.test/cs", "ab123", cs)
    assert bad.reason == "its codes match the pattern [A-Z]{2}[0-9]{3} (declared by the CodeSystem)"
    assert problem("http://ex.test/other", "anything at all") is None          # no syntax known: nothing said
    broken = {"extension": [{"url": CODE_SYNTAX, "valueString": "(a"}]}          # RE2 cannot read it
    assert problem("http://ex.test/cs", "x", broken) is None


# -- over HTTP ---------------------------------------------------------------------------------------

def get(client, path, **query):
    return client.get(path, query_string=query)


@pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
def test_validate_code_says_a_malformed_identifier_is_invalid_even_over_a_fragment(client, base):
    body = get(client, f"{base}/CodeSystem/$validate-code", system=SCT, code="71615007").get_json()
    assert param(body, "result") is False
    (issue,) = param(body, "issues")["issue"]
    assert issue["severity"] == "error" and issue["code"] == "code-invalid"
    assert issue["details"]["coding"][0]["code"] == "invalid-code"
    assert issue["details"]["text"] == ("The code '71615007' is not a valid SNOMED CT concept identifier: the check"
                                        " digit is wrong")
    assert param(body, "message") == issue["details"]["text"]
    # a well-formed id the fragment lacks stays "cannot be judged" (a warning; the code may exist)
    body = get(client, f"{base}/CodeSystem/$validate-code", system=SCT, code=WELL_FORMED_ABSENT).get_json()
    assert param(body, "result") is True
    assert [i["details"]["coding"][0]["code"] for i in param(body, "issues")["issue"]] == ["invalid-code"]
    assert param(body, "issues")["issue"][0]["severity"] == "warning"


def test_validate_code_against_a_value_set_of_all_of_a_fragment(client):
    vs = "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type"
    body = get(client, "/fhir/ValueSet/$validate-code", url=vs, system=SCT, code="12345").get_json()
    assert param(body, "result") is False and not [p for p in body["parameter"] if p["name"] == "x-caused-by-unknown-system"]
    texts = issue_texts(param(body, "issues"))
    assert "The code '12345' is not a valid SNOMED CT concept identifier: it has 5 digits (an identifier has 6 to 18)" \
        in texts
    body = get(client, "/fhir/ValueSet/$validate-code", url=vs, system=SCT, code=WELL_FORMED_ABSENT).get_json()
    assert any("cannot be checked against the value set" in t for t in issue_texts(param(body, "issues")))


def test_a_malformed_loinc_code_of_a_system_not_loaded_in_a_request(client):
    body = get(client, "/fhir/CodeSystem/$validate-code", system=LOINC, code="18748-5").get_json()
    assert param(body, "result") is False
    assert "The code '18748-5' is not a valid LOINC code: the check digit is wrong" in param(body, "message")


@pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
def test_lookup_and_translate_refuse_a_malformed_input_with_400(client, base):
    r = get(client, f"{base}/CodeSystem/$lookup", system=SCT, code="71615007")
    assert r.status_code == 400
    (issue,) = r.get_json()["issue"]
    assert issue["code"] == "code-invalid" and "the check digit is wrong" in issue["details"]["text"]
    code_name = "code" if base.startswith("/r4") else "sourceCode"
    r = client.get(f"{base}/ConceptMap/$translate", query_string={"system": SCT, code_name: "12345"})
    assert r.status_code == 400 and "not a valid SNOMED CT concept identifier" in r.get_data(as_text=True)
    # a well-formed code the fragment lacks: 404, saying the code system is a fragment
    r = get(client, f"{base}/CodeSystem/$lookup", system=SCT, code=WELL_FORMED_ABSENT)
    assert r.status_code == 404 and "labeled as a fragment" in r.get_json()["issue"][0]["details"]["text"]


def test_a_code_system_sent_with_the_request_declares_its_syntax(post):
    cs = {"resourceType": "CodeSystem", "url": "http://ex.test/cs/declared", "status": "active", "content": "fragment",
          "extension": [{"url": CODE_SYNTAX, "valueString": "[A-Z]{2}[0-9]{3}"}],
          "concept": [{"code": "AB123", "display": "A"}]}
    base = [("url", "http://ex.test/cs/declared"), ("tx-resource", cs)]
    body = post("/fhir/CodeSystem/$validate-code", base + [("code", "ab-1")]).get_json()
    assert param(body, "result") is False and "its codes match the pattern" in param(body, "message")
    body = post("/fhir/CodeSystem/$validate-code", base + [("code", "CD456")]).get_json()
    assert param(body, "result") is True   # well-formed, not in the fragment: cannot be judged, not invalid


def test_a_complete_snomed_code_system_sent_with_the_request_answers_for_what_it_lists(post):
    """A request's own CodeSystem for http://snomed.info/sct (HL7 tests make some up): the codes it lists
    are its own; a code it does not list is judged by the syntax first."""
    cs = {"resourceType": "CodeSystem", "url": SCT, "version": "test", "status": "active", "content": "complete",
          "concept": [{"code": "1234", "display": "made up"}]}
    base = [("url", SCT), ("version", "test"), ("tx-resource", cs)]
    body = post("/fhir/CodeSystem/$validate-code", base + [("code", "1234")]).get_json()
    assert param(body, "result") is True
    body = post("/fhir/CodeSystem/$validate-code", base + [("code", "5678")]).get_json()
    assert param(body, "result") is False and "it has 4 digits" in param(body, "message")
    body = post("/fhir/CodeSystem/$validate-code", base + [("code", WELL_FORMED_ABSENT)]).get_json()
    assert param(body, "result") is False and "Unknown code" in param(body, "message")


def test_a_fragment_holding_a_malformed_identifier_is_no_authority_for_it(post):
    """Fragments copy other tables (DICOM's hold a few SNOMED CT and LOINC typos): a malformed id a
    fragment lists is still an error, and a value set that enumerates it is not said to lack it."""
    cs = {"resourceType": "CodeSystem", "url": SCT, "version": "frag-test", "status": "active", "content": "fragment",
          "concept": [{"code": "71615007", "display": "typo"}, {"code": "71651007", "display": "Mammography"}]}
    vs = {"resourceType": "ValueSet", "url": "http://ex.test/vs/typo", "status": "active",
          "compose": {"include": [{"system": SCT, "version": "frag-test",
                                   "concept": [{"code": "71615007"}, {"code": "71651007"}]}]}}
    base = [("url", vs["url"]), ("system", SCT), ("tx-resource", cs), ("tx-resource", vs)]
    body = post("/fhir/ValueSet/$validate-code", base + [("code", "71615007")]).get_json()
    assert param(body, "result") is False
    assert issue_texts(param(body, "issues")) == [
        "The code '71615007' is not a valid SNOMED CT concept identifier: the check digit is wrong"]
    body = post("/fhir/ValueSet/$validate-code", base + [("code", "71651007")]).get_json()
    assert param(body, "result") is True
