"""What the uploads of one group-commit batch read once for all of them.

Under a deadline rush each round trip to the database thread inside the batch's transaction
waits for a turn of the busy event loop, and the units of a batch mostly name the same
assignment and ask for the standing of different users: one look-up per batch instead of one
per unit. The transaction sees the same rows throughout; a unit that writes to a user or a
group marks them touched, and later units of the batch read those afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.domain.models import Assignment
from bot.services.common import find_assignment
from storage.db import Connection
from storage.repos import groups as group_repo

Standings = dict[tuple[int, int | None], group_repo.Standing]


@dataclass(frozen=True, slots=True)
class UploadHint:
    """What an upload's units will look up: given to the batch before it runs."""

    guild_id: int
    name: str
    user_id: int
    interaction_id: int | None


@dataclass
class UploadBatch:
    hints: list[UploadHint]
    _assignments: dict[tuple[int, str], Assignment] = field(default_factory=dict)
    _standings: dict[tuple[int, str], Standings] = field(default_factory=dict)
    _touched_users: set[int] = field(default_factory=set)
    _touched_groups: set[int] = field(default_factory=set)

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

    def touch(self, standing: group_repo.Standing, user_id: int, *, group: bool = True) -> None:
        """A unit wrote to `user_id` (and, with `group`, to their group): later units re-read."""
        self._touched_users.add(user_id)
        if group and standing.group is not None:
            self._touched_groups.add(standing.group.id)

    def _is_touched(self, standing: group_repo.Standing, user_id: int) -> bool:
        if user_id in self._touched_users:
            return True
        return standing.group is not None and standing.group.id in self._touched_groups
