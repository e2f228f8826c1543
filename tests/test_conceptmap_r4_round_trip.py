"""An R5 ConceptMap served on the R4 endpoint and read back is the map written: what R4 has no element for -
the declared `property` and a target's property values, a dependsOn/product value typed other than a string
(valueCode, valueCoding without a system or with a version, valueBoolean, valueQuantity) - travels in FHIR's
cross-version extensions (termsvc.fhir.conceptmap_r4, termsvc.fhir.convert)."""
import copy

import orjson
import pytest
import requests

from conftest import QUIET
from termsvc.build import SourceSpec, build
from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.fhir.convert import EXT_PROPERTY, EXT_TARGET_PROPERTY, is_r4_concept_map, to_r5

URL = "http://ex.test/ConceptMap/typed"
PRIORITY = {"code": "priority", "uri": "http://ex.test/property/priority", "type": "integer",
            "description": "the order a RIS proposes targets in"}
KIND = {"code": "kind", "type": "Coding", "system": "http://ex.test/cs/kind"}
VALUES = {  # a condition's value[x], as written
    "a code": {"valueCode": "CT"},
    "a string": {"valueString": "contrast"},
    "a coding": {"valueCoding": {"system": "http://ex.test/cs/modality", "code": "MR", "display": "MR"}},
    "a coding without a system": {"valueCoding": {"code": "US"}},
    "a coding with a version": {"valueCoding": {"system": "http://ex.test/cs/modality", "version": "2", "code": "XR"}},
    "a boolean": {"valueBoolean": False},
    "a quantity": {"valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}},
}
MAP = {"resourceType": "ConceptMap", "id": "typed", "url": URL, "status": "active",
       "property": [PRIORITY, KIND],
       "additionalAttribute": [{"code": "modality", "uri": "http://ex.test/attribute/modality", "type": "code"}],
       "group": [{"source": "http://ex.test/cs/ris", "target": "http://ex.test/cs/eu", "element": [
           {"code": f"S{i}", "target": [{"code": f"T{i}", "relationship": "equivalent",
                                         "property": [{"code": "priority", "valueInteger": i},
                                                      {"code": "kind", "valueCoding": {"system": KIND["system"],
                                                                                       "code": "k"}}],
                                         "dependsOn": [{"attribute": "modality", **value}],
                                         "product": [{"attribute": "modality", **value}]}]}
           for i, value in enumerate(VALUES.values())]}]}


def without_r4_words(cm: dict) -> dict:
    """The map without the extensions an R4 copy adds to say each target's relationship (as written)."""
    cm = copy.deepcopy(cm)
    for e in cm["group"][0]["element"]:
        for t in e["target"]:
            t.pop("extension", None)
    return cm


def test_the_r4_form_carries_properties_and_typed_values_in_cross_version_extensions():
    r4 = concept_map_r5_to_r4(MAP)
    assert "property" not in r4 and is_r4_concept_map(r4)
    declared = [x for x in r4["extension"] if x["url"] == EXT_PROPERTY]
    assert declared[0]["extension"] == [{"url": "code", "valueCode": "priority"}, {"url": "uri", "valueUri": PRIORITY["uri"]},
                                        {"url": "description", "valueString": PRIORITY["description"]},
                                        {"url": "type", "valueCode": "integer"}]
    assert {"url": "system", "valueCanonical": KIND["system"]} in declared[1]["extension"]
    target = r4["group"][0]["element"][1]["target"][0]
    assert "property" not in target and [x["extension"] for x in target["extension"] if x["url"] == EXT_TARGET_PROPERTY][0] \
        == [{"url": "code", "valueCode": "priority"}, {"url": "value", "valueInteger": 1}]
    by_value = {what: e["target"][0]["dependsOn"][0] for what, e in zip(VALUES, r4["group"][0]["element"])}
    assert by_value["a code"]["value"] == "CT" and by_value["a code"]["extension"][0]["valueCode"] == "CT"
    assert by_value["a string"] == {"property": "http://ex.test/attribute/modality", "value": "contrast"}
    assert "extension" not in by_value["a coding"] and by_value["a coding"]["system"] == "http://ex.test/cs/modality"
    assert by_value["a coding without a system"]["value"] == "US"


@pytest.mark.parametrize("what", VALUES)
def test_read_back_each_value_keeps_its_type(what):
    back = to_r5(concept_map_r5_to_r4(MAP))
    i = list(VALUES).index(what)
    target = back["group"][0]["element"][i]["target"][0]
    assert target["dependsOn"] == [{"attribute": "modality", **VALUES[what]}]
    assert target["product"] == [{"attribute": "modality", **VALUES[what]}]
    assert target["property"] == MAP["group"][0]["element"][i]["target"][0]["property"]


def test_read_back_the_map_is_the_one_written():
    back = to_r5(concept_map_r5_to_r4(MAP))
    assert without_r4_words(back) == without_r4_words(MAP)
    assert all(x["url"] != EXT_TARGET_PROPERTY for e in back["group"][0]["element"] for t in e["target"]
               for x in t.get("extension", []))
    # an R4 summary (no groups) is known for R4 by its extension, and says its properties
    summary = {k: v for k, v in concept_map_r5_to_r4(MAP).items() if k != "group"}
    assert to_r5(summary)["property"] == MAP["property"]


def test_served_on_the_r4_endpoint_and_read_back(tmp_path, server_factory):
    folder = tmp_path / "maps"
    folder.mkdir()
    (folder / "ConceptMap-typed.json").write_bytes(orjson.dumps(MAP))
    build(str(tmp_path / "t.db"), [SourceSpec("fhir", str(folder))], QUIET, preexpand=False)
    srv = server_factory(str(tmp_path / "t.db"))
    r5 = requests.get(srv.base + "/fhir/ConceptMap/typed", timeout=30).json()
    r4 = requests.get(srv.base + "/r4/fhir/ConceptMap/typed", timeout=30).json()
    [found] = [e["resource"] for e in requests.get(srv.base + "/r4/fhir/ConceptMap", params={"url": URL},
                                                    timeout=30).json()["entry"]]
    assert found == r4 and "property" not in r4
    assert without_r4_words(to_r5(r4)) == without_r4_words(r5)
    assert without_r4_words(r5)["group"] == without_r4_words(MAP)["group"] and r5["property"] == MAP["property"]
