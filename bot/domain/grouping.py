"""Pure helpers for forming groups: random splits, CSV rows, member references, guessing limits."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from bot.domain.csvlines import csv_rows
from bot.domain.models import Person
from bot.domain.rules import JOIN_FAILURE_LIMIT, JOIN_FAILURE_WINDOW, JOIN_LOCKOUT


def split_sizes(count: int, size: int, max_size: int | None = None) -> list[int]:
    """Group sizes for `count` candidates in groups of about `size` (SPEC: `size` or `size + 1`).

    The remainder is spread one per group. When it is larger than the number of groups (or the
    assignment's `max_group_size` forbids `size + 1`) one more group is made and the sizes are
    evened out, so no group is ever larger than `size + 1` or `max_size`.
    """
    if count <= 0:
        return []
    groups = max(count // size, 1)
    remainder = count - groups * size
    may_grow = max_size is None or size + 1 <= max_size
    if remainder > groups or (remainder > 0 and not may_grow):
        groups = math.ceil(count / size)
    base, extra = divmod(count, groups)
    return [base + 1] * extra + [base] * (groups - extra)


def lockout_until(failures: list[datetime], now: datetime) -> datetime | None:
    """When a user's join lockout ends, if one is in force.

    Five failures within ten minutes lock joins for ten minutes from the fifth (SPEC §4).
    `failures` are sorted and cover at least the last twenty minutes.
    """
    until: datetime | None = None
    span = JOIN_FAILURE_LIMIT - 1
    for index in range(span, len(failures)):
        fifth = failures[index]
        if fifth - failures[index - span] <= JOIN_FAILURE_WINDOW and now < fifth + JOIN_LOCKOUT:
            until = fifth + JOIN_LOCKOUT
    return until


_MENTION = re.compile(r"^<@!?(\d{15,25})>$")


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    group_name: str
    member: str


def read_group_csv(data: bytes) -> tuple[list[CsvRow], list[tuple[int, str]]]:
    """Rows of a `group_name,member` CSV with their physical line numbers, and malformed lines.

    The header row is optional; physical line numbers count it as line 1.
    """
    rows: list[CsvRow] = []
    malformed: list[tuple[int, str]] = []
    for line, cells, record in csv_rows(data, ("group_name", "member")):
        if len(cells) != 2 or not cells[0] or not cells[1]:
            malformed.append((line, ",".join(record)))
            continue
        rows.append(CsvRow(line, cells[0], cells[1]))
    return rows, malformed


class MemberRefError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "unknown" or "ambiguous"


def resolve_member(reference: str, people: list[Person]) -> Person:
    """A user id, a mention `<@id>`, or a name matching exactly one member's username, global
    name or server nickname (case-insensitive)."""
    ref = reference.strip()
    mention = _MENTION.match(ref)
    if mention or ref.isdigit():
        user_id = int(mention.group(1) if mention else ref)
        for person in people:
            if person.user_id == user_id:
                return person
        raise MemberRefError("unknown")
    wanted = ref.lstrip("@").casefold()
    matches = {
        person.user_id: person
        for person in people
        if wanted
        in {name.casefold() for name in (person.username, person.global_name, person.nick) if name}
    }
    if len(matches) == 1:
        return next(iter(matches.values()))
    raise MemberRefError("ambiguous" if matches else "unknown")
