"""Agreements: the mediator drafts the text agreed in a joint session (with translations and commitments) and
sends it; each party confirms it in private, asks for a change (a comment only the mediators read) or declines.
A changed text is a new version that every party confirms anew. Every step enters the audit trail.
"""

from __future__ import annotations

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
from flows.machines import AgreementStatus, CaseStage, ResponseStatus
from flows.model import CaseInfo
from flows.text import MAX_LABEL_CHARS, clean_line
from storage.tables import new_id

__all__ = [
    "AGREEMENT_ACTIONS",
    "AGREEMENT_BUTTONS",
    "COMMENT_PENDING",
    "after_withdrawal",
    "agreement_text",
    "case_agreement_button",
    "comment_text",
    "party_agreement_button",
]

# Stages after which agreements are drafted: a joint session has been prepared at least once.
_DRAFTING_STAGES = frozenset({CaseStage.JOINT, CaseStage.AGREEMENT, CaseStage.MONITORING})
# Pending actions (what the mediator's next text is for) handled here.
AGREEMENT_ACTIONS = frozenset({"agr_new", "agr_reword", "agr_revise", "agr_tr", "cmt", "mon_new"})
# Buttons of the mediator's agreement screens.
AGREEMENT_BUTTONS = frozenset({
    "agreements", "agreement", "agr_new", "agr_reword", "agr_revise", "agr_translate", "agr_tr", "cmt_add",
    "cmt_owner", "cmt_remove", "agr_send", "agr_send_yes", "agr_abandon", "agr_abandon_yes", "mon_new",
})
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


async def _labels(turn: Turn, case_id: str) -> dict[str, str]:
    return {seat.seat_id: seat.label for seat in await turn.tx.seat_statuses(case_id)}


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
    reply = agreement_views.agreements_view(
        info, await turn.tx.agreements(case_id), await turn.tx.commitments(case_id), await _labels(turn, case_id),
        monitors=await turn.tx.monitors(case_id), can_draft=CaseStage(info.stage) in _DRAFTING_STAGES)
    await _show(turn, case_id, reply, edit=edit)


async def show_agreement(turn: Turn, case_id: str, agreement_id: str, *, edit: int | None = None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id)
    info = await turn.tx.case_info(case_id)
    reply = agreement_views.agreement_view(agreement, await turn.tx.commitments(case_id, agreement.id),
                                           await _labels(turn, case_id), turn.user.timezone or info.timezone)
    await _show(turn, case_id, reply, edit=edit)


async def _ask(turn: Turn, case_id: str, pending: str, prompt: Text, back: tuple[str, str]) -> None:
    await turn.tx.set_active(turn.user_id, "case", case_id)
    await turn.tx.set_pending(turn.user_id, pending)
    await _show(turn, case_id, Reply.of(prompt, buttons=[[ButtonSpec(_("Cancel"), *back)]]))


async def case_agreement_button(turn: Turn, case_id: str, action: str, argument: str, message_id: int | None,
                                ) -> None:
    """A button of the agreements screens (scope: the case, for its mediators)."""
    if action == "agreements":
        await show_agreements(turn, case_id, edit=message_id)
    elif action == "agreement":
        await show_agreement(turn, case_id, argument, edit=message_id)
    elif action == "agr_new":
        if CaseStage((await turn.tx.case_info(case_id)).stage) not in _DRAFTING_STAGES:
            raise InvalidInput("agreement_stage")
        await _ask(turn, case_id, "agr_new:", agreement_views.AGREEMENT_PROMPTS["agr_new"], ("agreements", ""))
    elif action in {"agr_reword", "agr_revise"}:
        await _agreement(turn, case_id, argument)
        await _ask(turn, case_id, f"{action}:{argument}", agreement_views.AGREEMENT_PROMPTS[action],
                   ("agreement", argument))
    elif action == "agr_translate":
        await _pick_translation(turn, case_id, argument, message_id)
    elif action == "agr_tr":
        agreement_id, _sep, language = argument.partition(":")
        await _agreement(turn, case_id, agreement_id)
        if language not in SUPPORTED_LANGUAGES:
            raise InvalidInput("unknown_language")
        prompt = agreement_views.AGREEMENT_PROMPTS["agr_tr"]
        await _ask(turn, case_id, f"agr_tr:{agreement_id}:{language}",
                   Text(prompt.msgid, params={"language": LanguageName(language)}), ("agreement", agreement_id))
    elif action == "mon_new":
        await _ask(turn, case_id, "mon_new:", agreement_views.AGREEMENT_PROMPTS["mon_new"], ("agreements", ""))
    elif action == "cmt_add":
        await _pick_owner(turn, case_id, argument, message_id)
    elif action == "cmt_owner":
        await _ask_commitment(turn, case_id, argument)
    elif action == "cmt_remove":
        await _remove_commitment(turn, case_id, argument, message_id)
    elif action == "agr_send":
        await _confirm_send(turn, case_id, argument, message_id)
    elif action == "agr_send_yes":
        await _send(turn, case_id, argument, message_id)
    elif action == "agr_abandon":
        agreement = await _agreement(turn, case_id, argument)
        await _show(turn, case_id, Reply.of(
            _("Abandon agreement {number}? Parties who received it are told it no longer stands.",
              number=agreement.number),
            buttons=[[ButtonSpec(_("Yes"), "agr_abandon_yes", argument), ButtonSpec(_("Cancel"), "agreement",
                                                                                     argument)]]), edit=message_id)
    elif action == "agr_abandon_yes":
        await _abandon(turn, case_id, argument, message_id)
    else:
        raise ValueError(f"unknown agreement action {action!r}")


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
    rows = [[ButtonSpec(user_text(seat.label), "cmt_owner", f"{agreement.id}:{index}")]
            for index, seat in enumerate(seats)]
    rows.append([ButtonSpec(_("Cancel"), "agreement", agreement.id)])
    await _show(turn, case_id, Reply.of(_("Who commits to doing it?"), buttons=rows), edit=message_id)


