"""Plural forms pick the right grammatical form for each number; right-to-left messages read right to left."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, Translator, _, ngettext, user_text
from bot.replies import Reply, pack_lines

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
