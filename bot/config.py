"""Configuration from the environment and an optional `.env` file."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

from bot import signing
from bot.domain.quotas import DEFAULT_RESERVE, FreeSpaceReserve
from bot.domain.rules import MIB

DEFAULT_API_BASE = "https://discord.com/api/v10"
# Read from the working directory, as python-dotenv does by default.
ENV_FILE = Path(".env")

# A bot token is three base64url parts separated by dots; anything else cannot log in.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and what to set."""


# Uploads stop while the data folder's disk has less free than the larger of these two.
DEFAULT_MIN_FREE_MB = DEFAULT_RESERVE.min_free_bytes / MIB
DEFAULT_MIN_FREE_PERCENT = DEFAULT_RESERVE.min_free_fraction * 100


@dataclass(frozen=True, slots=True)
class Config:
    token: str
    data_dir: Path
    log_level: str
    api_base: str
    gateway_url: str | None
    # HANDIN_MIN_FREE_MB (MiB) and HANDIN_MIN_FREE_PERCENT (of the file system's size).
    min_free_mb: float = DEFAULT_MIN_FREE_MB
    min_free_percent: float = DEFAULT_MIN_FREE_PERCENT
    # HANDIN_METRICS_PORT: serve /healthz and /metrics there (off when unset; 0 = any free
    # port), on HANDIN_METRICS_HOST (this host only by default).
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # HANDIN_FILES_URL: `s3://bucket/prefix` keeps the stored files in that bucket (endpoint
    # and keys from the standard AWS_* variables); unset, they live in the data folder.
    files_url: str | None = None
    # HANDIN_DATABASE_URL: `sqlite:///path` or `postgresql://...`; None: the SQLite file in
    # the data folder.
    database_url: str | None = None
    # HANDIN_INSTANCE: this process's name, unique among the processes sharing one database
    # (a restarted process takes back the receipts its earlier life was sending).
    instance: str = "main"
    # HANDIN_SIGNING_KEY: the receipt-signing key (bot/signing.py says its format); unset, the
    # bot makes one in the data folder at its first start.
    signing_key: str | None = None
    # HANDIN_SHARDS (`0-3`, `0,2`; unset: all) of HANDIN_SHARD_COUNT: the Discord shards this
    # process serves (several processes share one PostgreSQL); None: one process, no sharding.
    shard_ids: tuple[int, ...] | None = None
    shard_count: int | None = None
    # HANDIN_EVENT_LOOP: `uvloop` (the default where it is installed: Linux and macOS) or
    # `asyncio` (the standard library's loop, to rule uvloop out when something misbehaves).
    event_loop: str = "uvloop"

    @property
    def sharded(self) -> bool:
        return self.shard_ids is not None

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
        shard_ids, shard_count = _shards(
            os.environ.get("HANDIN_SHARDS", "").strip(),
            os.environ.get("HANDIN_SHARD_COUNT", "").strip(),
        )
        return cls(
            token=token,
            data_dir=Path(os.environ.get("HANDIN_DATA_DIR", "./data")).expanduser(),
            log_level=level,
            api_base=os.environ.get("DISCORD_API_BASE", DEFAULT_API_BASE).rstrip("/"),
            gateway_url=os.environ.get("DISCORD_GATEWAY_URL") or None,
            min_free_mb=_number("HANDIN_MIN_FREE_MB", DEFAULT_MIN_FREE_MB, upper=None),
            min_free_percent=_number(
                "HANDIN_MIN_FREE_PERCENT", DEFAULT_MIN_FREE_PERCENT, upper=100
            ),
            metrics_port=_port("HANDIN_METRICS_PORT"),
            metrics_host=os.environ.get("HANDIN_METRICS_HOST", "").strip() or "127.0.0.1",
            files_url=_files_url(os.environ.get("HANDIN_FILES_URL", "").strip()),
            database_url=_database_url(),
            shard_ids=shard_ids,
            shard_count=shard_count,
            # Each process sharing a database needs its own name: its shards make one.
            instance=os.environ.get("HANDIN_INSTANCE", "").strip()
            or ("main" if shard_ids is None else "shards-" + shard_text(shard_ids)),
            signing_key=_signing_key(),
            event_loop=_event_loop(),
        )

    @property
    def free_space_reserve(self) -> FreeSpaceReserve:
        return FreeSpaceReserve(
            min_free_bytes=int(self.min_free_mb * MIB),
            min_free_fraction=self.min_free_percent / 100,
        )


