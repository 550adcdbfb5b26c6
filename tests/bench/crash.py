"""Crash during a rush: kill -9 the bot at a random moment, restart it on the same data dir, and
check that nothing acknowledged was lost.

Each trial: a fresh data dir (S students in groups of 3, deadline a few seconds ahead), the bot
as a process, every student uploads at once, SIGKILL after a random delay, restart, wait past
the deadline until every group is finalized. Then: every upload the sandbox saw acknowledged is
in the database with its file and the right SHA-256; every file under files/ hashes to its
name; each group's final submission is its latest stored upload sent before the deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import paths
from bot.sandbox import InteractionHandle
from storage.timefmt import from_db
from tests.bench.common import (
    BOT_ARGV,
    MIB,
    Prepared,
    Report,
    World,
    bench_sandbox,
    build_world,
    chunked,
    create_assignment,
    db_query,
    file_payloads,
    import_groups,
    rehash_all,
    set_deadline,
    temp_dir,
)

NAME = "Crash"
ACK_PREFIX = "Stored `"


async def crash(trials: int, students: int, size_mib: float, seed: int | None) -> Report:
    rng = random.Random(seed)
    report = Report(f"crash-S{students}")
    work = temp_dir("bench-crash-")
    outcomes: list[dict[str, Any]] = []
    try:
        async with bench_sandbox() as sandbox:
            world = build_world(sandbox, students)
            files = file_payloads(students, int(size_mib * MIB), prefix="crash")
            sha_of = {name: hashlib.sha256(data).hexdigest() for name, data, _ in files}
            for trial in range(trials):
                delay = rng.uniform(0.05, 0.7)
                outcome = await _trial(world, files, sha_of, work / f"t{trial}", delay)
                outcomes.append(outcome)
                print(
                    f"trial {trial + 1}: kill after {delay:.2f} s: {outcome['acknowledged']} acked,"
                    f" {outcome['stored']} stored, {outcome['lost']} lost,"
                    f" {outcome['bad_files']} bad files,"
                    f" {outcome['final_mismatches']} wrong finals",
                    flush=True,
                )
                shutil.rmtree(work / f"t{trial}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lost = sum(o["lost"] + o["bad_files"] + o["final_mismatches"] for o in outcomes)
    print(f"{len(outcomes)} trials, {lost} lost")
    report.add(
        "trials / lost (acked missing, bad files, wrong finals)",
        f"{len(outcomes)} trials, {lost} lost",
        target="0 lost",
        ok=lost == 0 and len(outcomes) == trials,
    )
    report.add("acknowledged before the kill (per trial)", [o["acknowledged"] for o in outcomes])
    report.add("stored but not acknowledged", [o["stored"] - o["acked_stored"] for o in outcomes])
    report.add("kill delays (s)", [round(o["delay"], 2) for o in outcomes])
    report.extra["trials"] = outcomes
    return report


async def _trial(
    world: World,
    files: list[tuple[str, bytes, str]],
    sha_of: dict[str, str],
    data_dir: Path,
    delay: float,
) -> dict[str, Any]:
    sandbox = world.sandbox
    async with Prepared(data_dir) as services:
        assignment = await create_assignment(services, world, NAME)
        await import_groups(services, world, NAME, chunked(world.students, 3))
    proc = sandbox.bot_process(BOT_ARGV, data_dir=data_dir, env={"HANDIN_LOG_LEVEL": "WARNING"})
    await proc.start()
    deadline = datetime.now(UTC) + timedelta(seconds=8)
    set_deadline(data_dir, assignment.id, deadline)
    await asyncio.sleep(0.3)
    handles: list[InteractionHandle] = list(
        await asyncio.gather(
            *(
                sandbox.invoke(user, "upload", {"assignment": NAME}, files={"file": spec})
                for user, spec in zip(world.students, files, strict=True)
            )
        )
    )
    await asyncio.sleep(delay)
    await proc.kill()
    await asyncio.sleep(0.2)  # answers already on the wire land
    acked = {
        h.id: h for h in handles if h.final is not None and h.final.content.startswith(ACK_PREFIX)
    }
    await proc.start()
    await _wait_finalized(data_dir, deadline)
    await proc.terminate(timeout=20)

    rows = db_query(
        data_dir, "SELECT id, group_id, interaction_id, filename, sha256, sent_at FROM uploads"
    )
    by_interaction = {r[2]: r for r in rows}
    files_dir = paths.files_dir(data_dir)
    lost = 0
    for interaction_id, handle in acked.items():
        row = by_interaction.get(interaction_id)
        spec = handle.options.get("file")
        name = getattr(spec, "filename", None)
        if row is None or name is None or row[4] != sha_of.get(name):
            lost += 1
            continue
        if not (files_dir / row[4][:2] / row[4][2:]).is_file():
            lost += 1
    _, bad = rehash_all(data_dir)
    # The final submission is each group's latest stored upload sent before the deadline.
    latest: dict[int, tuple[str, int]] = {}
    for upload_id, group_id, _iid, _name, _sha, sent_at in rows:
        if from_db(sent_at) < deadline:
            latest[group_id] = max(latest.get(group_id, ("", 0)), (sent_at, upload_id))
    finals = dict(
        db_query(
            data_dir,
            "SELECT s.group_id, s.upload_id FROM submissions s WHERE s.revision ="
            " (SELECT max(revision) FROM submissions t WHERE t.group_id = s.group_id)",
        )
    )
    groups = [r[0] for r in db_query(data_dir, "SELECT id FROM groups")]
    mismatches = 0
    for group_id in groups:
        want = latest.get(group_id)
        got = finals.get(group_id)
        if (want[1] if want else None) != got:
            mismatches += 1
    return {
        "delay": delay,
        "acknowledged": len(acked),
        "stored": len(rows),
        "acked_stored": sum(1 for i in acked if i in by_interaction),
        "lost": lost,
        "bad_files": len(bad),
        "final_mismatches": mismatches,
    }


async def _wait_finalized(data_dir: Path, deadline: datetime, timeout: float = 40.0) -> None:
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if datetime.now(UTC) > deadline:
            left = db_query(data_dir, "SELECT count(*) FROM groups WHERE finalized_at IS NULL")
            if left[0][0] == 0:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("groups not finalized after the deadline")
