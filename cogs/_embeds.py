"""Embeds people like to read: readiness, groups, status and overviews, in the reader's locale."""

from __future__ import annotations

from collections.abc import Iterable

import discord

from bot.domain.models import (
    Assignment,
    AssignmentState,
    GroupMode,
    GroupView,
    Member,
    Receipt,
    Unreached,
    Upload,
)
from bot.domain.rules import mib
from bot.i18n import human_size, number, t, timestamp, tn
from bot.services.assignments import GroupOverview, Overview
from bot.services.groups import ReadyView
from bot.services.submissions import StatusView
from cogs._common import GOOD, INFO, WARN
from cogs._paging import EMBED_LIMIT, Section, add_long_field, field_pages

# What the note on receipt codes that did not fit may take (its name, and ten part names).
CODES_NOTE_ROOM = 600


def members_text(locale: str, members: Iterable[Member]) -> str:
    lines = [t(locale, "group.member_line", user_id=m.user_id, number=m.number) for m in members]
    return "\n".join(lines) or t(locale, "group.no_members")


def rules_text(locale: str, assignment: Assignment) -> str:
    lines = [t(locale, f"rules.mode.{assignment.group_mode.value}")]
    lines.append(t(locale, "rules.max_file", mb=assignment.max_file_mb))
    lines.append(
        t(
            locale,
            "rules.quota",
            uploads=tn(locale, "count.uploads", assignment.max_uploads),
            mb=number(locale, assignment.max_storage_mb),
        )
    )
    if assignment.file_types:
        lines.append(t(locale, "rules.file_types", types=", ".join(assignment.file_types)))
    if assignment.parts:
        listed = ", ".join(
            f"`{p.name}`" + (f" ({', '.join(p.file_types)})" if p.file_types else "")
            for p in assignment.parts
        )
        lines.append(t(locale, "rules.parts", parts=listed))
    if assignment.max_group_size:
        lines.append(tn(locale, "rules.max_group_size", assignment.max_group_size))
    lines.append(t(locale, "rules.auto_submit" if assignment.auto_submit else "rules.manual"))
    if assignment.submit_once:
        lines.append(t(locale, "rules.submit_once"))
    if assignment.single_editor:
        lines.append(t(locale, "rules.single_editor"))
    if assignment.late_until:
        lines.append(t(locale, "rules.late", late_until=assignment.late_until))
    return "\n".join(f"• {line}" for line in lines)


def deadline_text(locale: str, assignment: Assignment, view: GroupView | None = None) -> str:
    closes = view.deadlines.closes_at if view else assignment.closes_at
    text = t(locale, "time.deadline", when=closes)
    if assignment.opens_at > assignment.created_at:
        text = t(locale, "time.opens", when=assignment.opens_at) + "\n" + text
    late = view.deadlines.late_until if view else assignment.late_until
    if late:
        text += "\n" + t(locale, "time.late_until", when=late)
    if assignment.closed_at is not None:
        text += "\n" + t(locale, "time.closed", when=assignment.closed_at)
    return text


def ready_embed(locale: str, ready: ReadyView) -> discord.Embed:
    assignment = ready.assignment
    embed = discord.Embed(
        title=t(locale, "ready.title", name=assignment.name),
        description=t(locale, f"state.{ready.state.value}"),
        colour=GOOD if ready.group else WARN,
    )
    embed.add_field(name=t(locale, "ready.candidate"), value=f"**{ready.candidate.number}**")
    if ready.group is not None:
        add_long_field(
            embed,
            t(locale, "ready.group", pin=ready.group.group.label),
            members_text(locale, ready.group.members),
        )
    else:
        embed.add_field(
            name=t(locale, "ready.no_group"),
            value=t(locale, f"ready.how.{assignment.group_mode.value}", name=assignment.name),
            inline=False,
        )
    embed.add_field(
        name=t(locale, "ready.deadline"),
        value=deadline_text(locale, assignment, ready.group),
        inline=False,
    )
    add_long_field(embed, t(locale, "ready.rules"), rules_text(locale, assignment))
    return embed


