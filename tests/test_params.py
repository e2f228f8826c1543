"""Parameters typed at the door: each operation's parameters are read by the signature derived from its
declaration (termsvc/fhir/operations.py). A declared parameter of the wrong type, a malformed Parameters,
a single-valued parameter given twice: a 400 OperationOutcome naming it, on every operation, GET and
POST, on both endpoints and inside batch entries - never a 500 and never an answer about 'true' or '5'."""
import dataclasses
import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import CID33, DCM, FHIR_JSON, issue_texts, refused, param
from termsvc.fhir.operations import OPERATIONS
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import ANY, LEFT_OUT, LEXICAL, SIGNATURES, STRING_KEYS, Params, parse_query

BASES = (("/fhir", "R5"), ("/r4/fhir", "R4"))
STRING_TYPES = ("string", "code", "uri", "canonical")


INTEGER_TYPES = ("integer", "unsignedInt", "positiveInt")
DATE_TYPES = ("date", "dateTime", "instant")
# values each type refuses by FHIR's lexical rules (R5 datatypes), as written in a query string or a value[x]
WRONG_TEXT = {
    "string": [""],
    "code": ["", "   ", "C\tT", "CT\n", "\u2028"],
    "uri": ["", "http://x y", " http://x", "http://x\n", "http://x?q=a\tb", "?", "?fhir_vs"],
    "canonical": ["", "http://x |1.0", "\t", "?"],
    "date": ["", "notadate", "2023-02-29", "2023-13", "2023-1-5", "0000", "20230101", "2023-01-01T10:00:00Z"],
    "dateTime": ["", "notadate", "2023-02-29", "2023-04-31", "2023-13-01", "2023-01-01T10:00", "2023-01-01T10:00:00",
                 "2023-01-01T25:00:00Z", "2023-01-01T10:00:00+15:00", "2023-01-01 10:00:00Z", "2023-01-01Z"],
    "instant": ["", "2023", "2023-01-01", "2023-01-01T10:00:00"],
}
RIGHT_TEXT = {
    "code": ["CT", "a b", "en, en-AU", "CT ", " Chest "], "canonical": ["http://x|1.0"],
    "uri": ["http://x", "urn:oid:1.2", "http://snomed.info/sct?fhir_vs=ecl/<< 363679005 : 260686004 = 360037004"],
    "string": [" a  b "], "dateTime": ["2023", "2023-02", "2024-02-29", "2023-01-01T10:00:00Z",
                                        "2023-01-01T10:00:00.123+01:00", "2023-01-01T23:59:60-14:00"],
}


def wrong_values(p) -> list[dict]:
    """Parameters entries holding a value of the wrong type for the declared parameter `p`."""
    name = p.name
    if p.type in STRING_TYPES:
        return [{"name": name, "valueBoolean": True}, {"name": name, "valueInteger": 5},
                {"name": name, "valueCode": 5}, {"name": name, "valueUri": ["x"]},
                {"name": name, "valueCoding": {"code": "x"}}, {"name": name, "resource": {"resourceType": "ValueSet"}},
                *({"name": name, "valueString": v} for v in WRONG_TEXT[p.type])]
    if p.type in DATE_TYPES:
        return [{"name": name, "valueString": "2023-01-01"}, {"name": name, "valueDateTime": 2023},
                {"name": name, "valueBoolean": True}, *({"name": name, "valueDateTime": v} for v in WRONG_TEXT[p.type])]
    if p.type == "boolean":
        return [{"name": name, "valueBoolean": "yes"}, {"name": name, "valueString": "true"},
                {"name": name, "valueInteger": 1}]
    if p.type in INTEGER_TYPES:
        return [{"name": name, "valueString": "5"}, {"name": name, "valueInteger": 5.5},
                {"name": name, "valueInteger": True}, {"name": name, "valueInteger": 2**40},
                *([{"name": name, "valueInteger": -1}] if p.type != "integer" else [])]
    if p.type == "Coding":
        return [{"name": name, "valueString": "x"}, {"name": name, "valueCoding": "x"},
                {"name": name, "valueCoding": {"code": 5}}]
    if p.type == "CodeableConcept":
        return [{"name": name, "valueString": "x"}, {"name": name, "valueCodeableConcept": []},
                {"name": name, "valueCodeableConcept": {"coding": {"code": "x"}}}]
    if p.type == "Resource":
        wrong_type = "Patient" if "Patient" not in p.resource_types else "Basic"
        return [{"name": name, "valueUri": "x"}, {"name": name, "resource": {"resourceType": wrong_type}},
                {"name": name, "resource": "x"}, {"name": name, "part": []}]
    if p.type == "Parameters":
        return [{"name": name, "valueString": "x"}, {"name": name, "resource": {"resourceType": "ValueSet"}},
                {"name": name, "part": {"name": "code"}}]
    raise AssertionError(f"{p.name}: no wrong values for the type {p.type}")


