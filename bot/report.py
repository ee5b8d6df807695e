"""The joint-session preparation report: one self-contained, printable HTML file.

No external resource: the style is inline and the chart is embedded as a data URI, so the file
opens the same offline, on a phone, or printed. The page takes the reader's language and
direction; each piece of party text carries its own ``lang`` and ``dir``, so Arabic quoted in a
French report (or French in an Arabic one) reads correctly.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime

from bot.agreement_views import (
    AGREEMENT_STATUS_NAMES,
    COMMITMENT_STATUS,
    OBSERVATION_NAMES,
    OUTCOME_NAMES,
    RESPONSE_NAMES,
    VERDICT_NAMES,
)
from bot.formats import Day, Moment
from bot.i18n import RTL_LANGUAGES, Layout, Text, Translator, _, plain, user_text
from bot.summary_views import (
    AGENDA_KINDS,
    band_text,
    options_text,
    package_note,
    percent,
    trade_off_text,
)
from bot.timeline import TimelineRow, render_timeline
from bot.views import CATEGORY_NAMES, LEVEL_NAMES, item_label, points_text, ranking_text, ratings_text
from flows.agreement import Agreement, Commitment, Response
from flows.analysis import Analysis, DisclosedItem, InterestHolder, PartyDisclosure
from flows.model import CaseInfo

__all__ = ["Implementation", "html_document", "implementation_timeline", "name_html", "party_html", "render_report"]

_STYLE = """
body{font-family:"DejaVu Sans",Arial,"Noto Sans","Noto Sans Arabic",sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#212529;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #dee2e6;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #dee2e6;padding:.3rem .5rem;text-align:start;
vertical-align:top}.muted{color:#6c757d}.note{background:#fff3cd;padding:.5rem;border-radius:.3rem}
q{quotes:"«" "»"}img{max-width:100%}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,img{break-inside:avoid}}
"""


def _direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"


def party_html(text: str, language: str) -> str:
    """Party text in its own language and direction (``auto`` when the language is unknown)."""
    lang = f' lang="{html.escape(language)}"' if language else ""
    direction = _direction(language) if language else "auto"
    code = f' <span class="muted">({html.escape(language)})</span>' if language else ""
    return f'<q{lang} dir="{direction}">{html.escape(text)}</q>{code}'


def name_html(text: str) -> str:
    """A name the mediator typed (a party label, an issue title), isolated from the sentence."""
    return f"<bdi>{html.escape(text)}</bdi>"


class _Page:
    def __init__(self, t: Translator) -> None:
        self.t = t
        self.parts: list[str] = []

    def say(self, text: Text) -> str:
        return self.t.render(text)

    def heading(self, text: Text) -> None:
        self.parts.append(f"<h2>{self.say(text)}</h2>")

    def paragraph(self, content: str, css: str = "") -> None:
        self.parts.append(f'<p class="{css}">{content}</p>' if css else f"<p>{content}</p>")

    def items(self, entries: list[str], empty: Text, *, ordered: bool = False) -> None:
        if not entries:
            self.paragraph(self.say(empty), "muted")
            return
        tag = "ol" if ordered else "ul"
        self.parts.append(f"<{tag}>" + "".join(f"<li>{entry}</li>" for entry in entries) + f"</{tag}>")


def _holder(page: _Page, holder: InterestHolder) -> str:
    words = f": {party_html(holder.words, holder.language)}" if holder.words else ""
    return f"{name_html(holder.party)} ({name_html(holder.issue.title)}){words}"


def _common_ground(page: _Page, analysis: Analysis) -> None:
    common = analysis.common_ground
    page.heading(_("Shared interests"))
    page.items([f"<b>{page.say(CATEGORY_NAMES[s.category])}</b><ul>"
                + "".join(f"<li>{_holder(page, h)}</li>" for h in s.holders) + "</ul>"
                for s in common.shared_interests],
               _("None yet: no interest category is held by two or more parties."))
    if common.matches:
        page.paragraph(page.say(_("Similar words from different parties:")))
        page.items([f"{_holder(page, m.first)} ≈ {_holder(page, m.second)} "
                    f'<span class="muted">({percent(m.similarity)})</span>' for m in common.matches],
                   _("None."))


def _packages(page: _Page, analysis: Analysis) -> None:
    search = analysis.packages
    page.heading(_("Packages on the Pareto frontier"))
    page.paragraph(page.say(_("Each package picks one option per issue. Satisfaction weighs each party's ratings "
                              "by its priorities (100% = its ideal option on every issue). No other package "
                              "does better for one party without doing worse for another.")), "muted")
    if search.best is None:
        if search.missing:
            page.paragraph(page.say(_("No packages: {parties} did not share their priorities with you.",
                                      parties=", ".join(search.missing))))
        else:
            page.paragraph(page.say(_("No packages: no issue has an option every party can accept.")))
        return
    # A bounded search's best package may not be provably on the frontier: it comes first, and is said so.
    unproven = search.best not in search.packages
    shown = (search.best, *search.packages) if unproven else search.packages
    names = [page.say(_("Package {number}", number=n)) for n in range(1, len(shown) + 1)]
    header = "".join(f"<th>{name}</th>" for name in names)
    rows = [f"<tr><th></th>{header}</tr>"]
    for index, issue in enumerate(search.issues):
        cells = "".join(f"<td>{name_html(package.choices[index][1].text)}</td>" for package in shown)
        rows.append(f"<tr><th>{name_html(issue.title)}</th>{cells}</tr>")
    for index, party in enumerate(search.parties):
        cells = "".join(f"<td>{percent(package.utilities[index])}</td>" for package in shown)
        rows.append(f"<tr><th>{name_html(party)}</th>{cells}</tr>")
    page.parts.append("<table>" + "".join(rows) + "</table>")
    if unproven:
        page.paragraph(page.say(_("Package 1 is the best found for the least satisfied party; the search could not "
                                  "show that no other package does better for one party without doing worse for "
                                  "another.")), "note")
    page.paragraph(page.say(package_note(search)), "note")
    if search.excluded:
        page.paragraph(page.say(_("Left out, no option acceptable to all: {issues}",
                                  issues=", ".join(i.title for i in search.excluded))), "muted")
    if search.unshared:
        page.paragraph(page.say(_("Left out, not every party shared its ratings: {issues}",
                                  issues=", ".join(i.title for i in search.unshared))), "muted")


def _item(page: _Page, item: DisclosedItem) -> str:
    label = page.say(item_label(item.kind, item.issue.title if item.issue else ""))
    level = page.say(LEVEL_NAMES[item.level])
    if item.ratings:
        body = page.say(ratings_text((option.text, rating) for option, rating in item.ratings))
    else:
        body = party_html(item.text, item.language) if item.text else ""
    categories = ""
    if item.categories:
        categories = " [" + ", ".join(page.say(CATEGORY_NAMES[c]) for c in item.categories) + "]"
    return f"<b>{label}</b>{categories} <span class=\"muted\">({level})</span>: {body}"


def _disclosure(page: _Page, disclosure: PartyDisclosure) -> None:
    page.parts.append(f"<h3>{name_html(disclosure.party)}</h3>")
    entries = []
    if disclosure.ranking is not None:
        entries.append(page.say(_("Priorities: {order}",
                                  order=ranking_text(issue.title for issue in disclosure.ranking))))
    if disclosure.points is not None:
        entries.append(page.say(_("Priorities: {order}",
                                  order=points_text((issue.title, points) for issue, points in disclosure.points))))
    entries += [_item(page, item) for item in disclosure.items]
    page.items(entries, _("(nothing shared)"))


@dataclass(frozen=True)
class Implementation:
    """What the report's implementation section shows: agreements, every version's answers, commitments."""

    agreements: list[Agreement]
    answers: dict[str, dict[int, dict[str, Response]]]  # agreement id -> version -> seat -> answer
    commitments: list[Commitment]
    labels: dict[str, str]  # seats and monitors -> their labels


def _rows(info: CaseInfo, done: Implementation, t: Translator) -> list[TimelineRow]:
    agreed = {agreement.id: agreement.confirmed_at for agreement in done.agreements}
    return [TimelineRow(f"{done.labels.get(c.owner, '?')}: {c.what}", c, agreed.get(c.agreement_id),
                        plain(t.render(COMMITMENT_STATUS[c.status][1])))
            for c in done.commitments if agreed.get(c.agreement_id) is not None]


def implementation_timeline(info: CaseInfo, done: Implementation, t: Translator) -> bytes | None:
    """The timeline of the commitments followed (those of confirmed agreements); None while there are none."""
    rows = _rows(info, done, t)
    if not rows:
        return None
    title = plain(t.render(_("Commitments of case {case}", case=info.short_id)))
    return render_timeline(rows, t, title, info.timezone)


def _when(page: _Page, moment: datetime | None, zone: str) -> str:
    return page.say(Layout("{when}", params={"when": Moment(moment, zone)})) if moment else "—"


def _agreement_section(page: _Page, info: CaseInfo, done: Implementation, agreement: Agreement) -> None:
    version = agreement.current
    status = page.say(AGREEMENT_STATUS_NAMES[agreement.status])
    page.parts.append(f"<h3>{page.say(_('Agreement {number}', number=agreement.number))}: {status}</h3>")
    page.paragraph(party_html(version.text, version.language))
    if agreement.confirmed_at is not None:
        page.paragraph(page.say(_("Confirmed by every party on {when}.", when=Moment(agreement.confirmed_at,
                                                                                     info.timezone))))
    answers = done.answers.get(agreement.id, {})
    seats = [seat for seat in done.labels if any(seat in by_seat for by_seat in answers.values())]
    if not answers:
        return
    head = "".join(f"<th>{name_html(done.labels[seat])}</th>" for seat in seats)
    body = []
    for number, by_seat in sorted(answers.items()):
        cells = []
        for seat in seats:
            response = by_seat.get(seat)
            if response is None:
                cells.append("<td>—</td>")
                continue
            text = page.say(RESPONSE_NAMES[response.status])
            if response.at is not None:
                text += f'<br><span class="muted">{_when(page, response.at, info.timezone)}</span>'
            if response.comment:
                text += f"<br>{party_html(response.comment, '')}"
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr><th>{page.say(_('Version {version}', version=number))}</th>{''.join(cells)}</tr>")
    page.parts.append(f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>")


def _commitment_events(page: _Page, info: CaseInfo, done: Implementation, commitment: Commitment) -> str:
    events = []
    for report in commitment.reports:
        text = page.say(_("{when}: reported {outcome}", when=Moment(report.at, info.timezone),
                          outcome=OUTCOME_NAMES[report.outcome]))
        events.append(text + (f" {party_html(report.comment, '')}" if report.comment else ""))
    for review in commitment.reviews:
        text = page.say(_("{when}: {party} {verdict} report {number}", when=Moment(review.at, info.timezone),
                          party=user_text(done.labels.get(review.seat_id, "?")), verdict=VERDICT_NAMES[review.verdict],
                          number=review.report))
        events.append(text + (f" {party_html(review.comment, '')}" if review.comment else ""))
    for observation in commitment.observations:
        text = page.say(_("{when}: {kind} from {monitor}", when=Moment(observation.at, info.timezone),
                          kind=OBSERVATION_NAMES[observation.kind],
                          monitor=user_text(done.labels.get(observation.monitor_id, "?"))))
        events.append(f"{text} {party_html(observation.text, '')}")
    return "<br>".join(events) or "—"


def _implementation(page: _Page, info: CaseInfo, done: Implementation, timeline: bytes | None) -> None:
    page.heading(_("Implementation: agreements and commitments"))
    if timeline is not None:
        alt = html.escape(page.say(_("Timeline: each commitment from its agreement to its deadline, with reports, "
                                     "verdicts and observations")), True)
        page.parts.append(f'<p><img alt="{alt}" src="data:image/png;base64,{base64.b64encode(timeline).decode()}">'
                          "</p>")
    for agreement in done.agreements:
        _agreement_section(page, info, done, agreement)
    if not done.commitments:
        return
    page.parts.append(f"<h3>{page.say(_('Commitments'))}</h3>")
    header = "".join(f"<th>{page.say(text)}</th>" for text in (
        _("Who"), _("What"), _("By"), _("How it will be verified"), _("State"), _("What happened")))
    rows = []
    for commitment in done.commitments:
        sign, status = COMMITMENT_STATUS[commitment.status]
        rows.append(
            f"<tr><td>{name_html(done.labels.get(commitment.owner, '?'))}</td>"
            f"<td>{party_html(commitment.what, '')}</td>"
            f"<td>{page.say(Layout('{due}', params={'due': Day(commitment.due, info.timezone)}))}</td>"
            f"<td>{party_html(commitment.verification, '')}</td><td>{sign} {page.say(status)}</td>"
            f"<td>{_commitment_events(page, info, done, commitment)}</td></tr>")
    page.parts.append(f"<table><tr>{header}</tr>{''.join(rows)}</table>")


def render_report(info: CaseInfo, analysis: Analysis, t: Translator, *, chart: bytes | None,
                  generated: datetime, done: Implementation | None = None, timeline: bytes | None = None) -> str:
    """The whole report as one HTML document in ``t``'s language."""
    page = _Page(t)
    title = page.say(_("Summary of case {case}", case=info.short_id))
    page.parts.append(f"<h1>{title}: {name_html(info.title)}</h1>")
    page.paragraph(page.say(_("Confidential: prepared for the mediators of this case. Generated {when}.",
                              when=Moment(generated, info.timezone))), "note")
    page.paragraph(page.say(_("Based on the answers of {count} of {total} parties.", count=len(analysis.parties),
                              total=analysis.total_parties)))
    page.heading(_("Agenda proposal for the joint session"))
    page.items([" ↔ ".join(name_html(issue.title) for issue in item.issues)
                + f' <span class="muted">({page.say(AGENDA_KINDS[item.kind])})</span>' for item in analysis.agenda],
               _("No issues."), ordered=True)
    if chart is not None:
        alt = html.escape(page.say(_("Chart: priorities by party, option acceptability and range overlaps")), True)
        page.parts.append(f'<p><img alt="{alt}" src="data:image/png;base64,{base64.b64encode(chart).decode()}"></p>')
    _common_ground(page, analysis)
    page.heading(_("Options every party can accept"))
    page.items([page.say(options_text(entry)) for entry in analysis.options], _("No issue has options yet."))
    page.heading(_("Trade-offs"))
    page.items([page.say(trade_off_text(trade)) for trade in analysis.trade_offs],
               _("None found: the parties' priorities do not differ in a way that suggests one."))
    _packages(page, analysis)
    if analysis.overlaps:
        page.heading(_("Acceptable ranges (for the mediator only: never shown to the parties)"))
        page.items([page.say(band_text(overlap)) for overlap in analysis.overlaps], _("No quantitative issue."))
    page.heading(_("Divergences"))
    page.items([name_html(d.issue.title) + ("<ul>" + "".join(f"<li>{_holder(page, h)}</li>" for h in d.interests)
                                        + "</ul>" if d.interests else "") for d in analysis.divergences],
               _("None: every issue has some common ground."))
    page.heading(_("What each party shared"))
    for disclosure in analysis.disclosures:
        _disclosure(page, disclosure)
    if done is not None:
        _implementation(page, info, done, timeline)
    return html_document(title, "\n".join(page.parts), t.language)


def html_document(title: str, body: str, language: str) -> str:
    """A self-contained, printable HTML page in ``language`` and its direction (``title`` is HTML already)."""
    return (f'<!DOCTYPE html>\n<html lang="{language}" dir="{_direction(language)}">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
