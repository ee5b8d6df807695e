"""How each caucus step looks to a party: the translated prompt and its buttons.

Pure functions of the conversation; the review screen shows short previews, pages of items,
and one item at a time in detail (full text only on request, never after submission).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.formats import Amount, Moment, Number
from bot.i18n import LANGUAGES, Layout, Markup, Text, _, ngettext, user_text
from bot.replies import ButtonSpec, Reply
from bot.views import (
    CATEGORY_NAMES,
    LEVEL_NAMES,
    RATING_NAMES,
    Pager,
    answer_so_far,
    item_name,
    join_texts,
    language_buttons,
    points_text,
    preview,
    ranking_text,
    ratings_text,
)
from flows.caucus import OPTIONAL_KIND_AT, CaucusConversation
from flows.machines import CaucusStep
from flows.model import (
    FIXED_SHARE,
    OPTIONAL_KINDS,
    POINTS_TOTAL,
    Issue,
    ItemKey,
    ItemKind,
    ShareLevel,
)
from storage.audit import AuditRecord

__all__ = [
    "ADDED_OPTION", "REVIEW_PAGE_ITEMS", "ROUND_CLOSED", "caucus_step", "history_view",
    "restrict_item", "restrict_page", "review_item",
    "review_page",
]

ROUND_CLOSED = _("This round of questions is closed. The mediator will be in touch; "
                 "if a new round starts, you will be able to answer again.")
ADDED_OPTION = _("The mediator added this option after you answered this issue. Please rate it before you submit.")
REVIEW_PAGE_ITEMS = 10
_BUTTONS_PER_ROW = 5
ITEM_OPTIONAL = frozenset(OPTIONAL_KINDS)
LEVEL_ICONS: Mapping[ShareLevel, str] = {ShareLevel.PRIVATE: "🔒", ShareLevel.MEDIATOR: "👤", ShareLevel.JOINT: "👥"}

_LEVEL_MEANING: Mapping[ShareLevel, Text] = {
    ShareLevel.PRIVATE: _("Nobody sees it. It may only count in overall results that reveal nothing about "
                          "your answer."),
    ShareLevel.MEDIATOR: _("The mediator may read it; the other parties never see it."),
    ShareLevel.JOINT: _("It may be quoted to all parties in the joint session."),
}

_OPTIONAL_QUESTIONS: Mapping[CaucusStep, tuple[Text, Text]] = {
    CaucusStep.CBM_NEEDS: (
        _("<b>Building trust</b>: what would you need from the other side to trust this process more? "
          "For example a gesture, a guarantee, or information."),
        _("Why we ask: small steps that build trust often make larger agreements possible."),
    ),
    CaucusStep.CBM_OFFER: (
        _("<b>Building trust</b>: what could you offer the other side to show good faith?"),
        _("Why we ask: knowing what each side could offer helps the mediator suggest first steps."),
    ),
    CaucusStep.CONSTITUENTS: (
        _("<b>The people you represent</b>: what would they need to see in an agreement to accept it?"),
        _("Why we ask: an agreement lasts only if you can defend it to the people behind you."),
    ),
    CaucusStep.ALTERNATIVE: (
        _("<b>If there is no agreement</b>: what happens to you then? What would you do?"),
        _("Why we ask: knowing your alternative helps you weigh any proposal. "
          "Like every answer, it is shared only as you choose."),
    ),
}

# Joining -----------------------------------------------------------------------------------------
def language_choice(suggested: str) -> Reply:
    ordered = sorted(LANGUAGES, key=lambda code: code != suggested)
    return Reply.of(
        _("Welcome. Please choose your language."),
        buttons=language_buttons(ordered, "lang"),
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
        _("• You can stop at any time with /pause and come back later; /privacy shows this notice again; "
          "/forget withdraws you and erases your answers."),
        "",
        _("Do you agree to take part on these terms?"),
        buttons=[[ButtonSpec(_("I agree"), "consent"), ButtonSpec(_("I do not agree"), "decline")]],
    )


# One issue ---------------------------------------------------------------------------------------
def _issue_heading(conversation: CaucusConversation) -> Text:
    return _("Issue {number} of {total}: <b>{issue}</b>",
             number=conversation.cursor + 1, total=len(conversation.issues),
             issue=user_text(conversation.current_issue.title))


def _keep_button(conversation: CaucusConversation) -> list[list[ButtonSpec]]:
    return [[ButtonSpec(_("Keep my answer"), "keep")]] if conversation.has_answer_here() else []


def _text_step(conversation: CaucusConversation, question: Text, current: str | None) -> Reply:
    lines: list[Text | str] = [_issue_heading(conversation), "", question]
    if current:
        lines += ["", answer_so_far(current), _("Type a new answer, or keep this one.")]
    return Reply.of(*lines, buttons=_keep_button(conversation))


def category_keyboard(conversation: CaucusConversation) -> list[list[ButtonSpec]]:
    interests = conversation.answers.interests.get(conversation.current_issue.id)
    chosen = set(interests.categories) if interests else set()
    buttons = [
        ButtonSpec(Layout("✓ {name}", params={"name": name}), "cat", f"{category.value}:0") if category in chosen
        else ButtonSpec(name, "cat", f"{category.value}:1")
        for category, name in CATEGORY_NAMES.items()
    ]
    rows = [buttons[index:index + 2] for index in range(0, len(buttons), 2)]
    rows.append([ButtonSpec(_("Done"), "cats_done")])
    return rows


def _range_step(conversation: CaucusConversation) -> Reply:
    issue = conversation.current_issue
    scale = issue.scale
    assert scale is not None  # noqa: S101 - range steps exist only for quantitative issues
    answer = conversation.answers.ranges.get(issue.id)
    question = {
        CaucusStep.RANGE_LOW: _("What is the <b>lowest</b> value you could accept?"),
        CaucusStep.RANGE_HIGH: _("What is the <b>highest</b> value you could accept?"),
        CaucusStep.RANGE_HOPE: _("And what value do you <b>hope</b> for?"),
    }[conversation.step]
    current = None
    if answer is not None:
        current = {CaucusStep.RANGE_LOW: answer.low, CaucusStep.RANGE_HIGH: answer.high,
                   CaucusStep.RANGE_HOPE: answer.hope}[conversation.step]
    lines: list[Text | str] = [
        _issue_heading(conversation),
        _("This issue is counted in {unit}, on a scale from {low} to {high}.",
          unit=user_text(scale.unit), low=Amount(scale.low, scale.unit), high=Amount(scale.high, scale.unit)),
        _("🔒 Your range is always private: the mediator learns only whether the parties' ranges overlap, "
          "never your numbers, and no other party learns anything from it."),
        "",
        question,
        _("Type a number, for example {example}.", example=Number(scale.low + (scale.high - scale.low) / 2)),
    ]
    if current is not None:
        lines.append(_("Your answer so far: {answer}", answer=Amount(current, scale.unit)))
    return Reply.of(*lines, buttons=_keep_button(conversation))


def _rating_step(conversation: CaucusConversation) -> Reply:
    issue = conversation.current_issue
    option = conversation.current_option
    if option is None:
        return Reply.of(
            _issue_heading(conversation), "",
            _("The mediator has not proposed options for this issue yet. If you have an idea for a solution, "
              "you can suggest it: it goes to the mediator only."),
            buttons=[[ButtonSpec(_("💡 Suggest an option"), "suggest"), ButtonSpec(_("Continue"), "skip_options")]],
        )
    rated = conversation.answers.ratings.get(issue.id, {}).get(option.id)
    lines: list[Text | str] = [
        _issue_heading(conversation),
        _("Option {number} of {total}:", number=conversation.sub + 1, total=len(issue.options)),
        Layout("<b>{option}</b>", params={"option": user_text(option.text)}),
        "",
        _("How acceptable is this option to you?"),
    ]
    if rated is not None:
        lines.append(_("Your answer so far: {answer}", answer=RATING_NAMES[rated]))
    elif conversation.editing:
        lines.append(Layout("<i>{note}</i>", params={"note": ADDED_OPTION}))
    buttons = [
        ButtonSpec(Layout("✓ {name}", params={"name": name}) if rating is rated else name, "rate",
                   f"{option.id}:{rating.value}")
        for rating, name in RATING_NAMES.items()
    ]
    return Reply.of(*lines, buttons=[buttons[:2], buttons[2:], [ButtonSpec(_("💡 Suggest an option"), "suggest")]])


def _suggestion_step(conversation: CaucusConversation) -> Reply:
    return Reply.of(
        _issue_heading(conversation), "",
        _("Describe the option you suggest, in one message. It goes to the mediator only, under your party's name; "
          "the mediator decides whether to put it to all parties."),
        buttons=[[ButtonSpec(_("Cancel"), "cancel_suggest")]],
    )


# Priorities --------------------------------------------------------------------------------------
def ranking_view(conversation: CaucusConversation) -> Reply:
    titles = {issue.id: issue.title for issue in conversation.issues}
    lines: list[Text | str] = [_("<b>Priorities</b>: tap the issue that matters most to you, then the next one.")]
    for place, issue_id in enumerate(conversation.answers.ranking, start=1):
        lines.append(Layout("{place}. {issue}", params={"place": place, "issue": user_text(titles.get(issue_id, "?"))}))
    rows = [[ButtonSpec(Markup(user_text(issue.title)), "rank", issue.id)] for issue in conversation.unranked_issues()]
    if conversation.priorities_complete():
        rows = [[ButtonSpec(_("Keep this order"), "keep")]]
    if conversation.answers.ranking:
        rows.append([ButtonSpec(_("Start again"), "restart_prio")])
    return Reply.of(*lines, buttons=rows)


def points_view(conversation: CaucusConversation) -> Reply:
    points = conversation.answers.points
    lines: list[Text | str] = [
        _("<b>Priorities</b>: spread {total} points over the issues; more points for what matters more to you.",
          total=POINTS_TOTAL),
    ]
    lines.extend(
        Layout("• {issue}: {points}", params={"issue": user_text(issue.title), "points": Number(points[issue.id])})
        for issue in conversation.issues if issue.id in points
    )
    rows: list[list[ButtonSpec]] = []
    if conversation.priorities_complete():
        rows.append([ButtonSpec(_("Keep these points"), "keep")])
    else:
        lines += ["", ngettext("{count} point left.", "{count} points left.", conversation.points_left),
                  _("How many points for <b>{issue}</b>? Type a number from 0 to {left}.",
                    issue=user_text(conversation.points_issue.title), left=conversation.points_left)]
    if points:
        rows.append([ButtonSpec(_("Start again"), "restart_prio")])
    return Reply.of(*lines, buttons=rows)


def _optional_step(conversation: CaucusConversation) -> Reply:
    question, why = _OPTIONAL_QUESTIONS[conversation.step]
    lines: list[Text | str] = [question, Layout("<i>{why}</i>", params={"why": why}), "",
                               _("Type your answer, or skip this question.")]
    current = conversation.answers.texts.get(OPTIONAL_KIND_AT[conversation.step])
    if current:
        lines.append(answer_so_far(current))
    rows = _keep_button(conversation)
    rows.append([ButtonSpec(_("Skip"), "skip_optional")])
    return Reply.of(*lines, buttons=rows)


# Review ------------------------------------------------------------------------------------------
def _short(conversation: CaucusConversation, key: ItemKey, *, full: bool = False) -> Text | Markup:
    """An item's answer as a short preview (or in full, on request before submission)."""
    answers = conversation.answers
    if not answers.has(key):
        return _("(skipped)") if key.kind in ITEM_OPTIONAL else _("(not answered)")

    def shown(text: str) -> Markup:
        return user_text(text) if full else preview(text)

    issue = next((issue for issue in conversation.issues if issue.id == key.issue_id), None)
    if key.kind is ItemKind.POSITION:
        return shown(answers.positions[key.issue_id])
    if key.kind is ItemKind.INTERESTS:
        interests = answers.interests[key.issue_id]
        names = join_texts([CATEGORY_NAMES[c] for c in interests.categories])
        return Layout("{names}: {words}", params={"names": names, "words": shown(interests.words)})
    if key.kind is ItemKind.RANGE:
        answer = answers.ranges[key.issue_id]
        unit = issue.scale.unit if issue and issue.scale else ""
        if not answer.complete:
            return _("(not finished)")
        return _("from {low} to {high}, hoping for {hope}", low=Amount(answer.low, unit),  # type: ignore[arg-type]
                 high=Amount(answer.high, unit), hope=Amount(answer.hope, unit))  # type: ignore[arg-type]
    if key.kind is ItemKind.RATINGS:
        ratings = answers.ratings[key.issue_id]
        options = issue.options if issue else ()
        if not full:
            rated = sum(option.id in ratings for option in options)
            if rated < len(options):
                return ngettext("{count} new option to rate", "{count} new options to rate", len(options) - rated)
            return ngettext("{count} option rated", "{count} options rated", rated)
        return ratings_text((option.text, ratings[option.id]) for option in options if option.id in ratings)
    if key.kind is ItemKind.RANKING:
        titles = {issue.id: issue.title for issue in conversation.issues}
        return ranking_text(titles.get(issue_id, "?") for issue_id in answers.ranking)
    if key.kind is ItemKind.POINTS:
        return points_text((issue.title, answers.points.get(issue.id, 0)) for issue in conversation.issues)
    return shown(answers.texts[key.kind])


