"""A resource a request sends is held to the rule a package's resource is held to when it is loaded
(fhir.shape.shape_problem): what the build refuses, a request cannot have used either."""
import json

import pytest

from termsvc.build import BuildError, SourceSpec, build
from test_hostile import json_post, parameters

CS = "http://ex.test/cs/twice"
VS = {"resourceType": "ValueSet", "url": "http://ex.test/vs/twice", "status": "active",
      "compose": {"include": [{"system": CS}]}}
REFUSED = {  # a resource -> what both say of it
    "a code given twice": ({"resourceType": "CodeSystem", "url": CS, "status": "active", "content": "complete",
                            "concept": [{"code": "a", "display": "A"}, {"code": "b", "concept": [
                                {"code": "a", "display": "Other"}]}]},
                           "CodeSystem.concept[1].concept[0]: the code 'a' is given twice in the code system (first at"
                           " CodeSystem.concept[0])"),
    "a title that is no string": ({**VS, "title": ["a", "list"]}, "ValueSet.title is not a string"),
    # (a request's was a 500: the concept's extensions were listed)
    "a concept's extensions that are no list": ({"resourceType": "CodeSystem", "url": CS, "status": "active",
                                                 "content": "complete", "concept": [{"code": "a", "extension": 5}]},
                                                "CodeSystem.concept[0].extension is not a list of objects"),
    "extensions that are no list": ({**VS, "extension": {"url": "http://ex.test/x"}}, "ValueSet.extension is not a list"),
    "a compose's extensions that are no list": ({**VS, "compose": {**VS["compose"], "extension": 5}},
                                                "ValueSet.compose.extension is not a list"),
    "an extension's extensions that are no objects": ({**VS, "extension": [{"url": "http://ex.test/x", "extension": [5]}]},
                                                      "ValueSet.extension[0].extension[0] is not an object"),
    "an expansion's contains that is no list": ({**VS, "expansion": {"contains": 5}},
                                                "ValueSet.expansion.contains is not a list"),
    "a contains nested in one that is no object": ({**VS, "expansion": {"contains": [{"code": "a", "contains": [5]}]}},
                                                   "ValueSet.expansion.contains[0].contains[0] is not an object"),
}


@pytest.mark.parametrize("what", REFUSED)
def test_what_a_build_refuses_a_request_is_refused_for(tmp_path, live_server, what):
    resource, said = REFUSED[what]
    (tmp_path / "r.json").write_text(json.dumps(resource))
    with pytest.raises(BuildError) as e:
        build(str(tmp_path / "t.db"), [SourceSpec("fhir", str(tmp_path / "r.json"))], preexpand=False)
    assert said in str(e.value)
    other = VS if resource["resourceType"] == "CodeSystem" else {**REFUSED["a code given twice"][0], "concept": []}
    for path, name in (("/fhir/ValueSet/$expand", "tx-resource"), ("/r4/fhir/ValueSet/$expand", "tx-resource")):
        status, answer = json_post(live_server, path, parameters(
            {"name": "valueSet", "resource": other if resource["resourceType"] == "CodeSystem" else resource},
            {"name": name, "resource": resource if resource["resourceType"] == "CodeSystem" else other}))
        assert status == 400 and said in answer["issue"][0]["details"]["text"], answer


R4_MAP = {"resourceType": "ConceptMap", "url": "http://ex.test/cm/sent", "status": "active", "group": [
    {"source": "http://ex.test/cs/s", "target": "http://ex.test/cs/t", "element": [
        {"code": "a", "target": [{"code": "b", "equivalence": "equivalent"}]}]}]}
MALFORMED_TARGETS = {  # a target's element -> the element named
    "dependsOn that is no list": ({"dependsOn": 5}, "target[0].dependsOn"),
    "a dependsOn that is no object": ({"dependsOn": ["x"]}, "target[0].dependsOn[0]"),
    "a property that is no uri": ({"dependsOn": [{"property": 5, "value": "a"}]}, "target[0].dependsOn[0].property"),
    "a product's Coding that is none": ({"product": [{"attribute": "p", "valueCoding": 5}]},
                                        "target[0].product[0].valueCoding"),
    "a boolean that is none": ({"dependsOn": [{"attribute": "p", "valueBoolean": "x"}]},
                               "target[0].dependsOn[0].valueBoolean"),
    "extensions that are no list": ({"extension": 5}, "target[0].extension"),
    "an extension that is no object": ({"extension": [5]}, "target[0].extension[0]"),
}
MALFORMED_MAPS = {  # an element of the map -> the element named
    "attributes that are no list": ({"additionalAttribute": 5}, "ConceptMap.additionalAttribute is not a list"),
    "a scope that is no uri": ({"sourceScopeUri": 5}, "ConceptMap.sourceScopeUri is not a string"),
    "a property declared with no code": ({"property": [{"code": 5}]}, "ConceptMap.property[0].code is not a string"),
    "another map that is no uri": ({"group": [{"source": "http://ex.test/cs/s", "unmapped": {"mode": "other-map",
                                                                                            "otherMap": 5}}]},
                                   "ConceptMap.group[0].unmapped.otherMap is not a string"),
}


@pytest.mark.parametrize("what", MALFORMED_MAPS)
def test_a_sent_concept_map_of_the_wrong_shape_is_a_400_naming_the_element(live_server, what):
    element, said = MALFORMED_MAPS[what]
    cm = {**json.loads(json.dumps(R4_MAP)), **element}
    for path, code in (("/r4/fhir/ConceptMap/$translate", "code"), ("/fhir/ConceptMap/$translate", "sourceCode")):
        status, answer = json_post(live_server, path, parameters(
            {"name": "tx-resource", "resource": cm}, {"name": code, "valueCode": "z"},
            {"name": "system", "valueUri": "http://ex.test/cs/s"}))
        assert status == 400 and said in answer["issue"][0]["details"]["text"], answer


@pytest.mark.parametrize("what", MALFORMED_TARGETS)
def test_a_sent_concept_maps_conditions_of_the_wrong_shape_are_a_400_naming_them(live_server, what):
    """(the R4 map's conditions are read into R5 shape: their shape was never checked, a 500)"""
    element, named = MALFORMED_TARGETS[what]
    cm = json.loads(json.dumps(R4_MAP))
    cm["group"][0]["element"][0]["target"][0].update(element)
    for path, code in (("/r4/fhir/ConceptMap/$translate", "code"), ("/fhir/ConceptMap/$translate", "sourceCode")):
        status, answer = json_post(live_server, path, parameters(
            {"name": "conceptMap", "resource": cm}, {"name": code, "valueCode": "a"},
            {"name": "system", "valueUri": "http://ex.test/cs/s"}))
        assert status == 400 and f"ConceptMap.group[0].element[0].{named} is not" in answer["issue"][0]["details"]["text"]


@pytest.mark.parametrize("hold", ["x", {"extension": 5}, {"extension": [5]}])
def test_an_r4_filter_operators_extension_of_the_wrong_shape_is_no_500(live_server, hold):
    """(an R4 value set's `_op` is read for the R5 operator it may carry: an `_op` of another shape holds none)"""
    cs = {**REFUSED["a code given twice"][0], "concept": [{"code": "a", "display": "A"}]}
    vs = {**VS, "compose": {"include": [{"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "a",
                                                                   "_op": hold}]}]}}
    status, answer = json_post(live_server, "/r4/fhir/ValueSet/$expand", parameters(
        {"name": "valueSet", "resource": vs}, {"name": "tx-resource", "resource": cs}))
    assert status == 200 and [c["code"] for c in answer["expansion"]["contains"]] == ["a"]
