"""``caucusbot demo``: a whole scripted mediation, then a grievance, on the real stack, with no token and no network.

The real bot, a real SQLite database and real encryption run against the local Bot API
stand-in on 127.0.0.1. The transcript printed is the demo's own synthetic mediation.
"""

from __future__ import annotations

import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.config import Settings
from bot.i18n import _
from bot.local import LocalBot
from bot.scenario import (
    GrievanceScript,
    IssueAnswer,
    IssueSetup,
    PartyScript,
    create_case,
    file_grievance,
    play_party,
    tap,
    type_text,
)
from bot.standin import BotApiStandIn, ChatEvent, ChatMessage, SimUser
from flows.grievance import REFERENCE_PATTERN, Urgency
from flows.model import InterestCategory as Cat
from flows.model import Rating, ShareLevel
from storage.crypto import MasterKey
from storage.db import default_sqlite_url

__all__ = ["DEMO_ISSUES", "DEMO_PARTIES", "demo_scripts", "format_transcript", "run_demo"]

MEDIATOR_ID = 1001
DEMO_TITLE = "Water sharing in the upper valley"
DEMO_ISSUES = [
    IssueSetup("Irrigation days at the spring", scale=("days a week", "0", "7")),
    IssueSetup("Repair of the canal", options=("Each party pays a third", "The council pays, herders give labour")),
    IssueSetup("Grazing routes", options=("A marked corridor along the river", "Grazing only after the harvest")),
]
DEMO_PARTIES = ["Upstream farmers", "Downstream herders", "Village council"]
_TITLES = tuple(issue.title for issue in DEMO_ISSUES)


def demo_scripts(language: str) -> dict[str, PartyScript]:
    """Three parties with overlapping interests; each keeps something private; ranges overlap on 4 days."""
    return {
        "Upstream farmers": PartyScript(language, (
            IssueAnswer("We keep the spring for irrigation from May to August.", (Cat.LIVELIHOOD, Cat.LAND),
                        "Our harvest depends on summer water; without it families leave.", range=("4", "6", "5")),
            IssueAnswer("The herders should pay half of the canal repair.", (Cat.LIVELIHOOD,),
                        "We cannot afford the repair alone this year.",
                        ratings=(Rating.ACCEPTABLE, Rating.LIVE_WITH)),
            IssueAnswer("Herds must stay off the terraces.", (Cat.SECURITY,),
                        "Animals broke two terrace walls last spring.",
                        ratings=(Rating.IDEAL, Rating.ACCEPTABLE)),
        ), ranking=_TITLES,
            optional=("A written promise that herds stay off the terraces.", None,
                      "Our families must see the summer water protected.", None),
            share={2: ShareLevel.JOINT, 7: ShareLevel.PRIVATE}),
        "Downstream herders": PartyScript(language, (
            IssueAnswer("Animals need the spring every evening.", (Cat.LIVELIHOOD, Cat.DIGNITY),
                        "Our herds are our savings; we feel treated as intruders.", range=("2", "4", "3")),
            IssueAnswer("We can give labour for the canal, not money.", (Cat.PARTICIPATION,),
                        "We want a say in how the repair is done.",
                        ratings=(Rating.UNACCEPTABLE, Rating.IDEAL)),
            IssueAnswer("An agreed corridor along the river.", (Cat.SECURITY, Cat.RELATIONSHIPS),
                        "Young herders were threatened; we want safe passage.",
                        ratings=(Rating.IDEAL, Rating.LIVE_WITH)),
        ), ranking=("Grazing routes", "Irrigation days at the spring", "Repair of the canal"),
            optional=(None, "Labour for the canal in the dry season.", None,
                      "We would have to move the herds further away, with more losses."),
            share={1: ShareLevel.PRIVATE, 2: ShareLevel.JOINT}),
        "Village council": PartyScript(language, (
            IssueAnswer("A shared timetable for the spring, posted at the mosque and the school.",
                        (Cat.RELATIONSHIPS,), "We want the quarrels to stop before someone is hurt.",
                        range=("3", "5", "4")),
            IssueAnswer("The council can fund a third of the repair.", (Cat.LIVELIHOOD, Cat.PARTICIPATION),
                        "The canal serves the whole village.", ratings=(Rating.ACCEPTABLE, Rating.ACCEPTABLE)),
            IssueAnswer("Mark the corridor with stones.", (Cat.SECURITY,),
                        "Clear marks prevent accidents and blame.", ratings=(Rating.IDEAL, Rating.UNACCEPTABLE)),
        ), ranking=("Repair of the canal", "Irrigation days at the spring", "Grazing routes")),
    }


def _saved(message: ChatMessage, folder: Path | None) -> str:
    """The file a message carried: its name, and where it was saved when asked."""
    name, content = message.document if message.document is not None else ("caucus-chart.png", message.photo or b"")
    if folder is None:
        return f"file {name}, {len(content):,} bytes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return f"saved to {path}"


