"""Cleaning typed text: hostile input is neutralised or refused."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.errors import InvalidInput
from flows.text import clean_line, clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  hello  ", "hello"),
        ("a\x00b", "ab"),
        ("left\u202eright", "leftright"),  # a bidi override could spoof the sentence around it
        ("x\u2066y\u2069", "xy"),  # stray isolates could break out of ours
        ("e\u0301", unicodedata.normalize("NFC", "e\u0301")),
        ("مرحبا", "مرحبا"),
        ("می\u200cخواهم", "می\u200cخواهم"),  # ZWNJ is needed in Persian
        ("<b>&amp;</b>", "<b>&amp;</b>"),  # escaping is the renderer's job, the text is kept as typed
    ],
)
def test_clean_text_keeps_meaning_and_drops_spoofing(raw: str, expected: str) -> None:
    """Control and bidi-override characters go; scripts, joiners and markup characters stay."""
    assert clean_text(raw) == expected


def test_floods_of_combining_marks_are_capped() -> None:
    """Hundreds of combining marks on one letter are cut to a few."""
    assert len(clean_text("a" + "\u0301" * 500)) <= 5


def test_lone_surrogates_are_removed() -> None:
    """A lone surrogate cannot be stored as UTF-8; it is dropped."""
    assert clean_text("ok\ud800") == "ok"


def test_clean_line_collapses_whitespace_and_bounds_length() -> None:
    """Names are one line and at most the limit."""
    assert clean_line(" Party \n  A ", max_chars=10) == "Party A"
    with pytest.raises(InvalidInput):
        clean_line("x" * 11, max_chars=10)


@given(st.text())
def test_clean_text_never_crashes_and_output_is_storable(raw: str) -> None:
    """Any text is either refused with InvalidInput or cleaned to valid, non-blank UTF-8."""
    try:
        cleaned = clean_text(raw)
    except InvalidInput as refusal:
        reason = refusal.reason
        cleaned = ""
    else:
        reason = ""
    if reason:
        assert reason in {"empty", "too_long"}
        return
    cleaned.encode("utf-8")
    assert cleaned.strip()
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in cleaned)
