"""How agreements and commitments look: to the mediators (the case's agreements, one agreement, commitments at a
glance) and to a party (a version to confirm, a commitment to report on or to review).

Pure functions of domain data; `bot.agreements` decides which one to show.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.formats import Day, Moment
from bot.i18n import Layout, Text, _, ngettext, user_text
from bot.replies import ButtonSpec, Reply
from bot.summary_views import LanguageName, quote
from bot.views import shorten
from flows.agreement import (
    Agreement,
    Commitment,
    Observation,
    ObservationKind,
    Outcome,
    Verdict,
    Warning,
    WarningKind,
)
from flows.machines import AgreementStatus, CommitmentStatus, ResponseStatus
from flows.model import CaseInfo
from storage.agreements import MonitorInfo

__all__ = [
    "AGREEMENT_PROMPTS",
    "COMMITMENT_STATUS",
    "agreement_view",
    "agreements_view",
    "commitment_line",
    "party_agreement",
]

AGREEMENT_STATUS_NAMES: Mapping[AgreementStatus, Text] = {
    AgreementStatus.DRAFT: _("draft, not sent yet"),
    AgreementStatus.CIRCULATING: _("with the parties for confirmation"),
    AgreementStatus.CONFIRMED: _("confirmed by every party"),
    AgreementStatus.ABANDONED: _("abandoned"),
}

RESPONSE_NAMES: Mapping[ResponseStatus, Text] = {
    ResponseStatus.PENDING: _("no answer yet"),
    ResponseStatus.CONFIRMED: _("confirmed"),
    ResponseStatus.CHANGE_REQUESTED: _("asked for a change"),
    ResponseStatus.DECLINED: _("declined"),
}

# A commitment at a glance: a sign that reads without colour, and words.
COMMITMENT_STATUS: Mapping[CommitmentStatus, tuple[str, Text]] = {
    CommitmentStatus.OPEN: ("⏳", _("open")),
    CommitmentStatus.OVERDUE: ("⚠️", _("deadline missed, nothing reported")),
    CommitmentStatus.DONE: ("☑️", _("reported done")),
    CommitmentStatus.PARTLY: ("◐", _("reported partly done")),
    CommitmentStatus.NOT_DONE: ("⚠️", _("reported not done")),
    CommitmentStatus.DISPUTED: ("⚠️", _("report disputed")),
    CommitmentStatus.VERIFIED: ("✅", _("done, confirmed by the other parties")),
}

OUTCOME_NAMES: Mapping[Outcome, Text] = {
    Outcome.DONE: _("done"),
    Outcome.PARTLY: _("partly done"),
    Outcome.NOT_DONE: _("not done"),
}

VERDICT_NAMES: Mapping[Verdict, Text] = {
    Verdict.CONFIRM: _("confirms"),
    Verdict.DISPUTE: _("disputes"),
}

OBSERVATION_NAMES: Mapping[ObservationKind, Text] = {
    ObservationKind.NOTE: _("observation"),
    ObservationKind.ALARM: _("ALARM"),
}

# What the mediator is asked to type, per pending action of an agreement.
AGREEMENT_PROMPTS: Mapping[str, Text] = {
    "agr_new": _("Send the text agreed in the joint session, as one message, in the language you write it in. "
                 "You can add translations before sending it to the parties."),
    "agr_reword": _("Send the new text of this draft. Its translations will be removed: add them again after."),
    "agr_revise": _("Send the changed text. It becomes a new version, which every party confirms again."),
    "agr_tr": _("Send the text in {language}, as one message. Parties who read {language} will receive it "
                "instead of the original."),
    "mon_new": _("Send the name of the monitor (a civil-society group, say), as the mediators will see it. You get "
                 "a link to forward to them: it works once."),
    "cmt": _("Send three lines: what {party} will do; the deadline as a date (for example {example}); and how it "
             "will be verified."),
}


def _count_line(agreement: Agreement) -> Text:
    counts = agreement.counts()
    asked = len(agreement.responses)
    return ngettext("Confirmed by {confirmed} of {count} party.", "Confirmed by {confirmed} of {count} parties.",
                    asked, confirmed=counts[ResponseStatus.CONFIRMED])


# What parties and monitors see of a commitment's state: the owner's report, never the other parties' verdicts
# (those are for the mediators only, and with two parties a "disputed" would name who disputed).
_REPORTED = {Outcome.DONE: CommitmentStatus.DONE, Outcome.PARTLY: CommitmentStatus.PARTLY,
             Outcome.NOT_DONE: CommitmentStatus.NOT_DONE}


def public_status(commitment: Commitment) -> CommitmentStatus:
    if commitment.status in {CommitmentStatus.DISPUTED, CommitmentStatus.VERIFIED} and commitment.report:
        return _REPORTED[commitment.report.outcome]
    return commitment.status


def commitment_line(commitment: Commitment, labels: Mapping[str, str], zone: str, *, mediators: bool = True) -> Text:
    """One commitment at a glance: its status sign, owner, what, deadline and status in words (for parties and
    monitors, without the verdicts of the other parties)."""
    sign, status = COMMITMENT_STATUS[commitment.status if mediators else public_status(commitment)]
    return Layout("{sign} {owner}: {what} · {due} · {status}", params={
        "sign": sign, "owner": user_text(labels.get(commitment.owner, "?")),
        "what": user_text(shorten(commitment.what, 80)), "due": Day(commitment.due, zone), "status": status})


def agreements_view(info: CaseInfo, agreements: list[Agreement], commitments: list[Commitment],
                    labels: Mapping[str, str], *, monitors: list[MonitorInfo], can_draft: bool) -> Reply:
    """The case's agreements, every commitment at a glance, and the monitors."""
    lines: list[Text | str] = [_("<b>Agreements of case {case}</b>", case=info.short_id)]
    if not agreements:
        lines.append(_("No agreement yet. After a joint session, write down what the parties agreed: each party "
                       "confirms it in private."))
    for agreement in agreements:
        status = AGREEMENT_STATUS_NAMES[agreement.status]
        lines.append(_("• Agreement {number}, version {version}: {status}", number=agreement.number,
                       version=agreement.current.number, status=status))
        if agreement.status is AgreementStatus.CIRCULATING:
            lines.append(_count_line(agreement))
    if commitments:
        lines += ["", _("<b>Commitments</b>")]
        lines += [commitment_line(commitment, labels, info.timezone) for commitment in commitments]
    if monitors:
        lines += ["", _("<b>Monitors</b>: they follow the commitments and send observations; they never see the "
                        "caucus.")]
        lines += [_("• {monitor}: joined", monitor=user_text(monitor.label)) if monitor.joined else
                  _("• {monitor}: invited, not joined yet", monitor=user_text(monitor.label)) for monitor in monitors]
    rows = [[ButtonSpec(_("📜 Agreement {number}", number=agreement.number), "agreement", agreement.id)]
            for agreement in agreements if agreement.status is not AgreementStatus.ABANDONED][:20]
    if can_draft:
        rows.append([ButtonSpec(_("➕ New agreement"), "agr_new")])
    elif not agreements:
        lines.append(_("Agreements are drafted after a round, once the parties have met in a joint session."))
    if agreements:
        rows.append([ButtonSpec(_("👁 Invite a monitor"), "mon_new")])
    if monitors:
        rows.append([ButtonSpec(Layout("✖ {monitor}", params={"monitor": user_text(shorten(monitor.label, 24))}),
                                "mon_remove", monitor.id) for monitor in monitors][:4])
    rows.append([ButtonSpec(_("⬅️ Back to the case"), "menu")])
    return Reply.of(*lines, buttons=rows)


