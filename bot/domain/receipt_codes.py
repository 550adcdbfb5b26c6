"""Receipt codes (SPEC §8): a receipt's fields, signed with Ed25519, in one copy-pasteable string.

A code is base64url, without padding, of `payload + signature`. The payload is a fixed binary
layout rather than JSON or CBOR: it is deterministic by construction (one encoding per set of
fields, so a resent receipt shows the very same code, Ed25519 signatures being deterministic
too), about half the length of base64'd JSON (a typical code is about 220 characters, well under
an embed field's 1,024), and needs no serialization library. Version 1, big-endian:

    B    version (1)
    4s   key id: the first 4 bytes of the SHA-256 of the raw 32-byte public key
    Q    guild id
    Q    assignment id
    Q    size in bytes
    32s  SHA-256 of the file
    q    sent time, whole seconds since the Unix epoch (UTC)
    q    issue time, the same (when the final submission was recorded)
    then four strings, each a length then UTF-8: assignment name (H), group PIN (B),
    part (B; length 0 = no part), file name (H)

The signature (64 bytes) covers everything before it, the version and key id included. Crypto is
`cryptography`'s Ed25519; nothing here is hand-written beyond the layout.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.domain.errors import DomainError

VERSION = 1
KEY_ID_BYTES = 4
SIGNATURE_BYTES = 64
SEED_BYTES = 32
_HEADER = struct.Struct(">B4s")
_NUMBERS = struct.Struct(">QQQ32sqq")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
# A code is pasted from a receipt: backticks of its code span and wrapping whitespace go.
_DECORATION = re.compile(r"[\s`]+")


# --- refusals: each a clear reason, rendered from the catalog ------------------------------
class ReceiptCodeError(DomainError):
    """A code that does not prove a receipt."""


class ReceiptCodeNotBase64Error(ReceiptCodeError):
    key = "receipt_code.not_base64"


class ReceiptCodeMalformedError(ReceiptCodeError):
    key = "receipt_code.malformed"


class ReceiptCodeVersionError(ReceiptCodeError):
    key = "receipt_code.version"  # version, supported


class ReceiptCodeAlteredError(ReceiptCodeError):
    key = "receipt_code.altered"


class ReceiptCodeOtherKeyError(ReceiptCodeError):
    key = "receipt_code.other_key"  # key_id, ours


class ReceiptCodeOtherGuildError(ReceiptCodeError):
    key = "receipt_code.other_guild"


# --- the signed fields -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReceiptFields:
    """What a receipt code proves: this file was recorded as this group's hand-in."""

    guild_id: int
    assignment_id: int
    assignment_name: str
    pin: str
    # The part's name (SPEC §6), or None for a hand-in of one file.
    part: str | None
    filename: str
    size: int
    sha256: str
    sent_at: datetime
    issued_at: datetime


def encode_fields(fields: ReceiptFields, key_id: bytes) -> bytes:
    """The payload that is signed: header, numbers, then the length-prefixed strings."""
    return (
        _HEADER.pack(VERSION, key_id)
        + _NUMBERS.pack(
            fields.guild_id,
            fields.assignment_id,
            fields.size,
            bytes.fromhex(fields.sha256),
            _seconds(fields.sent_at),
            _seconds(fields.issued_at),
        )
        + _text(fields.assignment_name, ">H")
        + _text(fields.pin, ">B")
        + _text(fields.part or "", ">B")
        + _text(fields.filename, ">H")
    )


