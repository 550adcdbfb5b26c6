"""Who hands in, through the real client (SPEC §5b): staff hand in on a group's behalf (after
the group was finalized, with corrected receipts saying why), and refusals that keep nothing
(a student's attempt: tests/security/test_staff_commands.py walks every staff command)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from bot.i18n import t
from tests.e2e.conftest import Course, embed_field, pdf, sha256

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
