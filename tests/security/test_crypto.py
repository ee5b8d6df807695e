"""Attacks on field encryption, through our wrapper (storage/crypto.py) and the real AES-GCM of `cryptography`.

Figures held (SECURITY.md): flipping any bit of the nonce, the ciphertext, the tag or the
associated data fails 100%; a ciphertext moved to another row, party, field or table fails
100%, in the wrapper and in a real SQLite database; a wrapped data key moved to another owner
fails; truncated and wrong-version blobs fail; NIST's AES-GCM vectors pass through the wrapper.
Each test counts what it tried and records the count under "security figures".
"""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flows.model import InterestCategory, ItemKind
from storage.crypto import FORMAT_VERSION, FieldCipher, FieldContext, KeyRing, MasterKey, _open, new_data_key
from storage.db import create_engine
from storage.errors import DecryptionError
from storage.migrate import upgrade_async
from storage.repository import Store
from tests.storage.conftest import answer_issues, seated_case, unit

HEADER, NONCE, TAG = 1, 12, 16
CONTEXT = FieldContext("answers", "row-1", "case-1", "party-1", "position:issue-1")
PLAINTEXTS = ["", "x", "We need the well open before the dry season.", "Ça va — سلام — שלום — 🕊️\n" * 5]


def _flipped(data: bytes, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """``data`` with one bit flipped, for every bit from byte ``start`` to ``end``."""
    for position in range(start, len(data) if end is None else end):
        for bit in range(8):
            changed = bytearray(data)
            changed[position] ^= 1 << bit
            yield bytes(changed)


def _refused(attempt: Callable[[], object]) -> bool:
    try:
        attempt()
    except DecryptionError:
        return True
    return False


# Tampering ----------------------------------------------------------------------------------------

def test_every_bit_flip_of_version_nonce_ciphertext_and_tag_fails(figures: dict[str, str]) -> None:
    """Any one bit changed anywhere in a stored answer makes it unreadable: never a different text."""
    cipher = FieldCipher(new_data_key())
    tried = refused = 0
    for text in PLAINTEXTS:
        blob = cipher.encrypt(text, CONTEXT)
        assert cipher.decrypt(blob, CONTEXT) == text
        for changed in _flipped(blob):
            tried += 1
            refused += _refused(lambda changed=changed: cipher.decrypt(changed, CONTEXT))
    expected = sum(8 * (HEADER + NONCE + len(text.encode()) + TAG) for text in PLAINTEXTS)
    assert (tried, refused) == (expected, expected)
    figures["crypto: bit flips of version, nonce, ciphertext and tag refused"] = f"{refused} of {tried}"


def test_every_bit_flip_of_the_associated_data_fails(figures: dict[str, str]) -> None:
    """A ciphertext read with associated data one bit away from its own is refused."""
    key = new_data_key()
    tried = refused = 0
    for text in PLAINTEXTS:
        blob = FieldCipher(key).encrypt(text, CONTEXT)
        aad = CONTEXT.associated_data()
        assert _open(key, blob, aad) == text.encode()
        for changed in _flipped(aad):
            tried += 1
            refused += _refused(lambda blob=blob, changed=changed: _open(key, blob, changed))
    expected = len(PLAINTEXTS) * 8 * len(CONTEXT.associated_data())
    assert (tried, refused) == (expected, expected)
    figures["crypto: bit flips of the associated data refused"] = f"{refused} of {tried}"


def test_any_single_byte_change_fails() -> None:
    """Every other value at every byte position (version, nonce, ciphertext, tag) fails to decrypt."""
    cipher = FieldCipher(new_data_key())
    blob = cipher.encrypt("hi", CONTEXT)
    changed = [blob[:at] + bytes([value]) + blob[at + 1:]
               for at in range(len(blob)) for value in range(256) if value != blob[at]]
    assert len(changed) == len(blob) * 255
    assert all(_refused(lambda other=other: cipher.decrypt(other, CONTEXT)) for other in changed)


def test_truncated_or_extended_ciphertext_fails() -> None:
    """Every proper prefix of a ciphertext fails, as does a ciphertext with bytes appended."""
    cipher = FieldCipher(new_data_key())
    blob = cipher.encrypt("hello", CONTEXT)
    for length in range(len(blob)):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob[:length], CONTEXT)
    for extra in (b"\x00", b"\x01" * 16):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob + extra, CONTEXT)


def test_every_other_version_byte_fails() -> None:
    """A blob whose version byte is not the current format is refused, whatever follows it."""
    cipher = FieldCipher(new_data_key())
    blob = cipher.encrypt("hello", CONTEXT)
    for version in set(range(256)) - {FORMAT_VERSION}:
        with pytest.raises(DecryptionError, match="malformed"):
            cipher.decrypt(bytes([version]) + blob[HEADER:], CONTEXT)


