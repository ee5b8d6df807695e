"""One party's private caucus: validates what the party does and moves the caucus machine.

The transport turns a Telegram update into one call here; storage loads the conversation
before and saves what `changed` names after. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flows.errors import InvalidInput, StepMismatch
from flows.machines import CAUCUS_MACHINE, CaucusStep
from flows.model import CaucusAnswers, InterestCategory, Interests, Issue, ItemKey, ItemKind, ShareLevel
from flows.text import clean_text

__all__ = ["SUPPORTED_LANGUAGES", "CaucusConversation"]

SUPPORTED_LANGUAGES = ("en", "fr")

# Steps at which the party is still answering: /status shows them, answers are drafts.
ANSWERING_STEPS = frozenset(
    {CaucusStep.POSITION, CaucusStep.INTEREST_CATEGORIES, CaucusStep.INTEREST_WORDS, CaucusStep.RANKING}
)


class _StepModel:
    """The object the shared machine drives: the state plus the guards and effects it names."""

    def __init__(self, conversation: CaucusConversation) -> None:
        self.state = conversation.step
        self._conversation = conversation

    def has_categories(self) -> bool:
        interests = self._conversation.answers.interests.get(self._conversation.current_issue.id)
        return bool(interests and interests.categories)

    def has_more_issues(self) -> bool:
        return self._conversation.cursor + 1 < len(self._conversation.issues)

    def ranking_complete(self) -> bool:
        return len(self._conversation.answers.ranking) == len(self._conversation.issues)

    def start_first_issue(self) -> None:
        self._conversation.cursor = 0

    def start_next_issue(self) -> None:
        self._conversation.cursor += 1


@dataclass
class CaucusConversation:
    """A party's caucus for one round: its step, the issue it is on, and its answers."""

    step: CaucusStep
    cursor: int
    issues: list[Issue]
    answers: CaucusAnswers
    changed: set[ItemKey] = field(default_factory=set)

    @property
    def current_issue(self) -> Issue:
        return self.issues[min(self.cursor, len(self.issues) - 1)]

    def _fire(self, trigger: str) -> bool:
        model = _StepModel(self)
        accepted = CAUCUS_MACHINE.fire(model, trigger)
        self.step = CaucusStep(model.state)
        return accepted

    def _expect(self, *steps: CaucusStep) -> None:
        if self.step not in steps:
            raise StepMismatch(f"not possible at {self.step.name}")

    # Joining and consent -------------------------------------------------------------------
    def join(self) -> None:
        self._fire("join")

    def choose_language(self, language: str) -> None:
        if language not in SUPPORTED_LANGUAGES:
            raise StepMismatch(f"unknown language {language!r}")
        self._fire("choose_language")

    def consent(self) -> None:
        self._fire("consent")

    def decline(self) -> None:
        self._fire("decline")

    def reconsider(self) -> None:
        self._fire("reconsider")

    # Answers ------------------------------------------------------------------------------
    def record_position(self, raw: str) -> None:
        self._expect(CaucusStep.POSITION)
        self.answers.positions[self.current_issue.id] = clean_text(raw)
        self.changed.add(ItemKey(ItemKind.POSITION, self.current_issue.id))
        self._fire("give_position")

    def choose_category(self, category: InterestCategory, *, chosen: bool) -> None:
        """Select or unselect a category (idempotent, so a double tap changes nothing more)."""
        self._expect(CaucusStep.INTEREST_CATEGORIES)
        interests = self.answers.interests.setdefault(self.current_issue.id, Interests())
        if chosen and category not in interests.categories:
            interests.categories.append(category)
        elif not chosen and category in interests.categories:
            interests.categories.remove(category)
        self.changed.add(ItemKey(ItemKind.INTERESTS, self.current_issue.id))
        self._fire("choose_category")

    def confirm_categories(self) -> None:
        self._expect(CaucusStep.INTEREST_CATEGORIES)
        if not self._fire("confirm_categories"):
            raise InvalidInput("no_category")

    def record_interest_words(self, raw: str) -> None:
        self._expect(CaucusStep.INTEREST_WORDS)
        interests = self.answers.interests.setdefault(self.current_issue.id, Interests())
        interests.words = clean_text(raw)
        self.changed.add(ItemKey(ItemKind.INTERESTS, self.current_issue.id))
        self._fire("give_interest_words")

    def rank_issue(self, issue_id: str) -> None:
        """Put an issue next in the ranking; the last one left joins by itself."""
        self._expect(CaucusStep.RANKING)
        ranking = self.answers.ranking
        if issue_id not in {issue.id for issue in self.issues} or issue_id in ranking:
            raise StepMismatch("issue not rankable")
        self._fire("rank_issue")
        ranking.append(issue_id)
        unranked = [issue.id for issue in self.issues if issue.id not in ranking]
        if len(unranked) == 1:
            ranking.append(unranked[0])
        self.changed.add(ItemKey(ItemKind.RANKING))
        if len(ranking) == len(self.issues):
            self._fire("finish_ranking")

    def restart_ranking(self) -> None:
        self._fire("restart_ranking")
        self.answers.ranking.clear()
        self.changed.add(ItemKey(ItemKind.RANKING))

    def unranked_issues(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.id not in self.answers.ranking]

    # Review and submission --------------------------------------------------------------
    def set_share_level(self, item: ItemKey, level: ShareLevel) -> None:
        self._expect(CaucusStep.REVIEW)
        if item not in self.answers.items(self.issues):
            raise StepMismatch("no such item")
        self._fire("set_share_level")
        self.answers.share[item] = level
        self.changed.add(item)

    def request_submit(self) -> None:
        self._fire("request_submit")

    def back_to_review(self) -> None:
        self._fire("back_to_review")

    def submit(self) -> None:
        self._fire("submit")
