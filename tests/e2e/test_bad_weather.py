"""Downloads in bad weather, through the real client: Discord's CDN fails, cuts, stalls, or serves
a body of the wrong length, and the student is told "not stored" or gets the exact bytes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable

import pytest
import pytest_asyncio

from bot.client import HandinBot
from bot.services.downloads import DownloadPolicy
from sandbox import CdnFault, StoredFile
from tests.e2e.conftest import Course, bot_config, eventually, pdf, sha256

pytestmark = pytest.mark.e2e

LAB = "Lab 7"
# Production's policy but for the idle timeout, so a stalled download fails within the test.
IDLE = 1.5
POLICY = DownloadPolicy(idle_timeout=IDLE)


@pytest_asyncio.fixture
async def weather(offline_course: Course) -> AsyncIterator[Course]:
    course = offline_course
    bot = HandinBot(
        bot_config(course.sandbox, course.data_dir),
        guild_ready_timeout=0.05,
        download_policy=POLICY,
    )
    async with course.sandbox.run_bot(bot):
        course.bot = bot
        await course.run(course.staff, "assignment create", name=LAB, closes="+2h")
        yield course


async def solo(course: Course, name: str, pin: str) -> None:
    student = course.student(name)
    await course.run(student, "group create", assignment=LAB, pin=pin)


def faulty(course: Course, label: str, faults: Iterable[CdnFault]) -> tuple[bytes, StoredFile]:
    spec = pdf(label, 200_000)
    stored = course.sandbox.attachment(course.guild.default_channel, spec, faults=faults)
    return spec[1], stored


@pytest.mark.parametrize(
    "faults",
    [
        [CdnFault.SERVER_ERROR, CdnFault.SERVER_ERROR],
        [CdnFault.CUT],
        [CdnFault.CUT, CdnFault.SERVER_ERROR],
    ],
)
async def test_passing_cdn_faults_are_retried_and_the_exact_bytes_stored(
    weather: Course, faults: list[CdnFault]
) -> None:
    await solo(weather, "ada", "1111")
    ada = weather.sandbox.user("ada")
    data, attachment = faulty(weather, "report", faults)

    reply = await weather.upload(ada, LAB, attachment)

    assert reply.says("upload.done"), reply.text
    assert attachment.downloads == len(faults) + 1
    [row] = weather.db("SELECT size, sha256 FROM uploads")
    assert (row["size"], row["sha256"]) == (len(data), sha256(data))
    assert weather.stored_files() == {sha256(data): data}


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(
            [CdnFault.SERVER_ERROR, CdnFault.SERVER_ERROR, CdnFault.SERVER_ERROR], id="three-5xx"
        ),
        pytest.param([CdnFault.CUT, CdnFault.CUT, CdnFault.CUT], id="three-cuts"),
        pytest.param([CdnFault.SHORT], id="short-body"),
        pytest.param([CdnFault.LONG], id="body-longer-than-declared"),
        pytest.param([CdnFault.STALL], id="stalled-half-way"),
    ],
)
async def test_a_failed_download_is_not_stored_and_says_upload_again(
    weather: Course, faults: list[CdnFault]
) -> None:
    await solo(weather, "ada", "1111")
    ada = weather.sandbox.user("ada")
    await weather.upload(ada, LAB, pdf("earlier"))
    before = weather.snapshot(LAB)
    _, attachment = faulty(weather, "report", faults)

    reply = await weather.upload(ada, LAB, attachment)

    assert reply.says("error.download_failed"), reply.text
    assert not reply.says("upload.done")
    assert weather.snapshot(LAB) == before
    # Not even a temp file is left behind.
    tmp = weather.data_dir / "files" / "tmp"
    assert list(tmp.iterdir()) == []


async def test_a_stalled_download_holds_up_nobody_else(weather: Course) -> None:
    await solo(weather, "ada", "1111")
    await solo(weather, "brage", "2222")
    ada, brage = weather.sandbox.user("ada"), weather.sandbox.user("brage")
    _, stalled = faulty(weather, "stalled", [CdnFault.STALL])

    started = time.monotonic()
    waiting = asyncio.ensure_future(weather.upload(ada, LAB, stalled))
    await eventually(lambda: stalled.downloads == 1, 10, "ada's download to start")
    other = await weather.upload(brage, LAB, pdf("quick"))
    assert other.says("upload.done"), other.text
    assert not waiting.done(), "ada's stalled download was answered before brage's"

    refused = await waiting
    assert refused.says("error.download_failed"), refused.text
    # Given up after the idle timeout, not after the stall ended (two minutes).
    assert time.monotonic() - started < IDLE + 10
    assert [r["user_id"] for r in weather.db("SELECT user_id FROM uploads")] == [brage.id]
