"""Agreements: the mediator drafts the text agreed in a joint session (with translations and commitments) and
sends it; each party confirms it in private, asks for a change (a comment only the mediators read) or declines.
A changed text is a new version that every party confirms anew. Every step enters the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot import agreement_views
from bot.i18n import LANGUAGES, Text, _, ngettext, user_text
from bot.replies import ButtonSpec, Reply
from bot.summary_views import LanguageName, quote
from bot.turn import Courier, Scope, Turn
from bot.views import LANGUAGES_PER_ROW
from flows import case as case_rules
from flows.agreement import MAX_COMMITMENTS, Agreement, Commitment, clean_commitment_text
from flows.caucus import SUPPORTED_LANGUAGES
from flows.errors import InvalidInput, StepMismatch
from flows.machines import AgreementStatus, CaseStage, CommitmentStatus, ResponseStatus
from flows.model import CaseInfo
from flows.text import MAX_LABEL_CHARS, clean_line
from storage.repository import Transaction
from storage.tables import new_id

__all__ = [
    "AGREEMENT_ACTIONS",
    "AGREEMENT_BUTTONS",
    "CHANGED_MEANWHILE",
    "COMMENT_PENDING",
    "after_join",
    "after_withdrawal",
    "agreement_text",
    "begin_comment",
    "case_agreement_button",
    "case_labels",
    "comment_text",
    "commenting_on",
    "end_comment",
    "party_agreement_button",
]

# Stages after which agreements are drafted: a joint session has been prepared at least once.
_DRAFTING_STAGES = frozenset({CaseStage.JOINT, CaseStage.AGREEMENT, CaseStage.MONITORING})
# Pending actions (what the mediator's next text is for) handled here.
AGREEMENT_ACTIONS = frozenset({"agr_new", "agr_reword", "agr_revise", "agr_tr", "cmt", "mon_new"})
COMMENT_PENDING = "agr_comment"
CHANGED_MEANWHILE = _("This is no longer possible: it changed while you were writing. Nothing was recorded.")

_ANSWERED: dict[str, Text] = {
    "confirm": _("Thank you: your confirmation of version {version} of agreement {number} is recorded."),
    "decline": _("Your answer is recorded: you decline version {version} of agreement {number}. The mediator is "
                 "told. You can still confirm this version later with its button."),
}
_TOLD: dict[str, Text] = {
    "confirm": _("{party} confirmed agreement {number}, version {version}."),
    "decline": _("{party} declined agreement {number}, version {version}."),
}


def _scope(agreement: Agreement) -> Scope:
    """A party's buttons on a version stay valid while that version is the current one."""
    return Scope("agr", agreement.id, agreement.current.number)


async def case_labels(tx: Transaction, case_id: str) -> dict[str, str]:
    """What the mediators named the case's parties and monitors, by seat or monitor id."""
    labels = {seat.seat_id: seat.label for seat in await tx.seat_statuses(case_id)}
    labels.update({monitor.id: monitor.label for monitor in await tx.monitors(case_id)})
    return labels


async def _agreement(turn: Turn, case_id: str, agreement_id: str, *, lock: bool = False) -> Agreement:
    agreement = await turn.tx.agreement(case_id, agreement_id, lock=lock)
    if agreement is None:
        raise InvalidInput("gone")
    return agreement


async def _show(turn: Turn, case_id: str, reply: Reply, *, edit: int | None = None) -> None:
    """A mediator's screen whose buttons act on the case (checked against its version when pressed)."""
    await turn.reply(reply, scope=Scope("case", case_id, await turn.tx.case_version(case_id)),
                     key_id=await turn.tx.case_key_id(case_id), edit=edit)


# The mediator's screens ------------------------------------------------------------------------------
async def show_agreements(turn: Turn, case_id: str, *, edit: int | None = None) -> None:
    info = await turn.tx.case_info(case_id)
    labels = await case_labels(turn.tx, case_id)
    reply = agreement_views.agreements_view(
        info, await turn.tx.agreements(case_id), await turn.tx.commitments(case_id), labels,
        monitors=await turn.tx.monitors(case_id), can_draft=CaseStage(info.stage) in _DRAFTING_STAGES)
    await _show(turn, case_id, reply, edit=edit)


