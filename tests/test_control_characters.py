"""C0 control characters (all but tab, CR and LF: fhir.shape.CONTROL_CHARACTER) where a terminology's text is:
a mapping table's cell (CSV, or an XLSX's `_x0007_`) is an error of its row - named by row, column and code
point, left out of what a build serves as any row in error is - and a resource a request sends is a 400 naming
the element, as a release file or a package holding one is refused by the loaders."""
import io
import json

import openpyxl
import pytest
from click.testing import CliRunner

from conftest import DCM, param
from termsvc.api.app import create_app
from termsvc.build import BuildError, build
from termsvc.cli import cli
from termsvc.mappings.table import read_table
from test_hostile import answered, json_post, parameters
from test_mappings import EU, TOML, write_table
from test_mappings_build import content, matches, sources, translate  # noqa: F401 (content: a fixture)

HEADER = "source_code,source_display,target_system,target_code,target_display,relationship,status,comment,freq\r\n"
ROWS = [  # (row, the cells after the source code, the column in error or None)
    (2, "Alpha,,X1,Ex one,equivalent,accepted,fine,1", None),
    (3, "Al\x07pha,,X1,Ex one,equivalent,accepted,,", "source_display"),
    (4, "Alpha\x1f,,X1,Ex one,equivalent,accepted,,", "source_display"),        # (trimmed away, were it unsaid)
    (5, "Alpha,,X1\x1b[31m,Ex one,equivalent,accepted,,", "target_code"),
    (6, "Alpha,,X1,Ex\x0bone,equivalent,accepted,,", "target_display"),
    (7, "Alpha,http://ex.test/cs/eu\t,X1,Ex one,equivalent,accepted,,", None),  # (trimmed: a blank at its end)
    (8, "Alpha,http://ex.test/\tcs/eu,X1,Ex one,equivalent,accepted,,", "target_system"),
    (9, 'Alpha,,X1,Ex one,equivalent,accepted,"two\r\nlines\tand a tab",', None),
    (10, "Alpha,,X1,Ex one,equivalent,accepted,a \x0c form feed,", "comment"),
    (11, "Alpha,,X1,Ex one,equivalent,accepted,,\x00", "freq"),
    (12, "Alpha\tBeta,,X1,Ex one,equivalent,accepted,,", None),              # a tab in a text
]
LOCAL_CODES = "http://ex.test/cs/ctl-local"
CODE_POINTS = {3: "U+0007", 4: "U+001F", 5: "U+001B", 6: "U+000B", 8: "U+0009", 10: "U+000C", 11: "U+0000"}


def hostile_table(folder, name="ctl"):
    """One source code per row (A2, A3, ...: each its own, so a row left out leaves its code unmapped), of a
    local code system the build does not hold."""
    path = write_table(folder, name, HEADER + "".join(f"A{row},{cells}\r\n" for row, cells, _ in ROWS), toml=False)
    (folder / f"{name}.toml").write_text(f'url = "http://ex.test/cm/{name}"\nstatus = "active"\n'
                                         f'source_system = "{LOCAL_CODES}"\ntarget_system = "{EU}"\n')
    return path


def test_a_control_character_in_any_cell_is_an_error_of_its_row_named_by_column_and_code_point(tmp_path):
    t = read_table(hostile_table(tmp_path))
    errors = {e.row: e for e in t.errors}
    assert {row: e.column for row, e in errors.items()} == {row: col for row, _, col in ROWS if col}
    assert all(e.kind == "invalid-cell" and CODE_POINTS[row] in e.message for row, e in errors.items())
    assert "at character 3" in errors[3].message and "at character 6" in errors[4].message
    assert t.problems == [p for p in t.problems if p.level == "error" or p.kind != "invalid-cell"]
    # a report on a terminal shows the character escaped, never sends it
    assert "\x1b" not in errors[5].line() and "X1\\x1b[31m" in errors[5].line()
    # a tab in a text, a line break in a quoted cell: as written
    by_row = {r.row: r for r in t.rows}
    assert by_row[9].comment == "two\r\nlines\tand a tab" and by_row[12].source_display == "Alpha\tBeta"


