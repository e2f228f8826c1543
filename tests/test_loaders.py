"""The content loaders on small inputs written by the tests (no network)."""
import hashlib
import io
import json
import os
import sqlite3
import tarfile

import pytest

from conftest import require_packages
from termsvc import content
from termsvc.build import DEFAULT_PACKAGES, BuildError, Progress, SourceSpec, build
from termsvc.loaders import dicom, fhir_json, fhir_package, ig

QUIET = Progress(quiet=True)


def cs(id_, url, codes, **kw):
    return {"resourceType": "CodeSystem", "id": id_, "url": url, "status": "active", "content": "complete",
            "concept": [{"code": c, "display": c.upper()} for c in codes], **kw}


def vs(id_, url, system, codes):
    return {"resourceType": "ValueSet", "id": id_, "url": url, "status": "active",
            "compose": {"include": [{"system": system, "concept": [{"code": c} for c in codes]}]}}


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def db_rows(db, sql, params=()):
    c = sqlite3.connect(db)
    try:
        return c.execute(sql, params).fetchall()
    finally:
        c.close()


# -- fhir_json ---------------------------------------------------------------------

def test_iter_resources_file_bundle_folder(tmp_path):
    a = cs("a", "http://x/cs/a", ["1", "2"])
    b = vs("b", "http://x/vs/b", "http://x/cs/a", ["1"])
    inner = {"resourceType": "Bundle", "entry": [{"resource": b}]}
    outer = {"resourceType": "Bundle", "entry": [{"resource": a}, {"resource": inner}, {"fullUrl": "x"}]}
    write(tmp_path / "one" / "bundle.json", outer)
    assert [r["id"] for r in fhir_json.iter_resources(str(tmp_path / "one" / "bundle.json"))] == ["a", "b"]

    write(tmp_path / "dir" / "sub" / "deep" / "CodeSystem-a.json", a)
    write(tmp_path / "dir" / "ValueSet-b.json", b)
    write(tmp_path / "dir" / "package.json", {"name": "not fhir"})
    write(tmp_path / "dir" / "list.json", [1, 2, 3])
    (tmp_path / "dir" / "notes.txt").write_text("{ not json")
    ids = sorted(r["id"] for r in fhir_json.iter_resources(str(tmp_path / "dir")))
    assert ids == ["a", "b"]


def test_malformed_json_names_the_file(tmp_path):
    write(tmp_path / "d" / "ok.json", cs("a", "http://x/cs/a", ["1"]))
    bad = tmp_path / "d" / "sub" / "broken.json"
    bad.parent.mkdir()
    bad.write_text('{"resourceType": "ValueSet", ')
    with pytest.raises(BuildError) as e:
        list(fhir_json.iter_resources(str(tmp_path / "d")))
    assert "broken.json" in str(e.value)


def test_fhir_json_load_records_source(tmp_path):
    folder = tmp_path / "mine"
    write(folder / "cs.json", cs("a", "http://x/cs/a", ["1", "2", "3"]))
    write(folder / "vs.json", vs("b", "http://x/vs/b", "http://x/cs/a", ["1"]))
    write(folder / "patient.json", {"resourceType": "Patient", "id": "p"})
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("fhir", str(folder))], QUIET, preexpand=False)
    (name, kind, sha, counts), = db_rows(db, "SELECT name, kind, sha256, counts FROM source")
    assert (name, kind) == ("mine", "fhir-json")
    assert sha == fhir_json.content_sha256(str(folder)) and len(sha) == 64
    counts = json.loads(counts)
    assert counts["CodeSystem"] == 1 and counts["ValueSet"] == 1 and counts["concepts"] == 3
    assert counts["skipped_other_resources"] == 1
    assert db_rows(db, "SELECT code FROM concept ORDER BY seq") == [("1",), ("2",), ("3",)]


def test_fhir_json_single_file_sha(tmp_path):
    f = tmp_path / "CodeSystem-a.json"
    write(f, cs("a", "http://x/cs/a", ["1"]))
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("fhir", str(f))], QUIET, preexpand=False)
    (name, sha), = db_rows(db, "SELECT name, sha256 FROM source")
    assert name == "CodeSystem-a.json"
    assert sha == hashlib.sha256(f.read_bytes()).hexdigest()


# -- fhir_package ------------------------------------------------------------------

