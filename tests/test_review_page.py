"""The review page of the mapping tables (GET /mappings) through the Flask test client: what the
build judged, per table and per row; the search across tables; the filters; the changes since the
build served before; the downloads; error pages for browsers."""
import io
import os
import re

import openpyxl
import orjson
import pytest
from jinja2 import ChoiceLoader, DictLoader

from termsvc import templates
from termsvc.api import review
from termsvc.api.app import create_app
from termsvc.build import SourceSpec, build
from termsvc.mappings.table import read_table

LOCAL_BP = "http://ex.test/cs/body-part"
LOCAL_MOD = "http://ex.test/cs/modality"
LOCAL_PROC = "http://ex.test/cs/procedures"
EU = "http://ex.test/cs/eu"
SCT = "http://ex.test/sct"
LOINC = "http://ex.test/loinc"
BODY_PART = """source_code,source_display,target_code,target_display,relationship,no_map,status,comment,author,reviewer,status_date,freq
CHEST,Chest,X1,Chest,equivalent,,accepted,,ana,jo,2026-01-02,10
ABDOMEN,Abdomen,X2,Abdomen,equivalent,,draft,,ana,,,5
HEAD,Head,X3,Cabeza,equivalent,,in-review,,ana,,,1
KNEE,Knee,LUNGX,,equivalent,,accepted,,ana,jo,2026-01-02,2
0012,Radiografía de tórax,X1,Chest,wider,,accepted,,ana,jo,2026-01-02,007
"""
# the version the build served before: CHEST was a draft, HEAD's comment differed, FOOT was mapped, 0012 not yet
BODY_PART_BEFORE = """source_code,source_display,target_code,target_display,relationship,no_map,status,comment,author,reviewer,status_date,freq
CHEST,Chest,X1,Chest,equivalent,,draft,,ana,,,10
ABDOMEN,Abdomen,X2,Abdomen,equivalent,,draft,,ana,,,5
HEAD,Head,X3,Cabeza,equivalent,,in-review,check side,ana,,,1
KNEE,Knee,LUNGX,,equivalent,,accepted,,ana,jo,2026-01-02,2
FOOT,Foot,X2,Abdomen,related-to,,draft,,ana,,,1
"""
MODALITY = """source_code;source_display;target_code;relationship;status;author;reviewer;status_date
CXR;Chest X-ray;X1;source-is-narrower-than-target;accepted;bo;jo;2026-02-03
CT;Computed tomography;X3;related-to;rejected;bo;;
MR;<b>Magnet</b>;X4;equivalent;accepted;bo;jo;2026-02-03
"""
# a German table as Excel writes it: BOM, `;`, CRLF; SNOMED CT and LOINC targets, extra columns, a bad
# relationship, a code system that is not loaded (a problem of the whole table)
PROCEDURES = ("source_code;source_display;target_system;target_code;target_display;relationship;no_map;status;"
              "comment;author;reviewer;status_date;Abteilung;Häufigkeit\r\n"
              "MAM01;Mammographie beidseits;;303653007;Mammography;equivalent;;accepted;;k.schmidt;p.dubois;"
              "2026-05-20;Radiologie;120\r\n"
              "CT-SCH;Schädel CT;;77477000;Computed tomography;source-is-narrower-than-target;;in-review;Kopf nativ;"
              "k.schmidt;;;Neuroradiologie;50\r\n"
              f"MG-BEF;Mammographie Befund;{LOINC};24604-1;MG Breast Diagnostic;equivalnet;;draft;;k.schmidt;;;"
              "Radiologie;3\r\n"
              "US-ABD;Ultraschall Abdomen;http://ex.test/not-loaded;U1;Ultrasound;equivalent;;accepted;;m.weber;"
              "p.dubois;2026-05-21;Sonographie;80\r\n"
              "US-HAL;Ultraschall Hals;http://ex.test/not-loaded;U2;Ultrasound neck;equivalent;;accepted;;m.weber;"
              "p.dubois;2026-05-21;Sonographie;20\r\n"
              "SONST;Sonstiges;;;;;ja;accepted;keine Entsprechung;m.weber;p.dubois;2026-05-21;;1\r\n")


