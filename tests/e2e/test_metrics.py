"""`/healthz` and `/metrics` scraped from the real bot while a course runs in the sandbox."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from bot.client import HandinBot
from storage.timefmt import to_db
from tests.e2e.conftest import Course, bot_config, eventually, pdf
from tests.modes import exposed

pytestmark = pytest.mark.e2e

LAB = "Lab 1"


@pytest_asyncio.fixture
async def metered(offline_course: Course) -> AsyncIterator[Course]:
    """The course with a bot that serves its metrics on a free port."""
    course = offline_course
    config = dataclasses.replace(bot_config(course.sandbox, course.data_dir), metrics_port=0)
    bot = HandinBot(config, guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(bot):
        course.bot = bot
        yield course
    assert exposed(course.data_dir) == []


def base_url(course: Course) -> str:
    assert course.bot is not None and course.bot.metrics_server is not None
    return f"http://127.0.0.1:{course.bot.metrics_server.port}"


async def healthz(course: Course) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url(course)}/healthz") as resp:
        return resp.status, await resp.json()


async def samples(course: Course) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url(course)}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_running_course_is_healthy_and_counted(metered: Course) -> None:
    course = metered
    ada = course.student("ada")
    status, body = await healthz(course)
    assert status == 200 and body["ok"], body
    assert body["checks"] == {"gateway": True, "database": True, "receipts": True}

    await course.run(course.staff, "assignment create", name=LAB, closes="+2s", reminders="off")
    refused = await course.upload(ada, LAB, pdf("no group yet"))
    assert refused.says("error.not_in_group"), refused.text
    await course.run(ada, "group create", assignment=LAB, pin="1000")
    stored = await course.upload(ada, LAB, pdf("report"))
    assert stored.says("upload.done"), stored.text

    found = await samples(course)
    assert value(found, "handin_uploads_stored_total") == 1
    assert value(found, "handin_refusals_total", command="upload", reason="error.not_in_group") == 1
    assert value(found, "handin_command_seconds_count", command="upload", outcome="ok") == 1
    assert value(found, "handin_command_seconds_count", command="upload", outcome="refused") == 1
    assert value(found, "handin_gateway_connected") == 1
    assert value(found, "handin_database_up") == 1
    assert not math.isnan(value(found, "handin_gateway_latency_seconds"))

    await course.wait_for_receipts([ada])
    await eventually(
        lambda: course.scalar("SELECT count(*) FROM receipts WHERE status = 'sent'") == 1,
        10,
        "the receipt marked sent",
    )
    found = await samples(course)
    assert value(found, "handin_receipts", status="sent") == 1
    assert value(found, "handin_receipts", status="pending") == 0
    assert value(found, "handin_finalization_lag_seconds") == 0


async def test_a_stuck_receipt_makes_the_bot_unhealthy(metered: Course) -> None:
    course = metered
    ada = course.student("ada")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2s", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="1000")
    await course.upload(ada, LAB, pdf("report"))
    await course.wait_for_receipts([ada])
    # As if delivery had stopped an hour ago with this receipt still to send.
    hour_ago = to_db(course.deadline(LAB) - timedelta(hours=1))
    tomorrow = to_db(course.deadline(LAB) + timedelta(days=1))
    course.db_write(
        "UPDATE receipts SET status = 'pending', created_at = ?, next_attempt_at = ?",
        hour_ago,
        tomorrow,
    )
    status, body = await healthz(course)
    assert status == 200, body  # a retry planned for later is not stuck
    course.db_write("UPDATE receipts SET next_attempt_at = ?", hour_ago)
    status, body = await healthz(course)
    assert status == 503 and body["checks"]["receipts"] is False, body
    assert body["stuck_receipts"] == 1
