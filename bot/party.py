"""The party side: invite links, every caucus step, the review screen, notes, withdrawal."""

from __future__ import annotations

from bot import caucus_views
from bot.agreements import after_join, after_withdrawal
from bot.commitments import ask_new_party
from bot.formats import Amount
from bot.i18n import Layout, Text, _, ngettext, user_text
from bot.replies import ButtonSpec, Reply
from bot.turn import Courier, Scope, Turn, join_scope
from bot.views import LEVEL_NAMES, item_name
from flows import case as case_rules
from flows.caucus import CaucusConversation
from flows.errors import InvalidInput, StepMismatch
from flows.machines import CaseStage, CaucusStep
from flows.model import InterestCategory, ItemKey, Rating, ShareLevel
from flows.text import clean_text

__all__ = [
    "ask_forget",
    "ask_note",
    "notify_mediators",
    "open_invite",
    "party_button",
    "party_text",
    "show_history",
    "show_step",
]

# Buttons that redraw the message they sit on instead of moving to a new prompt.
_IN_PLACE = frozenset({"cat", "rank", "restart_prio", "share", "item", "full", "page", "rate"})
_RESTRICT = frozenset({"restrict_page", "restrict_item", "restrict", "restrict_done"})


async def _scope(turn: Turn, seat_id: str) -> Scope:
    return Scope("seat", seat_id, await turn.tx.seat_version(seat_id))


async def show_step(turn: Turn, seat_id: str, conversation: CaucusConversation, *, edit: int | None = None) -> None:
    """Send (or redraw) the prompt of the step the party is at."""
    can_restrict = conversation.step is CaucusStep.SUBMITTED and await _shares_open(turn, seat_id)
    reply = caucus_views.caucus_step(
        conversation, party_label=await turn.tx.seat_label(seat_id), suggested_language=turn.language,
        can_restrict=can_restrict,
    )
    await turn.reply(reply, scope=await _scope(turn, seat_id), key_id=await turn.tx.seat_key_id(seat_id), edit=edit)


async def _shares_open(turn: Turn, seat_id: str) -> bool:
    info = await turn.tx.case_info(await turn.tx.seat_case_id(seat_id))
    return case_rules.can_restrict_shares(CaseStage(info.stage))


async def open_invite(turn: Turn, token: str) -> bool:
    """Join (or resume) the seat an invite link opens; False when the token opens no seat."""
    if turn.runtime.is_mediator(turn.user_id) and await turn.tx.is_party_invite(token):
        # Invite links are posted in the mediator's chat: a tap there must not take the party's seat.
        raise InvalidInput("mediator_seat")
    seat_id = await turn.tx.claim_seat(token, turn.user_id)
    if seat_id is None:
        return False
    await _mark_sensitive(turn, seat_id)
    await turn.tx.set_active(turn.user_id, "seat", seat_id)
    conversation = await turn.tx.load_caucus(seat_id)
    if conversation.step is CaucusStep.INVITED:
        conversation.join()
        await turn.tx.save_caucus(seat_id, conversation)
        case_id = await turn.tx.seat_case_id(seat_id)
        await turn.tx.advance_case(case_id, "party_joined")
        await after_join(turn, case_id, seat_id)
        await ask_new_party(turn, case_id, seat_id)
        code = await turn.tx.join_code(seat_id) or ""
        await notify_mediators(turn, case_id, Reply.of(
            _("{party} has joined case {case}. Join code: <b>{code}</b>.",
              party=user_text(await turn.tx.seat_label(seat_id)), case=(await turn.tx.case_info(case_id)).short_id,
              code=code),
            _("Compare this code with the person, by phone or in person. If it is not the right person, "
              "remove them: the seat is freed and you get a new link."),
            buttons=[[ButtonSpec(_("⛔ Remove this person"), "reject", seat_id)]],
        ), scope=await join_scope(turn.tx, seat_id))
        # The code stays in the chat when the screens go (the mediator may ask for it later, by phone); it
        # says nothing of the case, and /quickexit deletes it with the rest.
        sensitive, turn.sensitive = turn.sensitive, False
        await turn.reply(Reply.of(
            _("Your join code is <b>{code}</b>. Your mediator may ask you for it, to be sure it is really you.",
              code=code)), key_id=await turn.tx.seat_key_id(seat_id))
        turn.sensitive = sensitive
    await show_step(turn, seat_id, conversation)
    await _erase_answer(turn)  # the link opened: the message that opened it leaves the chat too
    return True


async def _mark_sensitive(turn: Turn, seat_id: str) -> None:
    """In a case that deletes answers from the chats once saved, every screen of the caucus goes too."""
    turn.sensitive = await turn.tx.erases_messages(await turn.tx.seat_case_id(seat_id))


