"""Mapping tables: reading, lint, ConceptMap round trip, R4 export, loader, CLI."""
import json
import os

import openpyxl
import orjson
import pytest
from click.testing import CliRunner

from conftest import param
from termsvc.build import BuildError, SourceSpec, build
from termsvc.fhir.convert import EXT_R4_EQUIVALENCE
from termsvc.cli.mappings import mappings as mappings_cli
from termsvc.mappings.from_fhir import concept_map_to_table, rows_to_csv
from termsvc.mappings.lint import check, judge_table
from termsvc.fhir.conceptmap_r4 import concept_map_r5_to_r4
from termsvc.mappings.table import read_table
from termsvc.mappings.to_fhir import EXT_STATUS, concept_map_from_table
from termsvc.store.reader import Store

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(PROJECT, "mappings_csv")

LOCAL = "http://ex.test/cs/local"
EU = "http://ex.test/cs/eu"
FRAG = "http://ex.test/cs/frag"
TOML = f'''url = "http://ex.test/cm/{{name}}"
version = "1"
name = "T"
title = "Test table"
status = "active"
source_scope = "http://ex.test/vs/local"
target_scope = "http://ex.test/vs/eu-scope"
source_system = "{LOCAL}"
target_system = "{EU}"
'''


def write_table(folder, name, text, encoding="utf-8", toml=True):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.csv")
    with open(path, "wb") as f:
        f.write(text.encode(encoding) if encoding != "utf-8-sig" else b"\xef\xbb\xbf" + text.encode("utf-8"))
    if toml:
        with open(os.path.join(folder, f"{name}.toml"), "w", encoding="utf-8") as f:
            f.write(TOML.format(name=name))
    return path


def by_kind(report_or_table):
    probs = report_or_table.problems
    out = {}
    for p in probs:
        out.setdefault(p.kind, []).append(p.row)
    return out


# -- reading -------------------------------------------------------------------------------
def test_cp1252_semicolon_file(tmp_path):
    p = write_table(tmp_path, "t", "source_code;source_display;target_code;relationship;status\r\n"
                    "0012;Radiografía de tórax;X1;equivalent;accepted\r\n", encoding="cp1252")
    t = read_table(p)
    assert t.encoding == "cp1252" and t.delimiter == ";"
    assert not t.problems
    assert t.rows[0].source_code == "0012"
    assert t.rows[0].source_display == "Radiografía de tórax"


def test_a_byte_windows_1252_leaves_unassigned_is_kept_not_replaced(tmp_path):
    """0x81 has no Windows-1252 character: it is read as Latin-1's (U+0081), not lost as U+FFFD."""
    p = os.path.join(tmp_path, "t.csv")
    write_table(tmp_path, "t", "")
    with open(p, "wb") as f:
        f.write(b"source_code;source_display;target_code;relationship\r\nA1;\x80 T\xf3rax \x81;X1;equivalent\r\n")
    t = read_table(p)
    assert t.encoding == "cp1252" and t.rows[0].source_display == "\u20ac T\u00f3rax \u0081"


def test_a_control_character_in_a_code_is_an_error_of_its_row(tmp_path):
    """A NUL, or a line break of a quoted cell, is no part of a code: the row is reported, the others served."""
    p = write_table(tmp_path, "t", 'source_code,target_code,relationship,status\r\n'
                                   '"00\r\n12",X1,equivalent,accepted\r\nMR,"X\x002",equivalent,accepted\r\n'
                                   'CT,X3,equivalent,accepted\r\n')
    t = read_table(p)
    assert [(e.row, e.kind, e.column) for e in t.errors] == [(2, "invalid-cell", "source_code"),
                                                             (3, "invalid-cell", "target_code")]
    assert "holds the control character U+000D" in t.errors[0].message
    # (the rows Excel shows: the quoted line break keeps its record one row)
    assert [(r.row, r.source_code, r.target_code) for r in t.rows] == [(2, "", "X1"), (3, "MR", ""), (4, "CT", "X3")]


def test_a_cell_longer_than_the_csv_module_reads_is_an_error_of_its_row(tmp_path):
    p = write_table(tmp_path, "t", "source_code,target_code,relationship,comment\r\n"
                                   f"A1,X1,equivalent,{'x' * 200_000}\r\nA2,X2,equivalent,short\r\n")
    t = read_table(p)
    assert [(e.row, e.kind, e.source_code) for e in t.errors] == [(2, "malformed-row", "A1")]
    assert "a cell is longer than 131,072 characters" in t.errors[0].message
    assert [r.source_code for r in t.rows] == ["A2"]


def test_bom_file_header_recognised(tmp_path):
    p = write_table(tmp_path, "t", "Source_Code,Target Code,relationship\n1.10,X1,wider\n", encoding="utf-8-sig")
    t = read_table(p)
    assert not t.errors
    assert t.columns[0] == "Source_Code"
    r = t.rows[0]
    assert (r.source_code, r.target_code, r.relationship, r.r4_word) == \
        ("1.10", "X1", "source-is-narrower-than-target", "wider")


