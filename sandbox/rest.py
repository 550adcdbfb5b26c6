"""The sandbox's REST API (v10 subset), CDN and rate limiting, as seen by discord.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from sandbox.gateway import Gateway
from sandbox.interactions import (
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MODAL,
    UPDATE_MESSAGE,
    CallbackRecord,
    InteractionHandle,
    Interactions,
)
from sandbox.models import (
    CDN_STALL_SECONDS,
    DM_FAULTS,
    EPHEMERAL,
    JSON,
    LOADING,
    CdnFault,
    SandboxChannel,
    SandboxGuild,
    SandboxMessage,
    SandboxUser,
    StoredFile,
)
from sandbox.transcript import EventKind
from sandbox.world import World

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (method, path under the API prefix, handler)
Route = tuple[str, str, Handler]

# Gateway intents that decide whether the bot hears about its own messages.
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12

# Message flags a bot may set when creating a message.
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
# ... and when answering an interaction.
INTERACTION_FLAGS = EPHEMERAL | SUPPRESS_EMBEDS | IS_COMPONENTS_V2


class DiscordError(Exception):
    """Raised inside handlers; turned into a Discord-style JSON error response."""

    def __init__(self, status: int, message: str, code: int, errors: JSON | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors


def json_response(data: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only if Content-Type is exactly "application/json", which
    # web.json_response would spoil by appending "; charset=utf-8".
    return web.Response(
        status=status,
        body=json.dumps(data, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json"},
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def form_error(field: str, code: str, message: str) -> DiscordError:
    """A 50035 Invalid Form Body error pointing at ``field`` (dotted path)."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field.split(".")):
        errors = {part: errors}
    return DiscordError(400, "Invalid Form Body", 50035, errors)


@dataclass
class ForcedLimit:
    """Make the next ``remaining`` requests matching (method, route) answer 429."""

    method: str | None
    route: str
    remaining: int
    retry_after: float


@dataclass
class RateLimitHit:
    """A 429 the sandbox sent."""

    method: str
    path: str
    is_global: bool
    retry_after: float


@dataclass
class Upload:
    """A file part of a multipart request."""

    index: int | None
    filename: str
    data: bytes
    content_type: str | None


def _route_of(request: web.Request) -> str:
    """The route template without the API prefix, e.g. "/channels/{channel_id}/messages"."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    return canonical.removeprefix(API_PREFIX)


def _bucket_hash(route: str) -> str:
    return hashlib.sha1(route.encode()).hexdigest()[:16]


_FILE_FIELD = re.compile(r"^files\[(\d+)\]$|^file(\d*)$")


class RestApi:
    """REST handlers plus the knobs tests turn: forced 429s, a global limit, deadlines."""

    def __init__(
        self,
        world: World,
        gateway: Gateway,
        interactions: Interactions,
        *,
        interaction_deadline: float | None = 3.0,
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.interactions = interactions
        self.interaction_deadline = interaction_deadline
        self.requests: list[tuple[str, str]] = []
        self.unknown_routes: list[str] = []
        self.rate_limit_hits: list[RateLimitHit] = []
        self.forced_limits: list[ForcedLimit] = []
        self.global_limit: int | None = None
        self.global_window = 1.0
        # Seconds between creating a DM and answering the request (a slow Discord): a bot
        # killed in between sent the DM but never heard that it did.
        self.dm_latency = 0.0
        self._global_window: deque[float] = deque()
        self.errors: list[tuple[str, str, int, JSON]] = []

    # -- wiring ---------------------------------------------------------------------------

    def register(self, app: web.Application, extra: list[Route] | None = None) -> None:
        """Every route of the API; `extra` adds routes of the modules built on this one
        (their handlers use this module's errors and responses)."""
        app.middlewares.append(self._middleware)
        routes: list[Route] = [
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", "/users/@me", self.get_me),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("POST", "/users/@me/channels", self.create_dm),
            ("GET", "/users/{user_id}", self.get_user),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("GET", "/channels/{channel_id}/messages", self.list_messages),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.get_guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self.get_guild_roles),
            ("GET", "/guilds/{guild_id}/members", self.list_members),
            ("GET", "/guilds/{guild_id}/members/search", self.search_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
            ("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_role),
            ("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.remove_role),
            ("GET", "/applications/{app_id}/commands", self.get_commands),
            ("PUT", "/applications/{app_id}/commands", self.put_commands),
            ("POST", "/applications/{app_id}/commands", self.post_command),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands),
            ("POST", "/applications/{app_id}/guilds/{guild_id}/commands", self.post_command),
            (
                "GET",
                "/applications/{app_id}/guilds/{guild_id}/commands/permissions",
                self.get_command_permissions,
            ),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.callback),
            ("POST", "/webhooks/{app_id}/{token}", self.webhook_execute),
            ("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_get),
            ("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_edit),
            ("DELETE", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_delete),
        ]
        routes += extra or []
        for method, path, handler in routes:
            app.router.add_route(method, API_PREFIX + path, handler)
        app.router.add_get("/cdn/attachments/{channel_id}/{file_id}/{filename}", self.cdn)
        app.router.add_get("/gateway", self.gateway.handle)
        # Last, so it only catches what nothing above matched (including wrong methods).
        app.router.add_route("*", "/{tail:.*}", self.unknown)

    # -- the middleware: request log, rate limits, error formatting ------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(API_PREFIX + "/"):
            return await handler(request)
        rel = path.removeprefix(API_PREFIX)
        route = _route_of(request)
        self.requests.append((request.method, rel))
        limited = self._forced_429(request.method, rel, route)
        if limited is None:
            limited = self._global_429(request, rel)
        if limited is not None:
            return limited
        try:
            response = await handler(request)
        except DiscordError as exc:
            body: JSON = {"message": exc.message, "code": exc.code}
            if exc.errors is not None:
                body["errors"] = exc.errors
            self.errors.append((request.method, rel, exc.status, body))
            log.info("sandbox %s %s -> %s %s", request.method, rel, exc.status, body)
            response = json_response(body, exc.status)
        if response.status < 400 and route != "/{tail}":
            # Bucket headers shaped like Discord's but generous: discord.py paces itself by
            # them (it sleeps Reset-After once Remaining minus in-flight hits 0), and the
            # sandbox should not slow bursts down unless a test asks for 429s.
            now = time.time()
            response.headers.update(
                {
                    "X-RateLimit-Limit": "50",
                    "X-RateLimit-Remaining": "49",
                    "X-RateLimit-Reset": f"{now + 0.05:.3f}",
                    "X-RateLimit-Reset-After": "0.050",
                    "X-RateLimit-Bucket": _bucket_hash(route),
                }
            )
        return response

    def _forced_429(self, method: str, rel: str, route: str) -> web.Response | None:
        for forced in self.forced_limits:
            if forced.remaining <= 0:
                continue
            if forced.method is not None and forced.method != method:
                continue
            if forced.route not in (route, rel):
                continue
            forced.remaining -= 1
            return self._too_many(method, rel, route, forced.retry_after, is_global=False)
        return None

    def _global_429(self, request: web.Request, rel: str) -> web.Response | None:
        # Interaction endpoints are exempt from Discord's global limit.
        if self.global_limit is None or rel.startswith(("/interactions/", "/webhooks/")):
            return None
        now = time.monotonic()
        window = self._global_window
        while window and now - window[0] >= self.global_window:
            window.popleft()
        if len(window) < self.global_limit:
            window.append(now)
            return None
        retry_after = max(0.001, round(self.global_window - (now - window[0]), 3))
        return self._too_many(request.method, rel, _route_of(request), retry_after, is_global=True)

    def _too_many(
        self, method: str, rel: str, route: str, retry_after: float, *, is_global: bool
    ) -> web.Response:
        self.rate_limit_hits.append(RateLimitHit(method, rel, is_global, retry_after))
        self.world.record(
            EventKind.RATE_LIMITED,
            detail=f"429 {method} {rel} retry_after={retry_after}"
            + (" (global)" if is_global else ""),
        )
        response = json_response(
            {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": is_global,
            },
            429,
        )
        # discord.py retries a 429 only when it carries Via (else it assumes Cloudflare).
        headers = {"Via": "1.1 google", "Retry-After": str(max(1, math.ceil(retry_after)))}
        if is_global:
            headers.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
        else:
            headers.update(
                {
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                    "X-RateLimit-Bucket": _bucket_hash(route),
                    "X-RateLimit-Scope": "user",
                }
            )
        response.headers.update(headers)
        return response

    # -- helpers ----------------------------------------------------------------------------

    def _auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.world.token}":
            raise DiscordError(401, "401: Unauthorized", 0)

    def _int(self, request: web.Request, key: str) -> int:
        try:
            return int(request.match_info[key])
        except ValueError:
            raise form_error(key, "NUMBER_TYPE_COERCE", "Value is not snowflake.") from None

    def _channel(self, request: web.Request) -> SandboxChannel:
        channel = self.world.channels.get(self._int(request, "channel_id"))
        if channel is None:
            raise DiscordError(404, "Unknown Channel", 10003)
        return channel

    def _guild(self, request: web.Request) -> SandboxGuild:
        guild = self.world.guilds.get(self._int(request, "guild_id"))
        if guild is None:
            raise DiscordError(404, "Unknown Guild", 10004)
        return guild

    def _app(self, request: web.Request) -> None:
        if request.match_info["app_id"] != str(self.world.application_id):
            raise DiscordError(403, "Missing Access", 50001)

    async def _read_body(self, request: web.Request) -> tuple[JSON, list[Upload]]:
        """JSON body, or multipart with payload_json and files[n]."""
        ctype = request.content_type
        if ctype == "multipart/form-data":
            payload: JSON = {}
            uploads: list[Upload] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    raise form_error("files", "INVALID", "Nested multipart is not supported.")
                name = part.name or ""
                if name == "payload_json":
                    payload = json.loads(await part.text())
                    continue
                match = _FILE_FIELD.match(name)
                if match is None and part.filename is None:
                    raise form_error(name, "UNKNOWN_FIELD", f"Unknown form field {name!r}.")
                index_text = (match.group(1) or match.group(2)) if match else None
                uploads.append(
                    Upload(
                        index=int(index_text) if index_text else len(uploads),
                        filename=part.filename or name,
                        data=bytes(await part.read()),
                        content_type=part.headers.get("Content-Type"),
                    )
                )
            return payload, uploads
        if not request.body_exists:
            return {}, []
        if ctype != "application/json":
            raise DiscordError(400, "Cannot send an empty message", 50006)
        try:
            body = await request.json()
        except ValueError:
            raise DiscordError(400, "The request body contains invalid JSON.", 50109) from None
        return (body if isinstance(body, dict) else {"_list": body}), []

    def _attachments(
        self,
        channel: SandboxChannel,
        payload: JSON,
        uploads: list[Upload],
        existing: list[StoredFile] | None = None,
    ) -> list[StoredFile]:
        """The attachments a create/edit ends up with, storing the uploaded bytes."""
        if len(uploads) > 10:
            raise form_error("files", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = sum(len(u.data) for u in uploads)
        if total > self.world.attachment_size_limit:
            raise DiscordError(413, "Request entity too large", 40005)
        by_index = {u.index: u for u in uploads}
        described: JSON = {}
        kept: list[StoredFile] = []
        spec = payload.get("attachments")
        if spec is None:
            # Omitted on an edit means "keep what is there"; on a create there is nothing.
            kept = list(existing or [])
        else:
            known = {f.id: f for f in existing or []}
            for item in spec:
                raw_id = item.get("id")
                if raw_id is not None and int(raw_id) in by_index:
                    described[str(int(raw_id))] = item
                elif raw_id is not None and int(raw_id) in known:
                    kept.append(known[int(raw_id)])
        stored = list(kept)
        for upload in uploads:
            meta = described.get(str(upload.index), {})
            stored.append(
                self.world.store_file(
                    channel.id,
                    meta.get("filename") or upload.filename,
                    upload.data,
                    upload.content_type,
                    meta.get("description"),
                )
            )
        return stored

    @staticmethod
    def _validate(payload: JSON, has_files: bool, *, edit: bool = False) -> None:
        """Refuse what Discord refuses (400, 50035 or 50006) in a message the bot sends."""
        content = payload.get("content")
        if content is not None and not isinstance(content, str):
            raise form_error("content", "BASE_TYPE_STRING", "Must be a string.")
        _check_length("content", content or "", 2000)
        embeds = payload.get("embeds") or []
        _check_count("embeds", embeds, 10)
        total = sum(_embed_size(f"embeds.{i}", embed) for i, embed in enumerate(embeds))
        if total > 6000:
            raise form_error(
                "embeds", "BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000"
            )
        empty = not (
            content
            or embeds
            or has_files
            or payload.get("components")
            or payload.get("sticker_ids")
            or payload.get("poll")
        )
        if empty and not edit:
            raise DiscordError(400, "Cannot send an empty message", 50006)

    async def _announce(self, message: SandboxMessage) -> None:
        """MESSAGE_CREATE for the bot's own visible messages, as Discord sends it."""
        if message.ephemeral:
            return
        intent = INTENT_DIRECT_MESSAGES if message.guild_id is None else INTENT_GUILD_MESSAGES
        await self.gateway.dispatch(
            "MESSAGE_CREATE", message.to_payload(), only=lambda s: bool(s.intents & intent)
        )

    # -- identity --------------------------------------------------------------------------

    async def get_gateway(self, request: web.Request) -> web.StreamResponse:
        return json_response({"url": self.gateway.url})

    async def get_gateway_bot(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        return json_response(
            {
                "url": self.gateway.url,
                "shards": self.gateway.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": self.gateway.max_concurrency,
                },
            }
        )

    async def get_me(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        me = self.world.bot_user.to_payload()
        me.update(verified=True, mfa_enabled=False, flags=0, locale="en-US", email=None)
        return json_response(me)

    async def get_application(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        world = self.world
        return json_response(
            {
                "id": str(world.application_id),
                "name": world.application_name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": world.owner.to_payload(),
                "team": None,
                "bot": world.bot_user.to_payload(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
                "approximate_guild_count": len(world.guilds),
                "integration_types_config": {"0": {}},
            }
        )

    async def get_user(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        user = self.world.users.get(self._int(request, "user_id"))
        if user is None:
            raise DiscordError(404, "Unknown User", 10013)
        return json_response(user.to_payload())

    # -- channels and messages --------------------------------------------------------------

    async def create_dm(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        body, _ = await self._read_body(request)
        try:
            user = self.world.users.get(int(body["recipient_id"]))
        except (KeyError, TypeError, ValueError):
            raise form_error(
                "recipient_id", "BASE_TYPE_REQUIRED", "This field is required"
            ) from None
        if user is None:
            raise DiscordError(404, "Unknown User", 10013)
        faulted = self._dm_fault(user, None)
        if faulted is not None:
            return faulted
        return json_response(self.world.dm_channel(user).to_payload())

    async def get_channel(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        return json_response(self._channel(request).to_payload())

    async def list_messages(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        channel = self._channel(request)
        limit = min(100, int(request.query.get("limit", "50")))
        before = request.query.get("before")
        after = request.query.get("after")
        messages = self.world.channel_messages(channel)
        if before:
            messages = [m for m in messages if m.id < int(before)]
        if after:
            messages = [m for m in messages if m.id > int(after)][:limit]
        newest_first = sorted(messages, key=lambda m: m.id, reverse=True)[:limit]
        return json_response([m.to_payload() for m in newest_first])

    async def create_message(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        channel = self._channel(request)
        payload, uploads = await self._read_body(request)
        self._validate(payload, bool(uploads))
        enforced = payload.get("nonce") is not None and payload.get("enforce_nonce")
        nonce = str(payload["nonce"]) if enforced else None
        earlier = self._nonce_replay(nonce)
        if earlier is not None:
            return json_response(earlier.to_payload())
        refused = self._refuse_dm(channel, payload.get("content"))
        if refused is not None:
            return refused
        flags = int(payload.get("flags") or 0)
        if flags & ~(SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2):
            raise form_error("flags", "MESSAGE_FLAGS_INVALID", "Invalid message flags.")
        message = self._new_message(channel, payload, uploads, flags=flags)
        if nonce is not None:
            self.world.remember_nonce(self.world.bot_user, nonce, message)
        if channel.is_dm and self.dm_latency:
            await asyncio.sleep(self.dm_latency)
        self._record_sent(channel, message)
        await self._announce(message)
        return json_response(message.to_payload())

    def _nonce_replay(self, nonce: str | None) -> SandboxMessage | None:
        """Discord: the same author's enforced nonce seen in the past few minutes returns that
        message, and no new one is created."""
        if nonce is None:
            return None
        earlier = self.world.message_for_nonce(self.world.bot_user, nonce)
        if earlier is not None:
            self.world.nonce_hits += 1
        return earlier

    def _refuse_dm(self, channel: SandboxChannel, content: Any) -> web.Response | None:
        """A queued DM fault answered as Discord does, or 50007 for a user with closed DMs."""
        recipient = channel.recipient
        if not channel.is_dm or recipient is None:
            return None
        faulted = self._dm_fault(recipient, content)
        if faulted is not None:
            return faulted
        if recipient.dms_closed:
            self.world.record(
                EventKind.DM_FAILED,
                user=recipient,
                channel_id=channel.id,
                content=content,
                detail="Cannot send messages to this user (50007)",
            )
            raise DiscordError(403, "Cannot send messages to this user", 50007)
        return None

    def _new_message(
        self,
        channel: SandboxChannel,
        payload: JSON,
        uploads: list[Upload],
        *,
        flags: int,
        interaction: InteractionHandle | None = None,
    ) -> SandboxMessage:
        """The bot's message that `payload` (already validated) and its uploads describe."""
        return self.world.new_message(
            channel,
            author=self.world.bot_user,
            content=payload.get("content") or "",
            embeds=list(payload.get("embeds") or []),
            attachments=self._attachments(channel, payload, uploads),
            components=payload.get("components"),
            flags=flags,
            interaction=None if interaction is None else interaction.metadata,
        )

    def _record_sent(self, channel: SandboxChannel, message: SandboxMessage) -> None:
        if channel.is_dm:
            self.world.record(
                EventKind.DM,
                user=channel.recipient,
                channel_id=channel.id,
                content=message.content,
                embeds=message.embeds,
                files=message.attachments,
                message=message,
            )
        else:
            self.world.record(
                EventKind.CHANNEL_MESSAGE,
                channel_id=channel.id,
                content=message.content,
                embeds=message.embeds,
                files=message.attachments,
                message=message,
                detail=channel.name,
            )

    def _dm_fault(self, user: SandboxUser, content: Any) -> web.Response | None:
        """The next fault a test queued for DM requests to `user`, answered as Discord does."""
        if not user.dm_faults:
            return None
        name = user.dm_faults.pop(0)
        status, code, message = DM_FAULTS[name]
        self.world.record(
            EventKind.DM_FAILED, user=user, content=content, detail=f"{message} ({name})"
        )
        if status == 429:
            return self._dm_too_many(name)
        body: JSON = {"message": message, "code": code}
        self.errors.append(("POST", f"dm:{user.id}", status, body))
        return json_response(body, status)

    def _dm_too_many(self, name: str) -> web.Response:
        retry_after = 0.05
        response = json_response(
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            429,
        )
        if name == "429":
            response.headers.update(
                {"Via": "1.1 google", "X-RateLimit-Scope": "user", "Retry-After": "1"}
            )
        self.rate_limit_hits.append(RateLimitHit("POST", "dm", False, retry_after))
        return response

    def _message(self, request: web.Request, channel: SandboxChannel) -> SandboxMessage:
        message = self.world.messages.get(self._int(request, "message_id"))
        if message is None or message.deleted or message.channel_id != channel.id:
            raise DiscordError(404, "Unknown Message", 10008)
        return message

    async def get_message(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        channel = self._channel(request)
        return json_response(self._message(request, channel).to_payload())

    async def edit_message(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        channel = self._channel(request)
        message = self._message(request, channel)
        if message.author is not self.world.bot_user:
            raise DiscordError(403, "Cannot edit a message authored by another user", 50005)
        payload, uploads = await self._read_body(request)
        self._apply_edit(channel, message, payload, uploads)
        self.world.record(
            EventKind.EDIT,
            user=channel.recipient,
            channel_id=channel.id,
            content=message.content,
            embeds=message.embeds,
            files=message.attachments,
            message=message,
        )
        await self._dispatch_update(message)
        return json_response(message.to_payload())

    async def delete_message(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        channel = self._channel(request)
        message = self._message(request, channel)
        message.deleted = True
        self.world.record(
            EventKind.DELETE, user=channel.recipient, channel_id=channel.id, message=message
        )
        return no_content()

    async def typing(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        self._channel(request)
        return no_content()

    def _apply_edit(
        self,
        channel: SandboxChannel,
        message: SandboxMessage,
        payload: JSON,
        uploads: list[Upload],
    ) -> None:
        self._validate(payload, bool(uploads), edit=True)
        if "content" in payload:
            message.content = payload["content"] or ""
        if "embeds" in payload:
            message.embeds = list(payload["embeds"] or [])
        if "components" in payload:
            message.components = list(payload["components"] or [])
        if "attachments" in payload or uploads:
            message.attachments = self._attachments(channel, payload, uploads, message.attachments)
        message.edited_at = self.world.now()

    async def _dispatch_update(self, message: SandboxMessage) -> None:
        if message.ephemeral:
            return
        data = message.to_payload()
        intent = INTENT_DIRECT_MESSAGES if message.guild_id is None else INTENT_GUILD_MESSAGES
        await self.gateway.dispatch("MESSAGE_UPDATE", data, only=lambda s: bool(s.intents & intent))

    # -- guilds and members --------------------------------------------------------------------

    async def get_guild(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        guild = self._guild(request)
        payload = guild.to_payload()
        for key in (
            "joined_at",
            "large",
            "unavailable",
            "member_count",
            "voice_states",
            "members",
            "channels",
            "threads",
            "presences",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
        ):
            payload.pop(key, None)
        if request.query.get("with_counts") in ("true", "1", "True"):
            payload["approximate_member_count"] = len(guild.members)
            payload["approximate_presence_count"] = 0
        return json_response(payload)

    async def get_guild_channels(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        return json_response([c.to_payload() for c in self._guild(request).channels.values()])

    async def get_guild_roles(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        return json_response([r.to_payload() for r in self._guild(request).roles.values()])

    async def list_members(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        guild = self._guild(request)
        limit = min(1000, int(request.query.get("limit", "1")))
        after = int(request.query.get("after", "0"))
        members = sorted(
            (m for m in guild.members.values() if m.user.id > after), key=lambda m: m.user.id
        )
        return json_response([m.to_payload() for m in members[:limit]])

    async def search_members(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        guild = self._guild(request)
        query = request.query.get("query", "").lower()
        limit = min(1000, int(request.query.get("limit", "1")))
        found = [
            m
            for m in guild.members.values()
            if m.user.username.lower().startswith(query)
            or (m.nick or "").lower().startswith(query)
            or (m.user.global_name or "").lower().startswith(query)
        ]
        return json_response([m.to_payload() for m in found[:limit]])

    async def get_member(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        guild = self._guild(request)
        member = guild.members.get(self._int(request, "user_id"))
        if member is None:
            raise DiscordError(404, "Unknown Member", 10007)
        return json_response(member.to_payload())

    async def _member_role(self, request: web.Request, add: bool) -> web.StreamResponse:
        self._auth(request)
        guild = self._guild(request)
        member = guild.members.get(self._int(request, "user_id"))
        if member is None:
            raise DiscordError(404, "Unknown Member", 10007)
        role_id = self._int(request, "role_id")
        if role_id not in guild.roles:
            raise DiscordError(404, "Unknown Role", 10011)
        if add and role_id not in member.role_ids:
            member.role_ids.append(role_id)
        elif not add and role_id in member.role_ids:
            member.role_ids.remove(role_id)
        await self.gateway.guild_member_update(guild, member)
        return no_content()

    async def add_role(self, request: web.Request) -> web.StreamResponse:
        return await self._member_role(request, add=True)

    async def remove_role(self, request: web.Request) -> web.StreamResponse:
        return await self._member_role(request, add=False)

    # -- application commands -----------------------------------------------------------------

    def _scope(self, request: web.Request) -> int | None:
        self._auth(request)
        self._app(request)
        if "guild_id" not in request.match_info:
            return None
        return self._guild(request).id

    def _stored_commands(self, scope: int | None) -> list[JSON]:
        if scope is None:
            return self.world.global_commands
        return self.world.guild_commands.setdefault(scope, [])

    def _store_command(self, scope: int | None, definition: JSON, previous: list[JSON]) -> JSON:
        _check_command(definition)
        kind = int(definition.get("type", 1))
        same = next(
            (
                c
                for c in previous
                if c["name"] == definition["name"] and int(c.get("type", 1)) == kind
            ),
            None,
        )
        # Discord keeps a command's id across re-syncs as long as name and type match.
        command_id = same["id"] if same is not None else str(self.world.ids.new())
        stored: JSON = {
            "id": command_id,
            "application_id": str(self.world.application_id),
            "version": str(self.world.ids.new()),
            "type": kind,
            "name": definition["name"],
            "name_localizations": definition.get("name_localizations"),
            "description": definition.get("description", ""),
            "description_localizations": definition.get("description_localizations"),
            "options": definition.get("options") or [],
            "default_member_permissions": definition.get("default_member_permissions"),
            "dm_permission": definition.get("dm_permission", True),
            "contexts": definition.get("contexts"),
            "integration_types": definition.get("integration_types") or [0],
            "nsfw": bool(definition.get("nsfw", False)),
        }
        if scope is not None:
            stored["guild_id"] = str(scope)
        return stored

    async def get_commands(self, request: web.Request) -> web.StreamResponse:
        return json_response(self._stored_commands(self._scope(request)))

    async def put_commands(self, request: web.Request) -> web.StreamResponse:
        scope = self._scope(request)
        body, _ = await self._read_body(request)
        definitions = body.get("_list")
        if not isinstance(definitions, list):
            raise form_error("_list", "BASE_TYPE_ARRAY", "Must be an array.")
        names = [(d.get("name"), int(d.get("type", 1))) for d in definitions]
        if len(set(names)) != len(names):
            raise form_error(
                "_list",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        previous = self._stored_commands(scope)
        stored = [self._store_command(scope, d, previous) for d in definitions]
        if scope is None:
            self.world.global_commands = stored
        else:
            self.world.guild_commands[scope] = stored
        self.world.sync_calls.append((scope, [c["name"] for c in stored]))
        self.world.record(
            EventKind.COMMAND_SYNC,
            detail=f"{'guild ' + str(scope) if scope else 'global'}: "
            + ", ".join("/" + c["name"] for c in stored),
        )
        await self.gateway._notify()
        return json_response(stored)

    async def post_command(self, request: web.Request) -> web.StreamResponse:
        scope = self._scope(request)
        body, _ = await self._read_body(request)
        commands = self._stored_commands(scope)
        stored = self._store_command(scope, body, commands)
        commands[:] = [c for c in commands if c["id"] != stored["id"]] + [stored]
        return json_response(stored, 201)

    async def get_command_permissions(self, request: web.Request) -> web.StreamResponse:
        self._scope(request)
        return json_response([])

    # -- interactions -----------------------------------------------------------------------

    def _interaction(self, request: web.Request, id_key: str) -> InteractionHandle:
        try:
            handle = self.interactions.get(int(request.match_info[id_key]))
        except ValueError:
            handle = None
        if handle is None or handle.token != request.match_info["token"]:
            raise DiscordError(404, "Unknown interaction", 10062)
        return handle

    def _webhook_interaction(self, request: web.Request) -> InteractionHandle:
        if request.match_info["app_id"] != str(self.world.application_id):
            raise DiscordError(404, "Unknown Webhook", 10015)
        token = request.match_info["token"]
        handle = self.interactions.by_token(token)
        if handle is None:
            raise DiscordError(401, "Invalid Webhook Token", 50027)
        if not handle.callbacks:
            # Follow-ups only exist once the interaction was acknowledged.
            raise DiscordError(404, "Unknown Webhook", 10015)
        return handle

    def _fail(self, handle: InteractionHandle, error: DiscordError) -> DiscordError:
        handle.errors.append(f"{error.status} {error.code} {error.message}")
        self.world.record(
            EventKind.ERROR,
            user=handle.user,
            interaction_id=handle.id,
            detail=f"{error.status} {error.code} {error.message}",
        )
        return error

    async def callback(self, request: web.Request) -> web.StreamResponse:
        handle = self._interaction(request, "interaction_id")
        payload, uploads = await self._read_body(request)
        elapsed = handle.elapsed()
        if handle.callbacks:
            raise self._fail(
                handle, DiscordError(400, "Interaction has already been acknowledged.", 40060)
            )
        deadline = self.interaction_deadline
        if deadline is not None and elapsed > deadline:
            raise self._fail(handle, DiscordError(404, "Unknown interaction", 10062))
        kind = payload.get("type")
        if (kind == AUTOCOMPLETE_RESULT) != (handle.type == AUTOCOMPLETE):
            expected = "Invalid interaction response type"
            if handle.type == AUTOCOMPLETE:
                expected = "Autocomplete interactions need type 8"
            raise self._fail(handle, _invalid_response_type(expected))
        respond = self._responders().get(kind) if isinstance(kind, int) else None
        if respond is None:
            raise self._fail(handle, _invalid_response_type(f"Unsupported callback type {kind!r}"))
        assert isinstance(kind, int)
        message = await respond(_Answer(handle, kind, payload.get("data") or {}, uploads, elapsed))
        if kind == AUTOCOMPLETE_RESULT:
            return no_content()
        return json_response(_callback_response(handle, kind, message))

    def _responders(self) -> dict[int, Callable[[_Answer], Awaitable[SandboxMessage | None]]]:
        """The handler of each interaction callback type Discord accepts from a bot."""
        return {
            AUTOCOMPLETE_RESULT: self._answer_choices,
            CHANNEL_MESSAGE: self._answer_message,
            DEFERRED_CHANNEL_MESSAGE: self._answer_thinking,
            DEFERRED_UPDATE_MESSAGE: self._answer_update,
            UPDATE_MESSAGE: self._answer_update,
            MODAL: self._answer_modal,
        }

    async def _answer_choices(self, answer: _Answer) -> SandboxMessage | None:
        handle = answer.handle
        handle.choices = list(answer.data.get("choices") or [])
        handle.add_callback(answer.record)
        self.world.record(
            EventKind.CHOICES,
            user=handle.user,
            interaction_id=handle.id,
            command=handle.command,
            detail=", ".join(str(c.get("name")) for c in handle.choices) or "(none)",
        )
        return None

    async def _answer_message(self, answer: _Answer) -> SandboxMessage | None:
        handle, data, channel = answer.handle, answer.data, answer.handle.channel
        try:
            self._validate(data, bool(answer.uploads))
            flags = int(data.get("flags") or 0) & INTERACTION_FLAGS
            message = self._new_message(
                channel, data, answer.uploads, flags=flags, interaction=handle
            )
        except DiscordError as exc:
            raise self._fail(handle, exc) from None
        answer.record.message = message
        handle.add_message(message, original=True)
        handle.add_callback(answer.record)
        self._answered(EventKind.RESPONSE, handle, message, command=handle.command)
        await self._announce(message)
        return message

    async def _answer_thinking(self, answer: _Answer) -> SandboxMessage | None:
        handle, world = answer.handle, self.world
        flags = int(answer.data.get("flags") or 0) & EPHEMERAL
        message = world.new_message(
            handle.channel,
            author=world.bot_user,
            content="",
            embeds=[],
            attachments=[],
            flags=flags | LOADING,
            interaction=handle.metadata,
        )
        answer.record.message = message
        handle.add_message(message, original=True)
        handle.add_callback(answer.record)
        world.record(
            EventKind.DEFER,
            user=handle.user,
            interaction_id=handle.id,
            channel_id=handle.channel.id,
            command=handle.command,
            ephemeral=bool(flags & EPHEMERAL),
            detail=f"after {answer.elapsed:.3f}s",
        )
        return message

    async def _answer_update(self, answer: _Answer) -> SandboxMessage | None:
        """UPDATE_MESSAGE edits the message a component sits on; DEFERRED_UPDATE_MESSAGE only
        acknowledges (and makes that message @original)."""
        handle, target = answer.handle, answer.handle.target_message
        updating = answer.kind == UPDATE_MESSAGE
        if target is None and updating:
            raise self._fail(
                handle, _invalid_response_type("Only component interactions can update")
            )
        handle.add_callback(answer.record)
        if target is not None:
            handle.add_message(target, original=True)
        if not (updating and target is not None):
            self.world.record(
                EventKind.DEFER,
                user=handle.user,
                interaction_id=handle.id,
                channel_id=handle.channel.id,
                detail="(update)",
            )
            return target
        try:
            self._apply_edit(handle.channel, target, answer.data, answer.uploads)
        except DiscordError as exc:
            raise self._fail(handle, exc) from None
        await self._edited(handle, target, EventKind.EDIT)
        return target

    async def _edited(
        self,
        handle: InteractionHandle,
        message: SandboxMessage,
        kind: EventKind,
        *,
        command: str | None = None,
    ) -> None:
        """An interaction's message was edited: record it, mark the interaction answered, and
        tell the gateway (MESSAGE_UPDATE)."""
        self._answered(kind, handle, message, command=command)
        await self._dispatch_update(message)

    def _answered(
        self,
        kind: EventKind,
        handle: InteractionHandle,
        message: SandboxMessage,
        *,
        command: str | None,
        detail: str = "",
    ) -> None:
        """`message` answers `handle` (a response, a follow-up or an edit): into the transcript,
        and the interaction counts as answered."""
        self.world.record(
            kind,
            user=handle.user,
            interaction_id=handle.id,
            channel_id=message.channel_id,
            command=command,
            content=message.content,
            embeds=message.embeds,
            files=message.attachments,
            ephemeral=message.ephemeral,
            message=message,
            detail=detail,
        )
        handle.mark_done(message)

    async def _answer_modal(self, answer: _Answer) -> SandboxMessage | None:
        handle = answer.handle
        handle.modal = answer.data
        handle.add_callback(answer.record)
        self.world.record(
            EventKind.MODAL,
            user=handle.user,
            interaction_id=handle.id,
            command=handle.command,
            detail=f"{answer.data.get('title')!r} ({answer.data.get('custom_id')})",
        )
        return None

    async def webhook_execute(self, request: web.Request) -> web.StreamResponse:
        handle = self._webhook_interaction(request)
        payload, uploads = await self._read_body(request)
        channel = handle.channel
        original = handle.original
        try:
            if original is not None and original.loading:
                # After a "thinking" defer Discord turns the first follow-up into the
                # original response, keeping the defer's ephemerality.
                asked = bool(int(payload.get("flags") or 0) & EPHEMERAL)
                note = ""
                if asked != original.ephemeral:
                    note = f"ephemeral={asked} ignored: the defer made it {original.ephemeral}"
                    log.warning("sandbox: follow-up after defer: %s", note)
                self._validate(payload, bool(uploads))
                self._apply_edit(channel, original, payload, uploads)
                original.flags &= ~LOADING
                message = original
            else:
                note = ""
                self._validate(payload, bool(uploads))
                flags = int(payload.get("flags") or 0) & INTERACTION_FLAGS
                message = self._new_message(
                    channel, payload, uploads, flags=flags, interaction=handle
                )
        except DiscordError as exc:
            raise self._fail(handle, exc) from None
        handle.add_message(message)
        self._answered(EventKind.FOLLOWUP, handle, message, command=handle.command, detail=note)
        await self._announce(message)
        if request.query.get("wait") in ("true", "1", "True"):
            return json_response(message.to_payload())
        return no_content()

    def _webhook_message(self, request: web.Request, handle: InteractionHandle) -> SandboxMessage:
        key = request.match_info["message_id"]
        if key == "@original":
            message = handle.original
        else:
            try:
                message = self.world.messages.get(int(key))
            except ValueError:
                message = None
            if message is not None and message not in handle.messages:
                message = None
        if message is None or message.deleted:
            raise DiscordError(404, "Unknown Message", 10008)
        return message

    async def webhook_get(self, request: web.Request) -> web.StreamResponse:
        handle = self._webhook_interaction(request)
        return json_response(self._webhook_message(request, handle).to_payload())

    async def webhook_edit(self, request: web.Request) -> web.StreamResponse:
        handle = self._webhook_interaction(request)
        try:
            message = self._webhook_message(request, handle)
            payload, uploads = await self._read_body(request)
            filling_defer = message.loading
            if filling_defer:
                # Filling in "thinking..." is a message create as far as emptiness goes.
                self._validate(payload, bool(uploads))
            self._apply_edit(handle.channel, message, payload, uploads)
        except DiscordError as exc:
            raise self._fail(handle, exc) from None
        message.flags &= ~LOADING
        kind = EventKind.RESPONSE if filling_defer else EventKind.EDIT
        await self._edited(handle, message, kind, command=handle.command)
        return json_response(message.to_payload())

    async def webhook_delete(self, request: web.Request) -> web.StreamResponse:
        handle = self._webhook_interaction(request)
        message = self._webhook_message(request, handle)
        message.deleted = True
        self.world.record(
            EventKind.DELETE, user=handle.user, interaction_id=handle.id, message=message
        )
        return no_content()

    # -- CDN and the catch-all ------------------------------------------------------------

    async def cdn(self, request: web.Request) -> web.StreamResponse:
        try:
            stored = self.world.files.get(int(request.match_info["file_id"]))
        except ValueError:
            stored = None
        if stored is None:
            return web.Response(status=404, text="Not Found")
        stored.downloads += 1
        fault = stored.faults.pop(0) if stored.faults else None
        if fault is not None:
            self.world.record(EventKind.CDN_FAULT, detail=f"{fault} {stored.filename}")
            return await self._faulty_download(request, stored, CdnFault(fault))
        return web.Response(body=stored.data, headers={"Content-Type": stored.content_type})

    async def _faulty_download(
        self, request: web.Request, stored: StoredFile, fault: CdnFault
    ) -> web.StreamResponse:
        """The CDN misbehaving the ways Discord's does: see CdnFault."""
        half = stored.data[: max(1, stored.size // 2)]
        if fault is CdnFault.SERVER_ERROR:
            return web.Response(status=500, text="Internal Server Error")
        if fault is CdnFault.SHORT:
            # A clean response, just shorter than the attachment's declared size.
            return web.Response(body=half, headers={"Content-Type": stored.content_type})
        if fault is CdnFault.LONG:
            extra = stored.data + b"\0" * 1024
            return web.Response(body=extra, headers={"Content-Type": stored.content_type})
        response = web.StreamResponse(
            headers={"Content-Type": stored.content_type, "Content-Length": str(stored.size)}
        )
        await response.prepare(request)
        await response.write(half)
        if fault is CdnFault.STALL:
            # Half the bytes, then silence: until the client gives up (or a long while).
            await asyncio.sleep(CDN_STALL_SECONDS)
        # Cut: the connection closes before Content-Length bytes came.
        transport = request.transport
        if transport is not None:
            transport.close()
        return response

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        entry = f"{request.method} {request.path}"
        self.unknown_routes.append(entry)
        log.warning("sandbox: unknown route %s (not implemented by the sandbox)", entry)
        self.world.record(EventKind.UNKNOWN_ROUTE, detail=entry)
        # Drain the body so the client sees a clean response, not a reset connection.
        await request.read()
        return json_response({"message": "404: Not Found", "code": 0}, 404)


def _check_command(definition: JSON) -> None:
    """The checks Discord applies on sync that discord.py does not do client-side."""
    name = definition.get("name")
    kind = int(definition.get("type", 1))
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        raise form_error("name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid command name")
    if kind == 1 and (not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower()):
        raise form_error(
            "name", "APPLICATION_COMMAND_INVALID_NAME", f"Command name {name!r} is invalid"
        )
    if kind == 1 and not 1 <= len(definition.get("description") or "") <= 100:
        raise form_error(
            "description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    _check_options(definition.get("options") or [], name)


def _check_options(options: list[JSON], where: str) -> None:
    if len(options) > 25:
        raise form_error(
            f"{where}.options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
        )
    seen_optional = False
    for option in options:
        if option["type"] in (1, 2):
            _check_options(option.get("options") or [], f"{where}.{option['name']}")
            continue
        if option.get("required"):
            if seen_optional:
                raise form_error(
                    f"{where}.options",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        if len(option.get("choices") or []) > 25:
            raise form_error(
                f"{where}.{option['name']}.choices",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            )


@dataclass
class _Answer:
    """One interaction callback as the bot sent it."""

    handle: InteractionHandle
    kind: int
    data: JSON
    uploads: list[Upload]
    elapsed: float
    record: CallbackRecord = field(init=False)

    def __post_init__(self) -> None:
        self.record = CallbackRecord(type=self.kind, data=self.data, after=self.elapsed)


def _invalid_response_type(message: str) -> DiscordError:
    return form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", message)


def _callback_response(
    handle: InteractionHandle, kind: int, message: SandboxMessage | None
) -> JSON:
    """The body of `?with_response=true`: the interaction and the message it created or edited."""
    interaction: JSON = {"id": str(handle.id), "type": handle.type}
    resource: JSON = {"type": kind}
    if message is not None:
        interaction.update(
            response_message_id=str(message.id),
            response_message_loading=message.loading,
            response_message_ephemeral=message.ephemeral,
        )
        if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
            resource["message"] = message.to_payload()
    return {"interaction": interaction, "resource": resource}


def _check_length(path: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _check_count(path: str, items: list[Any], limit: int) -> None:
    if len(items) > limit:
        raise form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _embed_size(path: str, embed: JSON) -> int:
    """Check one embed against Discord's limits; its characters toward the 6,000 in all."""
    size = 0
    for key, limit in (("title", 256), ("description", 4096)):
        text = embed.get(key) or ""
        _check_length(f"{path}.{key}", text, limit)
        size += len(text)
    fields = embed.get("fields") or []
    _check_count(f"{path}.fields", fields, 25)
    for j, fld in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            text = fld.get(key)
            if not text:
                raise form_error(
                    f"{path}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required"
                )
            _check_length(f"{path}.fields.{j}.{key}", text, limit)
            size += len(text)
    footer = (embed.get("footer") or {}).get("text") or ""
    author = (embed.get("author") or {}).get("name") or ""
    if len(footer) > 2048 or len(author) > 256:
        raise form_error(path, "BASE_TYPE_MAX_LENGTH", "Embed part too long.")
    return size + len(footer) + len(author)
