"""Installed, not just checked out: a fresh venv, outside the checkout, serves French."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.i18n import _, plain, translator
from bot.standin import BotApiStandIn
from storage.crypto import MasterKey

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


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
    """The installed package holds compiled French messages, found outside the checkout."""
    code = ("import importlib.resources as r, locales; "
            "print(r.files('locales').joinpath('fr/LC_MESSAGES/caucus.mo').is_file(), locales.__file__)")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                            check=True, cwd=tmp_path, env={"PATH": os.environ.get("PATH", "")})
    found, location = result.stdout.split()
    assert found == "True"
    assert not location.startswith(str(ROOT))


def test_installed_bot_answers_a_french_speaker_in_french(venv: Path, tmp_path: Path) -> None:
    """`caucusbot run` from the venv calls getMe within 10 s and greets a French user in French."""
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
            user = standin.user(7001, "Amina", "fr")
            user.send_command("/start")
            _wait(lambda: standin.messages(7001), 20)
            welcome = _("Welcome. This bot supports confidential mediation. If a mediator invited you, "
                        "please open the link they gave you.")
            french = plain(translator("fr").render(welcome))
            assert french != plain(translator("en").render(welcome))
            assert standin.messages(7001)[0].text == french
        finally:
            process.send_signal(signal.SIGTERM)
            _out, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors
        assert "Traceback" not in errors
        assert standin.token.split(":")[1] not in errors