def _cs(url, codes, title=None):
    cs = {"resourceType": "CodeSystem", "url": url, "version": "1", "status": "active", "content": "complete",
          "concept": [{"code": c, "display": d} for c, d in codes]}
    if title:
        cs["title"] = title
    return cs


def _toml(name, source, extra="", target=EU, target_scope="http://ex.test/vs/eu"):
    return (f'url = "http://ex.test/cm/{name}"\ntitle = "The {name} table"\nstatus = "active"\n'
            f'source_system = "{source}"\ntarget_system = "{target}"\n'
            f'source_scope = "http://ex.test/vs/{name}"\ntarget_scope = "{target_scope}"\n{extra}')


def _tables(maps, body_part: str) -> None:
    maps.mkdir(exist_ok=True)
    (maps / "body-part.csv").write_text(body_part, encoding="utf-8")
    (maps / "body-part.toml").write_text(_toml("body-part", LOCAL_BP, "source_case_sensitive = false\n"))
    (maps / "modality.csv").write_text(MODALITY, encoding="utf-8")
    (maps / "modality.toml").write_text(_toml("modality", LOCAL_MOD))
    (maps / "procedures.csv").write_bytes(b"\xef\xbb\xbf" + PROCEDURES.encode("utf-8"))
    (maps / "procedures.toml").write_text('url = "http://ex.test/cm/procedures"\ntitle = "Untersuchungen"\n'
                                          f'language = "de"\nsource_system = "{LOCAL_PROC}"\n'
                                          f'target_system = "{SCT}"\n', encoding="utf-8")
    (maps / "broken.csv").write_text("code,target\nA,B\n", encoding="utf-8")
    (maps / "broken.toml").write_text(_toml("broken", LOCAL_MOD))


@pytest.fixture(scope="module")
def review_db(tmp_path_factory):
    """Two builds into one database: the tables as they were, then as they are (the build served now,
    whose reports say what changed since the one before). Tables: body-part (a row in error, left out
    with --allow-mapping-errors), modality, procedures (German, SNOMED CT and LOINC targets, extra
    columns, a bad relationship, a code system not loaded) and one that cannot be read.
    (database, folder of the tables)."""
    d = tmp_path_factory.mktemp("review")
    content = d / "content"
    content.mkdir()
    resources = [
        _cs(LOCAL_BP, [("CHEST", "Chest"), ("ABDOMEN", "Abdomen"), ("HEAD", "Head"), ("KNEE", "Knee"),
                       ("0012", "Radiografía de tórax"), ("FOOT", "Foot")]),
        _cs(LOCAL_MOD, [("CXR", "Chest X-ray"), ("CT", "Computed tomography"), ("MR", "<b>Magnet</b>")]),
        _cs(LOCAL_PROC, [("MAM01", "Mammographie beidseits"), ("CT-SCH", "Schädel CT"),
                         ("MG-BEF", "Mammographie Befund"), ("US-ABD", "Ultraschall Abdomen"),
                         ("US-HAL", "Ultraschall Hals"), ("SONST", "Sonstiges")]),
        _cs(EU, [("X1", "Chest"), ("X2", "Abdomen"), ("X3", "Head"), ("X4", "Magnet")]),
        _cs(SCT, [("303653007", "Mammography"), ("77477000", "Computed tomography")], "SNOMED CT (test)"),
        _cs(LOINC, [("24604-1", "MG Breast Diagnostic")], "LOINC (test)"),
        {"resourceType": "ValueSet", "url": "http://ex.test/vs/eu", "status": "active",
         "compose": {"include": [{"system": EU}]}},
        {"resourceType": "ValueSet", "url": "http://ex.test/vs/body-part", "status": "active",
         "compose": {"include": [{"system": LOCAL_BP}]}},
        {"resourceType": "ValueSet", "url": "http://ex.test/vs/modality", "status": "active",
         "compose": {"include": [{"system": LOCAL_MOD}]}},
    ]
    for i, r in enumerate(resources):
        (content / f"r{i}.json").write_bytes(orjson.dumps(r))
    maps = d / "maps"
    db = str(d / "t.db")

    def build_now():
        build(db, [SourceSpec("fhir", str(content)), SourceSpec("mappings", str(maps), {"allow_errors": True})],
              preexpand=False)
    _tables(maps, BODY_PART_BEFORE)
    (maps / "retired.csv").write_text("source_code,target_code,relationship\nA,X1,equivalent\n")
    (maps / "retired.toml").write_text(_toml("retired", LOCAL_BP))
    build_now()
    _tables(maps, BODY_PART)
    for suffix in (".csv", ".toml"):
        (maps / f"retired{suffix}").unlink()
    build_now()
    return db, str(maps)


