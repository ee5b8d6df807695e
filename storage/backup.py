"""Backup and restore of a SQLite database (PostgreSQL has pg_dump and pg_restore).

A backup is taken with SQLite's online backup API inside one read transaction, so it is a
consistent snapshot, committed WAL frames included, while the bot goes on writing. Backups and
restores are written to a temporary file created with mode 0600, checked, synced and renamed
into place, so a half-written file never carries the final name. A backup holds only
ciphertexts and wrapped data keys: it is useless without the master key(s) that wrapped them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from storage.errors import StorageError
from storage.migrate import alembic_config
from storage.tables import Base

__all__ = [
    "BackupError",
    "BackupSummary",
    "DatabaseInUseError",
    "NotACaucusDatabaseError",
    "TargetExistsError",
    "backup_sqlite",
    "inspect_database",
    "restore_sqlite",
]

_BUSY_TIMEOUT_S = 30
_SIDE_FILES = ("-wal", "-shm", "-journal")  # beside a replaced database they would be replayed into it
_REVISION = re.compile(r"^[A-Za-z0-9_]{1,32}$")


class BackupError(StorageError):
    """A backup or restore could not be made; nothing was changed."""


class NotACaucusDatabaseError(BackupError):
    """The file is not a sound Caucus database this version can use."""


class TargetExistsError(BackupError):
    """The file to write already exists."""


class DatabaseInUseError(BackupError):
    """Another connection (a running bot) has the database open."""


@dataclass(frozen=True)
class BackupSummary:
    """What a database file holds, never its content: size, tables with row counts, schema revision."""

    path: Path
    size: int
    revision: str | None
    head: str  # the newest revision this code knows
    tables: Mapping[str, int]
    master_key_ids: Mapping[str, int]  # live data keys per master key id: the keys needed to read it


def backup_sqlite(source: Path, target: Path) -> BackupSummary:
    """Copy the live database at ``source`` to the new file ``target`` (mode 0600), checked."""
    if not source.is_file():
        raise BackupError("there is no database at the configured location")
    if target.exists():
        raise TargetExistsError(f"{target} already exists: choose another name")
    with _connect_read_only(source) as database:
        return _write_checked_copy(database, target)


def restore_sqlite(source: Path, target: Path, *, force: bool = False) -> BackupSummary:
    """Replace (or create) the database at ``target`` with the backup ``source``, after checking it.

    Refuses a file that is not a sound Caucus database of a revision this code knows, an existing
    target unless ``force``, and a target that any connection has open (a running bot).
    """
    summary = inspect_database(source)
    if target.exists() and not force:
        raise TargetExistsError(f"{target} already exists: stop the bot and pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    _refuse_if_in_use(target)
    with _connect_read_only(source) as database:
        _write_checked_copy(database, target, replace=True)
    return summary


def inspect_database(path: Path) -> BackupSummary:
    """Check that ``path`` is a sound Caucus database this code can use, and summarise it."""
    if not path.is_file():
        raise NotACaucusDatabaseError(f"{path} does not exist")
    try:
        with _connect_read_only(path) as database:
            database.execute("PRAGMA trusted_schema=OFF")  # a file from elsewhere: run nothing its schema defines
            _require_integrity(database)
            summary = _summary(database, path)
    except sqlite3.DatabaseError as error:
        raise NotACaucusDatabaseError(f"{path} {_unreadable(error)}") from None
    _require_caucus_schema(summary)
    return summary


def _unreadable(error: sqlite3.DatabaseError) -> str:
    code = getattr(error, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_NOTADB:
        return "is not a SQLite database"
    if code == sqlite3.SQLITE_CORRUPT:
        return "is damaged: it fails SQLite's integrity check"
    return f"cannot be read as a Caucus database ({type(error).__name__})"


@contextlib.contextmanager
def _connect_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    # mode=ro: never create a file, never checkpoint or change the source.
    database = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S,
                               isolation_level=None)
    try:
        yield database
    finally:
        database.close()


def _write_checked_copy(source: sqlite3.Connection, target: Path, *, replace: bool = False) -> BackupSummary:
    """Copy ``source`` to a temporary file beside ``target``, check it, sync it and rename it into place."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        summary = _copy_checked(source, temporary, target)
        _fsync(temporary)
        _move_into_place(temporary, target, replace=replace)
    except BaseException:
        for leftover in (temporary, *(Path(f"{temporary}{suffix}") for suffix in _SIDE_FILES)):
            leftover.unlink(missing_ok=True)
        raise
    return summary


