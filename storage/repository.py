"""Repositories: load and save the domain's objects, encrypting every field a person typed.

One `Transaction` is one unit of work (one Telegram update): it claims the update id,
reads and locks what it changes, and commits everything, outbox included, at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, bindparam, delete, func, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from flows.caucus import CaucusConversation
from flows.machines import CaseStage, CaucusStep
from flows.model import (
    OPTIONAL_KINDS,
    CaseInfo,
    CaucusAnswers,
    InterestCategory,
    Interests,
    Issue,
    ItemKey,
    ItemKind,
    Option,
    PartyView,
    PriorityMode,
    Range,
    Rating,
    Scale,
    SeatStatus,
    ShareLevel,
)
from flows.setup import CaseDraft
from storage.agreements import AgreementRepository
from storage.audit import AuditRecord, ChainReport, append_event, ensure_head, events_about, verify_chain
from storage.chats import ChatRepository, Handoff, OutboxStore, OutgoingMessage, Reservation
from storage.crypto import FieldCipher, FieldContext, KeyRing, LookupHasher, new_data_key
from storage.db import changed_cases, insert_new, is_sqlite, session_factory
from storage.errors import KeyDestroyedError, StorageError
from storage.grievances import GrievanceRepository
from storage.keys import require_configured_master_keys
from storage.leader import OUTBOX_CHANNEL
from storage.retention import RetentionRepository
from storage.tables import (
    Answer,
    Base,
    Button,
    Case,
    CaseMediator,
    DataKey,
    IssueRow,
    NoteRow,
    OptionRow,
    OutboxMessage,
    ProcessedUpdate,
    Seat,
    SuggestionRow,
    User,
    new_id,
    utcnow,
)

__all__ = [
    "ButtonMeaning",
    "Invite",
    "Note",
    "PartyContact",
    "ReminderCandidate",
    "Store",
    "Suggestion",
    "Transaction",
    "UserState",
]

_SHORT_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: read aloud and typed safely
_INVITE_TOKEN_BYTES = 24  # 192 bits; 32 url-safe characters, within the 64 of a deep link
_BUTTON_TOKEN_BYTES = 9
_JOIN_CODE_DIGITS = 6
_LEAD, _CO = "lead", "co"
# Stages in which a caucus round is open: parties may answer, deadlines and reminders apply.
_ROUND_OPEN_STAGES = frozenset({CaseStage.INVITING.value, CaseStage.CAUCUS.value})
_WITHDRAWN = CaucusStep.WITHDRAWN.value
_BEFORE_CONSENT = frozenset({CaucusStep.INVITED, CaucusStep.LANGUAGE, CaucusStep.CONSENT, CaucusStep.DECLINED})


@dataclass(frozen=True)
class UserState:
    """A Telegram account as the transport needs it (identified by keyed hash only)."""

    user_hash: str
    language: str | None
    active_kind: str | None
    active_id: str | None
    version: int
    pending: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Invite:
    """A party's invite token, shown once to the mediator; only its hash is stored."""

    seat_id: str
    label: str
    token: str


@dataclass(frozen=True)
class Note:
    """A private note a party sent the mediator (decrypted), with the round it was sent in."""

    seat_id: str
    label: str
    round: int
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Suggestion:
    """An option a party suggested for an issue (decrypted), and what the mediator made of it."""

    id: str
    seat_id: str
    issue_id: str
    text: str
    status: str


@dataclass(frozen=True)
class PartyContact:
    """How to reach the account holding a seat: its look-up hash, its chat and its language."""

    user_hash: str
    chat_id: int
    language: str | None


@dataclass(frozen=True)
class ReminderCandidate:
    """A joined party that has not submitted: what a reminder needs to be sent, never content."""

    seat_id: str
    label: str
    chat_id: int
    language: str | None
    last_reminded: date | None
    last_activity: datetime | None
    user_hash: str
    timezone: str | None = None  # the party's own time zone, if it chose one


@dataclass(frozen=True)
class ButtonMeaning:
    """What a pressed button stands for, and the version of the conversation it was drawn for."""

    user_hash: str
    scope: str
    owner_id: str
    version: int
    action: str
    argument: str


_K = TypeVar("_K")
_V = TypeVar("_V")


class _RecentlyUsed(Generic[_K, _V]):
    """Values by key, at most ``size`` in weight (`_weight`, 1 each unless said otherwise); the least recently
    used go first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._held = 0
        self._values: collections.OrderedDict[_K, _V] = collections.OrderedDict()

    def _weight(self, _value: _V) -> int:
        return 1

    def get(self, key: _K) -> _V | None:
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def put(self, key: _K, value: _V) -> None:
        self.forget(key)
        self._values[key] = value
        self._held += self._weight(value)
        while self._held > self._size and self._values:
            _key, dropped = self._values.popitem(last=False)
            self._held -= self._weight(dropped)

    def forget(self, key: _K) -> None:
        value = self._values.pop(key, None)
        if value is not None:
            self._held -= self._weight(value)

    def __len__(self) -> int:
        return len(self._values)


class CaseKeys(_RecentlyUsed[str, FieldCipher]):
    """Cases' data keys, unwrapped, kept by the process (at most ``size``, the least recently used go first).

    A case's key is destroyed only with its case (see `RetentionRepository.erase_case`, one transaction): while a
    transaction holds the case's row, the key is there. A transaction that read the row takes the key from here
    without reading it again. Party, monitor and grievance keys are destroyed while their rows live on (withdrawal,
    `/forget`): each transaction reads those afresh.
    """

    def __init__(self, size: int = 1024) -> None:
        super().__init__(size)


class CaseIssues(_RecentlyUsed[tuple[str, int], tuple[Issue, ...]]):
    """Cases' issues with their options, decrypted, by (case, version), at most ``size`` issues and options in
    all (the least recently used cases go first: a case of 30 issues with 500 options each counts 15,030).

    Every change to a case's issues or options bumps the case's version (`_edit_case`, `save_draft`) in the same
    transaction, so a version's issues never change; an erased case has no row to give its version. Filled only
    with what committed transactions read (see `Store.transaction`)."""

    def __init__(self, size: int = 20_000) -> None:
        super().__init__(size)

    def _weight(self, issues: tuple[Issue, ...]) -> int:
        return len(issues) + sum(len(issue.options) for issue in issues)


_DATA_KEYS = DataKey.__table__
_DATA_KEY = select(_DATA_KEYS.c.kek_id, _DATA_KEYS.c.wrapped, _DATA_KEYS.c.scope).where(
    _DATA_KEYS.c.id == bindparam("key_id"))


class _Keys:
    """Data keys of one transaction: created wrapped, unwrapped at most once each."""

    def __init__(self, session: AsyncSession, ring: KeyRing, cases: CaseKeys) -> None:
        self._session = session
        self._ring = ring
        self._cases = cases
        self._ciphers: dict[str, FieldCipher] = {}
        self._destroyed: set[str] = set()

    async def create(self, scope: str) -> tuple[str, FieldCipher]:
        key_id = new_id()
        raw = new_data_key()
        kek_id, wrapped = self._ring.wrap(raw, f"{scope}|{key_id}")
        self._session.add(DataKey(id=key_id, scope=scope, kek_id=kek_id, wrapped=wrapped))
        self._ciphers[key_id] = FieldCipher(raw)
        return key_id, self._ciphers[key_id]

    def known(self, key_id: str, cipher: FieldCipher) -> None:
        """A key this transaction need not read: unwrapped already, and never destroyed."""
        self._ciphers[key_id] = cipher

    async def cipher(self, key_id: str) -> FieldCipher:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            # Read as a plain row (the session neither tracks nor flushes it): destroy() below says what this
            # transaction destroyed and did not flush yet.
            row = None if key_id in self._destroyed else (
                await self._session.execute(_DATA_KEY, {"key_id": key_id})).one_or_none()
            if row is None or row.wrapped is None:
                raise KeyDestroyedError("data key destroyed")
            cipher = self._ciphers[key_id] = FieldCipher(
                self._ring.unwrap(row.kek_id, row.wrapped, f"{row.scope}|{key_id}"))
        return cipher

    async def case_cipher(self, key_id: str) -> FieldCipher:
        """The key of a case whose row this transaction read (see `CaseKeys`)."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._cases.get(key_id)
            if cipher is None:
                cipher = await self.cipher(key_id)
                self._cases.put(key_id, cipher)
            self._ciphers[key_id] = cipher
        return cipher

    async def preload(self, key_ids: list[str]) -> None:
        """Unwrap many data keys with one query per thousand instead of one each (listing many grievances)."""
        wanted = [key_id for key_id in dict.fromkeys(key_ids) if key_id not in self._ciphers]
        for start in range(0, len(wanted), 1000):
            rows = (await self._session.scalars(
                select(DataKey).where(DataKey.id.in_(wanted[start:start + 1000]), DataKey.wrapped.is_not(None))
            )).all()
            for row in rows:
                assert row.wrapped is not None  # noqa: S101 - selected so
                raw = self._ring.unwrap(row.kek_id, row.wrapped, f"{row.scope}|{row.id}")
                self._ciphers[row.id] = FieldCipher(raw)

    async def destroy(self, key_id: str) -> None:
        """Crypto-shred: drop the wrapped key, so everything it protected is gone, backups included."""
        self._ciphers.pop(key_id, None)
        self._cases.forget(key_id)
        self._destroyed.add(key_id)
        row = await self._session.get(DataKey, key_id)
        if row is not None and row.wrapped is not None:
            row.wrapped, row.destroyed_at = None, utcnow()

    async def destroyed(self, key_id: str) -> bool:
        if key_id in self._ciphers:
            return False
        wrapped = await self._session.scalar(select(DataKey.wrapped).where(DataKey.id == key_id))
        return wrapped is None


