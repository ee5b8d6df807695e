"""Webhook mode: the real bot behind its webhook, fed by the stand-in (as Telegram would) and by hand-made requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import telegram
from sqlalchemy import event
from telegram.error import BadRequest, Conflict

from bot.application import ALLOWED_UPDATES, StartupError
from bot.config import Settings, WebhookSettings
from bot.local import LocalBot
from bot.scenario import create_case, join
from bot.standin import BotApiStandIn
from bot.webhook import SECRET_HEADER
from storage.crypto import MasterKey
from storage.db import default_sqlite_url

MEDIATOR_ID = 1001
SECRET = "webhook-Secret_0123456789abcdef"
MAX_BODY = 64 * 1024
FIRST_HAND_MADE_ID = 500_000  # above anything the stand-in numbers


@pytest.fixture
def standin() -> Iterator[BotApiStandIn]:
    with BotApiStandIn(webhook_retry_delay=0.05, webhook_timeout=10) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, unused_tcp_port: int) -> Settings:
    webhook = WebhookSettings(url=f"http://127.0.0.1:{unused_tcp_port}/telegram/updates", secret=SECRET,
                              host="127.0.0.1", port=unused_tcp_port, max_body=MAX_BODY)
    return Settings(token="1:unused", master_key=MasterKey.generate(), database_url=default_sqlite_url(tmp_path),
                    mediator_ids=frozenset({MEDIATOR_ID}), webhook=webhook)


@pytest.fixture
async def local(standin: BotApiStandIn, settings: Settings) -> AsyncIterator[LocalBot]:
    running = LocalBot(standin, settings)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "caucus.sqlite3"


def _count(database: Path, sql: str, *params: object) -> int:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return int(connection.execute(sql, params).fetchone()[0])


def _cases(database: Path) -> int:
    return _count(database, "SELECT count(*) FROM cases")


def _handled(database: Path, update_id: int) -> bool:
    return _count(database, "SELECT count(*) FROM processed_updates WHERE update_id = ?", update_id) == 1


def _message(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """A private-chat message shaped like Telegram's (as the stand-in's SimUser sends them)."""
    message: dict[str, Any] = {
        "message_id": update_id, "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "Mediator"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Mediator", "language_code": "en"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}]
    return {"update_id": update_id, "message": message}


def _body(update: dict[str, Any]) -> bytes:
    return json.dumps(update).encode()


async def _post(settings: Settings, body: bytes, *, secret: str | None = SECRET) -> int:
    """POST a body to the bot's webhook as Telegram would; the status it answered."""
    assert settings.webhook is not None
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with aiohttp.ClientSession() as session, session.post(settings.webhook.url, data=body,
                                                                headers=headers) as response:
        return response.status


@contextlib.asynccontextmanager
async def _write_lock(database: Path) -> AsyncIterator[None]:
    """Another process's write transaction on the database; taken in a thread, since the bot may be finishing a
    transaction of its own on this event loop."""
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    try:
        await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
        yield
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


async def _known_mediator(standin: BotApiStandIn, local: LocalBot) -> None:
    """The mediator has written to the bot once, so the chat exists and replies can reach it."""
    standin.user(MEDIATOR_ID, "Mediator").send_command("/help")
    await local.settle()


# -- a conversation, as Telegram delivers it -----------------------------------------------------


async def test_a_case_is_set_up_and_a_party_joins_through_the_webhook(standin: BotApiStandIn, local: LocalBot) -> None:
    """Through the webhook the bot behaves as in polling mode: a case is set up, a party joins and is asked."""
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    _short_id, tokens = await create_case(local, mediator, "Water sharing",
                                          ["Access to the spring", "Repair of the canal"], ["Farmers", "Herders"])
    assert set(tokens) == {"Farmers", "Herders"}
    party = standin.user(2001, "Farmer")
    await join(local, party, tokens["Farmers"], "en")
    last = party.last_message()
    assert last is not None
    assert "Access to the spring" in last.text
    # Every update came through the webhook, each answered 200 at the first post; nothing was fetched.
    deliveries = standin.webhook_deliveries()
    assert len(deliveries) >= 10
    assert {delivery.status for delivery in deliveries} == {200}
    assert len({delivery.update_id for delivery in deliveries}) == len(deliveries)
    assert standin.calls("getUpdates") == []
    [set_webhook] = standin.calls("setWebhook")
    assert set_webhook.params["secret_token"] == SECRET
    assert set_webhook.params["allowed_updates"] == list(ALLOWED_UPDATES)


