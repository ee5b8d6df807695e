"""What the bot says: translatable lines plus inline buttons, split to fit Telegram's limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.i18n import Text, Translator

__all__ = ["MAX_BUTTONS_PER_ROW", "MAX_MESSAGE_CHARS", "ButtonSpec", "Reply", "pack_lines"]

# Telegram counts 4096 characters after entity parsing; leave room for what we cannot count exactly.
MAX_MESSAGE_CHARS = 3900
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


def _visible_length(html_text: str) -> int:
    """Characters Telegram counts: tags removed, entities counted as one."""
    length, in_tag, in_entity = 0, False, False
    for char in html_text:
        if in_tag:
            in_tag = char != ">"
        elif in_entity:
            in_entity = char != ";"
        elif char == "<":
            in_tag = True
        elif char == "&":
            in_entity = True
            length += 1
        else:
            length += 1
    return length


def pack_lines(reply: Reply, translator: Translator) -> list[str]:
    """Render ``reply`` and pack its lines into as few messages as fit Telegram's limit.

    Lines are never split: every line the bot builds is far shorter than the limit.
    """
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for line in reply.lines:
        rendered = translator.render(line)
        length = _visible_length(rendered) + 1
        if current and size + length > MAX_MESSAGE_CHARS:
            messages.append("\n".join(current))
            current, size = [], 0
        current.append(rendered)
        size += length
    if current:
        messages.append("\n".join(current))
    return messages
