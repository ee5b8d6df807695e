"""The caucus flow: steps, guards, and what a party may do where."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flows.caucus import CaucusConversation
from flows.errors import InvalidInput, StepMismatch
from flows.machines import CAUCUS_MACHINE, EDIT_STEPS, CaucusStep
from flows.model import (
    CaucusAnswers,
    InterestCategory,
    Issue,
    ItemKey,
    ItemKind,
    Option,
    PriorityMode,
    Rating,
    Scale,
    ShareLevel,
)

WATER = Issue("i1", "Water", options=(Option("o1", "Shared schedule"), Option("o2", "New well")))
LAND = Issue("i2", "Land")
MONEY = Issue("i3", "Compensation", scale=Scale("USD", Decimal(0), Decimal(10000)))
ISSUES = [WATER, LAND, MONEY]


def _at_position(issues: list[Issue] = ISSUES, mode: PriorityMode = PriorityMode.RANKING) -> CaucusConversation:
    conversation = CaucusConversation(CaucusStep.INVITED, 0, issues, CaucusAnswers(), mode=mode)
    conversation.join()
    conversation.choose_language("fr")
    conversation.consent()
    return conversation


def _position_and_interests(conversation: CaucusConversation, text: str) -> None:
    conversation.record_position(f"position {text}")
    conversation.choose_category(InterestCategory.LAND, chosen=True)
    conversation.confirm_categories()
    conversation.record_interest_words(f"words {text}")


def _answer_all_issues(conversation: CaucusConversation) -> None:
    _position_and_interests(conversation, "water")
    assert conversation.step is CaucusStep.RATING
    conversation.rate_option("o1", Rating.ACCEPTABLE)
    conversation.rate_option("o2", Rating.IDEAL)
    _position_and_interests(conversation, "land")
    assert conversation.step is CaucusStep.RATING  # no options: may suggest one or continue
    conversation.skip_options()
    _position_and_interests(conversation, "money")
    assert conversation.step is CaucusStep.RANGE_LOW
    conversation.record_range_value("1 000", "fr")
    conversation.record_range_value("5 000,5", "fr")
    conversation.record_range_value("3000", "fr")
    conversation.skip_options()


def _finish(conversation: CaucusConversation) -> None:
    """From the priorities to the review: rank, answer two optional questions, skip two."""
    conversation.rank_issue("i3")
    conversation.rank_issue("i1")
    conversation.answer_optional("a guarantee of safe passage")
    conversation.answer_optional(None)
    conversation.answer_optional("our elders must agree")
    conversation.answer_optional(None)


def test_a_party_answers_every_question_then_reviews_and_submits() -> None:
    """Position, interests, ratings, range per issue; priorities; optional questions; review; submission."""
    conversation = _at_position()
    _answer_all_issues(conversation)
    assert conversation.step is CaucusStep.RANKING
    _finish(conversation)
    assert conversation.step is CaucusStep.REVIEW
    answers = conversation.answers
    assert answers.ratings == {"i1": {"o1": Rating.ACCEPTABLE, "o2": Rating.IDEAL}}
    assert (answers.ranges["i3"].low, answers.ranges["i3"].high, answers.ranges["i3"].hope) == (
        Decimal(1000), Decimal("5000.5"), Decimal(3000))
    assert answers.ranking == ["i3", "i1", "i2"]
    assert answers.texts == {ItemKind.CBM_NEEDS: "a guarantee of safe passage",
                             ItemKind.CONSTITUENTS: "our elders must agree"}
    conversation.request_submit()
    conversation.submit()
    assert conversation.step is CaucusStep.SUBMITTED


def test_ranges_are_checked_against_the_scale_and_each_other() -> None:
    """Out of scale, a highest below the lowest, a hope outside the range, and nonsense are refused."""
    conversation = _at_position([MONEY, LAND])
    _position_and_interests(conversation, "money")
    for raw, reason in [("20000", "out_of_scale"), ("abc", "not_a_number"), ("1.500", "ambiguous_number")]:
        with pytest.raises(InvalidInput) as refusal:
            conversation.record_range_value(raw, "fr")
        assert refusal.value.reason == reason
    conversation.record_range_value("4000", "en")
    with pytest.raises(InvalidInput) as refusal:
        conversation.record_range_value("3,000", "en")
    assert refusal.value.reason == "high_below_low"
    conversation.record_range_value("6,000", "en")
    with pytest.raises(InvalidInput) as refusal:
        conversation.record_range_value("7000", "en")
    assert refusal.value.reason == "hope_outside"
    assert conversation.step is CaucusStep.RANGE_HOPE
    conversation.record_range_value("5000 USD", "en")
    assert conversation.step is CaucusStep.RATING


def test_a_range_is_always_private() -> None:
    """The range's share level cannot be changed, whatever the party taps."""
    conversation = _at_position([MONEY, LAND])
    _position_and_interests(conversation, "money")
    for value in ("1", "2", "2"):
        conversation.record_range_value(value, "en")
    conversation.skip_options()
    _position_and_interests(conversation, "land")
    conversation.skip_options()
    conversation.rank_issue("i3")
    for _ in range(4):
        conversation.answer_optional(None)
    key = ItemKey(ItemKind.RANGE, "i3")
    with pytest.raises(InvalidInput) as refusal:
        conversation.set_share_level(key, ShareLevel.JOINT)
    assert refusal.value.reason == "range_private"
    conversation.answers.share[key] = ShareLevel.JOINT  # even if it were stored somehow
    assert conversation.answers.share_level(key) is ShareLevel.PRIVATE


