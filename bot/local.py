"""The real bot against the local Bot API stand-in: used by the demo and the end-to-end tests."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from bot.application import CaucusBot
from bot.config import Settings
from bot.standin import BotApiStandIn

__all__ = ["LocalBot"]


class LocalBot:
    """Starts a `CaucusBot` pointed at a stand-in and waits until it has handled everything sent."""

    def __init__(self, standin: BotApiStandIn, settings: Settings, *, pace_chats: bool = False) -> None:
        self.standin = standin
        # The stand-in has no per-chat limit: unless a test is about pacing, replies go as fast as they come.
        chat_rate = settings.chat_messages_per_second if pace_chats else 1000.0
        self.settings = replace(settings, token=standin.token, api_base_url=standin.base_url, poll_timeout=1.0,
                                chat_messages_per_second=chat_rate)
        self.bot = CaucusBot(self.settings)

    async def start(self) -> None:
        await self.bot.start()

    async def stop(self) -> None:
        await self.bot.stop()

    async def sending(self, within: float = 5.0) -> None:
        """Wait until this bot's sender runs (it has taken the lead: at once on SQLite)."""
        deadline = time.monotonic() + within
        while self.bot.store.handoff is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the bot's sender did not start")
            await asyncio.sleep(0.005)

    async def settle(self, within: float = 15.0) -> None:
        """Wait until every queued update is committed and every reply delivered (TimeoutError after ``within`` s)."""
        deadline = time.monotonic() + within
        quiet_rounds = 0
        while quiet_rounds < 3:
            if time.monotonic() > deadline:
                raise TimeoutError("the bot did not settle")
            await asyncio.sleep(0.005)
            quiet = (
                self.standin.unconfirmed_count() == 0
                and self.bot.idle
                and not await self.bot.store.has_pending_outbox()
            )
            quiet_rounds = quiet_rounds + 1 if quiet else 0
