"""The review page (GET /mappings) in a real headless browser: Debian's chromium driven by selenium
over chromedriver, against a real `termsvc serve`, in a 1400x1000 window. The page renders, codes and
statuses never wrap (measured in the browser), the tiles lead to the rows they count, the search finds
a code, a filter narrows the rows, the extra columns fold away, an error is an HTML page, and a
downloaded XLSX opens in openpyxl; the candidates of a row without a target show under it, and the
table with its suggestions downloads. Screenshots are kept: in the folder TERMSVC_TEST_ARTIFACTS names,
else the test's temporary folder (the test prints where).

Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`; .ci/run
installs them when missing). Without them the test is skipped, saying so."""
import base64
import os
import shutil

import openpyxl
import pytest

from conftest import eventually
from test_review_page import review_db  # noqa: F401  (the fixture: a build with tables to review)
from test_review_suggestions import KNEE, suggestions_db  # noqa: F401  (a build with rows to suggest for)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="no chromium/chromedriver (apt-get install chromium chromium-driver)")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(30)
    driver.set_window_size(1400, 1000)
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture
def artifacts(tmp_path, request):
    """Where the screenshots go: TERMSVC_TEST_ARTIFACTS (a folder kept after the run), else tmp_path."""
    folder = os.environ.get("TERMSVC_TEST_ARTIFACTS") or str(tmp_path / "artifacts")
    os.makedirs(folder, exist_ok=True)

    def save(browser, name):
        """A screenshot of the whole page (beyond the window), as PNG."""
        path = os.path.join(folder, f"{request.node.name}-{name}.png")
        size = browser.execute_script("return [document.documentElement.scrollWidth,"
                                      " document.documentElement.scrollHeight]")
        shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
            "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"screenshot: {path}")
        return path
    return save


# every code, status and other no-wrap cell of the page: [text, height, one line's height] of those whose
# content is taller than one line (a wrapped "303653 / 007" or "acce / pted")
WRAPPED = """
const out = [];
for (const el of document.querySelectorAll('td.code, td.nowrap, .st, .sys, th')) {
  if (!el.offsetParent) continue;                    // not shown
  const style = getComputedStyle(el);
  let line = parseFloat(style.lineHeight);
  if (isNaN(line)) line = parseFloat(style.fontSize) * 1.25;   // "normal"
  const range = document.createRange();
  range.selectNodeContents(el);
  const height = range.getBoundingClientRect().height;
  if (height > 1.5 * line) out.push([el.innerText, height, line]);
}
return out;
"""