def test_an_xlsx_cell_holds_one_as_excel_escapes_it(tmp_path):
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.append(["source_code", "source_display", "target_code", "relationship", "status", "comment"])
    sheet.append(["A1", "Alpha", "X1", "equivalent", "accepted", "two_x000D_\nlines"])   # Excel's CR LF in a cell
    sheet.append(["A2", "Al_x0007_pha", "X1", "equivalent", "accepted", ""])
    sheet.append(["A3", "Alpha", "X1_x001F_", "equivalent", "accepted", ""])
    out = io.BytesIO()
    wb.save(out)
    (tmp_path / "x.xlsx").write_bytes(out.getvalue())
    (tmp_path / "x.toml").write_text(TOML.format(name="x"), encoding="utf-8")
    t = read_table(str(tmp_path / "x.xlsx"))
    assert [(e.row, e.column, e.kind) for e in t.errors] == [(3, "source_display", "invalid-cell"),
                                                            (4, "target_code", "invalid-cell")]
    assert "U+0007" in t.errors[0].message and "U+001F" in t.errors[1].message
    assert t.rows[0].comment == "two\r\nlines" and t.rows[1].source_display == "Al\x07pha"


def test_the_check_says_it_and_the_build_refuses_or_leaves_out_only_those_rows(tmp_path, content):  # noqa: F811
    maps = tmp_path / "maps"
    hostile_table(maps)
    r = CliRunner().invoke(cli, ["mappings", "check", str(maps), "--no-db", "--json"])
    assert r.exit_code == 1, r.output
    (table,) = json.loads(r.output)["tables"]
    said = {(p["row"], p["column"]) for p in table["problems"] if p["level"] == "error"}
    assert said == {(row, col) for row, _, col in ROWS if col}
    db = str(tmp_path / "t.db")
    with pytest.raises(BuildError) as e:
        build(db, sources(content, maps), preexpand=False)
    assert all(f"ctl.csv:{row}: {col}" in str(e.value) for row, _, col in ROWS if col)
    build(db, sources(content, maps, allow_errors=True), preexpand=False)
    client = create_app(db).test_client()
    for row, _, col in ROWS:
        answer = translate(client, f"A{row}", LOCAL_CODES)
        assert [m["concept"]["code"] for m in matches(answer)] == ([] if col else ["X1"]), row
    served = json.dumps(client.get("/fhir/ConceptMap?url=http://ex.test/cm/ctl").get_json())
    assert "\\u0007" not in served and "\\u0000" not in served and "two\\r\\nlines\\tand a tab" in served


# -- posted resources ---------------------------------------------------------------------------------

CS = "http://ex.test/cs/posted"
VS = "http://ex.test/vs/posted"


def code_system(**concept) -> dict:
    return {"resourceType": "CodeSystem", "url": CS, "status": "active", "content": "complete",
            "concept": [{"code": "a", "display": "A"}, {"code": "b", "display": "B", **concept}]}


VALUE_SET = {"resourceType": "ValueSet", "url": VS, "status": "active", "compose": {"include": [{"system": CS}]}}
HOSTILE = {  # what is sent -> the element named
    "a display": (code_system(display="B\x07"), ".concept[1].display"),
    "a code": (code_system(code="b\x1f"), ".concept[1].code"),
    "a designation": (code_system(designation=[{"value": "\x00"}]), ".concept[1].designation[0].value"),
    "a value set's system": ({**VALUE_SET, "compose": {"include": [{"system": CS + "\x0b"}]}},
                             ".compose.include[0].system"),
}


