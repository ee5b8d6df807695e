"""Bad input at every step: a clear reply in the user's language, and no change of state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from telegram import Update

from bot.i18n import Text, _, plain, translator
from bot.local import LocalBot
from bot.replies import Reply
from bot.scenario import IssueSetup, create_case, label
from bot.standin import BotApiStandIn, SimUser
from bot.turn import Turn
from bot.views import CATEGORY_NAMES, INVALID_INPUT, RATING_NAMES, invalid_input
from flows.errors import InvalidInput
from flows.model import InterestCategory, Rating

MEDIATOR_ID = 1001
LANGUAGE = "fr"
ISSUES = [IssueSetup("Water", options=("A rota",)), IssueSetup("Land", scale=("ha", "0", "100"))]

USE_BUTTONS = _("Please answer with the buttons of the latest message.")
NOT_TEXT = _("I can only read text messages here. Please type your answer.")
UNKNOWN_COMMAND = _("I do not know that command. /help lists what you can do.")
STALE = _("This button is no longer valid. Please use the buttons of the latest message.")
TOO_LONG = INVALID_INPUT["too_long"]
EMPTY = INVALID_INPUT["empty"]

Action = Callable[[SimUser], Any]


def _fr(text: Text) -> str:
    return plain(translator(LANGUAGE).render(text))


# The party's path through the caucus: the step reached after each list of actions.
PATH: list[tuple[str, list[Action]]] = [
    ("language", []),
    ("consent", [lambda user: user.press("Français")]),
    ("position", [lambda user: user.press(label(_("I agree"), LANGUAGE))]),
    ("interest_categories", [lambda user: user.send_text("notre position")]),
    ("interest_words", [lambda user: user.press(label(CATEGORY_NAMES[InterestCategory.LAND], LANGUAGE)),
                        lambda user: user.press(label(_("Done"), LANGUAGE))]),
    ("rating", [lambda user: user.send_text("nos mots")]),
    ("range_low", [lambda user: user.press(label(RATING_NAMES[Rating.ACCEPTABLE], LANGUAGE)),
                   lambda user: user.send_text("position deux"),
                   lambda user: user.press(label(CATEGORY_NAMES[InterestCategory.SECURITY], LANGUAGE)),
                   lambda user: user.press(label(_("Done"), LANGUAGE)), lambda user: user.send_text("mots deux")]),
    ("ranking", [lambda user: user.send_text("10"), lambda user: user.send_text("50"),
                 lambda user: user.send_text("20"), lambda user: user.press(label(_("Continue"), LANGUAGE))]),
    ("cbm_needs", [lambda user: user.press(ISSUES[0].title)]),
    ("review", [lambda user: user.press(label(_("Skip"), LANGUAGE))] * 4),
    ("confirm", [lambda user: user.press(label(_("Submit my answers"), LANGUAGE))]),
    ("submitted", [lambda user: user.press(label(_("Yes, submit"), LANGUAGE))]),
]
TEXT_STEPS = {"position", "interest_words", "cbm_needs"}
NUMBER_STEPS = {"range_low"}


async def _state(local: LocalBot, user_id: int) -> tuple[object, ...]:
    async with local.bot.store.transaction() as tx:
        assert tx is not None
        user = await tx.user(user_id)
        assert user.active_id is not None
        conversation = await tx.load_caucus(user.active_id)
        return (conversation.step, conversation.cursor, await tx.seat_version(user.active_id),
                repr(conversation.answers), user.language)


async def _reach(local: LocalBot, standin: BotApiStandIn, step: str) -> SimUser:
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    _short_id, tokens = await create_case(local, mediator, "Bad input", ISSUES, ["A", "B"])
    user = standin.user(4001, "A", LANGUAGE)
    user.send_command("/start", tokens["A"])
    await local.settle()
    for name, actions in PATH:
        for action in actions:
            action(user)
            await local.settle()
        if name == step:
            return user
    raise AssertionError(step)


async def _check(local: LocalBot, standin: BotApiStandIn, user: SimUser,
                 send: Callable[[], int], expected: Text | None) -> None:
    before_state = await _state(local, user.user_id)
    before = len(standin.messages(user.user_id))
    update_id = send()
    await local.settle()
    new = standin.messages(user.user_id)[before:]
    assert await _state(local, user.user_id) == before_state
    if expected is None:  # a stale button: the pop-up answer says so, nothing else changes
        assert standin.callback_answer(update_id) == _fr(STALE)
        assert new == []
        return
    assert new, "no reply"
    assert plain(new[0].text) == _fr(expected).strip()


def _live_id(user: SimUser) -> int:
    latest = user.last_message()
    assert latest is not None
    return latest.message_id


@pytest.mark.parametrize("step", [name for name, _action in PATH])
async def test_bad_input_at_every_party_step(standin: BotApiStandIn, local: LocalBot, step: str) -> None:
    """Whitespace, oversized text, a sticker, a photo, an unknown command and a stale button change nothing."""
    user = await _reach(local, standin, step)
    first_message = next(message for message in standin.messages(user.user_id) if message.buttons)
    text_step = step in TEXT_STEPS
    submitted = _("Your answers are already submitted. The mediator will be in touch about the next steps. "
                  "/note sends the mediator a private message.")
    text_reply = submitted if step == "submitted" else USE_BUTTONS
    not_a_number = invalid_input("not_a_number", {})
    cases: list[tuple[Callable[[], int], Text | None]] = [
        (lambda: user.send_text("  \u200b \n "),
         EMPTY if text_step else not_a_number if step in NUMBER_STEPS else text_reply),
        (lambda: user.send_text("x" * 4096), invalid_input("too_long", {"limit": 1500}) if text_step
         else not_a_number if step in NUMBER_STEPS else text_reply),
        (user.send_sticker, NOT_TEXT),
        (user.send_photo, NOT_TEXT),
        (lambda: user.send_command("/frobnicate"), UNKNOWN_COMMAND),
        # An old message's button, replayed on the latest message (the old message itself was deleted once the
        # answers were saved); at the first step there is none yet: a forged one instead.
        (lambda: user.press_data(first_message.buttons[0][0].callback_data or "", _live_id(user))
         if step != "language" else user.press_data("forged-button", first_message.message_id), None),
    ]
    for send, expected in cases:
        await _check(local, standin, user, send, expected)
    assert [call.description for call in standin.calls() if not call.ok] == []


async def test_non_mediator_cannot_open_a_case(standin: BotApiStandIn, local: LocalBot) -> None:
    """/newcase from someone not listed as a mediator is refused, in their language."""
    stranger = standin.user(5001, "Stranger", LANGUAGE)
    stranger.send_command("/newcase")
    await local.settle()
    expected = _("This command is for mediators. If you were invited as a party, "
                 "please open the link your mediator gave you.")
    assert stranger.last_message() is not None
    assert stranger.last_message().text == _fr(expected)  # type: ignore[union-attr]
    async with local.bot.store.transaction() as tx:
        assert tx is not None
        assert await tx.cases_of(5001) == []


@pytest.mark.parametrize("token_case", ["unknown", "used_by_other", "second_seat"])
async def test_unusable_invites_all_get_the_same_reply(
    standin: BotApiStandIn, local: LocalBot, token_case: str
) -> None:
    """Unknown tokens, taken seats and a second seat for one account get one identical reply."""
    mediator = standin.user(MEDIATOR_ID, "Mediator")
    _short_id, tokens = await create_case(local, mediator, "Invites", ISSUES, ["A", "B"])
    owner = standin.user(6001, "Owner")
    owner.send_command("/start", tokens["A"])
    await local.settle()
    reference = _("This invitation link cannot be used. If you were invited, please ask your mediator for a new link.")
    if token_case == "unknown":
        user, token = standin.user(6002, "Other"), "x" * 32
    elif token_case == "used_by_other":
        user, token = standin.user(6002, "Other"), tokens["A"]
    else:
        user, token = owner, tokens["B"]
    user.send_command("/start", token)
    await local.settle()
    assert user.last_message() is not None
    assert user.last_message().text == plain(translator("en").render(reference))  # type: ignore[union-attr]
    owner.send_command("/start", tokens["A"])  # the rightful owner simply resumes
    await local.settle()
    assert "Français" in owner.buttons()




async def _draft_state(local: LocalBot) -> tuple[object, ...]:
    async with local.bot.store.transaction() as tx:
        assert tx is not None
        user = await tx.user(MEDIATOR_ID)
        assert user.active_id is not None
        draft = await tx.load_draft(user.active_id)
        return draft.stage, draft.title, tuple(draft.issues), tuple(draft.parties)


async def test_bad_input_while_setting_up_a_case(standin: BotApiStandIn, local: LocalBot) -> None:
    """Empty, oversized, duplicate and premature inputs while setting up a case change nothing."""
    mediator = standin.user(MEDIATOR_ID, "Mediator", LANGUAGE)
    mediator.send_command("/newcase")
    await local.settle()

    async def refused(send: Callable[[], int], expected: Text) -> None:
        before_state = await _draft_state(local)
        before = len(standin.messages(MEDIATOR_ID))
        send()
        await local.settle()
        assert await _draft_state(local) == before_state
        assert plain(standin.messages(MEDIATOR_ID)[before].text) == _fr(expected)

    await refused(lambda: mediator.send_text(" \u200b "), EMPTY)
    await refused(lambda: mediator.send_text("t" * 4096), invalid_input("too_long", {"limit": 120}))
    await refused(mediator.send_sticker, NOT_TEXT)
    mediator.send_text("Valley")
    await local.settle()
    mediator.send_text("Water")
    await local.settle()
    await refused(lambda: mediator.send_text("  water "), INVALID_INPUT["duplicate"])
    await refused(lambda: mediator.press(label(_("Done adding issues"), LANGUAGE)),
                  Text(INVALID_INPUT["too_few_issues"].msgid, params={"limit": 2}))


async def test_a_refusal_midway_keeps_none_of_the_handlers_writes(standin: BotApiStandIn, local: LocalBot) -> None:
    """A handler refused after it wrote something (here: the language, and a reply) leaves no trace of it:
    the user gets the refusal only, and the next update sees the state from before."""
    user = standin.user(4200, "Someone", "en")
    user.send_command("/help")  # the chat exists once the person has written to the bot
    await local.settle()
    before = len(standin.messages(user.user_id))

    async def half_done(turn: Turn, _args: list[str]) -> None:
        await turn.tx.set_language(turn.user_id, "fr")
        await turn.reply(Reply.of("half-done"))
        raise InvalidInput("empty")

    message = {"message_id": 1, "date": 0, "chat": {"id": user.user_id, "type": "private"},
               "from": {"id": user.user_id, "is_bot": False, "first_name": "Someone", "language_code": "en"},
               "text": "hello"}
    update = Update.de_json({"update_id": 10**9, "message": message}, local.bot.application.bot)
    await local.bot.handlers.handle(update, half_done, [])
    await local.settle()
    assert [m.text for m in standin.messages(user.user_id)[before:]] == [label(EMPTY, "en")]
    async with local.bot.store.transaction() as tx:
        assert tx is not None
        assert (await tx.user(user.user_id)).language is None


@pytest.mark.parametrize("step", [name for name, _action in PATH])
async def test_the_general_commands_work_at_every_party_step(standin: BotApiStandIn, local: LocalBot,
                                                             step: str) -> None:
    """/help, /privacy, /pause and /language answer at every step and change nothing; /resume shows the step
    the party was at again."""
    user = await _reach(local, standin, step)
    before_state = await _state(local, user.user_id)
    step_screen = standin.messages(user.user_id)[-1].text
    for command, starts in (("/help", _("<b>What you can do</b>")), ("/privacy", _("<b>Privacy</b>")),
                            ("/pause", None), ("/language", _("Choose your language."))):
        before = len(standin.messages(user.user_id))
        user.send_command(command)
        await local.settle()
        replies = standin.messages(user.user_id)[before:]
        assert replies, command
        if starts is not None:
            assert replies[0].text.startswith(_fr(starts).replace("<b>", "").replace("</b>", "")), command
        assert await _state(local, user.user_id) == before_state, command
    user.send_command("/resume")
    await local.settle()
    assert standin.messages(user.user_id)[-1].text == step_screen
    assert [call.description for call in standin.calls() if not call.ok] == []
