"""Hostile files for the build (issue h34): FHIR packages and JSON, SNOMED CT RF2 and LOINC releases, and the
builds `termsvc pull` fetches - all written by the tests. Each is refused with one line naming the file (and
the line, row or element) and what is wrong, exit status 1, never a traceback or a hang; the build being
served stays byte-identical (same inode), and a server over it keeps answering from it."""
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import struct
import tarfile
import zipfile
import zlib

import pytest
from click.testing import CliRunner

from conftest import TERMSVC_BIN, param
from synthetic_releases import sctid, write_loinc_release, write_snomed_release
from termsvc.cli import cli

CS_URL = "http://example.org/fhir/CodeSystem/hostile"
MANIFEST = {"name": "example.hostile", "version": "1.0.0", "fhirVersions": ["5.0.0"]}


def code_system(concepts, **more) -> dict:
    return {"resourceType": "CodeSystem", "url": CS_URL, "version": "1", "status": "active", "content": "complete",
            "concept": concepts, **more}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A build of one small code system: the build being served that a failed build must leave alone."""
    root = tmp_path_factory.mktemp("served")
    (root / "cs.json").write_text(json.dumps(code_system([{"code": "kept", "display": "Kept"}])))
    db = str(root / "served" / "termsvc.db")
    r = CliRunner().invoke(cli, ["build", "--db", db, "--no-defaults", "--fhir", str(root / "cs.json"), "-q"])
    assert r.exit_code == 0, r.output
    return db


def refused(served: str, *args: str) -> str:
    """`termsvc build` of hostile sources over the served build: exit 1, one error line (no traceback), the
    served file untouched and no partial file left beside it. Returns the error line."""
    before = open(served, "rb").read()
    st = os.stat(served)
    r = CliRunner().invoke(cli, ["build", "--db", served, "--no-defaults", "--quiet", *args])
    assert r.exit_code == 1, (r.exit_code, r.output, r.exc_info)
    assert not isinstance(r.exception, Exception) or isinstance(r.exception, SystemExit), r.exc_info
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("termsvc: error: ") and "Traceback" not in r.output, r.output
    assert open(served, "rb").read() == before and os.stat(served).st_ino == st.st_ino
    assert not [f for f in os.listdir(os.path.dirname(served)) if ".building-" in f]
    return lines[0]


def tgz(path, entries) -> str:
    """A package tarball: entries are (name, bytes | dict | list) files, or TarInfo objects (links...)."""
    with tarfile.open(path, "w:gz") as tf:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tf.addfile(entry)
                continue
            name, data = entry
            raw = data if isinstance(data, bytes) else json.dumps(data).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    return str(path)


def link(name, target, hard=False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


# -- FHIR packages ------------------------------------------------------------------------------------

PACKAGES = {
    "path traversal": ([("package/package.json", MANIFEST), ("../../x.json", b"{}")], "'../../x.json' is an absolute"
                                                                                      " path or climbs out"),
    "absolute path": ([("package/package.json", MANIFEST), ("/etc/termsvc-x", b"x")], "'/etc/termsvc-x' is an absolute"),
    "symlink out of the package": ([("package/package.json", MANIFEST), link("package/CodeSystem-x.json", "/etc/passwd")],
                                   "links to '/etc/passwd', outside the package"),
    "symlink climbing out": ([("package/package.json", MANIFEST), link("package/CodeSystem-x.json", "../../../etc/passwd")],
                             "outside the package"),
    "hard link to nothing": ([("package/package.json", MANIFEST), link("package/a.json", "package/none.json", hard=True)],
                             "which the tarball does not hold"),
    "link loop": ([("package/package.json", MANIFEST), link("package/a.json", "b.json"), link("package/b.json", "a.json")],
                  "a chain of more than"),
    "package.json not JSON": ([("package/package.json", b"{name: 1")], r"x\.tgz!package/package\.json: malformed JSON"),
    "package.json without a version": ([("package/package.json", {"name": "example.hostile"})],
                                       r"x\.tgz!package/package\.json: no version"),
    "package.json an array": ([("package/package.json", ["example.hostile"])], r"package\.json: not a JSON object"),
    "fhirVersions a number": ([("package/package.json", {**MANIFEST, "fhirVersions": 4})],
                              "fhirVersions is not a list of FHIR versions"),
    "no package.json": ([("package/CodeSystem-a.json", code_system([]))], "no package/package.json"),
    "resource not JSON": ([("package/package.json", MANIFEST), ("package/CodeSystem-a.json", b"\xff\xfe{")],
                          r"x\.tgz!package/CodeSystem-a\.json: malformed JSON"),
    "resource a JSON array": ([("package/package.json", MANIFEST), ("package/ValueSet-a.json", [{"resourceType": "ValueSet"}])],
                              r"x\.tgz!package/ValueSet-a\.json: not a FHIR resource \(a JSON list"),
    "resource without resourceType": ([("package/package.json", MANIFEST), ("package/CodeSystem-a.json", {"url": CS_URL})],
                                      r"CodeSystem-a\.json: not a FHIR resource \(no resourceType\)"),
    "duplicate codes": ([("package/package.json", MANIFEST), ("package/CodeSystem-a.json", code_system(
        [{"code": "a"}, {"code": "b", "concept": [{"code": "a", "display": "again"}]}]))],
        r"CodeSystem\.concept\[1\]\.concept\[0\]: the code 'a' is given twice in the code system \(first at"
        r" CodeSystem\.concept\[0\]\)"),
    "a code that is a number": ([("package/package.json", MANIFEST), ("package/CodeSystem-a.json", code_system([{"code": 7}]))],
                                r"CodeSystem\.concept\[0\]\.code is not a string"),
    "concepts that are no list": ([("package/package.json", MANIFEST),
                                   ("package/CodeSystem-a.json", code_system({"code": "a"}))], r"CodeSystem\.concept is not a list"),
    "compose include a string": ([("package/package.json", MANIFEST), ("package/ValueSet-a.json", {
        "resourceType": "ValueSet", "url": "http://example.org/vs", "compose": {"include": "all"}})],
        r"ValueSet\.compose\.include is not a list"),
    "a control character in a designation": ([("package/package.json", MANIFEST), ("package/CodeSystem-a.json", code_system(
        [{"code": "a", "display": "A"}, {"code": "b", "designation": [{"value": "fine"}, {"value": "be\x01ll"}]}]))],
        r"CodeSystem-a\.json: CodeSystem .*: CodeSystem\.concept\[1\]\.designation\[1\]\.value: a control character"
        r" \(U\+0001\) at character 3"),
    "a control character in a value set's display": ([("package/package.json", MANIFEST), ("package/ValueSet-a.json", {
        "resourceType": "ValueSet", "url": "http://example.org/vs", "compose": {"include": [
            {"system": CS_URL, "concept": [{"code": "a", "display": "tab\tok"}, {"code": "b", "display": "\x1bred"}]}]}})],
        r"ValueSet\.compose\.include\[0\]\.concept\[1\]\.display: a control character \(U\+001B\) at character 1"),
    "hierarchy loop": ([("package/package.json", MANIFEST), ("package/CodeSystem-a.json", code_system(
        [{"code": "a", "property": [{"code": "parent", "valueCode": "b"}]}, {"code": "b", "concept": [{"code": "c"}],
                                                                              "property": [{"code": "parent", "valueCode": "a"}]}],
        hierarchyMeaning="is-a"))], f"a concept hierarchy loops .*{CS_URL}\\|1 .*: (a -> b -> a|b -> a -> b)"),
}


@pytest.mark.parametrize("case", sorted(PACKAGES))
def test_a_hostile_package_is_refused_and_the_served_build_kept(served, tmp_path, case):
    entries, message = PACKAGES[case]
    line = refused(served, "--package", tgz(tmp_path / "x.tgz", entries))
    assert re.search(message, line), line
    assert not os.path.exists(tmp_path.parent / "x.json") and not os.path.exists("/etc/termsvc-x")


def test_an_unpacked_package_folder_is_checked_alike(served, tmp_path):
    pkg = tmp_path / "folder" / "package"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps(MANIFEST))
    (pkg / "CodeSystem-a.json").write_text("[]")
    assert f"{pkg / 'CodeSystem-a.json'}: not a FHIR resource" in refused(served, "--package", str(tmp_path / "folder"))
    (pkg / "CodeSystem-a.json").unlink()
    os.mkfifo(pkg / "CodeSystem-b.json")   # a fifo: its read would block the build for ever; refused unread
    assert "CodeSystem-b.json: not a regular file (a fifo)" in refused(served, "--package", str(tmp_path / "folder"))
    (tmp_path / "fhir").mkdir()
    os.mkfifo(tmp_path / "fhir" / "CodeSystem-b.json")
    assert "CodeSystem-b.json: not a regular file (a fifo)" in refused(served, "--fhir", str(tmp_path / "fhir"))


def _gzip_of_zeros(head: bytes, n_mib: int, tail: bytes) -> bytes:
    """A gzip stream of head + n_mib MiB of zeros + tail, made without compressing the zeros n times: after
    the first MiB, each MiB of zeros deflates (sync-flushed) to the same bytes."""
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head + mib) + c.flush(zlib.Z_SYNC_FLUSH)
    block = c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH)
    assert c.compress(mib) + c.flush(zlib.Z_SYNC_FLUSH) == block
    rest = c.compress(tail) + c.flush()
    crc = zlib.crc32(head + mib)
    for _ in range(n_mib - 1):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + (n_mib << 20) + len(tail)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + first + block * (n_mib - 1) + rest
            + struct.pack("<II", crc, size & 0xFFFFFFFF))


def test_a_tar_bomb_is_refused_before_anything_is_written(served, tmp_path):
    """A 2 MB tarball that unpacks to 1.5 GB: refused on its entries' sizes, nothing unpacked."""
    manifest = json.dumps(MANIFEST).encode()
    info = tarfile.TarInfo("package/package.json")
    info.size = len(manifest)
    bomb = tarfile.TarInfo("package/zeros.bin")
    bomb.size = 1536 << 20
    head = info.tobuf() + manifest + bytes(-len(manifest) % 512) + bomb.tobuf()
    path = tmp_path / "bomb.tgz"
    path.write_bytes(_gzip_of_zeros(head, 1536, bytes(1024)))
    assert path.stat().st_size < 4 << 20
    line = refused(served, "--package", str(path))
    assert "bomb.tgz: refused: the tarball unpacks to 1611 MB, more than the 1024 MB a package may hold" in line


