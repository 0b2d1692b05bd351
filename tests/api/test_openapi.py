"""The OpenAPI document lists exactly the API's routes, and real answers validate against it.

Every scenario below provokes one outcome of one endpoint on the real app (each backend),
checks that the request hit the operation it claims and got the status it aims for, and then
that this status is documented for the operation, with a body (and headers) that validate
against the documented schema. A coverage test makes sure each documented outcome is
provoked by some scenario, or is named as one a test cannot provoke.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from fvh.app import create_app
from fvh.core import keys, ledger
from fvh.db.models import Transaction
from fvh.http import access
from tests.builders import TEST_ACTOR, Builder

PREFIX = "/api"
DOC_URI = "urn:fvh:openapi"
META_ENDPOINTS = {"api.openapi", "api.docs", "api.docs_static"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
SCOPE_OF_RULE = {
    access.PUBLIC: "public",
    access.API_TERMINAL: "terminal",
    access.API_ADMIN: "admin",
}
CODE = "1234567890"
OTHER_CODE = "1234567891"
MISSING_CODE = "9876543210"
TOKEN = bytes.fromhex("04A22B1C")
MAX_BODY = 16 * 1024


# --- the document -------------------------------------------------------------------------


def openapi_path(rule: str) -> str:
    """Flask rule `/api/person/<code>` -> OpenAPI path `/person/{code}`."""
    assert rule.startswith(PREFIX + "/"), rule
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule[len(PREFIX) :])


def api_routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.endpoint not in META_ENDPOINTS
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, op


def pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class Document:
    """The served document, with $ref resolution through a `referencing` registry."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(spec))

    def resolve(self, node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """Follow a local `$ref`; returns the target and its JSON pointer (None if inline)."""
        ref = node.get("$ref")
        if ref is None:
            return node, None
        assert ref.startswith("#/"), ref
        target: Any = self.spec
        for token in ref[2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        return target, ref[1:]

    def validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator(
            {"$ref": f"{DOC_URI}#{pointer}"},
            registry=self.registry,
            format_checker=FormatChecker(),
        )

    def operation(self, method: str, path: str) -> dict[str, Any]:
        return self.spec["paths"][path][method.lower()]

    def response(self, method: str, path: str, status: int) -> tuple[dict[str, Any], str]:
        """The documented response and the pointer of its JSON schema."""
        responses = self.operation(method, path)["responses"]
        assert str(status) in responses, f"{method} {path}: status {status} not documented"
        node = responses[str(status)]
        response, pointer = self.resolve(node)
        if pointer is None:
            pointer = "/" + "/".join(
                pointer_escape(t) for t in ("paths", path, method.lower(), "responses", str(status))
            )
        return response, pointer + "/content/application~1json/schema"

    def parameters(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.resolve(p)[0] for p in op.get("parameters", [])]

    def check_answer(self, method: str, path: str, response: TestResponse) -> None:
        documented, schema_pointer = self.response(method, path, response.status_code)
        assert "application/json" in documented["content"]
        assert response.mimetype == "application/json", response.mimetype
        errors = list(self.validator(schema_pointer).iter_errors(response.get_json()))
        assert not errors, f"{method} {path} {response.status_code}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors
        )
        for name, header in documented.get("headers", {}).items():
            header, _ = self.resolve(header)
            if header.get("required"):
                assert name in response.headers, f"header {name} missing"
            if name in response.headers:
                value: Any = response.headers[name]
                if header["schema"].get("type") == "integer":
                    assert re.fullmatch(r"\d+", value), f"{name}: {value!r}"
                    value = int(value)
                Draft202012Validator(header["schema"]).validate(value)


@pytest.fixture
def doc(client: FlaskClient) -> Document:
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    return Document(response.get_json())


# --- (a) the document and the routes ------------------------------------------------------


def test_document_lists_exactly_the_api_routes(app: Flask, doc: Document):
    documented = {(method, path) for method, path, _op in operations(doc.spec)}
    routes = api_routes(app)
    assert routes, "no API routes found: the test would prove nothing"
    assert documented == routes, (
        f"undocumented: {sorted(routes - documented)}; not routes: {sorted(documented - routes)}"
    )
    registered = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert registered >= META_ENDPOINTS


def test_path_parameters_match_the_templates(doc: Document):
    for method, path, op in operations(doc.spec):
        in_path = {p["name"] for p in doc.parameters(op) if p["in"] == "path"}
        assert in_path == set(re.findall(r"{([^}]+)}", path)), f"{method} {path}"
        for param in doc.parameters(op):
            if param["in"] == "path":
                assert param["required"] is True


def test_document_is_well_formed(doc: Document):
    spec = doc.spec
    assert re.fullmatch(r"3\.[01]\.\d+", spec["openapi"])
    assert spec["info"]["title"]
    assert spec["info"]["version"]
    for name, schema in spec["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        assert name

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    all_refs = set(refs(spec))
    assert all_refs
    for ref in all_refs:
        doc.resolve({"$ref": ref})  # raises KeyError on a dangling reference
    operation_ids = [op["operationId"] for _m, _p, op in operations(spec)]
    assert len(operation_ids) == len(set(operation_ids))
    for method, path, op in operations(spec):
        assert op["responses"], f"{method} {path}"
        for status, response in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status), f"{method} {path} {status}"
            response, _ = doc.resolve(response)
            assert response["description"]
            assert set(response["content"]) == {"application/json"}


def test_security_and_scope_match_the_views(app: Flask, doc: Document):
    scheme = doc.spec["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}
    adapter = app.url_map.bind("localhost")
    for method, path, op in operations(doc.spec):
        url = PREFIX + path.replace("{code}", CODE)
        endpoint, _args = adapter.match(url, method=method)
        rule = access.rule_of(app.view_functions[endpoint])
        assert rule in SCOPE_OF_RULE, f"{method} {path}: access rule {rule!r}"
        scope = SCOPE_OF_RULE[rule]
        assert op["x-fvh-scope"] == scope, f"{method} {path}"
        if scope == "public":
            assert op["security"] == [], f"{method} {path}"
            assert "401" not in op["responses"]
        else:
            assert op["security"] == [{"ApiKey": []}], f"{method} {path}"
            assert "401" in op["responses"]
        assert ("403" in op["responses"]) == (scope == "admin" or path == "/nfc-transaktion")
    admin_only = {
        (method, path) for method, path, op in operations(doc.spec) if op["x-fvh-scope"] == "admin"
    }
    assert admin_only == {
        ("GET", "/users"),
        ("POST", "/person"),
        ("DELETE", "/person/{code}"),
        ("GET", "/transaktionen"),
        ("DELETE", "/transaktionen"),
        ("DELETE", "/person/transaktionen/{code}"),
    }
    assert doc.operation("GET", "/health")["x-fvh-scope"] == "public"


def test_lists_are_paged_and_bookings_idempotent(doc: Document):
    lists = set()
    for method, path, op in operations(doc.spec):
        ok, pointer = doc.response(method, path, 201 if method == "POST" else 200)
        schema = ok["content"]["application/json"]["schema"]
        names = {p["name"]: p for p in doc.parameters(op)}
        if schema.get("type") == "array":
            lists.add(path)
            assert names["limit"]["in"] == names["offset"]["in"] == "query"
            assert names["limit"]["schema"]["minimum"] == 1
            assert set(ok["headers"]) >= {"X-Total-Count"}, path
        if method == "PUT":
            key = names["Idempotency-Key"]
            assert key["in"] == "header"
            assert key["required"] is False
            assert {"409", "422"} <= set(op["responses"]), path
        assert pointer
    assert lists == {"/saldo-alle", "/users", "/transaktionen"}


def test_servers_is_the_api_base_url(config: dict[str, object], doc: Document):
    assert doc.spec["servers"][0]["url"] == PREFIX
    api_only = create_app(config, mode="api")
    try:
        client = api_only.test_client()
        response = client.get("/openapi.json")
        assert response.status_code == 200
        assert response.get_json()["servers"][0]["url"] == "/"
        assert client.get("/health").status_code == 200
        behind_proxy = client.get("/openapi.json", environ_overrides={"SCRIPT_NAME": "/fvh-api"})
        assert behind_proxy.get_json()["servers"][0]["url"] == "/fvh-api"
    finally:
        api_only.extensions["fvh_db"].dispose()


def test_servers_follows_the_script_root(client: FlaskClient):
    response = client.get(f"{PREFIX}/openapi.json", environ_overrides={"SCRIPT_NAME": "/fvh"})
    assert response.get_json()["servers"][0]["url"] == "/fvh" + PREFIX
    page = client.get(f"{PREFIX}/docs", environ_overrides={"SCRIPT_NAME": "/fvh"})
    assert f'data-spec-url="/fvh{PREFIX}/openapi.json"' in page.get_data(as_text=True)


# --- (b) real answers validate against the document ---------------------------------------


@dataclass
class Api:
    client: FlaskClient
    build: Builder
    _keys: dict[str, str]

    def key(self, scope: str = keys.SCOPE_TERMINAL) -> str:
        if scope not in self._keys:
            self._keys[scope] = self.build.api_key(scope=scope)
        return self._keys[scope]

    def call(
        self,
        method: str,
        path: str,
        *,
        scope: str | None = keys.SCOPE_TERMINAL,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["X-API-Key"] = key
        elif scope is not None:
            all_headers["X-API-Key"] = self.key(scope)
        return self.client.open(PREFIX + path, method=method, headers=all_headers, **kwargs)


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    status: int
    run: Callable[[Api], TestResponse]


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str, method: str, path: str, status: int
) -> Callable[[Callable[[Api], TestResponse]], Callable[[Api], TestResponse]]:
    def register(run: Callable[[Api], TestResponse]) -> Callable[[Api], TestResponse]:
        assert name not in SCENARIOS
        SCENARIOS[name] = Scenario(name, method, path, status, run)
        return run

    return register


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ADMIN = keys.SCOPE_ADMIN


# health and metadata


@scenario("health", "GET", "/health", 200)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/health", scope=None)


@scenario("health-protected", "GET", "/health-protected", 200)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/health-protected")


@scenario("health-protected without key", "GET", "/health-protected", 401)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/health-protected", scope=None)


@scenario("health-protected with unknown key", "GET", "/health-protected", 401)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/health-protected", key="fvh_not-a-key")


@scenario("version", "GET", "/version", 200)
def _(api: Api) -> TestResponse:
    response = api.call("GET", "/version")
    assert isinstance(response.get_json()["version"], str)
    return response


@scenario("version without key", "GET", "/version", 401)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/version", scope=None)


# balances and people


def three_members(api: Api) -> None:
    api.build.member(code=CODE, first_name="Anna", last_name="Alt", balance_cents=550)
    api.build.member(code=OTHER_CODE, first_name="Ben", last_name="Berg", balance_cents=300)
    api.build.member(code=MISSING_CODE[::-1], first_name="Cem", last_name="Cay")


@scenario("saldo-alle", "GET", "/saldo-alle", 200)
def _(api: Api) -> TestResponse:
    three_members(api)
    response = api.call("GET", "/saldo-alle")
    assert [e["saldo"] for e in response.get_json()] == [5.5, 3, 0]
    assert response.headers["X-Total-Count"] == "3"
    return response


@scenario("saldo-alle, second page", "GET", "/saldo-alle", 200)
def _(api: Api) -> TestResponse:
    three_members(api)
    response = api.call("GET", "/saldo-alle", query_string={"limit": 1, "offset": 1})
    assert [e["vorname"] for e in response.get_json()] == ["Ben"]
    assert response.headers["X-Total-Count"] == "3"
    return response


@scenario("saldo-alle with limit 0", "GET", "/saldo-alle", 400)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/saldo-alle", query_string={"limit": 0})


@scenario("saldo-alle with a non-number offset", "GET", "/saldo-alle", 400)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/saldo-alle", query_string={"offset": "x"})


@scenario("saldo-alle without key", "GET", "/saldo-alle", 401)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/saldo-alle", scope=None)


@scenario("person, whole balance", "GET", "/person/{code}", 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    response = api.call("GET", f"/person/{CODE}")
    assert response.get_json()["saldo"] == 5
    assert isinstance(response.get_json()["saldo"], int)
    return response


@scenario("person, fractional negative balance", "GET", "/person/{code}", 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=-250)
    response = api.call("GET", f"/person/{CODE}")
    assert response.get_json()["saldo"] == -2.5
    return response


@scenario("person, unknown code", "GET", "/person/{code}", 404)
def _(api: Api) -> TestResponse:
    return api.call("GET", f"/person/{MISSING_CODE}")


@scenario("person, invalid code", "GET", "/person/{code}", 400)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/person/12345")


@scenario("person without key", "GET", "/person/{code}", 401)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE)
    return api.call("GET", f"/person/{CODE}", scope=None)


@scenario("person exists", "GET", "/person/existent/{code}", 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE)
    return api.call("GET", f"/person/existent/{CODE}")


@scenario("person exists, unknown code", "GET", "/person/existent/{code}", 404)
def _(api: Api) -> TestResponse:
    return api.call("GET", f"/person/existent/{MISSING_CODE}")


@scenario("person exists, invalid code", "GET", "/person/existent/{code}", 400)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/person/existent/abcdefghij")


@scenario("person exists without key", "GET", "/person/existent/{code}", 401)
def _(api: Api) -> TestResponse:
    return api.call("GET", f"/person/existent/{CODE}", scope=None)


@scenario("users", "GET", "/users", 200)
def _(api: Api) -> TestResponse:
    three_members(api)
    response = api.call("GET", "/users", scope=ADMIN)
    assert [u["code"] for u in response.get_json()] == [CODE, OTHER_CODE, MISSING_CODE[::-1]]
    return response


@scenario("users with a negative offset", "GET", "/users", 400)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/users", scope=ADMIN, query_string={"offset": -1})


@scenario("users with a terminal key", "GET", "/users", 403)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/users")


@scenario("users without key", "GET", "/users", 401)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/users", scope=None)


NEW_PERSON = {"code": CODE, "nachname": "Neu", "vorname": "Nina"}


@scenario("create person", "POST", "/person", 201)
def _(api: Api) -> TestResponse:
    body = {**NEW_PERSON, "password": "ein langes Passwort", "email": "nina@example.org"}
    response = api.call("POST", "/person", scope=ADMIN, json=body)
    assert response.get_json()["code"] == CODE
    return response


@scenario("create person, invalid code", "POST", "/person", 400)
def _(api: Api) -> TestResponse:
    return api.call("POST", "/person", scope=ADMIN, json={**NEW_PERSON, "code": "12"})


@scenario("create person, name missing", "POST", "/person", 400)
def _(api: Api) -> TestResponse:
    return api.call("POST", "/person", scope=ADMIN, json={"code": CODE, "vorname": "Nina"})


@scenario("create person, body not JSON", "POST", "/person", 400)
def _(api: Api) -> TestResponse:
    return api.call("POST", "/person", scope=ADMIN, data="{kein json")


@scenario("create person, code taken", "POST", "/person", 409)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE)
    return api.call("POST", "/person", scope=ADMIN, json=NEW_PERSON)


@scenario("create person with a terminal key", "POST", "/person", 403)
def _(api: Api) -> TestResponse:
    return api.call("POST", "/person", json=NEW_PERSON)


@scenario("create person without key", "POST", "/person", 401)
def _(api: Api) -> TestResponse:
    return api.call("POST", "/person", scope=None, json=NEW_PERSON)


@scenario("create person, body too large", "POST", "/person", 413)
def _(api: Api) -> TestResponse:
    body = {**NEW_PERSON, "nachname": "x" * MAX_BODY}
    return api.call("POST", "/person", scope=ADMIN, json=body)


@scenario("delete person", "DELETE", "/person/{code}", 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=100)
    response = api.call("DELETE", f"/person/{CODE}", scope=ADMIN)
    assert api.call("GET", f"/person/{CODE}").status_code == 404
    return response


@scenario("delete person, unknown code", "DELETE", "/person/{code}", 404)
def _(api: Api) -> TestResponse:
    return api.call("DELETE", f"/person/{MISSING_CODE}", scope=ADMIN)


@scenario("delete person, invalid code", "DELETE", "/person/{code}", 400)
def _(api: Api) -> TestResponse:
    return api.call("DELETE", "/person/123456789012", scope=ADMIN)


@scenario("delete the last admin", "DELETE", "/person/{code}", 409)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, is_admin=True)
    return api.call("DELETE", f"/person/{CODE}", scope=ADMIN)


