"""Uploads stop before the disk fills: refused while they would eat into the free-space reserve,
nothing kept, and staff told once (the overview and one log line) until space is back."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.domain.errors import DiskLowError
from bot.domain.quotas import DiskUsage, FreeSpaceReserve
from bot.services.ports import FreeSpace
from bot.services.registry import Services, build_services
from storage.db import Database
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, STAFF, RecordingNotifier, incoming, make_assignment, student
from tests.snapshot import unchanged

KIB = 1024
ALICE = student(1)
# Fixed bytes only, no share of the disk: the sizes below are easy to follow.
RESERVE = FreeSpaceReserve(min_free_bytes=256 * KIB, min_free_fraction=0.0)


class SmallDisk:
    """A small file system holding the file store: its free space is its size less the bytes
    really stored under `root` (temp files included), so every stored upload uses it up."""

    def __init__(self, root: Path, total: int) -> None:
        self.root = root
        self.total = total

    def usage(self) -> DiskUsage:
        used = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return DiskUsage(total=self.total, free=max(self.total - used, 0))


# The fake stands in for the FreeSpace port: mypy checks here that it still matches it.
_FREE_SPACE_CONFORMS: FreeSpace = SmallDisk(Path(), 0)


@pytest.fixture
def disk(files: FileStore) -> SmallDisk:
    return SmallDisk(files.root, total=1024 * KIB)


@pytest.fixture
def small(
    db: Database, files: FileStore, clock: FakeClock, notifier: RecordingNotifier, disk: SmallDisk
) -> Services:
    return build_services(db, files, clock, notifier, free_space=disk, reserve=RESERVE)


async def alone(services: Services) -> None:
    await make_assignment(services)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=services.clock.now())


async def upload(services: Services, data: bytes) -> None:
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(data), sent_at=services.clock.now()
    )


async def test_upload_that_would_eat_into_the_reserve_is_refused_and_keeps_nothing(
    small: Services, db: Database, files: FileStore
) -> None:
    await alone(small)
    await upload(small, b"a" * 300 * KIB)
    await upload(small, b"b" * 300 * KIB)  # 424 KiB left: still above the reserve after it
    async with unchanged(db, files):
        with pytest.raises(DiskLowError):
            await upload(small, b"c" * 300 * KIB)
    # A small file that leaves the reserve intact still goes in.
    await upload(small, b"d" * 100 * KIB)


async def test_staff_are_told_once_in_the_overview_and_the_log(
    small: Services, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await alone(small)
    await upload(small, b"a" * 700 * KIB)
    first = clock.now()
    with caplog.at_level(logging.INFO, logger="bot.services.diskspace"):
        for _ in range(3):
            with pytest.raises(DiskLowError):
                await upload(small, b"b" * 100 * KIB)
            clock.advance(60)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "HANDIN_MIN_FREE_MB" in warnings[0].getMessage()
    overview = await small.assignments.overview(GUILD, STAFF, "Lab 1")
    assert overview.disk_low_since == first


async def test_the_alarm_clears_once_an_upload_fits_again(
    small: Services, disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    await alone(small)
    await upload(small, b"a" * 700 * KIB)
    with pytest.raises(DiskLowError):
        await upload(small, b"b" * 100 * KIB)
    disk.total *= 4  # the host's admin made room
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.services.diskspace"):
        await upload(small, b"b" * 100 * KIB)
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    overview = await small.assignments.overview(GUILD, STAFF, "Lab 1")
    assert overview.disk_low_since is None


async def test_the_alarm_survives_a_restart_and_is_not_raised_twice(
    small: Services,
    db: Database,
    files: FileStore,
    clock: FakeClock,
    disk: SmallDisk,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await alone(small)
    await upload(small, b"a" * 700 * KIB)
    with pytest.raises(DiskLowError):
        await upload(small, b"b" * 100 * KIB)
    restarted = build_services(
        db, files, clock, RecordingNotifier(), free_space=disk, reserve=RESERVE
    )
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="bot.services.diskspace"),
        pytest.raises(DiskLowError),
    ):
        await upload(restarted, b"b" * 100 * KIB)
    assert caplog.records == []


def test_the_reserve_is_the_larger_of_the_bytes_and_the_share() -> None:
    reserve = FreeSpaceReserve(min_free_bytes=1024**3, min_free_fraction=0.05)
    assert reserve.required(DiskUsage(total=10 * 1024**3, free=0)) == 1024**3
    assert reserve.required(DiskUsage(total=100 * 1024**3, free=0)) == 5 * 1024**3
    assert reserve.allows(DiskUsage(total=10 * 1024**3, free=1024**3 + 10), incoming=10)
    assert not reserve.allows(DiskUsage(total=10 * 1024**3, free=1024**3 + 10), incoming=11)
