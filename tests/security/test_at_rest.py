"""At rest: the database file, its write-ahead log and the logs hold 0 canary strings and 0 tokens.

Figure held (SECURITY.md). The session of conftest.py runs through the real bot on a SQLite
file with the product's logging at DEBUG: mediators set up cases (a canary in each title,
issue, option and party name), parties answer with a canary in every text, send notes and
suggestions, the mediators sum up; two people report grievances, one anonymously. The raw
bytes of the database and its WAL (copied while the bot runs, and after checkpointing) and the
log are searched for every canary (UTF-8, UTF-16, escaped), the bot token, the invite tokens,
the master key (raw, base64, hex) and the Telegram ids of everyone involved.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

from bot.standin import BotApiStandIn
from flows.grievance import REFERENCE_PATTERN
from storage.crypto import MasterKey
from tests.security.scanner import (
    Forms,
    LogWatch,
    database_bytes,
    find_leaks,
    id_forms,
    key_forms,
    text_forms,
    token_needles,
)
from tests.security.sessions import GRIEVANCES, Session, delivered

_INVITE = re.compile(r"start=([A-Za-z0-9_-]{16,})")


def _haystacks(session: Session) -> dict[str, bytes]:
    return {
        **{f"{name} (bot running)": data for name, data in session.running_files.items()},
        **{f"{name} (checkpointed)": data for name, data in session.checkpointed_files.items()},
        "the DEBUG log": session.log.encode("utf-8"),
    }


def _invite_tokens(session: Session) -> list[str]:
    return [token for case in session.cases for message in session.standin.messages(case.mediator_id)
            for token in _INVITE.findall(message.text)]


def test_the_session_left_a_write_ahead_log_and_a_log(mediation_session: Session) -> None:
    """The reports were filed, and the running database had a non-empty WAL to scan."""
    for user_id, _script in GRIEVANCES:  # each submitter got a receipt with its reference
        assert REFERENCE_PATTERN.search(delivered(mediation_session.standin, user_id).upper())
    assert len(mediation_session.running_files["caucus.sqlite3-wal"]) > 0
    assert "Caucus is running" in mediation_session.log


def test_no_canary_token_or_key_in_the_database_wal_or_log(mediation_session: Session,
                                                           figures: dict[str, str]) -> None:
    """Nothing anyone typed, no bot or invite token and no master key is readable in the files a thief could copy."""
    needles: dict[str, Forms] = {f"canary {text}": text_forms(text) for text in mediation_session.canaries}
    needles.update(token_needles(mediation_session.standin.token))
    needles["master key"] = key_forms(mediation_session.master_key.key)
    invites = _invite_tokens(mediation_session)
    needles.update({f"invite token {token}": text_forms(token) for token in invites})
    assert len(invites) == len(mediation_session.parties)
    haystacks = _haystacks(mediation_session)
    leaks = find_leaks(haystacks, needles)
    figures["at rest: searched for"] = (f"{len(mediation_session.canaries)} canaries, the bot token, "
                                        f"{len(invites)} invite tokens, the master key")
    figures["at rest: bytes scanned"] = ", ".join(f"{name} {len(data)}" for name, data in haystacks.items())
    figures["at rest: canaries, tokens and keys found"] = str(len(leaks))
    assert [str(leak) for leak in leaks] == []


def test_no_telegram_id_in_the_database_wal_or_log(mediation_session: Session) -> None:
    """The anonymous submitter's Telegram id is nowhere in clear; neither are those of the parties and mediators."""
    people = {f"grievance submitter {user_id}": user_id for user_id, _script in GRIEVANCES}
    for case in mediation_session.cases:
        people[f"mediator {case.mediator_id}"] = case.mediator_id
        people.update({f"party {party.user_id}": party.user_id for party in case.parties})
    needles = {who: id_forms(user_id) for who, user_id in people.items()}
    assert [str(leak) for leak in find_leaks(_haystacks(mediation_session), needles)] == []


def test_the_scanner_finds_what_is_there(mediation_session: Session, tmp_path: Path) -> None:
    """Controls: the scan reads real data. Each canary its author's screens quote is found in that chat, the master
    key's public id is in the database and the WAL, and a canary written in clear into a copy of a database, as
    UTF-8 or UTF-16, is found in that encoding."""
    # What the mediator typed, and positions and interests: their previews are on the first review page.
    echoed = [canary for case in mediation_session.cases for canary in case.canaries
              if canary.author == case.mediator_id or canary.what.startswith(("position", "interests"))]
    for canary in echoed:
        chat = delivered(mediation_session.standin, canary.author).encode("utf-8")
        assert find_leaks({"own chat": chat}, {"canary": text_forms(canary.text.casefold())}), canary.what
    assert len(echoed) >= 50
    key_id = {"key id": text_forms(mediation_session.master_key.key_id)}
    assert find_leaks({"db": mediation_session.checkpointed_files["caucus.sqlite3"]}, key_id)
    assert find_leaks({"wal": mediation_session.running_files["caucus.sqlite3-wal"]}, key_id)

    canary = mediation_session.canaries[-1]
    for encoding, form in (("UTF-8", "utf-8"), ("UTF-16le", "utf-16-le"), ("UTF-16be", "utf-16-be")):
        copy = tmp_path / f"copy-{encoding}.sqlite3"
        with sqlite3.connect(copy) as connection:
            connection.execute(f"PRAGMA encoding = '{encoding}'")
            connection.execute("create table planted (value text)")
            connection.execute("insert into planted values (?)", (f"a planted {canary} here",))
        connection.close()
        found = find_leaks(database_bytes(copy), {"planted": text_forms(canary)})
        assert form in {leak.form for leak in found}, encoding


def test_the_log_scan_catches_text_logged_by_an_uncapped_logger() -> None:
    """Control for every DEBUG log scan: typed text or a key logged by our own code is caught; the same text sent
    to a capped library logger never reaches the log, and a token is redacted on the way."""
    typed = "CNRY0LOG0LEAK we fear reprisals"
    key = MasterKey.generate()
    watch = LogWatch(master_keys=[key])
    with BotApiStandIn() as standin:
        standin.user(8_000_000_001, "Party").send_text(typed)
        watch.notice([standin])
        with watch.running():
            logging.getLogger("telegram.ext.Application").debug("update %s", typed)  # capped at INFO
            logging.getLogger("httpx").info("POST %s/sendMessage", standin.api_url)  # capped at WARNING
            logging.getLogger("bot.party").warning("token in a message: %s", standin.token)  # redacted
        assert watch.scan_new() == []
        with watch.running():
            logging.getLogger("bot.party").debug("a careless line: %s", typed)
            logging.getLogger("storage.repository").debug("key %s", key.to_base64())
        found = {leak.what for leak in watch.scan_new()}
    assert found == {f"typed text {typed!r}", f"beginning of typed text {typed!r}", "master key 1",
                     "something shaped like a base64 key"}
