"""The sentences terminals speak aloud (German, addressing the member by first name)."""

from __future__ import annotations

from fvh.core.money import format_cents
from fvh.core.system_settings import SystemSettings


def _money(cents: int, system: SystemSettings) -> str:
    # A plain space instead of the non-breaking one: some text-to-speech engines stumble on it.
    return format_cents(cents, system.currency, system.decimals, "de").replace("\xa0", " ")


def booked(first_name: str, amount_cents: int, balance_cents: int, system: SystemSettings) -> str:
    return (
        f"Danke {first_name}, {_money(-amount_cents, system)} abgebucht. "
        f"Dein Guthaben beträgt jetzt {_money(balance_cents, system)}."
    )


def below_minimum(first_name: str, balance_cents: int, system: SystemSettings) -> str:
    return (
        f"{first_name}, dein Guthaben reicht nicht aus. "
        f"Es beträgt {_money(balance_cents, system)}. Bitte zahle Geld ein."
    )


def locked(first_name: str) -> str:
    return f"{first_name}, dein Konto ist gesperrt. Bitte wende dich an die Kassenverwaltung."


def unknown_token() -> str:
    return "Dieser Chip ist nicht registriert. Bitte wende dich an die Kassenverwaltung."


def unknown_code() -> str:
    return "Diesen Code kenne ich nicht."


def balance(first_name: str, balance_cents: int, system: SystemSettings) -> str:
    return f"{first_name}, dein Guthaben beträgt {_money(balance_cents, system)}."


def not_booked() -> str:
    return (
        "Nicht gebucht: Die Kasse ist gerade nicht erreichbar. Bitte gleich noch einmal versuchen."
    )


def unconfirmed() -> str:
    return (
        "Ob gebucht wurde, ist nicht bekannt: Die Verbindung zur Datenbank ist abgebrochen. "
        "Bitte nicht noch einmal buchen, sondern später den Kontostand prüfen."
    )
