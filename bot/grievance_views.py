"""How grievance screens look: the filing steps, the receipt, /track, and the triage team's screens.

Pure functions of domain data. What the person typed is always isolated and, on the triage
side, shown with the language it was written in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from bot.formats import Day, Moment, Number
from bot.i18n import LANGUAGES, Layout, Localized, Markup, Text, _, ngettext, user_text
from bot.replies import ButtonSpec, Reply
from bot.summary_views import LanguageName, quote
from bot.views import Pager, answer_so_far, language_buttons, preview, shorten
from flows.grievance import (
    MAX_DESCRIPTION_CHARS,
    OPEN_STATUSES,
    STATUS_ACTIONS,
    Grievance,
    GrievanceContent,
    GrievanceConversation,
    GrievanceCounts,
    Urgency,
)
from flows.machines import GRIEVANCE_STATUS_MACHINE, GrievanceStatus, GrievanceStep

__all__ = [
    "GRIEVANCE_CATEGORY_NAMES",
    "STATUS_NAMES",
    "URGENCY_NAMES",
    "agenda_cases",
    "agenda_title_prompt",
    "alert",
    "category_name",
    "grievance_detail",
    "grievance_step",
    "groups_view",
    "own_grievances",
    "receipt",
    "safety_referral",
    "status_notice",
    "status_prompt",
    "track_view",
    "triage_list",
]

GRIEVANCE_CATEGORY_NAMES: Mapping[str, Text] = {
    "land": _("Land"),
    "water": _("Water"),
    "security": _("Security incident"),
    "displacement": _("Displacement"),
    "services": _("Public services"),
    "discrimination": _("Discrimination"),
    "corruption": _("Corruption"),
    "other": _("Other"),
}

URGENCY_NAMES: Mapping[Urgency, Text] = {
    Urgency.DANGER: _("🚨 Someone is in danger now"),
    Urgency.URGENT: _("⏱ Urgent: harm is likely within days"),
    Urgency.ROUTINE: _("📌 Important, not urgent"),
}

STATUS_NAMES: Mapping[GrievanceStatus, Text] = {
    GrievanceStatus.RECEIVED: _("received"),
    GrievanceStatus.UNDER_REVIEW: _("under review"),
    GrievanceStatus.REFERRED: _("referred"),
    GrievanceStatus.ADDRESSED: _("addressed"),
    GrievanceStatus.CLOSED: _("closed"),
}

# What the person is told when their grievance moves to a status (in their language).
_NOTICES: Mapping[GrievanceStatus, Text] = {
    GrievanceStatus.RECEIVED: _("It has been received."),
    GrievanceStatus.UNDER_REVIEW: _("The team is now looking into it."),
    GrievanceStatus.REFERRED: _("The team has passed it on to people who can act on it."),
    GrievanceStatus.ADDRESSED: _("The team considers that it has been addressed."),
    GrievanceStatus.CLOSED: _("It is now closed. Thank you for reporting it."),
}

_ACTION_BUTTONS: Mapping[str, Text] = {
    "review": _("🔎 Under review"),
    "refer": _("↗️ Refer it"),
    "address": _("✅ Addressed"),
    "close": _("🔒 Close it"),
}

_URGENCY_ICONS = {Urgency.DANGER: "🚨", Urgency.URGENT: "⏱", Urgency.ROUTINE: "📌"}
TRIAGE_PAGE_ITEMS = 10
_NUMBERS_PER_ROW = 5
_ITEMS = ("identity", "category", "region", "description", "groups", "urgency", "remedy")


def category_name(category: str | None) -> Text | Markup:
    """A built-in category in the reader's language; one the deployment added, as it was written."""
    if category is None:
        return Markup("—")
    return GRIEVANCE_CATEGORY_NAMES.get(category) or user_text(category)


