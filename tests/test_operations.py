"""The terminology operations over HTTP: $expand, $validate-code, $lookup, $subsumes, request
resources (tx-resource, cache-id) and the expansion size limit. Most tests use the Flask test
client; TestRealServer repeats the key cases against a real `termsvc serve` process."""
import urllib.parse

import pytest

from conftest import (CID33, DCM, IG_BASES, SCT, codes_of, issue_texts, param, params_named,
                      post_params)

PERFORMER = "/ValueSet/im-imaging-study-performer-type"
ANATOMICAL = "/ValueSet/im-anatomical-region-valueset"
PERFORMER_CODES = ["CON", "VRF", "PRF", "SPRF", "REF", "CST"]
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
BIG_VS_URL = "http://hl7.eu/fhir/imaging-r5/ValueSet/ImEUValueSetAllSnomedLoinc"  # ~8,900 codes, pre-expanded
CID7480 = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_7480.html"  # ~2,700, pre-expanded
RIS_CS = "http://termsvc.example.eu/fhir/CodeSystem/ris-modality-eu"
RIS_VS = "http://termsvc.example.eu/fhir/ValueSet/ris-modality-eu"


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def ok(r):
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:600])
    return r.get_json()


def expand(client, url, **params):
    query = "&".join(f"{k}={q(str(v))}" for k, v in {"url": url, **params}.items())
    return client.get(f"/fhir/ValueSet/$expand?{query}")


def issues(body: dict) -> list[dict]:
    oo = param(body, "issues")
    return (oo or {}).get("issue", [])


# -- the IG value sets, both canonical bases -----------------------------------------------

@pytest.mark.parametrize("base", IG_BASES)
class TestImagingIG:
    def test_performer_type_expansion(self, client, base):
        vs = ok(expand(client, base + PERFORMER))
        assert vs["url"] == base + PERFORMER
        assert sorted(codes_of(vs)) == sorted(PERFORMER_CODES)
        assert len(codes_of(vs)) == 6 and vs["expansion"]["total"] == 6
        assert {c["system"] for c in vs["expansion"]["contains"]} == {PARTICIPATION}

    def test_performer_type_expansion_post_and_r4(self, client, base):
        vs = ok(post_params(client, "/fhir/ValueSet/$expand", [("url", ("valueUri", base + PERFORMER))]))
        assert sorted(codes_of(vs)) == sorted(PERFORMER_CODES)
        vs4 = ok(client.get(f"/r4/fhir/ValueSet/$expand?url={q(base + PERFORMER)}"))
        assert sorted(codes_of(vs4)) == sorted(PERFORMER_CODES)

    def test_performer_type_rejects_other_participation(self, client, base):
        # PART is in the code system but not in the value set
        body = ok(client.get(f"/fhir/ValueSet/$validate-code?url={q(base + PERFORMER)}"
                             f"&system={q(PARTICIPATION)}&code=PART"))
        assert param(body, "result") is False

    def test_anatomical_region_heart(self, client, base):
        body = ok(client.get(f"/fhir/ValueSet/$validate-code?url={q(base + ANATOMICAL)}&system={q(SCT)}"
                             "&code=80891009"))
        assert param(body, "result") is True
        assert param(body, "code") == "80891009" and param(body, "system") == SCT
        coding = {"system": SCT, "code": "80891009"}
        body = ok(post_params(client, "/fhir/ValueSet/$validate-code",
                              [("url", ("valueUri", base + ANATOMICAL)), ("coding", coding)]))
        assert param(body, "result") is True


@pytest.mark.parametrize("base", IG_BASES)
def test_anatomical_region_lists_all_ten_codes_though_snomed_is_only_a_fragment(client, base):
    # 63337009, 67734004 and 737561001 are not in pydicom's SNOMED CT subset: a fragment cannot
    # say they are not codes, so the enumerated value set keeps them (with the IG's displays)
    vs = ok(expand(client, base + ANATOMICAL))
    assert len(codes_of(vs)) == 10 and {"63337009", "67734004", "737561001"} <= set(codes_of(vs))
    r = ok(client.get(f"/fhir/ValueSet/$validate-code?url={q(base + ANATOMICAL)}&system={q(SCT)}&code=737561001"))
    assert param(r, "result") is True
    assert any("fragment" in t for t in issue_texts(param(r, "issues")))


