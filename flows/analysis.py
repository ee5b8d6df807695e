"""The overlap analysis of a caucus round (DESIGN.md §5): pure functions over decrypted answers.

Privacy is structural. Every result is computed from ``visible_answers``: a copy of each party's
answers holding only the items the audience may read (the mediator: ``mediator`` and ``joint``
items; the parties together: ``joint`` items only). Ranges are never in that copy; they enter
only ``blind_overlaps``, whose result is a coarse band for the mediator's analysis alone, so
nothing derived from a range can reach a party (DESIGN.md §4).
"""

from __future__ import annotations

import enum
import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from flows.model import (
    CaucusAnswers,
    InterestCategory,
    Interests,
    Issue,
    ItemKey,
    ItemKind,
    Option,
    PartyView,
    PriorityMode,
    Range,
    Rating,
    ShareLevel,
)
from flows.packages import PackageChoice, search_packages

__all__ = [
    "RATING_SCORE",
    "AgendaItem",
    "AgendaKind",
    "Analysis",
    "Audience",
    "BlindOverlap",
    "CommonGround",
    "DisclosedItem",
    "Divergence",
    "InterestHolder",
    "InterestMatch",
    "IssueOptions",
    "OverlapBand",
    "Package",
    "PackageSearch",
    "PartyDisclosure",
    "PartyPriorities",
    "RankedOption",
    "SharedInterest",
    "TradeOff",
    "analyse",
    "blind_overlaps",
    "priority_weights",
    "visible_answers",
]

# A rating as a number: higher is better; "unacceptable" is a veto wherever options are combined.
RATING_SCORE = {Rating.IDEAL: 3, Rating.ACCEPTABLE: 2, Rating.LIVE_WITH: 1, Rating.UNACCEPTABLE: 0}
_BEST_SCORE = RATING_SCORE[Rating.IDEAL]
# How many trade-offs and packages a summary proposes.
TRADE_OFF_LIMIT = 8
PACKAGE_LIMIT = 5


class Audience(enum.StrEnum):
    """Who reads an analysis: the mediator alone, or every party of the joint session."""

    MEDIATOR = "mediator"
    JOINT = "joint"

    def may_read(self, level: ShareLevel) -> bool:
        return level.mediator_may_read if self is Audience.MEDIATOR else level is ShareLevel.JOINT


def visible_answers(answers: CaucusAnswers, issues: Sequence[Issue], mode: PriorityMode,
                    audience: Audience) -> CaucusAnswers:
    """A copy of ``answers`` with only the items ``audience`` may read, and never a range."""
    visible = CaucusAnswers()
    for key in answers.answered(list(issues), mode):
        level = answers.share_level(key)
        if key.kind is ItemKind.RANGE or not audience.may_read(level):
            continue
        visible.share[key] = level
        issue_id = key.issue_id
        if key.kind is ItemKind.POSITION:
            visible.positions[issue_id] = answers.positions[issue_id]
        elif key.kind is ItemKind.INTERESTS:
            interests = answers.interests[issue_id]
            visible.interests[issue_id] = Interests(list(interests.categories), interests.words)
        elif key.kind is ItemKind.RATINGS:
            visible.ratings[issue_id] = dict(answers.ratings[issue_id])
        elif key.kind is ItemKind.RANKING:
            visible.ranking = list(answers.ranking)
        elif key.kind is ItemKind.POINTS:
            visible.points = dict(answers.points)
        else:
            visible.texts[key.kind] = answers.texts[key.kind]
    return visible


def priority_weights(answers: CaucusAnswers, issues: Sequence[Issue], mode: PriorityMode) -> dict[str, float] | None:
    """Each issue's share of the party's priorities (summing to 1), or None when not given.

    Points are taken as given; a ranking of n issues gives n, n-1, …, 1 (Borda), normalised.
    """
    ids = [issue.id for issue in issues]
    if mode is PriorityMode.POINTS:
        total = sum(max(answers.points.get(issue_id, 0), 0) for issue_id in ids)
        if total <= 0:
            return None
        return {issue_id: max(answers.points.get(issue_id, 0), 0) / total for issue_id in ids}
    ranked = [issue_id for issue_id in answers.ranking if issue_id in ids]
    if not ranked:
        return None
    borda = {issue_id: float(len(ids) - place) for place, issue_id in enumerate(ranked)}
    borda_total = math.fsum(borda.values())
    return {issue_id: borda.get(issue_id, 0.0) / borda_total for issue_id in ids}


