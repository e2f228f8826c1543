"""ConceptMap/$translate over HTTP, R5 and R4 endpoints: relationships forward and reverse, the
R4 equivalence as written, group.unmapped, other-map cycles, noMap, CodeableConcept input,
comments, the shipped mapping tables and the row-status filter of the mapping-table loader."""
import json
import os
import subprocess
import urllib.parse

import pytest

from conftest import DCM, QUIET, SCT, TERMSVC_BIN, eventually, param, params_named, post_params
from termsvc.api.app import create_app

S = "http://example.org/fhir/CodeSystem/local-src"
T = "http://example.org/fhir/CodeSystem/eu-tgt"
RIS_CS = "http://termsvc.example.eu/fhir/CodeSystem/ris-modality-eu"
BODY_PART_CS_MAP = "http://termsvc.example.eu/fhir/ConceptMap/dicom-body-part-examined"

RELATIONSHIPS = ["equivalent", "source-is-narrower-than-target", "source-is-broader-than-target",
                 "related-to", "not-related-to"]
R4_FOR = {"equivalent": "equivalent", "source-is-narrower-than-target": "wider",
          "source-is-broader-than-target": "narrower", "related-to": "relatedto", "not-related-to": "disjoint"}
NOMAP_EXT = "http://hl7.org/fhir/StructureDefinition/conceptmap-nomap-comment"


def q(v):
    return urllib.parse.quote(v, safe="")


def ok(r):
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:600])
    body = r.get_json()
    assert body["resourceType"] == "Parameters"
    return body


def matches(body):
    """Each match as {part name: value} (the last value when a name repeats, lists for message)."""
    out = []
    for m in params_named(body, "match"):
        d = {"message": []}
        for p in m["part"]:
            v = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
            if p["name"] == "message":
                d["message"].append(v)
            else:
                d[p["name"]] = v
        out.append(d)
    return out


REL_MAP = {
    "resourceType": "ConceptMap", "url": "http://example.org/fhir/ConceptMap/relationships", "version": "1",
    "status": "active",
    "group": [{"source": S, "target": T, "element": [
        {"code": f"s-{i}", "display": f"Source {rel}",
         "target": [{"code": f"t-{i}", "display": f"Target {rel}", "relationship": rel,
                     "comment": f"comment on {rel}"}]}
        for i, rel in enumerate(RELATIONSHIPS)] + [
        {"code": "s-nomap", "noMap": True,
         "extension": [{"url": NOMAP_EXT, "valueString": "deliberately not mapped: no EU equivalent"}]}]}],
}


def r5_translate(client, *params, base="/fhir"):
    return post_params(client, f"{base}/ConceptMap/$translate", [*params, ("tx-resource", REL_MAP)])


# -- relationships, R5 ----------------------------------------------------------------------