def test_too_many_entries_refuse_the_tarball(served, tmp_path, monkeypatch):
    """(the bound is the setting max_package_entries, here from the environment)"""
    monkeypatch.setenv("TERMSVC_MAX_PACKAGE_ENTRIES", "50")
    entries = [("package/package.json", MANIFEST)] + [(f"package/other/{i}.txt", b"") for i in range(60)]
    assert "is one more than the 50 entries a package may have" in refused(served, "--package", tgz(tmp_path / "x.tgz", entries))


# -- FHIR JSON (--fhir) -------------------------------------------------------------------------------

def test_a_100_mb_resource_is_refused_unread(served, tmp_path):
    big = tmp_path / "big.json"
    with open(big, "w") as f:
        f.write('{"resourceType": "CodeSystem", "url": "http://example.org/big", "description": "')
        f.write("x" * (100 << 20))
        f.write('"}')
    assert f"{big}: larger than 67,108,864 bytes, the most a JSON file may hold here (setting max_json_bytes)" in \
        refused(served, "--fhir", str(big))
    # the bound is a setting (here from the command line, lowered: a small file is refused as the big one)
    small = tmp_path / "small.json"
    small.write_text(json.dumps(code_system([{"code": "a"}])))
    assert f"{small}: larger than 50 bytes" in refused(served, "--fhir", str(small), "--setting", "max_json_bytes", "50")