class TestDicom:
    def test_ct_in_cid33(self, client):
        body = ok(client.get(f"/fhir/ValueSet/$validate-code?url={q(CID33)}&system={q(DCM)}&code=CT"))
        assert param(body, "result") is True
        assert param(body, "display") == "Computed Tomography"

    def test_xx_not_in_cid33(self, client):
        body = ok(client.get(f"/fhir/ValueSet/$validate-code?url={q(CID33)}&system={q(DCM)}&code=XX"))
        assert param(body, "result") is False
        msg = param(body, "message")
        assert msg and "XX" in msg and CID33 in msg
        assert any(i["severity"] == "error" for i in issues(body))

    def test_cid33_is_the_r5_core_binding(self, client):
        # FHIR R5 ImagingStudy.series.modality binds to this canonical; it is what the server serves
        b = ok(client.get(f"/fhir/ValueSet?url={q(CID33)}"))
        assert b["total"] == 1
        assert "CT" in codes_of(ok(expand(client, CID33)))

    def test_snomed_code_missing_from_fragment_is_not_invalid(self, client):
        # 73211009 (diabetes mellitus) is a real SNOMED CT code that DICOM does not use
        body = ok(client.get(f"/fhir/CodeSystem/$validate-code?url={q(SCT)}&code=73211009"))
        assert param(body, "result") is True
        iss = issues(body)
        assert iss and all(i["severity"] in ("warning", "information") for i in iss)
        assert any(i["severity"] == "warning" and "fragment" in i["details"]["text"] for i in iss)

    def test_snomed_code_in_fragment_is_valid(self, client):
        body = ok(client.get(f"/fhir/CodeSystem/$validate-code?url={q(SCT)}&code=80891009"))
        assert param(body, "result") is True and param(body, "display") == "Heart"
        assert not issues(body)

    def test_dicom_code_unknown_in_complete_system_is_invalid(self, client):
        body = ok(client.get(f"/fhir/CodeSystem/$validate-code?url={q(DCM)}&code=NOT-A-DCM-CODE"))
        assert param(body, "result") is False
        assert any(i["severity"] == "error" for i in issues(body))

    def test_no_empty_codes_in_expansions(self, client):
        # pydicom lists a LOINC row with an empty code in CID 12300: it must not become a concept
        vs = ok(expand(client, "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_12300.html"))
        assert all(c.strip() for c in codes_of(vs)), [c for c in codes_of(vs) if not c.strip()]
        page = ok(expand(client, BIG_VS_URL, count=5))
        assert all(c.strip() for c in codes_of(page))


# -- $lookup and $subsumes -------------------------------------------------------------------

class TestLookup:
    def test_lookup_dcm(self, client):
        body = ok(client.get(f"/fhir/CodeSystem/$lookup?system={q(DCM)}&code=CT"))
        assert param(body, "display") == "Computed Tomography"
        assert param(body, "code") == "CT" and param(body, "system") == DCM
        assert param(body, "version")

    def test_lookup_display_designations_properties(self, client):
        body = ok(client.get(f"/fhir/CodeSystem/$lookup?system={q(PARTICIPATION)}&code=PRF"))
        assert param(body, "display") == "performer"
        assert param(body, "name") == "ParticipationType"
        des = [{p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in d["part"]}
               for d in params_named(body, "designation")]
        assert any(d.get("value") == "performer" and d.get("language") == "en" for d in des)
        props = {}
        for p in params_named(body, "property"):
            parts = {x["name"]: next(v for k, v in x.items() if k.startswith("value")) for x in p["part"]}
            props.setdefault(parts["code"], []).append(parts.get("value"))
        assert props["parent"] == ["PART"]
        assert {"SPRF", "PPRF"} <= set(props["child"])

    def test_lookup_post_coding_and_r4(self, client):
        body = ok(post_params(client, "/fhir/CodeSystem/$lookup", [("coding", {"system": PARTICIPATION, "code": "SPRF"})]))
        assert param(body, "display") == "secondary performer"
        body = ok(client.get(f"/r4/fhir/CodeSystem/$lookup?system={q(PARTICIPATION)}&code=SPRF"))
        assert param(body, "display") == "secondary performer"

    def test_lookup_unknown_code(self, client):
        r = client.get(f"/fhir/CodeSystem/$lookup?system={q(PARTICIPATION)}&code=NOPE")
        assert r.status_code == 404
        assert r.get_json()["resourceType"] == "OperationOutcome"
        assert "NOPE" in " ".join(issue_texts(r.get_json()))

    def test_lookup_instance_level(self, client):
        body = ok(client.get("/fhir/CodeSystem/v3-ParticipationType/$lookup?code=PRF"))
        assert param(body, "display") == "performer"


