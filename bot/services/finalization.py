"""Records each group's final submission at its deadline, and delivers the receipts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from bot.domain.clock import Clock
from bot.domain.delivery import Delivery, DmFailure, next_attempt
from bot.domain.models import (
    Assignment,
    Group,
    HandIn,
    Member,
    Part,
    PartFinal,
    Receipt,
    ReceiptDue,
    Upload,
    deadlines_for,
)
from bot.domain.receipt_codes import ReceiptSigner
from bot.services.inflight import InFlightUploads
from bot.services.ports import Notifier, Wakeups
from bot.services.receipt_codes import sign_submission
from storage.db import Connection, Database
from storage.repos import assignments as assignment_repo
from storage.repos import confirmations as confirm_repo
from storage.repos import finalize as finalize_repo
from storage.repos import groups as group_repo
from storage.repos import misc as misc_repo
from storage.repos import uploads as upload_repo

log = logging.getLogger(__name__)

_Sent = TypeVar("_Sent", Upload, HandIn)

# Receipts read from the outbox at a time.
BATCH = 100
# How long a claim on a receipt keeps other processes off it: it is taken right before the DM
# goes out (after its wait for a turn) and ends when the outcome is written, so it covers one
# send; a claim of a process that died runs out, and another sends the receipt again (its
# nonce makes Discord keep one message).
CLAIM_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class FinalChoice:
    """What a group hands in, decided from the uploads' and hand-ins' `sent_at` alone."""

    upload: Upload | None
    handin_id: int | None
    late: bool
    # With parts: each part's choice (`upload` and `handin_id` are None then).
    parts: tuple[PartFinal, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to hand in, in any part."""
        return self.upload is None and not any(p.upload for p in self.parts)


@dataclass(frozen=True, slots=True)
class FinalizationChange:
    """A new revision of a group's final submission, with the receipts it queued."""

    assignment_id: int
    group_id: int
    revision: int
    upload: Upload | None
    late: bool
    replaces: bool
    receipts: int
    parts: tuple[PartFinal, ...] = ()

    @property
    def empty(self) -> bool:
        return self.upload is None and not any(p.upload for p in self.parts)


async def choose_final(conn: Connection, assignment: Assignment, group: Group) -> FinalChoice:
    """The group's final submission as of its deadline (the same whenever this runs)."""
    uploads = await upload_repo.uploads_of(conn, group.id)
    handins = await upload_repo.handins_of(conn, group.id)
    agreed = await agreed_uploads(conn, assignment, group)
    return choose_final_among(assignment, group, uploads, handins, agreed)


async def agreed_uploads(conn: Connection, assignment: Assignment, group: Group) -> frozenset[int]:
    """With `all_must_confirm`: the group's uploads every current member agreed to."""
    if not assignment.all_must_confirm:
        return frozenset()
    members = {m.user_id for m in await group_repo.members(conn, group.id)}
    return agreed_among(members, await confirm_repo.confirmed_by(conn, group.id))


def agreed_among(members: set[int], confirmed: dict[int, set[int]]) -> frozenset[int]:
    """The uploads (of `confirmed`: upload id -> who agreed) that every one of `members`
    agreed to; none for a group without members."""
    if not members:
        return frozenset()
    return frozenset(upload_id for upload_id, who in confirmed.items() if members <= who)


def waiting_among(
    assignment: Assignment,
    members: Sequence[Member],
    uploads: Sequence[Upload],
    confirmed: dict[int, set[int]],
) -> tuple[Member, ...]:
    """With `all_must_confirm`: the members who have not agreed to the latest upload (of each
    part); none when there is nothing to agree to."""
    if not assignment.all_must_confirm:
        return ()
    latest: dict[int | None, int] = {}
    for upload in uploads:  # sorted by sent_at: the last one of each part stays
        if not upload.by_staff:
            latest[upload.part_id] = upload.id
    return tuple(
        m
        for m in members
        if any(m.user_id not in confirmed.get(upload_id, set()) for upload_id in latest.values())
    )