def _level_meanings(levels: list[ShareLevel]) -> list[Text | str]:
    """What each level means, so the party knows before choosing (DESIGN.md §4)."""
    return [_("{level}: {meaning}", level=LEVEL_NAMES[option], meaning=_LEVEL_MEANING[option]) for option in levels]


def _item_pages(
    keys: list[ItemKey], page: int, heading: list[Text | str], *, item: Callable[[int, ItemKey], Text],
    button: Callable[[int, ItemKey], ButtonSpec | None], page_action: str, last_row: list[ButtonSpec],
) -> Reply:
    """Items ten to a page, each a numbered line with (perhaps) a number button, and ◀ ▶ between pages."""
    pager = Pager.of(len(keys), page, REVIEW_PAGE_ITEMS)
    lines = [*heading, _("🔒 Private · 👤 Mediator only · 👥 Joint session"), *pager.heading(), ""]
    numbers: list[ButtonSpec] = []
    for number, key in enumerate(pager.shown(keys), start=pager.first + 1):
        lines.append(item(number, key))
        spec = button(number, key)
        if spec is not None:
            numbers.append(spec)
    rows = [numbers[index:index + _BUTTONS_PER_ROW] for index in range(0, len(numbers), _BUTTONS_PER_ROW)]
    rows += pager.buttons(page_action)
    rows.append(last_row)
    return Reply.of(*lines, buttons=rows)


