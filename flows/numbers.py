"""Numbers as people type them in chat, read in their locale.

``parse_number("1 500,5", "fr")`` and ``parse_number("1,500.5", "en")`` both give ``Decimal("1500.5")``.

How a text is read:

- Direction marks (U+200E, U+200F, U+061C) are dropped anywhere, surrounding whitespace is stripped, then the
  ``unit`` (if any) is taken off the front or the back, case-insensitively, with or without a space; it may be
  left out, and any other unit is refused.
- One optional sign (``+``, ``-``, ``−``) touching the first digit or separator: ``- 5`` is refused.
- Digits are any Unicode decimal digits, all from one script (``1٥`` is refused).
- Separators stand alone between digit runs. Decimal: the locale's (Babel, default and ``latn`` numbering
  systems) and the Arabic ``٫``. Grouping: the locale's, the Arabic ``٬`` and every space-like character (all
  space-likes count as one separator). One number uses one kind of group separator; its groups are thousands
  (first 1-3 digits, then exactly 3) or the locale's own pattern (``12,34,567`` in ``hi``); a grouped number
  does not start with 0, so ``0.500`` is never read as grouping.
- The locale's reading always wins: ``1.500`` is 1500 in ``es`` and 1.5 in ``en``; ``1,500`` is 1500 in ``en``
  and 1.5 in ``es``. When it fails, the readings with ``.`` and ``,`` given other roles are tried: the other
  one as a group separator, and the two swapped. They must not give different values: in ``fr``, ``1500.5``
  is 1500.5 and ``1.500.000`` is 1500000, but ``1.500`` could be 1500 or 1.5 and is refused as
  ``ambiguous_number``; ``1234.500`` cannot be grouping (first group of 4) and is 1234.5.
- A leading decimal separator is accepted: ``,5`` in ``fr`` and ``.5`` in ``en`` are 0.5 (a grouped number
  cannot start with a separator, so this never competes with grouping). A trailing separator is refused.
- Limits, counted on the digits as typed: 64 characters of input, 15 integer digits, 6 decimal digits.

The result is canonical: no exponent, no trailing zeros after the decimal point and no negative zero, so
``str()`` gives ``1500`` (never ``1.5E+3``) and ``1500.5``. Every refusal is an ``InvalidInput`` with reason
``not_a_number``, ``ambiguous_number`` or ``not_whole`` (``whole=True`` and a decimal part, even ``,0``).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import get_decimal_symbol, get_group_symbol

from flows.errors import InvalidInput

__all__ = ["MAX_FRACTION_DIGITS", "MAX_INPUT_CHARS", "MAX_INTEGER_DIGITS", "parse_number"]

MAX_INPUT_CHARS = 64
MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 6

_DIRECTION_MARKS = str.maketrans("", "", "\u200e\u200f\u061c")
_NEGATIVE_SIGNS = frozenset("-\u2212")
_SIGNS = _NEGATIVE_SIGNS | {"+"}
# Thousands separators as typed or pasted: space, NBSP (uk, ru), narrow NBSP (fr), thin and figure spaces.
_SPACES = frozenset(" \u00a0\u202f\u2009\u2007")
_SPACE = " "  # every space-like separator is read as this one, so "1 500\u00a0000" groups consistently
_ARABIC_DECIMAL = "\u066b"
_ARABIC_GROUP = "\u066c"
_THOUSANDS = (3, 3)


@dataclass(frozen=True)
class _Reading:
    """Which separators mark the decimal point and which group digits."""

    decimals: frozenset[str]
    groups: frozenset[str]
    groupings: frozenset[tuple[int, int]]


@dataclass(frozen=True)
class _Parsed:
    """A number read one way: sign, integer digits and decimal digits (None when there is no decimal part)."""

    negative: bool
    integer: str
    fraction: str | None

    def value(self) -> Decimal:
        """Return the canonical Decimal: no exponent, no trailing fractional zeros, no negative zero."""
        integer = self.integer.lstrip("0") or "0"
        fraction = (self.fraction or "").rstrip("0")
        text = f"{integer}.{fraction}" if fraction else integer
        negative = self.negative and text.strip("0.") != ""
        return Decimal(f"-{text}" if negative else text)


def _not_a_number() -> InvalidInput:
    return InvalidInput("not_a_number")


def _space_class(char: str) -> str:
    return _SPACE if char in _SPACES else char


@lru_cache(maxsize=64)
def _readings(locale: str) -> tuple[_Reading, tuple[_Reading, ...]]:
    """Return the locale's own reading and the fallbacks tried when it fails."""
    # Both numbering systems: Babel's default for ``ar`` is ``latn`` in recent releases, ``arab`` in older ones.
    systems = ("default", "latn")
    decimals = {get_decimal_symbol(locale, numbering_system=system) for system in systems} | {_ARABIC_DECIMAL}
    groups = {_space_class(get_group_symbol(locale, numbering_system=system)) for system in systems}
    groups = (groups | {_ARABIC_GROUP, _SPACE}) - decimals
    pattern = Locale.parse(locale).decimal_formats.get(None)
    groupings = frozenset({_THOUSANDS, pattern.grouping if pattern is not None else _THOUSANDS})
    own = _Reading(frozenset(decimals), frozenset(groups), groupings)
    point = decimals & {".", ","}
    if len(point) != 1:
        return own, ()
    locale_point = point.pop()
    other = "," if locale_point == "." else "."
    other_groups = _Reading(own.decimals, own.groups | {other}, groupings)
    swapped = _Reading((own.decimals - {locale_point}) | {other}, (own.groups - {other}) | {locale_point}, groupings)
    return own, tuple(reading for reading in (other_groups, swapped) if reading != own)


