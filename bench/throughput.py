"""Throughput and latency of the whole bot against a bare python-telegram-bot echo bot, in the same run.

Run by hand from the repository root:

    python bench/throughput.py                                   # SQLite, one process, 100 conversations
    python bench/throughput.py --backend postgresql --workers 3  # three workers behind a round-robin proxy
    python bench/throughput.py --conversations 500               # latency with 500 conversations at once

What runs: the Bot API stand-in (bot/standin.py) in this process, as Telegram; ``caucusbot webhook`` in child
processes (one, or N behind tests/scale/workers.py's round-robin proxy, on one database). Mediators first set up
cases of five parties through the bot (not measured). Then every party goes through its caucus at the same time
(the crash drill's scripts: join, language, consent, positions, interests, ranges, ratings, suggestions, the
review screen; a fifth submit): each update is posted to the webhook, moves the party's state machine, writes
the encrypted answer, commits, and the reply goes out through the outbox to the stand-in. Each party sends its
next update once the bot has finished with the previous one (its reply sent), as a person waits for the screen.

The baseline is bench/echo_bot.py in a child process, given the very same updates, chat by chat in the same
order and with the same number of conversations at once, by the same stand-in.

Printed, for each bot: updates per second over the measured phase, and the latency of each update (from the
moment the person sent it to the first message or edit the bot made in that chat after it) at p50 and p99;
the CPU time the bot's processes used per update; the ratios Caucus / echo. ``pip install -e ".[bench]"`` first
(PTB's webhook server for the echo bot). With ``--profile DIR``, py-spy samples the Caucus workers (each thread
while it holds the GIL, 100 times a second) during the measured phase, the functions costing the most are
printed and the raw stacks stay in DIR (``py-spy`` records need root or ptrace rights).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bot.scenario import create_case  # noqa: E402
from bot.standin import BotApiStandIn, ChatEvent, update_chat  # noqa: E402
from storage.crypto import KeyRing, MasterKey  # noqa: E402
from storage.db import create_engine  # noqa: E402
from storage.repository import Store  # noqa: E402
from tests.reliability.crash_drill import (  # noqa: E402
    ISSUES,
    UPDATE_EVENTS,
    CasePlan,
    DatabaseProbe,
    DrillPlan,
    PartyPlan,
    Planner,
    Quiescence,
    bot_env,
    end_processes,
    play_party_plan,
    postgres_database,
)
from tests.scale.workers import RoundRobinProxy, WebhookWorkers, free_port  # noqa: E402

PARTIES_PER_CASE = 5
# Most parties stop after their first issue and a suggested option; a fifth each submit or stop at the review.
REACH_WEIGHTS = (1, 1, 3)
VISIBLE = frozenset({"bot_message", "bot_edit", "bot_document", "bot_photo"})
_PATH = "/telegram/updates"
_TICKS = os.sysconf("SC_CLK_TCK")


# Waiting for the bot, chat by chat ---------------------------------------------------------------------

class Turns:
    """Tells each conversation when the bot has finished with its last update, for many conversations at once.

    One watcher samples, every few milliseconds, the chats with an update the stand-in has not had confirmed and
    (for Caucus) the chats with a reply still waiting in the outbox; a chat is done when a sample that began
    after its update was sent shows neither. For the echo bot, which confirms before handling, a chat is done
    once the bot made a visible reply after the person's last update.
    """

    def __init__(self, standin: BotApiStandIn, waiting_replies: Callable[[], Awaitable[set[int]]] | None,
                 interval: float = 0.005) -> None:
        self.standin = standin
        self._waiting_replies = waiting_replies
        self._interval = interval
        self._started = 0  # samples begun
        self._busy: set[int | str | None] = set()  # chats not done, in the last finished sample
        self._sample_began = 0  # the number of that sample
        self._sampled = asyncio.Condition()
        self._stopping = False

    async def watch(self) -> None:
        while not self._stopping:
            self._started += 1
            number = self._started
            busy = self.standin.unconfirmed_chats()
            if self._waiting_replies is not None:
                busy |= await self._waiting_replies()
            async with self._sampled:
                self._busy, self._sample_began = busy, number
                self._sampled.notify_all()
            await asyncio.sleep(self._interval)

    def stop(self) -> None:
        self._stopping = True

    def chat(self, chat_id: int) -> ChatTurn:
        return ChatTurn(self, chat_id)

    async def done(self, chat_id: int, within: float) -> None:
        called = self._started
        echo = self._waiting_replies is None

        def finished() -> bool:
            if self._sample_began <= called or chat_id in self._busy:
                return False
            return not echo or _replied(self.standin.events(chat_id))

        async with self._sampled:
            await asyncio.wait_for(self._sampled.wait_for(finished), within)


def _replied(events: list[ChatEvent]) -> bool:
    """The bot made a visible reply after the person's last update."""
    for event in reversed(events):
        if event.kind in VISIBLE:
            return True
        if event.kind in UPDATE_EVENTS:
            return False
    return False


