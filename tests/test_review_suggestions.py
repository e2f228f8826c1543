"""Mapping suggestions on the review page (termsvc.api.review_suggestions) through the Flask test
client: the candidates and parts under every row without a target, what a scope that cannot be
expanded lacks, the table with its suggestions as XLSX (the file `termsvc mappings suggest -o`
writes), computed once per build and worker, never by the overview, within the time limit."""
import io
import os
import re
import time

import openpyxl
import orjson
import pytest
from click.testing import CliRunner
from markupsafe import escape

from termsvc import deadline
from termsvc.api import review_suggestions
from termsvc.api.app import create_app
from termsvc.api.suggest import build_suggester
from termsvc.build import Progress, SourceSpec, build
from termsvc.cli import cli
from termsvc.mappings.export import MEDIA_TYPES
from termsvc.suggest.service import Suggester
from test_review_page import page

CID4 = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_4.html"
PROCEDURES = "http://hl7.eu/fhir/imaging-r5/ValueSet/im-procedure-type"
SCT = "http://snomed.info/sct"
KNEE, LEFT, THORAX = "72696002", "7771000", "816094009"
HEADER = "source_code;source_display;target_code;target_display;relationship;status\n"
# a Spanish catalogue as Excel writes it, half mapped: codes that a spreadsheet library would turn into numbers
REGIONES = HEADER + ("0012;Rodilla izquierda;;;;\n"
                     "1.10;TC cráneo sin contraste;;;;\n"
                     f"0099;Tórax;{THORAX};Thorax;equivalent;accepted\n"
                     "C-SPINE;Columna cervical;;;;\n"
                     "ZZ9;qwxv zzkj;;;;\n")
PROCEDIMIENTOS = HEADER + "P1;TC de tórax;;;;\nP2;RM rodilla derecha;;;;\n"
# a catalogue export made a table by `mappings init` (its codes a local code system, the table's source scope)
CATALOGO = "Código;Descripción\nR01;Rodilla izquierda\nR02;Columna cervical\nR03;Tórax\nR04;Mano derecha\n"


def _table(maps, name, rows, target_scope, language, more=""):
    (maps / f"{name}.csv").write_text(rows, encoding="utf-8")
    (maps / f"{name}.toml").write_text(
        f'url = "http://ex.test/cm/{name}"\nlanguage = "{language}"\nsource_system = "http://ex.test/cs/{name}"\n'
        f'target_system = "{SCT}"\ntarget_scope = "{target_scope}"\n{more}', encoding="utf-8")


def _catalogue_table(d, maps) -> None:
    """`catalogo`, made by `mappings init` from a catalogue export; then its rows of R02 and R04 deleted
    (by mistake, or never written) and R03 mapped: two codes of its catalogue have no row."""
    (d / "export.csv").write_text(CATALOGO, encoding="utf-8")
    r = CliRunner().invoke(cli, ["mappings", "init", str(d / "export.csv"), "--name", "catalogo", "-o", str(maps),
                                 "--language", "es", "--target-scope", CID4, "--target-system", SCT,
                                 "--base-url", "http://ex.test"])
    assert r.exit_code == 0, r.output
    (maps / "catalogo.csv").write_text(HEADER + f"R01;Rodilla izquierda;;;;\nR03;Tórax;{THORAX};Thorax;equivalent;"
                                                "accepted\n", encoding="utf-8")


@pytest.fixture(scope="module")
def suggestions_db(tmp_path_factory):
    """A build of the IG and DICOM with three Spanish tables, rows without a target in each: body regions
    (DICOM CID 4), procedures (the IG's value set over SNOMED CT, which cannot be expanded without a
    release), one whose scope is not loaded; a catalogue's table (`mappings init`) with codes no row names, and
    one whose catalogue is not loaded. (database, folder of the tables)."""
    d = tmp_path_factory.mktemp("review-suggestions")
    maps = d / "maps"
    maps.mkdir()
    _table(maps, "regiones", REGIONES, CID4, "es")
    _table(maps, "procedimientos", PROCEDIMIENTOS, PROCEDURES, "es")
    _table(maps, "sin-alcance", HEADER + "X1;Rodilla;;;;\n", "http://ex.test/ValueSet/not-loaded", "es")
    _catalogue_table(d, maps)
    _table(maps, "sin-catalogo", HEADER + "Y1;Mano;;;;\n", CID4, "es",  # a catalogue the build does not have
           'source_scope = "http://ex.test/ValueSet/not-loaded"\n')
    db = str(d / "t.db")
    build(db, [SourceSpec("ig"), SourceSpec("dicom"), SourceSpec("mappings", str(maps), {"allow_errors": True})],
          Progress(quiet=True))
    return db, str(maps)


