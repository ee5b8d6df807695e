"""Consultation scale (DESIGN.md §5): opinion groups and group-informed consensus, Pol.is style.

Thousands of participants vote on statements: agree (+1), disagree (-1) or pass (0). Most see few
statements, so the participant × statement matrix is sparse and is never densified:

1. **Votes** are parallel arrays. They are put in a canonical order (participant, then statement),
   and a later vote on the same statement by the same participant replaces the earlier one, as when
   someone changes their mind. Every later step reads only the canonical votes, so the order in which
   distinct votes arrive cannot change the result.
2. **PCA**: each vote is centred by its statement's mean over the votes cast; a missing vote counts as
   that mean, i.e. 0 after centring, so only cast votes are stored. The two principal axes come from a
   randomized subspace iteration fitted on the votes of the participants who are grouped (step 3); its
   products with the matrix are passes over the votes (``np.take``, then ``np.add.reduceat`` or
   ``np.bincount``) in cache-sized chunks. Every participant's projection is scaled by
   ``sqrt(statements / votes cast)``, as Pol.is does, so that people who voted little are not pulled to
   the centre.
3. **Groups**: participants with fewer than ``min_votes`` votes are left ungrouped (label -1, counted in
   ``ConsultationResult.ungrouped``); the others are clustered by k-means (k-means++ seeding, a few
   restarts) on their projections for each k in ``min_groups..max_groups``, and the k with the best
   silhouette, measured on a fixed random sample of at most ``silhouette_sample`` participants, wins.
4. **Consensus**: for each statement, the product over groups of the Laplace-smoothed agreement rate
   ``(agrees + 1) / (votes + 2)`` (passes count as votes), and the same for disagreement. A statement has
   broad agreement when a strict majority of every group's voters agreed with it.
5. **Representative statements** of a group: where it agrees (or disagrees) far more often than the
   other groups, ranked by the ratio of the smoothed rates weighted by the group's own rate.

Everything is deterministic given ``ConsultationSettings.seed``. ``planted_votes`` builds synthetic
consultations with known groups, and ``adjusted_rand_index`` compares two groupings (for tests,
benchmarks and demos, and to see how much the groups moved between two rounds).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from flows.errors import FlowError

__all__ = [
    "AGREE",
    "DISAGREE",
    "PASS",
    "ConsultationResult",
    "ConsultationSettings",
    "InvalidVotes",
    "PlantedConsultation",
    "Representative",
    "Votes",
    "adjusted_rand_index",
    "analyse_consultation",
    "planted_votes",
]

AGREE, PASS, DISAGREE = 1, 0, -1

IntArray = NDArray[np.intp]
FloatArray = NDArray[np.float64]
VoteArray = NDArray[np.int8]

_COMPONENTS = 2
# Entries per pass of a sparse product: the working set stays in cache across a block's vectors.
_CHUNK = 1 << 17
# Bits of an int64 sort key free for (participant, statement, position) fields.
_PACKED_BITS = 62
# Independent random streams per step, so changing one setting leaves the other steps' draws alone.
_PCA_STREAM, _SAMPLE_STREAM, _KMEANS_STREAM = 1, 2, 3
# The PCA stops once its two axes move less than this (1 - the smallest cosine between successive planes).
_SETTLED_AXES = 1e-6
# Lloyd's iterations stop once the centres move less than this share of the points' variance (as scikit-learn).
_SETTLED = 1e-4
# Below this share of the largest one, an eigenvalue of a Gram matrix is rounding noise.
_RANK_TOLERANCE = 1e-12


class InvalidVotes(FlowError, ValueError):  # noqa: N818 - reads as the domain term it is
    """The votes cannot be analysed: a wrong shape or type, an index out of range, a vote not in {-1, 0, 1}."""


def _bits(count: int) -> int:
    """Bits that hold every index below ``count``."""
    return max(count - 1, 0).bit_length()


def _read_only(array: NDArray[np.generic]) -> None:
    array.flags.writeable = False


def _indices(name: str, given: object, bound: int) -> IntArray:
    """Check an index array (1-D integers in ``0..bound-1``) and return it as a read-only intp view."""
    array = np.asarray(given)
    if array.ndim != 1:
        raise InvalidVotes(f"{name} must be a 1-D array, got {array.ndim} dimensions")
    if array.size == 0:
        return np.empty(0, dtype=np.intp)
    if array.dtype.kind not in "iu":
        raise InvalidVotes(f"{name} must be integers, got {array.dtype}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= bound:
        raise InvalidVotes(f"{name} must lie in 0..{bound - 1}, got values from {low} to {high}")
    view = array.astype(np.intp, copy=False).view()
    _read_only(view)
    return view


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InvalidVotes(f"{name} must be a whole number ≥ 0, got {value!r}")
    return int(value)


@dataclass(frozen=True, eq=False)
class Votes:
    """Votes as parallel arrays: participant ``participants[i]`` voted ``values[i]`` on ``statements[i]``.

    ``values`` are ``AGREE`` (+1), ``DISAGREE`` (-1) or ``PASS`` (0). A later vote on the same statement by
    the same participant replaces an earlier one. Construction checks everything and raises
    ``InvalidVotes`` (a ``ValueError``) with a precise message; the arrays are kept as read-only views
    (intp indices, int8 votes), so no copy is made of index arrays that are already intp.
    """

    participants: IntArray
    statements: IntArray
    values: VoteArray
    n_participants: int
    n_statements: int

    def __post_init__(self) -> None:
        n_participants = _count("n_participants", self.n_participants)
        n_statements = _count("n_statements", self.n_statements)
        if _bits(n_participants) + _bits(n_statements) > 62:
            raise InvalidVotes("n_participants × n_statements must stay below 2**62")
        participants = _indices("participants", self.participants, n_participants)
        statements = _indices("statements", self.statements, n_statements)
        values = np.asarray(self.values)
        if values.ndim != 1:
            raise InvalidVotes(f"values must be a 1-D array, got {values.ndim} dimensions")
        if values.size and values.dtype.kind not in "iu":
            raise InvalidVotes(f"values must be integers, got {values.dtype}")
        if values.size and not bool(np.all((values >= DISAGREE) & (values <= AGREE))):
            bad = values[(values < DISAGREE) | (values > AGREE)][0]
            raise InvalidVotes(f"values must be -1 (disagree), 0 (pass) or 1 (agree), got {bad}")
        if not participants.size == statements.size == values.size:
            raise InvalidVotes(
                f"participants, statements and values must have one entry per vote, got lengths "
                f"{participants.size}, {statements.size} and {values.size}")
        votes = values.astype(np.int8, copy=False).view()
        _read_only(votes)
        for name, value in (("participants", participants), ("statements", statements), ("values", votes),
                            ("n_participants", n_participants), ("n_statements", n_statements)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.values.size)


@dataclass(frozen=True)
class ConsultationSettings:
    """How the consultation is analysed; the defaults follow Pol.is where it has one."""

    min_votes: int = 3  # participants with fewer votes are left ungrouped
    min_groups: int = 2
    max_groups: int = 6
    silhouette_sample: int = 2000  # participants sampled to score each k
    pca_iterations: int = 30  # subspace iterations of the randomized PCA, at most (it stops once settled)
    oversampling: int = 6  # extra directions carried by the subspace iteration
    kmeans_restarts: int = 4
    kmeans_iterations: int = 100  # at most, per restart
    representative_min_votes: int = 5  # a group's votes on a statement before it can represent the group
    representatives: int = 5  # at most, per group
    seed: int = 0

    def __post_init__(self) -> None:
        at_least = {"min_votes": 1, "min_groups": 2, "silhouette_sample": 2, "pca_iterations": 0,
                    "oversampling": 0, "kmeans_restarts": 1, "kmeans_iterations": 1,
                    "representative_min_votes": 0, "representatives": 0, "seed": 0}
        for name, low in at_least.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number ≥ {low}, got {value!r}")
        if not isinstance(self.max_groups, int) or self.max_groups < self.min_groups:
            raise ValueError(f"max_groups must be a whole number ≥ min_groups ({self.min_groups}), "
                             f"got {self.max_groups!r}")


@dataclass(frozen=True)
class Representative:
    """A statement on which a group differs from the other groups.

    ``agrees`` says in which direction: the group agrees (True) or disagrees (False) more often than the
    others. Rates are Laplace-smoothed: ``(agrees + 1) / (votes + 2)``, or the same with disagreements.
    """

    statement: int
    agrees: bool
    in_group: float  # the group's rate
    outside: float  # the other groups' rate
    votes: int  # the group's votes on the statement

    @property
    def ratio(self) -> float:
        return self.in_group / self.outside


@dataclass(frozen=True, eq=False)
class ConsultationResult:
    """Opinion groups and group-informed consensus of a consultation (arrays are read-only).

    Participants are indexed as in the votes, statements likewise, groups ``0..n_groups-1`` from the
    largest. Participants with fewer than ``min_votes`` votes are left ungrouped: their label is -1, they
    are counted in ``ungrouped``, and their votes count in no group's rates. With no group at all, the
    consensus scores are 0 and nothing has broad agreement; with one group, no statement represents it
    (there is no one else to differ from).
    """

    labels: IntArray  # (participants,) each participant's group, -1 when ungrouped
    projection: FloatArray  # (participants, 2) scaled PCA projection; the origin for who cast no vote
    components: FloatArray  # (2, statements) the principal axes (zero rows when the votes have no spread)
    n_groups: int
    silhouette: float | None  # of the chosen k, on the sample; None with fewer than two groups
    silhouettes: tuple[tuple[int, float], ...]  # each k tried, with its silhouette
    min_votes: int
    ungrouped: int
    group_sizes: IntArray  # (groups,)
    group_votes: IntArray  # (groups, statements) votes cast, passes included
    group_agrees: IntArray  # (groups, statements)
    group_disagrees: IntArray  # (groups, statements)
    agree_rates: FloatArray  # (groups, statements) (agrees + 1) / (votes + 2)
    disagree_rates: FloatArray  # (groups, statements) (disagrees + 1) / (votes + 2)
    agree_consensus: FloatArray  # (statements,) product over groups of agree_rates
    disagree_consensus: FloatArray  # (statements,) product over groups of disagree_rates
    broad_agreement: tuple[int, ...]  # statements a majority of every group agreed with, best first
    broad_disagreement: tuple[int, ...]  # statements a majority of every group disagreed with, best first
    representatives: tuple[tuple[Representative, ...], ...]  # per group, most distinctive first


@dataclass(frozen=True)
class _Canonical:
    """Distinct votes sorted by participant then statement, the last one cast kept."""

    participants: IntArray
    statements: IntArray
    values: VoteArray


def _canonical(votes: Votes) -> _Canonical:
    if len(votes) == 0:
        return _Canonical(votes.participants, votes.statements, votes.values)
    # Bit fields sort like (participant, statement) pairs and unpack with shifts, cheaper than // and %.
    statement_bits = _bits(votes.n_statements)
    keys = votes.participants << statement_bits
    keys |= votes.statements
    if bool(np.all(keys[1:] > keys[:-1])):
        order = None  # already canonical: sorted, no repeats
    else:
        index_bits = _bits(len(votes))
        if _bits(votes.n_participants) + statement_bits + index_bits <= _PACKED_BITS:
            # The position packed below the key: one plain sort is a stable sort, twice as fast as argsort.
            keys <<= index_bits
            keys |= np.arange(len(votes), dtype=np.intp)
            keys.sort()
            order = keys & ((1 << index_bits) - 1)
            keys >>= index_bits
        else:
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
        last = np.empty(keys.size, dtype=bool)
        np.not_equal(keys[1:], keys[:-1], out=last[:-1])
        last[-1] = True
        if not bool(last.all()):
            keys, order = keys[last], order[last]
    statements = keys & ((1 << statement_bits) - 1)
    keys >>= statement_bits
    values = votes.values if order is None else votes.values[order]
    return _Canonical(keys, statements, values)


class _Centred:
    """The sparse centred matrix: ``entries[i]`` at (``participants[i]``, ``statements[i]``), zeros elsewhere.

    The entries are sorted by participant. Products with it walk the entries in chunks of whole
    participants, small enough to stay in the processor's cache while every vector of a block is done.
    """

    def __init__(self, participants: IntArray, statements: IntArray, entries: FloatArray, n_participants: int,
                 n_statements: int) -> None:
        self.participants, self.statements, self.entries = participants, statements, entries
        self.n_participants, self.n_statements = n_participants, n_statements
        cast = np.bincount(participants, minlength=n_participants)
        self.voters = np.flatnonzero(cast)
        self.firsts = np.cumsum(cast[self.voters]) - cast[self.voters]  # each voter's first entry
        cuts = [int(cut) for cut in np.unique(np.searchsorted(self.firsts, np.arange(0, entries.size, _CHUNK)))]
        bounds = [int(self.firsts[cut]) for cut in cuts] + [entries.size]
        # (first voter, past the last voter, the entries they cast) for each chunk
        self.chunks = [(first, last, slice(start, stop)) for (first, last), (start, stop)
                       in zip(itertools.pairwise([*cuts, self.voters.size]), itertools.pairwise(bounds), strict=True)]
        self.widest = max((stop - start for start, stop in itertools.pairwise(bounds)), default=0)

    def times(self, block: FloatArray) -> FloatArray:
        """``(M @ block.T).T``: ``block`` holds one vector over statements per row."""
        result = np.zeros((block.shape[0], self.n_participants))
        buffer = np.empty(self.widest)
        for first, last, span in self.chunks:
            columns, entries, products = self.statements[span], self.entries[span], buffer[:span.stop - span.start]
            voters, starts = self.voters[first:last], self.firsts[first:last] - span.start
            for vector, out in zip(block, result, strict=True):
                np.take(vector, columns, out=products, mode="clip")  # indices are valid: skip the checks
                products *= entries
                out[voters] = np.add.reduceat(products, starts)
        return result

    def transposed_times(self, block: FloatArray) -> FloatArray:
        """``(M.T @ block.T).T``: ``block`` holds one vector over participants per row."""
        result = np.zeros((block.shape[0], self.n_statements))
        buffer = np.empty(self.widest)
        for _first, _last, span in self.chunks:
            rows, entries, products = self.statements[span], self.entries[span], buffer[:span.stop - span.start]
            columns = self.participants[span]
            for index, vector in enumerate(block):
                np.take(vector, columns, out=products, mode="clip")  # indices are valid: skip the checks
                products *= entries
                result[index] += np.bincount(rows, weights=products, minlength=self.n_statements)
        return result


def _orthonormal(vectors: FloatArray) -> FloatArray:
    """An orthonormal basis (as rows) of the span of ``vectors`` (rows); directions lost to rounding are dropped.

    Through the eigenvectors of the small Gram matrix, twice for accuracy (as CholeskyQR2). ``np.einsum``
    rather than ``@`` or ``np.linalg.qr``: on these thin matrices a multithreaded BLAS costs more in
    waking and waiting for its threads, on a busy machine, than the arithmetic.
    """
    for _ in range(2):
        values, rotation = np.linalg.eigh(np.einsum("ik,jk->ij", vectors, vectors))
        kept = values > _RANK_TOLERANCE * max(float(values.max()), 0.0)
        if not kept.any():
            return vectors[:0]
        vectors = np.einsum("ji,jk->ik", rotation[:, kept] / np.sqrt(values[kept]), vectors)
    return vectors


def _ritz_axes(basis: FloatArray, scores: FloatArray) -> FloatArray:
    """The best (up to) two axes within the span of ``basis``, given ``scores``, the matrix times it (Rayleigh-Ritz)."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.einsum("ik,jk->ij", scores, scores))
    leading = np.argsort(-eigenvalues, kind="stable")[:_COMPONENTS]
    leading = leading[eigenvalues[leading] > _RANK_TOLERANCE * max(float(eigenvalues.max()), 0.0)]
    axes: FloatArray = np.einsum("ji,jk->ik", eigenvectors[:, leading], basis)
    return axes


