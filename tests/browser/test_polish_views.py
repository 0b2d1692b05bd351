"""What only a browser shows of the GUI's polish (issue 13, item 7), in headless chromium
against the real server: on a phone (375 px) a long brigade name stays on one line with an
ellipsis and the admin's member page shows the bookings before the forms; the member's charts
have an empty state instead of an axis at 1.1.1970, and a single day gets hours on its axis.
Screenshots go to test-artifacts/screenshots/polish-*.png.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import SCREENSHOTS, Problems, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "1000000001"
EMPTY = "2000000002"  # a member without any booking
SINGLE = "2000000003"  # a member with one deposit today
PASSWORD = "Schlauchboot-2026!"
ORGANISATION = (
    "Freiwillige Feuerwehr der Verbandsgemeinde Musterstadt-Nord, Löschzug Oberdorf und Jugend"
)[:100]

BALANCE_AXIS = """() => {
  const chart = window.Chart.getChart(document.getElementById("balance-chart"));
  const x = chart.scales.x;
  return { labels: x.ticks.map((t) => t.label), min: x.min, max: x.max,
           title: chart.options.scales.x.title.text, shown: chart.options.scales.x.title.display };
}"""


def log_in(page, base: str, code: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#identifier", code)
    page.fill("#password", PASSWORD)
    page.locator("main").get_by_role("button", name="Anmelden").click()


def log_out(page) -> None:
    page.locator("form[action$='/logout'] button").click()


def is_chart_json(response) -> bool:
    return response.url.split("?")[0].endswith("/me/chart.json")


def test_phone_header_member_page_and_chart_states(
    browser_context, server: Server, fvh_cli, problems: Problems
):
    from playwright.sync_api import expect

    fvh_cli("create-admin", "--code", ADMIN, "--password", PASSWORD)
    fvh_cli("member", "add", EMPTY, "Ella", "Leer", "--password", PASSWORD)
    fvh_cli("member", "add", SINGLE, "Sven", "Einzel", "--password", PASSWORD)
    fvh_cli("book", SINGLE, "10", "Einzahlung")
    base = server.base_url

    # --- The admin names the brigade at length, then looks at a phone ------------------------
    page = browser_context.new_page()
    log_in(page, base, ADMIN)
    page.goto(f"{base}/admin/settings")
    page.fill("#organisation_name", ORGANISATION)
    page.locator("main").get_by_role("button", name="Speichern").click()
    expect(page.locator(".flash-success")).to_contain_text("Einstellungen gespeichert.")

    phone = browser_context.new_page()
    phone.set_viewport_size({"width": 375, "height": 812})
    phone.goto(f"{base}/admin/")
    org = phone.locator(".brand .org")
    expect(org).to_have_text(ORGANISATION)
    header = phone.evaluate(
        """() => {
          const org = document.querySelector(".brand .org");
          const line = parseFloat(getComputedStyle(org).lineHeight);
          const box = org.getBoundingClientRect();
          return { height: box.height, line: line, clipped: org.scrollWidth > org.clientWidth,
                   overflow: getComputedStyle(org).textOverflow,
                   pageWidth: document.scrollingElement.scrollWidth, width: window.innerWidth };
        }"""
    )
    assert header["height"] < 1.5 * header["line"], f"the name wraps on a phone: {header}"
    assert header["clipped"] and header["overflow"] == "ellipsis", header
    assert header["pageWidth"] <= header["width"], f"the page scrolls sideways: {header}"
    phone.screenshot(path=SCREENSHOTS / "polish-phone-header.png", animations="disabled")

    # --- The admin's member page on the phone: the bookings come before the forms ------------
    phone.goto(f"{base}/admin/")
    phone.locator("main").get_by_role("link", name=re.compile("Einzel")).first.click()
    expect(phone.locator("h1")).to_contain_text("Sven Einzel")
    tops = phone.evaluate(
        """() => {
          const top = (el) => el.getBoundingClientRect().top + window.scrollY;
          const bookings = document.querySelector("table.journal").closest("section");
          return { stats: top(document.querySelector(".stats")), bookings: top(bookings),
                   form: top(document.getElementById("booking")),
                   tokens: top(document.getElementById("tokens")) };
        }"""
    )
    assert tops["stats"] < tops["bookings"] < tops["form"], tops
    assert tops["bookings"] < tops["tokens"], tops
    phone.screenshot(
        path=SCREENSHOTS / "polish-phone-member.png", full_page=True, animations="disabled"
    )
    # On a wide screen the page keeps its order: the forms first.
    page.goto(phone.url)
    wide = page.evaluate(
        """() => [document.getElementById("booking").getBoundingClientRect().top,
                  document.querySelector("table.journal").getBoundingClientRect().top]"""
    )
    assert wide[0] < wide[1], wide
    phone.close()
    log_out(page)

    # --- A member without bookings: the charts' empty states, no axis at 1970 -----------------
    with page.expect_response(is_chart_json):
        log_in(page, base, EMPTY)
    expect(page.locator("#balance-empty")).to_be_visible()
    expect(page.locator("#consumption-empty")).to_be_visible()
    expect(page.locator("#balance-chart")).to_be_hidden()
    expect(page.locator("#consumption-chart")).to_be_hidden()
    expect(page.locator(".chart-switch")).to_be_hidden()
    assert "1970" not in page.locator("#charts").inner_text()
    page.locator("#charts").screenshot(path=SCREENSHOTS / "polish-charts-empty.png")
    log_out(page)

    # --- One booking: a day with hours on the axis, the date as its title ---------------------
    with page.expect_response(is_chart_json):
        log_in(page, base, SINGLE)
    page.wait_for_function(
        "() => window.Chart && window.Chart.getChart(document.getElementById('balance-chart'))"
    )
    axis = page.evaluate(BALANCE_AXIS)
    assert 23 * 3600 * 1000 <= axis["max"] - axis["min"] <= 25 * 3600 * 1000, axis  # one day
    assert axis["labels"] and all(re.fullmatch(r"\d{2}:\d{2}", label) for label in axis["labels"])
    assert axis["labels"][0] == "00:00", axis
    assert axis["shown"] and re.search(r"\d{4}", axis["title"]) and "1970" not in axis["title"]
    expect(page.locator("#consumption-empty")).to_be_visible()  # a deposit is no consumption
    page.locator("#charts").screenshot(path=SCREENSHOTS / "polish-charts-one-day.png")
    assert problems.items == [], problems.items
