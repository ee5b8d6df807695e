"""Long replies become several messages Telegram accepts: counted as Telegram counts, cut cleanly."""

from __future__ import annotations

import pytest

from bot.i18n import Text, translator, user_text
from bot.replies import MAX_MESSAGE_CHARS, Reply, pack_lines
from bot.standin import _HtmlParser, utf16_length

ENGLISH = translator("en")


def _plain(message: str) -> str:
    """The text Telegram shows: strict HTML parsing, as the stand-in (and Telegram) does it."""
    return _HtmlParser(message).parse()


def test_short_lines_stay_together_in_one_message() -> None:
    assert pack_lines(Reply.of("one", Text("<b>{x}</b>", params={"x": "two"})), ENGLISH) == ["one\n<b>two</b>"]


@pytest.mark.parametrize("unit", ["a", "é", "😀", "👩🏽‍🌾", "سلام", "&"])
def test_a_long_reply_is_split_into_messages_within_the_limit_in_utf16_units(unit: str) -> None:
    """Many lines of emoji count twice each in UTF-16: each message still fits, and nothing is lost."""
    line = Text("• <b>{name}</b>: <i>{answer}</i>", params={"name": "P", "answer": user_text(unit * 700)})
    messages = pack_lines(Reply.of(*[line] * 12), ENGLISH)
    assert len(messages) > 1
    shown = [_plain(message) for message in messages]
    assert all(utf16_length(text) <= MAX_MESSAGE_CHARS for text in shown)
    assert "".join(shown).count(unit) == 12 * 700


@pytest.mark.parametrize("unit", ["word ", "😀", "a&b "])
def test_a_single_over_long_line_is_cut_with_its_tags_closed_and_reopened(unit: str) -> None:
    """One line longer than a message (a long answer quoted whole) is cut, at a space where there is one."""
    text = unit * (3 * MAX_MESSAGE_CHARS // len(unit))
    line = Text("<b>Position:</b> <i>{answer}</i>", params={"answer": user_text(text)})
    messages = pack_lines(Reply.of("Summary", line, "End"), ENGLISH)
    shown = [_plain(message) for message in messages]  # raises if any piece is not valid Telegram HTML
    assert len(messages) >= 3
    assert all(utf16_length(piece) <= MAX_MESSAGE_CHARS for piece in shown)
    assert all(message.count("<i>") == message.count("</i>") for message in messages)
    whole = "".join(shown)
    assert whole.count(unit.strip()) == text.count(unit.strip())
    if " " in unit:
        assert all(not piece.rstrip().endswith(("wor", "a&")) for piece in shown[:-1])  # cut between words
    assert shown[0].startswith("Summary")
    assert "Position:" in shown[0] + shown[1]
    assert shown[-1].endswith("End")
