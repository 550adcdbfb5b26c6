"""Two bot processes (shards 0 and 1 of 2) over one PostgreSQL, a course server on each shard:
the process of one server is killed with SIGKILL before its deadline, and the other process
finalizes that deadline on time and sends its receipts, each exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from sandbox import BotProcess, Sandbox, SandboxUser
from storage.timefmt import from_db
from tests import backends
from tests.e2e.conftest import Course, eventually, is_receipt, pdf, receipt_sha, sha256

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql_only]

LAB = "Lab 1"
# Long enough for both processes to start and both courses to be set up before the kill.
LEAD = 35


@pytest_asyncio.fixture
async def database_url() -> AsyncIterator[str]:
    cluster = backends.cluster()
    name = await asyncio.to_thread(cluster.create_database)
    try:
        yield cluster.url(name)
    finally:
        await asyncio.to_thread(cluster.drop_database, name)


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())


def shard_process(
    sandbox: Sandbox, url: str, data_dir: Path, cwd: Path, shards: str | None
) -> BotProcess:
    env = {"HANDIN_DATABASE_URL": url, "HANDIN_LOG_LEVEL": "INFO"}
    if shards is not None:
        env |= {"HANDIN_SHARDS": shards, "HANDIN_SHARD_COUNT": "2"}
    return sandbox.bot_process(
        [sys.executable, "-m", "bot"], data_dir=data_dir, env=env, cwd=cwd, expect_sync=False
    )


async def sync_commands(sandbox: Sandbox, url: str, data_dir: Path, cwd: Path) -> None:
    """The deploy step: `python -m bot sync`, once, before the shards start."""
    env = dict(os.environ) | sandbox.env(data_dir) | {"HANDIN_DATABASE_URL": url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "sync",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, output.decode()


async def set_up(course: Course, url: str, pin: str, names: list[str]) -> list[SandboxUser]:
    """An assignment closing in LEAD seconds and a group with an upload of each member."""
    await course.run(
        course.staff, "assignment create", name=LAB, closes=f"+{LEAD}s", reminders="off"
    )
    members = course.students(names)
    await course.run(members[0], "group create", assignment=LAB, pin=pin)
    for member in members[1:]:
        await course.run(member, "group join", assignment=LAB, pin=pin)
    for member in members:
        await course.upload(member, LAB, pdf(f"{pin} by {member.username}"))
    return members


def deadline_of(url: str, guild_id: int) -> datetime:
    [(closes,)] = query(
        url, "SELECT closes_at FROM assignments WHERE guild_id = %s AND name = %s", guild_id, LAB
    )
    return from_db(closes)


def receipts_of(course: Course, user: SandboxUser) -> list[Any]:
    return [m for m in course.sandbox.dms(user) if is_receipt(m)]


async def test_the_other_process_finalizes_a_killed_shards_deadline_and_sends_its_receipts_once(
    sandbox: Sandbox, tmp_path: Path, database_url: str
) -> None:
    url = database_url
    data_dir = tmp_path / "data"  # shared: one file store for both processes
    guild_a = sandbox.add_guild("Algorithms (shard 0)", shard=(0, 2))
    guild_b = sandbox.add_guild("Databases (shard 1)", shard=(1, 2))
    course_a = Course(sandbox, guild_a, sandbox.add_member(guild_a, "ta_a", staff=True), data_dir)
    course_b = Course(sandbox, guild_b, sandbox.add_member(guild_b, "ta_b", staff=True), data_dir)

    await sync_commands(sandbox, url, data_dir, tmp_path)
    assert sandbox.sync_count == 1
    zero = shard_process(sandbox, url, data_dir, tmp_path, "0")
    one = shard_process(sandbox, url, data_dir, tmp_path, "1")
    try:
        await zero.start()
        members_a = await set_up(course_a, url, "1111", ["ada", "alf"])
        await one.start()
        members_b = await set_up(course_b, url, "2222", ["bea", "bo"])
        deadline = deadline_of(url, guild_a.id)
        last_deadline = deadline_of(url, guild_b.id)
        assert datetime.now(UTC) < deadline - timedelta(seconds=2), "setup took too long"

        # Shard 0's process dies: nothing of it runs any more.
        assert await zero.kill() == -signal.SIGKILL
        assert query(url, "SELECT count(*) FROM submissions") == [(0,)]

        everyone = members_a + members_b
        await eventually(
            lambda: all(receipts_of(course_a, m) for m in everyone),
            timeout=(last_deadline - datetime.now(UTC)).total_seconds() + 20,
            what="a receipt for every member of both courses",
        )
        await eventually(
            lambda: not query(url, "SELECT 1 FROM receipts WHERE status = 'pending'"),
            timeout=10,
            what="the outbox to be empty",
        )

        # On time: finalized (by the database's clock) right after the deadline, by shard 1.
        [(finalized_at,)] = query(
            url,
            "SELECT g.finalized_at FROM groups g JOIN assignments a ON a.id = g.assignment_id"
            " WHERE a.guild_id = %s",
            guild_a.id,
        )
        late_by = (from_db(finalized_at) - deadline).total_seconds()
        assert 0 <= late_by < 5, f"finalized {late_by:.1f} s after the deadline"
        claimants = query(url, "SELECT DISTINCT claimed_by FROM receipts")
        assert claimants == [("shards-1",)]  # every receipt was sent by the live process

        # Exactly once: one submission per group, one receipt per member, one DM each.
        assert query(
            url, "SELECT group_id, count(*) FROM submissions GROUP BY group_id ORDER BY group_id"
        ) == [(gid, 1) for (gid,) in query(url, "SELECT id FROM groups ORDER BY id")]
        rows = query(url, "SELECT user_id, status FROM receipts ORDER BY user_id")
        assert rows == sorted((m.id, "sent") for m in everyone)
        # Each receipt names the group's final: its last upload before the deadline.
        for pin, group in (("1111", members_a), ("2222", members_b)):
            final = sha256(pdf(f"{pin} by {group[-1].username}")[1])
            for member in group:
                [receipt] = receipts_of(course_a, member)
                assert receipt_sha(receipt) == final
        assert sandbox.world.nonce_hits == 0
        assert sandbox.sync_count == 1  # the shards never synced
        # Each IDENTIFY took its bucket's lock in the database (max_concurrency 1: one bucket).
        assert "shard 1 identifies (bucket 0)" in one.output
    finally:
        await one.terminate()
        await zero.terminate()
