"""Configuration: read once from the environment (and a ``.env`` file) at the entry point."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from flows.caucus import SUPPORTED_LANGUAGES
from flows.grievance import DEFAULT_CATEGORIES
from storage.crypto import KeyRing, MasterKey
from storage.db import default_sqlite_url, normalise_url
from storage.errors import StorageError

__all__ = [
    "ConfigError",
    "Settings",
    "WebhookSettings",
    "environment",
    "load_dotenv",
    "read_database_url",
    "read_master_key",
    "read_old_master_keys",
    "read_retention",
    "read_settings",
    "read_webhook_settings",
]

_TOKEN = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable, never its value."""


@dataclass(frozen=True)
class WebhookSettings:
    """Where Telegram posts updates (``url``), the secret it sends with them, and where to listen."""

    url: str = field(repr=False)
    secret: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    max_body: int = 1024 * 1024

    @property
    def path(self) -> str:
        """The path to serve: the path of the public URL (the reverse proxy passes it on unchanged)."""
        return urllib.parse.urlsplit(self.url).path or "/"


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
    # Delivery pace: overall, and per chat after a short burst (Telegram allows about 30 and 1 a second).
    messages_per_second: float = 25.0
    chat_messages_per_second: float = 1.0
    # Closed cases and grievances are erased (crypto-shredded) this long after they were closed.
    retention: timedelta = timedelta(days=180)
    # Previous master keys, kept only to unwrap data keys not yet re-wrapped (`caucusbot keys rotate`).
    old_master_keys: tuple[MasterKey, ...] = field(default=(), repr=False)
    # Grievance intake: who triages, the lists people choose from, the flood limit, the safety referral.
    triage_ids: frozenset[int] = frozenset()
    grievance_categories: tuple[str, ...] = DEFAULT_CATEGORIES
    grievance_regions: tuple[str, ...] = ()
    grievance_daily_limit: int = 3
    # What to do when someone is in danger now: "" is the default text, a language code its translation.
    safety_referral: Mapping[str, str] = field(default_factory=dict)
    # Set for `caucusbot webhook`: updates then arrive through the webhook instead of getUpdates.
    webhook: WebhookSettings | None = None

    def key_ring(self) -> KeyRing:
        """The master keys: the primary wraps new data keys, the old ones still unwrap theirs."""
        return KeyRing(self.master_key, *self.old_master_keys)

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


def _old_key_entries(env: Mapping[str, str]) -> list[tuple[str, MasterKey]]:
    """Each old key with where it came from ("entry 2 of CAUCUS_OLD_MASTER_KEYS"), for precise errors."""
    keys = []
    for number, text in enumerate(_comma_list(env, "CAUCUS_OLD_MASTER_KEYS"), start=1):
        where = f"entry {number} of CAUCUS_OLD_MASTER_KEYS"
        try:
            keys.append((where, MasterKey.from_base64(text)))
        except StorageError as error:
            raise ConfigError(f"{where} is malformed: {error}") from None
    for number, path in enumerate(_comma_list(env, "CAUCUS_OLD_MASTER_KEY_FILES"), start=1):
        where = f"file {number} of CAUCUS_OLD_MASTER_KEY_FILES"
        try:
            keys.append((where, MasterKey.from_file(Path(path))))
        except OSError:
            raise ConfigError(f"{where} cannot be read") from None
        except (StorageError, UnicodeDecodeError):
            raise ConfigError(f"{where} does not hold a base64 key of 32 bytes") from None
    return keys


def _comma_list(env: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in env.get(name, "").split(",") if part.strip()]


def read_old_master_keys(env: Mapping[str, str], primary: MasterKey) -> tuple[MasterKey, ...]:
    """The previous master keys a rotation still needs for unwrapping (none outside a rotation).

    A key listed twice, or the primary listed as old, is refused: it means the rotation was not
    set up as intended (most likely the new key was never made primary), and accepting it would
    make `caucusbot keys rotate` quietly do nothing.
    """
    seen = {primary.key_id: "CAUCUS_MASTER_KEY" if env.get("CAUCUS_MASTER_KEY", "").strip()
            else "CAUCUS_MASTER_KEY_FILE"}
    keys = []
    for where, key in _old_key_entries(env):
        if key.key_id in seen:
            raise ConfigError(f"{where} is the same key as {seen[key.key_id]}: list each previous key once, "
                              f"and never the primary one")
        seen[key.key_id] = where
        keys.append(key)
    return tuple(keys)


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


_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what the Bot API accepts as secret_token
_WEBHOOK_PATH = re.compile(r"^[A-Za-z0-9/._~-]*$")
_WEBHOOK_PORTS = frozenset({443, 80, 88, 8443})  # the only ports Telegram posts to
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_MIN_BODY, _MAX_BODY = 1024, 16 * 1024 * 1024
_MALFORMED_WEBHOOK_URL = "CAUCUS_WEBHOOK_URL is malformed (expected e.g. https://caucus.example.org/telegram)"


