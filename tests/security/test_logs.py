"""Passwords and PINs never reach the logs (DESIGN convention 7)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.__main__ import OWN_LOGGERS, configure_logging
from storage.db import fetch_all
from tests.security.conftest import Course, reply_of

pytestmark = pytest.mark.e2e

LAB = "Lab 1"
CHOSEN_PIN = "5820"
UNUSED_PIN = "9147"
GUESSED_PASSWORD = "Gu3ss#Passw0rd!q"


class Capture(logging.Handler):
    """Keeps every record, formatted as a log file would show it (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def production_logging(level: str) -> Iterator[Capture]:
    """Logging as `python -m bot` sets it up for HANDIN_LOG_LEVEL=`level`, captured."""
    root = logging.getLogger()
    names = [*OWN_LOGGERS, *logging.root.manager.loggerDict]
    saved = {logger: logger.level for logger in [root, *map(logging.getLogger, names)]}
    handlers = list(root.handlers)
    capture = Capture()
    root.addHandler(capture)
    try:
        configure_logging(level)
        yield capture
    finally:
        root.handlers[:] = handlers
        for logger, previous in saved.items():
            logger.setLevel(previous)


async def groups_secrets(course: Course) -> tuple[set[str], set[str]]:
    async with course.bot.services.db.reading() as conn:
        rows = await fetch_all(conn, "SELECT pin, password FROM groups")
    return {row["pin"] for row in rows}, {row["password"] for row in rows if row["password"]}


async def test_pins_and_passwords_never_appear_in_the_logs_at_debug(course: Course) -> None:
    """Every record of every logger at HANDIN_LOG_LEVEL=DEBUG, ours and discord.py's, through a
    password-mode course: create, join, wrong PIN, wrong password, regenerate, upload, status,
    info, a lockout.

    Known limit, by design: third-party libraries leak at DEBUG and are kept at INFO.
    discord.py logs every gateway event and HTTP body (`discord.gateway` "WebSocket Event: ..."
    holds the options a student typed, passwords included; `discord.http` "... with {body} has
    returned" holds the DMs and replies that carry PINs and passwords, and webhook URLs hold
    interaction tokens), and aiosqlite logs every SQL statement with its parameters (the
    `INSERT INTO groups` carries the PIN and the password). So `python -m bot` applies
    HANDIN_LOG_LEVEL to our own packages only (`configure_logging`), and this test captures
    exactly what that configuration lets through: DEBUG for our modules, INFO for the rest.
    """
    alice, bob = course.student("alice"), course.student("bob")
    mallory, eve = course.student("mallory"), course.student("eve")
    with production_logging("DEBUG") as capture:
        assert logging.getLogger("bot").isEnabledFor(logging.DEBUG)
        await course.run(course.staff, "assignment create", name=LAB, closes="+2h", mode="password")
        await course.run(alice, "group create", assignment=LAB, pin=CHOSEN_PIN)
        _, (first,) = await groups_secrets(course)
        await course.run(bob, "group join", assignment=LAB, pin=CHOSEN_PIN, password=first)
        await course.run(alice, "group password", assignment=LAB)
        await course.run(eve, "group create", assignment=LAB)
        for _ in range(2):
            await course.run(mallory, "group join", assignment=LAB, pin=UNUSED_PIN, password="x")
        for _ in range(3):
            await course.run(
                mallory, "group join", assignment=LAB, pin=CHOSEN_PIN, password=GUESSED_PASSWORD
            )
        locked = await course.run(
            mallory, "group join", assignment=LAB, pin=CHOSEN_PIN, password=first
        )
        assert "<t:" in reply_of(locked).content
        await course.run(bob, "group join", assignment=LAB, pin=CHOSEN_PIN, password=first)
        await course.run(
            alice, "upload", assignment=LAB, files={"file": ("report.pdf", b"%PDF-1.4 x" * 50)}
        )
        await course.run(bob, "status", assignment=LAB)
        await course.run(bob, "group info", assignment=LAB)
        await course.run(eve, "group info", assignment=LAB)
        await course.settle()
        pins, passwords = await groups_secrets(course)
    assert len(pins) == 2 and len(passwords) == 2
    pins |= {CHOSEN_PIN, UNUSED_PIN}
    passwords |= {first, GUESSED_PASSWORD}
    text = "\n".join(capture.lines)
    assert "group" in text  # our own DEBUG/INFO records were captured
    leaked = [p for p in pins if re.search(rf"(?<![0-9A-Za-z]){p}(?![0-9A-Za-z])", text)]
    leaked += [p for p in passwords if p in text]
    lines = [line for line in capture.lines if any(secret in line for secret in leaked)]
    assert not leaked, "\n".join(lines[:10])


def test_debug_logging_keeps_third_party_libraries_at_info() -> None:
    """HANDIN_LOG_LEVEL=DEBUG must not switch on discord.py's payload logging or aiosqlite's
    statement logging."""
    with production_logging("DEBUG"):
        assert logging.getLogger("bot").isEnabledFor(logging.DEBUG)
        for name in ("discord.http", "discord.gateway", "discord.webhook.async_", "aiosqlite"):
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
            assert logging.getLogger(name).isEnabledFor(logging.INFO), name
    with production_logging("WARNING"):
        assert not logging.getLogger("discord.http").isEnabledFor(logging.INFO)