class TestR5:
    @pytest.mark.parametrize("i,rel", list(enumerate(RELATIONSHIPS)))
    def test_forward(self, client, i, rel):
        body = ok(r5_translate(client, ("sourceCode", ("valueCode", f"s-{i}")), ("system", ("valueUri", S))))
        [m] = matches(body)
        assert m["relationship"] == rel
        assert m["concept"] == {"system": T, "code": f"t-{i}", "display": f"Target {rel}"}
        assert m["originMap"] == REL_MAP["url"] + "|1"
        assert f"comment on {rel}" in m["message"]
        assert param(body, "result") is (rel != "not-related-to")
        if rel == "not-related-to":
            assert param(body, "message")

    @pytest.mark.parametrize("i,rel", list(enumerate(RELATIONSHIPS)))
    def test_reverse_by_target_code(self, client, i, rel):
        body = ok(r5_translate(client, ("targetCode", ("valueCode", f"t-{i}")), ("targetSystem", ("valueUri", T))))
        [m] = matches(body)
        assert m["relationship"] == rel
        assert m["source"]["code"] == f"s-{i}" and m["source"]["system"] == S
        assert param(body, "result") is (rel != "not-related-to")

    @pytest.mark.parametrize("i,rel", list(enumerate(RELATIONSHIPS)))
    def test_reverse_by_target_coding(self, client, i, rel):
        body = ok(r5_translate(client, ("targetCoding", {"system": T, "code": f"t-{i}"})))
        [m] = matches(body)
        assert m["relationship"] == rel and m["source"] == {"system": S, "code": f"s-{i}",
                                                             "display": f"Source {rel}"}

    def test_sourcecoding_get(self, client):
        # GET with the coding as system|code: the request map is not there, so nothing is found
        body = ok(client.get(f"/fhir/ConceptMap/$translate?sourceCoding={q(S + '|s-0')}"))
        assert param(body, "result") is False and param(body, "message")

    def test_reverse_parameter_is_rejected_on_r5(self, client):
        r = r5_translate(client, ("sourceCode", ("valueCode", "t-0")), ("system", ("valueUri", T)),
                         ("reverse", True))
        assert 400 <= r.status_code < 500
        oo = r.get_json()
        assert oo["resourceType"] == "OperationOutcome" and "reverse" in json.dumps(oo)
        r = r5_translate(client, ("sourceCode", ("valueCode", "t-0")), ("system", ("valueUri", T)),
                         ("reverse", False))
        assert 400 <= r.status_code < 500

    def test_no_map(self, client):
        body = ok(r5_translate(client, ("sourceCode", ("valueCode", "s-nomap")), ("system", ("valueUri", S))))
        assert param(body, "result") is False
        msg = param(body, "message")
        assert "s-nomap" in msg and "deliberately not mapped: no EU equivalent" in msg
        assert not [m for m in matches(body) if m.get("relationship") != "not-related-to"]

    def test_unknown_code(self, client):
        body = ok(r5_translate(client, ("sourceCode", ("valueCode", "nope")), ("system", ("valueUri", S))))
        assert param(body, "result") is False and "nope" in param(body, "message")
        assert not matches(body)

    def test_codeable_concept(self, client):
        cc = {"coding": [{"system": "http://example.org/other", "code": "zz"}, {"system": S, "code": "s-0"},
                         {"system": S, "code": "s-1"}], "text": "x"}
        body = ok(r5_translate(client, ("sourceCodeableConcept", cc)))
        assert param(body, "result") is True
        assert sorted(m["concept"]["code"] for m in matches(body)) == ["t-0", "t-1"]

    def test_target_system_filter(self, client):
        body = ok(r5_translate(client, ("sourceCode", ("valueCode", "s-0")), ("system", ("valueUri", S)),
                               ("targetSystem", ("valueUri", "http://example.org/elsewhere"))))
        assert param(body, "result") is False and not matches(body)

    def test_url_not_found(self, client):
        r = post_params(client, "/fhir/ConceptMap/$translate",
                        [("url", ("valueUri", "http://example.org/no-such-map")),
                         ("sourceCode", ("valueCode", "s-0")), ("system", ("valueUri", S))])
        assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"

    def test_request_map_not_kept(self, client):
        ok(r5_translate(client, ("sourceCode", ("valueCode", "s-0")), ("system", ("valueUri", S))))
        body = ok(client.get(f"/fhir/ConceptMap/$translate?sourceCode=s-0&system={q(S)}"))
        assert param(body, "result") is False
        assert client.get(f"/fhir/ConceptMap?url={q(REL_MAP['url'])}").get_json()["total"] == 0


# -- R4 ------------------------------------------------------------------------------------

R4_MAP = {
    "resourceType": "ConceptMap", "url": "http://example.org/fhir/ConceptMap/r4-words", "version": "2",
    "status": "active",
    "group": [{"source": S, "target": T, "element": [
        {"code": "w", "display": "W", "target": [{"code": "t-w", "equivalence": "wider"}]},
        {"code": "n", "target": [{"code": "t-n", "equivalence": "narrower"}]},
        {"code": "i", "target": [{"code": "t-i", "equivalence": "inexact", "comment": "roughly"}]},
        {"code": "e", "target": [{"code": "t-e", "equivalence": "equal"}]},
        {"code": "sb", "target": [{"code": "t-sb", "equivalence": "subsumes"}]},
        {"code": "sp", "target": [{"code": "t-sp", "equivalence": "specializes"}]},
        {"code": "d", "target": [{"code": "t-d", "equivalence": "disjoint"}]},
        {"code": "u", "target": [{"equivalence": "unmatched", "comment": "nothing fits"}]},
    ]}],
}
R4_WORDS = [("w", "wider", "source-is-narrower-than-target"), ("n", "narrower", "source-is-broader-than-target"),
            ("i", "inexact", "related-to"), ("e", "equal", "equivalent"),
            ("sb", "subsumes", "source-is-narrower-than-target"), ("sp", "specializes", "source-is-broader-than-target"),
            ("d", "disjoint", "not-related-to")]


