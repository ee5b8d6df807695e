"""What a process keeps between transactions never outlives a change, whichever process made it.

- A case's data key is kept by the process that read it (it is destroyed only with the case's row); a party's key
  is read again by every transaction, because a withdrawal destroys it while the party's records stay.
- A case's issues and options are kept by case and version, as committed transactions read them.

Two stores on one database stand for two workers.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from flows.agreement import Agreement
from flows.model import Issue, Option
from storage.errors import StorageError
from storage.repository import CaseIssues, Store, Transaction
from tests.storage.conftest import StoreFactory, seated_case, unit

ALICE, BOB = 300_000_101, 300_000_102
MEDIATOR = 300_000_100
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
COMMENT = "Canary-comment-8812: not on market days."


async def _commented(store: Store, case_id: str, seats: list[str], commenter: str) -> str:
    """An agreement circulated to ``seats`` on which ``commenter`` asked for a change, with COMMENT; its id."""
    async with unit(store) as tx:
        agreement = Agreement.draft(secrets.token_hex(16), await tx.next_agreement_number(case_id), 1, "Even days",
                                    "en")
        await tx.create_agreement(case_id, agreement)
        agreement.circulate(seats, NOW)
        agreement.respond(commenter, 1, "request_change", NOW, comment=COMMENT)
        await tx.save_agreement(case_id, agreement, event="agreement_answered", actor="party", seat_id=commenter)
    return agreement.id


async def _comment(tx: Transaction, case_id: str, agreement_id: str, seat_id: str) -> str | None:
    agreement = await tx.agreement(case_id, agreement_id)
    assert agreement is not None
    return agreement.responses[seat_id].comment


async def test_a_withdrawal_by_another_worker_shreds_what_this_one_read_before(open_store: StoreFactory) -> None:
    """Worker A reads a party's comment, worker B takes the party's withdrawal: A's next read finds it gone."""
    first, second = await open_store(), await open_store()
    case_id, seats = await seated_case(first, [ALICE, BOB])
    agreement_id = await _commented(first, case_id, seats, seats[1])
    async with unit(first) as tx:
        assert await _comment(tx, case_id, agreement_id, seats[1]) == COMMENT
        assert await tx.seat_label(seats[1])  # the case's key, now kept by the first worker

    async with unit(second) as tx:
        await tx.withdraw_seat(seats[1])

    async with unit(first) as tx:
        assert await _comment(tx, case_id, agreement_id, seats[1]) is None


async def test_a_key_destroyed_earlier_in_the_transaction_reads_as_gone(open_store: StoreFactory) -> None:
    """Within one transaction: read the comment, withdraw the party, read again: the comment is gone."""
    store = await open_store()
    case_id, seats = await seated_case(store, [ALICE, BOB])
    agreement_id = await _commented(store, case_id, seats, seats[0])
    async with unit(store) as tx:
        assert await _comment(tx, case_id, agreement_id, seats[0]) == COMMENT
        await tx.withdraw_seat(seats[0])
        assert await _comment(tx, case_id, agreement_id, seats[0]) is None


async def test_a_case_erased_by_another_worker_is_unreadable_here(open_store: StoreFactory) -> None:
    """Worker A has read the case (and keeps its key); worker B erases it: A can read nothing of it any more."""
    first, second = await open_store(), await open_store()
    case_id, seats = await seated_case(first, [ALICE, BOB])
    async with unit(first) as tx:
        assert (await tx.case_info(case_id)).title == "Riverbank dispute"
        assert [issue.title for issue in await tx.issues(case_id)] == ["Water access", "Grazing routes"]

    async with unit(second) as tx:
        await tx.erase_case(case_id)

    for read in (lambda tx: tx.case_info(case_id), lambda tx: tx.issues(case_id), lambda tx: tx.seat_label(seats[0])):
        with pytest.raises(StorageError):
            async with unit(first) as tx:
                await read(tx)


class UndoneError(Exception):
    """Raised to undo a transaction."""


async def _titles(store: Store, case_id: str) -> list[str]:
    async with unit(store) as tx:
        return [issue.title for issue in await tx.issues(case_id)]


