"""Long replies without losing a line: text split within Discord's limits, lists as pages of
embeds with previous / next buttons for the user who asked, and the whole list as a CSV file."""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.domain.sanitize import csv_cell
from bot.i18n import pick_locale, t

log = logging.getLogger(__name__)

# Discord's limits (HTTP 400, code 50035 past any of them).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
FIELDS_PER_EMBED = 25
EMBED_LIMIT = 6000
# What the pages fill up to: under the limits, leaving room for a page's footer.
DESCRIPTION_BUDGET = 4000
EMBED_BUDGET = 5600
# SPEC §2: the buttons answer the user who asked for 10 minutes.
PAGE_TIMEOUT = 600.0
# Page buttons carry this process's start: after a restart the Pager that turned them is gone,
# and ExpiredPage answers a press (disables them, says to run the command again) instead of
# Discord's bare "This interaction failed".
BOOT = secrets.token_hex(4)


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at line ends where possible (else at
    a space, else anywhere); joined with newlines they give every character back."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = line if not current else current + "\n" + line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            pieces.append(line[:cut])
            line = line[cut:].lstrip(" ") if cut < limit else line[cut:]
        current = line
    if current or not pieces:
        pieces.append(current)
    return pieces


@dataclass(frozen=True)
class Section:
    """One heading and its text: a field, or several when the text passes 1,024 characters."""

    name: str
    text: str
    inline: bool = False


def _titled(embed: discord.Embed, title: str) -> discord.Embed:
    if len(title) <= TITLE_LIMIT:
        embed.title = title
    else:
        # Never cut: a title too long for its slot leads the description instead.
        embed.description = f"**{title}**" + ("\n" + embed.description if embed.description else "")
    return embed


def line_pages(
    title: str, lines: Sequence[str], *, colour: discord.Colour, empty: str
) -> list[discord.Embed]:
    """Lines in the description of as many embeds as they need."""
    chunks = split_text("\n".join(lines), DESCRIPTION_BUDGET) if lines else [empty]
    return [_titled(discord.Embed(description=chunk, colour=colour), title) for chunk in chunks]


def field_pages(
    title: str,
    sections: Iterable[Section],
    *,
    colour: discord.Colour,
    description: str | None = None,
) -> list[discord.Embed]:
    """Sections as fields of as many embeds as they need (25 fields, 6,000 characters each)."""
    fields: list[tuple[str, str, bool]] = []
    for section in sections:
        name = section.name if len(section.name) <= TITLE_LIMIT else section.name[:TITLE_LIMIT]
        parts = split_text(section.text or "—", FIELD_LIMIT)
        if name != section.name:
            # A heading longer than a field's name (256) starts the value instead.
            parts = split_text(section.name + "\n" + (section.text or "—"), FIELD_LIMIT)
        fields += [(name, part or "—", section.inline) for part in parts]
    pages: list[discord.Embed] = []
    lead = split_text(description, DESCRIPTION_BUDGET) if description else []

    def new_page() -> discord.Embed:
        embed = _titled(discord.Embed(colour=colour), title)
        if lead:
            embed.description = ((embed.description or "") + "\n" + lead.pop(0)).strip("\n")
        pages.append(embed)
        return embed

    page = new_page()
    for name, value, inline in fields:
        if (
            len(page.fields) >= FIELDS_PER_EMBED
            or len(page) + len(name) + len(value) > EMBED_BUDGET
        ):
            page = new_page()
        page.add_field(name=name, value=value, inline=inline)
    while lead:
        new_page()
    return pages


def add_long_field(embed: discord.Embed, name: str, text: str, *, inline: bool = False) -> None:
    """A field whose text may pass 1,024 characters: continued in the next fields."""
    for part in split_text(text or "—", FIELD_LIMIT):
        embed.add_field(name=name, value=part or "—", inline=inline)


