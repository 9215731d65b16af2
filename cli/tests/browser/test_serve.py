"""`nql serve` in a real browser: Debian's chromium, headless, driven through chromedriver by
Selenium. The page on the demo project: a broken query shows its diagnostic, a good one fills the
table, a header click sorts, two ticked runs draw two curves, and the URL brings the view back.

Run by scripts/test (NQL_BIN: the nql binary; SCREENSHOT: where to save the main view)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

NQL = os.environ.get("NQL_BIN", "nql")


@pytest.fixture(scope="module")
def server():
    child = subprocess.Popen([NQL, "serve", "--port", "0"], stderr=subprocess.PIPE, text=True)
    line = child.stderr.readline()
    url = re.search(r"http://\S+/", line)
    assert url, line
    yield url.group(0)
    child.kill()
    child.wait()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"]:
        options.add_argument(arg)
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
    yield driver
    driver.quit()


def api(server: str, path: str, **params) -> dict:
    with urllib.request.urlopen(server + path.lstrip("/") + "?" + urllib.parse.urlencode(params)) as r:
        return json.load(r)


def wait(browser, condition, timeout=15):
    return WebDriverWait(browser, timeout).until(lambda d: condition())


def test_the_page_queries_sorts_and_draws_curves(server, browser):
    browser.get(server)
    box = browser.find_element(By.ID, "q")
    wait(browser, lambda: "matching" in browser.find_element(By.ID, "status").text)

    # A broken query: the diagnostic appears as it is typed.
    box.send_keys("`params/lr`:float CONTAINS 0.5")
    diag = browser.find_element(By.ID, "diag")
    wait(browser, lambda: "error" in diag.get_attribute("class") and "CONTAINS" in diag.text)
    assert "is not defined for attributes of type `float`" in diag.text

    # A good one fills the table with as many runs as the API counts.
    query = "last(`metrics/acc`):float >= 0.9"
    box.clear()
    box.send_keys(query)
    columns = browser.find_element(By.ID, "columns")
    columns.send_keys("metrics/acc")
    box.send_keys(Keys.ENTER)
    expected = api(server, "/api/query", q=query, limit=1)["count"]
    status = browser.find_element(By.ID, "status")
    wait(browser, lambda: status.text.startswith(f"{expected:,} matching"))
    wait(browser, lambda: diag.text == "")
    rows = browser.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
    assert 0 < len(rows) <= expected

    # A click on a header sorts by it, descending.
    browser.find_element(By.CSS_SELECTOR, "th[data-column='metrics/acc']").click()
    def values():
        texts = browser.execute_script(
            "return [...document.querySelectorAll('#rows tbody tr td:nth-child(3)')].slice(0, 20).map(c => c.textContent)"
        )
        return [float(t) for t in texts if t]
    wait(browser, lambda: len(values()) == 20 and values() == sorted(values(), reverse=True))
    top = api(server, "/api/query", q=query, columns="metrics/acc", sort_by="metrics/acc", limit=1)["rows"][0]
    assert values()[0] == pytest.approx(top["metrics/acc"])

    # Two ticked runs, two curves.
    for box_ in browser.find_elements(By.CSS_SELECTOR, "#rows tbody input[type=checkbox]")[:2]:
        box_.click()
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#chart polyline")) == 2)
    legend = browser.find_element(By.ID, "legend").text
    assert legend.count("points") == 2
    shot = os.environ.get("SCREENSHOT")
    if shot:
        browser.save_screenshot(shot)

    # The URL holds the view: opened again, it comes back as it was.
    shared = browser.current_url
    assert "ticked=" in shared and "q=" in shared
    browser.get("about:blank")
    browser.get(shared)
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#chart polyline")) == 2)
    assert browser.find_element(By.ID, "q").get_attribute("value") == query
    wait(browser, lambda: browser.find_element(By.ID, "status").text.startswith(f"{expected:,} matching"))


def test_scrolling_loads_more_rows(server, browser):
    browser.get(server)
    status = browser.find_element(By.ID, "status")
    wait(browser, lambda: "showing 200" in status.text)
    browser.execute_script("const s = document.getElementById('scroll'); s.scrollTop = s.scrollHeight;")
    wait(browser, lambda: "showing 400" in status.text)
