"""/feedback import|release|show, /assignment purge with its button, /settings retention_days."""

from __future__ import annotations

import io
import zipfile
from typing import Any
from unittest.mock import AsyncMock

import aiohttp
import pytest

from bot.domain.errors import (
    CsvImportError,
    FeedbackNotReleasedError,
    NotYourButtonError,
    PurgeWhileOpenError,
    StaffOnlyError,
)
from bot.i18n import t
from bot.services.registry import Services
from cogs._buttons import ConfirmPurge, HandinButton
from cogs.feedback import FeedbackCog
from cogs.settings import SettingsCog
from cogs.staff_assignments import StaffAssignmentsCog
from tests.cogs.conftest import Cdn, World, call, complete, refused
from tests.conftest import GUILD, make_assignment, student
from tests.snapshot import snapshot


@pytest.fixture
async def feedback_cog(services: Services) -> Any:
    async with aiohttp.ClientSession() as session:
        yield FeedbackCog(services, session)


async def lab_with_groups(world: World) -> None:
    await make_assignment(world.services, closes="+1h")
    now = world.clock.now()
    await world.services.groups.create(GUILD, student(1), "Lab 1", "1111", sent_at=now)
    await world.services.groups.create(GUILD, student(2), "Lab 1", "2222", sent_at=now)


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


async def press(world: World, user: Any, item: HandinButton) -> Any:
    click = world.interaction(user)
    click.edit_original_response = AsyncMock()
    click.response.edit_message = AsyncMock()
    await item.run(click, world.services)
    return click


# --- feedback ------------------------------------------------------------------------------
async def test_feedback_import_release_and_show_through_the_cog(
    world: World, cdn: Cdn, feedback_cog: FeedbackCog
) -> None:
    await lab_with_groups(world)
    staff = world.staff()
    csv = cdn.attachment("f.csv", b"1111,A,Well done\n2222,B,Good\n", content_type="text/csv")
    bundle = cdn.attachment("f.zip", zipped({"1111/notes.pdf": b"%PDF notes"}))
    imported = world.interaction(staff)
    await call(feedback_cog.import_, feedback_cog, imported, "Lab 1", csv, bundle)
    assert "2 groups, 1 file" in (world.answer(imported).content or "")

    early = world.interaction(world.student(1))
    await refused(call(feedback_cog.show, feedback_cog, early, "Lab 1"), FeedbackNotReleasedError)

    released = world.interaction(staff)
    await call(feedback_cog.release, feedback_cog, released, "Lab 1")
    assert "2 members" in (world.answer(released).content or "")

    shown = world.interaction(world.student(1))
    await call(feedback_cog.show, feedback_cog, shown, "Lab 1")
    reply = world.answer(shown)
    assert "Well done" in reply.text and "A" in reply.field("Grade")
    assert reply.file is not None and reply.file.filename == "notes.pdf"
    reply.file.close()  # discord.py closes a sent file; the fake followup does not


async def test_a_bad_feedback_csv_is_refused_by_line(
    world: World, cdn: Cdn, feedback_cog: FeedbackCog
) -> None:
    await lab_with_groups(world)
    csv = cdn.attachment("f.csv", b"1111,A,ok\n9999,B,who\n", content_type="text/csv")
    error = await refused(
        call(feedback_cog.import_, feedback_cog, world.interaction(world.staff()), "Lab 1", csv),
        CsvImportError,
    )
    assert isinstance(error, CsvImportError)
    assert [p[:2] for p in error.problems] == [(2, "feedback.csv.unknown_pin")]


async def test_a_student_cannot_release_feedback(world: World, feedback_cog: FeedbackCog) -> None:
    await lab_with_groups(world)
    await refused(
        call(feedback_cog.release, feedback_cog, world.interaction(world.student(1)), "Lab 1"),
        StaffOnlyError,
    )


async def test_feedback_show_offers_a_students_assignments(
    world: World, feedback_cog: FeedbackCog
) -> None:
    await lab_with_groups(world)
    choices = await complete(feedback_cog, "_assignment", world.interaction(world.student(1)), "")
    assert [c.value for c in choices] == ["Lab 1"]


# --- purge ---------------------------------------------------------------------------------
async def test_purge_asks_first_and_warns_when_never_exported(
    world: World, staff_assignments_cog: StaffAssignmentsCog
) -> None:
    await lab_with_groups(world)
    world.clock.advance(7200)
    await world.services.finalizer.finalize_due()
    cog = staff_assignments_cog
    asked = world.interaction(world.staff())
    await call(cog.purge, cog, asked, "Lab 1")
    prompt = world.answer(asked)
    assert t("en", "confirm.purge_never_exported") in (prompt.content or "")
    assert prompt.view is not None
    [confirm] = [b for b in prompt.view.children if isinstance(b, ConfirmPurge)]
    assert await world.services.purge.purged_in(GUILD) == {}

    with pytest.raises(NotYourButtonError):
        await press(world, world.student(1), confirm)
    assert await world.services.purge.purged_in(GUILD) == {}

    click = await press(world, world.staff(), confirm)
    content = click.edit_original_response.await_args.kwargs["content"]
    assert content.startswith("**Lab 1** purged")
    listed = world.interaction(world.staff())
    await call(cog.list_, cog, listed)
    assert "purged at" in world.replies(listed)[0].text


async def test_purge_of_an_open_assignment_is_refused(
    world: World, staff_assignments_cog: StaffAssignmentsCog
) -> None:
    await lab_with_groups(world)
    before = await snapshot(world.services.db, world.services.files)
    cog = staff_assignments_cog
    await refused(
        call(cog.purge, cog, world.interaction(world.staff()), "Lab 1"), PurgeWhileOpenError
    )
    assert await snapshot(world.services.db, world.services.files) == before


async def test_settings_sets_the_retention(world: World, settings_cog: SettingsCog) -> None:
    interaction = world.interaction(world.staff())
    await call(settings_cog.settings, settings_cog, interaction, retention_days=30)
    assert "purged 30 days after" in (world.answer(interaction).content or "")
    assert await world.services.purge.retention(GUILD) == 30
    off = world.interaction(world.staff())
    await call(settings_cog.settings, settings_cog, off, retention_days=0)
    assert t("en", "settings.retention_off") in (world.answer(off).content or "")