# Results --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InterestHolder:
    """One party's interest on one issue: its categories and its own words, in their language."""

    party: str
    issue: Issue
    categories: tuple[InterestCategory, ...]
    words: str
    language: str = ""


@dataclass(frozen=True)
class SharedInterest:
    """An interest category held by two or more parties."""

    category: InterestCategory
    holders: tuple[InterestHolder, ...]

    @property
    def party_count(self) -> int:
        return len({holder.party for holder in self.holders})


@dataclass(frozen=True)
class InterestMatch:
    """Two parties who said much the same thing, possibly in different languages."""

    first: InterestHolder
    second: InterestHolder
    similarity: float


@dataclass(frozen=True)
class CommonGround:
    """What parties share: interest categories, similar words, and issues with a widely liked option."""

    shared_interests: tuple[SharedInterest, ...]
    matches: tuple[InterestMatch, ...]
    # Issues with an option every party rates acceptable or better.
    compatible_issues: tuple[Issue, ...]


@dataclass(frozen=True)
class RankedOption:
    """An option every party can accept, with the ratings in party order."""

    option: Option
    ratings: tuple[Rating, ...]

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(RATING_SCORE[rating] for rating in self.ratings)

    @property
    def worst(self) -> Rating:
        return min(self.ratings, key=RATING_SCORE.__getitem__)

    @property
    def product(self) -> int:
        return int(np.prod(self.scores))

    @property
    def total(self) -> int:
        return sum(self.scores)


@dataclass(frozen=True)
class IssueOptions:
    """The options of one issue that every party can accept, best first.

    ``acceptable`` is filled only when every party's ratings on the issue may be read
    (``shared`` parties of ``parties``): with one party missing, the list would say what
    that party did not share.
    """

    issue: Issue
    shared: int
    parties: int
    acceptable: tuple[RankedOption, ...]

    @property
    def complete(self) -> bool:
        return self.shared == self.parties


@dataclass(frozen=True)
class PartyPriorities:
    """One party's priorities as weights summing to 1, or None when not shared."""

    party: str
    weights: dict[str, float] | None


@dataclass(frozen=True)
class TradeOff:
    """A possible logroll: ``first`` cares more about ``first_issue``, ``second`` about ``second_issue``."""

    first: str
    second: str
    first_issue: Issue
    second_issue: Issue
    strength: float


@dataclass(frozen=True)
class Package:
    """One option per issue, with each party's utility (0 to 1, in party order)."""

    choices: tuple[tuple[Issue, Option], ...]
    utilities: tuple[float, ...]

    @property
    def worst(self) -> float:
        return min(self.utilities)


@dataclass(frozen=True)
class PackageSearch:
    """Packages on the Pareto frontier, the one best for the least satisfied party first, and ``best``: the
    best package found for the least satisfied party. Exact searches have it first on the frontier; a bounded
    search may find a better one for that party that it cannot show to be Pareto-optimal (not in ``packages``).

    ``missing`` lists the parties whose priorities could not be read (then there are no packages);
    ``excluded`` the issues with options on which no option is acceptable to every party, and
    ``unshared`` those on which not every party's ratings could be read: both are left out.
    """

    parties: tuple[str, ...]
    issues: tuple[Issue, ...]
    packages: tuple[Package, ...]
    exact: bool
    proven: bool
    bound: float | None
    count: int
    best: Package | None = None
    missing: tuple[str, ...] = ()
    excluded: tuple[Issue, ...] = ()
    unshared: tuple[Issue, ...] = ()


