"""Random mediation cases with a canary in everything a person types, played through the real bot.

A plan is drawn from a seeded random generator: issues (plain, with options, or counted in
numbers), parties in several languages, what each answers, which optional questions it
skips, the share level of each item, a note and perhaps a suggestion. Every text typed holds a
unique canary, recorded with who may read it, so a test can look for each one everywhere the
stand-in delivered something. The cases are played with the scenario's building blocks,
everyone acting at once, so several caucuses are open side by side; two people report
grievances too. `run_session` plays it all on a SQLite file with the product's logging at DEBUG
and keeps the database's bytes (running and checkpointed) and the log for the at-rest scans.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import html
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from bot.config import Settings
from bot.i18n import _
from bot.local import LocalBot
from bot.scenario import (
    GrievanceScript,
    IssueAnswer,
    IssueSetup,
    answer_issue,
    create_case,
    file_grievance,
    join,
    set_share_level,
    submit_answers,
    tap,
    type_text,
)
from bot.standin import BotApiStandIn, SimUser
from flows.grievance import Urgency
from flows.model import OPTIONAL_KINDS, InterestCategory, ItemKind, Rating, ShareLevel
from storage.crypto import MasterKey
from storage.db import default_sqlite_url
from tests.security.scanner import LogWatch, database_bytes

__all__ = [
    "GRIEVANCES",
    "GRIEVANCE_CANARIES",
    "TRIAGE_ID",
    "Audience",
    "Canary",
    "CasePlan",
    "PartyPlan",
    "Session",
    "delivered",
    "numbers_in",
    "plan_cases",
    "play_cases",
    "run_session",
    "toasts",
]

LANGUAGES = ("en", "fr", "es")
PHRASES = {
    "en": ("we need the spring open in the dry season", "our herds must reach the river", "the elders must agree"),
    "fr": ("nous avons besoin de la source en saison sèche", "nos troupeaux doivent atteindre la rivière",
           "les anciens doivent être d'accord"),
    "es": ("necesitamos el manantial en la estación seca", "nuestros rebaños deben llegar al río",
           "los ancianos deben estar de acuerdo"),
}
# A Latin and a Cyrillic prefix, so the scans also look for text that is not ASCII.
CANARY_PREFIXES = ("CNRY", "ЖЁЛТ")
# Range values are 7-digit numbers: nothing else a chat receives has one by chance.
RANGE_LOW, RANGE_HIGH = 1_000_000, 9_999_999


class Audience(enum.Enum):
    """Who may read a canary besides the person who typed it."""

    NOBODY = "nobody"  # kept private, or a range
    MEDIATOR = "mediator"  # the case's mediator
    JOINT = "joint"  # the mediator and every party of the case (the joint summary)
    CASE = "case"  # everyone in the case: what the mediator typed (title, issues, options, party names)


_AUDIENCE_OF_LEVEL = {ShareLevel.PRIVATE: Audience.NOBODY, ShareLevel.MEDIATOR: Audience.MEDIATOR,
                      ShareLevel.JOINT: Audience.JOINT}


@dataclass(frozen=True)
class Canary:
    """A unique string planted in one typed text."""

    text: str
    case: int
    author: int  # the Telegram id of who typed it
    what: str  # "position 1", "cbm_needs", "note", "title"...
    audience: Audience


@dataclass
class PartyPlan:
    """One party: who it is, what it types and taps, and the share level it picks for each review item."""

    label: str
    user_id: int
    language: str
    answers: tuple[IssueAnswer, ...]
    ranking: tuple[str, ...]
    points: tuple[str, ...]
    optional: tuple[str | None, ...]
    share: dict[int, ShareLevel]
    note: str
    suggestion: tuple[int, str] | None  # (issue index, text)
    range_values: set[str] = field(default_factory=set)


@dataclass
class CasePlan:
    """One case: its mediator, what the mediator types, and its parties."""

    number: int
    mediator_id: int
    title: str
    issues: list[IssueSetup]
    points: bool
    parties: list[PartyPlan]
    canaries: list[Canary] = field(default_factory=list)
    short_id: str = ""


class _Planner:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.canaries: list[Canary] = []
        self._seen: set[str] = set()

    def canary(self, case: int, author: int, what: str, audience: Audience) -> str:
        while True:
            text = f"{self.rng.choice(CANARY_PREFIXES)}{self.rng.getrandbits(40):010X}"
            if text not in self._seen:
                break
        self._seen.add(text)
        self.canaries.append(Canary(text, case, author, what, audience))
        return text

    def typed(self, case: int, author: int, what: str, level: ShareLevel, language: str) -> str:
        canary = self.canary(case, author, what, _AUDIENCE_OF_LEVEL[level])
        return f"{canary} {self.rng.choice(PHRASES[language])}"

    def level(self) -> ShareLevel:
        return self.rng.choice(list(ShareLevel))

    def range_values(self) -> tuple[str, str, str]:
        low, hope, high = sorted(self.rng.sample(range(RANGE_LOW, RANGE_HIGH), 3))
        return str(low), str(high), str(hope)


def _review_items(issues: list[IssueSetup]) -> list[tuple[ItemKind, int]]:
    """The review screen's items in order (as `CaucusAnswers.items`), each with its issue index (-1: none)."""
    items: list[tuple[ItemKind, int]] = []
    for index, issue in enumerate(issues):
        items += [(ItemKind.POSITION, index), (ItemKind.INTERESTS, index)]
        if issue.scale:
            items.append((ItemKind.RANGE, index))
        if issue.options:
            items.append((ItemKind.RATINGS, index))
    items.append((ItemKind.RANKING, -1))  # or the points: the same place on the screen
    return items + [(kind, -1) for kind in OPTIONAL_KINDS]


