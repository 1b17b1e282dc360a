#!/usr/bin/env python3
"""Creates the account the end-to-end scripts sign in with, and its business.

Registers E2E_EMAIL / E2E_PASSWORD (--email/--password), signs in and creates the caller's business with
POST /business/me. An account or business that already exists is fine (409): the account is then only
signed in to. Exits 0 when the account can sign in and owns a business, with the codes of the checks
otherwise (1 sign-in, 2 unreachable, 3 a creation refused, 5 unexpected).
  E2E_EMAIL=e2e@example.com E2E_PASSWORD=... python3 tests/e2e/provision_user.py --url http://127.0.0.1:3001
"""

from __future__ import annotations

import argparse
import os

from e2e_common import API_PREFIX, UPDATE_FAILED, CheckFailed, Client, info, passed, run


def provision(client: Client, args: argparse.Namespace) -> None:
    step = "create business"
    name = os.environ.get("E2E_BUSINESS_NAME", "E2E Receptionist Co")
    response = client.request("POST", "/business/me", {"name": name}, step=step)
    if response.status == 201:
        passed(step, f"201 business {name!r}")
    elif response.status == 409:
        info(step, "409: the account already has a business")
    else:
        raise CheckFailed(UPDATE_FAILED, step, f"POST {API_PREFIX}/business/me: {response.describe()}")
    client.get_json("/business/me", "read business")
    passed("read business", "200")


def register(client: Client, args: argparse.Namespace) -> None:
    step = "register"
    body = {"email": args.email, "password": args.password, "name": os.environ.get("E2E_NAME", "E2E Check")}
    response = client.request("POST", "/auth/register", body, step=step, authenticated=False)
    if response.status == 201:
        passed(step, f"201 {args.email}")
    elif response.status == 409:
        info(step, f"409: {args.email} is already registered")
    else:
        raise CheckFailed(UPDATE_FAILED, step, f"POST {API_PREFIX}/auth/register: {response.describe()}")


if __name__ == "__main__":
    run("provision-user", __doc__ or "", provision, before_login=register)
