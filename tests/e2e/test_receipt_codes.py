"""Receipts you can prove (SPEC §8), through the real client: a student's receipt carries a code,
staff check it with /verify and see its fields; a tampered code is refused."""

from __future__ import annotations

import stat

import pytest

from bot import signing
from bot.i18n import t
from tests.e2e.conftest import Course, embed_field, pdf, receipt_sha, sha256

pytestmark = pytest.mark.e2e

LAB = "Lab 8"
CODE_FIELD = t("en", "receipt.code")


def _changed(code: str, index: int) -> str:
    return code[:index] + ("A" if code[index] != "A" else "B") + code[index + 1 :]


async def test_staff_verify_a_students_receipt_code_and_refuse_a_tampered_one(
    course: Course,
) -> None:
    ada, brage = course.students(["ada", "brage"])
    await course.run(course.staff, "assignment create", name=LAB, closes="+2s", reminders="off")
    await course.run(ada, "group create", assignment=LAB, pin="4711")
    await course.run(brage, "group join", assignment=LAB, pin="4711")
    report = pdf("final")
    await course.upload(ada, LAB, report)
    await course.wait_for_receipts([ada, brage])

    [receipt] = course.receipts(ada)
    shown = embed_field(receipt, CODE_FIELD)
    assert shown is not None and shown.startswith("`") and shown.endswith("`")
    code = shown.strip("`")
    assert len(code) < 300
    # Every member's receipt of one hand-in proves the same thing with the same code.
    [other] = course.receipts(brage)
    assert embed_field(other, CODE_FIELD) == shown
    assert receipt_sha(receipt) == sha256(report[1])

    # Staff paste it as it was shown, backticks and all.
    verified = await course.run(course.staff, "verify", receipt=shown)
    assert verified.says("verify.title"), verified.text
    assert verified.says("verify.standing.current"), verified.text
    assert verified.field(t("en", "group.pin")) == "`4711`"
    assert verified.field("SHA-256") == f"`{sha256(report[1])}`"
    assert verified.field(t("en", "receipt.file")) == report[0]

    tampered = await course.run(course.staff, "verify", receipt=_changed(code, 70))
    assert tampered.says("receipt_code.altered"), tampered.text
    assert not tampered.says("verify.title")
    garbage = await course.run(course.staff, "verify", receipt="I really did hand it in")
    assert garbage.says("receipt_code.not_base64"), garbage.text

    # (A student's /verify is refused in tests/security/test_staff_commands.py.)
    key = signing.key_file(course.data_dir)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


async def test_a_hand_in_in_parts_has_a_code_per_part_each_verified_alone(
    course: Course,
) -> None:
    ada = course.student("ada")
    await course.run(
        course.staff, "assignment create", name=LAB, closes="+2h", reminders="off",
        parts="report:pdf; code:zip",
    )  # fmt: skip
    await course.run(ada, "group create", assignment=LAB, pin="1000")
    report = pdf("our-report")
    await course.upload(ada, LAB, report, part="report")
    # Closed by staff rather than by a near deadline: no step above races the clock.
    await course.close(LAB)
    await course.wait_for_receipts([ada])

    [receipt] = course.receipts(ada)
    assert embed_field(receipt, t("en", "receipt.part_code", part="code")) is None
    shown = embed_field(receipt, t("en", "receipt.part_code", part="report"))
    assert shown is not None
    verified = await course.run(course.staff, "verify", receipt=shown.strip("`"))
    assert verified.says("verify.standing.current"), verified.text
    assert verified.field(t("en", "verify.part")) == "`report`"
    assert verified.field("SHA-256") == f"`{sha256(report[1])}`"
