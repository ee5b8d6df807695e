"""Scripted participants: a mediator and parties acting through the stand-in, as people would.

The demo plays a whole mediation with these; the end-to-end tests use them too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.i18n import LANGUAGES, Text, _, plain, translator
from bot.local import LocalBot
from bot.standin import SimUser
from bot.views import CATEGORY_NAMES, LEVEL_NAMES
from flows.model import InterestCategory, ShareLevel

__all__ = ["IssueAnswer", "PartyScript", "answer_issue", "create_case", "join", "label", "play_party"]

# "Invitation for <isolated label>: https://t.me/<bot>?start=<token>", in any language.
_INVITE = re.compile("\u2068([^\u2069]+)\u2069\\W+https://t\\.me/\\w+\\?start=([A-Za-z0-9_-]+)")


def label(text: Text, language: str) -> str:
    """A button's label as the user sees it in ``language``."""
    return plain(translator(language).render(text))


@dataclass(frozen=True)
class IssueAnswer:
    """What a scripted party answers on one issue."""

    position: str
    categories: tuple[InterestCategory, ...]
    words: str


@dataclass(frozen=True)
class PartyScript:
    """A scripted party: its answers, its ranking (issue titles) and the share levels it picks."""

    language: str
    answers: tuple[IssueAnswer, ...]
    ranking: tuple[str, ...]
    # Review-screen item number (1-based) -> the level the party wants for it.
    share: dict[int, ShareLevel] = field(default_factory=dict)


async def create_case(
    local: LocalBot, mediator: SimUser, title: str, issues: list[str], parties: list[str]
) -> tuple[str, dict[str, str]]:
    """The mediator opens a case; returns its short id and each party's invite token."""
    language = mediator.language_code or "en"
    mediator.send_command("/newcase")
    await local.settle()
    mediator.send_text(title)
    await local.settle()
    for issue in issues:
        mediator.send_text(issue)
        await local.settle()
    mediator.press(label(_("Done adding issues"), language))
    await local.settle()
    for party in parties:
        mediator.send_text(party)
        await local.settle()
    mediator.press(label(_("Done adding parties"), language))
    await local.settle()
    tokens: dict[str, str] = {}
    short_id = ""
    for message in local.standin.messages(mediator.user_id):
        found = _INVITE.search(message.text)
        if found:
            tokens[found.group(1)] = found.group(2)
        ready = re.search(r"/status (\w+)", message.text)
        if ready:
            short_id = ready.group(1)
    return short_id, tokens


async def join(local: LocalBot, user: SimUser, token: str, language: str) -> None:
    """Open the invite, choose the language and consent."""
    user.send_command("/start", token)
    await local.settle()
    user.press(LANGUAGES[language])
    await local.settle()
    user.press(label(_("I agree"), language))
    await local.settle()


async def answer_issue(local: LocalBot, user: SimUser, answer: IssueAnswer, language: str) -> None:
    user.send_text(answer.position)
    await local.settle()
    for category in answer.categories:
        user.press(label(CATEGORY_NAMES[category], language))
        await local.settle()
    user.press(label(_("Done"), language))
    await local.settle()
    user.send_text(answer.words)
    await local.settle()


async def play_party(local: LocalBot, user: SimUser, token: str, script: PartyScript) -> None:
    """A party goes through its whole caucus and submits."""
    language = script.language
    await join(local, user, token, language)
    for answer in script.answers:
        await answer_issue(local, user, answer, language)
    for title in script.ranking[:-1]:
        if title in user.buttons():
            user.press(title)
            await local.settle()
    for number, level in script.share.items():
        await set_share_level(local, user, number, level, language)
    user.press(label(_("Submit my answers"), language))
    await local.settle()
    user.press(label(_("Yes, submit"), language))
    await local.settle()


async def set_share_level(local: LocalBot, user: SimUser, number: int, level: ShareLevel, language: str) -> None:
    """Tap an item's share-level button on the review screen until it shows ``level``."""
    wanted = f"{number}. {label(LEVEL_NAMES[level], language)}"
    for _attempt in range(3):
        if wanted in user.buttons():
            return
        current = next(text for text in user.buttons() if text.startswith(f"{number}. "))
        user.press(current)
        await local.settle()
    raise AssertionError(f"share level {level} not reached for item {number}")

