"""Reading a paged reply through the sandbox: the buttons on a message, every page behind them,
and the CSV file that comes with a staff list."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from bot.i18n import t
from sandbox import SandboxMessage, SandboxUser
from tests.e2e.conftest import REPLY_TIMEOUT, Course, message_text


def buttons(message: SandboxMessage) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for row in message.components or []:
        found += [c for c in row.get("components") or [] if c.get("type") == 2]
    return found


def button(message: SandboxMessage, label: str) -> dict[str, Any]:
    for item in buttons(message):
        if item.get("label") == label:
            return item
    raise AssertionError(f"no button {label!r} on {[b.get('label') for b in buttons(message)]}")


def check_limits(message: SandboxMessage) -> None:
    """What Discord would refuse (the sandbox refuses it too; this says which part)."""
    assert len(message.content or "") <= 2000
    total = 0
    for embed in message.embeds:
        assert len(embed.get("title") or "") <= 256
        assert len(embed.get("description") or "") <= 4096
        fields = embed.get("fields") or []
        assert len(fields) <= 25
        for item in fields:
            assert len(item["name"]) <= 256 and len(item["value"]) <= 1024
        total += len(embed.get("title") or "") + len(embed.get("description") or "")
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        total += len((embed.get("footer") or {}).get("text") or "")
    assert total <= 6000


def page_text(message: SandboxMessage) -> str:
    """What `message_text` reads, plus the footers (where "page x of y" is)."""
    footers = [(e.get("footer") or {}).get("text") or "" for e in message.embeds]
    return "\n".join([message_text(message), *footers])


async def all_pages(course: Course, user: SandboxUser, message: SandboxMessage) -> list[str]:
    """The text of every page, pressing "next" until it is disabled (one page: no buttons)."""
    check_limits(message)
    pages = [page_text(message)]
    if not buttons(message):
        return pages
    label = t("en", "page.next")
    while not button(message, label).get("disabled"):
        handle = await course.sandbox.click(user, message, str(button(message, label)["custom_id"]))
        await handle.wait_done(timeout=REPLY_TIMEOUT)
        check_limits(message)
        pages.append(page_text(message))
    return pages


def csv_rows(message: SandboxMessage) -> list[dict[str, str]]:
    [attachment] = [f for f in message.files if f.filename.endswith(".csv")]
    return list(csv.DictReader(io.StringIO(attachment.data.decode("utf-8"))))


def missing(needles: Iterable[str], haystack: str) -> list[str]:
    return [n for n in needles if n not in haystack]
