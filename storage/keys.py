"""Master keys over the stored data keys: which master key wraps how many, and rotation.

Rotation never re-encrypts a field: each live data key is unwrapped with whichever configured
master key wraps it and wrapped again under the primary. Every batch is its own transaction
(rows locked ``FOR UPDATE`` on PostgreSQL; on SQLite every transaction is ``BEGIN IMMEDIATE``,
so writers are serialised anyway), which makes rotation resumable: interrupted, it loses
nothing, and running it again re-wraps only what is left. A destroyed data key (``wrapped``
NULL) is skipped and stays destroyed, even if it is destroyed while rotation runs.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.crypto import KeyRing, MasterKey
from storage.db import is_sqlite, session_factory
from storage.errors import UnknownMasterKeyError
from storage.tables import DataKey

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "KeyRole",
    "KeyUsage",
    "MasterKeyUse",
    "RotationResult",
    "key_usage",
    "master_key_uses",
    "read_key_usage",
    "require_configured_master_keys",
    "rotate_master_key",
    "write_master_key_file",
]

DEFAULT_BATCH_SIZE = 200


class KeyRole(StrEnum):
    """What the configuration makes of a master key id found in the database."""

    PRIMARY = "primary"  # wraps new data keys
    OLD = "old"  # configured for unwrapping only
    NOT_CONFIGURED = "not configured"  # its data keys cannot be read


@dataclass(frozen=True)
class KeyUsage:
    """How many live data keys each master key id wraps, and how many data keys were destroyed."""

    live: Mapping[str, int]
    destroyed: int


@dataclass(frozen=True)
class MasterKeyUse:
    """One master key id seen from the configuration: its role and how many live data keys it wraps."""

    key_id: str
    role: KeyRole
    data_keys: int

    @property
    def retirable(self) -> bool:
        """An old key that wraps nothing any more can be removed from the configuration."""
        return self.role is KeyRole.OLD and self.data_keys == 0


@dataclass(frozen=True)
class RotationResult:
    """What a rotation did (counts and ids only): the place to record a "key rotated" audit event."""

    primary_key_id: str
    rewrapped: int
    batches: int
    usage: KeyUsage  # after the rotation


async def key_usage(session: AsyncSession) -> KeyUsage:
    live = await session.execute(
        select(DataKey.kek_id, func.count()).where(DataKey.wrapped.is_not(None)).group_by(DataKey.kek_id)
    )
    destroyed = await session.scalar(select(func.count()).select_from(DataKey).where(DataKey.wrapped.is_(None)))
    return KeyUsage({kek_id: int(count) for kek_id, count in live}, destroyed or 0)


async def read_key_usage(engine: AsyncEngine) -> KeyUsage:
    async with session_factory(engine)() as session, session.begin():
        return await key_usage(session)


def master_key_uses(usage: KeyUsage, ring: KeyRing) -> list[MasterKeyUse]:
    """The primary first, then the old keys, then ids found in the database but not configured."""
    primary = ring.primary.key_id
    uses = [MasterKeyUse(primary, KeyRole.PRIMARY, usage.live.get(primary, 0))]
    old = sorted(ring.key_ids - {primary})
    uses += [MasterKeyUse(key_id, KeyRole.OLD, usage.live.get(key_id, 0)) for key_id in old]
    uses += [MasterKeyUse(key_id, KeyRole.NOT_CONFIGURED, count)
             for key_id, count in sorted(usage.live.items()) if key_id not in ring.key_ids]
    return uses


async def require_configured_master_keys(session: AsyncSession, ring: KeyRing) -> None:
    """Refuse to go on when a live data key is wrapped under a master key that is not configured.

    Without this the first read of such a key would fail at some later, random moment.
    """
    missing = [use for use in master_key_uses(await key_usage(session), ring) if use.role is KeyRole.NOT_CONFIGURED]
    if missing:
        which = "; ".join(f"{use.data_keys} data key{'' if use.data_keys == 1 else 's'} under master key {use.key_id}"
                          for use in missing)
        raise UnknownMasterKeyError(f"the database holds data keys wrapped under a master key that is not "
                                    f"configured ({which})")


async def rotate_master_key(
    engine: AsyncEngine,
    ring: KeyRing,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pause: float = 0.0,
    on_batch: Callable[[int], object] | None = None,
) -> RotationResult:
    """Re-wrap every live data key not yet under the primary master key, ``batch_size`` per transaction.

    ``on_batch`` is called with the running total after each committed batch; ``pause`` seconds
    between batches leave room for a busy bot's transactions. Idempotent: with nothing left to
    re-wrap it changes nothing.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await require_configured_master_keys(session, ring)
    total = batches = 0
    while True:
        async with sessions() as session, session.begin():
            count = await _rewrap_batch(session, ring, batch_size, lock=not is_sqlite(engine))
        if not count:
            break
        total, batches = total + count, batches + 1
        if on_batch is not None:
            on_batch(total)
        if pause:
            await asyncio.sleep(pause)
    return RotationResult(ring.primary.key_id, total, batches, await read_key_usage(engine))


async def _rewrap_batch(session: AsyncSession, ring: KeyRing, batch_size: int, *, lock: bool) -> int:
    statement = (
        select(DataKey.id, DataKey.scope, DataKey.kek_id, DataKey.wrapped)
        .where(DataKey.wrapped.is_not(None), DataKey.kek_id != ring.primary.key_id)
        .order_by(DataKey.id)
        .limit(batch_size)
    )
    if lock:
        statement = statement.with_for_update()
    rows = (await session.execute(statement)).all()
    for key_id, scope, kek_id, wrapped in rows:
        assert wrapped is not None  # noqa: S101 - selected so
        owner = f"{scope}|{key_id}"  # what the repository binds each wrap to
        new_kek_id, rewrapped = ring.wrap(ring.unwrap(kek_id, wrapped, owner), owner)
        # The conditions repeat what the lock guarantees: a key destroyed meanwhile is never brought back.
        await session.execute(
            update(DataKey)
            .where(DataKey.id == key_id, DataKey.kek_id == kek_id, DataKey.wrapped.is_not(None))
            .values(kek_id=new_kek_id, wrapped=rewrapped)
        )
    return len(rows)


def write_master_key_file(path: Path, key: MasterKey) -> None:
    """Write the key (base64) to a new file only its owner can read; never overwrite (FileExistsError).

    Created with mode 0600 by ``open`` itself, so the key is never readable by others, even briefly.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write((key.to_base64() + "\n").encode("ascii"))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        path.unlink(missing_ok=True)  # a half-written key file must not be mistaken for a key
        raise
