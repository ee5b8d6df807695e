"""Commands for everyone at any step: /start, /help, /privacy, /pause, /resume, /language."""

from __future__ import annotations

from bot import commitments, mediator
from bot.formats import Moment
from bot.grievance import DEEP_LINK, show_grievance_step, start_grievance
from bot.i18n import LANGUAGES, Text, _
from bot.party import ask_forget, ask_note, open_invite, show_step
from bot.replies import ButtonSpec, Reply
from bot.turn import Scope, Turn
from bot.views import language_buttons
from flows.case import parse_timezone

__all__ = [
    "cancel",
    "choose_language",
    "forget",
    "help_text",
    "note",
    "pause",
    "privacy",
    "quick_exit",
    "reset_timezone",
    "resume",
    "show_language_menu",
    "start",
    "timezone",
    "timezone_text",
]

_PRIVACY = (
    _("<b>Privacy</b>"),
    _("• What is stored: your answers, your language and your progress; everything you type is stored "
      "encrypted. Your Telegram id is stored only as a keyed fingerprint."),
    _("• Who sees what: each answer is seen only by those you chose on the review screen: nobody, the "
      "mediator, or all parties in the joint session. Other parties never learn who you are on Telegram."),
    _("• Numbers you give as your acceptable range are always private: the mediator learns only whether "
      "the parties' ranges overlap, and no party learns anything from them."),
    _("• Telegram can read bot chats: do not write what you could not accept Telegram seeing."),
    _("• /forget withdraws you from the case and erases your answers for good (the mediator is told only "
      "that you withdrew)."),
    _("• Unless your mediator turned it off, your answers and the questions are deleted from this chat once "
      "saved. /quickexit deletes every message of this chat the bot still can (Telegram allows it for 48 hours) "
      "and leaves one ordinary message. /history shows what happened to your answers: who received which, "
      "and when."),
    _("• Agreements: your answer to an agreement, and any comment, go to the mediators only. What you report on "
      "a commitment you made is seen by the mediators and the other parties, who may confirm or dispute it; a "
      "comment with it, and their answers, only by the mediators. Monitors see the commitments and their state, "
      "never your answers."),
    _("• Grievances: what you report is stored encrypted and read only by the team handling grievances. If you "
      "report anonymously, the team never learns your name or Telegram account; the bot keeps only what it needs "
      "to send you their answers, and erases it when the report is closed."),
)


async def resume(turn: Turn) -> bool:
    """Show again the step the user was at; False when there is nothing to resume."""
    if turn.user.active_kind == "seat" and turn.user.active_id:
        await show_step(turn, turn.user.active_id, await turn.tx.load_caucus(turn.user.active_id))
        return True
    if turn.user.active_kind == "setup" and turn.user.active_id:
        await mediator.show_draft(turn, turn.user.active_id)
        return True
    if turn.user.active_kind == "case" and turn.user.active_id:
        await mediator.show_menu(turn, turn.user.active_id)
        return True
    if turn.user.active_kind == "griev" and turn.user.active_id:
        await show_grievance_step(turn, turn.user.active_id)
        return True
    if turn.user.active_kind == "mon" and turn.user.active_id:
        await commitments.show_commitments(turn)
        return True
    if await commitments.leave_comment(turn):  # a comment was under way: the party's own conversation comes back
        return await resume(turn)
    return False


async def start(turn: Turn, args: list[str]) -> None:
    """/start [invite token]: join a case, or resume, or say what this bot is."""
    if args and args[0] == DEEP_LINK:
        await start_grievance(turn)
        return
    if args:
        if not await open_invite(turn, args[0]) and not await mediator.join_as_comediator(turn, args[0]) \
                and not await commitments.join_as_monitor(turn, args[0]):
            await turn.reply(Reply.of(_("This invitation link cannot be used. "
                                        "If you were invited, please ask your mediator for a new link.")))
        return
    if await resume(turn):
        return
    await turn.reply(Reply.of(await _welcome(turn)))


async def _welcome(turn: Turn) -> Text:
    if turn.runtime.is_mediator(turn.user_id):
        return _("Welcome, mediator. /newcase opens a case; /cases lists yours; /help lists everything.")
    return _("Welcome. This bot supports confidential mediation. If a mediator invited you, "
             "please open the link they gave you. To report a grievance, send /grievance.")


async def help_text(turn: Turn) -> None:
    """/help: what the user can do here."""
    lines = [_("<b>What you can do</b>")]
    if turn.runtime.is_mediator(turn.user_id):
        lines += [
            _("/newcase: open a new case (name, issues, parties), then get one invite link per party"),
            _("/cases [case]: your cases; each opens a menu: issues and options, invitations, deadline, "
              "time zone, co-mediators, rounds"),
            _("/status [case]: who has joined and how far each party is (never their answers)"),
            _("/summary [case]: shared interests, priorities and what each party allowed you to see"),
        ]
    else:
        lines += [
            _("/note: send the mediator a private note"),
            _("/history: what happened to your answers, and who received which"),
            _("/commitments: the commitments of your case's agreements; report on yours, or, as a monitor, send "
              "an observation"),
            _("/forget: withdraw from the case and erase your answers"),
        ]
    lines += [
        _("/grievance: report a grievance, anonymously if you wish"),
        _("/track [reference]: the status of a report you sent, and the team's answers"),
    ]
    if turn.runtime.is_triage(turn.user_id):
        lines.append(_("/grievances [reference]: the reports received, by status, urgency, category, place and "
                       "language; answer, refer, group, export"))
    lines += [
        _("/pause: stop for now; your answers so far are kept"),
        _("/resume: continue where you stopped"),
        _("/language: change the language"),
        _("/timezone: the time zone in which you read times and dates"),
        _("/privacy: what is stored and who sees what"),
        _("/quickexit: delete this conversation from your phone at once"),
        _("/cancel: cancel what you were typing (a note, an edit)"),
    ]
    await turn.reply(Reply.of(*lines))


