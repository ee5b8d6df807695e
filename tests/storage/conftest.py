"""Shared fixtures for the storage tests: a freshly migrated database per test, on each backend.

SQLite runs everywhere. PostgreSQL is expected at 127.0.0.1:5432 (user postgres, database
``test``); every test gets a database of its own, created there and dropped afterwards, so
runs never collide. When no server answers, the PostgreSQL cases are skipped with the
reason, except under CI=true, where they fail: CI must exercise both backends.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest

from flows.caucus import CaucusConversation
from flows.model import OPTIONAL_KINDS, InterestCategory, ItemKey, ShareLevel
from storage.crypto import KeyRing, MasterKey
from storage.db import create_engine
from storage.migrate import upgrade_async
from storage.repository import Invite, Store, Transaction

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
PG_PROBE_TIMEOUT_S = 2

MEDIATOR_ID = 100_000_001
DEFAULT_ISSUES = ("Water access", "Grazing routes")
DEFAULT_PARTIES = ("Upstream farmers", "Downstream herders")

_pg_unreachable: list[str] = []  # the reason, once a probe has failed (probed at most once per run)


@dataclass(frozen=True)
class Database:
    """A migrated, empty database for one test."""

    backend: str
    url: str
    path: Path | None = None  # the SQLite file; None for PostgreSQL


def _pg_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the PostgreSQL backend must be tested, not skipped)")
    pytest.skip(reason)


async def _pg_admin() -> asyncpg.Connection:
    if _pg_unreachable:
        _pg_unavailable(_pg_unreachable[0])
    try:
        return await asyncpg.connect(PG_ADMIN_DSN, timeout=PG_PROBE_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        _pg_unreachable.append(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: {error!r}")
        _pg_unavailable(_pg_unreachable[0])


@asynccontextmanager
async def _postgres_database() -> AsyncIterator[Database]:
    admin = await _pg_admin()
    name = f"caucus_test_{secrets.token_hex(8)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield Database("postgresql", f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}")
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database on each backend, brought to the newest schema by the real migrations."""
    if request.param == "sqlite":
        path = tmp_path / "caucus.sqlite3"
        db = Database("sqlite", f"sqlite+aiosqlite:///{path}", path)
        await upgrade_async(db.url)
        yield db
        return
    async with _postgres_database() as db:
        await upgrade_async(db.url)
        yield db


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(MasterKey.generate())


StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture
async def open_store(database: Database, ring: KeyRing) -> AsyncIterator[StoreFactory]:
    """Opens a Store on the test database with a fresh engine each call, as a restarted process would."""
    stores: list[Store] = []

    async def factory() -> Store:
        store = Store(create_engine(database.url), ring)
        stores.append(store)
        await store.open()
        return store

    yield factory
    for store in stores:
        await store.engine.dispose()


@pytest.fixture
async def store(open_store: StoreFactory) -> Store:
    return await open_store()


# Helpers ----------------------------------------------------------------------------------------

@asynccontextmanager
async def unit(store: Store) -> AsyncIterator[Transaction]:
    """One transaction without an update id (never de-duplicated, so never None)."""
    async with store.transaction() as tx:
        assert tx is not None
        yield tx


async def create_case(
    store: Store,
    *,
    title: str = "Riverbank dispute",
    issues: Iterable[str] = DEFAULT_ISSUES,
    parties: Iterable[str] = DEFAULT_PARTIES,
    mediator: int = MEDIATOR_ID,
) -> str:
    """A case set up through the draft flow, its invitations open; returns its id."""
    async with unit(store) as tx:
        case_id = (await tx.create_case(mediator)).id
        draft = await tx.load_draft(case_id)
        draft.name_case(title)
        for issue in issues:
            draft.add_issue(issue)
        draft.finish_issues()
        for party in parties:
            draft.add_party(party)
        draft.finish_parties()
        draft.fire("open_invitations")
        await tx.save_draft(case_id, draft)
    return case_id


async def issue_invites(store: Store, case_id: str, valid_for: timedelta = timedelta(days=7)) -> list[Invite]:
    async with unit(store) as tx:
        return await tx.issue_invites(case_id, valid_for)


async def claim(store: Store, token: str, user_id: int) -> str | None:
    async with unit(store) as tx:
        return await tx.claim_seat(token, user_id)


async def seated_case(
    store: Store, user_ids: Iterable[int], *, title: str = "Riverbank dispute"
) -> tuple[str, list[str]]:
    """A case whose seats are claimed, in order, by ``user_ids``; returns (case id, seat ids)."""
    case_id = await create_case(store, title=title)
    invites = await issue_invites(store, case_id)
    seat_ids = []
    for invite, user_id in zip(invites, user_ids, strict=False):
        seat_id = await claim(store, invite.token, user_id)
        assert seat_id == invite.seat_id
        seat_ids.append(seat_id)
    return case_id, seat_ids


async def caucus_step(
    store: Store, seat_id: str, action: Callable[[CaucusConversation], object]
) -> CaucusConversation:
    """One update's worth of caucus: load, act, save, in a transaction of its own."""
    async with unit(store) as tx:
        conversation = await tx.load_caucus(seat_id)
        action(conversation)
        await tx.save_caucus(seat_id, conversation)
    return conversation


async def answer_issues(
    store: Store, seat_id: str, *, positions: list[str], words: list[str],
    categories: list[list[InterestCategory]],
) -> CaucusConversation:
    """Join, consent and answer every issue (position, interest categories, own words; no options to rate)."""
    for action in (
        lambda c: c.join(),
        lambda c: c.choose_language("en"),
        lambda c: c.consent(),
    ):
        conversation = await caucus_step(store, seat_id, action)
    for position, chosen, own_words in zip(positions, categories, words, strict=True):
        conversation = await caucus_step(store, seat_id, lambda c, p=position: c.record_position(p))
        for category in chosen:
            conversation = await caucus_step(store, seat_id, lambda c, k=category: c.choose_category(k, chosen=True))
        conversation = await caucus_step(store, seat_id, lambda c: c.confirm_categories())
        conversation = await caucus_step(store, seat_id, lambda c, w=own_words: c.record_interest_words(w))
        conversation = await caucus_step(store, seat_id, lambda c: c.skip_options())
    return conversation


async def finish_caucus(
    store: Store, seat_id: str, *, first_ranked: str, share: dict[ItemKey, ShareLevel],
) -> CaucusConversation:
    """Rank (the last issue joins by itself), skip the optional questions, set share levels, and submit."""
    await caucus_step(store, seat_id, lambda c: c.rank_issue(first_ranked))
    for _ in OPTIONAL_KINDS:
        await caucus_step(store, seat_id, lambda c: c.answer_optional(None))
    for item, level in share.items():
        await caucus_step(store, seat_id, lambda c, i=item, v=level: c.set_share_level(i, v))
    await caucus_step(store, seat_id, lambda c: c.request_submit())
    return await caucus_step(store, seat_id, lambda c: c.submit())