@scenario("delete person with a terminal key", "DELETE", "/person/{code}", 403)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE)
    return api.call("DELETE", f"/person/{CODE}")


@scenario("delete person without key", "DELETE", "/person/{code}", 401)
def _(api: Api) -> TestResponse:
    return api.call("DELETE", f"/person/{CODE}", scope=None)


# journal


@scenario("journal with a reversal", "GET", "/transaktionen", 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=550)
    booked = api.call("PUT", f"/person/{CODE}/transaktion", json={"beschreibung": "Theke"})
    assert booked.status_code == 200
    with api.build.database.session() as session:
        newest = session.scalar(select(func.max(Transaction.id)))
        ledger.reverse(session, newest, TEST_ACTOR)
    response = api.call("GET", "/transaktionen", scope=ADMIN)
    entries = response.get_json()
    assert [e["saldo_aenderung"] for e in entries] == [1, -1, 5.5]
    assert entries[0]["storno_von"] == entries[1]["id"]
    assert entries[1]["beschreibung"] == "Theke"
    assert response.headers["X-Total-Count"] == "3"
    return response


@scenario("journal with limit too large", "GET", "/transaktionen", 400)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/transaktionen", scope=ADMIN, query_string={"limit": 10**9})


@scenario("journal with a terminal key", "GET", "/transaktionen", 403)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/transaktionen")