def _settled(previous: FloatArray, current: FloatArray) -> bool:
    """Whether two sets of orthonormal axes span the same plane (or line), to within ``_SETTLED_AXES``."""
    if previous.shape != current.shape:
        return False
    cosines = np.linalg.svd(np.einsum("ik,jk->ij", previous, current), compute_uv=False)
    return bool(cosines.min() >= 1 - _SETTLED_AXES)


def _principal_axes(matrix: _Centred, settings: ConsultationSettings) -> FloatArray:
    """The two leading right singular vectors of the matrix (rows of zeros where it has no spread).

    Randomized subspace iteration (Halko, Martinsson and Tropp 2011, algorithm 4.4) with a Rayleigh-Ritz
    step each round; it stops when the two axes settle, or after ``pca_iterations`` rounds. The sign of
    each axis is fixed so that its largest entry is positive.
    """
    axes = np.zeros((_COMPONENTS, matrix.n_statements))
    if matrix.entries.size == 0 or not bool(np.any(matrix.entries)):
        return axes
    width = min(_COMPONENTS + settings.oversampling, matrix.n_statements)
    rng = np.random.default_rng((settings.seed, _PCA_STREAM))
    basis = _orthonormal(rng.standard_normal((width, matrix.n_statements)))
    scores = matrix.times(basis)
    found = _ritz_axes(basis, scores)
    for _ in range(settings.pca_iterations):
        basis = _orthonormal(matrix.transposed_times(scores))
        if not basis.size:
            break
        scores = matrix.times(basis)
        found, previous = _ritz_axes(basis, scores), found
        if _settled(previous, found):
            break
    for axis, direction in enumerate(found):
        unit = direction / np.sqrt(np.einsum("k,k->", direction, direction))
        axes[axis] = unit if unit[np.argmax(np.abs(unit))] > 0 else -unit
    return axes


