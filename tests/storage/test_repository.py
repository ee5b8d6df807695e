"""The repository contract, run alike on SQLite and PostgreSQL (fixtures in conftest.py).

Each test gets a database of its own, migrated by the real Alembic scripts.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, event, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from flows.caucus import CaucusConversation
from flows.machines import CaseStage, CaucusStep
from flows.model import (
    OPTIONAL_KINDS,
    InterestCategory,
    Issue,
    ItemKey,
    ItemKind,
    PriorityMode,
    Range,
    Rating,
    Scale,
    ShareLevel,
)
from flows.setup import CaseDraft
from storage.chats import PRUNE_BATCH, Delivered
from storage.crypto import KeyRing
from storage.db import create_engine, is_sqlite
from storage.errors import DecryptionError
from storage.migrate import alembic_config, upgrade_async
from storage.repository import ButtonMeaning, Store
from storage.tables import Answer, Base, DataKey, OutboxMessage, ProcessedUpdate, Seat, User, utcnow
from tests.storage.conftest import (
    DEFAULT_ISSUES,
    DEFAULT_PARTIES,
    MEDIATOR_ID,
    Database,
    StoreFactory,
    answer_issues,
    caucus_step,
    claim,
    create_case,
    finish_caucus,
    issue_invites,
    seated_case,
    unit,
)

ALICE, BOB = 200_000_001, 200_000_002
URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


async def _issues(store: Store, case_id: str) -> list[Issue]:
    async with unit(store) as tx:
        return await tx.issues(case_id)


async def _issue_ids(store: Store, case_id: str) -> list[str]:
    return [issue.id for issue in await _issues(store, case_id)]


# Case drafts --------------------------------------------------------------------------------------

async def test_an_edit_builds_on_another_workers_edit_committed_meanwhile(open_store: StoreFactory) -> None:
    """Two workers edit one case at once: the second edit waits for the first under its lock and counts it, even
    though its transaction had read the case before (and still holds that read)."""
    first_worker, second_worker = await open_store(), await open_store()
    if is_sqlite(first_worker.engine):
        pytest.skip("SQLite runs one transaction at a time: nothing can be committed meanwhile")
    async with unit(first_worker) as tx:
        case = await tx.create_case(MEDIATOR_ID)
        version = await tx.case_version(case.id)
    async with unit(first_worker) as tx:
        assert await tx.case_version(case.id) == version  # read before the other worker's edit
        async with unit(second_worker) as other:
            await other.set_timezone(case.id, "Europe/Paris")
        await tx.set_priority_mode(case.id, PriorityMode.POINTS)
    async with unit(second_worker) as tx:
        assert await tx.case_version(case.id) == version + 2  # neither edit lost
        info = await tx.case_info(case.id)
    assert (info.timezone, info.priority_mode) == ("Europe/Paris", PriorityMode.POINTS)


async def test_draft_round_trip(open_store: StoreFactory) -> None:
    """A case drafted over several transactions reads back identically, stage included, after a restart."""
    store = await open_store()
    async with unit(store) as tx:
        case = await tx.create_case(MEDIATOR_ID)
        assert case.stage == CaseStage.DRAFT_TITLE.value
        assert await tx.load_draft(case.id) == CaseDraft(CaseStage.DRAFT_TITLE)
        draft = await tx.load_draft(case.id)
        draft.name_case("  Riverbank   dispute ")
        await tx.save_draft(case.id, draft)
    async with unit(store) as tx:
        draft = await tx.load_draft(case.id)
        assert draft == CaseDraft(CaseStage.DRAFT_ISSUES, "Riverbank dispute")
        draft.add_issue("Water access")
        await tx.save_draft(case.id, draft)
    async with unit(store) as tx:
        draft = await tx.load_draft(case.id)
        draft.add_issue("Grazing routes")
        draft.finish_issues()
        draft.add_party("Upstream farmers")
        await tx.save_draft(case.id, draft)
    async with unit(store) as tx:
        draft = await tx.load_draft(case.id)
        assert draft.stage is CaseStage.DRAFT_PARTIES
        draft.add_party("Downstream herders")
        draft.finish_parties()
        await tx.save_draft(case.id, draft)
    async with unit(store) as tx:
        assert (await tx.load_draft(case.id)).stage is CaseStage.DRAFT_DETAILS
        assert await tx.advance_case(case.id, "open_invitations") is CaseStage.INVITING

    expected = CaseDraft(CaseStage.INVITING, "Riverbank dispute", list(DEFAULT_ISSUES), list(DEFAULT_PARTIES))
    restarted = await open_store()
    async with unit(restarted) as tx:
        assert await tx.load_draft(case.id) == expected
        assert [issue.title for issue in await tx.issues(case.id)] == list(DEFAULT_ISSUES)
        info = await tx.case_info(case.id)
        assert (info.title, info.stage, info.short_id) == ("Riverbank dispute", "inviting", case.short_id)
        statuses = await tx.seat_statuses(case.id)
        assert [status.label for status in statuses] == list(DEFAULT_PARTIES)
        assert {(s.step, s.joined, s.submitted, s.last_activity) for s in statuses} == {
            (CaucusStep.INVITED.value, False, False, None)
        }
        assert [c.id for c in await tx.cases_of(MEDIATOR_ID)] == [case.id]
        assert (await tx.find_case(MEDIATOR_ID, case.short_id.upper())) == info
        assert await tx.find_case(MEDIATOR_ID + 1, case.short_id) is None


# Invites -------------------------------------------------------------------------------------------

async def test_invite_tokens_fit_a_deep_link(store: Store) -> None:
    """issue_invites gives one distinct url-safe token of at most 64 characters per open seat."""
    case_id = await create_case(store)
    invites = await issue_invites(store, case_id)
    assert [invite.label for invite in invites] == list(DEFAULT_PARTIES)
    assert len({invite.token for invite in invites}) == len(invites)
    for invite in invites:
        assert 22 <= len(invite.token) <= 64  # at least 128 bits
        assert set(invite.token) <= URL_SAFE


async def test_claim_binds_seat_and_resumes(store: Store) -> None:
    """Claiming binds the seat to the account; the same account claiming again resumes the same seat."""
    case_id = await create_case(store)
    invite = (await issue_invites(store, case_id))[0]
    seat_id = await claim(store, invite.token, ALICE)
    assert seat_id == invite.seat_id
    assert await claim(store, invite.token, ALICE) == seat_id
    async with unit(store) as tx:
        statuses = {status.seat_id: status for status in await tx.seat_statuses(case_id)}
        assert statuses[seat_id].joined
        assert statuses[seat_id].last_activity is not None
        assert not any(status.joined for status in statuses.values() if status.seat_id != seat_id)
        assert await tx.seat_case_id(seat_id) == case_id
        assert await tx.seat_label(seat_id) == DEFAULT_PARTIES[0]
        seat = await tx.session.get(Seat, seat_id)
        assert seat is not None
        assert seat.user_hash == store.user_hash(ALICE)


async def test_claimed_token_refused_to_another_account(store: Store) -> None:
    """Once a seat is taken, another account presenting the same token gets None."""
    case_id = await create_case(store)
    invite = (await issue_invites(store, case_id))[0]
    assert await claim(store, invite.token, ALICE) == invite.seat_id
    assert await claim(store, invite.token, BOB) is None
    assert await claim(store, invite.token, ALICE) == invite.seat_id


async def test_unknown_token_refused(store: Store) -> None:
    """A token that was never issued gets None."""
    case_id = await create_case(store)
    invite = (await issue_invites(store, case_id))[0]
    for token in ("", "x", "A" * 32, invite.token[:-1], invite.token + "A"):
        assert await claim(store, token, ALICE) is None


async def test_expired_token_refused(store: Store) -> None:
    """A token past its expiry gets None and binds nothing."""
    case_id = await create_case(store)
    invite = (await issue_invites(store, case_id, valid_for=timedelta(seconds=-1)))[0]
    assert await claim(store, invite.token, ALICE) is None
    async with unit(store) as tx:
        assert not any(status.joined for status in await tx.seat_statuses(case_id))


async def test_one_account_one_seat_per_case(store: Store) -> None:
    """An account holding one seat of a case cannot take a second seat of it; it can join another case."""
    case_id = await create_case(store)
    first, second = await issue_invites(store, case_id)
    assert await claim(store, first.token, ALICE) == first.seat_id
    assert await claim(store, second.token, ALICE) is None
    assert await claim(store, second.token, BOB) == second.seat_id

    other_case = await create_case(store, title="Another case")
    other = (await issue_invites(store, other_case))[0]
    assert await claim(store, other.token, ALICE) == other.seat_id


async def test_reissued_invites_revoke_old_tokens(store: Store) -> None:
    """New invites replace the old tokens of unclaimed seats; a claimed seat keeps its holder."""
    case_id = await create_case(store)
    first, second = await issue_invites(store, case_id)
    assert await claim(store, first.token, ALICE) == first.seat_id
    reissued = await issue_invites(store, case_id)
    assert [invite.seat_id for invite in reissued] == [second.seat_id]
    assert reissued[0].token != second.token
    assert await claim(store, second.token, BOB) is None
    assert await claim(store, reissued[0].token, BOB) == second.seat_id
    assert await claim(store, first.token, ALICE) == first.seat_id


# Caucus ----------------------------------------------------------------------------------------------

def _snapshot(conversation: CaucusConversation) -> tuple[Any, ...]:
    """Step, cursor and every answer with its effective share level."""
    answers = conversation.answers
    return (
        conversation.step,
        conversation.cursor,
        dict(answers.positions),
        {issue: (list(i.categories), i.words) for issue, i in answers.interests.items()},
        list(answers.ranking),
        {item: answers.share_level(item) for item in answers.items(conversation.issues)},
    )


async def _load(store: Store, seat_id: str) -> CaucusConversation:
    async with unit(store) as tx:
        return await tx.load_caucus(seat_id)


async def test_caucus_survives_restart(store: Store, open_store: StoreFactory) -> None:
    """Answers saved one update at a time read back the same step, cursor and answers from a new process."""
    case_id, (seat_id,) = await seated_case(store, [ALICE])
    issue_a, issue_b = await _issue_ids(store, case_id)
    await caucus_step(store, seat_id, lambda c: c.join())
    await caucus_step(store, seat_id, lambda c: c.choose_language("en"))
    await caucus_step(store, seat_id, lambda c: c.consent())
    await caucus_step(store, seat_id, lambda c: c.record_position("Keep the north well open"))
    await caucus_step(store, seat_id, lambda c: c.choose_category(InterestCategory.LIVELIHOOD, chosen=True))
    await caucus_step(store, seat_id, lambda c: c.choose_category(InterestCategory.SECURITY, chosen=True))
    await caucus_step(store, seat_id, lambda c: c.choose_category(InterestCategory.LIVELIHOOD, chosen=False))
    await caucus_step(store, seat_id, lambda c: c.choose_category(InterestCategory.LAND, chosen=True))
    await caucus_step(store, seat_id, lambda c: c.choose_category(InterestCategory.LAND, chosen=True))
    await caucus_step(store, seat_id, lambda c: c.confirm_categories())
    await caucus_step(store, seat_id, lambda c: c.record_interest_words("Our cattle — سلام"))
    middle = await caucus_step(store, seat_id, lambda c: c.skip_options())
    assert (middle.step, middle.cursor) == (CaucusStep.POSITION, 1)

    await store.engine.dispose()
    restarted = await open_store()
    assert _snapshot(await _load(restarted, seat_id)) == _snapshot(middle)

    await caucus_step(restarted, seat_id, lambda c: c.record_position("Routes agreed by season"))
    await caucus_step(restarted, seat_id, lambda c: c.choose_category(InterestCategory.CULTURE, chosen=True))
    await caucus_step(restarted, seat_id, lambda c: c.confirm_categories())
    await caucus_step(restarted, seat_id, lambda c: c.record_interest_words("Tradition"))
    await caucus_step(restarted, seat_id, lambda c: c.skip_options())
    share = {
        ItemKey(ItemKind.POSITION, issue_a): ShareLevel.PRIVATE,
        ItemKey(ItemKind.INTERESTS, issue_b): ShareLevel.JOINT,
    }
    final = await finish_caucus(restarted, seat_id, first_ranked=issue_b, share=share)
    assert (final.step, final.cursor) == (CaucusStep.SUBMITTED, 1)

    again = await open_store()
    reloaded = await _load(again, seat_id)
    assert _snapshot(reloaded) == _snapshot(final)
    assert reloaded.answers.positions == {issue_a: "Keep the north well open", issue_b: "Routes agreed by season"}
    assert reloaded.answers.interests[issue_a].categories == [InterestCategory.SECURITY, InterestCategory.LAND]
    assert reloaded.answers.interests[issue_a].words == "Our cattle — سلام"
    assert reloaded.answers.ranking == [issue_b, issue_a]
    assert reloaded.answers.share_level(ItemKey(ItemKind.POSITION, issue_a)) is ShareLevel.PRIVATE
    assert reloaded.answers.share_level(ItemKey(ItemKind.INTERESTS, issue_b)) is ShareLevel.JOINT
    assert reloaded.answers.share_level(ItemKey(ItemKind.RANKING)) is ShareLevel.MEDIATOR
    async with unit(again) as tx:
        status = (await tx.seat_statuses(case_id))[0]
        assert (status.step, status.joined, status.submitted) == (CaucusStep.SUBMITTED.value, True, True)


async def test_submitted_parties(store: Store) -> None:
    """submitted_parties lists only submitted parties, each with its own answers and share levels."""
    case_id, (alice_seat, bob_seat) = await seated_case(store, [ALICE, BOB])
    issue_a, issue_b = await _issue_ids(store, case_id)
    categories = [[InterestCategory.JUSTICE], [InterestCategory.DIGNITY, InterestCategory.OTHER]]
    await answer_issues(store, alice_seat, positions=["A1", "A2"], words=["wa1", "wa2"], categories=categories)
    share = {ItemKey(ItemKind.POSITION, issue_b): ShareLevel.JOINT, ItemKey(ItemKind.RANKING): ShareLevel.PRIVATE}
    await finish_caucus(store, alice_seat, first_ranked=issue_a, share=share)
    await answer_issues(store, bob_seat, positions=["B1", "B2"], words=["wb1", "wb2"], categories=categories)

    async with unit(store) as tx:
        parties = await tx.submitted_parties(case_id)
    assert [(party.seat_id, party.label) for party in parties] == [(alice_seat, DEFAULT_PARTIES[0])]
    answers = parties[0].answers
    assert answers.positions == {issue_a: "A1", issue_b: "A2"}
    assert {k: (v.categories, v.words) for k, v in answers.interests.items()} == {
        issue_a: ([InterestCategory.JUSTICE], "wa1"),
        issue_b: ([InterestCategory.DIGNITY, InterestCategory.OTHER], "wa2"),
    }
    assert answers.ranking == [issue_a, issue_b]
    assert {item: answers.share_level(item) for item in answers.items(await _issues(store, case_id))} == {
        ItemKey(ItemKind.POSITION, issue_a): ShareLevel.MEDIATOR,
        ItemKey(ItemKind.INTERESTS, issue_a): ShareLevel.MEDIATOR,
        ItemKey(ItemKind.POSITION, issue_b): ShareLevel.JOINT,
        ItemKey(ItemKind.INTERESTS, issue_b): ShareLevel.MEDIATOR,
        ItemKey(ItemKind.RANKING): ShareLevel.PRIVATE,
        **{ItemKey(kind): ShareLevel.MEDIATOR for kind in OPTIONAL_KINDS},  # skipped: defaults
    }


# Update de-duplication -------------------------------------------------------------------------------

async def test_update_deduplication(store: Store, open_store: StoreFactory) -> None:
    """An update id opens one transaction; the same id again yields None, after a restart too."""
    async with store.transaction(update_id=42) as tx:
        assert tx is not None
        await tx.set_language(ALICE, "fr")
    async with store.transaction(update_id=42) as tx:
        assert tx is None
    async with store.transaction(update_id=43) as tx:
        assert tx is not None
    restarted = await open_store()
    for update_id in (42, 43):
        async with restarted.transaction(update_id=update_id) as tx:
            assert tx is None
    async with unit(restarted) as tx:
        assert (await tx.user(ALICE)).language == "fr"


async def test_failed_update_is_not_marked_processed(store: Store) -> None:
    """An update whose transaction raises leaves nothing behind, so its redelivery is processed."""

    async def crash_midway() -> None:
        async with store.transaction(update_id=7) as tx:
            assert tx is not None
            await tx.set_language(ALICE, "fr")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        await crash_midway()
    async with store.transaction(update_id=7) as tx:
        assert tx is not None
        assert (await tx.user(ALICE)).language is None


# At rest ---------------------------------------------------------------------------------------------

async def _all_rows(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the database, found by reflection."""
    async with engine.connect() as connection:
        metadata = MetaData()
        await connection.run_sync(metadata.reflect)
        return {
            name: [tuple(row) for row in (await connection.execute(select(table))).all()]
            for name, table in metadata.tables.items()
        }