class TestR4:
    @pytest.mark.parametrize("i,rel", list(enumerate(RELATIONSHIPS)))
    def test_forward_r5_map_on_r4(self, client, i, rel):
        body = ok(r5_translate(client, ("code", ("valueCode", f"s-{i}")), ("system", ("valueUri", S)),
                               base="/r4/fhir"))
        [m] = matches(body)
        assert m["equivalence"] == R4_FOR[rel] and "relationship" not in m
        assert m["concept"]["code"] == f"t-{i}"
        assert param(body, "result") is (rel != "not-related-to")

    @pytest.mark.parametrize("i,rel", list(enumerate(RELATIONSHIPS)))
    def test_reverse_true(self, client, i, rel):
        body = ok(r5_translate(client, ("code", ("valueCode", f"t-{i}")), ("system", ("valueUri", T)),
                               ("reverse", True), base="/r4/fhir"))
        [m] = matches(body)
        assert m["equivalence"] == R4_FOR[rel]
        assert m["source"]["code"] == f"s-{i}"

    def test_reverse_false_is_forward(self, client):
        body = ok(r5_translate(client, ("code", ("valueCode", "s-2")), ("system", ("valueUri", S)),
                               ("reverse", False), base="/r4/fhir"))
        assert [m["concept"]["code"] for m in matches(body)] == ["t-2"]

    def test_reverse_get(self, client):
        # reverse on the query string (typed boolean) against a shipped map
        body = ok(client.get(f"/r4/fhir/ConceptMap/$translate?code=CT&system={q(DCM)}&reverse=true"))
        sources = {m["source"]["code"] for m in matches(body) if m.get("source")}
        assert {"TAC", "TC", "TDM"} <= sources

    @pytest.mark.parametrize("code,word,rel", R4_WORDS)
    def test_author_equivalence_kept(self, client, code, word, rel):
        body = ok(post_params(client, "/r4/fhir/ConceptMap/$translate",
                              [("code", ("valueCode", code)), ("system", ("valueUri", S)), ("tx-resource", R4_MAP)]))
        [m] = matches(body)
        assert m["equivalence"] == word
        assert param(body, "result") is (word != "disjoint")
        # the same R4 map on the R5 endpoint answers with the R5 relationship
        body5 = ok(post_params(client, "/fhir/ConceptMap/$translate",
                               [("sourceCode", ("valueCode", code)), ("system", ("valueUri", S)),
                                ("tx-resource", R4_MAP)]))
        [m5] = matches(body5)
        assert m5["relationship"] == rel

    def test_author_equivalence_kept_in_reverse(self, client):
        body = ok(post_params(client, "/r4/fhir/ConceptMap/$translate",
                              [("code", ("valueCode", "t-i")), ("system", ("valueUri", T)), ("reverse", True),
                               ("tx-resource", R4_MAP)]))
        [m] = matches(body)
        assert m["equivalence"] == "inexact" and m["source"]["code"] == "i" and "roughly" in m["message"]

    def test_unmatched(self, client):
        body = ok(post_params(client, "/r4/fhir/ConceptMap/$translate",
                              [("code", ("valueCode", "u")), ("system", ("valueUri", S)), ("tx-resource", R4_MAP)]))
        assert param(body, "result") is False
        assert [m["equivalence"] for m in matches(body)] == ["unmatched"]

    def test_r4_no_map_from_r5_map(self, client):
        body = ok(r5_translate(client, ("code", ("valueCode", "s-nomap")), ("system", ("valueUri", S)),
                               base="/r4/fhir"))
        assert param(body, "result") is False
        [m] = matches(body)
        assert m["equivalence"] == "unmatched" and "deliberately not mapped: no EU equivalent" in m["message"]

    def test_codeable_concept(self, client):
        cc = {"coding": [{"system": S, "code": "w"}, {"system": S, "code": "n"}]}
        body = ok(post_params(client, "/r4/fhir/ConceptMap/$translate",
                              [("codeableConcept", cc), ("tx-resource", R4_MAP)]))
        assert sorted((m["concept"]["code"], m["equivalence"]) for m in matches(body)) == \
            [("t-n", "narrower"), ("t-w", "wider")]

    def test_coding_and_target_system(self, client):
        body = ok(post_params(client, "/r4/fhir/ConceptMap/$translate",
                              [("coding", {"system": S, "code": "e"}), ("targetsystem", ("valueUri", T)),
                               ("tx-resource", R4_MAP)]))
        assert [m["concept"] for m in matches(body)] == [{"system": T, "code": "t-e"}]


