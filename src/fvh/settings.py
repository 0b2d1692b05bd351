"""System settings kept in the database: typed, validated, with defaults, changes audited."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fvh import audit
from fvh.errors import ValidationError
from fvh.models import Setting
from fvh.money import MAX_ABS_CENTS


@dataclass(frozen=True)
class SystemSettings:
    default_amount_cents: int = -100
    min_balance_cents: int = 0
    currency: str = "EUR"
    decimals: int = 2
    organisation_name: str = "Feuerwehr"
    # The responsible admins are told when a member's balance falls below this.
    responsible_threshold_cents: int = 0


_INT_FIELDS = {f.name for f in fields(SystemSettings) if f.type in (int, "int")}


def load(session: Session) -> SystemSettings:
    """The current settings; missing rows fall back to the defaults."""
    stored = {row.key: row.value for row in session.scalars(select(Setting))}
    values: dict[str, Any] = {}
    for f in fields(SystemSettings):
        if f.name in stored:
            raw = stored[f.name]
            values[f.name] = int(raw) if f.name in _INT_FIELDS else raw
    return SystemSettings(**values)


def validate(settings: SystemSettings) -> None:
    if not -MAX_ABS_CENTS <= settings.default_amount_cents < 0:
        raise ValidationError(
            "Der Standardbetrag muss ein negativer Betrag (eine Abbuchung) sein.",
            "default_amount_cents",
        )
    if not -MAX_ABS_CENTS <= settings.min_balance_cents <= MAX_ABS_CENTS:
        raise ValidationError(
            "Mindestguthaben außerhalb des erlaubten Bereichs.", "min_balance_cents"
        )
    if settings.decimals not in (0, 1, 2):
        raise ValidationError("Nachkommastellen: 0, 1 oder 2.", "decimals")
    for name, cents in (
        ("default_amount_cents", settings.default_amount_cents),
        ("min_balance_cents", settings.min_balance_cents),
    ):
        if cents % 10 ** (2 - settings.decimals):
            raise ValidationError("Der Betrag passt nicht zu den Nachkommastellen.", name)
    currency = settings.currency.strip()
    if not 1 <= len(currency) <= 12:
        raise ValidationError("Währung: 1 bis 12 Zeichen, z. B. EUR.", "currency")
    if not 1 <= len(settings.organisation_name.strip()) <= 100:
        raise ValidationError("Name der Organisation: 1 bis 100 Zeichen.", "organisation_name")


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
            session.add(Setting(key=key, value=str(value)))
        else:
            row.value = str(value)
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
