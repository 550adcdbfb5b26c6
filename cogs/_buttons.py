"""Next steps as buttons (SPEC §2), and the confirmation before `/assignment close|reopen`.

Each is a `DynamicItem`: its `custom_id` carries what it acts on (assignment, upload, who may
press it), so it works after a restart too. Its errors go to the tree's one error handler."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

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
    only logs a dynamic item's exceptions).

    A subclass declares what it acts on instead of writing its own constructor and parser:
    `class X(HandinButton, kind="x", ids=("assignment",))` gets the custom_id
    `handin:x:<assignment>`, and `X(label, assignment=7)` builds it."""

    style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary
    kind: ClassVar[str]
    id_names: ClassVar[tuple[str, ...]]

    def __init_subclass__(
        cls,
        *,
        kind: str,
        ids: tuple[str, ...] = (),
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        cls.kind, cls.id_names, cls.style = kind, ids, style
        parts = ("handin", kind, *(rf"(?P<{name}>\d+)" for name in ids))
        super().__init_subclass__(template=":".join(parts))

    def __init__(self, label: str, **ids: int) -> None:
        self.ids = {name: ids[name] for name in self.id_names}
        custom_id = ":".join(("handin", self.kind, *(str(value) for value in self.ids.values())))
        super().__init__(Button(label=label, style=self.style, custom_id=custom_id))

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        ids = {name: int(value) for name, value in match.groupdict().items()}
        return cls(_label(item), **ids)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.run(interaction, _services(interaction))
        except Exception as error:
            await interaction.client.tree.on_error(interaction, error)

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        raise NotImplementedError

    async def assignment(
        self, interaction: discord.Interaction[Any], services: Services
    ) -> Assignment:
        """The assignment this button acts on, in the guild it was pressed in."""
        return await services.assignments.by_id(guild_id_of(interaction), self.ids["assignment"])


class HandInThisFile(
    HandinButton, kind="hand", ids=("assignment", "upload"), style=discord.ButtonStyle.primary
):
    """Under an upload in an `auto_submit:false` assignment: hand in exactly that upload."""

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        assignment = await self.assignment(interaction, services)
        result = await services.submissions.handin(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment.name,
            sent_at=interaction.created_at,
            upload_id=self.ids["upload"],
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


class ShowStatus(HandinButton, kind="status", ids=("assignment",)):
    """Under `/ready` with a group: the group's `/status`."""

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        from cogs._embeds import status_pages

        await interaction.response.defer(ephemeral=True, thinking=True)
        assignment = await self.assignment(interaction, services)
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


class ConfirmClose(
    HandinButton, kind="close", ids=("assignment", "owner"), style=discord.ButtonStyle.danger
):
    """`/assignment close` asks first; this closes (for the staff member who asked)."""

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        _check_owner(interaction, self.ids["owner"])
        # Finalizing every group can take a while: acknowledge first.
        await interaction.response.defer()
        assignment = await self.assignment(interaction, services)
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
    kind="reopen",
    ids=("assignment", "owner", "closes"),
    style=discord.ButtonStyle.primary,
):
    """`/assignment reopen` asks first; this reopens until the deadline that was asked for."""

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        _check_owner(interaction, self.ids["owner"])
        await interaction.response.defer()
        assignment = await self.assignment(interaction, services)
        closes = datetime.fromtimestamp(self.ids["closes"], UTC).isoformat()
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


class Cancel(HandinButton, kind="cancel", ids=("owner",)):
    """Leaves everything as it was; the prompt says so."""

    async def run(self, interaction: discord.Interaction[Any], services: Services) -> None:
        _check_owner(interaction, self.ids["owner"])
        locale = await locale_of(services, interaction)
        await interaction.response.edit_message(
            content=t(locale, "confirm.cancelled"), embed=None, view=None
        )


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    ExpiredPage,
    HandInThisFile,
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
        ConfirmClose(t(locale, "confirm.close_button"), assignment=assignment.id, owner=owner_id),
        Cancel(t(locale, "confirm.cancel_button"), owner=owner_id),
    )


def reopen_prompt(
    locale: str, assignment: Assignment, owner_id: int, closes: datetime
) -> discord.ui.View:
    return view_of(
        ConfirmReopen(
            t(locale, "confirm.reopen_button"),
            assignment=assignment.id,
            owner=owner_id,
            closes=int(closes.timestamp()),
        ),
        Cancel(t(locale, "confirm.cancel_button"), owner=owner_id),
    )
