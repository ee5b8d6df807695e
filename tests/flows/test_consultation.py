"""Consultation scale: opinion groups, group-informed consensus and hostile inputs (DESIGN.md §5)."""

from __future__ import annotations

import itertools
import random
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import consultation
from flows.consultation import (
    AGREE,
    DISAGREE,
    PASS,
    ConsultationResult,
    ConsultationSettings,
    InvalidVotes,
    PlantedConsultation,
    Votes,
    adjusted_rand_index,
    analyse_consultation,
    planted_votes,
)
from flows.errors import FlowError


def votes_of(triples: list[tuple[int, int, int]], n_participants: int, n_statements: int) -> Votes:
    """Votes from (participant, statement, value) triples."""
    columns = np.array(triples, dtype=np.int64).reshape(-1, 3).T
    return Votes(columns[0], columns[1], columns[2], n_participants, n_statements)


def same_result(first: ConsultationResult, second: ConsultationResult) -> bool:
    """Every field equal, arrays element by element."""
    for field in fields(ConsultationResult):
        a, b = getattr(first, field.name), getattr(second, field.name)
        if isinstance(a, np.ndarray):
            if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b):
                return False
        elif a != b:
            return False
    return True


def planted_of_found(planted: PlantedConsultation, result: ConsultationResult) -> dict[int, int]:
    """Each found group's planted group: the one most of its members come from."""
    return {group: int(np.bincount(planted.groups[result.labels == group]).argmax())
            for group in range(result.n_groups)}


@pytest.fixture(scope="module")
def planted() -> PlantedConsultation:
    return planted_votes(1500, 120, 30_000, seed=7)


@pytest.fixture(scope="module")
def result(planted: PlantedConsultation) -> ConsultationResult:
    return analyse_consultation(planted.votes)


def test_planted_groups_are_recovered(planted: PlantedConsultation, result: ConsultationResult) -> None:
    """Three planted opinion groups come back as three groups, matching the plant with ARI ≥ 0.9."""
    grouped = result.labels >= 0
    assert result.n_groups == 3
    assert [k for k, _ in result.silhouettes] == [2, 3, 4, 5, 6]
    assert result.silhouette == max(score for _, score in result.silhouettes)
    assert adjusted_rand_index(planted.groups[grouped], result.labels[grouped]) >= 0.9
    assert sorted(planted_of_found(planted, result).values()) == [0, 1, 2]
    assert list(result.group_sizes) == sorted(result.group_sizes, reverse=True)


def test_planted_consensus_ranks_first(planted: PlantedConsultation, result: ConsultationResult) -> None:
    """The statements every group agrees with have broad agreement and the highest consensus scores."""
    count = len(planted.consensus)
    assert set(result.broad_agreement[:count]) == set(planted.consensus)
    top = np.argsort(-result.agree_consensus, kind="stable")[:count]
    assert set(top.tolist()) == set(planted.consensus)
    assert not set(result.broad_disagreement) & set(planted.consensus)


def test_consensus_is_the_product_of_smoothed_group_rates(result: ConsultationResult) -> None:
    """Each score is ∏ over groups of (agrees + 1) / (votes + 2), and the same for disagreements."""
    agree = np.prod((result.group_agrees + 1) / (result.group_votes + 2), axis=0)
    disagree = np.prod((result.group_disagrees + 1) / (result.group_votes + 2), axis=0)
    np.testing.assert_allclose(result.agree_consensus, agree)
    np.testing.assert_allclose(result.disagree_consensus, disagree)
    for statement in result.broad_agreement:
        assert np.all(2 * result.group_agrees[:, statement] > result.group_votes[:, statement])
    scores = result.agree_consensus[list(result.broad_agreement)]
    assert np.all(np.diff(scores) <= 0)


