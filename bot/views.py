"""How each step looks: the translated prompt and its buttons. Pure functions of domain data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from babel.dates import format_datetime

from bot.i18n import LANGUAGES, Markup, Text, _, ngettext, user_text
from bot.replies import ButtonSpec, Reply
from flows.caucus import CaucusConversation
from flows.machines import CaseStage, CaucusStep
from flows.model import CaseInfo, InterestCategory, ItemKey, ItemKind, SeatStatus, ShareLevel
from flows.setup import MAX_ISSUES, MAX_PARTIES, MIN_ISSUES, MIN_PARTIES, CaseDraft
from flows.summary import Summary

__all__ = [
    "CATEGORY_NAMES",
    "caucus_step",
    "draft_step",
    "invalid_input",
    "status_view",
    "summary_view",
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

STEP_NAMES: Mapping[CaucusStep, Text] = {
    CaucusStep.INVITED: _("not joined yet"),
    CaucusStep.LANGUAGE: _("choosing a language"),
    CaucusStep.CONSENT: _("reading the confidentiality notice"),
    CaucusStep.DECLINED: _("declined to take part"),
    CaucusStep.POSITION: _("answering: position"),
    CaucusStep.INTEREST_CATEGORIES: _("answering: interests"),
    CaucusStep.INTEREST_WORDS: _("answering: interests"),
    CaucusStep.RANKING: _("ranking the issues"),
    CaucusStep.REVIEW: _("reviewing answers"),
    CaucusStep.CONFIRM: _("reviewing answers"),
    CaucusStep.SUBMITTED: _("submitted"),
}

STAGE_NAMES: Mapping[CaseStage, Text] = {
    CaseStage.DRAFT_TITLE: _("being set up"),
    CaseStage.DRAFT_ISSUES: _("being set up"),
    CaseStage.DRAFT_PARTIES: _("being set up"),
    CaseStage.INVITING: _("inviting the parties"),
    CaseStage.CAUCUS: _("caucus in progress"),
    CaseStage.JOINT: _("ready for the joint session"),
    CaseStage.AGREEMENT: _("agreement"),
    CaseStage.MONITORING: _("monitoring"),
    CaseStage.CLOSED: _("closed"),
}

_NEXT_LEVEL = {
    ShareLevel.PRIVATE: ShareLevel.MEDIATOR,
    ShareLevel.MEDIATOR: ShareLevel.JOINT,
    ShareLevel.JOINT: ShareLevel.PRIVATE,
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
}


def invalid_input(reason: str, details: Mapping[str, int]) -> Text:
    """The translated explanation of why an input was refused."""
    text = INVALID_INPUT[reason]
    return Text(text.msgid, params=dict(details))


def preview(text: str) -> Markup:
    """A short preview of an answer: the review screen never shows answers in full."""
    short = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"
    return user_text(short)


# Party side ------------------------------------------------------------------------------------
def language_choice(suggested: str) -> Reply:
    ordered = sorted(LANGUAGES, key=lambda code: code != suggested)
    return Reply.of(
        _("Welcome. Please choose your language."),
        buttons=[[ButtonSpec(LANGUAGES[code], "lang", code) for code in ordered]],
    )


def consent_notice(party_label: str) -> Reply:
    return Reply.of(
        _("<b>Before we start: how your answers are handled</b>"),
        _("You are invited as {label} to a private session (caucus) with the mediator.",
          label=user_text(party_label)),
        "",
        _("• What is stored: your answers to the questions that follow, your language, and your progress. "
          "Everything you type is stored encrypted."),
        _("• Who sees what: for each answer you choose who may see it: nobody (private), "
          "the mediator only, or everyone in the joint session. Other parties never see your private "
          "or mediator-only answers, and never see who you are on Telegram."),
        _("• Telegram: this chat goes through Telegram, which can read bot chats. "
          "Do not write anything you could not accept Telegram seeing."),
        _("• You can stop at any time with /pause and come back later; /privacy shows this notice again."),
        "",
        _("Do you agree to take part on these terms?"),
        buttons=[[ButtonSpec(_("I agree"), "consent"), ButtonSpec(_("I do not agree"), "decline")]],
    )


def _issue_heading(conversation: CaucusConversation) -> Text:
    return _("Issue {number} of {total}: <b>{issue}</b>",
             number=conversation.cursor + 1, total=len(conversation.issues),
             issue=user_text(conversation.current_issue.title))


def category_keyboard(conversation: CaucusConversation) -> list[list[ButtonSpec]]:
    interests = conversation.answers.interests.get(conversation.current_issue.id)
    chosen = set(interests.categories) if interests else set()
    buttons = [
        ButtonSpec(Text("✓ {name}", params={"name": name}), "cat", f"{category.value}:0") if category in chosen
        else ButtonSpec(name, "cat", f"{category.value}:1")
        for category, name in CATEGORY_NAMES.items()
    ]
    rows = [buttons[index:index + 2] for index in range(0, len(buttons), 2)]
    rows.append([ButtonSpec(_("Done"), "cats_done")])
    return rows


def ranking_view(conversation: CaucusConversation) -> Reply:
    titles = {issue.id: issue.title for issue in conversation.issues}
    lines: list[Text | str] = [_("<b>Priorities</b>: tap the issue that matters most to you, then the next one.")]
    for place, issue_id in enumerate(conversation.answers.ranking, start=1):
        lines.append(Text("{place}. {issue}", params={"place": place, "issue": user_text(titles[issue_id])}))
    rows = [[ButtonSpec(Markup(user_text(issue.title)), "rank", issue.id)] for issue in conversation.unranked_issues()]
    if conversation.answers.ranking:
        rows.append([ButtonSpec(_("Start again"), "rank_restart")])
    return Reply.of(*lines, buttons=rows)


def _item_label(key: ItemKey, titles: Mapping[str, str]) -> Text:
    if key.kind is ItemKind.POSITION:
        return _("Position on {issue}", issue=user_text(titles[key.issue_id]))
    if key.kind is ItemKind.INTERESTS:
        return _("Interests on {issue}", issue=user_text(titles[key.issue_id]))
    return _("Your ranking of the issues")


def _item_preview(conversation: CaucusConversation, key: ItemKey) -> Text | Markup:
    answers = conversation.answers
    if key.kind is ItemKind.POSITION:
        return preview(answers.positions[key.issue_id])
    if key.kind is ItemKind.INTERESTS:
        return preview(answers.interests[key.issue_id].words)
    return ngettext("{count} issue ranked", "{count} issues ranked", len(answers.ranking))


def review_view(conversation: CaucusConversation) -> Reply:
    titles = {issue.id: issue.title for issue in conversation.issues}
    keys = conversation.answers.items(conversation.issues)
    lines: list[Text | str] = [
        _("<b>Review your answers</b>"),
        _("For each answer, choose who may see it. Tap a button to change it:"),
        _("🔒 Private: nobody sees it. 👤 Mediator only: the mediator may read it. "
          "👥 Joint session: it may be quoted to all parties in the joint session."),
        "",
    ]
    rows: list[list[ButtonSpec]] = []
    for number, key in enumerate(keys, start=1):
        level = conversation.answers.share_level(key)
        lines.append(Text("{number}. <b>{label}</b>: {preview}", params={
            "number": number, "label": _item_label(key, titles), "preview": _item_preview(conversation, key),
        }))
        lines.append(Text("    {level}", params={"level": LEVEL_NAMES[level]}))
        rows.append([ButtonSpec(
            Text("{number}. {level}", params={"number": number, "level": LEVEL_NAMES[level]}),
            "share", f"{key.kind.value}:{key.issue_id}:{_NEXT_LEVEL[level].value}",
        )])
    rows.append([ButtonSpec(_("Submit my answers"), "submit")])
    return Reply.of(*lines, buttons=rows)


def caucus_step(conversation: CaucusConversation, *, party_label: str, suggested_language: str) -> Reply:
    """The prompt for the step the party is at."""
    step = conversation.step
    if step in {CaucusStep.INVITED, CaucusStep.LANGUAGE}:
        return language_choice(suggested_language)
    if step is CaucusStep.CONSENT:
        return consent_notice(party_label)
    if step is CaucusStep.DECLINED:
        return Reply.of(
            _("You chose not to take part, and no answer was recorded. "
              "If you change your mind, you can read the notice again."),
            buttons=[[ButtonSpec(_("Read the notice again"), "reconsider")]],
        )
    if step is CaucusStep.POSITION:
        return Reply.of(_issue_heading(conversation), "",
                        _("What is your <b>position</b> on this issue: what are you asking for? "
                          "Type your answer in your own words."))
    if step is CaucusStep.INTEREST_CATEGORIES:
        return Reply.of(_issue_heading(conversation), "",
                        _("<b>Why</b> does this matter to you? Choose one or more kinds of interest, "
                          "then tap Done."),
                        buttons=category_keyboard(conversation))
    if step is CaucusStep.INTEREST_WORDS:
        return Reply.of(_issue_heading(conversation), "",
                        _("In your own words: what do you need on this issue, and why? "
                          "What worries you, what would make things better?"))
    if step is CaucusStep.RANKING:
        return ranking_view(conversation)
    if step is CaucusStep.REVIEW:
        return review_view(conversation)
    if step is CaucusStep.CONFIRM:
        return Reply.of(
            _("Submit your answers now? After this they cannot be changed in this round, "
              "and the mediator will see only what you allowed."),
            buttons=[[ButtonSpec(_("Yes, submit"), "confirm_submit"), ButtonSpec(_("Back to review"), "back")]],
        )
    return Reply.of(_("Thank you: your answers are submitted. The mediator will see only what you allowed. "
                      "You will hear from the mediator about the next steps."))


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


def _when(moment: datetime | None, language: str) -> Text | str:
    if moment is None:
        return _("never")
    return format_datetime(moment, "medium", tzinfo=None, locale=language) + " UTC"


def status_view(info: CaseInfo, seats: list[SeatStatus], language: str) -> Reply:
    """Who is at which step: never content."""
    lines: list[Text | str] = [
        _("<b>Case {case}</b>: {title}", case=info.short_id, title=user_text(info.title)),
        _("Stage: {stage}", stage=STAGE_NAMES[CaseStage(info.stage)]),
        "",
    ]
    submitted = sum(seat.submitted for seat in seats)
    # A case always has two parties or more, so "parties" needs no plural forms.
    lines.append(_("Submitted: {count} of {total} parties.", count=submitted, total=len(seats)))
    lines.extend(
        _("• {party}: {step} (last activity: {when})", party=user_text(seat.label),
          step=STEP_NAMES[CaucusStep(seat.step)], when=_when(seat.last_activity, language))
        for seat in seats
    )
    return Reply.of(*lines)


def summary_view(info: CaseInfo, summary: Summary, total_parties: int) -> Reply:
    """The mediator's summary; holds only items the parties allowed the mediator to read."""
    lines: list[Text | str] = [
        _("<b>Summary of case {case}</b>: {title}", case=info.short_id, title=user_text(info.title)),
        _("Based on the answers of {count} of {total} parties.", count=len(summary.parties), total=total_parties),
        "",
        _("<b>Shared interests</b>"),
    ]
    if not summary.shared_interests:
        lines.append(_("None yet: no interest category is held by two or more parties."))
    for shared in summary.shared_interests:
        lines.append(_("• {category}: shared by {count} parties",
                       count=shared.party_count, category=CATEGORY_NAMES[shared.category]))
        lines.extend(
            Text("    {party} ({issue}): {words}", params={
                "party": user_text(holder.party), "issue": user_text(holder.issue), "words": user_text(holder.words)})
            for holder in shared.holders
        )
    lines += ["", _("<b>Priorities</b>")]
    for party in summary.parties:
        if party.ranking is None:
            lines.append(_("• {party}: kept private", party=user_text(party.party)))
        else:
            order = Markup(", ".join(f"{place}. {user_text(title)}" for place, title in enumerate(party.ranking, 1)))
            lines.append(Text("• {party}: {order}", params={"party": user_text(party.party), "order": order}))
    lines += ["", _("<b>What each party shared</b>")]
    for party in summary.parties:
        lines.append(Text("<b>{party}</b>", params={"party": user_text(party.party)}))
        if not party.items:
            lines.append(Text("    {nothing}", params={"nothing": _("(nothing shared)")}))
        for item in party.items:
            label = (_("Position on {issue}", issue=user_text(item.issue)) if item.kind is ItemKind.POSITION
                     else _("Interests on {issue}", issue=user_text(item.issue)))
            named: Text | str = ""
            if item.categories:
                named = Text(" [{names}]", params={"names": _join(CATEGORY_NAMES[c] for c in item.categories)})
            lines.append(Text("  • {label}{named} ({level}): {text}", params={
                "label": label, "named": named, "level": LEVEL_NAMES[item.level], "text": user_text(item.text),
            }))
    return Reply.of(*lines)


def _join(texts: Iterable[Text]) -> Text:
    """Several translated texts as one comma-separated list."""
    items = list(texts)
    template = ", ".join(f"{{p{index}}}" for index in range(len(items)))
    return Text(template, params={f"p{index}": item for index, item in enumerate(items)})
