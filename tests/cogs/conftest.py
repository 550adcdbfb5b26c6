"""Fixtures for the cog tests: a fake guild around real services, interactions as spec'd mocks
that record what was answered, and a tiny local CDN that serves attachments to /upload."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast
from unittest.mock import AsyncMock, MagicMock

import aiohttp
import discord
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from discord import app_commands
from discord.ext import commands

from bot import paths
from bot.domain.errors import DomainError
from bot.services.registry import Services
from cogs.export import ExportCog
from cogs.groups import GroupsCog
from cogs.settings import SettingsCog
from cogs.staff_assignments import StaffAssignmentsCog
from cogs.staff_groups import StaffGroupsCog
from cogs.submissions import SubmissionsCog
from tests.clock import FakeClock
from tests.conftest import GUILD, LIMIT

STAFF_ID = 1
CHANNEL_ID = 555
CANNOT_DM = 50007


@dataclass
class Reply:
    """One message sent in answer to an interaction (first response or follow-up)."""

    content: str | None
    embed: discord.Embed | None
    file: discord.File | None
    ephemeral: bool
    via: str  # "response" or "followup"
    view: discord.ui.View | None = None

    @property
    def text(self) -> str:
        """Everything a reader sees: content, embed title, description, fields and footer."""
        parts = [self.content or ""]
        if self.embed is not None:
            parts += [self.embed.title or "", self.embed.description or ""]
            parts += [f"{f.name}\n{f.value}" for f in self.embed.fields]
            parts.append(self.embed.footer.text or "")
        return "\n".join(parts)

    def field(self, name_part: str) -> str:
        """The value of the embed field whose name contains `name_part`."""
        assert self.embed is not None
        for f in self.embed.fields:
            if name_part in (f.name or ""):
                return f.value or ""
        raise AssertionError(f"no field {name_part!r} in {[f.name for f in self.embed.fields]}")


def _reply(via: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Reply:
    return Reply(
        content=args[0] if args else kwargs.get("content"),
        embed=kwargs.get("embed"),
        file=kwargs.get("file") or next(iter(kwargs.get("files") or []), None),
        ephemeral=bool(kwargs.get("ephemeral", False)),
        via=via,
        view=kwargs.get("view"),
    )


def forbidden() -> discord.Forbidden:
    response = MagicMock(status=403, reason="Forbidden")
    return discord.Forbidden(response, {"code": CANNOT_DM, "message": "Cannot send messages"})


@dataclass
class FakeClient:
    """What the cogs and the error path read off `interaction.client`: the services (set on
    HandinBot in setup_hook, so not on a mock specced from the class) and HandinBot.stopping."""

    services: Services
    stopping: bool = False


@dataclass
class World:
    """One guild (id GUILD) with a text channel and members, over the real services."""

    services: Services
    clock: FakeClock
    data_dir: Path
    guild: Any = None
    channel: Any = None
    client: Any = None
    members: list[Any] = field(default_factory=list)
    replies_of: dict[int, list[Reply]] = field(default_factory=dict)
    # interaction id -> the `ephemeral` of its defer (the "thinking" message's flag).
    deferred_ephemeral: dict[int, bool] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(900_000_000_000_000_000))

    def __post_init__(self) -> None:
        self.channel = MagicMock(spec_set=discord.TextChannel)
        self.channel.id = CHANNEL_ID
        self.channel.mention = f"<#{CHANNEL_ID}>"
        self.channel.send = AsyncMock()
        self.guild = MagicMock(spec_set=discord.Guild)
        self.guild.id = GUILD
        self.guild.members = self.members
        self.guild.filesize_limit = LIMIT
        self.guild.get_channel.side_effect = lambda cid: self.channel if cid == CHANNEL_ID else None
        # The deadline's scheduled event (the e2e tests check it through the sandbox).
        self.event = MagicMock(spec_set=discord.ScheduledEvent)
        self.event.id = 555_000_000_000_000_000
        self.event.start_time = discord.utils.utcnow()
        self.event.edit = AsyncMock(return_value=self.event)
        self.event.delete = AsyncMock()
        self.guild.create_scheduled_event = AsyncMock(return_value=self.event)
        self.guild.fetch_scheduled_event = AsyncMock(return_value=self.event)
        self.client = FakeClient(self.services)

    # --- people ----------------------------------------------------------------------------
    def member(
        self,
        user_id: int,
        name: str,
        *,
        manage_guild: bool = False,
        roles: Iterable[int] = (),
        dms: bool = True,
    ) -> Any:
        """A guild member (in the member list); `dms=False`: they do not accept DMs."""
        member = MagicMock(spec_set=discord.Member)
        member.id = user_id
        member.name = name
        member.display_name = name
        member.global_name = None
        member.nick = None
        member.bot = False
        member.mention = f"<@{user_id}>"
        member.roles = [self.role(r) for r in roles]
        member.guild_permissions = discord.Permissions(manage_guild=manage_guild)
        member.dm_channel = None
        dm = MagicMock(spec_set=discord.DMChannel)
        dm.send = AsyncMock(side_effect=None if dms else forbidden())
        member.create_dm = AsyncMock(return_value=dm)
        self.members.append(member)
        return member

    def student(self, n: int, *roles: int, dms: bool = True) -> Any:
        """Member `100 + n`, the same user as `tests.conftest.student(n)`."""
        return self.member(100 + n, f"student{n}", roles=roles, dms=dms)

    def staff(self) -> Any:
        return self.member(STAFF_ID, "TA", manage_guild=True)

    @staticmethod
    def role(role_id: int) -> Any:
        role = MagicMock(spec_set=discord.Role)
        role.id = role_id
        role.mention = f"<@&{role_id}>"
        return role

    @staticmethod
    def dms_to(member: Any) -> list[Reply]:
        """What was sent to `member` by DM."""
        dm = member.create_dm.return_value
        return [_reply("dm", c.args, c.kwargs) for c in dm.send.await_args_list]

    # --- interactions ----------------------------------------------------------------------
    def interaction(
        self, user: Any, *, locale: discord.Locale = discord.Locale.american_english
    ) -> Any:
        """A slash-command interaction by `user`, sent now (the fake clock's time)."""
        interaction = MagicMock(spec_set=discord.Interaction)
        interaction_id = next(self._ids)
        replies = self.replies_of.setdefault(interaction_id, [])
        done = [False]

        async def answer(*args: Any, **kwargs: Any) -> None:
            if done[0]:
                raise discord.InteractionResponded(interaction)
            done[0] = True
            replies.append(_reply("response", args, kwargs))

        async def defer(*, ephemeral: bool = False, thinking: bool = False) -> None:
            if done[0]:
                raise discord.InteractionResponded(interaction)
            done[0] = True
            self.deferred_ephemeral[interaction_id] = ephemeral

        async def follow_up(*args: Any, **kwargs: Any) -> None:
            if not done[0]:
                raise AssertionError("a follow-up before the interaction was answered")
            replies.append(_reply("followup", args, kwargs))

        response = MagicMock(spec_set=discord.InteractionResponse)
        response.is_done.side_effect = lambda: done[0]
        response.send_message = AsyncMock(side_effect=answer)
        response.defer = AsyncMock(side_effect=defer)
        followup = MagicMock(spec_set=discord.Webhook)
        followup.send = AsyncMock(side_effect=follow_up)

        interaction.id = interaction_id
        interaction.response = response
        interaction.followup = followup
        interaction.user = user
        interaction.guild_id = GUILD
        interaction.guild = self.guild
        interaction.channel = self.channel
        interaction.channel_id = CHANNEL_ID
        interaction.created_at = self.clock.now()
        interaction.locale = locale
        interaction.permissions = user.guild_permissions
        interaction.filesize_limit = LIMIT
        interaction.client = self.client
        interaction.command = None
        return interaction

    def replies(self, interaction: Any) -> list[Reply]:
        return self.replies_of[interaction.id]

    def answer(self, interaction: Any) -> Reply:
        """The one reply to `interaction`, checked to be private (and any defer too)."""
        replies = self.replies(interaction)
        assert len(replies) == 1, replies
        reply = replies[0]
        assert reply.ephemeral, reply
        if reply.via == "followup":
            # The first follow-up replaces the deferred "thinking" message and keeps its flag.
            assert self.deferred_ephemeral.get(interaction.id) is True
        return reply


@pytest.fixture
def world(services: Services, clock: FakeClock, tmp_path: Path) -> World:
    return World(services, clock, tmp_path / "data")


async def refused(call: Awaitable[Any], error: type[DomainError]) -> DomainError:
    """Await a command callback that must refuse with `error` (cogs never catch it)."""
    with pytest.raises(error) as info:
        await call
    return info.value


# --- cogs ----------------------------------------------------------------------------------
@pytest.fixture
def groups_cog(services: Services) -> GroupsCog:
    return GroupsCog(services)


@pytest.fixture
def staff_assignments_cog(services: Services) -> StaffAssignmentsCog:
    return StaffAssignmentsCog(services)


@pytest.fixture
async def staff_groups_cog(services: Services) -> AsyncIterator[StaffGroupsCog]:
    async with aiohttp.ClientSession() as session:
        yield StaffGroupsCog(services, session)


@pytest.fixture
def export_cog(services: Services, world: World) -> ExportCog:
    return ExportCog(services, paths.exports_dir(world.data_dir))


@pytest.fixture
def settings_cog(services: Services) -> SettingsCog:
    return SettingsCog(services)


# --- attachments ---------------------------------------------------------------------------
@dataclass
class Cdn:
    """Discord's attachment CDN, on 127.0.0.1: serves the bytes of the attachments made here."""

    server: TestServer
    blobs: dict[str, bytes] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def attachment(
        self,
        filename: str,
        data: bytes,
        *,
        size: int | None = None,
        content_type: str | None = "application/pdf",
    ) -> Any:
        """An attachment whose URL serves `data`; `size` is what Discord announces."""
        key = f"{len(self.blobs)}/{filename}"
        self.blobs[key] = data
        attachment = MagicMock(spec_set=discord.Attachment)
        attachment.filename = filename
        attachment.size = len(data) if size is None else size
        attachment.content_type = content_type
        attachment.url = str(self.server.make_url(f"/attachments/{key}"))
        attachment.read = AsyncMock(return_value=data)
        return attachment


@pytest.fixture
async def cdn() -> AsyncIterator[Cdn]:
    blobs: dict[str, bytes] = {}
    fetched: list[str] = []

    async def serve(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        fetched.append(key)
        if key not in blobs:
            raise web.HTTPNotFound()
        return web.Response(body=blobs[key], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/attachments/{key:.+}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Cdn(server, blobs, fetched)
    finally:
        await server.close()


@pytest.fixture
async def submissions_cog(services: Services) -> AsyncIterator[SubmissionsCog]:
    async with aiohttp.ClientSession() as session:
        yield SubmissionsCog(services, session)


# --- calling commands ----------------------------------------------------------------------
CogT = TypeVar("CogT", bound=commands.Cog)
P = ParamSpec("P")


def call(
    command: app_commands.Command[CogT, P, None],
    cog: CogT,
    interaction: discord.Interaction[Any],
    *args: P.args,
    **kwargs: P.kwargs,
) -> Coroutine[Any, Any, None]:
    """Run a slash command's callback on `cog`, as discord.py does once the options are parsed.

    `Command.callback` is typed as a union of the bound and the unbound forms, which mypy cannot
    call; this names the bound form, and keeps the options checked against the command's."""
    callback = cast(
        "Callable[Concatenate[CogT, discord.Interaction[Any], P], Coroutine[Any, Any, None]]",
        command.callback,
    )
    return callback(cog, interaction, *args, **kwargs)


async def complete(
    cog: object, name: str, interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Run the cog's autocomplete callback `name` on what was typed so far.

    Looked up by name: discord.py's decorator types the callback as a function of the cog's
    command group, and mypy refuses it as an attribute of a cog that defines several."""
    autocomplete: Callable[..., Awaitable[list[app_commands.Choice[str]]]] = getattr(cog, name)
    return await autocomplete(interaction, current)
