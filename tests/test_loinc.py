import json
import os
import shutil
import sqlite3
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from synthetic_releases import LOINC_DEPRECATED, write_loinc_release

from termsvc.build import BuildError, Progress, SourceSpec, build

QUIET = Progress(quiet=True)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = tmp_path_factory.mktemp("loinc")
    root = write_loinc_release(str(d))
    path = str(d / "loinc.db")
    build(path, [SourceSpec("loinc", root)], QUIET, preexpand=False)
    conn = sqlite3.connect(path)
    yield conn
    conn.close()


def cid(conn, code):
    return conn.execute("SELECT id FROM concept WHERE code=?", (code,)).fetchone()[0]


def row(conn, code):
    return conn.execute("SELECT display, status, inactive FROM concept WHERE code=?", (code,)).fetchone()


def props(conn, code):
    return set(conn.execute("SELECT code, type, value FROM concept_property WHERE concept_id=?",
                            (cid(conn, code),)))


def test_code_system(db):
    url, version, cs, count = db.execute(
        "SELECT url, version, case_sensitive, concept_count FROM code_system").fetchone()
    assert (url, version, cs) == ("http://loinc.org", "2.80", 0)
    assert count == 23  # 10 terms, 6 parts, 1 list, 3 answers, 3 hierarchy-only LP nodes
    res = json.loads(db.execute("SELECT json FROM resource WHERE type='CodeSystem'").fetchone()[0])
    assert res["caseSensitive"] is False and "LOINC" in res["copyright"]


def test_terms(db):
    assert row(db, "24627-2") == ("CT Chest", "ACTIVE", 0)
    assert row(db, LOINC_DEPRECATED)[1:] == ("DEPRECATED", 1)
    assert row(db, "30695-1")[1:] == ("TRIAL", 0)
    assert db.execute("SELECT definition FROM concept WHERE code='2345-7'").fetchone()[0] == \
        'Glucose, "the" sugar, in serum'
    # the PanelsAndForms/Loinc.csv decoy was not read
    assert db.execute("SELECT count(*) FROM concept WHERE code='99999-9'").fetchone()[0] == 0


def test_properties(db):
    p = props(db, "24627-2")
    for expected in [("COMPONENT", "string", "Chest CT"), ("PROPERTY", "string", "Find"),
                     ("TIME_ASPCT", "string", "Pt"), ("SYSTEM", "string", "Chest"),
                     ("SCALE_TYP", "string", "Doc"), ("METHOD_TYP", "string", "CT"),
                     ("CLASS", "string", "RAD"), ("CLASSTYPE", "string", "2"),
                     ("STATUS", "string", "ACTIVE"), ("ORDER_OBS", "string", "Observation"),
                     ("SYSTEM-part", "Coding", "http://loinc.org|LP7753-9"),
                     ("rad-modality-modality-type", "Coding", "http://loinc.org|LP199988-1"),
                     ("rad-anatomic-location-region-imaged", "Coding", "http://loinc.org|LP199998-0")]:
        assert expected in p
    assert ("EXAMPLE_UCUM_UNITS", "string", "mg/dL") in props(db, "2345-7")
    assert ("answer-list", "Coding", "http://loinc.org|LL1234-5") in props(db, "55115-0")
    assert ("PartTypeName", "string", "Document.Kind") in props(db, "LP173421-1")


def test_designations(db):
    des = db.execute("SELECT language, use_code, value FROM designation WHERE concept_id=? ORDER BY rowid",
                     (cid(db, "24627-2"),)).fetchall()
    assert ("en-US", "SHORTNAME", "CT Chest") in des
    assert ("en-US", "RELATEDNAMES2", "Thorax") in des
    assert ("en-US", "RELATEDNAMES2", "Computed tomography") in des
    assert ("de-DE", "LONG_COMMON_NAME", "CT Thorax") in des
    assert ("fr-FR", "LONG_COMMON_NAME", "TDM Thorax") in des
    assert db.execute("SELECT value FROM designation WHERE language='fr-FR' AND concept_id=?",
                      (cid(db, "2345-7"),)).fetchone()[0] == "Glucose [Masse/Volume] S\u00e9rum/Plasma"
    # empty translation = no designation; no file for de-AT
    assert db.execute("SELECT count(*) FROM designation WHERE language='de-DE' AND concept_id=?",
                      (cid(db, "18748-4"),)).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM designation WHERE language='de-AT'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM designation WHERE language='de-DE'").fetchone()[0] == 2


def test_parts_answers_and_hierarchy_nodes(db):
    assert row(db, "LP173421-1")[0] == "Report"
    assert row(db, "LP199988-1")[0] == "Computed tomography"   # PartDisplayName
    assert row(db, "LA4720-4")[0] == "Not applicable"
    assert row(db, "LL1234-5")[0] == "Section empty reasons"
    assert row(db, "LP432695-7")[0] == "{component}"           # hierarchy-only node: CODE_TEXT
    assert row(db, "LP200000-0")[0] == "Chest imaging"


