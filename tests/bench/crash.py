"""Crash during a rush and during the receipt burst: kill -9 the bot at a random moment, restart
it on the same data dir, and check that nothing acknowledged was lost and no receipt was sent
twice or not at all.

Each trial: a fresh data dir (S students in groups of 3, deadline a few seconds ahead), the bot
as a process, every student uploads at once, SIGKILL after a random delay, restart, wait past
the deadline until every group is finalized. Then: every upload the sandbox saw acknowledged is
in the database with its file and the right SHA-256; every file under files/ hashes to its
name; each group's final submission is its latest stored upload sent before the deadline.
Then the deadline's receipt burst starts, with Discord answering each DM a moment after it
created it, and the bot is killed again a random moment into it and restarted: every member
holds exactly as many receipts as the database marks sent, and none stays pending.
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
from sandbox import InteractionHandle
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
                # Into a burst of S receipts, sent one after another a few dozen a second.
                burst_delay = rng.uniform(0.0, 2.0)
                outcome = await _trial(world, files, sha_of, work / f"t{trial}", delay, burst_delay)
                outcomes.append(outcome)
                print(
                    f"trial {trial + 1}: kill after {delay:.2f} s: {outcome['acknowledged']} acked,"
                    f" {outcome['stored']} stored, {outcome['lost']} lost,"
                    f" {outcome['bad_files']} bad files,"
                    f" {outcome['final_mismatches']} wrong finals;"
                    f" receipts: killed after {outcome['burst_kill_after_receipts']},"
                    f" {outcome['receipts']} sent, {outcome['receipts_twice']} twice,"
                    f" {outcome['receipts_missing']} missing",
                    flush=True,
                )
                shutil.rmtree(work / f"t{trial}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lost = sum(o["lost"] + o["bad_files"] + o["final_mismatches"] for o in outcomes)
    twice = sum(o["receipts_twice"] for o in outcomes)
    missing = sum(o["receipts_missing"] for o in outcomes)
    print(f"{len(outcomes)} trials, {lost} lost, {twice} receipts twice, {missing} missing")
    report.add(
        "trials / lost (acked missing, bad files, wrong finals)",
        f"{len(outcomes)} trials, {lost} lost",
        target="0 lost",
        ok=lost == 0 and len(outcomes) == trials,
    )
    report.add(
        "receipts sent twice / missing (kill -9 in the receipt burst)",
        f"{twice} twice, {missing} missing",
        target="0 twice, 0 missing",
        ok=twice == 0 and missing == 0,
    )
    report.add(
        "receipts out before the burst kill", [o["burst_kill_after_receipts"] for o in outcomes]
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
    burst_delay: float,
) -> dict[str, Any]:
    sandbox = world.sandbox
    groups = chunked(world.students, 3)
    async with Prepared(data_dir) as services:
        assignment = await create_assignment(services, world, NAME)
        await import_groups(services, world, NAME, groups)
        # Every group has handed in something already, so the deadline always has a receipt
        # for every member, whatever the kill in the rush left.
        await _seed_uploads(services, world, [g[0] for g in groups])
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
    # The receipts: every member of every group gets one at the deadline. Discord answers each
    # DM a moment after creating it, and the bot is killed again in the middle of the burst.
    before = _receipt_dms(world)
    sandbox.set_dm_latency(0.05)
    await proc.start()
    burst_kill = await _kill_in_burst(proc, world, data_dir, burst_delay)
    sandbox.set_dm_latency(0)
    if burst_kill is not None:
        await proc.start()
    await _wait_finalized(data_dir, deadline)
    await _wait_receipts_settled(data_dir)
    await proc.terminate(timeout=20)
    after = _receipt_dms(world)
    sent_rows = dict(
        db_query(
            data_dir,
            "SELECT user_id, count(*) FROM receipts WHERE status = 'sent' GROUP BY user_id",
        )
    )
    twice = sum(max(0, after[user] - before[user] - sent_rows.get(user, 0)) for user in after)
    missing = db_query(data_dir, "SELECT count(*) FROM receipts WHERE status = 'pending'")[0][0]

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
    group_ids = [r[0] for r in db_query(data_dir, "SELECT id FROM groups")]
    mismatches = 0
    for group_id in group_ids:
        want = latest.get(group_id)
        got = finals.get(group_id)
        if (want[1] if want else None) != got:
            mismatches += 1
    return {
        "delay": delay,
        "acknowledged": len(acked),
        # The seeded drafts have no interaction: only the rush's uploads count here.
        "stored": sum(1 for r in rows if r[2] is not None),
        "acked_stored": sum(1 for i in acked if i in by_interaction),
        "lost": lost,
        "bad_files": len(bad),
        "final_mismatches": mismatches,
        "receipts": sum(sent_rows.values()),
        "receipts_twice": twice,
        "receipts_missing": missing,
        "burst_kill_after_receipts": burst_kill,
    }


async def _seed_uploads(services: Any, world: World, students: list[Any]) -> None:
    from bot.domain.models import Actor
    from bot.services.submissions import IncomingFile

    for student in students:
        data = f"draft of {student.username}".encode()

        async def read(data: bytes = data) -> Any:
            yield data

        await services.submissions.upload(
            world.guild.id,
            Actor(user_id=student.id, display_name=student.username),
            NAME,
            IncomingFile("draft.pdf", len(data), "application/pdf", read),
            sent_at=datetime.now(UTC),
        )


def _receipt_dms(world: World) -> dict[int, int]:
    """Receipts each student holds in their DMs (the students are the same in every trial).
    One pass over the sandbox's messages: it serves the bot from this same event loop."""
    inner = world.sandbox.world
    owner = {channel.id: user_id for user_id, channel in inner.dm_channels.items()}
    held = dict.fromkeys((user.id for user in world.students), 0)
    for message in inner.messages.values():
        user_id = owner.get(message.channel_id)
        if user_id in held and not message.deleted and _is_receipt(message):
            held[user_id] += 1
    return held