@dataclass
class ChatTurn:
    """What bot.scenario needs of a LocalBot (``standin`` and ``settle``), for one conversation."""

    turns: Turns
    chat_id: int

    @property
    def standin(self) -> BotApiStandIn:
        return self.turns.standin

    async def settle(self, within: float = 300.0) -> None:
        await self.turns.done(self.chat_id, within)


# Figures ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Phase:
    """One bot's measured phase: updates, wall time, and each update's latency (seconds)."""

    updates: int
    seconds: float
    latencies: list[float]
    unanswered: int  # updates after which the bot made no visible reply (a button that only answers the tap)
    cpu_seconds: float  # used by the bot's processes (all threads) over the phase
    loop_seconds: float  # of which by their main threads (the event loop: Python, PTB, SQLAlchemy, the bot)
    started_s: float = 0.0  # from starting the processes to every one saying it runs
    rss_idle_kb: int = 0  # resident memory of the bot's processes once started
    rss_kb: int = 0  # and at the end of the phase, every conversation still open

    @property
    def per_second(self) -> float:
        return self.updates / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _latencies(standin: BotApiStandIn, chats: list[int], since_seq: int) -> tuple[list[float], int]:
    """For each update a person sent after ``since_seq``: the time to the bot's first visible reply after it."""
    latencies: list[float] = []
    unanswered = 0
    for chat in chats:
        sent: ChatEvent | None = None
        for event in standin.events(chat):
            if event.seq <= since_seq:
                continue
            if event.kind in UPDATE_EVENTS:
                if sent is not None:
                    unanswered += 1
                sent = event
            elif event.kind in VISIBLE and sent is not None:
                latencies.append(event.at - sent.at)
                sent = None
        unanswered += sent is not None
    return latencies, unanswered


def _cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """User and system CPU time of these processes so far, and of their main threads alone (Linux /proc)."""
    total = main = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += _ticks(Path(f"/proc/{pid}/stat"))
            main += _ticks(Path(f"/proc/{pid}/task/{pid}/stat"))
    return total / _TICKS, main / _TICKS


