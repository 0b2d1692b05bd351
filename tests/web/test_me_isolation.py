"""Object-level security of the self-service: a member only ever sees and changes their own data."""

from __future__ import annotations

import csv
import html
import io

import pypdf
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from fvh.db.models import Member, Transaction
from tests.web.conftest import PASSWORD
from tests.web.test_me_pages import ME_GET_URLS, deposit, terminal_booking

OTHER_CODE = "3300000033"
OTHER_TEXT = "Geheimbuchung-von-Olga"
SNEAKY_QUERIES = ["", f"?member_id={{id}}&code={OTHER_CODE}&id={{id}}"]


@pytest.fixture
def other(app, build, database, member):
    """Another member with bookings, a token and a terminal booking that could be undone."""
    olga = build.member(
        code=OTHER_CODE,
        first_name="Olga",
        last_name="Other",
        email="olga@example.org",
        password=PASSWORD,
    )
    build.token(olga, bytes.fromhex("0a0b0c0d"), "Olgas Chip")
    deposit(database, olga, 5000, OTHER_TEXT)
    terminal_booking(app, build.api_key(), OTHER_CODE, OTHER_TEXT)
    deposit(database, member, 1000, "Meine Einzahlung")
    return olga


def visible_text(url: str, response) -> str:
    """What a person could read in the response, whatever its format."""
    if url.endswith(".png"):
        return " ".join(
            r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(response.data)))
        )
    if url.endswith(".pdf"):
        reader = pypdf.PdfReader(io.BytesIO(response.data))
        texts = [page.extract_text() for page in reader.pages]
        for page in reader.pages:
            for image in page.images:
                texts += [r.text for r in zxingcpp.read_barcodes(image.image)]
        return " ".join(texts)
    return response.get_data(as_text=True)


def test_no_self_service_url_takes_an_id(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("web.me.")]
    assert len(rules) >= 9
    assert [r.rule for r in rules if r.arguments] == []


@pytest.mark.parametrize("query", SNEAKY_QUERIES)
def test_every_page_and_export_shows_only_the_own_data(member_browser, member, other, query):
    for url in ["/", *ME_GET_URLS]:
        full = url + query.format(id=other.id)
        response = member_browser.get(full)
        assert response.status_code == 200, full
        # The language form sends the member back to this URL: the echo is not data.
        text = visible_text(url, response).replace(html.escape(full), "")
        for foreign in (OTHER_CODE, OTHER_TEXT, "Olga", "olga@example.org", "0A:0B:0C:0D"):
            assert foreign not in text, (full, foreign)
    rows = list(
        csv.reader(
            io.StringIO(member_browser.get("/me/statement.csv").data.decode("utf-8-sig")),
            delimiter=";",
        )
    )
    assert [row[2] for row in rows[1:]] == ["Meine Einzahlung"]
    data = member_browser.get(f"/me/chart.json?member_id={other.id}").get_json()
    assert [p["cents"] for p in data["balance"]] == [1000]
    assert data["week"][-1]["cents"] == 0


def test_qr_codes_are_always_the_own(member_browser, member, other):
    for kind, letter in (("book", "a"), ("balance", "k")):
        response = member_browser.get(f"/me/qr/{kind}.png?code={OTHER_CODE}")
        found = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(response.data)))]
        assert found == [member.code + letter]


def test_undo_of_another_members_booking_is_refused(member_browser, build, database, other):
    with database.session() as session:
        query = select(func.max(Transaction.id)).where(Transaction.member_id == other.id)
        theirs = session.scalar(query)
    before = build.balance(OTHER_CODE)
    for tampered in (theirs, f"{theirs}abc", "-1", "²", "99999999", "9" * 30):
        response = member_browser.post("/me/undo", {"transaction_id": tampered}, page="/")
        assert response.status_code == 302
        assert "Diese Buchung gibt es nicht." in member_browser.get("/").get_data(as_text=True)
    assert build.balance(OTHER_CODE) == before == 4900


def test_notifications_change_only_the_own_account(member_browser, database, member, other):
    response = member_browser.post(
        f"/me/notifications?member_id={other.id}",
        {"notify_zero": "y", "member_id": other.id, "code": OTHER_CODE},
        page="/me/notifications",
    )
    assert response.status_code == 302
    with database.session() as session:
        assert session.get(Member, member.id).notify_zero
        assert not session.get(Member, other.id).notify_zero


@pytest.mark.parametrize(
    "path", ["/admin/members/{id}", "/admin/members/{id}/edit", "/admin/journal?member={id}"]
)
def test_admin_pages_of_another_member_are_forbidden(member_browser, other, path):
    assert member_browser.get(path.format(id=other.id)).status_code == 403
