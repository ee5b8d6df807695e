"""Commitments after an agreement: reminders and the question at the deadline for their owners, reports that the
other parties confirm or dispute in private, monitors' observations, and early warnings to the mediators (a missed
deadline, work reported not done, a dispute, an alarm) sent in the same transaction as what caused them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from bot import agreement_views
from bot.agreements import CHANGED_MEANWHILE, begin_comment, case_labels, commenting_on, end_comment
from bot.formats import Day
from bot.i18n import _, user_text
from bot.replies import ButtonSpec, Reply
from bot.turn import Courier, Runtime, Scope, Turn
from flows.agreement import Commitment, ObservationKind, Outcome, Verdict, Warning, commitment_reminder_due
from flows.errors import InvalidInput, StepMismatch
from flows.machines import AgreementStatus, CaseStage, CommitmentStatus
from flows.model import CaseInfo
from flows.text import clean_text
from storage.repository import Transaction

__all__ = [
    "ask_new_party",
    "check_commitments",
    "commitment_button",
    "commitment_text",
    "followed_commitments",
    "forget_monitor",
    "join_as_monitor",
    "leave_comment",
    "monitor_button",
    "seat_behind",
    "show_commitments",
]

logger = logging.getLogger(__name__)

_OUTCOMES = {"cmt_done": Outcome.DONE, "cmt_partly": Outcome.PARTLY, "cmt_not_done": Outcome.NOT_DONE}


def _scope(commitment: Commitment) -> Scope:
    """Buttons about a commitment hold while no new report came in (a report made twice, or a review of a report
    replaced since, is stale)."""
    return Scope("cmt", commitment.id, len(commitment.reports))


async def followed_commitments(tx: Transaction, case_id: str) -> list[Commitment]:
    """The case's commitments whose agreement every party confirmed: the ones followed up."""
    return await tx.commitments(case_id, followed=True)


async def warn(courier: Courier, runtime: Runtime, info: CaseInfo, warning: Warning, commitment: Commitment, *,
               comment: str | None = None, owner_asked: bool = True) -> None:
    """Tell every mediator of the case at once (queued in this transaction, sent after its commit)."""
    labels = await case_labels(courier.tx, info.id)
    await courier.notify_mediators(runtime, info.id, agreement_views.warning_message(
        info, warning, commitment, labels, info.timezone, comment=comment, owner_asked=owner_asked))
    logger.info("early warning sent: %s", warning.kind.value)


async def _tell_mediators(turn: Turn, info: CaseInfo, commitment: Commitment, warning: Warning | None, *,
                          comment: str | None, notice: Reply) -> None:
    """An early warning when there is one, else the plain ``notice``."""
    courier = Courier(turn.tx)
    if warning is not None:
        await warn(courier, turn.runtime, info, warning, commitment, comment=comment)
    else:
        await courier.notify_mediators(turn.runtime, info.id, notice)


# The deadline job ----------------------------------------------------------------------------------------
async def check_commitments(runtime: Runtime, now: datetime) -> int:
    """Remind owners as deadlines near; at a deadline with nothing reported, warn the mediators and ask the owner.
    Returns how many messages went to owners."""
    sent = 0
    async with runtime.store.transaction() as tx:
        assert tx is not None  # noqa: S101 - no update id, so never a duplicate
        courier = Courier(tx)
        cases: dict[str, CaseInfo] = {}
        for followed in await tx.followed_commitments():
            commitment = await tx.commitment(followed.case_id, followed.commitment_id, lock=True)
            if commitment is None:
                continue
            if followed.case_id not in cases:
                cases[followed.case_id] = await tx.case_info(followed.case_id)
            info = cases[followed.case_id]
            contact = await tx.party_contact(commitment.owner)
            zone = (await tx.timezone_of(contact.user_hash) if contact else None) or info.timezone
            warning = commitment.pass_deadline(now)
            if warning is not None:
                await tx.save_commitment(info.id, commitment, event="commitment_missed", actor="system")
                await warn(courier, runtime, info, warning, commitment, owner_asked=contact is not None)
            elif contact is not None and commitment_reminder_due(now, commitment, zone):
                commitment.last_reminded_on = now.astimezone(ZoneInfo(zone)).date()
                await tx.save_commitment(info.id, commitment, event=None, actor="system")
            else:
                continue
            if contact is not None:
                await courier.send(contact.chat_id, contact.language, contact.user_hash, agreement_views.owner_prompt(
                    info, commitment, zone, due_now=warning is not None), scope=_scope(commitment),
                    key_id=await tx.case_key_id(info.id))
                sent += 1
    if sent:
        logger.info("commitment reminders and questions sent: %d", sent)
    return sent


