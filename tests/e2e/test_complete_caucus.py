"""The complete caucus end to end: five parties, numbers, options, points, edits, a withdrawal,
a rejected join, a co-mediator, a deadline with reminders on a controllable clock, and a second round.

One mediation runs once for the module (real PTB Application, Bot API stand-in, SQLite, AES-GCM);
the tests below each check one thing a participant would notice.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.caucus_views import ADDED_OPTION
from bot.config import Settings
from bot.i18n import _
from bot.local import LocalBot
from bot.scenario import (
    IssueAnswer,
    IssueSetup,
    PartyScript,
    answer_issue,
    choose,
    create_case,
    join,
    label,
    open_review_item,
    play_party,
    received_text,
    set_share_level,
    submit_answers,
    tap,
    type_text,
)
from bot.standin import BotApiStandIn, SimUser
from bot.views import RATING_NAMES
from flows.model import InterestCategory as Cat
from flows.model import Rating, ShareLevel
from storage.crypto import MasterKey
from storage.db import default_sqlite_url

MEDIATOR_ID, CO_MEDIATOR_ID, INTERLOPER_ID = 1001, 1002, 4001
PARTIES = ["Party A", "Party B", "Party C", "Party D", "Party E"]
LANGUAGES = {"Party A": "en", "Party B": "fr", "Party C": "en", "Party D": "fr", "Party E": "en"}
ISSUES = [
    IssueSetup("Access to the spring", options=("Shared weekly schedule", "A second well")),
    IssueSetup("Compensation for the terraces", scale=("USD", "0", "10000")),
    IssueSetup("Grazing corridor"),
]
# Distinctive range values: none of them may ever reach the mediator's chat or another party.
RANGES = {
    "Party A": ("1234", "4321", "2718"),
    "Party B": ("2 345", "6 543,5", "3 141"),
    "Party C": ("1,414", "5,432", "3,333"),
    "Party D": ("1 732", "7 071", "4 669"),
}
# The whole-number part of every range value above, as a run of digits once group separators are gone.
RANGE_NUMBERS = {"1234", "4321", "2718", "2345", "6543", "3141", "1414", "5432", "3333", "1732", "7071", "4669"}
_TOKEN = re.compile(r"start=([A-Za-z0-9_-]+)")
_CODE = re.compile(r"code:? (?:is )?(\d{3} \d{3})")
_GROUPED = re.compile(r"(?<=\d)[ ,.\u202f\u00a0](?=\d{3}\b)")


def _numbers(text: str) -> set[str]:
    """Every number in ``text``, with thousands separators removed ("1,234" and "1 234" become "1234")."""
    return set(re.findall(r"\d+", _GROUPED.sub("", text)))


def _clean(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "")


def _marker(party: str, what: str) -> str:
    return f"{party[-1]}-{what}-MARK"


def _answers(party: str, ratings: tuple[Rating, ...]) -> tuple[IssueAnswer, ...]:
    return (
        IssueAnswer(f"{_marker(party, 'POS1')} a fair share of the spring", (Cat.LIVELIHOOD, Cat.LAND),
                    f"{_marker(party, 'WHY1')} our families depend on it", ratings=ratings),
        IssueAnswer(f"{_marker(party, 'POS2')} compensation for the walls", (Cat.JUSTICE,),
                    f"{_marker(party, 'WHY2')} the walls took years to build", range=RANGES[party]),
        IssueAnswer(f"{_marker(party, 'POS3')} a safe corridor", (Cat.SECURITY,),
                    f"{_marker(party, 'WHY3')} young herders were threatened"),
    )


def _script(party: str, ratings: tuple[Rating, ...], points: tuple[str, str] = ("50", "30")) -> PartyScript:
    return PartyScript(LANGUAGES[party], _answers(party, ratings), points=points,
                       optional=(f"{_marker(party, 'CBM')} a guarantee", None, f"{_marker(party, 'CONST')} elders",
                                 None))


@dataclass
class Run:
    standin: BotApiStandIn
    database: Path
    users: dict[str, SimUser]
    short_id: str = ""
    summary_round_1: str = ""
    status_after_deadline: str = ""
    reminders_sent: list[int] = field(default_factory=list)
    join_codes: tuple[str, str] = ("", "")


def _texts(standin: BotApiStandIn, chat_id: int, since: int = 0) -> str:
    return "\n".join(_clean(m.text) + " " + " ".join(b.text for row in m.buttons for b in row)
                     for m in standin.messages(chat_id)[since:])


async def _menu(local: LocalBot, mediator: SimUser, short_id: str) -> None:
    mediator.send_command("/cases", short_id)
    await local.settle()


async def _mediation(folder: Path, standin: BotApiStandIn) -> Run:
    settings = Settings(token="1:unused", master_key=MasterKey.generate(), database_url=default_sqlite_url(folder),
                        mediator_ids=frozenset({MEDIATOR_ID, CO_MEDIATOR_ID}))
    local = LocalBot(standin, settings)
    start = datetime.now(UTC)
    clock = [start]
    local.bot.runtime.clock = lambda: clock[0]
    await local.start()
    try:
        mediator = standin.user(MEDIATOR_ID, "Mediator", "en")
        short_id, tokens = await create_case(local, mediator, "Upper valley", ISSUES, PARTIES, points=True)
        run = Run(standin, folder / "caucus.sqlite3", {}, short_id)

        # The case's time zone, then a co-mediator joins through a one-time link.
        await _menu(local, mediator, short_id)
        await tap(local, mediator, "🌐 Time zone")
        await type_text(local, mediator, "africa/nairobi")
        await tap(local, mediator, "👥 Add a co-mediator")
        co_token = _TOKEN.findall(mediator.last_message().text)[-1]  # type: ignore[union-attr]
        co_mediator = standin.user(CO_MEDIATOR_ID, "Co-mediator", "fr")
        co_mediator.send_command("/start", co_token)
        await local.settle()
        run.users["co"] = co_mediator

        # Someone who got hold of Party C's link joins first; the mediator compares codes and rejects.
        interloper = standin.user(INTERLOPER_ID, "Interloper", "en")
        await join(local, interloper, tokens["Party C"], "en")
        run.users["interloper"] = interloper
        await tap(local, mediator, "⛔ Remove this person")
        await tap(local, mediator, "Yes")
        tokens["Party C"] = _TOKEN.findall(mediator.last_message().text)[-1]  # type: ignore[union-attr]
        await type_text(local, interloper, "I-AM-STILL-HERE")

        users = {party: standin.user(2001 + n, party, LANGUAGES[party]) for n, party in enumerate(PARTIES)}
        run.users.update(users)

        # Party B suggests an option while rating; the mediator adds it before anyone submits.
        b_script = _script("Party B", (Rating.IDEAL, Rating.LIVE_WITH))
        await join(local, users["Party B"], tokens["Party B"], "fr")
        mediator_seen = len(standin.messages(MEDIATOR_ID))
        party_b = users["Party B"]
        for index, answer in enumerate(b_script.answers):
            if index == 0:
                await type_text(local, party_b, answer.position)
                for category in answer.categories:
                    party_b.press(label({Cat.LIVELIHOOD: _("Livelihood and economy"),
                                         Cat.LAND: _("Land and resources")}[category], "fr"))
                    await local.settle()
                await tap(local, party_b, _("Done"), "fr")
                await type_text(local, party_b, answer.words)
                await tap(local, party_b, _("💡 Suggest an option"), "fr")
                await type_text(local, party_b, "B-SUGGESTION rotate the spring by season")
                for rating in answer.ratings:
                    await tap(local, party_b, RATING_NAMES[rating], "fr")
            else:
                await answer_issue(local, party_b, answer, "fr")
        assert "B-SUGGESTION" in _texts(standin, MEDIATOR_ID, mediator_seen)
        await tap(local, mediator, "➕ Add it to the options")
        for points in b_script.points:
            await type_text(local, party_b, points)
        for text in b_script.optional:
            party_b.send_text(text) if text else party_b.press(label(_("Skip"), "fr"))
            await local.settle()
        # B was past that issue, so it was told and rates the added option before it can submit.
        assert "Le médiateur a ajouté une option au sujet Access to the spring." in \
            _texts(standin, party_b.user_id)
        await tap(local, party_b, _("Submit my answers"), "fr")
        rating_screen = _clean(party_b.last_message().text)  # type: ignore[union-attr]
        assert "B-SUGGESTION" in rating_screen
        assert label(ADDED_OPTION, "fr") in rating_screen
        await tap(local, party_b, RATING_NAMES[Rating.IDEAL], "fr")
        await submit_answers(local, party_b, "fr")

        # Party A answers everything, then changes its first position and a share level from the review.
        three = (Rating.ACCEPTABLE, Rating.IDEAL, Rating.LIVE_WITH)
        await play_party(local, users["Party A"], tokens["Party A"], _script("Party A", three), submit=False)
        party_a = users["Party A"]
        await open_review_item(local, party_a, 1)
        await tap(local, party_a, "Change this answer")
        await type_text(local, party_a, f"{_marker('Party A', 'EDITED')} the spring at night only")
        await set_share_level(local, party_a, 2, ShareLevel.PRIVATE, "en")
        await submit_answers(local, party_a, "en")

        # Party C (with the new link) submits; Party E sends a note, then withdraws; Party D lags.
        await play_party(local, users["Party C"], tokens["Party C"], _script("Party C", three))
        party_e = users["Party E"]
        await join(local, party_e, tokens["Party E"], "en")
        await type_text(local, party_e, f"{_marker('Party E', 'POS1')} we want the spring")
        party_e.send_command("/note", "E-NOTE we fear reprisals if this leaks")
        await local.settle()
        party_e.send_command("/forget")
        await local.settle()
        await tap(local, party_e, "Yes, withdraw and erase")
        await play_party(local, users["Party D"], tokens["Party D"], _script("Party D", three, ("40", "40")),
                         submit=False)

        # A deadline two days ahead; reminders are checked on a clock the test moves.
        zone = ZoneInfo("Africa/Nairobi")
        deadline_day = (start.astimezone(zone) + timedelta(days=2)).date()
        await _menu(local, mediator, short_id)
        await tap(local, mediator, "⏰ Deadline")
        await type_text(local, mediator, deadline_day.isoformat())
        morning = datetime.combine(deadline_day - timedelta(days=1), datetime.min.time(), zone) + timedelta(hours=10)
        clock[0] = morning.astimezone(UTC)
        run.reminders_sent.append(await local.bot.check_deadlines())
        run.reminders_sent.append(await local.bot.check_deadlines())  # the same day: no second reminder
        clock[0] = morning.astimezone(UTC) + timedelta(days=2)  # the deadline has passed
        run.reminders_sent.append(await local.bot.check_deadlines())
        await local.settle()
        seen = len(standin.messages(MEDIATOR_ID))
        mediator.send_command("/status", short_id)
        await local.settle()
        run.status_after_deadline = _texts(standin, MEDIATOR_ID, seen)

        # Party D submits late; every remaining party has now submitted.
        await submit_answers(local, users["Party D"], "fr")
        seen = len(standin.messages(MEDIATOR_ID))
        mediator.send_command("/summary", short_id)
        await local.settle()
        run.summary_round_1 = _clean(received_text(standin, MEDIATOR_ID, seen))

        # Between rounds: one more option, then round 2; Party A keeps its answers and rates the new option.
        await _menu(local, mediator, short_id)
        for button in ("🧩 Issues and options", "1", "➕ Add an option"):
            await tap(local, mediator, button)
        await type_text(local, mediator, "ROUND2-OPTION a rota managed by the council")
        await _menu(local, mediator, short_id)
        await tap(local, mediator, "🔁 Start round 2")
        await tap(local, mediator, "Yes")
        party_a.send_command("/resume")  # the round's notice quotes no answer; the party resumes when ready
        await local.settle()
        for button in ("Keep my answer", "Done", "Keep my answer"):  # position, categories, words as they were
            await tap(local, party_a, button)
        for rating in (Rating.ACCEPTABLE, Rating.IDEAL, Rating.LIVE_WITH, Rating.UNACCEPTABLE):
            await choose(local, party_a, RATING_NAMES[rating], "en")
        for _issue in range(2):
            for button in ("Keep my answer", "Done", "Keep my answer"):
                await tap(local, party_a, button)
            if "Keep my answer" in party_a.buttons():  # the range of the numeric issue
                for _value in range(3):
                    await tap(local, party_a, "Keep my answer")
            await tap(local, party_a, "Continue")
        await tap(local, party_a, "Keep these points")
        for _question in range(4):
            party_a.press("Keep my answer") if "Keep my answer" in party_a.buttons() else party_a.press("Skip")
            await local.settle()
        await submit_answers(local, party_a, "en")
        codes_mediator = _CODE.findall("\n".join(_clean(m.text) for m in standin.messages(MEDIATOR_ID)
                                                if "Party A has joined" in _clean(m.text)))
        codes_party = _CODE.findall("\n".join(m.text for m in standin.messages(users["Party A"].user_id)))
        run.join_codes = (codes_mediator[-1] if codes_mediator else "", codes_party[0] if codes_party else "")
        return run
    finally:
        await local.stop()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with BotApiStandIn() as standin:
        yield asyncio.run(_mediation(tmp_path_factory.mktemp("complete"), standin))


def test_every_api_call_was_accepted(run: Run) -> None:
    """Telegram would have accepted every call: HTML, lengths, at most 8 buttons a row, short callback data."""
    assert [(c.method, c.description) for c in run.standin.calls() if not c.ok] == []


def test_summary_holds_what_was_shared_and_nothing_private(run: Run) -> None:
    """The round's summary shows consented items, the edited position, the points; never a range or E's words."""
    summary = run.summary_round_1
    assert _marker("Party A", "EDITED") in summary
    assert _marker("Party A", "POS1") not in summary  # replaced by the edit
    assert _marker("Party A", "WHY1") not in summary  # made private on the review screen
    assert _marker("Party C", "CBM") in summary
    assert re.search(r"Party D\s+Priorities: Access to the spring: 40;", summary)  # in the report
    for party in ("Party E",):
        assert _marker(party, "POS1") not in summary
    assert not _numbers(summary) & RANGE_NUMBERS


def test_no_range_and_no_other_partys_text_reaches_any_party(run: Run) -> None:
    """Each party's chat holds only its own markers and no one else's range."""
    for party in PARTIES:
        chat = _texts(run.standin, run.users[party].user_id)
        own = {number for value in RANGES.get(party, ()) for number in _numbers(value)}
        assert not (_numbers(chat) & RANGE_NUMBERS) - own
        for other in PARTIES:
            if other != party:
                assert _marker(other, "POS1") not in chat
                assert _marker(other, "WHY2") not in chat


def test_the_mediator_never_sees_a_range(run: Run) -> None:
    """No message to either mediator contains a party's range values."""
    for chat_id in (MEDIATOR_ID, CO_MEDIATOR_ID):
        assert not _numbers(_texts(run.standin, chat_id)) & RANGE_NUMBERS


