"""The upload quotas, checked inside the transaction that records the upload."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain.models import Assignment, Group
from bot.domain.quotas import RATE_WINDOW, GroupUsage, check_group_quota, check_rate
from storage.db import Connection
from storage.repos import quotas as quota_repo


async def check_upload_quotas(
    conn: Connection,
    assignment: Assignment,
    group: Group,
    user_id: int,
    size: int,
    sent_at: datetime,
) -> None:
    """Refuse an upload of `size` bytes over the group's quotas or the member's rate.

    Called before the download with the declared size (a cheap early refusal), and again with
    the bytes received in the transaction that inserts the row: that one decides, as uploads
    of the same group may have been recorded meanwhile. Raises before anything is written.
    """
    usage, recent = await quota_repo.usage_and_recent(
        conn, group.id, assignment.id, user_id, sent_at - RATE_WINDOW
    )
    check_quotas(assignment, usage, recent, size, sent_at)


def check_quotas(
    assignment: Assignment,
    usage: GroupUsage,
    recent: Sequence[datetime],
    size: int,
    sent_at: datetime,
) -> None:
    """`check_upload_quotas` on what its caller read (the group's usage, the member's uploads
    sent within RATE_WINDOW before `sent_at`, oldest first)."""
    check_group_quota(assignment, usage, size)
    check_rate(recent, sent_at)
