"""termsvc translate / validate / lookup / expand: in process from the database, or from --server."""
import csv
import io
import json

import pytest
from click.testing import CliRunner

from conftest import CID33, DCM, SCT
from termsvc.cli import cli

RIS_CS = "http://termsvc.example.eu/fhir/CodeSystem/ris-modality-eu"
ES_CS = "http://termsvc.example.eu/fhir/CodeSystem/es-catalogo-procedimientos-radiologia"


@pytest.fixture(params=["local", "server"])
def run(request, db_path):
    """Runs a command against the local database, or against a real server (--server)."""
    srv = request.getfixturevalue("live_server") if request.param == "server" else None

    def _run(*args, input=None):
        where = ["--db", db_path] if srv is None else ["--server", srv.base + ("/r4/fhir" if "--r4" in args else "/fhir")]
        return CliRunner().invoke(cli, [*args, *where], input=input, catch_exceptions=False)
    return _run


def test_translate_one_code(run):
    r = run("translate", "RX", "--system", RIS_CS)
    assert r.exit_code == 0
    assert "translated" in r.output
    assert f"{DCM}|DX  Digital Radiography" in r.output and f"{DCM}|CR" in r.output
    assert "source-is-broader-than-target" in r.output and "ConceptMap/ris-modality-eu|2026.1" in r.output


def test_translate_json_and_r4(run):
    r = run("translate", "RX", "--system", RIS_CS, "--json", "--r4")
    assert r.exit_code == 0
    out = json.loads(r.output)
    assert out["result"] is True
    assert [(m["code"], m["equivalence"]) for m in out["matches"]] == [("DX", "narrower"), ("CR", "narrower")]
    assert "raw" not in out


def test_translate_no_match_exits_1_with_the_reason(run):
    r = run("translate", "CONS", "--system", RIS_CS)
    assert r.exit_code == 1 and "no translation" in r.output and "deliberately not mapped" in r.output