async def _owner(turn: Turn, case_id: str, index: str) -> tuple[str, str]:
    seats = [seat for seat in await turn.tx.seat_statuses(case_id) if not seat.withdrawn]
    if not index.isdigit() or int(index) >= len(seats):
        raise InvalidInput("gone")
    seat = seats[int(index)]
    return seat.seat_id, seat.label


async def _ask_commitment(turn: Turn, case_id: str, argument: str) -> None:
    agreement_id, _sep, index = argument.partition(":")
    await _agreement(turn, case_id, agreement_id)
    _seat_id, label = await _owner(turn, case_id, index)
    prompt = agreement_views.AGREEMENT_PROMPTS["cmt"]
    await _ask(turn, case_id, f"cmt:{agreement_id}:{index}", Text(prompt.msgid, params={
        "party": user_text(label), "example": case_rules.deadline_example(turn.runtime.clock())}),
        ("agreement", agreement_id))


async def _remove_commitment(turn: Turn, case_id: str, commitment_id: str, message_id: int | None) -> None:
    commitment = await turn.tx.commitment(case_id, commitment_id, lock=True)
    if commitment is None:
        raise InvalidInput("gone")
    agreement = await _agreement(turn, case_id, commitment.agreement_id, lock=True)
    if agreement.status is not AgreementStatus.DRAFT or commitment.reports:
        raise StepMismatch("commitments change only with the text")
    await turn.tx.remove_commitment(case_id, commitment_id)
    await show_agreement(turn, case_id, agreement.id, edit=message_id)


async def _recipients(turn: Turn, case_id: str) -> list[str]:
    """The parties that can receive an agreement: joined, not withdrawn."""
    return [seat.seat_id for seat in await turn.tx.seat_statuses(case_id)
            if seat.joined and not seat.withdrawn and await turn.tx.party_contact(seat.seat_id) is not None]


async def _confirm_send(turn: Turn, case_id: str, agreement_id: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id)
    recipients = await _recipients(turn, case_id)
    if not recipients:
        raise InvalidInput("no_parties")
    await _show(turn, case_id, Reply.of(
        _("Send version {version} of agreement {number} to the {count} parties who have joined? Each receives it "
          "in private, in their language where you gave a translation, and confirms it, asks for a change or "
          "declines. The text cannot change afterwards except as a new version.",
          version=agreement.current.number, number=agreement.number, count=len(recipients)),
        buttons=[[ButtonSpec(_("📨 Send"), "agr_send_yes", agreement.id),
                  ButtonSpec(_("Cancel"), "agreement", agreement.id)]]), edit=message_id)


async def _send(turn: Turn, case_id: str, agreement_id: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id, lock=True)
    recipients = await _recipients(turn, case_id)
    agreement.circulate(recipients, turn.runtime.clock())
    await turn.tx.save_agreement(case_id, agreement, event="agreement_sent", actor="mediator")
    await _send_to_parties(turn, await turn.tx.case_info(case_id), agreement)
    await turn.reply(Reply.of(_("Version {version} of agreement {number} was sent to {count} parties.",
                                version=agreement.current.number, number=agreement.number, count=len(recipients))),
                     edit=message_id)
    await show_agreement(turn, case_id, agreement.id)


