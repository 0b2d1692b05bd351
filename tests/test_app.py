"""The app factory, its modes, and that the Flask-free layers load no Flask."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fvh.app import create_app

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# Imports every module of the given packages (walked, not listed) and prints what it imported
# and which of the forbidden modules that loaded.
_IMPORT_ALL = """
import importlib, json, pkgutil, sys
sources, forbidden = json.loads(sys.argv[1])
imported = []
for name in sources:
    module = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))
print(json.dumps({"imported": imported, "loaded": loaded}))
"""


def test_flask_free_modules_load_no_flask():
    # The rule is import-linter's "no-flask" contract in pyproject.toml: `make lint` checks the
    # import statements. This imports every module the contract covers, so what actually loads
    # (imports made by other means included) holds to it too.
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["id"] == "no-flask"]
    sources, forbidden = contract["source_modules"], contract["forbidden_modules"]
    assert "fvh.core" in sources
    assert "flask" in forbidden
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, json.dumps([sources, forbidden])],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert "fvh.core.members" in result["imported"]
    assert "fvh.db.models" in result["imported"]
    assert result["loaded"] == []


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