class OverlapBand(enum.StrEnum):
    """How wide the intersection of all acceptable intervals is, relative to the issue's scale."""

    NOT_ENOUGH = "not_enough"  # fewer than two parties gave a range
    NONE = "none"
    NARROW = "narrow"  # under 10 % of the scale
    MODERATE = "moderate"  # 10 % to under 30 %
    WIDE = "wide"  # 30 % or more

    @property
    def has_zone(self) -> bool:
        return self in {OverlapBand.NARROW, OverlapBand.MODERATE, OverlapBand.WIDE}


NARROW_BELOW = Decimal("0.10")
MODERATE_BELOW = Decimal("0.30")


@dataclass(frozen=True)
class BlindOverlap:
    """Whether the parties' ranges on a quantitative issue overlap, as a band: never a value."""

    issue: Issue
    answered: int
    parties: int
    band: OverlapBand


@dataclass(frozen=True)
class Divergence:
    """An issue with no option known to suit all and no shared interest, with the interests behind it."""

    issue: Issue
    interests: tuple[InterestHolder, ...]


class AgendaKind(enum.StrEnum):
    COMMON_GROUND = "common_ground"
    TRADE_OFF = "trade_off"
    DIVERGENCE = "divergence"


@dataclass(frozen=True)
class AgendaItem:
    kind: AgendaKind
    issues: tuple[Issue, ...]


@dataclass(frozen=True)
class DisclosedItem:
    """One caucus item the audience may read, as the party gave it."""

    kind: ItemKind
    issue: Issue | None
    level: ShareLevel
    text: str
    categories: tuple[InterestCategory, ...] = ()
    ratings: tuple[tuple[Option, Rating], ...] = ()
    language: str = ""


@dataclass(frozen=True)
class PartyDisclosure:
    """What one party allowed the audience to see."""

    party: str
    ranking: tuple[Issue, ...] | None
    points: tuple[tuple[Issue, int], ...] | None
    items: tuple[DisclosedItem, ...]


@dataclass(frozen=True)
class Analysis:
    """Everything the summary, the chart and the report show, for one audience."""

    audience: Audience
    issues: tuple[Issue, ...]
    parties: tuple[str, ...]
    total_parties: int
    mode: PriorityMode
    common_ground: CommonGround
    options: tuple[IssueOptions, ...]
    priorities: tuple[PartyPriorities, ...]
    trade_offs: tuple[TradeOff, ...]
    packages: PackageSearch
    overlaps: tuple[BlindOverlap, ...]
    divergences: tuple[Divergence, ...]
    agenda: tuple[AgendaItem, ...]
    disclosures: tuple[PartyDisclosure, ...]


# Matching interests across parties and languages -------------------------------------------------------
Detector = Callable[[str], str]
# Given (party, text) entries, pairs (i, j, similarity) of entries that say much the same thing.
Matcher = Callable[[Sequence[tuple[str, str]]], list[tuple[int, int, float]]]


def _no_language(_text: str) -> str:
    return ""


def _no_matches(_entries: Sequence[tuple[str, str]]) -> list[tuple[int, int, float]]:
    return []


# The analysis ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Party:
    label: str
    answers: CaucusAnswers


def _holders(parties: Sequence[_Party], issues: Sequence[Issue], detect: Detector) -> list[InterestHolder]:
    holders = []
    for party in parties:
        for issue in issues:
            interests = party.answers.interests.get(issue.id)
            if interests is not None:
                language = detect(interests.words) if interests.words else ""
                holders.append(InterestHolder(party.label, issue, tuple(interests.categories), interests.words,
                                              language))
    return holders


def _shared_interests(holders: Sequence[InterestHolder]) -> tuple[SharedInterest, ...]:
    by_category: dict[InterestCategory, list[InterestHolder]] = defaultdict(list)
    for holder in holders:
        for category in holder.categories:
            by_category[category].append(holder)
    return tuple(
        SharedInterest(category, tuple(by_category[category]))
        for category in InterestCategory
        if len({holder.party for holder in by_category[category]}) >= 2
    )


def _matches(holders: Sequence[InterestHolder], match: Matcher) -> tuple[InterestMatch, ...]:
    worded = [holder for holder in holders if holder.words]
    found = [
        InterestMatch(worded[i], worded[j], similarity)
        for i, j, similarity in match([(holder.party, holder.words) for holder in worded])
        if worded[i].party != worded[j].party
    ]
    return tuple(sorted(found, key=lambda m: -m.similarity))