@pytest.fixture(scope="module")
def web(review_db):
    return create_app(review_db[0]).test_client()


def page(web, url, status=200) -> str:
    r = web.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == status, r.data[:500]
    assert r.content_type == "text/html; charset=utf-8"
    return r.get_data(as_text=True)


def rows_shown(html: str) -> list[int]:
    return [int(part.split('"', 1)[0]) for part in html.split('<tr id="row-')[1:]]


def section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"', 1)[1].split("</section>")[0]


def row_html(html: str, n: int) -> str:
    """A row of the grid and the line of its problems under it."""
    return re.split(r'<tr id="row-|</table>', html.split(f'<tr id="row-{n}"', 1)[1], maxsplit=1)[0]


def cell(html: str, n: int, column: str) -> str:
    """The <td ...>...</td> of a row's column (by its header)."""
    m = re.search(r'<td class="([^"]*)" data-column="' + re.escape(column) + r'"([^>]*)>(.*?)</td>',
                  row_html(html, n).split("</tr>")[0], re.S)
    assert m, (n, column)
    return m.group(0)


def test_overview_lists_every_table_with_coverage_counts_and_links(web):
    html = page(web, "/mappings")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    for table in ("body-part", "modality", "broken", "procedures"):
        assert f'<section class="table" id="{table}">' in html
    body_part = section(html, "body-part")
    assert "The body-part table" in body_part and "body-part.csv" in body_part
    # coverage of the 6 codes of the source scope; 3 accepted rows, KNEE's in error (2 errors) left out
    assert 'class="bar"' in body_part and "33.3% of 6 codes" in body_part
    assert "2 served" in body_part and "1 left out for their errors" in body_part
    assert '<a class="badge b-err" href="/mappings/body-part?problem=error#rows">2 errors</a>' in body_part
    assert '<a href="/mappings/body-part?status=draft#rows">draft 1</a>' in body_part
    for link in ('href="/fhir/ConceptMap/body-part"', 'href="/r4/fhir/ConceptMap/body-part"',
                 'href="/mappings/body-part.csv"', 'href="/mappings/body-part.xlsx"', 'href="/mappings/body-part"'):
        assert link in body_part
    broken = section(html, "broken")
    assert "Not loaded" in broken and "ConceptMap" not in broken and ".xlsx" not in broken
    # a table without a source scope: its catalogue is its own source codes (6, 4 of them with an accepted row)
    assert "66.7% of the table's 6 source codes covered" in section(html, "procedures")
    # the links lead to the ConceptMap the build serves, in R5 and R4
    r5 = web.get("/fhir/ConceptMap/body-part").get_json()
    r4 = web.get("/r4/fhir/ConceptMap/body-part").get_json()
    assert r5["url"] == r4["url"] == "http://ex.test/cm/body-part"
    assert "targetScopeCanonical" in r5 and "targetCanonical" in r4