class TestSubsumes:
    @pytest.mark.parametrize("a,b,outcome", [("PART", "PRF", "subsumes"), ("PRF", "PART", "subsumed-by"),
                                             ("PRF", "PRF", "equivalent"), ("PRF", "CON", "not-subsumed"),
                                             ("PART", "PPRF", "subsumes")])
    def test_subsumes(self, client, a, b, outcome):
        body = ok(client.get(f"/fhir/CodeSystem/$subsumes?system={q(PARTICIPATION)}&codeA={a}&codeB={b}"))
        assert param(body, "outcome") == outcome

    @pytest.mark.parametrize("base", ["/fhir", "/r4/fhir"])
    @pytest.mark.parametrize("a,b,outcome", [("invalid", "structure", "subsumes"),
                                             ("structure", "invalid", "subsumed-by"),
                                             ("invalid", "required", "subsumes"),  # grandchild
                                             ("transient", "timeout", "subsumes"),
                                             ("timeout", "timeout", "equivalent"),
                                             ("invalid", "not-found", "not-subsumed")])
    def test_subsumes_fhir_core_issue_type(self, client, base, a, b, outcome):
        system = q("http://hl7.org/fhir/issue-type")
        body = ok(client.get(f"{base}/CodeSystem/$subsumes?system={system}&codeA={a}&codeB={b}"))
        assert param(body, "outcome") == outcome

    def test_subsumes_unknown_code_is_an_error(self, client):
        r = client.get(f"/fhir/CodeSystem/$subsumes?system={q(PARTICIPATION)}&codeA=PRF&codeB=NOPE")
        assert 400 <= r.status_code < 500 and r.get_json()["resourceType"] == "OperationOutcome"

    def test_subsumes_codings_post(self, client):
        body = ok(post_params(client, "/fhir/CodeSystem/$subsumes",
                              [("codingA", {"system": PARTICIPATION, "code": "PRF"}),
                               ("codingB", {"system": PARTICIPATION, "code": "SPRF"})]))
        assert param(body, "outcome") == "subsumes"


# -- paging, filter, language, activeOnly ------------------------------------------------------