def _issue_options(issue: Issue, parties: Sequence[_Party]) -> IssueOptions:
    rated = [party.answers.ratings[issue.id] for party in parties if party.answers.ratings.get(issue.id)]
    if len(rated) < len(parties) or not parties:
        return IssueOptions(issue, len(rated), len(parties), ())
    acceptable = [
        RankedOption(option, tuple(ratings[option.id] for ratings in rated))
        for option in issue.options
        if all(ratings.get(option.id, Rating.UNACCEPTABLE) is not Rating.UNACCEPTABLE for ratings in rated)
    ]
    acceptable.sort(key=lambda r: (-RATING_SCORE[r.worst], -r.product, -r.total))
    return IssueOptions(issue, len(rated), len(parties), tuple(acceptable))


def _trade_offs(priorities: Sequence[PartyPriorities], issues: Sequence[Issue]) -> tuple[TradeOff, ...]:
    found = []
    shared = [(p.party, p.weights) for p in priorities if p.weights is not None]
    for (first, first_weights), (second, second_weights) in itertools.combinations(shared, 2):
        for x, y in itertools.permutations(issues, 2):
            first_gap = first_weights[x.id] - first_weights[y.id]
            second_gap = second_weights[y.id] - second_weights[x.id]
            if first_gap > 0 and second_gap > 0:
                found.append(TradeOff(first, second, x, y, first_gap + second_gap))
    found.sort(key=lambda t: -t.strength)
    return tuple(found[:TRADE_OFF_LIMIT])


def _packages(options: Sequence[IssueOptions], parties: Sequence[_Party], priorities: Sequence[PartyPriorities],
              budget_s: float) -> PackageSearch:
    """Packages over the issues with an option acceptable to all (as ``options`` found them, in issue order)."""
    labels = tuple(party.label for party in parties)
    missing = tuple(p.party for p in priorities if p.weights is None)
    if not parties:  # nothing to combine, and no issue to call unshared or excluded
        return PackageSearch(labels, (), (), exact=True, proven=False, bound=None, count=0)
    candidates: list[tuple[Issue, list[Option]]] = []
    excluded: list[Issue] = []
    unshared: list[Issue] = []
    for entry in options:
        acceptable = {ranked.option for ranked in entry.acceptable}
        if not entry.complete:
            unshared.append(entry.issue)
        elif acceptable:
            candidates.append((entry.issue, [option for option in entry.issue.options if option in acceptable]))
        else:
            excluded.append(entry.issue)
    empty = PackageSearch(labels, tuple(issue for issue, _ in candidates), (), exact=True, proven=False, bound=None,
                          count=0, missing=missing, excluded=tuple(excluded),
                          unshared=tuple(unshared))
    if missing or len(parties) < 2 or not candidates:
        return empty
    weights = [p.weights for p in priorities if p.weights is not None]
    considered = [issue.id for issue, _ in candidates]
    # Each party's weights over the issues in the packages, renormalised (equal if it gave them none).
    scaled = []
    for party_weights in weights:
        total = sum(party_weights[issue_id] for issue_id in considered)
        scaled.append({i: (party_weights[i] / total if total > 0 else 1 / len(considered)) for i in considered})
    matrices = [
        np.array([[scaled[p][issue.id] * RATING_SCORE[party.answers.ratings[issue.id][o.id]] / _BEST_SCORE
                   for p, party in enumerate(parties)] for o in issue_options])
        for issue, issue_options in candidates
    ]
    result = search_packages(matrices, limit=PACKAGE_LIMIT, budget_s=budget_s)

    def package(choice: PackageChoice) -> Package:
        return Package(tuple((issue, issue_options[index]) for (issue, issue_options), index in
                             zip(candidates, choice.options, strict=True)), choice.utilities)

    return PackageSearch(labels, empty.issues, tuple(package(choice) for choice in result.frontier), result.exact,
                         result.proven, result.bound, result.packages,
                         package(result.best) if result.best is not None else None,
                         missing, tuple(excluded), tuple(unshared))


