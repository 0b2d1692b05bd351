"""Whether the GUI may offer what works only by mail, and whom members ask instead.

A forgotten password or a new e-mail address needs a mail that goes out (SMTP_HOST and
SMTP_SENDER) with a link that leads back here (PUBLIC_URL). Without either, the links are not
shown, their pages refuse, and members read whom to ask: the addresses in RESPONSIBLE_EMAIL,
else the treasurer. What is missing is the admins' business (the System page), not theirs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import render_template, request
from flask.typing import ResponseReturnValue

from fvh.core import account_links, notify
from fvh.core.errors import ValidationError
from fvh.http.context import app_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailHelp:
    """`available`: links by mail work; `contacts`: whom to ask otherwise (may be empty)."""

    available: bool
    contacts: tuple[str, ...]


def public_url_works(public_url: str) -> bool:
    if not public_url.strip():
        return False
    try:
        account_links.check_public_url(public_url)
    except ValidationError:
        return False
    return True


def mail_goes_out() -> bool:
    """SMTP_HOST and SMTP_SENDER are set (whether the server answers is the outbox's business)."""
    config = app_config()
    return notify.can_send(config.smtp_host, config.smtp_sender)


def mail_help() -> MailHelp:
    """For templates: offer the link (mail goes out, its links lead back), or say whom to ask."""
    config = app_config()
    return MailHelp(
        mail_goes_out() and public_url_works(config.public_url),
        notify.parse_addresses(config.responsible_email),
    )


def refusal(title: str) -> ResponseReturnValue:
    """The answer of a page that works only by mail when mail doesn't: whom to ask instead;
    a page for a GET, 503 for anything sent (which changes nothing)."""
    log.warning(
        "%s refused: links by mail need SMTP_HOST, SMTP_SENDER and PUBLIC_URL", request.path
    )
    status = 200 if request.method == "GET" else 503
    return render_template("web/account/no_mail.html", title=title, mail=mail_help()), status
