"""Discord side of the Notifier port: DMs (paced under Discord's global rate limit) and posts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import discord

from bot.domain.models import Assignment, Group, Person, Receipt, Reminder, UploadNotice
from bot.i18n import human_size, pick_locale, t, timestamp

log = logging.getLogger(__name__)

CANNOT_DM = 50007
# Discord allows 50 requests per second per bot across all routes. Interaction callbacks and
# follow-ups are exempt (replies never wait behind receipts), so DMs may use nearly all of it;
# the margin covers the bot's few other requests (fetch_user, reminder posts) and arrival
# jitter. With bursts of one request, no one-second window sees more than 48.
DM_REQUESTS_PER_SECOND = 47.0
DM_BURST = 1.0


class Pacer:
    """A token bucket: at most `rate` requests a second, with bursts of at most `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 5)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, tokens: float = 1.0) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= tokens:
                    self._tokens -= tokens
                    return
                await asyncio.sleep((tokens - self._tokens) / self.rate)


async def send_dm(
    user: discord.User | discord.Member,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    pacer: Pacer | None = None,
) -> bool:
    """DM `user`; False when they do not accept DMs (never retried: their choice)."""
    try:
        channel = user.dm_channel
        if channel is None:
            # Paced one request at a time: taking two tokens at once would be a burst of two.
            if pacer is not None:
                await pacer.take()
            channel = await user.create_dm()
        if pacer is not None:
            await pacer.take()
        if embed is None:
            await channel.send(content)
        else:
            await channel.send(content, embed=embed)
    except discord.Forbidden as exc:
        if exc.code == CANNOT_DM or exc.status == 403:
            log.info("user %s does not accept DMs", user.id)
            return False
        raise
    return True


class DiscordNotifier:
    """Implements bot.services.ports.Notifier over a connected client."""

    def __init__(self, client: discord.Client, locale_for_guild: Callable[[int], Any]) -> None:
        self._client = client
        self._locale_for_guild = locale_for_guild
        self.pacer = Pacer(DM_REQUESTS_PER_SECOND, DM_BURST)
        self.on_receipts_waiting: Callable[[], None] = lambda: None
        self._background: set[asyncio.Task[None]] = set()

    async def _user(self, user_id: int) -> discord.User | None:
        user = self._client.get_user(user_id)
        if user is not None:
            return user
        try:
            return await self._client.fetch_user(user_id)
        except discord.NotFound:
            return None

    async def _locale(self, guild_id: int) -> str:
        return pick_locale(None, await self._locale_for_guild(guild_id))

    async def send_receipt(self, receipt: Receipt) -> bool:
        from cogs._embeds import receipt_embed

        user = await self._user(receipt.user_id)
        if user is None:
            return False
        locale = await self._locale(receipt.assignment.guild_id)
        embed = receipt_embed(locale, receipt)
        return await send_dm(user, t(locale, "receipt.intro"), embed=embed, pacer=self.pacer)

    async def upload_notice(self, notice: UploadNotice) -> None:
        # Queued, not awaited: the uploader's acknowledgement must not wait for others' DMs.
        self._spawn(self._send_notices(notice))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_notices(self, notice: UploadNotice) -> None:
        locale = await self._locale(notice.assignment.guild_id)
        text = t(
            locale,
            "notice.upload",
            name=notice.assignment.name,
            pin=notice.group.pin,
            user_id=notice.uploader.user_id,
            number=notice.uploader.number,
            filename=notice.upload.filename,
            size=human_size(locale, notice.upload.size),
            sha=notice.upload.sha256[:12],
        )
        for user_id in notice.recipients:
            try:
                user = await self._user(user_id)
                if user is not None:
                    await send_dm(user, text, pacer=self.pacer)
            except discord.HTTPException:
                log.warning("upload notice to %s failed", user_id)

    async def group_reopened(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        # In the background, like upload notices: the staff member's reply must not wait.
        self._spawn(self._send_reopened(assignment, group, user_ids))

    async def _send_reopened(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        locale = await self._locale(assignment.guild_id)
        until = group.closes_at or assignment.closes_at
        text = t(locale, "notice.reopened", name=assignment.name, pin=group.pin, until=until)
        for user_id in user_ids:
            try:
                user = await self._user(user_id)
                if user is not None:
                    await send_dm(user, text, pacer=self.pacer)
            except discord.HTTPException:
                log.warning("extension notice to %s failed", user_id)

    async def send_reminder(self, reminder: Reminder) -> bool:
        user = await self._user(reminder.user_id)
        if user is None:
            return False
        assignment = reminder.assignment
        locale = await self._locale(assignment.guild_id)
        text = t(
            locale,
            f"reminder.dm.{reminder.reason.value}",
            name=assignment.name,
            deadline=reminder.deadline,
        )
        return await send_dm(user, text, pacer=self.pacer)

    async def post_reminder(self, assignment: Assignment, deadline: datetime) -> None:
        if assignment.channel_id is None:
            return
        channel = self._client.get_channel(assignment.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("reminder channel %s is not reachable", assignment.channel_id)
            return
        locale = await self._locale(assignment.guild_id)
        text = t(locale, "reminder.channel", name=assignment.name, deadline=deadline)
        await self.pacer.take()
        await channel.send(text)

    def guild_people(self, guild_id: int) -> list[Person]:
        from cogs._common import people_of

        return people_of(self._client.get_guild(guild_id))

    def receipts_waiting(self) -> None:
        self.on_receipts_waiting()

    async def drain(self) -> None:
        """Wait for queued notices (tests and shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


__all__ = ["DiscordNotifier", "Pacer", "send_dm", "timestamp"]
