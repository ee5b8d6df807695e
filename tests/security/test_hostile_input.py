"""Hostile input, item by item as SECURITY.md lists it under "Hostile input the product must survive".

One real bot (the Bot API stand-in, a SQLite file, the product's own logging at DEBUG) serves the whole module.
Every item about what people send is sent the ways it can arrive, at each step of the real flows that reads text:
a party's caucus (position, interest words, a range, a note to the mediator), a mediator setting up a case (title,
issues, options) and a grievance (description, place); then a property test sends random text at those steps.

Where each item of the list is tested:
- oversized text; empty or only-whitespace/zero-width text; NUL and lone surrogates; bidi overrides and isolates;
  zero-width joiners; floods of combining marks; the same text in NFC and NFD; HTML and MarkdownV2 specials; links
  and tg:// URLs; commands inside text: `test_hostile_text[<item>-<step>]` (as a message at every step, as an edit
  and as button data at one step of each flow), `test_hostile_text_as_command_arguments[<item>]`, and the property
  test `test_random_text_at_every_step_that_reads_text`;
- forged or stale callback data; double taps within milliseconds; replayed or shared invite links; one account
  trying to take two seats; non-members calling mediator commands; edited messages; photos, documents, locations,
  contacts, voice where not expected; floods of messages; the bot added to a group; the same update delivered three
  times; a user who blocked the bot; a backlog after hours of downtime; unknown update types: the test named so;
- wrong webhook secret, malformed JSON, oversized request bodies: the webhook tests.

What a person notices, and what every test checks afterwards (see `audited`):
- each hostile input gets a clear reply in the sender's language, or none where a reply would leak;
- a refused input changes nothing; text that is a fair answer once cleaned is stored exactly as cleaned;
- nothing crashes: no "Sorry, something went wrong", no ERROR in the log;
- Telegram accepts every call the bot makes (no "can't parse entities"), with link previews off;
- no canary planted in another party's answers, in a mediator's case or in a grievance reaches anyone else,
  and the log holds nothing anyone typed.

tests/e2e/test_bad_input.py holds bad input at every button step of the caucus.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
import secrets
import time
import unicodedata
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.grievance_views import GRIEVANCE_CATEGORY_NAMES
from bot.i18n import LANGUAGES, Text, _, plain, translator
from bot.local import LocalBot
from bot.scenario import GrievanceScript, file_grievance, grievance_actions, join, label
from bot.standin import ApiCall, BotApiStandIn, ChatMessage, SimUser
from bot.views import CATEGORY_NAMES, INVALID_INPUT, invalid_input
from flows.caucus import MAX_OPTION_CHARS, CaucusConversation
from flows.grievance import MAX_DESCRIPTION_CHARS, MAX_REGION_CHARS, GrievanceConversation, Urgency
from flows.machines import CaseStage, CaucusStep, GrievanceStep
from flows.model import InterestCategory
from flows.setup import CaseDraft
from flows.text import MAX_ANSWER_CHARS, MAX_TITLE_CHARS, clean_line, clean_text
from storage.crypto import MasterKey
from storage.db import default_sqlite_url
from storage.migrate import upgrade_async
from storage.repository import Transaction
from tests.e2e.conftest import MEDIATOR_ID
from tests.e2e.test_bad_input import NOT_TEXT, STALE, UNKNOWN_COMMAND
from tests.security.scanner import LogWatch, find_leaks, text_forms

pytestmark = pytest.mark.asyncio(loop_scope="module")

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"

# Accounts. The mediator owns the canary case; each station of the text table has an account of its own.
TITLE_MEDIATOR, ISSUE_MEDIATOR, OPTION_MEDIATOR, TAP_MEDIATOR, ARGS_MEDIATOR = 2001, 2002, 2003, 2004, 2005
VICTIM = 3001  # a party of the canary case, whose answers hold canaries
GRIEVANCE_VICTIM = 3002  # files a grievance holding a canary
FIRST_PARTY = 4001  # hostile parties, one account per seat
FIRST_REPORTER = 5001  # hostile people filing grievances, one account per report
STRANGER = 6001
BACKLOG_MEDIATORS = tuple(range(7001, 7018))
MEDIATORS = frozenset({MEDIATOR_ID, TITLE_MEDIATOR, ISSUE_MEDIATOR, OPTION_MEDIATOR, TAP_MEDIATOR, ARGS_MEDIATOR,
                       *BACKLOG_MEDIATORS})
PARTY_LANGUAGE = "fr"
REGIONS = ("North", "South")
PARTIES_PER_CASE = 10
SEATS_AT_ONCE = 5  # accounts that join (or start a report) side by side
MAX_OPTIONS_USED = 7  # an issue takes 8 options: the option station moves on before that

EDITED = _("Edited messages are not read. If you want to change an answer, please send it again as a new message.")
INVITE_REFUSED = _("This invitation link cannot be used. If you were invited, please ask your mediator for a new link.")
MEDIATORS_ONLY = _("This command is for mediators. If you were invited as a party, "
                   "please open the link your mediator gave you.")
NO_SUCH_CASE = _("No case of yours has that id. /newcase opens a new one.")
NO_SUCH_REPORT = _("No report with this reference was found for you. Please check the reference; "
                   "only the account that sent a report can follow it.")
FAILED = _("Sorry, something went wrong and nothing was changed. Please try again.")
EMPTY = INVALID_INPUT["empty"]
DUPLICATE = INVALID_INPUT["duplicate"]
NOT_A_NUMBER = invalid_input("not_a_number", {})

_FSI, _PDI = "\u2068", "\u2069"
# "Invitation for <isolated label>: https://t.me/<bot>?start=<token>", in any language.
_INVITE = re.compile("\u2068([^\u2069]+)\u2069\\W+https://t\\.me/\\w+\\?start=([A-Za-z0-9_-]+)")
_OVERRIDES = re.compile("[\u202a-\u202e]")
_ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")


def says(text: Text, language: str) -> str:
    """A message as its reader sees it in the stand-in: rendered in ``language``, laid out, without tags."""
    rendering = translator(language)
    return plain(rendering.paragraphs(rendering.render(text))).strip()


def pop_up(text: Text, language: str) -> str:
    """A button's pop-up answer as its reader sees it."""
    return plain(translator(language).render(text))


def seen(message: ChatMessage) -> str:
    return plain(message.text)


# The text table ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way of sending an item: what is typed, and what must be stored (None: refused as empty).

    A stored text longer than a step's limit is refused there as too long."""

    raw: str
    keeps: str | None


_NFC = "Café crème à Malmö, Tiếng Việt, 한국어"
_PERSIAN = "می\u200cخواهیم به آب دسترسی داشته باشیم 👩\u200d👩\u200d👧"
_MARKUP = ('<b>bold</b> <a href="tg://user?id=1">me</a> &amp; &lt;i&gt; </i> *b* _i_ __u__ ~s~ ||sp|| '
           "`c` [l](https://e.org) \\ > # + - = | { } . !")
_LINKS = "See https://example.org/a?b=1&c=2 tg://resolve?domain=evilbot t.me/evilbot?start=x www.example.com"
_COMMANDS = "We want /start abc and /newcase too, @caucus_standin_bot /forget"

TEXT_ITEMS: dict[str, tuple[Variant, ...]] = {
    "oversized text": (
        Variant("x" * 4096, "x" * 4096),
        Variant(("نص طويل جدا\n" * 400)[:4096], ("نص طويل جدا\n" * 400)[:4096].strip()),
    ),
    "empty or only-whitespace/zero-width text": (
        Variant(" \t\n \u3000\u00a0\u2028 ", None),
        Variant("\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u180e", None),
        Variant("\u3164\u115f\u2800\u00ad\ufe0f\u034f", None),  # fillers and other characters that show nothing
        Variant("\u0336" * 600, None),  # combining marks without anything to combine with
    ),
    "NUL and lone surrogates": (
        Variant("\x00\x00", None),
        Variant("\ud800", None),
        Variant("\udfff\x00\ud83d", None),
        Variant("Wa\x00ter \ud800rights\x1b[31m", "Water rights[31m"),
    ),
    "bidi overrides and isolates": (
        Variant("\u202e\u2066\u2067\u2068\u2069\u202c\u202a\u202b\u202d", None),
        Variant("Invoice \u202egnp.exe\u202c paid\u2069\u2069 twice", "Invoice gnp.exe paid twice"),
        Variant("\u2067نريد الوصول إلى النهر\u2069 \u200fאנחנו רוצים 50 דונם",
                "نريد الوصول إلى النهر \u200fאנחנו רוצים 50 דונם"),
    ),
    "zero-width joiners": (Variant(_PERSIAN, _PERSIAN),),
    "floods of combining marks": (Variant("a" + "\u0336" * 600 + "b", "a" + "\u0336" * 4 + "b"),),
    "the same text in NFC and NFD": (
        Variant(_NFC, _NFC),
        Variant(unicodedata.normalize("NFD", _NFC), _NFC),
    ),
    "HTML and MarkdownV2 specials": (Variant(_MARKUP, _MARKUP),),
    "links and tg:// URLs": (Variant(_LINKS, _LINKS),),
    "commands inside text": (Variant(_COMMANDS, _COMMANDS),),
}


