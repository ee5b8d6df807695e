"""One party's private caucus: validates what the party does and moves the caucus machine.

The transport turns a Telegram update into one call here; storage loads the conversation
before and saves what `changed` names after. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flows.errors import InvalidInput, StepMismatch
from flows.machines import CAUCUS_MACHINE, OPTIONAL_STEPS, CaucusStep
from flows.model import (
    FIXED_SHARE,
    OPTIONAL_KINDS,
    POINTS_TOTAL,
    CaucusAnswers,
    InterestCategory,
    Interests,
    Issue,
    ItemKey,
    ItemKind,
    Option,
    PriorityMode,
    Range,
    Rating,
    ShareLevel,
)
from flows.numbers import parse_number
from flows.text import clean_text

MAX_OPTION_CHARS = 300  # an option must fit a rating screen; a suggestion may become one

__all__ = ["OPTIONAL_KIND_AT", "SUPPORTED_LANGUAGES", "CaucusConversation"]

# The languages a party can choose (each has a complete catalog in locales/; English is the source).
SUPPORTED_LANGUAGES = ("en", "fr", "es", "ar", "sw", "uk", "ru")

# The steps of one issue, and the steps before a party answers anything.
_ISSUE_STEPS = frozenset({
    CaucusStep.POSITION, CaucusStep.INTEREST_CATEGORIES, CaucusStep.INTEREST_WORDS, CaucusStep.RANGE_LOW,
    CaucusStep.RANGE_HIGH, CaucusStep.RANGE_HOPE, CaucusStep.RATING, CaucusStep.SUGGEST_OPTION,
})
_BEFORE_ANSWERING = frozenset({CaucusStep.INVITED, CaucusStep.LANGUAGE, CaucusStep.CONSENT, CaucusStep.DECLINED})
# Which optional question each optional step asks.
OPTIONAL_KIND_AT = dict(zip(OPTIONAL_STEPS, OPTIONAL_KINDS, strict=True))
_RANGE_FIELD = {CaucusStep.RANGE_LOW: "low", CaucusStep.RANGE_HIGH: "high", CaucusStep.RANGE_HOPE: "hope"}
_RANGE_TRIGGER = {CaucusStep.RANGE_LOW: "give_low", CaucusStep.RANGE_HIGH: "give_high",
                  CaucusStep.RANGE_HOPE: "give_hope"}
_KEEP_TRIGGER = {
    CaucusStep.POSITION: "give_position",
    CaucusStep.INTEREST_WORDS: "give_interest_words",
    CaucusStep.RANKING: "finish_priorities",
    CaucusStep.POINTS: "finish_priorities",
    **_RANGE_TRIGGER,
    **dict.fromkeys(OPTIONAL_STEPS, "answer_optional"),
}


class _StepModel:
    """The object the shared machine drives: the state plus the guards and effects it names."""

    def __init__(self, conversation: CaucusConversation) -> None:
        self.state = conversation.step
        self._c = conversation

    # Guards -------------------------------------------------------------------------------
    def round_open(self) -> bool:
        return self._c.round_open

    def editing(self) -> bool:
        return self._c.editing

    def has_categories(self) -> bool:
        interests = self._c.answers.interests.get(self._c.current_issue.id)
        return bool(interests and interests.categories)

    def is_quantitative(self) -> bool:
        return self._c.current_issue.quantitative

    def has_more_options(self) -> bool:
        return self._c.sub + 1 < len(self._c.current_issue.options)

    def has_more_issues(self) -> bool:
        return self._c.cursor + 1 < len(self._c.issues)

    def points_mode(self) -> bool:
        return self._c.mode is PriorityMode.POINTS

    def priorities_complete(self) -> bool:
        return self._c.priorities_complete()

    def all_rated(self) -> bool:
        return self._c.first_unrated() is None

    # Effects ------------------------------------------------------------------------------
    def start_first_issue(self) -> None:
        self._c.cursor, self._c.sub, self._c.editing = 0, 0, False

    def start_next_issue(self) -> None:
        self._c.cursor += 1
        self._c.sub = 0

    def start_options(self) -> None:
        self._c.sub = 0

    def next_option(self) -> None:
        self._c.sub += 1

    def start_priorities(self) -> None:
        self._c.sub = 0

    def next_points_issue(self) -> None:
        self._c.sub += 1

    def start_editing(self) -> None:
        self._c.editing = True

    def start_missing_ratings(self) -> None:
        """Show the first option without a rating; once its issue is rated, the review comes back."""
        unrated = self._c.first_unrated()
        assert unrated is not None  # noqa: S101 - guarded by all_rated
        self._c.cursor, self._c.sub = unrated
        self._c.editing = True

    def stop_editing(self) -> None:
        self._c.editing = False


@dataclass
class CaucusConversation:
    """A party's caucus for one round: its step, where it is within the step, and its answers.

    ``cursor`` is the issue being answered; ``sub`` is the option being rated, or the issue
    receiving points; ``editing`` is set while an item is changed from the review screen.
    """

    step: CaucusStep
    cursor: int
    issues: list[Issue]
    answers: CaucusAnswers
    sub: int = 0
    editing: bool = False
    mode: PriorityMode = PriorityMode.RANKING
    round_open: bool = True
    changed: set[ItemKey] = field(default_factory=set)

    @property
    def current_issue(self) -> Issue:
        return self.issues[min(self.cursor, len(self.issues) - 1)]

    @property
    def current_option(self) -> Option | None:
        options = self.current_issue.options
        return options[self.sub] if self.sub < len(options) else None

    @property
    def priority_kind(self) -> ItemKind:
        return ItemKind.POINTS if self.mode is PriorityMode.POINTS else ItemKind.RANKING

    def items(self) -> list[ItemKey]:
        return self.answers.items(self.issues, self.mode)

    def _fire(self, trigger: str) -> bool:
        model = _StepModel(self)
        accepted = CAUCUS_MACHINE.fire(model, trigger)
        self.step = CaucusStep(model.state)
        return accepted

    def _expect(self, *steps: CaucusStep) -> None:
        if self.step not in steps:
            raise StepMismatch(f"not possible at {self.step.name}")

    def _touch(self, kind: ItemKind, issue_id: str = "") -> None:
        self.changed.add(ItemKey(kind, issue_id))

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

    # Position and interests ---------------------------------------------------------------
    def record_position(self, raw: str) -> None:
        self._expect(CaucusStep.POSITION)
        self.answers.positions[self.current_issue.id] = clean_text(raw)
        self._touch(ItemKind.POSITION, self.current_issue.id)
        self._fire("give_position")

    def choose_category(self, category: InterestCategory, *, chosen: bool) -> None:
        """Select or unselect a category (idempotent, so a double tap changes nothing more)."""
        self._expect(CaucusStep.INTEREST_CATEGORIES)
        interests = self.answers.interests.setdefault(self.current_issue.id, Interests())
        if chosen and category not in interests.categories:
            interests.categories.append(category)
        elif not chosen and category in interests.categories:
            interests.categories.remove(category)
        self._touch(ItemKind.INTERESTS, self.current_issue.id)
        self._fire("choose_category")

    def confirm_categories(self) -> None:
        self._expect(CaucusStep.INTEREST_CATEGORIES)
        if not self._fire("confirm_categories"):
            raise InvalidInput("no_category")

    def record_interest_words(self, raw: str) -> None:
        self._expect(CaucusStep.INTEREST_WORDS)
        interests = self.answers.interests.setdefault(self.current_issue.id, Interests())
        interests.words = clean_text(raw)
        self._touch(ItemKind.INTERESTS, self.current_issue.id)
        self._fire("give_interest_words")

    # The range of a quantitative issue --------------------------------------------------------
    def record_range_value(self, raw: str, locale: str) -> Decimal:
        """Parse the lowest, highest or hoped-for value as the party typed it, check it, store it."""
        self._expect(CaucusStep.RANGE_LOW, CaucusStep.RANGE_HIGH, CaucusStep.RANGE_HOPE)
        scale = self.current_issue.scale
        if scale is None:
            raise StepMismatch("not a quantitative issue")
        value = parse_number(raw, locale, unit=scale.unit)
        answer = self.answers.ranges.get(self.current_issue.id, Range())
        answer = Range(answer.low, answer.high, answer.hope)
        setattr(answer, _RANGE_FIELD[self.step], value)
        self._check_range(answer)
        self.answers.ranges[self.current_issue.id] = answer
        self._touch(ItemKind.RANGE, self.current_issue.id)
        self._fire(_RANGE_TRIGGER[self.step])
        return value

    # Options ------------------------------------------------------------------------------------
    def rate_option(self, option_id: str, rating: Rating) -> None:
        """Rate the option on screen; the next option (or what follows the issue) comes next."""
        self._expect(CaucusStep.RATING)
        option = self.current_option
        if option is None or option.id != option_id:
            raise StepMismatch("not the option on screen")
        self.answers.ratings.setdefault(self.current_issue.id, {})[option_id] = rating
        self._touch(ItemKind.RATINGS, self.current_issue.id)
        self._fire("rate_option")

    def first_unrated(self) -> tuple[int, int] | None:
        """(issue, option) of the first option without a rating: the mediator may add one mid-round."""
        for cursor, issue in enumerate(self.issues):
            ratings = self.answers.ratings.get(issue.id, {})
            for sub, option in enumerate(issue.options):
                if option.id not in ratings:
                    return cursor, sub
        return None

    def will_rate(self, issue_id: str) -> bool:
        """Whether the party's way forward still shows this issue's options (an added one included)."""
        if self.step in _BEFORE_ANSWERING:
            return True
        index = next((n for n, issue in enumerate(self.issues) if issue.id == issue_id), None)
        if index is None or self.step not in _ISSUE_STEPS:
            return False
        if self.editing:  # back to the review once the item is done: only the ratings being edited go on
            return self.sees_options_of(issue_id)
        return index >= self.cursor

    def skip_options(self) -> None:
        """Move on from an issue that has no option (left) to rate."""
        self._expect(CaucusStep.RATING)
        if self.current_option is not None:
            raise StepMismatch("options are waiting for a rating")
        self._fire("skip_options")

    def suggest_option(self) -> None:
        self._fire("suggest_option")

    def record_suggestion(self, raw: str) -> str:
        """The party's idea of an option, cleaned; it goes to the mediator, not into the answers."""
        self._expect(CaucusStep.SUGGEST_OPTION)
        text = clean_text(raw, max_chars=MAX_OPTION_CHARS)
        self._fire("give_suggestion")
        return text

    def cancel_suggestion(self) -> None:
        self._fire("cancel_suggestion")

    # Priorities -----------------------------------------------------------------------------------
    def priorities_complete(self) -> bool:
        if self.mode is PriorityMode.POINTS:
            return len(self.answers.points) == len(self.issues) and set(self.answers.points) == self._issue_ids()
        return len(self.answers.ranking) == len(self.issues) and set(self.answers.ranking) == self._issue_ids()

    def _issue_ids(self) -> set[str]:
        return {issue.id for issue in self.issues}

    def rank_issue(self, issue_id: str) -> None:
        """Put an issue next in the ranking; the last one left joins by itself."""
        self._expect(CaucusStep.RANKING)
        ranking = self.answers.ranking
        if issue_id not in self._issue_ids() or issue_id in ranking:
            raise StepMismatch("issue not rankable")
        if not self._fire("rank_issue"):
            raise StepMismatch("the ranking is complete")
        ranking.append(issue_id)
        unranked = [issue.id for issue in self.issues if issue.id not in ranking]
        if len(unranked) == 1:
            ranking.append(unranked[0])
        self._touch(ItemKind.RANKING)
        if self.priorities_complete():
            self._fire("finish_priorities")

    def unranked_issues(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.id not in self.answers.ranking]

    @property
    def points_left(self) -> int:
        return POINTS_TOTAL - sum(self.answers.points.values())

    @property
    def points_issue(self) -> Issue:
        return self.issues[min(self.sub, len(self.issues) - 1)]

    def give_points(self, raw: str, locale: str) -> int:
        """Points for the issue on screen, out of what is left; the last issue gets the rest."""
        self._expect(CaucusStep.POINTS)
        if self.priorities_complete():
            raise InvalidInput("priorities_done")
        points = int(parse_number(raw, locale, whole=True))
        left = self.points_left
        if not 0 <= points <= left:
            raise InvalidInput("points_range", left=left)
        issue = self.points_issue
        self._fire("give_points")
        self.answers.points[issue.id] = points
        if self.sub == len(self.issues) - 1:
            self.answers.points[self.issues[self.sub].id] = self.points_left
        self._touch(ItemKind.POINTS)
        if self.priorities_complete():
            self._fire("finish_priorities")
        return points

    def restart_priorities(self) -> None:
        self._fire("restart_priorities")
        self.answers.ranking.clear()
        self.answers.points.clear()
        self._touch(self.priority_kind)

    # The optional questions ----------------------------------------------------------------------
    def answer_optional(self, raw: str | None) -> None:
        """Answer the optional question on screen, or skip it (None), which removes an earlier answer."""
        self._expect(*OPTIONAL_STEPS)
        kind = OPTIONAL_KIND_AT[self.step]
        if raw is None:
            self.answers.texts.pop(kind, None)
        else:
            self.answers.texts[kind] = clean_text(raw)
        self._touch(kind)
        self._fire("answer_optional")

    # Keeping an earlier answer (a new round's pre-filled answers, or an edit that changes nothing) --
    def has_answer_here(self) -> bool:
        """Whether the step on screen already has an answer the party may keep."""
        issue = self.current_issue.id
        if self.step is CaucusStep.POSITION:
            return issue in self.answers.positions
        if self.step is CaucusStep.INTEREST_WORDS:
            return bool(self.answers.interests.get(issue, Interests()).words)
        if self.step in _RANGE_FIELD:
            return getattr(self.answers.ranges.get(issue, Range()), _RANGE_FIELD[self.step]) is not None
        if self.step in {CaucusStep.RANKING, CaucusStep.POINTS}:
            return self.priorities_complete()
        if self.step in OPTIONAL_KIND_AT:
            return OPTIONAL_KIND_AT[self.step] in self.answers.texts
        return False

    def keep_answer(self) -> None:
        """Keep the answer already given at this step and move on."""
        if not self.has_answer_here():
            raise StepMismatch("nothing to keep here")
        if self.step in _RANGE_FIELD:
            self._check_range(self.answers.ranges[self.current_issue.id])
        self._fire(_KEEP_TRIGGER[self.step])

    def _check_range(self, answer: Range) -> None:
        scale = self.current_issue.scale
        unit = scale.unit if scale else ""
        value = getattr(answer, _RANGE_FIELD[self.step])
        if scale is not None and value is not None and not scale.contains(value):
            raise InvalidInput("out_of_scale", low=str(scale.low), high=str(scale.high), unit=unit)
        if self.step is CaucusStep.RANGE_HIGH and answer.low is not None and value < answer.low:
            raise InvalidInput("high_below_low", low=str(answer.low), unit=unit)
        if self.step is CaucusStep.RANGE_HOPE and answer.low is not None and answer.high is not None \
                and not answer.low <= value <= answer.high:
            raise InvalidInput("hope_outside", low=str(answer.low), high=str(answer.high), unit=unit)

    # Review and submission --------------------------------------------------------------
    def set_share_level(self, item: ItemKey, level: ShareLevel) -> None:
        self._expect(CaucusStep.REVIEW)
        self._change_share(item, level, "set_share_level")

    def make_more_private(self, item: ItemKey, level: ShareLevel) -> None:
        """After submission: let fewer people read an item (never more; the caller checks the joint session)."""
        self._expect(CaucusStep.SUBMITTED)
        self._change_share(item, level, "make_more_private", tighter_only=True)

    def _change_share(self, item: ItemKey, level: ShareLevel, trigger: str, *, tighter_only: bool = False) -> None:
        if item not in self.items() or not self.answers.has(item):
            raise StepMismatch("no such item")
        if item.kind in FIXED_SHARE:
            raise InvalidInput("range_private")
        if tighter_only and not level.protects_more_than(self.answers.share_level(item)):
            raise InvalidInput("not_more_private")
        self._fire(trigger)
        self.answers.share[item] = level
        self.changed.add(item)

    def edit(self, item: ItemKey) -> None:
        """Go back to an item's question from the review screen; answering it returns here."""
        self._expect(CaucusStep.REVIEW)
        if item not in self.items():
            raise StepMismatch("no such item")
        if item.kind.per_issue:
            self.cursor = next(index for index, issue in enumerate(self.issues) if issue.id == item.issue_id)
        self.sub = 0
        self._fire(f"edit_{item.kind.value}")

    def request_submit(self) -> None:
        self._fire("request_submit")

    def back_to_review(self) -> None:
        self._fire("back_to_review")

    def submit(self) -> None:
        self._fire("submit")

    # Rounds and withdrawal ------------------------------------------------------------------------
    def close_round(self) -> bool:
        """The mediator closed the round: a party still answering waits for the next one."""
        if self.step not in CAUCUS_MACHINE.sources("close_round"):
            return False
        self.round_open = False
        return self._fire("close_round")

    def start_new_round(self, issues: list[Issue]) -> bool:
        """A new round with the mediator's updated issues; answers given so far are kept as a draft."""
        self._adopt(issues)
        self.round_open = True
        if self.step not in CAUCUS_MACHINE.sources("new_round"):
            return False
        return self._fire("new_round")

    def restart_answers(self, issues: list[Issue]) -> bool:
        """The mediator changed the questions while this party was answering (nobody has submitted):
        it goes through its answers again from the first issue, each one kept unless it no longer fits.
        False if the party is not answering."""
        if self.step not in CAUCUS_MACHINE.sources("restart_answers"):
            return False
        self._adopt(issues)
        return self._fire("restart_answers")

    def option_reworded(self, issues: list[Issue], option_id: str) -> bool:
        """The mediator reworded an option: a rating of its old wording no longer counts, and is asked
        again before submitting. True if this party had rated it."""
        self.issues = issues
        for issue_id, ratings in self.answers.ratings.items():
            if ratings.pop(option_id, None) is not None:
                self._touch(ItemKind.RATINGS, issue_id)
                return True
        return False

    def sees_options_of(self, issue_id: str) -> bool:
        """Whether the screen in front of the party shows this issue's options (or a suggestion for it)."""
        return self.step in {CaucusStep.RATING, CaucusStep.SUGGEST_OPTION} and self.current_issue.id == issue_id

    def _adopt(self, issues: list[Issue]) -> None:
        """Take the mediator's current issues; drop what answered questions that are gone."""
        self.issues = issues
        ids = {issue.id: issue for issue in issues}
        for issue_id, ratings in list(self.answers.ratings.items()):
            kept = {oid: r for oid, r in ratings.items() if issue_id in ids
                    and oid in {option.id for option in ids[issue_id].options}}
            if kept != ratings:
                self.answers.ratings[issue_id] = kept
                self._touch(ItemKind.RATINGS, issue_id)
        # Priorities must name exactly the issues of the new round, or be given again.
        ranking = [issue_id for issue_id in self.answers.ranking if issue_id in ids]
        if ranking != self.answers.ranking:
            self.answers.ranking = ranking
            self._touch(ItemKind.RANKING)
        if self.answers.points and set(self.answers.points) != set(ids):
            self.answers.points.clear()
            self._touch(ItemKind.POINTS)
        per_issue = ((ItemKind.POSITION, self.answers.positions), (ItemKind.INTERESTS, self.answers.interests),
                     (ItemKind.RANGE, self.answers.ranges))
        for kind, answered in per_issue:
            for issue_id in list(answered):
                if issue_id not in ids or (kind is ItemKind.RANGE and not ids[issue_id].quantitative):
                    del answered[issue_id]  # the issue is gone, or no longer counted in numbers
                    self._touch(kind, issue_id)

    def withdraw(self) -> None:
        self._fire("withdraw")

    def reinvite(self) -> None:
        self._fire("reinvite")

