"""The implementation timeline (PNG): one row per commitment, from its agreement's confirmation to its deadline,
with what happened on the way (reports, the other parties' verdicts, monitors' observations) and its state today.

Drawn like the summary chart (`bot.chart`: Pillow, the bundled DejaVu Sans, mirrored for right-to-left readers);
a function of the data alone, so the same case gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from PIL import Image, ImageDraw

from bot.chart import GRID, INK, MARGIN, MUTED, WIDTH, Canvas
from bot.i18n import Text, Translator, _, plain
from flows.agreement import Commitment, ObservationKind, Outcome, Verdict
from flows.machines import CommitmentStatus

__all__ = ["TimelineRow", "render_timeline"]

LABEL_WIDTH = 300
STATUS_WIDTH = 280
ROW = 34
_SPAN = (206, 212, 218)
_OUTCOME_COLOURS = {Outcome.DONE: (26, 127, 55), Outcome.PARTLY: (240, 160, 25), Outcome.NOT_DONE: (207, 34, 46)}
_STATUS_COLOURS = {
    CommitmentStatus.OPEN: MUTED, CommitmentStatus.OVERDUE: (207, 34, 46), CommitmentStatus.DONE: (26, 127, 55),
    CommitmentStatus.PARTLY: (240, 160, 25), CommitmentStatus.NOT_DONE: (207, 34, 46),
    CommitmentStatus.DISPUTED: (207, 34, 46), CommitmentStatus.VERIFIED: (26, 127, 55),
}
_ALARM = (207, 34, 46)
_NOTE = (13, 110, 253)
_CONFIRM = (26, 127, 55)


@dataclass(frozen=True)
class TimelineRow:
    """One commitment to draw: who, from when it was agreed, and its status in words."""

    label: str  # "owner: what", already in the reader's terms
    commitment: Commitment
    agreed: datetime | None  # when its agreement was confirmed
    status: str


def _span(rows: Sequence[TimelineRow]) -> tuple[datetime, datetime]:
    moments = [row.commitment.due for row in rows]
    for row in rows:
        moments += [row.agreed] if row.agreed else []
        moments += [report.at for report in row.commitment.reports]
        moments += [review.at for review in row.commitment.reviews]
        moments += [observation.at for observation in row.commitment.observations]
    start, end = min(moments), max(moments)
    pad = max((end - start) / 20, timedelta(days=1))
    return start - pad, end + pad


@dataclass
class _Axis:
    start: datetime
    end: datetime
    left: int
    right: int

    def x(self, moment: datetime) -> int:
        share = (moment - self.start) / (self.end - self.start)
        return self.left + round(share * (self.right - self.left))


def _ticks(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    days = max(1, (end - start).days)
    step = next(step for step in (1, 2, 7, 14, 30, 61, 91, 182, 365, 730) if days / step <= 8)
    first = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return [first + timedelta(days=step * index) for index in range(days // step + 1)
            if first + timedelta(days=step * index) < end]


def _marker(canvas: Canvas, x: int, y: int, shape: str, colour: tuple[int, int, int]) -> None:
    """A marker centred on (x, y) in left-to-right coordinates (mirrored for a right-to-left reader)."""
    cx = WIDTH - x if canvas.rtl else x
    r = 7
    if shape == "circle":
        canvas.draw.ellipse((cx - r, y - r, cx + r, y + r), fill=colour)
    elif shape == "triangle":
        canvas.draw.polygon([(cx, y - r - 1), (cx - r, y + r), (cx + r, y + r)], fill=colour)
    elif shape == "diamond":
        canvas.draw.polygon([(cx, y - r - 1), (cx + r + 1, y), (cx, y + r + 1), (cx - r - 1, y)], fill=colour)
    elif shape == "tick":
        canvas.draw.line((cx - 5, y, cx - 1, y + 5, cx + 6, y - 6), fill=colour, width=3)
    else:  # the deadline: a bar across the row
        canvas.draw.rectangle((cx - 1, y - 12, cx + 1, y + 12), fill=colour)


_LEGEND: tuple[tuple[str, tuple[int, int, int], Text], ...] = (
    ("deadline", INK, _("deadline")),
    ("circle", _OUTCOME_COLOURS[Outcome.DONE], _("reported done")),
    ("circle", _OUTCOME_COLOURS[Outcome.PARTLY], _("reported partly done")),
    ("circle", _OUTCOME_COLOURS[Outcome.NOT_DONE], _("reported not done")),
    ("tick", _CONFIRM, _("confirmed by a party")),
    ("triangle", _ALARM, _("disputed by a party")),
    ("diamond", _NOTE, _("monitor's observation")),
    ("diamond", _ALARM, _("monitor's alarm")),
)


def render_timeline(rows: Sequence[TimelineRow], t: Translator, title: str, timezone: str) -> bytes:
    """The timeline as PNG bytes, its words in ``t``'s language and dates in ``timezone``."""
    zone = ZoneInfo(timezone)
    height = MARGIN * 2 + 48 + 40 + len(rows) * ROW + 30 + ((len(_LEGEND) + 3) // 4) * 26 + 20
    image = Image.new("RGB", (WIDTH, height), (255, 255, 255))
    canvas = Canvas(ImageDraw.Draw(image), t.rtl)
    canvas.text(MARGIN, MARGIN, title, size=22, width=WIDTH - 2 * MARGIN)
    start, end = _span(rows)
    axis = _Axis(start, end, MARGIN + LABEL_WIDTH, WIDTH - MARGIN - STATUS_WIDTH)
    y = MARGIN + 48
    for tick in _ticks(start, end, zone):
        x = axis.x(tick)
        canvas.box(x, y + 24, 1, len(rows) * ROW + 8, GRID)
        canvas.text(x - 40, y, format_date(tick, "d MMM", locale=t.language), size=13, width=80, centre=True,
                    fill=MUTED)
    y += 32
    for row in rows:
        middle = y + ROW // 2
        canvas.text(MARGIN, middle - 9, row.label, size=14, width=LABEL_WIDTH - 12)
        commitment = row.commitment
        begin = axis.x(row.agreed) if row.agreed else axis.left
        canvas.box(min(begin, axis.x(commitment.due)), middle - 3, abs(axis.x(commitment.due) - begin) + 1, 6, _SPAN)
        _marker(canvas, axis.x(commitment.due), middle, "deadline", INK)
        for report in commitment.reports:
            _marker(canvas, axis.x(report.at), middle, "circle", _OUTCOME_COLOURS[report.outcome])
        for review in commitment.reviews:
            if review.verdict is Verdict.DISPUTE:
                _marker(canvas, axis.x(review.at), middle - 12, "triangle", _ALARM)
            else:
                _marker(canvas, axis.x(review.at), middle - 12, "tick", _CONFIRM)
        for observation in commitment.observations:
            colour = _ALARM if observation.kind is ObservationKind.ALARM else _NOTE
            _marker(canvas, axis.x(observation.at), middle + 12, "diamond", colour)
        canvas.text(WIDTH - MARGIN - STATUS_WIDTH + 12, middle - 9, row.status, size=14, width=STATUS_WIDTH - 12,
                    fill=_STATUS_COLOURS[commitment.status])
        y += ROW
    y += 20
    column = (WIDTH - 2 * MARGIN) // 4
    for index, (shape, colour, text) in enumerate(_LEGEND):
        x, line = MARGIN + (index % 4) * column, y + (index // 4) * 26
        _marker(canvas, x + 8, line + 9, shape, colour)
        canvas.text(x + 24, line, plain(t.render(text)), size=13, width=column - 30, fill=MUTED)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
