"""The current request's database session and configuration, as the Flask tutorial's `db.py`.

The doors get both from here, never from the factory: `fvh.app` assembles the app and calls
`init_app`; each request opens its session on first use, and the door commits it at its
boundary. Whatever is left uncommitted when the request ends is rolled back.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from fvh import db
from fvh.config import Config
from fvh.db import Database

_DATABASE = "fvh_db"


def init_app(app: Flask, config: Config, database: Database | None = None) -> None:
    """Attach the configuration and the Database (engine, sessions) to the app.

    `database` is an existing Database to use instead of opening one from the configuration
    (the tests share one engine per backend for their session); its owner disposes of it.
    """
    app.config["FVH"] = config
    if database is None:
        database = Database(
            config.resolved_database_url,
            pool_size=config.mysql_pool_size,
            timeouts=db.Timeouts(config.db_lock_timeout, config.db_statement_timeout),
        )
    app.extensions[_DATABASE] = database
    app.teardown_appcontext(_close_session)


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.rollback()  # anything the door did not commit explicitly is discarded
        session.close()


def database(app: Flask | None = None) -> Database:
    """The app's Database: of the current app unless one is given."""
    return (app or current_app).extensions[_DATABASE]


def db_session() -> Session:
    """The session of the current request; the door commits it at its boundary."""
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    return g.db_session


SAFE_METHODS = frozenset({"GET", "HEAD"})


def begin_by_method() -> None:
    """Start the request's transaction by its HTTP method: a GET or HEAD only reads (on
    SQLite beside the writer, never holding the writer lock while it renders); any other
    method writes from its first statement."""
    if request.method in SAFE_METHODS:
        db.begin_read(db_session())
    else:
        db.begin_write(db_session())


def app_config(app: Flask | None = None) -> Config:
    """The configuration (environment and `.env`) of the current app unless one is given."""
    return (app or current_app).config["FVH"]