# -- group.unmapped ----------------------------------------------------------------------------

def _unmapped_map(url, unmapped, elements=None, version=None):
    cm = {"resourceType": "ConceptMap", "url": url, "status": "active",
          "group": [{"source": S, "target": T,
                     "element": elements or [{"code": "known", "target": [{"code": "t-known",
                                                                           "relationship": "equivalent"}]}],
                     "unmapped": unmapped}]}
    if version:
        cm["version"] = version
    return cm


USE_SOURCE = _unmapped_map("http://example.org/fhir/ConceptMap/use-source", {"mode": "use-source-code"})
FIXED = _unmapped_map("http://example.org/fhir/ConceptMap/fixed",
                      {"mode": "fixed", "code": "t-fixed", "display": "Fixed target",
                       "relationship": "source-is-narrower-than-target"})
OTHER_A = _unmapped_map("http://example.org/fhir/ConceptMap/other-a",
                        {"mode": "other-map", "otherMap": "http://example.org/fhir/ConceptMap/other-b"})
OTHER_B = _unmapped_map("http://example.org/fhir/ConceptMap/other-b", {"mode": "fixed", "code": "t-from-b"},
                        elements=[{"code": "only-b", "target": [{"code": "t-only-b", "relationship": "equivalent"}]}])
CYCLE_1 = _unmapped_map("http://example.org/fhir/ConceptMap/cycle-1",
                        {"mode": "other-map", "otherMap": "http://example.org/fhir/ConceptMap/cycle-2"})
CYCLE_2 = _unmapped_map("http://example.org/fhir/ConceptMap/cycle-2",
                        {"mode": "other-map", "otherMap": "http://example.org/fhir/ConceptMap/cycle-3"})
CYCLE_3 = _unmapped_map("http://example.org/fhir/ConceptMap/cycle-3",
                        {"mode": "other-map", "otherMap": "http://example.org/fhir/ConceptMap/cycle-1"})
SELF_CYCLE = _unmapped_map("http://example.org/fhir/ConceptMap/self",
                           {"mode": "other-map", "otherMap": "http://example.org/fhir/ConceptMap/self"})


def _translate_with(client, maps, code, url=None, base="/fhir"):
    params = [("sourceCode" if base == "/fhir" else "code", ("valueCode", code)), ("system", ("valueUri", S))]
    if url:
        params.append(("url", ("valueUri", url)))
    return ok(post_params(client, f"{base}/ConceptMap/$translate", params + [("tx-resource", m) for m in maps]))


