"""The nesting bound is counted on the JSON text, before parsing: brackets inside strings do not count."""

from __future__ import annotations

import pytest

from web.validation import MAX_JSON_DEPTH, _nests_too_deep


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, False),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), True),
        ('{"a": ' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1), True),
        ('{"greeting": "' + "[{" * 500 + '"}', False),  # brackets in a string are text
        ('{"a": "quote \\" then [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', False),  # an escaped quote ends nothing
        ("[]" * 1000, False),  # wide, not deep
    ],
)
def test_nesting_is_counted_outside_strings(text: str, too_deep: bool) -> None:
    assert _nests_too_deep(text) is too_deep
