"""The sandbox's world: users, guilds, roles, channels, members, messages and stored files."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from sandbox.snowflake import snowflake_time

JSON = dict[str, Any]

# Permission bits used by the sandbox (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CHANGE_NICKNAME = 1 << 26
MANAGE_ROLES = 1 << 28
MANAGE_EVENTS = 1 << 33
USE_APPLICATION_COMMANDS = 1 << 31
SEND_MESSAGES_IN_THREADS = 1 << 38
# Every bit Discord defines today; what an owner or administrator effectively has.
ALL_PERMISSIONS = (1 << 53) - 1

DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = (
    MANAGE_EVENTS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MANAGE_MESSAGES
    | MANAGE_ROLES
    | MANAGE_CHANNELS
    | USE_APPLICATION_COMMANDS
    | SEND_MESSAGES_IN_THREADS
)

# Channel types.
GUILD_TEXT = 0
DM = 1

# Message flags.
EPHEMERAL = 1 << 6
LOADING = 1 << 7


def iso(when: dt.datetime | None) -> str | None:
    """Format a datetime the way Discord does (ISO 8601 with offset)."""
    return None if when is None else when.isoformat()


@dataclass(eq=False)
class SandboxUser:
    """A Discord user; a test's handle for a person (or the bot itself)."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    locale: str = "en-US"
    dms_closed: bool = False
    # What the next DM requests for this user meet (create the DM channel or post in it), one
    # fault a request, the way Discord answers them: see DM_FAULTS.
    dm_faults: list[str] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        return self.global_name or self.username

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_payload(self) -> JSON:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
        }

    def __repr__(self) -> str:
        return f"<SandboxUser {self.username} id={self.id}>"


