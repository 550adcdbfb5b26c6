"""The deadline in Discord's own calendar: the Discord side of the assignment's scheduled event
(SPEC §2). Created with the assignment, moved with its deadline, removed when it closes; without
Manage Events the bot tells staff once and goes on."""

from __future__ import annotations

import logging
from datetime import datetime

import discord

from bot.i18n import t
from bot.services.calendar import EventPlan
from bot.services.registry import Services

log = logging.getLogger(__name__)

# Discord's limits for an event's name and an external event's location.
NAME_LIMIT = 100
LOCATION_LIMIT = 100


def _fit(text: str, limit: int) -> str:
    # The calendar's own limit; the full name is in the event's description.
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fields(guild: discord.Guild, plan: EventPlan, locale: str) -> dict[str, str]:
    assignment = plan.assignment
    channel = guild.get_channel(assignment.channel_id) if assignment.channel_id else None
    where = f"#{channel.name}" if channel is not None else "#"
    return {
        "name": _fit(t(locale, "event.name", name=assignment.name), NAME_LIMIT),
        "location": _fit(t(locale, "event.location", channel=where), LOCATION_LIMIT),
        "description": _fit(t(locale, "event.description", name=assignment.name), 1000),
    }


async def follow_deadline(
    services: Services, guild: discord.Guild | None, assignment_id: int, staff_locale: str
) -> str | None:
    """Make the guild's event match the assignment. Returns what to tell staff, if anything
    (that the bot lacks Manage Events: the first time in this guild only)."""
    plan = await services.calendar.plan(assignment_id)
    if guild is None or plan is None:
        return None
    locale = (await services.settings.get(guild.id)).locale
    try:
        await _apply(services, guild, plan, locale)
    except discord.Forbidden:
        log.info("no Manage Events in guild %s: the deadline is not in its calendar", guild.id)
        if await services.calendar.warn_once(guild.id):
            return t(staff_locale, "event.no_permission")
    except discord.HTTPException as exc:
        # The calendar is a convenience: the hand-in goes on without it.
        log.warning("scheduled event of assignment %s: %s %s", assignment_id, exc.status, exc.code)
    return None


async def _apply(services: Services, guild: discord.Guild, plan: EventPlan, locale: str) -> None:
    aid = plan.assignment.id
    if plan.window is None:
        if plan.event_id is not None:
            try:
                event = await guild.fetch_scheduled_event(plan.event_id)
                await event.delete()
            except discord.NotFound:
                pass
            await services.calendar.remember(aid, None)
        return
    start, end = plan.window
    fields = _fields(guild, plan, locale)
    if plan.event_id is not None:
        existing: discord.ScheduledEvent | None
        try:
            existing = await guild.fetch_scheduled_event(plan.event_id)
        except discord.NotFound:
            existing = None  # deleted by hand: make it again
        if existing is not None:
            await _move(existing, start, end, fields)
            return
    created = await guild.create_scheduled_event(
        name=fields["name"],
        description=fields["description"],
        start_time=start,
        end_time=end,
        entity_type=discord.EntityType.external,
        privacy_level=discord.PrivacyLevel.guild_only,
        location=fields["location"],
    )
    await services.calendar.remember(aid, created.id)


async def _move(
    event: discord.ScheduledEvent, start: datetime, end: datetime, fields: dict[str, str]
) -> None:
    started = event.start_time <= discord.utils.utcnow()
    await event.edit(
        name=fields["name"],
        description=fields["description"],
        # An event under way keeps its start: Discord refuses a start in the past.
        start_time=event.start_time if started else start,
        end_time=end,
        location=fields["location"],
        entity_type=discord.EntityType.external,
    )
