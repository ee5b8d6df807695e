"""Logging that never carries secrets or party content, at any level.

Libraries below us log what passes through them at DEBUG (PTB logs every update and every
API call with its parameters; httpx logs URLs, which contain the token), so their loggers are
capped whatever level the operator asks for, and every record is scanned for tokens.
"""

from __future__ import annotations

import logging
import re
from typing import TextIO

__all__ = ["CONTENT_LOGGERS", "RedactTokens", "configure_logging"]

_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
_RAW_UPDATES = re.compile(r"(Received data was ).*", re.DOTALL)

# Loggers that print message content, SQL parameters or URLs with the token below this level.
CONTENT_LOGGERS = {
    "telegram": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiosqlite": logging.WARNING,
    "asyncpg": logging.WARNING,
    "sqlalchemy": logging.WARNING,
    "alembic": logging.WARNING,
    "transitions": logging.WARNING,
}


class RedactTokens(logging.Filter):
    """Replace anything shaped like a bot token, and the raw updates python-telegram-bot quotes when it cannot
    read them (at CRITICAL, so no level cap stops them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _RAW_UPDATES.sub(r"\1<withheld>", _TOKEN.sub("<token>", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Send logs to ``stream`` (stderr by default) with the content-bearing loggers capped."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, floor in CONTENT_LOGGERS.items():
        logging.getLogger(name).setLevel(max(level, floor))
    return handler
