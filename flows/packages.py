"""Package search: one option per issue, scored by each party's additive utility (DESIGN.md §5).

A package picks one option on every issue. Each party's utility for a package is the sum,
over the issues, of that party's utility for the option picked there, so the problem is
given as one matrix per issue (options × parties). Two answers are wanted:

- the Pareto frontier: packages no other package improves for one party without hurting another;
- the maximin package: the one that does best for the least satisfied party.

While the packages are few they are all enumerated and both answers are exact. Beyond that, a
Lagrangian search runs under a time budget: for party weights λ on the simplex, the package
maximising λ·U is found issue by issue (the sum separates), is Pareto-optimal when every weight
is positive, and λ·U of that package bounds the maximin value from above. The weights move
towards the least satisfied party; a local search then improves the best package found. The
result says whether its optimality is proven (the bound is met) and how far the bound is. Only
the weighted optima are reported as the frontier: a package found by local search may be
dominated by one it never met, so it is reported as the best found, not as Pareto-optimal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["EXACT_LIMIT", "PackageChoice", "SearchResult", "search_packages"]

# Enumerate every package while there are at most this many (after dominated options are dropped).
EXACT_LIMIT = 20_000
# Utilities are compared at this precision, so sums of floats that should tie do tie.
_DECIMALS = 9
_TOLERANCE = 1e-9
# How many of the best packages met by the Lagrangian search are improved by local search, time permitting.
_LOCAL_STARTS = 32
# At most this many perturbations of the best package are tried after that, time permitting.
_KICKS = 300

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class PackageChoice:
    """One package: the option index picked on each issue, and each party's utility."""

    options: tuple[int, ...]
    utilities: tuple[float, ...]

    @property
    def worst(self) -> float:
        return min(self.utilities)


@dataclass(frozen=True)
class SearchResult:
    """Pareto-optimal packages (the maximin one first) and the best package found for the least satisfied
    party, with how sure the search is of it. Exact results have ``best`` first on the frontier; a bounded
    search's ``best`` may be a package it cannot show to be Pareto-optimal, then it is not on the frontier."""

    frontier: tuple[PackageChoice, ...]
    best: PackageChoice | None
    exact: bool  # every package was enumerated
    proven: bool  # the best package's worst utility is proven maximal
    bound: float | None  # an upper bound on the best worst utility
    packages: int  # how many packages there are (after dominated options are dropped)


def _undominated(matrix: Matrix) -> list[int]:
    """Rows that no other row weakly beats for every party (the first of equal rows is kept)."""
    rows = np.round(matrix, _DECIMALS)
    keep: list[int] = []
    for index, row in enumerate(rows):
        at_least = np.all(rows >= row, axis=1)
        better = np.any(rows > row, axis=1)
        dominated = bool(np.any(at_least & better))
        duplicate = any(np.array_equal(rows[kept], row) for kept in keep)
        if not dominated and not duplicate:
            keep.append(index)
    return keep


def _undominated_rows(points: Matrix, candidates: NDArray[np.intp], limit: int) -> list[int]:
    """The first ``limit`` of ``candidates`` (in their order) that no row of ``points`` dominates."""
    rounded = np.round(points, _DECIMALS)
    found: list[int] = []
    seen: set[bytes] = set()
    for index in candidates:
        row = rounded[index]
        if row.tobytes() in seen:
            continue  # an equal package was kept already
        if not bool(np.any(np.all(rounded >= row, axis=1) & np.any(rounded > row, axis=1))):
            found.append(int(index))
            seen.add(row.tobytes())
            if len(found) == limit:
                break
    return found


def _best_first(points: Matrix) -> NDArray[np.intp]:
    """Row indices, best for the least satisfied party first, then by total utility."""
    rounded = np.round(points, _DECIMALS)
    return np.lexsort((-rounded.sum(axis=1), -rounded.min(axis=1)))


