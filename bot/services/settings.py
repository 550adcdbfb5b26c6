"""Guild settings: the staff role, the time zone staff times are read in, the default locale."""

from __future__ import annotations

import asyncio
import dataclasses

from bot.domain.errors import LocaleInvalidError
from bot.domain.models import Actor, GuildSettings
from bot.domain.timeparse import zone
from bot.i18n import SUPPORTED as SUPPORTED_LOCALES
from bot.services.common import require_manager
from storage.db import Database
from storage.repos import assignments as assignment_repo


class SettingsService:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Read on every reply (the locale): this process is the only writer, so a cache that
        # `update` refreshes stays true.
        self._cache: dict[int, GuildSettings] = {}
        # One read per miss: the first replies of a rush all missed at once, and 240 reads
        # queued on the connection's lock stalled the uploads' group commit (profiled).
        self._loading = asyncio.Lock()

    async def get(self, guild_id: int) -> GuildSettings:
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        async with self._loading:
            cached = self._cache.get(guild_id)
            if cached is not None:
                return cached
            async with self._db.reading() as conn:
                settings = await assignment_repo.get_settings(conn, guild_id)
            self._cache[guild_id] = settings
            return settings

    async def update(
        self,
        guild_id: int,
        actor: Actor,
        *,
        staff_role_id: int | None = None,
        timezone: str | None = None,
        locale: str | None = None,
    ) -> GuildSettings:
        """Change what was given; Manage Server only (the staff role cannot grant itself)."""
        require_manager(actor)
        changes: dict[str, object] = {}
        if staff_role_id is not None:
            changes["staff_role_id"] = staff_role_id
        if timezone is not None:
            changes["timezone"] = zone(timezone).key
        if locale is not None:
            cleaned = locale.strip().lower()
            if cleaned in {"nb", "nn", "no", "nb-no", "norsk"}:
                cleaned = "no"
            if cleaned.startswith("en"):
                cleaned = "en"
            if cleaned not in SUPPORTED_LOCALES:
                raise LocaleInvalidError(value=locale, supported=", ".join(SUPPORTED_LOCALES))
            changes["locale"] = cleaned
        async with self._db.transaction() as conn:
            current = await assignment_repo.get_settings(conn, guild_id)
            updated = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
            await assignment_repo.save_settings(conn, updated)
        self._cache[guild_id] = updated
        return updated
