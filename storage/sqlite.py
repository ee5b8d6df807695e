"""SQLite for the event loop: statements run in the loop's own thread, commits in a worker thread.

SQLAlchemy's aiosqlite dialect is given these connections (its ``async_creator``) in place of aiosqlite's. aiosqlite
runs every statement in a thread of its own and hands the result back through the event loop: under load each of
the twenty-odd statements of an update waits a full turn of the loop behind every other chat's work, while the
transaction holds SQLite's single write lock, so one update's transaction held every other one up. The statements
themselves read and write pages in memory, in microseconds; only the commit waits for the disk (its fsync), and it
runs in a worker thread with the loop free meanwhile.

Waiting never blocks the loop: the connection's busy timeout is zero and a statement refused because another
process holds the database (``SQLITE_BUSY``, in practice only the ``BEGIN IMMEDIATE`` that opens a transaction)
is tried again after an asynchronous sleep, for up to ``busy_timeout`` seconds in all.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["InlineConnection", "connector"]

_FIRST_WAIT_S = 0.002
_LONGEST_WAIT_S = 0.1


def _busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)  # an extended code: SQLITE_BUSY_RECOVERY and the like too
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class _Cursor:
    """An aiosqlite-shaped cursor over a sqlite3 cursor."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection.raw.cursor()

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> _Cursor:
        await self._connection.patiently(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> _Cursor:
        await self._connection.patiently(self._cursor.executemany, sql, list(parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def nextset(self) -> None:
        return None

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """An aiosqlite-shaped connection whose statements run at once, in the calling (event loop's) thread."""

    def __init__(self, raw: sqlite3.Connection, busy_timeout: float) -> None:
        self.raw = raw
        # How long, in seconds, a statement waits in all while another process holds the database.
        self.busy_timeout = busy_timeout
        self._open = True

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """What SQLAlchemy's adapter looks at to tell an open connection from a closed one."""
        return self.raw if self._open else None

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    async def patiently(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)``; while another process holds the database, tried again after a sleep."""
        deadline = time.monotonic() + self.busy_timeout
        wait = _FIRST_WAIT_S
        while True:
            try:
                return call(*args)
            except sqlite3.OperationalError as error:
                if not _busy(error) or time.monotonic() + wait > deadline:
                    raise
            await asyncio.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT_S)

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    async def commit(self) -> None:
        # The fsync: in a worker thread (sqlite3 lets go of the GIL), the loop goes on meanwhile. Cancelled, the
        # caller still waits for the commit to end: the connection is never used from two threads at once.
        committing = asyncio.ensure_future(asyncio.to_thread(self.raw.commit))
        try:
            await asyncio.shield(committing)
        except asyncio.CancelledError:
            await asyncio.wait({committing})
            raise

    async def rollback(self) -> None:
        self.raw.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._open:
            self._open = False
            self.raw.close()


def connector(database: str, busy_timeout: float) -> Callable[[], Any]:
    """The ``async_creator`` of an engine on the SQLite file ``database`` (or ``:memory:``)."""

    async def connect() -> InlineConnection:
        # No transaction handling by the module (every transaction is an explicit BEGIN IMMEDIATE, see storage.db);
        # usable from the commit's worker thread; never waits inside SQLite (see `InlineConnection.patiently`).
        raw = sqlite3.connect(database, isolation_level=None, check_same_thread=False, timeout=0)
        return InlineConnection(raw, busy_timeout)

    return connect
