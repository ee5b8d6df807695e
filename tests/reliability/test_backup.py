"""Backups and restores of the SQLite database: consistent while the bot writes, checked, owner-only.

`caucusbot backup` runs as its own process, as an operator would run it, while cases are being
written in this one; the copy is then restored with `caucusbot restore` and read back with the
real Store. Restore must refuse anything that is not a sound Caucus database, an existing
database without ``--force``, and a database a running bot has open.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.maintenance import run_command
from storage.backup import NotACaucusDatabaseError, TargetExistsError, backup_sqlite, restore_sqlite
from storage.crypto import KeyRing, MasterKey
from storage.db import create_engine
from storage.migrate import upgrade_async
from storage.repository import Store
from tests.storage.conftest import DEFAULT_ISSUES, MEDIATOR_ID, create_case, unit

REPO = Path(__file__).resolve().parents[2]
KEY = MasterKey.generate()


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _environment(database: Path) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("TELEGRAM_", "CAUCUS_"))}
    return {**base, "PYTHONPATH": str(REPO), "CAUCUS_DATABASE_URL": _url(database),
            "CAUCUS_MASTER_KEY": KEY.to_base64()}


async def _cli(args: list[str], database: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`caucusbot ARGS` as its own process, configured for ``database``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=_environment(database), cwd=cwd,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, stdout.decode(), stderr.decode())


async def _open(path: Path) -> Store:
    store = Store(create_engine(_url(path)), KeyRing(KEY))
    await store.open()
    return store


async def _titles(path: Path) -> list[str]:
    store = await _open(path)
    try:
        async with unit(store) as tx:
            return sorted(info.title for info in await tx.cases_of(MEDIATOR_ID))
    finally:
        await store.engine.dispose()


def _integrity(path: Path) -> list[str]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as database:
        return [row[0] for row in database.execute("PRAGMA integrity_check")]


async def test_a_backup_taken_while_the_bot_writes_is_consistent_and_restores(tmp_path: Path) -> None:
    """`caucusbot backup` while cases are being committed (many of them still only in the WAL) writes an
    owner-only file that passes SQLite's integrity check and holds every case committed before it started,
    each one whole; its summary shows counts, not content. Restored with `caucusbot restore`, it opens with the
    Store, reads back and takes new writes."""
    live = tmp_path / "live" / "caucus.sqlite3"
    await upgrade_async(_url(live))
    store = await _open(live)
    committed: list[str] = []
    stop, under_way = asyncio.Event(), asyncio.Event()

    async def write_cases() -> None:
        while not stop.is_set():
            title = f"Case number {len(committed)}"
            await create_case(store, title=title)
            committed.append(title)
            if len(committed) == 5:
                under_way.set()

    writer = asyncio.create_task(write_cases())
    try:
        await asyncio.wait_for(under_way.wait(), 60)
        wal = await asyncio.to_thread(Path(f"{live}-wal").stat)
        assert wal.st_size > 0  # what was just committed is (also) in the WAL
        before = list(committed)
        backup = tmp_path / "backups" / "caucus-backup.sqlite3"
        backup.parent.mkdir()
        result = await _cli(["backup", str(backup)], live, tmp_path)
        during = list(committed)
    finally:
        stop.set()
        await writer
        await store.engine.dispose()
    assert result.returncode == 0, result.stderr
    assert len(during) > len(before), "the writes must go on while the backup is taken"

    assert "integrity check ok" in result.stdout
    assert "  cases: " in result.stdout
    assert f"reading it needs master key(s) {KEY.key_id}" in result.stdout
    assert "Case number" not in result.stdout + result.stderr
    assert KEY.to_base64() not in result.stdout + result.stderr
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sorted(path.name for path in backup.parent.iterdir()) == [backup.name]  # no -wal, no temporary file
    assert _integrity(backup) == ["ok"]

    restored = tmp_path / "restored" / "caucus.sqlite3"
    outcome = await _cli(["restore", str(backup)], restored, tmp_path)
    assert outcome.returncode == 0, outcome.stderr
    assert f"master key {KEY.key_id} wraps" in outcome.stdout
    assert "configured" in outcome.stdout
    assert "NOT configured" not in outcome.stdout
    titles = await _titles(restored)
    assert set(before) <= set(titles) <= set(during)
    assert titles == sorted(f"Case number {n}" for n in range(len(titles)))  # a prefix: nothing torn out
    store = await _open(restored)
    try:
        async with unit(store) as tx:
            for info in await tx.cases_of(MEDIATOR_ID):
                assert [issue.title for issue in await tx.issues(info.id)] == list(DEFAULT_ISSUES)
        await create_case(store, title="After the restore")
    finally:
        await store.engine.dispose()
    assert "After the restore" in await _titles(restored)


@pytest.fixture
async def backup(tmp_path: Path) -> Path:
    """A backup of a database holding one case."""
    live = tmp_path / "live.sqlite3"
    await upgrade_async(_url(live))
    store = await _open(live)
    try:
        await create_case(store, title="Backed up")
    finally:
        await store.engine.dispose()
    path = tmp_path / "backup.sqlite3"
    backup_sqlite(live, path)
    return path


def _not_caucus_files(backup: Path, folder: Path) -> dict[str, Path]:
    """Files restore must refuse: a text file, another program's database, a damaged and a future backup."""
    text = folder / "notes.txt"
    text.write_text("not a database")
    other = folder / "other.sqlite3"
    with sqlite3.connect(other) as database:
        database.execute("CREATE TABLE recipes (name TEXT)")
    corrupt = folder / "corrupt.sqlite3"
    content = bytearray(backup.read_bytes())
    page = 4096
    content[2 * page: 6 * page] = os.urandom(4 * page)  # b-tree pages after the header page
    corrupt.write_bytes(bytes(content))
    future = folder / "future.sqlite3"
    shutil.copyfile(backup, future)
    with sqlite3.connect(future) as database:
        database.execute("UPDATE alembic_version SET version_num = '9999'")
    return {"text": text, "other": other, "corrupt": corrupt, "future": future}


async def test_restore_refuses_what_is_not_a_sound_caucus_database(backup: Path, tmp_path: Path) -> None:
    """A text file, another program's SQLite database, a damaged backup and a backup from a newer Caucus are
    all refused; the database in place is left exactly as it was, with no temporary file beside it."""
    target_dir = tmp_path / "data"
    target_dir.mkdir()
    target = target_dir / "caucus.sqlite3"
    shutil.copyfile(backup, target)
    original = target.read_bytes()
    messages = {
        "text": "is not a SQLite database",
        "other": "not a Caucus database (its tables are missing)",
        "corrupt": "fails SQLite's integrity check",
        "future": "upgrade Caucus before restoring it",
    }
    for name, path in _not_caucus_files(backup, tmp_path).items():
        with pytest.raises(NotACaucusDatabaseError, match=re.escape(messages[name])):
            restore_sqlite(path, target, force=True)
        assert target.read_bytes() == original, name
        assert sorted(path.name for path in target_dir.iterdir()) == [target.name], name


async def test_restore_refuses_an_existing_database_without_force_and_a_running_bot(
        backup: Path, tmp_path: Path) -> None:
    """Onto an existing database, `caucusbot restore` without --force refuses in one line; with --force it
    refuses while a bot has the database open; once the bot has stopped it replaces it, removing the stale
    -wal of the old database so it cannot be replayed into the restored one."""
    target = tmp_path / "data" / "caucus.sqlite3"
    await upgrade_async(_url(target))
    running = await _open(target)
    try:
        await create_case(running, title="Written after the backup")
        refused = await _cli(["restore", str(backup)], target, tmp_path)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            f"caucusbot: {target} already exists: stop the bot and pass --force to replace it"]
        in_use = await _cli(["restore", "--force", str(backup)], target, tmp_path)
        assert in_use.returncode == 1
        assert "is in use (is the bot running?)" in in_use.stderr
        with pytest.raises(TargetExistsError):
            restore_sqlite(backup, target)
        async with unit(running) as tx:  # the running bot's database is untouched
            assert [info.title for info in await tx.cases_of(MEDIATOR_ID)] == ["Written after the backup"]
    finally:
        await running.engine.dispose()

    done = await _cli(["restore", "--force", str(backup)], target, tmp_path)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _integrity(target) == ["ok"]
    assert await _titles(target) == ["Backed up"]


async def test_restore_removes_a_stale_wal_left_beside_the_database(backup: Path, tmp_path: Path) -> None:
    """A well-formed -wal left where the database was (by a crash, its file then deleted) is removed by the
    restore: SQLite takes a -wal or a journal beside a database for that database's own, and may replay it."""
    target = tmp_path / "data" / "caucus.sqlite3"
    await upgrade_async(_url(target))
    wal = _valid_wal_of(target)
    target.unlink()
    await asyncio.to_thread(Path(f"{target}-wal").write_bytes, wal)
    restore_sqlite(backup, target)
    left = await asyncio.to_thread(lambda: sorted(path.name for path in target.parent.iterdir()))
    assert left == [target.name]
    assert _integrity(target) == ["ok"]
    assert await _titles(target) == ["Backed up"]


def _valid_wal_of(database: Path) -> bytes:
    """A well-formed -wal of ``database``, as a crash would leave it: a table created and filled."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("PRAGMA wal_autocheckpoint=0")
        connection.execute("CREATE TABLE stale (value TEXT)")
        connection.execute("INSERT INTO stale VALUES ('from the old database')")
        content = Path(f"{database}-wal").read_bytes()
    finally:
        connection.close()
    assert content
    return content


def test_postgresql_backups_are_left_to_pg_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With a PostgreSQL database, `caucusbot backup` and `restore` do nothing, exit 2 and print the pg_dump and
    pg_restore commands to use instead (without the configured URL, which may hold a password)."""
    url = "postgresql://caucus:s3cret@127.0.0.1:5432/caucus"
    env = _environment(tmp_path / "unused.sqlite3") | {"CAUCUS_DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "backup", "caucus.dump"], check=False,
                            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    restore = argparse.Namespace(command="restore", file=tmp_path / "caucus.dump", force=True)
    assert run_command(restore, {"CAUCUS_DATABASE_URL": url}) == 2
    restored = capsys.readouterr()
    for code, stdout, stderr in ((result.returncode, result.stdout, result.stderr),
                                 (2, restored.out, restored.err)):
        assert code == 2
        assert "pg_dump --format=custom" in stderr
        assert "pg_restore" in stderr
        assert "s3cret" not in stdout + stderr
    assert list(tmp_path.iterdir()) == []
