"""Field encryption, through the real AES-GCM of `cryptography` (no mocks).

Figures held (SECURITY.md, crypto design): any change to a ciphertext, or to where it is
said to live, fails; keys never show in a repr; public AES-GCM vectors pass through the
same primitive the wrapper uses.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.crypto import (
    FORMAT_VERSION,
    FieldCipher,
    FieldContext,
    KeyRing,
    MasterKey,
    _open,
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


# Tampering ----------------------------------------------------------------------------------

def _every_single_byte_change(blob: bytes) -> Iterator[bytes]:
    for position in range(len(blob)):
        for value in range(256):
            if value != blob[position]:
                yield blob[:position] + bytes([value]) + blob[position + 1:]


def test_any_single_byte_change_fails(cipher: FieldCipher) -> None:
    """Every other value at every byte position (so every single-bit flip too) fails to decrypt.

    Covers the version byte, each nonce byte, each ciphertext byte and each tag byte.
    """
    blob = cipher.encrypt("hi", CONTEXT)
    assert len(blob) == HEADER + NONCE + 2 + TAG
    tried = 0
    for changed in _every_single_byte_change(blob):
        with pytest.raises(DecryptionError):
            cipher.decrypt(changed, CONTEXT)
        tried += 1
    assert tried == len(blob) * 255


def test_every_bit_flip_fails(cipher: FieldCipher) -> None:
    """Flipping any one bit of the nonce, the ciphertext or the tag fails to decrypt."""
    blob = cipher.encrypt("hi", CONTEXT)
    for position in range(HEADER, len(blob)):
        for bit in range(8):
            flipped = bytearray(blob)
            flipped[position] ^= 1 << bit
            with pytest.raises(DecryptionError):
                cipher.decrypt(bytes(flipped), CONTEXT)


def test_truncated_or_extended_ciphertext_fails(cipher: FieldCipher) -> None:
    """Every proper prefix of a ciphertext fails, as does a ciphertext with bytes appended."""
    blob = cipher.encrypt("hello", CONTEXT)
    for length in range(len(blob)):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob[:length], CONTEXT)
    for extra in (b"\x00", b"\x01" * 16):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob + extra, CONTEXT)


@pytest.mark.parametrize("version", [0, 2, 0x7F, 0xFF])
def test_unknown_version_fails(cipher: FieldCipher, version: int) -> None:
    """A ciphertext whose version byte is not the current format is refused."""
    blob = cipher.encrypt("hello", CONTEXT)
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes([version]) + blob[HEADER:], CONTEXT)


@pytest.mark.parametrize("part", [field.name for field in dataclasses.fields(FieldContext)])
def test_other_context_fails(cipher: FieldCipher, part: str) -> None:
    """A ciphertext read as belonging to another table, row, case, party or field fails."""
    blob = cipher.encrypt("hello", CONTEXT)
    for other in ("", "other", getattr(CONTEXT, part) + "x", getattr(CONTEXT, part).upper()):
        moved = dataclasses.replace(CONTEXT, **{part: other})
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob, moved)


def test_context_parts_cannot_contain_separator(cipher: FieldCipher) -> None:
    """A context part containing '|' is refused, so two contexts can never share associated data."""
    shifted = FieldContext("answers", "row", "case", "party|x", "field")
    with pytest.raises(CryptoError):
        cipher.encrypt("hello", shifted)
    with pytest.raises(CryptoError):
        cipher.decrypt(cipher.encrypt("hello", CONTEXT), shifted)


def test_other_data_key_fails(cipher: FieldCipher) -> None:
    """A ciphertext decrypted under another data key fails."""
    blob = cipher.encrypt("hello", CONTEXT)
    with pytest.raises(DecryptionError):
        FieldCipher(new_data_key()).decrypt(blob, CONTEXT)


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


def test_unwrap_for_another_owner_fails() -> None:
    """A wrapped data key is bound to its owner: unwrapping it as another row's key fails."""
    ring = KeyRing(MasterKey.generate())
    kek_id, wrapped = ring.wrap(new_data_key(), "party|abc")
    for owner in ("party|abd", "case|abc", "", "party|abc "):
        with pytest.raises(DecryptionError):
            ring.unwrap(kek_id, wrapped, owner)


def test_unwrap_tampered_fails() -> None:
    """Any single bit flipped in a wrapped key makes unwrapping fail."""
    ring = KeyRing(MasterKey.generate())
    kek_id, wrapped = ring.wrap(new_data_key(), "case|1")
    for position in range(len(wrapped)):
        flipped = bytearray(wrapped)
        flipped[position] ^= 0x01
        with pytest.raises(DecryptionError):
            ring.unwrap(kek_id, bytes(flipped), "case|1")


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


# Public AES-GCM vectors ------------------------------------------------------------------------