async def test_issues_changed_by_another_worker_read_as_changed(open_store: StoreFactory) -> None:
    """Worker A has read the issues; worker B renames one and adds an option: A's next read shows both."""
    first, second = await open_store(), await open_store()
    case_id, _seats = await seated_case(first, [ALICE, BOB])
    assert await _titles(first, case_id) == ["Water access", "Grazing routes"]
    async with unit(first) as tx:  # read again: the kept copy
        assert [issue.options for issue in await tx.issues(case_id)] == [(), ()]

    async with unit(second) as tx:
        water = (await tx.issues(case_id))[0]
        await tx.rename_issue(case_id, water.id, "Water rights")
        await tx.add_option(case_id, water.id, "Alternate days")

    async with unit(first) as tx:
        issues = await tx.issues(case_id)
    assert [issue.title for issue in issues] == ["Water rights", "Grazing routes"]
    assert [option.text for option in issues[0].options] == ["Alternate days"]


async def test_issues_changed_in_a_transaction_read_as_changed_in_it_and_after(open_store: StoreFactory) -> None:
    """A transaction that changes the issues reads its change back, and so does the next one."""
    store = await open_store()
    case_id, _seats = await seated_case(store, [ALICE, BOB])
    assert await _titles(store, case_id) == ["Water access", "Grazing routes"]
    async with unit(store) as tx:
        await tx.add_issue(case_id, "Market days")
        assert [issue.title for issue in await tx.issues(case_id)] == ["Water access", "Grazing routes", "Market days"]
        grazing = (await tx.issues(case_id))[1]
        await tx.remove_issue(case_id, grazing.id)
        assert [issue.title for issue in await tx.issues(case_id)] == ["Water access", "Market days"]
    assert await _titles(store, case_id) == ["Water access", "Market days"]


async def test_an_undone_change_to_the_issues_is_not_kept(open_store: StoreFactory) -> None:
    """A transaction renames an issue, reads it, then fails: the next transaction reads the old title, and a
    later rename, which gives the case the same version the undone one had, reads as itself."""

    store = await open_store()
    case_id, _seats = await seated_case(store, [ALICE, BOB])
    assert await _titles(store, case_id) == ["Water access", "Grazing routes"]
    async def rename_then_fail() -> None:
        async with unit(store) as tx:
            water = (await tx.issues(case_id))[0]
            await tx.rename_issue(case_id, water.id, "Water rights")
            assert [issue.title for issue in await tx.issues(case_id)] == ["Water rights", "Grazing routes"]
            raise UndoneError

    with pytest.raises(UndoneError):
        await rename_then_fail()
    assert await _titles(store, case_id) == ["Water access", "Grazing routes"]
    async with unit(store) as tx:
        water = (await tx.issues(case_id))[0]
        await tx.rename_issue(case_id, water.id, "Water supply")
    assert await _titles(store, case_id) == ["Water supply", "Grazing routes"]


async def test_issues_added_to_a_draft_read_as_added(open_store: StoreFactory) -> None:
    """Saving a draft reads its stored issues before adding the new ones: the next read has them all."""
    store = await open_store()
    async with unit(store) as tx:
        case_id = (await tx.create_case(MEDIATOR)).id
        draft = await tx.load_draft(case_id)
        draft.name_case("Well dispute")
        draft.add_issue("Well repairs")
        await tx.save_draft(case_id, draft)
    assert await _titles(store, case_id) == ["Well repairs"]
    async with unit(store) as tx:
        draft = await tx.load_draft(case_id)
        draft.add_issue("Queue at dawn")
        await tx.save_draft(case_id, draft)
    assert await _titles(store, case_id) == ["Well repairs", "Queue at dawn"]


def test_the_issues_kept_are_bounded_by_how_many_issues_and_options_they_hold() -> None:
    """A process keeps issues and options up to a total, whatever the cases' sizes: the least recent go first."""

    def case(issues: int, options: int) -> tuple[Issue, ...]:
        return tuple(Issue(f"i{n}", f"Issue {n}", None, tuple(Option(f"o{n}.{m}", "x") for m in range(options)))
                     for n in range(issues))

    kept = CaseIssues(size=100)
    kept.put(("small", 1), case(2, 3))  # 8
    kept.put(("large", 1), case(3, 29))  # 90: 98 in all
    assert kept.get(("small", 1)) is not None  # now the most recent
    kept.put(("other", 1), case(1, 4))  # 5: over 100, so the least recent ("large") goes
    assert (kept.get(("large", 1)), len(kept)) == (None, 2)
    kept.put(("huge", 1), case(30, 500))  # alone above the bound: nothing stays
    assert len(kept) == 0
