"""`db.execute`: prebuilt statements on the DB-API cursor behave as through the engine."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import bindparam, column, select, table, update
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound

from fvh.core import audit, ledger, members
from fvh.db import engine as db
from fvh.db.models import Member, Transaction

_JOURNAL = select(
    Transaction.__table__.c.id,
    Transaction.__table__.c.created_at,
    Transaction.__table__.c.amount_cents,
).where(Transaction.__table__.c.member_id == bindparam("member_id"))
_CODES = select(Member.__table__.c.code).order_by(Member.__table__.c.code)


def test_rows_come_back_typed_as_the_engine_types_them(build, database):
    member = build.member(code="6100000001", email="a@example.org", balance_cents=0)
    with database.session() as session:
        ledger.book(session, member.id, 500, "Einzahlung", audit.Actor.system("Test"))
    with database.session() as session:
        session.execute(update(Member).where(Member.id == member.id).values(notify_bookings=True))
        session.flush()
        for statement, params in (
            (members._CARD_BY_CODE, {"code": "6100000001"}),
            (_JOURNAL, {"member_id": member.id}),
        ):
            fast = db.execute(session, statement, params).all()
            engine = [tuple(row) for row in session.execute(statement, params)]
            assert fast == engine and fast
            assert [type(value) for value in fast[0]] == [type(value) for value in engine[0]]
        card = members.card(session, code="6100000001")
        assert card is not None and card.notify_bookings is True and card.notify_zero is False
        [(_id, created_at, amount)] = db.execute(session, _JOURNAL, {"member_id": member.id}).all()
        assert isinstance(created_at, datetime) and amount == 500


def test_row_count_rules(build, database):
    build.member(code="6100000002")
    build.member(code="6100000003")
    with database.session() as session:
        with pytest.raises(MultipleResultsFound):
            db.execute(session, _CODES).one_or_none()
        with pytest.raises(MultipleResultsFound):
            db.execute(session, _CODES).scalar_one()
        nobody = db.execute(session, members._CARD_BY_CODE, {"code": "6199999999"})
        assert nobody.one_or_none() is None and nobody.scalar_one_or_none() is None
        with pytest.raises(NoResultFound):
            db.execute(session, members._CARD_BY_CODE, {"code": "6199999999"}).scalar_one()


def test_driver_errors_are_raised_as_sqlalchemy_errors(database):
    missing = select(column("x")).select_from(table("no_such_table"))
    session = database.sessionmaker()
    try:
        with pytest.raises(DBAPIError) as raised:
            db.execute(session, missing)
        assert "no_such_table" in str(raised.value.orig).lower()
        assert not raised.value.connection_invalidated
    finally:
        session.rollback()
        session.close()


def test_statements_whose_columns_need_python_defaults_are_refused(database):
    # members.updated_at has an onupdate default, which only the engine's execution runs:
    # a statement that leaves it out must fail loudly instead of writing NULL.
    session = database.sessionmaker()
    try:
        with pytest.raises(ValueError, match="Python-side defaults"):
            db.execute(session, update(Member.__table__).values(comment=bindparam("c")), {"c": ""})
    finally:
        session.rollback()
        session.close()


def test_a_connection_keeps_its_cursor_until_a_statement_fails(build, database):
    """One cursor per connection, used again by the next statement; a failed statement
    drops it, and the next statement on that connection opens a fresh one that works."""
    build.member(code="6100000003")
    missing = select(column("nothing")).select_from(table("no_such_table"))
    with database.session() as session:
        db.execute(session, _CODES)
        pooled = session.connection().connection
        first = pooled.info["fvh_cursor"][1]
        assert db.execute(session, _CODES).all() == [("6100000003",)]
        assert pooled.info["fvh_cursor"][1] is first
        with pytest.raises(DBAPIError):
            db.execute(session, missing)
        assert "fvh_cursor" not in pooled.info
        session.rollback()
        assert db.execute(session, _CODES).all() == [("6100000003",)]
        assert session.connection().connection.info["fvh_cursor"][1] is not first