def choose_final_among(
    assignment: Assignment,
    group: Group,
    uploads: Sequence[Upload],
    handins: Sequence[HandIn],
    agreed: frozenset[int] = frozenset(),
) -> FinalChoice:
    """The rule for a group's final submission, over its uploads and hand-ins (each sorted as
    `uploads_of` and `handins_of` give them: by `sent_at`, then id). The set-based first
    finalization (storage/repos/finalize.py) implements the auto_submit branch in SQL; a
    differential test keeps the two equal.

    With parts, the same rule holds in each part on its own uploads and on the hand-ins of
    them (`/handin` hands in every part's latest upload at once, so a hand-in of the whole is
    one hand-in row per part). `agreed`: with `all_must_confirm`, the uploads every current
    member agreed to."""
    if assignment.parts:
        finals = tuple(
            _choose_part(assignment, group, part, uploads, handins, agreed)
            for part in assignment.parts
        )
        late = any(f.late for f in finals if f.upload is not None)
        return FinalChoice(None, None, late, finals)
    return _choose_one(assignment, group, uploads, handins, agreed)


def _choose_part(
    assignment: Assignment,
    group: Group,
    part: Part,
    uploads: Sequence[Upload],
    handins: Sequence[HandIn],
    agreed: frozenset[int],
) -> PartFinal:
    mine = [u for u in uploads if u.part_id == part.id]
    ids = {u.id for u in mine}
    choice = _choose_one(
        assignment, group, mine, [h for h in handins if h.upload_id in ids], agreed
    )
    return PartFinal(part, choice.upload, choice.handin_id, choice.late)


def _choose_one(
    assignment: Assignment,
    group: Group,
    uploads: Sequence[Upload],
    handins: Sequence[HandIn],
    agreed: frozenset[int] = frozenset(),
) -> FinalChoice:
    """The rule's choice, unless staff handed in on the group's behalf since (SPEC §5b): the
    latest staff hand-in is final whenever it was sent (staff decided, so never late), until
    the group itself hands in something later that the rule accepts."""
    if assignment.all_must_confirm:
        chosen = _choose_agreed(assignment, group, uploads, handins, agreed)
    else:
        chosen = _choose_by_rule(assignment, group, uploads, handins)
    staff = [h for h in handins if h.by_staff]
    if not staff or _decided_after(chosen, handins, staff[-1]):
        return chosen
    upload = next((u for u in uploads if u.id == staff[-1].upload_id), None)
    return FinalChoice(upload, staff[-1].id, False)


def _choose_agreed(
    assignment: Assignment,
    group: Group,
    uploads: Sequence[Upload],
    handins: Sequence[HandIn],
    agreed: frozenset[int],
) -> FinalChoice:
    """`all_must_confirm`: the latest upload, once every current member agreed to it; an
    agreement to an older upload counts for nothing (a new upload resets it)."""
    deadlines = deadlines_for(assignment, group)
    upload = _last_sent_before([u for u in uploads if not u.by_staff], deadlines.final)
    if upload is None or upload.id not in agreed:
        return FinalChoice(None, None, False)
    of_it = [h for h in handins if h.upload_id == upload.id and deadlines.accepts(h.sent_at)]
    last = of_it[-1] if of_it else None
    late = deadlines.is_late(upload.sent_at if last is None else last.sent_at)
    return FinalChoice(upload, None if last is None else last.id, late)


def _decided_after(chosen: FinalChoice, handins: Sequence[HandIn], staff: HandIn) -> bool:
    """The rule's choice was sent after the staff hand-in (the upload, or its hand-in)."""
    if chosen.upload is None:
        return False
    handin = next((h for h in handins if h.id == chosen.handin_id), None)
    if handin is not None and handin.by_staff:
        return False
    moments = [chosen.upload.sent_at] + ([handin.sent_at] if handin is not None else [])
    return max(moments) > staff.sent_at