def test_a_value_set_including_itself_or_a_loop_builds_and_its_expansion_says_so(tmp_path):
    """Value sets that include themselves (directly, or A -> B -> A) are content a server must hold: the build
    succeeds, and their expansion says the cycle instead of recursing or hanging."""
    vs = lambda url, other: {"resourceType": "ValueSet", "url": url, "status": "active",  # noqa: E731
                             "compose": {"include": [{"valueSet": [other]}]}}
    for name, url, other in (("self", "http://example.org/vs/self", "http://example.org/vs/self"),
                             ("a", "http://example.org/vs/a", "http://example.org/vs/b"),
                             ("b", "http://example.org/vs/b", "http://example.org/vs/a")):
        (tmp_path / f"{name}.json").write_text(json.dumps(vs(url, other)))
    db = str(tmp_path / "vs.db")
    r = CliRunner().invoke(cli, ["build", "--db", db, "--no-defaults", "--fhir", str(tmp_path), "-q"])
    assert r.exit_code == 0, r.output
    for url, via in (("http://example.org/vs/self", "self -> http://example.org/vs/self"),
                     ("http://example.org/vs/a", "a -> http://example.org/vs/b -> http://example.org/vs/a")):
        r = CliRunner().invoke(cli, ["expand", url, "--db", db])
        assert r.exit_code == 2 and f"Cyclic reference to value set {url}" in r.output and via in r.output, r.output


