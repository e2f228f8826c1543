"""An R5 ConceptMap's conditions on the R4 endpoint: `additionalAttribute` (no R4 element) is carried in
FHIR's cross-version extension, a dependsOn's `property` is the uri of the attribute it names, a value set
or a typed value (boolean, Quantity) its own extension; read back to R5 wherever an R4 map comes in, so
the R4 `$translate` with `dependency` (element + concept) answers as the R5 one."""
import copy

import pytest
import requests

from conftest import QUIET, post_params
from termsvc.build import SourceSpec, build
from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.fhir.convert import EXT_ADDITIONAL_ATTRIBUTE, other_value_extension, to_r5
from test_dicom_codes_context import DESCRIPTIONS, DESCRIPTIONS_TOML
from test_translate_dependency import LATERALITY, LEFT, LEFT_SIDES, MAP, MODALITY, RIGHT, SIDES, SRC, answer

CONTRAST = "http://example.org/fhir/attribute/contrast"
WEIGHT = "http://example.org/fhir/attribute/weight"
TYPED = copy.deepcopy(MAP)
TYPED["url"] = "http://example.org/fhir/ConceptMap/ris-eu-typed"
TYPED["additionalAttribute"].append({"code": "contrast", "uri": CONTRAST, "type": "boolean",
                                     "description": "contrast given"})
TYPED["group"][0]["element"].append({"code": "ABD", "target": [
    {"code": "abd-contrast", "relationship": "equivalent", "dependsOn": [{"attribute": "contrast", "valueBoolean": True}]},
    {"code": "abd-heavy", "relationship": "equivalent",
     "dependsOn": [{"attribute": WEIGHT, "valueQuantity": {"value": 120, "code": "kg"}}]}]})


def test_the_r4_form_carries_the_conditions_in_cross_version_extensions():
    r4 = concept_map_r5_to_r4(TYPED)
    assert "additionalAttribute" not in r4
    carried = [x for x in r4["extension"] if x["url"] == EXT_ADDITIONAL_ATTRIBUTE]
    assert carried[1]["extension"] == [{"url": "code", "valueCode": "contrast"}, {"url": "uri", "valueUri": CONTRAST},
                                       {"url": "description", "valueString": "contrast given"},
                                       {"url": "type", "valueCode": "boolean"}]
    elements = {e["code"]: e for e in r4["group"][0]["element"]}
    # the code an attribute is named by becomes its uri (R4's property is a uri); an attribute without one stays
    assert elements["KNEE"]["target"][0]["dependsOn"] == [{"property": MODALITY, "value": "CT", "extension": [
        {"url": other_value_extension("dependsOn"), "valueCode": "CT"}]}]   # (a code: said as text, and typed)
    assert elements["XR-KNEE"]["target"][0]["dependsOn"] == [{"property": LATERALITY, "system": LEFT["system"],
                                                              "value": LEFT["code"], "display": LEFT["display"]}]
    [by_value_set] = elements["HIP"]["target"][0]["dependsOn"]
    assert "value" not in by_value_set and by_value_set["extension"][0]["valueCanonical"] == LEFT_SIDES["url"]
    [boolean], [quantity] = (t["dependsOn"] for t in elements["ABD"]["target"])
    assert boolean["value"] == "true" and boolean["extension"][0]["valueBoolean"] is True
    assert quantity["value"] == "120 kg" and quantity["extension"][0]["valueQuantity"] == {"value": 120, "code": "kg"}


def test_read_back_to_r5_the_conditions_are_those_written():
    back = to_r5(concept_map_r5_to_r4(TYPED))
    assert back["additionalAttribute"] == TYPED["additionalAttribute"]
    assert "extension" not in back
    conditions = [(e["code"], t.get("dependsOn")) for e in back["group"][0]["element"] for t in e["target"]]
    written = [(e["code"], t.get("dependsOn")) for e in TYPED["group"][0]["element"] for t in e["target"]]
    assert conditions == written
    # an R4 summary (no groups) is known for R4 by its extension
    summary = {k: v for k, v in concept_map_r5_to_r4(TYPED).items() if k != "group"}
    assert to_r5(summary)["additionalAttribute"] == TYPED["additionalAttribute"]