def _squared_distances(xs: FloatArray, ys: FloatArray, centre: FloatArray) -> FloatArray:
    across: FloatArray = xs - float(centre[0])
    across *= across
    down = ys - float(centre[1])
    down *= down
    across += down
    return across


def _assign(xs: FloatArray, ys: FloatArray, centres: FloatArray) -> tuple[IntArray, FloatArray]:
    """Each point's nearest centre (ties: the first) and its squared distance to it."""
    nearest = _squared_distances(xs, ys, centres[0])
    labels = np.zeros(xs.size, dtype=np.intp)
    for index in range(1, len(centres)):
        distances = _squared_distances(xs, ys, centres[index])
        closer = distances < nearest
        labels[closer] = index
        np.minimum(nearest, distances, out=nearest)
    return labels, nearest


def _seed_centres(xs: FloatArray, ys: FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    """k-means++: each next centre drawn with probability proportional to its squared distance."""
    points = np.stack((xs, ys), axis=1)
    chosen = [int(rng.integers(xs.size))]
    closest = _squared_distances(xs, ys, points[chosen[0]])
    for _ in range(1, k):
        cumulative = np.cumsum(closest)
        if cumulative[-1] <= 0:
            break  # fewer distinct points than k (the caller prevents it)
        pick = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), xs.size - 1)
        chosen.append(pick)
        np.minimum(closest, _squared_distances(xs, ys, points[pick]), out=closest)
    return points[chosen]