@scenario("journal without key", "GET", "/transaktionen", 401)
def _(api: Api) -> TestResponse:
    return api.call("GET", "/transaktionen", scope=None)


@scenario("delete the journal", "DELETE", "/transaktionen", 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=550)
    api.build.member(code=OTHER_CODE, balance_cents=100)
    response = api.call("DELETE", "/transaktionen", scope=ADMIN)
    assert response.get_json()["anzahl"] == 2
    assert api.build.balance(CODE) == 0
    return response


@scenario("delete the journal with a terminal key", "DELETE", "/transaktionen", 403)
def _(api: Api) -> TestResponse:
    return api.call("DELETE", "/transaktionen")


@scenario("delete the journal without key", "DELETE", "/transaktionen", 401)
def _(api: Api) -> TestResponse:
    return api.call("DELETE", "/transaktionen", scope=None)


@scenario("delete a member's journal", "DELETE", "/person/transaktionen/{code}", 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=550)
    api.build.member(code=OTHER_CODE, balance_cents=100)
    response = api.call("DELETE", f"/person/transaktionen/{CODE}", scope=ADMIN)
    assert response.get_json()["anzahl"] == 1
    assert (api.build.balance(CODE), api.build.balance(OTHER_CODE)) == (0, 100)
    return response


@scenario("delete a member's journal, unknown", "DELETE", "/person/transaktionen/{code}", 404)
def _(api: Api) -> TestResponse:
    return api.call("DELETE", f"/person/transaktionen/{MISSING_CODE}", scope=ADMIN)


