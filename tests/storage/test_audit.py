"""The audit trail on both backends: events recorded where data changes hands, and a chain that shows tampering."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from flows.model import InterestCategory, ItemKey, ItemKind, ShareLevel
from storage.audit import AuditDetailError, check_detail
from storage.crypto import KeyRing, MasterKey
from storage.db import create_engine
from storage.migrate import upgrade_async
from storage.repository import Store
from storage.tables import AuditEvent, AuditHead
from tests.storage.conftest import answer_issues, finish_caucus, seated_case, unit


async def _kinds(store: Store) -> list[str]:
    async with store._sessions() as session:
        return list((await session.scalars(select(AuditEvent.kind).order_by(AuditEvent.seq))).all())


async def test_joining_consenting_sharing_and_submitting_are_recorded_without_content(store: Store) -> None:
    """A party's path through the caucus leaves one event per step that concerns their data, and no words."""
    case_id, seats = await seated_case(store, [501, 502])
    conversation = await answer_issues(
        store, seats[0], positions=["CANARY-position-one", "CANARY-position-two"],
        words=["CANARY-words-one", "CANARY-words-two"],
        categories=[[InterestCategory.SECURITY], [InterestCategory.SECURITY]])
    first = conversation.issues[0].id
    await finish_caucus(store, seats[0], first_ranked=first,
                        share={ItemKey(ItemKind.POSITION, first): ShareLevel.JOINT})
    kinds = await _kinds(store)
    assert kinds.count("case_created") == 1
    assert kinds.count("party_joined") == 2
    assert "consent_given" in kinds
    assert "answers_submitted" in kinds
    assert "share_level_changed" in kinds
    async with store._sessions() as session:
        details = (await session.scalars(select(AuditEvent.detail))).all()
    assert not any("CANARY" in detail for detail in details)
    async with unit(store) as tx:
        events = await tx.audit_events_of_seat(seats[0])
    submitted = next(event for event in events if event.kind == "answers_submitted")
    assert submitted.case_id == case_id
    assert sum(submitted.detail["items"].values()) >= 2  # counts per share level, never the items' text
    changed = next(event for event in events if event.kind == "share_level_changed")
    assert ItemKey(ItemKind(changed.detail["item"]), changed.detail["issue"]).kind is ItemKind.POSITION
    assert changed.detail["after"] == ShareLevel.JOINT.value


async def test_an_intact_chain_verifies(store: Store) -> None:
    """Events appended by many transactions, some concurrently, form one gapless chain that verifies."""
    async def append(number: int) -> None:
        async with unit(store) as tx:
            await tx.audit("purge_run", actor="system", cases=number, grievances=0)

    await asyncio.gather(*(append(number) for number in range(20)))
    report = await store.verify_audit()
    assert report.intact, report.reason
    assert report.events == 20
    assert report.head_seq == 20


@pytest.mark.parametrize("tampering", ["change", "remove", "insert", "swap"])
async def test_tampering_with_the_trail_is_detected(store: Store, tampering: str) -> None:
    """Changing, removing, inserting or reordering an event breaks the chain."""
    for number in range(6):
        async with unit(store) as tx:
            await tx.audit("purge_run", actor="system", cases=number, grievances=0)
    assert (await store.verify_audit()).intact
    async with store._sessions() as session, session.begin():
        if tampering == "change":
            await session.execute(update(AuditEvent).where(AuditEvent.seq == 3)
                                  .values(detail=json.dumps({"cases": 99, "grievances": 0})))
        elif tampering == "remove":
            await session.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
        elif tampering == "insert":
            forged = (await session.scalars(select(AuditEvent).where(AuditEvent.seq == 6))).one()
            session.add(AuditEvent(seq=7, at=forged.at, kind="key_rotated", actor="operator", detail="{}",
                                   hash=forged.hash))
            await session.execute(update(AuditHead).values(seq=7, hash=forged.hash))
        else:
            rows = (await session.scalars(select(AuditEvent).where(AuditEvent.seq.in_([2, 3])))).all()
            first, second = sorted(rows, key=lambda row: row.seq)
            first.detail, second.detail = second.detail, first.detail
    report = await store.verify_audit()
    assert not report.intact


