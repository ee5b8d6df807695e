"""Numbers, amounts and moments, formatted in each reader's locale with Babel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from bot.i18n import Localized

__all__ = ["Amount", "Day", "Moment", "Number"]


@dataclass(frozen=True)
class Number(Localized):
    """A number as the reader writes it ("1,500.5" in English, "1 500,5" in French)."""

    value: Decimal | int

    def format(self, language: str) -> str:
        return format_decimal(self.value, locale=language, decimal_quantization=False)


@dataclass(frozen=True)
class Amount(Localized):
    """A number with the unit the mediator gave its issue."""

    value: Decimal
    unit: str

    def format(self, language: str) -> str:
        number = format_decimal(self.value, locale=language, decimal_quantization=False)
        return f"{number} {self.unit}".strip()


@dataclass(frozen=True)
class Moment(Localized):
    """A date and time in the case's time zone, in the reader's locale, with the zone named."""

    when: datetime
    timezone: str = "UTC"

    def format(self, language: str) -> str:
        zone = ZoneInfo(self.timezone)
        return f"{format_datetime(self.when.astimezone(zone), 'medium', locale=language)} ({self.timezone})"


@dataclass(frozen=True)
class Day(Localized):
    """The calendar day of a moment in a time zone, in the reader's locale (for lists, where a time is too much)."""

    when: datetime
    timezone: str = "UTC"

    def format(self, language: str) -> str:
        return format_date(self.when.astimezone(ZoneInfo(self.timezone)), "medium", locale=language)
