"""No output lets anyone learn a private item, and a range only as its overlap band, to the mediator alone.

Property-based: random cases of 2 to 4 parties with random share levels. Each case gets a twin
in which everything the audience may not read is different (the text of private items, their
ratings and priorities, every range as long as its overlap band stays the same); the message,
the chart and the report must then be byte-identical. For the joint summary the twin changes
everything that is not marked for the joint session, ranges included, across bands.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chart import render_chart
from bot.i18n import LANGUAGES, translator
from bot.replies import pack_lines
from bot.report import render_report
from bot.summaries import _detect, _match
from bot.summary_views import joint_summary, summary_message
from flows.analysis import Audience, analyse
from flows.model import (
    OPTIONAL_KINDS,
    CaseInfo,
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

ISSUES = [
    Issue("water", "Water", options=(Option("o1", "A new well"), Option("o2", "A shared pump"))),
    Issue("money", "Compensation", scale=Scale("USD", Decimal(0), Decimal(1000))),
    Issue("land", "Land", scale=Scale("ha", Decimal(0), Decimal(100)),
          options=(Option("o3", "Return the fields"), Option("o4", "Lease them"))),
]
INFO = CaseInfo("case", "k7m2qa", "Valley", "joint", 1)
WHEN = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CANARY = "CANARY-{}-{}"
LEVELS = st.sampled_from(list(ShareLevel))


@st.composite
def _answers(draw: st.DrawFn, label: str) -> CaucusAnswers:
    answers = CaucusAnswers()
    for issue in ISSUES:
        answers.positions[issue.id] = draw(st.sampled_from([f"keep the {issue.id}", f"share the {issue.id}"]))
        answers.interests[issue.id] = Interests(draw(st.lists(st.sampled_from(list(InterestCategory)), min_size=1,
                                                              max_size=2, unique=True)),
                                                draw(st.sampled_from(["our families", "nos familles", "امن"])))
        if issue.options:
            answers.ratings[issue.id] = {o.id: draw(st.sampled_from(list(Rating))) for o in issue.options}
        if issue.scale is not None:
            low = draw(st.integers(0, int(issue.scale.high)))
            high = draw(st.integers(low, int(issue.scale.high)))
            answers.ranges[issue.id] = Range(Decimal(low), Decimal(high), Decimal(low))
    answers.ranking = draw(st.permutations([issue.id for issue in ISSUES]))
    for kind in OPTIONAL_KINDS:
        if draw(st.booleans()):
            answers.texts[kind] = f"{kind.value} of {label}"
    for key in answers.items(ISSUES):
        answers.share[key] = draw(LEVELS)
    return answers


cases = st.integers(2, 4).flatmap(lambda n: st.tuples(*(_answers(f"P{i}") for i in range(n))))


def _hidden(level: ShareLevel, audience: Audience) -> bool:
    return not audience.may_read(level)


def _same_band_ranges(ranges: list[dict[str, Range]], data: st.DataObject) -> list[dict[str, Range]]:
    """Other ranges with the same intersection width: everyone shifted alike, slack limits moved freely."""
    result: list[dict[str, Range]] = [{} for _ in ranges]
    for issue in ISSUES:
        if issue.scale is None:
            continue
        given = [r[issue.id] for r in ranges]
        lows = [int(r.low or 0) for r in given]
        highs = [int(r.high or 0) for r in given]
        top = int(issue.scale.high)
        shift = data.draw(st.integers(-min(lows), top - max(highs)))
        max_low, min_high = max(lows), min(highs)
        for index, (low, high) in enumerate(zip(lows, highs, strict=True)):
            # A limit that does not bind the intersection can move away from it without changing it.
            new_low = low if low == max_low else data.draw(st.integers(0, low))
            new_high = high if high == min_high else data.draw(st.integers(high, top))
            new_low, new_high = max(new_low + shift, 0), min(new_high + shift, top)
            hope = Decimal(data.draw(st.integers(new_low, max(new_low, new_high))))
            result[index][issue.id] = Range(Decimal(new_low), Decimal(new_high), hope)
    return result


def _twin(parties: tuple[CaucusAnswers, ...], audience: Audience, data: st.DataObject) -> list[CaucusAnswers]:
    """The same case with everything ``audience`` may not read replaced."""
    twins = []
    ranges = _same_band_ranges([p.ranges for p in parties], data) if audience is Audience.MEDIATOR else [
        {issue.id: Range(Decimal(0), Decimal(1), Decimal(0)) for issue in ISSUES if issue.scale} for _ in parties]
    for number, answers in enumerate(parties):
        twin = dataclasses.replace(answers, positions=dict(answers.positions), interests=dict(answers.interests),
                                   ratings={k: dict(v) for k, v in answers.ratings.items()},
                                   ranking=list(answers.ranking), texts=dict(answers.texts), ranges=ranges[number],
                                   share=dict(answers.share))
        for key in answers.items(ISSUES):
            if not _hidden(answers.share_level(key), audience):
                continue
            canary = CANARY.format(number, key.encode())
            if key.kind is ItemKind.POSITION:
                twin.positions[key.issue_id] = canary
            elif key.kind is ItemKind.INTERESTS:
                twin.interests[key.issue_id] = Interests([InterestCategory.OTHER], canary)
            elif key.kind is ItemKind.RATINGS:
                twin.ratings[key.issue_id] = {o: Rating.UNACCEPTABLE if r is not Rating.UNACCEPTABLE else Rating.IDEAL
                                              for o, r in answers.ratings[key.issue_id].items()}
            elif key.kind is ItemKind.RANKING:
                twin.ranking = list(reversed(answers.ranking))
            elif key.kind in answers.texts:
                twin.texts[key.kind] = canary
        twins.append(twin)
    return twins


def _mediator_outputs(parties: list[CaucusAnswers], language: str) -> tuple[bytes, ...]:
    views = [PartyView(f"s{i}", f"Party {i}", answers) for i, answers in enumerate(parties)]
    analysis = analyse(ISSUES, views, mode=PriorityMode.RANKING, detect=_detect, match=_match)
    t = translator(language)
    message = "\n".join(pack_lines(summary_message(INFO, analysis), t)).encode()
    chart = render_chart(analysis, t, "Case k7m2qa")
    report = render_report(INFO, analysis, t, chart=chart, generated=WHEN).encode()
    return message, chart, report


def _joint_outputs(parties: list[CaucusAnswers]) -> tuple[bytes, ...]:
    views = [PartyView(f"s{i}", f"Party {i}", answers) for i, answers in enumerate(parties)]
    analysis = analyse(ISSUES, views, audience=Audience.JOINT, detect=_detect, match=_match)
    return tuple("\n".join(pack_lines(joint_summary(INFO, analysis), translator(lang))).encode()
                 for lang in LANGUAGES)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases, st.data())
def test_mediator_outputs_depend_only_on_what_the_mediator_may_read(parties: tuple[CaucusAnswers, ...],
                                                                     data: st.DataObject) -> None:
    """Private items changed and ranges moved within their band: message, chart and report are identical."""
    language = data.draw(st.sampled_from(list(LANGUAGES)))
    original = _mediator_outputs(list(parties), language)
    twin = _mediator_outputs(_twin(parties, Audience.MEDIATOR, data), language)
    assert original == twin
    for output in (original[0], original[2]):
        assert b"CANARY" not in output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases, st.data())
def test_joint_summary_depends_only_on_joint_items(parties: tuple[CaucusAnswers, ...], data: st.DataObject) -> None:
    """Everything not marked for the joint session, every range included, leaves the joint summary unchanged."""
    assert _joint_outputs(list(parties)) == _joint_outputs(_twin(parties, Audience.JOINT, data))


def test_canaries_in_every_private_item_never_appear() -> None:
    """All items private, each holding a canary: no output holds any canary, and ranges leave no trace."""
    parties = []
    for number in range(3):
        answers = CaucusAnswers(
            positions={i.id: CANARY.format(number, "pos") for i in ISSUES},
            interests={i.id: Interests([InterestCategory.SECURITY], CANARY.format(number, "why")) for i in ISSUES},
            ratings={"water": {"o1": Rating.IDEAL, "o2": Rating.LIVE_WITH}, "land": {"o3": Rating.IDEAL}},
            ranking=["water", "money", "land"],
            ranges={"money": Range(Decimal(100), Decimal(900), Decimal(555)),
                    "land": Range(Decimal(10), Decimal(90), Decimal(77))},
            texts={kind: CANARY.format(number, kind.value) for kind in OPTIONAL_KINDS},
        )
        answers.share = dict.fromkeys(answers.items(ISSUES), ShareLevel.PRIVATE)
        parties.append(answers)
    message, _chart, report = _mediator_outputs(parties, "en")
    report = re.sub(rb'src="data:image/png;base64,[^"]*"', b"", report)  # the chart: compared as bytes above
    for output in (message, report, *_joint_outputs(parties)):
        assert b"CANARY" not in output
        for number in (b"555", b"77", b"900"):
            assert number not in output
    assert ItemKey(ItemKind.RANGE, "money") in parties[0].share
