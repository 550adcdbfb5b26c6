"""A bot subprocess against the sandbox: start, SIGKILL, restart, reconnect."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxError
from tests.waiting import eventually

ECHO_BOT = Path(__file__).with_name("echo_bot.py")


@pytest.mark.e2e
@pytest.mark.asyncio
async def test_process_can_be_killed_and_restarted(tmp_path: Path) -> None:
    async with Sandbox(connect_timeout=0.2) as sandbox:
        guild = sandbox.add_guild("G")
        alice = sandbox.add_member(guild, "alice")
        bot = sandbox.bot_process(
            [sys.executable, str(ECHO_BOT)], data_dir=tmp_path / "data", expect_sync=True
        )
        await bot.start()
        assert sandbox.sync_count == 1
        first = await sandbox.invoke(alice, "ping")
        assert (await first.wait_done()).content == f"pong {bot.pid}"

        assert await bot.kill() == -signal.SIGKILL
        await sandbox.gateway.wait_until(lambda: not sandbox.connected, 5.0, "disconnect")
        with pytest.raises(SandboxError, match="waiting for a bot to connect"):
            await sandbox.invoke(alice, "ping")

        old_pid = bot.pid
        await bot.restart()
        assert bot.pid != old_pid and bot.starts == 2
        assert sandbox.gateway.identify_count == 2
        second = await sandbox.invoke(alice, "ping")
        assert (await second.wait_done()).content == f"pong {bot.pid}"
        # on_ready runs after the 0.05 s guild wait; the marker shows the data dir arrived.
        marker = tmp_path / "data" / "ready"
        # The first process wrote it too, and a write may be caught half-done: wait for ours.
        await eventually(
            lambda: marker.exists() and marker.read_text() == str(bot.pid),
            what="the restarted process's ready marker",
        )
        assert await bot.terminate() == -signal.SIGTERM
        assert sandbox.unknown_routes == []
