"""A student never sees another group's PIN, password, file names, file bytes or SHA-256, through
any student command, any autocomplete, any DM or any public post."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any

import pytest
from discord import AppCommandOptionType

from sandbox import SandboxUser
from storage.db import fetch_all
from tests.security.conftest import (
    AppCommand,
    Course,
    Seen,
    is_staff_command,
    reply_of,
    walk_commands,
)
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

LAB = "Lab 1"
A_PIN = "8315"
B_PIN = "2604"
WRONG_PASSWORD = "Wr0ng#Passw0rd!x"
# Only after the deadline (when it is refused): leaving would empty group B before the archive
# commands run.
AFTER_CLOSE = ("group leave",)


@dataclass
class Secrets:
    """What group A has and group B must never see."""

    pin: str
    passwords: list[str]
    filenames: list[str]
    contents: list[bytes]
    user_ids: list[int]

    @property
    def hashes(self) -> list[str]:
        return [hashlib.sha256(data).hexdigest() for data in self.contents]

    def leaks(self, seen: Seen, *, check_pin: bool = True) -> list[str]:
        text = seen.text
        found: list[str] = []
        if check_pin and re.search(rf"(?<!\d){self.pin}(?!\d)", text):
            found.append(f"PIN {self.pin}")
        found += [f"password {p!r}" for p in self.passwords if p in text]
        found += [f"file name {n!r}" for n in self.filenames if n in text]
        for sha in self.hashes:
            if sha[:12] in text.lower():
                found.append(f"SHA-256 {sha[:12]}")
        found += [f"user id {u}" for u in self.user_ids if str(u) in text]
        for name, data in seen.files:
            if name in self.filenames:
                found.append(f"attachment named {name!r}")
            if any(secret in data for secret in self.contents):
                found.append(f"attachment {name!r} holds group A's bytes")
            if hashlib.sha256(data).hexdigest() in self.hashes:
                found.append(f"attachment {name!r} is group A's file")
        return found


@dataclass
class Lab:
    course: Course
    secrets: Secrets
    alice: SandboxUser
    carol: SandboxUser
    dave: SandboxUser
    eve: SandboxUser

    @property
    def outsiders(self) -> list[SandboxUser]:
        """Group B's members, and a candidate in no group."""
        return [self.carol, self.dave, self.eve]


async def passwords_of(course: Course, pin: str) -> list[str]:
    async with course.bot.services.db.reading() as conn:
        rows = await fetch_all(conn, "SELECT password FROM groups WHERE pin = ?", (pin,))
    return [row["password"] for row in rows]


def pdf(label: str) -> bytes:
    return f"%PDF-1.4 {label}\n".encode() + os.urandom(4000)


async def two_groups(course: Course) -> Lab:
    alice, bob = course.student("alice"), course.student("bob")
    carol, dave, eve = course.student("carol"), course.student("dave"), course.student("eve")
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", mode="password")
    await course.run(alice, "group create", assignment=LAB, pin=A_PIN)
    first = (await passwords_of(course, A_PIN))[0]
    await course.run(bob, "group join", assignment=LAB, pin=A_PIN, password=first)
    a_files = {"alice-secret-report.pdf": pdf("alice"), "bob-secret-notes.pdf": pdf("bob")}
    for (name, data), who in zip(a_files.items(), (alice, bob), strict=True):
        await course.run(who, "upload", assignment=LAB, files={"file": (name, data)})
    await course.run(alice, "group password", assignment=LAB)
    second = (await passwords_of(course, A_PIN))[0]
    assert second != first
    await course.run(carol, "group create", assignment=LAB, pin=B_PIN)
    b_password = (await passwords_of(course, B_PIN))[0]
    await course.run(dave, "group join", assignment=LAB, pin=B_PIN, password=b_password)
    await course.run(carol, "upload", assignment=LAB, files={"file": ("carol.pdf", pdf("carol"))})
    await course.run(eve, "ready", assignment=LAB)
    await course.settle()
    secrets = Secrets(
        pin=A_PIN,
        passwords=[first, second],
        filenames=list(a_files),
        contents=list(a_files.values()),
        user_ids=[alice.id, bob.id],
    )
    return Lab(course, secrets, alice, carol, dave, eve)


def student_commands(course: Course) -> list[AppCommand]:
    found = [c for c in walk_commands(course.bot) if not is_staff_command(c)]
    names = {c.qualified_name for c in found}
    assert {"ready", "group info", "status", "download", "assignments"} <= names, names
    return found