def test_each_group_is_represented_by_where_it_stands_apart(planted: PlantedConsultation,
                                                            result: ConsultationResult) -> None:
    """A group's representative statements are those on which its planted leaning differs from all others."""
    origin = planted_of_found(planted, result)
    for group, chosen in enumerate(result.representatives):
        assert len(chosen) == 5
        own = planted.stances[origin[group]]
        others = np.delete(planted.stances, origin[group], axis=0)
        for representative in chosen:
            leaning = AGREE if representative.agrees else DISAGREE
            assert own[representative.statement] == leaning
            assert np.all(others[:, representative.statement] == -leaning)
            assert representative.in_group > 0.5
            assert representative.ratio > 1
            assert representative.votes >= 5


def test_group_counts_add_up(planted: PlantedConsultation, result: ConsultationResult) -> None:
    """Group tallies count exactly the grouped participants' votes, each once."""
    votes = planted.votes
    grouped_votes = result.labels[votes.participants] >= 0
    assert result.group_votes.sum() == grouped_votes.sum()
    assert result.group_agrees.sum() == (grouped_votes & (votes.values == AGREE)).sum()
    assert result.group_disagrees.sum() == (grouped_votes & (votes.values == DISAGREE)).sum()
    assert result.group_sizes.sum() == (result.labels >= 0).sum() == votes.n_participants - result.ungrouped


def test_pca_matches_a_dense_svd_and_scales_sparse_voters(planted: PlantedConsultation,
                                                           result: ConsultationResult) -> None:
    """The axes are the dense centred matrix's leading singular vectors; projections are scaled by √(n/votes)."""
    votes = planted.votes
    n_participants, n_statements = votes.n_participants, votes.n_statements
    seen = np.bincount(votes.statements, minlength=n_statements)
    means = np.bincount(votes.statements, weights=votes.values, minlength=n_statements) / np.maximum(seen, 1)
    dense = np.zeros((n_participants, n_statements))
    dense[votes.participants, votes.statements] = votes.values - means[votes.statements]
    cast = np.bincount(votes.participants, minlength=n_participants)
    axes = np.linalg.svd(dense[cast >= result.min_votes], full_matrices=False)[2][:2]
    for found, exact in zip(result.components, axes, strict=True):
        assert abs(float(found @ exact)) > 0.999
    scale = np.sqrt(n_statements / np.maximum(cast, 1))[:, None]
    np.testing.assert_allclose(result.projection, dense @ result.components.T * scale, atol=1e-9)


def test_same_seed_same_result(planted: PlantedConsultation, result: ConsultationResult) -> None:
    """Everything is deterministic given the seed; another seed finds the same groups."""
    assert same_result(result, analyse_consultation(planted.votes))
    other = analyse_consultation(planted.votes, ConsultationSettings(seed=11))
    grouped = result.labels >= 0
    assert adjusted_rand_index(result.labels[grouped], other.labels[grouped]) >= 0.95


def test_vote_order_does_not_matter(planted: PlantedConsultation, result: ConsultationResult) -> None:
    """Shuffled or sorted, the same distinct votes give the identical result."""
    votes = planted.votes
    for order in (np.random.default_rng(3).permutation(len(votes)),
                  np.lexsort((votes.statements, votes.participants))):
        moved = Votes(votes.participants[order], votes.statements[order], votes.values[order],
                      votes.n_participants, votes.n_statements)
        assert same_result(result, analyse_consultation(moved))


