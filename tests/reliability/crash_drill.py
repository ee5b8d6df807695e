"""The crash drill: the real ``caucusbot run`` killed with SIGKILL at random moments while scripted people use it.

Mediators set up cases and parties go through their caucus against the Bot API stand-in (bot/standin.py),
pressing the buttons of the latest message they received and typing answers (bot/scenario.py). Meanwhile
the bot process is killed at moments drawn from a seeded RNG (right after start, at a random time, while
an update is in flight, right after a reply went out) and started again; the stand-in keeps every update
the bot has not confirmed, as Telegram does, so each one comes again after the restart. At the end the
database is opened directly (`storage.repository.Store`, the same master key) and compared with the scripts.

Used by tests/reliability/test_crash.py (a bounded run, and 1,000 kill points under the ``stress`` marker)
and by bench/crash.py.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import re
import secrets
import signal
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.scenario import (
    IssueAnswer,
    IssueSetup,
    PartyScript,
    answer_interests,
    answer_issue,
    create_case,
    join,
    play_party,
    suggest_option,
)
from bot.standin import BotApiError, BotApiStandIn
from flows.model import (
    OPTIONAL_KINDS,
    CaucusAnswers,
    InterestCategory,
    Interests,
    Issue,
    ItemKey,
    ItemKind,
    PriorityMode,
    Range,
    Rating,
    ShareLevel,
)
from storage.crypto import KeyRing, MasterKey
from storage.db import create_engine, normalise_url
from storage.migrate import upgrade_async
from storage.repository import Store, Transaction
from storage.tables import Answer, Case, NoteRow, OutboxMessage, ProcessedUpdate, Seat, SuggestionRow

__all__ = [
    "PG_ADMIN_DSN",
    "CrashDrill",
    "DrillPlan",
    "DrillReport",
    "PostgresUnavailableError",
    "end_processes",
    "postgres_database",
]

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
MEDIATOR_BASE_ID = 1001
PARTY_BASE_ID = 100_000
READY_LINE = "Caucus is running"
# A tag in everything the scripts type (titles S<set>C<case>, party labels and answers S<set>C<case>P<party>).
TAG = re.compile(r"\bS\d+C\d+(?:P\d+)?\b")


def bot_env(standin: BotApiStandIn, database_url: str, master_key: MasterKey, mediators: int) -> dict[str, str]:
    """The environment of a bot process against ``standin``: this one's, minus any Caucus or Telegram setting,
    with ``mediators`` mediator accounts (one per case: MEDIATOR_BASE_ID and on)."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("CAUCUS_", "TELEGRAM_"))}
    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_API_BASE_URL": standin.base_url,
        "CAUCUS_MASTER_KEY": master_key.to_base64(),
        "CAUCUS_DATABASE_URL": database_url,
        "CAUCUS_MEDIATOR_IDS": ",".join(str(MEDIATOR_BASE_ID + number) for number in range(mediators)),
        # The stand-in has no rate limits: replies go as fast as they come (as LocalBot sets it too).
        "CAUCUS_MESSAGES_PER_SECOND": "1000",
        "CAUCUS_CHAT_MESSAGES_PER_SECOND": "1000",
    }


# Databases -----------------------------------------------------------------------------------------------

class PostgresUnavailableError(Exception):
    """No PostgreSQL server answers at the usual test address; the message says why."""


@contextlib.asynccontextmanager
async def postgres_database(prefix: str = "caucus_crash") -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for one drill (created as postgres in ``test``, dropped after)."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=2)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise PostgresUnavailableError(f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(error).__name__})") from None
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
            await upgrade_async(url)  # the bot migrates SQLite by itself at start, PostgreSQL never
            yield url
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _sqlite_path(url: str) -> Path | None:
    parsed = normalise_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


class DatabaseProbe:
    """Reads the bot's progress from the database, through a plain read-only connection of its own.

    Plain on purpose: the product's SQLite engine opens every transaction with BEGIN IMMEDIATE,
    which would make these reads queue behind the bot's writes.
    """

    def __init__(self, url: str) -> None:
        self._engine: AsyncEngine = create_async_engine(normalise_url(url))

    async def pending(self) -> int:
        """Replies committed and not yet marked sent."""
        return await self._count("SELECT count(*) FROM outbox WHERE status = 'pending'")

    async def progress(self) -> int:
        """Updates committed plus replies settled: grows whenever the bot gets something done."""
        return await self._count("SELECT (SELECT count(*) FROM processed_updates) "
                                 "+ (SELECT count(*) FROM outbox WHERE status <> 'pending')")

    async def _count(self, query: str) -> int:
        async with self._engine.connect() as connection:
            return int(await connection.scalar(text(query)) or 0)

    async def close(self) -> None:
        await self._engine.dispose()


# The bot process -----------------------------------------------------------------------------------------

# A replacement process that has done Python's imports and waits for the go: a killed bot is replaced at
# once, as a supervisor with a pre-started worker would. From the go on it is `caucusbot run` exactly.
_SPARE = (
    "import sys\n"
    "import bot.application\n"
    "from bot.cli import main\n"
    "print('spare', flush=True)\n"
    "if sys.stdin.readline():\n"  # end of input: the drill is gone, so nothing to run for
    "    sys.exit(main(['run']))\n"
)