def test_tab_delimited_quoted_trailing_blanks(tmp_path):
    p = write_table(tmp_path, "t", 'source_code\ttarget_code\trelationship\tcomment\tfreq\n'
                    '0012  \tX1\tequivalent\t"a, quoted; comment"\t007\n\n'
                    '1.10\tX2\tnarrower\t\t1.50\n')
    t = read_table(p)
    assert t.delimiter == "\t" and not t.errors
    assert [r.source_code for r in t.rows] == ["0012", "1.10"]
    assert [r.row for r in t.rows] == [2, 4]          # the blank line keeps its number
    assert t.rows[0].comment == "a, quoted; comment"
    assert [r.extras["freq"] for r in t.rows] == ["007", "1.50"]


def test_missing_required_column(tmp_path):
    p = write_table(tmp_path, "t", "code,target_code,relationship\nA,X1,equivalent\n")
    t = read_table(p)
    assert not t.usable
    assert by_kind(t) == {"missing-column": [1]}


def test_missing_metadata_and_unreadable_xlsx(tmp_path):
    p = write_table(tmp_path, "nometa", "source_code,target_code,relationship\nA,X1,equivalent\n", toml=False)
    assert by_kind(read_table(p)) == {"missing-metadata": [None]}
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip file")
    (tmp_path / "bad.toml").write_text('url = "http://x"\n')
    t = read_table(str(bad))
    assert not t.usable and by_kind(t) == {"unreadable": [None]}


def test_structural_errors_with_rows(tmp_path):
    p = write_table(tmp_path, "t", "\n".join([
        "source_code,target_code,relationship,status,no_map",
        "A,X1,foo,accepted,",            # 2 unknown relationship
        "A,X2,equivalent,done,",         # 3 unknown status
        "B,,,accepted,",                 # 4 empty target without no_map
        "C,X1,equivalent,accepted,",     # 5
        "C,X1,wider,accepted,",          # 6 conflicting relationship (with 5, both accepted: errors of both)
        "C,X1,equivalent,draft,",        # 7 duplicate of row 5 (and contradicts the accepted row 6: a warning)
        "D,,,accepted,maybe",            # 8 unknown no_map value
        "E,,,accepted,yes",              # 9 deliberate no-map ...
        "E,X3,equivalent,accepted,",     # 10 ... and a map of the same source: errors of both
        "F,X4,equivalent,accepted,",     # 11 equivalent to two targets: errors of both
        "F,X5,equivalent,accepted,",     # 12
        "G,X4,equivalent,accepted,",     # 13 fine: equivalent to one, broader than another
        "G,X5,wider,accepted,",          # 14
        "H,X6,equivalent,accepted,",     # 15 contradicted by a rejected row: it stands
        "H,X6,not-related-to,rejected,",  # 16
    ]) + "\n")
    t = read_table(p)
    assert t.usable
    assert by_kind(t) == {"unknown-relationship": [2], "unknown-status": [3], "empty-target": [4],
                          "duplicate-row": [7], "unknown-no-map": [8]}
    judged = judge_table(t)   # conflicts are judged with what the build serves
    conflicts = [(p.row, p.level) for p in judged.problems if p.kind == "conflicting-relationship"]
    assert sorted(conflicts) == [(5, "error"), (6, "error"), (7, "warning"), (9, "error"), (10, "error"),
                                 (11, "error"), (12, "error")]
    (f11,) = [p for p in judged.problems if p.kind == "conflicting-relationship" and p.row == 11]
    assert f11.message == ("F is equivalent to both X4 and X5: rows 11 and 12 contradict each other, so neither is"
                           " served")
    assert {r.row for r in judged.served_rows()} == {13, 14, 15}


def test_row_numbers_are_the_rows_excel_shows(tmp_path):
    """A CSV's record is one row in Excel however many lines its quoted cells span (Alt+Enter in a comment),
    and a blank line is a row: a problem names the row the terminologist sees."""
    lines = ["",                                              # row 1: blank lines before the header
             "source_code,target_code,relationship,comment",  # 2
             'A,X1,equivalent,"a comment',                    # 3: a quoted cell over three lines
             "over more",                                     #
             'lines"',                                        #
             "B,X2,equivalent,",                              # 4
             "",                                              # 5
             'C,X3,sortof,"two',                              # 6: an unknown relationship
             'lines"',                                        #
             "D,X4,equivalent,"]                              # 7
    t = read_table(write_table(tmp_path, "t", "\r\n".join(lines) + "\r\n"))
    assert [r.row for r in t.rows] == [3, 4, 6, 7]
    assert t.rows[0].comment == "a comment\r\nover more\r\nlines"
    assert by_kind(t) == {"unknown-relationship": [6]}
    # a line break of a cell other than CR, LF or CRLF (U+2028, NEL, a form feed) breaks no row
    t = read_table(write_table(tmp_path, "s", "source_code,source_display,target_code,relationship\n"
                               "A,Thorax\u2028PA,X1,equivalent\nB,Abdomen\x0cneu,X2,sortof\nC,Knie\x85links,X3,equivalent\n"))
    assert [(r.row, r.source_code, r.source_display) for r in t.rows] == [
        (2, "A", "Thorax\u2028PA"), (3, "B", "Abdomen\x0cneu"), (4, "C", "Knie\x85links")]
    assert by_kind(t) == {"unknown-relationship": [3], "invalid-cell": [3]}   # (a form feed: a C0 control character)
    assert by_kind(read_table(write_table(tmp_path, "u", "\n".join(lines[2:]) + "\n"))) == {
        "missing-column": [1]}   # no header found: the first line with a cell


