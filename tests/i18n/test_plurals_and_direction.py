"""Plural forms pick the right grammatical form for each number; right-to-left messages read right to left."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.grievance_views import STATUS_NAMES, triage_list
from bot.i18n import LANGUAGES, Layout, Translator, _, ngettext, user_text
from bot.replies import Reply, pack_lines
from bot.views import join_texts
from flows.grievance import count_grievances

LOCALES = Path(__file__).resolve().parents[2] / "locales"
SO_FAR = ("{count} issue so far.", "{count} issues so far.")
# For each language, numbers and the index of the plural form CLDR gives them.
FORMS = {
    # Babel's (CLDR's) Arabic rule numbers its forms zero, one, two, few (3-10), then 100-102 before 11-99.
    "ar": {0: 0, 1: 1, 2: 2, 3: 3, 10: 3, 103: 3, 100: 4, 102: 4, 11: 5, 99: 5},
    "ru": {1: 0, 21: 0, 2: 1, 4: 1, 22: 1, 5: 2, 11: 2, 12: 2, 0: 2},
    "uk": {1: 0, 21: 0, 2: 1, 4: 1, 22: 1, 5: 2, 11: 2, 12: 2, 0: 2},
    "fr": {0: 0, 1: 0, 2: 1},
    "es": {1: 0, 0: 1, 2: 1},
    "sw": {1: 0, 0: 1, 2: 1},
}


@pytest.mark.parametrize("language", sorted(FORMS))
def test_each_number_gets_its_grammatical_form(language: str) -> None:
    """Arabic has six forms, Russian and Ukrainian three: each number renders with its own form."""
    assert language in LANGUAGES
    with (LOCALES / language / "LC_MESSAGES" / "caucus.po").open("rb") as handle:
        catalog = read_po(handle)
    forms = catalog[SO_FAR[0]].string
    assert isinstance(forms, tuple)
    assert len(forms) == max(FORMS[language].values()) + 1 == catalog.num_plurals
    reader = Translator(language)
    for number, index in FORMS[language].items():
        assert reader.render(ngettext(*SO_FAR, number)) == forms[index].format(count=number), (language, number)


def test_arabic_paragraphs_start_right_to_left_with_user_text_isolated() -> None:
    """Every paragraph of an Arabic message starts with a right-to-left mark, even one starting with a Latin
    name; the name itself is isolated so it cannot reorder the sentence."""
    reply = Reply.of(_("Party added: {party}", party=user_text("Farmers' union")), "Farmers' union\nsecond line")
    (message,) = pack_lines(reply, Translator("ar"))
    assert all(paragraph.startswith("\u200f") for paragraph in message.split("\n"))
    assert "\u2068Farmers' union\u2069" in message
    (english,) = pack_lines(reply, Translator("en"))
    assert "\u200f" not in english


def test_layouts_follow_each_languages_punctuation() -> None:
    """Pieces put together without words still read the reader's way: French spaces before a colon and inside
    guillemets, Swahili's curly quotes, Arabic's comma and semicolon; English as written."""
    item = Layout("{number}. {name}: {value}", params={"number": 1, "name": "Lieu", "value": "Nord"})
    quoted = Layout("«{text}»", params={"text": "mots"})
    listed = join_texts([Layout("{a}, {b}", params={"a": "x", "b": "y"}), Layout("{c}", params={"c": "z"})])
    assert Translator("fr").render(item) == "1. Lieu\u00a0: Nord"
    assert Translator("fr").render(quoted) == "«\u00a0mots\u00a0»"
    assert Translator("fr").render(listed) == "x, y\u00a0; z"
    assert Translator("sw").render(quoted) == "\u201cmots\u201d"
    assert Translator("ar").render(listed) == "x\u060c y\u061b z"
    assert Translator("en").render(item) == "1. Lieu: Nord"
    overview = Translator("fr").render(triage_list([], count_grievances([]), 0, timezone="UTC").lines[1])
    assert overview.startswith(Translator("fr").render(_("By status")) + "\u00a0: ")
    assert ": " not in Translator("fr").render(STATUS_NAMES[next(iter(STATUS_NAMES))])
