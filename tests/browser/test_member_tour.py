"""A member's evening with FVH, in headless chromium against the real server.

The operator prepares everything with the CLI (member with a password, a deposit, an NFC
token, a terminal key); a terminal then debits twice over HTTP, a mistaken double tap. The
member logs in, sees the balance large and the charts drawn from /me/chart.json, undoes the
double tap (once, and only once), looks at the page in the dark theme and on a phone, opens
the QR page and downloads the QR card, whose two codes must decode to exactly code+"a" and
code+"k", and reads the page in English. No console error, page error or CSP violation
along the way; screenshots go to test-artifacts/screenshots/member-*.png.
"""

from __future__ import annotations

import base64
import io
import json
import re
import urllib.request

import pytest

from tests.browser.conftest import SCREENSHOTS, Problems, Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CODE = "3456789012"
FIRST, LAST = "Lena", "Schlauch"
PASSWORD = "Wasserwerfer-2026!"
TOKEN_HEX = "04:B3:3C:2D"
TERMINAL = "Kühlschrank Gerätehaus"  # terminals send their place as the booking text
CLIENT = "Kasse"
DARK_BACKGROUND = "rgb(20, 23, 27)"  # --bg of the dark theme in fvh.css

# Chart.js made a chart on the canvas, the canvas has a size, and it is not blank. The
# pixels are read from a copy, so the page's canvas is not read back (chromium warns then).
CHART_DRAWN = """(id) => {
  const canvas = document.getElementById(id);
  const chart = window.Chart && window.Chart.getChart(canvas);
  if (!chart || canvas.width === 0 || canvas.height === 0) return false;
  const copy = document.createElement("canvas");
  copy.width = canvas.width;
  copy.height = canvas.height;
  const context = copy.getContext("2d", { willReadFrequently: true });
  context.drawImage(canvas, 0, 0);
  const pixels = context.getImageData(0, 0, copy.width, copy.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted += 1;
  return painted > 500;
}"""
CHART_DATA = """(id) => window.Chart.getChart(document.getElementById(id)).data.datasets[0].data"""
LINE_COLOUR = """() => window.Chart.getChart(document.getElementById("balance-chart"))
  .data.datasets[0].borderColor"""


