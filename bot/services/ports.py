"""What the services need from the outside world, as protocols the bot layer implements."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from bot.domain.delivery import DELIVERED, Delivery
from bot.domain.feedback import FeedbackDm
from bot.domain.models import Assignment, Group, Person, Receipt, Reminder, UploadNotice
from bot.domain.quotas import DiskUsage
from storage.files import ReceivedFile


class Notifier(Protocol):
    """Tells people things by DM; the Discord layer implements it, tests use a recording fake."""

    async def send_receipt(
        self, receipt: Receipt, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        """Deliver one receipt at most once (a resend after a crash must not double it).

        `still_wanted` is asked right before the DM goes out, after any wait for its turn: a
        receipt superseded meanwhile is withdrawn, not sent."""
        ...

    async def upload_notice(self, notice: UploadNotice) -> None:
        """Tell the other members about an upload (best effort, must not block the upload)."""
        ...

    async def group_reopened(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        """An extension reopened a finalized group: tell its members."""
        ...

    async def agreement_reset(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        """all_must_confirm: a join or a leave reset the group's agreement; tell its members."""
        ...

    async def send_reminder(self, reminder: Reminder) -> Delivery:
        """DM one reminder."""
        ...

    async def post_reminder(self, assignment: Assignment, deadline: datetime) -> bool:
        """Post the reminder in the assignment's channel; False when that failed."""
        ...

    def guild_people(self, guild_id: int) -> list[Person]:
        """The guild's members as the bot knows them (for role-based candidates)."""
        ...

    async def send_feedback(
        self, dm: FeedbackDm, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        """Deliver one member's released feedback at most once (as a receipt)."""
        ...

    async def send_retention_notice(
        self, assignment: Assignment, user_id: int, purge_at: datetime
    ) -> Delivery:
        """Tell a staff member an assignment will be purged at `purge_at` (SPEC §9)."""
        ...


class SilentNotifier:
    """A Notifier that tells nobody anything: for tools that prepare or read a data dir."""

    async def send_receipt(
        self, receipt: Receipt, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        return DELIVERED

    async def upload_notice(self, notice: UploadNotice) -> None:
        return None

    async def group_reopened(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        return None

    async def agreement_reset(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        return None

    async def send_reminder(self, reminder: Reminder) -> Delivery:
        return DELIVERED

    async def post_reminder(self, assignment: Assignment, deadline: datetime) -> bool:
        return True

    def guild_people(self, guild_id: int) -> list[Person]:
        return []

    async def send_feedback(
        self, dm: FeedbackDm, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        return DELIVERED

    async def send_retention_notice(
        self, assignment: Assignment, user_id: int, purge_at: datetime
    ) -> Delivery:
        return DELIVERED


class ScheduleListener(Protocol):
    """The deadline scheduler, as the services see it (bot/scheduler.py)."""

    def assignment_changed(self, assignment_id: int) -> None:
        """An assignment's times changed: (re)schedule its wake-ups."""
        ...

    def receipts_waiting(self) -> None:
        """New receipts are in the outbox: deliver them soon."""
        ...


class Wakeups:
    """What the services tell the deadline scheduler, relayed once it listens.

    The scheduler is built on the services and the services must reach it, so one `Wakeups`
    is made first and handed to both by their constructors; the scheduler listens from its own
    construction on. Until then (and in tools and tests without a scheduler) the calls go
    nowhere, which loses nothing: the scheduler's start reads every deadline and every pending
    receipt from the database.
    """

    def __init__(self) -> None:
        self._listener: ScheduleListener | None = None

    def listen(self, listener: ScheduleListener) -> None:
        self._listener = listener

    @property
    def listener(self) -> ScheduleListener | None:
        return self._listener

    def assignment_changed(self, assignment_id: int) -> None:
        if self._listener is not None:
            self._listener.assignment_changed(assignment_id)

    def receipts_waiting(self) -> None:
        if self._listener is not None:
            self._listener.receipts_waiting()


class StoredFiles(Protocol):
    """Where the files live, content-addressed by SHA-256: a local folder (storage/files.py)
    or an S3-compatible bucket (storage/s3files.py). Bytes always arrive through a local
    folder, `root`, where they are hashed; `stage` makes them durable before anything is
    recorded."""

    root: Path

    async def receive(self, chunks: AsyncIterable[bytes], *, max_bytes: int) -> ReceivedFile:
        """Take a byte stream into a temp file, hashing it; StoreLimitError past `max_bytes`."""
        ...

    async def stage(self, received: ReceivedFile) -> None:
        """Make received bytes durable where they will live, before the recording transaction
        and outside its lock (a bucket's put; the local store's fsync, its rename being the
        publish). Raises StorageUnavailableError when the store does not take them (the local
        store: DiskLowError when its disk is full)."""
        ...

    async def publish_many(self, received: list[ReceivedFile]) -> object:
        """Store received files under their names, durably (inside the recording transaction:
        raises when one cannot be stored, and then nothing is recorded)."""
        ...

    def discard(self, received: ReceivedFile) -> None:
        """Drop received bytes that will not be kept."""
        ...

    def local_copy(self, sha256: str, size: int) -> AbstractAsyncContextManager[Path]:
        """The stored bytes as a local file, checked against name and size (DamagedFileError;
        FileNotFoundError when missing)."""
        ...

    def open_read(self, sha256: str) -> BinaryIO:
        """A blocking reader of the stored bytes, for worker threads."""
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove a stored file (a purge); False when it was not there."""
        ...


class FreeSpace(Protocol):
    """How full the file system that holds the stored files is (storage/diskspace.py)."""

    def usage(self) -> DiskUsage: ...
