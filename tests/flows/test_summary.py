"""The mediator's summary reads only what parties allowed."""

from __future__ import annotations

from flows.model import (
    CaucusAnswers,
    InterestCategory,
    Interests,
    Issue,
    ItemKey,
    ItemKind,
    PartyView,
    ShareLevel,
)
from flows.summary import build_summary

ISSUES = [Issue("i1", "Water"), Issue("i2", "Land")]


def _party(label: str, category: InterestCategory, share: dict[ItemKey, ShareLevel]) -> PartyView:
    answers = CaucusAnswers(
        positions={"i1": f"{label} position", "i2": f"{label} land"},
        interests={"i1": Interests([category], f"{label} words")},
        ranking=["i2", "i1"],
        share=share,
    )
    return PartyView(label, label, answers)


def test_private_items_never_enter_the_summary() -> None:
    """A private item is absent, and its interest category is not counted as shared."""
    private_interest = {ItemKey(ItemKind.INTERESTS, "i1"): ShareLevel.PRIVATE,
                        ItemKey(ItemKind.RANKING): ShareLevel.PRIVATE}
    parties = [
        _party("A", InterestCategory.SECURITY, {}),
        _party("B", InterestCategory.SECURITY, private_interest),
        _party("C", InterestCategory.LAND, {ItemKey(ItemKind.POSITION, "i1"): ShareLevel.JOINT}),
    ]
    summary = build_summary(ISSUES, parties)
    assert summary.shared_interests == ()  # only A's security interest remains visible
    by_party = {p.party: p for p in summary.parties}
    assert by_party["B"].ranking is None
    assert by_party["A"].ranking == ("Land", "Water")
    texts = [item.text for p in summary.parties for item in p.items]
    assert "B words" not in texts
    assert "C position" in texts
    assert [i.level for i in by_party["C"].items if i.text == "C position"] == [ShareLevel.JOINT]


def test_shared_interest_lists_each_holder_with_their_words() -> None:
    """A category held by two parties is shared, with each party's own words."""
    summary = build_summary(ISSUES, [_party("A", InterestCategory.DIGNITY, {}),
                                     _party("B", InterestCategory.DIGNITY, {})])
    assert len(summary.shared_interests) == 1
    shared = summary.shared_interests[0]
    assert shared.category is InterestCategory.DIGNITY
    assert shared.party_count == 2
    assert [(h.party, h.words) for h in shared.holders] == [("A", "A words"), ("B", "B words")]