async def show_agreement(turn: Turn, case_id: str, agreement_id: str, *, edit: int | None = None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id)
    info = await turn.tx.case_info(case_id)
    reply = agreement_views.agreement_view(agreement, await turn.tx.commitments(case_id, agreement.id),
                                           await case_labels(turn.tx, case_id), turn.user.timezone or info.timezone)
    await _show(turn, case_id, reply, edit=edit)


async def _ask(turn: Turn, case_id: str, pending: str, prompt: Text, back: str = "") -> None:
    """Ask the mediator to type something; Cancel ends the question and goes back to the agreement ``back`` (or
    to the agreements when empty)."""
    await turn.tx.set_active(turn.user_id, "case", case_id)
    await turn.tx.set_pending(turn.user_id, pending)
    await _show(turn, case_id, Reply.of(prompt, buttons=[[ButtonSpec(_("Cancel"), "agr_back", back)]]))


async def _end_question(turn: Turn) -> None:
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_active(turn.user_id, None, None)


async def case_agreement_button(turn: Turn, case_id: str, action: str, argument: str, message_id: int | None,
                                ) -> None:
    """A button of the agreements screens (scope: the case, for its mediators). In a closed case they only show."""
    if action not in {"agreements", "agreement", "agr_back"} \
            and CaseStage((await turn.tx.case_info(case_id)).stage) is CaseStage.CLOSED:
        raise InvalidInput("case_closed")
    handler = _SCREENS.get(action)
    if handler is None:
        raise ValueError(f"unknown agreement action {action!r}")
    await handler(turn, case_id, argument, message_id)


async def _back(turn: Turn, case_id: str, argument: str, message_id: int | None) -> None:
    """Cancel of a question: it ends, and the agreement (or the list) shows again."""
    await _end_question(turn)
    if argument:
        await show_agreement(turn, case_id, argument, edit=message_id)
    else:
        await show_agreements(turn, case_id, edit=message_id)


async def _list(turn: Turn, case_id: str, _argument: str, message_id: int | None) -> None:
    await show_agreements(turn, case_id, edit=message_id)


async def _one(turn: Turn, case_id: str, argument: str, message_id: int | None) -> None:
    await show_agreement(turn, case_id, argument, edit=message_id)


async def _new(turn: Turn, case_id: str, _argument: str, _message_id: int | None) -> None:
    if CaseStage((await turn.tx.case_info(case_id)).stage) not in _DRAFTING_STAGES:
        raise InvalidInput("agreement_stage")
    await _ask(turn, case_id, "agr_new:", agreement_views.AGREEMENT_PROMPTS["agr_new"])


async def _ask_wording(turn: Turn, case_id: str, argument: str, _message_id: int | None, *, action: str) -> None:
    await _agreement(turn, case_id, argument)
    await _ask(turn, case_id, f"{action}:{argument}", agreement_views.AGREEMENT_PROMPTS[action], argument)


async def _reword(turn: Turn, case_id: str, argument: str, message_id: int | None) -> None:
    await _ask_wording(turn, case_id, argument, message_id, action="agr_reword")


async def _revise(turn: Turn, case_id: str, argument: str, message_id: int | None) -> None:
    await _ask_wording(turn, case_id, argument, message_id, action="agr_revise")


async def _ask_translation(turn: Turn, case_id: str, argument: str, _message_id: int | None) -> None:
    agreement_id, _sep, language = argument.partition(":")
    await _agreement(turn, case_id, agreement_id)
    if language not in SUPPORTED_LANGUAGES:
        raise InvalidInput("unknown_language")
    prompt = agreement_views.AGREEMENT_PROMPTS["agr_tr"]
    await _ask(turn, case_id, f"agr_tr:{agreement_id}:{language}",
               Text(prompt.msgid, params={"language": LanguageName(language)}), agreement_id)


async def _ask_monitor(turn: Turn, case_id: str, _argument: str, _message_id: int | None) -> None:
    await _ask(turn, case_id, "mon_new:", agreement_views.AGREEMENT_PROMPTS["mon_new"])


