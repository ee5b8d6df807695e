"""The caucus flow: steps, guards, and what a party may do where."""

from __future__ import annotations

import pytest

from flows.caucus import CaucusConversation
from flows.errors import InvalidInput, StepMismatch
from flows.machines import CaucusStep
from flows.model import CaucusAnswers, InterestCategory, Issue, ItemKey, ItemKind, ShareLevel

ISSUES = [Issue("i1", "Water"), Issue("i2", "Land"), Issue("i3", "Roads")]


def _at_position() -> CaucusConversation:
    conversation = CaucusConversation(CaucusStep.INVITED, 0, ISSUES, CaucusAnswers())
    conversation.join()
    conversation.choose_language("fr")
    conversation.consent()
    return conversation


def _answer_issue(conversation: CaucusConversation, text: str) -> None:
    conversation.record_position(f"position {text}")
    conversation.choose_category(InterestCategory.LAND, chosen=True)
    conversation.confirm_categories()
    conversation.record_interest_words(f"words {text}")


def test_a_party_walks_every_issue_then_ranks_reviews_and_submits() -> None:
    """Each issue asks position then interests; then ranking, review, confirmation, submission."""
    conversation = _at_position()
    for issue in ISSUES:
        assert conversation.step is CaucusStep.POSITION
        assert conversation.current_issue == issue
        _answer_issue(conversation, issue.id)
    assert conversation.step is CaucusStep.RANKING
    conversation.rank_issue("i3")
    conversation.rank_issue("i1")  # the last one joins by itself
    assert conversation.answers.ranking == ["i3", "i1", "i2"]
    assert conversation.step is CaucusStep.REVIEW
    conversation.set_share_level(ItemKey(ItemKind.POSITION, "i2"), ShareLevel.PRIVATE)
    conversation.request_submit()
    conversation.back_to_review()
    conversation.request_submit()
    conversation.submit()
    assert conversation.step is CaucusStep.SUBMITTED
    assert conversation.answers.share_level(ItemKey(ItemKind.POSITION, "i2")) is ShareLevel.PRIVATE
    assert conversation.answers.share_level(ItemKey(ItemKind.POSITION, "i1")) is ShareLevel.MEDIATOR


def test_interests_need_at_least_one_category() -> None:
    """Done without a category is refused and the step stays."""
    conversation = _at_position()
    conversation.record_position("we want water")
    with pytest.raises(InvalidInput) as refusal:
        conversation.confirm_categories()
    assert refusal.value.reason == "no_category"
    assert conversation.step is CaucusStep.INTEREST_CATEGORIES


def test_choosing_a_category_twice_is_idempotent() -> None:
    """A double tap on a category leaves it chosen once."""
    conversation = _at_position()
    conversation.record_position("we want water")
    conversation.choose_category(InterestCategory.SECURITY, chosen=True)
    conversation.choose_category(InterestCategory.SECURITY, chosen=True)
    assert conversation.answers.interests["i1"].categories == [InterestCategory.SECURITY]
    conversation.choose_category(InterestCategory.SECURITY, chosen=False)
    assert conversation.answers.interests["i1"].categories == []


def test_actions_of_another_step_are_refused() -> None:
    """Submitting, ranking or typing a position at the wrong step raises StepMismatch and changes nothing."""
    conversation = _at_position()
    with pytest.raises(StepMismatch):
        conversation.submit()
    with pytest.raises(StepMismatch):
        conversation.rank_issue("i1")
    with pytest.raises(StepMismatch):
        conversation.record_interest_words("early")
    assert conversation.step is CaucusStep.POSITION
    assert conversation.changed == set()


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
