"""Which daemon does the work, when several point at one database and mailbox.

A landlord may run two daemons (on two servers) for fail-over. Only one may
read the mailbox and send, or two would race over the same mail. The one that
holds the lock leads; the others wait and try again every few seconds.

- PostgreSQL: a session-level advisory lock on a connection kept open for
  the daemon's life. When the leader dies, however abruptly, the server ends
  its session and the lock is free for the next try of a waiting daemon.
- SQLite: an exclusive `flock` on a file beside the database, which the
  kernel releases when the holding process dies. (SQLite is one machine, so
  this only stops a second daemon started by mistake.)

The lock is released only by the process ending or `release()`; while held,
`still_held()` checks that the session behind it is still alive, so a leader
whose database connection was cut stops leading rather than working on
without the lock.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

LEADER_LOCK = 7_246_100_002  # pg_try_advisory_lock key; MIGRATION_LOCK is ...001


class Leadership:
    """One daemon's claim to lead: `try_acquire()`, `still_held()`, `release()`."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None

    def try_acquire(self) -> bool:
        """Take the lock if no other daemon holds it; never waits."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            return self._try_postgres()
        return self._try_file()

    def still_held(self) -> bool:
        """False when the lock was lost (the database session behind it ended)."""
        if self._connection is None:
            return self._file is not None
        try:
            self._connection.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            self._drop_connection()
            return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK})
            except DBAPIError:
                pass  # the session is gone, and the lock with it
            self._drop_connection()
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _try_postgres(self) -> bool:
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}).scalar()
        except DBAPIError:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _try_file(self) -> bool:
        database = self.engine.url.database
        if not database or database == ":memory:":
            self._file = open(os.devnull)  # nothing to share: this process leads
            return True
        handle = open(f"{database}.leader-lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()  # never back into the pool: its session may hold the lock
                connection.close()
            except DBAPIError:
                pass
