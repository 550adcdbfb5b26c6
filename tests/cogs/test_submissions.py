"""/upload, /handin, /release, /status, /download and /assignments at the callback level."""

from __future__ import annotations

from unittest.mock import MagicMock

import discord

from bot.domain.errors import (
    DownloadFailedError,
    FileTooLargeError,
    GuildOnlyError,
    NoLeaseError,
    NotAssignedError,
    NothingToDownloadError,
    NothingToHandInError,
    NotInGroupError,
)
from bot.domain.models import GroupMode
from bot.i18n import t
from bot.tree import HandinTree, render_error, report
from cogs.submissions import SubmissionsCog
from storage.repos import groups as group_repo
from storage.repos import uploads as upload_repo
from tests.cogs.conftest import Cdn, World, call, complete, refused
from tests.conftest import GUILD, incoming, make_assignment, sha, student
from tests.filestore import stored_path
from tests.snapshot import unchanged

PDF = b"%PDF-1.7 the report " * 100


async def _group_with(world: World, *user_numbers: int, **options: object) -> int:
    """An open assignment `Lab 1` with group `1234` of these students; returns the group id."""
    await make_assignment(world.services, **options)  # type: ignore[arg-type]
    now = world.clock.now()
    first, *others = user_numbers
    await world.services.groups.create(GUILD, student(first), "Lab 1", "1234", sent_at=now)
    for n in others:
        await world.services.groups.join(GUILD, student(n), "Lab 1", "1234", sent_at=now)
    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    async with world.services.db.reading() as conn:
        group = await group_repo.group_by_pin(conn, assignment.id, "1234")
    assert group is not None
    return group.id


async def _uploads(world: World, group_id: int) -> list[tuple[str, int, str]]:
    async with world.services.db.reading() as conn:
        return [
            (u.filename, u.user_id, u.sha256) for u in await upload_repo.uploads_of(conn, group_id)
        ]


# --- /upload -------------------------------------------------------------------------------
async def test_upload_streams_the_attachment_stores_it_and_acknowledges_privately(
    world: World, submissions_cog: SubmissionsCog, cdn: Cdn
) -> None:
    group_id = await _group_with(world, 1, 2)
    interaction = world.interaction(world.student(1))
    file = cdn.attachment("report.pdf", PDF)

    await call(submissions_cog.upload, submissions_cog, interaction, "Lab 1", file)

    assert interaction.response.defer.await_count == 1
    assert await _uploads(world, group_id) == [("report.pdf", 101, sha(PDF))]
    assert stored_path(world.services.files, sha(PDF)).read_bytes() == PDF
    reply = world.answer(interaction)
    assert reply.via == "followup"
    assert sha(PDF)[:12] in (reply.content or "") and "1234" in (reply.content or "")
    assert len(cdn.fetched) == 1


async def test_upload_over_the_size_limit_is_refused_before_downloading(
    world: World, submissions_cog: SubmissionsCog, cdn: Cdn
) -> None:
    await _group_with(world, 1, max_file_mb=1)
    interaction = world.interaction(world.student(1))
    file = cdn.attachment("big.pdf", PDF, size=2 * 1024 * 1024)

    async with unchanged(world.services.db, world.services.files):
        error = await refused(
            call(submissions_cog.upload, submissions_cog, interaction, "Lab 1", file),
            FileTooLargeError,
        )
    assert cdn.fetched == []
    # Deferred first, so the refusal goes out as a private follow-up.
    await report(interaction, error)
    reply = world.answer(interaction)
    assert reply.via == "followup"
    assert reply.content == render_error("en", error)


async def test_upload_without_a_group_in_predefined_mode_tells_to_contact_staff(
    world: World, submissions_cog: SubmissionsCog, cdn: Cdn
) -> None:
    await make_assignment(world.services, mode=GroupMode.PREDEFINED)
    interaction = world.interaction(world.student(1))

    async with unchanged(world.services.db, world.services.files):
        await refused(
            call(
                submissions_cog.upload,
                submissions_cog,
                interaction,
                "Lab 1",
                cdn.attachment("a.pdf", PDF),
            ),
            NotAssignedError,
        )
    assert cdn.fetched == []


