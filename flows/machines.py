"""The conversation state machines, declared as data.

Each machine is built once; a conversation's model is attached only for the length of one
trigger (``add_model`` → trigger → ``remove_model``), so any process can serve any
conversation and nothing stays attached between updates (DESIGN.md §3, §9).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transitions import Machine, MachineError

from flows.errors import StepMismatch

__all__ = [
    "AGREEMENT_MACHINE",
    "AGREEMENT_TRANSITIONS",
    "ANSWERING_STEPS",
    "CASE_MACHINE",
    "CASE_TRANSITIONS",
    "CAUCUS_MACHINE",
    "CAUCUS_TRANSITIONS",
    "COMMITMENT_MACHINE",
    "COMMITMENT_TRANSITIONS",
    "EDIT_STEPS",
    "GRIEVANCE_EDIT_STEPS",
    "GRIEVANCE_MACHINE",
    "GRIEVANCE_STATUS_MACHINE",
    "GRIEVANCE_STATUS_TRANSITIONS",
    "GRIEVANCE_TRANSITIONS",
    "OPTIONAL_STEPS",
    "RESPONSE_MACHINE",
    "RESPONSE_TRANSITIONS",
    "AgreementStatus",
    "CaseStage",
    "CaucusStep",
    "CommitmentStatus",
    "FlowMachine",
    "GrievanceStatus",
    "GrievanceStep",
    "ResponseStatus",
]


class CaseStage(enum.Enum):
    """The mediator's view of a case, from its draft to its close (DESIGN.md §2)."""

    DRAFT_TITLE = "draft_title"
    DRAFT_ISSUES = "draft_issues"
    DRAFT_PARTIES = "draft_parties"
    DRAFT_DETAILS = "draft_details"
    INVITING = "inviting"
    CAUCUS = "caucus"
    JOINT = "joint"
    AGREEMENT = "agreement"
    MONITORING = "monitoring"
    CLOSED = "closed"


class CaucusStep(enum.Enum):
    """Where one party is in its private caucus."""

    INVITED = "invited"
    LANGUAGE = "language"
    CONSENT = "consent"
    DECLINED = "declined"
    POSITION = "position"
    INTEREST_CATEGORIES = "interest_categories"
    INTEREST_WORDS = "interest_words"
    RANGE_LOW = "range_low"
    RANGE_HIGH = "range_high"
    RANGE_HOPE = "range_hope"
    RATING = "rating"
    SUGGEST_OPTION = "suggest_option"
    RANKING = "ranking"
    POINTS = "points"
    CBM_NEEDS = "cbm_needs"
    CBM_OFFER = "cbm_offer"
    CONSTITUENTS = "constituents"
    ALTERNATIVE = "alternative"
    REVIEW = "review"
    CONFIRM = "confirm"
    SUBMITTED = "submitted"
    WAITING = "waiting"
    WITHDRAWN = "withdrawn"


class GrievanceStep(enum.Enum):
    """Where a person filing a grievance is, from the language to the receipt."""

    LANGUAGE = "language"
    IDENTITY = "identity"
    NAME = "name"
    CATEGORY = "category"
    REGION = "region"
    DESCRIPTION = "description"
    GROUPS = "groups"
    URGENCY = "urgency"
    REMEDY = "remedy"
    REVIEW = "review"
    SUBMITTED = "submitted"


class GrievanceStatus(enum.Enum):
    """A submitted grievance as the triage team handles it (DESIGN.md §2)."""

    RECEIVED = "received"
    UNDER_REVIEW = "under_review"
    REFERRED = "referred"
    ADDRESSED = "addressed"
    CLOSED = "closed"


class AgreementStatus(enum.Enum):
    """An agreement, from the mediator's draft to the parties' confirmation of its current version."""

    DRAFT = "draft"  # being written (or revised): no party has this version yet
    CIRCULATING = "circulating"  # with the parties, waiting for their answers
    CONFIRMED = "confirmed"  # every party confirmed the current version
    ABANDONED = "abandoned"  # dropped by the mediator before it was confirmed


