"""Cleaning what people type before it is stored: hostile input changes nothing.

Rules (SECURITY.md, hostile input): NFC normalisation; NUL, other control characters and
lone surrogates removed; bidi embeddings, overrides and isolates removed (the transport
wraps user text in its own isolates, and a stray one could break out of them); floods of
combining marks capped; text that shows nothing (whitespace, zero-width and other format
characters, fillers, combining marks with nothing to combine with) is refused; so is text over
the step's length limit.
"""

from __future__ import annotations

import re
import unicodedata

from flows.errors import InvalidInput

__all__ = ["MAX_ANSWER_CHARS", "MAX_LABEL_CHARS", "MAX_TITLE_CHARS", "clean_line", "clean_text"]

MAX_ANSWER_CHARS = 1500
MAX_TITLE_CHARS = 120
MAX_LABEL_CHARS = 60
_MAX_COMBINING_RUN = 4

_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Letters and symbols that are drawn blank: Hangul fillers and the blank braille pattern.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Format characters (zero-width, direction marks, soft hyphen) and marks: nothing to see on their own.
_SHOWS_NOTHING = frozenset({"Cf", "Mn", "Me"})


def _drop_unwanted(text: str) -> str:
    kept: list[str] = []
    combining_run = 0
    for char in text:
        category = unicodedata.category(char)
        if category == "Cs" or (category == "Cc" and char not in "\n\t"):
            continue
        if unicodedata.combining(char):
            combining_run += 1
            if combining_run > _MAX_COMBINING_RUN:
                continue
        else:
            combining_run = 0
        kept.append(char)
    return "".join(kept)


def _shows_something(char: str) -> bool:
    return not char.isspace() and char not in _BLANK_LOOKING and unicodedata.category(char) not in _SHOWS_NOTHING


def _clean(raw: str) -> str:
    text = _drop_unwanted(_BIDI_CONTROLS.sub("", raw))
    text = unicodedata.normalize("NFC", text).strip()
    if not any(_shows_something(char) for char in text):
        raise InvalidInput("empty")
    return text


def _bounded(text: str, max_chars: int) -> str:
    if len(text) > max_chars:
        raise InvalidInput("too_long", limit=max_chars)
    return text


def clean_text(raw: str, *, max_chars: int = MAX_ANSWER_CHARS) -> str:
    """Return ``raw`` cleaned for storage, or raise InvalidInput("empty" | "too_long")."""
    return _bounded(_clean(raw), max_chars)


def clean_line(raw: str, *, max_chars: int) -> str:
    """Like `clean_text`, for one-line names (titles, labels): inner whitespace collapses to one space."""
    return _bounded(" ".join(_clean(raw).split()), max_chars)