def test_the_wide_key_fallback_sorts_alike(planted: PlantedConsultation, result: ConsultationResult,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """When (participant, statement, position) cannot share one int64, a stable argsort gives the same result."""
    monkeypatch.setattr(consultation, "_PACKED_BITS", 0)
    votes = planted.votes
    order = np.random.default_rng(5).permutation(len(votes))
    doubled = np.concatenate([order[:100], order])  # repeats: the later vote, the same, wins
    moved = Votes(votes.participants[doubled], votes.statements[doubled], votes.values[doubled],
                  votes.n_participants, votes.n_statements)
    assert same_result(result, analyse_consultation(moved))


def test_result_arrays_are_read_only(result: ConsultationResult) -> None:
    """A frozen result cannot be changed through its arrays either."""
    with pytest.raises(ValueError, match="read-only"):
        result.labels[0] = 5
    with pytest.raises(ValueError, match="read-only"):
        result.agree_consensus[0] = 1.0


def test_a_later_vote_replaces_an_earlier_one() -> None:
    """A participant who changes their mind counts once, with their last vote."""
    triples = [(p, s, AGREE) for p in range(4) for s in range(4)]
    changed = analyse_consultation(votes_of([*triples, (0, 0, DISAGREE)], 4, 4))
    assert changed.group_votes.sum() == 16
    assert changed.group_disagrees.sum() == 1
    restored = analyse_consultation(votes_of([*triples, (0, 0, DISAGREE), (0, 0, AGREE)], 4, 4))
    assert same_result(restored, analyse_consultation(votes_of(triples, 4, 4)))


def test_participants_with_too_few_votes_are_left_ungrouped() -> None:
    """Fewer than min_votes votes: label -1, counted as ungrouped, in no group's tallies."""
    triples = [(p, s, AGREE if (p < 5) == (s % 2 == 0) else DISAGREE) for p in range(10) for s in range(6)]
    triples += [(10, 0, AGREE), (10, 1, AGREE), (11, 2, DISAGREE)]
    result = analyse_consultation(votes_of(triples, 13, 6))
    assert result.labels[10] == result.labels[11] == result.labels[12] == -1
    assert result.ungrouped == 3
    assert result.min_votes == 3
    assert result.n_groups == 2
    assert result.group_votes.sum() == 60
    assert np.all(result.projection[12] == 0)  # no vote: at the origin
    relaxed = analyse_consultation(votes_of(triples, 13, 6), ConsultationSettings(min_votes=1))
    assert relaxed.ungrouped == 1
    assert relaxed.labels[10] >= 0


def test_two_opposed_camps_have_no_broad_agreement() -> None:
    """When two camps vote opposite on everything, nothing has broad agreement and each camp is represented."""
    triples = [(p, s, AGREE if (p < 5) == (s % 2 == 0) else DISAGREE) for p in range(10) for s in range(6)]
    result = analyse_consultation(votes_of(triples, 10, 6), ConsultationSettings(representative_min_votes=3))
    assert result.n_groups == 2
    assert adjusted_rand_index(result.labels, np.repeat([0, 1], 5)) == 1.0
    assert result.broad_agreement == result.broad_disagreement == ()
    assert all(len(chosen) == 5 for chosen in result.representatives)


def test_no_votes() -> None:
    """No votes at all (with or without participants and statements): no group, no consensus, no crash."""
    for n_participants, n_statements in ((0, 0), (5, 0), (0, 4), (5, 4)):
        result = analyse_consultation(votes_of([], n_participants, n_statements))
        assert result.n_groups == 0
        assert result.ungrouped == n_participants
        assert result.silhouette is None
        assert np.all(result.labels == -1)
        assert result.projection.shape == (n_participants, 2)
        assert result.components.shape == (2, n_statements)
        assert result.group_votes.shape == (0, n_statements)
        assert np.all(result.agree_consensus == 0)
        assert result.broad_agreement == result.broad_disagreement == ()
        assert result.representatives == ()


def test_one_participant() -> None:
    """One voter makes one group; nothing can represent it against no one."""
    result = analyse_consultation(votes_of([(0, 0, AGREE), (0, 1, DISAGREE), (0, 2, PASS)], 1, 3))
    assert result.n_groups == 1
    assert result.labels.tolist() == [0]
    assert result.silhouette is None
    assert result.broad_agreement == (0,)
    assert result.broad_disagreement == (1,)
    assert result.representatives == ((),)


def test_one_statement() -> None:
    """With one statement nobody reaches three votes; with min_votes=1 the three answers are the groups."""
    triples = [(p, 0, (AGREE, DISAGREE, PASS)[p % 3]) for p in range(9)]
    assert analyse_consultation(votes_of(triples, 9, 1)).n_groups == 0
    result = analyse_consultation(votes_of(triples, 9, 1), ConsultationSettings(min_votes=1))
    assert result.n_groups == 3
    assert adjusted_rand_index(result.labels, np.arange(9) % 3) == 1.0
    assert np.all(result.components[1] == 0)  # one statement, one axis


@pytest.mark.parametrize("value", [PASS, AGREE, DISAGREE])
def test_everyone_votes_alike(value: int) -> None:
    """All passes, or all the same vote: no spread, one group, at the origin."""
    result = analyse_consultation(votes_of([(p, s, value) for p in range(20) for s in range(5)], 20, 5))
    assert result.n_groups == 1
    assert np.all(result.labels == 0)
    assert np.all(result.projection == 0)
    assert np.all(result.components == 0)
    assert result.broad_agreement == (tuple(range(5)) if value == AGREE else ())
    assert result.broad_disagreement == (tuple(range(5)) if value == DISAGREE else ())


def test_fewer_participants_than_groups() -> None:
    """Two different voters and min_groups=3: at most as many groups as distinct positions."""
    triples = [(0, s, AGREE) for s in range(4)] + [(1, s, DISAGREE) for s in range(4)]
    result = analyse_consultation(votes_of(triples, 2, 4), ConsultationSettings(min_groups=3, max_groups=5))
    assert result.n_groups == 2
    assert result.silhouettes == ((2, 0.0),)  # each alone in its group
    assert sorted(result.labels.tolist()) == [0, 1]


@pytest.mark.parametrize(
    ("participants", "statements", "values", "message"),
    [
        ([0, 3], [0, 0], [1, 1], r"participants must lie in 0\.\.2, got values from 0 to 3"),
        ([0, -1], [0, 0], [1, 1], r"participants must lie in 0\.\.2"),
        ([0, 1], [0, 5], [1, 1], r"statements must lie in 0\.\.1"),
        ([0, 1], [0, 1], [1, 2], r"values must be -1 \(disagree\), 0 \(pass\) or 1 \(agree\), got 2"),
        ([0, 1], [0, 1], [-3, 1], r"got -3"),
        ([0, 1], [0, 1], [1.0, 1.0], r"values must be integers, got float64"),
        ([0.0, 1.0], [0, 1], [1, 1], r"participants must be integers"),
        ([[0, 1]], [0, 1], [1, 1], r"participants must be a 1-D array"),
        ([0, 1], [0, 1], [1], r"one entry per vote, got lengths 2, 2 and 1"),
    ],
)
def test_invalid_votes_are_refused(participants: list[object], statements: list[object], values: list[object],
                                   message: str) -> None:
    """Out-of-range indices, unknown vote values and malformed arrays raise a precise ValueError."""
    with pytest.raises(InvalidVotes, match=message) as raised:
        Votes(np.array(participants), np.array(statements), np.array(values), 3, 2)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, FlowError)


