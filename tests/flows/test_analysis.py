"""The overlap analysis: what it finds, and that it reads only what each audience may read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flows.analysis import (
    AgendaKind,
    Audience,
    OverlapBand,
    analyse,
    blind_overlaps,
    priority_weights,
    visible_answers,
)
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
    Scale,
    ShareLevel,
)

WELL, PUMP, TRUCK = Option("o1", "A new well"), Option("o2", "A shared pump"), Option("o3", "Water trucks")
CORRIDOR, FENCE = Option("o4", "A marked corridor"), Option("o5", "A fence")
WATER = Issue("water", "Water", options=(WELL, PUMP, TRUCK))
GRAZING = Issue("grazing", "Grazing", options=(CORRIDOR, FENCE))
MONEY = Issue("money", "Compensation", scale=Scale("USD", Decimal(0), Decimal(10_000)))
SCHOOL = Issue("school", "School")
ISSUES = [WATER, GRAZING, MONEY, SCHOOL]
R = Rating


def _answers(**overrides: object) -> CaucusAnswers:
    answers = CaucusAnswers(
        positions={issue.id: f"position on {issue.id}" for issue in ISSUES},
        interests={"water": Interests([InterestCategory.LIVELIHOOD], "our cattle need water"),
                   "school": Interests([InterestCategory.IDENTITY], "our language in school")},
        ratings={"water": {"o1": R.IDEAL, "o2": R.ACCEPTABLE, "o3": R.UNACCEPTABLE},
                 "grazing": {"o4": R.ACCEPTABLE, "o5": R.LIVE_WITH}},
        ranking=["water", "grazing", "money", "school"],
        ranges={"money": Range(Decimal(1000), Decimal(5000), Decimal(4000))},
    )
    for name, value in overrides.items():
        setattr(answers, name, value)
    return answers


def _party(label: str, **overrides: object) -> PartyView:
    return PartyView(label, label, _answers(**overrides))


def test_options_all_can_accept_are_ranked_by_worst_then_product_then_sum() -> None:
    """Unacceptable to one party excludes an option; the rest rank by maximin, Nash product, then sum."""
    a = _party("A")
    b = _party("B", ratings={"water": {"o1": R.LIVE_WITH, "o2": R.ACCEPTABLE, "o3": R.IDEAL},
                             "grazing": {"o4": R.IDEAL, "o5": R.ACCEPTABLE}})
    c = _party("C", ratings={"water": {"o1": R.IDEAL, "o2": R.ACCEPTABLE, "o3": R.IDEAL},
                             "grazing": {"o4": R.ACCEPTABLE, "o5": R.IDEAL}})
    analysis = analyse(ISSUES, [a, b, c])
    water, grazing = analysis.options
    assert [r.option for r in water.acceptable] == [PUMP, WELL]  # worst: acceptable beats could-live-with
    assert next(r.ratings for r in water.acceptable) == (R.ACCEPTABLE,) * 3
    # Corridor: worst acceptable, product 2·3·2 = 12; fence: worst could-live-with.
    assert [r.option for r in grazing.acceptable] == [CORRIDOR, FENCE]
    assert analysis.common_ground.compatible_issues == (WATER, GRAZING)


def test_same_worst_rating_is_broken_by_product_then_sum() -> None:
    """Two options with the same worst rating: the larger product (Nash) comes first."""
    a = _party("A", ratings={"water": {"o1": R.IDEAL, "o2": R.ACCEPTABLE, "o3": R.LIVE_WITH}, "grazing": {}})
    b = _party("B", ratings={"water": {"o1": R.LIVE_WITH, "o2": R.ACCEPTABLE, "o3": R.IDEAL}, "grazing": {}})
    water = analyse(ISSUES, [a, b]).options[0]
    # o2: 2·2 = 4, o1: 3·1 = 3, o3: 1·3 = 3; o1 and o3 tie on product and sum: issue order.
    assert [r.option for r in water.acceptable] == [PUMP, WELL, TRUCK]


def test_options_are_not_listed_when_one_party_kept_its_ratings_private() -> None:
    """With one party's ratings private, the list would reveal them: it stays empty, with the count."""
    a = _party("A")
    b = _party("B")
    b.answers.share[ItemKey(ItemKind.RATINGS, "water")] = ShareLevel.PRIVATE
    water = analyse(ISSUES, [a, b]).options[0]
    assert (water.shared, water.parties, water.acceptable) == (1, 2, ())


