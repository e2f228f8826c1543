"""termsvc dicom-codes: DICOM header values to EU codes, on pydicom's own test files and on files
written here with chosen attributes."""
import csv
import json
import os
import re
import shutil
import warnings

import pydicom
import pytest
from click.testing import CliRunner
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import DCM, QUIET, SCT
from termsvc.build import SourceSpec, build
from termsvc.cli import cli

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
DESCRIPTION_TABLE = """source_code,target_code,target_display,relationship,status
Torax PA y lateral,168537006,Plain radiography,source-is-narrower-than-target,accepted
"""
DESCRIPTION_TOML = """url = "http://example.org/ConceptMap/study-descriptions"
version = "1"
source_system = "http://example.org/CodeSystem/study-descriptions"
target_system = "http://snomed.info/sct"
dicom_attributes = ["StudyDescription", "(0032,1060)"]
"""


@pytest.fixture(scope="module")
def dicom_db(tmp_path_factory):
    """DICOM + the shipped mapping tables + a table of study descriptions (declared for Study and
    Requested Procedure Description)."""
    root = tmp_path_factory.mktemp("dicom-codes")
    maps = root / "mappings"
    shutil.copytree(os.path.join(PROJECT, "mappings_csv"), maps)
    (maps / "study-descriptions.csv").write_text(DESCRIPTION_TABLE)
    (maps / "study-descriptions.toml").write_text(DESCRIPTION_TOML)
    db = str(root / "dicom.db")
    build(db, [SourceSpec("dicom"), SourceSpec("mappings", str(maps))], QUIET, preexpand=False)
    return db


def code_item(code, scheme, meaning=None):
    item = Dataset()
    item.CodeValue = code
    item.CodingSchemeDesignator = scheme
    if meaning:
        item.CodeMeaning = meaning
    return item


