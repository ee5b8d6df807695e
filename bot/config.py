"""Configuration: read once from the environment (and a ``.env`` file) at the entry point."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from flows.caucus import SUPPORTED_LANGUAGES
from flows.grievance import DEFAULT_CATEGORIES
from storage.crypto import MasterKey
from storage.db import default_sqlite_url, normalise_url
from storage.errors import StorageError

__all__ = [
    "ConfigError",
    "Settings",
    "environment",
    "load_dotenv",
    "read_database_url",
    "read_master_key",
    "read_settings",
]

_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable, never its value."""


@dataclass(frozen=True)
class Settings:
    """Everything Caucus reads from its environment."""

    token: str
    master_key: MasterKey = field(repr=False)
    database_url: str
    mediator_ids: frozenset[int]
    api_base_url: str = DEFAULT_API_BASE_URL
    invite_valid_for: timedelta = timedelta(days=14)
    poll_timeout: float = 25.0
    messages_per_second: float = 25.0
    # Grievance intake: who triages, the lists people choose from, the flood limit, the safety referral.
    triage_ids: frozenset[int] = frozenset()
    grievance_categories: tuple[str, ...] = DEFAULT_CATEGORIES
    grievance_regions: tuple[str, ...] = ()
    grievance_daily_limit: int = 3
    # What to do when someone is in danger now: "" is the default text, a language code its translation.
    safety_referral: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Settings(database={'sqlite' if 'sqlite' in self.database_url else 'postgresql'}, ...)"


def load_dotenv(path: Path) -> dict[str, str]:
    """Read ``KEY=value`` lines (``#`` comments, optional quotes); the process environment wins."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def environment(env: Mapping[str, str] | None) -> Mapping[str, str]:
    if env is not None:
        return env
    return {**load_dotenv(Path.cwd() / ".env"), **os.environ}


def read_master_key(env: Mapping[str, str]) -> MasterKey:
    inline = env.get("CAUCUS_MASTER_KEY", "").strip()
    path = env.get("CAUCUS_MASTER_KEY_FILE", "").strip()
    if inline:
        try:
            return MasterKey.from_base64(inline)
        except StorageError as error:
            raise ConfigError(
                f"CAUCUS_MASTER_KEY is malformed: {error} (make one with: caucusbot keys generate)"
            ) from None
    if path:
        try:
            return MasterKey.from_file(Path(path))
        except OSError:
            raise ConfigError("CAUCUS_MASTER_KEY_FILE cannot be read") from None
        except (StorageError, UnicodeDecodeError):
            raise ConfigError("CAUCUS_MASTER_KEY_FILE does not hold a base64 key of 32 bytes") from None
    raise ConfigError(
        "CAUCUS_MASTER_KEY is not set (or set CAUCUS_MASTER_KEY_FILE; make one with: caucusbot keys generate)"
    )


def read_database_url(env: Mapping[str, str]) -> str:
    url = env.get("CAUCUS_DATABASE_URL", "").strip()
    if not url:
        return default_sqlite_url(Path.cwd() / "caucus-data")
    try:
        return normalise_url(url).render_as_string(hide_password=False)
    except StorageError as error:
        raise ConfigError(f"CAUCUS_DATABASE_URL is malformed: {error}") from None


def _user_ids(env: Mapping[str, str], name: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in env.get(name, "").split(","):
        if not part.strip():
            continue
        if not part.strip().isdigit():
            raise ConfigError(f"{name} must be comma-separated numeric Telegram user ids")
        ids.add(int(part.strip()))
    return frozenset(ids)


def _mediator_ids(env: Mapping[str, str]) -> frozenset[int]:
    ids = _user_ids(env, "CAUCUS_MEDIATOR_IDS")
    if not ids:
        raise ConfigError("CAUCUS_MEDIATOR_IDS is not set (comma-separated Telegram user ids of the mediators)")
    return ids


_MAX_CATEGORY_CHARS = 32
_MAX_REGION_CHARS = 80
_MAX_LIST_ITEMS = 40


def _name_list(env: Mapping[str, str], name: str, max_chars: int) -> tuple[str, ...]:
    """A comma-separated list of names shown on buttons: no duplicates, none too long, at most 40."""
    items = [" ".join(part.split()) for part in env.get(name, "").split(",") if part.strip()]
    if any(len(item) > max_chars for item in items):
        raise ConfigError(f"{name}: each entry must be at most {max_chars} characters")
    if len({item.casefold() for item in items}) != len(items):
        raise ConfigError(f"{name} lists an entry twice")
    if len(items) > _MAX_LIST_ITEMS:
        raise ConfigError(f"{name} has more than {_MAX_LIST_ITEMS} entries")
    return tuple(items)


def _daily_limit(env: Mapping[str, str]) -> int:
    raw = env.get("CAUCUS_GRIEVANCE_DAILY_LIMIT", "").strip()
    if not raw:
        return 3
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ConfigError("CAUCUS_GRIEVANCE_DAILY_LIMIT must be a whole number from 1 to 1000")
    return int(raw)


def _safety_referral(env: Mapping[str, str]) -> dict[str, str]:
    texts = {"": env.get("CAUCUS_SAFETY_REFERRAL", "").strip()}
    texts |= {code: env.get(f"CAUCUS_SAFETY_REFERRAL_{code.upper()}", "").strip() for code in SUPPORTED_LANGUAGES}
    if any(len(text) > 1000 for text in texts.values()):
        raise ConfigError("CAUCUS_SAFETY_REFERRAL texts must be at most 1000 characters")
    return {code: text for code, text in texts.items() if text}


def read_settings(env: Mapping[str, str] | None = None, *, need_token: bool = True) -> Settings:
    """Read and validate every setting; raise ConfigError naming the first bad one."""
    values = environment(env)
    token = values.get("TELEGRAM_BOT_TOKEN", "").strip()
    if need_token and not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (the token @BotFather gave you)")
    if token and not _TOKEN.match(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN is malformed (expected digits, a colon, then letters, digits, _ or -)")
    base_url = values.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
    if not re.match(r"^https?://[^\s/]+", base_url):
        raise ConfigError("TELEGRAM_API_BASE_URL is malformed (expected e.g. http://127.0.0.1:8081/bot)")
    return Settings(
        token=token,
        master_key=read_master_key(values),
        database_url=read_database_url(values),
        mediator_ids=_mediator_ids(values),
        api_base_url=base_url,
        triage_ids=_user_ids(values, "CAUCUS_TRIAGE_IDS"),
        grievance_categories=_name_list(values, "CAUCUS_GRIEVANCE_CATEGORIES", _MAX_CATEGORY_CHARS)
        or DEFAULT_CATEGORIES,
        grievance_regions=_name_list(values, "CAUCUS_GRIEVANCE_REGIONS", _MAX_REGION_CHARS),
        grievance_daily_limit=_daily_limit(values),
        safety_referral=_safety_referral(values),
    )
