"""Agreements and their follow-up (DESIGN.md §2): from the text agreed in a joint session to kept commitments.

An agreement is a text the mediator drafts after a joint session; partial agreements accumulate over rounds.
Each version goes to every party in private (in the party's language where the mediator gave a translation),
and each party confirms it, asks for a change (with a comment only the mediators read) or declines. A changed
text is a new version: it needs new confirmations, and the confirmations of the old one stay on record.

An agreement holds commitments: who does what by when, and how it will be verified. The owner is reminded
before the deadline and reports done, partly or not done; the other parties confirm or dispute that report,
privately, to the mediators. Monitors (a civil-society group, invited like a party) file observations. A
dispute, a missed deadline or a monitor's alarm warns the mediators at once (`Warning`).

Pure rules over plain values: storage loads and saves, the transport renders and sends.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flows.caucus import SUPPORTED_LANGUAGES
from flows.errors import InvalidInput, StepMismatch
from flows.machines import (
    AGREEMENT_MACHINE,
    COMMITMENT_MACHINE,
    RESPONSE_MACHINE,
    AgreementStatus,
    CommitmentStatus,
    ResponseStatus,
)
from flows.text import MAX_ANSWER_CHARS, clean_text

__all__ = [
    "MAX_AGREEMENT_CHARS",
    "MAX_COMMITMENTS",
    "Agreement",
    "AgreementVersion",
    "Commitment",
    "CommitmentReport",
    "Observation",
    "ObservationKind",
    "Outcome",
    "Response",
    "Review",
    "Verdict",
    "Warning",
    "WarningKind",
    "clean_agreement_text",
    "clean_commitment_text",
    "commitment_reminder_due",
]

# An agreement's text must fit one Telegram message with its heading and buttons (4,096 characters).
MAX_AGREEMENT_CHARS = 3000
MAX_COMMITMENTS = 20  # per agreement: more would not fit the case view a mediator reads on a phone
# Reminders before a commitment's deadline: in the last days, once per local day, between these local hours.
REMINDER_WINDOW = timedelta(days=3)
REMINDER_HOURS = (9, 19)


def clean_agreement_text(raw: str) -> str:
    """An agreement's text (several lines allowed), or InvalidInput("empty" | "too_long")."""
    return clean_text(raw, max_chars=MAX_AGREEMENT_CHARS)


def clean_commitment_text(raw: str) -> str:
    """What a commitment says, or how it will be verified."""
    return clean_text(raw, max_chars=MAX_ANSWER_CHARS)


class _Model:
    """What a shared machine drives: only a state (these machines have no guards)."""

    def __init__(self, state: enum.Enum) -> None:
        self.state = state


# Agreements -----------------------------------------------------------------------------------------------
@dataclass
class AgreementVersion:
    """One wording of an agreement, in the language the mediator wrote it, with the translations given."""

    number: int
    text: str
    language: str
    translations: dict[str, str] = field(default_factory=dict)
    circulated_at: datetime | None = None

    def for_reader(self, language: str) -> tuple[str, str]:
        """The text a reader of ``language`` gets, and the language it is in: the translation for theirs if
        the mediator gave one, else the original (whose language is then shown)."""
        if language == self.language:
            return self.text, self.language
        if language in self.translations:
            return self.translations[language], language
        return self.text, self.language


@dataclass
class Response:
    """A party's answer to one version: pending, confirmed, change requested or declined, and when."""

    status: ResponseStatus = ResponseStatus.PENDING
    at: datetime | None = None
    comment: str | None = None  # the latest change request, for the mediators only


