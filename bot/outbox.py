"""Delivers queued replies after their transaction committed, within Telegram's limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from storage.chats import OUTBOX_BATCH, Delivered, OutgoingMessage, Reservation
from storage.repository import Store

__all__ = ["OutboxSender"]

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 300
_TurnEnd = Literal["sent", "wait", "retry", "blocked"]  # how a chat's turn of sending ended (see _deliver_chat)
# At most this many fresh replies held at once (see OutboxSender.reserve): sent at the overall rate (25 a second by
# default), the last of them goes well within the 60 s their claim lasts. More wait for the outbox's rounds.
_MAX_FRESH = 250


class _ChatLimiter:
    """Per chat, at most ``rate`` messages a second after a short burst (Telegram allows about one a second)."""

    def __init__(self, rate: float, burst: int = 3) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._burst = burst
        self._next: dict[int, float] = {}  # chat -> when its next message may go, at the earliest

    def ready(self, chat_id: int) -> bool:
        return self._next.get(chat_id, 0.0) <= time.monotonic()

    def wait_time(self, chat_ids: set[int]) -> float:
        now = time.monotonic()
        return max(0.0, min((self._next.get(chat, now) - now for chat in chat_ids), default=0.0))

    def sent(self, chat_id: int) -> None:
        now = time.monotonic()
        # A chat may be ahead of its pace by ``burst`` messages: the first few replies of a turn go at once.
        earliest = max(now - self._interval * (self._burst - 1), self._next.get(chat_id, 0.0))
        self._next[chat_id] = earliest + self._interval
        if len(self._next) > 10_000:
            self._next = {chat: when for chat, when in self._next.items() if when > now}


class _RateLimiter:
    """At most ``rate`` sends per second overall (Telegram allows about 30)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        delay = self._next - now
        self._next = max(now, self._next) + self._interval
        if delay > 0:
            await asyncio.sleep(delay)


def _retry_after(error: RetryAfter) -> timedelta:
    """Telegram's requested wait: a timedelta under PTB_TIMEDELTA (set in bot/__init__), else seconds."""
    retry = error.retry_after
    return retry if isinstance(retry, timedelta) else timedelta(seconds=float(retry))


def _markup(buttons: list[list[dict[str, str]]]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b["text"], callback_data=b["data"]) for b in row] for row in buttons]
    )


@dataclass
class _Turn:
    """One chat's turn in a round of sending: what became of the messages tried, and those not tried."""

    done: list[Delivered] = field(default_factory=list)
    untried: list[int] = field(default_factory=list)


class _Settler:
    """Records what became of the chats' turns, many turns to a transaction (a group commit).

    A turn that ends while a transaction is being written waits for the next, which takes every turn that ended
    meanwhile: under load, one transaction records the turns of many chats, and a fast chat never waits for the
    slowest of its round. The writing runs in its own task, so a caller cancelled meanwhile (a stop, a lost
    lead) does not cancel what it queued."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: list[tuple[_Turn, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def settle(self, turn: _Turn) -> None:
        if not turn.done and not turn.untried:
            return
        recorded = asyncio.get_running_loop().create_future()
        self._queue.append((turn, recorded))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="caucus-outbox-settle")
        await asyncio.shield(recorded)

    async def _write(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._store.settle_outbox([outcome for turn, _ in batch for outcome in turn.done],
                                                [seq for turn, _ in batch for seq in turn.untried])
            except Exception as error:  # noqa: BLE001 - each waiting turn gets the failure
                for _, recorded in batch:
                    if not recorded.done():
                        recorded.set_exception(error)
            else:
                for _, recorded in batch:
                    if not recorded.done():
                        recorded.set_result(None)

    async def drain(self) -> None:
        """Wait until every turn queued so far is recorded (or failed)."""
        if self._writer is not None:
            await asyncio.gather(asyncio.shield(self._writer), return_exceptions=True)


@dataclass(eq=False)
class _FreshChat:
    """One chat's replies handed over by the transactions that queued them (see `storage.chats.Handoff`)."""

    queue: deque[OutgoingMessage] = field(default_factory=deque)
    held: set[int] = field(default_factory=set)  # handed over and not settled yet (sent or not)
    reservations: int = 0  # transactions under way that may hand more
    # One had to wait (its chat's pace, a retry): the chat's others go back to the outbox's rounds, behind it.
    released: bool = False
    task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return not (self.queue or self.held or self.reservations or self.task)


