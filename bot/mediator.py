"""The mediator side: setting up a case, the case menu and its tools, progress and the summary."""

from __future__ import annotations

from bot import agreements, case_views, views
from bot.caucus_views import ROUND_CLOSED
from bot.commitments import followed_commitments
from bot.i18n import Text, _, ngettext, user_text
from bot.party import notify_mediators
from bot.replies import ButtonSpec, Reply
from bot.summaries import case_analysis, implementation, record_disclosure, report_files
from bot.summary_views import joint_summary, summary_message
from bot.turn import Courier, Scope, Turn, join_scope
from flows import case as case_rules
from flows.analysis import Audience
from flows.case import EditRights
from flows.errors import InvalidInput, StepMismatch
from flows.machines import ANSWERING_STEPS, CaseStage, CaucusStep
from flows.model import CaseInfo, Issue, Option, PriorityMode, Scale
from flows.setup import MAX_ISSUES, MIN_ISSUES
from flows.text import MAX_TITLE_CHARS, clean_line

__all__ = [
    "add_issue_from_triage",
    "case_button",
    "case_text",
    "draft_button",
    "draft_text",
    "join_as_comediator",
    "join_button",
    "list_cases",
    "new_case",
    "open_case",
    "reject_join",
    "show_draft",
    "show_menu",
    "show_status",
    "show_summary",
    "suggestion_button",
]

REMOVE_QUESTION = _("Remove the person who joined as {party}? They lose access, what they answered is erased, "
                    "and you get a new link for {party}.")
_NOT_MEDIATOR = _("This command is for mediators. If you were invited as a party, "
                  "please open the link your mediator gave you.")

# Case-menu buttons that ask the mediator to type something next.
_ASKS_TEXT = frozenset({"rename_issue", "add_issue", "add_option", "edit_option", "numeric", "deadline", "timezone"})
# Case-menu actions that change issues or options (allowed while nobody has submitted the round).
_EDITS = frozenset({"rename_issue", "add_option", "add_issue", "numeric", "textual", "remove_issue",
                    "remove_issue_yes", "mode", "edit_option", "remove_option"})
_QUESTIONS_CHANGED = _("The mediator has changed the questions of this round. Your answers so far are kept: "
                       "please go through them again, keeping or changing each one. Send /resume to continue.")
_OPTION_REWORDED = _("The mediator reworded an option on the issue {issue}. You will be asked to rate it again "
                     "before you submit.")


async def _require_mediator(turn: Turn) -> bool:
    if turn.runtime.is_mediator(turn.user_id):
        return True
    await turn.reply(Reply.of(_NOT_MEDIATOR))
    return False


async def _case_scope(turn: Turn, case_id: str) -> Scope:
    return Scope("case", case_id, await turn.tx.case_version(case_id))


async def _show(turn: Turn, case_id: str, reply: Reply, *, edit: int | None = None) -> None:
    """Show a case screen whose buttons act on the case as it is now."""
    await turn.reply(reply, scope=await _case_scope(turn, case_id), key_id=await turn.tx.case_key_id(case_id),
                     edit=edit)


# Setting up a case ------------------------------------------------------------------------------
async def show_draft(turn: Turn, case_id: str, *, receipt: Text | None = None) -> None:
    draft = await turn.tx.load_draft(case_id)
    if draft.stage is CaseStage.DRAFT_DETAILS:
        await show_menu(turn, case_id)
        return
    info = await turn.tx.case_info(case_id)
    prompt = views.draft_step(info, draft)
    await _show(turn, case_id, Reply(((receipt, *prompt.lines) if receipt else prompt.lines), prompt.buttons))


async def new_case(turn: Turn) -> None:
    """/newcase: open a draft case and ask for its name."""
    if not await _require_mediator(turn):
        return
    info = await turn.tx.create_case(turn.user_id)
    await turn.tx.set_active(turn.user_id, "setup", info.id)
    await show_draft(turn, info.id)


async def draft_text(turn: Turn, case_id: str, text: str) -> None:
    """Typed text while setting up a case: its name, an issue or a party label."""
    draft = await turn.tx.load_draft(case_id)
    receipt: Text | None = None
    if draft.stage is CaseStage.DRAFT_TITLE:
        draft.name_case(text)
    elif draft.stage is CaseStage.DRAFT_ISSUES:
        receipt = _("Issue added: {issue}", issue=user_text(draft.add_issue(text)))
    elif draft.stage is CaseStage.DRAFT_PARTIES:
        receipt = _("Party added: {party}", party=user_text(draft.add_party(text)))
    else:
        await turn.tx.set_active(turn.user_id, None, None)
        await turn.reply(Reply.of(_("Please use the buttons of the case menu. /cases lists your cases.")))
        await show_menu(turn, case_id)
        return
    await turn.tx.save_draft(case_id, draft)
    await show_draft(turn, case_id, receipt=receipt)