def wrong_query_values(p) -> list[str]:
    if p.type == "boolean":
        return ["yes", "", "1", "TRUE", " true"]
    if p.type in INTEGER_TYPES:
        return ["five", "5.0", " 5", "5_000", "99999999999", "05", "", *(["-1"] if p.type != "integer" else [])]
    if p.type in ("Resource", "Parameters", "CodeableConcept"):
        return ["x"]
    return WRONG_TEXT.get(p.type, [])


def every_declared_parameter():
    for (rtype, op), operation in OPERATIONS.items():
        for p in operation.parameters:
            yield f"{rtype}/${op}", p


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type=FHIR_JSON)


@pytest.mark.parametrize("path,p", list(every_declared_parameter()), ids=lambda x: getattr(x, "name", x))
def test_a_wrong_type_in_a_parameters_body_is_a_400_naming_it(client, path, p):
    for base, _ in BASES:
        for entry in wrong_values(p):
            r = post(client, f"{base}/{path}", {"resourceType": "Parameters", "parameter": [entry]})
            text = refused(r, p.name)
            assert "could not be found" not in text


@pytest.mark.parametrize("path,p", [(path, p) for path, p in every_declared_parameter() if wrong_query_values(p)],
                         ids=lambda x: getattr(x, "name", x))
def test_a_wrong_type_in_a_query_string_is_a_400_naming_it(client, path, p):
    for base, _ in BASES:
        for value in wrong_query_values(p):
            refused(client.get(f"{base}/{path}?{urllib.parse.urlencode({p.name: value})}"), p.name)


@pytest.mark.parametrize("fhir_type", sorted(RIGHT_TEXT))
def test_values_fhir_allows_are_read_as_sent(fhir_type):
    """The rules refuse only what FHIR refuses: partial dates, a leap day, a leap second, a code with
    inner spaces (HL7's suite sends displayLanguage 'en, en-AU'), a string with any spacing - and two
    leniencies: a code padded with spaces (a DICOM value), a uri whose query holds the ECL of an implicit
    value set URL, decoded."""
    declared = next(p for _, p in every_declared_parameter() if p.type == fhir_type and not p.values)
    signature = SIGNATURES[next(k for k, op in OPERATIONS.items() if declared in op.parameters)]
    for value in RIGHT_TEXT[fhir_type]:
        assert signature.from_query([(declared.name, value)]).get(declared.name) == value
        body = {"resourceType": "Parameters", "parameter": [{"name": declared.name, "valueString": value}]}
        if fhir_type == "dateTime":
            body["parameter"][0] = {"name": declared.name, "valueDateTime": value}
        assert signature.from_resource(body).get(declared.name) == value


def test_a_time_zone_whose_plus_came_unencoded_is_read():
    """'+01:00' in a query string written without %2B arrives as ' 01:00': read as the '+' it was."""
    params = SIGNATURES[("ValueSet", "expand")].from_query_string("date=2023-01-01T10:00:00+01:00")
    assert params.get("date") == "2023-01-01T10:00:00+01:00"


