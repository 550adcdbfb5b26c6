"""Discord snowflake ids whose timestamp part carries a chosen creation time."""

from __future__ import annotations

import datetime as dt
import itertools
import time

DISCORD_EPOCH_MS = 1420070400000


def snowflake_time(snowflake: int) -> dt.datetime:
    """Return the UTC creation time encoded in ``snowflake``."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def time_snowflake(at: dt.datetime) -> int:
    """Return the smallest snowflake for ``at`` (naive datetimes are taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return (int(at.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22


class SnowflakeFactory:
    """Hands out unique snowflakes; the low 12 bits are a counter so ids stay unique."""

    def __init__(self) -> None:
        # Worker id 1 and process id 0, like one Discord worker would.
        self._counter = itertools.count(1)

    def new(self, at: dt.datetime | None = None) -> int:
        """Return a fresh snowflake created ``at`` (default: now)."""
        base = (
            time_snowflake(at)
            if at is not None
            else ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22)
        )
        # The counter spans 17 bits (worker, process, increment) so ids minted in the
        # same millisecond never collide within one sandbox run.
        return base | (next(self._counter) & 0x1FFFF)

    def new_on_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh snowflake (of about now) of a guild that Discord puts on `shard_id`:
        `(guild_id >> 22) % shard_count == shard_id`."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        ms += (shard_id - ms) % shard_count
        return (ms << 22) | (next(self._counter) & 0x1FFFF)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that gets a guild's events (Discord's sharding formula)."""
    return (guild_id >> 22) % shard_count
