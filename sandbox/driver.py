"""The test-facing driver: start a loopback Discord, build a world, act as users, read results."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.events import ScheduledEvents
from sandbox.gateway import Gateway
from sandbox.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    FileSpec,
    InteractionHandle,
    Interactions,
    OptionBuilder,
    ResolvedCommand,
    interaction_payload,
    resolve_command,
    wrap_options,
)
from sandbox.models import (
    ADMINISTRATOR,
    DEFAULT_BOT_PERMISSIONS,
    DM_FAULTS,
    JSON,
    MANAGE_GUILD,
    CdnFault,
    SandboxChannel,
    SandboxGuild,
    SandboxMember,
    SandboxMessage,
    SandboxRole,
    SandboxUser,
    StoredFile,
)
from sandbox.process import BotProcess, InProcessBot
from sandbox.rest import ForcedLimit, RateLimitHit, RestApi
from sandbox.transcript import EventKind, Transcript
from sandbox.world import DEFAULT_ATTACHMENT_SIZE_LIMIT, SandboxError, World

if TYPE_CHECKING:
    import discord

log = logging.getLogger(__name__)

STAFF_ROLE_NAME = "Staff"
# Connections waiting to be accepted (see Sandbox.start).
LISTEN_BACKLOG = 4096


class Sandbox:
    """A fake Discord on 127.0.0.1 that a real, unpatched discord.py client talks to.

    Use as ``async with Sandbox() as sandbox:`` (or ``await start()`` / ``await stop()``).
    """

    def __init__(
        self,
        *,
        application_name: str = "Hand-in bot",
        token: str | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
        interaction_deadline: float | None = 3.0,
        heartbeat_interval_ms: int = 41250,
        connect_timeout: float = 10.0,
        privileged_intents: int | None = None,
    ) -> None:
        self.world = World(
            application_name=application_name,
            token=token,
            bot_permissions=bot_permissions,
            attachment_size_limit=attachment_size_limit,
        )
        self.gateway = Gateway(self.world, heartbeat_interval_ms=heartbeat_interval_ms)
        if privileged_intents is not None:
            # Which privileged intents the app "has enabled"; others are refused with 4014.
            self.gateway.allowed_privileged_intents = privileged_intents
        self._interactions = Interactions()
        self.rest = RestApi(
            self.world, self.gateway, self._interactions, interaction_deadline=interaction_deadline
        )
        self.connect_timeout = connect_timeout
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._bots: list[InProcessBot | BotProcess] = []

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> Sandbox:
        # Uploads can be large; Discord's own limit is enforced by the handlers (413).
        app = web.Application(client_max_size=1024 * 1024 * 1024)
        self.rest.register(app, ScheduledEvents(self.rest).routes())
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        # Binding our own socket to port 0 gives a free port without a race.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        # Discord's edge takes a thousand connections at once; aiohttp's default listen backlog
        # (128) would drop the SYNs of a bot that opens many at the same instant (a rush of
        # defers), whose retries a second later then miss the 3 s interaction deadline: a fault
        # of this loopback server, not of the bot. The kernel caps it at net.core.somaxconn.
        site = web.SockSite(runner, sock, backlog=LISTEN_BACKLOG)
        await site.start()
        self._runner = runner
        self.world.http_base = f"http://127.0.0.1:{self.port}"
        self.gateway.url = self.gateway_url
        log.info("sandbox Discord listening on %s", self.world.http_base)
        return self

    async def stop(self) -> None:
        for bot in reversed(self._bots):
            try:
                await bot.stop()
            except Exception:
                log.exception("stopping %r failed", bot)
        self._bots.clear()
        await self.settle()
        await self.gateway.close_all(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses and identity --------------------------------------------------------------

    @property
    def http_base(self) -> str:
        return self.world.http_base

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` must be set to."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def token(self) -> str:
        return self.world.token

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def bot_user(self) -> SandboxUser:
        return self.world.bot_user

    @property
    def owner(self) -> SandboxUser:
        """Owner of every sandbox guild (has all permissions); not a typical test user."""
        return self.world.owner

    def env(self, data_dir: str | Path | None = None) -> dict[str, str]:
        """Environment variables that point a bot process at this sandbox."""
        env = {
            "DISCORD_TOKEN": self.token,
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway_url,
        }
        if data_dir is not None:
            env["HANDIN_DATA_DIR"] = str(data_dir)
        return env

    # -- records tests assert on --------------------------------------------------------------

    @property
    def transcript(self) -> Transcript:
        return self.world.transcript

    @property
    def unknown_routes(self) -> list[str]:
        """Requests to routes the sandbox does not implement ("METHOD /path")."""
        return self.rest.unknown_routes

    @property
    def rate_limit_hits(self) -> list[RateLimitHit]:
        return self.rest.rate_limit_hits

    @property
    def rate_limited_count(self) -> int:
        return len(self.rest.rate_limit_hits)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every REST request as (method, path below /api/v10), in arrival order."""
        return self.rest.requests

    @property
    def http_errors(self) -> list[tuple[str, str, int, JSON]]:
        """Discord-style errors the REST API answered: (method, path, status, body)."""
        return self.rest.errors

    @property
    def sync_calls(self) -> list[tuple[int | None, list[str]]]:
        """Bulk command syncs: (guild id or None for global, command names)."""
        return self.world.sync_calls

    @property
    def sync_count(self) -> int:
        return len(self.world.sync_calls)

    @property
    def global_commands(self) -> list[JSON]:
        return self.world.global_commands

    def guild_commands(self, guild: SandboxGuild) -> list[JSON]:
        return self.world.guild_commands.get(guild.id, [])

    @property
    def interactions(self) -> list[InteractionHandle]:
        return self._interactions.all()

    # -- building the world -------------------------------------------------------------------

    def _later(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a gateway dispatch soon; invoke() and settle() wait for it, keeping order."""
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Wait until every dispatch caused by world changes has been sent."""
        while self._pending:
            await asyncio.gather(*list(self._pending))

    def add_guild(
        self, name: str, *, locale: str = "en-US", shard: tuple[int, int] | None = None
    ) -> SandboxGuild:
        """A guild with a #general text channel, the owner and the bot as members; `shard`
        (id, count) gives it an id on that shard (its events go only to that shard's session)."""
        guild = self.world.new_guild(name, locale=locale, shard=shard)
        if self.gateway.sessions:
            self._later(self.gateway.guild_create(guild))
        return guild

    def add_channel(self, guild: SandboxGuild, name: str) -> SandboxChannel:
        channel = self.world.new_channel(guild, name)
        if self.gateway.sessions:
            self._later(self.gateway.dispatch("CHANNEL_CREATE", channel.to_payload()))
        return channel

    def add_role(self, guild: SandboxGuild, name: str, *, permissions: int = 0) -> SandboxRole:
        role = self.world.new_role(guild, name, permissions=permissions)
        if self.gateway.sessions:
            self._later(
                self.gateway.dispatch(
                    "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.to_payload()}
                )
            )
        return role

    def staff_role(self, guild: SandboxGuild) -> SandboxRole:
        """The guild's "Staff" role (Manage Server), created on first use."""
        for role in guild.roles.values():
            if role.name == STAFF_ROLE_NAME:
                return role
        return self.add_role(guild, STAFF_ROLE_NAME, permissions=MANAGE_GUILD)

    def add_member(
        self,
        guild: SandboxGuild,
        user: str | SandboxUser,
        *,
        global_name: str | None = None,
        nick: str | None = None,
        roles: Iterable[SandboxRole] = (),
        staff: bool = False,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> SandboxUser:
        """Add a member (a new user from a username, or an existing user) to ``guild``.

        ``staff`` gives the Staff role (Manage Server); ``permissions`` gives a personal role
        with exactly those extra permission bits. Members added while a bot is connected are
        announced with GUILD_MEMBER_ADD.
        """
        if isinstance(user, SandboxUser):
            handle = user
        else:
            handle = self.world.new_user(user, global_name=global_name, locale=locale)
        if handle.id in guild.members:
            raise SandboxError(f"{handle.username} is already a member of {guild.name}")
        role_ids = [r.id for r in roles]
        for role in roles:
            if role.guild_id != guild.id:
                raise SandboxError(f"role {role.name} belongs to another guild")
        if staff:
            role_ids.append(self.staff_role(guild).id)
        if permissions is not None:
            role_ids.append(
                self.add_role(guild, f"{handle.username} permissions", permissions=permissions).id
            )
        member = SandboxMember(user=handle, guild_id=guild.id, nick=nick, role_ids=role_ids)
        guild.members[handle.id] = member
        if self.gateway.sessions:
            self._later(self._member_joined(guild, member))
        return handle

    async def _member_joined(self, guild: SandboxGuild, member: SandboxMember) -> None:
        self.world.record(EventKind.MEMBER_JOIN, user=member.user, detail=guild.name)
        await self.gateway.guild_member_add(guild, member)

    def give_role(self, guild: SandboxGuild, user: SandboxUser, role: SandboxRole) -> None:
        """Give ``user`` a role (GUILD_MEMBER_UPDATE is dispatched)."""
        member = self.member(guild, user)
        if role.id not in member.role_ids:
            member.role_ids.append(role.id)
            if self.gateway.sessions:
                self._later(self.gateway.guild_member_update(guild, member))

    def member(self, guild: SandboxGuild, user: SandboxUser) -> SandboxMember:
        try:
            return guild.members[user.id]
        except KeyError:
            raise SandboxError(f"{user.username} is not a member of {guild.name}") from None

    def user(self, username: str) -> SandboxUser:
        for user in self.world.users.values():
            if user.username == username:
                return user
        raise SandboxError(f"no user called {username!r}")

    def close_dms(self, user: SandboxUser) -> None:
        """From now on the bot's DMs to ``user`` fail with 403 / 50007."""
        user.dms_closed = True

    def fail_dms(self, user: SandboxUser, *faults: str) -> None:
        """The next DM requests for ``user`` fail, one fault each: names from DM_FAULTS
        ("50007", "40003", "50001", "503", "429", "429-cloudflare")."""
        unknown = [f for f in faults if f not in DM_FAULTS]
        if unknown:
            raise SandboxError(f"unknown DM faults {unknown}; known: {sorted(DM_FAULTS)}")
        user.dm_faults.extend(faults)

    @property
    def nonce_hits(self) -> int:
        """How many messages Discord did not create because their nonce was seen before."""
        return self.world.nonce_hits

    def open_dms(self, user: SandboxUser) -> None:
        user.dms_closed = False

    def dm_channel(self, user: SandboxUser) -> SandboxChannel:
        return self.world.dm_channel(user)

    # -- reading results --------------------------------------------------------------------

    def dms(self, user: SandboxUser) -> list[SandboxMessage]:
        """Messages the bot sent to ``user`` by DM (not deleted), oldest first."""
        channel = self.world.dm_channels.get(user.id)
        return [] if channel is None else self.world.channel_messages(channel)

    def scheduled_events(self, guild: SandboxGuild) -> list[JSON]:
        """The guild's scheduled events, as Discord's JSON (sandbox/events.py)."""
        return [e for e in self.world.scheduled_events.values() if e["guild_id"] == str(guild.id)]

    def deny_bot(self, guild: SandboxGuild, permissions: int) -> None:
        """Take `permissions` from the bot's managed role (e.g. MANAGE_EVENTS)."""
        bot_role = guild.role(self.world.application_name)
        bot_role.permissions &= ~permissions

    def channel_messages(self, channel: SandboxChannel) -> list[SandboxMessage]:
        """Visible messages in ``channel`` (bot posts and public interaction responses)."""
        return self.world.channel_messages(channel)

    def attachment(
        self,
        channel: SandboxChannel,
        spec: FileSpec,
        *,
        faults: Iterable[CdnFault] = (),
    ) -> StoredFile:
        """A file a user is about to attach (pass it in ``files``), whose next downloads from the
        CDN go wrong as ``faults`` say, one fault a download."""
        filename, data, *ctype = spec
        stored = self.world.store_file(channel.id, filename, data, ctype[0] if ctype else None)
        stored.ephemeral = True
        stored.faults = [CdnFault(f) for f in faults]
        return stored

    def file(self, url: str) -> StoredFile:
        """The stored file behind a sandbox CDN URL."""
        file_id = int(url.split("?")[0].rstrip("/").split("/")[-2])
        return self.world.files[file_id]

    # -- rate limits and connection faults ------------------------------------------------------

    def rate_limit(
        self, route: str, *, method: str | None = None, count: int = 1, retry_after: float = 0.05
    ) -> ForcedLimit:
        """Answer the next ``count`` requests to ``route`` with 429.

        ``route`` is a template below /api/v10 such as "/channels/{channel_id}/messages", or a
        concrete path such as f"/channels/{channel.id}/messages".
        """
        forced = ForcedLimit(
            method=method.upper() if method else None,
            route=route,
            remaining=count,
            retry_after=retry_after,
        )
        self.rest.forced_limits.append(forced)
        return forced

    def set_global_rate_limit(self, requests: int | None, *, per: float = 1.0) -> None:
        """Allow at most ``requests`` REST requests per ``per`` seconds across all routes
        (Discord: 50 per second), answering 429 with ``global: true`` past it; None disables.
        Interaction callbacks and follow-ups are exempt, as on Discord."""
        self.rest.global_limit = requests
        self.rest.global_window = per
        self.rest._global_window.clear()

    def set_dm_latency(self, seconds: float) -> None:
        """Create each DM at once but answer the request ``seconds`` later (a slow Discord)."""
        self.rest.dm_latency = seconds

    async def disconnect_bot(self) -> None:
        """Drop the bot's websocket abnormally; discord.py reconnects and RESUMEs."""
        await self.gateway.drop_connections()

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py reconnects and RESUMEs."""
        await self.gateway.send_reconnect()

    @property
    def connected(self) -> bool:
        return self.gateway.connected

    async def wait_connected(self, timeout: float | None = None) -> None:
        await self.gateway.wait_until(
            lambda: self.gateway.connected,
            timeout if timeout is not None else self.connect_timeout,
            "a bot to connect to the gateway",
        )

    async def wait_for_ready(self, *, after: int = 0, timeout: float = 10.0) -> None:
        """Wait until the gateway has sent READY more than ``after`` times in total."""
        await self.gateway.wait_until(
            lambda: self.gateway.ready_count > after, timeout, f"READY #{after + 1}"
        )

    async def wait_for_sync(self, *, after: int = 0, timeout: float = 10.0) -> None:
        """Wait until more than ``after`` bulk command syncs have arrived."""
        await self.gateway.wait_until(
            lambda: self.sync_count > after, timeout, f"command sync #{after + 1}"
        )

    # -- acting as users -------------------------------------------------------------------------

    def _place(
        self, user: SandboxUser, channel: SandboxChannel | None, guild: SandboxGuild | None
    ) -> tuple[SandboxChannel, SandboxGuild | None]:
        if channel is None:
            if guild is None:
                guilds = [g for g in self.world.guilds.values() if user.id in g.members]
                if not guilds:
                    raise SandboxError(
                        f"{user.username} is in no guild; pass channel= "
                        "(use sandbox.dm_channel(user) for a DM)"
                    )
                guild = guilds[0]
            channel = guild.default_channel
        guild = self.world.guild_of(channel)
        if guild is not None and user.id not in guild.members:
            raise SandboxError(f"{user.username} is not a member of {guild.name}")
        if channel.is_dm and channel.recipient is not user:
            raise SandboxError(f"{channel!r} is not {user.username}'s DM with the bot")
        return channel, guild

    def _check_visible(
        self,
        user: SandboxUser,
        guild: SandboxGuild | None,
        resolved: ResolvedCommand,
        permissions: int | None,
    ) -> None:
        command = resolved.command
        if guild is None:
            contexts = command.get("contexts")
            if (
                command.get("guild_id")
                or command.get("dm_permission") is False
                or (contexts is not None and 1 not in contexts)
            ):
                raise SandboxError(f"/{command['name']} is not available in DMs")
            return
        contexts = command.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise SandboxError(f"/{command['name']} is not available in guilds")
        required = command.get("default_member_permissions")
        if required is not None:
            have = permissions if permissions is not None else guild.permissions_of(user.id)
            if not have & ADMINISTRATOR and int(required) & ~have:
                raise SandboxError(
                    f"{user.username} cannot see /{command['name']}: it needs permissions "
                    f"{int(required):#x} (default_member_permissions); use staff=True?"
                )

    async def _dispatch(self, handle: InteractionHandle, payload: JSON) -> None:
        await self.settle()
        await self.wait_connected()
        handle.payload = payload
        self._interactions.add(handle)
        handle.invoked_at = time.monotonic()
        delivered = await self.gateway.dispatch("INTERACTION_CREATE", payload)
        if not delivered:
            raise SandboxError("no bot is connected to receive the interaction")

    async def invoke(
        self,
        user: SandboxUser,
        command: str,
        options: Mapping[str, Any] | None = None,
        files: Mapping[str, FileSpec | StoredFile] | None = None,
        *,
        channel: SandboxChannel | None = None,
        guild: SandboxGuild | None = None,
        locale: str | None = None,
        created_at: dt.datetime | None = None,
        permissions: int | None = None,
        check_permissions: bool = True,
    ) -> InteractionHandle:
        """``user`` runs a slash command, e.g. ``invoke(alice, "group join", {"pin": "1234"})``.

        The name path and option types come from what the bot synced. ``files`` maps
        attachment option names to (filename, bytes[, content_type]). ``created_at`` sets the
        interaction snowflake's time (default now). ``permissions`` overrides the member's
        permission bitfield sent with the interaction.
        """
        channel, guild = self._place(user, channel, guild)
        resolved = resolve_command(self.world, guild.id if guild else None, command)
        if check_permissions:
            self._check_visible(user, guild, resolved, permissions)
        handle, builder, payload = self._command_interaction(
            APPLICATION_COMMAND,
            user,
            resolved,
            channel,
            guild,
            options,
            files,
            created_at=created_at,
            locale=locale,
            permissions=permissions,
        )
        self.world.record(
            EventKind.COMMAND,
            user=user,
            channel_id=channel.id,
            interaction_id=handle.id,
            command=handle.command,
            options=builder.display,
            files=[v for v in builder.display.values() if isinstance(v, StoredFile)],
        )
        await self._dispatch(handle, payload)
        return handle

    def _command_interaction(
        self,
        kind: int,
        user: SandboxUser,
        resolved: ResolvedCommand,
        channel: SandboxChannel,
        guild: SandboxGuild | None,
        options: Mapping[str, Any] | None,
        files: Mapping[str, FileSpec | StoredFile] | None,
        *,
        focused: str | None = None,
        created_at: dt.datetime | None = None,
        locale: str | None = None,
        permissions: int | None = None,
    ) -> tuple[InteractionHandle, OptionBuilder, JSON]:
        """A slash-command or autocomplete interaction: its handle, options and payload."""
        builder = OptionBuilder(self.world, guild, channel, user)
        if focused is None:
            leaf = builder.build(resolved, options or {}, files or {})
        else:
            leaf = builder.build(resolved, options or {}, {}, focused=focused)
        handle = InteractionHandle(
            world=self.world,
            type=kind,
            user=user,
            channel=channel,
            guild=guild,
            command=resolved.qualified_name,
            options=builder.display,
            created_at=created_at,
            locale=locale or user.locale,
        )
        data = self._command_data(resolved, leaf, builder)
        payload = interaction_payload(self.world, handle, data=data, member_permissions=permissions)
        return handle, builder, payload

    @staticmethod
    def _command_data(resolved: ResolvedCommand, leaf: list[JSON], builder: OptionBuilder) -> JSON:
        command = resolved.command
        data: JSON = {
            "id": command["id"],
            "name": command["name"],
            "type": int(command.get("type", 1)),
            "options": wrap_options(resolved.path, command, leaf),
        }
        if builder.resolved:
            data["resolved"] = builder.resolved
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return data

    async def autocomplete(
        self,
        user: SandboxUser,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        focused: str,
        channel: SandboxChannel | None = None,
        guild: SandboxGuild | None = None,
        locale: str | None = None,
        timeout: float = 5.0,
    ) -> list[JSON]:
        """``user`` types into option ``focused``; returns the choices the bot offered."""
        channel, guild = self._place(user, channel, guild)
        resolved = resolve_command(self.world, guild.id if guild else None, command)
        handle, builder, payload = self._command_interaction(
            AUTOCOMPLETE,
            user,
            resolved,
            channel,
            guild,
            options,
            None,
            focused=focused,
            locale=locale,
        )
        self.world.record(
            EventKind.AUTOCOMPLETE,
            user=user,
            channel_id=channel.id,
            interaction_id=handle.id,
            command=handle.command,
            options=builder.display,
            detail=f"{focused}={builder.display.get(focused)!r}",
        )
        await self._dispatch(handle, payload)
        await handle.wait_response(timeout)
        return list(handle.choices or [])

    async def click(
        self,
        user: SandboxUser,
        message: SandboxMessage,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
        created_at: dt.datetime | None = None,
    ) -> InteractionHandle:
        """``user`` clicks a button (or picks ``values`` in a select) on a bot message."""
        component = _find_component(message.components, custom_id)
        if component is None:
            ids = [c.get("custom_id") for c in _walk_components(message.components)]
            raise SandboxError(
                f"message {message.id} has no component {custom_id!r}; it has "
                f"{[i for i in ids if i]}"
            )
        if component.get("disabled"):
            raise SandboxError(f"component {custom_id!r} is disabled")
        channel = self.world.channels[message.channel_id]
        channel, guild = self._place(user, channel, None)
        handle = InteractionHandle(
            world=self.world,
            type=MESSAGE_COMPONENT,
            user=user,
            channel=channel,
            guild=guild,
            command=None,
            options={},
            created_at=created_at,
            locale=user.locale,
        )
        handle.target_message = message
        data: JSON = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = list(values or [])
        payload = interaction_payload(
            self.world, handle, data=data, member_permissions=None, message=message
        )
        label = component.get("label") or custom_id
        self.world.record(
            EventKind.COMPONENT,
            user=user,
            channel_id=channel.id,
            interaction_id=handle.id,
            detail=f"[{label}]" + (f" {list(values)}" if values else ""),
        )
        await self._dispatch(handle, payload)
        return handle

    async def submit_modal(
        self,
        user: SandboxUser,
        source: InteractionHandle,
        values: Mapping[str, str],
        *,
        created_at: dt.datetime | None = None,
    ) -> InteractionHandle:
        """``user`` fills in the modal the bot answered ``source`` with and submits it."""
        modal = source.modal
        if modal is None:
            raise SandboxError(f"{source!r} was not answered with a modal")
        unknown = set(values)
        rows: list[JSON] = []
        for component in modal.get("components") or []:
            if component["type"] == 1:
                inner = [_submitted(c, values, unknown) for c in component.get("components", [])]
                rows.append({"type": 1, "components": [c for c in inner if c is not None]})
            elif component["type"] == 18:
                sub = _submitted(component["component"], values, unknown)
                if sub is not None:
                    rows.append({"type": 18, "id": component.get("id", 0), "component": sub})
        if unknown:
            raise SandboxError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(unknown)}")
        handle = InteractionHandle(
            world=self.world,
            type=MODAL_SUBMIT,
            user=user,
            channel=source.channel,
            guild=source.guild,
            command=source.command,
            options=dict(values),
            created_at=created_at,
            locale=user.locale,
        )
        handle.target_message = source.target_message
        data: JSON = {"custom_id": modal["custom_id"], "components": rows}
        payload = interaction_payload(
            self.world, handle, data=data, member_permissions=None, message=source.target_message
        )
        self.world.record(
            EventKind.MODAL_SUBMIT,
            user=user,
            channel_id=source.channel.id,
            interaction_id=handle.id,
            options=dict(values),
            detail=str(modal.get("title")),
        )
        await self._dispatch(handle, payload)
        return handle

    # -- running bots ------------------------------------------------------------------------

    def run_bot(self, client: discord.Client, *, ready_timeout: float = 15.0) -> InProcessBot:
        """``async with sandbox.run_bot(bot) as bot:`` runs ``bot`` in this event loop."""
        runner = InProcessBot(self, client, ready_timeout=ready_timeout)
        self._bots.append(runner)
        return runner

    def bot_process(
        self,
        argv: Sequence[str],
        *,
        data_dir: str | Path,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        expect_sync: bool = False,
        ready_timeout: float = 30.0,
    ) -> BotProcess:
        """A bot subprocess pointed at this sandbox (see :class:`BotProcess`)."""
        process = BotProcess(
            self,
            argv,
            data_dir=data_dir,
            env=env,
            cwd=cwd,
            expect_sync=expect_sync,
            ready_timeout=ready_timeout,
        )
        self._bots.append(process)
        return process


def _walk_components(components: Iterable[JSON]) -> Iterable[JSON]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            yield from _walk_components([component["component"]])
        if isinstance(component.get("accessory"), dict):
            yield from _walk_components([component["accessory"]])


def _find_component(components: Iterable[JSON], custom_id: str) -> JSON | None:
    return next((c for c in _walk_components(components) if c.get("custom_id") == custom_id), None)


def _submitted(component: JSON, values: Mapping[str, Any], unknown: set[str]) -> JSON | None:
    """What Discord sends back for one modal input given the user's ``values``."""
    custom_id = component.get("custom_id")
    if custom_id is None:
        return None
    unknown.discard(custom_id)
    if component["type"] == 4:
        value = values.get(custom_id, component.get("value") or "")
        if component.get("required", True) and not value:
            raise SandboxError(f"modal input {custom_id!r} is required")
        return {
            "type": 4,
            "id": component.get("id", 0),
            "custom_id": custom_id,
            "value": str(value),
        }
    picked = values.get(custom_id, [])
    picked_list = [picked] if isinstance(picked, str) else list(picked)
    return {
        "type": component["type"],
        "id": component.get("id", 0),
        "custom_id": custom_id,
        "values": [str(v) for v in picked_list],
    }
