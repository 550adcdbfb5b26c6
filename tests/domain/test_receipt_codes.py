"""Receipt codes: a genuine one verifies with its fields; every kind of forgery is refused."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from bot.domain.receipt_codes import (
    SIGNATURE_BYTES,
    ReceiptCodeAlteredError,
    ReceiptCodeMalformedError,
    ReceiptCodeNotBase64Error,
    ReceiptCodeOtherKeyError,
    ReceiptCodeVersionError,
    ReceiptFields,
    ReceiptSigner,
    ReceiptVerifier,
    b64url,
    encode_fields,
    from_b64url,
    public_key_from_text,
    public_key_text,
    seed_from_text,
)

FIELDS = ReceiptFields(
    guild_id=912345678901234567,
    assignment_id=7,
    assignment_name="Lab 1",
    pin="0420",
    part=None,
    filename="report.pdf",
    size=123_456,
    sha256="ab" * 32,
    sent_at=datetime(2026, 12, 1, 22, 59, 30, tzinfo=UTC),
    issued_at=datetime(2026, 12, 2, 0, 0, 0, tzinfo=UTC),
)
# A fixed seed: the same code in every run (Ed25519 signatures are deterministic).
SIGNER = ReceiptSigner.from_seed(bytes(range(32)))


def test_a_genuine_code_verifies_and_gives_back_its_fields() -> None:
    code = SIGNER.sign(FIELDS)
    assert SIGNER.verifier.verify(code) == FIELDS


def test_a_code_with_a_part_and_a_name_in_any_script_round_trips() -> None:
    fields = dataclasses.replace(
        FIELDS, part="code", filename="oppgåve 1 – løysing.tar.gz", assignment_name="Øving 3"
    )
    assert SIGNER.verifier.verify(SIGNER.sign(fields)) == fields


def test_the_same_fields_give_the_same_code() -> None:
    """A resent receipt must show the very code the first one did."""
    assert SIGNER.sign(FIELDS) == SIGNER.sign(dataclasses.replace(FIELDS))


def test_a_typical_code_is_short_enough_to_paste() -> None:
    code = SIGNER.sign(FIELDS)
    assert 200 <= len(code) <= 240
    assert "=" not in code


def test_a_pasted_code_in_backticks_with_a_line_break_still_verifies() -> None:
    code = SIGNER.sign(FIELDS)
    assert SIGNER.verifier.verify(f" `{code[:100]}\n{code[100:]}` ") == FIELDS


def _changed(text: str, index: int) -> str:
    replacement = "B" if text[index] != "B" else "C"
    return text[:index] + replacement + text[index + 1 :]


def test_one_changed_character_is_refused_as_altered() -> None:
    code = SIGNER.sign(FIELDS)
    # Inside the SHA-256: the code still decodes, its signature no longer matches.
    with pytest.raises(ReceiptCodeAlteredError):
        SIGNER.verifier.verify(_changed(code, 60))


def test_a_changed_character_in_the_signature_is_refused_as_altered() -> None:
    code = SIGNER.sign(FIELDS)
    with pytest.raises(ReceiptCodeAlteredError):
        SIGNER.verifier.verify(_changed(code, len(code) - 20))


def test_a_changed_field_with_the_original_signature_is_refused() -> None:
    """Re-encode the payload with another file hash and keep the signature: refused."""
    data = from_b64url(SIGNER.sign(FIELDS))
    signature = data[-SIGNATURE_BYTES:]
    forged = encode_fields(dataclasses.replace(FIELDS, sha256="cd" * 32), SIGNER.key_id)
    with pytest.raises(ReceiptCodeAlteredError):
        SIGNER.verifier.verify(b64url(forged + signature))


def test_a_code_signed_with_another_key_is_refused_naming_both_keys() -> None:
    other = ReceiptSigner.from_seed(bytes(32))
    with pytest.raises(ReceiptCodeOtherKeyError) as refused:
        SIGNER.verifier.verify(other.sign(FIELDS))
    assert refused.value.params == {"key_id": other.key_id.hex(), "ours": SIGNER.key_id.hex()}


def test_another_key_claiming_our_key_id_is_refused_as_altered() -> None:
    """A forger who copies our key id into a code signed with their key gains nothing."""
    other = ReceiptSigner.from_seed(bytes(32))
    payload = encode_fields(FIELDS, SIGNER.key_id)
    forged = b64url(payload + other._private_key.sign(payload))
    with pytest.raises(ReceiptCodeAlteredError):
        SIGNER.verifier.verify(forged)


@pytest.mark.parametrize("garbage", ["hello world!", "%%%", "", "abc=", "äöå"])
def test_text_that_is_not_base64url_is_refused(garbage: str) -> None:
    with pytest.raises(ReceiptCodeNotBase64Error):
        SIGNER.verifier.verify(garbage)


def test_a_last_character_changed_only_in_ignored_bits_is_refused() -> None:
    """base64 decoders ignore a last character's spare bits; the code's one spelling counts."""
    code = SIGNER.sign(FIELDS)
    assert len(from_b64url(code)) % 3 != 0, "the code must end in a partial group"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(code[-1])
    sibling = alphabet[index ^ 1]
    with pytest.raises(ReceiptCodeNotBase64Error):
        SIGNER.verifier.verify(code[:-1] + sibling)


def test_a_short_base64_text_is_refused_as_malformed() -> None:
    with pytest.raises(ReceiptCodeMalformedError):
        SIGNER.verifier.verify("QUJDREVGRw")


def test_a_cut_off_code_is_refused() -> None:
    code = SIGNER.sign(FIELDS)
    with pytest.raises((ReceiptCodeAlteredError, ReceiptCodeNotBase64Error)):
        SIGNER.verifier.verify(code[:-8])


def test_an_unknown_version_is_refused_as_such() -> None:
    data = bytearray(from_b64url(SIGNER.sign(FIELDS)))
    data[0] = 9
    with pytest.raises(ReceiptCodeVersionError) as refused:
        SIGNER.verifier.verify(b64url(bytes(data)))
    assert refused.value.params == {"version": 9, "supported": 1}


def test_a_signed_payload_with_bytes_left_over_is_malformed() -> None:
    """A layout the bot never writes, even if signed, is not read as something else."""
    payload = encode_fields(FIELDS, SIGNER.key_id) + b"\x00"
    code = b64url(payload + SIGNER._private_key.sign(payload))
    with pytest.raises(ReceiptCodeMalformedError):
        SIGNER.verifier.verify(code)


def test_the_published_public_key_verifies_alone() -> None:
    published = public_key_text(SIGNER.verifier.public_key)
    verifier = ReceiptVerifier(public_key_from_text(published + "\n"))
    assert verifier.verify(SIGNER.sign(FIELDS)) == FIELDS


def test_a_seed_must_be_32_bytes_of_base64url() -> None:
    assert seed_from_text(b64url(bytes(32)) + "=") == bytes(32)
    for bad in ("", "not a key", b64url(bytes(31)), b64url(bytes(33))):
        with pytest.raises(ValueError):
            seed_from_text(bad)
