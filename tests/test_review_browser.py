"""The review page (GET /mappings) in a real headless browser: Debian's chromium driven by selenium
over chromedriver, against a real `termsvc serve`. The page renders, the search finds a code, a
filter narrows the rows, and a downloaded XLSX opens in openpyxl.

Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`; .ci/run
installs them when missing). Without them the test is skipped, saying so."""
import os
import shutil
import time

import openpyxl
import pytest

from test_review_page import review_db  # noqa: F401  (the fixture: a build with tables to review)

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
    driver.downloads = downloads
    yield driver
    driver.quit()


def wait_for(condition, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_the_review_page_in_a_browser(browser, review_db, server_factory):   # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    db, _ = review_db
    srv = server_factory(db)
    browser.get(srv.base + "/mappings")
    assert browser.title == "Mapping tables"
    sections = browser.find_elements(By.CSS_SELECTOR, "section.table")
    assert {s.get_attribute("id") for s in sections} >= {"body-part", "modality"}
    bar = browser.find_element(By.CSS_SELECTOR, "#body-part .bar .c-map")
    assert bar.size["width"] > 0        # the coverage bar is drawn

    # the search box finds a local code in every table, with its status, author, reviewer and date
    box = browser.find_element(By.ID, "q")
    box.send_keys("chest")
    browser.find_element(By.ID, "find").click()
    results = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#results tr"))
    texts = [r.text for r in results[1:]]
    assert any("body-part" in t and "CHEST" in t and "accepted" in t and "ana" in t and "jo" in t
               and "2026-01-02" in t for t in texts), texts
    assert any("modality" in t and "Chest" in t for t in texts), texts

    # a table's rows, filtered by status, then by problem
    browser.find_element(By.LINK_TEXT, "body-part").click()
    wait_for(lambda: browser.find_elements(By.ID, "row-table"))
    all_rows = len(browser.find_elements(By.CSS_SELECTOR, "#row-table tr[id^=row-]"))
    Select(browser.find_element(By.ID, "status")).select_by_value("draft")
    browser.find_element(By.ID, "filter").click()
    drafts = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#row-table tr[id^=row-]")
                      if "status=draft" in browser.current_url else None)
    assert 0 < len(drafts) < all_rows and all("draft" in r.text for r in drafts)
    Select(browser.find_element(By.ID, "status")).select_by_value("")
    Select(browser.find_element(By.ID, "problem")).select_by_value("error")
    browser.find_element(By.ID, "filter").click()
    errors = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#row-table tr[id^=row-]")
                      if "problem=error" in browser.current_url else None)
    assert [r.get_attribute("id") for r in errors] == ["row-5"]
    assert "unknown-target-code" in errors[0].text and "LUNGX" in errors[0].text

    # the XLSX download opens in openpyxl with the table's cells
    browser.find_element(By.PARTIAL_LINK_TEXT, "download XLSX").click()
    path = wait_for(lambda: next((p for p in browser.downloads.iterdir() if p.suffix == ".xlsx"), None))
    wait_for(lambda: not any(p.suffix == ".crdownload" for p in browser.downloads.iterdir()))
    wb = openpyxl.load_workbook(os.fspath(path))
    assert wb.sheetnames == ["mappings", "metadata"]
    cells = [[c.value for c in row] for row in wb["mappings"].iter_rows()]
    assert cells[0][:3] == ["source_code", "source_display", "target_code"]
    assert ["0012", "Radiografía de tórax"] == cells[-1][:2]