def group_embed(
    locale: str, assignment: Assignment, view: GroupView, password: str | None = None
) -> discord.Embed:
    group = view.group
    embed = discord.Embed(
        title=t(locale, "group.title", label=group.label, name=assignment.name), colour=INFO
    )
    embed.add_field(name=t(locale, "group.pin"), value=f"`{group.pin}`")
    if group.name:
        embed.add_field(name=t(locale, "group.name"), value=group.name)
    if assignment.group_mode is GroupMode.PASSWORD and password:
        embed.add_field(
            name=t(locale, "group.password"), value=f"```\n{password}\n```", inline=False
        )
    add_long_field(
        embed, tn(locale, "group.members", len(view.members)), members_text(locale, view.members)
    )
    embed.add_field(
        name=t(locale, "ready.deadline"),
        value=deadline_text(locale, assignment, view),
        inline=False,
    )
    return embed


def upload_line(
    locale: str, upload: Upload, numbers: dict[int, int], assignment: Assignment | None = None
) -> str:
    part = None if assignment is None else assignment.part_by_id(upload.part_id)
    prefix = "" if part is None else f"`{part.name}` · "
    return prefix + t(
        locale,
        "status.upload_line",
        filename=upload.filename,
        size=human_size(locale, upload.size),
        sha=upload.sha256[:12],
        number=numbers.get(upload.user_id, "?"),
        when=timestamp(upload.sent_at),
        late=t(locale, "status.late_tag") if upload.late else "",
    )


def status_pages(locale: str, status: StatusView) -> list[discord.Embed]:
    """The group's status; its whole upload history, newest first, over as many pages as it
    needs."""
    assignment = status.assignment
    title = t(locale, "status.title", name=assignment.name, label=status.view.group.label)
    lines = [upload_line(locale, u, status.numbers, assignment) for u in reversed(status.uploads)]
    sections = [
        Section(t(locale, "status.final"), _final_text(locale, status)),
    ]
    if status.latest_not_handed_in:
        sections.append(Section("⚠️", t(locale, "status.not_handed_in")))
    if status.lease_user_id is not None and status.lease_until is not None:
        sections.append(
            Section(
                t(locale, "status.lease"),
                t(
                    locale,
                    "status.lease_text",
                    holder=status.lease_user_id,
                    until=status.lease_until,
                ),
            )
        )
    sections += [
        Section(t(locale, "ready.deadline"), deadline_text(locale, assignment, status.view)),
        Section(
            tn(locale, "group.members", len(status.view.members)),
            members_text(locale, status.view.members),
        ),
        # Last: the one part that grows, so the summary stays on the first page.
        Section(
            tn(locale, "status.uploads", len(status.uploads)),
            "\n".join(lines) or t(locale, "status.no_uploads"),
        ),
    ]
    return field_pages(title, sections, colour=INFO)


def _final_text(locale: str, status: StatusView) -> str:
    if status.assignment.parts:
        return "\n".join(_final_part_lines(locale, status))
    if status.finalized and status.submission is not None and status.submission.upload:
        upload, late = status.submission.upload, status.submission.late
        key = "status.final_recorded"
    elif status.pending.upload is not None:
        upload, late = status.pending.upload, status.pending.late
        key = "status.final_pending"
    else:
        return t(locale, "status.final_none")
    tag = t(locale, "status.late_tag") if late else ""
    return t(locale, key, filename=upload.filename, sha=upload.sha256[:12], late=tag)


def _final_part_lines(locale: str, status: StatusView) -> list[str]:
    """Each part's final: recorded once finalized, else the one it would hand in now."""
    recorded = status.submission
    if status.finalized and recorded is not None and not recorded.empty:
        finals, key = recorded.parts, "status.final_recorded"
    else:
        finals, key = status.pending.parts, "status.final_pending"
    lines = []
    for final in finals:
        if final.upload is None:
            text = t(locale, "status.part_none")
        else:
            tag = t(locale, "status.late_tag") if final.late else ""
            text = t(
                locale, key, filename=final.upload.filename, sha=final.upload.sha256[:12], late=tag
            )
        lines.append(f"`{final.part.name}`: {text}")
    return lines


