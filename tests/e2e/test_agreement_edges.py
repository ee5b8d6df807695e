"""Agreements at their edges (real bot, Bot API stand-in, SQLite): a comment begun and left, a mediator's question
cancelled, a withdrawal from a closed case with an agreement out, a monitor removed, a party joining while a version
waits for answers. Each starts from two parties who submitted their caucus and an agreement sent to them."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.i18n import _
from bot.local import LocalBot
from bot.scenario import IssueAnswer, IssueSetup, PartyScript, create_case, play_party, received_text, tap
from bot.standin import BotApiStandIn, SimUser
from flows.model import InterestCategory

MEDIATOR_ID = 1001
TEXT = "EDGE-AGREEMENT: the spring is shared."


@dataclass
class Sent:
    case: str
    mediator: SimUser
    parties: list[SimUser]
    tokens: dict[str, str]


def _database(local: LocalBot) -> Path:
    return Path(local.settings.database_url.removeprefix("sqlite+aiosqlite:///"))


async def _agreement_sent(standin: BotApiStandIn, local: LocalBot, parties: tuple[str, ...] = ("North", "South"),
                          joined: int = 2) -> Sent:
    mediator = standin.user(MEDIATOR_ID, "Mediator", "en")
    case, tokens = await create_case(local, mediator, "Edge case", [IssueSetup("Water"), IssueSetup("Land")],
                                     list(parties))
    users = []
    for number, name in enumerate(parties[:joined]):
        user = standin.user(7201 + number, name, "en")
        answers = tuple(IssueAnswer(f"{name} position {n}", (InterestCategory.LAND,), f"{name} why {n}")
                        for n in (1, 2))
        await play_party(local, user, tokens[name], PartyScript("en", answers, ("Water", "Land")))
        users.append(user)
    mediator.send_command("/cases", case)
    await local.settle()
    if joined < len(parties):  # the round must end before an agreement: close it
        await tap(local, mediator, _("⏹ Close this round"))
        await tap(local, mediator, _("Yes"))
    await tap(local, mediator, _("📜 Agreements and commitments"))
    await tap(local, mediator, _("➕ New agreement"))
    mediator.send_text(TEXT)
    await local.settle()
    await tap(local, mediator, _("📨 Send to the parties"))
    await tap(local, mediator, _("📨 Send"))
    return Sent(case, mediator, users, tokens)


def _answers(local: LocalBot) -> list[tuple[int, str]]:
    with sqlite3.connect(_database(local)) as db:
        return db.execute("SELECT v.number, r.status FROM agreement_responses r JOIN agreement_versions v "
                          "ON v.id = r.version_id ORDER BY v.number, r.status").fetchall()


async def test_a_comment_begun_and_left_does_not_catch_the_next_message(standin: BotApiStandIn,
                                                                        local: LocalBot) -> None:
    """A party taps 'Ask for a change', then 'I decline' instead of writing: its next message is no change request
    (the mediators never receive it) and its answer stays declined."""
    sent = await _agreement_sent(standin, local)
    south = sent.parties[1]
    await tap(local, south, _("✏️ Ask for a change"))
    await tap(local, south, _("❌ I decline"))
    south.send_text("STRAY-TEXT: this was meant for something else")
    await local.settle()
    assert "STRAY-TEXT" not in received_text(standin, MEDIATOR_ID)
    assert (1, "declined") in _answers(local)
    assert (1, "change_requested") not in _answers(local)


async def test_cancelling_the_mediators_question_ends_it(standin: BotApiStandIn, local: LocalBot) -> None:
    """'New agreement', then Cancel: the mediator's next message makes no agreement."""
    sent = await _agreement_sent(standin, local)
    sent.mediator.send_command("/cases", sent.case)
    await local.settle()
    await tap(local, sent.mediator, _("📜 Agreements and commitments"))
    await tap(local, sent.mediator, _("➕ New agreement"))
    await tap(local, sent.mediator, _("Cancel"))
    sent.mediator.send_text("NOT-AN-AGREEMENT")
    await local.settle()
    with sqlite3.connect(_database(local)) as db:
        assert db.execute("SELECT count(*) FROM agreements").fetchone()[0] == 1


