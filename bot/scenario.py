"""Scripted participants: a mediator and parties acting through the stand-in, as people would.

The demo plays a whole mediation with these; the end-to-end tests use them too.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

from bot.caucus_views import LEVEL_ICONS
from bot.grievance_views import GRIEVANCE_CATEGORY_NAMES, URGENCY_NAMES
from bot.i18n import LANGUAGES, Text, _, plain, translator
from bot.local import LocalBot
from bot.standin import BotApiStandIn, SimUser
from bot.views import CATEGORY_NAMES, RATING_NAMES
from flows.grievance import Urgency
from flows.model import InterestCategory, Rating, ShareLevel

__all__ = [
    "GrievanceScript",
    "IssueAnswer",
    "IssueSetup",
    "PartyScript",
    "answer_interests",
    "answer_issue",
    "choose",
    "create_case",
    "file_grievance",
    "grievance_actions",
    "join",
    "label",
    "open_review_item",
    "play_party",
    "received_text",
    "set_share_level",
    "submit_answers",
    "suggest_option",
    "tap",
    "type_text",
]

# "Invitation for <isolated label>: https://t.me/<bot>?start=<token>", in any language.
_INVITE = re.compile("\u2068([^\u2069]+)\u2069\\W+https://t\\.me/\\w+\\?start=([A-Za-z0-9_-]+)")


def label(text: Text, language: str) -> str:
    """A button's label as the user sees it in ``language``."""
    return plain(translator(language).render(text))


@dataclass(frozen=True)
class IssueSetup:
    """How the mediator sets up one issue: its title, options, and a scale if it is counted in numbers."""

    title: str
    options: tuple[str, ...] = ()
    scale: tuple[str, str, str] | None = None  # unit, lowest, highest as typed


@dataclass(frozen=True)
class IssueAnswer:
    """What a scripted party answers on one issue."""

    position: str
    categories: tuple[InterestCategory, ...]
    words: str
    range: tuple[str, str, str] | None = None  # lowest, highest, hoped for, as typed
    ratings: tuple[Rating, ...] = ()  # one per option, in order


@dataclass(frozen=True)
class PartyScript:
    """A scripted party: its answers, its priorities and the share levels it picks."""

    language: str
    answers: tuple[IssueAnswer, ...]
    ranking: tuple[str, ...] = ()  # issue titles, most important first
    _: KW_ONLY
    points: tuple[str, ...] = ()  # points typed for each issue but the last, in issue order
    optional: tuple[str | None, ...] = (None, None, None, None)  # None skips the question
    # Review-screen item number (1-based) -> the level the party wants for it.
    share: dict[int, ShareLevel] = field(default_factory=dict)


async def tap(local: LocalBot, user: SimUser, text: Text | str, language: str = "en") -> None:
    """Press a button (a label, or a message rendered in ``language``) and wait for the bot."""
    user.press(text if isinstance(text, str) else label(text, language))
    await local.settle()


async def choose(local: LocalBot, user: SimUser, text: Text, language: str) -> None:
    """Tap a choice on the latest message, whether it is already ticked (a pre-filled answer) or not."""
    wanted = label(text, language)
    buttons = user.buttons()
    await tap(local, user, f"✓ {wanted}" if f"✓ {wanted}" in buttons else wanted, language)


async def type_text(local: LocalBot, user: SimUser, text: str) -> None:
    """Send a message and wait for the bot."""
    user.send_text(text)
    await local.settle()


async def create_case(
    local: LocalBot, mediator: SimUser, title: str, issues: list[str] | list[IssueSetup], parties: list[str],
    *, points: bool = False,
) -> tuple[str, dict[str, str]]:
    """The mediator opens and sets up a case; returns its short id and each party's invite token."""
    language = mediator.language_code or "en"
    setups = [issue if isinstance(issue, IssueSetup) else IssueSetup(issue) for issue in issues]
    mediator.send_command("/newcase")
    await local.settle()
    await type_text(local, mediator, title)
    for issue in setups:
        await type_text(local, mediator, issue.title)
    await tap(local, mediator, _("Done adding issues"), language)
    for party in parties:
        await type_text(local, mediator, party)
    await tap(local, mediator, _("Done adding parties"), language)
    if any(issue.options or issue.scale for issue in setups):
        await tap(local, mediator, _("🧩 Issues and options"), language)
        for number, issue in enumerate(setups, start=1):
            if not (issue.options or issue.scale):
                continue
            await tap(local, mediator, str(number), language)
            for option in issue.options:
                await tap(local, mediator, _("➕ Add an option"), language)
                await type_text(local, mediator, option)
            if issue.scale:
                await tap(local, mediator, _("🔢 Answers in numbers"), language)
                await type_text(local, mediator, "\n".join(issue.scale))
            await tap(local, mediator, _("⬅️ Back to the issues"), language)
        await tap(local, mediator, _("⬅️ Back to the case"), language)
    if points:
        await tap(local, mediator, _("⚖️ Switch to 100 points"), language)
    await tap(local, mediator, _("✅ Create the invitations"), language)
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
    await tap(local, user, LANGUAGES[language], language)
    await tap(local, user, _("I agree"), language)


async def answer_interests(local: LocalBot, user: SimUser, answer: IssueAnswer, language: str) -> None:
    """Position, interests (categories and own words) and the range if asked: an issue up to its options."""
    await type_text(local, user, answer.position)
    for category in answer.categories:
        await tap(local, user, CATEGORY_NAMES[category], language)
    await tap(local, user, _("Done"), language)
    await type_text(local, user, answer.words)
    for value in answer.range or ():
        await type_text(local, user, value)


