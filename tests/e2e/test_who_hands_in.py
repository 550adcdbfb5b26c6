"""Who hands in, through the real client (SPEC §5b): staff hand in on a group's behalf (after
the group was finalized, with corrected receipts saying why), and refusals that keep nothing
(a student's attempt: tests/security/test_staff_commands.py walks every staff command); and
every member's agreement, by /handin or the Agree button under the upload notice (also after
a restart), with the race of two members agreeing while a third uploads."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile

import pytest

from bot.client import HandinBot
from bot.i18n import t
from sandbox import SandboxMessage, SandboxUser
from tests.e2e.conftest import (
    REPLY_TIMEOUT,
    Course,
    bot_config,
    embed_field,
    eventually,
    message_text,
    pdf,
    says,
    sha256,
)
from tests.e2e.paging import button
from tests.e2e.test_buttons import press

pytestmark = pytest.mark.e2e

LAB = "Lab 7"
REASON = "Her upload failed on the train; she mailed the file to the TA"


async def test_staff_hand_in_after_the_deadline_corrects_every_members_receipt(
    course: Course,
) -> None:
    ada, brage = course.students(["ada", "brage"])
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="1000")
    await course.run(brage, "group join", assignment=LAB, pin="1000")
    wrong = pdf("wrong-version")
    await course.upload(ada, LAB, wrong)
    await course.close(LAB)
    await course.wait_for_receipts([ada, brage])

    mailed = pdf("mailed-to-ta")
    done = await course.run(
        course.staff, "groups handin", assignment=LAB, pin="1000", reason=REASON,
        files={"file": mailed},
    )  # fmt: skip
    assert done.says("groups.handed_in"), done.text

    for member in (ada, brage):
        await course.wait_for_receipts([member], count=2)
        first, corrected = course.receipts(member)
        assert embed_field(first, "SHA-256") == f"`{sha256(wrong[1])}`"
        assert embed_field(corrected, "SHA-256") == f"`{sha256(mailed[1])}`"
        assert embed_field(corrected, t("en", "receipt.by_staff")) == REASON

    overview = await course.run(course.staff, "assignment overview", name=LAB)
    assert "handed in by staff" in overview.text and REASON in overview.text, overview.text
    export = await course.run(course.staff, "export", assignment=LAB)
    [archive] = export.message.attachments
    with zipfile.ZipFile(io.BytesIO(archive.data)) as opened:
        [row] = csv.DictReader(io.StringIO(opened.read("results.csv").decode("utf-8")))
    assert (row["uploaded_by"], row["handed_in_by"], row["status"], row["late"]) == (
        "staff", "staff", "submitted", "no",
    )  # fmt: skip


async def test_staff_hand_in_refusals_keep_nothing(course: Course) -> None:
    ada = course.student("ada")
    await course.run(
        course.staff, "assignment create", name=LAB, closes="+2h", reminders="off",
        file_types="pdf",
    )  # fmt: skip
    await course.run(ada, "group create", assignment=LAB, pin="1000")
    before = course.snapshot(LAB)
    unknown = await course.run(
        course.staff, "groups handin", assignment=LAB, pin="9999", reason="x",
        files={"file": pdf("a")},
    )  # fmt: skip
    assert unknown.says("error.group_not_found"), unknown.text
    wrong_type = await course.run(
        course.staff, "groups handin", assignment=LAB, pin="1000", reason="x",
        files={"file": ("notes.docx", b"docx", "application/msword")},
    )  # fmt: skip
    assert wrong_type.says("error.file_type"), wrong_type.text
    assert course.snapshot(LAB) == before


# --- every member agrees ---------------------------------------------------------------------
AGREE_LAB = "Lab 8"


async def agreeing_group(course: Course, *users: SandboxUser) -> None:
    created = await course.run(
        course.staff, "assignment create", name=AGREE_LAB, closes="+2h", reminders="off",
        all_must_confirm=True,
    )  # fmt: skip
    assert created.says("assignment.created"), created.text
    await course.run(users[0], "group create", assignment=AGREE_LAB, pin="3000")
    for user in users[1:]:
        await course.run(user, "group join", assignment=AGREE_LAB, pin="3000")


async def notice_to(course: Course, user: SandboxUser) -> SandboxMessage:
    """The latest upload notice DM'd to `user` (it carries the Agree button)."""
    label = t("en", "button.agree")

    def found() -> SandboxMessage | None:
        with_button = [
            m
            for m in course.sandbox.dms(user)
            for row in m.components
            for c in row.get("components") or []
            if c.get("label") == label
        ]
        return with_button[-1] if with_button else None

    await eventually(lambda: found() is not None, 10.0, f"an upload notice to {user.username}")
    message = found()
    assert message is not None
    return message