async def test_a_party_can_withdraw_from_a_closed_case_with_an_agreement_out(standin: BotApiStandIn,
                                                                            local: LocalBot) -> None:
    """North confirmed, the mediator closed the case, South withdraws with /forget: it is withdrawn and erased (the
    agreement does not stand in the way), and the closed case's agreement buttons no longer work."""
    sent = await _agreement_sent(standin, local)
    north, south = sent.parties
    await tap(local, north, _("✅ I confirm"))
    sent.mediator.send_command("/cases", sent.case)
    await local.settle()
    await tap(local, sent.mediator, _("🔒 Close the case"))
    await tap(local, sent.mediator, _("Yes"))
    south.send_command("/forget")
    await local.settle()
    await tap(local, south, _("Yes, withdraw and erase"))
    assert "You have withdrawn from this case" in received_text(standin, south.user_id)
    with sqlite3.connect(_database(local)) as db:
        steps = {row[0] for row in db.execute("SELECT step FROM seats")}
    assert "withdrawn" in steps


async def test_a_party_joining_while_a_version_waits_receives_it(standin: BotApiStandIn, local: LocalBot) -> None:
    """Two of three parties had joined when the agreement went out; the third joins later, receives it, and the
    agreement is confirmed only once it confirms too."""
    sent = await _agreement_sent(standin, local, ("North", "South", "East"), joined=2)
    for party in sent.parties:
        await tap(local, party, _("✅ I confirm"))
    assert "is confirmed by every party" not in received_text(standin, MEDIATOR_ID)
    east = standin.user(7203, "East", "en")
    east.send_command("/start", sent.tokens["East"])
    await local.settle()
    assert TEXT in received_text(standin, east.user_id)
    await tap(local, east, _("✅ I confirm"))
    assert "Agreement 1 (version 1) is confirmed by every party." in received_text(standin, MEDIATOR_ID)


@pytest.mark.parametrize("by", ["mediator", "monitor"])
async def test_a_monitor_removed_loses_access(standin: BotApiStandIn, local: LocalBot, by: str) -> None:
    """Removed by the mediator, or leaving with /forget: the monitor is told, the mediators too, and its list's
    buttons no longer work."""
    sent = await _agreement_sent(standin, local)
    sent.mediator.send_command("/cases", sent.case)
    await local.settle()
    await tap(local, sent.mediator, _("📜 Agreements and commitments"))
    await tap(local, sent.mediator, _("👁 Invite a monitor"))
    sent.mediator.send_text("Watchers")
    await local.settle()
    token = re.findall(r"start=([A-Za-z0-9_-]+)", received_text(standin, MEDIATOR_ID))[-1]
    monitor = standin.user(7209, "Watchers", "en")
    monitor.send_command("/start", token)
    await local.settle()
    if by == "mediator":
        await tap(local, sent.mediator, "✖ Watchers")
        await tap(local, sent.mediator, _("Yes"))
        assert "Your access to the commitments of this case has ended." in received_text(standin, monitor.user_id)
    else:
        monitor.send_command("/forget")
        await local.settle()
        await tap(local, monitor, _("Yes, stop and erase"))
        assert "stopped monitoring case" in received_text(standin, MEDIATOR_ID)
    monitor.send_command("/start", token)  # the link no longer works either
    await local.settle()
    assert "This invitation link cannot be used." in standin.messages(monitor.user_id)[-1].text
    with sqlite3.connect(_database(local)) as db:
        wrapped = db.execute("SELECT count(*) FROM data_keys WHERE scope = 'monitor' AND wrapped IS NOT NULL")
        assert wrapped.fetchone()[0] == 0


async def test_when_the_last_party_waited_for_withdraws_the_agreement_stands(standin: BotApiStandIn,
                                                                            local: LocalBot) -> None:
    """North confirmed; South, the only one left to answer, withdraws: every party still in the case has confirmed,
    so the agreement is confirmed, and South's answer no longer counts."""
    sent = await _agreement_sent(standin, local)
    north, south = sent.parties
    await tap(local, north, _("✅ I confirm"))
    await tap(local, south, _("✏️ Ask for a change"))
    south.send_text("SOUTH-COMMENT: not like this")
    await local.settle()
    south.send_command("/forget")
    await local.settle()
    await tap(local, south, _("Yes, withdraw and erase"))
    assert "Agreement 1 (version 1) is confirmed by every party." in received_text(standin, MEDIATOR_ID)
    assert _answers(local) == [(1, "confirmed")]
