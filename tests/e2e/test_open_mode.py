"""Open mode, start to finish: create, join, two uploads, the real deadline, receipts, export."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from bot.i18n import t
from tests.e2e.conftest import Course, embed_field, pdf, receipt_sha, sha256

pytestmark = pytest.mark.e2e

LAB = "Lab 1"


def read_export(data: bytes) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        files = {name: archive.read(name) for name in archive.namelist()}
    rows = list(csv.DictReader(io.StringIO(files.pop("results.csv").decode("utf-8"))))
    return rows, files


async def test_open_mode_lifecycle_receipts_and_export(course: Course) -> None:
    ada, brage = course.students(["ada", "brage"])
    created = await course.run(
        course.staff, "assignment create", name=LAB, closes="+3s", reminders="off"
    )
    assert course.scalar("SELECT group_mode FROM assignments WHERE name = ?", LAB) == "open", (
        created.text
    )

    await course.run(ada, "group create", assignment=LAB, pin="2024")
    await course.run(brage, "group join", assignment=LAB, pin="2024")
    assert course.members_of(LAB, "2024") == {ada.id, brage.id}

    draft = pdf("draft", 3000)
    final = pdf("report", 5000)
    await course.upload(ada, LAB, draft)
    await course.upload(brage, LAB, final)
    uploads = course.db("SELECT user_id, filename, size, sha256 FROM uploads ORDER BY id")
    assert [tuple(u) for u in uploads] == [
        (ada.id, "draft.pdf", 3000, sha256(draft[1])),
        (brage.id, "report.pdf", 5000, sha256(final[1])),
    ]
    # Stored content-addressed, byte for byte.
    assert course.stored_files() == {sha256(draft[1]): draft[1], sha256(final[1]): final[1]}
    # Nothing is final before the deadline.
    assert course.final_submission(LAB, "2024") is None

    # The real scheduler closes the assignment at its deadline.
    await course.wait_for_receipts([ada, brage], timeout=15)
    finalized = course.final_submission(LAB, "2024")
    assert finalized is not None
    assert finalized["sha256"] == sha256(final[1])
    assert finalized["sub_late"] == 0
    for member in (ada, brage):
        receipts = course.receipts(member)
        assert len(receipts) == 1
        assert receipt_sha(receipts[0]) == sha256(final[1])
        assert embed_field(receipts[0], t("en", "receipt.file")) == "report.pdf"
    statuses = course.db("SELECT user_id, status FROM receipts ORDER BY user_id")
    assert sorted((r["user_id"], r["status"]) for r in statuses) == sorted(
        [(ada.id, "sent"), (brage.id, "sent")]
    )
    assert course.scalar("SELECT min(finalized_at) FROM groups") >= course.scalar(
        "SELECT closes_at FROM assignments"
    )

    export = await course.run(course.staff, "export", assignment=LAB)
    [archive] = export.message.attachments
    assert archive.filename.endswith(".zip")
    rows, files = read_export(archive.data)
    candidate = {
        r["user_id"]: str(r["number"]) for r in course.db("SELECT user_id, number FROM candidates")
    }
    assert len(rows) == 1
    row = rows[0]
    assert row["group_pin"] == "2024"
    assert row["status"] == "submitted"
    assert row["sha256"] == sha256(final[1])
    assert row["size_bytes"] == "5000"
    assert row["late"] == "no"
    assert row["uploaded_by"] == candidate[brage.id]
    assert set(row["candidate_numbers"].split(";")) == {candidate[ada.id], candidate[brage.id]}
    assert row["final_file"] == "2024/report.pdf"
    assert files == {"2024/report.pdf": final[1]}
    assert sha256(files[row["final_file"]]) == row["sha256"]
    # The same ZIP is kept on the host.
    [on_host] = list((course.data_dir / "exports").glob("*.zip"))
    assert on_host.read_bytes() == archive.data