def _response_lines(agreement: Agreement, labels: Mapping[str, str], zone: str) -> list[Text | str]:
    lines: list[Text | str] = []
    in_seat_order = [seat for seat in labels if seat in agreement.responses]
    for seat in in_seat_order:
        response = agreement.responses[seat]
        party = user_text(labels[seat])
        if response.at is None:
            lines.append(_("• {party}: {answer}", party=party, answer=RESPONSE_NAMES[response.status]))
        else:
            lines.append(_("• {party}: {answer} ({when})", party=party, answer=RESPONSE_NAMES[response.status],
                           when=Moment(response.at, zone)))
        if response.status is ResponseStatus.CHANGE_REQUESTED and response.comment:
            lines.append(Layout("  {comment}", params={"comment": quote(response.comment, "")}))
    return lines


def agreement_view(agreement: Agreement, commitments: list[Commitment], labels: Mapping[str, str],
                   zone: str) -> Reply:
    """One agreement as its mediators see it: the text, translations, commitments, each party's answer."""
    version = agreement.current
    lines: list[Text | str] = [
        _("<b>Agreement {number}</b>, version {version}: {status}", number=agreement.number,
          version=version.number, status=AGREEMENT_STATUS_NAMES[agreement.status]),
        _("Written in {language}.", language=LanguageName(version.language)),
    ]
    if version.translations:
        lines.append(_("Translations: {languages}.", languages=Layout(
            ", ".join(f"{{l{i}}}" for i in range(len(version.translations))),
            params={f"l{i}": LanguageName(code) for i, code in enumerate(sorted(version.translations))})))
    elif agreement.status is AgreementStatus.DRAFT:
        lines.append(_("No translation: parties who read another language receive this text, with its language "
                       "named."))
    lines += ["", Layout("{text}", params={"text": user_text(version.text)})]
    if commitments:
        lines += ["", _("<b>Commitments</b>")]
        for commitment in commitments:
            lines.append(commitment_line(commitment, labels, zone))
            lines.append(_("  How it will be verified: {how}", how=user_text(commitment.verification)))
    if agreement.responses:
        lines += ["", _("<b>Answers to version {version}</b>", version=version.number), *_response_lines(
            agreement, labels, zone)]
    if agreement.confirmed_at is not None:
        lines.append(_("Confirmed by every party on {when}.", when=Moment(agreement.confirmed_at, zone)))
    return Reply.of(*lines, buttons=_agreement_buttons(agreement, commitments))