def make_tgz(path, name, version, files: dict, fhir_versions=("4.0.1",), index=True):
    """A FHIR NPM package tarball; files: filename -> resource dict (or bytes)."""
    manifest = {"name": name, "version": version, "fhirVersions": list(fhir_versions)}
    entries = {"package/package.json": json.dumps(manifest).encode()}
    idx = []
    for fn, res in files.items():
        entries[fn if "/" in fn else f"package/{fn}"] = res if isinstance(res, bytes) else json.dumps(res).encode()
        if isinstance(res, dict) and "/" not in fn:
            idx.append({"filename": fn, "resourceType": res["resourceType"], "id": res.get("id"),
                        "url": res.get("url")})
    if index:
        entries["package/.index.json"] = json.dumps({"index-version": 2, "files": idx}).encode()
    with tarfile.open(path, "w:gz") as tf:
        for n, data in entries.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


R4_CM = {"resourceType": "ConceptMap", "id": "m", "url": "http://x/cm/m", "status": "active",
         "sourceUri": "http://x/vs/b", "targetUri": "http://x/vs/c",
         "group": [{"source": "http://x/cs/a", "target": "http://x/cs/c",
                    "element": [{"code": "1", "target": [{"code": "z", "equivalence": "equivalent"}]}]}]}


def small_package_files():
    return {
        "CodeSystem-a.json": cs("a", "http://x/cs/a", ["1", "2"]),
        "ValueSet-b.json": vs("b", "http://x/vs/b", "http://x/cs/a", ["1"]),
        "ConceptMap-m.json": R4_CM,
        "CodeSystem-example.json": cs("example", "http://x/cs/example", ["e"]),
        "StructureDefinition-s.json": {"resourceType": "StructureDefinition", "id": "s"},
        "example/ValueSet-ex.json": vs("ex", "http://x/vs/ex", "http://x/cs/a", ["2"]),
    }


def test_package_tgz(tmp_path):
    tgz = make_tgz(str(tmp_path / "p.tgz"), "test.pkg", "1.2.3", small_package_files())
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("package", tgz)], QUIET, preexpand=False)
    (name, kind, version, sha, counts), = db_rows(db, "SELECT name, kind, version, sha256, counts FROM source")
    assert (name, kind, version) == ("test.pkg", "fhir-package", "1.2.3")
    assert sha == hashlib.sha256(open(tgz, "rb").read()).hexdigest()
    counts = json.loads(counts)
    assert (counts["CodeSystem"], counts["ValueSet"], counts["ConceptMap"]) == (2, 1, 1)
    urls = sorted(u for (u,) in db_rows(db, "SELECT url FROM resource"))
    # the package root is content (an `example` id too); package/example/ and the SD are not loaded
    assert urls == ["http://x/cm/m", "http://x/cs/a", "http://x/cs/example", "http://x/vs/b"]
    assert {fv for (fv,) in db_rows(db, "SELECT fhir_version FROM resource")} == {"R4"}
    # the R4 ConceptMap is stored in R5 shape
    cm = json.loads(db_rows(db, "SELECT json FROM resource WHERE type='ConceptMap'")[0][0])
    assert cm["sourceScopeUri"] == "http://x/vs/b"
    assert cm["group"][0]["element"][0]["target"][0]["relationship"] == "equivalent"


def test_package_without_index_and_folder(tmp_path):
    tgz = make_tgz(str(tmp_path / "p.tgz"), "noindex.pkg", "0.1.0", small_package_files(),
                   fhir_versions=("5.0.0",), index=False)
    pkg_dir = tmp_path / "unpacked"
    fhir_package.unpack(open(tgz, "rb").read(), str(pkg_dir), tgz)
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("package", str(pkg_dir))], QUIET, preexpand=False)
    (name, sha, counts), = db_rows(db, "SELECT name, sha256, counts FROM source")
    assert name == "noindex.pkg"
    assert sha == hashlib.sha256((pkg_dir / "package" / "package.json").read_bytes()).hexdigest()
    assert json.loads(counts)["CodeSystem"] == 2 and json.loads(counts)["ValueSet"] == 1
    assert {fv for (fv,) in db_rows(db, "SELECT fhir_version FROM resource")} == {"R5"}


def test_package_from_cache_and_fetch(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(cache))
    tgz = make_tgz(str(tmp_path / "p.tgz"), "cached.pkg", "2.0.0", small_package_files())
    data = open(tgz, "rb").read()
    calls = []

    def fake_npm_pack(name, version):
        calls.append((name, version))
        return data

    monkeypatch.setattr(fhir_package, "npm_pack", fake_npm_pack)
    path = fhir_package.fetch("cached.pkg#2.0.0")
    assert path == str(cache / "cached.pkg#2.0.0")
    assert (cache / "cached.pkg#2.0.0" / "package" / "package.json").is_file()
    assert fhir_package.fetch("cached.pkg#2.0.0") == path and len(calls) == 1  # cached now
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("package", "cached.pkg#2.0.0")], QUIET, preexpand=False)
    (name, sha), = db_rows(db, "SELECT name, sha256 FROM source")
    assert name == "cached.pkg" and sha == hashlib.sha256(data).hexdigest()


