"""Agreements, commitments and monitors in the database.

Mixed into `storage.repository.Transaction`, so a confirmation, a report or a warning commits with its outbox in
one transaction. What the mediator wrote (agreement texts and translations, commitments, monitors' labels) is
under the case key; what a party wrote (a comment on a version, on its report, on another's report) under the
party's key, so its withdrawal shreds it; a monitor's observations and chat under the monitor's own key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from flows.agreement import (
    Agreement,
    AgreementVersion,
    Commitment,
    CommitmentReport,
    Observation,
    ObservationKind,
    Outcome,
    Response,
    Review,
    Verdict,
)
from flows.machines import AgreementStatus, CaseStage, CommitmentStatus, ResponseStatus
from storage.crypto import FieldCipher, FieldContext
from storage.errors import KeyDestroyedError, StorageError
from storage.parts import TransactionPart
from storage.tables import (
    AgreementResponseRow,
    AgreementRow,
    AgreementVersionRow,
    Case,
    CommitmentReportRow,
    CommitmentReviewRow,
    CommitmentRow,
    MonitorRow,
    ObservationRow,
    Seat,
    new_id,
    utcnow,
)

__all__ = ["AgreementRepository", "FollowedCommitment", "MonitorContact", "MonitorInfo"]

_INVITE_TOKEN_BYTES = 24


@dataclass(frozen=True)
class MonitorInfo:
    """A monitor as its case's mediators see it."""

    id: str
    label: str
    joined: bool


@dataclass(frozen=True)
class MonitorContact:
    """How to reach a monitor's account."""

    monitor_id: str
    case_id: str
    label: str
    user_hash: str
    chat_id: int
    language: str | None


@dataclass(frozen=True)
class FollowedCommitment:
    """A commitment of a confirmed agreement with nothing reported yet: the deadline job looks at these."""

    case_id: str
    commitment_id: str
    due: datetime


def _context(table: str, row_id: str, case_id: str, party: str, field: str) -> FieldContext:
    return FieldContext(table, row_id, case_id, party, field)