def test_tables_with_errors_come_first_and_every_tile_links_to_the_rows_it_counts(web):
    html = page(web, "/mappings")
    order = re.findall(r'<section class="table" id="([^"]+)">', html)
    errors = {t: int(m.group(1)) if (m := re.search(r'>(\d+) errors?<', section(html, t))) else 0 for t in order}
    assert [errors[t] for t in order] == sorted(errors.values(), reverse=True) and errors[order[-1]] == 0
    tiles = {label: (int(count), href) for href, count, label in re.findall(
        r'<a class="pill" href="([^"]*)"><b>(\d+)</b>([^<]+)</a>', html.split('id="tiles"')[1].split("</div>")[0])}
    count, href = tiles["errors"]
    assert href == "/mappings?problem=error#results"
    results = section(page(web, href.split("#")[0]), "results")
    # every row with an error is listed (the table-wide errors, of the table that cannot be read, have no row)
    listed = re.findall(r'href="/mappings/([^"#]+)#row-(\d+)"', results)
    assert listed == [("body-part", "5"), ("procedures", "4")] and count == 2 + 1 + 1   # body-part's row 5 has 2
    count, href = tiles["draft"]
    listed = re.findall(r'#row-\d+"', section(page(web, href.split("#")[0]), "results"))
    assert len(listed) == count == 2
    assert tiles["rows added or changed since the build served before"][1] == "/mappings?change=any#results"


def test_search_finds_codes_displays_people_and_comments_folding_case_and_accents(web):
    html = page(web, "/mappings?q=chest")
    results = section(html, "results")
    rows = results.split("<tr")[2:]
    assert len(rows) == 3
    assert "body-part" in rows[0] and "<code>CHEST</code>" in rows[0]     # the exact code first
    for text in ("accepted", "ana", "jo", "2026-01-02", "#row-2"):
        assert text in rows[0]
    assert "<code>0012</code>" in rows[1] and "Chest" in rows[1]         # its target display
    assert "modality" in rows[2] and "Chest X-ray" in rows[2] and "bo" in rows[2] and "2026-02-03" in rows[2]

    def found(q):
        return re.findall(r'href="/mappings/([^"#]+)#row-(\d+)"', section(page(web, f"/mappings?q={q}"), "results"))
    assert found("303653007") == [("procedures", "2")]                # a target code
    assert found("mammography") == [("procedures", "2")]              # a target display, any case
    assert found("Schadel") == found("SCHÄDEL") == [("procedures", "3")]   # accents and case folded
    assert found("K.Schmidt") == [("procedures", "2"), ("procedures", "3"), ("procedures", "4")]   # author
    assert set(found("p.dubois")) >= {("procedures", "2"), ("procedures", "5")}             # reviewer
    assert found("kopf") == [("procedures", "3")]                     # comment
    assert "No row has" in page(web, "/mappings?q=nothing-like-this")
    assert "<code>0012</code>" in page(web, "/mappings?q=0012")
    # the search of one table's rows
    assert rows_shown(page(web, "/mappings/procedures?q=schadel")) == [3]


def test_rows_filtered_by_status_and_by_problem_case_insensitive(web):
    assert rows_shown(page(web, "/mappings/body-part")) == [2, 3, 4, 5, 6]
    assert rows_shown(page(web, "/mappings/body-part?status=draft")) == [3]
    assert rows_shown(page(web, "/mappings/body-part?status=Accepted")) == [2, 5, 6]
    assert rows_shown(page(web, "/mappings/body-part?status=IN%20REVIEW")) == [4]
    html = page(web, "/mappings/body-part?problem=Error")
    assert rows_shown(html) == [5]
    row = row_html(html, 5)
    assert "unknown-target-code" in row and "LUNGX" in row and '<span class="muted">no</span>' in row
    assert rows_shown(page(web, "/mappings/body-part?problem=display-differs")) == [4]   # in review: a warning
    assert rows_shown(page(web, "/mappings/body-part?problem=warning")) == [3, 4]
    assert rows_shown(page(web, "/mappings/body-part?status=accepted&problem=none")) == [2, 6]
    served = row_html(page(web, "/mappings/body-part"), 2)
    assert "<td>yes</td>" in served and "ana" in served and "2026-01-02" in served


