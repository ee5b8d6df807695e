"""The repository contract for the complete caucus, run alike on SQLite and PostgreSQL (fixtures in conftest.py):
every answer kind, issues with scales and options, co-mediators, join codes, withdrawal by
crypto-shredding, rounds, notes, suggestions, deadlines and reminders.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, func, select

from flows.caucus import CaucusConversation
from flows.machines import CaseStage, CaucusStep
from flows.model import (
    InterestCategory,
    Interests,
    ItemKey,
    ItemKind,
    Option,
    PriorityMode,
    Range,
    Rating,
    Scale,
    ShareLevel,
)
from storage.errors import StorageError
from storage.migrate import alembic_config, upgrade_async
from storage.repository import Store, Transaction
from storage.tables import Answer, CaseMediator, DataKey, NoteRow, OutboxMessage, Seat, SuggestionRow, User
from tests.storage.conftest import (
    DEFAULT_PARTIES,
    MEDIATOR_ID,
    Database,
    StoreFactory,
    answer_issues,
    caucus_step,
    claim,
    create_case,
    issue_invites,
    seated_case,
    unit,
)

ALICE, BOB, CAROL = 200_000_001, 200_000_002, 200_000_003
URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
DEADLINE = datetime(2030, 1, 2, 20, 59, 30, 123456, tzinfo=UTC)


async def _in_tx(store: Store, action: Callable[[Transaction], Awaitable[Any]]) -> Any:
    async with unit(store) as tx:
        return await action(tx)


async def _issue_ids(store: Store, case_id: str) -> list[str]:
    async with unit(store) as tx:
        return [issue.id for issue in await tx.issues(case_id)]


async def _case_version(store: Store, case_id: str) -> int:
    async with unit(store) as tx:
        return await tx.case_version(case_id)


async def _count(store: Store, model: type[Any], *where: Any) -> int:
    async with store.engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(model).where(*where))
    return int(count or 0)


async def _load(store: Store, seat_id: str) -> CaucusConversation:
    async with unit(store) as tx:
        return await tx.load_caucus(seat_id)


async def _joined(store: Store, seat_id: str) -> None:
    """Join, choose a language and consent: the party is at its first question."""
    for action in (lambda c: c.join(), lambda c: c.choose_language("en"), lambda c: c.consent()):
        await caucus_step(store, seat_id, action)


def _fill_every_kind(conversation: CaucusConversation, issue_a: str, issue_b: str, option_ids: list[str]) -> None:
    """Set one answer of every kind (as the flow would) and mark each as changed."""
    answers = conversation.answers
    answers.positions[issue_a] = "Keep the well open — سلام"
    answers.interests[issue_a] = Interests([InterestCategory.LAND, InterestCategory.SECURITY], "Our cattle")
    answers.ranges[issue_a] = Range(Decimal("1234.50"), Decimal("1E+4"), Decimal("-0.001"))
    answers.ranges[issue_b] = Range(Decimal("7"), None, None)
    answers.ratings[issue_a] = {option_ids[0]: Rating.IDEAL, option_ids[1]: Rating.UNACCEPTABLE}
    answers.ranking = [issue_b, issue_a]
    answers.points = {issue_a: 70, issue_b: 30}
    answers.texts[ItemKind.CBM_NEEDS] = "A public apology"
    answers.texts[ItemKind.ALTERNATIVE] = "Court, years of it"
    answers.share[ItemKey(ItemKind.POSITION, issue_a)] = ShareLevel.JOINT
    answers.share[ItemKey(ItemKind.CBM_NEEDS)] = ShareLevel.PRIVATE
    conversation.changed |= {
        ItemKey(ItemKind.POSITION, issue_a), ItemKey(ItemKind.INTERESTS, issue_a), ItemKey(ItemKind.RANGE, issue_a),
        ItemKey(ItemKind.RANGE, issue_b), ItemKey(ItemKind.RATINGS, issue_a), ItemKey(ItemKind.RANKING),
        ItemKey(ItemKind.POINTS), ItemKey(ItemKind.CBM_NEEDS), ItemKey(ItemKind.ALTERNATIVE),
    }


def _answers_of(conversation: CaucusConversation) -> tuple[Any, ...]:
    """Every answer, with the effective share level of every answered item."""
    answers = conversation.answers
    answered = [
        *(ItemKey(ItemKind.POSITION, i) for i in answers.positions),
        *(ItemKey(ItemKind.INTERESTS, i) for i in answers.interests),
        *(ItemKey(ItemKind.RANGE, i) for i in answers.ranges),
        *(ItemKey(ItemKind.RATINGS, i) for i in answers.ratings),
        ItemKey(ItemKind.RANKING), ItemKey(ItemKind.POINTS), *(ItemKey(kind) for kind in answers.texts),
    ]
    return (
        answers.positions, {k: (v.categories, v.words) for k, v in answers.interests.items()},
        {k: (v.low, v.high, v.hope) for k, v in answers.ranges.items()}, answers.ratings, answers.ranking,
        answers.points, answers.texts, {key: answers.share_level(key) for key in answered if answers.has(key)},
    )


async def _options_case(store: Store) -> tuple[str, str, list[str]]:
    """A seated case whose first issue is quantitative with two options; returns (case, seat, option ids)."""
    case_id, (seat_id,) = await seated_case(store, [ALICE])
    issue_a = (await _issue_ids(store, case_id))[0]
    async with unit(store) as tx:
        await tx.set_scale(case_id, issue_a, Scale("km", Decimal(0), Decimal("100000")))
        options = [await tx.add_option(case_id, issue_a, text) for text in ("Shared well", "Second well")]
    return case_id, seat_id, [option.id for option in options]


# Answers -------------------------------------------------------------------------------------------

async def test_every_answer_kind_round_trips(store: Store, open_store: StoreFactory) -> None:
    """Answers of every kind (exact decimals, ratings, points, optional texts) and their share levels read back
    identically in a new process, together with the step, cursor, sub and editing flag."""
    case_id, seat_id, option_ids = await _options_case(store)
    issue_a, issue_b = await _issue_ids(store, case_id)

    def act(conversation: CaucusConversation) -> None:
        _fill_every_kind(conversation, issue_a, issue_b, option_ids)
        conversation.step, conversation.cursor, conversation.sub, conversation.editing = CaucusStep.RATING, 1, 1, True

    saved = await caucus_step(store, seat_id, act)
    restarted = await open_store()
    loaded = await _load(restarted, seat_id)
    assert _answers_of(loaded) == _answers_of(saved)
    assert (loaded.step, loaded.cursor, loaded.sub, loaded.editing) == (CaucusStep.RATING, 1, 1, True)
    assert str(loaded.answers.ranges[issue_a].low) == "1234.50"  # the trailing zero is kept
    assert loaded.answers.share_level(ItemKey(ItemKind.RANGE, issue_a)) is ShareLevel.PRIVATE
    assert loaded.answers.share_level(ItemKey(ItemKind.CBM_NEEDS)) is ShareLevel.PRIVATE
    assert loaded.answers.share_level(ItemKey(ItemKind.POSITION, issue_a)) is ShareLevel.JOINT
    assert await _count(restarted, Answer, Answer.seat_id == seat_id) == 9


async def test_unanswered_items_are_deleted(store: Store) -> None:
    """A changed item that is no longer answered (a skipped question, a cleared range) loses its stored row."""
    case_id, seat_id, option_ids = await _options_case(store)
    issue_a, issue_b = await _issue_ids(store, case_id)
    await caucus_step(store, seat_id, lambda c: _fill_every_kind(c, issue_a, issue_b, option_ids))

    def forget(conversation: CaucusConversation) -> None:
        answers = conversation.answers
        answers.texts.pop(ItemKind.CBM_NEEDS)
        answers.ranges.pop(issue_b)
        answers.ratings[issue_a] = {}
        answers.points.clear()
        conversation.changed |= {
            ItemKey(ItemKind.CBM_NEEDS), ItemKey(ItemKind.RANGE, issue_b), ItemKey(ItemKind.RATINGS, issue_a),
            ItemKey(ItemKind.POINTS), ItemKey(ItemKind.CBM_OFFER),  # never answered: nothing to delete
        }

    await caucus_step(store, seat_id, forget)
    loaded = await _load(store, seat_id)
    assert ItemKind.CBM_NEEDS not in loaded.answers.texts
    assert loaded.answers.texts == {ItemKind.ALTERNATIVE: "Court, years of it"}
    assert issue_b not in loaded.answers.ranges
    assert issue_a not in loaded.answers.ratings
    assert loaded.answers.points == {}
    assert loaded.answers.positions[issue_a] == "Keep the well open — سلام"
    assert await _count(store, Answer, Answer.seat_id == seat_id) == 5


async def test_seat_version_moves_with_the_screen(store: Store) -> None:
    """The seat version changes when step, cursor, sub or editing changes, and not for an answer on the same screen."""
    case_id, seat_id, _ = await _options_case(store)
    issue_a = (await _issue_ids(store, case_id))[0]
    await _joined(store, seat_id)

    async def version() -> int:
        return int(await _in_tx(store, lambda tx: tx.seat_version(seat_id)))

    def answer_in_place(conversation: CaucusConversation) -> None:
        conversation.answers.positions[issue_a] = "x"
        conversation.changed.add(ItemKey(ItemKind.POSITION, issue_a))

    before = await version()
    await caucus_step(store, seat_id, answer_in_place)
    assert await version() == before
    assert (await _load(store, seat_id)).answers.positions == {issue_a: "x"}
    for change in (lambda c: setattr(c, "sub", 1), lambda c: setattr(c, "editing", True),
                   lambda c: setattr(c, "cursor", 1), lambda c: setattr(c, "step", CaucusStep.REVIEW)):
        previous = await version()
        await caucus_step(store, seat_id, change)
        assert await version() == previous + 1


async def test_load_caucus_reflects_the_case(store: Store) -> None:
    """load_caucus gives the case's priority mode, and the round is open only while inviting or in caucus."""
    case_id, (seat_id,) = await seated_case(store, [ALICE])
    loaded = await _load(store, seat_id)
    assert (loaded.mode, loaded.round_open) == (PriorityMode.RANKING, True)
    async with unit(store) as tx:
        await tx.set_priority_mode(case_id, PriorityMode.POINTS)
        assert await tx.advance_case(case_id, "party_joined") is CaseStage.CAUCUS
    loaded = await _load(store, seat_id)
    assert (loaded.mode, loaded.round_open) == (PriorityMode.POINTS, True)
    async with unit(store) as tx:
        await tx.advance_case(case_id, "close_round")
    assert (await _load(store, seat_id)).round_open is False


