"""A course in the sandbox for the security tests: the real bot, a staff member, students, and
helpers that snapshot what a refusal must leave alone and collect everything a user was shown."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands

from bot import paths
from bot.client import HandinBot
from bot.config import Config
from bot.i18n import t
from sandbox import (
    EventKind,
    InteractionHandle,
    Sandbox,
    SandboxGuild,
    SandboxMessage,
    SandboxUser,
)
from storage.db import fetch_all
from tests.modes import exposed

# Every table a refused command must leave exactly as it was (SPEC §4; the candidate's own
# registration and a failed join attempt are the only records a refusal may add).
GUARDED_TABLES = (
    "groups",
    "memberships",
    "uploads",
    "handins",
    "submissions",
    "receipts",
    "assignments",
    "guild_settings",
)
DATABASE_FILES = frozenset(
    {paths.DATABASE_NAME, f"{paths.DATABASE_NAME}-wal", f"{paths.DATABASE_NAME}-shm"}
)
# What the bot sends back to a user, as opposed to what the user typed.
BOT_TO_USER = frozenset(
    {
        EventKind.DEFER,
        EventKind.RESPONSE,
        EventKind.FOLLOWUP,
        EventKind.EDIT,
        EventKind.CHOICES,
        EventKind.MODAL,
        EventKind.DM,
    }
)
REPLY_TIMEOUT = 10.0


# --- the command tree ------------------------------------------------------------------------
AppCommand = app_commands.Command[Any, Any, Any]


def walk_commands(bot: HandinBot) -> Iterator[AppCommand]:
    """Every leaf slash command of the bot's tree, subcommands of groups included."""

    def walk(
        node: app_commands.Command[Any, Any, Any] | app_commands.Group,
    ) -> Iterator[AppCommand]:
        if isinstance(node, app_commands.Group):
            for child in node.commands:
                yield from walk(child)
        else:
            yield node

    for top in bot.tree.get_commands():
        if isinstance(top, app_commands.Command | app_commands.Group):
            yield from walk(top)


def is_staff_command(command: AppCommand) -> bool:
    """Staff commands are the ones Discord hides from members without Manage Server: the
    command or a group it sits in carries default_permissions(manage_guild)."""
    # A staff subcommand in a group students use too (cogs/feedback.py) says so itself.
    if command.extras.get("staff"):
        return True
    node: AppCommand | app_commands.Group | None = command
    while node is not None:
        permissions = node.default_permissions
        if permissions is not None and permissions.manage_guild:
            return True
        node = node.parent
    return False


# --- the course ------------------------------------------------------------------------------
@dataclass
class Seen:
    """Everything one user was shown by the bot: text (content, embeds, choices) and files."""

    texts: list[str] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def add_message(self, message: SandboxMessage) -> None:
        self.texts.append(message.content)
        self.texts.append(json.dumps(message.embeds, ensure_ascii=False))
        self.files += [(f.filename, f.data) for f in message.attachments]


