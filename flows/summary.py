"""The mediator's summary of a caucus round, built only from what each party allowed.

Pure functions over decrypted answers. An item a party kept private never enters the
result, not even as a category count (a count would reveal it when only one other party
shares the category).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flows.model import InterestCategory, Issue, ItemKind, PartyView, ShareLevel

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


@dataclass(frozen=True)
class PartyDisclosure:
    """What one party allowed the mediator to see."""

    party: str
    ranking: tuple[str, ...] | None
    items: tuple[DisclosedItem, ...]


@dataclass(frozen=True)
class Summary:
    """The round's summary for the mediator."""

    shared_interests: tuple[SharedInterest, ...]
    parties: tuple[PartyDisclosure, ...]


def _disclosure(party: PartyView, issues: list[Issue]) -> PartyDisclosure:
    answers = party.answers
    titles = {issue.id: issue.title for issue in issues}
    items: list[DisclosedItem] = []
    ranking: tuple[str, ...] | None = None
    for key in answers.items(issues):
        level = answers.share_level(key)
        if not level.mediator_may_read:
            continue
        if key.kind is ItemKind.POSITION:
            items.append(DisclosedItem(key.kind, titles[key.issue_id], level, answers.positions[key.issue_id]))
        elif key.kind is ItemKind.INTERESTS:
            interests = answers.interests[key.issue_id]
            items.append(
                DisclosedItem(
                    key.kind, titles[key.issue_id], level, interests.words, tuple(interests.categories)
                )
            )
        else:
            ranking = tuple(titles[issue_id] for issue_id in answers.ranking)
    return PartyDisclosure(party.label, ranking, tuple(items))


def build_summary(issues: list[Issue], parties: list[PartyView]) -> Summary:
    """Summarise the submitted caucus answers of ``parties`` for the mediator."""
    disclosures = tuple(_disclosure(party, issues) for party in parties)
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

