"""Reaching people: closed DMs fall back to ephemeral replies and show up for staff; users with
a Norwegian client get Norwegian replies."""

from __future__ import annotations

import discord
import pytest

from bot.client import NOTICES_STOP_SECONDS, HandinBot
from bot.i18n import catalog, t
from sandbox import SandboxUser
from tests.e2e.conftest import (
    Course,
    bot_config,
    embed_field,
    eventually,
    is_receipt,
    pdf,
    says,
)

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
    await course.close(LAB)

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


async def test_dms_speak_the_language_of_each_members_latest_interaction(course: Course) -> None:
    ola = course.student("ola", locale="no")
    ada = course.student("ada")
    kari = course.student("kari", locale="no")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="3131")
    await course.run(ola, "group join", assignment=LAB, pin="3131")
    await course.run(kari, "group join", assignment=LAB, pin="3131")
    # Kari's client is English now: her latest interaction decides.
    await course.run(kari, "status", assignment=LAB, locale="en-US")
    await course.upload(ada, LAB, pdf("report"))
    await course.close(LAB)
    await course.wait_for_receipts([ada, ola, kari])

    def intro(user: SandboxUser) -> str:
        [receipt] = course.receipts(user)
        return receipt.content or ""

    assert intro(ola) == t("no", "receipt.intro")
    assert intro(ada) == t("en", "receipt.intro")
    assert intro(kari) == t("en", "receipt.intro")
    [notice] = [m for m in course.sandbox.dms(ola) if not is_receipt(m)]
    assert says(notice.content or "", "notice.upload", "no")


async def test_queued_notices_are_kept_across_a_clean_stop(offline_course: Course) -> None:
    course = offline_course
    ada, brage, cato, dag = course.students(["ada", "brage", "cato", "dag"])
    first = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(first):
        course.bot = first
        await course.run(course.staff, "assignment create", name=LAB, closes="+2h", reminders="off")
        await course.run(ada, "group create", assignment=LAB, pin="5151")
        await course.run(brage, "group join", assignment=LAB, pin="5151")
        await course.run(cato, "group join", assignment=LAB, pin="5151")
        await course.run(dag, "group join", assignment=LAB, pin="5151")
        # Discord is slow to answer DMs: in the stop's time the first notice goes out, the
        # second is on its way, the third is still queued and is kept.
        course.sandbox.set_dm_latency(NOTICES_STOP_SECONDS * 0.6)
        await course.upload(ada, LAB, pdf("report"))
    assert course.scalar("SELECT count(*) FROM pending_notices") == 1
    course.sandbox.set_dm_latency(0)

    second = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(second):
        await eventually(
            lambda: all(len(course.sandbox.dms(u)) == 1 for u in (brage, cato, dag)),
            10,
            "a notice each",
        )
        assert course.scalar("SELECT count(*) FROM pending_notices") == 0
    # The uploader is not told about their own upload.
    assert not any(says(m.content or "", "notice.upload") for m in course.sandbox.dms(ada))


def test_the_bot_pings_nobody_unless_asked(offline_course: Course) -> None:
    bot = HandinBot(bot_config(offline_course.sandbox, offline_course.data_dir))
    mentions = bot.allowed_mentions
    assert mentions is not None
    assert mentions.to_dict() == discord.AllowedMentions.none().to_dict()