@pytest.mark.parametrize(("n_participants", "n_statements"),
                         [(-1, 2), (2, -1), (1.5, 2), (True, 2), (1 << 40, 1 << 30)])
def test_invalid_sizes_are_refused(n_participants: object, n_statements: object) -> None:
    """The numbers of participants and statements must be small whole numbers ≥ 0."""
    with pytest.raises(InvalidVotes):
        Votes(np.array([0]), np.array([0]), np.array([1]), n_participants, n_statements)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [{"min_votes": 0}, {"min_groups": 1}, {"max_groups": 1}, {"silhouette_sample": 1}, {"kmeans_restarts": 0},
     {"seed": -1}, {"oversampling": 1.5}, {"min_votes": True}],
)
def test_invalid_settings_are_refused(changes: dict[str, object]) -> None:
    """Settings fail at construction, naming the setting."""
    with pytest.raises(ValueError, match=next(iter(changes))):
        ConsultationSettings(**changes)  # type: ignore[arg-type]


def test_the_callers_arrays_are_not_frozen() -> None:
    """Votes keeps read-only views: the caller's own arrays stay writable."""
    participants = np.array([0, 1], dtype=np.intp)
    votes = Votes(participants, np.array([0, 1]), np.array([1, -1]), 2, 2)
    participants[0] = 1
    assert not votes.participants.flags.writeable
    assert votes.values.dtype == np.int8


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ([0, 0, 1, 1], [0, 0, 1, 1], 1.0),
        ([0, 0, 1, 1], [5, 5, -1, -1], 1.0),
        ([0, 0, 1, 2], [0, 0, 1, 1], 0.5714285714285714),
        ([0, 0, 0, 0], [0, 1, 2, 3], 0.0),
        ([0, 0, 1, 1], [0, 1, 0, 1], -0.5),
        ([3, 3, 3], [1, 1, 1], 1.0),
        ([], [], 1.0),
    ],
)
def test_adjusted_rand_index_known_values(first: list[int], second: list[int], expected: float) -> None:
    """Textbook values: identical or relabelled groupings 1, chance 0, worse than chance negative."""
    assert adjusted_rand_index(np.array(first, dtype=np.intp), np.array(second, dtype=np.intp)) == pytest.approx(
        expected)