def _strip_unit(text: str, unit: str) -> str:
    """Take ``unit`` off the end or the start of ``text``, case-insensitively, if it is there."""
    size = len(unit)
    folded = unit.casefold()
    if len(text) > size and text[-size:].casefold() == folded:
        return text[:-size].rstrip()
    if len(text) > size and text[:size].casefold() == folded:
        return text[size:].lstrip()
    return text  # the unit is implied by the question; any other letters are refused as not a number


def _tokenize(body: str) -> tuple[list[str], list[str]]:
    """Split ``body`` into ASCII digit runs and the single separators between them."""
    runs = [""]
    separators: list[str] = []
    zero: int | None = None
    for char in body:
        digit = unicodedata.decimal(char, -1)
        if digit < 0:
            if separators and not runs[-1]:  # two separators in a row: "1,,5", "1 ,5"
                raise _not_a_number()
            separators.append(_space_class(char))
            runs.append("")
            continue
        # Decimal digits come in blocks of ten from 0, so the code point of 0 names the script.
        if zero is not None and ord(char) - digit != zero:
            raise _not_a_number()
        zero = ord(char) - digit
        runs[-1] += str(digit)
    if not runs[-1]:  # empty, or ending with a separator: "1,"
        raise _not_a_number()
    return runs, separators


def _grouped(runs: list[str], grouping: tuple[int, int]) -> bool:
    """Tell whether ``runs`` are the groups of one integer under ``(primary, secondary)`` grouping."""
    primary, secondary = grouping
    first, *middle, last = runs
    return (
        1 <= len(first) <= (secondary if middle else primary)
        and not first.startswith("0")
        and all(len(run) == secondary for run in middle)
        and len(last) == primary
    )


def _valid_integer(runs: list[str], separators: list[str], reading: _Reading) -> bool:
    if not separators:
        return True
    if len(set(separators)) != 1 or separators[0] not in reading.groups:
        return False
    return any(_grouped(runs, grouping) for grouping in reading.groupings)


def _read(runs: list[str], separators: list[str], negative: bool, reading: _Reading) -> _Parsed | None:
    """Read the tokens one way, or return None when they do not make one number that way."""
    fraction: str | None = None
    if separators and separators[-1] in reading.decimals:
        fraction = runs[-1]
        runs, separators = runs[:-1], separators[:-1]
    if not _valid_integer(runs, separators, reading):
        return None
    integer = "".join(runs)
    if len(integer) > MAX_INTEGER_DIGITS or len(fraction or "") > MAX_FRACTION_DIGITS:
        return None
    return _Parsed(negative, integer, fraction)


def _interpret(runs: list[str], separators: list[str], negative: bool, locale: str) -> _Parsed:
    """Read the tokens the locale's way, else the one unambiguous other way."""
    own, fallbacks = _readings(locale)
    parsed = _read(runs, separators, negative, own)
    if parsed is not None:
        return parsed
    candidates = {found for reading in fallbacks if (found := _read(runs, separators, negative, reading)) is not None}
    if not candidates:
        raise _not_a_number()
    if len({candidate.value() for candidate in candidates}) > 1:
        raise InvalidInput("ambiguous_number")
    return candidates.pop()


def parse_number(text: str, locale: str, *, unit: str = "", whole: bool = False) -> Decimal:
    """Return the number ``text`` holds as typed in ``locale``, or raise InvalidInput.

    Reasons: ``not_a_number``, ``ambiguous_number`` (``1.500`` in ``fr``), ``not_whole`` (``whole=True``).
    ``locale`` comes from the code, not the person: an unknown one raises Babel's error.
    """
    if len(text) > MAX_INPUT_CHARS:
        raise _not_a_number()
    body = text.translate(_DIRECTION_MARKS).strip()
    if unit.strip():
        body = _strip_unit(body, unit.strip())
    negative = body[:1] in _NEGATIVE_SIGNS
    if body[:1] in _SIGNS:
        body = body[1:]
    runs, separators = _tokenize(body)
    parsed = _interpret(runs, separators, negative, locale)
    if whole and parsed.fraction is not None:
        raise InvalidInput("not_whole")
    return parsed.value()