# Parties: owners report, the others confirm or dispute -----------------------------------------------------
async def _followed(tx: Transaction, case_id: str | None, commitment_id: str, *, lock: bool = True,
                    ) -> tuple[CaseInfo, Commitment]:
    """A commitment that is followed now (its agreement confirmed, its case open), or StepMismatch."""
    commitment = None if case_id is None else await tx.commitment(case_id, commitment_id, lock=lock)
    if case_id is None or commitment is None:
        raise StepMismatch("no such commitment")
    info = await tx.case_info(case_id)
    agreement = await tx.agreement(case_id, commitment.agreement_id)
    if CaseStage(info.stage) is CaseStage.CLOSED or agreement is None \
            or agreement.status is not AgreementStatus.CONFIRMED:
        raise StepMismatch("this commitment is not followed")
    return info, commitment


async def _party_commitment(turn: Turn, commitment_id: str) -> tuple[CaseInfo, str, Commitment]:
    case_id = await turn.tx.commitment_case(commitment_id)
    seat_id = None if case_id is None else await turn.tx.seat_of(case_id, turn.user.user_hash)
    if seat_id is None:
        raise StepMismatch("not a party of this commitment's case")
    info, commitment = await _followed(turn.tx, case_id, commitment_id)
    return info, seat_id, commitment


async def commitment_button(turn: Turn, commitment_id: str, action: str, argument: str) -> None:
    """A party's button about a commitment: the owner's report, another party's verdict, or their comment step."""
    info, seat_id, commitment = await _party_commitment(turn, commitment_id)
    if action in {"cmt_send", "cmt_cancel"}:
        if commenting_on(turn) != ("cmt", commitment.id):
            raise StepMismatch("no comment under way on this commitment")
        if action == "cmt_send":
            await _finish(turn, None)
        else:
            await end_comment(turn, seat_id)
            await turn.reply(Reply.of(_("Cancelled: nothing was sent.")))
        return
    if commenting_on(turn) is not None:
        await end_comment(turn, seat_id)  # a comment begun and left: the buttons pressed now decide
    if action in _OUTCOMES:
        if seat_id != commitment.owner or commitment.status is CommitmentStatus.VERIFIED:
            raise StepMismatch("only the owner reports, until the report is verified")
        await begin_comment(turn, "cmt", commitment.id, f"cmt_report:{commitment.id}:{_OUTCOMES[action].value}")
        await turn.reply(agreement_views.comment_prompt(), scope=_scope(commitment))
    elif action == "cmt_ok":
        await _review(turn, info, seat_id, commitment, Verdict.CONFIRM, comment=None)
    elif action == "cmt_dispute":
        if not commitment.awaiting_review_from(seat_id):
            raise StepMismatch("already reviewed")
        await begin_comment(turn, "cmt", commitment.id, f"cmt_review:{commitment.id}:{Verdict.DISPUTE.value}")
        await turn.reply(agreement_views.comment_prompt(), scope=_scope(commitment))
    else:
        raise ValueError(f"unknown commitment action {action!r}")


async def commitment_text(turn: Turn, text: str) -> None:
    """The comment (or, for a monitor, the observation) that a pending step asked for. Refused input keeps the
    question; a commitment that changed meanwhile (a new report, verified) ends it, with nothing recorded."""
    comment = clean_text(text)
    try:
        await _finish(turn, comment)
    except (StepMismatch, InvalidInput) as refusal:
        if isinstance(refusal, InvalidInput) and refusal.reason != "gone":
            raise
        await turn.reply(Reply.of(CHANGED_MEANWHILE))
        await _back(turn)


async def _back(turn: Turn) -> None:
    """End the comment or observation under way: back to the party's seat, or the monitor's list."""
    _action, _sep, rest = (turn.user.pending or "").partition(":")
    case_id = await turn.tx.commitment_case(rest.partition(":")[0])
    seat_id = None if case_id is None else await turn.tx.seat_of(case_id, turn.user.user_hash)
    if turn.user.active_kind == "mon" or seat_id is None:
        await turn.tx.set_pending(turn.user_id, None)
    else:
        await end_comment(turn, seat_id)


