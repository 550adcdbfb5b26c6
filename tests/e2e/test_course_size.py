"""A real course's size (SPEC §2): 150 students in 50 predefined groups (and 400 in 130), every
list complete through its pages and its CSV file, within Discord's limits, and the page buttons
only for the user who asked, disabled after their timeout."""

from __future__ import annotations

import pytest

import cogs._paging
from bot.client import HandinBot
from bot.i18n import t
from sandbox import SandboxUser
from tests.e2e.conftest import REPLY_TIMEOUT, Course, bot_config, eventually, says
from tests.e2e.paging import all_pages, button, buttons, check_limits, csv_rows, missing

pytestmark = pytest.mark.e2e

LAB = "Lab 3"


def group_name(n: int) -> str:
    # Long, non-ASCII and formula-looking names: what a CSV and a page must carry intact.
    return f"=Gruppe {n:03d} · Ærlig, «lang» og grundig arbeidsgruppe"


async def predefined_course(course: Course, students: int, groups: int) -> list[SandboxUser]:
    users = [course.student(f"student{n:03d}") for n in range(students)]
    await course.run(
        course.staff,
        "assignment create",
        name=LAB,
        closes="+2h",
        mode="predefined",
        reminders="off",
    )
    table = "group_name,member\n" + "".join(
        f'"{group_name(n % groups)}",{user.id}\n' for n, user in enumerate(users)
    )
    imported = await course.run(
        course.staff,
        "groups import",
        assignment=LAB,
        files={"file": ("groups.csv", table.encode(), "text/csv")},
    )
    assert imported.says("groups.imported"), imported.text
    return users


def numbers(course: Course) -> list[str]:
    return [str(r["number"]) for r in course.db("SELECT number FROM candidates ORDER BY number")]


async def check_groups_list(course: Course, students: int, groups: int) -> None:
    reply = await course.run(course.staff, "groups list", assignment=LAB)
    assert says(reply.text, "groups.list_title")
    pages = await all_pages(course, course.staff, reply.message)
    assert len(pages) > 1
    for n, text in enumerate(pages, start=1):
        assert t("en", "page.of", page=n, pages=len(pages)) in text
    everything = "\n".join(pages)
    names = [group_name(n) for n in range(groups)]
    assert missing(names, everything) == []
    assert len(numbers(course)) == students
    assert missing(numbers(course), everything) == []
    # The CSV: one row per member, formula-safe cells, every name and number.
    rows = csv_rows(reply.message)
    assert len(rows) == students
    assert {r["group_name"] for r in rows} == {"'" + name for name in names}
    assert sorted(r["candidate_number"] for r in rows) == numbers(course)
    assert len({r["group_pin"] for r in rows}) == groups


async def check_overview(course: Course, students: int, groups: int) -> None:
    reply = await course.run(course.staff, "assignment overview", name=LAB)
    # The first page shows the chart (attached with the CSV).
    assert reply.message.embeds[0]["image"]["url"] == "attachment://chart-overview.png"
    pages = await all_pages(course, course.staff, reply.message)
    everything = "\n".join(pages)
    assert t("en", "count.candidates", count=students) in pages[0]
    assert t("en", "count.groups", count=groups) in pages[0]
    assert missing([group_name(n) for n in range(groups)], everything) == []
    assert missing(numbers(course), everything) == []
    rows = csv_rows(reply.message)
    assert len(rows) == students
    assert sorted(r["candidate_number"] for r in rows) == numbers(course)
    # The picture staff would rather look at than read.
    [chart] = [f for f in reply.message.files if f.filename == "chart-overview.png"]
    assert chart.data.startswith(b"\x89PNG\r\n\x1a\n")


async def test_a_course_of_150_in_50_groups_is_listed_completely(course: Course) -> None:
    await predefined_course(course, 150, 50)
    await check_groups_list(course, 150, 50)
    await check_overview(course, 150, 50)
    listed = await course.run(course.staff, "assignment list")
    check_limits(listed.message)
    assert LAB in listed.text
    assert [r["assignment"] for r in csv_rows(listed.message)] == [LAB]
    # Nothing the bot sent was refused by Discord for its size.
    assert [e for e in course.sandbox.http_errors if e[2] == 400] == []