def own_options(lab: Lab, user: SandboxUser, command: AppCommand) -> dict[str, Any]:
    """Options a group-B student would type: only what they know themselves."""
    options: dict[str, Any] = {}
    for param in command.parameters:
        kind, name = param.type, param.name
        if kind is AppCommandOptionType.attachment:
            options[name] = (f"{user.username}-own.pdf", pdf(user.username))
        elif kind is AppCommandOptionType.boolean:
            options[name] = False
        elif name == "assignment":
            options[name] = LAB
        elif name == "pin":
            options[name] = B_PIN
        elif name == "password":
            options[name] = WRONG_PASSWORD
        elif param.required:
            raise AssertionError(f"no test value for /{command.qualified_name} {name}")
    return options


async def autocomplete_everything(lab: Lab, user: SandboxUser) -> None:
    """Type into every option that autocompletes, of every command (staff ones included: a
    client can send autocomplete for a command it hides)."""
    course = lab.course
    for command in walk_commands(course.bot):
        params = {p.display_name: p for p in command.parameters}
        # The assignment is filled in, as a client does: `/assignment extend pin` reads it.
        context = {n: LAB for n in params if n in ("assignment", "name")}
        for name, param in params.items():
            if not param.autocomplete:
                continue
            for typed in ("", "lab", A_PIN[:1], A_PIN[:2]):
                options = dict(context) | {name: typed}
                await course.sandbox.autocomplete(
                    user, command.qualified_name, options, focused=name
                )


async def sweep(lab: Lab, user: SandboxUser, commands: list[AppCommand]) -> None:
    course = lab.course
    for command in commands:
        files: dict[str, Any] = {}
        options = own_options(lab, user, command)
        for param in command.parameters:
            if param.type is AppCommandOptionType.attachment:
                files[param.display_name] = options.pop(param.name)
        await course.run(user, command.qualified_name, files=files, **options)
    await autocomplete_everything(lab, user)


async def wait_for_receipts(lab: Lab, users: list[SandboxUser]) -> None:
    await eventually(
        lambda: all(
            any("SHA-256" in str(m.embeds) for m in lab.course.sandbox.dms(u)) for u in users
        ),
        what="the receipts",
    )


async def test_no_student_command_shows_another_groups_secrets(course: Course) -> None:
    lab = await two_groups(course)
    commands = student_commands(course)
    for user in lab.outsiders:
        await sweep(lab, user, [c for c in commands if c.qualified_name not in AFTER_CLOSE])
    # After the deadline: receipts go out, and the archive (/download, /status) is open.
    await course.close(LAB)
    await wait_for_receipts(lab, [lab.carol, lab.dave])
    for user in lab.outsiders:
        await sweep(lab, user, commands)
    await course.settle()
    leaks = {u.username: lab.secrets.leaks(course.seen_by(u)) for u in lab.outsiders}
    assert leaks == {u.username: [] for u in lab.outsiders}
    # The detector is not blind: group A's own view trips it on every kind of secret.
    own = " ".join(lab.secrets.leaks(course.seen_by(lab.alice)))
    for kind in ("PIN", "password", "file name", "SHA-256", "user id"):
        assert kind in own
    # The sweep did reach the bot: group B saw its own files and password.
    dave = course.seen_by(lab.dave)
    assert "carol.pdf" in dave.text
    downloaded = {name for name, _ in dave.files}
    assert downloaded and downloaded <= {"carol.pdf", "carol-own.pdf", "dave-own.pdf"}
    group_b = course.seen_by(lab.carol).text + course.seen_by(lab.dave).text
    assert (await passwords_of(course, B_PIN))[0] in group_b


async def test_trying_group_a_pin_reveals_nothing_of_group_a(course: Course) -> None:
    """Typing group A's PIN (a guess that happens to be right) with a wrong password, in every
    command that takes a PIN, shows nothing of group A beyond the PIN the student typed."""
    lab = await two_groups(course)
    for user in lab.outsiders:
        for switch in (False, True):
            handle = await course.run(
                user,
                "group join",
                assignment=LAB,
                pin=A_PIN,
                password=WRONG_PASSWORD,
                switch=switch,
            )
            assert reply_of(handle).ephemeral
        await course.run(user, "group join", assignment=LAB, pin=A_PIN)
        await course.run(user, "group create", assignment=LAB, pin=A_PIN)
    await course.settle()
    for user in lab.outsiders:
        assert lab.secrets.leaks(course.seen_by(user), check_pin=False) == []
