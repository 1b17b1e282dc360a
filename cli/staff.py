"""Grants (or with --revoke, removes) staff rights: `python -m cli.staff EMAIL` (make create-staff EMAIL=...).

Staff may use the admin API (scope admin:jobs). The change applies from the user's next request.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import select

from core.config import load_settings_or_exit
from core.db import Database, create_db_engine
from models import User
from models.user import normalise_email


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.staff", description=__doc__)
    parser.add_argument("email")
    parser.add_argument("--revoke", action="store_true", help="remove staff rights instead")
    args = parser.parse_args(argv)
    database = Database(create_db_engine(load_settings_or_exit()))
    try:
        with database.sessions.begin() as session:
            user = session.scalar(select(User).where(User.email == normalise_email(args.email)))
            if user is None:
                print(f"No user with email {args.email!r}; they must register first.", file=sys.stderr)
                return 1
            user.is_staff = not args.revoke
        print(f"{user.email} is {'no longer' if args.revoke else 'now'} staff.")
        return 0
    finally:
        database.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
