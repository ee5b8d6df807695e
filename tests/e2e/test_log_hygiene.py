"""The DEBUG log check every end-to-end test runs at teardown (conftest.py) catches a leak."""

from __future__ import annotations

import logging

import pytest

from bot.config import Settings
from bot.standin import BotApiStandIn
from tests.security.scanner import LogWatch


def test_a_typed_text_logged_by_our_code_is_caught(request: pytest.FixtureRequest, standin: BotApiStandIn,
                                                   settings: Settings, debug_log: LogWatch) -> None:
    """What a user typed, or the master key, written by a logger that is not capped fails the test that logged it.

    The check runs here as the fixture runs it at teardown, then the log is clean again.
    """
    typed = "CNRY0E2E0LEAK the elders must not know"
    standin.user(2001, "Party").send_text(typed)
    logging.getLogger("bot.party").debug("a careless line: %s", typed)
    logging.getLogger("storage.repository").info("key id %s, key %s", settings.master_key.key_id,
                                                 settings.master_key.key.hex())
    debug_log.notice(request.node.funcargs.values())
    found = {leak.what for leak in debug_log.scan_new()}
    assert found == {f"typed text {typed!r}", f"beginning of typed text {typed!r}", "master key 1"}


def test_raw_updates_python_telegram_bot_quotes_are_withheld(request: pytest.FixtureRequest, standin: BotApiStandIn,
                                                             debug_log: LogWatch) -> None:
    """When python-telegram-bot cannot read an update it logs the raw data at CRITICAL, past every level cap:
    the handler withholds it, so what the person typed is not in the log."""
    typed = "CNRY0RAW0UPDATE what I told nobody"
    standin.user(2002, "Party").send_text(typed)
    logging.getLogger("telegram.ext.ExtBot").critical(
        "Error while parsing updates! Received data was %s", [{"message": {"text": typed}}])
    debug_log.notice(request.node.funcargs.values())
    assert debug_log.scan_new() == []
    assert "Received data was <withheld>" in debug_log.buffer.getvalue()
