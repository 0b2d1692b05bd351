"""Security headers on every response, the secret rule, and serving below a sub-path."""

from __future__ import annotations

import pytest

from fvh.app import create_app
from fvh.http.security import InsecureConfiguration


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "/api/health", {}),
        ("get", "/api/version", {}),  # 401
        ("get", "/api/does-not-exist", {}),  # 404 JSON
        ("post", "/api/health", {}),  # 405
        ("put", "/api/nfc-transaktion", {"data": "x" * 20000}),  # 401 before 413 is fine
        ("get", "/", {}),
        ("get", "/no-such-page", {}),  # 404 HTML
        ("get", "/metrics", {}),  # 401
    ],
)
def test_security_headers_on_every_response(client, method, path, kwargs):
    response = getattr(client, method)(path, **kwargs)
    csp = response.headers["Content-Security-Policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP
    assert response.headers["X-Request-ID"]


def test_hsts_over_https(client):
    response = client.get("/api/health", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_headers_on_an_unhandled_error(config):
    app = create_app(config)

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert b"Traceback" not in response.data
    app.extensions["fvh_db"].dispose()


@pytest.mark.parametrize("secret", ["", "change-me", "short"])
def test_production_start_refuses_missing_or_default_secret(config, secret, tmp_path):
    production = {**config, "APP_SECRET": secret, "DATA_DIR": str(tmp_path / "empty")}
    production.pop("TESTING")
    with pytest.raises(InsecureConfiguration, match="APP_SECRET"):
        create_app(production)


def test_debug_mode_may_run_without_secret(config, tmp_path):
    debug = {**config, "APP_SECRET": "", "API_DEBUG": True, "DATA_DIR": str(tmp_path / "x")}
    debug.pop("TESTING")
    create_app(debug).extensions["fvh_db"].dispose()


def test_secret_file_in_data_dir_is_used(config, tmp_path):
    from fvh.config import ensure_secret_file, load_config

    production = {
        **config,
        "APP_SECRET": "",
        "DATA_DIR": str(tmp_path),
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:600000",
    }
    production.pop("TESTING")
    ensured = ensure_secret_file(load_config(production))
    assert len(ensured.app_secret) >= 40
    assert (tmp_path / "app_secret").stat().st_mode & 0o077 == 0
    app = create_app(production)
    assert app.secret_key == ensured.app_secret
    app.extensions["fvh_db"].dispose()


@pytest.fixture
def prefixed(config, build):
    """The app as `fvh serve` runs it with BASE_URL=/fvh behind one trusted proxy."""
    app = create_app({**config, "BASE_URL": "/fvh/", "PROXY_FIX_HOPS": 1})
    yield app
    app.extensions["fvh_db"].dispose()


def test_base_url_mounts_gui_and_api_below_the_prefix(prefixed, build):
    build.member(code="4000000001", balance_cents=500)
    key = build.api_key()
    client = prefixed.test_client()
    root = "http://fvh.example/"  # the raw path arrives unchanged from the proxy
    response = client.get("/fvh/api/person/4000000001", headers={"X-API-Key": key}, base_url=root)
    assert response.status_code == 200
    assert response.json["saldo"] == 5
    assert client.get("/fvh/", base_url=root).status_code in (200, 302)
    assert client.get("/api/health", base_url=root).status_code == 404
    assert client.get("/fvhx/api/health", base_url=root).status_code == 404


def test_forwarded_prefix_from_proxy_builds_prefixed_links(prefixed):
    client = prefixed.test_client()
    # nginx strips /fvh and says so in X-Forwarded-Prefix; links must carry it again.
    headers = {
        "X-Forwarded-Prefix": "/fvh",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "station.example",
        "X-Forwarded-For": "203.0.113.9",
    }
    response = client.get("/", base_url="http://127.0.0.1:5000/", headers=headers)
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/fvh/") or response.headers[
            "Location"
        ].startswith("https://station.example/fvh/")
    else:
        assert b'href="/fvh/' in response.data or b"/fvh/" in response.data
    assert response.headers["Strict-Transport-Security"]  # https as told by the proxy
    from flask import url_for

    with prefixed.test_request_context("/", base_url="http://127.0.0.1:5000/fvh/"):
        assert url_for("api.health").startswith("/fvh/api/")
        assert url_for("static", filename="x.css").startswith("/fvh/")


def test_untrusted_forwarded_headers_are_ignored(config):
    app = create_app(config)  # PROXY_FIX_HOPS defaults to 0
    response = app.test_client().get(
        "/api/health", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/evil"}
    )
    assert "Strict-Transport-Security" not in response.headers
    app.extensions["fvh_db"].dispose()


def test_static_url_prefix_moves_static_urls(config):
    app = create_app({**config, "STATIC_URL_PREFIX": "/fvh-static"})
    with app.test_request_context("/"):
        from flask import url_for

        assert url_for("static", filename="app.css") == "/fvh-static/app.css"
        assert url_for("web.asset", filename="fvh.css") == "/fvh-static/fvh.css"
    page = app.test_client().get("/login").get_data(as_text=True)
    assert 'href="/fvh-static/fvh.css?v=' in page
    app.extensions["fvh_db"].dispose()


def test_session_cookie_path_carries_the_prefix(prefixed):
    assert prefixed.config["APPLICATION_ROOT"] == "/fvh"
    assert prefixed.session_interface.get_cookie_path(prefixed) == "/fvh"


@pytest.mark.parametrize("method", ["pbkdf2:sha256:1000", "scrypt:32768:8:1", "plain", "md5"])
def test_production_start_refuses_weak_password_hashing(config, method):
    production = {**config, "PASSWORD_HASH_METHOD": method}
    production.pop("TESTING")
    with pytest.raises(InsecureConfiguration, match="PASSWORD_HASH_METHOD"):
        create_app(production)


def test_strong_hash_is_never_replaced_by_a_weaker_one():
    from werkzeug.security import generate_password_hash

    from fvh.core import members, passwords
    from fvh.db.models import Member

    assert passwords.is_strong_method("pbkdf2:sha256:600000")
    assert passwords.is_strong_method("scrypt:131072:8:1")
    assert not passwords.is_strong_method("pbkdf2:sha256:599999")
    member = Member(password_hash=generate_password_hash("geheim-geheim", "pbkdf2:sha256:600000"))
    assert members.check_password(member, "geheim-geheim", "pbkdf2:sha256:1000")
    assert member.password_hash.startswith("pbkdf2:sha256:600000$")


PRIVATE_API = [
    ("get", "/api/saldo-alle"),
    ("get", "/api/users"),
    ("get", "/api/transaktionen"),
    ("get", "/api/person/0123456789"),
    ("get", "/api/person/existent/0123456789"),
    ("get", "/api/health-protected"),
    ("put", "/api/person/0123456789/transaktion"),
    ("get", "/api/person/9999999999"),  # 404
    ("get", "/api/saldo-alle?limit=0"),  # 400
    ("get", "/api/does-not-exist"),
    ("get", "/metrics"),
]


def test_api_answers_with_personal_data_are_never_cached(client, build):
    from fvh.core import keys

    build.member(code="0123456789", last_name="Privat", balance_cents=1000)
    headers = {"X-API-Key": build.api_key(keys.SCOPE_ADMIN)}
    for method, path in PRIVATE_API:
        response = getattr(client, method)(path, headers=headers, json={"beschreibung": "K"})
        assert response.headers.get("Cache-Control") == "no-store", (path, response.status_code)
    for path in ("/api/health", "/api/version", "/api/openapi.json", "/api/docs"):
        assert client.get(path, headers=headers).headers.get("Cache-Control") != "no-store", path


def test_gui_pages_are_never_cached_assets_may_be(client):
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    assert client.get("/no-such-page").headers["Cache-Control"] == "no-store"
    with client.get("/assets/fvh.css") as asset:
        assert asset.status_code == 200
        assert asset.headers.get("Cache-Control") != "no-store"