def button_data(raw: str) -> str:
    """``raw`` cut to what Telegram lets a (modified) client put in callback data: 1 to 64 bytes."""
    data = ""
    for char in raw:
        if len((data + char).encode("utf-8", "surrogatepass")) > 64:
            break
        data += char
    return data


# Stations: the steps that read text ---------------------------------------------------------------------------


@dataclass
class Seat:
    """A party's seat, taken by an account of its own."""

    user: SimUser
    seat_id: str
    case_id: str


class Station:
    """A step that reads text, with an account standing at it; `ready` puts one there again after an answer."""

    limit = MAX_ANSWER_CHARS
    one_line = False  # names: inner whitespace collapses
    unique = False  # refuses a name already on the list
    numeric = False
    quotes_back = False  # what was stored is shown again in full (a receipt, the mediator's copy of a note)

    def __init__(self, world: World, name: str, language: str = PARTY_LANGUAGE) -> None:
        self.world, self.name, self.language = world, name, language

    async def ready(self) -> SimUser:
        raise NotImplementedError

    async def state(self, tx: Transaction) -> object:
        """Everything the step may change."""
        raise NotImplementedError

    async def stored(self, tx: Transaction) -> list[str]:
        """The texts stored at this step so far, latest last."""
        raise NotImplementedError

    def clean(self, raw: str) -> str:
        return clean_line(raw, max_chars=self.limit) if self.one_line else clean_text(raw, max_chars=self.limit)

    def refusal(self, variant: Variant, stored: list[str]) -> Text | None:
        """What this step answers to ``variant`` when it refuses it; None when it stores it."""
        if self.numeric:
            return NOT_A_NUMBER
        if variant.keeps is None:
            return EMPTY
        if len(variant.keeps) > self.limit:
            return invalid_input("too_long", {"limit": self.limit})
        if self.unique and variant.keeps.casefold() in {text.casefold() for text in stored}:
            return DUPLICATE
        return None

    def refusals(self, stored: list[str]) -> set[str]:
        """Every refusal this step can give now, as its reader sees it."""
        texts = [EMPTY, DUPLICATE, NOT_A_NUMBER, invalid_input("too_long", {"limit": self.limit})]
        return {says(text, self.language) for text in texts}

    def holds(self, stored: list[str], text: str) -> bool:
        """Whether ``text`` is what this step stored last."""
        return bool(stored) and stored[-1] == text

    async def snapshot(self) -> object:
        async with self.world.transaction() as tx:
            return await self.state(tx)

    async def stored_texts(self) -> list[str]:
        async with self.world.transaction() as tx:
            return await self.stored(tx)


class CaucusStation(Station):
    """A party answering the first issue (position, interest words, lowest value), or writing a note."""

    def __init__(self, world: World, name: str, step: CaucusStep) -> None:
        super().__init__(world, name)
        self.step = step
        self.numeric = step is CaucusStep.RANGE_LOW
        self.seat: Seat | None = None

    async def ready(self) -> SimUser:
        if self.seat is None or await self.world.caucus_step(self.seat) is not self.step:
            if self.seat is not None:
                self.world.spare.append(self.seat)
            self.seat = await self.world.seat_at(self.step)
        return self.seat.user

    async def state(self, tx: Transaction) -> object:
        assert self.seat is not None
        conversation = await tx.load_caucus(self.seat.seat_id)
        return (conversation.step, conversation.cursor, conversation.sub, repr(conversation.answers),
                await tx.seat_version(self.seat.seat_id), await tx.user(self.seat.user.user_id))

    async def stored(self, tx: Transaction) -> list[str]:
        assert self.seat is not None
        answers = (await tx.load_caucus(self.seat.seat_id)).answers
        first = self.world.issue_ids[self.seat.case_id][0]
        if self.step is CaucusStep.POSITION:
            return [answers.positions[first]] if first in answers.positions else []
        interests = answers.interests.get(first)
        return [interests.words] if interests is not None and interests.words else []


class NoteStation(CaucusStation):
    """A party who sent /note: the next message goes to the mediator, privately."""

    quotes_back = True

    def __init__(self, world: World) -> None:
        super().__init__(world, "note to the mediator", CaucusStep.POSITION)

    async def ready(self) -> SimUser:
        if self.seat is None:
            self.seat = await self.world.seat_at(CaucusStep.POSITION)
        async with self.world.transaction() as tx:
            pending = (await tx.user(self.seat.user.user_id)).pending
        if pending != "note":
            self.seat.user.send_command("/note")
            await self.world.settle()
        return self.seat.user

    async def state(self, tx: Transaction) -> object:
        assert self.seat is not None
        return await super().state(tx), await self.stored(tx)

    async def stored(self, tx: Transaction) -> list[str]:
        assert self.seat is not None
        return [note.text for note in await tx.notes(self.seat.case_id)]


class DraftStation(Station):
    """A mediator setting up a case: naming it, or adding its issues."""

    one_line = True
    limit = MAX_TITLE_CHARS

    def __init__(self, world: World, name: str, stage: CaseStage, user: SimUser) -> None:
        super().__init__(world, name, user.language_code or "en")
        self.stage, self.user = stage, user
        self.unique = self.quotes_back = stage is CaseStage.DRAFT_ISSUES  # "Issue added: …"
        self.opened = 0

    async def _draft(self, tx: Transaction) -> tuple[str | None, CaseDraft | None]:
        state = await tx.user(self.user.user_id)
        if state.active_kind != "setup" or state.active_id is None:
            return None, None
        return state.active_id, await tx.load_draft(state.active_id)

    async def ready(self) -> SimUser:
        async with self.world.transaction() as tx:
            _case_id, draft = await self._draft(tx)
        if draft is not None and draft.stage is self.stage and len(draft.issues) < 10:
            return self.user
        self.opened += 1
        self.user.send_command("/newcase")
        await self.world.settle()
        if self.stage is CaseStage.DRAFT_ISSUES:
            self.user.send_text(f"Station case {self.opened}")
            await self.world.settle()
        return self.user

    async def state(self, tx: Transaction) -> object:
        case_id, draft = await self._draft(tx)
        return case_id, await tx.user(self.user.user_id), draft and (draft.stage, draft.title, tuple(draft.issues))

    async def stored(self, tx: Transaction) -> list[str]:
        _case_id, draft = await self._draft(tx)
        if draft is None:
            return []
        return [draft.title] if self.stage is CaseStage.DRAFT_TITLE else list(draft.issues)


class OptionStation(Station):
    """A mediator adding an option to an issue of a case, from the case menu."""

    one_line = True
    quotes_back = True
    limit = MAX_OPTION_CHARS

    def __init__(self, world: World, user: SimUser) -> None:
        super().__init__(world, "option", user.language_code or "en")
        self.user = user
        self.case_id: str | None = None
        self.cases = 0

    async def _options(self, tx: Transaction) -> list[str]:
        if self.case_id is None:
            return []
        return [option.text for option in (await tx.issues(self.case_id))[0].options]

    async def ready(self) -> SimUser:
        async with self.world.transaction() as tx:
            pending = (await tx.user(self.user.user_id)).pending or ""
            count = len(await self._options(tx))
        if pending.startswith("add_option:") and count < MAX_OPTIONS_USED:
            return self.user
        if self.case_id is None or count >= MAX_OPTIONS_USED:
            await self._new_case()
        await self.world.tap(self.user, _("➕ Add an option"))
        return self.user

    async def _new_case(self) -> None:
        self.cases += 1
        world, user = self.world, self.user
        await world.draft(user, f"Options case {self.cases}", ["East", "West"])
        async with world.transaction() as tx:
            self.case_id = next(info.id for info in await tx.cases_of(user.user_id)
                                if info.title == f"Options case {self.cases}")
        await world.tap(user, _("🧩 Issues and options"))
        await world.tap(user, "1")

    async def state(self, tx: Transaction) -> object:
        return await tx.user(self.user.user_id), self.case_id and tuple(map(repr, await tx.issues(self.case_id)))

    async def stored(self, tx: Transaction) -> list[str]:
        return await self._options(tx)