# Filing ---------------------------------------------------------------------------------------------
def grievance_step(conversation: GrievanceConversation, *, suggested_language: str, alerted: bool) -> Reply:
    """The prompt of the step the person is at."""
    step, content = conversation.step, conversation.content
    if step is GrievanceStep.LANGUAGE:
        codes = [suggested_language, *(code for code in LANGUAGES if code != suggested_language)]
        return Reply.of(_("<b>Report a grievance</b>"), _("Choose your language."),
                        buttons=language_buttons(codes, "lang"))
    if step is GrievanceStep.IDENTITY:
        return Reply.of(
            _("<b>Report a grievance</b>"),
            _("You can report anonymously: the team will not know who you are, and can still answer you here "
              "through the bot."),
            _("Or give your name, or your organisation's, if you want the team to know who is reporting."),
            _("What you write is stored encrypted and read only by the team that handles grievances."),
            buttons=[[ButtonSpec(_("🕶 Anonymously"), "anonymous")], [ButtonSpec(_("🪪 With my name"), "named")]],
        )
    if step is GrievanceStep.NAME:
        return Reply.of(_("Please type your name, or your organisation's name. Only the team handling grievances "
                          "sees it."), *_current(content.name))
    if step is GrievanceStep.CATEGORY:
        buttons = [ButtonSpec(category_name(category), "category", category) for category in conversation.categories]
        return Reply.of(_("What is it about?"), buttons=[buttons[i:i + 2] for i in range(0, len(buttons), 2)])
    if step is GrievanceStep.REGION:
        return _region_step(conversation)
    if step is GrievanceStep.DESCRIPTION:
        return _description_step(content)
    if step is GrievanceStep.GROUPS:
        return Reply.of(_("Who is affected? For example: the families of a village, women traders, a community."),
                        *_current(content.groups), buttons=[[ButtonSpec(_("Skip"), "skip")]])
    if step is GrievanceStep.URGENCY:
        return Reply.of(_("How urgent is it?"), buttons=[[ButtonSpec(name, "urgency", urgency.value)]
                                                         for urgency, name in URGENCY_NAMES.items()])
    if step is GrievanceStep.REMEDY:
        return Reply.of(_("What would you like to happen? Type it in your own words."),
                        *_current(content.remedy), buttons=[[ButtonSpec(_("Skip"), "skip")]])
    if step is GrievanceStep.REVIEW:
        return _review(content, alerted=alerted)
    return Reply.of(_("Your report has been sent. Send /track to follow it."))


def _current(answer: str | None) -> list[Text]:
    return [] if answer is None else [answer_so_far(answer)]


def _region_step(conversation: GrievanceConversation) -> Reply:
    current = _current(conversation.content.region)
    if not conversation.regions:
        return Reply.of(_("Where did it happen? Type the place: a village, a district or a region."), *current)
    buttons = [ButtonSpec(Markup(user_text(region)), "region", str(index))
               for index, region in enumerate(conversation.regions)]
    return Reply.of(_("Where did it happen? Choose the area, or type the place if it is not listed."), *current,
                    buttons=[buttons[i:i + 2] for i in range(0, len(buttons), 2)])


def _description_step(content: GrievanceContent) -> Reply:
    lines: list[Text | str] = [
        _("Describe what happened, in your own words and your own language: what, when, who was involved. "
          "You can send several messages; tap Done when you have finished."),
        _("Please do not write names of people who could be put at risk."),
    ]
    if not content.description:
        return Reply.of(*lines)
    lines.append(_("So far: {count} of at most {limit} characters.", count=Number(len(content.description)),
                   limit=Number(MAX_DESCRIPTION_CHARS)))
    return Reply.of(*lines, buttons=[[ButtonSpec(_("Done"), "description_done")],
                                     [ButtonSpec(_("Start the description again"), "description_clear")]])


