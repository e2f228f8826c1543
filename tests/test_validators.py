"""`termsvc ig-report` and `termsvc check-resource` (issue 13, items 6 and 7), on the default build
(SNOMED CT and LOINC as DICOM's fragments) and on a build with synthetic SNOMED CT and LOINC
releases. The resources are written after the IG's examples."""
import copy
import json

import pytest
from click.testing import CliRunner

from synthetic_releases import write_loinc_release, write_snomed_release
from termsvc.bindings.facts import BINDINGS
from termsvc.build import Progress, SourceSpec, build
from termsvc.cli import cli

R5 = "http://hl7.eu/fhir/imaging-r5"
R4 = "http://hl7.eu/fhir/imaging"
SCT, LOINC, DCM = "http://snomed.info/sct", "http://loinc.org", "http://dicom.nema.org/resources/ontology/DCM"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
PART = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
EHDS = "http://hl7.eu/fhir/eu-health-data-api/CodeSystem/eehrxf-document-priority-category-cs"


def cc(system, code, display=None):
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return {"coding": [c]}


def profile(name, base=R5):
    return {"profile": [f"{base}/StructureDefinition/{name}"]}


# -- resources after the IG's examples (R5) --------------------------------------------------------
REPORT = {"resourceType": "DiagnosticReport", "id": "report-ct-chest", "meta": profile("DiagnosticReportEuImaging"),
          "status": "final",
          "category": [cc(EHDS, "Medical-Imaging"), cc(LOINC, "85430-7"), cc(V2_0074, "RAD", "Radiology")],
          "code": cc(LOINC, "18748-4", "Diagnostic imaging study"),
          "note": [{"text": "history", "extension": [{"url": f"{R5}/StructureDefinition/annotation-type",
                                                      "valueCodeableConcept": cc(LOINC, "11329-0")}]}]}
COMPOSITION = {"resourceType": "Composition", "id": "composition-ct-chest", "status": "final",
               "type": cc(LOINC, "85430-7"), "category": [cc(V2_0074, "RAD")], "title": "CT chest",
               "attester": [{"mode": cc("http://hl7.org/fhir/composition-attestation-mode", "legal")}],
               "section": [{"title": "Comparison", "code": cc(LOINC, "18834-2"),
                            "emptyReason": cc("http://terminology.hl7.org/CodeSystem/list-empty-reason", "unavailable")}]}
STUDY = {"resourceType": "ImagingStudy", "id": "study-ct", "status": "available", "subject": {"reference": "Patient/p"},
         "modality": [cc(DCM, "CT")],
         "series": [{"uid": "1.2.3", "modality": cc(DCM, "CT"), "laterality": cc(SCT, "24028007"),
                     "performer": [{"function": cc(PART, "PRF"), "actor": {"reference": "Practitioner/r"}},
                                   {"function": cc(PART, "CST"), "actor": {"reference": "Organization/o"}}]}]}
PROCEDURE = {"resourceType": "Procedure", "id": "procedure-ct", "status": "completed",
             "subject": {"reference": "Patient/p"}, "code": cc(SCT, "77477000")}
ORDER = {"resourceType": "ServiceRequest", "id": "order-ct", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p"}, "code": cc(SCT, "169069000"),
         "category": [cc(SCT, "363679005")]}
DOCREF = {"resourceType": "DocumentReference", "id": "report-docref", "status": "current",
          "type": cc(LOINC, "85430-7"), "bodySite": [{"concept": cc(SCT, "67734004")}],
          "modality": [cc(DCM, "CT")], "content": [{"attachment": {"contentType": "application/pdf"}}]}
DEVICE = {"resourceType": "Device", "id": "ct-scanner", "type": [cc(SCT, "57134006")]}
RESOURCES = [REPORT, COMPOSITION, STUDY, PROCEDURE, ORDER, DOCREF, DEVICE]


@pytest.fixture
def runner(monkeypatch, tmp_path):
    (tmp_path / "empty-config.toml").write_text("")
    monkeypatch.setenv("TERMSVC_CONFIG", str(tmp_path / "empty-config.toml"))
    return CliRunner()


@pytest.fixture(scope="module")
def released_db(tmp_path_factory):
    """The IG, DICOM, THO (for the core value sets' code systems) and synthetic SNOMED CT and LOINC."""
    root = tmp_path_factory.mktemp("released")
    db = str(root / "t.db")
    build(db, [SourceSpec("ig"), SourceSpec("package", "hl7.fhir.r5.core#5.0.0"), SourceSpec("dicom"),
               SourceSpec("snomed", write_snomed_release(str(root / "s"))),
               SourceSpec("loinc", write_loinc_release(str(root / "l")))], Progress(quiet=True), preexpand=False)
    return db


