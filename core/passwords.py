"""Password policy and hashing (argon2id, re-hashed on login when the parameters change)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.config import PROJECT_ROOT, PasswordHashCost
from core.errors import ApiError

MIN_LENGTH, MAX_LENGTH = 10, 128  # also in the spec (Password schema)


@cache
def hasher(cost: PasswordHashCost) -> PasswordHasher:
    """argon2id at the library's recommended parameters, or at its lowest cost (tests only: production refuses it)."""
    if cost == "low":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


@cache
def _dummy_hash(cost: PasswordHashCost) -> str:
    """Verified against when the email is unknown, so that answer takes as long as a wrong password."""
    return hasher(cost).hash("not the password of anyone at all")


# The cost is the process's, like its logging: `create_app` applies its settings' PASSWORD_HASH_COST.
_cost: PasswordHashCost = "default"


def use_hash_cost(cost: PasswordHashCost) -> None:
    global _cost
    _cost = cost
    _dummy_hash(cost)  # made now, not during the first unknown email's sign-in


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
    return hasher(_cost).hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Checks against the hash's own parameters (those it was made with), whatever the current cost."""
    try:
        return hasher(_cost).verify(password_hash or _dummy_hash(_cost), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher(_cost).check_needs_rehash(password_hash)
