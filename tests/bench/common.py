"""Shared pieces of the benchmarks: worlds, data-dir preparation, measurements and reporting."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import paths
from bot.domain.clock import SystemClock
from bot.domain.models import (
    Actor,
    Assignment,
    GroupMode,
    Person,
)
from bot.services.assignments import AssignmentOptions
from bot.services.groups import CsvSource
from bot.services.ports import SilentNotifier
from bot.services.registry import Services, build_services
from sandbox import Sandbox, SandboxGuild, SandboxUser
from storage.connect import connect_database
from storage.db import Database
from storage.files import FileStore
from storage.migrate import migrate

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench-results"
BOT_ARGV = [sys.executable, "-m", "bot"]
BASELINE_ARGV = [sys.executable, "-m", "tests.bench.baseline_bot"]


# --- the world -------------------------------------------------------------------------------
def bench_sandbox(**options: Any) -> Sandbox:
    """A sandbox whose token passes `bot.config.check_token` (the default "SANDBOX.<id>.<hmac>"
    is refused by `python -m bot` because its first part is shorter than 20 characters)."""
    import secrets

    token = f"{secrets.token_urlsafe(18)}.{secrets.token_urlsafe(6)}.{secrets.token_urlsafe(27)}"
    return Sandbox(token=token, **options)


@dataclass
class World:
    sandbox: Sandbox
    guild: SandboxGuild
    students: list[SandboxUser]

    @property
    def staff(self) -> Actor:
        return Actor(user_id=self.sandbox.owner.id, display_name="staff", can_manage_guild=True)

    def people(self) -> list[Person]:
        return [Person(user_id=u.id, username=u.username) for u in self.students]


def build_world(
    sandbox: Sandbox,
    students: int,
    *,
    name: str = "Bench course",
    shard: tuple[int, int] | None = None,
) -> World:
    guild = sandbox.add_guild(name, shard=shard)
    users = [sandbox.add_member(guild, f"s{n:05d}") for n in range(students)]
    return World(sandbox, guild, users)


def build_sharded_worlds(sandbox: Sandbox, students: int, shards: int) -> list[World]:
    """`students` split over one course server per shard (server i on shard i of `shards`)."""
    worlds: list[World] = []
    for shard in range(shards):
        share = students // shards + (1 if shard < students % shards else 0)
        guild = sandbox.add_guild(f"Bench course {shard}", shard=(shard, shards))
        users = [sandbox.add_member(guild, f"s{shard}x{n:05d}") for n in range(share)]
        worlds.append(World(sandbox, guild, users))
    return worlds


class BenchDatabase:
    """Where a bench's bot keeps its database: the SQLite file of its data dir, or (`url`) a
    fresh database of a throwaway PostgreSQL cluster (tests/backends.py starts it)."""

    def __init__(self, data_dir: Path, url: str | None = None) -> None:
        self.data_dir = data_dir
        self.url = url

    @classmethod
    async def create(cls, data_dir: Path, kind: str) -> BenchDatabase:
        if kind == "sqlite":
            return cls(data_dir)
        from tests import backends

        # In a thread: starting the cluster migrates its template with asyncio.run.
        cluster = await asyncio.to_thread(backends.cluster)
        return cls(data_dir, cluster.url(await asyncio.to_thread(cluster.create_database)))

    @property
    def label(self) -> str:
        return "SQLite" if self.url is None else "PostgreSQL"

    def env(self) -> dict[str, str]:
        return {} if self.url is None else {"HANDIN_DATABASE_URL": self.url}

    async def open(self) -> Database:
        db = await connect_database(self.url, paths.database_path(self.data_dir), durable=False)
        await migrate(db)
        return db

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        if self.url is None:
            return db_query(self.data_dir, sql, params)
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return list(conn.execute(sql.replace("?", "%s"), tuple(params)).fetchall())

    def execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        if self.url is None:
            with sqlite3.connect(paths.database_path(self.data_dir)) as conn:
                conn.execute(sql, tuple(params))
            return
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), tuple(params))


class Prepared:
    """Services over a data dir for setting it up before the bot starts (not durable: speed)."""

    def __init__(self, data_dir: Path, database: BenchDatabase | None = None) -> None:
        self.data_dir = data_dir
        self.database = database or BenchDatabase(data_dir)
        self.db: Database | None = None
        self.services: Services | None = None

    async def __aenter__(self) -> Services:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = await self.database.open()
        files = FileStore(paths.files_dir(self.data_dir))
        files.prepare()
        self.services = build_services(self.db, files, SystemClock(), SilentNotifier())
        return self.services

    async def __aexit__(self, *exc: object) -> None:
        assert self.db is not None
        await self.db.close()


async def create_assignment(
    services: Services,
    world: World,
    name: str,
    *,
    closes: str = "+2h",
    mode: GroupMode = GroupMode.PREDEFINED,
) -> Assignment:
    return await services.assignments.create(
        world.guild.id,
        world.staff,
        name,
        AssignmentOptions(closes=closes, mode=mode, reminders="off"),
        sent_at=datetime.now(UTC),
        upload_limit_bytes=10 * MIB,
        default_channel_id=world.guild.default_channel.id,
    )


async def import_groups(
    services: Services, world: World, name: str, groups: Sequence[Sequence[SandboxUser]]
) -> None:
    """Predefined groups `g00001`... through the staff CSV import (one transaction)."""
    lines = ["group_name,member"]
    for n, members in enumerate(groups, start=1):
        lines += [f"g{n:05d},{u.id}" for u in members]
    data = ("\n".join(lines) + "\n").encode()
    await services.groups.staff_import(
        world.guild.id, world.staff, name, CsvSource.of(data), world.people()
    )


def chunked(users: Sequence[SandboxUser], size: int) -> list[list[SandboxUser]]:
    return [list(users[i : i + size]) for i in range(0, len(users), size)]


def set_deadline(
    data_dir: Path,
    assignment_id: int,
    closes_at: datetime,
    database: BenchDatabase | None = None,
) -> None:
    """Move a deadline with plain SQL (the format storage/timefmt.py writes)."""
    from storage.timefmt import to_db

    (database or BenchDatabase(data_dir)).execute(
        "UPDATE assignments SET closes_at = ? WHERE id = ?", (to_db(closes_at), assignment_id)
    )


def db_query(data_dir: Path, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """Read the bot's database from outside (WAL: readers never block the bot)."""
    uri = f"file:{paths.database_path(data_dir)}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        return list(conn.execute(sql, tuple(params)))
    finally:
        conn.close()


def stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in paths.files_dir(data_dir).glob("??/*") if p.is_file())


def rehash_all(data_dir: Path) -> tuple[int, list[str]]:
    """(files checked, names whose bytes do not hash to their name)."""
    bad: list[str] = []
    files = stored_files(data_dir)
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        name = path.parent.name + path.name
        if digest.hexdigest() != name:
            bad.append(name)
    return len(files), bad


def file_payloads(count: int, size: int, *, prefix: str) -> list[tuple[str, bytes, str]]:
    """Distinct files of `size` bytes (a shared random body with a unique head)."""
    body = os.urandom(size)
    out = []
    for n in range(count):
        head = f"%PDF-1.4 {prefix} {n:06d}\n".encode()
        out.append((f"{prefix}-{n:05d}.pdf", head + body[len(head) :], "application/pdf"))
    return out


# --- measurement -----------------------------------------------------------------------------
def proc_status_kib(pid: int, field_name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    kib = proc_status_kib(pid, "VmHWM")
    return None if kib is None else kib / 1024


def thread_cpu_s(pid: int | None) -> dict[str, float]:
    """CPU seconds a process has used so far, user and system, its main thread (the event
    loop) apart from the others (worker threads: hashing, writes, fsync, the database)."""
    if pid is None:
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    totals = {"loop_user": 0.0, "loop_sys": 0.0, "threads_user": 0.0, "threads_sys": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            # Fields after the command name (which may hold spaces): utime, stime are 14, 15.
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        who = "loop" if task.name == str(pid) else "threads"
        totals[f"{who}_user"] += int(fields[11]) / tick
        totals[f"{who}_sys"] += int(fields[12]) / tick
    return totals


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    kib = proc_status_kib(pid, "VmRSS")
    return None if kib is None else kib / 1024


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "n": float(len(values)),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
        "mean": statistics.fmean(values) if values else None,
    }


class Timer:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.start


# --- reporting -------------------------------------------------------------------------------
def command_line() -> str:
    return "python -m tests.bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def machine() -> dict[str, str]:
    import discord

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": mem,
        "python": platform.python_version(),
        "discord.py": discord.__version__,
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


@dataclass
class Row:
    figure: str
    ours: Any
    baseline: Any = None
    ratio: Any = None
    target: str = ""
    ok: bool | None = None


@dataclass
class Report:
    name: str
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, *args: Any, **kwargs: Any) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row

    def render(self) -> str:
        def fmt(value: Any) -> str:
            if value is None:
                return "-"
            if isinstance(value, float):
                return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
            return str(value)

        header = ("figure", "ours", "baseline", "ours/baseline", "target", "met")
        lines = [[*header]]
        for row in self.rows:
            met = "" if row.ok is None else ("yes" if row.ok else "NO")
            lines.append(
                [row.figure, fmt(row.ours), fmt(row.baseline), fmt(row.ratio), row.target, met]
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        out = []
        for n, line in enumerate(lines):
            out.append(
                "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=False)) + " |"
            )
            if n == 0:
                out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(out)

    def save(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{self.name}-{stamp}.json"
        data = {
            "benchmark": self.name,
            "command": command_line(),
            "finished_at": stamp,
            "machine": machine(),
            "rows": [row.__dict__ for row in self.rows],
            **self.extra,
        }
        path.write_text(json.dumps(data, indent=2, default=str))
        (RESULTS / f"{self.name}-latest.json").write_text(json.dumps(data, indent=2, default=str))
        return path

    def print(self) -> None:
        print(f"\n## {self.name}   (reproduce: {command_line()})")
        print(self.render())
        path = self.save()
        print(f"results: {path.relative_to(ROOT)}")


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# --- profiling -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Profile:
    """py-spy on our bot for the measured phase: `out` ends in .txt (collapsed stacks, for grep
    and flame-graph tools) or .svg (a flame graph); `native` adds the C frames (hashing, the
    SQLite library, the kernel calls), which py-spy can only read by pausing the process;
    `gil` samples only the thread that holds the GIL (who keeps the event loop waiting)."""

    out: str
    native: bool = False
    gil: bool = False


async def start_py_spy(pid: int | None, profile: Profile) -> Any:
    """Attach py-spy (pip install py-spy) to the bot."""
    import asyncio

    assert pid is not None
    fmt = "raw" if profile.out.endswith(".txt") else "flamegraph"
    Path(profile.out).parent.mkdir(parents=True, exist_ok=True)
    # --native cannot read a running process: it pauses it for each sample (a slower bot).
    how = ["--native"] if profile.native else ["--nonblocking"]
    how += ["--gil"] if profile.gil else []
    proc = await asyncio.create_subprocess_exec(
        "py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", fmt,
        "--output", profile.out, *how,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(0.5)
    return proc


async def stop_py_spy(proc: Any) -> None:
    import asyncio
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(proc.wait(), 20)
    except TimeoutError:
        proc.kill()


async def sync_commands(sandbox: Sandbox, data_dir: Path, env: dict[str, str]) -> None:
    """`python -m bot sync`: the deploy step before sharded processes start."""
    proc = await asyncio.create_subprocess_exec(
        *BOT_ARGV,
        "sync",
        env=dict(os.environ) | sandbox.env(data_dir) | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode != 0:
        raise RuntimeError(f"python -m bot sync failed:\n{output.decode()}")
