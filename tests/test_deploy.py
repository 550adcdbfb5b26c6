"""The deployment files say what the code does: every setting, its default, the stop timing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dotenv import dotenv_values

import bot.config
from bot.client import NOTICES_STOP_SECONDS, REPLIES_STOP_SECONDS, UPLOADS_STOP_SECONDS
from bot.config import Config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "handin-bot.env.example"
UNIT = ROOT / "deploy" / "handin-bot.service"
TOKEN = "x" * 24 + "." + "y" * 6 + "." + "z" * 27


def settings_read_by_the_code() -> set[str]:
    source = Path(bot.config.__file__).read_text()
    return set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', source)) | set(
        re.findall(r'_(?:number|port)\(\s*"([A-Z_]+)"', source)
    )


def settings_in_the_example() -> dict[str, str]:
    lines = [line for line in EXAMPLE.read_text().splitlines() if line and line[0] != "#"]
    return dict(line.split("=", 1) for line in lines)


def test_the_example_lists_every_setting() -> None:
    assert settings_read_by_the_code() == set(settings_in_the_example())


def test_the_example_gives_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = ROOT / "no-such.env"
    for name in settings_read_by_the_code():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    defaults = Config.from_env(env_file=nowhere)
    # Through monkeypatch rather than load_dotenv, which would leave them set for other tests.
    for name, text in dotenv_values(EXAMPLE).items():
        if name != "DISCORD_TOKEN":
            monkeypatch.setenv(name, text or "")
    assert Config.from_env(env_file=nowhere) == defaults


def test_systemd_waits_longer_than_the_clean_stop() -> None:
    unit = UNIT.read_text()
    [timeout] = re.findall(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE)
    clean_stop = UPLOADS_STOP_SECONDS + NOTICES_STOP_SECONDS + REPLIES_STOP_SECONDS
    assert int(timeout) > clean_stop
    assert "KillSignal=SIGTERM" in unit and "Restart=on-failure" in unit
