"""Receipt codes: signing each receipt's files, and checking a code staff were shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.domain.models import Actor, Assignment, Group, Part, Submission, Upload
from bot.domain.receipt_codes import (
    ReceiptCodeOtherGuildError,
    ReceiptFields,
    ReceiptSigner,
    ReceiptVerifier,
)
from bot.services.common import require_staff
from storage.db import Connection, Database
from storage.repos import assignments as assignment_repo
from storage.repos import groups as group_repo
from storage.repos import uploads as upload_repo


class Standing(StrEnum):
    """What the database says of a genuine code's file today."""

    # The group's final submission (in that part) is this file.
    CURRENT = "current"
    # It was handed in, and a later hand-in of the group replaced it.
    REPLACED = "replaced"
    # No such assignment, group or hand-in here (deleted, or another bot's database).
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class CheckedCode:
    """A genuine code: its fields, and (when a database was asked) where its file stands."""

    fields: ReceiptFields
    key_id: str
    standing: Standing | None


def receipt_fields(
    assignment: Assignment, group: Group, upload: Upload, part: Part | None, issued_at: datetime
) -> ReceiptFields:
    return ReceiptFields(
        guild_id=assignment.guild_id,
        assignment_id=assignment.id,
        assignment_name=assignment.name,
        pin=group.pin,
        part=None if part is None else part.name,
        filename=upload.filename,
        size=upload.size,
        sha256=upload.sha256,
        sent_at=upload.sent_at,
        issued_at=issued_at,
    )


def sign_submission(
    signer: ReceiptSigner, assignment: Assignment, group: Group, submission: Submission
) -> tuple[str | None, dict[int, str]]:
    """The code of a submission's file, or with parts each part's code by part id.

    The issue time is the submission's `recorded_at`, stored with it: every member's receipt,
    and any resend of one after a crash, shows the very same code."""
    issued = submission.recorded_at
    if submission.upload is not None:
        fields = receipt_fields(assignment, group, submission.upload, None, issued)
        return signer.sign(fields), {}
    return None, {
        final.part.id: signer.sign(
            receipt_fields(assignment, group, final.upload, final.part, issued)
        )
        for final in submission.parts
        if final.upload is not None
    }


class ReceiptCodeService:
    """Checks receipt codes: the signature first, then what the database holds of the file."""

    def __init__(self, db: Database, signer: ReceiptSigner) -> None:
        self._db = db
        self.signer = signer

    async def verify(self, guild_id: int, actor: Actor, code: str) -> CheckedCode:
        """`/verify` (staff): a code of this server's receipts, with its standing."""
        async with self._db.reading() as conn:
            await require_staff(conn, guild_id, actor)
            fields = self.signer.verifier.verify(code)
            if fields.guild_id != guild_id:
                # Its fields belong to another server's staff.
                raise ReceiptCodeOtherGuildError()
            return CheckedCode(fields, self.signer.key_id.hex(), await standing_of(conn, fields))

    async def check(self, code: str) -> CheckedCode:
        """The host's check (`python -m bot verify`): any server's code."""
        fields = self.signer.verifier.verify(code)
        async with self._db.reading() as conn:
            standing = await standing_of(conn, fields)
        return CheckedCode(fields, self.signer.key_id.hex(), standing)


def check_offline(verifier: ReceiptVerifier, code: str) -> CheckedCode:
    """The check of someone who has only the published public key: no database."""
    return CheckedCode(verifier.verify(code), verifier.key_id.hex(), None)


async def standing_of(conn: Connection, fields: ReceiptFields) -> Standing:
    assignment = await assignment_repo.get(conn, fields.assignment_id)
    if assignment is None or assignment.guild_id != fields.guild_id:
        return Standing.MISSING
    group = await group_repo.group_by_pin(conn, assignment.id, fields.pin)
    if group is None:
        return Standing.MISSING
    current = await upload_repo.current_submission(conn, group.id, assignment.parts)
    if current is None:
        return Standing.MISSING
    if _holds(current, fields):
        return Standing.CURRENT
    for revision in range(current.revision - 1, 0, -1):
        earlier = await upload_repo.submission_at(conn, group.id, revision, assignment.parts)
        if earlier is not None and _holds(earlier, fields):
            return Standing.REPLACED
    return Standing.MISSING


def _holds(submission: Submission, fields: ReceiptFields) -> bool:
    """Whether the submission hands in the code's file (in the code's part)."""
    if fields.part is None:
        return submission.upload is not None and submission.upload.sha256 == fields.sha256
    return any(
        final.part.name == fields.part
        and final.upload is not None
        and final.upload.sha256 == fields.sha256
        for final in submission.parts
    )