def review_page(conversation: CaucusConversation, page: int = 0) -> Reply:
    """The review screen: one page of items with their previews and share levels."""
    answers = conversation.answers

    def line(number: int, key: ItemKey) -> Text:
        return Layout("{number}. {icon} <b>{name}</b>: {answer}", params={
            "number": number, "icon": LEVEL_ICONS[answers.share_level(key)] if answers.has(key) else "·",
            "name": item_name(key, conversation.issues), "answer": _short(conversation, key),
        })

    return _item_pages(
        conversation.items(), page,
        [_("<b>Review your answers</b>"),
         _("Tap a number to see that answer, change who may see it, or change the answer itself.")],
        item=line, button=lambda number, key: ButtonSpec(str(number), "item", key.encode()), page_action="page",
        last_row=[ButtonSpec(_("Submit my answers"), "submit")],
    )


def review_item(conversation: CaucusConversation, key: ItemKey, *, full: bool = False) -> Reply:
    """One item in detail: its answer, who may see it (changeable), and a way to change the answer."""
    keys = conversation.items()
    number = keys.index(key) + 1
    answered = conversation.answers.has(key)
    level = conversation.answers.share_level(key)
    lines: list[Text | str] = [
        Layout("{number}. <b>{name}</b>", params={"number": number, "name": item_name(key, conversation.issues)}),
        "",
        _short(conversation, key, full=full),
    ]
    rows: list[list[ButtonSpec]] = []
    if answered:
        lines += ["", _("Who may see it: {level}", level=LEVEL_NAMES[level])]
        if key.kind in FIXED_SHARE:
            lines += [_LEVEL_MEANING[level], _("A range is always private.")]
        else:
            lines += ["", _("To change it, tap one of these:"), *_level_meanings(list(ShareLevel))]
            rows.append([
                ButtonSpec(Layout("✓ {name}", params={"name": LEVEL_ICONS[option]}) if option is level
                           else LEVEL_ICONS[option], "share", f"{key.encode()}:{option.value}")
                for option in ShareLevel
            ])
        if not full:
            rows.append([ButtonSpec(_("Show the full answer"), "full", key.encode())])
    rows.append([ButtonSpec(_("Change this answer") if answered else _("Answer this question"), "edit", key.encode())])
    rows.append([ButtonSpec(_("Back to all answers"), "page", str((number - 1) // REVIEW_PAGE_ITEMS))])
    return Reply.of(*lines, buttons=rows)


def _confirm(conversation: CaucusConversation) -> Reply:
    missing = sum(not conversation.answers.has(key) for key in conversation.items()
                  if key.kind not in ITEM_OPTIONAL)
    lines: list[Text | str] = [
        _("Submit your answers now? After this they cannot be changed in this round, "
          "and the mediator will see only what you allowed."),
    ]
    if missing:
        lines.append(ngettext("Note: {count} question is not answered yet.",
                              "Note: {count} questions are not answered yet.", missing))
    return Reply.of(*lines, buttons=[[ButtonSpec(_("Yes, submit"), "confirm_submit"),
                                      ButtonSpec(_("Back to review"), "back")]])


# Steps whose prompt depends only on the conversation.
_STEP_VIEWS: Mapping[CaucusStep, Callable[[CaucusConversation], Reply]] = {
    **dict.fromkeys((CaucusStep.RANGE_LOW, CaucusStep.RANGE_HIGH, CaucusStep.RANGE_HOPE), _range_step),
    CaucusStep.RATING: _rating_step,
    CaucusStep.SUGGEST_OPTION: _suggestion_step,
    CaucusStep.RANKING: ranking_view,
    CaucusStep.POINTS: points_view,
    **dict.fromkeys(_OPTIONAL_QUESTIONS, _optional_step),
    CaucusStep.REVIEW: review_page,
    CaucusStep.CONFIRM: _confirm,
}


# After submission: making answers more private (names and share levels only, never the answers) ------
def restrict_page(conversation: CaucusConversation, page: int = 0, *, receipt: Text | None = None) -> Reply:
    """Every answered item with who may see it; the numbered ones can still be made more private."""
    answers = conversation.answers

    def line(number: int, key: ItemKey) -> Text:
        return Layout("{number}. {icon} {name}", params={
            "number": number, "icon": LEVEL_ICONS[answers.share_level(key)],
            "name": item_name(key, conversation.issues)})

    def button(number: int, key: ItemKey) -> ButtonSpec | None:
        private = answers.share_level(key) is ShareLevel.PRIVATE
        return None if private else ButtonSpec(str(number), "restrict_item", key.encode())

    heading: list[Text | str] = [receipt, ""] if receipt is not None else []
    heading += [_("<b>Who may see your answers</b>"),
                _("Until the joint session you can make an answer more private. Tap its number.")]
    return _item_pages(answers.answered(conversation.issues, conversation.mode), page, heading, item=line,
                       button=button, page_action="restrict_page", last_row=[ButtonSpec(_("Done"), "restrict_done")])


def restrict_item(conversation: CaucusConversation, key: ItemKey) -> Reply:
    """One submitted item: its name, who may see it, and the more private levels it can move to."""
    keys = conversation.answers.answered(conversation.issues, conversation.mode)
    level = conversation.answers.share_level(key)
    lines: list[Text | str] = [
        Layout("{number}. <b>{name}</b>", params={"number": keys.index(key) + 1,
                                                "name": item_name(key, conversation.issues)}),
        "",
        _("Who may see it: {level}", level=LEVEL_NAMES[level]), _LEVEL_MEANING[level],
    ]
    tighter = [option for option in ShareLevel if option.protects_more_than(level)]
    lines += ["", _("To change it, tap one of these:"), *_level_meanings(tighter)]
    rows = [[ButtonSpec(LEVEL_NAMES[option], "restrict", f"{key.encode()}:{option.value}")] for option in tighter]
    rows.append([ButtonSpec(_("Back"), "restrict_page", str(keys.index(key) // REVIEW_PAGE_ITEMS))])
    return Reply.of(*lines, buttons=rows)


def caucus_step(conversation: CaucusConversation, *, party_label: str, suggested_language: str,
                can_restrict: bool = False) -> Reply:
    """The prompt for the step the party is at; ``can_restrict`` while share levels may still be lowered."""
    step = conversation.step
    issue = conversation.current_issue
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
        return _text_step(conversation, _("What is your <b>position</b> on this issue: what are you asking for? "
                                          "Type your answer in your own words."),
                          conversation.answers.positions.get(issue.id))
    if step is CaucusStep.INTEREST_CATEGORIES:
        return Reply.of(_issue_heading(conversation), "",
                        _("<b>Why</b> does this matter to you? Choose one or more kinds of interest, "
                          "then tap Done."),
                        buttons=category_keyboard(conversation))
    if step is CaucusStep.INTEREST_WORDS:
        interests = conversation.answers.interests.get(issue.id)
        return _text_step(conversation, _("In your own words: what do you need on this issue, and why? "
                                          "What worries you, what would make things better?"),
                          interests.words if interests else None)
    if step in _STEP_VIEWS:
        return _STEP_VIEWS[step](conversation)
    if step is CaucusStep.WAITING:
        return Reply.of(ROUND_CLOSED)
    if step is CaucusStep.WITHDRAWN:
        return Reply.of(_("You have withdrawn from this case, and your answers were erased."))
    submitted = _("Thank you: your answers are submitted. The mediator will see only what you allowed. "
                  "You will hear from the mediator about the next steps.")
    if can_restrict and any(conversation.answers.share_level(key) is not ShareLevel.PRIVATE
                            for key in conversation.answers.answered(conversation.issues, conversation.mode)):
        return Reply.of(submitted, _("Until the joint session you can still make any answer more private."),
                        buttons=[[ButtonSpec(_("🔒 Make an answer more private"), "restrict_page", "0")]])
    return Reply.of(submitted)


def history_view(events: list[AuditRecord], issues: list[Issue], zone: str) -> Reply:
    """/history: what happened to a party's answers, from the audit trail (never the answers themselves)."""
    lines: list[Text | str] = [_("<b>What happened to your answers</b>")]
    for event in events:
        line = _history_line(event, issues)
        if line is not None:
            lines.append(Layout("• {when}: {what}", params={"when": Moment(event.at, zone), "what": line}))
    if len(lines) == 1:
        lines.append(_("Nothing yet."))
    lines.append(_("Only events are recorded here, never what you answered."))
    return Reply.of(*lines)


def _history_line(event: AuditRecord, issues: list[Issue]) -> Text | None:
    detail = event.detail
    if event.kind == "party_joined":
        return _("you joined the case.")
    if event.kind == "consent_given":
        return _("you agreed to take part.")
    if event.kind == "answers_submitted":
        return _("you sent your answers for round {round}.", round=detail.get("round", 1))
    if event.kind == "share_level_changed":
        key = ItemKey(ItemKind(detail["item"]), detail.get("issue", ""))
        who = _("you") if event.actor == "party" else _("the mediator")
        return _("{who} changed who may see “{item}”: {before} → {after}.", who=who, item=item_name(key, issues),
                 before=LEVEL_NAMES[ShareLevel(detail["before"])], after=LEVEL_NAMES[ShareLevel(detail["after"])])
    if event.kind == "items_disclosed":
        items = join_texts(item_name(ItemKey.decode(item), issues) for item in detail.get("items", []))
        if detail.get("to") == "joint":
            return _("every party received the joint summary, with: {items}.", items=items)
        return _("the mediator received a summary, with: {items}.", items=items)
    return None