class GrievanceStation(Station):
    """A person reporting a grievance: the place (typed), or the description."""

    def __init__(self, world: World, name: str, step: GrievanceStep, language: str) -> None:
        super().__init__(world, name, language)
        self.step = step
        self.one_line = step is GrievanceStep.REGION
        self.limit = MAX_REGION_CHARS if self.one_line else MAX_DESCRIPTION_CHARS
        self.user: SimUser | None = None

    async def _conversation(self, tx: Transaction) -> tuple[str, GrievanceConversation]:
        assert self.user is not None
        grievance_id = (await tx.user(self.user.user_id)).active_id
        assert grievance_id is not None
        settings = self.world.settings
        return grievance_id, await tx.load_grievance(grievance_id, settings.grievance_categories, REGIONS)

    async def ready(self) -> SimUser:
        if self.user is not None:
            async with self.world.transaction() as tx:
                _grievance_id, conversation = await self._conversation(tx)
            if conversation.step is self.step and len(conversation.content.description) < 2000:
                return self.user
            if conversation.step is self.step:
                await self.world.tap(self.user, _("Start the description again"), self.language)
                return self.user
        self.user = await self.world.reporter_at(self.step, self.language)
        return self.user

    async def state(self, tx: Transaction) -> object:
        grievance_id, conversation = await self._conversation(tx)
        assert self.user is not None
        return (conversation.step, repr(conversation.content), await tx.grievance_version(grievance_id),
                await tx.user(self.user.user_id))

    async def stored(self, tx: Transaction) -> list[str]:
        _grievance_id, conversation = await self._conversation(tx)
        content = conversation.content
        if self.step is GrievanceStep.REGION:
            return [content.region] if content.region else []
        return [content.description] if content.description else []

    def _full(self, stored: list[str]) -> Text:
        return invalid_input("description_full", {"limit": self.limit,
                                                  "left": max(0, self.limit - len(stored[0]) - 2)})

    def refusal(self, variant: Variant, stored: list[str]) -> Text | None:
        refusal = super().refusal(variant, stored)
        if (refusal is None and stored and variant.keeps is not None and self.step is GrievanceStep.DESCRIPTION
                and len(stored[0]) + 2 + len(variant.keeps) > self.limit):
            return self._full(stored)
        return refusal

    def refusals(self, stored: list[str]) -> set[str]:
        full = {says(self._full(stored), self.language)} if stored and self.step is GrievanceStep.DESCRIPTION else set()
        return super().refusals(stored) | full

    def holds(self, stored: list[str], text: str) -> bool:
        """A description grows by each message: the latest is its end."""
        return bool(stored) and stored[-1].endswith(text)


# The world: one bot for the module ----------------------------------------------------------------------------


@dataclass
class World:
    """The running bot, the accounts that use it, and what no hostile account may ever receive."""

    standin: BotApiStandIn
    local: LocalBot
    settings: Settings
    log: LogWatch
    canaries: dict[str, frozenset[int]] = field(default_factory=dict)  # canary -> the chats that may see it
    tokens: deque[str] = field(default_factory=deque)  # free seats for hostile parties
    spare: list[Seat] = field(default_factory=list)  # seats a station has left behind
    stations: dict[str, Station] = field(default_factory=dict)
    accounts: set[int] = field(default_factory=set)
    groups: set[int] = field(default_factory=set)
    allowed_failures: list[Callable[[ApiCall], bool]] = field(default_factory=list)  # refusals a test expects
    short_id: str = ""  # the canary case
    issue_ids: dict[str, list[str]] = field(default_factory=dict)  # case id -> its issue ids, in order
    hostile_updates: int = 0
    problems: list[str] = field(default_factory=list)  # found by `audited`, over the whole module
    typed: dict[str, dict[str, bytes]] = field(default_factory=dict)  # what no log may hold
    typed_events: int = 0  # chat events read into ``typed`` so far
    _next_party: int = FIRST_PARTY
    _next_reporter: int = FIRST_REPORTER
    _fresh_seats: deque[Seat] = field(default_factory=deque)
    _fresh_reporters: dict[str, deque[SimUser]] = field(default_factory=dict)
    _cases: int = 0

    def user(self, user_id: int, name: str = "User", language: str | None = "en") -> SimUser:
        self.accounts.add(user_id)
        return self.standin.user(user_id, name, language)

    async def settle(self) -> None:
        await self.local.settle()

    def transaction(self) -> _Unit:
        return _Unit(self.local)

    async def type(self, user: SimUser, text: str) -> None:
        if text.startswith("/"):
            command, _sep, args = text.partition(" ")
            user.send_command(command, args)
        else:
            user.send_text(text)
        await self.settle()

    async def tap(self, user: SimUser, text: Text | str, language: str | None = None) -> None:
        user.press(text if isinstance(text, str) else label(text, language or user.language_code or "en"))
        await self.settle()

    # Parties ----------------------------------------------------------------------------------------------------

    async def type_all(self, user: SimUser, texts: list[str]) -> None:
        """Send several messages at once, then wait: they are handled in order, as one chat's are."""
        for text in texts:
            command, _sep, args = text.partition(" ")
            user.send_command(command, args) if text.startswith("/") else user.send_text(text)
        await self.settle()

    async def draft(self, mediator: SimUser, title: str, parties: list[str]) -> None:
        """A mediator names a case, gives it two issues and its parties: the case menu is on screen."""
        await self.type_all(mediator, ["/newcase", title, "Land", "Water"])
        await self.tap(mediator, _("Done adding issues"))
        await self.type_all(mediator, parties)
        await self.tap(mediator, _("Done adding parties"))

    async def new_case(self, parties: list[str], title: str = "Valley", *, scale: bool = True) -> dict[str, str]:
        """The mediator opens a case (with ``scale``, the first issue is answered in hectares) and its invitations:
        party -> token."""
        mediator = self.user(MEDIATOR_ID, "Mediator")
        self._cases += 1
        await self.draft(mediator, f"{title} {self._cases}", parties)
        if scale:
            await self.tap(mediator, _("🧩 Issues and options"))
            await self.tap(mediator, "1")
            await self.tap(mediator, _("🔢 Answers in numbers"))
            await self.type(mediator, "ha\n0\n100")
            await self.tap(mediator, _("⬅️ Back to the issues"))
            await self.tap(mediator, _("⬅️ Back to the case"))
        before = len(self.messages(mediator))
        await self.tap(mediator, _("✅ Create the invitations"))
        sent = "\n".join(message.text for message in self.messages(mediator)[before:])
        tokens = dict(_INVITE.findall(sent))
        short_id = re.findall(r"/status (\w+)", sent)[-1]
        async with self.transaction() as tx:
            case_id = next(info.id for info in await tx.cases_of(MEDIATOR_ID) if info.short_id == short_id)
            self.issue_ids[case_id] = [issue.id for issue in await tx.issues(case_id)]
        self.short_id = self.short_id or short_id
        return tokens

    async def free_tokens(self, count: int) -> list[str]:
        """Invite tokens of ``count`` free seats of one case (the pool only ever holds one case's)."""
        if len(self.tokens) < count:
            self.tokens.clear()
            labels = [f"H{self._cases + 1}-{number}" for number in range(1, PARTIES_PER_CASE + 1)]
            tokens = await self.new_case(labels, scale=False)  # the range step is answered in the canary case
            self.tokens.extend(tokens[name] for name in labels)
        return [self.tokens.popleft() for _ in range(count)]

    async def free_token(self) -> str:
        return (await self.free_tokens(1))[0]

    def party_account(self, name: str = "Hostile", language: str = PARTY_LANGUAGE) -> SimUser:
        self._next_party += 1
        return self.user(self._next_party - 1, name, language)

    def reporter_account(self, language: str = "en") -> SimUser:
        self._next_reporter += 1
        return self.user(self._next_reporter - 1, "Reporter", language)

    async def new_seat(self) -> Seat:
        """A new account that took a free seat, chose French and consented: it is at the first position.

        Accounts join a few at a time, as people do, side by side."""
        if not self._fresh_seats:
            users = [self.party_account() for _ in range(SEATS_AT_ONCE)]
            tokens = await self.free_tokens(len(users))
            await self._all(users, lambda user, token: user.send_command("/start", token), tokens)
            await self._all(users, lambda user, _token: user.press(LANGUAGES[PARTY_LANGUAGE]), tokens)
            await self._all(users, lambda user, _token: user.press(label(_("I agree"), PARTY_LANGUAGE)), tokens)
            self._fresh_seats.extend([Seat(user, *(await _seat_of(self, user))) for user in users])
        return self._fresh_seats.popleft()

    async def _all(self, users: list[SimUser], act: Callable[[SimUser, Any], object], arguments: list[Any]) -> None:
        for user, argument in zip(users, arguments, strict=True):
            act(user, argument)
        await self.settle()

    async def caucus_step(self, seat: Seat) -> CaucusStep:
        async with self.transaction() as tx:
            return (await tx.load_caucus(seat.seat_id)).step

    async def seat_at(self, step: CaucusStep) -> Seat:
        """A seat at ``step`` of the first issue: one a station left behind on the way, else a new one."""
        order = [CaucusStep.POSITION, CaucusStep.INTEREST_CATEGORIES, CaucusStep.INTEREST_WORDS, CaucusStep.RANGE_LOW]
        for seat in list(self.spare):
            current = await self.caucus_step(seat)
            if current in order and order.index(current) <= order.index(step):
                self.spare.remove(seat)
                return await self.advance(seat, step)
        return await self.advance(await self.new_seat(), step)

    async def advance(self, seat: Seat, step: CaucusStep) -> Seat:
        while (current := await self.caucus_step(seat)) is not step:
            if current is CaucusStep.POSITION:
                await self.type(seat.user, "notre position")
            elif current is CaucusStep.INTEREST_CATEGORIES:
                await self.tap(seat.user, CATEGORY_NAMES[InterestCategory.LAND])
                await self.tap(seat.user, _("Done"))
            elif current is CaucusStep.INTEREST_WORDS:
                await self.type(seat.user, "nos mots")
            else:
                raise AssertionError(f"cannot bring a seat from {current} to {step}")
        return seat

    # Grievances -------------------------------------------------------------------------------------------------

    async def reporter_at(self, step: GrievanceStep, language: str) -> SimUser:
        """A new account that started a report (anonymous, about water), at the place or the description."""
        waiting = self._fresh_reporters.setdefault(language, deque())
        if not waiting:
            users = [self.reporter_account(language) for _ in range(SEATS_AT_ONCE)]
            steps = [LANGUAGES[language], label(_("🕶 Anonymously"), language),
                     label(GRIEVANCE_CATEGORY_NAMES["water"], language)]
            await self._all(users, lambda user, _none: user.send_command("/grievance"), [None] * len(users))
            for button in steps:
                await self._all(users, lambda user, text: user.press(text), [button] * len(users))
            waiting.extend(users)
        user = waiting.popleft()
        if step is GrievanceStep.DESCRIPTION:
            await self.tap(user, REGIONS[0])
        return user

    # Observations -----------------------------------------------------------------------------------------------

    def messages(self, user: SimUser) -> list[ChatMessage]:
        return self.standin.messages(user.user_id)

    def last_own_message(self, user: SimUser) -> int:
        """The id of the latest message this account sent (a text or a command), to edit it: one still in the chat,
        else one the bot deleted once it was saved (the edit was made just before)."""
        events = self.standin.events(user.user_id)
        deleted = {event.message_id for event in events if event.kind == "bot_delete_user"}
        sent = [event.message_id for event in events if event.kind in {"user_text", "user_command"}]
        live = [message_id for message_id in sent if message_id not in deleted]
        found = (live or sent)[-1]
        assert found is not None
        return found

    def latest_bot_message(self, user: SimUser) -> int:
        live = [message for message in self.messages(user) if not message.deleted]
        with_buttons = [message for message in live if message.buttons]
        return (with_buttons or live)[-1].message_id


