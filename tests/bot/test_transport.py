"""The Bot API transport (aiohttp under python-telegram-bot's Bot): failures are the errors PTB's own transport
raises, so the outbox retries them as before, and no error quotes the bot's token.

Replies, edits, taps answered, photos and documents sent through it are what every end-to-end test checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.transport import AiohttpRequest

TOKEN = "123456789:TRANSPORT-test_token"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A server on 127.0.0.1 that takes connections and never answers; yields its port."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_an_unreachable_bot_api_is_a_network_error_that_does_not_quote_the_token() -> None:
    request = AiohttpRequest()
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{_closed_port()}/bot", request=request)
    async with request:
        with pytest.raises(NetworkError) as raised:
            await bot.get_me()
    assert not isinstance(raised.value, TimedOut)
    assert "aiohttp.ClientConnectorError" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert TOKEN.split(":")[1] not in repr(raised.value)


async def _timed_out_after(port: int, default_read_timeout: float, call: str, **kwargs: float) -> float:
    """Seconds until ``call`` of a Bot against the silent server at ``port`` raised TimedOut."""
    request = AiohttpRequest(read_timeout=default_read_timeout)
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    async with request:
        began = time.monotonic()
        with pytest.raises(TimedOut):
            await getattr(bot, call)(**kwargs)
        return time.monotonic() - began


async def test_a_bot_api_that_does_not_answer_times_out_after_the_read_timeout(silent_server: int) -> None:
    assert 0.25 < await _timed_out_after(silent_server, 0.3, "get_me") < 3.0


async def test_a_call_s_own_read_timeout_wins_over_the_default(silent_server: int) -> None:
    """A long poll gives getUpdates its own, longer read timeout: the call waits that long, not the default."""
    assert 0.7 < await _timed_out_after(silent_server, 0.2, "get_updates", timeout=0, read_timeout=0.8) < 3.0


def _self_signed(folder: Path) -> ssl.SSLContext:
    """A server TLS context for 127.0.0.1 whose certificate no authority signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@contextlib.asynccontextmanager
async def _serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                   tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """An aiohttp server on 127.0.0.1 answering every request with ``handler``; yields its port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    try:
        yield int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def _get_me(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Caucus",
                                                     "username": "caucus_bot"}})


async def test_a_bot_api_whose_certificate_no_authority_signed_is_refused(tmp_path: Path) -> None:
    """TLS is checked: a server with a self-signed certificate gets no request through."""
    async with _serving(_get_me, _self_signed(tmp_path)) as port:
        request = AiohttpRequest()
        bot = Bot(TOKEN, base_url=f"https://127.0.0.1:{port}/bot", request=request)
        async with request:
            with pytest.raises(NetworkError, match="Certificate"):
                await bot.get_me()


def _proxy_in_environment(monkeypatch: pytest.MonkeyPatch, name: str, url: str, *, no_proxy: str | None = None
                          ) -> None:
    """The proxy setting ``name`` (HTTP_PROXY, HTTPS_PROXY) and nothing else of the machine's own proxy settings."""
    for setting in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(setting, raising=False)
        monkeypatch.delenv(setting.lower(), raising=False)
    monkeypatch.setenv(name, url)
    if no_proxy is not None:
        monkeypatch.setenv("NO_PROXY", no_proxy)


async def test_the_proxy_of_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY is honoured, with its credentials (where Telegram is blocked, a proxy may be the only way to it)."""
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.url.host}{request.url.path.split(':')[0]} "
                    f"{request.headers.get('Proxy-Authorization')}")
        return await _get_me(request)

    async with _serving(proxy) as port:
        _proxy_in_environment(monkeypatch, "HTTP_PROXY", f"http://relay:s3cret@127.0.0.1:{port}")
        request = AiohttpRequest()
        bot = Bot(TOKEN, base_url="http://api.telegram.invalid/bot", request=request)
        async with request:
            assert (await bot.get_me()).username == "caucus_bot"
            assert (await bot.get_me()).username == "caucus_bot"
    credentials = "Basic cmVsYXk6czNjcmV0"  # relay:s3cret
    assert seen == [f"POST api.telegram.invalid/bot123456789 {credentials}"] * 2


async def test_the_bot_apis_https_goes_through_the_proxys_tunnel_with_its_credentials(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY is honoured for the real Bot API's https: a CONNECT carrying the proxy's credentials."""
    seen: list[str] = []

    async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        credentials = [line.split(":", 1)[1].strip()
                       for line in head if line.lower().startswith("proxy-authorization:")]
        seen.append(f"{head[0]} {credentials}")
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")  # this test's proxy tunnels nowhere
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(tunnel, "127.0.0.1", 0)
    async with server:
        _proxy_in_environment(monkeypatch, "HTTPS_PROXY",
                              f"http://relay:s3cret@127.0.0.1:{server.sockets[0].getsockname()[1]}")
        request = AiohttpRequest()
        bot = Bot(TOKEN, base_url="https://api.telegram.invalid/bot", request=request)
        async with request:
            with pytest.raises(NetworkError) as raised:
                await bot.get_me()
    assert TOKEN not in str(raised.value)
    assert seen == ["CONNECT api.telegram.invalid:443 HTTP/1.1 ['Basic cmVsYXk6czNjcmV0']"]


async def test_a_host_that_no_proxy_names_is_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_PROXY is honoured: the Bot API on a host it names is reached without the (here unreachable) proxy."""
    async with _serving(_get_me) as port:
        _proxy_in_environment(monkeypatch, "HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}", no_proxy="127.0.0.1")
        request = AiohttpRequest()
        bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
        async with request:
            assert (await bot.get_me()).username == "caucus_bot"


async def test_a_transport_used_before_it_started_says_so() -> None:
    bot = Bot(TOKEN, base_url="http://127.0.0.1:9/bot", request=AiohttpRequest())
    with pytest.raises(NetworkError, match="not initialized"):
        await bot.get_me()