@dataclass
class Agreement:
    """An agreement of a case: its versions and the parties' responses to the current one.

    ``responses`` holds one entry per party asked to confirm the current version (the parties that held a
    seat when it was sent); a party that withdrew since is no longer waited for (``confirmed_by_all``).
    """

    id: str
    number: int
    round: int
    status: AgreementStatus
    versions: list[AgreementVersion]
    responses: dict[str, Response] = field(default_factory=dict)
    confirmed_at: datetime | None = None

    @property
    def current(self) -> AgreementVersion:
        return self.versions[-1]

    def _fire(self, trigger: str) -> bool:
        model = _Model(self.status)
        accepted = AGREEMENT_MACHINE.fire(model, trigger)
        self.status = AgreementStatus(model.state)
        return accepted

    @classmethod
    def draft(cls, agreement_id: str, number: int, round_number: int, raw_text: str, language: str) -> Agreement:
        """A new agreement as the mediator first writes it, not yet sent."""
        _check_language(language)
        version = AgreementVersion(1, clean_agreement_text(raw_text), language)
        return cls(agreement_id, number, round_number, AgreementStatus.DRAFT, [version])

    def reword(self, raw_text: str) -> bool:
        """Replace the text of a draft not sent yet; its translations no longer match and are dropped (True
        when there were any)."""
        if self.status is not AgreementStatus.DRAFT:
            raise StepMismatch("only a draft can be reworded")
        self.current.text = clean_agreement_text(raw_text)
        dropped = bool(self.current.translations)
        self.current.translations = {}
        return dropped

    def add_translation(self, language: str, raw_text: str) -> None:
        """The text in another language, for the parties reading that one; only before the version is sent."""
        if self.status is not AgreementStatus.DRAFT:
            raise StepMismatch("a version already sent cannot change")
        _check_language(language)
        if language == self.current.language:
            raise InvalidInput("same_language")
        self.current.translations[language] = clean_agreement_text(raw_text)

    def circulate(self, parties: Iterable[str], now: datetime) -> None:
        """Send the current version to ``parties`` (seat ids) for confirmation."""
        asked = list(dict.fromkeys(parties))
        if not asked:
            raise InvalidInput("no_parties")
        if not self._fire("circulate"):
            raise StepMismatch("not a draft")
        self.current.circulated_at = now
        self.responses = {seat: Response() for seat in asked}

    @property
    def sent(self) -> bool:
        """Whether some version of it reached the parties."""
        return any(version.circulated_at is not None for version in self.versions)

    def revise(self, raw_text: str, language: str) -> None:
        """A changed text while it waits for answers: a new version, which every party confirms anew (a confirmed
        agreement stands; a later change is a new agreement)."""
        _check_language(language)
        text = clean_agreement_text(raw_text)
        if not self._fire("revise"):
            raise StepMismatch("only an agreement waiting for answers is revised")
        self.versions.append(AgreementVersion(self.current.number + 1, text, language))
        self.responses = {}
        self.confirmed_at = None

    def abandon(self) -> None:
        if not self._fire("abandon"):
            raise StepMismatch("a confirmed agreement is not abandoned")

    def respond(self, seat_id: str, version: int, trigger: str, now: datetime, *, comment: str | None = None,
                active: Iterable[str] | None = None) -> bool:
        """A party confirms (``confirm``), asks for a change (``request_change``, with ``comment``) or declines
        (``decline``) version ``version``. True when the agreement is now confirmed by every party."""
        if self.status is not AgreementStatus.CIRCULATING or version != self.current.number:
            raise StepMismatch("this version is no longer waiting for answers")
        response = self.responses.get(seat_id)
        if response is None:
            raise StepMismatch("this party was not asked")
        if trigger == "request_change":
            if comment is None:
                raise InvalidInput("empty")
            comment = clean_text(comment)
        model = _Model(response.status)
        if not RESPONSE_MACHINE.fire(model, trigger):
            raise StepMismatch(f"{trigger} refused")
        response.status, response.at = ResponseStatus(model.state), now
        if trigger == "request_change":
            response.comment = comment
        return self.settle(now, active)

    def ask(self, seat_id: str) -> bool:
        """A party that joined while this version waits for answers is asked too (True when it was not yet)."""
        if self.status is not AgreementStatus.CIRCULATING or seat_id in self.responses:
            return False
        self.responses[seat_id] = Response()
        return True

    def drop(self, seat_id: str) -> bool:
        """A party withdrew: its answer no longer counts (a new holder of the seat is asked afresh)."""
        if self.status is not AgreementStatus.CIRCULATING or seat_id not in self.responses:
            return False
        del self.responses[seat_id]
        return True

    def settle(self, now: datetime, active: Iterable[str] | None = None) -> bool:
        """Adopt the version if every party still holding its seat (``active``; all asked when None) confirmed
        it: after a confirmation, or after a party withdrew. True when it was adopted now."""
        if self.status is not AgreementStatus.CIRCULATING:
            return False
        waited = set(self.responses) if active is None else set(self.responses) & set(active)
        if not waited or any(self.responses[seat].status is not ResponseStatus.CONFIRMED for seat in waited):
            return False
        self._fire("all_confirmed")
        self.confirmed_at = now
        return True

    def counts(self) -> Mapping[ResponseStatus, int]:
        found = dict.fromkeys(ResponseStatus, 0)
        for response in self.responses.values():
            found[response.status] += 1
        return found