def _review(content: GrievanceContent, *, alerted: bool) -> Reply:
    identity = _("anonymous") if content.anonymous else preview(content.name or "")
    values: list[Text | Markup] = [
        identity,
        category_name(content.category),
        user_text(content.region or "—"),
        preview(content.description),
        preview(content.groups) if content.groups else Markup("—"),
        URGENCY_NAMES[content.urgency] if content.urgency else Markup("—"),
        preview(content.remedy) if content.remedy else Markup("—"),
    ]
    names = (_("Who reports"), _("About"), _("Place"), _("What happened"), _("Who is affected"), _("Urgency"),
             _("Wished outcome"))
    lines: list[Text | str] = [_("<b>Your report, before you send it</b>"), ""]
    lines += [Layout("{number}. {name}: {value}", params={"number": number, "name": name, "value": value})
              for number, (name, value) in enumerate(zip(names, values, strict=True), start=1)]
    lines += ["", _("Tap a number to change that answer.")]
    numbers = [ButtonSpec(str(number), "edit", item) for number, item in enumerate(_ITEMS, start=1)]
    rows = [numbers[:4], numbers[4:], [ButtonSpec(_("✅ Send the report"), "submit")]]
    if not alerted:  # once the team was alerted to a danger, the report stays with them
        rows.append([ButtonSpec(_("🗑 Discard it"), "discard")])
    return Reply.of(*lines, buttons=rows)


def receipt(reference: str) -> Reply:
    """The receipt: the reference and how to follow it, nothing of what was reported."""
    return Reply.of(
        _("Your report has been received. Its reference is <code>{reference}</code>.", reference=reference),
        _("Keep this reference: send /track {reference} at any time to see its status and any answer from the team.",
          reference=reference),
        _("If it is safer for you, you can delete this chat: your report stays with the team, and /track still "
          "works from this account."),
    )


def safety_referral(referral: Mapping[str, str], language: str) -> Reply:
    """What to do at once when someone is in danger: the deployment's text, or a general one."""
    configured = referral.get(language) or referral.get("")
    advice: Text | Markup = user_text(configured) if configured else _(
        "If you can, move to a safe place, and contact local emergency services or someone you trust nearby.")
    return Reply.of(
        _("🚨 <b>If someone is in danger now</b>"), advice,
        _("The team handling grievances has been alerted now. Please go on with your report: the more they know, "
          "the better they can help."),
    )


def track_view(grievance: Grievance, timezone: str = "UTC") -> Reply:
    """What /track shows the person who filed a grievance: its status and the team's messages to them."""
    lines: list[Text | str] = [
        _("<b>Report {reference}</b>", reference=grievance.reference),
        _("Received: {when}", when=Moment(grievance.received_at, timezone)),
        _("Status: {status}", status=STATUS_NAMES[grievance.status]),
    ]
    updates = [update for update in grievance.history if update.kind == "status"]
    if updates:
        lines += ["", _("<b>Updates from the team</b>")]
    for update in updates:
        lines.append(_("{when}: {notice}", when=Moment(update.at, timezone), notice=_NOTICES[update.status]))
        if update.message:
            lines.append(Layout("    «{message}»", params={"message": user_text(update.message)}))
    return Reply.of(*lines)


def own_grievances(grievances: Sequence[tuple[str, GrievanceStatus]]) -> Reply:
    """/track without a reference: the person's own reports, or how to use it."""
    if not grievances:
        return Reply.of(_("Send /track followed by the reference of your report, for example /track {example}.",
                          example="K7QM-4XTP-9HRW"),
                        _("To report a grievance, send /grievance."))
    lines: list[Text | str] = [_("<b>Your reports</b>")]
    lines += [_("<code>{reference}</code>: {status}", reference=reference, status=STATUS_NAMES[status])
              for reference, status in grievances]
    lines.append(_("Send /track followed by a reference to see its updates."))
    return Reply.of(*lines)


