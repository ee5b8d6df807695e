"""``caucusbot status CASE_ID``: a case's progress for the operator, never content."""

from __future__ import annotations

from bot.config import Settings
from flows.machines import CaseStage, CaucusStep
from storage.crypto import KeyRing
from storage.db import create_engine
from storage.repository import Store

__all__ = ["print_status"]


async def print_status(settings: Settings, short_id: str) -> int:
    """Print each party's step and last activity; 1 when no case has that id."""
    engine = create_engine(settings.database_url)
    store = Store(engine, KeyRing(settings.master_key))
    try:
        await store.open()
        async with store.transaction() as tx:
            assert tx is not None  # noqa: S101 - no update id, never a duplicate
            case_id = await tx.case_id_for(short_id)
            if case_id is None:
                print(f"no case with id {short_id!r}")
                return 1
            info = await tx.case_info(case_id)
            seats = await tx.seat_statuses(case_id)
        print(f"case {info.short_id}: stage {CaseStage(info.stage).value}, round {info.round}")
        for number, seat in enumerate(seats, start=1):
            when = seat.last_activity.isoformat(timespec="minutes") if seat.last_activity else "never"
            step = CaucusStep(seat.step).value
            print(f"  party {number}: {step:<20} last activity {when}")
        return 0
    finally:
        await engine.dispose()
