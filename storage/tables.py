"""The database tables. Columns ending in ``_enc`` hold AES-GCM ciphertexts (storage.crypto)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false as sa_false
from sqlalchemy.sql.expression import true as sa_true

__all__ = [
    "AgreementResponseRow",
    "AgreementRow",
    "AgreementVersionRow",
    "Answer",
    "AuditEvent",
    "AuditHead",
    "Base",
    "BlockedChat",
    "Button",
    "Case",
    "CaseMediator",
    "ChatGap",
    "ChatMessage",
    "CommitmentReportRow",
    "CommitmentReviewRow",
    "CommitmentRow",
    "DataKey",
    "GrievanceEvent",
    "GrievanceRow",
    "IssueRow",
    "MonitorRow",
    "NoteRow",
    "ObservationRow",
    "OptionRow",
    "OutboxMessage",
    "ProcessedUpdate",
    "Seat",
    "SuggestionRow",
    "User",
    "new_id",
    "utcnow",
]


def new_id() -> str:
    """A random row id, known before insert so ciphertexts can be bound to it."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


_ID = String(32)
_HASH = String(64)
_WHEN = UTCDateTime()


class DataKey(Base):
    """A data key, stored only wrapped under a master key; destroying it erases what it protected."""

    __tablename__ = "data_keys"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(16))
    kek_id: Mapped[str] = mapped_column(String(16))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(_WHEN)


class User(Base):
    """A Telegram account known to the bot, by keyed hash of its id only."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    user_hash: Mapped[str] = mapped_column(_HASH, unique=True)
    language: Mapped[str | None] = mapped_column(String(8))
    # The IANA time zone the account reads times in (None: the case's zone, else UTC).
    timezone: Mapped[str | None] = mapped_column(String(64))
    active_kind: Mapped[str | None] = mapped_column(String(8))
    active_id: Mapped[str | None] = mapped_column(_ID)
    # What the next text the account types is for (e.g. renaming an issue): a step name and ids, never content.
    pending: Mapped[str | None] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class Case(Base):
    """A mediation case; title and everything the mediator typed are encrypted under the case key.

    ``mediator_hash`` is the lead mediator's; every mediator (lead included) has a `CaseMediator` row.
    """

    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    short_id: Mapped[str] = mapped_column(String(12), unique=True)
    mediator_hash: Mapped[str] = mapped_column(_HASH, index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("data_keys.id"))
    title_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    stage: Mapped[str] = mapped_column(String(24))
    round: Mapped[int] = mapped_column(Integer, default=1)
    priority_mode: Mapped[str] = mapped_column(String(16), default="ranking", server_default="ranking")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    deadline_at: Mapped[datetime | None] = mapped_column(_WHEN)
    late_reported_at: Mapped[datetime | None] = mapped_column(_WHEN)
    # Delete the parties' typed answers and the prompts that asked for them from their chats once saved.
    erase_messages: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(_WHEN, index=True)


class CaseMediator(Base):
    """A mediator of a case: the lead, or a co-mediator invited by a single-use token (stored hashed)."""

    __tablename__ = "case_mediators"
    __table_args__ = (UniqueConstraint("case_id", "user_hash"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    user_hash: Mapped[str | None] = mapped_column(_HASH)  # None until the invite is claimed
    role: Mapped[str] = mapped_column(String(8))  # "lead" or "co"
    invite_hash: Mapped[str | None] = mapped_column(_HASH, unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(_WHEN)
    joined_at: Mapped[datetime | None] = mapped_column(_WHEN)


class IssueRow(Base):
    """An issue of a case, in the mediator's order."""

    __tablename__ = "issues"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    title_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # A quantitative issue's scale, JSON {"unit", "low", "high"} (decimals as strings); None if qualitative.
    scale_enc: Mapped[bytes | None] = mapped_column(LargeBinary)


