"""Configuration from the environment and an optional `.env` file."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

DEFAULT_API_BASE = "https://discord.com/api/v10"
# Read from the working directory, as python-dotenv does by default.
ENV_FILE = Path(".env")

# A bot token is three base64url parts separated by dots; anything else cannot log in.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and what to set."""


@dataclass(frozen=True, slots=True)
class Config:
    token: str
    data_dir: Path
    log_level: str
    api_base: str
    gateway_url: str | None

    @classmethod
    def from_env(cls, *, require_token: bool = True, env_file: Path | None = None) -> Config:
        load_dotenv(env_file or ENV_FILE, override=False)
        token = os.environ.get("DISCORD_TOKEN", "").strip()
        if require_token:
            check_token(token)
        level = os.environ.get("HANDIN_LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(
                f"HANDIN_LOG_LEVEL={level!r} is not a log level: use DEBUG, INFO, WARNING or ERROR"
            )
        return cls(
            token=token,
            data_dir=Path(os.environ.get("HANDIN_DATA_DIR", "./data")).expanduser(),
            log_level=level,
            api_base=os.environ.get("DISCORD_API_BASE", DEFAULT_API_BASE).rstrip("/"),
            gateway_url=os.environ.get("DISCORD_GATEWAY_URL") or None,
        )


def readable_by_others(path: Path) -> bool:
    """Whether other accounts on the host can read `path` (a `.env` holds the bot's token)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def check_token(token: str) -> None:
    if not token:
        raise ConfigError(
            "DISCORD_TOKEN is not set: put your bot's token in the environment or in .env "
            "(Discord Developer Portal -> your application -> Bot -> Reset Token), "
            "or run `python -m bot demo` to try the bot without Discord"
        )
    if not _TOKEN.match(token):
        raise ConfigError(
            "DISCORD_TOKEN does not look like a bot token (three dot-separated parts): "
            "copy it again from the Developer Portal (Bot -> Reset Token)"
        )