class TestUnmapped:
    def test_mapped_code_ignores_unmapped(self, client):
        body = _translate_with(client, [FIXED], "known", FIXED["url"])
        assert [m["concept"]["code"] for m in matches(body)] == ["t-known"]

    def test_use_source_code(self, client):
        body = _translate_with(client, [USE_SOURCE], "ABC-1", USE_SOURCE["url"])
        assert param(body, "result") is True
        [m] = matches(body)
        assert m["concept"]["code"] == "ABC-1" and m["concept"]["system"] == T
        assert m["relationship"] == "equivalent"

    def test_fixed(self, client):
        body = _translate_with(client, [FIXED], "anything", FIXED["url"])
        [m] = matches(body)
        assert m["concept"] == {"system": T, "code": "t-fixed", "display": "Fixed target"}
        assert m["relationship"] == "source-is-narrower-than-target"
        body4 = _translate_with(client, [FIXED], "anything", FIXED["url"], base="/r4/fhir")
        assert [m["equivalence"] for m in matches(body4)] == ["wider"]

    def test_other_map(self, client):
        body = _translate_with(client, [OTHER_A, OTHER_B], "only-b", OTHER_A["url"])
        [m] = matches(body)
        assert m["concept"]["code"] == "t-only-b" and m["originMap"] == OTHER_B["url"]
        body = _translate_with(client, [OTHER_A, OTHER_B], "unknown-anywhere", OTHER_A["url"])
        assert [m["concept"]["code"] for m in matches(body)] == ["t-from-b"]

    def test_other_map_missing(self, client):
        body = _translate_with(client, [OTHER_A], "zzz", OTHER_A["url"])
        assert param(body, "result") is False
        assert OTHER_B["url"] in param(body, "message")

    @pytest.mark.parametrize("maps", [[CYCLE_1, CYCLE_2, CYCLE_3], [SELF_CYCLE]])
    def test_other_map_cycle(self, client, maps):
        import time
        t0 = time.monotonic()
        body = _translate_with(client, maps, "zzz", maps[0]["url"])
        assert time.monotonic() - t0 < 10
        assert param(body, "result") is False
        msg = param(body, "message").lower()
        assert "circular" in msg or "cycle" in msg
        # also without naming the map (every request map is a candidate)
        body = _translate_with(client, maps, "zzz")
        assert param(body, "result") is False

    def test_other_map_cycle_from_a_map_without_url(self, client):
        """(the chain of maps named a map without url as None, which broke the message of the cycle)"""
        sent = {k: v for k, v in _unmapped_map(None, {"mode": "other-map", "otherMap": SELF_CYCLE["url"]}).items()
                if k != "url"}
        body = ok(post_params(client, "/fhir/ConceptMap/$translate",
                              [("sourceCode", ("valueCode", "zzz")), ("system", ("valueUri", S)), ("conceptMap", sent),
                               ("tx-resource", SELF_CYCLE)]))
        assert param(body, "result") is False and "circular" in param(body, "message").lower()

    def test_unmapped_on_r4_endpoint(self, client):
        body = _translate_with(client, [USE_SOURCE], "ABC-2", USE_SOURCE["url"], base="/r4/fhir")
        [m] = matches(body)
        assert m["equivalence"] == "equivalent" and m["concept"]["code"] == "ABC-2"


# -- shipped mapping tables -----------------------------------------------------------------

class TestShippedTables:
    def test_ris_tac_to_ct(self, client):
        body = ok(client.get(f"/fhir/ConceptMap/$translate?sourceCode=TAC&system={q(RIS_CS)}"))
        assert param(body, "result") is True
        [m] = matches(body)
        assert m["relationship"] == "equivalent"
        assert m["concept"] == {"system": DCM, "code": "CT", "display": "Computed Tomography"}
        assert m["originMap"].startswith("http://termsvc.example.eu/fhir/ConceptMap/ris-modality-eu|")

    def test_ris_rx_r4_author_word_and_comment(self, client):
        body = ok(client.get(f"/r4/fhir/ConceptMap/$translate?code=RX&system={q(RIS_CS)}"))
        ms = matches(body)
        assert {m["concept"]["code"] for m in ms} == {"DX", "CR"}
        assert {m["equivalence"] for m in ms} == {"narrower"}
        assert any("RX covers both CR and DX acquisitions" in m["message"] for m in ms)
        body5 = ok(client.get(f"/fhir/ConceptMap/$translate?sourceCode=RX&system={q(RIS_CS)}"))
        assert {m["relationship"] for m in matches(body5)} == {"source-is-broader-than-target"}

    def test_ris_no_map(self, client):
        body = ok(client.get(f"/fhir/ConceptMap/$translate?sourceCode=CONS&system={q(RIS_CS)}"))
        assert param(body, "result") is False
        assert "consultation, not an imaging acquisition" in param(body, "message")

    def test_unaccepted_row_not_served(self, client):
        # PET-TC -> CT is in-review in the shipped table; PET-TC -> PT is accepted
        body = ok(client.get(f"/fhir/ConceptMap/$translate?sourceCode=PET-TC&system={q(RIS_CS)}"))
        assert {m["concept"]["code"] for m in matches(body)} == {"PT"}
        body = ok(client.get(f"/fhir/ConceptMap/$translate?sourceCode=ENDO&system={q(RIS_CS)}"))
        assert param(body, "result") is False  # draft only

    def test_reverse_ct(self, client):
        body = ok(client.get(f"/fhir/ConceptMap/$translate?targetCode=CT&targetSystem={q(DCM)}"))
        sources = {m["source"]["code"] for m in matches(body)}
        assert {"TAC", "TC", "TDM"} <= sources
        assert "PET-TC" not in sources  # its CT row is not accepted

    def test_body_part_to_snomed(self, client):
        body = ok(client.get("/fhir/ConceptMap/$translate?sourceCode=ABDOMEN"
                             f"&url={q(BODY_PART_CS_MAP)}"))
        assert {"system": SCT, "code": "818981001", "display": "Abdomen"} in [m["concept"] for m in matches(body)]