def _agreement_buttons(agreement: Agreement, commitments: list[Commitment]) -> list[list[ButtonSpec]]:
    rows: list[list[ButtonSpec]] = []
    if agreement.status is AgreementStatus.DRAFT:
        rows.append([ButtonSpec(_("✏️ Reword"), "agr_reword", agreement.id),
                     ButtonSpec(_("🌐 Add a translation"), "agr_translate", agreement.id)])
        rows.append([ButtonSpec(_("➕ Add a commitment"), "cmt_add", agreement.id)])
        removable = [commitment for commitment in commitments if not commitment.reports]
        if removable:
            rows.append([ButtonSpec(_("✖ Commitment {number}", number=index), "cmt_remove", commitment.id)
                         for index, commitment in enumerate(removable, start=1)][:8])
        rows.append([ButtonSpec(_("📨 Send to the parties"), "agr_send", agreement.id)])
    if agreement.status in {AgreementStatus.CIRCULATING, AgreementStatus.CONFIRMED}:
        rows.append([ButtonSpec(_("✏️ Change the text (new version)"), "agr_revise", agreement.id)])
    if agreement.status in {AgreementStatus.DRAFT, AgreementStatus.CIRCULATING}:
        rows.append([ButtonSpec(_("🗑 Abandon this agreement"), "agr_abandon", agreement.id)])
    rows.append([ButtonSpec(_("⬅️ Agreements"), "agreements")])
    return rows


