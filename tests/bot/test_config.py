"""Configuration: a missing or malformed setting stops start-up with one clear line."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, WebhookSettings, read_settings
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


# Old master keys, kept for unwrapping during a rotation -------------------------------------------------

OLD_KEY = MasterKey.generate().to_base64()


def test_old_master_keys_are_read_from_the_list_and_the_files(tmp_path: Path) -> None:
    """Previous keys given inline and in files are all kept, in order; without them there are none; none shows
    in the settings' repr."""
    inline = [MasterKey.generate(), MasterKey.generate()]
    in_file = MasterKey.generate()
    (tmp_path / "old.key").write_text(in_file.to_base64() + "\n")
    settings = read_settings(GOOD | {
        "CAUCUS_OLD_MASTER_KEYS": f" {inline[0].to_base64()} ,{inline[1].to_base64()},",
        "CAUCUS_OLD_MASTER_KEY_FILES": str(tmp_path / "old.key"),
    })
    assert settings.old_master_keys == (*inline, in_file)
    assert read_settings(GOOD).old_master_keys == ()
    assert not any(key.to_base64() in repr(settings) for key in settings.old_master_keys)


@pytest.mark.parametrize(("change", "message"), [
    ({"CAUCUS_OLD_MASTER_KEYS": f"{OLD_KEY},%%%"}, "entry 2 of CAUCUS_OLD_MASTER_KEYS is malformed"),
    ({"CAUCUS_OLD_MASTER_KEYS": base64.b64encode(b"short").decode()},
     "entry 1 of CAUCUS_OLD_MASTER_KEYS is malformed: decodes to 5 bytes"),
    ({"CAUCUS_OLD_MASTER_KEY_FILES": "/nonexistent/old.key"}, "file 1 of CAUCUS_OLD_MASTER_KEY_FILES cannot be read"),
    ({"CAUCUS_OLD_MASTER_KEYS": KEY}, "entry 1 of CAUCUS_OLD_MASTER_KEYS is the same key as CAUCUS_MASTER_KEY:"),
    ({"CAUCUS_OLD_MASTER_KEYS": f"{OLD_KEY}, {OLD_KEY}"},
     "entry 2 of CAUCUS_OLD_MASTER_KEYS is the same key as entry 1 of CAUCUS_OLD_MASTER_KEYS"),
])
def test_a_bad_old_master_key_is_refused_precisely(change: dict[str, str], message: str) -> None:
    """The error names the entry and the variable (a primary key listed as old too is refused: the rotation
    was not set up), and never prints a key."""
    with pytest.raises(ConfigError) as error:
        read_settings(GOOD | change)
    assert message in str(error.value)
    assert KEY not in str(error.value)
    assert OLD_KEY not in str(error.value)


def test_a_bad_old_master_key_file_is_refused_precisely(tmp_path: Path) -> None:
    """A file without a key, or holding a key already given inline or as the primary key file, is named by its
    position; its content is never printed."""
    garbage, old, primary = tmp_path / "garbage.key", tmp_path / "old.key", tmp_path / "primary.key"
    garbage.write_text("not a key at all")
    old.write_text(OLD_KEY)
    primary.write_text(KEY)
    cases = [
        ({"CAUCUS_OLD_MASTER_KEY_FILES": f"{old},{garbage}"},
         "file 2 of CAUCUS_OLD_MASTER_KEY_FILES does not hold a base64 key of 32 bytes"),
        ({"CAUCUS_OLD_MASTER_KEYS": OLD_KEY, "CAUCUS_OLD_MASTER_KEY_FILES": str(old)},
         "file 1 of CAUCUS_OLD_MASTER_KEY_FILES is the same key as entry 1 of CAUCUS_OLD_MASTER_KEYS"),
        ({"CAUCUS_MASTER_KEY": "", "CAUCUS_MASTER_KEY_FILE": str(primary), "CAUCUS_OLD_MASTER_KEY_FILES": str(primary)},
         "file 1 of CAUCUS_OLD_MASTER_KEY_FILES is the same key as CAUCUS_MASTER_KEY_FILE"),
    ]
    for change, message in cases:
        with pytest.raises(ConfigError) as error:
            read_settings(GOOD | change)
        assert message in str(error.value)
        assert "not a key at all" not in str(error.value)
        assert OLD_KEY not in str(error.value)


# Webhook mode ----------------------------------------------------------------------------------------------

HOOK_URL = "https://caucus.example.org/telegram/updates"
HOOK_SECRET = "Hook-secret_4f9a2c"
WEBHOOK = {"CAUCUS_WEBHOOK_URL": HOOK_URL, "CAUCUS_WEBHOOK_SECRET": HOOK_SECRET}


