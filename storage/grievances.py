"""Grievances in the database: each under its own data key, found by keyed hashes only.

Mixed into `storage.repository.Transaction`, so one update's grievance changes commit with
its outbox in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update

from flows.grievance import (
    Grievance,
    GrievanceContent,
    GrievanceConversation,
    GrievanceUpdate,
    new_reference,
    normalize_reference,
    triage_order,
)
from flows.machines import GrievanceStatus, GrievanceStep
from storage.crypto import FieldCipher, FieldContext
from storage.errors import KeyDestroyedError
from storage.parts import TransactionPart
from storage.tables import Button, GrievanceEvent, GrievanceRow, OutboxMessage, new_id, utcnow

if TYPE_CHECKING:

    pass

__all__ = ["GrievanceContact", "GrievanceRepository"]


@dataclass(frozen=True)
class GrievanceContact:
    """How to write to the person who filed a grievance: None once the chat was destroyed."""

    chat_id: int | None
    language: str
    user_hash: str
    key_id: str


class GrievanceRepository(TransactionPart):
    """The grievance part of a transaction (see `storage.repository.Transaction`)."""


    async def _grievance_row(self, grievance_id: str, *, lock: bool = False) -> GrievanceRow:
        row = await (self._locked(GrievanceRow, grievance_id) if lock else self.session.get(GrievanceRow, grievance_id))
        if row is None:
            raise KeyError(grievance_id)
        return row

    async def _grievance_cipher(self, row: GrievanceRow) -> FieldCipher:
        return await self._keys.cipher(row.key_id)

    def _reference_hash(self, reference: str) -> str:
        return self.store.hasher("reference", reference)

    # Filing ----------------------------------------------------------------------------------
    async def grievances_filed_since(self, user_id: int, since: datetime) -> int:
        """How many grievances this account started since ``since`` (the daily limit counts them all)."""
        count = await self.session.scalar(
            select(func.count()).select_from(GrievanceRow)
            .where(GrievanceRow.submitter_hash == self.store.user_hash(user_id), GrievanceRow.created_at >= since)
        )
        return int(count or 0)

    async def grievance_draft(self, user_id: int) -> str | None:
        """The grievance this account is still writing, if any."""
        return await self.session.scalar(
            select(GrievanceRow.id)
            .where(GrievanceRow.submitter_hash == self.store.user_hash(user_id),
                   GrievanceRow.step != GrievanceStep.SUBMITTED.value)
            .order_by(GrievanceRow.created_at.desc()).limit(1)
        )

    async def create_grievance(self, user_id: int, chat_id: int, language: str) -> str:
        """A new grievance at its first step, with a fresh reference and its own data key."""
        key_id, cipher = await self._keys.create("grievance")
        reference = new_reference()
        while await self.session.scalar(
            select(GrievanceRow.id).where(GrievanceRow.reference_hash == self._reference_hash(reference))
        ):
            reference = new_reference()  # pragma: no cover - 1 in 2**59
        row = GrievanceRow(
            id=new_id(), key_id=key_id, reference_hash=self._reference_hash(reference), reference_enc=b"",
            submitter_hash=self.store.user_hash(user_id), language=language, anonymous=True,
            content_enc=b"", step=GrievanceStep.LANGUAGE.value, editing=False, version=0,
            created_at=utcnow(), updated_at=utcnow(),
        )
        row.reference_enc = cipher.encrypt(reference, _context(row, "reference"))
        row.chat_enc = cipher.encrypt(str(chat_id), _context(row, "chat"))
        row.content_enc = cipher.encrypt(json.dumps(GrievanceContent().to_json()), _context(row, "content"))
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def load_grievance(
        self, grievance_id: str, categories: tuple[str, ...], regions: tuple[str, ...],
    ) -> GrievanceConversation:
        row = await self._grievance_row(grievance_id, lock=True)
        return GrievanceConversation(
            GrievanceStep(row.step), await self._content(row), categories, regions, editing=row.editing,
        )

    async def _content(self, row: GrievanceRow) -> GrievanceContent:
        cipher = await self._grievance_cipher(row)
        return GrievanceContent.from_json(json.loads(cipher.decrypt(row.content_enc, _context(row, "content"))))

    async def save_grievance(self, grievance_id: str, conversation: GrievanceConversation, language: str) -> None:
        """Store what the person answered and where they are; a submitted grievance is received for triage."""
        row = await self._grievance_row(grievance_id, lock=True)
        content = conversation.content
        cipher = await self._grievance_cipher(row)
        row.content_enc = cipher.encrypt(json.dumps(content.to_json(), ensure_ascii=False), _context(row, "content"))
        row.step, row.editing, row.language = conversation.step.value, conversation.editing, language
        row.anonymous, row.category = content.anonymous, content.category
        row.urgency = content.urgency.value if content.urgency else None
        if conversation.submitted and row.submitted_at is None:
            row.submitted_at = utcnow()
            await self.audit("grievance_submitted", actor="submitter", grievance=row.id, urgency=row.urgency,
                             anonymous=row.anonymous)
            row.status = row.status or GrievanceStatus.RECEIVED.value
        row.version += 1
        row.updated_at = utcnow()

    async def discard_grievance(self, grievance_id: str) -> None:
        """Erase a grievance: its key is destroyed (crypto-shredding), its rows and queued messages deleted."""
        row = await self._grievance_row(grievance_id, lock=True)
        await self.session.execute(delete(Button).where(Button.owner_id == grievance_id))
        await self.session.execute(delete(GrievanceEvent).where(GrievanceEvent.grievance_id == grievance_id))
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.key_id == row.key_id, OutboxMessage.status == "pending")
            .values(status="erased", payload_enc=None)
        )
        await self._keys.destroy(row.key_id)
        await self.session.delete(row)

    async def grievance_reference(self, grievance_id: str) -> str:
        row = await self._grievance_row(grievance_id)
        return (await self._grievance_cipher(row)).decrypt(row.reference_enc, _context(row, "reference"))

    async def grievance_version(self, grievance_id: str) -> int | None:
        return await self.session.scalar(select(GrievanceRow.version).where(GrievanceRow.id == grievance_id))

    async def grievance_key_id(self, grievance_id: str) -> str:
        return (await self._grievance_row(grievance_id)).key_id

    async def grievance_contact(self, grievance_id: str) -> GrievanceContact:
        row = await self._grievance_row(grievance_id)
        chat = None
        if row.chat_enc is not None:
            chat = int((await self._grievance_cipher(row)).decrypt(row.chat_enc, _context(row, "chat")))
        return GrievanceContact(chat, row.language, row.submitter_hash, row.key_id)

    async def mark_grievance_alerted(self, grievance_id: str) -> bool:
        """Record the danger alert; False if triage was already alerted for this grievance."""
        row = await self._grievance_row(grievance_id, lock=True)
        if row.alerted_at is not None:
            return False
        row.alerted_at = utcnow()
        row.status = row.status or GrievanceStatus.RECEIVED.value  # triage sees it while it is being written
        row.version += 1
        return True

    async def grievance_alerted(self, grievance_id: str) -> bool:
        return (await self._grievance_row(grievance_id)).alerted_at is not None

    # Following up ------------------------------------------------------------------------------
    async def find_own_grievance(self, user_id: int, typed_reference: str) -> str | None:
        """The grievance a reference names, only if this account filed it (else None, as for no such reference)."""
        reference = normalize_reference(typed_reference)
        if reference is None:
            return None
        row = (await self.session.scalars(
            select(GrievanceRow).where(GrievanceRow.reference_hash == self._reference_hash(reference))
        )).one_or_none()
        if row is None or row.submitter_hash != self.store.user_hash(user_id) or row.status is None:
            return None
        return row.id

    async def grievance_id_for(self, typed_reference: str) -> str | None:
        """For triage: the readable grievance a reference names, whoever filed it."""
        reference = normalize_reference(typed_reference)
        if reference is None:
            return None
        return await self.session.scalar(
            select(GrievanceRow.id)
            .where(GrievanceRow.reference_hash == self._reference_hash(reference), GrievanceRow.status.is_not(None))
        )

    async def own_grievances(self, user_id: int) -> list[tuple[str, GrievanceStatus]]:
        """The references and statuses of what this account reported, newest first."""
        rows = (await self.session.scalars(
            select(GrievanceRow)
            .where(GrievanceRow.submitter_hash == self.store.user_hash(user_id), GrievanceRow.status.is_not(None))
            .order_by(GrievanceRow.created_at.desc())
        )).all()
        found = []
        for row in rows:
            try:
                cipher = await self._grievance_cipher(row)
            except KeyDestroyedError:
                continue
            found.append((cipher.decrypt(row.reference_enc, _context(row, "reference")),
                          GrievanceStatus(row.status or "")))
        return found

    # Triage ---------------------------------------------------------------------------------------
    async def triage_grievances(self) -> list[Grievance]:
        """Every grievance triage may read (submitted, or still being written after a danger alert), in triage order."""
        rows = (await self.session.scalars(select(GrievanceRow).where(GrievanceRow.status.is_not(None)))).all()
        await self._keys.preload([row.key_id for row in rows])
        events: dict[str, list[GrievanceEvent]] = {}
        for event in (await self.session.scalars(
            select(GrievanceEvent).order_by(GrievanceEvent.created_at, GrievanceEvent.id)
        )).all():
            events.setdefault(event.grievance_id, []).append(event)
        found = []
        for row in rows:
            try:
                found.append(await self._grievance(row, events.get(row.id, [])))
            except KeyDestroyedError:
                continue  # erased (retention): nothing left to read
        return triage_order(found)

    async def grievance(self, grievance_id: str) -> Grievance | None:
        row = await self.session.get(GrievanceRow, grievance_id)
        if row is None or row.status is None:
            return None
        events = (await self.session.scalars(
            select(GrievanceEvent).where(GrievanceEvent.grievance_id == grievance_id)
            .order_by(GrievanceEvent.created_at, GrievanceEvent.id)
        )).all()
        return await self._grievance(row, list(events))

    async def _grievance(self, row: GrievanceRow, events: list[GrievanceEvent]) -> Grievance:
        cipher = await self._grievance_cipher(row)
        history = tuple(
            GrievanceUpdate(
                event.kind, GrievanceStatus(event.status),
                cipher.decrypt(event.message_enc, _event_context(event)) if event.message_enc else None,
                event.created_at,
            )
            for event in events
        )
        assert row.status is not None  # noqa: S101 - only rows triage may read come here
        return Grievance(
            row.id, cipher.decrypt(row.reference_enc, _context(row, "reference")), GrievanceStatus(row.status),
            row.language, await self._content(row), row.created_at, row.submitted_at, row.updated_at, history,
        )

    async def record_grievance_update(
        self, grievance_id: str, officer_user_id: int, *, status: GrievanceStatus, message: str | None,
        kind: str = "status",
    ) -> None:
        """A new status (or an agenda note) and the message that goes with it, encrypted under the grievance's key.

        Closing an anonymous grievance destroys the chat it came from: nobody can be written to again.
        """
        row = await self._grievance_row(grievance_id, lock=True)
        event = GrievanceEvent(
            id=new_id(), grievance_id=grievance_id, kind=kind, status=status.value,
            officer_hash=self.store.user_hash(officer_user_id), created_at=utcnow(),
        )
        if message is not None:
            event.message_enc = (await self._grievance_cipher(row)).encrypt(message, _event_context(event))
        self.session.add(event)
        if row.status != status.value:
            await self.audit("grievance_status", actor="triage", grievance=row.id, before=row.status,
                             after=status.value)
        row.status = status.value
        if status is GrievanceStatus.CLOSED:
            row.closed_at = row.closed_at or utcnow()
            if row.anonymous:
                row.chat_enc = None
        row.version += 1
        row.updated_at = utcnow()


def _context(row: GrievanceRow, name: str) -> FieldContext:
    return FieldContext("grievances", row.id, "", row.id, name)


def _event_context(event: GrievanceEvent) -> FieldContext:
    return FieldContext("grievance_events", event.id, "", event.grievance_id, "message")
