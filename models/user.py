"""People who sign in, with their sign-in rules: registration, credentials, lockout."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, DateTime, Integer, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.db import outliving
from core.errors import ApiError
from core.passwords import check_policy, hash_password, needs_rehash, verify_password
from models.base import Base, utcnow

if TYPE_CHECKING:
    from models.business import Membership


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


MAX_EXTERNAL_SUBJECT = 600
# The spec's Email pattern: what we store must be what we would have accepted.
_EMAIL = re.compile(
    r"^\s*[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\s*$"
)


def is_valid_email(email: str) -> bool:
    return len(email) <= 254 and _EMAIL.match(email) is not None


class EmailAlreadyVerified(ApiError):
    status, code, title = 409, "email_already_verified", "Email already verified"
    type = "/problems/email-already-verified"

    def __init__(self) -> None:
        super().__init__("This email address is already verified.")


def normalise_email(email: str) -> str:
    return email.strip().lower()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # normalised: trimmed, lower case
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: signs in elsewhere (external IdP)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    # "<issuer>|<sub>" of an external identity provider's account linked to this user.
    external_subject: Mapped[str | None] = mapped_column(String(MAX_EXTERNAL_SUBJECT), unique=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    membership: Mapped[Membership | None] = relationship(lazy="raise", viewonly=True)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def scopes(self) -> list[str]:
        """Read from the database on every request, so a role change, a removal from the business or
        granting staff applies at once. Needs `membership` loaded."""
        own = ["users:read", "users:write", "sessions:manage"] + (["admin:jobs"] if self.is_staff else [])
        return own + list(self.membership.scopes if self.membership else ())

    def token_info(self, session_id: uuid.UUID | None) -> dict[str, Any]:
        """What the security layer hands handlers for this person (see core.tenancy.Caller)."""
        business = self.membership.business_id if self.membership else None
        return {
            "sub": str(self.id),
            "sid": str(session_id) if session_id else None,
            "business": str(business) if business else None,
            "scope": self.scopes,
        }

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

        An unknown email and a wrong password answer alike, after the same argon2 work. The attempt is
        judged and counted in a transaction of its own that holds the user's row, so concurrent guesses
        are taken one at a time (none slips past the limit) and a failure stays counted although the
        request itself answers with an error and rolls back.
        """
        with outliving(session) as own:
            user = own.scalar(select(cls).where(cls.email == normalise_email(email)).with_for_update())
            correct = verify_password(user.password_hash if user else None, password)
            refusal = user.judge_attempt(correct, max_failures, lockout) if user else InvalidCredentials()
            user_id = user.id if user else None
        if refusal is not None or user_id is None:
            raise refusal or InvalidCredentials()
        user = session.get_one(cls, user_id)
        if user.password_hash and needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return user

    def judge_attempt(self, correct: bool, max_failures: int, lockout: timedelta) -> ApiError | None:
        """Updates the failure count for one sign-in attempt; returns why it is refused, or None."""
        now = utcnow()
        if self.locked_until is not None and self.locked_until > now:
            return AccountLocked(self.locked_until - now)
        if correct:
            self.failed_logins, self.locked_until = 0, None
            return None
        self.failed_logins += 1
        if self.failed_logins >= max_failures:
            self.failed_logins, self.locked_until = 0, now + lockout
            return AccountLocked(lockout)
        return InvalidCredentials()

    @classmethod
    def from_external(cls, session: Session, issuer: str, claims: dict[str, Any]) -> User | None:
        """The local user of an external provider's account, created on first sight; None to refuse.

        Only an email the provider vouches for (`email_verified: true`) creates or links an account, and
        an existing local account is linked only if its own email is verified too: otherwise whoever
        registered the address first, here or there, could take over the other's account.
        """
        subject = f"{issuer}|{claims['sub']}"
        if len(subject) > MAX_EXTERNAL_SUBJECT:
            return None
        user = session.scalar(select(cls).where(cls.external_subject == subject))
        if user is not None:
            return user
        email = claims.get("email")
        if claims.get("email_verified") is not True or not isinstance(email, str) or not is_valid_email(email):
            return None
        user = session.scalar(select(cls).where(cls.email == normalise_email(email)))
        if user is not None:
            if not user.email_verified or user.external_subject is not None:
                return None
            user.external_subject = subject
            return user
        name = claims.get("name")
        user = cls(
            email=normalise_email(email),
            name=(name.strip() if isinstance(name, str) and name.strip() else email.split("@")[0])[:100],
            password_hash=None,
            email_verified_at=utcnow(),
            external_subject=subject,
        )
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError:  # created by a concurrent first request
            return session.scalar(select(cls).where(cls.external_subject == subject))
        return user

    def require_unverified_email(self) -> None:
        """A verification email makes sense only while the address is unverified."""
        if self.email_verified:
            raise EmailAlreadyVerified()

    def verify_email(self) -> None:
        if self.email_verified_at is None:
            self.email_verified_at = utcnow()

    def reset_password(self, new_password: str) -> None:
        """After proving control of the mailbox: a new password, and any lock lifted."""
        self.set_password(new_password)
        self.failed_logins, self.locked_until = 0, None

    def rename(self, name: str) -> None:
        self.name = name.strip()

    def set_password(self, new_password: str) -> None:
        check_policy(new_password)
        self.password_hash = hash_password(new_password)