class OutboxSender:
    """Sends pending outbox rows in order per chat; retries what can be retried.

    Two ways in: the rounds (`deliver_pending`) take from the outbox what is due, and while it runs, the sender
    also takes fresh replies straight from the transactions that queued them (`storage.chats.Handoff`), which
    saves each reply a transaction and a wait. A chat's replies go one way or the other, never both at once."""

    def __init__(self, bot: Bot, store: Store, ready: asyncio.Event, messages_per_second: float,
                 chat_messages_per_second: float = 1.0) -> None:
        self._bot = bot
        self._store = store
        self._ready = ready
        self._limiter = _RateLimiter(messages_per_second)
        self._chats = _ChatLimiter(chat_messages_per_second)
        self._settler = _Settler(store)
        self._in_round = False
        self._running = False
        self._fresh: dict[int, _FreshChat] = {}
        self._giving_back: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> bool:
        """Sending, or holding replies to send."""
        return self._in_round or bool(self._fresh)

    async def run(self) -> None:
        """Deliver whenever woken (after a commit), and at least every second for retries; take fresh replies
        meanwhile. Stopped (cancelled), it still waits until what went is recorded."""
        self._running = True
        self._store.handoff = self
        try:
            while True:
                # asyncio.timeout, not wait_for: on Python 3.11, wait_for loses a cancellation (a stop) that
                # comes as the event is set, and the loop would go on for ever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._ready.wait()
                self._ready.clear()
                self._in_round = True
                try:
                    await self.deliver_pending()
                except Exception as error:  # noqa: BLE001 - the loop must survive a failing database
                    # By type only, no traceback: exception messages may carry SQL parameters.
                    logger.error("outbox delivery round failed: %s", type(error).__name__)  # noqa: TRY400
                finally:
                    self._in_round = False
        finally:
            self._running = False
            self._store.handoff = None
            tasks = [fresh.task for fresh in self._fresh.values() if fresh.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, *self._giving_back, return_exceptions=True)
            self._fresh.clear()  # a reply in flight when stopped stays taken: the next lead sends it again
            await self._settler.drain()

    # Fresh replies (storage.chats.Handoff) -----------------------------------------------------------
    def reserve(self, chat_id: int) -> Reservation | None:
        fresh = self._fresh.get(chat_id)
        if not self._running or (fresh is not None and fresh.released) or self._held_count >= _MAX_FRESH:
            return None
        if fresh is None:
            fresh = self._fresh[chat_id] = _FreshChat()
        fresh.reservations += 1
        return Reservation(chat_id, frozenset(fresh.held), self, fresh)

    @property
    def _held_count(self) -> int:
        return sum(len(fresh.held) for fresh in self._fresh.values())

    def hand(self, reservation: Reservation, messages: list[OutgoingMessage]) -> None:
        fresh = self._fresh.get(reservation.chat_id)
        if fresh is None or fresh is not reservation.entry or not self._running:
            # Stopped since (and maybe started again): back to the rounds, of whichever worker leads.
            if messages:
                self._give_back([message.seq for message in messages])
            return
        fresh.reservations -= 1
        if messages:
            fresh.queue.extend(messages)
            fresh.held.update(message.seq for message in messages)
            if fresh.task is None:
                fresh.task = asyncio.create_task(self._send_fresh(reservation.chat_id, fresh),
                                                 name="caucus-outbox-chat")
        self._forget_if_idle(reservation.chat_id)

    def drop(self, reservation: Reservation) -> None:
        fresh = self._fresh.get(reservation.chat_id)
        if fresh is not None and fresh is reservation.entry:
            fresh.reservations -= 1
            self._forget_if_idle(reservation.chat_id)

    def wake(self) -> None:
        self._ready.set()

    def _forget_if_idle(self, chat_id: int) -> None:
        fresh = self._fresh.get(chat_id)
        if fresh is not None and fresh.idle:
            del self._fresh[chat_id]

    def _give_back(self, seqs: list[int]) -> None:
        """Messages taken but not tried go back to the outbox's rounds."""
        async def give_back() -> None:
            try:
                await self._settler.settle(_Turn(untried=seqs))
            except Exception as error:  # noqa: BLE001 - taken again by a round once their claim ends
                logger.error("fresh replies not given back: %s", type(error).__name__)  # noqa: TRY400 - by type only
            self._ready.set()

        task = asyncio.create_task(give_back(), name="caucus-outbox-give-back")
        self._giving_back.add(task)
        task.add_done_callback(self._giving_back.discard)

    async def _send_fresh(self, chat_id: int, fresh: _FreshChat) -> None:
        """Send a chat's fresh replies in order, a round's turn at a time (`_deliver_chat`), as long as more come.
        One that must wait (the chat's pace, a retry) or a blocked chat sends the others back to the outbox's rounds,
        which keep them behind it (or settle them, for a blocked chat)."""
        try:
            try:
                while fresh.queue and not fresh.released:
                    turn = list(fresh.queue)
                    fresh.queue.clear()
                    try:
                        fresh.released = await self._deliver_chat(turn, set()) != "sent"
                    finally:
                        fresh.held.difference_update(message.seq for message in turn)
            finally:
                # Released, or stopped (cancelled): what is handed over, until the end, goes back to the rounds.
                while fresh.queue:
                    back = [message.seq for message in fresh.queue]
                    fresh.queue.clear()
                    try:
                        await self._settler.settle(_Turn(untried=back))
                    finally:
                        fresh.held.difference_update(back)
                if fresh.released:
                    self._ready.set()
        except Exception as error:  # noqa: BLE001 - a failing database: what is left is taken again once its claim ends
            logger.error("sending fresh replies failed: %s", type(error).__name__)  # noqa: TRY400 - by type only
            fresh.queue.clear()
            fresh.held.clear()
        finally:
            fresh.task = None
            self._forget_if_idle(chat_id)

    async def deliver_pending(self) -> None:
        """Send what is due, different chats at once and each chat's in order; a chat at its rate limit waits
        while the others go on. What became of a chat's messages is recorded when its turn ends."""
        pacing: set[int] = set()
        while True:
            pacing = {chat for chat in pacing if not self._chats.ready(chat)}
            # Nor a chat whose fresh replies this sender is sending: one chat, one way at a time.
            fresh = {chat for chat, entry in self._fresh.items() if not entry.released}
            messages = await self._store.pending_outbox(held=pacing | fresh)
            if not messages:
                if not pacing:
                    return
                await asyncio.sleep(min(1.0, self._chats.wait_time(pacing)))
                continue
            by_chat: dict[int, list[OutgoingMessage]] = {}
            for message in messages:
                by_chat.setdefault(message.chat_id, []).append(message)
            turns = await asyncio.gather(*(self._deliver_chat(chat_messages, pacing)
                                           for chat_messages in by_chat.values()), return_exceptions=True)
            if failed := [turn for turn in turns if isinstance(turn, BaseException)]:
                raise failed[0]
            if "retry" in turns:
                return  # retried when due, by the run loop
            if len(messages) < OUTBOX_BATCH and not pacing:
                # All that was due went: what was queued meanwhile woke the run loop, which comes back at once.
                return

    async def _deliver_chat(self, messages: list[OutgoingMessage], pacing: set[int]) -> _TurnEnd:
        """One chat's messages in order, until one must wait; then what became of them is recorded, in one
        transaction, whatever happened (a chat's screens must be known before its next erasure). Says how the turn
        ended: all sent; "wait", the chat at its pace (its others given back); "retry", one to be tried again later
        (its others given back); "blocked", the person blocked the bot (its others settled with it)."""
        turn = _Turn()
        try:
            for index, message in enumerate(messages):
                turn.untried = [later.seq for later in messages[index:]]
                if message.chat_id in pacing or not self._chats.ready(message.chat_id):
                    pacing.add(message.chat_id)
                    return "wait"
                turn.untried = [later.seq for later in messages[index + 1:]]  # this one is tried now
                outcome = await self._deliver(message)
                if outcome is None:  # to be retried: the chat's later messages wait behind it
                    return "retry"
                turn.done.append(outcome)
                if outcome.status == "undeliverable":  # blocked: the chat's later messages were settled with it
                    turn.untried = []
                    return "blocked"
            return "sent"
        finally:
            # Shielded: a stop or a lost lead (cancellation) still records what went.
            await self._settler.settle(turn)

    async def _deliver(self, message: OutgoingMessage) -> Delivered | None:
        """Send one message: what became of it, or None when it must be retried later (already recorded)."""
        await self._limiter.wait()
        self._chats.sent(message.chat_id)
        try:
            sent_id = await self._send(message)
        except RetryAfter as error:
            await self._store.retry_outbox(message.seq, _retry_after(error))
            return None
        except Forbidden:
            # Blocked: this message and every other waiting for the chat are settled, and nothing more is
            # sent there until the person writes again (no retry storm).
            await self._store.mark_blocked(message.chat_id)
            return Delivered(message.seq, "undeliverable")
        except BadRequest as error:
            logger.warning("message rejected by Telegram: %s", error.message.split(":")[0])
            return Delivered(message.seq, "rejected")
        except (NetworkError, TelegramError) as error:
            backoff = min(_MAX_BACKOFF_S, 2 ** min(message.attempts, 8))
            logger.info("delivery failed (%s), retrying in %s s", type(error).__name__, backoff)
            # A timeout or a broken connection may have lost only the response: the message may be in the
            # chat already, so a caucus screen sent again also deletes its possible first copy.
            await self._store.retry_outbox(message.seq, timedelta(seconds=backoff),
                                           uncertain=isinstance(error, NetworkError))
            return None
        return Delivered(message.seq, "sent", sent_id, message.sensitive)

    async def _send(self, message: OutgoingMessage) -> int | None:
        """Send one message; returns the id of the message now in the chat (None for a deletion)."""
        markup = _markup(message.buttons)
        if message.method == "delete":
            await self._delete(message)
            return None
        if message.file is not None:
            # Summaries and reports: Telegram's clients then refuse to forward or save them.
            upload = InputFile(message.file, filename=message.filename)
            if message.method == "photo":
                sent = await self._bot.send_photo(message.chat_id, upload, caption=message.text or None,
                                                  parse_mode=ParseMode.HTML, reply_markup=markup, protect_content=True)
            else:
                sent = await self._bot.send_document(
                    message.chat_id, upload, caption=message.text or None, parse_mode=ParseMode.HTML,
                    reply_markup=markup, protect_content=True)
            return sent.message_id
        if message.method == "edit" and message.message_id is not None:
            try:
                await self._bot.edit_message_text(
                    message.text, chat_id=message.chat_id, message_id=message.message_id,
                    parse_mode=ParseMode.HTML, reply_markup=markup,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except BadRequest as error:
                if "not modified" in error.message:
                    return message.message_id
                # Too old or gone: the new content still reaches the person as a new message.
            else:
                return message.message_id
        sent = await self._bot.send_message(
            message.chat_id, message.text, parse_mode=ParseMode.HTML, reply_markup=markup,
            link_preview_options=LinkPreviewOptions(is_disabled=True), protect_content=message.protect,
        )
        return sent.message_id

    async def _delete(self, message: OutgoingMessage) -> None:
        """Delete messages from a chat; those too old (48 hours) or already gone are skipped quietly."""
        try:
            await self._bot.delete_messages(message.chat_id, list(message.message_ids))
        except BadRequest as error:
            logger.info("messages not deleted: %s", error.message.split(":")[0])
