"""Next steps as buttons (SPEC §2), and the confirmation before `/assignment close|reopen`.

Each is a `DynamicItem`: its `custom_id` carries what it acts on (assignment, upload, who may
press it), so it works after a restart too. Its errors go to the tree's one error handler."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any, Self

import discord

from bot.domain.errors import NotYourButtonError
from bot.domain.models import Assignment
from bot.i18n import t, tn
from bot.services.registry import Services
from cogs._calendar import follow_deadline
from cogs._common import actor_of, guild_id_of, locale_of
from cogs._paging import ExpiredPage, send_pages

log = logging.getLogger(__name__)

Button = discord.ui.Button[discord.ui.View]


def _services(interaction: discord.Interaction[Any]) -> Services:
    services: Services = interaction.client.services
    return services


def _label(item: discord.ui.Item[Any]) -> str:
    return str(getattr(item, "label", None) or "")


# The base is never registered; its pattern matches nothing.
class HandinButton(discord.ui.DynamicItem[Button], template=r"(?!)"):
    """A persistent button whose callback errors reach the tree's error handler (discord.py
    only logs a dynamic item's exceptions)."""

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        # Each button keeps ints in its custom_id, in its constructor's order, then its label.
        make: Any = cls
        built: Self = make(*(int(value) for value in match.groups()), _label(item))
        return built

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.run(interaction, _services(interaction))
        except Exception as error:
            await interaction.client.tree.on_error(interaction, error)

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        raise NotImplementedError


class HandInThisFile(HandinButton, template=r"handin:hand:(?P<assignment>\d+):(?P<upload>\d+)"):
    """Under an upload in an `auto_submit:false` assignment: hand in exactly that upload."""

    def __init__(self, assignment_id: int, upload_id: int, label: str = "Hand in") -> None:
        super().__init__(
            Button(
                label=label,
                style=discord.ButtonStyle.primary,
                custom_id=f"handin:hand:{assignment_id}:{upload_id}",
            )
        )
        self.assignment_id = assignment_id
        self.upload_id = upload_id

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        assignment = await services.assignments.by_id(guild_id_of(interaction), self.assignment_id)
        result = await services.submissions.handin(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment.name,
            sent_at=interaction.created_at,
            upload_id=self.upload_id,
        )
        locale = await locale_of(services, interaction)
        key = "handin.final" if result.final is not None else "handin.done"
        await interaction.followup.send(
            t(
                locale,
                key,
                filename=result.upload.filename,
                sha=result.upload.sha256,
                pin=result.view.group.pin,
            ),
            ephemeral=True,
        )


class AgreeToUpload(
    HandinButton,
    template=r"handin:agree:(?P<guild>\d+):(?P<assignment>\d+):(?P<upload>\d+)",
):
    """Under the upload notice DM of an `all_must_confirm` assignment: this member agrees to
    exactly that upload (as `/handin` does). The guild is in the custom_id: a DM has none."""

    def __init__(self, guild_id: int, assignment_id: int, upload_id: int, label: str = "Agree"):
        super().__init__(
            Button(
                label=label,
                style=discord.ButtonStyle.primary,
                custom_id=f"handin:agree:{guild_id}:{assignment_id}:{upload_id}",
            )
        )
        self.guild_id = guild_id
        self.assignment_id = assignment_id
        self.upload_id = upload_id

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        from cogs._agreement import agreement_text

        await interaction.response.defer(ephemeral=True, thinking=True)
        assignment = await services.assignments.by_id(self.guild_id, self.assignment_id)
        result = await services.submissions.handin(
            self.guild_id,
            actor_of(interaction),
            assignment.name,
            sent_at=interaction.created_at,
            upload_id=self.upload_id,
        )
        locale = await locale_of(services, interaction)
        await interaction.followup.send(agreement_text(locale, result), ephemeral=True)


class ShowStatus(HandinButton, template=r"handin:status:(?P<assignment>\d+)"):
    """Under `/ready` with a group: the group's `/status`."""

    def __init__(self, assignment_id: int, label: str = "Status") -> None:
        super().__init__(
            Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"handin:status:{assignment_id}",
            )
        )
        self.assignment_id = assignment_id

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        from cogs._embeds import status_pages

        await interaction.response.defer(ephemeral=True, thinking=True)
        assignment = await services.assignments.by_id(guild_id_of(interaction), self.assignment_id)
        status = await services.submissions.status(
            guild_id_of(interaction), actor_of(interaction), assignment.name
        )
        locale = await locale_of(services, interaction)
        await send_pages(interaction, status_pages(locale, status), locale=locale)