async def suggest_option(local: LocalBot, user: SimUser, text: str, language: str) -> None:
    """At the options of an issue: suggest one to the mediator."""
    await tap(local, user, _("💡 Suggest an option"), language)
    await type_text(local, user, text)


async def answer_issue(local: LocalBot, user: SimUser, answer: IssueAnswer, language: str, *,
                       suggestion: str | None = None) -> None:
    """Position, interests, the range if asked, a suggested option if given, and a rating for each option (or
    Continue)."""
    await answer_interests(local, user, answer, language)
    if suggestion is not None:
        await suggest_option(local, user, suggestion, language)
    for rating in answer.ratings:
        await choose(local, user, RATING_NAMES[rating], language)
    if not answer.ratings:
        await tap(local, user, _("Continue"), language)


async def play_party(local: LocalBot, user: SimUser, token: str, script: PartyScript, *, submit: bool = True) -> None:
    """A party goes through its whole caucus and (unless told not to) submits."""
    await join(local, user, token, script.language)
    await play_caucus(local, user, script, submit=submit)


async def play_caucus(local: LocalBot, user: SimUser, script: PartyScript, *, submit: bool = True) -> None:
    """A party that has joined answers everything and (unless told not to) submits."""
    language = script.language
    for answer in script.answers:
        await answer_issue(local, user, answer, language)
    for title in script.ranking[:-1]:
        if title in user.buttons():
            await tap(local, user, title, language)
    for points in script.points:
        await type_text(local, user, points)
    for text in script.optional:
        if text is None:
            await tap(local, user, _("Skip"), language)
        else:
            await type_text(local, user, text)
    for number, level in script.share.items():
        await set_share_level(local, user, number, level, language)
    if submit:
        await submit_answers(local, user, language)


async def submit_answers(local: LocalBot, user: SimUser, language: str) -> None:
    await tap(local, user, _("Submit my answers"), language)
    await tap(local, user, _("Yes, submit"), language)


async def open_review_item(local: LocalBot, user: SimUser, number: int) -> None:
    """On the review screen, open item ``number`` (turning pages as needed)."""
    for _attempt in range(10):
        if str(number) in user.buttons():
            await tap(local, user, str(number), "en")
            return
        await tap(local, user, "▶", "en")
    raise AssertionError(f"review item {number} not found")


async def set_share_level(local: LocalBot, user: SimUser, number: int, level: ShareLevel, language: str) -> None:
    """Open an item of the review screen, choose its share level, and go back to the list."""
    await open_review_item(local, user, number)
    icon = LEVEL_ICONS[level]
    if icon in user.buttons():
        await tap(local, user, icon, language)
    await tap(local, user, _("Back to all answers"), language)


def received_text(standin: BotApiStandIn, chat_id: int, since: int = 0) -> str:
    """Everything the chat received from message ``since`` on: texts, captions, and the words of HTML documents."""
    parts = []
    for message in standin.messages(chat_id)[since:]:
        parts.append(message.text)
        if message.document is not None and message.document[0].endswith(".html"):
            parts.append(html.unescape(re.sub(r"<[^>]+>", " ", message.document[1].decode("utf-8"))))
    return "\n".join(parts)


@dataclass(frozen=True, kw_only=True)
class GrievanceScript:
    """A scripted person reporting a grievance: what they choose and what they type."""

    language: str
    name: str | None = None  # None: anonymously
    category: str
    region: str
    typed_region: bool = False  # typed rather than chosen from the deployment's list
    description: tuple[str, ...]  # one message each
    groups: str | None = None  # None: skipped
    urgency: Urgency
    remedy: str | None = None  # None: skipped
    deep_link: bool = False  # opens the organisations' link rather than sending /grievance

    @property
    def anonymous(self) -> bool:
        return self.name is None

    @property
    def text(self) -> str:
        """The description as stored: its messages together."""
        return "\n\n".join(self.description)


def grievance_actions(user: SimUser, script: GrievanceScript) -> list[Callable[[], object]]:
    """What the person does, one update per action; each action reads the buttons of the latest message then."""
    language = script.language

    def press(text: Text | str) -> Callable[[], object]:
        return lambda: user.press(text if isinstance(text, str) else label(text, language))

    def send(text: str) -> Callable[[], object]:
        return lambda: user.send_text(text)

    actions = [(lambda: user.send_command("/start", "grievance")) if script.deep_link
               else (lambda: user.send_command("/grievance")),
               press(LANGUAGES[language])]
    actions += [press(_("🕶 Anonymously"))] if script.name is None else [press(_("🪪 With my name")), send(script.name)]
    actions.append(press(GRIEVANCE_CATEGORY_NAMES[script.category]))
    actions.append(send(script.region) if script.typed_region else press(script.region))
    actions += [send(part) for part in script.description]
    actions.append(press(_("Done")))
    actions.append(send(script.groups) if script.groups else press(_("Skip")))
    actions.append(press(URGENCY_NAMES[script.urgency]))
    actions.append(send(script.remedy) if script.remedy else press(_("Skip")))
    actions.append(press(_("✅ Send the report")))
    return actions


async def file_grievance(local: LocalBot, user: SimUser, script: GrievanceScript) -> None:
    """The person files the report alone, waiting for the bot after each step."""
    for action in grievance_actions(user, script):
        action()
        await local.settle()