@pytest.mark.slow   # (about 40 s and 1 GB)
def test_a_code_system_of_a_million_concepts_loads_in_bounded_time(tmp_path):
    concepts = [{"code": f"c{i}", "display": f"Concept {i}"} for i in range(1_000_000)]
    (tmp_path / "cs.json").write_text(json.dumps(code_system(concepts)))
    db = str(tmp_path / "big.db")
    r = subprocess.run([TERMSVC_BIN, "build", "--db", db, "--no-defaults", "--fhir", str(tmp_path / "cs.json"), "-q"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    r = CliRunner().invoke(cli, ["lookup", "c999999", "--system", CS_URL, "--db", db])
    assert r.exit_code == 0 and "Concept 999999" in r.output, r.output


# -- SNOMED CT RF2 ------------------------------------------------------------------------------------

def _file(root, kind) -> str:
    (path,) = glob.glob(os.path.join(root, "**", f"sct2_{kind}_Snapshot*.txt"), recursive=True)
    return path


def _edit_line(path, n, edit):
    """Line n (0: the header) of an RF2 file, its fields edited (CR LF kept)."""
    lines = open(path, "rb").read().split(b"\r\n")
    lines[n] = edit(lines[n].split(b"\t"))
    open(path, "wb").write(b"\r\n".join(lines))


def _set(column, value):
    def edit(fields):
        fields[column] = value
        return b"\t".join(fields)
    return edit


def _is_a_loop(root):
    """An inferred is-a relationship back up from a concept's parent to it."""
    path = _file(root, "Relationship")
    for line in open(path, encoding="utf-8").read().splitlines()[1:]:
        f = line.split("\t")
        if f[7] == "116680003" and f[2] == "1" and f[5] != "138875005":
            with open(path, "a", encoding="utf-8", newline="") as out:
                out.write("\t".join([sctid(990001, "12"), f[1], "1", f[3], f[5], f[4], "0", *f[7:]]) + "\r\n")
            return


def _second_release_mixed_in(root):
    """The concept file of another release (another date) beside this one's: the same concepts twice."""
    path = _file(root, "Concept")
    folder, name = os.path.split(path)
    shutil.copy(path, os.path.join(folder, name.replace("20250701", "20240101")))


def _rewrite(path, edit):
    data = open(path, "rb").read()
    open(path, "wb").write(edit(data))


RF2_CASES = {
    "wrong header": (lambda r: _edit_line(_file(r, "Concept"), 0, _set(1, b"effectiveDate")),
                     r"sct2_Concept_Snapshot_INT_20250701\.txt: line 1: unexpected header"),
    "columns swapped": (lambda r: _edit_line(_file(r, "Relationship"), 0, lambda f: b"\t".join([f[1], f[0], *f[2:]])),
                        r"sct2_Relationship_Snapshot_INT_20250701\.txt: line 1: unexpected header"),
    "a column missing": (lambda r: _edit_line(_file(r, "Description"), 7, lambda f: b"\t".join(f[:-1])),
                         r"sct2_Description_Snapshot-en_INT_20250701\.txt: line 8: expected 9 tab-separated columns, found 8"),
    "missing header": (lambda r: _rewrite(_file(r, "Concept"), lambda data: data.split(b"\r\n", 1)[1]),
        r"sct2_Concept_Snapshot_INT_20250701\.txt: line 1: unexpected header \['\d+'"),
    "invalid UTF-8": (lambda r: _edit_line(_file(r, "Description"), 5, _set(7, b"caf\xe9")),
                      r"sct2_Description_Snapshot-en_INT_20250701\.txt: not UTF-8 at line 6 \(invalid continuation byte"),
    "a 10 MB line": (lambda r: _edit_line(_file(r, "Description"), 5, _set(7, b"x" * (10 << 20))),
                     r"sct2_Description_Snapshot-en_INT_20250701\.txt: line 6: longer than 1048576 characters"),
    "an is-a loop": (_is_a_loop, r"a concept hierarchy loops .*http://snomed\.info/sct\|http://snomed\.info/sct/"
                                 r"900000000000207008/version/20250701 \(.*\): (\d+) -> \d+ -> \1"),
    "two releases mixed": (_second_release_mixed_in, r"sct2_Concept_Snapshot_INT_20250701\.txt: line 2: duplicate concept"
                                                     r" id \d+ \(first at .*20240101\.txt line 2\)"),
    "a control character in a term": (lambda r: _edit_line(_file(r, "Description"), 5, _set(7, b"caf\x07e")),
                                      r"sct2_Description_Snapshot-en_INT_20250701\.txt: line 6: a control character"
                                      r" \(U\+0007\) at character \d+"),
    "a NUL in a concept file": (lambda r: _edit_line(_file(r, "Concept"), 3, _set(4, b"\x00")),
                                r"sct2_Concept_Snapshot_INT_20250701\.txt: line 4: a control character \(U\+0000\)"),
    "an empty file": (lambda r: open(_file(r, "Relationship"), "wb").close(),
                      r"sct2_Relationship_Snapshot_INT_20250701\.txt: line 1: empty file"),
    "truncated in the middle of a line": (
        lambda r: open(_file(r, "Relationship"), "r+b").truncate(os.path.getsize(_file(r, "Relationship")) // 2),
        r"sct2_Relationship_Snapshot_INT_20250701\.txt: line \d+: the file ends in the middle of this line"),
    "an extension without its edition": (lambda r: _rewrite(_file(r, "Concept"), lambda data: b"".join(
        line for line in data.splitlines(keepends=True) if not line.startswith(b"138875005\t"))),
                                         r"SNOMED CT extension package \(no root concept 138875005\) given without the"
                                         r" International edition"),
}


@pytest.mark.parametrize("case", sorted(RF2_CASES))
def test_a_hostile_rf2_release_is_refused_naming_file_and_line(served, tmp_path, case):
    mangle, message = RF2_CASES[case]
    root = write_snomed_release(str(tmp_path), generated=20)
    mangle(root)
    line = refused(served, "--snomed", root)
    assert re.search(message, line), line


def _kept_going(tmp_path, *sources) -> tuple[list[str], list[str]]:
    """`termsvc build --keep-going` of a good code system and `sources`: exit status 3 (built without what
    was skipped); returns the lines `termsvc: skipped: ...` and the code systems served."""
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**code_system([{"code": "kept"}]), "url": "http://example.org/fhir/CodeSystem/good"}))
    db = str(tmp_path / "kept" / "t.db")
    r = CliRunner().invoke(cli, ["build", "--db", db, "--no-defaults", "--quiet", "--keep-going",
                                   *sources, "--fhir", str(good)])
    assert r.exit_code == 3 and "Traceback" not in r.stderr, (r.exit_code, r.stdout, r.stderr, r.exc_info)
    assert r.stdout.strip().endswith(f"  {db}")   # the build's sha256: it was swapped in
    con = sqlite3.connect(db)
    served = [u for (u,) in con.execute("SELECT url FROM code_system ORDER BY url")]
    con.close()
    return [ln for ln in r.stderr.splitlines() if ln.startswith("termsvc: skipped: ")], served


