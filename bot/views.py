"""How each step looks: the translated prompt and its buttons. Pure functions of domain data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from bot.formats import Amount, Moment, Number
from bot.i18n import LANGUAGES, Layout, Markup, Text, _, ngettext, user_text
from bot.replies import ButtonSpec, Reply
from flows.machines import CaseStage, CaucusStep
from flows.model import CaseInfo, InterestCategory, Issue, ItemKey, ItemKind, Rating, SeatStatus, ShareLevel
from flows.setup import MAX_ISSUES, MAX_PARTIES, MIN_ISSUES, MIN_PARTIES, CaseDraft

T = TypeVar("T")

__all__ = [
    "CATEGORY_NAMES",
    "ITEM_NAMES",
    "LEVEL_NAMES",
    "RATING_NAMES",
    "Pager",
    "answer_so_far",
    "case_heading",
    "draft_step",
    "invalid_input",
    "item_label",
    "item_name",
    "join_texts",
    "language_buttons",
    "points_text",
    "ranking_text",
    "ratings_text",
    "shorten",
    "status_view",
    "submitted_line",
]

PREVIEW_CHARS = 60

CATEGORY_NAMES: Mapping[InterestCategory, Text] = {
    InterestCategory.SECURITY: _("Security"),
    InterestCategory.LIVELIHOOD: _("Livelihood and economy"),
    InterestCategory.LAND: _("Land and resources"),
    InterestCategory.IDENTITY: _("Identity and recognition"),
    InterestCategory.DIGNITY: _("Dignity and respect"),
    InterestCategory.PARTICIPATION: _("Participation and voice"),
    InterestCategory.JUSTICE: _("Justice and accountability"),
    InterestCategory.CULTURE: _("Culture and religion"),
    InterestCategory.RELATIONSHIPS: _("Relationships"),
    InterestCategory.OTHER: _("Other"),
}

LEVEL_NAMES: Mapping[ShareLevel, Text] = {
    ShareLevel.PRIVATE: _("🔒 Private"),
    ShareLevel.MEDIATOR: _("👤 Mediator only"),
    ShareLevel.JOINT: _("👥 Joint session"),
}

RATING_NAMES: Mapping[Rating, Text] = {
    Rating.IDEAL: _("⭐ Ideal"),
    Rating.ACCEPTABLE: _("👍 Acceptable"),
    Rating.LIVE_WITH: _("🤝 Could live with"),
    Rating.UNACCEPTABLE: _("⛔ Unacceptable"),
}

STEP_NAMES: Mapping[CaucusStep, Text] = {
    CaucusStep.INVITED: _("not joined yet"),
    CaucusStep.LANGUAGE: _("choosing a language"),
    CaucusStep.CONSENT: _("reading the confidentiality notice"),
    CaucusStep.DECLINED: _("declined to take part"),
    CaucusStep.POSITION: _("answering: position"),
    CaucusStep.INTEREST_CATEGORIES: _("answering: interests"),
    CaucusStep.INTEREST_WORDS: _("answering: interests"),
    CaucusStep.RANGE_LOW: _("answering: acceptable range"),
    CaucusStep.RANGE_HIGH: _("answering: acceptable range"),
    CaucusStep.RANGE_HOPE: _("answering: acceptable range"),
    CaucusStep.RATING: _("answering: options"),
    CaucusStep.SUGGEST_OPTION: _("answering: options"),
    CaucusStep.RANKING: _("answering: priorities"),
    CaucusStep.POINTS: _("answering: priorities"),
    CaucusStep.CBM_NEEDS: _("answering: building trust"),
    CaucusStep.CBM_OFFER: _("answering: building trust"),
    CaucusStep.CONSTITUENTS: _("answering: the people they represent"),
    CaucusStep.ALTERNATIVE: _("answering: alternative to an agreement"),
    CaucusStep.REVIEW: _("reviewing answers"),
    CaucusStep.CONFIRM: _("reviewing answers"),
    CaucusStep.SUBMITTED: _("submitted"),
    CaucusStep.WAITING: _("waiting for the next round (not submitted)"),
    CaucusStep.WITHDRAWN: _("withdrew"),
}

STAGE_NAMES: Mapping[CaseStage, Text] = {
    CaseStage.DRAFT_TITLE: _("being set up"),
    CaseStage.DRAFT_ISSUES: _("being set up"),
    CaseStage.DRAFT_PARTIES: _("being set up"),
    CaseStage.DRAFT_DETAILS: _("being set up"),
    CaseStage.INVITING: _("inviting the parties"),
    CaseStage.CAUCUS: _("caucus in progress"),
    CaseStage.JOINT: _("ready for the joint session"),
    CaseStage.AGREEMENT: _("agreement"),
    CaseStage.MONITORING: _("monitoring"),
    CaseStage.CLOSED: _("closed"),
}

ITEM_NAMES: Mapping[ItemKind, Text] = {
    ItemKind.POSITION: _("Position on {issue}"),
    ItemKind.INTERESTS: _("Interests on {issue}"),
    ItemKind.RANGE: _("Acceptable range on {issue}"),
    ItemKind.RATINGS: _("Options on {issue}"),
    ItemKind.RANKING: _("Priorities: ranking of the issues"),
    ItemKind.POINTS: _("Priorities: points per issue"),
    ItemKind.CBM_NEEDS: _("Trust: what is needed from the other side"),
    ItemKind.CBM_OFFER: _("Trust: what could be offered"),
    ItemKind.CONSTITUENTS: _("Constituents: what they need to accept an agreement"),
    ItemKind.ALTERNATIVE: _("Alternative to an agreement"),
}


INVALID_INPUT: Mapping[str, Text] = {
    "empty": _("That message is empty. Please type your answer as text."),
    "too_long": _("That is too long: please keep it to at most {limit} characters."),
    "duplicate": _("That name is already on the list."),
    "too_many_issues": _("A case can have at most {limit} issues."),
    "too_few_issues": _("Please add at least {limit} issues first."),
    "too_many_parties": _("A case can have at most {limit} parties."),
    "too_few_parties": _("Please add at least {limit} parties first."),
    "no_category": _("Please choose at least one kind of interest, then tap Done."),
    "not_a_number": _("Please type a single number, for example {example}.", example=Number(1500)),
    "ambiguous_number": _("I cannot tell which number you mean. Please write it without separators "
                          "(for example 1500) or with a decimal part (for example {example}).",
                          example=Number(Decimal("1.5"))),
    "not_whole": _("Please type a whole number, without a decimal part."),
    "out_of_scale": _("Please give a value from {low} to {high}."),
    "high_below_low": _("The highest value cannot be below the lowest one ({low})."),
    "hope_outside": _("The value you hope for should be between your lowest and highest values "
                      "({low} to {high})."),
    "points_range": _("Please give a number of points from 0 to {left}."),
    "priorities_done": _("Every issue has its points. Tap \u201cStart again\u201d to share them anew."),
    "range_private": _("A range is always private: nobody can see it, and this cannot be changed."),
    "not_more_private": _("After submitting, you can only let fewer people see an answer."),
    "shares_closed": _("The joint session is being prepared, so who may see your answers can no longer change. "
                       "If something worries you, tell the mediator with /note."),
    "scale_order": _("The highest value must be above the lowest one ({low})."),
    "scale_lines": _("Please send three lines: the unit, the lowest value and the highest value."),
    "unknown_timezone": _("I do not know that time zone. Please send a name such as Africa/Nairobi, "
                          "Europe/Kyiv or UTC."),
    "not_a_date": _("Please send a date, for example {example}."),
    "date_in_past": _("That date has already passed."),
    "date_too_far": _("Please choose a date within the next year."),
    "too_many_options": _("An issue can have at most {limit} options."),
    "no_invitations_yet": _("The invitations are not created yet: tap \u201cCreate the invitations\u201d first."),
    "locked": _("Parties have already submitted in this round: issues and options can change "
                "only between rounds."),
    "mode_locked": _("How parties give priorities can change only before a round starts."),
    "seat_taken": _("Someone has joined as this party. To replace them, remove the person who joined."),
    "gone": _("That issue or option no longer exists. Nothing was changed."),
    "not_joint": _("The joint summary can be sent once every party has submitted or the round is closed."),
    "lead_only": _("Only the lead mediator of this case can do that."),
    "description_full": _("That would make the description longer than {limit} characters: {left} are left. Please "
                          "send a shorter message, or tap Done."),
    "no_description": _("Please describe what happened first: type it as a message."),
    "status_changed": _("Someone else has just changed the status of this report. Please open it again."),
    "mediator_seat": _("This is a party's invitation link: forward it to the party. Opening it yourself "
                       "would take their seat."),
    "same_language": _("The text is written in that language already. Please choose another one."),
    "unknown_language": _("That language is not available."),
    "no_parties": _("No party can receive it yet: parties receive agreements once they have joined the case."),
    "agreement_stage": _("Agreements are written after a joint session: close the round first, or wait until "
                         "every party has submitted."),
    "commitment_lines": _("Please send three lines: what will be done, the deadline as a date (for example "
                          "{example}), and how it will be verified."),
    "too_many_commitments": _("An agreement can hold at most {limit} commitments."),
    "case_closed": _("This case is closed: its agreements and commitments can no longer change."),
    "monitor_link": _("This is a monitor's invitation link: forward it to the monitor. Opening it yourself would "
                      "use it up."),
}

_AMOUNTS = ("low", "high")


LANGUAGES_PER_ROW = 3


def language_buttons(codes: Iterable[str], action: str) -> list[list[ButtonSpec]]:
    """One button per language, named in that language, three to a row so they stay readable on a phone."""
    buttons = [ButtonSpec(LANGUAGES[code], action, code) for code in codes]
    return [buttons[start:start + LANGUAGES_PER_ROW] for start in range(0, len(buttons), LANGUAGES_PER_ROW)]


def invalid_input(reason: str, details: Mapping[str, int | str]) -> Text:
    """The translated explanation of why an input was refused, numbers in the reader's format."""
    text = INVALID_INPUT[reason]
    params: dict[str, object] = dict(text.params)
    unit = str(details.get("unit", ""))
    for name, value in details.items():
        if name in _AMOUNTS:
            params[name] = Amount(Decimal(str(value)), unit)
        elif isinstance(value, int):
            params[name] = Number(value)
        elif name != "unit":
            params[name] = value
    return Text(text.msgid, params=params)


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def preview(text: str) -> Markup:
    """A short preview of an answer: the review screen never shows answers in full."""
    return user_text(shorten(text, PREVIEW_CHARS))


