"""The largest case: ten parties go through the caucus; every screen stays within Telegram's limits."""

from __future__ import annotations

from bot.local import LocalBot
from bot.scenario import IssueAnswer, IssueSetup, PartyScript, create_case, play_party
from bot.standin import BotApiStandIn
from flows.model import InterestCategory as Cat
from flows.model import Rating

MEDIATOR_ID = 1001
PARTIES = [f"Party {letter}" for letter in "ABCDEFGHIJ"]
ISSUES = [IssueSetup("Water", options=tuple(f"Option {n}" for n in range(1, 9))),
          IssueSetup("Money", scale=("USD", "0", "1000000"))]


async def test_ten_parties_submit_and_the_mediator_sees_every_one(standin: BotApiStandIn, local: LocalBot) -> None:
    """Ten parties (the maximum) answer options and ranges; status, menu and summary list all ten."""
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    short_id, tokens = await create_case(local, mediator, "Ten parties", ISSUES, PARTIES, points=True)
    assert sorted(tokens) == sorted(PARTIES)
    for number, party in enumerate(PARTIES):
        language = "fr" if number % 2 else "en"
        answers = (
            IssueAnswer(f"{party} wants water", (Cat.LIVELIHOOD,), "for the fields",
                        ratings=(Rating.ACCEPTABLE,) * 8),
            IssueAnswer(f"{party} wants money", (Cat.JUSTICE,), "for the walls",
                        range=("1000", "500000", "20000")),
        )
        user = standin.user(5001 + number, party, language)
        await play_party(local, user, tokens[party], PartyScript(language, answers, points=("60",)))
    mediator.send_command("/status", short_id)
    await local.settle()
    status = mediator.last_message()
    assert status is not None
    assert "Submitted: 10 of 10 parties." in status.text
    mediator.send_command("/summary", short_id)
    await local.settle()
    mediator.send_command("/cases", short_id)
    await local.settle()
    assert [(call.method, call.description) for call in standin.calls() if not call.ok] == []
    assert all(len(message.text) <= 4096 for chat in [MEDIATOR_ID] for message in standin.messages(chat))
