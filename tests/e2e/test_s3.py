"""A whole hand-in with the files in a bucket (SeaweedFS): upload, download, the deadline, the
receipts and the export, through the real client."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import obstore
import pytest
import pytest_asyncio

from bot.client import HandinBot
from tests.e2e.conftest import Course, bot_config, pdf, receipt_sha, sha256
from tests.e2e.test_open_mode import read_export
from tests.modes import exposed
from tests.s3 import SeaweedFS

pytestmark = pytest.mark.e2e

LAB = "Lab 1"


@pytest_asyncio.fixture
async def bucket_course(
    offline_course: Course, seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Course, str]]:
    """The course with a bot that keeps its files under a fresh prefix of the bucket; it finds
    the server through the AWS_* variables, as a deployment would."""
    for name, value in seaweedfs.environment.items():
        monkeypatch.setenv(name, value)
    course = offline_course
    url = seaweedfs.fresh_url()
    config = dataclasses.replace(bot_config(course.sandbox, course.data_dir), files_url=url)
    bot = HandinBot(config, guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(bot):
        course.bot = bot
        yield course, url
    assert exposed(course.data_dir) == []


async def test_a_hand_in_with_its_files_in_a_bucket(
    bucket_course: tuple[Course, str], seaweedfs: SeaweedFS
) -> None:
    course, url = bucket_course
    ada, brage = course.students(["ada", "brage"])
    await course.run(course.staff, "assignment create", name=LAB, closes="+4s", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="2024")
    await course.run(brage, "group join", assignment=LAB, pin="2024")
    report = pdf("report", 300_000)
    stored = await course.upload(ada, LAB, report)
    assert stored.says("upload.done"), stored.text

    # In the bucket under its hash, and nowhere in the data folder.
    digest = sha256(report[1])
    key = f"{digest[:2]}/{digest[2:]}"
    assert (
        bytes(await (await obstore.get_async(seaweedfs.store(url), key)).bytes_async()) == report[1]
    )
    assert [p for p in (course.data_dir / "files").rglob("*") if p.is_file()] == []

    download = await course.run(brage, "download", assignment=LAB)
    [attachment] = download.message.attachments
    assert attachment.filename == "report.pdf" and attachment.data == report[1]

    await course.wait_for_receipts([ada, brage], timeout=15)
    for member in (ada, brage):
        [receipt] = course.receipts(member)
        assert receipt_sha(receipt) == digest

    export = await course.run(course.staff, "export", assignment=LAB)
    [archive] = export.message.attachments
    rows, files = read_export(archive.data)
    [row] = rows
    assert (row["status"], row["sha256"], row["final_file"]) == (
        "submitted",
        digest,
        "2024/report.pdf",
    )
    assert files == {"2024/report.pdf": report[1]}


async def test_a_damaged_object_is_refused_on_download_with_a_clear_message(
    bucket_course: tuple[Course, str], seaweedfs: SeaweedFS
) -> None:
    course, url = bucket_course
    ada = course.student("ada")
    await course.run(course.staff, "assignment create", name=LAB, closes="+1h", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="2024")
    report = pdf("report")
    await course.upload(ada, LAB, report)
    digest = sha256(report[1])
    await obstore.put_async(seaweedfs.store(url), f"{digest[:2]}/{digest[2:]}", b"bit rot")
    before = course.snapshot(LAB)
    refused = await course.run(ada, "download", assignment=LAB)
    assert refused.says("error.file_unreadable"), refused.text
    assert refused.message.attachments == []
    assert course.snapshot(LAB) == before