def blind_overlaps(issues: Sequence[Issue], ranges: Sequence[dict[str, Range]]) -> tuple[BlindOverlap, ...]:
    """For each quantitative issue, the band of the intersection of every party's acceptable interval.

    ``ranges`` holds each party's ranges by issue id. Only the band leaves this function: with two
    parties, the overlap's position or exact width would let one party's limit be worked out.
    """
    result = []
    for issue in issues:
        if issue.scale is None:
            continue
        given = [r[issue.id] for r in ranges if issue.id in r and r[issue.id].complete]
        band = OverlapBand.NOT_ENOUGH
        if len(given) >= 2:
            low = max(r.low for r in given if r.low is not None)
            high = min(r.high for r in given if r.high is not None)
            width = issue.scale.width
            if high < low:
                band = OverlapBand.NONE
            elif width <= 0 or (high - low) / width >= MODERATE_BELOW:
                band = OverlapBand.WIDE
            elif (high - low) / width >= NARROW_BELOW:
                band = OverlapBand.MODERATE
            else:
                band = OverlapBand.NARROW
        result.append(BlindOverlap(issue, len(given), len(ranges), band))
    return tuple(result)


def _shared_on(shared: Sequence[SharedInterest]) -> dict[str, int]:
    """Per issue, how many interest categories two or more parties hold on that same issue."""
    counts: dict[str, int] = defaultdict(int)
    for interest in shared:
        by_issue: dict[str, set[str]] = defaultdict(set)
        for holder in interest.holders:
            by_issue[holder.issue.id].add(holder.party)
        for issue_id, parties in by_issue.items():
            counts[issue_id] += len(parties) >= 2
    return counts


def _divergences(issues: Sequence[Issue], options: Sequence[IssueOptions], shared: Sequence[SharedInterest],
                 overlaps: Sequence[BlindOverlap], holders: Sequence[InterestHolder]) -> tuple[Divergence, ...]:
    with_option = {entry.issue.id for entry in options if entry.acceptable}
    zones = {overlap.issue.id for overlap in overlaps if overlap.band.has_zone}
    shared_on = {issue_id for issue_id, count in _shared_on(shared).items() if count}
    return tuple(
        Divergence(issue, tuple(h for h in holders if h.issue.id == issue.id))
        for issue in issues
        if issue.id not in with_option | zones | shared_on
    )


def _agenda(issues: Sequence[Issue], common: CommonGround, options: Sequence[IssueOptions], *,
            overlaps: Sequence[BlindOverlap], trade_offs: Sequence[TradeOff],
            divergences: Sequence[Divergence]) -> tuple[AgendaItem, ...]:
    """Common ground first (strongest first), then trade-offs between issues, then divergences.

    Every issue is either common ground or a divergence; a trade-off pairs two issues already listed.
    """
    diverging = {d.issue.id for d in divergences}
    strength: dict[str, int] = defaultdict(int)
    for entry in options:
        strength[entry.issue.id] += 2 * len(entry.acceptable)
    for issue_id, count in _shared_on(common.shared_interests).items():
        strength[issue_id] += count
    for overlap in overlaps:
        strength[overlap.issue.id] += 2 if overlap.band.has_zone else 0
    order = {issue.id: index for index, issue in enumerate(issues)}
    ground = sorted((i for i in issues if strength[i.id] > 0 and i.id not in diverging),
                    key=lambda i: (-strength[i.id], order[i.id]))
    agenda = [AgendaItem(AgendaKind.COMMON_GROUND, (issue,)) for issue in ground]
    seen_pairs: set[frozenset[str]] = set()
    for trade in trade_offs:
        pair = frozenset({trade.first_issue.id, trade.second_issue.id})
        if pair not in seen_pairs:
            seen_pairs.add(pair)
            agenda.append(AgendaItem(AgendaKind.TRADE_OFF, (trade.first_issue, trade.second_issue)))
    agenda += [AgendaItem(AgendaKind.DIVERGENCE, (d.issue,)) for d in divergences]
    return tuple(agenda)


