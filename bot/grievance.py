"""The submitter side of grievances: /grievance (or its deep link), each step, the receipt, /track."""

from __future__ import annotations

from datetime import timedelta

from bot import grievance_views
from bot.i18n import LANGUAGES, Text, _
from bot.replies import Reply
from bot.turn import Scope, Turn
from flows.grievance import GrievanceConversation, Urgency
from flows.machines import GrievanceStep

__all__ = ["DEEP_LINK", "grievance_button", "grievance_text", "show_grievance_step", "start_grievance", "track"]

# What organisations put after ?start= in the link they share: t.me/<bot>?start=grievance
DEEP_LINK = "grievance"
_DAY = timedelta(days=1)


async def _scope(turn: Turn, grievance_id: str) -> Scope:
    return Scope("grv", grievance_id, await turn.tx.grievance_version(grievance_id) or 0)


async def _load(turn: Turn, grievance_id: str) -> GrievanceConversation:
    settings = turn.runtime.settings
    return await turn.tx.load_grievance(grievance_id, settings.grievance_categories, settings.grievance_regions)


async def show_grievance_step(turn: Turn, grievance_id: str, conversation: GrievanceConversation | None = None) -> None:
    conversation = conversation or await _load(turn, grievance_id)
    reply = grievance_views.grievance_step(conversation, suggested_language=turn.language,
                                           alerted=await turn.tx.grievance_alerted(grievance_id))
    await turn.reply(reply, scope=await _scope(turn, grievance_id), key_id=await turn.tx.grievance_key_id(grievance_id))


async def start_grievance(turn: Turn) -> None:
    """/grievance: go on with the report being written, or start one (within the daily limit)."""
    draft = await turn.tx.grievance_draft(turn.user_id)
    if draft is not None:
        await turn.tx.set_active(turn.user_id, "griev", draft)
        await _leave_the_chat(turn)
        await turn.reply(Reply.of(_("You have a report in progress: here is where you stopped.")))
        await show_grievance_step(turn, draft)
        return
    limit = turn.runtime.settings.grievance_daily_limit
    if await turn.tx.grievances_filed_since(turn.user_id, turn.runtime.clock() - _DAY) >= limit:
        await turn.reply(Reply.of(_("Thank you for reporting. To keep this service open for everyone, one account can "
                                    "start at most {limit} reports a day. Please try again tomorrow; if someone is in "
                                    "danger now, contact local emergency services.", limit=limit)))
        return
    grievance_id = await turn.tx.create_grievance(turn.user_id, turn.chat_id, turn.language)
    await turn.tx.set_active(turn.user_id, "griev", grievance_id)
    await _leave_the_chat(turn)
    await show_grievance_step(turn, grievance_id)


async def _leave_the_chat(turn: Turn) -> None:
    """A report begins or goes on: the command or link that opened it ("/start grievance") leaves the chat, and
    the report's screens will follow once answered."""
    turn.sensitive = True
    await turn.erase_answer(None)


async def grievance_text(turn: Turn, grievance_id: str, text: str) -> None:
    """Typed text: the answer to the step on screen, or a pointer to its buttons."""
    turn.sensitive = True  # the report's screens and answers leave the chat once saved
    conversation = await _load(turn, grievance_id)
    step = conversation.step
    receipt: Text = _("Saved.")
    if step is GrievanceStep.NAME:
        conversation.give_name(text)
    elif step is GrievanceStep.REGION:
        conversation.give_region(text)
    elif step is GrievanceStep.DESCRIPTION:
        conversation.add_description(text)
        receipt = _("Added. Send more, or tap Done.")
    elif step is GrievanceStep.GROUPS:
        conversation.give_groups(text)
    elif step is GrievanceStep.REMEDY:
        conversation.give_remedy(text)
    else:
        await turn.reply(Reply.of(_("Please answer with the buttons of the latest message.")))
        await show_grievance_step(turn, grievance_id, conversation)
        return
    await _save(turn, grievance_id, conversation)
    await turn.reply(Reply.of(receipt), key_id=await turn.tx.grievance_key_id(grievance_id))
    await show_grievance_step(turn, grievance_id, conversation)
    await turn.erase_answer(None)


async def _save(turn: Turn, grievance_id: str, conversation: GrievanceConversation) -> None:
    await turn.tx.save_grievance(grievance_id, conversation, turn.language)


