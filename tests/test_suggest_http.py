"""POST /mappings/suggest over HTTP, and suggestions from the designations of SNOMED CT and LOINC
releases in other languages (the synthetic releases: a Danish extension, French and German LOINC
linguistic variants)."""
import pytest

from synthetic_releases import write_loinc_release, write_snomed_extension, write_snomed_release
from termsvc.api.app import create_app
from termsvc.build import Progress, SourceSpec, build
from termsvc.store.reader import Store
from termsvc.suggest.lexicon import Lexicon
from termsvc.suggest.service import Suggester

CID = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_{}.html"
IG = "http://hl7.eu/fhir/imaging-r5/ValueSet/"
SCT = "http://snomed.info/sct"
URL = "/mappings/suggest"


def outcome_text(r) -> str:
    body = r.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["details"]["text"]


def test_names_in_a_value_set(client):
    r = client.post(URL, json={"target_scope": CID.format(4), "names": ["Rodilla dcha", "HWS"], "top": 2})
    assert r.status_code == 200 and r.content_type == "application/json"
    body = r.get_json()
    assert body["table"] is None and [row["row"] for row in body["rows"]] == [1, 2]
    knee, spine = body["rows"]
    assert [c["code"] for c in knee["candidates"]] == ["72696002"]      # the side alone matches no region
    assert knee["parts"]["laterality"]["code"] == "24028007" and spine["candidates"][0]["code"] == "122494005"
    assert len(spine["candidates"]) == 2                                # top
    assert set(knee) == {"row", "source_code", "source_display", "candidates", "parts"}


def test_names_nobody_wrote_in_a_gold_set_over_http(client):
    # a combined region in combining forms, a plural the lexicon lacks, a side after the region, a brand of contrast
    rows = [{"source_display": "cervico-thoraco-abdomino-pelvien", "language": "fr"},
            {"source_display": "feet", "language": "en"}, {"source_display": "UPPER ARM LT", "language": "en"},
            {"source_display": "MRT Leber mit Primovist", "language": "de"}]
    body = client.post(URL, json={"target_scope": CID.format(4), "rows": rows, "top": 1}).get_json()
    assert [row["candidates"][0]["code"] for row in body["rows"]] == ["416319003", "56459004", "40983000", "10200004"]
    assert body["rows"][2]["parts"]["laterality"]["code"] == "7771000"
    assert body["rows"][3]["parts"]["contrast"] == "with" and body["rows"][3]["parts"]["modality"]["code"] == "MR"


def test_rows_with_their_language_in_a_code_system(client):
    r = client.post(URL, json={"target_system": "http://dicom.nema.org/resources/ontology/DCM",
                               "rows": [{"source_code": "0012", "source_display": "TC", "language": "it"}]})
    row = r.get_json()["rows"][0]
    assert row["source_code"] == "0012" and row["candidates"][0]["code"] == "CT"


def test_a_table_of_the_build(client):
    r = client.post(URL, json={"table": "ris-modality-eu", "all": True, "top": 3})
    body = r.get_json()
    assert r.status_code == 200 and body["table"] == "ris-modality-eu" and body["rows"]
    tac = next(row for row in body["rows"] if row["source_code"] == "TAC")
    assert tac["candidates"][0]["code"] == "CT"
    unmapped = client.post(URL, json={"table": "ris-modality-eu"}).get_json()["rows"]
    assert all(row["source_code"] not in ("TAC", "RM") for row in unmapped)


