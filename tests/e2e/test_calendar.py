"""The deadline in Discord's own calendar (SPEC §2) through the real client and the sandbox's
scheduled-event routes: made with the assignment, moved by edit, gone at close, back on reopen,
and without Manage Events staff are told once while everything else goes on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.i18n import t
from sandbox.events import end_of
from sandbox.models import MANAGE_EVENTS
from tests.e2e.conftest import REPLY_TIMEOUT, Course, says
from tests.e2e.paging import button

pytestmark = pytest.mark.e2e

LAB = "Lab 5"


def events(course: Course) -> list[dict[str, Any]]:
    return course.sandbox.scheduled_events(course.guild)


def start_of(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["scheduled_start_time"]))


async def test_creating_an_assignment_puts_its_deadline_in_the_calendar(course: Course) -> None:
    await course.run(course.staff, "assignment create", name=LAB, closes="+3h", reminders="off")
    [event] = events(course)
    deadline = course.deadline(LAB)
    assert event["name"] == t("en", "event.name", name=LAB)
    assert event["entity_type"] == 3  # external
    channel = course.guild.default_channel.name
    assert event["entity_metadata"]["location"] == t("en", "event.location", channel=f"#{channel}")
    assert end_of(event) == deadline
    assert start_of(event) == deadline - timedelta(hours=1)


async def test_a_deadline_sooner_than_an_hour_starts_the_event_in_a_minute(
    course: Course,
) -> None:
    await course.run(course.staff, "assignment create", name=LAB, closes="+20m", reminders="off")
    [event] = events(course)
    created = course.deadline(LAB, "created_at")
    assert timedelta(seconds=55) <= start_of(event) - created <= timedelta(seconds=70)


async def test_event_false_makes_none(course: Course) -> None:
    await course.run(
        course.staff, "assignment create", name=LAB, closes="+3h", reminders="off", event=False
    )
    assert events(course) == []
    await course.run(course.staff, "assignment edit", name=LAB, closes="+4h")
    assert events(course) == []


async def test_the_event_follows_edit_close_and_reopen(course: Course) -> None:
    await course.run(course.staff, "assignment create", name=LAB, closes="+3h", reminders="off")
    [first] = events(course)
    await course.run(course.staff, "assignment edit", name=LAB, closes="+5h")
    [moved] = events(course)
    assert moved["id"] == first["id"]
    assert end_of(moved) == course.deadline(LAB)

    closed = await course.close(LAB)
    assert says(closed.message.content, "assignment.closed")
    assert events(course) == []

    asked = await course.run(course.staff, "assignment reopen", name=LAB, closes="+2h")
    handle = await course.sandbox.click(
        course.staff,
        asked.message,
        str(button(asked.message, t("en", "confirm.reopen_button"))["custom_id"]),
    )
    await handle.wait_done(timeout=REPLY_TIMEOUT)
    [again] = events(course)
    assert end_of(again) == course.deadline(LAB)


async def test_without_manage_events_staff_are_told_once_and_the_rest_works(
    course: Course,
) -> None:
    course.sandbox.deny_bot(course.guild, MANAGE_EVENTS)
    first = await course.run(
        course.staff, "assignment create", name=LAB, closes="+3h", reminders="off"
    )
    assert says(first.message.content, "event.no_permission"), first.text
    assert says(first.text, "assignment.created")
    assert course.scalar("SELECT count(*) FROM assignments") == 1
    second = await course.run(
        course.staff, "assignment create", name="Lab 6", closes="+3h", reminders="off"
    )
    assert not says(second.message.content or "", "event.no_permission")
    assert says(second.text, "assignment.created")
    assert events(course) == []
    # Discord said 403 50013, as it does; the bot took it as an answer.
    assert any(e[2] == 403 and "scheduled-events" in e[1] for e in course.sandbox.http_errors)