async def _ask_owner(turn: Turn, case_id: str, argument: str, _message_id: int | None) -> None:
    await _ask_commitment(turn, case_id, argument)


async def _confirm_abandon(turn: Turn, case_id: str, argument: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, argument)
    await _show(turn, case_id, Reply.of(
        _("Abandon agreement {number}? Parties who received it are told it no longer stands.",
          number=agreement.number),
        buttons=[[ButtonSpec(_("Yes"), "agr_abandon_yes", argument), ButtonSpec(_("Cancel"), "agreement", argument)]]),
        edit=message_id)


async def _confirm_remove_monitor(turn: Turn, case_id: str, argument: str, message_id: int | None) -> None:
    monitor = next((m for m in await turn.tx.monitors(case_id) if m.id == argument), None)
    if monitor is None:
        raise InvalidInput("gone")
    await _show(turn, case_id, Reply.of(
        _("Remove the monitor {monitor}? Its access ends, and the observations it sent are erased.",
          monitor=user_text(monitor.label)),
        buttons=[[ButtonSpec(_("Yes"), "mon_remove_yes", argument), ButtonSpec(_("Cancel"), "agreements")]]),
        edit=message_id)


async def _pick_translation(turn: Turn, case_id: str, agreement_id: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id)
    if agreement.status is not AgreementStatus.DRAFT:
        raise StepMismatch("a version already sent cannot change")
    codes = [code for code in SUPPORTED_LANGUAGES if code != agreement.current.language]
    buttons = [ButtonSpec(LANGUAGES[code], "agr_tr", f"{agreement.id}:{code}") for code in codes]
    rows = [buttons[start:start + LANGUAGES_PER_ROW] for start in range(0, len(buttons), LANGUAGES_PER_ROW)]
    rows.append([ButtonSpec(_("Cancel"), "agreement", agreement.id)])
    await _show(turn, case_id, Reply.of(_("Into which language? A translation given again replaces the earlier "
                                          "one."), buttons=rows), edit=message_id)


async def _pick_owner(turn: Turn, case_id: str, agreement_id: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id)
    if agreement.status is not AgreementStatus.DRAFT:
        raise StepMismatch("commitments change only with the text")
    if len(await turn.tx.commitments(case_id, agreement.id)) >= MAX_COMMITMENTS:
        raise InvalidInput("too_many_commitments", limit=MAX_COMMITMENTS)
    seats = [seat for seat in await turn.tx.seat_statuses(case_id) if not seat.withdrawn]
    rows = [[ButtonSpec(user_text(seat.label), "cmt_owner", f"{agreement.id}:{seat.seat_id}")] for seat in seats]
    rows.append([ButtonSpec(_("Cancel"), "agreement", agreement.id)])
    await _show(turn, case_id, Reply.of(_("Who commits to doing it?"), buttons=rows), edit=message_id)


async def _owner(turn: Turn, case_id: str, seat_id: str) -> str:
    """The label of the party chosen to own a commitment, if it still takes part (else InvalidInput "gone")."""
    for seat in await turn.tx.seat_statuses(case_id):
        if seat.seat_id == seat_id and not seat.withdrawn:
            return seat.label
    raise InvalidInput("gone")


async def _ask_commitment(turn: Turn, case_id: str, argument: str) -> None:
    agreement_id, _sep, seat_id = argument.partition(":")
    await _agreement(turn, case_id, agreement_id)
    label = await _owner(turn, case_id, seat_id)
    prompt = agreement_views.AGREEMENT_PROMPTS["cmt"]
    await _ask(turn, case_id, f"cmt:{agreement_id}:{seat_id}", Text(prompt.msgid, params={
        "party": user_text(label), "example": case_rules.deadline_example(turn.runtime.clock())}), agreement_id)


async def _remove_commitment(turn: Turn, case_id: str, commitment_id: str, message_id: int | None) -> None:
    commitment = await turn.tx.commitment(case_id, commitment_id, lock=True)
    if commitment is None:
        raise InvalidInput("gone")
    agreement = await _agreement(turn, case_id, commitment.agreement_id, lock=True)
    if agreement.status is not AgreementStatus.DRAFT or commitment.reports:
        raise StepMismatch("commitments change only with the text")
    await turn.tx.remove_commitment(case_id, commitment_id)
    await show_agreement(turn, case_id, agreement.id, edit=message_id)