# Cases ---------------------------------------------------------------------------------------------

async def test_case_settings_bump_the_version(store: Store) -> None:
    """Priority mode, time zone and deadline are stored, shown by case_info, and each edit bumps the version."""
    case_id = await create_case(store)
    edits: list[Callable[[Transaction], Awaitable[None]]] = [
        lambda tx: tx.set_priority_mode(case_id, PriorityMode.POINTS),
        lambda tx: tx.set_timezone(case_id, "Africa/Nairobi"),
        lambda tx: tx.set_deadline(case_id, DEADLINE),
    ]
    for edit in edits:
        before = await _case_version(store, case_id)
        await _in_tx(store, edit)
        assert await _case_version(store, case_id) == before + 1
    async with unit(store) as tx:
        info = await tx.case_info(case_id)
    assert (info.priority_mode, info.timezone, info.deadline) == (PriorityMode.POINTS, "Africa/Nairobi", DEADLINE)
    await _in_tx(store, lambda tx: tx.set_deadline(case_id, None))
    assert (await _in_tx(store, lambda tx: tx.case_info(case_id))).deadline is None
    with pytest.raises(StorageError):
        await _in_tx(store, lambda tx: tx.set_timezone(case_id, "x" * 65))


async def test_advance_case_bumps_version_only_on_a_stage_change(store: Store) -> None:
    """A trigger that keeps the stage (another party joining) leaves the case version alone."""
    case_id = await create_case(store)
    before = await _case_version(store, case_id)
    assert await _in_tx(store, lambda tx: tx.advance_case(case_id, "party_joined")) is CaseStage.CAUCUS
    assert await _case_version(store, case_id) == before + 1
    assert await _in_tx(store, lambda tx: tx.advance_case(case_id, "party_joined")) is CaseStage.CAUCUS
    assert await _case_version(store, case_id) == before + 1