async def party_text(turn: Turn, seat_id: str, text: str) -> None:
    """Typed text: an answer where one is asked, a note when one was announced, else a pointer to the buttons."""
    await _mark_sensitive(turn, seat_id)
    if turn.user.pending == "note":
        await _deliver_note(turn, seat_id, text)
        await _erase_answer(turn)
        return
    conversation = await turn.tx.load_caucus(seat_id)
    step = conversation.step
    receipt: Text = _("Saved.")
    if step is CaucusStep.POSITION:
        conversation.record_position(text)
    elif step is CaucusStep.INTEREST_WORDS:
        conversation.record_interest_words(text)
    elif step in {CaucusStep.RANGE_LOW, CaucusStep.RANGE_HIGH, CaucusStep.RANGE_HOPE}:
        scale = conversation.current_issue.scale
        value = conversation.record_range_value(text, turn.language)
        receipt = _("Saved: {value}", value=Amount(value, scale.unit if scale else ""))
    elif step is CaucusStep.POINTS:
        issue = conversation.points_issue
        points = conversation.give_points(text, turn.language)
        receipt = ngettext("Saved: {count} point for {issue}", "Saved: {count} points for {issue}", points,
                           issue=user_text(issue.title))
    elif step in {CaucusStep.CBM_NEEDS, CaucusStep.CBM_OFFER, CaucusStep.CONSTITUENTS, CaucusStep.ALTERNATIVE}:
        conversation.answer_optional(text)
    elif step is CaucusStep.SUGGEST_OPTION:
        issue = conversation.current_issue
        suggestion = conversation.record_suggestion(text)
        await _send_suggestion(turn, seat_id, issue.id, issue.title, suggestion)
        receipt = _("Sent to the mediator, who decides whether to put it to all parties.")
    elif step is CaucusStep.SUBMITTED:
        await turn.reply(Reply.of(_("Your answers are already submitted. "
                                    "The mediator will be in touch about the next steps. "
                                    "/note sends the mediator a private message.")))
        return
    elif step in {CaucusStep.WAITING, CaucusStep.WITHDRAWN}:
        await show_step(turn, seat_id, conversation)
        return
    else:
        await turn.reply(Reply.of(_("Please answer with the buttons of the latest message.")))
        await show_step(turn, seat_id, conversation)
        return
    await turn.tx.save_caucus(seat_id, conversation)
    await turn.reply(Reply.of(receipt), key_id=await turn.tx.seat_key_id(seat_id))
    await show_step(turn, seat_id, conversation)
    await _erase_answer(turn)


async def _erase_answer(turn: Turn) -> None:
    if turn.sensitive:
        await turn.erase_answer(None)


async def party_button(turn: Turn, seat_id: str, action: str, argument: str, message_id: int | None) -> None:
    """A button of the caucus: fire the step's trigger, store, and show what comes next."""
    await _mark_sensitive(turn, seat_id)
    if action in {"forget_yes", "forget_no"}:
        await _answer_forget(turn, seat_id, confirmed=action == "forget_yes")
        return
    conversation = await turn.tx.load_caucus(seat_id)
    was_submitted = conversation.step is CaucusStep.SUBMITTED
    if action in {"item", "full", "page"}:
        await _show_review(turn, seat_id, conversation, action, argument, message_id=message_id)
        return
    if action in _RESTRICT:
        await _restrict(turn, seat_id, conversation, action, argument, message_id=message_id)
        return
    _apply(conversation, action, argument)
    if action == "lang":
        await turn.tx.set_language(turn.user_id, argument)
        await turn.reload_user()
    await turn.tx.save_caucus(seat_id, conversation)
    if action == "share":
        await _show_review(turn, seat_id, conversation, "item", argument.rsplit(":", 1)[0], message_id=message_id)
        return
    if conversation.step is CaucusStep.SUBMITTED and not was_submitted:
        await _erase_answer(turn)  # the answers are in: the review screens leave the chat
        # First: the last submission closes the caucus, and the party's screen must say what is still possible.
        await _announce_submission(turn, seat_id)
    stays = action in _IN_PLACE and conversation.step in {
        CaucusStep.INTEREST_CATEGORIES, CaucusStep.RANKING, CaucusStep.POINTS, CaucusStep.RATING}
    await show_step(turn, seat_id, conversation, edit=message_id if stays else None)


