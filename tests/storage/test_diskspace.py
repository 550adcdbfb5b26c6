"""The free-space check on a real, tiny file system (a 2 MiB tmpfs): `statvfs` reports it, the
check refuses what would eat into the reserve, and a write the disk cannot hold leaves nothing.

Mounting needs root (CAP_SYS_ADMIN); where that is impossible the tests skip."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.errors import DiskLowError, DownloadFailedError
from bot.domain.quotas import FreeSpaceReserve
from bot.services.registry import Services, build_services
from storage.db import Database
from storage.diskspace import StatvfsFreeSpace
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, RecordingNotifier, incoming, make_assignment, student
from tests.snapshot import unchanged

KIB, MIB = 1024, 1024 * 1024
ALICE = student(1)


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
            check=True,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tiny tmpfs here: {exc}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=10)


@pytest.fixture
def tiny_files(tiny: Path) -> FileStore:
    store = FileStore(tiny / "files")
    store.prepare()
    return store


def services_on(
    db: Database, files: FileStore, clock: FakeClock, reserve: FreeSpaceReserve
) -> Services:
    # The database stays on the big disk: only the stored files live on the tiny one.
    return build_services(db, files, clock, RecordingNotifier(), reserve=reserve)


async def alone(services: Services) -> None:
    await make_assignment(services)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=services.clock.now())


def test_statvfs_reports_the_tiny_file_system(tiny: Path) -> None:
    usage = StatvfsFreeSpace(tiny).usage()
    assert usage.total == 2 * MIB
    assert 0 < usage.free <= usage.total


async def test_uploads_stop_at_the_reserve_of_a_real_small_disk(
    db: Database, tiny_files: FileStore, clock: FakeClock
) -> None:
    reserve = FreeSpaceReserve(min_free_bytes=MIB, min_free_fraction=0.0)
    services = services_on(db, tiny_files, clock, reserve)
    await alone(services)
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"a" * 600 * KIB), sent_at=clock.now()
    )
    async with unchanged(db, tiny_files):
        with pytest.raises(DiskLowError):
            await services.submissions.upload(
                GUILD, ALICE, "Lab 1", incoming(b"b" * 600 * KIB), sent_at=clock.now()
            )
    assert StatvfsFreeSpace(tiny_files.root).usage().free >= MIB


async def test_a_write_the_disk_cannot_hold_leaves_nothing(
    db: Database, tiny_files: FileStore, clock: FakeClock
) -> None:
    # No reserve, and a stream much larger than it said: only the file system can stop it.
    services = services_on(db, tiny_files, clock, FreeSpaceReserve(0, 0.0))
    await alone(services)
    lying = incoming(b"x" * 3 * MIB, declared=100)
    async with unchanged(db, tiny_files):
        with pytest.raises(DownloadFailedError):
            await services.submissions.upload(GUILD, ALICE, "Lab 1", lying, sent_at=clock.now())
    assert StatvfsFreeSpace(tiny_files.root).usage().free > 1.5 * MIB
