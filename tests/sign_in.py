"""Moved to tests/helpers.py, the one home of the tests' helpers; kept only while
tests/integration/test_rate_limits.py still imports it from here (delete this file with that import)."""

from tests.helpers import auth_headers, bearer, owner_of_a_business, sign_in

__all__ = ["auth_headers", "bearer", "owner_of_a_business", "sign_in"]
