"""The mediator's running of a case: what may be edited when, deadlines and reminders.

Pure rules over plain values; the transport asks them before it changes anything.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.dates import parse_date

from flows.caucus import MAX_OPTION_CHARS
from flows.errors import InvalidInput
from flows.machines import ANSWERING_STEPS, CaseStage, CaucusStep
from flows.numbers import parse_number
from flows.text import MAX_LABEL_CHARS, clean_line

__all__ = [
    "MAX_OPTIONS",
    "MAX_OPTION_CHARS",
    "MAX_UNIT_CHARS",
    "REMINDER_HOURS",
    "EditRights",
    "clean_option",
    "clean_unit",
    "deadline_example",
    "edit_rights",
    "parse_deadline",
    "parse_scale_bound",
    "parse_timezone",
    "reminder_due",
]

MAX_OPTIONS = 8  # per issue: more would not fit one rating screen a party can take in
MAX_UNIT_CHARS = 20
# Reminders go out only between these local hours, at most once per local day, and only in
# the last days before the deadline: polite, never at night.
REMINDER_HOURS = (9, 19)
REMINDER_WINDOW = timedelta(days=3)
_QUIET_AFTER_ACTIVITY = timedelta(hours=6)

# Steps of a party that has begun answering the round: changing its questions sends it through them again.
_ANSWERING = frozenset(ANSWERING_STEPS)


@dataclass(frozen=True)
class EditRights:
    """What the mediator may change now.

    ``editable``: issues and options may change: in the draft, between rounds, and during a round
    while nobody has submitted it. ``restarts``: parties have begun answering this round, so changing
    the questions themselves (anything but rewording an issue or adding an option) sends them through
    their answers again, each kept unless it no longer fits.
    """

    editable: bool
    restarts: bool


def edit_rights(stage: CaseStage, steps: list[CaucusStep], submitted_in_round: int) -> EditRights:
    """Draft and between rounds: everything. During a round: only while nobody submitted it."""
    if stage in {CaseStage.DRAFT_DETAILS, CaseStage.JOINT}:
        return EditRights(editable=True, restarts=False)
    if stage not in {CaseStage.INVITING, CaseStage.CAUCUS} or submitted_in_round:
        return EditRights(editable=False, restarts=False)
    return EditRights(editable=True, restarts=any(step in _ANSWERING for step in steps))


def can_restrict_shares(stage: CaseStage) -> bool:
    """Whether a party that submitted may still make answers more private: until the joint session (§4)."""
    return stage in {CaseStage.INVITING, CaseStage.CAUCUS}


def clean_option(raw: str) -> str:
    return clean_line(raw, max_chars=MAX_OPTION_CHARS)


def clean_unit(raw: str) -> str:
    return clean_line(raw, max_chars=MAX_UNIT_CHARS)


def parse_scale_bound(raw: str, locale: str, unit: str, *, above: Decimal | None = None) -> Decimal:
    """One end of a quantitative issue's scale; the highest must be above the lowest."""
    value = parse_number(raw, locale, unit=unit)
    if above is not None and value <= above:
        raise InvalidInput("scale_order", low=str(above), unit=unit)
    return value


_ZONES_BY_FOLDED = {name.casefold(): name for name in available_timezones()}


def parse_timezone(raw: str) -> str:
    """An IANA time zone name as typed ("africa/nairobi", "Europe/Kyiv", "UTC")."""
    folded = clean_line(raw, max_chars=MAX_LABEL_CHARS).replace(" ", "_").casefold()
    name = _ZONES_BY_FOLDED.get(folded) or ("UTC" if folded in {"utc", "gmt", "z"} else None)
    if name is None:
        raise InvalidInput("unknown_timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidInput("unknown_timezone") from error
    return name


_ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


def deadline_example(now: datetime) -> str:
    """A date to show as an example of a deadline: two weeks from now, in ISO form."""
    return (now + timedelta(days=14)).date().isoformat()


def parse_deadline(raw: str, locale: str, timezone: str, now: datetime) -> datetime:
    """A deadline typed as a date (ISO or the locale's short form): the end of that day, in UTC."""
    text = "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in raw.strip())
    try:
        day = date.fromisoformat(text) if _ISO_DATE.match(text) else parse_date(text, locale=locale)
    except (ValueError, IndexError, TypeError, OverflowError) as error:
        raise InvalidInput("not_a_date", example=deadline_example(now)) from error
    zone = ZoneInfo(timezone)
    try:
        deadline = datetime.combine(day, time(23, 59), tzinfo=zone).astimezone(UTC)
    except (OverflowError, ValueError) as error:  # years near 9999 cannot be moved to UTC
        raise InvalidInput("date_too_far") from error
    if deadline <= now:
        raise InvalidInput("date_in_past")
    if deadline - now > timedelta(days=366):
        raise InvalidInput("date_too_far")
    return deadline


def reminder_due(
    now: datetime, deadline: datetime, timezone: str, *,
    last_reminded: date | None, last_activity: datetime | None,
) -> bool:
    """Whether a party who has not submitted should be reminded now.

    At most once per local day, between REMINDER_HOURS local time, in the last days before the
    deadline, and not while the party has been active recently (it is answering already).
    """
    if not now < deadline <= now + REMINDER_WINDOW:
        return False
    local = now.astimezone(ZoneInfo(timezone))
    if not REMINDER_HOURS[0] <= local.hour < REMINDER_HOURS[1]:
        return False
    if last_reminded is not None and last_reminded >= local.date():
        return False
    return last_activity is None or now - last_activity >= _QUIET_AFTER_ACTIVITY
