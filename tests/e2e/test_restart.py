"""A bot process killed with SIGKILL before a deadline and restarted after it: the final
submission is recorded at start-up and every member gets exactly one receipt."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import Course, pdf, receipt_sha, sha256

pytestmark = pytest.mark.e2e

LAB = "Lab 5"


async def test_kill_9_before_the_deadline_then_restart_after_it(
    offline_course: Course, tmp_path: Path
) -> None:
    course = offline_course
    ada, brage = course.students(["ada", "brage"])
    process = course.sandbox.bot_process(
        [sys.executable, "-m", "bot"],
        data_dir=course.data_dir,
        env={"HANDIN_LOG_LEVEL": "WARNING"},
        # Not the project root: a developer's .env there must not leak into the test.
        cwd=tmp_path,
        expect_sync=True,
    )
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
    await asyncio.sleep(0.5)
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
