"""One worker at a time sends the replies and runs the upkeep jobs (storage.leader): on PostgreSQL the first
to take the advisory lock, the next one once it is gone; every worker's queued replies wake it at once."""

from __future__ import annotations

import asyncio

from storage.leader import Leadership
from tests.storage.conftest import Database, StoreFactory, unit

ALICE = 200_000_001


async def test_one_worker_leads_and_another_takes_over_when_it_is_gone(
        database: Database, open_store: StoreFactory) -> None:
    first, second = await open_store(), await open_store()  # two worker processes
    woken = asyncio.Event()
    leading, waiting = Leadership(first.engine), Leadership(second.engine)
    assert await leading.try_acquire(woken.set)
    if database.backend == "sqlite":  # one process: it always leads
        assert await waiting.try_acquire(woken.set)
        return
    assert not await waiting.try_acquire(woken.set), "a second worker must not lead while the first does"
    assert await leading.still_held()

    async with unit(second) as tx:  # a reply queued by the worker that does not lead
        await tx.enqueue(ALICE, "Saved.", [])
    await asyncio.wait_for(woken.wait(), 5)  # reached the leader through NOTIFY, at commit

    await leading.release()  # the leader stops (or dies: its connection closes either way)
    assert not await leading.still_held()
    for _attempt in range(50):  # PostgreSQL frees the lock when it sees the session end
        if await waiting.try_acquire(woken.set):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the lead was not taken over")
    assert await waiting.still_held()
    await waiting.release()
