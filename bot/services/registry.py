"""Builds the services over one database, file store, clock and notifier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.domain.clock import Clock, SystemClock
from bot.domain.quotas import DEFAULT_RESERVE, FreeSpaceReserve
from bot.domain.receipt_codes import ReceiptSigner
from bot.services.assignments import AssignmentService
from bot.services.calendar import CalendarService
from bot.services.diskspace import DiskSpaceGuard
from bot.services.downloads import DownloadPolicy
from bot.services.exports import ExportService
from bot.services.feedback import FeedbackDispatcher, FeedbackService
from bot.services.finalization import Finalizer, ReceiptDispatcher
from bot.services.groups import GroupService
from bot.services.health import HealthService
from bot.services.inflight import InFlightUploads
from bot.services.locales import UserLocales
from bot.services.ports import FreeSpace, Notifier, StoredFiles, Wakeups
from bot.services.purge import PurgeService
from bot.services.receipt_codes import ReceiptCodeService
from bot.services.reminders import ReminderService
from bot.services.settings import SettingsService
from bot.services.staff_handin import StaffHandInService
from bot.services.submissions import SubmissionService
from storage.db import Database
from storage.diskspace import StatvfsFreeSpace


@dataclass(frozen=True, slots=True)
class Services:
    db: Database
    files: StoredFiles
    clock: Clock
    assignments: AssignmentService
    groups: GroupService
    submissions: SubmissionService
    finalizer: Finalizer
    receipts: ReceiptDispatcher
    settings: SettingsService
    exports: ExportService
    reminders: ReminderService
    inflight: InFlightUploads
    user_locales: UserLocales
    # What the services tell the deadline scheduler (it listens from its construction on).
    wakeups: Wakeups
    health: HealthService
    calendar: CalendarService
    staff_handins: StaffHandInService
    receipt_codes: ReceiptCodeService
    # SPEC §7: feedback drafts and releases, and the feedback DM outbox's delivery.
    feedback: FeedbackService
    feedback_delivery: FeedbackDispatcher
    # SPEC §9: purges and retention.
    purge: PurgeService


def build_services(
    db: Database,
    files: StoredFiles,
    clock: Clock,
    notifier: Notifier,
    *,
    inflight_wait: float = 10.0,
    download_policy: DownloadPolicy | None = None,
    free_space: FreeSpace | None = None,
    reserve: FreeSpaceReserve = DEFAULT_RESERVE,
    instance: str = "main",
    signer: ReceiptSigner | None = None,
    exports_dir: Path | None = None,
) -> Services:
    """`inflight_wait`: how long finalization waits for uploads sent before the deadline whose
    bytes are still arriving (seconds); `download_policy`: timeouts and retries of downloads.
    `free_space`: the disk of the stored files (default: its `statvfs`), kept above `reserve`.
    `instance`: this process's name among those sharing the database (receipt claims).
    `exports_dir`: where exports are written (a purge deletes the assignment's).
    `signer`: the key that signs receipt codes (the bot passes its kept one; without it, a key
    of this process alone, for tests and tools whose codes nobody checks later)."""
    signer = signer or ReceiptSigner.generate()
    inflight = InFlightUploads()
    wakeups = Wakeups()
    disk = DiskSpaceGuard(db, clock, free_space or StatvfsFreeSpace(files.root), reserve)
    finalizer = Finalizer(
        db,
        clock,
        wakeups,
        inflight=inflight,
        inflight_wait=inflight_wait,
        # The real clock: the database's decides what is due (a fake one in tests decides).
        database_clock=isinstance(clock, SystemClock),
    )
    return Services(
        db=db,
        files=files,
        clock=clock,
        assignments=AssignmentService(db, clock, finalizer, notifier, wakeups),
        groups=GroupService(db, clock, notifier),
        submissions=SubmissionService(
            db,
            files,
            clock,
            notifier,
            disk=disk,
            wakeups=wakeups,
            inflight=inflight,
            download_policy=download_policy,
        ),
        finalizer=finalizer,
        receipts=ReceiptDispatcher(db, clock, notifier, signer, instance=instance),
        settings=SettingsService(db),
        exports=ExportService(db, files, clock),
        reminders=ReminderService(db, clock, notifier),
        inflight=inflight,
        user_locales=UserLocales(db, clock),
        wakeups=wakeups,
        health=HealthService(db, clock),
        calendar=CalendarService(db, clock),
        staff_handins=StaffHandInService(
            db, files, clock, disk=disk, wakeups=wakeups, download_policy=download_policy
        ),
        receipt_codes=ReceiptCodeService(db, signer),
        feedback=FeedbackService(db, files, clock, wakeups, download_policy=download_policy),
        feedback_delivery=FeedbackDispatcher(db, clock, notifier, instance=instance),
        purge=PurgeService(db, files, clock, notifier, exports_dir=exports_dir),
    )
