"""The set-based finalization records exactly what finalizing group by group records.

Each scenario is written straight into two databases (so it can hold what the services would
refuse today but old data may hold: uploads after a deadline, ties in `sent_at`, reopened groups
with receipts already sent), then finalized once with the bulk path and once with every group
through `record_final`; the tables and the returned changes must match.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.models import Assignment, Group
from bot.services.finalization import FinalizationChange, Finalizer, record_final
from bot.services.ports import Wakeups
from storage.db import Connection, Database, SqliteDatabase, execute, fetch_all, insert
from storage.timefmt import opt_to_db, to_db
from tests.backends import ON_POSTGRESQL, fresh_database
from tests.clock import FakeClock
from tests.conftest import GUILD, START

CLOSES = 60  # minutes after START


class OneByOneFinalizer(Finalizer):
    """The reference: every due group through `record_final`, as before the bulk path."""

    async def _finalize_groups(
        self, conn: Connection, assignment: Assignment, due: list[Group], now: datetime
    ) -> list[FinalizationChange]:
        changes = [await record_final(conn, assignment, group, now) for group in due]
        return [change for change in changes if change is not None]


@dataclass
class GroupSpec:
    pin: str
    extension: int | None = None  # the group's own deadline, minutes after START
    members: int = 1
    uploads: list[float] = field(default_factory=list)  # sent_at, minutes after START
    # (index into uploads, minutes after that upload was sent)
    handins: list[tuple[int, int]] = field(default_factory=list)
    # A reopened group: revision 1 recorded earlier (upload index or None), receipts `status`.
    prior: tuple[int | None, str] | None = None
    finalized: bool = False


@dataclass
class AssignmentSpec:
    groups: list[GroupSpec]
    late_window: int | None = None  # minutes
    auto_submit: bool = True
    submit_once: bool = False


async def build(db: Database, assignments: list[AssignmentSpec]) -> None:
    """Write the scenario with plain SQL (ids come out the same in every database)."""
    conn = db.conn
    created = to_db(START - timedelta(days=1))
    user = 1000
    for n, spec in enumerate(assignments):
        late_until = None if spec.late_window is None else at(CLOSES + spec.late_window)
        assignment_id = await insert(
            conn,
            "INSERT INTO assignments (guild_id, name, name_key, opens_at, closes_at, late_until,"
            " group_mode, auto_submit, submit_once, created_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, 1, ?)",
            (
                GUILD,
                f"Lab {n}",
                f"lab {n}",
                created,
                to_db(at(CLOSES)),
                opt_to_db(late_until),
                int(spec.auto_submit),
                int(spec.submit_once),
                created,
            ),
        )
        numbers = iter(random.Random(n).sample(range(10000, 99999), 1000))
        for group in spec.groups:
            group_id = await insert(
                conn,
                "INSERT INTO groups (assignment_id, pin, closes_at, finalized_at, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    assignment_id,
                    group.pin,
                    None if group.extension is None else to_db(at(group.extension)),
                    to_db(START) if group.finalized else None,
                    created,
                ),
            )
            users = []
            for _ in range(group.members):
                user += 1
                users.append(user)
                await execute(
                    conn,
                    "INSERT INTO candidates (assignment_id, user_id, number, registered_at)"
                    " VALUES (?, ?, ?, ?)",
                    (assignment_id, user, next(numbers), created),
                )
                await execute(
                    conn,
                    "INSERT INTO memberships (assignment_id, user_id, group_id, joined_at)"
                    " VALUES (?, ?, ?, ?)",
                    (assignment_id, user, group_id, created),
                )
            upload_ids = []
            for k, sent in enumerate(group.uploads):
                upload_ids.append(
                    await insert(
                        conn,
                        "INSERT INTO uploads (group_id, user_id, filename, size, sha256, sent_at,"
                        " stored_at) VALUES (?, ?, ?, 10, ?, ?, ?)",
                        (
                            group_id,
                            users[0] if users else 1,
                            f"u{k}.pdf",
                            f"{group_id:032x}{k:032x}",
                            to_db(at(sent)),
                            to_db(at(sent)),
                        ),
                    )
                )
            for index, after in group.handins:
                await execute(
                    conn,
                    "INSERT INTO handins (group_id, upload_id, user_id, sent_at)"
                    " VALUES (?, ?, ?, ?)",
                    (group_id, upload_ids[index], 1, to_db(at(group.uploads[index] + after))),
                )
            if group.prior is not None:
                prior_upload, status = group.prior
                await execute(
                    conn,
                    "INSERT INTO submissions (group_id, revision, upload_id, late, recorded_at)"
                    " VALUES (?, 1, ?, 0, ?)",
                    (group_id, None if prior_upload is None else upload_ids[prior_upload], created),
                )
                for member in users if prior_upload is not None else []:
                    await execute(
                        conn,
                        "INSERT INTO receipts (group_id, revision, user_id, status, created_at)"
                        " VALUES (?, 1, ?, ?, ?)",
                        (group_id, member, status, created),
                    )


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


TABLES = {
    "submissions": "SELECT * FROM submissions ORDER BY group_id, revision",
    "receipts": "SELECT group_id, revision, user_id, replaces, status, created_at FROM receipts"
    " ORDER BY group_id, id",
    "groups": "SELECT id, finalized_at FROM groups ORDER BY id",
}


@dataclass
class Outcome:
    changes: list[list[FinalizationChange]]
    tables: dict[str, list[tuple[object, ...]]]
    receipts_by_id: list[tuple[object, ...]]
    statements: list[int]


async def finalize(
    path: Path, assignments: list[AssignmentSpec], times: list[float], *, bulk: bool
) -> Outcome:
    async with fresh_database(path.parent, path.name) as db:
        await build(db, assignments)
        clock = FakeClock(START)
        kind = Finalizer if bulk else OneByOneFinalizer
        finalizer = kind(db, clock, Wakeups())
        statements: list[str] = []
        # Statements are counted on SQLite (its trace callback); PostgreSQL runs the same SQL.
        if isinstance(db, SqliteDatabase):
            await db.raw.set_trace_callback(statements.append)
        changes, counts = [], []
        for minutes in times:
            clock.set(at(minutes))
            statements.clear()
            changes.append(await finalizer.finalize_due())
            counts.append(len(statements))
        if isinstance(db, SqliteDatabase):
            # sqlite3 takes None to remove the callback; aiosqlite's annotation leaves it out.
            await db.raw.set_trace_callback(None)  # type: ignore[arg-type]
        tables = {
            name: [tuple(row) for row in await fetch_all(db.conn, sql)]
            for name, sql in TABLES.items()
        }
        by_id = await fetch_all(
            db.conn, "SELECT group_id, revision, user_id, replaces FROM receipts ORDER BY id"
        )
        return Outcome(changes, tables, [tuple(row) for row in by_id], counts)


async def both(
    tmp: Path, assignments: list[AssignmentSpec], times: list[float]
) -> tuple[Outcome, Outcome]:
    fast = await finalize(tmp / "bulk.sqlite3", assignments, times, bulk=True)
    slow = await finalize(tmp / "slow.sqlite3", assignments, times, bulk=False)
    return fast, slow


def assert_same(fast: Outcome, slow: Outcome, assignments: list[AssignmentSpec]) -> None:
    assert fast.changes == slow.changes
    assert fast.tables == slow.tables
    if not any(g.prior for spec in assignments for g in spec.groups):
        # Without recomputed groups the outbox is even queued in the same order.
        assert fast.receipts_by_id == slow.receipts_by_id


def varied() -> list[AssignmentSpec]:
    groups = [
        GroupSpec("5000", members=3, uploads=[10, 20, 30]),
        GroupSpec("1000", members=2, uploads=[30, 30, 30]),  # a three-way tie: highest id
        GroupSpec("4000", members=2, uploads=[10, 50], handins=[(0, 5)]),  # replaced hand-in
        GroupSpec("2000", members=2, uploads=[10, 50], handins=[(1, 2)]),  # hand-in kept
        GroupSpec("3000", members=1, uploads=[10, 20], handins=[(1, 0), (0, 70)]),  # after
        GroupSpec("6000", members=0, uploads=[15]),  # everyone left: recorded, no receipt
        GroupSpec("7000", members=3),  # no upload: only finalized_at
        GroupSpec("8000", members=1, uploads=[59.999, 60, 90]),  # 90: after the window
        GroupSpec("0100", members=2, uploads=[20, 75], extension=80),  # extension: on time
        GroupSpec("0200", members=1, uploads=[85, 100], extension=80),  # late in its window
        GroupSpec("0300", members=1, uploads=[20, 150], extension=140),  # not due at 120
        GroupSpec("0400", members=2, uploads=[20], finalized=True),  # already done
        GroupSpec("0500", members=2, uploads=[10, 40], prior=(0, "sent")),  # reopened
        GroupSpec("0600", members=2, uploads=[10], prior=(0, "pending")),  # unchanged
        GroupSpec("0700", members=1, uploads=[70, 95]),  # late, within the window
        GroupSpec("0800", members=1, uploads=[95, 95, 91]),  # ties in the late window
    ]
    return [
        AssignmentSpec(groups, late_window=30),
        AssignmentSpec(  # no late window: an upload at the deadline is too late
            [GroupSpec("1111", 1, uploads=[10, 70]), GroupSpec("2222", 1, uploads=[10, 60])]
        ),
        AssignmentSpec(
            [
                GroupSpec("1111", 2, uploads=[10, 20], handins=[(0, 1)]),
                GroupSpec("2222", 2, uploads=[10]),
            ],
            auto_submit=False,
        ),
        AssignmentSpec(
            [
                GroupSpec("1111", 2, uploads=[10, 20], handins=[(0, 1)]),
                GroupSpec("2222", 2, uploads=[10, 20]),
            ],
            submit_once=True,
        ),
    ]


async def test_bulk_records_exactly_what_group_by_group_records(tmp_path: Path) -> None:
    assignments = varied()
    fast, slow = await both(tmp_path, assignments, [30, 90, 120, 500, 501])
    assert_same(fast, slow, assignments)
    # The scenario exercised what it meant to: bulk rows, a recompute, receipts.
    [_, at_90, at_120, _, again] = fast.changes
    assert at_90 and at_120 and not again
    assert any(change.revision == 2 for change in at_90)
    assert any(change.late for change in at_90)
    assert sum(change.receipts for batch in fast.changes for change in batch) > 10


async def test_bulk_finalization_of_fresh_groups_takes_a_fixed_number_of_statements(
    tmp_path: Path,
) -> None:
    many = [GroupSpec(f"{n:04d}", members=2, uploads=[10, 20]) for n in range(1, 201)]
    assignments = [AssignmentSpec(many)]
    fast, slow = await both(tmp_path, assignments, [61])
    assert_same(fast, slow, assignments)
    assert len(fast.changes[0]) == 200 and all(c.receipts == 2 for c in fast.changes[0])
    if not ON_POSTGRESQL:  # statements are counted on SQLite
        # A snapshot read that finds what is due (outside the write lock), then the writes.
        assert fast.statements[0] <= 18 < 1000 < slow.statements[0]


group_specs = st.builds(
    GroupSpec,
    pin=st.just(""),
    extension=st.none() | st.sampled_from([70, 90, 130]),
    members=st.integers(0, 3),
    uploads=st.lists(st.sampled_from([0, 30, 59, 60, 61, 75, 89, 90, 91, 120, 125]), max_size=4),
    handins=st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0, 1, 30])), max_size=2),
    prior=st.none()
    | st.tuples(st.none() | st.integers(0, 3), st.sampled_from(["sent", "pending"])),
    finalized=st.booleans(),
)
assignment_specs = st.builds(
    AssignmentSpec,
    groups=st.lists(group_specs, max_size=6),
    late_window=st.none() | st.sampled_from([15, 30]),
    auto_submit=st.booleans(),
    submit_once=st.booleans(),
)


def valid(spec: AssignmentSpec, n: int) -> AssignmentSpec:
    """Distinct shuffled pins; hand-ins and prior submissions only of the group's own uploads."""
    pins = random.Random(n).sample(range(10000), len(spec.groups))
    for group, pin in zip(spec.groups, pins, strict=True):
        group.pin = f"{pin:04d}"
        group.handins = [(i, after) for i, after in group.handins if i < len(group.uploads)]
        if group.prior is not None and (group.prior[0] or 0) >= len(group.uploads):
            group.prior = (None, group.prior[1])
    return spec


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    assignments=st.lists(assignment_specs, min_size=1, max_size=3),
    times=st.lists(st.sampled_from([59, 60, 75, 90, 100, 121, 200]), min_size=1, max_size=3),
)
def test_bulk_matches_group_by_group_on_random_scenarios(
    assignments: list[AssignmentSpec], times: list[float]
) -> None:
    assignments = [valid(spec, n) for n, spec in enumerate(assignments)]
    with tempfile.TemporaryDirectory(prefix="handin-bulk-") as tmp:
        fast, slow = asyncio.run(both(Path(tmp), assignments, sorted(times)))
    assert_same(fast, slow, assignments)