def _choose_by_rule(
    assignment: Assignment, group: Group, uploads: Sequence[Upload], handins: Sequence[HandIn]
) -> FinalChoice:
    deadlines = deadlines_for(assignment, group)
    if assignment.auto_submit and not assignment.submit_once:
        upload = _last_sent_before(uploads, deadlines.final)
        if upload is None:
            return FinalChoice(None, None, False)
        handin = _last_sent_before(handins, deadlines.final)
        handin_id = handin.id if handin is not None and handin.upload_id == upload.id else None
        return FinalChoice(upload, handin_id, deadlines.is_late(upload.sent_at))
    # Explicit hand-ins decide: always with auto_submit off, and with submit_once the first
    # hand-in is final at once (later uploads and hand-ins are refused).
    eligible = [h for h in handins if deadlines.accepts(h.sent_at)]
    if assignment.submit_once and eligible:
        chosen = eligible[0]
    elif eligible:
        chosen = eligible[-1]
    elif assignment.auto_submit:
        # submit_once without a hand-in: the latest upload still counts at the deadline.
        upload = _last_sent_before(uploads, deadlines.final)
        late = upload is not None and deadlines.is_late(upload.sent_at)
        return FinalChoice(upload, None, late)
    else:
        return FinalChoice(None, None, False)
    upload = next((u for u in uploads if u.id == chosen.upload_id), None)
    return FinalChoice(upload, chosen.id, deadlines.is_late(chosen.sent_at))


def _last_sent_before(items: Sequence[_Sent], moment: datetime) -> _Sent | None:
    """The latest item sent strictly before `moment` (`items` sorted by sent_at, then id)."""
    found = None
    for item in items:
        if item.sent_at >= moment:
            break
        found = item
    return found


async def record_final(
    conn: Connection, assignment: Assignment, group: Group, now: datetime
) -> FinalizationChange | None:
    """Finalize one group inside the caller's transaction; None when nothing new was recorded.

    Idempotent: the same uploads give the same choice, and an unchanged choice adds no revision
    and no receipt.
    """
    choice = await choose_final(conn, assignment, group)
    current = await upload_repo.current_submission(conn, group.id, assignment.parts)
    await group_repo.set_finalized(conn, group.id, now)
    current_upload_id = None if current is None or current.upload is None else current.upload.id
    chosen_upload_id = None if choice.upload is None else choice.upload.id
    if assignment.parts:
        if _parts_key(current.parts if current else ()) == _parts_key(choice.parts):
            return None
    elif current_upload_id == chosen_upload_id and (current is None or current.late == choice.late):
        return None
    revision = 1 if current is None else current.revision + 1
    await upload_repo.insert_submission(
        conn,
        group_id=group.id,
        revision=revision,
        upload_id=chosen_upload_id,
        handin_id=choice.handin_id,
        late=choice.late,
        recorded_at=now,
    )
    await upload_repo.insert_submission_parts(conn, group.id, revision, choice.parts)
    await upload_repo.supersede_pending_receipts(conn, group.id)
    members = await group_repo.members(conn, group.id) if not choice.empty else []
    replaced = await upload_repo.members_with_sent_receipt(conn, group.id)
    for member in members:
        # Only a member who actually got an earlier receipt is told this one replaces it.
        await upload_repo.insert_receipt(
            conn,
            group_id=group.id,
            revision=revision,
            user_id=member.user_id,
            replaces=member.user_id in replaced,
            created_at=now,
        )
    replaces = bool(replaced)
    return FinalizationChange(
        assignment_id=assignment.id,
        group_id=group.id,
        revision=revision,
        upload=choice.upload,
        late=choice.late,
        replaces=replaces,
        receipts=len(members),
        parts=choice.parts,
    )


def _parts_key(finals: Sequence[PartFinal]) -> frozenset[tuple[int, int, bool]]:
    """What a revision hands in, part by part (parts with nothing left out)."""
    return frozenset((f.part.id, f.upload.id, f.late) for f in finals if f.upload is not None)