def test_the_review_page_in_a_browser(browser, review_db, server_factory, artifacts):   # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    db, _ = review_db
    srv = server_factory(db)
    browser.get(srv.base + "/mappings")
    assert browser.title == "Mapping tables"
    sections = browser.find_elements(By.CSS_SELECTOR, "section.table")
    assert {s.get_attribute("id") for s in sections} >= {"body-part", "modality", "procedures"}
    ids = [s.get_attribute("id") for s in sections]
    assert ids.index("modality") == len(ids) - 1             # the table without errors after the others
    bar = browser.find_element(By.CSS_SELECTOR, "#body-part .bar .c-map")
    assert bar.size["width"] > 0        # the coverage bar is drawn
    artifacts(browser, "overview")
    assert browser.execute_script(WRAPPED) == []

    # the tile "errors" leads to the rows in error
    browser.find_element(By.PARTIAL_LINK_TEXT, "errors").click()
    results = eventually(lambda: browser.find_elements(By.CSS_SELECTOR, "#results tr")
                       if "problem=error" in browser.current_url else None)
    assert len(results) == 1 + 2 and all(r.get_attribute("class") == "error" for r in results[1:])

    # the search box finds a target code, an author, a display without its accents
    for q, expected in (("303653007", "MAM01"), ("p.dubois", "US-ABD"), ("schadel", "Schädel CT")):
        box = browser.find_element(By.ID, "q")
        box.clear()
        box.send_keys(q)
        browser.find_element(By.ID, "find").click()
        results = eventually(lambda q=q: browser.find_elements(By.CSS_SELECTOR, "#results tr")
                             if f"q={q}" in browser.current_url else None)
        assert any(expected in r.text for r in results[1:]), (q, [r.text for r in results])
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("chest")
    browser.find_element(By.ID, "find").click()
    results = eventually(lambda: browser.find_elements(By.CSS_SELECTOR, "#results tr")
                       if "q=chest" in browser.current_url else None)
    texts = [r.text for r in results[1:]]
    assert any("body-part" in t and "CHEST" in t and "accepted" in t and "ana" in t and "jo" in t
               and "2026-01-02" in t for t in texts), texts
    assert any("modality" in t and "Chest" in t for t in texts), texts

    # a table's rows, filtered by status, then by problem
    browser.find_element(By.LINK_TEXT, "body-part").click()
    eventually(lambda: browser.find_elements(By.ID, "row-table"))
    all_rows = len(browser.find_elements(By.CSS_SELECTOR, "#row-table tr[id^=row-]"))
    Select(browser.find_element(By.ID, "status")).select_by_value("draft")
    browser.find_element(By.ID, "filter").click()
    drafts = eventually(lambda: browser.find_elements(By.CSS_SELECTOR, "#row-table tr[id^=row-]")
                      if "status=draft" in browser.current_url else None)
    assert 0 < len(drafts) < all_rows and all("draft" in r.text for r in drafts)
    Select(browser.find_element(By.ID, "status")).select_by_value("")
    Select(browser.find_element(By.ID, "problem")).select_by_value("error")
    browser.find_element(By.ID, "filter").click()
    errors = eventually(lambda: browser.find_elements(By.CSS_SELECTOR, "#row-table tr[id^=row-]")
                      if "problem=error" in browser.current_url else None)
    assert [r.get_attribute("id") for r in errors] == ["row-5"] and "LUNGX" in errors[0].text
    problems = browser.find_element(By.CSS_SELECTOR, "tr.row-problems[data-row='5']").text
    assert "unknown-target-code" in problems and "LUNGX" in problems

    # the German table: SNOMED CT codes, statuses and systems on one line; the bad relationship where it
    # belongs; the table's own problems above its rows; the extra columns fold away
    browser.get(srv.base + "/mappings/procedures")
    eventually(lambda: browser.find_elements(By.ID, "row-table"))
    artifacts(browser, "procedures")
    assert browser.execute_script(WRAPPED) == []
    code = browser.find_element(By.CSS_SELECTOR, "#row-2 td[data-column=Target] code")
    font = float(code.value_of_css_property("font-size").removesuffix("px"))
    assert code.text == "303653007" and code.size["height"] < 2 * font     # one line
    bad = browser.find_element(By.CSS_SELECTOR, "#row-4 td.bad")
    assert bad.text == "equivalnet" and bad.get_attribute("data-column") == "Relationship"
    assert bad.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    table_problems = browser.find_element(By.ID, "table-problems")
    assert table_problems.location["y"] < browser.find_element(By.ID, "row-table").location["y"]
    extra = browser.find_element(By.CSS_SELECTOR, "#row-3 td.extra")
    assert extra.is_displayed() and extra.text == "Neuroradiologie"
    browser.find_element(By.CSS_SELECTOR, "label[for=extras]").click()
    eventually(lambda: not extra.is_displayed())
    artifacts(browser, "procedures-without-extra-columns")

    # an error in a browser is a page
    browser.get(srv.base + "/mappings/procedures?status=done")
    assert "unknown status 'done'" in browser.find_element(By.ID, "error").text
    browser.get(srv.base + "/mappings/no-such-table")
    assert "no mapping table 'no-such-table'" in browser.find_element(By.ID, "error").text
    assert browser.find_element(By.LINK_TEXT, "all tables")

    # the XLSX download opens in openpyxl with the table's cells
    browser.get(srv.base + "/mappings/body-part")
    browser.find_element(By.PARTIAL_LINK_TEXT, "download XLSX").click()
    path = eventually(lambda: next((p for p in browser.downloads.iterdir() if p.suffix == ".xlsx"), None))
    eventually(lambda: not any(p.suffix == ".crdownload" for p in browser.downloads.iterdir()))
    wb = openpyxl.load_workbook(os.fspath(path))
    assert wb.sheetnames == ["mappings", "metadata"]
    cells = [[c.value for c in row] for row in wb["mappings"].iter_rows()]
    assert cells[0][:3] == ["source_code", "source_display", "target_code"]
    assert ["0012", "Radiografía de tórax"] == cells[-1][:2]


