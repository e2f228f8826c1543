"""$translate's `dependency` (R5 attribute + value, R4 element + concept) held against the targets'
dependsOn: a target whose dependsOn a dependency contradicts is left out, one no dependency speaks of
stays, and a dependency that cannot be read is a 400 (docs/operations.md, "Translation")."""
import pytest

from conftest import SCT, params_named, post_params
from termsvc.ops.dependencies import Dependency, DependsOn

SRC = "http://example.org/fhir/CodeSystem/ris-procedures"
EU = "http://example.org/fhir/CodeSystem/eu-procedures"
LATERALITY = "http://example.org/fhir/attribute/laterality"
MODALITY = "http://example.org/fhir/attribute/modality"
LEFT = {"system": SCT, "code": "7771000", "display": "Left"}
RIGHT = {"system": SCT, "code": "24028007", "display": "Right"}
LATERALITY_VS = "http://example.org/fhir/ValueSet/left-sides"
MAP = {"resourceType": "ConceptMap", "url": "http://example.org/fhir/ConceptMap/ris-eu", "status": "active",
       "additionalAttribute": [{"code": "modality", "uri": MODALITY, "type": "code"}],
       "group": [{"source": SRC, "target": EU, "element": [
           {"code": "XR-KNEE", "target": [
               {"code": "knee-left", "relationship": "equivalent", "dependsOn": [{"attribute": LATERALITY,
                                                                                  "valueCoding": LEFT}]},
               {"code": "knee-right", "relationship": "equivalent", "dependsOn": [{"attribute": LATERALITY,
                                                                                   "valueCoding": RIGHT}]}]},
           {"code": "KNEE", "target": [
               {"code": "ct-knee", "relationship": "equivalent", "dependsOn": [{"attribute": "modality",
                                                                                "valueCode": "CT"}]},
               {"code": "mr-knee", "relationship": "equivalent", "dependsOn": [{"attribute": "modality",
                                                                                "valueCode": "MR"}]}]},
           {"code": "HIP", "target": [
               {"code": "hip-left", "relationship": "equivalent", "dependsOn": [{"attribute": LATERALITY,
                                                                                 "valueSet": LATERALITY_VS}]}]}]}]}
LEFT_SIDES = {"resourceType": "ValueSet", "url": LATERALITY_VS, "status": "active",
              "compose": {"include": [{"system": SCT, "concept": [{"code": LEFT["code"]}]}]}}
SIDES = {"resourceType": "CodeSystem", "url": SCT, "status": "active", "content": "fragment",
         "concept": [{"code": c["code"], "display": c["display"]} for c in (LEFT, RIGHT)]}


def dependency(attribute, key, value, r4=False):
    parts = [{"name": "element" if r4 else "attribute", "valueUri": attribute}] if attribute else []
    return ("dependency", ("part", parts + [{"name": "concept" if r4 else "value", key: value}]))


def translate(client, code, *more, base="/fhir"):
    name = "sourceCode" if base == "/fhir" else "code"
    return post_params(client, f"{base}/ConceptMap/$translate",
                       [(name, ("valueCode", code)), ("system", ("valueUri", SRC)), ("url", ("valueUri", MAP["url"])),
                        *more, ("tx-resource", MAP), ("tx-resource", LEFT_SIDES), ("tx-resource", SIDES)])


def answer(r):
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    body = r.get_json()
    targets = [next(p["valueCoding"]["code"] for p in m["part"] if p["name"] == "concept")
               for m in params_named(body, "match")]
    message = next((p["valueString"] for p in params_named(body, "message")), None)
    return body["parameter"][0 if message is None else 1]["valueBoolean"], targets, message


def test_without_a_dependency_every_target_stays(client):
    assert answer(translate(client, "XR-KNEE"))[:2] == (True, ["knee-left", "knee-right"])


def test_a_coding_dependency_keeps_the_targets_it_meets(client):
    assert answer(translate(client, "XR-KNEE", dependency(LATERALITY, "valueCoding", LEFT)))[:2] == \
        (True, ["knee-left"])
    assert answer(translate(client, "XR-KNEE", dependency(LATERALITY, "valueCoding", RIGHT)))[:2] == \
        (True, ["knee-right"])
    # a Coding without a system matches by code; a code alone too
    assert answer(translate(client, "XR-KNEE", dependency(LATERALITY, "valueCoding", {"code": RIGHT["code"]})))[1] \
        == ["knee-right"]
    assert answer(translate(client, "XR-KNEE", dependency(LATERALITY, "valueCode", LEFT["code"])))[1] == ["knee-left"]
    # the same code in another system is another value
    other = {"system": "http://example.org/sides", "code": LEFT["code"]}
    assert answer(translate(client, "XR-KNEE", dependency(LATERALITY, "valueCoding", other)))[:2] == (False, [])


