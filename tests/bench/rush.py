"""Deadline rush: S students in groups of 3 run /upload with a 1 MiB file at the same instant.

Our bot and a minimal discord.py baseline (tests/bench/baseline_bot.py: defer,
`Attachment.read()`, reply) each run as a separate process on the same sandbox, one after the
other, against the same students and the same files.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import obstore

from sandbox import InteractionHandle, Sandbox
from tests.bench.common import (
    BASELINE_ARGV,
    BOT_ARGV,
    MIB,
    ROOT,
    BenchDatabase,
    Prepared,
    Profile,
    Report,
    World,
    bench_sandbox,
    build_sharded_worlds,
    build_world,
    chunked,
    create_assignment,
    db_query,
    file_payloads,
    import_groups,
    peak_rss_mib,
    rehash_all,
    start_py_spy,
    stop_py_spy,
    summary,
    sync_commands,
    temp_dir,
    thread_cpu_s,
)
from tests.s3 import SeaweedFS, start_seaweedfs

NAME = "Rush"
# discord.py[speed]'s modules (the import names of orjson, zstandard, aiodns, Brotli).
SPEED_EXTRA = "orjson,zstandard,aiodns,brotli"


@dataclass(frozen=True)
class Variant:
    """Our bot as one column of the rush: how it is started, and what it is told."""

    name: str
    argv: tuple[str, ...] = tuple(BOT_ARGV)
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


def _without(modules: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "tests.bench.without", modules)


# What each speed-up gives alone: each variant takes one away from our bot as shipped.
VARIANTS = {
    "ours": Variant("ours"),
    "asyncio-loop": Variant("asyncio-loop", env={"HANDIN_EVENT_LOOP": "asyncio"}),
    "no-orjson": Variant("no-orjson", _without("orjson")),
    "no-speed-extra": Variant("no-speed-extra", _without(SPEED_EXTRA)),
    "no-aiohttp-c": Variant("no-aiohttp-c", env={"AIOHTTP_NO_EXTENSIONS": "1"}),
    # Not a speed-up: what the durable writes cost (tests/bench/nofsync.py skips every fsync).
    "no-fsync": Variant("no-fsync", (sys.executable, "-m", "tests.bench.nofsync")),
    "none": Variant(
        "none",
        _without(SPEED_EXTRA),
        env={"HANDIN_EVENT_LOOP": "asyncio", "AIOHTTP_NO_EXTENSIONS": "1"},
    ),
}


def variant(name: str, work: Path) -> Variant:
    """A named variant, or `rev:REV`: our bot as of that git revision (a worktree made in
    `work`), to measure a change of design against its parent in the same run."""
    if not name.startswith("rev:"):
        return VARIANTS[name]
    rev = name.removeprefix("rev:")
    tree = work / "trees" / rev.replace("/", "_")
    if not tree.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(tree), rev],
            check=True,
            capture_output=True,
        )
    # The worktree's packages come first on the path (ahead of the editable install).
    return Variant(name, env={"PYTHONPATH": str(tree)}, cwd=tree)


def drop_worktrees(work: Path) -> None:
    for tree in work.glob("trees/*"):
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            check=False,
            capture_output=True,
        )


PROBES: dict[int, dict[int, tuple[float, float]]] = {}
ACK_PREFIX = "Stored `"


@dataclass
class RushRun:
    label: str
    students: int
    wall_s: float
    defer: list[float]
    done: list[float]
    deferred_in_time: int
    acknowledged: int
    errors: list[str]
    peak_rss_mib: float | None
    stored_rows: int | None = None
    stored_files: int | None = None
    bad_files: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.acknowledged / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "students": self.students,
            "wall_s": self.wall_s,
            "throughput_per_s": self.throughput,
            "defer_s": summary(self.defer),
            "done_s": summary(self.done),
            "deferred_within_3s": self.deferred_in_time,
            "acknowledged": self.acknowledged,
            "stored_rows": self.stored_rows,
            "stored_files": self.stored_files,
            "bad_files": self.bad_files,
            "peak_rss_mib": self.peak_rss_mib,
            "errors": self.errors[:20],
            **self.extra,
        }


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}


def _cpu_line(cpu: dict[str, float], wall: float) -> str:
    """Where the machine's cores went during the rush (CPU seconds; the machine has
    os.cpu_count() cores for `wall` seconds)."""
    total = sum(cpu.values())
    return (
        f"  cpu s: bot loop {cpu['loop_user']:.2f} user + {cpu['loop_sys']:.2f} sys, bot threads "
        f"{cpu['threads_user']:.2f} + {cpu['threads_sys']:.2f}, sandbox {cpu['sandbox']:.2f};"
        f" {total:.2f} of {wall * (os.cpu_count() or 1):.2f} core-seconds"
    )


def install_cdn_probe(sandbox: Any) -> dict[int, tuple[float, float]]:
    """Record when each attachment download starts and its handler returns (by file id): shows
    how long an upload waited before its bytes were fetched."""
    seen: dict[int, tuple[float, float]] = {}
    original = sandbox.rest.cdn

    async def cdn(request: Any) -> Any:
        began = time.monotonic()
        response = await original(request)
        with contextlib.suppress(ValueError):
            seen[int(request.match_info["file_id"])] = (began, time.monotonic())
        return response

    sandbox.rest.cdn = cdn
    return seen


def phases(handles: list[InteractionHandle], probe: dict[int, tuple[float, float]]) -> str:
    """p50/p99 of: invoke->download start, download start->completion."""
    wait: list[float] = []
    after: list[float] = []
    for h in handles:
        spec = h.options.get("file")
        got = probe.get(getattr(spec, "id", -1))
        if got is None or h.invoked_at is None or h.done_latency is None:
            continue
        wait.append(got[0] - h.invoked_at)
        after.append(h.invoked_at + h.done_latency - got[0])
    w, a = summary(wait), summary(after)
    return (
        f"  phases: invoke->download p50 {w['p50'] or 0:.2f} p99 {w['p99'] or 0:.2f} s; "
        f"download->done p50 {a['p50'] or 0:.2f} p99 {a['p99'] or 0:.2f} s"
    )


async def fire(
    world: World,
    files: list[tuple[str, bytes, str]],
    timeout: float,
) -> tuple[list[InteractionHandle], float]:
    """Every student invokes /upload at once; wait for all answers. Returns (handles, wall)."""
    sandbox = world.sandbox
    began = time.monotonic()
    handles = await asyncio.gather(
        *(
            sandbox.invoke(user, "upload", {"assignment": NAME}, files={"file": spec})
            for user, spec in zip(world.students, files, strict=False)
        )
    )
    await asyncio.gather(*(h.wait_done(timeout) for h in handles), return_exceptions=True)
    ends = [
        h.invoked_at + h.done_latency
        for h in handles
        if h.invoked_at is not None and h.done_latency is not None
    ]
    wall = (max(ends) if ends else time.monotonic()) - began
    return list(handles), wall


def collect(label: str, handles: list[InteractionHandle], wall: float, deadline: float) -> RushRun:
    defer = [h.defer_latency for h in handles if h.defer_latency is not None]
    acked = [h for h in handles if h.final is not None and h.final.content.startswith(ACK_PREFIX)]
    done = [h.done_latency for h in acked if h.done_latency is not None]
    errors = [f"{h.user.username}: {e}" for h in handles for e in h.errors]
    not_acked = [
        f"{h.user.username}: {(h.final.content[:80] if h.final else 'no answer')}"
        for h in handles
        if h not in acked
    ]
    return RushRun(
        label=label,
        students=len(handles),
        wall_s=wall,
        defer=defer,
        done=done,
        deferred_in_time=sum(1 for d in defer if d <= deadline),
        acknowledged=len(acked),
        errors=errors + not_acked,
        peak_rss_mib=None,
    )


async def settle_disk() -> None:
    """Before a bot starts: write the page cache back (the gigabyte the run before wrote would
    otherwise be flushed during this one's rush and slow its fsyncs), collect what the earlier
    sandboxes left, and move what is left (this process's own world) out of the garbage
    collector's way."""
    await asyncio.to_thread(os.sync)
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@contextlib.asynccontextmanager
async def fresh_sandbox() -> AsyncIterator[Sandbox]:
    """A new sandbox for one bot (or one set of bot processes): a sandbox that served earlier
    bots keeps their messages, transcript and requests, and its CPU time for the same rush
    grew with each (0.8 -> 1.9 s over twelve bots), on the cores the bot runs on."""
    box = bench_sandbox()
    PROBES[id(box)] = install_cdn_probe(box)
    try:
        async with box as sandbox:
            yield sandbox
    finally:
        PROBES.pop(id(box), None)


@contextlib.asynccontextmanager
async def fresh_world(students: int) -> AsyncIterator[World]:
    """`fresh_sandbox`, with the course's students."""
    async with fresh_sandbox() as sandbox:
        yield build_world(sandbox, students)


async def fire_measured(
    world: World, files: list[tuple[str, bytes, str]], timeout: float, pid: int | None
) -> tuple[list[InteractionHandle], float, dict[str, float]]:
    """`fire`, and the CPU seconds the bot (`pid`) and this process (the sandbox) spent on it."""
    cpu_before, own_before = thread_cpu_s(pid), os.times()
    handles, wall = await fire(world, files, timeout)
    cpu, own = _spent(cpu_before, thread_cpu_s(pid)), os.times()
    cpu["sandbox"] = own.user + own.system - own_before.user - own_before.system
    return handles, wall, cpu


async def run_baseline(
    world: World, files: list[tuple[str, bytes, str]], work: Path, timeout: float
) -> RushRun:
    sandbox = world.sandbox
    proc = sandbox.bot_process(BASELINE_ARGV, data_dir=work / "baseline", expect_sync=True)
    await settle_disk()
    await proc.start()
    try:
        await asyncio.sleep(0.5)
        handles, wall, cpu = await fire_measured(world, files, timeout, proc.pid)
        run = collect("baseline", handles, wall, sandbox.rest.interaction_deadline or 3.0)
        run.extra["phases"] = phases(handles, PROBES.get(id(sandbox), {}))
        run.extra["cpu_s"] = cpu
        run.extra["cpu"] = _cpu_line(cpu, wall)
        run.peak_rss_mib = peak_rss_mib(proc.pid)
    finally:
        await proc.terminate()
    return run


async def prepare(world: World, data_dir: Path) -> None:
    async with Prepared(data_dir) as services:
        await create_assignment(services, world, NAME)
        await import_groups(services, world, NAME, chunked(world.students, 3))


async def run_ours(
    world: World,
    files: list[tuple[str, bytes, str]],
    data_dir: Path,
    timeout: float,
    profile: Profile | None = None,
    bucket: SeaweedFS | None = None,
    how: Variant = VARIANTS["ours"],
) -> RushRun:
    """Our bot on the same rush; with `bucket`, its stored files in that S3 server."""
    sandbox = world.sandbox
    await prepare(world, data_dir)
    env = {"HANDIN_LOG_LEVEL": "WARNING"} | how.env
    url = None
    if bucket is not None:
        url = bucket.fresh_url()
        env |= bucket.environment | {"HANDIN_FILES_URL": url}
    proc = sandbox.bot_process(how.argv, data_dir=data_dir, env=env, cwd=how.cwd)
    await settle_disk()
    await proc.start()
    try:
        await asyncio.sleep(0.5)
        spy = await start_py_spy(proc.pid, profile) if profile else None
        handles, wall, cpu = await fire_measured(world, files, timeout, proc.pid)
        if spy is not None:
            await stop_py_spy(spy)
        run = collect("ours", handles, wall, sandbox.rest.interaction_deadline or 3.0)
        run.extra["phases"] = phases(handles, PROBES.get(id(sandbox), {}))
        run.extra["cpu_s"] = cpu
        run.extra["cpu"] = _cpu_line(cpu, wall)
        run.peak_rss_mib = peak_rss_mib(proc.pid)
    finally:
        await proc.terminate(timeout=20)
    rows = db_query(data_dir, "SELECT count(*) FROM uploads")[0][0]
    if bucket is None or url is None:
        checked, bad = rehash_all(data_dir)
    else:
        shas = [r[0] for r in db_query(data_dir, "SELECT DISTINCT sha256 FROM uploads")]
        checked, bad = await rehash_bucket(bucket.store(url), shas)
    run.stored_rows = rows
    run.stored_files = checked
    run.bad_files = len(bad)
    interaction_ids = {
        int(r[0]) for r in db_query(data_dir, "SELECT interaction_id FROM uploads") if r[0]
    }
    acked_ids = {
        h.id for h in handles if h.final is not None and h.final.content.startswith(ACK_PREFIX)
    }
    run.extra["acknowledged_not_stored"] = len(acked_ids - interaction_ids)
    run.extra["stored_not_acknowledged"] = len(interaction_ids - acked_ids)
    return run


async def rush(
    students: int,
    size_mib: float,
    runs: int,
    *,
    baseline: bool = True,
    timeout: float = 90.0,
    keep: bool = False,
    profile: Profile | None = None,
    store: str = "local",
    variants: tuple[str, ...] = (),
) -> Report:
    """`store`: where our bot keeps the files: `local`, `s3` (a SeaweedFS started here), or
    `both` (each run: the baseline, ours on local files, ours on S3). `variants` (names of
    VARIANTS, or `rev:REV`) also run in each run, on local files. Run n starts with the n-th
    bot of the list (baseline, ours, ours on S3, the variants) and goes round."""
    report = Report(f"rush-S{students}" + ("" if store == "local" else f"-{store}"))
    work = temp_dir("bench-rush-")
    all_runs: list[dict[str, Any]] = []
    try:
        files = file_payloads(students, int(size_mib * MIB), prefix="rush")
        ours_runs: list[RushRun] = []
        base_runs: list[RushRun] = []
        s3_runs: list[RushRun] = []
        others: dict[str, list[RushRun]] = {}
        bucket = start_seaweedfs(work / "seaweedfs") if store in ("s3", "both") else None

        def show(label: str, run: RushRun, *details: str) -> None:
            print(_line(label, run), flush=True)
            for detail in details:
                print(run.extra[detail], flush=True)
            all_runs.append(run.as_dict())

        for n in range(runs):

            async def baseline_step(n: int = n) -> None:
                async with fresh_world(students) as world:
                    base = await run_baseline(world, files, work, timeout)
                base_runs.append(base)
                show(f"run {n + 1} baseline", base, "phases", "cpu")

            async def ours_step(n: int = n) -> None:
                async with fresh_world(students) as world:
                    ours = await run_ours(world, files, work / f"ours-{n}", timeout, profile)
                ours_runs.append(ours)
                show(f"run {n + 1} ours    ", ours, "phases", "cpu")

            async def s3_step(n: int = n) -> None:
                assert bucket is not None
                async with fresh_world(students) as world:
                    on_s3 = await run_ours(
                        world, files, work / f"s3-{n}", timeout, profile, bucket=bucket
                    )
                on_s3.label = "ours-s3"
                s3_runs.append(on_s3)
                show(f"run {n + 1} ours S3 ", on_s3)

            async def variant_step(name: str, n: int = n) -> None:
                how = variant(name, work)
                async with fresh_world(students) as world:
                    other = await run_ours(world, files, work / f"{how.name}-{n}", timeout, how=how)
                other.label = how.name
                others.setdefault(how.name, []).append(other)
                show(f"run {n + 1} {how.name}", other, "cpu")

            steps: list[Callable[[], Awaitable[None]]] = []
            if baseline:
                steps.append(baseline_step)
            if store in ("local", "both"):
                steps.append(ours_step)
            if bucket is not None:
                steps.append(s3_step)
            steps += [functools.partial(variant_step, name) for name in variants]
            # Each run starts with the next bot: what one bot left behind (its files, the
            # sandbox's state) slowed the bots after it (the same revision ran 1.1-1.4x slower
            # as a variant after ours), so each also gets a fresh sandbox and an empty disk.
            for step in steps[n % len(steps) :] + steps[: n % len(steps)]:
                await step()
                if not keep:
                    # The next bot starts on the same disk as this one did: a gigabyte
                    # of files left behind slowed the writes of the bots after it.
                    for made in work.glob(f"*-{n}"):
                        shutil.rmtree(made, ignore_errors=True)
        if bucket is not None:
            bucket.stop()
        _table(report, ours_runs or s3_runs, base_runs)
        if ours_runs and s3_runs:
            _against_local(report, s3_runs, ours_runs)
        for name, runs_of in others.items():
            _variant_table(report, name, runs_of, base_runs)
    finally:
        drop_worktrees(work)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    report.extra["runs"] = all_runs
    report.extra["size_mib"] = size_mib
    return report


def _line(label: str, run: RushRun) -> str:
    d = summary(run.defer)
    c = summary(run.done)
    return (
        f"{label}: {run.acknowledged}/{run.students} acked, "
        f"{run.deferred_in_time}/{run.students} deferred<=3s, "
        f"defer p99 {d['p99'] or 0:.2f}s, done p50 {c['p50'] or 0:.2f}s p99 {c['p99'] or 0:.2f}s "
        f"max {c['max'] or 0:.2f}s, {run.throughput:.0f}/s, "
        f"peak RSS {run.peak_rss_mib or 0:.0f} MiB"
        + (
            f", stored {run.stored_rows} rows/{run.stored_files} files, bad {run.bad_files}"
            if run.stored_rows is not None
            else ""
        )
    )


def _table(report: Report, ours: list[RushRun], base: list[RushRun]) -> None:
    """One block of rows per run (ours vs the baseline of the same run), then the verdict."""
    for n, run in enumerate(ours):
        b = base[n] if n < len(base) else None
        tag = f"run {n + 1}: "
        d, bd = summary(run.defer), summary(b.defer) if b else None
        c, bc = summary(run.done), summary(b.done) if b else None

        def ratio(x: float | None, y: float | None) -> float | None:
            return None if x is None or not y else x / y

        share = run.deferred_in_time / run.students
        report.add(
            tag + "deferred within 3 s",
            f"{share:.1%}",
            f"{b.deferred_in_time / b.students:.1%}" if b else None,
            target="100%",
            ok=run.deferred_in_time == run.students,
        )
        report.add(tag + "defer p50 / p99 / max (s)", _tri(d), _tri(bd) if bd else None)
        report.add(
            tag + "completion p50 / p99 / max (s)",
            _tri(c),
            _tri(bc) if bc else None,
            ratio(c["p99"], bc["p99"]) if bc else None,
            target="p99 <= 1.0x baseline",
            ok=None if not bc or c["p99"] is None else c["p99"] <= (bc["p99"] or 0),
        )
        tput = ratio(run.throughput, b.throughput if b else None)
        report.add(
            tag + "uploads/s",
            run.throughput,
            b.throughput if b else None,
            tput,
            target=">= 1.0x baseline",
            ok=None if tput is None else tput >= 1.0,
        )
        rss = ratio(run.peak_rss_mib, b.peak_rss_mib if b else None)
        report.add(
            tag + "peak RSS (MiB)",
            run.peak_rss_mib,
            b.peak_rss_mib if b else None,
            rss,
            target="<= 150 MiB",
            ok=run.peak_rss_mib is not None and run.peak_rss_mib <= 150,
        )
        lost = run.extra.get("acknowledged_not_stored", 0) + (run.bad_files or 0)
        report.add(
            tag + "acknowledged / rows / files",
            f"{run.acknowledged} / {run.stored_rows} / {run.stored_files}",
            f"{b.acknowledged} / - / -" if b else None,
            target="equal, 0 lost",
            ok=lost == 0
            and run.acknowledged == run.stored_rows == run.stored_files
            and run.acknowledged == run.students,
        )


def _variant_table(report: Report, name: str, runs: list[RushRun], base: list[RushRun]) -> None:
    """A variant's throughput and tail against the baseline of the same run."""
    for n, run in enumerate(runs):
        b = base[n] if n < len(base) else None
        tag = f"run {n + 1} {name}: "
        c, bc = summary(run.done), summary(b.done) if b else None
        report.add(
            tag + "completion p50 / p99 / max (s)",
            _tri(c),
            _tri(bc) if bc else None,
            None if not bc or not bc["p99"] or c["p99"] is None else c["p99"] / bc["p99"],
        )
        report.add(
            tag + "uploads/s",
            run.throughput,
            b.throughput if b else None,
            run.throughput / b.throughput if b and b.throughput else None,
        )
        lost = run.extra.get("acknowledged_not_stored", 0) + (run.bad_files or 0)
        report.add(
            tag + "peak RSS (MiB) / lost",
            f"{run.peak_rss_mib or 0:.0f} / {lost}",
            ok=lost == 0 and run.acknowledged == run.students,
        )


def _against_local(report: Report, s3: list[RushRun], local: list[RushRun]) -> None:
    """Files in the bucket against files on the local disk, run by run."""
    for n, (bucket, disk) in enumerate(zip(s3, local, strict=True)):
        tag = f"run {n + 1} S3 vs local: "
        c, lc = summary(bucket.done), summary(disk.done)
        report.add(
            tag + "completion p50 / p99 / max (s)",
            _tri(c),
            _tri(lc),
            None if not lc["p99"] or c["p99"] is None else c["p99"] / lc["p99"],
        )
        report.add(
            tag + "uploads/s",
            bucket.throughput,
            disk.throughput,
            None if not disk.throughput else bucket.throughput / disk.throughput,
        )
        report.add(
            tag + "peak RSS (MiB)",
            bucket.peak_rss_mib,
            disk.peak_rss_mib,
            None
            if not disk.peak_rss_mib or bucket.peak_rss_mib is None
            else bucket.peak_rss_mib / disk.peak_rss_mib,
        )
        lost = bucket.extra.get("acknowledged_not_stored", 0) + (bucket.bad_files or 0)
        report.add(
            tag + "acknowledged / rows / objects",
            f"{bucket.acknowledged} / {bucket.stored_rows} / {bucket.stored_files}",
            target="equal, 0 lost",
            ok=lost == 0 and bucket.acknowledged == bucket.stored_rows == bucket.stored_files,
        )


async def rehash_bucket(store: Any, shas: list[str]) -> tuple[int, list[str]]:
    """(objects checked, names whose bytes do not hash to their name or are missing)."""
    bad: list[str] = []
    for sha in shas:
        try:
            result = await obstore.get_async(store, f"{sha[:2]}/{sha[2:]}")
            data = bytes(await result.bytes_async())
        except FileNotFoundError:
            bad.append(sha)
            continue
        if hashlib.sha256(data).hexdigest() != sha:
            bad.append(sha)
    return len(shas) - len(bad), bad


def _tri(s: dict[str, float | None] | None) -> str:
    if s is None or s["p50"] is None:
        return "-"
    return f"{s['p50']:.2f} / {s['p99']:.2f} / {s['max']:.2f}"


# --- several processes over one database ---------------------------------------------------------
async def rush_processes(
    students: int,
    size_mib: float,
    processes: int,
    *,
    db: str = "postgresql",
    timeout: float = 120.0,
) -> Report:
    """The rush over `processes` bot processes (shards 0..N-1 of N, one course server each)
    on `db`, against one process on SQLite serving the same servers, in the same run."""
    report = Report(f"rush-S{students}-{db}-P{processes}")
    work = temp_dir("bench-rush-procs-")
    try:
        files = file_payloads(students, int(size_mib * MIB), prefix="rush")
        # Each configuration on a fresh sandbox and disk, as in `rush`.
        async with fresh_sandbox() as sandbox:
            worlds = build_sharded_worlds(sandbox, students, processes)
            one = await _run_processes(
                worlds, _everyone(worlds), files, BenchDatabase(work / "one"), 1, timeout
            )
        shutil.rmtree(work / "one", ignore_errors=True)
        one.label = "1 process, SQLite"
        print(_line("1 process, SQLite  ", one), flush=True)
        print(one.extra["phases"], flush=True)
        shared = await BenchDatabase.create(work / "many", db)
        async with fresh_sandbox() as sandbox:
            worlds = build_sharded_worlds(sandbox, students, processes)
            many = await _run_processes(
                worlds, _everyone(worlds), files, shared, processes, timeout
            )
        many.label = f"{processes} processes, {shared.label}"
        print(_line(f"{processes} processes, {shared.label}", many), flush=True)
        print(many.extra["phases"], flush=True)
        _processes_table(report, many, one)
        report.extra["runs"] = [one.as_dict(), many.as_dict()]
    finally:
        from tests import backends

        backends.stop_cluster()
        shutil.rmtree(work, ignore_errors=True)
    report.extra["size_mib"] = size_mib
    return report


def _everyone(worlds: list[World]) -> World:
    """All the shards' students as one world (who fires the rush)."""
    return World(worlds[0].sandbox, worlds[0].guild, [u for w in worlds for u in w.students])


async def _run_processes(
    worlds: list[World],
    everyone: World,
    files: list[tuple[str, bytes, str]],
    database: BenchDatabase,
    processes: int,
    timeout: float,
) -> RushRun:
    sandbox = everyone.sandbox
    data_dir = database.data_dir
    async with Prepared(data_dir, database) as services:
        for world in worlds:
            await create_assignment(services, world, NAME)
            await import_groups(services, world, NAME, chunked(world.students, 3))
    env = {"HANDIN_LOG_LEVEL": "WARNING"} | database.env()
    procs = []
    if processes > 1:
        await sync_commands(sandbox, data_dir, env)
        for shard in range(processes):
            shards = {"HANDIN_SHARDS": str(shard), "HANDIN_SHARD_COUNT": str(processes)}
            procs.append(sandbox.bot_process(BOT_ARGV, data_dir=data_dir, env=env | shards))
    else:
        procs.append(sandbox.bot_process(BOT_ARGV, data_dir=data_dir, env=env))
    try:
        await settle_disk()
        for proc in procs:
            await proc.start()
        await asyncio.sleep(0.5)
        handles, wall = await fire(everyone, files, timeout)
        run = collect("ours", handles, wall, sandbox.rest.interaction_deadline or 3.0)
        run.extra["phases"] = phases(handles, PROBES.get(id(sandbox), {}))
        peaks = [peak_rss_mib(proc.pid) or 0.0 for proc in procs]
        run.peak_rss_mib = max(peaks)
        run.extra["peak_rss_sum_mib"] = sum(peaks)
    finally:
        for proc in procs:
            await proc.terminate(timeout=20)
    run.stored_rows = database.query("SELECT count(*) FROM uploads")[0][0]
    run.stored_files, bad = rehash_all(data_dir)
    run.bad_files = len(bad)
    interaction_ids = {
        int(r[0]) for r in database.query("SELECT interaction_id FROM uploads") if r[0]
    }
    acked_ids = {
        h.id for h in handles if h.final is not None and h.final.content.startswith(ACK_PREFIX)
    }
    run.extra["acknowledged_not_stored"] = len(acked_ids - interaction_ids)
    return run


def _processes_table(report: Report, many: RushRun, one: RushRun) -> None:
    """The N processes ("ours") against the one SQLite process ("baseline") of the same run."""
    c, oc = summary(many.done), summary(one.done)
    report.add(
        "deferred within 3 s",
        f"{many.deferred_in_time / many.students:.1%}",
        f"{one.deferred_in_time / one.students:.1%}",
        target="100%",
        ok=many.deferred_in_time == many.students,
    )
    report.add(
        "completion p50 / p99 / max (s)",
        _tri(c),
        _tri(oc),
        None if not oc["p99"] or c["p99"] is None else c["p99"] / oc["p99"],
    )
    report.add(
        "uploads/s",
        many.throughput,
        one.throughput,
        None if not one.throughput else many.throughput / one.throughput,
    )
    report.add(
        "peak RSS per process (MiB)", many.peak_rss_mib, one.peak_rss_mib, target="<= 150 MiB"
    )
    for run in (many, one):
        lost = run.extra.get("acknowledged_not_stored", 0) + (run.bad_files or 0)
        report.add(
            f"{run.label}: acknowledged / rows / files",
            f"{run.acknowledged} / {run.stored_rows} / {run.stored_files}",
            target="equal, 0 lost",
            ok=lost == 0
            and run.acknowledged == run.stored_rows == run.stored_files == run.students,
        )
