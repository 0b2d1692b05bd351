"""A throwaway MariaDB Galera cluster on 127.0.0.1: three `mariadbd` of our own.

Each node has its own folder under one temporary directory (datadir made by
`mariadb-install-db`, its option file, unix socket, error log) and its own four ports: SQL,
group communication (gcomm), incremental state transfer (IST) and rsync state transfer
(SST). The ports are picked free below the kernel's ephemeral range, so the many outgoing
connections of a load test cannot take one of them, and away from the shared server's 3306.
The first node bootstraps the cluster (`--wsrep-new-cluster`), the others join it by state
transfer. Every wait is bounded, and `running_cluster` kills every process and removes the
directory however the block ends. Used by tests/cluster/ and benchmarks/galera.py.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import mysql.connector

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
MARIADBD = Path("/usr/sbin/mariadbd")
NODES = 3
# Below the ephemeral range (32768-60999 on Linux) and above the usual services.
PORT_RANGE = (20000, 32000)
START_TIMEOUT = 120.0  # seconds for a node to be Synced (an SST included)


def unavailable() -> str | None:
    """Why this machine cannot run the cluster, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "Galera test cluster needs Linux"
    missing = [str(path) for path in (PROVIDER, MARIADBD) if not path.exists()] + [
        tool for tool in ("mariadb-install-db", "rsync") if shutil.which(tool) is None
    ]
    if missing:
        return f"Galera not installed ({', '.join(missing)} missing): sh installation/ci-prereqs.sh"
    return None


def free_ports(count: int) -> list[int]:
    """`count` distinct ports that nothing listens on right now (checked by binding)."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(*PORT_RANGE)
        if port in chosen or port == 3306:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
    return chosen


@dataclass
class Node:
    """One `mariadbd` of the cluster: its folder, its ports and, while it runs, its process."""

    number: int
    folder: Path
    sql_port: int
    gcomm_port: int
    ist_port: int
    sst_port: int
    process: subprocess.Popen | None = None

    @property
    def datadir(self) -> Path:
        return self.folder / "data"

    @property
    def tmpdir(self) -> Path:
        return self.folder / "tmp"

    @property
    def option_file(self) -> Path:
        return self.folder / "my.cnf"

    @property
    def error_log(self) -> Path:
        return self.folder / "error.log"

    @property
    def socket(self) -> Path:
        return self.folder / "mysqld.sock"

    def url(self, database: str = "") -> str:
        """The SQLAlchemy URL of `database` on this node, as FVH is configured with it."""
        return f"mysql+mysqlconnector://root@127.0.0.1:{self.sql_port}/{database}?charset=utf8mb4"

    def connect(self, database: str | None = None, timeout: int = 5) -> object:
        """A plain driver connection (autocommit), for status queries and checks."""
        return mysql.connector.connect(
            host="127.0.0.1",
            port=self.sql_port,
            user="root",
            database=database,
            connection_timeout=timeout,
            autocommit=True,
        )

    def status(self) -> dict[str, str]:
        """The node's wsrep status variables (`SHOW GLOBAL STATUS LIKE 'wsrep%'`)."""
        connection = self.connect(timeout=2)
        try:
            cursor = connection.cursor()
            cursor.execute("SHOW GLOBAL STATUS LIKE 'wsrep%'")
            return {str(name): str(value) for name, value in cursor.fetchall()}
        finally:
            connection.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no error log)"


