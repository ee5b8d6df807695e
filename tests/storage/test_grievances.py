"""Grievances in the database, on SQLite and PostgreSQL: encrypted, found by keyed hash, erased on demand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from flows.grievance import DEFAULT_CATEGORIES, Urgency
from flows.machines import GrievanceStatus, GrievanceStep
from storage.errors import DecryptionError
from storage.repository import Store
from storage.tables import DataKey, GrievanceRow, utcnow
from tests.storage.conftest import unit

SUBMITTER, OTHER, OFFICER = 7_200_000_001, 7_200_000_002, 9_100_000_001
CHAT = 7_200_000_001
TEXT = "The pump of the village of Kisumu has been broken for three months"


async def _filed(store: Store, user: int = SUBMITTER, *, name: str | None = None, submit: bool = True) -> str:
    async with unit(store) as tx:
        grievance_id = await tx.create_grievance(user, CHAT, "en")
        conversation = await tx.load_grievance(grievance_id, DEFAULT_CATEGORIES, ())
        conversation.choose_language()
        if name is None:
            conversation.stay_anonymous()
        else:
            conversation.give_name_later()
            conversation.give_name(name)
        conversation.choose_category("water")
        conversation.give_region("Lakeside")
        conversation.add_description(TEXT)
        conversation.finish_description()
        conversation.give_groups("Forty families")
        conversation.choose_urgency(Urgency.URGENT)
        conversation.give_remedy("A new pump")
        if submit:
            conversation.submit()
        await tx.save_grievance(grievance_id, conversation, "en")
        return grievance_id


async def test_a_filed_grievance_reads_back_for_triage_only_once_submitted(store: Store) -> None:
    draft = await _filed(store, submit=False)
    async with unit(store) as tx:
        assert await tx.triage_grievances() == []
        assert await tx.grievance_draft(SUBMITTER) == draft
    await _finish(store, draft)
    async with unit(store) as tx:
        (grievance,) = await tx.triage_grievances()
        assert await tx.grievance_draft(SUBMITTER) is None
    assert grievance.status is GrievanceStatus.RECEIVED
    assert grievance.content.description == TEXT
    assert grievance.content.region == "Lakeside"
    assert grievance.content.languages["description"] == "en"
    assert grievance.submitted_at is not None


async def _finish(store: Store, grievance_id: str) -> None:
    async with unit(store) as tx:
        conversation = await tx.load_grievance(grievance_id, DEFAULT_CATEGORIES, ())
        conversation.submit()
        await tx.save_grievance(grievance_id, conversation, "en")


async def test_track_finds_only_the_submitters_own_report(store: Store) -> None:
    grievance_id = await _filed(store)
    async with unit(store) as tx:
        reference = await tx.grievance_reference(grievance_id)
        assert await tx.find_own_grievance(SUBMITTER, reference.lower().replace("-", " ")) == grievance_id
        assert await tx.find_own_grievance(OTHER, reference) is None
        assert await tx.find_own_grievance(SUBMITTER, "ABCD-EFGH-JKMN") is None
        assert await tx.own_grievances(SUBMITTER) == [(reference, GrievanceStatus.RECEIVED)]
        assert await tx.own_grievances(OTHER) == []


async def test_nothing_typed_and_no_telegram_id_in_clear(store: Store) -> None:
    grievance_id = await _filed(store, name="Lake Women's Cooperative")
    async with unit(store) as tx:
        row = (await tx.session.scalars(select(GrievanceRow).where(GrievanceRow.id == grievance_id))).one()
        reference = await tx.grievance_reference(grievance_id)
        stored = b"|".join(value if isinstance(value, bytes) else str(value).encode()
                           for value in (getattr(row, c.key) for c in GrievanceRow.__table__.columns))
    for secret in (TEXT, "Lakeside", "Forty families", "A new pump", "Lake Women", reference, str(SUBMITTER)):
        assert secret.encode() not in stored
    assert row.submitter_hash == store.user_hash(SUBMITTER)


async def test_ciphertexts_are_bound_to_their_grievance(store: Store) -> None:
    first, second = await _filed(store), await _filed(store, OTHER)
    async with unit(store) as tx:
        content = await tx.session.scalar(select(GrievanceRow.content_enc).where(GrievanceRow.id == first))
        await tx.session.execute(update(GrievanceRow).where(GrievanceRow.id == second).values(content_enc=content))
    with pytest.raises(DecryptionError):
        async with unit(store) as tx:
            await tx.grievance(second)


async def test_closing_an_anonymous_report_destroys_its_chat_only(store: Store) -> None:
    anonymous, named = await _filed(store), await _filed(store, OTHER, name="Fishers' association")
    async with unit(store) as tx:
        for grievance_id in (anonymous, named):
            await tx.record_grievance_update(grievance_id, OFFICER, status=GrievanceStatus.REFERRED,
                                             message="Sent to the water board")
            await tx.record_grievance_update(grievance_id, OFFICER, status=GrievanceStatus.CLOSED, message=None)
    async with unit(store) as tx:
        assert (await tx.grievance_contact(anonymous)).chat_id is None
        assert (await tx.grievance_contact(named)).chat_id == CHAT
        grievance = await tx.grievance(anonymous)
    assert grievance is not None
    assert grievance.status is GrievanceStatus.CLOSED
    assert [(u.status, u.message) for u in grievance.history] == [
        (GrievanceStatus.REFERRED, "Sent to the water board"), (GrievanceStatus.CLOSED, None)]


async def test_discarding_a_draft_shreds_its_key(store: Store) -> None:
    draft = await _filed(store, submit=False)
    async with unit(store) as tx:
        key_id = await tx.grievance_key_id(draft)
        await tx.discard_grievance(draft)
    async with unit(store) as tx:
        assert await tx.session.get(GrievanceRow, draft) is None
        key = await tx.session.get(DataKey, key_id)
        assert key is not None
        assert key.wrapped is None
        assert await tx.grievance_draft(SUBMITTER) is None


async def test_the_daily_count_and_the_danger_alert(store: Store) -> None:
    for _ in range(3):
        await _filed(store)
    async with unit(store) as tx:
        assert await tx.grievances_filed_since(SUBMITTER, utcnow() - timedelta(days=1)) == 3
        assert await tx.grievances_filed_since(SUBMITTER, utcnow() + timedelta(minutes=1)) == 0
        assert await tx.grievances_filed_since(OTHER, utcnow() - timedelta(days=1)) == 0
    draft = await _filed(store, OTHER, submit=False)
    async with unit(store) as tx:
        assert await tx.mark_grievance_alerted(draft)
        assert not await tx.mark_grievance_alerted(draft)  # one alert per report
        visible = [g for g in await tx.triage_grievances() if g.id == draft]
    assert len(visible) == 1
    assert visible[0].submitted_at is None  # triage sees it while it is being written
    async with unit(store) as tx:
        conversation = await tx.load_grievance(draft, DEFAULT_CATEGORIES, ())
    assert conversation.step is GrievanceStep.REVIEW
