"""/help and the README's command tables come from one table (bot/help.py)."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

from discord import app_commands

from bot.help import COMMANDS, README, example, for_reader, readme_tables, readme_with_tables
from cogs import all_cogs


def _leaves() -> dict[str, bool]:
    """Every slash command's qualified name and whether it is for staff (hidden by default)."""
    leaves: dict[str, bool] = {}
    for cog in all_cogs(MagicMock(), MagicMock(), MagicMock()):
        for root in cog.get_app_commands():
            staff = root.default_permissions is not None
            if isinstance(root, app_commands.Group):
                for command in root.walk_commands():
                    if isinstance(command, app_commands.Command):
                        # A staff subcommand in a group students use too (cogs/feedback.py).
                        leaves[command.qualified_name] = staff or command.extras.get("staff", False)
            else:
                leaves[root.qualified_name] = staff
    return leaves


def test_every_command_has_one_help_entry_with_its_audience() -> None:
    assert {e.command: e.staff for e in COMMANDS} == _leaves()
    assert len({e.command for e in COMMANDS}) == len(COMMANDS)


def test_every_example_uses_options_the_command_has_and_all_it_requires() -> None:
    leaves: dict[str, app_commands.Command[Any, ..., Any]] = {}
    for cog in all_cogs(MagicMock(), MagicMock(), MagicMock()):
        for root in cog.get_app_commands():
            commands = root.walk_commands() if isinstance(root, app_commands.Group) else [root]
            leaves |= {c.qualified_name: c for c in commands if isinstance(c, app_commands.Command)}
    for entry in COMMANDS:
        parameters = {p.name: p.required for p in leaves[entry.command].parameters}
        used = [name for name, _ in entry.example]
        assert set(used) <= set(parameters), entry.command
        assert {n for n, required in parameters.items() if required} <= set(used), entry.command


def test_students_see_no_staff_command_and_staff_see_all() -> None:
    assert not any(e.staff for e in for_reader(False))
    assert for_reader(True) == list(COMMANDS)


def test_examples_use_the_readers_names_for_commands_and_options() -> None:
    [upload] = [e for e in COMMANDS if e.command == "upload"]
    assert example("en", upload) == "/upload assignment:Lab 1 file:report.pdf"
    assert example("no", upload) == "/last-opp oppgave:Lab 1 fil:report.pdf"


def test_the_readme_tables_are_the_generated_ones() -> None:
    text = README.read_text(encoding="utf-8")
    assert readme_with_tables(text) == text, "run `python -m bot.help --write`"
    assert readme_tables() in text