@pytest.mark.parametrize("rtype,op", list(OPERATIONS))
def test_malformed_parameters_are_a_400_on_every_operation(client, rtype, op):
    for base, _ in BASES:
        path = f"{base}/{rtype}/${op}"
        for entries, expected in (
                ([{"name": {}}], "Parameters.parameter[0].name must be a non-empty string, not {}"),
                ([{"name": 7, "valueString": "x"}], "Parameters.parameter[0].name must be a non-empty string"),
                ([{"name": ""}], "Parameters.parameter[0].name must be a non-empty string"),
                ([{"valueString": "x"}], "Parameters.parameter[0].name must be a non-empty string, not null"),
                ([3], "Parameters.parameter[0] must be an object (a parameter), not 3"),
                ([{"name": "x", "valueString": "y"}, None], "Parameters.parameter[1] must be an object"),
                ([{"name": "x", "part": {"name": "y"}}], "The parameter 'x': part must be an array"),
                ([{"name": "x", "part": [{"name": {}}]}], "Parameters.parameter[0].part[0].name must be a non-empty"),
                ([{"name": "x", "part": [5]}], "Parameters.parameter[0].part[0] must be an object"),
                ([{"name": "x"}], "The parameter 'x' must have exactly one of value[x], resource and part, not none"),
                ([{"name": "x", "valueString": "y", "part": []}], "not valueString and part"),
                ([{"name": "x", "resource": []}], "The parameter 'x': resource must be a resource")):
            r = post(client, path, {"resourceType": "Parameters", "parameter": entries})
            assert r.status_code == 400, (entries, r.get_data(as_text=True))
            assert expected in issue_texts(r.get_json())[0], (entries, r.get_json())
        r = post(client, path, {"resourceType": "Parameters", "parameter": {"name": "url"}})
        assert r.status_code == 400 and issue_texts(r.get_json()) == ["Parameters.parameter must be an array"]


def test_the_issue_says_where_in_the_parameters_resource(client):
    r = post(client, "/fhir/ValueSet/$validate-code", {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": CID33}, {"name": "code", "valueInteger": 5}]})
    issue = r.get_json()["issue"][0]
    assert issue["expression"] == ["Parameters.parameter[1]"] and issue["code"] == "invalid"
    assert issue_texts(r.get_json()) == ["The parameter 'code' must be a code: a string, not blank, without control"
                                         " characters or whitespace but spaces (valueString, valueCode,"
                                         " valueUri, valueCanonical ...), not valueInteger: 5"]


def test_the_reported_cases(client):
    """Issue 17: a number code or a boolean url was answered 200 'CodeSystem 'true' could not be found'."""
    r = post(client, "/fhir/CodeSystem/$validate-code", {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueBoolean": True}, {"name": "code", "valueCode": "CT"}]})
    assert "The parameter 'url' must be a uri" in refused(r, "url")
    r = post(client, "/fhir/CodeSystem/$lookup", {"resourceType": "Parameters", "parameter": [
        {"name": "system", "valueUri": DCM}, {"name": "code", "valueInteger": 113076}]})
    refused(r, "code")


def test_a_single_valued_parameter_given_twice_is_refused_a_repeating_one_is_not(client):
    refused(client.get(f"/fhir/CodeSystem/$lookup?system={DCM}&system={DCM}&code=CT"), "system")
    r = post(client, "/fhir/CodeSystem/$lookup?code=CT", {"resourceType": "Parameters", "parameter": [
        {"name": "system", "valueUri": DCM}, {"name": "code", "valueCode": "CT"}]})
    assert refused(r, "code") == "The parameter 'code' may be given once, not 2 times"   # query and body
    r = client.get(f"/fhir/CodeSystem/$lookup?system={DCM}&code=CT&property=display&property=definition")
    assert r.status_code == 200


def test_the_hl7_suites_boolean_spelled_as_a_string_is_read(client):
    """HL7's batch-validate test sends valueBoolean "true": read as the boolean it means."""
    for value, severity in (("true", "warning"), ("false", "error")):
        r = post(client, "/fhir/ValueSet/$validate-code", {"resourceType": "Parameters", "parameter": [
            {"name": "url", "valueUri": CID33}, {"name": "code", "valueCode": "CT"}, {"name": "system", "valueUri": DCM},
            {"name": "display", "valueString": "Not CT"}, {"name": "lenient-display-validation", "valueBoolean": value}]})
        assert r.status_code == 200
        assert [i["severity"] for i in param(r.get_json(), "issues")["issue"]] == [severity]


def test_parameters_nobody_declared_are_kept_and_ignored(client):
    r = client.get(f"/fhir/CodeSystem/$lookup?system={DCM}&code=CT&nobody=1")
    assert r.status_code == 200
    r = post(client, "/fhir/CodeSystem/$lookup", {"resourceType": "Parameters", "parameter": [
        {"name": "system", "valueUri": DCM}, {"name": "code", "valueCode": "CT"}, {"name": "nobody", "valueInteger": 1},
        {"name": "dependency", "part": [{"name": "element", "valueUri": "x"}]}]})
    assert r.status_code == 200


def test_inside_batch_entries_each_bad_entry_is_its_own_400(client):
    good = f"CodeSystem/$lookup?{urllib.parse.urlencode({'system': DCM, 'code': 'CT'})}"
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": good}},
        {"request": {"method": "GET", "url": f"ValueSet/$expand?url={CID33}&count=five"}},
        {"request": {"method": "POST", "url": "CodeSystem/$validate-code"},
         "resource": {"resourceType": "Parameters", "parameter": [{"name": "url", "valueBoolean": True}]}},
        {"request": {"method": "POST", "url": "ConceptMap/$translate"},
         "resource": {"resourceType": "Parameters", "parameter": [{"name": {}}]}},
        {"request": {"method": "POST", "url": "ValueSet/$validate-code"},
         "resource": {"resourceType": "Parameters", "parameter": [{"name": "coding", "part": "x"}]}},
        {"request": {"method": "GET", "url": good}}]}
    for base in ("/fhir", "/r4/fhir"):
        answer = post(client, base, bundle).get_json()
        statuses = [e["response"]["status"] for e in answer["entry"]]
        assert statuses == ["200 OK"] + ["400 Bad Request"] * 4 + ["200 OK"]
        texts = [issue_texts(e["resource"])[0] for e in answer["entry"][1:5]]
        assert "'count'" in texts[0] and "'url'" in texts[1] and "parameter[0].name" in texts[2]
        assert "'coding'" in texts[3]


def test_batch_validate_code_types_each_validation_and_answers_the_others(client):
    r = post(client, "/fhir/ValueSet/$batch-validate-code", {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": CID33}, {"name": "system", "valueUri": DCM},
        {"name": "validation", "resource": {"resourceType": "Parameters", "parameter": [
            {"name": "code", "valueCode": "CT"}]}},
        {"name": "validation", "resource": {"resourceType": "Parameters", "parameter": [
            {"name": "code", "valueInteger": 5}]}}]})
    assert r.status_code == 200
    first, second = [p["resource"] for p in r.get_json()["parameter"]]
    assert param(first, "result") is True
    assert second["resourceType"] == "OperationOutcome" and "'code'" in issue_texts(second)[0]


# -- the reader itself, property-based -------------------------------------------------------------

DECLARED_NAMES = sorted({p.name for op in OPERATIONS.values() for p in op.parameters})
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3),
                           max_leaves=8)