def _ranked(choices: list[PackageChoice], limit: int) -> tuple[PackageChoice, ...]:
    """Best for the least satisfied party first, then by total utility, then by option indices."""
    return tuple(sorted(choices, key=lambda c: (-round(c.worst, _DECIMALS), -round(sum(c.utilities), _DECIMALS),
                                                c.options))[:limit])


def _enumerate(matrices: list[Matrix], limit: int) -> SearchResult:
    parties = matrices[0].shape[1]
    totals = np.zeros((1, parties))
    picks = np.zeros((1, 0), dtype=np.int32)
    for matrix in matrices:
        count = matrix.shape[0]
        totals = (totals[:, None, :] + matrix[None, :, :]).reshape(-1, parties)
        picks = np.hstack([np.repeat(picks, count, axis=0),
                           np.tile(np.arange(count, dtype=np.int32), len(picks))[:, None]])
    frontier = _undominated_rows(totals, _best_first(totals), limit)
    ranked = _ranked([PackageChoice(tuple(int(v) for v in picks[i]), tuple(float(u) for u in totals[i]))
                      for i in frontier], limit)
    best = ranked[0]
    return SearchResult(ranked, best, exact=True, proven=True, bound=best.worst, packages=len(totals))


def _utilities(matrices: list[Matrix], options: list[int]) -> Matrix:
    total: Matrix = np.zeros(matrices[0].shape[1])
    for matrix, option in zip(matrices, options, strict=True):
        total = total + matrix[option]
    return total


def _key(utilities: Matrix) -> tuple[float, float]:
    return round(float(utilities.min()), _DECIMALS), round(float(utilities.sum()), _DECIMALS)


def _improve_worst(matrices: list[Matrix], options: list[int], deadline: float) -> list[int]:
    """Local search: change one issue at a time while the least satisfied party (then the sum) gains."""
    options = list(options)
    current = _utilities(matrices, options)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for issue, matrix in enumerate(matrices):
            trial = current - matrix[options[issue]] + matrix  # every option of this issue at once
            order = np.lexsort((np.round(trial.sum(axis=1), _DECIMALS), np.round(trial.min(axis=1), _DECIMALS)))
            candidate = int(order[-1])
            if _key(trial[candidate]) > _key(current):
                options[issue], current, improved = candidate, trial[candidate], True
    return options


def _pareto_improve(matrices: list[Matrix], options: list[int]) -> list[int]:
    """Swap options while some party gains and none loses, so the package ends on the frontier."""
    options = list(options)
    current = _utilities(matrices, options)
    improved = True
    while improved:
        improved = False
        for issue, matrix in enumerate(matrices):
            trial = np.round(current - matrix[options[issue]] + matrix, _DECIMALS)
            base = np.round(current, _DECIMALS)
            better = np.all(trial >= base, axis=1) & np.any(trial > base, axis=1)
            if np.any(better):
                candidate = int(np.argmax(better))
                current = current - matrix[options[issue]] + matrix[candidate]
                options[issue], improved = candidate, True
    return options


def _kick(matrices: list[Matrix], pool: dict[tuple[int, ...], Matrix], bound: float, deadline: float) -> None:
    """Iterated local search: perturb the best package on a few issues and improve it again, until the
    bound is met, the time is up or ``_KICKS`` tries are spent (a fixed seed keeps runs repeatable)."""
    rng = np.random.default_rng(0)
    best = max(pool, key=lambda key: _key(pool[key]))
    for _ in range(_KICKS):
        if _key(pool[best])[0] >= bound - _TOLERANCE or time.perf_counter() > deadline:
            return
        options = list(best)
        for issue in rng.choice(len(matrices), size=min(3, len(matrices)), replace=False):
            options[issue] = int(rng.integers(len(matrices[issue])))
        improved = tuple(_pareto_improve(matrices, _improve_worst(matrices, options, deadline)))
        pool.setdefault(improved, _utilities(matrices, list(improved)))
        if _key(pool[improved]) > _key(pool[best]):
            best = improved


