"""Reaching people: closed DMs fall back to ephemeral replies and show up for staff; users with
a Norwegian client get Norwegian replies."""

from __future__ import annotations

import pytest

from bot.i18n import catalog, t
from tests.e2e.conftest import Course, embed_field, pdf

pytestmark = pytest.mark.e2e

LAB = "Lab 4"


async def test_closed_dms_fall_back_to_the_reply_and_reach_the_overview(course: Course) -> None:
    eva, brage = course.students(["eva", "brage"])
    course.sandbox.close_dms(eva)
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", reminders="off")

    created = await course.run(eva, "group create", assignment=LAB)
    pin = course.group_pin(eva, LAB)
    assert pin is not None
    # The PIN could not go by DM, so it is in the (ephemeral) reply instead.
    assert created.says("group.created_no_dm"), created.text
    assert embed_field(created.message, t("en", "group.pin")) == f"`{pin}`"
    assert course.sandbox.dms(eva) == []

    await course.run(brage, "group join", assignment=LAB, pin=pin)
    await course.upload(eva, LAB, pdf("solo"))
    await course.run(course.staff, "assignment close", name=LAB)

    await course.wait_for_receipts([brage])  # and eva's attempt is recorded too
    statuses = {r["user_id"]: r["status"] for r in course.db("SELECT * FROM receipts")}
    assert statuses == {eva.id: "undeliverable", brage.id: "sent"}
    assert [tuple(r) for r in course.db("SELECT user_id, kind FROM undelivered_dms")] == [
        (eva.id, "receipt")
    ]

    overview = await course.run(course.staff, "assignment overview", name=LAB)
    undelivered = next(
        f
        for e in overview.embeds
        for f in e.get("fields", [])
        if f["name"] == t("en", "overview.undelivered", count=1)
    )
    assert f"<@{eva.id}>" in undelivered["value"]
    assert f"<@{brage.id}>" not in undelivered["value"]
    # A failed DM is never retried in a loop: one attempt for the receipt.
    eva_dm = course.sandbox.dm_channel(eva).id
    attempts = [
        e
        for e in course.sandbox.http_errors
        if e[0] == "POST" and e[1] == f"/channels/{eva_dm}/messages"
    ]
    assert len(attempts) == 2  # the group-created DM and the receipt (notices go only to others)


async def test_norwegian_user_gets_norwegian_replies(course: Course) -> None:
    key = "error.pin_format"
    if not catalog("no").get(key):
        pytest.skip(f"the Norwegian catalog has no {key!r} yet")
    ola = course.student("ola", locale="no")
    ada = course.student("ada")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", reminders="off")

    english = await course.run(ada, "group join", assignment=LAB, pin="12")
    norwegian = await course.run(ola, "group join", assignment=LAB, pin="12")
    assert english.says(key, "en")
    assert norwegian.says(key, "no")
    assert norwegian.text != english.text
    # The same user switching their client to English gets English.
    again = await course.run(ola, "group join", assignment=LAB, pin="12", locale="en-US")
    assert again.text == english.text
