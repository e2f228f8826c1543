"""Releases nobody tried yet: RF2 and LOINC packages as other distributors, tools and damaged downloads
make them. Each loads, or fails with a BuildError naming the file (and line) at fault, leaving the
served build untouched - never a traceback."""
import glob
import os
import sqlite3
import zipfile

import pytest
from click.testing import CliRunner

from conftest import QUIET
from synthetic_releases import sctid, write_loinc_release, write_snomed_extension, write_snomed_release
from termsvc.build import BuildError, SourceSpec, build
from termsvc.cli import cli


def _served(tmp_path):
    path = str(tmp_path / "served.db")
    open(path, "wb").write(b"existing build")
    return path


def _one(root, pattern):
    (path,) = glob.glob(os.path.join(root, "**", pattern), recursive=True)
    return path


def _append(path, data: bytes):
    with open(path, "ab") as f:
        f.write(data)


def _rename_all(root, old, new):
    for path in glob.glob(os.path.join(root, "**", f"*_{old}*"), recursive=True):
        d, name = os.path.split(path)
        os.rename(path, os.path.join(d, name.replace(old, new)))


def _corrupt_concepts_in_zip(root):
    z = root + ".zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as out:
        for path in glob.glob(os.path.join(root, "**", "*.txt"), recursive=True):
            out.write(path, os.path.relpath(path, os.path.dirname(root)))
    data = bytearray(open(z, "rb").read())
    at = data.index(b"sct2_Concept_Snapshot") + 200   # inside the member's compressed bytes
    data[at:at + 60] = bytes(60)
    open(z, "wb").write(bytes(data))
    return z


def _zip_holding_the_zip(root):
    inner = _corrupt_concepts_in_zip(root)   # (its content does not matter: it is never opened)
    outer = os.path.join(os.path.dirname(root), "download.zip")
    with zipfile.ZipFile(outer, "w") as z:
        z.write(inner, "download/" + os.path.basename(inner))
    return outer


SNOMED_CASES = {
    "Full files only": (lambda r: _rename_all(r, "Snapshot", "Full") or r,
                        r"sct2_Concept_Snapshot_\*\.txt not found: it holds Full files only; termsvc loads the Snapshot"),
    "Delta files only": (lambda r: _rename_all(r, "Snapshot", "Delta") or r,
                         r"not found: it holds Delta files only"),
    "a zip inside the zip": (_zip_holding_the_zip,
                             r"download\.zip: required RF2 file .* it holds the zip file\(s\) download/Snomed\S+\.zip;"
                             r" give the release zip itself"),
    "a concept id that is no SCTID": (
        lambda r: _append(_one(r, "sct2_Concept_Snapshot*"),
                          b"abc\t20250701\t1\t900000000000207008\t900000000000074008\r\n") or r,
        r"sct2_Concept_Snapshot_INT_20250701\.txt: line \d+: concept id 'abc' is not an SCTID"),
    "Latin-1 bytes in the concept file": (
        lambda r: _append(_one(r, "sct2_Concept_Snapshot*"),
                          b"12345\xe9\t20250701\t1\t900000000000207008\t900000000000074008\r\n") or r,
        r"sct2_Concept_Snapshot_INT_20250701\.txt: not UTF-8"),
    "an empty concept file": (lambda r: open(_one(r, "sct2_Concept_Snapshot*"), "w").close() or r,
                              r"sct2_Concept_Snapshot_INT_20250701\.txt: line 1: empty file; expected id<TAB>"),
    "a wrong header in an optional file": (
        lambda r: open(_one(r, "der2_Refset_SimpleSnapshot*"), "w").write("id\trefsetId\r\n") and r,
        r"der2_Refset_SimpleSnapshot_INT_20250701\.txt: line 1: unexpected header"),
    "a damaged zip member": (_corrupt_concepts_in_zip,
                             r"\.zip!\S+sct2_Concept_Snapshot_INT_20250701\.txt: damaged zip member .*download the"
                             r" release again"),
}


@pytest.mark.parametrize("case", SNOMED_CASES)
def test_a_broken_snomed_release_is_refused_naming_the_file(tmp_path, case):
    mangle, message = SNOMED_CASES[case]
    location = mangle(write_snomed_release(str(tmp_path), generated=10))
    path = _served(tmp_path)
    with pytest.raises(BuildError, match=message):
        build(path, [SourceSpec("snomed", location)], QUIET, preexpand=False)
    assert open(path, "rb").read() == b"existing build"


def test_a_zip_made_on_windows_loads(tmp_path):
    """Folder names in the zip separated by backslashes (some Windows tools write them so)."""
    root = write_snomed_release(str(tmp_path), generated=10)
    z = str(tmp_path / "windows.zip")
    with zipfile.ZipFile(z, "w") as out:
        for path in glob.glob(os.path.join(root, "**", "*.txt"), recursive=True):
            out.write(path, os.path.relpath(path, str(tmp_path)).replace(os.sep, "\\"))
    db = str(tmp_path / "w.db")
    build(db, [SourceSpec("snomed", z)], QUIET, preexpand=False)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT display FROM concept WHERE code='241601008'").fetchone() == ("MRI of head",)