def party_agreement(info: CaseInfo, agreement: Agreement, commitments: list[Commitment],
                    labels: Mapping[str, str], reader: str) -> Reply:
    """A version as one party receives it, in its language where the mediator gave a translation."""
    version = agreement.current
    text, language = version.for_reader(reader)
    lines: list[Text | str] = [
        _("<b>Agreement {number} of case {case}</b>, version {version}. Please read it, then tell the mediator "
          "whether you confirm it.", number=agreement.number, case=info.short_id, version=version.number),
    ]
    if version.number > 1:
        lines.append(_("It replaces version {previous}: your answer to the earlier version no longer counts.",
                       previous=version.number - 1))
    if language != reader:
        lines.append(_("No translation into your language was given: this is the original, in {language}.",
                       language=LanguageName(language)))
    lines += ["", Layout("{text}", params={"text": user_text(text)})]
    if commitments:
        lines += ["", _("<b>Commitments</b> (as the mediator wrote them, in {language})",
                        language=LanguageName(version.language))]
        for commitment in commitments:
            lines.append(_("• {owner}: {what}, by {due}. Verified by: {how}",
                           owner=user_text(labels.get(commitment.owner, "?")), what=user_text(commitment.what),
                           due=Day(commitment.due, info.timezone), how=user_text(commitment.verification)))
    lines += ["", _("Only the mediators see your answer and your comment.")]
    return Reply.of(*lines, buttons=[
        [ButtonSpec(_("✅ I confirm"), "agr_yes")],
        [ButtonSpec(_("✏️ Ask for a change"), "agr_change"), ButtonSpec(_("❌ I decline"), "agr_no")],
    ])


# Commitments: owners, the other parties, monitors, early warnings ---------------------------------------
def _about(commitment: Commitment, labels: Mapping[str, str], zone: str) -> Text:
    return _("{owner}: {what} (by {due})", owner=user_text(labels.get(commitment.owner, "?")),
             what=user_text(commitment.what), due=Day(commitment.due, zone))


def report_buttons() -> list[list[ButtonSpec]]:
    return [[ButtonSpec(_("✅ Done"), "cmt_done"), ButtonSpec(_("◐ Partly done"), "cmt_partly"),
             ButtonSpec(_("❌ Not done"), "cmt_not_done")]]


def owner_prompt(info: CaseInfo, commitment: Commitment, zone: str, *, due_now: bool) -> Reply:
    """To the owner: a reminder before the deadline, or the question at the deadline."""
    what = user_text(commitment.what)
    first = (_("The deadline of your commitment in case {case} has passed: {what}, by {due}. Where does it stand?",
               case=info.short_id, what=what, due=Day(commitment.due, zone)) if due_now else
             _("A reminder about your commitment in case {case}: {what}, by {due}. When it is done, or if it cannot "
               "be, tell the mediators here.", case=info.short_id, what=what, due=Day(commitment.due, zone)))
    return Reply.of(first, _("The mediators and the other parties see what you report; the other parties may "
                             "confirm or dispute it. A comment you add is for the mediators only."),
                    buttons=report_buttons())


def comment_prompt() -> Reply:
    return Reply.of(_("Add a comment for the mediators in one message, or send it as it is."),
                    buttons=[[ButtonSpec(_("📨 Send without a comment"), "cmt_send")],
                             [ButtonSpec(_("Cancel"), "cmt_cancel")]])


def review_question(info: CaseInfo, commitment: Commitment, labels: Mapping[str, str], zone: str) -> Reply:
    """To the other parties: the owner's report, to confirm or dispute (in private, to the mediators)."""
    report = commitment.report
    assert report is not None  # noqa: S101 - asked only after a report
    return Reply.of(
        _("{owner} reports on a commitment of case {case}: {what}. Reported: <b>{outcome}</b>.",
          owner=user_text(labels.get(commitment.owner, "?")), case=info.short_id, what=user_text(commitment.what),
          outcome=OUTCOME_NAMES[report.outcome]),
        _("Do you confirm? Your answer goes to the mediators only."),
        buttons=[[ButtonSpec(_("✅ I confirm"), "cmt_ok"), ButtonSpec(_("⚠️ I dispute it"), "cmt_dispute")]])


def report_notice(info: CaseInfo, commitment: Commitment, labels: Mapping[str, str], zone: str) -> Reply:
    """To the mediators: a report that is no warning (done, partly done)."""
    report = commitment.report
    assert report is not None  # noqa: S101 - sent only after a report
    lines: list[Text | str] = [_("Case {case}: {owner} reports <b>{outcome}</b> on: {what}", case=info.short_id,
                                 owner=user_text(labels.get(commitment.owner, "?")),
                                 outcome=OUTCOME_NAMES[report.outcome], what=user_text(commitment.what))]
    if report.comment:
        lines.append(quote(report.comment, ""))
    return Reply.of(*lines)