def _disclosure(party: _Party, issues: Sequence[Issue], mode: PriorityMode, detect: Detector) -> PartyDisclosure:
    answers = party.answers
    by_id = {issue.id: issue for issue in issues}
    items: list[DisclosedItem] = []
    for key in answers.answered(list(issues), mode):
        level = answers.share_level(key)
        issue = by_id.get(key.issue_id)
        if key.kind is ItemKind.POSITION:
            text = answers.positions[key.issue_id]
            items.append(DisclosedItem(key.kind, issue, level, text, language=detect(text)))
        elif key.kind is ItemKind.INTERESTS:
            interests = answers.interests[key.issue_id]
            items.append(DisclosedItem(key.kind, issue, level, interests.words, tuple(interests.categories),
                                       language=detect(interests.words) if interests.words else ""))
        elif key.kind is ItemKind.RATINGS and issue is not None:
            rated = tuple((option, answers.ratings[key.issue_id][option.id]) for option in issue.options
                          if option.id in answers.ratings[key.issue_id])
            items.append(DisclosedItem(key.kind, issue, level, "", ratings=rated))
        elif key.kind in {ItemKind.CBM_NEEDS, ItemKind.CBM_OFFER, ItemKind.CONSTITUENTS, ItemKind.ALTERNATIVE}:
            text = answers.texts[key.kind]
            items.append(DisclosedItem(key.kind, None, level, text, language=detect(text)))
    ranking = tuple(by_id[i] for i in answers.ranking if i in by_id) if answers.has(ItemKey(ItemKind.RANKING)) \
        else None
    points = tuple((issue, answers.points.get(issue.id, 0)) for issue in issues) \
        if answers.has(ItemKey(ItemKind.POINTS)) else None
    return PartyDisclosure(party.label, ranking, points, tuple(items))


def analyse(
    issues: Sequence[Issue],
    parties: Sequence[PartyView],
    *,
    mode: PriorityMode = PriorityMode.RANKING,
    audience: Audience = Audience.MEDIATOR,
    total_parties: int | None = None,
    detect: Detector = _no_language,
    match: Matcher = _no_matches,
    package_budget_s: float = 0.5,
) -> Analysis:
    """The overlap analysis of the submitted answers of ``parties`` for ``audience``.

    ``detect`` names the language of a text (ISO 639-1, or "" when unsure); ``match`` finds similar
    texts across languages. Both default to doing nothing so the analysis itself stays offline and fast.
    """
    seen = [_Party(p.label, visible_answers(p.answers, issues, mode, audience)) for p in parties]
    detect = functools.cache(detect)  # interest words are named both as holders and as disclosed items
    holders = _holders(seen, issues, detect)
    shared = _shared_interests(holders)
    options = tuple(_issue_options(issue, seen) for issue in issues if issue.options)
    compatible = tuple(entry.issue for entry in options
                       if any(RATING_SCORE[r.worst] >= RATING_SCORE[Rating.ACCEPTABLE] for r in entry.acceptable))
    common = CommonGround(shared, _matches(holders, match), compatible)
    priorities = tuple(PartyPriorities(p.label, priority_weights(p.answers, issues, mode)) for p in seen)
    trade_offs = _trade_offs(priorities, issues)
    packages = _packages(options, seen, priorities, package_budget_s)
    overlaps = blind_overlaps(issues, [p.answers.ranges for p in parties]) if audience is Audience.MEDIATOR else ()
    divergences = _divergences(issues, options, shared, overlaps, holders)
    agenda = _agenda(issues, common, options, overlaps=overlaps, trade_offs=trade_offs, divergences=divergences)
    return Analysis(
        audience=audience, issues=tuple(issues), parties=tuple(p.label for p in seen),
        total_parties=len(parties) if total_parties is None else total_parties, mode=mode, common_ground=common,
        options=options, priorities=priorities, trade_offs=trade_offs, packages=packages, overlaps=overlaps,
        divergences=divergences, agenda=agenda,
        disclosures=tuple(_disclosure(p, issues, mode, detect) for p in seen),
    )