def _readable(text: str) -> str:
    """Drop the Unicode isolates around party text: invisible in chat apps, odd glyphs in a terminal."""
    return text.replace("\u2068", "").replace("\u2069", "")


def format_transcript(title: str, events: list[ChatEvent]) -> str:
    """A participant's conversation as a readable transcript."""
    lines = [f"=== {title} ==="]
    deleted = {"bot_delete_user": 0, "bot_delete": 0}
    for event in events:
        text = _readable(event.text)
        if event.kind in deleted:  # said once per run of deletions, after the answer that caused them
            deleted[event.kind] += 1
            continue
        _said_deleted(lines, deleted)
        if event.kind in {"user_text", "user_command"}:  # several lines (a scale) stay under their prefix
            lines.append("  you   > " + textwrap.indent(text, " " * 10).lstrip())
        elif event.kind == "user_press":
            lines.append(f"  you   > [{text}]")
        elif event.kind == "user_other":
            lines.append(f"  you   > ({text})")
        elif event.kind in {"bot_message", "bot_edit"}:
            prefix = "  caucus< " if event.kind == "bot_message" else "  caucus~ "
            body = textwrap.indent(text, " " * len(prefix)).lstrip()
            lines.append(prefix + body)
            lines.extend(" " * len(prefix) + "  ".join(f"[ {b} ]" for b in row) for row in event.buttons)
    _said_deleted(lines, deleted)
    return "\n".join(lines)


def _said_deleted(lines: list[str], deleted: dict[str, int]) -> None:
    """One line for a run of deletions (answers and screens leave the chat once saved), then start counting anew."""
    if any(deleted.values()):
        lines.append(f"  caucus✂ deleted from the chat: {deleted['bot_delete_user']} of yours, "
                     f"{deleted['bot_delete']} of the bot's")
        deleted.update(dict.fromkeys(deleted, 0))


@dataclass(frozen=True)
class DemoRun:
    """Where the scripted mediation left things: the case, the parties' accounts, and where each output starts."""

    short_id: str
    users: dict[str, SimUser]
    summary_from: int  # the mediator's messages from /summary on …
    summary_to: int  # … up to the joint summary's preview
    joint_from: int  # the first party's messages from the joint summary on …
    joint_to: int  # … up to the agreement


# The agreement the joint session reached, as the mediator writes it down (in English whatever the languages: a
# party reading another language gets the original with its language named).
DEMO_AGREEMENT = ("Partial agreement on the spring and the canal. The upstream farmers irrigate four days a week "
                  "(Monday, Wednesday, Friday, Saturday); the herders water their animals at the spring on the other "
                  "days. The canal is repaired by the council, the herders giving labour.")


async def play_agreement(local: LocalBot, mediator: SimUser, users: dict[str, SimUser], language: str,
                         mediator_language: str) -> None:
    """After the joint session: the mediator drafts the agreement with one commitment and sends it; all confirm."""
    await tap(local, mediator, _("📜 Agreements and commitments"), mediator_language)
    await tap(local, mediator, _("➕ New agreement"), mediator_language)
    await type_text(local, mediator, DEMO_AGREEMENT)
    await tap(local, mediator, _("➕ Add a commitment"), mediator_language)
    await tap(local, mediator, DEMO_PARTIES[2], mediator_language)
    due = (local.bot.runtime.clock() + timedelta(days=45)).date().isoformat()
    await type_text(local, mediator, f"Repair the canal gate and the first 200 metres of the canal\n{due}\n"
                                     "The herders and the farmers walk the canal together")
    await tap(local, mediator, _("📨 Send to the parties"), mediator_language)
    await tap(local, mediator, _("📨 Send"), mediator_language)
    for user in users.values():
        await tap(local, user, _("✅ I confirm"), language)


async def play_demo(local: LocalBot, standin: BotApiStandIn, language: str, mediator_language: str = "en") -> DemoRun:
    """The scripted mediation: set-up, three parties' caucus, the summary, the joint summary, then the agreement."""
    mediator = standin.user(MEDIATOR_ID, "Mediator", mediator_language)
    short_id, tokens = await create_case(local, mediator, DEMO_TITLE, DEMO_ISSUES, DEMO_PARTIES)
    scripts = demo_scripts(language)
    users = {}
    for number, party in enumerate(DEMO_PARTIES):
        users[party] = standin.user(2001 + number, f"Party {number + 1}", language)
        await play_party(local, users[party], tokens[party], scripts[party])
    mediator.send_command("/status", short_id)
    await local.settle()
    summary_from = len(standin.messages(MEDIATOR_ID))
    mediator.send_command("/summary", short_id)
    await local.settle()
    summary_to = len(standin.messages(MEDIATOR_ID))
    joint_from = len(standin.messages(users[DEMO_PARTIES[0]].user_id))
    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, _("📣 Joint summary for the parties"), mediator_language)
    await tap(local, mediator, _("📣 Send to every party"), mediator_language)
    joint_to = len(standin.messages(users[DEMO_PARTIES[0]].user_id))
    mediator.send_command("/cases", short_id)
    await local.settle()
    await play_agreement(local, mediator, users, language, mediator_language)
    return DemoRun(short_id, users, summary_from, summary_to, joint_from, joint_to)


