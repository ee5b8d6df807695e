"""A local stand-in of the Telegram Bot API.

The stand-in is an HTTP server on the loopback interface that answers enough of the Bot API
for python-telegram-bot to run a real bot against it (``base_url=standin.base_url``). It exists
so that the bot can be exercised end to end without network access or a real bot account:
simulated users (:class:`SimUser`) produce updates exactly shaped like Telegram's, and every
call the bot makes is recorded and validated the way Telegram would validate it, so that a
message Telegram would refuse (bad HTML, oversized text, invalid buttons, ...) fails here too.
Updates are fetched with ``getUpdates``, or, once a webhook is set, posted to it as Telegram
posts them (with the secret header, one chat's in order, again until the answer is a 2xx).

Only the standard library is used, so the module can ship with the package for the demo.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import email.parser
import email.policy
import http.client
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, cast

__all__ = [
    "ApiCall",
    "BotApiError",
    "BotApiStandIn",
    "Button",
    "ChatEvent",
    "ChatMessage",
    "HtmlParseError",
    "SimUser",
    "WebhookDelivery",
    "parse_html",
    "update_chat",
    "utf16_length",
]

JSON = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_BUTTONS_PER_ROW = 8
MAX_BUTTONS_TOTAL = 100
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPDATES_PER_POLL = 100
DELETABLE_FOR_S = 48 * 3600  # a bot may delete a message in a private chat while it is under 48 hours old
WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header's name
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

EventKind = Literal[
    "user_text",
    "user_command",
    "user_press",
    "user_other",
    "bot_message",
    "bot_edit",
    "bot_delete",
    "bot_delete_user",  # the bot deleted a message the user sent
    "bot_document",
    "bot_photo",
]


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made, kept so tests can assert on what was (not) sent."""

    method: str
    params: dict[str, Any]
    ok: bool
    description: str | None


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to post an update to the webhook: the HTTP status, or None if the connection failed."""

    update_id: int
    status: int | None


@dataclass(frozen=True)
class Button:
    """One inline keyboard button as the user would see it."""

    text: str
    callback_data: str | None
    url: str | None


@dataclass
class ChatMessage:
    """One message the bot sent to a chat, in the form a user would perceive it."""

    message_id: int
    chat_id: int
    text: str
    html: str | None = None
    buttons: list[list[Button]] = field(default_factory=list)
    deleted: bool = False
    edits: int = 0
    document: tuple[str, bytes] | None = None
    photo: bytes | None = None
    protect_content: bool = False

    def button_texts(self) -> list[str]:
        """Texts of all buttons, row by row, for concise assertions."""
        return [button.text for row in self.buttons for button in row]


@dataclass(frozen=True)
class ChatEvent:
    """One entry of the ordered conversation log used to render transcripts."""

    seq: int
    chat_id: int
    kind: EventKind
    text: str
    buttons: tuple[tuple[str, ...], ...] = ()
    message_id: int | None = None
    at: float = 0.0  # time.monotonic() when it happened (sent by the user, or done by the bot)


class BotApiError(Exception):
    """Root of the errors this module raises to its (test) callers."""


class HtmlParseError(BotApiError):
    """Text with ``parse_mode=HTML`` that Telegram would refuse to parse."""


class _ApiError(BotApiError):
    """A Bot API error answer; carried up to the HTTP layer and sent as Telegram would."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad_request(reason: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {reason}")


# --------------------------------------------------------------------------------------------
# Text rules: UTF-16 length and Telegram's HTML dialect
# --------------------------------------------------------------------------------------------


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    offset: int  # UTF-16 offset in the plain text where the tag opened


