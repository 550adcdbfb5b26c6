"""Deadlines through the real client and scheduler: refusals after closing, a late delivery that
still counts, manual hand-in, and the late window."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta

import pytest

from bot.i18n import t
from tests.e2e.conftest import Course, embed_field, pdf, receipt_sha, sha256

pytestmark = pytest.mark.e2e

LAB = "Lab 3"


async def test_upload_after_the_deadline_is_refused(course: Course) -> None:
    ada, brage = course.students(["ada", "brage"])
    await course.run(course.staff, "assignment create", name=LAB, closes="+2s", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="1000")
    await course.run(brage, "group join", assignment=LAB, pin="1000")
    on_time = pdf("on-time")
    await course.upload(ada, LAB, on_time)
    closes_at = course.deadline(LAB)

    await course.wait_for_receipts([ada, brage])
    before = course.snapshot(LAB)
    assert course.recorded_final(LAB, "1000")["sha256"] == sha256(on_time[1])

    late = await course.upload(brage, LAB, pdf("too-late"))
    assert late.says("error.deadline_passed"), late.text
    leave = await course.run(brage, "group leave", assignment=LAB)
    assert leave.says("error.membership_locked"), leave.text
    assert course.snapshot(LAB) == before
    assert [len(course.receipts(u)) for u in (ada, brage)] == [1, 1]

    # What counts is when the student pressed enter: an upload sent before the deadline but
    # delivered after finalizing is accepted, and a corrected receipt replaces the first.
    delayed = pdf("sent-in-time")
    accepted = await course.upload(
        brage, LAB, delayed, created_at=closes_at - timedelta(milliseconds=300)
    )
    assert accepted.says("upload.done"), accepted.text
    await course.wait_for_receipts([ada, brage], count=2)
    final = course.recorded_final(LAB, "1000")
    assert final["sha256"] == sha256(delayed[1])
    assert final["revision"] == 2 and final["sub_late"] == 0
    for member in (ada, brage):
        first, second = course.receipts(member)
        assert receipt_sha(first) == sha256(on_time[1])
        assert receipt_sha(second) == sha256(delayed[1])
        assert second.embeds[0].get("description") == t("en", "receipt.replaces")


async def test_manual_handin_hands_in_the_handed_in_upload(course: Course) -> None:
    ada, brage = course.students(["ada", "brage"])
    await course.run(
        course.staff, "assignment create", name=LAB, closes="+2h", auto_submit=False,
        reminders="off",
    )  # fmt: skip
    await course.run(ada, "group create", assignment=LAB, pin="2000")
    await course.run(brage, "group join", assignment=LAB, pin="2000")

    nothing = await course.run(ada, "handin", assignment=LAB)
    assert nothing.says("error.nothing_to_hand_in")

    chosen = pdf("chosen")
    await course.upload(ada, LAB, chosen)
    handed = await course.run(brage, "handin", assignment=LAB)
    assert handed.says("handin.done"), handed.text
    afterthought = pdf("afterthought")
    reply = await course.upload(ada, LAB, afterthought)
    # Manual mode reminds the uploader that an upload is not a hand-in.
    assert reply.says("upload.remember_handin")
    [handin] = course.db(
        "SELECT h.user_id, u.sha256 FROM handins h JOIN uploads u ON u.id = h.upload_id"
    )
    assert tuple(handin) == (brage.id, sha256(chosen[1]))

    closed = await course.close(LAB)
    assert course.scalar("SELECT count(*) FROM submissions") == 1, closed.text
    await course.wait_for_receipts([ada, brage])
    final = course.recorded_final(LAB, "2000")
    assert final["sha256"] == sha256(chosen[1])
    assert final["handin_id"] is not None
    for member in (ada, brage):
        [receipt] = course.receipts(member)
        assert receipt_sha(receipt) == sha256(chosen[1])
    # The later upload was kept, just not handed in.
    assert sha256(afterthought[1]) in course.stored_files()


async def test_late_window_accepts_and_flags_a_late_upload(course: Course) -> None:
    ada, brage = course.students(["ada", "brage"])
    await course.run(
        course.staff, "assignment create", name=LAB, closes="+2s", late_until="+4s",
        reminders="off",
    )  # fmt: skip
    await course.run(ada, "group create", assignment=LAB, pin="3000")
    await course.run(brage, "group join", assignment=LAB, pin="3000")
    await course.upload(ada, LAB, pdf("on-time"))

    await course.wait_until(course.deadline(LAB))
    revised = pdf("revised")
    reply = await course.upload(brage, LAB, revised)
    assert reply.says("upload.late"), reply.text
    assert [r["late"] for r in course.db("SELECT late FROM uploads ORDER BY id")] == [0, 1]
    # Still inside the late window: nothing is final yet.
    assert course.receipts(ada) == [] and course.final_submission(LAB, "3000") is None

    await course.wait_for_receipts([ada, brage])
    assert course.scalar("SELECT min(finalized_at) FROM groups") >= course.scalar(
        "SELECT late_until FROM assignments"
    )
    final = course.recorded_final(LAB, "3000")
    assert final["sha256"] == sha256(revised[1]) and final["sub_late"] == 1
    for member in (ada, brage):
        [receipt] = course.receipts(member)
        assert receipt_sha(receipt) == sha256(revised[1])
        assert embed_field(receipt, t("en", "receipt.late")) == t("en", "yes")

    export = await course.run(course.staff, "export", assignment=LAB)
    [archive] = export.message.attachments
    with zipfile.ZipFile(io.BytesIO(archive.data)) as z:
        [row] = list(csv.DictReader(io.StringIO(z.read("results.csv").decode())))
        assert z.read(row["final_file"]) == revised[1]
    assert row["late"] == "yes"
    assert row["status"] == "submitted"
    assert row["sha256"] == sha256(revised[1])
