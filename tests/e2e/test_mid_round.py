"""Changes while a round runs: an option added after some parties passed its issue, and a party that has
submitted making answers more private until the joint session (DESIGN.md §4)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from bot.caucus_views import ADDED_OPTION, ROUND_CLOSED
from bot.i18n import _, user_text
from bot.local import LocalBot
from bot.scenario import (
    IssueAnswer,
    IssueSetup,
    answer_issue,
    choose,
    create_case,
    join,
    label,
    received_text,
    submit_answers,
    tap,
    type_text,
)
from bot.standin import BotApiStandIn, SimUser
from bot.views import INVALID_INPUT, RATING_NAMES
from flows.model import InterestCategory, Rating

MEDIATOR_ID = 1001
ISSUES = [IssueSetup("Water", options=("A shared schedule",)), IssueSetup("Land")]
NEW_OPTION = "A water committee"
ADDED = _("The mediator added an option to the issue {issue}. You will be asked to rate it before you submit.",
          issue=user_text("Water"))
MORE_PRIVATE = _("🔒 Make an answer more private")


def _answer(party: str, ratings: tuple[Rating, ...]) -> IssueAnswer:
    return IssueAnswer(f"{party}-POSITION-MARK water for all", (InterestCategory.LIVELIHOOD,),
                       f"{party}-WHY-MARK our fields are dry", ratings=ratings)


async def _to_review(local: LocalBot, user: SimUser, language: str) -> None:
    """Answer the Land issue, rank, skip the four optional questions: the review screen."""
    await answer_issue(local, user, _answer("land", ()), language)
    await tap(local, user, "Water", language)
    for _question in range(4):
        await tap(local, user, _("Skip"), language)


async def _add_option(local: LocalBot, mediator: SimUser, short_id: str) -> None:
    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, _("🧩 Issues and options"))
    await tap(local, mediator, "1")
    await tap(local, mediator, _("➕ Add an option"))
    await type_text(local, mediator, NEW_OPTION)


def _position_share_levels(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return sorted(level for (level,) in connection.execute(
            "SELECT share_level FROM answers WHERE kind = 'position'"))


def _texts(standin: BotApiStandIn, user: SimUser, since: int = 0) -> list[str]:
    """The bot's messages to ``user`` as read (without the isolate marks around quoted names)."""
    return [m.text.replace("\u2068", "").replace("\u2069", "") for m in standin.messages(user.user_id)[since:]]


