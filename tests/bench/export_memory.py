"""Peak memory of an export of 300 groups x 1 MiB, against naive ways to build the same ZIP.

Run from the repository root: `python -m tests.bench.export_memory` (about a minute). It builds
a data dir in a temp folder through the real services, then runs each measured phase in a
fresh subprocess (so one phase's peak cannot hide another's) twice: once for the RSS
high-water mark (VmHWM, reset through /proc/self/clear_refs where allowed) and once under
tracemalloc. The export's target is a growth under 50 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore

from bot import paths
from bot.domain.models import (
    Actor,
    GroupMode,
)
from bot.services.assignments import AssignmentOptions
from bot.services.exports import ExportService
from bot.services.ports import SilentNotifier
from bot.services.registry import build_services
from bot.services.submissions import IncomingFile
from storage.db import Database
from storage.files import FileStore
from storage.migrate import migrate
from storage.s3files import S3FileStore
from tests.clock import FakeClock
from tests.s3 import SeaweedFS, start_seaweedfs

GUILD = 1
STAFF = Actor(user_id=1, display_name="staff", can_manage_guild=True)
NAME = "Bench"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MIB = 1024 * 1024
TARGET_MIB = 50
PHASES: tuple[str, ...] = ("export", "read_each", "zip_writestr", "read_all", "zip_in_memory")
BASELINE_NOTES = {
    "read_each": "Path.read_bytes() + sha256, one file at a time",
    "zip_writestr": "ZipFile on disk, writestr(read_bytes()) per file",
    "read_all": "read_bytes() of every file, kept in a list",
    "zip_in_memory": "ZipFile in a BytesIO, writestr(read_bytes()) per file",
}


def _incoming(data: bytes, filename: str) -> IncomingFile:
    async def read() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 1 << 16):
            yield data[start : start + (1 << 16)]

    return IncomingFile(
        filename=filename, declared_size=len(data), content_type="application/pdf", read=read
    )


async def build(data_dir: Path, groups: int, size: int) -> None:
    """An assignment with `groups` one-member groups, each with a distinct file, closed."""
    db = await Database.open(paths.database_path(data_dir), durable=False)
    try:
        await migrate(db)
        files = FileStore(paths.files_dir(data_dir))
        files.prepare()
        clock = FakeClock(START)
        services = build_services(db, files, clock, SilentNotifier())
        await services.assignments.create(
            GUILD,
            STAFF,
            NAME,
            AssignmentOptions(closes="+1h", mode=GroupMode.OPEN),
            sent_at=clock.now(),
            upload_limit_bytes=size + 1,
        )
        for n in range(1, groups + 1):
            actor = Actor(user_id=10_000 + n, display_name=f"s{n}")
            sent = clock.now() + timedelta(seconds=n)
            await services.groups.create(GUILD, actor, NAME, f"{n:04d}", sent_at=sent)
            data = os.urandom(size)  # random: distinct, and the worst case for deflate
            upload = _incoming(data, f"report {n}.pdf")
            await services.submissions.upload(GUILD, actor, NAME, upload, sent_at=sent)
        clock.advance(timedelta(hours=2))
        await services.finalizer.finalize_due()
    finally:
        await db.close()


# --- phases (each runs in its own process) -------------------------------------------------
def _stored(data_dir: Path) -> list[Path]:
    return sorted(p for p in paths.files_dir(data_dir).glob("??/*") if p.is_file())


def phase_export(data_dir: Path, out: Path) -> None:
    async def run() -> None:
        db = await Database.open(paths.database_path(data_dir), durable=False)
        try:
            clock = FakeClock(START + timedelta(hours=3))
            service = ExportService(db, FileStore(paths.files_dir(data_dir)), clock)
            result = await service.export(GUILD, None, NAME, out)
            assert not result.problems and not result.snapshot, result
        finally:
            await db.close()

    asyncio.run(run())


def phase_export_s3(data_dir: Path, out: Path) -> None:
    """The same export with the files read from the bucket (HANDIN_FILES_URL, AWS_* set)."""

    async def run() -> None:
        db = await Database.open(paths.database_path(data_dir), durable=False)
        try:
            clock = FakeClock(START + timedelta(hours=3))
            files = S3FileStore.from_url(os.environ["HANDIN_FILES_URL"], out / "spool")
            service = ExportService(db, files, clock)
            result = await service.export(GUILD, None, NAME, out)
            assert not result.problems and not result.snapshot, result
        finally:
            await db.close()

    asyncio.run(run())


def mirror_to_bucket(data_dir: Path, server: SeaweedFS, url: str) -> None:
    """Put every stored file into the bucket under its key, as the S3 store names them."""
    store = server.store(url)
    for path in _stored(data_dir):
        obstore.put(store, f"{path.parent.name}/{path.name}", path)


def phase_read_each(data_dir: Path, out: Path) -> None:
    for path in _stored(data_dir):
        hashlib.sha256(path.read_bytes()).hexdigest()


def phase_read_all(data_dir: Path, out: Path) -> None:
    blobs = [path.read_bytes() for path in _stored(data_dir)]
    assert len(blobs) > 0


def phase_zip_writestr(data_dir: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / "writestr.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _stored(data_dir):
            archive.writestr(path.name, path.read_bytes())


def phase_zip_in_memory(data_dir: Path, out: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in _stored(data_dir):
            archive.writestr(path.name, path.read_bytes())
    out.mkdir(parents=True, exist_ok=True)
    (out / "in-memory.zip").write_bytes(buffer.getvalue())


PHASE_FUNCTIONS: dict[str, Callable[[Path, Path], None]] = {
    "export": phase_export,
    "export_s3": phase_export_s3,
    "read_each": phase_read_each,
    "read_all": phase_read_all,
    "zip_writestr": phase_zip_writestr,
    "zip_in_memory": phase_zip_in_memory,
}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        # "5" resets VmHWM to the current RSS (Linux >= 4.0).
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(phase: str, meter: str, data_dir: Path, out: Path) -> dict[str, object]:
    run = PHASE_FUNCTIONS[phase]
    if meter == "tracemalloc":
        tracemalloc.start()
        began = time.perf_counter()
        run(data_dir, out)
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"phase": phase, "meter": meter, "growth_mib": peak / MIB, "seconds": seconds}
    reset = _reset_peak()
    before = _status_kib("VmRSS")
    began = time.perf_counter()
    run(data_dir, out)
    seconds = time.perf_counter() - began
    growth = (_status_kib("VmHWM") - before) * 1024
    return {
        "phase": phase,
        "meter": meter,
        "growth_mib": growth / MIB,
        "seconds": seconds,
        "peak_reset": reset,
    }


def _child(
    phase: str, meter: str, data_dir: Path, out: Path, env: dict[str, str] | None = None
) -> dict[str, object]:
    command = [sys.executable, "-m", "tests.bench.export_memory", "--phase", phase]
    command += ["--meter", meter, "--data", str(data_dir), "--out", str(out)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def orchestrate(groups: int, size_mib: float, keep: Path | None, *, s3: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="export-bench-") as temp:
        root = keep or Path(temp)
        data_dir = root / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        asyncio.run(build(data_dir, groups, int(size_mib * MIB)))
        print(f"built {groups} groups x {size_mib:g} MiB in {time.perf_counter() - began:.1f} s")
        results: dict[tuple[str, str], dict[str, object]] = {}
        phases = PHASES
        server = start_seaweedfs(root / "seaweedfs") if s3 else None
        env: dict[str, str] = {}
        try:
            if server is not None:
                url = server.fresh_url()
                mirror_to_bucket(data_dir, server, url)
                env = server.environment | {"HANDIN_FILES_URL": url}
                phases = ("export", "export_s3", *PHASES[1:])
            for phase in phases:
                for meter in ("rss", "tracemalloc"):
                    out = root / "out" / f"{phase}-{meter}"
                    results[phase, meter] = _child(phase, meter, data_dir, out, env)
        finally:
            if server is not None:
                server.stop()
        return _report(results, phases)


def _report(
    results: dict[tuple[str, str], dict[str, object]], phases: tuple[str, ...] = PHASES
) -> int:
    def mib(phase: str, meter: str) -> float:
        return float(results[phase, meter]["growth_mib"])  # type: ignore[arg-type]

    print(f"{'phase':<15}{'RSS growth':>12}{'tracemalloc':>13}{'time':>9}  what")
    for phase in phases:
        seconds = float(results[phase, "rss"]["seconds"])  # type: ignore[arg-type]
        note = BASELINE_NOTES.get(phase, "ExportService.export (streamed, 1 MiB blocks)")
        print(
            f"{phase:<15}{mib(phase, 'rss'):>9.1f} MiB{mib(phase, 'tracemalloc'):>9.1f} MiB"
            f"{seconds:>8.1f}s  {note}"
        )
    print("ratios (baseline growth / export growth):")
    for phase in PHASES[1:]:
        for meter in ("rss", "tracemalloc"):
            ratio = mib(phase, meter) / max(mib("export", meter), 0.01)
            print(f"  {phase:<15}{meter:<12}{ratio:>7.1f}x")
    if not results["export", "rss"].get("peak_reset", False):
        print("note: VmHWM could not be reset; RSS growth is measured from process start")
    worst = max(mib(p, m) for p in phases if p.startswith("export") for m in ("rss", "tracemalloc"))
    verdict = "PASS" if worst < TARGET_MIB else "FAIL"
    print(f"export peak growth {worst:.1f} MiB, target < {TARGET_MIB} MiB: {verdict}")
    return 0 if verdict == "PASS" else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.export_memory")
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--size-mib", type=float, default=1.0)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    parser.add_argument("--s3", action="store_true", help="also export from SeaweedFS (S3)")
    parser.add_argument("--phase", choices=tuple(PHASE_FUNCTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--meter", choices=("rss", "tracemalloc"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(measure(args.phase, args.meter, args.data, args.out)))
        return 0
    return orchestrate(args.groups, args.size_mib, args.keep, s3=args.s3)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