def test_webhook_settings_are_read_for_webhook_mode_only() -> None:
    """`caucusbot webhook` reads the URL, the secret, where to listen and the body limit (with defaults);
    `caucusbot run` ignores them; neither the URL nor the secret shows in a repr."""
    webhook = read_settings(GOOD | WEBHOOK, need_webhook=True).webhook
    assert webhook == WebhookSettings(url=HOOK_URL, secret=HOOK_SECRET, host="127.0.0.1", port=8080,
                                      max_body=1024 * 1024)
    assert webhook.path == "/telegram/updates"
    assert HOOK_SECRET not in repr(webhook)
    assert "example" not in repr(webhook)
    custom = read_settings(GOOD | WEBHOOK | {"CAUCUS_WEBHOOK_LISTEN": "[::1]:8443", "CAUCUS_WEBHOOK_MAX_BODY": "65536",
                                             "CAUCUS_WEBHOOK_URL": "https://caucus.example.org:8443"},
                           need_webhook=True).webhook
    assert custom is not None
    assert (custom.host, custom.port, custom.max_body, custom.path) == ("::1", 8443, 65536, "/")
    # A Bot API on this machine (the stand-in) may post over plain http to any port.
    local = read_settings(GOOD | WEBHOOK | {"CAUCUS_WEBHOOK_URL": "http://127.0.0.1:9001/hook"}, need_webhook=True)
    assert local.webhook is not None
    assert local.webhook.path == "/hook"
    assert read_settings(GOOD | {"CAUCUS_WEBHOOK_SECRET": "not valid!"}).webhook is None


@pytest.mark.parametrize(("change", "variable"), [
    ({"CAUCUS_WEBHOOK_URL": ""}, "CAUCUS_WEBHOOK_URL"),
    ({"CAUCUS_WEBHOOK_URL": "caucus.example.org/hook"}, "CAUCUS_WEBHOOK_URL"),
    ({"CAUCUS_WEBHOOK_URL": "http://caucus.example.org/hook"}, "CAUCUS_WEBHOOK_URL"),
    ({"CAUCUS_WEBHOOK_URL": "https://caucus.example.org:9443/hook"}, "CAUCUS_WEBHOOK_URL"),
    ({"CAUCUS_WEBHOOK_URL": "https://caucus.example.org:99999/hook"}, "CAUCUS_WEBHOOK_URL"),
    ({"CAUCUS_WEBHOOK_URL": "https://admin:hunter2@caucus.example.org/hook"}, "CAUCUS_WEBHOOK_URL"),
    ({"CAUCUS_WEBHOOK_URL": "https://caucus.example.org/hook#part"}, "CAUCUS_WEBHOOK_URL"),
    ({"CAUCUS_WEBHOOK_URL": "https://caucus.example.org/h%6Fok"}, "CAUCUS_WEBHOOK_URL"),
    ({"CAUCUS_WEBHOOK_SECRET": ""}, "CAUCUS_WEBHOOK_SECRET"),
    ({"CAUCUS_WEBHOOK_SECRET": "has spaces in it"}, "CAUCUS_WEBHOOK_SECRET"),
    ({"CAUCUS_WEBHOOK_SECRET": "Geheimnis-ä"}, "CAUCUS_WEBHOOK_SECRET"),
    ({"CAUCUS_WEBHOOK_SECRET": "k" * 257}, "CAUCUS_WEBHOOK_SECRET"),
    ({"CAUCUS_WEBHOOK_LISTEN": "10.9.8.7"}, "CAUCUS_WEBHOOK_LISTEN"),
    ({"CAUCUS_WEBHOOK_LISTEN": "10.9.8.7:0"}, "CAUCUS_WEBHOOK_LISTEN"),
    ({"CAUCUS_WEBHOOK_LISTEN": "10.9.8.7:70000"}, "CAUCUS_WEBHOOK_LISTEN"),
    ({"CAUCUS_WEBHOOK_LISTEN": "hostname:http"}, "CAUCUS_WEBHOOK_LISTEN"),
    ({"CAUCUS_WEBHOOK_LISTEN": ":9876"}, "CAUCUS_WEBHOOK_LISTEN"),
    ({"CAUCUS_WEBHOOK_MAX_BODY": "12abc"}, "CAUCUS_WEBHOOK_MAX_BODY"),
    ({"CAUCUS_WEBHOOK_MAX_BODY": "1023"}, "CAUCUS_WEBHOOK_MAX_BODY"),
    ({"CAUCUS_WEBHOOK_MAX_BODY": "999999999"}, "CAUCUS_WEBHOOK_MAX_BODY"),
])
def test_a_bad_webhook_setting_names_its_variable_and_not_its_value(change: dict[str, str], variable: str) -> None:
    """Each malformed webhook setting stops `caucusbot webhook` with a message naming the variable, not the value."""
    with pytest.raises(ConfigError) as error:
        read_settings(GOOD | WEBHOOK | change, need_webhook=True)
    message = str(error.value)
    assert message.startswith(variable)
    assert not any(value and value in message for value in change.values())
    assert HOOK_SECRET not in message


def test_webhook_without_a_url_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    """`caucusbot webhook` without CAUCUS_WEBHOOK_URL exits 2 with one line naming it."""
    env = {"TELEGRAM_BOT_TOKEN": "123:abc", "CAUCUS_MASTER_KEY": KEY, "CAUCUS_MEDIATOR_IDS": "1",
           "CAUCUS_WEBHOOK_SECRET": HOOK_SECRET}
    result = _run_cli(["webhook"], env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("caucusbot: CAUCUS_WEBHOOK_URL is not set")