def test_a_line_with_surplus_cells_is_an_error_for_that_row_only(tmp_path):
    t = read_table(write_table(tmp_path, "t", "source_code;target_code;relationship;comment\n"
                               "A;X1;equivalent;fine\n"
                               "B;X2;equivalent;one; two\n"     # 3: an unquoted ';' in the comment
                               "C;X3;wider;;\n"                  # 4: an empty surplus cell is harmless
                               "D;X4;foo;\n"))                   # 5
    assert t.usable and [r.source_code for r in t.rows] == ["A", "C", "D"]
    assert by_kind(t) == {"malformed-row": [3], "unknown-relationship": [5]}
    assert "4 cells, the header 4" not in t.problems[0].message and "5 cells" in t.problems[0].message


def test_a_quote_never_closed_costs_its_row_only(tmp_path):
    t = read_table(write_table(tmp_path, "t", "source_code;source_display;target_code;relationship;comment\n"
                               "A;Alpha;X1;equivalent;fine\n"
                               'B;Bravo;X2;equivalent;"an open quote\n'     # 3: the quote is never closed
                               "C;Charlie;X3;wider;\n"
                               "D;Delta;X4;foo;\n"))                       # 5
    assert t.usable and [r.source_code for r in t.rows] == ["A", "C", "D"]
    assert by_kind(t) == {"malformed-row": [3], "unknown-relationship": [5]}
    malformed = t.problems[0]
    assert "never closed" in malformed.message
    assert (malformed.source_code, malformed.source_display) == ("B", "Bravo")


def test_every_problem_shows_row_source_code_and_display_in_text_json_and_html(tmp_path):
    folder = tmp_path / "t"
    write_table(folder, "t", "source_code;source_display;target_code;relationship;comment\n"
                "A;Alpha;X1;equivalent;one; two\n"        # 2: an unquoted ';' in the comment
                "B;Bravo;X2;sortof;\n"                     # 3
                "C;Charlie;X3;equivalent;\n")
    runner = CliRunner()
    r = runner.invoke(mappings_cli, ["check", str(folder), "--no-db"])
    assert r.exit_code == 1
    assert "t.csv:2: error: malformed-row: the row has 6 cells, the header 5" in r.output
    assert "(source code 'A' 'Alpha')" in r.output
    assert "t.csv:3: error: unknown-relationship [relationship]: unknown relationship 'sortof'" in r.output
    assert "(source code 'B' 'Bravo')" in r.output
    data = json.loads(runner.invoke(mappings_cli, ["check", str(folder), "--no-db", "--json"]).output)
    problems = {(p["row"], p["kind"]): (p["source_code"], p["source_display"]) for p in data["tables"][0]["problems"]
                if p["level"] == "error"}
    assert problems == {(2, "malformed-row"): ("A", "Alpha"), (3, "unknown-relationship"): ("B", "Bravo")}
    html = tmp_path / "r.html"
    runner.invoke(mappings_cli, ["check", str(folder), "--no-db", "--html", str(html)])
    page = html.read_text(encoding="utf-8")
    assert ('<td>2</td><td class="code"><code>A</code></td><td>Alpha</td><td>error</td>'
            '<td class="nowrap">malformed-row</td>') in page
    assert ('<td>3</td><td class="code"><code>B</code></td><td>Bravo</td><td>error</td>'
            '<td class="nowrap">unknown-relationship</td>') in page


def test_a_table_matching_ignoring_case_warns_of_codes_differing_only_in_case(tmp_path):
    text = "source_code,target_code,relationship\nCHEST,X1,equivalent\nHead,X2,equivalent\n chest ,X3,equivalent\n"
    exact = read_table(write_table(tmp_path / "a", "t", text))
    assert by_kind(exact) == {"case-duplicate": [4]} and exact.meta["source_case_sensitive"] is True
    assert "each answers only for itself" in exact.problems[0].message and exact.problems[0].level == "warning"
    folder = tmp_path / "b"
    write_table(folder, "t", text)
    with open(folder / "t.toml", "a", encoding="utf-8") as f:
        f.write("source_case_sensitive = false\n")
    t = read_table(str(folder / "t.csv"))
    assert t.meta["source_case_sensitive"] is False
    assert by_kind(t) == {"case-duplicate": [4]}
    assert "'chest' differs from 'CHEST' (row 2) only in case" in t.problems[0].message
    assert t.problems[0].level == "warning"