async def test_pending_marker(store: Store) -> None:
    """set_pending stores what the next typed text is for, and None clears it."""
    async with unit(store) as tx:
        assert (await tx.user(MEDIATOR_ID)).pending is None
        await tx.set_pending(MEDIATOR_ID, "rename_issue:abc")
    async with unit(store) as tx:
        assert (await tx.user(MEDIATOR_ID)).pending == "rename_issue:abc"
        await tx.set_pending(MEDIATOR_ID, None)
    async with unit(store) as tx:
        assert (await tx.user(MEDIATOR_ID)).pending is None


# Issues and options --------------------------------------------------------------------------------

async def test_issue_and_option_editing(store: Store, open_store: StoreFactory) -> None:
    """Issues and options are added, renamed, scaled and removed, read back in order, each edit bumping the version."""
    case_id = await create_case(store)
    issue_a, issue_b = await _issue_ids(store, case_id)
    scale = Scale("USD", Decimal("-10.5"), Decimal("2500000.00"))
    versions = [await _case_version(store, case_id)]
    async with unit(store) as tx:
        added = await tx.add_issue(case_id, "Compensation")
        await tx.rename_issue(case_id, issue_a, "Water access for all")
        await tx.set_scale(case_id, added.id, scale)
        first = await tx.add_option(case_id, issue_a, "Shared well")
        second = await tx.add_option(case_id, issue_a, "Rota")
        third = await tx.add_option(case_id, issue_a, "New pipe")
        await tx.edit_option(case_id, second.id, "Weekly rota")
        await tx.remove_option(case_id, first.id)
        other = await tx.add_option(case_id, added.id, "Lump sum")
    versions.append(await _case_version(store, case_id))
    assert versions[1] == versions[0] + 9

    restarted = await open_store()
    async with unit(restarted) as tx:
        issues = await tx.issues(case_id)
    assert [(i.id, i.title, i.scale, i.options) for i in issues] == [
        (issue_a, "Water access for all", None, (Option(second.id, "Weekly rota"), Option(third.id, "New pipe"))),
        (issue_b, "Grazing routes", None, ()),
        (added.id, "Compensation", scale, (Option(other.id, "Lump sum"),)),
    ]
    assert issues[2].scale is not None
    assert str(issues[2].scale.high) == "2500000.00"  # exactly as given
    async with unit(restarted) as tx:
        await tx.set_scale(case_id, added.id, None)
        await tx.remove_issue(case_id, issue_b)
    async with unit(restarted) as tx:
        issues = await tx.issues(case_id)
    assert [(i.id, i.scale) for i in issues] == [(issue_a, None), (added.id, None)]
    assert await _case_version(restarted, case_id) == versions[1] + 2


