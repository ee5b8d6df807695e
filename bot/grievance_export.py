"""Grievances exported for the triage team: a CSV for spreadsheets and a printable HTML report.

Neither holds anything that identifies an anonymous submitter: no Telegram id, no name, no
chat, and dates only to the day. A cell that a spreadsheet would run as a formula (it starts
with = + - @ or a tab) is prefixed with an apostrophe; `read_csv_cell` undoes it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.formats import Moment, Number
from bot.grievance_views import (
    STATUS_NAMES,
    URGENCY_NAMES,
    category_name,
    report_facts,
    report_history,
    report_origin,
    report_texts,
)
from bot.i18n import Markup, Text, Translator, _, ngettext
from bot.report import html_document, name_html, party_html
from flows.grievance import Grievance, count_grievances

__all__ = ["CSV_COLUMNS", "export_csv", "export_html", "read_csv_cell"]

CSV_COLUMNS = (
    "reference", "received_on", "status", "urgency", "category", "place", "language", "anonymous", "name",
    "description", "affected_groups", "wished_outcome", "last_update_on", "agenda_cases",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def read_csv_cell(value: str) -> str:
    """A cell as it was before export (the apostrophe that disarmed a formula removed)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _row(grievance: Grievance, timezone: str) -> list[str]:
    content = grievance.content
    zone = ZoneInfo(timezone)
    agenda = sorted({u.message for u in grievance.history if u.kind == "agenda" and u.message})
    language = content.description_language
    return [_cell(value) for value in (
        grievance.reference,
        grievance.received_at.astimezone(zone).date().isoformat(),
        grievance.status.value,
        grievance.urgency.value,
        content.category or "",
        content.region or "",
        grievance.language if language in {"", "und"} else language,
        "yes" if content.anonymous else "no",
        "" if content.anonymous else content.name or "",
        content.description,
        content.groups or "",
        content.remedy or "",
        grievance.updated_at.astimezone(zone).date().isoformat(),
        " ".join(agenda),
    )]


def export_csv(grievances: Sequence[Grievance], timezone: str = "UTC") -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs open every script correctly."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for grievance in grievances:
        writer.writerow(_row(grievance, timezone))
    return buffer.getvalue().encode("utf-8-sig")


def export_html(grievances: Sequence[Grievance], t: Translator, *, generated: datetime, timezone: str = "UTC") -> str:
    """Counts, then every report, in ``t``'s language; each report's text in its own language and direction."""
    say = t.render
    counts = count_grievances(grievances)
    title = say(_("Grievances"))
    note = _("Confidential: for the team handling grievances. Generated {when}.", when=Moment(generated, timezone))
    total = ngettext("{count} report.", "{count} reports.", counts.total)
    parts = [f"<h1>{title}</h1>", f'<p class="note">{say(note)}</p>', f"<p>{say(total)}</p>"]

    def table(heading: Text, rows: list[tuple[str, int]]) -> None:
        cells = "".join(f"<tr><td>{name}</td><td>{say(Text('{n}', params={'n': Number(n)}))}</td></tr>"
                        for name, n in rows)
        parts.append(f"<h2>{say(heading)}</h2><table>{cells}</table>")

    table(_("By status"), [(say(STATUS_NAMES[s]), n) for s, n in counts.by_status.most_common()])
    table(_("By urgency"), [(say(URGENCY_NAMES[u]), n) for u, n in counts.by_urgency.most_common()])
    table(_("By category"), [(say(category_name(c)), n) for c, n in counts.by_category.most_common()])
    table(_("By place"), [(name_html(r) if r else "—", n) for r, n in counts.by_region.most_common()])
    table(_("By language"), [(name_html(code or "—"), n) for code, n in counts.by_language.most_common()])
    reports_heading = _("Reports")
    parts.append(f"<h2>{say(reports_heading)}</h2>")
    for grievance in grievances:
        parts.append(f"<h3><code>{grievance.reference}</code></h3><ul>"
                     + "".join(f"<li>{say(line)}</li>" for line in _report_lines(grievance, timezone)) + "</ul>")
    return html_document(title, "\n".join(parts), t.language)


def _report_lines(grievance: Grievance, timezone: str) -> list[Text]:
    """The lines of the triage screen, with names and texts marked up for the page."""
    def quoted(text: str, language: str) -> Markup:
        return Markup(party_html(text, language))

    return [*report_facts(grievance, timezone), *report_origin(grievance, lambda text: Markup(name_html(text))),
            *report_texts(grievance, quoted), *report_history(grievance, timezone, quoted)]