# --- /handin -------------------------------------------------------------------------------
async def test_handin_records_the_latest_upload(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    group_id = await _group_with(world, 1, auto_submit=False)
    await world.services.submissions.upload(
        GUILD, student(1), "Lab 1", incoming(PDF), sent_at=world.clock.now()
    )
    world.clock.advance(60)
    interaction = world.interaction(world.student(1))

    await call(submissions_cog.handin, submissions_cog, interaction, "Lab 1")

    async with world.services.db.reading() as conn:
        handins = await upload_repo.handins_of(conn, group_id)
    assert [h.user_id for h in handins] == [101]
    reply = world.answer(interaction)
    assert "report.pdf" in (reply.content or "") and "1234" in (reply.content or "")


async def test_handin_with_nothing_uploaded_is_refused(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await _group_with(world, 1)
    interaction = world.interaction(world.student(1))

    async with unchanged(world.services.db, world.services.files):
        await refused(
            call(submissions_cog.handin, submissions_cog, interaction, "Lab 1"),
            NothingToHandInError,
        )


# --- /release ------------------------------------------------------------------------------
async def test_release_gives_up_the_edit_lease(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    group_id = await _group_with(world, 1, 2, single_editor=True)
    await world.services.submissions.upload(
        GUILD, student(1), "Lab 1", incoming(PDF), sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(1))

    await call(submissions_cog.release, submissions_cog, interaction, "Lab 1")

    async with world.services.db.reading() as conn:
        group = await group_repo.group(conn, group_id)
    assert group is not None and group.lease_user_id is None
    assert "1234" in (world.answer(interaction).content or "")
    # The other member can upload at once.
    await world.services.submissions.upload(
        GUILD, student(2), "Lab 1", incoming(b"v2"), sent_at=world.clock.now()
    )


async def test_release_without_the_lease_is_refused(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await _group_with(world, 1, single_editor=True)
    interaction = world.interaction(world.student(1))

    await refused(
        call(submissions_cog.release, submissions_cog, interaction, "Lab 1"), NoLeaseError
    )


# --- /status -------------------------------------------------------------------------------
async def test_status_lists_the_uploads_and_what_will_be_handed_in(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await _group_with(world, 1, 2)
    await world.services.submissions.upload(
        GUILD, student(2), "Lab 1", incoming(PDF, "draft.pdf"), sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(1))

    await call(submissions_cog.status, submissions_cog, interaction, "Lab 1")

    reply = world.answer(interaction)
    assert reply.via == "followup"
    assert reply.embed is not None and "1234" in (reply.embed.title or "")
    uploads = reply.field(t("en", "status.uploads", count=1))
    assert "draft.pdf" in uploads and sha(PDF)[:12] in uploads
    assert "draft.pdf" in reply.field(t("en", "status.final"))
    assert all(len(f.value or "") <= 1024 for f in reply.embed.fields)


async def test_status_without_a_group_is_refused(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(1))

    await refused(
        call(submissions_cog.status, submissions_cog, interaction, "Lab 1"), NotInGroupError
    )


# --- /download -----------------------------------------------------------------------------
async def test_download_attaches_the_groups_file(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await _group_with(world, 1)
    await world.services.submissions.upload(
        GUILD, student(1), "Lab 1", incoming(PDF), sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(1))

    await call(submissions_cog.download, submissions_cog, interaction, "Lab 1")

    reply = world.answer(interaction)
    assert isinstance(reply.file, discord.File)
    assert reply.file.filename == "report.pdf"
    assert reply.file.fp.read() == PDF
    reply.file.close()


async def test_download_with_nothing_uploaded_is_refused(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await _group_with(world, 1)
    interaction = world.interaction(world.student(1))

    await refused(
        call(submissions_cog.download, submissions_cog, interaction, "Lab 1"),
        NothingToDownloadError,
    )


# --- /assignments --------------------------------------------------------------------------
async def test_assignments_lists_current_ones_and_the_archive(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await _group_with(world, 1)
    await make_assignment(world.services, "Lab 2", closes="+10m")
    world.clock.advance(11 * 60)
    await world.services.finalizer.finalize_due()
    interaction = world.interaction(world.student(1))

    await call(submissions_cog.assignments, submissions_cog, interaction)

    reply = world.answer(interaction)
    current = reply.field(t("en", "assignments.current"))
    assert "Lab 1" in current and "1234" in current
    # Lab 2 closed without this student taking part: not in the archive.
    assert "Lab 2" not in reply.text


async def test_commands_in_dms_are_refused_before_any_handler(world: World) -> None:
    interaction = world.interaction(world.student(1))
    interaction.guild_id = None
    interaction.guild = None

    allowed = await HandinTree.interaction_check(MagicMock(spec_set=HandinTree), interaction)

    assert allowed is False
    reply = world.answer(interaction)
    assert reply.content == render_error("en", GuildOnlyError())


async def test_upload_whose_download_fails_stores_nothing_and_says_upload_again(
    world: World, submissions_cog: SubmissionsCog, cdn: Cdn
) -> None:
    await _group_with(world, 1)
    interaction = world.interaction(world.student(1))
    file = cdn.attachment("report.pdf", PDF)
    file.url = str(cdn.server.make_url("/attachments/expired"))

    async with unchanged(world.services.db, world.services.files):
        await refused(
            call(submissions_cog.upload, submissions_cog, interaction, "Lab 1", file),
            DownloadFailedError,
        )
    assert cdn.fetched == ["expired"]


async def test_assignment_autocomplete_offers_what_the_student_may_act_on(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await make_assignment(world.services, "Lab 1")
    await make_assignment(world.services, "Lab 2", role_id=77)
    interaction = world.interaction(world.student(1))

    choices = await complete(submissions_cog, "_assignment", interaction, "lab")

    assert [c.value for c in choices] == ["Lab 1"]
