"""Fixtures for end-to-end tests: the real bot against the Bot API stand-in, on a real SQLite file.

Every end-to-end test also runs with the product's logging at DEBUG, its most verbose, and
fails if the log holds the bot token, a master key or anything a simulated user typed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.local import LocalBot
from bot.standin import BotApiStandIn
from storage.crypto import MasterKey
from storage.db import default_sqlite_url
from tests.security.scanner import LogWatch

MEDIATOR_ID = 1001


@pytest.fixture(scope="module", autouse=True)
def debug_log() -> Iterator[LogWatch]:
    """DEBUG logging for the whole module, so runs shared by a module's tests are logged and scanned too."""
    watch = LogWatch()
    with watch.running():
        yield watch
    leaks = watch.scan_new()  # what a module-wide run logged after the module's last test
    assert not leaks, "the log holds: " + "; ".join(map(str, leaks))


@pytest.fixture(autouse=True)
def clean_log(request: pytest.FixtureRequest, debug_log: LogWatch) -> Iterator[None]:
    """At teardown, the test's log holds no token, no master key and nothing the users typed."""
    yield
    debug_log.notice(request.node.funcargs.values())
    leaks = debug_log.scan_new()
    assert not leaks, "the log holds: " + "; ".join(map(str, leaks))


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
