"""The mediation domain model: plain data, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from flows.machines import CaucusStep


class ShareLevel(enum.StrEnum):
    """Who may read a caucus item (DESIGN.md §4), from most to least protective."""

    PRIVATE = "private"
    MEDIATOR = "mediator"
    JOINT = "joint"

    @property
    def mediator_may_read(self) -> bool:
        return self is not ShareLevel.PRIVATE

    def protects_more_than(self, other: ShareLevel) -> bool:
        """Whether this level lets fewer people read an item than ``other`` does."""
        order = list(ShareLevel)
        return order.index(self) < order.index(other)


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


class Rating(enum.StrEnum):
    """How acceptable an option is to a party, best first (DESIGN.md §2)."""

    IDEAL = "ideal"
    ACCEPTABLE = "acceptable"
    LIVE_WITH = "live_with"
    UNACCEPTABLE = "unacceptable"


class PriorityMode(enum.StrEnum):
    """How parties state their priorities; the mediator chooses per case."""

    RANKING = "ranking"
    POINTS = "points"


POINTS_TOTAL = 100


class ItemKind(enum.StrEnum):
    """Kinds of caucus answers a party gives."""

    POSITION = "position"
    INTERESTS = "interests"
    RANGE = "range"
    RATINGS = "ratings"
    RANKING = "ranking"
    POINTS = "points"
    CBM_NEEDS = "cbm_needs"
    CBM_OFFER = "cbm_offer"
    CONSTITUENTS = "constituents"
    ALTERNATIVE = "alternative"

    @property
    def per_issue(self) -> bool:
        return self in {ItemKind.POSITION, ItemKind.INTERESTS, ItemKind.RANGE, ItemKind.RATINGS}


# Optional questions after the priorities, in the order they are asked; each can be skipped.
OPTIONAL_KINDS = (ItemKind.CBM_NEEDS, ItemKind.CBM_OFFER, ItemKind.CONSTITUENTS, ItemKind.ALTERNATIVE)

# The most protective defaults (DESIGN.md §4): ranges private, the rest for the mediator.
DEFAULT_SHARE = {kind: ShareLevel.PRIVATE if kind is ItemKind.RANGE else ShareLevel.MEDIATOR for kind in ItemKind}

# Kinds whose share level the party cannot change: a range is always private (DESIGN.md §4).
FIXED_SHARE = frozenset({ItemKind.RANGE})


@dataclass(frozen=True)
class Option:
    """A candidate solution for an issue, worded by the mediator."""

    id: str
    text: str


@dataclass(frozen=True)
class Scale:
    """The span of values that make sense on a quantitative issue, with its unit."""

    unit: str
    low: Decimal
    high: Decimal

    @property
    def width(self) -> Decimal:
        return self.high - self.low

    def contains(self, value: Decimal) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Issue:
    """Something negotiated in a case: qualitative, or quantitative with a unit and a scale."""

    id: str
    title: str
    scale: Scale | None = None
    options: tuple[Option, ...] = ()

    @property
    def quantitative(self) -> bool:
        return self.scale is not None


@dataclass(frozen=True)
class ItemKey:
    """Identifies one caucus item of a party: a kind and, for per-issue items, the issue."""

    kind: ItemKind
    issue_id: str = ""

    def encode(self) -> str:
        return f"{self.kind.value}:{self.issue_id}"

    @classmethod
    def decode(cls, text: str) -> ItemKey:
        kind, _, issue_id = text.partition(":")
        return cls(ItemKind(kind), issue_id)


@dataclass
class Interests:
    """Why a party holds its position: categories from the taxonomy plus its own words."""

    categories: list[InterestCategory] = field(default_factory=list)
    words: str = ""


@dataclass
class Range:
    """The lowest and highest value a party could accept, and the value it hopes for."""

    low: Decimal | None = None
    high: Decimal | None = None
    hope: Decimal | None = None

    @property
    def complete(self) -> bool:
        return self.low is not None and self.high is not None and self.hope is not None


@dataclass
class CaucusAnswers:
    """Everything one party answered in one round, with the share level of each item."""

    positions: dict[str, str] = field(default_factory=dict)
    interests: dict[str, Interests] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)
    # issue id -> option id -> rating
    ratings: dict[str, dict[str, Rating]] = field(default_factory=dict)
    ranking: list[str] = field(default_factory=list)
    points: dict[str, int] = field(default_factory=dict)
    # The optional questions (OPTIONAL_KINDS); a skipped question has no entry.
    texts: dict[ItemKind, str] = field(default_factory=dict)
    share: dict[ItemKey, ShareLevel] = field(default_factory=dict)

    def share_level(self, key: ItemKey) -> ShareLevel:
        if key.kind in FIXED_SHARE:
            return DEFAULT_SHARE[key.kind]
        return self.share.get(key, DEFAULT_SHARE[key.kind])

    def has(self, key: ItemKey) -> bool:
        """Whether the party has answered this item (a skipped optional question has not)."""
        kind, issue_id = key.kind, key.issue_id
        present = {
            ItemKind.POSITION: issue_id in self.positions,
            ItemKind.INTERESTS: issue_id in self.interests,
            ItemKind.RANGE: issue_id in self.ranges,
            ItemKind.RATINGS: bool(self.ratings.get(issue_id)),
            ItemKind.RANKING: bool(self.ranking),
            ItemKind.POINTS: bool(self.points),
        }
        return present.get(kind, kind in self.texts)

    def items(self, issues: list[Issue], mode: PriorityMode = PriorityMode.RANKING) -> list[ItemKey]:
        """Every item of the caucus, answered or not, in the order the review screen shows them."""
        keys: list[ItemKey] = []
        for issue in issues:
            keys += [ItemKey(ItemKind.POSITION, issue.id), ItemKey(ItemKind.INTERESTS, issue.id)]
            if issue.quantitative:
                keys.append(ItemKey(ItemKind.RANGE, issue.id))
            if issue.options:
                keys.append(ItemKey(ItemKind.RATINGS, issue.id))
        keys.append(ItemKey(ItemKind.POINTS if mode is PriorityMode.POINTS else ItemKind.RANKING))
        keys += [ItemKey(kind) for kind in OPTIONAL_KINDS]
        return keys

    def answered(self, issues: list[Issue], mode: PriorityMode = PriorityMode.RANKING) -> list[ItemKey]:
        return [key for key in self.items(issues, mode) if self.has(key)]


@dataclass(frozen=True)
class PartyView:
    """A party as the mediator sees it: its label and its answers (already decrypted)."""

    seat_id: str
    label: str
    answers: CaucusAnswers


@dataclass(frozen=True)
class CaseInfo:
    """A case as listed to its mediators (title decrypted)."""

    id: str
    short_id: str
    title: str
    stage: str
    round: int
    priority_mode: PriorityMode = PriorityMode.RANKING
    timezone: str = "UTC"
    deadline: datetime | None = None
    # Whether the parties' answers and the prompts are deleted from their chats once saved.
    erase_messages: bool = True


@dataclass(frozen=True)
class SeatStatus:
    """Progress of one party seat: never content."""

    seat_id: str
    label: str
    step: str
    joined: bool
    submitted: bool
    last_activity: datetime | None

    @property
    def withdrawn(self) -> bool:
        return self.step == CaucusStep.WITHDRAWN.value
