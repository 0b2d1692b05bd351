"""The legacy default amount (TRANSACTION_SALDO_CHANGE): set only while FVH has no value.

The other legacy system settings have no FVH equivalent and are listed as not imported.
"""

from __future__ import annotations

from fvh.core import system_settings as settings_mod
from fvh.core.errors import ValidationError
from fvh.db.models import Setting
from fvh.ops.legacy import source
from fvh.ops.legacy.run import ACTOR, ImportRun
from fvh.ops.legacy.values import as_text, cents

DEFAULT_AMOUNT_KEY = "TRANSACTION_SALDO_CHANGE"


def import_settings(run: ImportRun) -> None:
    """The legacy default amount as FVH's `default_amount_cents`, if FVH has none stored."""
    if "system_einstellungen" not in run.tables:
        return
    rows = source.system_settings(run.legacy)
    values = {as_text(r["einstellung_schluessel"]): as_text(r["einstellung_wert"]) for r in rows}
    others = sorted(set(values) - {DEFAULT_AMOUNT_KEY})
    if others:
        run.report.not_imported.append(f"legacy settings {', '.join(others)}.")
    if DEFAULT_AMOUNT_KEY not in values:
        return
    raw = values[DEFAULT_AMOUNT_KEY]
    try:
        amount = cents(raw)
    except ValueError:
        run.leave_out("settings", f"{DEFAULT_AMOUNT_KEY} = {raw!r} is not an amount; not imported.")
        return
    stored = run.session.get(Setting, "default_amount_cents")
    if stored is not None:
        run.count("settings").present += 1
        if int(stored.value) != amount:
            run.warn(
                f"FVH's default amount is already {stored.value} cents; the legacy "
                f"{amount} cents ({DEFAULT_AMOUNT_KEY}) is not applied."
            )
        return
    try:
        before = settings_mod.load(run.session)
        after = settings_mod.update(run.session, ACTOR, default_amount_cents=amount)
    except ValidationError as exc:
        run.leave_out("settings", f"{DEFAULT_AMOUNT_KEY} = {raw!r}: {exc.message} Not imported.")
        return
    if after == before:  # the legacy value is FVH's default already
        run.count("settings").present += 1
    else:
        run.count("settings").imported += 1
