"""Several webhook workers on one PostgreSQL database: any worker serves any conversation, each update is handled
once and in its chat's order, and no party's answers or messages reach another party.

Three ``caucusbot webhook`` processes run behind a round-robin proxy (tests/scale/workers.py); the Bot API
stand-in posts every update to the proxy, one at a time per chat and many chats at once, as Telegram does.
Mediators set up cases and parties go through their caucus (the crash drill's scripts, without the kills);
then the database is read back with the master key and compared with the scripts item by item.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.standin import BotApiStandIn
from storage.crypto import MasterKey
from tests.figures import section
from tests.reliability.crash_drill import (
    ROOT,
    TAG,
    UPDATE_EVENTS,
    Auditor,
    DatabaseProbe,
    DrillPlan,
    Planner,
    PostgresUnavailableError,
    Quiescence,
    bot_env,
    play_case,
    postgres_database,
)
from tests.scale.workers import RoundRobinProxy, WebhookWorkers

WORKERS = 3
PARTIES_PER_CASE = 5
# Most parties stop after their first issue and a suggested option (the shortest script); a fifth each
# submit or stop at the review screen.
REACH_WEIGHTS = (1, 1, 3)


@pytest.fixture
async def database_url() -> str:  # type: ignore[misc]
    try:
        async with postgres_database("caucus_workers") as url:
            yield url
    except PostgresUnavailableError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{error} (CI=true: several workers need PostgreSQL, and must be tested)")
        pytest.skip(str(error))


@contextlib.asynccontextmanager
async def _behind_proxy(standin: BotApiStandIn, count: int, env: dict[str, str], log: Path
                        ) -> AsyncIterator[tuple[WebhookWorkers, RoundRobinProxy, Quiescence]]:
    """``count`` workers running behind the proxy, and a way to wait until they are done; all stopped after."""
    workers = WebhookWorkers(count, env, ROOT, log)
    proxy = RoundRobinProxy(workers.targets)
    await proxy.start()
    probe = DatabaseProbe(env["CAUCUS_DATABASE_URL"])
    local = Quiescence(standin, probe)
    watching = asyncio.create_task(local.watch())
    try:
        await workers.start(proxy.url)
        yield workers, proxy, local
    finally:
        local.stop()
        await watching
        await workers.stop()
        await proxy.stop()
        await probe.close()


def _user_updates(standin: BotApiStandIn) -> int:
    return sum(event.kind in UPDATE_EVENTS for event in standin.events())


@pytest.mark.postgres
@pytest.mark.timeout(900)
@pytest.mark.parametrize("cases", [
    pytest.param(12, id="60 participants"),
    # About 150 s on 2 cores: beside the rest of the suite it would take it to 9 minutes.
    pytest.param(40, id="200 participants", marks=pytest.mark.stress),
])
async def test_three_workers_serve_every_party_once_and_in_order(
        database_url: str, tmp_path: Path, cases: int) -> None:
    """Three workers behind a round-robin proxy: every answer of every party stored once, each party at the
    step its script reached, no update handled twice, and no party's text in another party's chat."""
    plan = DrillPlan(kill_points=0, cases_per_set=cases, parties_per_case=(PARTIES_PER_CASE, PARTIES_PER_CASE),
                     reach_weights=REACH_WEIGHTS)
    planned = Planner(plan).cases(0)
    master_key = MasterKey.generate()
    log = tmp_path / "workers.log"
    with BotApiStandIn() as standin:
        env = bot_env(standin, database_url, master_key, cases)
        async with _behind_proxy(standin, WORKERS, env, log) as (workers, proxy, local):
            await asyncio.gather(*(play_case(local, case) for case in planned))
            await local.settle()
            assert all(workers.alive()), f"a worker died (log: {log})"
        user_updates = _user_updates(standin)
        # Cross-talk: a party's chat quoting another party's tag (every text a script types carries its tag; no
        # mediator here shares anything with the parties, so a party only ever sees its own).
        crossed = [
            f"{party.tag} saw {tag}" for case in planned for party in case.parties
            for message in standin.messages(party.user_id) for tag in TAG.findall(message.text)
            if tag not in {party.tag, case.tag}
        ]
    audit = await Auditor(database_url, master_key).run(planned, user_updates)
    parties = sum(len(case.parties) for case in planned)
    section("scale figures")[f"three workers, {parties} participants"] = (
        f"{parties} parties in {len(planned)} cases, {user_updates} updates over {WORKERS} workers "
        f"({', '.join(str(n) for n in proxy.served.values())} posts each); answers checked {audit.answers_checked}, "
        f"lost {len(audit.lost)}, duplicated {len(audit.duplicated)}; cross-talk {len(crossed)}")
    assert [stuck for case in planned for stuck in case.stuck] == []
    assert audit.lost == [], audit.lost[:10]
    assert audit.duplicated == [], audit.duplicated[:10]
    assert crossed == [], crossed[:10]
    assert len([n for n in proxy.served.values() if n]) == WORKERS, "every worker served updates"
    logged = log.read_text(encoding="utf-8")
    assert " ERROR " not in logged
    assert "Traceback" not in logged


@pytest.mark.postgres
@pytest.mark.timeout(300)
async def test_when_the_worker_that_sends_dies_another_takes_over(database_url: str, tmp_path: Path) -> None:
    """Two workers; the one that sends the replies is killed; a case played afterwards still gets every reply,
    sent by the other worker, which took the lead."""
    plan = DrillPlan(kill_points=0, cases_per_set=1, parties_per_case=(2, 2), reach_weights=(1, 0, 0))
    (case,) = Planner(plan).cases(0)
    master_key = MasterKey.generate()
    log = tmp_path / "workers.log"
    with BotApiStandIn() as standin:
        async with _behind_proxy(standin, 2, bot_env(standin, database_url, master_key, 1), log) as (workers, _, local):
            for _attempt in range(100):
                if workers.leaders:
                    break
                await asyncio.sleep(0.05)
            (leader,) = workers.leaders
            await workers.kill(leader)
            await play_case(local, case)  # the proxy skips the dead worker, as a load balancer would
            await local.settle()
        user_updates = _user_updates(standin)
    assert workers.leaders == [leader, 1 - leader], "the other worker took the lead"
    assert case.stuck == [], case.stuck
    audit = await Auditor(database_url, master_key).run([case], user_updates)
    assert audit.lost == [], audit.lost[:10]
    assert audit.duplicated == [], audit.duplicated[:10]