value_keys = st.sampled_from(sorted(STRING_KEYS) + ["valueBoolean", "valueInteger", "valueCoding",
                                                    "valueCodeableConcept", "valueDecimal", "resource", "part"])
resources = st.fixed_dictionaries({"resourceType": st.sampled_from(["ValueSet", "CodeSystem", "ConceptMap",
                                                                    "Parameters", "Patient"]) | json_values})
names = st.sampled_from(DECLARED_NAMES) | st.text(max_size=6)
plain_values = (st.text(max_size=8) | st.booleans() | st.integers(-5, 2**32) | st.sampled_from(["true", "false", "5"])
                | st.fixed_dictionaries({"code": st.text(max_size=4)}, optional={"system": st.text(max_size=4)}))
one_value = st.builds(lambda name, key, value: {"name": name, key: value}, names, value_keys,
                      plain_values | resources | json_values)
anything_like = st.builds(lambda name, held: {"name": name, **held}, names | json_values,
                          st.dictionaries(value_keys | st.text(max_size=6), json_values | resources, max_size=3))
parameters = st.fixed_dictionaries({"resourceType": st.just("Parameters"),
                                    "parameter": st.lists(one_value | one_value | anything_like | json_values,
                                                          max_size=5)})
bodies = st.one_of(parameters, parameters, parameters, json_values, st.fixed_dictionaries(
    {"resourceType": st.just("Parameters") | json_values, "parameter": json_values}))