def test_an_unknown_filter_value_is_a_400_page_and_errors_are_html_for_a_browser(web):
    html = page(web, "/mappings/body-part?problem=bogus", status=400)
    assert "unknown problem &#39;bogus&#39;" in html and "unknown-target-code" in html   # the values it knows
    assert "unknown status &#39;done&#39;" in page(web, "/mappings?status=done", status=400)
    assert "no mapping table &#39;no-such-table&#39;" in page(web, "/mappings/no-such-table", status=404)
    assert "/mappings" in page(web, "/mappings/a/b", status=404)
    # a FHIR client (or one that does not say) gets the OperationOutcome
    for headers in ({}, {"Accept": "application/fhir+json"}, {"Accept": "*/*"}):
        r = web.get("/mappings/no-such-table", headers=headers)
        assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"
        r = web.get("/mappings?problem=bogus", headers=headers)
        assert r.status_code == 400 and r.get_json()["issue"][0]["code"] == "invalid"


def test_table_wide_problems_are_above_the_rows_not_in_a_row(web):
    html = page(web, "/mappings/procedures")
    above = section(html, "table-problems")
    assert "system-not-loaded" in above and "http://ex.test/not-loaded" in above and "rows 5-6" in above
    assert html.index('id="table-problems"') < html.index('id="rows"')
    assert "system-not-loaded" not in section(html, "rows")


def test_the_bad_cell_is_highlighted_in_its_column_with_its_value(web):
    html = page(web, "/mappings/procedures")
    bad = cell(html, 4, "Relationship")
    assert 'class="nowrap bad"' in bad and ">equivalnet<" in bad and "unknown relationship" in bad   # title
    assert "bad" not in cell(html, 4, "Source code")
    # a target code the code system does not have: the target cell, in red
    body_part = page(web, "/mappings/body-part")
    assert "bad" in cell(body_part, 5, "Target") and "LUNGX" in cell(body_part, 5, "Target")
    # a deliberate no-map written `ja`
    assert ">no map<" in cell(html, 7, "Target")


def test_target_systems_and_extra_columns_are_shown(web):
    html = page(web, "/mappings/procedures")
    assert '<span class="sys" title="http://ex.test/sct">SNOMED CT (test)</span>' in cell(html, 2, "Target system")
    assert '<span class="sys" title="http://ex.test/loinc">LOINC (test)</span>' in cell(html, 4, "Target system")
    assert "http://ex.test/not-loaded" in cell(html, 5, "Target system")     # not loaded: its url
    assert 'type="checkbox" id="extras" checked' in html and "Abteilung, Häufigkeit" in html
    assert '<th class="extra">Abteilung</th><th class="extra">Häufigkeit</th>' in html
    assert ">Neuroradiologie<" in cell(html, 3, "Abteilung") and "extra" in cell(html, 3, "Häufigkeit")
    assert 'id="extras"' not in page(web, "/mappings/modality")     # no other columns, no toggle


def test_the_changes_since_the_build_served_before(web):
    html = page(web, "/mappings")
    since = section(html, "body-part")
    assert "Since the build served before (built " in since
    assert '<a href="/mappings/body-part#changes">1 added, 1 removed, 2 changed (1 status change)</a>' in since
    assert "Since the build served before" in section(html, "modality") and "unchanged" in section(html, "modality")
    assert '<div class="note" id="removed">Since the build served before, 1 table removed: retired</div>' in html
    table = page(web, "/mappings/body-part")
    changes = section(table, "changes")
    added, removed = changes.split('<tr class="added">')[1], changes.split('<tr class="removed">')[1]
    assert 'href="/mappings/body-part#row-6"' in added and "<code>0012</code>" in added
    assert "FOOT" in removed and "(before)" in removed
    chest = changes.split('<tr class="changed">')[1].split("</tr>")[0]
    assert "status draft &rarr; accepted by jo on 2026-01-02" in chest
    assert '<b>reviewer</b>: <del class="old"></del> &rarr; <ins class="new">jo</ins>' in chest
    head = changes.split('<tr class="changed">')[2].split("</tr>")[0]
    assert '<b>comment</b>: <del class="old">check side</del> &rarr; <ins class="new"></ins>' in head
    assert "coverage 0.0% of 6 &rarr; 33.3% of 6" in changes     # CHEST accepted since
    # the rows that changed are marked, and a filter finds them
    assert '<span class="badge b-change">added</span>' in row_html(table, 6)
    assert rows_shown(page(web, "/mappings/body-part?change=any")) == [2, 4, 6]
    assert rows_shown(page(web, "/mappings/body-part?change=Added")) == [6]


