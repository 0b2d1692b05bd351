"""The legacy values as FVH stores them: local times in UTC, whole currency units in cents.

The legacy server stored naive local time; journal and token times are converted to UTC with
the machine's local zone, or with the zone given explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fvh.core.money import MAX_ABS_CENTS
from fvh.ops.legacy.source import LegacyImportError


class Clock:
    """Converts the legacy server's naive local times to naive UTC."""

    def __init__(self, zone: str | None) -> None:
        if zone:
            try:
                self._zone: ZoneInfo | None = ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise LegacyImportError(f"Unknown time zone {zone!r}.") from exc
            self.description = f"the time zone {zone}"
        else:
            self._zone = None
            local = datetime.now().astimezone().tzname()
            self.description = f"this machine's local time zone ({local})"

    def to_utc(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        # Without a zone, astimezone() applies the machine's local rules (DST included).
        aware = value.replace(tzinfo=self._zone) if self._zone else value.astimezone()
        return aware.astimezone(UTC).replace(tzinfo=None)


def cents(units: Any) -> int:
    """Whole legacy currency units (int or numeric text) as cents."""
    try:
        value = Decimal(str(units).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {units!r}") from exc
    result = value * 100
    if result != result.to_integral_value() or abs(result) > MAX_ABS_CENTS:
        raise ValueError(f"not a valid amount: {units!r}")
    return int(result)


def as_text(value: Any) -> str:
    """A legacy text column as str: NULL is empty, binary columns are UTF-8."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8")
    return str(value)