async def grievance_button(turn: Turn, grievance_id: str, action: str, argument: str) -> None:
    """A button of the filing flow: move the flow, store, show what comes next."""
    turn.sensitive = True
    conversation = await _load(turn, grievance_id)
    if action == "lang":
        if argument not in LANGUAGES:
            raise ValueError("unknown language")
        conversation.choose_language()
        await turn.tx.set_language(turn.user_id, argument)
        await turn.reload_user()
    elif action == "anonymous":
        conversation.stay_anonymous()
    elif action == "named":
        conversation.give_name_later()
    elif action == "category":
        conversation.choose_category(argument)
    elif action == "region":
        conversation.choose_region(int(argument))
    elif action == "description_done":
        conversation.finish_description()
    elif action == "description_clear":
        conversation.clear_description()
    elif action == "skip" and conversation.step is GrievanceStep.GROUPS:
        conversation.give_groups(None)
    elif action == "skip":
        conversation.give_remedy(None)
    elif action == "urgency":
        conversation.choose_urgency(Urgency(argument))
    elif action == "edit":
        conversation.edit(argument)
    elif action == "submit":
        await _submit(turn, grievance_id, conversation)
        return
    elif action == "discard":
        await _discard(turn, grievance_id, conversation)
        return
    else:
        raise ValueError(f"unknown grievance action {action!r}")
    await _save(turn, grievance_id, conversation)
    if action == "urgency" and conversation.content.urgency is Urgency.DANGER:
        await _danger(turn, grievance_id)
    await show_grievance_step(turn, grievance_id, conversation)


async def _danger(turn: Turn, grievance_id: str) -> None:
    """Someone is in danger now: the safety referral at once, and every triage officer alerted (once)."""
    key_id = await turn.tx.grievance_key_id(grievance_id)
    turn.sensitive = False  # where to find help stays in the chat
    await turn.reply(grievance_views.safety_referral(turn.runtime.settings.safety_referral, turn.language),
                     key_id=key_id)
    turn.sensitive = True
    if not await turn.tx.mark_grievance_alerted(grievance_id):
        return
    grievance = await turn.tx.grievance(grievance_id)
    assert grievance is not None  # noqa: S101 - an alerted grievance is readable by triage
    for officer in sorted(turn.runtime.settings.triage_ids):
        officer_hash = turn.runtime.store.user_hash(officer)
        await turn.send(officer, await turn.tx.language_of(officer_hash), officer_hash,
                        grievance_views.alert(grievance), scope=Scope("tri", "list", 0), key_id=key_id)


async def _submit(turn: Turn, grievance_id: str, conversation: GrievanceConversation) -> None:
    conversation.submit()
    await _save(turn, grievance_id, conversation)
    await turn.tx.set_active(turn.user_id, None, None)
    # The report's screens leave the chat; the receipt stays, for its reference.
    await turn.tx.erase_from_chat(turn.chat_id, None, key_id=None)
    turn.sensitive = False
    await turn.reply(grievance_views.receipt(await turn.tx.grievance_reference(grievance_id)),
                     key_id=await turn.tx.grievance_key_id(grievance_id))


async def _discard(turn: Turn, grievance_id: str, conversation: GrievanceConversation) -> None:
    if conversation.submitted or await turn.tx.grievance_alerted(grievance_id):
        await turn.reply(Reply.of(_("The team has already been alerted, so this report stays with them. "
                                    "You can still complete and send it.")))
        await show_grievance_step(turn, grievance_id, conversation)
        return
    await turn.tx.discard_grievance(grievance_id)
    await turn.tx.set_active(turn.user_id, None, None)
    await turn.tx.erase_from_chat(turn.chat_id, None, key_id=None)
    turn.sensitive = False
    await turn.reply(Reply.of(_("Discarded: nothing of this report was kept.")))


async def track(turn: Turn, args: list[str]) -> None:
    """/track [reference]: the status of one's own report; another account's reference reads as unknown."""
    if not args:
        await turn.reply(grievance_views.own_grievances(await turn.tx.own_grievances(turn.user_id)))
        return
    grievance_id = await turn.tx.find_own_grievance(turn.user_id, "".join(args))
    grievance = await turn.tx.grievance(grievance_id) if grievance_id else None
    if grievance is None:
        await turn.reply(Reply.of(_("No report with this reference was found for you. Please check the reference; "
                                    "only the account that sent a report can follow it.")))
        return
    await turn.reply(grievance_views.track_view(grievance, turn.timezone),
                     key_id=await turn.tx.grievance_key_id(grievance.id))