def test_hierarchy(db):
    desc = {r[0] for r in db.execute(
        "SELECT c.code FROM closure k JOIN concept c ON c.id=k.descendant_id WHERE k.ancestor_id=?",
        (cid(db, "18726-0"),))}
    assert desc == {"18748-4", "18747-6", "18755-9", "18760-9", "24627-2", "30695-1"}
    parents = {r[0] for r in db.execute(
        "SELECT c.code FROM edge e JOIN concept c ON c.id=e.parent_id WHERE e.child_id=?",
        (cid(db, "24627-2"),))}
    assert parents == {"18747-6", "LP200000-0"}
    anc = {r[0] for r in db.execute(
        "SELECT c.code FROM closure k JOIN concept c ON c.id=k.ancestor_id WHERE k.descendant_id=?",
        (cid(db, "2345-7"),))}
    assert anc == {"LP18049-4", "LP432695-7"}


def test_value_sets(db):
    vs = {r[0]: json.loads(r[1]) for r in db.execute("SELECT url, json FROM resource WHERE type='ValueSet'")}
    assert set(vs) == {"http://loinc.org/vs/LL1234-5", "http://loinc.org/vs/loinc-rsna-radiology-playbook"}
    ll = vs["http://loinc.org/vs/LL1234-5"]
    assert [c["code"] for c in ll["compose"]["include"][0]["concept"]] == ["LA33-6", "LA32-8", "LA4720-4"]
    assert ll["compose"]["include"][0]["system"] == "http://loinc.org"
    pb = vs["http://loinc.org/vs/loinc-rsna-radiology-playbook"]
    assert [c["code"] for c in pb["compose"]["include"][0]["concept"]] == ["24627-2", "30695-1"]
    for v in vs.values():
        assert "Regenstrief" in v["copyright"] and v["version"] == "2.80"
    assert db.execute("SELECT count(*) FROM value_set").fetchone()[0] == 2


def test_zip_without_wrapping_folder_and_version_option(tmp_path):
    z = write_loinc_release(str(tmp_path), version="2.78", zip=True)
    path = str(tmp_path / "z.db")
    build(path, [SourceSpec("loinc", z, {"loinc_version": "2.79"})], QUIET, preexpand=False)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM code_system").fetchone()[0] == "2.79"
    assert conn.execute("SELECT count(*) FROM concept").fetchone()[0] == 23


def test_version_from_folder_name_and_older_hierarchy_file(tmp_path):
    root = write_loinc_release(str(tmp_path), version="2.72")
    os.remove(os.path.join(root, "loinc.xml"))
    acc = os.path.join(root, "AccessoryFiles")
    os.makedirs(os.path.join(acc, "MultiAxialHierarchy"))
    shutil.move(os.path.join(acc, "ComponentHierarchyBySystem", "ComponentHierarchyBySystem.csv"),
                os.path.join(acc, "MultiAxialHierarchy", "MultiAxialHierarchy.csv"))
    # LF line ends and a BOM
    p = os.path.join(root, "LoincTable", "Loinc.csv")
    data = open(p, "rb").read().replace(b"\r\n", b"\n")
    open(p, "wb").write(b"\xef\xbb\xbf" + data)
    path = str(tmp_path / "v.db")
    build(path, [SourceSpec("loinc", root)], QUIET, preexpand=False)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM code_system").fetchone()[0] == "2.72"
    assert conn.execute("SELECT count(*) FROM closure k JOIN concept c ON c.id=k.ancestor_id"
                        " WHERE c.code='18726-0'").fetchone()[0] == 6


def _served(tmp_path):
    path = str(tmp_path / "served.db")
    open(path, "wb").write(b"existing build")
    return path


def test_missing_table_is_an_error(tmp_path):
    root = write_loinc_release(str(tmp_path))
    os.remove(os.path.join(root, "LoincTable", "Loinc.csv"))
    path = _served(tmp_path)
    with pytest.raises(BuildError, match=r"LoincTable/Loinc\.csv not found"):
        build(path, [SourceSpec("loinc", root)], QUIET, preexpand=False)
    assert open(path, "rb").read() == b"existing build"


@pytest.mark.parametrize("rel,mangle,message", [
    ("LoincTable/Loinc.csv", lambda t: t.replace(',"Chest CT",', ',', 1),
     r"Loinc\.csv: line 7: expected 40 fields, found 39"),
    ("AccessoryFiles/PartFile/Part.csv", lambda t: t.replace('"PartNumber"', '"PartNo"'),
     r"Part\.csv: line 1: header lacks column\(s\) PartNumber"),
    ("AccessoryFiles/AnswerFile/AnswerList.csv", lambda t: t + '"LL9-9","broken\r\n',
     r"AnswerList\.csv: line 5"),
])
def test_malformed_file_names_file_and_line(tmp_path, rel, mangle, message):
    root = write_loinc_release(str(tmp_path))
    p = os.path.join(root, rel)
    text = open(p, encoding="utf-8", newline="").read()
    open(p, "w", encoding="utf-8", newline="").write(mangle(text))
    path = _served(tmp_path)
    with pytest.raises(BuildError, match=message):
        build(path, [SourceSpec("loinc", root)], QUIET, preexpand=False)
    assert open(path, "rb").read() == b"existing build"
