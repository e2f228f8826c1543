"""A SNOMED CT `concept in` filter whose value lists a reference set: $expand and $validate-code take the
same codes (the members of a reference set the build holds, the other values as codes), and a reference set
whose members the build does not hold cannot be judged by either (over HTTP, on synthetic releases)."""
import glob
import os

import pytest

from synthetic_releases import SIMPLE_REFSET, write_snomed_release
from termsvc.api.app import create_app
from termsvc.build import Progress, SourceSpec, build

SCT = "http://snomed.info/sct"
MEMBERS = {"53120007", "61685007", "76752008"}   # the synthetic release's Lateralizable body structure refset


def app_of(tmp_path_factory, name: str, keep_refset: bool):
    root = tmp_path_factory.mktemp(name)
    snomed = write_snomed_release(str(root / "snomed"), generated=20)
    if not keep_refset:   # the simple refset's members left out (its concept stays)
        (path,) = glob.glob(os.path.join(snomed, "Snapshot", "Refset", "Content", "der2_Refset_Simple*.txt"))
        with open(path, encoding="utf-8", newline="") as f:
            header = f.readline()
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(header)
    db = str(root / "t.db")
    build(db, [SourceSpec("snomed", snomed)], Progress(quiet=True), preexpand=False)
    return create_app(db).test_client()


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    return app_of(tmp_path_factory, "held", keep_refset=True)


@pytest.fixture(scope="module")
def not_held(tmp_path_factory):
    return app_of(tmp_path_factory, "not-held", keep_refset=False)


def value_set(*filters) -> dict:
    return {"resourceType": "ValueSet", "url": "http://ex.test/vs/in", "status": "active",
            "compose": {"include": [{"system": SCT, "filter": list(filters)}]}}


def expand(client, vs: dict):
    return client.post("/fhir/ValueSet/$expand", json={"resourceType": "Parameters", "parameter": [
        {"name": "valueSet", "resource": vs}, {"name": "excludeNested", "valueBoolean": True}]})


def validate(client, vs: dict, code: str):
    return client.post("/fhir/ValueSet/$validate-code", json={"resourceType": "Parameters", "parameter": [
        {"name": "valueSet", "resource": vs}, {"name": "system", "valueUri": SCT}, {"name": "code", "valueCode": code}]})


def result(r) -> bool:
    assert r.status_code == 200, r.json
    return next(p["valueBoolean"] for p in r.json["parameter"] if p["name"] == "result")


@pytest.mark.parametrize("value", [SIMPLE_REFSET, f"{SIMPLE_REFSET}, 241601008", f"241601008,{SIMPLE_REFSET}"])
def test_expand_and_validate_take_the_same_codes(held, value):
    """The reference set's members, and a plain code listed beside it - not the reference set's own concept."""
    vs = value_set({"property": "concept", "op": "in", "value": value})
    r = expand(held, vs)
    assert r.status_code == 200, r.json
    expanded = {c["code"] for c in r.json["expansion"]["contains"]}
    assert expanded == MEMBERS | ({"241601008"} if "241601008" in value else set())
    for code in sorted(expanded | {SIMPLE_REFSET, "91723000", "241601008"}):   # members, and codes that are not
        assert result(validate(held, vs, code)) is (code in expanded), code


def test_a_second_in_filter_tests_the_same_codes(held):
    vs = value_set({"property": "concept", "op": "is-a", "value": "91723000"},
                   {"property": "concept", "op": "in", "value": f"{SIMPLE_REFSET}, 91723000"})
    expanded = {c["code"] for c in expand(held, vs).json["expansion"]["contains"]}
    assert expanded == MEMBERS | {"91723000"}
    for code in sorted(expanded | {SIMPLE_REFSET}):
        assert result(validate(held, vs, code)) is (code in expanded), code


def test_a_reference_set_whose_members_are_not_held_cannot_be_judged(not_held):
    """Neither an empty expansion nor a confident no: both operations say which reference set is missing."""
    vs = value_set({"property": "concept", "op": "in", "value": f"{SIMPLE_REFSET}, 241601008"})
    for r in (expand(not_held, vs), validate(not_held, vs, "53120007"), validate(not_held, vs, "241601008")):
        assert r.status_code == 422, r.json
        (issue,) = r.json["issue"]
        assert issue["code"] == "not-found" and f"names the reference set(s) {SIMPLE_REFSET}" in issue["details"]["text"]
    plain = value_set({"property": "concept", "op": "in", "value": "241601008, 53120007"})   # codes only: decided
    assert {c["code"] for c in expand(not_held, plain).json["expansion"]["contains"]} == {"241601008", "53120007"}
    assert result(validate(not_held, plain, "53120007")) is True and result(validate(not_held, plain, "61685007")) is False
