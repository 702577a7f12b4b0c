"""The database a test's landlord uses: SQLite by default, or a real PostgreSQL.

`scripts/test` runs the whole suite twice: once on SQLite (the embedded
default) and once with MAILCOMPLAINTS_TEST_DATABASE=postgresql, when every
landlord a test makes gets a fresh database on one throw-away PostgreSQL
cluster started for the run. Tests ask `database_url(folder)` and never
assume which.

A fresh PostgreSQL database is a copy of a template that was migrated once
(CREATE DATABASE ... TEMPLATE), so the second pass does not pay for the
migrations again in every test.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BACKEND = os.environ.get("MAILCOMPLAINTS_TEST_DATABASE", "sqlite").lower()
if BACKEND not in ("sqlite", "postgresql"):
    raise SystemExit(f"MAILCOMPLAINTS_TEST_DATABASE is {BACKEND!r}; use sqlite or postgresql")


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def postgres_available() -> bool:
    return _pg_bin() is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1, trust authentication,
    in a temporary folder (pytest's tmp_path is not reachable by the
    postgres user, whom initdb must run as when we are root)."""

    TEMPLATE = "mailcomplaints_template"

    def __init__(self) -> None:
        pg = _pg_bin()
        if pg is None:
            raise RuntimeError("PostgreSQL is not installed (scripts/setup test installs it)")
        self.bin = pg
        self.folder = Path(tempfile.mkdtemp(prefix="mailcomplaints-pg-"))
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.port = _free_port()
        self._names = itertools.count(1)
        self._template_ready = False

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> Postgres:
        if self.run_as:
            shutil.chown(self.folder, "postgres")
        data = self.folder / "data"
        subprocess.run([*self.run_as, str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)
        # fsync off: a test cluster need not survive a power cut, and the suite runs twice as fast
        options = f"-k {self.folder} -c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off -c max_connections=200"
        subprocess.run([*self.run_as, str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"),
                        "-o", options, "-w", "start"], check=True, capture_output=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}")

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.folder / "log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def execute(self, sql: str) -> None:
        """One statement outside a transaction (CREATE DATABASE needs that)."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(sql)

    def fresh_database(self, migrated: bool = True) -> str:
        """The URL of a new, empty database (schema at head unless `migrated` is false)."""
        name = f"landlord_{next(self._names)}"
        if migrated:
            self._make_template()
            self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.TEMPLATE}"')
        else:
            self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _make_template(self) -> None:
        if self._template_ready:
            return
        from mailcomplaints.store.database import Database

        self.execute(f'CREATE DATABASE "{self.TEMPLATE}"')
        Database(self.url(self.TEMPLATE)).close()  # migrated to head, then no connection left open
        self._template_ready = True


_server: Postgres | None = None


def shared_postgres() -> Postgres:
    """The run's one PostgreSQL cluster, started on first use (stopped by conftest)."""
    global _server
    if _server is None:
        _server = Postgres().start()
    return _server


def stop_shared_postgres() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def database_url(folder: Path) -> str:
    """Where a landlord in `folder` keeps its data on this run's database."""
    if BACKEND == "postgresql":
        return shared_postgres().fresh_database()
    return f"sqlite:///{folder / 'db.sqlite'}"


def rows(url: str, sql: str) -> list[tuple]:
    """Rows straight from a database by its URL, SQLite or PostgreSQL, for
    tests that check what was stored rather than what a command prints."""
    from sqlalchemy import text

    from mailcomplaints.store.database import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()
