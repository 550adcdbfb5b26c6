"""Forming groups through the real client: password mode, predefined groups, a race for the last
seats, and the PIN guessing limit."""

from __future__ import annotations

import asyncio

import pytest

from bot.i18n import t
from sandbox import SandboxMessage
from tests.e2e.conftest import Course, Reply, embed_field, pdf

pytestmark = pytest.mark.e2e

LAB = "Lab 2"


def password_in(message: SandboxMessage | Reply) -> str:
    """The password shown in a group embed: always inside a code block (SPEC §1)."""
    target = message.message if isinstance(message, Reply) else message
    value = embed_field(target, t("en", "group.password"))
    assert value is not None, "no password field"
    assert value.startswith("```") and value.endswith("```"), value
    return value.strip("`").strip()


async def test_password_mode_join_and_regenerate(course: Course) -> None:
    ada, brage, cecilie = course.students(["ada", "brage", "cecilie"])
    await course.run(
        course.staff, "assignment create", name=LAB, closes="+2h", mode="password", reminders="off"
    )
    created = await course.run(ada, "group create", assignment=LAB, pin="4711")
    # The PIN and password went by DM, not into the reply.
    [dm] = course.sandbox.dms(ada)
    first = password_in(dm)
    assert len(first) == 16
    assert first not in created.text
    assert course.scalar("SELECT password FROM groups WHERE pin = '4711'") == first

    wrong = await course.run(brage, "group join", assignment=LAB, pin="4711", password="x" * 16)
    assert wrong.says("error.wrong_password")
    missing = await course.run(brage, "group join", assignment=LAB, pin="4711")
    assert missing.says("error.password_required")
    assert course.members_of(LAB, "4711") == {ada.id}

    joined = await course.run(brage, "group join", assignment=LAB, pin="4711", password=first)
    assert joined.says("group.joined")
    assert course.members_of(LAB, "4711") == {ada.id, brage.id}

    # Any member may regenerate; the old password stops working at once.
    regenerated = await course.run(brage, "group password", assignment=LAB)
    second = password_in(regenerated)
    assert second != first and len(second) == 16
    assert course.scalar("SELECT password FROM groups WHERE pin = '4711'") == second

    old = await course.run(cecilie, "group join", assignment=LAB, pin="4711", password=first)
    assert old.says("error.wrong_password")
    assert course.members_of(LAB, "4711") == {ada.id, brage.id}
    new = await course.run(cecilie, "group join", assignment=LAB, pin="4711", password=second)
    assert new.says("group.joined")
    assert course.members_of(LAB, "4711") == {ada.id, brage.id, cecilie.id}
    # Only wrong passwords count as guesses; a missing one does not.
    failures = course.db("SELECT user_id FROM join_failures ORDER BY id")
    assert [r["user_id"] for r in failures] == [brage.id, cecilie.id]
    # /group info shows the current password to a member, privately.
    info = await course.run(cecilie, "group info", assignment=LAB)
    assert password_in(info) == second


