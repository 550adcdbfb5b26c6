"""What students, TAs and admins read has no internal words: no references to the
specification or the issue tracker, no class names, no words from the code or its libraries.
Checked: every text of every catalog (replies, DMs, posts, slash-command names and
descriptions; en.po's are the commands' own, see test_catalogs.py) and the command line's help
and error lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.i18n import SUPPORTED
from bot.i18n.catalogs import entries, forms_of, key_of, po_catalog

INTERNAL = [
    re.compile(r"\bSPEC\b|§"),  # the specification users do not have
    re.compile(r"\bissue\s*#?\d+|(?<![\w&<@])#\d+", re.IGNORECASE),  # the tracker
    re.compile(r"\b(?:TODO|FIXME|XXX)\b"),
    re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*Error\b"),  # class names: DomainError, OSError
    re.compile(r"\bNone\b"),  # a Python value leaking into text
    re.compile(r"\b\w+_id\b"),  # a field name rather than a mention
    re.compile(
        r"\b(?:(?:aio)?sqlite3?|asyncio|apscheduler|discord\.py|interactions?|snowflakes?|stubs?"
        r"|tracebacks?|exceptions?|payloads?|schema|ephemeral|webhooks?|migrations?"
        r"|callbacks?|defer(?:red)?|kwargs?|stdout|stderr|leases?|hash(?:es)?|dir)\b",
        re.IGNORECASE,
    ),
]
# Not words but data: placeholders (`{user_id}`) and file paths (`/srv/data/handin.sqlite3`).
DATA = re.compile(r"\{[^{}]*\}|\S*/\S*")
# The command lines people run, with the help and error lines they print.
COMMANDS = [
    ["-m", "bot", "--help"],
    ["-m", "bot", "export", "--help"],
    ["-m", "bot", "demo", "--help"],
    ["-m", "bot.i18n", "--help"],
    ["-m", "bot", "export", "Lab 1", "--guild", "abc"],
    ["-m", "bot", "export", "Lab 1", "--guild", "1"],
]


def internal_words(text: str) -> list[str]:
    """The internal words in `text`, leaving out what is data rather than words."""
    shown = DATA.sub(" ", text)
    return [match.group(0) for pattern in INTERNAL for match in pattern.finditer(shown)]


@pytest.mark.parametrize(
    "text",
    [
        "Export an assignment's results as a ZIP (SPEC §3).",
        "Fixed in issue #20.",
        "see #18",
        "TODO: translate",
        "DomainError: group full",
        "the aiosqlite connection is busy",
        "The interaction expired.",
        "not a Discord snowflake",
        "user_id 42 has no group",
        "the value was None",
    ],
)
def test_the_scan_finds_internal_words(text: str) -> None:
    assert internal_words(text) != []


@pytest.mark.parametrize(
    "text",
    [
        "{user_id} is now in group **{label}** (PIN `{pin}`).",
        "Nothing right now.",
        "none",
        "Run `/group join` with `switch:true`.",
        "SHA-256 `{sha}…` · candidate 12345",
        "Announced in <#123456789>.",
    ],
)
def test_the_scan_leaves_plain_words_alone(text: str) -> None:
    assert internal_words(text) == []


@pytest.mark.parametrize("locale", SUPPORTED)
def test_no_catalog_text_has_internal_words(locale: str) -> None:
    found = {
        key_of(message): words
        for message in entries(po_catalog(locale))
        if (words := [w for form in forms_of(message) for w in internal_words(form)])
    }
    assert found == {}


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_the_command_line_speaks_plainly(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "HANDIN_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert output.strip()
    assert "Traceback" not in output
    assert internal_words(output) == []
