"""Crash safety: the real bot killed with SIGKILL at random moments, across many conversations, loses nothing.

SECURITY.md holds us to: kill -9 at random points across many conversations, then redelivery: 0 answers
lost, 0 duplicated transitions, SQLite ``integrity_check`` ok. The drill (tests/reliability/crash_drill.py)
runs ``caucusbot run`` as a child process against the Bot API stand-in, which keeps every update the bot
has not confirmed and delivers it again after a restart, as Telegram does. Mediators set up cases and
parties answer their caucus, each pressing the buttons of the latest message it received, while the bot is
killed and restarted; then the database is opened with the same master key and compared with the scripts.

The bounded run here kills the bot 20 times on each backend; ``-m stress`` runs 1,000 kill points
(bench/crash.py runs the same drill from the command line).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.reliability.crash_drill import (
    CrashDrill,
    DrillPlan,
    DrillReport,
    PostgresUnavailableError,
    postgres_database,
)

CI_KILL_POINTS = 20  # per backend: 40 over SQLite and PostgreSQL together
STRESS_KILL_POINTS = 1000


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a SQLite file the bot migrates at its first start, or a fresh migrated PostgreSQL one."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'caucus.sqlite3'}"
        return
    try:
        async with postgres_database() as url:
            yield url
    except PostgresUnavailableError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{error} (CI=true: the PostgreSQL backend must be tested, not skipped)")
        pytest.skip(str(error))


def _assert_nothing_lost_or_repeated(report: DrillReport, kill_points: int) -> None:
    audit = report.audit
    assert len(report.kill_points) == kill_points
    assert audit.lost == [], f"lost after kill -9: {audit.lost[:10]}"
    assert audit.duplicated == [], f"duplicated after kill -9: {audit.duplicated[:10]}"
    assert report.stuck == [], f"scripts could not go on after kill -9: {report.stuck[:10]}"
    if report.backend == "sqlite":
        assert audit.integrity == "ok"
    assert report.errors_logged == [], f"the bot logged errors: {report.errors_logged[:5]}"
    assert report.log_leaks == 0, "the bot's log holds text the users typed"
    # A reply sent again after a kill: its first copy, never recorded, still leaves the chat with its twin.
    assert report.copies_left == 0, f"{report.copies_left} copies of deleted screens left in the chats"


@pytest.mark.timeout(300)  # about 30 s each on an idle 2-core machine; the drill's own waits fail a hang sooner
async def test_a_killed_bot_loses_no_answer_and_repeats_no_step(
    database_url: str, tmp_path: Path, reliability_figures: dict[str, str]
) -> None:
    """Killed 20 times mid-conversation, the bot still keeps every answer once, each party at its own step.

    What people would notice otherwise: an answer they gave missing or in the wrong place, a question
    skipped or asked twice, a note or suggestion reaching the mediator twice, a case created twice.
    """
    report = await CrashDrill(DrillPlan(kill_points=CI_KILL_POINTS), database_url, tmp_path).run()
    reliability_figures[f"crash safety ({report.backend})"] = report.figures()
    _assert_nothing_lost_or_repeated(report, CI_KILL_POINTS)
    assert report.audit.answers_checked >= 40
    # The moments that matter were hit: updates handled but not yet confirmed, replies committed but not sent.
    assert report.in_flight > 0
    assert report.while_sending > 0


@pytest.mark.stress
@pytest.mark.timeout(4 * 3600)
async def test_a_thousand_kill_points(database_url: str, tmp_path: Path, reliability_figures: dict[str, str]) -> None:
    """1,000 kills across sets of three cases with two to three parties each: nothing lost, nothing repeated."""
    plan = DrillPlan(kill_points=STRESS_KILL_POINTS, cases_per_set=3, parties_per_case=(2, 3))
    report = await CrashDrill(plan, database_url, tmp_path).run()
    reliability_figures[f"crash safety, stress ({report.backend})"] = report.figures()
    _assert_nothing_lost_or_repeated(report, STRESS_KILL_POINTS)