async def draft_button(turn: Turn, case_id: str, action: str) -> None:
    """Done adding issues, or done adding parties (then the details and the invitations)."""
    draft = await turn.tx.load_draft(case_id)
    if action == "issues_done":
        draft.finish_issues()
    elif action == "parties_done":
        draft.finish_parties()
        await turn.tx.set_active(turn.user_id, None, None)
    else:
        raise ValueError(f"unknown case action {action!r}")
    await turn.tx.save_draft(case_id, draft)
    await show_draft(turn, case_id)


async def _open_invitations(turn: Turn, case_id: str) -> None:
    await turn.tx.advance_case(case_id, "open_invitations")
    info = await turn.tx.case_info(case_id)
    invites = await turn.tx.issue_invites(case_id, turn.runtime.settings.invite_valid_for)
    key_id = await turn.tx.case_key_id(case_id)
    await turn.reply(Reply.of(
        _("Case <b>{case}</b> is ready: {title}", case=info.short_id, title=user_text(info.title)),
        ngettext("Send each party its own link, privately. Each link works once, for one Telegram account, "
                 "and expires in {count} day. Forward each message below to its party.",
                 "Send each party its own link, privately. Each link works once, for one Telegram account, "
                 "and expires in {count} days. Forward each message below to its party.",
                 turn.runtime.settings.invite_valid_for.days),
    ), key_id=key_id)
    for invite in invites:
        await _send_invite(turn, case_id, invite.label, invite.token)
    await turn.reply(Reply.of(_("/status {case} shows who has joined and how far each party is. "
                                "/cases opens the case menu.", case=info.short_id)))


async def _send_invite(turn: Turn, case_id: str, label: str, token: str) -> None:
    await turn.reply(Reply.of(
        _("Invitation for {party}: {link}", party=user_text(label), link=turn.runtime.invite_link(token)),
    ), key_id=await turn.tx.case_key_id(case_id))


# Finding a case --------------------------------------------------------------------------------------
async def _case_from_args(turn: Turn, args: list[str]) -> CaseInfo | None:
    if args:
        info = await turn.tx.find_case(turn.user_id, args[0])
    else:
        cases = await turn.tx.cases_of(turn.user_id)
        info = cases[0] if cases else None
    if info is None:
        await turn.reply(Reply.of(_("No case of yours has that id. /newcase opens a new one.") if args
                                  else _("You have no case yet. /newcase opens one.")))
    return info


async def list_cases(turn: Turn, args: list[str]) -> None:
    """/cases [case]: the mediator's cases, each opening its menu; with an id, that case's menu."""
    if not await _require_mediator(turn):
        return
    if args:
        info = await _case_from_args(turn, args)
        if info is not None:
            await show_menu(turn, info.id)
        return
    await turn.reply(case_views.case_list(await turn.tx.cases_of(turn.user_id)),
                     scope=Scope("user", turn.user.user_hash, turn.user.version))


async def open_case(turn: Turn, case_id: str) -> None:
    """A case button of /cases."""
    if not await turn.tx.is_case_mediator(case_id, turn.user_id):
        raise ValueError("not a mediator of this case")
    await show_menu(turn, case_id)


async def show_menu(turn: Turn, case_id: str, *, edit: int | None = None) -> None:
    info = await turn.tx.case_info(case_id)
    reply = case_views.case_menu(info, await turn.tx.seat_statuses(case_id), await turn.tx.mediator_count(case_id),
                                 zone=turn.user.timezone, commitments=await followed_commitments(turn.tx, case_id))
    await _show(turn, case_id, reply, edit=edit)


async def show_status(turn: Turn, args: list[str]) -> None:
    """/status [case]: each party's step and last activity, who is late; never content."""
    if not await _require_mediator(turn):
        return
    info = await _case_from_args(turn, args)
    if info is not None:
        await _status(turn, info)


async def _status(turn: Turn, info: CaseInfo) -> None:
    await turn.reply(views.status_view(info, await turn.tx.seat_statuses(info.id), now=turn.runtime.clock(),
                                       zone=turn.user.timezone))


async def show_summary(turn: Turn, args: list[str]) -> None:
    """/summary [case]: what the submitted parties allowed the mediator to see."""
    if not await _require_mediator(turn):
        return
    info = await _case_from_args(turn, args)
    if info is not None:
        await _summary(turn, info)