class Store(OutboxStore):
    """The database behind Caucus: opens transactions and keeps the process-wide keys."""

    def __init__(self, engine: AsyncEngine, ring: KeyRing) -> None:
        self.engine = engine
        self.ring = ring
        self._sessions = session_factory(engine)
        # SQLite: every transaction writes (BEGIN IMMEDIATE), so this process runs them one at a time and hands
        # the turn over in arrival order. Left to SQLite, the waiting connections each poll the file's lock with
        # growing sleeps (its busy handler): slower, and out of order.
        self._writer = asyncio.Lock() if is_sqlite(engine) else None
        self._case_keys = CaseKeys()
        self.case_issues = CaseIssues()
        self._hasher: LookupHasher | None = None
        self._system_key_id: str | None = None
        self._system_cipher: FieldCipher | None = None
        self._audit_key: bytes | None = None
        # The sender running in this process, if any: it takes fresh replies straight from their transaction.
        self.handoff: Handoff | None = None

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A session of its own; on SQLite, once the transactions before it in this process are done."""
        async with self._writer or contextlib.nullcontext(), self._sessions() as session:
            yield session

    async def open(self) -> None:
        """Load (or create on first start) the look-up key, the system data key and the audit trail's key."""
        async with self._session() as session, session.begin():  # every master key in use must be configured
            await require_configured_master_keys(session, self.ring)
        self._hasher = LookupHasher(await self._system_key("lookup"))
        # Never destroyed (a rotation re-wraps it, unchanged): each transaction starts with it unwrapped.
        self._system_cipher = FieldCipher(await self._system_key("system"))
        self._system_key_id = "system"
        self._audit_key = await self._system_key("audit")
        async with self._session() as session, session.begin():
            await ensure_head(session)

    async def _system_key(self, scope: str) -> bytes:
        """A process-wide data key whose id is its scope, so processes starting at once agree on one."""
        async with self._session() as session, session.begin():
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

    @property
    def audit_key(self) -> bytes:
        if self._audit_key is None:
            raise StorageError("Store.open() was not called")
        return self._audit_key

    async def verify_audit(self) -> ChainReport:
        """Recompute the whole audit chain (`caucusbot audit verify`)."""
        async with self._session() as session:
            return await verify_chain(session, self.audit_key)

    def _keys_for(self, session: AsyncSession) -> _Keys:
        keys = _Keys(session, self.ring, self._case_keys)
        if self._system_cipher is not None:
            keys.known("system", self._system_cipher)
        return keys

    def user_hash(self, user_id: int) -> str:
        return self.hasher("user", str(user_id))

    def chat_key(self, chat_id: int) -> str:
        return self.hasher("chat", str(chat_id))

    @asynccontextmanager
    async def transaction(self, update_id: int | None = None) -> AsyncIterator[Transaction | None]:
        """One unit of work; yields None when ``update_id`` was already processed. Once it committed, its fresh
        replies go straight to this process's sender (``handoff``), the others to the outbox's rounds."""
        tx: Transaction | None = None
        handed: list[tuple[Reservation, list[OutgoingMessage]]] = []
        try:
            async with self._session() as session, session.begin():
                if update_id is not None and not await insert_new(
                        session, ProcessedUpdate, update_id=update_id, processed_at=utcnow()):
                    yield None  # handled before
                    return
                assert self._system_key_id is not None  # noqa: S101 - set by open()
                tx = Transaction(self, session, self._keys_for(session), self._system_key_id)
                yield tx
                handed = await tx.seal_fresh()
                if tx.queued and tx._locking:
                    # Delivered with the commit, once however many replies: the worker that sends wakes up at once.
                    await session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        except BaseException:
            if tx is not None:
                for reservation in tx.unseal_fresh():
                    reservation.sender.drop(reservation)
            raise
        if tx is not None:
            tx.publish_issues()
        for reservation, messages in handed:
            reservation.sender.hand(reservation, messages)
        if tx is not None and tx.queued and self.handoff is not None:
            self.handoff.wake()


def _current(row: object) -> bool:
    """Whether the session holds the row, every attribute loaded (not deleted, one by one or by a statement that
    matched it, nor expired by a rollback)."""
    state = inspect(row)
    return state.persistent and not state.expired_attributes


