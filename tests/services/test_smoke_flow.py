"""A whole open-mode hand-in through the services: the backbone the other tests refine."""

from __future__ import annotations

from bot.services.registry import Services
from tests.clock import FakeClock
from tests.conftest import GUILD, RecordingNotifier, incoming, later, make_assignment, sha, student


async def test_open_mode_lifecycle_records_latest_upload_and_sends_receipts(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await make_assignment(services, closes="+1h")
    alice, bob = student(1), student(2)
    await services.groups.create(GUILD, alice, "lab 1", "1234", sent_at=clock.now())
    joined = await services.groups.join(GUILD, bob, "Lab 1", "1234", sent_at=clock.now())
    assert {m.user_id for m in joined.members} == {alice.user_id, bob.user_id}

    first = await services.submissions.upload(
        GUILD, alice, "Lab 1", incoming(b"draft"), sent_at=later(clock, 60)
    )
    second = await services.submissions.upload(
        GUILD, bob, "Lab 1", incoming(b"final", "final.pdf"), sent_at=later(clock, 120)
    )
    assert first.upload.sha256 == sha(b"draft")
    assert [n.recipients for n in notifier.notices] == [(bob.user_id,), (alice.user_id,)]

    clock.advance(3600)
    changes = await services.finalizer.finalize_due()
    assert len(changes) == 1 and changes[0].upload is not None
    assert changes[0].upload.id == second.upload.id
    delivered = await services.receipts.deliver_pending()
    assert delivered == 2
    assert {r.user_id for r in notifier.receipts} == {alice.user_id, bob.user_id}
    assert all(r.upload.sha256 == sha(b"final") for r in notifier.receipts)
    assert {r.assignment.id for r in notifier.receipts} == {assignment.id}
    # Idempotent: running again records and sends nothing more.
    assert await services.finalizer.finalize_due() == []
    assert await services.receipts.deliver_pending() == 0
    assert len(notifier.receipts) == 2