def _update_centres(xs: FloatArray, ys: FloatArray, labels: IntArray, centres: FloatArray,
                    nearest: FloatArray) -> FloatArray:
    """Move each centre to its points' mean; an emptied centre jumps to the point farthest from its own."""
    k = len(centres)
    counts = np.bincount(labels, minlength=k)
    filled = counts > 0
    moved = centres.copy()
    for axis, coordinates in enumerate((xs, ys)):
        sums = np.bincount(labels, weights=coordinates, minlength=k)
        moved[filled, axis] = sums[filled] / counts[filled]
    empty = np.flatnonzero(~filled)
    if empty.size:
        farthest = np.argsort(-nearest, kind="stable")[:empty.size]
        moved[empty] = np.stack((xs[farthest], ys[farthest]), axis=1)
    return moved


def _kmeans(xs: FloatArray, ys: FloatArray, k: int, settings: ConsultationSettings) -> IntArray:
    """Labels of the best (least inertia) of a few k-means++ restarts of Lloyd's iterations."""
    rng = np.random.default_rng((settings.seed, _KMEANS_STREAM, k))
    settled = _SETTLED * float(xs.var() + ys.var())
    best: tuple[IntArray, float] | None = None
    for _ in range(settings.kmeans_restarts):
        centres = _seed_centres(xs, ys, k, rng)
        labels, nearest = _assign(xs, ys, centres)
        for _ in range(settings.kmeans_iterations):
            moved = _update_centres(xs, ys, labels, centres, nearest)
            shift, centres = float(((moved - centres) ** 2).sum()), moved
            assigned, nearest = _assign(xs, ys, centres)
            if shift <= settled or np.array_equal(assigned, labels):
                labels = assigned
                break
            labels = assigned
        inertia = float(nearest.sum())
        if best is None or inertia < best[1]:
            best = (labels, inertia)
    assert best is not None  # noqa: S101 - kmeans_restarts ≥ 1 is checked by the settings
    return best[0]