def _apply(conversation: CaucusConversation, action: str, argument: str) -> None:
    """Turn a button into the domain call it stands for."""
    simple = {
        "consent": conversation.consent, "decline": conversation.decline, "reconsider": conversation.reconsider,
        "cats_done": conversation.confirm_categories, "skip_options": conversation.skip_options,
        "suggest": conversation.suggest_option, "cancel_suggest": conversation.cancel_suggestion,
        "restart_prio": conversation.restart_priorities, "keep": conversation.keep_answer,
        "submit": conversation.request_submit, "back": conversation.back_to_review,
        "confirm_submit": conversation.submit,
    }
    if action in simple:
        simple[action]()
    elif action == "lang":
        conversation.choose_language(argument)
    elif action == "cat":
        category, chosen = argument.split(":")
        conversation.choose_category(InterestCategory(category), chosen=chosen == "1")
    elif action == "rate":
        option_id, rating = argument.split(":")
        conversation.rate_option(option_id, Rating(rating))
    elif action == "rank":
        conversation.rank_issue(argument)
    elif action == "skip_optional":
        conversation.answer_optional(None)
    elif action == "share":
        item, level = argument.rsplit(":", 1)
        conversation.set_share_level(ItemKey.decode(item), ShareLevel(level))
    elif action == "edit":
        conversation.edit(ItemKey.decode(argument))
    else:
        raise ValueError(f"unknown caucus action {action!r}")


async def _show_review(
    turn: Turn, seat_id: str, conversation: CaucusConversation, action: str, argument: str, *, message_id: int | None,
) -> None:
    """Redraw the review screen in place: a page of items, or one item (in full on request)."""
    if conversation.step is not CaucusStep.REVIEW:
        raise ValueError("review buttons only exist on the review screen")
    if action == "page":
        reply = caucus_views.review_page(conversation, int(argument))
    else:
        key = ItemKey.decode(argument)
        reply = (caucus_views.review_item(conversation, key, full=action == "full") if key in conversation.items()
                 else caucus_views.review_page(conversation))  # the mediator removed what this item was about
    await turn.reply(reply, scope=await _scope(turn, seat_id), key_id=await turn.tx.seat_key_id(seat_id),
                     edit=message_id)


async def _restrict(
    turn: Turn, seat_id: str, conversation: CaucusConversation, action: str, argument: str, *, message_id: int | None,
) -> None:
    """After submission: make answers more private, until the joint session; the screen is redrawn in place."""
    if conversation.step is not CaucusStep.SUBMITTED:
        raise StepMismatch("share levels are lowered this way only after submission")
    if action == "restrict_done":
        await show_step(turn, seat_id, conversation, edit=message_id)
        return
    if not await _shares_open(turn, seat_id):
        raise InvalidInput("shares_closed")
    if action == "restrict_page":
        reply = caucus_views.restrict_page(conversation, int(argument))
    elif action == "restrict_item":
        key = ItemKey.decode(argument)
        if key not in conversation.answers.answered(conversation.issues, conversation.mode):
            raise StepMismatch("no such item")
        reply = caucus_views.restrict_item(conversation, key)
    else:
        item, level = argument.rsplit(":", 1)
        key, new_level = ItemKey.decode(item), ShareLevel(level)
        conversation.make_more_private(key, new_level)
        await turn.tx.save_caucus(seat_id, conversation)
        page = conversation.answers.answered(conversation.issues, conversation.mode).index(key) // \
            caucus_views.REVIEW_PAGE_ITEMS
        reply = caucus_views.restrict_page(conversation, page, receipt=_(
            "Saved: {item} is now {level}.", item=item_name(key, conversation.issues), level=LEVEL_NAMES[new_level]))
    await turn.reply(reply, scope=await _scope(turn, seat_id), key_id=await turn.tx.seat_key_id(seat_id),
                     edit=message_id)


async def _announce_submission(turn: Turn, seat_id: str) -> None:
    case_id = await turn.tx.seat_case_id(seat_id)
    await announce_progress(turn, case_id, _(
        "{party} has submitted.", party=user_text(await turn.tx.seat_label(seat_id))))


async def announce_progress(turn: Turn, case_id: str, event: Text) -> None:
    """Tell the mediators what happened and how many parties have submitted; close the caucus when all have."""
    info = await turn.tx.case_info(case_id)
    active = [seat for seat in await turn.tx.seat_statuses(case_id) if not seat.withdrawn]
    submitted = sum(seat.submitted for seat in active)
    lines: list[Text | str] = [event, _("Case {case}: {count} of {total} parties have submitted.",
                                        case=info.short_id, count=submitted, total=len(active))]
    if active and submitted == len(active) and info.stage == "caucus":
        await turn.tx.advance_case(case_id, "all_submitted")
        lines.append(_("Every party of case {case} has submitted. /summary {case} shows what they shared with you.",
                       case=info.short_id))
    await notify_mediators(turn, case_id, Reply.of(*lines))


