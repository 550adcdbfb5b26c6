"""End-to-end fixtures: a loopback Discord, the real bot on a temp data dir, and readers for what
came out (replies, DMs, the database, exports)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot import paths
from bot.client import HandinBot
from bot.config import Config
from bot.i18n import t
from bot.i18n.catalogs import compiled
from sandbox import (
    BotProcess,
    InteractionHandle,
    Sandbox,
    SandboxGuild,
    SandboxMessage,
    SandboxUser,
    StoredFile,
)
from storage.timefmt import from_db
from tests import waiting
from tests.modes import exposed

# Generous: the suite runs on 2 shared cores next to other work.
REPLY_TIMEOUT = 15.0


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pdf(label: str, size: int = 4096) -> tuple[str, bytes, str]:
    """A small PDF-ish file whose bytes differ for every label."""
    head = f"%PDF-1.4\n% {label}\n".encode()
    body = hashlib.sha256(label.encode()).digest() * (size // 32 + 1)
    return (f"{label}.pdf", (head + body)[:size], "application/pdf")


def template_pattern(key: str, locale: str = "en") -> re.Pattern[str]:
    """A regex for catalog message `key` with every placeholder matching anything: tests check
    which message the bot chose without copying its wording."""
    forms = compiled(locale).texts.get(key)
    assert forms is not None, f"no message {key!r} in the {locale} catalog"
    # A plural message matches in any of its forms.
    alternatives = (
        ".*?".join(re.escape(part) for part in re.split(r"\{[^{}]*\}", form)) for form in forms
    )
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.DOTALL)


def says(text: str, key: str, locale: str = "en") -> bool:
    return template_pattern(key, locale).search(text) is not None


@dataclass
class Reply:
    """What a user saw after a command: the final message of the interaction."""

    handle: InteractionHandle
    message: SandboxMessage

    @property
    def ephemeral(self) -> bool:
        return self.message.ephemeral

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.message.embeds

    @property
    def text(self) -> str:
        """Content plus every embed's title, description and fields, for searching."""
        return message_text(self.message)

    def field(self, name: str) -> str | None:
        return embed_field(self.message, name)

    def says(self, key: str, locale: str = "en") -> bool:
        return says(self.text, key, locale)


def message_text(message: SandboxMessage) -> str:
    parts = [message.content or ""]
    for embed in message.embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        for item in embed.get("fields") or []:
            parts += [item.get("name") or "", item.get("value") or ""]
    return "\n".join(p for p in parts if p)


def embed_field(message: SandboxMessage, name: str) -> str | None:
    for embed in message.embeds:
        for item in embed.get("fields") or []:
            if item.get("name") == name:
                return str(item.get("value"))
    return None


def is_receipt(message: SandboxMessage) -> bool:
    # The hash field's name is the one label no catalog translates.
    return embed_field(message, "SHA-256") is not None


def receipt_sha(message: SandboxMessage) -> str:
    value = embed_field(message, "SHA-256")
    assert value is not None
    return value.strip("`")


