"""Students handing in: /upload, /handin, /release, /status, /download and /assignments."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
from discord import app_commands

from bot.domain.models import AssignmentState
from bot.i18n import human_size, t, timestamp
from bot.services.downloads import ByteSource, PermanentDownloadError, TransientDownloadError
from bot.services.registry import Services
from bot.services.submissions import DownloadFile, DownloadResult, HandInResult, IncomingFile
from cogs._agreement import waiting_text
from cogs._buttons import HandInThisFile, view_of
from cogs._common import INFO, HandinCog, actor_of, assignment_choices, guild_id_of, respond
from cogs._embeds import status_pages
from cogs._paging import Section, field_pages, send_pages

log = logging.getLogger(__name__)

CHUNK = 256 * 1024


async def part_choices(
    services: Services, interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """The parts of the assignment typed so far in the same command (for `part:` options)."""
    if interaction.guild_id is None:
        return []
    typed = getattr(interaction.namespace, "assignment", None)
    names = await services.submissions.part_names(interaction.guild_id, str(typed or ""), current)
    return [app_commands.Choice(name=name, value=name) for name in names[:25]]


def incoming_file(session: aiohttp.ClientSession, file: discord.Attachment) -> IncomingFile:
    """An attachment as the upload services take it: what Discord says of it, and its bytes
    streamed from the CDN when the service reads them."""
    return IncomingFile(
        filename=file.filename,
        declared_size=file.size,
        content_type=file.content_type,
        read=stream_from(session, file.url),
    )


def stream_from(session: aiohttp.ClientSession, url: str) -> ByteSource:
    """A byte source that streams an attachment in chunks (the URL is signed and needs no auth;
    it expires, so this runs at upload time). Failures say whether trying again may help; the
    service decides how long to wait and how often to try."""

    async def read() -> AsyncIterator[bytes]:
        try:
            # No timeout of aiohttp's own: the service's idle timeout and budget apply.
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as response:
                if response.status >= 500:
                    raise TransientDownloadError(f"CDN answered {response.status}")
                if response.status >= 400:
                    raise PermanentDownloadError(f"CDN answered {response.status}")
                async for chunk in response.content.iter_chunked(CHUNK):
                    yield chunk
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            # Cut half-way, reset, refused: a passing fault.
            raise TransientDownloadError(f"download cut off: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise PermanentDownloadError(f"download failed: {type(exc).__name__}") from exc

    return read


def _agreement(locale: str, result: HandInResult) -> list[str]:
    """all_must_confirm: who the group still waits for (SPEC §5b)."""
    if not result.view.assignment.all_must_confirm:
        return []
    return [waiting_text(locale, result.waiting_for)]


class SubmissionsCog(HandinCog):
    def __init__(self, services: Services, session: aiohttp.ClientSession) -> None:
        super().__init__(services)
        self._session = session

    @app_commands.command(name="upload")
    @app_commands.guild_only()
    async def upload(
        self,
        interaction: discord.Interaction[Any],
        assignment: str,
        file: discord.Attachment,
        part: str | None = None,
    ) -> None:
        """Upload a file for your group; it counts for the whole group.

        Args:
            assignment: The assignment
            file: The file to hand in
            part: The part it is for (when the assignment has parts)
        """
        # First, before anything that can wait: Discord drops an interaction not answered in 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        incoming = incoming_file(self._session, file)
        result = await self.services.submissions.upload(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            incoming,
            sent_at=interaction.created_at,
            upload_limit_bytes=interaction.filesize_limit,
            interaction_id=interaction.id,
            part=part,
        )
        upload = result.upload
        locale = await self.locale(interaction)
        part_of = result.view.assignment.part_by_id(upload.part_id)
        text = "" if part_of is None else t(locale, "upload.part", part=part_of.name) + "\n"
        text += t(
            locale,
            "upload.done",
            filename=upload.filename,
            size=human_size(locale, upload.size),
            sha=upload.sha256[:12],
            pin=result.view.group.pin,
            sent=timestamp(upload.sent_at),
        )
        if upload.late:
            text += "\n" + t(locale, "upload.late")
        view = None
        if not result.view.assignment.auto_submit:
            text += "\n" + t(locale, "upload.remember_handin", name=result.view.assignment.name)
            # The next step, one press away: hand in exactly this file.
            view = view_of(
                HandInThisFile(
                    t(locale, "button.handin"),
                    assignment=result.view.assignment.id,
                    upload=upload.id,
                )
            )
        await respond(interaction, text, view=view)

    @app_commands.command(name="handin")
    @app_commands.guild_only()
    async def handin(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Hand in your group's latest upload (or agree to it, where every member must).

        Args:
            assignment: The assignment
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.services.submissions.handin(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            sent_at=interaction.created_at,
        )
        locale = await self.locale(interaction)
        key = "handin.final" if result.final is not None else "handin.done"
        if result.parts:
            lines = [
                t(
                    locale,
                    "handin.part_line",
                    part=f.part.name,
                    filename=f.upload.filename,
                    sha=f.upload.sha256,
                )
                if f.upload is not None
                else t(locale, "handin.part_missing", part=f.part.name)
                for f in result.parts
            ]
            head = t(locale, f"{key}_parts", pin=result.view.group.pin)
            await respond(interaction, "\n".join([head, *lines, *_agreement(locale, result)]))
            return
        text = t(
            locale,
            key,
            filename=result.upload.filename,
            sha=result.upload.sha256,
            pin=result.view.group.pin,
        )
        await respond(interaction, "\n".join([text, *_agreement(locale, result)]))

    @app_commands.command(name="release")
    @app_commands.guild_only()
    async def release(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Let go of your group's hand-in so another member can upload.

        Args:
            assignment: The assignment
        """
        group = await self.services.submissions.release(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        await self.say(interaction, "release.done", pin=group.pin)

    @app_commands.command(name="status")
    @app_commands.guild_only()
    async def status(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Your group's uploads, what will be (or was) handed in, and the deadline.

        Args:
            assignment: The assignment
        """
        await interaction.response.defer(ephemeral=True)
        status = await self.services.submissions.status(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        locale = await self.locale(interaction)
        await send_pages(interaction, status_pages(locale, status), locale=locale)

    @app_commands.command(name="download")
    @app_commands.guild_only()
    async def download(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Download your group's final (or latest) file.

        Args:
            assignment: The assignment
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.services.submissions.download_files(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        locale = await self.locale(interaction)
        if len(result.files) == 1 and result.files[0].part is None:
            upload = result.files[0].upload
            if upload.size > interaction.filesize_limit:
                size = human_size(locale, upload.size)
                await respond(interaction, t(locale, "download.too_large", size=size))
                return
            key = "download.final" if result.final else "download.latest"
            text = t(locale, key, filename=upload.filename, sha=upload.sha256[:12])
            async with self.services.submissions.local_copy(upload) as path:
                await respond(interaction, text, file=discord.File(path, filename=upload.filename))
            return
        await self._download_parts(interaction, locale, result)

    async def _download_parts(
        self, interaction: discord.Interaction[Any], locale: str, result: DownloadResult
    ) -> None:
        """Every part's file: as few replies as the guild's upload limit allows (a reply
        holds at most 10 attachments); a file over the limit on its own is named, not sent."""
        limit = interaction.filesize_limit
        key = "download.final_part" if result.final else "download.latest_part"
        lines = [
            t(locale, key, part=f.part.name if f.part else "", filename=f.upload.filename,
              sha=f.upload.sha256[:12])
            for f in result.files
        ]  # fmt: skip
        lines += [t(locale, "download.part_missing", part=p.name) for p in result.missing]
        too_large = [f for f in result.files if f.upload.size > limit]
        lines += [
            t(locale, "download.part_too_large", part=f.part.name if f.part else "",
              size=human_size(locale, f.upload.size))
            for f in too_large
        ]  # fmt: skip
        batches: list[list[DownloadFile]] = []
        for f in result.files:
            if f in too_large:
                continue
            last = batches[-1] if batches else None
            if (
                last
                and len(last) < 10
                and sum(x.upload.size for x in last) + f.upload.size <= limit
            ):
                last.append(f)
            else:
                batches.append([f])
        text = "\n".join(lines)
        if not batches:
            await respond(interaction, text)
            return
        for index, batch in enumerate(batches):
            async with contextlib.AsyncExitStack() as copies:
                files = [
                    discord.File(
                        await copies.enter_async_context(
                            self.services.submissions.local_copy(f.upload)
                        ),
                        filename=_part_filename(f),
                    )
                    for f in batch
                ]
                await respond(interaction, text if index == 0 else None, files=files)

    @app_commands.command(name="assignments")
    @app_commands.guild_only()
    async def assignments(self, interaction: discord.Interaction[Any]) -> None:
        """Assignments you take part in or can join, and your archive."""
        rows = await self.services.assignments.for_student(
            guild_id_of(interaction), actor_of(interaction)
        )
        locale = await self.locale(interaction)
        now = self.services.clock.now()
        current: list[str] = []
        archive: list[str] = []
        for assignment, _candidate, group in rows:
            state = assignment.state(now)
            where = (
                t(locale, "assignments.in_group", label=group.label)
                if group
                else t(locale, "assignments.no_group")
            )
            line = t(
                locale,
                "assignments.line",
                name=assignment.name,
                state=t(locale, f"state.{state.value}"),
                deadline=timestamp(assignment.closes_at),
                group=where,
            )
            (archive if state is AssignmentState.CLOSED else current).append(line)
        sections = [
            Section(
                t(locale, "assignments.current"),
                "\n".join(current) or t(locale, "assignments.none"),
            )
        ]
        if archive:
            sections.append(Section(t(locale, "assignments.archive"), "\n".join(archive)))
        pages = field_pages(t(locale, "assignments.title"), sections, colour=INFO)
        await send_pages(interaction, pages, locale=locale)

    @upload.autocomplete("part")
    async def _part(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await part_choices(self.services, interaction, current)

    @upload.autocomplete("assignment")
    @handin.autocomplete("assignment")
    @release.autocomplete("assignment")
    @status.autocomplete("assignment")
    @download.autocomplete("assignment")
    async def _assignment(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await assignment_choices(self.services, interaction, current, staff=False)


def _part_filename(file: DownloadFile) -> str:
    """The attachment's name: prefixed with its part, so two parts' `main.pdf` stay apart."""
    return file.upload.filename if file.part is None else f"{file.part.name}-{file.upload.filename}"