def test_join_codes_match_and_a_rejected_join_loses_access(run: Run) -> None:
    """The mediator and the party see the same join code; the rejected account is told and cut off."""
    assert run.join_codes[0]
    assert run.join_codes[0] == run.join_codes[1]
    interloper = _texts(run.standin, INTERLOPER_ID)
    assert "Your access to this case has ended" in interloper
    assert "I was not expecting a message now" in interloper


def test_a_withdrawn_partys_data_is_shredded(run: Run) -> None:
    """After /forget the party's data key is destroyed and its answers are gone; mediators hear only 'withdrew'."""
    mediator = _texts(run.standin, MEDIATOR_ID)
    assert "Party E has withdrawn from the case" in mediator
    assert "E-NOTE we fear reprisals" in mediator  # the note was delivered before the withdrawal
    with sqlite3.connect(run.database) as db:
        keys = db.execute("select count(*) from data_keys where scope = 'party' and wrapped is null").fetchone()[0]
        seat = db.execute("select step, user_hash from seats where step = 'withdrawn'").fetchall()
    assert keys >= 2  # Party E's key and the interloper's
    assert [(step, user) for step, user in seat] == [("withdrawn", None)]


def test_reminders_are_sent_once_a_day_and_late_parties_are_reported(run: Run) -> None:
    """One reminder (to Party D only), none again the same day; after the deadline the mediators hear who is late."""
    assert run.reminders_sent[:2] == [1, 0]
    party_d = _texts(run.standin, run.users["Party D"].user_id)
    assert party_d.count("/resume") >= 1
    for party in ("Party A", "Party B", "Party C"):
        assert "gentle reminder" not in _texts(run.standin, run.users[party].user_id)
    for chat_id in (MEDIATOR_ID, CO_MEDIATOR_ID):
        assert "Party D" in _texts(run.standin, chat_id).split("has passed", 1)[-1]
    assert "late" in run.status_after_deadline


def test_the_co_mediator_follows_the_case(run: Run) -> None:
    """The co-mediator receives the case's notifications (a submission) in French."""
    co = _texts(run.standin, CO_MEDIATOR_ID)
    assert "Party A" in co


def test_a_second_round_starts_from_the_previous_answers(run: Run) -> None:
    """Round 2 offers each previous answer to keep, adds the new option, and the party submits again."""
    party_a = _texts(run.standin, run.users["Party A"].user_id)
    assert "Round 2 has started" in party_a
    assert "ROUND2-OPTION" in party_a
    assert party_a.count("Thank you: your answers are submitted") == 2
