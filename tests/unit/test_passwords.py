from __future__ import annotations

from typing import get_args

import pytest

from core import passwords
from core.config import PasswordHashCost


@pytest.mark.parametrize("cost", get_args(PasswordHashCost))
def test_an_unknown_emails_dummy_hash_is_made_at_the_cost_in_use(cost: PasswordHashCost) -> None:
    """So that an unknown email's answer takes as long as a wrong password's, at either cost."""
    assert not passwords.hasher(cost).check_needs_rehash(passwords._dummy_hash(cost))


def test_new_hashes_follow_the_cost_in_use_and_older_ones_still_verify() -> None:
    in_use = passwords._cost  # the process's (a test app's), given back after
    try:
        passwords.use_hash_cost("default")
        strong = passwords.hash_password("a-long-and-unlikely-passphrase")
        passwords.use_hash_cost("low")
        weak = passwords.hash_password("a-long-and-unlikely-passphrase")

        assert passwords.needs_rehash(strong)
        assert not passwords.needs_rehash(weak)
        assert passwords.verify_password(strong, "a-long-and-unlikely-passphrase")
        assert not passwords.verify_password(None, "a-long-and-unlikely-passphrase")
    finally:
        passwords.use_hash_cost(in_use)