def test_a_cell_that_cannot_be_read_leaves_the_rest_of_the_row(tmp_path):
    t = read_table(write_table(tmp_path, "t", "source_code,source_display,target_code,relationship,status,no_map\n"
                               "0012,Tórax,X1,wider,done,\n"
                               "0013,Abdomen,,,accepted,perhaps\n"))
    a, b = t.rows
    assert (a.source_code, a.source_display, a.target_code, a.relationship, a.r4_word, a.status) == \
        ("0012", "Tórax", "X1", "source-is-narrower-than-target", "wider", None)
    assert (b.source_code, b.no_map, b.status, b.target_system) == ("0013", False, "accepted", "http://ex.test/cs/eu")
    assert by_kind(t) == {"unknown-status": [2], "unknown-no-map": [3]}
    assert [p.column for p in t.problems] == ["status", "no_map"]


# -- content checks against a small build ----------------------------------------------------
def _cs(url, codes, content="complete"):
    return {"resourceType": "CodeSystem", "url": url, "version": "1", "status": "active", "content": content,
            "concept": [{"code": c, "display": d} for c, d in codes]}


@pytest.fixture(scope="module")
def content_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("content")
    res = [
        _cs(LOCAL, [("A", "Alpha"), ("B", "Bravo"), ("C", "Charlie"), ("D", "Delta"), ("E", "Echo")]),
        {"resourceType": "ValueSet", "url": "http://ex.test/vs/local", "status": "active",
         "compose": {"include": [{"system": LOCAL}]}},
        _cs(EU, [("X1", "Ex one"), ("X2", "Ex two"), ("X3", "Ex three"), ("X4", "Ex four")]),
        {"resourceType": "ValueSet", "url": "http://ex.test/vs/eu-scope", "status": "active",
         "compose": {"include": [{"system": EU, "concept": [{"code": "X1"}, {"code": "X2"}, {"code": "X3"}]}]}},
        _cs(FRAG, [("F1", "Frag one")], content="fragment"),
    ]
    for i, r in enumerate(res):
        (d / f"r{i}.json").write_bytes(orjson.dumps(r))
    return str(d)


CLEAN = "\n".join([
    "source_code,source_display,target_code,target_display,relationship,no_map,status,comment,frequency",
    "A,Alpha,X1,Ex one,equivalent,,accepted,,10",
    "B,Bravo,X2,Ex two,wider,,draft,needs review,5",
    "E,Echo,,,,yes,accepted,not an EU concept,1",
]) + "\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory, content_dir):
    """A build with the test content and one clean table (accepted + draft rows)."""
    d = tmp_path_factory.mktemp("built")
    maps = d / "maps"
    write_table(maps, "clean", CLEAN)
    db = str(d / "t.db")
    build(db, [SourceSpec("fhir", content_dir), SourceSpec("mappings", str(maps))], preexpand=False)
    return db, str(maps)


def test_content_errors_and_warnings(tmp_path, built):
    db, _ = built
    p = write_table(tmp_path, "t", "\n".join([
        "source_code,source_display,target_system,target_code,target_display,relationship,status",
        "A,Alpha,,X1,Ex one,equivalent,accepted",                     # 2 clean
        "B,Bravo!!,,X2,Ex two,equivalent,accepted",                   # 3 source display differs
        "C,Charlie,,X4,Ex four,equivalent,accepted",                  # 4 target outside scope
        "ZZ,,,X1,,equivalent,accepted",                               # 5 unknown source code
        "D,Delta,,X9,,equivalent,accepted",                           # 6 unknown target code (+ outside scope)
        f"E,Echo,{FRAG},F2,,equivalent,accepted",                     # 7 fragment: unverifiable (+ outside scope)
        "E,Echo,http://ex.test/cs/unloaded,Q1,,related-to,draft",     # 8 not loaded; not accepted
    ]) + "\n")
    rep = check([p], Store(db))
    kinds = by_kind(rep.tables[0])
    assert kinds["display-differs"] == [3]
    assert kinds["target-outside-scope"] == [4, 6, 7, 8]
    assert kinds["unknown-source-code"] == [5]
    assert kinds["unknown-target-code"] == [6]
    assert kinds["unverifiable"] == [7]
    (unverifiable,) = [q for q in rep.tables[0].problems if q.kind == "unverifiable"]
    assert unverifiable.message == ("target code F2 cannot be verified: Unknown Code 'F2' in the CodeSystem"
                                    " 'http://ex.test/cs/frag' version '1' - note that the code system is labeled as a"
                                    " fragment, so the code may be valid in some other fragment")   # its reason
    assert not any(q.message.rstrip().endswith(":") or ": ;" in q.message for q in rep.tables[0].problems)
    assert kinds["not-accepted"] == [8]
    # problems of several rows (here one) are the table's: the message names the rows
    assert kinds["system-not-loaded"] == kinds["outside-source-scope"] == [None]
    (not_loaded,) = [p for p in rep.tables[0].problems if p.kind == "system-not-loaded"]
    assert "http://ex.test/cs/unloaded is not loaded: 1 code(s) cannot be verified (rows 8)" in not_loaded.message
    (outside,) = [p for p in rep.tables[0].problems if p.kind == "outside-source-scope"]
    assert "(rows 5)" in outside.message
    # errors: of the rows the build would serve; a source display is the local system's business (a warning)
    errors = {(p.row, p.kind) for p in rep.tables[0].errors}
    assert errors == {(4, "target-outside-scope"), (5, "unknown-source-code"), (6, "unknown-target-code"),
                      (6, "target-outside-scope"), (7, "target-outside-scope")}
    assert rep.exit_code == 1
    # the draft row 8 is not served: its problems are warnings, unless every row is served
    assert {p.level for p in rep.tables[0].problems if p.row == 8} == {"warning"}
    every = check([p], Store(db), served=None).tables[0]
    assert (8, "target-outside-scope") in {(p.row, p.kind) for p in every.errors}
    # each problem names its row's source code and display
    (unknown,) = [p for p in rep.tables[0].problems if p.kind == "unknown-source-code"]
    assert (unknown.source_code, unknown.source_display) == ("ZZ", "")
    (display,) = [p for p in rep.tables[0].problems if p.kind == "display-differs"]
    assert (display.source_code, display.source_display, display.level) == ("B", "Bravo!!", "warning")


