"""Terminals read /saldo-alle whole; other lists are capped by default."""

from fvh.app import create_app


def test_saldo_alle_is_whole_by_default_other_lists_are_capped(config, build):
    app = create_app({**config, "API_LIST_LIMIT": 2})
    for i in range(3):
        build.member(code=f"700000000{i}", last_name=f"M{i}")
    key = build.api_key("admin")
    client = app.test_client()
    balances = client.get("/api/saldo-alle", headers={"X-API-Key": key})
    assert len(balances.json) == 3
    assert balances.headers["X-Total-Count"] == "3"
    users = client.get("/api/users", headers={"X-API-Key": key})
    assert len(users.json) == 2
    assert users.headers["X-Total-Count"] == "3"
    assert len(client.get("/api/saldo-alle?limit=1", headers={"X-API-Key": key}).json) == 1
    app.extensions["fvh_db"].dispose()