def test_fetch_failure_is_build_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FHIR_PACKAGE_CACHE", str(tmp_path / "cache"))

    def fail(name, version):
        raise BuildError(f"{name}#{version}: HTTP 404")

    monkeypatch.setattr(fhir_package, "registry_download", fail)
    monkeypatch.setattr(fhir_package, "npm_pack", fail)
    with pytest.raises(BuildError, match="cannot fetch nope.pkg#1.0.0"):
        fhir_package.fetch("nope.pkg#1.0.0")
    assert not (tmp_path / "cache" / "nope.pkg#1.0.0").exists()
    with pytest.raises(BuildError, match="NAME#VERSION"):
        fhir_package.fetch("no-version")


def test_bad_tarball(tmp_path):
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(BuildError, match="bad.tgz"):
        fhir_package.open_package(str(bad))


def tgz_bytes(entries) -> bytes:
    """A tarball of (TarInfo, data or None) entries, as a hostile package could be made."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def entry(name, data=None, kind=tarfile.REGTYPE, linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info, data


MANIFEST = entry("package/package.json", json.dumps({"name": "hostile.pkg", "version": "1.0.0"}).encode())


@pytest.fixture
def without_tarfile_extraction(monkeypatch):
    """Python 3.11.0-3.11.3 (Debian 12's 3.11.2): TarFile.extractall has no `filter` argument. The
    loader must not depend on it: here extracting through tarfile fails altogether."""
    def old_extractall(self, path=".", members=None, *, numeric_owner=False, **kw):
        raise TypeError(f"TarFile.extractall() got an unexpected keyword argument {next(iter(kw), 'filter')!r}")

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    monkeypatch.setattr(tarfile.TarFile, "extract", old_extractall)
    monkeypatch.delattr(tarfile, "data_filter", raising=False)


@pytest.mark.parametrize("hostile, why", [
    (entry("{outside}/evil.json", b"{}"), "absolute path"),
    (entry("package/../../evil.json", b"{}"), "climbs out"),
    (entry("package/../package/evil.json", b"{}"), "climbs out"),
    (entry("package/evil.json", kind=tarfile.SYMTYPE, linkname="../../evil.json"), "outside the package"),
    (entry("package/evil.json", kind=tarfile.SYMTYPE, linkname="{outside}/evil.json"), "outside the package"),
    (entry("package/passwd", kind=tarfile.SYMTYPE, linkname="/etc/passwd"), "outside the package"),
    (entry("package/evil.json", kind=tarfile.LNKTYPE, linkname="../evil.json"), "outside the package"),
    (entry("package/missing.json", kind=tarfile.SYMTYPE, linkname="nowhere.json"), "does not hold"),
    (entry("package/loop.json", kind=tarfile.SYMTYPE, linkname="loop.json"), "chain of more than"),
    (entry("package/null", kind=tarfile.CHRTYPE), "neither a file"),
    (entry("package/fifo", kind=tarfile.FIFOTYPE), "neither a file"),
])
def test_a_hostile_package_tarball_is_refused_and_writes_nothing_outside(tmp_path, without_tarfile_extraction,
                                                                          hostile, why):
    outside = tmp_path / "outside"
    outside.mkdir()
    info, data = hostile
    info.name = info.name.format(outside=outside)
    info.linkname = info.linkname.format(outside=outside)
    tgz = tmp_path / "hostile.tgz"
    tgz.write_bytes(tgz_bytes([MANIFEST, (info, data), entry("package/after.json", b"{}")]))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(BuildError, match=why) as e:
        fhir_package.open_package(str(tgz))
    assert "hostile.tgz: refused" in str(e.value) and repr(info.name) in str(e.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before   # nothing written beside it
    assert not (tmp_path.parent / "evil.json").exists() and list(outside.iterdir()) == []


def test_package_tarball_links_inside_become_plain_files(tmp_path, without_tarfile_extraction):
    code_system = json.dumps(cs("a", "http://x/cs/a", ["1"])).encode()
    tgz = tmp_path / "links.tgz"
    tgz.write_bytes(tgz_bytes([
        entry("./", kind=tarfile.DIRTYPE, mode=0o777),
        MANIFEST,
        entry("package/CodeSystem-a.json", code_system, mode=0o4777),   # setuid, world-writable: not kept
        entry("package/CodeSystem-b.json", kind=tarfile.SYMTYPE, linkname="CodeSystem-a.json"),
        entry("package/sub/CodeSystem-c.json", kind=tarfile.SYMTYPE, linkname="../CodeSystem-b.json"),
        entry("package/CodeSystem-d.json", kind=tarfile.LNKTYPE, linkname="package/CodeSystem-a.json"),
        entry("ValueSet-root.json", json.dumps(vs("r", "http://x/vs/r", "http://x/cs/a", ["1"])).encode()),
    ]))
    with fhir_package.open_package(str(tgz)) as pkg:
        folder = pkg.folder
        for name in ("CodeSystem-a.json", "CodeSystem-b.json", "sub/CodeSystem-c.json", "CodeSystem-d.json"):
            path = os.path.join(folder, name)
            assert not os.path.islink(path) and open(path, "rb").read() == code_system, name
            assert os.stat(path).st_mode & 0o7777 == 0o644
        # files at the root of the tarball are put under package/
        assert [fn for fn, _ in fhir_package.iter_package_resources(pkg)] == [
            "CodeSystem-a.json", "CodeSystem-b.json", "CodeSystem-d.json", "ValueSet-root.json"]


# -- dicom -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dicom_content():
    return dicom.build_resources(*dicom.pydicom_dicts())


def test_dicom_code_systems(dicom_content):
    code_systems, value_sets = dicom_content
    by_url = {c["url"]: c for c in code_systems}
    dcm = by_url[dicom.DCM]
    assert dcm["content"] == "complete" and dcm["caseSensitive"] is True
    codes = {c["code"]: c["display"] for c in dcm["concept"]}
    assert len(codes) > 4000
    assert codes["CT"] == "Computed Tomography" and codes["121022"] == "Accession Number"
    sct = by_url["http://snomed.info/sct"]
    assert sct["content"] == "fragment" and "fragment" in sct["version"]
    sct_codes = {c["code"] for c in sct["concept"]}
    assert "363679005" in sct_codes and len(sct_codes) > 8000
    assert by_url["http://loinc.org"]["content"] == "fragment"
    assert "urn:iso:std:iso:11073:10101" in by_url and "http://unitsofmeasure.org" in by_url
    assert all(c["url"].startswith(("http", "urn:")) for c in code_systems)


def test_dicom_cid_value_sets(dicom_content):
    _cs, value_sets = dicom_content
    assert len(value_sets) == 1355
    by_id = {v["id"]: v for v in value_sets}
    cid33 = by_id["dicom-cid-33"]
    assert cid33["url"] == "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_33.html"
    assert cid33["name"] == "Modality" and cid33["status"] == "active"
    members = {(i["system"], c["code"]) for i in cid33["compose"]["include"] for c in i["concept"]}
    assert (dicom.DCM, "CT") in members and (dicom.DCM, "XX") not in members
    assert len(members) == 74
    cid29 = {c["code"] for i in by_id["dicom-cid-29"]["compose"]["include"] for c in i["concept"]}
    assert "CT" in cid29 and "DOC" not in cid29 and len(cid29) == 51
    cid244 = {(i["system"], c["code"]) for i in by_id["dicom-cid-244"]["compose"]["include"] for c in i["concept"]}
    assert ("http://snomed.info/sct", "7771000") in cid244  # Left
    displays = {c["code"]: c["display"] for i in cid33["compose"]["include"] for c in i["concept"]}
    assert displays["CT"] == "Computed Tomography"


def test_dicom_load(tmp_path):
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("dicom")], QUIET, preexpand=False)
    (name, kind, sha, counts), = db_rows(db, "SELECT name, kind, sha256, counts FROM source")
    assert (name, kind) == ("dicom", "dicom") and len(sha) == 64
    assert json.loads(counts)["ValueSet"] == 1355
    (content,), = db_rows(db, "SELECT content FROM code_system WHERE url=?", (dicom.DCM,))
    assert content == "complete"


# -- the IG --------------------------------------------------------------------------

def shipped_ig_editions():
    with content.folder(content.IG) as folder:
        return ig.editions(folder)


def test_ig_editions_have_no_drift():
    eds = shipped_ig_editions()
    r5, r4 = eds["hl7.fhir.eu.imaging-r5"], eds["hl7.fhir.eu.imaging"]
    assert len(r5) == len(r4) == 11
    assert sorted(r["resourceType"] for r in r5).count("ValueSet") == 9
    for a, b in zip(r5, r4):
        assert a["url"].startswith(ig.R5_BASE + "/") and b["url"] == ig.R4_BASE + a["url"][len(ig.R5_BASE):]
        assert ig.R5_BASE not in json.dumps(b)
        # identical once the base is rebased back
        assert json.loads(json.dumps(b).replace(ig.R4_BASE + "/", ig.R5_BASE + "/")) == a


def test_ig_content():
    eds = shipped_ig_editions()
    r5 = {r["id"]: r for r in eds["hl7.fhir.eu.imaging-r5"]}
    r4 = {r["id"]: r for r in eds["hl7.fhir.eu.imaging"]}
    proc = r5["im-procedure-type"]["compose"]
    assert proc["include"][0]["filter"] == [{"property": "concept", "op": "is-a", "value": "363679005"}]
    assert proc["exclude"][0]["concept"] == [{"code": "363679005"}]
    perf = r5["im-imaging-study-performer-type"]["compose"]["include"]
    assert perf[0]["valueSet"] == ["http://hl7.org/fhir/ValueSet/series-performer-function"]
    assert r5["codesystem-missing-dicom-terminology"]["content"] == "fragment"
    assert len(r5["im-anatomical-region-valueset"]["compose"]["include"][0]["concept"]) == 10
    sys_r4 = r4["valueset-diagnosticreport-report-support-info"]["compose"]["include"][0]["system"]
    assert sys_r4 == "http://hl7.eu/fhir/imaging/CodeSystem/codesystem-diagnostic-report-support-info"
    assert {i.get("system") for i in r5["ImEUValueSetAllSnomedLoinc"]["compose"]["include"]} == {
        "http://snomed.info/sct", "http://loinc.org"}


def test_ig_load(tmp_path):
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("ig")], QUIET, preexpand=False)
    rows = db_rows(db, "SELECT name, kind, version, counts FROM source ORDER BY id")
    assert [(n, k, v) for n, k, v, _c in rows] == [("hl7.fhir.eu.imaging-r5", "ig", "1.0.0-ballot"),
                                                  ("hl7.fhir.eu.imaging", "ig", "1.0.0-ballot")]
    assert all(json.loads(c)["ValueSet"] == 9 and json.loads(c)["CodeSystem"] == 2 for *_x, c in rows)
    urls = {u for (u,) in db_rows(db, "SELECT url FROM value_set")}
    assert "http://hl7.eu/fhir/imaging/ValueSet/im-procedure-type" in urls
    assert "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type" in urls
    n, = db_rows(db, "SELECT count(*) FROM concept c JOIN code_system s ON s.id = c.cs_id WHERE s.url = ?",
                 ("http://hl7.eu/fhir/imaging/CodeSystem/codesystem-missing-dicom-terminology",))[0]
    assert n == 14


def test_ig_rejects_foreign_base(tmp_path):
    write(tmp_path / "vs" / "x.json", vs("x", "http://elsewhere/ValueSet/x", "http://x", ["1"]))
    with pytest.raises(BuildError, match="outside the R5 base"):
        ig.ig_resources(str(tmp_path / "vs"))


# -- the real packages (fetched into the cache by scripts/test.sh) ----------------------

@pytest.mark.integration
def test_real_r5_core_from_cache(tmp_path):
    require_packages()
    db = str(tmp_path / "core.db")
    build(db, [SourceSpec("package", DEFAULT_PACKAGES[0])], QUIET, preexpand=False)
    (name, version, counts), = db_rows(db, "SELECT name, version, counts FROM source")
    counts = json.loads(counts)
    assert (name, version) == ("hl7.fhir.r5.core", "5.0.0")
    assert counts["CodeSystem"] > 400 and counts["ValueSet"] > 700 and counts["ConceptMap"] > 50
    assert db_rows(db, "SELECT count(*) FROM value_set WHERE url=?",
                   ("http://hl7.org/fhir/ValueSet/series-performer-function",))[0][0] == 1
    # the specification's example code systems and their maps sit at the package root: content
    loaded = set(db_rows(db, "SELECT type, url FROM resource WHERE fhir_id LIKE 'example%'"))
    assert {("CodeSystem", "http://hl7.org/fhir/CodeSystem/example"),
            ("CodeSystem", "http://hl7.org/fhir/CodeSystem/example-metadata"),
            ("CodeSystem", "http://hl7.org/fhir/CodeSystem/example-metadata-2"),
            ("ConceptMap", "http://hl7.org/fhir/ConceptMap/example-metadata"),
            ("ConceptMap", "http://hl7.org/fhir/ConceptMap/example-metadata-2")} <= loaded
