"""The grievance flow, references, statuses, counts and groups: pure domain rules."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.errors import InvalidInput, StepMismatch
from flows.grievance import (
    DEFAULT_CATEGORIES,
    MAX_DESCRIPTION_CHARS,
    REFERENCE_ALPHABET,
    Grievance,
    GrievanceContent,
    GrievanceConversation,
    Urgency,
    count_grievances,
    group_similar,
    new_reference,
    next_status,
    normalize_reference,
    triage_order,
)
from flows.machines import GrievanceStatus, GrievanceStep
from flows.matching import CharNgramMatcher

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _conversation(regions: tuple[str, ...] = ()) -> GrievanceConversation:
    return GrievanceConversation(GrievanceStep.LANGUAGE, GrievanceContent(), DEFAULT_CATEGORIES, regions)


def _to_review(conversation: GrievanceConversation) -> None:
    conversation.choose_language()
    conversation.stay_anonymous()
    conversation.choose_category("water")
    conversation.give_region("Lakeside")
    conversation.add_description("The pump is broken")
    conversation.finish_description()
    conversation.give_groups(None)
    conversation.choose_urgency(Urgency.URGENT)
    conversation.give_remedy(None)


def test_references_are_unambiguous_and_unguessable() -> None:
    references = {new_reference() for _ in range(20_000)}
    assert len(references) == 20_000
    for reference in list(references)[:500]:
        assert len(reference) == 14
        assert reference[4] == reference[9] == "-"
        assert set(reference.replace("-", "")) <= set(REFERENCE_ALPHABET)
    assert not set("01OIL") & set(REFERENCE_ALPHABET)
    assert len(REFERENCE_ALPHABET) ** 12 > 2**58


@pytest.mark.parametrize(("typed", "expected"), [
    ("k7qm-4xtp-9hrw", "K7QM-4XTP-9HRW"),
    (" K7QM 4XTP 9HRW ", "K7QM-4XTP-9HRW"),
    ("K7QM4XTP9HRW", "K7QM-4XTP-9HRW"),
    ("K7QM\u20114XTP\u20139HRW", "K7QM-4XTP-9HRW"),  # dashes a phone keyboard may type
    ("K0QM-4XTP-9HRW", None),  # 0 is never in a reference
    ("K7QM-4XTP-9HR", None),
    ("", None),
    ("DROP TABLE grievances", None),
])
def test_typed_references_are_normalised(typed: str, expected: str | None) -> None:
    assert normalize_reference(typed) == expected


def test_the_whole_flow_and_an_edit_from_the_review() -> None:
    conversation = _conversation(regions=("North", "South"))
    _to_review(conversation)
    assert conversation.step is GrievanceStep.REVIEW
    conversation.edit("region")
    conversation.choose_region(1)
    assert conversation.step is GrievanceStep.REVIEW
    assert conversation.content.region == "South"
    conversation.edit("identity")
    conversation.give_name_later()
    conversation.give_name("  Lake Women's Cooperative ")
    assert (conversation.step, conversation.content.anonymous) == (GrievanceStep.REVIEW, False)
    assert conversation.content.name == "Lake Women's Cooperative"
    conversation.edit("identity")
    conversation.stay_anonymous()
    assert (conversation.content.anonymous, conversation.content.name) == (True, None)
    conversation.submit()
    assert conversation.submitted


def test_the_description_combines_messages_up_to_its_limit() -> None:
    conversation = _conversation()
    for step in ("choose_language", "stay_anonymous"):
        getattr(conversation, step)()
    conversation.choose_category("land")
    conversation.give_region("Hills")
    with pytest.raises(InvalidInput, match="no_description"):
        conversation.finish_description()
    conversation.add_description("Our fields were fenced.")
    conversation.add_description("Since March.")
    assert conversation.content.description == "Our fields were fenced.\n\nSince March."
    before = conversation.content.description
    with pytest.raises(InvalidInput) as refused:
        conversation.add_description("x" * (MAX_DESCRIPTION_CHARS - 10))
    assert refused.value.reason == "description_full"
    assert conversation.content.description == before
    conversation.clear_description()
    assert conversation.content.description == ""
    assert conversation.step is GrievanceStep.DESCRIPTION


def test_choices_outside_the_deployments_lists_are_stale() -> None:
    conversation = _conversation(regions=("North",))
    conversation.choose_language()
    conversation.stay_anonymous()
    with pytest.raises(StepMismatch):
        conversation.choose_category("piracy")
    conversation.choose_category("land")
    with pytest.raises(StepMismatch):
        conversation.choose_region(5)
    assert conversation.step is GrievanceStep.REGION


ACTIONS = [
    ("choose_language", ()), ("stay_anonymous", ()), ("give_name_later", ()), ("give_name", ("Name",)),
    ("choose_category", ("land",)), ("give_region", ("Hills",)), ("choose_region", (0,)),
    ("add_description", ("Text",)), ("clear_description", ()), ("finish_description", ()),
    ("give_groups", (None,)), ("choose_urgency", (Urgency.DANGER,)), ("give_remedy", ("More",)),
    ("edit", ("description",)), ("edit", ("urgency",)), ("submit", ()), ("add_description", ("",)),
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ACTIONS), max_size=60))
def test_any_sequence_of_actions_keeps_a_declared_state(actions: list[tuple[str, tuple[object, ...]]]) -> None:
    """Whatever a person taps or types, the flow stays in a declared step; a refused action changes nothing;
    a report is only ever submitted complete."""
    conversation = _conversation(regions=("North",))
    for name, args in actions:
        before = (conversation.step, conversation.editing, conversation.content.to_json())
        try:
            getattr(conversation, name)(*args)
        except (InvalidInput, StepMismatch):
            assert (conversation.step, conversation.editing, conversation.content.to_json()) == before
        assert conversation.step in GrievanceStep
        if conversation.submitted:
            content = conversation.content
            assert content.category
            assert content.description
            assert content.urgency


def test_statuses_move_as_declared_and_closing_is_final() -> None:
    assert next_status(GrievanceStatus.RECEIVED, "review") is GrievanceStatus.UNDER_REVIEW
    assert next_status(GrievanceStatus.UNDER_REVIEW, "refer") is GrievanceStatus.REFERRED
    assert next_status(GrievanceStatus.REFERRED, "address") is GrievanceStatus.ADDRESSED
    assert next_status(GrievanceStatus.ADDRESSED, "close") is GrievanceStatus.CLOSED
    for action in ("review", "refer", "address", "close"):
        with pytest.raises(StepMismatch):
            next_status(GrievanceStatus.CLOSED, action)
    with pytest.raises(StepMismatch):
        next_status(GrievanceStatus.ADDRESSED, "refer")
    with pytest.raises(StepMismatch):
        next_status(GrievanceStatus.RECEIVED, "delete")


def _grievance(number: int, *, category: str = "water", region: str = "North", text: str = "text",
               urgency: Urgency = Urgency.ROUTINE, status: GrievanceStatus = GrievanceStatus.RECEIVED,
               language: str = "en") -> Grievance:
    at = NOW + timedelta(hours=number)
    content = GrievanceContent(category=category, region=region, description=text, urgency=urgency,
                               languages={"description": language})
    reference = "".join(string.ascii_uppercase[(number + k) % 26] for k in range(3)) + f"{number:09d}"
    return Grievance(str(number), reference, status, "en", content, at, at, at)


def test_triage_reads_the_open_most_urgent_and_newest_first() -> None:
    grievances = [
        _grievance(1, urgency=Urgency.ROUTINE), _grievance(2, urgency=Urgency.DANGER, status=GrievanceStatus.CLOSED),
        _grievance(3, urgency=Urgency.URGENT), _grievance(4, urgency=Urgency.ROUTINE),
        _grievance(5, urgency=Urgency.DANGER),
    ]
    assert [g.id for g in triage_order(grievances)] == ["5", "3", "4", "1", "2"]


def test_counts_by_every_dimension() -> None:
    counts = count_grievances([
        _grievance(1, category="land", region="North", language="fr"),
        _grievance(2, category="land", region="South", language="ar", urgency=Urgency.DANGER),
        _grievance(3, category="water", region="North", language="und"),  # undetected: the chosen language
    ])
    assert counts.total == 3
    assert counts.by_category == {"land": 2, "water": 1}
    assert counts.by_region == {"North": 2, "South": 1}
    assert counts.by_language == {"fr": 1, "ar": 1, "en": 1}
    assert counts.by_urgency == {Urgency.ROUTINE: 2, Urgency.DANGER: 1}
    assert counts.by_status == {GrievanceStatus.RECEIVED: 3}


def test_similar_reports_of_a_category_form_groups() -> None:
    pump = "The water pump of the village is broken and nobody repairs the water pump"
    grievances = [
        _grievance(1, text=pump), _grievance(2, text=pump + " since March", region="South"),
        _grievance(3, text="Soldiers took goods from traders at the checkpoint"),
        _grievance(4, text=pump, category="land"),  # another category: never with the others
    ]
    groups = group_similar(grievances, CharNgramMatcher())
    assert [[g.id for g in group] for group in groups] == [["1", "2"]]
    by_place = group_similar(grievances, None)
    assert [[g.id for g in group] for group in by_place] == [["1", "3"]]