def decode_fields(payload: bytes) -> ReceiptFields:
    """The fields of a version-1 payload; malformed when anything is missing or left over."""
    try:
        offset = _HEADER.size
        guild_id, assignment_id, size, digest, sent, issued = _NUMBERS.unpack_from(payload, offset)
        offset += _NUMBERS.size
        name, offset = _read_text(payload, offset, ">H")
        pin, offset = _read_text(payload, offset, ">B")
        part, offset = _read_text(payload, offset, ">B")
        filename, offset = _read_text(payload, offset, ">H")
    except (struct.error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise ReceiptCodeMalformedError() from exc
    if offset != len(payload):
        raise ReceiptCodeMalformedError()
    return ReceiptFields(
        guild_id=guild_id,
        assignment_id=assignment_id,
        assignment_name=name,
        pin=pin,
        part=part or None,
        filename=filename,
        size=size,
        sha256=digest.hex(),
        sent_at=datetime.fromtimestamp(sent, UTC),
        issued_at=datetime.fromtimestamp(issued, UTC),
    )


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _text(value: str, length_format: str) -> bytes:
    data = value.encode("utf-8")
    # struct refuses a length that does not fit its field: no silent cut.
    return struct.pack(length_format, len(data)) + data


def _read_text(payload: bytes, offset: int, length_format: str) -> tuple[str, int]:
    (length,) = struct.unpack_from(length_format, payload, offset)
    start = offset + struct.calcsize(length_format)
    if start + length > len(payload):
        raise ValueError("string runs past the end")
    return payload[start : start + length].decode("utf-8"), start + length


# --- keys --------------------------------------------------------------------------------------
def key_id_of(public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(raw_public_key(public_key)).digest()[:KEY_ID_BYTES]


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    """Strict base64url without padding: only its alphabet, and only the one canonical spelling
    (a last character changed in bits that decoding ignores would otherwise pass unnoticed)."""
    if not _BASE64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
    if b64url(data) != text:
        raise ValueError("not the canonical spelling")
    return data


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """How the public key is published: base64url of its 32 raw bytes."""
    return b64url(raw_public_key(public_key))


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A published public key: base64url of the 32 raw bytes, or a PEM (SubjectPublicKeyInfo).
    ValueError when it is neither."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    raw = from_b64url(text)
    if len(raw) != SEED_BYTES:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def seed_from_text(text: str) -> bytes:
    """A signing key as kept (in HANDIN_SIGNING_KEY or the key file): base64url of the 32-byte
    Ed25519 seed, padding optional. ValueError when it is anything else."""
    raw = from_b64url(text.strip().rstrip("="))
    if len(raw) != SEED_BYTES:
        raise ValueError(f"{len(raw)} bytes, not {SEED_BYTES}")
    return raw


def seed_text(seed: bytes) -> str:
    return b64url(seed)


# --- signing and checking ---------------------------------------------------------------------
class ReceiptVerifier:
    """Checks codes against one public key (the bot's own, or a published one)."""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self.public_key = public_key
        self.key_id = key_id_of(public_key)

    def verify(self, code: str) -> ReceiptFields:
        """The fields a genuine code holds; else the reason it is refused, checked in the order
        that names it best: spelling, version, key, signature, layout."""
        try:
            data = from_b64url(_DECORATION.sub("", code))
        except ValueError as exc:
            raise ReceiptCodeNotBase64Error() from exc
        if len(data) < _HEADER.size + SIGNATURE_BYTES:
            raise ReceiptCodeMalformedError()
        version, key_id = _HEADER.unpack_from(data)
        if version != VERSION:
            raise ReceiptCodeVersionError(version=version, supported=VERSION)
        if key_id != self.key_id:
            raise ReceiptCodeOtherKeyError(key_id=key_id.hex(), ours=self.key_id.hex())
        payload, signature = data[:-SIGNATURE_BYTES], data[-SIGNATURE_BYTES:]
        try:
            self.public_key.verify(signature, payload)
        except InvalidSignature as exc:
            raise ReceiptCodeAlteredError() from exc
        return decode_fields(payload)


class ReceiptSigner:
    """Signs receipt codes with the bot's private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.verifier = ReceiptVerifier(private_key.public_key())

    @classmethod
    def from_seed(cls, seed: bytes) -> ReceiptSigner:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls) -> ReceiptSigner:
        return cls(Ed25519PrivateKey.generate())

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    def seed(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def sign(self, fields: ReceiptFields) -> str:
        payload = encode_fields(fields, self.key_id)
        return b64url(payload + self._private_key.sign(payload))
