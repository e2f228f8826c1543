"""The review page of the mapping tables (GET /mappings) through the Flask test client: what the
build judged, per table and per row; the search across tables; the filters; the downloads."""
import io
import os

import openpyxl
import orjson
import pytest

from termsvc.api.app import create_app
from termsvc.build import SourceSpec, build
from termsvc.mappings.table import read_table

LOCAL_BP = "http://ex.test/cs/body-part"
LOCAL_MOD = "http://ex.test/cs/modality"
EU = "http://ex.test/cs/eu"
BODY_PART = """source_code,source_display,target_code,target_display,relationship,no_map,status,comment,author,reviewer,status_date,freq
CHEST,Chest,X1,Chest,equivalent,,accepted,,ana,jo,2026-01-02,10
ABDOMEN,Abdomen,X2,Abdomen,equivalent,,draft,,ana,,,5
HEAD,Head,X3,Cabeza,equivalent,,in-review,,ana,,,1
KNEE,Knee,LUNGX,,equivalent,,accepted,,ana,jo,2026-01-02,2
0012,Radiografía de tórax,X1,Chest,wider,,accepted,,ana,jo,2026-01-02,007
"""
MODALITY = """source_code;source_display;target_code;relationship;status;author;reviewer;status_date
CXR;Chest X-ray;X1;source-is-narrower-than-target;accepted;bo;jo;2026-02-03
CT;Computed tomography;X3;related-to;rejected;bo;;
MR;<b>Magnet</b>;X4;equivalent;accepted;bo;jo;2026-02-03
"""


def _cs(url, codes):
    return {"resourceType": "CodeSystem", "url": url, "version": "1", "status": "active", "content": "complete",
            "concept": [{"code": c, "display": d} for c, d in codes]}


def _toml(name, source, extra=""):
    return (f'url = "http://ex.test/cm/{name}"\ntitle = "The {name} table"\nstatus = "active"\n'
            f'source_system = "{source}"\ntarget_system = "{EU}"\n'
            f'source_scope = "http://ex.test/vs/{name}"\ntarget_scope = "http://ex.test/vs/eu"\n{extra}')


