"""What the server cannot know, it says (issue 13, items 1-3): the IG's value sets on the default
build, where SNOMED CT and LOINC are DICOM's fragments, and the same value sets with synthetic
releases loaded, where the answers become definite. Engine units, then HTTP."""
import pytest

from conftest import IG_BASES, IG_R5, SCT, param, post_params
from synthetic_releases import write_loinc_release, write_snomed_release
from termsvc.api.app import create_app
from termsvc.build import Progress, SourceSpec, build
from termsvc.fhir.params import Param, Params
from termsvc.ops import filters
from termsvc.ops.codesystems import InMemoryCodeSystem
from termsvc.ops.completeness import how_to_load, unclosed
from termsvc.ops.compose import Composer
from termsvc.ops.context import Context
from termsvc.ops.judge import NOT_MEMBER, UNVERIFIABLE, Judge, NotEvaluable
from termsvc.ops.validate import validate_vs
from termsvc.store.reader import Store

LOINC = "http://loinc.org"
UNCLOSED = "http://hl7.org/fhir/StructureDefinition/valueset-unclosed"
FRAG = "http://example.org/cs/frag"


def vs_url(name, base=IG_R5):
    return f"{base}/ValueSet/{name}"


def issues(body):
    oo = param(body, "issues") or {"issue": []}
    return [(i["severity"], i["code"], i["details"]["coding"][0]["code"], i["details"]["text"]) for i in oo["issue"]]


def tx_types(body):
    return [t for _, _, t, _ in issues(body)]


def validate(client, base_path, **query):
    r = client.get(f"{base_path}/ValueSet/$validate-code", query_string=query)
    assert r.status_code == 200, r.json
    return r.json


# -- engine units ------------------------------------------------------------------------------

FRAGMENT = {"resourceType": "CodeSystem", "url": FRAG, "version": "1", "content": "fragment",
            "property": [{"code": "kind", "type": "code"}],
            "concept": [{"code": "root", "display": "Root", "concept": [{"code": "child", "display": "Child"}]},
                        {"code": "other", "display": "Other", "property": [{"code": "kind", "valueCode": "x"}]}]}


@pytest.mark.parametrize("f, code, expected", [
    ({"property": "concept", "op": "is-a", "value": "root"}, "child", True),     # the fragment states it
    ({"property": "concept", "op": "is-a", "value": "root"}, "other", None),     # absence proves nothing
    ({"property": "concept", "op": "is-not-a", "value": "root"}, "child", False),
    ({"property": "concept", "op": "is-not-a", "value": "root"}, "other", None),
    ({"property": "concept", "op": "=", "value": "other"}, "child", False),      # the code alone decides
    ({"property": "concept", "op": "regex", "value": "ch.*"}, "child", True),
    ({"property": "kind", "op": "=", "value": "x"}, "other", True),
    ({"property": "kind", "op": "=", "value": "x"}, "child", None),
    ({"property": "kind", "op": "exists", "value": "false"}, "child", None),
    ({"property": "kind", "op": "exists", "value": "false"}, "other", False),
])
def test_a_fragment_settles_only_what_it_states(f, code, expected):
    cs = InMemoryCodeSystem(FRAGMENT)
    assert filters.matches_in_part(cs, cs.locate(code), f) is expected


def _vs(*includes, exclude=None):
    compose = {"include": list(includes)}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "url": "http://example.org/vs/t", "status": "active", "compose": compose}


def _validate(vs, code):
    ctx = Context(None, [FRAGMENT, vs])
    answer = validate_vs(ctx, Params([Param("url", "valueUri", vs["url"]), Param("system", "valueUri", FRAG),
                                      Param("code", "valueCode", code)]))
    return answer.result, [i.tx_type for i in answer.issues], answer.caused_by


def test_membership_over_a_fragment_is_definite_where_it_can_be_and_open_where_not():
    isa = _vs({"system": FRAG, "filter": [{"property": "concept", "op": "is-a", "value": "root"}]})
    assert _validate(isa, "child") == (True, [], [])                         # stated in the fragment
    assert _validate(isa, "other") == (False, ["not-found"], [FRAG])         # not stated: cannot tell
    result, types, caused = _validate(isa, "elsewhere")                      # not in the fragment at all
    assert (result, caused) == (False, [FRAG]) and "not-in-vs" not in types
    listed = _vs({"system": FRAG, "concept": [{"code": "root"}, {"code": "unlisted-yet-member"}]})
    assert _validate(listed, "unlisted-yet-member")[0] is True                # listed: a member
    assert _validate(listed, "child")[:2] == (False, ["not-in-vs"])          # not listed: not a member
    assert _validate(listed, "elsewhere")[:2] == (False, ["invalid-code", "not-in-vs"])
    whole = _vs({"system": FRAG})                                             # the HL7 fragment convention
    assert _validate(whole, "elsewhere") == (True, ["invalid-code"], [])
    minus = _vs({"system": FRAG}, exclude=[{"system": FRAG, "filter": [{"property": "kind", "op": "=",
                                                                           "value": "x"}]}])
    assert _validate(minus, "other")[:2] == (False, ["not-in-vs"])           # excluded: stated
    assert _validate(minus, "child") == (False, ["not-found"], [FRAG])       # maybe excluded