def test_tab_and_line_breaks_in_fhir_text_load(tmp_path):
    """FHIR strings may hold tab, CR and LF (a definition in markdown): only the other C0 characters are refused."""
    path = tmp_path / "cs.json"
    path.write_text(json.dumps(code_system([{"code": "a", "display": "one\ttwo",
                                             "definition": "line one\r\nline two\n\n* item"}])))
    r = CliRunner().invoke(cli, ["build", "--db", str(tmp_path / "t.db"), "--no-defaults", "--fhir", str(path), "-q"])
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(str(tmp_path / "t.db"))
    assert con.execute("SELECT display FROM concept WHERE code = 'a'").fetchone() == ("one\ttwo",)
    con.close()


def test_keep_going_leaves_out_the_source_whose_hierarchy_loops(tmp_path):
    loops = tmp_path / "loops.json"
    loops.write_text(json.dumps(code_system(
        [{"code": "a", "property": [{"code": "parent", "valueCode": "c"}]}, {"code": "b", "concept": [{"code": "c"}],
                                                                            "property": [{"code": "parent", "valueCode": "a"}]}],
        hierarchyMeaning="is-a")))
    skipped, served = _kept_going(tmp_path, "--fhir", str(loops))
    [line] = skipped
    assert re.search(rf"a concept hierarchy loops .*{CS_URL}\|1 \(.*loops\.json\): (\w) -> \w -> \w -> \1", line), line
    assert served == ["http://example.org/fhir/CodeSystem/good"]