def receipt_embed(locale: str, receipt: Receipt) -> discord.Embed:
    if receipt.parts:
        return _parts_receipt_embed(locale, receipt)
    upload = receipt.upload
    embed = discord.Embed(
        title=t(locale, "receipt.title", name=receipt.assignment.name),
        description=t(locale, "receipt.replaces") if receipt.replaces else None,
        colour=GOOD,
    )
    embed.add_field(name=t(locale, "group.pin"), value=f"`{receipt.group.pin}`")
    add_long_field(embed, t(locale, "receipt.file"), upload.filename, inline=True)
    embed.add_field(name=t(locale, "receipt.size"), value=f"{number(locale, upload.size)} B")
    embed.add_field(name="SHA-256", value=f"`{upload.sha256}`", inline=False)
    embed.add_field(name=t(locale, "receipt.sent"), value=timestamp(upload.sent_at), inline=False)
    embed.add_field(
        name=t(locale, "receipt.uploaded_by"), value=str(receipt.uploader_number or "?")
    )
    embed.add_field(
        name=t(locale, "receipt.late"), value=t(locale, "yes" if receipt.late else "no")
    )
    if receipt.code is not None:
        embed.add_field(name=t(locale, "receipt.code"), value=f"`{receipt.code}`", inline=False)
    return embed


def _parts_receipt_embed(locale: str, receipt: Receipt) -> discord.Embed:
    """A receipt for a hand-in in parts: every part with its file, size and full SHA-256."""
    embed = discord.Embed(
        title=t(locale, "receipt.title", name=receipt.assignment.name),
        description=t(locale, "receipt.replaces") if receipt.replaces else None,
        colour=GOOD,
    )
    embed.add_field(name=t(locale, "group.pin"), value=f"`{receipt.group.pin}`")
    embed.add_field(
        name=t(locale, "receipt.late"), value=t(locale, "yes" if receipt.late else "no")
    )
    hashes = []
    for final in receipt.parts:
        upload = final.upload
        if upload is None:
            value = t(locale, "receipt.part_none")
            hashes.append(f"`{final.part.name}`: —")
        else:
            value = t(
                locale,
                "receipt.part_file",
                filename=upload.filename,
                size=f"{number(locale, upload.size)} B",
                sent=timestamp(upload.sent_at),
                number=receipt.numbers.get(upload.user_id, "?"),
                late=t(locale, "status.late_tag") if final.late else "",
            )
            hashes.append(f"`{final.part.name}`: `{upload.sha256}`")
        add_long_field(embed, t(locale, "receipt.part", part=final.part.name), value)
    # One field for the hashes, under the label no catalog translates (as a one-file receipt).
    add_long_field(embed, "SHA-256", "\n".join(hashes))
    _add_part_codes(locale, embed, receipt)
    return embed


def _add_part_codes(locale: str, embed: discord.Embed, receipt: Receipt) -> None:
    """A code per part's file: each proves one file and stays short enough for one field.

    Ten parts with long file names can pass Discord's 6,000 characters for the whole embed
    (it would refuse the receipt): the codes that do not fit are named, not dropped silently."""
    left_out: list[str] = []
    for final in receipt.parts:
        code = receipt.part_codes.get(final.part.id)
        if code is None:
            continue
        name = t(locale, "receipt.part_code", part=final.part.name)
        value = f"`{code}`"
        # Room kept for the note on what did not fit.
        if len(embed) + len(name) + len(value) > EMBED_LIMIT - CODES_NOTE_ROOM:
            left_out.append(f"`{final.part.name}`")
            continue
        embed.add_field(name=name, value=value, inline=False)
    if left_out:
        embed.add_field(
            name=t(locale, "receipt.code"),
            value=t(locale, "receipt.codes_no_room", parts=", ".join(left_out)),
            inline=False,
        )