def test_translate_with_target_system_and_map(run):
    r = run("translate", "0012", "--system", ES_CS, "--target-system", SCT,
            "--url", "http://termsvc.example.eu/fhir/ConceptMap/es-catalogo-procedimientos-radiologia", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["matches"][0]["code"] == "168537006"
    r = run("translate", "TAC", "--system", RIS_CS, "--url", "http://example.org/no-map")
    assert r.exit_code == 2 and "no-map" in r.output


def test_translate_many_from_stdin_writes_csv(run):
    r = run("translate", "--system", RIS_CS, input="TAC\n\nRX\nCONS\n  ECO  \n")
    assert r.exit_code == 1   # CONS has no translation
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [(x["source_code"], x["result"], x["target_code"]) for x in rows] == [
        ("TAC", "true", "CT"), ("RX", "true", "DX"), ("RX", "true", "CR"), ("CONS", "false", ""), ("ECO", "true", "US")]
    assert rows[0]["map"].endswith("ris-modality-eu|2026.1") and rows[0]["relationship"] == "equivalent"
    assert "deliberately not mapped" in rows[3]["message"]


def test_translate_many_from_a_csv_column_keeps_codes_as_written(run, tmp_path):
    f = tmp_path / "orders.csv"
    f.write_bytes("\ufeffid;Código;urv\n1;0012;1.10\n2;0013;1.20\n3;0012;1.10\n".encode("utf-8"))
    r = run("translate", "--system", ES_CS, "--input", str(f), "--column", "código")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [x["source_code"] for x in rows] == ["0012", "0013", "0012"]
    assert all(x["target_code"] == "168537006" for x in rows)
    r = run("translate", "--system", ES_CS, "--input", str(f), "--column", "codigo_x")
    assert r.exit_code == 2 and "no column 'codigo_x'" in r.output
    r = run("translate", "--system", ES_CS, "--input", str(f), "--column", "Código", "--json")
    assert [x["source_code"] for x in json.loads(r.output)] == ["0012", "0013", "0012"]


def test_validate(run):
    r = run("validate", "CT", "--system", DCM)
    assert r.exit_code == 0 and "valid in" in r.output and "Computed Tomography" in r.output
    r = run("validate", "XX", "--system", DCM, "--valueset", CID33)
    assert r.exit_code == 1 and "invalid" in r.output and "XX" in r.output
    r = run("validate", "CT", "--system", DCM, "--display", "Cat scan", "--json")
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["result"] is False and any("Cat scan" in i["text"] for i in out["issues"])
    r = run("validate", "CT")
    assert r.exit_code == 2 and "--system" in r.output
    r = run("validate", "168537006", "--system", "http://snomed.info/sct", "--valueset",
            "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type")   # an is-a over DICOM's SNOMED CT subset
    assert r.exit_code == 2 and "cannot be judged in" in r.output and "--snomed" in r.output


def test_lookup(run):
    r = run("lookup", "CT", "--system", DCM)
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == f"{DCM}|CT  Computed Tomography"
    assert "DICOMControlledTerminology" in r.output
    r = run("lookup", "CT", "--system", "http://example.org/unknown", "--json")
    assert r.exit_code == 2 and "unknown" in r.output


def test_expand(run):
    r = run("expand", CID33, "--limit", "5", "--page-size", "2")
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert len(lines) == 5 and all(line.startswith(DCM + "|") for line in lines)
    r = run("expand", CID33, "--filter", "computed", "--json")
    assert any(c["code"] == "CT" for c in json.loads(r.output))
    r = run("expand", "http://example.org/no-value-set")
    assert r.exit_code == 2 and "no-value-set" in r.output


def test_no_database_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(cli, ["lookup", "CT", "--system", DCM, "--db", str(tmp_path / "none.db")])
    assert r.exit_code == 2 and "no database" in r.output


def test_unreachable_server_is_a_clear_error():
    from conftest import free_port
    r = CliRunner().invoke(cli, ["lookup", "CT", "--system", DCM, "--server", f"http://127.0.0.1:{free_port()}/fhir"])
    assert r.exit_code == 2 and "Cannot reach" in r.output


IM_PROCEDURE_TYPE = "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type"   # an is-a over DICOM's SCT subset


def test_validate_against_a_value_set_by_id_or_url_infers_the_system(run):
    r = run("validate", "CT", "--valueset", "dicom-cid-33")
    assert r.exit_code == 0 and r.output.startswith(f"{DCM}|CT 'Computed Tomography': valid in dicom-cid-33")
    r = run("validate", "CT", "--valueset", CID33, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["system"] == DCM and json.loads(r.output)["verdict"] == "valid"
    r = run("validate", "XX", "--valueset", "dicom-cid-33")
    assert r.exit_code == 1 and ": invalid in dicom-cid-33" in r.output
    for shorthand in ("CID 33", "CID-33", "cid33"):      # a DICOM context group as DICOM writes it
        r = run("validate", "CT", "--valueset", shorthand)
        assert r.exit_code == 0 and f"valid in {shorthand}" in r.output
    r = run("validate", "CT", "--valueset", "CID 99999")   # no such context group: a clear error
    assert r.exit_code == 2 and "sect_CID_99999.html" in r.stderr
    r = run("validate", "CT", "--valueset", "no-such-value-set")
    assert r.exit_code == 2 and "ValueSet/no-such-value-set not found" in r.stderr


def test_validate_says_when_it_cannot_be_judged_and_why(run):
    r = run("validate", "168537006", "--system", SCT, "--valueset", IM_PROCEDURE_TYPE, "--json")
    out = json.loads(r.output)
    assert r.exit_code == 2 and out["verdict"] == "cannot-judge" and out["result"] is False
    assert "cannot be evaluated" in out["reason"] and "--snomed" in out["reason"]
    r = run("validate", "73211009", "--system", SCT)       # not in the fragment: HL7 says result true
    assert r.exit_code == 2 and "cannot be judged in" in r.output and "fragment" in r.output
    r = run("validate", "1", "--system", "http://example.org/unknown-system")
    assert r.exit_code == 2 and "could not be found" in r.output


def test_lookup_of_a_code_not_in_its_code_system_is_a_no_without_http(run):
    r = run("lookup", "NOPE", "--system", DCM)
    assert r.exit_code == 1 and r.output.startswith(f"{DCM}|NOPE: not found: Unknown code 'NOPE'")
    assert "HTTP" not in r.output and "404" not in r.output
    r = run("lookup", "NOPE", "--system", DCM, "--json")
    assert r.exit_code == 1 and json.loads(r.output)["found"] is False
    r = run("lookup", "73211009", "--system", SCT)           # a fragment cannot say it does not exist
    assert r.exit_code == 2 and "may be valid in some other fragment" in r.stderr
    r = run("lookup", "999999999", "--system", SCT)          # not a possible SNOMED CT identifier: a no
    assert r.exit_code == 1 and "not a valid SNOMED CT concept identifier" in r.output


def test_lookup_and_validate_from_the_database_never_mention_http(db_path):
    for args, says in ((["lookup", "x", "--system", "http://example.org/unknown"],
                        "A definition for CodeSystem http://example.org/unknown could not be found"),
                       (["expand", "http://example.org/none"], "value Set 'http://example.org/none' could not be found"),
                       (["validate", "CT", "--valueset", "none"], "ValueSet/none not found"),
                       (["translate", "CT", "--url", "http://example.org/none"],
                        "ConceptMap 'http://example.org/none' could not be found")):
        r = CliRunner().invoke(cli, [*args, "--db", db_path])
        assert r.exit_code == 2 and "HTTP" not in r.output and "404" not in r.output, r.output
        assert r.stderr.startswith("termsvc: error: ") and says in r.stderr, r.stderr


def test_expand_of_an_unclosed_value_set_says_so_and_exits_2(run):
    r = run("expand", IM_PROCEDURE_TYPE)
    assert r.exit_code == 2
    assert "valueset-unclosed" in r.stderr and "is-a 363679005" in r.stderr and "fragment" in r.stderr
    r = run("expand", "dicom-cid-33", "--limit", "3")
    assert r.exit_code == 0 and r.stderr == "" and len(r.output.splitlines()) == 3
