"""The outbox and what the bot knows of each private chat: message ids it may delete, and blocked chats.

`ChatRepository` is mixed into `storage.repository.Transaction` (queued replies commit with the
update that caused them); `OutboxStore` into `storage.repository.Store` (delivery runs outside
update transactions). Nothing here holds content in clear: payloads are encrypted, chats are
known by keyed hash, and message ids say nothing about what a message said.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import aliased

from storage.crypto import FieldContext
from storage.db import insert_new
from storage.errors import KeyDestroyedError
from storage.parts import TransactionPart
from storage.tables import (
    Base,
    BlockedChat,
    Button,
    ChatGap,
    ChatMessage,
    OutboxMessage,
    ProcessedUpdate,
    new_id,
    utcnow,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from sqlalchemy.ext.asyncio import AsyncSession

    from storage.crypto import KeyRing
    from storage.repository import _Keys

__all__ = [
    "DELETABLE_FOR", "OUTBOX_BATCH", "ChatRepository", "Delivered", "Handoff", "OutboxStore", "OutgoingMessage",
    "Reservation",
]

# Telegram lets a bot delete a message in a private chat only while it is under 48 hours old.
DELETABLE_FOR = timedelta(hours=48)
_DELETE_BATCH = 100  # deleteMessages takes at most 100 ids
# How long a sender may work on the rows it took before another round takes them as abandoned.
CLAIM_FOR = timedelta(seconds=60)
# At most this many unknown ids after the last known one are deleted for a screen that may have gone out twice:
# its first copy left just after that id, while the ids of a busy bot's chats grow with all its chats together.
GAP_SPAN = 300
# Old rows are pruned at most this many to a transaction.
PRUNE_BATCH = 2000
# At most this many messages are taken for one round of sending.
OUTBOX_BATCH = 50


@dataclass(frozen=True)
class Delivered:
    """What became of an outbox message the sender tried: its final status, and the chat message it now is."""

    seq: int
    status: str  # sent, undeliverable, rejected
    message_id: int | None = None  # the id of the message it became (None: a deletion, or nothing sent)
    sensitive: bool = False


@dataclass(frozen=True)
class OutgoingMessage:
    """A decrypted outbox row, ready to deliver."""

    seq: int
    chat_id: int
    method: str
    text: str
    buttons: list[list[dict[str, str]]]
    message_id: int | None
    attempts: int
    # For method "photo" or "document": the file and its name (``text`` is the caption).
    file: bytes | None = None
    filename: str = ""
    # Sent with protect_content (summaries, reports): Telegram's apps refuse to forward or save it.
    protect: bool = False
    # A caucus or grievance screen: deleted from the chat once the person's next answer is saved.
    sensitive: bool = False
    # For method "delete": the messages to delete.
    message_ids: tuple[int, ...] = ()


# Statements of every update, built once (building one costs more than SQLite takes to run it).
_UNBLOCK = delete(BlockedChat).where(BlockedChat.chat_key == bindparam("chat_key"))
_DELETABLE = select(ChatMessage.message_id).where(
    ChatMessage.chat_key == bindparam("chat_key"), ChatMessage.deleted.is_(False), ChatMessage.at > bindparam("since"))
_SCREENS = _DELETABLE.where(ChatMessage.sensitive.is_(True))
_GAPS = select(ChatGap).where(ChatGap.chat_key == bindparam("chat_key"))
# Settling the sender's outcomes (`OutboxStore.settle_outbox`).
_SETTLING = select(OutboxMessage.seq, OutboxMessage.chat_key, OutboxMessage.uncertain, OutboxMessage.after_message_id
                   ).where(OutboxMessage.seq.in_(bindparam("seqs", expanding=True)))
# Statements of many rows at once go to tables, not to the ORM's classes (which would read a list of rows as its
# bulk UPDATE by primary key).
_OUTBOX = Base.metadata.tables["outbox"]
_CHAT_MESSAGES = Base.metadata.tables["chat_messages"]
_SETTLE = update(_OUTBOX).where(_OUTBOX.c.seq == bindparam("b_seq")).values(
    status=bindparam("b_status"), payload_enc=None, sent_at=bindparam("b_now"), claimed_until=None)
_KNOWN_MESSAGES = select(ChatMessage.chat_key, ChatMessage.message_id, ChatMessage.sensitive).where(
    tuple_(ChatMessage.chat_key, ChatMessage.message_id).in_(bindparam("ids", expanding=True)))
_INSERT_MESSAGE = insert(_CHAT_MESSAGES)
_INSERT_GAP = insert(Base.metadata.tables["chat_gaps"])
_MAKE_SENSITIVE = update(_CHAT_MESSAGES).where(
    _CHAT_MESSAGES.c.chat_key == bindparam("b_chat_key"), _CHAT_MESSAGES.c.message_id == bindparam("b_message_id")
).values(sensitive=True)

# What of a chat waits in the outbox, whether it is blocked, and its highest known message id (see `_fresh_chat`).
_CHAT_NOW = union_all(
    select(literal("waiting"), OutboxMessage.seq).where(
        OutboxMessage.chat_key == bindparam("chat_key"), OutboxMessage.status == "pending"),
    select(literal("blocked"), literal(0)).where(BlockedChat.chat_key == bindparam("chat_key")),
    select(literal("highest"), func.max(ChatMessage.message_id)).where(ChatMessage.chat_key == bindparam("chat_key")),
)


def _outbox_context(row: OutboxMessage) -> FieldContext:
    return FieldContext("outbox", row.id, "", "", "payload")


@dataclass(frozen=True, eq=False)
class Reservation:
    """A sender's promise to take a chat's fresh replies from a transaction under way (see `Handoff`)."""

    chat_id: int
    held: frozenset[int]  # the chat's messages that sender holds now: taken, not yet settled
    sender: Handoff  # the one that promised: a sender stopped (and maybe started again) meanwhile gives them back
    entry: object  # what that sender keeps for the chat while the promise holds


class Handoff(Protocol):
    """The sender running in this process, taking fresh replies straight from the transaction that queued them.

    Otherwise a reply waits in the outbox for the sender's next round: a transaction of its own to find, read and
    take it. A chat's replies are handed over only while nothing else of that chat waits in the outbox but what
    that sender holds already, so they cannot overtake an earlier message. They are stored taken (``claimed_until``)
    as a round takes them: a sender that dies with them leaves them to the next, as it would a round's."""

    def reserve(self, chat_id: int) -> Reservation | None:
        """Before a transaction queues the chat's first reply; None when this sender takes none now."""

    def hand(self, reservation: Reservation, messages: list[OutgoingMessage]) -> None:
        """The transaction committed: send these (maybe none) after what the sender holds of the chat."""

    def drop(self, reservation: Reservation) -> None:
        """The transaction did not commit, or leaves the chat's replies to the outbox's rounds after all."""

    def wake(self) -> None:
        """Replies were queued for the outbox's rounds."""


