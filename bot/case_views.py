"""How a case looks to its mediators: the case list, the case menu, issues and options, invitations.

Pure functions of domain data; handlers in `bot.mediator` decide which one to show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.agreement_views import commitment_line
from bot.formats import Amount, Moment
from bot.i18n import Layout, Markup, Text, _, ngettext, user_text
from bot.replies import ButtonSpec, Reply
from bot.views import STAGE_NAMES, STEP_NAMES, case_heading, shorten, submitted_line
from flows.agreement import Commitment
from flows.case import MAX_OPTIONS, EditRights
from flows.machines import CaseStage, CaucusStep
from flows.model import CaseInfo, Issue, Option, PriorityMode, SeatStatus
from flows.setup import MAX_ISSUES, MIN_ISSUES

__all__ = [
    "NEXT_DEADLINE_PROMPT",
    "PROMPTS",
    "case_list",
    "case_menu",
    "confirm",
    "invitations_view",
    "issue_view",
    "issues_view",
    "option_view",
]

MODE_NAMES: Mapping[PriorityMode, Text] = {
    PriorityMode.RANKING: _("ranking the issues"),
    PriorityMode.POINTS: _("spreading 100 points"),
}

SWITCH_MODE: Mapping[PriorityMode, Text] = {
    PriorityMode.RANKING: _("⚖️ Switch to ranking"),
    PriorityMode.POINTS: _("⚖️ Switch to 100 points"),
}

# What the mediator is asked to type for each pending edit.
PROMPTS: Mapping[str, Text] = {
    "rename_issue": _("Send the new wording of this issue."),
    "add_issue": _("Send the new issue, as the parties will see it."),
    "add_option": _("Send the option, as the parties will see it (one option per message)."),
    "edit_option": _("Send the new wording of this option."),
    "scale": _("Send three lines: the unit (for example USD, km, families), the lowest value and the "
               "highest value that make sense. Parties give their range within them."),
    "deadline": _("Send the deadline of this round as a date, for example {example}. "
                  "It ends at 23:59 in the case's time zone."),
    "timezone": _("Send the case's time zone, for example Africa/Nairobi, Europe/Kyiv or UTC. "
                  "Deadlines, reminders and times shown use it."),
}


NEXT_DEADLINE_PROMPT = _("Send the deadline of the next round as a date, for example {example}. "
                         "It ends at 23:59 in the case's time zone, and applies once you start that round.")


def _deadline_line(info: CaseInfo, stage: CaseStage, zone: str) -> Text:
    if info.deadline is None:
        return _("Deadline: none")
    if stage is CaseStage.JOINT:  # between rounds: a deadline set now is for the next round
        return _("Deadline of the next round: {when}", when=Moment(info.deadline, zone))
    return _("Deadline: {when}", when=Moment(info.deadline, zone))


def case_list(cases: list[CaseInfo]) -> Reply:
    if not cases:
        return Reply.of(_("You have no case yet. /newcase opens one."))
    lines: list[Text | str] = [_("<b>Your cases</b>: tap one to open it.")]
    lines.extend(
        _("• {case}: {title} ({stage})", case=info.short_id, title=user_text(info.title),
          stage=STAGE_NAMES[CaseStage(info.stage)])
        for info in cases
    )
    rows = [[ButtonSpec(Markup(f"{info.short_id} · {user_text(shorten(info.title, 28))}"), "open_case", info.id)]
            for info in cases[:40]]
    return Reply.of(*lines, buttons=rows)


# Stages whose case menu leads to the agreements (drafted after a joint session, kept through later rounds).
AGREEMENT_STAGES = frozenset({CaseStage.CAUCUS, CaseStage.JOINT, CaseStage.AGREEMENT, CaseStage.MONITORING,
                              CaseStage.CLOSED})

CLOSABLE = frozenset({CaseStage.INVITING, CaseStage.CAUCUS, CaseStage.JOINT, CaseStage.AGREEMENT,
                      CaseStage.MONITORING})


def case_menu(info: CaseInfo, seats: list[SeatStatus], mediators: int, *, zone: str | None = None,
              commitments: Sequence[Commitment] = ()) -> Reply:
    """The case menu; times in ``zone``, the reader's own time zone (the case's when the reader chose none)."""
    """The case's menu: where it stands, and every tool the mediator has."""
    stage = CaseStage(info.stage)
    lines = [
        *case_heading(info),
        submitted_line(seats),
        _("Priorities: {mode}. Time zone: {zone}.", mode=MODE_NAMES[info.priority_mode], zone=info.timezone),
        _deadline_line(info, stage, zone or info.timezone),
        ngettext("{count} mediator on this case.", "{count} mediators on this case.", mediators),
    ]
    if commitments:
        labels = {seat.seat_id: seat.label for seat in seats}
        lines += ["", _("<b>Commitments</b>")]
        lines += [commitment_line(commitment, labels, zone or info.timezone) for commitment in commitments]
    if stage is CaseStage.DRAFT_DETAILS:
        lines += ["", _("Before inviting the parties you can add options to the issues, make issues numeric, "
                        "choose how parties give priorities and set the time zone. "
                        "Then tap \u201cCreate the invitations\u201d.")]
    other_mode = PriorityMode.POINTS if info.priority_mode is PriorityMode.RANKING else PriorityMode.RANKING
    mode_row = [ButtonSpec(SWITCH_MODE[other_mode], "mode", other_mode.value)] if stage in {
        CaseStage.DRAFT_DETAILS, CaseStage.INVITING, CaseStage.CAUCUS} else []
    rows = [
        [ButtonSpec(_("📊 Status"), "status"), ButtonSpec(_("📝 Summary"), "summary")],
        [ButtonSpec(_("🧩 Issues and options"), "issues"), *mode_row],
        [ButtonSpec(_("✉️ Invitations"), "invites"), ButtonSpec(_("⏰ Deadline"), "deadline")],
        [ButtonSpec(_("🌐 Time zone"), "timezone"), ButtonSpec(_("👥 Add a co-mediator"), "comediator")],
    ]
    if stage is CaseStage.DRAFT_DETAILS:
        rows.append([ButtonSpec(_("✅ Create the invitations"), "open_invitations")])
    elif stage is CaseStage.CAUCUS:
        rows.append([ButtonSpec(_("⏹ Close this round"), "close_round")])
    elif stage is CaseStage.JOINT:
        rows.append([ButtonSpec(_("📣 Joint summary for the parties"), "joint")])
    if stage in {CaseStage.JOINT, CaseStage.AGREEMENT, CaseStage.MONITORING}:
        rows.append([ButtonSpec(_("🔁 Start round {round}", round=info.round + 1), "new_round")])
    if stage in AGREEMENT_STAGES:
        rows.append([ButtonSpec(_("📜 Agreements and commitments"), "agreements")])
    erase_label = (_("🧹 Delete answers from chats: on") if info.erase_messages
                   else _("🧹 Delete answers from chats: off"))
    rows.append([ButtonSpec(erase_label, "erase_msgs", "off" if info.erase_messages else "on")])
    closing = [ButtonSpec(_("🔒 Close the case"), "close_case")] if stage in CLOSABLE else []
    rows.append([*closing, ButtonSpec(_("🗑 Erase the case"), "erase_case")])
    return Reply.of(*lines, buttons=rows)