async def test_remove_issue_removes_what_hangs_on_it(store: Store) -> None:
    """Removing an issue deletes its options, the suggestions for it and every answer about it, in every seat."""
    case_id, seats = await seated_case(store, [ALICE, BOB])
    issue_a, issue_b = await _issue_ids(store, case_id)
    async with unit(store) as tx:
        await tx.add_option(case_id, issue_a, "Shared well")
        await tx.add_option(case_id, issue_b, "Seasonal routes")
        await tx.add_suggestion(seats[0], issue_a, "A new well")
        kept = await tx.add_suggestion(seats[1], issue_b, "Markers")

    def answer_both(conversation: CaucusConversation) -> None:
        conversation.answers.positions.update({issue_a: "a", issue_b: "b"})
        conversation.changed |= {ItemKey(ItemKind.POSITION, issue_a), ItemKey(ItemKind.POSITION, issue_b)}

    for seat_id in seats:
        await caucus_step(store, seat_id, answer_both)
    await _in_tx(store, lambda tx: tx.remove_issue(case_id, issue_a))
    assert await _issue_ids(store, case_id) == [issue_b]
    assert await _count(store, Answer, Answer.issue_id == issue_a) == 0
    assert await _count(store, Answer, Answer.issue_id == issue_b) == 2
    assert await _count(store, SuggestionRow, SuggestionRow.issue_id == issue_a) == 0
    async with unit(store) as tx:
        assert (await tx.suggestion(case_id, kept)) is not None
        assert [len(i.options) for i in await tx.issues(case_id)] == [1]
    for seat_id in seats:
        assert (await _load(store, seat_id)).answers.positions == {issue_b: "b"}


async def test_issue_and_option_ids_are_scoped_to_their_case(store: Store) -> None:
    """Every issue or option edit with an id of another case raises StorageError and changes nothing."""
    case_id = await create_case(store)
    other_case = await create_case(store, title="Another case")
    other_issue = (await _issue_ids(store, other_case))[0]
    option = await _in_tx(store, lambda tx: tx.add_option(other_case, other_issue, "Theirs"))
    scale = Scale("km", Decimal(0), Decimal(10))
    attempts: list[Callable[[Transaction], Awaitable[object]]] = [
        lambda tx: tx.rename_issue(case_id, other_issue, "Mine"),
        lambda tx: tx.remove_issue(case_id, other_issue),
        lambda tx: tx.set_scale(case_id, other_issue, scale),
        lambda tx: tx.add_option(case_id, other_issue, "Mine"),
        lambda tx: tx.edit_option(case_id, option.id, "Mine"),
        lambda tx: tx.remove_option(case_id, option.id),
        lambda tx: tx.rename_issue(case_id, "0" * 32, "Nothing"),
        lambda tx: tx.edit_option(case_id, "0" * 32, "Nothing"),
    ]
    for attempt in attempts:
        with pytest.raises(StorageError):
            await _in_tx(store, attempt)
    async with unit(store) as tx:
        theirs = (await tx.issues(other_case))[0]
    assert (theirs.title, theirs.scale, theirs.options) == ("Water access", None, (option,))


# Co-mediators ------------------------------------------------------------------------------------

async def test_co_mediator_invite(store: Store) -> None:
    """A co-mediator invite admits one account once; the lead and members can present it without using it up."""
    case_id = await create_case(store)
    short_id = (await _in_tx(store, lambda tx: tx.case_info(case_id))).short_id
    async with unit(store) as tx:
        assert await tx.mediator_hashes(case_id) == [store.user_hash(MEDIATOR_ID)]
        assert await tx.mediator_count(case_id) == 1
        token = await tx.create_mediator_invite(case_id, timedelta(days=2))
        assert not await tx.is_case_mediator(case_id, BOB)
        assert await tx.cases_of(BOB) == []
    assert 32 <= len(token) <= 64
    assert set(token) <= URL_SAFE

    assert await _in_tx(store, lambda tx: tx.claim_mediator_invite(token, MEDIATOR_ID)) == case_id  # not used up
    assert await _in_tx(store, lambda tx: tx.claim_mediator_invite(token, BOB)) == case_id
    assert await _in_tx(store, lambda tx: tx.claim_mediator_invite(token, CAROL)) is None
    assert await _in_tx(store, lambda tx: tx.claim_mediator_invite(token, BOB)) == case_id
    for unknown in ("", token[:-1], token + "A", "A" * 32):
        assert await _in_tx(store, lambda tx, t=unknown: tx.claim_mediator_invite(t, CAROL)) is None
    async with unit(store) as tx:
        assert await tx.is_case_mediator(case_id, BOB)
        assert await tx.mediator_hashes(case_id) == [store.user_hash(MEDIATOR_ID), store.user_hash(BOB)]
        assert await tx.mediator_count(case_id) == 2
        assert [case.id for case in await tx.cases_of(BOB)] == [case_id]
        found = await tx.find_case(BOB, short_id)
        assert found is not None
        assert found.id == case_id
        assert await tx.find_case(CAROL, short_id) is None
        assert not await tx.is_case_mediator(case_id, CAROL)


async def test_expired_co_mediator_invite_refused(store: Store) -> None:
    """A co-mediator invite past its expiry admits nobody."""
    case_id = await create_case(store)
    token = await _in_tx(store, lambda tx: tx.create_mediator_invite(case_id, timedelta(seconds=-1)))
    assert await _in_tx(store, lambda tx: tx.claim_mediator_invite(token, BOB)) is None
    assert not await _in_tx(store, lambda tx: tx.is_case_mediator(case_id, BOB))
    assert await _count(store, CaseMediator, CaseMediator.user_hash == store.user_hash(BOB)) == 0


