"""From Telegram update to committed transaction: routing, de-duplication, stale buttons, errors.

Every handler runs inside `CaucusHandlers.handle`: one transaction that first claims the
update id (a redelivered update stops there), then runs the handler, queues the replies in
the outbox, and commits. Only after the commit is anything sent or acknowledged.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import agreements, commitments, common, grievance, mediator, party, triage, views
from bot.i18n import Text, _, plain, translator
from bot.replies import Reply
from bot.turn import Runtime, Turn, join_scope
from flows.errors import InvalidInput, StepMismatch
from storage.repository import ButtonMeaning

__all__ = ["CaucusHandlers"]

logger = logging.getLogger(__name__)

Handler = Callable[[Turn, list[str]], Awaitable[None]]

_STALE = _("This button is no longer valid. Please use the buttons of the latest message.")
_FAILED = _("Sorry, something went wrong and nothing was changed. Please try again.")
# Button data the bot hands out (`secrets.token_urlsafe`): anything else was never issued, so it is not looked up.
_BUTTON_DATA = re.compile(r"[A-Za-z0-9_-]{1,64}")
# What no lookup can take (NUL, other controls, lone surrogates: UTF-8 cannot even encode those).
_UNUSABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _usable_args(args: list[str]) -> list[str]:
    """Command arguments with unusable characters replaced by U+FFFD: such an argument then names no invite, case
    or report, and gets the usual "not found" answer instead of failing the update."""
    return [_UNUSABLE.sub("\ufffd", arg) for arg in args]


def _no_args(handler: Callable[[Turn], Awaitable[None]]) -> Handler:
    async def wrapped(turn: Turn, _args: list[str]) -> None:
        await handler(turn)

    return wrapped


class CaucusHandlers:
    """The bot's PTB handlers, all running through one transactional wrapper."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # Updates that could not be committed at all: the fetch loop must not confirm them.
        self.unacknowledged: set[int] = set()

    def install(self, application: Application) -> None:  # type: ignore[type-arg]
        private = filters.ChatType.PRIVATE
        commands: dict[str, Handler] = {
            "start": common.start,
            "newcase": _no_args(mediator.new_case),
            "cases": mediator.list_cases,
            "status": mediator.show_status,
            "summary": mediator.show_summary,
            "help": _no_args(common.help_text),
            "privacy": _no_args(common.privacy),
            "pause": _no_args(common.pause),
            "resume": _no_args(self._resume),
            "language": _no_args(common.show_language_menu),
            "note": _no_args(self._note),
            "forget": _no_args(common.forget),
            "cancel": _no_args(common.cancel),
            "timezone": common.timezone,
            "quickexit": _no_args(common.quick_exit),
            "history": _no_args(party.show_history),
            "commitments": _no_args(commitments.show_commitments),
            "grievance": _no_args(grievance.start_grievance),
            "track": grievance.track,
            "grievances": triage.show_grievances,
        }
        handlers: list[BaseHandler] = [  # type: ignore[type-arg]
            CommandHandler(name, self._wrap(handler), filters=private & filters.UpdateType.MESSAGE)
            for name, handler in commands.items()
        ]
        handlers += [
            CallbackQueryHandler(self._wrap(self._button)),
            MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, self._wrap(_no_args(self._edited))),
            MessageHandler(private & filters.COMMAND, self._wrap(_no_args(self._unknown_command))),
            MessageHandler(private & filters.TEXT, self._wrap(self._text)),
            MessageHandler(private & filters.UpdateType.MESSAGE, self._wrap(_no_args(self._not_text))),
            MessageHandler(~private, self._leave_group),
            ChatMemberHandler(self._leave_group, ChatMemberHandler.MY_CHAT_MEMBER),
        ]
        application.add_handlers(handlers)
        application.add_error_handler(self._on_error)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log failures outside our handlers by type only (PTB would log the update's content)."""
        logger.error("error outside a handler: %s", type(context.error).__name__)

    def _wrap(self, handler: Handler) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
        async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await self.handle(update, handler, _usable_args(list(context.args or [])))

        return callback

    async def handle(self, update: Update, handler: Handler, args: list[str]) -> None:
        """Run ``handler`` for ``update`` in one transaction; then answer a pressed button."""
        toast: Text | None = None
        try:
            async with self.runtime.store.transaction(update.update_id) as tx:
                if tx is None:
                    return  # seen before: it changed state once already
                turn = Turn(self.runtime, tx, update, await tx.user(_user_id(update)))
                # The person wrote: they can be written to again, and /quickexit can delete what they sent.
                await tx.note_incoming(turn.chat_id, update.message.message_id if update.message else None)
                if turn.user.language is None and self.runtime.is_mediator(turn.user_id):
                    # Mediators also get notices outside their own updates (a party joined, submitted):
                    # those need a stored language, so the one their Telegram app suggests is kept at first contact.
                    await tx.set_language(turn.user_id, turn.language)
                    await turn.reload_user()
                try:
                    async with tx.savepoint():  # a refusal midway keeps none of the handler's writes
                        await handler(turn, args)
                except InvalidInput as refusal:
                    await turn.reload_user()
                    await turn.reply(Reply.of(views.invalid_input(refusal.reason, refusal.details)))
                    turn.toast = views.invalid_input(refusal.reason, refusal.details)
                except StepMismatch:
                    await turn.reload_user()
                    turn.toast = _STALE
                    if update.callback_query is None:
                        await turn.reply(Reply.of(_("That is not possible at this step.")))
                toast = turn.toast
                language = turn.language
        except Exception as error:  # noqa: BLE001 - any failure must still leave the user an answer
            self._log_failure(update, error)
            await self._record_failure(update)
            return
        await self._answer_button(update, toast, language)

    @staticmethod
    def _log_failure(update: Update, error: Exception) -> None:
        # Only the exception type and where it happened: messages may quote what a person typed.
        where = traceback.extract_tb(error.__traceback__)
        frames = " <- ".join(f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" for frame in reversed(where[-6:]))
        logger.error("update %s failed: %s at %s", update.update_id, type(error).__name__, frames)

    async def _record_failure(self, update: Update) -> None:
        """Mark the update handled (no retry storm) and tell the user nothing changed."""
        try:
            async with self.runtime.store.transaction(update.update_id) as tx:
                if tx is None or update.effective_user is None:
                    return
                turn = Turn(self.runtime, tx, update, await tx.user(update.effective_user.id))
                await turn.reply(Reply.of(_FAILED))
                language = turn.language
        except Exception as error:  # noqa: BLE001 - the database itself is failing
            # No traceback: exception messages may carry SQL parameters. The update stays
            # unacknowledged so that it is fetched and handled again once the database answers.
            logger.error(  # noqa: TRY400
                "could not record failed update %s: %s", update.update_id, type(error).__name__
            )
            self.unacknowledged.add(update.update_id)
            return
        await self._answer_button(update, _FAILED, language)

    async def _answer_button(self, update: Update, toast: Text | None, language: str) -> None:
        query = update.callback_query
        if query is None:
            return
        text = None if toast is None else plain(translator(language).render(toast))
        try:
            await query.answer(text[:200] if text else None)
        except TelegramError as error:  # too old or already answered: the user sees no spinner anyway
            logger.info("callback answer not delivered: %s", type(error).__name__)

    # Handlers -----------------------------------------------------------------------------------
    async def _resume(self, turn: Turn) -> None:
        if not await common.resume(turn):
            await turn.reply(Reply.of(_("There is nothing to resume. If a mediator invited you, "
                                        "please open the link they gave you.")))

    async def _note(self, turn: Turn) -> None:
        message = turn.update.effective_message
        text = message.text if message is not None and message.text is not None else ""
        # Everything after the command, line breaks included (the parsed args would lose them).
        parts = text.split(maxsplit=1)
        await common.note(turn, parts[1] if len(parts) > 1 else "")

    async def _text(self, turn: Turn, _args: list[str]) -> None:
        message = turn.update.effective_message
        text = message.text if message is not None and message.text is not None else ""
        active_id = turn.user.active_id
        is_mediator = turn.runtime.is_mediator(turn.user_id)
        commenting = agreements.commenting_on(turn)  # a party's comment under way: on an agreement or a commitment
        if turn.user.pending == "tz":
            await common.timezone_text(turn, text)
        elif commenting is not None and commenting[0] == "agr":
            await agreements.comment_text(turn, text)
        elif (commenting is not None and commenting[0] == "cmt") or (
                turn.user.active_kind == "mon" and (turn.user.pending or "").startswith("obs:")):
            await commitments.commitment_text(turn, text)
        elif turn.user.active_kind == "seat" and active_id:
            await party.party_text(turn, active_id, text)
        elif turn.user.active_kind == "griev" and active_id:
            await grievance.grievance_text(turn, active_id, text)
        elif turn.user.active_kind == "triage" and turn.runtime.is_triage(turn.user_id):
            await triage.triage_text(turn, text)
        elif turn.user.active_kind == "setup" and active_id and is_mediator:
            await mediator.draft_text(turn, active_id, text)
        elif turn.user.active_kind == "case" and active_id and is_mediator:
            await mediator.case_text(turn, active_id, text)
        else:
            await turn.reply(Reply.of(_("I was not expecting a message now. /help lists what you can do.")))

    async def _button(self, turn: Turn, _args: list[str]) -> None:
        query = turn.update.callback_query
        assert query is not None  # noqa: S101 - only registered for callback queries
        data = query.data or ""
        meaning = await turn.tx.resolve_button(data) if _BUTTON_DATA.fullmatch(data) else None
        if meaning is None or meaning.user_hash != turn.user.user_hash or not await self._is_current(turn, meaning):
            turn.toast = _STALE
            return
        message_id = query.message.message_id if query.message is not None else None
        owner, action, argument = meaning.owner_id, meaning.action, meaning.argument
        if meaning.scope == "seat":
            await turn.tx.set_active(turn.user_id, "seat", owner)
            await party.party_button(turn, owner, action, argument, message_id)
        elif meaning.scope == "agr":
            await agreements.party_agreement_button(turn, owner, action)
        elif meaning.scope == "cmt":
            await commitments.commitment_button(turn, owner, action, argument)
        elif meaning.scope == "mon":
            await commitments.monitor_button(turn, owner, action, argument)
        elif meaning.scope == "grv":
            await turn.tx.set_active(turn.user_id, "griev", owner)
            await grievance.grievance_button(turn, owner, action, argument)
        elif meaning.scope in {"tri", "trg"}:
            if not turn.runtime.is_triage(turn.user_id):
                turn.toast = _STALE
                return
            await triage.triage_button(turn, owner, action, argument, message_id)
        elif not turn.runtime.is_mediator(turn.user_id) and meaning.scope in {"case", "join", "sugg"}:
            turn.toast = _STALE
        elif meaning.scope == "case" and await turn.tx.is_case_mediator(owner, turn.user_id):
            await mediator.case_button(turn, owner, action, argument, message_id)
        elif meaning.scope == "join":
            await mediator.join_button(turn, owner, action, message_id)
        elif meaning.scope == "sugg" and await turn.tx.is_case_mediator(argument, turn.user_id):
            await mediator.suggestion_button(turn, owner, argument, action, message_id)
        elif meaning.scope == "user" and action == "tz_reset":
            await common.reset_timezone(turn)
        elif meaning.scope == "user" and action == "setlang":
            await common.choose_language(turn, argument)
        elif meaning.scope == "user" and action == "open_case":
            await mediator.open_case(turn, argument)
        else:
            turn.toast = _STALE

    async def _is_current(self, turn: Turn, meaning: ButtonMeaning) -> bool:
        """A button is valid only for the version of the conversation it was drawn for."""
        if meaning.scope == "seat":
            return await turn.tx.seat_version(meaning.owner_id) == meaning.version
        if meaning.scope == "case":
            return await turn.tx.case_version(meaning.owner_id) == meaning.version
        if meaning.scope == "join":
            return (await join_scope(turn.tx, meaning.owner_id)).version == meaning.version
        if meaning.scope == "agr":  # a party's buttons on a version, while it is the current one
            return await turn.tx.agreement_version(meaning.owner_id) == meaning.version
        if meaning.scope == "cmt":  # about a commitment, until its next report
            return await turn.tx.commitment_version(meaning.owner_id) == meaning.version
        if meaning.scope == "mon":
            return await turn.tx.monitor_version(meaning.owner_id) == meaning.version
        if meaning.scope == "grv" or (meaning.scope == "tri" and meaning.owner_id != "list"):
            return await turn.tx.grievance_version(meaning.owner_id) == meaning.version
        if meaning.scope in {"tri", "trg"}:  # the list, and groups: what they name is checked when pressed
            return True
        if meaning.scope == "sugg":  # valid while the suggestion waits for a decision
            suggestion = await turn.tx.suggestion(meaning.argument, meaning.owner_id)
            return suggestion is not None and suggestion.status == "pending"
        return turn.user.version == meaning.version

    async def _edited(self, turn: Turn) -> None:
        await turn.reply(Reply.of(_("Edited messages are not read. "
                                    "If you want to change an answer, please send it again as a new message.")))

    async def _unknown_command(self, turn: Turn) -> None:
        await turn.reply(Reply.of(_("I do not know that command. /help lists what you can do.")))

    async def _not_text(self, turn: Turn) -> None:
        await turn.reply(Reply.of(_("I can only read text messages here. Please type your answer.")))
        await common.resume(turn)

    async def _leave_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Caucus works only in private chats: leave any group it is added to."""
        chat = update.effective_chat
        if chat is not None and chat.type != "private":
            try:
                await context.bot.leave_chat(chat.id)
            except TelegramError as error:
                logger.info("could not leave a group: %s", type(error).__name__)


def _user_id(update: Update) -> int:
    if update.effective_user is None:
        raise ValueError("update without a sender")
    return update.effective_user.id