def _silhouette(distances: FloatArray, labels: IntArray, k: int) -> float:
    """Mean silhouette of the sampled points (0 for a point alone in its group; -1 if one group is sampled)."""
    present = np.bincount(labels, minlength=k)
    if np.count_nonzero(present) < 2:
        return -1.0
    rows = np.arange(len(labels))
    # Distances summed over each group's members: rows sorted by group, then added up group by group
    # (the matrix is symmetric); no BLAS, for the reason given in _orthonormal.
    order = np.argsort(labels, kind="stable")
    groups = np.flatnonzero(present)
    sums = np.zeros((len(labels), k))
    sums[:, groups] = np.add.reduceat(distances[order], np.cumsum(present)[groups] - present[groups], axis=0).T
    own = present[labels]
    inside = sums[rows, labels] / np.maximum(own - 1, 1)
    means = np.full_like(sums, np.inf)
    np.divide(sums, present, out=means, where=present > 0)
    means[rows, labels] = np.inf
    between = means.min(axis=1)
    spread = np.maximum(inside, between)
    scores = np.zeros(len(labels))
    np.divide(between - inside, spread, out=scores, where=(own > 1) & (spread > 0))
    return float(scores.mean())


def _canonical_labels(labels: IntArray, k: int) -> tuple[IntArray, int]:
    """Renumber groups from the largest (ties: whoever has the smallest index first), dropping empty ones."""
    sizes = np.bincount(labels, minlength=k)
    first = np.full(k, len(labels))
    np.minimum.at(first, labels, np.arange(len(labels)))
    order = np.lexsort((first, -sizes))
    order = order[sizes[order] > 0]
    renumber = np.full(k, -1, dtype=np.intp)
    renumber[order] = np.arange(order.size)
    return renumber[labels], int(order.size)