async def _record_first_finals(
    conn: Connection, assignment: Assignment, groups: list[Group], now: datetime
) -> dict[int, FinalizationChange]:
    """`record_final` for many groups with auto_submit (not submit_once) and no submission yet,
    in a few statements; the changes by group id.

    Same result, group by group: the choice is `choose_final`'s auto_submit branch; with no
    current submission any chosen upload is new, so it becomes revision 1, and a group without
    one only gets `finalized_at`. No receipt can exist without its submission row (a foreign
    key), so there is nothing pending to supersede and nobody was sent one: `replaces` is off.
    """
    # Claimed first (UPDATE ... RETURNING): only the groups this statement finalized get a
    # revision here, so a group is never given two first submissions.
    claimed = await finalize_repo.set_finalized(conn, [group.id for group in groups], now)
    groups = [group for group in groups if group.id in claimed]
    if not groups:
        return {}
    deadlines = {group.id: deadlines_for(assignment, group) for group in groups}
    latest = await finalize_repo.latest_uploads_before(
        conn, [(group.id, deadlines[group.id].final) for group in groups]
    )
    changes = {
        found.group_id: FinalizationChange(
            assignment_id=assignment.id,
            group_id=found.group_id,
            revision=1,
            upload=found.upload,
            late=deadlines[found.group_id].is_late(found.upload.sent_at),
            replaces=False,
            receipts=found.members,
        )
        for found in latest
    }
    await finalize_repo.insert_first_submissions(
        conn,
        [
            (found.group_id, found.upload.id, found.handin_id, changes[found.group_id].late)
            for found in latest
        ],
        now,
    )
    await finalize_repo.insert_first_receipts(
        conn, [found.group_id for found in latest if found.members], now
    )
    return changes


async def due_deadlines(
    conn: Connection, now: datetime, assignment_id: int | None = None
) -> dict[int, datetime]:
    """The groups not finalized yet whose own deadline (and late window) has passed: group id
    to that deadline."""
    due: dict[int, datetime] = {}
    for assignment in await _assignments(conn, assignment_id):
        for group in await group_repo.unfinalized_groups(conn, assignment.id):
            final = deadlines_for(assignment, group).final
            if final <= now:
                due[group.id] = final
    return due


async def _due_assignment_ids(
    conn: Connection, now: datetime, assignment_id: int | None
) -> list[int]:
    """The assignments (all, or just `assignment_id`) with a group that is due at `now`."""
    open_ids = await finalize_repo.assignments_with_open_groups(conn)
    wanted = open_ids if assignment_id is None else [i for i in open_ids if i == assignment_id]
    due: list[int] = []
    for candidate in wanted:
        if await due_deadlines(conn, now, candidate):
            due.append(candidate)
    return due


async def _assignments(conn: Connection, assignment_id: int | None) -> list[Assignment]:
    if assignment_id is None:
        return await assignment_repo.all_assignments(conn)
    found = await assignment_repo.get(conn, assignment_id)
    return [] if found is None else [found]


