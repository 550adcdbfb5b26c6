"""Quotas and the disk check through the real discord.py client: each refusal is localized, says
what to do next, keeps nothing, and staff see it in the overview."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from bot import paths
from bot.client import HandinBot
from bot.domain.quotas import RATE_LIMIT, RATE_WINDOW
from sandbox import SandboxUser
from tests.e2e.conftest import Course, bot_config, pdf

pytestmark = pytest.mark.e2e

LAB = "Lab 8"


async def pair(course: Course, **options: Any) -> tuple[SandboxUser, SandboxUser]:
    """LAB with ada (English) and brage (Norwegian) in group 8888."""
    ada = course.student("ada")
    brage = course.student("brage", locale="no")
    created = await course.run(
        course.staff, "assignment create", name=LAB, closes="+1h", reminders="off", **options
    )
    assert "error" not in created.text.lower(), created.text
    await course.run(ada, "group create", assignment=LAB, pin="8888")
    await course.run(brage, "group join", assignment=LAB, pin="8888")
    return ada, brage


def temp_files(course: Course) -> list[str]:
    return [p.name for p in (paths.files_dir(course.data_dir) / "tmp").iterdir()]


async def test_the_upload_quota_refuses_in_each_language_and_keeps_nothing(course: Course) -> None:
    ada, brage = await pair(course, max_uploads=2)
    await course.upload(ada, LAB, pdf("one"))
    await course.upload(brage, LAB, pdf("two"))
    before = course.snapshot(LAB)

    english = await course.upload(ada, LAB, pdf("three"))
    norwegian = await course.upload(brage, LAB, pdf("three"))

    assert english.says("error.upload_quota") and "2" in english.text
    assert norwegian.says("error.upload_quota", "no")
    assert course.snapshot(LAB) == before and temp_files(course) == []
    # Staff see the group at its quota in the overview.
    overview = await course.run(course.staff, "assignment overview", name=LAB)
    assert overview.says("overview.near_quota"), overview.text
    assert "2/2" in overview.text


async def test_the_storage_quota_refuses_a_file_that_does_not_fit(course: Course) -> None:
    ada, brage = await pair(course, max_storage_mb=0.01)  # 10,485 bytes
    await course.upload(ada, LAB, pdf("first", 6000))
    before = course.snapshot(LAB)
    refused = await course.upload(brage, LAB, pdf("second", 6000))
    assert refused.says("error.storage_quota", "no"), refused.text
    assert course.snapshot(LAB) == before and temp_files(course) == []


async def test_a_member_past_the_upload_rate_is_told_when_to_try_again(course: Course) -> None:
    ada, brage = await pair(course)
    # All sent in the same second (Discord's own timestamps; a whole second, after the
    # assignment opened), arriving together.
    sent = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    handles = [
        await course.send(
            ada,
            "upload",
            files={"file": pdf(f"v{n}", 200)},
            created_at=sent,
            assignment=LAB,
        )
        for n in range(RATE_LIMIT)
    ]
    replies = await asyncio.gather(*(course.answer(h) for h in handles))
    assert all(r.says("upload.done") for r in replies), [r.text for r in replies]
    before = course.snapshot(LAB)

    refused = await course.upload(ada, LAB, pdf("one more", 200), created_at=sent)
    assert refused.says("error.upload_rate"), refused.text
    retry = int((sent + RATE_WINDOW).timestamp())
    assert re.search(rf"<t:{retry}:[FR]>", refused.text), refused.text
    assert course.snapshot(LAB) == before and temp_files(course) == []
    # The rate is per member: the rest of the group can still upload.
    other = await course.upload(brage, LAB, pdf("brage", 200), created_at=sent)
    assert other.says("upload.done", "no")
    # A minute after the first, one more fits again.
    later = await course.upload(
        ada, LAB, pdf("later", 200), created_at=sent + RATE_WINDOW + timedelta(seconds=1)
    )
    assert later.says("upload.done")


@pytest_asyncio.fixture
async def full_disk_course(offline_course: Course) -> AsyncIterator[Course]:
    """The bot told to keep 100% of its disk free: the real statvfs check refuses every upload."""
    course = offline_course
    config = dataclasses.replace(
        bot_config(course.sandbox, course.data_dir), min_free_percent=100.0
    )
    bot = HandinBot(config, guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(bot):
        course.bot = bot
        yield course


async def test_a_full_disk_refuses_uploads_and_tells_staff_once(
    full_disk_course: Course, caplog: pytest.LogCaptureFixture
) -> None:
    course = full_disk_course
    ada, brage = await pair(course)
    before = course.snapshot(LAB)
    with caplog.at_level(logging.WARNING, logger="bot.services.diskspace"):
        english = await course.upload(ada, LAB, pdf("one"))
        norwegian = await course.upload(brage, LAB, pdf("two"))
    assert english.says("error.disk_low") and norwegian.says("error.disk_low", "no")
    assert course.snapshot(LAB) == before and temp_files(course) == []
    alarms = [r for r in caplog.records if r.name == "bot.services.diskspace"]
    assert len(alarms) == 1, [r.getMessage() for r in alarms]
    overview = await course.run(course.staff, "assignment overview", name=LAB)
    assert overview.says("overview.disk_low"), overview.text
