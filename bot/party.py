"""The party side: invite links, the caucus steps, submission."""

from __future__ import annotations

from bot import views
from bot.i18n import _, user_text
from bot.replies import Reply
from bot.turn import Scope, Turn
from flows.caucus import CaucusConversation
from flows.machines import CaucusStep
from flows.model import InterestCategory, ItemKey, ItemKind, ShareLevel

__all__ = ["open_invite", "party_button", "party_text", "show_step"]

# Buttons that change the message they sit on instead of moving to a new prompt.
_IN_PLACE = frozenset({"cat", "rank", "rank_restart", "share"})


async def show_step(turn: Turn, seat_id: str, conversation: CaucusConversation, *, edit: int | None = None) -> None:
    """Send (or redraw) the prompt of the step the party is at."""
    reply = views.caucus_step(
        conversation, party_label=await turn.tx.seat_label(seat_id), suggested_language=turn.language
    )
    scope = Scope("seat", seat_id, await turn.tx.seat_version(seat_id))
    await turn.reply(reply, scope=scope, key_id=await turn.tx.seat_key_id(seat_id), edit=edit)


async def open_invite(turn: Turn, token: str) -> None:
    """Join (or resume) the seat an invite link opens; every unusable link gets the same reply."""
    seat_id = await turn.tx.claim_seat(token, turn.user_id)
    if seat_id is None:
        await turn.reply(Reply.of(_("This invitation link cannot be used. "
                                    "If you were invited, please ask your mediator for a new link.")))
        return
    await turn.tx.set_active(turn.user_id, "seat", seat_id)
    conversation = await turn.tx.load_caucus(seat_id)
    if conversation.step is CaucusStep.INVITED:
        conversation.join()
        await turn.tx.save_caucus(seat_id, conversation)
        case_id = await turn.tx.seat_case_id(seat_id)
        await turn.tx.advance_case(case_id, "party_joined")
        await notify_mediator(turn, case_id, Reply.of(_(
            "{party} has joined case {case}.",
            party=user_text(await turn.tx.seat_label(seat_id)), case=(await turn.tx.case_info(case_id)).short_id,
        )))
    await show_step(turn, seat_id, conversation)


async def party_text(turn: Turn, seat_id: str, text: str) -> None:
    """Typed text: an answer where one is asked, otherwise a pointer to the buttons."""
    conversation = await turn.tx.load_caucus(seat_id)
    if conversation.step is CaucusStep.POSITION:
        conversation.record_position(text)
    elif conversation.step is CaucusStep.INTEREST_WORDS:
        conversation.record_interest_words(text)
    elif conversation.step is CaucusStep.SUBMITTED:
        await turn.reply(Reply.of(_("Your answers are already submitted. "
                                    "The mediator will be in touch about the next steps.")))
        return
    else:
        await turn.reply(Reply.of(_("Please answer with the buttons of the latest message.")))
        await show_step(turn, seat_id, conversation)
        return
    await turn.tx.save_caucus(seat_id, conversation)
    await turn.reply(Reply.of(_("Saved.")), key_id=await turn.tx.seat_key_id(seat_id))
    await show_step(turn, seat_id, conversation)


async def party_button(turn: Turn, seat_id: str, action: str, argument: str, message_id: int | None) -> None:
    """A button of the caucus: fire the step's trigger, store, and show what comes next."""
    conversation = await turn.tx.load_caucus(seat_id)
    was_submitted = conversation.step is CaucusStep.SUBMITTED
    if action == "lang":
        conversation.choose_language(argument)
        await turn.tx.set_language(turn.user_id, argument)
        await turn.reload_user()
    elif action == "consent":
        conversation.consent()
    elif action == "decline":
        conversation.decline()
    elif action == "reconsider":
        conversation.reconsider()
    elif action == "cat":
        category, chosen = argument.split(":")
        conversation.choose_category(InterestCategory(category), chosen=chosen == "1")
    elif action == "cats_done":
        conversation.confirm_categories()
    elif action == "rank":
        conversation.rank_issue(argument)
    elif action == "rank_restart":
        conversation.restart_ranking()
    elif action == "share":
        kind, issue_id, level = argument.split(":")
        conversation.set_share_level(ItemKey(ItemKind(kind), issue_id), ShareLevel(level))
    elif action == "submit":
        conversation.request_submit()
    elif action == "back":
        conversation.back_to_review()
    elif action == "confirm_submit":
        conversation.submit()
    else:
        raise ValueError(f"unknown caucus action {action!r}")
    await turn.tx.save_caucus(seat_id, conversation)
    stays = action in _IN_PLACE and conversation.step in {CaucusStep.INTEREST_CATEGORIES, CaucusStep.RANKING,
                                                          CaucusStep.REVIEW}
    await show_step(turn, seat_id, conversation, edit=message_id if stays else None)
    if conversation.step is CaucusStep.SUBMITTED and not was_submitted:
        await _announce_submission(turn, seat_id)


async def _announce_submission(turn: Turn, seat_id: str) -> None:
    case_id = await turn.tx.seat_case_id(seat_id)
    info = await turn.tx.case_info(case_id)
    seats = await turn.tx.seat_statuses(case_id)
    submitted = sum(seat.submitted for seat in seats)
    lines = [_(
        "{party} has submitted (case {case}: {count} of {total} parties).",
        party=user_text(await turn.tx.seat_label(seat_id)), case=info.short_id, count=submitted, total=len(seats),
    )]
    if submitted == len(seats):
        await turn.tx.advance_case(case_id, "all_submitted")
        lines.append(_("Every party of case {case} has submitted. /summary {case} shows what they shared with you.",
                       case=info.short_id))
    await notify_mediator(turn, case_id, Reply.of(*lines))


async def notify_mediator(turn: Turn, case_id: str, reply: Reply) -> None:
    """Tell the case's mediator, in the mediator's language (silently skipped if no longer configured)."""
    mediator_hash = await turn.tx.case_mediator_hash(case_id)
    chat_id = turn.runtime.mediator_chat(mediator_hash)
    if chat_id is None:
        return
    language = await turn.tx.language_of(mediator_hash)
    await turn.send(chat_id, language or "en", mediator_hash, reply, key_id=await turn.tx.case_key_id(case_id))
