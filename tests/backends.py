"""The database backend the suite runs on: SQLite (default) or a throwaway PostgreSQL cluster.

`HANDIN_TEST_DATABASE=postgresql python -m pytest -q` runs the same tests on PostgreSQL: the
session starts a cluster in a temp dir (as the `postgres` user when run as root: `initdb`
refuses root), migrates one template database, and each test gets a fresh copy of it
(`CREATE DATABASE ... TEMPLATE`, a file copy); the cluster is removed at the end. The server's
binaries come from PATH or /usr/lib/postgresql/*/bin (`HANDIN_PG_BIN` overrides).
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg

from storage.connect import connect_database
from storage.db import Database
from storage.migrate import migrate

BACKEND = os.environ.get("HANDIN_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"HANDIN_TEST_DATABASE={BACKEND!r}: use sqlite or postgresql")
ON_POSTGRESQL = BACKEND == "postgresql"

TEMPLATE = "handin_template"


def _pg_bin() -> Path:
    explicit = os.environ.get("HANDIN_PG_BIN")
    if explicit:
        return Path(explicit)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL's initdb not found (apt-get install -y postgresql)")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """A PostgreSQL server of its own in a temp dir, fast and unsafe (fsync off)."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="handin-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.sockets.mkdir()
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)
        self.started = False

    def _run(self, *argv: str) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = (
            f"-k {self.sockets} -p {self.port} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
            "start",
        )  # fmt: skip
        self.started = True
        with self._admin() as admin:
            admin.execute(f"CREATE DATABASE {TEMPLATE}")
        asyncio.run(self._migrate_template())

    async def _migrate_template(self) -> None:
        db = await connect_database(self.url(TEMPLATE), Path("unused"))
        try:
            await migrate(db)
        finally:
            await db.close()

    def stop(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def create_database(self) -> str:
        name = f"test_{os.getpid()}_{next(self._names)}"
        with self._admin() as admin:
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_cluster: PgCluster | None = None


def cluster() -> PgCluster:
    """The session's cluster, started at first use (stopped by `stop_cluster`)."""
    global _cluster
    if _cluster is None:
        _cluster = PgCluster()
        # Also when the session ends without its fixtures' teardown (an interrupted run).
        atexit.register(stop_cluster)
        try:
            _cluster.start()
        except BaseException:
            _cluster.stop()
            _cluster = None
            raise
    return _cluster


def stop_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


@asynccontextmanager
async def fresh_database(directory: Path, name: str = "handin.sqlite3") -> AsyncIterator[Database]:
    """A fresh, migrated database on the selected backend (SQLite: a file in `directory`)."""
    if not ON_POSTGRESQL:
        db: Database = await Database.open(directory / name, durable=False)
        try:
            await migrate(db)
            yield db
        finally:
            await db.close()
        return
    pg = cluster()
    database = await asyncio.to_thread(pg.create_database)
    try:
        db = await connect_database(pg.url(database), directory / name)
        try:
            yield db
        finally:
            await db.close()
    finally:
        await asyncio.to_thread(pg.drop_database, database)


async def open_test_database(directory: Path, name: str = "handin.sqlite3") -> Database:
    """`fresh_database` for callers that close it themselves (`close_test_database`)."""
    manager = fresh_database(directory, name)
    db = await manager.__aenter__()
    _open[id(db)] = manager
    return db


async def close_test_database(db: Database) -> None:
    manager = _open.pop(id(db))
    await manager.__aexit__(None, None, None)


_open: dict[int, AbstractAsyncContextManager[Database]] = {}


_at: dict[str, str] = {}


async def open_database_at(path: Path) -> Database:
    """The database that lives at `path` (SQLite: that file; PostgreSQL: a database made at
    the first call for `path`), migrated: opening it again is a restart. The caller closes it,
    and `forget_database_at` drops PostgreSQL's when the test is done with it."""
    if not ON_POSTGRESQL:
        db: Database = await Database.open(path, durable=False)
    else:
        pg = cluster()
        if str(path) not in _at:
            _at[str(path)] = await asyncio.to_thread(pg.create_database)
        db = await connect_database(pg.url(_at[str(path)]), path)
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


async def forget_database_at(path: Path) -> None:
    name = _at.pop(str(path), None)
    if name is not None:
        await asyncio.to_thread(cluster().drop_database, name)