async def _parties(turn: Turn, case_id: str) -> tuple[list[str], int]:
    """Every party of the case still taking part (all of them confirm an agreement), and how many have joined
    (they receive it now; the others when they join)."""
    seats = [seat for seat in await turn.tx.seat_statuses(case_id) if not seat.withdrawn]
    return [seat.seat_id for seat in seats], sum(seat.joined for seat in seats)


async def _confirm_send(turn: Turn, case_id: str, agreement_id: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id)
    parties, joined = await _parties(turn, case_id)
    if not joined:
        raise InvalidInput("no_parties")
    lines: list[Text | str] = [_(
        "Send version {version} of agreement {number} to the parties? Each receives it in private, in their language "
        "where you gave a translation, and confirms it, asks for a change or declines; it is confirmed once every "
        "party has confirmed it. The text cannot change afterwards except as a new version.",
        version=agreement.current.number, number=agreement.number)]
    if joined < len(parties):
        lines.append(ngettext("{count} party has not joined yet: it receives the agreement when it joins.",
                              "{count} parties have not joined yet: each receives the agreement when it joins.",
                              len(parties) - joined))
    await _show(turn, case_id, Reply.of(*lines, buttons=[[ButtonSpec(_("📨 Send"), "agr_send_yes", agreement.id),
                                                          ButtonSpec(_("Cancel"), "agreement", agreement.id)]]),
                edit=message_id)


async def _send(turn: Turn, case_id: str, agreement_id: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id, lock=True)
    parties, joined = await _parties(turn, case_id)
    if not joined:
        raise InvalidInput("no_parties")
    recipients = [seat for seat in parties if await turn.tx.party_contact(seat) is not None]
    agreement.circulate(parties, turn.runtime.clock())
    await turn.tx.save_agreement(case_id, agreement, event="agreement_sent", actor="mediator")
    await _send_to_parties(turn, await turn.tx.case_info(case_id), agreement)
    await turn.reply(Reply.of(_("Version {version} of agreement {number} was sent to {count} parties.",
                                version=agreement.current.number, number=agreement.number, count=len(recipients))),
                     edit=message_id)
    await show_agreement(turn, case_id, agreement.id)


async def _send_to_parties(turn: Turn, info: CaseInfo, agreement: Agreement, *, only: str | None = None) -> None:
    commitments = await turn.tx.commitments(info.id, agreement.id)
    labels = await case_labels(turn.tx, info.id)
    for seat_id in agreement.responses if only is None else [only]:
        contact = await turn.tx.party_contact(seat_id)
        if contact is None:
            continue
        reply = agreement_views.party_agreement(info, agreement, commitments, labels, contact.language or "en")
        await turn.send(contact.chat_id, contact.language, contact.user_hash, reply, scope=_scope(agreement),
                        key_id=await turn.tx.case_key_id(info.id), protect=True)


async def _abandon(turn: Turn, case_id: str, agreement_id: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id, lock=True)
    asked = [seat.seat_id for seat in await turn.tx.seat_statuses(case_id)
             if seat.joined and not seat.withdrawn] if agreement.sent else []
    agreement.abandon()
    await turn.tx.save_agreement(case_id, agreement, event="agreement_abandoned", actor="mediator")
    for seat_id in asked:
        contact = await turn.tx.party_contact(seat_id)
        if contact is not None:
            await turn.send(contact.chat_id, contact.language, contact.user_hash, Reply.of(_(
                "The mediator withdrew agreement {number}: it no longer stands, and no answer to it is needed.",
                number=agreement.number)), key_id=await turn.tx.case_key_id(case_id))
    await turn.reply(Reply.of(_("Agreement {number} is abandoned.", number=agreement.number)), edit=message_id)
    await show_agreements(turn, case_id)