def csv_file(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> discord.File:
    """The whole list as a CSV attachment (RFC 4180, UTF-8, formula-safe cells as the export)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows([csv_cell(str(cell)) for cell in row] for row in rows)
    return discord.File(io.BytesIO(buffer.getvalue().encode("utf-8")), filename=filename)


class HandinView(discord.ui.View):
    """Base of our views: errors in a button go to the tree's one error handler."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        tree = getattr(interaction.client, "tree", None)
        if tree is None:  # pragma: no cover - every bot here has the HandinTree
            log.error("error in a view without a tree", exc_info=error)
            return
        await tree.on_error(interaction, error)


class Pager(HandinView):
    """Previous / next through pages of embeds; only `owner_id` may turn them. At the timeout
    the buttons are disabled on the message (through the interaction that sent it)."""

    def __init__(
        self,
        pages: Sequence[discord.Embed],
        *,
        owner_id: int,
        locale: str,
        timeout: float | None = None,
    ) -> None:
        # Read at each list (not bound at import): a test may shorten it.
        super().__init__(timeout=PAGE_TIMEOUT if timeout is None else timeout)
        self.pages = list(pages)
        self.owner_id = owner_id
        self.locale = locale
        self.index = 0
        self.source: discord.Interaction[Any] | None = None
        self.previous.label = t(locale, "page.previous")
        self.next.label = t(locale, "page.next")
        for number, page in enumerate(self.pages, start=1):
            footer = t(locale, "page.of", page=number, pages=len(self.pages))
            if page.footer.text:
                footer = f"{page.footer.text} · {footer}"
            page.set_footer(text=footer)
        tag = secrets.token_hex(4)
        self.previous.custom_id = f"page:{BOOT}:{tag}:prev"
        self.counter.custom_id = f"page:{BOOT}:{tag}:at"
        self.next.custom_id = f"page:{BOOT}:{tag}:next"
        self._show_where()

    @property
    def page(self) -> discord.Embed:
        return self.pages[self.index]

    def _show_where(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1
        self.counter.label = t(self.locale, "page.of", page=self.index + 1, pages=len(self.pages))

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            t(self.locale, "page.not_yours", user_id=self.owner_id), ephemeral=True
        )
        return False

    async def _turn(self, interaction: discord.Interaction[Any], step: int) -> None:
        self.index = max(0, min(len(self.pages) - 1, self.index + step))
        self._show_where()
        await interaction.response.edit_message(embed=self.page, view=self)

    @discord.ui.button(style=discord.ButtonStyle.secondary, emoji="◀️")
    async def previous(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Pager]
    ) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(style=discord.ButtonStyle.secondary, disabled=True)
    async def counter(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Pager]
    ) -> None:  # pragma: no cover - disabled: only shows where the reader is
        await interaction.response.defer()

    @discord.ui.button(style=discord.ButtonStyle.secondary, emoji="▶️")
    async def next(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Pager]
    ) -> None:
        await self._turn(interaction, 1)

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        if self.source is None:
            return
        try:
            await self.source.edit_original_response(view=self)
        except discord.HTTPException:
            # The message is gone, or the token expired: nothing left to disable.
            log.info("could not disable the page buttons of interaction %s", self.source.id)


async def send_pages(
    interaction: discord.Interaction[Any],
    pages: Sequence[discord.Embed],
    *,
    locale: str,
    content: str | None = None,
    file: discord.File | None = None,
    files: Sequence[discord.File] = (),
) -> Pager | None:
    """Answer with the first page (and the buttons when there are more), whether or not the
    interaction was deferred. Returns the pager, if any."""
    pager = Pager(pages, owner_id=interaction.user.id, locale=locale) if len(pages) > 1 else None
    kwargs: dict[str, Any] = {"content": content, "embed": pages[0], "ephemeral": True}
    attached = [*([file] if file is not None else []), *files]
    if attached:
        kwargs["files"] = attached
    if pager is not None:
        kwargs["view"] = pager
        pager.source = interaction
    if interaction.response.is_done():
        await interaction.followup.send(wait=True, **kwargs)
    else:
        await interaction.response.send_message(**kwargs)
    return pager


class ExpiredPage(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"page:(?P<boot>[0-9a-f]{8}):[0-9a-f]{8}:(?:prev|next)",
):
    """A page button of a list sent before the bot last started (registered at start-up)."""

    def __init__(self, custom_id: str, boot: str) -> None:
        super().__init__(discord.ui.Button(custom_id=custom_id))
        self.boot = boot

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ExpiredPage:
        return cls(str(getattr(item, "custom_id", "")), match["boot"])

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # A list of this process: its own Pager answers.
        return self.boot != BOOT

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        locale = pick_locale(getattr(interaction.locale, "value", None), None)
        view = self.view
        try:
            if view is not None:
                for child in view.children:
                    # The pressed one is this dynamic item, wrapping its button.
                    button = child.item if isinstance(child, discord.ui.DynamicItem) else child
                    if isinstance(button, discord.ui.Button):
                        button.disabled = True
                await interaction.response.edit_message(view=view)
                await interaction.followup.send(t(locale, "page.expired"), ephemeral=True)
            else:
                await interaction.response.send_message(t(locale, "page.expired"), ephemeral=True)
        except discord.HTTPException:
            log.info("could not answer an expired page button (interaction %s)", interaction.id)