def _party(planner: _Planner, case: int, issues: list[IssueSetup], points: bool, label: str, user_id: int) -> PartyPlan:
    """A party's language, answers (a canary in each text), skipped questions, share levels, note and suggestion."""
    rng = planner.rng
    language = rng.choice(LANGUAGES)
    items = _review_items(issues)
    levels = {number: planner.level() for number in range(1, len(items) + 1)}
    level_of = {item: levels[number] for number, item in enumerate(items, start=1)}
    answers, range_values = [], set()
    for index, issue in enumerate(issues):
        position = planner.typed(case, user_id, f"position {index + 1}", level_of[ItemKind.POSITION, index], language)
        words = planner.typed(case, user_id, f"interests {index + 1}", level_of[ItemKind.INTERESTS, index], language)
        values = planner.range_values() if issue.scale else None
        range_values.update(values or ())
        categories = (rng.choice(list(InterestCategory)),)
        ratings = tuple(rng.choice(list(Rating)) for _option in issue.options)
        answers.append(IssueAnswer(position, categories, words, range=values, ratings=ratings))
    optional = tuple(
        planner.typed(case, user_id, kind.value, level_of[kind, -1], language) if rng.random() < 0.6 else None
        for kind in OPTIONAL_KINDS
    )
    # Only items holding typed text change level (ratings, priorities and ranges keep their defaults).
    typed = {number for number, (kind, _index) in enumerate(items, start=1)
             if kind in {ItemKind.POSITION, ItemKind.INTERESTS}
             or (kind in OPTIONAL_KINDS and optional[OPTIONAL_KINDS.index(kind)] is not None)}
    share = {number: level for number, level in levels.items()
             if number in typed and level is not ShareLevel.MEDIATOR}
    suggestion = None
    if rng.random() < 0.5:
        suggestion = (rng.randrange(len(issues)), planner.canary(case, user_id, "suggestion", Audience.MEDIATOR))
    titles = [issue.title for issue in issues]
    rng.shuffle(titles)
    first_points = [str(rng.randint(10, 100 // len(issues))) for _issue in issues[:-1]] if points else []
    return PartyPlan(
        label=label, user_id=user_id, language=language, answers=tuple(answers), ranking=tuple(titles),
        points=tuple(first_points), optional=optional, share=share,
        note=f"{planner.canary(case, user_id, 'note', Audience.MEDIATOR)} {rng.choice(PHRASES[language])}",
        suggestion=suggestion, range_values=range_values,
    )


def plan_cases(seed: int, party_counts: list[int], *, first_user: int) -> list[CasePlan]:
    """One case per entry of ``party_counts``, drawn from ``seed``; Telegram ids count up from ``first_user``."""
    planner = _Planner(random.Random(seed))
    rng = planner.rng
    cases = []
    next_user = first_user
    for number, count in enumerate(party_counts):
        mediator_id, next_user = next_user, next_user + 1
        title = f"{planner.canary(number, mediator_id, 'title', Audience.CASE)} valley"
        issues = []
        for index in range(2):  # a case needs at least 2 issues; more would only lengthen the run
            issue_title = f"{planner.canary(number, mediator_id, f'issue {index + 1}', Audience.CASE)} land"
            kind = rng.choice(("plain", "options", "scale"))
            options = tuple(planner.canary(number, mediator_id, f"option {index + 1}.{option + 1}", Audience.CASE)
                            for option in range(rng.randint(1, 2))) if kind == "options" else ()
            scale = ("USD", "0", str(RANGE_HIGH + 1)) if kind == "scale" else None
            issues.append(IssueSetup(issue_title, options, scale))
        points = rng.random() < 0.5
        parties = []
        for seat in range(count):
            label = f"{planner.canary(number, mediator_id, f'party {seat + 1}', Audience.CASE)} group"
            parties.append(_party(planner, number, issues, points, label, next_user))
            next_user += 1
        cases.append(CasePlan(number, mediator_id, title, issues, points, parties))
    for canary in planner.canaries:
        cases[canary.case].canaries.append(canary)
    return cases


# Playing --------------------------------------------------------------------------------------------

async def _answer(local: LocalBot, user: SimUser, plan: PartyPlan, index: int) -> None:
    """One issue, with the planned suggestion before rating."""
    suggestion = plan.suggestion[1] if plan.suggestion is not None and plan.suggestion[0] == index else None
    await answer_issue(local, user, plan.answers[index], plan.language, suggestion=suggestion)


async def _priorities_and_optional(local: LocalBot, user: SimUser, plan: PartyPlan) -> None:
    """The ranking or points, then the optional questions, as the scenario's `play_party` does."""
    for title in plan.ranking[:-1]:
        if title in user.buttons():
            await tap(local, user, title, plan.language)
    for points in plan.points:
        await type_text(local, user, points)
    for text in plan.optional:
        if text is None:
            await tap(local, user, _("Skip"), plan.language)
        else:
            await type_text(local, user, text)


class _Together:
    """Lets several scripted people act at once through the scenario's building blocks.

    Those call ``local.settle()`` after each action; here that call waits until every person
    still acting has made their move, then the bot settles once for all of them. Each round's
    updates, from many chats and cases, reach the bot in one batch and are handled concurrently.
    """

    def __init__(self, local: LocalBot) -> None:
        self.local = local
        self.standin = local.standin
        self._acting = 0
        self._arrived = 0
        self._round_done = asyncio.Event()

    async def settle(self, within: float = 120.0) -> None:
        self._arrived += 1
        done = self._round_done
        if self._arrived >= self._acting:
            await self._finish_round(within)
        else:
            await done.wait()

    async def _finish_round(self, within: float = 120.0) -> None:
        done, self._round_done, self._arrived = self._round_done, asyncio.Event(), 0
        try:
            await self.local.settle(within=within)
        finally:
            done.set()

    async def run(self, scripts: list[Callable[[LocalBot], Awaitable[None]]]) -> None:
        """Run each script (given this object as its bot) until all are done."""
        self._acting = len(scripts)

        async def one(script: Callable[[LocalBot], Awaitable[None]]) -> None:
            try:
                await script(cast("LocalBot", self))  # duck-typed: the building blocks use settle() and standin
            finally:
                self._acting -= 1
                if self._arrived and self._arrived >= self._acting:
                    await self._finish_round()

        await asyncio.gather(*(one(script) for script in scripts))


async def _caucus(local: LocalBot, user: SimUser, token: str, plan: PartyPlan) -> None:
    """A party's whole caucus: join, a note, each issue, priorities, optional questions, share levels, submit."""
    await join(local, user, token, plan.language)
    user.send_command("/note", plan.note)
    await local.settle()
    for index in range(len(plan.answers)):
        await _answer(local, user, plan, index)
    await _priorities_and_optional(local, user, plan)
    for number, level in plan.share.items():
        await set_share_level(local, user, number, level, plan.language)
    await submit_answers(local, user, plan.language)


async def _summaries(local: LocalBot, mediator: SimUser, case: CasePlan) -> None:
    """The mediator's summary (message, chart, report), then the joint summary sent to every party."""
    mediator.send_command("/summary", case.short_id)
    await local.settle()
    mediator.send_command("/cases", case.short_id)
    await local.settle()
    await tap(local, mediator, _("📣 Joint summary for the parties"))
    await tap(local, mediator, _("📣 Send to every party"))


async def play_cases(local: LocalBot, cases: list[CasePlan]) -> None:
    """Every mediator sets up a case, every party goes through its caucus, every mediator sums up.

    Within each of the three stages everyone acts at once, one update each per round.
    """
    standin = local.standin
    mediators = {case.number: standin.user(case.mediator_id, "Mediator", "en") for case in cases}
    tokens: dict[int, str] = {}

    def setup(case: CasePlan) -> Callable[[LocalBot], Awaitable[None]]:
        async def script(together: LocalBot) -> None:
            case.short_id, by_label = await create_case(together, mediators[case.number], case.title, case.issues,
                                                        [party.label for party in case.parties], points=case.points)
            tokens.update({party.user_id: by_label[party.label] for party in case.parties})
        return script

    await _Together(local).run([setup(case) for case in cases])
    parties = [party for case in cases for party in case.parties]
    users = {party.user_id: standin.user(party.user_id, "Party", party.language) for party in parties}
    await _Together(local).run([
        functools.partial(_caucus, user=users[party.user_id], token=tokens[party.user_id], plan=party)
        for party in parties
    ])
    await _Together(local).run([functools.partial(_summaries, mediator=mediators[case.number], case=case)
                                for case in cases])


# A whole session ------------------------------------------------------------------------------------------

# Two grievances, one anonymous: each text has a canary no mediator or party may ever see.
GRIEVANCES = (
    (7_300_000_901, GrievanceScript(
        language="fr", category="water", region="Village ЖЁЛТ0GRV0REGION", typed_region=True,
        description=("CNRY0GRV0DESC1 La seule pompe à eau du village est cassée depuis trois mois",
                     "ЖЁЛТ0GRV0DESC2 et personne ne vient la réparer"),
        groups="CNRY0GRV0GROUPS les familles du quartier bas", urgency=Urgency.URGENT,
        remedy="CNRY0GRV0REMEDY une nouvelle pompe",
    )),
    (7_300_000_902, GrievanceScript(
        language="en", name="CNRY0GRV0NAME Women's cooperative", category="land", region="North",
        description=("CNRY0GRV0FENCE The company fenced the grazing land and the herders cannot reach the river",),
        urgency=Urgency.ROUTINE,
    )),
)
GRIEVANCE_CANARIES = ("ЖЁЛТ0GRV0REGION", "CNRY0GRV0DESC1", "ЖЁЛТ0GRV0DESC2", "CNRY0GRV0GROUPS", "CNRY0GRV0REMEDY",
                      "CNRY0GRV0NAME", "CNRY0GRV0FENCE")
TRIAGE_ID = 7_300_000_900


@dataclass(frozen=True)
class Session:
    """What a whole session left behind: the plan, the stand-in's records, the database's bytes, the log."""

    cases: list[CasePlan]
    standin: BotApiStandIn
    master_key: MasterKey
    running_files: dict[str, bytes]  # file name -> bytes, copied while the bot was running (WAL not folded in)
    checkpointed_files: dict[str, bytes]  # after the bot stopped and the WAL was checkpointed
    log: str  # the product's logging at DEBUG, from start to stop

    @property
    def parties(self) -> list[PartyPlan]:
        return [party for case in self.cases for party in case.parties]

    @property
    def canaries(self) -> list[str]:
        """Every canary typed: by mediators, parties and grievance submitters."""
        return [canary.text for case in self.cases for canary in case.canaries] + list(GRIEVANCE_CANARIES)


async def run_session(folder: Path, standin: BotApiStandIn, cases: list[CasePlan]) -> Session:
    """Play ``cases`` and the grievances through the real bot on a SQLite file in ``folder``, logging at DEBUG."""
    master_key = MasterKey.generate()
    settings = Settings(token="1:unused", master_key=master_key, database_url=default_sqlite_url(folder),
                        mediator_ids=frozenset(case.mediator_id for case in cases), triage_ids=frozenset({TRIAGE_ID}),
                        grievance_regions=("North", "South"))
    database = folder / "caucus.sqlite3"
    watch = LogWatch()
    with watch.running():
        local = LocalBot(standin, settings)
        await local.start()
        try:
            await play_cases(local, cases)
            for user_id, script in GRIEVANCES:
                await file_grievance(local, standin.user(user_id, "Person", script.language), script)
            standin.user(TRIAGE_ID, "Officer", "en").send_command("/grievances")  # the team reads them
            await local.settle()
            running = database_bytes(database, checkpoint=False)
        finally:
            await local.stop()
    return Session(cases, standin, master_key, running, database_bytes(database), watch.buffer.getvalue())


# Reading what was delivered ---------------------------------------------------------------------------

def delivered(standin: BotApiStandIn, chat_id: int) -> str:
    """Everything the bot sent to a chat, casefolded: every call's parameters (texts, captions, buttons,
    edits included), and the uploaded files, raw and, for HTML, as the words a reader sees."""
    parts = [json.dumps(call.params, ensure_ascii=False) for call in standin.calls()
             if str(call.params.get("chat_id")) == str(chat_id)]
    for message in standin.messages(chat_id):
        if message.document is not None:
            content = message.document[1].decode("utf-8", "replace")
            parts += [content, html.unescape(re.sub(r"<[^>]+>", " ", content))]
        if message.photo is not None:
            parts.append(message.photo.decode("latin-1"))
    return "\n".join(parts).casefold()


def toasts(standin: BotApiStandIn) -> str:
    """Every callback answer (the short notice shown on a tapped button), casefolded."""
    return "\n".join(text for text in standin.callback_answers().values() if text).casefold()


_GROUPED = re.compile(r"(?<=\d)[ ,.'\u00a0\u202f](?=\d{3}\b)")


def numbers_in(text: str) -> set[str]:
    """Every run of digits in ``text`` once thousands separators are gone ("1 234 567" is "1234567")."""
    return set(re.findall(r"\d+", _GROUPED.sub("", text)))
