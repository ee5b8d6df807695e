"""A whole mediation through the real PTB Application, the stand-in, SQLite and AES-GCM."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.config import Settings
from bot.i18n import _
from bot.local import LocalBot
from bot.logs import configure_logging
from bot.scenario import (
    IssueAnswer,
    PartyScript,
    answer_issue,
    create_case,
    join,
    label,
    play_party,
    received_text,
    submit_answers,
    tap,
    type_text,
)
from bot.standin import BotApiStandIn
from flows.model import InterestCategory as Cat
from flows.model import ShareLevel
from storage.crypto import MasterKey
from storage.db import default_sqlite_url

MEDIATOR_ID = 1001
ISSUES = ["Access to the spring", "Repair of the canal"]
PARTIES = ["Party A", "Party B", "Party C"]
# Review items, in order: 1 position 1, 2 interests 1, 3 position 2, 4 interests 2, 5 ranking.
SHARE_CHOICES = {
    "Party A": {1: ShareLevel.PRIVATE, 4: ShareLevel.JOINT},
    "Party B": {2: ShareLevel.PRIVATE, 5: ShareLevel.PRIVATE},
    "Party C": {3: ShareLevel.JOINT},
}
DEFAULT_LEVEL = ShareLevel.MEDIATOR


@dataclass
class MediationRun:
    """What one whole mediation left behind, for the tests below to inspect."""

    standin: BotApiStandIn
    database: Path
    log_file: Path
    party_ids: dict[str, int]
    # party -> review item number -> marker found in that item's text
    markers: dict[str, dict[int, str]] = field(default_factory=dict)
    summary: str = ""


def _marker(party: str, item: int) -> str:
    return f"MARK{party[-1]}{item}x{uuid.uuid4().hex[:10]}"


def _script(party: str, markers: dict[int, str]) -> PartyScript:
    answers = []
    for index in range(len(ISSUES)):
        position, words = markers[2 * index + 1], markers[2 * index + 2]
        answers.append(IssueAnswer(
            f"{position} we ask for a fair share", (Cat.LIVELIHOOD, Cat.SECURITY) if index == 0 else (Cat.LAND,),
            f"{words} because our families depend on it",
        ))
    return PartyScript("en", tuple(answers), tuple(ISSUES), share=SHARE_CHOICES[party])


async def _run_mediation(folder: Path) -> MediationRun:
    log_file = folder / "caucus.log"
    root = logging.getLogger()
    previous = (root.level, list(root.handlers))
    log_stream = log_file.open("w", encoding="utf-8")
    configure_logging(logging.DEBUG, log_stream)  # the product's own logging, at its most verbose
    standin = BotApiStandIn()
    standin.start()
    settings = Settings(
        token="1:unused", master_key=MasterKey.generate(), database_url=default_sqlite_url(folder),
        mediator_ids=frozenset({MEDIATOR_ID}),
    )
    local = LocalBot(standin, settings)
    await local.start()
    try:
        mediator = standin.user(MEDIATOR_ID, "Mediator")
        short_id, tokens = await create_case(local, mediator, "Valley water", ISSUES, PARTIES)
        run = MediationRun(standin, folder / "caucus.sqlite3", log_file,
                           {party: 2001 + number for number, party in enumerate(PARTIES)})
        for party in PARTIES:
            run.markers[party] = {item: _marker(party, item) for item in range(1, 2 * len(ISSUES) + 1)}
            user = standin.user(run.party_ids[party], party)
            await play_party(local, user, tokens[party], _script(party, run.markers[party]))
        before = len(standin.messages(MEDIATOR_ID))
        mediator.send_command("/summary", short_id)
        await local.settle()
        run.summary = received_text(standin, MEDIATOR_ID, before)
        return run
    finally:
        await local.stop()
        root.setLevel(previous[0])
        root.handlers[:] = previous[1]
        log_stream.close()


@pytest.fixture(scope="module")
def mediation(tmp_path_factory: pytest.TempPathFactory) -> MediationRun:
    run = asyncio.run(_run_mediation(tmp_path_factory.mktemp("mediation")))
    yield run  # type: ignore[misc]
    run.standin.stop()


def _level(party: str, item: int) -> ShareLevel:
    return SHARE_CHOICES[party].get(item, DEFAULT_LEVEL)


def test_every_api_call_was_accepted(mediation: MediationRun) -> None:
    """Telegram would have accepted every call the bot made (HTML, lengths, buttons)."""
    rejected = [(call.method, call.description) for call in mediation.standin.calls() if not call.ok]
    assert rejected == []


def test_summary_holds_exactly_the_consented_items(mediation: MediationRun) -> None:
    """Items marked for the mediator or the joint session appear in the summary; private ones never."""
    for party, markers in mediation.markers.items():
        for item, marker in markers.items():
            if _level(party, item) is ShareLevel.PRIVATE:
                assert marker not in mediation.summary, (party, item)
            else:
                assert marker in mediation.summary, (party, item)


def test_summary_shows_shared_interests_and_rankings_only_where_consented(mediation: MediationRun) -> None:
    """A party that kept its ranking private is listed as such; the others' rankings are shown."""
    summary = mediation.summary.replace("\u2068", "").replace("\u2069", "")  # isolates around party text
    assert "No packages: Party B did not share their priorities with you." in summary
    assert "Priorities: 1. Access to the spring, 2. Repair of the canal" in summary  # Party A's, in the report
    assert summary.count("Priorities: 1.") == 2  # A's and C's rankings; B's stays private
    # Party B kept its interests on the first issue private: they do not count, not even as a category.
    shared = re.search(r"• Livelihood and economy: (.*)", summary)
    assert shared is not None
    assert "Party A (" in shared.group(1)
    assert "Party C (" in shared.group(1)
    assert "Party B" not in shared.group(1)


