"""Faithful synthetic SNOMED CT releases, and an RF2 loader that refuses broken ones (issue 13, item 8):
scripts/gen_snomed_release.py writes unique ids and every metadata concept a real release holds;
the loader refuses a duplicate concept id or a relationship to a concept nobody defines, naming
file and line."""
import csv
import glob
import os
import sys
from collections import Counter

import pytest

from conftest import PROJECT_DIR, QUIET
from synthetic_releases import verhoeff, write_snomed_extension, write_snomed_release
from termsvc.build import BuildError, SourceSpec, build

sys.path.insert(0, os.path.join(PROJECT_DIR, "scripts"))
import gen_snomed_release

IS_A = "116680003"


def rows(root, pattern):
    (path,) = glob.glob(os.path.join(root, "Snapshot", "**", pattern), recursive=True)
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return gen_snomed_release.generate(str(tmp_path_factory.mktemp("gen")), 6000, seed=3)


def test_the_generator_writes_unique_valid_ids(generated):
    for pattern, partition in (("sct2_Concept_*", "00"), ("sct2_Description_*", "01"),
                               ("sct2_Relationship_Snapshot*", "02")):
        ids = [r["id"] for r in rows(generated, pattern)]
        assert [i for i, n in Counter(ids).items() if n > 1] == [], pattern
        for i in ids:
            assert i[-3:-1] == partition and verhoeff(i[:-1]) == i[-1], (pattern, i)


def test_every_concept_the_release_refers_to_is_defined_with_descriptions_and_is_a(generated):
    concepts = {r["id"]: r for r in rows(generated, "sct2_Concept_*")}
    descriptions = rows(generated, "sct2_Description_*")
    relationships = rows(generated, "sct2_Relationship_Snapshot*")
    language = rows(generated, "der2_cRefset_Language*")
    referred = Counter()
    for r in concepts.values():
        referred.update([r["moduleId"], r["definitionStatusId"]])
    for r in descriptions:
        referred.update([r["moduleId"], r["conceptId"], r["typeId"], r["caseSignificanceId"]])
    for r in relationships:
        referred.update([r["moduleId"], r["sourceId"], r["destinationId"], r["typeId"], r["characteristicTypeId"],
                         r["modifierId"]])
    for r in language + rows(generated, "der2_cRefset_Association*") + rows(generated, "der2_Refset_Simple*"):
        referred.update([r["moduleId"], r["refsetId"]] + ([r["acceptabilityId"]] if "acceptabilityId" in r else []))
    assert sorted(set(referred) - set(concepts)) == []
    described = {r["conceptId"] for r in descriptions if r["active"] == "1"}
    parents = {r["sourceId"] for r in relationships if r["active"] == "1" and r["typeId"] == IS_A}
    for cid in {"900000000000207008", "900000000000012004", "900000000000003001", "900000000000013009",
                "900000000000448009", "900000000000011006", "900000000000451002", "900000000000509007",
                "900000000000508004", "900000000000548007", "900000000000549004", "900000000000526001",
                IS_A}:
        assert cid in concepts and cid in described and cid in parents, cid
    active = {c for c, r in concepts.items() if r["active"] == "1"}
    assert active - parents == {"138875005"}             # every active concept but the root has a parent


def test_a_generated_release_loads(generated, tmp_path):
    db = str(tmp_path / "t.db")
    summary = build(db, [SourceSpec("snomed", generated)], QUIET, preexpand=False)
    assert summary["concepts"] > 6000


def _edit(path, change):
    with open(path, newline="", encoding="utf-8") as f:
        lines = f.read().split("\r\n")
    lines = change(lines)
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write("\r\n".join(lines))
    return lines


def test_the_loader_refuses_a_duplicate_concept_id(tmp_path):
    release = write_snomed_release(str(tmp_path / "s"))
    (path,) = glob.glob(os.path.join(release, "Snapshot", "Terminology", "sct2_Concept_*"))
    lines = _edit(path, lambda ls: ls[:-1] + [ls[3]] + ls[-1:])   # the third concept again, at the end
    with pytest.raises(BuildError) as e:
        build(str(tmp_path / "t.db"), [SourceSpec("snomed", release)], QUIET, preexpand=False)
    dup = lines[3].split("\t")[0]
    assert f"{path}: line {len(lines) - 1}: duplicate concept id {dup} (first at {path} line 4)" in str(e.value)


@pytest.mark.parametrize("column, field", [(5, "destinationId"), (4, "sourceId"), (7, "typeId")])
def test_the_loader_refuses_a_relationship_to_a_concept_nobody_defines(tmp_path, column, field):
    release = write_snomed_release(str(tmp_path / "s"))
    (path,) = glob.glob(os.path.join(release, "Snapshot", "Terminology", "sct2_Relationship_Snapshot*"))

    def dangle(ls):
        fields = ls[2].split("\t")
        fields[column] = "999999991"   # not in the release
        return ls[:2] + ["\t".join(fields)] + ls[3:]
    _edit(path, dangle)
    with pytest.raises(BuildError) as e:
        build(str(tmp_path / "t.db"), [SourceSpec("snomed", release)], QUIET, preexpand=False)
    assert f"{path}: line 3: relationship " in str(e.value)
    assert f"{field} 999999991 is not a concept of this release" in str(e.value)


def test_an_extension_may_refer_to_the_edition_it_is_loaded_with(tmp_path):
    """What an extension's relationships name may be defined by the International edition under it;
    the same extension alone is refused."""
    edition = write_snomed_release(str(tmp_path / "int"))
    extension = write_snomed_extension(str(tmp_path / "dk"))
    build(str(tmp_path / "both.db"), [SourceSpec("snomed", edition), SourceSpec("snomed", extension)], QUIET,
          preexpand=False)
    with pytest.raises(BuildError, match="without the International edition"):
        build(str(tmp_path / "alone.db"), [SourceSpec("snomed", extension)], QUIET, preexpand=False)
