"""The running bot: storage, the PTB Application, an intake of updates (polling or webhook) and the outbox sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Protocol

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.warnings import PTBUserWarning

from bot.commitments import check_commitments
from bot.config import Settings
from bot.deadlines import check_deadlines
from bot.dispatch import CaucusHandlers
from bot.outbox import OutboxSender
from bot.transport import AiohttpRequest
from bot.turn import Runtime
from storage.db import create_engine, is_sqlite
from storage.leader import Leadership
from storage.migrate import upgrade_async
from storage.repository import Store
from storage.retention import PurgeCounts, purge_expired

__all__ = ["ALLOWED_UPDATES", "CaucusBot", "Intake", "Polling", "StartupError"]

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
GET_ME_TIMEOUT_S = 10.0
UPDATE_MEMORY = timedelta(days=3)
BUTTON_LIFETIME = timedelta(days=30)
DEADLINE_CHECK_EVERY_S = 300.0
# A worker that does not lead asks again this often; the one that leads checks its lock connection as often.
LEAD_RETRY_S = 1.0
LEAD_CHECK_S = 5.0
LEAD_LINE = "this process now sends the replies and runs the upkeep jobs"


class StartupError(Exception):
    """The bot cannot start; the message says why in one line."""


def _chat_of(update: Update) -> int:
    chat = update.effective_chat
    return chat.id if chat is not None else 0


class Intake(Protocol):
    """How updates reach the bot: `Polling`, or `WebhookServer` (bot/webhook.py).

    Either way each update is handled by ``application.process_update`` (one transaction) and
    confirmed to Telegram only after it committed.
    """

    @property
    def busy(self) -> bool:
        """An update is being handled right now."""

    async def start(self) -> None:
        """Start receiving updates."""

    async def stop(self) -> None:
        """Stop receiving and let the updates in hand commit."""


class Polling:
    """Fetch updates with getUpdates, handle each in one transaction, acknowledge after commit.

    PTB's own polling confirms updates to Telegram before handlers have committed anything,
    so this loop calls getUpdates itself and moves the offset only after a batch committed.
    Updates of one chat are handled in order; different chats concurrently.
    """

    def __init__(
        self, application: Application, unacknowledged: set[int], poll_timeout: float  # type: ignore[type-arg]
    ) -> None:
        self._application = application
        self._unacknowledged = unacknowledged
        self._poll_timeout = poll_timeout
        self._loop: asyncio.Task[None] | None = None
        self._batch: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self._batch is not None

    async def start(self) -> None:
        """Take updates back from a webhook that webhook mode left set (Telegram keeps what it queued), then poll."""
        try:
            await self._application.bot.delete_webhook()
        except TelegramError as error:
            raise StartupError(f"could not switch the Bot API to polling ({type(error).__name__})") from None
        self._loop = asyncio.create_task(self._poll(), name="caucus-poll")

    async def stop(self) -> None:
        """Stop fetching; a batch in hand still commits (its offset is then confirmed at the next start)."""
        loop, batch = self._loop, self._batch
        self._loop = None
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if batch is not None:
            await batch

    async def _poll(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self._application.bot.get_updates(
                    offset=offset, timeout=int(self._poll_timeout), allowed_updates=ALLOWED_UPDATES
                )
                failures = 0
            except TelegramError as error:  # unreachable, timed out, or another poller (Conflict): wait, retry
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                logger.warning("getUpdates failed (%s); retrying in %.1f s", type(error).__name__, delay)
                await asyncio.sleep(delay)
                continue
            except Exception as error:  # noqa: BLE001 - an update python-telegram-bot cannot read
                # By type only: a traceback would quote the update.
                logger.error("an update could not be read (%s): it is skipped, the others are handled",  # noqa: TRY400
                             type(error).__name__)
                try:
                    updates, unreadable_up_to = await self._readable_updates(offset)
                except TelegramError:
                    await asyncio.sleep(1.0)
                    continue
                if not updates:
                    offset = unreadable_up_to + 1
                    continue
            if not updates:
                continue
            self._batch = asyncio.create_task(self.process_batch(updates), name="caucus-batch")
            try:
                # Shielded: a stop request lets the batch commit (`stop` waits for it).
                await asyncio.shield(self._batch)
            finally:
                self._batch = None
            offset = self._next_offset(updates)
            if offset <= max(update.update_id for update in updates):
                await asyncio.sleep(1.0)  # the database is failing: do not spin

    async def _readable_updates(self, offset: int | None) -> tuple[list[Update], int]:
        """The pending updates read one by one: those python-telegram-bot can read, and the highest id seen."""
        bot = self._application.bot
        with warnings.catch_warnings():  # PTB suggests get_updates, which is what could not read them
            warnings.simplefilter("ignore", PTBUserWarning)
            raw = await bot.do_api_request("getUpdates", api_kwargs={
                "offset": offset, "timeout": 0, "allowed_updates": list(ALLOWED_UPDATES)})
        readable: list[Update] = []
        highest = (offset or 1) - 1
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("update_id"), int):
                continue
            highest = max(highest, item["update_id"])
            try:
                update = Update.de_json(item, bot)
            except Exception:  # noqa: BLE001, S112 - skipped, as logged by the caller
                continue
            if update is not None:
                readable.append(update)
        return readable, highest

    def _next_offset(self, updates: Sequence[Update]) -> int:
        """Confirm every update up to the first one that could not be committed (it will come again)."""
        failed = self._unacknowledged
        if failed:
            first = min(failed)
            failed.clear()
            return first
        return max(update.update_id for update in updates) + 1

    async def process_batch(self, updates: Sequence[Update]) -> None:
        """Handle updates: in order within a chat, chats concurrently."""
        by_chat: dict[int, list[Update]] = defaultdict(list)
        for update in updates:
            by_chat[_chat_of(update)].append(update)

        async def run_chat(chat_updates: list[Update]) -> None:
            for update in chat_updates:
                await self._application.process_update(update)

        await asyncio.gather(*(run_chat(chat_updates) for chat_updates in by_chat.values()))


class CaucusBot:
    """Caucus running: storage, the PTB Application, an intake of updates, the outbox sender and upkeep jobs.

    Updates arrive by polling (`Polling`), or through a webhook (`WebhookServer`) when
    ``settings.webhook`` is set; start-up, the jobs and the way down are the same for both.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        self.store = Store(self.engine, settings.key_ring())
        self.runtime = Runtime(settings, self.store)
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(settings.token)
            .base_url(settings.api_base_url)
            .updater(None)
            .request(AiohttpRequest())
            .get_updates_request(AiohttpRequest(connection_pool_size=1, read_timeout=settings.poll_timeout + 10))
            .build()
        )
        self.handlers = CaucusHandlers(self.runtime)
        self.handlers.install(self.application)
        self.sender = OutboxSender(
            self.application.bot, self.store, self.runtime.outbox_ready, settings.messages_per_second,
            settings.chat_messages_per_second,
        )
        self.intake = self._intake()
        self.leadership = Leadership(self.engine)
        self._jobs: list[asyncio.Task[None]] = []

    async def start(self, *, migrate: bool | None = None) -> None:
        """Prepare the database, check the token with getMe, start receiving updates, sending and the jobs."""
        if migrate if migrate is not None else is_sqlite(self.engine):
            await upgrade_async(self.settings.database_url)
        await self.store.open()
        try:
            await asyncio.wait_for(self.application.initialize(), GET_ME_TIMEOUT_S)
        except InvalidToken:
            raise StartupError("Telegram refused TELEGRAM_BOT_TOKEN (getMe failed): check the token") from None
        except (TimeoutError, NetworkError) as error:
            raise StartupError(f"cannot reach the Bot API at TELEGRAM_API_BASE_URL ({type(error).__name__})") from None
        self.runtime.bot_username = self.application.bot.username
        await self.intake.start()
        self._jobs = [asyncio.create_task(self._lead(), name="caucus-lead")]
        logger.info("Caucus is running as @%s", self.runtime.bot_username)

    async def _lead(self) -> None:
        """Take the lead when free (at once with SQLite, or as the first of several workers on PostgreSQL), then
        send the replies and run the upkeep jobs until the lead is lost (see `storage.leader`)."""
        while True:
            if not await self._take_lead():
                await asyncio.sleep(LEAD_RETRY_S)
                continue
            work = [
                asyncio.create_task(self.sender.run(), name="caucus-outbox"),
                # Hourly: forget update ids (Telegram redelivers for 24 h at most) and old buttons.
                asyncio.create_task(self._every(3600, "pruning", self._prune), name="caucus-maintenance"),
                # Reminders are due at most once a day per party: every few minutes is plenty.
                asyncio.create_task(self._every(DEADLINE_CHECK_EVERY_S, "deadline check", self.check_deadlines),
                                    name="caucus-deadlines"),
                # Daily: erase what the retention period no longer covers; log the audit chain's head as an anchor.
                asyncio.create_task(self._every(86400, "retention purge", self.purge), name="caucus-retention"),
            ]
            try:
                await self._hold_lead()
            finally:
                for task in work:
                    task.cancel()
                await asyncio.gather(*work, return_exceptions=True)

    async def _take_lead(self) -> bool:
        """Take the lead if free, and with it what the previous sender was sending when it stopped (due again:
        it may have gone out). False when another worker leads or the database failed (tried again later)."""
        try:
            if not await self.leadership.try_acquire(self.runtime.outbox_ready.set):
                return False
            await self.store.recover_outbox()
        except Exception as error:  # noqa: BLE001 - the database down: this worker tries again, as the sender would
            logger.warning("could not take the lead: %s", type(error).__name__)
            await self.leadership.release()
            return False
        logger.info(LEAD_LINE)
        return True

    async def _hold_lead(self) -> None:
        """Return once the lead is lost (its lock connection failed)."""
        while True:
            await asyncio.sleep(LEAD_CHECK_S)
            if not await self.leadership.still_held():
                return

    def _intake(self) -> Intake:
        if self.settings.webhook is None:
            return Polling(self.application, self.handlers.unacknowledged, self.settings.poll_timeout)
        from bot.webhook import WebhookServer  # noqa: PLC0415 - aiohttp is loaded in webhook mode only

        return WebhookServer(self.application, self.settings.webhook, self.handlers.unacknowledged, ALLOWED_UPDATES)

    @property
    def idle(self) -> bool:
        """Nothing being handled or sent right now (tests wait for this)."""
        return not self.intake.busy and not self.sender.busy and not self.runtime.outbox_ready.is_set()

    async def stop(self) -> None:
        """Stop receiving and let the updates in hand commit, then stop sending and the jobs."""
        await self.intake.stop()
        for task in self._jobs:
            task.cancel()
        for task in self._jobs:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._jobs = []
        await self.leadership.release()
        with contextlib.suppress(Exception):
            await self.application.shutdown()
        await self.engine.dispose()

    @staticmethod
    async def _every(seconds: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
        """Run ``job`` now and then every ``seconds``; a failure is logged by type and retried next time."""
        while True:
            try:
                await job()
            except Exception as error:  # noqa: BLE001 - retried at the next round
                logger.warning("%s failed: %s", name, type(error).__name__)
            await asyncio.sleep(seconds)

    async def _prune(self) -> None:
        await self.store.prune(updates_older_than=UPDATE_MEMORY, buttons_older_than=BUTTON_LIFETIME)

    async def purge(self) -> PurgeCounts:
        """Erase the cases and grievances closed longer ago than the retention period."""
        counts = await purge_expired(self.store, self.runtime.clock() - self.settings.retention)
        report = await self.store.verify_audit()
        logger.info("retention purge: %d cases, %d grievances erased; audit trail %s at event %d, head %s",
                    counts.cases, counts.grievances, "intact" if report.intact else "BROKEN", report.head_seq,
                    report.head_hash[:16])
        return counts

    async def check_deadlines(self) -> int:
        """Send the round reminders and the commitments' reminders and deadline questions due now (by the runtime's
        clock), and warn the mediators of missed deadlines; returns how many reminders and questions went."""
        now = self.runtime.clock()
        return await check_deadlines(self.runtime, now) + await check_commitments(self.runtime, now)
