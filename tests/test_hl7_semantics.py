"""The HL7 terminology-ecosystem semantics beyond the handed-over suite, as cases in the suite's
style: a request (with its tx-resources) and the whole answer expected, over HTTP.

Each expected answer is derived from the FHIR R5 $expand / $validate-code definitions and from what
the reference server (tx.fhir.org / FHIRsmith, whose answers the HL7 suite records) does in the
neighbouring cases of the suite; each test's docstring says how. Messages are those of the FHIR
validator's i18n bundle (termsvc/fhir/messages.py), with their ids. Answers are compared whole,
as the HL7 runner compares them: parameters and issues in a canonical order, an expansion's
identifier and timestamp left out.
"""
import copy
import json

import pytest

from conftest import FHIR_JSON
from termsvc.fhir.params import Params
from termsvc.ops.display import display_problem
from termsvc.ops.language import LanguagePrefs, display_language

CS = "http://example.org/fhir/CodeSystem/procedures"
CS2 = "http://example.org/fhir/CodeSystem/procedures-local"
NOWHERE = "http://example.org/fhir/CodeSystem/nowhere"
VS = "http://example.org/fhir/ValueSet/"
MSG_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"
TX = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"

PROCEDURES = {
    "resourceType": "CodeSystem", "url": CS, "version": "1.0", "name": "Procedures", "status": "active",
    "language": "en", "caseSensitive": True, "hierarchyMeaning": "is-a", "content": "complete",
    "concept": [
        {"code": "imaging", "display": "Imaging", "concept": [
            {"code": "ct", "display": "Computed Tomography", "concept": [
                {"code": "ct-heart", "display": "Cardiac CT"}]},
            {"code": "mr", "display": "Magnetic Resonance", "concept": [
                {"code": "mr-heart", "display": "Cardiac MR"}]}]},
        {"code": "lab", "display": "Laboratory"}]}
# a second code system that also has a code 'ct'
LOCAL = {"resourceType": "CodeSystem", "url": CS2, "version": "2", "status": "active", "content": "complete",
         "concept": [{"code": "ct", "display": "CT (local)"}] + [
             {"code": f"p{i:02d}", "display": f"Procedure {i}"} for i in range(30)]}


def value_set(name, *includes, **more):
    return {"resourceType": "ValueSet", "url": VS + name, "version": "1", "status": "active",
            "compose": {"include": list(includes)}, **more}


