"""Password policy and hashing (argon2id, re-hashed on login when the parameters change)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.config import PROJECT_ROOT
from core.errors import ApiError

MIN_LENGTH, MAX_LENGTH = 10, 128  # also in the spec (Password schema)
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so that answer takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not the password of anyone at all")


class PasswordTooCommon(ApiError):
    status, code, title = 422, "password_too_common", "Password too common"
    type = "/problems/password-too-common"

    def __init__(self) -> None:
        super().__init__("This password is on a list of commonly used passwords; choose another one.")


@cache
def common_passwords() -> frozenset[str]:
    lines = (PROJECT_ROOT / "data" / "common-passwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_policy(password: str) -> None:
    """Length is the spec's; what the spec cannot say is checked here."""
    if password.lower() in common_passwords():
        raise PasswordTooCommon()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