def pair_counting_ari(first: list[int], second: list[int]) -> float:
    """Hubert and Arabie's ARI straight from its definition over all pairs of items."""
    pairs = list(itertools.combinations(range(len(first)), 2))
    same_first = [first[i] == first[j] for i, j in pairs]
    same_second = [second[i] == second[j] for i, j in pairs]
    both = sum(a and b for a, b in zip(same_first, same_second, strict=True))
    expected = sum(same_first) * sum(same_second) / len(pairs)
    best = (sum(same_first) + sum(same_second)) / 2
    return 1.0 if best == expected else (both - expected) / (best - expected)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-2, 2)), min_size=2, max_size=25))
def test_adjusted_rand_index_matches_pair_counting(labels: list[tuple[int, int]]) -> None:
    """The contingency-table formula agrees with counting pairs one by one."""
    first, second = [a for a, _ in labels], [b for _, b in labels]
    found = adjusted_rand_index(np.array(first, dtype=np.intp), np.array(second, dtype=np.intp))
    assert found == pytest.approx(pair_counting_ari(first, second))


@st.composite
def consultations(draw: st.DrawFn) -> tuple[list[tuple[int, int, int]], int, int]:
    """Small consultations of distinct votes: any participants, statements and values."""
    n_participants, n_statements = draw(st.integers(0, 8)), draw(st.integers(0, 6))
    if not n_participants or not n_statements:
        return [], n_participants, n_statements
    cells = draw(st.lists(st.tuples(st.integers(0, n_participants - 1), st.integers(0, n_statements - 1)),
                          unique=True, max_size=n_participants * n_statements))
    values = draw(st.lists(st.sampled_from([AGREE, PASS, DISAGREE]), min_size=len(cells), max_size=len(cells)))
    return [(p, s, v) for (p, s), v in zip(cells, values, strict=True)], n_participants, n_statements


@settings(deadline=None, max_examples=60)
@given(consultations(), st.randoms(use_true_random=False), st.integers(1, 3))
def test_any_small_consultation_is_analysed_and_order_does_not_matter(
        consultation: tuple[list[tuple[int, int, int]], int, int], shuffle: random.Random, min_votes: int) -> None:
    """Any small vote set gives a well-formed result (no warning, no crash), identical in any vote order."""
    triples, n_participants, n_statements = consultation
    options = ConsultationSettings(min_votes=min_votes, kmeans_restarts=2)
    result = analyse_consultation(votes_of(triples, n_participants, n_statements), options)
    shuffled = list(triples)
    shuffle.shuffle(shuffled)
    assert same_result(result, analyse_consultation(votes_of(shuffled, n_participants, n_statements), options))

    cast = np.bincount(np.array([p for p, _, _ in triples], dtype=np.intp), minlength=n_participants)
    assert np.array_equal(result.labels < 0, cast < min_votes)
    assert set(result.labels.tolist()) <= set(range(-1, result.n_groups))
    assert result.group_sizes.tolist() == [int((result.labels == g).sum()) for g in range(result.n_groups)]
    assert all(size > 0 for size in result.group_sizes)
    assert np.all(np.isfinite(result.projection))
    assert np.all((result.agree_consensus >= 0) & (result.agree_consensus <= 1))
    assert result.silhouette is None or -1 <= result.silhouette <= 1
    assert len(result.representatives) == result.n_groups
    for statement in result.broad_agreement:
        assert np.all(2 * result.group_agrees[:, statement] > result.group_votes[:, statement])
