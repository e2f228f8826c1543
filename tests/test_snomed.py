import json
import os
import sqlite3
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from synthetic_releases import (
    EXTENSION_CODE,
    INACTIVE,
    write_snomed_extension,
    write_snomed_release,
)

from termsvc.build import BuildError, Progress, SourceSpec, build

INT_VERSION = "http://snomed.info/sct/900000000000207008/version/20250701"
DK_VERSION = "http://snomed.info/sct/554471000005108/version/20250930"
QUIET = Progress(quiet=True)


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    d = tmp_path_factory.mktemp("sct")
    return write_snomed_release(str(d)), write_snomed_extension(str(d)), d


@pytest.fixture(scope="module")
def db(releases):
    intl, ext, d = releases
    path = os.path.join(str(d), "sct.db")
    build(path, [SourceSpec("snomed", intl), SourceSpec("snomed", ext)], QUIET, preexpand=False)
    conn = sqlite3.connect(path)
    yield conn
    conn.close()


def cs_id(conn, version):
    return conn.execute("SELECT id FROM code_system WHERE url='http://snomed.info/sct' AND version=?",
                        (version,)).fetchone()[0]


def concept(conn, cs, code):
    return conn.execute("SELECT id, display, definition, status, inactive FROM concept"
                        " WHERE cs_id=? AND code=?", (cs, code)).fetchone()


def designations(conn, cid, language=None):
    sql = "SELECT language, use_code, value FROM designation WHERE concept_id=?"
    args = [cid]
    if language:
        sql += " AND language=?"
        args.append(language)
    return conn.execute(sql + " ORDER BY rowid", args).fetchall()


def descendants(conn, cs, code):
    return {r[0] for r in conn.execute(
        "SELECT c.code FROM closure k JOIN concept a ON a.id=k.ancestor_id"
        " JOIN concept c ON c.id=k.descendant_id WHERE a.cs_id=? AND a.code=?", (cs, code))}


