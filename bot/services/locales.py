"""The language of each user's latest interaction, so DMs speak it (else the server's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.domain.clock import Clock
from storage.db import Database
from storage.repos import misc as misc_repo

log = logging.getLogger(__name__)

# Changes are written at most this often: in a rush every first interaction of a user is a
# change, and a transaction (an fsync) each would slow the uploads' commits.
FLUSH_DELAY = 1.0


class UserLocales:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._known: dict[int, str | None] = {}
        self._unsaved: dict[int, str] = {}
        self._flusher: asyncio.Task[None] | None = None

    def note(self, user_id: int, locale: str) -> None:
        """The user just interacted in `locale` (Discord's value, e.g. `nb` or `en-US`)."""
        if self._known.get(user_id) == locale:
            return
        self._known[user_id] = locale
        self._unsaved[user_id] = locale
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="user-locales")

    async def of(self, user_id: int) -> str | None:
        """The locale of the user's latest interaction, or None when they never interacted."""
        if user_id not in self._known:
            async with self._db.reading() as conn:
                self._known[user_id] = await misc_repo.user_locale(conn, user_id)
        return self._known[user_id]

    async def flush(self) -> None:
        """Write what changed since the last flush (also at a clean stop)."""
        unsaved, self._unsaved = self._unsaved, {}
        if not unsaved:
            return
        try:
            async with self._db.transaction() as conn:
                await misc_repo.save_user_locales(conn, unsaved, self._clock.now())
        except BaseException:
            # Not written (failed, or cancelled at a stop): kept for the next flush.
            self._unsaved = unsaved | self._unsaved
            raise

    async def stop(self) -> None:
        """At a clean stop: the delayed flush must not run after the database closed (it
        would log a traceback); what it would have written is written now."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None and not flusher.done():
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        await self.flush()

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        try:
            await self.flush()
        except Exception:
            # Only a DM's language is at stake; the next change writes again.
            log.exception("could not save users' locales")
