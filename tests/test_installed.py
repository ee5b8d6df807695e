"""Installed, not just checked out: a fresh venv, outside the checkout, serves every offered language."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, _, plain, translator
from bot.standin import BotApiStandIn
from storage.crypto import MasterKey

ROOT = Path(__file__).resolve().parents[1]
# Installing the package into a fresh venv (building it, compiling its catalogs, resolving its dependencies) takes
# a minute or two on a busy machine: the suite's 120 s per test would cut it off before its own 600 s bound.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=120)
    subprocess.run([str(folder / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
                   check=True, timeout=600, cwd=folder)
    return folder


def _wait(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise TimeoutError


def test_compiled_catalogs_ship_with_the_package(venv: Path, tmp_path: Path) -> None:
    """The installed package holds the compiled messages of every offered language, found outside the checkout,
    and its fonts for the summary chart."""
    code = ("import importlib.resources as r, locales, bot.i18n as i; "
            "print(locales.__file__); "
            "[print(c, r.files('locales').joinpath(c, 'LC_MESSAGES', 'caucus.mo').is_file()) "
            "for c in i.LANGUAGES if c != i.DEFAULT_LANGUAGE]; "
            "print('font', r.files('bot').joinpath('fonts', 'DejaVuSans.ttf').is_file())")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                            check=True, cwd=tmp_path, env={"PATH": os.environ.get("PATH", "")})
    location, *found = result.stdout.splitlines()
    assert not location.startswith(str(ROOT))
    expected = [f"{code} True" for code in LANGUAGES if code != DEFAULT_LANGUAGE] + ["font True"]
    assert found == expected


def test_installed_bot_answers_everyone_in_their_language(venv: Path, tmp_path: Path) -> None:
    """`caucusbot run` from the venv calls getMe within 10 s and greets a user of each language in it."""
    with BotApiStandIn() as standin:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "TELEGRAM_BOT_TOKEN": standin.token,
            "TELEGRAM_API_BASE_URL": standin.base_url,
            "CAUCUS_MASTER_KEY": MasterKey.generate().to_base64(),
            "CAUCUS_MEDIATOR_IDS": "1001",
            "CAUCUS_DATABASE_URL": f"sqlite:///{tmp_path / 'caucus.sqlite3'}",
        }
        process = subprocess.Popen([str(venv / "bin" / "caucusbot"), "run"], cwd=tmp_path, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            started = time.monotonic()
            _wait(lambda: standin.calls("getMe"), 10)
            assert time.monotonic() - started < 10
            welcome = _("Welcome. This bot supports confidential mediation. If a mediator invited you, "
                        "please open the link they gave you. To report a grievance, send /grievance.")
            for number, language in enumerate(LANGUAGES):
                user_id = 7001 + number
                standin.user(user_id, f"User {language}", language).send_command("/start")
                _wait(lambda user_id=user_id: standin.messages(user_id), 20)
                reader = translator(language)
                expected = plain(reader.paragraphs(reader.render(welcome)))
                assert plain(standin.messages(user_id)[0].text) == expected, language
                if language != DEFAULT_LANGUAGE:
                    assert expected != plain(translator(DEFAULT_LANGUAGE).render(welcome)), language
        finally:
            process.send_signal(signal.SIGTERM)
            _out, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors
        assert "Traceback" not in errors
        assert standin.token.split(":")[1] not in errors
