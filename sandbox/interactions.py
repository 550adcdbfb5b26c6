"""Interaction handles and the payloads a user's slash command, autocomplete or click produces."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.models import (
    EPHEMERAL,
    JSON,
    MessageInteraction,
    SandboxChannel,
    SandboxGuild,
    SandboxMessage,
    SandboxRole,
    SandboxUser,
    StoredFile,
)
from sandbox.snowflake import snowflake_time
from sandbox.world import SandboxError, SandboxTimeout, World

log = logging.getLogger(__name__)

# Interaction types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Callback types.
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Application command option types.
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10
ATTACHMENT = 11

OPTION_TYPE_NAMES = {
    STRING: "string",
    INTEGER: "integer",
    BOOLEAN: "boolean",
    USER: "user",
    CHANNEL: "channel",
    ROLE: "role",
    MENTIONABLE: "mentionable",
    NUMBER: "number",
    ATTACHMENT: "attachment",
}

# What a file option accepts: (filename, bytes) or (filename, bytes, content_type).
FileSpec = tuple[str, bytes] | tuple[str, bytes, str]


@dataclass(eq=False)
class CallbackRecord:
    """One POST to /interactions/{id}/{token}/callback that the sandbox accepted."""

    type: int
    data: JSON
    after: float
    message: SandboxMessage | None = None

    @property
    def deferred(self) -> bool:
        return self.type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE)

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)


class InteractionHandle:
    """A test's view of one interaction: what was sent and how the bot answered."""

    def __init__(
        self,
        *,
        world: World,
        type: int,
        user: SandboxUser,
        channel: SandboxChannel,
        guild: SandboxGuild | None,
        command: str | None,
        options: dict[str, Any],
        created_at: dt.datetime | None,
        locale: str,
    ) -> None:
        self.world = world
        self.id = world.ids.new(created_at)
        self.token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        self.type = type
        self.user = user
        self.channel = channel
        self.guild = guild
        self.command = command
        self.options = options
        self.locale = locale
        self.payload: JSON = {}
        self.invoked_at: float | None = None
        self.callbacks: list[CallbackRecord] = []
        self.messages: list[SandboxMessage] = []
        self.original: SandboxMessage | None = None
        self.target_message: SandboxMessage | None = None
        self.choices: list[JSON] | None = None
        self.modal: JSON | None = None
        self.errors: list[str] = []
        self.response_latency: float | None = None
        self.done_latency: float | None = None
        self._done_message: SandboxMessage | None = None
        loop = asyncio.get_running_loop()
        self._responded: asyncio.Future[CallbackRecord] = loop.create_future()
        self._done: asyncio.Future[SandboxMessage] = loop.create_future()

    @property
    def created_at(self) -> dt.datetime:
        return snowflake_time(self.id)

    # -- what tests read --------------------------------------------------------------

    @property
    def response(self) -> CallbackRecord | None:
        return self.callbacks[0] if self.callbacks else None

    @property
    def deferred(self) -> bool:
        return bool(self.callbacks) and self.callbacks[0].deferred

    @property
    def defer_latency(self) -> float | None:
        """Seconds from the invoke to the defer, if the first response was a defer."""
        return self.response_latency if self.deferred else None

    @property
    def final(self) -> SandboxMessage | None:
        """The message :meth:`wait_done` returns, once it exists."""
        return self._done_message

    @property
    def followups(self) -> list[SandboxMessage]:
        return [m for m in self.messages if m is not self.original]

    @property
    def metadata(self) -> MessageInteraction:
        """What a message answering this interaction says of it."""
        return MessageInteraction(id=self.id, type=self.type, user=self.user)

    def elapsed(self) -> float:
        return 0.0 if self.invoked_at is None else time.monotonic() - self.invoked_at

    async def wait_response(self, timeout: float = 5.0) -> CallbackRecord:
        """Wait for the first callback (a defer, a message, choices or a modal)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._responded), timeout)
        except TimeoutError:
            raise SandboxTimeout(self._timeout_text("any response", timeout)) from None

    async def wait_done(self, timeout: float = 5.0) -> SandboxMessage:
        """Wait for the real answer: a message callback, or the first follow-up/edit after a
        defer."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._done), timeout)
        except TimeoutError:
            raise SandboxTimeout(self._timeout_text("a final message", timeout)) from None

    def _timeout_text(self, what: str, timeout: float) -> str:
        lines = [str(e) for e in self.world.transcript.for_interaction(self.id)]
        history = "\n  ".join(lines) or "(nothing)"
        errors = f"\nerrors: {self.errors}" if self.errors else ""
        return (
            f"interaction {self.command or self.type} by {self.user.username} got no {what} "
            f"within {timeout:.1f}s; transcript:\n  {history}{errors}"
        )

    # -- fed by the REST API --------------------------------------------------------

    def add_callback(self, record: CallbackRecord) -> None:
        self.callbacks.append(record)
        if self.response_latency is None:
            self.response_latency = record.after
        if not self._responded.done():
            self._responded.set_result(record)

    def add_message(self, message: SandboxMessage, *, original: bool = False) -> None:
        if original:
            self.original = message
        if message not in self.messages:
            self.messages.append(message)

    def mark_done(self, message: SandboxMessage) -> None:
        if self._done.done():
            return
        self._done_message = message
        self.done_latency = self.elapsed()
        self._done.set_result(message)

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} {self.command or self.type} by {self.user}>"