class TestPaging:
    def test_pages_concatenate_to_full_expansion(self, client):
        full = ok(expand(client, CID33))
        all_codes = codes_of(full)
        total = full["expansion"]["total"]
        assert total == len(all_codes) > 50
        got = []
        for offset in range(0, total, 20):
            page = ok(expand(client, CID33, count=20, offset=offset))
            assert page["expansion"]["total"] == total
            assert page["expansion"]["offset"] == offset
            assert len(page["expansion"].get("contains", [])) == min(20, total - offset)
            got += codes_of(page)
        assert got == all_codes

    def test_count_zero_gives_total_only(self, client):
        page = ok(expand(client, CID33, count=0))
        assert page["expansion"]["total"] > 50 and not page["expansion"].get("contains")

    def test_offset_past_end(self, client):
        page = ok(expand(client, CID33, count=5, offset=100000))
        assert page["expansion"]["total"] > 50 and not page["expansion"].get("contains")

    def test_deep_offset_on_large_preexpanded_value_set(self, client):
        first = ok(expand(client, BIG_VS_URL, count=10, offset=0))
        total = first["expansion"]["total"]
        assert total > 8000
        deep = ok(expand(client, BIG_VS_URL, count=10, offset=total - 15))
        assert deep["expansion"]["total"] == total and deep["expansion"]["offset"] == total - 15
        assert len(codes_of(deep)) == 10
        overlap = ok(expand(client, BIG_VS_URL, count=10, offset=total - 10))
        assert codes_of(deep)[5:] == codes_of(overlap)[:5]
        tail = ok(expand(client, BIG_VS_URL, count=10, offset=total - 3))
        assert len(codes_of(tail)) == 3
        assert not set(codes_of(first)) & set(codes_of(deep))

    def test_designations_on_a_page_of_a_large_preexpanded_value_set(self, client):
        # LOINC 18071-1 (from DICOM) has other meanings as designations; it sits at position 155
        plain = ok(expand(client, BIG_VS_URL, count=20, offset=150))
        entry = next(c for c in plain["expansion"]["contains"] if c["code"] == "18071-1")
        assert "designation" not in entry
        rich = ok(expand(client, BIG_VS_URL, count=20, offset=150, includeDesignations="true"))
        entry = next(c for c in rich["expansion"]["contains"] if c["code"] == "18071-1")
        assert entry["designation"] and all(d["value"] for d in entry["designation"])
        assert [c["code"] for c in rich["expansion"]["contains"]] == codes_of(plain)

    def test_paging_on_r4_endpoint(self, client):
        vs = ok(client.get(f"/r4/fhir/ValueSet/$expand?url={q(CID33)}&count=3&offset=3"))
        assert len(vs["expansion"]["contains"]) == 3 and vs["expansion"]["offset"] == 3


def _words_start(text: str, prefix: str) -> bool:
    import re
    import unicodedata
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()
    return any(w.startswith(prefix) for w in re.findall(r"\w+", folded))


class TestTextFilter:
    def test_word_prefix_case_insensitive(self, client):
        lower = ok(expand(client, CID33, filter="tomog"))
        upper = ok(expand(client, CID33, filter="TOMOG"))
        codes = codes_of(lower)
        assert "CT" in codes and "OCT" in codes and "MR" not in codes
        assert codes == codes_of(upper)
        assert lower["expansion"]["total"] == len(codes)
        assert all(_words_start(c.get("display", ""), "tomog") for c in lower["expansion"]["contains"])

    def test_all_words_must_match(self, client):
        assert codes_of(ok(expand(client, CID33, filter="comput tomog"))) == ["CT"]

    def test_not_a_substring_match(self, client):
        assert not codes_of(ok(expand(client, CID33, filter="omograph")))

    def test_filter_on_large_preexpanded_value_set(self, client):
        a = ok(expand(client, BIG_VS_URL, filter="heart", count=200))
        b = ok(expand(client, BIG_VS_URL, filter="HEART", count=200))
        assert a["expansion"]["total"] == b["expansion"]["total"] > 0
        assert codes_of(a) == codes_of(b)
        assert "8867-4" in codes_of(a)  # Heart rate
        # matches come from displays and designations; most displays carry the word itself
        shown = [c for c in a["expansion"]["contains"] if _words_start(c.get("display", ""), "heart")]
        assert len(shown) > len(codes_of(a)) / 2
        assert ok(expand(client, BIG_VS_URL, filter="eart", count=10))["expansion"]["total"] == 0

    def test_accent_insensitive_stored(self, client):
        # the RIS modality code system: 'Tomografía axial computarizada' (TAC), 'Tomodensitométrie' (TDM)
        for f in ("tomografia", "TOMOGRAFÍA", "tomografía"):
            assert "TAC" in codes_of(ok(expand(client, RIS_VS, filter=f))), f
        assert "TDM" in codes_of(ok(expand(client, RIS_VS, filter="tomodensitometrie")))

    def test_accent_insensitive_request_resources(self, client, tx_cs, tx_vs):
        for f, want in (("TOMOGRAFIA", ["a"]), ("resonance magn", ["b"]), ("rÉsonance", ["b"])):
            vs = ok(post_params(client, "/fhir/ValueSet/$expand",
                                [("url", ("valueUri", tx_vs["url"])), ("filter", f), ("tx-resource", tx_cs),
                                 ("tx-resource", tx_vs)]))
            assert codes_of(vs) == want, f