# The mediator's typed text ---------------------------------------------------------------------------
async def agreement_text(turn: Turn, case_id: str, action: str, argument: str, text: str) -> None:
    """The text a pending agreement action asked for: a new agreement, a new wording, a translation, a
    commitment, a monitor. Refused input changes nothing and the question stands; a question overtaken meanwhile (a
    co-mediator sent the draft, the party left, the case closed) ends, with nothing recorded."""
    try:
        await _typed(turn, case_id, action, argument, text)
    except (StepMismatch, InvalidInput) as refusal:
        if isinstance(refusal, InvalidInput) and refusal.reason not in {"gone", "case_closed", "agreement_stage"}:
            raise
        await _end_question(turn)
        await turn.reply(Reply.of(CHANGED_MEANWHILE))
        await show_agreements(turn, case_id)


async def _typed(turn: Turn, case_id: str, action: str, argument: str, text: str) -> None:
    info = await turn.tx.case_info(case_id)
    if CaseStage(info.stage) is CaseStage.CLOSED:
        raise InvalidInput("case_closed")
    if action == "mon_new":
        await _invite_monitor(turn, info, text)
        return
    if action == "agr_new":
        if CaseStage(info.stage) not in _DRAFTING_STAGES:
            raise InvalidInput("agreement_stage")
        agreement = Agreement.draft(new_id(), await turn.tx.next_agreement_number(case_id), info.round, text,
                                    turn.language)
        await turn.tx.create_agreement(case_id, agreement)
        agreement_id = agreement.id
    elif action == "cmt":
        agreement_id, _sep, seat_id = argument.partition(":")
        await _add_commitment(turn, info, agreement_id, seat_id, text)
    else:
        agreement_id, _sep, language = argument.partition(":")
        agreement = await _agreement(turn, case_id, agreement_id, lock=True)
        if action == "agr_reword":
            agreement.reword(text)
            event = "agreement_drafted"
        elif action == "agr_revise":
            agreement.revise(text, agreement.current.language)
            event = "agreement_revised"
        else:
            agreement.add_translation(language, text)
            event = "agreement_drafted"
        await turn.tx.save_agreement(case_id, agreement, event=event, actor="mediator")
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_active(turn.user_id, None, None)
    await turn.reply(Reply.of(_("Saved.")))
    await show_agreement(turn, case_id, agreement_id)


async def _remove_monitor(turn: Turn, case_id: str, monitor_id: str, message_id: int | None) -> None:
    monitor = next((m for m in await turn.tx.monitors(case_id) if m.id == monitor_id), None)
    if monitor is None:
        raise InvalidInput("gone")
    contact = await turn.tx.monitor_contact(monitor_id)
    await turn.tx.remove_monitor(case_id, monitor_id, actor="mediator")
    if contact is not None:
        await turn.send(contact.chat_id, contact.language, contact.user_hash, Reply.of(_(
            "Your access to the commitments of this case has ended. Thank you for your work.")))
    await turn.reply(Reply.of(_("The monitor {monitor} is removed.", monitor=user_text(monitor.label))),
                     edit=message_id)
    await show_agreements(turn, case_id)


async def _invite_monitor(turn: Turn, info: CaseInfo, text: str) -> None:
    label = clean_line(text, max_chars=MAX_LABEL_CHARS)
    valid_for = turn.runtime.settings.invite_valid_for
    _monitor_id, token = await turn.tx.invite_monitor(info.id, label, valid_for)
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_active(turn.user_id, None, None)
    await turn.reply(Reply.of(ngettext(
        "Forward the next message to the monitor, privately. The link works once, for one Telegram account, and "
        "expires in {count} day. The monitor sees the commitments and their state, never the caucus.",
        "Forward the next message to the monitor, privately. The link works once, for one Telegram account, and "
        "expires in {count} days. The monitor sees the commitments and their state, never the caucus.",
        valid_for.days)))
    await turn.reply(Reply.of(_("Invitation for {party}: {link}", party=user_text(label),
                                link=turn.runtime.invite_link(token))), key_id=await turn.tx.case_key_id(info.id))
    await show_agreements(turn, info.id)


