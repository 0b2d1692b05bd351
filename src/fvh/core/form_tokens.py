"""One-time form tokens: a booking form sent twice (a double click, a reload) books once.

The form carries a random token. The booking's transaction records the token's hash as
used before it books, as a row of `account_tokens` (purpose "form", owned by the admin who
sends it). A second request with the same token finds that row, or, when both arrive at
once, waits on the unique index until the first commits, and is refused with
`AlreadySubmitted`: its transaction rolls back and changes nothing. A form refused for a
typo rolls back with its token, which then stays usable for the corrected form.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fvh.core.errors import N_, Conflict, ValidationError
from fvh.db.models import AccountToken, utcnow

PURPOSE = "form"
# Kept a day, then `account_links.purge_expired` forgets them with the expired links.
LIFETIME = timedelta(days=1)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class AlreadySubmitted(Conflict):
    """The form was sent before: what it asked for is done already, and only once."""


def new_token() -> str:
    """A token for one form shown to the admin."""
    return secrets.token_urlsafe(24)


def _hash(token: str) -> str:
    # Hashed like the e-mail links, so that a form token can never open one of them.
    return hashlib.sha256(f"{PURPOSE}:{token}".encode()).hexdigest()


def use(session: Session, member_id: int, token: str) -> None:
    """Mark the token used in the current transaction; raises AlreadySubmitted if it was.

    Call it before the work it guards: the flush here is where a concurrent twin waits.
    """
    if not _TOKEN_RE.match(token or ""):
        raise ValidationError(
            N_("Das Formular ist unvollständig. Bitte die Seite neu laden."), "form_token"
        )
    now = utcnow()
    session.add(
        AccountToken(
            member_id=member_id,
            purpose=PURPOSE,
            token_hash=_hash(token),
            created_at=now,
            expires_at=now + LIFETIME,
            used_at=now,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise AlreadySubmitted(
            N_("Dieses Formular wurde schon abgeschickt; es wurde nur einmal gebucht.")
        ) from None