class OptionRow(Base):
    """A candidate solution for an issue, in the mediator's order; its text is under the case key."""

    __tablename__ = "options"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    issue_id: Mapped[str] = mapped_column(ForeignKey("issues.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)


class Seat(Base):
    """A party's seat in a case: its invite, the account bound to it, and where its caucus is."""

    __tablename__ = "seats"
    __table_args__ = (UniqueConstraint("case_id", "user_hash"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(ForeignKey("data_keys.id"))
    label_enc: Mapped[bytes] = mapped_column(LargeBinary)
    invite_hash: Mapped[str] = mapped_column(_HASH, unique=True)
    invite_expires_at: Mapped[datetime] = mapped_column(_WHEN)
    invite_used_at: Mapped[datetime | None] = mapped_column(_WHEN)
    user_hash: Mapped[str | None] = mapped_column(_HASH)
    chat_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    step: Mapped[str] = mapped_column(String(24))
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    sub: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    editing: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # The 6-digit code the party can read out to the mediator, under the case key.
    join_code_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_at: Mapped[datetime | None] = mapped_column(_WHEN)
    last_reminded_on: Mapped[date | None] = mapped_column(Date)
    submitted_at: Mapped[datetime | None] = mapped_column(_WHEN)


class Answer(Base):
    """One caucus item of a party in a round; its value is encrypted under the party's key."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("seat_id", "round", "kind", "issue_id"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    seat_id: Mapped[str] = mapped_column(ForeignKey("seats.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    issue_id: Mapped[str] = mapped_column(String(32), default="")
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    share_level: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class NoteRow(Base):
    """A private note a party sent the mediator, under the party's key."""

    __tablename__ = "notes"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    seat_id: Mapped[str] = mapped_column(ForeignKey("seats.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class SuggestionRow(Base):
    """An option a party suggested for an issue, under the party's key, until the mediator decides on it."""

    __tablename__ = "suggestions"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    seat_id: Mapped[str] = mapped_column(ForeignKey("seats.id"), index=True)
    issue_id: Mapped[str] = mapped_column(ForeignKey("issues.id"))
    round: Mapped[int] = mapped_column(Integer)
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class AgreementRow(Base):
    """An agreement of a case (partial agreements accumulate over rounds); its versions hold the text.

    ``version`` is the number of the current version: buttons drawn for an earlier one are stale."""

    __tablename__ = "agreements"
    __table_args__ = (UniqueConstraint("case_id", "number"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(_WHEN)


class AgreementVersionRow(Base):
    """One wording of an agreement, under the case key: the text in the language the mediator wrote it, and
    the translations the mediator gave (JSON, language -> text)."""

    __tablename__ = "agreement_versions"
    __table_args__ = (UniqueConstraint("agreement_id", "number"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"))
    number: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)
    translations_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)
    circulated_at: Mapped[datetime | None] = mapped_column(_WHEN)


class AgreementResponseRow(Base):
    """A party's answer to one version: who, what, when. A request for a change carries a comment for the
    mediators, under the party's key (withdrawal shreds it)."""

    __tablename__ = "agreement_responses"
    __table_args__ = (UniqueConstraint("version_id", "seat_id"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("agreement_versions.id"))
    seat_id: Mapped[str] = mapped_column(ForeignKey("seats.id"))
    status: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str | None] = mapped_column(String(32))
    comment_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    responded_at: Mapped[datetime | None] = mapped_column(_WHEN)


class CommitmentRow(Base):
    """Who does what by when, and how it will be verified (the texts under the case key)."""

    __tablename__ = "commitments"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    owner_seat_id: Mapped[str] = mapped_column(ForeignKey("seats.id"))
    what_enc: Mapped[bytes] = mapped_column(LargeBinary)
    verification_enc: Mapped[bytes] = mapped_column(LargeBinary)
    due_at: Mapped[datetime] = mapped_column(_WHEN, index=True)
    status: Mapped[str] = mapped_column(String(16))
    last_reminded_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class CommitmentReportRow(Base):
    """An owner's report on a commitment; the comment is for the mediators, under the owner's key."""

    __tablename__ = "commitment_reports"
    __table_args__ = (UniqueConstraint("commitment_id", "number"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    commitment_id: Mapped[str] = mapped_column(ForeignKey("commitments.id"))
    seat_id: Mapped[str] = mapped_column(ForeignKey("seats.id"))
    number: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str | None] = mapped_column(String(32))
    comment_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class CommitmentReviewRow(Base):
    """Another party's verdict on a report (confirm or dispute), told to the mediators only."""

    __tablename__ = "commitment_reviews"
    __table_args__ = (UniqueConstraint("commitment_id", "report_number", "seat_id"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    commitment_id: Mapped[str] = mapped_column(ForeignKey("commitments.id"))
    report_number: Mapped[int] = mapped_column(Integer)
    seat_id: Mapped[str] = mapped_column(ForeignKey("seats.id"))
    verdict: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str | None] = mapped_column(String(32))
    comment_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class MonitorRow(Base):
    """A monitor of a case's commitments (a civil-society group, say), invited like a party: by a single-use
    link stored hashed, bound to the account that opened it. Its observations are under its own key."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("case_id", "user_hash"),)
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("data_keys.id"))
    label_enc: Mapped[bytes] = mapped_column(LargeBinary)
    invite_hash: Mapped[str] = mapped_column(_HASH, unique=True)
    invite_expires_at: Mapped[datetime] = mapped_column(_WHEN)
    user_hash: Mapped[str | None] = mapped_column(_HASH)
    chat_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    joined_at: Mapped[datetime | None] = mapped_column(_WHEN)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class ObservationRow(Base):
    """A monitor's observation on a commitment (a note, or an alarm that warned the mediators)."""

    __tablename__ = "observations"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    commitment_id: Mapped[str] = mapped_column(ForeignKey("commitments.id"))
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id"))
    kind: Mapped[str] = mapped_column(String(8))
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class GrievanceRow(Base):
    """A grievance, filed or being filed, under its own data key.

    No Telegram id is kept in clear: ``submitter_hash`` is the keyed hash used to find the
    submitter's grievances (``/track``, the daily limit); the chat needed to answer them is in
    ``chat_enc``, destroyed when an anonymous grievance is closed. Everything the person typed
    (name, region, description, groups, remedy) is in ``content_enc``; the category, urgency
    and status are choices from fixed lists, kept in clear for counting.
    """

    __tablename__ = "grievances"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    key_id: Mapped[str] = mapped_column(ForeignKey("data_keys.id"))
    reference_hash: Mapped[str] = mapped_column(_HASH, unique=True)
    reference_enc: Mapped[bytes] = mapped_column(LargeBinary)
    submitter_hash: Mapped[str] = mapped_column(_HASH, index=True)
    chat_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    language: Mapped[str] = mapped_column(String(8))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    category: Mapped[str | None] = mapped_column(String(32))
    urgency: Mapped[str | None] = mapped_column(String(16))
    content_enc: Mapped[bytes] = mapped_column(LargeBinary)
    step: Mapped[str] = mapped_column(String(16))
    editing: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str | None] = mapped_column(String(16), index=True)  # None until submitted
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(_WHEN)
    updated_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)
    alerted_at: Mapped[datetime | None] = mapped_column(_WHEN)
    closed_at: Mapped[datetime | None] = mapped_column(_WHEN, index=True)


class GrievanceEvent(Base):
    """A change in a grievance's handling: a new status and the message sent to the submitter, if any."""

    __tablename__ = "grievance_events"
    id: Mapped[str] = mapped_column(_ID, primary_key=True, default=new_id)
    grievance_id: Mapped[str] = mapped_column(ForeignKey("grievances.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "status" or "agenda"
    status: Mapped[str] = mapped_column(String(16))
    officer_hash: Mapped[str] = mapped_column(_HASH)
    message_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class Button(Base):
    """What an inline button means, kept server-side; its callback data is only this opaque token."""

    __tablename__ = "buttons"
    token: Mapped[str] = mapped_column(String(24), primary_key=True)
    user_hash: Mapped[str] = mapped_column(_HASH)
    scope: Mapped[str] = mapped_column(String(8))
    owner_id: Mapped[str] = mapped_column(_ID)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    argument: Mapped[str] = mapped_column(String(64), default="")  # unused since 0002: see argument_enc
    # The argument can say what a party chose (a category, the issue ranked next): encrypted under the
    # owner's key (a party's seat key, so withdrawal shreds it) or the system key.
    key_id: Mapped[str | None] = mapped_column(String(32))
    argument_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow, index=True)


class ProcessedUpdate(Base):
    """Telegram update ids already handled: a redelivered update changes nothing."""

    __tablename__ = "processed_updates"
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow, index=True)


class OutboxMessage(Base):
    """A reply waiting to be delivered; the payload (chat, text, buttons) is encrypted."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        # A chat's messages still waiting, in order: whether one would overtake another, without a scan.
        Index("ix_outbox_chat_waiting", "chat_key", "status", "seq"),
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(_ID, unique=True, default=new_id)
    key_id: Mapped[str] = mapped_column(ForeignKey("data_keys.id"))
    chat_key: Mapped[str] = mapped_column(_HASH)
    payload_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(_WHEN)
    # Set while a sender works on the row; a claim that ran out means the sender died midway.
    claimed_until: Mapped[datetime | None] = mapped_column(_WHEN)
    # For a caucus screen: the highest message id known in the chat when it was first tried, and whether a
    # copy may have reached the chat without its id being recorded (the sender died, or the response was lost).
    after_message_id: Mapped[int | None] = mapped_column(BigInteger)
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class BlockedChat(Base):
    """A chat whose person blocked the bot: nothing more is sent there until they write again."""

    __tablename__ = "blocked_chats"
    chat_key: Mapped[str] = mapped_column(_HASH, primary_key=True)
    blocked_at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow)


class ChatMessage(Base):
    """A message in a private chat the bot may still delete (under 48 hours old): ids only, never content.

    ``sensitive`` marks the bot's prompts and screens of a caucus or a grievance, deleted once the
    person's next answer is saved; /quickexit deletes them all.
    """

    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("chat_key", "message_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_key: Mapped[str] = mapped_column(_HASH)
    message_id: Mapped[int] = mapped_column(BigInteger)
    from_bot: Mapped[bool] = mapped_column(Boolean)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    # The bot asked Telegram to delete it (the row stays until pruned: its id still says how far the chat went).
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow, index=True)


class ChatGap(Base):
    """Message ids of a private chat that may hold an unrecorded copy of a caucus screen: ids only, never content.

    A screen was sent, then the bot died (or Telegram's response was lost) before its id was saved, and the
    screen was sent again. Its first copy, if it reached the chat, has one of the ids after ``after_id`` and
    before ``before_id`` that the bot does not know; those are deleted with the other screens.
    """

    __tablename__ = "chat_gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_key: Mapped[str] = mapped_column(_HASH, index=True)
    after_id: Mapped[int] = mapped_column(BigInteger)
    before_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(_WHEN, default=utcnow, index=True)


class AuditEvent(Base):
    """One event of the audit trail: what happened to whose data, never the data itself.

    Append-only and hash-chained: ``hash`` is an HMAC over the previous event's hash and this
    event's fields, so a changed, removed or inserted event breaks the chain (storage.audit).
    """

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(_WHEN)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(_ID, index=True)
    seat_id: Mapped[str | None] = mapped_column(_ID, index=True)
    detail: Mapped[str] = mapped_column(String(1000), default="{}")
    hash: Mapped[str] = mapped_column(_HASH)


class AuditHead(Base):
    """The newest event of the chain: appends lock this one row, so events are numbered without gaps."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(_HASH)