async def _finish(turn: Turn, comment: str | None) -> None:
    action, _sep, rest = (turn.user.pending or "").partition(":")
    commitment_id, _sep, value = rest.partition(":")
    if action == "obs":
        if comment is None:
            raise InvalidInput("empty")
        await _observe(turn, commitment_id, ObservationKind(value), comment)
    elif action in {"cmt_report", "cmt_review"}:
        info, seat_id, commitment = await _party_commitment(turn, commitment_id)
        if action == "cmt_report":
            await _report(turn, info, seat_id, commitment, Outcome(value), comment=comment)
        else:
            await _review(turn, info, seat_id, commitment, Verdict(value), comment=comment)
    else:
        raise StepMismatch("nothing waits for a comment")
    await _back(turn)


async def _report(turn: Turn, info: CaseInfo, seat_id: str, commitment: Commitment, outcome: Outcome, *,
                  comment: str | None) -> None:
    warning = commitment.report_outcome(seat_id, outcome, turn.runtime.clock(), comment)
    await turn.tx.save_commitment(info.id, commitment, event="commitment_reported", actor="party", seat_id=seat_id)
    await turn.reply(Reply.of(_("Thank you: your report is recorded, and the mediators are told.")))
    labels = await case_labels(turn.tx, info.id)
    await _tell_mediators(turn, info, commitment, warning, comment=comment,
                          notice=agreement_views.report_notice(info, commitment, labels, info.timezone))
    key_id = await turn.tx.case_key_id(info.id)
    for seat in await turn.tx.seat_statuses(info.id):
        if seat.seat_id == commitment.owner or seat.withdrawn:
            continue
        contact = await turn.tx.party_contact(seat.seat_id)
        if contact is not None:
            zone = await turn.tx.timezone_of(contact.user_hash) or info.timezone
            await turn.send(contact.chat_id, contact.language, contact.user_hash, agreement_views.review_question(
                info, commitment, labels, zone), scope=_scope(commitment), key_id=key_id)


async def _review(turn: Turn, info: CaseInfo, seat_id: str, commitment: Commitment, verdict: Verdict, *,
                  comment: str | None) -> None:
    report = commitment.report
    if report is None:
        raise StepMismatch("nothing reported")
    others = [seat.seat_id for seat in await turn.tx.seat_statuses(info.id) if seat.joined and not seat.withdrawn]
    warning = commitment.review(seat_id, report.number, verdict, turn.runtime.clock(), others=others,
                                comment=comment)
    await turn.tx.save_commitment(info.id, commitment, event="commitment_reviewed", actor="party", seat_id=seat_id)
    await turn.reply(Reply.of(_("Thank you: your answer is recorded. Only the mediators see it.")))
    await _tell_mediators(turn, info, commitment, warning, comment=comment, notice=agreement_views.review_notice(
        info, commitment, seat_id, await case_labels(turn.tx, info.id)))


async def seat_behind(turn: Turn) -> str | None:
    """The seat of the party whose comment is under way (on an agreement or a commitment), if any."""
    kind, subject = turn.user.active_kind, turn.user.active_id or ""
    if kind == "agr":
        case_id = await turn.tx.agreement_case(subject)
    elif kind == "cmt":
        case_id = await turn.tx.commitment_case(subject)
    else:
        return None
    return None if case_id is None else await turn.tx.seat_of(case_id, turn.user.user_hash)


async def leave_comment(turn: Turn) -> bool:
    """Drop a party's comment under way (on an agreement or a commitment) and bring back its own conversation;
    False when none was under way."""
    if turn.user.active_kind not in {"agr", "cmt"} or not turn.user.active_id:
        return False
    seat_id = await seat_behind(turn)
    if seat_id is None:
        return False
    await end_comment(turn, seat_id)
    await turn.reload_user()
    return True


