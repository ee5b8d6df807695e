"""The audit trail: an append-only, hash-chained record of what happened to whose data, never the data.

Each event is chained to the one before by an HMAC under a data key of its own (the "audit"
system key, wrapped under the master key like every other): someone holding only the database
can neither change, remove nor insert an event without breaking the chain, because recomputing
it needs the master key. Events are numbered without gaps under a lock on the single
`AuditHead` row, so a removed event shows as a gap too. Cutting off the newest events and
rewinding the head is the one change the chain alone cannot reveal; the bot therefore logs the
head (number and hash, no content) once a day, and `caucusbot audit verify` prints it, so a
head seen earlier can be compared.

Details hold only kinds, ids, numbers and share levels: `check_detail` refuses anything that
could be text a person typed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import StorageError
from storage.tables import AuditEvent, AuditHead, utcnow

__all__ = [
    "AUDIT_KINDS",
    "AuditRecord",
    "ChainReport",
    "append_event",
    "check_detail",
    "ensure_head",
    "events_about",
    "verify_chain",
]

# What can happen to a person's data, and to the system's keys; each kind is content-free by construction.
AUDIT_KINDS = frozenset({
    "case_created", "case_closed", "case_erased", "case_purged", "erase_setting_changed",
    "mediator_joined", "party_joined", "consent_given", "party_withdrew",
    "answers_submitted", "share_level_changed", "items_disclosed", "summary_generated",
    "grievance_submitted", "grievance_status", "grievance_purged",
    "key_rotated", "purge_run",
    "agreement_drafted", "agreement_revised", "agreement_sent", "agreement_answered", "agreement_confirmed",
    "agreement_abandoned", "commitment_added", "commitment_removed", "commitment_reported", "commitment_reviewed",
    "commitment_missed", "observation_filed", "monitor_invited", "monitor_joined", "monitor_removed",
})
ACTORS = frozenset({"party", "mediator", "triage", "submitter", "system", "operator", "monitor"})

_GENESIS = "0" * 64
_HEAD_ID = 1
_WORD = re.compile(r"^[a-z0-9_:.-]{0,64}$")


class AuditDetailError(StorageError):
    """An audit detail held something other than kinds, ids and numbers."""


def check_detail(detail: Mapping[str, Any]) -> str:
    """The detail as canonical JSON, refusing anything that could carry a person's words."""

    def allowed(value: object) -> bool:
        if isinstance(value, bool | int) or value is None:
            return True
        if isinstance(value, str):
            return bool(_WORD.match(value))
        if isinstance(value, list | tuple):
            return all(allowed(item) for item in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and _WORD.match(k) and allowed(v) for k, v in value.items())
        return False

    if not allowed(dict(detail)):
        raise AuditDetailError("audit details hold only kinds, ids and numbers")
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"))
    if len(text) > 1000:
        raise AuditDetailError("audit detail too long")
    return text


@dataclass(frozen=True)
class AuditRecord:
    """An event as read back."""

    seq: int
    at: datetime
    kind: str
    actor: str
    case_id: str | None
    seat_id: str | None
    detail: dict[str, Any]


if TYPE_CHECKING:  # SQLAlchemy 2.0's Row takes one parameter; the annotations are never evaluated
    # An event as `_rows` reads it: seq, at, kind, actor, case_id, seat_id, detail, hash.
    _EventRow = Row[int, datetime, str, str, str | None, str | None, str, str]


def _link(key: bytes, previous: str, row: AuditEvent | _EventRow) -> str:
    fields = (previous, str(row.seq), row.at.isoformat(), row.kind, row.actor, row.case_id or "", row.seat_id or "",
              row.detail)
    return hmac.new(key, "|".join(fields).encode(), hashlib.sha256).hexdigest()


async def ensure_head(session: AsyncSession) -> None:
    """Create the chain's head on first start (processes starting at once agree on one)."""
    if await session.get(AuditHead, _HEAD_ID) is not None:
        return
    try:
        async with session.begin_nested():
            session.add(AuditHead(id=_HEAD_ID, seq=0, hash=_GENESIS))
    except IntegrityError:
        pass  # another process created it first


async def append_event(
    session: AsyncSession, key: bytes, kind: str, *, actor: str, case_id: str | None = None,
    seat_id: str | None = None, detail: Mapping[str, Any] | None = None, lock: bool = True,
) -> int:
    """Append one event in the caller's transaction; returns its number. ``lock``: FOR UPDATE on the head."""
    if kind not in AUDIT_KINDS:
        raise StorageError(f"unknown audit event kind {kind!r}")
    if actor not in ACTORS:
        raise StorageError(f"unknown audit actor {actor!r}")
    statement = select(AuditHead).where(AuditHead.id == _HEAD_ID)
    if lock:
        statement = statement.with_for_update()
    head = (await session.scalars(statement)).one_or_none()
    if head is None:
        raise StorageError("the audit trail has no head (Store.open() creates it)")
    row = AuditEvent(seq=head.seq + 1, at=utcnow(), kind=kind, actor=actor, case_id=case_id, seat_id=seat_id,
                     detail=check_detail(detail or {}), hash="")
    row.hash = _link(key, head.hash, row)
    session.add(row)
    head.seq, head.hash = row.seq, row.hash
    return row.seq


async def events_about(session: AsyncSession, *, seat_ids: Sequence[str] = (), case_id: str | None = None,
                       limit: int = 200) -> list[AuditRecord]:
    """The newest events about these seats (or this case), oldest first."""
    statement = select(AuditEvent)
    if seat_ids:
        statement = statement.where(AuditEvent.seat_id.in_(list(seat_ids)))
    if case_id is not None:
        statement = statement.where(AuditEvent.case_id == case_id)
    rows = (await session.scalars(statement.order_by(AuditEvent.seq.desc()).limit(limit))).all()
    return [_record(row) for row in reversed(rows)]


def _record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(row.seq, row.at, row.kind, row.actor, row.case_id, row.seat_id, json.loads(row.detail))


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found: how many events, and the first that breaks the chain, if any."""

    events: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


async def _rows(session: AsyncSession, batch: int) -> AsyncIterator[_EventRow]:
    """Every event in order, ``batch`` at a time, as plain rows: a long trail is read, not kept."""
    columns = select(AuditEvent.seq, AuditEvent.at, AuditEvent.kind, AuditEvent.actor, AuditEvent.case_id,
                     AuditEvent.seat_id, AuditEvent.detail, AuditEvent.hash)
    after = 0
    while True:
        rows = (await session.execute(
            columns.where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch))).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].seq


async def verify_chain(session: AsyncSession, key: bytes, *, batch: int = 1000) -> ChainReport:
    """Recompute the chain from the first event: every link, no gap, and the head at the last event."""
    head = await session.get(AuditHead, _HEAD_ID)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, _GENESIS)
    previous, expected, count = _GENESIS, 1, 0
    async for row in _rows(session, batch):
        count += 1
        if row.seq != expected:
            return ChainReport(count, head_seq, head_hash, expected, "an event is missing")
        if not hmac.compare_digest(row.hash, _link(key, previous, row)):
            return ChainReport(count, head_seq, head_hash, row.seq, "an event was changed")
        previous, expected = row.hash, expected + 1
    if head_seq != expected - 1 or not hmac.compare_digest(head_hash, previous):
        return ChainReport(count, head_seq, head_hash, expected, "the head does not match the last event")
    return ChainReport(count, head_seq, head_hash)
