"""Deadline close: G groups with an upload each are finalized at the deadline, then every member
gets a receipt DM while the sandbox enforces Discord's global limit (50 requests/s, 429 + Via).

The data dir is prepared through the services before the bot starts; the deadline is then set
`lead` seconds ahead with SQL, so the bot's own timer closes the assignment.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.models import Actor
from bot.services.submissions import IncomingFile
from tests.bench.common import (
    BOT_ARGV,
    BenchDatabase,
    Prepared,
    Profile,
    Report,
    bench_sandbox,
    build_world,
    chunked,
    create_assignment,
    import_groups,
    peak_rss_mib,
    set_deadline,
    start_py_spy,
    stop_py_spy,
    temp_dir,
)

NAME = "Close"
GLOBAL_LIMIT = 50


def small_file(n: int) -> IncomingFile:
    data = f"%PDF-1.4 close {n:06d}\n".encode() + os.urandom(1024)

    async def read() -> Any:
        yield data

    return IncomingFile(f"report-{n:05d}.pdf", len(data), "application/pdf", read)


async def close(
    groups: int, members: int, lead: float, *, profile: Profile | None = None, db: str = "sqlite"
) -> Report:
    report = Report(f"close-G{groups}" + ("" if db == "sqlite" else f"-{db}"))
    work = temp_dir("bench-close-")
    data_dir = work / "data"
    try:
        database = await BenchDatabase.create(data_dir, db)
        async with bench_sandbox() as sandbox:
            sandbox.set_global_rate_limit(GLOBAL_LIMIT)
            world = build_world(sandbox, groups * members)
            teams = chunked(world.students, members)
            began = time.monotonic()
            async with Prepared(data_dir, database) as services:
                assignment = await create_assignment(services, world, NAME, closes="+1h")
                await import_groups(services, world, NAME, teams)
                for batch in chunked([team[0] for team in teams], 200):
                    await asyncio.gather(
                        *(
                            services.submissions.upload(
                                world.guild.id,
                                Actor(u.id, u.username),
                                NAME,
                                small_file(n),
                                sent_at=datetime.now(UTC),
                            )
                            for n, u in enumerate(batch)
                        )
                    )
            print(f"prepared {groups} groups with uploads in {time.monotonic() - began:.1f} s")
            deadline = datetime.now(UTC) + timedelta(seconds=lead)
            set_deadline(data_dir, assignment.id, deadline, database)
            proc = sandbox.bot_process(
                BOT_ARGV, data_dir=data_dir, env={"HANDIN_LOG_LEVEL": "WARNING"} | database.env()
            )
            await proc.start()
            spy = await start_py_spy(proc.pid, profile) if profile else None
            requests_before = len(sandbox.requests)
            hits_before = sandbox.rate_limited_count
            deadline_mono = time.monotonic() + (deadline - datetime.now(UTC)).total_seconds()
            finalized_at = await _wait_finalized(database, groups, deadline_mono)
            receipts = groups * members
            samples, delivered_at = await _wait_receipts(sandbox, database, receipts)
            if spy is not None:
                await stop_py_spy(spy)
            rss = peak_rss_mib(proc.pid)
            await proc.terminate(timeout=20)
            hits = sandbox.rate_limited_count - hits_before
            statuses = dict(database.query("SELECT status, count(*) FROM receipts GROUP BY status"))
        # The delivery window: from the first request after the deadline to the last receipt.
        after = [(t, n) for t, n in samples if t >= deadline_mono and n > requests_before]
        first_t, first_n = after[0] if after else (deadline_mono, requests_before)
        last_t, last_n = samples[-1] if samples else (deadline_mono, requests_before)
        window = max(last_t - first_t, 1e-9)
        rate = (last_n - first_n) / window
        finalize_s = None if finalized_at is None else finalized_at - deadline_mono
        receipts_s = None if delivered_at is None else delivered_at - deadline_mono
        report.add(
            f"deadline -> all {groups} groups finalized (s)",
            finalize_s,
            target="<= 1 s",
            ok=finalize_s is not None and finalize_s <= 1.0,
        )
        report.add(f"deadline -> all {receipts} receipts sent (s)", receipts_s)
        report.add(
            "REST requests/s while sending receipts",
            rate,
            target=f"limit {GLOBAL_LIMIT}/s",
        )
        share = rate / GLOBAL_LIMIT
        report.add(
            "achieved share of the global limit",
            f"{share:.1%}",
            target=">= 90%",
            ok=share >= 0.9,
        )
        report.add("receipts/s", receipts / window if delivered_at else None)
        report.add("429 responses", hits, target="<= 1", ok=hits <= 1)
        report.add("receipt statuses", statuses, target=f"{receipts} sent")
        report.add("bot peak RSS (MiB)", rss)
        report.extra.update(
            groups=groups,
            members=members,
            lead_s=lead,
            rate_limit_hits=[h.__dict__ for h in sandbox.rate_limit_hits[:20]],
        )
    finally:
        from tests import backends

        backends.stop_cluster()
        shutil.rmtree(work, ignore_errors=True)
    report.extra["database"] = db
    return report


async def _wait_finalized(
    database: BenchDatabase, groups: int, deadline_mono: float
) -> float | None:
    sql = (
        "SELECT count(*) FROM groups g WHERE finalized_at IS NOT NULL AND EXISTS"
        " (SELECT 1 FROM submissions s WHERE s.group_id = g.id)"
    )
    limit = deadline_mono + 120
    while time.monotonic() < limit:
        if time.monotonic() >= deadline_mono - 0.05:
            done = database.query(sql)[0][0]
            if done >= groups:
                return time.monotonic()
        await asyncio.sleep(0.02)
    return None


async def _wait_receipts(
    sandbox: Any, database: BenchDatabase, receipts: int
) -> tuple[list[tuple[float, int]], float | None]:
    samples: list[tuple[float, int]] = []
    limit = time.monotonic() + max(120.0, receipts / 15)
    last_check = 0.0
    while time.monotonic() < limit:
        now = time.monotonic()
        samples.append((now, len(sandbox.requests)))
        if now - last_check > 0.25:
            last_check = now
            sent = database.query("SELECT count(*) FROM receipts WHERE status != 'pending'")
            if sent[0][0] >= receipts:
                return samples, now
        await asyncio.sleep(0.01)
    return samples, None