@dataclass(eq=False)
class SandboxRole:
    """A guild role; ``id == guild_id`` is the @everyone role."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def to_payload(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass(eq=False)
class SandboxChannel:
    """A guild text channel (type 0) or a DM channel (type 1)."""

    id: int
    type: int
    name: str
    guild_id: int | None = None
    position: int = 0
    recipient: SandboxUser | None = None
    last_message_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_dm(self) -> bool:
        return self.type == DM

    def to_payload(self) -> JSON:
        if self.type == DM:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": _opt_str(self.last_message_id),
                "recipients": [self.recipient.to_payload()],
                "flags": 0,
            }
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": _opt_str(self.last_message_id),
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }

    def __repr__(self) -> str:
        return f"<SandboxChannel #{self.name} id={self.id} type={self.type}>"


@dataclass(eq=False)
class SandboxMember:
    """A user's membership in one guild."""

    user: SandboxUser
    guild_id: int
    nick: str | None = None
    role_ids: list[int] = field(default_factory=list)
    joined_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def to_payload(self, *, with_user: bool = True) -> JSON:
        data: JSON = {
            "nick": self.nick,
            "roles": [str(r) for r in self.role_ids],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "avatar": None,
            "banner": None,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.to_payload()
        return data


@dataclass(eq=False)
class SandboxGuild:
    """A guild with its roles, text channels and members."""

    id: int
    name: str
    locale: str
    owner_id: int
    roles: dict[int, SandboxRole] = field(default_factory=dict)
    channels: dict[int, SandboxChannel] = field(default_factory=dict)
    members: dict[int, SandboxMember] = field(default_factory=dict)

    @property
    def created_at(self) -> dt.datetime:
        return snowflake_time(self.id)

    @property
    def everyone(self) -> SandboxRole:
        return self.roles[self.id]

    @property
    def default_channel(self) -> SandboxChannel:
        return next(iter(self.channels.values()))

    def channel(self, name: str) -> SandboxChannel:
        """Return the text channel called ``name``."""
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise KeyError(f"guild {self.name!r} has no channel {name!r}")

    def role(self, name: str) -> SandboxRole:
        """Return the role called ``name``."""
        for role in self.roles.values():
            if role.name == name:
                return role
        raise KeyError(f"guild {self.name!r} has no role {name!r}")

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions of a member (no channel overwrites exist in the sandbox)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.everyone.permissions
        if member is not None:
            for role_id in member.role_ids:
                role = self.roles.get(role_id)
                if role is not None:
                    perms |= role.permissions
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def to_payload(self, *, members: list[SandboxMember] | None = None) -> JSON:
        """A GUILD_CREATE-style payload; ``members`` defaults to everyone in the guild."""
        listed = list(self.members.values()) if members is None else members
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(self.default_channel.id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.locale,
            "nsfw_level": 0,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "widget_enabled": False,
            "incidents_data": None,
            # GUILD_CREATE-only fields.
            "joined_at": iso(self.created_at),
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": [],
            "members": [m.to_payload() for m in listed],
            "channels": [c.to_payload() for c in self.channels.values()],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def __repr__(self) -> str:
        return f"<SandboxGuild {self.name} id={self.id}>"


class CdnFault(enum.StrEnum):
    """Ways a download from Discord's CDN goes wrong (what a test asks a file to do)."""

    SERVER_ERROR = "500"
    # The connection closes after half the bytes.
    CUT = "cut"
    # Half the bytes, then nothing for CDN_STALL_SECONDS.
    STALL = "stall"
    # A complete response that is shorter than the attachment's declared size.
    SHORT = "short"
    # A complete response that is longer than the declared size.
    LONG = "long"


CDN_STALL_SECONDS = 120.0

# Discord's answers to a DM request that the sandbox plays on demand: name -> (HTTP status,
# error code, message). "429" carries Via (discord.py waits and retries it itself); a 429
# without Via is what Cloudflare sends, and discord.py raises it at once.
DM_FAULTS: dict[str, tuple[int, int, str]] = {
    "50007": (403, 50007, "Cannot send messages to this user"),
    "40003": (403, 40003, "You are opening direct messages too fast."),
    "50001": (403, 50001, "Missing Access"),
    "503": (503, 0, "Service Unavailable"),
    "429": (429, 0, "You are being rate limited."),
    "429-cloudflare": (429, 0, "You are being rate limited."),
}
# Discord remembers a message's nonce for "a few minutes" (enforce_nonce).
NONCE_WINDOW_SECONDS = 300.0


@dataclass(eq=False)
class StoredFile:
    """A file held by the sandbox CDN: an uploaded option value or a file the bot sent."""

    id: int
    filename: str
    content_type: str
    data: bytes
    url: str
    description: str | None = None
    # Files a user attaches to a slash command are "ephemeral" attachments on Discord.
    ephemeral: bool = False
    # What the CDN does wrong on the next downloads, one fault a request (CdnFault values).
    faults: list[str] = field(default_factory=list)
    downloads: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def to_payload(self) -> JSON:
        payload: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            payload["description"] = self.description
        if self.ephemeral:
            payload["ephemeral"] = True
        return payload

    def __repr__(self) -> str:
        return f"<StoredFile {self.filename} {self.size} B {self.content_type}>"


@dataclass(frozen=True, slots=True)
class MessageInteraction:
    """What a message says of the interaction it answers (Discord's `interaction_metadata`)."""

    id: int
    type: int
    user: SandboxUser


@dataclass(eq=False)
class SandboxMessage:
    """A message the bot (or the sandbox on a user's behalf) posted somewhere."""

    id: int
    channel_id: int
    guild_id: int | None
    author: SandboxUser
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    attachments: list[StoredFile] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    flags: int = 0
    webhook_id: int | None = None
    interaction: MessageInteraction | None = None
    edited_at: dt.datetime | None = None
    deleted: bool = False

    @property
    def created_at(self) -> dt.datetime:
        return snowflake_time(self.id)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred response nobody has filled in yet."""
        return bool(self.flags & LOADING)

    @property
    def files(self) -> list[StoredFile]:
        return self.attachments

    def to_payload(self) -> JSON:
        payload: JSON = {
            "id": str(self.id),
            "type": 20 if self.interaction is not None else 0,
            "channel_id": str(self.channel_id),
            "author": self.author.to_payload(),
            "content": self.content,
            "timestamp": iso(self.created_at),
            "edited_timestamp": iso(self.edited_at),
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.to_payload() for a in self.attachments],
            "embeds": self.embeds,
            "pinned": False,
            "flags": self.flags,
            "components": self.components,
        }
        if self.guild_id is not None:
            payload["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
            payload["application_id"] = str(self.webhook_id)
        if self.interaction is not None:
            payload["interaction_metadata"] = {
                "id": str(self.interaction.id),
                "type": self.interaction.type,
                "user": self.interaction.user.to_payload(),
                "authorizing_integration_owners": {},
            }
        return payload

    def __repr__(self) -> str:
        flags = " ephemeral" if self.ephemeral else ""
        return f"<SandboxMessage id={self.id}{flags} content={self.content[:40]!r}>"


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
