"""A database that fails under a GUI page gets the styled page in the UI language, 503 with
Retry-After when trying again may help; never a trace or the API's JSON."""

from __future__ import annotations

import pytest

from fvh.app import create_app

UNREACHABLE = "postgresql+psycopg://u@127.0.0.1:1/x"  # port 1 refuses at once


@pytest.fixture
def outage_client(config):
    app = create_app({**config, "DATABASE_URL": UNREACHABLE})
    yield app.test_client()
    app.extensions["fvh_db"].dispose()


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("de", "Die Datenbank ist nicht erreichbar."),
        ("en", "The database cannot be reached."),
    ],
)
def test_unreachable_database_under_a_gui_page_is_a_styled_503(outage_client, language, text):
    outage_client.set_cookie("fvh_lang", language)
    response = outage_client.get("/login", headers={"Accept-Language": language})
    html = response.get_data(as_text=True)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "text/html"
    assert text in html
    for leak in ("Traceback", "psycopg", "127.0.0.1", "sqlalchemy"):
        assert leak not in html
