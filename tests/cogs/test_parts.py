"""/upload part: and /download of an assignment in parts, at the callback level."""

from __future__ import annotations

from typing import Any

import discord

from bot.domain.errors import PartRequiredError
from bot.i18n import t
from cogs.submissions import SubmissionsCog
from tests.cogs.conftest import Cdn, World, refused
from tests.conftest import GUILD, incoming, make_assignment, student
from tests.snapshot import unchanged


async def _two_parts(world: World) -> None:
    await make_assignment(world.services, parts="report:pdf; code:zip")
    now = world.clock.now()
    await world.services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=now)


async def _call(command: Any, cog: SubmissionsCog, *args: Any) -> None:
    """Run a slash command's callback (its typed signature hides the cog argument)."""
    await command.callback(cog, *args)


def _sent_files(interaction: Any) -> list[list[discord.File]]:
    return [c.kwargs.get("files") or [] for c in interaction.followup.send.await_args_list]


async def test_upload_to_a_part_says_which_part(
    world: World, submissions_cog: SubmissionsCog, cdn: Cdn
) -> None:
    await _two_parts(world)
    interaction = world.interaction(world.student(1))
    file = cdn.attachment("code.zip", b"PK code")

    await _call(submissions_cog.upload, submissions_cog, interaction, "Lab 1", file, "code")

    reply = world.answer(interaction)
    assert (reply.content or "").startswith(t("en", "upload.part", part="code"))


async def test_upload_without_a_part_is_refused_before_downloading(
    world: World, submissions_cog: SubmissionsCog, cdn: Cdn
) -> None:
    await _two_parts(world)
    interaction = world.interaction(world.student(1))
    file = cdn.attachment("report.pdf", b"%PDF")
    async with unchanged(world.services.db, world.services.files):
        await refused(
            _call(submissions_cog.upload, submissions_cog, interaction, "Lab 1", file, None),
            PartRequiredError,
        )
    assert cdn.fetched == []


async def test_download_sends_every_part_in_as_few_replies_as_the_limit_allows(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await _two_parts(world)
    for name, part, size in (("r.pdf", "report", 900), ("c.zip", "code", 900)):
        await world.services.submissions.upload(
            GUILD, student(1), "Lab 1", incoming(b"x" * size, name), sent_at=world.clock.now(),
            part=part,
        )  # fmt: skip
    together = world.interaction(world.student(1))
    await _call(submissions_cog.download, submissions_cog, together, "Lab 1")
    assert [[f.filename for f in batch] for batch in _sent_files(together)] == [
        ["report-r.pdf", "code-c.zip"]
    ]

    apart = world.interaction(world.student(1))
    apart.filesize_limit = 1000
    await _call(submissions_cog.download, submissions_cog, apart, "Lab 1")
    assert [[f.filename for f in batch] for batch in _sent_files(apart)] == [
        ["report-r.pdf"],
        ["code-c.zip"],
    ]
    for batch in _sent_files(together) + _sent_files(apart):
        for file in batch:
            file.close()


async def test_download_names_a_part_too_large_to_send(
    world: World, submissions_cog: SubmissionsCog
) -> None:
    await _two_parts(world)
    await world.services.submissions.upload(
        GUILD, student(1), "Lab 1", incoming(b"x" * 2000, "r.pdf"), sent_at=world.clock.now(),
        part="report",
    )  # fmt: skip
    interaction = world.interaction(world.student(1))
    interaction.filesize_limit = 1000
    await _call(submissions_cog.download, submissions_cog, interaction, "Lab 1")
    reply = world.answer(interaction)
    assert "`report`" in (reply.content or "")
    assert t("en", "download.part_missing", part="code") in (reply.content or "")
    assert _sent_files(interaction) == [[]]