def test_points_spread_one_hundred_and_the_last_issue_gets_the_rest() -> None:
    """In points mode each issue gets points out of what is left; the last one gets the remainder."""
    conversation = _at_position([LAND, WATER, MONEY], mode=PriorityMode.POINTS)
    conversation.answers.positions.update({"i1": "p", "i2": "p", "i3": "p"})
    conversation.step, conversation.sub = CaucusStep.POINTS, 0
    with pytest.raises(InvalidInput) as refusal:
        conversation.give_points("120", "en")
    assert refusal.value.reason == "points_range"
    with pytest.raises(InvalidInput) as refusal:
        conversation.give_points("12.5", "en")
    assert refusal.value.reason == "not_whole"
    conversation.give_points("50", "en")
    conversation.give_points("٣٠", "ar")  # Arabic-Indic digits
    assert conversation.answers.points == {"i2": 50, "i1": 30, "i3": 20}
    assert conversation.step is CaucusStep.CBM_NEEDS


def test_review_edits_return_to_the_review() -> None:
    """Changing an item from the review asks only that item's questions, then returns to the review."""
    conversation = _at_position()
    _answer_all_issues(conversation)
    _finish(conversation)
    conversation.edit(ItemKey(ItemKind.POSITION, "i2"))
    assert (conversation.step, conversation.current_issue) == (CaucusStep.POSITION, LAND)
    conversation.record_position("a new position")
    assert conversation.step is CaucusStep.REVIEW
    assert conversation.answers.positions["i2"] == "a new position"
    conversation.edit(ItemKey(ItemKind.RATINGS, "i1"))
    conversation.rate_option("o1", Rating.UNACCEPTABLE)
    conversation.rate_option("o2", Rating.IDEAL)
    assert conversation.step is CaucusStep.REVIEW
    conversation.edit(ItemKey(ItemKind.RANGE, "i3"))
    conversation.keep_answer()
    conversation.keep_answer()
    conversation.record_range_value("3500", "en")
    assert conversation.step is CaucusStep.REVIEW
    conversation.edit(ItemKey(ItemKind.CBM_OFFER))
    conversation.answer_optional("we can open the road")
    assert conversation.step is CaucusStep.REVIEW
    conversation.edit(ItemKey(ItemKind.RANKING))
    conversation.keep_answer()
    assert conversation.step is CaucusStep.REVIEW
    assert conversation.answers.ranking == ["i3", "i1", "i2"]


