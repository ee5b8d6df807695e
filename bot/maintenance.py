"""The operator's commands for master keys and backups.

``caucusbot keys generate [--output FILE]``, ``keys status``, ``keys rotate``, ``backup FILE`` and
``restore FILE [--force]``. They print counts, sizes and master key ids, never a key and never
content; the one exception is ``keys generate`` without ``--output``, whose purpose is to show a key.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import ConfigError, read_database_url, read_master_key, read_old_master_keys
from storage.crypto import KeyRing, MasterKey
from storage.db import create_engine, normalise_url
from storage.keys import (
    DEFAULT_BATCH_SIZE,
    KeyRole,
    MasterKeyUse,
    master_key_uses,
    read_key_usage,
    rotate_master_key,
    write_master_key_file,
)
from storage.repository import Store

__all__ = ["COMMANDS", "MISSING_KEY_HINT", "POSTGRES_BACKUP", "add_commands", "read_key_ring", "run_command"]

COMMANDS = frozenset({"keys", "backup", "restore"})
OLD_KEY_SETTINGS = "CAUCUS_OLD_MASTER_KEYS or CAUCUS_OLD_MASTER_KEY_FILES"
MISSING_KEY_HINT = f"configure that key again in {OLD_KEY_SETTINGS}"
POSTGRES_BACKUP = """\
caucusbot backup and restore work on SQLite only: nothing was done.
With PostgreSQL, use its own tools (the dump, like the database, is readable only with the master keys):
  back up:  umask 077; pg_dump --format=custom --file=caucus.dump "postgresql://USER@HOST:5432/DATABASE"
  restore:  stop the bot, then
            pg_restore --clean --if-exists --no-owner --dbname="postgresql://USER@HOST:5432/DATABASE" caucus.dump"""

_KeyCommand = Callable[[AsyncEngine, KeyRing], Awaitable[int]]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys``, ``backup`` and ``restore`` to the ``caucusbot`` parser."""
    keys = commands.add_parser("keys", help="master keys: generate, status, rotate")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = keys_commands.add_parser("generate", help="make a new random master key (printed, or written to FILE)")
    generate.add_argument("--output", type=Path, metavar="FILE",
                          help="write the key to this new file, readable by its owner only; print only its id")
    keys_commands.add_parser("status", help="how many data keys each master key wraps; which old keys may be retired")
    rotate = keys_commands.add_parser(
        "rotate", help="re-wrap every data key under the primary master key (resumable, safe while the bot runs)")
    rotate.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help=f"data keys per transaction (default {DEFAULT_BATCH_SIZE})")
    rotate.add_argument("--pause", type=float, default=0.0, metavar="SECONDS",
                        help="wait between batches, to leave room for a busy bot (default 0)")
    backup = commands.add_parser("backup", help="copy the SQLite database to FILE, consistently, while the bot runs")
    backup.add_argument("file", type=Path, metavar="FILE", help="the backup to write (must not exist)")
    restore = commands.add_parser("restore", help="replace the SQLite database with the backup FILE (bot stopped)")
    restore.add_argument("file", type=Path, metavar="FILE", help="a backup made by caucusbot backup")
    restore.add_argument("--force", action="store_true", help="replace the existing database")


