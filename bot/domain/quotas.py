"""Upload quotas and the free-space reserve: pure rules over counts the services read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import StorageQuotaError, UploadQuotaError, UploadRateError
from bot.domain.models import Assignment
from bot.domain.rules import MIB, mib

DEFAULT_MAX_UPLOADS = 200
DEFAULT_MAX_STORAGE_MB = 500.0
# Per member and assignment: far above what a person does by hand, far below a script's loop.
RATE_LIMIT = 30
RATE_WINDOW = timedelta(minutes=1)
# Staff see a group in the overview from this share of either quota on.
NEAR_QUOTA = 0.8


@dataclass(frozen=True, slots=True)
class GroupUsage:
    """What a group stored in an assignment: every upload counts, identical files included
    (the history keeps each one, and a student can add up what `/status` lists)."""

    uploads: int
    bytes: int


NO_USAGE = GroupUsage(uploads=0, bytes=0)


def check_group_quota(assignment: Assignment, usage: GroupUsage, size: int) -> None:
    """Refuse an upload of `size` bytes that would take the group past either quota."""
    if usage.uploads >= assignment.max_uploads:
        raise UploadQuotaError(count=assignment.max_uploads)
    if usage.bytes + size > assignment.max_storage_bytes:
        raise StorageQuotaError(
            size_mb=mib(size), used_mb=mib(usage.bytes), limit_mb=assignment.max_storage_mb
        )


def check_rate(recent: Sequence[datetime], sent_at: datetime) -> None:
    """Refuse a member's upload when `recent` (their uploads sent within RATE_WINDOW before
    `sent_at`, oldest first) already holds RATE_LIMIT; say when the window lets one through."""
    if len(recent) < RATE_LIMIT:
        return
    # Once this one is a window old, fewer than RATE_LIMIT remain inside the window.
    until = recent[len(recent) - RATE_LIMIT] + RATE_WINDOW
    raise UploadRateError(count=RATE_LIMIT, until=until)


def near_quota(assignment: Assignment, usage: GroupUsage) -> bool:
    return (
        usage.uploads >= NEAR_QUOTA * assignment.max_uploads
        or usage.bytes >= NEAR_QUOTA * assignment.max_storage_bytes
    )


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """A file system's size and the bytes an unprivileged writer may still use."""

    total: int
    free: int


@dataclass(frozen=True, slots=True)
class FreeSpaceReserve:
    """Uploads stop while free space is below `min_free_bytes` or `min_free_fraction` of the
    file system, whichever is larger: the database, its WAL and the host need room too."""

    min_free_bytes: int
    min_free_fraction: float

    def required(self, usage: DiskUsage) -> int:
        return max(self.min_free_bytes, math.ceil(usage.total * self.min_free_fraction))

    def allows(self, usage: DiskUsage, incoming: int) -> bool:
        return usage.free - incoming >= self.required(usage)


# At least 1 GiB or 5% free (SPEC §1); HANDIN_MIN_FREE_MB / HANDIN_MIN_FREE_PERCENT change it.
DEFAULT_RESERVE = FreeSpaceReserve(min_free_bytes=1024 * MIB, min_free_fraction=0.05)