class ResponseStatus(enum.Enum):
    """One party's answer to one version of an agreement."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    CHANGE_REQUESTED = "change_requested"
    DECLINED = "declined"


class CommitmentStatus(enum.Enum):
    """A commitment at a glance: its deadline, its owner's latest report, the other parties' verdicts."""

    OPEN = "open"  # the deadline is ahead and nothing is reported yet
    OVERDUE = "overdue"  # the deadline passed with no report
    DONE = "done"
    PARTLY = "partly"
    NOT_DONE = "not_done"
    DISPUTED = "disputed"  # a party disputed the owner's latest report
    VERIFIED = "verified"  # every other party confirmed a report of the work done


Transition = Mapping[str, Any]

_C = CaseStage
CASE_TRANSITIONS: Sequence[Transition] = (
    {"trigger": "name_case", "source": _C.DRAFT_TITLE, "dest": _C.DRAFT_ISSUES},
    {"trigger": "add_issue", "source": _C.DRAFT_ISSUES, "dest": None, "conditions": "below_issue_limit"},
    {"trigger": "finish_issues", "source": _C.DRAFT_ISSUES, "dest": _C.DRAFT_PARTIES,
     "conditions": "has_enough_issues"},
    {"trigger": "add_party", "source": _C.DRAFT_PARTIES, "dest": None, "conditions": "below_party_limit"},
    {"trigger": "finish_parties", "source": _C.DRAFT_PARTIES, "dest": _C.DRAFT_DETAILS,
     "conditions": "has_enough_parties"},
    {"trigger": "open_invitations", "source": _C.DRAFT_DETAILS, "dest": _C.INVITING},
    {"trigger": "party_joined", "source": _C.INVITING, "dest": _C.CAUCUS},
    {"trigger": "party_joined", "source": [_C.CAUCUS, _C.JOINT, _C.AGREEMENT, _C.MONITORING], "dest": None},
    {"trigger": "all_submitted", "source": _C.CAUCUS, "dest": _C.JOINT},
    # Partial agreements accumulate: another round can follow an agreement, and its commitments run meanwhile.
    {"trigger": "start_round", "source": [_C.JOINT, _C.AGREEMENT, _C.MONITORING], "dest": _C.CAUCUS},
    {"trigger": "record_agreement", "source": _C.JOINT, "dest": _C.AGREEMENT},
    {"trigger": "record_agreement", "source": [_C.CAUCUS, _C.AGREEMENT, _C.MONITORING], "dest": None},
    {"trigger": "start_monitoring", "source": _C.AGREEMENT, "dest": _C.MONITORING},
    {"trigger": "start_monitoring", "source": [_C.CAUCUS, _C.JOINT, _C.MONITORING], "dest": None},
    {"trigger": "close_round", "source": _C.CAUCUS, "dest": _C.JOINT},
    {"trigger": "close", "source": [_C.INVITING, _C.CAUCUS, _C.JOINT, _C.AGREEMENT, _C.MONITORING],
     "dest": _C.CLOSED},
)

_P = CaucusStep
# The optional questions after the priorities, each answered or skipped, in order.
OPTIONAL_STEPS = (_P.CBM_NEEDS, _P.CBM_OFFER, _P.CONSTITUENTS, _P.ALTERNATIVE)
# Steps at which the party is answering (a closed round sends them to WAITING).
ANSWERING_STEPS = (
    _P.POSITION, _P.INTEREST_CATEGORIES, _P.INTEREST_WORDS, _P.RANGE_LOW, _P.RANGE_HIGH, _P.RANGE_HOPE,
    _P.RATING, _P.SUGGEST_OPTION, _P.RANKING, _P.POINTS, *OPTIONAL_STEPS, _P.REVIEW, _P.CONFIRM,
)
# Where the review screen's "edit" of an item starts; editing returns to the review when that item is done.
EDIT_STEPS = {
    "position": _P.POSITION,
    "interests": _P.INTEREST_CATEGORIES,
    "range": _P.RANGE_LOW,
    "ratings": _P.RATING,
    "ranking": _P.RANKING,
    "points": _P.POINTS,
    "cbm_needs": _P.CBM_NEEDS,
    "cbm_offer": _P.CBM_OFFER,
    "constituents": _P.CONSTITUENTS,
    "alternative": _P.ALTERNATIVE,
}


def _back_to_review(trigger: str, source: CaucusStep) -> Transition:
    """While editing from the review screen, finishing the item returns to the review."""
    return {"trigger": trigger, "source": source, "dest": _P.REVIEW, "conditions": "editing", "after": "stop_editing"}


def _after_issue(trigger: str, source: CaucusStep) -> list[Transition]:
    """Where a party goes once an issue is answered: the next issue, else the priorities."""
    return [
        _back_to_review(trigger, source),
        {"trigger": trigger, "source": source, "dest": _P.POSITION, "conditions": "has_more_issues",
         "before": "start_next_issue"},
        {"trigger": trigger, "source": source, "dest": _P.POINTS, "conditions": "points_mode",
         "before": "start_priorities"},
        {"trigger": trigger, "source": source, "dest": _P.RANKING, "before": "start_priorities"},
    ]


CAUCUS_TRANSITIONS: Sequence[Transition] = (
    {"trigger": "join", "source": _P.INVITED, "dest": _P.LANGUAGE},
    {"trigger": "choose_language", "source": _P.LANGUAGE, "dest": _P.CONSENT},
    {"trigger": "consent", "source": _P.CONSENT, "dest": _P.POSITION, "conditions": "round_open",
     "before": "start_first_issue"},
    {"trigger": "consent", "source": _P.CONSENT, "dest": _P.WAITING},
    {"trigger": "decline", "source": _P.CONSENT, "dest": _P.DECLINED},
    {"trigger": "reconsider", "source": _P.DECLINED, "dest": _P.CONSENT},
    # One issue: position, interests, the range if quantitative, the option ratings.
    _back_to_review("give_position", _P.POSITION),
    {"trigger": "give_position", "source": _P.POSITION, "dest": _P.INTEREST_CATEGORIES},
    {"trigger": "choose_category", "source": _P.INTEREST_CATEGORIES, "dest": None},
    {"trigger": "confirm_categories", "source": _P.INTEREST_CATEGORIES, "dest": _P.INTEREST_WORDS,
     "conditions": "has_categories"},
    _back_to_review("give_interest_words", _P.INTEREST_WORDS),
    {"trigger": "give_interest_words", "source": _P.INTEREST_WORDS, "dest": _P.RANGE_LOW,
     "conditions": "is_quantitative"},
    {"trigger": "give_interest_words", "source": _P.INTEREST_WORDS, "dest": _P.RATING, "before": "start_options"},
    {"trigger": "give_low", "source": _P.RANGE_LOW, "dest": _P.RANGE_HIGH},
    {"trigger": "give_high", "source": _P.RANGE_HIGH, "dest": _P.RANGE_HOPE},
    _back_to_review("give_hope", _P.RANGE_HOPE),
    {"trigger": "give_hope", "source": _P.RANGE_HOPE, "dest": _P.RATING, "before": "start_options"},
    {"trigger": "rate_option", "source": _P.RATING, "dest": None, "conditions": "has_more_options",
     "after": "next_option"},
    *_after_issue("rate_option", _P.RATING),
    *_after_issue("skip_options", _P.RATING),
    {"trigger": "suggest_option", "source": _P.RATING, "dest": _P.SUGGEST_OPTION},
    {"trigger": "give_suggestion", "source": _P.SUGGEST_OPTION, "dest": _P.RATING},
    {"trigger": "cancel_suggestion", "source": _P.SUGGEST_OPTION, "dest": _P.RATING},
    # Priorities: a ranking or 100 points, as the mediator chose for the case.
    {"trigger": "rank_issue", "source": _P.RANKING, "dest": None, "unless": "priorities_complete"},
    {"trigger": "restart_priorities", "source": [_P.RANKING, _P.POINTS], "dest": None, "before": "start_priorities"},
    {"trigger": "give_points", "source": _P.POINTS, "dest": None, "unless": "priorities_complete",
     "after": "next_points_issue"},
    _back_to_review("finish_priorities", _P.RANKING),
    _back_to_review("finish_priorities", _P.POINTS),
    {"trigger": "finish_priorities", "source": [_P.RANKING, _P.POINTS], "dest": _P.CBM_NEEDS,
     "conditions": "priorities_complete"},
    # The optional questions: answered or skipped alike move on.
    *(transition
      for source, dest in zip(OPTIONAL_STEPS, (*OPTIONAL_STEPS[1:], _P.REVIEW), strict=True)
      for transition in (_back_to_review("answer_optional", source),
                         {"trigger": "answer_optional", "source": source, "dest": dest})),
    # The review screen: share levels, editing any item, submission with confirmation.
    {"trigger": "set_share_level", "source": _P.REVIEW, "dest": None},
    *({"trigger": f"edit_{kind}", "source": _P.REVIEW, "dest": step, "before": "start_editing"}
      for kind, step in EDIT_STEPS.items()),
    # An option the mediator added after the party passed its issue is rated before submitting.
    *({"trigger": trigger, "source": source, "dest": _P.RATING, "unless": "all_rated",
       "before": "start_missing_ratings"} for trigger, source in (("request_submit", _P.REVIEW),
                                                                   ("submit", _P.CONFIRM))),
    {"trigger": "request_submit", "source": _P.REVIEW, "dest": _P.CONFIRM},
    {"trigger": "back_to_review", "source": _P.CONFIRM, "dest": _P.REVIEW},
    {"trigger": "submit", "source": _P.CONFIRM, "dest": _P.SUBMITTED},
    # After submission, until the joint session, an item can only be made more private (DESIGN.md §4).
    {"trigger": "make_more_private", "source": _P.SUBMITTED, "dest": None},
    # Rounds and withdrawal: the only ways a submitted caucus changes.
    {"trigger": "close_round", "source": list(ANSWERING_STEPS), "dest": _P.WAITING, "after": "stop_editing"},
    {"trigger": "new_round", "source": [*ANSWERING_STEPS, _P.SUBMITTED, _P.WAITING], "dest": _P.POSITION,
     "before": "start_first_issue"},
    # The mediator changed the questions while nobody had submitted: answering parties start over, pre-filled.
    {"trigger": "restart_answers", "source": list(ANSWERING_STEPS), "dest": _P.POSITION, "before": "start_first_issue"},
    {"trigger": "withdraw", "source": [step for step in _P if step is not _P.WITHDRAWN], "dest": _P.WITHDRAWN,
     "after": "stop_editing"},
    {"trigger": "reinvite", "source": _P.WITHDRAWN, "dest": _P.INVITED},
)


_G = GrievanceStep
# Where the review screen's "change" of a grievance item starts; finishing it returns to the review.
GRIEVANCE_EDIT_STEPS = {
    "identity": _G.IDENTITY,
    "category": _G.CATEGORY,
    "region": _G.REGION,
    "description": _G.DESCRIPTION,
    "groups": _G.GROUPS,
    "urgency": _G.URGENCY,
    "remedy": _G.REMEDY,
}


def _grievance_step(trigger: str, source: GrievanceStep, dest: GrievanceStep, guard: str = "") -> list[Transition]:
    """A step of the grievance flow: back to the review while editing from it, else on to ``dest``."""
    guards = [guard] if guard else []
    return [
        {"trigger": trigger, "source": source, "dest": _G.REVIEW, "conditions": ["editing", *guards],
         "after": "stop_editing"},
        {"trigger": trigger, "source": source, "dest": dest, "conditions": guards},
    ]


GRIEVANCE_TRANSITIONS: Sequence[Transition] = (
    {"trigger": "choose_language", "source": _G.LANGUAGE, "dest": _G.IDENTITY},
    *_grievance_step("stay_anonymous", _G.IDENTITY, _G.CATEGORY),
    {"trigger": "give_name_later", "source": _G.IDENTITY, "dest": _G.NAME},
    *_grievance_step("give_name", _G.NAME, _G.CATEGORY),
    *_grievance_step("choose_category", _G.CATEGORY, _G.REGION),
    *_grievance_step("give_region", _G.REGION, _G.DESCRIPTION),
    # The description can take several messages: each adds to it until the person taps Done.
    {"trigger": "add_description", "source": _G.DESCRIPTION, "dest": None},
    {"trigger": "clear_description", "source": _G.DESCRIPTION, "dest": None},
    *_grievance_step("finish_description", _G.DESCRIPTION, _G.GROUPS, "has_description"),
    *_grievance_step("give_groups", _G.GROUPS, _G.URGENCY),
    *_grievance_step("choose_urgency", _G.URGENCY, _G.REMEDY),
    {"trigger": "give_remedy", "source": _G.REMEDY, "dest": _G.REVIEW, "after": "stop_editing"},
    *({"trigger": f"edit_{item}", "source": _G.REVIEW, "dest": step, "before": "start_editing"}
      for item, step in GRIEVANCE_EDIT_STEPS.items()),
    {"trigger": "submit", "source": _G.REVIEW, "dest": _G.SUBMITTED},
)

_S = GrievanceStatus
GRIEVANCE_STATUS_TRANSITIONS: Sequence[Transition] = (
    {"trigger": "review", "source": [_S.RECEIVED, _S.REFERRED, _S.ADDRESSED], "dest": _S.UNDER_REVIEW},
    {"trigger": "refer", "source": [_S.RECEIVED, _S.UNDER_REVIEW], "dest": _S.REFERRED},
    {"trigger": "address", "source": [_S.RECEIVED, _S.UNDER_REVIEW, _S.REFERRED], "dest": _S.ADDRESSED},
    # Closing is final: an anonymous submitter's chat is destroyed with it, so nobody could be told of a reopening.
    {"trigger": "close", "source": [_S.RECEIVED, _S.UNDER_REVIEW, _S.REFERRED, _S.ADDRESSED], "dest": _S.CLOSED},
)


_A = AgreementStatus
AGREEMENT_TRANSITIONS: Sequence[Transition] = (
    {"trigger": "circulate", "source": _A.DRAFT, "dest": _A.CIRCULATING},
    {"trigger": "all_confirmed", "source": _A.CIRCULATING, "dest": _A.CONFIRMED},
    # A changed text is a new version, a draft again until it is sent; every party confirms it anew. A confirmed
    # agreement stands, and its commitments are followed: a later change is a new agreement.
    {"trigger": "revise", "source": _A.CIRCULATING, "dest": _A.DRAFT},
    {"trigger": "abandon", "source": [_A.DRAFT, _A.CIRCULATING], "dest": _A.ABANDONED},
)

_R = ResponseStatus
RESPONSE_TRANSITIONS: Sequence[Transition] = (
    # A confirmation is final for its version; a request for a change or a refusal can be reconsidered.
    {"trigger": "confirm", "source": [_R.PENDING, _R.CHANGE_REQUESTED, _R.DECLINED], "dest": _R.CONFIRMED},
    {"trigger": "request_change", "source": [_R.PENDING, _R.CHANGE_REQUESTED, _R.DECLINED],
     "dest": _R.CHANGE_REQUESTED},
    {"trigger": "decline", "source": [_R.PENDING, _R.CHANGE_REQUESTED], "dest": _R.DECLINED},
)

_K = CommitmentStatus
_REPORTABLE = [_K.OPEN, _K.OVERDUE, _K.DONE, _K.PARTLY, _K.NOT_DONE, _K.DISPUTED]
COMMITMENT_TRANSITIONS: Sequence[Transition] = (
    {"trigger": "pass_deadline", "source": _K.OPEN, "dest": _K.OVERDUE},
    {"trigger": "report_done", "source": _REPORTABLE, "dest": _K.DONE},
    {"trigger": "report_partly", "source": _REPORTABLE, "dest": _K.PARTLY},
    {"trigger": "report_not_done", "source": _REPORTABLE, "dest": _K.NOT_DONE},
    {"trigger": "dispute", "source": [_K.DONE, _K.PARTLY, _K.NOT_DONE, _K.DISPUTED], "dest": _K.DISPUTED},
    {"trigger": "verify", "source": _K.DONE, "dest": _K.VERIFIED},
)


@dataclass(frozen=True)
class FlowMachine:
    """One shared `transitions` machine for every conversation of a kind."""

    name: str
    states: type[enum.Enum]
    transitions: Sequence[Transition]

    def __post_init__(self) -> None:
        machine = Machine(
            model=None,
            states=self.states,
            transitions=[dict(t) for t in self.transitions],
            initial=next(iter(self.states)),
            auto_transitions=False,
        )
        object.__setattr__(self, "_machine", machine)

    def fire(self, model: Any, trigger: str) -> bool:
        """Fire ``trigger`` on ``model``; False when a guard refused, StepMismatch when not allowed here."""
        machine: Machine = object.__getattribute__(self, "_machine")
        # The event is fired for the model directly: `transitions` reads and sets ``model.state`` and calls the
        # model's guards and callbacks by name, so the model need not be added to the machine (which would bind a
        # method per trigger and per state to it, and unbind them after: most of the cost of a step).
        try:
            return bool(machine.events[trigger].trigger(model))
        except (MachineError, KeyError) as error:
            raise StepMismatch(f"{trigger} is not possible at {model.state.name}") from error

    def triggers(self) -> set[str]:
        return {t["trigger"] for t in self.transitions}

    def sources(self, trigger: str) -> set[enum.Enum]:
        """The states from which ``trigger`` may fire (whatever its guards say)."""
        found: set[enum.Enum] = set()
        for transition in self.transitions:
            if transition["trigger"] == trigger:
                source = transition["source"]
                found |= set(source) if isinstance(source, list | tuple) else {source}
        return found

    def mermaid(self) -> str:
        """A Mermaid state diagram drawn by the transitions library from the same declaration."""
        from transitions.extensions import GraphMachine  # noqa: PLC0415 - only for documentation

        class _Drawing:
            """A model for the drawing only; GraphMachine needs one to draw."""

        drawing = _Drawing()
        GraphMachine(
            model=drawing,
            states=self.states,
            transitions=[dict(t) for t in self.transitions],
            initial=next(iter(self.states)),
            auto_transitions=False,
            graph_engine="mermaid",
            show_conditions=True,
            title=self.name,
        )
        text: str = drawing.get_graph().draw(None)  # type: ignore[attr-defined]
        return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


CASE_MACHINE = FlowMachine("Case flow", CaseStage, CASE_TRANSITIONS)
CAUCUS_MACHINE = FlowMachine("Caucus flow", CaucusStep, CAUCUS_TRANSITIONS)
GRIEVANCE_MACHINE = FlowMachine("Grievance flow", GrievanceStep, GRIEVANCE_TRANSITIONS)
GRIEVANCE_STATUS_MACHINE = FlowMachine("Grievance status", GrievanceStatus, GRIEVANCE_STATUS_TRANSITIONS)
AGREEMENT_MACHINE = FlowMachine("Agreement flow", AgreementStatus, AGREEMENT_TRANSITIONS)
RESPONSE_MACHINE = FlowMachine("Agreement confirmation", ResponseStatus, RESPONSE_TRANSITIONS)
COMMITMENT_MACHINE = FlowMachine("Commitment follow-up", CommitmentStatus, COMMITMENT_TRANSITIONS)
