"""The slash commands are a contract (SPEC §2): names, options, required or not, guild-only,
staff defaults, and real English help text."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import discord
import pytest
from discord import AppCommandOptionType as T
from discord import app_commands

from cogs import all_cogs

# SPEC §2, copied as the contract: command -> options in order; "?" marks an optional one.
_SAME = "closes?, opens?, mode?, auto_submit?, submit_once?, max_group_size?, max_file_mb?, " \
    "file_types?, late_until?, single_editor?, anonymous?, role?, channel?, reminders?, " \
    "parts?, max_uploads?, max_storage_mb?, event?"  # fmt: skip
STUDENT = {
    "ready": "assignment",
    "group create": "assignment, pin?",
    "group join": "assignment, pin, password?, switch?",
    "group leave": "assignment",
    "group info": "assignment",
    "group password": "assignment",
    "upload": "assignment, file, part?",
    "handin": "assignment",
    "release": "assignment",
    "status": "assignment",
    "assignments": "",
    "download": "assignment",
    "help": "",
}
STAFF = {
    "assignment create": "name, closes, " + _SAME.replace("closes?, ", ""),
    "assignment edit": "name, " + _SAME,
    "assignment list": "",
    "assignment overview": "name",
    "assignment close": "name",
    "assignment reopen": "name, closes",
    "assignment extend": "name, pin, closes",
    "assignment announce": "name, message?",
    "groups add": "assignment, member, group",
    "groups remove": "assignment, member",
    "groups import": "assignment, file",
    "groups random": "assignment, size, role?",
    "groups list": "assignment",
    "export": "assignment",
    "verify": "receipt",
    "settings": "staff_role?, timezone?, locale?",
}
CONTRACT = STUDENT | STAFF
STAFF_ROOTS = {"assignment", "groups", "export", "settings", "verify"}

# Option types that the SPEC's words imply (a file is an attachment, a member a user...).
TYPES = {
    "file": T.attachment,
    "member": T.user,
    "role": T.role,
    "staff_role": T.role,
    "channel": T.channel,
    "switch": T.boolean,
    "size": T.integer,
    "max_group_size": T.integer,
    "max_file_mb": T.number,
    "max_uploads": T.integer,
    "max_storage_mb": T.number,
}


def _options(spec: str) -> list[tuple[str, bool]]:
    return [(o.rstrip("?"), not o.endswith("?")) for o in spec.split(", ") if o]


def _roots() -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    return [
        command
        for cog in all_cogs(MagicMock(), MagicMock(), MagicMock())
        for command in cog.get_app_commands()
    ]


def _leaves() -> dict[str, app_commands.Command[Any, ..., Any]]:
    leaves: dict[str, app_commands.Command[Any, ..., Any]] = {}
    for root in _roots():
        if isinstance(root, app_commands.Group):
            for command in root.walk_commands():
                if isinstance(command, app_commands.Command):
                    leaves[command.qualified_name] = command
        else:
            leaves[root.qualified_name] = root
    return leaves


def test_every_command_of_the_spec_exists_and_no_other() -> None:
    assert sorted(_leaves()) == sorted(CONTRACT)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_options_match_the_spec_in_name_order_and_requiredness(name: str) -> None:
    command = _leaves()[name]
    actual = [(p.name, p.required) for p in command.parameters]
    assert actual == _options(CONTRACT[name])


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_option_types_fit_what_the_spec_describes(name: str) -> None:
    for parameter in _leaves()[name].parameters:
        if parameter.name in TYPES:
            assert parameter.type is TYPES[parameter.name], parameter.name
        elif parameter.name in {"assignment", "name"} and name != "assignment create":
            assert parameter.type is T.string
            assert parameter.autocomplete, f"/{name} {parameter.name} autocompletes"


def test_mode_is_a_choice_of_the_three_group_modes() -> None:
    for name in ("assignment create", "assignment edit"):
        mode = _leaves()[name].get_parameter("mode")
        assert mode is not None
        assert [c.value for c in mode.choices] == ["predefined", "open", "password"]


def test_every_command_is_guild_only() -> None:
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    for root in _roots():
        assert root.guild_only, root.name
        # What Discord gets: the guild context only (0), never bot DMs or private channels.
        assert root.to_dict(tree).get("contexts") == [0], root.name


def test_staff_commands_are_hidden_from_students_by_default() -> None:
    for root in _roots():
        if root.name in STAFF_ROOTS:
            assert root.default_permissions == discord.Permissions(manage_guild=True), root.name
        else:
            assert root.default_permissions is None, root.name


def _real_text(text: object) -> bool:
    value = str(text).strip()
    return bool(value) and value != "…" and "\n" not in value and len(value) <= 100


def test_every_command_and_option_has_a_real_english_description() -> None:
    seen: list[str] = []
    for root in _roots():
        commands: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = [root]
        if isinstance(root, app_commands.Group):
            commands += list(root.walk_commands())
        for command in commands:
            assert _real_text(command.description), command.qualified_name
            seen.append(command.qualified_name)
            if isinstance(command, app_commands.Command):
                for parameter in command.parameters:
                    where = f"/{command.qualified_name} {parameter.name}"
                    assert _real_text(parameter.description), where
    assert len(seen) == len(CONTRACT) + 3  # and the groups: group, assignment, groups