def _choose_groups(points: FloatArray, settings: ConsultationSettings,
                   ) -> tuple[IntArray, int, float | None, tuple[tuple[int, float], ...]]:
    """Cluster the grouped participants' projections: labels, k, its silhouette and every k's silhouette."""
    count = len(points)
    distinct = len(np.unique(points, axis=0)) if count else 0
    if distinct < 2:
        return np.zeros(count, dtype=np.intp), min(count, 1), None, ()
    largest = min(settings.max_groups, distinct)
    rng = np.random.default_rng((settings.seed, _SAMPLE_STREAM))
    sample = np.sort(rng.choice(count, size=min(count, settings.silhouette_sample), replace=False))
    xs, ys = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    distances = xs[sample, None] - xs[sample]
    distances *= distances
    down = ys[sample, None] - ys[sample]
    down *= down
    distances += down
    del down
    np.sqrt(distances, out=distances)
    best: tuple[IntArray, int, float] | None = None
    tried: list[tuple[int, float]] = []
    for k in range(min(settings.min_groups, largest), largest + 1):
        labels = _kmeans(xs, ys, k, settings)
        score = _silhouette(distances, labels[sample], k)
        tried.append((k, score))
        if best is None or score > best[2]:
            best = (labels, k, score)
    assert best is not None  # noqa: S101 - the range holds at least one k: 2 ≤ largest
    labels, k = _canonical_labels(best[0], best[1])
    return labels, k, best[2], tuple(tried)


@dataclass(frozen=True)
class _GroupCounts:
    """Per group (rows) and statement (columns): votes cast, agreements and disagreements."""

    votes: IntArray
    agrees: IntArray
    disagrees: IntArray


def _group_counts(canonical: _Canonical, labels: IntArray, k: int, n_statements: int) -> _GroupCounts:
    """Votes, agreements and disagreements of each group on each statement, in one counting pass."""
    groups = np.where(labels < 0, k, labels)  # the ungrouped are counted apart, then dropped
    cells = groups[canonical.participants]
    cells *= n_statements
    cells += canonical.statements
    cells *= 3
    cells += canonical.values + 1  # DISAGREE, PASS, AGREE → 0, 1, 2
    tally = np.bincount(cells, minlength=(k + 1) * n_statements * 3).reshape(k + 1, n_statements, 3)[:k]
    return _GroupCounts(tally.sum(axis=2), np.ascontiguousarray(tally[:, :, 2]), np.ascontiguousarray(tally[:, :, 0]))


def _ranked(scores: FloatArray, eligible: NDArray[np.bool_]) -> tuple[int, ...]:
    """Eligible statements, highest score first (ties: lower index first)."""
    candidates = np.flatnonzero(eligible)
    order = np.lexsort((candidates, -scores[candidates]))
    return tuple(int(statement) for statement in candidates[order])


