"""PINs, group passwords and candidate numbers."""

from __future__ import annotations

import math
import string

import pytest

from bot.domain import codes
from bot.domain.errors import NoFreePinError, PinFormatError


@pytest.mark.parametrize("pin", ["0000", "0042", "9999", " 1234 "])
def test_four_digit_pin_is_valid(pin: str) -> None:
    assert codes.validate_pin(pin) == pin.strip()


@pytest.mark.parametrize("pin", ["", "123", "12345", "12a4", "١٢٣٤", "12 4", "-123", "+123"])
def test_pin_not_four_ascii_digits_is_refused(pin: str) -> None:
    with pytest.raises(PinFormatError):
        codes.validate_pin(pin)


def test_random_free_pin_avoids_taken_pins() -> None:
    taken = {f"{n:04d}" for n in range(codes.PIN_SPACE) if n != 4321}
    assert codes.random_free_pin(taken) == "4321"


def test_random_free_pin_is_four_digits() -> None:
    for _ in range(200):
        pin = codes.random_free_pin(set())
        assert len(pin) == 4 and pin.isdigit()


def test_random_free_pin_refused_when_every_pin_is_taken() -> None:
    with pytest.raises(NoFreePinError):
        codes.random_free_pin({f"{n:04d}" for n in range(codes.PIN_SPACE)})


def test_password_is_sixteen_characters_from_the_alphabet() -> None:
    for _ in range(300):
        password = codes.generate_password()
        assert len(password) == 16
        assert set(password) <= set(codes.PASSWORD_ALPHABET)


def test_password_has_a_digit_a_letter_and_a_symbol() -> None:
    for _ in range(300):
        password = codes.generate_password()
        assert any(c in string.digits for c in password)
        assert any(c in string.ascii_letters for c in password)
        assert any(c in "!#$%&+=?@" for c in password)


def test_password_alphabet_has_no_look_alikes() -> None:
    assert not set("0Oo1lIi") & set(codes.PASSWORD_ALPHABET)


def test_password_symbols_are_only_those_discord_leaves_alone() -> None:
    symbols = {c for c in codes.PASSWORD_ALPHABET if not c.isalnum()}
    assert symbols <= set("!#$%&+=?@")
    assert set(codes.PASSWORD_SYMBOLS) == symbols


def test_password_alphabet_has_no_repeated_characters() -> None:
    assert len(set(codes.PASSWORD_ALPHABET)) == len(codes.PASSWORD_ALPHABET)


def test_password_has_at_least_90_bits_after_the_class_rule() -> None:
    # Count the 16-character strings with every class present (inclusion-exclusion).
    n, d, le, s = (
        len(codes.PASSWORD_ALPHABET),
        len(codes.PASSWORD_DIGITS),
        len(codes.PASSWORD_LETTERS),
        len(codes.PASSWORD_SYMBOLS),
    )
    k = codes.PASSWORD_LENGTH
    valid = n**k - (n - d) ** k - (n - le) ** k - (n - s) ** k + d**k + le**k + s**k
    assert math.log2(valid) >= 90


def test_passwords_are_not_repeated() -> None:
    assert len({codes.generate_password() for _ in range(200)}) == 200


def test_passwords_match_ignores_surrounding_spaces_only() -> None:
    assert codes.passwords_match(" abc#Def ", "abc#Def")
    assert not codes.passwords_match("abc#def", "abc#Def")
    assert not codes.passwords_match("", "abc#Def")


def test_candidate_number_is_five_digits_and_not_taken() -> None:
    taken = set(range(codes.CANDIDATE_MIN, codes.CANDIDATE_MAX))
    assert codes.random_candidate_number(taken) == codes.CANDIDATE_MAX
    for _ in range(200):
        assert 10_000 <= codes.random_candidate_number(set()) <= 99_999