def test_the_suggestions_in_a_browser(browser, suggestions_db, server_factory, artifacts):   # noqa: F811
    from selenium.webdriver.common.by import By
    db, _ = suggestions_db
    srv = server_factory(db)
    browser.get(srv.base + "/mappings")
    browser.find_element(By.PARTIAL_LINK_TEXT, "candidates for 4 rows without a target").click()
    eventually(lambda: browser.find_elements(By.ID, "row-table"))
    # the candidates of an unmapped row, under it, its codes on one line
    block = browser.find_element(By.CSS_SELECTOR, "tr.row-block[data-row='2']")
    assert block.is_displayed() and "Knee" in block.text and "rodilla" in block.text
    row = browser.find_element(By.ID, "row-2")
    assert row.location["y"] < block.location["y"] < browser.find_element(By.ID, "row-3").location["y"]
    code = block.find_element(By.CSS_SELECTOR, "table.candidates td.code code")
    font = float(code.value_of_css_property("font-size").removesuffix("px"))
    assert code.text == KNEE and code.size["height"] < 2 * font
    region = block.find_element(By.CSS_SELECTOR, "[data-part=region]")
    assert region.is_displayed() and KNEE in region.text
    artifacts(browser, "suggestions")
    assert browser.execute_script(WRAPPED) == []
    # a scope that cannot be expanded: said above the rows, with what to load
    browser.get(srv.base + "/mappings/procedimientos")
    note = browser.find_element(By.ID, "suggestions-scope")
    assert note.is_displayed() and "termsvc build --snomed" in note.text
    assert note.location["y"] < browser.find_element(By.ID, "row-table").location["y"]
    # the codes of a catalogue that no row names yet: listed above the rows, each with its candidates
    browser.get(srv.base + "/mappings/catalogo")
    unlisted = browser.find_element(By.ID, "suggestions-unlisted")
    spine = unlisted.find_element(By.CSS_SELECTOR, "tr.unlisted-block[data-code='R02']")
    assert spine.is_displayed() and "Cervical spine" in spine.text
    assert spine.location["y"] < browser.find_element(By.ID, "row-table").location["y"]
    artifacts(browser, "catalogue")
    assert browser.execute_script(WRAPPED) == []
    # the table with its suggestions, downloaded: draft rows with their candidates, codes as text
    browser.get(srv.base + "/mappings/regiones")
    browser.find_element(By.PARTIAL_LINK_TEXT, "download XLSX with suggestions").click()
    path = eventually(lambda: next((p for p in browser.downloads.iterdir() if p.suffix == ".xlsx"), None))
    eventually(lambda: not any(p.suffix == ".crdownload" for p in browser.downloads.iterdir()))
    assert path.name == "regiones-suggestions.xlsx"
    rows = [[c.value for c in r] for r in openpyxl.load_workbook(os.fspath(path))["mappings"].iter_rows()]
    col = {h: i for i, h in enumerate(rows[0])}
    assert rows[1][col["source_code"]] == "0012" and rows[1][col["target_code"]] == KNEE
    assert rows[1][col["status"]] == "draft" and "Knee" in rows[1][col["suggestion_candidates"]]


def test_a_filtered_table_page_still_lists_the_catalogue_codes_without_a_row(browser, suggestions_db, server_factory,  # noqa: F811
                                                                             artifacts):
    """Filtered by search text, by target system and by status in the page's form, a table page still says how
    many catalogue codes have no row, and lists those the filter keeps (draft rows without a target they
    would be), each with its candidates, above the rows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    db, _ = suggestions_db
    srv = server_factory(db)
    browser.get(srv.base + "/mappings/catalogo")
    eventually(lambda: browser.find_elements(By.ID, "row-table"))
    browser.find_element(By.ID, "q").send_keys("mano")
    Select(browser.find_element(By.ID, "system")).select_by_value("http://snomed.info/sct")
    Select(browser.find_element(By.ID, "status")).select_by_value("draft")
    browser.find_element(By.ID, "filter").click()
    unlisted = eventually(lambda: browser.find_elements(By.ID, "suggestions-unlisted")
                          if "q=mano" in browser.current_url else None)[0]
    assert "system=http" in browser.current_url and "status=draft" in browser.current_url
    assert browser.find_elements(By.CSS_SELECTOR, "#row-table tr[id^=row-]") == []     # no row has "mano"
    summary = unlisted.find_element(By.TAG_NAME, "summary")
    assert summary.is_displayed() and summary.text == "Codes of the catalogue without a row (2; 1 of them kept by this filter)"
    hand = unlisted.find_element(By.CSS_SELECTOR, "tr.unlisted[data-code='R04']")
    candidates = unlisted.find_element(By.CSS_SELECTOR, "tr.unlisted-block[data-code='R04']")
    assert hand.is_displayed() and "Mano derecha" in hand.text and "Hand" in candidates.text
    assert unlisted.find_elements(By.CSS_SELECTOR, "tr.unlisted[data-code='R02']") == []
    artifacts(browser, "filtered")
    assert browser.execute_script(WRAPPED) == []
    # a filter for mapped rows keeps none of them: it says how many there are, and where they all are
    Select(browser.find_element(By.ID, "status")).select_by_value("accepted")
    browser.find_element(By.ID, "q").clear()
    browser.find_element(By.ID, "filter").click()
    note = eventually(lambda: browser.find_elements(By.ID, "unlisted-filtered")
                      if "status=accepted" in browser.current_url else None)[0]
    assert "This filter keeps none of them" in note.text and "all 2 on the page of every row" in note.text
    note.find_element(By.LINK_TEXT, "page of every row").click()
    eventually(lambda: "status" not in browser.current_url and browser.find_elements(By.CSS_SELECTOR, "tr.unlisted"))
    assert [e.get_attribute("data-code") for e in browser.find_elements(By.CSS_SELECTOR, "tr.unlisted")] == ["R02", "R04"]
