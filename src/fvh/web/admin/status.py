"""The System page: what the configuration (.env) lacks and whether mail goes out, each with
the fix. The dashboard shows one line of it ("2 Einstellungen fehlen – System ansehen").

Members never see these names; they are told whom to ask (`fvh.web.mail_links`).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.orm import Session

from fvh.config import DEFAULT_SECRET, Config
from fvh.core import account_links, notify
from fvh.core.errors import ValidationError
from fvh.db.models import utcnow
from fvh.http.context import app_config, db_session
from fvh.web import i18n
from fvh.web.admin import bp
from fvh.web.auth import admin_required

# How much a finding weighs: MISSING and PROBLEM count on the dashboard, HINT and OK don't.
OK, HINT, MISSING, PROBLEM = "ok", "hint", "missing", "problem"


@dataclass(frozen=True)
class Finding:
    """One line of the System page: what is the case and, unless all is well, what to do."""

    key: str  # the section's id: mail, public_url, responsible, secret, https, debug
    level: str
    title: str
    text: list[str]
    fix: str = ""


@dataclass(frozen=True)
class Summary:
    missing: int
    problems: int

    @property
    def any(self) -> bool:
        return bool(self.missing or self.problems)


def findings(session: Session, config: Config, secure: bool) -> list[Finding]:
    """Every finding, the ones that need doing first (stable within a level)."""
    found = [
        _mail(session, config),
        _public_url(config),
        _responsible(config),
        _secret(config),
        _https(config, secure),
    ]
    if config.debug:
        found.append(
            Finding(
                "debug",
                PROBLEM,
                _("Debug-Modus"),
                [_("Der Debug-Modus ist an: Fehlerseiten zeigen Interna.")],
                _(
                    "API_DEBUG und GUI_DEBUG aus der .env entfernen, außer auf einem Rechner, "
                    "den niemand sonst erreicht."
                ),
            )
        )
    weight = {PROBLEM: 0, MISSING: 1, HINT: 2, OK: 3}
    return sorted(found, key=lambda f: weight[f.level])


def summarize(found: list[Finding]) -> Summary:
    return Summary(
        missing=sum(f.level == MISSING for f in found),
        problems=sum(f.level == PROBLEM for f in found),
    )


def current_summary(session: Session) -> Summary:
    """What the dashboard's one line says."""
    return summarize(findings(session, app_config(), request.is_secure))


def _mail(session: Session, config: Config) -> Finding:
    title = _("E-Mail-Versand")
    status = notify.outbox_status(session)
    if not notify.can_send(config.smtp_host, config.smtp_sender):
        return Finding(
            "mail",
            MISSING,
            title,
            [
                ngettext(
                    "E-Mail ist nicht eingerichtet: %(num)d Nachricht wartet im Postausgang.",
                    "E-Mail ist nicht eingerichtet: %(num)d Nachrichten warten im Postausgang.",
                    status.pending,
                ),
                _(
                    "Ohne E-Mail können Mitglieder ihr Passwort nicht selbst zurücksetzen und "
                    "ihre Adresse nicht selbst ändern; sie werden gebeten, sich an die "
                    "Verantwortlichen zu wenden."
                ),
            ],
            _(
                "Tragen Sie SMTP_HOST, SMTP_SENDER und, falls nötig, SMTP_USER, SMTP_PASSWORD, "
                "SMTP_PORT und SMTP_TLS in die .env ein und starten Sie den Server neu."
            ),
        )
    text = []
    if status.failed:
        text.append(
            ngettext(
                "%(num)d Nachricht konnte endgültig nicht zugestellt werden.",
                "%(num)d Nachrichten konnten endgültig nicht zugestellt werden.",
                status.failed,
            )
        )
    if status.stale(utcnow()) and status.oldest_pending_at is not None:
        text.append(
            ngettext(
                "Der Postausgang stockt: %(num)d Nachricht wartet seit %(since)s.",
                "Der Postausgang stockt: %(num)d Nachrichten warten, die älteste seit %(since)s.",
                status.pending,
                since=i18n.local_datetime(status.oldest_pending_at),
            )
        )
    if text:
        fix = _(
            "Bitte die SMTP_*-Einstellungen in der .env und das Server-Log prüfen; "
            "„fvh mail send“ versucht es sofort erneut."
        )
        return Finding("mail", PROBLEM, title, text, fix)
    server = f"{config.smtp_host}:{config.smtp_port}"
    return Finding(
        "mail",
        OK,
        title,
        [
            _(
                "Mails gehen über %(server)s, Absender %(sender)s.",
                server=server,
                sender=config.smtp_sender,
            )
        ],
    )