def test_an_attribute_is_named_by_the_maps_additional_attribute_code_or_its_uri(client):
    for attribute in (MODALITY, "modality"):
        assert answer(translate(client, "KNEE", dependency(attribute, "valueCode", "MR")))[:2] == (True, ["mr-knee"])


def test_a_dependency_about_another_attribute_judges_nothing(client):
    assert answer(translate(client, "XR-KNEE", dependency(MODALITY, "valueCode", "CR")))[:2] == \
        (True, ["knee-left", "knee-right"])


def test_a_dependency_without_attribute_only_confirms(client):
    # 'MR' holds the modality dependsOn of mr-knee; it says nothing against ct-knee's (no attribute named)
    assert answer(translate(client, "KNEE", dependency(None, "valueCode", "MR")))[:2] == (True, ["ct-knee", "mr-knee"])


def test_several_dependencies_each_hold(client):
    both = [dependency(MODALITY, "valueCode", "CT"), dependency(LATERALITY, "valueCoding", LEFT)]
    assert answer(translate(client, "KNEE", *both))[:2] == (True, ["ct-knee"])
    assert answer(translate(client, "XR-KNEE", *both))[:2] == (True, ["knee-left"])


def test_when_no_target_is_left_the_message_says_which_conditions_failed(client):
    result, targets, message = answer(translate(client, "KNEE", dependency(MODALITY, "valueCode", "US")))
    assert (result, targets) == (False, [])
    assert "No translations found" in message and "2 mapping(s)" in message
    assert "modality = CT" in message and "modality = MR" in message


def test_a_depends_on_by_value_set_holds_for_a_coding_in_it(client):
    assert answer(translate(client, "HIP", dependency(LATERALITY, "valueCoding", LEFT)))[:2] == (True, ["hip-left"])
    assert answer(translate(client, "HIP", dependency(LATERALITY, "valueCoding", RIGHT)))[:2] == (False, [])
    # a code without its system cannot be looked for in the value set: cannot be judged, the target stays
    assert answer(translate(client, "HIP", dependency(LATERALITY, "valueCode", RIGHT["code"])))[:2] == \
        (True, ["hip-left"])


def test_r4_element_and_concept(client):
    r = translate(client, "XR-KNEE", dependency(LATERALITY, "valueCodeableConcept", {"coding": [RIGHT]}, r4=True),
                  base="/r4/fhir")
    assert answer(r)[:2] == (True, ["knee-right"])
    [match] = params_named(r.get_json(), "match")
    assert {p["name"]: p for p in match["part"]}["equivalence"]["valueCode"] == "equivalent"
    # the R5 spelling on the R4 endpoint, as the other parameters
    assert answer(translate(client, "XR-KNEE", dependency(LATERALITY, "valueCoding", LEFT), base="/r4/fhir"))[1] == \
        ["knee-left"]


def test_reverse_translation_holds_the_dependsOn_too(client):
    def reverse(*more):
        return post_params(client, "/fhir/ConceptMap/$translate",
                           [("targetCode", ("valueCode", "ct-knee")), ("targetSystem", ("valueUri", EU)),
                            ("url", ("valueUri", MAP["url"])), *more, ("tx-resource", MAP)])
    assert answer(reverse())[:2] == (True, ["ct-knee"])
    assert answer(reverse(dependency(MODALITY, "valueCode", "MR")))[:2] == (False, [])