def status_notice(reference: str, status: GrievanceStatus, message: str | None) -> Reply:
    """What the person is told, in their language, when the team changes the status."""
    lines: list[Text | str] = [
        _("Update on your report <code>{reference}</code>: {notice}", reference=reference, notice=_NOTICES[status]),
    ]
    if message:
        lines.append(_("Message from the team: «{message}»", message=user_text(message)))
    if status is not GrievanceStatus.CLOSED:
        lines.append(_("Send /track {reference} to see all updates.", reference=reference))
    return Reply.of(*lines)


# Triage ----------------------------------------------------------------------------------------------
def alert(grievance: Grievance) -> Reply:
    """The immediate alert to the triage team: someone says a person is in danger now."""
    content = grievance.content
    return Reply.of(
        _("🚨 <b>Someone is in danger now</b>, says a person reporting a grievance (report <code>{reference}</code>).",
          reference=grievance.reference),
        _("About: {category} · Place: {place}", category=category_name(content.category),
          place=user_text(content.region or "—")),
        _("What happened: {text}", text=quote(content.description, content.description_language)),
        _("They saw the safety advice and are still writing their report. You can answer them now."),
        buttons=[[ButtonSpec(_("Open the report"), "open", grievance.id)]],
    )


def _counts_line(title: Text, counts: Iterable[tuple[Text | Markup | Localized | str, int]]) -> Text:
    parts = [Layout("{name} {count}", params={"name": name, "count": Number(count)}) for name, count in counts]
    joined = Markup(" · ".join("{" + f"p{i}" + "}" for i in range(len(parts))))
    return Layout("{title}: {values}", params={
        "title": title, "values": Layout(joined, params={f"p{i}": part for i, part in enumerate(parts)}) if parts
        else Markup("—")})


def _language_name(code: str) -> LanguageName | str:
    return LanguageName(code) if code else "—"


