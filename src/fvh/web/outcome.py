"""The GUI's transaction boundary around domain calls: commit, or roll back and show why.

A view whose domain calls can refuse (a `DomainError`) runs them in `with attempt(form) as
outcome:`. When they succeed the request's transaction commits; when they raise an expected
domain error it rolls back and the error appears next to its form field (or as a flash
message above the page), and `outcome.ok` is False so the view answers with the form again.
Any other exception also rolls back and goes on to its handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import flash
from flask_wtf import FlaskForm

from fvh.core.errors import DomainError, ValidationError
from fvh.http.context import db_session
from fvh.web.i18n import error_text

# Which form field shows an error: a fixed name, or chosen from the error.
FieldChoice = str | Callable[[DomainError], str | None] | None
# Another text for some errors (None: the error's own message).
MessageChoice = Callable[[DomainError], str | None] | None


@dataclass
class Outcome:
    """How the domain calls in an `attempt` ended; `error` is the domain error shown."""

    error: DomainError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@contextmanager
def attempt(
    form: FlaskForm | None = None,
    *,
    field: FieldChoice = None,
    errors: type[DomainError] | tuple[type[DomainError], ...] = DomainError,
    message: MessageChoice = None,
) -> Iterator[Outcome]:
    """Commit the request's transaction after the block, or roll back and show the error.

    `errors` are the domain errors the view expects (others propagate after the rollback);
    `field` picks the form field for an error, `message` replaces an error's text.
    """
    session = db_session()
    outcome = Outcome()
    try:
        yield outcome
    except errors as exc:
        session.rollback()
        outcome.error = exc
        show_error(exc, form, field=field, message=message)
    except BaseException:
        session.rollback()
        raise
    else:
        session.commit()


def show_error(
    exc: DomainError,
    form: FlaskForm | None = None,
    *,
    field: FieldChoice = None,
    message: MessageChoice = None,
) -> None:
    """Put a domain error next to its field (the one chosen, or the one it names), else above
    the form as a flash message."""
    text = (message(exc) if message else None) or error_text(exc)
    name = field(exc) if callable(field) else field
    name = name or (exc.field if isinstance(exc, ValidationError) else None)
    if form is not None and name and name in form:
        form[name].errors = [*form[name].errors, text]
    else:
        flash(text, "error")
