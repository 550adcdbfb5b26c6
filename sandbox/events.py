"""Guild scheduled events as Discord serves them to a bot: list, create, get, edit, delete, with
Discord's checks (Manage Events, an external event's location and end, a start in the future)."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from sandbox.models import JSON, MANAGE_EVENTS, SandboxGuild
from sandbox.rest import DiscordError, RestApi, Route, form_error, json_response, no_content

EXTERNAL = 3
GUILD_ONLY = 2
SCHEDULED = 1


def _time(payload: JSON, key: str) -> dt.datetime | None:
    value = payload.get(key)
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise form_error(key, "DATE_TIME_TYPE_PARSE", "Could not parse date.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


class ScheduledEvents:
    """The routes under /guilds/{guild_id}/scheduled-events; events live in the world."""

    def __init__(self, rest: RestApi) -> None:
        self.rest = rest
        self.world = rest.world

    def routes(self) -> list[Route]:
        base = "/guilds/{guild_id}/scheduled-events"
        return [
            ("GET", base, self.list_events),
            ("POST", base, self.create),
            ("GET", base + "/{event_id}", self.get),
            ("PATCH", base + "/{event_id}", self.edit),
            ("DELETE", base + "/{event_id}", self.delete),
        ]

    def _allowed(self, guild: SandboxGuild) -> None:
        if not guild.permissions_of(self.world.bot_user.id) & MANAGE_EVENTS:
            raise DiscordError(403, "Missing Permissions", 50013)

    def _event(self, request: web.Request, guild: SandboxGuild) -> JSON:
        event = self.world.scheduled_events.get(request.match_info["event_id"])
        if event is None or event["guild_id"] != str(guild.id):
            raise DiscordError(404, "Unknown Guild Scheduled Event", 10070)
        return event

    def _check(self, event: JSON, *, creating: bool) -> None:
        name = event.get("name") or ""
        if not 1 <= len(name) <= 100:
            raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if len(event.get("description") or "") > 1000:
            raise form_error("description", "BASE_TYPE_MAX_LENGTH", "Must be 1000 or fewer.")
        start = _time(event, "scheduled_start_time")
        end = _time(event, "scheduled_end_time")
        if start is None:
            raise form_error("scheduled_start_time", "BASE_TYPE_REQUIRED", "This field is required")
        if event.get("entity_type") == EXTERNAL:
            location = (event.get("entity_metadata") or {}).get("location") or ""
            if not 1 <= len(location) <= 100:
                raise form_error(
                    "entity_metadata.location",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            if end is None:
                raise form_error(
                    "scheduled_end_time",
                    "GUILD_SCHEDULED_EVENT_EXTERNAL_END_TIME_REQUIRED",
                    "External events require an end time.",
                )
        if creating and start <= self.world.now():
            raise form_error(
                "scheduled_start_time",
                "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
                "Cannot schedule event in the past.",
            )
        if end is not None and end <= start:
            raise form_error(
                "scheduled_end_time",
                "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
                "Cannot end event before it starts.",
            )

    async def list_events(self, request: web.Request) -> web.StreamResponse:
        self.rest._auth(request)
        guild = self.rest._guild(request)
        events = [e for e in self.world.scheduled_events.values() if e["guild_id"] == str(guild.id)]
        return json_response(events)

    async def create(self, request: web.Request) -> web.StreamResponse:
        self.rest._auth(request)
        guild = self.rest._guild(request)
        self._allowed(guild)
        payload, _ = await self.rest._read_body(request)
        event: JSON = {
            "id": str(self.world.ids.new()),
            "guild_id": str(guild.id),
            "channel_id": payload.get("channel_id"),
            "creator_id": str(self.world.bot_user.id),
            "creator": self.world.bot_user.to_payload(),
            "name": payload.get("name"),
            "description": payload.get("description"),
            "scheduled_start_time": payload.get("scheduled_start_time"),
            "scheduled_end_time": payload.get("scheduled_end_time"),
            "privacy_level": payload.get("privacy_level", GUILD_ONLY),
            "status": SCHEDULED,
            "entity_type": payload.get("entity_type"),
            "entity_id": None,
            "entity_metadata": payload.get("entity_metadata"),
            "user_count": 0,
            "image": None,
        }
        self._check(event, creating=True)
        self.world.scheduled_events[event["id"]] = event
        return json_response(event)

    async def get(self, request: web.Request) -> web.StreamResponse:
        self.rest._auth(request)
        return json_response(self._event(request, self.rest._guild(request)))

    async def edit(self, request: web.Request) -> web.StreamResponse:
        self.rest._auth(request)
        guild = self.rest._guild(request)
        self._allowed(guild)
        event = self._event(request, guild)
        payload, _ = await self.rest._read_body(request)
        changed = dict(event)
        for key in (
            "name",
            "description",
            "scheduled_start_time",
            "scheduled_end_time",
            "entity_type",
            "entity_metadata",
            "privacy_level",
            "status",
            "channel_id",
        ):
            if key in payload:
                changed[key] = payload[key]
        moved = changed["scheduled_start_time"] != event["scheduled_start_time"]
        self._check(changed, creating=moved)
        event.update(changed)
        return json_response(event)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        self.rest._auth(request)
        guild = self.rest._guild(request)
        self._allowed(guild)
        event = self._event(request, guild)
        del self.world.scheduled_events[event["id"]]
        return no_content()


def end_of(event: JSON) -> dt.datetime | None:
    """When an event ends, as an aware datetime (for tests)."""
    return _time(event, "scheduled_end_time")
