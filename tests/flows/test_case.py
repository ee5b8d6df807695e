"""The mediator's rules: what may be edited when, deadlines, time zones and reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from flows.case import edit_rights, parse_deadline, parse_scale_bound, parse_timezone, reminder_due
from flows.errors import InvalidInput
from flows.machines import CaseStage, CaucusStep

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_everything_is_editable_in_the_draft_and_between_rounds() -> None:
    """Before the invitations and between rounds, issues and options may change, and nobody is answering."""
    for stage in (CaseStage.DRAFT_DETAILS, CaseStage.JOINT):
        rights = edit_rights(stage, [CaucusStep.SUBMITTED, CaucusStep.WAITING], submitted_in_round=2)
        assert (rights.editable, rights.restarts) == (True, False)


def test_during_a_round_edits_stop_once_a_party_submits_and_restart_those_answering() -> None:
    """During a round: editable while nobody submitted; parties already answering would start over."""
    waiting = edit_rights(CaseStage.CAUCUS, [CaucusStep.INVITED, CaucusStep.CONSENT], submitted_in_round=0)
    answering = edit_rights(CaseStage.CAUCUS, [CaucusStep.POSITION, CaucusStep.CONSENT], submitted_in_round=0)
    submitted = edit_rights(CaseStage.CAUCUS, [CaucusStep.SUBMITTED, CaucusStep.POSITION], submitted_in_round=1)
    assert (waiting.editable, waiting.restarts) == (True, False)
    assert (answering.editable, answering.restarts) == (True, True)
    assert not submitted.editable
    assert not edit_rights(CaseStage.CLOSED, [], submitted_in_round=0).editable


@pytest.mark.parametrize(("raw", "locale"), [("2026-12-31", "en"), ("12/31/2026", "en"), ("31/12/2026", "fr"),
                                             ("٢٠٢٦-١٢-٣١", "en")])
def test_deadlines_are_read_as_the_end_of_that_day_in_the_case_time_zone(raw: str, locale: str) -> None:
    """A date typed in ISO or the locale's form ends at 23:59 in the case's time zone."""
    deadline = parse_deadline(raw, locale, "Africa/Nairobi", NOW)
    assert deadline == datetime(2026, 12, 31, 20, 59, tzinfo=UTC)  # Nairobi is UTC+3


@pytest.mark.parametrize(("raw", "reason"), [("soon", "not_a_date"), ("2026-02-30", "not_a_date"),
                                             ("2026-11-01", "date_in_past"), ("2030-01-01", "date_too_far")])
def test_impossible_deadlines_are_refused(raw: str, reason: str) -> None:
    """Nonsense, past and far-future dates are refused with their reason."""
    with pytest.raises(InvalidInput) as refusal:
        parse_deadline(raw, "en", "UTC", NOW)
    assert refusal.value.reason == reason


def test_time_zones_are_matched_whatever_the_case() -> None:
    """IANA names are found case-insensitively; unknown names are refused."""
    assert parse_timezone(" africa/nairobi ") == "Africa/Nairobi"
    assert parse_timezone("utc") == "UTC"
    with pytest.raises(InvalidInput):
        parse_timezone("Mars/Olympus")


def test_the_scale_top_must_be_above_its_bottom() -> None:
    """A scale whose highest value is not above its lowest is refused."""
    assert parse_scale_bound("10 000", "fr", "USD") == Decimal(10000)
    with pytest.raises(InvalidInput) as refusal:
        parse_scale_bound("5", "en", "USD", above=Decimal(5))
    assert refusal.value.reason == "scale_order"


def _due(now: datetime, *, last: date | None = None, active: datetime | None = None) -> bool:
    deadline = datetime(2026, 11, 22, 20, 59, tzinfo=UTC)
    return reminder_due(now, deadline, "Africa/Nairobi", last_reminded=last, last_activity=active)


def test_reminders_are_polite() -> None:
    """Only in the last days, in daytime locally, once a day, and not while the party is active."""
    morning = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)  # 10:00 in Nairobi
    assert _due(morning)
    assert not _due(morning - timedelta(days=3))  # too early before the deadline
    assert not _due(datetime(2026, 11, 21, 2, 0, tzinfo=UTC))  # 05:00 in Nairobi
    assert not _due(morning, last=date(2026, 11, 21))  # already reminded today
    assert _due(morning, last=date(2026, 11, 20))
    assert not _due(morning, active=morning - timedelta(hours=1))
    assert not _due(datetime(2026, 11, 23, 7, 0, tzinfo=UTC))  # after the deadline