# Copied from NIST CAVS 14.0 gcmEncryptExtIV256.rsp (Keylen 256, IVlen 96, Taglen 128): Count = 0
# of the sections (PTlen 0, AADlen 128), (PTlen 128, AADlen 128) and (PTlen 408, AADlen 160).
NIST_GCM_256 = [
    pytest.param(
        "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223",
        "d79cf22d504cc793c3fb6c8a",
        "",
        "b96baa8c1c75a671bfb2d08d06be5f36",
        "",
        "3e5d486aa2e30b22e040b85723a06e76",
        id="pt0-aad128",
    ),
    pytest.param(
        "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
        "ac93a1a6145299bde902f21a",
        "2d71bcfa914e4ac045b2aa60955fad24",
        "1e0889016f67601c8ebea4943bc23ad6",
        "8995ae2e6df3dbf96fac7b7137bae67f",
        "eca5aa77d51d4a0a14d9c51e1da474ab",
        id="pt128-aad128",
    ),
    pytest.param(
        "24501ad384e473963d476edcfe08205237acfd49b5b8f33857f8114e863fec7f",
        "9ff18563b978ec281b3f2794",
        "27f348f9cdc0c5bd5e66b1ccb63ad920ff2219d14e8d631b3872265cf117ee86757accb158bd9abb3868fdc0d0b074b5f01b2c",
        "adb5ec720ccf9898500028bf34afccbcaca126ef",
        "eb7cb754c824e8d96f7c6d9b76c7d26fb874ffbf1d65c6f64a698d839b0b06145dae82057ad55994cf59ad7f67c0fa5e85fab8",
        "bc95c532fecc594c36d1550286a7a3f0",
        id="pt408-aad160",
    ),
]


def _check_vector(key: bytes, iv: bytes, pt: bytes, aad: bytes, ct: bytes, tag: bytes) -> None:
    assert AESGCM(key).encrypt(iv, pt, aad) == ct + tag
    blob = bytes([FORMAT_VERSION]) + iv + ct + tag
    assert _open(key, blob, aad) == pt
    with pytest.raises(DecryptionError):
        _open(key, blob[:-1] + bytes([blob[-1] ^ 0x80]), aad)
    with pytest.raises(DecryptionError):
        _open(key, blob, aad + b"\x00")


@pytest.mark.parametrize(("key", "iv", "pt", "aad", "ct", "tag"), NIST_GCM_256)
def test_nist_gcm_vectors(key: str, iv: str, pt: str, aad: str, ct: str, tag: str) -> None:
    """NIST GCM vectors (AES-256, 96-bit IV, with AAD) hold for AESGCM and for the wrapper's `_open`."""
    _check_vector(*(bytes.fromhex(value) for value in (key, iv, pt, aad, ct, tag)))


def _rsp_records(name: str) -> Iterator[dict[str, str]]:
    """The records of a NIST .rsp file of `cryptography_vectors`, each with its section headers."""
    vectors = pytest.importorskip(
        "cryptography_vectors",
        reason="the full NIST GCM vector set needs the cryptography-vectors package "
               "(pip install cryptography-vectors); the hard-coded vectors still run",
    )
    section: dict[str, str] = {}
    record: dict[str, str] = {}
    with vectors.open_vector_file(f"ciphers/AES/GCM/{name}", "r") as lines:
        for raw in [*lines, ""]:
            line = raw.strip()
            if line.startswith("["):
                if record:
                    yield {**section, **record}
                    record = {}
                field, _, value = line.strip("[]").partition("=")
                section[field.strip()] = value.strip()
            elif line == "FAIL":
                record["FAIL"] = "yes"
            elif "=" in line and not line.startswith("#"):
                field, _, value = line.partition("=")
                record[field.strip()] = value.strip()
            elif not line and record:
                yield {**section, **record}
                record = {}


def _wrapper_shaped(record: dict[str, str]) -> bool:
    """Vectors the format can hold: 256-bit key, 96-bit nonce, 128-bit tag."""
    return record["Keylen"] == "256" and record["IVlen"] == "96" and record["Taglen"] == "128"


def test_nist_gcm_encrypt_vector_file() -> None:
    """Every AES-256 / 96-bit IV / 128-bit tag vector of gcmEncryptExtIV256.rsp passes through `_open`."""
    checked = 0
    for record in filter(_wrapper_shaped, _rsp_records("gcmEncryptExtIV256.rsp")):
        _check_vector(*(bytes.fromhex(record[field]) for field in ("Key", "IV", "PT", "AAD", "CT", "Tag")))
        checked += 1
    assert checked >= 300


def test_nist_gcm_decrypt_vector_file() -> None:
    """gcmDecrypt256.rsp through `_open`: valid vectors decrypt, those marked FAIL raise DecryptionError."""
    passed = failed = 0
    for record in filter(_wrapper_shaped, _rsp_records("gcmDecrypt256.rsp")):
        key, iv, ct, aad, tag = (bytes.fromhex(record[field]) for field in ("Key", "IV", "CT", "AAD", "Tag"))
        blob = bytes([FORMAT_VERSION]) + iv + ct + tag
        if "FAIL" in record:
            with pytest.raises(DecryptionError):
                _open(key, blob, aad)
            failed += 1
        else:
            assert _open(key, blob, aad) == bytes.fromhex(record["PT"])
            passed += 1
    assert passed > 0
    assert failed > 0
