"""Agreements and commitments as rules: versions, confirmations, reports, verdicts, early warnings, reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from flows.agreement import (
    Agreement,
    Commitment,
    ObservationKind,
    Outcome,
    Verdict,
    WarningKind,
    commitment_reminder_due,
)
from flows.errors import InvalidInput, StepMismatch
from flows.machines import AgreementStatus, CaseStage, CommitmentStatus, ResponseStatus
from flows.setup import CaseDraft

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PARTIES = ["seat-a", "seat-b", "seat-c"]


def _sent() -> Agreement:
    agreement = Agreement.draft("agr-1", 1, 2, "Both villages share the spring on alternate days.", "en")
    agreement.add_translation("fr", "Les deux villages partagent la source un jour sur deux.")
    agreement.circulate(PARTIES, NOW)
    return agreement


def test_each_reader_gets_the_translation_for_their_language_or_the_original_with_its_language() -> None:
    """French readers get the French text; Arabic readers (no translation) get the English original, marked."""
    version = _sent().current
    assert version.for_reader("fr") == ("Les deux villages partagent la source un jour sur deux.", "fr")
    assert version.for_reader("ar") == ("Both villages share the spring on alternate days.", "en")
    assert version.for_reader("en")[1] == "en"


def test_an_agreement_is_confirmed_once_every_party_confirmed_its_current_version() -> None:
    """Two confirmations leave it circulating; the third adopts it, with the time."""
    agreement = _sent()
    assert not agreement.respond("seat-a", 1, "confirm", NOW)
    assert not agreement.respond("seat-b", 1, "confirm", NOW)
    assert agreement.status is AgreementStatus.CIRCULATING
    assert agreement.respond("seat-c", 1, "confirm", NOW + timedelta(hours=1))
    assert agreement.status is AgreementStatus.CONFIRMED
    assert agreement.confirmed_at == NOW + timedelta(hours=1)


def test_a_request_for_a_change_keeps_the_comment_and_a_new_version_needs_new_confirmations() -> None:
    """A party asks for a change; the revised text is version 2, which nobody has confirmed yet; answers to
    version 1 are refused once version 2 exists."""
    agreement = _sent()
    agreement.respond("seat-a", 1, "confirm", NOW)
    agreement.respond("seat-b", 1, "request_change", NOW, comment="  Say which days, please. ")
    assert agreement.responses["seat-b"].status is ResponseStatus.CHANGE_REQUESTED
    assert agreement.responses["seat-b"].comment == "Say which days, please."
    agreement.revise("The upper village on even days, the lower village on odd days.", "en")
    assert agreement.status is AgreementStatus.DRAFT
    assert agreement.current.number == 2
    assert agreement.current.translations == {}
    agreement.circulate(PARTIES, NOW)
    assert all(r.status is ResponseStatus.PENDING for r in agreement.responses.values())
    with pytest.raises(StepMismatch):
        agreement.respond("seat-c", 1, "confirm", NOW)
    assert [v.number for v in agreement.versions] == [1, 2]


def test_a_confirmation_is_final_but_a_refusal_can_be_reconsidered() -> None:
    """Declined, then confirmed: allowed. Confirmed, then declined: refused."""
    agreement = _sent()
    agreement.respond("seat-a", 1, "decline", NOW)
    agreement.respond("seat-a", 1, "confirm", NOW)
    with pytest.raises(StepMismatch):
        agreement.respond("seat-a", 1, "decline", NOW)
    with pytest.raises(StepMismatch):
        agreement.respond("seat-z", 1, "confirm", NOW)  # never asked


def test_a_party_that_withdrew_is_no_longer_waited_for() -> None:
    """With seat-c gone, the confirmations of a and b adopt the agreement."""
    agreement = _sent()
    agreement.respond("seat-a", 1, "confirm", NOW)
    assert agreement.respond("seat-b", 1, "confirm", NOW, active=["seat-a", "seat-b"])


def test_drafts_are_checked() -> None:
    """Empty text, an unknown language, a translation into the original's language and changes to a version
    already sent are refused."""
    with pytest.raises(InvalidInput):
        Agreement.draft("x", 1, 1, "   ", "en")
    with pytest.raises(InvalidInput):
        Agreement.draft("x", 1, 1, "Text", "xx")
    draft = Agreement.draft("x", 1, 1, "Text", "en")
    with pytest.raises(InvalidInput):
        draft.add_translation("en", "Text again")
    draft.add_translation("fr", "Texte")
    assert draft.reword("Better text")  # the translation no longer matches: dropped
    draft.circulate(PARTIES, NOW)
    with pytest.raises(StepMismatch):
        draft.add_translation("es", "Texto")
    with pytest.raises(InvalidInput):
        Agreement.draft("y", 2, 1, "Text", "en").circulate([], NOW)


def _commitment() -> Commitment:
    return Commitment("c-1", "agr-1", "seat-a", "Repair the canal gate", NOW + timedelta(days=10),
                      "The monitors visit the gate")


def test_a_deadline_without_a_report_is_missed_once() -> None:
    """Before the deadline nothing happens; after it, one MISSED warning, and the status is overdue."""
    commitment = _commitment()
    assert commitment.pass_deadline(NOW) is None
    warning = commitment.pass_deadline(NOW + timedelta(days=11))
    assert warning is not None
    assert warning.kind is WarningKind.MISSED
    assert commitment.status is CommitmentStatus.OVERDUE
    assert commitment.pass_deadline(NOW + timedelta(days=12)) is None


def test_a_report_is_verified_when_every_other_party_confirms_it_and_a_dispute_warns() -> None:
    """The owner reports done; b confirms, c disputes: DISPUTED and a warning. A new report, confirmed by both,
    is verified."""
    commitment = _commitment()
    with pytest.raises(StepMismatch):
        commitment.report_outcome("seat-b", Outcome.DONE, NOW)  # not the owner
    assert commitment.report_outcome("seat-a", Outcome.DONE, NOW, "Gate rebuilt") is None
    assert commitment.review("seat-b", 1, Verdict.CONFIRM, NOW, others=PARTIES) is None
    warning = commitment.review("seat-c", 1, Verdict.DISPUTE, NOW, others=PARTIES, comment="Still leaking")
    assert warning is not None
    assert (warning.kind, warning.by_seat) == (WarningKind.DISPUTED, "seat-c")
    assert commitment.status is CommitmentStatus.DISPUTED
    with pytest.raises(StepMismatch):
        commitment.review("seat-b", 1, Verdict.CONFIRM, NOW, others=PARTIES)  # once per report
    commitment.report_outcome("seat-a", Outcome.DONE, NOW + timedelta(days=1))
    with pytest.raises(StepMismatch):
        commitment.review("seat-b", 1, Verdict.CONFIRM, NOW, others=PARTIES)  # report 1 was replaced
    commitment.review("seat-b", 2, Verdict.CONFIRM, NOW, others=PARTIES)
    assert commitment.status is CommitmentStatus.DONE
    commitment.review("seat-c", 2, Verdict.CONFIRM, NOW, others=PARTIES)
    assert commitment.status is CommitmentStatus.VERIFIED
    with pytest.raises(StepMismatch):
        commitment.report_outcome("seat-a", Outcome.PARTLY, NOW)


def test_not_done_and_alarms_warn_the_mediators() -> None:
    """A 'not done' report and a monitor's alarm each warn; a monitor's note does not."""
    commitment = _commitment()
    warning = commitment.report_outcome("seat-a", Outcome.NOT_DONE, NOW)
    assert warning is not None
    assert warning.kind is WarningKind.NOT_DONE
    assert commitment.observe("mon-1", ObservationKind.NOTE, "Work started", NOW) is None
    alarm = commitment.observe("mon-1", ObservationKind.ALARM, "Gate taken away", NOW)
    assert alarm is not None
    assert alarm.kind is WarningKind.ALARM


def test_owners_are_reminded_in_the_last_days_by_day_and_once_a_day() -> None:
    """Three days before, at 10:00 local: due; at 22:00 local: not; again the same day: not; reported: not."""
    commitment = _commitment()
    nairobi_ten = (commitment.due - timedelta(days=2)).replace(hour=7, minute=0)  # 10:00 in Nairobi (UTC+3)
    assert not commitment_reminder_due(NOW, commitment, "Africa/Nairobi")  # ten days ahead
    assert commitment_reminder_due(nairobi_ten, commitment, "Africa/Nairobi")
    assert not commitment_reminder_due(nairobi_ten.replace(hour=19), commitment, "Africa/Nairobi")
    commitment.last_reminded_on = date(nairobi_ten.year, nairobi_ten.month, nairobi_ten.day)
    assert not commitment_reminder_due(nairobi_ten + timedelta(hours=1), commitment, "Africa/Nairobi")
    commitment.last_reminded_on = None
    commitment.report_outcome("seat-a", Outcome.DONE, nairobi_ten)
    assert not commitment_reminder_due(nairobi_ten, commitment, "Africa/Nairobi")


def test_partial_agreements_accumulate_over_rounds() -> None:
    """An agreement moves the case to agreement, its commitments to monitoring; another round can follow, and the
    next agreement after it moves the case again; one confirmed during a round leaves the round running."""
    case = CaseDraft(CaseStage.JOINT)
    case.fire("record_agreement")
    assert case.stage is CaseStage.AGREEMENT
    case.fire("start_monitoring")
    assert case.stage is CaseStage.MONITORING
    case.fire("start_round")
    assert case.stage is CaseStage.CAUCUS
    case.fire("record_agreement")
    assert case.stage is CaseStage.CAUCUS
    case.fire("close_round")
    case.fire("record_agreement")
    assert case.stage is CaseStage.AGREEMENT
    closed = CaseDraft(CaseStage.CLOSED)
    with pytest.raises(StepMismatch):
        closed.fire("record_agreement")
