"""Random sequences of group and upload commands, checked against a simple model after each step.

One open-mode assignment, four students, `max_group_size` 2. The model knows which groups exist,
who is in them and what each group uploaded (and when); after every step the database must
agree with it, and once the assignment is closed every group's final submission must be the
model's latest upload.

The same machine runs on an assignment in two parts (SPEC §6), with `auto_submit` on and off:
uploads name a part (or none, or one that does not exist, or a file of the wrong type), and
each part's final must be that part's latest upload, or with `auto_submit` off the upload that
the group's latest hand-in took for that part.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot.domain.errors import (
    AlreadyInGroupError,
    AlreadyInThisGroupError,
    DeadlinePassedError,
    DomainError,
    GroupFullError,
    MembershipLockedError,
    NothingToHandInError,
    NotInGroupError,
    PartFileTypeError,
    PartRequiredError,
    PinTakenError,
    TooManyAttemptsError,
    UnknownPartError,
)
from bot.domain.grouping import lockout_until
from bot.domain.models import GroupMode
from bot.services.assignments import AssignmentOptions
from bot.services.registry import build_services
from storage.db import fetch_all
from storage.files import FileStore
from tests.backends import forget_database_at, open_database_at
from tests.clock import FakeClock
from tests.conftest import GUILD, LIMIT, STAFF, START, RecordingNotifier, incoming, sha, student

T = TypeVar("T")

STUDENTS = [1, 2, 3, 4]
PINS = ["1111", "2222", "3333"]
MAX_SIZE = 2
NAME = "Lab 1"
EXTS = ["pdf", "zip"]


class HandInMachine(RuleBasedStateMachine):
    # Part names with the one file type each takes; none: one file per hand-in.
    parts: tuple[tuple[str, str], ...] = ()
    auto_submit = True

    def __init__(self) -> None:
        super().__init__()
        # A sync state machine driving async services: one private loop per example.
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="handin-sm-"))
        self.clock = FakeClock(START)
        self.db = self.run(open_database_at(self.tmp / "db.sqlite3"))
        self.files = FileStore(self.tmp / "files")
        self.files.prepare()
        self.services = build_services(
            self.db, self.files, self.clock, RecordingNotifier(), inflight_wait=0.01
        )
        assignment = self.run(
            self.services.assignments.create(
                GUILD,
                STAFF,
                NAME,
                AssignmentOptions(
                    closes="+1h",
                    mode=GroupMode.OPEN,
                    max_group_size=MAX_SIZE,
                    auto_submit=self.auto_submit,
                    parts="; ".join(f"{name}:{ext}" for name, ext in self.parts) or None,
                ),
                sent_at=self.clock.now(),
                upload_limit_bytes=LIMIT,
            )
        )
        self.deadline = assignment.closes_at
        # The model.
        self.member_of: dict[int, str | None] = dict.fromkeys(STUDENTS)
        self.groups: dict[str, set[int]] = {}
        self.uploads: dict[str, list[tuple[datetime, str]]] = {}
        # With parts: per (PIN, part) the uploads; per (PIN, part) what each hand-in took.
        self.part_uploads: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        self.handed: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        self.closed = False
        self.counter = 0
        # Failed attempts per user: a create asking for a taken PIN counts as a guess.
        self.failures: dict[int, list[datetime]] = {user: [] for user in STUDENTS}

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.db.close())
            self.run(forget_database_at(self.tmp / "db.sqlite3"))
        finally:
            self.loop.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------
    def open_now(self) -> bool:
        return not self.closed and self.clock.now() < self.deadline

    def locked_out(self, user: int) -> bool:
        return lockout_until(self.failures[user], self.clock.now()) is not None

    def attempt(self, coro: Awaitable[T], refusals: set[type[DomainError]]) -> T | None:
        """Run a command; it must succeed when `refusals` is empty, else fail with one of them."""
        try:
            result = self.run(coro)
        except DomainError as exc:
            assert refusals, f"unexpected refusal {exc!r}"
            assert type(exc) in refusals, f"{exc!r} not in {refusals}"
            return None
        assert not refusals, f"expected one of {refusals}, but it succeeded"
        return result

    def remove(self, user: int) -> None:
        pin = self.member_of[user]
        assert pin is not None
        self.groups[pin].discard(user)
        self.member_of[user] = None
        if not self.groups[pin] and not self.uploads.get(pin):
            del self.groups[pin]

    # --- rules ---------------------------------------------------------------------------
    @rule(user=st.sampled_from(STUDENTS), pin=st.sampled_from([*PINS, None]))
    def create(self, user: int, pin: str | None) -> None:
        refusals: set[type[DomainError]] = set()
        if self.member_of[user] is not None:
            refusals.add(AlreadyInGroupError)
        if not self.open_now():
            refusals.add(MembershipLockedError)
        guessing = not refusals and pin is not None
        if guessing and self.locked_out(user):
            refusals.add(TooManyAttemptsError)
        elif guessing and pin in self.groups:
            refusals.add(PinTakenError)
            self.failures[user].append(self.clock.now())
        created = self.attempt(
            self.services.groups.create(GUILD, student(user), NAME, pin, sent_at=self.clock.now()),
            refusals,
        )
        if created is not None:
            chosen = created.view.group.pin
            assert pin is None or chosen == pin
            assert chosen not in self.groups
            self.groups[chosen] = {user}
            self.member_of[user] = chosen

    @precondition(lambda self: bool(self.groups))
    @rule(user=st.sampled_from(STUDENTS), which=st.integers(0, 3), switch=st.booleans())
    def join(self, user: int, which: int, switch: bool) -> None:
        # By creation order, not by PIN: random PINs differ between runs of the same example.
        pin = list(self.groups)[which % len(self.groups)]
        current = self.member_of[user]
        refusals: set[type[DomainError]] = set()
        if self.locked_out(user):
            # Checked before anything about the group: a locked-out user learns nothing.
            self.attempt(
                self.services.groups.join(
                    GUILD, student(user), NAME, pin, switch=switch, sent_at=self.clock.now()
                ),
                {TooManyAttemptsError},
            )
            return
        if current == pin:
            refusals.add(AlreadyInThisGroupError)
        elif current is not None and not switch:
            refusals.add(AlreadyInGroupError)
        if not self.open_now():
            refusals.add(MembershipLockedError)
        if current != pin and len(self.groups[pin]) >= MAX_SIZE:
            refusals.add(GroupFullError)
        joined = self.attempt(
            self.services.groups.join(
                GUILD, student(user), NAME, pin, switch=switch, sent_at=self.clock.now()
            ),
            refusals,
        )
        if joined is not None:
            if current is not None:
                self.remove(user)
            self.groups[pin].add(user)
            self.member_of[user] = pin

    @rule(user=st.sampled_from(STUDENTS))
    def leave(self, user: int) -> None:
        refusals: set[type[DomainError]] = set()
        if self.member_of[user] is None:
            refusals.add(NotInGroupError)
        elif not self.open_now():
            refusals.add(MembershipLockedError)
        left = self.attempt(
            self.services.groups.leave(GUILD, student(user), NAME, sent_at=self.clock.now()),
            refusals,
        )
        if left is not None:
            pin = self.member_of[user]
            self.remove(user)
            assert left.deleted == (pin not in self.groups)

    @rule(user=st.sampled_from(STUDENTS), which=st.integers(0, 3), ext=st.sampled_from(EXTS))
    def upload(self, user: int, which: int, ext: str) -> None:
        self.counter += 1
        data = f"upload {self.counter}".encode()
        sent_at = self.clock.now()
        pin = self.member_of[user]
        # With parts: one of them, none, or one that does not exist.
        names = [name for name, _ in self.parts]
        part = ([*names, None, "slides"][which % (len(names) + 2)]) if self.parts else None
        refusals: set[type[DomainError]] = set()
        if pin is None:
            refusals.add(NotInGroupError)
        elif not self.open_now():
            refusals.add(DeadlinePassedError)
        elif self.parts and part is None:
            refusals.add(PartRequiredError)
        elif self.parts and part not in names:
            refusals.add(UnknownPartError)
        elif self.parts and dict(self.parts)[str(part)] != ext:
            refusals.add(PartFileTypeError)
        done = self.attempt(
            self.services.submissions.upload(
                GUILD,
                student(user),
                NAME,
                incoming(data, f"file.{ext}"),
                sent_at=sent_at,
                part=part,
            ),
            refusals,
        )
        if done is not None:
            assert pin is not None
            self.uploads.setdefault(pin, []).append((sent_at, sha(data)))
            if part is not None:
                self.part_uploads.setdefault((pin, part), []).append((sent_at, sha(data)))

    @rule(user=st.sampled_from(STUDENTS))
    def handin(self, user: int) -> None:
        pin = self.member_of[user]
        refusals: set[type[DomainError]] = set()
        if pin is None:
            refusals.add(NotInGroupError)
        elif not self.open_now():
            refusals.add(DeadlinePassedError)
        elif not self.uploads.get(pin):
            refusals.add(NothingToHandInError)
        now = self.clock.now()
        done = self.attempt(
            self.services.submissions.handin(GUILD, student(user), NAME, sent_at=now),
            refusals,
        )
        if done is not None and pin is not None:
            # Every part's latest upload at once.
            for name, _ in self.parts:
                latest = self.part_uploads.get((pin, name))
                if latest:
                    self.handed.setdefault((pin, name), []).append((now, latest[-1][1]))

    @rule(seconds=st.integers(min_value=1, max_value=900))
    def wait(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def close(self) -> None:
        if self.open_now():
            self.run(
                self.services.assignments.close_now(GUILD, STAFF, NAME, sent_at=self.clock.now())
            )
            self.deadline = self.clock.now()
        else:
            self.run(self.services.finalizer.finalize_due())
        self.closed = True
        self.clock.advance(1)

    # --- invariants ----------------------------------------------------------------------
    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.run(fetch_all(self.db.conn, sql))]

    @invariant()
    def groups_and_members_match_the_model(self) -> None:
        members: dict[str, set[int]] = {
            str(pin): set() for (pin,) in self.rows("SELECT pin FROM groups")
        }
        for pin, user in self.rows(
            "SELECT g.pin, m.user_id FROM memberships m JOIN groups g ON g.id = m.group_id"
        ):
            members[str(pin)].add(int(user) - 100)
        assert members == self.groups

    @invariant()
    def one_group_per_candidate(self) -> None:
        users = [user for (user,) in self.rows("SELECT user_id FROM memberships")]
        assert len(users) == len(set(users))

    @invariant()
    def no_group_exceeds_the_size_limit(self) -> None:
        sizes = self.rows("SELECT count(*) FROM memberships GROUP BY group_id")
        assert all(int(n) <= MAX_SIZE for (n,) in sizes)

    @invariant()
    def pins_are_unique(self) -> None:
        pins = [pin for (pin,) in self.rows("SELECT pin FROM groups")]
        assert len(pins) == len(set(pins))

    @invariant()
    def after_close_each_parts_final_is_its_latest_upload_or_hand_in(self) -> None:
        if not self.closed or not self.parts:
            return
        finals = {
            (str(pin), str(part)): digest
            for pin, part, digest in self.rows(
                "SELECT g.pin, p.name, u.sha256 FROM groups g"
                " JOIN submission_parts sp ON sp.group_id = g.id"
                " AND sp.revision = (SELECT max(revision) FROM submissions WHERE group_id = g.id)"
                " JOIN assignment_parts p ON p.id = sp.part_id"
                " JOIN uploads u ON u.id = sp.upload_id"
            )
        }
        source = self.part_uploads if self.auto_submit else self.handed
        expected = {}
        for key, items in source.items():
            eligible = [
                (at, i, digest) for i, (at, digest) in enumerate(items) if at < self.deadline
            ]
            if eligible:
                expected[key] = max(eligible)[2]
        assert finals == expected
        # No part of a parts assignment is ever recorded in the revision's own upload column.
        assert self.rows("SELECT count(*) FROM submissions WHERE upload_id IS NOT NULL") == [(0,)]

    @invariant()
    def after_close_the_final_submission_is_the_latest_upload(self) -> None:
        if not self.closed or self.parts:
            return
        finals: dict[object, object] = {
            pin: digest
            for pin, digest in self.rows(
                "SELECT g.pin, u.sha256 FROM groups g"
                " JOIN submissions s ON s.group_id = g.id"
                " AND s.revision = (SELECT max(revision) FROM submissions WHERE group_id = g.id)"
                " LEFT JOIN uploads u ON u.id = s.upload_id"
            )
        }
        expected: dict[object, object] = {}
        for pin, uploads in self.uploads.items():
            eligible = [
                (at, i, digest) for i, (at, digest) in enumerate(uploads) if at < self.deadline
            ]
            if eligible:
                expected[pin] = max(eligible)[2]
        assert finals == expected


HandInMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestHandInMachine = HandInMachine.TestCase


class PartsHandInMachine(HandInMachine):
    parts = (("report", "pdf"), ("code", "zip"))


class PartsHandInOnlyMachine(HandInMachine):
    parts = (("report", "pdf"), ("code", "zip"))
    auto_submit = False


for machine in (PartsHandInMachine, PartsHandInOnlyMachine):
    machine.TestCase.settings = HandInMachine.TestCase.settings
TestPartsHandInMachine = PartsHandInMachine.TestCase
TestPartsHandInOnlyMachine = PartsHandInOnlyMachine.TestCase