def ig_report(runner, db, *args):
    r = runner.invoke(cli, ["ig-report", "--db", db, "--json", *args])
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.output)


def row(report, edition, profile_name, path):
    (found,) = [b for b in report["bindings"] if b["edition"] == edition and b["profile"] == profile_name
                and b["path"] == path]
    return found


# -- ig-report ---------------------------------------------------------------------------------------

def test_the_facts_hold_every_binding_of_both_editions():
    ig = [b for b in BINDINGS if b.profile is not None]
    assert len(ig) == 39
    assert {b.edition for b in ig} == {"R4", "R5"}
    # FHIR core's bindings are not facts: they are read from the core StructureDefinitions of the build
    assert [(b.edition, b.resource_type, b.path) for b in BINDINGS if b.profile is None] == [
        ("R4", "DocumentReference", "extension[modality].valueCodeableConcept")]


def test_ig_report_on_the_default_build(runner, db_path, tmp_path):
    code, report = ig_report(runner, db_path, "--html", str(tmp_path / "r.html"))
    assert code == 0 and report["required_checkable"] is True   # the required bindings are enumerations
    ig_rows = [b for b in report["bindings"] if not b["core"]]
    assert len(ig_rows) == len(BINDINGS)
    core = {(b["edition"], b["resource_type"], b["path"]): b for b in report["bindings"] if b["core"]}
    # read from hl7.fhir.r5.core's StructureDefinitions, R4 where its binding differs
    assert core[("R5", "ImagingStudy", "status")]["value_set"] == "http://hl7.org/fhir/ValueSet/imagingstudy-status|5.0.0"
    assert core[("R5", "ServiceRequest", "intent")]["verdict"] == "fully checkable"
    assert core[("R4", "ImagingStudy", "modality")]["value_set"].endswith("sect_CID_29.html")
    assert "(the codes of FHIR R4)" in core[("R4", "DiagnosticReport", "status")]["value_set"]
    assert core[("R5", "ImagingStudy", "language")]["verdict"] == "not checkable"   # BCP-47, a grammar
    assert ("R5", "ImagingStudy", "series.laterality") not in core                  # an example binding
    proc = row(report, "R5", "ProcedureEuImaging", "code")
    assert proc["value_set"] == f"{R5}/ValueSet/im-procedure-type" and proc["strength"] == "extensible"
    assert proc["verdict"] == "not checkable"
    need, exclude = proc["needs"]
    assert (need["system"], need["role"], need["held"], need["version"]) == (SCT, "include", "fragment",
                                                                           "dicom-2024c-fragment")
    assert (exclude["role"], exclude["how"], exclude["problem"]) == ("exclude", "1 listed code(s)", None)
    assert "is-a 363679005" in proc["cannot_judge"][0] and "--snomed" in proc["to_load"][0]
    report_type = row(report, "R4", "DiagnosticReportEuImaging", "code")
    assert report_type["value_set"] == f"{R4}/ValueSet/ImagingReportTypesEuVSEuImaging"
    assert report_type["verdict"] == "not checkable" and "--loinc" in report_type["to_load"][0]
    anatomy = row(report, "R5", "AnatomicalRegionExtension", "valueCodeableConcept")
    assert anatomy["verdict"] == "fully checkable" and anatomy["needs"][0]["held"] == "fragment"
    xver = next(b for b in report["bindings"] if "R5-dicom-cid-33" in b["value_set"])
    assert xver["verdict"] == "not checkable" and xver["value_set_loaded"] is False
    assert "xver" in xver["to_load"][0]
    html = (tmp_path / "r.html").read_text()
    assert html.count("<tr>") == len(report["bindings"]) + 1 and "im-procedure-type" in html
    text = runner.invoke(cli, ["ig-report", "--db", db_path]).output
    assert f"{len(report['bindings'])} bindings:" in text and "required bindings checkable: 9/9 (FHIR core: " in text


def test_ig_report_exits_1_when_a_required_binding_cannot_be_checked(runner, tmp_path):
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("ig"), SourceSpec("dicom")], Progress(quiet=True), preexpand=False)
    code, report = ig_report(runner, db)
    assert code == 1 and report["required_checkable"] is False
    sections = row(report, "R5", "CompositionEuImaging", "category[diagnostic-service]")
    assert sections["verdict"] == "not checkable" and "not loaded" in sections["cannot_judge"][0]


