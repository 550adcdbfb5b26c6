"""Quotas through the real discord.py client: each refusal is localized, says what to do next,
keeps nothing, and staff see a group near its quota in the overview."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import paths
from bot.domain.quotas import RATE_LIMIT, RATE_WINDOW
from bot.sandbox import SandboxUser
from tests.e2e.conftest import Course, pdf

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
