"""Hostile files for the tools that read from disk (issue h34): `termsvc dicom-codes` (DICOM headers) and
`termsvc check-resource` (FHIR resources). A file that cannot be read is said with its reason, one line
each on stderr, and the rest is read and reported all the same - never a traceback, a hang, or memory
beyond a bound (the DICOM reader runs under an address-space limit here)."""
import json
import os
import re
import resource
import struct
import subprocess
import zlib

import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

from conftest import QUIET, TERMSVC_BIN
from termsvc.build import SourceSpec, build
from test_dicom_codes import write_dicom

ADDRESS_SPACE = 3 << 30   # the dicom-codes process may map this much: a bomb inflated whole would not fit


def run(*args, timeout=300, limit_memory=False):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    r = subprocess.run([TERMSVC_BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       preexec_fn=limit if limit_memory else None)
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    return r


# -- DICOM ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dicom_db(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("dicom") / "dicom.db")
    build(db, [SourceSpec("dicom")], QUIET, preexpand=False)
    return db


def dicom_bytes(tmp_path, transfer_syntax=ExplicitVRLittleEndian, **attrs) -> bytes:
    path = write_dicom(tmp_path / f"{generate_uid()}.dcm", transfer_syntax=transfer_syntax, **attrs)
    return open(path, "rb").read()


def element(group: int, elem: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    """An Explicit VR Little Endian element (`length`: the length it claims, when not its value's)."""
    n = len(value) if length is None else length
    if vr in (b"OB", b"SQ", b"UT", b"UN"):
        return struct.pack("<HH", group, elem) + vr + b"\0\0" + struct.pack("<I", n) + value
    return struct.pack("<HH", group, elem) + vr + struct.pack("<H", n) + value


def nested_sequences(depth: int) -> bytes:
    """Request Attributes Sequences (undefined length) nested `depth` deep."""
    sq = struct.pack("<HH", 0x0040, 0x0275) + b"SQ\0\0" + struct.pack("<I", 0xFFFFFFFF)
    item, item_end = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF), struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    code = element(0x0008, 0x0100, b"SH", b"X1") + element(0x0008, 0x0102, b"SH", b"LO")
    return (sq + item) * depth + code + (item_end + seq_end) * depth


def deflate_bomb(tmp_path, gib: int) -> bytes:
    """A Deflated Explicit VR Little Endian file whose dataset inflates to `gib` GiB (a private OB element of
    zeros after the study's attributes), a few MB on disk."""
    whole = dicom_bytes(tmp_path, DeflatedExplicitVRLittleEndian)
    group_length = struct.unpack("<I", whole[140:144])[0]   # (0002,0000) UL: the meta's length after it
    meta = whole[:144 + group_length]
    head = (element(0x0008, 0x0060, b"CS", b"CT") + element(0x0020, 0x000D, b"UI", b"1.2.3.4\0")
            + element(0x0009, 0x1010, b"OB", b"", length=gib << 30))
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head + mib) + c.flush(zlib.Z_SYNC_FLUSH)
    block = c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH)
    return meta + first + block * ((gib << 10) - 1) + c.flush()


def test_hostile_dicom_files_are_skipped_with_their_reason_and_the_rest_reported(dicom_db, tmp_path):
    d = tmp_path / "files"
    (d / "sub").mkdir(parents=True)
    good = dicom_bytes(tmp_path, StudyDescription="CT head")
    (d / "good.dcm").write_bytes(good)
    (d / "deflated.dcm").write_bytes(dicom_bytes(tmp_path, DeflatedExplicitVRLittleEndian, StudyDescription="deflated"))
    (d / "text.dcm").write_bytes(b"just some text\n" * 20)
    (d / "truncated.dcm").write_bytes(good[:-5])
    (d / "long-value.dcm").write_bytes(good + element(0x0008, 0x1030, b"UT", b"abc", length=0xFFFFFFFE))
    (d / "long-private.dcm").write_bytes(good + element(0x0009, 0x1010, b"OB", b"abc", length=0xFFFFFFFE))
    (d / "nested.dcm").write_bytes(good + nested_sequences(1000))
    (d / "bomb.dcm").write_bytes(deflate_bomb(tmp_path, 3))
    os.mkfifo(d / "fifo.dcm")
    os.symlink("nowhere.dcm", d / "dangling.dcm")
    os.symlink("loop-b.dcm", d / "loop-a.dcm")
    os.symlink("loop-a.dcm", d / "loop-b.dcm")
    os.symlink("..", d / "sub" / "up")   # a folder link back up: not followed
    r = run("dicom-codes", d, "--db", dicom_db, limit_memory=True)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert sorted(os.path.basename(f["file"]) for f in report["files"]) == ["deflated.dcm", "good.dcm"]
    reasons = {os.path.basename(s["file"]): s["reason"] for s in report["skipped"]}
    expected = {
        "text.dcm": "not a DICOM file",
        # (its last element a UID of generate_uid()'s, 58-64 characters: the count varies, the words do not)
        "truncated.dcm": "truncated or damaged DICOM: the file ends inside an element: ",
        "long-value.dcm": "the file ends inside an element: 4294967294 bytes wanted",
        "long-private.dcm": "an element runs past the end of the file",
        "nested.dcm": "sequences nested too deep",
        "bomb.dcm": "the deflated dataset inflates to more than 67,108,864 bytes before its pixel data",
        "fifo.dcm": "not a regular file (a fifo)",
        "dangling.dcm": "unreadable DICOM: [Errno 2]",
        "loop-a.dcm": "unreadable DICOM: [Errno 40]",
        "loop-b.dcm": "unreadable DICOM: [Errno 40]",
    }
    assert set(reasons) == set(expected)
    for name, reason in expected.items():
        assert reason in reasons[name], (name, reasons[name])
    assert re.search(r"element: \d+ bytes wanted at byte \d+, \d+ left$", reasons["truncated.dcm"])
    said = [line for line in r.stderr.splitlines() if line.startswith("termsvc: skipped ")]
    assert len(said) == len(expected)