_HEX_ID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="ignore")
    return str(value)


async def test_nothing_typed_is_stored_in_clear(store: Store, database: Database) -> None:
    """A unique marker typed into a title, issue, label, option, scale unit, answers of every kind, a note, a
    suggestion and an outgoing message appears in no column of any table; nor do the invite tokens, the Telegram
    ids or the join code. For SQLite, the database file and its WAL do not contain the marker bytes either."""
    marker = f"CANARY-{uuid.uuid4().hex}"
    async with unit(store) as tx:
        case_id = (await tx.create_case(MEDIATOR_ID)).id
        draft = await tx.load_draft(case_id)
        draft.name_case(f"Case {marker}")
        draft.add_issue(f"Issue {marker}")
        draft.add_issue("Second issue")
        draft.finish_issues()
        draft.add_party(f"Party {marker}")
        draft.add_party("Other party")
        draft.finish_parties()
        draft.fire("open_invitations")
        await tx.save_draft(case_id, draft)
    invite = (await issue_invites(store, case_id))[0]
    seat_id = await claim(store, invite.token, ALICE)
    assert seat_id is not None
    await answer_issues(
        store, seat_id, positions=[f"Position {marker}", "plain"], words=[f"Words {marker}", "plain"],
        categories=[[InterestCategory.LAND], [InterestCategory.OTHER]],
    )
    issue_id = (await _issue_ids(store, case_id))[0]
    async with unit(store) as tx:
        option = await tx.add_option(case_id, issue_id, f"Option {marker}")
        await tx.add_option(case_id, issue_id, "Plain option")
        await tx.set_scale(case_id, issue_id, Scale(f"unit {marker}", Decimal(0), Decimal(100)))
        await tx.add_note(seat_id, f"Note {marker}")
        await tx.add_suggestion(seat_id, issue_id, f"Suggestion {marker}")
        mediator_token = await tx.create_mediator_invite(case_id, timedelta(days=1))
        assert await tx.claim_mediator_invite(mediator_token, BOB) == case_id
        join_code = await tx.join_code(seat_id)
        assert join_code is not None

    def answer_everything(conversation: CaucusConversation) -> None:
        answers = conversation.answers
        answers.ranges[issue_id] = Range(Decimal(1), Decimal(2), Decimal(1))
        answers.ratings[issue_id] = {option.id: Rating.ACCEPTABLE}
        answers.points = {issue_id: 100}
        answers.texts = {kind: f"{kind.value} {marker}" for kind in OPTIONAL_KINDS}
        conversation.changed |= {ItemKey(ItemKind.RANGE, issue_id), ItemKey(ItemKind.RATINGS, issue_id),
                                 ItemKey(ItemKind.POINTS), *(ItemKey(kind) for kind in OPTIONAL_KINDS)}

    await caucus_step(store, seat_id, answer_everything)
    async with unit(store) as tx:
        await tx.enqueue(ALICE, f"You said: {marker}", [[{"text": marker, "data": "x"}]],
                         key_id=await tx.seat_key_id(seat_id))
        await tx.enqueue(MEDIATOR_ID, f"Case {marker} is ready", [])
    async with unit(store) as tx:
        assert (await tx.case_info(case_id)).title == f"Case {marker}"  # it was stored, encrypted
        assert (await tx.notes(case_id))[0].text == f"Note {marker}"
        assert (await tx.load_caucus(seat_id)).answers.texts[ItemKind.ALTERNATIVE] == f"alternative {marker}"

    secrets_in_clear = {
        "marker": marker, "invite token": invite.token, "mediator invite token": mediator_token,
        "telegram id": str(ALICE), "co-mediator telegram id": str(BOB), "join code": join_code,
    }
    rows = await _all_rows(store.engine)
    assert {"cases", "issues", "options", "seats", "answers", "notes", "suggestions", "case_mediators", "outbox",
            "data_keys"} <= set(rows)
    for table in ("answers", "options", "notes", "suggestions"):
        assert rows[table], f"the scan must see the stored {table}"
    for table, table_rows in rows.items():
        for row in table_rows:
            for value in row:
                shown = _as_text(value)
                for what, secret in secrets_in_clear.items():
                    assert secret not in shown, f"{what} stored in clear in table {table}"
                # The bare six digits of the join code: not in any column that could hold it in clear
                # (ids, hashes and timestamps are digits by nature; ciphertexts are random bytes).
                if isinstance(value, str | int) and not _HEX_ID.fullmatch(str(value)):
                    assert join_code.replace(" ", "") not in str(value), f"join code stored in clear in {table}"

    if database.path is not None:
        files = [database.path, database.path.with_name(database.path.name + "-wal")]
        assert files[0].exists()
        for path in files:
            if path.exists():
                content = await asyncio.to_thread(path.read_bytes)
                assert marker.encode() not in content, f"marker in {path.name}"
        await store.engine.dispose()  # checkpoint the WAL into the main file
        content = await asyncio.to_thread(database.path.read_bytes)
        assert marker.encode() not in content