def _sorted(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def triage_list(grievances: Sequence[Grievance], counts: GrievanceCounts, page: int, *, timezone: str) -> Reply:
    """/grievances: the counts, then the reports, the most urgent and the newest first, ten to a page."""
    open_count = sum(counts.by_status[status] for status in OPEN_STATUSES)
    lines: list[Text | str] = [
        _("<b>Grievances</b>: {total} in all, {open} open", total=Number(counts.total), open=Number(open_count)),
        _counts_line(_("By status"), [(STATUS_NAMES[s], counts.by_status[s]) for s in GrievanceStatus
                                      if counts.by_status[s]]),
        _counts_line(_("By urgency"), [(_URGENCY_ICONS[u], counts.by_urgency[u]) for u in Urgency
                                       if counts.by_urgency[u]]),
        _counts_line(_("By category"), [(category_name(c), n) for c, n in _sorted(counts.by_category)]),
        _counts_line(_("By place"), [(user_text(r) if r else Markup("—"), n) for r, n in _sorted(counts.by_region)]),
        _counts_line(_("By language"), [(_language_name(code), n) for code, n in _sorted(counts.by_language)]),
    ]
    if not grievances:
        return Reply.of(*lines, "", _("No grievance has been reported yet."))
    pager = Pager.of(len(grievances), page, TRIAGE_PAGE_ITEMS)
    lines += ["", *pager.heading()]
    numbers = []
    for number, grievance in enumerate(pager.shown(grievances), start=pager.first + 1):
        lines.append(_list_line(number, grievance, timezone))
        numbers.append(ButtonSpec(str(number), "open", grievance.id))
    rows = [numbers[i:i + _NUMBERS_PER_ROW] for i in range(0, len(numbers), _NUMBERS_PER_ROW)]
    rows += pager.buttons("page")
    rows.append([ButtonSpec(_("🧩 Similar reports"), "groups"), ButtonSpec(_("📤 Export"), "export")])
    return Reply.of(*lines, buttons=rows)


def _list_line(number: int, grievance: Grievance, timezone: str) -> Text:
    return Layout("{number}. {icon} <code>{reference}</code> · {category} · {place} · {status} · {when}", params={
        "number": number, "icon": _URGENCY_ICONS[grievance.urgency], "reference": grievance.reference,
        "category": category_name(grievance.content.category), "place": user_text(grievance.content.region or "—"),
        "status": STATUS_NAMES[grievance.status] if grievance.submitted_at else _("being written"),
        "when": Day(grievance.received_at, timezone)})


Quoting = Callable[[str, str], Text | Markup]  # a person's text and its language, set off for the reader


def report_facts(grievance: Grievance, timezone: str) -> list[Text]:
    """When it came, where it stands, how urgent it is."""
    return [
        _("Received: {when}", when=Moment(grievance.received_at, timezone)),
        _("Status: {status}", status=STATUS_NAMES[grievance.status]),
        _("Urgency: {urgency}", urgency=URGENCY_NAMES[grievance.urgency]),
    ]


def report_origin(grievance: Grievance, name: Callable[[str], Markup]) -> tuple[Text, Text]:
    """Who reported it (or that they are anonymous), and what it is about, where."""
    content = grievance.content
    return (_("Reported by: {who}", who=_("anonymous") if content.anonymous else name(content.name or "")),
            _("About: {category} · Place: {place}", category=category_name(content.category),
              place=name(content.region or "—")))


def report_texts(grievance: Grievance, quoted: Quoting) -> list[Text]:
    """What the person wrote, each text in its own language."""
    content = grievance.content
    lines = [_("What happened: {text}", text=quoted(content.description, content.description_language))]
    if content.groups:
        lines.append(_("Who is affected: {text}", text=quoted(content.groups, content.languages.get("groups", ""))))
    if content.remedy:
        lines.append(_("Wished outcome: {text}", text=quoted(content.remedy, content.languages.get("remedy", ""))))
    return lines


def report_history(grievance: Grievance, timezone: str, quoted: Quoting) -> list[Text]:
    """Each status change (with the team's message to the person) and each case that took the report up."""
    lines: list[Text] = []
    for update in grievance.history:
        when = Moment(update.at, timezone)
        if update.kind == "agenda":
            lines.append(_("{when}: put on the agenda of case {case}", when=when, case=update.message or ""))
            continue
        lines.append(_("{when}: {status}", when=when, status=STATUS_NAMES[update.status]))
        if update.message:
            lines.append(Layout("    {message}", params={"message": quoted(update.message, "")}))
    return lines


def grievance_detail(grievance: Grievance, *, timezone: str, reachable: bool) -> Reply:
    """One report in full, for the triage team, with what can be done next."""
    lines: list[Text | str] = [_("<b>Report {reference}</b>", reference=grievance.reference),
                               *report_facts(grievance, timezone)]
    if grievance.submitted_at is None:
        lines.append(_("⚠️ The person is still writing this report; it may change."))
    reported_by, about = report_origin(grievance, user_text)
    lines += [reported_by, _("Conversation language: {language}", language=_language_name(grievance.language)),
              about, "", *report_texts(grievance, quote)]
    if grievance.history:
        lines += ["", _("<b>History</b>"), *report_history(grievance, timezone, quote)]
    if not reachable:
        lines += ["", _("The person can no longer be written to here; they can still see the status with /track.")]
    actions = [ButtonSpec(label, "status", action) for action, label in _ACTION_BUTTONS.items()
               if grievance.status in GRIEVANCE_STATUS_MACHINE.sources(action)]
    rows = [actions[i:i + 2] for i in range(0, len(actions), 2)]
    rows.append([ButtonSpec(_("⬅️ Back to the list"), "page", "0")])
    return Reply.of(*lines, buttons=rows)


def status_prompt(grievance: Grievance, action: str, *, reachable: bool) -> Reply:
    """Before a status change: what the person will be told, and room for a message of the team's own."""
    status = STATUS_ACTIONS[action]
    lines: list[Text | str] = [
        _("New status for <code>{reference}</code>: {status}.", reference=grievance.reference,
          status=STATUS_NAMES[status]),
    ]
    if reachable:
        lines += [
            _("The person will get this notice in their language: «{notice}»", notice=_NOTICES[status]),
            _("Type a message to add to it, or tap \u201cWithout a message\u201d.") if action != "refer" else
            _("Type a message to add to it: to whom it is referred and what happens next. "
              "Or tap \u201cWithout a message\u201d."),
        ]
        if status is GrievanceStatus.CLOSED and grievance.content.anonymous:
            lines.append(_("Closing an anonymous report erases the way to reach the person: this will be the last "
                           "message they get here."))
    else:
        lines.append(_("The person can no longer be written to here; they can still see the status with /track."))
    return Reply.of(*lines, buttons=[[ButtonSpec(_("Without a message"), "confirm", action)],
                                     [ButtonSpec(_("Cancel"), "open", grievance.id)]])


def groups_view(groups: Sequence[Sequence[Grievance]], *, across_languages: bool) -> Reply:
    """Open reports of the same category that say similar things, each group ready to go on a case's agenda."""
    if not groups:
        return Reply.of(_("No similar open reports were found."),
                        buttons=[[ButtonSpec(_("⬅️ Back to the list"), "page", "0")]])
    lines: list[Text | str] = [
        _("<b>Similar reports</b>: open reports of the same category whose descriptions say similar things.")
        if across_languages else
        _("<b>Similar reports</b>: open reports of the same category whose descriptions share words "
          "(reports in different languages are matched only by the optional matching model)."),
    ]
    buttons = []
    for number, group in enumerate(groups, start=1):
        places = sorted({g.content.region or "—" for g in group})
        languages = sorted({g.content.description_language or g.language for g in group})
        lines += ["", ngettext("<b>Group {number}</b>: {count} report · {category}",
                               "<b>Group {number}</b>: {count} reports · {category}", len(group), number=number,
                               category=category_name(group[0].content.category))]
        lines.append(_("Places: {places}", places=Markup(", ".join(user_text(p) for p in places))))
        lines.append(_("Languages: {languages}", languages=Layout(
            ", ".join("{" + f"l{i}" + "}" for i in range(len(languages))),
            params={f"l{i}": _language_name(code) for i, code in enumerate(languages)})))
        lines.append(Markup(" ".join(f"<code>{g.reference}</code>" for g in group)))
        lines.append(Layout("«{text}»", params={"text": user_text(shorten(group[0].content.description, 120))}))
        buttons.append(ButtonSpec(_("➕ Group {number} to a case's agenda", number=number), "agenda", str(number)))
    rows = [[button] for button in buttons]
    rows.append([ButtonSpec(_("⬅️ Back to the list"), "page", "0")])
    return Reply.of(*lines, buttons=rows)


def agenda_cases(cases: Sequence[tuple[str, str, str]], group_number: int) -> Reply:
    """Which of the officer's cases gets the group as an issue (case id, short id, title)."""
    if not cases:
        return Reply.of(_("You are not a mediator of any case, so you cannot add an issue to one. "
                          "A mediator of the case can do it."),
                        buttons=[[ButtonSpec(_("⬅️ Back to the list"), "page", "0")]])
    return Reply.of(
        _("To which case's agenda should group {number} be added, as a new issue?", number=group_number),
        buttons=[*([ButtonSpec(Layout("{case}: {title}", params={"case": short_id, "title": user_text(title)}),
                               "agenda_case", case_id)] for case_id, short_id, title in cases),
                 [ButtonSpec(_("Cancel"), "groups")]],
    )


def agenda_title_prompt(short_id: str, suggestion: str) -> Reply:
    return Reply.of(
        _("Send the title of the new issue of case {case}, as the parties will see it.", case=short_id),
        buttons=[[ButtonSpec(Layout("«{title}»", params={"title": user_text(suggestion)}), "agenda_title")],
                 [ButtonSpec(_("Cancel"), "groups")]],
    )
