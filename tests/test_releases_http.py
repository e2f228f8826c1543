"""The IG's SNOMED CT and LOINC value sets over HTTP, on synthetic releases in the official layouts."""
import pytest

from synthetic_releases import (INACTIVE, LOINC_DEPRECATED, LOINC_REPLACEMENT, write_loinc_release,
                                write_snomed_release)
from termsvc.api.app import create_app
from termsvc.build import Progress, SourceSpec, build
from termsvc.cli.info import db_info

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
BASES = ["http://hl7.eu/fhir/imaging-r5", "http://hl7.eu/fhir/imaging"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    root = tmp_path_factory.mktemp("releases")
    snomed = write_snomed_release(str(root / "snomed"))
    loinc = write_loinc_release(str(root / "loinc"), zip=True)
    path = str(root / "termsvc.db")
    build(path, [SourceSpec("ig"), SourceSpec("snomed", snomed), SourceSpec("loinc", loinc)],
          Progress(quiet=True))
    return path


@pytest.fixture(scope="module")
def client(db):
    return create_app(db).test_client()


def test_releases_are_recorded_with_version_and_checksum(db, client):
    info = db_info(db)
    by_kind = {s["kind"]: s for s in info["sources"]}
    assert by_kind["snomed"]["version"] == "http://snomed.info/sct/900000000000207008/version/20250701"
    assert by_kind["loinc"]["version"] == "2.80"
    for kind in ("snomed", "loinc"):
        assert len(by_kind[kind]["sha256"]) == 64 and by_kind[kind]["counts"]["concepts"] > 0
    caps = client.get("/fhir/metadata?mode=terminology").json
    versions = {c["uri"]: [v["code"] for v in c.get("version", [])] for c in caps["codeSystem"]}
    assert versions[SCT] == [by_kind["snomed"]["version"]] and versions[LOINC] == ["2.80"]


def codes(expansion: dict) -> set:
    out = set()

    def walk(contains):
        for c in contains or []:
            out.add(c["code"])
            walk(c.get("contains"))
    walk(expansion["expansion"].get("contains"))
    return out


def params(resource: dict) -> dict:
    return {p["name"]: next((v for k, v in p.items() if k.startswith("value")), p.get("resource"))
            for p in resource["parameter"]}


def descendants(client, code):
    r = client.get(f"/fhir/ValueSet/$expand?url={SCT}?fhir_vs=isa/{code}")
    assert r.status_code == 200, r.json
    return codes(r.json) - {code}


@pytest.mark.parametrize("base", BASES)
def test_procedure_type_is_the_descendants_of_imaging(client, base):
    r = client.get(f"/fhir/ValueSet/$expand?url={base}/ValueSet/im-procedure-type")
    assert r.status_code == 200, r.json
    got = codes(r.json)
    assert "363679005" not in got
    assert got == descendants(client, "363679005")
    assert {"77477000", "16310003"} <= got  # CT and ultrasonography are imaging procedures


@pytest.mark.parametrize("base", BASES)
def test_device_and_report_type_value_sets_expand(client, base):
    dev = client.get(f"/fhir/ValueSet/$expand?url={base}/ValueSet/DeviceEuImagingType").json
    assert "314789007" in codes(dev) and "57134006" in codes(dev)  # the root and the CT scanner
    rep = client.get(f"/fhir/ValueSet/$expand?url={base}/ValueSet/ImagingReportTypesEuVSEuImaging").json
    assert {"18726-0", "18748-4", "24627-2", "30695-1"} <= codes(rep)
    assert "2345-7" not in codes(rep)  # glucose is no radiology report


@pytest.mark.parametrize("base", BASES)
def test_all_snomed_and_loinc_accepts_active_codes_and_flags_inactive(client, base):
    vs = f"{base}/ValueSet/ImEUValueSetAllSnomedLoinc"
    for system, code in ((SCT, "80891009"), (LOINC, "24627-2")):
        r = client.get(f"/fhir/ValueSet/$validate-code?url={vs}&system={system}&code={code}")
        p = params(r.json)
        assert p["result"] is True and "inactive" not in p, r.json
    inactive_sct = INACTIVE[0][0]
    for system, code in ((SCT, inactive_sct), (LOINC, LOINC_DEPRECATED)):
        p = params(client.get(f"/fhir/ValueSet/$validate-code?url={vs}&system={system}&code={code}").json)
        assert p["inactive"] is True
        issues = p["issues"]["issue"]
        assert any(i["details"]["coding"][0]["code"] == "code-comment" and "status of" in i["details"]["text"]
                   for i in issues)
    p = params(client.get(f"/fhir/ValueSet/$validate-code?url={vs}&system={LOINC}&code={LOINC_DEPRECATED}").json)
    assert p["status"] == "DEPRECATED"


def test_replaced_by_map_translates_an_inactive_concept(client):
    old, _, refset, targets = INACTIVE[0]
    r = client.get(f"/fhir/ConceptMap/$translate?url={SCT}?fhir_cm={refset}&system={SCT}&sourceCode={old}")
    assert r.status_code == 200, r.json
    p = r.json["parameter"]
    assert params(r.json)["result"] is True
    matches = [m for m in p if m["name"] == "match"]
    concepts = [part["valueCoding"]["code"] for m in matches for part in m["part"] if part["name"] == "concept"]
    assert concepts == targets


def test_loinc_mapto_translates_a_deprecated_term(client):
    r = client.get(f"/fhir/ConceptMap/$translate?system={LOINC}&sourceCode={LOINC_DEPRECATED}")
    assert params(r.json)["result"] is True
    [match] = [m for m in r.json["parameter"] if m["name"] == "match"]
    parts = {p["name"]: p for p in match["part"]}
    assert parts["concept"]["valueCoding"]["code"] == LOINC_REPLACEMENT
    assert parts["originMap"]["valueCanonical"] == "http://loinc.org/cm/mapto|2.80"


def test_german_loinc_display(client):
    r = client.get(f"/fhir/CodeSystem/$lookup?system={LOINC}&code=24627-2&displayLanguage=de")
    assert params(r.json)["display"] == "CT Thorax"
    r = client.get(f"/fhir/ValueSet/$expand?url={LOINC}?fhir_vs&displayLanguage=de-DE&filter=thorax")
    assert r.status_code == 200, r.json
    assert [c["display"] for c in r.json["expansion"]["contains"]] == ["CT Thorax"]


def test_subsumes_from_the_closure(client):
    def outcome(a, b, system=SCT):
        return params(client.get(f"/fhir/CodeSystem/$subsumes?system={system}&codeA={a}&codeB={b}").json)["outcome"]
    assert outcome("363679005", "77477000") == "subsumes"
    assert outcome("77477000", "363679005") == "subsumed-by"
    assert outcome("77477000", "77477000") == "equivalent"
    assert outcome("77477000", "80891009") == "not-subsumed"
    assert outcome("18726-0", "24627-2", LOINC) == "subsumes"  # two levels down the LOINC hierarchy


def test_snomed_text_filter_and_paging(client):
    url = f"/fhir/ValueSet/$expand?url={SCT}?fhir_vs"
    page = client.get(url + "&count=5&offset=0").json["expansion"]
    assert page["total"] > 50 and len(page["contains"]) == 5
    later = client.get(url + "&count=5&offset=5").json["expansion"]
    assert not {c["code"] for c in page["contains"]} & {c["code"] for c in later["contains"]}
    heart = client.get(url + "&filter=HEART&count=50").json["expansion"]
    assert "80891009" in {c["code"] for c in heart["contains"]}
    assert all("heart" in (c.get("display") or "").lower() or c["code"] == "80891009"
               for c in heart["contains"])


@pytest.mark.parametrize("expression,code,text", [
    ("<< 363679005 : 260686004 = 360037004", "not-supported", "unsupported refinements at ':'"),
    ("<< 363679005 {{ term = \"CT\" }}", "not-supported", "unsupported filters / cardinality"),
    ("<< 363679005.260686004", "not-supported", "unsupported dotted attributes"),
    ("(<< 363679005", "invalid", "missing ')'"),
    ("<< 363679005 363679005", "invalid", "unexpected"),
])
def test_ecl_the_server_does_not_evaluate_is_not_called_invalid(client, expression, code, text):
    """Valid ECL beyond the evaluator (a refinement, a filter) is the server's limit, not the client's
    error: `not-supported`, never an answer; ECL that is no ECL is `invalid`."""
    url = f"{SCT}?fhir_vs=ecl/{expression}"
    for r in (client.get("/fhir/ValueSet/$expand", query_string={"url": url}),
              client.get("/fhir/ValueSet/$validate-code", query_string={"url": url, "system": SCT,
                                                                         "code": "77477000"})):
        assert r.status_code == 400, r.json
        (issue,) = r.json["issue"]
        assert issue["code"] == code and text in issue["details"]["text"]


def expand_compose(client, *filters):
    vs = {"resourceType": "ValueSet", "status": "active",
          "compose": {"include": [{"system": SCT, "filter": list(filters)}]}}
    return client.post("/fhir/ValueSet/$expand", json={"resourceType": "Parameters",
                                                        "parameter": [{"name": "valueSet", "resource": vs}]})


def test_an_in_filter_listing_300000_codes_is_answered(client):
    """More codes than SQLite takes parameters in one query (250,000 here; 32,766 in other builds)."""
    listed = [str(10 ** 9 + i) for i in range(300_000)] + ["53120007", "723264001"]
    r = expand_compose(client, {"property": "concept", "op": "in", "value": ",".join(listed)})
    assert r.status_code == 200, r.json
    assert codes(r.json) == {"53120007", "61685007", "76752008"}   # the code listed, the refset's members


def test_a_second_in_filter_looks_its_reference_sets_up_once_not_per_concept(client, monkeypatch):
    from termsvc.ops.codesystems import StoredCodeSystem
    calls = {"refset_members": 0}
    real = StoredCodeSystem.refset_members

    def counted(self, refsets):
        calls["refset_members"] += 1
        return real(self, refsets)

    def per_concept(self, c, refsets):
        raise AssertionError("a reference set lookup per concept")

    monkeypatch.setattr(StoredCodeSystem, "refset_members", counted)
    monkeypatch.setattr(StoredCodeSystem, "in_refsets", per_concept)
    r = expand_compose(client, {"property": "concept", "op": "is-a", "value": "91723000"},
                       {"property": "concept", "op": "in", "value": "723264001, 76752008"})
    assert r.status_code == 200, r.json
    assert codes(r.json) == {"53120007", "61685007", "76752008"} and calls["refset_members"] == 1