def _lagrangian(matrices: list[Matrix], limit: int, budget_s: float, iterations: int) -> SearchResult:
    parties = matrices[0].shape[1]
    deadline = time.perf_counter() + budget_s
    weights = np.full(parties, 1.0 / parties)
    bound = float("inf")
    pool: dict[tuple[int, ...], Matrix] = {}
    certified: set[tuple[int, ...]] = set()  # optima of λ·U with every weight positive: Pareto-optimal
    best: list[int] | None = None
    best_key = (-1.0, -1.0)
    for step in range(iterations):
        options = [int(np.argmax(matrix @ weights)) for matrix in matrices]
        utilities = _utilities(matrices, options)
        bound = min(bound, float(weights @ utilities))
        pool.setdefault(tuple(options), utilities)
        certified.add(tuple(options))
        if _key(utilities) > best_key:
            best, best_key = options, _key(utilities)
        if best_key[0] >= bound - _TOLERANCE or time.perf_counter() > deadline:
            break
        # Multiplicative weights: lean towards whoever this package serves least.
        rate = 2.0 / np.sqrt(step + 1)
        weights = weights * np.exp(-rate * (utilities - utilities.mean()) / max(float(np.ptp(utilities)), 1e-6))
        weights = np.maximum(weights / weights.sum(), 1e-6)
        weights /= weights.sum()
    if best is None:
        raise ValueError("iterations must be at least 1")
    # Local search from the best packages of the pool while time remains (the best one always).
    starts = sorted(pool, key=lambda key: _key(pool[key]), reverse=True)
    for start_index, start in enumerate(starts[:_LOCAL_STARTS]):
        if start_index and time.perf_counter() > deadline:
            break
        improved = _pareto_improve(matrices, _improve_worst(matrices, list(start), deadline))
        pool.setdefault(tuple(improved), _utilities(matrices, improved))
    _kick(matrices, pool, bound, deadline)
    keys = list(certified)
    points = np.array([pool[key] for key in keys])
    frontier = _undominated_rows(points, _best_first(points), limit)
    ranked = _ranked([PackageChoice(keys[i], tuple(float(u) for u in points[i])) for i in frontier], limit)
    top_key = max(pool, key=lambda key: (_key(pool[key]), key in certified))
    top = PackageChoice(top_key, tuple(float(u) for u in pool[top_key]))
    packages = int(np.prod([float(len(m)) for m in matrices]))
    return SearchResult(ranked, top, exact=False, proven=top.worst >= bound - _TOLERANCE, bound=bound,
                        packages=packages)


def search_packages(
    matrices: list[Matrix], *, limit: int = 8, budget_s: float = 0.5, iterations: int = 400,
    exact_limit: int = EXACT_LIMIT,
) -> SearchResult:
    """Search the packages built from one utility matrix (options × parties) per issue.

    Returns at most ``limit`` Pareto-optimal packages, the maximin one first, and the best package found
    for the least satisfied party, with option indices into the given matrices. Exact while the packages
    (after dominated options are dropped) number at most ``exact_limit``; otherwise the Lagrangian search
    stops after ``iterations`` steps or ``budget_s`` seconds, whichever comes first.
    """
    if not matrices or any(m.ndim != 2 or m.shape[0] == 0 for m in matrices):
        return SearchResult((), None, exact=True, proven=False, bound=None, packages=0)
    if len({m.shape[1] for m in matrices}) != 1:
        raise ValueError("every issue's matrix needs one column per party")
    kept = [_undominated(matrix) for matrix in matrices]
    reduced = [matrix[rows] for matrix, rows in zip(matrices, kept, strict=True)]
    count = int(np.prod([float(len(rows)) for rows in kept]))
    exact = count <= exact_limit
    result = _enumerate(reduced, limit) if exact else _lagrangian(reduced, limit, budget_s, iterations)

    def original(choice: PackageChoice) -> PackageChoice:
        return PackageChoice(tuple(kept[i][o] for i, o in enumerate(choice.options)), choice.utilities)

    frontier = tuple(original(choice) for choice in result.frontier)
    best = original(result.best) if result.best is not None else None
    return SearchResult(frontier, best, result.exact, result.proven, result.bound, result.packages)