TX_CS_URL = "http://example.org/fhir/CodeSystem/termsvc-test-request"
TX_VS_URL = "http://example.org/fhir/ValueSet/termsvc-test-request"


@pytest.fixture
def tx_cs():
    return {"resourceType": "CodeSystem", "url": TX_CS_URL, "version": "1", "status": "active",
            "content": "complete", "property": [{"code": "status", "type": "code"},
                                                {"code": "inactive", "type": "boolean"}],
            "concept": [
                {"code": "a", "display": "Tomografía computarizada",
                 "designation": [{"language": "de", "value": "Computertomographie"},
                                  {"language": "fr", "value": "Tomodensitométrie"}]},
                {"code": "b", "display": "Résonance magnétique",
                 "property": [{"code": "status", "valueCode": "retired"}]},
                {"code": "c", "display": "Old thing", "property": [{"code": "inactive", "valueBoolean": True}]}]}


@pytest.fixture
def tx_vs():
    return {"resourceType": "ValueSet", "url": TX_VS_URL, "status": "active",
            "compose": {"include": [{"system": TX_CS_URL}]}}


def _expand_tx(client, tx_cs, tx_vs, *extra, headers=None):
    return ok(post_params(client, "/fhir/ValueSet/$expand",
                          [("url", ("valueUri", TX_VS_URL)), *extra, ("tx-resource", tx_cs), ("tx-resource", tx_vs)],
                          headers=headers))


class TestLanguageAndStatus:
    def test_display_language(self, client, tx_cs, tx_vs):
        default = _expand_tx(client, tx_cs, tx_vs)
        disp = {c["code"]: c.get("display") for c in default["expansion"]["contains"]}
        assert disp["a"] == "Tomografía computarizada"
        de = _expand_tx(client, tx_cs, tx_vs, ("displayLanguage", ("valueCode", "de")))
        assert {c["code"]: c.get("display") for c in de["expansion"]["contains"]}["a"] == "Computertomographie"
        fr = _expand_tx(client, tx_cs, tx_vs, ("displayLanguage", ("valueCode", "fr")))
        assert {c["code"]: c.get("display") for c in fr["expansion"]["contains"]}["a"] == "Tomodensitométrie"
        assert {"name": "displayLanguage", "valueCode": "de"} in de["expansion"]["parameter"]

    def test_accept_language_header(self, client, tx_cs, tx_vs):
        de = _expand_tx(client, tx_cs, tx_vs, headers={"Accept-Language": "de"})
        assert {c["code"]: c.get("display") for c in de["expansion"]["contains"]}["a"] == "Computertomographie"

    def test_active_only(self, client, tx_cs, tx_vs):
        everything = _expand_tx(client, tx_cs, tx_vs)
        assert sorted(codes_of(everything)) == ["a", "b", "c"]
        inactive = {c["code"] for c in everything["expansion"]["contains"] if c.get("inactive")}
        assert inactive == {"b", "c"}
        active = _expand_tx(client, tx_cs, tx_vs, ("activeOnly", True))
        assert codes_of(active) == ["a"] and active["expansion"]["total"] == 1

    def test_active_only_validate(self, client, tx_cs, tx_vs):
        body = ok(post_params(client, "/fhir/ValueSet/$validate-code",
                              [("url", ("valueUri", TX_VS_URL)), ("coding", {"system": TX_CS_URL, "code": "c"}),
                               ("activeOnly", True), ("tx-resource", tx_cs), ("tx-resource", tx_vs)]))
        assert param(body, "result") is False


# -- request resources -------------------------------------------------------------------