def _public_url(config: Config) -> Finding:
    title = _("Links in E-Mails")
    fix = _(
        "PUBLIC_URL in der .env auf die Adresse setzen, unter der Mitglieder diese Seite "
        "aufrufen (z. B. https://wache.example/fvh), und den Server neu starten."
    )
    without = _(
        "Ohne sie gibt es kein „Passwort vergessen?“ und keine neue E-Mail-Adresse per Link; "
        "Willkommensmails kommen ohne Link."
    )
    if not config.public_url.strip():
        return Finding(
            "public_url", MISSING, title, [_("PUBLIC_URL ist nicht gesetzt."), without], fix
        )
    try:
        url = account_links.check_public_url(config.public_url)
    except ValidationError:
        text = _(
            "PUBLIC_URL „%(url)s“ ist keine vollständige http(s)-Adresse.", url=config.public_url
        )
        return Finding("public_url", PROBLEM, title, [text, without], fix)
    return Finding("public_url", OK, title, [_("Links in E-Mails führen zu %(url)s.", url=url)])


def _responsible(config: Config) -> Finding:
    title = _("Verantwortliche")
    addresses = notify.parse_addresses(config.responsible_email)
    if not addresses:
        return Finding(
            "responsible",
            MISSING,
            title,
            [
                _(
                    "RESPONSIBLE_EMAIL ist leer: Niemand erfährt von unbekannten Tokens und "
                    "Mitgliedern unter der Meldeschwelle, und Mitglieder werden an „die "
                    "Kassenverwaltung“ verwiesen statt an eine Adresse."
                )
            ],
            _(
                "RESPONSIBLE_EMAIL in der .env auf die Adressen der Kassenverwaltung setzen "
                "(mehrere durch Kommas getrennt) und den Server neu starten."
            ),
        )
    return Finding(
        "responsible",
        OK,
        title,
        [_("Hinweise gehen an %(addresses)s.", addresses=", ".join(addresses))],
    )


def _secret(config: Config) -> Finding:
    title = _("Geheimer Schlüssel")
    secret = config.app_secret
    if not secret or secret == DEFAULT_SECRET or len(secret) < 16:
        return Finding(
            "secret",
            PROBLEM,
            title,
            [_("APP_SECRET fehlt, ist der Platzhalter oder kürzer als 16 Zeichen.")],
            _(
                "Einen langen Zufallswert als APP_SECRET in die .env eintragen oder „fvh db "
                "upgrade“ ausführen, das einen im Datenverzeichnis anlegt."
            ),
        )
    return Finding("secret", OK, title, [_("APP_SECRET ist gesetzt.")])


def _https(config: Config, secure: bool) -> Finding:
    title = _("HTTPS")
    if secure:
        return Finding("https", OK, title, [_("Diese Seite kommt über HTTPS.")])
    return Finding(
        "https",
        HINT,
        title,
        [
            _(
                "Diese Seite kommt ohne HTTPS: Passwörter und Sitzungen gehen unverschlüsselt "
                "durchs Netz. Im eigenen, abgeschlossenen Netz kann das reichen."
            )
        ],
        _(
            "Von außen erreichbar gehört ein Proxy mit TLS davor (z. B. nginx, siehe "
            "installation/) und PROXY_FIX_HOPS=1 in die .env."
        ),
    )


@bp.get("/system")
@admin_required
def system_status() -> ResponseReturnValue:
    found = findings(db_session(), app_config(), request.is_secure)
    return render_template(
        "web/admin/system.html", findings=found, summary=summarize(found), OK=OK, HINT=HINT
    )
