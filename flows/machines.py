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
    "CASE_MACHINE",
    "CASE_TRANSITIONS",
    "CAUCUS_MACHINE",
    "CAUCUS_TRANSITIONS",
    "CaseStage",
    "CaucusStep",
    "FlowMachine",
]


class CaseStage(enum.Enum):
    """The mediator's view of a case, from its draft to its close (DESIGN.md §2)."""

    DRAFT_TITLE = "draft_title"
    DRAFT_ISSUES = "draft_issues"
    DRAFT_PARTIES = "draft_parties"
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
    RANKING = "ranking"
    REVIEW = "review"
    CONFIRM = "confirm"
    SUBMITTED = "submitted"


Transition = Mapping[str, Any]

_C = CaseStage
CASE_TRANSITIONS: Sequence[Transition] = (
    {"trigger": "name_case", "source": _C.DRAFT_TITLE, "dest": _C.DRAFT_ISSUES},
    {"trigger": "add_issue", "source": _C.DRAFT_ISSUES, "dest": None, "conditions": "below_issue_limit"},
    {"trigger": "finish_issues", "source": _C.DRAFT_ISSUES, "dest": _C.DRAFT_PARTIES,
     "conditions": "has_enough_issues"},
    {"trigger": "add_party", "source": _C.DRAFT_PARTIES, "dest": None, "conditions": "below_party_limit"},
    {"trigger": "finish_parties", "source": _C.DRAFT_PARTIES, "dest": _C.INVITING,
     "conditions": "has_enough_parties"},
    {"trigger": "party_joined", "source": _C.INVITING, "dest": _C.CAUCUS},
    {"trigger": "party_joined", "source": _C.CAUCUS, "dest": None},
    {"trigger": "all_submitted", "source": _C.CAUCUS, "dest": _C.JOINT},
    {"trigger": "start_round", "source": _C.JOINT, "dest": _C.CAUCUS},
    {"trigger": "record_agreement", "source": _C.JOINT, "dest": _C.AGREEMENT},
    {"trigger": "start_monitoring", "source": _C.AGREEMENT, "dest": _C.MONITORING},
    {"trigger": "close", "source": [_C.INVITING, _C.CAUCUS, _C.JOINT, _C.AGREEMENT, _C.MONITORING],
     "dest": _C.CLOSED},
)

_P = CaucusStep
CAUCUS_TRANSITIONS: Sequence[Transition] = (
    {"trigger": "join", "source": _P.INVITED, "dest": _P.LANGUAGE},
    {"trigger": "choose_language", "source": _P.LANGUAGE, "dest": _P.CONSENT},
    {"trigger": "consent", "source": _P.CONSENT, "dest": _P.POSITION, "before": "start_first_issue"},
    {"trigger": "decline", "source": _P.CONSENT, "dest": _P.DECLINED},
    {"trigger": "reconsider", "source": _P.DECLINED, "dest": _P.CONSENT},
    {"trigger": "give_position", "source": _P.POSITION, "dest": _P.INTEREST_CATEGORIES},
    {"trigger": "choose_category", "source": _P.INTEREST_CATEGORIES, "dest": None},
    {"trigger": "confirm_categories", "source": _P.INTEREST_CATEGORIES, "dest": _P.INTEREST_WORDS,
     "conditions": "has_categories"},
    {"trigger": "give_interest_words", "source": _P.INTEREST_WORDS, "dest": _P.POSITION,
     "conditions": "has_more_issues", "before": "start_next_issue"},
    {"trigger": "give_interest_words", "source": _P.INTEREST_WORDS, "dest": _P.RANKING,
     "unless": "has_more_issues"},
    {"trigger": "rank_issue", "source": _P.RANKING, "dest": None, "unless": "ranking_complete"},
    {"trigger": "restart_ranking", "source": _P.RANKING, "dest": None},
    {"trigger": "finish_ranking", "source": _P.RANKING, "dest": _P.REVIEW, "conditions": "ranking_complete"},
    {"trigger": "set_share_level", "source": _P.REVIEW, "dest": None},
    {"trigger": "request_submit", "source": _P.REVIEW, "dest": _P.CONFIRM},
    {"trigger": "back_to_review", "source": _P.CONFIRM, "dest": _P.REVIEW},
    {"trigger": "submit", "source": _P.CONFIRM, "dest": _P.SUBMITTED},
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
        machine.add_model(model, initial=model.state)
        try:
            return bool(machine.events[trigger].trigger(model))
        except (MachineError, KeyError) as error:
            raise StepMismatch(f"{trigger} is not possible at {model.state.name}") from error
        finally:
            machine.remove_model(model)

    def triggers(self) -> set[str]:
        return {t["trigger"] for t in self.transitions}

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
