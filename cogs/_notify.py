"""Discord side of the Notifier port: DMs (paced under Discord's global rate limit) and posts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import discord
from aiolimiter import AsyncLimiter

from bot.domain.delivery import DELIVERED, WITHDRAWN, Delivery, DmFailure
from bot.domain.feedback import FeedbackDm
from bot.domain.models import Assignment, Group, Person, Receipt, Reminder, UploadNotice
from bot.i18n import human_size, t, timestamp
from cogs._buttons import AgreeToUpload, view_of
from cogs._common import people_of
from cogs._embeds import receipt_embed
from cogs._feedback import feedback_embed

log = logging.getLogger(__name__)

# Discord allows 50 requests per second per bot across all routes. Interaction callbacks and
# follow-ups are exempt (replies never wait behind receipts), so DMs may use nearly all of it;
# the margin covers the bot's few other requests (fetch_user, reminder posts) and arrival
# jitter. With bursts of one request, no one-second window sees more than 48.
DM_REQUESTS_PER_SECOND = 47.0
DM_BURST = 1.0


# Discord's error codes that decide what a failed DM means (SPEC: DM failures by kind).
CANNOT_DM = 50007
OPENING_DMS_TOO_FAST = 40003
UNKNOWN_USER = 10013


def classify_failure(exc: Exception) -> Delivery:
    """What a failed DM means. Every Forbidden is a 403, so the code decides, not the status."""
    if isinstance(exc, discord.HTTPException):
        code = exc.code or exc.status
        if exc.code == CANNOT_DM:
            return Delivery(DmFailure.CLOSED, code)
        if exc.code == UNKNOWN_USER:
            return Delivery(DmFailure.GONE, code)
        if exc.code == OPENING_DMS_TOO_FAST or exc.status == 429 or exc.status >= 500:
            return Delivery(DmFailure.TRANSIENT, code)
        return Delivery(DmFailure.REFUSED, code)
    if isinstance(exc, discord.RateLimited):
        return Delivery(DmFailure.TRANSIENT, 429)
    # aiohttp's errors, resets, timeouts: the network.
    return Delivery(DmFailure.TRANSIENT)


# What a DM attempt may raise that says something about the DM rather than about the bot.
DM_ERRORS = (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, OSError)


async def send_direct(
    user: discord.User | discord.Member, content: str, *, embed: discord.Embed | None = None
) -> Delivery:
    """DM `user` at once, as part of answering their own command (not paced, not queued)."""
    try:
        channel = user.dm_channel or await user.create_dm()
        await channel.send(content, **_extras(embed, None))
    except DM_ERRORS as exc:
        delivery = classify_failure(exc)
        log.info("DM to %s not delivered (%s)", user.id, delivery.reason)
        return delivery
    return DELIVERED


@dataclass(frozen=True, slots=True)
class QueuedDm:
    """A courtesy DM waiting its turn, rendered in its reader's language when it goes out."""

    user_id: int
    guild_id: int
    render: Callable[[str], str]
    # A button under it (built in the reader's language); a DM kept over a restart loses it.
    view: Callable[[str], discord.ui.View] | None = None