# Moved ciphertexts -----------------------------------------------------------------------------------

async def test_answer_ciphertext_moved_to_another_row_fails(store: Store) -> None:
    """An answer's ciphertext copied onto another answer row of the same party fails to load."""
    _, (seat_id,) = await seated_case(store, [ALICE])
    await answer_issues(store, seat_id, positions=["first", "second"], words=["w1", "w2"],
                        categories=[[InterestCategory.LAND], [InterestCategory.LAND]])
    async with store.engine.begin() as connection:
        source, target = (await connection.execute(
            select(Answer.id, Answer.value_enc).where(Answer.seat_id == seat_id, Answer.kind == "position")
        )).all()
        await connection.execute(update(Answer).where(Answer.id == target.id).values(value_enc=source.value_enc))
    with pytest.raises(DecryptionError):
        await _load(store, seat_id)


async def test_swapped_labels_fail(store: Store) -> None:
    """Swapping the encrypted labels of two seats of a case makes reading either label fail."""
    case_id = await create_case(store)
    async with store.engine.begin() as connection:
        first, second = (await connection.execute(
            select(Seat.id, Seat.label_enc).where(Seat.case_id == case_id).order_by(Seat.ordinal)
        )).all()
        await connection.execute(update(Seat).where(Seat.id == first.id).values(label_enc=second.label_enc))
        await connection.execute(update(Seat).where(Seat.id == second.id).values(label_enc=first.label_enc))
    for read in (
        lambda tx: tx.seat_statuses(case_id),
        lambda tx: tx.load_draft(case_id),
        lambda tx: tx.seat_label(first.id),
        lambda tx: tx.seat_label(second.id),
        lambda tx: tx.issue_invites(case_id, timedelta(days=1)),
    ):
        with pytest.raises(DecryptionError):
            async with unit(store) as tx:
                await read(tx)


