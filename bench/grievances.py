"""Triage at scale: what /grievances costs with many reports stored (SQLite file, real encryption).

Run by hand from the repository root: ``python bench/grievances.py`` (about a minute).

For 1,000 and 10,000 submitted grievances (each under its own data key, descriptions of ~200 characters in
four languages), one row per size:

- ``baseline ms``: reading the same rows without decrypting them (one SELECT of every grievance row), in the
  same run: what any listing pays;
- ``load ms`` and ``ratio``: ``triage_grievances`` (unwrap every data key, decrypt the reference and the
  content, and order them) against that baseline;
- ``list ms``: counting and rendering the first page of the list (``triage_list``), in English;
- ``group ms``: grouping similar open reports with the character n-gram matcher (``group_similar``);
- ``csv ms``: the CSV export of all of them.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bot.grievance_export import export_csv  # noqa: E402
from bot.grievance_views import triage_list  # noqa: E402
from bot.i18n import translator  # noqa: E402
from flows.grievance import DEFAULT_CATEGORIES, Urgency, count_grievances, group_similar  # noqa: E402
from flows.matching import CharNgramMatcher  # noqa: E402
from storage.crypto import KeyRing, MasterKey  # noqa: E402
from storage.db import create_engine, default_sqlite_url  # noqa: E402
from storage.migrate import upgrade_async  # noqa: E402
from storage.repository import Store  # noqa: E402
from storage.tables import GrievanceRow  # noqa: E402

TEXTS = (
    "The company fenced our grazing land and the herders can no longer reach the river near the village {n}",
    "La compagnie a clôturé nos pâturages et les éleveurs ne peuvent plus atteindre la rivière du village {n}",
    "قامت الشركة بتسييج أراضي الرعي ولم يعد الرعاة قادرين على الوصول إلى النهر في القرية {n}",
    "Компания огородила наши пастбища, и пастухи больше не могут дойти до реки у деревни {n}",
)


async def _fill(store: Store, count: int) -> None:
    for start in range(0, count, 500):
        async with store.transaction() as tx:
            assert tx is not None
            for n in range(start, min(count, start + 500)):
                grievance_id = await tx.create_grievance(10_000 + n % 3000, 10_000 + n % 3000, "en")
                conversation = await tx.load_grievance(grievance_id, DEFAULT_CATEGORIES, ())
                conversation.choose_language()
                conversation.stay_anonymous()
                conversation.choose_category(DEFAULT_CATEGORIES[n % 8])
                conversation.give_region(f"District {n % 40}")
                conversation.add_description(TEXTS[n % 4].format(n=n) * 2)
                conversation.finish_description()
                conversation.give_groups(None)
                conversation.choose_urgency(list(Urgency)[n % 3])
                conversation.give_remedy(None)
                conversation.submit()
                await tx.save_grievance(grievance_id, conversation, "en")


def _best(runs: list[float]) -> float:
    return min(runs) * 1000


async def _measure(count: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        url = default_sqlite_url(Path(folder))
        await upgrade_async(url)
        engine = create_engine(url)
        store = Store(engine, KeyRing(MasterKey.generate()))
        await store.open()
        await _fill(store, count)
        baseline, load, listing, grouping, csv_ms = [], [], [], [], []
        for _ in range(3):
            async with store.transaction() as tx:
                assert tx is not None
                started = time.perf_counter()
                rows = (await tx.session.scalars(select(GrievanceRow))).all()
                baseline.append(time.perf_counter() - started)
                assert len(rows) == count
                tx.session.expunge_all()
                started = time.perf_counter()
                grievances = await tx.triage_grievances()
                load.append(time.perf_counter() - started)
            started = time.perf_counter()
            reply = triage_list(grievances, count_grievances(grievances), 0, timezone="UTC")
            for line in reply.lines:
                translator("en").render(line)
            listing.append(time.perf_counter() - started)
            started = time.perf_counter()
            group_similar(grievances, CharNgramMatcher())
            grouping.append(time.perf_counter() - started)
            started = time.perf_counter()
            export_csv(grievances)
            csv_ms.append(time.perf_counter() - started)
        await engine.dispose()
    return (f"{count:>7} {_best(baseline):>12.1f} {_best(load):>9.1f} {_best(load) / _best(baseline):>6.1f} "
            f"{_best(listing):>8.1f} {_best(grouping):>9.1f} {_best(csv_ms):>7.1f}")


def main() -> None:
    print(f"{'reports':>7} {'baseline ms':>12} {'load ms':>9} {'ratio':>6} {'list ms':>8} {'group ms':>9} "
          f"{'csv ms':>7}")
    for count in (1_000, 10_000):
        print(asyncio.run(_measure(count)), flush=True)


if __name__ == "__main__":
    main()