async def _add_commitment(turn: Turn, info: CaseInfo, agreement_id: str, seat_id: str, text: str) -> None:
    agreement = await _agreement(turn, info.id, agreement_id, lock=True)
    if agreement.status is not AgreementStatus.DRAFT:
        raise StepMismatch("commitments change only with the text")
    await _owner(turn, info.id, seat_id)
    lines = [line for line in (raw.strip() for raw in text.splitlines()) if line]
    example = case_rules.deadline_example(turn.runtime.clock())
    if len(lines) != 3:
        raise InvalidInput("commitment_lines", example=example)
    what, raw_due, how = lines
    due = case_rules.parse_deadline(raw_due, turn.language, info.timezone, turn.runtime.clock())
    if len(await turn.tx.commitments(info.id, agreement.id)) >= MAX_COMMITMENTS:
        raise InvalidInput("too_many_commitments", limit=MAX_COMMITMENTS)
    await turn.tx.add_commitment(info.id, Commitment(new_id(), agreement.id, seat_id, clean_commitment_text(what),
                                                     due, clean_commitment_text(how)))


# The parties -------------------------------------------------------------------------------------------
async def _party_seat(turn: Turn, case_id: str) -> str:
    seat_id = await turn.tx.seat_of(case_id, turn.user.user_hash)
    if seat_id is None:
        raise StepMismatch("not a party of this case")
    return seat_id


async def party_agreement_button(turn: Turn, agreement_id: str, action: str) -> None:
    """A party's button on a version: confirm, ask for a change (then a comment), decline, or cancel the comment."""
    case_id = await turn.tx.agreement_case(agreement_id)
    if case_id is None or CaseStage((await turn.tx.case_info(case_id)).stage) is CaseStage.CLOSED:
        raise StepMismatch("no agreement to answer")
    seat_id = await _party_seat(turn, case_id)
    agreement = await _agreement(turn, case_id, agreement_id, lock=True)
    if action == "agr_cancel":
        if commenting_on(turn) != ("agr", agreement.id):
            raise StepMismatch("no comment under way")
        await end_comment(turn, seat_id)
        await turn.reply(Reply.of(_("Cancelled. The agreement's buttons still work.")))
        return
    if commenting_on(turn) is not None:
        await end_comment(turn, seat_id)  # a comment begun and left: the buttons pressed now decide
    if action == "agr_change":
        if agreement.status is not AgreementStatus.CIRCULATING or seat_id not in agreement.responses \
                or agreement.responses[seat_id].status is ResponseStatus.CONFIRMED:
            raise StepMismatch("no answer possible now")
        await begin_comment(turn, "agr", agreement.id, f"{COMMENT_PENDING}:{agreement.id}:{agreement.current.number}")
        await turn.reply(Reply.of(
            _("What would you change in agreement {number}? Write it in one message: only the mediators read it.",
              number=agreement.number),
            buttons=[[ButtonSpec(_("Cancel"), "agr_cancel")]]), scope=_scope(agreement))
        return
    trigger = {"agr_yes": "confirm", "agr_no": "decline"}.get(action)
    if trigger is None:
        raise ValueError(f"unknown agreement action {action!r}")
    await _answer(turn, case_id, seat_id, agreement, trigger)


# A party's comment under way (on a version, a report, another's report): the pending marker says what for, and
# the active conversation says it is still the thing being discussed. Text goes to the comment only while both agree:
# a party that went back to its caucus (or anything else) is not writing that comment any more.
_COMMENT_KINDS = {COMMENT_PENDING: "agr", "cmt_report": "cmt", "cmt_review": "cmt"}


def commenting_on(turn: Turn) -> tuple[str, str] | None:
    """What the party's next text comments on, as (kind, id), or None."""
    action, _sep, rest = (turn.user.pending or "").partition(":")
    kind = _COMMENT_KINDS.get(action)
    subject = rest.partition(":")[0]
    if kind is None or turn.user.active_kind != kind or turn.user.active_id != subject:
        return None
    return kind, subject


async def begin_comment(turn: Turn, kind: str, subject: str, pending: str) -> None:
    await turn.tx.set_active(turn.user_id, kind, subject)
    await turn.tx.set_pending(turn.user_id, pending)


