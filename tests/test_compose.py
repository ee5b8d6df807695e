"""compose.yaml: PostgreSQL, a migration, two webhook workers and Caddy, read as Docker Compose reads it.

No Docker daemon is needed: the file is parsed (YAML merge keys and ``${VAR:?message}`` interpolation, as Compose
does), each worker's environment (compose.yaml's, plus deploy/caucus.env.example filled in) is given to the bot's
own settings reader, and Caddy's upstreams and path are compared with the workers' settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.config import ConfigError, read_settings
from storage.crypto import MasterKey

ROOT = Path(__file__).resolve().parents[1]
WORKERS = ("worker-1", "worker-2")
PROJECT_ENV = {"CAUCUS_DOMAIN": "caucus.example.org", "POSTGRES_PASSWORD": "0123456789abcdef"}


def _interpolate(text: str, env: dict[str, str]) -> str:
    """${NAME}, ${NAME:?message} and ${NAME:-default}, as Compose does; a missing required one raises."""
    def value(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2) or "", match.group(3) or ""
        if env.get(name):
            return env[name]
        if operator == ":?":
            raise KeyError(f"{name}: {argument}")
        return argument if operator == ":-" else ""

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:\?|:-)([^}]*))?\}", value, text)


def _compose(env: dict[str, str]) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(_interpolate((ROOT / "compose.yaml").read_text(encoding="utf-8"), env))
    return loaded


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


@pytest.fixture
def compose() -> dict[str, Any]:
    return _compose(PROJECT_ENV)


def _worker_env(compose: dict[str, Any], service: str, key_file: Path) -> dict[str, str]:
    """What the bot in this service would see: the env_file's settings (filled in as the README says), then the
    service's environment, the master key where the secret is mounted."""
    definition = compose["services"][service]
    settings = _env_file(ROOT / definition["env_file"].replace("caucus.env", "caucus.env.example"))
    settings.update(TELEGRAM_BOT_TOKEN="123456:ABC-def_ghi", CAUCUS_WEBHOOK_SECRET="a" * 64,
                    CAUCUS_MEDIATOR_IDS="1001")
    settings.update({name: str(value) for name, value in definition["environment"].items()})
    assert settings["CAUCUS_MASTER_KEY_FILE"] == "/run/secrets/" + definition["secrets"][0]["target"]
    settings["CAUCUS_MASTER_KEY_FILE"] = str(key_file)
    return settings


def test_compose_needs_the_domain_and_the_database_password() -> None:
    for missing in PROJECT_ENV:
        with pytest.raises(KeyError, match=missing):
            _compose({name: value for name, value in PROJECT_ENV.items() if name != missing})


def test_two_workers_share_the_migrated_postgresql_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["caucusbot", "db", "upgrade"]
    urls = set()
    for name in (*WORKERS, "migrate"):
        urls.add(services[name]["environment"]["CAUCUS_DATABASE_URL"])
    for name in WORKERS:
        assert services[name]["command"] == ["caucusbot", "webhook"]
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    (url,) = urls
    assert urlsplit(url).hostname == "postgres"
    assert urlsplit(url).password == PROJECT_ENV["POSTGRES_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == PROJECT_ENV["POSTGRES_PASSWORD"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_bot_accepts_each_workers_settings(compose: dict[str, Any], tmp_path: Path) -> None:
    key_file = tmp_path / "caucus.key"
    key_file.write_text(MasterKey.generate().to_base64(), encoding="ascii")
    key_file.chmod(0o600)
    for name in WORKERS:
        settings = read_settings(_worker_env(compose, name, key_file), need_webhook=True)
        assert settings.webhook is not None
        assert settings.webhook.url == "https://caucus.example.org/telegram/updates"
        assert (settings.webhook.host, settings.webhook.port) == ("0.0.0.0", 8080)  # noqa: S104 - in its container
        assert settings.database_url.startswith("postgresql")


def test_the_example_settings_alone_are_refused_naming_what_is_missing(compose: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    """Left as copied, deploy/caucus.env.example stops the workers with a line naming the token."""
    key_file = tmp_path / "caucus.key"
    key_file.write_text(MasterKey.generate().to_base64(), encoding="ascii")
    env = _worker_env(compose, WORKERS[0], key_file)
    env.update(_env_file(ROOT / "deploy" / "caucus.env.example"))
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        read_settings(env, need_webhook=True)


def test_caddy_spreads_the_webhook_path_over_both_workers(compose: dict[str, Any], tmp_path: Path) -> None:
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    key_file = tmp_path / "caucus.key"
    key_file.write_text(MasterKey.generate().to_base64(), encoding="ascii")
    settings = read_settings(_worker_env(compose, WORKERS[0], key_file), need_webhook=True)
    assert settings.webhook is not None
    assert f"handle {urlsplit(settings.webhook.url).path} {{" in caddyfile
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams is not None
    assert upstreams.group(1).split() == [f"{name}:{settings.webhook.port}" for name in WORKERS]
    assert "{$CAUCUS_DOMAIN}" in caddyfile
    caddy = compose["services"]["caddy"]
    assert caddy["environment"] == {"CAUCUS_DOMAIN": PROJECT_ENV["CAUCUS_DOMAIN"]}


def test_only_the_workers_and_postgresql_share_the_database_network(compose: dict[str, Any]) -> None:
    """Caddy faces the internet: it cannot reach PostgreSQL, and gets neither the token nor the secrets."""
    services = compose["services"]
    assert compose["networks"]["back"]["internal"] is True
    assert "back" not in services["caddy"]["networks"]
    assert "env_file" not in services["caddy"]
    assert "secrets" not in services["caddy"]
    assert {name for name, service in services.items() if "back" in service.get("networks", [])} \
        == {"postgres", "migrate", *WORKERS}


def test_every_setting_named_in_the_deployment_is_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b((?:CAUCUS|TELEGRAM)_[A-Z_]+)\b", "".join(
        (ROOT / path).read_text(encoding="utf-8")
        for path in ("compose.yaml", "deploy/caucus.env.example", "deploy/env.example"))))
    named -= {"CAUCUS_DOMAIN"}  # compose.yaml's own, from .env
    assert named
    assert sorted(name for name in named if f"`{name}`" not in readme) == []
