"""Caucus isolation: random cases of 2 to 4 parties, a unique canary in everything anyone types.

Figures held (SECURITY.md): 0 canaries reach another party; 0 items reach the mediator above
their share level. The cases (conftest.py: drawn from a fixed seed) are played at once through
the real bot against the stand-in, on one SQLite database, with two grievances alongside; then
every message, edit, button, caption, uploaded chart and HTML report each chat received is
searched for every canary.
"""

from __future__ import annotations

import pytest

from tests.security.sessions import (
    GRIEVANCE_CANARIES,
    Audience,
    Canary,
    CasePlan,
    Session,
    delivered,
    numbers_in,
    toasts,
)


def _members(case: CasePlan) -> list[int]:
    return [case.mediator_id, *(party.user_id for party in case.parties)]


def _may_read(canary: Canary, reader: int, case: CasePlan) -> bool:
    """Whether ``reader``, a member of ``case``, may receive ``canary`` (its author always may)."""
    if reader == canary.author:
        return True
    if canary.case != case.number:
        return False
    if canary.audience in {Audience.CASE, Audience.JOINT}:
        return True
    return canary.audience is Audience.MEDIATOR and reader == case.mediator_id


@pytest.fixture(scope="module")
def chats(mediation_session: Session) -> dict[int, tuple[CasePlan, str]]:
    """Each case member's Telegram id -> its case and everything delivered to its chat (casefolded)."""
    return {member: (case, delivered(mediation_session.standin, member))
            for case in mediation_session.cases for member in _members(case)}


def test_the_cases_were_played_in_full(mediation_session: Session, chats: dict[int, tuple[CasePlan, str]]) -> None:
    """Every party joined, answered and submitted; each mediator got the report; Telegram accepted every call."""
    assert [(call.method, call.description) for call in mediation_session.standin.calls() if not call.ok] == []
    for case in mediation_session.cases:
        mediator = chats[case.mediator_id][1]
        assert mediator.count("has submitted") >= len(case.parties), case.number
        assert f"caucus-{case.short_id}-report.html".casefold() in mediator
        assert "sent to" in mediator  # the joint summary went out


def test_no_canary_reaches_anyone_it_was_not_meant_for(mediation_session: Session,
                                                       chats: dict[int, tuple[CasePlan, str]],
                                                       figures: dict[str, str]) -> None:
    """No party, and no one in another case, receives what someone typed unless it was shared with them; no private
    item reaches the mediator; no grievance reaches a case; no button notice quotes anything typed."""
    canaries = [canary for case in mediation_session.cases for canary in case.canaries]
    notices = toasts(mediation_session.standin)
    leaks = [(canary.what, canary.author, reader) for canary in canaries for reader, (case, chat) in chats.items()
             if canary.text.casefold() in chat and not _may_read(canary, reader, case)]
    leaks += [(canary.what, canary.author, "a button notice") for canary in canaries
              if canary.text.casefold() in notices]
    leaks += [(text, "a grievance", reader) for text in GRIEVANCE_CANARIES for reader, (_case, chat) in chats.items()
              if text.casefold() in chat]
    private = [canary for canary in canaries if canary.audience is Audience.NOBODY]
    above_level = [(canary.what, canary.author) for canary in private
                   if canary.text.casefold() in chats[mediation_session.cases[canary.case].mediator_id][1]]
    by_parties = [canary for canary in canaries if canary.audience is not Audience.CASE]
    sizes = sorted(len(case.parties) for case in mediation_session.cases)
    figures["isolation: cases, parties"] = (f"{len(mediation_session.cases)} cases of {sizes} parties, "
                                            f"{len(mediation_session.parties)} parties")
    figures["isolation: canaries planted"] = (f"{len(canaries) + len(GRIEVANCE_CANARIES)} ({len(by_parties)} typed "
                                              f"by parties, {len(private)} of them kept private; "
                                              f"{len(canaries) - len(by_parties)} by mediators; "
                                              f"{len(GRIEVANCE_CANARIES)} in grievances)")
    figures["isolation: canaries leaked"] = str(len(leaks))
    figures["isolation: private items reaching the mediator"] = str(len(above_level))
    assert leaks == []
    assert above_level == []
    assert len(private) >= 10  # the draw keeps enough items private for the check to mean something


def test_what_was_shared_arrives_where_it_should(mediation_session: Session, chats: dict[int, tuple[CasePlan, str]],
                                                 figures: dict[str, str]) -> None:
    """Items marked for the mediator (and notes, suggestions) reach the mediator; joint items reach every party of
    the case too; what the mediator typed reaches every party of the case."""
    missing, expected = [], 0
    for case in mediation_session.cases:
        for canary in case.canaries:
            for reader in _members(case):
                if reader == canary.author or not _may_read(canary, reader, case):
                    continue
                expected += 1
                if canary.text.casefold() not in chats[reader][1]:
                    missing.append((case.number, canary.what, canary.author, reader))
    figures["isolation: shared items found where they belong"] = f"{expected - len(missing)} of {expected}"
    assert missing == []
    assert {canary.audience for case in mediation_session.cases for canary in case.canaries} == set(Audience)


def test_no_range_value_reaches_anyone_else(mediation_session: Session,
                                            chats: dict[int, tuple[CasePlan, str]]) -> None:
    """A party's lowest, highest and hoped-for values stay with it: never in the mediator's or another party's chat."""
    ranges = {party.user_id: party.range_values for party in mediation_session.parties}
    assert any(ranges.values())
    for reader, (_case, chat) in chats.items():
        others = set().union(*(values for author, values in ranges.items() if author != reader))
        assert not numbers_in(chat) & others, reader
        assert ranges.get(reader, set()) <= numbers_in(chat)  # control: a party's own screens show its values
