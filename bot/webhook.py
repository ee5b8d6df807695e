"""Webhook mode: Telegram posts each update to us; the answer is 200 only once the update committed.

Telegram re-sends an update until it gets a 2xx, so every status here is a promise:
200 means "committed (or seen before), never send it again"; 500 means "nothing was kept,
send it again"; 400 and 403 mean "sending it again would not help". The server is meant to
listen on the loopback interface behind a reverse proxy that terminates TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Hashable, Sequence
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.application import StartupError
from bot.config import WebhookSettings

__all__ = ["SECRET_HEADER", "WebhookServer"]

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - the name of a header, not a secret
# Telegram waits at most 60 s for an answer; in-flight updates get this long to commit on stop.
SHUTDOWN_GRACE_S = 30.0
_MAX_UPDATE_ID = 2**63 - 1  # the processed_updates column is a signed 64-bit integer


class _ChatLocks:
    """One lock per chat, in first-come order, forgotten once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: Counter[Hashable] = Counter()

    @contextlib.asynccontextmanager
    async def hold(self, chat: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(chat, asyncio.Lock())
        self._users[chat] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat] -= 1
            if not self._users[chat]:
                del self._users[chat], self._locks[chat]


def _chat_of(update: Update) -> Hashable:
    chat = update.effective_chat
    return chat.id if chat is not None else None


def _as_update(body: bytes, application: Application) -> Update | None:  # type: ignore[type-arg]
    """The update in a request body, or None when the body is not one (logged by type only)."""
    try:
        data: Any = json.loads(body)
    except ValueError as error:  # UnicodeDecodeError included
        logger.warning("webhook body is not JSON: %s", type(error).__name__)
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if type(update_id) is not int or not 0 <= update_id <= _MAX_UPDATE_ID:
        logger.warning("webhook body is not an update: %s without a valid update_id", type(data).__name__)
        return None
    try:
        return Update.de_json(data, application.bot)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        logger.warning("webhook body is not an update: %s", type(error).__name__)
        return None


class WebhookServer:
    """Receives updates over HTTP and hands each to the Application, one chat at a time.

    ``unacknowledged`` is where the handlers record an update that could not be committed
    (see `CaucusHandlers`): such an update is answered 500 so that Telegram delivers it again.
    """

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        settings: WebhookSettings,
        unacknowledged: set[int],
        allowed_updates: Sequence[str],
    ) -> None:
        self._application = application
        self._settings = settings
        self._secret = settings.secret.encode("ascii")
        self._unacknowledged = unacknowledged
        self._allowed_updates = allowed_updates
        self._chats = _ChatLocks()
        self._in_flight: set[asyncio.Task[bool]] = set()
        self._runner: web.AppRunner | None = None

    @property
    def busy(self) -> bool:
        """An update is being handled right now."""
        return bool(self._in_flight)

    @property
    def port(self) -> int:
        """The port actually listened on (the one chosen by the system for port 0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the webhook server is not running")
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        """Listen, then ask Telegram to post updates here (it then also sends what queued meanwhile)."""
        app = web.Application(client_max_size=self._settings.max_body)
        app.router.add_post(self._settings.path, self._receive)
        # No access log here: the reverse proxy keeps one.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._settings.host, self._settings.port).start()
        except OSError as error:
            raise StartupError(f"cannot listen on CAUCUS_WEBHOOK_LISTEN ({error.strerror})") from None
        await self._set_webhook()
        logger.info("webhook listening on %s port %s", self._settings.host, self.port)

    async def _set_webhook(self) -> None:
        try:
            await self._application.bot.set_webhook(
                self._settings.url, secret_token=self._settings.secret, allowed_updates=self._allowed_updates
            )
        except BadRequest as error:
            # Telegram's reason names the problem with the URL (port, certificate, DNS), never the secret.
            raise StartupError(f"Telegram refused CAUCUS_WEBHOOK_URL: {error.message}") from None
        except TelegramError as error:  # unreachable, timed out, rate-limited
            raise StartupError(f"could not set the webhook with the Bot API ({type(error).__name__})") from None

    async def stop(self) -> None:
        """Stop accepting, let the updates in hand commit, close. The webhook stays set on purpose:
        Telegram keeps what arrives meanwhile and posts it after the next start."""
        if self._runner is not None:
            await self._runner.cleanup()  # closes the socket, then waits for running requests
            self._runner = None
        while self._in_flight:  # requests cut off by the grace period still finish their transaction
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    # Requests --------------------------------------------------------------------------------
    async def _receive(self, request: web.Request) -> web.Response:
        """POST <path>: check the secret, read a bounded body, handle the update, then answer."""
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._secret):
            logger.warning("webhook request refused: wrong or missing secret")
            return web.Response(status=403)
        if request.content_length is not None and request.content_length > self._settings.max_body:
            return web.Response(status=413)  # refused before reading any of it
        try:
            body = await request.read()  # stops at client_max_size when no length was declared
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413)
        update = _as_update(body, self._application)
        if update is None:
            return web.Response(status=400)
        task = asyncio.create_task(self._handle_in_order(update))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        # Shielded: a client that hangs up (or a stop) does not interrupt the transaction.
        committed = await asyncio.shield(task)
        return web.Response(status=200 if committed else 500)

    async def _handle_in_order(self, update: Update) -> bool:
        """Handle the update after the earlier ones of its chat; True once it committed (or was seen before)."""
        async with self._chats.hold(_chat_of(update)):
            try:
                await self._application.process_update(update)
            except Exception as error:  # noqa: BLE001 - answered 500 so that Telegram tries again
                # By type only: exception messages may quote what a person typed.
                logger.error(  # noqa: TRY400
                    "update %s failed outside a handler: %s", update.update_id, type(error).__name__
                )
                return False
            # Checked under the chat's lock: a copy of this update waiting behind us cannot take our mark.
            if update.update_id in self._unacknowledged:
                self._unacknowledged.discard(update.update_id)
                return False
            return True