def write_dicom(path, study=None, series=None, transfer_syntax=ExplicitVRLittleEndian, **attrs) -> str:
    """A small DICOM file (no pixel data) with the attributes given (keyword=value; lists of
    code_item() for sequences)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT_IMAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = series or generate_uid()
    ds.PatientID = "P-0001"
    with warnings.catch_warnings():  # values such as 'chest' are not valid CS: on purpose
        warnings.simplefilter("ignore")
        for k, v in attrs.items():
            setattr(ds, k, v)
    ds.save_as(str(path), enforce_file_format=True)
    return str(path)


def dicom_codes(db, *args):
    r = CliRunner().invoke(cli, ["dicom-codes", *map(str, args), "--db", db])
    return r.exit_code, r.output


def codes_by_attribute(file_report):
    out = {}
    for c in file_report["codes"]:
        out.setdefault(c["attribute"], []).append(c)
    return out


def only_json(output: str) -> dict:
    """The JSON document of the output (skipped-file notes go to stderr, mixed in by the runner)."""
    return json.loads(output[output.index("{"):output.rindex("}") + 1])


# -- pydicom's own files ------------------------------------------------------------------------

def test_pydicom_test_files(dicom_db):
    ct, mr, nm = (get_testdata_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"))
    code, out = dicom_codes(dicom_db, ct, mr, nm)
    doc = json.loads(out)
    assert code == 1          # CT_small's Study Description 'e+1' is not in the table that declares the attribute
    assert [f["file"] for f in doc["files"]] == [ct, mr, nm]
    modality = [codes_by_attribute(f)["Modality"][0] for f in doc["files"]]
    assert [(m["local"], m["status"], m["codings"][0]["system"], m["codings"][0]["code"]) for m in modality] == [
        ("CT", "standard", DCM, "CT"), ("MR", "mapped", DCM, "MR"), ("NM", "standard", DCM, "NM")]  # MR: in the RIS table
    assert modality[0]["codings"][0]["display"] == "Computed Tomography" and modality[0]["tag"] == "(0008,0060)"
    nm_codes = codes_by_attribute(doc["files"][2])
    whole_body = nm_codes["BodyPartExamined"][0]
    assert (whole_body["local"], whole_body["normalized"]) == ("WHOLE BODY", "WHOLEBODY")   # a vendor spelling
    assert (whole_body["status"], whole_body["codings"][0]["code"]) == ("mapped", "38266002")
    assert doc["files"][0]["unmapped"] == [{"attribute": "StudyDescription", "local": "e+1", "status": "unmapped"}]
    assert doc["files"][2]["unmapped"] == [{"attribute": "StudyDescription", "local": "Whole Body Bone",
                                            "status": "unmapped"}]
    assert len(doc["studies"]) == 3 and doc["skipped"] == []


def test_a_folder_is_read_recursively_and_non_dicom_files_are_skipped(dicom_db, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "a" / "b" / "IM0001")
    (tmp_path / "a" / "notes.txt").write_text("not DICOM")
    code, out = dicom_codes(dicom_db, tmp_path)
    doc = only_json(out)
    assert [os.path.basename(f["file"]) for f in doc["files"]] == ["IM0001"]
    (skipped,) = doc["skipped"]
    assert skipped["file"] == str(tmp_path / "a" / "notes.txt") and skipped["reason"].startswith("not a DICOM file")
    assert code == 1   # CT_small's Study Description; the file that is not DICOM is said (stderr), not a failure
    os.remove(tmp_path / "a" / "b" / "IM0001")
    write_dicom(tmp_path / "a" / "b" / "IM0002", Modality="MR", BodyPartExamined="HEAD")
    code, out = dicom_codes(dicom_db, tmp_path)
    assert code == 0 and len(only_json(out)["skipped"]) == 1
    code, out = dicom_codes(dicom_db, tmp_path / "a" / "notes.txt")
    assert code == 2


# -- files with chosen attributes -----------------------------------------------------------------

@pytest.fixture
def chosen(tmp_path):
    request_item = Dataset()
    request_item.RequestedProcedureCodeSequence = [code_item("0013", "99ESCAT")]
    request_item.RequestedProcedureDescription = "Unknown request text"
    return write_dicom(
        tmp_path / "chosen.dcm",
        Modality="TAC ",                       # a local RIS modality, space-padded
        BodyPartExamined="chest",              # lower case, as some PACS send it
        Laterality="L", ImageLaterality="U",
        StudyDescription="Torax PA y lateral",
        ProcedureCodeSequence=[code_item("0012", "99ESCAT", "Radiografía de tórax PA y lateral")],
        RequestAttributesSequence=[request_item],
        AnatomicRegionSequence=[code_item("12738006", "SCT", "Brain"), code_item("T-D1100", "SRT", "Head")],
        PerformedProtocolCodeSequence=[code_item("NOPE-1", "DCM"), code_item("123456001", "SCT"),
                                       code_item("X1", "99LOCAL")],
    )


def test_local_values_translated_standard_codes_validated(dicom_db, chosen):
    code, out = dicom_codes(dicom_db, chosen)
    f = json.loads(out)["files"][0]
    by = codes_by_attribute(f)
    m = by["Modality"][0]
    assert (m["local"], m["status"]) == ("TAC", "mapped")
    assert m["codings"] == [{"system": DCM, "code": "CT", "display": "Computed Tomography",
                             "relationship": "equivalent",
                             "map": "http://termsvc.example.eu/fhir/ConceptMap/ris-modality-eu|2026.1"}]
    b = by["BodyPartExamined"][0]
    assert (b["local"], b["normalized"], b["status"]) == ("chest", "CHEST", "mapped")
    assert (b["codings"][0]["system"], b["codings"][0]["code"]) == (SCT, "816094009")
    assert by["Laterality"][0]["codings"][0]["code"] == "7771000"
    assert by["ImageLaterality"][0]["codings"][0]["relationship"] == "related-to"
    assert by["ImageLaterality"][0]["codings"][0]["map"].startswith(
        "http://termsvc.example.eu/fhir/ConceptMap/dicom-laterality|")
    d = by["StudyDescription"][0]
    assert d["status"] == "mapped" and d["codings"][0]["code"] == "168537006"
    assert d["codings"][0]["map"] == "http://example.org/ConceptMap/study-descriptions|1"
    assert by["RequestedProcedureDescription"][0]["status"] == "unmapped"
    p = by["ProcedureCodeSequence"][0]
    assert p["local"] == {"code": "0012", "scheme": "99ESCAT", "meaning": "Radiografía de tórax PA y lateral"}
    assert p["status"] == "mapped" and p["codings"][0]["code"] == "168537006"
    assert by["RequestedProcedureCodeSequence"][0]["codings"][0]["code"] == "168537006"  # 0013, in Request Attributes
    brain, head = by["AnatomicRegionSequence"]
    assert (brain["status"], brain["codings"][0]["display"]) == ("standard", "Brain")
    assert (head["status"], head["codings"][0]["code"]) == ("standard", "69536005")   # SRT T-D1100 -> SCT
    invalid, unverified, local = by["PerformedProtocolCodeSequence"]
    assert invalid["status"] == "invalid" and "NOPE-1" in invalid["message"]
    assert unverified["status"] == "unverified" and "fragment" in unverified["message"]
    assert unverified["codings"][0]["code"] == "123456001"
    assert local["status"] == "no-table" and "no loaded mapping table declares PerformedProtocolCodeSequence" \
        in local["message"]
    assert [(u["attribute"], u["status"]) for u in f["unmapped"]] == [
        ("RequestedProcedureDescription", "unmapped"), ("PerformedProtocolCodeSequence", "invalid")]
    assert [(u["attribute"], u["status"]) for u in f["no_table"]] == [("PerformedProtocolCodeSequence", "no-table")]
    assert code == 1


def test_everything_mapped_exits_0(dicom_db, tmp_path):
    path = write_dicom(tmp_path / "ok.dcm", Modality="MR", BodyPartExamined="HEAD", Laterality="R")
    code, out = dicom_codes(dicom_db, path)
    assert code == 0 and json.loads(out)["files"][0]["unmapped"] == []


def test_per_study_summary(dicom_db, tmp_path):
    study, series = generate_uid(), generate_uid()
    for i in range(3):
        write_dicom(tmp_path / f"s1-{i}.dcm", study, series, Modality="CT", BodyPartExamined="CHEST")
    write_dicom(tmp_path / "s1-x.dcm", study, None, Modality="RX", BodyPartExamined="KNEEE")
    write_dicom(tmp_path / "s2.dcm", None, None, Modality="MR")
    code, out = dicom_codes(dicom_db, tmp_path)
    studies = {s["study"]: s for s in json.loads(out)["studies"]}
    s = studies[study]
    assert s["files"] == 4 and len(s["series"]) == 2
    assert sorted(x["files"] for x in s["series"]) == [1, 3]
    counts = {(c["attribute"], c["local"]): c["files"] for c in s["codes"]}
    assert counts == {("Modality", "CT"): 3, ("BodyPartExamined", "CHEST"): 3, ("Modality", "RX"): 1,
                      ("BodyPartExamined", "KNEEE"): 1}
    assert s["unmapped"] == [{"attribute": "BodyPartExamined", "local": "KNEEE", "status": "unmapped"}]
    rx = next(c for c in s["codes"] if c["local"] == "RX")
    assert [c["code"] for c in rx["codings"]] == ["DX", "CR"]   # two targets of one local code
    assert len(studies) == 2


def test_imaging_study_r5_and_r4(dicom_db, chosen):
    r = CliRunner().invoke(cli, ["dicom-codes", chosen, "--db", dicom_db, "--fhir", "r5"])
    s = json.loads(r.output)
    assert s["resourceType"] == "ImagingStudy" and s["status"] == "available"
    assert s["identifier"][0]["value"].startswith("urn:oid:")
    assert s["subject"] == {"identifier": {"value": "P-0001"}}
    assert s["modality"] == [{"coding": [{"system": DCM, "code": "CT", "display": "Computed Tomography"}]}]
    assert s["description"] == "Torax PA y lateral"
    (series,) = s["series"]
    assert series["modality"]["coding"][0]["code"] == "CT" and series["modality"]["text"] == "TAC"
    assert [c["code"] for c in series["bodySite"]["concept"]["coding"]] == ["816094009", "12738006", "69536005"]
    assert [c["code"] for c in series["laterality"]["coding"]] == ["7771000", "66459002"]
    assert series["instance"][0]["sopClass"]["code"] == "urn:oid:" + CT_IMAGE
    procedures = [c["code"] for p in s["procedure"] for c in p["concept"]["coding"]]
    assert "168537006" in procedures and "NOPE-1" not in procedures
    r = CliRunner().invoke(cli, ["dicom-codes", chosen, "--db", dicom_db, "--fhir", "r4"])
    s4 = json.loads(r.output)
    assert s4["modality"] == [{"system": DCM, "code": "CT", "display": "Computed Tomography"}]
    (series4,) = s4["series"]
    assert series4["modality"] == {"system": DCM, "code": "CT", "display": "Computed Tomography"}
    assert series4["bodySite"]["code"] == "816094009" and series4["laterality"]["code"] == "7771000"
    assert "procedure" not in s4 and s4["procedureCode"][0]["coding"][0]["code"] == "168537006"


def test_several_studies_make_a_collection_bundle(dicom_db):
    r = CliRunner().invoke(cli, ["dicom-codes", get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm"),
                                 "--db", dicom_db, "--fhir", "r5"])
    b = json.loads(r.output)
    assert b["resourceType"] == "Bundle" and b["type"] == "collection"
    assert [e["resource"]["modality"][0]["coding"][0]["code"] for e in b["entry"]] == ["CT", "MR"]


def test_server_answers_like_the_local_database(dicom_db, chosen, server_factory, tmp_path):
    srv = server_factory(dicom_db)
    sermas = write_dicom(tmp_path / "sermas.dcm", Modality="CT", BodyPartExamined="Whole Body",
                         ProcedureCodeSequence=[code_item("0012", "99SERMAS")])
    local = json.loads(dicom_codes(dicom_db, chosen, sermas)[1])
    r = CliRunner().invoke(cli, ["dicom-codes", chosen, sermas, "--server", srv.base + "/fhir"])
    assert json.loads(r.output) == local
    assert local["files"][1]["no_table"] == [{"attribute": "ProcedureCodeSequence",
                                              "local": {"code": "0012", "scheme": "99SERMAS"}, "status": "no-table"}]


def test_only_the_header_is_read(tmp_path, monkeypatch):
    """pydicom is told to stop before the pixel data: a file whose pixel data is garbage reads."""
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    src.PixelData = b"\x00" * 7   # wrong length for the image: reading it would fail
    path = str(tmp_path / "broken-pixels.dcm")
    src.save_as(path)
    from termsvc.dicom_codes import read_header
    ds = read_header(path)
    assert "PixelData" not in ds and ds.Modality == "CT"


# -- the mapping-table key --------------------------------------------------------------------------

def test_dicom_attributes_key_is_checked_and_round_trips(tmp_path):
    from termsvc.mappings.from_fhir import concept_map_to_table
    from termsvc.mappings.table import read_table
    from termsvc.mappings.to_fhir import concept_map_from_table
    (tmp_path / "t.csv").write_text(DESCRIPTION_TABLE)
    (tmp_path / "t.toml").write_text(DESCRIPTION_TOML)
    t = read_table(str(tmp_path / "t.csv"))
    assert not t.errors and t.meta["dicom_attributes"] == ["StudyDescription", "RequestedProcedureDescription"]
    meta, _, _ = concept_map_to_table(concept_map_from_table(t))
    assert meta["dicom_attributes"] == ["StudyDescription", "RequestedProcedureDescription"]
    (tmp_path / "t.toml").write_text(DESCRIPTION_TOML.replace('"(0032,1060)"', '"BodyPartExamind"'))
    t = read_table(str(tmp_path / "t.csv"))
    assert any("BodyPartExamind" in p.message and "not a DICOM attribute" in p.message for p in t.errors)


def test_a_concept_map_without_a_url_serves_no_attribute():
    """(translating with url=None would ask every map)"""
    from termsvc.dicom_codes import attribute_maps
    from termsvc.mappings.to_fhir import EXT_DICOM_ATTRIBUTE

    class Server:   # what a server's ConceptMap search gives
        @staticmethod
        def concept_maps(params):
            served = [{"url": EXT_DICOM_ATTRIBUTE, "valueString": "Modality"}]
            return [{"resourceType": "ConceptMap", "extension": served},
                    {"resourceType": "ConceptMap", "url": "http://example.org/cm", "extension": served}]
    assert [m.canonical for m in attribute_maps(Server())["Modality"]] == ["http://example.org/cm"]


def test_shipped_tables_declare_their_attributes():
    from termsvc.mappings.table import read_table
    declared = {name: read_table(os.path.join(PROJECT, "mappings_csv", name + ".csv")).meta["dicom_attributes"]
                for name in ("ris-modality-eu", "dicom-body-part-examined", "dicom-laterality")}
    assert declared == {"ris-modality-eu": ["Modality"], "dicom-body-part-examined": ["BodyPartExamined"],
                        "dicom-laterality": ["Laterality", "ImageLaterality"]}


def test_attributes_no_table_declares_are_listed_not_failures(tmp_path):
    """The shipped tables only (no table of Study Descriptions): a real archive's descriptions are
    listed as values no table declares, and the exit status says the mapped attributes mapped."""
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("dicom"), SourceSpec("mappings")], QUIET, preexpand=False)
    path = write_dicom(tmp_path / "a.dcm", Modality="CT", BodyPartExamined="Upper Limb", StudyDescription="TC torax",
                       ProcedureCodeSequence=[code_item("0012", "99SERMAS", "Radiografía de tórax")])
    code, out = dicom_codes(db, path)
    f = json.loads(out)["files"][0]
    by = codes_by_attribute(f)
    assert (by["BodyPartExamined"][0]["status"], by["BodyPartExamined"][0]["codings"][0]["code"]) == ("mapped",
                                                                                                    "53120007")
    # 0012 is a code of the Spanish catalogue's scheme 99ESCAT: a 99SERMAS code does not go through its table
    sermas = by["ProcedureCodeSequence"][0]
    assert sermas["status"] == "no-table" and "declares the coding scheme 99SERMAS" in sermas["message"]
    assert [(u["attribute"], u["status"]) for u in f["no_table"]] == [("StudyDescription", "no-table"),
                                                                      ("ProcedureCodeSequence", "no-table")]
    assert f["unmapped"] == [] and code == 0


CS_VALUE = re.compile(r"[A-Z0-9 _]{1,16}")   # the CS value representation
# PS3.16 Annex L Table L-1 (Body Part Examined defined term, its CID 4 code and meaning), as the DICOM
# standard gives it: see tests/reference/README.md (where it comes from; update it with pydicom)
TABLE_L1 = os.path.join(PROJECT, "tests", "reference", "ps3.16-table-l1.csv")


def cid4_codes() -> dict:
    """CID 4 (Anatomic Region) of the DICOM release pydicom ships: code -> (every meaning pydicom gives
    the code, the display termsvc serves for it (the meaning of most context groups), in CID 4031)."""
    from pydicom.sr._concepts_dict import concepts
    options = {}
    for keyword, codes in concepts["SCT"].items():
        for code, (meaning, cids) in codes.items():
            options.setdefault(code, []).append((-len(cids), keyword, meaning, set(cids)))
    return {code: ({o[2] for o in opts}, sorted(opts)[0][2], any(4031 in o[3] for o in opts))
            for code, opts in options.items() if any(4 in o[3] for o in opts)}


def table_l1() -> dict:
    """Table L-1: Body Part Examined term -> its code."""
    with open(TABLE_L1, encoding="utf-8") as f:
        return {r["body_part_examined"]: r["code"] for r in csv.DictReader(f)}


def test_body_part_table_agrees_with_annex_l_table_l1():
    """Every term Table L-1 gives a region of CID 4 (of the release pydicom ships) is an accepted (or
    in-review) row that maps it to that region; no row maps a Table L-1 term elsewhere; a `draft` row is one Table L-1 cannot
    confirm (its region has no term there); every CID 4 region Table L-1 names has a row (a new DICOM
    release's new region fails here until it has one, once the reference is updated with pydicom)."""
    cid4, l1 = cid4_codes(), table_l1()
    with open(os.path.join(PROJECT, "mappings_csv", "dicom-body-part-examined.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_term = {r["source_code"]: r for r in rows}
    assert len(by_term) == len(rows) and len(l1) >= 300 and len(cid4) >= 343
    missing = [f"{term} -> {code}" for term, code in l1.items() if code in cid4 and (
        by_term.get(term, {}).get("target_code") != code or by_term[term]["status"] not in ("accepted", "in-review"))]
    assert missing == []        # (in-review: a reviewer's own process, which Table L-1 does not end)
    assert [r["source_code"] for r in rows if r["source_code"] in l1 and r["target_code"] != l1[r["source_code"]]] == []
    confirmable = set(l1.values())
    assert [r["source_code"] for r in rows if r["status"] == "draft" and r["target_code"] in confirmable] == []
    assert [r["source_code"] for r in rows if r["status"] == "draft" and r["source_code"] in l1] == []
    drafts = [r for r in rows if r["status"] == "draft"]
    assert drafts and all("not a PS3.16 Table L-1 term" in r["comment"] for r in drafts)
    for r in rows:
        assert CS_VALUE.fullmatch(r["source_code"]), r["source_code"]
        if r["target_code"]:   # pydicom's code and meaning, and its CID 4031 membership
            meanings, _, common = cid4[r["target_code"]]
            assert r["target_display"] in meanings and r["in_cid_4031"] == ("yes" if common else "no"), r
    with open(os.path.join(PROJECT, "mappings_csv", "codesystems", "CodeSystem-dicom-body-part-examined.json"),
              encoding="utf-8") as f:
        local = {c["code"] for c in json.load(f)["concept"]}
    assert {r["source_code"] for r in rows} == local


@pytest.mark.parametrize("value, spellings", [
    ("Whole Body", ["WHOLE BODY", "WHOLEBODY"]), ("L-SPINE", ["LSPINE"]), ("chest", ["CHEST"]),
    ("Head & Neck", ["HEAD & NECK", "HEADNECK"]), ("Chest and Abdomen", ["CHEST AND ABDOMEN", "CHESTANDABDOMEN",
                                                                         "CHESTABDOMEN"]),
    ("ABDÓMEN", ["ABDOMEN"]), ("CHEST", ["CHEST"]), ("HAND", ["HAND"]), ("R", ["R"])])
def test_a_cs_value_is_tried_in_the_spellings_of_its_family(value, spellings):
    from termsvc.dicom_codes import cs_spellings
    assert [v for v in cs_spellings(value) if v != value] == [v for v in spellings if v != value]


def test_body_part_examined_terms_and_vendor_spellings_map(tmp_path):
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("dicom"), SourceSpec("mappings")], QUIET, preexpand=False)
    spellings = {"WHOLE BODY": "38266002", "Heart": "80891009", "TORSO": "416775004", "tmj": "53620006",
                 "FOREARM": "14975008", "SSPINE": "54735007", "UPPERLIMB": "53120007", "Lower Limb": "61685007",
                 "C-SPINE": "122494005", "Abdomen Pelvis": "818982008", "Head & Neck": "774007",
                 "l.spine": "122496007", "Chest and Abdomen": "416550000", "ABDÓMEN": "818981001",
                 "PHANTOM": "706342009", "Fibula": "87342007", "VEIN": "29092000"}
    paths = [write_dicom(tmp_path / f"{i}.dcm", BodyPartExamined=v) for i, v in enumerate(spellings)]
    code, out = dicom_codes(db, *paths)
    got = {c["local"]: c["codings"][0]["code"] for f in json.loads(out)["files"] for c in f["codes"]
           if c["attribute"] == "BodyPartExamined" and c.get("codings")}
    assert got == spellings and code == 0
    # a draft row (a term Table L-1 does not have) is not served
    code, out = dicom_codes(db, write_dicom(tmp_path / "d.dcm", BodyPartExamined="SCSPINE"))
    assert code == 1 and [c["status"] for c in json.loads(out)["files"][0]["codes"]
                          if c["attribute"] == "BodyPartExamined"] == ["unmapped"]


def test_a_file_without_the_dicm_preamble_reads_as_pydicom_reads_it(dicom_db, tmp_path):
    rtstruct = get_testdata_file("rtstruct.dcm")   # no preamble: pydicom reads it with force=True
    code, out = dicom_codes(dicom_db, rtstruct)
    doc = json.loads(out)
    assert doc["skipped"] == [] and doc["files"][0]["study"] == "1.2.826.0.1.3680043.8.498.2010020400001.1"
    assert codes_by_attribute(doc["files"][0])["Modality"][0]["codings"][0]["code"] == "RTSTRUCT"
    (tmp_path / "text.dcm").write_bytes(b"not DICOM at all, only text\n" * 20)
    code, out = dicom_codes(dicom_db, tmp_path / "text.dcm")
    assert code == 2 and "not a DICOM file" in out


def test_imaging_study_carries_the_start_accession_subject_system_and_profile(dicom_db, tmp_path):
    path = write_dicom(tmp_path / "s.dcm", Modality="CT", StudyDate="20260521", StudyTime="143005.123",
                       TimezoneOffsetFromUTC="+0200", AccessionNumber="ACC-778")
    for edition, base in (("r5", "http://hl7.eu/fhir/imaging-r5"), ("r4", "http://hl7.eu/fhir/imaging")):
        r = CliRunner().invoke(cli, ["dicom-codes", path, "--db", dicom_db, "--fhir", edition, "--profile",
                                     "--patient-id-system", "urn:oid:1.2.3.4"])
        s = json.loads(r.output)
        assert s["meta"]["profile"] == [f"{base}/StructureDefinition/ImagingStudyEuImaging"]
        assert s["started"] == "2026-05-21T14:30:05+02:00"
        assert s["identifier"][1] == {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                            "code": "ACSN", "display": "Accession ID"}]},
                                      "value": "ACC-778"}
        assert s["subject"] == {"identifier": {"system": "urn:oid:1.2.3.4", "value": "P-0001"}}
    r = CliRunner().invoke(cli, ["dicom-codes", write_dicom(tmp_path / "t.dcm", Modality="CT", StudyDate="20260521",
                                                            StudyTime="1430"), "--db", dicom_db, "--fhir", "r5",
                                 "--setting", "patient_id_system", "urn:oid:9.9"])
    s = json.loads(r.output)
    assert "meta" not in s and s["started"] == "2026-05-21"   # a time without a zone: the date alone
    assert s["subject"]["identifier"]["system"] == "urn:oid:9.9" and len(s["identifier"]) == 1


def test_a_code_meaning_is_judged_as_validate_code_judges_a_display(dicom_db, tmp_path):
    path = write_dicom(tmp_path / "m.dcm", Modality="CT",
                       AnatomicRegionSequence=[code_item("7771000", "SCT", "Right"),        # Left, meant as Right?
                                               code_item("12738006", "SCT", "Brain")],
                       PerformedProtocolCodeSequence=[code_item("CT", "DCM", "Cat scan")])  # DCM is complete
    code, out = dicom_codes(dicom_db, path)
    by = codes_by_attribute(json.loads(out)["files"][0])
    left, brain = by["AnatomicRegionSequence"]
    assert left["status"] == "standard" and "could not be verified" in left["display_message"]
    assert "whose display is 'Left'" in left["display_message"] and "display_message" not in brain
    assert left["issues"] == [["warning", "invalid", "display-comment"]]
    # DCM is complete: $validate-code rejects the meaning, so does the check (a failure: exit status 1)
    (ct,) = by["PerformedProtocolCodeSequence"]
    assert ct["status"] == "invalid" and "Wrong Display Name 'Cat scan'" in ct["message"] and "codings" not in ct
    assert ct["issues"] == [["error", "invalid", "invalid-display"]]
    assert code == 1
