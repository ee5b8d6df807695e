"""Which process sends the replies and runs the upkeep jobs when several workers share one PostgreSQL database.

One process at a time holds a PostgreSQL advisory lock on a connection it keeps open for that purpose. When the
process dies, its connection closes, PostgreSQL frees the lock, and another worker takes it over. One sender
then keeps Telegram's limits (about 30 messages a second overall, one a second per chat) and the order of each
chat's messages. Workers that do not lead learn of new replies through ``NOTIFY``, and so does the leader, so
a reply queued by any worker goes out at once. With SQLite there is a single process, and it leads.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import is_sqlite

__all__ = ["OUTBOX_CHANNEL", "Leadership"]

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x4361_7563_7573_0001  # "Caucus", 1: the one advisory lock Caucus takes
OUTBOX_CHANNEL = "caucus_outbox"  # NOTIFY channel: a transaction queued replies


class Leadership:
    """The advisory lock of one process (see the module's docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = is_sqlite(engine)
        self._connection: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._sqlite or self._connection is not None

    async def try_acquire(self, on_outbox: Callable[[], None]) -> bool:
        """Take the lead if nobody holds it; ``on_outbox`` is then called whenever any worker queued replies."""
        if self.held:
            return True
        connection = await self._engine.connect()
        try:
            acquired = bool(await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": _LOCK_KEY}))
            await connection.commit()  # the lock belongs to the session: no transaction is left open
            if acquired:
                raw: Any = (await connection.get_raw_connection()).driver_connection
                await raw.add_listener(OUTBOX_CHANNEL, lambda *_args: on_outbox())
        except BaseException:
            # Discarded, not pooled: a session that took the lock must not live on in the pool holding it.
            with contextlib.suppress(SQLAlchemyError, OSError):
                await connection.invalidate()
            await connection.close()
            raise
        if not acquired:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def still_held(self) -> bool:
        """Whether the lock's connection is still alive (a lost connection loses the lock)."""
        if self._sqlite:
            return True
        if self._connection is None:
            return False
        try:
            await self._connection.scalar(text("SELECT 1"))
            await self._connection.commit()
        except (SQLAlchemyError, OSError) as error:
            logger.warning("lost the lead (the database connection failed: %s)", type(error).__name__)
            await self.release()
            return False
        return True

    async def release(self) -> None:
        """Give up the lead: the lock's connection is discarded, not returned to the pool, so its session ends
        and PostgreSQL frees the lock (and drops the listener) with it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await connection.invalidate()
                await connection.close()