def test_shared_interests_need_two_parties_and_visible_items() -> None:
    """A category counts as shared only when two parties let the audience read it."""
    a, b = _party("A"), _party("B")
    analysis = analyse(ISSUES, [a, b])
    assert {s.category for s in analysis.common_ground.shared_interests} == {
        InterestCategory.LIVELIHOOD, InterestCategory.IDENTITY}
    b.answers.share[ItemKey(ItemKind.INTERESTS, "water")] = ShareLevel.PRIVATE
    analysis = analyse(ISSUES, [a, b])
    assert {s.category for s in analysis.common_ground.shared_interests} == {InterestCategory.IDENTITY}
    joint = analyse(ISSUES, [a, b], audience=Audience.JOINT)
    assert joint.common_ground.shared_interests == ()  # nothing was marked for the joint session


def test_trade_offs_pair_discordant_priorities() -> None:
    """A ranks water first, B grazing first: a trade-off between water and grazing is proposed."""
    a = _party("A", ranking=["water", "grazing", "money", "school"])
    b = _party("B", ranking=["grazing", "water", "money", "school"])
    trades = analyse(ISSUES, [a, b]).trade_offs
    assert trades
    first = trades[0]
    assert (first.first, first.first_issue, first.second, first.second_issue) == ("A", WATER, "B", GRAZING)


def test_priority_weights_from_points_and_ranking() -> None:
    """100 points are taken as given; a ranking of n issues gives Borda weights n..1, normalised."""
    points = CaucusAnswers(points={"water": 50, "grazing": 30, "money": 20, "school": 0})
    assert priority_weights(points, ISSUES, PriorityMode.POINTS) == {
        "water": 0.5, "grazing": 0.3, "money": 0.2, "school": 0.0}
    ranked = CaucusAnswers(ranking=["school", "money", "grazing", "water"])
    assert priority_weights(ranked, ISSUES, PriorityMode.RANKING) == {
        "school": 0.4, "money": 0.3, "grazing": 0.2, "water": 0.1}
    assert priority_weights(CaucusAnswers(), ISSUES, PriorityMode.RANKING) is None


def test_package_gives_the_least_satisfied_party_the_most() -> None:
    """The best package is the maximin one; a party with private priorities stops the package search."""
    a = _party("A", ranking=["water", "grazing", "money", "school"],
               ratings={"water": {"o1": R.IDEAL, "o2": R.LIVE_WITH, "o3": R.UNACCEPTABLE},
                        "grazing": {"o4": R.IDEAL, "o5": R.LIVE_WITH}})
    b = _party("B", ranking=["grazing", "water", "money", "school"],
               ratings={"water": {"o1": R.LIVE_WITH, "o2": R.IDEAL, "o3": R.IDEAL},
                        "grazing": {"o4": R.IDEAL, "o5": R.IDEAL}})
    search = analyse(ISSUES, [a, b]).packages
    assert search.exact
    assert search.proven
    assert search.best is not None
    assert search.best.choices == ((WATER, WELL), (GRAZING, CORRIDOR))
    b.answers.share[ItemKey(ItemKind.RANKING)] = ShareLevel.PRIVATE
    hidden = analyse(ISSUES, [a, b]).packages
    assert hidden.missing == ("B",)
    assert hidden.packages == ()


def _with_range(label: str, low: int, high: int) -> PartyView:
    return _party(label, ranges={"money": Range(Decimal(low), Decimal(high), Decimal(low))})