async def _summary(turn: Turn, info: CaseInfo) -> None:
    """The summary message, then the chart and the report, all under the case's key in the outbox."""
    analysis = await case_analysis(turn.tx, info)
    key_id = await turn.tx.case_key_id(info.id)
    await turn.reply(summary_message(info, analysis), key_id=key_id, protect=True)
    if not analysis.parties:
        return
    await record_disclosure(turn.tx, info, Audience.MEDIATOR, actor="mediator", recipients=1)
    files = report_files(info, analysis, turn.language, turn.runtime.clock(), await implementation(turn.tx, info))
    courier = Courier(turn.tx)
    await courier.send_file(turn.chat_id, turn.language, _("Priorities, options and ranges of case {case}",
                                                           case=info.short_id),
                            files.chart, files.chart_name, photo=True, key_id=key_id)
    if files.timeline is not None:
        await courier.send_file(turn.chat_id, turn.language, _("Commitments of case {case}: from each agreement to "
                                                               "its deadline, and what happened since",
                                                               case=info.short_id),
                                files.timeline, f"caucus-{info.short_id}-timeline.png", photo=True, key_id=key_id)
    await courier.send_file(turn.chat_id, turn.language, _("Report for the joint session of case {case}: "
                                                           "open it in a browser, print it if you need paper.",
                                                           case=info.short_id),
                            files.report.encode(), files.report_name, key_id=key_id)


# The case menu ----------------------------------------------------------------------------------------
async def _rights(turn: Turn, case_id: str) -> tuple[CaseStage, EditRights]:
    stage = CaseStage((await turn.tx.case_info(case_id)).stage)
    seats = await turn.tx.seat_statuses(case_id)
    return stage, case_rules.edit_rights(stage, [CaucusStep(seat.step) for seat in seats],
                                         sum(seat.submitted for seat in seats))


async def _check_rights(turn: Turn, case_id: str, action: str) -> None:
    if action not in _EDITS:
        return
    stage, rights = await _rights(turn, case_id)
    if not rights.editable:
        raise InvalidInput("locked")
    if action == "mode" and stage not in {CaseStage.DRAFT_DETAILS, CaseStage.INVITING, CaseStage.CAUCUS}:
        raise InvalidInput("mode_locked")  # the summary of a finished round reads its priorities in its mode


async def case_button(turn: Turn, case_id: str, action: str, argument: str, message_id: int | None) -> None:
    """A button of the case menu or one of its screens."""
    if action in {"issues_done", "parties_done"}:
        await draft_button(turn, case_id, action)
        return
    if action in agreements.AGREEMENT_BUTTONS:
        await agreements.case_agreement_button(turn, case_id, action, argument, message_id)
        return
    await _check_rights(turn, case_id, action)
    if action in _ASKS_TEXT:
        await _ask_text(turn, case_id, action, argument)
        return
    handler = _SCREENS.get(action)
    if handler is None:
        raise ValueError(f"unknown case action {action!r}")
    await handler(turn, case_id, argument, message_id)


async def _ask_text(turn: Turn, case_id: str, action: str, argument: str) -> None:
    pending = {"numeric": "scale"}.get(action, action)
    await turn.tx.set_active(turn.user_id, "case", case_id)
    await turn.tx.set_pending(turn.user_id, f"{pending}:{argument}")
    buttons = [[ButtonSpec(_("Cancel"), "cancel_pending")]]
    if action == "deadline" and (await turn.tx.case_info(case_id)).deadline is not None:
        buttons.insert(0, [ButtonSpec(_("Remove the deadline"), "deadline_clear")])
    prompt = case_views.PROMPTS[pending]
    if pending == "deadline":
        if CaseStage((await turn.tx.case_info(case_id)).stage) is CaseStage.JOINT:
            prompt = case_views.NEXT_DEADLINE_PROMPT
        prompt = Text(prompt.msgid, params={"example": case_rules.deadline_example(turn.runtime.clock())})
    await _show(turn, case_id, Reply.of(prompt, buttons=buttons))