def test_actions_of_another_step_are_refused() -> None:
    """Submitting, ranking, rating or typing at the wrong step raises StepMismatch and changes nothing."""
    conversation = _at_position()
    for action in (conversation.submit, lambda: conversation.rank_issue("i1"),
                   lambda: conversation.rate_option("o1", Rating.IDEAL), conversation.skip_options,
                   lambda: conversation.record_interest_words("early"), conversation.keep_answer):
        with pytest.raises(StepMismatch):
            action()
    assert conversation.step is CaucusStep.POSITION
    assert conversation.changed == set()


def test_only_the_option_on_screen_can_be_rated() -> None:
    """A rating button for another option (a stale message) changes nothing."""
    conversation = _at_position()
    _position_and_interests(conversation, "water")
    with pytest.raises(StepMismatch):
        conversation.rate_option("o2", Rating.IDEAL)
    assert conversation.answers.ratings == {}


def test_blank_or_oversized_answers_are_refused() -> None:
    """Whitespace, zero-width-only and oversized answers are refused; the step stays."""
    conversation = _at_position()
    for raw, reason in [(" \u200b\n\t ", "empty"), ("x" * 1501, "too_long")]:
        with pytest.raises(InvalidInput) as refusal:
            conversation.record_position(raw)
        assert refusal.value.reason == reason
    assert conversation.step is CaucusStep.POSITION
    assert conversation.answers.positions == {}


def test_declining_consent_stores_nothing_and_can_be_reconsidered() -> None:
    """A party that declines can read the notice again; no answer is recorded."""
    conversation = CaucusConversation(CaucusStep.CONSENT, 0, ISSUES, CaucusAnswers())
    conversation.decline()
    assert conversation.step is CaucusStep.DECLINED
    conversation.reconsider()
    assert conversation.step is CaucusStep.CONSENT
    assert conversation.changed == set()


def test_a_closed_round_waits_and_a_new_round_starts_from_the_previous_answers() -> None:
    """Closing sends a party still answering to WAITING; a new round restarts at the first issue, answers kept."""
    conversation = _at_position()
    _position_and_interests(conversation, "water")
    assert conversation.close_round()
    assert conversation.step is CaucusStep.WAITING
    with pytest.raises(StepMismatch):
        conversation.rate_option("o1", Rating.IDEAL)
    renamed = Issue("i1", "Water", options=(Option("o2", "New well"), Option("o3", "Rotation")))
    conversation.answers.ratings["i1"] = {"o1": Rating.IDEAL, "o2": Rating.ACCEPTABLE}
    assert conversation.start_new_round([renamed, LAND, MONEY])
    assert (conversation.step, conversation.cursor) == (CaucusStep.POSITION, 0)
    assert conversation.answers.positions["i1"] == "position water"
    assert conversation.answers.ratings["i1"] == {"o2": Rating.ACCEPTABLE}  # a removed option's rating goes
    conversation.keep_answer()
    assert conversation.step is CaucusStep.INTEREST_CATEGORIES


def test_a_party_joining_after_the_round_closed_waits() -> None:
    """Consent while the round is closed leads to WAITING, not to the questions."""
    conversation = CaucusConversation(CaucusStep.CONSENT, 0, ISSUES, CaucusAnswers(), round_open=False)
    conversation.consent()
    assert conversation.step is CaucusStep.WAITING


def test_every_answer_kind_can_be_edited_from_the_review() -> None:
    """The review's edit trigger exists for every kind of item."""
    assert set(EDIT_STEPS) == {kind.value for kind in ItemKind}
    assert {f"edit_{kind.value}" for kind in ItemKind} <= CAUCUS_MACHINE.triggers()


