"""The Bot API transport (aiohttp under python-telegram-bot's Bot): failures are the errors PTB's own transport
raises, so the outbox retries them as before, and no error quotes the bot's token.

Replies, edits, taps answered, photos and documents sent through it are what every end-to-end test checks.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.transport import AiohttpRequest

TOKEN = "123456789:TRANSPORT-test_token"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A server on 127.0.0.1 that takes connections and never answers; yields its port."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_an_unreachable_bot_api_is_a_network_error_that_does_not_quote_the_token() -> None:
    request = AiohttpRequest()
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{_closed_port()}/bot", request=request)
    async with request:
        with pytest.raises(NetworkError) as raised:
            await bot.get_me()
    assert not isinstance(raised.value, TimedOut)
    assert "aiohttp.ClientConnectorError" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert TOKEN.split(":")[1] not in repr(raised.value)


async def _timed_out_after(port: int, default_read_timeout: float, call: str, **kwargs: float) -> float:
    """Seconds until ``call`` of a Bot against the silent server at ``port`` raised TimedOut."""
    request = AiohttpRequest(read_timeout=default_read_timeout)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    async with request:
        began = time.monotonic()
        with pytest.raises(TimedOut):
            await getattr(bot, call)(**kwargs)
        return time.monotonic() - began


async def test_a_bot_api_that_does_not_answer_times_out_after_the_read_timeout(silent_server: int) -> None:
    assert 0.25 < await _timed_out_after(silent_server, 0.3, "get_me") < 3.0


async def test_a_call_s_own_read_timeout_wins_over_the_default(silent_server: int) -> None:
    """A long poll gives getUpdates its own, longer read timeout: the call waits that long, not the default."""
    assert 0.7 < await _timed_out_after(silent_server, 0.2, "get_updates", timeout=0, read_timeout=0.8) < 3.0


async def test_a_transport_used_before_it_started_says_so() -> None:
    bot = Bot(TOKEN, base_url="http://127.0.0.1:9/bot", request=AiohttpRequest())
    with pytest.raises(NetworkError, match="not initialized"):
        await bot.get_me()
