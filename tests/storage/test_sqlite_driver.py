"""SQLite in the event loop (storage.sqlite): waiting for another process's lock never stops the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from storage.db import create_engine
from storage.errors import StorageError


async def _ticks(stop: asyncio.Event) -> int:
    """How many 10 ms sleeps the loop completed until ``stop``: the loop's freedom meanwhile."""
    count = 0
    while not stop.is_set():
        await asyncio.sleep(0.01)
        count += 1
    return count


async def test_a_transaction_waits_for_another_process_with_the_loop_free(tmp_path: Path) -> None:
    path = tmp_path / "caucus.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (v INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing

        async def write() -> float:
            started = time.monotonic()
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (1)"))
            return time.monotonic() - started

        stop = asyncio.Event()
        ticker = asyncio.create_task(_ticks(stop))
        writer = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        assert not writer.done()  # still waiting for the lock
        other.execute("COMMIT")
        waited = await asyncio.wait_for(writer, 5)
        stop.set()
        # About 50 ticks of 10 ms in the half second: the wait did not hold the loop (a blocking busy handler
        # would have let none through).
        assert await ticker >= 25
        assert waited >= 0.5
        assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
        other.close()
    finally:
        await engine.dispose()


async def test_a_transaction_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "caucus.sqlite3"
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def patience(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.driver_connection.busy_timeout = 0.3  # type: ignore[attr-defined]

    async with engine.begin() as connection:  # the connection is opened and set up before the lock is taken
        await connection.execute(text("SELECT 1"))
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            async with engine.begin() as connection:
                await connection.execute(text("SELECT 1"))
        assert 0.2 <= time.monotonic() - started < 2
    finally:
        other.close()
        await engine.dispose()


async def test_a_statement_error_is_the_usual_sqlalchemy_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'caucus.sqlite3'}")
    try:
        with pytest.raises(OperationalError, match="no such table"):
            async with engine.begin() as connection:
                await connection.execute(text("SELECT * FROM missing"))
        async with engine.begin() as connection:  # the connection went back to the pool usable
            assert (await connection.execute(text("SELECT 41 + 1"))).scalar() == 42
    finally:
        await engine.dispose()


def test_a_sqlite_url_with_options_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no options"):
        create_engine(f"sqlite:///{tmp_path / 'caucus.sqlite3'}?timeout=5")