@pytest.fixture(scope="module")
def review_db(tmp_path_factory):
    """A build of two tables (one with a row in error, left out with --allow-mapping-errors) and a
    table that cannot be read; (database, folder of the tables)."""
    d = tmp_path_factory.mktemp("review")
    content = d / "content"
    content.mkdir()
    resources = [
        _cs(LOCAL_BP, [("CHEST", "Chest"), ("ABDOMEN", "Abdomen"), ("HEAD", "Head"), ("KNEE", "Knee"),
                       ("0012", "Radiografía de tórax"), ("FOOT", "Foot")]),
        _cs(LOCAL_MOD, [("CXR", "Chest X-ray"), ("CT", "Computed tomography"), ("MR", "<b>Magnet</b>")]),
        _cs(EU, [("X1", "Chest"), ("X2", "Abdomen"), ("X3", "Head"), ("X4", "Magnet")]),
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
    maps.mkdir()
    (maps / "body-part.csv").write_text(BODY_PART, encoding="utf-8")
    (maps / "body-part.toml").write_text(_toml("body-part", LOCAL_BP, "source_case_sensitive = false\n"))
    (maps / "modality.csv").write_text(MODALITY, encoding="utf-8")
    (maps / "modality.toml").write_text(_toml("modality", LOCAL_MOD))
    (maps / "broken.csv").write_text("code,target\nA,B\n", encoding="utf-8")
    (maps / "broken.toml").write_text(_toml("broken", LOCAL_MOD))
    db = str(d / "t.db")
    build(db, [SourceSpec("fhir", str(content)), SourceSpec("mappings", str(maps), {"allow_errors": True})],
          preexpand=False)
    return db, str(maps)


@pytest.fixture(scope="module")
def web(review_db):
    return create_app(review_db[0]).test_client()


def page(web, url) -> str:
    r = web.get(url)
    assert r.status_code == 200, r.data[:500]
    assert r.content_type == "text/html; charset=utf-8"
    return r.get_data(as_text=True)


def rows_shown(html: str) -> list[int]:
    return [int(part.split('"', 1)[0]) for part in html.split('<tr id="row-')[1:]]


def test_overview_lists_every_table_with_coverage_counts_and_links(web):
    html = page(web, "/mappings")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    for table in ("body-part", "modality", "broken"):
        assert f'<section class="table" id="{table}">' in html
    body_part = html.split('id="body-part"')[1].split("</section>")[0]
    assert "The body-part table" in body_part and "body-part.csv" in body_part
    # coverage of the 6 codes of the source scope; 3 accepted rows, KNEE's in error (2 errors) left out
    assert 'class="bar"' in body_part and "33.3% of 6 codes" in body_part
    assert "2 served" in body_part and "1 left out for their errors" in body_part
    assert '<span class="badge b-err">2 errors</span>' in body_part
    for link in ('href="/fhir/ConceptMap/body-part"', 'href="/r4/fhir/ConceptMap/body-part"',
                 'href="/mappings/body-part.csv"', 'href="/mappings/body-part.xlsx"', 'href="/mappings/body-part"'):
        assert link in body_part
    broken = html.split('id="broken"')[1].split("</section>")[0]
    assert "Not loaded" in broken and "ConceptMap" not in broken and ".xlsx" not in broken
    # the links lead to the ConceptMap the build serves, in R5 and R4
    r5 = web.get("/fhir/ConceptMap/body-part").get_json()
    r4 = web.get("/r4/fhir/ConceptMap/body-part").get_json()
    assert r5["url"] == r4["url"] == "http://ex.test/cm/body-part"
    assert "targetScopeCanonical" in r5 and "targetCanonical" in r4


def test_search_finds_a_local_code_across_tables_with_status_author_reviewer_and_date(web):
    html = page(web, "/mappings?q=chest")
    results = html.split('id="results"')[1].split("</section>")[0]
    rows = results.split("<tr>")[2:]
    assert len(rows) == 2
    assert "body-part" in rows[0] and "<code>CHEST</code>" in rows[0]     # the exact code first
    for text in ("accepted", "ana", "jo", "2026-01-02", "#row-2"):
        assert text in rows[0]
    assert "modality" in rows[1] and "Chest X-ray" in rows[1] and "bo" in rows[1] and "2026-02-03" in rows[1]
    assert "No row has" in page(web, "/mappings?q=nothing-like-this")
    assert "<code>0012</code>" in page(web, "/mappings?q=0012")


def test_rows_filtered_by_status_and_by_problem(web):
    assert rows_shown(page(web, "/mappings/body-part")) == [2, 3, 4, 5, 6]
    assert rows_shown(page(web, "/mappings/body-part?status=draft")) == [3]
    html = page(web, "/mappings/body-part?problem=error")
    assert rows_shown(html) == [5]
    row = html.split('<tr id="row-5"')[1].split("</tr>")[0]
    assert "unknown-target-code" in row and "LUNGX" in row and "<span class=muted>no</span>" in row
    assert rows_shown(page(web, "/mappings/body-part?problem=display-differs")) == [4]   # in review: a warning
    assert rows_shown(page(web, "/mappings/body-part?problem=warning")) == [3, 4]
    assert rows_shown(page(web, "/mappings/body-part?status=accepted&problem=none")) == [2, 6]
    served = page(web, "/mappings/body-part").split('<tr id="row-2"')[1].split("</tr>")[0]
    assert "<td>yes</td>" in served and "ana" in served and "2026-01-02" in served


def test_a_table_the_build_could_not_read_shows_its_problems(web):
    html = page(web, "/mappings/broken")
    assert "Not loaded" in html and "missing-column" in html
    assert web.get("/mappings/broken.csv").status_code == 404


def test_downloads_are_the_table_as_written(web, review_db):
    _, maps = review_db
    r = web.get("/mappings/body-part.csv")
    assert r.status_code == 200 and r.content_type.startswith("text/csv")
    assert 'filename="body-part.csv"' in r.headers["Content-Disposition"]
    assert r.data.startswith(b"\xef\xbb\xbf")
    assert r.data[3:].decode("utf-8").replace("\r\n", "\n") == BODY_PART
    r = web.get("/mappings/modality.xlsx")
    assert r.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(r.data))
    cells = [[c.value or "" for c in row] for row in wb["mappings"].iter_rows()]
    original = read_table(os.path.join(maps, "modality.csv"))
    assert cells[0] == original.columns
    assert cells[1:] == [[row.cells[h] for h in original.columns] for row in original.rows]


def test_html_is_escaped_and_the_page_is_read_only(web):
    html = page(web, "/mappings/modality")
    assert "&lt;b&gt;Magnet&lt;/b&gt;" in html and "<b>Magnet</b>" not in html
    assert web.post("/mappings").status_code == 405
    r = web.get("/mappings/no-such-table")
    assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"