ALL = value_set("all", {"system": CS})
IMAGING = value_set("imaging", {"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "imaging"}]})
BOTH = value_set("both", {"system": CS}, {"system": CS2})
VIA_IMPORT = value_set("via-import", {"valueSet": [VS + "imaging"]})
WITH_UNKNOWN = value_set("with-unknown", {"system": NOWHERE})
LOCAL_ALL = value_set("local-all", {"system": CS2})
RESOURCES = [PROCEDURES, LOCAL, ALL, IMAGING, BOTH, VIA_IMPORT, WITH_UNKNOWN, LOCAL_ALL]


def request(*params) -> dict:
    """A Parameters resource: (name, valueX, value) triples, then every tx-resource."""
    out = [{"name": n, k: v} if k != "resource" else {"name": n, "resource": v} for n, k, v in params]
    out += [{"name": "tx-resource", "resource": r} for r in RESOURCES]
    return {"resourceType": "Parameters", "parameter": out}


def canonical(res):
    """The answer as the HL7 runner compares it: no expansion identifier/timestamp, parameters
    by name, issues by severity, code, expression and text, the parts of the message sorted."""
    res = copy.deepcopy(res)
    if res.get("resourceType") == "ValueSet":
        for k in ("identifier", "timestamp"):
            res["expansion"].pop(k, None)
        res["expansion"]["parameter"].sort(key=lambda p: p["name"])
    for p in res.get("parameter", []):
        if p.get("name") == "message":
            p["valueString"] = "; ".join(sorted(p["valueString"].split("; ")))
        if p.get("name") == "issues":
            p["resource"]["issue"].sort(key=lambda i: (i["severity"], i["code"], i.get("expression", [""])[0],
                                                       i["details"]["text"]))
    if res.get("resourceType") == "Parameters":
        res["parameter"].sort(key=lambda p: p["name"])
    return res


def exchange(client, op, body, status=200, headers=None, base="/fhir") -> dict:
    r = client.post(f"{base}/{op}", data=json.dumps(body), content_type=FHIR_JSON, headers=headers or {})
    assert r.status_code == status, r.get_data(as_text=True)[:800]
    return r.get_json()


def issue(severity, code, tx, text, expression=None, message_id=None):
    out = {}
    if message_id:
        out["extension"] = [{"url": MSG_ID, "valueString": message_id}]
    out.update(severity=severity, code=code, details={"coding": [{"system": TX, "code": tx}], "text": text})
    if expression:
        out["expression"] = [expression]
    return out


def answer(*params, issues=()):
    """A $validate-code answer: (name, valueX, value) triples and the issues (their texts, with
    warnings and errors, make the message)."""
    out = [{"name": n, k: v} for n, k, v in params]
    if issues:
        out.append({"name": "issues", "resource": {"resourceType": "OperationOutcome", "issue": list(issues)}})
        said = [i["details"]["text"] for i in issues if i["severity"] in ("error", "warning")]
        if said:
            out.append({"name": "message", "valueString": "; ".join(said)})
    return {"resourceType": "Parameters", "parameter": out}


def expect(actual, expected):
    assert canonical(actual) == canonical(expected)


# -- displayLanguage ------------------------------------------------------------------------

BAD_LANGUAGE = ["@@bad", "english", "en_US", "de-CH;q=high", "en,", "xx"]


@pytest.mark.parametrize("value", BAD_LANGUAGE)
@pytest.mark.parametrize("op, params", [
    ("ValueSet/$expand", [("url", "valueUri", VS + "all")]),
    ("ValueSet/$validate-code", [("url", "valueUri", VS + "all"), ("system", "valueUri", CS), ("code", "valueCode", "ct")]),
    ("CodeSystem/$validate-code", [("url", "valueUri", CS), ("code", "valueCode", "ct")]),
    ("CodeSystem/$lookup", [("system", "valueUri", CS), ("code", "valueCode", "ct")]),
])
def test_invalid_display_language_is_an_error(client, op, params, value):
    """An invalid displayLanguage is an error answer, not a result (R5: displayLanguage is a `code`
    holding a language tag, BCP 47): a 400 OperationOutcome, issue `invalid` (tx-issue-type
    invalid-data), whose text names the parameter and the offending tag. `xx` has the syntax of a
    language subtag but the IANA registry has no such language; `en_US` is a locale, not a tag."""
    oo = exchange(client, op, request(*params, ("displayLanguage", "valueCode", value)), 400)
    tag = value.split(",")[0] if value != "en," else ""
    expect(oo, {"resourceType": "OperationOutcome", "issue": [{
        "severity": "error", "code": "invalid",
        "details": {"coding": [{"system": TX, "code": "invalid-data"}],
                    "text": f"Invalid displayLanguage '{value}': '{tag}' is not a valid language tag (BCP 47,"
                            " with an optional q-value)"}}]})


def test_display_language_lists_and_get(client):
    """Accept-Language syntax is a valid displayLanguage (tags, q-values, '*'); the check runs on GET
    too, and in a batch it fails that entry only."""
    ok = exchange(client, "CodeSystem/$lookup", request(("system", "valueUri", CS), ("code", "valueCode", "ct"),
                                                        ("displayLanguage", "valueCode", "de-CH, en; q=0.5, *")))
    assert {"name": "display", "valueString": "Computed Tomography"} in ok["parameter"]
    r = client.get("/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/administrative-gender"
                   "&displayLanguage=%40%40bad")
    assert r.status_code == 400 and "'@@bad'" in r.get_json()["issue"][0]["details"]["text"]
    batch = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": "http://hl7.org/fhir/ValueSet/administrative-gender"},
        {"name": "validation", "resource": {"resourceType": "Parameters", "parameter": [
            {"name": "coding", "valueCoding": {"system": "http://hl7.org/fhir/administrative-gender", "code": "male"}},
            {"name": "displayLanguage", "valueCode": "@@bad"}]}},
        {"name": "validation", "resource": {"resourceType": "Parameters", "parameter": [
            {"name": "coding", "valueCoding": {"system": "http://hl7.org/fhir/administrative-gender", "code": "male"}}]}}]}
    entries = [p["resource"] for p in exchange(client, "ValueSet/$batch-validate-code", batch)["parameter"]]
    assert entries[0]["resourceType"] == "OperationOutcome" and "@@bad" in entries[0]["issue"][0]["details"]["text"]
    assert {"name": "result", "valueBoolean": True} in entries[1]["parameter"]