def test_no_party_receives_another_partys_text(mediation: MediationRun) -> None:
    """Every message sent to a party's chat holds no marker of any other party."""
    for party, user_id in mediation.party_ids.items():
        received = "\n".join(m.text + " ".join(b.text for row in m.buttons for b in row)
                             for m in mediation.standin.messages(user_id))
        for other, markers in mediation.markers.items():
            for marker in markers.values():
                if other != party:
                    assert marker not in received, (party, other)


def test_mediator_never_receives_private_items(mediation: MediationRun) -> None:
    """Nothing a party kept private reaches the mediator's chat, in any message."""
    chat = received_text(mediation.standin, MEDIATOR_ID)
    for party, markers in mediation.markers.items():
        for item, marker in markers.items():
            if _level(party, item) is ShareLevel.PRIVATE:
                assert marker not in chat


def test_mediator_is_told_when_everyone_has_submitted(mediation: MediationRun) -> None:
    """The mediator gets a notice when the last party submits."""
    texts = [m.text for m in mediation.standin.messages(MEDIATOR_ID)]
    assert any("Every party of case" in text for text in texts)
    assert sum("has submitted" in text for text in texts) == len(PARTIES)


def test_nothing_typed_is_stored_or_logged_in_clear(mediation: MediationRun) -> None:
    """The SQLite file, its WAL and the DEBUG log hold no answer marker and no token."""
    blobs = {"log": mediation.log_file.read_bytes(), "db": mediation.database.read_bytes()}
    wal = mediation.database.with_name(mediation.database.name + "-wal")
    if wal.exists():
        blobs["wal"] = wal.read_bytes()
    assert len(blobs["log"]) > 0
    for name, blob in blobs.items():
        for markers in mediation.markers.values():
            for marker in markers.values():
                assert marker.encode() not in blob, name
        for secret in ("Valley water", mediation.standin.token.split(":")[1]):
            assert secret.encode() not in blob, (name, secret)


