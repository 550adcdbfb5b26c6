"""`python -m bot demo`: the real bot against the built-in sandbox, playing a short course."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, ClassVar

from bot.config import Config
from bot.i18n import t, tn
from sandbox import Sandbox, SandboxGuild, SandboxMessage, SandboxUser, format_event
from sandbox.transcript import EventKind, TranscriptEvent

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# The demo narrates in English; counts still take their plural form.
LOCALE = "en"


class Narrator:
    """Prints the conversation as it happens, skipping the plumbing (defers, autocomplete)."""

    QUIET: ClassVar[frozenset[EventKind]] = frozenset(
        {EventKind.DEFER, EventKind.AUTOCOMPLETE, EventKind.CHOICES}
    )

    def __init__(self, started: float) -> None:
        self.started = started

    def __call__(self, event: TranscriptEvent) -> None:
        if event.kind in self.QUIET:
            return
        line = format_event(event)
        print(f"[{time.monotonic() - self.started:5.1f}s] {line.split(' ', 1)[1]}", flush=True)

    @staticmethod
    def say(text: str) -> None:
        print(f"\n== {text}", flush=True)


async def play(sandbox: Sandbox, data_dir: Path, deadline_seconds: int) -> Path:
    from bot.client import HandinBot

    guild = sandbox.add_guild("Algorithms 101")
    ta = sandbox.add_member(guild, "ta_tor", global_name="Tor (TA)", staff=True)
    names = ["ada", "brage", "cecilie", "dag", "eva"]
    students = {n: sandbox.add_member(guild, n, global_name=n.capitalize()) for n in names}
    sandbox.close_dms(students["eva"])
    config = Config(
        token=sandbox.token,
        data_dir=data_dir,
        log_level="WARNING",
        api_base=sandbox.api_base,
        gateway_url=sandbox.gateway_url,
    )
    bot = HandinBot(config, guild_ready_timeout=0.1)
    async with sandbox.run_bot(bot):
        await course(sandbox, ta, students, deadline_seconds, guild)
    exports = sorted((data_dir / "exports").glob("*.zip"))
    if not exports:
        raise RuntimeError("the export was not written")
    return exports[-1]


async def run(
    sandbox: Sandbox, user: SandboxUser, command: str, **options: object
) -> SandboxMessage:
    files = options.pop("files", None)
    handle = await sandbox.invoke(user, command, options, files=files)  # type: ignore[arg-type]
    return await handle.wait_done(timeout=20)


async def press(
    sandbox: Sandbox, user: SandboxUser, message: SandboxMessage, label: str
) -> SandboxMessage:
    """`user` presses the button called `label` on `message`."""
    [custom_id] = [
        c["custom_id"]
        for row in message.components
        for c in row.get("components") or []
        if c.get("label") == label
    ]
    handle = await sandbox.click(user, message, str(custom_id))
    return await handle.wait_done(timeout=20)


async def paged_list(sandbox: Sandbox, ta: SandboxUser, guild: SandboxGuild) -> None:
    """A lab of 40 predefined groups: `/groups list` answers in pages; the TA turns one."""
    others = [sandbox.add_member(guild, f"student{n:02d}") for n in range(40)]
    await run(sandbox, ta, "assignment create", name="Lab 2", closes="+7d", mode="predefined")
    table = "group_name,member\n" + "".join(f"Team {n:02d},{u.id}\n" for n, u in enumerate(others))
    files = {"file": ("lab2-groups.csv", table.encode(), "text/csv")}
    await run(sandbox, ta, "groups import", assignment="Lab 2", files=files)
    listed = await run(sandbox, ta, "groups list", assignment="Lab 2")
    await press(sandbox, ta, listed, t(LOCALE, "page.next"))


async def course(
    sandbox: Sandbox,
    ta: SandboxUser,
    students: dict[str, SandboxUser],
    deadline_seconds: int,
    guild: SandboxGuild,
) -> None:
    say = Narrator.say
    say(tn(LOCALE, "cli.demo.deadline", deadline_seconds))
    await run(
        sandbox,
        ta,
        "assignment create",
        name="Lab 1",
        closes=f"+{deadline_seconds}s",
        max_file_mb=1.0,
        file_types="pdf,zip",
        max_group_size=3,
        reminders="off",
    )
    await run(sandbox, ta, "assignment announce", name="Lab 1")
    say("Five students get ready and form groups (Eva works alone, and her DMs are closed)")
    ada, brage, cecilie, dag, eva = (students[n] for n in ("ada", "brage", "cecilie", "dag", "eva"))
    await run(sandbox, ada, "ready", assignment="Lab 1")
    await run(sandbox, ada, "group create", assignment="Lab 1", pin="2024")
    await run(sandbox, brage, "group join", assignment="Lab 1", pin="2024")
    ready = await run(sandbox, brage, "ready", assignment="Lab 1")
    await press(sandbox, brage, ready, t(LOCALE, "button.status"))
    await run(sandbox, cecilie, "group create", assignment="lab 1", pin="0815")
    await run(sandbox, dag, "group join", assignment="Lab 1", pin="0815")
    await run(sandbox, eva, "group create", assignment="Lab 1")
    say("They upload; one file is too large and is refused before any byte is fetched")
    await run(sandbox, ada, "upload", assignment="Lab 1", files=_pdf("draft.pdf", 30_000))
    await run(sandbox, brage, "upload", assignment="Lab 1", files=_pdf("report.pdf", 80_000))
    await run(sandbox, dag, "upload", assignment="Lab 1", files=_pdf("huge.pdf", 2 * MIB))
    await run(sandbox, dag, "upload", assignment="Lab 1", files=_pdf("lab1-final.pdf", 60_000))
    await run(sandbox, eva, "upload", assignment="Lab 1", files=_pdf("solo.pdf", 40_000))
    await run(sandbox, brage, "status", assignment="Lab 1")
    say("The deadline passes: the bot closes the assignment and sends receipts")
    await wait_for_receipts(sandbox, [ada, brage, cecilie, dag], deadline_seconds + 30)
    await run(sandbox, eva, "status", assignment="Lab 1")
    say("The TA looks at the overview and exports the results for grading")
    await run(sandbox, ta, "assignment overview", name="Lab 1")
    await run(sandbox, ta, "export", assignment="Lab 1")
    say("A larger lab: the list of 40 groups comes in pages, with buttons")
    await paged_list(sandbox, ta, guild)


async def wait_for_receipts(sandbox: Sandbox, members: list[SandboxUser], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        received = [any(_is_receipt(m.embeds) for m in sandbox.dms(u)) for u in members]
        if all(received):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("receipts did not arrive in time")


def _is_receipt(embeds: list[dict[str, Any]]) -> bool:
    return any(any(f.get("name") == "SHA-256" for f in e.get("fields", [])) for e in embeds)


def _pdf(name: str, size: int) -> dict[str, tuple[str, bytes, str]]:
    body = f"%PDF-1.4\n% {name}\n".encode()
    filler = os.urandom(max(size - len(body), 0))
    return {"file": (name, body + filler, "application/pdf")}


def describe(export: Path) -> None:
    with zipfile.ZipFile(export) as archive:
        names = archive.namelist()
        results = archive.read("results.csv").decode()
    print(f"\n== The export is written: {export}")
    print(f"   {tn(LOCALE, 'cli.demo.entries', len(names), names=', '.join(names))}")
    print("   results.csv:")
    for line in results.strip().splitlines():
        print(f"     {line}")


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot demo",
        description="Play a short course against a stand-in for Discord on this computer "
        "(no Discord account needed).",
    )
    parser.add_argument("--deadline", type=int, default=12, help="seconds until the deadline")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    data_dir = Path(tempfile.mkdtemp(prefix="handin-demo-"))
    started = time.monotonic()
    print(f"Hand-in bot demo: a local Discord sandbox on 127.0.0.1, data in {data_dir}")
    try:
        async with Sandbox() as sandbox:
            sandbox.transcript.subscribe(Narrator(started))
            export = await play(sandbox, data_dir, args.deadline)
            if sandbox.unknown_routes:
                print(f"warning: routes the sandbox does not know: {sandbox.unknown_routes}")
        describe(export)
        kept = Path(tempfile.gettempdir()) / export.name
        shutil.copy2(export, kept)
        print(f"\nDone in {time.monotonic() - started:.1f} s. A copy of the export: {kept}")
        return 0
    except Exception as exc:  # the demo must end with one readable line, not a hang
        print(f"demo failed: {exc}", file=sys.stderr)
        log.exception("demo failed")
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
