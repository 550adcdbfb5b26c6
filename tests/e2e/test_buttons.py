"""Next steps as buttons (SPEC §2) through the real client: "Hand in this file" after an upload
when hand-ins are explicit, "Status" after /ready, and a confirmation before /assignment close
and reopen; buttons only for who may press them, and still working after a restart."""

from __future__ import annotations

import pytest

from bot.client import HandinBot
from bot.i18n import t
from sandbox import InteractionHandle, SandboxMessage, SandboxUser
from tests.e2e.conftest import REPLY_TIMEOUT, Course, bot_config, pdf, says
from tests.e2e.paging import button

pytestmark = pytest.mark.e2e

LAB = "Lab 4"


async def press(
    course: Course, user: SandboxUser, message: SandboxMessage, label: str
) -> tuple[InteractionHandle, SandboxMessage]:
    handle = await course.sandbox.click(user, message, str(button(message, label)["custom_id"]))
    return handle, await handle.wait_done(timeout=REPLY_TIMEOUT)


async def manual_group(course: Course, *users: SandboxUser) -> None:
    await course.run(
        course.staff,
        "assignment create",
        name=LAB,
        closes="+2h",
        mode="open",
        auto_submit=False,
        reminders="off",
    )
    await course.run(users[0], "group create", assignment=LAB, pin="2468")
    for user in users[1:]:
        await course.run(user, "group join", assignment=LAB, pin="2468")


def handins(course: Course) -> list[int]:
    return [int(r["upload_id"]) for r in course.db("SELECT upload_id FROM handins ORDER BY id")]


async def test_hand_in_this_file_hands_in_that_upload(course: Course) -> None:
    ada = course.student("ada")
    await manual_group(course, ada)
    uploaded = await course.upload(ada, LAB, pdf("draft"))
    assert says(uploaded.text, "upload.remember_handin")
    assert handins(course) == []

    _, reply = await press(course, ada, uploaded.message, t("en", "button.handin"))

    assert reply.ephemeral and says(reply.content, "handin.done"), reply.content
    [upload_id] = [int(r["id"]) for r in course.db("SELECT id FROM uploads")]
    assert handins(course) == [upload_id]


async def test_an_older_uploads_button_hands_in_nothing(course: Course) -> None:
    ada, brage = course.students(["ada", "brage"])
    await manual_group(course, ada, brage)
    first = await course.upload(ada, LAB, pdf("first"))
    await course.upload(brage, LAB, pdf("second"))
    before = course.snapshot(LAB)

    _, reply = await press(course, ada, first.message, t("en", "button.handin"))

    assert reply.ephemeral and says(reply.content, "error.newer_upload"), reply.content
    assert "second.pdf" in reply.content
    assert course.snapshot(LAB) == before


async def test_ready_with_a_group_offers_its_status(course: Course) -> None:
    ada = course.student("ada")
    await manual_group(course, ada)
    await course.upload(ada, LAB, pdf("report"))
    ready = await course.run(ada, "ready", assignment=LAB)

    _, reply = await press(course, ada, ready.message, t("en", "button.status"))

    assert reply.ephemeral
    assert "report.pdf" in "\n".join(str(e) for e in reply.embeds)


async def test_ready_without_a_group_offers_no_button(course: Course) -> None:
    ada = course.student("ada")
    await manual_group(course, course.student("brage"))
    ready = await course.run(ada, "ready", assignment=LAB)
    assert ready.message.components == []


async def test_close_asks_first_and_only_its_asker_may_confirm(course: Course) -> None:
    ada = course.student("ada")
    await manual_group(course, ada)
    prompt = await course.run(course.staff, "assignment close", name=LAB)
    assert says(prompt.text, "confirm.close_prompt")
    assert course.scalar("SELECT closed_at FROM assignments") is None
    other_ta = course.sandbox.add_member(course.guild, "ta_tuva", staff=True)
    before = course.snapshot(LAB)

    for intruder in (other_ta, ada):
        _, refusal = await press(course, intruder, prompt.message, t("en", "confirm.close_button"))
        assert refusal.ephemeral and says(refusal.content, "error.not_your_button")
    assert course.scalar("SELECT closed_at FROM assignments") is None
    assert course.snapshot(LAB) == before

    _, done = await press(course, course.staff, prompt.message, t("en", "confirm.close_button"))
    assert done is prompt.message
    assert says(done.content, "assignment.closed"), done.content
    assert done.components == []
    assert course.scalar("SELECT closed_at FROM assignments") is not None


async def test_cancel_changes_nothing(course: Course) -> None:
    await manual_group(course, course.student("ada"))
    prompt = await course.run(course.staff, "assignment close", name=LAB)
    before = course.snapshot(LAB)

    _, done = await press(course, course.staff, prompt.message, t("en", "confirm.cancel_button"))

    assert says(done.content, "confirm.cancelled") and done.components == []
    assert course.scalar("SELECT closed_at FROM assignments") is None
    assert course.snapshot(LAB) == before


async def test_reopen_asks_first_then_reopens_until_the_deadline_asked_for(
    course: Course,
) -> None:
    await manual_group(course, course.student("ada"))
    prompt = await course.run(course.staff, "assignment close", name=LAB)
    await press(course, course.staff, prompt.message, t("en", "confirm.close_button"))
    asked = await course.run(course.staff, "assignment reopen", name=LAB, closes="+3h")
    assert says(asked.text, "confirm.reopen_prompt")
    assert course.scalar("SELECT closed_at FROM assignments") is not None

    _, done = await press(course, course.staff, asked.message, t("en", "confirm.reopen_button"))

    assert says(done.content, "assignment.reopened"), done.content
    assert course.scalar("SELECT closed_at FROM assignments") is None


async def test_reopen_with_a_bad_deadline_is_refused_before_asking(course: Course) -> None:
    await manual_group(course, course.student("ada"))
    prompt = await course.run(course.staff, "assignment close", name=LAB)
    await press(course, course.staff, prompt.message, t("en", "confirm.close_button"))
    before = course.snapshot(LAB)
    refused = await course.run(course.staff, "assignment reopen", name=LAB, closes="soonish")
    assert says(refused.text, "error.time_format"), refused.text
    assert refused.message.components == []
    assert course.snapshot(LAB) == before


async def test_a_confirmation_still_works_after_a_restart(offline_course: Course) -> None:
    course = offline_course
    ada = course.student("ada")
    first = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(first):
        await manual_group(course, ada)
        prompt = await course.run(course.staff, "assignment close", name=LAB)
    second = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(second):
        _, done = await press(course, course.staff, prompt.message, t("en", "confirm.close_button"))
        assert says(done.content, "assignment.closed"), done.content
    assert course.scalar("SELECT closed_at FROM assignments") is not None
