"""Reading numbers as people type them in chat, in each of the project's languages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from hypothesis import given
from hypothesis import strategies as st

from flows.errors import InvalidInput
from flows.numbers import parse_number

LOCALES = ["en", "fr", "es", "ar", "sw", "uk", "ru"]
REASONS = {"not_a_number", "ambiguous_number", "not_whole"}
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

ACCEPTED = [
    # English: "," groups, "." is the decimal point; "1,5" cannot be grouping, so it is 1.5.
    ("en", "1,500.5", "1500.5"),
    ("en", "1500.5", "1500.5"),
    ("en", "1,500", "1500"),
    ("en", "1.500", "1.5"),
    ("en", "1,234,567.89", "1234567.89"),
    ("en", "1,5", "1.5"),
    ("en", "2,75", "2.75"),
    ("en", "1.500,5", "1500.5"),
    ("en", "1 500,5", "1500.5"),
    ("en", "1 500", "1500"),
    ("en", ".5", "0.5"),
    ("en", "0,500", "0.5"),
    ("en", "  +42  ", "42"),
    ("en", "-1,000", "-1000"),
    ("en", "\u22127.25", "-7.25"),
    ("en", "007", "7"),
    ("en", "999,999,999,999,999.999999", "999999999999999.999999"),
    # French: narrow NBSP groups (any space does), "," is the decimal point.
    ("fr", "1 500,5", "1500.5"),
    ("fr", "1\u202f500,5", "1500.5"),
    ("fr", "1\u00a0500,5", "1500.5"),
    ("fr", "1\u2009500\u2007000", "1500000"),
    ("fr", "1500,5", "1500.5"),
    ("fr", "1500.5", "1500.5"),
    ("fr", "1.5", "1.5"),
    ("fr", "1.500.000", "1500000"),
    ("fr", "1.500,5", "1500.5"),
    ("fr", "1,500.5", "1500.5"),
    ("fr", "1234.500", "1234.5"),
    ("fr", "0.500", "0.5"),
    ("fr", ",5", "0.5"),
    ("fr", "-12,50", "-12.5"),
    # Spanish: "." groups, "," is the decimal point.
    ("es", "1.500,5", "1500.5"),
    ("es", "1.500", "1500"),
    ("es", "1,500", "1.5"),
    ("es", "1500,5", "1500.5"),
    ("es", "1500.5", "1500.5"),
    ("es", "1 500,5", "1500.5"),
    ("es", "12.345.678", "12345678"),
    # Arabic: Babel's Latin symbols and the Arabic ones, Arabic-Indic and Persian digits, direction marks.
    ("ar", "١٬٥٠٠٫٥", "1500.5"),
    ("ar", "١٥٠٠٫٥", "1500.5"),
    ("ar", "1٬500٫5", "1500.5"),
    ("ar", "1,500.5", "1500.5"),
    ("ar", "١٥٠٠,٥", "1500.5"),
    ("ar", "۱۲۳۴", "1234"),
    ("ar", "\u061c-١٢", "-12"),
    ("ar", "\u200f-1,234.5\u200e", "-1234.5"),
    ("ar", "١ ٥٠٠", "1500"),
    # Swahili: as English.
    ("sw", "1,500.5", "1500.5"),
    ("sw", "2,75", "2.75"),
    ("sw", "250", "250"),
    # Ukrainian and Russian: NBSP groups, "," is the decimal point.
    ("uk", "1 500,5", "1500.5"),
    ("uk", "1\u00a0500,5", "1500.5"),
    ("uk", "1500.5", "1500.5"),
    ("uk", "-0,75", "-0.75"),
    ("ru", "1 500,5", "1500.5"),
    ("ru", "1\u00a0000\u00a0000", "1000000"),
    ("ru", "3.14", "3.14"),
    ("ru", "1.500.000", "1500000"),
    # Other digit scripts and Babel locales.
    ("en", "१२३४.५", "1234.5"),
    ("en", "１２３", "123"),
    ("hi", "12,34,567", "1234567"),
    ("hi", "1,234,567", "1234567"),
    ("de_CH", "1’500.5", "1500.5"),
]

REFUSED = [
    ("en", "", "not_a_number"),
    ("en", "   ", "not_a_number"),
    ("en", "\u200e", "not_a_number"),
    ("en", "abc", "not_a_number"),
    ("en", "12abc", "not_a_number"),
    ("en", "100-200", "not_a_number"),
    ("en", "100 or 200", "not_a_number"),
    ("en", "100 - 200", "not_a_number"),
    ("en", "1e5", "not_a_number"),
    ("en", "1E5", "not_a_number"),
    ("en", "inf", "not_a_number"),
    ("en", "-Infinity", "not_a_number"),
    ("en", "nan", "not_a_number"),
    ("en", "0x1F", "not_a_number"),
    ("en", "1/2", "not_a_number"),
    ("en", "½", "not_a_number"),
    ("en", "²", "not_a_number"),
    ("en", "1,", "not_a_number"),
    ("en", "1.", "not_a_number"),
    ("en", ",", "not_a_number"),
    ("en", "-", "not_a_number"),
    ("en", "--5", "not_a_number"),
    ("en", "+-5", "not_a_number"),
    ("en", "- 5", "not_a_number"),
    ("en", "5-", "not_a_number"),
    ("en", "1,,500", "not_a_number"),
    ("en", "1 ,5", "not_a_number"),
    ("en", "1.2.3", "not_a_number"),
    ("en", "1,500 000", "not_a_number"),
    ("en", "1\n500", "not_a_number"),
    ("en", "1٥", "not_a_number"),
    ("en", "1234567890123456", "not_a_number"),
    ("en", "1.1234567", "not_a_number"),
    ("en", "1" * 65, "not_a_number"),
    ("en", "500 USD", "not_a_number"),
    ("fr", "1 50 000", "not_a_number"),
    ("fr", "1 5000", "not_a_number"),
    ("fr", "1.500", "ambiguous_number"),
    ("fr", "12.345", "ambiguous_number"),
    ("fr", "-1.500", "ambiguous_number"),
    ("ru", "1.000", "ambiguous_number"),
    ("uk", "250.000", "ambiguous_number"),
    ("ar", "١٫٥٫٥", "not_a_number"),
]


@pytest.mark.parametrize(("locale", "text", "expected"), ACCEPTED)
def test_accepted_numbers(locale: str, text: str, expected: str) -> None:
    """Each typed form gives the Decimal a person of that locale means."""
    assert parse_number(text, locale) == Decimal(expected)


@pytest.mark.parametrize(("locale", "text", "reason"), REFUSED)
def test_refused_numbers(locale: str, text: str, reason: str) -> None:
    """Text that is not exactly one number, or could be two different numbers, is refused with its reason."""
    with pytest.raises(InvalidInput) as refusal:
        parse_number(text, locale)
    assert refusal.value.reason == reason


def test_every_project_locale_is_covered() -> None:
    """The accepted-input table has cases for each of the seven project languages."""
    assert set(LOCALES) <= {locale for locale, _, _ in ACCEPTED}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1500", "1500"),
        ("1 500,50", "1500.5"),
        ("-0", "0"),
        ("0,000", "0"),
        ("1.500.000", "1500000"),
        ("007,10", "7.1"),
    ],
)
def test_results_are_canonical(text: str, expected: str) -> None:
    """The result prints plainly: no exponent, no trailing fractional zeros, no negative zero."""
    assert str(parse_number(text, "fr")) == expected


def test_input_length_limit_counts_the_raw_text() -> None:
    """Up to 64 characters are read, padding included; one more is refused."""
    assert parse_number(" " * 62 + "42", "en") == 42
    with pytest.raises(InvalidInput, match="not_a_number"):
        parse_number(" " * 63 + "42", "en")


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("500 USD", "USD", "500"),
        ("USD 500", "USD", "500"),
        ("500usd", "USD", "500"),
        ("usd500", "USD", "500"),
        ("1,500.5 Usd", "USD", "1500.5"),
        ("USD -20", "USD", "-20"),
        ("-20 USD", "USD", "-20"),
        ("12 km", "km", "12"),
        ("12km", "KM", "12"),
        ("  12 km  ", "km", "12"),
        ("12", "km", "12"),  # the unit may be left out
        ("€ 30", "€", "30"),
    ],
)
def test_unit_before_or_after(text: str, unit: str, expected: str) -> None:
    """The unit may come before or after the number, in any case, with or without a space."""
    assert parse_number(text, "en", unit=unit) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("500 EUR", "USD"),
        ("USD", "USD"),
        ("USD 500 USD", "USD"),
        ("500 USDs", "USD"),
        ("-USD 500", "USD"),
        ("12 m", "km"),
        ("12 km 3", "km"),
    ],
)
def test_other_units_are_refused(text: str, unit: str) -> None:
    """Only the expected unit, at most once, at one end, is accepted."""
    with pytest.raises(InvalidInput, match="not_a_number"):
        parse_number(text, "en", unit=unit)


@pytest.mark.parametrize(("locale", "text", "expected"), [("fr", "1 500", 1500), ("en", "-3", -3), ("ar", "١٢", 12)])
def test_whole_accepts_integers(locale: str, text: str, expected: int) -> None:
    """With whole=True, integers are read as usual."""
    assert parse_number(text, locale, whole=True) == expected


@pytest.mark.parametrize(
    ("locale", "text"), [("fr", "12,0"), ("en", "2.5"), ("en", "1,5"), ("fr", ",5"), ("ar", "١٫٠")]
)
def test_whole_refuses_any_decimal_part(locale: str, text: str) -> None:
    """With whole=True, a decimal part is refused as not_whole, even a zero one."""
    with pytest.raises(InvalidInput, match="not_whole"):
        parse_number(text, locale, whole=True)


def test_whole_does_not_settle_ambiguity() -> None:
    """An ambiguous text stays ambiguous even when only an integer is expected."""
    with pytest.raises(InvalidInput, match="ambiguous_number"):
        parse_number("1.500", "fr", whole=True)


AMOUNTS = st.one_of(
    st.integers(min_value=-(10**12) + 1, max_value=10**12 - 1).map(Decimal),
    st.decimals(min_value=-(10**12) + 1, max_value=10**12 - 1, places=1),
    st.decimals(min_value=-(10**12) + 1, max_value=10**12 - 1, places=2),
)


def _babel_forms(value: Decimal, locale: str) -> list[str]:
    forms = [format_decimal(value, locale=locale, decimal_quantization=False, group_separator=True)]
    if locale == "ar":
        arab = format_decimal(
            value, locale=locale, decimal_quantization=False, group_separator=True, numbering_system="arab"
        )
        forms += [arab, arab.translate(ARABIC_INDIC)]
    return forms


@pytest.mark.parametrize("locale", LOCALES)
@given(value=AMOUNTS)
def test_babel_formatted_numbers_read_back(locale: str, value: Decimal) -> None:
    """Whatever Babel prints for a locale (Arabic numbering and digits too) reads back to the same value."""
    for form in _babel_forms(value, locale):
        assert parse_number(form, locale) == value, form


def _outcome(text: str, locale: str, *, unit: str = "", whole: bool = False) -> Decimal | str:
    """Return the number read, or the reason it was refused."""
    try:
        return parse_number(text, locale, unit=unit, whole=whole)
    except InvalidInput as refusal:
        return refusal.reason


@pytest.mark.parametrize("locale", LOCALES)
@given(text=st.text(), unit=st.sampled_from(["", "USD", "km", "€"]), whole=st.booleans())
def test_arbitrary_text_only_raises_invalid_input(locale: str, text: str, unit: str, whole: bool) -> None:
    """Any text gives a Decimal or an InvalidInput with a known reason, never another exception."""
    outcome = _outcome(text, locale, unit=unit, whole=whole)
    assert isinstance(outcome, Decimal) or outcome in REASONS


NUMBERISH = st.text(alphabet="0123456789.,  \u00a0\u202f٫٬+-−١٥e\u200f", max_size=24)


@pytest.mark.parametrize("locale", LOCALES)
@given(text=NUMBERISH)
def test_what_is_accepted_is_bounded_and_stable(locale: str, text: str) -> None:
    """An accepted number respects the digit limits and reads back the same once Babel prints it."""
    outcome = _outcome(text, locale)
    if isinstance(outcome, str):
        assert outcome in REASONS
        return
    sign, digits, exponent = outcome.as_tuple()
    assert isinstance(exponent, int)
    assert -6 <= exponent <= 0
    assert len(digits) + exponent <= 15
    assert "E" not in str(outcome)
    assert not (outcome.is_zero() and sign)
    assert parse_number(format_decimal(outcome, locale=locale, decimal_quantization=False), locale) == outcome
