"""Field encryption, through the real AES-GCM of `cryptography` (no mocks): format, keys, rotation.

Attacks (tampering, moved ciphertexts, wrong versions) and the public AES-GCM vectors are in
tests/security/test_crypto.py.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.crypto import (
    FORMAT_VERSION,
    FieldCipher,
    FieldContext,
    KeyRing,
    MasterKey,
    new_data_key,
)
from storage.errors import CryptoError, DecryptionError, UnknownMasterKeyError

CONTEXT = FieldContext("answers", "row-1", "case-1", "party-1", "position:issue-1")
HEADER, NONCE, TAG = 1, 12, 16


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(new_data_key())


# Format and round trip ----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "",
    "x",
    "We need the well open before the dry season.",
    "Ça va — سلام — שלום — 你好 — 🕊️\n\ttabs and newlines",
    "long " * 1000,
])
def test_round_trip(cipher: FieldCipher, text: str) -> None:
    """What is encrypted under a context decrypts to the same text under that context."""
    assert cipher.decrypt(cipher.encrypt(text, CONTEXT), CONTEXT) == text


def test_ciphertext_format() -> None:
    """A ciphertext is version(1) ‖ nonce(12) ‖ AES-GCM ciphertext ‖ tag(16), bound to the context."""
    key = new_data_key()
    text = "Ça va"
    blob = FieldCipher(key).encrypt(text, CONTEXT)
    plaintext = text.encode("utf-8")
    assert FORMAT_VERSION == 1
    assert blob[0] == FORMAT_VERSION
    assert len(blob) == HEADER + NONCE + len(plaintext) + TAG
    nonce, body = blob[HEADER:HEADER + NONCE], blob[HEADER + NONCE:]
    assert AESGCM(key).decrypt(nonce, body, CONTEXT.associated_data()) == plaintext
    assert CONTEXT.associated_data() == b"caucus/v1|answers|row-1|case-1|party-1|position:issue-1"


def test_nonce_is_random(cipher: FieldCipher) -> None:
    """Encrypting the same text twice gives different ciphertexts (fresh random nonce each time)."""
    blobs = [cipher.encrypt("same text", CONTEXT) for _ in range(50)]
    assert len(set(blobs)) == len(blobs)
    assert len({blob[HEADER:HEADER + NONCE] for blob in blobs}) == len(blobs)


def test_cipher_rejects_wrong_key_length() -> None:
    """A data key must be exactly 32 bytes."""
    for size in (0, 16, 31, 33):
        with pytest.raises(CryptoError):
            FieldCipher(bytes(size))


def test_context_parts_cannot_contain_separator(cipher: FieldCipher) -> None:
    """A context part containing '|' is refused, so two contexts can never share associated data."""
    shifted = FieldContext("answers", "row", "case", "party|x", "field")
    with pytest.raises(CryptoError):
        cipher.encrypt("hello", shifted)
    with pytest.raises(CryptoError):
        cipher.decrypt(cipher.encrypt("hello", CONTEXT), shifted)


# Key ring -------------------------------------------------------------------------------------

def test_wrap_unwrap_round_trip() -> None:
    """A data key wrapped by the ring unwraps to the same bytes, under the primary key's id."""
    primary = MasterKey.generate()
    ring = KeyRing(primary)
    data_key = new_data_key()
    kek_id, wrapped = ring.wrap(data_key, "party|abc")
    assert kek_id == primary.key_id
    assert data_key not in wrapped
    assert len(wrapped) == HEADER + NONCE + len(data_key) + TAG
    assert ring.unwrap(kek_id, wrapped, "party|abc") == data_key


def test_unknown_master_key_id() -> None:
    """A data key wrapped under a master key the ring does not hold raises UnknownMasterKeyError."""
    old_kek_id, wrapped = KeyRing(MasterKey.generate()).wrap(new_data_key(), "case|1")
    ring = KeyRing(MasterKey.generate())
    with pytest.raises(UnknownMasterKeyError):
        ring.unwrap(old_kek_id, wrapped, "case|1")
    with pytest.raises(UnknownMasterKeyError):
        ring.unwrap("0" * 16, wrapped, "case|1")


def test_wrong_master_key_under_known_id_fails() -> None:
    """Naming another configured key's id for a wrapped key fails authentication."""
    first, second = MasterKey.generate(), MasterKey.generate()
    ring = KeyRing(first, second)
    _, wrapped = ring.wrap(new_data_key(), "case|1")
    with pytest.raises(DecryptionError):
        ring.unwrap(second.key_id, wrapped, "case|1")


def test_rotation_keeps_old_keys_readable() -> None:
    """With a new primary, the old master key, kept second in the ring, still unwraps what it wrapped."""
    old, new = MasterKey.generate(), MasterKey.generate()
    data_key = new_data_key()
    old_kek_id, old_wrapped = KeyRing(old).wrap(data_key, "party|1")

    rotated = KeyRing(new, old)
    assert rotated.unwrap(old_kek_id, old_wrapped, "party|1") == data_key
    new_kek_id, new_wrapped = rotated.wrap(data_key, "party|1")
    assert new_kek_id == new.key_id != old_kek_id
    assert rotated.unwrap(new_kek_id, new_wrapped, "party|1") == data_key
    with pytest.raises(UnknownMasterKeyError):
        KeyRing(new).unwrap(old_kek_id, old_wrapped, "party|1")


# Master keys ---------------------------------------------------------------------------------

def test_master_key_base64_round_trip(tmp_path: Path) -> None:
    """A master key survives base64 and a key file (surrounding whitespace ignored)."""
    key = MasterKey.generate()
    assert MasterKey.from_base64(key.to_base64()) == key
    assert MasterKey.from_base64(f"  {key.to_base64()}\n") == key
    path = tmp_path / "master.key"
    path.write_text(key.to_base64() + "\n", encoding="ascii")
    assert MasterKey.from_file(path) == key
    assert MasterKey.from_file(path).key_id == key.key_id


@pytest.mark.parametrize("size", [0, 1, 16, 24, 31, 33, 48, 64])
def test_master_key_wrong_length(size: int) -> None:
    """Base64 that decodes to anything but 32 bytes is refused with CryptoError."""
    with pytest.raises(CryptoError, match="expected 32"):
        MasterKey.from_base64(base64.b64encode(bytes(range(size))).decode())
    with pytest.raises(CryptoError):
        MasterKey(bytes(size))


@pytest.mark.parametrize("text", [
    "not base64!",
    "abc",  # bad padding
    "====",
    "QUJD*REVG",
    base64.b64encode(bytes(32)).decode()[:-1] + "é",
    base64.urlsafe_b64encode(b"\xfb" * 32).decode(),  # url-safe alphabet is not accepted
])
def test_master_key_not_base64(text: str) -> None:
    """Text that is not strict base64 is refused with CryptoError."""
    with pytest.raises(CryptoError):
        MasterKey.from_base64(text)


def test_key_material_never_in_repr() -> None:
    """repr and str of keys, rings and ciphers show no key bytes in any common encoding."""
    key = MasterKey.generate()
    data_key = new_data_key()
    shown = " ".join(
        text
        for thing in (key, [key], KeyRing(key), FieldCipher(data_key))
        for text in (repr(thing), str(thing), f"{thing}")
    )
    for secret in (key.key, data_key):
        for encoding in (secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(),
                         base64.urlsafe_b64encode(secret).decode(), repr(secret), str(list(secret))):
            assert encoding not in shown
    assert key.key_id in repr(key)
    assert len(key.key_id) == 16
    assert key.key_id not in key.key.hex()
    assert MasterKey.generate().key_id != key.key_id
