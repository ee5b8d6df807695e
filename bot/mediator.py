"""The mediator side: setting up a case, inviting parties, following progress, the summary."""

from __future__ import annotations

from bot import views
from bot.i18n import Text, _, ngettext, user_text
from bot.replies import Reply
from bot.turn import Scope, Turn
from flows.machines import CaseStage
from flows.model import CaseInfo
from flows.summary import build_summary

__all__ = ["draft_button", "draft_text", "new_case", "show_status", "show_summary"]

_NOT_MEDIATOR = _("This command is for mediators. If you were invited as a party, "
                  "please open the link your mediator gave you.")


async def _require_mediator(turn: Turn) -> bool:
    if turn.runtime.is_mediator(turn.user_id):
        return True
    await turn.reply(Reply.of(_NOT_MEDIATOR))
    return False


async def _show_draft(turn: Turn, case_id: str, *, receipt: Text | None = None) -> None:
    draft = await turn.tx.load_draft(case_id)
    info = await turn.tx.case_info(case_id)
    version = await turn.tx.case_version(case_id)
    prompt = views.draft_step(info, draft)
    reply = Reply(((receipt, *prompt.lines) if receipt else prompt.lines), prompt.buttons)
    await turn.reply(reply, scope=Scope("case", case_id, version), key_id=await turn.tx.case_key_id(case_id))


async def new_case(turn: Turn) -> None:
    """/newcase: open a draft case and ask for its name."""
    if not await _require_mediator(turn):
        return
    info = await turn.tx.create_case(turn.user_id)
    await turn.tx.set_active(turn.user_id, "setup", info.id)
    await _show_draft(turn, info.id)


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
        await turn.reply(Reply.of(_("This case is already set up. /status shows its progress.")))
        return
    await turn.tx.save_draft(case_id, draft)
    await _show_draft(turn, case_id, receipt=receipt)


async def draft_button(turn: Turn, case_id: str, action: str) -> None:
    """Done adding issues, or done adding parties (then the invites are made)."""
    draft = await turn.tx.load_draft(case_id)
    if action == "issues_done":
        draft.finish_issues()
        await turn.tx.save_draft(case_id, draft)
        await _show_draft(turn, case_id)
        return
    if action != "parties_done":
        raise ValueError(f"unknown case action {action!r}")
    draft.finish_parties()
    await turn.tx.save_draft(case_id, draft)
    await turn.tx.set_active(turn.user_id, None, None)
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
        await turn.reply(Reply.of(
            _("Invitation for {party}: {link}",
              party=user_text(invite.label), link=turn.runtime.invite_link(invite.token)),
        ), key_id=key_id)
    await turn.reply(Reply.of(_("/status {case} shows who has joined and how far each party is.", case=info.short_id)))


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


async def show_status(turn: Turn, args: list[str]) -> None:
    """/status [case]: each party's step and last activity; never content."""
    if not await _require_mediator(turn):
        return
    info = await _case_from_args(turn, args)
    if info is not None:
        await turn.reply(views.status_view(info, await turn.tx.seat_statuses(info.id), turn.language))


async def show_summary(turn: Turn, args: list[str]) -> None:
    """/summary [case]: what the submitted parties allowed the mediator to see."""
    if not await _require_mediator(turn):
        return
    info = await _case_from_args(turn, args)
    if info is None:
        return
    parties = await turn.tx.submitted_parties(info.id)
    seats = await turn.tx.seat_statuses(info.id)
    summary = build_summary(await turn.tx.issues(info.id), parties)
    await turn.reply(views.summary_view(info, summary, len(seats)), key_id=await turn.tx.case_key_id(info.id))
