"""Fixtures for end-to-end tests: the real bot against the Bot API stand-in, on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.local import LocalBot
from bot.standin import BotApiStandIn
from storage.crypto import MasterKey
from storage.db import default_sqlite_url

MEDIATOR_ID = 1001


@pytest.fixture
def standin() -> Iterator[BotApiStandIn]:
    with BotApiStandIn() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        token="1:unused", master_key=MasterKey.generate(), database_url=default_sqlite_url(tmp_path),
        mediator_ids=frozenset({MEDIATOR_ID}),
    )


@pytest.fixture
async def local(standin: BotApiStandIn, settings: Settings) -> AsyncIterator[LocalBot]:
    running = LocalBot(standin, settings)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