def test_display_language_unit():
    assert display_language(Params.from_query([("displayLanguage", "de-CH,*;q=0")])) == "de-CH,*;q=0"
    assert display_language(Params.from_query([])) is None
    with pytest.raises(Exception, match="'zz-ZZ-x' is not a valid language tag"):
        display_language(Params.from_query([("displayLanguage", "en, zz-ZZ-x")]))


# -- displays with extra whitespace ----------------------------------------------------------

def test_display_wrong_only_in_whitespace(client):
    """'  Computed   Tomography ' for ct: the FHIR validator (ValueSetValidator) and the reference
    server accept a display equal but for case; one equal only once whitespace is normalised
    (trimmed, runs collapsed) is still wrong - an error, a warning with lenient-display-validation -
    and the message says the whitespace is what is wrong (Display_Name_WS_for__should_be_one_of__instead_of,
    with the same fields as Display_Name_for__...: the valid display, its language, the languages
    asked for, '--' for none). The answer still gives the right display."""
    given = "  Computed   Tomography "
    text = (f"Wrong whitespace in Display Name '{given}' for {CS}#ct. Valid display is 'Computed Tomography' (en)"
            " (for the language(s) '--')")
    for lenient, severity in ((False, "error"), (True, "warning")):
        body = request(("url", "valueUri", VS + "all"), ("coding", "valueCoding", {"system": CS, "code": "ct",
                                                                                 "display": given}),
                       ("lenient-display-validation", "valueBoolean", lenient))
        expect(exchange(client, "ValueSet/$validate-code", body), answer(
            ("code", "valueCode", "ct"), ("display", "valueString", "Computed Tomography"),
            ("result", "valueBoolean", lenient), ("system", "valueUri", CS), ("version", "valueString", "1.0"),
            issues=[issue(severity, "invalid", "invalid-display", text, "Coding.display",
                          "Display_Name_WS_for__should_be_one_of__instead_of")]))


def test_display_case_and_real_mistakes(client):
    """Case is not a mistake ('computed tomography' is valid); a display that differs in words is the
    ordinary wrong display (Display_Name_for__should_be_one_of__instead_of)."""
    body = request(("url", "valueUri", CS), ("code", "valueCode", "ct"), ("display", "valueString", "computed tomography"))
    assert {"name": "result", "valueBoolean": True} in exchange(client, "CodeSystem/$validate-code", body)["parameter"]
    body = request(("url", "valueUri", CS), ("code", "valueCode", "ct"), ("display", "valueString", "Computed  Tomographie"))
    oo = [p for p in exchange(client, "CodeSystem/$validate-code", body)["parameter"] if p["name"] == "issues"][0]
    assert oo["resource"]["issue"][0]["extension"][0]["valueString"] == "Display_Name_for__should_be_one_of__instead_of"


def test_display_problem_unit():
    from termsvc.ops.codesystems import InMemoryCodeSystem
    cs = InMemoryCodeSystem(PROCEDURES)
    concept = cs.locate("mr")
    assert display_problem(cs, concept, None, "MAGNETIC resonance", LanguagePrefs(None), False) is None
    severity, message_id, _ = display_problem(cs, concept, None, "Magnetic\tResonance", LanguagePrefs(None), False)
    assert (severity, message_id) == ("error", "Display_Name_WS_for__should_be_one_of__instead_of")


# -- an implied system (inferSystem) ----------------------------------------------------------

