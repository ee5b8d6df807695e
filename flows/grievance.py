"""Grievances from civil-society groups and individuals: the filing flow, references, triage helpers.

A person files a grievance in their own language, anonymously if they wish, and gets a
reference to follow it with. The triage team reads, groups and answers grievances; recurring
themes become issues on a case's agenda (DESIGN.md §1, §2). Nothing here does I/O.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flows.errors import InvalidInput, StepMismatch
from flows.machines import (
    GRIEVANCE_EDIT_STEPS,
    GRIEVANCE_MACHINE,
    GRIEVANCE_STATUS_MACHINE,
    GrievanceStatus,
    GrievanceStep,
)
from flows.matching import TextMatcher, detect_language
from flows.text import clean_line, clean_text

__all__ = [
    "DEFAULT_CATEGORIES",
    "MAX_DESCRIPTION_CHARS",
    "OPEN_STATUSES",
    "REFERENCE_ALPHABET",
    "REFERENCE_PATTERN",
    "STATUS_ACTIONS",
    "Grievance",
    "GrievanceContent",
    "GrievanceConversation",
    "GrievanceCounts",
    "GrievanceUpdate",
    "Urgency",
    "count_grievances",
    "format_reference",
    "group_similar",
    "new_reference",
    "next_status",
    "normalize_reference",
    "triage_order",
]

# The categories a deployment offers unless it configures its own (DESIGN.md: sensible defaults).
DEFAULT_CATEGORIES = (
    "land", "water", "security", "displacement", "services", "discrimination", "corruption", "other",
)
MAX_DESCRIPTION_CHARS = 4000  # several messages together; Telegram allows 4096 in one
MAX_NAME_CHARS = 120
MAX_REGION_CHARS = 80
MAX_FIELD_CHARS = 1000  # affected groups, wished remedy

# No 0/O, 1/I/L, and no U: a reference is read aloud over a phone and copied by hand without doubt.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_REFERENCE_GROUPS = 3
_REFERENCE_GROUP_CHARS = 4  # 12 characters from 30: about 59 bits, not guessable
_REFERENCE_CHARS = _REFERENCE_GROUPS * _REFERENCE_GROUP_CHARS
# A reference as the bot writes it, for finding one in a message.
REFERENCE_PATTERN = re.compile("-".join([f"[{REFERENCE_ALPHABET}]{{{_REFERENCE_GROUP_CHARS}}}"] * _REFERENCE_GROUPS))
_SEPARATORS = str.maketrans("", "", " -_.\u00a0\u2010\u2011\u2012\u2013\u2014")


class Urgency(enum.Enum):
    """How soon the grievance needs attention; DANGER shows the safety referral and alerts triage at once."""

    DANGER = "danger"
    URGENT = "urgent"
    ROUTINE = "routine"


_URGENCY_RANK = {Urgency.DANGER: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}
OPEN_STATUSES = frozenset(status for status in GrievanceStatus if status is not GrievanceStatus.CLOSED)
# What a triage officer can do to a grievance, and the status it leads to.
STATUS_ACTIONS: Mapping[str, GrievanceStatus] = {
    "review": GrievanceStatus.UNDER_REVIEW,
    "refer": GrievanceStatus.REFERRED,
    "address": GrievanceStatus.ADDRESSED,
    "close": GrievanceStatus.CLOSED,
}


def new_reference() -> str:
    """A fresh reference such as ``K7QM-4XTP-9HRW``: short, unambiguous, unguessable."""
    return format_reference("".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(_REFERENCE_CHARS)))


def format_reference(compact: str) -> str:
    size = _REFERENCE_GROUP_CHARS
    return "-".join(compact[i : i + size] for i in range(0, len(compact), size))


def normalize_reference(raw: str) -> str | None:
    """The reference a person typed, in its canonical form; None when it cannot be one.

    Case, spaces and dashes do not matter, so a reference read over the phone is found again.
    """
    compact = raw.upper().translate(_SEPARATORS)
    if len(compact) != _REFERENCE_CHARS or any(char not in REFERENCE_ALPHABET for char in compact):
        return None
    return format_reference(compact)


@dataclass
class GrievanceContent:
    """What the person said, to be stored encrypted; ``languages`` holds the detected language of each text."""

    anonymous: bool = True
    name: str | None = None
    category: str | None = None
    region: str | None = None
    description: str = ""
    groups: str | None = None
    urgency: Urgency | None = None
    remedy: str | None = None
    languages: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "anonymous": self.anonymous, "name": self.name, "category": self.category, "region": self.region,
            "description": self.description, "groups": self.groups,
            "urgency": self.urgency.value if self.urgency else None, "remedy": self.remedy,
            "languages": dict(self.languages),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> GrievanceContent:
        urgency = data.get("urgency")
        languages = data.get("languages")
        return cls(
            anonymous=bool(data.get("anonymous", True)), name=_optional(data.get("name")),
            category=_optional(data.get("category")), region=_optional(data.get("region")),
            description=str(data.get("description") or ""), groups=_optional(data.get("groups")),
            urgency=Urgency(urgency) if isinstance(urgency, str) else None, remedy=_optional(data.get("remedy")),
            languages={str(k): str(v) for k, v in languages.items()} if isinstance(languages, dict) else {},
        )

    @property
    def description_language(self) -> str:
        return self.languages.get("description", "und")


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


class _StepModel:
    """The object the shared grievance machine drives."""

    def __init__(self, conversation: GrievanceConversation) -> None:
        self.state = conversation.step
        self._c = conversation

    def editing(self) -> bool:
        return self._c.editing

    def has_description(self) -> bool:
        return bool(self._c.content.description)

    def start_editing(self) -> None:
        self._c.editing = True

    def stop_editing(self) -> None:
        self._c.editing = False


@dataclass
class GrievanceConversation:
    """One grievance being filed: its step, whether an item is being changed from the review, its content.

    ``categories`` and ``regions`` are the deployment's lists (an empty region list means the
    region is typed); choices outside them are refused as stale.
    """

    step: GrievanceStep
    content: GrievanceContent
    categories: Sequence[str]
    regions: Sequence[str] = ()
    editing: bool = False

    def _fire(self, trigger: str) -> bool:
        model = _StepModel(self)
        accepted = GRIEVANCE_MACHINE.fire(model, trigger)
        self.step = GrievanceStep(model.state)
        return accepted

    def _expect(self, *steps: GrievanceStep) -> None:
        if self.step not in steps:
            raise StepMismatch(f"not possible at {self.step.name}")

    def _detected(self, name: str, text: str | None) -> None:
        if text is None:
            self.content.languages.pop(name, None)
        else:
            self.content.languages[name] = detect_language(text)

    @property
    def submitted(self) -> bool:
        return self.step is GrievanceStep.SUBMITTED

    def choose_language(self) -> None:
        self._fire("choose_language")

    def stay_anonymous(self) -> None:
        self._expect(GrievanceStep.IDENTITY)
        self.content.anonymous, self.content.name = True, None
        self._fire("stay_anonymous")

    def give_name_later(self) -> None:
        self._fire("give_name_later")

    def give_name(self, raw: str) -> None:
        self._expect(GrievanceStep.NAME)
        self.content.name = clean_text(raw, max_chars=MAX_NAME_CHARS)
        self.content.anonymous = False
        self._fire("give_name")

    def choose_category(self, category: str) -> None:
        self._expect(GrievanceStep.CATEGORY)
        if category not in self.categories:
            raise StepMismatch(f"unknown category {category!r}")
        self.content.category = category
        self._fire("choose_category")

    def choose_region(self, index: int) -> None:
        """A region from the deployment's list, by its position."""
        self._expect(GrievanceStep.REGION)
        if not 0 <= index < len(self.regions):
            raise StepMismatch("unknown region")
        self.content.region = self.regions[index]
        self._fire("give_region")

    def give_region(self, raw: str) -> None:
        """A region typed by the person (when the deployment has no list, or the place is not on it)."""
        self._expect(GrievanceStep.REGION)
        self.content.region = clean_line(raw, max_chars=MAX_REGION_CHARS)
        self._fire("give_region")

    def add_description(self, raw: str) -> None:
        """One more message of the description; the parts are kept together, in order."""
        self._expect(GrievanceStep.DESCRIPTION)
        part = clean_text(raw, max_chars=MAX_DESCRIPTION_CHARS)
        combined = f"{self.content.description}\n\n{part}" if self.content.description else part
        if len(combined) > MAX_DESCRIPTION_CHARS:
            raise InvalidInput("description_full", limit=MAX_DESCRIPTION_CHARS,
                               left=max(0, MAX_DESCRIPTION_CHARS - len(self.content.description) - 2))
        self.content.description = combined
        self._detected("description", combined)
        self._fire("add_description")

    def clear_description(self) -> None:
        self._expect(GrievanceStep.DESCRIPTION)
        self.content.description = ""
        self._detected("description", None)
        self._fire("clear_description")

    def finish_description(self) -> None:
        self._expect(GrievanceStep.DESCRIPTION)
        if not self._fire("finish_description"):
            raise InvalidInput("no_description")

    def give_groups(self, raw: str | None) -> None:
        """Who is affected, or None to skip."""
        self._expect(GrievanceStep.GROUPS)
        self.content.groups = None if raw is None else clean_text(raw, max_chars=MAX_FIELD_CHARS)
        self._detected("groups", self.content.groups)
        self._fire("give_groups")

    def choose_urgency(self, urgency: Urgency) -> None:
        self._expect(GrievanceStep.URGENCY)
        self.content.urgency = urgency
        self._fire("choose_urgency")

    def give_remedy(self, raw: str | None) -> None:
        """What the person wishes would happen, or None to skip."""
        self._expect(GrievanceStep.REMEDY)
        self.content.remedy = None if raw is None else clean_text(raw, max_chars=MAX_FIELD_CHARS)
        self._detected("remedy", self.content.remedy)
        self._fire("give_remedy")

    def edit(self, item: str) -> None:
        """Go back from the review screen to change one item."""
        if item not in GRIEVANCE_EDIT_STEPS:
            raise StepMismatch(f"unknown item {item!r}")
        self._fire(f"edit_{item}")

    def submit(self) -> None:
        self._expect(GrievanceStep.REVIEW)
        if self.content.category is None or not self.content.description or self.content.urgency is None:
            raise StepMismatch("incomplete grievance")
        self._fire("submit")