def _check_owner(interaction: discord.Interaction[Any], owner_id: int) -> None:
    if interaction.user.id != owner_id:
        raise NotYourButtonError(user_id=owner_id)


async def _finish(interaction: discord.Interaction[Any], text: str) -> None:
    """The prompt becomes the outcome, without its buttons."""
    await interaction.edit_original_response(content=text, embed=None, view=None)


class ConfirmClose(HandinButton, template=r"handin:close:(?P<assignment>\d+):(?P<owner>\d+)"):
    """`/assignment close` asks first; this closes (for the staff member who asked)."""

    def __init__(self, assignment_id: int, owner_id: int, label: str = "Close now") -> None:
        super().__init__(
            Button(
                label=label,
                style=discord.ButtonStyle.danger,
                custom_id=f"handin:close:{assignment_id}:{owner_id}",
            )
        )
        self.assignment_id = assignment_id
        self.owner_id = owner_id

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        _check_owner(interaction, self.owner_id)
        # Finalizing every group can take a while: acknowledge first.
        await interaction.response.defer()
        assignment = await services.assignments.by_id(guild_id_of(interaction), self.assignment_id)
        closed, changes = await services.assignments.close_now(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment.name,
            sent_at=interaction.created_at,
        )
        recorded = sum(1 for c in changes if not c.empty)
        locale = await locale_of(services, interaction)
        submissions = tn(locale, "count.submissions", recorded)
        text = t(locale, "assignment.closed", name=closed.name, submissions=submissions)
        notice = await follow_deadline(services, interaction.guild, closed.id, locale)
        await _finish(interaction, text if notice is None else f"{text}\n{notice}")


class ConfirmReopen(
    HandinButton,
    template=r"handin:reopen:(?P<assignment>\d+):(?P<owner>\d+):(?P<closes>\d+)",
):
    """`/assignment reopen` asks first; this reopens until the deadline that was asked for."""

    def __init__(
        self, assignment_id: int, owner_id: int, closes: int, label: str = "Reopen"
    ) -> None:
        super().__init__(
            Button(
                label=label,
                style=discord.ButtonStyle.primary,
                custom_id=f"handin:reopen:{assignment_id}:{owner_id}:{closes}",
            )
        )
        self.assignment_id = assignment_id
        self.owner_id = owner_id
        self.closes = closes

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        _check_owner(interaction, self.owner_id)
        await interaction.response.defer()
        assignment = await services.assignments.by_id(guild_id_of(interaction), self.assignment_id)
        closes = datetime.fromtimestamp(self.closes, UTC).isoformat()
        reopened = await services.assignments.reopen(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment.name,
            closes,
            sent_at=interaction.created_at,
        )
        locale = await locale_of(services, interaction)
        text = t(locale, "assignment.reopened", name=reopened.name, closes=reopened.closes_at)
        notice = await follow_deadline(services, interaction.guild, reopened.id, locale)
        await _finish(interaction, text if notice is None else f"{text}\n{notice}")


class Cancel(HandinButton, template=r"handin:cancel:(?P<owner>\d+)"):
    """Leaves everything as it was; the prompt says so."""

    def __init__(self, owner_id: int, label: str = "Cancel") -> None:
        super().__init__(
            Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"handin:cancel:{owner_id}",
            )
        )
        self.owner_id = owner_id

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        _check_owner(interaction, self.owner_id)
        locale = await locale_of(services, interaction)
        await interaction.response.edit_message(
            content=t(locale, "confirm.cancelled"), embed=None, view=None
        )


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    ExpiredPage,
    HandInThisFile,
    AgreeToUpload,
    ShowStatus,
    ConfirmClose,
    ConfirmReopen,
    Cancel,
)


def view_of(*items: discord.ui.Item[Any]) -> discord.ui.View:
    """A view for a message: no timeout (the buttons are persistent; the bot dispatches them
    by their custom_id)."""
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    return view


def close_prompt(locale: str, assignment: Assignment, owner_id: int) -> discord.ui.View:
    return view_of(
        ConfirmClose(assignment.id, owner_id, t(locale, "confirm.close_button")),
        Cancel(owner_id, t(locale, "confirm.cancel_button")),
    )


def reopen_prompt(
    locale: str, assignment: Assignment, owner_id: int, closes: datetime
) -> discord.ui.View:
    return view_of(
        ConfirmReopen(
            assignment.id, owner_id, int(closes.timestamp()), t(locale, "confirm.reopen_button")
        ),
        Cancel(owner_id, t(locale, "confirm.cancel_button")),
    )