@scenario("delete a member's journal, invalid", "DELETE", "/person/transaktionen/{code}", 400)
def _(api: Api) -> TestResponse:
    return api.call("DELETE", "/person/transaktionen/1", scope=ADMIN)


@scenario("delete a member's journal, terminal", "DELETE", "/person/transaktionen/{code}", 403)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE)
    return api.call("DELETE", f"/person/transaktionen/{CODE}")


@scenario("delete a member's journal, no key", "DELETE", "/person/transaktionen/{code}", 401)
def _(api: Api) -> TestResponse:
    return api.call("DELETE", f"/person/transaktionen/{CODE}", scope=None)


# booking by code

BY_CODE = "/person/{code}/transaktion"
BOOKING = {"beschreibung": "Kasse Theke"}


def book_by_code(api: Api, **kwargs: Any) -> TestResponse:
    kwargs.setdefault("json", BOOKING)
    return api.call("PUT", f"/person/{CODE}/transaktion", **kwargs)


@scenario("book by code, fractional balance", "PUT", BY_CODE, 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, first_name="Anna", balance_cents=550)
    response = book_by_code(api)
    assert response.get_json()["saldo"] == 4.5
    assert response.get_json()["vorname"] == "Anna"
    assert api.build.balance(CODE) == 450
    return response