async def test_co_mediator_invite_of_one_case_admits_to_that_case_only(store: Store) -> None:
    """A co-mediator of one case gains nothing on another case of the same lead."""
    case_id = await create_case(store)
    other = await create_case(store, title="Another case")
    token = await _in_tx(store, lambda tx: tx.create_mediator_invite(case_id, timedelta(days=1)))
    assert await _in_tx(store, lambda tx: tx.claim_mediator_invite(token, BOB)) == case_id
    async with unit(store) as tx:
        assert not await tx.is_case_mediator(other, BOB)
        assert [case.id for case in await tx.cases_of(BOB)] == [case_id]
        assert {case.id for case in await tx.cases_of(MEDIATOR_ID)} == {case_id, other}


# Join codes ----------------------------------------------------------------------------------------

async def test_join_code(store: Store) -> None:
    """A claimed seat has a six-digit join code shown as "123 456", stable when the party resumes; others have none."""
    case_id = await create_case(store)
    first, second = await issue_invites(store, case_id)
    assert await _in_tx(store, lambda tx: tx.join_code(first.seat_id)) is None
    assert await claim(store, first.token, ALICE) == first.seat_id
    assert await claim(store, second.token, BOB) == second.seat_id
    codes = [await _in_tx(store, lambda tx, s=seat: tx.join_code(s)) for seat in (first.seat_id, second.seat_id)]
    for code in codes:
        assert code is not None
        assert re.fullmatch(r"\d{3} \d{3}", code)
    assert await claim(store, first.token, ALICE) == first.seat_id
    assert await _in_tx(store, lambda tx: tx.join_code(first.seat_id)) == codes[0]


# Withdrawal --------------------------------------------------------------------------------------

async def test_withdraw_shreds_and_reinvite_starts_afresh(store: Store) -> None:
    """Withdrawal destroys the party's key, deletes its rows and identity and erases its queued messages;
    the seat can then be invited again under a new key, and the old link no longer works."""
    case_id, (seat_id, other_seat) = await seated_case(store, [ALICE, BOB])
    issue_a, issue_b = await _issue_ids(store, case_id)
    await answer_issues(store, seat_id, positions=["p1", "p2"], words=["w1", "w2"],
                        categories=[[InterestCategory.LAND], [InterestCategory.OTHER]])
    async with unit(store) as tx:
        old_key = await tx.seat_key_id(seat_id)
        await tx.add_note(seat_id, "A note")
        await tx.add_suggestion(seat_id, issue_a, "An idea")
        await tx.add_note(other_seat, "Bob's note")
        await tx.enqueue(ALICE, "Your answers", [], key_id=old_key)
        await tx.enqueue(BOB, "Bob's message", [], key_id=await tx.seat_key_id(other_seat))
        await tx.set_active(ALICE, "seat", seat_id)
        await tx.set_pending(ALICE, "note")
        version = await tx.seat_version(seat_id)
    async with unit(store) as tx:
        await tx.withdraw_seat(seat_id)

    async with store.engine.connect() as connection:
        key = (await connection.execute(select(DataKey).where(DataKey.id == old_key))).one()
        seat = (await connection.execute(select(Seat).where(Seat.id == seat_id))).one()
        outbox = (await connection.execute(select(OutboxMessage.status, OutboxMessage.payload_enc)
                                           .where(OutboxMessage.key_id == old_key))).one()
        user = (await connection.execute(select(User).where(User.user_hash == store.user_hash(ALICE)))).one()
    assert key.wrapped is None
    assert key.destroyed_at is not None
    assert (seat.user_hash, seat.chat_enc, seat.join_code_enc, seat.submitted_at) == (None, None, None, None)
    assert (seat.step, seat.version) == (CaucusStep.WITHDRAWN.value, version + 1)
    assert (outbox.status, outbox.payload_enc) == ("erased", None)
    assert (user.active_kind, user.active_id, user.pending) == (None, None, None)
    for model in (Answer, NoteRow, SuggestionRow):
        assert await _count(store, model, model.seat_id == seat_id) == 0
    assert [m.text for m in await store.pending_outbox()] == ["Bob's message"]
    async with unit(store) as tx:
        assert [note.text for note in await tx.notes(case_id)] == ["Bob's note"]
        assert await tx.seat_chat(seat_id) is None
        assert await tx.join_code(seat_id) is None
        assert await tx.seat_label(seat_id) == DEFAULT_PARTIES[0]
        loaded = await tx.load_caucus(seat_id)
        assert (loaded.step, loaded.answers.positions) == (CaucusStep.WITHDRAWN, {})
        assert [invite.seat_id for invite in await tx.issue_invites(case_id, timedelta(days=1))] == []

    async with unit(store) as tx:
        invite = await tx.reinvite_seat(seat_id, timedelta(days=1))
        new_key = await tx.seat_key_id(seat_id)
    assert (invite.seat_id, invite.label) == (seat_id, DEFAULT_PARTIES[0])
    assert new_key != old_key
    async with store.engine.connect() as connection:
        assert (await connection.scalar(select(DataKey.wrapped).where(DataKey.id == new_key))) is not None
    assert (await _load(store, seat_id)).step is CaucusStep.INVITED
    assert await claim(store, invite.token, CAROL) == seat_id
    await answer_issues(store, seat_id, positions=["c1", "c2"], words=["cw1", "cw2"],
                        categories=[[InterestCategory.LAND], [InterestCategory.OTHER]])
    assert (await _load(store, seat_id)).answers.positions == {issue_a: "c1", issue_b: "c2"}
    assert await _in_tx(store, lambda tx: tx.seat_chat(seat_id)) == CAROL
    with pytest.raises(StorageError):
        await _in_tx(store, lambda tx: tx.reinvite_seat(seat_id, timedelta(days=1)))