def _copy_checked(source: sqlite3.Connection, temporary: Path, target: Path) -> BackupSummary:
    copy = sqlite3.connect(temporary, isolation_level=None)
    try:
        source.backup(copy)  # one step: a single read transaction, so one consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        _require_integrity(copy, "the copy")
        return _summary(copy, target)
    finally:
        copy.close()


def _move_into_place(temporary: Path, target: Path, *, replace: bool) -> None:
    if replace:
        _refuse_if_in_use(target)  # again: the copy took a while
        for suffix in _SIDE_FILES:
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    elif target.exists():
        raise TargetExistsError(f"{target} already exists: choose another name")
    temporary.replace(target)
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _require_integrity(database: sqlite3.Connection, what: str = "the file") -> None:
    result = [row[0] for row in database.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise NotACaucusDatabaseError(f"{what} fails SQLite's integrity check ({len(result)} problems)")


def _summary(database: sqlite3.Connection, path: Path) -> BackupSummary:
    names = [row[0] for row in database.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    tables = {name: database.execute(f'SELECT count(*) FROM "{_quoted(name)}"').fetchone()[0]  # noqa: S608
              for name in names}
    revision = None
    if "alembic_version" in tables:
        row = database.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    master_keys: dict[str, int] = {}
    if "data_keys" in tables:
        master_keys = dict(database.execute(
            "SELECT kek_id, count(*) FROM data_keys WHERE wrapped IS NOT NULL GROUP BY kek_id ORDER BY kek_id"))
    size = database.execute("PRAGMA page_count").fetchone()[0] * database.execute("PRAGMA page_size").fetchone()[0]
    return BackupSummary(path, size, revision, _head(), tables, master_keys)


def _quoted(name: str) -> str:
    return name.replace('"', '""')


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def _head() -> str:
    head = _scripts().get_current_head()
    if head is None:
        raise StorageError("no schema migrations found")
    return head


def _require_caucus_schema(summary: BackupSummary) -> None:
    """The file must come from Caucus (its tables) and from a version of it not newer than this one."""
    missing = {"alembic_version", "data_keys"} - summary.tables.keys()
    if missing or summary.revision is None:
        raise NotACaucusDatabaseError("the file is not a Caucus database (its tables are missing)")
    if not _REVISION.match(summary.revision) or not _known_revision(summary.revision):
        raise NotACaucusDatabaseError(
            "the file's schema revision is unknown to this version of Caucus (a newer one made it?): "
            "upgrade Caucus before restoring it")
    if summary.revision == summary.head and set(Base.metadata.tables) - summary.tables.keys():
        raise NotACaucusDatabaseError("the file is not a complete Caucus database (tables are missing)")


def _known_revision(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _refuse_if_in_use(path: Path) -> None:
    """Refuse when any connection has the database open: in WAL mode even an idle one holds a shared lock.

    Catches a running bot; it cannot stop a bot that starts in the instant between this check and the rename.
    """
    if not path.exists():
        return
    try:
        database = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=0, isolation_level=None)
    except sqlite3.Error:
        return  # not openable as a database at all: nothing can be using it as one
    try:
        database.execute("PRAGMA locking_mode=EXCLUSIVE")
        database.execute("BEGIN EXCLUSIVE")
        database.execute("ROLLBACK")
    except sqlite3.Error as error:
        if error.sqlite_errorcode in {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}:
            raise DatabaseInUseError(f"{path} is in use (is the bot running?): stop it before restoring") from None
    finally:
        database.close()