def _webhook_url(env: Mapping[str, str]) -> str:
    url = env.get("CAUCUS_WEBHOOK_URL", "").strip()
    if not url:
        raise ConfigError("CAUCUS_WEBHOOK_URL is not set (the public https:// address Telegram posts updates to)")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise ConfigError(_MALFORMED_WEBHOOK_URL) from None
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ConfigError(_MALFORMED_WEBHOOK_URL)
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ConfigError("CAUCUS_WEBHOOK_URL must not contain a user name, a password or a #fragment")
    if not _WEBHOOK_PATH.match(parts.path):
        raise ConfigError("CAUCUS_WEBHOOK_URL: the path may use only letters, digits and / . _ ~ -")
    if parts.hostname in _LOOPBACK:
        return url  # a local Bot API (the stand-in): plain http and any port are fine
    if parts.scheme != "https":
        raise ConfigError("CAUCUS_WEBHOOK_URL must start with https:// (Telegram posts updates only over TLS)")
    if port is not None and port not in _WEBHOOK_PORTS:
        raise ConfigError("CAUCUS_WEBHOOK_URL: Telegram posts only to the ports 443, 80, 88 and 8443")
    return url


def _webhook_secret(env: Mapping[str, str]) -> str:
    secret = env.get("CAUCUS_WEBHOOK_SECRET", "").strip()
    if not secret:
        raise ConfigError("CAUCUS_WEBHOOK_SECRET is not set (make one with: openssl rand -hex 32)")
    if not _WEBHOOK_SECRET.match(secret):
        raise ConfigError("CAUCUS_WEBHOOK_SECRET must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -")
    return secret


def _webhook_listen(env: Mapping[str, str]) -> tuple[str, int]:
    raw = env.get("CAUCUS_WEBHOOK_LISTEN", "").strip()
    if not raw:
        return "127.0.0.1", 8080
    host, _, port = raw.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:8080
    host_ok = bool(host) and not any(char.isspace() or char in "[]/" for char in host)
    if not host_ok or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError("CAUCUS_WEBHOOK_LISTEN is malformed (expected host:port, e.g. 127.0.0.1:8080)")
    return host, int(port)


def _webhook_max_body(env: Mapping[str, str]) -> int:
    raw = env.get("CAUCUS_WEBHOOK_MAX_BODY", "").strip()
    if not raw:
        return 1024 * 1024
    if not raw.isdigit() or not _MIN_BODY <= int(raw) <= _MAX_BODY:
        raise ConfigError(f"CAUCUS_WEBHOOK_MAX_BODY must be a whole number of bytes from {_MIN_BODY} to {_MAX_BODY}")
    return int(raw)


def read_webhook_settings(env: Mapping[str, str]) -> WebhookSettings:
    """The webhook settings `caucusbot webhook` needs; ConfigError naming the first bad one."""
    host, port = _webhook_listen(env)
    return WebhookSettings(url=_webhook_url(env), secret=_webhook_secret(env), host=host, port=port,
                           max_body=_webhook_max_body(env))


def read_settings(
    env: Mapping[str, str] | None = None, *, need_token: bool = True, need_webhook: bool = False
) -> Settings:
    """Read and validate every setting (the webhook's with ``need_webhook``); ConfigError names the first bad one."""
    values = environment(env)
    token = values.get("TELEGRAM_BOT_TOKEN", "").strip()
    if need_token and not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set (the token @BotFather gave you)")
    if token and not _TOKEN.match(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN is malformed (expected digits, a colon, then letters, digits, _ or -)")
    base_url = values.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL
    if not re.match(r"^https?://[^\s/]+", base_url):
        raise ConfigError("TELEGRAM_API_BASE_URL is malformed (expected e.g. http://127.0.0.1:8081/bot)")
    master_key = read_master_key(values)
    return Settings(
        token=token,
        master_key=master_key,
        old_master_keys=read_old_master_keys(values, master_key),
        database_url=read_database_url(values),
        mediator_ids=_mediator_ids(values),
        api_base_url=base_url,
        triage_ids=_user_ids(values, "CAUCUS_TRIAGE_IDS"),
        grievance_categories=_name_list(values, "CAUCUS_GRIEVANCE_CATEGORIES", _MAX_CATEGORY_CHARS)
        or DEFAULT_CATEGORIES,
        grievance_regions=_name_list(values, "CAUCUS_GRIEVANCE_REGIONS", _MAX_REGION_CHARS),
        grievance_daily_limit=_daily_limit(values),
        safety_referral=_safety_referral(values),
        webhook=read_webhook_settings(values) if need_webhook else None,
        messages_per_second=_rate(values, "CAUCUS_MESSAGES_PER_SECOND", 25.0),
        chat_messages_per_second=_rate(values, "CAUCUS_CHAT_MESSAGES_PER_SECOND", 1.0),
        retention=read_retention(values),
    )


def _rate(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        rate = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of messages per second, e.g. 1 or 0.5") from None
    if not 0.01 <= rate <= 1000:
        raise ConfigError(f"{name} must be between 0.01 and 1000")
    return rate


def read_retention(env: Mapping[str, str]) -> timedelta:
    """How long closed cases and grievances are kept: CAUCUS_RETENTION_DAYS, 180 by default."""
    raw = env.get("CAUCUS_RETENTION_DAYS", "").strip()
    if not raw:
        return timedelta(days=180)
    if not raw.isdigit() or not 1 <= int(raw) <= 36500:
        raise ConfigError("CAUCUS_RETENTION_DAYS must be a whole number of days from 1 to 36500")
    return timedelta(days=int(raw))
