"""The health check: the receipt outbox, stuck receipts and how far finalization lags."""

from __future__ import annotations

from datetime import timedelta

from bot.services.health import STUCK_AFTER
from bot.services.registry import Services
from storage.db import Database, execute
from storage.timefmt import to_db
from tests.clock import FakeClock
from tests.conftest import make_assignment, student
from tests.services.test_finalization import HOUR, close, group, upload

ALICE, BOB = student(1), student(2)


async def test_a_quiet_database_is_healthy(services: Services) -> None:
    health = await services.health.check()
    assert health.healthy
    assert (health.receipts, health.stuck_receipts, health.finalization_lag) == ({}, 0, 0.0)


async def test_the_lag_is_how_long_the_oldest_due_group_waits(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE)
    clock.advance(HOUR - 1)
    assert (await services.health.check()).finalization_lag == 0.0
    clock.advance(91)
    assert (await services.health.check()).finalization_lag == 90.0
    await close(services, clock, 0)
    assert (await services.health.check()).finalization_lag == 0.0


async def test_receipts_are_counted_and_an_overdue_one_is_stuck(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group(services, "1234", ALICE, BOB)
    await upload(services, ALICE, b"report", 60)
    await close(services, clock, HOUR)
    health = await services.health.check()
    assert health.receipts == {"pending": 2} and health.healthy

    clock.advance(STUCK_AFTER.total_seconds() + 1)
    assert (await services.health.check()).stuck_receipts == 2
    # A retry planned for later is not stuck.
    async with db.transaction() as conn:
        await execute(conn, "UPDATE receipts SET next_attempt_at = ?", (to_db(clock.now()),))
    health = await services.health.check()
    assert health.stuck_receipts == 0 and health.healthy
    clock.advance((STUCK_AFTER + timedelta(seconds=1)).total_seconds())
    assert not (await services.health.check()).healthy


async def test_a_database_that_cannot_answer_is_unhealthy(services: Services, db: Database) -> None:
    await db.close()
    health = await services.health.check()
    assert not health.database and not health.healthy