def _representatives(counts: _GroupCounts, settings: ConsultationSettings) -> tuple[tuple[Representative, ...], ...]:
    """Per group, the statements it agrees or disagrees with most unlike the other groups, best first."""
    k = counts.votes.shape[0]
    if k < 2:
        return tuple(() for _ in range(k))
    found: list[tuple[Representative, ...]] = []
    for group in range(k):
        votes_in = counts.votes[group]
        votes_out = counts.votes.sum(axis=0) - votes_in
        # Both directions side by side: agreements in the first half, disagreements in the second.
        tally_in = np.concatenate((counts.agrees[group], counts.disagrees[group]))
        tally_out = np.concatenate((counts.agrees.sum(axis=0), counts.disagrees.sum(axis=0))) - tally_in
        votes_in, votes_out = np.tile(votes_in, 2), np.tile(votes_out, 2)
        in_group, outside = (tally_in + 1) / (votes_in + 2), (tally_out + 1) / (votes_out + 2)
        eligible = np.flatnonzero((votes_in >= settings.representative_min_votes) & (2 * tally_in > votes_in)
                                  & (in_group > outside))
        strength = in_group[eligible] / outside[eligible] * in_group[eligible]
        best = eligible[np.lexsort((eligible, -strength))[:settings.representatives]]
        n_statements = counts.votes.shape[1]
        found.append(tuple(Representative(int(index % n_statements), bool(index < n_statements),
                                          float(in_group[index]), float(outside[index]), int(votes_in[index]))
                           for index in best))
    return tuple(found)


def analyse_consultation(votes: Votes, settings: ConsultationSettings | None = None) -> ConsultationResult:
    """Find opinion groups, group-informed consensus and each group's representative statements."""
    settings = settings or ConsultationSettings()
    n_participants, n_statements = votes.n_participants, votes.n_statements
    canonical = _canonical(votes)
    cast = np.bincount(canonical.participants, minlength=n_participants)
    seen = np.bincount(canonical.statements, minlength=n_statements)
    totals = np.bincount(canonical.statements, weights=canonical.values, minlength=n_statements)
    means = np.zeros(n_statements)
    np.divide(totals, seen, out=means, where=seen > 0)
    centred = canonical.values - means[canonical.statements]

    everything = _Centred(canonical.participants, canonical.statements, centred, n_participants, n_statements)
    grouped = cast >= settings.min_votes
    fitted = grouped[canonical.participants]
    if bool(fitted.all()):
        axes = _principal_axes(everything, settings)
    else:
        axes = _principal_axes(_Centred(canonical.participants[fitted], canonical.statements[fitted],
                                        centred[fitted], n_participants, n_statements), settings)
    del fitted
    projection = everything.times(axes).T
    scale = np.zeros(n_participants)
    np.divide(n_statements, cast, out=scale, where=cast > 0)
    projection *= np.sqrt(scale)[:, None]

    members = np.flatnonzero(grouped)
    group_labels, k, silhouette, silhouettes = _choose_groups(projection[members], settings)
    labels = np.full(n_participants, -1, dtype=np.intp)
    labels[members] = group_labels

    counts = _group_counts(canonical, labels, k, n_statements)
    agree_rates = (counts.agrees + 1) / (counts.votes + 2)
    disagree_rates = (counts.disagrees + 1) / (counts.votes + 2)
    if k:
        agree_consensus, disagree_consensus = agree_rates.prod(axis=0), disagree_rates.prod(axis=0)
    else:
        agree_consensus, disagree_consensus = np.zeros(n_statements), np.zeros(n_statements)
    everyone = k > 0
    broad_agreement = _ranked(agree_consensus, everyone & np.all(2 * counts.agrees > counts.votes, axis=0))
    broad_disagreement = _ranked(disagree_consensus,
                                 everyone & np.all(2 * counts.disagrees > counts.votes, axis=0))

    arrays = (labels, projection, axes, counts.votes, counts.agrees, counts.disagrees, agree_rates,
              disagree_rates, agree_consensus, disagree_consensus)
    group_sizes = np.bincount(group_labels, minlength=k)
    for array in (*arrays, group_sizes):
        _read_only(array)
    return ConsultationResult(
        labels=labels, projection=projection, components=axes, n_groups=k, silhouette=silhouette,
        silhouettes=silhouettes, min_votes=settings.min_votes, ungrouped=int(n_participants - members.size),
        group_sizes=group_sizes, group_votes=counts.votes, group_agrees=counts.agrees,
        group_disagrees=counts.disagrees, agree_rates=agree_rates, disagree_rates=disagree_rates,
        agree_consensus=agree_consensus, disagree_consensus=disagree_consensus, broad_agreement=broad_agreement,
        broad_disagreement=broad_disagreement, representatives=_representatives(counts, settings))


