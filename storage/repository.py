"""Repositories: load and save the domain's objects, encrypting every field a person typed.

One `Transaction` is one unit of work (one Telegram update): it claims the update id,
reads and locks what it changes, and commits everything, outbox included, at once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from flows.caucus import CaucusConversation
from flows.machines import CaseStage, CaucusStep
from flows.model import (
    CaseInfo,
    CaucusAnswers,
    InterestCategory,
    Interests,
    Issue,
    ItemKey,
    ItemKind,
    PartyView,
    SeatStatus,
    ShareLevel,
)
from flows.setup import CaseDraft
from storage.crypto import FieldCipher, FieldContext, KeyRing, LookupHasher, new_data_key
from storage.db import is_sqlite, session_factory
from storage.errors import KeyDestroyedError, StorageError
from storage.tables import (
    Answer,
    Button,
    Case,
    DataKey,
    IssueRow,
    OutboxMessage,
    ProcessedUpdate,
    Seat,
    User,
    new_id,
    utcnow,
)

__all__ = ["ButtonMeaning", "Invite", "OutgoingMessage", "Store", "Transaction", "UserState"]

_SHORT_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read aloud and typed safely
_INVITE_TOKEN_BYTES = 24  # 192 bits; 32 url-safe characters, within the 64 of a deep link
_BUTTON_TOKEN_BYTES = 9


@dataclass(frozen=True)
class UserState:
    """A Telegram account as the transport needs it (identified by keyed hash only)."""

    user_hash: str
    language: str | None
    active_kind: str | None
    active_id: str | None
    version: int


@dataclass(frozen=True)
class Invite:
    """A party's invite token, shown once to the mediator; only its hash is stored."""

    seat_id: str
    label: str
    token: str


@dataclass(frozen=True)
class ButtonMeaning:
    """What a pressed button stands for, and the version of the conversation it was drawn for."""

    user_hash: str
    scope: str
    owner_id: str
    version: int
    action: str
    argument: str


@dataclass(frozen=True)
class OutgoingMessage:
    """A decrypted outbox row, ready to deliver."""

    seq: int
    chat_id: int
    method: str
    text: str
    buttons: list[list[dict[str, str]]]
    message_id: int | None
    attempts: int


class _Keys:
    """Data keys of one transaction: created wrapped, unwrapped at most once each."""

    def __init__(self, session: AsyncSession, ring: KeyRing) -> None:
        self._session = session
        self._ring = ring
        self._ciphers: dict[str, FieldCipher] = {}

    async def create(self, scope: str) -> tuple[str, FieldCipher]:
        key_id = new_id()
        raw = new_data_key()
        kek_id, wrapped = self._ring.wrap(raw, f"{scope}|{key_id}")
        self._session.add(DataKey(id=key_id, scope=scope, kek_id=kek_id, wrapped=wrapped))
        self._ciphers[key_id] = FieldCipher(raw)
        return key_id, self._ciphers[key_id]

    async def cipher(self, key_id: str) -> FieldCipher:
        if key_id not in self._ciphers:
            row = await self._session.get(DataKey, key_id)
            if row is None or row.wrapped is None:
                raise KeyDestroyedError("data key destroyed")
            raw = self._ring.unwrap(row.kek_id, row.wrapped, f"{row.scope}|{row.id}")
            self._ciphers[key_id] = FieldCipher(raw)
        return self._ciphers[key_id]