async def _send_to_parties(turn: Turn, info: CaseInfo, agreement: Agreement) -> None:
    commitments = await turn.tx.commitments(info.id, agreement.id)
    labels = await _labels(turn, info.id)
    for seat_id in agreement.responses:
        contact = await turn.tx.party_contact(seat_id)
        if contact is None:
            continue
        reply = agreement_views.party_agreement(info, agreement, commitments, labels, contact.language or "en")
        await turn.send(contact.chat_id, contact.language, contact.user_hash, reply, scope=_scope(agreement),
                        key_id=await turn.tx.case_key_id(info.id), protect=True)


async def _abandon(turn: Turn, case_id: str, agreement_id: str, message_id: int | None) -> None:
    agreement = await _agreement(turn, case_id, agreement_id, lock=True)
    asked = list(agreement.responses) if agreement.status is AgreementStatus.CIRCULATING else []
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
    commitment. Refused input changes nothing and the question stands."""
    info = await turn.tx.case_info(case_id)
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
        agreement_id, _sep, index = argument.partition(":")
        await _add_commitment(turn, info, agreement_id, index, text)
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


async def _add_commitment(turn: Turn, info: CaseInfo, agreement_id: str, index: str, text: str) -> None:
    agreement = await _agreement(turn, info.id, agreement_id, lock=True)
    if agreement.status is not AgreementStatus.DRAFT:
        raise StepMismatch("commitments change only with the text")
    seat_id, _label = await _owner(turn, info.id, index)
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
    if case_id is None:
        raise StepMismatch("no such agreement")
    seat_id = await _party_seat(turn, case_id)
    agreement = await _agreement(turn, case_id, agreement_id, lock=True)
    if action == "agr_change":
        if agreement.status is not AgreementStatus.CIRCULATING or seat_id not in agreement.responses \
                or agreement.responses[seat_id].status is ResponseStatus.CONFIRMED:
            raise StepMismatch("no answer possible now")
        await turn.tx.set_pending(turn.user_id, f"{COMMENT_PENDING}:{agreement.id}:{agreement.current.number}")
        await turn.reply(Reply.of(
            _("What would you change in agreement {number}? Write it in one message: only the mediators read it.",
              number=agreement.number),
            buttons=[[ButtonSpec(_("Cancel"), "agr_cancel")]]), scope=_scope(agreement))
        return
    if action == "agr_cancel":
        await turn.tx.set_pending(turn.user_id, None)
        await turn.reply(Reply.of(_("Cancelled. The agreement's buttons still work.")))
        return
    trigger = {"agr_yes": "confirm", "agr_no": "decline"}.get(action)
    if trigger is None:
        raise ValueError(f"unknown agreement action {action!r}")
    await _answer(turn, case_id, seat_id, agreement, trigger)


async def comment_text(turn: Turn, text: str) -> None:
    """The comment a party typed after asking for a change. Refused input keeps the question; a version replaced
    or confirmed meanwhile ends it, with nothing recorded."""
    try:
        _action, agreement_id, version = (turn.user.pending or "").split(":", 2)
        await _request_change(turn, agreement_id, int(version), text)
    except (StepMismatch, InvalidInput) as refusal:
        if isinstance(refusal, InvalidInput) and refusal.reason != "gone":
            raise
        await turn.tx.set_pending(turn.user_id, None)
        await turn.reply(Reply.of(CHANGED_MEANWHILE))
        return
    await turn.tx.set_pending(turn.user_id, None)


async def _request_change(turn: Turn, agreement_id: str, version: int, text: str) -> None:
    """A change request on the version the party was reading when it asked (not a newer one sent meanwhile)."""
    case_id = await turn.tx.agreement_case(agreement_id)
    if case_id is None:
        raise StepMismatch("no such agreement")
    seat_id = await _party_seat(turn, case_id)
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


async def after_withdrawal(turn: Turn, case_id: str) -> None:
    """A party left: an agreement that every party still in the case has confirmed is adopted now."""
    active = [seat.seat_id for seat in await turn.tx.seat_statuses(case_id) if not seat.withdrawn]
    for listed in await turn.tx.agreements(case_id):
        if listed.status is not AgreementStatus.CIRCULATING:
            continue
        agreement = await _agreement(turn, case_id, listed.id, lock=True)
        if agreement.settle(turn.runtime.clock(), active):
            await turn.tx.save_agreement(case_id, agreement, event="agreement_confirmed", actor="system")
            await _adopted(turn, case_id, agreement)


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
