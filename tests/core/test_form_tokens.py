"""One-time form tokens: used once per transaction that commits, refused after, forgotten later."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from fvh.core import account_links, form_tokens
from fvh.core.errors import ValidationError
from fvh.db.models import AccountToken, utcnow


def _rows(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(AccountToken)) or 0


def test_a_token_is_used_once(database, build):
    admin = build.member(code="1000000001", is_admin=True)
    token = form_tokens.new_token()
    with database.session() as session:
        form_tokens.use(session, admin.id, token)
    # The door rolls back a refused request; so does the session when the error leaves it.
    with pytest.raises(form_tokens.AlreadySubmitted), database.session() as session:
        form_tokens.use(session, admin.id, token)
    with database.session() as session:
        form_tokens.use(session, admin.id, form_tokens.new_token())  # another form
    assert _rows(database) == 2


def test_a_rolled_back_use_leaves_the_token_usable(database, build):
    """A form refused for a typo rolls back: its token serves the corrected form."""
    admin = build.member(code="1000000001", is_admin=True)
    token = form_tokens.new_token()
    with database.session() as session:
        form_tokens.use(session, admin.id, token)
        session.rollback()
    with database.session() as session:
        form_tokens.use(session, admin.id, token)
    assert _rows(database) == 1


@pytest.mark.parametrize("token", ["", "short", "x" * 65, "with space in it 12345", "ä" * 20])
def test_a_malformed_token_is_refused(database, build, token):
    admin = build.member(code="1000000001", is_admin=True)
    with pytest.raises(ValidationError), database.session() as session:
        form_tokens.use(session, admin.id, token)
    assert _rows(database) == 0


def test_form_tokens_open_no_link_and_are_purged(database, build):
    admin = build.member(code="1000000001", is_admin=True)
    token = form_tokens.new_token()
    with database.session() as session:
        form_tokens.use(session, admin.id, token)
    with database.session() as session:
        for purpose in ("reset", "verify", form_tokens.PURPOSE):
            with pytest.raises(account_links.TokenInvalid):
                account_links.find(session, token, purpose)
        assert account_links.purge_expired(session) == 0  # still within its lifetime
    with database.session() as session:
        # Its day is over, and the day purge_expired waits after that.
        session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(days=2)))
    with database.session() as session:
        assert account_links.purge_expired(session) == 1
    assert _rows(database) == 0