def test_a_new_round_drops_priorities_that_no_longer_match_the_issues() -> None:
    """Removed issues leave the ranking; points that do not cover exactly the new issues are asked again."""
    ranked = _at_position()
    ranked.answers.ranking = ["i3", "i1", "i2"]
    ranked.close_round()
    ranked.start_new_round([WATER, MONEY])
    assert ranked.answers.ranking == ["i3", "i1"]
    pointed = _at_position(mode=PriorityMode.POINTS)
    pointed.answers.points = {"i1": 50, "i2": 30, "i3": 20}
    pointed.close_round()
    pointed.start_new_round([WATER, MONEY, Issue("i4", "Roads")])
    assert pointed.answers.points == {}
    assert ItemKey(ItemKind.POINTS) in pointed.changed


def _with_added_option(conversation: CaucusConversation, issue_index: int, option: Option) -> None:
    """The mediator adds an option while the round runs (the transport reloads the issues likewise)."""
    issue = conversation.issues[issue_index]
    conversation.issues = [*conversation.issues]
    conversation.issues[issue_index] = Issue(issue.id, issue.title, issue.scale, (*issue.options, option))


def test_an_option_added_after_the_party_passed_its_issue_is_rated_before_submitting() -> None:
    """At the review (or the confirmation) an unrated option sends the party to rate it, then back."""
    conversation = _at_position()
    _answer_all_issues(conversation)
    assert not conversation.will_rate("i1")
    _finish(conversation)
    _with_added_option(conversation, 0, Option("o3", "A water committee"))
    _with_added_option(conversation, 1, Option("o4", "A boundary survey"))
    conversation.request_submit()
    assert (conversation.step, conversation.current_option) == (CaucusStep.RATING, Option("o3", "A water committee"))
    assert conversation.editing
    with pytest.raises(StepMismatch):
        conversation.rate_option("o1", Rating.IDEAL)  # only the missing one is on screen
    conversation.rate_option("o3", Rating.ACCEPTABLE)
    assert conversation.step is CaucusStep.REVIEW
    assert conversation.answers.ratings["i1"] == {"o1": Rating.ACCEPTABLE, "o2": Rating.IDEAL, "o3": Rating.ACCEPTABLE}
    conversation.request_submit()
    assert (conversation.step, conversation.current_issue.id) == (CaucusStep.RATING, "i2")
    conversation.rate_option("o4", Rating.UNACCEPTABLE)
    conversation.request_submit()
    assert conversation.step is CaucusStep.CONFIRM
    _with_added_option(conversation, 0, Option("o5", "Shared pumping costs"))  # added while confirming
    conversation.submit()
    assert (conversation.step, conversation.current_option) == (CaucusStep.RATING, Option("o5", "Shared pumping costs"))
    conversation.rate_option("o5", Rating.IDEAL)
    conversation.request_submit()
    conversation.submit()
    assert conversation.step is CaucusStep.SUBMITTED


def test_who_will_see_an_added_option_in_the_normal_flow() -> None:
    """Parties not yet at an issue, or rating it now, meet a new option on their way; the others must be told."""
    assert CaucusConversation(CaucusStep.INVITED, 0, ISSUES, CaucusAnswers()).will_rate("i2")  # not joined yet
    conversation = _at_position()
    assert conversation.will_rate("i1")
    assert conversation.will_rate("i3")
    _position_and_interests(conversation, "water")
    assert conversation.step is CaucusStep.RATING
    assert conversation.will_rate("i1")
    conversation.rate_option("o1", Rating.ACCEPTABLE)
    conversation.rate_option("o2", Rating.ACCEPTABLE)
    assert not conversation.will_rate("i1")
    assert conversation.will_rate("i2")

    reviewing = _at_position()
    _answer_all_issues(reviewing)
    _finish(reviewing)
    assert not reviewing.will_rate("i1")
    reviewing.edit(ItemKey(ItemKind.RATINGS, "i1"))  # editing these ratings goes through every option
    assert reviewing.will_rate("i1")
    assert not reviewing.will_rate("i2")