@dataclass
class _Fresh:
    """A chat's replies in a transaction, to be handed over once it committed."""

    reservation: Reservation
    highest_message_id: int | None  # the chat's highest known message id (see `OutboxMessage.after_message_id`)
    rows: list[tuple[OutboxMessage, OutgoingMessage]] = field(default_factory=list)


class ChatRepository(TransactionPart):
    """The outbox and chat part of a transaction (see `storage.repository.Transaction`)."""

    _system_key_id: str
    # Messages this transaction queued for the outbox's rounds (announced at commit: `Store.transaction`); and per
    # chat, those to be handed straight to the sender (None: that chat's go to the rounds).
    queued = 0
    _fresh: dict[int, _Fresh | None]

    async def enqueue(
        self, chat_id: int, text: str, buttons: list[list[dict[str, str]]], *,
        key_id: str | None = None, method: str = "send", message_id: int | None = None,
        file: bytes | None = None, filename: str = "", protect: bool = False, sensitive: bool = False,
        message_ids: Iterable[int] = (),
    ) -> None:
        """Queue a message; encrypted under ``key_id`` (the party's or case's key) or the system key.

        With ``method`` "photo" or "document", ``file`` is sent with ``text`` as its caption; with
        "delete", ``message_ids`` are deleted from the chat.
        """
        chat_key = self.store.chat_key(chat_id)
        fresh = await self._fresh_chat(chat_id, chat_key)
        now = utcnow()
        row = OutboxMessage(
            id=new_id(), key_id=key_id or self._system_key_id, chat_key=chat_key, payload_enc=b"", status="pending",
            attempts=0, next_attempt_at=now, created_at=now,
        )
        cipher = await self._keys.cipher(row.key_id)
        deleting = tuple(message_ids) if method == "delete" else ()
        payload: dict[str, object] = {"chat_id": chat_id, "method": method, "text": text, "buttons": buttons,
                                      "message_id": message_id, "protect": protect, "sensitive": sensitive}
        if file is not None:
            payload |= {"file": base64.b64encode(file).decode("ascii"), "filename": filename}
        if method == "delete":
            payload["message_ids"] = list(deleting)
        row.payload_enc = cipher.encrypt(json.dumps(payload, ensure_ascii=False), _outbox_context(row))
        if fresh is None:
            self.queued += 1
        else:  # taken at once, as a round of the sender would take it
            row.claimed_until = now + CLAIM_FOR
            if sensitive:
                row.after_message_id = fresh.highest_message_id
            fresh.rows.append((row, OutgoingMessage(
                0, chat_id, method, text, buttons, message_id, 0, file, filename, protect, sensitive, deleting)))
        self.session.add(row)

    async def _fresh_chat(self, chat_id: int, chat_key: str) -> _Fresh | None:
        """Whether the chat's replies in this transaction go straight to the sender (see `Handoff`). Asked once per
        transaction and chat, in one statement: what of the chat waits, whether it is blocked, its highest id."""
        if chat_id in self._fresh:
            return self._fresh[chat_id]
        handoff = self.store.handoff
        reservation = handoff.reserve(chat_id) if handoff is not None else None
        fresh = None
        if reservation is not None:
            try:
                found = (await self.session.execute(_CHAT_NOW, {"chat_key": chat_key})).all()
            except BaseException:
                reservation.sender.drop(reservation)
                raise
            waiting = {value for kind, value in found if kind == "waiting"}
            if waiting <= reservation.held and not any(kind == "blocked" for kind, _ in found):
                fresh = _Fresh(reservation, next((value for kind, value in found if kind == "highest"), None))
            else:
                reservation.sender.drop(reservation)
        self._fresh[chat_id] = fresh
        return fresh

    async def seal_fresh(self) -> list[tuple[Reservation, list[OutgoingMessage]]]:
        """Just before the commit: the replies to hand over, chat by chat, in the order queued. One a savepoint
        took back is left out (it is not stored)."""
        fresh = [entry for entry in self._fresh.values() if entry is not None]
        if not fresh:
            return []
        await self.session.flush()  # every row gets its place in the outbox (seq)
        # Left out too: one erased in the same transaction (its key destroyed, a withdrawal).
        return [(entry.reservation, [replace(message, seq=row.seq) for row, message in entry.rows
                                     if inspect(row).persistent and row.status == "pending"]) for entry in fresh]

    def unseal_fresh(self) -> list[Reservation]:
        """The transaction did not commit: the reservations to give back."""
        reservations = [entry.reservation for entry in self._fresh.values() if entry is not None]
        self._fresh.clear()
        return reservations

    async def note_incoming(self, chat_id: int, message_id: int | None) -> None:
        """A person wrote in this chat: they can be written to again, and /quickexit can delete their message."""
        chat_key = self.store.chat_key(chat_id)
        await self.session.execute(_UNBLOCK, {"chat_key": chat_key})
        if message_id is not None:  # known already when the update comes again after a failed try
            await insert_new(self.session, ChatMessage, chat_key=chat_key, message_id=message_id, from_bot=False,
                             sensitive=False, deleted=False, at=utcnow())

    async def erase_from_chat(self, chat_id: int, answer_message_id: int | None, *, key_id: str | None) -> None:
        """After an answer is saved: delete it and the screens that asked for it from the person's chat."""
        await self._erase(chat_id, answer_message_id, screens_only=True, key_id=key_id)

    async def quick_exit(self, chat_id: int, command_message_id: int | None) -> int:
        """Delete every message of this chat the bot can still delete; returns how many it asked to delete."""
        return await self._erase(chat_id, command_message_id, screens_only=False, key_id=None)

    async def _erase(self, chat_id: int, this_message_id: int | None, *, screens_only: bool,
                     key_id: str | None) -> int:
        """Delete the chat's messages still deletable (only the caucus screens with ``screens_only``), the one
        this update brought, and the unknown ids of its gaps; returns how many ids that is."""
        chat_key = self.store.chat_key(chat_id)
        ids = list((await self.session.scalars(_SCREENS if screens_only else _DELETABLE, {
            "chat_key": chat_key, "since": utcnow() - DELETABLE_FOR})).all())
        if this_message_id is not None:
            ids.append(this_message_id)
        ids += await self._gap_ids(chat_key)
        await self._delete_messages(chat_id, chat_key, ids, key_id=key_id)
        return len(set(ids))

    async def _gap_ids(self, chat_key: str) -> list[int]:
        """The ids of this chat's gaps the bot knows nothing of (see `ChatGap`); the gaps are then done with.

        Any of them may also be a message the person sent while the bot was down and that is still to be
        handled: in a chat whose answers are erased, it is deleted a little early (the bot has its text).
        """
        ids: list[int] = []
        for gap in (await self.session.scalars(_GAPS, {"chat_key": chat_key})).all():
            known = set((await self.session.scalars(select(ChatMessage.message_id).where(
                ChatMessage.chat_key == chat_key, ChatMessage.message_id > gap.after_id,
                ChatMessage.message_id < gap.before_id))).all())
            if gap.at > utcnow() - DELETABLE_FOR:
                ids += [i for i in range(gap.after_id + 1, gap.before_id) if i not in known]
            await self.session.delete(gap)
        return ids

    async def _delete_messages(self, chat_id: int, chat_key: str, ids: list[int], *, key_id: str | None) -> None:
        unique = sorted(set(ids))
        if not unique:
            return
        # Kept, marked deleted: the highest id the chat has seen still bounds where a lost copy can be.
        await self.session.execute(update(ChatMessage).where(
            ChatMessage.chat_key == chat_key, ChatMessage.message_id.in_(unique)).values(deleted=True))
        for start in range(0, len(unique), _DELETE_BATCH):
            await self.enqueue(chat_id, "", [], key_id=key_id, method="delete",
                               message_ids=unique[start:start + _DELETE_BATCH])


