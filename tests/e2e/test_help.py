"""/help through the real client: per role, in the reader's language, one example each."""

from __future__ import annotations

import pytest

from bot.help import COMMANDS, example
from bot.i18n import t
from tests.e2e.conftest import Course
from tests.e2e.paging import all_pages, check_limits

pytestmark = pytest.mark.e2e


async def test_a_student_sees_the_students_commands_with_examples(course: Course) -> None:
    ada = course.student("ada")
    reply = await course.run(ada, "help")
    check_limits(reply.message)
    text = "\n".join(await all_pages(course, ada, reply.message))
    for entry in COMMANDS:
        assert (example("en", entry) in text) is (not entry.staff), entry.command
    assert t("en", "help.staff") not in text


async def test_staff_see_their_commands_too(course: Course) -> None:
    reply = await course.run(course.staff, "help")
    text = "\n".join(await all_pages(course, course.staff, reply.message))
    assert all(example("en", entry) in text for entry in COMMANDS)
    assert t("en", "help.staff") in text


async def test_help_speaks_the_readers_language(course: Course) -> None:
    kari = course.student("kari", locale="nb")
    reply = await course.run(kari, "help", locale="nb")
    text = "\n".join(await all_pages(course, kari, reply.message))
    assert t("no", "help.title") in text
    [upload] = [e for e in COMMANDS if e.command == "upload"]
    assert example("no", upload) in text
