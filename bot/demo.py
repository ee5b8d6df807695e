"""``caucusbot demo``: a whole scripted mediation on the real stack, with no token and no network.

The real bot, a real SQLite database and real encryption run against the local Bot API
stand-in on 127.0.0.1. The transcript printed is the demo's own synthetic mediation.
"""

from __future__ import annotations

import tempfile
import textwrap
import time
from pathlib import Path

from bot.config import Settings
from bot.local import LocalBot
from bot.scenario import IssueAnswer, PartyScript, create_case, play_party
from bot.standin import BotApiStandIn, ChatEvent
from flows.model import InterestCategory as Cat
from flows.model import ShareLevel
from storage.crypto import MasterKey
from storage.db import default_sqlite_url

__all__ = ["DEMO_ISSUES", "DEMO_PARTIES", "demo_scripts", "format_transcript", "run_demo"]

MEDIATOR_ID = 1001
DEMO_TITLE = "Water sharing in the upper valley"
DEMO_ISSUES = ["Access to the spring", "Repair of the canal", "Grazing routes"]
DEMO_PARTIES = ["Upstream farmers", "Downstream herders", "Village council"]


def demo_scripts(language: str) -> dict[str, PartyScript]:
    """Three parties with overlapping interests; each keeps something private."""
    return {
        "Upstream farmers": PartyScript(language, (
            IssueAnswer("We keep the spring for irrigation from May to August.", (Cat.LIVELIHOOD, Cat.LAND),
                        "Our harvest depends on summer water; without it families leave."),
            IssueAnswer("The herders should pay half of the canal repair.", (Cat.LIVELIHOOD,),
                        "We cannot afford the repair alone this year."),
            IssueAnswer("Herds must stay off the terraces.", (Cat.SECURITY,),
                        "Animals broke two terrace walls last spring."),
        ), ("Access to the spring", "Repair of the canal", "Grazing routes"),
            {2: ShareLevel.JOINT, 5: ShareLevel.PRIVATE}),
        "Downstream herders": PartyScript(language, (
            IssueAnswer("Animals need the spring every evening.", (Cat.LIVELIHOOD, Cat.DIGNITY),
                        "Our herds are our savings; we feel treated as intruders."),
            IssueAnswer("We can give labour for the canal, not money.", (Cat.PARTICIPATION,),
                        "We want a say in how the repair is done."),
            IssueAnswer("An agreed corridor along the river.", (Cat.SECURITY, Cat.RELATIONSHIPS),
                        "Young herders were threatened; we want safe passage."),
        ), ("Grazing routes", "Access to the spring", "Repair of the canal"),
            {1: ShareLevel.PRIVATE, 2: ShareLevel.JOINT}),
        "Village council": PartyScript(language, (
            IssueAnswer("Shared timetable for the spring, posted at the mosque and the school.",
                        (Cat.RELATIONSHIPS,), "We want the quarrels to stop before someone is hurt."),
            IssueAnswer("The council can fund a third of the repair.", (Cat.LIVELIHOOD, Cat.PARTICIPATION),
                        "The canal serves the whole village."),
            IssueAnswer("Mark the corridor with stones.", (Cat.SECURITY,),
                        "Clear marks prevent accidents and blame."),
        ), ("Repair of the canal", "Access to the spring", "Grazing routes"), {}),
    }


def _readable(text: str) -> str:
    """Drop the Unicode isolates around party text: invisible in chat apps, odd glyphs in a terminal."""
    return text.replace("\u2068", "").replace("\u2069", "")


def format_transcript(title: str, events: list[ChatEvent]) -> str:
    """A participant's conversation as a readable transcript."""
    lines = [f"=== {title} ==="]
    for event in events:
        text = _readable(event.text)
        if event.kind in {"user_text", "user_command"}:
            lines.append(f"  you   > {text}")
        elif event.kind == "user_press":
            lines.append(f"  you   > [{text}]")
        elif event.kind == "user_other":
            lines.append(f"  you   > ({text})")
        elif event.kind in {"bot_message", "bot_edit"}:
            prefix = "  caucus< " if event.kind == "bot_message" else "  caucus~ "
            body = textwrap.indent(text, " " * len(prefix)).lstrip()
            lines.append(prefix + body)
            lines.extend(" " * len(prefix) + "  ".join(f"[ {b} ]" for b in row) for row in event.buttons)
    return "\n".join(lines)


async def run_demo(language: str = "en") -> int:
    """Run the scripted mediation and print the transcripts and the mediator's summary."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="caucus-demo-") as folder, BotApiStandIn() as standin:
        settings = Settings(
            token=standin.token, master_key=MasterKey.generate(),
            database_url=default_sqlite_url(Path(folder)), mediator_ids=frozenset({MEDIATOR_ID}),
        )
        local = LocalBot(standin, settings)
        await local.start()
        try:
            mediator = standin.user(MEDIATOR_ID, "Mediator", "en")
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
        finally:
            await local.stop()
        for party, user in users.items():
            print(format_transcript(f"{party} (party, private chat)", standin.events(user.user_id)))
            print()
        print(format_transcript("Mediator (private chat)", standin.events(MEDIATOR_ID)))
        print()
        print("=== The mediator's summary ===")
        for message in standin.messages(MEDIATOR_ID)[summary_from:]:
            print(_readable(message.text))
        print()
        print(f"Demo finished in {time.monotonic() - started:.1f} s: real bot, SQLite, AES-GCM, "
              f"Bot API stand-in at {standin.base_url.rsplit('/', 1)[0]}.")
    return 0
