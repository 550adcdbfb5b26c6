"""What the uploads of one group-commit batch read once for all of them.

Under a deadline rush each round trip to the database thread inside the batch's transaction
waits for a turn of the busy event loop, and the units of a batch mostly name the same
assignment and ask for the standing of different users: one look-up per batch instead of one
per unit. The transaction sees the same rows throughout; a unit that writes to a user or a
group marks them touched, and later units of the batch read those afresh.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.models import Assignment, Group, Upload
from bot.domain.quotas import NO_USAGE, RATE_WINDOW, GroupUsage
from bot.services.common import find_assignment
from storage.db import Connection
from storage.repos import groups as group_repo
from storage.repos import quotas as quota_repo

Standings = dict[tuple[int, int | None], group_repo.Standing]


@dataclass(frozen=True, slots=True)
class UploadHint:
    """What an upload's units will look up: given to the batch before it runs."""

    guild_id: int
    name: str
    user_id: int
    interaction_id: int | None
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class _QuotasAhead:
    """The quotas' inputs of the batch's groups and users on one assignment, read at once."""

    group_ids: frozenset[int]
    usage: dict[int, GroupUsage]
    user_ids: frozenset[int]
    since: datetime
    recent: dict[int, list[datetime]]


@dataclass
class UploadBatch:
    hints: list[UploadHint]
    _assignments: dict[tuple[int, str], Assignment] = field(default_factory=dict)
    _standings: dict[tuple[int, str], Standings] = field(default_factory=dict)
    _touched_users: set[int] = field(default_factory=set)
    _touched_groups: set[int] = field(default_factory=set)
    _quotas: dict[tuple[int, str], _QuotasAhead] = field(default_factory=dict)
    _stored_groups: set[int] = field(default_factory=set)
    _stored_users: set[int] = field(default_factory=set)

    @classmethod
    def start(cls, hints: Iterable[Any]) -> UploadBatch:
        """The state of a new batch whose units gave `hints` (GroupCommit's `start_batch`)."""
        return cls([hint for hint in hints if isinstance(hint, UploadHint)])

    async def assignment(self, conn: Connection, guild_id: int, name: str) -> Assignment:
        """No unit of a batch changes an assignment: it is read once."""
        key = (guild_id, name)
        if key not in self._assignments:
            self._assignments[key] = await find_assignment(conn, guild_id, name)
        return self._assignments[key]

    async def standing(
        self, conn: Connection, assignment: Assignment, hint: UploadHint
    ) -> group_repo.Standing:
        """The unit's standing, from one read-ahead for every unit of the batch on the same
        assignment, unless an earlier unit wrote to the user or their group."""
        key = (hint.guild_id, hint.name)
        if key not in self._standings:
            wanted = [
                (h.user_id, h.interaction_id) for h in self.hints if (h.guild_id, h.name) == key
            ]
            self._standings[key] = await group_repo.standings(conn, assignment.id, wanted)
        found = self._standings[key].get((hint.user_id, hint.interaction_id))
        if found is None or self._is_touched(found, hint.user_id):
            return await group_repo.standing(
                conn, assignment.id, hint.user_id, interaction_id=hint.interaction_id
            )
        return found

    async def quota_inputs(
        self, conn: Connection, assignment: Assignment, group: Group, hint: UploadHint
    ) -> tuple[GroupUsage, list[datetime]]:
        """What `usage_and_recent` reads for the unit (the group's usage, the member's uploads
        sent within RATE_WINDOW before theirs), from one read-ahead for the groups and users of
        every unit of the batch on the same assignment, unless a unit stored an upload for the
        group or by the user since (`stored`)."""
        since = hint.sent_at - RATE_WINDOW
        key = (hint.guild_id, hint.name)
        if key not in self._quotas and key in self._standings:
            self._quotas[key] = await self._read_quotas(conn, assignment.id, key)
        ahead = self._quotas.get(key)
        if (
            ahead is None
            or group.id in self._stored_groups
            or hint.user_id in self._stored_users
            or group.id not in ahead.group_ids
            or hint.user_id not in ahead.user_ids
            or since < ahead.since
        ):
            return await quota_repo.usage_and_recent(
                conn, group.id, assignment.id, hint.user_id, since
            )
        usage = ahead.usage.get(group.id, NO_USAGE)
        return usage, [at for at in ahead.recent.get(hint.user_id, []) if at > since]

    async def _read_quotas(
        self, conn: Connection, assignment_id: int, key: tuple[int, str]
    ) -> _QuotasAhead:
        hints = [h for h in self.hints if (h.guild_id, h.name) == key]
        groups = frozenset(s.group.id for s in self._standings[key].values() if s.group)
        users = frozenset(h.user_id for h in hints)
        since = min(h.sent_at for h in hints) - RATE_WINDOW
        usage = await quota_repo.usage_of_groups(conn, groups)
        recent = await quota_repo.recent_of_users(conn, assignment_id, users, since)
        return _QuotasAhead(groups, usage, users, since, recent)

    def stored(self, hint: UploadHint, group_id: int, upload: Upload) -> None:
        """A unit stored `upload` for `group_id`: the quotas read ahead count it from now on
        (the batch holds the write lock, so no one else adds uploads meanwhile: what was read
        plus what the batch stored is what a fresh read would find, without its round trip).
        Quotas no read-ahead covers are read afresh."""
        ahead = self._quotas.get((hint.guild_id, hint.name))
        user_id = upload.user_id
        if ahead is None or group_id not in ahead.group_ids or user_id not in ahead.user_ids:
            self._stored_groups.add(group_id)
            self._stored_users.add(user_id)
            return
        usage = ahead.usage.get(group_id, NO_USAGE)
        ahead.usage[group_id] = GroupUsage(usage.uploads + 1, usage.bytes + upload.size)
        if upload.sent_at > ahead.since:
            insort(ahead.recent.setdefault(user_id, []), upload.sent_at)

    def touch(self, standing: group_repo.Standing, user_id: int, *, group: bool = True) -> None:
        """A unit wrote to `user_id` (and, with `group`, to their group): later units re-read."""
        self._touched_users.add(user_id)
        if group and standing.group is not None:
            self._touched_groups.add(standing.group.id)

    def _is_touched(self, standing: group_repo.Standing, user_id: int) -> bool:
        if user_id in self._touched_users:
            return True
        return standing.group is not None and standing.group.id in self._touched_groups