class _HtmlParser:
    """A strict parser of Telegram's HTML subset.

    It refuses exactly the kind of input that makes Telegram answer "can't parse entities",
    so formatting mistakes surface in tests instead of in production.
    """

    _TAG_TYPES: dict[str, str] = {  # noqa: RUF012 - read-only lookup table
        "b": "bold",
        "strong": "bold",
        "i": "italic",
        "em": "italic",
        "u": "underline",
        "ins": "underline",
        "s": "strikethrough",
        "strike": "strikethrough",
        "del": "strikethrough",
        "a": "text_link",
        "code": "code",
        "pre": "pre",
        "tg-spoiler": "spoiler",
        "span": "spoiler",
        "blockquote": "blockquote",
        "tg-emoji": "custom_emoji",
    }
    _NAMED_ENTITIES: dict[str, str] = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}  # noqa: RUF012
    _ENTITY = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[a-zA-Z]{1,10});")
    _NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
    _ATTR_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]*")

    def __init__(self, source: str) -> None:
        self._src = source
        self._pos = 0
        self._out: list[str] = []
        self._out_len = 0
        self._stack: list[_OpenTag] = []
        self.entities: list[JSON] = []

    def parse(self) -> str:
        src = self._src
        while self._pos < len(src):
            char = src[self._pos]
            if char == "<":
                self._tag()
            elif char == "&":
                self._emit(self._entity())
            else:
                nxt = self._next_special(self._pos)
                self._emit(src[self._pos : nxt])
                self._pos = nxt
        if self._stack:
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{self._stack[-1].name}"')
        return "".join(self._out)

    def _next_special(self, start: int) -> int:
        hits = [i for i in (self._src.find("<", start), self._src.find("&", start)) if i >= 0]
        return min(hits) if hits else len(self._src)

    def _byte_offset(self, pos: int | None = None) -> int:
        return len(self._src[: self._pos if pos is None else pos].encode("utf-8"))

    def _emit(self, text: str) -> None:
        self._out.append(text)
        self._out_len += utf16_length(text)

    def _entity(self) -> str:
        match = self._ENTITY.match(self._src, self._pos)
        if match is None:
            raise HtmlParseError(f"Character entity expected at byte offset {self._byte_offset()}")
        body = match.group(1)
        if body.startswith("#"):
            code = int(body[2:], 16) if body[1] in "xX" else int(body[1:])
            if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise HtmlParseError(f"Invalid character entity at byte offset {self._byte_offset()}")
            value = chr(code)
        elif body in self._NAMED_ENTITIES:
            value = self._NAMED_ENTITIES[body]
        else:
            raise HtmlParseError(f'Unsupported HTML entity "&{body};" at byte offset {self._byte_offset()}')
        self._pos = match.end()
        return value

    def _tag(self) -> None:
        start = self._pos
        if self._src.startswith("</", start):
            self._end_tag(start)
            return
        match = self._NAME.match(self._src, start + 1)
        if match is None:
            raise HtmlParseError(f'Unexpected "<" at byte offset {self._byte_offset(start)}')
        name = match.group(0).lower()
        if name not in self._TAG_TYPES:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {self._byte_offset(start)}')
        self._pos = match.end()
        attrs = self._attributes(start)
        self._check_attributes(name, attrs, start)
        self._stack.append(_OpenTag(name, attrs, self._out_len))

    def _attributes(self, tag_start: int) -> dict[str, str]:
        attrs: dict[str, str] = {}
        src = self._src
        while True:
            while self._pos < len(src) and src[self._pos].isspace():
                self._pos += 1
            if self._pos >= len(src):
                raise HtmlParseError(f"Unclosed start tag at byte offset {self._byte_offset(tag_start)}")
            if src[self._pos] == ">":
                self._pos += 1
                return attrs
            match = self._ATTR_NAME.match(src, self._pos)
            if match is None:
                raise HtmlParseError(f"Expected equal sign in declaration of an attribute of the tag at "
                                     f"byte offset {self._byte_offset(tag_start)}")
            name = match.group(0).lower()
            self._pos = match.end()
            while self._pos < len(src) and src[self._pos].isspace():
                self._pos += 1
            if self._pos < len(src) and src[self._pos] == "=":
                self._pos += 1
                while self._pos < len(src) and src[self._pos].isspace():
                    self._pos += 1
                attrs[name] = self._attribute_value(tag_start)
            else:
                attrs[name] = ""

    def _attribute_value(self, tag_start: int) -> str:
        src = self._src
        if self._pos >= len(src):
            raise HtmlParseError(f"Unclosed start tag at byte offset {self._byte_offset(tag_start)}")
        quote = src[self._pos]
        if quote in "\"'":
            end = src.find(quote, self._pos + 1)
            if end < 0:
                raise HtmlParseError(f"Unclosed start tag at byte offset {self._byte_offset(tag_start)}")
            raw = src[self._pos + 1 : end]
            self._pos = end + 1
        else:
            end = self._pos
            while end < len(src) and not src[end].isspace() and src[end] != ">":
                end += 1
            raw = src[self._pos : end]
            self._pos = end
        return _HtmlParser(raw).parse() if ("&" in raw or "<" in raw) else raw

    def _check_attributes(self, name: str, attrs: dict[str, str], start: int) -> None:
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset '
                                 f"{self._byte_offset(start)}")
        if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise HtmlParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                                 f"{self._byte_offset(start)}")

    def _end_tag(self, start: int) -> None:
        close = self._src.find(">", start)
        if close < 0:
            raise HtmlParseError(f"Unclosed end tag at byte offset {self._byte_offset(start)}")
        name = self._src[start + 2 : close].strip().lower()
        if not self._stack:
            raise HtmlParseError(f'Unexpected end tag "{name}" at byte offset {self._byte_offset(start)}')
        opened = self._stack[-1]
        if name != opened.name:
            raise HtmlParseError(f"Unmatched end tag at byte offset {self._byte_offset(start)}, "
                                 f'expected "</{opened.name}>", found "</{name}>"')
        self._stack.pop()
        self._pos = close + 1
        self._record_entity(opened)

    def _record_entity(self, opened: _OpenTag) -> None:
        length = self._out_len - opened.offset
        if length <= 0:
            return
        entity: JSON = {"type": self._TAG_TYPES[opened.name], "offset": opened.offset, "length": length}
        if opened.name == "a":
            href = opened.attrs.get("href", "")
            if not href:
                return  # Telegram drops a link without a target, keeping the text
            entity["url"] = href
        elif opened.name == "blockquote" and "expandable" in opened.attrs:
            entity["type"] = "expandable_blockquote"
        elif opened.name == "tg-emoji":
            entity["custom_emoji_id"] = opened.attrs["emoji-id"]
        elif opened.name == "code" and self._stack and self._stack[-1].name == "pre":
            language = opened.attrs.get("class", "")
            if language.startswith("language-"):
                entity = {"type": "pre", "offset": opened.offset, "length": length,
                          "language": language.removeprefix("language-")}
        self.entities.append(entity)


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML into plain text and Bot API ``MessageEntity`` dicts.

    Raises :class:`HtmlParseError` for input Telegram would reject.
    """
    parser = _HtmlParser(text)
    plain = parser.parse()
    return plain, sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))


def _strip_with_entities(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim surrounding whitespace as Telegram does, shifting entity offsets to match."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_length(text[: len(text) - len(text.lstrip())])
    total = utf16_length(stripped)
    kept: list[JSON] = []
    for entity in entities:
        begin = max(0, entity["offset"] - lead)
        end = min(total, entity["offset"] + entity["length"] - lead)
        if end > begin:
            kept.append({**entity, "offset": begin, "length": end - begin})
    return stripped, kept


@dataclass(frozen=True)
class _FormattedText:
    plain: str
    entities: list[JSON]
    html: str | None


def _format_text(params: JSON, text_key: str, entities_key: str) -> _FormattedText:
    """Apply ``parse_mode`` (HTML only) or explicit entities the way Telegram does."""
    raw = params.get(text_key)
    source = "" if raw is None else str(raw)
    parse_mode = params.get("parse_mode")
    if parse_mode in (None, ""):
        given = params.get(entities_key)
        entities = [dict(e) for e in given] if isinstance(given, list) else []
        plain, entities = _strip_with_entities(source, entities)
        return _FormattedText(plain, entities, None)
    if str(parse_mode).lower() != "html":
        raise _bad_request(f"can't parse entities: parse_mode {parse_mode!r} is not supported here, "
                           "use HTML")
    try:
        plain, entities = parse_html(source)
    except HtmlParseError as exc:
        raise _bad_request(f"can't parse entities: {exc}") from None
    plain, entities = _strip_with_entities(plain, entities)
    return _FormattedText(plain, entities, source)


# --------------------------------------------------------------------------------------------
# Reply markup validation
# --------------------------------------------------------------------------------------------

_BUTTON_ACTIONS = (
    "callback_data", "url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "login_url", "web_app", "callback_game", "pay", "copy_text",
)


def _inline_buttons(markup: JSON | None) -> list[list[Button]]:
    """Validate an inline keyboard with Telegram's limits and return it as buttons."""
    if markup is None or "inline_keyboard" not in markup:
        return []
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    result: list[list[Button]] = []
    total = 0
    for row in rows:
        if len(row) > MAX_BUTTONS_PER_ROW:
            raise _bad_request("too many buttons in a row")
        total += len(row)
        if total > MAX_BUTTONS_TOTAL:
            raise _bad_request("reply markup is too long")
        result.append([_inline_button(raw) for raw in row])
    return [row for row in result if row]


def _inline_button(raw: object) -> Button:
    if not isinstance(raw, dict):
        raise _bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    text = raw.get("text")
    if not isinstance(text, str) or not text:
        raise _bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
    actions = [key for key in _BUTTON_ACTIONS if key in raw]
    if not actions:
        raise _bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline "
                           "keyboard")
    if len(actions) > 1:
        raise _bad_request("can't parse inline keyboard button: a button must have exactly one action")
    data = raw.get("callback_data")
    if "callback_data" in raw and (
        not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
    ):
        raise _bad_request("BUTTON_DATA_INVALID")
    url = raw.get("url")
    if "url" in raw:
        parsed = urllib.parse.urlsplit(str(url))
        if parsed.scheme not in ("http", "https", "tg") or not (parsed.netloc or parsed.scheme == "tg"):
            raise _bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    return Button(text=text, callback_data=data, url=None if url is None else str(url))


def _normalized_markup(markup: JSON | None) -> str:
    return json.dumps(markup, sort_keys=True)


