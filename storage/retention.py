"""Closing, erasing and purging: crypto-shredding of cases and grievances.

Erasing destroys the wrapped data keys first (the case's and every party's), so whatever they
protected is unreadable everywhere at once, later backups included; the rows are deleted after.
Mixed into `storage.repository.Transaction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from flows.machines import CaseStage
from storage.errors import StorageError
from storage.parts import TransactionPart
from storage.tables import (
    AgreementResponseRow,
    AgreementRow,
    AgreementVersionRow,
    Answer,
    Button,
    Case,
    CaseMediator,
    CommitmentReportRow,
    CommitmentReviewRow,
    CommitmentRow,
    GrievanceRow,
    IssueRow,
    MonitorRow,
    NoteRow,
    ObservationRow,
    OptionRow,
    OutboxMessage,
    Seat,
    SuggestionRow,
    User,
    utcnow,
)

if TYPE_CHECKING:

    from storage.repository import Store

__all__ = ["PurgeCounts", "RetentionRepository", "purge_expired"]


@dataclass(frozen=True)
class PurgeCounts:
    """How many closed cases and grievances a purge erased (or would erase, in a dry run)."""

    cases: int
    grievances: int


class RetentionRepository(TransactionPart):
    """The closing and erasing part of a transaction (see `storage.repository.Transaction`)."""


    async def advance_case(self, case_id: str, trigger: str) -> CaseStage:  # pragma: no cover - Transaction's
        raise NotImplementedError

    async def discard_grievance(self, grievance_id: str) -> None:  # pragma: no cover - GrievanceRepository's
        raise NotImplementedError

    async def erases_messages(self, case_id: str) -> bool:
        """Whether the parties' answers and prompts are deleted from their chats once saved (on by default)."""
        case = await self.session.get(Case, case_id)  # usually held already: the update read it
        return case is not None and case.erase_messages

    async def set_erase_messages(self, case_id: str, on: bool) -> None:
        case: Case | None = await self._locked(Case, case_id)
        if case is None:
            raise StorageError("no such case")
        if case.erase_messages != on:
            case.erase_messages = on
            case.version += 1
            await self.audit("erase_setting_changed", actor="mediator", case_id=case_id, on=on)

    async def close_case(self, case_id: str) -> None:
        """Close the case: no more answers; it is kept until the retention period after this moment ends."""
        if await self.advance_case(case_id, "close") is not CaseStage.CLOSED:
            raise StorageError("the case cannot be closed at this stage")
        await self.session.execute(update(Case).where(Case.id == case_id).values(closed_at=utcnow()))
        await self.audit("case_closed", actor="mediator", case_id=case_id)

    async def erase_case(self, case_id: str, *, actor: str = "mediator", kind: str = "case_erased") -> None:
        """Crypto-shred a case: destroy its key, every party's and every monitor's, then delete all its rows."""
        case: Case | None = await self._locked(Case, case_id)
        if case is None:
            raise StorageError("no such case")
        seats = list((await self.session.scalars(select(Seat).where(Seat.case_id == case_id))).all())
        monitors = list((await self.session.scalars(select(MonitorRow).where(MonitorRow.case_id == case_id))).all())
        agreements = list((await self.session.scalars(
            select(AgreementRow.id).where(AgreementRow.case_id == case_id))).all())
        commitments = list((await self.session.scalars(
            select(CommitmentRow.id).where(CommitmentRow.case_id == case_id))).all())
        key_ids = [case.key_id, *(seat.key_id for seat in seats), *(monitor.key_id for monitor in monitors)]
        owners = [case_id, *(seat.id for seat in seats), *(monitor.id for monitor in monitors), *agreements,
                  *commitments]
        for key_id in key_ids:
            await self._keys.destroy(key_id)
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.key_id.in_(key_ids), OutboxMessage.status == "pending")
            .values(status="erased", payload_enc=None)
        )
        await self.session.execute(delete(Button).where(Button.owner_id.in_(owners)))
        await self.session.execute(
            update(User).where(User.active_id.in_(owners)).values(active_kind=None, active_id=None, pending=None)
        )
        for model in (Answer, NoteRow, SuggestionRow, OptionRow, ObservationRow, CommitmentReviewRow,
                      CommitmentReportRow, CommitmentRow, AgreementResponseRow, AgreementVersionRow, AgreementRow,
                      MonitorRow):
            await self.session.execute(delete(model).where(model.case_id == case_id))
        await self.session.execute(delete(IssueRow).where(IssueRow.case_id == case_id))
        await self.session.execute(delete(Seat).where(Seat.case_id == case_id))
        await self.session.execute(delete(CaseMediator).where(CaseMediator.case_id == case_id))
        await self.session.delete(case)  # the destroyed keys' rows stay, holding nothing, as a record of the erasure
        await self.audit(kind, actor=actor, case_id=case_id, parties=len(seats))

    async def expired(self, closed_before: datetime) -> tuple[list[str], list[str]]:
        """The cases and the grievances closed before ``closed_before``: due to be purged."""
        cases = (await self.session.scalars(
            select(Case.id).where(Case.stage == CaseStage.CLOSED.value, Case.closed_at < closed_before)
        )).all()
        grievances = (await self.session.scalars(
            select(GrievanceRow.id).where(GrievanceRow.closed_at.is_not(None), GrievanceRow.closed_at < closed_before)
        )).all()
        return list(cases), list(grievances)

    async def purge_grievance(self, grievance_id: str) -> None:
        await self.discard_grievance(grievance_id)
        await self.audit("grievance_purged", actor="system", grievance=grievance_id)


async def purge_expired(store: Store, closed_before: datetime, *, dry_run: bool = False) -> PurgeCounts:
    """Erase every case and grievance closed before ``closed_before``, each in its own transaction."""
    async with store.transaction() as tx:
        assert tx is not None  # noqa: S101 - no update id, never a duplicate
        cases, grievances = await tx.expired(closed_before)
    if dry_run:
        return PurgeCounts(len(cases), len(grievances))
    for case_id in cases:
        async with store.transaction() as tx:
            assert tx is not None  # noqa: S101
            await tx.erase_case(case_id, actor="system", kind="case_purged")
    for grievance_id in grievances:
        async with store.transaction() as tx:
            assert tx is not None  # noqa: S101
            await tx.purge_grievance(grievance_id)
    if cases or grievances:
        async with store.transaction() as tx:
            assert tx is not None  # noqa: S101
            await tx.audit("purge_run", actor="system", cases=len(cases), grievances=len(grievances))
    return PurgeCounts(len(cases), len(grievances))