def test_no_build_served_before_says_so(tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "t.csv").write_text("source_code,target_code,relationship,status\nA,X1,equivalent,accepted\n")
    (maps / "t.toml").write_text(f'url = "http://ex.test/cm/t"\nsource_system = "{LOCAL_BP}"\ntarget_system = "{EU}"\n'
                                 'source_scope = "http://ex.test/vs/not-loaded"\n')
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("mappings", str(maps))], preexpand=False)
    web = create_app(db).test_client()
    html = page(web, "/mappings")
    assert "No build was served before this one." in html and "Since the build served before" not in html
    assert "Coverage not computed: not loaded (http://ex.test/vs/not-loaded)" in html
    assert "Coverage not computed" in page(web, "/mappings/t")


def test_downloads_are_the_table_as_written(web, review_db):
    _, maps = review_db
    r = web.get("/mappings/body-part.csv")
    assert r.status_code == 200 and r.content_type.startswith("text/csv")
    assert 'filename="body-part.csv"' in r.headers["Content-Disposition"]
    assert r.data == BODY_PART.encode("utf-8")            # as read: UTF-8 without a BOM, `,`, LF
    r = web.get("/mappings/procedures.csv")
    assert r.data == open(os.path.join(maps, "procedures.csv"), "rb").read()   # BOM, `;`, CRLF
    tabbed = web.get("/mappings/procedures.csv?delimiter=tab").data
    assert tabbed.startswith(b"\xef\xbb\xbfsource_code\tsource_display\t") and b"\r\n" in tabbed
    assert web.get("/mappings/procedures.csv?delimiter=x").status_code == 400
    r = web.get("/mappings/modality.xlsx")
    assert r.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(r.data))
    cells = [[c.value or "" for c in row] for row in wb["mappings"].iter_rows()]
    original = read_table(os.path.join(maps, "modality.csv"))
    assert cells[0] == original.columns
    assert cells[1:] == [[row.cells[h] for h in original.columns] for row in original.rows]


def test_a_table_the_build_could_not_read_shows_its_problems(web):
    html = page(web, "/mappings/broken")
    assert "Not loaded" in html and "missing-column" in html
    assert web.get("/mappings/broken.csv").status_code == 404


def test_a_block_under_rows_is_a_template_include(web, review_db, monkeypatch):
    """How mapping suggestions (or anything else per row) join the table page: a RowBlock."""
    monkeypatch.setattr(templates.ENV, "loader", ChoiceLoader([
        DictLoader({"test_row_block.html": '<div class="extra-block">{{ r.source_code }}: {{ value }}</div>'}),
        templates.ENV.loader]))
    templates.ENV.cache.clear()
    monkeypatch.setattr(review, "ROW_BLOCKS", [review.RowBlock(
        "test_row_block.html", lambda store, rep, table, rows, f: {r.row: f"{len(r.source_code)} characters"
                                                                for r in rows if not r.accepted})])
    html = page(web, "/mappings/body-part")
    blocks = re.findall(r'<tr class="row-block" data-row="(\d+)"><td></td><td colspan="\d+">(.*?)</td></tr>', html)
    assert blocks == [("3", '<div class="extra-block">ABDOMEN: 7 characters</div>'),
                      ("4", '<div class="extra-block">HEAD: 4 characters</div>')]
    assert html.index('<tr id="row-3"') < html.index('data-row="3"') < html.index('<tr id="row-4"')
    templates.ENV.cache.clear()


def test_html_is_escaped_and_the_page_is_read_only(web):
    html = page(web, "/mappings/modality")
    assert "&lt;b&gt;Magnet&lt;/b&gt;" in html and "<b>Magnet</b>" not in html
    html = page(web, "/mappings?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert web.post("/mappings").status_code == 405