def next_status(current: GrievanceStatus, action: str) -> GrievanceStatus:
    """The status a triage action leads to; StepMismatch when it is not possible from ``current``."""
    if action not in STATUS_ACTIONS:
        raise StepMismatch(f"unknown action {action!r}")

    class _Status:
        state = current

    model = _Status()
    GRIEVANCE_STATUS_MACHINE.fire(model, action)
    return GrievanceStatus(model.state)


@dataclass(frozen=True)
class GrievanceUpdate:
    """One step of a grievance's handling: a new status (with the message sent to the person) or an agenda note."""

    kind: str  # "status" or "agenda"
    status: GrievanceStatus
    message: str | None
    at: datetime


@dataclass(frozen=True)
class Grievance:
    """A grievance as triage reads it (decrypted): submitted, or still being written after a danger alert."""

    id: str
    reference: str
    status: GrievanceStatus
    language: str  # the language the person chose for the conversation
    content: GrievanceContent
    created_at: datetime
    submitted_at: datetime | None  # None: the person is still writing it (triage was alerted)
    updated_at: datetime
    history: tuple[GrievanceUpdate, ...] = ()

    @property
    def urgency(self) -> Urgency:
        return self.content.urgency or Urgency.ROUTINE

    @property
    def received_at(self) -> datetime:
        return self.submitted_at or self.created_at


