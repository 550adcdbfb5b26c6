"""Feedback and purge through the real client (SPEC §7, §9): an import refused then corrected,
the release DMs every member once (one with closed DMs shown to staff), `/feedback show` for a
member and refused for another group's student, and a purge after the export."""

from __future__ import annotations

import io
import zipfile

import pytest

from bot.i18n import t
from sandbox import SandboxUser
from sandbox.models import SandboxMessage
from tests.e2e.conftest import Course, Reply, eventually, pdf

pytestmark = pytest.mark.e2e

LAB = "Lab 9"
TITLE = t("en", "feedback.title", name=LAB)


def feedback_dms(course: Course, user: SandboxUser) -> list[SandboxMessage]:
    return [m for m in course.sandbox.dms(user) if any(e.get("title") == TITLE for e in m.embeds)]


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def button(reply: Reply, label: str) -> str:
    ids = [
        c["custom_id"]
        for row in reply.message.components
        for c in row.get("components") or []
        if c.get("label") == label
    ]
    assert len(ids) == 1, reply.text
    return str(ids[0])


async def closed_course(course: Course) -> tuple[SandboxUser, SandboxUser, SandboxUser]:
    """Ada and Brage in 4242 (Brage does not accept DMs), Carl alone in 5555; closed."""
    ada, brage, carl = course.students(["ada", "brage", "carl"])
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="4242")
    await course.run(brage, "group join", assignment=LAB, pin="4242")
    await course.run(carl, "group create", assignment=LAB, pin="5555")
    await course.upload(ada, LAB, pdf("report"))
    await course.upload(carl, LAB, pdf("carl"))
    course.sandbox.close_dms(brage)
    await course.close(LAB)
    await course.wait_for_receipts([ada, carl])
    return ada, brage, carl


async def test_feedback_from_import_to_each_member(course: Course) -> None:
    ada, brage, carl = await closed_course(course)
    staff = course.staff

    wrong = await course.run(
        staff,
        "feedback import",
        assignment=LAB,
        files={"file": ("feedback.csv", b"4242,B,Good\n4343,C,typo\n", "text/csv")},
    )
    assert wrong.ephemeral and "4343" in wrong.text and "2" in wrong.text
    assert course.scalar("SELECT count(*) FROM feedback") == 0

    bundle = zipped({"4242/comments.pdf": b"%PDF comments for 4242"})
    imported = await course.run(
        staff,
        "feedback import",
        assignment=LAB,
        files={
            "file": ("feedback.csv", b"group_pin,grade,comment\n4242,B,Good work\n", "text/csv"),
            "files": ("feedback.zip", bundle, "application/zip"),
        },
    )
    assert imported.says("feedback.imported"), imported.text
    early = await course.run(ada, "feedback show", assignment=LAB)
    assert early.says("error.feedback_not_released"), early.text
    assert feedback_dms(course, ada) == []

    released = await course.run(staff, "feedback release", assignment=LAB)
    assert released.says("feedback.released"), released.text
    await eventually(lambda: len(feedback_dms(course, ada)) == 1, 15, "ada's feedback DM")
    await eventually(
        lambda: (
            course.scalar("SELECT count(*) FROM feedback_deliveries WHERE status = 'pending'") == 0
        ),
        15,
        "the feedback outbox to empty",
    )
    rows = course.db("SELECT user_id, status FROM feedback_deliveries ORDER BY user_id")
    assert sorted((r["user_id"], r["status"]) for r in rows) == sorted(
        [(ada.id, "sent"), (brage.id, "undeliverable")]
    )
    assert feedback_dms(course, carl) == []
    overview = await course.run(staff, "assignment overview", name=LAB)
    assert f"<@{brage.id}>" in overview.text and t("en", "dm.kind.feedback") in overview.text

    shown = await course.run(ada, "feedback show", assignment=LAB)
    assert shown.ephemeral and "Good work" in shown.text
    assert [(a.filename, a.data) for a in shown.message.attachments] == [
        ("comments.pdf", b"%PDF comments for 4242")
    ]
    other = await course.run(carl, "feedback show", assignment=LAB)
    assert other.says("error.feedback_none_for_group"), other.text
    assert "Good work" not in other.text
    # Still one DM each, whatever ran since.
    assert len(feedback_dms(course, ada)) == 1


async def test_a_purge_after_the_export(course: Course) -> None:
    ada, _brage, _carl = await closed_course(course)
    exported = await course.run(course.staff, "export", assignment=LAB)
    assert exported.message.attachments
    assert course.stored_files()
    prompt = await course.run(course.staff, "assignment purge", name=LAB)
    assert t("en", "confirm.purge_never_exported") not in prompt.text
    handle = await course.sandbox.click(
        course.staff, prompt.message, button(prompt, t("en", "confirm.purge_button"))
    )
    await handle.wait_done(timeout=15)
    await eventually(
        lambda: course.scalar("SELECT count(*) FROM assignment_purges") == 1, 15, "the purge"
    )
    assert course.scalar("SELECT count(*) FROM candidates") == 0
    assert course.scalar("SELECT count(*) FROM uploads") == 0
    assert course.stored_files() == {}
    listed = await course.run(course.staff, "assignment list")
    assert "purged at" in listed.text
    gone = await course.run(ada, "download", assignment=LAB)
    assert gone.ephemeral and not gone.message.attachments