def _infer(client, vs_name, code):
    return exchange(client, "ValueSet/$validate-code", request(
        ("url", "valueUri", VS + vs_name), ("code", "valueCode", code), ("inferSystem", "valueBoolean", True)))


def test_infer_system_found_also_through_imports(client):
    """inferSystem: the system is the one include of the value set that holds the code (suite:
    validation/simple-code-implied-good); an include of another value set is looked into (the FHIR
    validator's scanForCodeInValueSet does the same)."""
    for vs_name in ("all", "via-import"):
        expect(_infer(client, vs_name, "mr-heart"), answer(
            ("code", "valueCode", "mr-heart"), ("display", "valueString", "Cardiac MR"),
            ("result", "valueBoolean", True), ("system", "valueUri", CS), ("version", "valueString", "1.0")))


@pytest.mark.parametrize("vs_name, code, why, message_id", [
    ("via-import", "lab", "value set has no matches for this code", "Unable_to_resolve_system__value_set_has_no_matches"),
    ("both", "ct", f"value set expansion has multiple matches: [{CS}, {CS2}]",
     "Unable_to_resolve_system__value_set_has_multiple_matches")])
def test_infer_system_fails(client, vs_name, code, why, message_id):
    """No include holds the code, or two do: the system cannot be inferred. As the suite's
    errors/combination-bad answers for two matches: an error `not-found` / cannot-infer at `code`
    (for none the validator's Unable_to_resolve_system__value_set_has_no_matches), and the code
    without a system ('#code') is not in the value set."""
    vs = f"{VS}{vs_name}|1"
    expect(_infer(client, vs_name, code), answer(
        ("code", "valueCode", code), ("result", "valueBoolean", False), issues=[
            issue("error", "not-found", "cannot-infer", f"The System URI could not be determined for the code '{code}'"
                  f" in the ValueSet '{vs}': {why}", "code", message_id),
            issue("error", "code-invalid", "not-in-vs", f"The provided code '#{code}' was not found in the value set"
                  f" '{vs}'", "code", "None_of_the_provided_codes_are_in_the_value_set_one")]))


def test_infer_system_of_an_unknown_code_system(client):
    """The one include is of a code system the server does not have: it cannot rule the code out,
    so that is the system (as the validator infers a system it cannot look into), and the answer
    is the one for an unknown system (next section)."""
    expect(_infer(client, "with-unknown", "x1"), answer(
        ("code", "valueCode", "x1"), ("result", "valueBoolean", False), ("system", "valueUri", NOWHERE),
        ("x-unknown-system", "valueCanonical", NOWHERE), issues=[
            issue("error", "not-found", "not-found", f"A definition for CodeSystem '{NOWHERE}' could not be found,"
                  " so the code cannot be validated", "system", "UNKNOWN_CODESYSTEM")]))


# -- an unknown system ---------------------------------------------------------------------

def test_unknown_system_that_the_value_set_includes(client):
    """The coding's system is unknown and the value set includes that system: whether the code is in
    the value set cannot be known, so the only issue is UNKNOWN_CODESYSTEM (error, at `system`) and
    x-unknown-system names it - no 'not found in the value set' (as the suite's
    version/coding-vnn-vs1wb-default answers for a version nobody has: that issue alone)."""
    body = request(("url", "valueUri", VS + "with-unknown"), ("system", "valueUri", NOWHERE), ("code", "valueCode", "x1"))
    expect(exchange(client, "ValueSet/$validate-code", body), answer(
        ("code", "valueCode", "x1"), ("result", "valueBoolean", False), ("system", "valueUri", NOWHERE),
        ("x-unknown-system", "valueCanonical", NOWHERE), issues=[
            issue("error", "not-found", "not-found", f"A definition for CodeSystem '{NOWHERE}' could not be found,"
                  " so the code cannot be validated", "system", "UNKNOWN_CODESYSTEM")]))


