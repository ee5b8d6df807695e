"""Field encryption: master keys wrap data keys; data keys encrypt fields with AES-256-GCM.

Every ciphertext is ``version ‖ nonce(12) ‖ ciphertext ‖ tag(16)`` and is bound by its
associated data to the table, row, case, party and field it belongs to, so a ciphertext
copied anywhere else fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import CryptoError, DecryptionError, UnknownMasterKeyError

__all__ = [
    "FORMAT_VERSION",
    "FieldCipher",
    "FieldContext",
    "KeyRing",
    "LookupHasher",
    "MasterKey",
    "new_data_key",
]

FORMAT_VERSION = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_BYTES = 32
_HEADER = bytes([FORMAT_VERSION])


def new_data_key() -> bytes:
    """Return 32 fresh random bytes for a data key."""
    return os.urandom(_KEY_BYTES)


@dataclass(frozen=True)
class FieldContext:
    """Where a ciphertext lives; becomes its associated data."""

    table: str
    row_id: str
    case_id: str
    party_id: str
    field: str

    def associated_data(self) -> bytes:
        parts = (self.table, self.row_id, self.case_id, self.party_id, self.field)
        if any("|" in part for part in parts):
            raise CryptoError("associated data parts must not contain '|'")
        return ("caucus/v1|" + "|".join(parts)).encode()


def _seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _HEADER + nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def _open(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    # AESGCM accepts other nonce lengths; the format fixes 12 bytes, so enforce it here.
    if len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES or blob[0] != FORMAT_VERSION:
        raise DecryptionError("malformed ciphertext")
    nonce = blob[1 : 1 + _NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[1 + _NONCE_BYTES :], associated_data)
    except InvalidTag:
        raise DecryptionError("ciphertext failed authentication") from None


class FieldCipher:
    """Encrypts and decrypts fields under one data key."""

    __slots__ = ("_key",)

    def __init__(self, data_key: bytes) -> None:
        if len(data_key) != _KEY_BYTES:
            raise CryptoError("a data key is 32 bytes")
        self._key = data_key

    def encrypt(self, plaintext: str, context: FieldContext) -> bytes:
        return _seal(self._key, plaintext.encode("utf-8"), context.associated_data())

    def decrypt(self, blob: bytes, context: FieldContext) -> str:
        return _open(self._key, blob, context.associated_data()).decode("utf-8")


@dataclass(frozen=True)
class MasterKey:
    """A key-encryption key; never stored in the database."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != _KEY_BYTES:
            raise CryptoError("a master key is 32 bytes")

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    @property
    def key_id(self) -> str:
        """A short public identifier: lets rows record which master key wraps them."""
        return hashlib.sha256(b"caucus/kek-id|" + self.key).hexdigest()[:16]

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CryptoError("not valid base64") from None
        if len(raw) != _KEY_BYTES:
            raise CryptoError(f"decodes to {len(raw)} bytes, expected 32")
        return cls(raw)

    @classmethod
    def from_file(cls, path: Path) -> MasterKey:
        return cls.from_base64(path.read_text(encoding="ascii"))

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(_KEY_BYTES))

    def to_base64(self) -> str:
        return base64.b64encode(self.key).decode("ascii")


class KeyRing:
    """The configured master keys: the first wraps new data keys, any can unwrap."""

    def __init__(self, primary: MasterKey, *others: MasterKey) -> None:
        self.primary = primary
        self._by_id = {key.key_id: key for key in (primary, *others)}

    @property
    def key_ids(self) -> frozenset[str]:
        """The ids of every configured master key, the primary's included."""
        return frozenset(self._by_id)

    def wrap(self, data_key: bytes, owner: str) -> tuple[str, bytes]:
        """Wrap a data key, bound to its owner; return (master key id, wrapped bytes)."""
        return self.primary.key_id, _seal(self.primary.key, data_key, _wrap_aad(owner))

    def unwrap(self, kek_id: str, wrapped: bytes, owner: str) -> bytes:
        key = self._by_id.get(kek_id)
        if key is None:
            raise UnknownMasterKeyError(f"data key wrapped under unknown master key {kek_id}")
        return _open(key.key, wrapped, _wrap_aad(owner))


def _wrap_aad(owner: str) -> bytes:
    return b"caucus/v1|data_key|" + owner.encode()


class LookupHasher:
    """Keyed hashes (HMAC-SHA256) for looking up Telegram ids and invite tokens without storing them."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()
