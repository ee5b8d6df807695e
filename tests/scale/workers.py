"""Several ``caucusbot webhook`` workers on one PostgreSQL database, behind a round-robin proxy on 127.0.0.1.

The Bot API stand-in posts updates to the proxy as Telegram would post them to a load balancer; the proxy
hands each post to the next worker in turn and passes its answer back, skipping a worker it cannot connect to
(502 when none answers, so that the update is posted again). Used by tests/scale/test_workers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import socket
import sys
from collections import Counter
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.application import LEAD_LINE
from tests.reliability.crash_drill import READY_LINE, end_processes

__all__ = ["RoundRobinProxy", "WebhookWorkers", "free_port"]

_PATH = "/telegram/updates"


def free_port() -> int:
    """A port nobody listens on right now (the system's choice for port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RoundRobinProxy:
    """Passes each POST to the next worker in turn, with its headers (the secret among them) and body."""

    def __init__(self, targets: list[str]) -> None:
        self._targets = itertools.cycle(targets)
        self._count = len(targets)
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0
        self.served: Counter[str] = Counter()  # posts per worker

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{_PATH}"

    async def start(self) -> None:
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(_PATH, self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _forward(self, request: web.Request) -> web.Response:
        """To the next worker; one that cannot be connected to is skipped (as a load balancer does for a backend
        that is down: nothing was sent to it). 502 when none answers, so that the update is posted again."""
        assert self._client is not None
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in {"content-type", "x-telegram-bot-api-secret-token"}}
        body = await request.read()
        for _attempt in range(self._count):
            target = next(self._targets)
            try:
                async with self._client.post(target, data=body, headers=headers) as answer:
                    self.served[target] += 1
                    return web.Response(status=answer.status, body=await answer.read())
            except aiohttp.ClientConnectorError:
                continue  # down: try the next one
            except (aiohttp.ClientError, TimeoutError):
                break  # it may have handled the update: let Telegram post it again
        return web.Response(status=502)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()


class WebhookWorkers:
    """``count`` processes of ``python -m bot.cli webhook`` sharing ``env``'s database, each on its own port,
    all registering the proxy's URL with the Bot API; their logs go to ``log``."""

    def __init__(self, count: int, env: dict[str, str], workdir: Path, log: Path) -> None:
        self.ports = [free_port() for _ in range(count)]
        self._env = env
        self._workdir = workdir
        self._log = log
        self._processes: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self.secret = secrets.token_hex(16)
        self.leaders: list[int] = []  # the workers that took the lead, in order

    @property
    def targets(self) -> list[str]:
        return [f"http://127.0.0.1:{port}{_PATH}" for port in self.ports]

    async def start(self, proxy_url: str, within: float = 60.0) -> None:
        ready = [asyncio.Event() for _ in self.ports]
        for index, port in enumerate(self.ports):
            env = {**self._env, "CAUCUS_WEBHOOK_URL": proxy_url, "CAUCUS_WEBHOOK_SECRET": self.secret,
                   "CAUCUS_WEBHOOK_LISTEN": f"127.0.0.1:{port}"}
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "webhook", cwd=self._workdir, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            self._processes.append(process)
            self._readers.append(asyncio.create_task(self._read_log(process, ready[index], index)))
        try:
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready)), within)
        except TimeoutError:
            raise TimeoutError(f"the workers did not all start within {within} s (log: {self._log})") from None

    async def _read_log(self, process: asyncio.subprocess.Process, ready: asyncio.Event, index: int) -> None:
        assert process.stderr is not None
        with self._log.open("a", encoding="utf-8") as log:
            async for raw in process.stderr:
                line = raw.decode("utf-8", "replace")
                log.write(f"[worker {index}] {line}")
                if READY_LINE in line:
                    ready.set()
                if LEAD_LINE in line:
                    self.leaders.append(index)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes]

    def alive(self) -> list[bool]:
        return [process.returncode is None for process in self._processes]

    async def kill(self, index: int) -> None:
        """SIGKILL one worker: nothing is closed or flushed, its database connections just drop."""
        process = self._processes[index]
        process.kill()
        await process.wait()

    async def stop(self) -> None:
        """SIGTERM each (it finishes what it has in hand), SIGKILL after 30 s."""
        await end_processes(self._processes)
        for reader in self._readers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader, 5)