def test_unknown_system_that_the_value_set_does_not_include(client):
    """Another unknown system (suite: errors/unknown-system2): the code is not in the value set
    either way, so both issues."""
    other = NOWHERE + "-else"
    vs = VS + "with-unknown|1"
    body = request(("url", "valueUri", VS + "with-unknown"), ("system", "valueUri", other), ("code", "valueCode", "x1"))
    expect(exchange(client, "ValueSet/$validate-code", body), answer(
        ("code", "valueCode", "x1"), ("result", "valueBoolean", False), ("system", "valueUri", other),
        ("x-unknown-system", "valueCanonical", other), issues=[
            issue("error", "not-found", "not-found", f"A definition for CodeSystem '{other}' could not be found,"
                  " so the code cannot be validated", "system", "UNKNOWN_CODESYSTEM"),
            issue("error", "code-invalid", "not-in-vs", f"The provided code '{other}#x1' was not found in the value"
                  f" set '{vs}'", "code", "None_of_the_provided_codes_are_in_the_value_set_one")]))


# -- a value set without url -------------------------------------------------------------------

def test_value_set_without_url_is_named_by_its_id(client):
    """A value set sent whole (valueSet) without a url, importing one it contains (suite:
    validation/validate-contained-good): messages name it by its local reference, '#id', as a
    contained resource is referenced; a contained import that is missing is named as referenced."""
    vs = {"resourceType": "ValueSet", "id": "findings", "status": "active",
          "contained": [{"resourceType": "ValueSet", "id": "inner", "status": "active",
                         "compose": {"include": [{"system": CS, "concept": [{"code": "ct"}, {"code": "mr"}]}]}}],
          "compose": {"include": [{"valueSet": ["#inner", VS + "imaging"]}]}}
    body = request(("valueSet", "resource", vs), ("coding", "valueCoding", {"system": CS, "code": "lab"}))
    expect(exchange(client, "ValueSet/$validate-code", body), answer(
        ("code", "valueCode", "lab"), ("display", "valueString", "Laboratory"), ("result", "valueBoolean", False),
        ("system", "valueUri", CS), ("version", "valueString", "1.0"), issues=[
            issue("error", "code-invalid", "not-in-vs", f"The provided code '{CS}#lab' was not found in the value set"
                  " '#findings'", "Coding.code", "None_of_the_provided_codes_are_in_the_value_set_one")]))
    vs["compose"]["include"][0]["valueSet"][0] = "#gone"
    body = request(("valueSet", "resource", vs), ("coding", "valueCoding", {"system": CS, "code": "ct"}))
    said = {p["name"]: p.get("valueString") for p in exchange(client, "ValueSet/$validate-code", body)["parameter"]}
    assert said["message"] == "A definition for the value Set '#gone' could not be found"


# -- client-requested cost limits ----------------------------------------------------------------

def _expand(client, *params, status=200):
    return exchange(client, "ValueSet/$expand", request(("url", "valueUri", VS + "local-all"), *params), status)


def test_client_limit_too_costly(client):
    """`_limit` (the HL7 validator's most-codes-wanted) lowers the server's own limit: 31 codes
    over a _limit of 10, without paging, are too costly - 422, VALUESET_TOO_COSTLY naming the value
    set and the limit as the reference server does; what to do instead is in `diagnostics`."""
    oo = _expand(client, ("_limit", "valueInteger", 10), status=422)
    assert oo["issue"][0].pop("diagnostics").endswith("or ask for the first 10 codes with limitedExpansion=true")
    expect(oo, {"resourceType": "OperationOutcome", "issue": [{
        "extension": [{"url": MSG_ID, "valueString": "VALUESET_TOO_COSTLY"}], "severity": "error",
        "code": "too-costly", "details": {"text": f"The value set '{VS}local-all|1' expansion has too many codes"
                                                  " to display (>10)"}}]})


@pytest.mark.parametrize("flag", ["limitedExpansion", "_incomplete"])
def test_client_limit_partial_expansion(client, flag):
    """With limitedExpansion (or `_incomplete`, as the HL7 validator says) the answer is the first
    codes instead: an incomplete expansion, marked with the valueset-toocostly extension, without a
    total (as the reference server, which stops at the limit) and without offset (not a page the
    client asked for)."""
    vs = _expand(client, ("_limit", "valueInteger", 10), (flag, "valueBoolean", True))
    exp = vs["expansion"]
    assert exp["extension"] == [{"url": "http://hl7.org/fhir/StructureDefinition/valueset-toocostly",
                                 "valueBoolean": True}]
    assert "total" not in exp and "offset" not in exp
    assert [c["code"] for c in exp["contains"]] == ["ct"] + [f"p{i:02d}" for i in range(9)]