class _Unit:
    """One transaction without an update id, for reading what the bot stored."""

    def __init__(self, local: LocalBot) -> None:
        self._context = local.bot.store.transaction()

    async def __aenter__(self) -> Transaction:
        tx = await self._context.__aenter__()
        assert tx is not None
        return tx

    async def __aexit__(self, *exc: object) -> None:
        await self._context.__aexit__(*exc)


def _canary(kind: str) -> str:
    return f"CANARY{kind}{secrets.token_hex(6).upper()}"


async def _plant_canaries(world: World) -> None:
    """Secrets hostile accounts must never receive: another party's answers and note, a mediator's other case and
    its invitations, someone else's grievance."""
    tokens = await world.new_case(["Victim", *(f"H1-{number}" for number in range(1, PARTIES_PER_CASE))])
    world.tokens.extend(tokens[f"H1-{number}"] for number in range(1, PARTIES_PER_CASE))
    victim = world.user(VICTIM, "Victim", PARTY_LANGUAGE)
    await join(world.local, victim, tokens["Victim"], PARTY_LANGUAGE)
    position, words, note = _canary("POSITION"), _canary("WORDS"), _canary("NOTE")
    await world.type(victim, f"Notre position {position}")
    await world.tap(victim, CATEGORY_NAMES[InterestCategory.LIVELIHOOD])
    await world.tap(victim, _("Done"))
    await world.type_all(victim, [f"Nos raisons {words}", f"/note {note}"])
    party_secrets = frozenset({VICTIM, MEDIATOR_ID})
    world.canaries.update(dict.fromkeys([position, words, note], party_secrets))

    title = _canary("CASE")
    secret_tokens = await world.new_case(["North bank", "South bank"], title=title, scale=False)
    world.canaries.update(dict.fromkeys([title, *secret_tokens.values()], frozenset({MEDIATOR_ID})))

    reporter = world.user(GRIEVANCE_VICTIM, "Reporter")
    report = _canary("GRIEVANCE")
    await file_grievance(world.local, reporter, GrievanceScript(
        language="en", category="water", region=REGIONS[1], description=(f"The pump is broken {report}",),
        urgency=Urgency.ROUTINE))
    world.canaries[report] = frozenset({GRIEVANCE_VICTIM})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, figures: dict[str, str]) -> AsyncIterator[World]:
    watch = LogWatch()
    folder: Path = tmp_path_factory.mktemp("hostile")
    with watch.running(), BotApiStandIn() as standin:
        settings = Settings(
            token="1:unused", master_key=MasterKey.generate(), database_url=default_sqlite_url(folder),
            mediator_ids=MEDIATORS, grievance_regions=REGIONS,
            messages_per_second=1000.0,  # the rate limit has its own tests; here it would only make the suite slow
        )
        watch.notice([settings])
        local = LocalBot(standin, settings)
        await local.start()
        created = World(standin, local, settings, watch)
        try:
            await _plant_canaries(created)
            created.stations = {station.name: station for station in (
                CaucusStation(created, "position", CaucusStep.POSITION),
                CaucusStation(created, "interest words", CaucusStep.INTEREST_WORDS),
                CaucusStation(created, "range", CaucusStep.RANGE_LOW),
                NoteStation(created),
                DraftStation(created, "case title", CaseStage.DRAFT_TITLE, created.user(TITLE_MEDIATOR, "M", "es")),
                DraftStation(created, "issue", CaseStage.DRAFT_ISSUES, created.user(ISSUE_MEDIATOR, "M", "ar")),
                OptionStation(created, created.user(OPTION_MEDIATOR, "M", "en")),
                GrievanceStation(created, "grievance description", GrievanceStep.DESCRIPTION, "ru"),
                GrievanceStation(created, "grievance place", GrievanceStep.REGION, "ar"),
            )}
            yield created
        finally:
            await created.local.stop()
    found = created.problems
    figures["hostile-input suite"] = (
        f"{created.hostile_updates} hostile updates: "
        f"{sum('went wrong' in p or p.startswith('log: ') for p in found)} crashes, "
        f"{sum('CANARY' in p or p.startswith('log holds') for p in found)} leaks, "
        f"{sum('parse entities' in p for p in found)} \"can't parse entities\" errors")


STATIONS = ["position", "interest words", "range", "note to the mediator", "case title", "issue", "option",
            "grievance description", "grievance place"]
# Edits, button presses and files are never read as answers, whatever the step: they go to one step of each flow.
ONE_STEP_PER_FLOW = ["position", "issue", "grievance description"]


# What every test must leave true ------------------------------------------------------------------------------


def _balanced_isolates(text: str) -> bool:
    depth = 0
    for char in text:
        if char in _ISOLATE_OPENERS:
            depth += 1
        elif char == _PDI:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _without_surrogates(text: str) -> str:
    return "".join(char for char in text if not 0xD800 <= ord(char) <= 0xDFFF)


def _typed_needles(world: World) -> dict[str, dict[str, bytes]]:
    """Everything typed so far (8 characters or more, with a letter), as the log scanner looks for it."""
    events = world.standin.events()
    for event in events[world.typed_events:]:
        if event.kind in {"user_text", "user_command"}:
            typed = event.text if event.kind == "user_text" else event.text.partition(" ")[2]
            text = _without_surrogates(typed).strip()
            if len(text) >= 8 and any(char.isalpha() for char in text):
                world.typed[f"typed text {text[:40]!r}"] = text_forms(text)
    world.typed_events = len(events)
    return world.typed


@dataclass(frozen=True)
class Mark:
    """A point in the run: how many calls, chat events and characters of log there were."""

    calls: int
    events: int
    log: int


def mark(world: World) -> Mark:
    return Mark(len(world.standin.calls()), len(world.standin.events()), len(world.log.buffer.getvalue()))


