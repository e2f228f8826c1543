"""Code system versions over HTTP: several versions of one code system at once, system-version,
force-system-version, check-system-version, wildcards and default-to-latest-version."""
from conftest import param, post_params

CS = "http://example.org/fhir/CodeSystem/versioned"


def cs(version, codes):
    return {"resourceType": "CodeSystem", "url": CS, "version": version, "status": "active", "content": "complete",
            "concept": [{"code": c, "display": f"{c} v{version}"} for c in codes]}


def vs(pinned=None):
    include = {"system": CS}
    if pinned:
        include["version"] = pinned
    return {"resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/versioned", "version": "1",
            "status": "active", "compose": {"include": [include]}}


RESOURCES = [cs("1.0.0", ["a", "b"]), cs("2.0.0", ["a", "b", "c"])]


def run(client, op, params, resources):
    params = list(params)
    if not any(k == "url" for k, _ in params):
        params.append(("url", vs()["url"]))
    r = post_params(client, f"/fhir/ValueSet/${op}", list(params) + [("tx-resource", x) for x in resources])
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.json


def codes(r):
    return [c["code"] for c in r["expansion"].get("contains", [])]


def used(r):
    return [p["valueUri"] for p in r["expansion"]["parameter"] if p["name"] == "used-codesystem"]


def test_latest_version_by_default(client):
    r = run(client, "expand", [], RESOURCES + [vs()])
    assert codes(r) == ["a", "b", "c"] and used(r) == [f"{CS}|2.0.0"]


def test_a_pinned_version_and_a_wildcard(client):
    assert codes(run(client, "expand", [], RESOURCES + [vs("1.0.0")])) == ["a", "b"]
    assert used(run(client, "expand", [], RESOURCES + [vs("1.x")])) == [f"{CS}|1.0.0"]


def test_system_version_is_a_default_and_force_overrides_the_value_set(client):
    r = run(client, "expand", [("system-version", f"{CS}|1.0.0")], RESOURCES + [vs()])
    assert codes(r) == ["a", "b"]
    r = run(client, "expand", [("system-version", f"{CS}|1.0.0")], RESOURCES + [vs("2.0.0")])
    assert codes(r) == ["a", "b", "c"]  # the value set's own pin wins over a default
    r = run(client, "expand", [("force-system-version", f"{CS}|1.0.0")], RESOURCES + [vs("2.0.0")])
    assert codes(r) == ["a", "b"]


def test_check_system_version_rejects_another_version(client):
    r = client.post("/fhir/ValueSet/$expand", json={"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": vs()["url"]},
        {"name": "check-system-version", "valueUri": f"{CS}|1.0.0"}] + [
        {"name": "tx-resource", "resource": x} for x in RESOURCES + [vs("2.0.0")]]},
        headers={"Content-Type": "application/fhir+json"})
    issue = r.json["issue"][0]
    assert r.status_code == 400 and issue["details"]["coding"][0]["code"] == "version-error"
    assert issue["details"]["text"] == (f"The version '2.0.0' is not allowed for system '{CS}': required to be"
                                        " '1.0.0' by a version-check parameter")


def test_unknown_pinned_version(client):
    r = client.post("/fhir/ValueSet/$expand", json={"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": vs()["url"]}] + [
        {"name": "tx-resource", "resource": x} for x in RESOURCES + [vs("3.0.0")]]},
        headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 404 and "version '3.0.0'" in r.json["issue"][0]["details"]["text"]
    r = run(client, "expand", [("default-to-latest-version", True)], RESOURCES + [vs("3.0.0")])
    assert codes(r) == ["a", "b", "c"]
    assert {"name": "warning-version-substituted", "valueUri": f"{CS}|3.0.0"} in r["expansion"]["parameter"]


def test_validate_code_against_a_version_and_the_version_returned(client):
    r = run(client, "validate-code", [("url", vs()["url"]), ("system", CS), ("code", "c")], RESOURCES + [vs("1.0.0")])
    assert param(r, "result") is False
    r = run(client, "validate-code", [("url", vs()["url"]), ("system", CS), ("code", "c")], RESOURCES + [vs()])
    assert param(r, "result") is True and param(r, "version") == "2.0.0" and param(r, "display") == "c v2.0.0"