def run_command(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run one of `COMMANDS`; the exit status."""
    if args.command == "keys" and args.keys_command == "generate":
        return _generate(args.output)
    if args.command == "keys" and args.keys_command == "status":
        return asyncio.run(_with_database(env, _status))
    if args.command == "keys":
        if args.batch_size < 1 or args.pause < 0:
            raise ConfigError("keys rotate: --batch-size must be at least 1 and --pause not negative")
        return asyncio.run(_with_database(env, lambda engine, ring: _rotate(engine, ring, args.batch_size,
                                                                            args.pause)))
    if args.command == "backup":
        return _backup(env, args.file)
    return _restore(env, args.file, force=args.force)


def read_key_ring(env: Mapping[str, str]) -> KeyRing:
    """The configured master keys: the primary, then the old ones kept for unwrapping."""
    primary = read_master_key(env)
    return KeyRing(primary, *read_old_master_keys(env, primary))


def _error(message: str) -> None:
    print(f"caucusbot: {message}", file=sys.stderr)


def _generate(output: Path | None) -> int:
    key = MasterKey.generate()
    if output is None:
        print(key.to_base64())  # the one command whose purpose is to show a key
        return 0
    try:
        write_master_key_file(output, key)
    except FileExistsError:
        _error(f"{output} already exists: a key file is never overwritten")
        return 1
    except OSError as error:
        _error(f"cannot write {output} ({type(error).__name__})")
        return 1
    print(f"master key {key.key_id} written to {output}")
    return 0


def _sqlite_path(database_url: str) -> Path | None:
    """The SQLite file behind the URL; None for PostgreSQL."""
    url = normalise_url(database_url)
    return Path(url.database or "") if url.get_backend_name() == "sqlite" else None


async def _with_database(env: Mapping[str, str], command: _KeyCommand) -> int:
    ring = read_key_ring(env)
    database_url = read_database_url(env)
    path = _sqlite_path(database_url)
    if path is not None and not path.is_file():  # the engine would create an empty one
        _error("there is no database at CAUCUS_DATABASE_URL (the bot creates it when it first starts)")
        return 1
    engine = create_engine(database_url)
    try:
        return await command(engine, ring)
    except (SQLAlchemyError, OSError) as error:
        _error(f"cannot use the database ({type(error).__name__})")
        return 1
    finally:
        await engine.dispose()


async def _status(engine: AsyncEngine, ring: KeyRing) -> int:
    """Print what each master key wraps; 1 when data keys are wrapped under a key not configured."""
    usage = await read_key_usage(engine)
    uses = master_key_uses(usage, ring)
    for use in uses:
        print(_describe(use))
    print(f"destroyed (erased, nothing to re-wrap): {_data_keys(usage.destroyed)}")
    return 1 if any(use.role is KeyRole.NOT_CONFIGURED for use in uses) else 0


def _describe(use: MasterKeyUse) -> str:
    head = f"master key {use.key_id} ({use.role.value}): wraps {_data_keys(use.data_keys)}"
    if use.role is KeyRole.NOT_CONFIGURED:
        return f"{head} that cannot be read: {MISSING_KEY_HINT}"
    if use.retirable:
        return (f"{head}: no longer used, it may be retired (removed from {OLD_KEY_SETTINGS}; "
                f"keep it offline while backups made before the rotation exist)")
    if use.role is KeyRole.OLD:
        return f"{head}: still in use, do not remove it (run: caucusbot keys rotate)"
    return head


async def _rotate(engine: AsyncEngine, ring: KeyRing, batch_size: int, pause: float) -> int:
    def progress(total: int) -> None:
        print(f"re-wrapped {_data_keys(total)} so far", flush=True)

    result = await rotate_master_key(engine, ring, batch_size=batch_size, pause=pause, on_batch=progress)
    if result.rewrapped:
        store = Store(engine, ring)
        await store.open()
        async with store.transaction() as tx:
            assert tx is not None  # noqa: S101 - no update id, never a duplicate
            await tx.audit("key_rotated", actor="operator", master_key=result.primary_key_id,
                           rewrapped=result.rewrapped)
    print(f"done: {_data_keys(result.rewrapped)} re-wrapped under master key {result.primary_key_id} "
          f"in {result.batches} batches")
    for use in master_key_uses(result.usage, ring):
        print(_describe(use))
    return 0


def _backup(env: Mapping[str, str], target: Path) -> int:
    from storage.backup import BackupError, backup_sqlite  # noqa: PLC0415 - alembic loads only when needed

    source = _sqlite_path(read_database_url(env))
    if source is None:
        print(POSTGRES_BACKUP, file=sys.stderr)
        return 2
    try:
        summary = backup_sqlite(source, target)
    except BackupError as error:
        _error(str(error))
        return 1
    except OSError as error:
        _error(f"cannot write {target} ({type(error).__name__})")
        return 1
    print(f"backup written to {target}: {_size(summary.size)}, schema revision {summary.revision}, "
          f"{len(summary.tables)} tables, integrity check ok")
    _print_tables(summary.tables)
    needed = ", ".join(f"{key_id} ({_data_keys(count)})" for key_id, count in summary.master_key_ids.items())
    print(f"it holds only ciphertexts: reading it needs master key(s) {needed or '(none)'}")
    return 0


def _restore(env: Mapping[str, str], source: Path, *, force: bool) -> int:
    from storage.backup import BackupError, restore_sqlite  # noqa: PLC0415 - alembic loads only when needed

    target = _sqlite_path(read_database_url(env))
    if target is None:
        print(POSTGRES_BACKUP, file=sys.stderr)
        return 2
    try:
        summary = restore_sqlite(source, target, force=force)
    except BackupError as error:
        _error(str(error))
        return 1
    except OSError as error:
        _error(f"cannot restore to {target} ({type(error).__name__})")
        return 1
    print(f"restored {source} to {target}: {_size(summary.size)}, schema revision {summary.revision}, "
          f"{len(summary.tables)} tables, integrity check ok")
    _print_tables(summary.tables)
    if summary.revision != summary.head:
        print(f"its schema is upgraded to revision {summary.head} when the bot starts (or run: caucusbot db upgrade)")
    _check_restored_keys(env, summary.master_key_ids)
    return 0


def _check_restored_keys(env: Mapping[str, str], needed: Mapping[str, int]) -> None:
    try:
        configured = read_key_ring(env).key_ids
    except ConfigError:
        configured = frozenset()
    for key_id, count in needed.items():
        state = "configured" if key_id in configured else f"NOT configured: {MISSING_KEY_HINT}"
        print(f"master key {key_id} wraps {_data_keys(count)} of this database: {state}")


def _data_keys(count: int) -> str:
    return f"{count} data key" if count == 1 else f"{count} data keys"


def _print_tables(tables: Mapping[str, int]) -> None:
    print("rows per table:")
    for name, rows in tables.items():
        print(f"  {name}: {rows}")


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.1f} kB"