@dataclass
class Course:
    sandbox: Sandbox
    bot: HandinBot
    guild: SandboxGuild
    staff: SandboxUser
    root: Path
    data_dir: Path

    def student(self, name: str, **kwargs: Any) -> SandboxUser:
        return self.sandbox.add_member(self.guild, name, **kwargs)

    async def run(
        self,
        user: SandboxUser,
        command: str,
        *,
        files: Mapping[str, tuple[str, bytes] | tuple[str, bytes, str]] | None = None,
        check_permissions: bool = True,
        created_at: Any = None,
        **options: Any,
    ) -> InteractionHandle:
        """`user` runs `/command`; returns once the bot has given its real answer."""
        handle = await self.sandbox.invoke(
            user,
            command,
            options,
            files=files,
            check_permissions=check_permissions,
            created_at=created_at,
        )
        await handle.wait_done(timeout=REPLY_TIMEOUT)
        return handle

    async def close(self, assignment: str) -> InteractionHandle:
        """`/assignment close` by staff, confirmed with its button."""
        prompt = await self.run(self.staff, "assignment close", name=assignment)
        message = await prompt.wait_done(timeout=REPLY_TIMEOUT)
        label = t("en", "confirm.close_button")
        [custom_id] = [
            c["custom_id"]
            for row in message.components
            for c in row.get("components") or []
            if c.get("label") == label
        ]
        handle = await self.sandbox.click(self.staff, message, str(custom_id))
        await handle.wait_done(timeout=REPLY_TIMEOUT)
        return handle

    async def settle(self) -> None:
        """Wait for background DMs (upload notices) and pending gateway dispatches."""
        await self.bot.notifier.all_tried()
        await self.sandbox.settle()

    async def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        state: dict[str, list[tuple[Any, ...]]] = {}
        async with self.bot.services.db.reading() as conn:
            for table in GUARDED_TABLES:
                rows = await fetch_all(conn, f"SELECT * FROM {table} ORDER BY 1, 2")
                state[table] = [tuple(row) for row in rows]
        return state

    def stored(self) -> list[tuple[str, bytes]]:
        """Every file under the data dir but the database, with its bytes."""
        return sorted(
            (str(p.relative_to(self.data_dir)), p.read_bytes())
            for p in self.data_dir.rglob("*")
            if p.is_file() and p.name not in DATABASE_FILES
        )

    async def snapshot(self) -> dict[str, Any]:
        await self.settle()
        return {"tables": await self.tables(), "files": self.stored()}

    def seen_by(self, user: SandboxUser) -> Seen:
        seen = Seen()
        for event in self.sandbox.transcript:
            if event.user is user and event.kind in BOT_TO_USER:
                seen.texts += [event.content or "", event.detail]
                seen.texts.append(json.dumps(event.embeds, ensure_ascii=False))
                seen.files += [(f.filename, f.data) for f in event.files]
        for handle in self.sandbox.interactions:
            if handle.user is user:
                for message in handle.messages:
                    seen.add_message(message)
                seen.texts.append(json.dumps(handle.choices or [], ensure_ascii=False))
                if handle.modal is not None:
                    seen.texts.append(json.dumps(handle.modal, ensure_ascii=False))
        for message in self.sandbox.dms(user):
            seen.add_message(message)
        # Public posts in the guild's channels are seen by every member.
        for channel in self.guild.channels.values():
            for message in self.sandbox.channel_messages(channel):
                if not message.ephemeral:
                    seen.add_message(message)
        return seen


def reply_of(handle: InteractionHandle) -> SandboxMessage:
    assert handle.final is not None, f"{handle!r} got no answer"
    return handle.final


def reply_text(handle: InteractionHandle) -> str:
    message = reply_of(handle)
    return message.content + "\n" + json.dumps(message.embeds, ensure_ascii=False)


@pytest.fixture
async def course(tmp_path: Path) -> AsyncIterator[Course]:
    # The data dir sits a few levels below the temp root, so a `../..` that escaped it would
    # still land in a tree the tests can walk.
    root = tmp_path / "root"
    data_dir = root / "srv" / "handin" / "data"
    async with Sandbox() as sandbox:
        guild = sandbox.add_guild("Algorithms 101")
        staff = sandbox.add_member(guild, "ta_tor", global_name="Tor (TA)", staff=True)
        config = Config(
            token=sandbox.token,
            data_dir=data_dir,
            log_level="WARNING",
            api_base=sandbox.api_base,
            gateway_url=sandbox.gateway_url,
        )
        bot = HandinBot(config, guild_ready_timeout=0.05)
        async with sandbox.run_bot(bot):
            yield Course(sandbox, bot, guild, staff, root, data_dir)
    # Whatever the scenario did, nothing under the data folder is open to other accounts.
    assert exposed(data_dir) == []


def tree_of(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (files with their bytes, folders as None)."""
    found: dict[str, bytes | None] = {}
    for folder, dirs, names in os.walk(root):
        for d in dirs:
            found[os.path.join(folder, d)] = None
        for n in names:
            path = os.path.join(folder, n)
            found[path] = Path(path).read_bytes() if os.path.isfile(path) else None
    return found
