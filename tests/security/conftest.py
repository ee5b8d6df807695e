"""Shared by the security suites: the figures they hold (printed in a section at the end of the run, tests/conftest.py),
and the whole mediation session the isolation and at-rest suites both inspect."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bot.standin import BotApiStandIn

# The real bot against the Bot API stand-in, as in the end-to-end tests (a module's own `settings` takes precedence).
from tests.e2e.conftest import local, standin  # noqa: F401
from tests.figures import section
from tests.security.sessions import Session, plan_cases, run_session

# An empty, migrated database on each backend, as in the storage contract suite (PostgreSQL skipped with the reason
# when none answers, and failing under CI=true).
from tests.storage.conftest import database  # noqa: F401


@pytest.fixture(scope="session")
def figures() -> dict[str, str]:
    """Record a figure a suite holds (name -> value); each is printed under "security figures"."""
    return section("security figures")


# One whole session (three random cases, two grievances) serves the isolation and the at-rest suites.
SESSION_SEED = 20240611
SESSION_PARTY_COUNTS = [3, 2, 4]
SESSION_FIRST_USER = 6_200_000_000  # above 2**32, like the ids of recent accounts


@pytest.fixture(scope="session")
def mediation_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """Cases of 2 to 4 parties drawn from a fixed seed, played through the real bot with grievances alongside."""
    cases = plan_cases(SESSION_SEED, SESSION_PARTY_COUNTS, first_user=SESSION_FIRST_USER)
    with BotApiStandIn() as server:
        yield asyncio.run(run_session(tmp_path_factory.mktemp("session"), server, cases))
