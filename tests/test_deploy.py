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


TEMPLATE = ROOT / "deploy" / "handin-bot@.service"
SYNC_UNIT = ROOT / "deploy" / "handin-bot-sync.service"


def test_the_template_unit_serves_its_instance_name_as_the_shards() -> None:
    unit = TEMPLATE.read_text()
    assert "Environment=HANDIN_SHARDS=%i" in unit.splitlines()
    # The shared settings, then the instance's own file (optional, it overrides).
    assert re.findall(r"^EnvironmentFile=(.*)$", unit, re.MULTILINE) == [
        "/etc/handin-bot/handin-bot.env",
        "-/etc/handin-bot/%i.env",
    ]
    assert "ExecStart=/opt/handin-bot/bin/python -m bot\n" in unit


def test_the_template_unit_stops_like_the_single_one() -> None:
    def stop_settings(text: str) -> list[str]:
        keys = ("KillSignal", "KillMode", "TimeoutStopSec", "Restart", "RestartPrevent")
        return [line for line in text.splitlines() if line.startswith(keys)]

    assert stop_settings(TEMPLATE.read_text()) == stop_settings(UNIT.read_text())


def test_the_sync_unit_runs_the_sync_step_once() -> None:
    unit = SYNC_UNIT.read_text()
    assert "Type=oneshot" in unit and "ExecStart=/opt/handin-bot/bin/python -m bot sync" in unit
    assert "handin-bot-sync.service" in TEMPLATE.read_text()