def test_a_target_display_validate_code_rejects_is_an_error_of_a_served_row(tmp_path, built):
    db, _ = built
    p = write_table(tmp_path, "t", "source_code,target_code,target_display,relationship,status\n"
                    "A,X1,Ex one,equivalent,accepted\n"
                    "B,X2,Ex 2,equivalent,accepted\n"
                    "C,X3,Ex 3,equivalent,draft\n")
    problems = check([p], Store(db)).tables[0].problems
    assert {(q.row, q.level) for q in problems if q.kind == "display-differs"} == {(3, "error"), (4, "warning")}
    (error,) = [q for q in problems if q.level == "error"]
    assert "$validate-code rejects it" in error.message and error.line() == (
        "t.csv:3: target display 'Ex 2' differs from the code system's 'Ex two' for X2: $validate-code rejects it"
        " (source code 'B')")


def test_coverage(built):
    db, maps = built
    rep = check([maps], db)
    cov = rep.tables[0].coverage
    assert (cov["total"], cov["mapped"], cov["no_map"], cov["unmapped"]) == (5, 1, 1, 3)
    assert [(u["code"], u["pending"]) for u in cov["unmapped_codes"]] == [("B", True), ("C", False), ("D", False)]
    assert cov["percent_covered"] == 40.0
    assert rep.errors == 0 and rep.exit_code == 0


def test_check_and_validate_code_agree(tmp_path, built):
    """A row's target is outside its scope for the check exactly when $validate-code against the
    scope says no; an unknown code and a wrong display likewise."""
    from termsvc.api.app import create_app
    db, _ = built
    p = write_table(tmp_path, "t", "\n".join([
        "source_code,source_display,target_system,target_code,target_display,relationship,status",
        "A,Alpha,,X1,Ex one,equivalent,accepted",
        "B,Bravo,,X2,Ex 2,equivalent,accepted",
        "C,Charlie,,X4,Ex four,equivalent,accepted",
        "D,Delta,,X9,,equivalent,accepted",
        f"E,Echo,{FRAG},F2,,equivalent,accepted",
        f"E,Echo,{FRAG},F1,,equivalent,accepted",
        "E,Echo,http://ex.test/cs/unloaded,Q1,,related-to,accepted",
    ]) + "\n")
    table = read_table(p)
    report = check([p], Store(db)).tables[0]
    client = create_app(db).test_client()
    for r in table.rows:
        kinds = {q.kind for q in report.problems if q.row == r.row}
        vs = client.get("/fhir/ValueSet/$validate-code", query_string={
            "url": "http://ex.test/vs/eu-scope", "system": r.target_system, "code": r.target_code}).get_json()
        assert param(vs, "result") is ("target-outside-scope" not in kinds), (r.row, kinds, vs)
        cs = client.get("/fhir/CodeSystem/$validate-code", query_string={
            "system": r.target_system, "code": r.target_code, "display": r.target_display or None}).get_json()
        issues = {(i["severity"], i["details"]["coding"][0]["code"]) for i in param(cs, "issues", {}).get("issue", [])}
        assert (("error", "invalid-code") in issues) is ("unknown-target-code" in kinds), (r.row, kinds, cs)
        assert (("error", "invalid-display") in issues) is ("display-differs" in kinds), (r.row, kinds, cs)
    assert by_kind(report)["target-outside-scope"] == [4, 5, 6, 7, 8]
    assert by_kind(report)["display-differs"] == [3] and by_kind(report)["unknown-target-code"] == [5]


# -- build -----------------------------------------------------------------------------------
def test_build_serves_only_accepted_rows_and_stores_all(built):
    db, _ = built
    s = Store(db)
    rows = s.all("SELECT e.source_code, e.target_code FROM cm_entry e JOIN concept_map m ON m.id=e.cm_id"
                 " WHERE m.url='http://ex.test/cm/clean' ORDER BY 1")
    assert rows == [("A", "X1"), ("E", None)]
    full = s.one("SELECT json FROM resource WHERE type='MappingTable' AND url='http://ex.test/cm/clean'")
    _, _, back = concept_map_to_table(orjson.loads(full[0]))
    assert [r["source_code"] for r in back] == ["A", "B", "E"]
    assert back[1]["status"] == "draft"