def _issue_kind(issue: Issue) -> Text:
    if issue.scale is None:
        return _("text answers")
    return _("numbers in {unit}, from {low} to {high}", unit=user_text(issue.scale.unit),
             low=Amount(issue.scale.low, issue.scale.unit), high=Amount(issue.scale.high, issue.scale.unit))


def _rights_note(rights: EditRights) -> list[Text | str]:
    if not rights.editable:
        return ["", _("Parties have already submitted in this round: issues and options can change "
                      "only between rounds.")]
    if rights.restarts:
        return ["", _("Parties have started answering. Rewording an issue or adding an option changes nothing "
                      "for them; any other change sends them through their answers again, each one kept "
                      "unless it no longer fits.")]
    return []


def issues_view(issues: list[Issue], rights: EditRights) -> Reply:
    lines: list[Text | str] = [_("<b>Issues and options</b>: tap an issue to change it or its options.")]
    for number, issue in enumerate(issues, start=1):
        lines.append(Layout("{number}. <b>{issue}</b>: {kind}; {options}", params={
            "number": number, "issue": user_text(issue.title), "kind": _issue_kind(issue),
            "options": ngettext("{count} option", "{count} options", len(issue.options)),
        }))
    lines += _rights_note(rights)
    numbers = [ButtonSpec(str(number), "issue", issue.id) for number, issue in enumerate(issues, start=1)]
    rows = [numbers[index:index + 6] for index in range(0, len(numbers), 6)]
    if rights.editable and len(issues) < MAX_ISSUES:
        rows.append([ButtonSpec(_("➕ Add an issue"), "add_issue")])
    rows.append([ButtonSpec(_("⬅️ Back to the case"), "menu")])
    return Reply.of(*lines, buttons=rows)