async def test_every_member_agrees_by_handin_or_the_agree_button(course: Course) -> None:
    ada, brage, cara = course.students(["ada", "brage", "cara"])
    await agreeing_group(course, ada, brage, cara)
    await course.upload(ada, AGREE_LAB, pdf("final"))

    handed = await course.run(ada, "handin", assignment=AGREE_LAB)
    assert handed.says("handin.waiting_for"), handed.text
    status = await course.run(brage, "status", assignment=AGREE_LAB)
    assert status.says("status.waiting_for"), status.text

    notice = await notice_to(course, brage)
    assert says(message_text(notice), "notice.upload"), message_text(notice)
    _, pressed = await press(course, brage, notice, t("en", "button.agree"))
    assert says(pressed.content, "handin.waiting_for"), pressed.content
    last = await course.run(cara, "handin", assignment=AGREE_LAB)
    assert last.says("handin.all_agreed"), last.text

    await course.close(AGREE_LAB)
    await course.wait_for_receipts([ada, brage, cara])


async def test_a_group_not_fully_agreed_has_no_submission_and_staff_see_who_is_missing(
    course: Course,
) -> None:
    ada, brage = course.students(["ada", "brage"])
    await agreeing_group(course, ada, brage)
    await course.upload(ada, AGREE_LAB, pdf("final"))
    await course.run(ada, "handin", assignment=AGREE_LAB)
    await course.close(AGREE_LAB)
    await course.wait_receipts_settled()
    assert course.receipts(ada) == [] and course.receipts(brage) == []
    overview = await course.run(course.staff, "assignment overview", name=AGREE_LAB)
    number = course.scalar("SELECT number FROM candidates WHERE user_id = ?", brage.id)
    assert f"waiting for {number}" in overview.text, overview.text


async def test_the_agree_button_still_works_after_a_restart(offline_course: Course) -> None:
    course = offline_course
    ada, brage = course.students(["ada", "brage"])
    first = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(first):
        await agreeing_group(course, ada, brage)
        await course.upload(ada, AGREE_LAB, pdf("final"))
        notice = await notice_to(course, brage)
    second = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(second):
        _, pressed = await press(course, brage, notice, t("en", "button.agree"))
        assert says(pressed.content, "handin.waiting_for"), pressed.content
    assert course.scalar("SELECT count(*) FROM confirmations") == 1


async def test_two_members_agreeing_while_a_third_uploads_through_the_client(
    course: Course,
) -> None:
    ada, brage, cara = course.students(["ada", "brage", "cara"])
    await agreeing_group(course, ada, brage, cara)
    await course.upload(ada, AGREE_LAB, pdf("v1"))
    [old] = [int(r["id"]) for r in course.db("SELECT id FROM uploads")]
    notices = [await notice_to(course, user) for user in (brage, cara)]
    label = t("en", "button.agree")
    clicks = [
        course.sandbox.click(user, notice, str(button(notice, label)["custom_id"]))
        for user, notice in zip((brage, cara), notices, strict=True)
    ]
    handles = await asyncio.gather(
        *clicks, course.send(ada, "upload", assignment=AGREE_LAB, files={"file": pdf("v2")})
    )
    for handle in handles:
        await handle.wait_done(timeout=REPLY_TIMEOUT)
    rows = course.db("SELECT upload_id FROM confirmations")
    assert {int(r["upload_id"]) for r in rows} <= {old}
    latest = course.scalar("SELECT max(id) FROM uploads")
    assert latest != old
    status = await course.run(ada, "status", assignment=AGREE_LAB)
    assert status.says("status.waiting_for"), status.text