def test_a_dependency_that_cannot_be_read_is_a_400(client):
    for bad in (("dependency", ("part", [{"name": "attribute", "valueUri": LATERALITY}])),          # no value
                ("dependency", ("part", [{"name": "value", "valueCode": "L"},
                                         {"name": "colour", "valueCode": "red"}])),               # unknown part
                ("dependency", ("part", [{"name": "attribute", "valueBoolean": True},
                                         {"name": "value", "valueCode": "L"}])),                  # no uri
                ("dependency", ("part", [{"name": "value", "valueInteger": 3}])),                 # no such value
                ("dependency", ("valueString", "laterality=left"))):                              # no parts
        r = translate(client, "XR-KNEE", bad)
        assert r.status_code == 400, r.get_data(as_text=True)[:300]
        assert r.get_json()["resourceType"] == "OperationOutcome"
    r = client.get(f"/fhir/ConceptMap/$translate?sourceCode=XR-KNEE&system={SRC}&dependency=left")
    assert r.status_code == 400 and "dependency" in r.get_json()["issue"][0]["details"]["text"]


def test_over_http(live_server):
    """End to end on a served build: the R4 endpoint, dependency as element + concept."""
    params = [("code", ("valueCode", "XR-KNEE")), ("system", ("valueUri", SRC)), ("url", ("valueUri", MAP["url"])),
              dependency(LATERALITY, "valueCodeableConcept", {"coding": [LEFT]}, r4=True), ("tx-resource", MAP)]
    status, body, _ = live_server.post("/r4/fhir/ConceptMap/$translate", params)
    assert status == 200
    [match] = params_named(body, "match")
    assert next(p for p in match["part"] if p["name"] == "concept")["valueCoding"]["code"] == "knee-left"


def test_quantities_and_booleans_unit():
    given = (Dependency("weight", quantities=({"value": 70, "code": "kg"},)), Dependency("contrast", booleans=(True,)))
    holds = DependsOn(given, {}, lambda *a: None).holds
    assert holds({"attribute": "weight", "valueQuantity": {"value": 70, "unit": "kg"}}) is True
    assert holds({"attribute": "weight", "valueQuantity": {"value": 80, "code": "kg"}}) is False
    assert holds({"attribute": "contrast", "valueBoolean": True}) is True
    assert holds({"attribute": "contrast", "valueBoolean": False}) is False
    assert holds({"attribute": "age", "valueCode": "adult"}) is None


# -- the client and the CLI: a dependency is sent in a POST (parts have no query-string form) ------------

EXAMPLE2 = "http://hl7.org/fhir/ConceptMap/example2"   # FHIR R5 core: code -> code2 where ex3 = example3#some-code
EX1, EX3 = "http://example.org/fhir/example1", "http://example.org/fhir/example3"
EX3_URI = "http://example.org/fhir/property-value/example"


@pytest.mark.parametrize("which", ["local", "http", "http-r4"])
def test_the_client_sends_dependencies(which, db_path, live_server):
    from termsvc.client import TerminologyClient
    from termsvc.local_client import LocalClient
    client = LocalClient(db_path) if which == "local" else \
        TerminologyClient(live_server.base + "/fhir") if which == "http" else \
        TerminologyClient(live_server.base + "/r4/fhir", fhir_version="R4")
    met = client.translate("code", EX1, url=EXAMPLE2, dependencies=[(EX3_URI, {"system": EX3, "code": "some-code"})])
    assert met.result and [m.code for m in met.matches] == ["code2"]
    unmet = client.translate("code", EX1, url=EXAMPLE2, dependencies=[("ex3", {"system": EX3, "code": "other"})])
    assert not unmet.result and "ex3 = http://example.org/fhir/example3#some-code" in unmet.message
    # many codes through a batch: POST entries
    many = client.translate_many(["code", "code"], EX1, url=EXAMPLE2, dependencies=[(EX3_URI, "other")])
    assert [r.result for r in many] == [False, False]
    assert client.translate_many([{"code": "code", "system": EX1, "dependencies": [(EX3_URI, "some-code")]}])[0].result


def test_the_cli_takes_dependencies(db_path):
    from click.testing import CliRunner
    from termsvc.cli import cli
    base = ["translate", "code", "-s", EX1, "--url", EXAMPLE2, "--db", db_path]
    met = CliRunner().invoke(cli, base + ["--dependency", f"{EX3_URI}={EX3}|some-code"])
    assert met.exit_code == 0 and "code2" in met.output, met.output
    unmet = CliRunner().invoke(cli, base + ["--dependency", f"ex3={EX3}|other"])
    assert unmet.exit_code == 1 and "contradict" in unmet.output, unmet.output
    bad = CliRunner().invoke(cli, base + ["--dependency", "no-value"])
    assert bad.exit_code == 2 and "ATTRIBUTE=VALUE" in bad.output
