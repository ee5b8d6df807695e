"""The chart and the report: sizes Telegram accepts, one self-contained file, text direction per block."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from html.parser import HTMLParser

from PIL import Image

from bot.chart import render_chart
from bot.i18n import translator
from bot.replies import pack_lines
from bot.report import render_report
from bot.summaries import _detect, _match
from bot.summary_views import summary_message
from flows.analysis import analyse
from flows.model import (
    CaseInfo,
    CaucusAnswers,
    InterestCategory,
    Interests,
    Issue,
    Option,
    PartyView,
    Rating,
)

INFO = CaseInfo("case", "k7m2qa", "وادي الماء", "joint", 1)
WORDS = {0: "نحتاج إلى مياه آمنة لماشيتنا", 1: "Nous avons besoin d'eau pour le bétail", 2: "We need water"}


def _largest_case() -> tuple[list[Issue], list[PartyView]]:
    """The largest case a mediator can set up: 12 issues × 8 options, 10 parties."""
    issues = [Issue(f"i{i}", f"مسألة {i} — Issue {i} with a rather long title that must be cut",
                    options=tuple(Option(f"i{i}o{o}", f"Option {o}") for o in range(8))) for i in range(12)]
    parties = []
    for p in range(10):
        answers = CaucusAnswers(
            interests={issue.id: Interests([InterestCategory.SECURITY], WORDS[p % 3]) for issue in issues},
            ratings={issue.id: {o.id: list(Rating)[(p + k) % 4] for k, o in enumerate(issue.options)}
                     for issue in issues},
            ranking=[issue.id for issue in issues],
        )
        parties.append(PartyView(f"s{p}", f"الطرف {p}", answers))
    return issues, parties


def test_chart_fits_telegram_and_is_repeatable() -> None:
    """The largest case gives a PNG Telegram accepts as a photo (sides ≤ 10,000 in sum, ratio ≤ 20), twice the same."""
    issues, parties = _largest_case()
    analysis = analyse(issues, parties)
    first = render_chart(analysis, translator("en"), "Case k7m2qa")
    assert first == render_chart(analysis, translator("en"), "Case k7m2qa")
    image = Image.open(io.BytesIO(first))
    assert image.format == "PNG"
    width, height = image.size
    assert width + height <= 10_000
    assert max(width, height) / min(width, height) <= 20
    assert len(first) < 10 * 1024 * 1024


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.quotes: list[dict[str, str | None]] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "q":
            self.quotes.append(dict(attrs))
        self.sources += [value or "" for name, value in attrs if name in {"src", "href"}]
        if tag not in {"meta", "img", "br", "link"}:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag


def test_report_is_self_contained_and_marks_direction_per_block() -> None:
    """Balanced tags, no external resource, page language from the reader, each quote with its own lang and dir."""
    issues, parties = _largest_case()
    analysis = analyse(issues, parties, detect=_detect, match=_match)
    report = render_report(INFO, analysis, translator("fr"), chart=b"\x89PNG", generated=datetime(2026, 1, 1,
                                                                                                   tzinfo=UTC))
    assert report.startswith('<!DOCTYPE html>\n<html lang="fr" dir="ltr">')
    checker = _Checker()
    checker.feed(report)
    assert checker.stack == []
    assert all(source.startswith("data:image/png;base64,") for source in checker.sources)
    directions = {(quote.get("lang"), quote.get("dir")) for quote in checker.quotes}
    assert ("ar", "rtl") in directions
    assert ("fr", "ltr") in directions
    assert "<bdi>وادي الماء</bdi>" in report


def test_summary_before_any_submission_claims_nothing() -> None:
    """With no submitted party, the message says 0 of N and has no section that would assert something false."""
    issues, _parties = _largest_case()
    analysis = analyse(issues, [], total_parties=4)
    (message,) = pack_lines(summary_message(INFO, analysis), translator("en"))
    assert message.endswith("Based on the answers of 0 of 4 parties.")
    assert "no option is acceptable" not in message
