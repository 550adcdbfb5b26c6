"""Shared state behind the sandbox's REST API, gateway and driver."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import mimetypes
import secrets
import time
from typing import Any
from urllib.parse import quote

from sandbox.models import (
    DEFAULT_EVERYONE_PERMISSIONS,
    DM,
    GUILD_TEXT,
    JSON,
    NONCE_WINDOW_SECONDS,
    MessageInteraction,
    SandboxChannel,
    SandboxGuild,
    SandboxMember,
    SandboxMessage,
    SandboxRole,
    SandboxUser,
    StoredFile,
)
from sandbox.snowflake import SnowflakeFactory
from sandbox.transcript import EventKind, Transcript, TranscriptEvent

log = logging.getLogger(__name__)

# Discord's limit for a guild without boosts, sent as attachment_size_limit in interactions.
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class SandboxError(Exception):
    """Misuse of the sandbox driver, or something a test waited for that did not happen."""


class SandboxTimeout(SandboxError, TimeoutError):
    """A wait on the sandbox ran out of time."""


class World:
    """Everything the fake Discord knows; mutated only from the event loop."""

    def __init__(
        self,
        *,
        application_name: str,
        token: str | None,
        bot_permissions: int,
        attachment_size_limit: int,
    ) -> None:
        self.ids = SnowflakeFactory()
        self.application_id = self.ids.new()
        self.application_name = application_name
        # Shaped like a real token (base64 id, timestamp, hmac) so `python -m bot`'s token
        # check accepts it; nothing parses it.
        self.token = token or ".".join(
            [
                base64.urlsafe_b64encode(str(self.application_id).encode()).decode().rstrip("="),
                secrets.token_urlsafe(4),
                secrets.token_urlsafe(27),
            ]
        )
        self.bot_permissions = bot_permissions
        self.attachment_size_limit = attachment_size_limit
        self.http_base = "http://127.0.0.1:0"
        self.bot_user = SandboxUser(
            id=self.application_id, username=application_name.lower().replace(" ", "-"), bot=True
        )
        self.bot_user.global_name = application_name
        self.owner = SandboxUser(id=self.ids.new(), username="sandbox-owner")
        self.users: dict[int, SandboxUser] = {u.id: u for u in (self.bot_user, self.owner)}
        self.guilds: dict[int, SandboxGuild] = {}
        self.channels: dict[int, SandboxChannel] = {}
        self.dm_channels: dict[int, SandboxChannel] = {}
        self.messages: dict[int, SandboxMessage] = {}
        self.files: dict[int, StoredFile] = {}
        self.global_commands: list[JSON] = []
        self.guild_commands: dict[int, list[JSON]] = {}
        self.sync_calls: list[tuple[int | None, list[str]]] = []
        self.transcript = Transcript()
        # (author id, nonce) -> the message created with it and when (monotonic seconds).
        self.nonces: dict[tuple[int, str], tuple[SandboxMessage, float]] = {}
        self.nonce_hits = 0
        # Guild scheduled events by id (sandbox/events.py), as Discord's JSON.
        self.scheduled_events: dict[str, JSON] = {}

    # -- time and events ------------------------------------------------------------

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def record(self, kind: EventKind, **fields: Any) -> TranscriptEvent:
        return self.transcript.add(TranscriptEvent(kind=kind, at=self.now(), **fields))

    # -- building the world ---------------------------------------------------------

    def new_user(
        self, username: str, *, global_name: str | None = None, locale: str = "en-US"
    ) -> SandboxUser:
        user = SandboxUser(
            id=self.ids.new(), username=username, global_name=global_name, locale=locale
        )
        self.users[user.id] = user
        return user

    def new_guild(
        self, name: str, *, locale: str, shard: tuple[int, int] | None = None
    ) -> SandboxGuild:
        """`shard` (id, count): an id that puts the guild on that shard of that many."""
        guild_id = self.ids.new() if shard is None else self.ids.new_on_shard(*shard)
        guild = SandboxGuild(id=guild_id, name=name, locale=locale, owner_id=self.owner.id)
        guild.roles[guild.id] = SandboxRole(
            id=guild.id,
            guild_id=guild.id,
            name="@everyone",
            permissions=DEFAULT_EVERYONE_PERMISSIONS,
        )
        self.guilds[guild.id] = guild
        self.new_channel(guild, "general")
        guild.members[self.owner.id] = SandboxMember(user=self.owner, guild_id=guild.id)
        # Discord gives every bot a managed role carrying the permissions of its invite.
        bot_role = self.new_role(
            guild, self.application_name, permissions=self.bot_permissions, managed=True
        )
        guild.members[self.bot_user.id] = SandboxMember(
            user=self.bot_user, guild_id=guild.id, role_ids=[bot_role.id]
        )
        return guild

    def new_channel(self, guild: SandboxGuild, name: str) -> SandboxChannel:
        channel = SandboxChannel(
            id=self.ids.new(),
            type=GUILD_TEXT,
            name=name,
            guild_id=guild.id,
            position=len(guild.channels),
        )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def new_role(
        self, guild: SandboxGuild, name: str, *, permissions: int, managed: bool = False
    ) -> SandboxRole:
        role = SandboxRole(
            id=self.ids.new(),
            guild_id=guild.id,
            name=name,
            permissions=permissions,
            position=len(guild.roles),
            managed=managed,
        )
        guild.roles[role.id] = role
        return role

    def dm_channel(self, user: SandboxUser) -> SandboxChannel:
        """The DM channel between the bot and ``user``, created on first use like Discord."""
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = SandboxChannel(id=self.ids.new(), type=DM, name="", recipient=user)
            self.dm_channels[user.id] = channel
            self.channels[channel.id] = channel
        return channel

    # -- lookups ----------------------------------------------------------------------

    def guild_of(self, channel: SandboxChannel) -> SandboxGuild | None:
        return None if channel.guild_id is None else self.guilds[channel.guild_id]

    def commands_for(self, guild_id: int | None) -> list[JSON]:
        """Commands a user sees in ``guild_id``: the guild's own first, then global ones."""
        scoped = self.guild_commands.get(guild_id, []) if guild_id is not None else []
        return [*scoped, *self.global_commands]

    # -- files and messages ---------------------------------------------------------

    def store_file(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        description: str | None = None,
    ) -> StoredFile:
        file_id = self.ids.new()
        ctype = content_type
        if not ctype or ctype == "application/octet-stream":
            # discord.py always uploads as octet-stream; Discord sniffs the real type.
            ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        url = f"{self.http_base}/cdn/attachments/{channel_id}/{file_id}/{quote(filename, safe='')}"
        stored = StoredFile(
            id=file_id,
            filename=filename,
            content_type=ctype,
            data=data,
            url=url,
            description=description,
        )
        self.files[file_id] = stored
        return stored

    def new_message(
        self,
        channel: SandboxChannel,
        *,
        author: SandboxUser,
        content: str,
        embeds: list[JSON],
        attachments: list[StoredFile],
        components: list[JSON] | None = None,
        flags: int = 0,
        interaction: MessageInteraction | None = None,
    ) -> SandboxMessage:
        message = SandboxMessage(
            id=self.ids.new(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            content=content,
            embeds=embeds,
            attachments=attachments,
            components=components or [],
            flags=flags,
            webhook_id=self.application_id if interaction is not None else None,
            interaction=interaction,
        )
        self.messages[message.id] = message
        if not message.ephemeral:
            channel.last_message_id = message.id
        return message

    def message_for_nonce(self, author: SandboxUser, nonce: str) -> SandboxMessage | None:
        """The message `author` created with `nonce` within the nonce window, if any."""
        found = self.nonces.get((author.id, nonce))
        if found is None or time.monotonic() - found[1] > NONCE_WINDOW_SECONDS:
            return None
        return found[0]

    def remember_nonce(self, author: SandboxUser, nonce: str, message: SandboxMessage) -> None:
        self.nonces[(author.id, nonce)] = (message, time.monotonic())

    def channel_messages(self, channel: SandboxChannel) -> list[SandboxMessage]:
        """Visible (non-ephemeral, not deleted) messages in ``channel``, oldest first."""
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel.id and not m.deleted and not m.ephemeral
        ]
