"""`python -m tests.bench rush|close|scale|crash [...]`: the load benchmarks of issue #7.

Each prints a table (every figure with the command that reproduces it) and writes JSON to
bench-results/ (gitignored). See BENCHMARKS.md for the last results and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from tests.bench.common import Profile, machine


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    sub = parser.add_subparsers(dest="bench", required=True)

    p = sub.add_parser("rush", help="S students upload 1 MiB at once; ours vs a minimal bot")
    p.add_argument("-S", "--students", type=int, default=1000)
    p.add_argument("--size-mib", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the data dirs (printed)")
    p.add_argument("--profile", help="py-spy output for our bot (.txt collapsed or .svg)")
    p.add_argument("--native", action="store_true", help="with --profile: C frames too")
    p.add_argument("--gil", action="store_true", help="with --profile: only the GIL's holder")
    p.add_argument(
        "--store",
        choices=("local", "s3", "both"),
        default="local",
        help="our bot's files on the local disk, in SeaweedFS (S3), or each in turn",
    )

    p.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: the rush over --processes processes on one PostgreSQL, against one"
        " process on SQLite in the same run",
    )
    p.add_argument("--processes", type=int, default=1, help="bot processes (shards), with --db")
    p.add_argument(
        "--variants",
        default="",
        help="also run, in each run, these variants of our bot (comma-separated): asyncio-loop,"
        " no-orjson, no-speed-extra, no-aiohttp-c, none (all three off), rev:GIT-REVISION",
    )

    p = sub.add_parser("close", help="2,000 groups finalized at a deadline, receipts paced")
    p.add_argument("--groups", type=int, default=2000)
    p.add_argument("--members", type=int, default=1, help="members per group (receipts each)")
    p.add_argument("--lead", type=float, default=6.0, help="seconds from bot start to deadline")
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--profile", help="py-spy output for our bot (.txt collapsed or .svg)")
    p.add_argument("--native", action="store_true", help="with --profile: C frames too")
    p.add_argument("--gil", action="store_true", help="with --profile: only the GIL's holder")

    p = sub.add_parser("scale", help="10,000 candidates, 3,500 groups: RSS and p99 latency")
    p.add_argument("--candidates", type=int, default=10_000)
    p.add_argument("--groups", type=int, default=3_500)
    p.add_argument("--assignments", type=int, default=20)
    p.add_argument("--users", type=int, default=50, help="concurrent users")
    p.add_argument("--requests", type=int, default=1000, help="requests per command")
    p.add_argument("--profile", help="py-spy output for our bot (.txt collapsed or .svg)")
    p.add_argument("--native", action="store_true", help="with --profile: C frames too")
    p.add_argument("--gil", action="store_true", help="with --profile: only the GIL's holder")
    p.add_argument("--list-candidates", type=int, default=400, help="the listed course")
    p.add_argument("--list-groups", type=int, default=130)
    p.add_argument("--list-requests", type=int, default=200, help="per list command")
    p.add_argument("--lists-only", action="store_true", help="only the listed course")

    p = sub.add_parser("crash", help="kill -9 during a rush, restart, check nothing is lost")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("-S", "--students", type=int, default=150)
    p.add_argument("--size-mib", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=None)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    profile = None
    if getattr(args, "profile", None):
        profile = Profile(args.profile, args.native, args.gil)
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), flush=True)
    if args.bench == "rush" and (args.db != "sqlite" or args.processes > 1):
        from tests.bench.rush import rush_processes

        report = asyncio.run(
            rush_processes(args.students, args.size_mib, args.processes, db=args.db)
        )
    elif args.bench == "rush":
        from tests.bench.rush import rush

        report = asyncio.run(
            rush(
                args.students,
                args.size_mib,
                args.runs,
                baseline=not args.no_baseline,
                keep=args.keep,
                profile=profile,
                store=args.store,
                variants=tuple(v for v in args.variants.split(",") if v),
            )
        )
    elif args.bench == "close":
        from tests.bench.close import close

        report = asyncio.run(
            close(args.groups, args.members, args.lead, profile=profile, db=args.db)
        )
    elif args.bench == "scale":
        from tests.bench.scale import scale

        report = asyncio.run(
            scale(
                args.candidates,
                args.groups,
                args.assignments,
                args.users,
                args.requests,
                profile=profile,
                list_candidates=args.list_candidates,
                list_groups=args.list_groups,
                list_requests=args.list_requests,
                lists_only=args.lists_only,
            )
        )
    else:
        from tests.bench.crash import crash

        report = asyncio.run(crash(args.trials, args.students, args.size_mib, args.seed))
    report.print()
    failed = [row.figure for row in report.rows if row.ok is False]
    if failed:
        print("targets not met: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
