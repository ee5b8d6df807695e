"""What the bot says: translatable lines plus inline buttons, split to fit Telegram's limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.i18n import Text, Translator

__all__ = ["MAX_BUTTONS_PER_ROW", "MAX_MESSAGE_CHARS", "ButtonSpec", "Reply", "pack_lines"]

# Telegram allows 4096 UTF-16 code units of text once its HTML is parsed; a small margin stays free.
MAX_MESSAGE_CHARS = 4000
MAX_BUTTONS_PER_ROW = 8


@dataclass(frozen=True)
class ButtonSpec:
    """An inline button: its label and the server-side action it stands for."""

    label: Text | str
    action: str
    argument: str = ""


@dataclass(frozen=True)
class Reply:
    """One thing the bot says; long replies become several messages, buttons on the last."""

    lines: tuple[Text | str, ...]
    buttons: tuple[tuple[ButtonSpec, ...], ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, *lines: Text | str, buttons: list[list[ButtonSpec]] | None = None) -> Reply:
        return cls(tuple(lines), tuple(tuple(row) for row in buttons or []))


_TOKEN = re.compile(r"<[^>]*>|&[#\w]+;|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z-]+)")


def _width(token: str) -> int:
    """What a token counts toward Telegram's limit, in UTF-16 code units: tags nothing, an entity one."""
    if token.startswith("<") and len(token) > 1:
        return 0
    if token.startswith("&") and len(token) > 1:
        return 1
    return len(token.encode("utf-16-le")) // 2


_MARKUP = re.compile(r"<[^>]*>|&[#\w]+;")


def _visible_length(html_text: str) -> int:
    """Length as Telegram counts it: in UTF-16 code units, after its HTML is parsed (the sum of `_width` over
    the tokens, without going token by token: tags dropped and each entity made one character, at once)."""
    text = _MARKUP.sub(lambda markup: "" if markup.group().startswith("<") else "&", html_text)
    return len(text.encode("utf-16-le")) // 2


def _split_line(html_text: str, limit: int) -> list[str]:
    """Cut one over-long line into pieces that fit, at a space where there is one; tags open at a cut are
    closed at the end of its piece and opened again at the start of the next, so every piece is valid HTML."""
    pieces: list[str] = []
    current: list[str] = []
    opened: list[str] = []  # the opening tags in force, innermost last
    size = 0
    space: tuple[int, list[str]] | None = None  # after the last space: where, and the tags open there

    def cut(at: int, tags: list[str]) -> None:
        nonlocal current, size, space
        rest = current[at:]
        closing = [f"</{_TAG_NAME.match(tag).group(1)}>" for tag in reversed(tags)]  # type: ignore[union-attr]
        pieces.append("".join(current[:at] + closing).strip())
        current = [*tags, *rest]
        size = sum(_width(token) for token in rest)
        space = None

    for token in _TOKEN.findall(html_text):
        width = _width(token)
        if width and size + width > limit:
            if space is not None and space[0] > len(space[1]):
                cut(*space)
            if size + width > limit:
                cut(len(current), list(opened))
        current.append(token)
        size += width
        if token.startswith("</"):
            name = _TAG_NAME.match(token).group(1)  # type: ignore[union-attr]
            for index in range(len(opened) - 1, -1, -1):
                if _TAG_NAME.match(opened[index]).group(1) == name:  # type: ignore[union-attr]
                    del opened[index]
                    break
        elif token.startswith("<") and len(token) > 1:
            opened.append(token)
        elif token.isspace():
            space = (len(current), list(opened))
    if current:
        pieces.append("".join(current).strip())
    return [piece for piece in pieces if piece]


def pack_lines(reply: Reply, translator: Translator) -> list[str]:
    """Render ``reply`` and pack its lines into as few messages as fit Telegram's limit.

    Lines are kept whole when they fit; a longer one (a long answer quoted in a summary) is cut.
    """
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for line in reply.lines:
        rendered = translator.paragraphs(translator.render(line))
        parts = [rendered] if _visible_length(rendered) <= MAX_MESSAGE_CHARS else _split_line(
            rendered, MAX_MESSAGE_CHARS)
        for part in parts:
            length = _visible_length(part) + 1
            if current and size + length > MAX_MESSAGE_CHARS:
                messages.append("\n".join(current))
                current, size = [], 0
            current.append(part)
            size += length
    if current:
        messages.append("\n".join(current))
    return messages