class DiscordNotifier:
    """Implements bot.services.ports.Notifier over a connected client."""

    def __init__(
        self,
        client: discord.Client,
        locale_for: Callable[[int, int | None], Awaitable[str]],
    ) -> None:
        self._client = client
        # (guild id, user id) -> the catalog to speak to that user in (no user: the guild's).
        self._locale_for = locale_for
        # A leaky bucket (aiolimiter): at most DM_BURST requests at once, refilled at the rate.
        self.pacer = AsyncLimiter(DM_BURST, DM_BURST / DM_REQUESTS_PER_SECOND)
        self._queue: asyncio.Queue[QueuedDm] = asyncio.Queue()
        # Set from the database at start-up (see receipt_nonce).
        self.database_id = "00000000"
        self._worker: asyncio.Task[None] | None = None

    async def _user(self, user_id: int) -> discord.User:
        user = self._client.get_user(user_id)
        if user is not None:
            return user
        return await self._client.fetch_user(user_id)

    async def send_dm(
        self,
        user_id: int,
        content: str | None,
        *,
        embed: discord.Embed | None = None,
        nonce: str | None = None,
        still_wanted: Callable[[], Awaitable[bool]] | None = None,
        view: discord.ui.View | None = None,
    ) -> Delivery:
        """DM a user, paced under Discord's global limit; what became of it, never raising for
        Discord's or the network's reasons. With `nonce`, Discord keeps a resend to one message."""
        try:
            user = await self._user(user_id)
            channel = user.dm_channel
            if channel is None:
                # Paced one request at a time: taking two tokens at once would be a burst of two.
                await self.pacer.acquire()
                channel = await user.create_dm()
            await self.pacer.acquire()
            if still_wanted is not None and not await still_wanted():
                return WITHDRAWN
            await channel.send(content, **_extras(embed, nonce, view))
        except DM_ERRORS as exc:
            delivery = classify_failure(exc)
            log.info(
                "DM to %s not delivered (%s): %s", user_id, delivery.reason, type(exc).__name__
            )
            return delivery
        return DELIVERED

    async def send_receipt(
        self, receipt: Receipt, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        locale = await self._locale_for(receipt.assignment.guild_id, receipt.user_id)
        return await self.send_dm(
            receipt.user_id,
            t(locale, "receipt.intro"),
            embed=receipt_embed(locale, receipt),
            # Derived from the receipt alone: after a crash, the resend is the same message.
            nonce=receipt_nonce(self.database_id, receipt.id),
            still_wanted=still_wanted,
        )

    # -- courtesy DMs: queued, sent in the background, kept across a clean stop -------------

    def start(self, kept: Iterable[tuple[int, str]] = ()) -> None:
        """Start sending queued DMs, beginning with those kept at the last stop."""
        for user_id, text in kept:
            self._queue.put_nowait(QueuedDm(user_id, 0, _already(text)))
        if self._worker is None:
            self._worker = asyncio.create_task(self._send_queued(), name="courtesy-dms")

    async def stop(self, timeout: float) -> list[tuple[int, str]]:
        """Send what is queued for up to `timeout` seconds; return the rest, rendered, to keep."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_tried(), timeout)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        kept: list[tuple[int, str]] = []
        while not self._queue.empty():
            queued = self._queue.get_nowait()
            locale = await self._locale_for(queued.guild_id, queued.user_id)
            kept.append((queued.user_id, queued.render(locale)))
        return kept

    async def all_tried(self) -> None:
        """Wait until every queued DM was tried (sent, or failed for good)."""
        await self._queue.join()

    async def _send_queued(self) -> None:
        while True:
            queued = await self._queue.get()
            try:
                locale = await self._locale_for(queued.guild_id, queued.user_id)
                view = None if queued.view is None else queued.view(locale)
                await self.send_dm(queued.user_id, queued.render(locale), view=view)
            except Exception:
                log.exception("a queued DM to %s failed", queued.user_id)
            finally:
                self._queue.task_done()

    def _enqueue(
        self,
        guild_id: int,
        user_ids: Iterable[int],
        render: Callable[[str], str],
        view: Callable[[str], discord.ui.View] | None = None,
    ) -> None:
        for user_id in user_ids:
            self._queue.put_nowait(QueuedDm(user_id, guild_id, render, view))

    async def upload_notice(self, notice: UploadNotice) -> None:
        # Queued, not awaited: the uploader's acknowledgement must not wait for others' DMs.
        part = notice.assignment.part_by_id(notice.upload.part_id)

        def render(locale: str) -> str:
            prefix = "" if part is None else t(locale, "upload.part", part=part.name) + " "
            return (
                prefix
                + t(
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
                + _agree_line(locale, notice)
            )

        self._enqueue(notice.assignment.guild_id, notice.recipients, render, _agree_button(notice))

    async def group_reopened(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        # In the background, like upload notices: the staff member's reply must not wait.
        until = group.closes_at or assignment.closes_at

        def render(locale: str) -> str:
            return t(locale, "notice.reopened", name=assignment.name, pin=group.pin, until=until)

        self._enqueue(assignment.guild_id, user_ids, render)

    async def agreement_reset(
        self, assignment: Assignment, group: Group, user_ids: list[int]
    ) -> None:
        def render(locale: str) -> str:
            return t(locale, "notice.agreement_reset", name=assignment.name, pin=group.pin)

        self._enqueue(assignment.guild_id, user_ids, render)

    # -- reminders ----------------------------------------------------------------------------

    async def send_reminder(self, reminder: Reminder) -> Delivery:
        assignment = reminder.assignment
        locale = await self._locale_for(assignment.guild_id, reminder.user_id)
        text = t(
            locale,
            f"reminder.dm.{reminder.reason.value}",
            name=assignment.name,
            deadline=reminder.deadline,
            parts=", ".join(f"`{name}`" for name in reminder.parts),
        )
        if reminder.waiting_for:
            numbers = ", ".join(str(n) for n in reminder.waiting_for)
            text += "\n" + t(locale, "reminder.waiting_for", numbers=numbers)
        return await self.send_dm(reminder.user_id, text)

    async def post_reminder(self, assignment: Assignment, deadline: datetime) -> bool:
        if assignment.channel_id is None:
            return True
        channel = self._client.get_channel(assignment.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("reminder channel %s is not reachable", assignment.channel_id)
            return False
        locale = await self._locale_for(assignment.guild_id, None)
        text = t(locale, "reminder.channel", name=assignment.name, deadline=deadline)
        try:
            await self.pacer.acquire()
            await channel.send(text)
        except DM_ERRORS as exc:
            log.warning(
                "reminder post in %s failed (%s)",
                assignment.channel_id,
                classify_failure(exc).reason,
            )
            return False
        return True

    def guild_people(self, guild_id: int) -> list[Person]:
        return people_of(self._client.get_guild(guild_id))

    # -- feedback and retention (SPEC §7, §9) --------------------------------------------------

    async def send_feedback(
        self, dm: FeedbackDm, still_wanted: Callable[[], Awaitable[bool]]
    ) -> Delivery:
        locale = await self._locale_for(dm.assignment.guild_id, dm.user_id)
        intro = t(locale, "feedback.dm_intro", name=dm.assignment.name)
        if dm.feedback.files:
            intro += "\n" + t(locale, "feedback.dm_files", name=dm.assignment.name)
        return await self.send_dm(
            dm.user_id,
            intro,
            embed=feedback_embed(locale, dm.assignment, dm.feedback),
            # Like a receipt's: a resend after a crash stays one message.
            nonce=feedback_nonce(self.database_id, dm.id),
            still_wanted=still_wanted,
        )

    async def send_retention_notice(
        self, assignment: Assignment, user_id: int, purge_at: datetime
    ) -> Delivery:
        locale = await self._locale_for(assignment.guild_id, user_id)
        text = t(locale, "retention.notice", name=assignment.name, at=purge_at)
        return await self.send_dm(user_id, text)


def _agree_line(locale: str, notice: UploadNotice) -> str:
    return "\n" + t(locale, "notice.agree") if notice.assignment.all_must_confirm else ""


def _agree_button(notice: UploadNotice) -> Callable[[str], discord.ui.View] | None:
    """all_must_confirm: an "Agree" button under the notice, for exactly this upload."""
    if not notice.assignment.all_must_confirm:
        return None
    assignment, upload_id = notice.assignment, notice.upload.id

    def build(locale: str) -> discord.ui.View:
        button = AgreeToUpload(
            t(locale, "button.agree"),
            guild=assignment.guild_id,
            assignment=assignment.id,
            upload=upload_id,
        )
        return view_of(button)

    return build


def _already(text: str) -> Callable[[str], str]:
    """A render for a DM rendered before (kept across a stop): the same text in any locale."""
    return lambda _locale: text


def _extras(
    embed: discord.Embed | None, nonce: str | None, view: discord.ui.View | None = None
) -> dict[str, Any]:
    """send()'s optional arguments that are set (its overloads take no None for them)."""
    extras: dict[str, Any] = {} if view is None else {"view": view}
    if embed is not None:
        extras["embed"] = embed
    if nonce is not None:
        extras["nonce"] = nonce
    return extras


def receipt_nonce(database_id: str, receipt_id: int) -> str:
    """The receipt's nonce: the same for every resend of that receipt, and different from any
    other bot database's receipt of the same id (Discord dedups by author, and two installs of
    one bot, or a database started anew, count receipts from 1 again). Discord takes at most
    25 characters: `rc`, 8 characters of the database's id, `-`, the receipt id."""
    return f"rc{database_id[:8]}-{receipt_id}"


def feedback_nonce(database_id: str, delivery_id: int) -> str:
    """A feedback DM's nonce, made like a receipt's (`fb` instead of `rc`)."""
    return f"fb{database_id[:8]}-{delivery_id}"


__all__ = [
    "DiscordNotifier",
    "classify_failure",
    "receipt_nonce",
    "send_direct",
    "timestamp",
]