async def test_old_invite_fails_after_withdrawal_and_reinvite(store: Store) -> None:
    """Neither the original invite nor a superseded reinvite token admits anyone once a new invite is issued."""
    case_id = await create_case(store)
    first = (await issue_invites(store, case_id))[0]
    assert await claim(store, first.token, ALICE) == first.seat_id
    await _in_tx(store, lambda tx: tx.withdraw_seat(first.seat_id))
    assert await claim(store, first.token, ALICE) is None
    assert await claim(store, first.token, BOB) is None
    superseded = await _in_tx(store, lambda tx: tx.reinvite_seat(first.seat_id, timedelta(days=1)))
    latest = await _in_tx(store, lambda tx: tx.reinvite_seat(first.seat_id, timedelta(days=1)))
    assert await claim(store, superseded.token, BOB) is None
    assert await claim(store, first.token, BOB) is None
    assert await claim(store, latest.token, BOB) == first.seat_id


async def test_reinvite_of_an_unclaimed_seat_keeps_its_key(store: Store) -> None:
    """Re-inviting a seat nobody took replaces its token only; its key was never destroyed."""
    case_id = await create_case(store)
    first = (await issue_invites(store, case_id))[0]
    async with unit(store) as tx:
        key = await tx.seat_key_id(first.seat_id)
        again = await tx.reinvite_seat(first.seat_id, timedelta(days=1))
        assert await tx.seat_key_id(first.seat_id) == key
    assert again.token != first.token
    assert await claim(store, first.token, ALICE) is None
    assert await claim(store, again.token, ALICE) == first.seat_id


# Notes and suggestions -----------------------------------------------------------------------------

async def test_notes_and_suggestions(store: Store) -> None:
    """Notes come back oldest first with their party's label and round; suggestions are scoped to their case."""
    case_id, (alice_seat, bob_seat) = await seated_case(store, [ALICE, BOB])
    issue_b = (await _issue_ids(store, case_id))[1]
    other_case, (other_seat,) = await seated_case(store, [CAROL], title="Another case")
    other_issue = (await _issue_ids(store, other_case))[0]
    async with unit(store) as tx:
        await tx.add_note(alice_seat, "First — ملاحظة")
    async with unit(store) as tx:
        await tx.add_note(bob_seat, "Second")
        await tx.add_note(other_seat, "Elsewhere")
        suggestion_id = await tx.add_suggestion(bob_seat, issue_b, "Seasonal markers")
        with pytest.raises(StorageError):
            await tx.add_suggestion(bob_seat, other_issue, "Not our issue")
    async with unit(store) as tx:
        notes = await tx.notes(case_id)
        assert [(n.seat_id, n.label, n.round, n.text) for n in notes] == [
            (alice_seat, DEFAULT_PARTIES[0], 1, "First — ملاحظة"),
            (bob_seat, DEFAULT_PARTIES[1], 1, "Second"),
        ]
        assert all(n.created_at.tzinfo is not None for n in notes)
        suggestion = await tx.suggestion(case_id, suggestion_id)
        assert suggestion is not None
        assert (suggestion.id, suggestion.seat_id, suggestion.issue_id, suggestion.text, suggestion.status) == (
            suggestion_id, bob_seat, issue_b, "Seasonal markers", "pending")
        assert await tx.suggestion(other_case, suggestion_id) is None
        assert await tx.suggestion(case_id, "0" * 32) is None
        with pytest.raises(StorageError):
            await tx.set_suggestion_status(other_case, suggestion_id, "accepted")
        await tx.set_suggestion_status(case_id, suggestion_id, "accepted")
    async with unit(store) as tx:
        suggestion = await tx.suggestion(case_id, suggestion_id)
        assert suggestion is not None
        assert suggestion.status == "accepted"


# Rounds ------------------------------------------------------------------------------------------