class Store:
    """The database behind Caucus: opens transactions and keeps the process-wide keys."""

    def __init__(self, engine: AsyncEngine, ring: KeyRing) -> None:
        self.engine = engine
        self.ring = ring
        self._sessions = session_factory(engine)
        self._hasher: LookupHasher | None = None
        self._system_key_id: str | None = None

    async def open(self) -> None:
        """Load (or create on first start) the look-up key and the system data key."""
        self._hasher = LookupHasher(await self._system_key("lookup"))
        await self._system_key("system")
        self._system_key_id = "system"

    async def _system_key(self, scope: str) -> bytes:
        """A process-wide data key whose id is its scope, so processes starting at once agree on one."""
        async with self._sessions() as session, session.begin():
            row = await session.get(DataKey, scope)
            if row is None:
                raw = new_data_key()
                kek_id, wrapped = self.ring.wrap(raw, f"{scope}|{scope}")
                try:
                    async with session.begin_nested():
                        session.add(DataKey(id=scope, scope=scope, kek_id=kek_id, wrapped=wrapped))
                except IntegrityError:  # another process created it first: use theirs
                    row = await session.get(DataKey, scope, populate_existing=True)
                else:
                    return raw
            if row is None or row.wrapped is None:
                raise StorageError(f"the {scope} key is missing")
            return self.ring.unwrap(row.kek_id, row.wrapped, f"{row.scope}|{row.id}")

    @property
    def hasher(self) -> LookupHasher:
        if self._hasher is None:
            raise StorageError("Store.open() was not called")
        return self._hasher

    def user_hash(self, user_id: int) -> str:
        return self.hasher("user", str(user_id))

    def chat_key(self, chat_id: int) -> str:
        return self.hasher("chat", str(chat_id))

    @asynccontextmanager
    async def transaction(self, update_id: int | None = None) -> AsyncIterator[Transaction | None]:
        """One unit of work; yields None when ``update_id`` was already processed."""
        async with self._sessions() as session, session.begin():
            if update_id is not None:
                try:
                    async with session.begin_nested():
                        session.add(ProcessedUpdate(update_id=update_id))
                except IntegrityError:
                    yield None
                    return
            assert self._system_key_id is not None  # noqa: S101 - set by open()
            yield Transaction(self, session, _Keys(session, self.ring), self._system_key_id)

    # Outbox delivery runs outside update transactions ---------------------------------------
    async def pending_outbox(self, limit: int = 50) -> list[OutgoingMessage]:
        async with self._sessions() as session, session.begin():
            rows = (await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= utcnow())
                .order_by(OutboxMessage.seq)
                .limit(limit)
            )).all()
            keys = _Keys(session, self.ring)
            messages = []
            for row in rows:
                try:
                    cipher = await keys.cipher(row.key_id)
                except KeyDestroyedError:
                    row.status, row.payload_enc = "erased", None
                    continue
                assert row.payload_enc is not None  # noqa: S101 - pending rows keep their payload
                payload = json.loads(cipher.decrypt(row.payload_enc, _outbox_context(row)))
                messages.append(OutgoingMessage(
                    row.seq, payload["chat_id"], payload["method"], payload["text"],
                    payload["buttons"], payload.get("message_id"), row.attempts,
                ))
            return messages

    async def has_pending_outbox(self) -> bool:
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
            )
            return bool(count)

    async def finish_outbox(self, seq: int, status: str) -> None:
        """Record a delivery outcome; a delivered or abandoned message keeps no payload."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.seq == seq)
                .values(status=status, payload_enc=None, sent_at=utcnow())
            )

    async def retry_outbox(self, seq: int, delay: timedelta) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.seq == seq)
                .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=utcnow() + delay)
            )

    async def prune(self, *, updates_older_than: timedelta, buttons_older_than: timedelta) -> None:
        """Forget update ids Telegram can no longer redeliver, and buttons too old to be pressed usefully."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < utcnow() - updates_older_than)
            )
            await session.execute(delete(Button).where(Button.created_at < utcnow() - buttons_older_than))


def _outbox_context(row: OutboxMessage) -> FieldContext:
    return FieldContext("outbox", row.id, "", "", "payload")


def _short_id() -> str:
    return "".join(secrets.choice(_SHORT_ID_ALPHABET) for _ in range(6))