def test_keep_going_leaves_out_a_release_whose_hierarchy_loops(tmp_path):
    root = write_snomed_release(str(tmp_path / "rel"), generated=20)
    _is_a_loop(root)
    skipped, served = _kept_going(tmp_path, "--snomed", root)
    assert len(skipped) == 1 and "a concept hierarchy loops" in skipped[0] and "snomed.info/sct" in skipped[0]
    assert served == ["http://example.org/fhir/CodeSystem/good"]


def test_keep_going_exits_3_for_any_source_it_skips(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("[")
    skipped, served = _kept_going(tmp_path, "--fhir", str(broken))
    assert len(skipped) == 1 and "broken.json: malformed JSON" in skipped[0]
    assert served == ["http://example.org/fhir/CodeSystem/good"]


def test_crlf_and_a_bom_load(tmp_path):
    root = write_snomed_release(str(tmp_path), generated=20)
    path = _file(root, "Concept")
    _rewrite(path, lambda data: b"\xef\xbb\xbf" + data)
    assert b"\r\n" in open(path, "rb").read()
    r = CliRunner().invoke(cli, ["build", "--db", str(tmp_path / "t.db"), "--no-defaults", "--snomed", root, "-q"])
    assert r.exit_code == 0, r.output


def test_a_release_zip_with_a_traversal_path_is_read_in_place_never_unpacked(tmp_path):
    """Release zips are read member by member, never extracted: a member named ../../x is only a name."""
    root = write_snomed_release(str(tmp_path / "rel"), generated=20)
    zpath = str(tmp_path / "release.zip")
    with zipfile.ZipFile(zpath, "w") as z:
        for path in glob.glob(os.path.join(root, "**", "*.txt"), recursive=True):
            z.write(path, "../../" + os.path.relpath(path, root))
        z.writestr("../../../termsvc-escaped.txt", "x")
    r = CliRunner().invoke(cli, ["build", "--db", str(tmp_path / "t.db"), "--no-defaults", "--snomed", zpath, "-q"])
    assert r.exit_code == 0, r.output
    assert not glob.glob(str(tmp_path.parent.parent / "termsvc-escaped.txt")) and not glob.glob("/termsvc-escaped.txt")


# -- LOINC --------------------------------------------------------------------------------------------

def _loinc_table(root) -> str:
    return os.path.join(root, "LoincTable", "Loinc.csv")


def _loinc_line(root, n, new: bytes):
    path = _loinc_table(root)
    lines = open(path, "rb").read().split(b"\n")
    lines[n] = new
    open(path, "wb").write(b"\n".join(lines))


LOINC_CASES = {
    "invalid UTF-8": (lambda r: _loinc_line(r, 3, open(_loinc_table(r), "rb").read().split(b"\n")[3] + b"\xff"),
                      r"Loinc\.csv: not UTF-8 at line 4"),
    "a 10 MB line": (lambda r: _loinc_line(r, 3, b"x" * (10 << 20)), r"Loinc\.csv: line 4: longer than 1048576 characters"),
    "truncated in the middle of a line": (lambda r: open(_loinc_table(r), "r+b").truncate(
        open(_loinc_table(r), "rb").read().index(b"\n", os.path.getsize(_loinc_table(r)) // 2) - 40),
        r"Loinc\.csv: line \d+: (expected \d+ fields, found \d+|unexpected end of data)"),
    "an empty file": (lambda r: open(_loinc_table(r), "wb").close(), r"Loinc\.csv: line 1: empty file"),
    "a control character in a name": (lambda r: _loinc_line(r, 3, open(_loinc_table(r), "rb").read().split(b"\n")[3]
                                                          .replace(b",", b",\x0b", 1)),
                                      r"Loinc\.csv: line 4: a control character \(U\+000B\) at character \d+"),
    "columns missing": (lambda r: _loinc_line(r, 0, b'"LOINC_NUM","COMPONENT"'),
                        r"Loinc\.csv: line 1: header lacks column\(s\) LONG_COMMON_NAME, SHORTNAME, STATUS"),
}


@pytest.mark.parametrize("case", sorted(LOINC_CASES))
def test_a_hostile_loinc_release_is_refused_naming_file_and_line(served, tmp_path, case):
    mangle, message = LOINC_CASES[case]
    root = write_loinc_release(str(tmp_path))
    mangle(root)
    line = refused(served, "--loinc", root)
    assert re.search(message, line), line


# -- a server keeps answering from its build ------------------------------------------------------------

def test_a_server_answers_its_build_through_failed_rebuilds_and_pulls(served, tmp_path, server_factory):
    db = str(tmp_path / "live" / "termsvc.db")
    os.makedirs(os.path.dirname(db))
    shutil.copy(served, db)
    srv = server_factory(db, env={"TERMSVC_BUILD_CHECK_MS": "50"})
    lookup = f"/fhir/CodeSystem/$lookup?system={CS_URL}&code=kept"
    status, body, _ = srv.get(lookup)
    assert status == 200 and param(body, "display") == "Kept"
    entries = [("package/package.json", MANIFEST), ("package/CodeSystem-a.json", code_system([{"code": "a"}, {"code": "a"}]))]
    refused(db, "--package", tgz(tmp_path / "x.tgz", entries))
    # a pull of a damaged build (its own sha256: the download is what was published) and of one that is no build
    half = tmp_path / "half.db"
    half.write_bytes(open(served, "rb").read()[: os.path.getsize(served) // 2])
    for artifact in (half, tmp_path / "x.tgz"):
        sha = hashlib.sha256(artifact.read_bytes()).hexdigest()
        r = CliRunner().invoke(cli, ["pull", str(artifact), "--sha256", sha, "--db", db, "-q"])
        assert r.exit_code == 1 and "not a termsvc database" in r.output and f"{db} is unchanged" in r.output, r.output
    assert open(db, "rb").read() == open(served, "rb").read()
    status, body, _ = srv.get(lookup)
    assert status == 200 and param(body, "display") == "Kept" and srv.proc.poll() is None