def test_with_releases_the_intensional_bindings_turn_checkable(runner, released_db):
    code, report = ig_report(runner, released_db)
    for edition in ("R4", "R5"):
        for name, path in (("ProcedureEuImaging", "code"), ("DeviceEuImaging", "type"),
                           ("DiagnosticReportEuImaging", "code"), ("ServiceRequestOrderEuImaging", "code")):
            r = row(report, edition, name, path)
            assert r["verdict"] == "fully checkable", r
            need = r["needs"][0]
            assert need["held"] == "complete" and need["version"] in (
                "http://snomed.info/sct/900000000000207008/version/20250701", "2.80")


# -- check-resource ------------------------------------------------------------------------------------

def write(tmp_path, name, resource):
    p = tmp_path / name
    p.write_text(json.dumps(resource))
    return str(p)


def check(runner, db, *paths, args=()):
    r = runner.invoke(cli, ["check-resource", "--db", db, "--json", *args, *paths])
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.output)


def findings(out, severity=None):
    return [(f["location"], f["severity"], f["value_set"].rsplit("/", 1)[-1]) for f in out["findings"]
            if severity is None or f["severity"] == severity]


def test_the_resources_pass_on_the_default_build_and_say_what_cannot_be_judged(runner, db_path, tmp_path):
    paths = [write(tmp_path, f"{r['id']}.json", r) for r in RESOURCES]
    code, out = check(runner, db_path, *paths)
    assert code == 0 and out["counts"]["error"] == 0
    assert len(out["resources"]) == len(RESOURCES)
    info = findings(out, "information")
    # the intensional bindings over the fragments: said, never an error
    for where, vs in (("Procedure.code", "im-procedure-type"), ("Device.type[0]", "DeviceEuImagingType"),
                      ("DiagnosticReport.code", "ImagingReportTypesEuVSEuImaging")):
        assert (where, "information", vs) in info
    (proc,) = [f for f in out["findings"] if f["location"] == "Procedure.code"]
    assert "cannot be judged" in proc["message"] and "--snomed" in proc["message"]
    assert proc["strength"] == "extensible" and proc["profile"] == "ProcedureEuImaging" and proc["edition"] == "R5"


def test_required_extensible_preferred_and_example_findings(runner, db_path, tmp_path):
    report = copy.deepcopy(REPORT)
    report["category"][2] = cc(V2_0074, "XYZ")                       # required: not in the value set
    study = copy.deepcopy(STUDY)
    study["series"][0]["performer"][0]["function"] = cc(PART, "ADM")   # extensible: valid, outside
    study["series"][0]["performer"][1]["function"] = cc(PART, "NOPE")  # extensible: no such code
    composition = copy.deepcopy(COMPOSITION)
    composition["section"][0]["emptyReason"] = cc(V2_0074, "RAD")     # preferred: outside
    docref = copy.deepcopy(DOCREF)
    docref["bodySite"] = [{"concept": cc(SCT, "123456001")}]            # extensible enumeration
    docref["extension"] = [{"url": f"{R5}/StructureDefinition/im-anatomical-region",   # required, on the extension
                            "valueCodeableConcept": cc(SCT, "80891009")},
                           {"url": f"{R5}/StructureDefinition/AnatomicalRegionExtension",
                            "valueCodeableConcept": cc(SCT, "123456001")}]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in (report, study, composition, docref)]}
    code, out = check(runner, db_path, write(tmp_path, "bundle.json", bundle))
    assert code == 1
    got = findings(out)
    assert ("DiagnosticReport.category[2]", "error", "diagnostic-service-sections") in got
    assert ("ImagingStudy.series[0].performer[0].function", "warning", "im-imaging-study-performer-type") in got
    assert ("ImagingStudy.series[0].performer[1].function", "error", "im-imaging-study-performer-type") in got
    assert ("Composition.section[0].emptyReason", "information", "SectionEmptyReasonEuImaging") in got
    assert ("DocumentReference.bodySite[0].concept", "warning", "im-anatomical-region-valueset") in got
    assert ("DocumentReference.extension[1].valueCodeableConcept", "error", "im-anatomical-region-valueset") in got
    assert not any(loc.startswith("DocumentReference.extension[0]") for loc, _, _ in got)
    # another slice's coding: not judged against this slice's value set (its code system is not loaded: the
    # code itself cannot be judged, said as information)
    (other,) = [f for f in out["findings"] if f["location"] == "DiagnosticReport.category[0]"]
    assert other["severity"] == "information" and other["message"].startswith(
        f"cannot be judged: A definition for CodeSystem '{EHDS}' could not be found")
    required, unknown = [f for f in out["findings"] if f["location"] == "DiagnosticReport.category[2]"]
    assert required["codes"] == [f"{V2_0074}#XYZ"] and required["strength"] == "required"
    assert unknown["severity"] == "error" and unknown["message"].startswith(f"Unknown code 'XYZ' in the CodeSystem"
                                                                            f" '{V2_0074}'")   # (no code at all)
    text = runner.invoke(cli, ["check-resource", "--db", db_path, str(tmp_path / "bundle.json")])
    assert text.exit_code == 1 and "error       DiagnosticReport.category[2] [required]" in text.output