def _event_loop() -> str:
    value = os.environ.get("HANDIN_EVENT_LOOP", "").strip().lower() or "uvloop"
    if value not in ("uvloop", "asyncio"):
        raise ConfigError(f"HANDIN_EVENT_LOOP={value!r}: use uvloop or asyncio")
    return value


def _signing_key() -> str | None:
    """Refused at start, before anything runs, when it is not a key."""
    value = os.environ.get("HANDIN_SIGNING_KEY", "").strip()
    if not value:
        return None
    try:
        signing.signer_from_env_value(value)
    except signing.SigningKeyError as exc:
        raise ConfigError(str(exc)) from None
    return value


def _database_url() -> str | None:
    url = os.environ.get("HANDIN_DATABASE_URL", "").strip()
    if not url:
        return None
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres") or ":" not in url:
        raise ConfigError(
            "HANDIN_DATABASE_URL must be sqlite:///path or postgresql://..., not "
            f"{url.split(':', 1)[0]!r}"
        )
    return url


def _shards(ids_text: str, count_text: str) -> tuple[tuple[int, ...] | None, int | None]:
    """HANDIN_SHARDS of HANDIN_SHARD_COUNT (the count alone: all its shards, in this
    process); neither: one process, not sharded."""
    if not ids_text and not count_text:
        return None, None
    if not count_text:
        raise ConfigError(
            f"HANDIN_SHARDS={ids_text!r} needs HANDIN_SHARD_COUNT: the number of shards of the"
            " whole bot, the same in every process (e.g. 8)"
        )
    if not count_text.isdigit() or int(count_text) < 1:
        raise ConfigError(f"HANDIN_SHARD_COUNT={count_text!r} is not a whole number of 1 or more")
    count = int(count_text)
    if not ids_text:
        return tuple(range(count)), count
    ids = parse_shards(ids_text)
    if ids is None:
        raise ConfigError(
            f"HANDIN_SHARDS={ids_text!r} is not a shard range: write 0-3 or 0,2 (or 0-1,4)"
        )
    outside = [shard for shard in ids if shard >= count]
    if outside:
        raise ConfigError(
            f"HANDIN_SHARDS={ids_text!r} names shard {outside[0]}, but HANDIN_SHARD_COUNT={count}"
            f" has shards 0 to {count - 1}"
        )
    return ids, count


def parse_shards(text: str) -> tuple[int, ...] | None:
    """`0-3`, `0,2` or `0-1,4` -> the sorted shard ids; None when malformed or repeated."""
    ids: list[int] = []
    for item in text.replace(" ", "").split(","):
        first, dash, last = item.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            return None
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            return None
        ids.extend(range(low, high + 1))
    if len(set(ids)) != len(ids):
        return None
    return tuple(sorted(ids))


def shard_text(ids: tuple[int, ...]) -> str:
    """The shard ids as HANDIN_SHARDS would name them: `0-3`, or `0,2`."""
    if list(ids) == list(range(ids[0], ids[-1] + 1)) and len(ids) > 1:
        return f"{ids[0]}-{ids[-1]}"
    return ",".join(str(shard) for shard in ids)


def _number(name: str, default: float, *, upper: float | None) -> float:
    """A non-negative number setting (0 turns that part of the check off)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= (upper if upper is not None else float("inf")):
        most = f" and at most {upper:g}" if upper is not None else ""
        raise ConfigError(
            f"{name}={text!r} is not a number of at least 0{most} (default {default:g})"
        )
    return value


def _files_url(text: str) -> str | None:
    if not text:
        return None
    bucket = text.removeprefix("s3://").split("/", 1)[0]
    if not text.startswith("s3://") or not bucket:
        raise ConfigError(
            f"HANDIN_FILES_URL={text!r} is not a bucket: use s3://bucket or s3://bucket/prefix,"
            " or leave it unset to keep the files in HANDIN_DATA_DIR"
        )
    return text


def _port(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > 65535:
        raise ConfigError(f"{name}={text!r} is not a TCP port: use a number from 1 to 65535")
    return int(text)


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
