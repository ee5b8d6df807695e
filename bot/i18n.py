"""Translation: messages are marked with `_`/`ngettext` and rendered later in the reader's language.

A message is built once (e.g. "Party A has submitted") and may go to readers with different
languages, so marking and translating are separate: `_` returns a `Text` that a
`Translator` renders. Parameters are HTML-escaped when rendered; user-typed text is also
wrapped in Unicode isolates so it cannot reorder the sentence around it (right-to-left
scripts), see `user_text`.
"""

from __future__ import annotations

import gettext
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from flows.caucus import SUPPORTED_LANGUAGES

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "RTL_LANGUAGES",
    "Layout",
    "Localized",
    "Markup",
    "Text",
    "Translator",
    "_",
    "ngettext",
    "pick_language",
    "plain",
    "translator",
    "user_text",
]

DEFAULT_LANGUAGE = "en"
# Languages written right to left: their messages start each paragraph with a right-to-left mark.
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})
_RLM = "\u200f"
_NATIVE_NAMES = {"en": "English", "fr": "Français", "es": "Español", "ar": "العربية", "sw": "Kiswahili",
                 "uk": "Українська", "ru": "Русский"}
# Each supported language, named in itself (as on the language buttons).
LANGUAGES: Mapping[str, str] = {code: _NATIVE_NAMES[code] for code in SUPPORTED_LANGUAGES}
_DOMAIN = "caucus"
_FSI, _PDI = "\u2068", "\u2069"


class Markup(str):
    """A string that is already safe HTML: rendered as is."""

    __slots__ = ()


def user_text(text: str) -> Markup:
    """Escape text a person typed and isolate its direction inside a translated sentence."""
    return Markup(_FSI + html.escape(text, quote=False) + _PDI)


def plain(rendered: str) -> str:
    """Rendered HTML as plain text, for places without formatting (buttons, pop-up answers)."""
    return html.unescape(rendered).replace(_FSI, "").replace(_PDI, "")


@dataclass(frozen=True)
class Text:
    """A translatable message with its parameters, rendered per reader by `Translator.render`."""

    msgid: str
    plural: str | None = None
    count: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout(Text):
    """How translated pieces are put together ("{name}: {value}", "«{quote}»"): no words, so not in the catalogs,
    but punctuation set the reader's way (French spaces before a colon, Swahili quotes, Arabic commas)."""


# Per language: (pattern, replacement) applied to a layout template before its pieces are filled in.
_TYPOGRAPHY: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "fr": ((re.compile(r"(?<=\S)([:;?!])(?=\s|$)"), "\u00a0\\1"),
           (re.compile(r"«\s*"), "«\u00a0"), (re.compile(r"\s*»"), "\u00a0»")),
    "sw": ((re.compile("«"), "\u201c"), (re.compile("»"), "\u201d")),
    "ar": ((re.compile(", "), "\u060c "), (re.compile("; "), "\u061b ")),
}


def _typeset(template: str, language: str) -> str:
    for pattern, replacement in _TYPOGRAPHY.get(language, ()):
        template = pattern.sub(replacement, template)
    return template


def _(msgid: str, **params: Any) -> Text:
    """Mark a message for translation."""
    return Text(msgid, params=params)


def ngettext(singular: str, plural: str, count: int, **params: Any) -> Text:
    """Mark a message with plural forms; ``count`` is also available as ``{count}``."""
    return Text(singular, plural, count, {"count": count, **params})


class Localized:
    """A parameter formatted in each reader's locale (a number, a date), not in the writer's."""

    def format(self, language: str) -> str:
        raise NotImplementedError


def _render_param(value: Any, translator: Translator) -> str:
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, Text):
        return translator.render(value)
    if isinstance(value, Localized):
        # Formatted numbers and dates are wrapped like user text: digits must not be reordered
        # by a right-to-left sentence around them.
        formatted = value.format(translator.language)
        return _FSI + html.escape(formatted, quote=False) + _PDI if formatted else ""
    return html.escape(str(value), quote=False)


@cache
def _catalog(language: str) -> gettext.NullTranslations:
    """Load a catalog: the compiled .mo when built, else the .po compiled in memory."""
    folder = resources.files("locales").joinpath(language, "LC_MESSAGES")
    mo = folder.joinpath(f"{_DOMAIN}.mo")
    if mo.is_file():
        return gettext.GNUTranslations(io.BytesIO(mo.read_bytes()))
    po = folder.joinpath(f"{_DOMAIN}.po")
    if not po.is_file():
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    with po.open("rb") as handle:
        write_mo(buffer, read_po(handle, locale=language))
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Translator:
    """Renders `Text` in one language."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._translations = _catalog(self.language)

    @property
    def rtl(self) -> bool:
        return self.language in RTL_LANGUAGES

    def paragraphs(self, rendered: str) -> str:
        """Rendered text as the reader's app should lay it out: right to left from the first character on, for a
        right-to-left language, even where a paragraph starts with a name or a number in another script."""
        if not self.rtl or not rendered:
            return rendered
        return _RLM + rendered.replace("\n", "\n" + _RLM)

    def render(self, text: Text | str) -> str:
        if isinstance(text, str):
            return text if isinstance(text, Markup) else html.escape(text, quote=False)
        if isinstance(text, Layout):
            template = _typeset(text.msgid, self.language)
        elif text.plural is not None and text.count is not None:
            template = str(self._translations.ngettext(text.msgid, text.plural, text.count))
        else:
            template = self._translations.gettext(text.msgid)
        if not text.params:
            return template
        return template.format(**{name: _render_param(value, self) for name, value in text.params.items()})


@cache
def translator(language: str | None) -> Translator:
    return Translator(language or DEFAULT_LANGUAGE)


def pick_language(stored: str | None, telegram_code: str | None) -> str:
    """The stored choice, else the Telegram app's language when we have it, else English."""
    if stored is not None and stored in LANGUAGES:
        return stored
    base = (telegram_code or "").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE
