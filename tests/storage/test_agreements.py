"""The repository contract for agreements, commitments and monitors, run alike on SQLite and PostgreSQL: versions
and translations round-trip, answers are recorded per version, comments are under the party's key (shredded with
its withdrawal), commitments keep their reports, reviews and observations, everything enters the audit trail,
nothing is stored in clear, and erasing the case removes it all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from flows.agreement import Agreement, Commitment, ObservationKind, Outcome, Verdict
from flows.machines import AgreementStatus, CommitmentStatus, ResponseStatus
from storage.repository import Store
from storage.tables import (
    AgreementResponseRow,
    AgreementRow,
    AgreementVersionRow,
    CommitmentRow,
    MonitorRow,
    ObservationRow,
)
from tests.storage.conftest import Database, seated_case, unit

ALICE, BOB = 300_000_001, 300_000_002
MONITOR_USER = 300_000_009
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TEXT = "Canary-agreement-7311: the upper village takes water on even days."
FRENCH = "Canari-accord-7311 : le village du haut puise l'eau les jours pairs."
COMMENT = "Canary-comment-5527: name the days of the week, please."
WHAT = "Canary-commitment-9043: rebuild the canal gate"
OBSERVED = "Canary-observation-6612: the gate is still broken"


async def _draft(store: Store, case_id: str) -> Agreement:
    async with unit(store) as tx:
        agreement = Agreement.draft("a" * 32, await tx.next_agreement_number(case_id), 1, TEXT, "en")
        agreement.add_translation("fr", FRENCH)
        await tx.create_agreement(case_id, agreement)
    return agreement


async def test_an_agreement_round_trips_with_its_versions_answers_and_audit(store: Store) -> None:
    """Draft, send, a change requested with a comment, a revised version confirmed by both: read back as saved,
    version 1's answers kept, and every step in the audit trail without its text."""
    case_id, seats = await seated_case(store, [ALICE, BOB])
    agreement = await _draft(store, case_id)
    async with unit(store) as tx:
        loaded = await tx.agreement(case_id, agreement.id, lock=True)
        assert loaded is not None
        assert (loaded.number, loaded.current.text, loaded.current.translations) == (1, TEXT, {"fr": FRENCH})
        loaded.circulate(seats, NOW)
        await tx.save_agreement(case_id, loaded, event="agreement_sent", actor="mediator")
    async with unit(store) as tx:
        loaded = await tx.agreement(case_id, agreement.id, lock=True)
        assert loaded is not None
        loaded.respond(seats[0], 1, "confirm", NOW)
        loaded.respond(seats[1], 1, "request_change", NOW, comment=COMMENT)
        await tx.save_agreement(case_id, loaded, event="agreement_answered", actor="party", seat_id=seats[1])
    async with unit(store) as tx:
        loaded = await tx.agreement(case_id, agreement.id, lock=True)
        assert loaded is not None
        assert loaded.responses[seats[1]].comment == COMMENT
        assert loaded.responses[seats[0]].status is ResponseStatus.CONFIRMED
        loaded.revise(TEXT + " Monday, Wednesday, Friday.", "en")
        loaded.circulate(seats, NOW)
        await tx.save_agreement(case_id, loaded, event="agreement_sent", actor="mediator")
    async with unit(store) as tx:
        loaded = await tx.agreement(case_id, agreement.id, lock=True)
        assert loaded is not None
        assert [v.number for v in loaded.versions] == [1, 2]
        assert all(r.status is ResponseStatus.PENDING for r in loaded.responses.values())
        loaded.respond(seats[0], 2, "confirm", NOW)
        assert loaded.respond(seats[1], 2, "confirm", NOW + timedelta(minutes=5))
        await tx.save_agreement(case_id, loaded, event="agreement_confirmed", actor="party", seat_id=seats[1])
    async with unit(store) as tx:
        loaded = await tx.agreement(case_id, agreement.id)
        assert loaded is not None
        assert loaded.status is AgreementStatus.CONFIRMED
        assert loaded.confirmed_at == NOW + timedelta(minutes=5)
        assert await tx.agreement_version(agreement.id) == 2
        events = await tx.audit_events_of_seat(seats[1])
    async with store.engine.connect() as connection:
        first_answers = (await connection.execute(
            select(AgreementResponseRow.status).join(AgreementVersionRow,
                                                     AgreementVersionRow.id == AgreementResponseRow.version_id)
            .where(AgreementVersionRow.number == 1).order_by(AgreementResponseRow.status))).scalars().all()
    assert sorted(first_answers) == ["change_requested", "confirmed"]  # version 1's answers stay on record
    kinds = [event.kind for event in events]
    assert "agreement_answered" in kinds
    assert "agreement_confirmed" in kinds


async def test_a_withdrawal_shreds_the_partys_comments_but_not_the_record(store: Store) -> None:
    """After the party withdraws, its answer (who, what, when) stays and its comment reads as gone."""
    case_id, seats = await seated_case(store, [ALICE, BOB])
    agreement = await _draft(store, case_id)
    async with unit(store) as tx:
        loaded = await tx.agreement(case_id, agreement.id, lock=True)
        assert loaded is not None
        loaded.circulate(seats, NOW)
        loaded.respond(seats[1], 1, "request_change", NOW, comment=COMMENT)
        await tx.save_agreement(case_id, loaded, event="agreement_answered", actor="party", seat_id=seats[1])
    async with unit(store) as tx:
        await tx.withdraw_seat(seats[1])
    async with unit(store) as tx:
        loaded = await tx.agreement(case_id, agreement.id)
    assert loaded is not None
    assert loaded.responses[seats[1]].status is ResponseStatus.CHANGE_REQUESTED
    assert loaded.responses[seats[1]].comment is None