@dataclass(frozen=True)
class Pager:
    """One page of a long list: which page is shown (clamped), its first item, its line and its ◀ ▶ buttons."""

    page: int
    pages: int
    first: int
    per_page: int

    @classmethod
    def of(cls, count: int, page: int, per_page: int) -> Pager:
        pages = max(1, -(-count // per_page))
        page = min(max(page, 0), pages - 1)
        return cls(page, pages, page * per_page, per_page)

    def shown(self, items: Sequence[T]) -> Sequence[T]:
        """The items on this page."""
        return items[self.first:self.first + self.per_page]

    def heading(self) -> list[Text | str]:
        return [_("Page {page} of {pages}", page=self.page + 1, pages=self.pages)] if self.pages > 1 else []

    def buttons(self, action: str) -> list[list[ButtonSpec]]:
        if self.pages == 1:
            return []
        return [[ButtonSpec("◀", action, str((self.page - 1) % self.pages)),
                 ButtonSpec("▶", action, str((self.page + 1) % self.pages))]]


def answer_so_far(text: str) -> Text:
    """An earlier answer, as a short preview under the question asking it again."""
    return _("Your answer so far: {answer}", answer=preview(text))


# Mediator side -------------------------------------------------------------------------------
def draft_step(info: CaseInfo, draft: CaseDraft) -> Reply:
    """The mediator's next setup prompt."""
    if draft.stage is CaseStage.DRAFT_TITLE:
        return Reply.of(_("New case <b>{case}</b>. What is the case called? "
                          "(A short name; only you see it.)", case=info.short_id))
    if draft.stage is CaseStage.DRAFT_ISSUES:
        count = len(draft.issues)
        return Reply.of(
            ngettext("{count} issue so far.", "{count} issues so far.", count),
            _("Send the issues to be negotiated, one per message (at least {minimum}, at most {maximum}), "
              "then tap \u201cDone adding issues\u201d.", minimum=MIN_ISSUES, maximum=MAX_ISSUES),
            buttons=[[ButtonSpec(_("Done adding issues"), "issues_done")]],
        )
    count = len(draft.parties)
    return Reply.of(
        ngettext("{count} party so far.", "{count} parties so far.", count),
        _("Send the label of each party, one per message, as the parties will see it "
          "(for example \u201cParty A\u201d; at least {minimum}, at most {maximum}), "
          "then tap \u201cDone adding parties\u201d.",
          minimum=MIN_PARTIES, maximum=MAX_PARTIES),
        buttons=[[ButtonSpec(_("Done adding parties"), "parties_done")]],
    )


def _when(moment: datetime | None, timezone: str) -> Text | Moment:
    return _("never") if moment is None else Moment(moment, timezone)


def case_heading(info: CaseInfo) -> list[Text | str]:
    """The first lines of the case menu and the status: the case, its stage and round."""
    return [_("<b>Case {case}</b>: {title}", case=info.short_id, title=user_text(info.title)),
            _("Stage: {stage} (round {round})", stage=STAGE_NAMES[CaseStage(info.stage)], round=info.round)]


def submitted_line(seats: list[SeatStatus]) -> Text:
    """How many of the parties still taking part have submitted the round."""
    active = [seat for seat in seats if not seat.withdrawn]
    # A case always has two parties or more, so "parties" needs no plural forms.
    return _("Submitted: {count} of {total} parties.", count=sum(seat.submitted for seat in active),
             total=len(active))


def status_view(info: CaseInfo, seats: list[SeatStatus], *, now: datetime, zone: str | None = None) -> Reply:
    """/status: who is at which step, and who is late, never content; times in ``zone`` (the reader's own time
    zone), else in the case's."""
    zone = zone or info.timezone
    lines = case_heading(info)
    if info.deadline is not None:
        lines.append(_("Deadline: {when}", when=Moment(info.deadline, zone)))
    lines += ["", submitted_line(seats)]
    late = info.deadline is not None and now > info.deadline
    for seat in seats:
        lines.append(_("• {party}: {step} (last activity: {when})", party=user_text(seat.label),
                       step=STEP_NAMES[CaucusStep(seat.step)], when=_when(seat.last_activity, zone)))
        if late and not seat.submitted and not seat.withdrawn:
            lines.append(Layout("    {late}", params={"late": _("⏰ late: the deadline has passed")}))
    return Reply.of(*lines)


def item_name(key: ItemKey, issues: list[Issue]) -> Text:
    """An item's name as the party and the mediator read it ("Position on Water")."""
    titles = {issue.id: issue.title for issue in issues}
    return item_label(key.kind, titles.get(key.issue_id, "?"))


def item_label(kind: ItemKind, issue_title: str) -> Text:
    """An item's name from its kind and, for per-issue items, its issue's title."""
    name = ITEM_NAMES[kind]
    return Text(name.msgid, params={"issue": user_text(issue_title)}) if kind.per_issue else name


def ranking_text(titles: Iterable[str]) -> Markup:
    """Issue titles in order of priority: "1. Water, 2. Land"."""
    return Markup(", ".join(f"{place}. {user_text(title)}" for place, title in enumerate(titles, 1)))


def points_text(points: Iterable[tuple[str, int]]) -> Text:
    """Points per issue title: "Water: 50; Land: 30"."""
    return join_texts(Layout("{issue}: {points}", params={"issue": user_text(title), "points": Number(count)})
                      for title, count in points)


def ratings_text(ratings: Iterable[tuple[str, Rating]]) -> Text:
    """Options with their ratings: "A new well: ⭐ Ideal; …"."""
    return join_texts(Layout("{option}: {rating}", params={"option": user_text(option), "rating": RATING_NAMES[rating]})
                      for option, rating in ratings)


def join_texts(texts: Iterable[Text]) -> Text:
    """Several translated texts as one list."""
    items = list(texts)
    template = "; ".join(f"{{p{index}}}" for index in range(len(items)))
    return Layout(template, params={f"p{index}": item for index, item in enumerate(items)})