def test_one_code_system_per_edition(db):
    rows = db.execute("SELECT version, concept_count FROM code_system ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [INT_VERSION, DK_VERSION]
    # the extension's code system = International content + its own concept
    assert rows[1][1] == rows[0][1] + 1
    intl, dk = cs_id(db, INT_VERSION), cs_id(db, DK_VERSION)
    assert concept(db, intl, EXTENSION_CODE) is None
    assert concept(db, dk, EXTENSION_CODE)[1] == "Gestational age by imaging"
    assert concept(db, dk, "363679005")[1] == "Imaging"
    res = json.loads(db.execute("SELECT json FROM resource WHERE id=?", (dk,)).fetchone()[0])
    assert res["url"] == "http://snomed.info/sct" and res["version"] == DK_VERSION
    assert "concept" not in res
    assert {"code": "260686004", "uri": "http://snomed.info/id/260686004", "type": "code"} in res["property"]


def test_concepts_displays_and_definitions(db):
    intl = cs_id(db, INT_VERSION)
    cid, display, definition, status, inactive = concept(db, intl, "363679005")
    assert (display, status, inactive) == ("Imaging", "active", 0)
    assert definition == "A procedure that produces images of a body structure."
    # display is the en-US preferred term, not the GB one
    assert concept(db, intl, "709943002")[1] == "Color Doppler ultrasonography"
    for code in ("63337009", "38266002", "53120007", "61685007", "67734004", "774007", "113257007",
                 "80891009", "76752008", "737561001", "314789007", "138875005"):
        assert concept(db, intl, code) is not None, code
    # about a few hundred concepts
    assert 300 <= db.execute("SELECT concept_count FROM code_system WHERE id=?", (intl,)).fetchone()[0] < 1000


def test_inactive_concepts(db):
    intl = cs_id(db, INT_VERSION)
    for code, fsn, _refset, _targets in INACTIVE:
        _cid, display, _d, status, inactive = concept(db, intl, code)
        assert (status, inactive) == ("inactive", 1)
        assert display == fsn.rsplit(" (", 1)[0]
    # inactive concepts are outside the hierarchy
    cid = concept(db, intl, INACTIVE[0][0])[0]
    assert db.execute("SELECT count(*) FROM closure WHERE descendant_id=?", (cid,)).fetchone()[0] == 0


def test_designations_per_language(db):
    intl, dk = cs_id(db, INT_VERSION), cs_id(db, DK_VERSION)
    cid = concept(db, intl, "709943002")[0]
    us = designations(db, cid, "en-US")
    gb = designations(db, cid, "en-GB")
    # preferred synonym first, then FSN, then acceptable
    assert us[0] == ("en-US", "900000000000013009", "Color Doppler ultrasonography")
    assert us[1] == ("en-US", "900000000000003001", "Color Doppler ultrasonography (procedure)")
    assert us[2][2] == "Colour Doppler ultrasonography"
    assert gb[0] == ("en-GB", "900000000000013009", "Colour Doppler ultrasonography")
    use = db.execute("SELECT use_system, use_display FROM designation WHERE concept_id=? AND use_code="
                     "'900000000000003001'", (cid,)).fetchone()
    assert use == ("http://snomed.info/sct", "Fully specified name")
    # inactive descriptions are not designations
    img = concept(db, intl, "363679005")[0]
    assert "Imaging NOS (retired term)" not in {d[2] for d in designations(db, img)}
    assert designations(db, img, "da-DK") == []
    # the Danish edition adds Danish designations to International concepts
    img_dk = concept(db, dk, "363679005")[0]
    assert designations(db, img_dk, "da-DK") == [("da-DK", "900000000000013009", "billeddiagnostik")]
    assert designations(db, concept(db, dk, EXTENSION_CODE)[0], "da-DK")[0][2] == \
        "Gestationsalder ved billeddiagnostik"
    # text definitions come last in each language
    assert designations(db, img, "en-US")[-1][1] == "900000000000550004"


def test_hierarchy_closure(db):
    intl, dk = cs_id(db, INT_VERSION), cs_id(db, DK_VERSION)
    imaging = descendants(db, intl, "363679005")
    assert {"77477000", "113091000", "241601008", "709943002", "1287000", "169069000"} <= imaging
    assert "363679005" not in imaging  # strict closure
    assert len(imaging) > 50           # generated descendants too
    assert {"57134006", "72506001"} <= descendants(db, intl, "314789007")
    # two parents
    ct_rad = concept(db, intl, "1287000")[0]
    parents = {r[0] for r in db.execute(
        "SELECT c.code FROM edge e JOIN concept c ON c.id=e.parent_id WHERE e.child_id=?", (ct_rad,))}
    assert parents == {"77477000", "363680008"}
    # an inactive is-a row gives no edge
    chest = concept(db, intl, "169069000")[0]
    parents = {r[0] for r in db.execute(
        "SELECT c.code FROM edge e JOIN concept c ON c.id=e.parent_id WHERE e.child_id=?", (chest,))}
    assert parents == {"77477000"}
    # stated relationships do not duplicate edges
    assert db.execute("SELECT count(*) FROM (SELECT parent_id, child_id FROM edge GROUP BY 1, 2"
                      " HAVING count(*) > 1)").fetchone()[0] == 0
    assert EXTENSION_CODE in descendants(db, dk, "363787002")
    assert EXTENSION_CODE in descendants(db, dk, "138875005")
    assert EXTENSION_CODE not in descendants(db, intl, "138875005")


def test_properties(db):
    intl = cs_id(db, INT_VERSION)
    def props(code):
        return set(db.execute("SELECT code, type, value FROM concept_property WHERE concept_id=?",
                              (concept(db, intl, code)[0],)))
    assert props("363679005") == {("moduleId", "code", "900000000000207008"),
                                  ("sufficientlyDefined", "boolean", "true"),
                                  ("260686004", "code", "360037004")}
    assert ("1142135004", "integer", "2") in props("57134006")
    assert ("sufficientlyDefined", "boolean", "false") in props("57134006")
    assert ("405813007", "code", "774007") in props("241601008")
    assert not any(p[0] in ("parent", "child", "116680003") for p in props("241601008"))


def test_refset_members(db):
    intl = cs_id(db, INT_VERSION)
    members = {r[0] for r in db.execute(
        "SELECT c.code FROM refset_member m JOIN concept c ON c.id=m.concept_id"
        " WHERE m.refset='723264001' AND m.cs_id=?", (intl,))}
    assert members == {"53120007", "61685007", "76752008"}  # the inactive member is left out
    n_us = db.execute("SELECT count(*) FROM refset_member WHERE refset='900000000000509007' AND cs_id=?",
                      (intl,)).fetchone()[0]
    assert n_us == db.execute("SELECT count(*) FROM concept WHERE cs_id=?", (intl,)).fetchone()[0]
    dk = cs_id(db, DK_VERSION)
    da = {r[0] for r in db.execute(
        "SELECT c.code FROM refset_member m JOIN concept c ON c.id=m.concept_id"
        " WHERE m.refset='554461000005103' AND m.cs_id=?", (dk,))}
    assert da == {EXTENSION_CODE, "363679005", "80891009", "169069000", "241601008"}


def test_association_concept_maps(db):
    cms = {(r[0], r[1]): json.loads(r[2]) for r in db.execute(
        "SELECT url, version, json FROM resource WHERE type='ConceptMap'")}
    assert len(cms) == 6  # three associations x two editions
    rb = cms[("http://snomed.info/sct?fhir_cm=900000000000526001", INT_VERSION)]
    assert rb["group"][0]["element"] == [
        {"code": INACTIVE[0][0], "target": [{"code": "363679005", "relationship": "equivalent"}]}]
    same = cms[("http://snomed.info/sct?fhir_cm=900000000000527005", INT_VERSION)]
    assert same["group"][0]["element"][0]["target"] == [{"code": "80891009", "relationship": "equivalent"}]
    pe = cms[("http://snomed.info/sct?fhir_cm=900000000000523009", INT_VERSION)]
    assert [t["relationship"] for t in pe["group"][0]["element"][0]["target"]] == ["related-to"] * 2
    rows = db.execute("SELECT e.source_system, e.source_code, e.target_code FROM cm_entry e"
                      " JOIN concept_map m ON m.id=e.cm_id WHERE m.url LIKE '%526001'").fetchall()
    assert ("http://snomed.info/sct", INACTIVE[0][0], "363679005") in rows


def test_zip_and_single_call_with_several_paths(tmp_path):
    intl = write_snomed_release(str(tmp_path), zip=True, generated=20)
    ext = write_snomed_extension(str(tmp_path), zip=True)
    path = str(tmp_path / "z.db")
    summary = build(path, [SourceSpec("snomed", [intl, ext])], QUIET, preexpand=False)
    assert summary["code_systems"] == 2
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM concept WHERE code=?", (EXTENSION_CODE,)).fetchone()[0] == 1


def test_lf_line_ends_accepted(tmp_path):
    root = write_snomed_release(str(tmp_path), generated=10)
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            data = open(p, "rb").read().replace(b"\r\n", b"\n")
            open(p, "wb").write(data)
    path = str(tmp_path / "lf.db")
    build(path, [SourceSpec("snomed", root)], QUIET, preexpand=False)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT display FROM concept WHERE code='363679005'").fetchone()[0] == "Imaging"


def test_extension_without_international_is_an_error(tmp_path):
    ext = write_snomed_extension(str(tmp_path))
    with pytest.raises(BuildError, match="International edition"):
        build(str(tmp_path / "x.db"), [SourceSpec("snomed", ext)], QUIET, preexpand=False)


def _existing_db(tmp_path):
    path = str(tmp_path / "served.db")
    with open(path, "wb") as f:
        f.write(b"existing build")
    return path


def test_missing_file_is_an_error_and_db_untouched(tmp_path):
    root = write_snomed_release(str(tmp_path), generated=5)
    rel = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
           if f.startswith("sct2_Relationship_Snapshot")]
    os.remove(rel[0])
    path = _existing_db(tmp_path)
    with pytest.raises(BuildError, match="sct2_Relationship_Snapshot"):
        build(path, [SourceSpec("snomed", root)], QUIET, preexpand=False)
    assert open(path, "rb").read() == b"existing build"
    assert not [f for f in os.listdir(tmp_path) if ".building-" in f]