async def test_start_round_copies_answers_afresh(store: Store) -> None:
    """A new round copies each remaining party's answers under new ciphertexts, resets submissions, reminders,
    a deadline that has passed and the late report, and leaves the withdrawn party out."""
    untouched_case, _ = await seated_case(store, [ALICE])
    case_b = await create_case(store, title="Three parties", parties=("A", "B", "C"))
    invites = await issue_invites(store, case_b)
    for invite, user in zip(invites, (ALICE, BOB, CAROL), strict=True):
        assert await claim(store, invite.token, user) == invite.seat_id
    alice, bob, carol = (invite.seat_id for invite in invites)
    issue_ids = await _issue_ids(store, case_b)
    option = await _in_tx(store, lambda tx: tx.add_option(case_b, issue_ids[0], "Shared well"))
    await _in_tx(store, lambda tx: tx.set_scale(case_b, issue_ids[1], Scale("km", Decimal(0), Decimal(50))))
    for seat_id in (alice, bob, carol):
        await caucus_step(store, seat_id, lambda c: _fill_every_kind(c, issue_ids[0], issue_ids[1], [option.id, "x"]))
    await caucus_step(store, alice, lambda c: setattr(c, "step", CaucusStep.SUBMITTED))
    await _in_tx(store, lambda tx: tx.withdraw_seat(carol))
    async with unit(store) as tx:
        await tx.set_deadline(case_b, DEADLINE)
        await tx.mark_reminded(bob, date(2030, 1, 1))
        await tx.mark_late_reported(case_b)
        assert sum(seat.submitted for seat in await tx.seat_statuses(case_b)) == 1
        before = {seat: await tx.load_caucus(seat) for seat in (alice, bob)}
        version = await tx.case_version(case_b)

    assert await _in_tx(store, lambda tx: tx.start_round(case_b, DEADLINE + timedelta(seconds=1))) == 2
    async with unit(store) as tx:
        info = await tx.case_info(case_b)
        assert (info.round, info.deadline) == (2, None)
        assert await tx.case_version(case_b) == version + 1
        assert not await tx.late_reported(case_b)
        assert sum(seat.submitted for seat in await tx.seat_statuses(case_b)) == 0
        assert [c.last_reminded for c in await tx.reminder_candidates(case_b)] == [None, None]
        for seat in (alice, bob):
            assert _answers_of(await tx.load_caucus(seat)) == _answers_of(before[seat])
    async with store.engine.connect() as connection:
        rows = (await connection.execute(
            select(Answer.id, Answer.round, Answer.value_enc, Answer.seat_id).where(Answer.case_id == case_b)
        )).all()
    first = [row for row in rows if row.round == 1]
    second = [row for row in rows if row.round == 2]
    assert len(first) == len(second) == 18
    assert {row.id for row in first}.isdisjoint({row.id for row in second})
    assert {bytes(row.value_enc) for row in first}.isdisjoint({bytes(row.value_enc) for row in second})
    assert carol not in {row.seat_id for row in rows}
    assert await _in_tx(store, lambda tx: tx.start_round(case_b, DEADLINE)) == 3
    assert await _count(store, Answer, Answer.case_id == case_b, Answer.round == 3) == 18
    assert (await _in_tx(store, lambda tx: tx.case_info(untouched_case))).round == 1


async def test_a_mediator_moving_the_caucus_is_not_party_activity(store: Store) -> None:
    """Closing or opening a round moves the party's step but not its last activity (status, reminders)."""
    _case_id, seats = await seated_case(store, [ALICE])
    await caucus_step(store, seats[0], lambda c: c.join())

    async def last_activity() -> datetime | None:
        async with unit(store) as tx:
            return (await tx.session.get(Seat, seats[0])).last_activity_at  # type: ignore[union-attr]

    before = await last_activity()
    async with unit(store) as tx:
        conversation = await tx.load_caucus(seats[0])
        conversation.withdraw()  # any move of the step
        await tx.save_caucus(seats[0], conversation, by_party=False)
    assert (await _in_tx(store, lambda tx: tx.load_caucus(seats[0]))).step is CaucusStep.WITHDRAWN
    assert await last_activity() == before
    await caucus_step(store, seats[0], lambda c: c.reinvite())
    assert await last_activity() != before


# Deadlines and reminders ---------------------------------------------------------------------------

async def test_a_deadline_belongs_to_its_round(store: Store) -> None:
    """Closing a round drops its deadline; one set between rounds is kept for the next round while it lies ahead."""
    case_id, seats = await seated_case(store, [ALICE])
    await caucus_step(store, seats[0], lambda c: c.join())
    async with unit(store) as tx:
        await tx.advance_case(case_id, "party_joined")
        await tx.set_deadline(case_id, DEADLINE)
        await tx.mark_late_reported(case_id)
        assert await tx.advance_case(case_id, "close_round") is CaseStage.JOINT
    async with unit(store) as tx:
        assert (await tx.case_info(case_id)).deadline is None
        assert not await tx.late_reported(case_id)
        await tx.set_deadline(case_id, DEADLINE)  # between rounds: the next round's deadline
    assert await _in_tx(store, lambda tx: tx.start_round(case_id, DEADLINE - timedelta(days=1))) == 2
    assert (await _in_tx(store, lambda tx: tx.case_info(case_id))).deadline == DEADLINE