async def ask_new_party(turn: Turn, case_id: str, seat_id: str) -> None:
    """A party that joined is asked about the latest reports on followed commitments, as the others were."""
    contact = await turn.tx.party_contact(seat_id)
    if contact is None:
        return
    info = await turn.tx.case_info(case_id)
    labels = await case_labels(turn.tx, case_id)
    zone = await turn.tx.timezone_of(contact.user_hash) or info.timezone
    for commitment in await followed_commitments(turn.tx, case_id):
        if commitment.awaiting_review_from(seat_id):
            await turn.send(contact.chat_id, contact.language, contact.user_hash, agreement_views.review_question(
                info, commitment, labels, zone), scope=_scope(commitment), key_id=await turn.tx.case_key_id(case_id))


async def show_commitments(turn: Turn) -> None:
    """/commitments: a monitor's list to observe; a party's own commitments to report on."""
    if turn.user.active_kind == "mon" and turn.user.active_id:
        await _monitor_list(turn, turn.user.active_id)
        return
    if turn.user.active_kind != "seat" or not turn.user.active_id:
        await turn.reply(Reply.of(_("/commitments is for the parties and monitors of a case with an agreement.")))
        return
    case_id = await turn.tx.seat_case_id(turn.user.active_id)
    info = await turn.tx.case_info(case_id)
    commitments = await followed_commitments(turn.tx, case_id)
    labels = await case_labels(turn.tx, case_id)
    zone = turn.user.timezone or info.timezone
    if not commitments:
        await turn.reply(Reply.of(_("No commitment is followed in your case yet.")))
        return
    await turn.reply(Reply.of(_("<b>Commitments of case {case}</b>", case=info.short_id),
                              *(agreement_views.commitment_line(c, labels, zone, mediators=False)
                                for c in commitments)))
    for commitment in commitments:
        if commitment.owner == turn.user.active_id and commitment.status is not CommitmentStatus.VERIFIED:
            await turn.reply(Reply.of(_("Your commitment: {what}, by {due}. Report where it stands:",
                                        what=user_text(commitment.what), due=Day(commitment.due, zone)),
                                      buttons=agreement_views.report_buttons()), scope=_scope(commitment),
                             key_id=await turn.tx.case_key_id(case_id))


# Monitors -----------------------------------------------------------------------------------------------
async def join_as_monitor(turn: Turn, token: str) -> bool:
    """A monitor's invitation link; False when it opens nothing for this account."""
    if turn.runtime.is_mediator(turn.user_id) and await turn.tx.is_monitor_invite(token):
        raise InvalidInput("monitor_link")
    monitor_id = await turn.tx.claim_monitor(token, turn.user_id)
    if monitor_id is None:
        return False
    contact = await turn.tx.monitor_contact(monitor_id)
    assert contact is not None  # noqa: S101 - claimed just now
    info = await turn.tx.case_info(contact.case_id)
    await turn.tx.set_active(turn.user_id, "mon", monitor_id)
    await Courier(turn.tx).notify_mediators(turn.runtime, info.id, Reply.of(
        _("The monitor {monitor} has joined case {case}.", monitor=user_text(contact.label), case=info.short_id)))
    await turn.reply(Reply.of(_(
        "Welcome, {monitor}. You follow the commitments of case {case}: you see each one's state, and you can send "
        "the mediators an observation, or an alarm when something goes wrong. You never see what the parties said "
        "in private. /commitments shows the list again.", monitor=user_text(contact.label), case=info.short_id)))
    await _monitor_list(turn, monitor_id)
    return True


async def _monitor_list(turn: Turn, monitor_id: str) -> None:
    contact = await turn.tx.monitor_contact(monitor_id)
    if contact is None or contact.user_hash != turn.user.user_hash:
        raise StepMismatch("not this monitor")
    info = await turn.tx.case_info(contact.case_id)
    followed = await followed_commitments(turn.tx, info.id)
    reply = agreement_views.monitor_view(info, followed, await case_labels(turn.tx, info.id),
                                         turn.user.timezone or info.timezone)
    await turn.reply(reply, scope=Scope("mon", monitor_id, await turn.tx.monitor_version(monitor_id)),
                     key_id=await turn.tx.case_key_id(info.id))


