"""The app factory, its modes, and the rule that the domain core never imports Flask."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fvh import create_app

DOMAIN_MODULES = [
    "fvh.core.members",
    "fvh.core.tokens",
    "fvh.core.ledger",
    "fvh.core.keys",
    "fvh.core.system_settings",
    "fvh.core.audit",
    "fvh.core.money",
    "fvh.core.idempotency",
    "fvh.db.models",
    "fvh.db.engine",
    "fvh.config",
    "fvh.core.errors",
    "fvh.core.logins",
    "fvh.core.notify",
    "fvh.ops.mail",
    "fvh.ops.backup",
    "fvh.ops.legacy",
    "fvh.ops.doctor",
    "fvh.ops.maintenance",
    "fvh.core.account_links",
    "fvh.core.registration",
]


def test_domain_core_does_not_import_flask():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in DOMAIN_MODULES)
        + "print(sorted(m for m in sys.modules if m == 'flask' or m.startswith('flask.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_factory_does_not_connect(tmp_path):
    # An unreachable server: building the app must still work (nothing connects at start-up).
    app = create_app(
        {"DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/x", "APP_SECRET": "x" * 32}
    )
    assert app.extensions["fvh_db"].url.startswith("postgresql")


@pytest.mark.parametrize(
    ("mode", "health", "gui"),
    [("combined", "/api/health", 200), ("api", "/health", None), ("gui", None, 200)],
)
def test_modes(config, mode, health, gui):
    app = create_app(config, mode=mode)
    client = app.test_client()
    if health:
        assert client.get(health).status_code == 200
    else:
        assert client.get("/health").status_code == 404
        assert client.get("/api/health").status_code == 404
    if gui:
        assert client.get("/").status_code in (200, 302)
    app.extensions["fvh_db"].dispose()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        create_app({}, mode="both")


def test_api_prefix_is_configurable(config):
    app = create_app({**config, "API_PREFIX": "/terminal/v1"})
    client = app.test_client()
    assert client.get("/terminal/v1/health").status_code == 200
    assert client.get("/api/health").status_code == 404
    app.extensions["fvh_db"].dispose()