@scenario("book by code with an admin key", "PUT", BY_CODE, 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=600)
    response = book_by_code(api, scope=ADMIN)
    assert response.get_json()["saldo"] == 5
    assert isinstance(response.get_json()["saldo"], int)
    return response


@scenario("book by code, blocked", "PUT", BY_CODE, 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=50)
    response = book_by_code(api)
    assert response.get_json()["action"] == "block"
    assert api.build.balance(CODE) == 50
    return response


@scenario("book by code, locked", "PUT", BY_CODE, 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500, locked=True)
    response = book_by_code(api)
    assert response.get_json()["action"] == "locked"
    assert api.build.balance(CODE) == 500
    return response


@scenario("book by code, unknown code", "PUT", BY_CODE, 404)
def _(api: Api) -> TestResponse:
    return book_by_code(api)


@scenario("book by code, invalid code", "PUT", BY_CODE, 400)
def _(api: Api) -> TestResponse:
    return api.call("PUT", "/person/12345678901/transaktion", json=BOOKING)


@scenario("book by code, body not JSON", "PUT", BY_CODE, 400)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    return book_by_code(api, json=None, data="beschreibung=Theke")


@scenario("book by code, body a JSON list", "PUT", BY_CODE, 400)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    return book_by_code(api, json=["Theke"])


@scenario("book by code, beschreibung missing", "PUT", BY_CODE, 400)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    return book_by_code(api, json={})


