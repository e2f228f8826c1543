"""The codes of a table's catalogue (its source scope) that no row names yet get suggestions everywhere, as
one service chooses them (termsvc.suggest.service.to_suggest): `termsvc mappings suggest` ("row": null),
POST /mappings/suggest, the review page (a list above the rows, each code with its candidates) and its
XLSX download (new draft rows) - over HTTP against a real `termsvc serve`, compared with the CLI."""
import io
import re
import urllib.request

import openpyxl
import orjson
from markupsafe import escape

from test_review_suggestions import CID4, KNEE, ROOMY, SCT, candidates, suggest_cli, suggestions_db  # noqa: F401
from termsvc.api import review
from termsvc.api.app import create_app

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
CSPINE, HAND = "122494005", "85562004"


def fetch(srv, path: str, headers=None) -> tuple[int, str, bytes]:
    """(status, content type, body) of a GET over HTTP."""
    req = urllib.request.Request(srv.base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def html_of(srv, path: str) -> str:
    status, ctype, body = fetch(srv, path, HTML)
    assert status == 200 and ctype.startswith("text/html"), body[:300]
    return body.decode()


def unlisted_blocks(html: str) -> dict:
    """source code -> the HTML of its suggestions, in the list of the catalogue codes without a row."""
    return dict(re.findall(r'<tr class="unlisted-block" data-code="([^"]+)"><td colspan="2">(.*?)</td></tr>\n'
                           r'(?=<tr class="unlisted"|</table>\s*</details>)', html, re.S))


def suggest_http(srv, body: dict) -> tuple[int, dict]:
    status, parsed, raw = srv.request("POST", "/mappings/suggest", body=body,
                                      headers={"Content-Type": "application/json", "Accept": "application/json"})
    return status, parsed


def test_the_cli_the_endpoint_and_the_page_suggest_for_them(suggestions_db, server_factory):   # noqa: F811
    db, maps = suggestions_db
    cli = orjson.loads(suggest_cli(db, maps, "catalogo", "--json"))
    # R01's row has no target; R02 and R04 have no row at all; R03 is mapped
    assert [(r["row"], r["source_code"], r["source_display"]) for r in cli["rows"]] == [
        (2, "R01", "Rodilla izquierda"), (None, "R02", "Columna cervical"), (None, "R04", "Mano derecha")]
    top = {r["source_code"]: r["candidates"][0]["code"] for r in cli["rows"]}
    assert top == {"R01": KNEE, "R02": CSPINE, "R04": HAND}
    srv = server_factory(db, env={"TERMSVC_TIME_LIMIT_MS": "120000"})
    # the endpoint: the same rows, the same candidates, in the same order
    status, body = suggest_http(srv, {"table": "catalogo"})
    assert status == 200 and body == cli
    status, every = suggest_http(srv, {"table": "catalogo", "all": True, "top": 2})
    assert status == 200 and [(r["row"], r["source_code"]) for r in every["rows"]] == [
        (2, "R01"), (3, "R03"), (None, "R02"), (None, "R04")]
    assert all(len(r["candidates"]) <= 2 for r in every["rows"])
    # the page: the row's candidates under it, the codes without a row listed above the rows with theirs
    html = html_of(srv, "/mappings/catalogo")
    heading = html.split('id="suggestions"')[1].split("</section>")[0]
    assert "Suggestions for 1 row without a target and 2 catalogue codes without a row" in heading
    assert "http://ex.test/ValueSet/catalogo" in heading and "new draft row for each catalogue code" in heading
    shown = unlisted_blocks(heading)
    assert list(shown) == ["R02", "R04"]
    for row in cli["rows"][1:]:
        block = shown[row["source_code"]]
        assert [(c[1], c[2], c[3]) for c in candidates(block)] == [(c["code"], c["display"], c["system"])
                                                                    for c in row["candidates"]]
        assert [float(c[0]) for c in candidates(block)] == [round(c["score"], 2) for c in row["candidates"]]
        assert all(str(escape(c["why"])) in block for c in row["candidates"])
        assert f'<code>{row["source_code"]}</code></td><td>{row["source_display"]}</td>' in heading
    assert 'data-part="region"' in shown["R04"] and 'data-part="laterality"' in shown["R04"]   # parts too
    # a filtered page lists some rows: it computes none for the catalogue, and links to the page of all
    filtered = html_of(srv, "/mappings/catalogo?status=accepted")
    assert unlisted_blocks(filtered) == {} and 'href="/mappings/catalogo#suggestions-unlisted"' in filtered
    # the overview links to them, counted
    overview = html_of(srv, "/mappings").split('id="catalogo"')[1].split("</section>")[0]
    assert "candidates for 1 row without a target and 2 catalogue codes without a row" in overview


def sheet_rows(data: bytes) -> list[list]:
    ws = openpyxl.load_workbook(io.BytesIO(data))["mappings"]
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_the_xlsx_download_adds_them_as_draft_rows(suggestions_db, server_factory, tmp_path):   # noqa: F811
    db, maps = suggestions_db
    srv = server_factory(db, env={"TERMSVC_TIME_LIMIT_MS": "120000"})
    status, ctype, data = fetch(srv, "/mappings/catalogo/suggestions.xlsx")
    assert status == 200 and "spreadsheetml" in ctype
    rows = sheet_rows(data)
    col = {h: i for i, h in enumerate(rows[0])}
    got = [(r[col["source_code"]], r[col["source_display"]], r[col["target_code"]], r[col["status"]])
           for r in rows[1:]]
    assert got == [("R01", "Rodilla izquierda", KNEE, "draft"), ("R03", "Tórax", "816094009", "accepted"),
                   ("R02", "Columna cervical", CSPINE, "draft"), ("R04", "Mano derecha", HAND, "draft")]
    assert all(rows[i][col["relationship"]] == "related-to" and rows[i][col["suggestion_candidates"]]
               for i in (1, 3, 4))
    out = tmp_path / "cli.xlsx"
    suggest_cli(db, maps, "catalogo", "-o", str(out))
    assert sheet_rows(out.read_bytes()) == rows       # the file `termsvc mappings suggest -o` writes


def test_a_catalogue_the_build_cannot_list_is_said_everywhere(suggestions_db):   # noqa: F811
    db, maps = suggestions_db
    web = create_app(db, ROOMY).test_client()
    r = web.post("/mappings/suggest", json={"table": "sin-catalogo"})
    body = r.get_json()
    assert r.status_code == 200 and [row["source_code"] for row in body["rows"]] == ["Y1"]
    assert "http://ex.test/ValueSet/not-loaded without a row are not suggested for" in body["message"]
    html = web.get("/mappings/sin-catalogo", headers=HTML).get_data(as_text=True)
    note = html.split('id="suggestions-catalogue">')[1].split("</div>")[0]
    assert "without a row are not suggested for" in note and "not-loaded" in note
    assert "without a row are not suggested for" not in web.post("/mappings/suggest", json={
        "table": "catalogo"}).get_json().get("message", "")


def test_openapi_says_a_row_may_be_a_catalogue_code_without_one(suggestions_db):   # noqa: F811
    spec = create_app(suggestions_db[0], ROOMY).test_client().get("/openapi.json").get_json()
    ok = spec["paths"]["/mappings/suggest"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    row = ok["properties"]["rows"]["items"]["properties"]["row"]
    assert row["nullable"] is True and "catalogue" in row["description"]
    assert "message" in ok["properties"]


def test_what_a_table_asks_suggestions_for_is_counted_in_words():
    from termsvc.templates import ENV
    said = ENV.get_template("review_macros.html").module.without_a_target
    assert [str(said(rows, codes)) for rows, codes in ((4, 0), (1, 2), (0, 3), (0, 1), (0, 0))] == [
        "4 rows without a target", "1 row without a target and 2 catalogue codes without a row",
        "3 catalogue codes without a row", "1 catalogue code without a row", "0 rows without a target"]


def unlisted_codes(html: str) -> list[str]:
    """The codes listed as catalogue codes without a row (a table page's, or the overview's)."""
    return re.findall(r'<tr class="unlisted" data-code="([^"]+)">', html)


def test_a_filtered_page_counts_the_catalogue_codes_without_a_row_and_lists_those_it_keeps(suggestions_db):   # noqa: F811
    """A catalogue code without a row is, to a filter, the draft row without a target it would be (the row
    the download adds): a filter for rows to map lists it, one for mapped rows counts it only."""
    db, _ = suggestions_db
    web = create_app(db, ROOMY).test_client()
    for query, kept in (("", ["R02", "R04"]), ("?status=draft", ["R02", "R04"]), ("?status=Accepted", []),
                        ("?q=columna", ["R02"]), ("?q=r04", ["R04"]), ("?q=torax", []),
                        ("?problem=empty-target", ["R02", "R04"]), ("?problem=warning", ["R02", "R04"]),
                        ("?problem=none", []), ("?problem=error", []), (f"?system={SCT}", ["R02", "R04"]),
                        (f"?system={SCT}&q=mano", ["R04"]), ("?system=http://loinc.org", []), ("?change=any", [])):
        html = web.get("/mappings/catalogo" + query, headers=HTML).get_data(as_text=True)
        summary = html.split('<details open id="suggestions-unlisted"><summary>')[1].split("</summary>")[0]
        assert unlisted_codes(html) == kept, query
        assert summary == ("Codes of the catalogue without a row (2" + (
            f"; {len(kept)} of them kept by this filter)" if query else ")")), query
        if query and not kept:
            assert "This filter keeps none of them" in html and 'href="/mappings/catalogo#suggestions-unlisted"' in html
        for code in kept:   # each with its candidates
            assert unlisted_blocks(html)[code].count('<td class="code"><code>') >= 1, (query, code)
    # the filter's target system is offered with the systems of the rows
    html = web.get(f"/mappings/catalogo?system={SCT}", headers=HTML).get_data(as_text=True)
    assert f'<option value="{SCT}" selected>' in html and '<option value="">any target system</option>' in html


def test_the_overview_search_counts_and_lists_the_catalogue_codes_without_a_row(suggestions_db,  # noqa: F811
                                                                                 monkeypatch):
    db, _ = suggestions_db
    web = create_app(db, ROOMY).test_client()
    html = web.get("/mappings?q=mano", headers=HTML).get_data(as_text=True)
    results = html.split('id="results"')[1].split("</section>")[0]
    assert unlisted_codes(results) == ["R04"]          # (the rows with "mano" are listed above it, as rows)
    assert "Codes of the tables' catalogues without a row: 2; 1 of them kept by this filter" in results
    assert 'href="/mappings/catalogo?q=R04#suggestions-unlisted"' in results
    html = web.get("/mappings?status=accepted", headers=HTML).get_data(as_text=True)
    assert unlisted_codes(html) == [] and "without a row: 2; 0 of them kept by this filter" in html
    assert 'id="unlisted"' not in web.get("/mappings", headers=HTML).get_data(as_text=True)   # no filter, no list
    monkeypatch.setattr(review, "MAX_RESULTS", 1)      # more kept than a page lists: said
    html = web.get("/mappings?status=draft", headers=HTML).get_data(as_text=True)
    assert unlisted_codes(html) == ["R02"] and "without a row: 2; 2 of them kept by this filter (the first 1 listed)" in html
