"""`termsvc dicom-codes` with tables whose rows hold under conditions on the header (depends_on:
`Modality=CT`, `Laterality=L`): the file's values of those attributes go with each translation as
$translate's `dependency`, so the row of another modality or side is left out."""
import json

import pytest
from click.testing import CliRunner

from conftest import QUIET
from termsvc.build import SourceSpec, build
from termsvc.cli import cli
from test_dicom_codes import codes_by_attribute, write_dicom

SCT = "http://snomed.info/sct"
DESCRIPTIONS = """source_code,target_code,target_display,relationship,depends_on,status
Knie,241620005,CT of knee,equivalent,Modality=CT,accepted
Knie,241659001,MRI of knee,equivalent,Modality=MR,accepted
Knie re,241620005,CT of knee,source-is-narrower-than-target,Modality=CT; Laterality=R,accepted
Schulter,16310003,Ultrasonography,source-is-narrower-than-target,,accepted
"""
DESCRIPTIONS_TOML = """url = "http://example.org/ConceptMap/descriptions-by-modality"
version = "1"
source_system = "http://example.org/CodeSystem/descriptions"
target_system = "http://snomed.info/sct"
dicom_attributes = ["StudyDescription"]
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """DICOM and a table of study descriptions by modality (the build fails on an accepted row in error: the
    two Knie rows, equivalent to two targets under exclusive modalities, are no conflict)."""
    root = tmp_path_factory.mktemp("dicom-context")
    maps = root / "maps"
    maps.mkdir()
    (maps / "descriptions.csv").write_text(DESCRIPTIONS)
    (maps / "descriptions.toml").write_text(DESCRIPTIONS_TOML)
    path = str(root / "t.db")
    build(path, [SourceSpec("dicom"), SourceSpec("mappings", str(maps))], QUIET, preexpand=False)
    return path


def description_codes(db, path, *source) -> list:
    r = CliRunner().invoke(cli, ["dicom-codes", path, *(source or ("--db", db))])
    report = json.loads(r.output[r.output.index("{"):r.output.rindex("}") + 1])
    [entry] = codes_by_attribute(report["files"][0])["StudyDescription"]
    return [c["code"] for c in entry.get("codings", [])]


def test_the_headers_modality_and_laterality_choose_the_row(db, tmp_path):
    ct = write_dicom(tmp_path / "ct.dcm", Modality="CT", StudyDescription="Knie")
    mr = write_dicom(tmp_path / "mr.dcm", Modality="MR", StudyDescription="Knie")
    assert description_codes(db, ct) == ["241620005"]
    assert description_codes(db, mr) == ["241659001"]
    # a header that does not say the modality: neither condition can be judged, both rows stand
    none = write_dicom(tmp_path / "none.dcm", StudyDescription="Knie")
    assert description_codes(db, none) == ["241620005", "241659001"]
    # two conditions: both must hold
    right = write_dicom(tmp_path / "right.dcm", Modality="CT", Laterality="R", StudyDescription="Knie re")
    left = write_dicom(tmp_path / "left.dcm", Modality="CT", Laterality="L", StudyDescription="Knie re")
    assert description_codes(db, right) == ["241620005"] and description_codes(db, left) == []
    # a row without conditions holds whatever the header says
    shoulder = write_dicom(tmp_path / "shoulder.dcm", Modality="MR", StudyDescription="Schulter")
    assert description_codes(db, shoulder) == ["16310003"]


@pytest.mark.parametrize("endpoint", ["/fhir", "/r4/fhir"])
def test_a_server_answers_the_same(db, tmp_path, server_factory, endpoint):
    """The R4 endpoint's maps keep their conditions (R5's additionalAttribute in the cross-version extension)."""
    srv = server_factory(db)
    for modality, expected in (("CT", ["241620005"]), ("MR", ["241659001"])):
        path = write_dicom(tmp_path / f"{modality}.dcm", Modality=modality, StudyDescription="Knie")
        assert description_codes(db, path, "--server", srv.base + endpoint) == expected