def adjusted_rand_index(first: NDArray[np.integer], second: NDArray[np.integer]) -> float:
    """Agreement of two groupings of the same items, corrected for chance: 1 identical, about 0 random.

    Labels are any integers and only their equality matters. Two groupings that are both a single
    group, or both all singletons, agree perfectly (1.0).
    """
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"the groupings must be 1-D and of one length, got shapes {first.shape} and {second.shape}")
    _, a = np.unique(first, return_inverse=True)
    _, b = np.unique(second, return_inverse=True)
    width = int(b.max()) + 1 if b.size else 1
    table = np.bincount(a * width + b).astype(np.float64)

    def pairs(counts: FloatArray) -> float:
        return float((counts * (counts - 1)).sum() / 2)

    together = pairs(table)
    rows, columns = pairs(np.bincount(a).astype(np.float64)), pairs(np.bincount(b).astype(np.float64))
    total = first.size * (first.size - 1) / 2
    expected = rows * columns / total if total else 0.0
    best = (rows + columns) / 2
    if best == expected:
        return 1.0
    return (together - expected) / (best - expected)


@dataclass(frozen=True, eq=False)
class PlantedConsultation:
    """Synthetic votes with known opinion groups (for tests, benchmarks and demos)."""

    votes: Votes
    groups: IntArray  # (participants,) each participant's planted group
    consensus: tuple[int, ...]  # statements every group leans to agree with
    stances: VoteArray  # (groups, statements) each group's leaning: +1 agree, -1 disagree


def planted_votes(n_participants: int, n_statements: int, n_votes: int, *, n_groups: int = 3,
                  n_consensus: int = 5, pass_rate: float = 0.1, noise: float = 0.2,
                  seed: int = 0) -> PlantedConsultation:
    """Build about ``n_votes`` votes, in random order, of participants from ``n_groups`` planted groups.

    Group sizes fall off as n, n-1, ..., 1 (3:2:1 for three groups). Every group leans to agree with the
    ``n_consensus`` consensus statements; on each other statement one group stands apart from all the
    others (it alone agrees, or it alone disagrees). Each participant votes on a random subset of the
    statements whose size varies (gamma-distributed activity, so some vote very little). A vote is a
    pass with probability ``pass_rate``; otherwise it is a coin flip with probability ``noise``, and the
    group's leaning the rest of the time. The total is close to ``n_votes``, not exactly it.
    """
    if n_groups < 1 or n_participants < n_groups or n_statements < max(n_consensus, 1):
        raise ValueError("need n_participants ≥ n_groups ≥ 1 and n_statements ≥ max(n_consensus, 1)")
    rng = np.random.default_rng(seed)
    shares = np.arange(n_groups, 0, -1, dtype=np.float64)
    groups = rng.choice(n_groups, size=n_participants, p=shares / shares.sum())

    consensus = np.sort(rng.choice(n_statements, size=n_consensus, replace=False))
    apart = rng.integers(n_groups, size=n_statements)
    sign = rng.choice(np.array([AGREE, DISAGREE], dtype=np.int8), size=n_statements)
    stances = np.where(np.arange(n_groups)[:, None] == apart, sign, -sign).astype(np.int8)
    stances[:, consensus] = AGREE

    # Activity: expected distinct statements per participant, capped; then the draws with repeats that
    # give that many distinct ones on average, m' = -n ln(1 - m / n).
    activity = rng.gamma(2.0, size=n_participants)
    wanted = np.minimum(n_votes * activity / activity.sum(), 0.95 * n_statements)
    draws = rng.poisson(-n_statements * np.log1p(-wanted / n_statements))
    participants = np.repeat(np.arange(n_participants, dtype=np.intp), draws)
    keys = np.sort(participants * n_statements + rng.integers(n_statements, size=participants.size))
    del participants
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]  # np.unique, minus its slow hashing
    rng.shuffle(keys)
    participants, statements = np.divmod(keys, n_statements)
    del keys

    leaning = stances[groups[participants], statements]
    draw = rng.random(participants.size)
    coin = rng.choice(np.array([AGREE, DISAGREE], dtype=np.int8), size=participants.size)
    values = np.where(draw < pass_rate, np.int8(PASS), np.where(draw < pass_rate + (1 - pass_rate) * noise,
                                                                 coin, leaning)).astype(np.int8)
    votes = Votes(participants, statements, values, n_participants, n_statements)
    for array in (groups, stances):
        _read_only(array)
    return PlantedConsultation(votes, groups, tuple(int(s) for s in consensus), stances)