def test_an_r4_resource_is_checked_against_the_r4_edition(runner, db_path, tmp_path):
    study = {"resourceType": "ImagingStudy", "id": "r4-study", "meta": profile("ImagingStudyEuImaging", R4),
             "status": "available", "subject": {"reference": "Patient/p"},
             "modality": [{"system": DCM, "code": "CT"}, {"system": DCM, "code": "NOTAMODALITY"}],
             "series": [{"uid": "1", "modality": {"system": DCM, "code": "MR"},
                         "performer": [{"function": cc(PART, "PRF"), "actor": {"reference": "Practitioner/r"}}]}]}
    code, out = check(runner, db_path, write(tmp_path, "s.json", study))
    assert code == 1
    assert {f["edition"] for f in out["findings"]} == {"R4"}
    note, outside, bad = out["findings"]
    assert note["severity"] == "information" and "FHIR R5 core definitions" in note["message"]
    # extensible: outside the value set is a warning; no such code, an error of its own
    assert (outside["location"], outside["severity"]) == ("ImagingStudy.modality[1]", "warning")
    assert (bad["location"], bad["severity"]) == ("ImagingStudy.modality[1]", "error")
    assert bad["value_set"].endswith("sect_CID_29.html") and "Unknown code 'NOTAMODALITY'" in bad["message"]
    assert bad["issues"] == [["error", "code-invalid", "invalid-code"]]
    code, out = check(runner, db_path, write(tmp_path, "s.json", {**study, "meta": {}}), args=["--fhir-version", "R4"])
    assert {f["location"] for f in out["findings"] if f["severity"] != "information"} == {"ImagingStudy.modality[1]"}