async def notify_mediators(turn: Turn, case_id: str, reply: Reply, *, scope: Scope | None = None) -> None:
    """Tell every mediator of the case, each in their own language."""
    await Courier(turn.tx).notify_mediators(turn.runtime, case_id, reply, scope=scope)


# Suggestions and notes -----------------------------------------------------------------------------
async def _send_suggestion(turn: Turn, seat_id: str, issue_id: str, issue_title: str, text: str) -> None:
    suggestion_id = await turn.tx.add_suggestion(seat_id, issue_id, text)
    case_id = await turn.tx.seat_case_id(seat_id)
    reply = Reply.of(
        _("{party} suggests an option for {issue}:", party=user_text(await turn.tx.seat_label(seat_id)),
          issue=user_text(issue_title)),
        Layout("<i>{text}</i>", params={"text": user_text(text)}),
        buttons=[[ButtonSpec(_("➕ Add it to the options"), "suggestion_add", case_id),
                  ButtonSpec(_("Dismiss"), "suggestion_dismiss", case_id)]],
    )
    await notify_mediators(turn, case_id, reply, scope=Scope("sugg", suggestion_id, 0))


async def ask_note(turn: Turn, seat_id: str, text: str) -> None:
    """/note [text]: send the mediator a private note now, or after the next message."""
    if text.strip():
        await _deliver_note(turn, seat_id, text)
        return
    await turn.tx.set_pending(turn.user_id, "note")
    await turn.reply(Reply.of(_("Write your note to the mediator in your next message. "
                                "Only the mediator reads it. /cancel to cancel.")))


async def _deliver_note(turn: Turn, seat_id: str, raw: str) -> None:
    text = clean_text(raw)
    await turn.tx.add_note(seat_id, text)
    await turn.tx.set_pending(turn.user_id, None)
    case_id = await turn.tx.seat_case_id(seat_id)
    info = await turn.tx.case_info(case_id)
    await notify_mediators(turn, case_id, Reply.of(
        _("Private note from {party} (case {case}):", party=user_text(await turn.tx.seat_label(seat_id)),
          case=info.short_id),
        Layout("<i>{text}</i>", params={"text": user_text(text)}),
    ))
    await turn.reply(Reply.of(_("Your note was sent to the mediator.")))


# Withdrawal ------------------------------------------------------------------------------------------
async def ask_forget(turn: Turn, seat_id: str) -> None:
    """/forget: ask before erasing anything."""
    await turn.reply(Reply.of(
        _("<b>Withdraw and erase your answers?</b>"),
        _("Everything you answered in this case will be erased for good: nobody can recover it, not even the "
          "mediator. Notes and suggestions you already sent stay with the mediator. The mediator is told only "
          "that you withdrew."),
        buttons=[[ButtonSpec(_("Yes, withdraw and erase"), "forget_yes"),
                  ButtonSpec(_("No, keep my answers"), "forget_no")]],
    ), scope=await _scope(turn, seat_id))


async def _answer_forget(turn: Turn, seat_id: str, *, confirmed: bool) -> None:
    if not confirmed:
        await turn.reply(Reply.of(_("Nothing was erased.")))
        await show_step(turn, seat_id, await turn.tx.load_caucus(seat_id))
        return
    conversation = await turn.tx.load_caucus(seat_id)
    conversation.withdraw()
    case_id = await turn.tx.seat_case_id(seat_id)
    label = await turn.tx.seat_label(seat_id)
    # The caucus leaves the chat too, as far as Telegram still allows (messages under 48 hours old).
    await turn.tx.erase_from_chat(turn.chat_id, None, key_id=None)
    turn.sensitive = False
    await turn.tx.withdraw_seat(seat_id)
    await after_withdrawal(turn, case_id, seat_id)
    await turn.tx.set_active(turn.user_id, None, None)
    await turn.tx.set_pending(turn.user_id, None)
    await turn.reply(Reply.of(_("You have withdrawn from this case, and your answers were erased. "
                                "Thank you for your time.")))
    await announce_progress(turn, case_id, _("{party} has withdrawn from the case.", party=user_text(label)))


async def show_history(turn: Turn) -> None:
    """/history: the events about this party's answers (joined, sent, shared with whom), from the audit trail."""
    seat_id = turn.user.active_id if turn.user.active_kind == "seat" else None
    if not seat_id:
        await turn.reply(Reply.of(_("You are not taking part in a case here, so there is no history to show.")))
        return
    await _mark_sensitive(turn, seat_id)
    info = await turn.tx.case_info(await turn.tx.seat_case_id(seat_id))
    events = await turn.tx.audit_events_of_seat(seat_id)
    zone = turn.user.timezone or info.timezone
    await turn.reply(caucus_views.history_view(events, await turn.tx.issues(info.id), zone),
                     key_id=await turn.tx.seat_key_id(seat_id))
