"""Identical files across groups: finals that share a SHA-256, part by part (SPEC §3, §6)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IdenticalFiles:
    """Groups (by PIN, sorted) whose finals in one part (`part` None: no parts) have the same
    SHA-256. Only staff see it: students never learn another group's file or PIN."""

    part: str | None
    sha256: str
    pins: tuple[str, ...]


def identical_files(finals: Iterable[tuple[str, str | None, str]]) -> tuple[IdenticalFiles, ...]:
    """From (group PIN, part, SHA-256) of every group's final, the sets shared by two or more
    groups, sorted by part and first PIN. A group counts once per part and hash."""
    by_hash: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    for pin, part, sha256 in finals:
        by_hash[(part, sha256)].add(pin)
    found = [
        IdenticalFiles(part, sha256, tuple(sorted(pins)))
        for (part, sha256), pins in by_hash.items()
        if len(pins) > 1
    ]
    return tuple(sorted(found, key=lambda f: (f.part or "", f.pins)))


def same_file_as(shared: Iterable[IdenticalFiles]) -> dict[tuple[str, str | None], tuple[str, ...]]:
    """For each (PIN, part) in `shared`, the other groups' PINs with the same file."""
    others: dict[tuple[str, str | None], tuple[str, ...]] = {}
    for entry in shared:
        for pin in entry.pins:
            others[(pin, entry.part)] = tuple(p for p in entry.pins if p != pin)
    return others
