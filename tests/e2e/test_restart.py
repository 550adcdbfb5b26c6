"""A bot process killed with SIGKILL before a deadline and restarted after it: the final
submission is recorded at start-up and every member gets exactly one receipt."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox import EventKind, SandboxUser
from tests.e2e.conftest import Course, eventually, pdf, receipt_sha, says, sha256
from tests.waiting import quiet

pytestmark = pytest.mark.e2e

LAB = "Lab 5"


async def test_kill_9_before_the_deadline_then_restart_after_it(
    offline_course: Course, tmp_path: Path
) -> None:
    course = offline_course
    ada, brage = course.students(["ada", "brage"])
    process = course.bot_process(tmp_path)
    await process.start()
    await course.run(course.staff, "assignment create", name=LAB, closes="+4s", reminders="off")
    deadline = course.deadline(LAB)
    await course.run(ada, "group create", assignment=LAB, pin="5555")
    await course.run(brage, "group join", assignment=LAB, pin="5555")
    first = pdf("first")
    final = pdf("final")
    await course.upload(ada, LAB, first)
    await course.upload(brage, LAB, final)

    assert datetime.now(UTC) < deadline, "setup took longer than the deadline allows"
    assert await process.kill() == -signal.SIGKILL
    assert datetime.now(UTC) < deadline, "the kill came after the deadline"
    # Acknowledged means durable: both uploads survived the crash.
    assert [r["sha256"] for r in course.db("SELECT sha256 FROM uploads ORDER BY id")] == [
        sha256(first[1]),
        sha256(final[1]),
    ]
    assert course.stored_files()[sha256(final[1])] == final[1]

    await course.wait_until(deadline, margin=0.5)
    # Nobody was running at the deadline: nothing could have been recorded or sent.
    assert course.final_submission(LAB, "5555") is None
    assert course.receipts(ada) == [] and course.receipts(brage) == []

    process.expect_sync = False
    await process.start()
    await course.wait_for_receipts([ada, brage], timeout=20)
    recorded = course.final_submission(LAB, "5555")
    assert recorded is not None
    assert recorded["sha256"] == sha256(final[1])
    assert recorded["revision"] == 1 and recorded["sub_late"] == 0

    # Crash again after the receipts went out: a restart sends only what is still unsent.
    assert await process.kill() == -signal.SIGKILL
    await process.start()
    await course.run(ada, "status", assignment=LAB)  # the restarted bot is serving
    # The restart's delivery pass was woken in setup_hook, before the bot served /status; a
    # duplicate it sent would go out at the DM pacer's pace (well under a second apart). No
    # DM for a whole second: the pass has nothing more to send.
    resent = await quiet(course.sandbox.transcript, [EventKind.DM], quiet_for=1.0)
    assert [e for e in resent if e.user in (ada, brage)] == []
    for member in (ada, brage):
        [receipt] = course.receipts(member)
        assert receipt_sha(receipt) == sha256(final[1])
    rows = course.db("SELECT user_id, status FROM receipts")
    assert sorted((r["user_id"], r["status"]) for r in rows) == sorted(
        [(ada.id, "sent"), (brage.id, "sent")]
    )
    assert course.scalar("SELECT count(*) FROM submissions") == 1
    # The command definitions did not change, so the restarts did not sync them again.
    assert course.sandbox.sync_count == 1
    await process.terminate()


async def pairs_with_uploads(course: Course, lab: str, pairs: int) -> list[SandboxUser]:
    """`pairs` groups of two, each with one upload; everyone has had their upload notice."""
    students = course.students([f"s{n:02d}" for n in range(2 * pairs)])
    for n in range(pairs):
        first, second = students[2 * n], students[2 * n + 1]
        pin = f"{1000 + n}"
        await course.run(first, "group create", assignment=lab, pin=pin)
        await course.run(second, "group join", assignment=lab, pin=pin)
        await course.upload(first, lab, pdf(f"work-{n}"))
    seconds = students[1::2]
    await eventually(lambda: all(course.sandbox.dms(s) for s in seconds), 20, "every upload notice")
    return students


async def test_kill_9_in_the_receipt_burst_sends_every_receipt_exactly_once(
    offline_course: Course, tmp_path: Path
) -> None:
    course = offline_course
    process = course.bot_process(tmp_path)
    await process.start()
    await course.run(course.staff, "assignment create", name=LAB, closes="+1h", reminders="off")
    students = await pairs_with_uploads(course, LAB, 12)
    # Discord creates each DM at once but answers a moment later: the kill lands between a
    # receipt going out and the bot learning that it did.
    course.sandbox.set_dm_latency(0.25)
    await course.close(LAB)
    await eventually(
        lambda: sum(len(course.receipts(s)) for s in students) >= 8, 30, "the burst to start"
    )
    assert await process.kill() == -signal.SIGKILL
    sent_before = sum(len(course.receipts(s)) for s in students)
    assert sent_before < len(students), "the burst was over before the kill"

    course.sandbox.set_dm_latency(0)
    process.expect_sync = False
    await process.start()
    await course.wait_for_receipts(students, timeout=30)
    for student in students:
        assert len(course.receipts(student)) == 1, student.username
    # The receipt in flight at the kill went out again, and Discord kept it to one message.
    assert course.sandbox.nonce_hits >= 1
    assert course.scalar("SELECT count(*) FROM receipts WHERE status = 'sent'") == 24
    assert await process.terminate() == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_in_a_rush_stores_every_acknowledged_upload_and_exits_0(
    offline_course: Course, tmp_path: Path, signum: signal.Signals
) -> None:
    course = offline_course
    process = course.bot_process(tmp_path, log_level="INFO")
    await process.start()
    await course.run(course.staff, "assignment create", name=LAB, closes="+1h", reminders="off")
    students = course.students([f"r{n:02d}" for n in range(24)])
    for n, student in enumerate(students):
        await course.run(student, "group create", assignment=LAB, pin=f"{2000 + n}")
    files = {s.id: pdf(f"rush-{s.username}", 1024 * 1024) for s in students}
    handles = [
        await course.send(s, "upload", assignment=LAB, files={"file": files[s.id]})
        for s in students
    ]
    await eventually(
        lambda: sum(h.final is not None for h in handles) >= 3, 30, "the first answers"
    )
    started = time.monotonic()
    assert process.proc is not None
    process.proc.send_signal(signum)
    returncode = await asyncio.wait_for(process.proc.wait(), 40)
    await process.terminate()  # reads the rest of its output
    assert returncode == 0, process.output[-3000:]
    assert time.monotonic() - started < 30
    assert "Traceback" not in process.output, process.output

    stored = {r["user_id"]: r["sha256"] for r in course.db("SELECT user_id, sha256 FROM uploads")}
    files_on_disk = course.stored_files()
    acknowledged = 0
    for student, handle in zip(students, handles, strict=True):
        answer = handle.final
        if answer is not None and says(answer.content or "", "upload.done"):
            acknowledged += 1
            digest = sha256(files[student.id][1])
            assert stored.get(student.id) == digest, student.username
            assert files_on_disk[digest] == files[student.id][1]
        elif answer is not None:
            assert says(answer.content or "", "error.restarting"), answer.content
            assert student.id not in stored
    assert acknowledged >= 3