def issue_view(issue: Issue, issue_count: int, rights: EditRights) -> Reply:
    lines: list[Text | str] = [
        Layout("<b>{issue}</b>", params={"issue": user_text(issue.title)}),
        _("Answers: {kind}", kind=_issue_kind(issue)),
        "",
        ngettext("{count} option:", "{count} options:", len(issue.options)),
    ]
    lines.extend(Layout("{number}. {option}", params={"number": number, "option": user_text(option.text)})
                 for number, option in enumerate(issue.options, start=1))
    lines += _rights_note(rights)
    rows: list[list[ButtonSpec]] = []
    if rights.editable:
        rows.append([ButtonSpec(_("✏️ Reword"), "rename_issue", issue.id)])
        options = [ButtonSpec(_("Option {number}", number=number), "option", option.id)
                   for number, option in enumerate(issue.options, start=1)]
        rows += [options[index:index + 4] for index in range(0, len(options), 4)]
        if len(issue.options) < MAX_OPTIONS:
            rows.append([ButtonSpec(_("➕ Add an option"), "add_option", issue.id)])
        rows.append([ButtonSpec(_("🔢 Answers in numbers"), "numeric", issue.id) if issue.scale is None
                     else ButtonSpec(_("🔤 Answers in words only"), "textual", issue.id)])
        if issue_count > MIN_ISSUES:
            rows.append([ButtonSpec(_("🗑 Remove this issue"), "remove_issue", issue.id)])
    rows.append([ButtonSpec(_("⬅️ Back to the issues"), "issues")])
    return Reply.of(*lines, buttons=rows)


def option_view(issue: Issue, option: Option) -> Reply:
    return Reply.of(
        Layout("<b>{issue}</b>", params={"issue": user_text(issue.title)}),
        _("Option: {option}", option=user_text(option.text)),
        buttons=[[ButtonSpec(_("✏️ Reword"), "edit_option", option.id),
                  ButtonSpec(_("🗑 Remove"), "remove_option", option.id)],
                 [ButtonSpec(_("⬅️ Back to the issue"), "issue", issue.id)]],
    )


def invitations_view(seats: list[SeatStatus], codes: Mapping[str, str | None]) -> Reply:
    lines: list[Text | str] = [_("<b>Invitations</b>")]
    rows: list[list[ButtonSpec]] = []
    for seat in seats:
        label = user_text(seat.label)
        if seat.withdrawn:
            lines.append(_("• {party}: withdrew", party=label))
            rows.append([ButtonSpec(_("🔗 New link for {party}", party=label), "new_link", seat.seat_id)])
        elif seat.joined:
            lines.append(_("• {party}: joined, code {code} ({step})", party=label, code=codes.get(seat.seat_id) or "-",
                           step=STEP_NAMES[CaucusStep(seat.step)]))
            rows.append([ButtonSpec(_("⛔ Remove the person who joined as {party}", party=label), "reject",
                                    seat.seat_id)])
        else:
            lines.append(_("• {party}: not joined yet", party=label))
            rows.append([ButtonSpec(_("🔗 New link for {party}", party=label), "new_link", seat.seat_id)])
    lines += ["", _("A new link replaces the old one, which stops working. Removing the person who joined frees "
                    "the seat, erases what they answered, and gives you a new link.")]
    rows.append([ButtonSpec(_("⬅️ Back to the case"), "menu")])
    return Reply.of(*lines, buttons=rows)


def confirm(question: Text, action: str, argument: str = "", *, back: str = "menu") -> Reply:
    return Reply.of(question, buttons=[[ButtonSpec(_("Yes"), action, argument), ButtonSpec(_("Cancel"), back)]])