async def test_a_rewound_head_shows_against_the_head_seen_before(store: Store) -> None:
    """Cutting off the newest events is visible by comparing with the head printed or logged earlier."""
    for number in range(4):
        async with unit(store) as tx:
            await tx.audit("purge_run", actor="system", cases=number, grievances=0)
    before = await store.verify_audit()
    async with store._sessions() as session, session.begin():
        third = (await session.scalars(select(AuditEvent).where(AuditEvent.seq == 3))).one()
        await session.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
        await session.execute(update(AuditHead).values(seq=3, hash=third.hash))
    after = await store.verify_audit()
    assert after.intact  # a consistent, shorter chain...
    assert (after.head_seq, after.head_hash) != (before.head_seq, before.head_hash)  # ...but not the one seen before


async def test_the_trail_is_append_only_through_the_repository(store: Store) -> None:
    """Nothing in the code updates or deletes events: a case erased keeps its events, content-free."""
    case_id, _seats = await seated_case(store, [601, 602])
    async with unit(store) as tx:
        await tx.erase_case(case_id)
    kinds = await _kinds(store)
    assert kinds[0] == "case_created"
    assert kinds[-1] == "case_erased"
    assert (await store.verify_audit()).intact


def test_details_refuse_anything_that_could_be_words() -> None:
    """An audit detail holds kinds, ids and numbers: a sentence, capitals or punctuation are refused."""
    assert check_detail({"round": 2, "items": ["position:abc123"], "to": "mediator"})
    for bad in ({"note": "We want the well"}, {"to": "Mediator"}, {"x": 1.5}, {"items": ["a b"]}, {"K": 1}):
        with pytest.raises(AuditDetailError):
            check_detail(bad)


async def test_the_audit_key_is_needed_to_forge_a_link(store: Store) -> None:
    """Recomputing a changed event's hash without the key (plain SHA-256) does not pass verification."""
    import hashlib

    async with unit(store) as tx:
        await tx.audit("purge_run", actor="system", cases=1, grievances=0)
    async with store._sessions() as session, session.begin():
        row = (await session.scalars(select(AuditEvent))).one()
        row.detail = json.dumps({"cases": 5, "grievances": 0}, separators=(",", ":"), sort_keys=True)
        fields = ("0" * 64, str(row.seq), row.at.isoformat(), row.kind, row.actor, "", "", row.detail)
        row.hash = hashlib.sha256("|".join(fields).encode()).hexdigest()
        await session.execute(text("UPDATE audit_head SET hash = :hash"), {"hash": row.hash})
    assert not (await store.verify_audit()).intact


async def test_the_operator_commands_verify_the_trail_and_purge(tmp_path: Path) -> None:
    """`caucusbot audit verify` says intact and prints the head, then BROKEN (exit 1) once an event is changed;
    `caucusbot purge --dry-run` counts without erasing."""
    key = MasterKey.generate()
    url = f"sqlite+aiosqlite:///{tmp_path / 'caucus.sqlite3'}"
    await upgrade_async(url)
    store = Store(create_engine(url), KeyRing(key))
    await store.open()
    for number in range(3):
        async with unit(store) as tx:
            await tx.audit("purge_run", actor="system", cases=number, grievances=0)
    env = {**os.environ, "CAUCUS_DATABASE_URL": url, "CAUCUS_MASTER_KEY": key.to_base64(),
           "CAUCUS_MEDIATOR_IDS": "1"}

    def caucusbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False, cwd=tmp_path)

    verified = caucusbot("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit trail intact: 3 events" in verified.stdout
    dry = caucusbot("purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "0 cases and 0 grievances would be erased" in dry.stdout
    async with store._sessions() as session, session.begin():
        await session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(kind="key_rotated"))
    await store.engine.dispose()
    broken = caucusbot("audit", "verify")
    assert broken.returncode == 1
    assert "BROKEN at event 2" in broken.stdout
    assert key.to_base64() not in broken.stdout + broken.stderr
