"""The cluster world: three Galera nodes, one FVH server on each, seeded through node 1.

One cluster per test module (it takes about 15 s to start). The schema is made by
`fvh db upgrade` against node 1, as an operator would; members, tokens and keys are made
through the domain core on node 1 and the test waits until every node has applied them.
Checks read each node through its own `Database`.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from fvh.core import keys, ledger
from fvh.db import Database
from fvh.db.models import Member, Transaction
from tests.builders import Builder
from tests.cluster import galera
from tests.cluster.servers import Server, fvh, server_environment, start_all, total_retries

DATABASE = "fvh_galera"


@dataclass(frozen=True)
class Account:
    """A member seeded for a test: their code, their token (base64) and start balance."""

    member_id: int
    code: str
    token: str
    start_cents: int


@dataclass
class World:
    cluster: galera.Cluster
    servers: list[Server]
    databases: list[Database]  # one per node, same order as cluster.nodes
    terminal_key: str
    admin_key: str
    build: Builder
    _retries_seen: float | None = field(default=None)

    def accounts(self, count: int, balance_cents: int) -> list[Account]:
        """`count` members with a token each, on node 1, applied on every node."""
        made = []
        for _ in range(count):
            member = self.build.member(balance_cents=balance_cents)
            token = secrets.token_bytes(7)
            self.build.token(member, token)
            made.append(
                Account(member.id, member.code, base64.b64encode(token).decode(), balance_cents)
            )
        self.cluster.wait_same_position()
        return made

    def retries(self) -> float | None:
        return total_retries(self.servers)

    def balances(self, node: int, accounts: list[Account]) -> dict[str, int]:
        with self.databases[node].session() as session:
            rows = session.execute(
                select(Member.code, Member.balance_cents).where(
                    Member.id.in_([a.member_id for a in accounts])
                )
            )
            return {code: int(balance) for code, balance in rows}

    def journal(self, node: int, accounts: list[Account]) -> dict[str, tuple[int, int]]:
        """Per code: (terminal bookings, their sum) on `node`."""
        with self.databases[node].session() as session:
            rows = session.execute(
                select(Member.code, func.count(Transaction.id), func.sum(Transaction.amount_cents))
                .join(Transaction, Transaction.member_id == Member.id)
                .where(
                    Member.id.in_([a.member_id for a in accounts]),
                    Transaction.description.like("Galera %"),
                )
                .group_by(Member.code)
            )
            found = {code: (int(count), int(total)) for code, count, total in rows}
        return {a.code: found.get(a.code, (0, 0)) for a in accounts}

    def ledger_problems(self) -> dict[str, list[ledger.Mismatch]]:
        """Every node's ledger check (a balance that differs from its journal)."""
        problems = {}
        for node, database in zip(self.cluster.nodes, self.databases, strict=True):
            with database.session() as session:
                found = ledger.check(session)
            if found:
                problems[f"node{node.number}"] = found
        return problems

    def checksums(self) -> list[dict[str, int]]:
        """CHECKSUM TABLE of every table, per node, once all nodes are at the same position."""
        self.cluster.wait_same_position()
        return [self.cluster.checksums(node, DATABASE) for node in self.cluster.nodes]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reason = galera.unavailable()
    if reason:
        pytest.skip(reason)
    secret = "galera-" + uuid.uuid4().hex
    with galera.running_cluster() as cluster:
        cluster.execute(cluster.nodes[0], f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
        environments = [
            server_environment(node.url(DATABASE), cluster.root / f"fvh{node.number}", secret)
            for node in cluster.nodes
        ]
        fvh(environments[0], "db", "upgrade")
        ports = galera.free_ports(len(cluster.nodes))
        servers = [
            Server(
                f"fvh{node.number}",
                port,
                environment,
                cluster.root / f"fvh{node.number}" / "server.log",
            )
            for node, port, environment in zip(cluster.nodes, ports, environments, strict=True)
        ]
        databases = [Database(node.url(DATABASE), pool_size=2) for node in cluster.nodes]
        try:
            build = Builder(databases[0])
            terminal_key = build.api_key(keys.SCOPE_TERMINAL, client="Galera Terminal")
            admin_key = build.api_key(keys.SCOPE_ADMIN, client="Galera Admin")
            cluster.wait_same_position()
            start_all(servers)
            yield World(cluster, servers, databases, terminal_key, admin_key, build)
        finally:
            for server in servers:
                server.stop()
            for database in databases:
                database.dispose()
            if os.environ.get("FVH_GALERA_KEEP_LOGS"):
                print(f"logs kept in {os.environ['FVH_GALERA_KEEP_LOGS']}")