async def test_restart_resumes_at_the_same_step(standin: BotApiStandIn, tmp_path: Path) -> None:
    """A new Application on the same database continues the party's caucus where it stopped."""
    settings = Settings(token="1:unused", master_key=MasterKey.generate(),
                        database_url=default_sqlite_url(tmp_path), mediator_ids=frozenset({MEDIATOR_ID}))
    first = LocalBot(standin, settings)
    await first.start()
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    short_id, tokens = await create_case(first, mediator, "Restart case", ISSUES, ["North", "South"])
    party = standin.user(3001, "North")
    await join(first, party, tokens["North"], "en")
    party.send_text("RESTART-POSITION keep the spring open")
    await first.settle()
    await first.stop()

    second = LocalBot(standin, settings)
    await second.start()
    try:
        party.send_command("/resume")
        await second.settle()
        last = party.last_message()
        assert last is not None
        assert "Issue 1 of 2" in last.text
        assert "Why" in last.text
        await tap(second, party, "Security")
        await tap(second, party, "Done")
        await type_text(second, party, "we need safety")
        await tap(second, party, "Continue")  # no options to rate on this issue
        assert "Issue 2 of 2" in (party.last_message() or last).text
        await answer_issue(second, party, IssueAnswer("second position", (Cat.LAND,), "second words"), "en")
        await tap(second, party, ISSUES[0])
        for _question in range(4):
            await tap(second, party, "Skip")
        await submit_answers(second, party, "en")
        before = len(standin.messages(MEDIATOR_ID))
        mediator.send_command("/summary", short_id)
        await second.settle()
        assert "RESTART-POSITION" in received_text(standin, MEDIATOR_ID, before)
    finally:
        await second.stop()


async def test_duplicate_delivery_changes_state_once(standin: BotApiStandIn, local: LocalBot) -> None:
    """The same update delivered twice is handled once: no second transition, no second reply."""
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    _short_id, tokens = await create_case(local, mediator, "Duplicates", ISSUES, ["East", "West"])
    party = standin.user(3002, "East")
    await join(local, party, tokens["East"], "en")
    update_id = party.send_text("first position")
    await local.settle()
    replies = len(standin.messages(party.user_id))
    standin.redeliver(update_id)
    standin.redeliver(update_id)
    await local.settle()
    assert len(standin.messages(party.user_id)) == replies
    press_id = party.press("Security")
    await local.settle()
    edits = [m.edits for m in standin.messages(party.user_id)]
    standin.redeliver(press_id)
    await local.settle()
    assert [m.edits for m in standin.messages(party.user_id)] == edits
    assert len(standin.messages(party.user_id)) == replies


async def test_notices_reach_the_mediator_in_the_language_of_their_telegram_app(
    standin: BotApiStandIn, local: LocalBot,
) -> None:
    """A mediator who never chose a language gets notices (a party joined) in the language the bot already
    answers them in, the one their Telegram app suggests, not in English."""
    mediator = standin.user(MEDIATOR_ID, "Médiatrice", "fr")
    _short_id, tokens = await create_case(local, mediator, "Langues", ISSUES, ["Est", "Ouest"])
    before = len(standin.messages(MEDIATOR_ID))
    await join(local, standin.user(3003, "Est", "en"), tokens["Est"], "en")
    notices = [m.text for m in standin.messages(MEDIATOR_ID)[before:]]
    compare = label(_("Compare this code with the person, by phone or in person. If it is not the right person, "
                      "remove them: the seat is freed and you get a new link."), "fr")
    assert any(compare in notice for notice in notices), notices


async def test_long_answers_in_emoji_reach_the_summary_whole(standin: BotApiStandIn, local: LocalBot) -> None:
    """Answers at the length limit, in characters Telegram counts twice (emoji), still reach the mediator:
    the summary is cut into messages Telegram accepts, and every character arrives."""
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    short_id, tokens = await create_case(local, mediator, "Long answers", ISSUES, ["East", "West"])
    for number, party in enumerate(("East", "West")):
        answer = IssueAnswer("🌾" * 1400, (Cat.LAND,), "💧" * 1400)
        script = PartyScript("en", (answer, IssueAnswer("short", (Cat.LAND,), "short")), tuple(ISSUES))
        await play_party(local, standin.user(3100 + number, party), tokens[party], script)
    before = len(standin.messages(MEDIATOR_ID))
    mediator.send_command("/summary", short_id)
    await local.settle()
    assert [(call.method, call.description) for call in standin.calls() if not call.ok] == []
    message = "".join(m.text for m in standin.messages(MEDIATOR_ID)[before:])
    assert message.count("💧") == 2 * 1400  # both parties' words, under their shared interest
    report = received_text(standin, MEDIATOR_ID, before)
    assert report.count("🌾") == 2 * 1400  # the positions, in the report
