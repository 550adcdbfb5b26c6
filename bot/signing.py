"""The bot's receipt-signing key: HANDIN_SIGNING_KEY, or a key file made at first start."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from bot.domain.receipt_codes import ReceiptSigner, seed_from_text, seed_text

log = logging.getLogger(__name__)

ENV_VAR = "HANDIN_SIGNING_KEY"
KEY_FILE_NAME = "receipt-signing.key"
KEY_FORMAT = "the base64url of a 32-byte Ed25519 seed (43 characters, padding optional)"


class SigningKeyError(Exception):
    """The signing key cannot be used; the message says which one and what to do."""


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE_NAME


def signer_from_env_value(value: str) -> ReceiptSigner:
    """The signer HANDIN_SIGNING_KEY names; refused with what it must look like."""
    try:
        return ReceiptSigner.from_seed(seed_from_text(value))
    except ValueError as exc:
        raise SigningKeyError(
            f"{ENV_VAR} is not a signing key: it must be {KEY_FORMAT}, such as the content of"
            f" {KEY_FILE_NAME} in a data folder; unset it to let the bot make its own key"
        ) from exc


def load_signer(env_value: str | None, data_dir: Path, *, create: bool) -> ReceiptSigner:
    """HANDIN_SIGNING_KEY when set, else the data folder's key file. With `create` (the bot's
    start), a missing key file is made; a tool only reads it."""
    if env_value:
        return signer_from_env_value(env_value)
    path = key_file(data_dir)
    if not path.exists():
        if not create:
            raise SigningKeyError(
                f"no signing key: {path} does not exist yet (the bot makes it at its first start)"
                f" and {ENV_VAR} is not set"
            )
        _create_key_file(path)
    return _read_key_file(path)


def _read_key_file(path: Path) -> ReceiptSigner:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # It signs every receipt: nobody else on the host may read it.
        with contextlib.suppress(OSError):
            path.chmod(0o600)
            log.warning("the signing key %s was open to other accounts: made it 0600", path)
    try:
        return ReceiptSigner.from_seed(seed_from_text(path.read_text("ascii")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SigningKeyError(
            f"{path} does not hold a signing key ({KEY_FORMAT}): restore it from a backup; codes"
            " given out so far can only be checked with the original key"
        ) from exc


def _create_key_file(path: Path) -> None:
    """Write a new key owner-only (0600) and atomically, and never over an existing one: a
    temp file, fsynced, then hard-linked into place (a link fails if the name exists, so two
    processes starting at once keep the first key and both use it)."""
    signer = ReceiptSigner.generate()
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(seed_text(signer.seed()) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return
        log.info("made a new receipt-signing key in %s", path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