async def eventually(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll until `predicate()` holds; fail with `what` after `timeout` seconds (the database
    is read from disk, so a coarser interval than the shared helper's)."""
    await waiting.eventually(predicate, timeout, what, interval=interval)


@dataclass
class Course:
    """One course server with a TA, driven through the sandbox; the bot may run in-process or
    as a subprocess (the database is read directly either way)."""

    sandbox: Sandbox
    guild: SandboxGuild
    staff: SandboxUser
    data_dir: Path
    bot: HandinBot | None = None
    replies: list[Reply] = field(default_factory=list)

    def student(self, name: str, *, locale: str = "en-US", **options: Any) -> SandboxUser:
        return self.sandbox.add_member(self.guild, name, locale=locale, **options)

    def students(self, names: Iterable[str]) -> list[SandboxUser]:
        return [self.student(n) for n in names]

    async def send(
        self,
        user: SandboxUser,
        command: str,
        *,
        files: Mapping[str, tuple[str, bytes, str] | StoredFile] | None = None,
        created_at: datetime | None = None,
        locale: str | None = None,
        **options: Any,
    ) -> InteractionHandle:
        return await self.sandbox.invoke(
            user, command, options, files=files, created_at=created_at, locale=locale
        )

    async def answer(self, handle: InteractionHandle, *, ephemeral: bool = True) -> Reply:
        message = await handle.wait_done(timeout=REPLY_TIMEOUT)
        reply = Reply(handle, message)
        self.replies.append(reply)
        # A crash inside the bot renders as the generic error; no scenario expects one.
        assert not reply.says("error.unexpected"), f"/{handle.command} crashed: {reply.text}"
        if ephemeral:
            # SPEC §2: every reply to a student or staff is ephemeral, refusals included.
            assert reply.ephemeral, f"/{handle.command} replied publicly: {reply.text}"
        return reply

    async def run(
        self,
        user: SandboxUser,
        command: str,
        *,
        files: Mapping[str, tuple[str, bytes, str] | StoredFile] | None = None,
        created_at: datetime | None = None,
        locale: str | None = None,
        **options: Any,
    ) -> Reply:
        """`user` runs `/command` and the bot's final answer comes back."""
        handle = await self.send(
            user, command, files=files, created_at=created_at, locale=locale, **options
        )
        return await self.answer(handle)

    async def close(self, assignment: str) -> Reply:
        """`/assignment close` by staff, confirmed with its button: the closed message."""
        prompt = await self.run(self.staff, "assignment close", name=assignment)
        label = t("en", "confirm.close_button")
        ids = [
            c["custom_id"]
            for row in prompt.message.components
            for c in row.get("components") or []
            if c.get("label") == label
        ]
        assert len(ids) == 1, f"no confirmation button: {prompt.text}"
        handle = await self.sandbox.click(self.staff, prompt.message, str(ids[0]))
        return Reply(handle, await handle.wait_done(timeout=REPLY_TIMEOUT))

    async def upload(
        self,
        user: SandboxUser,
        assignment: str,
        file: tuple[str, bytes, str] | StoredFile,
        **kw: Any,
    ) -> Reply:
        return await self.run(user, "upload", assignment=assignment, files={"file": file}, **kw)

    # --- reading results -----------------------------------------------------------------
    @property
    def database(self) -> Path:
        return paths.database_path(self.data_dir)

    def db(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Read the bot's database from outside (WAL: a reader never blocks the bot)."""
        conn = sqlite3.connect(self.database, timeout=10)
        try:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()

    def db_write(self, sql: str, *params: Any) -> None:
        """Change the bot's database from outside, as time passing would (WAL; the bot's busy
        timeout waits for this short write)."""
        conn = sqlite3.connect(self.database, timeout=10)
        try:
            conn.execute(sql, params)
            conn.commit()
        finally:
            conn.close()

    def scalar(self, sql: str, *params: Any) -> Any:
        rows = self.db(sql, *params)
        assert len(rows) == 1, f"{sql!r} gave {len(rows)} rows"
        return rows[0][0]

    def assignment_id(self, name: str) -> int:
        return int(self.scalar("SELECT id FROM assignments WHERE name = ?", name))

    def group_pin(self, user: SandboxUser, assignment: str) -> str | None:
        rows = self.db(
            "SELECT g.pin FROM memberships m JOIN groups g ON g.id = m.group_id"
            " WHERE m.assignment_id = ? AND m.user_id = ?",
            self.assignment_id(assignment),
            user.id,
        )
        return None if not rows else str(rows[0][0])

    def members_of(self, assignment: str, pin: str) -> set[int]:
        rows = self.db(
            "SELECT m.user_id FROM memberships m JOIN groups g ON g.id = m.group_id"
            " WHERE g.assignment_id = ? AND g.pin = ?",
            self.assignment_id(assignment),
            pin,
        )
        return {int(r[0]) for r in rows}

    def recorded_final(self, assignment: str, pin: str) -> sqlite3.Row:
        """The group's final submission, which must have been recorded."""
        final = self.final_submission(assignment, pin)
        assert final is not None, f"no final submission for group {pin} of {assignment}"
        return final

    def final_submission(self, assignment: str, pin: str) -> sqlite3.Row | None:
        """The group's highest submission revision joined with its upload (None: none yet)."""
        rows = self.db(
            "SELECT s.revision, s.late AS sub_late, s.handin_id, u.* FROM submissions s"
            " JOIN groups g ON g.id = s.group_id LEFT JOIN uploads u ON u.id = s.upload_id"
            " WHERE g.assignment_id = ? AND g.pin = ? ORDER BY s.revision DESC LIMIT 1",
            self.assignment_id(assignment),
            pin,
        )
        return rows[0] if rows else None

    def snapshot(self, assignment: str) -> dict[str, list[tuple[Any, ...]]]:
        """Everything of the hand-in that a refusal must leave as it was (SPEC §4)."""
        aid = self.assignment_id(assignment)
        tables = {
            "groups": "SELECT id, pin, name, password, finalized_at FROM groups"
            " WHERE assignment_id = ? ORDER BY id",
            "memberships": "SELECT user_id, group_id FROM memberships WHERE assignment_id = ?"
            " ORDER BY user_id",
            "uploads": "SELECT u.* FROM uploads u JOIN groups g ON g.id = u.group_id"
            " WHERE g.assignment_id = ? ORDER BY u.id",
            "handins": "SELECT h.* FROM handins h JOIN groups g ON g.id = h.group_id"
            " WHERE g.assignment_id = ? ORDER BY h.id",
            "submissions": "SELECT s.* FROM submissions s JOIN groups g ON g.id = s.group_id"
            " WHERE g.assignment_id = ? ORDER BY s.group_id, s.revision",
        }
        result = {name: [tuple(r) for r in self.db(sql, aid)] for name, sql in tables.items()}
        result["files"] = [(name,) for name in sorted(self.stored_files())]
        return result

    def stored_files(self) -> dict[str, bytes]:
        """The file store's content: {sha256: bytes} (laid out as `ab/cdef...`)."""
        root = paths.files_dir(self.data_dir)
        if not root.exists():
            return {}
        return {
            p.parent.name + p.name: p.read_bytes()
            for p in root.glob("??/*")
            if p.is_file() and p.parent.name != "tmp"
        }

    def receipts(self, user: SandboxUser) -> list[SandboxMessage]:
        return [m for m in self.sandbox.dms(user) if is_receipt(m)]

    async def wait_for_receipts(
        self, users: Iterable[SandboxUser], timeout: float = 15.0, count: int = 1
    ) -> None:
        users = list(users)
        await eventually(
            lambda: all(len(self.receipts(u)) >= count for u in users),
            timeout,
            f"{count} receipt(s) for {[u.username for u in users]}",
        )
        await self.wait_receipts_settled()

    async def wait_receipts_settled(self, timeout: float = 10.0) -> None:
        """The bot records a receipt as sent after Discord accepted the DM, a moment after the
        DM shows in the sandbox: wait for the outbox to have nothing pending."""
        await eventually(
            lambda: (
                not self.db(
                    "SELECT 1 FROM receipts WHERE status = 'pending' AND next_attempt_at IS NULL"
                )
            ),
            timeout,
            "the receipt outbox to have nothing pending but retries",
        )

    async def wait_until(self, moment: datetime, margin: float = 0.3) -> None:
        """Sleep until `moment` (wall clock, as the bot's SystemClock sees it) plus a margin."""
        delay = (moment - datetime.now(UTC)).total_seconds() + margin
        if delay > 0:
            await asyncio.sleep(delay)

    def bot_process(self, cwd: Path, *, log_level: str = "WARNING") -> BotProcess:
        """`python -m bot` as a subprocess on this course's data folder, to kill or signal.
        `cwd` is not the project root: a developer's .env there must not leak into a test."""
        return self.sandbox.bot_process(
            [sys.executable, "-m", "bot"],
            data_dir=self.data_dir,
            env={"HANDIN_LOG_LEVEL": log_level},
            cwd=cwd,
            expect_sync=True,
        )

    def deadline(self, assignment: str, column: str = "closes_at") -> datetime:
        return from_db(self.scalar(f"SELECT {column} FROM assignments WHERE name = ?", assignment))


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox()
    await box.start()
    try:
        yield box
    finally:
        await box.stop()
    # After the bot closed too: a route the bot needed that the sandbox lacks is a gap in
    # the sandbox (or a bot calling something Discord does not have).
    assert box.unknown_routes == []


def bot_config(sandbox: Sandbox, data_dir: Path) -> Config:
    return Config(
        token=sandbox.token,
        data_dir=data_dir,
        log_level="WARNING",
        api_base=sandbox.api_base,
        gateway_url=sandbox.gateway_url,
    )


@pytest.fixture
def offline_course(sandbox: Sandbox, tmp_path: Path) -> Course:
    """A course server with a TA and no bot yet (a test starts its own, e.g. a subprocess)."""
    guild = sandbox.add_guild("Algorithms 101")
    staff = sandbox.add_member(guild, "ta_tor", global_name="Tor (TA)", staff=True)
    return Course(sandbox, guild, staff, tmp_path / "data")


@pytest_asyncio.fixture
async def course(offline_course: Course) -> AsyncIterator[Course]:
    """The course with the real HandinBot running in this event loop."""
    course = offline_course
    bot = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(bot):
        course.bot = bot
        yield course
    # Whatever the scenario did, the bot left nothing under its data folder for other accounts.
    assert exposed(course.data_dir) == []
