"""Shared fixtures: a real database (SQLite, or PostgreSQL: tests/backends.py) and file store in
a temp dir, a fake clock, and a notifier that records what it was asked to send."""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.delivery import DELIVERED, WITHDRAWN, Delivery, DmFailure
from bot.domain.feedback import FeedbackDm
from bot.domain.models import (
    Actor,
    Assignment,
    Group,
    GroupMode,
    Person,
    Receipt,
    Reminder,
    UploadNotice,
)
from bot.services.assignments import AssignmentOptions
from bot.services.ports import Notifier
from bot.services.registry import Services, build_services
from bot.services.submissions import IncomingFile
from storage.db import Database
from storage.files import POOL_THREAD_PREFIX, FileStore
from tests import backends
from tests.clock import FakeClock
from tests.s3 import SeaweedFS, start_seaweedfs

GUILD = 1000
STAFF = Actor(user_id=1, display_name="TA", can_manage_guild=True)
LIMIT = 10 * 1024 * 1024
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def student(n: int, *roles: int) -> Actor:
    return Actor(user_id=100 + n, display_name=f"student{n}", role_ids=frozenset(roles))


@dataclass
class RecordingNotifier:
    receipts: list[Receipt] = field(default_factory=list)
    notices: list[UploadNotice] = field(default_factory=list)
    reopened: list[tuple[int, list[int]]] = field(default_factory=list)
    resets: list[tuple[int, list[int]]] = field(default_factory=list)
    closed_dms: set[int] = field(default_factory=set)
    reminders: list[Reminder] = field(default_factory=list)
    channel_reminders: list[tuple[int, datetime]] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    # user id -> what the next DMs to them meet, one Delivery each (then they go through).
    failures: dict[int, list[Delivery]] = field(default_factory=dict)
    withdrawn: list[Receipt] = field(default_factory=list)
    channel_fails: bool = False
    feedback: list[FeedbackDm] = field(default_factory=list)
    retention_notices: list[tuple[int, int, datetime]] = field(default_factory=list)

    def _outcome(self, user_id: int) -> Delivery:
        if user_id in self.closed_dms:
            return Delivery(DmFailure.CLOSED, 50007)
        scripted = self.failures.get(user_id)
        return scripted.pop(0) if scripted else DELIVERED

    async def send_receipt(
        self, receipt: Receipt, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        if not await still_wanted():
            self.withdrawn.append(receipt)
            return WITHDRAWN
        outcome = self._outcome(receipt.user_id)
        if outcome.sent:
            self.receipts.append(receipt)
        return outcome

    async def upload_notice(self, notice: UploadNotice) -> None:
        self.notices.append(notice)

    async def group_reopened(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        self.reopened.append((group.id, user_ids))

    async def agreement_reset(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        self.resets.append((group.id, sorted(user_ids)))

    async def send_reminder(self, reminder: Reminder) -> Delivery:
        outcome = self._outcome(reminder.user_id)
        if outcome.sent:
            self.reminders.append(reminder)
        return outcome

    async def post_reminder(self, assignment: Assignment, deadline: datetime) -> bool:
        if self.channel_fails:
            raise RuntimeError("the channel is gone")
        self.channel_reminders.append((assignment.id, deadline))
        return True

    def guild_people(self, guild_id: int) -> list[Person]:
        return list(self.people)

    async def send_feedback(
        self, dm: FeedbackDm, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        if not await still_wanted():
            return WITHDRAWN
        outcome = self._outcome(dm.user_id)
        if outcome.sent:
            self.feedback.append(dm)
        return outcome

    async def send_retention_notice(
        self, assignment: Assignment, user_id: int, purge_at: datetime
    ) -> Delivery:
        outcome = self._outcome(user_id)
        if outcome.sent:
            self.retention_notices.append((assignment.id, user_id, purge_at))
        return outcome


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One S3-compatible server for the session, started by the first test that asks."""
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


# The fake stands in for the Notifier port: mypy checks here that it still matches it.
_NOTIFIER_CONFORMS: Notifier = RecordingNotifier()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(scope="session", autouse=True)
def database_backend() -> Iterator[str]:
    """The backend of this run (HANDIN_TEST_DATABASE); PostgreSQL's cluster lives as long."""
    if backends.ON_POSTGRESQL:
        backends.cluster()
    try:
        yield backends.BACKEND
    finally:
        backends.stop_cluster()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not backends.ON_POSTGRESQL:
        needs = pytest.mark.skip(
            reason="needs PostgreSQL: runs with HANDIN_TEST_DATABASE=postgresql"
        )
        for item in items:
            if "postgresql_only" in item.keywords:
                item.add_marker(needs)
        return
    skip = pytest.mark.skip(reason="SQLite-specific (HANDIN_TEST_DATABASE=postgresql)")
    spawned = pytest.mark.skip(reason="end-to-end: the bot under test opens its SQLite file")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)
        elif "e2e" in item.keywords and "postgresql_only" not in item.keywords:
            item.add_marker(spawned)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database on the selected backend (tests/backends.py)."""
    async with backends.fresh_database(tmp_path) as database:
        yield database


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    store = FileStore(tmp_path / "files")
    store.prepare()
    return store


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def services(
    db: Database, files: FileStore, clock: FakeClock, notifier: RecordingNotifier
) -> Services:
    return build_services(db, files, clock, notifier)


def incoming(
    data: bytes, filename: str = "report.pdf", declared: int | None = None
) -> IncomingFile:
    async def read() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    return IncomingFile(
        filename=filename,
        declared_size=len(data) if declared is None else declared,
        content_type="application/pdf",
        read=read,
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def make_assignment(
    services: Services,
    name: str = "Lab 1",
    *,
    closes: str = "+2h",
    mode: GroupMode = GroupMode.OPEN,
    **options: object,
) -> Assignment:
    return await services.assignments.create(
        GUILD,
        STAFF,
        name,
        AssignmentOptions(closes=closes, mode=mode, **options),  # type: ignore[arg-type]
        sent_at=services.clock.now(),
        upload_limit_bytes=LIMIT,
    )


def later(clock: FakeClock, seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)


# A test that leaves a database connection open leaves aiosqlite's worker thread (not a daemon)
# running, and the interpreter then waits for it forever after the summary: a CI run that
# passed hangs until its time limit. Name the leaked threads and end with a failure instead.
LEAK_GRACE_SECONDS = 10.0


def pytest_unconfigure(config: pytest.Config) -> None:
    leaked = _threads_still_running(LEAK_GRACE_SECONDS)
    if not leaked:
        return
    names = ", ".join(sorted(thread.name for thread in leaked))
    sys.stderr.write(f"\nleaked non-daemon threads (an unclosed database connection?): {names}\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(1)


def _threads_still_running(grace: float) -> list[threading.Thread]:
    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if _may_outlive_the_tests(thread):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    return [
        thread
        for thread in threading.enumerate()
        if not _may_outlive_the_tests(thread) and thread.is_alive()
    ]


def _may_outlive_the_tests(thread: threading.Thread) -> bool:
    # The file store's process-wide pools idle until the interpreter exits, which joins them.
    return (
        thread is threading.main_thread()
        or thread.daemon
        or thread.name.startswith(POOL_THREAD_PREFIX)
    )
