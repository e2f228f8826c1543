"""A mapping table's `depends_on` column: the conditions a mapping holds under (the laterality beside a
local procedure code), written `attribute=system|code; ...`, built into the target's dependsOn (each
attribute an additionalAttribute), served by $translate's `dependency`, read back on export; rows under
conditions that cannot hold together do not contradict each other (docs/mappings.md)."""
import orjson
import pytest
from click.testing import CliRunner

from conftest import SCT, params_named, post_params
from termsvc.api.app import create_app
from termsvc.build import SourceSpec, build, mapping_sources
from termsvc.cli import cli
from termsvc.mappings.from_fhir import concept_map_to_table
from termsvc.mappings.lint import judge_table
from termsvc.mappings.table import read_table
from termsvc.mappings.to_fhir import concept_map_from_table
from test_mappings import EU, LOCAL, _cs, by_kind, write_table

LATERALITY = "http://example.org/fhir/attribute/laterality"
LEFT, RIGHT = f"{SCT}|7771000", f"{SCT}|24028007"
TABLE = f"""source_code,source_display,target_code,target_display,relationship,depends_on,status
A,Knee XR,X1,Ex one,equivalent,{LATERALITY}={LEFT},accepted
A,Knee XR,X2,Ex two,equivalent,{LATERALITY}={RIGHT},accepted
B,Hip,X3,Ex three,equivalent,modality=CT ; {LATERALITY} = {LEFT},accepted
C,Chest,X4,Ex four,equivalent,,accepted
"""


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    d = tmp_path_factory.mktemp("content")
    for i, r in enumerate([_cs(LOCAL, [(c, c) for c in "ABCDE"]),
                           _cs(EU, [("X1", "Ex one"), ("X2", "Ex two"), ("X3", "Ex three"), ("X4", "Ex four")])]):
        (d / f"r{i}.json").write_bytes(orjson.dumps(r))
    return str(d)


def test_the_column_becomes_the_targets_depends_on(tmp_path):
    t = read_table(write_table(tmp_path, "t", TABLE))
    assert not t.errors, t.problems
    assert t.rows[0].depends_on == ((LATERALITY, SCT, "7771000"),)
    assert t.rows[2].depends_on == (("modality", "", "CT"), (LATERALITY, SCT, "7771000"))
    cm = concept_map_from_table(t)
    [a, b, c] = cm["group"][0]["element"]
    assert [tg["dependsOn"] for tg in a["target"]] == [
        [{"attribute": LATERALITY, "valueCoding": {"system": SCT, "code": "7771000"}}],
        [{"attribute": LATERALITY, "valueCoding": {"system": SCT, "code": "24028007"}}]]
    assert b["target"][0]["dependsOn"][0] == {"attribute": "modality", "valueCode": "CT"}
    assert "dependsOn" not in c["target"][0]
    assert cm["additionalAttribute"] == [{"code": LATERALITY, "uri": LATERALITY, "type": "Coding"},
                                         {"code": "modality", "type": "code"}]
    # and back: the same cells as written (the spaces of row 4 too)
    _, columns, rows = concept_map_to_table(cm)
    assert columns == TABLE.splitlines()[0].split(",")
    assert [",".join(r[h] for h in columns) for r in rows] == TABLE.splitlines()[1:]


def test_rows_under_exclusive_conditions_do_not_contradict_each_other(tmp_path):
    report = judge_table(read_table(write_table(tmp_path, "t", TABLE)))
    assert "conflicting-relationship" not in by_kind(report), report.problems
    # without the conditions (or with ones that can hold together) equivalent to two targets is a conflict
    for cells in (("", ""), (f"{LATERALITY}={LEFT}", "modality=CT")):
        table = TABLE.replace(f"{LATERALITY}={LEFT},accepted\nA", f"{cells[0]},accepted\nA", 1) \
                     .replace(f"{LATERALITY}={RIGHT},", f"{cells[1]},", 1)
        report = judge_table(read_table(write_table(tmp_path / str(len(cells[1])), "t", table)))
        assert "conflicting-relationship" in by_kind(report), (cells, report.problems)


def test_a_cell_that_is_no_condition_is_the_rows_error(tmp_path):
    t = read_table(write_table(tmp_path, "t", TABLE.replace("modality=CT ;", "modality CT;")))
    [problem] = [p for p in t.problems if p.kind == "unreadable-depends-on"]
    assert problem.row == 4 and "modality CT" in problem.message and problem.column == "depends_on"
    t = read_table(write_table(tmp_path / "nomap", "t", TABLE.replace("depends_on,status", "depends_on,status,no_map")
                               .replace(",accepted\n", ",accepted,\n") + "D,Delta,,,,modality=CT,accepted,yes\n"))
    assert [p.row for p in t.problems if p.kind == "depends-on-no-map"] == [6]


def test_built_served_and_exported(tmp_path, content):
    maps = tmp_path / "maps"
    write_table(maps, "t", TABLE)
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("fhir", content)] + mapping_sources([maps], default=False), preexpand=False)
    client = create_app(db).test_client()

    def targets(code, *dependencies, base="/fhir"):
        name = "sourceCode" if base == "/fhir" else "code"
        r = post_params(client, f"{base}/ConceptMap/$translate", [(name, ("valueCode", code)),
                                                                  ("system", ("valueUri", LOCAL)), *dependencies])
        assert r.status_code == 200, r.get_data(as_text=True)
        return [next(p["valueCoding"]["code"] for p in m["part"] if p["name"] == "concept")
                for m in params_named(r.get_json(), "match")]

    def laterality(coding):
        system, code = coding.split("|")
        return ("dependency", ("part", [{"name": "attribute", "valueUri": LATERALITY},
                                        {"name": "value", "valueCoding": {"system": system, "code": code}}]))
    assert targets("A") == ["X1", "X2"]
    assert targets("A", laterality(LEFT)) == ["X1"] and targets("A", laterality(RIGHT)) == ["X2"]
    assert targets("B", laterality(RIGHT)) == [] and targets("B", laterality(LEFT)) == ["X3"]
    assert targets("C", laterality(RIGHT)) == ["X4"]   # no condition: holds whatever the laterality
    assert targets("A", laterality(RIGHT), base="/r4/fhir") == ["X2"]
    # the CLI, through the same build
    r = CliRunner().invoke(cli, ["translate", "A", "-s", LOCAL, "--db", db, "--dependency", f"{LATERALITY}={LEFT}"])
    assert r.exit_code == 0 and "X1" in r.output and "X2" not in r.output, r.output
    # the review page shows the conditions as written
    html = client.get("/mappings/t", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "Depends on" in html and f"modality=CT ; {LATERALITY} = {SCT}|7771000" in html
    # export gives the table back as written
    out = tmp_path / "back.csv"
    r = CliRunner().invoke(cli, ["mappings", "export", "t", "--db", db, "--format", "csv", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8-sig").replace("\r\n", "\n") == TABLE
