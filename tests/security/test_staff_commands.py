"""Every staff command, found by walking the bot's command tree, refuses a student and changes
nothing, even when Discord's client-side hiding (default_permissions) is bypassed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from discord import AppCommandOptionType, app_commands

from bot.domain.errors import ManageServerOnlyError, StaffOnlyError
from bot.tree import render_error
from sandbox import SandboxRole, SandboxUser
from sandbox.models import MANAGE_GUILD
from tests.security.conftest import (
    AppCommand,
    Course,
    is_staff_command,
    reply_of,
    reply_text,
    walk_commands,
)

pytestmark = pytest.mark.e2e

LAB = "Lab 1"
GROUPS_LAB = "Groups Lab"
NEW_NAME = "Brand New Lab"
# String options by name; any other string option gets a harmless word. Times are relative
# and late enough to be valid for every time option (an extension must pass the deadline).
STRINGS = {
    "closes": "+3h",
    "opens": "+1m",
    "late_until": "+4h",
    "group": "Team B",
    "file_types": "pdf,zip",
    "reminders": "1h",
    "message": "Hand in by Friday",
    "timezone": "Europe/Oslo",
    "locale": "no",
}
REFUSALS = {render_error("en", StaffOnlyError()), render_error("en", ManageServerOnlyError())}


@dataclass
class World:
    """A course worth protecting: groups, members, uploads in two assignments."""

    course: Course
    students: SandboxRole
    alice: SandboxUser
    bob: SandboxUser
    mallory: SandboxUser
    pin: str


async def build_world(course: Course) -> World:
    students = course.sandbox.add_role(course.guild, "Students")
    alice = course.student("alice", roles=[students])
    bob = course.student("bob", roles=[students])
    mallory = course.student("mallory", roles=[students])
    staff = course.staff
    await course.run(staff, "assignment create", name=LAB, closes="+2h", mode="password")
    await course.run(staff, "assignment create", name=GROUPS_LAB, closes="+2h", mode="predefined")
    created = await course.run(alice, "group create", assignment=LAB, pin="4711")
    assert "4711" in reply_of(created).content
    await course.run(alice, "upload", assignment=LAB, files={"file": ("a.pdf", b"%PDF lab")})
    await course.run(staff, "groups add", assignment=GROUPS_LAB, member=alice, group="Team A")
    await course.run(alice, "upload", assignment=GROUPS_LAB, files={"file": ("g.pdf", b"%PDF g")})
    # Registered without a group: what /groups random and /groups import would place.
    await course.run(bob, "ready", assignment=GROUPS_LAB)
    await course.settle()
    return World(course, students, alice, bob, mallory, "4711")


def option_value(world: World, param: app_commands.Parameter) -> Any:
    """A valid-looking value for one option, from its type and name."""
    kind = param.type
    if param.choices:
        return param.choices[-1].value
    if kind is AppCommandOptionType.string:
        if param.name == "name":
            # A `name` without autocomplete names something new (create); else an existing one.
            return LAB if param.autocomplete else NEW_NAME
        if param.name == "assignment":
            return GROUPS_LAB
        if param.name == "pin":
            return world.pin
        return STRINGS.get(param.name, "anything")
    if kind is AppCommandOptionType.integer:
        low = int(param.min_value or 1)
        high = int(param.max_value or 1000)
        return max(low, min(2, high))
    if kind is AppCommandOptionType.number:
        return 1.5
    if kind is AppCommandOptionType.boolean:
        return True
    if kind is AppCommandOptionType.user:
        return world.alice
    if kind is AppCommandOptionType.role:
        # The students' own role: `/settings staff_role` with it would make them all staff.
        return world.students
    if kind is AppCommandOptionType.channel:
        return world.course.guild.default_channel
    raise AssertionError(f"no test value for option {param.name!r} of type {kind!r}")


def invocation(
    world: World, command: AppCommand
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes, str]]]:
    """Every option of `command` filled in: (options, files)."""
    options: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes, str]] = {}
    for param in command.parameters:
        if param.type is AppCommandOptionType.attachment:
            csv = f"group_name,member\nTeam C,{world.bob.username}\n".encode()
            files[param.display_name] = ("groups.csv", csv, "text/csv")
        else:
            options[param.display_name] = option_value(world, param)
    return options, files


def staff_commands(course: Course) -> list[AppCommand]:
    found = [c for c in walk_commands(course.bot) if is_staff_command(c)]
    # The walk must find the staff commands of SPEC §2 (and any added later).
    names = {c.qualified_name for c in found}
    assert {"assignment create", "groups import", "groups handin", "export", "settings"} <= names, (
        names
    )
    assert {"feedback import", "feedback release"} <= names, names
    return found


async def test_every_staff_command_refuses_a_student_and_changes_nothing(course: Course) -> None:
    world = await build_world(course)
    failures: list[str] = []
    for command in staff_commands(course):
        options, files = invocation(world, command)
        before = await course.snapshot()
        handle = await course.run(
            world.mallory,
            command.qualified_name,
            files=files,
            check_permissions=False,  # a client that shows the hidden command anyway
            **options,
        )
        after = await course.snapshot()
        reply = reply_of(handle)
        if not reply.ephemeral:
            failures.append(f"/{command.qualified_name}: the refusal is not ephemeral")
        if reply.content not in REFUSALS:
            failures.append(f"/{command.qualified_name}: not refused: {reply_text(handle)!r}")
        if after != before:
            changed = [k for k in before["tables"] if before["tables"][k] != after["tables"][k]]
            if before["files"] != after["files"]:
                changed.append("files")
            failures.append(f"/{command.qualified_name}: changed {changed}")
    public = [
        m.content
        for channel in course.guild.channels.values()
        for m in course.sandbox.channel_messages(channel)
        if not m.ephemeral and m.interaction is not None and m.interaction.user is world.mallory
    ]
    assert not public, f"the student's refused commands posted publicly: {public}"
    assert not failures, "\n".join(failures)


async def test_the_staff_role_cannot_change_settings(course: Course) -> None:
    """The staff role runs staff commands but cannot grant roles itself (Manage Server only)."""
    tas = course.sandbox.add_role(course.guild, "TAs")
    ta = course.student("ta_ida", roles=[tas])
    await course.run(course.staff, "settings", staff_role=tas)
    before = await course.snapshot()
    handle = await course.run(
        ta, "settings", check_permissions=False, staff_role=tas, locale="no", timezone="UTC"
    )
    assert reply_of(handle).ephemeral
    assert reply_of(handle).content == render_error("en", ManageServerOnlyError())
    assert await course.snapshot() == before
    # ...while the staff role does work for the other staff commands.
    created = await course.run(ta, "assignment create", check_permissions=False, **_lab())
    assert reply_of(created).content not in REFUSALS


async def test_the_same_options_are_accepted_from_staff(course: Course) -> None:
    """Control: the options the refusal test sends are not refused for being staff-only when
    staff send them, so the refusals above come from the student's missing rights."""
    world = await build_world(course)
    refused = []
    for command in staff_commands(course):
        options, files = invocation(world, command)
        handle = await course.run(course.staff, command.qualified_name, files=files, **options)
        if reply_of(handle).content in REFUSALS:
            refused.append(command.qualified_name)
    assert not refused


def _lab() -> dict[str, Any]:
    return {"name": NEW_NAME, "closes": "+1h"}


async def test_staff_commands_are_synced_hidden_from_members(course: Course) -> None:
    """What Discord is told: staff commands need Manage Server by default, student ones nothing."""
    # A group that also holds student subcommands cannot be hidden (cogs/feedback.py).
    staff_tops = {
        c.qualified_name.split()[0] for c in staff_commands(course) if not c.extras.get("staff")
    }
    synced = {
        c["name"]: c.get("default_member_permissions") for c in course.sandbox.global_commands
    }
    assert staff_tops <= set(synced)
    for name, permissions in synced.items():
        if name in staff_tops:
            assert permissions is not None and int(permissions) & MANAGE_GUILD, name
        else:
            assert permissions is None, name
