"""Fixtures for the sandbox's own tests: a sandbox with a small world and a real test bot."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import discord
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from sandbox import Sandbox, SandboxGuild, SandboxUser

ASSIGNMENTS = ["Lab 1", "Lab 2", "Lab 10", "Project"]


class Confirm(discord.ui.View):
    """A one-button view, to exercise component interactions."""

    def __init__(self) -> None:
        super().__init__(timeout=30)

    @discord.ui.button(label="Confirm", custom_id="confirm")
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[Confirm]
    ) -> None:
        await interaction.response.edit_message(content="confirmed", view=None)


class Feedback(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[Feedback] = discord.ui.TextInput(label="Text", custom_id="text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


class HandInCog(commands.Cog):
    """A cog shaped like the real bot's: a command group, an upload, DMs, autocomplete."""

    group = app_commands.Group(name="group", description="Group hand-in commands")
    admin = app_commands.Group(name="admin", description="Staff commands")
    admin_assignment = app_commands.Group(
        name="assignment", description="Manage assignments", parent=admin
    )

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @group.command(name="join", description="Join a group")
    async def join(self, interaction: discord.Interaction, assignment: str, pin: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(
            f"{interaction.user.name} joined {assignment} with {pin}", ephemeral=True
        )

    @admin_assignment.command(name="create", description="Create an assignment")
    async def create(
        self,
        interaction: discord.Interaction,
        name: str,
        max_group: int,
        weight: float,
        visible: bool,
        channel: discord.TextChannel,
        role: discord.Role,
        contact: discord.Member,
    ) -> None:
        await interaction.response.send_message(
            f"{name}|{max_group}|{weight}|{visible}|{channel.id}|{role.name}|{contact.display_name}"
        )

    @app_commands.command(name="upload", description="Upload a hand-in")
    async def upload(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        await interaction.response.defer(thinking=True)
        digest = hashlib.sha256()
        size = chunks = 0
        async with aiohttp.ClientSession() as session, session.get(file.url) as resp:
            resp.raise_for_status()
            length = resp.headers.get("Content-Length")
            async for chunk in resp.content.iter_chunked(64 * 1024):
                digest.update(chunk)
                size += len(chunk)
                chunks += 1
        await interaction.followup.send(
            f"{file.filename} {file.content_type} {size} {length} {chunks} "
            f"{digest.hexdigest()} {interaction.created_at.isoformat()}"
        )

    @app_commands.command(name="submit", description="Pick an assignment")
    async def submit(self, interaction: discord.Interaction, assignment: str) -> None:
        await interaction.response.send_message(f"picked {assignment}")

    @submit.autocomplete("assignment")
    async def submit_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=a, value=a)
            for a in ASSIGNMENTS
            if a.lower().startswith(current.lower())
        ]

    @app_commands.command(name="notify", description="DM a user")
    async def notify(self, interaction: discord.Interaction, user: discord.User) -> None:
        try:
            await user.send("you have been notified", embed=discord.Embed(title="Notice"))
        except discord.Forbidden as exc:
            await interaction.response.send_message(f"cannot DM: {exc.code}", ephemeral=True)
        else:
            await interaction.response.send_message("sent", ephemeral=True)

    @app_commands.command(name="report", description="Ephemeral embed with a file")
    async def report(self, interaction: discord.Interaction) -> None:
        embed = discord.Embed(title="Report", description="All hand-ins")
        file = discord.File(fp=io.BytesIO(b"a,b\n1,2\n"), filename="report.csv")
        await interaction.response.send_message("here", embed=embed, file=file, ephemeral=True)

    @app_commands.command(name="confirm", description="Ask for confirmation")
    async def confirm(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("sure?", view=Confirm())

    @app_commands.command(name="feedback", description="Open a modal")
    async def feedback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    @app_commands.command(name="slow", description="Answers too late")
    async def slow(self, interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as exc:
            self.bot.dispatch("slow_failed", exc.code)

    @app_commands.command(name="lifecycle", description="Send, read, edit, follow up, delete")
    async def lifecycle(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("one")
        original = await interaction.original_response()
        await interaction.edit_original_response(content=f"two ({original.content})")
        extra = await interaction.followup.send(
            "three", file=discord.File(io.BytesIO(b"x" * 10), filename="x.bin"), wait=True
        )
        await extra.edit(content="four")
        await extra.delete()
        await interaction.followup.send("five", ephemeral=True)

    @app_commands.command(name="sloppy", description="Defers publicly, follows up ephemerally")
    async def sloppy(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await interaction.followup.send("secret?", ephemeral=True)


class HandInTestBot(commands.Bot):
    """Syncs global commands in setup_hook, plus a staff-only command in each guild."""

    def __init__(self, guild_ids: list[int]) -> None:
        intents = discord.Intents.default()
        intents.members = True
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE
        # before on_ready (2 s by default), which would dominate the suite's runtime.
        super().__init__(
            command_prefix="!", intents=intents, guild_ready_timeout=0.05, help_command=None
        )
        self.guild_ids = guild_ids

    async def setup_hook(self) -> None:
        await self.add_cog(HandInCog(self))

        @app_commands.command(name="purge", description="Staff only")
        @app_commands.default_permissions(manage_guild=True)
        async def purge(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("purged", ephemeral=True)

        await self.tree.sync()
        for gid in self.guild_ids:
            self.tree.add_command(purge, guild=discord.Object(gid))
            await self.tree.sync(guild=discord.Object(gid))


@dataclass
class World:
    sandbox: Sandbox
    guild: SandboxGuild
    alice: SandboxUser
    bob: SandboxUser
    teacher: SandboxUser


@pytest_asyncio.fixture
async def world() -> AsyncIterator[World]:
    async with Sandbox() as sandbox:
        guild = sandbox.add_guild("Algorithms 101")
        sandbox.add_channel(guild, "hand-ins")
        alice = sandbox.add_member(guild, "alice", global_name="Alice A.")
        bob = sandbox.add_member(guild, "bob", nick="Bobby", locale="de")
        teacher = sandbox.add_member(guild, "teacher", staff=True)
        yield World(sandbox, guild, alice, bob, teacher)


@pytest_asyncio.fixture
async def running(world: World) -> AsyncIterator[tuple[World, HandInTestBot]]:
    bot = HandInTestBot([world.guild.id])
    async with world.sandbox.run_bot(bot):
        yield world, bot
