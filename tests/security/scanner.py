"""Finding secrets and party text where they must never be: database files, write-ahead logs and logs.

Every at-rest and log check uses this one scanner, so each looks for the same encodings of the
same things: texts as UTF-8, UTF-16 (both byte orders) and escaped as ``repr`` or JSON would
write them; keys as raw bytes, base64 and hex; Telegram ids as decimal text and as the
big-endian integer SQLite stores.
"""

from __future__ import annotations

import base64
import inspect
import io
import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Settings
from bot.local import LocalBot
from bot.logs import CONTENT_LOGGERS, configure_logging
from bot.standin import BotApiStandIn
from storage.crypto import MasterKey

__all__ = [
    "DEFAULT_TOKEN",
    "Forms",
    "Leak",
    "LogWatch",
    "database_bytes",
    "find_leaks",
    "id_forms",
    "key_forms",
    "text_forms",
    "token_needles",
    "typed_texts",
]

Forms = Mapping[str, bytes]

# The token every stand-in uses unless a test gives another.
DEFAULT_TOKEN: str = inspect.signature(BotApiStandIn.__init__).parameters["token"].default

# Typed texts shorter than this (points, "Yes", a party label) can turn up in a log by coincidence.
MIN_TYPED_CHARS = 8
# A one-word command argument shorter than this is a short id or a fixed payload; invite tokens are longer.
MIN_COMMAND_ARGUMENT_CHARS = 16
# A typed text is also looked for by its beginning, so a log line that truncates it is caught.
PREFIX_CHARS = 24
# Anything shaped like 32 bytes in base64, as a master key is written: no log line has a reason to hold one.
_KEY_SHAPED = re.compile(rb"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])")


@dataclass(frozen=True)
class Leak:
    """A needle found in a haystack, in one of its forms."""

    where: str
    what: str
    form: str

    def __str__(self) -> str:
        return f"{self.what} ({self.form}) in {self.where}"


def text_forms(text: str) -> dict[str, bytes]:
    """How a text can sit in a file: UTF-8, UTF-16 in both byte orders, escaped by ``repr`` or JSON."""
    forms = {
        "utf-8": text.encode("utf-8"),
        "utf-16-le": text.encode("utf-16-le"),
        "utf-16-be": text.encode("utf-16-be"),
    }
    for name, escaped in (("json", json.dumps(text)[1:-1]), ("repr", repr(text)[1:-1])):
        if escaped != text:
            forms[name] = escaped.encode("utf-8")
    return forms


def key_forms(key: bytes) -> dict[str, bytes]:
    """A key as raw bytes, base64 (standard and URL-safe, padded or not) and hex."""
    standard = base64.b64encode(key)
    urlsafe = base64.urlsafe_b64encode(key)
    return {
        "raw": key,
        "base64": standard,
        "base64-unpadded": standard.rstrip(b"="),
        "base64url": urlsafe.rstrip(b"="),
        "hex": key.hex().encode(),
        "HEX": key.hex().upper().encode(),
    }


def id_forms(user_id: int) -> dict[str, bytes]:
    """A Telegram id as decimal text (UTF-8, UTF-16) and as SQLite's big-endian integer and a packed int64."""
    decimal = str(user_id)
    size = 6 if user_id < 2**47 else 8  # SQLite stores an integer in the fewest of 1, 2, 3, 4, 6 or 8 bytes
    return {
        "decimal": decimal.encode(),
        "decimal-utf-16-le": decimal.encode("utf-16-le"),
        "sqlite-integer": user_id.to_bytes(size, "big"),
        "int64-le": user_id.to_bytes(8, "little"),
    }


def token_needles(token: str) -> dict[str, Forms]:
    """A bot token, whole and its secret part alone (what survives if only the bot id is redacted)."""
    secret = token.partition(":")[2]
    return {"bot token": text_forms(token), "bot token's secret part": text_forms(secret)}


def find_leaks(haystacks: Mapping[str, bytes], needles: Mapping[str, Forms]) -> list[Leak]:
    """Every form of every needle found in any haystack."""
    return [
        Leak(where, what, form)
        for where, haystack in haystacks.items()
        for what, forms in needles.items()
        for form, needle in forms.items()
        if needle and needle in haystack
    ]