async def monitor_button(turn: Turn, monitor_id: str, action: str, argument: str) -> None:
    """A monitor's buttons: pick a commitment, then information or alarm (then the text), or cancel."""
    contact = await turn.tx.monitor_contact(monitor_id)
    if contact is None or contact.user_hash != turn.user.user_hash:
        raise StepMismatch("not this monitor")
    scope = Scope("mon", monitor_id, await turn.tx.monitor_version(monitor_id))
    if action == "obs_cancel":
        if not (turn.user.pending or "").startswith(f"obs:{argument}:"):
            raise StepMismatch("no observation under way on this commitment")
        await turn.tx.set_pending(turn.user_id, None)
        await turn.reply(Reply.of(_("Cancelled: nothing was sent.")))
        return
    if action == "obs_forget":
        await _monitor_forget(turn, monitor_id, contact.case_id)
        return
    if action == "obs_keep":
        await turn.reply(Reply.of(_("Nothing was erased.")))
        return
    info, commitment = await _followed(turn.tx, contact.case_id, argument, lock=False)
    labels = await case_labels(turn.tx, info.id)
    zone = turn.user.timezone or info.timezone
    await turn.tx.set_active(turn.user_id, "mon", monitor_id)
    if action == "obs":
        await turn.reply(agreement_views.observation_kind_question(commitment, labels, zone), scope=scope)
    elif action in {"obs_note", "obs_alarm"}:
        kind = ObservationKind.ALARM if action == "obs_alarm" else ObservationKind.NOTE
        await turn.tx.set_pending(turn.user_id, f"obs:{commitment.id}:{kind.value}")
        await turn.reply(Reply.of(_("Write your observation in one message. The mediators read it; the parties do "
                                    "not."), buttons=[[ButtonSpec(_("Cancel"), "obs_cancel", commitment.id)]]),
                         scope=scope)
    else:
        raise ValueError(f"unknown monitor action {action!r}")


async def forget_monitor(turn: Turn) -> bool:
    """/forget from a monitor: ask before ending its access and erasing its observations; False when the account
    is not monitoring."""
    if turn.user.active_kind != "mon" or not turn.user.active_id:
        return False
    contact = await turn.tx.monitor_contact(turn.user.active_id)
    if contact is None or contact.user_hash != turn.user.user_hash:
        return False
    await turn.reply(Reply.of(
        _("Stop monitoring case {case}? Your access ends and the observations you sent are erased; the mediators are "
          "told.", case=(await turn.tx.case_info(contact.case_id)).short_id),
        buttons=[[ButtonSpec(_("Yes, stop and erase"), "obs_forget", contact.case_id),
                  ButtonSpec(_("No, keep monitoring"), "obs_keep")]]),
        scope=Scope("mon", contact.monitor_id, await turn.tx.monitor_version(contact.monitor_id)))
    return True


async def _monitor_forget(turn: Turn, monitor_id: str, case_id: str) -> None:
    info = await turn.tx.case_info(case_id)
    label = next((m.label for m in await turn.tx.monitors(case_id) if m.id == monitor_id), "")
    await turn.tx.remove_monitor(case_id, monitor_id, actor="monitor")
    await turn.tx.set_pending(turn.user_id, None)
    await turn.tx.set_active(turn.user_id, None, None)
    await turn.reply(Reply.of(_("You no longer monitor case {case}, and your observations are erased.",
                                case=info.short_id)))
    await Courier(turn.tx).notify_mediators(turn.runtime, case_id, Reply.of(_(
        "The monitor {monitor} stopped monitoring case {case}; its observations are erased.",
        monitor=user_text(label), case=info.short_id)))


async def _observe(turn: Turn, commitment_id: str, kind: ObservationKind, text: str) -> None:
    monitor_id = turn.user.active_id if turn.user.active_kind == "mon" else None
    contact = None if monitor_id is None else await turn.tx.monitor_contact(monitor_id)
    if monitor_id is None or contact is None or contact.user_hash != turn.user.user_hash:
        raise StepMismatch("not a monitor")
    info, commitment = await _followed(turn.tx, contact.case_id, commitment_id)
    warning = commitment.observe(monitor_id, kind, text, turn.runtime.clock())
    await turn.tx.save_commitment(contact.case_id, commitment, event="observation_filed", actor="monitor")
    await turn.reply(Reply.of(_("Thank you: the mediators have your observation.")))
    await _tell_mediators(turn, info, commitment, warning, comment=text, notice=agreement_views.observation_notice(
        info, commitment, commitment.observations[-1], await case_labels(turn.tx, info.id), info.timezone))