# -- the mapping-table row status filter -----------------------------------------------------

TABLE_TOML = """\
url = "http://example.org/fhir/ConceptMap/status-test"
version = "1"
name = "StatusTest"
status = "active"
source_system = "http://example.org/fhir/CodeSystem/status-src"
target_system = "http://example.org/fhir/CodeSystem/status-tgt"
default_status = "draft"
"""
TABLE_CSV = """\
source_code,source_display,target_code,target_display,relationship,no_map,status,comment
ACC,Accepted,T-ACC,Target accepted,equivalent,,accepted,accepted row
DRA,Draft,T-DRA,Target draft,wider,,draft,draft row
REV,In review,T-REV,Target review,equivalent,,in-review,
REJ,Rejected,T-REJ,Target rejected,equivalent,,rejected,
DEF,Default status,T-DEF,Target default,equivalent,,,
NOM,No map,,,,yes,accepted,nothing in the EU list
"""
SRC = "http://example.org/fhir/CodeSystem/status-src"


def _build_table_db(tmp_path, include_unaccepted):
    from termsvc.build import SourceSpec, build
    from termsvc.api.app import create_app
    folder = tmp_path / "tables"
    folder.mkdir(exist_ok=True)
    (folder / "status-test.csv").write_text(TABLE_CSV, encoding="utf-8")
    (folder / "status-test.toml").write_text(TABLE_TOML, encoding="utf-8")
    db = str(tmp_path / ("all.db" if include_unaccepted else "accepted.db"))
    opts = {"include_unaccepted": True} if include_unaccepted else {}
    build(db, [SourceSpec("mappings", str(folder), opts)], QUIET, preexpand=False)
    return create_app(db).test_client()


def _targets(client, code, base="/fhir"):
    name = "sourceCode" if base == "/fhir" else "code"
    body = ok(client.get(f"{base}/ConceptMap/$translate?{name}={code}&system={q(SRC)}"))
    return param(body, "result"), [m["concept"]["code"] for m in matches(body) if m.get("concept")]


class TestStatusFilter:
    def test_default_build_serves_accepted_rows_only(self, tmp_path):
        c = _build_table_db(tmp_path, include_unaccepted=False)
        assert _targets(c, "ACC") == (True, ["T-ACC"])
        for code in ("DRA", "REV", "REJ", "DEF"):
            assert _targets(c, code) == (False, []), code
        r, _ = _targets(c, "NOM")
        assert r is False
        # reverse lookups do not see them either
        body = ok(c.get(f"/fhir/ConceptMap/$translate?targetCode=T-DRA"
                        f"&targetSystem={q('http://example.org/fhir/CodeSystem/status-tgt')}"))
        assert param(body, "result") is False
        cm = c.get("/fhir/ConceptMap?url=http://example.org/fhir/ConceptMap/status-test").get_json()
        [res] = [e["resource"] for e in cm["entry"]]
        served = {e["code"] for g in res["group"] for e in g["element"]}
        assert served == {"ACC", "NOM"}

    def test_include_unaccepted_serves_every_row(self, tmp_path):
        c = _build_table_db(tmp_path, include_unaccepted=True)
        assert _targets(c, "ACC") == (True, ["T-ACC"])
        assert _targets(c, "DRA") == (True, ["T-DRA"])
        assert _targets(c, "REV") == (True, ["T-REV"])
        assert _targets(c, "DEF") == (True, ["T-DEF"])
        # the R4 answer keeps the author's word
        body = ok(c.get(f"/r4/fhir/ConceptMap/$translate?code=DRA&system={q(SRC)}"))
        assert [m["equivalence"] for m in matches(body)] == ["wider"]