class Interactions:
    """Every interaction the sandbox sent, by id: the REST API finds a callback's or a
    follow-up's interaction here."""

    def __init__(self) -> None:
        self._by_id: dict[int, InteractionHandle] = {}

    def add(self, handle: InteractionHandle) -> None:
        self._by_id[handle.id] = handle

    def get(self, interaction_id: int) -> InteractionHandle | None:
        return self._by_id.get(interaction_id)

    def by_token(self, token: str) -> InteractionHandle | None:
        return next((h for h in self._by_id.values() if h.token == token), None)

    def all(self) -> list[InteractionHandle]:
        return list(self._by_id.values())


# -- resolving a command path against the synced definitions -------------------------


@dataclass
class ResolvedCommand:
    """The synced command a name path refers to and the option definitions at its leaf."""

    command: JSON
    path: list[str]
    leaf_options: list[JSON]

    @property
    def qualified_name(self) -> str:
        return " ".join(self.path)


def resolve_command(world: World, guild_id: int | None, path: str) -> ResolvedCommand:
    names = path.strip().lstrip("/").split()
    if not names:
        raise SandboxError("empty command name")
    commands = [c for c in world.commands_for(guild_id) if int(c.get("type", 1)) == 1]
    top = next((c for c in commands if c["name"] == names[0]), None)
    if top is None:
        known = sorted({c["name"] for c in commands})
        raise SandboxError(
            f"unknown command /{names[0]}; the bot synced {known or 'no commands'} "
            f"(guild {guild_id}); did the bot sync its tree?"
        )
    options: list[JSON] = top.get("options") or []
    for depth, name in enumerate(names[1:], start=1):
        subs = [o for o in options if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        sub = next((o for o in subs if o["name"] == name), None)
        if sub is None:
            where = " ".join(names[:depth])
            raise SandboxError(
                f"/{where} has no subcommand {name!r}; it has {sorted(o['name'] for o in subs)}"
            )
        options = sub.get("options") or []
    if any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in options):
        subs = sorted(o["name"] for o in options)
        raise SandboxError(f"/{' '.join(names)} needs a subcommand, one of {subs}")
    return ResolvedCommand(command=top, path=names, leaf_options=options)