@pytest.mark.parametrize("what", HOSTILE)
def test_a_posted_resource_with_a_control_character_is_refused_naming_the_element(live_server, what):
    sent, element = HOSTILE[what]
    other = VALUE_SET if sent["resourceType"] == "CodeSystem" else code_system()
    for path, body in (
            ("/fhir/ValueSet/$validate-code", parameters({"name": "url", "valueUri": VS}, {"name": "system", "valueUri": CS},
                                                         {"name": "code", "valueCode": "a"},
                                                         {"name": "tx-resource", "resource": other},
                                                         {"name": "tx-resource", "resource": sent})),
            ("/r4/fhir/ValueSet/$expand", parameters({"name": "valueSet", "resource": sent},
                                                     {"name": "tx-resource", "resource": other})
             if sent["resourceType"] == "ValueSet" else parameters({"name": "valueSet", "resource": VALUE_SET},
                                                                   {"name": "tx-resource", "resource": sent}))):
        status, answer = json_post(live_server, path, body)
        assert status == 400, answer
        (issue,) = answer["issue"]
        assert issue["expression"][0].endswith(".resource" + element), issue
        assert "a control character (U+" in issue["details"]["text"]
    # in a batch, the entry is refused and the others answered
    entry = {"request": {"method": "POST", "url": "ValueSet/$expand"}}
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {**entry, "resource": json.loads(parameters({"name": "valueSet", "resource": VALUE_SET},
                                                    {"name": "tx-resource", "resource": code_system()}))},
        {**entry, "resource": json.loads(body)}]}
    status, answer = json_post(live_server, "/fhir", json.dumps(batch).encode())
    assert status == 200 and [e["response"]["status"][:3] for e in answer["entry"]] == ["200", "400"]


def test_the_same_resources_without_one_are_answered_and_a_tab_or_line_break_is_text(live_server):
    sent = code_system(display="B\tb", definition="two\r\nlines")
    status, answer = json_post(live_server, "/fhir/ValueSet/$expand", parameters(
        {"name": "valueSet", "resource": VALUE_SET}, {"name": "tx-resource", "resource": sent}))
    assert status == 200 and [c["display"] for c in answer["expansion"]["contains"]] == ["A", "B\tb"]


@pytest.mark.parametrize("coding", [{"system": DCM, "code": "CT\x01"}, {"system": DCM + "\x1b", "code": "CT"},
                                    {"system": DCM, "code": "CT", "display": "Computed\x00Tomography"}])
def test_a_posted_coding_with_one_is_refused_as_a_code_with_one_is(live_server, coding):
    for path in ("/fhir/CodeSystem/$validate-code", "/fhir/CodeSystem/$lookup", "/fhir/ConceptMap/$translate"):
        status, answer = json_post(live_server, path, parameters({"name": "coding", "valueCoding": coding}))
        assert status == 400 and "a control character (U+" in answer["issue"][0]["details"]["text"], answer


@pytest.mark.parametrize("coding", [f"{DCM}|CT%01", f"{DCM}%1B|CT", "CT%07"])
def test_a_coding_of_the_query_string_with_one_is_refused(live_server, coding):
    for path in ("/fhir/CodeSystem/$validate-code", "/fhir/CodeSystem/$lookup", "/fhir/ConceptMap/$translate"):
        status, answer = answered(live_server, "GET", f"{path}?coding={coding}")
        assert status == 400 and "a control character (U+" in answer["issue"][0]["details"]["text"], answer
    status, answer = answered(live_server, "GET", f"/fhir/CodeSystem/$validate-code?coding={DCM}|CT%09")
    assert status == 200 and param(answer, "result") is False   # (a tab: text, but no code of DICOM's)


def test_a_header_or_a_metadata_value_with_one_makes_the_table_unusable(tmp_path):
    """(both are text of the ConceptMap served: a column's name, its title)"""
    rows = "".join(f"A{i},X1,equivalent,accepted,x\r\n" for i in range(5))   # (one in 1 % of a text: a binary file)
    path = write_table(tmp_path, "h", "source_code,target_code,relationship,status,note\x07\r\n" + rows)
    t = read_table(path)
    assert not t.usable and [(e.row, e.column, e.kind) for e in t.errors] == [(1, "note\x07", "invalid-cell")]
    assert "U+0007" in t.errors[0].message and "\x07" not in t.errors[0].line()
    path = write_table(tmp_path, "m", "source_code,target_code,relationship,status\r\nA1,X1,equivalent,accepted\r\n")
    (tmp_path / "m.toml").write_text(TOML.format(name="m").replace('title = "Test table"', 'title = "Test\\u001btable"'))
    t = read_table(path)
    assert not t.usable and [(e.kind, e.row) for e in t.errors] == [("invalid-metadata", None)]
    assert "metadata 'title'" in t.errors[0].message and "U+001B" in t.errors[0].message
