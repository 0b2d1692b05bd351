"""What the account-mail tests share: the public URL, delivery through the test server, and
reading a mail's text and link."""

from __future__ import annotations

import re

from fvh.ops.mail import send_due, smtp_settings

PUBLIC_URL = "https://station.example/fvh"
NEW_PASSWORD = "ganz-neues-passwort-7"


def deliver(app, database, smtp_server, count: int):
    """All mails delivered so far, once `count` have arrived."""
    report = send_due(database, smtp_settings(app.config["FVH"]))
    assert report.failed == 0
    mails = smtp_server.inbox.wait_for(count)
    assert len(mails) == count
    return mails


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def html_of(mail) -> str:
    return mail.get_body(("html",)).get_content()


def link_in(mail, path: str) -> str:
    """The link to `path` in a mail (text and HTML alike), as a path below PUBLIC_URL."""
    match = re.search(re.escape(PUBLIC_URL + path) + r"\?token=[A-Za-z0-9_%-]+", text_of(mail))
    assert match, text_of(mail)
    assert match.group(0) in html_of(mail)
    return match.group(0).removeprefix(PUBLIC_URL)
