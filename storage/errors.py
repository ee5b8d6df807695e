"""Exceptions of the storage layer (one root, precise subclasses)."""


class StorageError(Exception):
    """Root of every error raised by `storage`."""


class CryptoError(StorageError):
    """A key or ciphertext could not be used."""


class DecryptionError(CryptoError):
    """A ciphertext failed authentication: tampered, moved, or under a destroyed key."""


class KeyDestroyedError(CryptoError):
    """The data key was destroyed (the data it protected is gone)."""


class UnknownMasterKeyError(CryptoError):
    """A data key is wrapped under a master key that is not configured."""
