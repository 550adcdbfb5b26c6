"""Run a bot against the sandbox: in this event loop, or as a subprocess that can be killed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import discord
import discord.gateway
import discord.http

from bot.endpoints import Endpoints, point_client_at, restore_client
from sandbox.gateway import Gateway
from sandbox.world import SandboxError, SandboxTimeout

log = logging.getLogger(__name__)


class Sandbox(Protocol):
    """What a runner needs of the sandbox it points a bot at (the driver's `Sandbox` is one;
    naming it here keeps the driver -> process import one-way)."""

    gateway: Gateway

    @property
    def api_base(self) -> str: ...

    @property
    def gateway_url(self) -> str: ...

    @property
    def token(self) -> str: ...

    @property
    def sync_count(self) -> int: ...

    def env(self, data_dir: str | Path | None = None) -> dict[str, str]: ...


class InProcessBot:
    """Runs a ``discord.Client`` / ``commands.Bot`` as a task in the current loop.

    ``async with sandbox.run_bot(bot) as bot:`` points discord.py at the sandbox, starts the
    bot, waits for ``on_ready`` and on exit closes it and restores discord.py's URLs. Pass
    ``guild_ready_timeout=0.1`` to the client to skip discord.py's 2 s wait before on_ready.
    """

    def __init__(self, sandbox: Sandbox, client: discord.Client, *, ready_timeout: float) -> None:
        self.sandbox = sandbox
        self.client = client
        self.ready_timeout = ready_timeout
        self.task: asyncio.Task[None] | None = None
        self._previous: Endpoints | None = None

    async def start(self) -> discord.Client:
        if self.task is not None:
            raise SandboxError("bot already started")
        self._previous = point_client_at(self.sandbox.api_base, self.sandbox.gateway_url)
        self.task = asyncio.get_running_loop().create_task(
            self.client.start(self.sandbox.token), name="sandbox-bot"
        )
        deadline = asyncio.get_running_loop().time() + self.ready_timeout
        # Client.wait_until_ready() cannot be awaited before login created its event,
        # so poll; a crash during login/connect ends the task and is re-raised here.
        while not self.client.is_ready():
            if self.task.done():
                await self._fail_start()
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise SandboxTimeout(f"bot not ready within {self.ready_timeout:.1f}s")
            await asyncio.sleep(0.01)
        return self.client

    async def _fail_start(self) -> None:
        assert self.task is not None
        exc = self.task.exception()
        await self.stop()
        raise SandboxError(f"bot stopped before it was ready: {exc!r}") from exc

    async def stop(self) -> None:
        if self.task is not None:
            if not self.client.is_closed():
                await self.client.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, 5.0)
            self.task = None
        if self._previous is not None:
            restore_client(self._previous)
            self._previous = None

    async def __aenter__(self) -> Any:
        # Typed Any so ``async with sandbox.run_bot(bot) as b`` keeps the caller's bot type.
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class BotProcess:
    """A bot started as a subprocess with DISCORD_TOKEN, DISCORD_API_BASE, DISCORD_GATEWAY_URL
    and HANDIN_DATA_DIR set; supports terminate (SIGTERM), kill (SIGKILL) and restart.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        argv: Sequence[str],
        *,
        data_dir: str | Path,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        expect_sync: bool = False,
        ready_timeout: float = 30.0,
    ) -> None:
        if not argv:
            raise SandboxError("argv is empty")
        self.sandbox = sandbox
        self.argv = list(argv)
        self.data_dir = Path(data_dir)
        self.extra_env = dict(env or {})
        self.cwd = None if cwd is None else str(cwd)
        self.expect_sync = expect_sync
        self.ready_timeout = ready_timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.output_lines: list[str] = []
        self.starts = 0
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return "\n".join(self.output_lines)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.sandbox.env(self.data_dir))
        # Unbuffered so output arrives while the process runs, not only at exit.
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    async def start(self, *, wait: bool = True) -> None:
        """Start the process; with ``wait``, return once it got READY (and synced if expected)."""
        if self.running:
            raise SandboxError("process already running")
        ready_before = self.sandbox.gateway.ready_count
        syncs_before = self.sandbox.sync_count
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.environment(),
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.starts += 1
        self._reader = asyncio.get_running_loop().create_task(self._read_output(self.proc))
        log.info("started bot process %s: %s", self.proc.pid, " ".join(self.argv))
        if wait:
            await self.wait_ready(ready_before=ready_before, syncs_before=syncs_before)

    async def wait_ready(self, *, ready_before: int, syncs_before: int) -> None:
        assert self.proc is not None
        sandbox = self.sandbox

        def ready() -> bool:
            if sandbox.gateway.ready_count <= ready_before:
                return False
            return not self.expect_sync or sandbox.sync_count > syncs_before

        waiter = asyncio.ensure_future(
            sandbox.gateway.wait_until(ready, self.ready_timeout, "the bot process to connect")
        )
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            done, _ = await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (waiter, exited):
                if not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await fut
        if waiter in done:
            exc = waiter.exception()
            if exc is not None:
                raise SandboxTimeout(f"{exc}; process output:\n{self.output}") from exc
            return
        await self._drain()
        raise SandboxError(
            f"bot process exited with {self.proc.returncode} before READY; output:\n{self.output}"
        )

    async def _read_output(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            text = line.decode(errors="replace").rstrip("\n")
            self.output_lines.append(text)
            log.debug("bot[%s]: %s", proc.pid, text)

    async def _drain(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5.0)
            self._reader = None

    async def terminate(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                log.warning("bot process %s ignored SIGTERM; killing it", self.proc.pid)
                return await self.kill()
        await self._drain()
        return self.proc.returncode

    async def kill(self) -> int | None:
        """SIGKILL: no shutdown code runs, like a crash or a pulled plug."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
        await self._drain()
        return self.proc.returncode

    async def restart(self, *, wait: bool = True, hard: bool = False) -> None:
        """Stop (SIGKILL if ``hard`` else SIGTERM) and start again."""
        if self.running:
            if hard:
                await self.kill()
            else:
                await self.terminate()
        await self.start(wait=wait)

    async def stop(self) -> None:
        await self.terminate()

    async def __aenter__(self) -> BotProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.terminate()

    def __repr__(self) -> str:
        return f"<BotProcess pid={self.pid} argv={self.argv!r} returncode={self.returncode}>"