TRIAGE_ID = 3001
REPORTER_ID = 4001
# The demo's grievance, in each language it can play: a community member reports what happened to them.
GRIEVANCE_TEXTS = {
    "en": "Since the new fence was built, our cattle cannot reach the river. The herders of the lower valley lost "
          "three animals this month.",
    "fr": "Depuis la construction de la nouvelle clôture, notre bétail ne peut plus atteindre la rivière. Les éleveurs "
          "de la basse vallée ont perdu trois bêtes ce mois-ci.",
    "es": "Desde que construyeron la nueva cerca, nuestro ganado no puede llegar al río. Los pastores del valle bajo "
          "perdieron tres animales este mes.",
    "ar": "منذ بناء السياج الجديد لم تعد ماشيتنا قادرة على الوصول إلى النهر. "
          "فقد رعاة الوادي الأسفل ثلاثة رؤوس هذا الشهر.",
    "sw": "Tangu uzio mpya ujengwe, mifugo yetu haiwezi kufika mtoni. Wafugaji wa bonde la chini wamepoteza wanyama "
          "watatu mwezi huu.",
    "uk": "Відколи збудували новий паркан, наша худоба не може дістатися до річки. Пастухи нижньої долини цього "
          "місяця втратили трьох тварин.",
    "ru": "С тех пор как построили новый забор, наш скот не может дойти до реки. Пастухи нижней долины потеряли в "
          "этом месяце трёх животных.",
}


async def play_grievance(local: LocalBot, standin: BotApiStandIn, language: str) -> None:
    """A community member reports a grievance anonymously; the triage officer takes it up and answers."""
    officer = standin.user(TRIAGE_ID, "Triage officer", "en")
    officer.send_command("/start")
    await local.settle()
    person = standin.user(REPORTER_ID, "Community member", language)
    await file_grievance(local, person, GrievanceScript(
        language=language, category="land", region="Lower valley", typed_region=True,
        description=(GRIEVANCE_TEXTS[language],), urgency=Urgency.URGENT, deep_link=True))
    reference = REFERENCE_PATTERN.search(standin.messages(REPORTER_ID)[-1].text)
    officer.send_command("/grievances")
    await local.settle()
    await tap(local, officer, "1")
    await tap(local, officer, _("🔎 Under review"))
    await type_text(local, officer, "We will visit the lower valley on Monday with the district office.")
    person.send_command("/track", reference.group(0) if reference else "")
    await local.settle()


async def run_demo(language: str = "en", save: Path | None = None) -> int:
    """Run the scripted mediation and print the transcripts, the mediator's summary and the joint summary.

    With ``save``, the chart and the report the mediator received are written into that folder."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="caucus-demo-") as folder, BotApiStandIn() as standin:
        settings = Settings(
            token=standin.token, master_key=MasterKey.generate(),
            database_url=default_sqlite_url(Path(folder)), mediator_ids=frozenset({MEDIATOR_ID}),
            triage_ids=frozenset({TRIAGE_ID}),
        )
        local = LocalBot(standin, settings)
        await local.start()
        try:
            run = await play_demo(local, standin, language)
            await play_grievance(local, standin, language)
        finally:
            await local.stop()
        users, summary_from, summary_to = run.users, run.summary_from, run.summary_to
        for party, user in users.items():
            print(format_transcript(f"{party} (party, private chat)", standin.events(user.user_id)))
            print()
        print(format_transcript("Mediator (private chat)", standin.events(MEDIATOR_ID)))
        print()
        print("=== The mediator's summary ===")
        for message in standin.messages(MEDIATOR_ID)[summary_from:summary_to]:
            if message.document is not None or message.photo is not None:
                print(f"[{_saved(message, save)}] {_readable(message.text)}")
            else:
                print(_readable(message.text))
        print()
        print(f"=== The joint summary, as {DEMO_PARTIES[0]} received it ===")
        for message in standin.messages(users[DEMO_PARTIES[0]].user_id)[run.joint_from:run.joint_to]:
            print(_readable(message.text))
        print()
        print(format_transcript("Community member (reports a grievance, private chat)", standin.events(REPORTER_ID)))
        print()
        print(format_transcript("Triage officer (private chat)", standin.events(TRIAGE_ID)))
        print()
        print(f"Demo finished in {time.monotonic() - started:.1f} s: real bot, SQLite, AES-GCM, "
              f"Bot API stand-in at {standin.base_url.rsplit('/', 1)[0]}.")
    return 0