def _receipts_created(world: World) -> int:
    """Receipt DMs Discord created so far (each carries its receipt's nonce): cheap to poll."""
    return sum(1 for _, nonce in world.sandbox.world.nonces if nonce.startswith("rc"))


def _is_receipt(message: Any) -> bool:
    return any(
        item.get("name") == "SHA-256" for e in message.embeds for item in e.get("fields") or []
    )


async def _kill_in_burst(proc: Any, world: World, data_dir: Path, delay: float) -> int | None:
    """Wait for the receipt burst after the deadline, SIGKILL `delay` seconds into it; return
    how many receipts had gone out by then (None: no group had an upload, so no burst)."""
    start = _receipts_created(world)
    limit = time.monotonic() + 60
    while time.monotonic() < limit:
        if _receipts_created(world) > start:
            await asyncio.sleep(delay)
            await proc.kill()
            return _receipts_created(world) - start
        open_groups = db_query(data_dir, "SELECT count(*) FROM groups WHERE finalized_at IS NULL")
        receipts = db_query(data_dir, "SELECT count(*) FROM receipts")
        if open_groups[0][0] == 0 and receipts[0][0] == 0:
            return None
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no receipt burst after the deadline; bot said:\n{proc.output[-2000:]}")


async def _wait_receipts_settled(data_dir: Path, timeout: float = 60.0) -> None:
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        left = db_query(data_dir, "SELECT count(*) FROM receipts WHERE status = 'pending'")
        if left[0][0] == 0:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("receipts still pending")


async def _wait_finalized(data_dir: Path, deadline: datetime, timeout: float = 40.0) -> None:
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if datetime.now(UTC) > deadline:
            left = db_query(data_dir, "SELECT count(*) FROM groups WHERE finalized_at IS NULL")
            if left[0][0] == 0:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("groups not finalized after the deadline")
