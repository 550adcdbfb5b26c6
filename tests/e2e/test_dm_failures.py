"""DM failures by kind, through the real client: a member who closed DMs is told apart from a
Discord that says "slow down" or fails for a moment, and each receipt arrives exactly once."""

from __future__ import annotations

import functools

import pytest

from bot.i18n import t
from sandbox import SandboxUser
from tests.e2e.conftest import Course, eventually, pdf

pytestmark = pytest.mark.e2e

LAB = "Lab 8"


async def handed_in_pair(course: Course) -> tuple[SandboxUser, SandboxUser]:
    """Ada and Brage in one group, Ada's upload in; Brage has had the upload notice."""
    ada, brage = course.students(["ada", "brage"])
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="4242")
    await course.run(brage, "group join", assignment=LAB, pin="4242")
    await course.upload(ada, LAB, pdf("report"))
    await eventually(lambda: len(course.sandbox.dms(brage)) == 1, 10, "brage's upload notice")
    return ada, brage


def tried(course: Course, user: SandboxUser, attempts: int) -> bool:
    """The receipt to `user` has been tried `attempts` times."""
    return receipt_row(course, user)["attempts"] == attempts


def receipt_row(course: Course, user: SandboxUser) -> dict[str, object]:
    [row] = course.db("SELECT * FROM receipts WHERE user_id = ?", user.id)
    return dict(row)


async def retry_now(course: Course, user: SandboxUser) -> None:
    """As if the backoff had passed: the receipt is due now, and the outbox is woken."""
    course.db_write(
        "UPDATE receipts SET next_attempt_at = NULL WHERE user_id = ? AND status = 'pending'",
        user.id,
    )
    assert course.bot is not None
    course.bot.scheduler.receipts_waiting()


async def overview_line(course: Course, user: SandboxUser) -> str:
    overview = await course.run(course.staff, "assignment overview", name=LAB)
    field = next(
        f
        for e in overview.embeds
        for f in e.get("fields", [])
        if f["name"].startswith(t("en", "overview.undelivered", count=1).split("(")[0])
    )
    [line] = [x for x in str(field["value"]).splitlines() if f"<@{user.id}>" in x]
    return line


async def test_closed_dms_are_undeliverable_at_once_and_staff_see_why(course: Course) -> None:
    ada, brage = await handed_in_pair(course)
    course.sandbox.fail_dms(brage, "50007")
    await course.close(LAB)
    await course.wait_for_receipts([ada])

    row = receipt_row(course, brage)
    assert (row["status"], row["last_error"], row["attempts"]) == (
        "undeliverable",
        "closed:50007",
        1,
    )
    assert t("en", "dm.reason.closed") in await overview_line(course, brage)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("40003", "transient:40003"),
        ("503", "transient:503"),
        ("429-cloudflare", "transient:429"),
    ],
)
async def test_a_passing_refusal_keeps_the_receipt_until_it_goes_through(
    course: Course, fault: str, reason: str
) -> None:
    ada, brage = await handed_in_pair(course)
    course.sandbox.fail_dms(brage, fault)
    await course.close(LAB)
    await course.wait_for_receipts([ada], timeout=15)
    await eventually(
        lambda: receipt_row(course, brage)["last_error"] == reason, 10, "the failed attempt"
    )
    row = receipt_row(course, brage)
    assert row["status"] == "pending" and row["next_attempt_at"] is not None
    assert course.receipts(brage) == []

    await retry_now(course, brage)
    await course.wait_for_receipts([brage])
    assert len(course.receipts(brage)) == 1
    assert receipt_row(course, brage)["status"] == "sent"


async def test_a_rate_limit_with_via_is_waited_out_by_the_client(course: Course) -> None:
    ada, brage = await handed_in_pair(course)
    course.sandbox.fail_dms(brage, "429")
    await course.close(LAB)
    await course.wait_for_receipts([ada, brage])
    assert len(course.receipts(brage)) == 1
    assert receipt_row(course, brage)["attempts"] == 1


async def test_another_refusal_is_tried_a_few_times_then_shown_to_staff(course: Course) -> None:
    ada, brage = await handed_in_pair(course)
    course.sandbox.fail_dms(brage, "50001", "50001", "50001", "50001")
    await course.close(LAB)
    await course.wait_for_receipts([ada])
    for attempt in (1, 2, 3):
        await eventually(functools.partial(tried, course, brage, attempt), 10, f"try {attempt}")
        assert receipt_row(course, brage)["status"] == "pending"
        await retry_now(course, brage)
    await eventually(
        lambda: receipt_row(course, brage)["status"] == "undeliverable", 10, "giving up"
    )
    assert receipt_row(course, brage)["attempts"] == 4
    assert course.receipts(brage) == []
    assert t("en", "dm.reason.refused", code="50001") in await overview_line(course, brage)
