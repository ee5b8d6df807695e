"""Building a case's analysis from storage and turning it into the files the mediator receives."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.chart import render_chart
from bot.i18n import _, plain, translator
from bot.report import render_report
from flows.analysis import Analysis, Audience, analyse
from flows.model import CaseInfo
from storage.repository import Transaction

__all__ = ["ReportFiles", "case_analysis", "report_files"]


@dataclass(frozen=True)
class ReportFiles:
    chart: bytes
    chart_name: str
    report: str
    report_name: str


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


def report_files(info: CaseInfo, analysis: Analysis, language: str, generated: datetime) -> ReportFiles:
    """The chart (PNG) and the report (HTML) in ``language``."""
    t = translator(language)
    title = plain(t.render(_("Case {case}: {title}", case=info.short_id, title=info.title)))
    chart = render_chart(analysis, t, title)
    report = render_report(info, analysis, t, chart=chart, generated=generated)
    return ReportFiles(chart, f"caucus-{info.short_id}-chart.png", report, f"caucus-{info.short_id}-report.html")
