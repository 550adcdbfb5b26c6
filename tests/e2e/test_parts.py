"""A hand-in in two parts through the real client (SPEC §6): uploads to each part, a wrong type
for a part refused, a missing part, receipts listing both parts with their hashes, the export's
layout and rows, and two groups that uploaded the same bytes flagged for staff only."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from sandbox import SandboxMessage
from tests.e2e.conftest import Course, embed_field, pdf, sha256

pytestmark = pytest.mark.e2e

LAB = "Lab 5"


def read_export(data: bytes) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        files = {name: archive.read(name) for name in archive.namelist()}
    rows = list(csv.DictReader(io.StringIO(files.pop("results.csv").decode("utf-8"))))
    return rows, files


def receipt_hashes(message: SandboxMessage) -> str:
    value = embed_field(message, "SHA-256")
    assert value is not None
    return value


async def test_two_part_hand_in_from_upload_to_export(course: Course) -> None:
    ada, brage, cara = course.students(["ada", "brage", "cara"])
    created = await course.run(
        course.staff, "assignment create", name=LAB, closes="+2h", reminders="off",
        parts="report:pdf; code:zip,tar.gz",
    )  # fmt: skip
    assert created.says("assignment.created"), created.text
    await course.run(ada, "group create", assignment=LAB, pin="1000")
    await course.run(brage, "group join", assignment=LAB, pin="1000")
    await course.run(cara, "group create", assignment=LAB, pin="2000")

    choices = await course.sandbox.autocomplete(
        ada, "upload", {"assignment": LAB, "part": ""}, focused="part"
    )
    assert [c["value"] for c in choices] == ["report", "code"]

    report = pdf("our-report")
    code = ("code.tar.gz", b"\x1f\x8b code of group 1000", "application/gzip")
    done = await course.upload(ada, LAB, report, part="report")
    assert done.says("upload.done"), done.text
    before = course.snapshot(LAB)
    wrong = await course.upload(brage, LAB, pdf("not-code"), part="code")
    assert wrong.says("error.part_file_type"), wrong.text
    no_part = await course.upload(brage, LAB, code)
    assert no_part.says("error.part_required"), no_part.text
    assert course.snapshot(LAB) == before
    await course.upload(brage, LAB, code, part="code")
    # Group 2000 hands in the very same report bytes, and no code at all.
    copied = await course.upload(
        cara, LAB, ("mine.pdf", report[1], "application/pdf"), part="report"
    )
    assert copied.says("upload.done"), copied.text
    # Nothing tells a student that another group has the same file.
    assert "1000" not in copied.text

    status = await course.run(ada, "status", assignment=LAB)
    assert "`report`" in status.text and "`code`" in status.text, status.text

    # Closed by staff rather than by a near deadline: no step above races the clock.
    await course.close(LAB)
    await course.wait_for_receipts([ada, brage, cara])
    for member in (ada, brage):
        [receipt] = course.receipts(member)
        hashes = receipt_hashes(receipt)
        assert sha256(report[1]) in hashes and sha256(code[1]) in hashes
        assert embed_field(receipt, "Part `report`") is not None
        assert embed_field(receipt, "Part `code`") is not None
    [theirs] = course.receipts(cara)
    assert sha256(report[1]) in receipt_hashes(theirs)
    missing = embed_field(theirs, "Part `code`")
    assert missing is not None and "Nothing handed in" in missing

    download = await course.run(brage, "download", assignment=LAB)
    assert {(f.filename, f.data) for f in download.message.attachments} == {
        ("report-our-report.pdf", report[1]),
        ("code-code.tar.gz", code[1]),
    }, download.text
    one = await course.run(cara, "download", assignment=LAB)
    assert one.says("download.part_missing"), one.text
    assert [f.data for f in one.message.attachments] == [report[1]]

    overview = await course.run(course.staff, "assignment overview", name=LAB)
    assert overview.says("overview.identical"), overview.text
    assert "`1000`, `2000`" in overview.text

    export = await course.run(course.staff, "export", assignment=LAB)
    [archive] = export.message.attachments
    rows, files = read_export(archive.data)
    assert files["1000/report/our-report.pdf"] == report[1]
    assert files["1000/code/code.tar.gz"] == code[1]
    assert files["2000/report/mine.pdf"] == report[1]
    assert not any(name.startswith("2000/code/") for name in files)
    got = [
        (r["group_pin"], r["part"], r["final_file"], r["sha256"], r["status"], r["same_file_as"])
        for r in rows
    ]
    assert got == [
        ("1000", "report", "1000/report/our-report.pdf", sha256(report[1]), "submitted", "2000"),
        ("1000", "code", "1000/code/code.tar.gz", sha256(code[1]), "submitted", ""),
        ("2000", "report", "2000/report/mine.pdf", sha256(report[1]), "submitted", "1000"),
        ("2000", "code", "", "", "no submission", ""),
    ]