async def end_comment(turn: Turn, seat_id: str) -> None:
    """Back to the party's own conversation (its caucus screen comes back with /resume)."""
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_active(turn.user_id, "seat", seat_id)


async def comment_text(turn: Turn, text: str) -> None:
    """The comment a party typed after asking for a change. Refused input keeps the question; a version replaced
    or confirmed meanwhile ends it, with nothing recorded."""
    _action, agreement_id, version = (turn.user.pending or "").split(":", 2)
    case_id = await turn.tx.agreement_case(agreement_id)
    seat_id = None if case_id is None else await turn.tx.seat_of(case_id, turn.user.user_hash)
    try:
        if case_id is None or seat_id is None:
            raise StepMismatch("no such agreement")  # noqa: TRY301 - one way out for every change meanwhile
        await _request_change(turn, case_id, seat_id, agreement_id, int(version), text)
    except (StepMismatch, InvalidInput) as refusal:
        if isinstance(refusal, InvalidInput) and refusal.reason != "gone":
            raise
        await turn.reply(Reply.of(CHANGED_MEANWHILE))
    if seat_id is not None:
        await end_comment(turn, seat_id)
    else:
        await turn.tx.set_pending(turn.user_id, None)
        await turn.tx.set_active(turn.user_id, None, None)


async def _request_change(turn: Turn, case_id: str, seat_id: str, agreement_id: str, version: int,  # noqa: PLR0917
                          text: str) -> None:
    """A change request on the version the party was reading when it asked (not a newer one sent meanwhile)."""
    if CaseStage((await turn.tx.case_info(case_id)).stage) is CaseStage.CLOSED:
        raise StepMismatch("the case is closed")
    agreement = await _agreement(turn, case_id, agreement_id, lock=True)
    if agreement.current.number != version:
        raise StepMismatch("the version was replaced")
    await _answer(turn, case_id, seat_id, agreement, "request_change", comment=text)


async def _answer(turn: Turn, case_id: str, seat_id: str, agreement: Agreement, trigger: str, *,
                  comment: str | None = None) -> None:
    now = turn.runtime.clock()
    active = [seat.seat_id for seat in await turn.tx.seat_statuses(case_id) if not seat.withdrawn]
    version = agreement.current.number
    adopted = agreement.respond(seat_id, version, trigger, now, comment=comment, active=active)
    await turn.tx.save_agreement(case_id, agreement, event="agreement_confirmed" if adopted else "agreement_answered",
                                 actor="party", seat_id=seat_id)
    party = user_text(await turn.tx.seat_label(seat_id))
    if trigger == "request_change":
        await turn.reply(Reply.of(_("Your request is sent to the mediators. They may send a changed version for "
                                    "you to confirm.")))
        assert comment is not None  # noqa: S101 - respond refused a change request without one
        told = Reply.of(_("{party} asks for a change to agreement {number}, version {version}:", party=party,
                          number=agreement.number, version=version),
                        quote(agreement.responses[seat_id].comment or "", ""))
    else:
        await turn.reply(Reply.of(Text(_ANSWERED[trigger].msgid, params={"version": version,
                                                                         "number": agreement.number})))
        told = Reply.of(Text(_TOLD[trigger].msgid, params={"party": party, "number": agreement.number,
                                                           "version": version}))
    if adopted:
        await _adopted(turn, case_id, agreement)
        return
    await Courier(turn.tx).notify_mediators(turn.runtime, case_id, told)