# Outbox ----------------------------------------------------------------------------------------------

async def test_outbox_delivers_in_order(store: Store) -> None:
    """Queued messages come back decrypted, oldest first, with their buttons and edit target."""
    case_id, (seat_id,) = await seated_case(store, [ALICE])
    buttons = [[{"text": "Oui ✓", "data": "tok1"}, {"text": "Non", "data": "tok2"}]]
    async with unit(store) as tx:
        await tx.enqueue(ALICE, "first — سلام", buttons, key_id=await tx.seat_key_id(seat_id))
        await tx.enqueue(MEDIATOR_ID, "second", [], key_id=await tx.case_key_id(case_id))
    async with unit(store) as tx:
        await tx.enqueue(ALICE, "third", [], method="edit", message_id=77)
    assert await store.has_pending_outbox()
    messages = await store.pending_outbox()
    assert [(m.chat_id, m.method, m.text, m.buttons, m.message_id, m.attempts) for m in messages] == [
        (ALICE, "send", "first — سلام", buttons, None, 0),
        (MEDIATOR_ID, "send", "second", [], None, 0),
        (ALICE, "edit", "third", [], 77, 0),
    ]
    assert [m.seq for m in messages] == sorted(m.seq for m in messages)
    assert await store.pending_outbox() == [], "taken messages are not handed out twice"
    await store.settle_outbox([], [m.seq for m in messages])
    assert len(await store.pending_outbox(limit=2)) == 2