# --------------------------------------------------------------------------------------------
# Server-side state
# --------------------------------------------------------------------------------------------


@dataclass
class _StoredMessage:
    """A bot message plus what Telegram keeps about it beyond what users see."""

    view: ChatMessage
    date: int
    markup: JSON | None
    entities: list[JSON]
    edit_date: int | None = None
    file_id: str | None = None


@dataclass
class _Chat:
    """A chat: Telegram numbers user and bot messages with one counter per chat."""

    chat_id: int
    first_name: str
    last_message_id: int = 0
    blocked: bool = False
    kind: str = "private"  # or "group", "supergroup", "channel": a bot can leave those
    left: bool = False
    bot_messages: dict[int, _StoredMessage] = field(default_factory=dict)
    user_messages: set[int] = field(default_factory=set)

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class _Queued:
    update_id: int
    update: JSON
    redelivered: bool = False
    retry_at: float = 0.0  # webhook: not posted again before this (time.monotonic())


@dataclass(frozen=True)
class _Request:
    method: str
    params: JSON
    files: dict[str, tuple[str, bytes]]


class _Core:
    """All mutable state, guarded by one re-entrant lock with a condition for long polls."""

    def __init__(self, token: str, username: str, bot_id: int) -> None:
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.cond = threading.Condition(threading.RLock())
        self.closing = False
        self.chats: dict[int, _Chat] = {}
        self.queue: list[_Queued] = []
        self.history: dict[int, JSON] = {}
        self.last_update_id = 0
        self.calls: list[ApiCall] = []
        self.events: list[ChatEvent] = []
        self.chat_events: dict[int, list[ChatEvent]] = collections.defaultdict(list)
        self.failures: dict[str, collections.deque[_ApiError]] = collections.defaultdict(collections.deque)
        self.lost_responses: collections.Counter[str] = collections.Counter()  # done, then answered 502
        self.callback_updates: dict[str, int] = {}
        self.callback_answers: dict[str, str | None] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_connections = 40
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_error: tuple[int, str] | None = None  # (unix time, what went wrong) of the last failure
        self.commands: dict[str, list[JSON]] = {}
        self._file_counter = 0
        self._callback_counter = 0

    # -- identities -------------------------------------------------------------------------

    def bot_user(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Caucus", "username": self.username}

    def new_file_id(self) -> tuple[str, str]:
        self._file_counter += 1
        return f"STANDIN-FILE-{self._file_counter:06d}", f"U{self._file_counter:06d}"

    def new_callback_id(self) -> str:
        self._callback_counter += 1
        return f"{self.bot_id}{self._callback_counter:08d}"

    # -- log ---------------------------------------------------------------------------------

    def log_event(self, chat_id: int, kind: EventKind, text: str, buttons: list[list[Button]] | None = None,
                  message_id: int | None = None) -> None:
        rows = tuple(tuple(b.text for b in row) for row in (buttons or []))
        event = ChatEvent(len(self.events) + 1, chat_id, kind, text, rows, message_id, time.monotonic())
        self.events.append(event)
        self.chat_events[chat_id].append(event)

    def record(self, method: str, params: JSON, failure: _ApiError | None) -> None:
        description = None if failure is None else failure.description
        self.calls.append(ApiCall(method, params, failure is None, description))

    # -- updates -----------------------------------------------------------------------------

    def chat_for(self, chat_id: int, first_name: str) -> _Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = _Chat(chat_id, first_name)
        return chat

    def enqueue(self, update: JSON) -> int:
        with self.cond:
            update = copy.deepcopy(update)
            if "update_id" not in update:
                self.last_update_id += 1
                update["update_id"] = self.last_update_id
            update_id = int(update["update_id"])
            self.last_update_id = max(self.last_update_id, update_id)
            self.history[update_id] = update
            self._note_update(update)
            self.queue.append(_Queued(update_id, update))
            self.queue.sort(key=lambda q: q.update_id)
            self.cond.notify_all()
            return update_id

    def _note_update(self, update: JSON) -> None:
        """Register the chat and log the event, whatever produced the update."""
        if isinstance(message := update.get("message"), dict):
            chat = self._chat_of_message(message)
            if chat is None:
                return
            chat.user_messages.add(int(message["message_id"]))
            text = message.get("text")
            if isinstance(text, str):
                is_command = any(e.get("type") == "bot_command" and e.get("offset") == 0
                                 for e in message.get("entities", []))
                kind: EventKind = "user_command" if is_command else "user_text"
                self.log_event(chat.chat_id, kind, text, message_id=message["message_id"])
            else:
                self.log_event(chat.chat_id, "user_other", f"[{_content_kind(message)}]",
                               message_id=message["message_id"])
        elif isinstance(edited := update.get("edited_message"), dict):
            chat = self._chat_of_message(edited)
            if chat is not None:
                self.log_event(chat.chat_id, "user_other", f"[edited] {edited.get('text', '')}",
                               message_id=edited["message_id"])
        elif isinstance(query := update.get("callback_query"), dict):
            self._note_callback(query, int(update["update_id"]))
        elif isinstance(member := update.get("my_chat_member"), dict):
            self._chat_of_message(member)
        elif isinstance(post := update.get("channel_post"), dict):
            self._chat_of_message(post)

    def _chat_of_message(self, message: JSON) -> _Chat | None:
        chat = message.get("chat")
        if not isinstance(chat, dict) or "id" not in chat:
            return None
        known = self.chat_for(int(chat["id"]), str(chat.get("first_name", "User")))
        known.kind = str(chat.get("type", known.kind))
        if known.kind != "private" and "new_chat_member" in message:
            known.left = False  # added (again) to the group
        return known

    def _note_callback(self, query: JSON, update_id: int) -> None:
        self.callback_updates[str(query["id"])] = update_id
        message = query.get("message")
        sender = query.get("from", {})
        chat = (self._chat_of_message(message) if isinstance(message, dict)
                else self.chat_for(int(sender["id"]), str(sender.get("first_name", "User"))))
        if chat is None:
            return
        data = query.get("data")
        label = str(data)
        message_id = message.get("message_id") if isinstance(message, dict) else None
        stored = chat.bot_messages.get(message_id) if isinstance(message_id, int) else None
        if stored is not None:
            for row in stored.view.buttons:
                for button in row:
                    if button.callback_data == data:
                        label = button.text
        self.log_event(chat.chat_id, "user_press", label, message_id=message_id)

    def apply_offset(self, offset: int) -> None:
        before = len(self.queue)
        if offset > 0:
            self.queue = [q for q in self.queue if q.update_id >= offset or q.redelivered]
        elif offset < 0:
            self.queue = self.queue[offset:]
        if len(self.queue) != before:
            self.cond.notify_all()

    def redeliver(self, update_id: int) -> None:
        with self.cond:
            if update_id not in self.history:
                raise BotApiError(f"update {update_id} was never queued")
            for queued in self.queue:
                if queued.update_id == update_id:
                    queued.redelivered = True
                    break
            else:
                self.queue.append(_Queued(update_id, self.history[update_id], redelivered=True))
                self.queue.sort(key=lambda q: q.update_id)
            self.cond.notify_all()

    # -- messages ----------------------------------------------------------------------------

    def message_json(self, chat: _Chat, stored: _StoredMessage) -> JSON:
        view = stored.view
        body: JSON = {
            "message_id": view.message_id,
            "date": stored.date,
            "chat": {"id": chat.chat_id, "type": "private", "first_name": chat.first_name},
            "from": self.bot_user(),
        }
        if stored.edit_date is not None:
            body["edit_date"] = stored.edit_date
        if view.protect_content:
            body["has_protected_content"] = True
        text_key, entities_key = "text", "entities"
        if view.document is not None:
            body["document"] = {"file_id": stored.file_id, "file_unique_id": f"U{stored.file_id}",
                                "file_name": view.document[0], "file_size": len(view.document[1])}
            text_key, entities_key = "caption", "caption_entities"
        elif view.photo is not None:
            body["photo"] = [{"file_id": stored.file_id, "file_unique_id": f"U{stored.file_id}",
                              "width": 320, "height": 240, "file_size": len(view.photo)}]
            text_key, entities_key = "caption", "caption_entities"
        if view.text or text_key == "text":
            body[text_key] = view.text
        if stored.entities:
            body[entities_key] = stored.entities
        if stored.markup is not None and "inline_keyboard" in stored.markup:
            body["reply_markup"] = stored.markup
        return body


def _content_kind(message: JSON) -> str:
    for key in ("sticker", "photo", "document", "location", "voice", "contact", "video", "audio",
                "animation", "video_note", "poll", "dice", "venue"):
        if key in message:
            return key
    return "message"


# --------------------------------------------------------------------------------------------
# Bot API methods
# --------------------------------------------------------------------------------------------

_CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


class _Methods:
    """The Bot API methods, each validating its input the way Telegram does."""

    def __init__(self, core: _Core) -> None:
        self.core = core
        self.table: dict[str, Callable[[_Request], Any]] = {
            "getme": lambda _r: core.bot_user() | {"can_join_groups": True,
                                                   "can_read_all_group_messages": False,
                                                   "supports_inline_queries": False},
            "getupdates": self.get_updates,
            "sendmessage": self.send_message,
            "editmessagetext": self.edit_message_text,
            "editmessagereplymarkup": self.edit_message_reply_markup,
            "deletemessage": self.delete_message,
            "deletemessages": self.delete_messages,
            "answercallbackquery": self.answer_callback_query,
            "senddocument": lambda r: self.send_file(r, "document"),
            "sendphoto": lambda r: self.send_file(r, "photo"),
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getwebhookinfo": self.get_webhook_info,
            "leavechat": self.leave_chat,
            "setmycommands": self.set_my_commands,
            "deletemycommands": self.delete_my_commands,
            "getmycommands": lambda r: core.commands.get(self._command_key(r.params), []),
            "close": lambda _r: True,
            "logout": lambda _r: True,
            "sendchataction": self.send_chat_action,
        }

    # -- helpers -----------------------------------------------------------------------------

    def writable_chat(self, params: JSON) -> _Chat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad_request("chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise _bad_request("chat not found") from None
        chat = self.core.chats.get(chat_id)
        if chat is None:
            raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        if chat.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.left:
            raise _ApiError(403, "Forbidden: bot is not a member of the group chat")
        return chat

    @staticmethod
    def _message_id(params: JSON) -> int | None:
        try:
            return int(params["message_id"])
        except (KeyError, TypeError, ValueError):
            return None

    def _existing(self, chat: _Chat, params: JSON, action: str) -> _StoredMessage:
        if params.get("inline_message_id"):
            raise _bad_request("inline messages are not supported by the stand-in")
        stored = chat.bot_messages.get(self._message_id(params) or 0)
        if stored is None or stored.view.deleted:
            raise _bad_request(f"message to {action} not found")
        return stored

    @staticmethod
    def _markup(params: JSON) -> JSON | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _store(self, chat: _Chat, view: ChatMessage, markup: JSON | None, entities: list[JSON],
               file_id: str | None = None) -> _StoredMessage:
        stored = _StoredMessage(view, int(time.time()), markup, entities, file_id=file_id)
        chat.bot_messages[view.message_id] = stored
        return stored

    # -- getUpdates and webhooks -------------------------------------------------------------

    def get_updates(self, request: _Request) -> list[JSON]:
        core, params = self.core, request.params
        if core.webhook_url:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use "
                                   "deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or MAX_UPDATES_PER_POLL), 1), MAX_UPDATES_PER_POLL)
        deadline = time.monotonic() + max(float(params.get("timeout") or 0), 0.0)
        core.apply_offset(offset)
        while not core.queue and not core.closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            core.cond.wait(remaining)
        batch = core.queue[:limit]
        for queued in batch:
            queued.redelivered = False
        return [copy.deepcopy(q.update) for q in batch]

    def set_webhook(self, request: _Request) -> bool:
        params = request.params
        url = str(params.get("url") or "")
        if url and not _webhook_url_allowed(url):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = str(params.get("secret_token") or "")
        if secret and not _WEBHOOK_SECRET.fullmatch(secret):
            raise _bad_request("secret token contains unallowed characters")
        connections = int(params.get("max_connections") or 40)
        if not 1 <= connections <= 100:
            raise _bad_request("bad webhook: max_connections must be between 1 and 100")
        if params.get("drop_pending_updates") is True:
            self.core.queue.clear()
        self.core.webhook_url, self.core.webhook_secret = url, secret
        self.core.webhook_connections = connections
        self.core.webhook_error = None
        self.core.cond.notify_all()
        return True

    def get_webhook_info(self, _request: _Request) -> JSON:
        core = self.core
        info: JSON = {"url": core.webhook_url, "has_custom_certificate": False, "pending_update_count": len(core.queue)}
        if core.webhook_url:
            info["max_connections"] = core.webhook_connections
        if core.webhook_url and core.webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = core.webhook_error
        return info

    def delete_webhook(self, request: _Request) -> bool:
        if request.params.get("drop_pending_updates") is True:
            self.core.queue.clear()
            self.core.cond.notify_all()
        self.core.webhook_url = self.core.webhook_secret = ""
        return True

    # -- sending -----------------------------------------------------------------------------

    def send_message(self, request: _Request) -> JSON:
        params = request.params
        chat = self.writable_chat(params)
        formatted = _format_text(params, "text", "entities")
        if not formatted.plain:
            raise _bad_request("message text is empty")
        if utf16_length(formatted.plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        markup = self._markup(params)
        buttons = _inline_buttons(markup)
        view = ChatMessage(chat.next_message_id(), chat.chat_id, formatted.plain, formatted.html, buttons,
                           protect_content=params.get("protect_content") is True)
        stored = self._store(chat, view, markup, formatted.entities)
        self.core.log_event(chat.chat_id, "bot_message", view.text, buttons, view.message_id)
        return self.core.message_json(chat, stored)

    def send_file(self, request: _Request, kind: Literal["document", "photo"]) -> JSON:
        params = request.params
        chat = self.writable_chat(params)
        caption = _format_text(params, "caption", "caption_entities")
        if utf16_length(caption.plain) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        name, content = self._uploaded(request, kind)
        markup = self._markup(params)
        buttons = _inline_buttons(markup)
        file_id, _unique = self.core.new_file_id()
        self.core.files[file_id] = (name, content)
        view = ChatMessage(chat.next_message_id(), chat.chat_id, caption.plain, caption.html, buttons,
                           protect_content=params.get("protect_content") is True)
        if kind == "document":
            view.document = (name, content)
            label = f"[{name}] {caption.plain}".strip()
        else:
            view.photo = content
            label = f"[photo] {caption.plain}".strip()
        stored = self._store(chat, view, markup, caption.entities, file_id)
        self.core.log_event(chat.chat_id, "bot_document" if kind == "document" else "bot_photo", label,
                            buttons, view.message_id)
        return self.core.message_json(chat, stored)

    def _uploaded(self, request: _Request, kind: str) -> tuple[str, bytes]:
        ref = request.params.get(kind)
        if isinstance(ref, str) and ref.startswith("attach://"):
            attached = request.files.get(ref.removeprefix("attach://"))
            if attached is not None:
                return attached
        if kind in request.files:
            return request.files[kind]
        if isinstance(ref, str) and ref in self.core.files:
            return self.core.files[ref]
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            return ref.rsplit("/", 1)[-1] or kind, b""
        raise _bad_request("wrong file identifier/HTTP URL specified")

    # -- editing and deleting ----------------------------------------------------------------

    def edit_message_text(self, request: _Request) -> JSON:
        params = request.params
        chat = self.writable_chat(params)
        stored = self._existing(chat, params, "edit")
        if stored.view.document is not None or stored.view.photo is not None:
            raise _bad_request("there is no text in the message to edit")
        formatted = _format_text(params, "text", "entities")
        if not formatted.plain:
            raise _bad_request("message text is empty")
        if utf16_length(formatted.plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        markup = self._markup(params)
        buttons = _inline_buttons(markup)
        self._check_modified(stored, formatted.plain, formatted.entities, markup)
        stored.view.text, stored.view.html = formatted.plain, formatted.html
        stored.entities = formatted.entities
        return self._finish_edit(chat, stored, markup, buttons)

    def edit_message_reply_markup(self, request: _Request) -> JSON:
        params = request.params
        chat = self.writable_chat(params)
        stored = self._existing(chat, params, "edit")
        markup = self._markup(params)
        buttons = _inline_buttons(markup)
        self._check_modified(stored, stored.view.text, stored.entities, markup)
        return self._finish_edit(chat, stored, markup, buttons)

    @staticmethod
    def _check_modified(stored: _StoredMessage, text: str, entities: list[JSON], markup: JSON | None) -> None:
        old_markup = stored.markup if stored.markup and "inline_keyboard" in stored.markup else None
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if (text == stored.view.text and json.dumps(entities, sort_keys=True) ==
                json.dumps(stored.entities, sort_keys=True)
                and _normalized_markup(old_markup) == _normalized_markup(new_markup)):
            raise _bad_request("message is not modified: specified new message content and reply markup "
                               "are exactly the same as a current content and reply markup of the message")

    def _finish_edit(self, chat: _Chat, stored: _StoredMessage, markup: JSON | None,
                     buttons: list[list[Button]]) -> JSON:
        stored.markup = markup
        stored.view.buttons = buttons
        stored.view.edits += 1
        stored.edit_date = int(time.time())
        self.core.log_event(chat.chat_id, "bot_edit", stored.view.text, buttons, stored.view.message_id)
        return self.core.message_json(chat, stored)

    def delete_message(self, request: _Request) -> bool:
        params = request.params
        chat = self.writable_chat(params)
        refusal = self._delete(chat, self._message_id(params) or 0)
        if refusal is not None:
            raise _bad_request(refusal)
        return True

    def delete_messages(self, request: _Request) -> bool:
        """Like Telegram: 1 to 100 ids; those not found, or too old to delete, are skipped."""
        params = request.params
        chat = self.writable_chat(params)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100 or not all(isinstance(i, int) for i in ids):
            raise _bad_request("message_ids must be a list of 1 to 100 message identifiers")
        for message_id in ids:
            self._delete(chat, message_id)
        return True

    def _delete(self, chat: _Chat, message_id: int) -> str | None:
        """Delete one message of the chat, the user's or the bot's; else say why Telegram would refuse."""
        if message_id in chat.user_messages:
            chat.user_messages.discard(message_id)
            self.core.log_event(chat.chat_id, "bot_delete_user", "", message_id=message_id)
            return None
        stored = chat.bot_messages.get(message_id)
        if stored is None or stored.view.deleted:
            return "message to delete not found"
        if time.time() - stored.date >= DELETABLE_FOR_S:
            return "message can't be deleted for everyone"
        stored.view.deleted = True
        self.core.log_event(chat.chat_id, "bot_delete", stored.view.text, message_id=stored.view.message_id)
        return None

    # -- callbacks, chat actions, commands ---------------------------------------------------

    def answer_callback_query(self, request: _Request) -> bool:
        query_id = str(request.params.get("callback_query_id") or "")
        if query_id not in self.core.callback_updates or query_id in self.core.callback_answers:
            raise _bad_request("query is too old and response timeout expired or query ID is invalid")
        text = request.params.get("text")
        if text is not None and utf16_length(str(text)) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        self.core.callback_answers[query_id] = None if text is None else str(text)
        return True

    def send_chat_action(self, request: _Request) -> bool:
        self.writable_chat(request.params)
        if request.params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def leave_chat(self, request: _Request) -> bool:
        chat = self.writable_chat(request.params)
        if chat.kind == "private":
            raise _bad_request("chat member status can't be changed in private chats")
        chat.left = True
        return True

    @staticmethod
    def _command_key(params: JSON) -> str:
        return json.dumps([params.get("scope") or {"type": "default"}, params.get("language_code") or ""],
                          sort_keys=True)

    def set_my_commands(self, request: _Request) -> bool:
        commands = request.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.fullmatch(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.core.commands[self._command_key(request.params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def delete_my_commands(self, request: _Request) -> bool:
        self.core.commands.pop(self._command_key(request.params), None)
        return True

    # -- dispatch ----------------------------------------------------------------------------

    def call(self, request: _Request) -> tuple[int, JSON]:
        """Run one method under the lock, record it, and build the HTTP status and body."""
        core = self.core
        with core.cond:
            failure: _ApiError | None = None
            result: Any = None
            queued = core.failures.get(request.method.lower())
            if queued:
                failure = queued.popleft()
            elif (handler := self.table.get(request.method.lower())) is None:
                failure = _ApiError(404, "Not Found")
            else:
                try:
                    result = handler(request)
                except _ApiError as exc:
                    failure = exc
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    # Malformed parameters: Telegram answers 400, never a dropped connection.
                    failure = _bad_request(f"invalid request parameters ({type(exc).__name__})")
                if failure is None and core.lost_responses[request.method.lower()] > 0:
                    core.lost_responses[request.method.lower()] -= 1
                    failure = _ApiError(502, "Bad Gateway")  # done, but the bot never learns it
            core.record(request.method, _recorded_params(request), failure)
            if failure is not None:
                return failure.error_code, failure.payload()
            return 200, {"ok": True, "result": result}


def _recorded_params(request: _Request) -> JSON:
    params = dict(request.params)
    for name, (filename, content) in request.files.items():
        params[name] = {"file_name": filename, "size": len(content)}
    return params


# --------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------

# Parameters that are plain strings even when they look like JSON (e.g. the text "42").
_STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "url", "secret_token", "ip_address",
    "language_code", "action", "inline_message_id", "business_connection_id", "message_effect_id",
    "document", "photo", "thumbnail", "filename", "file_name", "description", "short_description",
    "name", "emoji", "custom_emoji_id", "title", "query_id",
})


def _coerce(key: str, raw: object) -> object:
    """Decode one parameter; PTB sends complex values and numbers JSON-encoded as strings."""
    if not isinstance(raw, str) or key in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _decode_body(content_type: str, body: bytes) -> tuple[JSON, dict[str, tuple[str, bytes]]]:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}, {}
    if media_type == "application/json":
        loaded = json.loads(body)
        if not isinstance(loaded, dict):
            raise _bad_request("JSON object expected")
        return {k: _coerce(k, v) for k, v in loaded.items()}, {}
    if media_type == "multipart/form-data":
        return _decode_multipart(content_type, body)
    pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    return {k: _coerce(k, v) for k, v in pairs}, {}


def _decode_multipart(content_type: str, body: bytes) -> tuple[JSON, dict[str, tuple[str, bytes]]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: JSON = {}
    files: dict[str, tuple[str, bytes]] = {}
    parts = cast("list[EmailMessage]", parsed.get_payload()) if parsed.is_multipart() else []
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, content)
        else:
            params[name] = _coerce(name, content.decode("utf-8"))
    return params, files


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # Connections waiting to be accepted: socketserver's 5 made a bot sending many requests at once see
    # resets that the real Bot API never gives.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], methods: _Methods) -> None:
        super().__init__(address, _Handler)
        self.methods = methods

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay silent: a client hanging up mid-poll is normal and must not print to stderr."""


class _Handler(BaseHTTPRequestHandler):
    """Routes ``/bot<token>/<method>`` to the method table; everything else is Telegram's 404."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "BotApiStandIn"

    def log_message(self, format: str, *args: Any) -> None:  # signature of the base class
        """Stay silent: request lines contain the bot token."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        server = self.server
        if not isinstance(server, _Server):
            raise TypeError("handler bound to an unexpected server")
        methods = server.methods
        split = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        token, _, method = split.path.removeprefix("/bot").partition("/")
        if not split.path.startswith("/bot") or not method or "/" in method:
            self._reply(404, _ApiError(404, "Not Found").payload())
            return
        if token != methods.core.token:
            failure = _ApiError(401, "Unauthorized")
            with methods.core.cond:
                methods.core.record(method, {}, failure)
            self._reply(401, failure.payload())
            return
        try:
            params, files = _decode_body(self.headers.get("Content-Type", ""), body)
            params.update({k: _coerce(k, v) for k, v in urllib.parse.parse_qsl(split.query)})
        except (ValueError, UnicodeDecodeError, _ApiError):
            failure = _bad_request("can't parse request body")
            with methods.core.cond:
                methods.core.record(method, {}, failure)
            self._reply(400, failure.payload())
            return
        status, payload = methods.call(_Request(method, params, files))
        self._reply(status, payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, payload: JSON) -> None:
        try:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: JSON carries it only escaped, as in "\ud800"
            data = json.dumps(payload).encode("ascii")
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (e.g. a cancelled long poll)


# --------------------------------------------------------------------------------------------
# Webhook delivery
# --------------------------------------------------------------------------------------------


def _webhook_url_allowed(url: str) -> bool:
    """HTTPS, as Telegram demands; plain HTTP too for this machine, where the stand-in runs."""
    parts = urllib.parse.urlsplit(url)
    return bool(parts.hostname) and (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)
    )


def update_chat(update: JSON) -> int | str | None:
    """The chat an update belongs to (the sender's for a button without a message); None if none."""
    kinds = ("message", "edited_message", "channel_post", "edited_channel_post", "my_chat_member", "chat_member")
    holders = [update.get(kind) for kind in kinds]
    query = update.get("callback_query")
    if isinstance(query, dict):
        holders.append(query.get("message"))
        holders.append({"chat": query.get("from")})
    for holder in holders:
        chat = holder.get("chat") if isinstance(holder, dict) else None
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if isinstance(chat_id, int | str):  # raw test updates may carry anything
            return chat_id
    return None


class _WebhookPoster:
    """Posts queued updates to the webhook like Telegram: one chat's in order, each again until a 2xx.

    A queued update leaves the queue only when the webhook answered it with a 2xx; until then
    it is posted again every ``retry_delay`` seconds (Telegram waits longer; tests want speed).
    """

    def __init__(self, core: _Core, retry_delay: float, timeout: float) -> None:
        self.core = core
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._busy_chats: set[int | str | None] = set()
        self._posting: set[threading.Thread] = set()
        self._thread: threading.Thread | None = None
        # The webhook is on this machine or nowhere: never go through a proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bot-api-standin-webhook", daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait for the loop (stopped by ``core.closing``) and, briefly, for posts under way."""
        if self._thread is not None:
            self._thread.join()
        with self.core.cond:
            posting = list(self._posting)
        for thread in posting:  # daemon threads: one stuck on a dead webhook does not hold up the stop
            thread.join(timeout=min(self.timeout, 2.0))

    def _run(self) -> None:
        core = self.core
        with core.cond:
            while not core.closing:
                core.cond.wait(self._start_due())

    def _start_due(self) -> float | None:
        """Start posting each idle chat's first queued update that is due; seconds until the next retry."""
        core = self.core
        if not core.webhook_url:
            return None
        now = time.monotonic()
        next_due: float | None = None
        first_of_chat: dict[int | str | None, _Queued] = {}
        for queued in core.queue:
            first_of_chat.setdefault(update_chat(queued.update), queued)
        for chat, queued in first_of_chat.items():
            if chat in self._busy_chats or len(self._busy_chats) >= core.webhook_connections:
                continue
            if queued.retry_at > now:
                next_due = queued.retry_at if next_due is None else min(next_due, queued.retry_at)
                continue
            self._busy_chats.add(chat)
            body = json.dumps(queued.update, ensure_ascii=False).encode("utf-8")
            thread = threading.Thread(target=self._post, args=(chat, queued, core.webhook_url, core.webhook_secret,
                                                               body), name="bot-api-standin-post", daemon=True)
            self._posting.add(thread)
            thread.start()
        return None if next_due is None else max(next_due - now, 0.0)

    def _post(self, chat: int | str | None, queued: _Queued, url: str, secret: str, body: bytes) -> None:
        status = self._send(url, secret, body)
        core = self.core
        with core.cond:
            core.webhook_deliveries.append(WebhookDelivery(queued.update_id, status))
            self._busy_chats.discard(chat)
            self._posting.discard(threading.current_thread())
            if status is not None and 200 <= status < 300:
                if queued.redelivered:
                    queued.redelivered = False  # asked to deliver it again meanwhile
                else:
                    core.queue = [q for q in core.queue if q is not queued]
            else:
                queued.retry_at = time.monotonic() + self.retry_delay
                reason = "Connection refused" if status is None else f"Wrong response from the webhook: {status}"
                core.webhook_error = (int(time.time()), reason)
            core.cond.notify_all()

    def _send(self, url: str, secret: str, body: bytes) -> int | None:
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[WEBHOOK_SECRET_HEADER] = secret
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as error:
            error.close()
            return error.code
        except (OSError, http.client.HTTPException, ValueError):  # refused, reset, timed out, garbled
            return None


# --------------------------------------------------------------------------------------------
# Public facade
# --------------------------------------------------------------------------------------------


class BotApiStandIn:
    """A Bot API server on localhost plus the controls and observations tests need.

    Use as a context manager, then point python-telegram-bot at :attr:`base_url`. Once the bot
    sets a webhook, updates are posted to it; a failed post is repeated after ``webhook_retry_delay``
    seconds, and one that gets no answer is abandoned after ``webhook_timeout`` (and repeated).
    """

    def __init__(self, *, token: str = "123456789:STANDIN-token_for-local-use",  # noqa: S107 - not a secret
                 username: str = "caucus_standin_bot", bot_id: int = 123456789, host: str = "127.0.0.1",
                 port: int = 0, webhook_retry_delay: float = 1.0, webhook_timeout: float = 60.0) -> None:
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self._host = host
        self._port = port
        self._core = _Core(token, username, bot_id)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._poster: _WebhookPoster | None = None
        self._webhook_retry_delay = webhook_retry_delay
        self._webhook_timeout = webhook_timeout
        self._users: dict[int, SimUser] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            raise BotApiError("the stand-in is already running")
        self._core.closing = False
        self._server = _Server((self._host, self._port), _Methods(self._core))
        self._thread = threading.Thread(target=self._server.serve_forever, name="bot-api-standin",
                                        kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        self._poster = _WebhookPoster(self._core, self._webhook_retry_delay, self._webhook_timeout)
        self._poster.start()

    def stop(self) -> None:
        server, thread, poster = self._server, self._thread, self._poster
        if server is None:
            return
        with self._core.cond:
            self._core.closing = True
            self._core.cond.notify_all()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        if poster is not None:
            poster.join()
        self._server = self._thread = self._poster = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What to pass as ``base_url`` to python-telegram-bot (it appends the token)."""
        if self._server is None:
            raise BotApiError("the stand-in is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/bot"

    @property
    def api_url(self) -> str:
        return self.base_url + self.token

    @property
    def webhook_url(self) -> str:
        """The URL the bot registered with setWebhook ("" when none)."""
        with self._core.cond:
            return self._core.webhook_url

    # -- simulated users and updates ---------------------------------------------------------

    def user(self, user_id: int, first_name: str = "User", language_code: str | None = "en") -> SimUser:
        """The simulated user with this id; the same object on every call."""
        with self._core.cond:
            existing = self._users.get(user_id)
            if existing is None:
                existing = self._users[user_id] = SimUser(self._core, user_id, first_name, language_code)
            return existing

    def enqueue_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update (assigning ``update_id`` if missing) and return its id."""
        return self._core.enqueue(update)

    def redeliver(self, update_id: int) -> None:
        """Deliver an update again with the same id, as Telegram does after a lost confirmation.

        The next ``getUpdates`` returns it even if its id is below the poller's offset.
        """
        self._core.redeliver(update_id)

    def unconfirmed_count(self) -> int:
        with self._core.cond:
            return len(self._core.queue)

    def wait_confirmed(self, timeout: float = 10.0) -> None:
        """Block until every queued update has been confirmed by a ``getUpdates`` offset."""
        core = self._core
        with core.cond:
            if not core.cond.wait_for(lambda: not core.queue, timeout):
                raise TimeoutError(f"{len(core.queue)} update(s) still unconfirmed after {timeout}s")

    def fail_next(self, method: str, *, error_code: int = 429,
                  description: str = "Too Many Requests: retry after 1", retry_after: int | None = 1) -> None:
        """Make the next call of ``method`` fail this way (queued; beats normal validation).

        ``retry_after`` is only sent with a 429, as Telegram does.
        """
        failure = _ApiError(error_code, description, retry_after if error_code == 429 else None)
        with self._core.cond:
            self._core.failures[method.lower()].append(failure)

    def lose_next_response(self, method: str) -> None:
        """Carry out the next call of ``method``, then answer 502 as a proxy that lost Telegram's response would:
        the bot cannot tell whether it was done."""
        with self._core.cond:
            self._core.lost_responses[method.lower()] += 1

    # -- observations ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._core.cond:
            return [c for c in self._core.calls if method is None or c.method.lower() == method.lower()]

    def messages(self, chat_id: int) -> list[ChatMessage]:
        """Bot messages in this chat in the order sent, deleted ones included (flagged)."""
        with self._core.cond:
            chat = self._core.chats.get(chat_id)
            if chat is None:
                return []
            return [_snapshot(stored.view) for stored in chat.bot_messages.values()]

    def sent_twice(self, chat_id: int) -> list[tuple[ChatMessage, ChatMessage]]:
        """Bot messages in this chat identical (text and buttons) to the one just before them, with that one:
        replies the bot sent again when it could not know the first had arrived."""
        return [(earlier, later) for earlier, later in itertools.pairwise(self.messages(chat_id))
                if (earlier.text, earlier.button_texts()) == (later.text, later.button_texts())]

    def visible_user_messages(self, chat_id: int) -> list[int]:
        """Ids of the messages the user sent in this chat that the bot has not deleted."""
        with self._core.cond:
            chat = self._core.chats.get(chat_id)
            return [] if chat is None else sorted(chat.user_messages)

    def events(self, chat_id: int | None = None) -> list[ChatEvent]:
        with self._core.cond:
            return list(self._core.events if chat_id is None else self._core.chat_events.get(chat_id, ()))

    def unconfirmed_chats(self) -> set[int | str | None]:
        """The chats with an update not yet confirmed (in flight or waiting): one pass over the queue."""
        with self._core.cond:
            return {update_chat(queued.update) for queued in self._core.queue}

    def updates(self, first: int = 1) -> list[dict[str, Any]]:
        """Copies of every update queued so far from id ``first`` on, in id order (to post them again elsewhere)."""
        with self._core.cond:
            return [copy.deepcopy(update) for update_id, update in sorted(self._core.history.items())
                    if update_id >= first]

    def webhook_deliveries(self, update_id: int | None = None) -> list[WebhookDelivery]:
        """Every post to the webhook so far (of one update, if given), in the order they were answered."""
        with self._core.cond:
            return [d for d in self._core.webhook_deliveries if update_id is None or d.update_id == update_id]

    def callback_answers(self) -> dict[str, str | None]:
        """Answered callback queries: query id -> answer text (None when answered silently)."""
        with self._core.cond:
            return dict(self._core.callback_answers)

    def callback_answer(self, update_id: int) -> str | None:
        """The answer to the callback query carried by this update; KeyError if not answered."""
        with self._core.cond:
            for query_id, answered_update in self._core.callback_updates.items():
                if answered_update == update_id:
                    return self._core.callback_answers[query_id]
            raise KeyError(update_id)


def _snapshot(view: ChatMessage) -> ChatMessage:
    return dataclasses.replace(view, buttons=[list(row) for row in view.buttons])


class SimUser:
    """A simulated Telegram user in a private chat with the bot."""

    def __init__(self, core: _Core, user_id: int, first_name: str, language_code: str | None) -> None:
        self._core = core
        self.user_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self._sent: dict[int, str] = {}

    @property
    def blocked(self) -> bool:
        with self._core.cond:
            chat = self._core.chats.get(self.user_id)
            return chat is not None and chat.blocked

    def _from(self) -> JSON:
        sender: JSON = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.language_code is not None:
            sender["language_code"] = self.language_code
        return sender

    def _chat(self) -> _Chat:
        return self._core.chat_for(self.user_id, self.first_name)

    def _send(self, content: JSON) -> int:
        with self._core.cond:
            message_id = self._chat().next_message_id()
            message: JSON = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": self.user_id, "type": "private", "first_name": self.first_name},
                "from": self._from(),
                **content,
            }
            if "text" in content:
                self._sent[message_id] = str(content["text"])
            return self._core.enqueue({"message": message})

    # -- messages ----------------------------------------------------------------------------

    def send_text(self, text: str) -> int:
        return self._send({"text": text})

    def send_command(self, command: str, args: str = "") -> int:
        """Send ``/command args`` with the ``bot_command`` entity Telegram attaches."""
        command = command if command.startswith("/") else f"/{command}"
        text = f"{command} {args}" if args else command
        entity = {"type": "bot_command", "offset": 0, "length": utf16_length(command)}
        return self._send({"text": text, "entities": [entity]})

    def _file(self) -> JSON:
        with self._core.cond:
            file_id, unique_id = self._core.new_file_id()
        return {"file_id": file_id, "file_unique_id": unique_id}

    def send_sticker(self) -> int:
        return self._send({"sticker": {**self._file(), "type": "regular", "width": 512, "height": 512,
                                       "is_animated": False, "is_video": False, "emoji": "👍"}})

    def send_photo(self) -> int:
        return self._send({"photo": [{**self._file(), "width": 90, "height": 90, "file_size": 1024},
                                     {**self._file(), "width": 800, "height": 800, "file_size": 40960}]})

    def send_document(self) -> int:
        return self._send({"document": {**self._file(), "file_name": "notes.pdf",
                                        "mime_type": "application/pdf", "file_size": 2048}})

    def send_location(self) -> int:
        return self._send({"location": {"latitude": 52.37, "longitude": 4.89}})

    def send_voice(self) -> int:
        return self._send({"voice": {**self._file(), "duration": 3, "mime_type": "audio/ogg"}})

    def send_contact(self) -> int:
        return self._send({"contact": {"phone_number": "+10000000000", "first_name": "Friend"}})

    def edit_text(self, message_id: int, text: str) -> int:
        """Edit a text message this user sent earlier (an ``edited_message`` update)."""
        with self._core.cond:
            if message_id not in self._sent:
                raise BotApiError(f"user {self.user_id} sent no text message {message_id}")
            self._sent[message_id] = text
            now = int(time.time())
            message: JSON = {
                "message_id": message_id, "date": now, "edit_date": now,
                "chat": {"id": self.user_id, "type": "private", "first_name": self.first_name},
                "from": self._from(), "text": text,
            }
            return self._core.enqueue({"edited_message": message})

    # -- buttons -----------------------------------------------------------------------------

    def press(self, button_text: str, *, message_id: int | None = None) -> int:
        """Press a button on the latest bot message that has it (or on ``message_id``).

        Exact text matches win; otherwise the single button containing ``button_text``.
        """
        with self._core.cond:
            stored, button = self._find_button(button_text, message_id)
            if button.callback_data is None:
                raise BotApiError(f"button {button.text!r} opens a URL; there is nothing to press")
            return self._press(stored, button.callback_data)

    def press_data(self, callback_data: str, message_id: int) -> int:
        """Send arbitrary callback data for a bot message, as a forged client could."""
        with self._core.cond:
            stored = next((m for m in self._existing_messages() if m.view.message_id == message_id), None)
            if stored is None:
                raise BotApiError(f"no bot message {message_id} in chat {self.user_id}")
            return self._press(stored, callback_data)

    def _press(self, stored: _StoredMessage, data: str) -> int:
        chat = self._chat()
        query: JSON = {
            "id": self._core.new_callback_id(),
            "from": self._from(),
            "chat_instance": f"{self.user_id}{self._core.bot_id}",
            "data": data,
            "message": self._core.message_json(chat, stored),
        }
        return self._core.enqueue({"callback_query": query})

    def _candidates(self, message_id: int | None) -> list[_StoredMessage]:
        messages = {m.view.message_id: m for m in self._existing_messages()}
        if message_id is not None:
            stored = messages.get(message_id)
            if stored is None or stored.view.deleted:
                raise BotApiError(f"no live bot message {message_id} in chat {self.user_id}")
            return [stored]
        return [m for m in reversed(messages.values()) if not m.view.deleted]

    def _find_button(self, text: str, message_id: int | None) -> tuple[_StoredMessage, Button]:
        candidates = self._candidates(message_id)
        for stored in candidates:
            for row in stored.view.buttons:
                for button in row:
                    if button.text == text:
                        return stored, button
        for stored in candidates:
            partial = [b for row in stored.view.buttons for b in row if text in b.text]
            if len(partial) == 1:
                return stored, partial[0]
            if partial:
                raise BotApiError(f"{len(partial)} buttons contain {text!r}: "
                                  f"{[b.text for b in partial]}")
        raise BotApiError(f"no button {text!r} in chat {self.user_id}")

    # -- state -------------------------------------------------------------------------------

    def block(self) -> None:
        """Block the bot: from now on sending to this chat fails with 403."""
        with self._core.cond:
            self._chat().blocked = True

    def unblock(self) -> None:
        with self._core.cond:
            self._chat().blocked = False

    def _existing_messages(self) -> list[_StoredMessage]:
        chat = self._core.chats.get(self.user_id)
        return [] if chat is None else list(chat.bot_messages.values())

    def last_message(self) -> ChatMessage | None:
        """The latest bot message in this chat that is not deleted."""
        with self._core.cond:
            live = [m for m in self._existing_messages() if not m.view.deleted]
            return _snapshot(live[-1].view) if live else None

    def buttons(self) -> list[str]:
        """Button texts of the latest live bot message that has buttons."""
        with self._core.cond:
            for stored in reversed(self._existing_messages()):
                if not stored.view.deleted and stored.view.buttons:
                    return stored.view.button_texts()
            return []