# -- requests that must change nothing ------------------------------------------------------------


async def test_a_request_without_the_right_secret_is_refused_and_changes_nothing(
    standin: BotApiStandIn, local: LocalBot, settings: Settings, database: Path
) -> None:
    """A forged update (secret missing or wrong) gets 403 and no reply; the real one is still handled after it."""
    await _known_mediator(standin, local)
    sent_before = len(standin.calls("sendMessage"))
    body = _body(_message(FIRST_HAND_MADE_ID, MEDIATOR_ID, "/newcase"))
    for secret in (None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper()):
        assert await _post(settings, body, secret=secret) == 403, secret
    await local.settle()
    assert not _handled(database, FIRST_HAND_MADE_ID)
    assert _cases(database) == 0
    assert len(standin.calls("sendMessage")) == sent_before
    # The refusals did not use up the update: Telegram's own delivery of it is handled.
    assert await _post(settings, body) == 200
    await local.settle()
    assert _cases(database) == 1


async def test_an_oversized_body_is_refused_before_it_is_read(local: LocalBot, settings: Settings) -> None:
    """A body announced larger than the limit gets 413 at once, though its bytes never arrive."""
    assert settings.webhook is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", settings.webhook.port)
    try:
        writer.write((f"POST {settings.webhook.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Content-Type: application/json\r\n{SECRET_HEADER}: {SECRET}\r\n"
                      f"Content-Length: {MAX_BODY * 1000}\r\n\r\n{{").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert status_line.split()[1] == b"413"


async def test_an_oversized_body_without_a_length_is_cut_off_at_the_limit(
    local: LocalBot, settings: Settings
) -> None:
    """A chunked body is read only up to the limit: 413 while the sender is still sending."""
    assert settings.webhook is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", settings.webhook.port)
    chunk = b" " * 8192
    try:
        writer.write((f"POST {settings.webhook.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Content-Type: application/json\r\n{SECRET_HEADER}: {SECRET}\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n").encode())
        for _ in range(2 * MAX_BODY // len(chunk)):  # twice the limit, and the body never ends
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert status_line.split()[1] == b"413"


NOT_UPDATES = {
    "truncated": b'{"update_id": 7, "message": {"text": "canary-in-the-body"',
    "not UTF-8": b"\xff\xfe canary-in-the-body",
    "an array": b'["canary-in-the-body"]',
    "no update_id": b'{"message": {"text": "canary-in-the-body"}}',
    "update_id a string": b'{"update_id": "7", "message": {"text": "canary-in-the-body"}}',
    "update_id negative": b'{"update_id": -7, "message": {"text": "canary-in-the-body"}}',
    "message not an object": b'{"update_id": 7, "message": "canary-in-the-body"}',
    "message incomplete": b'{"update_id": 7, "message": {"text": "canary-in-the-body", "chat": {"id": 1}}}',
}


async def test_a_body_that_is_not_an_update_gets_400_and_is_not_logged(
    standin: BotApiStandIn, local: LocalBot, settings: Settings, database: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """Malformed JSON, or JSON that is no Telegram update: 400, nothing handled, its content kept out of the log."""
    caplog.set_level(logging.DEBUG)
    for name, body in NOT_UPDATES.items():
        assert await _post(settings, body) == 400, name
    await local.settle()
    assert _count(database, "SELECT count(*) FROM processed_updates") == 0
    assert standin.calls("sendMessage") == []
    assert "canary" not in caplog.text
    assert caplog.text.count("webhook body is not") == len(NOT_UPDATES)


async def test_an_unknown_kind_of_update_gets_200_and_nothing_happens(
    standin: BotApiStandIn, local: LocalBot, settings: Settings, database: Path
) -> None:
    """An update of a kind the bot does not handle is acknowledged (Telegram stops sending it) and ignored."""
    await _known_mediator(standin, local)
    sent_before = len(standin.calls("sendMessage"))
    # An inline query (a kind Caucus does not ask for) and a kind this version of the Bot API does not know yet.
    query = {"id": "1", "from": {"id": MEDIATOR_ID, "is_bot": False, "first_name": "M"}, "query": "hi", "offset": ""}
    for offset, kind in enumerate(["inline_query", "a_kind_from_the_future"]):
        body = json.dumps({"update_id": FIRST_HAND_MADE_ID + offset, kind: query}).encode()
        assert await _post(settings, body) == 200, kind
    await local.settle()
    assert len(standin.calls("sendMessage")) == sent_before
    assert _cases(database) == 0


# -- duplicates and failures ------------------------------------------------------------------------


async def test_the_same_update_posted_three_times_changes_state_once(
    standin: BotApiStandIn, local: LocalBot, settings: Settings, database: Path
) -> None:
    """Three concurrent deliveries of one update: all 200, one case created, one reply."""
    await _known_mediator(standin, local)
    replies_before = len(standin.messages(MEDIATOR_ID))
    body = _body(_message(FIRST_HAND_MADE_ID, MEDIATOR_ID, "/newcase"))
    statuses = await asyncio.gather(*(_post(settings, body) for _ in range(3)))
    assert statuses == [200, 200, 200]
    await local.settle()
    assert _cases(database) == 1
    replies = standin.messages(MEDIATOR_ID)[replies_before:]
    assert len(replies) == 1
    assert replies[0].text.startswith("New case")


async def test_an_update_the_database_cannot_commit_gets_500_and_is_handled_when_redelivered(
    standin: BotApiStandIn, settings: Settings, database: Path
) -> None:
    """While another process holds the database's write lock, the webhook answers 500 (nothing kept);
    Telegram's redelivery after the lock is released is handled, once."""
    local = LocalBot(standin, settings)

    @event.listens_for(local.bot.engine.sync_engine, "connect")
    def wait_briefly_for_locks(dbapi_connection: Any, _record: object) -> None:
        # Wait 0.2 s (not 30 s) for the lock before failing.
        dbapi_connection.driver_connection.busy_timeout = 0.2

    try:
        await local.start()
        mediator = standin.user(MEDIATOR_ID, "Mediator")
        await _known_mediator(standin, local)
        async with _write_lock(database):
            update_id = mediator.send_command("/newcase")
            await _until(lambda: len(standin.webhook_deliveries(update_id)) >= 2)
            assert {delivery.status for delivery in standin.webhook_deliveries(update_id)} == {500}
            assert len(standin.messages(MEDIATOR_ID)) == 1  # only the answer to /help
        await local.settle(within=15)
        statuses = [delivery.status for delivery in standin.webhook_deliveries(update_id)]
        assert statuses[-1] == 200
        assert set(statuses[:-1]) == {500}
        assert _cases(database) == 1
        replies = standin.messages(MEDIATOR_ID)
        assert len(replies) == 2
        assert replies[1].text.startswith("New case")
    finally:
        await local.stop()


async def test_a_chats_updates_are_handled_in_the_order_they_arrived(
    standin: BotApiStandIn, local: LocalBot, settings: Settings, database: Path
) -> None:
    """A message arriving while the chat's previous update is still being handled waits for it: /newcase, then
    the case's name, even when the database is slow."""
    await _known_mediator(standin, local)
    replies_before = len(standin.messages(MEDIATOR_ID))
    async with _write_lock(database):  # the first update waits for it (the engine's busy timeout is 30 s)
        first = asyncio.create_task(_post(settings, _body(_message(FIRST_HAND_MADE_ID, MEDIATOR_ID, "/newcase"))))
        await _until(lambda: local.bot.intake.busy)
        second = asyncio.create_task(_post(settings, _body(_message(FIRST_HAND_MADE_ID + 1, MEDIATOR_ID, "Water"))))
        await asyncio.sleep(0.3)  # the second has arrived and waits as well
    assert await asyncio.gather(first, second) == [200, 200]
    await local.settle()
    replies = [message.text for message in standin.messages(MEDIATOR_ID)[replies_before:]]
    assert len(replies) == 2
    assert replies[0].startswith("New case")
    assert "0 issues so far" in replies[1]


# -- stopping and starting again --------------------------------------------------------------------


async def test_stop_refuses_new_requests_but_lets_the_update_in_hand_commit(
    standin: BotApiStandIn, local: LocalBot, settings: Settings, database: Path
) -> None:
    """On stop the port closes at once, while an update being handled still commits and is answered 200."""
    assert settings.webhook is not None
    await _known_mediator(standin, local)
    async with _write_lock(database):  # the update waits for it (the engine's busy timeout is 30 s)
        posted = asyncio.create_task(_post(settings, _body(_message(FIRST_HAND_MADE_ID, MEDIATOR_ID, "/newcase"))))
        await _until(lambda: local.bot.intake.busy)
        stopping = asyncio.create_task(local.stop())
        await asyncio.sleep(0.3)
        assert not stopping.done()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", settings.webhook.port)
    assert await posted == 200
    await stopping
    assert _handled(database, FIRST_HAND_MADE_ID)
    assert _cases(database) == 1
    assert standin.calls("deleteWebhook") == []


async def test_updates_sent_while_the_bot_is_down_arrive_after_the_next_start(
    standin: BotApiStandIn, settings: Settings
) -> None:
    """The webhook stays set across a restart: what users sent meanwhile is delivered once the bot is back."""
    first = LocalBot(standin, settings)
    try:
        await first.start()
        await _known_mediator(standin, first)
    finally:
        await first.stop()
    update_id = standin.user(MEDIATOR_ID).send_command("/help")
    await _until(lambda: bool(standin.webhook_deliveries(update_id)))
    second = LocalBot(standin, settings)
    try:
        await second.start()
        await second.settle()
    finally:
        await second.stop()
    statuses = [delivery.status for delivery in standin.webhook_deliveries(update_id)]
    assert statuses[-1] == 200
    assert None in statuses  # refused while the bot was down
    assert len(standin.messages(MEDIATOR_ID)) == 2


async def test_polling_mode_takes_over_from_a_webhook_left_set(standin: BotApiStandIn, settings: Settings) -> None:
    """After webhook mode, `caucusbot run` removes the webhook and gets what users sent in between."""
    webhook_bot = LocalBot(standin, settings)
    try:
        await webhook_bot.start()
        await _known_mediator(standin, webhook_bot)
    finally:
        await webhook_bot.stop()
    standin.user(MEDIATOR_ID).send_command("/help")
    polling_bot = LocalBot(standin, replace(settings, webhook=None))
    try:
        await polling_bot.start()
        await polling_bot.settle()
    finally:
        await polling_bot.stop()
    assert len(standin.messages(MEDIATOR_ID)) == 2
    assert [call.ok for call in standin.calls("getUpdates")][-1]


async def test_a_webhook_that_cannot_start_says_why(standin: BotApiStandIn, settings: Settings) -> None:
    """A port already taken, or a URL Telegram refuses, stops start-up with one line naming the setting."""
    assert settings.webhook is not None
    with socket.create_server(("127.0.0.1", settings.webhook.port)):
        taken = LocalBot(standin, settings)
        try:
            with pytest.raises(StartupError, match=r"^cannot listen on CAUCUS_WEBHOOK_LISTEN"):
                await taken.start()
        finally:
            await taken.stop()
    refused = LocalBot(standin, replace(settings, webhook=replace(settings.webhook, url="http://caucus.example.org/")))
    try:
        with pytest.raises(StartupError, match=r"^Telegram refused CAUCUS_WEBHOOK_URL: Bad webhook"):
            await refused.start()
    finally:
        await refused.stop()


# -- the stand-in, as Telegram ----------------------------------------------------------------------


async def test_the_standin_posts_like_telegram_and_keeps_getupdates_for_when_no_webhook_is_set(
    standin: BotApiStandIn, unused_tcp_port: int
) -> None:
    """The stand-in refuses what Telegram refuses (plain http elsewhere, a malformed secret, getUpdates while a
    webhook is set), keeps posting an update nobody answers, and hands it to getUpdates once the webhook is gone."""
    async with telegram.Bot(standin.token, base_url=standin.base_url) as bot:
        with pytest.raises(BadRequest, match=r"(?i)https url"):
            await bot.set_webhook("http://caucus.example.org/hook")
        with pytest.raises(BadRequest, match=r"(?i)secret token"):
            await bot.set_webhook("https://caucus.example.org/hook", secret_token="not valid!")
        assert await bot.set_webhook(f"http://127.0.0.1:{unused_tcp_port}/hook", secret_token=SECRET)
        with pytest.raises(Conflict):
            await bot.get_updates(timeout=0)
        update_id = standin.user(MEDIATOR_ID).send_command("/help")
        await _until(lambda: len(standin.webhook_deliveries(update_id)) >= 3)
        assert {delivery.status for delivery in standin.webhook_deliveries(update_id)} == {None}  # refused
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 1
        assert info.last_error_message
        assert await bot.delete_webhook()
        [update] = await bot.get_updates(timeout=0)
        assert update.update_id == update_id