async def end_processes(processes: list[asyncio.subprocess.Process], sig: signal.Signals = signal.SIGTERM,
                        within: float = 30.0) -> None:
    """Send each process still running ``sig`` (a bot then finishes what it has in hand), all at once; SIGKILL
    one still running ``within`` seconds later."""
    for process in processes:
        if process.returncode is None:
            process.send_signal(sig)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            process.kill()
            await process.wait()


class BotDiedError(Exception):
    """The bot process ended by itself (a crash on restart)."""


class NoProgressError(Exception):
    """The bot ran but got nothing done (no update committed, no reply settled) for a long time."""


class BotProcess:
    """``caucusbot run`` as a child process: started, SIGKILLed, replaced; its log appended to a file.

    With warm restarts, two spares (`_SPARE`) wait with their imports done, so a replacement starts
    at once; without, each restart is the plain command again.
    """

    SPARES = 2

    def __init__(self, env: dict[str, str], workdir: Path, log: Path, *, warm_restarts: bool = True) -> None:
        self._env = env
        self._workdir = workdir
        self._log = log
        self._warm = warm_restarts
        self._process: asyncio.subprocess.Process | None = None
        self._spares: collections.deque[asyncio.subprocess.Process] = collections.deque()
        self._ready = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []
        self.start_times: list[float] = []  # from the go to "Caucus is running", per start

    async def start(self) -> None:
        """The first start is the plain command, ``python -m bot.cli run``."""
        self._go(await self._spawn("-m", "bot.cli", "run"))
        await self._top_up()

    async def _spawn(self, *argv: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, *argv, cwd=self._workdir, env=self._env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )

    async def _top_up(self) -> None:
        while self._warm and len(self._spares) < self.SPARES:
            self._spares.append(await self._spawn("-c", _SPARE))

    def _go(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._ready = asyncio.Event()
        self._readers.append(asyncio.create_task(self._read_log(process, self._ready, time.monotonic())))

    async def _read_log(self, process: asyncio.subprocess.Process, ready: asyncio.Event, went: float) -> None:
        assert process.stderr is not None
        with self._log.open("a", encoding="utf-8") as log:
            async for raw in process.stderr:
                line = raw.decode("utf-8", "replace")
                log.write(line)
                if READY_LINE in line:
                    ready.set()
                    self.start_times.append(time.monotonic() - went)

    async def wait_ready(self, within: float = 60.0) -> None:
        """Until the bot says it runs; BotDiedError if it ends first."""
        process = self._process
        assert process is not None
        ready = asyncio.ensure_future(self._ready.wait())
        ended = asyncio.ensure_future(process.wait())
        try:
            await asyncio.wait({ready, ended}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            ended.cancel()
        if self._ready.is_set():
            return
        if process.returncode is not None:
            raise BotDiedError(f"the bot exited with {process.returncode} before running (log: {self._log})")
        raise TimeoutError(f"the bot did not start within {within} s (log: {self._log})")

    async def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed."""
        process = self._process
        assert process is not None
        if process.returncode is not None:
            raise BotDiedError(f"the bot had exited by itself with {process.returncode} (log: {self._log})")
        process.kill()
        await process.wait()

    async def restart(self) -> None:
        """Start the replacement: the oldest spare once its imports are done, else the plain command."""
        if not self._spares:
            self._go(await self._spawn("-m", "bot.cli", "run"))
            return
        spare = self._spares.popleft()
        assert spare.stdout is not None
        assert spare.stdin is not None
        await spare.stdout.readline()  # 'spare': its imports are done
        spare.stdin.write(b"go\n")
        await spare.stdin.drain()
        self._go(spare)
        await self._top_up()

    async def stop(self) -> None:
        """SIGTERM (the bot finishes what it has in hand), and end the spares."""
        if self._process is not None:
            await end_processes([self._process])
        while self._spares:
            spare = self._spares.popleft()
            if spare.returncode is None:
                spare.kill()
            await spare.wait()
        for reader in self._readers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader, 5)
        self._readers.clear()


# Waiting for the bot ---------------------------------------------------------------------------------------

class Quiescence:
    """What bot.scenario needs of a `LocalBot` (``standin`` and ``settle``), for a bot in another process.

    Quiet means: the stand-in holds no unconfirmed update (the bot confirms only after commit) and the
    outbox holds no pending reply. One watcher samples that; ``settle`` waits for three quiet samples in
    a row, all taken after it was called. While the bot is dead, what people sent waits unconfirmed in
    the stand-in, so they wait for the restart as they would wait for a slow bot.
    """

    def __init__(self, standin: BotApiStandIn, probe: DatabaseProbe, interval: float = 0.01) -> None:
        self.standin = standin
        self._probe = probe
        self._interval = interval
        self._samples = 0
        self._streak = 0
        self._sampled = asyncio.Condition()
        self._stopping = False
        self._last_error = ""

    def stop(self) -> None:
        self._stopping = True

    async def watch(self) -> None:
        """Sample until `stop` (a sample under way finishes: cancelling it could strand a database connection)."""
        while not self._stopping:
            try:
                quiet = self.standin.unconfirmed_count() == 0 and await self._probe.pending() == 0
            except SQLAlchemyError as error:  # the database busy or recovering: not quiet, look again
                self._last_error = type(error).__name__
                quiet = False
            async with self._sampled:
                self._samples += 1
                self._streak = self._streak + 1 if quiet else 0
                self._sampled.notify_all()
            await asyncio.sleep(self._interval)

    async def settle(self, within: float = 120.0) -> None:
        called_at = self._samples

        def quiet_since_called() -> bool:
            # The last three samples were quiet and all began after the call (the one under way then may not).
            return self._streak >= 3 and self._samples - called_at >= 4

        try:
            async with self._sampled:
                await asyncio.wait_for(self._sampled.wait_for(quiet_since_called), within)
        except TimeoutError:
            raise TimeoutError(
                f"the bot was not done within {within} s: {self.standin.unconfirmed_count()} update(s) unconfirmed, "
                f"{await self._probe.pending()} repl(ies) pending; {self._samples - called_at} samples since, "
                f"last sampling error {self._last_error or 'none'}"
            ) from None


# Kill points -------------------------------------------------------------------------------------------

KillMode = Literal["starting", "timer", "update", "reply"]
_MODES: tuple[KillMode, ...] = ("starting", "timer", "update", "reply")
_MODE_WEIGHTS = (1, 4, 3, 3)


@dataclass(frozen=True)
class KillPoint:
    """One SIGKILL: how its moment was chosen and what was in flight when it landed."""

    mode: KillMode
    updates_unconfirmed: int  # updates the stand-in still held (in flight or not yet fetched)
    replies_pending: int  # outbox rows committed but not yet marked sent


class Killer:
    """Kills the bot at moments drawn from a seeded RNG, then starts it again, ``target`` times.

    - starting: a random moment in the first 0.3 s after the go (migrations, keys, getMe);
    - timer: a random moment up to 1 s after the bot runs;
    - update: a few milliseconds after someone sent an update (usually while it is handled);
    - reply: a few milliseconds after a reply reached a chat (usually before it is marked sent).

    Each kill but ``starting`` waits until the bot got something done since the previous kill.
    """

    def __init__(self, bot: BotProcess, standin: BotApiStandIn, probe: DatabaseProbe, seed: int,
                 replies_seen: Callable[[], int]) -> None:
        self._bot = bot
        self._standin = standin
        self._probe = probe
        self._rng = random.Random(seed)
        self._replies_seen = replies_seen
        self.points: list[KillPoint] = []
        self.downtime: list[float] = []  # from a kill to the next bot running (kills during start-up excluded)

    async def run(self, target: int) -> None:
        mode, delay = self._draw()
        done_at_kill = await self._probe.progress()
        while len(self.points) < target:
            await self._moment(mode, delay, done_at_kill)
            await self._bot.kill()
            killed_at = time.monotonic()
            self.points.append(KillPoint(mode, self._standin.unconfirmed_count(), await self._probe.pending()))
            done_at_kill = await self._probe.progress()
            await self._bot.restart()
            mode, delay = self._draw()
            if mode != "starting":
                await self._bot.wait_ready()  # a crash on restart shows here
                self.downtime.append(time.monotonic() - killed_at)
        await self._bot.wait_ready()

    def _draw(self) -> tuple[KillMode, float]:
        """The next kill's kind and delay: drawn before waiting, so the draws do not depend on timing."""
        mode = self._rng.choices(_MODES, _MODE_WEIGHTS)[0]
        delay = {"starting": self._rng.uniform(0.0, 0.3), "timer": self._rng.uniform(0.05, 1.0),
                 "update": self._rng.uniform(0.0, 0.03), "reply": self._rng.uniform(0.0, 0.004)}[mode]
        return mode, delay

    async def _moment(self, mode: KillMode, delay: float, done_at_kill: int) -> None:
        if mode == "starting":  # the bot was just started again
            await asyncio.sleep(delay)
            return
        await self._bot.wait_ready()
        await self._progress_since(done_at_kill)
        if mode == "update":
            await self._until(lambda: self._standin.unconfirmed_count() > 0)
        elif mode == "reply":
            seen = self._replies_seen()
            await self._until(lambda: self._replies_seen() > seen)
        await asyncio.sleep(delay)

    async def _progress_since(self, done_at_kill: int, within: float = 60.0) -> None:
        """Until the bot got something done since the last kill (or has nothing to do).

        Without this, kills aimed at its own work (a reply resent after a restart, an update
        delivered again) could land every time before that work is recorded, and nothing would
        move: the drill would measure its own livelock, not the bot.
        """
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await self._probe.progress() > done_at_kill:
                return
            if self._standin.unconfirmed_count() == 0 and await self._probe.pending() == 0:
                return
            await asyncio.sleep(0.01)
        raise NoProgressError(f"the bot got nothing done within {within} s of a restart")

    @staticmethod
    async def _until(condition: Callable[[], bool], within: float = 2.0) -> None:
        """Until ``condition`` holds, or ``within`` seconds (then the kill lands wherever things are)."""
        deadline = time.monotonic() + within
        while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110 - set by the stand-in's thread
            await asyncio.sleep(0.001)


# What people do --------------------------------------------------------------------------------------------

ISSUES = (
    IssueSetup("Irrigation days at the spring", scale=("days a week", "0", "7")),
    IssueSetup("Repair of the canal", options=("Each party pays a third", "The council pays, herders give labour")),
    IssueSetup("Grazing routes"),
)
_SCALE_ISSUE, _OPTIONS_ISSUE = 0, 1
_POSITIONS = ("We keep the spring for the dry months", "Everyone shares the work equally",
              "A marked corridor along the river", "The council decides after a meeting")
_REASONS = ("our families depend on it", "we were never asked before", "the animals need safe passage",
            "it is the only fair way")
_OPTIONAL = ("A written promise from the elders", "Labour in the dry season", "The women's group and the youth",
             "We would go to the district court")

Reach = Literal["submitted", "review", "rating"]


@dataclass(frozen=True)
class PartyPlan:
    """One party: what it types and chooses, and where it stops.

    ``submitted`` parties go through and submit, then send a note; ``review`` ones stop at the review
    screen; ``rating`` ones answer the first issue, then suggest an option at the second one's rating.
    """

    tag: str
    label: str
    user_id: int
    script: PartyScript
    reach: Reach
    note: str | None = None
    suggestion: str | None = None


@dataclass
class CasePlan:
    """One case: its mediator, what the mediator types, and its parties."""

    tag: str
    mediator_id: int
    title: str
    points: bool
    parties: list[PartyPlan]
    short_id: str = ""  # known once the mediator has created it
    stuck: list[str] = field(default_factory=list)  # scripts that could not go on, and why

    @property
    def user_ids(self) -> list[int]:
        return [party.user_id for party in self.parties]


@dataclass(frozen=True)
class DrillPlan:
    """How big each set of conversations is, and how many kill points in all."""

    kill_points: int
    cases_per_set: int = 2
    parties_per_case: tuple[int, int] = (2, 2)  # fewest, most
    seed: int = 20_240_601
    warm_restarts: bool = True
    # How often a party submits, stops at the review screen, or stops after suggesting an option (shortest).
    reach_weights: tuple[int, int, int] = (3, 1, 1)


class Planner:
    """Scripts for every case and party of a set, from a seeded RNG."""

    def __init__(self, plan: DrillPlan) -> None:
        self._plan = plan
        self._rng = random.Random(plan.seed)

    def cases(self, set_number: int) -> list[CasePlan]:
        return [self._case(set_number, number) for number in range(self._plan.cases_per_set)]

    def _case(self, set_number: int, number: int) -> CasePlan:
        rng = self._rng
        points = rng.random() < 0.3
        low, high = self._plan.parties_per_case
        parties = [self._party(set_number, number, index, points) for index in range(rng.randint(low, high))]
        return CasePlan(f"S{set_number}C{number}", MEDIATOR_BASE_ID + number, f"Valley case S{set_number}C{number}",
                        points, parties)

    def _party(self, set_number: int, case: int, index: int, points: bool) -> PartyPlan:
        rng = self._rng
        tag = f"S{set_number}C{case}P{index}"
        answers = tuple(self._answer(tag, number, issue) for number, issue in enumerate(ISSUES, start=1))
        titles = [issue.title for issue in ISSUES]
        rng.shuffle(titles)
        first = rng.randint(0, 100)
        optional = tuple(f"{tag} {text}" if rng.random() < 0.5 else None for text in _OPTIONAL)
        script = PartyScript(
            rng.choice(("en", "fr", "es")), answers, ranking=() if points else tuple(titles),
            points=(str(first), str(rng.randint(0, 100 - first))) if points else (),
            optional=optional, share=self._share(optional),
        )
        reach: Reach = rng.choices(("submitted", "review", "rating"), self._plan.reach_weights)[0]
        return PartyPlan(
            tag, f"Party {tag}", PARTY_BASE_ID + set_number * 100 + case * 10 + index, script, reach,
            note=f"{tag} note: please call me after the harvest" if reach == "submitted" else None,
            suggestion=f"{tag} suggestion: rotate the canal work by season" if reach == "rating" else None,
        )

    def _answer(self, tag: str, number: int, issue: IssueSetup) -> IssueAnswer:
        rng = self._rng
        categories = tuple(rng.sample(list(InterestCategory), rng.randint(1, 2)))
        position = f"{tag} position {number}: {rng.choice(_POSITIONS)}"
        words = f"{tag} interests {number}: {rng.choice(_REASONS)}"
        if issue.scale:
            low = rng.randint(0, 3)
            high = rng.randint(low + 1, 7)
            values = (str(low), str(high), str(rng.randint(low, high)))
            return IssueAnswer(position, categories, words, range=values)
        ratings = tuple(rng.choice(list(Rating)) for _ in issue.options)
        return IssueAnswer(position, categories, words, ratings=ratings)

    def _share(self, optional: tuple[str | None, ...]) -> dict[int, ShareLevel]:
        """Two items whose share level the party changes on the review screen (by their number there)."""
        per_issue = [1, 2, 4, 5, 6, 7, 8]  # positions, interests and ratings: a range (3) cannot change
        answered_optional = [10 + index for index, text in enumerate(optional) if text is not None]
        numbers = self._rng.sample(per_issue + answered_optional, 2)
        return {number: self._rng.choice((ShareLevel.PRIVATE, ShareLevel.JOINT)) for number in sorted(numbers)}


async def play_case(local: Quiescence, case: CasePlan) -> None:
    """The mediator sets the case up; then its parties go through their caucus at the same time.

    A script that cannot go on (the button it needs is not on the latest message: a step was skipped,
    repeated or lost) is recorded in ``case.stuck``; the others play on, and the audit shows the damage.
    """
    standin = local.standin
    mediator = standin.user(case.mediator_id, "Mediator", "en")
    try:
        case.short_id, tokens = await create_case(
            local, mediator, case.title, list(ISSUES), [party.label for party in case.parties],
            points=case.points,
        )
    except BotApiError as error:
        case.stuck.append(f"{case.tag} (mediator): {error}")
        return
    if missing := [party.label for party in case.parties if party.label not in tokens]:
        case.stuck.append(f"{case.tag} (mediator): no invitation for {len(missing)} part(ies)")
        return

    async def play(party: PartyPlan) -> None:
        try:
            await play_party_plan(local, party, tokens[party.label])
        except BotApiError as error:
            case.stuck.append(f"{party.tag}: {error}")

    await asyncio.gather(*(play(party) for party in case.parties))


async def play_party_plan(local: Quiescence, party: PartyPlan, token: str) -> None:
    user = local.standin.user(party.user_id, f"Party {party.tag}", party.script.language)
    script, language = party.script, party.script.language
    if party.reach != "rating":
        await play_party(local, user, token, script, submit=party.reach == "submitted")
        if party.note:
            user.send_command("/note", party.note)
            await local.settle()
        return
    await join(local, user, token, language)
    await answer_issue(local, user, script.answers[_SCALE_ISSUE], language)
    await answer_interests(local, user, script.answers[_OPTIONS_ISSUE], language)
    assert party.suggestion is not None
    await suggest_option(local, user, party.suggestion, language)


# The audit ------------------------------------------------------------------------------------------------

@dataclass
class Audit:
    """What the database holds against what the scripts did; each finding names where, never content."""

    answers_checked: int = 0
    setup_checked: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    integrity: str = "n/a (PostgreSQL)"
    rows: Counter[str] = field(default_factory=Counter)


def expected_answers(party: PartyPlan, issues: list[Issue], mode: PriorityMode) -> CaucusAnswers:
    """The answers the party's script gave, with the share levels it chose."""
    script = party.script
    answers = CaucusAnswers()
    count = len(issues) if party.reach != "rating" else _OPTIONS_ISSUE + 1
    for issue, answer in list(zip(issues, script.answers, strict=True))[:count]:
        answers.positions[issue.id] = answer.position
        answers.interests[issue.id] = Interests(list(answer.categories), answer.words)
        if answer.range:
            low, high, hope = (Decimal(value) for value in answer.range)
            answers.ranges[issue.id] = Range(low, high, hope)
        if answer.ratings and party.reach != "rating":
            answers.ratings[issue.id] = {option.id: rating for option, rating in
                                         zip(issue.options, answer.ratings, strict=True)}
    if party.reach == "rating":
        return answers
    if mode is PriorityMode.POINTS:
        first, second = (int(value) for value in script.points)
        answers.points = {issues[0].id: first, issues[1].id: second, issues[2].id: 100 - first - second}
    else:
        by_title = {issue.title: issue.id for issue in issues}
        answers.ranking = [by_title[title] for title in script.ranking]
    answers.texts = {kind: typed for kind, typed in zip(OPTIONAL_KINDS, script.optional, strict=True) if typed}
    items = answers.items(issues, mode)
    for number, level in script.share.items():
        answers.share[items[number - 1]] = level
    return answers


def _same_item(got: CaucusAnswers, want: CaucusAnswers, key: ItemKey) -> bool:
    kind, issue_id = key.kind, key.issue_id
    if kind is ItemKind.POSITION:
        return got.positions.get(issue_id) == want.positions[issue_id]
    if kind is ItemKind.INTERESTS:
        mine, theirs = got.interests.get(issue_id), want.interests[issue_id]
        return mine is not None and (sorted(mine.categories), mine.words) == (sorted(theirs.categories), theirs.words)
    if kind is ItemKind.RANGE:
        return got.ranges.get(issue_id) == want.ranges[issue_id]
    if kind is ItemKind.RATINGS:
        return got.ratings.get(issue_id) == want.ratings[issue_id]
    if kind is ItemKind.RANKING:
        return got.ranking == want.ranking
    if kind is ItemKind.POINTS:
        return got.points == want.points
    return got.texts.get(kind) == want.texts[kind]


class Auditor:
    """Opens the database with the bot's master key and compares every row with the scripts."""

    def __init__(self, url: str, master_key: MasterKey) -> None:
        self._url = url
        self._master_key = master_key
        self._answer_rows = 0  # one row per answered item, over every seat checked
        self.audit = Audit()

    async def run(self, cases: list[CasePlan], user_updates: int) -> Audit:
        store = Store(create_engine(self._url), KeyRing(self._master_key))
        try:
            await store.open()
            async with store.transaction() as tx:
                assert tx is not None
                await self._count_rows(tx)
                await self._check_updates(tx, user_updates)
                await self._check_cases_per_mediator(tx, cases)
                for case in cases:
                    await self._check_case(tx, store, case)
        finally:
            await store.engine.dispose()
        self._check_totals(cases)
        self._check_integrity()
        return self.audit

    def _check_totals(self, cases: list[CasePlan]) -> None:
        """Rows per kind, over the whole database, against what the scripts did."""
        parties = [party for case in cases for party in case.parties]
        planned = {
            "cases": len(cases), "seats": len(parties), "answers": self._answer_rows,
            "notes": sum(party.note is not None for party in parties),
            "suggestions": sum(party.suggestion is not None for party in parties),
        }
        for kind, count in planned.items():
            stored = self.audit.rows[kind]
            if stored != count:
                bucket = self.audit.duplicated if stored > count else self.audit.lost
                bucket.append(f"{stored} {kind} rows stored for {count} in the scripts")

    async def _count_rows(self, tx: Transaction) -> None:
        for name, table in (("cases", Case), ("seats", Seat), ("answers", Answer), ("notes", NoteRow),
                            ("suggestions", SuggestionRow), ("processed updates", ProcessedUpdate)):
            self.audit.rows[name] = int(await tx.session.scalar(select(func.count()).select_from(table)) or 0)
        statuses = await tx.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
        for status, count in statuses.all():
            self.audit.rows[f"outbox {status}"] = int(count)

    async def _check_updates(self, tx: Transaction, user_updates: int) -> None:
        """Every update people sent was committed exactly once (its id recorded with its effects)."""
        committed = set((await tx.session.scalars(select(ProcessedUpdate.update_id))).all())
        sent = set(range(1, user_updates + 1))
        if missing := sent - committed:
            self.audit.lost.append(f"{len(missing)} update(s) never committed, e.g. {sorted(missing)[:5]}")
        if extra := committed - sent:
            self.audit.duplicated.append(f"{len(extra)} update id(s) committed that nobody sent")

    async def _check_cases_per_mediator(self, tx: Transaction, cases: list[CasePlan]) -> None:
        """One case per /newcase: no case created twice."""
        planned = Counter(case.mediator_id for case in cases)
        for mediator_id, count in planned.items():
            created = len(await tx.cases_of(mediator_id))
            if created != count:
                bucket = self.audit.duplicated if created > count else self.audit.lost
                bucket.append(f"mediator {mediator_id}: {created} cases for {count} /newcase")

    async def _check_case(self, tx: Transaction, store: Store, case: CasePlan) -> None:
        case_id = await tx.case_id_for(case.short_id) if case.short_id else None
        if case_id is None:
            self.audit.lost.append(f"{case.tag}: case not found")
            return
        info = await tx.case_info(case_id)
        issues = await tx.issues(case_id)
        if len(issues) != len(ISSUES):
            self.audit.lost.append(f"{case.tag}: {len(issues)} issues stored for {len(ISSUES)} typed")
            return
        typed = [info.title == case.title]
        for issue, setup in zip(issues, ISSUES, strict=True):
            typed.append(issue.title == setup.title)
            typed.append([option.text for option in issue.options] == list(setup.options))
            if setup.scale:
                unit, low, high = setup.scale
                typed.append(issue.scale is not None and (issue.scale.unit, issue.scale.low, issue.scale.high)
                             == (unit, Decimal(low), Decimal(high)))
        seats = {status.label: status for status in await tx.seat_statuses(case_id)}
        typed.append(sorted(seats) == sorted(party.label for party in case.parties))
        self.audit.setup_checked += len(typed)
        if not all(typed):
            self.audit.lost.append(f"{case.tag}: {typed.count(False)} set-up field(s) differ from what was typed")
            return  # the parties' answers cannot be matched to issues and options that differ
        notes = Counter(note.seat_id for note in await tx.notes(case_id))
        note_texts = {(note.seat_id, note.text) for note in await tx.notes(case_id)}
        mode = info.priority_mode
        for party in case.parties:
            status = seats.get(party.label)
            if status is None:
                continue
            await self._check_seat(tx, store, case_id, status.seat_id, party, issues, mode)
            self._check_one(party.tag, "note", notes[status.seat_id], party.note,
                            party.note is None or (status.seat_id, party.note) in note_texts)
            suggestions = await self._suggestions(tx, case_id, status.seat_id)
            self._check_one(party.tag, "suggestion", len(suggestions), party.suggestion,
                            party.suggestion is None or suggestions == [party.suggestion])

    def _check_one(self, tag: str, what: str, count: int, wanted: str | None, same: bool) -> None:
        """A note or a suggestion: exactly one row when one was sent, with what was typed."""
        expected = 0 if wanted is None else 1
        self.audit.answers_checked += expected
        if count > expected:
            self.audit.duplicated.append(f"{tag}: {count} {what} rows for {expected} sent")
        elif count < expected or not same:
            self.audit.lost.append(f"{tag}: {what} missing or different")

    async def _suggestions(self, tx: Transaction, case_id: str, seat_id: str) -> list[str]:
        ids = (await tx.session.scalars(select(SuggestionRow.id).where(SuggestionRow.seat_id == seat_id))).all()
        found = [await tx.suggestion(case_id, suggestion_id) for suggestion_id in ids]
        return [suggestion.text for suggestion in found if suggestion is not None]

    async def _check_seat(self, tx: Transaction, store: Store, case_id: str, seat_id: str, party: PartyPlan,
                          issues: list[Issue], mode: PriorityMode) -> None:
        seat = await tx.session.get(Seat, seat_id)
        assert seat is not None
        holders = await tx.session.scalar(
            select(func.count()).select_from(Seat).where(Seat.user_hash == store.user_hash(party.user_id)))
        if seat.user_hash != store.user_hash(party.user_id) or holders != 1:
            self.audit.duplicated.append(f"{party.tag}: the account holds {holders} seat(s)")
        conversation = await tx.load_caucus(seat_id)
        reached = (conversation.step.value, conversation.cursor if party.reach == "rating" else 0,
                   conversation.sub if party.reach == "rating" else 0, conversation.editing)
        wanted = (party.reach, _OPTIONS_ISSUE if party.reach == "rating" else 0, 0, False)
        if reached != wanted or (party.reach == "submitted") != (seat.submitted_at is not None):
            self.audit.duplicated.append(f"{party.tag}: seat at {reached}, its script reached {wanted}")
        got, want = conversation.answers, expected_answers(party, issues, mode)
        wanted_items = want.answered(issues, mode)
        self.audit.answers_checked += len(wanted_items)
        self._answer_rows += len(wanted_items)
        for key in wanted_items:
            if not got.has(key):
                self.audit.lost.append(f"{party.tag}: {key.encode()} missing")
            elif not _same_item(got, want, key) or got.share_level(key) != want.share_level(key):
                self.audit.lost.append(f"{party.tag}: {key.encode()} differs from what was typed or chosen")
        for key in got.answered(issues, mode):
            if key not in wanted_items:
                self.audit.duplicated.append(f"{party.tag}: {key.encode()} stored but never answered")
        rows = await tx.session.scalar(select(func.count()).select_from(Answer).where(Answer.seat_id == seat_id))
        if rows != len(wanted_items):
            self.audit.duplicated.append(f"{party.tag}: {rows} answer rows for {len(wanted_items)} items")

    def _check_integrity(self) -> None:
        path = _sqlite_path(self._url)
        if path is None:
            return
        with contextlib.closing(sqlite3.connect(path)) as connection:
            integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
        self.audit.integrity = "ok" if integrity == ["ok"] and not foreign else \
            f"{'; '.join(integrity[:3])}; {len(foreign)} foreign key violation(s)"


# The drill ------------------------------------------------------------------------------------------------

@dataclass
class DrillReport:
    """The figures of one drill."""

    backend: str
    kill_points: list[KillPoint]
    sets: int
    conversations: int
    audit: Audit
    replies_twice: int  # replies delivered again after a kill (the outbox is at-least-once): tolerated
    copies_left: int  # of those, first copies left in the chat while the copy after them was deleted: must be none
    copies_early: int  # first copies deleted while the copy after them still stands (no harm: it is seen once)
    stuck: list[str]  # scripts that could not go on (the latest message lacked the button they needed)
    errors_logged: list[str]
    log_leaks: int
    seconds: float
    downtime: list[float]  # seconds from each kill to the bot running again (kills during start-up excluded)

    @property
    def in_flight(self) -> int:
        return sum(point.updates_unconfirmed > 0 for point in self.kill_points)

    @property
    def while_sending(self) -> int:
        return sum(point.replies_pending > 0 for point in self.kill_points)

    @property
    def ok(self) -> bool:
        audit = self.audit
        return not (audit.lost or audit.duplicated or self.stuck or self.errors_logged or self.log_leaks
                    or self.copies_left) and audit.integrity in {"ok", "n/a (PostgreSQL)"}

    def summary(self) -> str:
        return f"{self.backend}: {self.figures()}"

    def figures(self) -> str:
        audit, modes = self.audit, Counter(point.mode for point in self.kill_points)
        return (
            f"{len(self.kill_points)} kill points ({', '.join(f'{m} {n}' for m, n in modes.items())}; "
            f"{self.in_flight} with updates in flight, {self.while_sending} with replies pending) over "
            f"{self.sets} set(s), {self.conversations} conversations; answers checked {audit.answers_checked} "
            f"(+{audit.setup_checked} set-up fields), lost {len(audit.lost)}, duplicated {len(audit.duplicated)}, "
            f"integrity {audit.integrity}; scripts stuck {len(self.stuck)}; "
            f"replies delivered twice {self.replies_twice} (tolerated), "
            f"{self.copies_left} first copies left in the chat while their twin was deleted, "
            f"{self.copies_early} deleted while their twin stands; "
            f"errors logged {len(self.errors_logged)}; log leaks {self.log_leaks}; "
            f"back up {statistics.median(self.downtime or [0.0]):.2f} s after a kill (median); {self.seconds:.1f} s"
        )


class CrashDrill:
    """Plays sets of conversations while a `Killer` kills and restarts the bot; then audits the database."""

    def __init__(self, plan: DrillPlan, database_url: str, workdir: Path) -> None:
        self._plan = plan
        self._url = database_url
        self._workdir = workdir
        self._master_key = MasterKey.generate()
        self._planner = Planner(plan)
        self._cases: list[CasePlan] = []
        self._chats: list[int] = []

    def _replies_seen(self, standin: BotApiStandIn) -> int:
        return sum(len(standin.messages(chat)) for chat in self._chats)

    async def run(self) -> DrillReport:
        started = time.monotonic()
        log = self._workdir / "bot.log"
        with BotApiStandIn() as standin:
            env = bot_env(standin, self._url, self._master_key, self._plan.cases_per_set)
            bot = BotProcess(env, self._workdir, log, warm_restarts=self._plan.warm_restarts)
            probe = DatabaseProbe(self._url)
            local = Quiescence(standin, probe)
            killer = Killer(bot, standin, probe, self._plan.seed + 1, lambda: self._replies_seen(standin))
            watching: asyncio.Task[None] | None = None
            killing: asyncio.Task[None] | None = None
            try:
                await bot.start()
                await bot.wait_ready()
                watching = asyncio.create_task(local.watch())
                killing = asyncio.create_task(killer.run(self._plan.kill_points))
                sets = await self._play_sets(local, killing)
                await killing
                await local.settle()
            finally:
                local.stop()
                if killing is not None:
                    killing.cancel()
                await asyncio.gather(*filter(None, (watching, killing)), return_exceptions=True)
                await bot.stop()
                await probe.close()
            user_updates = sum(event.kind in UPDATE_EVENTS for event in standin.events())
            chats = {chat for case in self._cases for chat in (case.mediator_id, *case.user_ids)}
            twins = [_twins(standin, chat) for chat in sorted(chats)]
        audit = await Auditor(self._url, self._master_key).run(self._cases, user_updates)
        logged = log.read_text(encoding="utf-8")
        errors = [line for line in logged.splitlines() if " ERROR " in line or "Traceback" in line]
        return DrillReport(
            "sqlite" if _sqlite_path(self._url) else "postgresql", killer.points, sets,
            sum(len(case.parties) + 1 for case in self._cases), audit, sum(t for t, _, _ in twins),
            sum(left for _, left, _ in twins), sum(early for _, _, early in twins),
            [stuck for case in self._cases for stuck in case.stuck], errors,
            len(TAG.findall(logged)), time.monotonic() - started, killer.downtime,
        )

    async def _play_sets(self, local: Quiescence, killer: asyncio.Task[None]) -> int:
        """Sets of cases, one after another, until the killer has killed as often as planned."""
        sets = 0
        while not killer.done() or sets == 0:
            cases = self._planner.cases(sets)
            self._chats = [case.mediator_id for case in cases] + [p.user_id for case in cases for p in case.parties]
            self._cases += cases
            playing = asyncio.ensure_future(asyncio.gather(*(play_case(local, case) for case in cases)))
            await asyncio.wait({playing, killer}, return_when=asyncio.FIRST_COMPLETED)
            if killer.done() and killer.exception() is not None:
                playing.cancel()
                await asyncio.gather(playing, return_exceptions=True)
                await killer  # raises what stopped the killer (the bot died by itself)
            await playing
            sets += 1
        return sets


# What people did, one update each, as the stand-in logs it (not "bot_delete_user": the bot deleting their message).
UPDATE_EVENTS = frozenset({"user_text", "user_command", "user_press", "user_other"})


def _twins(standin: BotApiStandIn, chat: int) -> tuple[int, int, int]:
    """Replies sent again after a kill (identical to the message just before them in the chat); of those, how
    many first copies stayed in the chat while the copy after them was deleted (a lost copy of a caucus screen
    left behind: a failure), and how many first copies were deleted while the copy after them still stands
    (a duplicate of an ordinary message inside a screen's gap: the person still sees it once)."""
    pairs = standin.sent_twice(chat)
    left = sum(not earlier.deleted and later.deleted for earlier, later in pairs)
    early = sum(earlier.deleted and not later.deleted for earlier, later in pairs)
    return len(pairs), left, early
