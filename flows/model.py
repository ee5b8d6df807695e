"""The mediation domain model: plain data, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class ShareLevel(enum.StrEnum):
    """Who may read a caucus item (DESIGN.md §4), from most to least protective."""

    PRIVATE = "private"
    MEDIATOR = "mediator"
    JOINT = "joint"

    @property
    def mediator_may_read(self) -> bool:
        return self is not ShareLevel.PRIVATE


class InterestCategory(enum.StrEnum):
    """The fixed interest taxonomy (DESIGN.md §2)."""

    SECURITY = "security"
    LIVELIHOOD = "livelihood"
    LAND = "land"
    IDENTITY = "identity"
    DIGNITY = "dignity"
    PARTICIPATION = "participation"
    JUSTICE = "justice"
    CULTURE = "culture"
    RELATIONSHIPS = "relationships"
    OTHER = "other"


class ItemKind(enum.StrEnum):
    """Kinds of caucus answers a party gives."""

    POSITION = "position"
    INTERESTS = "interests"
    RANKING = "ranking"


DEFAULT_SHARE = {
    ItemKind.POSITION: ShareLevel.MEDIATOR,
    ItemKind.INTERESTS: ShareLevel.MEDIATOR,
    ItemKind.RANKING: ShareLevel.MEDIATOR,
}


@dataclass(frozen=True)
class Issue:
    """Something negotiated in a case."""

    id: str
    title: str


@dataclass(frozen=True)
class ItemKey:
    """Identifies one caucus item of a party: a kind and, for per-issue items, the issue."""

    kind: ItemKind
    issue_id: str = ""


@dataclass
class Interests:
    """Why a party holds its position: categories from the taxonomy plus its own words."""

    categories: list[InterestCategory] = field(default_factory=list)
    words: str = ""


@dataclass
class CaucusAnswers:
    """Everything one party answered in one round, with the share level of each item."""

    positions: dict[str, str] = field(default_factory=dict)
    interests: dict[str, Interests] = field(default_factory=dict)
    ranking: list[str] = field(default_factory=list)
    share: dict[ItemKey, ShareLevel] = field(default_factory=dict)

    def share_level(self, key: ItemKey) -> ShareLevel:
        return self.share.get(key, DEFAULT_SHARE[key.kind])

    def items(self, issues: list[Issue]) -> list[ItemKey]:
        """The items this party has answered, in the order the review screen shows them."""
        keys: list[ItemKey] = []
        for issue in issues:
            if issue.id in self.positions:
                keys.append(ItemKey(ItemKind.POSITION, issue.id))
            if issue.id in self.interests:
                keys.append(ItemKey(ItemKind.INTERESTS, issue.id))
        if self.ranking:
            keys.append(ItemKey(ItemKind.RANKING))
        return keys


@dataclass(frozen=True)
class PartyView:
    """A party as the mediator sees it: its label and its answers (already decrypted)."""

    seat_id: str
    label: str
    answers: CaucusAnswers


@dataclass(frozen=True)
class CaseInfo:
    """A case as listed to its mediator (title decrypted)."""

    id: str
    short_id: str
    title: str
    stage: str
    round: int


@dataclass(frozen=True)
class SeatStatus:
    """Progress of one party seat: never content."""

    seat_id: str
    label: str
    step: str
    joined: bool
    submitted: bool
    last_activity: datetime | None
