"""The mediator sets up a case: its name, its issues, its parties (the draft part of the case flow)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flows.errors import InvalidInput, StepMismatch
from flows.machines import CASE_MACHINE, CaseStage
from flows.text import MAX_LABEL_CHARS, MAX_TITLE_CHARS, clean_line

__all__ = ["MAX_ISSUES", "MAX_PARTIES", "MIN_ISSUES", "MIN_PARTIES", "CaseDraft"]

MIN_ISSUES = 2
MAX_ISSUES = 12
MIN_PARTIES = 2
MAX_PARTIES = 10


class _StageModel:
    def __init__(self, draft: CaseDraft) -> None:
        self.state = draft.stage
        self._draft = draft

    def below_issue_limit(self) -> bool:
        return len(self._draft.issues) < MAX_ISSUES

    def has_enough_issues(self) -> bool:
        return len(self._draft.issues) >= MIN_ISSUES

    def below_party_limit(self) -> bool:
        return len(self._draft.parties) < MAX_PARTIES

    def has_enough_parties(self) -> bool:
        return len(self._draft.parties) >= MIN_PARTIES


@dataclass
class CaseDraft:
    """A case as the mediator builds it; ``added`` names what is new since loading."""

    stage: CaseStage
    title: str = ""
    issues: list[str] = field(default_factory=list)
    parties: list[str] = field(default_factory=list)

    def fire(self, trigger: str) -> bool:
        """Move the case machine (also used for the stages after the draft)."""
        model = _StageModel(self)
        accepted = CASE_MACHINE.fire(model, trigger)
        self.stage = CaseStage(model.state)
        return accepted

    def name_case(self, raw: str) -> None:
        if self.stage is not CaseStage.DRAFT_TITLE:
            raise StepMismatch("the case is already named")
        self.title = clean_line(raw, max_chars=MAX_TITLE_CHARS)
        self.fire("name_case")

    def add_issue(self, raw: str) -> str:
        if self.stage is not CaseStage.DRAFT_ISSUES:
            raise StepMismatch("not adding issues")
        title = clean_line(raw, max_chars=MAX_TITLE_CHARS)
        if title.casefold() in {issue.casefold() for issue in self.issues}:
            raise InvalidInput("duplicate")
        if not self.fire("add_issue"):
            raise InvalidInput("too_many_issues", limit=MAX_ISSUES)
        self.issues.append(title)
        return title

    def finish_issues(self) -> None:
        if not self.fire("finish_issues"):
            raise InvalidInput("too_few_issues", limit=MIN_ISSUES)

    def add_party(self, raw: str) -> str:
        if self.stage is not CaseStage.DRAFT_PARTIES:
            raise StepMismatch("not adding parties")
        label = clean_line(raw, max_chars=MAX_LABEL_CHARS)
        if label.casefold() in {party.casefold() for party in self.parties}:
            raise InvalidInput("duplicate")
        if not self.fire("add_party"):
            raise InvalidInput("too_many_parties", limit=MAX_PARTIES)
        self.parties.append(label)
        return label

    def finish_parties(self) -> None:
        if not self.fire("finish_parties"):
            raise InvalidInput("too_few_parties", limit=MIN_PARTIES)