def _check_language(language: str) -> None:
    if language not in SUPPORTED_LANGUAGES:
        raise InvalidInput("unknown_language")


# Commitments ----------------------------------------------------------------------------------------------
class Outcome(enum.StrEnum):
    """What an owner reports about a commitment."""

    DONE = "done"
    PARTLY = "partly"
    NOT_DONE = "not_done"


class Verdict(enum.StrEnum):
    """What another party says about an owner's report."""

    CONFIRM = "confirm"
    DISPUTE = "dispute"


class ObservationKind(enum.StrEnum):
    """A monitor's observation: information for the mediators, or an alarm that warns them at once."""

    NOTE = "note"
    ALARM = "alarm"


class WarningKind(enum.StrEnum):
    """Why the mediators are warned at once (early warning)."""

    MISSED = "missed"  # a deadline passed without a report of the work done
    NOT_DONE = "not_done"  # the owner reported the work not done
    DISPUTED = "disputed"  # a party disputed the owner's report
    ALARM = "alarm"  # a monitor raised an alarm


@dataclass(frozen=True)
class Warning:
    """An early warning about one commitment, for the mediators."""

    kind: WarningKind
    commitment_id: str
    by_seat: str | None = None  # the party or monitor it came from, if any


@dataclass(frozen=True)
class CommitmentReport:
    """An owner's report (the latest counts); ``number`` counts the reports on this commitment."""

    number: int
    outcome: Outcome
    at: datetime
    comment: str | None = None  # for the mediators only


@dataclass(frozen=True)
class Review:
    """Another party's verdict on report ``report``, with an optional comment for the mediators."""

    seat_id: str
    report: int
    verdict: Verdict
    at: datetime
    comment: str | None = None


@dataclass(frozen=True)
class Observation:
    """A monitor's observation on a commitment; its text is for the mediators."""

    monitor_id: str
    kind: ObservationKind
    text: str
    at: datetime


_OUTCOME_TRIGGER = {Outcome.DONE: "report_done", Outcome.PARTLY: "report_partly", Outcome.NOT_DONE: "report_not_done"}


