"""The operator's commands on stored data: ``caucusbot status CASE_ID`` (progress, never content),
``caucusbot report CASE_ID`` (the mediator's report) and ``caucusbot export grievances`` (CSV and
HTML for the triage team); files are written so that only their owner can read them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.grievance_export import export_csv, export_html
from bot.i18n import translator
from bot.summaries import case_analysis, implementation, record_disclosure, report_files
from flows.analysis import Audience
from flows.grievance import Grievance
from flows.machines import CaseStage, CaucusStep
from flows.model import CaseInfo
from storage.crypto import KeyRing
from storage.db import create_engine
from storage.repository import Store, Transaction
from storage.retention import purge_expired

__all__ = ["export_grievances", "print_status", "purge", "verify_audit", "write_report"]


@asynccontextmanager
async def _store(database_url: str, ring: KeyRing) -> AsyncIterator[Store]:
    """The database, opened with the configured master keys, outside any Telegram update."""
    engine = create_engine(database_url)
    store = Store(engine, ring)
    try:
        await store.open()
        yield store
    finally:
        await engine.dispose()


async def purge(settings: Settings, *, dry_run: bool) -> int:
    """Erase the cases and grievances closed longer ago than the retention period (what the bot does daily)."""
    async with _store(settings.database_url, settings.key_ring()) as store:
        counts = await purge_expired(store, datetime.now(UTC) - settings.retention, dry_run=dry_run)
    verb = "would be erased" if dry_run else "erased"
    print(f"closed more than {settings.retention.days} days ago: {counts.cases} cases and "
          f"{counts.grievances} grievances {verb}")
    return 0


async def verify_audit(settings: Settings) -> int:
    """Recompute the audit trail's chain; 1 when it is broken."""
    async with _store(settings.database_url, settings.key_ring()) as store:
        report = await store.verify_audit()
    head = f"head: event {report.head_seq}, hash {report.head_hash}"
    if report.intact:
        print(f"audit trail intact: {report.events} events; {head}")
        print("compare this head with one noted earlier: a trail cut short since then shows a different head")
        return 0
    print(f"audit trail BROKEN at event {report.broken_at}: {report.reason} ({report.events} events read; {head})")
    return 1


@asynccontextmanager
async def _transaction(database_url: str, ring: KeyRing) -> AsyncIterator[Transaction]:
    """One transaction on the database, outside any Telegram update."""
    async with _store(database_url, ring) as store, store.transaction() as tx:
        assert tx is not None  # noqa: S101 - no update id, never a duplicate
        yield tx


@asynccontextmanager
async def _case(database_url: str, ring: KeyRing, short_id: str) -> AsyncIterator[
        tuple[Transaction, CaseInfo] | None]:
    """One transaction on the case with this short id, or None (after saying so) when there is none."""
    async with _transaction(database_url, ring) as tx:
        case_id = await tx.case_id_for(short_id)
        if case_id is None:
            print(f"no case with id {short_id!r}")
            yield None
        else:
            yield tx, await tx.case_info(case_id)


async def print_status(settings: Settings, short_id: str) -> int:
    """Print each party's step and last activity; 1 when no case has that id."""
    async with _case(settings.database_url, settings.key_ring(), short_id) as found:
        if found is None:
            return 1
        tx, info = found
        seats = await tx.seat_statuses(info.id)
    print(f"case {info.short_id}: stage {CaseStage(info.stage).value}, round {info.round}")
    for number, seat in enumerate(seats, start=1):
        when = seat.last_activity.isoformat(timespec="minutes") if seat.last_activity else "never"
        step = CaucusStep(seat.step).value
        print(f"  party {number}: {step:<20} last activity {when}")
    return 0


async def write_report(database_url: str, ring: KeyRing, short_id: str, output: Path | None,
                       language: str) -> int:
    """Write the case's joint-session report (HTML, owner-only permissions); 1 when no case has that id."""
    async with _case(database_url, ring, short_id) as found:
        if found is None:
            return 1
        tx, info = found
        analysis = await case_analysis(tx, info)
        done = await implementation(tx, info)
        if analysis.parties:
            await record_disclosure(tx, info, Audience.MEDIATOR, actor="operator", recipients=1)
    files = report_files(info, analysis, language, datetime.now(UTC), done)
    path = output or Path(files.report_name)
    _write_private(path, files.report.encode("utf-8"))
    print(f"report of case {info.short_id} written to {path} "
          f"({len(analysis.parties)} of {analysis.total_parties} parties submitted)")
    return 0


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode on open: it must not stay readable to others
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


async def _grievances(database_url: str, ring: KeyRing) -> list[Grievance]:
    async with _transaction(database_url, ring) as tx:
        return await tx.triage_grievances()


def export_grievances(database_url: str, ring: KeyRing, output: Path, language: str,
                      timezone: str = "UTC") -> int:
    """Write grievances.csv and grievances.html into ``output`` (created if needed); nothing identifies
    an anonymous submitter."""
    grievances = asyncio.run(_grievances(database_url, ring))
    output.mkdir(parents=True, exist_ok=True)
    _write_private(output / "grievances.csv", export_csv(grievances, timezone))
    html = export_html(grievances, translator(language), generated=datetime.now(UTC), timezone=timezone)
    _write_private(output / "grievances.html", html.encode("utf-8"))
    print(f"{len(grievances)} grievances written to {output / 'grievances.csv'} and {output / 'grievances.html'}")
    return 0
