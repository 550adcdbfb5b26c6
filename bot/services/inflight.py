"""Uploads whose checks passed but whose bytes are still arriving, counted per group."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class InFlightUploads:
    """Lets finalization wait briefly for a group's uploads that were sent before its deadline
    but are still downloading, so the first receipt is already the right one (SPEC §1)."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._idle: dict[int, asyncio.Event] = {}

    def begin(self, group_id: int) -> None:
        self._counts[group_id] = self._counts.get(group_id, 0) + 1

    def end(self, group_id: int) -> None:
        left = self._counts.get(group_id, 0) - 1
        if left > 0:
            self._counts[group_id] = left
            return
        self._counts.pop(group_id, None)
        event = self._idle.pop(group_id, None)
        if event is not None:
            event.set()

    @contextmanager
    def track(self, group_id: int) -> Iterator[None]:
        self.begin(group_id)
        try:
            yield
        finally:
            self.end(group_id)

    def busy(self, group_ids: Iterable[int] | None = None) -> set[int]:
        """The groups (of `group_ids`, or all) with an upload in flight."""
        if group_ids is None:
            return set(self._counts)
        return {group_id for group_id in group_ids if group_id in self._counts}

    async def wait_for(self, group_ids: Iterable[int], timeout: float) -> bool:
        """Wait until none of `group_ids` has an upload in flight; False when `timeout` ran out."""
        try:
            async with asyncio.timeout(timeout):
                for group_id in group_ids:
                    # A loop, not one wait: another upload of the group may begin meanwhile.
                    while group_id in self._counts:
                        await self._idle.setdefault(group_id, asyncio.Event()).wait()
        except TimeoutError:
            return False
        return True