class TestRequestResources:
    def test_tx_resource_used_once_never_stored(self, client, tx_cs, tx_vs):
        vs = _expand_tx(client, tx_cs, tx_vs)
        assert sorted(codes_of(vs)) == ["a", "b", "c"]
        # the next request does not see it
        r = expand(client, TX_VS_URL)
        assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"
        body = ok(client.get(f"/fhir/CodeSystem/$validate-code?url={q(TX_CS_URL)}&code=a"))
        assert param(body, "result") is False
        for rtype, url in (("CodeSystem", TX_CS_URL), ("ValueSet", TX_VS_URL)):
            for base in ("/fhir", "/r4/fhir"):
                assert ok(client.get(f"{base}/{rtype}?url={q(url)}"))["total"] == 0
        assert client.get("/fhir/CodeSystem?name=termsvc-test").get_json()["total"] == 0

    def test_tx_resource_shadows_nothing_afterwards(self, client):
        # a request CodeSystem with the URL of a stored one is used for that request only
        fake = {"resourceType": "CodeSystem", "url": DCM, "version": "9999", "status": "active",
                "content": "complete", "concept": [{"code": "ONLY-IN-REQUEST", "display": "x"}]}
        body = ok(post_params(client, "/fhir/CodeSystem/$validate-code",
                              [("url", ("valueUri", DCM)), ("code", ("valueCode", "ONLY-IN-REQUEST")),
                               ("tx-resource", fake)]))
        assert param(body, "result") is True
        body = ok(client.get(f"/fhir/CodeSystem/$validate-code?url={q(DCM)}&code=ONLY-IN-REQUEST"))
        assert param(body, "result") is False
        body = ok(client.get(f"/fhir/CodeSystem/$validate-code?url={q(DCM)}&code=CT"))
        assert param(body, "result") is True and param(body, "version") != "9999"

    def test_cache_id(self, client, tx_cs, tx_vs):
        cache_id = "termsvc-tests-cache-1"
        _expand_tx(client, tx_cs, tx_vs, ("cache-id", ("valueId", cache_id)))
        # later requests with the same cache-id and no tx-resource see them
        vs = ok(post_params(client, "/fhir/ValueSet/$expand",
                            [("url", ("valueUri", TX_VS_URL)), ("cache-id", ("valueId", cache_id))]))
        assert sorted(codes_of(vs)) == ["a", "b", "c"]
        body = ok(post_params(client, "/fhir/CodeSystem/$validate-code",
                              [("url", ("valueUri", TX_CS_URL)), ("code", ("valueCode", "b")),
                               ("cache-id", ("valueId", cache_id))]))
        assert param(body, "result") is True
        vs = ok(client.get(f"/fhir/ValueSet/$expand?url={q(TX_VS_URL)}&cache-id={cache_id}"))
        assert sorted(codes_of(vs)) == ["a", "b", "c"]
        # another cache-id, or none, does not
        r = post_params(client, "/fhir/ValueSet/$expand",
                        [("url", ("valueUri", TX_VS_URL)), ("cache-id", ("valueId", "termsvc-tests-other"))])
        assert r.status_code == 404
        assert expand(client, TX_VS_URL).status_code == 404

    def test_cache_id_later_resource_replaces_same_url(self, client, tx_cs, tx_vs):
        cache_id = "termsvc-tests-cache-2"
        _expand_tx(client, tx_cs, tx_vs, ("cache-id", ("valueId", cache_id)))
        narrower = dict(tx_vs, compose={"include": [{"system": TX_CS_URL, "concept": [{"code": "a"}]}]})
        vs = ok(post_params(client, "/fhir/ValueSet/$expand",
                            [("url", ("valueUri", TX_VS_URL)), ("cache-id", ("valueId", cache_id)),
                             ("tx-resource", narrower)]))
        assert codes_of(vs) == ["a"]
        vs = ok(post_params(client, "/fhir/ValueSet/$expand",
                            [("url", ("valueUri", TX_VS_URL)), ("cache-id", ("valueId", cache_id))]))
        assert codes_of(vs) == ["a"]

    def test_value_set_parameter(self, client, tx_cs):
        inline = {"resourceType": "ValueSet", "status": "active",
                  "compose": {"include": [{"system": TX_CS_URL, "concept": [{"code": "b"}, {"code": "a"}]}]}}
        vs = ok(post_params(client, "/fhir/ValueSet/$expand", [("valueSet", inline), ("tx-resource", tx_cs)]))
        assert codes_of(vs) == ["b", "a"]