def test_unreadable_input_exits_2(runner, db_path, tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    r = runner.invoke(cli, ["check-resource", "--db", db_path, str(tmp_path / "bad.json")])
    assert r.exit_code == 2 and "bad.json" in r.output
    (tmp_path / "plain.json").write_text("[1, 2]")
    assert runner.invoke(cli, ["check-resource", "--db", db_path, str(tmp_path / "plain.json")]).exit_code == 2
    assert runner.invoke(cli, ["check-resource", "--db", db_path, str(tmp_path / "missing.json")]).exit_code == 2
    # a Bundle entry's resource without a resourceType is not checked as a resource of no type ('None/x')
    write(tmp_path, "bundle.json", {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": {"resourceType": "Patient"}}, {"resource": {"id": "x"}}]})
    r = runner.invoke(cli, ["check-resource", "--db", db_path, str(tmp_path / "bundle.json")])
    assert r.exit_code == 2 and "bundle.json: entry[1].resource is not a FHIR resource" in r.output


def test_with_releases_the_answers_are_definite(runner, released_db, tmp_path):
    procedure = copy.deepcopy(PROCEDURE)
    device = copy.deepcopy(DEVICE)
    device["type"] = [cc(SCT, "77477000")]     # a procedure, not imaging equipment: extensible, valid code
    report = copy.deepcopy(REPORT)
    code, out = check(runner, released_db, *[write(tmp_path, f"{r['id']}.json", r) for r in (procedure, device, report)])
    got = findings(out)
    assert not any(loc == "Procedure.code" for loc, _, _ in got)                # 77477000 is-a 363679005
    assert ("Device.type[0]", "warning", "DeviceEuImagingType") in got
    assert not any("cannot be judged" in f["message"] for f in out["findings"] if f["location"] in
                   ("Procedure.code", "Device.type[0]", "DiagnosticReport.code"))
    # a code the (complete) release does not have is no code: the synthetic LOINC release has neither
    assert {(f["location"], f["message"]) for f in out["findings"] if f["severity"] == "error"} == {
        ("DiagnosticReport.category[1]", "Unknown code '85430-7' in the CodeSystem 'http://loinc.org' version '2.80'"),
        ("DiagnosticReport.note[0].extension[0].valueCodeableConcept",
         "Unknown code '11329-0' in the CodeSystem 'http://loinc.org' version '2.80'")}
    assert code == 1


# -- FHIR core bindings from the core StructureDefinitions; codes and displays as $validate-code says ------

def core_errors(out):
    return {(f["location"], f["codes"][0]) for f in out["findings"] if f["severity"] == "error"}


@pytest.mark.parametrize("base", [R5, R4])
def test_core_required_bindings_of_both_editions(runner, db_path, tmp_path, base):
    study = {**copy.deepcopy(STUDY), "status": "done", "meta": profile("ImagingStudyEuImaging", base)}
    report = {**copy.deepcopy(REPORT), "status": "finished", "meta": profile("DiagnosticReportEuImaging", base)}
    order = {**copy.deepcopy(ORDER), "intent": "command", "meta": profile("ServiceRequestOrderEuImaging", base),
             "identifier": [{"use": "everyday", "value": "1"}]}                 # a data type's binding too
    if base == R4:
        study["series"][0]["modality"] = {"system": DCM, "code": "CT"}        # R4: a Coding
        study["modality"] = [{"system": DCM, "code": "CT"}]
    code, out = check(runner, db_path, *[write(tmp_path, f"{r['id']}.json", r) for r in (study, report, order)])
    assert code == 1
    assert core_errors(out) == {("ImagingStudy.status", "done"), ("DiagnosticReport.status", "finished"),
                                ("ServiceRequest.intent", "command"), ("ServiceRequest.identifier[0].use", "everyday")}
    (status,) = [f for f in out["findings"] if f["location"] == "ImagingStudy.status"]
    assert status["strength"] == "required" and status["profile"] is None
    assert status["value_set"] == "http://hl7.org/fhir/ValueSet/imagingstudy-status|5.0.0"
    assert status["message"] == ("'done' is not a code of the value set"
                                 " 'http://hl7.org/fhir/ValueSet/imagingstudy-status|5.0.0'")


def test_r4_codes_where_r5_differs(runner, db_path, tmp_path):
    """R4 is judged with R5's definitions except where its binding differs: R5-only codes are errors on
    R4 resources, codes R5 dropped are not."""
    report = {**copy.deepcopy(REPORT), "status": "modified"}          # R5 added 'modified'
    device = {**copy.deepcopy(DEVICE), "status": "unknown"}           # R5 dropped 'unknown'
    for r in (report, device):
        r.pop("meta", None)
    paths = [write(tmp_path, f"{r['id']}.json", r) for r in (report, device)]
    _, r5 = check(runner, db_path, *paths, args=["--fhir-version", "R5"])
    assert core_errors(r5) == {("Device.status", "unknown")}
    _, r4 = check(runner, db_path, *paths, args=["--fhir-version", "R4"])
    assert core_errors(r4) == {("DiagnosticReport.status", "modified")}
    (modified,) = [f for f in r4["findings"] if f["location"] == "DiagnosticReport.status"]
    assert "is not a code of http://hl7.org/fhir/diagnostic-report-status in FHIR R4" in modified["message"]


def test_displays_and_identifiers_are_judged_as_validate_code_judges_them(runner, db_path, tmp_path):
    study = copy.deepcopy(STUDY)
    study["series"][0]["laterality"] = cc(SCT, "7771000", "Right")            # Left, shown as Right
    study["series"][0]["bodySite"] = {"concept": cc(SCT, "816094009", "Kidney")}
    order = copy.deepcopy(ORDER)
    order["code"] = {"concept": cc(SCT, "71615007")}                          # a typo: the check digit
    paths = [write(tmp_path, f"{r['id']}.json", r) for r in (study, order)]
    code, out = check(runner, db_path, *paths)
    by_location = {f["location"]: f for f in out["findings"] if f["severity"] != "information"}
    swap = by_location["ImagingStudy.series[0].laterality"]
    assert swap["severity"] == "warning" and "the display 'Right' is not one of its displays ('Left')" in swap["message"]
    assert "could not be verified" in swap["message"]       # what $validate-code says over DICOM's fragment
    assert swap["message"].endswith("'Right' is the display of 24028007: a swapped code?")   # CID 244's Right
    assert "('Chest')" in by_location["ImagingStudy.series[0].bodySite"]["message"]
    typo = by_location["ServiceRequest.code"]
    assert typo["severity"] == "error" and typo["message"].endswith(
        "The code '71615007' is not a valid SNOMED CT concept identifier: the check digit is wrong")
    assert code == 1
    for args in (["--strict-displays"], ["--setting", "strict_displays", "true"]):
        _, strict = check(runner, db_path, paths[0], args=args)
        assert {f["location"] for f in strict["findings"] if f["severity"] == "error"} == {
            "ImagingStudy.series[0].laterality", "ImagingStudy.series[0].bodySite"}