@pytest.mark.parametrize(("ranges", "band"), [
    ([(0, 1000), (2000, 3000)], OverlapBand.NONE),
    ([(0, 2000), (1500, 3000)], OverlapBand.NARROW),  # 500 of 10,000: 5 %
    ([(0, 3000), (1000, 4000)], OverlapBand.MODERATE),  # 2,000: 20 %
    ([(0, 8000), (2000, 9000)], OverlapBand.WIDE),  # 6,000: 60 %
    ([(0, 2000), (2000, 3000)], OverlapBand.NARROW),  # touching at one value
    ([(0, 2000)], OverlapBand.NOT_ENOUGH),
])
def test_blind_overlap_bands(ranges: list[tuple[int, int]], band: OverlapBand) -> None:
    parties = [_with_range(f"P{i}", low, high) for i, (low, high) in enumerate(ranges)]
    (overlap,) = blind_overlaps(ISSUES, [p.answers.ranges for p in parties])
    assert overlap.band is band
    assert overlap.answered == len(ranges)


def test_ranges_reach_only_the_mediator_analysis() -> None:
    """The joint analysis has no overlap; neither audience's copy of the answers holds a range."""
    a, b = _with_range("A", 0, 3000), _with_range("B", 1000, 4000)
    assert analyse(ISSUES, [a, b]).overlaps[0].band is OverlapBand.MODERATE
    assert analyse(ISSUES, [a, b], audience=Audience.JOINT).overlaps == ()
    for audience in Audience:
        assert visible_answers(a.answers, ISSUES, PriorityMode.RANKING, audience).ranges == {}


def test_divergences_and_agenda_order() -> None:
    """An issue with no acceptable option, no shared interest and no range overlap diverges and comes last."""
    a = _party("A", ranges={"money": Range(Decimal(0), Decimal(1000), Decimal(0))},
               ratings={"water": {"o1": R.IDEAL, "o2": R.UNACCEPTABLE, "o3": R.UNACCEPTABLE},
                        "grazing": {"o4": R.IDEAL, "o5": R.UNACCEPTABLE}})
    b = _party("B", ranking=["grazing", "water", "money", "school"],
               ranges={"money": Range(Decimal(5000), Decimal(9000), Decimal(9000))},
               ratings={"water": {"o1": R.ACCEPTABLE, "o2": R.IDEAL, "o3": R.IDEAL},
                        "grazing": {"o4": R.UNACCEPTABLE, "o5": R.IDEAL}})
    analysis = analyse(ISSUES, [a, b])
    assert [d.issue for d in analysis.divergences] == [GRAZING, MONEY]
    kinds = [item.kind for item in analysis.agenda]
    assert kinds == sorted(kinds, key=[AgendaKind.COMMON_GROUND, AgendaKind.TRADE_OFF,
                                       AgendaKind.DIVERGENCE].index)
    assert [item.issues for item in analysis.agenda if item.kind is AgendaKind.COMMON_GROUND] == [
        (WATER,), (SCHOOL,)]  # water: an acceptable option; school: a shared interest
    assert analysis.divergences[1].interests == ()


def test_joint_audience_reads_only_joint_items() -> None:
    """Items marked for the mediator stay out of the joint analysis; joint items are quoted."""
    a, b = _party("A"), _party("B")
    for party in (a, b):
        party.answers.share[ItemKey(ItemKind.INTERESTS, "school")] = ShareLevel.JOINT
    a.answers.share[ItemKey(ItemKind.POSITION, "water")] = ShareLevel.JOINT
    joint = analyse(ISSUES, [a, b], audience=Audience.JOINT)
    assert [s.category for s in joint.common_ground.shared_interests] == [InterestCategory.IDENTITY]
    assert [(i.kind, i.text) for i in joint.disclosures[0].items] == [
        (ItemKind.POSITION, "position on water"), (ItemKind.INTERESTS, "our language in school")]
    assert joint.packages.missing == ("A", "B")  # rankings were for the mediator only
    assert all(not entry.acceptable for entry in joint.options)


def test_matches_across_parties_only() -> None:
    """The matcher's pairs within one party are dropped; pairs across parties are kept, best first."""
    a, b = _party("A"), _party("B")

    def match(entries: object) -> list[tuple[int, int, float]]:
        return [(0, 1, 0.9), (0, 2, 0.8), (1, 3, 0.95)]  # A/A, A/B, A/B by holder order

    matches = analyse(ISSUES, [a, b], match=match).common_ground.matches
    assert [(m.first.party, m.second.party, m.similarity) for m in matches] == [("A", "B", 0.95), ("A", "B", 0.8)]
