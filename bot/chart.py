"""The summary chart (PNG): priorities by party, option acceptability, range overlap bands.

Drawn with Pillow, whose bundled raqm shapes Arabic and orders right-to-left text; the font
(DejaVu Sans) ships with the package, so the chart looks the same on every machine. The
picture is a function of the analysis alone: no date, no random layout, so the same analysis
gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

from bot.i18n import Text, Translator, _, plain
from flows.analysis import Analysis, OverlapBand
from flows.model import Rating

__all__ = ["BAND_NAMES", "GRID", "INK", "MARGIN", "MUTED", "RATING_WORDS", "WIDTH", "Canvas", "render_chart"]

RATING_WORDS: Mapping[Rating, Text] = {
    Rating.IDEAL: _("Ideal"),
    Rating.ACCEPTABLE: _("Acceptable"),
    Rating.LIVE_WITH: _("Could live with"),
    Rating.UNACCEPTABLE: _("Unacceptable"),
}

BAND_NAMES: Mapping[OverlapBand, Text] = {
    OverlapBand.NOT_ENOUGH: _("not enough ranges yet"),
    OverlapBand.NONE: _("no overlap"),
    OverlapBand.NARROW: _("narrow overlap (under 10% of the scale)"),
    OverlapBand.MODERATE: _("moderate overlap (10% to 30% of the scale)"),
    OverlapBand.WIDE: _("wide overlap (30% of the scale or more)"),
}

WIDTH = 1200
MARGIN = 24
LABEL_WIDTH = 340
ROW = 30
# At most this many option rows are drawn; the report lists them all.
MAX_OPTION_ROWS = 60
INK = (33, 37, 41)
MUTED = (120, 124, 130)
GRID = (222, 226, 230)
_PRIVATE = (233, 236, 239)
_RATING_COLOURS = {
    Rating.IDEAL: (26, 127, 55),
    Rating.ACCEPTABLE: (99, 178, 111),
    Rating.LIVE_WITH: (240, 196, 25),
    Rating.UNACCEPTABLE: (207, 34, 46),
}
_BAND_LEVEL = {OverlapBand.NONE: 0, OverlapBand.NARROW: 1, OverlapBand.MODERATE: 2, OverlapBand.WIDE: 3}


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    path = resources.files("bot").joinpath("fonts", "DejaVuSans.ttf")
    with resources.as_file(path) as font_file:
        return ImageFont.truetype(str(font_file), size, layout_engine=ImageFont.Layout.RAQM)


def _fit(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """Cut ``text`` with an ellipsis so it fits ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


@dataclass
class Canvas:
    """Draws in left-to-right coordinates, mirrored for a right-to-left reader."""

    draw: ImageDraw.ImageDraw
    rtl: bool

    def box(self, x: int, y: int, width: int, height: int, fill: tuple[int, int, int]) -> None:
        left = WIDTH - x - width if self.rtl else x
        self.draw.rectangle((left, y, left + width - 1, y + height - 1), fill=fill)

    def text(self, x: int, y: int, text: str, *, size: int = 16, width: int = LABEL_WIDTH,
             fill: tuple[int, int, int] = INK, centre: bool = False) -> None:
        font = _font(size)
        shown = _fit(text, font, width)
        length = int(font.getlength(shown))
        offset = (width - length) // 2 if centre else 0
        left = WIDTH - x - offset - length if self.rtl and not centre else x + offset
        if self.rtl and centre:
            left = WIDTH - x - width + offset
        self.draw.text((left, y), shown, font=font, fill=fill)


def _heading(canvas: Canvas, y: int, text: str) -> int:
    canvas.text(MARGIN, y, text, size=20, width=WIDTH - 2 * MARGIN)
    return y + 36


