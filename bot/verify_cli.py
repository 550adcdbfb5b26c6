"""`python -m bot verify`: check a receipt code on the host, or print the public key."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from bot import paths, signing
from bot.config import Config, ConfigError
from bot.domain.receipt_codes import (
    ReceiptCodeError,
    ReceiptVerifier,
    public_key_from_text,
    public_key_text,
)
from bot.i18n import t
from bot.services.receipt_codes import CheckedCode, ReceiptCodeService, check_offline
from storage.connect import connect_database
from storage.db import Database, sqlite_path

PROG = "python -m bot verify"
# The command line speaks English, like its --help.
LOCALE = "en"
EXIT_GENUINE = 0
EXIT_NOT_GENUINE = 1
EXIT_USAGE = 2


class Refused(Exception):
    """Bad arguments or no key to check with: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Refused(f"{message} (see {PROG} --help)")


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="Check a receipt code: whether this bot issued it, the hand-in it proves, "
        "and whether the database still holds that file. Exit 0: genuine; 1: refused.",
    )
    parser.add_argument("code", nargs="?", help="the receipt code, as shown in the receipt")
    parser.add_argument(
        "--public-key",
        action="store_true",
        help="print the bot's public key (base64url of 32 bytes), for the course to publish",
    )
    parser.add_argument(
        "--public-key-file",
        type=Path,
        help="check against this published public key instead of the bot's own key "
        "(base64url or PEM); the database is not asked then",
    )
    return parser


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.public_key:
            if args.code or args.public_key_file:
                raise Refused("--public-key takes no code and no --public-key-file")
            print(_bot_verifier_text())
            return EXIT_GENUINE
        if not args.code:
            raise Refused(f"give a receipt code, or --public-key (see {PROG} --help)")
        if args.public_key_file is not None:
            checked = check_offline(_published_verifier(args.public_key_file), args.code)
        else:
            checked = asyncio.run(_check_with_bot_key(args.code))
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_GENUINE
    except (Refused, ConfigError, signing.SigningKeyError) as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReceiptCodeError as exc:
        print(f"refused: {t(LOCALE, exc.key, **exc.params)}", file=sys.stderr)
        return EXIT_NOT_GENUINE
    print(describe(checked))
    return EXIT_GENUINE


def _config() -> Config:
    return Config.from_env(require_token=False)


def _bot_verifier_text() -> str:
    config = _config()
    signer = signing.load_signer(config.signing_key, config.data_dir, create=False)
    return public_key_text(signer.verifier.public_key)


def _published_verifier(path: Path) -> ReceiptVerifier:
    try:
        return ReceiptVerifier(public_key_from_text(path.read_text("ascii")))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Refused(
            f"{path} does not hold a public key (base64url of 32 bytes, as printed by"
            f" {PROG} --public-key, or a PEM): {exc}"
        ) from exc


async def _check_with_bot_key(code: str) -> CheckedCode:
    """With the bot's key; and the database's word on the file when there is a database."""
    config = _config()
    signer = signing.load_signer(config.signing_key, config.data_dir, create=False)
    db = await _open_database(config)
    if db is None:
        return check_offline(signer.verifier, code)
    try:
        return await ReceiptCodeService(db, signer).check(code)
    finally:
        await db.close()


async def _open_database(config: Config) -> Database | None:
    """The bot's database, read beside a running bot (WAL); None when there is none yet."""
    url = config.database_url
    if url and url.split(":", 1)[0].lower() != "sqlite":
        try:
            return await connect_database(url, paths.database_path(config.data_dir))
        except Exception as exc:  # the driver's connection errors, a pool timeout
            raise Refused(f"cannot open the database: {exc}") from exc
    try:
        db_file = sqlite_path(url) if url else paths.database_path(config.data_dir)
    except ValueError as exc:
        raise Refused(str(exc)) from exc
    if not db_file.is_file():
        # Opening would create an empty database there.
        return None
    try:
        return await Database.open(db_file)
    except sqlite3.Error as exc:
        raise Refused(f"cannot open the database {db_file}: {exc}") from exc


def describe(checked: CheckedCode) -> str:
    fields = checked.fields
    lines = [
        f"genuine: signed by this bot's key {checked.key_id}",
        f"server: {fields.guild_id}",
        f"assignment: {fields.assignment_name} (id {fields.assignment_id})",
        f"group PIN: {fields.pin}",
        f"part: {fields.part or '-'}",
        f"file: {fields.filename}",
        f"size: {fields.size} bytes",
        f"sha256: {fields.sha256}",
        f"sent: {_iso(fields.sent_at)}",
        f"issued: {_iso(fields.issued_at)}",
    ]
    if checked.standing is None:
        lines.append("database: not asked")
    else:
        lines.append(f"database: {t(LOCALE, f'verify.standing.{checked.standing.value}')}")
    return "\n".join(lines)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