def _for_update(statement: Select[Any]) -> Select[Any]:
    """Lock the rows read, and read them afresh under the lock (see `Transaction._locked`)."""
    return statement.with_for_update().execution_options(populate_existing=True)


# Statements of every update, built once (building one costs more than SQLite takes to run it).
_USER = select(User).where(User.user_hash == bindparam("user_hash"))
_USER_LOCKED = _for_update(_USER)
_ANSWERS = select(Answer).where(Answer.seat_id == bindparam("seat_id"), Answer.round == bindparam("round"))
_ISSUES = select(IssueRow).where(IssueRow.case_id == bindparam("case_id")).order_by(IssueRow.ordinal, IssueRow.id)
_INSERT_BUTTON = insert(Base.metadata.tables["buttons"])
_OPTIONS = select(OptionRow).where(OptionRow.case_id == bindparam("case_id")).order_by(
    OptionRow.ordinal, OptionRow.id)


def _short_id() -> str:
    return "".join(secrets.choice(_SHORT_ID_ALPHABET) for _ in range(6))


class Transaction(GrievanceRepository, ChatRepository, RetentionRepository, AgreementRepository):
    """Everything one update may read or change, scoped to one database transaction."""

    def __init__(self, store: Store, session: AsyncSession, keys: _Keys, system_key_id: str) -> None:
        self.store = store
        self.session = session
        self._keys = keys
        self._system_key_id = system_key_id
        self._locking = not is_sqlite(store.engine)  # SQLite: BEGIN IMMEDIATE already serialises
        self._fresh = {}
        self._users: dict[str, tuple[User, bool]] = {}  # user hash -> the row, and whether it was read locked
        self._issues_read: dict[tuple[str, int], tuple[Issue, ...]] = {}  # (case id, version) -> its issues
        # (seat id, round) -> its answer rows, as `load_caucus` read them, for the `save_caucus` that follows.
        self._answers_loaded: dict[tuple[str, int], list[Answer]] = {}

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Undo everything done inside if it raises, leaving the rest of the transaction as it was."""
        async with self.session.begin_nested():
            yield

    async def audit(self, kind: str, *, actor: str, case_id: str | None = None, seat_id: str | None = None,
                    **detail: Any) -> None:
        """Append a content-free event to the audit trail, in this transaction."""
        await append_event(self.session, self.store.audit_key, kind, actor=actor, case_id=case_id, seat_id=seat_id,
                           detail=detail, lock=self._locking)

    async def audit_events_of_seat(self, seat_id: str) -> list[AuditRecord]:
        """The events about one party's data, oldest first (what `/history` shows the party)."""
        return await events_about(self.session, seat_ids=[seat_id])

    async def _locked(self, model: type[Any], row_id: str) -> Any:
        """The row, locked to the end of the transaction on PostgreSQL and read afresh under the lock: a copy the
        session read earlier (and holds) may be older than what another worker committed since. On SQLite the
        transaction holds the database's write lock from its start, so a copy it read is current."""
        if not self._locking:
            return await self.session.get(model, row_id)
        return (await self.session.scalars(_for_update(select(model).where(model.id == row_id)))).one_or_none()


    # Users ---------------------------------------------------------------------------------
    async def user(self, user_id: int) -> UserState:
        """The person an update comes from. On PostgreSQL their row stays locked to the end of the transaction:
        with several workers, one person's updates are handled one at a time, whichever workers get them."""
        row = await self._user_row(user_id, lock=self._locking)
        return UserState(row.user_hash, row.language, row.active_kind, row.active_id, row.version, row.pending,
                         row.timezone)

    async def _user_row(self, user_id: int, *, lock: bool = False) -> User:
        """The account's row: read once a transaction (locked if ``lock``), created on its first update."""
        user_hash = self.store.user_hash(user_id)
        held = self._users.get(user_hash)
        # Not after a savepoint's rollback took it out of the session or expired it: read again then.
        if held is not None and (held[1] or not lock) and _current(held[0]):
            return held[0]
        row = (await self.session.scalars(_USER_LOCKED if lock else _USER, {"user_hash": user_hash})).one_or_none()
        if row is None:
            row = User(user_hash=user_hash, version=0)
            self.session.add(row)
            await self.session.flush()
        self._users[user_hash] = (row, lock)
        return row

    async def language_of(self, user_hash: str) -> str | None:
        return await self.session.scalar(select(User.language).where(User.user_hash == user_hash))

    async def timezone_of(self, user_hash: str) -> str | None:
        return await self.session.scalar(select(User.timezone).where(User.user_hash == user_hash))

    async def set_language(self, user_id: int, language: str) -> None:
        row = await self._user_row(user_id)
        row.language = language
        row.version += 1

    async def set_user_timezone(self, user_id: int, name: str | None) -> None:
        """The time zone this account reads times in (an IANA name already checked), or None for the default."""
        row = await self._user_row(user_id)
        row.timezone = name

    async def set_active(self, user_id: int, kind: str | None, active_id: str | None) -> None:
        row = await self._user_row(user_id)
        row.active_kind, row.active_id = kind, active_id

    async def set_pending(self, user_id: int, pending: str | None) -> None:
        """Remember what the account's next typed text is for: a step name and ids, never content."""
        if pending is not None and len(pending) > 80:
            raise StorageError("pending marker too long")
        row = await self._user_row(user_id)
        row.pending = pending

    # Cases -----------------------------------------------------------------------------------
    async def create_case(self, mediator_user_id: int) -> CaseInfo:
        """A new case in its first draft stage, with the caller as its lead mediator."""
        key_id, _ = await self._keys.create("case")
        short_id = _short_id()
        while await self.session.scalar(select(Case.id).where(Case.short_id == short_id)):
            short_id = _short_id()
        mediator_hash = self.store.user_hash(mediator_user_id)
        row = Case(
            id=new_id(), short_id=short_id, mediator_hash=mediator_hash, key_id=key_id,
            stage=CaseStage.DRAFT_TITLE.value, round=1, version=0,
            priority_mode=PriorityMode.RANKING.value, timezone="UTC",
        )
        self.session.add(row)
        self.session.add(CaseMediator(
            id=new_id(), case_id=row.id, user_hash=mediator_hash, role=_LEAD, joined_at=utcnow(),
        ))
        await self.session.flush()
        await self.audit("case_created", actor="mediator", case_id=row.id)
        return _case_info(row, "")

    async def _case_row(self, case_id: str, *, lock: bool = False) -> Case:
        row = await self._locked(Case, case_id) if lock else await self.session.get(Case, case_id)
        if row is None:
            raise StorageError("no such case")
        return row

    async def _edit_case(self, case_id: str) -> Case:
        """The case row, locked, its version bumped: an edit makes the mediators' older buttons stale."""
        case = await self._case_row(case_id, lock=True)
        case.version += 1
        case.updated_at = utcnow()
        return case

    async def _case_cipher(self, case: Case) -> FieldCipher:
        return await self._keys.case_cipher(case.key_id)

    async def case_info(self, case_id: str) -> CaseInfo:
        row = await self._case_row(case_id)
        cipher = await self._case_cipher(row)
        title = cipher.decrypt(row.title_enc, _case_title(row)) if row.title_enc else ""
        return _case_info(row, title)

    async def cases_of(self, mediator_user_id: int) -> list[CaseInfo]:
        """The cases this account mediates (as lead or joined co-mediator), newest first."""
        ids = (await self.session.scalars(
            select(Case.id).join(CaseMediator, CaseMediator.case_id == Case.id)
            .where(CaseMediator.user_hash == self.store.user_hash(mediator_user_id))
            .order_by(Case.created_at.desc(), Case.id)
        )).all()
        return [await self.case_info(case_id) for case_id in ids]

    async def case_id_for(self, short_id: str) -> str | None:
        """The case with this short id, whoever its mediator (for the operator's command line)."""
        return await self.session.scalar(select(Case.id).where(Case.short_id == short_id.strip().lower()))

    async def find_case(self, mediator_user_id: int, short_id: str) -> CaseInfo | None:
        """The mediator's case with this short id; None for unknown and for someone else's alike."""
        case_id = await self.session.scalar(
            select(Case.id).join(CaseMediator, CaseMediator.case_id == Case.id).where(
                Case.short_id == short_id.strip().lower(),
                CaseMediator.user_hash == self.store.user_hash(mediator_user_id),
            )
        )
        return None if case_id is None else await self.case_info(case_id)

    # Mediators ---------------------------------------------------------------------------------
    async def is_case_mediator(self, case_id: str, user_id: int) -> bool:
        """Whether this account is the lead or a joined co-mediator of the case."""
        found = await self.session.scalar(select(CaseMediator.id).where(
            CaseMediator.case_id == case_id, CaseMediator.user_hash == self.store.user_hash(user_id),
        ))
        return found is not None

    async def mediator_hashes(self, case_id: str) -> list[str]:
        """The look-up hashes of the case's joined mediators, the lead first, then in order of joining."""
        rows = (await self.session.execute(
            select(CaseMediator.user_hash, CaseMediator.role, CaseMediator.joined_at)
            .where(CaseMediator.case_id == case_id, CaseMediator.user_hash.is_not(None))
        )).all()
        ordered = sorted(rows, key=lambda row: (row.role != _LEAD, row.joined_at or utcnow(), row.user_hash))
        return [row.user_hash for row in ordered]

    async def mediator_count(self, case_id: str) -> int:
        count = await self.session.scalar(select(func.count()).select_from(CaseMediator).where(
            CaseMediator.case_id == case_id, CaseMediator.user_hash.is_not(None),
        ))
        return int(count or 0)

    async def create_mediator_invite(self, case_id: str, valid_for: timedelta) -> str:
        """A single-use co-mediator invite token (192 bits, url-safe); only its hash is stored."""
        await self._case_row(case_id)
        token = secrets.token_urlsafe(_INVITE_TOKEN_BYTES)
        self.session.add(CaseMediator(
            id=new_id(), case_id=case_id, user_hash=None, role=_CO,
            invite_hash=self.store.hasher("mediator_invite", token), invite_expires_at=utcnow() + valid_for,
        ))
        await self.session.flush()
        return token

    async def claim_mediator_invite(self, token: str, user_id: int) -> str | None:
        """Make this account a co-mediator; returns the case id, or None for any token that is not usable.

        Unknown, used and expired tokens all give None. An account that already mediates the case
        gets the case id and leaves the token unused (for whoever it was meant for).
        """
        row_id = await self.session.scalar(
            select(CaseMediator.id).where(CaseMediator.invite_hash == self.store.hasher("mediator_invite", token))
        )
        if row_id is None:
            return None
        row: CaseMediator = await self._locked(CaseMediator, row_id)
        if await self.is_case_mediator(row.case_id, user_id):
            return row.case_id
        if row.user_hash is not None or row.invite_expires_at is None or row.invite_expires_at < utcnow():
            return None
        row.user_hash = self.store.user_hash(user_id)
        row.joined_at = utcnow()
        await self.audit("mediator_joined", actor="mediator", case_id=row.case_id)
        return row.case_id

    # Case settings -----------------------------------------------------------------------------
    async def set_priority_mode(self, case_id: str, mode: PriorityMode) -> None:
        case = await self._edit_case(case_id)
        case.priority_mode = PriorityMode(mode).value

    async def set_timezone(self, case_id: str, name: str) -> None:
        """The case's IANA time zone name (already validated by the flow), for deadlines and reminders."""
        if not name or len(name) > 64:
            raise StorageError("not a time zone name")
        case = await self._edit_case(case_id)
        case.timezone = name

    async def set_deadline(self, case_id: str, deadline: datetime | None) -> None:
        """Set or clear the round's deadline; reminders and the late report start over."""
        case = await self._edit_case(case_id)
        case.deadline_at = deadline
        case.late_reported_at = None
        for seat in await self._seat_rows(case_id):
            seat.last_reminded_on = None

    # Issues and options ------------------------------------------------------------------------
    async def issues(self, case_id: str) -> list[Issue]:
        """The case's issues in the mediator's order, each with its scale and its options in order."""
        case = await self._case_row(case_id)
        settled = not inspect(case).modified and case_id not in changed_cases(self.session)
        if settled:
            held = self.store.case_issues.get((case_id, case.version))
            if held is not None:
                return list(held)
        cipher = await self._case_cipher(case)
        rows = (await self.session.scalars(_ISSUES, {"case_id": case_id})).all()
        option_rows = (await self.session.scalars(_OPTIONS, {"case_id": case_id})).all()
        options: dict[str, list[Option]] = {}
        for option in option_rows:
            options.setdefault(option.issue_id, []).append(
                Option(option.id, cipher.decrypt(option.text_enc, _option_text(option)))
            )
        issues = [
            Issue(
                row.id, cipher.decrypt(row.title_enc, _issue_title(row)), _read_scale(cipher, row),
                tuple(options.get(row.id, ())),
            )
            for row in rows
        ]
        if settled:
            self._issues_read[(case_id, case.version)] = tuple(issues)
        return issues

    def publish_issues(self) -> None:
        """Once committed: what this transaction read of cases it did not change serves the next ones."""
        changed = changed_cases(self.session)
        for (case_id, version), issues in self._issues_read.items():
            if case_id not in changed:
                self.store.case_issues.put((case_id, version), issues)

    async def _issue_row(self, case_id: str, issue_id: str) -> IssueRow:
        row = await self.session.get(IssueRow, issue_id)
        if row is None or row.case_id != case_id:
            raise StorageError("no such issue")
        return row

    async def _option_row(self, case_id: str, option_id: str) -> OptionRow:
        row = await self.session.get(OptionRow, option_id)
        if row is None or row.case_id != case_id:
            raise StorageError("no such option")
        return row

    async def add_issue(self, case_id: str, title: str) -> Issue:
        """A new issue after the others (qualitative, no options yet)."""
        case = await self._edit_case(case_id)
        last = await self.session.scalar(select(func.max(IssueRow.ordinal)).where(IssueRow.case_id == case_id))
        row = IssueRow(id=new_id(), case_id=case_id, ordinal=(-1 if last is None else last) + 1, title_enc=b"")
        row.title_enc = (await self._case_cipher(case)).encrypt(title, _issue_title(row))
        self.session.add(row)
        await self.session.flush()
        return Issue(row.id, title)

    async def rename_issue(self, case_id: str, issue_id: str, title: str) -> None:
        case = await self._edit_case(case_id)
        row = await self._issue_row(case_id, issue_id)
        row.title_enc = (await self._case_cipher(case)).encrypt(title, _issue_title(row))

    async def remove_issue(self, case_id: str, issue_id: str) -> None:
        """Remove an issue with its options, the suggestions for it and every answer about it."""
        await self._edit_case(case_id)
        row = await self._issue_row(case_id, issue_id)
        await self.session.execute(delete(OptionRow).where(OptionRow.issue_id == row.id))
        await self.session.execute(delete(SuggestionRow).where(SuggestionRow.issue_id == row.id))
        await self.session.execute(delete(Answer).where(Answer.case_id == case_id, Answer.issue_id == row.id))
        await self.session.delete(row)
        await self.session.flush()

    async def set_scale(self, case_id: str, issue_id: str, scale: Scale | None) -> None:
        """Make the issue quantitative with this unit and span, or qualitative again (None)."""
        case = await self._edit_case(case_id)
        row = await self._issue_row(case_id, issue_id)
        if scale is None:
            row.scale_enc = None
            return
        value = {"unit": scale.unit, "low": str(scale.low), "high": str(scale.high)}
        cipher = await self._case_cipher(case)
        row.scale_enc = cipher.encrypt(json.dumps(value, ensure_ascii=False), _issue_scale(row))

    async def add_option(self, case_id: str, issue_id: str, text: str) -> Option:
        """A new option after the issue's others."""
        case = await self._edit_case(case_id)
        issue = await self._issue_row(case_id, issue_id)
        last = await self.session.scalar(select(func.max(OptionRow.ordinal)).where(OptionRow.issue_id == issue.id))
        row = OptionRow(
            id=new_id(), case_id=case_id, issue_id=issue.id, ordinal=(-1 if last is None else last) + 1, text_enc=b"",
        )
        row.text_enc = (await self._case_cipher(case)).encrypt(text, _option_text(row))
        self.session.add(row)
        await self.session.flush()
        return Option(row.id, text)

    async def edit_option(self, case_id: str, option_id: str, text: str) -> None:
        case = await self._edit_case(case_id)
        row = await self._option_row(case_id, option_id)
        row.text_enc = (await self._case_cipher(case)).encrypt(text, _option_text(row))

    async def remove_option(self, case_id: str, option_id: str) -> None:
        """Remove an option; ratings already given for it stay stored and are ignored by the domain."""
        await self._edit_case(case_id)
        row = await self._option_row(case_id, option_id)
        await self.session.delete(row)
        await self.session.flush()

    # Drafts ------------------------------------------------------------------------------------
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
                invite_expires_at=utcnow(), step=CaucusStep.INVITED.value, cursor=0, sub=0, editing=False, version=0,
            )
            seat.label_enc = cipher.encrypt(label, _seat_label(seat))
            self.session.add(seat)
        await self.session.flush()

    async def advance_case(self, case_id: str, trigger: str) -> CaseStage:
        """Fire a case-flow trigger (e.g. ``party_joined``); returns the stage, bumping the version if it moved."""
        case = await self._case_row(case_id, lock=True)
        draft = CaseDraft(CaseStage(case.stage))
        draft.fire(trigger)
        if draft.stage.value != case.stage:
            if case.stage in _ROUND_OPEN_STAGES and draft.stage.value not in _ROUND_OPEN_STAGES:
                # The round is over: its deadline goes with it (one set from now on is for the next round).
                case.deadline_at = None
                case.late_reported_at = None
            case.stage = draft.stage.value
            case.version += 1
            case.updated_at = utcnow()
        return draft.stage

    async def issue_invites(self, case_id: str, valid_for: timedelta) -> list[Invite]:
        """New single-use invite tokens for every seat not yet taken (old links stop working).

        A withdrawn seat is left alone: only `reinvite_seat` opens it again, with a new key.
        """
        case = await self._case_row(case_id)
        cipher = await self._case_cipher(case)
        invites = []
        for seat in await self._seat_rows(case_id):
            if seat.user_hash is not None or seat.step == _WITHDRAWN:
                continue
            token = self._new_seat_invite(seat, valid_for)
            invites.append(Invite(seat.id, cipher.decrypt(seat.label_enc, _seat_label(seat)), token))
        return invites

    def _new_seat_invite(self, seat: Seat, valid_for: timedelta) -> str:
        token = secrets.token_urlsafe(_INVITE_TOKEN_BYTES)
        seat.invite_hash = self.store.hasher("invite", token)
        seat.invite_expires_at = utcnow() + valid_for
        seat.invite_used_at = None
        return token

    # Seats and caucus ------------------------------------------------------------------------
    async def _seat_row(self, seat_id: str) -> Seat:
        seat = await self.session.get(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        return seat

    async def is_party_invite(self, token: str) -> bool:
        """Whether ``token`` is some seat's current invite (used or not), without claiming anything."""
        return await self.session.scalar(
            select(Seat.id).where(Seat.invite_hash == self.store.hasher("invite", token))
        ) is not None

    async def claim_seat(self, token: str, user_id: int) -> str | None:
        """Bind the invited seat to this account, or resume it; None for any token that is not usable.

        Unknown, used, expired and someone else's tokens all give None, so the caller can
        answer all of them with one reply that reveals nothing. A new claim gets a fresh join code.
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
        if other_seat is not None or await self.is_monitor(seat.case_id, user_hash):
            return None
        party_cipher = await self._keys.cipher(seat.key_id)
        case_cipher = await self._case_cipher(await self._case_row(seat.case_id))
        seat.user_hash = user_hash
        seat.invite_used_at = utcnow()
        seat.chat_enc = party_cipher.encrypt(str(user_id), _seat_chat(seat))
        seat.join_code_enc = case_cipher.encrypt(_join_code(), _seat_join_code(seat))
        seat.last_activity_at = utcnow()
        await self.audit("party_joined", actor="party", case_id=seat.case_id, seat_id=seat.id)
        return seat.id

    async def join_code(self, seat_id: str) -> str | None:
        """The seat's join code as read out ("123 456"); None before the seat is claimed."""
        seat = await self._seat_row(seat_id)
        if seat.join_code_enc is None:
            return None
        cipher = await self._case_cipher(await self._case_row(seat.case_id))
        code = cipher.decrypt(seat.join_code_enc, _seat_join_code(seat))
        half = _JOIN_CODE_DIGITS // 2
        return f"{code[:half]} {code[half:]}"

    async def seat_case_id(self, seat_id: str) -> str:
        return (await self._seat_row(seat_id)).case_id

    async def seat_label(self, seat_id: str) -> str:
        seat = await self._seat_row(seat_id)
        case = await self._case_row(seat.case_id)
        return (await self._case_cipher(case)).decrypt(seat.label_enc, _seat_label(seat))

    async def seat_version(self, seat_id: str) -> int:
        seat = await self.session.get(Seat, seat_id)
        return -1 if seat is None else seat.version

    async def seat_chat(self, seat_id: str) -> int | None:
        """The party's Telegram chat id; None before the seat is claimed or after it was withdrawn."""
        seat = await self._seat_row(seat_id)
        if seat.chat_enc is None:
            return None
        try:
            cipher = await self._keys.cipher(seat.key_id)
        except KeyDestroyedError:
            return None
        return int(cipher.decrypt(seat.chat_enc, _seat_chat(seat)))

    async def party_contact(self, seat_id: str) -> PartyContact | None:
        """The account holding the seat and how to reach it; None while nobody holds it (or after withdrawal)."""
        seat = await self._seat_row(seat_id)
        if seat.user_hash is None:
            return None
        chat_id = await self.seat_chat(seat_id)
        if chat_id is None:
            return None
        return PartyContact(seat.user_hash, chat_id, await self.language_of(seat.user_hash))

    async def load_caucus(self, seat_id: str) -> CaucusConversation:
        seat: Seat | None = await self._locked(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        case = await self._case_row(seat.case_id)
        answers = await self._answers(seat, case.round)
        return CaucusConversation(
            CaucusStep(seat.step), seat.cursor, await self.issues(seat.case_id), answers,
            sub=seat.sub, editing=seat.editing, mode=PriorityMode(case.priority_mode),
            round_open=case.stage in _ROUND_OPEN_STAGES,
        )

    async def _answer_rows(self, seat_id: str, round_number: int) -> list[Answer]:
        return list((await self.session.scalars(_ANSWERS, {"seat_id": seat_id, "round": round_number})).all())

    async def _answers(self, seat: Seat, round_number: int) -> CaucusAnswers:
        answers = CaucusAnswers()
        rows = await self._answer_rows(seat.id, round_number)
        self._answers_loaded[(seat.id, round_number)] = rows
        if not rows:
            return answers
        cipher = await self._keys.cipher(seat.key_id)
        for row in rows:
            value = json.loads(cipher.decrypt(row.value_enc, _answer_value(row)))
            kind = ItemKind(row.kind)
            _read_answer(answers, kind, row.issue_id, value)
            answers.share[ItemKey(kind, row.issue_id)] = ShareLevel(row.share_level)
        return answers

    async def save_caucus(self, seat_id: str, conversation: CaucusConversation, *, by_party: bool = True) -> None:
        """Store where the party is and every changed answer (encrypted; an item no longer answered is deleted).

        ``by_party`` is False when the mediator moved the caucus (a round closed or started): the party's
        last activity, which the status screen shows and reminders wait on, stays as it was.
        """
        seat = await self._seat_row(seat_id)
        case = await self._case_row(seat.case_id)
        answers = conversation.answers
        if conversation.changed:
            cipher = await self._keys.cipher(seat.key_id)
            loaded = self._answers_loaded.pop((seat.id, case.round), None)
            if loaded is None or not all(_current(row) for row in loaded):  # one deleted, or rolled back, since
                loaded = await self._answer_rows(seat.id, case.round)
            existing = {(row.kind, row.issue_id): row for row in loaded}
            for key in sorted(conversation.changed, key=ItemKey.encode):
                row = existing.get((key.kind.value, key.issue_id))
                if not answers.has(key):
                    if row is not None:
                        await self.session.delete(row)
                    continue
                if row is None:
                    row = Answer(
                        id=new_id(), case_id=seat.case_id, seat_id=seat.id, round=case.round,
                        kind=key.kind.value, issue_id=key.issue_id, value_enc=b"",
                        share_level=answers.share_level(key).value,
                    )
                    self.session.add(row)
                value = _answer_payload(answers, key)
                row.value_enc = cipher.encrypt(json.dumps(value, ensure_ascii=False), _answer_value(row))
                level = answers.share_level(key).value
                if row.share_level != level:
                    await self.audit("share_level_changed", actor="party" if by_party else "mediator",
                                     case_id=seat.case_id, seat_id=seat.id, item=key.kind.value,
                                     issue=key.issue_id, round=case.round, before=row.share_level, after=level)
                row.share_level = level
                row.updated_at = utcnow()
        if seat.step == CaucusStep.CONSENT.value and conversation.step not in _BEFORE_CONSENT:
            await self.audit("consent_given", actor="party", case_id=seat.case_id, seat_id=seat.id)
        if conversation.step is CaucusStep.SUBMITTED and seat.submitted_at is None:
            seat.submitted_at = utcnow()
            levels = Counter(answers.share_level(key).value
                             for key in answers.answered(conversation.issues, conversation.mode))
            await self.audit("answers_submitted", actor="party", case_id=seat.case_id, seat_id=seat.id,
                             round=case.round, items=dict(sorted(levels.items())))
        # The version moves with the screen (step, issue, option or points issue, editing), so buttons of
        # earlier screens go stale while those of the message edited in place (choices, share levels) stay usable.
        where = (conversation.step.value, conversation.cursor, conversation.sub, conversation.editing)
        if (seat.step, seat.cursor, seat.sub, seat.editing) != where:
            seat.version += 1
        seat.step, seat.cursor, seat.sub, seat.editing = where
        if by_party:
            seat.last_activity_at = utcnow()
        conversation.changed.clear()

    async def withdraw_seat(self, seat_id: str, *, by_party: bool = True) -> None:
        """Withdraw a party and crypto-shred its data: its key is destroyed, its rows and identity removed.

        The label stays (it is the mediator's), so the seat can be invited again with a new key.
        """
        seat: Seat | None = await self._locked(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        await self.session.execute(delete(Answer).where(Answer.seat_id == seat.id))
        await self.session.execute(delete(Button).where(Button.scope == "seat", Button.owner_id == seat.id))
        await self.session.execute(delete(NoteRow).where(NoteRow.seat_id == seat.id))
        await self.session.execute(delete(SuggestionRow).where(SuggestionRow.seat_id == seat.id))
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.key_id == seat.key_id, OutboxMessage.status == "pending")
            .values(status="erased", payload_enc=None)
        )
        await self._keys.destroy(seat.key_id)
        await self.session.execute(
            update(User).where(User.active_id == seat.id).values(active_kind=None, active_id=None, pending=None)
        )
        seat.user_hash = None
        seat.chat_enc = None
        seat.join_code_enc = None
        seat.submitted_at = None
        seat.last_reminded_on = None
        seat.step = _WITHDRAWN
        seat.cursor, seat.sub, seat.editing = 0, 0, False
        seat.version += 1
        await self.audit("party_withdrew", actor="party" if by_party else "mediator", case_id=seat.case_id,
                         seat_id=seat.id, erased=True)

    async def reinvite_seat(self, seat_id: str, valid_for: timedelta) -> Invite:
        """A new invite for a seat no account holds (the old link stops working); a new key if it was shredded."""
        seat: Seat | None = await self._locked(Seat, seat_id)
        if seat is None:
            raise StorageError("no such seat")
        if seat.user_hash is not None:
            raise StorageError("the seat is taken")
        if await self._keys.destroyed(seat.key_id):
            seat.key_id, _ = await self._keys.create("party")
        token = self._new_seat_invite(seat, valid_for)
        seat.step = CaucusStep.INVITED.value
        seat.cursor, seat.sub, seat.editing = 0, 0, False
        seat.submitted_at = None
        seat.version += 1
        return Invite(seat.id, await self.seat_label(seat.id), token)

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

    # Notes and suggestions ---------------------------------------------------------------------
    async def add_note(self, seat_id: str, text: str) -> None:
        """A private note from the party to the mediators, under the party's key."""
        seat = await self._seat_row(seat_id)
        case = await self._case_row(seat.case_id)
        cipher = await self._keys.cipher(seat.key_id)
        row = NoteRow(id=new_id(), case_id=seat.case_id, seat_id=seat.id, round=case.round, text_enc=b"",
                      created_at=utcnow())
        row.text_enc = cipher.encrypt(text, _note_text(row))
        self.session.add(row)

    async def notes(self, case_id: str) -> list[Note]:
        """Every note of the case, oldest first; notes of shredded seats are gone."""
        case = await self._case_row(case_id)
        case_cipher = await self._case_cipher(case)
        seats = {seat.id: seat for seat in await self._seat_rows(case_id)}
        rows = (await self.session.scalars(
            select(NoteRow).where(NoteRow.case_id == case_id).order_by(NoteRow.created_at, NoteRow.id)
        )).all()
        notes = []
        for row in rows:
            seat = seats[row.seat_id]
            try:
                cipher = await self._keys.cipher(seat.key_id)
            except KeyDestroyedError:
                continue
            notes.append(Note(
                seat.id, case_cipher.decrypt(seat.label_enc, _seat_label(seat)), row.round,
                cipher.decrypt(row.text_enc, _note_text(row)), row.created_at,
            ))
        return notes

    async def add_suggestion(self, seat_id: str, issue_id: str, text: str) -> str:
        """A party's suggested option for an issue of its case, pending the mediator's decision; returns its id."""
        seat = await self._seat_row(seat_id)
        case = await self._case_row(seat.case_id)
        issue = await self._issue_row(seat.case_id, issue_id)
        cipher = await self._keys.cipher(seat.key_id)
        row = SuggestionRow(
            id=new_id(), case_id=seat.case_id, seat_id=seat.id, issue_id=issue.id, round=case.round,
            text_enc=b"", status="pending", created_at=utcnow(),
        )
        row.text_enc = cipher.encrypt(text, _suggestion_text(row))
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def suggestion(self, case_id: str, suggestion_id: str) -> Suggestion | None:
        """The suggestion if it belongs to this case (and its party was not shredded); None otherwise."""
        row = await self.session.get(SuggestionRow, suggestion_id)
        if row is None or row.case_id != case_id:
            return None
        seat = await self._seat_row(row.seat_id)
        try:
            cipher = await self._keys.cipher(seat.key_id)
        except KeyDestroyedError:
            return None
        return Suggestion(row.id, row.seat_id, row.issue_id, cipher.decrypt(row.text_enc, _suggestion_text(row)),
                          row.status)

    async def set_suggestion_status(self, case_id: str, suggestion_id: str, status: str) -> None:
        if len(status) > 12:
            raise StorageError("status too long")
        row = await self.session.get(SuggestionRow, suggestion_id)
        if row is None or row.case_id != case_id:
            raise StorageError("no such suggestion")
        row.status = status

    # Rounds and deadlines ----------------------------------------------------------------------
    async def start_round(self, case_id: str, now: datetime) -> int:
        """Open the next round: every remaining party starts from a copy of its last answers.

        The copies are new rows, so they are encrypted afresh under their own associated data.
        Submissions, reminders and the late report are reset; a deadline the mediator set for this
        round between rounds is kept unless it has already passed. Returns the new round.
        """
        case = await self._edit_case(case_id)
        previous = case.round
        case.round = previous + 1
        if case.deadline_at is not None and case.deadline_at <= now:
            case.deadline_at = None
        case.late_reported_at = None
        for seat in await self._seat_rows(case_id):
            seat.submitted_at = None
            seat.last_reminded_on = None
            if seat.step == _WITHDRAWN:
                continue
            rows = await self._answer_rows(seat.id, previous)
            if not rows:
                continue
            cipher = await self._keys.cipher(seat.key_id)
            for row in rows:
                copy = Answer(
                    id=new_id(), case_id=row.case_id, seat_id=row.seat_id, round=case.round, kind=row.kind,
                    issue_id=row.issue_id, value_enc=b"", share_level=row.share_level, updated_at=utcnow(),
                )
                copy.value_enc = cipher.encrypt(cipher.decrypt(row.value_enc, _answer_value(row)), _answer_value(copy))
                self.session.add(copy)
        await self.session.flush()
        return case.round

    async def cases_with_deadline(self) -> list[CaseInfo]:
        """Cases whose open round has a deadline (for the reminder loop), soonest first."""
        ids = (await self.session.scalars(
            select(Case.id).where(Case.deadline_at.is_not(None), Case.stage.in_(_ROUND_OPEN_STAGES))
            .order_by(Case.deadline_at, Case.id)
        )).all()
        return [await self.case_info(case_id) for case_id in ids]

    async def reminder_candidates(self, case_id: str) -> list[ReminderCandidate]:
        """Joined parties that have not submitted (nor withdrawn or declined), with what a reminder needs."""
        case = await self._case_row(case_id)
        cipher = await self._case_cipher(case)
        candidates = []
        for seat in await self._seat_rows(case_id):
            if seat.user_hash is None or seat.submitted_at is not None \
                    or seat.step in {_WITHDRAWN, CaucusStep.DECLINED.value}:
                continue
            chat_id = await self.seat_chat(seat.id)
            if chat_id is None:  # a claimed seat always has its chat; be safe all the same
                continue
            candidates.append(ReminderCandidate(
                seat.id, cipher.decrypt(seat.label_enc, _seat_label(seat)), chat_id,
                await self.language_of(seat.user_hash), seat.last_reminded_on, seat.last_activity_at, seat.user_hash,
                await self.timezone_of(seat.user_hash),
            ))
        return candidates

    async def mark_reminded(self, seat_id: str, day: date) -> None:
        """Record the party's local day of its last reminder (at most one a day)."""
        (await self._seat_row(seat_id)).last_reminded_on = day

    async def late_seats(self, case_id: str) -> list[str]:
        """Labels of the parties that have not submitted the round (withdrawn ones aside)."""
        case = await self._case_row(case_id)
        cipher = await self._case_cipher(case)
        return [
            cipher.decrypt(seat.label_enc, _seat_label(seat))
            for seat in await self._seat_rows(case_id)
            if seat.submitted_at is None and seat.step != _WITHDRAWN
        ]

    async def mark_late_reported(self, case_id: str) -> None:
        (await self._case_row(case_id, lock=True)).late_reported_at = utcnow()

    async def late_reported(self, case_id: str) -> bool:
        return (await self._case_row(case_id)).late_reported_at is not None

    # Buttons -------------------------------------------------------------------------------------
    async def issue_buttons(self, meanings: list[ButtonMeaning]) -> list[str]:
        """Store what each button means (a keyboard's worth, in one statement); returns their tokens."""
        tokens, rows = [], []
        for meaning in meanings:
            token = secrets.token_urlsafe(_BUTTON_TOKEN_BYTES)
            if meaning.scope == "seat":
                key_id = await self.seat_key_id(meaning.owner_id)
            elif meaning.scope == "grv":  # what a person filing a grievance chose goes with the grievance's key
                key_id = await self.grievance_key_id(meaning.owner_id)
            else:
                key_id = self._system_key_id
            argument = (await self._keys.cipher(key_id)).encrypt(
                meaning.argument, _button_context(token, meaning.scope, meaning.owner_id))
            tokens.append(token)
            rows.append({"token": token, "user_hash": meaning.user_hash, "scope": meaning.scope,
                         "owner_id": meaning.owner_id, "version": meaning.version, "action": meaning.action,
                         "argument": "", "key_id": key_id, "argument_enc": argument, "created_at": utcnow()})
        if rows:
            await self.session.execute(_INSERT_BUTTON, rows)
        return tokens

    async def resolve_button(self, token: str) -> ButtonMeaning | None:
        row = await self.session.get(Button, token[:24])
        if row is None:
            return None
        argument = row.argument
        if row.argument_enc is not None and row.key_id is not None:
            try:
                argument = (await self._keys.cipher(row.key_id)).decrypt(row.argument_enc, _button_argument(row))
            except KeyDestroyedError:
                return None  # the seat was withdrawn: its buttons mean nothing any more
        return ButtonMeaning(row.user_hash, row.scope, row.owner_id, row.version, row.action, argument)

    async def seat_key_id(self, seat_id: str) -> str:
        return (await self._seat_row(seat_id)).key_id

    async def case_key_id(self, case_id: str) -> str:
        return (await self._case_row(case_id)).key_id


def _case_info(row: Case, title: str) -> CaseInfo:
    return CaseInfo(
        row.id, row.short_id, title, row.stage, row.round, PriorityMode(row.priority_mode), row.timezone,
        row.deadline_at, row.erase_messages,
    )


def _join_code() -> str:
    return f"{secrets.randbelow(10**_JOIN_CODE_DIGITS):0{_JOIN_CODE_DIGITS}d}"


def _read_scale(cipher: FieldCipher, issue: IssueRow) -> Scale | None:
    if issue.scale_enc is None:
        return None
    value = json.loads(cipher.decrypt(issue.scale_enc, _issue_scale(issue)))
    return Scale(value["unit"], Decimal(value["low"]), Decimal(value["high"]))


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _answer_payload(answers: CaucusAnswers, key: ItemKey) -> dict[str, Any]:
    """The JSON stored for one item (decimals as strings, so they come back exactly)."""
    kind, issue_id = key.kind, key.issue_id
    if kind is ItemKind.POSITION:
        return {"text": answers.positions[issue_id]}
    if kind is ItemKind.INTERESTS:
        interests = answers.interests[issue_id]
        return {"categories": [c.value for c in interests.categories], "words": interests.words}
    if kind is ItemKind.RANGE:
        answer = answers.ranges[issue_id]
        return {"low": _number(answer.low), "high": _number(answer.high), "hope": _number(answer.hope)}
    if kind is ItemKind.RATINGS:
        return {"ratings": {option_id: rating.value for option_id, rating in answers.ratings[issue_id].items()}}
    if kind is ItemKind.RANKING:
        return {"issues": list(answers.ranking)}
    if kind is ItemKind.POINTS:
        return {"points": dict(answers.points)}
    return {"text": answers.texts[kind]}


def _read_answer(answers: CaucusAnswers, kind: ItemKind, issue_id: str, value: dict[str, Any]) -> None:
    """Put one stored item back into ``answers`` (the inverse of `_answer_payload`)."""
    if kind is ItemKind.POSITION:
        answers.positions[issue_id] = value["text"]
    elif kind is ItemKind.INTERESTS:
        answers.interests[issue_id] = Interests([InterestCategory(c) for c in value["categories"]], value["words"])
    elif kind is ItemKind.RANGE:
        answers.ranges[issue_id] = Range(_decimal(value["low"]), _decimal(value["high"]), _decimal(value["hope"]))
    elif kind is ItemKind.RATINGS:
        answers.ratings[issue_id] = {option_id: Rating(r) for option_id, r in value["ratings"].items()}
    elif kind is ItemKind.RANKING:
        answers.ranking = list(value["issues"])
    elif kind is ItemKind.POINTS:
        answers.points = {key: int(points) for key, points in value["points"].items()}
    elif kind in OPTIONAL_KINDS:
        answers.texts[kind] = value["text"]
    else:  # pragma: no cover - every kind is handled above
        raise StorageError(f"unknown answer kind {kind.value}")


def _button_argument(button: Button) -> FieldContext:
    return _button_context(button.token, button.scope, button.owner_id)


def _button_context(token: str, scope: str, owner_id: str) -> FieldContext:
    return FieldContext("buttons", token, "", owner_id if scope in {"seat", "grv"} else "", "argument")


def _case_title(case: Case) -> FieldContext:
    return FieldContext("cases", case.id, case.id, "", "title")


def _issue_title(issue: IssueRow) -> FieldContext:
    return FieldContext("issues", issue.id, issue.case_id, "", "title")


def _issue_scale(issue: IssueRow) -> FieldContext:
    return FieldContext("issues", issue.id, issue.case_id, "", "scale")


def _option_text(option: OptionRow) -> FieldContext:
    return FieldContext("options", option.id, option.case_id, "", "text")


def _seat_label(seat: Seat) -> FieldContext:
    return FieldContext("seats", seat.id, seat.case_id, "", "label")


def _seat_join_code(seat: Seat) -> FieldContext:
    return FieldContext("seats", seat.id, seat.case_id, "", "join_code")


def _seat_chat(seat: Seat) -> FieldContext:
    return FieldContext("seats", seat.id, seat.case_id, seat.id, "chat")


def _answer_value(answer: Answer) -> FieldContext:
    return FieldContext("answers", answer.id, answer.case_id, answer.seat_id, f"{answer.kind}:{answer.issue_id}")


def _note_text(note: NoteRow) -> FieldContext:
    return FieldContext("notes", note.id, note.case_id, note.seat_id, "text")


def _suggestion_text(suggestion: SuggestionRow) -> FieldContext:
    return FieldContext("suggestions", suggestion.id, suggestion.case_id, suggestion.seat_id, "text")