def test_build_include_unaccepted(tmp_path, content_dir):
    maps = tmp_path / "maps"
    write_table(maps, "clean", CLEAN)
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("fhir", content_dir), SourceSpec("mappings", str(maps), {"include_unaccepted": True})],
          preexpand=False)
    s = Store(db)
    cm = s.resource_json(s.one("SELECT id FROM resource WHERE type='ConceptMap'")[0])
    targets = [t for g in cm["group"] for e in g["element"] for t in e.get("target", [])]
    statuses = [x["valueCode"] for t in targets for x in t["extension"] if x["url"] == EXT_STATUS]
    assert statuses == ["accepted", "draft"]


def test_broken_table_fails_build_and_keeps_previous_db(tmp_path, content_dir):
    maps = tmp_path / "maps"
    write_table(maps, "good", CLEAN)
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("fhir", content_dir), SourceSpec("mappings", str(maps))], preexpand=False)
    before = open(db, "rb").read()
    # an unknown relationship; an accepted row that maps to nothing (a draft row without a target is one to map)
    write_table(maps, "broken", "source_code,target_code,relationship,status\nA,X1,sortof,\nB,,,accepted\nC,,,\n")
    with pytest.raises(BuildError) as e:
        build(db, [SourceSpec("fhir", content_dir), SourceSpec("mappings", str(maps))], preexpand=False)
    assert "broken.csv:2" in str(e.value) and "broken.csv:3" in str(e.value)
    assert open(db, "rb").read() == before
    assert not [f for f in os.listdir(tmp_path) if ".building-" in f]
    # --keep-going: the build goes on without the mapping tables
    summary = build(db, [SourceSpec("fhir", content_dir), SourceSpec("mappings", str(maps))],
                    keep_going=True, preexpand=False)
    assert summary["concept_maps"] == 0 and len(summary["failures"]) == 1


# -- round trip and R4 -------------------------------------------------------------------------
ROUND = "\n".join([
    "Source Code;source_system;source_display;target_code;target_display;Relationship;no_map;status;comment;author;reviewer;status_date;Frecuencia;URV",
    "0012;;RX tórax;X1;Ex one;Wider;;accepted;c1;ana;jo;2026-01-02;120;1.10",
    f"1.10;{LOCAL};TAC;X2;Ex two;narrower;;in review;;ana;;;5;",
    "1.10;;TAC (alt);X3;;inexact;;draft;;;;;;0.50",
    "B;;;X1;;source-is-broader-than-target;;;;;;;;",
    "CONS;;Consulta;;;;x;rejected;no imaging;;;;3;",
    "E;;;;;unmatched;;accepted;;;;;;",
    "C;;;X4;;EQUAL;NO;accepted;;;;;;",
]) + "\n"


def test_round_trip_csv_conceptmap_csv_lossless(tmp_path):
    p = write_table(tmp_path, "rt", ROUND, encoding="cp1252")
    t = read_table(p)
    assert not t.errors
    cm = concept_map_from_table(t)
    meta, cols, rows = concept_map_to_table(json.loads(json.dumps(cm)))
    assert cols == t.columns
    assert rows == [r.cells for r in t.rows]
    assert meta["url"] == "http://ex.test/cm/rt" and meta["target_system"] == EU
    # and through R4 JSON too
    _, cols4, rows4 = concept_map_to_table(concept_map_r5_to_r4(cm))
    assert cols4 == t.columns and rows4 == [r.cells for r in t.rows]
    # the CSV text written back reads as the same table
    (tmp_path / "out").mkdir()
    write_table(tmp_path / "out", "rt", rows_to_csv(cols, rows))
    t2 = read_table(str(tmp_path / "out" / "rt.csv"))
    assert [r.cells for r in t2.rows] == [r.cells for r in t.rows]