class OptionBuilder:
    """Turns a test's Python option values into typed option payloads plus ``resolved``."""

    def __init__(
        self,
        world: World,
        guild: SandboxGuild | None,
        channel: SandboxChannel,
        invoker: SandboxUser,
    ) -> None:
        self.world = world
        self.invoker = invoker
        self.guild = guild
        self.channel = channel
        self.resolved: dict[str, dict[str, JSON]] = {}
        self.display: dict[str, Any] = {}

    def build(
        self,
        resolved: ResolvedCommand,
        options: Mapping[str, Any],
        files: Mapping[str, FileSpec | StoredFile],
        *,
        focused: str | None = None,
    ) -> list[JSON]:
        defs = {o["name"]: o for o in resolved.leaf_options}
        given: dict[str, Any] = dict(options)
        for name, spec in files.items():
            if name in given:
                raise SandboxError(f"option {name!r} given both in options and files")
            given[name] = spec
        unknown = sorted(set(given) - set(defs))
        if unknown:
            raise SandboxError(
                f"/{resolved.qualified_name} has no option(s) {unknown}; "
                f"it has {sorted(defs) or 'none'}"
            )
        if focused is not None and focused not in defs:
            raise SandboxError(
                f"focused option {focused!r} is not an option of /{resolved.qualified_name}"
            )
        if focused is None:
            missing = [n for n, d in defs.items() if d.get("required") and n not in given]
            if missing:
                raise SandboxError(f"/{resolved.qualified_name} needs required option(s) {missing}")
        out: list[JSON] = []
        # Discord sends options in definition order, not in the order the user typed them.
        for name, definition in defs.items():
            if name == focused:
                # Autocomplete sends what is typed so far, always as a string-ish raw value.
                raw = given.get(name, "")
                value = (
                    raw if isinstance(raw, int | float) and not isinstance(raw, bool) else str(raw)
                )
                out.append(
                    {"name": name, "type": definition["type"], "value": value, "focused": True}
                )
                self.display[name] = value
                continue
            if name not in given:
                continue
            out.append(self._option(definition, given[name]))
        return out

    def _option(self, definition: JSON, value: Any) -> JSON:
        name: str = definition["name"]
        kind: int = definition["type"]
        label = OPTION_TYPE_NAMES.get(kind, str(kind))
        wire: Any
        if kind == STRING:
            if not isinstance(value, str):
                raise SandboxError(f"option {name!r} is a string; got {value!r}")
            self._check_length(definition, value)
            wire = value
        elif kind == INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise SandboxError(f"option {name!r} is an integer; got {value!r}")
            self._check_range(definition, value)
            wire = value
        elif kind == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SandboxError(f"option {name!r} is a number; got {value!r}")
            self._check_range(definition, value)
            wire = value
        elif kind == BOOLEAN:
            if not isinstance(value, bool):
                raise SandboxError(f"option {name!r} is a boolean; got {value!r}")
            wire = value
        elif kind == USER or (kind == MENTIONABLE and isinstance(value, SandboxUser)):
            wire = str(self._resolve_user(name, value).id)
        elif kind == ROLE or (kind == MENTIONABLE and isinstance(value, SandboxRole)):
            wire = str(self._resolve_role(name, value).id)
        elif kind == CHANNEL:
            wire = str(self._resolve_channel(name, value).id)
        elif kind == ATTACHMENT:
            wire = str(self._resolve_attachment(name, value).id)
        else:
            raise SandboxError(f"option {name!r} has type {label} which the sandbox cannot send")
        choices = definition.get("choices")
        if choices and wire not in [c["value"] for c in choices]:
            allowed = [c["value"] for c in choices]
            raise SandboxError(f"option {name!r} must be one of {allowed}; got {wire!r}")
        if name not in self.display:
            self.display[name] = value
        return {"name": name, "type": kind, "value": wire}

    @staticmethod
    def _check_length(definition: JSON, value: str) -> None:
        lo, hi = definition.get("min_length"), definition.get("max_length")
        if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
            raise SandboxError(
                f"option {definition['name']!r} length must be in [{lo}, {hi}]; got {len(value)}"
            )

    @staticmethod
    def _check_range(definition: JSON, value: float) -> None:
        lo, hi = definition.get("min_value"), definition.get("max_value")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise SandboxError(
                f"option {definition['name']!r} must be in [{lo}, {hi}]; got {value}"
            )

    def _bucket(self, key: str) -> dict[str, JSON]:
        return self.resolved.setdefault(key, {})

    def _resolve_user(self, name: str, value: Any) -> SandboxUser:
        user = value if isinstance(value, SandboxUser) else self.world.users.get(int(value))
        if user is None:
            raise SandboxError(f"option {name!r}: unknown user {value!r}")
        self._bucket("users")[str(user.id)] = user.to_payload()
        if self.guild is not None and user.id in self.guild.members:
            member = self.guild.members[user.id].to_payload(with_user=False)
            member["permissions"] = str(self.guild.permissions_of(user.id))
            self._bucket("members")[str(user.id)] = member
        return user

    def _resolve_role(self, name: str, value: Any) -> SandboxRole:
        if self.guild is None:
            raise SandboxError(f"option {name!r}: roles only exist in guilds")
        role = value if isinstance(value, SandboxRole) else self.guild.roles.get(int(value))
        if role is None:
            raise SandboxError(f"option {name!r}: unknown role {value!r}")
        self._bucket("roles")[str(role.id)] = role.to_payload()
        return role

    def _resolve_channel(self, name: str, value: Any) -> SandboxChannel:
        channel = (
            value if isinstance(value, SandboxChannel) else self.world.channels.get(int(value))
        )
        if channel is None:
            raise SandboxError(f"option {name!r}: unknown channel {value!r}")
        payload = channel.to_payload()
        guild = self.world.guild_of(channel)
        # Resolved channels carry the invoker's permissions there; the sandbox has no
        # channel overwrites, so those are the invoker's guild-level permissions.
        perms = guild.permissions_of(self.invoker.id) if guild is not None else 0
        payload["permissions"] = str(perms)
        self._bucket("channels")[str(channel.id)] = payload
        return channel

    def _resolve_attachment(self, name: str, value: Any) -> StoredFile:
        if isinstance(value, StoredFile):
            stored = value
        elif isinstance(value, tuple) and len(value) in (2, 3):
            filename, data = value[0], value[1]
            ctype = value[2] if len(value) == 3 else None
            if not isinstance(filename, str) or not isinstance(data, bytes | bytearray):
                raise SandboxError(f"option {name!r}: a file is (filename, bytes[, content_type])")
            stored = self.world.store_file(self.channel.id, filename, bytes(data), ctype)
            stored.ephemeral = True
        else:
            raise SandboxError(f"option {name!r} is an attachment; give (filename, bytes[, type])")
        self._bucket("attachments")[str(stored.id)] = stored.to_payload()
        self.display[name] = stored
        return stored