def assert_typed(signature, params: Params):
    """Every declared parameter read holds a value of its declared type."""
    for p in params.items:
        declared = signature.declared.get(p.name)
        if declared is None:
            continue
        if declared.type in STRING_TYPES or declared.type in DATE_TYPES:   # FHIR's lexical rule holds
            assert isinstance(p.value, str) and LEXICAL[declared.type].fullmatch(p.value), p
        elif declared.type == "boolean":
            assert isinstance(p.value, bool), p
        elif declared.type in INTEGER_TYPES:
            assert isinstance(p.value, int) and not isinstance(p.value, bool), p
            assert p.value >= {"integer": -2**31 + 1, "unsignedInt": 0, "positiveInt": 1}[declared.type], p
        elif declared.type in ("Coding", "CodeableConcept"):
            assert isinstance(p.value, dict), p
        elif declared.type == "Resource":
            assert p.resource["resourceType"] in declared.resource_types, p
        else:
            assert isinstance(p.resource, dict) or isinstance(p.part, list), p


def assert_refusal(e: OpError):
    assert e.status == 400
    outcome = e.to_outcome()
    assert outcome["issue"][0]["severity"] == "error" and outcome["issue"][0]["details"]["text"].strip()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, query=st.lists(st.tuples(st.sampled_from(DECLARED_NAMES) | st.text(max_size=6),
                                             st.text(max_size=8)), max_size=4))
def test_any_json_is_read_as_typed_parameters_or_refused_with_a_400(body, query):
    for signature in (ANY, *SIGNATURES.values()):
        try:
            params = signature.from_resource(body, query)
        except OpError as e:
            assert_refusal(e)
        else:
            assert_typed(signature, params)
        try:
            params = signature.from_query(query)
        except OpError as e:
            assert_refusal(e)
        else:
            assert_typed(signature, params)


def _read(read, *args):
    """(the parameters read(*args) gives, or the refusal's text)"""
    try:
        params = read(*args)
    except OpError as e:
        return "refused", e.to_outcome()["issue"][0]["details"]["text"]
    return [dataclasses.astuple(p) for p in params.items], [(n, params.get(n)) for n in dict.fromkeys(p.name for p in params.items)]


query_fields = st.sampled_from(DECLARED_NAMES + ["_format", "_pretty", "", "a+b", "%5Fformat"]) | st.text(max_size=6)
query_values = st.sampled_from(["", "true", "5", "-5", "x|y", "http%3A%2F%2Fx", "a+b%20c", "%zz", "="]) \
    | st.text(max_size=8)


@settings(max_examples=300, deadline=None)
@given(fields=st.lists(st.tuples(query_fields, query_values, st.booleans()), max_size=5))
def test_a_query_string_read_in_one_pass_is_read_as_its_pairs_are(fields):
    query = "&".join((urllib.parse.quote(n, safe="%+") if quoted else n) + "=" + v for n, v, quoted in fields)
    for signature in (ANY, *SIGNATURES.values()):
        assert _read(signature.from_query_string, query) == \
            _read(signature.from_query, parse_query(query, LEFT_OUT))


def test_a_coding_read_from_a_query_string_is_the_request_own():
    """Fields read are kept for the next requests: a Coding (which an answer may hold) is each request's."""
    signature = SIGNATURES[("ConceptMap", "translate")]
    query = "sourceCoding=http%3A%2F%2Fexample.org%7Cx&url=http%3A%2F%2Fexample.org%2Fmap"
    first = signature.from_query_string(query)
    first.get("sourceCoding")["display"] = "changed by the first request"
    again = signature.from_query_string(query)
    assert again.get("sourceCoding") == {"code": "x", "system": "http://example.org"}
    assert again.first("url") is first.first("url")   # (a string value: shared)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, op=st.sampled_from(sorted(OPERATIONS)), base=st.sampled_from(["/fhir", "/r4/fhir"]))
def test_any_json_posted_to_any_operation_is_answered_never_a_server_error(client, body, op, base):
    r = post(client, f"{base}/{op[0]}/${op[1]}", body)
    assert r.status_code < 500, r.get_data(as_text=True)[:300]
    assert r.get_json()["resourceType"] in ("Parameters", "ValueSet", "OperationOutcome")