async def privacy(turn: Turn) -> None:
    """/privacy: what is stored and who sees what."""
    await turn.reply(Reply.of(*_PRIVACY))


async def quick_exit(turn: Turn) -> None:
    """/quickexit: delete every message of this chat the bot still can, and leave one ordinary message."""
    message = turn.update.effective_message
    await turn.tx.quick_exit(turn.chat_id, message.message_id if message is not None else None)
    # Nothing of the conversation is redrawn; /resume brings it back when the person is ready.
    await turn.tx.set_pending(turn.user_id, None)
    await turn.reply(Reply.of(_("Hello! Send /help to see what this bot can do.")))


async def pause(turn: Turn) -> None:
    """/pause: nothing to store, every answer is saved as it is given; say so."""
    await turn.reply(Reply.of(_("Paused. Everything you answered so far is saved. "
                                "Send /resume whenever you want to continue.")))


async def show_language_menu(turn: Turn) -> None:
    """/language: the languages, on buttons."""
    await turn.reply(
        Reply.of(_("Choose your language."),
                 buttons=language_buttons(LANGUAGES, "setlang")),
        scope=Scope("user", turn.user.user_hash, turn.user.version),
    )


async def choose_language(turn: Turn, language: str) -> None:
    """A language button of /language."""
    if language not in LANGUAGES:
        raise ValueError("unknown language")
    await turn.tx.set_language(turn.user_id, language)
    await turn.reload_user()
    # TRANSLATORS: name your own language here: this confirms the switch to it.
    await turn.reply(Reply.of(_("From now on I will write to you in English.")))
    await resume(turn)


async def note(turn: Turn, text: str) -> None:
    """/note [text]: a private note to the mediator, for parties."""
    if turn.user.active_kind == "seat" and turn.user.active_id:
        await ask_note(turn, turn.user.active_id, text)
    else:
        await turn.reply(Reply.of(_("/note is for parties: it sends your mediator a private note "
                                    "once you have joined a case.")))


async def forget(turn: Turn) -> None:
    """/forget: withdraw and erase, after confirmation (a monitor: stop monitoring and erase its observations)."""
    if await commitments.forget_monitor(turn):
        return
    await commitments.leave_comment(turn)
    if turn.user.active_kind == "seat" and turn.user.active_id:
        await ask_forget(turn, turn.user.active_id)
    else:
        await turn.reply(Reply.of(_("You are not taking part in a case here, so there is nothing to erase.")))


async def cancel(turn: Turn) -> None:
    """/cancel: drop what the bot was waiting for (a note, a case edit)."""
    if turn.user.pending is None:
        await turn.reply(Reply.of(_("There is nothing to cancel.")))
        return
    await turn.tx.set_pending(turn.user_id, None)
    if turn.user.active_kind in {"case", "triage"}:
        await turn.tx.set_active(turn.user_id, None, None)
    await turn.reply(Reply.of(_("Cancelled.")))
    await turn.reload_user()
    await resume(turn)


async def timezone(turn: Turn, args: list[str]) -> None:
    """/timezone [name]: the time zone this person reads times in (deadlines, reminders, report dates)."""
    if args:
        await _set_timezone(turn, parse_timezone(" ".join(args)))
        return
    current = turn.user.timezone
    await turn.tx.set_pending(turn.user_id, "tz")
    lines: list[Text | str] = [
        _("Your time zone: {zone}.", zone=current) if current else
        _("You have not chosen a time zone: times are shown in the case's time zone, or in UTC."),
        _("Send your time zone, for example Africa/Nairobi, Europe/Kyiv or America/Bogota, or /cancel."),
    ]
    buttons = [[ButtonSpec(_("Use the default"), "tz_reset")]] if current else None
    await turn.reply(Reply.of(*lines, buttons=buttons), scope=Scope("user", turn.user.user_hash, turn.user.version))


async def timezone_text(turn: Turn, text: str) -> None:
    """The time zone typed after /timezone asked for it."""
    await _set_timezone(turn, parse_timezone(text))


async def reset_timezone(turn: Turn) -> None:
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_user_timezone(turn.user_id, None)
    await turn.reply(Reply.of(_("Times are shown in the case's time zone again, or in UTC.")))


async def _set_timezone(turn: Turn, zone: str) -> None:
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_user_timezone(turn.user_id, zone)
    await turn.reply(Reply.of(_("From now on I show times in {zone}. It is now {now}.", zone=zone,
                                now=Moment(turn.runtime.clock(), zone))))
    await turn.reload_user()
    await resume(turn)