async def _menu(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    await show_menu(turn, case_id, edit=message_id)


async def _status_button(turn: Turn, case_id: str, _argument: str, _message_id: int | None) -> None:
    await _status(turn, await turn.tx.case_info(case_id))


async def _summary_button(turn: Turn, case_id: str, _argument: str, _message_id: int | None) -> None:
    await _summary(turn, await turn.tx.case_info(case_id))


async def _issues(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    await _show(turn, case_id, case_views.issues_view(await turn.tx.issues(case_id), (await _rights(turn, case_id))[1]),
                edit=message_id)


def _pick(issues: list[Issue], issue_id: str) -> Issue:
    """The issue with this id; a co-mediator may have removed it since the screen was drawn."""
    issue = next((issue for issue in issues if issue.id == issue_id), None)
    if issue is None:
        raise InvalidInput("gone")
    return issue


async def _find_issue(turn: Turn, case_id: str, issue_id: str) -> Issue:
    return _pick(await turn.tx.issues(case_id), issue_id)


async def _find_option(turn: Turn, case_id: str, option_id: str) -> tuple[Issue, Option]:
    for issue in await turn.tx.issues(case_id):
        for option in issue.options:
            if option.id == option_id:
                return issue, option
    raise InvalidInput("gone")


async def _add_option(turn: Turn, case_id: str, issue_id: str, raw: str) -> Issue:
    """Add an option to an issue (typed by the mediator, or a party's suggestion), within the limit."""
    issue = await _find_issue(turn, case_id, issue_id)
    if len(issue.options) >= case_rules.MAX_OPTIONS:
        raise InvalidInput("too_many_options", limit=case_rules.MAX_OPTIONS)
    await turn.tx.add_option(case_id, issue_id, case_rules.clean_option(raw))
    for seat in await turn.tx.seat_statuses(case_id):  # parties already past the issue rate it before submitting
        if CaucusStep(seat.step) not in ANSWERING_STEPS:
            continue
        if not (await turn.tx.load_caucus(seat.seat_id)).will_rate(issue_id):
            await _tell_party(turn, seat.seat_id, Reply.of(_(
                "The mediator added an option to the issue {issue}. You will be asked to rate it "
                "before you submit.", issue=user_text(issue.title))))
    return issue


async def _issue(turn: Turn, case_id: str, issue_id: str, message_id: int | None) -> None:
    issues = await turn.tx.issues(case_id)
    issue = _pick(issues, issue_id)
    await _show(turn, case_id, case_views.issue_view(issue, len(issues), (await _rights(turn, case_id))[1]),
                edit=message_id)


async def _option(turn: Turn, case_id: str, option_id: str, message_id: int | None) -> None:
    issue, option = await _find_option(turn, case_id, option_id)
    await _show(turn, case_id, case_views.option_view(issue, option), edit=message_id)


async def _remove_option(turn: Turn, case_id: str, option_id: str, message_id: int | None) -> None:
    issue, _option = await _find_option(turn, case_id, option_id)
    await turn.tx.remove_option(case_id, option_id)
    await _issue(turn, case_id, issue.id, message_id)
    await _restart_answering(turn, case_id)


async def _textual(turn: Turn, case_id: str, issue_id: str, message_id: int | None) -> None:
    await turn.tx.set_scale(case_id, issue_id, None)
    await _issue(turn, case_id, issue_id, message_id)
    await _restart_answering(turn, case_id)


async def _remove_issue(turn: Turn, case_id: str, issue_id: str, message_id: int | None) -> None:
    issue = await _find_issue(turn, case_id, issue_id)
    await _show(turn, case_id, case_views.confirm(
        _("Remove the issue {issue}? Its options go with it.", issue=user_text(issue.title)),
        "remove_issue_yes", issue_id, back="issues"), edit=message_id)


async def _remove_issue_yes(turn: Turn, case_id: str, issue_id: str, message_id: int | None) -> None:
    if len(await turn.tx.issues(case_id)) <= MIN_ISSUES:
        raise InvalidInput("too_few_issues", limit=MIN_ISSUES)
    await turn.tx.remove_issue(case_id, issue_id)
    await _issues(turn, case_id, "", message_id)
    await _restart_answering(turn, case_id)


async def _mode(turn: Turn, case_id: str, mode: str, message_id: int | None) -> None:
    await turn.tx.set_priority_mode(case_id, PriorityMode(mode))
    await show_menu(turn, case_id, edit=message_id)
    await _restart_answering(turn, case_id)


async def _invites(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    seats = await turn.tx.seat_statuses(case_id)
    codes = {seat.seat_id: await turn.tx.join_code(seat.seat_id) for seat in seats if seat.joined}
    await _show(turn, case_id, case_views.invitations_view(seats, codes), edit=message_id)


async def _new_link(turn: Turn, case_id: str, seat_id: str, _message_id: int | None) -> None:
    if CaseStage((await turn.tx.case_info(case_id)).stage) is CaseStage.DRAFT_DETAILS:
        raise InvalidInput("no_invitations_yet")
    if any(seat.seat_id == seat_id and seat.joined for seat in await turn.tx.seat_statuses(case_id)):
        raise InvalidInput("seat_taken")
    invite = await turn.tx.reinvite_seat(seat_id, turn.runtime.settings.invite_valid_for)
    await _send_invite(turn, case_id, invite.label, invite.token)


async def _reject(turn: Turn, case_id: str, seat_id: str, message_id: int | None) -> None:
    label = await turn.tx.seat_label(seat_id)
    await _show(turn, case_id, case_views.confirm(
        Text(REMOVE_QUESTION.msgid, params={"party": user_text(label)}),
        "reject_yes", seat_id, back="invites"), edit=message_id)


async def reject_join(turn: Turn, case_id: str, seat_id: str) -> None:
    """Free a seat taken by the wrong person: their access ends, their answers are erased, a new link is made."""
    contact = await turn.tx.party_contact(seat_id)
    conversation = await turn.tx.load_caucus(seat_id)
    conversation.withdraw()
    await turn.tx.withdraw_seat(seat_id, by_party=False)
    await agreements.after_withdrawal(turn, case_id, seat_id, seat_reopened=True)
    invite = await turn.tx.reinvite_seat(seat_id, turn.runtime.settings.invite_valid_for)
    if contact is not None:
        await turn.send(contact.chat_id, contact.language, contact.user_hash, Reply.of(
            _("Your access to this case has ended. If you think this is a mistake, please contact your mediator.")))
    await turn.reply(Reply.of(_("The person who joined as {party} was removed, and what they answered is erased.",
                                party=user_text(invite.label))))
    await _send_invite(turn, case_id, invite.label, invite.token)


async def _reject_yes(turn: Turn, case_id: str, seat_id: str, _message_id: int | None) -> None:
    await reject_join(turn, case_id, seat_id)


async def _deadline_clear(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    await turn.tx.set_deadline(case_id, None)
    await turn.tx.set_pending(turn.user_id, None)
    await show_menu(turn, case_id, edit=message_id)


async def _cancel_pending(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    await turn.tx.set_pending(turn.user_id, None)
    await show_menu(turn, case_id, edit=message_id)


async def _comediator(turn: Turn, case_id: str, _argument: str, _message_id: int | None) -> None:
    token = await turn.tx.create_mediator_invite(case_id, turn.runtime.settings.invite_valid_for)
    info = await turn.tx.case_info(case_id)
    await turn.reply(Reply.of(
        ngettext("Send this link to your co-mediator, privately. It works once, only for an account authorised as "
                 "a mediator on this bot, and expires in {count} day.",
                 "Send this link to your co-mediator, privately. It works once, only for an account authorised as "
                 "a mediator on this bot, and expires in {count} days.", turn.runtime.settings.invite_valid_for.days),
        _("Co-mediator link for case {case}: {link}", case=info.short_id, link=turn.runtime.invite_link(token)),
    ), key_id=await turn.tx.case_key_id(case_id))


async def _open_invitations_button(turn: Turn, case_id: str, _argument: str, _message_id: int | None) -> None:
    await _open_invitations(turn, case_id)


async def _erase_messages(turn: Turn, case_id: str, argument: str, message_id: int | None) -> None:
    """Turn on or off the deletion of the parties' answers and prompts from their chats once saved."""
    await turn.tx.set_erase_messages(case_id, argument == "on")
    await show_menu(turn, case_id, edit=message_id)


async def _close_case(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    days = turn.runtime.settings.retention.days
    await _show(turn, case_id, case_views.confirm(ngettext(
        "Close this case? Parties can no longer answer. Everything in it is kept {days} day after closing, "
        "then erased for good.",
        "Close this case? Parties can no longer answer. Everything in it is kept {days} days after closing, "
        "then erased for good.", days, days=days), "close_case_yes"), edit=message_id)


async def _close_case_yes(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    if CaseStage((await turn.tx.case_info(case_id)).stage) not in case_views.CLOSABLE:
        raise StepMismatch("the case cannot be closed now")
    days = turn.runtime.settings.retention.days
    for seat in await turn.tx.seat_statuses(case_id):
        await _tell_party(turn, seat.seat_id, Reply.of(ngettext(
            "The mediator has closed this case. Thank you for taking part. What you answered is kept {days} day "
            "and then erased; /forget erases it now.",
            "The mediator has closed this case. Thank you for taking part. What you answered is kept {days} days "
            "and then erased; /forget erases it now.", days, days=days)))
    await turn.tx.close_case(case_id)
    await show_menu(turn, case_id, edit=message_id)


async def _erase_case(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    if not await _is_lead(turn, case_id):
        raise InvalidInput("lead_only")
    info = await turn.tx.case_info(case_id)
    await _show(turn, case_id, case_views.confirm(
        _("Erase case {case} now, with everything the parties answered? This cannot be undone: nobody, not even "
          "you, can recover it. Each party is told only that the case was closed and erased.", case=info.short_id),
        "erase_case_yes"), edit=message_id)


async def _erase_case_yes(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    if not await _is_lead(turn, case_id):
        raise InvalidInput("lead_only")
    short_id = (await turn.tx.case_info(case_id)).short_id
    for seat in await turn.tx.seat_statuses(case_id):
        contact = await turn.tx.party_contact(seat.seat_id)
        if contact is None:
            continue
        # Under the system key: the parties' keys are destroyed below, and this notice quotes nothing of the case.
        await turn.tx.erase_from_chat(contact.chat_id, None, key_id=None)
        await turn.send(contact.chat_id, contact.language, contact.user_hash, Reply.of(
            _("A case you took part in was closed by the mediator, and everything you answered in it was erased.")))
    await turn.tx.erase_case(case_id)
    await turn.reply(Reply.of(_("Case {case} is erased.", case=short_id)), edit=message_id)


async def _is_lead(turn: Turn, case_id: str) -> bool:
    hashes = await turn.tx.mediator_hashes(case_id)
    return bool(hashes) and hashes[0] == turn.user.user_hash


async def _close_round(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    info = await turn.tx.case_info(case_id)
    await _show(turn, case_id, case_views.confirm(
        _("Close round {round} now? Parties who have not submitted can no longer answer in this round.",
          round=info.round), "close_round_yes"), edit=message_id)


async def _close_round_yes(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    await turn.tx.advance_case(case_id, "close_round")
    for seat in await turn.tx.seat_statuses(case_id):
        conversation = await turn.tx.load_caucus(seat.seat_id)
        if conversation.close_round():
            await turn.tx.save_caucus(seat.seat_id, conversation, by_party=False)
            await _tell_party(turn, seat.seat_id, Reply.of(ROUND_CLOSED))
    await turn.reply(Reply.of(_("Round {round} is closed.", round=(await turn.tx.case_info(case_id)).round)))
    await show_menu(turn, case_id, edit=message_id)


async def _joint_summary(turn: Turn, case_id: str) -> Reply:
    """The joint summary as every party will read it; refused before the joint stage."""
    info = await turn.tx.case_info(case_id)
    if CaseStage(info.stage) is not CaseStage.JOINT:
        raise InvalidInput("not_joint")
    return joint_summary(info, await case_analysis(turn.tx, info, Audience.JOINT))


async def _joint(turn: Turn, case_id: str, _argument: str, _message_id: int | None) -> None:
    """Preview the joint summary exactly as the parties will read it, then ask before sending."""
    preview = await _joint_summary(turn, case_id)
    await _show(turn, case_id, Reply.of(
        _("Each party will receive this, in their own language. Nothing else from the caucus is in it: only "
          "what parties marked for the joint session, and results computed from that alone."),
        "", *preview.lines,
        buttons=[[ButtonSpec(_("📣 Send to every party"), "joint_send"), ButtonSpec(_("Cancel"), "menu")]]))


async def _joint_send(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    summary = await _joint_summary(turn, case_id)
    sent = 0
    for seat in await turn.tx.seat_statuses(case_id):
        sent += await _tell_party(turn, seat.seat_id, summary, protect=True)
    info = await turn.tx.case_info(case_id)
    await record_disclosure(turn.tx, info, Audience.JOINT, actor="mediator", recipients=sent)
    await turn.reply(Reply.of(ngettext("The joint summary was sent to {count} party.",
                                       "The joint summary was sent to {count} parties.", sent)), edit=message_id)
    await show_menu(turn, case_id)


async def _new_round(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    info = await turn.tx.case_info(case_id)
    await _show(turn, case_id, case_views.confirm(
        _("Start round {round}? Every party answers again, starting from their previous answers; "
          "update the issues and options first if they changed.", round=info.round + 1),
        "new_round_yes"), edit=message_id)


async def _new_round_yes(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    number = await turn.tx.start_round(case_id, turn.runtime.clock())
    await turn.tx.advance_case(case_id, "start_round")
    issues = await turn.tx.issues(case_id)
    for seat in await turn.tx.seat_statuses(case_id):
        conversation = await turn.tx.load_caucus(seat.seat_id)
        answered = bool(conversation.answers.answered(conversation.issues, conversation.mode))
        if conversation.start_new_round(issues):
            await turn.tx.save_caucus(seat.seat_id, conversation, by_party=False)
            await _tell_party(turn, seat.seat_id, Reply.of(_(
                "Round {round} has started. Your previous answers are filled in: keep each one or change it. "
                "Send /resume when you are ready.", round=number) if answered else _(
                "Round {round} has started. Send /resume when you are ready to answer.", round=number)))
    await turn.reply(Reply.of(_("Round {round} has started; the parties have been told.", round=number)))
    await show_menu(turn, case_id, edit=message_id)


async def _restart_answering(turn: Turn, case_id: str) -> None:
    """The questions changed mid-round: every party that began answering goes through its answers again."""
    issues = await turn.tx.issues(case_id)
    restarted = 0
    for seat in await turn.tx.seat_statuses(case_id):
        conversation = await turn.tx.load_caucus(seat.seat_id)
        if conversation.restart_answers(issues):
            await turn.tx.save_caucus(seat.seat_id, conversation, by_party=False)
            await _tell_party(turn, seat.seat_id, Reply.of(_QUESTIONS_CHANGED))
            restarted += 1
    if restarted:
        await turn.reply(Reply.of(ngettext(
            "{count} party had begun answering: it goes through its answers again, each one kept unless it "
            "no longer fits.",
            "{count} parties had begun answering: they go through their answers again, each one kept unless it "
            "no longer fits.", restarted)))


async def _option_reworded(turn: Turn, case_id: str, issue: Issue, option_id: str) -> None:
    """A rating of an option's old wording no longer counts: asked again, or the screen showing it restarts."""
    issues = await turn.tx.issues(case_id)
    for seat in await turn.tx.seat_statuses(case_id):
        if CaucusStep(seat.step) not in ANSWERING_STEPS:
            continue  # between rounds the answers given belong to the round that ended
        conversation = await turn.tx.load_caucus(seat.seat_id)
        if conversation.sees_options_of(issue.id):
            if conversation.restart_answers(issues):
                await turn.tx.save_caucus(seat.seat_id, conversation, by_party=False)
                await _tell_party(turn, seat.seat_id, Reply.of(_QUESTIONS_CHANGED))
        elif conversation.option_reworded(issues, option_id):
            await turn.tx.save_caucus(seat.seat_id, conversation, by_party=False)
            await _tell_party(turn, seat.seat_id, Reply.of(
                Text(_OPTION_REWORDED.msgid, params={"issue": user_text(issue.title)})))


async def _tell_party(turn: Turn, seat_id: str, notice: Reply, *, protect: bool = False) -> bool:
    """A neutral notice to a party, in its own chat and language (no answer is quoted unasked); False when
    nobody holds the seat (not joined yet, or withdrawn)."""
    contact = await turn.tx.party_contact(seat_id)
    if contact is None:
        return False
    await turn.send(contact.chat_id, contact.language, contact.user_hash, notice,
                    key_id=await turn.tx.seat_key_id(seat_id), protect=protect)
    return True


_SCREENS = {
    "menu": _menu,
    "status": _status_button,
    "summary": _summary_button,
    "issues": _issues,
    "issue": _issue,
    "option": _option,
    "remove_option": _remove_option,
    "textual": _textual,
    "remove_issue": _remove_issue,
    "remove_issue_yes": _remove_issue_yes,
    "mode": _mode,
    "invites": _invites,
    "new_link": _new_link,
    "reject": _reject,
    "reject_yes": _reject_yes,
    "deadline_clear": _deadline_clear,
    "cancel_pending": _cancel_pending,
    "comediator": _comediator,
    "open_invitations": _open_invitations_button,
    "erase_msgs": _erase_messages,
    "close_case": _close_case,
    "close_case_yes": _close_case_yes,
    "erase_case": _erase_case,
    "erase_case_yes": _erase_case_yes,
    "close_round": _close_round,
    "close_round_yes": _close_round_yes,
    "joint": _joint,
    "joint_send": _joint_send,
    "new_round": _new_round,
    "new_round_yes": _new_round_yes,
}


# Typed answers to the case menu's questions -------------------------------------------------------------
async def case_text(turn: Turn, case_id: str, text: str) -> None:
    """Text the mediator typed after a case-menu button asked for it."""
    pending = turn.user.pending or ""
    action, _sep, argument = pending.partition(":")
    if action in agreements.AGREEMENT_ACTIONS:
        await agreements.agreement_text(turn, case_id, action, argument, text)
        return
    if action not in case_views.PROMPTS:
        await turn.tx.set_active(turn.user_id, None, None)
        await turn.reply(Reply.of(_("I was not expecting a message now. /cases opens your cases.")))
        return
    await _check_rights(turn, case_id, {"scale": "numeric"}.get(action, action))
    if not await _target_exists(turn, case_id, action, argument):
        await turn.tx.set_pending(turn.user_id, None)
        await turn.tx.set_active(turn.user_id, None, None)
        await turn.reply(Reply.of(views.invalid_input("gone", {})))
        return
    info = await turn.tx.case_info(case_id)
    receipt = _("Saved.")
    next_screen: tuple[str, str] = ("menu", "")
    restart = False
    if action == "rename_issue":
        await turn.tx.rename_issue(case_id, argument, clean_line(text, max_chars=MAX_TITLE_CHARS))
        next_screen = ("issue", argument)
    elif action == "add_issue":
        issue = await _append_issue(turn, case_id, text)
        next_screen = ("issue", issue.id)
        restart = True
    elif action == "add_option":
        await _add_option(turn, case_id, argument, text)
        next_screen = ("issue", argument)
    elif action == "edit_option":
        await turn.tx.edit_option(case_id, argument, case_rules.clean_option(text))
        issue = (await _find_option(turn, case_id, argument))[0]
        await _option_reworded(turn, case_id, issue, argument)
        next_screen = ("issue", issue.id)
    elif action == "scale":
        await turn.tx.set_scale(case_id, argument, _parse_scale(text, turn.language))
        next_screen = ("issue", argument)
        restart = True
    elif action == "deadline":
        deadline = case_rules.parse_deadline(text, turn.language, info.timezone, turn.runtime.clock())
        await turn.tx.set_deadline(case_id, deadline)
    else:
        await turn.tx.set_timezone(case_id, case_rules.parse_timezone(text))
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_active(turn.user_id, None, None)
    await turn.reply(Reply.of(receipt))
    await _SCREENS[next_screen[0]](turn, case_id, next_screen[1], None)
    if restart:
        await _restart_answering(turn, case_id)


async def _target_exists(turn: Turn, case_id: str, action: str, argument: str) -> bool:
    """Whether the issue or option a pending edit names is still there (a co-mediator may have removed it)."""
    issues = await turn.tx.issues(case_id)
    if action in {"rename_issue", "add_option", "scale"}:
        return any(issue.id == argument for issue in issues)
    if action == "edit_option":
        return any(option.id == argument for issue in issues for option in issue.options)
    return True


async def add_issue_from_triage(turn: Turn, case_id: str, raw_title: str) -> Issue:
    """A recurring grievance theme becomes an issue of the case, under the same rules as one the mediator adds."""
    await _check_rights(turn, case_id, "add_issue")
    issue = await _append_issue(turn, case_id, raw_title)
    await _restart_answering(turn, case_id)
    return issue


async def _append_issue(turn: Turn, case_id: str, raw_title: str) -> Issue:
    """A new issue after the others, its title checked against theirs and the limit."""
    titles = [issue.title for issue in await turn.tx.issues(case_id)]
    return await turn.tx.add_issue(case_id, _new_issue_title(raw_title, titles))


def _new_issue_title(raw: str, existing: list[str]) -> str:
    title = clean_line(raw, max_chars=MAX_TITLE_CHARS)
    if title.casefold() in {issue.casefold() for issue in existing}:
        raise InvalidInput("duplicate")
    if len(existing) >= MAX_ISSUES:
        raise InvalidInput("too_many_issues", limit=MAX_ISSUES)
    return title


def _parse_scale(text: str, language: str) -> Scale:
    """Three lines (or three parts separated by ';'): the unit, the lowest and the highest value."""
    parts = [part.strip() for part in (text.split(";") if ";" in text else text.splitlines()) if part.strip()]
    if len(parts) != 3:  # the unit, the lowest, the highest
        raise InvalidInput("scale_lines")
    unit = case_rules.clean_unit(parts[0])
    low = case_rules.parse_scale_bound(parts[1], language, unit)
    high = case_rules.parse_scale_bound(parts[2], language, unit, above=low)
    return Scale(unit, low, high)


# Suggestions and joins from notifications ------------------------------------------------------------
async def suggestion_button(turn: Turn, suggestion_id: str, case_id: str, action: str, message_id: int | None) -> None:
    """Add a party's suggested option to the issue's options, or dismiss it."""
    suggestion = await turn.tx.suggestion(case_id, suggestion_id)
    if suggestion is None or suggestion.status != "pending":
        raise ValueError("no such pending suggestion")
    if action == "suggestion_add":
        await _check_rights(turn, case_id, "add_option")
        issue = await _add_option(turn, case_id, suggestion.issue_id, suggestion.text)
        await turn.tx.set_suggestion_status(case_id, suggestion_id, "added")
        done = _("Added to the options of {issue}.", issue=user_text(issue.title))
    else:
        await turn.tx.set_suggestion_status(case_id, suggestion_id, "dismissed")
        done = _("Dismissed.")
    await turn.reply(Reply.of(done), edit=message_id)


async def join_button(turn: Turn, seat_id: str, action: str, message_id: int | None) -> None:
    """The reject button of a join notification, and its confirmation."""
    case_id = await turn.tx.seat_case_id(seat_id)
    if not await turn.tx.is_case_mediator(case_id, turn.user_id):
        raise ValueError("not a mediator of this case")
    if action == "reject":
        label = await turn.tx.seat_label(seat_id)
        await turn.reply(case_views.confirm(
            Text(REMOVE_QUESTION.msgid, params={"party": user_text(label)}), "reject_yes", seat_id, back="keep"),
            scope=await join_scope(turn.tx, seat_id), edit=message_id)
    elif action == "reject_yes":
        await reject_join(turn, case_id, seat_id)
    else:
        label = await turn.tx.seat_label(seat_id)
        await turn.reply(Reply.of(_("{party} stays as joined.", party=user_text(label))), edit=message_id)


async def join_as_comediator(turn: Turn, token: str) -> bool:
    """A co-mediator link; False when it opens nothing for this account."""
    if not turn.runtime.is_mediator(turn.user_id):
        return False
    case_id = await turn.tx.claim_mediator_invite(token, turn.user_id)
    if case_id is None:
        return False
    info = await turn.tx.case_info(case_id)
    await notify_mediators(turn, case_id, Reply.of(_("A co-mediator has joined case {case}.", case=info.short_id)))
    await show_menu(turn, case_id)
    return True

