"""Benchmark: the mediator's summary for 10 parties × 30 issues × 500 options, and package quality.

Run by hand from the repository root:

    python bench/summary.py

It prints, for a synthetic case (every party answers every item, shares everything with the
mediator, gives interest words in six languages, ratings, a ranking and ranges):

- the time of the analysis (language detection and cross-language matching included), of the
  chart, of the HTML report, and of the three together (the budget is 2 s on a 2-core machine);
- whether the package search was exact or ran under its time budget, its bound and gap;
- a baseline measured in the same run (one pass reading every rating and every text), with
  each figure as a ratio to it;
- the quality of the bounded package search against exact enumeration on cases small enough
  to enumerate: the least satisfied party's utility found, as a share of the optimum.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from bot.chart import render_chart
from bot.i18n import translator
from bot.report import render_report
from bot.summaries import _detect, _match
from flows.analysis import analyse
from flows.model import (
    CaseInfo,
    CaucusAnswers,
    InterestCategory,
    Interests,
    Issue,
    ItemKey,
    ItemKind,
    Option,
    PartyView,
    Range,
    Rating,
    Scale,
    ShareLevel,
)
from flows.packages import search_packages

PARTIES, ISSUES, OPTIONS = 10, 30, 500
WORDS = [
    "We need safe water for our cattle in the dry season.",
    "Nous avons besoin d'eau pour nos troupeaux pendant la saison sèche.",
    "Necesitamos agua segura para nuestro ganado en la estación seca.",
    "نحتاج إلى مياه آمنة لماشيتنا في موسم الجفاف.",
    "Tunahitaji maji salama kwa mifugo yetu wakati wa kiangazi.",
    "Нам нужна безопасная вода для скота в сухой сезон.",
]


def _case(seed: int) -> tuple[list[Issue], list[PartyView]]:
    rng = random.Random(seed)
    per_issue = [OPTIONS // ISSUES + (1 if i < OPTIONS % ISSUES else 0) for i in range(ISSUES)]
    issues = []
    for i, count in enumerate(per_issue):
        scale = Scale("USD", Decimal(0), Decimal(10_000)) if i % 5 == 0 else None
        issues.append(Issue(f"i{i}", f"Issue {i}", scale, tuple(Option(f"i{i}o{o}", f"Option {o} of issue {i}")
                                                                 for o in range(count))))
    parties = []
    for p in range(PARTIES):
        answers = CaucusAnswers()
        for issue in issues:
            answers.positions[issue.id] = f"Party {p} position on {issue.title}"
            answers.interests[issue.id] = Interests([rng.choice(list(InterestCategory))], rng.choice(WORDS))
            answers.ratings[issue.id] = {o.id: rng.choices(list(Rating), weights=(2, 3, 3, 1))[0]
                                         for o in issue.options}
            if issue.scale is not None:
                low = rng.randint(0, 6000)
                answers.ranges[issue.id] = Range(Decimal(low), Decimal(low + 4000), Decimal(low + 2000))
        answers.ranking = rng.sample([issue.id for issue in issues], len(issues))
        answers.share = {ItemKey(ItemKind.POSITION, issue.id): ShareLevel.JOINT for issue in issues}
        parties.append(PartyView(f"s{p}", f"Party {p}", answers))
    return issues, parties


def _baseline(parties: list[PartyView]) -> float:
    """One pass reading every rating and every text: the cost of merely touching the input."""
    start = time.perf_counter()
    total = 0
    for party in parties:
        for ratings in party.answers.ratings.values():
            total += sum(len(rating.value) for rating in ratings.values())
        total += sum(len(text) for text in party.answers.positions.values())
        total += sum(len(i.words) for i in party.answers.interests.values())
    elapsed = time.perf_counter() - start
    assert total > 0
    return elapsed


def _best(times: list[float]) -> float:
    return min(times)


def main() -> None:
    issues, parties = _case(1)
    info = CaseInfo("case", "bench01", "Benchmark case", "joint", 1)
    _detect("warm up the language model")  # loaded once per process, as in the bot
    _match([("A", "warm up"), ("B", "the matcher")])
    t = translator("en")
    runs: dict[str, list[float]] = {"baseline": [], "analysis": [], "chart": [], "report": [], "total": []}
    analysis = None
    for _ in range(5):
        runs["baseline"].append(_baseline(parties))
        start = time.perf_counter()
        analysis = analyse(issues, parties, detect=_detect, match=_match)
        middle = time.perf_counter()
        chart = render_chart(analysis, t, "Benchmark case")
        after_chart = time.perf_counter()
        render_report(info, analysis, t, chart=chart, generated=datetime.now(UTC))
        end = time.perf_counter()
        runs["analysis"].append(middle - start)
        runs["chart"].append(after_chart - middle)
        runs["report"].append(end - after_chart)
        runs["total"].append(end - start)
    assert analysis is not None
    base = _best(runs["baseline"])
    print(f"summary of {PARTIES} parties × {ISSUES} issues × {OPTIONS} options (best of 5 runs)")
    for name in ("baseline", "analysis", "chart", "report", "total"):
        best = _best(runs[name])
        print(f"  {name:<9} {best * 1000:9.1f} ms   median {statistics.median(runs[name]) * 1000:9.1f} ms"
              f"   {best / base:9.0f}× baseline")
    search = analysis.packages
    gap = (search.bound or 0) - (search.best.worst if search.best else 0)
    print(f"  packages: {search.count:.3g} after dominated options dropped; exact={search.exact} "
          f"proven={search.proven}; least satisfied {search.best.worst if search.best else 0:.4f}, "
          f"bound {search.bound or 0:.4f} (gap {gap:.4f})")
    print(f"  budget check: total {_best(runs['total']):.2f} s (target under 2 s)")
    _quality()


def _quality() -> None:
    """The bounded search against exact enumeration, on cases small enough to enumerate."""
    rng = np.random.default_rng(3)
    for parties, issues, options in ((3, 6, 4), (5, 7, 4), (10, 6, 5)):
        shares, optimal, times = [], 0, []
        for _ in range(50):
            weights = rng.dirichlet(np.ones(issues), size=parties)
            matrices = [np.array([[weights[p, i] * rng.integers(1, 4) / 3 for p in range(parties)]
                                  for _ in range(options)]) for i in range(issues)]
            exact = search_packages(matrices, exact_limit=10**7)
            start = time.perf_counter()
            found = search_packages(matrices, exact_limit=0)
            times.append(time.perf_counter() - start)
            assert exact.best is not None
            assert found.best is not None
            shares.append(found.best.worst / exact.best.worst)
            optimal += abs(found.best.worst - exact.best.worst) < 1e-9
        print(f"  bounded search vs exact, {parties} parties × {issues} issues × {options} options, 50 cases: "
              f"optimum reached {optimal}/50, worst case {min(shares):.4f} of the optimum, "
              f"mean {statistics.mean(shares):.4f}; median time {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