@pytest.mark.parametrize("nonce_bytes", [8, 11, 13, 16, 64])
def test_a_nonce_of_another_length_is_refused(nonce_bytes: int) -> None:
    """The format fixes 12-byte nonces: an AES-GCM ciphertext made with another length never decrypts.

    AESGCM itself accepts such nonces, so the wrapper must not hand it one.
    """
    key = new_data_key()
    nonce = bytes(range(nonce_bytes))
    blob = bytes([FORMAT_VERSION]) + nonce + AESGCM(key).encrypt(nonce, b"hello", CONTEXT.associated_data())
    with pytest.raises(DecryptionError):
        FieldCipher(key).decrypt(blob, CONTEXT)


# Ciphertexts moved elsewhere ------------------------------------------------------------------------

def _contexts() -> list[FieldContext]:
    """Every combination of a few tables, rows, cases, parties and fields."""
    return [FieldContext(*parts) for parts in itertools.product(
        ("answers", "notes", "suggestions"), ("row-1", "row-2", "row-3"), ("case-1", "case-2"),
        ("party-1", "party-2", "party-3"), ("position:issue-1", "interests:issue-1", "text"),
    )]


def test_a_ciphertext_moved_to_any_other_row_party_field_or_table_fails(figures: dict[str, str]) -> None:
    """Under one data key (the worst case), a ciphertext read as any other place's is refused, every time."""
    cipher = FieldCipher(new_data_key())
    contexts = _contexts()
    blobs = [cipher.encrypt(f"answer {number}", context) for number, context in enumerate(contexts)]
    tried = refused = 0
    for (number, blob), context in itertools.product(enumerate(blobs), contexts):
        if context == contexts[number]:
            assert cipher.decrypt(blob, context) == f"answer {number}"
            continue
        tried += 1
        refused += _refused(lambda blob=blob, context=context: cipher.decrypt(blob, context))
    assert (tried, refused) == (len(contexts) * (len(contexts) - 1),) * 2
    figures["crypto: ciphertexts moved to another table, row, case, party or field refused"] = \
        f"{refused} of {tried}"


@pytest.mark.parametrize("part", [field.name for field in dataclasses.fields(FieldContext)])
def test_a_ciphertext_read_with_one_part_changed_fails(part: str) -> None:
    """Changing any one part of the context (emptied, extended, re-cased, another value) is refused."""
    cipher = FieldCipher(new_data_key())
    blob = cipher.encrypt("hello", CONTEXT)
    for other in ("", "other", getattr(CONTEXT, part) + "x", getattr(CONTEXT, part).upper()):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob, dataclasses.replace(CONTEXT, **{part: other}))


def test_another_partys_key_cannot_read_the_answer() -> None:
    """A ciphertext decrypted under another data key fails, even with its own context."""
    blob = FieldCipher(new_data_key()).encrypt("hello", CONTEXT)
    with pytest.raises(DecryptionError):
        FieldCipher(new_data_key()).decrypt(blob, CONTEXT)


def test_a_wrapped_data_key_moved_to_another_owner_fails() -> None:
    """A wrapped data key is bound to its owner: unwrapping it as another key's, even a near twin, fails."""
    ring = KeyRing(MasterKey.generate())
    kek_id, wrapped = ring.wrap(new_data_key(), "party|abc")
    for owner in ("party|abd", "case|abc", "grievance|abc", "", "party|abc ", "party|ABC"):
        with pytest.raises(DecryptionError):
            ring.unwrap(kek_id, wrapped, owner)


def test_every_bit_flip_of_a_wrapped_key_fails() -> None:
    """Any one bit changed in a wrapped data key makes unwrapping fail."""
    ring = KeyRing(MasterKey.generate())
    kek_id, wrapped = ring.wrap(new_data_key(), "case|1")
    assert all(_refused(lambda changed=changed: ring.unwrap(kek_id, changed, "case|1"))
               for changed in _flipped(wrapped))


# Moved inside a real SQLite database ------------------------------------------------------------------

@dataclasses.dataclass
class Seated:
    """A SQLite database with one case, two parties who answered, and a note from the first."""

    store: Store
    path: Path
    case_id: str
    seats: list[str]


POSITIONS = ("NORTH-POSITION-ON-WATER", "NORTH-POSITION-ON-GRAZING")  # the first party's; "SOUTH-…" the other's