def overview_pages(locale: str, overview: Overview) -> list[discord.Embed]:
    """Counts and deadline first, then every group, who has no group and who could not be
    reached, over as many pages as they need."""
    sections = [
        _disk_low_section(locale, overview),
        _counts_section(locale, overview),
        Section(t(locale, "ready.deadline"), deadline_text(locale, overview.assignment)),
        _groups_section(locale, overview),
        _without_group_section(locale, overview),
        _identical_section(locale, overview),
        _undelivered_section(locale, overview),
    ]
    return field_pages(
        t(locale, "overview.title", name=overview.assignment.name),
        [section for section in sections if section is not None],
        colour=INFO if overview.state is not AssignmentState.CLOSED else GOOD,
        description=t(locale, f"state.{overview.state.value}"),
    )


def _disk_low_section(locale: str, overview: Overview) -> Section | None:
    # Ahead of the lists: while it lasts, no group can upload.
    if overview.disk_low_since is None:
        return None
    return Section(
        t(locale, "overview.disk_low_title"),
        t(locale, "overview.disk_low", since=overview.disk_low_since),
    )


def _counts_section(locale: str, overview: Overview) -> Section:
    counts = t(
        locale,
        "overview.counts_text",
        candidates=tn(locale, "count.candidates", len(overview.candidates)),
        groups=tn(locale, "count.groups", len(overview.groups)),
        uploads=tn(locale, "count.uploads", overview.uploads),
        handins=tn(locale, "count.handins", overview.handins),
        submissions=tn(locale, "count.submissions", overview.submissions),
    )
    return Section(t(locale, "overview.counts"), counts)


def _groups_section(locale: str, overview: Overview) -> Section:
    lines = [_group_line(locale, overview.assignment, group) for group in overview.groups]
    return Section(tn(locale, "overview.groups", len(overview.groups)), "\n".join(lines) or "—")


def _group_line(locale: str, assignment: Assignment, group: GroupOverview) -> str:
    line = t(
        locale,
        "overview.group_line",
        label=group.group.label,
        pin=group.group.pin,
        members=", ".join(f"<@{m.user_id}> ({m.number})" for m in group.members) or "—",
        uploads=tn(locale, "count.uploads", group.uploads),
    )
    if group.near_quota:
        line += " · " + _near_quota_text(locale, assignment, group)
    return line


def _without_group_section(locale: str, overview: Overview) -> Section:
    no_group = [f"<@{c.user_id}> ({c.number})" for c in overview.without_group]
    return Section(tn(locale, "overview.without_group", len(no_group)), ", ".join(no_group) or "—")


def _identical_section(locale: str, overview: Overview) -> Section | None:
    # Staff only: which groups handed in the very same bytes (no file is shown).
    if not overview.identical:
        return None
    same = [
        t(
            locale,
            "overview.identical_line",
            part=f"`{entry.part}` · " if entry.part else "",
            pins=", ".join(f"`{pin}`" for pin in entry.pins),
            sha=entry.sha256[:12],
        )
        for entry in overview.identical
    ]
    return Section(tn(locale, "overview.identical", len(same)), "\n".join(same))


def _undelivered_section(locale: str, overview: Overview) -> Section | None:
    if not overview.undelivered:
        return None
    lines = [
        f"<@{user_id}>: {', '.join(_unreached(locale, u) for u in unreached)}"
        for user_id, unreached in overview.undelivered.items()
    ]
    return Section(tn(locale, "overview.undelivered", len(lines)), "\n".join(lines))


def _unreached(locale: str, unreached: Unreached) -> str:
    """`receipt (does not accept DMs from the bot)`: what could not be delivered, and why."""
    kind = t(locale, f"dm.kind.{unreached.kind}")
    failure, _, code = unreached.reason.partition(":")
    if not failure:
        return kind
    return f"{kind} ({t(locale, f'dm.reason.{failure}', code=code or '?')})"


def _near_quota_text(locale: str, assignment: Assignment, group: GroupOverview) -> str:
    return t(
        locale,
        "overview.near_quota",
        uploads=group.usage.uploads,
        max_uploads=assignment.max_uploads,
        stored_mb=mib(group.usage.bytes),
        max_storage_mb=assignment.max_storage_mb,
    )
