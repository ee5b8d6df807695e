"""The summary, its chart and report, the joint summary for the parties, and ``caucusbot report``.

Two parties (English, French) on a case with an option issue and a quantitative one; each marks
some items for the joint session, keeps others for the mediator, and one item private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot import cli
from bot.config import Settings
from bot.i18n import _
from bot.local import LocalBot
from bot.scenario import (
    IssueAnswer,
    IssueSetup,
    PartyScript,
    create_case,
    play_party,
    received_text,
    tap,
)
from bot.standin import BotApiStandIn
from flows.model import InterestCategory, Rating, ShareLevel

MEDIATOR_ID = 1001
ISSUES = [IssueSetup("Water", options=("A shared well", "Water trucks")),
          IssueSetup("Compensation", scale=("USD", "0", "10000"))]
Cat = InterestCategory


def _script(party: str, language: str, ratings: tuple[Rating, ...], low: str, high: str) -> PartyScript:
    answers = (
        IssueAnswer(f"{party}-JOINT-POSITION", (Cat.LIVELIHOOD,), f"{party}-JOINT-WHY", ratings=ratings),
        IssueAnswer(f"{party}-MEDIATOR-POSITION", (Cat.JUSTICE,), f"{party}-PRIVATE-WHY", range=(low, high, low)),
    )
    # Review items: 1 position, 2 interests, 3 options (Water); 4 position, 5 interests, 6 range (Compensation).
    return PartyScript(language, answers, ("Water", "Compensation"),
                       share={1: ShareLevel.JOINT, 2: ShareLevel.JOINT, 3: ShareLevel.JOINT,
                              5: ShareLevel.PRIVATE})


@pytest.fixture
async def case(standin: BotApiStandIn, local: LocalBot) -> str:
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    short_id, tokens = await create_case(local, mediator, "Joint case", ISSUES, ["North", "South"])
    north = standin.user(7001, "North", "en")
    south = standin.user(7002, "South", "fr")
    await play_party(local, north, tokens["North"], _script("NORTH", "en", (Rating.IDEAL, Rating.LIVE_WITH),
                                                             "1000", "4000"))
    await play_party(local, south, tokens["South"], _script("SOUTH", "fr", (Rating.ACCEPTABLE, Rating.UNACCEPTABLE),
                                                             "3000", "9000"))
    return short_id


async def test_summary_sends_a_message_a_chart_and_a_report(standin: BotApiStandIn, local: LocalBot,
                                                             case: str) -> None:
    """/summary: the message, a PNG chart and an HTML report, protected; the private item nowhere."""
    before = len(standin.messages(MEDIATOR_ID))
    standin.user(MEDIATOR_ID, "Mediator").send_command("/summary", case)
    await local.settle()
    sent = standin.messages(MEDIATOR_ID)[before:]
    photos = [m for m in sent if m.photo is not None]
    documents = [m for m in sent if m.document is not None]
    assert len(photos) == 1
    assert len(documents) == 1
    assert photos[0].photo is not None
    assert photos[0].photo.startswith(b"\x89PNG\r\n\x1a\n")
    assert documents[0].document is not None
    name, content = documents[0].document
    assert name == f"caucus-{case}-report.html"
    assert content.startswith(b'<!DOCTYPE html>\n<html lang="en" dir="ltr">')
    assert b"http://" not in content
    assert b"https://" not in content
    assert photos[0].protect_content
    assert documents[0].protect_content
    text = received_text(standin, MEDIATOR_ID, before)
    for marker in ("NORTH-JOINT-POSITION", "SOUTH-MEDIATOR-POSITION", "SOUTH-JOINT-WHY"):
        assert marker in text
    assert "PRIVATE-WHY" not in text
    assert "Compensation: moderate overlap (10% to 30% of the scale) (2 of 2 ranges)" in text.replace(
        "\u2068", "").replace("\u2069", "")
    assert "A shared well" in text  # acceptable to both


async def test_joint_summary_reaches_each_party_in_its_language(standin: BotApiStandIn, local: LocalBot,
                                                                case: str) -> None:
    """The preview shows exactly what parties get; each party reads it in its language, joint items only."""
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    mediator.send_command("/cases", case)
    await local.settle()
    await tap(local, mediator, _("📣 Joint summary for the parties"))
    preview = standin.messages(MEDIATOR_ID)[-1].text
    assert "NORTH-JOINT-WHY" in preview
    assert "MEDIATOR-POSITION" not in preview
    before = {user_id: len(standin.messages(user_id)) for user_id in (7001, 7002)}
    await tap(local, mediator, _("📣 Send to every party"))
    assert "sent to 2 parties" in received_text(standin, MEDIATOR_ID)
    for user_id, heading in ((7001, "Joint summary of case"), (7002, "Synthèse commune du dossier")):
        received = received_text(standin, user_id, before[user_id])
        assert heading in received
        for marker in ("NORTH-JOINT-POSITION", "SOUTH-JOINT-WHY"):
            assert marker in received
        for hidden in ("MEDIATOR-POSITION", "PRIVATE-WHY", "overlap", "chevauch"):
            assert hidden not in received
        assert "A shared well" in received


async def test_report_command_writes_an_owner_only_file(settings: Settings, local: LocalBot, case: str,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``caucusbot report`` writes the same report to a file only its owner can read."""
    monkeypatch.setenv("CAUCUS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CAUCUS_MASTER_KEY", settings.master_key.to_base64())
    monkeypatch.delenv("CAUCUS_MASTER_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "out.html"
    assert await _in_thread(["report", case, "--output", str(output), "--language", "fr"]) == 0
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o600
    report = output.read_text(encoding="utf-8")
    assert report.startswith('<!DOCTYPE html>\n<html lang="fr" dir="ltr">')
    assert "SOUTH-MEDIATOR-POSITION" in report
    assert "PRIVATE-WHY" not in report
    assert f"written to {output}" in capsys.readouterr().out
    assert await _in_thread(["report", "nosuch"]) == 1


async def _in_thread(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(cli.main, argv)
