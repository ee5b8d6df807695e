"""Delivers queued replies after their transaction committed, within Telegram's limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from storage.repository import OutgoingMessage, Store

__all__ = ["OutboxSender"]

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 300


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


class OutboxSender:
    """Sends pending outbox rows in order per chat; retries what can be retried."""

    def __init__(self, bot: Bot, store: Store, ready: asyncio.Event, messages_per_second: float) -> None:
        self._bot = bot
        self._store = store
        self._ready = ready
        self._limiter = _RateLimiter(messages_per_second)
        self.busy = False

    async def run(self) -> None:
        """Deliver whenever woken (after a commit), and at least every second for retries."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=1.0)
            self._ready.clear()
            self.busy = True
            try:
                await self.deliver_pending()
            except Exception as error:  # noqa: BLE001 - the loop must survive a failing database
                # By type only, no traceback: exception messages may carry SQL parameters.
                logger.error("outbox delivery round failed: %s", type(error).__name__)  # noqa: TRY400
            finally:
                self.busy = False

    async def deliver_pending(self) -> None:
        while messages := await self._store.pending_outbox():
            blocked_chats: set[int] = set()
            for message in messages:
                if message.chat_id in blocked_chats:
                    continue  # keep a chat's messages in order behind one that must wait
                if not await self._deliver(message):
                    blocked_chats.add(message.chat_id)
            if blocked_chats:
                return

    async def _deliver(self, message: OutgoingMessage) -> bool:
        """Send one message; False when it must be retried later."""
        await self._limiter.wait()
        try:
            await self._send(message)
        except RetryAfter as error:
            await self._store.retry_outbox(message.seq, _retry_after(error))
            return False
        except Forbidden:
            await self._store.finish_outbox(message.seq, "undeliverable")  # blocked: no retry storm
        except BadRequest as error:
            logger.warning("message rejected by Telegram: %s", error.message.split(":")[0])
            await self._store.finish_outbox(message.seq, "rejected")
        except (NetworkError, TelegramError) as error:
            backoff = min(_MAX_BACKOFF_S, 2 ** min(message.attempts, 8))
            logger.info("delivery failed (%s), retrying in %s s", type(error).__name__, backoff)
            await self._store.retry_outbox(message.seq, timedelta(seconds=backoff))
            return False
        else:
            await self._store.finish_outbox(message.seq, "sent")
        return True

    async def _send(self, message: OutgoingMessage) -> None:
        markup = _markup(message.buttons)
        if message.file is not None:
            # Summaries and reports: Telegram's clients then refuse to forward or save them.
            upload = InputFile(message.file, filename=message.filename)
            if message.method == "photo":
                await self._bot.send_photo(message.chat_id, upload, caption=message.text or None,
                                           parse_mode=ParseMode.HTML, reply_markup=markup, protect_content=True)
            else:
                await self._bot.send_document(message.chat_id, upload, caption=message.text or None,
                                              parse_mode=ParseMode.HTML, reply_markup=markup, protect_content=True)
            return
        if message.method == "edit" and message.message_id is not None:
            try:
                await self._bot.edit_message_text(
                    message.text, chat_id=message.chat_id, message_id=message.message_id,
                    parse_mode=ParseMode.HTML, reply_markup=markup,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except BadRequest as error:
                if "not modified" in error.message:
                    return
                # Too old or gone: the new content still reaches the person as a new message.
            else:
                return
        await self._bot.send_message(
            message.chat_id, message.text, parse_mode=ParseMode.HTML, reply_markup=markup,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
