"""PINs, group passwords and candidate numbers: validation and random choice."""

from __future__ import annotations

import secrets
import string
from collections.abc import Collection
from typing import TypeVar

from bot.domain.errors import NoFreePinError, PinFormatError

T = TypeVar("T")

PIN_SPACE = 10_000
CANDIDATE_MIN, CANDIDATE_MAX = 10_000, 99_999

# No look-alikes (0/O/o, 1/l/I/i, 5/S/s, 2/Z/z, 8/B, u/v/V/U) and symbols Discord's markdown leaves
# alone, so a password read aloud or copied from a DM is typed right the first time.
PASSWORD_DIGITS = "34679"
PASSWORD_LETTERS = "abcdefghjkmnpqrtwxyACDEFGHJKLMNPQRTWXY"
PASSWORD_SYMBOLS = "!#$%&+=?@"
PASSWORD_ALPHABET = PASSWORD_DIGITS + PASSWORD_LETTERS + PASSWORD_SYMBOLS
PASSWORD_LENGTH = 16


def validate_pin(pin: str) -> str:
    """A PIN is exactly four ASCII digits (leading zeros allowed)."""
    pin = pin.strip()
    if len(pin) != 4 or not all(c in string.digits for c in pin):
        raise PinFormatError(pin=pin)
    return pin


def random_free_pin(taken: Collection[str]) -> str:
    """A uniformly random PIN not in `taken`."""
    free = PIN_SPACE - len(taken)
    if free <= 0:
        raise NoFreePinError()
    # Mostly free: guessing is fast. Nearly full: choose among the free ones directly.
    if free > PIN_SPACE // 10:
        while True:
            pin = f"{secrets.randbelow(PIN_SPACE):04d}"
            if pin not in taken:
                return pin
    candidates = [f"{n:04d}" for n in range(PIN_SPACE) if f"{n:04d}" not in taken]
    return secrets.choice(candidates)


def generate_password() -> str:
    """16 characters with at least one digit, letter and symbol: about 91 bits (52 symbols)."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        if (
            any(c in PASSWORD_DIGITS for c in password)
            and any(c in PASSWORD_LETTERS for c in password)
            and any(c in PASSWORD_SYMBOLS for c in password)
        ):
            return password


def passwords_match(given: str, expected: str) -> bool:
    """Constant-time comparison, so response times leak nothing about the password."""
    return secrets.compare_digest(given.strip().encode(), expected.encode())


def random_candidate_number(taken: Collection[int]) -> int:
    """A random 5-digit candidate number not in `taken`."""
    span = CANDIDATE_MAX - CANDIDATE_MIN + 1
    if len(taken) >= span:
        raise RuntimeError("no free candidate number")
    while True:
        number = CANDIDATE_MIN + secrets.randbelow(span)
        if number not in taken:
            return number


def shuffle(items: list[T]) -> None:
    """Shuffle in place with the system's secure random source (fair random splits)."""
    secrets.SystemRandom().shuffle(items)
