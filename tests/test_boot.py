"""Booting the bot without Discord: `setup_hook` wires database, services, scheduler and cogs,
and syncs the slash commands only when their definitions changed."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from unittest.mock import AsyncMock

import pytest

from bot import paths
from bot.__main__ import loop_factory
from bot.client import COMMANDS_HASH_KEY, HandinBot, ShardedHandinBot, make_bot
from bot.config import DEFAULT_API_BASE, Config, ConfigError
from bot.scheduler import REPLAN_JOB, SWEEP_JOB
from storage.migrate import available
from tests.clock import FakeClock
from tests.conftest import START
from tests.modes import exposed, mode, umask

TOP_LEVEL = {
    "ready",
    "group",
    "upload",
    "handin",
    "release",
    "status",
    "download",
    "assignments",
    "feedback",
    "help",
    "assignment",
    "groups",
    "export",
    "settings",
    "verify",
}


def _config(data_dir: Path) -> Config:
    return Config(
        token="",
        data_dir=data_dir,
        log_level="INFO",
        api_base=DEFAULT_API_BASE,
        gateway_url=None,
    )


def _stored_hash(data_dir: Path) -> str | None:
    conn = sqlite3.connect(paths.database_path(data_dir))
    try:
        row = conn.execute(
            "SELECT value FROM bot_state WHERE key = ?", (COMMANDS_HASH_KEY,)
        ).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


@asynccontextmanager
async def booted(data_dir: Path, *, force_sync: bool = False) -> AsyncIterator[HandinBot]:
    """A bot after `setup_hook`, with `tree.sync` replaced (no network), closed on exit."""
    bot = HandinBot(_config(data_dir), clock=FakeClock(START), force_sync=force_sync)
    bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
    try:
        await bot.setup_hook()
        yield bot
    finally:
        # Must not hang: aiosqlite's thread and the scheduler are stopped here.
        await asyncio.wait_for(bot.close(), timeout=5)


async def test_boot_wires_database_services_scheduler_and_cogs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with booted(data_dir) as bot:
        assert bot.services.db.path == paths.database_path(data_dir)
        assert paths.files_dir(data_dir).is_dir()
        assert bot.scheduler is not None and SWEEP_JOB in bot.scheduler.job_ids()
        assert bot.services.wakeups.listener is bot.scheduler
        assert set(bot.cogs) == {
            "GroupsCog",
            "SubmissionsCog",
            "StaffAssignmentsCog",
            "StaffGroupsCog",
            "ExportCog",
            "FeedbackCog",
            "SettingsCog",
            "HelpCog",
            "VerifyCog",
        }
        assert {c.name for c in bot.tree.get_commands()} == TOP_LEVEL
        bot.tree.sync.assert_awaited_once()  # type: ignore[attr-defined]

    conn = sqlite3.connect(paths.database_path(data_dir))
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert version == max(number for number, _ in available())
    assert {"groups", "memberships", "uploads", "bot_state"} <= tables
    assert _stored_hash(data_dir) is not None


async def test_second_boot_with_unchanged_commands_does_not_sync(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with booted(data_dir) as first:
        first_hash = await first.commands_hash()

    async with booted(data_dir) as second:
        second.tree.sync.assert_not_awaited()  # type: ignore[attr-defined]
        assert await second.commands_hash() == first_hash

    assert _stored_hash(data_dir) == first_hash


async def test_force_sync_syncs_even_when_unchanged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with booted(data_dir):
        pass

    async with booted(data_dir, force_sync=True) as forced:
        forced.tree.sync.assert_awaited_once()  # type: ignore[attr-defined]


async def test_changed_commands_are_synced_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    async with booted(data_dir):
        pass
    monkeypatch.setattr(HandinBot, "commands_hash", AsyncMock(return_value="changed"))

    async with booted(data_dir) as changed:
        changed.tree.sync.assert_awaited_once()  # type: ignore[attr-defined]
    assert _stored_hash(data_dir) == "changed"


# --- a private data folder -----------------------------------------------------------------
async def test_boot_makes_a_data_folder_open_to_others_owner_only_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="bot.paths"):
        async with booted(data_dir):
            pass
    assert mode(data_dir) == 0o700
    [record] = [r for r in caplog.records if r.name == "bot.paths"]
    assert str(data_dir) in record.getMessage() and "0700" in record.getMessage()


async def test_boot_under_an_open_umask_creates_everything_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    with umask(0):
        async with booted(data_dir):
            assert paths.database_path(data_dir).is_file()
            assert exposed(tmp_path / "new") == []
    assert exposed(tmp_path / "new") == []


def test_a_data_folder_another_account_owns_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root every chmod succeeds, so the refusal of a non-owner's chmod is stood in for.
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)

    def not_owner(self: Path, mode: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted", str(self))

    monkeypatch.setattr(Path, "chmod", not_owner)
    with pytest.raises(paths.DataDirError) as refused:
        paths.secure_data_dir(data_dir)
    message = str(refused.value)
    assert str(data_dir) in message and "Operation not permitted" in message
    assert "\n" not in message


def _run_bot(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=cwd,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# A token of the right shape: the start-up checks after it run before any network access.
SHAPED_TOKEN = "A" * 24 + "." + "B" * 6 + "." + "C" * 27


def test_a_data_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path: Path) -> None:
    taken = tmp_path / "data"
    taken.write_text("not a folder")
    result = _run_bot(tmp_path, DISCORD_TOKEN=SHAPED_TOKEN, HANDIN_DATA_DIR=str(taken))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(taken) in lines[0] and "HANDIN_DATA_DIR" in lines[0]
    assert result.stdout == ""


def test_a_env_file_others_can_read_gets_a_warning_naming_it(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DISCORD_TOKEN={SHAPED_TOKEN}\n")
    env_file.chmod(0o644)
    # A data folder that cannot be made stops the bot right after the warning, offline.
    (tmp_path / "data").write_text("")
    result = _run_bot(tmp_path)
    [warning, error] = result.stderr.strip().splitlines()
    assert str(env_file) in warning and "chmod 600" in warning
    assert result.returncode == 2 and "data folder" in error

    env_file.chmod(0o600)
    quiet = _run_bot(tmp_path)
    assert len(quiet.stderr.strip().splitlines()) == 1, quiet.stderr


# --- configuration -------------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "", "not-a-token", "abc.def"])
def test_missing_or_malformed_token_is_one_line_naming_discord_token(
    tmp_path: Path, token: str | None
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    if token is not None:
        env["DISCORD_TOKEN"] = token
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DISCORD_TOKEN" in lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()  # nothing created before the config is valid


def test_free_space_reserve_defaults_to_1_gib_or_5_percent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDIN_MIN_FREE_MB", raising=False)
    monkeypatch.delenv("HANDIN_MIN_FREE_PERCENT", raising=False)
    reserve = Config.from_env(require_token=False, env_file=tmp_path / ".env").free_space_reserve
    assert (reserve.min_free_bytes, reserve.min_free_fraction) == (1024**3, 0.05)


def test_free_space_reserve_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDIN_MIN_FREE_MB", "200")
    monkeypatch.setenv("HANDIN_MIN_FREE_PERCENT", "0")
    reserve = Config.from_env(require_token=False, env_file=tmp_path / ".env").free_space_reserve
    assert (reserve.min_free_bytes, reserve.min_free_fraction) == (200 * 1024**2, 0.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HANDIN_MIN_FREE_MB", "-1"),
        ("HANDIN_MIN_FREE_MB", "lots"),
        ("HANDIN_MIN_FREE_PERCENT", "101"),
    ],
)
def test_a_malformed_free_space_setting_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        Config.from_env(require_token=False, env_file=tmp_path / ".env")


# --- the event loop ------------------------------------------------------------------------
def test_the_event_loop_is_uvloop_unless_told_asyncio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvloop

    monkeypatch.delenv("HANDIN_EVENT_LOOP", raising=False)
    config = Config.from_env(require_token=False, env_file=tmp_path / ".env")
    assert config.event_loop == "uvloop"
    factory = loop_factory(config.event_loop)
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    monkeypatch.setenv("HANDIN_EVENT_LOOP", " AsyncIO ")
    config = Config.from_env(require_token=False, env_file=tmp_path / ".env")
    assert (config.event_loop, loop_factory(config.event_loop)) == ("asyncio", None)


def test_another_event_loop_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDIN_EVENT_LOOP", "trio")
    with pytest.raises(ConfigError, match="HANDIN_EVENT_LOOP='trio': use uvloop or asyncio"):
        Config.from_env(require_token=False, env_file=tmp_path / ".env")


def test_without_uvloop_installed_the_standard_loop_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows has no uvloop: the default setting falls back, it does not fail.
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert loop_factory("uvloop") is None


# --- shards --------------------------------------------------------------------------------
def _sharded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shards: str | None, count: str | None
) -> Config:
    for name, value in (("HANDIN_SHARDS", shards), ("HANDIN_SHARD_COUNT", count)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("HANDIN_INSTANCE", raising=False)
    return Config.from_env(require_token=False, env_file=tmp_path / ".env")


@pytest.mark.parametrize(
    ("shards", "ids"),
    [("0-3", (0, 1, 2, 3)), ("0,2", (0, 2)), ("0-1,4", (0, 1, 4)), ("5", (5,))],
)
def test_shards_are_a_range_or_a_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shards: str, ids: tuple[int, ...]
) -> None:
    config = _sharded(tmp_path, monkeypatch, shards, "8")
    assert (config.shard_ids, config.shard_count, config.sharded) == (ids, 8, True)


def test_a_shard_count_alone_serves_all_its_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _sharded(tmp_path, monkeypatch, None, "3")
    assert (config.shard_ids, config.shard_count, config.instance) == ((0, 1, 2), 3, "shards-0-2")


def test_without_shards_the_bot_is_one_plain_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _sharded(tmp_path, monkeypatch, None, None)
    assert (config.shard_ids, config.shard_count, config.instance) == (None, None, "main")
    assert type(make_bot(config)) is HandinBot


def test_a_sharded_process_is_an_auto_sharded_bot_named_for_its_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _sharded(tmp_path, monkeypatch, "2-3", "4")
    bot = make_bot(config)
    assert isinstance(bot, ShardedHandinBot)
    assert (bot.shard_ids, bot.shard_count) == ([2, 3], 4)
    assert config.instance == "shards-2-3"


@pytest.mark.parametrize(
    ("shards", "count", "says"),
    [
        ("0-1", None, "needs HANDIN_SHARD_COUNT"),
        ("0-x", "4", "is not a shard range"),
        ("3-1", "4", "is not a shard range"),
        ("0,0", "4", "is not a shard range"),
        ("0-4", "4", "names shard 4, but HANDIN_SHARD_COUNT=4 has shards 0 to 3"),
        ("0", "0", "HANDIN_SHARD_COUNT='0' is not a whole number"),
        ("0", "two", "HANDIN_SHARD_COUNT='two' is not a whole number"),
    ],
)
def test_a_malformed_shard_setting_is_refused_saying_what_to_write(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shards: str | None,
    count: str | None,
    says: str,
) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        _sharded(tmp_path, monkeypatch, shards, count)


def test_a_malformed_shard_setting_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    result = _run_bot(
        tmp_path, DISCORD_TOKEN=SHAPED_TOKEN, HANDIN_SHARDS="0-1", HANDIN_SHARD_COUNT="1"
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "HANDIN_SHARDS" in line and "shards 0 to 0" in line
    assert not (tmp_path / "data").exists()


async def test_a_sharded_process_does_not_sync_the_commands_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = replace(_config(tmp_path / "data"), shard_ids=(0,), shard_count=2)
    bot = ShardedHandinBot(config, clock=FakeClock(START))
    bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
    try:
        # What login() does first: the sharded client's close needs its event queue.
        await bot._async_setup_hook()
        with caplog.at_level(logging.WARNING, logger="bot.client"):
            await bot.setup_hook()
        bot.tree.sync.assert_not_awaited()
        assert "python -m bot sync" in caplog.text
        assert bot.scheduler is not None and REPLAN_JOB in bot.scheduler.job_ids()
    finally:
        await asyncio.wait_for(bot.close(), timeout=5)
    assert _stored_hash(tmp_path / "data") is None


async def test_sync_only_syncs_once_and_starts_nothing_else(tmp_path: Path) -> None:
    bot = HandinBot(_config(tmp_path / "data"), clock=FakeClock(START), sync_only=True)
    bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
    try:
        await bot.setup_hook()
        bot.tree.sync.assert_awaited_once()
        assert bot.scheduler is None
    finally:
        await asyncio.wait_for(bot.close(), timeout=5)
    assert _stored_hash(tmp_path / "data") is not None
