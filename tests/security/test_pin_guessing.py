"""PIN guessing is limited (SPEC §4): five failed joins within ten minutes lock that user's joins
for ten minutes from the fifth failure, even with the right PIN and password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.errors import GroupNotFoundError, WrongPasswordError
from bot.tree import render_error
from sandbox import SandboxUser
from storage.db import fetch_all
from tests.security.conftest import Course, reply_of

pytestmark = pytest.mark.e2e

LAB = "Lab 1"
PIN = "3141"
WRONG_PINS = ("1000", "2000", "3000", "4000", "5000")
LOCKOUT = timedelta(minutes=10)


async def members_of(course: Course, pin: str) -> list[int]:
    async with course.bot.services.db.reading() as conn:
        rows = await fetch_all(
            conn,
            "SELECT m.user_id FROM memberships m JOIN groups g ON g.id = m.group_id"
            " WHERE g.pin = ? ORDER BY m.user_id",
            (pin,),
        )
    return [row["user_id"] for row in rows]


async def join(
    course: Course, user: SandboxUser, at: datetime, pin: str = PIN, password: str | None = None
) -> tuple[str, datetime]:
    """`user` runs /group join at `at`; returns the reply and the interaction's time."""
    options: dict[str, Any] = {"assignment": LAB, "pin": pin}
    if password is not None:
        options["password"] = password
    handle = await course.run(user, "group join", created_at=at, **options)
    assert reply_of(handle).ephemeral
    return reply_of(handle).content, handle.created_at


def joined(reply: str) -> bool:
    return reply.startswith("You joined group")


async def test_five_wrong_pins_in_ten_minutes_lock_out_the_right_pin(course: Course) -> None:
    alice, mallory = course.student("alice"), course.student("mallory")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", mode="open")
    await course.run(alice, "group create", assignment=LAB, pin=PIN)
    start = datetime.now(UTC)
    fifth = start
    for minute, wrong in zip((0, 2, 4, 6, 8), WRONG_PINS, strict=True):
        reply, fifth = await join(course, mallory, start + timedelta(minutes=minute), wrong)
        assert reply == render_error("en", GroupNotFoundError(pin=wrong))
    until = fifth + LOCKOUT
    before = await course.snapshot()
    for at in (fifth + timedelta(seconds=1), until - timedelta(seconds=1)):
        reply, _ = await join(course, mallory, at)
        assert not joined(reply)
        # The reply says until when, as a Discord timestamp.
        assert f"<t:{int(until.timestamp())}:" in reply
    assert await course.snapshot() == before
    assert await members_of(course, PIN) == [alice.id]
    # Ten minutes after the fifth failure the right PIN works again.
    reply, _ = await join(course, mallory, until + timedelta(seconds=1))
    assert joined(reply)
    assert await members_of(course, PIN) == sorted([alice.id, mallory.id])


async def test_wrong_passwords_count_and_lock_out_the_right_password(course: Course) -> None:
    alice, mallory = course.student("alice"), course.student("mallory")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", mode="password")
    await course.run(alice, "group create", assignment=LAB, pin=PIN)
    async with course.bot.services.db.reading() as conn:
        (row,) = await fetch_all(conn, "SELECT password FROM groups WHERE pin = ?", (PIN,))
    password = row["password"]
    start = datetime.now(UTC)
    for second in range(5):
        reply, _ = await join(course, mallory, start + timedelta(seconds=second), PIN, "Wr0ng!x")
        assert reply == render_error("en", WrongPasswordError())
    reply, _ = await join(course, mallory, start + timedelta(minutes=5), PIN, password)
    assert not joined(reply) and "<t:" in reply
    assert await members_of(course, PIN) == [alice.id]


async def test_five_failures_spread_over_more_than_ten_minutes_do_not_lock(course: Course) -> None:
    alice, mallory = course.student("alice"), course.student("mallory")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", mode="open")
    await course.run(alice, "group create", assignment=LAB, pin=PIN)
    start = datetime.now(UTC)
    for minute, wrong in zip((0, 3, 6, 9, 11), WRONG_PINS, strict=True):
        await join(course, mallory, start + timedelta(minutes=minute), wrong)
    reply, _ = await join(course, mallory, start + timedelta(minutes=11, seconds=1))
    assert joined(reply)


async def test_malformed_pins_do_not_count_as_guesses(course: Course) -> None:
    alice, mallory = course.student("alice"), course.student("mallory")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", mode="open")
    await course.run(alice, "group create", assignment=LAB, pin=PIN)
    start = datetime.now(UTC)
    for second, malformed in enumerate(("12", "abcd", "12345", "31 41", "-314")):
        reply, _ = await join(course, mallory, start + timedelta(seconds=second), malformed)
        assert not joined(reply) and "<t:" not in reply
    reply, _ = await join(course, mallory, start + timedelta(seconds=6))
    assert joined(reply)


async def test_a_locked_out_student_cannot_probe_pins_with_group_create(course: Course) -> None:
    alice, mallory = course.student("alice"), course.student("mallory")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", mode="open")
    await course.run(alice, "group create", assignment=LAB, pin=PIN)
    start = datetime.now(UTC)
    for second, wrong in enumerate(WRONG_PINS):
        await join(course, mallory, start + timedelta(seconds=second), wrong)
    probe = await course.run(
        mallory, "group create", created_at=start + timedelta(seconds=6), assignment=LAB, pin=PIN
    )
    assert PIN not in reply_of(probe).content