@scenario("book by code, beschreibung not a string", "PUT", BY_CODE, 400)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    return book_by_code(api, json={"beschreibung": 7})


@scenario("book by code, beschreibung too long", "PUT", BY_CODE, 400)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    return book_by_code(api, json={"beschreibung": "x" * (ledger.MAX_DESCRIPTION_LENGTH + 1)})


@scenario("book by code, body too large", "PUT", BY_CODE, 413)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    response = book_by_code(api, json={"beschreibung": "x" * MAX_BODY})
    assert api.build.balance(CODE) == 500
    return response


@scenario("book by code without key", "PUT", BY_CODE, 401)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    return book_by_code(api, scope=None)


@scenario("book by code, idempotent replay", "PUT", BY_CODE, 200)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    first = book_by_code(api, headers={"Idempotency-Key": "tap-1"})
    again = book_by_code(api, headers={"Idempotency-Key": "tap-1"})
    assert again.get_json() == first.get_json()
    assert api.build.balance(CODE) == 400
    return again


@scenario("book by code, replay of an unknown code", "PUT", BY_CODE, 404)
def _(api: Api) -> TestResponse:
    book_by_code(api, headers={"Idempotency-Key": "tap-1"})
    return book_by_code(api, headers={"Idempotency-Key": "tap-1"})


@scenario("book by code, key reused with another body", "PUT", BY_CODE, 422)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    assert book_by_code(api, headers={"Idempotency-Key": "tap-1"}).status_code == 200
    response = book_by_code(
        api, headers={"Idempotency-Key": "tap-1"}, json={"beschreibung": "Kasse Halle"}
    )
    assert api.build.balance(CODE) == 400
    return response


@scenario("book by code, invalid Idempotency-Key", "PUT", BY_CODE, 400)
def _(api: Api) -> TestResponse:
    api.build.member(code=CODE, balance_cents=500)
    return book_by_code(api, headers={"Idempotency-Key": "k" * 256})


# booking by NFC token

NFC = "/nfc-transaktion"


def book_by_token(api: Api, token: bytes = TOKEN, **kwargs: Any) -> TestResponse:
    kwargs.setdefault("json", {"token": b64(token), "beschreibung": "Kasse Theke"})
    return api.call("PUT", NFC, **kwargs)


def member_with_token(api: Api, **kwargs: Any) -> None:
    member = api.build.member(code=CODE, first_name="Anna", **kwargs)
    api.build.token(member, TOKEN)


@scenario("book by token", "PUT", NFC, 200)
def _(api: Api) -> TestResponse:
    member_with_token(api, balance_cents=550)
    response = book_by_token(api)
    assert response.get_json()["saldo"] == 4.5
    assert api.build.balance(CODE) == 450
    return response


@scenario("book by token, blocked", "PUT", NFC, 200)
def _(api: Api) -> TestResponse:
    member_with_token(api)
    response = book_by_token(api)
    assert response.get_json()["action"] == "block"
    return response


@scenario("book by token, locked", "PUT", NFC, 403)
def _(api: Api) -> TestResponse:
    member_with_token(api, balance_cents=500, locked=True)
    response = book_by_token(api)
    assert "Anna" in response.get_json()["error"]
    assert api.build.balance(CODE) == 500
    return response


@scenario("book by token, unknown token", "PUT", NFC, 404)
def _(api: Api) -> TestResponse:
    member_with_token(api, balance_cents=500)
    return book_by_token(api, token=b"\x01\x02\x03\x04\x05\x06\x07")


@scenario("book by token, token not base64", "PUT", NFC, 400)
def _(api: Api) -> TestResponse:
    return book_by_token(api, json={"token": "nicht base64!", "beschreibung": "Theke"})


@scenario("book by token, token too long", "PUT", NFC, 400)
def _(api: Api) -> TestResponse:
    return book_by_token(api, json={"token": b64(bytes(33)), "beschreibung": "Theke"})


@scenario("book by token, token not a string", "PUT", NFC, 400)
def _(api: Api) -> TestResponse:
    return book_by_token(api, json={"token": 1234, "beschreibung": "Theke"})


@scenario("book by token, token missing", "PUT", NFC, 400)
def _(api: Api) -> TestResponse:
    return book_by_token(api, json={"beschreibung": "Theke"})


@scenario("book by token, beschreibung missing", "PUT", NFC, 400)
def _(api: Api) -> TestResponse:
    return book_by_token(api, json={"token": b64(TOKEN)})


