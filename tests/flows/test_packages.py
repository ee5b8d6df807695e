"""Package search: exact while small, a bounded search beyond, always Pareto-optimal packages."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flows.packages import search_packages


def _brute_force(matrices: list[np.ndarray]) -> dict[tuple[int, ...], np.ndarray]:
    return {picks: sum(m[p] for m, p in zip(matrices, picks, strict=True))
            for picks in itertools.product(*(range(len(m)) for m in matrices))}


def _dominated(utilities: np.ndarray, every: dict[tuple[int, ...], np.ndarray]) -> bool:
    u = np.round(utilities, 9)
    return any(bool(np.all(np.round(v, 9) >= u) and np.any(np.round(v, 9) > u)) for v in every.values())


matrices_strategy = st.integers(2, 4).flatmap(lambda parties: st.lists(
    st.lists(st.lists(st.integers(0, 3), min_size=parties, max_size=parties), min_size=1, max_size=4),
    min_size=1, max_size=4,
)).map(lambda issues: [np.array(issue, dtype=float) / 3 for issue in issues])


def test_logroll_gives_each_party_the_issue_it_cares_about() -> None:
    """A cares about X, B about Y: the package that serves the least satisfied gives each its own issue."""
    a_x, a_y, b_x, b_y = 0.8, 0.2, 0.2, 0.8
    ideal_for_a = [1.0, 1 / 3]  # option ratings as utilities: (A, B)
    ideal_for_b = [1 / 3, 1.0]
    x = np.array([[a_x * ideal_for_a[0], b_x * ideal_for_a[1]], [a_x * ideal_for_b[0], b_x * ideal_for_b[1]]])
    y = np.array([[a_y * ideal_for_a[0], b_y * ideal_for_a[1]], [a_y * ideal_for_b[0], b_y * ideal_for_b[1]]])
    result = search_packages([x, y])
    assert result.best is not None
    assert result.best.options == (0, 1)
    assert result.exact
    assert result.proven
    assert result.best.utilities == (0.8 + 0.2 / 3, 0.8 + 0.2 / 3)


@settings(max_examples=60, deadline=None)
@given(matrices_strategy)
def test_exact_search_matches_brute_force(matrices: list[np.ndarray]) -> None:
    """Enumeration finds the true maximin value, and every package it returns is Pareto-optimal."""
    every = _brute_force(matrices)
    result = search_packages(matrices)
    assert result.exact
    assert result.proven
    assert result.best is not None
    assert round(result.best.worst, 9) == round(max(float(v.min()) for v in every.values()), 9)
    for choice in result.frontier:
        assert np.allclose(every[choice.options], choice.utilities)
        assert not _dominated(np.array(choice.utilities), every)
    worsts = [round(c.worst, 9) for c in result.frontier]
    assert worsts == sorted(worsts, reverse=True)


# Local search reached (1.33, 1.33, 2) here, which (1.67, 1.33, 2) dominates: it must not be called Pareto-optimal.
_DOMINATED_BY_AN_UNSEEN_PACKAGE = [np.array(issue, dtype=float) / 3 for issue in [
    [[1, 0, 0]], [[0, 1, 3], [0, 2, 2]], [[0, 2, 3], [3, 1, 2]], [[3, 0, 1], [1, 2, 1]]]]


@settings(max_examples=40, deadline=None)
@given(matrices_strategy)
@example(_DOMINATED_BY_AN_UNSEEN_PACKAGE)
def test_bounded_search_is_honest_about_its_result(matrices: list[np.ndarray]) -> None:
    """Forced off enumeration: the bound is a true upper bound, 'proven' only when the optimum is met, every
    package called Pareto-optimal is, and the best package found is at least as good for the least satisfied."""
    every = _brute_force(matrices)
    optimum = max(float(v.min()) for v in every.values())
    result = search_packages(matrices, exact_limit=0)
    assert result.best is not None
    assert not result.exact
    assert result.bound is not None
    assert result.bound >= optimum - 1e-9
    assert result.best.worst <= optimum + 1e-9
    if result.proven:
        assert abs(result.best.worst - optimum) < 1e-9
    for choice in result.frontier:
        assert not _dominated(np.array(choice.utilities), every)
        assert choice.worst <= result.best.worst + 1e-9


def test_bounded_search_finds_the_optimum_on_enumerable_cases() -> None:
    """On 30 random cases of 4 parties × 7 issues × 4 options the search reaches the exact optimum."""
    rng = np.random.default_rng(7)
    reached = 0
    for _ in range(30):
        weights = rng.dirichlet(np.ones(7), size=4)
        matrices = [np.array([[weights[p, i] * rng.integers(1, 4) / 3 for p in range(4)] for _ in range(4)])
                    for i in range(7)]
        exact = search_packages(matrices)
        found = search_packages(matrices, exact_limit=0)
        assert exact.best is not None
        assert found.best is not None
        reached += abs(found.best.worst - exact.best.worst) < 1e-9
    assert reached >= 28


def test_empty_input_gives_no_package() -> None:
    assert search_packages([]).best is None
    assert search_packages([np.zeros((0, 2))]).best is None