async def test_finished_outbox_keeps_no_payload(store: Store) -> None:
    """A delivered message loses its payload and is no longer pending."""
    async with unit(store) as tx:
        await tx.enqueue(ALICE, "one", [])
        await tx.enqueue(ALICE, "two", [])
    first, second = await store.pending_outbox()
    await store.settle_outbox([Delivered(first.seq, "sent")])
    await store.settle_outbox([], [second.seq])
    assert [m.seq for m in await store.pending_outbox()] == [second.seq]
    async with store.engine.connect() as connection:
        row = (await connection.execute(
            select(OutboxMessage.status, OutboxMessage.payload_enc, OutboxMessage.sent_at)
            .where(OutboxMessage.seq == first.seq)
        )).one()
    assert row.status == "sent"
    assert row.payload_enc is None
    assert row.sent_at is not None
    await store.settle_outbox([Delivered(second.seq, "undeliverable")])
    assert await store.pending_outbox() == []
    assert not await store.has_pending_outbox()


async def test_retried_outbox_waits_until_due(store: Store) -> None:
    """A message put back for retry is not pending before its delay has passed, and then is again."""
    async with unit(store) as tx:
        await tx.enqueue(ALICE, "later", [])
    (message,) = await store.pending_outbox()
    await store.retry_outbox(message.seq, timedelta(hours=1))
    assert await store.pending_outbox() == []
    await store.retry_outbox(message.seq, timedelta(seconds=-1))
    (again,) = await store.pending_outbox()
    assert (again.seq, again.text, again.attempts) == (message.seq, "later", 2)