@scenario("book by token, body not JSON", "PUT", NFC, 400)
def _(api: Api) -> TestResponse:
    return book_by_token(api, json=None, data=b"\xff\xfe")


@scenario("book by token, body too large", "PUT", NFC, 413)
def _(api: Api) -> TestResponse:
    member_with_token(api, balance_cents=500)
    body = {"token": b64(TOKEN), "beschreibung": "x", "padding": "x" * MAX_BODY}
    response = book_by_token(api, json=body)
    assert api.build.balance(CODE) == 500
    return response


@scenario("book by token without key", "PUT", NFC, 401)
def _(api: Api) -> TestResponse:
    return book_by_token(api, scope=None)


@scenario("book by token, idempotent replay", "PUT", NFC, 200)
def _(api: Api) -> TestResponse:
    member_with_token(api, balance_cents=500)
    first = book_by_token(api, headers={"Idempotency-Key": "nfc-1"})
    again = book_by_token(api, headers={"Idempotency-Key": "nfc-1"})
    assert again.get_json() == first.get_json()
    assert api.build.balance(CODE) == 400
    return again


@scenario("book by token, replay of a locked answer", "PUT", NFC, 403)
def _(api: Api) -> TestResponse:
    member_with_token(api, balance_cents=500, locked=True)
    book_by_token(api, headers={"Idempotency-Key": "nfc-1"})
    return book_by_token(api, headers={"Idempotency-Key": "nfc-1"})


@scenario("book by token, key reused with another body", "PUT", NFC, 422)
def _(api: Api) -> TestResponse:
    member_with_token(api, balance_cents=500)
    assert book_by_token(api, headers={"Idempotency-Key": "nfc-1"}).status_code == 200
    other = {"token": b64(TOKEN), "beschreibung": "Kasse Halle"}
    response = book_by_token(api, headers={"Idempotency-Key": "nfc-1"}, json=other)
    assert api.build.balance(CODE) == 400
    return response


def matched_operation(app: Flask, response: TestResponse) -> tuple[str, str]:
    request = response.request
    rule, _args = app.url_map.bind("localhost").match(
        request.path, method=request.method, return_rule=True
    )
    return request.method, openapi_path(rule.rule)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_real_answer_is_documented(name: str, app: Flask, client, build, doc: Document):
    case = SCENARIOS[name]
    response = case.run(Api(client, build, {}))
    assert matched_operation(app, response) == (case.method, case.path)
    assert response.status_code == case.status, response.get_data(as_text=True)
    doc.check_answer(case.method, case.path, response)


def test_database_outage_answers_are_documented(
    config: dict[str, object], tmp_path: Path, doc: Document
):
    """With the database unreachable every keyed endpoint answers 503, as documented."""
    broken = create_app({**config, "DATABASE_URL": f"sqlite:///{tmp_path}"})  # a directory
    try:
        client = broken.test_client()
        checked = 0
        for method, path, op in operations(doc.spec):
            if op["x-fvh-scope"] == "public":
                continue
            response = client.open(
                PREFIX + path.replace("{code}", CODE),
                method=method,
                headers={"X-API-Key": "fvh_any"},
                json={"beschreibung": "Theke", "token": b64(TOKEN)},
            )
            assert response.status_code == 503, f"{method} {path}: {response.status_code}"
            doc.check_answer(method, path, response)
            checked += 1
        assert checked == len(list(operations(doc.spec))) - 1
    finally:
        broken.extensions["fvh_db"].dispose()


# Outcomes a test cannot provoke on purpose: an unexpected database error (500), and a
# retry that arrives while the first request with the same Idempotency-Key is still running.
UNPROVOKABLE = {
    ("PUT", "/person/{code}/transaktion", 409),
    ("PUT", "/nfc-transaktion", 409),
}


def test_every_documented_outcome_is_provoked(doc: Document):
    provoked = {(s.method, s.path, s.status) for s in SCENARIOS.values()}
    provoked |= {(m, p, 503) for m, p, op in operations(doc.spec) if op["x-fvh-scope"] != "public"}
    documented = {
        (method, path, int(status))
        for method, path, op in operations(doc.spec)
        for status in op["responses"]
        if status != "500"
    }
    assert provoked <= documented, sorted(provoked - documented)
    assert documented - provoked == UNPROVOKABLE