async def test_commitments_keep_reports_reviews_and_observations(store: Store) -> None:
    """A commitment with a report (and comment), a dispute and a monitor's alarm reads back whole; only commitments
    of confirmed agreements with nothing reported are followed by the deadline job."""
    case_id, seats = await seated_case(store, [ALICE, BOB])
    agreement = await _draft(store, case_id)
    commitment = Commitment("c" * 32, agreement.id, seats[0], WHAT, NOW + timedelta(days=10), "Monitors visit")
    async with unit(store) as tx:
        await tx.add_commitment(case_id, commitment)
        monitor_id, token = await tx.invite_monitor(case_id, "Valley women's network", timedelta(days=7))
    async with unit(store) as tx:
        assert await tx.followed_commitments() == []  # the agreement is not confirmed yet
        assert await tx.claim_monitor(token, MONITOR_USER) == monitor_id
        assert await tx.claim_monitor(token, ALICE) is None  # someone else's link
        loaded = await tx.agreement(case_id, agreement.id, lock=True)
        assert loaded is not None
        loaded.circulate(seats, NOW)
        loaded.respond(seats[0], 1, "confirm", NOW)
        loaded.respond(seats[1], 1, "confirm", NOW)
        await tx.save_agreement(case_id, loaded, event="agreement_confirmed", actor="party", seat_id=seats[1])
    async with unit(store) as tx:
        followed = await tx.followed_commitments()
        assert [(f.case_id, f.commitment_id) for f in followed] == [(case_id, commitment.id)]
        stored = await tx.commitment(case_id, commitment.id, lock=True)
        assert stored is not None
        assert stored.what == WHAT
        stored.report_outcome(seats[0], Outcome.DONE, NOW, "All done")
        await tx.save_commitment(case_id, stored, event="commitment_reported", actor="party", seat_id=seats[0])
    async with unit(store) as tx:
        stored = await tx.commitment(case_id, commitment.id, lock=True)
        assert stored is not None
        stored.review(seats[1], 1, Verdict.DISPUTE, NOW, others=seats, comment="Not true")
        stored.observe(monitor_id, ObservationKind.ALARM, OBSERVED, NOW)
        await tx.save_commitment(case_id, stored, event="commitment_reviewed", actor="party", seat_id=seats[1])
    async with unit(store) as tx:
        stored = await tx.commitment(case_id, commitment.id)
        contact = await tx.monitor_contact(monitor_id)
        assert await tx.followed_commitments() == []  # reported: no longer waiting for its deadline
    assert stored is not None
    assert stored.status is CommitmentStatus.DISPUTED
    assert [(r.outcome, r.comment) for r in stored.reports] == [(Outcome.DONE, "All done")]
    assert [(r.seat_id, r.verdict, r.comment) for r in stored.reviews] == [(seats[1], Verdict.DISPUTE, "Not true")]
    assert [(o.kind, o.text) for o in stored.observations] == [(ObservationKind.ALARM, OBSERVED)]
    assert contact is not None
    assert (contact.chat_id, contact.label) == (MONITOR_USER, "Valley women's network")


async def test_nothing_is_stored_in_clear_and_erasing_the_case_removes_it_all(store: Store, database: Database,
                                                                                ) -> None:
    """No agreement text, translation, comment, commitment or observation is readable in the database; after the
    case is erased no row of these tables is left."""
    case_id, seats = await seated_case(store, [ALICE, BOB])
    agreement = await _draft(store, case_id)
    commitment = Commitment("d" * 32, agreement.id, seats[0], WHAT, NOW + timedelta(days=10), "Monitors visit")
    async with unit(store) as tx:
        await tx.add_commitment(case_id, commitment)
        monitor_id, _token = await tx.invite_monitor(case_id, "Observers", timedelta(days=7))
        loaded = await tx.agreement(case_id, agreement.id, lock=True)
        assert loaded is not None
        loaded.circulate(seats, NOW)
        loaded.respond(seats[1], 1, "request_change", NOW, comment=COMMENT)
        await tx.save_agreement(case_id, loaded, event="agreement_answered", actor="party", seat_id=seats[1])
        stored = await tx.commitment(case_id, commitment.id, lock=True)
        assert stored is not None
        stored.observe(monitor_id, ObservationKind.NOTE, OBSERVED, NOW)
        await tx.save_commitment(case_id, stored, event="observation_filed", actor="monitor")
    async with store.engine.connect() as connection:
        for table in ("agreement_versions", "agreement_responses", "commitments", "observations", "monitors"):
            for row in (await connection.execute(text(f"SELECT * FROM {table}"))).all():  # noqa: S608
                dump = repr(tuple(row))
                assert "Canary" not in dump
                assert "Canari" not in dump
    if database.path is not None:
        raw = database.path.read_bytes() + database.path.with_name(database.path.name + "-wal").read_bytes()
        for canary in (b"Canary-agreement", b"Canari-accord", b"Canary-comment", b"Canary-commitment",
                       b"Canary-observation"):
            assert canary not in raw
    async with unit(store) as tx:
        await tx.erase_case(case_id)
    async with store.engine.connect() as connection:
        for model in (AgreementRow, AgreementVersionRow, AgreementResponseRow, CommitmentRow, MonitorRow,
                      ObservationRow):
            assert (await connection.execute(select(func.count()).select_from(model))).scalar() == 0
