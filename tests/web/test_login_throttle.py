"""The login throttle under attack (issue 14): the current-password check counts as a login
attempt, parallel tries never exceed the limit, and a lockout binds only the address that
caused it."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from fvh.core import logins, members
from fvh.db.models import LoginAttempt, Member, utcnow
from tests.web.conftest import PASSWORD, csrf_from
from tests.web.test_login import login_from

WRONG = "falsch-falsch-falsch"
NEW_PASSWORD = "ein-neues-passwort"


def _outcomes(database, member_id: int) -> list[str]:
    with database.session() as session:
        query = select(LoginAttempt.outcome).where(LoginAttempt.member_id == member_id)
        return list(session.scalars(query.order_by(LoginAttempt.id)))


def test_wrong_current_passwords_are_throttled_and_counted(app, member_browser, member, database):
    def change(current: str):
        data = {"current_password": current, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        return member_browser.post("/password", data, page="/password")

    statuses = [change(f"geraten-{n:02d}-xyz").status_code for n in range(30)]
    limit = logins.DEFAULT_POLICY.per_account
    assert statuses == [200] * limit + [429] * (30 - limit)
    refused = change(PASSWORD)  # the right one, too, while throttled
    assert refused.status_code == 429
    assert "Zu viele Fehlversuche" in refused.get_data(as_text=True)
    outcomes = _outcomes(database, member.id)
    assert outcomes == [logins.SUCCESS] + [logins.FAILED] * limit + [logins.THROTTLED] * 26
    # The same count throttles the login from this address.
    assert login_from(app, "127.0.0.1", member.code, PASSWORD).status_code == 429
    with database.session() as session:
        assert members.check_password(session.get(Member, member.id), PASSWORD)


def test_parallel_wrong_logins_never_exceed_the_limit(app, member, database):
    """Twelve tries at once from one address, one of them right: whatever order they are
    served in, no try is checked after the fifth failure, and the right one gets in only
    if fewer than five failures came before it."""
    tries = [WRONG] * 5 + [PASSWORD] + [WRONG] * 6
    clients = [app.test_client() for _ in tries]
    tokens = [csrf_from(c.get("/login").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(len(tries))
    statuses: dict[int, int] = {}

    def go(i: int) -> None:
        start.wait()
        data = {"csrf_token": tokens[i], "identifier": member.code, "password": tries[i]}
        statuses[i] = clients[i].post("/login", data=data).status_code

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(tries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    limit = logins.DEFAULT_POLICY.per_account
    failures = 0
    outcomes = _outcomes(database, member.id)
    assert len(outcomes) == len(tries)
    for outcome in outcomes:  # in the order the tries were served
        if failures >= limit:
            assert outcome == logins.THROTTLED, outcomes
        elif outcome == logins.FAILED:
            failures += 1
        else:
            assert outcome == logins.SUCCESS, outcomes
            failures = 0
    assert outcomes.count(logins.FAILED) <= 2 * limit  # at most five on either side of it
    right = statuses[tries.index(PASSWORD)]
    served_before = outcomes[: outcomes.index(logins.SUCCESS)] if right == 302 else outcomes
    assert right == 302 or served_before.count(logins.FAILED) >= limit
    assert served_before.count(logins.FAILED) <= limit


def test_a_lockout_from_one_address_does_not_lock_out_another(app, database):
    with database.session() as session:
        one_time = members.ensure_bootstrap_admin(session)
    code = members.BOOTSTRAP_ADMIN_CODE
    for _ in range(logins.DEFAULT_POLICY.per_account):
        assert login_from(app, "10.6.6.6", code, WRONG).status_code == 200
    assert login_from(app, "10.6.6.6", code, one_time).status_code == 429
    # The admin, elsewhere, still gets in.
    response = login_from(app, "10.1.2.3", code, one_time)
    assert response.status_code == 302
    assert response.headers["Location"] == "/password"


def test_the_lockout_grows_with_each_further_failure(database, member):
    policy = logins.DEFAULT_POLICY
    assert logins.lockout(policy.per_account - 1) == timedelta(0)
    assert logins.lockout(policy.per_account) == policy.window
    assert logins.lockout(policy.per_account + 2) == policy.window * 4
    assert logins.lockout(policy.per_account + 50) == policy.max_lockout
    with database.session() as session:
        account = session.get(Member, member.id)
        for _ in range(policy.per_account + 1):  # one more after the first wait
            logins.record(session, member.code, "10.1.1.1", logins.FAILED, account)
        now = utcnow()
        after_one_window = now + policy.window + timedelta(seconds=1)
        after_two = now + 2 * policy.window + timedelta(seconds=1)
        assert logins.is_throttled(session, member.code, account, "10.1.1.1", now=now)
        assert logins.is_throttled(session, member.code, account, "10.1.1.1", now=after_one_window)
        assert not logins.is_throttled(session, member.code, account, "10.1.1.1", now=after_two)
        assert not logins.is_throttled(session, member.code, account, "10.1.1.2", now=now)


def test_parallel_wrong_logins_never_exceed_the_address_limit(app, member, database):
    """Twenty-five tries at once from one address, each at another account (unknown ones),
    and the member's right password among them: no try is checked after the address's
    twentieth failure, and the member gets in only if fewer failures came before."""
    limit = logins.DEFAULT_POLICY.per_ip
    tries = [(f"fremd-{n}@example.org", WRONG) for n in range(24)]
    tries.insert(12, (member.code, PASSWORD))
    clients = [app.test_client() for _ in tries]
    tokens = [csrf_from(c.get("/login").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(len(tries))
    statuses: dict[int, int] = {}

    def go(i: int) -> None:
        start.wait()
        identifier, password = tries[i]
        data = {"csrf_token": tokens[i], "identifier": identifier, "password": password}
        statuses[i] = clients[i].post("/login", data=data).status_code

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(tries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    with database.session() as session:
        query = select(LoginAttempt.outcome, LoginAttempt.member_id).where(
            LoginAttempt.ip_address == "127.0.0.1"
        )
        served = list(session.execute(query.order_by(LoginAttempt.id)))
    assert len(served) == len(tries)
    outcomes = [outcome for outcome, _member_id in served]
    assert outcomes.count(logins.FAILED) <= limit, outcomes
    failures = 0
    for outcome, member_id in served:  # in the order the tries were served
        if failures >= limit:
            assert outcome == logins.THROTTLED, outcomes
        elif outcome == logins.FAILED:
            failures += 1
        else:
            assert (outcome, member_id) == (logins.SUCCESS, member.id), outcomes
    right = statuses[12]
    assert right in {302, 429}
    assert (right == 302) == (logins.SUCCESS in outcomes)
