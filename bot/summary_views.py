"""The overlap analysis in words: the mediator's summary message and the parties' joint summary.

The phrases here are shared with the HTML report, so the message and the report say the same
things the same way. Party text is quoted in its own language and direction (isolated), with
the language it was written in named next to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError

from bot.chart import BAND_NAMES
from bot.i18n import Layout, Localized, Markup, Text, _, ngettext, user_text
from bot.replies import Reply
from bot.views import CATEGORY_NAMES, RATING_NAMES, item_label, join_texts
from flows.analysis import (
    AgendaItem,
    AgendaKind,
    Analysis,
    BlindOverlap,
    InterestHolder,
    IssueOptions,
    PackageSearch,
    TradeOff,
)
from flows.model import CaseInfo

__all__ = [
    "LanguageName",
    "LanguageNote",
    "agenda_text",
    "band_text",
    "joint_summary",
    "language_name",
    "options_text",
    "package_note",
    "quote",
    "summary_message",
    "trade_off_text",
]

# How many entries of each list the message shows; the report shows them all.
MESSAGE_LIMIT = 5

AGENDA_KINDS: Mapping[AgendaKind, Text] = {
    AgendaKind.COMMON_GROUND: _("common ground"),
    AgendaKind.TRADE_OFF: _("trade-off"),
    AgendaKind.DIVERGENCE: _("divergence"),
}


def language_name(code: str, reader: str) -> str:
    """The language ``code`` named in the reader's language ("arabe" for a French reader); the code if unknown."""
    try:
        return str(Locale.parse(reader).languages.get(code, code))
    except (ValueError, UnknownLocaleError):
        return code


@dataclass(frozen=True)
class LanguageName(Localized):
    """A language, named in each reader's language."""

    language: str

    def format(self, language: str) -> str:
        return language_name(self.language, language) if self.language else ""


@dataclass(frozen=True)
class LanguageNote(Localized):
    """The language a text was written in, named in the reader's language; nothing when it is the reader's."""

    language: str

    def format(self, language: str) -> str:
        if not self.language or self.language == language:
            return ""
        return f" ({language_name(self.language, language)})"


def quote(text: str, language: str) -> Text:
    """Party text as written, isolated, then its language when the reader's differs: «…» (French)."""
    return Layout("«{text}»{language}", params={"text": user_text(text), "language": LanguageNote(language)})


def holder_text(holder: InterestHolder) -> Text:
    """One party's interest on one issue: "Party A (Water): «…» (fr)"."""
    if holder.words:
        return Layout("{party} ({issue}): {words}", params={
            "party": user_text(holder.party), "issue": user_text(holder.issue.title),
            "words": quote(holder.words, holder.language)})
    return Layout("{party} ({issue})",
                  params={"party": user_text(holder.party), "issue": user_text(holder.issue.title)})


def options_text(entry: IssueOptions) -> Text:
    """The options of an issue every party can accept, best first, or why there are none."""
    if not entry.complete:
        return _("{issue}: {shared} of {total} parties shared their ratings", issue=user_text(entry.issue.title),
                 shared=entry.shared, total=entry.parties)
    if not entry.acceptable:
        return _("{issue}: no option is acceptable to every party", issue=user_text(entry.issue.title))
    names = join_texts(Layout("{option} ({worst})", params={
        "option": user_text(r.option.text), "worst": _("worst rating: {rating}", rating=RATING_NAMES[r.worst])})
        for r in entry.acceptable[:MESSAGE_LIMIT])
    return Layout("{issue}: {options}", params={"issue": user_text(entry.issue.title), "options": names})


def trade_off_text(trade: TradeOff) -> Text:
    return _("{first_issue} matters more to {first}, {second_issue} to {second}",
             first=user_text(trade.first), first_issue=user_text(trade.first_issue.title),
             second=user_text(trade.second), second_issue=user_text(trade.second_issue.title))


def percent(value: float) -> str:
    return f"{round(value * 100)}%"


def package_note(search: PackageSearch) -> Text:
    """How sure the search is of its best package."""
    if search.exact:
        return ngettext("Proven the best for the least satisfied party: the only possible package.",
                        "Proven the best for the least satisfied party: all {count} possible packages compared.",
                        search.count)
    if search.proven:
        return _("Proven the best for the least satisfied party.")
    gap = percent(max((search.bound or 0.0) - (search.best.worst if search.best else 0.0), 0.0))
    return _("The best found in the time allowed; the best possible is at most {gap} better "
             "for the least satisfied party.", gap=gap)


def package_lines(search: PackageSearch) -> list[Text | str]:
    """The best package for the least satisfied party, or why there is none."""
    if search.missing:
        return [_("No packages: {parties} did not share their priorities with you.",
                  parties=Markup(", ".join(user_text(p) for p in search.missing)))]
    best = search.best
    if best is None:
        return [_("No packages: no issue has an option every party can accept.")]
    choices = join_texts(Layout("{issue}: {option}", params={
        "issue": user_text(issue.title), "option": user_text(option.text)}) for issue, option in best.choices)
    satisfaction = join_texts(Layout("{party} {value}", params={"party": user_text(party), "value": percent(value)})
                              for party, value in zip(search.parties, best.utilities, strict=True))
    lines: list[Text | str] = [
        Layout("• {choices}", params={"choices": choices}),
        Layout("    {label} {values}", params={"label": _("Satisfaction:"), "values": satisfaction}),
        Layout("    {note}", params={"note": package_note(search)}),
    ]
    if search.excluded:
        lines.append(Layout("    {note}", params={"note": _(
            "Left out, no option acceptable to all: {issues}",
            issues=Markup(", ".join(user_text(i.title) for i in search.excluded)))}))
    return lines