def test_validation_rejects_answers_that_break_the_document(doc: Document):
    """The checks above can fail: wrong types, missing or extra fields are refused."""
    _, pointer = doc.response("PUT", BY_CODE, 200)
    validator = doc.validator(pointer)
    booked = {"message": "Danke", "saldo": 4.5, "vorname": "Anna"}
    assert validator.is_valid(booked)
    assert validator.is_valid({"message": "Gesperrt", "action": "locked"})
    for wrong in (
        {**booked, "saldo": "4.5"},
        {**booked, "saldo": True},
        {"message": "Danke", "saldo": 4},
        {**booked, "extra": 1},
        {"message": "x", "action": "refused"},
        {"error": "x"},
    ):
        assert not validator.is_valid(wrong), wrong
    _, pointer = doc.response("PUT", NFC, 200)
    assert not doc.validator(pointer).is_valid({"message": "x", "action": "locked"})
    _, pointer = doc.response("GET", "/transaktionen", 200)
    entry = {
        "id": 1,
        "code": CODE,
        "nachname": "A",
        "vorname": "B",
        "beschreibung": "",
        "saldo_aenderung": -1,
        "timestamp": "2024-05-01T18:30:00Z",
        "storno_von": None,
    }
    assert doc.validator(pointer).is_valid([entry])
    assert not doc.validator(pointer).is_valid([{**entry, "timestamp": "2024-05-01 18:30"}])
    assert not doc.validator(pointer).is_valid([{**entry, "code": "１２３４５６７８９０"}])
    _, pointer = doc.response("GET", "/health-protected", 401)
    with pytest.raises(ValidationError):
        doc.validator(pointer).validate({"message": "API-Key fehlt"})


def test_create_person_refuses_codes_outside_the_documented_pattern(client, build):
    api = Api(client, build, {})
    for code in ("１２３４５６７８９０", "1234567890\n"):
        response = api.call("POST", "/person", scope=ADMIN, json={**NEW_PERSON, "code": code})
        assert response.status_code == 400, code


# --- (c) and (d): the docs page and the document are public and local ---------------------


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.spec_url: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        for name in ("src", "href", "data-spec-url", "action", "srcset", "poster"):
            if values.get(name):
                self.urls.append(values[name] or "")
        if values.get("data-spec-url"):
            self.spec_url = values["data-spec-url"]
        if tag == "script":
            self._in_script = True
            self.scripts.append(values.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def fetch(client: FlaskClient, url: str) -> tuple[int, str, bytes]:
    """GET a (file) response and close it: static files are streamed from an open file."""
    with client.get(url) as response:
        return response.status_code, response.mimetype, response.get_data()


def test_docs_page_uses_only_local_assets(client: FlaskClient):
    response = client.get(f"{PREFIX}/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert not re.search(r"(?i)https?://", html), html
    page = _Assets()
    page.feed(html)
    assert page.inline == [], "inline script"
    assert page.handlers == [], "inline event handler"
    assert page.scripts and all(page.scripts), "every script must come from a file"
    assert any(u.endswith(".css") for u in page.urls)
    for url in page.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        status, _mimetype, body = fetch(client, url)
        assert status == 200, url
        assert body, url
    assert page.spec_url == f"{PREFIX}/openapi.json"
    for src in page.scripts:
        assert fetch(client, src)[1] == "text/javascript", src
    init = next(src for src in page.scripts if src.endswith("/init.js"))
    init_js = fetch(client, init)[2].decode()
    assert re.search(r"validatorUrl:\s*null", init_js), "Swagger UI must not call its validator"
    assert "data-spec-url" in init_js


def test_docs_assets_are_vendored_with_version_and_license(client: FlaskClient):
    status, _, version = fetch(client, f"{PREFIX}/docs/static/VERSION")
    assert status == 200
    number = re.match(rb"swagger-ui-dist (\d+)\.\d+\.\d+\n", version)
    assert number, version
    assert number.group(1) == b"5"
    assert b"Apache License" in fetch(client, f"{PREFIX}/docs/static/LICENSE")[2]
    assert fetch(client, f"{PREFIX}/docs/static/no-such-file.js")[0] == 404
    assert fetch(client, f"{PREFIX}/docs/static/../openapi.py")[0] == 404


def test_document_and_docs_need_no_key(client: FlaskClient):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["openapi"].startswith("3.")
    assert client.get(f"{PREFIX}/docs").status_code == 200
    # a wrong key does not matter either, while a keyed endpoint refuses it
    assert client.get(f"{PREFIX}/openapi.json", headers={"X-API-Key": "x"}).status_code == 200
    assert client.get(f"{PREFIX}/version").status_code == 401