@pytest.mark.parametrize("made_for,warned", [("20250701", False), ("20250101", True)])
def test_an_extension_loaded_on_another_international_release_than_it_was_made_for_is_said(tmp_path, made_for,
                                                                                             warned):
    """Its module dependency refset names the International version it depends on."""
    international = write_snomed_release(str(tmp_path / "int"), date="20250701", generated=10)
    extension = write_snomed_extension(str(tmp_path / "dk"), int_date=made_for)
    db = str(tmp_path / "x.db")
    r = CliRunner().invoke(cli, ["build", "--db", db, "--no-defaults", "--no-preexpand", "--quiet",
                                 "--snomed", international, "--snomed", extension])
    assert r.exit_code == 0, r.output
    warning = (f"termsvc: warning: {extension}: the extension (module 554471000005108) depends on module"
               f" 900000000000207008 as of 20250101, loaded here as of 20250701 ({international})")
    assert (warning in r.output) is warned and ("depends on module" in r.output) is warned


def test_loinc_files_padded_with_blanks_and_a_latin1_loinc_xml_load(tmp_path):
    """Headers and cells padded after the commas (as HAPI's test copies are); a loinc.xml that is
    not UTF-8 still tells the version."""
    root = write_loinc_release(str(tmp_path), version="2.81")
    table = os.path.join(root, "LoincTable", "Loinc.csv")
    text = open(table, encoding="utf-8", newline="").read()
    open(table, "w", encoding="utf-8", newline="").write(text.replace('","', '", "'))
    open(os.path.join(root, "loinc.xml"), "wb").write(
        b'<?xml version="1.0" encoding="ISO-8859-1"?>\r\n<loinc version="2.81">R\xe9gion</loinc>\r\n')
    db = str(tmp_path / "l.db")
    build(db, [SourceSpec("loinc", root)], QUIET, preexpand=False)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT version FROM code_system").fetchone()[0] == "2.81"
    assert conn.execute("SELECT display FROM concept WHERE code='24627-2'").fetchone() == ("CT Chest",)


def test_a_loinc_column_given_twice_is_refused(tmp_path):
    root = write_loinc_release(str(tmp_path))
    table = os.path.join(root, "LoincTable", "Loinc.csv")
    text = open(table, encoding="utf-8", newline="").read()
    open(table, "w", encoding="utf-8", newline="").write(text.replace('"SHORTNAME"', '"LONG_COMMON_NAME"', 1))
    path = _served(tmp_path)
    with pytest.raises(BuildError, match=r"Loinc\.csv: line 1: column\(s\) LONG_COMMON_NAME given twice"):
        build(path, [SourceSpec("loinc", root)], QUIET, preexpand=False)
    assert open(path, "rb").read() == b"existing build"


def test_a_loinc_release_that_does_not_tell_its_version_is_given_one_on_the_command_line(tmp_path):
    root = write_loinc_release(str(tmp_path))
    os.remove(os.path.join(root, "loinc.xml"))
    renamed = str(tmp_path / "download")
    os.rename(root, renamed)
    db = str(tmp_path / "c.db")
    args = ["build", "--db", db, "--no-defaults", "--no-preexpand", "--quiet", "--loinc", renamed]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code != 0 and "give it: termsvc build --loinc-version 2.NN" in refused.output
    built = CliRunner().invoke(cli, args + ["--loinc-version", "2.77"])
    assert built.exit_code == 0, built.output
    assert sqlite3.connect(db).execute("SELECT version FROM code_system").fetchone()[0] == "2.77"


def test_descriptions_of_concepts_no_edition_defines_are_said_not_dropped_silently(tmp_path):
    """A Description file naming concepts the Concept files lack (a truncated file, an extension loaded
    without its edition): the build warns how many, of which concepts, and the rest loads."""
    root = write_snomed_release(str(tmp_path / "int"), generated=10)
    (path,) = glob.glob(os.path.join(root, "Snapshot", "Terminology", "sct2_Description_Snapshot-en_*.txt"))
    missing = [sctid(900000 + i) for i in range(7)]
    with open(path, "a", encoding="utf-8", newline="") as f:
        for i, concept in enumerate(missing):
            for j, typ in enumerate(("900000000000003001", "900000000000013009")):   # an FSN and a synonym of each
                f.write(f"{sctid(800000 + 2 * i + j, '01')}\t20250701\t1\t900000000000207008\t"
                        f"{concept}\ten\t{typ}\tOrphan {i}\t900000000000448009\r\n")
    db = str(tmp_path / "x.db")
    r = CliRunner().invoke(cli, ["build", "--db", db, "--no-defaults", "--no-preexpand", "--quiet", "--snomed", root])
    assert r.exit_code == 0, r.output
    assert (f"termsvc: warning: {root}: 14 description(s) of 7 concept(s) no loaded edition defines were left out"
            f" (concepts {', '.join(missing[:5])}, ...)") in r.output
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT display FROM concept WHERE code='241601008'").fetchone() == ("MRI of head",)
    assert conn.execute("SELECT count(*) FROM concept WHERE code IN (%s)" % ",".join("?" * 7), missing).fetchone() == (0,)