LATERALITY = "http://example.org/fhir/laterality"
DEPENDS = {"resourceType": "ConceptMap", "url": "http://example.org/fhir/ConceptMap/depends", "status": "active",
           "group": [{"source": S, "target": T, "element": [{"code": "XR-KNEE", "target": [{
               "code": "t-knee", "relationship": "source-is-broader-than-target",
               "dependsOn": [{"attribute": LATERALITY, "valueCoding": {"system": "http://snomed.info/sct",
                                                                         "code": "7771000", "display": "Left"}}],
               "product": [{"attribute": "http://example.org/fhir/view", "valueString": "AP"}]}]}]}]}


class TestDependsOnAndProduct:
    def test_r5_attribute_and_value(self, client):
        body = _translate_with(client, [DEPENDS], "XR-KNEE", DEPENDS["url"])
        [match] = [p for p in body["parameter"] if p["name"] == "match"]
        parts = {p["name"]: p for p in match["part"]}
        assert parts["dependsOn"]["part"] == [
            {"name": "attribute", "valueUri": LATERALITY},
            {"name": "value", "valueCoding": {"system": "http://snomed.info/sct", "code": "7771000", "display": "Left"}}]
        assert parts["product"]["part"] == [{"name": "attribute", "valueUri": "http://example.org/fhir/view"},
                                            {"name": "value", "valueString": "AP"}]

    def test_r4_element_and_concept(self, client):
        body = _translate_with(client, [DEPENDS], "XR-KNEE", DEPENDS["url"], base="/r4/fhir")
        [match] = [p for p in body["parameter"] if p["name"] == "match"]
        parts = {p["name"]: p for p in match["part"]}
        assert parts["equivalence"]["valueCode"] == "narrower"
        assert parts["dependsOn"]["part"] == [
            {"name": "element", "valueUri": LATERALITY},
            {"name": "concept", "valueCoding": {"system": "http://snomed.info/sct", "code": "7771000", "display": "Left"}}]
        assert parts["product"]["part"][1] == {"name": "concept", "valueCoding": {"code": "AP"}}


def test_a_swapped_in_build_translates_with_its_own_maps(tmp_path):
    """The stored maps are compiled once per build: after a new build is swapped in, $translate (by url,
    and finding the map by the code) answers from the new build's map, on both endpoints."""
    url = "http://example.org/fhir/ConceptMap/swapped"

    def build(target_code: str) -> str:
        folder = tmp_path / target_code
        folder.mkdir()
        (folder / "cm.json").write_text(json.dumps({
            "resourceType": "ConceptMap", "id": "swapped", "url": url, "status": "active",
            "group": [{"source": S, "target": T, "element": [{"code": "CT", "target": [
                {"code": target_code, "relationship": "equivalent"}]}]}]}), encoding="utf-8")
        db = str(tmp_path / f"{target_code}.db")
        subprocess.run([TERMSVC_BIN, "build", "--db", db, "--no-defaults", "--quiet", "--fhir", str(folder)],
                       check=True, capture_output=True, timeout=300)
        return db

    old, new = build("t-old"), build("t-new")
    served = str(tmp_path / "served.db")
    os.link(old, served)
    client = create_app(served, config={"cache_size": 0, "build_check_ms": 0}).test_client()

    def targets():
        return [[m["concept"]["code"] for m in matches(ok(client.get(
            f"{base}/ConceptMap/$translate?{query}&sourceSystem={q(S)}&sourceCode=CT")))]
            for base in ("/fhir", "/r4/fhir") for query in (f"url={q(url)}", "")]

    assert targets() == [["t-old"]] * 4
    os.replace(new, served)
    eventually(lambda: targets() == [["t-new"]] * 4, what="the new build's map")


def test_a_code_without_a_system_is_named_without_one_when_nothing_translates(client):
    body = client.get("/fhir/ConceptMap/$translate?sourceCode=NO-SUCH-LOCAL-CODE").get_json()
    assert param(body, "result") is False
    assert param(body, "message") == "No translations found for #NO-SUCH-LOCAL-CODE"