class AgreementRepository(TransactionPart):
    """The agreement part of a transaction (see `storage.repository.Transaction`)."""

    async def _case_key(self, case_id: str) -> FieldCipher:
        return await self._keys.case_cipher(await self.case_key_id(case_id))

    async def _seat_cipher(self, seat_id: str) -> tuple[str, FieldCipher]:
        key_id = await self.seat_key_id(seat_id)
        return key_id, await self._keys.cipher(key_id)

    async def _readable(self, key_id: str | None, blob: bytes | None, context: FieldContext) -> str | None:
        """A party's comment, or None when there is none or its key was destroyed (the party withdrew)."""
        if blob is None or key_id is None:
            return None
        try:
            return (await self._keys.cipher(key_id)).decrypt(blob, context)
        except KeyDestroyedError:
            return None

    # Agreements ---------------------------------------------------------------------------------------
    async def agreements(self, case_id: str) -> list[Agreement]:
        """Every agreement of the case, in order, with its versions and the answers to its current one."""
        rows = (await self.session.scalars(
            select(AgreementRow).where(AgreementRow.case_id == case_id).order_by(AgreementRow.number))).all()
        return [await self._agreement(row) for row in rows]

    async def agreement(self, case_id: str, agreement_id: str, *, lock: bool = False) -> Agreement | None:
        """The agreement if it belongs to the case; locked to the end of the transaction when it will change."""
        row = await (self._locked(AgreementRow, agreement_id) if lock
                     else self.session.get(AgreementRow, agreement_id))
        if row is None or row.case_id != case_id:
            return None
        return await self._agreement(row)

    async def agreement_case(self, agreement_id: str) -> str | None:
        row = await self.session.get(AgreementRow, agreement_id)
        return None if row is None else row.case_id

    async def agreement_version(self, agreement_id: str) -> int:
        """What buttons about the agreement are checked against: its current version number."""
        row = await self.session.get(AgreementRow, agreement_id)
        return -1 if row is None else row.version

    async def _agreement(self, row: AgreementRow) -> Agreement:
        cipher = await self._case_key(row.case_id)
        version_rows = (await self.session.scalars(
            select(AgreementVersionRow).where(AgreementVersionRow.agreement_id == row.id)
            .order_by(AgreementVersionRow.number))).all()
        versions = [
            AgreementVersion(
                version.number, cipher.decrypt(version.text_enc, _version_text(version)), version.language,
                json.loads(cipher.decrypt(version.translations_enc, _version_translations(version))),
                version.circulated_at,
            )
            for version in version_rows
        ]
        responses: dict[str, Response] = {}
        if version_rows:
            for answer in (await self.session.scalars(
                    select(AgreementResponseRow).where(AgreementResponseRow.version_id == version_rows[-1].id)
                    .order_by(AgreementResponseRow.id))).all():
                comment = await self._readable(answer.key_id, answer.comment_enc, _response_comment(answer))
                responses[answer.seat_id] = Response(ResponseStatus(answer.status), answer.responded_at, comment)
        return Agreement(row.id, row.number, row.round, AgreementStatus(row.status), versions, responses,
                         row.confirmed_at)

    async def seat_of(self, case_id: str, user_hash: str) -> str | None:
        """The seat this account holds in the case, if any."""
        return await self.session.scalar(select(Seat.id).where(Seat.case_id == case_id, Seat.user_hash == user_hash))

    async def agreement_answers(self, agreement_id: str) -> dict[int, dict[str, Response]]:
        """Every version's answers, by version number then seat: who confirmed which version when."""
        found: dict[int, dict[str, Response]] = {}
        rows = (await self.session.execute(
            select(AgreementVersionRow.number, AgreementResponseRow)
            .join(AgreementResponseRow, AgreementResponseRow.version_id == AgreementVersionRow.id)
            .where(AgreementVersionRow.agreement_id == agreement_id)
            .order_by(AgreementVersionRow.number, AgreementResponseRow.id))).all()
        for number, answer in rows:
            comment = await self._readable(answer.key_id, answer.comment_enc, _response_comment(answer))
            found.setdefault(number, {})[answer.seat_id] = Response(ResponseStatus(answer.status), answer.responded_at,
                                                                    comment)
        return found

    async def next_agreement_number(self, case_id: str) -> int:
        """The number of the case's next agreement; the case row stays locked to the end of the transaction, so two
        mediators drafting at once get different numbers."""
        await self._locked(Case, case_id)
        highest = await self.session.scalar(
            select(func.max(AgreementRow.number)).where(AgreementRow.case_id == case_id))
        return int(highest or 0) + 1

    async def create_agreement(self, case_id: str, agreement: Agreement) -> None:
        """Store a new draft (its id chosen by the caller, `Agreement.draft`)."""
        self.session.add(AgreementRow(
            id=agreement.id, case_id=case_id, number=agreement.number, round=agreement.round,
            status=agreement.status.value, version=agreement.current.number, created_at=utcnow()))
        await self.session.flush()
        await self.save_agreement(case_id, agreement, event="agreement_drafted", actor="mediator")

    async def save_agreement(self, case_id: str, agreement: Agreement, *, event: str, actor: str,
                             seat_id: str | None = None) -> None:
        """Write the agreement back (status, versions, the answers to the current version) and record ``event``
        in the audit trail: which version, never its text."""
        row: AgreementRow | None = await self._locked(AgreementRow, agreement.id)
        if row is None or row.case_id != case_id:
            raise StorageError("no such agreement")
        cipher = await self._case_key(case_id)
        row.status, row.version, row.confirmed_at = agreement.status.value, agreement.current.number, \
            agreement.confirmed_at
        stored = {version.number: version for version in (await self.session.scalars(
            select(AgreementVersionRow).where(AgreementVersionRow.agreement_id == row.id))).all()}
        current_row: AgreementVersionRow | None = None
        for version in agreement.versions:
            version_row = stored.get(version.number)
            if version_row is None:
                version_row = AgreementVersionRow(id=new_id(), case_id=case_id, agreement_id=row.id,
                                                  number=version.number, language=version.language,
                                                  text_enc=b"", translations_enc=b"", created_at=utcnow())
                self.session.add(version_row)
            elif version is not agreement.current:
                continue  # an earlier version never changes
            version_row.language = version.language
            version_row.text_enc = cipher.encrypt(version.text, _version_text(version_row))
            version_row.translations_enc = cipher.encrypt(json.dumps(version.translations, sort_keys=True),
                                                          _version_translations(version_row))
            version_row.circulated_at = version.circulated_at
            current_row = version_row
        if current_row is None:
            raise StorageError("an agreement without a version")
        await self.session.flush()
        answers = {answer.seat_id: answer for answer in (await self.session.scalars(
            select(AgreementResponseRow).where(AgreementResponseRow.version_id == current_row.id))).all()}
        for seat, stale in answers.items():
            if seat not in agreement.responses:  # a party that withdrew: its answer no longer counts
                await self.session.delete(stale)
        for seat, response in agreement.responses.items():
            answer = answers.get(seat)
            if answer is None:
                answer = AgreementResponseRow(id=new_id(), case_id=case_id, version_id=current_row.id, seat_id=seat,
                                              status=response.status.value)
                self.session.add(answer)
            answer.status, answer.responded_at = response.status.value, response.at
            if response.comment is None:
                answer.key_id, answer.comment_enc = None, None
            else:
                key_id, seat_cipher = await self._seat_cipher(seat)
                answer.key_id = key_id
                answer.comment_enc = seat_cipher.encrypt(response.comment, _response_comment(answer))
        given = agreement.responses.get(seat_id) if seat_id is not None else None
        await self.audit(event, actor=actor, case_id=case_id, seat_id=seat_id, agreement=agreement.number,
                         version=agreement.current.number, status=agreement.status.value,
                         answer=None if given is None else given.status.value)

    # Commitments ---------------------------------------------------------------------------------------
    async def add_commitment(self, case_id: str, commitment: Commitment) -> None:
        """Store a new commitment of a draft agreement (its id chosen by the caller)."""
        cipher = await self._case_key(case_id)
        ordinal = await self.session.scalar(
            select(func.max(CommitmentRow.ordinal)).where(CommitmentRow.case_id == case_id))
        row = CommitmentRow(id=commitment.id, case_id=case_id, agreement_id=commitment.agreement_id,
                            ordinal=int(ordinal or 0) + 1, owner_seat_id=commitment.owner, what_enc=b"",
                            verification_enc=b"", due_at=commitment.due, status=commitment.status.value,
                            created_at=utcnow())
        row.what_enc = cipher.encrypt(commitment.what, _commitment_what(row))
        row.verification_enc = cipher.encrypt(commitment.verification, _commitment_verification(row))
        self.session.add(row)
        await self.audit("commitment_added", actor="mediator", case_id=case_id, seat_id=commitment.owner)

    async def remove_commitment(self, case_id: str, commitment_id: str) -> None:
        """Remove a commitment nobody reported on yet (of a draft agreement)."""
        row = await self.session.get(CommitmentRow, commitment_id)
        if row is None or row.case_id != case_id:
            raise StorageError("no such commitment")
        reported = await self.session.scalar(
            select(func.count()).select_from(CommitmentReportRow).where(CommitmentReportRow.commitment_id == row.id))
        observed = await self.session.scalar(
            select(func.count()).select_from(ObservationRow).where(ObservationRow.commitment_id == row.id))
        if reported or observed:
            raise StorageError("a commitment with reports or observations stays on record")
        await self.session.delete(row)
        await self.audit("commitment_removed", actor="mediator", case_id=case_id)

    async def commitments(self, case_id: str, agreement_id: str | None = None, *, followed: bool = False,
                          ) -> list[Commitment]:
        """The case's commitments (or one agreement's), in order, with their reports, reviews and observations;
        ``followed``: only those of confirmed agreements, the ones followed up."""
        statement = select(CommitmentRow).where(CommitmentRow.case_id == case_id)
        if agreement_id is not None:
            statement = statement.where(CommitmentRow.agreement_id == agreement_id)
        if followed:
            statement = statement.join(AgreementRow, AgreementRow.id == CommitmentRow.agreement_id).where(
                AgreementRow.status == AgreementStatus.CONFIRMED.value)
        rows = (await self.session.scalars(statement.order_by(CommitmentRow.due_at, CommitmentRow.ordinal))).all()
        return [await self._commitment(row) for row in rows]

    async def commitment(self, case_id: str, commitment_id: str, *, lock: bool = False) -> Commitment | None:
        row = await (self._locked(CommitmentRow, commitment_id) if lock
                     else self.session.get(CommitmentRow, commitment_id))
        if row is None or row.case_id != case_id:
            return None
        return await self._commitment(row)

    async def commitment_version(self, commitment_id: str) -> int:
        """What buttons about a commitment are checked against: how many reports it has."""
        if await self.session.get(CommitmentRow, commitment_id) is None:
            return -1
        return int(await self.session.scalar(select(func.count()).select_from(CommitmentReportRow).where(
            CommitmentReportRow.commitment_id == commitment_id)) or 0)

    async def commitment_case(self, commitment_id: str) -> str | None:
        row = await self.session.get(CommitmentRow, commitment_id)
        return None if row is None else row.case_id

    async def _commitment(self, row: CommitmentRow) -> Commitment:
        cipher = await self._case_key(row.case_id)
        reports = [
            CommitmentReport(report.number, Outcome(report.outcome), report.created_at,
                             await self._readable(report.key_id, report.comment_enc, _report_comment(report)))
            for report in (await self.session.scalars(
                select(CommitmentReportRow).where(CommitmentReportRow.commitment_id == row.id)
                .order_by(CommitmentReportRow.number))).all()
        ]
        reviews = [
            Review(review.seat_id, review.report_number, Verdict(review.verdict), review.created_at,
                   await self._readable(review.key_id, review.comment_enc, _review_comment(review)))
            for review in (await self.session.scalars(
                select(CommitmentReviewRow).where(CommitmentReviewRow.commitment_id == row.id)
                .order_by(CommitmentReviewRow.created_at, CommitmentReviewRow.id))).all()
        ]
        observations = []
        for observation in (await self.session.scalars(
                select(ObservationRow).where(ObservationRow.commitment_id == row.id)
                .order_by(ObservationRow.created_at, ObservationRow.id))).all():
            monitor = await self.session.get(MonitorRow, observation.monitor_id)
            text = None if monitor is None else await self._readable(
                monitor.key_id, observation.text_enc, _observation_text(observation))
            if text is not None:
                observations.append(Observation(observation.monitor_id, ObservationKind(observation.kind), text,
                                                observation.created_at))
        return Commitment(
            row.id, row.agreement_id, row.owner_seat_id, cipher.decrypt(row.what_enc, _commitment_what(row)),
            row.due_at, cipher.decrypt(row.verification_enc, _commitment_verification(row)),
            CommitmentStatus(row.status), reports, reviews, observations, row.last_reminded_on,
            stored_observations=len(observations),
        )

    async def save_commitment(self, case_id: str, commitment: Commitment, *, event: str | None, actor: str,
                              seat_id: str | None = None) -> None:
        """Write back the status and what was added (reports, reviews, observations are never changed), and
        record ``event`` (content-free) in the audit trail."""
        row: CommitmentRow | None = await self._locked(CommitmentRow, commitment.id)
        if row is None or row.case_id != case_id:
            raise StorageError("no such commitment")
        row.status, row.last_reminded_on = commitment.status.value, commitment.last_reminded_on
        stored_reports = set((await self.session.scalars(
            select(CommitmentReportRow.number).where(CommitmentReportRow.commitment_id == row.id))).all())
        for report in commitment.reports:
            if report.number in stored_reports:
                continue
            report_row = CommitmentReportRow(id=new_id(), case_id=case_id, commitment_id=row.id,
                                             seat_id=commitment.owner, number=report.number,
                                             outcome=report.outcome.value, created_at=report.at)
            if report.comment is not None:
                report_row.key_id, owner_cipher = await self._seat_cipher(commitment.owner)
                report_row.comment_enc = owner_cipher.encrypt(report.comment, _report_comment(report_row))
            self.session.add(report_row)
        stored_reviews = {(number, seat) for number, seat in (await self.session.execute(
            select(CommitmentReviewRow.report_number, CommitmentReviewRow.seat_id)
            .where(CommitmentReviewRow.commitment_id == row.id))).all()}
        for review in commitment.reviews:
            if (review.report, review.seat_id) in stored_reviews:
                continue
            review_row = CommitmentReviewRow(id=new_id(), case_id=case_id, commitment_id=row.id,
                                             report_number=review.report, seat_id=review.seat_id,
                                             verdict=review.verdict.value, created_at=review.at)
            if review.comment is not None:
                review_row.key_id, reviewer_cipher = await self._seat_cipher(review.seat_id)
                review_row.comment_enc = reviewer_cipher.encrypt(review.comment, _review_comment(review_row))
            self.session.add(review_row)
        for observation in commitment.observations[commitment.stored_observations:]:
            monitor = await self.session.get(MonitorRow, observation.monitor_id)
            if monitor is None or monitor.case_id != case_id:
                raise StorageError("no such monitor")
            observation_row = ObservationRow(id=new_id(), case_id=case_id, commitment_id=row.id,
                                             monitor_id=monitor.id, kind=observation.kind.value, text_enc=b"",
                                             created_at=observation.at)
            observation_row.text_enc = (await self._keys.cipher(monitor.key_id)).encrypt(
                observation.text, _observation_text(observation_row))
            self.session.add(observation_row)
        if event is not None:
            await self.audit(event, actor=actor, case_id=case_id, seat_id=seat_id, commitment=row.ordinal,
                             status=commitment.status.value)

    async def followed_commitments(self) -> list[FollowedCommitment]:
        """Commitments of confirmed agreements in open cases with nothing reported yet, soonest due first."""
        rows = (await self.session.execute(
            select(CommitmentRow.case_id, CommitmentRow.id, CommitmentRow.due_at)
            .join(AgreementRow, AgreementRow.id == CommitmentRow.agreement_id)
            .join(Case, Case.id == CommitmentRow.case_id)
            .where(CommitmentRow.status == CommitmentStatus.OPEN.value,
                   AgreementRow.status == AgreementStatus.CONFIRMED.value, Case.stage != CaseStage.CLOSED.value)
            .order_by(CommitmentRow.due_at))).all()
        return [FollowedCommitment(case_id, commitment_id, due) for case_id, commitment_id, due in rows]

    # Monitors -----------------------------------------------------------------------------------------
    async def invite_monitor(self, case_id: str, label: str, valid_for: timedelta) -> tuple[str, str]:
        """A new monitor with its own key, and its single-use invite token (shown once): (monitor id, token)."""
        key_id, _cipher = await self._keys.create("monitor")
        cipher = await self._case_key(case_id)
        token = secrets.token_urlsafe(_INVITE_TOKEN_BYTES)
        row = MonitorRow(id=new_id(), case_id=case_id, key_id=key_id, label_enc=b"",
                         invite_hash=self.store.hasher("invite", token), invite_expires_at=utcnow() + valid_for,
                         version=0, created_at=utcnow())
        row.label_enc = cipher.encrypt(label, _monitor_label(row))
        self.session.add(row)
        await self.audit("monitor_invited", actor="mediator", case_id=case_id)
        return row.id, token

    async def is_monitor_invite(self, token: str) -> bool:
        return await self.session.scalar(
            select(MonitorRow.id).where(MonitorRow.invite_hash == self.store.hasher("invite", token))) is not None

    async def claim_monitor(self, token: str, user_id: int) -> str | None:
        """Bind the invited monitor to this account (or resume it); None for any token that is not usable, as for
        a party's invite. An account that holds a party seat of the case cannot also monitor it."""
        monitor_id = await self.session.scalar(
            select(MonitorRow.id).where(MonitorRow.invite_hash == self.store.hasher("invite", token)))
        if monitor_id is None:
            return None
        row: MonitorRow = await self._locked(MonitorRow, monitor_id)
        user_hash = self.store.user_hash(user_id)
        if row.user_hash == user_hash:
            return row.id
        if row.user_hash is not None or row.invite_expires_at < utcnow():
            return None
        taken = await self.session.scalar(select(Seat.id).where(Seat.case_id == row.case_id,
                                                                Seat.user_hash == user_hash))
        monitoring = await self.session.scalar(select(MonitorRow.id).where(MonitorRow.case_id == row.case_id,
                                                                           MonitorRow.user_hash == user_hash))
        if taken is not None or monitoring is not None:
            return None
        cipher = await self._keys.cipher(row.key_id)
        row.user_hash, row.joined_at = user_hash, utcnow()
        row.chat_enc = cipher.encrypt(str(user_id), _monitor_chat(row))
        row.version += 1
        await self.audit("monitor_joined", actor="monitor", case_id=row.case_id)
        return row.id

    async def is_monitor(self, case_id: str, user_hash: str) -> bool:
        """Whether this account monitors the case (it cannot also take a party's seat)."""
        return await self.session.scalar(select(MonitorRow.id).where(
            MonitorRow.case_id == case_id, MonitorRow.user_hash == user_hash)) is not None

    async def remove_monitor(self, case_id: str, monitor_id: str, *, actor: str) -> None:
        """End a monitor's access and shred what it sent: its key is destroyed (its observations with it), its
        account unbound, its link made unusable, its buttons stale."""
        row: MonitorRow | None = await self._locked(MonitorRow, monitor_id)
        if row is None or row.case_id != case_id:
            raise StorageError("no such monitor")
        await self._keys.destroy(row.key_id)
        row.user_hash, row.chat_enc = None, None
        row.invite_hash = self.store.hasher("invite", secrets.token_urlsafe(_INVITE_TOKEN_BYTES))
        row.invite_expires_at = utcnow()
        row.version += 1
        await self.audit("monitor_removed", actor=actor, case_id=case_id)

    async def monitors(self, case_id: str) -> list[MonitorInfo]:
        cipher = await self._case_key(case_id)
        rows = (await self.session.scalars(
            select(MonitorRow).where(MonitorRow.case_id == case_id).order_by(MonitorRow.created_at, MonitorRow.id)
        )).all()
        return [MonitorInfo(row.id, cipher.decrypt(row.label_enc, _monitor_label(row)), row.user_hash is not None)
                for row in rows if not await self._keys.destroyed(row.key_id)]  # removed monitors are gone

    async def monitor_contact(self, monitor_id: str) -> MonitorContact | None:
        """How to reach the monitor; None before it joined."""
        row = await self.session.get(MonitorRow, monitor_id)
        if row is None or row.user_hash is None or row.chat_enc is None:
            return None
        chat = (await self._keys.cipher(row.key_id)).decrypt(row.chat_enc, _monitor_chat(row))
        label = (await self._case_key(row.case_id)).decrypt(row.label_enc, _monitor_label(row))
        return MonitorContact(row.id, row.case_id, label, row.user_hash, int(chat),
                              await self.language_of(row.user_hash))

    async def monitor_version(self, monitor_id: str) -> int:
        row = await self.session.get(MonitorRow, monitor_id)
        return -1 if row is None else row.version