async def test_a_waiting_message_holds_back_the_later_ones_of_its_chat(store: Store) -> None:
    """While a chat's message waits for its retry, nothing queued after it for that chat overtakes it;
    other chats are not held back."""
    async with unit(store) as tx:
        await tx.enqueue(ALICE, "first", [])
    (first,) = await store.pending_outbox()
    await store.retry_outbox(first.seq, timedelta(hours=1))
    async with unit(store) as tx:
        await tx.enqueue(ALICE, "second", [])
        await tx.enqueue(BOB, "to Bob", [])
    (to_bob,) = await store.pending_outbox()
    assert to_bob.text == "to Bob"
    await store.settle_outbox([], [to_bob.seq])
    await store.retry_outbox(first.seq, timedelta(seconds=-1))
    assert [m.text for m in await store.pending_outbox()] == ["first", "second", "to Bob"]


async def test_a_turns_outcomes_are_settled_together(store: Store) -> None:
    """One settling of a chat's turn: every message it sent is kept as the chat's (each id once, an edit of one
    included), an edit that made a message a caucus screen makes it one, and no payload stays."""
    async with unit(store) as tx:
        for text in ("menu", "screen", "screen, edited", "notice"):
            await tx.enqueue(ALICE, text, [], sensitive=text.startswith("screen"))
        await tx.enqueue(BOB, "to Bob", [])
    menu, screen, edited, notice, to_bob = await store.pending_outbox()
    await store.settle_outbox([Delivered(menu.seq, "sent", 20), Delivered(screen.seq, "sent", 21, sensitive=True),
                               Delivered(edited.seq, "sent", 21, sensitive=True), Delivered(notice.seq, "sent", 22),
                               Delivered(to_bob.seq, "rejected")])
    async with unit(store) as tx:
        await tx.enqueue(ALICE, "menu, now a screen", [], message_id=20, method="edit", sensitive=True)
    (made_screen,) = await store.pending_outbox()
    await store.settle_outbox([Delivered(made_screen.seq, "sent", 20, sensitive=True)])
    async with store.engine.connect() as connection:
        rows = (await connection.execute(select(OutboxMessage.status, OutboxMessage.payload_enc, OutboxMessage.sent_at)
                                         .order_by(OutboxMessage.seq))).all()
    assert [(status, payload, sent is not None) for status, payload, sent in rows] == \
        [("sent", None, True)] * 4 + [("rejected", None, True), ("sent", None, True)]
    async with unit(store) as tx:
        await tx.erase_from_chat(ALICE, None, key_id=None)  # the caucus screens only
    (deletion,) = await store.pending_outbox()
    assert (deletion.method, deletion.message_ids) == ("delete", (20, 21))
    await store.settle_outbox([Delivered(deletion.seq, "sent")])
    async with unit(store) as tx:
        assert await tx.quick_exit(ALICE, None) == 1  # the notice; the screens were deleted already
    (deletion,) = await store.pending_outbox()
    assert deletion.message_ids == (22,)