def _received(world: World, chat_id: int, message_id: int | None, text: str) -> str:
    """What a chat received: the text, and the words of a document."""
    message = next((m for m in world.standin.messages(chat_id) if m.message_id == message_id), None)
    if message is None or message.document is None:
        return text
    return text + "\n" + message.document[1].decode("utf-8", "replace")


def problems(world: World, since: Mark) -> list[str]:
    """What went wrong since ``since``: refused or unsafe calls, crashes, leaks."""
    found: list[str] = []
    for call in world.standin.calls()[since.calls:]:
        if not call.ok and not any(allowed(call) for allowed in world.allowed_failures):
            found.append(f"{call.method} refused: {call.description}")
        if call.method in {"sendMessage", "editMessageText"} and call.ok:
            preview = call.params.get("link_preview_options") or {}
            if not (preview.get("is_disabled") or call.params.get("disable_web_page_preview")):
                found.append(f"{call.method} without link previews turned off")
    failure_texts = {says(FAILED, language) for language in LANGUAGES}
    for event in world.standin.events()[since.events:]:
        if not event.kind.startswith("bot_") or event.kind == "bot_delete":
            continue
        chat_id = event.chat_id
        if plain(event.text).strip() in failure_texts:
            found.append(f"chat {chat_id} was told something went wrong")
        if _OVERRIDES.search(event.text) or not _balanced_isolates(event.text):
            found.append(f"chat {chat_id} got a bidi override or an unbalanced isolate")
        received = _received(world, chat_id, event.message_id, event.text)
        found += [f"chat {chat_id} received {canary}" for canary, owners in world.canaries.items()
                  if chat_id not in owners and canary in received]
    logged = world.log.buffer.getvalue()[since.log:]
    found += [f"log: {line}" for line in logged.splitlines() if " ERROR " in line or " CRITICAL " in line]
    needles = {f"canary {canary}": text_forms(canary) for canary in world.canaries} | _typed_needles(world)
    found += [f"log holds {leak}" for leak in [*world.log.scan(logged), *find_leaks({"the log": logged.encode()},
                                                                                   needles)]]
    return found