# What a page shows, not how fast: a limit no loaded machine reaches (the tests of the limit set their own)
ROOMY = {"time_limit_ms": 120_000}


@pytest.fixture
def web(suggestions_db):
    return create_app(suggestions_db[0], ROOMY).test_client()


def blocks(html: str) -> dict:
    """row number -> the HTML of the suggestions under it."""
    return dict(re.findall(r'<tr class="row-block" data-row="(\d+)"><td></td><td colspan="\d+">(.*?)</td></tr>\n'
                           r'(?=<tr id="row-|</table>\n</div>\n</section>)', html, re.S))


def candidates(block: str) -> list[tuple]:
    """(score, code, display, system's title, why) of the candidates of a row's block, best first."""
    return re.findall(r'<tr><td class="nowrap">([\d.]+)</td><td class="code"><code>([^<]+)</code></td><td>([^<]*)'
                      r'</td><td class="sys"><span title="([^"]+)">[^<]*</span></td><td>([^<]*)</td></tr>', block)


def parts(block: str) -> dict:
    return dict(re.findall(r'data-part="(\w+)"><b>\w+</b> (?:<code title="[^"]*">)?([^<\s]+)', block))


def suggest_cli(db, maps, table, *args) -> str:
    """The output of `termsvc mappings suggest` on a table of the folder, over the build."""
    r = CliRunner().invoke(cli, ["mappings", "suggest", os.path.join(maps, table + ".csv"), "--db", db, "--mappings",
                                 maps, "--no-default-mappings", *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def test_every_row_without_a_target_shows_its_candidates_and_parts(web, suggestions_db):
    html = page(web, "/mappings/regiones")
    shown = blocks(html)
    assert sorted(shown, key=int) == ["2", "3", "5", "6"]          # not the mapped row 4
    knee = shown["2"]
    assert candidates(knee)[0][1:4] == (KNEE, "Knee", SCT) and parts(knee) == {"region": KNEE, "laterality": LEFT}
    assert parts(shown["3"])["modality"] == "CT" and "<b>contrast</b> without" in shown["3"]
    assert 1 <= len(candidates(shown["2"])) <= 5                 # up to --top (5); what the CLI gives, below
    # exactly what `termsvc mappings suggest --json` says of the table, row by row
    for row in orjson.loads(suggest_cli(*suggestions_db, "regiones", "--json"))["rows"]:
        block = shown.get(str(row["row"]), "")
        assert [(c[1], c[2], c[3]) for c in candidates(block)] == [(c["code"], c["display"], c["system"])
                                                                    for c in row["candidates"]]
        assert [float(c[0]) for c in candidates(block)] == [round(c["score"], 2) for c in row["candidates"]]
        assert all(str(escape(c["why"])) in block for c in row["candidates"])
        if not row["candidates"]:            # a name nothing matches: said under its row
            assert row["message"] in block
    # the rows come in their order, each block right under its row (and its problems)
    assert html.index('<tr id="row-2"') < html.index('data-row="2"><td></td>') < html.index('<tr id="row-3"')
    heading = html.split('id="suggestions"')[1].split("</section>")[0]
    assert "Suggestions for 4 rows without a target" in heading and CID4 in heading
    assert 'href="/mappings/regiones/suggestions.xlsx"' in heading and 'id="suggestions-unfinished"' not in heading
    assert html.index('id="suggestions"') < html.index('id="rows"')


def test_a_scope_that_cannot_be_expanded_says_so_and_what_to_load(web):
    html = page(web, "/mappings/procedimientos")
    note = html.split('id="suggestions-scope">')[1].split("</div>")[0]
    assert "cannot be expanded" in note and "termsvc build --snomed" in note     # what to load
    assert blocks(html) == {}                   # said once above the rows, not empty under each
    note = page(web, "/mappings/sin-alcance").split('id="suggestions-scope">')[1].split("</div>")[0]
    assert "http://ex.test/ValueSet/not-loaded is not loaded" in note and "build with the package" in note


def counted(monkeypatch) -> list:
    """The numbers of the rows Suggester.row is asked for, from now on."""
    calls = []
    real = Suggester.row
    monkeypatch.setattr(Suggester, "row", lambda self, *a, **k: calls.append(a[1]) or real(self, *a, **k))
    return calls


def test_the_overview_links_to_them_and_computes_none(suggestions_db, monkeypatch):
    calls = counted(monkeypatch)
    web = create_app(suggestions_db[0], ROOMY).test_client()
    html = page(web, "/mappings")
    section = html.split('id="regiones"')[1].split("</section>")[0]
    assert '<a href="/mappings/regiones#suggestions">candidates for 4 rows without a target</a>' in section
    assert '<a href="/mappings/regiones/suggestions.xlsx" download>' in section
    assert calls == []
    page(web, "/mappings/regiones")
    assert sorted(calls) == [2, 3, 5, 6]
    page(web, "/mappings/regiones?status=draft")       # once per build and worker
    web.get("/mappings/regiones/suggestions.xlsx")
    assert sorted(calls) == [2, 3, 5, 6]


def test_a_page_computes_and_shows_those_of_the_rows_it_lists(suggestions_db, monkeypatch):
    calls = counted(monkeypatch)
    monkeypatch.setattr(review_suggestions, "PAGE_ROWS", 2)
    web = create_app(suggestions_db[0], ROOMY).test_client()
    html = page(web, "/mappings/regiones")
    assert sorted(blocks(html)) == ["2", "3"] and calls == [2, 3]
    more = html.split('id="suggestions-more">')[1].split("</div>")[0]
    assert "under the first 2 of the 4 rows without a target listed here" in more
    html = page(web, "/mappings/regiones?q=COLUMNA")       # a search reaches the others
    assert list(blocks(html)) == ["5"] and calls == [2, 3, 5] and 'id="suggestions-more"' not in html
    page(web, "/mappings/regiones?status=accepted")         # no row without a target listed: none computed
    assert calls == [2, 3, 5]


def sheet(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))["mappings"]


def test_the_xlsx_download_is_the_table_with_its_suggestions_as_the_cli_writes_it(web, suggestions_db, tmp_path):
    db, maps = suggestions_db
    r = web.get("/mappings/regiones/suggestions.xlsx")
    assert r.status_code == 200 and r.content_type == MEDIA_TYPES["xlsx"]
    assert 'filename="regiones-suggestions.xlsx"' in r.headers["Content-Disposition"]
    ws = sheet(r.data)
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    col = {h: i for i, h in enumerate(rows[0])}
    by_code = {row[col["source_code"]]: row for row in rows[1:]}
    assert list(by_code) == ["0012", "1.10", "0099", "C-SPINE", "ZZ9"]          # codes stay text
    assert all(isinstance(ws.cell(i, col["source_code"] + 1).value, str) for i in range(2, 7))
    knee = by_code["0012"]
    assert knee[col["status"]] == "draft" and knee[col["target_code"]] == KNEE
    assert knee[col["relationship"]] == "related-to" and float(knee[col["suggestion_score"]]) > 0.5
    assert "Knee" in knee[col["suggestion_candidates"]] and knee[col["suggestion_reason"]]
    mapped = by_code["0099"]
    assert mapped[col["status"]] == "accepted" and mapped[col["target_code"]] == THORAX
    assert not mapped[col["suggestion_score"]]
    nothing = by_code["ZZ9"]                   # no candidate: left as it was
    assert not nothing[col["target_code"]] and nothing[col["status"]] != "draft"
    knee_cell = ws.cell(2, col["target_code"] + 1).coordinate
    dropdown = next(dv for dv in ws.data_validations.dataValidation if str(dv.sqref) == knee_cell)
    assert dropdown.formula1.strip('"').split(",")[0] == KNEE and dropdown.formula1.count(",") <= 4
    # the same cells and dropdowns as `termsvc mappings suggest TABLE -o FILE.xlsx`
    out = str(tmp_path / "cli.xlsx")
    suggest_cli(db, maps, "regiones", "-o", out)
    cli_ws = openpyxl.load_workbook(out)["mappings"]
    assert [[c.value for c in row] for row in cli_ws.iter_rows()] == rows
    assert ([(str(dv.sqref), dv.formula1, dv.prompt) for dv in cli_ws.data_validations.dataValidation]
            == [(str(dv.sqref), dv.formula1, dv.prompt) for dv in ws.data_validations.dataValidation])


def test_errors_of_the_download(web):
    r = web.get("/mappings/no-such-table/suggestions.xlsx")
    assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"
    assert "no mapping table" in page(web, "/mappings/no-such-table/suggestions.xlsx", status=404)
    # a scope with nothing to suggest from: the table as it is, no draft row
    ws = sheet(web.get("/mappings/sin-alcance/suggestions.xlsx").data)
    assert [c.value for c in ws[2]][:2] == ["X1", "Rodilla"] and "draft" not in [c.value for c in ws[2]]


def warm(app):
    """The app's suggester, with the CID 4 scope and the DICOM context groups of the parts made (what
    a first request makes before its first row)."""
    with app.app_context():
        store = app.extensions["termsvc.store"]
        suggester = build_suggester(store, app.extensions["termsvc.settings"])
        suggester.row(suggester.ranker(CID4, None), 1, "", "TC rodilla izquierda sin contraste")
    return app.test_client()


def slow_after(calls: int, monkeypatch) -> dict:
    """Suggester.row answers `calls` rows, then takes until the deadline in force: a slow scope, made
    deterministic. Returns its state: "n" the rows asked for so far, "slow" (set it false: fast again)."""
    real = Suggester.row
    state = {"n": 0, "slow": True}

    def row(self, *a, **k):
        state["n"] += 1
        while state["slow"] and state["n"] > calls and not deadline.expired():
            time.sleep(0.005)
        return real(self, *a, **k)
    monkeypatch.setattr(Suggester, "row", row)
    return state


def test_a_page_shows_what_fits_in_its_time_and_the_next_one_goes_on(suggestions_db, monkeypatch):
    web = warm(create_app(suggestions_db[0], {"time_limit_ms": 3000}))
    rows = slow_after(2, monkeypatch)        # the 3rd row runs out of the page's share of the time limit
    html = page(web, "/mappings/regiones")
    note = html.split('id="suggestions-unfinished">')[1].split("</div>")[0]
    assert note.startswith("Candidates for 2 of the 4 rows so far") and "1200 ms" in note and "reload" in note
    assert sorted(blocks(html), key=int) == ["2", "3"]
    rows["slow"] = False
    html = page(web, "/mappings/regiones")
    assert 'id="suggestions-unfinished"' not in html and sorted(blocks(html), key=int) == ["2", "3", "5", "6"]
    assert rows["n"] == 3 + 2              # the rows done were kept: only the other two asked for again


def test_a_download_past_the_time_limit_says_so_and_keeps_what_it_computed(suggestions_db, monkeypatch):
    complete = create_app(suggestions_db[0], ROOMY).test_client().get("/mappings/regiones/suggestions.xlsx").data
    web = warm(create_app(suggestions_db[0], {"time_limit_ms": 1500}))
    rows = slow_after(1, monkeypatch)        # the 2nd row runs out of the request's time limit
    r = web.get("/mappings/regiones/suggestions.xlsx")
    text = r.get_json()["issue"][0]["details"]["text"]
    assert r.status_code == 422 and "time limit" in text and "1 of the 4 rows without a target" in text
    rows["slow"] = False
    r = web.get("/mappings/regiones/suggestions.xlsx")
    assert r.status_code == 200 and rows["n"] == 2 + 3
    assert [[c.value for c in row] for row in sheet(r.data).iter_rows()] == \
        [[c.value for c in row] for row in sheet(complete).iter_rows()]


def test_openapi_documents_the_download(web):
    op = web.get("/openapi.json").get_json()["paths"]["/mappings/{table}/suggestions.xlsx"]["get"]
    assert MEDIA_TYPES["xlsx"] in op["responses"]["200"]["content"] and "4XX" in op["responses"]
