#!/usr/bin/env python3
"""The web pages in a real browser (#19): Debian's chromium, driven headless
by Playwright for Python, against a running `odcs serve` (tests/web.rs
starts it and passes what it made).

    web_browser.py BASE_URL DONE_ID FAILED_ID HOSTILE_LABEL SCREENSHOT_DIR

Exits non-zero with a message on the first check that fails; writes
screenshots of the three pages (desktop and phone width) to SCREENSHOT_DIR.
"""

import sys

from playwright.sync_api import sync_playwright

base, done_id, failed_id, hostile, shots = sys.argv[1:6]
dialogs = []


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def listed_ids(page):
    """The compose ids of the list's rows, in order (as text)."""
    rows = page.locator("tbody tr")
    return [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]


def no_horizontal_scroll(page, what):
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    check(width <= inner, f"{what}: {width}px wide in a {inner}px window")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # a script in a label would open a dialog
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    r = page.goto(base + "/")
    check(r.status == 200, f"/ answered {r.status}")
    check("ODCS" in page.title(), f"title {page.title()!r}")
    check("On Demand Compose Service" in page.inner_text("h1"), "the landing heading")
    page.screenshot(path=f"{shots}/home.png", full_page=True)

    page.goto(base + "/composes/")
    ids = listed_ids(page)
    check(done_id in ids and failed_id in ids, f"the list shows {ids}")
    check(hostile in page.inner_text("table"), "the hostile label is shown as text")
    page.screenshot(path=f"{shots}/composes.png", full_page=True)

    # the filter form narrows the list
    page.select_option("select[name=state]", "failed")
    page.click("form button")
    page.wait_for_url("**/composes/?*state=failed*")
    ids = listed_ids(page)
    check(ids == [failed_id], f"state=failed lists {ids}")

    # the headings order the list, keeping the filters
    page.goto(base + "/composes/?owner=")
    page.click("th a:text('id')")
    page.wait_for_url("**/composes/?order_by=id*")
    asc = [int(i) for i in listed_ids(page)]
    check(asc == sorted(asc) and len(asc) >= 2, f"order_by=id lists {asc}")
    check("\u25b2" in page.inner_text("thead"), "the id heading shows it ascends")
    page.click("th a:text('id')")
    page.wait_for_url("**/composes/?order_by=-id*")
    desc = [int(i) for i in listed_ids(page)]
    check(desc == sorted(asc, reverse=True), f"order_by=-id lists {desc}")
    page.goto(base + "/composes/?state=failed")
    page.click("th a:text('owner')")
    page.wait_for_url("**/composes/?order_by=-owner*state=failed*")
    ids = listed_ids(page)
    check(ids == [failed_id], f"ordering keeps the state filter: {ids}")

    # a failed compose shows its reason
    page.goto(base + "/composes/?state=failed")
    page.click(f"a[href='/composes/{failed_id}']")
    check("Error: <img" in page.inner_text("main"), "the failed compose's reason, as text")

    # the done compose: the page follows it to done, its .repo link serves the file
    page.goto(f"{base}/composes/{done_id}")
    page.wait_for_selector(".state-done", timeout=30000)
    href = page.get_attribute("a:text('.repo file')", "href")
    repo = page.request.get(href)
    check(repo.status == 200 and "baseurl=" in repo.text(), f".repo file at {href}")
    page.fill("input[name=q]", "zzz-no-such-package")
    page.click("form:has(input[name=q]) button")
    check("0 of " in page.inner_text("main"), "the package search narrows the list")
    page.goto(f"{base}/composes/{done_id}")
    page.screenshot(path=f"{shots}/compose.png", full_page=True)

    # phone width: no horizontal scrolling on any page
    phone = browser.new_page(viewport={"width": 375, "height": 740})
    for path, name in [("/", "home"), ("/composes/", "composes"), (f"/composes/{done_id}", "compose")]:
        phone.goto(base + path)
        no_horizontal_scroll(phone, f"{path} at phone width")
        phone.screenshot(path=f"{shots}/{name}-phone.png", full_page=True)

    # the buttons: renew keeps the done compose (a later expiry), delete
    # has the reaper remove it
    page.goto(f"{base}/composes/{done_id}")
    before = page.inner_text("main")
    page.click("button:text('Renew')")
    page.wait_for_url(f"**/composes/{done_id}")
    check(page.locator(".state-done").count() > 0, "renewed, still done")
    page.click("button:text('Delete')")
    page.wait_for_url(f"**/composes/{done_id}")
    for _ in range(60):
        if page.locator(".state-removed").count() > 0:
            break
        page.wait_for_timeout(500)
        page.reload()
    check(page.locator(".state-removed").count() > 0, "deleted: removed by the reaper")
    check("removed_by" in page.inner_text("main"), "the fields of a removed compose")

    check(not dialogs, f"a script ran: {dialogs}")
    browser.close()
print("ok")
