"""A second step for irreversible one-click actions: the first POST only asks.

The button on the page posts without `confirm`; the view answers with a confirmation page
whose form posts again to the same URL with `confirm=1`. Only that second POST acts, so a
stray click (or a forged form without the field) changes nothing.
"""

from __future__ import annotations

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

CONFIRM_FIELD = "confirm"


def confirmed() -> bool:
    """Whether this POST came from the confirmation page."""
    return request.form.get(CONFIRM_FIELD) == "1"


def ask(*, title: str, warning: str, button: str, cancel_url: str) -> ResponseReturnValue:
    """The confirmation page; its form repeats the POST to this URL with the confirm field."""
    return render_template(
        "web/admin/confirm_action.html",
        title=title,
        warning=warning,
        button=button,
        action=url_for(request.endpoint or "admin.dashboard", **(request.view_args or {})),
        confirm_field=CONFIRM_FIELD,
        cancel_url=cancel_url,
    )