async def test_an_added_option_reaches_every_party_and_answers_can_become_more_private(
    standin: BotApiStandIn, local: LocalBot, tmp_path: Path,
) -> None:
    database = tmp_path / "caucus.sqlite3"
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    short_id, tokens = await create_case(local, mediator, "Mid-round", ISSUES, ["A", "B", "C"])
    a, b, c = (standin.user(5001 + n, name, language) for n, (name, language) in
               enumerate((("A", "en"), ("B", "fr"), ("C", "en"))))
    for user, party in ((a, "A"), (b, "B"), (c, "C")):
        await join(local, user, tokens[party], user.language_code or "en")
    # A reaches the review; B is past Water (answering Land); C has not answered Water yet.
    await answer_issue(local, a, _answer("A", (Rating.IDEAL,)), "en")
    await _to_review(local, a, "en")
    await answer_issue(local, b, _answer("B", (Rating.ACCEPTABLE,)), "fr")
    seen = {user.user_id: len(standin.messages(user.user_id)) for user in (a, b, c)}

    await _add_option(local, mediator, short_id)

    # Those past the issue are told, each in their language; C, who will meet it on the way, is not.
    assert label(ADDED, "en") in _texts(standin, a, seen[a.user_id])
    assert label(ADDED, "fr") in _texts(standin, b, seen[b.user_id])
    assert standin.messages(c.user_id)[seen[c.user_id]:] == []

    # C meets the new option in the normal flow: two options to rate on Water.
    before = len(standin.messages(c.user_id))
    await answer_issue(local, c, _answer("C", (Rating.ACCEPTABLE, Rating.IDEAL)), "en")
    assert any(NEW_OPTION in m.text and "Option 2 of 2" in m.text for m in standin.messages(c.user_id)[before:])

    # A, at the review, is sent to rate it before submitting, then submits.
    await tap(local, a, _("Submit my answers"))
    screen = standin.messages(a.user_id)[-1].text
    assert NEW_OPTION in screen
    assert label(ADDED_OPTION, "en") in screen
    await choose(local, a, RATING_NAMES[Rating.LIVE_WITH], "en")
    assert standin.messages(a.user_id)[-1].text.startswith("Review your answers")
    await submit_answers(local, a, "en")
    assert MORE_PRIVATE.msgid in a.buttons()

    # Submitted, A makes its position on Water private: the mediator's summary no longer shows it.
    before = len(standin.messages(MEDIATOR_ID))
    mediator.send_command("/summary", short_id)
    await local.settle()
    assert "A-POSITION-MARK" in received_text(standin, MEDIATOR_ID, before)
    await tap(local, a, MORE_PRIVATE)
    await tap(local, a, "1")
    await tap(local, a, "🔒 Private")
    assert _texts(standin, a)[-1].startswith("Saved: Position on Water is now 🔒 Private.")
    assert _position_share_levels(database) == ["mediator"] * 3 + ["private"]  # A: 2, B and C: 1 each so far
    before = len(standin.messages(MEDIATOR_ID))
    mediator.send_command("/summary", short_id)
    await local.settle()
    summary = received_text(standin, MEDIATOR_ID, before)
    assert "A-POSITION-MARK" not in summary
    assert "A-WHY-MARK" in summary
    await tap(local, a, _("Done"))
    assert MORE_PRIVATE.msgid in a.buttons()

    # B and C finish; once everyone has submitted, share levels no longer change.
    await _to_review(local, b, "fr")
    assert "1 nouvelle option à évaluer" in _texts(standin, b)[-1]
    await tap(local, b, _("Submit my answers"), "fr")  # B too rates the new option first
    assert NEW_OPTION in _texts(standin, b)[-1]
    await choose(local, b, RATING_NAMES[Rating.IDEAL], "fr")
    await submit_answers(local, b, "fr")
    await _to_review(local, c, "en")
    await submit_answers(local, c, "en")
    assert standin.messages(c.user_id)[-1].buttons == []  # the last submission closed the caucus
    await tap(local, a, MORE_PRIVATE)  # a button drawn before the joint session
    assert standin.messages(a.user_id)[-1].text == label(INVALID_INPUT["shares_closed"], "en")
    assert _position_share_levels(database) == ["mediator"] * 5 + ["private"]
    a.send_command("/resume")
    await local.settle()
    resumed = standin.messages(a.user_id)[-1]
    assert resumed.text.startswith("Thank you: your answers are submitted.")
    assert resumed.buttons == []


