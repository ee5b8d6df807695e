"""Tests of the Bot API stand-in, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.standin import BotApiError, BotApiStandIn, SimUser, parse_html

NOT_MODIFIED = "message is not modified"


@pytest.fixture
def standin() -> Iterator[BotApiStandIn]:
    with BotApiStandIn() as server:
        yield server


@pytest.fixture
async def bot(standin: BotApiStandIn) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(standin.token, base_url=standin.base_url) as client:
        yield client


@pytest.fixture
def alice(standin: BotApiStandIn) -> SimUser:
    user = standin.user(1001, "Alice")
    user.send_command("/start")
    return user


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


def bad_request(reason: str) -> pytest.RaisesExc[BadRequest]:
    """PTB drops the "Bad Request: " prefix and lower-cases the rest of the description."""
    return pytest.raises(BadRequest, match="(?i)" + re.escape(reason))


def raw_post(url: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# -- basics and updates ------------------------------------------------------------------------


async def test_get_me_describes_the_bot(bot: telegram.Bot, standin: BotApiStandIn) -> None:
    me = await bot.get_me()
    assert me.is_bot
    assert me.username == standin.username
    assert me.id == standin.bot_id
    assert standin.api_url == standin.base_url + standin.token
    assert standin.calls("getMe")[0].ok


async def test_command_is_delivered_and_confirmed(bot: telegram.Bot, standin: BotApiStandIn) -> None:
    user = standin.user(42, "Bob", language_code="de")
    assert standin.user(42) is user
    update_id = user.send_command("/start", "abc")
    assert update_id == 1

    updates = await bot.get_updates(timeout=0)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "/start abc"
    assert message.chat.id == 42
    assert message.from_user is not None
    assert message.from_user.language_code == "de"
    assert message.parse_entities() == {message.entities[0]: "/start"}
    assert standin.unconfirmed_count() == 1

    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
    assert standin.unconfirmed_count() == 0
    standin.wait_confirmed(timeout=0.1)
    assert [e.kind for e in standin.events(42)] == ["user_command"]


async def test_wait_confirmed_times_out(standin: BotApiStandIn) -> None:
    standin.user(7).send_text("hello")
    with pytest.raises(TimeoutError):
        standin.wait_confirmed(timeout=0.05)


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    bot: telegram.Bot, standin: BotApiStandIn
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    assert await bot.get_me()  # other requests are served during a long poll
    standin.user(5).send_text("hi")
    updates = await asyncio.wait_for(poll, timeout=3)
    assert time.monotonic() - started < 2
    assert updates[0].message is not None
    assert updates[0].message.text == "hi"


async def test_limit_and_offset(bot: telegram.Bot, standin: BotApiStandIn) -> None:
    user = standin.user(5)
    ids = [user.send_text(str(n)) for n in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    first = await bot.get_updates(limit=2, timeout=0)
    assert [u.update_id for u in first] == [1, 2]
    assert first[0].message is not None
    assert first[0].message.text == "0"  # numeric-looking text stays text
    rest = await bot.get_updates(offset=3, timeout=0)
    assert [u.update_id for u in rest] == [3, 4, 5]
    assert standin.unconfirmed_count() == 3
    assert await bot.get_updates(offset=-1, timeout=0) != ()
    assert standin.unconfirmed_count() == 1


async def test_redelivered_update_comes_back_with_the_same_id(
    bot: telegram.Bot, standin: BotApiStandIn
) -> None:
    update_id = standin.user(5).send_text("once")
    await bot.get_updates(timeout=0)
    await bot.get_updates(offset=update_id + 1, timeout=0)
    assert standin.unconfirmed_count() == 0

    standin.redeliver(update_id)
    assert standin.unconfirmed_count() == 1
    again = await bot.get_updates(offset=update_id + 1, timeout=0)
    assert [u.update_id for u in again] == [update_id]
    await bot.get_updates(offset=update_id + 1, timeout=0)
    assert standin.unconfirmed_count() == 0
    with pytest.raises(BotApiError):
        standin.redeliver(999)


async def test_raw_update_is_assigned_an_id(bot: telegram.Bot, standin: BotApiStandIn) -> None:
    def raw(text: str) -> dict[str, Any]:
        return {"message": {"message_id": 1, "date": 0, "text": text,
                            "chat": {"id": 9, "type": "private", "first_name": "X"},
                            "from": {"id": 9, "is_bot": False, "first_name": "X"}}}

    assert standin.enqueue_update({"update_id": 50, **raw("a")}) == 50
    assert standin.enqueue_update(raw("b")) == 51
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [50, 51]
    assert [e.text for e in standin.events(9)] == ["a", "b"]
    assert await bot.send_message(9, "the raw sender is known now")


@pytest.mark.parametrize(
    ("send", "attribute"),
    [
        (SimUser.send_sticker, "sticker"),
        (SimUser.send_photo, "photo"),
        (SimUser.send_document, "document"),
        (SimUser.send_location, "location"),
        (SimUser.send_voice, "voice"),
        (SimUser.send_contact, "contact"),
    ],
)
async def test_non_text_messages_parse(
    bot: telegram.Bot, standin: BotApiStandIn, send: Any, attribute: str
) -> None:
    send(standin.user(3))
    (update,) = await bot.get_updates(timeout=0)
    assert update.message is not None
    assert getattr(update.message, attribute)
    assert standin.events(3)[0].kind == "user_other"


async def test_user_edit_produces_edited_message(bot: telegram.Bot, standin: BotApiStandIn) -> None:
    user = standin.user(3)
    user.send_text("helo")
    message_id = (await bot.get_updates(timeout=0))[0].message.message_id  # type: ignore[union-attr]
    user.edit_text(message_id, "hello")
    updates = await bot.get_updates(offset=2, timeout=0)
    assert updates[0].edited_message is not None
    assert updates[0].edited_message.text == "hello"
    with pytest.raises(BotApiError):
        user.edit_text(999, "x")


# -- buttons and callbacks ---------------------------------------------------------------------


async def test_press_button_and_answer(bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser) -> None:
    sent = await bot.send_message(alice.user_id, "Ready?", reply_markup=keyboard(
        [("Yes, go", "go"), ("No", "stop")]))
    assert sent.message_id == 2  # one counter per chat: /start was message 1
    assert alice.buttons() == ["Yes, go", "No"]

    update_id = alice.press("go")  # unique substring
    updates = await bot.get_updates(offset=2, timeout=0)
    query = updates[0].callback_query
    assert query is not None
    assert query.data == "go"
    assert isinstance(query.message, telegram.Message)
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup == sent.reply_markup
    with pytest.raises(KeyError):
        standin.callback_answer(update_id)

    assert await query.answer("Noted")
    assert standin.callback_answer(update_id) == "Noted"
    assert standin.callback_answers() == {query.id: "Noted"}
    with bad_request("query is too old"):
        await query.answer()
    with bad_request("query ID is invalid"):
        await bot.answer_callback_query("never-issued")
    kinds = [e.kind for e in standin.events(alice.user_id)]
    assert kinds == ["user_command", "bot_message", "user_press"]
    assert standin.events(alice.user_id)[2].text == "Yes, go"


async def test_press_picks_latest_message_and_rejects_missing(
    bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser
) -> None:
    first = await bot.send_message(alice.user_id, "one", reply_markup=keyboard([("Next", "n1")]))
    second = await bot.send_message(alice.user_id, "two", reply_markup=keyboard([("Next", "n2")]))
    await bot.send_message(alice.user_id, "plain")
    await bot.get_updates(timeout=0)
    alice.press("Next")
    alice.press("Next", message_id=first.message_id)
    await second.delete()
    alice.press("Next")
    updates = await bot.get_updates(offset=2, timeout=0)
    assert [u.callback_query.data for u in updates] == ["n2", "n1", "n1"]  # type: ignore[union-attr]
    with pytest.raises(BotApiError):
        alice.press("Missing")
    with pytest.raises(BotApiError):
        alice.press("Next", message_id=second.message_id)
    alice.press_data("forged", first.message_id)
    (forged,) = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    assert forged.callback_query is not None
    assert forged.callback_query.data == "forged"


async def test_ambiguous_substring_press_is_refused(bot: telegram.Bot, alice: SimUser) -> None:
    options = keyboard([("Option A", "a"), ("Option B", "b")])
    await bot.send_message(alice.user_id, "pick", reply_markup=options)
    with pytest.raises(BotApiError, match="2 buttons"):
        alice.press("Option")
    alice.press("Option B")


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        (keyboard([("x", "d" * 65)]), "BUTTON_DATA_INVALID"),
        (keyboard([("x", "é" * 33)]), "BUTTON_DATA_INVALID"),
        (keyboard([("x", "")]), "BUTTON_DATA_INVALID"),
        (keyboard([(str(n), str(n)) for n in range(9)]), "too many buttons in a row"),
        (keyboard(*[[(str(n), str(n)) for n in range(8)] for _ in range(13)]), "reply markup is too long"),
        ({"inline_keyboard": [[{"text": "x"}]]}, "Text buttons are unallowed"),
        ({"inline_keyboard": [[{"text": "x", "url": "https://a.example", "callback_data": "y"}]]},
         "exactly one action"),
        ({"inline_keyboard": [[{"text": "x", "url": "not a url"}]]}, "Wrong HTTP URL"),
    ],
)
async def test_invalid_keyboards_are_rejected(
    bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser, markup: Any, reason: str
) -> None:
    with bad_request(reason):
        await bot.send_message(alice.user_id, "text", reply_markup=markup)
    assert standin.messages(alice.user_id) == []
    assert standin.calls("sendMessage")[-1].ok is False


async def test_keyboard_limits_are_inclusive(
    bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser
) -> None:
    rows = [[(f"{r}-{n}", "d" * 64) for n in range(8)] for r in range(12)] + [[("last", "x" * 4)] * 4]
    await bot.send_message(alice.user_id, "many", reply_markup=keyboard(*rows))
    assert sum(len(row) for row in standin.messages(alice.user_id)[0].buttons) == 100


# -- rejections --------------------------------------------------------------------------------


async def test_cannot_write_first_or_to_blocking_user(
    bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser
) -> None:
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(999, "hello")
    sent = await bot.send_message(alice.user_id, "hello")
    alice.block()
    assert alice.blocked
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(alice.user_id, "hello again")
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.edit_message_text("changed", alice.user_id, sent.message_id)
    alice.unblock()
    assert await bot.send_message(alice.user_id, "welcome back")


async def test_fail_next_queues_failures(bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser) -> None:
    standin.fail_next("sendMessage", retry_after=7)
    standin.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(alice.user_id, "one")
    assert caught.value.retry_after == dt.timedelta(seconds=7)  # bot/__init__ opts in to PTB_TIMEDELTA
    with bad_request("chat not found"):
        await bot.send_message(alice.user_id, "two")
    assert (await bot.send_message(alice.user_id, "three")).text == "three"
    assert [c.ok for c in standin.calls("sendMessage")] == [False, False, True]
    assert standin.calls("sendMessage")[0].description == "Too Many Requests: retry after 1"
    assert [m.text for m in standin.messages(alice.user_id)] == ["three"]


async def test_text_length_counts_utf16_after_parsing(
    bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser
) -> None:
    await bot.send_message(alice.user_id, "a" * 4096)
    with bad_request("message is too long"):
        await bot.send_message(alice.user_id, "a" * 4097)
    await bot.send_message(alice.user_id, "😀" * 2048)
    with bad_request("message is too long"):
        await bot.send_message(alice.user_id, "😀" * 2048 + "a")
    await bot.send_message(alice.user_id, "<b>" + "a" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    with bad_request("message text is empty"):
        await bot.send_message(alice.user_id, "")
    with bad_request("message text is empty"):
        await bot.send_message(alice.user_id, "<b> </b>", parse_mode=ParseMode.HTML)
    assert len(standin.messages(alice.user_id)) == 3


async def test_html_is_parsed_to_plain_text(
    bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser
) -> None:
    html = ('<b>Bold <i>and italic</i></b> &lt;tag&gt; &amp; &quot;q&quot; &#228; &#x1F600; '
            '<a href="https://example.org/?a=1&amp;b=2">link</a> <tg-spoiler>s</tg-spoiler> '
            '<span class="tg-spoiler">t</span> <blockquote expandable>q</blockquote> '
            '<pre><code class="language-python">x = 1</code></pre> <s>x</s><u>y</u><code>z</code>')
    sent = await bot.send_message(alice.user_id, html, parse_mode=ParseMode.HTML)
    plain = 'Bold and italic <tag> & "q" ä 😀 link s t q x = 1 xyz'
    assert sent.text == plain
    stored = standin.messages(alice.user_id)[0]
    assert stored.text == plain
    assert stored.html == html
    entities = sent.parse_entities()
    assert {e.type: text for e, text in entities.items()}["text_link"] == "link"
    link = next(e for e in entities if e.type == "text_link")
    assert link.url == "https://example.org/?a=1&b=2"
    assert any(e.type == "pre" and e.language == "python" for e in entities)
    assert any(e.type == "expandable_blockquote" for e in entities)


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<b>open", "Can't find end tag"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ("1 < 2", 'Unexpected "<"'),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<br>", 'Unsupported start tag "br"'),
        ("fish & chips", "Character entity expected"),
        ("&nbsp;", "Unsupported HTML entity"),
        ('<span class="x">s</span>', "tg-spoiler"),
        ("<b", "Unclosed start tag"),
        ("&#xD800;", "Invalid character entity"),
    ],
)
async def test_malformed_html_is_rejected(
    bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser, html: str, reason: str
) -> None:
    with bad_request("can't parse entities") as caught:
        await bot.send_message(alice.user_id, html, parse_mode=ParseMode.HTML)
    assert reason.lower() in caught.value.message.lower()
    assert standin.messages(alice.user_id) == []


def test_parse_html_strips_tags_without_a_server() -> None:
    assert parse_html("<b>x</b> y &gt; 1")[0] == "x y > 1"
    assert parse_html("1 > 0")[0] == "1 > 0"


async def test_markdown_is_refused_explicitly(bot: telegram.Bot, alice: SimUser) -> None:
    with bad_request("use HTML"):
        await bot.send_message(alice.user_id, "*bold*", parse_mode=ParseMode.MARKDOWN_V2)


# -- editing and deleting ----------------------------------------------------------------------


async def test_edit_and_delete(bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser) -> None:
    sent = await bot.send_message(alice.user_id, "<b>v1</b>", parse_mode=ParseMode.HTML,
                                  reply_markup=keyboard([("A", "a")]))
    with bad_request(NOT_MODIFIED):
        await sent.edit_text("<b>v1</b>", parse_mode=ParseMode.HTML, reply_markup=keyboard([("A", "a")]))
    with bad_request(NOT_MODIFIED):
        await sent.edit_reply_markup(keyboard([("A", "a")]))
    edited = await sent.edit_text("v1", reply_markup=keyboard([("A", "a")]))  # formatting differs
    assert isinstance(edited, telegram.Message)
    await sent.edit_text("v2")  # no markup: the keyboard goes away, as on Telegram
    assert alice.buttons() == []
    await sent.edit_reply_markup(keyboard([("B", "b")]))
    current = alice.last_message()
    assert current is not None
    assert current.text == "v2"
    assert current.edits == 3
    assert [b.text for row in current.buttons for b in row] == ["B"]

    with bad_request("message to edit not found"):
        await bot.edit_message_text("x", alice.user_id, 999)
    assert await sent.delete()
    with bad_request("message to delete not found"):
        await sent.delete()
    with bad_request("message to edit not found"):
        await sent.edit_text("v3")
    assert alice.last_message() is None
    (message,) = standin.messages(alice.user_id)
    assert message.deleted
    kinds = [e.kind for e in standin.events(alice.user_id)]
    assert kinds == ["user_command", "bot_message", "bot_edit", "bot_edit", "bot_edit", "bot_delete"]


# -- files -------------------------------------------------------------------------------------


async def test_documents_and_photos_keep_their_bytes(
    bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser
) -> None:
    content = bytes(range(256)) + b"\r\n--boundary\r\n\n\r"
    sent = await bot.send_document(alice.user_id, content, filename="report.txt", caption="<i>Your</i> copy",
                                   parse_mode=ParseMode.HTML, protect_content=True)
    assert sent.document is not None
    assert sent.document.file_name == "report.txt"
    assert sent.caption == "Your copy"
    photo = await bot.send_photo(alice.user_id, b"\x89PNG fake")
    assert photo.photo
    stored_doc, stored_photo = standin.messages(alice.user_id)
    assert stored_doc.document == ("report.txt", content)
    assert stored_doc.text == "Your copy"
    assert stored_doc.protect_content
    assert stored_photo.photo == b"\x89PNG fake"
    again = await bot.send_document(alice.user_id, sent.document.file_id)
    assert again.document is not None
    assert standin.messages(alice.user_id)[-1].document == ("report.txt", content)
    with bad_request("caption is too long"):
        await bot.send_document(alice.user_id, b"x", filename="a.txt", caption="c" * 1025)
    with bad_request("no text in the message"):
        await sent.edit_text("text")
    recorded = standin.calls("sendDocument")[0].params["document"]
    assert recorded == {"file_name": "report.txt", "size": len(content)}


# -- other methods and the HTTP surface --------------------------------------------------------


async def test_housekeeping_methods(bot: telegram.Bot, standin: BotApiStandIn, alice: SimUser) -> None:
    assert await bot.set_my_commands([("start", "Begin"), ("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.get_my_commands(language_code="de") == ()
    with bad_request("BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Bad-Command", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    assert await bot.send_chat_action(alice.user_id, "typing")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert standin.unconfirmed_count() == 0
    assert (await bot.get_webhook_info()).url == ""
    with pytest.raises(BadRequest):
        await bot.leave_chat(alice.user_id)


async def test_wrong_token_is_refused(standin: BotApiStandIn) -> None:
    with pytest.raises(InvalidToken):
        async with telegram.Bot("1:wrong", base_url=standin.base_url):
            pass
    assert standin.calls()[-1].description == "Unauthorized"


def test_raw_http_surface(standin: BotApiStandIn) -> None:
    status, body = raw_post(standin.api_url + "/noSuchMethod", b"", "application/json")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    status, body = raw_post(standin.base_url + "1:wrong/getMe", b"", "application/json")
    assert (status, body["description"]) == (401, "Unauthorized")
    standin.user(8).send_text("hi")
    payload = json.dumps({"chat_id": 8, "text": "42", "reply_markup": json.dumps(
        {"inline_keyboard": [[{"text": "k", "callback_data": "v"}]]})}).encode()
    status, body = raw_post(standin.api_url + "/sendMessage", payload, "application/json")
    assert status == 200
    assert body["result"]["text"] == "42"
    assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "v"
    methods = [c.method for c in standin.calls()]
    assert methods == ["noSuchMethod", "getMe", "sendMessage"]


# -- a real application ------------------------------------------------------------------------


async def test_application_runs_against_the_standin(standin: BotApiStandIn) -> None:
    async def start(update: telegram.Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await update.effective_chat.send_message("Hello", reply_markup=keyboard([("Continue", "c")]))

    async def pressed(update: telegram.Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text("Done")

    app = Application.builder().token(standin.token).base_url(standin.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    user = standin.user(77, "Dana")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        user.send_command("/start")
        await asyncio.to_thread(standin.wait_confirmed, 3)
        for _ in range(100):
            if user.buttons():
                break
            await asyncio.sleep(0.02)
        press_id = user.press("Continue")
        await asyncio.to_thread(standin.wait_confirmed, 3)
        for _ in range(100):
            last = user.last_message()
            if last is not None and last.text == "Done":
                break
            await asyncio.sleep(0.02)
        await app.updater.stop()
        await app.stop()
    assert standin.callback_answer(press_id) == "ok"
    assert [e.kind for e in standin.events(77)] == ["user_command", "bot_message", "user_press", "bot_edit"]
