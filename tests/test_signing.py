"""The receipt-signing key: made once at first start (0600), reused, or from HANDIN_SIGNING_KEY."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path
from unittest.mock import AsyncMock

import pytest

from bot import signing
from bot.client import HandinBot
from bot.config import DEFAULT_API_BASE, Config, ConfigError
from bot.domain.receipt_codes import ReceiptSigner, seed_text
from tests.clock import FakeClock
from tests.conftest import START

SEED = bytes(range(32))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_start_makes_an_owner_only_key_file(tmp_path: Path) -> None:
    signer = signing.load_signer(None, tmp_path, create=True)
    path = signing.key_file(tmp_path)
    assert _mode(path) == 0o600
    assert path.read_text().strip() == seed_text(signer.seed())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_the_key_file_is_reused_and_never_overwritten(tmp_path: Path) -> None:
    first = signing.load_signer(None, tmp_path, create=True)
    written = signing.key_file(tmp_path).read_bytes()
    again = signing.load_signer(None, tmp_path, create=True)
    assert again.key_id == first.key_id
    assert signing.key_file(tmp_path).read_bytes() == written


def test_a_key_file_others_can_read_is_made_owner_only(tmp_path: Path) -> None:
    signing.load_signer(None, tmp_path, create=True)
    path = signing.key_file(tmp_path)
    path.chmod(0o644)
    signing.load_signer(None, tmp_path, create=False)
    assert _mode(path) == 0o600


def test_a_tool_does_not_make_a_key(tmp_path: Path) -> None:
    with pytest.raises(signing.SigningKeyError, match="HANDIN_SIGNING_KEY"):
        signing.load_signer(None, tmp_path, create=False)
    assert not signing.key_file(tmp_path).exists()


def test_a_damaged_key_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = signing.key_file(tmp_path)
    path.write_text("not a key\n")
    path.chmod(0o600)
    with pytest.raises(signing.SigningKeyError, match=str(path)):
        signing.load_signer(None, tmp_path, create=True)
    assert path.read_text() == "not a key\n"  # left as it was, for the admin to restore


def test_handin_signing_key_is_used_instead_of_a_key_file(tmp_path: Path) -> None:
    signer = signing.load_signer(seed_text(SEED), tmp_path, create=True)
    assert signer.key_id == ReceiptSigner.from_seed(SEED).key_id
    assert not signing.key_file(tmp_path).exists()


@pytest.mark.parametrize("value", ["secret", seed_text(SEED)[:-2], seed_text(SEED) + "AAAA"])
def test_a_bad_handin_signing_key_is_refused_with_its_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HANDIN_SIGNING_KEY", value)
    with pytest.raises(ConfigError, match="HANDIN_SIGNING_KEY") as refused:
        Config.from_env(require_token=False, env_file=tmp_path / ".env")
    assert "32-byte" in str(refused.value)
    assert value not in str(refused.value)  # a secret is never echoed


def test_a_good_handin_signing_key_is_kept_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDIN_SIGNING_KEY", seed_text(SEED))
    config = Config.from_env(require_token=False, env_file=tmp_path / ".env")
    assert config.signing_key == seed_text(SEED)


def test_the_bot_refuses_to_start_on_a_bad_signing_key(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DISCORD_TOKEN": "A" * 24 + "." + "B" * 6 + "." + "C" * 27,
        "HANDIN_SIGNING_KEY": "not-a-key",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "HANDIN_SIGNING_KEY" in line
    assert not (tmp_path / "data").exists()  # refused before anything was made


async def test_the_bot_signs_receipts_with_the_key_of_its_data_folder(tmp_path: Path) -> None:
    """Two starts on one data folder: one key file, the same key both times."""
    key_ids = []
    for _ in range(2):
        config = Config(
            token="",
            data_dir=tmp_path / "data",
            log_level="INFO",
            api_base=DEFAULT_API_BASE,
            gateway_url=None,
        )
        bot = HandinBot(config, clock=FakeClock(START))
        bot.tree.sync = AsyncMock(return_value=[])  # type: ignore[method-assign]
        try:
            await bot.setup_hook()
            key_ids.append(bot.services.receipt_codes.signer.key_id)
        finally:
            await asyncio.wait_for(bot.close(), timeout=5)
    on_disk = signing.load_signer(None, tmp_path / "data", create=False)
    assert key_ids == [on_disk.key_id, on_disk.key_id]
    assert _mode(signing.key_file(tmp_path / "data")) == 0o600


def test_a_damaged_key_file_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    signing.key_file(data_dir).write_text("damaged\n")
    signing.key_file(data_dir).chmod(0o600)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        "DISCORD_TOKEN": "A" * 24 + "." + "B" * 6 + "." + "C" * 27,
        "HANDIN_DATA_DIR": str(data_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert str(signing.key_file(data_dir)) in line and "backup" in line
    assert not (data_dir / "handin.sqlite3").exists()  # stopped before the database