@pytest.mark.parametrize("body, status, text", [
    ({"names": ["x"]}, 400, "give a table, or a target_scope"),
    ({"target_scope": CID.format(4)}, 400, "names (a list of strings) or rows"),
    ({"target_scope": CID.format(4), "names": [7]}, 400, "names[0] must be a string"),
    ({"target_scope": CID.format(4), "names": ["a"], "rows": [{}]}, 400, "not both"),
    ({"target_scope": CID.format(4), "rows": [{"source_code": ""}]}, 400, "neither source_code nor source_display"),
    ({"target_scope": CID.format(4), "names": ["a"], "top": 0}, 400, "top must be an integer"),
    ({"target_scope": CID.format(4), "names": ["a"] * 1001}, 413, "at most 1000 names"),
    ({"target_scope": CID.format(4), "names": ["a" * 501]}, 400, "longer than 500"),
    ({"table": "no-such-table"}, 404, "no mapping table 'no-such-table'"),
    ({"table": "ris-modality-eu", "names": ["a"]}, 400, "a table gives its own rows"),
    ({"surprise": 1}, 400, "unknown key(s) surprise"),
    ([1, 2], 400, "must be a JSON object")])
def test_bad_requests_are_4xx_operation_outcomes(client, body, status, text):
    r = client.post(URL, json=body)
    assert r.status_code == status and text in outcome_text(r)


def test_not_json_is_refused(client):
    assert client.post(URL, data="TAC", content_type="text/plain").status_code == 415
    r = client.post(URL, data="{", content_type="application/json")
    assert r.status_code == 400 and "not JSON" in outcome_text(r)


def test_a_scope_not_loaded_is_said_not_silent(client):
    row = client.post(URL, json={"target_scope": "http://example.org/ValueSet/none", "names": ["TAC"]}).get_json()
    assert row["rows"][0]["candidates"] == [] and "is not loaded" in row["rows"][0]["message"]


def test_the_time_limit_is_respected(db_path):
    app = create_app(db_path, {"time_limit_ms": 1})
    r = app.test_client().post(URL, json={"target_scope": CID.format(4), "names": ["Rodilla"] * 200})
    assert r.status_code == 422 and "time limit" in outcome_text(r)


def test_openapi_documents_the_endpoint(client):
    spec = client.get("/openapi.json").get_json()
    op = spec["paths"]["/mappings/suggest"]["post"]
    assert "application/json" in op["requestBody"]["content"] and "4XX" in op["responses"]
    props = op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"table", "target_scope", "target_system", "names", "rows", "top", "language", "all"} == set(props)


# -- other languages of SNOMED CT and LOINC ---------------------------------------------------
@pytest.fixture(scope="module")
def releases_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("suggest-releases")
    snomed = write_snomed_release(str(root / "snomed"), generated=20)
    danish = write_snomed_extension(str(root / "snomed"))
    loinc = write_loinc_release(str(root / "loinc"))
    path = str(root / "termsvc.db")
    build(path, [SourceSpec("ig"), SourceSpec("dicom"), SourceSpec("snomed", snomed), SourceSpec("snomed", danish),
                 SourceSpec("loinc", loinc)], Progress(quiet=True))
    return path


def test_candidates_come_from_the_releases_designations_in_other_languages(releases_db):
    s = Suggester(Store(releases_db), Lexicon.load())
    try:
        procedures = s.ranker(IG + "im-procedure-type", None)
        assert procedures.scope.message is None        # a release loaded: the scope is complete
        ranked, parts = s.suggest("CT skanning brystkasse", procedures, "da", 3)
        assert ranked[0].candidate.code == "169069000" and "(da)" in ranked[0].why   # the Danish designation
        assert parts["modality"]["code"] == "CT"
        ranked, _ = s.suggest("MR hoved", procedures, "da", 3)
        assert ranked[0].candidate.code == "241601008"
        reports = s.ranker(IG + "ImagingReportTypesEuVSEuImaging", None)
        ranked, _ = s.suggest("TDM Thorax", reports, "fr", 3)
        assert ranked[0].candidate.code == "24627-2" and "(fr)" in ranked[0].why     # a LOINC linguistic variant
        ranked, _ = s.suggest("TC de tórax", procedures, "es", 3)          # English designations, read in Spanish
        assert ranked[0].candidate.code == "169069000"
    finally:
        s.close()