async def test_a_course_of_400_in_130_groups_is_listed_completely(course: Course) -> None:
    await predefined_course(course, 400, 130)
    await check_groups_list(course, 400, 130)
    await check_overview(course, 400, 130)
    assert [e for e in course.sandbox.http_errors if e[2] == 400] == []


async def test_only_the_user_who_asked_can_turn_the_pages(course: Course) -> None:
    users = await predefined_course(course, 90, 45)
    reply = await course.run(course.staff, "groups list", assignment=LAB)
    before = list(reply.message.embeds)
    other_ta = course.sandbox.add_member(course.guild, "ta_tuva", staff=True)
    for intruder in (other_ta, users[0]):
        next_id = str(button(reply.message, t("en", "page.next"))["custom_id"])
        handle = await course.sandbox.click(intruder, reply.message, next_id)
        refusal = await handle.wait_done(timeout=REPLY_TIMEOUT)
        assert refusal is not reply.message
        assert refusal.ephemeral
        assert says(refusal.content, "page.not_yours")
        # The list did not move for its owner.
        assert reply.message.embeds == before
    assert button(reply.message, t("en", "page.previous"))["disabled"]


async def test_page_buttons_are_disabled_after_their_timeout(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    await predefined_course(course, 90, 45)
    monkeypatch.setattr(cogs._paging, "PAGE_TIMEOUT", 1.0)
    reply = await course.run(course.staff, "groups list", assignment=LAB)
    assert not button(reply.message, t("en", "page.next"))["disabled"]
    await eventually(
        lambda: all(b.get("disabled") for b in buttons(reply.message)),
        10,
        "the page buttons to be disabled",
    )
    # The page itself stays as it was: only the buttons changed.
    assert says(reply.text, "groups.list_title")


async def test_a_long_upload_history_pages_in_status(course: Course) -> None:
    ada = course.student("ada")
    await course.run(
        course.staff, "assignment create", name=LAB, closes="+2h", mode="open", reminders="off"
    )
    await course.run(ada, "group create", assignment=LAB, pin="4242")
    long_name = "rapport-" + "x" * 180
    for n in range(25):
        stored = await course.upload(
            ada, LAB, (f"{long_name}-{n:02d}.pdf", f"%PDF {n}".encode(), "application/pdf")
        )
        assert stored.says("upload.done"), stored.text
    reply = await course.run(ada, "status", assignment=LAB)
    pages = await all_pages(course, ada, reply.message)
    assert len(pages) > 1
    assert missing([f"{long_name}-{n:02d}.pdf" for n in range(25)], "\n".join(pages)) == []


async def test_page_buttons_from_before_a_restart_say_so_and_are_disabled(
    offline_course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = offline_course
    first = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(first):
        course.bot = first
        await predefined_course(course, 90, 45)
        reply = await course.run(course.staff, "groups list", assignment=LAB)
    before = list(reply.message.embeds)
    # A new process starts with a new mark (bots in one test process share the module).
    monkeypatch.setattr(cogs._paging, "BOOT", "0badc0de")
    second = HandinBot(bot_config(course.sandbox, course.data_dir), guild_ready_timeout=0.05)
    async with course.sandbox.run_bot(second):
        next_id = str(button(reply.message, t("en", "page.next"))["custom_id"])
        handle = await course.sandbox.click(course.staff, reply.message, next_id)
        await handle.wait_done(timeout=REPLY_TIMEOUT)
        await eventually(lambda: bool(handle.followups), 10, "the expired-list notice")
    [notice] = handle.followups
    assert notice.ephemeral and says(notice.content, "page.expired"), notice.content
    assert all(b.get("disabled") for b in buttons(reply.message))
    # The page shown stays as it was: only its buttons are off.
    assert reply.message.embeds == before
