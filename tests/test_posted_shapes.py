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