def band_text(overlap: BlindOverlap) -> Text:
    return _("{issue}: {band} ({answered} of {total} ranges)", issue=user_text(overlap.issue.title),
             band=BAND_NAMES[overlap.band], answered=overlap.answered, total=overlap.parties)


def agenda_text(place: int, item: AgendaItem) -> Text:
    issues = Markup(" ↔ ".join(user_text(issue.title) for issue in item.issues))
    return Layout("{place}. {issues} ({kind})", params={"place": place, "issues": issues,
                                                     "kind": AGENDA_KINDS[item.kind]})


def _section(title: Text, entries: Iterable[Text | str], empty: Text) -> list[Text | str]:
    lines: list[Text | str] = ["", title]
    shown = [Layout("• {entry}", params={"entry": entry}) for entry in entries]
    return lines + (shown or [Layout("    {empty}", params={"empty": empty})])


def _shared(analysis: Analysis) -> list[Text]:
    """Each shared interest category with the parties holding it, in their own words."""
    return [Layout("{category}: {holders}", params={
        "category": CATEGORY_NAMES[s.category], "holders": join_texts(holder_text(h) for h in s.holders)})
        for s in analysis.common_ground.shared_interests]


def summary_message(info: CaseInfo, analysis: Analysis) -> Reply:
    """The mediator's short summary; the chart and the report follow it."""
    common = analysis.common_ground
    lines: list[Text | str] = [
        _("<b>Summary of case {case}</b>: {title}", case=info.short_id, title=user_text(info.title)),
        _("Based on the answers of {count} of {total} parties.", count=len(analysis.parties),
          total=analysis.total_parties),
    ]
    if not analysis.parties:
        return Reply.of(*lines)  # nothing to analyse yet: no section would be true
    lines += _section(_("<b>Shared interests</b>"), _shared(analysis),
                      _("None yet: no interest category is held by two or more parties."))
    if common.matches:
        lines.append(_("Similar words from different parties:"))
        lines += [Layout("    {first} ≈ {second}",
                       params={"first": holder_text(m.first), "second": holder_text(m.second)})
                  for m in common.matches[:MESSAGE_LIMIT]]
    lines += _section(_("<b>Options every party can accept</b>"), [options_text(e) for e in analysis.options],
                      _("No issue has options yet."))
    lines += _section(_("<b>Trade-offs</b>"), [trade_off_text(t) for t in analysis.trade_offs[:MESSAGE_LIMIT]],
                      _("None found: the parties' priorities do not differ in a way that suggests one."))
    lines += ["", _("<b>Best package for the least satisfied party</b>"), *package_lines(analysis.packages)]
    if analysis.overlaps:
        lines += _section(_("<b>Acceptable ranges</b> (for you only: never shown to the parties)"),
                          [band_text(o) for o in analysis.overlaps], _("No quantitative issue."))
    lines += _section(_("<b>Divergences</b>"), [user_text(d.issue.title) for d in analysis.divergences],
                      _("None: every issue has some common ground."))
    lines += ["", _("<b>Agenda proposal for the joint session</b>")]
    lines += [agenda_text(place, item) for place, item in enumerate(analysis.agenda, 1)]
    lines += ["", _("The chart and the full report (with what each party shared) follow.")]
    return Reply.of(*lines)


def joint_summary(info: CaseInfo, analysis: Analysis) -> Reply:
    """The summary every party receives: only items marked for the joint session, and results from them."""
    lines: list[Text | str] = [
        _("<b>Joint summary of case {case}</b>: {title}", case=info.short_id, title=user_text(info.title)),
        _("Prepared for the joint session from what each party chose to share with everyone."),
    ]
    lines += _section(_("<b>Shared interests</b>"), _shared(analysis),
                      _("None among what the parties shared with everyone."))
    acceptable = [options_text(e) for e in analysis.options if e.complete and e.acceptable]
    lines += _section(_("<b>Options every party can accept</b>"), acceptable,
                      _("None among what the parties shared with everyone."))
    lines += ["", _("<b>What each party shared with everyone</b>")]
    for disclosure in analysis.disclosures:
        lines.append(Layout("<b>{party}</b>", params={"party": user_text(disclosure.party)}))
        quoted = [item for item in disclosure.items if item.text]
        if not quoted:
            lines.append(Layout("    {nothing}", params={"nothing": _("(nothing shared with everyone)")}))
        for item in quoted:
            label = item_label(item.kind, item.issue.title if item.issue else "")
            lines.append(Layout("  • {label}: {text}",
                                params={"label": label, "text": quote(item.text, item.language)}))
    return Reply.of(*lines)