async def test_changing_the_questions_mid_round_then_the_lock_once_a_party_has_submitted(
    standin: BotApiStandIn, local: LocalBot,
) -> None:
    """While nobody has submitted, the mediator may change the questions: answering parties are told and go
    through their answers again (kept where they still fit); a reworded option is rated again. After a
    submission, edits are refused until the next round."""
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    short_id, tokens = await create_case(local, mediator, "Changes", ISSUES, ["A", "B"])
    a, b = standin.user(5101, "A", "en"), standin.user(5102, "B", "en")
    await join(local, a, tokens["A"], "en")
    await join(local, b, tokens["B"], "en")
    await answer_issue(local, a, _answer("A", (Rating.IDEAL,)), "en")
    await _to_review(local, a, "en")

    # The mediator makes Land an issue answered in numbers.
    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, _("🧩 Issues and options"))
    await tap(local, mediator, "2")
    await tap(local, mediator, _("🔢 Answers in numbers"))
    await type_text(local, mediator, "ha\n0\n100")
    assert any(text.startswith("2 parties had begun answering") for text in _texts(standin, mediator))
    changed = label(_("The mediator has changed the questions of this round. Your answers so far are kept: "
                      "please go through them again, keeping or changing each one. Send /resume to continue."), "en")
    assert changed in _texts(standin, a)
    assert changed in _texts(standin, b)

    # A goes through again: everything is kept with one tap each, and only the new range is asked.
    a.send_command("/resume")
    await local.settle()
    for _issue in range(2):
        await tap(local, a, _("Keep my answer"))
        await tap(local, a, _("Done"))
        await tap(local, a, _("Keep my answer"))
        if _issue == 0:
            await choose(local, a, RATING_NAMES[Rating.IDEAL], "en")
    for value in ("10", "60", "30"):
        await type_text(local, a, value)
    await tap(local, a, _("Continue"))
    await tap(local, a, _("Keep this order"))
    for _question in range(4):
        await tap(local, a, _("Skip"))
    assert _texts(standin, a)[-1].startswith("Review your answers")

    # The mediator rewords the option A rated: A rates it again before submitting.
    await tap(local, mediator, _("⬅️ Back to the issues"))
    await tap(local, mediator, "1")
    await tap(local, mediator, _("Option {number}", number=1))
    await tap(local, mediator, _("✏️ Reword"))
    await type_text(local, mediator, "A shared schedule, posted at the school")
    assert "The mediator reworded an option on the issue Water." in " ".join(_texts(standin, a)[-2:])
    await tap(local, a, _("Submit my answers"))
    assert "A shared schedule, posted at the school" in _texts(standin, a)[-1]
    await choose(local, a, RATING_NAMES[Rating.ACCEPTABLE], "en")
    await submit_answers(local, a, "en")

    # Once A has submitted, the issue screen drawn before refuses edits, and says why.
    await tap(local, mediator, _("✏️ Reword"))
    assert _texts(standin, mediator)[-1] == label(INVALID_INPUT["locked"], "en")


async def test_a_new_link_retires_the_old_one_and_closing_the_round_stops_the_answers(
    standin: BotApiStandIn, local: LocalBot,
) -> None:
    """"New link" makes the old invite useless; closing the round tells those still answering, who then wait
    (their typing and old buttons change nothing) while the mediator sees them as not submitted."""
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    short_id, tokens = await create_case(local, mediator, "Round", ISSUES, ["A", "B", "C"])
    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, _("✉️ Invitations"))
    await tap(local, mediator, label(_("🔗 New link for {party}", party=user_text("C")), "en"))
    new_token = re.findall(r"start=([A-Za-z0-9_-]+)", _texts(standin, mediator)[-1])[-1]
    assert new_token != tokens["C"]
    c = standin.user(5203, "C", "en")
    c.send_command("/start", tokens["C"])
    await local.settle()
    assert _texts(standin, c)[-1] == label(_("This invitation link cannot be used. If you were invited, please ask "
                                             "your mediator for a new link."), "en")
    await join(local, c, new_token, "en")

    a, b = standin.user(5201, "A", "en"), standin.user(5202, "B", "en")
    await join(local, a, tokens["A"], "en")
    await join(local, b, tokens["B"], "en")
    await answer_issue(local, a, _answer("A", (Rating.IDEAL,)), "en")
    await _to_review(local, a, "en")
    await submit_answers(local, a, "en")
    await type_text(local, b, "B-POSITION-MARK half way")

    mediator.send_command("/cases", short_id)
    await local.settle()
    await tap(local, mediator, _("⏹ Close this round"))
    await tap(local, mediator, _("Yes"))
    closed = label(ROUND_CLOSED, "en")
    assert closed in _texts(standin, b)
    assert closed in _texts(standin, c)
    assert closed not in _texts(standin, a)  # A had submitted
    seen = len(standin.messages(b.user_id))
    await type_text(local, b, "B-LATE-MARK an answer after the close")
    assert _texts(standin, b, seen) == [closed]
    with sqlite3.connect(local.settings.database_url.split("///", 1)[1]) as connection:
        steps = sorted(step for (step,) in connection.execute("SELECT step FROM seats"))
    assert steps == ["submitted", "waiting", "waiting"]
    mediator.send_command("/status", short_id)
    await local.settle()
    status = _texts(standin, mediator)[-1]
    assert "1 of 3" in status
