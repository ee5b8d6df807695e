"""The mediator's summary of a caucus round, built only from what each party allowed.

Pure functions over decrypted answers. An item a party kept private never enters the
result, not even as a category count (a count would reveal it when only one other party
shares the category).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flows.model import InterestCategory, Issue, ItemKind, PartyView, PriorityMode, Rating, ShareLevel

__all__ = ["DisclosedItem", "InterestHolder", "PartyDisclosure", "SharedInterest", "Summary", "build_summary"]


@dataclass(frozen=True)
class InterestHolder:
    """One party holding an interest on one issue, with its own words."""

    party: str
    issue: str
    words: str


@dataclass(frozen=True)
class SharedInterest:
    """An interest category held by two or more parties."""

    category: InterestCategory
    holders: tuple[InterestHolder, ...]

    @property
    def party_count(self) -> int:
        return len({holder.party for holder in self.holders})


@dataclass(frozen=True)
class DisclosedItem:
    """One caucus item a party marked for the mediator or for the joint session."""

    kind: ItemKind
    issue: str
    level: ShareLevel
    text: str
    categories: tuple[InterestCategory, ...] = ()
    # For option ratings: each rated option's wording and its rating.
    ratings: tuple[tuple[str, Rating], ...] = ()


@dataclass(frozen=True)
class PartyDisclosure:
    """What one party allowed the mediator to see."""

    party: str
    ranking: tuple[str, ...] | None
    items: tuple[DisclosedItem, ...]
    # Points per issue title, when the case uses 100 points and the party shared them.
    points: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True)
class Summary:
    """The round's summary for the mediator."""

    shared_interests: tuple[SharedInterest, ...]
    parties: tuple[PartyDisclosure, ...]


def _disclosure(party: PartyView, issues: list[Issue], mode: PriorityMode) -> PartyDisclosure:
    answers = party.answers
    titles = {issue.id: issue.title for issue in issues}
    options = {option.id: option.text for issue in issues for option in issue.options}
    items: list[DisclosedItem] = []
    ranking: tuple[str, ...] | None = None
    points: tuple[tuple[str, int], ...] | None = None
    for key in answers.answered(issues, mode):
        level = answers.share_level(key)
        if not level.mediator_may_read:
            continue  # ranges are always private, so they never pass here
        title = titles.get(key.issue_id, "")
        if key.kind is ItemKind.POSITION:
            items.append(DisclosedItem(key.kind, title, level, answers.positions[key.issue_id]))
        elif key.kind is ItemKind.INTERESTS:
            interests = answers.interests[key.issue_id]
            items.append(DisclosedItem(key.kind, title, level, interests.words, tuple(interests.categories)))
        elif key.kind is ItemKind.RATINGS:
            rated = tuple((options[oid], rating) for oid, rating in answers.ratings[key.issue_id].items()
                          if oid in options)
            items.append(DisclosedItem(key.kind, title, level, "", ratings=rated))
        elif key.kind is ItemKind.RANKING:
            ranking = tuple(titles[issue_id] for issue_id in answers.ranking if issue_id in titles)
        elif key.kind is ItemKind.POINTS:
            points = tuple((issue.title, answers.points.get(issue.id, 0)) for issue in issues)
        elif key.kind is not ItemKind.RANGE:
            items.append(DisclosedItem(key.kind, "", level, answers.texts[key.kind]))
    return PartyDisclosure(party.label, ranking, tuple(items), points)


def build_summary(
    issues: list[Issue], parties: list[PartyView], mode: PriorityMode = PriorityMode.RANKING
) -> Summary:
    """Summarise the submitted caucus answers of ``parties`` for the mediator."""
    disclosures = tuple(_disclosure(party, issues, mode) for party in parties)
    holders: dict[InterestCategory, list[InterestHolder]] = defaultdict(list)
    for disclosure in disclosures:
        for item in disclosure.items:
            for category in item.categories:
                holders[category].append(InterestHolder(disclosure.party, item.issue, item.text))
    shared = tuple(
        SharedInterest(category, tuple(holders[category]))
        for category in InterestCategory
        if len({holder.party for holder in holders[category]}) >= 2
    )
    return Summary(shared, disclosures)

