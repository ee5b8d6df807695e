"""One update being handled: its transaction, who sent it, and what the bot will answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.i18n import Text, Translator, pick_language, plain, translator
from bot.replies import MAX_BUTTONS_PER_ROW, ButtonSpec, Reply, pack_lines
from storage.repository import ButtonMeaning, Store, Transaction, UserState

if TYPE_CHECKING:
    from telegram import Update

    from bot.config import Settings

__all__ = ["Courier", "Runtime", "Scope", "Turn", "join_scope"]


@dataclass
class Runtime:
    """What every handler shares: settings, storage, the bot's public name, the outbox wake-up."""

    settings: Settings
    store: Store
    bot_username: str = ""
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # What time it is; tests replace it to reach deadlines without waiting for them.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _mediators_by_hash: dict[str, int] = field(default_factory=dict)

    def is_mediator(self, user_id: int) -> bool:
        return user_id in self.settings.mediator_ids

    def is_triage(self, user_id: int) -> bool:
        return user_id in self.settings.triage_ids

    def mediator_chat(self, mediator_hash: str) -> int | None:
        """The chat of a case's mediator, found among the configured ids (no id is stored in clear)."""
        if not self._mediators_by_hash:
            self._mediators_by_hash = {self.store.user_hash(uid): uid for uid in self.settings.mediator_ids}
        return self._mediators_by_hash.get(mediator_hash)

    def invite_link(self, token: str) -> str:
        return f"https://t.me/{self.bot_username}?start={token}"


@dataclass(frozen=True)
class Scope:
    """What a button's validity is checked against: a seat, a case or the user, at a version."""

    kind: str
    owner_id: str
    version: int


async def join_scope(tx: Transaction, seat_id: str) -> Scope:
    """Buttons about a join stay valid while the same join (the same code) holds the seat."""
    code = await tx.join_code(seat_id)
    return Scope("join", seat_id, int(code.replace(" ", "")) if code else -1)


class Courier:
    """Queues replies in the outbox of one transaction, rendered in each reader's language."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    async def send(
        self, chat_id: int, language: str | None, user_hash: str, reply: Reply, *,
        scope: Scope | None = None, key_id: str | None = None, edit: int | None = None,
        protect: bool = False, sensitive: bool = False,
    ) -> None:
        """Queue ``reply`` for ``chat_id``, rendered in ``language`` (English when unknown); ``edit`` replaces
        that message. ``protect``: Telegram's apps refuse to forward or save it; ``sensitive``: deleted from
        the chat once the person's next answer is saved."""
        rendering = translator(language)
        texts = pack_lines(reply, rendering)
        keyboard = await self._keyboard(reply.buttons, rendering, user_hash, scope)
        for index, text in enumerate(texts):
            last = index == len(texts) - 1
            await self.tx.enqueue(
                chat_id, text, keyboard if last else [], key_id=key_id,
                method="edit" if edit is not None and index == 0 else "send",
                message_id=edit if index == 0 else None, protect=protect, sensitive=sensitive,
            )

    async def send_file(self, chat_id: int, language: str | None, caption: Text, file: bytes, filename: str, *,
                        photo: bool = False, key_id: str | None = None) -> None:
        """Queue a picture or a document for ``chat_id``, its caption rendered in ``language``."""
        rendering = translator(language)
        await self.tx.enqueue(chat_id, rendering.paragraphs(rendering.render(caption)), [], key_id=key_id,
                              method="photo" if photo else "document", file=file, filename=filename)

    async def notify_mediators(self, runtime: Runtime, case_id: str, reply: Reply, *,
                               scope: Scope | None = None) -> None:
        """Tell every mediator of the case, each in their own language (skipped if no longer configured)."""
        key_id = await self.tx.case_key_id(case_id)
        for mediator_hash in await self.tx.mediator_hashes(case_id):
            chat_id = runtime.mediator_chat(mediator_hash)
            if chat_id is not None:
                language = await self.tx.language_of(mediator_hash)
                await self.send(chat_id, language, mediator_hash, reply, scope=scope, key_id=key_id)

    async def _keyboard(
        self, rows: tuple[tuple[ButtonSpec, ...], ...], language: Translator, user_hash: str, scope: Scope | None
    ) -> list[list[dict[str, str]]]:
        if not rows:
            return []
        if scope is None:
            raise ValueError("buttons need a scope to be checked against")
        if any(len(row) > MAX_BUTTONS_PER_ROW for row in rows):
            raise ValueError("Telegram shows at most 8 buttons per row")
        tokens = iter(await self.tx.issue_buttons([
            ButtonMeaning(user_hash, scope.kind, scope.owner_id, scope.version, spec.action, spec.argument)
            for row in rows for spec in row]))
        return [[{"text": plain(language.render(spec.label)), "data": next(tokens)} for spec in row] for row in rows]


class Turn:
    """Handles one update inside one transaction; replies go to the outbox in that transaction."""

    def __init__(self, runtime: Runtime, tx: Transaction, update: Update, user: UserState) -> None:
        self.runtime = runtime
        self.tx = tx
        self.update = update
        self.user = user
        effective_user = update.effective_user
        effective_chat = update.effective_chat
        if effective_user is None or effective_chat is None:
            raise ValueError("only updates with a sender and a chat are handled")
        self.user_id = effective_user.id
        self.chat_id = effective_chat.id
        self.telegram_language = effective_user.language_code
        self.toast: Text | None = None
        # Set while answering in a caucus or a grievance whose messages are deleted once answers are saved:
        # every reply to the sender is then marked for deletion too.
        self.sensitive = False

    @property
    def language(self) -> str:
        return pick_language(self.user.language, self.telegram_language)

    @property
    def translator(self) -> Translator:
        return translator(self.language)

    @property
    def timezone(self) -> str:
        """The time zone this person reads times in: their own choice (/timezone), else UTC."""
        return self.user.timezone or "UTC"

    async def reload_user(self) -> None:
        self.user = await self.tx.user(self.user_id)

    async def reply(
        self, reply: Reply, *, scope: Scope | None = None, key_id: str | None = None, edit: int | None = None,
        protect: bool = False,
    ) -> None:
        """Answer the sender in their language."""
        await self.send(self.chat_id, self.language, self.user.user_hash, reply, scope=scope, key_id=key_id, edit=edit,
                        protect=protect)

    async def send(
        self, chat_id: int, language: str | None, user_hash: str, reply: Reply, *,
        scope: Scope | None = None, key_id: str | None = None, edit: int | None = None, protect: bool = False,
    ) -> None:
        """Queue ``reply`` for another chat (a mediator, a party), rendered in ``language``."""
        await Courier(self.tx).send(chat_id, language, user_hash, reply, scope=scope, key_id=key_id, edit=edit,
                                    protect=protect, sensitive=self.sensitive and chat_id == self.chat_id)

    async def erase_answer(self, key_id: str | None) -> None:
        """The answer in this update is saved: delete it, and the screens that asked for it, from the chat."""
        message = self.update.effective_message
        await self.tx.erase_from_chat(self.chat_id, message.message_id if message is not None else None,
                                      key_id=key_id)