async def test_predefined_groups_by_staff_only(course: Course) -> None:
    ada, brage, cecilie, dag = course.students(["ada", "brage", "cecilie", "dag"])
    await course.run(
        course.staff,
        "assignment create",
        name=LAB,
        closes="+2h",
        mode="predefined",
        reminders="off",
    )
    added = await course.run(course.staff, "groups add", assignment=LAB, member=ada, group="Team A")
    assert added.says("groups.added")
    table = f"group_name,member\nTeam B,brage\nTeam B,<@{cecilie.id}>\n".encode()
    imported = await course.run(
        course.staff,
        "groups import",
        assignment=LAB,
        files={"file": ("groups.csv", table, "text/csv")},
    )
    assert imported.says("groups.imported"), imported.text
    groups = {r["name"]: r["pin"] for r in course.db("SELECT name, pin FROM groups ORDER BY name")}
    assert set(groups) == {"Team A", "Team B"}
    # Every group in every mode has a distinct 4-digit PIN.
    assert all(len(p) == 4 and p.isdigit() for p in groups.values())
    assert len(set(groups.values())) == 2
    assert course.members_of(LAB, groups["Team A"]) == {ada.id}
    assert course.members_of(LAB, groups["Team B"]) == {brage.id, cecilie.id}

    # A bad import changes nothing (all or nothing), and says which line is wrong.
    before = course.snapshot(LAB)
    bad = await course.run(
        course.staff,
        "groups import",
        assignment=LAB,
        files={
            "file": ("groups.csv", b"group_name,member\nTeam C,dag\nTeam C,nobody\n", "text/csv")
        },
    )
    assert bad.says("error.csv_import")
    assert bad.says("csv.line")
    assert course.snapshot(LAB) == before

    # Students cannot form groups in predefined mode.
    refused = await course.run(dag, "group create", assignment=LAB)
    assert refused.says("error.predefined_groups")
    join = await course.run(dag, "group join", assignment=LAB, pin=groups["Team A"])
    assert join.says("error.predefined_groups")
    assert course.snapshot(LAB) == before

    # An unassigned student cannot upload; nothing is stored.
    unassigned = await course.upload(dag, LAB, pdf("dag"))
    assert unassigned.says("error.not_assigned")
    assert course.snapshot(LAB) == before

    # An assigned member can, for the whole group.
    stored = await course.upload(cecilie, LAB, pdf("team-b"))
    assert stored.says("upload.done")
    [upload] = course.db("SELECT g.name FROM uploads u JOIN groups g ON g.id = u.group_id")
    assert upload["name"] == "Team B"
    # The bot checks staff rights itself, even for a client that shows students the command.
    before = course.snapshot(LAB)
    handle = await course.sandbox.invoke(
        dag,
        "groups add",
        {"assignment": LAB, "member": dag, "group": "Team A"},
        check_permissions=False,
    )
    sneaky = await course.answer(handle)
    assert sneaky.says("error.staff_only")
    assert course.snapshot(LAB) == before


async def test_concurrent_joins_never_overfill_a_group(course: Course) -> None:
    creator = course.student("creator")
    joiners = course.students([f"s{i}" for i in range(6)])
    await course.run(
        course.staff, "assignment create", name=LAB, closes="+2h", max_group_size=3,
        reminders="off",
    )  # fmt: skip
    await course.run(creator, "group create", assignment=LAB, pin="1234")

    # Six joins in flight at once, for the two free seats.
    handles = await asyncio.gather(
        *(course.send(s, "group join", assignment=LAB, pin="1234") for s in joiners)
    )
    replies = await asyncio.gather(*(course.answer(h) for h in handles))

    members = course.members_of(LAB, "1234")
    assert len(members) == 3
    assert creator.id in members
    joined = [r for r in replies if r.says("group.joined")]
    full = [r for r in replies if r.says("error.group_full")]
    assert len(joined) == 2 and len(full) == 4, [r.text for r in replies]
    assert {r.handle.user.id for r in joined} == members - {creator.id}
    # A full group is not a guess.
    assert course.db("SELECT * FROM join_failures") == []


async def test_pin_guessing_locks_out_even_the_right_pin(course: Course) -> None:
    ada, mallory = course.students(["ada", "mallory"])
    await course.run(course.staff, "assignment create", name=LAB, closes="+2h", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="1234")
    before = course.snapshot(LAB)

    for guess in ("0001", "0002", "0003", "0004"):
        reply = await course.run(mallory, "group join", assignment=LAB, pin=guess)
        assert reply.says("error.group_not_found"), reply.text
    # A malformed PIN is not a guess: the next wrong PIN is still answered as one.
    malformed = await course.run(mallory, "group join", assignment=LAB, pin="12a4")
    assert malformed.says("error.pin_format")
    fifth = await course.run(mallory, "group join", assignment=LAB, pin="0005")
    assert fifth.says("error.group_not_found"), fifth.text

    sixth = await course.run(mallory, "group join", assignment=LAB, pin="1234")
    assert sixth.says("error.too_many_attempts"), sixth.text
    assert "<t:" in sixth.text  # until when, as a Discord timestamp
    assert course.snapshot(LAB) == before
    assert course.members_of(LAB, "1234") == {ada.id}
    failures = course.db("SELECT user_id FROM join_failures")
    assert [r["user_id"] for r in failures] == [mallory.id] * 5
    # Someone else is not affected.
    other = course.student("brage")
    ok = await course.run(other, "group join", assignment=LAB, pin="1234")
    assert ok.says("group.joined")
