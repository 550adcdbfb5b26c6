"""Students handing in: /upload, /handin, /release, /status, /download and /assignments."""

from __future__ import annotations

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
from bot.services.submissions import IncomingFile
from cogs._buttons import HandInThisFile, view_of
from cogs._common import INFO, HandinCog, actor_of, assignment_choices, guild_id_of, respond
from cogs._embeds import status_pages
from cogs._paging import Section, field_pages, send_pages

log = logging.getLogger(__name__)

CHUNK = 256 * 1024


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


class SubmissionsCog(HandinCog):
    def __init__(self, services: Services, session: aiohttp.ClientSession) -> None:
        super().__init__(services)
        self._session = session

    @app_commands.command(name="upload")
    @app_commands.guild_only()
    async def upload(
        self, interaction: discord.Interaction[Any], assignment: str, file: discord.Attachment
    ) -> None:
        """Upload a file for your group; it counts for the whole group.

        Args:
            assignment: The assignment
            file: The file to hand in
        """
        # First, before anything that can wait: Discord drops an interaction not answered in 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        incoming = IncomingFile(
            filename=file.filename,
            declared_size=file.size,
            content_type=file.content_type,
            read=stream_from(self._session, file.url),
        )
        result = await self.services.submissions.upload(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            incoming,
            sent_at=interaction.created_at,
            upload_limit_bytes=interaction.filesize_limit,
            interaction_id=interaction.id,
        )
        upload = result.upload
        locale = await self.locale(interaction)
        text = t(
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
                HandInThisFile(result.view.assignment.id, upload.id, t(locale, "button.handin"))
            )
        await respond(interaction, text, view=view)

    @app_commands.command(name="handin")
    @app_commands.guild_only()
    async def handin(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Hand in your group's latest upload.

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
        await respond(
            interaction,
            t(
                locale,
                key,
                filename=result.upload.filename,
                sha=result.upload.sha256,
                pin=result.view.group.pin,
            ),
        )

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
        upload, path, final = await self.services.submissions.download(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        locale = await self.locale(interaction)
        if upload.size > interaction.filesize_limit:
            await respond(
                interaction, t(locale, "download.too_large", size=human_size(locale, upload.size))
            )
            return
        key = "download.final" if final else "download.latest"
        text = t(locale, key, filename=upload.filename, sha=upload.sha256[:12])
        await respond(interaction, text, file=discord.File(path, filename=upload.filename))

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

    @upload.autocomplete("assignment")
    @handin.autocomplete("assignment")
    @release.autocomplete("assignment")
    @status.autocomplete("assignment")
    @download.autocomplete("assignment")
    async def _assignment(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await assignment_choices(self.services, interaction, current, staff=False)
