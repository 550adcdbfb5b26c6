"""The host: after a whole course, nothing under the data folder is open to other accounts,
whatever the bot process's umask."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot import paths
from bot.client import HandinBot
from tests.e2e.conftest import Course, bot_config, eventually, pdf
from tests.modes import exposed, mode, umask

pytestmark = pytest.mark.e2e

LAB = "Lab 7"


@pytest_asyncio.fixture
async def open_umask_course(offline_course: Course) -> AsyncIterator[Course]:
    """The course with the bot started under umask 0 (every file would be world-writable)."""
    course = offline_course
    with umask(0):
        bot = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
        async with course.sandbox.run_bot(bot):
            course.bot = bot
            yield course


async def test_every_file_the_bot_writes_is_owner_only(open_umask_course: Course) -> None:
    course = open_umask_course
    ada, brage = course.students(["ada", "brage"])
    await course.run(course.staff, "assignment create", name=LAB, closes="+2s", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="7777")
    await course.run(brage, "group join", assignment=LAB, pin="7777")
    await course.upload(ada, LAB, pdf("draft"))
    await course.upload(brage, LAB, pdf("final"))
    await course.wait_for_receipts([ada, brage], timeout=15)
    await course.run(course.staff, "export", assignment=LAB)

    data = course.data_dir
    db = paths.database_path(data)
    written = [
        db,
        db.with_name(db.name + "-wal"),
        db.with_name(db.name + "-shm"),
        paths.files_dir(data) / "tmp",
        *paths.exports_dir(data).glob("*.zip"),
    ]
    # The scenario reached every kind of file the bot writes: the walk below means something.
    assert all(p.exists() for p in written) and len(written) == 5
    assert len(course.stored_files()) == 2
    assert exposed(data) == [], "readable by other accounts"
    assert mode(data) == 0o700 and mode(db) == 0o600


async def test_start_up_makes_an_open_data_folder_owner_only_and_logs_it(
    offline_course: Course, tmp_path: Path
) -> None:
    course = offline_course
    course.data_dir.mkdir(mode=0o755)
    course.data_dir.chmod(0o755)
    process = course.bot_process(tmp_path)
    await process.start()
    try:
        ada = course.student("ada")
        await course.run(course.staff, "assignment create", name=LAB, closes="+1h")
        await course.run(ada, "group create", assignment=LAB, pin="7777")
        await course.upload(ada, LAB, pdf("draft"))
        assert mode(course.data_dir) == 0o700
        await eventually(
            lambda: f"data folder {course.data_dir} was open" in process.output,
            5,
            "the start-up log line about the data folder",
        )
        assert exposed(course.data_dir) == []
    finally:
        await process.stop()
