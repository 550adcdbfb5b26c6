"""Every expected refusal, one class each, carrying a message key and its parameters.

The bot layer renders `key` from the user's locale catalog with `params`; datetimes in params
are shown as Discord timestamps. A refusal never changes the hand-in (SPEC §4).
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    key: ClassVar[str] = "error.generic"

    def __init__(self, **params: Any) -> None:
        # The key only: params may hold a PIN, and an exception's text ends up in logs.
        super().__init__(self.key)
        self.params: dict[str, Any] = params


# --- assignments ---------------------------------------------------------------------------
class AssignmentNotFoundError(DomainError):
    key = "error.assignment_not_found"  # name


class AmbiguousAssignmentError(DomainError):
    key = "error.assignment_ambiguous"  # name, matches


class AssignmentNameTakenError(DomainError):
    key = "error.assignment_name_taken"  # name


class AssignmentNameInvalidError(DomainError):
    key = "error.assignment_name_invalid"


class NotCandidateError(DomainError):
    key = "error.not_candidate"  # role_id


class ClosesBeforeOpensError(DomainError):
    key = "error.closes_before_opens"  # opens, closes


class DeadlineInPastError(DomainError):
    key = "error.deadline_in_past"  # when


class LateBeforeCloseError(DomainError):
    key = "error.late_before_close"  # closes, late_until


class MaxGroupSizeError(DomainError):
    key = "error.max_group_size_invalid"  # value


class MaxFileSizeError(DomainError):
    key = "error.max_file_mb_invalid"  # value, limit_mb


class MaxUploadsError(DomainError):
    key = "error.max_uploads_invalid"  # value


class MaxStorageError(DomainError):
    key = "error.max_storage_mb_invalid"  # value


class FileTypesInvalidError(DomainError):
    key = "error.file_types_invalid"  # value


# --- parts (SPEC §6) -----------------------------------------------------------------------
class PartNameInvalidError(DomainError):
    key = "error.part_name_invalid"  # name


class PartDuplicateError(DomainError):
    key = "error.part_duplicate"  # name


class PartTypesInvalidError(DomainError):
    key = "error.part_types_invalid"  # part, value


class TooManyPartsError(DomainError):
    key = "error.parts_too_many"  # limit


class PartsInUseError(DomainError):
    key = "error.parts_in_use"  # parts: the parts with uploads that the edit would remove


class PartsAfterUploadsError(DomainError):
    key = "error.parts_after_uploads"


class PartFileTypeError(DomainError):
    key = "error.part_file_type"  # filename, part, allowed


class PartRequiredError(DomainError):
    key = "error.part_required"  # parts


class UnknownPartError(DomainError):
    key = "error.part_unknown"  # part, parts


class NoPartsError(DomainError):
    key = "error.no_parts"  # name


class RemindersInvalidError(DomainError):
    key = "error.reminders_invalid"  # value


class TimeFormatError(DomainError):
    key = "error.time_format"  # value, option


class GroupModeLockedError(DomainError):
    key = "error.group_mode_locked"


class GroupSizeBelowCurrentError(DomainError):
    key = "error.group_size_below_current"  # value, largest


class AnonymityLockedError(DomainError):
    key = "error.anonymity_locked"


class ClosedDeadlineEditError(DomainError):
    key = "error.closed_deadline_edit"  # name


class AssignmentNotClosedError(DomainError):
    key = "error.assignment_not_closed"  # name


class ExtensionBeforeDeadlineError(DomainError):
    key = "error.extension_before_deadline"  # closes


class TimezoneInvalidError(DomainError):
    key = "error.timezone_invalid"  # value


class LocaleInvalidError(DomainError):
    key = "error.locale_invalid"  # value, supported


class CannotPostError(DomainError):
    key = "error.cannot_post"  # channel


# --- groups --------------------------------------------------------------------------------
class PinFormatError(DomainError):
    key = "error.pin_format"  # pin


class PinTakenError(DomainError):
    key = "error.pin_taken"  # pin


class NoFreePinError(DomainError):
    key = "error.no_free_pin"


class GroupNotFoundError(DomainError):
    key = "error.group_not_found"  # pin


class PasswordRequiredError(DomainError):
    key = "error.password_required"


class WrongPasswordError(DomainError):
    key = "error.wrong_password"


class AlreadyInGroupError(DomainError):
    key = "error.already_in_group"  # pin


class AlreadyInThisGroupError(DomainError):
    key = "error.already_in_this_group"  # pin


class GroupFullError(DomainError):
    key = "error.group_full"  # pin, count (the most members)


class PredefinedGroupsError(DomainError):
    key = "error.predefined_groups"


class NotPredefinedError(DomainError):
    key = "error.not_predefined"  # mode


class NoPasswordModeError(DomainError):
    key = "error.no_password_mode"


class NotInGroupError(DomainError):
    key = "error.not_in_group"


class NotAssignedError(DomainError):
    """Predefined mode: staff have not placed this candidate in a group."""

    key = "error.not_assigned"


class MembershipLockedError(DomainError):
    key = "error.membership_locked"  # deadline


class TooManyAttemptsError(DomainError):
    key = "error.too_many_attempts"  # until: datetime


class GroupSizeInvalidError(DomainError):
    key = "error.group_size_invalid"  # size


class GroupNameInvalidError(DomainError):
    key = "error.group_name_invalid"


class MemberNotInGroupError(DomainError):
    key = "error.member_not_in_group"  # user_id


class NoCandidatesToSplitError(DomainError):
    key = "error.no_candidates_to_split"


class CsvTooLargeError(DomainError):
    key = "error.csv_too_large"  # limit_kib


class CsvImportError(DomainError):
    """All or nothing: `problems` lists (line number, message key, params) for every bad line."""

    key = "error.csv_import"

    def __init__(self, problems: list[tuple[int, str, dict[str, Any]]]) -> None:
        super().__init__(count=len(problems))
        self.problems = problems


# --- uploads and hand-ins ------------------------------------------------------------------
class NotOpenYetError(DomainError):
    key = "error.not_open_yet"  # opens_at


class DeadlinePassedError(DomainError):
    key = "error.deadline_passed"  # deadline


class AlreadySubmittedError(DomainError):
    key = "error.already_submitted"


class FileTooLargeError(DomainError):
    key = "error.file_too_large"  # size_mb, limit_mb


class FileTypeError(DomainError):
    key = "error.file_type"  # filename, allowed


class EmptyFileError(DomainError):
    key = "error.empty_file"


class DownloadFailedError(DomainError):
    key = "error.download_failed"


class RestartingError(DomainError):
    """The bot is stopping (a restart): nothing new is taken until it is back."""

    key = "error.restarting"


class UploadQuotaError(DomainError):
    key = "error.upload_quota"  # count


class StorageQuotaError(DomainError):
    key = "error.storage_quota"  # size_mb, used_mb, limit_mb


class UploadRateError(DomainError):
    key = "error.upload_rate"  # count, until: datetime


class DiskLowError(DomainError):
    key = "error.disk_low"


class StorageUnavailableError(DomainError):
    """The file store (a bucket) did not take the bytes; nothing was recorded."""

    key = "error.storage_unavailable"


class NothingToHandInError(DomainError):
    key = "error.nothing_to_hand_in"


class NewerUploadError(DomainError):
    key = "error.newer_upload"  # filename: the group's latest upload


class NotYourButtonError(DomainError):
    key = "error.not_your_button"  # user_id: who the buttons belong to


class LeaseHeldError(DomainError):
    key = "error.lease_held"  # holder: int (user id), until: datetime


class NoLeaseError(DomainError):
    key = "error.no_lease"


class NothingToDownloadError(DomainError):
    key = "error.nothing_to_download"


class StoredFileUnreadableError(DomainError):
    """The stored copy is missing or no longer matches its hash (staff see it in the log)."""

    key = "error.file_unreadable"


# --- permissions ---------------------------------------------------------------------------
class StaffOnlyError(DomainError):
    key = "error.staff_only"


class ManageServerOnlyError(DomainError):
    key = "error.manage_server_only"


class GuildOnlyError(DomainError):
    key = "error.guild_only"


# --- feedback (SPEC §7) --------------------------------------------------------------------
class FeedbackAlreadyReleasedError(DomainError):
    key = "error.feedback_released"  # name


class FeedbackNothingToReleaseError(DomainError):
    key = "error.feedback_nothing_to_release"  # name


class FeedbackNotReleasedError(DomainError):
    key = "error.feedback_not_released"  # name


class FeedbackNoneForGroupError(DomainError):
    key = "error.feedback_none_for_group"  # name


class FeedbackNoGroupError(DomainError):
    key = "error.feedback_no_group"  # name


class FeedbackZipTooLargeError(DomainError):
    key = "error.feedback_zip_too_large"  # limit_mb


class FeedbackZipBadError(DomainError):
    key = "error.feedback_zip_bad"


class FeedbackZipEntryError(DomainError):
    key = "error.feedback_zip_entry"  # entry


class FeedbackZipUnknownPinError(DomainError):
    key = "error.feedback_zip_unknown_pin"  # entry, pin


class FeedbackZipFileTooLargeError(DomainError):
    key = "error.feedback_zip_file_too_large"  # entry, limit_mb


# --- purge and retention (SPEC §9) ---------------------------------------------------------
class PurgeWhileOpenError(DomainError):
    key = "error.purge_open"  # name


class AlreadyPurgedError(DomainError):
    key = "error.purge_done"  # name, at


class RetentionDaysInvalidError(DomainError):
    key = "error.retention_days_invalid"  # value


# --- who hands in (SPEC §5b) ---------------------------------------------------------------
class StaffReasonError(DomainError):
    key = "error.staff_reason"  # max


class ConfirmWithAutoSubmitError(DomainError):
    key = "error.confirm_with_auto_submit"


class ConfirmWithSubmitOnceError(DomainError):
    key = "error.confirm_with_submit_once"


class ConfirmAfterHandinsError(DomainError):
    key = "error.confirm_after_handins"
