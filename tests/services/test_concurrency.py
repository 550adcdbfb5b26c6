"""Concurrent joins and uploads through the one shared connection."""

from __future__ import annotations

import asyncio

from bot.domain.errors import GroupFullError
from bot.services.registry import Services
from storage.db import Database, fetch_all
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, incoming, later, make_assignment, sha, student
from tests.filestore import intact


async def test_twenty_concurrent_joins_fill_a_three_seat_group_exactly(
    services: Services, db: Database
) -> None:
    await make_assignment(services, max_group_size=3)
    now = services.clock.now()
    await services.groups.create(GUILD, student(0), "Lab 1", "1234", sent_at=now)
    results = await asyncio.gather(
        *(
            services.groups.join(GUILD, student(n), "Lab 1", "1234", sent_at=now)
            for n in range(1, 21)
        ),
        return_exceptions=True,
    )
    joined = [r for r in results if not isinstance(r, BaseException)]
    full = [r for r in results if isinstance(r, GroupFullError)]
    assert len(joined) == 2 and len(full) == 18
    rows = await fetch_all(db.conn, "SELECT count(*) FROM memberships")
    assert rows[0][0] == 3


async def test_twenty_concurrent_joins_into_an_empty_three_seat_group(
    services: Services, db: Database
) -> None:
    # The creator leaves an upload behind so the empty group is kept, then 20 race for 3 seats.
    await make_assignment(services, max_group_size=3)
    now = services.clock.now()
    await services.groups.create(GUILD, student(0), "Lab 1", "1234", sent_at=now)
    await services.submissions.upload(GUILD, student(0), "Lab 1", incoming(b"x"), sent_at=now)
    await services.groups.leave(GUILD, student(0), "Lab 1", sent_at=now)
    results = await asyncio.gather(
        *(
            services.groups.join(GUILD, student(n), "Lab 1", "1234", sent_at=now)
            for n in range(1, 21)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert sum(isinstance(r, GroupFullError) for r in results) == 17
    assert all(not isinstance(r, BaseException) or isinstance(r, GroupFullError) for r in results)
    rows = await fetch_all(db.conn, "SELECT count(*) FROM memberships")
    assert rows[0][0] == 3


async def test_fifty_concurrent_uploads_from_one_group_are_all_recorded(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    now = clock.now()
    await services.groups.create(GUILD, student(0), "Lab 1", "1234", sent_at=now)
    for n in (1, 2):
        await services.groups.join(GUILD, student(n), "Lab 1", "1234", sent_at=now)
    payloads = [f"version {i}".encode() * (i + 1) for i in range(50)]
    # Sent in order i = 0..49, delivered in a scrambled order.
    order = sorted(range(50), key=lambda i: (i * 37) % 50)
    results = await asyncio.gather(
        *(
            services.submissions.upload(
                GUILD,
                student(i % 3),
                "Lab 1",
                incoming(payloads[i], f"v{i}.pdf"),
                sent_at=later(clock, i + 1),
            )
            for i in order
        )
    )
    assert len({r.upload.id for r in results}) == 50
    rows = await fetch_all(db.conn, "SELECT sha256 FROM uploads")
    assert sorted(r["sha256"] for r in rows) == sorted(sha(p) for p in payloads)
    assert all(intact(files, sha(p)) for p in payloads)
    assert list((files.root / "tmp").iterdir()) == []
    clock.advance(3600)
    [change] = await services.finalizer.finalize_due()
    assert change.upload is not None and change.upload.sha256 == sha(payloads[-1])