def test_unclosed_parts_of_a_value_set():
    vs = _vs({"system": FRAG, "filter": [{"property": "concept", "op": "is-a", "value": "root"}]},
             {"system": FRAG, "concept": [{"code": "other"}]})
    (part,) = unclosed(Composer(Context(None, [FRAGMENT, vs])), vs)
    assert (part.system, part.version, part.content, part.excluding) == (FRAG, "1", "fragment", False)
    assert "'concept is-a root'" in part.expansion_reason() and "its hierarchy" in part.expansion_reason()
    assert unclosed(Composer(Context(None, [FRAGMENT])), _vs({"system": FRAG, "concept": [{"code": "x"}]})) == []
    assert "--snomed" in how_to_load(SCT) and "--loinc" in how_to_load(LOINC)
    assert "hl7.terminology.r5" in how_to_load("http://terminology.hl7.org/CodeSystem/v2-0074")


# -- the IG's value sets over HTTP, default build -------------------------------------------------

@pytest.mark.parametrize("base", IG_BASES)
@pytest.mark.parametrize("name, system, code, load", [
    ("im-procedure-type", SCT, "168537006", "--snomed"),      # in the fragment, hierarchy unknown
    ("im-procedure-type", SCT, "77477000", "--snomed"),
    ("im-procedure-type", SCT, "44491008", "--snomed"),
    ("DeviceEuImagingType", SCT, "77477000", "--snomed"),
    ("ImagingReportTypesEuVSEuImaging", LOINC, "18748-4", "--loinc"),
])
def test_a_hierarchy_over_a_fragment_cannot_decide(client, base, name, system, code, load):
    body = validate(client, "/fhir", url=vs_url(name, base), system=system, code=code)
    assert param(body, "result") is False
    assert "not-in-vs" not in tx_types(body)
    (why,) = [i for i in issues(body) if i[2] == "not-found"]
    assert why[:2] == ("error", "not-found")
    assert f"{system} by the filter 'concept is-a" in why[3] and "version 'dicom-2024c-fragment'" in why[3]
    assert "fragment without its hierarchy" in why[3] and load in why[3]
    assert [p["valueCanonical"] for p in body["parameter"] if p["name"] == "x-caused-by-unknown-system"] == [system]
    assert "was not found in the value set" not in param(body, "message")


def test_a_codeable_concept_over_a_fragment_hierarchy_cannot_decide(client):
    r = post_params(client, "/fhir/ValueSet/$validate-code", {
        "url": vs_url("im-procedure-type"),
        "codeableConcept": {"coding": [{"system": SCT, "code": "168537006"}]}})
    body = r.json
    assert param(body, "result") is False and "not-found" in tx_types(body)
    assert param(body, "x-caused-by-unknown-system") == SCT


@pytest.mark.parametrize("base", IG_BASES)
def test_an_enumeration_over_a_fragment_is_definite(client, base):
    url = vs_url("im-anatomical-region-valueset", base)
    body = validate(client, "/fhir", url=url, system=SCT, code="12345678")
    assert param(body, "result") is False and "not-in-vs" in tx_types(body)      # not listed: not a member
    body = validate(client, "/fhir", url=url, system=SCT, code="80891009")
    assert param(body, "result") is True and tx_types(body) == []
    body = validate(client, "/fhir", url=url, system=SCT, code="67734004")      # listed, unknown to the fragment
    assert param(body, "result") is True and tx_types(body) == ["invalid-code"]
    assert [i[0] for i in issues(body)] == ["warning"]


def test_a_fragment_display_is_at_most_a_warning(client):
    body = validate(client, "/fhir", url=vs_url("valueset-diagnosticreport-notes"), system=LOINC, code="11329-0",
                    display="History general Narrative - Reported")
    assert param(body, "result") is True
    assert param(body, "display") == "History"                     # the display it knows
    (issue,) = issues(body)
    assert issue[:3] == ("warning", "invalid", "display-comment")
    assert "could not be verified" in issue[3] and "is a fragment" in issue[3] and "'History'" in issue[3]
    body = validate(client, "/fhir", url=vs_url("valueset-diagnosticreport-notes"), system=LOINC, code="11329-0",
                    display="History")
    assert param(body, "result") is True and issues(body) == []


