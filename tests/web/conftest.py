"""Fixtures of the GUI tests: members with passwords and a client that speaks forms with CSRF."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

PASSWORD = "richtig-geheim-42"
_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1)


@dataclass
class Browser:
    """A test client that reads the CSRF token from a page and posts it, like a browser."""

    client: FlaskClient

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def token(self, page: str = "/login") -> str:
        response = self.client.get(page, follow_redirects=True)
        return csrf_from(response.get_data(as_text=True))

    def post(self, path: str, data: dict | None = None, *, page: str | None = None, **kwargs):
        """POST `data` with the token of `page` (every page has one in its language form)."""
        form = {"csrf_token": self.token(page or "/login"), **(data or {})}
        return self.client.post(path, data=form, **kwargs)

    def login(self, identifier: str, password: str = PASSWORD):
        return self.post("/login", {"identifier": identifier, "password": password})

    def logout(self):
        return self.post("/logout", page="/password")


@pytest.fixture
def browser(client) -> Browser:
    return Browser(client)


@pytest.fixture
def admin(build):
    return build.member(
        code="1000000001", first_name="Anna", last_name="Admin", is_admin=True, password=PASSWORD
    )


@pytest.fixture
def member(build):
    return build.member(
        code="2000000002",
        first_name="Max",
        last_name="Muster",
        email="max@example.org",
        password=PASSWORD,
    )


@pytest.fixture
def admin_browser(browser, admin) -> Browser:
    response = browser.login(admin.code)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


@pytest.fixture
def member_browser(browser, member) -> Browser:
    response = browser.login(member.code)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser
