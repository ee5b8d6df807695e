"""Master-key rotation, on SQLite and PostgreSQL: data keys re-wrapped, never lost, never resurrected.

A populated database (cases, answers, a note, a grievance, a withdrawn party whose key was
destroyed) is rotated from one master key to another; afterwards everything reads back with the
new key alone. Rotation is interrupted for real (``kill -9`` of the ``caucusbot keys rotate``
process after its first batch) and finished by running it again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.local import LocalBot
from bot.standin import BotApiStandIn
from flows.grievance import DEFAULT_CATEGORIES, Urgency
from flows.model import InterestCategory
from storage.crypto import KeyRing, MasterKey
from storage.db import create_engine
from storage.errors import UnknownMasterKeyError
from storage.keys import read_key_usage, rotate_master_key
from storage.migrate import upgrade_async
from storage.repository import Store
from storage.tables import DataKey
from tests.storage.conftest import (
    MEDIATOR_ID,
    Database,
    answer_issues,
    seated_case,
    unit,
)

REPO = Path(__file__).resolve().parents[2]
ALICE, BOB, CAROL, DAVID = 5_100_000_001, 5_100_000_002, 5_100_000_003, 5_100_000_004
TITLE = "Riverbank dispute"
POSITIONS = ["Keep the north well open", "Routes agreed by season"]
WORDS = ["Our cattle — سلام", "Tradition"]
NOTE = "Please do not tell them about the loan"
GRIEVANCE = "The pump of the village has been broken for three months"



@dataclass(frozen=True)
class Population:
    case_id: str
    seat_ids: list[str]
    grievance_id: str
    withdrawn_seat: str


async def _open(database: Database, ring: KeyRing) -> Store:
    store = Store(create_engine(database.url), ring)
    await store.open()
    return store


async def _populate(store: Store) -> Population:
    """Two cases (answers, a note), a grievance, and a withdrawn party whose data key is destroyed."""
    case_id, seat_ids = await seated_case(store, [ALICE, BOB], title=TITLE)
    await answer_issues(store, seat_ids[0], positions=POSITIONS, words=WORDS,
                        categories=[[InterestCategory.LAND], [InterestCategory.CULTURE]])
    async with unit(store) as tx:
        await tx.add_note(seat_ids[0], NOTE)
    _, (withdrawn, _kept) = await seated_case(store, [CAROL, DAVID], title="Market stalls")
    async with unit(store) as tx:
        await tx.withdraw_seat(withdrawn)
    async with unit(store) as tx:
        grievance_id = await tx.create_grievance(ALICE, ALICE, "en")
        conversation = await tx.load_grievance(grievance_id, DEFAULT_CATEGORIES, ())
        conversation.choose_language()
        conversation.stay_anonymous()
        conversation.choose_category("water")
        conversation.give_region("Lakeside")
        conversation.add_description(GRIEVANCE)
        conversation.finish_description()
        conversation.give_groups("Forty families")
        conversation.choose_urgency(Urgency.URGENT)
        conversation.give_remedy("A new pump")
        conversation.submit()
        await tx.save_grievance(grievance_id, conversation, "en")
    return Population(case_id, seat_ids, grievance_id, withdrawn)


async def _everything(store: Store, population: Population) -> dict[str, object]:
    """Every kind of field a person typed, decrypted, plus the look-up hash (which needs the look-up key)."""
    async with unit(store) as tx:
        answers = (await tx.load_caucus(population.seat_ids[0])).answers
        grievance = await tx.grievance(population.grievance_id)
        assert grievance is not None
        return {
            "title": (await tx.case_info(population.case_id)).title,
            "issues": [issue.title for issue in await tx.issues(population.case_id)],
            "labels": [await tx.seat_label(seat_id) for seat_id in population.seat_ids],
            "positions": sorted(answers.positions.values()),
            "words": sorted(interest.words for interest in answers.interests.values()),
            "notes": [note.text for note in await tx.notes(population.case_id)],
            "grievance": grievance.content.description,
            "user hash": store.user_hash(ALICE),
        }


def _expected(before: dict[str, object]) -> None:
    assert before["title"] == TITLE
    assert before["positions"] == sorted(POSITIONS)
    assert before["words"] == sorted(WORDS)
    assert before["notes"] == [NOTE]
    assert before["grievance"] == GRIEVANCE


async def _data_keys(store: Store) -> dict[str, tuple[str, bytes | None]]:
    async with unit(store) as tx:
        rows = (await tx.session.execute(select(DataKey.id, DataKey.kek_id, DataKey.wrapped))).all()
    return {key_id: (kek_id, wrapped) for key_id, kek_id, wrapped in rows}


async def _populated(database: Database, key: MasterKey) -> tuple[Population, dict[str, object], int]:
    """Populate under ``key``; return the population, what it reads back as, and how many data keys are live."""
    store = await _open(database, KeyRing(key))
    try:
        population = await _populate(store)
        before = await _everything(store, population)
        live = sum(1 for _, wrapped in (await _data_keys(store)).values() if wrapped is not None)
    finally:
        await store.engine.dispose()
    _expected(before)
    return population, before, live


async def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `caucusbot ARGS` as its own process, as an operator would."""
    process = await _start_cli(args, env, cwd)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, stdout.decode(), stderr.decode())


