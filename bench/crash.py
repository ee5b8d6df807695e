"""Crash safety at scale: 1,000 SIGKILLs of the real bot across many conversations, then an audit of the database.

Run by hand from the repository root: ``python bench/crash.py`` (SQLite; 23 minutes on 2 cores with a
PostgreSQL run beside it), ``--backend postgresql`` (a fresh database on 127.0.0.1:5432, dropped afterwards) or
``--backend both``; ``--kills 100`` for a shorter run. A failed run keeps its folder (database and the bot's log)
and says where.

The drill is tests/reliability/crash_drill.py, the same one ``pytest -m stress`` runs: ``caucusbot run`` as a
child process against the Bot API stand-in (which redelivers every update the bot has not confirmed, as
Telegram does), sets of three cases with two or three parties each going through their caucus, and the bot
killed with SIGKILL at moments drawn from a seeded RNG: during start-up, at a random time, a few
milliseconds after an update was sent, or a few milliseconds after a reply reached a chat. The figures:

- ``kill points`` by kind, and how many landed with updates in flight or replies committed but not sent;
- ``answers checked``: every caucus item, note and suggestion the scripts gave, read back from the database
  with the master key and compared with what was typed; ``lost`` and ``duplicated`` list the differences
  (missing or changed items, extra rows, a seat at another step than its script reached, a case created
  twice, an update never committed); SQLite's ``integrity_check``;
- ``replies delivered twice``: the outbox is at-least-once, so a reply sent just before a kill goes again; of
  those, first copies left in the chat while the copy after them was deleted (a caucus screen whose first copy's
  message id died with the process: the outbox's gaps must delete it too, so anything but 0 fails the run), and
  first copies deleted while the copy after them stands (an ordinary message's duplicate that fell inside a
  screen's gap: the person still sees it once);
- ``back up``: the median time from a kill to the bot running again (a spare process with its imports
  done takes over; ``--cold`` starts ``python -m bot.cli run`` afresh each time instead).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.crash_drill import (  # noqa: E402
    CrashDrill,
    DrillPlan,
    DrillReport,
    PostgresUnavailableError,
    postgres_database,
)


async def _drill(backend: str, plan: DrillPlan) -> DrillReport:
    """One drill in a folder of its own, kept (with the bot's log) when it fails."""
    workdir = Path(tempfile.mkdtemp(prefix="caucus-crash-"))
    try:
        if backend == "sqlite":
            report = await CrashDrill(plan, f"sqlite+aiosqlite:///{workdir / 'caucus.sqlite3'}", workdir).run()
        else:
            async with postgres_database() as url:
                report = await CrashDrill(plan, url, workdir).run()
    except BaseException:
        print(f"{backend}: the drill failed; its database and the bot's log are in {workdir}", file=sys.stderr)
        raise
    if report.ok:
        shutil.rmtree(workdir)
    else:
        print(f"  the database and the bot's log are in {workdir}")
    return report


def _print(report: DrillReport) -> None:
    print(report.summary())
    audit = report.audit
    print("  rows: " + ", ".join(f"{name} {count}" for name, count in sorted(audit.rows.items())))
    for finding in (audit.lost + audit.duplicated + report.stuck + report.errors_logged)[:20]:
        print(f"  ! {finding}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--kills", type=int, default=1000, help="kill points per backend (default 1000)")
    parser.add_argument("--seed", type=int, default=DrillPlan.seed)
    parser.add_argument("--cold", action="store_true", help="restart with the plain command, no warm spare")
    args = parser.parse_args()
    plan = DrillPlan(kill_points=args.kills, cases_per_set=3, parties_per_case=(2, 3), seed=args.seed,
                     warm_restarts=not args.cold)
    failed = False
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        try:
            report = await _drill(backend, plan)
        except PostgresUnavailableError as error:
            print(f"{backend}: skipped, {error}")
            continue
        _print(report)
        failed = failed or not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
