"""How the members' agreement (`all_must_confirm`, SPEC §5b) reads in replies and DMs."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.models import Member
from bot.i18n import t
from bot.services.submissions import HandInResult


def numbers_text(members: Iterable[Member]) -> str:
    """Candidate numbers, as staff and members see each other."""
    return ", ".join(str(m.number) for m in members)


def agreement_text(locale: str, result: HandInResult) -> str:
    """A member agreed: what was agreed to, and who the group still waits for."""
    done = t(
        locale,
        "handin.done",
        filename=result.upload.filename,
        sha=result.upload.sha256,
        pin=result.view.group.pin,
    )
    return done + "\n" + waiting_text(locale, result.waiting_for)


def waiting_text(locale: str, waiting: tuple[Member, ...]) -> str:
    if waiting:
        return t(locale, "handin.waiting_for", numbers=numbers_text(waiting))
    return t(locale, "handin.all_agreed")
