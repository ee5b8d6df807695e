"""The baseline of bench/throughput.py: a bare python-telegram-bot echo bot in webhook mode.

No storage, no state machine, no encryption: each text is sent back, each other message gets "ok", and each
button press is answered and its data sent back as a message. PTB's own webhook server (``run_webhook``)
confirms an update on arrival; the handlers run concurrently (up to 256 at once), the fastest way PTB offers.

Started by bench/throughput.py with the stand-in's token and address in the environment
(TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL) and where to listen and what to register as arguments:
``python bench/echo_bot.py PORT WEBHOOK_URL SECRET``.
"""

from __future__ import annotations

import logging
import os
import sys

from telegram import Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters


async def _echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(message.text or "ok")


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    await query.answer()
    await context.bot.send_message(update.effective_chat.id, query.data or "ok")


def main(argv: list[str]) -> int:
    port, url, secret = argv
    logging.basicConfig(level=logging.WARNING)
    application = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_BASE_URL"])
        .concurrent_updates(256)
        .build()
    )
    application.add_handler(CallbackQueryHandler(_pressed))
    application.add_handler(MessageHandler(filters.ALL, _echo))
    application.run_webhook(listen="127.0.0.1", port=int(port), url_path="telegram/updates", webhook_url=url,
                            secret_token=secret, allowed_updates=["message", "callback_query"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
