"""Share-level screens: the party reads what each level means before choosing (DESIGN.md §4)."""

from __future__ import annotations

from bot.caucus_views import restrict_item, review_item
from bot.i18n import Text, translator
from bot.replies import Reply, pack_lines
from flows.caucus import CaucusConversation
from flows.machines import CaucusStep
from flows.model import CaucusAnswers, Issue, ItemKey, ItemKind, ShareLevel

WATER = Issue("i1", "Water")
POSITION = ItemKey(ItemKind.POSITION, "i1")
MEANINGS = {
    ShareLevel.PRIVATE: "Nobody sees it.",
    ShareLevel.MEDIATOR: "The mediator may read it; the other parties never see it.",
    ShareLevel.JOINT: "It may be quoted to all parties in the joint session.",
}


def _shown(reply: Reply, language: str = "en") -> str:
    return "\n".join(pack_lines(reply, translator(language)))


def _labels(reply: Reply) -> list[str]:
    render = translator("en").render
    return [render(b.label) if isinstance(b.label, Text) else b.label for row in reply.buttons for b in row]


def _conversation(step: CaucusStep, level: ShareLevel) -> CaucusConversation:
    answers = CaucusAnswers()
    answers.positions["i1"] = "We need the spring in summer."
    answers.share[POSITION] = level
    return CaucusConversation(step, 0, [WATER], answers)


def test_the_review_item_explains_every_level_it_offers() -> None:
    shown = _shown(review_item(_conversation(CaucusStep.REVIEW, ShareLevel.MEDIATOR), POSITION))
    assert "Who may see it: 👤 Mediator only" in shown
    for meaning in MEANINGS.values():
        assert meaning in shown
    french = _shown(review_item(_conversation(CaucusStep.REVIEW, ShareLevel.MEDIATOR), POSITION), "fr")
    assert "Nobody sees it." not in french


def test_after_submission_only_more_private_levels_are_offered_and_explained() -> None:
    reply = restrict_item(_conversation(CaucusStep.SUBMITTED, ShareLevel.JOINT), POSITION)
    shown = _shown(reply)
    assert _labels(reply) == ["🔒 Private", "👤 Mediator only", "Back"]
    assert MEANINGS[ShareLevel.PRIVATE] in shown
    assert MEANINGS[ShareLevel.MEDIATOR] in shown
    assert _labels(restrict_item(_conversation(CaucusStep.SUBMITTED, ShareLevel.MEDIATOR), POSITION)) == [
        "🔒 Private", "Back"]