# -- instance-level operations -------------------------------------------------------------

def test_caused_by_unknown_system(client, tx_cs):
    """A value set pinned to a version of a code system the server does not have cannot say 'no' for
    sure: the answer names that version as the cause."""
    vs = {"resourceType": "ValueSet", "url": "http://example.org/fhir/ValueSet/pinned", "status": "active",
          "compose": {"include": [{"system": tx_cs["url"], "version": "9"}]}}
    r = post_params(client, "/fhir/ValueSet/$validate-code",
                    [("url", vs["url"]), ("system", tx_cs["url"]), ("code", ("valueCode", "a")),
                     ("tx-resource", tx_cs), ("tx-resource", vs)]).get_json()
    assert param(r, "result") is False
    assert [p["valueCanonical"] for p in params_named(r, "x-caused-by-unknown-system")] == [f"{tx_cs['url']}|9"]
    vs["compose"]["include"][0]["version"] = "1"
    r = post_params(client, "/fhir/ValueSet/$validate-code",
                    [("url", vs["url"]), ("system", tx_cs["url"]), ("code", ("valueCode", "a")),
                     ("tx-resource", tx_cs), ("tx-resource", vs)]).get_json()
    assert param(r, "result") is True and not params_named(r, "x-caused-by-unknown-system")


class TestInstanceLevel:
    def test_expand_by_id(self, client):
        vs = ok(client.get("/fhir/ValueSet/dicom-cid-33/$expand?count=5"))
        assert vs["url"] == CID33 and len(codes_of(vs)) == 5

    def test_validate_code_by_id(self, client):
        body = ok(client.get(f"/fhir/ValueSet/dicom-cid-33/$validate-code?system={q(DCM)}&code=CT"))
        assert param(body, "result") is True

    def test_unknown_id_is_404(self, client):
        r = client.get("/fhir/ValueSet/no-such-id/$expand")
        assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"


# -- the expansion size limit -------------------------------------------------------------

@pytest.fixture(scope="module")
def small_client(db_path):
    from termsvc.api.app import create_app
    return create_app(db_path, {"max_expansion": 50}).test_client()


class TestTooCostly:
    def _assert_too_costly(self, r):
        assert r.status_code == 422, (r.status_code, r.get_data(as_text=True)[:300])
        oo = r.get_json()
        assert oo["resourceType"] == "OperationOutcome"
        assert "too-costly" in [i["code"] for i in oo["issue"]]

    def test_over_limit_without_paging(self, small_client):
        self._assert_too_costly(expand(small_client, CID33))  # 74 codes > 50

    def test_over_limit_preexpanded(self, small_client):
        # CID 7480 (~2,700 codes) is served from its pre-expansion: the limit applies all the same
        self._assert_too_costly(expand(small_client, CID7480))
        self._assert_too_costly(expand(small_client, BIG_VS_URL))

    def test_paging_and_small_expansions_still_work(self, small_client):
        page = ok(expand(small_client, CID33, count=10, offset=60))
        assert len(codes_of(page)) == 10 and page["expansion"]["total"] > 50
        assert ok(expand(small_client, CID7480, count=10))["expansion"]["total"] > 2000
        assert sorted(codes_of(ok(expand(small_client, IG_BASES[0] + PERFORMER)))) == sorted(PERFORMER_CODES)
        assert small_client.get("/health").status_code == 200

    def test_real_server_stays_responsive(self, db_path, server_factory):
        srv = server_factory(db_path, env={"TERMSVC_MAX_EXPANSION": "50"})
        status, body, _ = srv.get(f"/fhir/ValueSet/$expand?url={q(CID33)}")
        assert status == 422 and "too-costly" in [i["code"] for i in body["issue"]]
        assert srv.get("/health")[0] == 200
        status, body, _ = srv.get(f"/fhir/ValueSet/$expand?url={q(IG_BASES[1] + PERFORMER)}")
        assert status == 200 and sorted(codes_of(body)) == sorted(PERFORMER_CODES)