class Finalizer:
    """Finalizes what is due; the database, not a timer, says what that is.

    Any process sharing the database may run it for any assignment, of any guild: the groups
    are claimed in the database (`claim_unfinalized_groups`, `set_finalized`), so each is
    finalized by exactly one transaction, and one that dies rolls back whole.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        wakeups: Wakeups,
        *,
        inflight: InFlightUploads | None = None,
        inflight_wait: float = 10.0,
        database_clock: bool = False,
    ) -> None:
        self._db = db
        self._clock = clock
        self._inflight = inflight
        self._inflight_wait = inflight_wait
        self._wakeups = wakeups
        # With the real clock, "due" is the database's now(): processes on several hosts
        # agree on it whatever their own clocks say. Tests keep their fake clock.
        self._database_clock = database_clock

    async def now(self, conn: Connection) -> datetime:
        """The time that decides what is due (and is recorded as finalized_at)."""
        if self._database_clock:
            return await finalize_repo.database_now(conn)
        return self._clock.now()

    async def finalize_due(self, assignment_id: int | None = None) -> list[FinalizationChange]:
        """Finalize every group whose own deadline (and late window) has passed."""
        await self._wait_for_inflight(assignment_id)
        # Looked up in a snapshot first: a sweep that finds nothing due (the common case,
        # every 30 s in every process) never takes the write lock.
        async with self._db.reading() as conn:
            due_ids = await _due_assignment_ids(conn, await self.now(conn), assignment_id)
        if not due_ids:
            return []
        changes: list[FinalizationChange] = []
        async with self._db.transaction() as conn:
            now = await self.now(conn)
            for due_id in due_ids:
                # Read again under the lock: staff may have moved the deadline meanwhile.
                assignment = await assignment_repo.get(conn, due_id)
                if assignment is None:
                    continue
                due = [
                    group
                    for group in await finalize_repo.claim_unfinalized_groups(conn, assignment.id)
                    if deadlines_for(assignment, group).final <= now
                ]
                if due:
                    changes.extend(await self._finalize_groups(conn, assignment, due, now))
        if any(change.receipts for change in changes):
            self._wakeups.receipts_waiting()
        return changes

    async def _finalize_groups(
        self, conn: Connection, assignment: Assignment, due: list[Group], now: datetime
    ) -> list[FinalizationChange]:
        """Finalize the due groups of one assignment; the changes in the groups' order.

        The common case at a deadline (auto_submit, not submit_once, no submission recorded
        yet) is done for all such groups at once by `_record_first_finals`; a group with a
        submission (a recompute after reopen or an extension) and the hand-in-driven modes go
        through `record_final` one by one.
        """
        one_by_one: set[int] = {group.id for group in due}
        first: dict[int, FinalizationChange] = {}
        # With parts each part has its own final: the per-group path decides those.
        if not assignment.parts and assignment.auto_submit and not assignment.submit_once:
            one_by_one &= await finalize_repo.groups_with_submission(conn, assignment.id)
            fresh = [group for group in due if group.id not in one_by_one]
            first = await _record_first_finals(conn, assignment, fresh, now)
        changes: list[FinalizationChange] = []
        for group in due:
            if group.id in one_by_one:
                change = await record_final(conn, assignment, group, now)
            else:
                change = first.get(group.id)
            if change is not None:
                changes.append(change)
        return changes

    async def _wait_for_inflight(self, assignment_id: int | None) -> None:
        """Give uploads sent before a due group's deadline, still downloading, a bounded moment
        to land, so the first receipt is the right one; a later one still counts (recompute)."""
        if self._inflight is None or not self._inflight.busy():
            return
        async with self._db.reading() as conn:
            due = await due_deadlines(conn, await self.now(conn), assignment_id)
        busy = self._inflight.busy(due)
        if not busy:
            return
        log.info("finalization waits for uploads in flight in %d groups", len(busy))
        if not await self._inflight.wait_for(busy, self._inflight_wait):
            log.warning("uploads still in flight after %.1f s; finalizing", self._inflight_wait)


class ReceiptDispatcher:
    """Delivers the receipt outbox: each receipt is marked sent or undeliverable, never retried
    in a loop, and a restart sends exactly the ones still pending."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        signer: ReceiptSigner,
        *,
        instance: str = "main",
    ) -> None:
        self._db = db
        self._clock = clock
        self._notifier = notifier
        # Signs each receipt's code (SPEC §8).
        self._signer = signer
        # Who claims receipts: each process sharing the database has its own name.
        self._instance = instance
        self._took_back = False
        # One delivery run at a time: two overlapping runs (a wake-up and the periodic sweep)
        # would both read the same pending rows and send every receipt twice.
        self._running = asyncio.Lock()
        self._stopping = False

    async def stop(self) -> None:
        """Let a running delivery finish the receipt in hand, then stop: a receipt sent but
        not yet marked as sent would go out again after a restart."""
        self._stopping = True
        async with self._running:
            pass

    async def _due_batch(self, after_id: int) -> tuple[list[tuple[ReceiptDue, Receipt]], int]:
        """The loadable receipts due after `after_id`, and the last id looked at (so a row
        that cannot be loaded never stops the run)."""
        async with self._db.reading() as conn:
            due = await upload_repo.due_receipts(conn, self._clock.now(), BATCH, after_id)
            loaded: list[tuple[ReceiptDue, Receipt]] = []
            for row in due:
                receipt = await self._load(conn, row)
                if receipt is not None:
                    loaded.append((row, receipt))
            return loaded, due[-1].id if due else after_id

    async def _load(self, conn: Connection, row: ReceiptDue) -> Receipt | None:
        group = await group_repo.group(conn, row.group_id)
        if group is None:
            return None
        assignment = await assignment_repo.get(conn, group.assignment_id)
        if assignment is None:
            return None
        submission = await upload_repo.submission_at(
            conn, row.group_id, row.revision, assignment.parts
        )
        if submission is None or submission.empty:
            return None
        shown = submission.upload or next(p.upload for p in submission.parts if p.upload)
        numbers: dict[int, int] = {}
        for part in submission.parts:
            if part.upload is not None and part.upload.user_id not in numbers:
                found = await group_repo.candidate(conn, assignment.id, part.upload.user_id)
                if found is not None:
                    numbers[part.upload.user_id] = found.number
        uploader = await group_repo.candidate(conn, assignment.id, shown.user_id)
        chosen = {submission.handin_id} | {p.handin_id for p in submission.parts}
        staff = [h for h in await upload_repo.handins_of(conn, group.id) if h.id in chosen]
        code, part_codes = sign_submission(self._signer, assignment, group, submission)
        return Receipt(
            id=row.id,
            assignment=assignment,
            group=group,
            user_id=row.user_id,
            upload=shown,
            uploader_number=None if uploader is None else uploader.number,
            late=submission.late,
            # Decided now, not when recorded: an earlier receipt may have gone out since.
            replaces=row.user_id in await upload_repo.members_with_sent_receipt(conn, group.id),
            revision=row.revision,
            parts=submission.parts,
            numbers=numbers,
            staff_reason=next((h.staff_reason for h in staff if h.by_staff), None),
            code=code,
            part_codes=part_codes,
        )

    async def deliver_pending(self) -> int:
        """Try every receipt that is due once; return how many were delivered."""
        delivered = 0
        cursor = 0
        async with self._running:
            await self._take_back_own_claims()
            while True:
                batch, last = await self._due_batch(cursor)
                if last == cursor:
                    return delivered
                cursor = last
                for row, receipt in batch:
                    if self._stopping:
                        return delivered
                    delivered += int(await self._deliver(row, receipt))

    async def _claim(self, receipt_id: int) -> bool:
        """Still pending, and now claimed by this process (no other holds a claim on it)."""
        async with self._db.transaction() as conn:
            return await upload_repo.claim_receipt(conn, receipt_id, self._instance, CLAIM_SECONDS)

    async def _take_back_own_claims(self) -> None:
        """The first run of this process sends at once what its earlier life had claimed."""
        if self._took_back:
            return
        async with self._db.transaction() as conn:
            taken = await upload_repo.release_claims_of(conn, self._instance)
        self._took_back = True
        if taken:
            log.info("%d receipts claimed before a restart are sent again", taken)

    async def _deliver(self, row: ReceiptDue, receipt: Receipt) -> bool:
        # Claimed right before the DM goes out, after its wait for a turn: a receipt superseded
        # meanwhile (a late upload changed the final), or being sent by another process, is
        # withdrawn here, never sent.
        try:
            delivery = await self._notifier.send_receipt(receipt, lambda: self._claim(receipt.id))
        except Exception:
            # A fault of ours, not Discord's: keep the receipt, try again after a backoff.
            log.exception("receipt %d could not be sent", receipt.id)
            delivery = Delivery(DmFailure.TRANSIENT)
        if delivery.withdrawn:
            return False
        now = self._clock.now()
        attempts = row.attempts + 1
        retry_at = None if delivery.sent else next_attempt(delivery, attempts, now)
        async with self._db.transaction() as conn:
            if retry_at is not None:
                log.info("receipt %d stays pending (%s)", receipt.id, delivery.reason)
                await upload_repo.retry_receipt_at(conn, receipt.id, retry_at, delivery.reason)
                return False
            status = "sent" if delivery.sent else "undeliverable"
            if not await upload_repo.finish_receipt(conn, receipt.id, status, now, delivery.reason):
                log.warning("receipt %d was no longer pending when marked %s", receipt.id, status)
                return False
            if not delivery.sent:
                log.warning("receipt %d undeliverable (%s)", receipt.id, delivery.reason)
                await misc_repo.record_undelivered(
                    conn, receipt.assignment.id, receipt.user_id, "receipt", delivery.reason, now
                )
        return delivery.sent
