"""Uploads stop before the disk fills: a free-space check, and one alarm for staff per episode."""

from __future__ import annotations

import asyncio
import logging

from bot.domain.clock import Clock
from bot.domain.errors import DiskLowError
from bot.domain.quotas import DiskUsage, FreeSpaceReserve
from bot.domain.rules import mib
from bot.services.ports import FreeSpace
from storage.db import Database
from storage.repos import quotas as quota_repo

log = logging.getLogger(__name__)


class DiskSpaceGuard:
    """Refuses an upload that would leave less free space than the reserve.

    The first refusal of an episode is logged and recorded (`disk_low_since`, shown to staff in
    `/assignment overview`); later refusals are not, until an upload fits again and clears it.
    """

    def __init__(
        self, db: Database, clock: Clock, space: FreeSpace, reserve: FreeSpaceReserve
    ) -> None:
        self._db = db
        self._clock = clock
        self._space = space
        self._reserve = reserve
        # None until read from the database: whether an episode is recorded there.
        self._low: bool | None = None
        # The first read is made once: in a rush every upload of the first instant asks at once
        # (a thousand reads queued behind the writes, profiled in issue #13).
        self._first_read = asyncio.Lock()

    async def require_room(self, incoming: int) -> None:
        """Raise DiskLowError when `incoming` more bytes would eat into the reserve.

        Runs outside any transaction (it may write the alarm in its own)."""
        usage = self._space.usage()
        if self._low is None:
            async with self._first_read:
                if self._low is None:
                    async with self._db.reading() as conn:
                        self._low = await quota_repo.disk_low_since(conn) is not None
        if self._reserve.allows(usage, incoming):
            if self._low:
                await self._clear(usage)
            return
        if not self._low:
            await self._alarm(usage, incoming)
        raise DiskLowError()

    async def _alarm(self, usage: DiskUsage, incoming: int) -> None:
        # Set before the write: concurrent refusals of the same episode raise no second alarm.
        self._low = True
        async with self._db.transaction() as conn:
            await quota_repo.set_disk_low_since(conn, self._clock.now())
        log.warning(
            "uploads refused until there is room: %.1f MiB free on the data folder's disk, and"
            " an upload of %.1f MiB would leave less than the %.1f MiB kept free"
            " (HANDIN_MIN_FREE_MB / HANDIN_MIN_FREE_PERCENT)",
            mib(usage.free),
            mib(incoming),
            mib(self._reserve.required(usage)),
        )

    async def _clear(self, usage: DiskUsage) -> None:
        self._low = False
        async with self._db.transaction() as conn:
            await quota_repo.set_disk_low_since(conn, None)
        log.info("uploads accepted again: %.1f MiB free on the data folder's disk", mib(usage.free))
