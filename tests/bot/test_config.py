"""Configuration: a missing or malformed setting stops start-up with one clear line."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, read_settings
from storage.crypto import MasterKey

KEY = MasterKey.generate().to_base64()
GOOD = {"TELEGRAM_BOT_TOKEN": "123:abc_DEF-9", "CAUCUS_MASTER_KEY": KEY, "CAUCUS_MEDIATOR_IDS": "11, 22"}


def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("TELEGRAM_", "CAUCUS_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], check=False, capture_output=True, text=True, timeout=60,
        env={**base, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **env}, cwd=cwd,
    )


def test_good_settings_are_read() -> None:
    """Valid values give typed settings; mediator ids are parsed."""
    settings = read_settings(GOOD)
    assert settings.mediator_ids == frozenset({11, 22})
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert "abc" not in repr(settings)


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "not a token"}, "TELEGRAM_BOT_TOKEN"),
        ({"CAUCUS_MASTER_KEY": ""}, "CAUCUS_MASTER_KEY"),
        ({"CAUCUS_MASTER_KEY": base64.b64encode(b"short").decode()}, "CAUCUS_MASTER_KEY"),
        ({"CAUCUS_MASTER_KEY": "%%%"}, "CAUCUS_MASTER_KEY"),
        ({"CAUCUS_MASTER_KEY": "", "CAUCUS_MASTER_KEY_FILE": "/nonexistent/key"}, "CAUCUS_MASTER_KEY_FILE"),
        ({"CAUCUS_MEDIATOR_IDS": ""}, "CAUCUS_MEDIATOR_IDS"),
        ({"CAUCUS_MEDIATOR_IDS": "12,abc"}, "CAUCUS_MEDIATOR_IDS"),
        ({"CAUCUS_DATABASE_URL": "mysql://x"}, "CAUCUS_DATABASE_URL"),
        ({"TELEGRAM_API_BASE_URL": "ftp:/nope"}, "TELEGRAM_API_BASE_URL"),
    ],
)
def test_a_bad_setting_names_its_variable(change: dict[str, str], variable: str) -> None:
    """The error names the variable and never echoes a secret value."""
    with pytest.raises(ConfigError) as error:
        read_settings({**GOOD, **change})
    assert variable in str(error.value)
    assert KEY not in str(error.value)


def test_run_without_token_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    """`caucusbot run` with a missing token exits 2 with one line on stderr."""
    result = _run_cli(["run"], {"CAUCUS_MASTER_KEY": KEY, "CAUCUS_MEDIATOR_IDS": "1"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TELEGRAM_BOT_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr


def test_settings_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    """A .env file in the working directory supplies settings; its malformed key is reported."""
    (tmp_path / ".env").write_text(
        "# local settings\nTELEGRAM_BOT_TOKEN=123:abc\nCAUCUS_MASTER_KEY='not-base64!'\nCAUCUS_MEDIATOR_IDS=5\n"
    )
    result = _run_cli(["run"], {}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("caucusbot: CAUCUS_MASTER_KEY is malformed")


def test_keys_generate_prints_a_usable_key(tmp_path: Path) -> None:
    """`caucusbot keys generate` prints base64 of 32 random bytes."""
    result = _run_cli(["keys", "generate"], {}, tmp_path)
    assert result.returncode == 0
    assert len(base64.b64decode(result.stdout.strip())) == 32
    assert MasterKey.from_base64(result.stdout).key_id


def test_grievance_settings_have_sensible_defaults_and_are_read() -> None:
    """Without settings: the default categories, typed places, 3 reports a day, no triage officer."""
    default = read_settings(GOOD)
    assert default.grievance_categories[0] == "land"
    assert "other" in default.grievance_categories
    assert (default.grievance_regions, default.grievance_daily_limit, default.triage_ids) == ((), 3, frozenset())
    configured = read_settings(GOOD | {
        "CAUCUS_TRIAGE_IDS": "31,32", "CAUCUS_GRIEVANCE_CATEGORIES": "land, water ,Fishing rights",
        "CAUCUS_GRIEVANCE_REGIONS": "North,  South   Hills", "CAUCUS_GRIEVANCE_DAILY_LIMIT": "10",
        "CAUCUS_SAFETY_REFERRAL": "Call 1122", "CAUCUS_SAFETY_REFERRAL_FR": "Appelez le 1122",
    })
    assert configured.triage_ids == frozenset({31, 32})
    assert configured.grievance_categories == ("land", "water", "Fishing rights")
    assert configured.grievance_regions == ("North", "South Hills")
    assert configured.grievance_daily_limit == 10
    assert configured.safety_referral == {"": "Call 1122", "fr": "Appelez le 1122"}


@pytest.mark.parametrize(("change", "variable"), [
    ({"CAUCUS_TRIAGE_IDS": "officer"}, "CAUCUS_TRIAGE_IDS"),
    ({"CAUCUS_GRIEVANCE_DAILY_LIMIT": "0"}, "CAUCUS_GRIEVANCE_DAILY_LIMIT"),
    ({"CAUCUS_GRIEVANCE_DAILY_LIMIT": "lots"}, "CAUCUS_GRIEVANCE_DAILY_LIMIT"),
    ({"CAUCUS_GRIEVANCE_CATEGORIES": "land,Land"}, "CAUCUS_GRIEVANCE_CATEGORIES"),
    ({"CAUCUS_GRIEVANCE_CATEGORIES": "x" * 33}, "CAUCUS_GRIEVANCE_CATEGORIES"),
    ({"CAUCUS_GRIEVANCE_REGIONS": ",".join(f"Place {n}" for n in range(41))}, "CAUCUS_GRIEVANCE_REGIONS"),
])
def test_a_bad_grievance_setting_names_its_variable(change: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        read_settings(GOOD | change)