def _column_width(parties: int) -> int:
    return max(40, (WIDTH - 2 * MARGIN - LABEL_WIDTH) // max(parties, 1))


def _party_header(canvas: Canvas, y: int, parties: tuple[str, ...]) -> int:
    column = _column_width(len(parties))
    for index, party in enumerate(parties):
        canvas.text(MARGIN + LABEL_WIDTH + index * column, y, party, size=14, width=column - 4, centre=True)
    return y + ROW


def _priorities(canvas: Canvas, y: int, analysis: Analysis, t: Translator) -> int:
    y = _heading(canvas, y, plain(t.render(_("Priorities by party (share of each party's priorities)"))))
    y = _party_header(canvas, y, analysis.parties)
    column = _column_width(len(analysis.parties))
    private = plain(t.render(_("private")))
    for issue in analysis.issues:
        canvas.text(MARGIN, y + 6, issue.title, width=LABEL_WIDTH - 12)
        for index, party in enumerate(analysis.priorities):
            x = MARGIN + LABEL_WIDTH + index * column
            if party.weights is None:
                canvas.box(x, y, column - 4, ROW - 4, _PRIVATE)
                canvas.text(x, y + 6, private, size=12, width=column - 4, fill=MUTED, centre=True)
                continue
            share = party.weights.get(issue.id, 0.0)
            shade = int(235 - 190 * min(share * 2.5, 1.0))  # 40 % or more of a party's priorities is darkest
            canvas.box(x, y, column - 4, ROW - 4, (shade, shade + 10 if shade < 245 else shade, 250))
            label = f"{round(share * 100)}%"
            canvas.text(x, y + 6, label, size=13, width=column - 4, fill=(255, 255, 255) if shade < 150 else INK,
                        centre=True)
        y += ROW
    return y + 12


def _ratings_by_party(analysis: Analysis) -> dict[str, dict[str, dict[str, Rating]]]:
    """Issue id → option id → party → rating, from what the audience may read."""
    table: dict[str, dict[str, dict[str, Rating]]] = {}
    for disclosure in analysis.disclosures:
        for item in disclosure.items:
            if item.issue is None or not item.ratings:
                continue
            for option, rating in item.ratings:
                table.setdefault(item.issue.id, {}).setdefault(option.id, {})[disclosure.party] = rating
    return table


def _options(canvas: Canvas, y: int, analysis: Analysis, t: Translator) -> int:
    if not analysis.options:
        return y
    y = _heading(canvas, y, plain(t.render(_("How acceptable each option is (✔ = every party can accept it)"))))
    legend_x = MARGIN
    for rating in Rating:
        canvas.box(legend_x, y + 2, 16, 16, _RATING_COLOURS[rating])
        word = plain(t.render(RATING_WORDS[rating]))
        canvas.text(legend_x + 22, y, word, size=14, width=200)
        legend_x += 30 + int(_font(14).getlength(word))
    y = _party_header(canvas, y + ROW, analysis.parties)
    column = _column_width(len(analysis.parties))
    table = _ratings_by_party(analysis)
    acceptable = {r.option.id for entry in analysis.options for r in entry.acceptable}
    private = plain(t.render(_("private")))
    rows = 0
    hidden = 0
    for entry in analysis.options:
        canvas.text(MARGIN, y + 6, entry.issue.title, size=15, width=WIDTH - 2 * MARGIN)
        y += ROW
        for option in entry.issue.options:
            if rows >= MAX_OPTION_ROWS:
                hidden += 1
                continue
            rows += 1
            mark = "✔ " if option.id in acceptable else "   "
            canvas.text(MARGIN + 12, y + 6, mark + option.text, size=14, width=LABEL_WIDTH - 24)
            rated = table.get(entry.issue.id, {}).get(option.id, {})
            for index, party in enumerate(analysis.parties):
                x = MARGIN + LABEL_WIDTH + index * column
                given = rated.get(party)
                canvas.box(x, y, column - 4, ROW - 4, _PRIVATE if given is None else _RATING_COLOURS[given])
                if given is None:
                    canvas.text(x, y + 6, private, size=12, width=column - 4, fill=MUTED, centre=True)
            y += ROW
    if hidden:
        more = plain(t.render(_("… and {count} more options: see the report.", count=hidden)))
        canvas.text(MARGIN, y + 6, more, size=14, width=WIDTH - 2 * MARGIN, fill=MUTED)
        y += ROW
    return y + 12


def _overlaps(canvas: Canvas, y: int, analysis: Analysis, t: Translator) -> int:
    if not analysis.overlaps:
        return y
    y = _heading(canvas, y, plain(t.render(_("Do the acceptable ranges overlap? (for the mediator only)"))))
    segment = (WIDTH - 2 * MARGIN - LABEL_WIDTH) // 4
    for overlap in analysis.overlaps:
        canvas.text(MARGIN, y + 6, overlap.issue.title, width=LABEL_WIDTH - 12)
        level = _BAND_LEVEL.get(overlap.band, -1)
        for step in range(4):
            x = MARGIN + LABEL_WIDTH + step * segment
            colour = GRID
            if level == 0 and step == 0:
                colour = _RATING_COLOURS[Rating.UNACCEPTABLE]
            elif 0 < step <= level:
                colour = _RATING_COLOURS[Rating.ACCEPTABLE]
            canvas.box(x, y, segment - 4, ROW - 4, colour)
        y += ROW
        canvas.text(MARGIN + LABEL_WIDTH, y, plain(t.render(BAND_NAMES[overlap.band])), size=13,
                    width=WIDTH - 2 * MARGIN - LABEL_WIDTH, fill=MUTED)
        y += ROW
    return y + 12


def render_chart(analysis: Analysis, t: Translator, title: str) -> bytes:
    """The chart as PNG bytes, its words in ``t``'s language."""
    option_rows = sum(len(entry.issue.options) + 1 for entry in analysis.options)
    height = (MARGIN * 2 + 48 + (len(analysis.issues) + 2) * ROW + 60
              + (min(option_rows, MAX_OPTION_ROWS + len(analysis.options)) + 4) * ROW + 60
              + len(analysis.overlaps) * 2 * ROW + 60)
    image = Image.new("RGB", (WIDTH, height), (255, 255, 255))
    canvas = Canvas(ImageDraw.Draw(image), t.rtl)
    canvas.text(MARGIN, MARGIN, title, size=24, width=WIDTH - 2 * MARGIN)
    y = MARGIN + 48
    y = _priorities(canvas, y, analysis, t)
    y = _options(canvas, y, analysis, t)
    y = _overlaps(canvas, y, analysis, t)
    image = image.crop((0, 0, WIDTH, min(height, y + MARGIN)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