class OutboxStore:
    """Outbox delivery, outside update transactions (see `storage.repository.Store`)."""

    ring: KeyRing

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:  # pragma: no cover - Store's
        raise NotImplementedError

    def chat_key(self, chat_id: int) -> str:  # pragma: no cover - Store's
        raise NotImplementedError

    def _keys_for(self, session: AsyncSession) -> _Keys:  # pragma: no cover - Store's
        raise NotImplementedError

    async def pending_outbox(self, limit: int = OUTBOX_BATCH, *, held: Iterable[int] = ()) -> list[OutgoingMessage]:
        """Take the messages due now, oldest first, for ``CLAIM_FOR``: none that would overtake an earlier one
        of its chat still waiting, none for a chat in ``held`` (waiting for its rate limit). The sender then
        settles each, or gives it back untried (`settle_outbox`), or tries it again later (`retry_outbox`).

        A message whose claim ran out was taken by a sender that died: it may have reached the chat already,
        and is sent again marked uncertain. Messages to a chat that blocked the bot, or under a destroyed key,
        are settled here and never sent."""
        now = utcnow()
        waiting = aliased(OutboxMessage)
        held_keys = [self.chat_key(chat_id) for chat_id in held]
        async with self._session() as session, session.begin():
            statement = (
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
                       or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now))
                .where(~exists().where(
                    waiting.status == "pending",
                    or_(waiting.next_attempt_at > now, waiting.claimed_until > now),
                    waiting.chat_key == OutboxMessage.chat_key, waiting.seq < OutboxMessage.seq,
                ))
                .order_by(OutboxMessage.seq)
                .limit(limit)
            )
            if held_keys:
                statement = statement.where(OutboxMessage.chat_key.not_in(held_keys))
            rows = (await session.scalars(statement.with_for_update(skip_locked=True))).all()
            if not rows:
                return []
            blocked = set((await session.scalars(select(BlockedChat.chat_key).where(
                BlockedChat.chat_key.in_({row.chat_key for row in rows})))).all())
            keys = self._keys_for(session)
            await keys.preload([row.key_id for row in rows])  # one query for the batch's keys
            messages = []
            marking: list[OutboxMessage] = []  # screens tried now for the first time, or again for sure
            for row in rows:
                if row.chat_key in blocked:
                    row.status, row.payload_enc, row.sent_at = "undeliverable", None, now
                    continue
                try:
                    cipher = await keys.cipher(row.key_id)
                except KeyDestroyedError:
                    row.status, row.payload_enc = "erased", None
                    continue
                assert row.payload_enc is not None  # noqa: S101 - pending rows keep their payload
                message = _outgoing(row, json.loads(cipher.decrypt(row.payload_enc, _outbox_context(row))))
                if row.claimed_until is not None:
                    row.uncertain = True  # its sender died while working on it
                if message.sensitive and not row.uncertain:
                    marking.append(row)
                row.claimed_until = now + CLAIM_FOR
                messages.append(message)
            if marking:
                # A copy sent now, if its id is lost, will be among the ids after the chat's highest known one.
                highest: dict[str, int] = dict((await session.execute(
                    select(ChatMessage.chat_key, func.max(ChatMessage.message_id))
                    .where(ChatMessage.chat_key.in_({row.chat_key for row in marking}))
                    .group_by(ChatMessage.chat_key))).all())
                for row in marking:
                    row.after_message_id = highest.get(row.chat_key)
            return messages

    async def recover_outbox(self) -> int:
        """At start-up, with no other sender running: what a sender was working on when it died is due now,
        each marked uncertain (it may have reached the chat). Returns how many."""
        async with self._session() as session, session.begin():
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.claimed_until.is_not(None))
                .values(claimed_until=None, uncertain=True)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def has_pending_outbox(self) -> bool:
        async with self._session() as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
            )
            return bool(count)

    async def settle_outbox(self, delivered: Iterable[Delivered], untried: Iterable[int] = ()) -> None:
        """In one transaction: record delivery outcomes (a delivered or abandoned message keeps no payload) with
        the id of the message each became, so that it can be deleted later, and give back the messages taken but
        not tried (their chat had to wait: they were not sent). For a screen that may have been sent before, the
        ids between the last known one and this are kept as a gap (`ChatGap`)."""
        delivered, untried = list(delivered), list(untried)
        if not delivered and not untried:
            return
        now = utcnow()
        async with self._session() as session, session.begin():
            if untried:
                await session.execute(update(OutboxMessage).where(OutboxMessage.seq.in_(untried))
                                      .values(claimed_until=None))
            # Plain rows and statements run many at once: the ORM's unit of work inserted the chat's messages one
            # statement each (it wants their ids back), and this runs once per chat and turn.
            rows = {row.seq: row for row in (await session.execute(_SETTLING, {
                "seqs": [outcome.seq for outcome in delivered]})).all()}
            if not rows:
                return
            await session.execute(_SETTLE, [{"b_seq": outcome.seq, "b_status": outcome.status, "b_now": now}
                                            for outcome in delivered if outcome.seq in rows])
            sent = [(outcome, rows[outcome.seq]) for outcome in delivered
                    if outcome.seq in rows and outcome.message_id is not None]
            if not sent:
                return
            known = {(chat_key, message_id): sensitive for chat_key, message_id, sensitive in (await session.execute(
                _KNOWN_MESSAGES, {"ids": [(row.chat_key, outcome.message_id) for outcome, row in sent]})).all()}
            gaps: list[dict[str, object]] = []
            new: dict[tuple[str, int], bool] = {}  # (chat, message id) -> sensitive, for those not known yet
            now_sensitive: set[tuple[str, int]] = set()  # known ones an edit turned into a caucus screen
            for outcome, row in sent:
                assert outcome.message_id is not None  # noqa: S101 - selected so
                if outcome.sensitive and row.uncertain and row.after_message_id is not None \
                        and outcome.message_id > row.after_message_id + 1:
                    gaps.append({"chat_key": row.chat_key, "after_id": row.after_message_id, "at": now,
                                 "before_id": min(outcome.message_id, row.after_message_id + 1 + GAP_SPAN)})
                message = (row.chat_key, outcome.message_id)
                if message in known:
                    if outcome.sensitive and not known[message]:
                        now_sensitive.add(message)
                else:
                    new[message] = new.get(message, False) or outcome.sensitive
            if gaps:
                await session.execute(_INSERT_GAP, gaps)
            if new:
                await session.execute(_INSERT_MESSAGE, [
                    {"chat_key": chat_key, "message_id": message_id, "from_bot": True, "sensitive": sensitive,
                     "deleted": False, "at": now} for (chat_key, message_id), sensitive in new.items()])
            if now_sensitive:
                await session.execute(_MAKE_SENSITIVE, [{"b_chat_key": chat_key, "b_message_id": message_id}
                                                        for chat_key, message_id in sorted(now_sensitive)])

    async def retry_outbox(self, seq: int, delay: timedelta, *, uncertain: bool = False) -> None:
        """Try again after ``delay``; ``uncertain``: the failed try may have reached the chat all the same."""
        values: dict[str, object] = {"attempts": OutboxMessage.attempts + 1, "next_attempt_at": utcnow() + delay,
                                     "claimed_until": None}
        if uncertain:
            values["uncertain"] = True
        async with self._session() as session, session.begin():
            await session.execute(update(OutboxMessage).where(OutboxMessage.seq == seq).values(**values))

    async def mark_blocked(self, chat_id: int) -> None:
        """The person blocked the bot: settle this chat's waiting messages, and send nothing more until they write."""
        chat_key = self.chat_key(chat_id)
        async with self._session() as session, session.begin():
            await insert_new(session, BlockedChat, chat_key=chat_key, blocked_at=utcnow())
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.chat_key == chat_key, OutboxMessage.status == "pending")
                .values(status="undeliverable", payload_enc=None, sent_at=utcnow(), claimed_until=None)
            )

    async def prune(self, *, updates_older_than: timedelta, buttons_older_than: timedelta) -> int:
        """Forget update ids Telegram can no longer redeliver (and the replies settled as long ago), buttons too
        old to be pressed usefully, and messages too old to be deleted; returns how many rows went.

        A busy bot has hundreds of thousands of each a day: they go ``PRUNE_BATCH`` at a time, each batch its own
        transaction, so that updates go on between batches (on SQLite a statement also holds the event loop)."""
        now = utcnow()
        updates_before = now - updates_older_than
        pruned = 0
        for key, condition in (
            (ProcessedUpdate.update_id, ProcessedUpdate.processed_at < updates_before),
            (OutboxMessage.seq, and_(OutboxMessage.status != "pending", OutboxMessage.sent_at < updates_before)),
            (Button.token, Button.created_at < now - buttons_older_than),
            (ChatMessage.id, ChatMessage.at < now - DELETABLE_FOR),
            (ChatGap.id, ChatGap.at < now - DELETABLE_FOR),
        ):
            statement = delete(key.class_).where(key.in_(select(key).where(condition).limit(PRUNE_BATCH)))
            while True:
                async with self._session() as session, session.begin():
                    result = await session.execute(statement.execution_options(synchronize_session=False))
                count = int(getattr(result, "rowcount", 0) or 0)
                pruned += count
                if count < PRUNE_BATCH:
                    break
        return pruned


def _outgoing(row: OutboxMessage, payload: dict[str, object]) -> OutgoingMessage:
    file = payload.get("file")
    message_id = payload.get("message_id")
    return OutgoingMessage(
        row.seq, int(str(payload["chat_id"])), str(payload["method"]), str(payload["text"]),
        payload["buttons"],  # type: ignore[arg-type]
        int(str(message_id)) if message_id is not None else None, row.attempts,
        base64.b64decode(str(file)) if file is not None else None, str(payload.get("filename", "")),
        bool(payload.get("protect", False)), bool(payload.get("sensitive", False)),
        tuple(int(str(i)) for i in payload.get("message_ids", []) or []),  # type: ignore[attr-defined]
    )