def _version_text(row: AgreementVersionRow) -> FieldContext:
    return _context("agreement_versions", row.id, row.case_id, "", "text")


def _version_translations(row: AgreementVersionRow) -> FieldContext:
    return _context("agreement_versions", row.id, row.case_id, "", "translations")


def _response_comment(row: AgreementResponseRow) -> FieldContext:
    return _context("agreement_responses", row.id, row.case_id, row.seat_id, "comment")


def _commitment_what(row: CommitmentRow) -> FieldContext:
    return _context("commitments", row.id, row.case_id, "", "what")


def _commitment_verification(row: CommitmentRow) -> FieldContext:
    return _context("commitments", row.id, row.case_id, "", "verification")


def _report_comment(row: CommitmentReportRow) -> FieldContext:
    return _context("commitment_reports", row.id, row.case_id, row.seat_id, "comment")


def _review_comment(row: CommitmentReviewRow) -> FieldContext:
    return _context("commitment_reviews", row.id, row.case_id, row.seat_id, "comment")


def _monitor_label(row: MonitorRow) -> FieldContext:
    return _context("monitors", row.id, row.case_id, "", "label")


def _monitor_chat(row: MonitorRow) -> FieldContext:
    return _context("monitors", row.id, row.case_id, row.id, "chat")


def _observation_text(row: ObservationRow) -> FieldContext:
    return _context("observations", row.id, row.case_id, row.monitor_id, "text")