def wrap_options(path: list[str], command: JSON, leaf: list[JSON]) -> list[JSON]:
    """Nest leaf options inside the subcommand / group options the path walks through."""
    if len(path) == 1:
        return leaf
    options: list[JSON] = command.get("options") or []
    chain: list[JSON] = []
    for name in path[1:]:
        sub = next(o for o in options if o["name"] == name)
        chain.append(sub)
        options = sub.get("options") or []
    nested: list[JSON] = leaf
    for sub in reversed(chain):
        nested = [{"name": sub["name"], "type": sub["type"], "options": nested}]
    return nested


def interaction_payload(
    world: World,
    handle: InteractionHandle,
    *,
    data: JSON,
    member_permissions: int | None,
    message: SandboxMessage | None = None,
) -> JSON:
    """The INTERACTION_CREATE body discord.py's ``Interaction._from_data`` parses."""
    guild = handle.guild
    channel = handle.channel
    channel_payload = channel.to_payload()
    payload: JSON = {
        "id": str(handle.id),
        "application_id": str(world.application_id),
        "type": handle.type,
        "data": data,
        "channel_id": str(channel.id),
        "channel": channel_payload,
        "token": handle.token,
        "version": 1,
        "locale": handle.locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": world.attachment_size_limit,
    }
    if guild is not None:
        member = guild.members[handle.user.id].to_payload()
        member["permissions"] = str(
            member_permissions
            if member_permissions is not None
            else guild.permissions_of(handle.user.id)
        )
        channel_payload["permissions"] = member["permissions"]
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": guild.locale, "features": []},
            guild_locale=guild.locale,
            member=member,
            app_permissions=str(guild.permissions_of(world.bot_user.id)),
            # Context 0 = guild; the owners map says the app is installed to that guild.
            context=0,
            authorizing_integration_owners={"0": str(guild.id)},
        )
    else:
        payload.update(
            user=handle.user.to_payload(),
            app_permissions=str(world.bot_permissions),
            context=1,
            authorizing_integration_owners={"0": "0", "1": str(handle.user.id)},
        )
    if message is not None:
        payload["message"] = message.to_payload()
    return payload
