"""Property-based tests of the caucus machine: random taps and texts never break it."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from flows.caucus import CaucusConversation
from flows.errors import FlowError
from flows.machines import CaucusStep
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

ISSUES = [
    Issue("i1", "Water", options=(Option("o1", "Schedule"), Option("o2", "Well"))),
    Issue("i2", "Land"),
    Issue("i3", "Money", scale=Scale("USD", Decimal(0), Decimal(100))),
]
ITEM_KEYS = [ItemKey(kind, issue.id) if kind.per_issue else ItemKey(kind) for kind in ItemKind for issue in ISSUES]

Action = Callable[[CaucusConversation], object]

_texts = st.sampled_from(["we need water", "  ", "x" * 1600, "50", "٣٠", "1.500", "abc", "\u202eevil", "0", "100"])
ACTIONS: st.SearchStrategy[tuple[str, Action]] = st.one_of(
    st.just(("join", CaucusConversation.join)),
    st.sampled_from(["en", "fr", "xx"]).map(lambda lang: ("language", lambda c: c.choose_language(lang))),
    st.sampled_from(["consent", "decline", "reconsider", "confirm_categories", "skip_options", "suggest_option",
                     "cancel_suggestion", "restart_priorities", "keep_answer", "request_submit", "back_to_review",
                     "submit"]).map(lambda name: (name, lambda c: getattr(c, name)())),
    _texts.map(lambda text: ("position", lambda c: c.record_position(text))),
    _texts.map(lambda text: ("words", lambda c: c.record_interest_words(text))),
    _texts.map(lambda text: ("range", lambda c: c.record_range_value(text, "en"))),
    _texts.map(lambda text: ("points", lambda c: c.give_points(text, "en"))),
    _texts.map(lambda text: ("suggestion", lambda c: c.record_suggestion(text))),
    st.one_of(st.none(), _texts).map(lambda text: ("optional", lambda c: c.answer_optional(text))),
    st.tuples(st.sampled_from(list(InterestCategory)), st.booleans()).map(
        lambda pair: ("category", lambda c: c.choose_category(pair[0], chosen=pair[1]))),
    st.tuples(st.sampled_from(["o1", "o2", "o3", "o9"]), st.sampled_from(list(Rating))).map(
        lambda pair: ("rate", lambda c: c.rate_option(*pair))),
    st.sampled_from(["i1", "i2", "i3", "i9"]).map(lambda issue: ("rank", lambda c: c.rank_issue(issue))),
    st.tuples(st.sampled_from(ITEM_KEYS), st.sampled_from(list(ShareLevel))).map(
        lambda pair: ("share", lambda c: c.set_share_level(*pair))),
    st.sampled_from(ITEM_KEYS).map(lambda key: ("edit", lambda c: c.edit(key))),
    st.tuples(st.sampled_from(ITEM_KEYS), st.sampled_from(list(ShareLevel))).map(
        lambda pair: ("restrict", lambda c: c.make_more_private(*pair))),
)


def _add_option(conversation: CaucusConversation) -> None:
    """The mediator adds an option to the first issue while the round runs (parties may be past it)."""
    first = conversation.issues[0]
    if len(first.options) < 3:
        conversation.issues[0] = replace(first, options=(*first.options, Option("o3", "A new option")))


# The questions after a mid-round change: an option and an issue gone, numbers dropped, an issue added.
CHANGED_ISSUES = [
    Issue("i1", "Water", options=(Option("o1", "Schedule"),)),
    Issue("i3", "Money"),
    Issue("i4", "Grazing", scale=Scale("ha", Decimal(0), Decimal(10))),
]
MEDIATOR_ACTIONS = st.sampled_from([
    ("add_option", _add_option),
    ("restructure", lambda c: c.restart_answers(list(CHANGED_ISSUES))),
    ("restructure_back", lambda c: c.restart_answers(list(ISSUES))),
    ("reword", lambda c: c.option_reworded(c.issues, "o1")),
])


def _content(answers: CaucusAnswers) -> CaucusAnswers:
    """The answers without their share levels."""
    return replace(copy.deepcopy(answers), share={})


def _only_more_private(before: CaucusAnswers, after: CaucusAnswers) -> bool:
    keys = set(before.share) | set(after.share)
    return all(not before.share_level(key).protects_more_than(after.share_level(key)) for key in keys)
ROUND_ACTIONS = st.sampled_from([
    ("close_round", CaucusConversation.close_round),
    ("new_round", lambda c: c.start_new_round(ISSUES)),
    ("withdraw", CaucusConversation.withdraw),
])


@settings(max_examples=300, deadline=None)
@given(mode=st.sampled_from(list(PriorityMode)),
       actions=st.lists(st.one_of(ACTIONS, ACTIONS, ACTIONS, ROUND_ACTIONS, MEDIATOR_ACTIONS), max_size=80))
def test_any_sequence_leaves_a_declared_state_and_a_submission_changes_only_by_withdrawal_or_new_round(
    mode: PriorityMode, actions: list[tuple[str, Action]],
) -> None:
    """Whatever a party taps or types, the caucus is in a declared step; a submission rates every option,
    and once submitted, answers are frozen and share levels can only become more private."""
    conversation = CaucusConversation(CaucusStep.INVITED, 0, list(ISSUES), CaucusAnswers(), mode=mode)
    for name, action in actions:
        before = (conversation.step, copy.deepcopy(conversation.answers))
        try:
            action(conversation)
        except FlowError:
            # A refused action changes nothing a party would notice.
            assert (conversation.step, conversation.answers) == before
        assert isinstance(conversation.step, CaucusStep)
        assert 0 <= conversation.cursor < len(conversation.issues)
        if before[0] is CaucusStep.SUBMITTED and name not in {"withdraw", "new_round", "reword"}:
            assert conversation.step is CaucusStep.SUBMITTED, name
            assert _content(conversation.answers) == _content(before[1]), name
            assert _only_more_private(before[1], conversation.answers), name
        if conversation.step is CaucusStep.SUBMITTED and before[0] is not CaucusStep.SUBMITTED:
            assert conversation.first_unrated() is None
        if conversation.step is CaucusStep.REVIEW:
            assert not conversation.editing


def _submitted(mode: PriorityMode) -> CaucusConversation:
    conversation = CaucusConversation(CaucusStep.INVITED, 0, list(ISSUES), CaucusAnswers(), mode=mode)
    conversation.join()
    conversation.choose_language("en")
    conversation.consent()
    for issue in ISSUES:
        conversation.record_position(f"position on {issue.title}")
        conversation.choose_category(InterestCategory.SECURITY, chosen=True)
        conversation.confirm_categories()
        conversation.record_interest_words("words")
        if issue.quantitative:
            for value in ("10", "90", "50"):
                conversation.record_range_value(value, "en")
        for option in issue.options:
            conversation.rate_option(option.id, Rating.ACCEPTABLE)
        if not issue.options:
            conversation.skip_options()
    if mode is PriorityMode.POINTS:
        conversation.give_points("60", "en")
        conversation.give_points("30", "en")
    else:
        conversation.rank_issue("i2")
        conversation.rank_issue("i1")
    for _ in range(4):
        conversation.answer_optional("an answer")
    conversation.request_submit()
    conversation.submit()
    return conversation


@settings(max_examples=200, deadline=None)
@given(mode=st.sampled_from(list(PriorityMode)), actions=st.lists(ACTIONS, min_size=1, max_size=40))
def test_a_submitted_caucus_ignores_every_answering_action(
    mode: PriorityMode, actions: list[tuple[str, Action]],
) -> None:
    """After submission no tap or text changes the step or an answer; share levels only become more private."""
    conversation = _submitted(mode)
    assert conversation.step is CaucusStep.SUBMITTED
    frozen = _content(conversation.answers)
    for _name, action in actions:
        before = copy.deepcopy(conversation.answers)
        with contextlib.suppress(FlowError):
            action(conversation)
        assert conversation.step is CaucusStep.SUBMITTED
        assert _content(conversation.answers) == frozen
        assert _only_more_private(before, conversation.answers)


@given(round_action=ROUND_ACTIONS)
def test_withdrawal_and_a_new_round_do_move_a_submitted_caucus(round_action: tuple[str, Action]) -> None:
    """The two ways out of a submission work: withdrawal, and a new round (closing a round does not)."""
    name, action = round_action
    conversation = _submitted(PriorityMode.RANKING)
    action(conversation)
    expected = {"withdraw": CaucusStep.WITHDRAWN, "new_round": CaucusStep.POSITION,
                "close_round": CaucusStep.SUBMITTED}[name]
    assert conversation.step is expected