def test_many_tiny_files_are_read_in_bounded_time_with_progress(dicom_db, tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    for i in range(20_000):
        (d / f"{i:05}.dcm").write_bytes(b"x" * (i % 7))
    (d / "study.dcm").write_bytes(dicom_bytes(tmp_path))
    r = run("dicom-codes", d, "--db", dicom_db, timeout=600)
    assert r.returncode == 0
    progress = [line for line in r.stderr.splitlines() if line.endswith("files read")]
    assert progress == ["termsvc: 10000 of 20001 files read", "termsvc: 20000 of 20001 files read"]
    assert len(json.loads(r.stdout)["skipped"]) == 20_000


# -- check-resource ---------------------------------------------------------------------------------

def observation(i, code="24627-2", **more) -> dict:
    return {"resourceType": "Observation", "id": f"o{i}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, **more}


def test_unreadable_inputs_are_said_and_the_rest_is_checked(db_path, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a-good.json").write_text(json.dumps(observation(1)))
    deep = '{"resourceType":"Observation","id":"deep","extension":[' + '{"url":"u","extension":[' * 5000
    (d / "deep.json").write_text(deep + "]}" * 5000 + "]}")
    (tmp_path / "report.xml").write_text('<Observation xmlns="http://hl7.org/fhir"><id value="x"/></Observation>')
    (d / "two.json").write_text(json.dumps(observation(2)) + "\n" + json.dumps(observation(3)) + "\n")
    (d / "lines.ndjson").write_text(json.dumps(observation(4)) + "\n{broken\n\n" + json.dumps(observation(5)) + "\n")
    (d / "bundle.json").write_text(json.dumps({"resourceType": "Bundle", "entry": [
        {"resource": observation(6)}, {"resource": {"id": "no-type"}}, {"resource": observation(7)}]}))
    looped = observation(8, contained=[
        {"resourceType": "Observation", "id": "c1", "status": "final", "code": {"text": "x"}, "hasMember": [{"reference": "#c2"}]},
        {"resourceType": "Observation", "id": "c2", "status": "final", "code": {"text": "y"}, "hasMember": [{"reference": "#c1"}]}],
        hasMember=[{"reference": "#c1"}])
    (d / "contained.json").write_text(json.dumps(looped))
    (d / "array.json").write_text("[1, 2]")
    os.mkfifo(d / "fifo.json")
    r = run("check-resource", "--db", db_path, "--json", d, tmp_path / "report.xml")   # (a folder gives its JSON files)
    assert r.returncode == 2, r.stderr
    out = json.loads(r.stdout)
    checked = sorted(x["resource"] for x in out["resources"])
    assert checked == sorted(f"Observation/o{i}" for i in range(1, 9))
    problems = {(os.path.basename(u["file"]), u["problem"].split(":")[0]) for u in out["unreadable"]}
    assert problems == {("deep.json", "not read"), ("report.xml", "XML"), ("lines.ndjson", "line 2"),
                        ("bundle.json", "entry[1].resource is not a FHIR resource (no resourceType)"),
                        ("array.json", "not a FHIR resource (no resourceType)"), ("fifo.json", "not a regular file (a fifo)")}
    errors = [line for line in r.stderr.splitlines() if line.startswith("termsvc: error: ")]
    assert len(errors) == len(out["unreadable"]) == 6
    assert any("FHIR XML is not read here; convert it to FHIR JSON" in e for e in errors)
    assert any("nested deeper than the JSON reader's limit of 1024 levels" in e for e in errors)


def test_control_characters_are_shown_escaped(db_path, tmp_path):
    path = tmp_path / "o.json"
    path.write_text(json.dumps(observation(1, code="2\u00004-\u001b[31m")))
    r = run("check-resource", "--db", db_path, path)
    assert r.returncode == 1
    assert "\x00" not in r.stdout and "\x1b" not in r.stdout
    assert "http://loinc.org#2\\x004-\\x1b[31m" in r.stdout


def test_a_bundle_of_100000_entries_is_checked_in_bounded_time(db_path, tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": observation(i)} for i in range(100_000)]}))
    r = run("check-resource", "--db", db_path, path, timeout=600)
    assert r.returncode in (0, 1), r.stderr
    assert r.stdout.splitlines()[-1].startswith("100000 resource(s): ")