@dataclass
class Cluster:
    """Three nodes in `root`; start(), kill(node), restart(node), stop()."""

    root: Path
    nodes: list[Node] = field(default_factory=list)
    run_as: str | None = None  # "mysql" when we are root
    options: dict[str, object] = field(default_factory=dict)  # over the defaults below

    @classmethod
    def create(
        cls, root: Path, size: int = NODES, options: dict[str, object] | None = None
    ) -> Cluster:
        ports = free_ports(4 * size)
        run_as = "mysql" if os.geteuid() == 0 else None
        nodes = [Node(i + 1, root / f"node{i + 1}", *ports[4 * i : 4 * i + 4]) for i in range(size)]
        return cls(root, nodes, run_as, dict(options or {}))

    @property
    def address(self) -> str:
        return "gcomm://" + ",".join(f"127.0.0.1:{node.gcomm_port}" for node in self.nodes)

    def _chown(self, path: Path) -> None:
        if self.run_as is None:
            return
        user = pwd.getpwnam(self.run_as)
        for folder, dirs, files in os.walk(path):
            os.chown(folder, user.pw_uid, user.pw_gid)
            for name in dirs + files:
                os.chown(os.path.join(folder, name), user.pw_uid, user.pw_gid)

    def _write_options(self, node: Node) -> None:
        provider_options = ";".join(
            [
                "base_host=127.0.0.1",
                f"gmcast.listen_addr=tcp://127.0.0.1:{node.gcomm_port}",
                f"base_port={node.gcomm_port}",
                f"ist.recv_addr=127.0.0.1:{node.ist_port}",
                "gcache.size=64M",
            ]
        )
        options = {
            "datadir": node.datadir,
            # Its own: a starting mariadbd deletes every "#sql*" file in its tmpdir, which in
            # /tmp would be the temporary tables of the shared server and of other nodes.
            "tmpdir": node.tmpdir,
            "socket": node.socket,
            "port": node.sql_port,
            "bind-address": "127.0.0.1",
            "pid-file": node.folder / "mysqld.pid",
            "log-error": node.error_log,
            "skip-name-resolve": "ON",
            "performance_schema": "OFF",
            "max_connections": 300,
            "innodb_buffer_pool_size": "64M",
            "innodb_log_file_size": "32M",
            # The process dies, not the machine: what reached the OS survives a kill -9.
            "innodb_flush_log_at_trx_commit": 2,
            "binlog_format": "ROW",
            "default_storage_engine": "InnoDB",
            "innodb_autoinc_lock_mode": 2,
            "wsrep_on": "ON",
            "wsrep_provider": PROVIDER,
            "wsrep_cluster_name": f"fvh-test-{os.getpid()}",
            "wsrep_cluster_address": self.address,
            "wsrep_node_name": f"node{node.number}",
            "wsrep_node_address": "127.0.0.1",
            "wsrep_node_incoming_address": f"127.0.0.1:{node.sql_port}",
            "wsrep_provider_options": f'"{provider_options}"',
            "wsrep_sst_method": "rsync",
            "wsrep_sst_receive_address": f"127.0.0.1:{node.sst_port}",
        }
        options.update(self.options)
        lines = ["[mysqld]", *(f"{name}={value}" for name, value in options.items())]
        node.option_file.write_text("\n".join(lines) + "\n")

    def _initialise(self, node: Node) -> None:
        node.folder.mkdir(parents=True)
        node.tmpdir.mkdir()
        self._write_options(node)
        self._chown(node.folder)
        user = ["--user=" + self.run_as] if self.run_as else []
        result = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                *user,
                f"--datadir={node.datadir}",
                f"--tmpdir={node.tmpdir}",
                "--auth-root-authentication-method=normal",  # root@127.0.0.1 without password
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db (node{node.number}) failed:\n{result.stdout}\n{result.stderr}"
            )

    def start(self) -> None:
        """Initialise every node, bootstrap the first, join the others; wait for size 3."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)
        for node in self.nodes:
            self._initialise(node)
        first, *others = self.nodes
        self._launch(first, bootstrap=True)
        self.wait_synced(first, size=1)
        for joined, node in enumerate(others, start=2):
            self._launch(node)
            self.wait_synced(node, size=joined)  # one joiner at a time: one rsync at a time
        for node in self.nodes:
            self.wait_synced(node, size=len(self.nodes))

    def _launch(self, node: Node, *, bootstrap: bool = False) -> None:
        user = ["--user=" + self.run_as] if self.run_as else []
        command = [str(MARIADBD), f"--defaults-file={node.option_file}", *user]
        if bootstrap:
            command.append("--wsrep-new-cluster")
        with open(node.folder / "stdout.log", "ab") as output:
            node.process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its SST helpers are in its group: killed together
            )

    def wait_synced(self, node: Node, size: int | None = None, timeout: float = START_TIMEOUT):
        """Wait until `node` is ready and Synced (and the cluster has `size` members)."""
        size = size or len(self.nodes)
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                raise RuntimeError(
                    f"node{node.number} exited with {node.process.returncode}:\n{node.log_tail()}"
                )
            try:
                status = node.status()
            except mysql.connector.Error as exc:
                last = exc
            else:
                last = {k: status.get(k) for k in ("wsrep_ready", "wsrep_cluster_size")}
                if (
                    status.get("wsrep_ready") == "ON"
                    and status.get("wsrep_local_state_comment") == "Synced"
                    and status.get("wsrep_cluster_size") == str(size)
                ):
                    return status
            time.sleep(0.3)
        raise TimeoutError(
            f"node{node.number} not Synced in a cluster of {size} after {timeout:.0f} s "
            f"(last: {last}):\n{node.log_tail()}"
        )

    def kill(self, node: Node) -> None:
        """kill -9 of the node's mariadbd, as a crash would end it."""
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=30)
        _kill_group(node.process)  # an SST helper it may have left

    def restart(self, node: Node) -> None:
        """Start a stopped node again; it rejoins the others (IST or SST)."""
        self._launch(node)

    def stop(self) -> None:
        """Kill every node and its helpers; the data is thrown away anyway."""
        for node in self.nodes:
            if node.process is not None:
                _kill_group(node.process)
                with suppress(subprocess.TimeoutExpired):
                    node.process.wait(timeout=30)

    def wait_same_position(self, timeout: float = 60.0) -> int:
        """Wait until every node has applied the same last write set; return its seqno."""
        deadline = time.monotonic() + timeout
        positions: list[str] = []
        while time.monotonic() < deadline:
            positions = [node.status().get("wsrep_last_committed", "") for node in self.nodes]
            if len(set(positions)) == 1:
                time.sleep(0.5)  # and stays so: nothing is still arriving
                again = [node.status().get("wsrep_last_committed", "") for node in self.nodes]
                if again == positions:
                    return int(positions[0])
            time.sleep(0.3)
        raise TimeoutError(f"nodes did not reach the same position: {positions}")

    def checksums(self, node: Node, database: str) -> dict[str, int]:
        """CHECKSUM TABLE of every table of `database` on `node`."""
        connection = node.connect(database)
        try:
            cursor = connection.cursor()
            cursor.execute("SHOW TABLES")
            tables = [str(row[0]) for row in cursor.fetchall()]
            cursor.execute("CHECKSUM TABLE " + ", ".join(f"`{name}`" for name in tables))
            return {str(name).split(".", 1)[1]: int(value) for name, value in cursor.fetchall()}
        finally:
            connection.close()

    def execute(self, node: Node, statement: str) -> None:
        connection = node.connect()
        try:
            connection.cursor().execute(statement)
        finally:
            connection.close()


def _kill_group(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def running_cluster(
    size: int = NODES, options: dict[str, object] | None = None
) -> Iterator[Cluster]:
    """A started cluster in a fresh temporary directory, torn down however the block ends."""
    root = Path(tempfile.mkdtemp(prefix="fvh-galera-"))
    cluster = Cluster(root)
    try:
        cluster = Cluster.create(root, size, options)
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        keep = os.environ.get("FVH_GALERA_KEEP_LOGS")
        if keep:
            _copy_logs(root, Path(keep))
        shutil.rmtree(root, ignore_errors=True)


def _copy_logs(root: Path, target: Path) -> None:
    """The nodes' and servers' logs, for a look after the directory is gone."""
    target = target / root.name  # one folder per cluster: xdist workers run one each
    target.mkdir(parents=True, exist_ok=True)
    for log in root.glob("*/*.log"):
        shutil.copy(log, target / f"{log.parent.name}-{log.name}")