@pytest.mark.parametrize("kind,mangle,message", [
    ("sct2_Description_Snapshot", lambda lines: lines[:5] + [lines[5].rsplit(b"\t", 1)[0]] + lines[6:],
     r"sct2_Description_Snapshot-en_INT_20250701\.txt: line 6: expected 9"),
    ("sct2_Concept_Snapshot", lambda lines: [lines[0].replace(b"definitionStatusId", b"defStatus")] + lines[1:],
     r"sct2_Concept_Snapshot_INT_20250701\.txt: line 1: unexpected header"),
    ("der2_cRefset_LanguageSnapshot", lambda lines: lines[:3] + [lines[3] + b"\textra"] + lines[4:],
     r"der2_cRefset_LanguageSnapshot-en_INT_20250701\.txt: line 4: expected 7"),
    ("sct2_Relationship_Snapshot", lambda lines: lines[:7] + [lines[7].replace(b"\t1\t", b"\tx\t", 1)] + lines[8:],
     r"sct2_Relationship_Snapshot_INT_20250701\.txt: line 8: active must be"),
])
def test_malformed_line_names_file_and_line(tmp_path, kind, mangle, message):
    root = write_snomed_release(str(tmp_path), generated=5)
    p = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.startswith(kind)][0]
    lines = open(p, "rb").read().split(b"\r\n")
    open(p, "wb").write(b"\r\n".join(mangle(lines)))
    path = _existing_db(tmp_path)
    with pytest.raises(BuildError, match=message):
        build(path, [SourceSpec("snomed", root)], QUIET, preexpand=False)
    assert open(path, "rb").read() == b"existing build"