class Transaction:
    """Everything one update may read or change, scoped to one database transaction."""

    def __init__(self, store: Store, session: AsyncSession, keys: _Keys, system_key_id: str) -> None:
        self.store = store
        self.session = session
        self._keys = keys
        self._system_key_id = system_key_id
        self._locking = not is_sqlite(store.engine)  # SQLite: BEGIN IMMEDIATE already serialises

    async def _locked(self, model: type[Any], row_id: str) -> Any:
        statement = select(model).where(model.id == row_id)
        if self._locking:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    # Users ---------------------------------------------------------------------------------
    async def user(self, user_id: int) -> UserState:
        row = await self._user_row(user_id)
        return UserState(row.user_hash, row.language, row.active_kind, row.active_id, row.version)

    async def _user_row(self, user_id: int) -> User:
        user_hash = self.store.user_hash(user_id)
        row = (await self.session.scalars(select(User).where(User.user_hash == user_hash))).one_or_none()
        if row is None:
            row = User(user_hash=user_hash, version=0)
            self.session.add(row)
            await self.session.flush()
        return row

    async def language_of(self, user_hash: str) -> str | None:
        return await self.session.scalar(select(User.language).where(User.user_hash == user_hash))

    async def set_language(self, user_id: int, language: str) -> None:
        row = await self._user_row(user_id)
        row.language = language
        row.version += 1

    async def set_active(self, user_id: int, kind: str | None, active_id: str | None) -> None:
        row = await self._user_row(user_id)
        row.active_kind, row.active_id = kind, active_id

    # Cases -----------------------------------------------------------------------------------
    async def create_case(self, mediator_user_id: int) -> CaseInfo:
        key_id, _ = await self._keys.create("case")
        short_id = _short_id()
        while await self.session.scalar(select(Case.id).where(Case.short_id == short_id)):
            short_id = _short_id()
        row = Case(
            id=new_id(), short_id=short_id, mediator_hash=self.store.user_hash(mediator_user_id),
            key_id=key_id, stage=CaseStage.DRAFT_TITLE.value, round=1, version=0,
        )
        self.session.add(row)
        await self.session.flush()
        return CaseInfo(row.id, row.short_id, "", row.stage, row.round)

    async def _case_row(self, case_id: str, *, lock: bool = False) -> Case:
        row = await self._locked(Case, case_id) if lock else await self.session.get(Case, case_id)
        if row is None:
            raise StorageError("no such case")
        return row

    async def _case_cipher(self, case: Case) -> FieldCipher:
        return await self._keys.cipher(case.key_id)

    async def case_info(self, case_id: str) -> CaseInfo:
        row = await self._case_row(case_id)
        cipher = await self._case_cipher(row)
        title = cipher.decrypt(row.title_enc, _case_title(row)) if row.title_enc else ""
        return CaseInfo(row.id, row.short_id, title, row.stage, row.round)

    async def cases_of(self, mediator_user_id: int) -> list[CaseInfo]:
        ids = (await self.session.scalars(
            select(Case.id).where(Case.mediator_hash == self.store.user_hash(mediator_user_id))
            .order_by(Case.created_at.desc())
        )).all()
        return [await self.case_info(case_id) for case_id in ids]

    async def case_id_for(self, short_id: str) -> str | None:
        """The case with this short id, whoever its mediator (for the operator's command line)."""
        return await self.session.scalar(select(Case.id).where(Case.short_id == short_id.strip().lower()))

    async def find_case(self, mediator_user_id: int, short_id: str) -> CaseInfo | None:
        """The mediator's case with this short id; None for unknown and for someone else's alike."""
        case_id = await self.session.scalar(select(Case.id).where(
            Case.short_id == short_id.strip().lower(),
            Case.mediator_hash == self.store.user_hash(mediator_user_id),
        ))
        return None if case_id is None else await self.case_info(case_id)

    async def issues(self, case_id: str) -> list[Issue]:
        case = await self._case_row(case_id)
        cipher = await self._case_cipher(case)
        rows = (await self.session.scalars(
            select(IssueRow).where(IssueRow.case_id == case_id).order_by(IssueRow.ordinal)
        )).all()
        return [Issue(row.id, cipher.decrypt(row.title_enc, _issue_title(row))) for row in rows]

    async def _seat_rows(self, case_id: str) -> list[Seat]:
        return list((await self.session.scalars(
            select(Seat).where(Seat.case_id == case_id).order_by(Seat.ordinal)
        )).all())

    async def load_draft(self, case_id: str) -> CaseDraft:
        case = await self._case_row(case_id, lock=True)
        info = await self.case_info(case_id)
        cipher = await self._case_cipher(case)
        labels = [cipher.decrypt(seat.label_enc, _seat_label(seat)) for seat in await self._seat_rows(case_id)]
        return CaseDraft(
            CaseStage(case.stage), info.title, [issue.title for issue in await self.issues(case_id)], labels
        )

    async def save_draft(self, case_id: str, draft: CaseDraft) -> None:
        """Store the draft's stage, title and any issue or party added since `load_draft`."""
        case = await self._case_row(case_id)
        cipher = await self._case_cipher(case)
        case.stage = draft.stage.value
        case.version += 1
        case.updated_at = utcnow()
        if draft.title:
            case.title_enc = cipher.encrypt(draft.title, _case_title(case))
        stored_issues = await self.issues(case_id)
        for ordinal, title in enumerate(draft.issues[len(stored_issues):], start=len(stored_issues)):
            issue = IssueRow(id=new_id(), case_id=case_id, ordinal=ordinal, title_enc=b"")
            issue.title_enc = cipher.encrypt(title, _issue_title(issue))
            self.session.add(issue)
        seats = await self._seat_rows(case_id)
        for ordinal, label in enumerate(draft.parties[len(seats):], start=len(seats)):
            key_id, _ = await self._keys.create("party")
            seat = Seat(
                id=new_id(), case_id=case_id, ordinal=ordinal, key_id=key_id, label_enc=b"",
                invite_hash=self.store.hasher("invite", secrets.token_urlsafe(_INVITE_TOKEN_BYTES)),
                invite_expires_at=utcnow(), step=CaucusStep.INVITED.value, cursor=0, version=0,
            )
            seat.label_enc = cipher.encrypt(label, _seat_label(seat))
            self.session.add(seat)
        await self.session.flush()

    async def advance_case(self, case_id: str, trigger: str) -> CaseStage:
        """Fire a case-flow trigger (e.g. ``party_joined``); returns the new stage."""
        case = await self._case_row(case_id, lock=True)
        draft = CaseDraft(CaseStage(case.stage))
        if draft.fire(trigger):
            case.stage = draft.stage.value
            case.version += 1
            case.updated_at = utcnow()
        return draft.stage

    async def issue_invites(self, case_id: str, valid_for: timedelta) -> list[Invite]:
        """New single-use invite tokens for every seat not yet taken (old links stop working)."""
        case = await self._case_row(case_id)
        cipher = await self._case_cipher(case)
        invites = []
        for seat in await self._seat_rows(case_id):
            if seat.user_hash is not None:
                continue
            token = secrets.token_urlsafe(_INVITE_TOKEN_BYTES)
            seat.invite_hash = self.store.hasher("invite", token)
            seat.invite_expires_at = utcnow() + valid_for
            seat.invite_used_at = None
            invites.append(Invite(seat.id, cipher.decrypt(seat.label_enc, _seat_label(seat)), token))
        return invites

    # Seats and caucus ------------------------------------------------------------------------
    async def claim_seat(self, token: str, user_id: int) -> str | None:
        """Bind the invited seat to this account, or resume it; None for any token that is not usable.

        Unknown, used, expired and someone else's tokens all give None, so the caller can
        answer all of them with one reply that reveals nothing.
        """
        user_hash = self.store.user_hash(user_id)
        seat_id = await self.session.scalar(
            select(Seat.id).where(Seat.invite_hash == self.store.hasher("invite", token))
        )
        if seat_id is None:
            return None
        seat: Seat = await self._locked(Seat, seat_id)
        if seat.user_hash == user_hash:
            return seat.id
        if seat.user_hash is not None or seat.invite_used_at is not None or seat.invite_expires_at < utcnow():
            return None
        other_seat = await self.session.scalar(
            select(Seat.id).where(Seat.case_id == seat.case_id, Seat.user_hash == user_hash)
        )
        if other_seat is not None:
            return None
        party_cipher = await self._keys.cipher(seat.key_id)
        seat.user_hash = user_hash
        seat.invite_used_at = utcnow()
        seat.chat_enc = party_cipher.encrypt(str(user_id), _seat_chat(seat))
        seat.last_activity_at = utcnow()
        return seat.id

    async def seat_case_id(self, seat_id: str) -> str:
        seat = await self.session.get(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        return seat.case_id

    async def seat_label(self, seat_id: str) -> str:
        seat = await self.session.get(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        case = await self._case_row(seat.case_id)
        return (await self._case_cipher(case)).decrypt(seat.label_enc, _seat_label(seat))

    async def seat_version(self, seat_id: str) -> int:
        seat = await self.session.get(Seat, seat_id)
        return -1 if seat is None else seat.version

    async def load_caucus(self, seat_id: str) -> CaucusConversation:
        seat: Seat | None = await self._locked(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        case = await self._case_row(seat.case_id)
        answers = await self._answers(seat, case.round)
        return CaucusConversation(CaucusStep(seat.step), seat.cursor, await self.issues(seat.case_id), answers)

    async def _answers(self, seat: Seat, round_number: int) -> CaucusAnswers:
        cipher = await self._keys.cipher(seat.key_id)
        rows = (await self.session.scalars(
            select(Answer).where(Answer.seat_id == seat.id, Answer.round == round_number)
        )).all()
        answers = CaucusAnswers()
        for row in rows:
            value = json.loads(cipher.decrypt(row.value_enc, _answer_value(row)))
            kind = ItemKind(row.kind)
            if kind is ItemKind.POSITION:
                answers.positions[row.issue_id] = value["text"]
            elif kind is ItemKind.INTERESTS:
                answers.interests[row.issue_id] = Interests(
                    [InterestCategory(c) for c in value["categories"]], value["words"]
                )
            else:
                answers.ranking = list(value["issues"])
            answers.share[ItemKey(kind, row.issue_id)] = ShareLevel(row.share_level)
        return answers

    async def save_caucus(self, seat_id: str, conversation: CaucusConversation) -> None:
        """Store the new step and every changed answer (encrypted), and bump the version."""
        seat = await self.session.get(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        case = await self._case_row(seat.case_id)
        cipher = await self._keys.cipher(seat.key_id)
        existing = {
            (row.kind, row.issue_id): row
            for row in (await self.session.scalars(
                select(Answer).where(Answer.seat_id == seat.id, Answer.round == case.round)
            )).all()
        }
        answers = conversation.answers
        for key in conversation.changed:
            value = _answer_payload(answers, key)
            row = existing.get((key.kind.value, key.issue_id))
            if row is None:
                row = Answer(
                    id=new_id(), case_id=seat.case_id, seat_id=seat.id, round=case.round,
                    kind=key.kind.value, issue_id=key.issue_id, value_enc=b"",
                    share_level=answers.share_level(key).value,
                )
                self.session.add(row)
            row.value_enc = cipher.encrypt(json.dumps(value, ensure_ascii=False), _answer_value(row))
            row.share_level = answers.share_level(key).value
            row.updated_at = utcnow()
        if conversation.step is CaucusStep.SUBMITTED and seat.submitted_at is None:
            seat.submitted_at = utcnow()
        # The version moves with the step, so buttons of earlier steps go stale while the
        # buttons of the message being edited in place (choices, share levels) stay usable.
        if (seat.step, seat.cursor) != (conversation.step.value, conversation.cursor):
            seat.version += 1
        seat.step = conversation.step.value
        seat.cursor = conversation.cursor
        seat.last_activity_at = utcnow()
        conversation.changed.clear()

    async def seat_statuses(self, case_id: str) -> list[SeatStatus]:
        case = await self._case_row(case_id)
        cipher = await self._case_cipher(case)
        return [
            SeatStatus(
                seat.id, cipher.decrypt(seat.label_enc, _seat_label(seat)), seat.step,
                seat.user_hash is not None, seat.submitted_at is not None, seat.last_activity_at,
            )
            for seat in await self._seat_rows(case_id)
        ]

    async def submitted_parties(self, case_id: str) -> list[PartyView]:
        """Submitted parties with their answers, for summaries (callers filter by share level)."""
        case = await self._case_row(case_id)
        cipher = await self._case_cipher(case)
        return [
            PartyView(seat.id, cipher.decrypt(seat.label_enc, _seat_label(seat)), await self._answers(seat, case.round))
            for seat in await self._seat_rows(case_id)
            if seat.submitted_at is not None
        ]

    async def case_version(self, case_id: str) -> int:
        return (await self._case_row(case_id)).version

    async def case_mediator_hash(self, case_id: str) -> str:
        return (await self._case_row(case_id)).mediator_hash

    # Buttons -------------------------------------------------------------------------------------
    async def issue_button(self, meaning: ButtonMeaning) -> str:
        token = secrets.token_urlsafe(_BUTTON_TOKEN_BYTES)
        self.session.add(Button(
            token=token, user_hash=meaning.user_hash, scope=meaning.scope, owner_id=meaning.owner_id,
            version=meaning.version, action=meaning.action, argument=meaning.argument,
        ))
        return token

    async def resolve_button(self, token: str) -> ButtonMeaning | None:
        row = await self.session.get(Button, token[:24])
        if row is None:
            return None
        return ButtonMeaning(row.user_hash, row.scope, row.owner_id, row.version, row.action, row.argument)

    # Outbox ---------------------------------------------------------------------------------------
    async def enqueue(
        self, chat_id: int, text: str, buttons: list[list[dict[str, str]]], *,
        key_id: str | None = None, method: str = "send", message_id: int | None = None,
    ) -> None:
        """Queue a message; encrypted under ``key_id`` (the party's or case's key) or the system key."""
        row = OutboxMessage(
            id=new_id(), key_id=key_id or self._system_key_id, chat_key=self.store.chat_key(chat_id),
            payload_enc=b"", status="pending", attempts=0, next_attempt_at=utcnow(), created_at=utcnow(),
        )
        cipher = await self._keys.cipher(row.key_id)
        payload = {"chat_id": chat_id, "method": method, "text": text, "buttons": buttons, "message_id": message_id}
        row.payload_enc = cipher.encrypt(json.dumps(payload, ensure_ascii=False), _outbox_context(row))
        self.session.add(row)

    async def seat_key_id(self, seat_id: str) -> str:
        seat = await self.session.get(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        return seat.key_id

    async def case_key_id(self, case_id: str) -> str:
        return (await self._case_row(case_id)).key_id


def _answer_payload(answers: CaucusAnswers, key: ItemKey) -> dict[str, Any]:
    if key.kind is ItemKind.POSITION:
        return {"text": answers.positions[key.issue_id]}
    if key.kind is ItemKind.INTERESTS:
        interests = answers.interests[key.issue_id]
        return {"categories": [c.value for c in interests.categories], "words": interests.words}
    return {"issues": list(answers.ranking)}


def _case_title(case: Case) -> FieldContext:
    return FieldContext("cases", case.id, case.id, "", "title")


def _issue_title(issue: IssueRow) -> FieldContext:
    return FieldContext("issues", issue.id, issue.case_id, "", "title")


def _seat_label(seat: Seat) -> FieldContext:
    return FieldContext("seats", seat.id, seat.case_id, "", "label")


def _seat_chat(seat: Seat) -> FieldContext:
    return FieldContext("seats", seat.id, seat.case_id, seat.id, "chat")


def _answer_value(answer: Answer) -> FieldContext:
    return FieldContext("answers", answer.id, answer.case_id, answer.seat_id, f"{answer.kind}:{answer.issue_id}")

