"""How python-telegram-bot's `Bot` reaches the Bot API: over aiohttp's client instead of httpx.

Each update costs Caucus two or three Bot API calls (the reply, the keyboard it replaces, the answer to a tap), and
httpx, with httpcore and anyio under it, spent about as much CPU on each call as handling the update's caucus
step took: aiohttp's client parses HTTP in C. aiohttp is there already, for the webhook server. The `Bot` and
everything above it (requests built, replies parsed, errors raised) stay python-telegram-bot's.
"""

from __future__ import annotations

import ssl
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiohttp
import certifi
from aiohttp.helpers import get_env_proxy_for_url
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

__all__ = ["AiohttpRequest"]


def _given(value: Any, default: float | None) -> float | None:
    """A timeout given for one call, or this transport's default (python-telegram-bot's DEFAULT_NONE)."""
    return default if value is BaseRequest.DEFAULT_NONE else value


class _Proxy(NamedTuple):
    """How to reach an origin: through which proxy, if any, and with which headers to give it its credentials."""

    url: URL | None
    tunnel_headers: dict[str, str] | None  # for the CONNECT of an https origin's tunnel
    request_headers: dict[str, str] | None  # for a plain http origin's requests, which the proxy forwards


class AiohttpRequest(BaseRequest):
    """`telegram.request.HTTPXRequest`'s counterpart on aiohttp: the same defaults and the same errors.

    Timeouts: ``connect_timeout`` is the TCP connect; ``pool_timeout`` plus it bound the wait for a connection
    of the pool; ``read_timeout`` bounds each wait for the answer's bytes. aiohttp has no write timeout of its
    own: a request without a file is bounded in all by ``write_timeout`` plus the read timeout; one that sends a
    file is not bounded in all (over a slow link a report may take minutes to go up), only by its waits for bytes.
    """

    def __init__(self, *, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, _Proxy] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # As httpx did: certificates checked against certifi's bundle (a slim image may have no system store).
            # The environment's proxy is looked up by `_proxy`, not by aiohttp's trust_env (see there).
            tls = ssl.create_default_context(cafile=certifi.where())
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, ssl=tls),
                headers={"User-Agent": self.USER_AGENT},
            )
            self._proxies.clear()

    def _proxy(self, url: str) -> _Proxy:
        """The proxy of the environment for `url`'s origin (HTTP(S)_PROXY, NO_PROXY, proxy credentials in the
        proxy's URL or in ~/.netrc), and the headers that give it the credentials; looked up once per origin and
        session.

        Where Telegram is blocked, a proxy may be the only way out. aiohttp's ``trust_env`` would look it up again
        for every call, reading the environment and ~/.netrc in two trips to a worker thread: a twentieth of the
        bot's CPU under load, for an answer that cannot change while the process runs.
        """
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        found = self._proxies.get(origin)
        if found is None:
            try:
                proxy, auth = get_env_proxy_for_url(URL(origin))
            except LookupError:  # none set for this scheme, or NO_PROXY names the host
                found = _Proxy(None, None, None)
            else:
                # The credentials go with the tunnel's CONNECT for https, with the request itself for plain http.
                credentials = None if auth is None else {"Proxy-Authorization": auth.encode()}
                tunnelled = parts.scheme == "https"
                found = _Proxy(proxy, credentials if tunnelled else None, None if tunnelled else credentials)
            self._proxies[origin] = found
        return found

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(  # noqa: PLR0917 - BaseRequest's signature
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        fields = request_data.json_parameters if request_data is not None else None
        data: aiohttp.FormData | dict[str, str] | None = fields
        if files:
            form = aiohttp.FormData()
            for name, value in (fields or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            data = form

        read = _given(read_timeout, self._read_timeout)
        write = None if files else _given(write_timeout, self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        timeout = aiohttp.ClientTimeout(
            total=None if read is None or write is None else read + write,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        proxy = self._proxy(url)
        try:
            async with session.request(method, url, data=data, timeout=timeout, headers=proxy.request_headers,
                                       proxy=proxy.url, proxy_headers=proxy.tunnel_headers) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's timeouts are TimeoutErrors too
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # The class only: an aiohttp message may quote the URL, and the URL holds the bot's token.
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error