CASES = [("KNEE", [], ["ct-knee", "mr-knee"]),
         ("KNEE", [(MODALITY, "MR")], ["mr-knee"]),
         ("KNEE", [("modality", "CT")], ["ct-knee"]),
         ("KNEE", [(MODALITY, "US")], []),
         ("XR-KNEE", [(LATERALITY, RIGHT)], ["knee-right"]),
         ("HIP", [(LATERALITY, RIGHT)], []),
         ("HIP", [(LATERALITY, LEFT)], ["hip-left"]),
         ("ABD", [(CONTRAST, "true")], ["abd-contrast", "abd-heavy"]),
         ("ABD", [("contrast", "false")], ["abd-heavy"])]


def _translate(client, code, dependencies, r4: bool):
    """$translate against TYPED sent as a tx-resource: R5 spelling and map, or R4 spelling and the R4 form."""
    def part(attribute, value):
        coding = value if isinstance(value, dict) else {"code": value}
        if r4:
            return [{"name": "element", "valueUri": attribute}, {"name": "concept", "valueCodeableConcept":
                                                                 {"coding": [coding]}}]
        return [{"name": "attribute", "valueUri": attribute},
                {"name": "value", **({"valueCoding": value} if isinstance(value, dict) else {"valueCode": value})}]
    return post_params(client, "/r4/fhir/ConceptMap/$translate" if r4 else "/fhir/ConceptMap/$translate",
                       [("code" if r4 else "sourceCode", ("valueCode", code)), ("system", ("valueUri", SRC)),
                        ("url", ("valueUri", TYPED["url"])),
                        *[("dependency", ("part", part(a, v))) for a, v in dependencies],
                        ("tx-resource", concept_map_r5_to_r4(TYPED) if r4 else TYPED),
                        ("tx-resource", LEFT_SIDES), ("tx-resource", SIDES)])


@pytest.mark.parametrize("code, dependencies, expected", CASES)
def test_r4_translate_with_element_and_concept_answers_as_r5(client, code, dependencies, expected):
    r5 = answer(_translate(client, code, dependencies, r4=False))
    r4 = answer(_translate(client, code, dependencies, r4=True))
    assert r5[:2] == r4[:2] == (bool(expected), expected)


def test_the_r4_endpoint_serves_a_built_maps_conditions(tmp_path, server_factory):
    """A mapping table's depends_on, read from the R4 endpoint (read and search), names its attributes."""
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "descriptions.csv").write_text(DESCRIPTIONS)
    (maps / "descriptions.toml").write_text(DESCRIPTIONS_TOML)
    build(str(tmp_path / "t.db"), [SourceSpec("mappings", str(maps))], QUIET, preexpand=False)
    srv = server_factory(str(tmp_path / "t.db"))
    found = requests.get(srv.base + "/r4/fhir/ConceptMap", params={"url": "http://example.org/ConceptMap/"
                                                                          "descriptions-by-modality"}, timeout=30)
    [entry] = found.json()["entry"]
    cm = requests.get(srv.base + f"/r4/fhir/ConceptMap/{entry['resource']['id']}", timeout=30).json()
    assert cm == entry["resource"]
    codes = sorted(next(p["valueCode"] for p in x["extension"] if p["url"] == "code")
                   for x in cm["extension"] if x["url"] == EXT_ADDITIONAL_ATTRIBUTE)
    assert codes == ["Laterality", "Modality"]
    knie = next(e for e in cm["group"][0]["element"] if e["code"] == "Knie")
    assert [[(d["property"], d["value"]) for d in t["dependsOn"]] for t in knie["target"]] == [
        [("Modality", "CT")], [("Modality", "MR")]]
    assert [d["valueCode"] for e in to_r5(cm)["group"][0]["element"] if e["code"] == "Knie"
            for t in e["target"] for d in t["dependsOn"]] == ["CT", "MR"]
