"""The access matrix: every view declares a rule, and the GUI enforces it for each role."""

from __future__ import annotations

import pytest

from fvh.core import keys
from fvh.db.models import ApiClient
from fvh.http import access
from tests.builders import TEST_ACTOR
from tests.web.conftest import PASSWORD, Browser

# Flask's own static route (a bound method that cannot carry a mark); it serves files only.
UNMARKED_ALLOWED = {"static"}
API_RULES = {access.PUBLIC, access.API_TERMINAL, access.API_ADMIN}
GUI_BLUEPRINTS = ("web", "admin")


def test_every_view_has_an_access_rule(app):
    missing = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in UNMARKED_ALLOWED
        and access.rule_of(app.view_functions[rule.endpoint]) is None
    ]
    assert missing == []


def test_api_views_are_marked_with_api_rules(app):
    api_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")]
    assert api_rules, "the combined app mounts the API"
    for rule in api_rules:
        assert access.rule_of(app.view_functions[rule.endpoint]) in API_RULES, rule.rule


def test_gui_views_are_marked_and_admin_pages_live_under_admin(app):
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if blueprint not in GUI_BLUEPRINTS:
            continue
        marked = access.rule_of(app.view_functions[rule.endpoint])
        assert marked in (access.PUBLIC, access.LOGIN, access.ADMIN), rule.rule
        assert (marked == access.ADMIN) == rule.rule.startswith("/admin/"), rule.rule


@pytest.fixture
def url_values(build, database, member):
    with database.session() as session:
        client = keys.create_client(session, "Terminal Matrix", TEST_ACTOR)
        session.flush()
        client_id = client.id
    assert isinstance(client_id, int)
    return {"member_id": member.id, "client_id": client_id, "filename": "fvh.css"}


def _gui_get_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.partition(".")[0] in GUI_BLUEPRINTS and "GET" in rule.methods:
            yield rule


def _fetch(client, app, rule, values):
    with app.test_request_context():
        from flask import url_for

        url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
    response = client.get(url)
    response.close()
    return url, response


@pytest.mark.parametrize("role", ["anonymous", "member", "admin"])
def test_gui_get_routes_answer_what_the_rule_says(app, role, admin, member, url_values):
    browser = Browser(app.test_client())
    if role != "anonymous":
        assert (
            browser.login(admin.code if role == "admin" else member.code, PASSWORD).status_code
            == 302
        )
    checked = 0
    for rule in _gui_get_rules(app):
        declared = access.rule_of(app.view_functions[rule.endpoint])
        url, response = _fetch(browser.client, app, rule, url_values)
        checked += 1
        if declared == access.PUBLIC:
            assert response.status_code < 400, url
        elif role == "anonymous":
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/login?next="), url
        elif declared == access.LOGIN or role == "admin":
            assert response.status_code == 200, url
        else:
            assert response.status_code == 403, url
    assert checked >= 15


@pytest.mark.parametrize("role", ["anonymous", "member"])
def test_admin_post_routes_refuse_non_admins(app, role, member, admin, url_values, database):
    """A POST with a valid CSRF token still needs admin rights (nothing changes)."""
    browser = Browser(app.test_client())
    if role == "member":
        browser.login(member.code, PASSWORD)
    values = {**url_values, "transaction_id": 1, "key_id": 1, "token_id": 1, "scan_id": 1}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin.") or "POST" not in rule.methods:
            continue
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
        response = browser.post(url, {"locked": "1", "is_admin": "1", "confirmation": "ALLE"})
        expected = 302 if role == "anonymous" else 403
        assert response.status_code == expected, url
    with database.session() as session:
        assert session.query(ApiClient).count() == 1
        assert not session.get(type(member), member.id).locked