async def _start_cli(args: list[str], env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=_environment(env), cwd=cwd,
    )


def _environment(env: dict[str, str]) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("TELEGRAM_", "CAUCUS_"))}
    return {**base, "PYTHONPATH": str(REPO), **env}


def _rotation_env(database: Database, new: MasterKey, old: MasterKey) -> dict[str, str]:
    return {"CAUCUS_DATABASE_URL": database.url, "CAUCUS_MASTER_KEY": new.to_base64(),
            "CAUCUS_OLD_MASTER_KEYS": old.to_base64()}


# Rotation ----------------------------------------------------------------------------------------

async def test_after_rotation_everything_reads_back_with_only_the_new_key(database: Database) -> None:
    """Every field of every kind reads back with only the new master key configured; destroyed data keys stay
    destroyed; running the rotation again changes nothing."""
    old, new = MasterKey.generate(), MasterKey.generate()
    population, before, live = await _populated(database, old)
    engine = create_engine(database.url)
    try:
        result = await rotate_master_key(engine, KeyRing(new, old), batch_size=3)
        assert (result.rewrapped, result.batches) == (live, -(-live // 3))
        assert result.usage.live == {new.key_id: live}
        assert result.usage.destroyed == 1
        only_new = Store(engine, KeyRing(new))
        await only_new.open()
        assert await _everything(only_new, population) == before
        keys = await _data_keys(only_new)
        assert {kek_id for kek_id, wrapped in keys.values() if wrapped is not None} == {new.key_id}
        assert [wrapped for kek_id, wrapped in keys.values() if kek_id == old.key_id] == [None]

        again = await rotate_master_key(engine, KeyRing(new, old), batch_size=3)
        assert (again.rewrapped, again.batches) == (0, 0)
        assert await _data_keys(only_new) == keys
    finally:
        await engine.dispose()


async def test_a_rotation_killed_midway_finishes_when_run_again(database: Database, tmp_path: Path) -> None:
    """`caucusbot keys rotate` killed with SIGKILL after its first batch keeps that batch; meanwhile a store
    configured with both keys reads everything; `keys status` says the old key is still in use; running the
    rotation again re-wraps only the rest, after which the old key may be retired and the new key alone suffices."""
    old, new = MasterKey.generate(), MasterKey.generate()
    population, before, live = await _populated(database, old)
    env = _rotation_env(database, new, old)
    # A long pause after each batch: the kill lands between the first batch and the second.
    process = await _start_cli(["keys", "rotate", "--batch-size", "2", "--pause", "60"], env, tmp_path)
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert first.strip() == "re-wrapped 2 data keys so far"
        process.send_signal(signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        _, stderr = await process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr.decode()

    engine = create_engine(database.url)
    try:
        assert (await read_key_usage(engine)).live == {new.key_id: 2, old.key_id: live - 2}
        both = Store(engine, KeyRing(new, old))
        await both.open()
        assert await _everything(both, population) == before
    finally:
        await engine.dispose()

    status = await _cli(["keys", "status"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    assert f"master key {new.key_id} (primary): wraps 2 data keys" in status.stdout
    assert f"master key {old.key_id} (old): wraps {live - 2} data keys: still in use" in status.stdout

    resumed = await _cli(["keys", "rotate"], env, tmp_path)  # ends with what `keys status` would say
    assert resumed.returncode == 0, resumed.stderr
    assert f"done: {live - 2} data keys re-wrapped under master key {new.key_id}" in resumed.stdout
    assert f"master key {new.key_id} (primary): wraps {live} data keys" in resumed.stdout
    assert f"master key {old.key_id} (old): wraps 0 data keys: no longer used, it may be retired" in resumed.stdout
    assert "still in use" not in resumed.stdout
    for output in (status.stdout + status.stderr, resumed.stdout + resumed.stderr):
        assert new.to_base64() not in output
        assert old.to_base64() not in output

    only_new = await _open(database, KeyRing(new))
    try:
        assert await _everything(only_new, population) == before
    finally:
        await only_new.engine.dispose()


async def test_rotation_while_the_bot_works_loses_no_key_and_brings_no_erased_key_back(database: Database) -> None:
    """Rotating (one data key per transaction) while a bot configured with both keys withdraws parties and
    opens cases: every withdrawn party's key stays destroyed, and every live key ends under the new master key."""
    old, new = MasterKey.generate(), MasterKey.generate()
    store = await _open(database, KeyRing(old))
    cases = [await seated_case(store, [ALICE + n, BOB + 10 * n], title=f"Case {n}") for n in range(1, 5)]
    await store.engine.dispose()
    bot = await _open(database, KeyRing(new, old))
    withdrawn = [seat_ids[0] for _, seat_ids in cases]

    async def bot_work() -> None:
        for n, seat_id in enumerate(withdrawn):
            async with unit(bot) as tx:
                await tx.withdraw_seat(seat_id)
            await seated_case(bot, [CAROL + 100 * n], title=f"New case {n}")

    rotation_engine = create_engine(database.url)
    try:
        await asyncio.gather(rotate_master_key(rotation_engine, KeyRing(new, old), batch_size=1), bot_work())
        usage = await read_key_usage(rotation_engine)
        assert usage.destroyed == len(withdrawn)
        assert set(usage.live) == {new.key_id}
        async with unit(bot) as tx:
            seat_keys = [await tx.seat_key_id(seat_id) for seat_id in withdrawn]
        keys = await _data_keys(bot)
        assert all(keys[key_id][1] is None for key_id in seat_keys)
        only_new = Store(rotation_engine, KeyRing(new))
        await only_new.open()
        async with unit(only_new) as tx:
            assert [(await tx.case_info(case_id)).title for case_id, _ in cases] == [f"Case {n}" for n in range(1, 5)]
    finally:
        await rotation_engine.dispose()
        await bot.engine.dispose()


# Missing keys ------------------------------------------------------------------------------------

def _sqlite_database(tmp_path: Path) -> Database:
    path = tmp_path / "caucus.sqlite3"
    return Database("sqlite", f"sqlite+aiosqlite:///{path}", path)


async def test_the_bot_refuses_to_start_when_a_master_key_in_use_is_not_configured(tmp_path: Path) -> None:
    """`caucusbot run` configured with only a new key, on data wrapped under the old one, exits 2 with one line
    naming the old key's id (never a key) and what to configure; no traceback. (Both backends refuse in
    `Store.open`: see the `keys status` test.)"""
    old, new = MasterKey.generate(), MasterKey.generate()
    database = _sqlite_database(tmp_path)
    await upgrade_async(database.url)
    await _populated(database, old)
    result = await _cli(["run"], {
        "TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
        "CAUCUS_MEDIATOR_IDS": "1", "CAUCUS_DATABASE_URL": database.url, "CAUCUS_MASTER_KEY": new.to_base64(),
    }, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "not configured" in lines[0]
    assert f"data keys under master key {old.key_id}" in lines[0]
    assert "CAUCUS_OLD_MASTER_KEYS" in lines[0]
    assert old.to_base64() not in result.stderr + result.stdout
    assert new.to_base64() not in result.stderr + result.stdout


async def test_a_bot_given_the_old_key_too_works_mid_rotation(tmp_path: Path) -> None:
    """Halfway through a rotation the real bot configured with the new key and the old one starts and reads
    data under both; configured with the new key alone it refuses to start, naming the old key's id."""
    old, new = MasterKey.generate(), MasterKey.generate()
    database = _sqlite_database(tmp_path)
    await upgrade_async(database.url)
    population, before, _ = await _populated(database, old)

    class OperatorStopError(Exception):
        """Stands for the operator's Ctrl-C after the first batch."""

    def interrupt(_total: int) -> None:
        raise OperatorStopError

    engine = create_engine(database.url)
    try:
        with pytest.raises(OperatorStopError):
            await rotate_master_key(engine, KeyRing(new, old), batch_size=2, on_batch=interrupt)
        assert (await read_key_usage(engine)).live[new.key_id] == 2
    finally:
        await engine.dispose()

    settings = Settings(token="1:unused", master_key=new, old_master_keys=(old,), database_url=database.url,
                        mediator_ids=frozenset({MEDIATOR_ID}))
    with BotApiStandIn() as standin:
        local = LocalBot(standin, settings)
        await local.start()
        try:
            assert await _everything(local.bot.store, population) == before
        finally:
            await local.stop()
        refused = LocalBot(standin, replace(settings, old_master_keys=()))
        try:
            with pytest.raises(UnknownMasterKeyError, match=old.key_id):
                await refused.start()
        finally:
            await refused.stop()


async def test_keys_status_names_keys_not_configured_and_fails(database: Database, tmp_path: Path) -> None:
    """`keys status` with data under a master key no longer configured names its id as not configured and
    exits 1; an old key that wraps nothing is reported as retirable, the primary with its count. Rotation and
    opening the store refuse to go on, naming the missing key's id."""
    old, new, spare = MasterKey.generate(), MasterKey.generate(), MasterKey.generate()
    _, _, live = await _populated(database, old)
    result = await _cli(["keys", "status"], _rotation_env(database, new, spare), tmp_path)
    assert result.returncode == 1
    assert f"master key {new.key_id} (primary): wraps 0 data keys" in result.stdout
    assert f"master key {spare.key_id} (old): wraps 0 data keys: no longer used, it may be retired" in result.stdout
    assert f"master key {old.key_id} (not configured): wraps {live} data keys that cannot be read" in result.stdout
    assert "destroyed (erased, nothing to re-wrap): 1 data key" in result.stdout
    engine = create_engine(database.url)
    try:
        with pytest.raises(UnknownMasterKeyError, match=f"{live} data keys under master key {old.key_id}"):
            await rotate_master_key(engine, KeyRing(new, spare))
        assert (await read_key_usage(engine)).live == {old.key_id: live}
        with pytest.raises(UnknownMasterKeyError, match=old.key_id):
            await Store(engine, KeyRing(new, spare)).open()
    finally:
        await engine.dispose()


# Key files ---------------------------------------------------------------------------------------

def test_a_generated_key_file_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    """`keys generate --output FILE` creates FILE with mode 0600 even under a permissive umask, prints only the
    path and the key id, and refuses to overwrite an existing file, which keeps its key."""
    path = tmp_path / "master.key"

    def generate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "keys", "generate", "--output", str(path)], check=False,
            capture_output=True, text=True, timeout=60, env=_environment({}), cwd=tmp_path, umask=0,
        )

    result = generate()
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = MasterKey.from_file(path)
    assert result.stdout.strip() == f"master key {key.key_id} written to {path}"
    assert key.to_base64() not in result.stdout + result.stderr

    again = generate()
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert MasterKey.from_file(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