# -- the same against a real server ---------------------------------------------------------

class TestRealServer:
    @pytest.mark.parametrize("base", IG_BASES)
    def test_ig_over_real_http(self, live_server, base):
        status, vs, _ = live_server.get(f"/fhir/ValueSet/$expand?url={q(base + PERFORMER)}")
        assert status == 200 and sorted(codes_of(vs)) == sorted(PERFORMER_CODES)
        status, body, _ = live_server.post("/fhir/ValueSet/$validate-code",
                                           [("url", ("valueUri", base + ANATOMICAL)),
                                            ("coding", {"system": SCT, "code": "80891009"})])
        assert status == 200 and param(body, "result") is True

    def test_cid33_over_real_http(self, live_server):
        status, body, _ = live_server.get(f"/fhir/ValueSet/$validate-code?url={q(CID33)}&system={q(DCM)}&code=CT")
        assert status == 200 and param(body, "result") is True
        status, body, _ = live_server.get(f"/fhir/ValueSet/$validate-code?url={q(CID33)}&system={q(DCM)}&code=XX")
        assert status == 200 and param(body, "result") is False and "XX" in param(body, "message")

    def test_errors_over_real_http(self, live_server):
        status, body, raw = live_server.request("DELETE", f"/fhir/ValueSet/$expand?url={q(CID33)}")
        assert status == 405 and body["resourceType"] == "OperationOutcome"
        status, body, _ = live_server.request("POST", "/fhir/ValueSet/$expand", body=b"<x/>",
                                              headers={"Content-Type": "text/xml"})
        assert status == 415 and body["resourceType"] == "OperationOutcome"
        status, body, _ = live_server.request("POST", "/fhir/ValueSet/$expand", body=b"{nope")
        assert status == 400 and body["resourceType"] == "OperationOutcome"
        status, body, _ = live_server.get("/fhir/ValueSet/no-such-thing")
        assert status == 404 and body["resourceType"] == "OperationOutcome"

    def test_cache_id_and_tx_resource_over_real_http(self, live_server, tx_cs, tx_vs):
        cache_id = "termsvc-tests-real-server"
        status, vs, _ = live_server.post("/fhir/ValueSet/$expand",
                                         [("url", ("valueUri", TX_VS_URL)), ("cache-id", ("valueId", cache_id)),
                                          ("tx-resource", tx_cs), ("tx-resource", tx_vs)])
        assert status == 200 and sorted(codes_of(vs)) == ["a", "b", "c"]
        status, vs, _ = live_server.post("/fhir/ValueSet/$expand",
                                         [("url", ("valueUri", TX_VS_URL)), ("cache-id", ("valueId", cache_id))])
        assert status == 200 and sorted(codes_of(vs)) == ["a", "b", "c"]
        status, _, _ = live_server.get(f"/fhir/ValueSet/$expand?url={q(TX_VS_URL)}")
        assert status == 404
        status, b, _ = live_server.get(f"/fhir/CodeSystem?url={q(TX_CS_URL)}")
        assert status == 200 and b["total"] == 0

    def test_lookup_and_translate_over_real_http(self, live_server):
        status, body, _ = live_server.get(f"/fhir/CodeSystem/$lookup?system={q(PARTICIPATION)}&code=PRF")
        assert status == 200 and param(body, "display") == "performer"
        status, body, _ = live_server.get(f"/fhir/ConceptMap/$translate?sourceCode=TAC&system={q(RIS_CS)}")
        assert status == 200 and param(body, "result") is True
        concepts = [p["valueCoding"] for m in params_named(body, "match") for p in m["part"] if p["name"] == "concept"]
        assert {"system": DCM, "code": "CT", "display": "Computed Tomography"} in concepts