async def test_a_dead_senders_messages_come_back_uncertain(store: Store) -> None:
    """What a sender took and never settled is due again after a restart (or once its claim ran out), marked
    uncertain; a caucus screen sent that way leaves a gap, whose unknown ids go with the chat's next erasure."""
    async with unit(store) as tx:
        await tx.note_incoming(ALICE, 10)  # the party's answer
        await tx.enqueue(ALICE, "Saved: 4 goats", [], sensitive=True)
    (taken,) = await store.pending_outbox()
    assert await store.pending_outbox() == []  # claimed: no second sender gets it
    assert await store.recover_outbox() == 1  # the process restarted: the sender that took it is gone
    (again,) = await store.pending_outbox()
    assert (again.seq, again.text) == (taken.seq, "Saved: 4 goats")
    await store.settle_outbox([Delivered(again.seq, "sent", 14, sensitive=True)])
    async with store.engine.connect() as connection:
        row = (await connection.execute(select(OutboxMessage.uncertain, OutboxMessage.after_message_id)
                                        .where(OutboxMessage.seq == taken.seq))).one()
    assert (row.uncertain, row.after_message_id) == (True, 10)
    async with unit(store) as tx:
        await tx.erase_from_chat(ALICE, None, key_id=None)
    (deletion,) = await store.pending_outbox()
    # 11 to 13 may hold the first copy; 14 is the screen itself; 10, the answer, is no screen.
    assert (deletion.method, deletion.message_ids) == ("delete", (11, 12, 13, 14))
    await store.settle_outbox([Delivered(deletion.seq, "sent")])
    async with unit(store) as tx:
        await tx.erase_from_chat(ALICE, None, key_id=None)
    assert await store.pending_outbox() == [], "a gap is deleted once"


# Concurrency -----------------------------------------------------------------------------------------

async def test_concurrent_transactions(store: Store) -> None:
    """20 transactions run at once, each recording an update and a user, all commit (no "database is locked")."""
    count = 20

    async def handle(number: int) -> None:
        async with store.transaction(update_id=10_000 + number) as tx:
            assert tx is not None
            await tx.user(300_000_000 + number)
            await asyncio.sleep(0.005)  # hold the transaction open while others queue
            await tx.set_language(300_000_000 + number, "en")

    await asyncio.gather(*(handle(number) for number in range(count)))
    async with unit(store) as tx:
        assert await tx.session.scalar(select(func.count()).select_from(ProcessedUpdate)) == count
        assert await tx.session.scalar(
            select(func.count()).select_from(User).where(User.language == "en")
        ) == count


async def test_same_update_delivered_at_once_runs_once(store: Store) -> None:
    """The same update delivered several times at once is handled by exactly one transaction."""

    async def deliver() -> bool:
        async with store.transaction(update_id=77) as tx:
            if tx is None:
                return False
            await tx.set_language(ALICE, "fr")
            await asyncio.sleep(0.01)
            return True

    assert sorted(await asyncio.gather(*(deliver() for _ in range(5)))) == [False] * 4 + [True]
    async with unit(store) as tx:
        assert (await tx.user(ALICE)).version == 1


