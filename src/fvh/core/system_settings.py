"""System settings kept in the database: typed, validated, with defaults, changes audited."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from fvh.core import audit
from fvh.core.errors import N_, ValidationError
from fvh.core.money import MAX_ABS_CENTS
from fvh.db.models import Setting

MAX_UNDO_WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class SystemSettings:
    default_amount_cents: int = -100
    min_balance_cents: int = 0
    currency: str = "EUR"
    decimals: int = 2
    organisation_name: str = "Feuerwehr"
    # The responsible admins are told when a member's balance falls below this.
    responsible_threshold_cents: int = 0
    # Whether /register lets people ask for an account (locked until an admin approves it).
    self_registration: bool = False
    # How long a member may undo their own last terminal booking (0: not at all).
    undo_window_seconds: int = 120


_INT_FIELDS = {f.name for f in fields(SystemSettings) if f.type in (int, "int")}
_BOOL_FIELDS = {f.name for f in fields(SystemSettings) if f.type in (bool, "bool")}


def _from_text(name: str, raw: str) -> Any:
    """A stored value in the type of its field (stored as text: "42", "true")."""
    if name in _BOOL_FIELDS:
        return raw.strip().lower() in {"true", "1", "yes", "on"}
    return int(raw) if name in _INT_FIELDS else raw


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_key, _value = Setting.__table__.c.key, Setting.__table__.c.value
_ALL = select(_key, _value)
_NAMES = tuple(f.name for f in fields(SystemSettings))


class _SettingsObject(FunctionElement[Any]):
    """Every stored setting as one JSON object {key: value}: an aggregate each backend has
    under its own name (SQLAlchemy has no generic one)."""

    type = String()
    inherit_cache = True
    name = "settings_object"


@compiles(_SettingsObject)  # SQLite
def _settings_object_default(element: _SettingsObject, compiler: Any, **kw: Any) -> str:
    return f"json_group_object({compiler.process(element.clauses, **kw)})"


@compiles(_SettingsObject, "mysql")
@compiles(_SettingsObject, "mariadb")
def _settings_object_mysql(element: _SettingsObject, compiler: Any, **kw: Any) -> str:
    return f"JSON_OBJECTAGG({compiler.process(element.clauses, **kw)})"


@compiles(_SettingsObject, "postgresql")
def _settings_object_postgresql(element: _SettingsObject, compiler: Any, **kw: Any) -> str:
    # As text: psycopg would parse a json value itself, and the other backends give text.
    return f"CAST(json_object_agg({compiler.process(element.clauses, **kw)}) AS TEXT)"


# The settings as one column: a query that selects it reads the settings with it, in the
# same round trip (a terminal's tap reads its token and the settings at once), as one JSON
# aggregate rather than a subquery per setting.
COLUMN = select(_SettingsObject(_key, _value)).scalar_subquery().label("settings")


def load(session: Session) -> SystemSettings:
    """The current settings; missing rows fall back to the defaults."""
    return _parse(dict(session.execute(_ALL).tuples().all()))


def from_column(value: str | None) -> SystemSettings:
    """The settings as read through COLUMN (None: none stored)."""
    return _parse(json.loads(value) if value else {})


def _parse(stored: dict[str, str]) -> SystemSettings:
    return SystemSettings(
        **{name: _from_text(name, stored[name]) for name in _NAMES if name in stored}
    )


def validate(settings: SystemSettings) -> None:
    if not -MAX_ABS_CENTS <= settings.default_amount_cents < 0:
        raise ValidationError(
            N_("Der Standardbetrag muss ein negativer Betrag (eine Abbuchung) sein."),
            "default_amount_cents",
        )
    if not -MAX_ABS_CENTS <= settings.min_balance_cents <= MAX_ABS_CENTS:
        raise ValidationError(
            N_("Mindestguthaben außerhalb des erlaubten Bereichs."), "min_balance_cents"
        )
    if settings.decimals not in (0, 1, 2):
        raise ValidationError(N_("Nachkommastellen: 0, 1 oder 2."), "decimals")
    for name, cents in (
        ("default_amount_cents", settings.default_amount_cents),
        ("min_balance_cents", settings.min_balance_cents),
    ):
        if cents % 10 ** (2 - settings.decimals):
            raise ValidationError(N_("Der Betrag passt nicht zu den Nachkommastellen."), name)
    currency = settings.currency.strip()
    if not 1 <= len(currency) <= 12:
        raise ValidationError(N_("Währung: 1 bis 12 Zeichen, z. B. EUR."), "currency")
    if not 1 <= len(settings.organisation_name.strip()) <= 100:
        raise ValidationError(N_("Name der Organisation: 1 bis 100 Zeichen."), "organisation_name")
    window = settings.undo_window_seconds
    if (
        not isinstance(window, int)
        or isinstance(window, bool)
        or not 0 <= window <= MAX_UNDO_WINDOW_SECONDS
    ):
        raise ValidationError(
            N_("Rücknahmefrist: 0 bis %(max)d Sekunden."),
            "undo_window_seconds",
            max=MAX_UNDO_WINDOW_SECONDS,
        )
    if not isinstance(settings.self_registration, bool):
        raise ValidationError(N_("Selbstregistrierung: ja oder nein."), "self_registration")
    _validate_responsible_threshold(settings)


def _validate_responsible_threshold(settings: SystemSettings) -> None:
    """The balance below which RESPONSIBLE_EMAIL is told: an amount like the minimum."""
    cents = settings.responsible_threshold_cents
    if (
        not isinstance(cents, int)
        or isinstance(cents, bool)
        or not -MAX_ABS_CENTS <= cents <= MAX_ABS_CENTS
    ):
        raise ValidationError(
            N_("Meldeschwelle außerhalb des erlaubten Bereichs."), "responsible_threshold_cents"
        )
    if cents % 10 ** (2 - settings.decimals):
        raise ValidationError(
            N_("Der Betrag passt nicht zu den Nachkommastellen."), "responsible_threshold_cents"
        )


def update(session: Session, actor: audit.Actor, **changes: Any) -> SystemSettings:
    """Validate and store changed settings; the audit log records before and after."""
    unknown = set(changes) - {f.name for f in fields(SystemSettings)}
    if unknown:
        raise ValidationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    current = load(session)
    new = replace(current, **changes)
    validate(new)
    before, after = asdict(current), asdict(new)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if not changed:
        return current
    for key, value in changed.items():
        row = session.get(Setting, key)
        if row is None:
            session.add(Setting(key=key, value=_to_text(value)))
        else:
            row.value = _to_text(value)
    audit.record(
        session,
        actor,
        "settings.update",
        "settings",
        before={k: before[k] for k in changed},
        after=changed,
    )
    session.flush()
    return new
