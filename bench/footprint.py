"""Start-up time and memory: per active conversation, and with 100,000 cases stored.

Run by hand from the repository root, after ``pip install -e ".[bench]"``:

    python bench/footprint.py                      # 100,000 stored cases (about 25 minutes on 2 cores)
    python bench/footprint.py --stored 10000       # quicker

Everything runs as in bench/throughput.py: ``caucusbot webhook`` as a child process on SQLite, the Bot API
stand-in in this process, parties going through their caucus with the crash drill's scripts. Printed:

1. start-up: from starting ``python -m bot.cli webhook`` to its "Caucus is running" line (imports, migrations
   checked, keys loaded, getMe, webhook set), median of three, on an empty database; the bare echo bot's start
   (bench/echo_bot.py, to its webhook being set) in the same run is the baseline;
2. memory per active conversation: the bot's resident memory (VmRSS) after ``--conversations`` parties have gone
   part or all of the way through their caucus and are still in it, against the same after 20, both in fresh
   processes and never more than 20 at a time: (difference) / (difference in conversations). The target is under
   10 KB;
3. with ``--stored`` cases in the database (each with a title, three issues and two invited parties, written
   through the repository with their own keys, as the bot writes them): the database's size, the start-up time,
   the memory once started, and 20 conversations' latency against the same on the empty database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throughput import (  # noqa: E402
    PARTIES_PER_CASE,
    REACH_WEIGHTS,
    Phase,
    Setting,
    run_caucus,
    run_in_folder,
    start_echo,
)
from bot.standin import BotApiStandIn  # noqa: E402
from flows.machines import CaseStage  # noqa: E402
from flows.setup import CaseDraft  # noqa: E402
from storage.crypto import KeyRing, MasterKey  # noqa: E402
from storage.db import create_engine  # noqa: E402
from storage.migrate import upgrade_async  # noqa: E402
from storage.repository import Store  # noqa: E402
from tests.reliability.crash_drill import DrillPlan, Planner  # noqa: E402

SMALL = 20
STARTS = 3
SEED_BATCH = 500
SEED_MEDIATORS = 5_000_000  # first account id of the stored cases' mediators (1,000 of them)


def _sqlite(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{folder / 'caucus.sqlite3'}"


def _plan(conversations: int) -> DrillPlan:
    return DrillPlan(kill_points=0, cases_per_set=max(1, conversations // PARTIES_PER_CASE),
                     parties_per_case=(PARTIES_PER_CASE, PARTIES_PER_CASE), reach_weights=REACH_WEIGHTS)


async def _play(standin: BotApiStandIn, url: str, conversations: int, workdir: Path, master_key: MasterKey
                ) -> Phase:
    """A fresh Caucus process on ``url``: set-up, then ``conversations`` parties, at most SMALL at a time (so
    that the memory measured is what the conversations leave, not what more of them at once need meanwhile)."""
    planned = Planner(_plan(conversations)).cases(0)
    setting = Setting(standin, url, 1, workdir, master_key=master_key, at_once=SMALL)
    phase, _chats, _first = await run_caucus(setting, planned)
    return phase


async def seed(url: str, master_key: MasterKey, cases: int) -> float:
    """Store ``cases`` cases as the bot would (own keys, encrypted titles, issues and invited parties); seconds."""
    began = time.monotonic()
    await upgrade_async(url)
    store = Store(create_engine(url), KeyRing(master_key))
    try:
        await store.open()
        for start in range(0, cases, SEED_BATCH):
            async with store.transaction() as tx:
                assert tx is not None
                for number in range(start, min(cases, start + SEED_BATCH)):
                    info = await tx.create_case(SEED_MEDIATORS + number % 1000)
                    draft = CaseDraft(CaseStage.INVITING, f"Stored case {number}",
                                      ["Water", "Grazing routes", "Repair of the canal"], ["Farmers", "Herders"])
                    await tx.save_draft(info.id, draft)
                    await tx.issue_invites(info.id, timedelta(days=7))
    finally:
        await store.engine.dispose()
    return time.monotonic() - began


async def _echo_start(standin: BotApiStandIn, workdir: Path) -> float:
    began = time.monotonic()
    async with start_echo(standin, workdir):
        return time.monotonic() - began


def _kb(value: float) -> str:
    return f"{value / 1024:,.1f} MB" if value >= 10_240 else f"{value:,.1f} KB"


async def _bench(args: argparse.Namespace, workdir: Path) -> None:
    master_key = MasterKey.generate()
    with BotApiStandIn() as standin:
        # 1. Start-up on an empty database (the first of these runs also measures 20 conversations).
        empty = [await _play(standin, _sqlite(workdir / f"empty{n}"), SMALL if n == 0 else 1, workdir, master_key)
                 for n in range(STARTS)]
        echo_starts = [await _echo_start(standin, workdir) for _ in range(STARTS)]
        # 2. Memory per active conversation.
        many = await _play(standin, _sqlite(workdir / "many"), args.conversations, workdir, master_key)
        # 3. Stored cases.
        url = _sqlite(workdir / "stored")
        seeding = await seed(url, master_key, args.stored)
        size = sum(path.stat().st_size for path in (workdir / "stored").iterdir())
        stored = [await _play(standin, url, SMALL if n == 0 else 1, workdir, master_key) for n in range(STARTS)]
    start_empty = statistics.median(phase.started_s for phase in empty)
    start_echo = statistics.median(echo_starts)
    start_stored = statistics.median(phase.started_s for phase in stored)
    small, loaded = empty[0], stored[0]
    per_conversation = (many.rss_kb - small.rss_kb) / (args.conversations - SMALL)
    print(f"footprint (SQLite, one process; {sys.platform}, Python {sys.version.split()[0]})")
    print(f"start-up, empty database:       {start_empty:6.2f} s (median of {STARTS}); "
          f"bare echo bot {start_echo:.2f} s (ratio {start_empty / start_echo:.1f}x)")
    print(f"memory once started:            {_kb(small.rss_idle_kb)}")
    print(f"memory with {SMALL} conversations:    {_kb(small.rss_kb)}; with {args.conversations}: {_kb(many.rss_kb)}; "
          f"per active conversation: {per_conversation * 1024:,.0f} bytes")
    print(f"{args.stored:,} stored cases: written in {seeding:.0f} s; database {size / 2**20:,.0f} MB")
    print(f"start-up with them:             {start_stored:6.2f} s (median of {STARTS}; "
          f"{start_stored / start_empty:.2f}x the empty database's)")
    print(f"memory once started with them:  {_kb(loaded.rss_idle_kb)} ({loaded.rss_idle_kb / small.rss_idle_kb:.2f}x); "
          f"with {SMALL} conversations: {_kb(loaded.rss_kb)} ({loaded.rss_kb / small.rss_kb:.2f}x)")
    print(f"latency of {SMALL} conversations with them: p50 {loaded.percentile(0.5) * 1000:.0f} ms, "
          f"p99 {loaded.percentile(0.99) * 1000:.0f} ms; on the empty database p50 "
          f"{small.percentile(0.5) * 1000:.0f} ms, p99 {small.percentile(0.99) * 1000:.0f} ms "
          f"(ratio p50 {loaded.percentile(0.5) / small.percentile(0.5):.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=100_000, help="cases stored for the last part")
    parser.add_argument("--conversations", type=int, default=200, help="active conversations for the memory figure")
    args = parser.parse_args()
    if args.conversations <= SMALL:
        parser.error(f"--conversations must be more than {SMALL}")
    return run_in_folder("caucus-footprint-", lambda workdir: _bench(args, workdir))


if __name__ == "__main__":
    sys.exit(main())