@asynccontextmanager
async def _data_keys_write_lock(database: Database) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """Hold back every write to ``data_keys`` until ``release(waiters)`` returns.

    PostgreSQL: a SHARE lock on the table (reads pass, inserts wait); ``release`` waits until
    ``waiters`` sessions are blocked on a lock (5 s at most). SQLite: an open write transaction,
    kept briefly. Either way, several processes that start meanwhile really start at once.
    """
    if database.backend == "postgresql":
        connection = await asyncpg.connect(database.url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE data_keys IN SHARE MODE")

                async def release(waiters: int) -> None:
                    for _ in range(100):
                        blocked = await connection.fetchval(
                            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                            " WHERE NOT l.granted AND a.datname = current_database()"
                        )
                        if blocked >= waiters:
                            return
                        await asyncio.sleep(0.05)

                yield release
        finally:
            await connection.close()
        return
    engine = create_engine(database.url)
    try:
        async with engine.begin() as held:
            await held.execute(select(func.count()).select_from(DataKey))  # BEGIN IMMEDIATE: the write lock

            async def release(waiters: int) -> None:
                await asyncio.sleep(0.2)

            yield release
    finally:
        await engine.dispose()


async def test_simultaneous_first_starts_share_keys(database: Database, ring: KeyRing) -> None:
    """Processes starting at once on an empty database agree on one look-up key and one system key,
    so every process (and every later restart) hashes user ids and invite tokens alike."""
    stores = [Store(create_engine(database.url), ring) for _ in range(3)]
    try:
        async with _data_keys_write_lock(database) as release:
            starting = [asyncio.create_task(store.open()) for store in stores]
            await release(len(stores))
        await asyncio.gather(*starting)
        later = Store(create_engine(database.url), ring)
        stores.append(later)
        await later.open()
        assert len({store.user_hash(ALICE) for store in stores}) == 1
        async with stores[0].engine.connect() as connection:
            scopes = (await connection.execute(select(DataKey.scope))).scalars().all()
        assert sorted(scopes) == ["audit", "lookup", "system"]
    finally:
        for store in stores:
            await store.engine.dispose()


# Migrations ------------------------------------------------------------------------------------------

def _migration_state(connection: Connection) -> tuple[str | None, list[Any]]:
    context = MigrationContext.configure(connection)
    return context.get_current_revision(), compare_metadata(context, Base.metadata)


async def test_migration_matches_models(database: Database) -> None:
    """After upgrade the database is at the newest revision and autogenerate finds no difference from the models."""
    engine = create_engine(database.url)
    try:
        async with engine.connect() as connection:
            revision, differences = await connection.run_sync(_migration_state)
    finally:
        await engine.dispose()
    assert revision == ScriptDirectory.from_config(alembic_config(database.url)).get_current_head()
    assert differences == []



async def test_migration_downgrades_cleanly(database: Database) -> None:
    """Downgrading to base leaves no table of the models behind, and upgrading again restores the schema."""
    config = alembic_config(database.url)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert set(await _table_names(database)) <= {"alembic_version"}
    await upgrade_async(database.url)
    assert set(await _table_names(database)) == {*Base.metadata.tables, "alembic_version"}


async def _table_names(database: Database) -> list[str]:
    engine = create_engine(database.url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()


async def _outbox_rows(store: Store) -> list[str]:
    async with store.engine.connect() as connection:
        return list((await connection.scalars(select(OutboxMessage.status).order_by(OutboxMessage.seq))).all())


async def test_prune_forgets_old_update_ids_and_buttons(store: Store) -> None:
    """Pruning drops update ids, settled replies and buttons past their age, and keeps recent ones and every
    reply still waiting."""
    async with store.transaction(update_id=501) as tx:
        assert tx is not None
        [token] = await tx.issue_buttons([ButtonMeaning("h", "user", "o", 0, "setlang", "fr")])
        await tx.enqueue(ALICE, "sent", [])
        await tx.enqueue(BOB, "waiting", [])
    sent, _waiting = await store.pending_outbox()
    await store.settle_outbox([Delivered(sent.seq, "sent", 9)])
    await store.prune(updates_older_than=timedelta(days=1), buttons_older_than=timedelta(days=1))
    async with store.transaction(update_id=501) as tx:
        assert tx is None  # still remembered
    async with store.transaction() as tx:
        assert tx is not None
        assert await tx.resolve_button(token) is not None
    assert await _outbox_rows(store) == ["sent", "pending"]
    await store.prune(updates_older_than=timedelta(seconds=-1), buttons_older_than=timedelta(seconds=-1))
    async with store.transaction(update_id=501) as tx:
        assert tx is not None  # forgotten: a (theoretical) redelivery would be handled again
        assert await tx.resolve_button(token) is None
    assert await _outbox_rows(store) == ["pending"], "a settled reply goes, a waiting one stays"


async def test_prune_goes_a_batch_at_a_time(store: Store) -> None:
    """More old update ids than a batch: every one goes, a transaction per batch, and an update that comes
    meanwhile commits between two batches instead of waiting for the whole prune."""
    old = utcnow() - timedelta(days=3)
    async with store.engine.begin() as connection:
        await connection.execute(ProcessedUpdate.__table__.insert(), [
            {"update_id": 10_000 + number, "processed_at": old} for number in range(2 * PRUNE_BATCH + 5)])
    commits: list[object] = []
    event.listen(store.engine.sync_engine, "commit", commits.append)
    pruning = asyncio.create_task(
        store.prune(updates_older_than=timedelta(days=1), buttons_older_than=timedelta(days=1)))
    await asyncio.sleep(0)  # the prune's first batch is under way
    async with store.transaction(update_id=99) as tx:
        assert tx is not None
    assert not pruning.done(), "the update waited for the whole prune"
    assert await pruning == 2 * PRUNE_BATCH + 5
    async with store.engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(ProcessedUpdate)) == 1  # the new one
    assert len(commits) >= 3 + 1 + 4  # three batches of update ids, the update, one for each other table