def test_client_limit_does_not_apply_to_pages_or_small_expansions(client):
    page = _expand(client, ("_limit", "valueInteger", 10), ("count", "valueInteger", 5))["expansion"]
    assert page["total"] == 31 and len(page["contains"]) == 5
    whole = _expand(client, ("_limit", "valueInteger", 100), ("limitedExpansion", "valueBoolean", True))["expansion"]
    assert whole["total"] == 31 and "extension" not in whole


def test_server_limit_partial_expansion(db_path):
    """The server's own limit (max_expansion) gives the same partial answer when asked, also for a
    stored value set served from its pre-expansion."""
    from termsvc.api.app import create_app
    small = create_app(db_path, {"max_expansion": 50}).test_client()
    url = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_7480.html"
    r = small.get(f"/fhir/ValueSet/$expand?url={url}&limitedExpansion=true")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    exp = r.get_json()["expansion"]
    assert len(exp["contains"]) == 50 and "total" not in exp and exp["extension"][0]["valueBoolean"] is True
    assert small.get(f"/fhir/ValueSet/$expand?url={url}").status_code == 422


# -- text-filtered expansions of a hierarchy ---------------------------------------------------

def _tree(vs):
    def walk(items):
        return [(c["code"], walk(c["contains"])) if "contains" in c else c["code"] for c in items]
    return walk(vs["expansion"].get("contains", []))


def test_filtered_hierarchy_is_kept(client):
    """A value set that selects by filter (is-a imaging) expands as a tree (suite:
    parameters/parameters-expand-isa-hierarchy); a text filter prunes it and the tree stays: the
    matching codes, each under its parent when its parent matches too, else at the top (as
    activeOnly does in parameters/parameters-expand-all-active)."""
    def expand_imaging(text):
        return exchange(client, "ValueSet/$expand", request(("url", "valueUri", VS + "imaging"),
                                                            ("filter", "valueString", text)))
    assert _tree(expand_imaging("c")) == [("ct", ["ct-heart"]), "mr-heart"]
    assert _tree(expand_imaging("cardiac")) == ["ct-heart", "mr-heart"]
    assert expand_imaging("cardiac")["expansion"]["total"] == 2


def test_text_search_of_a_whole_code_system_is_flat(client):
    """Over a whole code system the text filter is a search of it, answered as a flat list (suite:
    search/search-all-yes); excludeNested flattens a filtered one."""
    vs = exchange(client, "ValueSet/$expand", request(("url", "valueUri", VS + "all"), ("filter", "valueString", "c")))
    assert _tree(vs) == ["ct", "ct-heart", "mr-heart"]
    vs = exchange(client, "ValueSet/$expand", request(("url", "valueUri", VS + "imaging"), ("filter", "valueString", "c"),
                                                      ("excludeNested", "valueBoolean", True)))
    assert _tree(vs) == ["ct", "ct-heart", "mr-heart"]


def test_the_r4_endpoint_answers_the_same(client):
    """/r4/fhir runs the same engine: the same 400 for a bad displayLanguage, the same partial
    expansion for limitedExpansion."""
    oo = exchange(client, "ValueSet/$expand", request(("url", "valueUri", VS + "all"),
                                                      ("displayLanguage", "valueCode", "@@bad")), 400, base="/r4/fhir")
    assert oo["issue"][0]["details"]["text"].startswith("Invalid displayLanguage '@@bad'")
    vs = exchange(client, "ValueSet/$expand", request(("url", "valueUri", VS + "local-all"), ("_limit", "valueInteger", 3),
                                                      ("limitedExpansion", "valueBoolean", True)), base="/r4/fhir")
    assert len(vs["expansion"]["contains"]) == 3 and "total" not in vs["expansion"]