async def test_reminder_candidates_and_marks(store: Store) -> None:
    """Only joined parties that have not submitted, withdrawn or declined are reminder candidates, with their chat
    and language (party_contact gives the same); marks are kept per day and cleared by a new deadline; late seats
    and the late report follow."""
    case_id = await create_case(store, parties=("Farmers", "Herders", "Traders", "Town"))
    invites = await issue_invites(store, case_id)
    farmers, herders, traders, town = (invite.seat_id for invite in invites)
    for invite, user in zip(invites[:3], (ALICE, BOB, CAROL), strict=True):
        assert await claim(store, invite.token, user) == invite.seat_id
    await _in_tx(store, lambda tx: tx.set_language(ALICE, "fr"))
    async with unit(store) as tx:
        contact = await tx.party_contact(farmers)
        assert contact is not None
        assert (contact.user_hash, contact.chat_id, contact.language) == (store.user_hash(ALICE), ALICE, "fr")
        assert await tx.party_contact(town) is None
    for action in (lambda c: c.join(), lambda c: c.choose_language("en"), lambda c: c.decline()):
        await caucus_step(store, traders, action)
    await caucus_step(store, herders, lambda c: setattr(c, "step", CaucusStep.SUBMITTED))

    async with unit(store) as tx:
        assert await tx.cases_with_deadline() == []
        await tx.set_deadline(case_id, DEADLINE)
        candidates = await tx.reminder_candidates(case_id)
        assert [(c.seat_id, c.label, c.chat_id, c.language, c.last_reminded, c.user_hash) for c in candidates] == [
            (farmers, "Farmers", ALICE, "fr", None, store.user_hash(ALICE))
        ]
        assert candidates[0].last_activity is not None
        assert [case.id for case in await tx.cases_with_deadline()] == [case_id]
        assert (await tx.cases_with_deadline())[0].deadline == DEADLINE
        assert await tx.late_seats(case_id) == ["Farmers", "Traders", "Town"]
        await tx.mark_reminded(farmers, date(2030, 1, 1))
    async with unit(store) as tx:
        assert [c.last_reminded for c in await tx.reminder_candidates(case_id)] == [date(2030, 1, 1)]
        assert not await tx.late_reported(case_id)
        await tx.mark_late_reported(case_id)
    async with unit(store) as tx:
        assert await tx.late_reported(case_id)
        await tx.set_deadline(case_id, DEADLINE + timedelta(days=1))
    async with unit(store) as tx:
        assert [c.last_reminded for c in await tx.reminder_candidates(case_id)] == [None]
        assert not await tx.late_reported(case_id)
        await tx.withdraw_seat(farmers)
    async with unit(store) as tx:
        assert await tx.reminder_candidates(case_id) == []
        assert await tx.party_contact(farmers) is None
        assert await tx.late_seats(case_id) == ["Traders", "Town"]
        await tx.advance_case(case_id, "party_joined")
        await tx.advance_case(case_id, "close_round")
        assert await tx.cases_with_deadline() == []  # the round is closed


# Migrations ----------------------------------------------------------------------------------------

async def test_migration_backfills_lead_mediators(database: Database, open_store: StoreFactory) -> None:
    """Cases that existed before the co-mediator table get their lead's membership when the schema is upgraded."""
    store = await open_store()
    case_id = await create_case(store)
    await store.engine.dispose()
    await asyncio.to_thread(command.downgrade, alembic_config(database.url), "0001")
    await upgrade_async(database.url)
    upgraded = await open_store()
    async with unit(upgraded) as tx:
        assert [case.id for case in await tx.cases_of(MEDIATOR_ID)] == [case_id]
        assert await tx.mediator_hashes(case_id) == [upgraded.user_hash(MEDIATOR_ID)]
        info = await tx.case_info(case_id)
    assert (info.title, info.priority_mode, info.timezone, info.deadline) == (
        "Riverbank dispute", PriorityMode.RANKING, "UTC", None)


async def test_button_meanings_are_encrypted_and_shredded_with_the_seat(store: Store) -> None:
    """What a party's button stands for (a category it chose) is stored encrypted; withdrawal makes it unreadable."""
    from storage.repository import ButtonMeaning
    from storage.tables import Button

    _case_id, (seat_id, _other) = await seated_case(store, [ALICE, BOB])
    async with unit(store) as tx:
        [token] = await tx.issue_buttons(
            [ButtonMeaning(store.user_hash(ALICE), "seat", seat_id, 1, "cat", "security:1")])
    async with store.engine.connect() as connection:
        row = (await connection.execute(select(Button).where(Button.token == token))).one()
    assert row.argument == ""
    assert b"security" not in (row.argument_enc or b"")
    async with unit(store) as tx:
        meaning = await tx.resolve_button(token)
        assert meaning is not None
        assert meaning.argument == "security:1"
        await tx.withdraw_seat(seat_id)
    async with unit(store) as tx:
        assert await tx.resolve_button(token) is None


async def test_an_answer_deleted_between_load_and_save_is_written_again(store: Store) -> None:
    """`save_caucus` writes over the answer rows `load_caucus` read, unless one of them went meanwhile (here
    deleted by a statement in the same transaction): then it reads them again, and the answer is stored anew."""
    case_id, (seat_id,) = await seated_case(store, [ALICE])
    await answer_issues(store, seat_id, positions=["p1", "p2"], words=["w1", "w2"],
                        categories=[[InterestCategory.LAND], [InterestCategory.OTHER]])
    async with unit(store) as tx:
        first, _second = await tx.issues(case_id)
        conversation = await tx.load_caucus(seat_id)
        await tx.session.execute(delete(Answer).where(Answer.seat_id == seat_id, Answer.issue_id == first.id,
                                                      Answer.kind == ItemKind.POSITION.value))
        conversation.answers.positions[first.id] = "p1, said again"
        conversation.changed.add(ItemKey(ItemKind.POSITION, first.id))
        await tx.save_caucus(seat_id, conversation)
    async with unit(store) as tx:
        assert (await tx.load_caucus(seat_id)).answers.positions[first.id] == "p1, said again"
