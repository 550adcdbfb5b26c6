"""Receipt codes in the receipts, and /verify's check of them against the database."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot.domain.delivery import Delivery, DmFailure
from bot.domain.errors import StaffOnlyError
from bot.domain.models import Actor, Receipt
from bot.domain.receipt_codes import (
    ReceiptCodeAlteredError,
    ReceiptCodeNotBase64Error,
    ReceiptCodeOtherGuildError,
    ReceiptCodeOtherKeyError,
    ReceiptSigner,
)
from bot.services.receipt_codes import Standing
from bot.services.registry import Services
from storage.db import Database, fetch_all
from tests.clock import FakeClock
from tests.conftest import GUILD, STAFF, RecordingNotifier, incoming, make_assignment, sha, student

ALICE, BOB = student(1), student(2)
HOUR = 3600


async def handed_in(services: Services, clock: FakeClock, data: bytes = b"final work") -> None:
    """Lab 1 closes after an hour with Alice's and Bob's group 1234 holding `data`."""
    await make_assignment(services, closes="+1h")
    now = clock.now()
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, BOB, "Lab 1", "1234", sent_at=now)
    await upload(services, data, clock.now() + timedelta(seconds=60))
    clock.advance(HOUR)
    await services.finalizer.finalize_due()


async def upload(services: Services, data: bytes, when: object) -> None:
    await services.submissions.upload(
        GUILD,
        ALICE,
        "Lab 1",
        incoming(data, "report.pdf"),
        sent_at=when,  # type: ignore[arg-type]
    )


def receipt_of(notifier: RecordingNotifier, actor: Actor, revision: int = 1) -> Receipt:
    [found] = [
        r for r in notifier.receipts if r.user_id == actor.user_id and r.revision == revision
    ]
    return found


async def test_every_receipt_carries_a_code_of_its_fields(
    services: Services, db: Database, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await handed_in(services, clock)
    await services.receipts.deliver_pending()
    receipt = receipt_of(notifier, ALICE)
    assert receipt.code is not None
    fields = services.receipt_codes.signer.verifier.verify(receipt.code)
    rows = await fetch_all(db.conn, "SELECT recorded_at FROM submissions")
    assert len(rows) == 1
    assert (fields.guild_id, fields.assignment_id, fields.assignment_name) == (
        GUILD,
        receipt.assignment.id,
        "Lab 1",
    )
    assert (fields.pin, fields.part, fields.filename) == ("1234", None, "report.pdf")
    assert (fields.size, fields.sha256) == (len(b"final work"), sha(b"final work"))
    assert fields.sent_at == receipt.upload.sent_at.replace(microsecond=0)
    # Issued when the submission was recorded: at the deadline, not when the DM went out.
    assert fields.issued_at == receipt.assignment.closes_at.replace(microsecond=0)


async def test_a_receipt_retried_later_shows_the_same_code(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    """A receipt sent again after a failure (or a crash) is the same receipt, code included."""
    await handed_in(services, clock)
    notifier.failures[BOB.user_id] = [Delivery(DmFailure.TRANSIENT, 503)]
    assert await services.receipts.deliver_pending() == 1
    clock.advance(600)
    assert await services.receipts.deliver_pending() == 1
    assert receipt_of(notifier, BOB).code == receipt_of(notifier, ALICE).code


async def test_staff_verify_a_genuine_code_of_the_current_hand_in(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await handed_in(services, clock)
    await services.receipts.deliver_pending()
    code = receipt_of(notifier, ALICE).code
    assert code is not None
    checked = await services.receipt_codes.verify(GUILD, STAFF, code)
    assert checked.standing is Standing.CURRENT
    assert checked.fields.sha256 == sha(b"final work")
    assert checked.key_id == services.receipt_codes.signer.key_id.hex()


async def test_a_code_of_a_replaced_hand_in_says_it_was_replaced(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await handed_in(services, clock, b"first")
    await services.receipts.deliver_pending()
    first = receipt_of(notifier, ALICE).code
    assert first is not None
    await services.assignments.reopen(GUILD, STAFF, "Lab 1", "+1h", sent_at=clock.now())
    await upload(services, b"second", clock.now() + timedelta(seconds=60))
    clock.advance(HOUR)
    await services.finalizer.finalize_due()
    await services.receipts.deliver_pending()
    second = receipt_of(notifier, ALICE, revision=2).code
    assert second is not None and second != first
    assert (await services.receipt_codes.verify(GUILD, STAFF, first)).standing is (
        Standing.REPLACED
    )
    assert (await services.receipt_codes.verify(GUILD, STAFF, second)).standing is (
        Standing.CURRENT
    )


async def test_a_genuine_code_of_a_hand_in_not_in_the_database_says_so(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await handed_in(services, clock)
    await services.receipts.deliver_pending()
    genuine = receipt_of(notifier, ALICE).code
    assert genuine is not None
    signer = services.receipt_codes.signer
    fields = signer.verifier.verify(genuine)
    for other in (
        dataclasses.replace(fields, sha256="00" * 32),
        dataclasses.replace(fields, pin="9999"),
        dataclasses.replace(fields, assignment_id=fields.assignment_id + 50),
    ):
        checked = await services.receipt_codes.verify(GUILD, STAFF, signer.sign(other))
        assert checked.standing is Standing.MISSING


async def test_a_student_cannot_verify_codes(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await handed_in(services, clock)
    await services.receipts.deliver_pending()
    code = receipt_of(notifier, ALICE).code
    assert code is not None
    with pytest.raises(StaffOnlyError):
        await services.receipt_codes.verify(GUILD, ALICE, code)


async def test_staff_of_another_server_are_refused_its_fields(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await handed_in(services, clock)
    await services.receipts.deliver_pending()
    code = receipt_of(notifier, ALICE).code
    assert code is not None
    with pytest.raises(ReceiptCodeOtherGuildError):
        await services.receipt_codes.verify(GUILD + 1, STAFF, code)


async def test_verify_refuses_a_tampered_code(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await handed_in(services, clock)
    await services.receipts.deliver_pending()
    code = receipt_of(notifier, ALICE).code
    assert code is not None
    tampered = code[:50] + ("A" if code[50] != "A" else "B") + code[51:]
    with pytest.raises(ReceiptCodeAlteredError):
        await services.receipt_codes.verify(GUILD, STAFF, tampered)


async def test_verify_refuses_a_code_of_another_key(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await handed_in(services, clock)
    await services.receipts.deliver_pending()
    code = receipt_of(notifier, ALICE).code
    assert code is not None
    fields = services.receipt_codes.signer.verifier.verify(code)
    with pytest.raises(ReceiptCodeOtherKeyError):
        await services.receipt_codes.verify(GUILD, STAFF, ReceiptSigner.generate().sign(fields))


async def test_verify_refuses_garbage(services: Services) -> None:
    with pytest.raises(ReceiptCodeNotBase64Error):
        await services.receipt_codes.verify(GUILD, STAFF, "I handed it in, promise!")


async def test_with_parts_each_part_has_its_own_code(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, closes="+1h", parts="report:pdf; code:zip")
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=clock.now())
    for data, name, part in ((b"pdf", "report.pdf", "report"), (b"zip", "code.zip", "code")):
        await services.submissions.upload(
            GUILD,
            ALICE,
            "Lab 1",
            incoming(data, name),
            sent_at=clock.now() + timedelta(seconds=60),
            part=part,
        )
    clock.advance(HOUR)
    await services.finalizer.finalize_due()
    await services.receipts.deliver_pending()
    receipt = receipt_of(notifier, ALICE)
    assert receipt.code is None
    by_part = {final.part.name: receipt.part_codes[final.part.id] for final in receipt.parts}
    for part, data, name in (("report", b"pdf", "report.pdf"), ("code", b"zip", "code.zip")):
        checked = await services.receipt_codes.verify(GUILD, STAFF, by_part[part])
        assert (checked.fields.part, checked.fields.filename) == (part, name)
        assert checked.fields.sha256 == sha(data)
        assert checked.standing is Standing.CURRENT
