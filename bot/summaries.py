"""Building a case's analysis from storage and turning it into the files the mediator receives."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.agreements import case_labels
from bot.chart import render_chart
from bot.i18n import _, plain, translator
from bot.report import Implementation, implementation_timeline, render_report
from flows.analysis import Analysis, Audience, analyse, visible_answers
from flows.model import CaseInfo
from storage.repository import Transaction

__all__ = ["Implementation", "ReportFiles", "case_analysis", "implementation", "record_disclosure", "report_files"]

_ITEMS_PER_EVENT = 15  # an item key is at most ~45 characters; an audit detail holds 1,000


@dataclass(frozen=True)
class ReportFiles:
    chart: bytes
    chart_name: str
    report: str
    report_name: str
    timeline: bytes | None = None  # the implementation timeline, once commitments are followed


async def implementation(tx: Transaction, info: CaseInfo) -> Implementation | None:
    """The case's agreements, every version's answers and the commitments; None before any agreement."""
    agreements = await tx.agreements(info.id)
    if not agreements:
        return None
    return Implementation(agreements, {a.id: await tx.agreement_answers(a.id) for a in agreements},
                          await tx.commitments(info.id), await case_labels(tx, info.id))


def _detect(text: str) -> str:
    from flows.matching import detect_language  # noqa: PLC0415 - the language model loads on first use

    return detect_language(text)


def _match(entries: Sequence[tuple[str, str]]) -> list[tuple[int, int, float]]:
    from flows.matching import match_across_parties  # noqa: PLC0415 - the matcher loads on first use

    return [(pair.first, pair.second, pair.similarity) for pair in match_across_parties(entries).pairs]


async def case_analysis(tx: Transaction, info: CaseInfo, audience: Audience = Audience.MEDIATOR) -> Analysis:
    """The analysis of the parties who submitted in the current round, for ``audience``."""
    parties = await tx.submitted_parties(info.id)
    seats = [seat for seat in await tx.seat_statuses(info.id) if not seat.withdrawn]
    issues = await tx.issues(info.id)
    # In a thread: the package search and the matcher take up to a second of CPU on a large case.
    return await asyncio.to_thread(analyse, issues, parties, mode=info.priority_mode, audience=audience,
                                   total_parties=len(seats), detect=_detect, match=_match)


async def record_disclosure(tx: Transaction, info: CaseInfo, audience: Audience, *, actor: str,
                            recipients: int) -> None:
    """Enter in the audit trail which items of each party a summary disclosed, and to whom (never the items)."""
    issues = await tx.issues(info.id)
    for party in await tx.submitted_parties(info.id):
        visible = visible_answers(party.answers, issues, info.priority_mode, audience)
        items = [key.encode() for key in visible.answered(issues, info.priority_mode)]
        for start in range(0, len(items), _ITEMS_PER_EVENT):
            await tx.audit("items_disclosed", actor=actor, case_id=info.id, seat_id=party.seat_id, to=audience.value,
                           round=info.round, items=items[start:start + _ITEMS_PER_EVENT])
    await tx.audit("summary_generated", actor=actor, case_id=info.id, to=audience.value, round=info.round,
                   recipients=recipients)


def report_files(info: CaseInfo, analysis: Analysis, language: str, generated: datetime,
                 done: Implementation | None = None) -> ReportFiles:
    """The chart (PNG) and the report (HTML) in ``language``; with ``done``, the report's implementation section
    and its timeline (PNG)."""
    t = translator(language)
    title = plain(t.render(_("Case {case}: {title}", case=info.short_id, title=info.title)))
    chart = render_chart(analysis, t, title)
    timeline = implementation_timeline(info, done, t) if done is not None else None
    report = render_report(info, analysis, t, chart=chart, generated=generated, done=done, timeline=timeline)
    return ReportFiles(chart, f"caucus-{info.short_id}-chart.png", report, f"caucus-{info.short_id}-report.html",
                       timeline)