def database_bytes(database: Path, *, checkpoint: bool = True) -> dict[str, bytes]:
    """The SQLite file and its side files as a thief would copy them; ``checkpoint`` first folds the WAL in."""
    if checkpoint:
        with sqlite3.connect(database) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
    return {path.name: path.read_bytes() for path in sorted(database.parent.glob(database.name + "*"))}


def typed_texts(standin: BotApiStandIn) -> list[str]:
    """What the simulated users typed that no log may hold: texts, and the arguments of commands
    (a note's text, an invite token).

    Very short texts and those without a letter (points, dates, amounts) are left out, and so
    are one-word command arguments shorter than an invite token: a log line can hold them by
    coincidence (a timestamp, a count, the word "grievance") without leaking anything.
    """
    texts = []
    for event in standin.events():
        if event.kind == "user_text":
            text = event.text
        elif event.kind == "user_command":
            text = event.text.partition(" ")[2]
            if len(text) < MIN_COMMAND_ARGUMENT_CHARS and " " not in text.strip():
                continue  # a case's short id or a fixed deep-link payload ("grievance"), not something typed
        else:
            continue
        text = text.strip()
        if len(text) >= MIN_TYPED_CHARS and any(character.isalpha() for character in text):
            texts.append(text)
    return list(dict.fromkeys(texts))


def _typed_needles(texts: Iterable[str]) -> dict[str, Forms]:
    needles: dict[str, Forms] = {}
    for text in texts:
        needles[f"typed text {text!r}"] = text_forms(text)
        if len(text) > PREFIX_CHARS:
            needles[f"beginning of typed text {text!r}"] = text_forms(text[:PREFIX_CHARS])
    return needles


@dataclass
class LogWatch:
    """The product's own logging (``configure_logging``) at DEBUG into a buffer, scanned for what must not be there.

    Stand-ins and master keys are gathered from whatever the tests used (``notice``); each scan
    reads what was logged since the previous one.
    """

    buffer: io.StringIO = field(default_factory=io.StringIO)
    standins: list[BotApiStandIn] = field(default_factory=list)
    master_keys: list[MasterKey] = field(default_factory=list)
    _scanned: int = 0

    @contextmanager
    def running(self) -> Iterator[LogWatch]:
        """Log at DEBUG into the buffer while inside; the previous logging is put back afterwards."""
        root = logging.getLogger()
        others, level = list(root.handlers), root.level
        caps = {name: logging.getLogger(name).level for name in CONTENT_LOGGERS}
        handler = configure_logging(logging.DEBUG, self.buffer)
        for other in others:  # pytest's capture handlers come and go with each test phase: leave them be
            root.addHandler(other)
        try:
            yield self
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            for name, cap in caps.items():
                logging.getLogger(name).setLevel(cap)

    def notice(self, things: Iterable[object]) -> None:
        """Remember the stand-ins and master keys reachable from ``things`` (a test's fixture values)."""
        for thing in things:
            standin = thing if isinstance(thing, BotApiStandIn) else getattr(thing, "standin", None)
            if isinstance(standin, BotApiStandIn) and all(standin is not known for known in self.standins):
                self.standins.append(standin)
            settings = thing.settings if isinstance(thing, LocalBot) else thing
            if isinstance(settings, Settings) and settings.master_key not in self.master_keys:
                self.master_keys.append(settings.master_key)

    def needles(self) -> dict[str, Forms]:
        needles: dict[str, Forms] = {}
        for token in dict.fromkeys([DEFAULT_TOKEN, *(standin.token for standin in self.standins)]):
            needles.update(token_needles(token))
        for number, key in enumerate(self.master_keys, start=1):
            needles[f"master key {number}"] = key_forms(key.key)
        needles.update(_typed_needles(text for standin in self.standins for text in typed_texts(standin)))
        return needles

    def scan(self, log: str) -> list[Leak]:
        """Everything in ``log`` that must not be there."""
        logged = log.encode("utf-8")
        leaks = find_leaks({"the log": logged}, self.needles())
        leaks += [Leak("the log", "something shaped like a base64 key", match.decode())
                  for match in _KEY_SHAPED.findall(logged)]
        return leaks

    def scan_new(self) -> list[Leak]:
        """Scan what was logged since the previous call."""
        text = self.buffer.getvalue()
        new, self._scanned = text[self._scanned:], len(text)
        return self.scan(new)
