"""Replies go through the outbox: delivered after commit, retried on 429, never retried to a blocked user."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from bot.local import LocalBot
from bot.standin import BotApiStandIn
from storage.chats import OutgoingMessage
from tests.e2e.conftest import MEDIATOR_ID


async def test_a_429_is_retried_after_retry_after(standin: BotApiStandIn, local: LocalBot) -> None:
    """When Telegram answers 429 with retry_after, the reply is sent again after that delay, once."""
    standin.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 1", retry_after=1)
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    started = time.monotonic()
    mediator.send_command("/help")
    await local.settle(within=10)
    assert time.monotonic() - started >= 0.9
    sends = standin.calls("sendMessage")
    assert [call.ok for call in sends] == [False, True]
    assert len(standin.messages(MEDIATOR_ID)) == 1


async def test_a_blocked_user_is_not_retried(standin: BotApiStandIn, local: LocalBot) -> None:
    """A 403 'blocked by the user' marks the reply undeliverable: one attempt, no retry storm."""
    user = standin.user(8001, "Gone")
    user.block()
    user.send_command("/help")
    await local.settle()
    assert len([call for call in standin.calls("sendMessage") if call.params.get("chat_id") == 8001]) == 1
    assert not await local.bot.store.has_pending_outbox()


async def test_replies_keep_their_order_within_a_chat(standin: BotApiStandIn, local: LocalBot) -> None:
    """Several messages for one chat arrive in the order they were queued, even after a retry."""
    standin.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 1", retry_after=1)
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    mediator.send_command("/newcase")
    mediator.send_command("/help")
    await local.settle(within=10)
    texts = [message.text for message in standin.messages(MEDIATOR_ID)]
    assert len(texts) == 2
    assert texts[0].startswith("New case")
    assert texts[1].startswith("What you can do")


async def test_the_bot_leaves_any_group_it_is_added_to(standin: BotApiStandIn, local: LocalBot) -> None:
    """Added to a group, the bot leaves it and says nothing there."""
    group = {"id": -100123, "type": "group", "title": "Valley"}
    member = {"id": 9001, "is_bot": False, "first_name": "Someone"}
    bot_user = {"id": 123456789, "is_bot": True, "first_name": "Caucus", "username": standin.username}
    standin.enqueue_update({"my_chat_member": {
        "chat": group, "from": member, "date": int(time.time()),
        "old_chat_member": {"status": "left", "user": bot_user},
        "new_chat_member": {"status": "member", "user": bot_user},
    }})
    await local.settle()
    assert [call.params.get("chat_id") for call in standin.calls("leaveChat")] == [-100123]
    assert standin.calls("sendMessage") == []


async def test_an_update_that_cannot_be_committed_is_not_acknowledged(
    standin: BotApiStandIn, local: LocalBot, tmp_path: Path
) -> None:
    """While the database refuses writes, the update stays unconfirmed; once it works, it is handled once."""
    database = tmp_path / "caucus.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("ALTER TABLE processed_updates RENAME TO processed_updates_away")
    user = standin.user(8101, "Patient")
    user.send_command("/help")
    await asyncio.sleep(1.5)
    assert standin.unconfirmed_count() == 1
    assert standin.messages(8101) == []
    with sqlite3.connect(database) as connection:
        connection.execute("ALTER TABLE processed_updates_away RENAME TO processed_updates")
    await local.settle(within=10)
    assert standin.unconfirmed_count() == 0
    assert len(standin.messages(8101)) == 1


async def test_fresh_replies_go_straight_to_the_sender(
    standin: BotApiStandIn, local: LocalBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply to a chat with nothing else waiting is handed to the sender with its commit: no round of the outbox
    has to find it (a transaction and a wait saved on every answer)."""
    store = local.bot.store
    found_by_rounds: list[int] = []
    pending_outbox = store.pending_outbox

    async def counting(*args: Any, **kwargs: Any) -> list[OutgoingMessage]:
        messages = await pending_outbox(*args, **kwargs)
        found_by_rounds.extend(message.seq for message in messages)
        return messages

    monkeypatch.setattr(store, "pending_outbox", counting)
    await local.sending()
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    for command in ("/help", "/newcase", "/cases", "/help"):
        mediator.send_command(command)
        await local.settle()
    assert len(standin.messages(MEDIATOR_ID)) >= 4
    assert found_by_rounds == []
    assert not await store.has_pending_outbox()


async def test_a_reply_handed_over_behind_one_to_be_retried_waits_for_it(
    standin: BotApiStandIn, local: LocalBot
) -> None:
    """The second reply's transaction begins while the first is in the sender's hands; the first then gets a 429
    and must be tried again later. The second, handed over after that, does not overtake it."""
    store = local.bot.store
    await local.sending()
    standin.user(MEDIATOR_ID, "Mediator").send_command("/help")  # Telegram lets a bot write to those who wrote
    await local.settle()
    standin.fail_next("sendMessage", error_code=429, description="Too Many Requests: retry after 1", retry_after=1)
    async with store.transaction() as first:
        assert first is not None
        await first.enqueue(MEDIATOR_ID, "first", [])
    async with store.transaction() as second:
        assert second is not None
        await second.enqueue(MEDIATOR_ID, "second", [])  # the first is held by the sender: this one may follow
        for _ in range(1000):  # until the first was tried, and refused
            if any(call.params.get("text") == "first" for call in standin.calls("sendMessage")):
                break
            await asyncio.sleep(0.005)
    await local.settle(within=10)
    assert [message.text for message in standin.messages(MEDIATOR_ID)][1:] == ["first", "second"]
    assert [(call.params.get("text"), call.ok) for call in standin.calls("sendMessage")][1:] == [
        ("first", False), ("first", True), ("second", True)]


async def test_a_reply_promised_to_a_sender_that_stopped_meanwhile_goes_back_to_the_rounds(
    standin: BotApiStandIn, local: LocalBot
) -> None:
    """The sender stops and starts again (a lead lost and taken back) while a transaction that counted on it is
    under way: its reply goes to the outbox's rounds, arrives once, and nothing stays held."""
    store, sender = local.bot.store, local.bot.sender
    await local.sending()
    standin.user(MEDIATOR_ID, "Mediator").send_command("/help")
    await local.settle()
    [running] = [task for task in asyncio.all_tasks() if task.get_name() == "caucus-outbox"]
    async with store.transaction() as tx:
        assert tx is not None
        await tx.enqueue(MEDIATOR_ID, "promised", [])
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        restarted = asyncio.create_task(sender.run(), name="caucus-outbox")
        await asyncio.sleep(0.05)
    try:
        await local.settle(within=10)
        assert [message.text for message in standin.messages(MEDIATOR_ID)][1:] == ["promised"]
        assert not sender.busy
    finally:
        restarted.cancel()
        await asyncio.gather(restarted, return_exceptions=True)