def test_after_submission_an_item_can_only_become_more_private() -> None:
    conversation = _at_position()
    _answer_all_issues(conversation)
    _finish(conversation)
    position = ItemKey(ItemKind.POSITION, "i1")
    conversation.set_share_level(position, ShareLevel.JOINT)
    with pytest.raises(StepMismatch):
        conversation.make_more_private(position, ShareLevel.MEDIATOR)  # before submission: the review screen
    conversation.request_submit()
    conversation.submit()
    conversation.changed.clear()
    with pytest.raises(InvalidInput) as refused:
        conversation.make_more_private(position, ShareLevel.JOINT)
    assert refused.value.reason == "not_more_private"
    with pytest.raises(InvalidInput) as refused:
        conversation.make_more_private(ItemKey(ItemKind.RANGE, "i3"), ShareLevel.PRIVATE)
    assert refused.value.reason == "range_private"
    with pytest.raises(StepMismatch):
        conversation.make_more_private(ItemKey(ItemKind.CBM_OFFER), ShareLevel.PRIVATE)  # skipped: nothing to hide
    conversation.make_more_private(position, ShareLevel.MEDIATOR)
    conversation.make_more_private(position, ShareLevel.PRIVATE)
    assert conversation.answers.share_level(position) is ShareLevel.PRIVATE
    assert conversation.changed == {position}
    with pytest.raises(InvalidInput):
        conversation.make_more_private(position, ShareLevel.MEDIATOR)
    assert conversation.step is CaucusStep.SUBMITTED


def test_changed_questions_send_an_answering_party_through_its_answers_again() -> None:
    """Mid-round, the mediator removes an issue, drops numbers from another and adds one: the party restarts at
    the first issue with what still fits kept, and answers only what is new before reviewing again."""
    conversation = _at_position()
    _answer_all_issues(conversation)
    _finish(conversation)
    assert conversation.step is CaucusStep.REVIEW
    grazing = Issue("i4", "Grazing")
    changed = [WATER, Issue("i3", "Compensation"), grazing]
    assert conversation.restart_answers(changed)
    assert (conversation.step, conversation.cursor, conversation.editing) == (CaucusStep.POSITION, 0, False)
    answers = conversation.answers
    assert set(answers.positions) == set(answers.interests) == {"i1", "i3"}
    assert answers.ranges == {}  # i3 is no longer counted in numbers
    assert answers.ranking == ["i3", "i1"]  # i2 is gone; i4 still to be ranked
    assert {ItemKey(ItemKind.POSITION, "i2"), ItemKey(ItemKind.RANGE, "i3")} <= conversation.changed
    for _issue in ("water", "compensation"):
        conversation.keep_answer()  # position
        conversation.confirm_categories()
        conversation.keep_answer()  # interests in words
        if conversation.current_issue is WATER:
            conversation.rate_option("o1", Rating.ACCEPTABLE)
            conversation.rate_option("o2", Rating.IDEAL)
        else:
            conversation.skip_options()
    assert (conversation.step, conversation.current_issue) == (CaucusStep.POSITION, grazing)
    assert not conversation.has_answer_here()
    _position_and_interests(conversation, "grazing")
    conversation.skip_options()
    assert conversation.step is CaucusStep.RANKING
    conversation.rank_issue("i4")
    assert answers.ranking == ["i3", "i1", "i4"]
    for _question in range(4):
        conversation.keep_answer() if conversation.has_answer_here() else conversation.answer_optional(None)
    assert conversation.step is CaucusStep.REVIEW


def test_a_reworded_option_is_rated_again() -> None:
    conversation = _at_position()
    _answer_all_issues(conversation)
    _finish(conversation)
    assert not conversation.sees_options_of("i1")
    assert conversation.option_reworded(ISSUES, "o2")
    assert conversation.answers.ratings["i1"] == {"o1": Rating.ACCEPTABLE}
    assert not conversation.option_reworded(ISSUES, "o2")  # nothing left to forget
    conversation.request_submit()
    assert (conversation.step, conversation.current_option) == (CaucusStep.RATING, WATER.options[1])
    assert conversation.sees_options_of("i1")