def review_notice(info: CaseInfo, commitment: Commitment, seat: str, labels: Mapping[str, str]) -> Reply:
    """To the mediators: a party confirmed a report (a dispute is a warning)."""
    lines: list[Text | str] = [_("Case {case}: {party} confirms the report of {owner} on: {what}",
                                 case=info.short_id, party=user_text(labels.get(seat, "?")),
                                 owner=user_text(labels.get(commitment.owner, "?")), what=user_text(commitment.what))]
    if commitment.status is CommitmentStatus.VERIFIED:
        lines.append(_("Every other party has confirmed it: the commitment is verified."))
    return Reply.of(*lines)


def warning_message(info: CaseInfo, warning: Warning, commitment: Commitment, labels: Mapping[str, str],
                    zone: str, *, comment: str | None = None, owner_asked: bool = True) -> Reply:
    """An early warning for the mediators: a missed deadline, a report of work not done, a dispute, an alarm."""
    about = _about(commitment, labels, zone)
    by = user_text(labels.get(warning.by_seat or "", "?"))
    body = {
        WarningKind.MISSED: _("A deadline passed with no report: {about}. The owner has been asked where it stands.",
                              about=about) if owner_asked else
        _("A deadline passed with no report: {about}. Nobody holds the owner's seat any more to be asked.",
          about=about),
        WarningKind.NOT_DONE: _("The owner reports a commitment <b>not done</b>: {about}.", about=about),
        WarningKind.DISPUTED: _("{party} <b>disputes</b> the report on: {about}.", party=by, about=about),
        WarningKind.ALARM: _("The monitor {monitor} raises an <b>alarm</b> about: {about}.", monitor=by, about=about),
    }[warning.kind]
    lines: list[Text | str] = [_("🚨 <b>Early warning</b>, case {case}", case=info.short_id), body]
    if comment:
        lines.append(quote(comment, ""))
    return Reply.of(*lines)


def monitor_view(info: CaseInfo, commitments: list[Commitment], labels: Mapping[str, str], zone: str) -> Reply:
    """To a monitor: the case's followed commitments, each open to an observation."""
    lines: list[Text | str] = [_("<b>Commitments of case {case}</b>", case=info.short_id)]
    if not commitments:
        lines.append(_("No commitment is followed yet: you will be told when an agreement with commitments is "
                       "confirmed."))
    lines += [commitment_line(commitment, labels, zone, mediators=False) for commitment in commitments]
    if commitments:
        lines += ["", _("Tap a commitment to send the mediators an observation. An alarm warns them at once.")]
    rows = [[ButtonSpec(Layout("👁 {owner}: {what}", params={
        "owner": user_text(labels.get(commitment.owner, "?")), "what": user_text(shorten(commitment.what, 40))}),
        "obs", commitment.id)] for commitment in commitments[:20]]
    return Reply.of(*lines, buttons=rows)


def observation_kind_question(commitment: Commitment, labels: Mapping[str, str], zone: str) -> Reply:
    return Reply.of(
        _("Observation on {about}. Is it information, or an alarm: something is going wrong and the mediators "
          "should act now?", about=_about(commitment, labels, zone)),
        buttons=[[ButtonSpec(_("📝 Information"), "obs_note", commitment.id),
                  ButtonSpec(_("🚨 Alarm"), "obs_alarm", commitment.id)],
                 [ButtonSpec(_("Cancel"), "obs_cancel", commitment.id)]])


def observation_notice(info: CaseInfo, commitment: Commitment, observation: Observation, labels: Mapping[str, str],
                       zone: str) -> Reply:
    """To the mediators: a monitor's observation that is no alarm (``labels`` names the monitors too)."""
    return Reply.of(_("Case {case}: the monitor {monitor} sends an observation on {about}:", case=info.short_id,
                      monitor=user_text(labels.get(observation.monitor_id, "?")),
                      about=_about(commitment, labels, zone)), quote(observation.text, ""))