def triage_order(grievances: Iterable[Grievance]) -> list[Grievance]:
    """Open before closed, the most urgent first, then the newest."""
    return sorted(grievances, key=lambda g: (g.status is GrievanceStatus.CLOSED, _URGENCY_RANK[g.urgency],
                                             -g.received_at.timestamp(), g.reference))


@dataclass(frozen=True)
class GrievanceCounts:
    """How many grievances there are, in total and by each dimension triage sorts them by."""

    total: int
    by_status: Counter[GrievanceStatus]
    by_urgency: Counter[Urgency]
    by_category: Counter[str]
    by_region: Counter[str]
    by_language: Counter[str]


def count_grievances(grievances: Iterable[Grievance]) -> GrievanceCounts:
    """Counts by status, urgency, category, region and written language (detected, else the chosen one)."""
    items = list(grievances)
    return GrievanceCounts(
        total=len(items),
        by_status=Counter(g.status for g in items),
        by_urgency=Counter(g.urgency for g in items),
        by_category=Counter(g.content.category or "other" for g in items),
        by_region=Counter(g.content.region or "" for g in items),
        by_language=Counter(_written_language(g) for g in items),
    )


def _written_language(grievance: Grievance) -> str:
    detected = grievance.content.description_language
    return grievance.language if detected in {"", "und"} else detected


def group_similar(grievances: Sequence[Grievance], matcher: TextMatcher | None) -> list[list[Grievance]]:
    """Groups of two or more grievances of the same category whose descriptions say similar things.

    Two grievances are linked when ``matcher`` scores their descriptions at least its threshold,
    across languages when the matcher can; groups are what the links connect. Without a matcher,
    grievances of the same category and region form a group. Largest groups first.
    """
    by_category: dict[str, list[Grievance]] = {}
    for grievance in grievances:
        by_category.setdefault(grievance.content.category or "other", []).append(grievance)
    groups: list[list[Grievance]] = []
    for members in by_category.values():
        if len(members) < 2:
            continue
        if matcher is None:
            by_region: dict[str, list[Grievance]] = {}
            for grievance in members:
                by_region.setdefault((grievance.content.region or "").casefold(), []).append(grievance)
            groups += [group for group in by_region.values() if len(group) > 1]
        else:
            groups += _linked(members, matcher)
    return sorted(groups, key=lambda group: (-len(group), group[0].reference))


def _linked(members: list[Grievance], matcher: TextMatcher) -> list[list[Grievance]]:
    texts = [grievance.content.description for grievance in members]
    scores = matcher.similarity(texts, texts)
    parent = list(range(len(members)))

    def find(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for i in range(len(members)):
        for j in range(i + 1, len(members)):
            if scores[i, j] >= matcher.threshold:
                parent[find(i)] = find(j)
    components: dict[int, list[Grievance]] = {}
    for index, grievance in enumerate(members):
        components.setdefault(find(index), []).append(grievance)
    return [sorted(group, key=lambda g: g.reference) for group in components.values() if len(group) > 1]
