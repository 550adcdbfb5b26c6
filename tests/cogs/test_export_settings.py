"""/export and /settings at the callback level."""

from __future__ import annotations

import zipfile

import discord

from bot.domain.errors import (
    ManageServerOnlyError,
    StaffOnlyError,
    TimezoneInvalidError,
)
from bot.domain.models import Actor
from bot.tree import render_error, report
from cogs.export import ExportCog
from cogs.settings import SettingsCog
from tests.cogs.conftest import World, call, complete, refused
from tests.conftest import GUILD, incoming, make_assignment, sha, student
from tests.filestore import stored_path

STAFF_ROLE = 4242


async def _closed_assignment_with_one_submission(world: World) -> None:
    await make_assignment(world.services, closes="+1m")
    now = world.clock.now()
    await world.services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=now)
    await world.services.submissions.upload(
        GUILD, student(1), "Lab 1", incoming(b"%PDF final"), sent_at=now
    )
    world.clock.advance(120)
    await world.services.finalizer.finalize_due()


# --- /export -------------------------------------------------------------------------------
async def test_export_sends_the_zip_when_it_fits(world: World, export_cog: ExportCog) -> None:
    await _closed_assignment_with_one_submission(world)
    interaction = world.interaction(world.staff())

    await call(export_cog.export, export_cog, interaction, "Lab 1")

    reply = world.answer(interaction)
    assert isinstance(reply.file, discord.File)
    assert reply.file.filename.startswith("lab-1-") and reply.file.filename.endswith(".zip")
    with zipfile.ZipFile(reply.file.fp) as archive:
        assert "results.csv" in archive.namelist()
        assert archive.read("1234/report.pdf") == b"%PDF final"
    reply.file.close()
    assert list((world.data_dir / "exports").glob("*.zip"))


async def test_export_too_large_for_discord_is_left_on_the_host(
    world: World, export_cog: ExportCog
) -> None:
    await _closed_assignment_with_one_submission(world)
    world.guild.filesize_limit = 10
    interaction = world.interaction(world.staff())

    await call(export_cog.export, export_cog, interaction, "Lab 1")

    reply = world.answer(interaction)
    assert reply.file is None
    [path] = (world.data_dir / "exports").glob("*.zip")
    assert str(path) in (reply.content or "")


async def test_export_by_a_student_is_refused(world: World, export_cog: ExportCog) -> None:
    await _closed_assignment_with_one_submission(world)
    interaction = world.interaction(world.student(1))

    error = await refused(call(export_cog.export, export_cog, interaction, "Lab 1"), StaffOnlyError)
    await report(interaction, error)

    assert world.answer(interaction).content == render_error("en", error)
    assert not (world.data_dir / "exports").exists() or not any(
        (world.data_dir / "exports").iterdir()
    )


# --- /settings -----------------------------------------------------------------------------
async def test_settings_saves_role_timezone_and_locale(
    world: World, settings_cog: SettingsCog
) -> None:
    interaction = world.interaction(world.staff())

    await call(
        settings_cog.settings,
        settings_cog,
        interaction,
        world.role(STAFF_ROLE),
        "Europe/Oslo",
        "nb",
    )

    saved = await world.services.settings.get(GUILD)
    assert (saved.staff_role_id, saved.timezone, saved.locale) == (
        STAFF_ROLE,
        "Europe/Oslo",
        "no",
    )
    reply = world.answer(interaction)
    assert f"<@&{STAFF_ROLE}>" in (reply.content or "") and "Europe/Oslo" in (reply.content or "")
    # The staff role now grants staff rights.
    ta = Actor(user_id=7, role_ids=frozenset({STAFF_ROLE}))
    assert await world.services.assignments.list_for_staff(GUILD, ta) == []


async def test_settings_by_the_staff_role_without_manage_server_is_refused(
    world: World, settings_cog: SettingsCog
) -> None:
    await world.services.settings.update(
        GUILD, Actor(user_id=1, can_manage_guild=True), staff_role_id=STAFF_ROLE
    )
    ta = world.member(7, "ta", roles=[STAFF_ROLE])
    interaction = world.interaction(ta)

    await refused(
        call(settings_cog.settings, settings_cog, interaction, world.role(999), None, None),
        ManageServerOnlyError,
    )
    assert (await world.services.settings.get(GUILD)).staff_role_id == STAFF_ROLE


async def test_settings_with_an_unknown_timezone_is_refused(
    world: World, settings_cog: SettingsCog
) -> None:
    interaction = world.interaction(world.staff())

    error = await refused(
        call(settings_cog.settings, settings_cog, interaction, None, "Mars/Olympus", None),
        TimezoneInvalidError,
    )
    await report(interaction, error)

    assert "Mars/Olympus" in (world.answer(interaction).content or "")
    assert (await world.services.settings.get(GUILD)).timezone == "UTC"


async def test_export_with_many_long_problems_says_every_one_within_discords_limit(
    world: World, export_cog: ExportCog
) -> None:
    await make_assignment(world.services, closes="+1m")
    now = world.clock.now()
    for n in range(12):
        data = f"file {n}".encode()
        await world.services.groups.create(GUILD, student(n), "Lab 1", f"{n + 1:04d}", sent_at=now)
        await world.services.submissions.upload(
            GUILD, student(n), "Lab 1", incoming(data, f"{'x' * 200}-{n}.pdf"), sent_at=now
        )
        stored_path(world.services.files, sha(data)).unlink()  # lost: a problem to report
    world.clock.advance(120)
    await world.services.finalizer.finalize_due()
    world.guild.filesize_limit = 10
    interaction = world.interaction(world.staff())

    await call(export_cog.export, export_cog, interaction, "Lab 1")

    replies = world.replies(interaction)
    assert len(replies) > 1 and all(r.ephemeral for r in replies)
    contents = [r.content or "" for r in replies]
    assert all(len(c) <= 2000 for c in contents)
    [path] = (world.data_dir / "exports").glob("*.zip")
    assert str(path) in contents[0]
    # Every problem is named, none cut off.
    everything = "\n".join(contents)
    assert all(f"{'x' * 200}-{n}.pdf" in everything for n in range(12))


async def test_the_locale_menu_offers_every_language_by_its_own_name(
    world: World, settings_cog: SettingsCog
) -> None:
    interaction = world.interaction(world.staff())

    choices = await complete(settings_cog, "_locale", interaction, "")

    assert [(c.name, c.value) for c in choices] == [("English", "en"), ("Norsk", "no")]
