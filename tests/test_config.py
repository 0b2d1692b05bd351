"""Settings from the environment; `.env.dist` documents every variable the code reads."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from fvh.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_env_dist_documents_every_setting():
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.dist").read_text(), re.M)
    )
    expected = {f.name.upper() for f in fields(Config) if f.name != "extra"} | {
        "MYSQL_HOST",
        "MYSQL_PORT",
        "MYSQL_USER",
        "MYSQL_PASSWORD",
        "MYSQL_DB",
    }
    assert expected <= documented, f"undocumented: {sorted(expected - documented)}"
    assert documented <= expected, f"documented but unused: {sorted(documented - expected)}"


def test_mysql_variables_build_the_url(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name, value in {
        "MYSQL_HOST": "db.local",
        "MYSQL_PORT": "3307",
        "MYSQL_USER": "fvh",
        "MYSQL_PASSWORD": "p@ss:word",
        "MYSQL_DB": "fvh",
    }.items():
        monkeypatch.setenv(name, value)
    url = load_config(env_file=False).resolved_database_url
    assert url == "mysql+mysqlconnector://fvh:p%40ss%3Aword@db.local:3307/fvh?charset=utf8mb4"


def test_database_url_wins_and_overrides_win(monkeypatch):
    monkeypatch.setenv("MYSQL_HOST", "db.local")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://x@y/z")
    assert load_config(env_file=False).database_url == "postgresql+psycopg://x@y/z"
    assert load_config({"DATABASE_URL": "sqlite://"}, env_file=False).database_url == "sqlite://"


def test_default_is_a_sqlite_file_in_the_data_dir(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "MYSQL_HOST", "DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = load_config({"DATA_DIR": str(tmp_path)}, env_file=False)
    assert config.resolved_database_url == f"sqlite:///{tmp_path / 'fvh.sqlite3'}"


def test_env_file_is_read(monkeypatch, tmp_path):
    monkeypatch.delenv("API_PORT", raising=False)
    monkeypatch.delenv("API_DEBUG", raising=False)
    (tmp_path / ".env").write_text("API_PORT=5123\nAPI_DEBUG=true\n")
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert (config.api_port, config.api_debug) == (5123, True)
    monkeypatch.setenv("API_PORT", "6000")
    assert load_config().api_port == 6000  # the environment wins over the file


def test_readme_configuration_reference_names_every_variable():
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.dist").read_text(), re.M)
    )
    readme = (ROOT / "README.md").read_text()
    reference = readme[readme.index("## Configuration") : readme.index("## Command line")]
    missing = sorted(name for name in documented if f"`{name}`" not in reference)
    assert missing == [], f"README's configuration table lacks {missing}"