@pytest.fixture
async def seated(tmp_path: Path) -> AsyncIterator[Seated]:
    path = tmp_path / "caucus.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    store = Store(create_engine(url), KeyRing(MasterKey.generate()))
    try:
        await store.open()
        case_id, seats = await seated_case(store, [5_100_000_001, 5_100_000_002])
        for seat_id, prefix in zip(seats, ("NORTH", "SOUTH"), strict=True):
            await answer_issues(store, seat_id, positions=[position.replace("NORTH", prefix) for position in POSITIONS],
                                words=[f"{prefix} words"] * 2, categories=[[InterestCategory.LAND]] * 2)
        async with unit(store) as tx:
            await tx.add_note(seats[0], "NORTH-NOTE for the mediator")
        yield Seated(store, path, case_id, seats)
    finally:
        await store.engine.dispose()


def _sql(path: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(statement, params).fetchall()
    connection.close()
    return rows


def _answer(path: Path, seat_id: str, kind: ItemKind, ordinal: int = 0) -> tuple[str, bytes]:
    """The id and ciphertext of a party's answer of ``kind`` on the issue at ``ordinal``."""
    rows = _sql(path, "select a.id, a.value_enc from answers a join issues i on i.id = a.issue_id "
                      "where a.seat_id = ? and a.kind = ? order by i.ordinal", seat_id, kind.value)
    return rows[ordinal]


async def _positions(store: Store, seat_id: str) -> list[str]:
    async with unit(store) as tx:
        return list((await tx.load_caucus(seat_id)).answers.positions.values())


async def test_an_answer_copied_to_another_partys_row_fails_loudly(seated: Seated) -> None:
    """A's ciphertext pasted over B's answer: loading B's caucus raises, never shows B the text of A."""
    north, south = seated.seats
    assert "SOUTH-POSITION-ON-WATER" in await _positions(seated.store, south)
    _, stolen = _answer(seated.path, north, ItemKind.POSITION)
    target, _ = _answer(seated.path, south, ItemKind.POSITION)
    _sql(seated.path, "update answers set value_enc = ? where id = ?", stolen, target)
    with pytest.raises(DecryptionError):
        await _positions(seated.store, south)
    assert POSITIONS[0] in await _positions(seated.store, north)  # the original still reads


async def test_an_answer_copied_with_the_seat_pointed_at_the_other_key_still_fails(seated: Seated) -> None:
    """Even with B's seat re-pointed at A's data key, A's ciphertext in B's row fails: the row and party are bound."""
    north, south = seated.seats
    _, stolen = _answer(seated.path, north, ItemKind.POSITION)
    target, _ = _answer(seated.path, south, ItemKind.POSITION)
    _sql(seated.path, "update seats set key_id = (select key_id from seats where id = ?) where id = ?", north, south)
    _sql(seated.path, "delete from answers where seat_id = ? and id != ?", south, target)
    _sql(seated.path, "update answers set value_enc = ? where id = ?", stolen, target)
    with pytest.raises(DecryptionError):
        await _positions(seated.store, south)


async def test_an_answer_moved_to_another_issue_or_field_of_the_same_party_fails(seated: Seated) -> None:
    """Under the party's own key, a position pasted over its other issue's position or its interests fails."""
    north = seated.seats[0]
    _, position = _answer(seated.path, north, ItemKind.POSITION)
    for kind, ordinal in ((ItemKind.POSITION, 1), (ItemKind.INTERESTS, 0)):
        target, original = _answer(seated.path, north, kind, ordinal)
        _sql(seated.path, "update answers set value_enc = ? where id = ?", position, target)
        with pytest.raises(DecryptionError):
            await _positions(seated.store, north)
        _sql(seated.path, "update answers set value_enc = ? where id = ?", original, target)
    assert sorted(await _positions(seated.store, north)) == sorted(POSITIONS)


async def test_an_answer_moved_into_another_table_fails(seated: Seated) -> None:
    """A's answer pasted over A's note (same key, another table): the mediator's note list raises."""
    north = seated.seats[0]
    _, position = _answer(seated.path, north, ItemKind.POSITION)
    async with unit(seated.store) as tx:
        assert [note.text for note in await tx.notes(seated.case_id)] == ["NORTH-NOTE for the mediator"]
    _sql(seated.path, "update notes set text_enc = ? where seat_id = ?", position, north)
    with pytest.raises(DecryptionError):
        async with unit(seated.store) as tx:
            await tx.notes(seated.case_id)


async def test_a_wrapped_key_moved_to_another_party_fails(seated: Seated) -> None:
    """A's wrapped data key copied onto B's key row: B's answers cannot be opened with it."""
    north, south = seated.seats
    _sql(seated.path, "update data_keys set wrapped = (select d.wrapped from data_keys d join seats s "
                      "on s.key_id = d.id where s.id = ?), kek_id = (select d.kek_id from data_keys d join seats s "
                      "on s.key_id = d.id where s.id = ?) where id = (select key_id from seats where id = ?)",
         north, north, south)
    with pytest.raises(DecryptionError):
        await _positions(seated.store, south)


async def test_a_case_title_moved_to_another_case_fails(seated: Seated) -> None:
    """One case's title pasted into another case's row fails to open rather than naming the wrong case."""
    other = await seated_case(seated.store, [5_100_000_003], title="SECOND-CASE-TITLE")
    _sql(seated.path, "update cases set title_enc = (select title_enc from cases where id = ?) where id = ?",
         other[0], seated.case_id)
    with pytest.raises(DecryptionError):
        async with unit(seated.store) as tx:
            await tx.case_info(seated.case_id)


# Public AES-GCM vectors ---------------------------------------------------------------------------------

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
    """The vector holds for AESGCM, opens through the wrapper, and a changed tag or AAD is refused there."""
    assert AESGCM(key).encrypt(iv, pt, aad) == ct + tag
    blob = bytes([FORMAT_VERSION]) + iv + ct + tag
    assert _open(key, blob, aad) == pt
    with pytest.raises(DecryptionError):
        _open(key, blob[:-1] + bytes([blob[-1] ^ 0x80]), aad)
    with pytest.raises(DecryptionError):
        _open(key, blob, aad + b"\x00")


@pytest.mark.parametrize(("key", "iv", "pt", "aad", "ct", "tag"), NIST_GCM_256)
def test_nist_gcm_vectors(key: str, iv: str, pt: str, aad: str, ct: str, tag: str) -> None:
    """NIST GCM vectors (AES-256, 96-bit IV, with AAD) hold for AESGCM and open through the wrapper."""
    _check_vector(*(bytes.fromhex(value) for value in (key, iv, pt, aad, ct, tag)))


def _rsp_records(name: str) -> Iterator[dict[str, str]]:
    """The records of a NIST .rsp file of `cryptography_vectors`, each with its section headers."""
    vectors = pytest.importorskip(
        "cryptography_vectors",
        reason="NIST's GCM vector files ship in cryptography-vectors (in the test extra: pip install -e '.[test]')",
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


def _fits_the_format(record: dict[str, str]) -> bool:
    """Vectors a blob of ours can hold: 96-bit nonce, 128-bit tag (any AES key size)."""
    return record["IVlen"] == "96" and record["Taglen"] == "128"


KEY_SIZES = ("128", "192", "256")


def test_nist_gcm_encrypt_vector_files(figures: dict[str, str]) -> None:
    """Every 96-bit-nonce, 128-bit-tag vector of gcmEncryptExtIV{128,192,256}.rsp opens through the wrapper."""
    checked = 0
    for size in KEY_SIZES:
        for record in filter(_fits_the_format, _rsp_records(f"gcmEncryptExtIV{size}.rsp")):
            _check_vector(*(bytes.fromhex(record[field]) for field in ("Key", "IV", "PT", "AAD", "CT", "Tag")))
            checked += 1
    assert checked == 3 * 375  # 375 records per key size have a 96-bit nonce and a 128-bit tag
    figures["crypto: NIST GCM encryption vectors opened through the wrapper"] = str(checked)


def test_nist_gcm_decrypt_vector_files(figures: dict[str, str]) -> None:
    """gcmDecrypt{128,192,256}.rsp through the wrapper: valid vectors decrypt, those marked FAIL are refused."""
    passed = failed = 0
    for size in KEY_SIZES:
        for record in filter(_fits_the_format, _rsp_records(f"gcmDecrypt{size}.rsp")):
            key, iv, ct, aad, tag = (bytes.fromhex(record[field]) for field in ("Key", "IV", "CT", "AAD", "Tag"))
            blob = bytes([FORMAT_VERSION]) + iv + ct + tag
            if "FAIL" in record:
                with pytest.raises(DecryptionError):
                    _open(key, blob, aad)
                failed += 1
            else:
                assert _open(key, blob, aad) == bytes.fromhex(record["PT"])
                passed += 1
    assert (passed, failed) == (3 * 375 - 577, 577)
    figures["crypto: NIST GCM decryption vectors (valid opened, FAIL refused)"] = f"{passed} opened, {failed} refused"


def test_nist_gcm_vectors_the_format_cannot_hold_are_refused(figures: dict[str, str]) -> None:
    """Valid AES-GCM vectors with another nonce length or a short tag never decrypt through the wrapper."""
    refused = 0
    for size in KEY_SIZES:
        for record in _rsp_records(f"gcmEncryptExtIV{size}.rsp"):
            if _fits_the_format(record):
                continue
            key, iv, aad, ct, tag = (bytes.fromhex(record[field]) for field in ("Key", "IV", "AAD", "CT", "Tag"))
            with pytest.raises(DecryptionError):
                _open(key, bytes([FORMAT_VERSION]) + iv + ct + tag, aad)
            refused += 1
    assert refused == 3 * (7875 - 375)
    figures["crypto: NIST GCM vectors of other nonce or tag lengths refused"] = str(refused)