@pytest.mark.parametrize("query", ["", "&count=5", "&filter=imaging", "&count=2&offset=0&filter=x"])
def test_an_expansion_over_a_fragment_hierarchy_says_it_is_incomplete(client, query):
    r = client.get(f"/fhir/ValueSet/$expand?url={vs_url('im-procedure-type')}{query}")
    assert r.status_code == 200
    ext = {x["url"]: next(v for k, v in x.items() if k.startswith("value")) for x in r.json["expansion"]["extension"]}
    assert ext[UNCLOSED] is True
    reason = ext[UNCLOSED + "-reason"]
    assert "'concept is-a 363679005'" in reason and "dicom-2024c-fragment" in reason and "--snomed" in reason


def test_an_enumeration_over_a_fragment_expands_closed(client):
    exp = client.get(f"/fhir/ValueSet/$expand?url={vs_url('im-anatomical-region-valueset')}").json["expansion"]
    assert exp["total"] == 10 and "extension" not in exp


@pytest.mark.parametrize("paging", ["", "&count=10", "&count=1&offset=1"])
@pytest.mark.parametrize("word, expected", [("extremity", ["Upper extremity", "Lower extremity"]),
                                            ("trunk", ["Lower trunk", "Upper trunk"]),
                                            ("upper ext", ["Upper extremity"])])
def test_the_text_filter_matches_the_value_sets_own_displays(client, word, expected, paging):
    r = client.get(f"/fhir/ValueSet/$expand?url={vs_url('im-anatomical-region-valueset')}&filter={word}{paging}")
    exp = r.json["expansion"]
    assert exp["total"] == len(expected)
    shown = [c["display"] for c in exp.get("contains", [])]
    assert shown == (expected[1:2] if "offset=1" in paging else expected)


def test_the_text_filter_matches_value_set_designations_in_a_request_value_set(client):
    vs = {"resourceType": "ValueSet", "url": "http://example.org/vs/own", "status": "active",
          "compose": {"include": [{"system": SCT, "concept": [
              {"code": "80891009", "display": "Cardiac organ",
               "designation": [{"language": "de", "value": "Herzmuskelorgan"}]},
              {"code": "76752008"}]}]}}
    for word, expected in (("cardiac", ["80891009"]), ("herzmuskel", ["80891009"]), ("heart", ["80891009"]),
                           ("breast", ["76752008"])):
        body = post_params(client, "/fhir/ValueSet/$expand", {"valueSet": vs, "filter": word}).json
        assert [c["code"] for c in body["expansion"].get("contains", [])] == expected, word


def test_the_judge_takes_the_engines_word(db_path):
    judge = Judge(Store(db_path))
    verdict = judge.membership(vs_url("im-procedure-type"), SCT, "168537006")
    assert verdict.state == UNVERIFIABLE and "is-a 363679005" in verdict.message
    assert judge.membership(vs_url("im-anatomical-region-valueset"), SCT, "12345678").state == NOT_MEMBER
    members = judge.members(vs_url("im-procedure-type"), 1000)
    assert isinstance(members, NotEvaluable) and "--snomed" in members.reason


# -- with SNOMED CT and LOINC releases, the same questions have definite answers -------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("honest")
    path = str(root / "t.db")
    build(path, [SourceSpec("ig"), SourceSpec("dicom"), SourceSpec("snomed", write_snomed_release(str(root / "s"))),
                 SourceSpec("loinc", write_loinc_release(str(root / "l")))], Progress(quiet=True))
    return create_app(path).test_client()


@pytest.mark.parametrize("name, system, code, member", [
    ("im-procedure-type", SCT, "77477000", True),
    ("im-procedure-type", SCT, "80891009", False),
    ("DeviceEuImagingType", SCT, "57134006", True),
    ("DeviceEuImagingType", SCT, "77477000", False),
    ("ImagingReportTypesEuVSEuImaging", LOINC, "18748-4", True),
])
def test_with_releases_the_answers_are_definite(released, name, system, code, member):
    body = validate(released, "/fhir", url=vs_url(name), system=system, code=code)
    assert param(body, "result") is member
    assert param(body, "x-caused-by-unknown-system") is None
    assert ("not-in-vs" in tx_types(body)) is (not member)
    exp = released.get(f"/fhir/ValueSet/$expand?url={vs_url(name)}").json["expansion"]
    assert "extension" not in exp and exp["total"] > 0