def rss_kb(pids: list[int]) -> int:
    """Resident memory of these processes now, in KiB (VmRSS)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _ticks(stat: Path) -> int:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


class Profiler:
    """py-spy sampling processes from ``start`` to ``stop``; their stacks summed into the functions costing most."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        self._spies: list[asyncio.subprocess.Process] = []

    async def start(self, pids: list[int]) -> None:
        if self._folder is None:
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        for pid in pids:
            self._spies.append(await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--gil", "--nonblocking",
                "--output", str(self._folder / f"caucus-{pid}.txt"), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))

    async def stop(self) -> None:
        for spy in self._spies:
            if spy.returncode is None:
                spy.send_signal(signal.SIGINT)
            await spy.wait()

    def report(self, rows: int = 25) -> str:
        if self._folder is None:
            return ""
        own: Counter[str] = Counter()
        total: Counter[str] = Counter()
        samples = 0
        for path in self._folder.glob("caucus-*.txt"):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                stack, _, count = line.rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                frames = [_frame(frame) for frame in stack.split(";")]
                samples += int(count)
                own[frames[-1]] += int(count)
                for frame in set(frames):
                    total[frame] += int(count)
        if not samples:
            return f"no samples were written to {self._folder} (py-spy needs root or ptrace rights)"
        lines = [f"profile: {samples} samples of the Caucus workers (all threads); stacks in {self._folder}",
                 "own time:"]
        lines += [f"  {count / samples:6.1%}  {frame}" for frame, count in own.most_common(rows)]
        lines.append("with what it calls (functions of bot/, storage/, flows/ only):")
        ours = [(frame, count) for frame, count in total.most_common()
                if frame.split(" (", 1)[-1].startswith(("bot/", "storage/", "flows/"))]
        lines += [f"  {count / samples:6.1%}  {frame}" for frame, count in ours[:rows]]
        return "\n".join(lines)