def shot(page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(
        path=SCREENSHOTS / f"member-{name}.png", full_page=full_page, animations="disabled"
    )


def terminal_tap(server: Server, key: str) -> dict:
    """What an NFC terminal sends when the member's token is held to it."""
    token = base64.b64encode(bytes.fromhex(TOKEN_HEX.replace(":", ""))).decode()
    request = urllib.request.Request(
        f"{server.base_url}/api/nfc-transaktion",
        data=json.dumps({"token": token, "beschreibung": TERMINAL}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def is_chart_json(response) -> bool:
    return response.url.split("?")[0].endswith("/me/chart.json")


def charts_drawn(page) -> tuple[list, list]:
    """Wait until both charts are drawn; their data (balance points, consumption bars)."""
    for canvas in ("balance-chart", "consumption-chart"):
        page.wait_for_function(CHART_DRAWN, arg=canvas)
    return page.evaluate(CHART_DATA, "balance-chart"), page.evaluate(
        CHART_DATA, "consumption-chart"
    )


def decode_qr(image) -> list[str]:
    import zxingcpp

    return [result.text for result in zxingcpp.read_barcodes(image)]


def test_member_tour(browser_context, server: Server, fvh_cli, problems: Problems, tmp_path):
    import pypdf
    from PIL import Image
    from playwright.sync_api import expect

    # --- The operator prepares the member; a terminal debits twice (a double tap) ---------
    fvh_cli("member", "add", CODE, FIRST, LAST, "--password", PASSWORD)
    fvh_cli("book", CODE, "10", "Einzahlung")
    fvh_cli("token", "add", CODE, TOKEN_HEX, "--name", "Schlüsselanhänger")
    key = fvh_cli("api-key", "create", CLIENT).strip()
    assert key.startswith("fvh_"), key
    assert terminal_tap(server, key)["saldo"] == 9
    assert terminal_tap(server, key)["saldo"] == 8

    # --- Log in with code and password; the page fetches its chart data -------------------
    page = browser_context.new_page()
    base = server.base_url
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))
    page.fill("#identifier", CODE)
    page.fill("#password", PASSWORD)
    with page.expect_response(is_chart_json) as chart_json:
        page.locator("main").get_by_role("button", name="Anmelden").click()
    assert chart_json.value.status == 200
    assert chart_json.value.headers["content-type"].startswith("application/json")
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("link", name="Mitglieder", exact=True)).to_have_count(0)  # no admin
    expect(page.locator("h1")).to_have_text(f"{FIRST} {LAST}")

    # --- The balance, large; the double tap offered for undo; the charts drawn ------------
    balance = page.locator(".stat-balance .value")
    expect(balance).to_have_text("8,00 €")
    sizes = balance.evaluate(
        """(el) => [parseFloat(getComputedStyle(el).fontSize),
                    parseFloat(getComputedStyle(document.body).fontSize)]"""
    )
    assert sizes[0] >= 1.5 * sizes[1], f"the balance is not large: {sizes}"
    offer = page.locator("#undo")
    expect(offer).to_contain_text("-1,00 €")
    expect(offer).to_contain_text(TERMINAL)
    expect(offer).to_contain_text(CLIENT)
    expect(page.locator("h2", has_text="Meine Buchungen")).to_contain_text("(3)")
    expect(page.locator("#tokens")).to_contain_text(TOKEN_HEX)
    # No mail server here: no link to change the address, but whom to ask
    expect(page.get_by_role("link", name="E-Mail-Adresse ändern")).to_have_count(0)
    expect(page.locator("#email-ask")).to_contain_text("wird für Sie eingetragen")
    expect(page.locator("#email-ask")).to_contain_text("Bitte wenden Sie sich an")
    points, bars = charts_drawn(page)
    assert [point["y"] for point in points] == [1000, 900, 800]
    assert sum(bars) == 200  # two taps of 1,00 (the deposit is no consumption)
    shot(page, "home")

    # --- The dark theme: the page and the charts follow ------------------------------------
    html, body = page.locator("html"), page.locator("body")
    light_line = page.evaluate(LINE_COLOUR)
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(body).to_have_css("background-color", DARK_BACKGROUND)
    page.wait_for_function(f"() => ({LINE_COLOUR})() !== {json.dumps(light_line)}")
    charts_drawn(page)
    shot(page, "home-dark")
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "light")
    expect(body).not_to_have_css("background-color", DARK_BACKGROUND)

    # --- Undo the double tap: one booking amount back, and no second undo -------------------
    with page.expect_response(is_chart_json) as chart_json:
        offer.get_by_role("button", name="Buchung zurücknehmen").click()
    assert chart_json.value.status == 200
    expect(page.locator(".flash-success")).to_contain_text("Die Buchung wurde zurückgenommen.")
    expect(balance).to_have_text("9,00 €")
    expect(offer).to_have_count(0)
    expect(page.get_by_role("button", name="Buchung zurücknehmen")).to_have_count(0)
    expect(page.locator("h2", has_text="Meine Buchungen")).to_contain_text("(4)")
    expect(page.locator("main table tbody tr", has_text=f"Storno: {TERMINAL}")).to_contain_text(
        "1,00 €"
    )
    points, bars = charts_drawn(page)
    assert [point["y"] for point in points] == [1000, 900, 800, 900]
    assert sum(bars) == 100  # the undone tap is no consumption
    shot(page, "home-undone")
    with page.expect_response(is_chart_json):
        page.reload()
    expect(balance).to_have_text("9,00 €")
    expect(offer).to_have_count(0)  # still nothing to undo after a reload

    # --- A phone: the page fits the width, nothing scrolls sideways -------------------------
    phone = browser_context.new_page()
    phone.set_viewport_size({"width": 375, "height": 812})
    with phone.expect_response(is_chart_json):
        phone.goto(f"{base}/")
    expect(phone.locator(".stat-balance .value")).to_have_text("9,00 €")
    charts_drawn(phone)
    widths = phone.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the member page scrolls sideways on a phone: {widths}"
    shot(phone, "phone", full_page=False)
    shot(phone, "phone-full")
    phone.close()

    # --- The QR page and the printable card --------------------------------------------------
    page.get_by_role("link", name="Meine QR-Codes").click()
    expect(page).to_have_url(f"{base}/me/qr")
    expect(page.locator("h1")).to_have_text("Meine QR-Codes")
    images = page.locator(".qr img")
    expect(images).to_have_count(2)
    for index in range(2):
        image = images.nth(index)
        expect(image).to_be_visible()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
    expect(page.locator(".qr figcaption").nth(0)).to_contain_text(f"{CODE}a")
    expect(page.locator(".qr figcaption").nth(1)).to_contain_text(f"{CODE}k")
    shot(page, "qr")
    png = page.request.get(f"{base}/me/qr/book.png")
    assert png.ok and png.headers["content-type"] == "image/png"
    assert decode_qr(Image.open(io.BytesIO(png.body()))) == [f"{CODE}a"]

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Karte zum Ausdrucken (PDF)").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"fvh-{CODE}-qr.pdf"
    card = tmp_path / download.suggested_filename
    download.save_as(card)
    body = card.read_bytes()
    assert body.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(body))
    assert len(reader.pages) == 1
    found = sorted(text for image in reader.pages[0].images for text in decode_qr(image.image))
    assert found == [f"{CODE}a", f"{CODE}k"]
    assert f"{FIRST} {LAST} · {CODE}" in reader.pages[0].extract_text()
    expect(page).to_have_url(f"{base}/me/qr")  # a download, not a navigation

    # --- In English: the page's texts, amounts as English speakers write them, the charts ----
    page.get_by_role("link", name="Mein Konto").click()
    with page.expect_navigation(), page.expect_response(is_chart_json):
        page.select_option("#language", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text(f"{FIRST} {LAST}")
    expect(page.locator(".stat-balance .label")).to_have_text("Balance")
    expect(balance).to_have_text("€9.00")
    expect(page.locator("h2", has_text="My bookings")).to_contain_text("(4)")
    expect(page.locator("main table tbody tr", has_text="Einzahlung")).to_contain_text("€10.00")
    expect(page.locator("main table tbody tr", has_text=f"Storno: {TERMINAL}")).to_contain_text(
        "€1.00"
    )
    charts_drawn(page)
    shot(page, "home-en")
    page.get_by_role("link", name="My QR codes").click()
    expect(page.locator("h1")).to_have_text("My QR codes")
    expect(page.get_by_role("link", name="Printable card (PDF)")).to_be_visible()

    assert problems.items == [], "the browser reported problems:\n" + "\n".join(problems.items)