@dataclass
class Commitment:
    """Who does what by when, and how it will be verified; then its reports, reviews and observations.

    Status at a glance (`CommitmentStatus`): open until the deadline; overdue when it passed without a report;
    then the owner's latest report (done, partly, not done); disputed when a party disputes that report;
    verified when every other party confirmed a report of the work done.
    """

    id: str
    agreement_id: str
    owner: str  # the seat of the party that does it
    what: str
    due: datetime
    verification: str
    status: CommitmentStatus = CommitmentStatus.OPEN
    reports: list[CommitmentReport] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    last_reminded_on: date | None = None
    # How many of ``observations`` are stored already (storage sets it on loading; those after it are new).
    stored_observations: int = 0

    @property
    def report(self) -> CommitmentReport | None:
        return self.reports[-1] if self.reports else None

    def _fire(self, trigger: str) -> bool:
        model = _Model(self.status)
        accepted = COMMITMENT_MACHINE.fire(model, trigger)
        self.status = CommitmentStatus(model.state)
        return accepted

    def pass_deadline(self, now: datetime) -> Warning | None:
        """The deadline passed: a commitment with no report yet is missed (the mediators are warned once)."""
        if now < self.due or self.status is not CommitmentStatus.OPEN:
            return None
        self._fire("pass_deadline")
        return Warning(WarningKind.MISSED, self.id)

    def report_outcome(self, seat_id: str, outcome: Outcome, now: datetime, comment: str | None = None,
                       ) -> Warning | None:
        """The owner reports; a new report replaces the last (and the reviews of the last stay on record)."""
        if seat_id != self.owner:
            raise StepMismatch("only the owner reports on a commitment")
        if not self._fire(_OUTCOME_TRIGGER[outcome]):
            raise StepMismatch("a verified commitment takes no more reports")
        text = clean_text(comment) if comment is not None else None
        self.reports.append(CommitmentReport(len(self.reports) + 1, outcome, now, text))
        return Warning(WarningKind.NOT_DONE, self.id, seat_id) if outcome is Outcome.NOT_DONE else None

    def review(self, seat_id: str, report: int, verdict: Verdict, now: datetime, *, others: Iterable[str],
               comment: str | None = None) -> Warning | None:
        """Another party (one of ``others``, the parties holding a seat) confirms or disputes report ``report``.
        One verdict per party and report; the report must be the latest."""
        latest = self.report
        if seat_id == self.owner:
            raise StepMismatch("the owner does not review its own report")
        if latest is None or latest.number != report:
            raise StepMismatch("this report was replaced")
        if any(r.seat_id == seat_id and r.report == report for r in self.reviews):
            raise StepMismatch("already reviewed")
        if self.status not in {CommitmentStatus.DONE, CommitmentStatus.PARTLY, CommitmentStatus.NOT_DONE,
                               CommitmentStatus.DISPUTED}:
            raise StepMismatch("nothing to review")
        text = clean_text(comment) if comment is not None else None
        self.reviews.append(Review(seat_id, report, verdict, now, text))
        if verdict is Verdict.DISPUTE:
            self._fire("dispute")
            return Warning(WarningKind.DISPUTED, self.id, seat_id)
        self.recheck(others)
        return None

    def recheck(self, others: Iterable[str]) -> bool:
        """Verify a report of the work done once every other party (of ``others``, those holding a seat) confirmed
        it: after a confirmation, or after the last party still to answer withdrew. True when verified now."""
        latest = self.report
        if self.status is not CommitmentStatus.DONE or latest is None:
            return False
        reviewers = set(others) - {self.owner}
        confirmed = {r.seat_id for r in self.reviews if r.report == latest.number and r.verdict is Verdict.CONFIRM}
        if not reviewers or not reviewers <= confirmed:
            return False
        self._fire("verify")
        return True

    def observe(self, monitor_id: str, kind: ObservationKind, raw_text: str, now: datetime) -> Warning | None:
        """A monitor's observation; an alarm warns the mediators."""
        self.observations.append(Observation(monitor_id, kind, clean_text(raw_text), now))
        return Warning(WarningKind.ALARM, self.id, monitor_id) if kind is ObservationKind.ALARM else None

    def awaiting_review_from(self, seat_id: str) -> bool:
        latest = self.report
        return (latest is not None and seat_id != self.owner
                and self.status not in {CommitmentStatus.VERIFIED}
                and not any(r.seat_id == seat_id and r.report == latest.number for r in self.reviews))


def commitment_reminder_due(now: datetime, commitment: Commitment, timezone: str) -> bool:
    """Whether the owner should be reminded now: nothing reported yet, in the last days before the deadline,
    at most once per local day, and only between REMINDER_HOURS local time (never at night)."""
    if commitment.status is not CommitmentStatus.OPEN or not now < commitment.due <= now + REMINDER_WINDOW:
        return False
    local = now.astimezone(ZoneInfo(timezone))
    if not REMINDER_HOURS[0] <= local.hour < REMINDER_HOURS[1]:
        return False
    return commitment.last_reminded_on != local.date()