def test_a_table_under_other_usual_headers_is_read_and_comes_back_as_written(tmp_path):
    """`Local code`, `Local name`, `Target code`, `Equivalence`, `Notes`: the known columns under the names
    terminologists give them; the ConceptMap is the one the canonical headers give, and the sheet comes back."""
    usual = ("Local code;Local name;Target code;Target name;Equivalence;Status;Notes;Frequency\r\n"
             "0012;Thorax;C1;Chest;equal;accepted;checked;40\r\n0013;Nothing;;;unmatched;accepted;;2\r\n")
    canonical = usual.replace("Local code;Local name;Target code;Target name;Equivalence;Status;Notes",
                              "source_code;source_display;target_code;target_display;relationship;status;comment")
    t = read_table(write_table(tmp_path / "usual", "rt", usual))
    assert not t.errors
    assert [(r.source_code, r.target_code, r.relationship, r.no_map, r.comment) for r in t.rows] == [
        ("0012", "C1", "equivalent", False, "checked"), ("0013", "", None, True, "")]
    assert t.colmap["source_display"] == "Local name" and t.colmap["relationship"] == "Equivalence"
    cm = concept_map_from_table(t)
    same = concept_map_from_table(read_table(write_table(tmp_path / "canonical", "rt", canonical)))
    column_ext = "http://termsvc.local/fhir/StructureDefinition/mapping-table"

    def meaning(m):   # (the extensions that keep cells name their column as written)
        return [(e["code"], e.get("display"), e.get("noMap"), [(x["code"], x["display"], x["relationship"], x.get("comment"))
                for x in e.get("target", [])]) for g in m["group"] for e in g["element"]]
    assert meaning(cm) == meaning(same) == [("0012", "Thorax", None, [("C1", "Chest", "equivalent", "checked")]),
                                            ("0013", "Nothing", True, [])]
    assert any(e["url"] == column_ext for e in cm.get("extension", []))
    meta, cols, rows = concept_map_to_table(json.loads(json.dumps(cm)))
    assert cols == t.columns and rows == [r.cells for r in t.rows]
    assert check([str(tmp_path / "usual")]).tables[0].errors == []
    # a code column under the target system's name is not guessed: it is asked about, once
    named = read_table(write_table(tmp_path / "named", "rt", "Local code;Local RIS code;SNOMED CT code;Frequency\r\n"
                                                             "0012;R12;C1;4\r\n"))
    [hint] = [p for p in named.problems if p.kind == "unnamed-target-column"]
    assert hint.level == "warning" and hint.column == "SNOMED CT code" and "name its header target_code" in hint.message
    assert [r.target_code for r in named.rows] == [""]
    # beside the column's own name, another name is an extra column (a table that read before still reads)
    both = read_table(write_table(tmp_path / "both", "rt", "source_code;comment;Notes\r\n0012;a;b\r\n"))
    assert not both.errors and [(r.comment, r.extras) for r in both.rows] == [("a", {"Notes": "b"})]


def test_r4_export_keeps_author_words(tmp_path):
    t = read_table(write_table(tmp_path, "rt", ROUND, encoding="cp1252"))
    r4 = concept_map_r5_to_r4(concept_map_from_table(t))
    assert "sourceCanonical" in r4 and "sourceScopeCanonical" not in r4
    eq = {}
    for g in r4["group"]:
        for e in g["element"]:
            for tg in e["target"]:
                eq[(e["code"], tg.get("code"))] = tg["equivalence"]
                assert "relationship" not in tg
                assert all(x["url"] != EXT_R4_EQUIVALENCE for x in tg.get("extension", []))
    assert eq[("0012", "X1")] == "wider"
    assert eq[("1.10", "X2")] == "narrower"
    assert eq[("1.10", "X3")] == "inexact"
    assert eq[("C", "X4")] == "equal"
    assert eq[("B", "X1")] == "narrower"        # R5 code written: the standard R4 word
    assert eq[("CONS", None)] == "unmatched" and eq[("E", None)] == "unmatched"
    r5 = concept_map_from_table(t)
    el = {e["code"]: e for g in r5["group"] for e in g["element"]}
    assert el["CONS"]["noMap"] is True and "target" not in el["CONS"]
    assert el["0012"]["target"][0]["relationship"] == "source-is-narrower-than-target"


