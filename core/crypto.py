"""Encryption of data at rest (the OAuth tokens we keep), with rotatable keys.

DATA_ENCRYPTION_KEYS holds Fernet keys (AES-128-CBC + HMAC-SHA256, timestamped, authenticated): the first
encrypts, every one decrypts, so a key is rotated by putting a new one first and dropping the old one once
`Cipher.rotate` has re-encrypted what it protected. Outside production, with none set, a key is generated
once into VAR_DIR (like the JWT signing keys in core/tokens.py), so stored tokens survive restarts.

The same keys also yield purpose-bound keys (HKDF) for short-lived secrets such as the OAuth `state`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.config import Settings
from core.errors import ServiceUnavailable


class CannotDecrypt(Exception):
    """The ciphertext was not made by any of our keys, or was altered."""


class Cipher:
    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._keys = [key.encode("ascii") if isinstance(key, str) else key for key in keys]
        self._fernet = MultiFernet([Fernet(key) for key in self._keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> Cipher:
        if settings.data_encryption_keys:
            return cls(settings.data_encryption_keys)
        if settings.app_env == "production":  # Settings refuses this for Google; webhooks answer 503
            raise ServiceUnavailable("This server has no DATA_ENCRYPTION_KEYS to keep secrets with")
        return cls([_development_key(settings.var_dir / "data-encryption-key")])

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def decrypt(self, ciphertext: str, *, max_age_seconds: int | None = None) -> str:
        """The plaintext; CannotDecrypt for a forged, damaged or (with `max_age_seconds`) older ciphertext."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii"), ttl=max_age_seconds).decode()
        except (InvalidToken, UnicodeError):
            raise CannotDecrypt() from None

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext, encrypted with the first key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise CannotDecrypt() from None

    def derived_keys(self, purpose: str) -> list[bytes]:
        """32-byte keys for `purpose`, one per data key, in the same order (the first for new secrets).
        A key derived for one purpose tells nothing about the data keys or about other purposes."""
        return [
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"switchboard/{purpose}".encode()).derive(key)
            for key in self._keys
        ]


def _development_key(path: Path) -> str:
    return development_secret(path, lambda: Fernet.generate_key().decode("ascii"))


def development_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path` (VAR_DIR), made by `make` on first use. Racing processes (several web
    servers and workers starting at once) agree: the first link wins, and no one reads a half-written file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(make())
        try:
            os.link(draft, path)  # atomic, and never replaces a secret another process wrote first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
