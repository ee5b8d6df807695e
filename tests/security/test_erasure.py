"""What a seized phone shows, and what erasure leaves: answers leave the chat once saved, /quickexit, /history,
closing and erasing a case, and the retention purge of closed cases and grievances (real bot, stand-in, SQLite)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.i18n import Text, _
from bot.local import LocalBot
from bot.scenario import (
    GrievanceScript,
    IssueAnswer,
    PartyScript,
    create_case,
    file_grievance,
    join,
    play_caucus,
    play_party,
    tap,
    type_text,
)
from bot.standin import BotApiStandIn, SimUser
from flows.grievance import REFERENCE_PATTERN, Urgency
from flows.model import InterestCategory, ShareLevel
from storage.crypto import MasterKey
from storage.db import default_sqlite_url
from storage.tables import utcnow

MEDIATOR_ID, TRIAGE_ID = 1001, 3001
ISSUES = ["Access to the spring", "Grazing corridor"]
PARTIES = ["Upstream", "Downstream"]


def _script(canary: str) -> PartyScript:
    return PartyScript("en", (
        IssueAnswer(f"{canary} position one", (InterestCategory.LIVELIHOOD,), f"{canary} words one"),
        IssueAnswer(f"{canary} position two", (InterestCategory.SECURITY,), f"{canary} words two"),
    ), ranking=tuple(ISSUES), share={1: ShareLevel.JOINT})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(token="1:unused", master_key=MasterKey.generate(), database_url=default_sqlite_url(tmp_path),
                    mediator_ids=frozenset({MEDIATOR_ID}), triage_ids=frozenset({TRIAGE_ID}),
                    retention=timedelta(days=30))


def _visible_texts(standin: BotApiStandIn, chat_id: int) -> list[str]:
    return [message.text for message in standin.messages(chat_id) if not message.deleted]


async def _setup(local: LocalBot, standin: BotApiStandIn) -> tuple[str, dict[str, str], SimUser]:
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    short_id, tokens = await create_case(local, mediator, "Spring case", ISSUES, PARTIES)
    return short_id, tokens, mediator


async def _answered_case(local: LocalBot, standin: BotApiStandIn, user_id: int,
                         canary: str) -> tuple[str, SimUser, SimUser]:
    """A case in which one party has answered everything (not submitted): its short id, mediator and party."""
    short_id, tokens, mediator = await _setup(local, standin)
    party = standin.user(user_id, "Upstream")
    await play_party(local, party, tokens["Upstream"], _script(canary), submit=False)
    return short_id, mediator, party


async def _confirm_in_case_menu(local: LocalBot, mediator: SimUser, short_id: str, button: Text) -> None:
    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, button)
    await tap(local, mediator, _("Yes"))


def _live_case_data(tmp_path: Path) -> tuple[int, int]:
    """How many case and party data keys can still be unwrapped, and how many answers are stored."""
    with sqlite3.connect(tmp_path / "caucus.sqlite3") as connection:
        live = connection.execute(
            "SELECT count(*) FROM data_keys WHERE scope IN ('case', 'party') AND wrapped IS NOT NULL").fetchone()[0]
        answers = connection.execute("SELECT count(*) FROM answers").fetchone()[0]
    return live, answers


async def test_answers_and_prompts_leave_the_chat_once_saved(standin: BotApiStandIn, local: LocalBot) -> None:
    """With the case's default setting, a party's chat ends up holding none of what it typed nor the questions."""
    _short, tokens, _mediator = await _setup(local, standin)
    party = standin.user(2001, "Upstream")
    await play_party(local, party, tokens["Upstream"], _script("CANARY-A1"))
    assert standin.visible_user_messages(2001) == [], "typed answers must be deleted once saved"
    visible = "\n".join(_visible_texts(standin, 2001))
    assert "CANARY-A1" not in visible
    assert "Access to the spring" not in visible  # the questions went too
    assert "Your join code is" in visible, "the join code stays: the mediator may ask for it later"
    assert standin.calls("deleteMessages"), "deletions go through deleteMessages"
    assert all(call.ok for call in standin.calls("deleteMessages"))


async def test_a_screen_sent_twice_leaves_no_copy_behind(standin: BotApiStandIn, local: LocalBot) -> None:
    """Telegram posts a caucus screen but its answer is lost, so the bot sends it again: both copies leave the
    chat with the other screens (the first copy's id was never known)."""
    _short, tokens, _mediator = await _setup(local, standin)
    party, script = standin.user(2003, "Upstream"), _script("CANARY-TWICE")
    await join(local, party, tokens["Upstream"], "en")
    standin.lose_next_response("sendMessage")  # the screen after the first answer
    await play_caucus(local, party, script)
    twins = standin.sent_twice(2003)
    assert len(twins) == 1, "the screen whose answer was lost went out twice"
    assert [copy.deleted for copy in twins[0]] == [True, True], "both copies left the chat"
    visible = "\n".join(_visible_texts(standin, 2003))
    assert "CANARY-TWICE" not in visible
    assert "Access to the spring" not in visible


async def test_the_mediator_can_keep_answers_in_the_chats(standin: BotApiStandIn, local: LocalBot) -> None:
    """Turned off in the case menu, nothing is deleted: the party still sees what it typed."""
    short_id, tokens, mediator = await _setup(local, standin)
    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, _("🧹 Delete answers from chats: on"))
    assert _("🧹 Delete answers from chats: off").msgid in mediator.buttons()
    party = standin.user(2002, "Upstream")
    await join(local, party, tokens["Upstream"], "en")
    await type_text(local, party, "CANARY-KEPT position")
    assert len(standin.visible_user_messages(2002)) >= 2  # the /start link and the answer
    assert not standin.calls("deleteMessages")


