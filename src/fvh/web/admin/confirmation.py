"""A second step for irreversible admin actions: the first request only asks.

A click confirms a one-click action: the button on the page posts without `confirm`; the view
answers with the confirmation page, whose form posts again to the same URL with `confirm=1`.
Only that second POST acts, so a stray click (or a forged form without the field) changes
nothing. What destroys a lot (a member, a journal, an API client) wants a typed word instead,
e.g. the member's code, checked here and not in the browser. Both use one page.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from fvh.web.forms import ConfirmForm

CONFIRM_FIELD = "confirm"
BACK_FIELD = "back"


class Confirmation:
    """One confirmation step; with a `word` the admin must type it, else a click confirms.

    `mismatch` is the error shown when the typed word is wrong.
    """

    def __init__(self, word: str | None = None, mismatch: str = "") -> None:
        self.word = word
        self.mismatch = mismatch
        self.form = ConfirmForm() if word is not None else None

    def given(self) -> bool:
        """Whether this request confirms the action (a wrong word is noted for the page)."""
        if self.form is None:
            return request.method == "POST" and request.form.get(CONFIRM_FIELD) == "1"
        if not self.form.validate_on_submit():
            return False
        if (self.form.confirmation.data or "").strip() != self.word:
            self.form.confirmation.errors = [self.mismatch]
            return False
        return True

    def ask(
        self,
        *,
        title: str,
        warning: str,
        cancel_url: str,
        button: str | None = None,
        export_url: str | None = None,
        fields: Iterable[tuple[str, str]] = (),
        details: Iterable[str] = (),
        back: str | None = None,
        danger: bool = True,
    ) -> ResponseReturnValue:
        """The confirmation page; its form repeats the request to this URL, confirmed.

        `fields` are the request's own form values, sent again as hidden fields (a preview
        asks about exactly what was entered); `details` are lines listed under the warning.
        `back` labels a button that sends the fields without the confirmation, with
        `BACK_FIELD`, so that the view shows its form again, filled in.
        """
        return render_template(
            "web/admin/confirm.html",
            title=title,
            warning=warning,
            button=button or title,
            action=_this_url(),
            form=self.form,
            expected=self.word,
            confirm_field=CONFIRM_FIELD,
            cancel_url=cancel_url,
            export_url=export_url,
            fields=list(fields),
            details=list(details),
            back=back,
            back_field=BACK_FIELD,
            danger=danger,
        )


def going_back() -> bool:
    """Whether the admin chose to change the request on its confirmation page."""
    return request.method == "POST" and request.form.get(BACK_FIELD) == "1"


def _this_url() -> str:
    """The URL of this request with its query (e.g. `?member=3`), for the form to post to."""
    path = url_for(request.endpoint or "admin.dashboard", **(request.view_args or {}))
    query = request.query_string.decode("utf-8", "replace")
    return f"{path}?{query}" if query else path
