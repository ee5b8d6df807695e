"""Engines: SQLite (WAL, synchronous=FULL, one writer at a time) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from storage.errors import StorageError
from storage.sqlite import connector
from storage.tables import Case, IssueRow, OptionRow

__all__ = [
    "changed_cases", "create_engine", "default_sqlite_url", "insert_new", "is_sqlite", "normalise_url",
    "session_factory",
]

_BUSY_TIMEOUT_S = 30


def default_sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'caucus.sqlite3').resolve()}"


def normalise_url(url: str) -> URL:
    """Accept the usual spellings and pick the async driver."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise StorageError("not a database URL") from error
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg")
    raise StorageError(f"unsupported database backend {backend!r} (use sqlite or postgresql)")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(engine: AsyncEngine) -> None:
    # Every transaction is BEGIN IMMEDIATE: a writer waits for the write lock before it starts, instead of
    # failing with "database is locked" when a read lock would have to be upgraded.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # The connection (storage.sqlite) was opened without the module's transaction handling, and never waits
        # inside SQLite for a lock: it waits asynchronously instead.
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            "secure_delete=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str) -> AsyncEngine:
    """Create the engine for ``url``; for SQLite, create the data directory too."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.query:
            raise StorageError("a SQLite database URL takes no options (after '?')")
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, async_creator=connector(database or ":memory:", _BUSY_TIMEOUT_S))
        _configure_sqlite(engine)
        return engine
    return create_async_engine(parsed, pool_pre_ping=True)


# The rows a session keeps at most (see _HoldingSession): all of one update's, not all of a long scan's.
_HELD_ROWS = 512


class _HoldingSession(Session):
    """A session that keeps the last rows it loaded or wrote until it closes (one transaction, here).

    The identity map alone holds rows weakly: a row read by primary key and then let go was read again by the
    next ``get`` of it. Handling one update asks for its party's seat and case a dozen times, from as many places.
    """


@event.listens_for(_HoldingSession, "loaded_as_persistent")
@event.listens_for(_HoldingSession, "pending_to_persistent")
@event.listens_for(_HoldingSession, "detached_to_persistent")
@event.listens_for(_HoldingSession, "deleted_to_persistent")
def _hold(session: Session, instance: object) -> None:
    held = session.info.get("held")
    if held is None:
        held = session.info["held"] = collections.deque(maxlen=_HELD_ROWS)
    held.append(instance)


@event.listens_for(_HoldingSession, "before_flush")
def _note_changed_cases(session: Session, _context: object, _instances: object) -> None:
    """Remember which cases this session changed: their row, or one of their issues or options."""
    changed = session.info.setdefault("changed_cases", set())
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Case):
            changed.add(instance.id)
        elif isinstance(instance, IssueRow | OptionRow):
            changed.add(instance.case_id)


def changed_cases(session: AsyncSession) -> set[str]:
    """The cases this session changed so far (flushed; see `_note_changed_cases`)."""
    return session.info.get("changed_cases") or set()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=_HoldingSession)


_INSERTS_NEW: dict[tuple[str, type[Any]], Insert] = {}


async def insert_new(session: AsyncSession, model: type[Any], **values: Any) -> int:
    """INSERT of one row that does nothing when a unique key already holds it (ON CONFLICT DO NOTHING, as SQLite
    and PostgreSQL both say it): one statement where a look-up and an insert, or a savepoint, would be three.
    Returns how many rows it inserted (0: the row was there). The statement is built once per table."""
    dialect = session.get_bind().dialect.name
    statement = _INSERTS_NEW.get((dialect, model))
    if statement is None:
        table = model.__table__
        statement = (sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)).on_conflict_do_nothing()
        _INSERTS_NEW[(dialect, model)] = statement
    result = await session.execute(statement, values)
    return int(getattr(result, "rowcount", 0) or 0)