async def after_withdrawal(turn: Turn, case_id: str, seat_id: str, *, seat_reopened: bool = False) -> None:
    """A party left: its answers to versions waiting for answers no longer count (whoever holds the seat next is
    asked afresh), an agreement every party still in the case has confirmed is adopted, and a report of work done
    that every remaining party has confirmed is verified. Nothing of this in a closed case. ``seat_reopened``: the
    mediator freed the seat for someone else, whose answer is then awaited."""
    if CaseStage((await turn.tx.case_info(case_id)).stage) is CaseStage.CLOSED:
        return
    seats = [seat for seat in await turn.tx.seat_statuses(case_id) if not seat.withdrawn]
    for listed in await turn.tx.agreements(case_id):
        if listed.status is not AgreementStatus.CIRCULATING:
            continue
        agreement = await _agreement(turn, case_id, listed.id, lock=True)
        dropped = agreement.drop(seat_id)
        if seat_reopened:  # the mediator freed the seat for someone else: that person will be asked
            agreement.ask(seat_id)
        if not seat_reopened and agreement.settle(turn.runtime.clock(), [seat.seat_id for seat in seats]):
            await turn.tx.save_agreement(case_id, agreement, event="agreement_confirmed", actor="system")
            await _adopted(turn, case_id, agreement)
        elif dropped:
            await turn.tx.save_agreement(case_id, agreement, event="agreement_answered", actor="system")
    for listed_commitment in await turn.tx.commitments(case_id, followed=True):
        if listed_commitment.status is not CommitmentStatus.DONE:
            continue  # only a report of the work done waits for the other parties' confirmations
        commitment = await turn.tx.commitment(case_id, listed_commitment.id, lock=True)
        if commitment is not None and commitment.recheck([seat.seat_id for seat in seats if seat.joined]):
            await turn.tx.save_commitment(case_id, commitment, event="commitment_reviewed", actor="system")


async def after_join(turn: Turn, case_id: str, seat_id: str) -> None:
    """A party joined (or rejoined a freed seat): it receives the versions waiting for answers, as every party
    did."""
    info = await turn.tx.case_info(case_id)
    for listed in await turn.tx.agreements(case_id):
        if listed.status is not AgreementStatus.CIRCULATING:
            continue
        agreement = await _agreement(turn, case_id, listed.id, lock=True)
        if agreement.ask(seat_id):
            await turn.tx.save_agreement(case_id, agreement, event="agreement_sent", actor="system", seat_id=seat_id)
        if agreement.responses[seat_id].status is ResponseStatus.PENDING:
            await _send_to_parties(turn, info, agreement, only=seat_id)


async def _adopted(turn: Turn, case_id: str, agreement: Agreement) -> None:
    """Every party confirmed: the case records an agreement (and monitoring, if it holds commitments)."""
    await turn.tx.advance_case(case_id, "record_agreement")
    if await turn.tx.commitments(case_id, agreement.id):
        await turn.tx.advance_case(case_id, "start_monitoring")
        for monitor in await turn.tx.monitors(case_id):
            watcher = await turn.tx.monitor_contact(monitor.id)
            if watcher is not None:
                await turn.send(watcher.chat_id, watcher.language, watcher.user_hash, Reply.of(_(
                    "Agreement {number} of case {case} is confirmed: its commitments are followed from now on. "
                    "/commitments lists them.", number=agreement.number,
                    case=(await turn.tx.case_info(case_id)).short_id)), key_id=await turn.tx.case_key_id(case_id))
    notice = Reply.of(_("Agreement {number} (version {version}) is confirmed by every party.",
                        number=agreement.number, version=agreement.current.number))
    for seat_id in agreement.responses:
        contact = await turn.tx.party_contact(seat_id)
        if contact is not None:
            await turn.send(contact.chat_id, contact.language, contact.user_hash, notice,
                            key_id=await turn.tx.case_key_id(case_id))
    await Courier(turn.tx).notify_mediators(turn.runtime, case_id, notice)


_SCREENS: dict[str, Callable[[Turn, str, str, int | None], Awaitable[None]]] = {
    "agreements": _list,
    "agreement": _one,
    "agr_back": _back,
    "agr_new": _new,
    "agr_reword": _reword,
    "agr_revise": _revise,
    "agr_translate": _pick_translation,
    "agr_tr": _ask_translation,
    "mon_new": _ask_monitor,
    "cmt_add": _pick_owner,
    "cmt_owner": _ask_owner,
    "cmt_remove": _remove_commitment,
    "agr_send": _confirm_send,
    "agr_send_yes": _send,
    "agr_abandon": _confirm_abandon,
    "agr_abandon_yes": _abandon,
    "mon_remove": _confirm_remove_monitor,
    "mon_remove_yes": _remove_monitor,
}
# Buttons of the mediator's agreement screens.
AGREEMENT_BUTTONS = frozenset(_SCREENS)