async def test_quick_exit_deletes_the_whole_conversation(standin: BotApiStandIn, local: LocalBot) -> None:
    """/quickexit deletes every message the bot still can, the command included, and leaves one ordinary line."""
    _short, tokens, _mediator = await _setup(local, standin)
    party = standin.user(2003, "Upstream")
    await join(local, party, tokens["Upstream"], "en")
    await type_text(local, party, "CANARY-QX position")
    party.send_command("/help")
    await local.settle()
    party.send_command("/quickexit")
    await local.settle()
    assert standin.visible_user_messages(2003) == []
    remaining = _visible_texts(standin, 2003)
    assert remaining == [_("Hello! Send /help to see what this bot can do.").msgid]
    party.send_command("/resume")  # the person can come back when safe
    await local.settle()
    assert len(_visible_texts(standin, 2003)) == 2


async def test_history_shows_who_received_which_item(standin: BotApiStandIn, local: LocalBot) -> None:
    """/history tells a party when it joined and sent its answers, and which items the mediator's summary and
    the joint summary carried, without quoting any of them."""
    short_id, tokens, mediator = await _setup(local, standin)
    up, down = standin.user(2004, "Upstream"), standin.user(2005, "Downstream")
    await play_party(local, up, tokens["Upstream"], _script("CANARY-H1"))
    await play_party(local, down, tokens["Downstream"], _script("CANARY-H2"))
    mediator.send_command("/summary", short_id)
    await local.settle()
    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, _("📣 Joint summary for the parties"))
    await tap(local, mediator, _("📣 Send to every party"))
    up.send_command("/history")
    await local.settle()
    history = up.last_message()
    assert history is not None
    text = history.text.replace("\u2068", "").replace("\u2069", "")
    assert "you joined the case" in text
    assert "you sent your answers for round 1" in text
    assert "the mediator received a summary, with:" in text
    assert "every party received the joint summary, with: Position on Access to the spring" in text
    assert "CANARY-H1" not in text


async def test_closing_then_purging_a_case_erases_it(standin: BotApiStandIn, local: LocalBot, tmp_path: Path) -> None:
    """A closed case is kept for the retention period, then crypto-shredded: its keys and rows are gone, the
    parties' words no longer exist in the database, and the audit trail records it without content."""
    short_id, mediator, party = await _answered_case(local, standin, 2006, "CANARY-P1")
    await _confirm_in_case_menu(local, mediator, short_id, _("🔒 Close the case"))
    assert "closed this case" in party.last_message().text  # type: ignore[union-attr]
    assert (await local.bot.purge()).cases == 0  # still within the retention period
    local.bot.runtime.clock = lambda: utcnow() + timedelta(days=31)
    counts = await local.bot.purge()
    assert counts.cases == 1
    mediator.send_command("/status", short_id)
    await local.settle()
    assert short_id not in mediator.last_message().text  # type: ignore[union-attr]
    assert (await local.bot.store.verify_audit()).intact
    assert _live_case_data(tmp_path) == (0, 0)


async def test_erasing_a_case_now_tells_the_parties_and_shreds_its_keys(
        standin: BotApiStandIn, local: LocalBot, tmp_path: Path) -> None:
    """The lead mediator can erase a case at once; each party is told only that it was closed and erased."""
    short_id, mediator, party = await _answered_case(local, standin, 2007, "CANARY-E1")
    assert _live_case_data(tmp_path) != (0, 0)
    await _confirm_in_case_menu(local, mediator, short_id, _("🗑 Erase the case"))
    assert party.last_message().text.startswith("A case you took part in was closed")  # type: ignore[union-attr]
    assert "is erased" in mediator.last_message().text  # type: ignore[union-attr]
    assert _live_case_data(tmp_path) == (0, 0)
    party.send_command("/resume")
    await local.settle()
    assert "nothing to resume" in party.last_message().text  # type: ignore[union-attr]


async def test_a_closed_grievance_is_purged_after_the_retention_period(
        standin: BotApiStandIn, local: LocalBot, tmp_path: Path) -> None:
    """A grievance closed by the team is erased once the retention period has passed; an open one stays."""
    reporter, other = standin.user(4001, "Reporter"), standin.user(4002, "Other")
    await file_grievance(local, reporter, GrievanceScript(
        language="en", category="land", region="Riverside", typed_region=True,
        description=("CANARY-G1 fence moved",), urgency=Urgency.ROUTINE))
    await file_grievance(local, other, GrievanceScript(
        language="en", category="water", region="Hilltop", typed_region=True,
        description=("CANARY-G2 well dry",), urgency=Urgency.ROUTINE))
    found = REFERENCE_PATTERN.search("\n".join(_visible_texts(standin, 4001)))
    assert found is not None, "the receipt with its reference stays in the chat"
    assert standin.visible_user_messages(4001) == [], "what the reporter sent left the chat, the command included"
    officer = standin.user(TRIAGE_ID, "Officer")
    officer.send_command("/grievances", found.group(0))
    await local.settle()
    await tap(local, officer, _("🔒 Close it"))
    await tap(local, officer, _("Without a message"))
    assert (await local.bot.purge()).grievances == 0  # closed just now: kept for the retention period
    local.bot.runtime.clock = lambda: utcnow() + timedelta(days=31)
    counts = await local.bot.purge()
    assert (counts.cases, counts.grievances) == (0, 1)
    with sqlite3.connect(tmp_path / "caucus.sqlite3") as connection:
        left = connection.execute("SELECT count(*) FROM grievances").fetchone()[0]
    assert left == 1
