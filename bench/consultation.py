"""Consultation scale (flows/consultation.py): time, memory and recovered groups at 0.1, 1 and 10 million votes.

Run by hand from the repository root: ``python bench/consultation.py`` (about a minute).

Each size runs in a fresh Python process, so the memory high-water marks of sizes do not mix. The process
builds planted votes (``planted_votes``: 3 opinion groups of sizes 3:2:1, 10 % passes, 20 % coin-flip
noise, gamma-distributed activity, votes in random order), then times ``analyse_consultation`` (best of a
few runs). 0.1 M and 1 M votes come from 10,000 participants × 2,000 statements; 10 M votes from 50,000
participants × 2,000 statements (200 votes each on average rather than half of all statements).

One row per size:

- ``analyse s``: wall time of ``analyse_consultation``, best of the runs;
- ``bincount ms`` and ``ratio``: the baseline measured in the same process, one ``np.bincount`` pass over
  the votes (participant indices weighted by the votes), and the analysis time in such passes;
- ``RSS gen MB`` and ``RSS peak MB``: the process's peak resident memory (``ru_maxrss``) after generating
  the votes and after the analyses (Python, numpy and the votes included);
- ``traced MB``: the peak of memory allocated during one analysis alone (``tracemalloc``, numpy arrays);
- ``k``, ``ARI``: the groups found and the adjusted Rand index against the plant, over grouped participants
  (those with at least 3 votes; ``ungrouped`` counts the others);
- ``ceiling``: the ARI of the best possible guess, each participant's most likely planted group knowing the
  planted leanings and noise (a Bayes classifier): what the votes allow at that sparsity;
- ``consensus``: how many of the 5 planted consensus statements are the top 5 of ``broad_agreement``.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.consultation import (  # noqa: E402 - the repository root must be on the path first
    PASS,
    PlantedConsultation,
    adjusted_rand_index,
    analyse_consultation,
    planted_votes,
)

# (votes, participants, statements, analysis runs)
SIZES = [(100_000, 10_000, 2_000, 3), (1_000_000, 10_000, 2_000, 3), (10_000_000, 50_000, 2_000, 2)]
PASS_RATE = 0.1
NOISE = 0.2
SEED = 1


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def best_time(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def bayes_ceiling(planted: PlantedConsultation, grouped: NDArray[np.bool_]) -> float:
    """ARI of each participant's most likely planted group, given the plant's leanings, passes and noise."""
    votes = planted.votes
    n_groups = planted.stances.shape[0]
    follows, opposes = (1 - PASS_RATE) * (1 - NOISE / 2), (1 - PASS_RATE) * NOISE / 2
    shares = np.arange(n_groups, 0, -1) / (n_groups * (n_groups + 1) / 2)
    likelihood = np.empty((n_groups, votes.n_participants))
    for group in range(n_groups):
        leaning = planted.stances[group][votes.statements]
        chance = np.where(votes.values == PASS, PASS_RATE, np.where(votes.values == leaning, follows, opposes))
        likelihood[group] = np.log(shares[group]) + np.bincount(votes.participants, weights=np.log(chance),
                                                                minlength=votes.n_participants)
    guess = likelihood.argmax(axis=0)
    return adjusted_rand_index(planted.groups[grouped], guess[grouped])


def measure(n_votes: int, n_participants: int, n_statements: int, runs: int) -> dict[str, object]:
    """Generate, time and check one size (in this process)."""
    start = time.perf_counter()
    planted = planted_votes(n_participants, n_statements, n_votes, pass_rate=PASS_RATE, noise=NOISE, seed=SEED)
    generated = time.perf_counter() - start
    votes = planted.votes
    gc.collect()
    rss_generated = peak_rss_mb()
    baseline = best_time(lambda: np.bincount(votes.participants, weights=votes.values, minlength=n_participants),
                         5)
    analysed = best_time(lambda: analyse_consultation(votes), runs)
    rss_peak = peak_rss_mb()
    tracemalloc.start()
    result = analyse_consultation(votes)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    grouped = result.labels >= 0
    consensus = len(set(result.broad_agreement[:len(planted.consensus)]) & set(planted.consensus))
    return {"votes": len(votes), "participants": n_participants, "statements": n_statements,
            "generate_s": generated, "bincount_ms": baseline * 1e3, "analyse_s": analysed,
            "ratio": analysed / baseline, "rss_generated": rss_generated, "rss_peak": rss_peak, "traced": traced,
            "k": result.n_groups, "silhouette": result.silhouette, "ungrouped": result.ungrouped,
            "ari": adjusted_rand_index(planted.groups[grouped], result.labels[grouped]),
            "ceiling": bayes_ceiling(planted, grouped), "consensus": f"{consensus}/{len(planted.consensus)}"}


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(measure(*(int(arg) for arg in sys.argv[2:6]))))
        return
    print(f"consultation scale · {os.cpu_count()} CPUs · numpy {np.__version__} · 3 planted groups · "
          f"fresh process per size")
    header = (f"{'votes':>10} {'people × statements':>19} {'gen s':>6} {'analyse s':>9} {'bincount ms':>11} "
              f"{'ratio':>6} {'RSS gen MB':>10} {'RSS peak MB':>11} {'traced MB':>9} {'k':>2} {'silh.':>5} "
              f"{'ungrouped':>9} {'ARI':>5} {'ceiling':>7} {'consensus':>9}")
    print(header)
    for n_votes, n_participants, n_statements, runs in SIZES:
        command = [sys.executable, __file__, "--one", str(n_votes), str(n_participants), str(n_statements), str(runs)]
        row = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)  # noqa: S603
        shape = f"{row['participants']:,} × {row['statements']:,}"
        print(f"{row['votes']:>10,} {shape:>19} {row['generate_s']:>6.2f} "
              f"{row['analyse_s']:>9.3f} {row['bincount_ms']:>11.2f} {row['ratio']:>6.0f} "
              f"{row['rss_generated']:>10.0f} {row['rss_peak']:>11.0f} {row['traced']:>9.0f} {row['k']:>2} "
              f"{row['silhouette']:>5.2f} {row['ungrouped']:>9,} {row['ari']:>5.3f} {row['ceiling']:>7.3f} "
              f"{row['consensus']:>9}")


if __name__ == "__main__":
    main()