@pytest.fixture(autouse=True)
def audited(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test on the shared bot: every call accepted with previews off, nothing crashed, nothing leaked."""
    if "world" not in request.fixturenames:
        yield
        return
    world: World = request.getfixturevalue("world")
    start = mark(world)
    world.allowed_failures = []
    yield
    found = problems(world, start)
    world.problems += found
    assert found == []


# Sending and checking ---------------------------------------------------------------------------------------


async def _batch(world: World, station: Station, user: SimUser, sends: list[tuple[Callable[[], int], Text | None]]
                 ) -> None:
    """Send everything at once (as a flood would); each gets its reply in order, or a pop-up when ``None`` (a
    button), and nothing changes."""
    before_state = await station.snapshot()
    before = len(world.messages(user))
    update_ids = [send() for send, _expected in sends]
    world.hostile_updates += len(sends)
    await world.settle()
    replies = [seen(message) for message in world.messages(user)[before:]]
    expected = [says(reply, station.language) for _send, reply in sends if reply is not None]
    assert replies == expected
    for update_id, (_send, reply) in zip(update_ids, sends, strict=True):
        if reply is None:
            assert world.standin.callback_answer(update_id) == pop_up(STALE, station.language)
    assert await station.snapshot() == before_state


async def _send_one(world: World, station: Station, variant: Variant) -> None:
    """Type ``variant`` at the station: refused with its reply and nothing changed, or stored exactly as cleaned."""
    user = await station.ready()
    stored = await station.stored_texts()
    refusal = station.refusal(variant, stored)
    if refusal is not None:
        await _batch(world, station, user, [(lambda: user.send_text(variant.raw), refusal)])
        return
    before = len(world.messages(user))
    sent_at = len(world.standin.events())
    user.send_text(variant.raw)
    world.hostile_updates += 1
    await world.settle()
    replies = world.messages(user)[before:]
    assert replies, "no reply"
    assert seen(replies[0]) not in {says(text, station.language) for text in INVALID_INPUT.values()}
    assert variant.keeps is not None
    assert station.holds(await station.stored_texts(), variant.keeps)
    quotes = _quoted_safely(world, variant.keeps, sent_at)
    assert quotes or not station.quotes_back


def _quoted_safely(world: World, text: str, since_event: int) -> int:
    """Wherever the bot quoted ``text`` since then, it did so escaped and inside its own isolates; how often."""
    quoted = f"{_FSI}{html.escape(text, quote=False)}{_PDI}"
    quotes = 0
    for event in world.standin.events()[since_event:]:
        if event.kind not in {"bot_message", "bot_edit"} or text not in event.text:
            continue
        message = next(m for m in world.standin.messages(event.chat_id) if m.message_id == event.message_id)
        assert quoted in (message.html or ""), f"quoted without escaping or isolation in chat {event.chat_id}"
        quotes += 1
    return quotes


@pytest.mark.parametrize("station_name", STATIONS)
@pytest.mark.parametrize("item", list(TEXT_ITEMS))
async def test_hostile_text(world: World, item: str, station_name: str) -> None:
    """Sent as a message (and, at one step of each flow, as an edit of an earlier message and as button data),
    each variant of the item gets a clear reply in the sender's language and changes nothing, or, when cleaning
    leaves a fair answer, is stored exactly as cleaned and quoted back escaped; an edit is never read, forged
    button data is refused."""
    station = world.stations[station_name]
    user = await station.ready()
    variants = TEXT_ITEMS[item]
    stored = await station.stored_texts()
    earlier = world.last_own_message(user)
    on_screen = world.latest_bot_message(user)
    sends: list[tuple[Callable[[], int], Text | None]] = []
    for variant in variants if station_name in ONE_STEP_PER_FLOW else ():
        sends.append((lambda raw=variant.raw: user.edit_text(earlier, raw), EDITED))
        sends.append((lambda raw=variant.raw: user.press_data(button_data(raw), on_screen), None))
    refused = [variant for variant in variants if station.refusal(variant, stored) is not None]
    sends += [(lambda raw=variant.raw: user.send_text(raw), station.refusal(variant, stored)) for variant in refused]
    await _batch(world, station, user, sends)
    for variant in variants:
        if variant not in refused:
            await _send_one(world, station, variant)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database (skipped when no server answers, failed under CI=true)."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=2)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {type(error).__name__}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL backend must be tested, not skipped)")
        pytest.skip(reason)
    name = f"caucus_test_{secrets.token_hex(8)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        await upgrade_async(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.postgres
async def test_nul_and_lone_surrogates_on_postgresql(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL refuses NUL in text and UTF-8 cannot carry a lone surrogate: typed as answers, as command
    arguments or as button data, they still get the usual replies there, and nothing fails."""
    with BotApiStandIn() as standin:
        settings = Settings(token="1:unused", master_key=MasterKey.generate(), database_url=postgres_url,
                            mediator_ids=frozenset({MEDIATOR_ID}))
        local = LocalBot(standin, settings)
        await local.start()
        try:
            mediator = standin.user(MEDIATOR_ID, "Mediator", "en")
            mediator.send_command("/newcase")
            await local.settle()
            on_screen = mediator.last_message()
            assert on_screen is not None
            before = len(standin.messages(MEDIATOR_ID))
            sends = [lambda: mediator.send_text("\x00\ud800"), lambda: mediator.edit_text(1, "\x00"),
                     lambda: mediator.send_command("/status", "\x00\ud800"),
                     lambda: mediator.send_command("/start", "\x00token\ud800"),
                     lambda: mediator.send_command("/track", "\x00"),
                     lambda: mediator.press_data("\x00", on_screen.message_id),
                     lambda: mediator.press_data("\ud800", on_screen.message_id),
                     lambda: mediator.send_text("Wa\x00ter \ud800rights")]
            for send in sends:
                send()
            await local.settle()
            replies = [seen(m) for m in standin.messages(MEDIATOR_ID)[before:]]
            assert replies[:5] == [says(text, "en") for text in (EMPTY, EDITED, NO_SUCH_CASE, INVITE_REFUSED,
                                                                  NO_SUCH_REPORT)]
            async with local.bot.store.transaction() as tx:
                assert tx is not None
                assert (await tx.cases_of(MEDIATOR_ID))[0].title == "Water rights"
            assert [call.description for call in standin.calls() if not call.ok] == []
            assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
        finally:
            await local.stop()


# The other items, in the order of SECURITY.md --------------------------------------------------------------------


async def test_forged_or_stale_callback_data(world: World) -> None:
    """Buttons copied from another party's or the mediator's chat, an old button of one's own, and made-up data
    are all refused with the same pop-up; nobody's state changes."""
    seat = await world.seat_at(CaucusStep.POSITION)
    user = seat.user
    victim = world.standin.user(VICTIM)
    mediator = world.standin.user(MEDIATOR_ID)
    copied = [button.callback_data for someone in (victim, mediator) for message in world.standin.messages(
        someone.user_id) for row in message.buttons for button in row if button.callback_data][-12:]
    language_screen = next((m for m in world.messages(user) if LANGUAGES[PARTY_LANGUAGE] in m.button_texts()
                            and not m.deleted), None)
    made_up = ["x", "A" * 64, "seat:consent", "consent", "../../etc/passwd", "' OR '1'='1' --", "\x00", "\ud800",
               "🙂" * 16, "0", "-1", "null", "{}", copied[0][:-1] + "A" if copied else "y"]
    on_screen = world.latest_bot_message(user)
    station = CaucusStation(world, "forged", CaucusStep.POSITION)
    station.seat = seat
    watched = [CaucusStation(world, "victim", CaucusStep.POSITION)]
    async with world.transaction() as tx:
        victim_seat = (await tx.user(VICTIM)).active_id
        assert victim_seat is not None
        watched[0].seat = Seat(victim, victim_seat, seat.case_id)
        mediator_cases = repr(await tx.cases_of(MEDIATOR_ID))
    victim_before = await watched[0].snapshot()
    sends: list[tuple[Callable[[], int], Text | None]] = [
        (lambda data=data: user.press_data(data, on_screen), None) for data in [*copied, *made_up]]
    if language_screen is not None:  # an old button of one's own
        old = language_screen.message_id
        sends.append((lambda: user.press(LANGUAGES[PARTY_LANGUAGE], message_id=old), None))
    await _batch(world, station, user, sends)
    assert await watched[0].snapshot() == victim_before
    async with world.transaction() as tx:
        assert repr(await tx.cases_of(MEDIATOR_ID)) == mediator_cases
    world.spare.append(seat)


async def test_double_taps_within_milliseconds(world: World) -> None:
    """Two taps before the bot answered the first act once: one language, one consent, a category chosen (not
    chosen and unchosen), one set of invitations, one report; the second tap gets the stale-button pop-up."""
    user = world.party_account()
    await world.type(user, f"/start {await world.free_token()}")
    first, second = user.press(LANGUAGES[PARTY_LANGUAGE]), user.press(LANGUAGES[PARTY_LANGUAGE])
    await world.settle()
    agree, decline = user.press(label(_("I agree"), PARTY_LANGUAGE)), user.press(label(_("I do not agree"),
                                                                                       PARTY_LANGUAGE))
    await world.settle()
    async with world.transaction() as tx:
        state = await tx.user(user.user_id)
        assert state.active_id is not None
        conversation = await tx.load_caucus(state.active_id)
        case_id = await tx.seat_case_id(state.active_id)
    assert conversation.step is CaucusStep.POSITION
    for late in (second, decline):
        assert world.standin.callback_answer(late) == pop_up(STALE, PARTY_LANGUAGE)
    assert world.standin.callback_answer(first) is None
    assert world.standin.callback_answer(agree) is None
    seat = Seat(user, state.active_id, case_id)
    await world.advance(seat, CaucusStep.INTEREST_CATEGORIES)
    land = label(CATEGORY_NAMES[InterestCategory.LAND], PARTY_LANGUAGE)
    user.press(land)
    user.press(land)
    await world.settle()
    async with world.transaction() as tx:
        interests = (await tx.load_caucus(seat.seat_id)).answers.interests[world.issue_ids[case_id][0]]
    assert interests.categories == [InterestCategory.LAND]
    world.spare.append(seat)

    mediator = world.user(TAP_MEDIATOR, "Mediator")
    await world.draft(mediator, "Double taps", ["East", "West"])
    create = label(_("✅ Create the invitations"), "en")
    before = len(world.messages(mediator))
    taps = [mediator.press(create), mediator.press(create)]
    await world.settle()
    invitations = [m for m in world.messages(mediator)[before:] if "https://t.me/" in m.text]
    assert len(invitations) == 2
    assert world.standin.callback_answer(taps[1]) == pop_up(STALE, "en")

    reporter = world.reporter_account()
    actions = grievance_actions(reporter, GrievanceScript(language="en", category="land", region=REGIONS[0],
                                                          description=("The fence blocks the road",),
                                                          urgency=Urgency.ROUTINE))
    for action in actions[:-1]:
        action()
        await world.settle()
    taps = [actions[-1](), actions[-1]()]
    await world.settle()
    async with world.transaction() as tx:
        assert len(await tx.own_grievances(reporter.user_id)) == 1
    assert world.standin.callback_answer(taps[1]) == pop_up(STALE, "en")  # type: ignore[arg-type]


async def test_replayed_or_shared_invite_links(world: World) -> None:
    """A link shared with a second account opens the seat for the first only; a link with something added, cut or
    changed opens nothing; each refusal is the same sentence, and the seat stays free for its owner."""
    token = await world.free_token()
    first, second = world.party_account("First", "en"), world.party_account("Second", "en")
    first.send_command("/start", token)
    second.send_command("/start", token)
    await world.settle()
    async with world.transaction() as tx:
        seated = [user for user in (first, second) if (await tx.user(user.user_id)).active_kind == "seat"]
    assert len(seated) == 1
    refused = second if seated == [first] else first
    assert [seen(m) for m in world.messages(refused)] == [says(INVITE_REFUSED, "en")]

    free = await world.free_token()
    stranger = world.user(STRANGER, "Stranger", "en")
    forms = [free + "\u200b", free.upper() if free.upper() != free else free.lower(), free[:-1], "\x00" + free,
             free + "\ud800", "\u202e" + free, free + free, "' OR '1'='1", "../" * 20, "A" * 64, "A" * 65,
             "grievance\u200b", "<b>" + free + "</b>"]
    before = len(world.messages(stranger))
    for form in forms:
        stranger.send_command("/start", form)
    world.hostile_updates += len(forms)
    await world.settle()
    assert [seen(m) for m in world.messages(stranger)[before:]] == [says(INVITE_REFUSED, "en")] * len(forms)
    owner = world.party_account("Owner", "en")
    await world.type(owner, f"/start {free}")
    assert LANGUAGES[PARTY_LANGUAGE] in owner.buttons()
    world.spare.append(Seat(owner, *(await _seat_of(world, owner))))


async def _seat_of(world: World, user: SimUser) -> tuple[str, str]:
    async with world.transaction() as tx:
        seat_id = (await tx.user(user.user_id)).active_id
        assert seat_id is not None
        return seat_id, await tx.seat_case_id(seat_id)


async def test_one_account_trying_to_take_two_seats(world: World) -> None:
    """Two links opened by one account within milliseconds: the first seat only; the second link is refused
    with the usual sentence and stays free for its own party."""
    user = world.party_account("Greedy", "en")
    one, two = await world.free_tokens(2)
    user.send_command("/start", one)
    user.send_command("/start", two)
    await world.settle()
    assert seen(user.last_message()) == says(INVITE_REFUSED, "en")  # type: ignore[arg-type]
    rightful = world.party_account("Rightful", "en")
    await world.type(rightful, f"/start {two}")
    assert LANGUAGES[PARTY_LANGUAGE] in rightful.buttons()
    seat_id, _case_id = await _seat_of(world, user)
    async with world.transaction() as tx:
        assert (await tx.load_caucus(seat_id)).step is CaucusStep.LANGUAGE


async def test_non_members_calling_mediator_commands(world: World) -> None:
    """A party, a stranger and a mediator of other cases asking for the canary case's status, summary or menu get
    the reply they would get for a case that does not exist, and none of its content."""
    short_id = world.short_id
    seat = await world.seat_at(CaucusStep.POSITION)
    stranger = world.user(STRANGER, "Stranger", "en")
    other_mediator = world.user(ARGS_MEDIATOR, "Other mediator", "en")
    for user, language in ((seat.user, PARTY_LANGUAGE), (stranger, "en")):
        before = len(world.messages(user))
        for command in ("/status", "/summary", "/cases", "/newcase"):
            user.send_command(command, short_id)
        user.send_command("/grievances", short_id)
        await world.settle()
        replies = [seen(m) for m in world.messages(user)[before:]]
        assert replies == [says(MEDIATORS_ONLY, language)] * 4 + [says(UNKNOWN_COMMAND, language)]
    before = len(world.messages(other_mediator))
    for command in ("/status", "/summary"):
        other_mediator.send_command(command, short_id)
        other_mediator.send_command(command, "zzzzzz")
    await world.settle()
    replies = [seen(m) for m in world.messages(other_mediator)[before:]]
    assert replies == [says(NO_SUCH_CASE, "en")] * 4
    world.spare.append(seat)


async def test_edited_messages(world: World) -> None:
    """Editing a command (an invite link into another, /help into /forget, /newcase into /status) is not read:
    the same sentence each time, and nothing changes. (Edited text answers are in the text table.)"""
    seat = await world.seat_at(CaucusStep.POSITION)
    user = seat.user
    station = CaucusStation(world, "edits", CaucusStep.POSITION)
    station.seat = seat
    start_message = next(event.message_id for event in world.standin.events(user.user_id)
                         if event.kind == "user_command" and event.text.startswith("/start"))
    await world.type(user, "/help")
    help_message = world.last_own_message(user)
    other = await world.free_token()
    sends: list[tuple[Callable[[], int], Text | None]] = [
        (lambda: user.edit_text(start_message, f"/start {other}"), EDITED),
        (lambda: user.edit_text(help_message, "/forget"), EDITED),
        (lambda: user.edit_text(help_message, "/note secret"), EDITED),
    ]
    await _batch(world, station, user, sends)
    world.spare.append(seat)


@pytest.mark.parametrize("station_name", ONE_STEP_PER_FLOW)
async def test_photos_documents_locations_contacts_voice_where_not_expected(world: World, station_name: str) -> None:
    """Where text is asked for (a step of each flow), a sticker, a photo, a document, a location, a contact or a
    voice message each get "I can only read text messages here" and change nothing; no file is even fetched."""
    station = world.stations[station_name]
    user = await station.ready()
    before_state = await station.snapshot()
    before = len(world.messages(user))
    sends = [user.send_sticker, user.send_photo, user.send_document, user.send_location, user.send_contact,
             user.send_voice]
    for send in sends:
        send()
    world.hostile_updates += len(sends)
    await world.settle()
    replies = [seen(m) for m in world.messages(user)[before:]]
    assert replies.count(says(NOT_TEXT, station.language)) == len(sends)
    assert replies[0] == says(NOT_TEXT, station.language)
    assert await station.snapshot() == before_state
    assert world.standin.calls("getFile") == []


async def test_floods_of_messages(world: World) -> None:
    """A burst of 60 hostile messages, edits and unknown commands from one account: each is answered, in order, nothing
    changes, and another person writing in the middle of it is answered too."""
    station = world.stations["position"]
    user = await station.ready()
    earlier = world.last_own_message(user)
    bystander = world.user(STRANGER, "Stranger", "en")
    pattern: list[tuple[Callable[[], int], Text | None]] = [
        (lambda: user.send_text(" \u200b "), EMPTY),
        (lambda: user.send_text("x" * 4096), invalid_input("too_long", {"limit": MAX_ANSWER_CHARS})),
        (lambda: user.edit_text(earlier, "<b>flood</b>"), EDITED),
        (lambda: user.send_command("/frobnicate"), UNKNOWN_COMMAND),
        (lambda: user.send_text("\x00\ud800"), EMPTY),
    ]
    flood = pattern * 12
    flood.insert(30, (lambda: bystander.send_command("/privacy"), None))  # someone else, mid-flood
    before = len(world.messages(bystander))
    before_state = await station.snapshot()
    before_own = len(world.messages(user))
    update_ids = [send() for send, _reply in flood]
    world.hostile_updates += len(update_ids)
    await world.settle()
    replies = [seen(m) for m in world.messages(user)[before_own:]]
    assert replies == [says(reply, PARTY_LANGUAGE) for _send, reply in flood if reply is not None]
    assert await station.snapshot() == before_state
    assert len(world.messages(bystander)) > before


async def test_the_bot_added_to_a_group(world: World) -> None:
    """Added to a group (or a channel), the bot leaves at once and says nothing there, whatever is written there:
    commands, invite links or text; no seat is taken."""
    token = await world.free_token()
    bot_user = {"id": world.standin.bot_id, "is_bot": True, "first_name": "Caucus", "username": world.standin.username}
    someone = {"id": STRANGER, "is_bot": False, "first_name": "Someone"}
    now = int(time.time())
    group = {"id": -100500, "type": "supergroup", "title": "Valley"}
    channel = {"id": -100600, "type": "channel", "title": "News"}
    world.groups.update({group["id"], channel["id"]})
    status = f"/status@{world.standin.username}"
    # Messages queued before the bot left make it leave again; Telegram then says it is no longer a member.
    world.allowed_failures.append(lambda call: call.method == "leaveChat"
                                  and "not a member" in (call.description or ""))
    updates: list[dict[str, Any]] = [
        {"my_chat_member": {"chat": group, "from": someone, "date": now,
                            "old_chat_member": {"status": "left", "user": bot_user},
                            "new_chat_member": {"status": "member", "user": bot_user}}},
        {"message": {"message_id": 1, "date": now, "chat": group, "from": someone, "text": f"/start {token}",
                     "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}},
        {"message": {"message_id": 2, "date": now, "chat": group, "from": someone, "text": f"{status} {world.short_id}",
                     "entities": [{"type": "bot_command", "offset": 0, "length": len(status)}]}},
        {"message": {"message_id": 3, "date": now, "chat": group, "from": someone, "text": "<b>hello</b> bot"}},
        {"channel_post": {"message_id": 1, "date": now, "chat": channel, "text": "/help"}},
    ]
    for update in updates:
        world.standin.enqueue_update(update)
    world.hostile_updates += len(updates)
    await world.settle()
    assert world.standin.unconfirmed_count() == 0
    left = [call.params.get("chat_id") for call in world.standin.calls("leaveChat") if call.ok]
    assert {group["id"], channel["id"]} <= set(left)
    for chat in (group, channel):
        assert world.standin.messages(chat["id"]) == []
    owner = world.party_account("Owner", "en")  # the group's /start took nothing: the seat is still free
    await world.type(owner, f"/start {token}")
    assert LANGUAGES[PARTY_LANGUAGE] in owner.buttons()


async def test_the_same_update_delivered_three_times(world: World) -> None:
    """An invite, a typed answer and a button, each delivered three times: one seat, one join notice to the
    mediator, one receipt, one category chosen."""
    user = world.party_account("Thrice")
    mediator = world.standin.user(MEDIATOR_ID)
    notices = len(world.messages(mediator))

    async def thrice(update_id: int) -> None:
        for _delivery in range(2):
            await world.settle()
            world.standin.redeliver(update_id)
        await world.settle()

    await thrice(user.send_command("/start", await world.free_token()))
    assert len(world.messages(mediator)) == notices + 1
    await world.tap(user, LANGUAGES[PARTY_LANGUAGE])
    await world.tap(user, _("I agree"))
    before = len(world.messages(user))
    await thrice(user.send_text("Notre position, une seule fois"))
    assert len(world.messages(user)) - before == 2  # the receipt and the next question
    seat = Seat(user, *(await _seat_of(world, user)))
    await thrice(user.press(label(CATEGORY_NAMES[InterestCategory.LAND], PARTY_LANGUAGE)))
    async with world.transaction() as tx:
        conversation: CaucusConversation = await tx.load_caucus(seat.seat_id)
    assert conversation.answers.interests[world.issue_ids[seat.case_id][0]].categories == [InterestCategory.LAND]
    assert conversation.answers.positions[world.issue_ids[seat.case_id][0]] == "Notre position, une seule fois"
    world.spare.append(seat)


async def test_a_user_who_blocked_the_bot(world: World) -> None:
    """A party who blocked the bot right after writing gets one delivery attempt, not a retry storm; Telegram's
    "kicked" notice for a private chat is taken quietly; others are served meanwhile; once unblocked, the person
    is answered again."""
    seat = await world.seat_at(CaucusStep.POSITION)
    user = seat.user
    world.allowed_failures.append(lambda call: call.params.get("chat_id") == user.user_id
                                  and "blocked" in (call.description or ""))
    bot_user = {"id": world.standin.bot_id, "is_bot": True, "first_name": "Caucus", "username": world.standin.username}
    user.send_text(" ")
    user.block()
    world.standin.enqueue_update({"my_chat_member": {
        "chat": {"id": user.user_id, "type": "private", "first_name": "Hostile"},
        "from": {"id": user.user_id, "is_bot": False, "first_name": "Hostile"}, "date": int(time.time()),
        "old_chat_member": {"status": "member", "user": bot_user},
        "new_chat_member": {"status": "kicked", "until_date": 0, "user": bot_user}}})
    bystander = world.user(STRANGER, "Stranger", "en")
    before = len(world.messages(bystander))
    bystander.send_command("/help")
    await world.settle()
    await asyncio.sleep(1.2)  # a retry would have come by now
    await world.settle()
    attempts = [call for call in world.standin.calls("sendMessage") if call.params.get("chat_id") == user.user_id
                and not call.ok]
    assert len(attempts) == 1
    assert len(world.messages(bystander)) > before
    assert [call for call in world.standin.calls("leaveChat") if call.params.get("chat_id") == user.user_id] == []
    user.unblock()
    before = len(world.messages(user))
    await world.type(user, "/help")
    assert len(world.messages(user)) > before
    world.spare.append(seat)


async def test_a_backlog_after_hours_of_downtime(world: World) -> None:
    """Updates from 17 mediators queued during three hours of downtime (102, more than one getUpdates batch,
    interleaved between chats): after the restart each is handled once and in order within its chat: every
    draft has its title and its issues in the order typed, and every reply came in order."""
    await world.local.stop()
    hours_ago = int(time.time()) - 3 * 3600
    users = [world.user(user_id, "Mediator", "en") for user_id in BACKLOG_MEDIATORS]
    steps = ["/newcase", "Backlog {n}", "Water {n}", "Land {n}", "Roads {n}", "Fish {n}"]
    for step in steps:
        for number, user in enumerate(users):
            text = step.format(n=number)
            message_id = len(world.standin.events(user.user_id)) + 1000
            message: dict[str, Any] = {"message_id": message_id, "date": hours_ago,
                                       "chat": {"id": user.user_id, "type": "private", "first_name": "Mediator"},
                                       "from": {"id": user.user_id, "is_bot": False, "first_name": "Mediator",
                                                "language_code": "en"}, "text": text}
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
            world.standin.enqueue_update({"message": message})
    world.hostile_updates += len(steps) * len(users)
    world.local = LocalBot(world.standin, world.settings)
    await world.local.start()
    await world.local.settle(within=60)
    assert world.standin.unconfirmed_count() == 0
    async with world.transaction() as tx:
        for number, user in enumerate(users):
            state = await tx.user(user.user_id)
            assert state.active_id is not None
            draft = await tx.load_draft(state.active_id)
            assert draft.title == f"Backlog {number}"
            assert draft.issues == [f"{name} {number}" for name in ("Water", "Land", "Roads", "Fish")]
    for number, user in enumerate(users):
        added = [re.search(r"Issue added: (\w+)", seen(m)) for m in world.messages(user)]
        assert [match.group(1) for match in added if match] == ["Water", "Land", "Roads", "Fish"], number


async def test_unknown_update_types(world: World) -> None:
    """Update kinds the bot never asked for (reactions, inline queries, a kind Telegram may add later) are
    confirmed and ignored: no reply, no error, and the bot goes on answering."""
    someone = {"id": STRANGER, "is_bot": False, "first_name": "Someone"}
    chat = {"id": STRANGER, "type": "private", "first_name": "Someone"}
    now = int(time.time())
    updates: list[dict[str, Any]] = [
        {"message_reaction": {"chat": chat, "message_id": 1, "user": someone, "date": now, "old_reaction": [],
                              "new_reaction": [{"type": "emoji", "emoji": "👍"}]}},
        {"inline_query": {"id": "1", "from": someone, "query": "<b>x</b>", "offset": ""}},
        {"future_update_kind": {"chat": chat, "text": "\ud800"}},
    ]
    stranger = world.user(STRANGER, "Stranger", "en")
    before = len(world.messages(stranger))
    for update in updates:
        world.standin.enqueue_update(update)
    world.hostile_updates += len(updates)
    await world.settle()
    assert world.standin.unconfirmed_count() == 0
    assert len(world.messages(stranger)) == before
    await world.type(stranger, "/help")
    assert len(world.messages(stranger)) == before + 1


async def test_an_update_python_telegram_bot_cannot_parse(tmp_path: Path) -> None:
    """A known kind of update in a shape python-telegram-bot refuses (a poll without a field that a newer Bot API
    requires) is skipped, and the bot goes on answering everyone else."""
    with BotApiStandIn() as standin:
        settings = Settings(token="1:unused", master_key=MasterKey.generate(),
                            database_url=default_sqlite_url(tmp_path), mediator_ids=frozenset({MEDIATOR_ID}))
        local = LocalBot(standin, settings)
        await local.start()
        try:
            standin.enqueue_update({"poll": {"id": "1", "question": "?", "options": [], "total_voter_count": 0,
                                             "is_closed": False, "is_anonymous": True, "type": "regular",
                                             "allows_multiple_answers": False}})
            user = standin.user(STRANGER, "Stranger", "en")
            user.send_command("/help")
            await local.settle(within=2)
            assert standin.messages(STRANGER)
        finally:
            await local.stop()


@pytest.mark.parametrize("item", list(TEXT_ITEMS))
async def test_hostile_text_as_command_arguments(world: World, item: str) -> None:
    """Each variant as the argument of /start, /status and /track gets that command's usual refusal:
    an invitation that cannot be used, a case or a report that is not found."""
    mediator = world.user(ARGS_MEDIATOR, "Other mediator", "en")
    stranger = world.user(STRANGER, "Stranger", "en")
    arguments = [variant.raw[:4000] for variant in TEXT_ITEMS[item] if variant.raw.split()]
    expected: dict[SimUser, list[str]] = {mediator: [], stranger: []}
    before = {user: len(world.messages(user)) for user in expected}
    for argument in arguments:  # without an argument these commands do something else
        for user, command, reply in ((stranger, "/start", INVITE_REFUSED), (mediator, "/status", NO_SUCH_CASE),
                                     (stranger, "/track", NO_SUCH_REPORT)):
            user.send_command(command, argument)
            expected[user].append(says(reply, "en"))
    world.hostile_updates += 3 * len(arguments)
    await world.settle()
    for user, replies in expected.items():
        assert [seen(m) for m in world.messages(user)[before[user]:]] == replies


# Random text --------------------------------------------------------------------------------------------------

_NASTY = ["\x00", "\ud800", "\udfff", "\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200b", "\u200c",
          "\u200d", "\u200e", "\u200f", "\ufeff", "\u3164", "\u2800", "\u0336" * 40, "e\u0301", "é", "\u1100\u1161",
          "<b>", "</i>", "<a href='tg://user?id=1'>", "&", "&amp;", "&#0;", "*", "_", "`", "||", "[x](tg://x)",
          "https://example.org", "tg://resolve?domain=x", "/start abc", "/forget", "\n", " ", "\t", "👩\u200d👧",
          "نريد", "אנחנו", "می\u200cخواهیم", "\x1b[2J", "\r\n", "\u2028", "\U0001f600" * 5]

_RANDOM_TEXT = st.lists(st.one_of(st.text(max_size=30), st.sampled_from(_NASTY)), min_size=1, max_size=12).map(
    "".join) | st.builds(lambda part, count: (part * count)[:4096], st.sampled_from([*_NASTY, "x", "ب "]),
                         st.integers(1, 5000))
_PROPERTY_STATIONS = ["note to the mediator", "issue", "grievance description", "case title"]


async def _random_text_at(world: World, station: Station, raw: str) -> None:
    """One random text at a step: a crash-free reply, calls Telegram accepts, and either nothing changed (a
    refusal the step gives) or the text stored is the cleaned text: normalised, without controls, direction
    overrides or lone surrogates, within the step's limit, and not blank."""
    user = await station.ready()
    start = mark(world)
    before_state = await station.snapshot()
    refusals = station.refusals(await station.stored_texts())
    before = len(world.messages(user))
    user.send_text(raw)
    world.hostile_updates += 1
    await world.settle()
    replies = [seen(m) for m in world.messages(user)[before:]]
    assert replies, "no reply"
    if await station.snapshot() == before_state:
        assert len(replies) == 1
        assert replies[0] in refusals
    else:
        # What arrives: JSON joins an escaped surrogate pair ("\\ud800\\udfff") into one character.
        stored = station.clean(json.loads(json.dumps(raw)))
        assert station.holds(await station.stored_texts(), stored)
        assert stored == unicodedata.normalize("NFC", stored)
        assert not any(unicodedata.category(c) in {"Cs", "Cc"} and c not in "\n\t" for c in stored)
        assert not re.search("[\u202a-\u202e\u2066-\u2069]", stored)
        assert 0 < len(stored) <= station.limit
    assert problems(world, start) == []


async def test_random_text_at_every_step_that_reads_text(world: World) -> None:
    """Property: random text, rich in the hostile categories above, never crashes the bot, never makes Telegram
    refuse a call, and leaves the stored state consistent with the cleaning rules."""
    loop = asyncio.get_running_loop()

    def run(coroutine: Awaitable[None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=120)  # type: ignore[arg-type]

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(station=st.sampled_from(_PROPERTY_STATIONS), raw=_RANDOM_TEXT.filter(bool))
    def property_holds(station: str, raw: str) -> None:
        run(_random_text_at(world, world.stations[station], raw))

    await asyncio.to_thread(property_holds)
