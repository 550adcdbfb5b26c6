"""What an operator's health check and metrics ask of the services."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from bot.domain.clock import Clock
from bot.services.finalization import due_deadlines
from storage.db import Database
from storage.repos import health as health_repo

log = logging.getLogger(__name__)

# A receipt still pending this long after its try was due is stuck: the delivery worker takes
# a due receipt within a sweep (30 s), so this means delivery is not running.
STUCK_AFTER = timedelta(minutes=15)
# The database must answer a health check within this many seconds.
PING_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Health:
    database: bool
    # Receipts in the outbox by status; and pending ones overdue by more than STUCK_AFTER.
    receipts: dict[str, int] = field(default_factory=dict)
    stuck_receipts: int = 0
    # How long the oldest due group has waited to be finalized (0 when none waits).
    finalization_lag: float = 0.0

    @property
    def healthy(self) -> bool:
        return self.database and self.stuck_receipts == 0


class HealthService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def check(self) -> Health:
        """Read it all in one snapshot; a database that fails or does not answer is unhealthy."""
        try:
            async with asyncio.timeout(PING_SECONDS):
                return await self._read()
        except Exception:
            log.warning("health check: the database did not answer", exc_info=True)
            return Health(database=False)

    async def _read(self) -> Health:
        now = self._clock.now()
        async with self._db.reading() as conn:
            await health_repo.ping(conn)
            receipts = await health_repo.receipt_counts(conn)
            stuck = await health_repo.receipts_waiting_since(conn, now - STUCK_AFTER)
            due = await due_deadlines(conn, now)
        lag = max(((now - deadline).total_seconds() for deadline in due.values()), default=0.0)
        return Health(database=True, receipts=receipts, stuck_receipts=stuck, finalization_lag=lag)