def _frame(raw: str) -> str:
    """"function (path/to/file.py:12)" with the path from the repository or site-packages, line dropped."""
    name, _, where = raw.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in (f"{ROOT}/", "site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def _last_seq(standin: BotApiStandIn) -> int:
    events = standin.events()
    return events[-1].seq if events else 0


# Caucus -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """Where one run happens: the stand-in, the database, how many Caucus workers, the folder for logs."""

    standin: BotApiStandIn
    url: str
    workers: int
    workdir: Path
    profiler: Profiler = dataclasses.field(default_factory=lambda: Profiler(None))
    master_key: MasterKey = dataclasses.field(default_factory=MasterKey.generate)  # the database's, if it has data
    at_once: int = 0  # at most this many cases set up, and parties playing, at a time (0: all at once)


@contextlib.asynccontextmanager
async def _caucus(setting: Setting, master_key: MasterKey, cases: int) -> AsyncIterator[tuple[WebhookWorkers, float]]:
    """The Caucus workers running, and the seconds they took to start."""
    env = bot_env(setting.standin, setting.url, master_key, cases)
    running = WebhookWorkers(setting.workers, env, ROOT, setting.workdir / "caucus.log")
    proxy = RoundRobinProxy(running.targets) if setting.workers > 1 else None
    if proxy is not None:
        await proxy.start()
    try:
        began = time.monotonic()
        await running.start(proxy.url if proxy is not None else running.targets[0])
        yield running, time.monotonic() - began
    finally:
        await running.stop()
        if proxy is not None:
            await proxy.stop()


class Outbox:
    """The chats (as the stand-in numbers them) with a reply still waiting in the outbox, read in one query."""

    def __init__(self, store: Store, url: str, chats: list[int]) -> None:
        self._engine = create_engine(url)
        self._chat_of = {store.chat_key(chat): chat for chat in chats}

    async def waiting(self) -> set[int]:
        async with self._engine.connect() as connection:
            keys = (await connection.execute(
                text("SELECT DISTINCT chat_key FROM outbox WHERE status = 'pending'"))).scalars().all()
        return {self._chat_of[key] for key in keys if key in self._chat_of}

    async def close(self) -> None:
        await self._engine.dispose()


async def run_caucus(setting: Setting, planned: list[CasePlan]) -> tuple[Phase, list[int], int]:
    """Set the cases up, then play every party at once; the measured phase, the parties' chats, its first update."""
    standin, url, profiler, master_key = setting.standin, setting.url, setting.profiler, setting.master_key
    async with _caucus(setting, master_key, len(planned)) as (running, started_s):
        rss_idle = rss_kb(running.pids)
        probe = DatabaseProbe(url)
        everyone = Quiescence(standin, probe)
        watching = asyncio.create_task(everyone.watch())
        tokens: dict[str, dict[str, str]] = {}
        turn = asyncio.Semaphore(setting.at_once or len(planned) * PARTIES_PER_CASE)
        try:
            async def set_up(case: CasePlan) -> None:
                mediator = standin.user(case.mediator_id, "Mediator", "en")
                async with turn:
                    case.short_id, tokens[case.tag] = await create_case(
                        everyone, mediator, case.title, list(ISSUES), [party.label for party in case.parties],
                        points=case.points)

            await asyncio.gather(*(set_up(case) for case in planned))
            await everyone.settle()
        finally:
            everyone.stop()
            await watching
            await probe.close()
        parties = [(case, party) for case in planned for party in case.parties]
        store = Store(create_engine(url), KeyRing(master_key))
        await store.open()  # for the chats' keys in the outbox
        outbox = Outbox(store, url, [party.user_id for _case, party in parties])
        await store.engine.dispose()
        turns = Turns(standin, outbox.waiting)
        watching = asyncio.create_task(turns.watch())
        since_seq = _last_seq(standin)
        first_update = max(0, *(d.update_id for d in standin.webhook_deliveries())) + 1
        await profiler.start(running.pids)
        cpu, loop = _cpu_seconds(running.pids)
        began = time.monotonic()
        try:
            async def play(case: CasePlan, party: PartyPlan) -> None:
                async with turn:
                    await play_party_plan(turns.chat(party.user_id), party,  # type: ignore[arg-type]
                                          tokens[case.tag][party.label])

            await asyncio.gather(*(play(case, party) for case, party in parties))
        finally:
            seconds = time.monotonic() - began
            cpu, loop = (after - before for after, before in zip(_cpu_seconds(running.pids), (cpu, loop),
                                                                   strict=True))
            await profiler.stop()
            turns.stop()
            await watching
            await outbox.close()
        rss = rss_kb(running.pids)
    chats = [party.user_id for _case, party in parties]
    latencies, unanswered = _latencies(standin, chats, since_seq)
    updates = sum(event.kind in UPDATE_EVENTS for chat in chats for event in standin.events(chat)
                  if event.seq > since_seq)
    return Phase(updates, seconds, latencies, unanswered, cpu, loop, started_s, rss_idle, rss), chats, first_update


# The echo bot -------------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def start_echo(standin: BotApiStandIn, workdir: Path) -> AsyncIterator[int]:
    """The bare echo bot running, its webhook set with the stand-in; yields its process id."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{_PATH}"
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": standin.token, "TELEGRAM_API_BASE_URL": standin.base_url}
    log = workdir / "echo.log"
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "echo_bot.py"), str(port), url, secrets.token_hex(16), env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output)
    try:
        for _attempt in range(1200):
            if standin.webhook_url == url:
                break
            if process.returncode is not None:
                raise RuntimeError(f"the echo bot exited with {process.returncode} (log: {log})")
            await asyncio.sleep(0.01)
        else:
            raise TimeoutError(f"the echo bot did not register its webhook (log: {log})")
        yield process.pid
    finally:
        await end_processes([process])  # PTB's run_webhook stops on SIGTERM too


async def run_echo(standin: BotApiStandIn, chats: list[int], first_update: int, workdir: Path) -> Phase:
    """The same updates, chat by chat in the same order, to the bare echo bot."""
    by_chat: dict[int, list[dict[str, object]]] = {chat: [] for chat in chats}
    for update in standin.updates(first_update):
        chat = update_chat(update)
        if chat in by_chat:
            by_chat[chat].append(update)
    async with start_echo(standin, workdir) as pid:
        turns = Turns(standin, None)
        watching = asyncio.create_task(turns.watch())
        since_seq = _last_seq(standin)
        replays = itertools.count(1)

        async def replay(chat: int) -> None:
            for update in by_chat[chat]:
                update.pop("update_id", None)
                if isinstance(query := update.get("callback_query"), dict):
                    query["id"] = f"echo{next(replays)}"  # a fresh query: the recorded one was answered
                standin.enqueue_update(update)
                await turns.done(chat, 300.0)

        cpu, loop = _cpu_seconds([pid])
        began = time.monotonic()
        try:
            await asyncio.gather(*(replay(chat) for chat in chats))
        finally:
            seconds = time.monotonic() - began
            cpu, loop = (after - before for after, before in zip(_cpu_seconds([pid]), (cpu, loop), strict=True))
            turns.stop()
            await watching
    latencies, unanswered = _latencies(standin, chats, since_seq)
    updates = sum(len(updates) for updates in by_chat.values())
    return Phase(updates, seconds, latencies, unanswered, cpu, loop)


# Main ---------------------------------------------------------------------------------------------------

def _row(name: str, phase: Phase) -> str:
    return (f"{name:<28} {phase.updates:>7} updates in {phase.seconds:7.1f} s: {phase.per_second:7.1f}/s; "
            f"latency p50 {phase.percentile(0.5) * 1000:7.1f} ms, p99 {phase.percentile(0.99) * 1000:7.1f} ms; "
            f"CPU {phase.cpu_seconds / phase.updates * 1000:5.1f} ms per update "
            f"({phase.loop_seconds / phase.updates * 1000:.1f} ms in the event loop's thread)")


async def _bench(args: argparse.Namespace, workdir: Path) -> None:
    cases = max(1, args.conversations // PARTIES_PER_CASE)
    plan = DrillPlan(kill_points=0, cases_per_set=cases, parties_per_case=(PARTIES_PER_CASE, PARTIES_PER_CASE),
                     reach_weights=REACH_WEIGHTS)
    planned = Planner(plan).cases(0)
    folder: Path | None = args.profile
    profiler = Profiler(folder)
    with BotApiStandIn() as standin:
        if args.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir / 'caucus.sqlite3'}"
            caucus, chats, first = await run_caucus(Setting(standin, url, args.workers, workdir, profiler), planned)
        else:
            async with postgres_database("caucus_bench") as url:
                caucus, chats, first = await run_caucus(Setting(standin, url, args.workers, workdir, profiler),
                                                        planned)
        stuck = [stuck for case in planned for stuck in case.stuck]
        echo = await run_echo(standin, chats, first, workdir)
    setting = f"{args.backend}, {args.workers} worker(s), {len(chats)} conversations at once"
    print(f"throughput and latency ({setting}; {os.cpu_count()} CPUs)")
    print(_row("Caucus (full stack)", caucus))
    print(_row("bare PTB echo bot", echo))
    print(f"{'ratio Caucus / echo':<28} throughput {caucus.per_second / echo.per_second:.2f}x; "
          f"latency p50 {caucus.percentile(0.5) / echo.percentile(0.5):.1f}x, "
          f"p99 {caucus.percentile(0.99) / echo.percentile(0.99):.1f}x")
    print(f"updates without a visible reply (taps answered silently): Caucus {caucus.unanswered}, "
          f"echo {echo.unanswered}; scripts stuck: {len(stuck)}")
    if stuck:
        print("\n".join(stuck[:10]), file=sys.stderr)
    print(json.dumps({"setting": setting, "caucus_per_s": round(caucus.per_second, 2),
                      "echo_per_s": round(echo.per_second, 2)}))
    if folder is not None:
        print(profiler.report())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="Caucus processes (more than one: PostgreSQL)")
    parser.add_argument("--conversations", type=int, default=100, help="parties going through their caucus at once")
    parser.add_argument("--profile", metavar="DIR", help="sample the Caucus workers with py-spy; stacks go to DIR")
    args = parser.parse_args()
    if args.workers > 1 and args.backend == "sqlite":
        parser.error("several workers share a PostgreSQL database: add --backend postgresql")
    if args.profile is not None:
        args.profile = Path(args.profile).resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
    return run_in_folder("caucus-bench-", lambda workdir: _bench(args, workdir))


def run_in_folder(prefix: str, bench: Callable[[Path], Coroutine[object, object, None]]) -> int:
    """Run ``bench`` in a new folder: removed once it succeeded, kept (and named) with its logs when it fails."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        asyncio.run(bench(workdir))
    except BaseException:
        print(f"the bench failed; its logs and database are in {workdir}", file=sys.stderr)
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