# -- XLSX ----------------------------------------------------------------------------------------
def test_xlsx_with_metadata_sheet_and_number_formats(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "mappings"
    ws.append(["source_code", "target_code", "relationship", "status", "urv", "freq"])
    ws.append([12, "X1", "equivalent", "accepted", 1.1, 3.0])
    ws["A2"].number_format = "0000"
    ws["E2"].number_format = "0.00"
    ws.append(["1.10", "X2", "wider", "accepted", "2.50", 7])
    meta = wb.create_sheet("metadata")
    for k, v in [("key", "value"), ("url", "http://ex.test/cm/x"), ("title", "From Excel"),
                 ("source_system", LOCAL), ("target_system", EU)]:
        meta.append([k, v])
    path = tmp_path / "x.xlsx"
    wb.save(path)
    t = read_table(str(path))
    assert not t.problems
    assert t.meta["title"] == "From Excel" and t.meta["target_system"] == EU
    assert [r.source_code for r in t.rows] == ["0012", "1.10"]
    assert [r.extras["urv"] for r in t.rows] == ["1.10", "2.50"]
    assert [r.extras["freq"] for r in t.rows] == ["3", "7"]
    assert [r.row for r in t.rows] == [2, 3]


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_check_exit_codes_json_html(tmp_path, built):
    db, maps = built
    runner = CliRunner()
    r = runner.invoke(mappings_cli, ["check", maps, "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["errors"] == 0 and data["tables"][0]["coverage"]["mapped"] == 1
    bad = tmp_path / "bad"
    write_table(bad, "t", "source_code,target_code,relationship,status\nA,X1,equivalent,accepted\nA,X1,wider,accepted\n")
    html = tmp_path / "r.html"
    r = runner.invoke(mappings_cli, ["check", str(bad), "--db", db, "--html", str(html)])
    assert r.exit_code == 1
    assert "t.csv:3: error: conflicting-relationship" in r.output
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "conflicting-relationship" in page
    assert "<link" not in page and "<script" not in page and "http-equiv" not in page
    unusable = tmp_path / "unusable"
    write_table(unusable, "t", "code,target\nA,X1\n")
    r = runner.invoke(mappings_cli, ["check", str(unusable), "--no-db"])
    assert r.exit_code == 2
    assert runner.invoke(mappings_cli, ["check", str(tmp_path / "nope")]).exit_code == 2
    assert runner.invoke(mappings_cli, ["check", maps, "--db", str(tmp_path / "no.db")]).exit_code == 2


@pytest.mark.parametrize("group,message", [
    ('"x"', "ConceptMap.group: must be an array"),
    ("[null]", "ConceptMap.group[0]: must be an object"),
    ('[{"element": [{"code": 5, "target": []}]}]', "ConceptMap.group[0].element[0].code: must be a string"),
    ('[{"element": [{"code": "A", "target": [{"code": {"a": 1}}]}]}]',
     "ConceptMap.group[0].element[0].target[0].code: must be a string"),
])
def test_cli_import_names_what_is_malformed_in_the_concept_map(tmp_path, group, message):
    path = tmp_path / "cm.json"
    path.write_text('{"resourceType": "ConceptMap", "url": "http://ex.test/cm", "group": %s}' % group)
    r = CliRunner().invoke(mappings_cli, ["import", str(path), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and f"error: {path}: {message}" in r.output
    assert not (tmp_path / "out").exists()


def test_cli_export_and_import(tmp_path):
    src = tmp_path / "src"
    write_table(src, "rt", ROUND, encoding="cp1252")
    runner = CliRunner()
    out = tmp_path / "cm-r4.json"
    r = runner.invoke(mappings_cli, ["export", "rt", "--mappings", str(src), "--no-default-mappings",
                                     "--format", "r4", "-o", str(out)])
    assert r.exit_code == 0, r.output
    cm = json.loads(out.read_text())
    assert cm["resourceType"] == "ConceptMap" and "targetCanonical" in cm
    r = runner.invoke(mappings_cli, ["import", str(out), "-o", str(tmp_path / "back")])
    assert r.exit_code == 0, r.output
    t0 = read_table(str(src / "rt.csv"))
    t1 = read_table(str(tmp_path / "back" / "rt.csv"))
    assert t1.columns == t0.columns and [x.cells for x in t1.rows] == [x.cells for x in t0.rows]
    assert t1.meta["url"] == t0.meta["url"]
    r = runner.invoke(mappings_cli, ["export", "rt", "--mappings", str(src), "--accepted-only"])
    codes = [e["code"] for g in json.loads(r.output)["group"] for e in g["element"]]
    assert codes == ["0012", "E", "C"]


# -- the shipped tables ------------------------------------------------------------------------------
def test_shipped_tables_structurally_clean_and_sized():
    rep = check([SHIPPED])
    assert len(rep.tables) >= 3
    for t in rep.tables:
        assert t.errors == [], [p.message for p in t.errors]
        if t.name == "dicom-laterality":  # the four enumerated values of DICOM laterality: complete, all accepted
            assert t.rows == 4 and t.status_counts["accepted"] == 4
            continue
        assert t.rows >= 40
        if t.name == "dicom-body-part-examined":   # Table L-1's terms accepted; terms it does not have: drafts
            assert t.status_counts["accepted"] >= 270 and t.status_counts["draft"] >= 1
        else:
            assert t.status_counts["accepted"] > t.rows // 2
        assert any(p.kind == "not-accepted" for p in t.problems)


def test_shipped_tables_against_dicom_and_local_content(tmp_path):
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("dicom"), SourceSpec("mappings", SHIPPED)], preexpand=False)
    rep = check([SHIPPED], Store(db))
    assert rep.errors == 0, [(p.where(), p.message) for t in rep.tables for p in t.errors]
    by_name = {t.name: t for t in rep.tables}
    for name in ("ris-modality-eu", "dicom-body-part-examined"):
        cov = by_name[name].coverage
        assert cov["evaluable"] and cov["mapped"] > 40 and cov["no_map"] >= 2
        assert not any(p.kind == "scope-unverifiable" for p in by_name[name].problems)


def test_a_target_scope_over_a_fragment_cannot_rule_targets_out(tmp_path):
    """im-procedure-type is an is-a filter over SNOMED CT, loaded here only as DICOM's fragment (no
    hierarchy): a target it does not list is not known to be outside it (one warning, no errors)."""
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("ig"), SourceSpec("dicom"), SourceSpec("mappings", SHIPPED)], preexpand=False)
    rep = check([os.path.join(SHIPPED, "es-catalogo-procedimientos-radiologia.csv")], Store(db))
    (table,) = rep.tables
    assert table.errors == []
    (warning,) = [p for p in table.problems if p.kind == "scope-unverifiable"]
    assert "im-procedure-type: 53 target(s) cannot be judged" in warning.message
    assert "by the filter 'concept is-a 363679005', which cannot be evaluated" in warning.message
