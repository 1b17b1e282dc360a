"""People who sign in, with their sign-in rules: registration, credentials, lockout."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Integer, String, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.errors import ApiError
from core.passwords import check_policy, hash_password, needs_rehash, verify_password
from models.base import Base, UtcDateTime, utcnow


class EmailTaken(ApiError):
    status, code, title, type = 409, "email_taken", "Email already registered", "/problems/email-taken"

    def __init__(self) -> None:
        super().__init__("An account with this email address already exists.")


class InvalidCredentials(ApiError):
    status, code, title, type = 401, "invalid_credentials", "Invalid credentials", "/problems/invalid-credentials"

    def __init__(self) -> None:
        super().__init__("The email address or password is wrong.", headers={"WWW-Authenticate": "Bearer"})


class AccountLocked(ApiError):
    status, code, title, type = 429, "account_locked", "Account locked", "/problems/account-locked"

    def __init__(self, retry_after: timedelta) -> None:
        seconds = max(1, int(retry_after.total_seconds()))
        super().__init__(
            "Too many failed sign-ins: the account is locked for a while.", headers={"Retry-After": str(seconds)}
        )


class CurrentPasswordIncorrect(ApiError):
    status, code, title = 422, "current_password_incorrect", "Current password incorrect"
    type = "/problems/current-password-incorrect"

    def __init__(self) -> None:
        super().__init__("The current password is wrong; the password was not changed.")


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised: trimmed, lower case
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: signs in elsewhere (external IdP)
    email_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    # "<issuer>|<sub>" of an external identity provider's account linked to this user.
    external_subject: Mapped[str | None] = mapped_column(String(600), unique=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now(), onupdate=func.now())

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def scopes(self) -> list[str]:
        """Read from the database on every request, so granting or removing staff applies at once."""
        return ["users:read", "users:write", "sessions:manage"] + (["admin:jobs"] if self.is_staff else [])

    @classmethod
    def register(cls, session: Session, *, email: str, password: str, name: str) -> User:
        check_policy(password)
        user = cls(email=normalise_email(email), name=name.strip(), password_hash=hash_password(password))
        session.add(user)
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise EmailTaken() from None
        return user

    @classmethod
    def authenticate(
        cls, session: Session, *, email: str, password: str, max_failures: int, lockout: timedelta
    ) -> User:
        """The user whose credentials these are; 401 if they are wrong, 429 while the account is locked.

        An unknown email and a wrong password answer alike, after the same argon2 work. Failures are
        counted in their own transaction (the request's rolls back with the 401), atomically, so
        concurrent guesses cannot slip past the limit.
        """
        user = session.scalar(select(cls).where(cls.email == normalise_email(email)))
        now = utcnow()
        correct = verify_password(user.password_hash if user else None, password)
        if user is None:
            raise InvalidCredentials()
        if user.locked_until is not None and user.locked_until > now:
            raise AccountLocked(user.locked_until - now)
        if not correct:
            locked_until = cls._count_failure(session, user.id, max_failures=max_failures, lockout=lockout)
            if locked_until is not None:
                raise AccountLocked(locked_until - now)
            raise InvalidCredentials()
        user.failed_logins, user.locked_until = 0, None
        if user.password_hash and needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return user

    @classmethod
    def _count_failure(
        cls, session: Session, user_id: uuid.UUID, *, max_failures: int, lockout: timedelta
    ) -> datetime | None:
        """Adds a failure in a transaction of its own; returns the lock's end if this one locked the account."""
        now = utcnow()
        bind = session.get_bind()
        with Session(bind) as own:
            failures = cls.failed_logins + 1
            locked_until = own.scalar(
                update(cls)
                .where(cls.id == user_id)
                .values(
                    failed_logins=case((failures >= max_failures, 0), else_=failures),
                    locked_until=case((failures >= max_failures, now + lockout), else_=cls.locked_until),
                )
                .returning(cls.locked_until)
            )
            own.commit()
        return locked_until if locked_until is not None and locked_until > now else None

    @classmethod
    def from_external(cls, session: Session, issuer: str, claims: dict[str, Any]) -> User | None:
        """The local user of an external provider's account, created on first sight from its `email`.

        An existing local account is linked only when the provider vouches for the email
        (`email_verified: true`); otherwise anyone able to register that email there could take it over.
        """
        subject = f"{issuer}|{claims['sub']}"
        user = session.scalar(select(cls).where(cls.external_subject == subject))
        if user is not None:
            return user
        email, vouched = claims.get("email"), claims.get("email_verified") is True
        if not isinstance(email, str) or "@" not in email or len(email) > 254:
            return None
        user = session.scalar(select(cls).where(cls.email == normalise_email(email)))
        if user is not None:
            if not vouched or user.external_subject is not None:
                return None
            user.external_subject = subject
            return user
        name = claims.get("name") if isinstance(claims.get("name"), str) else None
        user = cls(
            email=normalise_email(email),
            name=(name or email.split("@")[0])[:100],
            password_hash=None,
            email_verified_at=utcnow() if vouched else None,
            external_subject=subject,
        )
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError:  # created by a concurrent first request
            return session.scalar(select(cls).where(cls.external_subject == subject))
        return user

    def verify_email(self) -> None:
        if self.email_verified_at is None:
            self.email_verified_at = utcnow()

    def reset_password(self, new_password: str) -> None:
        """After proving control of the mailbox: a new password, and any lock lifted."""
        self.set_password(new_password)
        self.failed_logins, self.locked_until = 0, None

    def rename(self, name: str) -> None:
        self.name = name.strip()

    def change_password(self, *, current_password: str, new_password: str) -> None:
        if not verify_password(self.password_hash, current_password):
            raise CurrentPasswordIncorrect()
        self.set_password(new_password)

    def set_password(self, new_password: str) -> None:
        check_policy(new_password)
        self.password_hash = hash_password(new_password)
