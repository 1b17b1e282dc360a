"""Every problem code the test suite met is documented for the operation that answered it."""

from __future__ import annotations

import pytest

from tests.problem_codes import LAST, RECORDER, documented_codes, load_spec


@pytest.mark.checks_what_the_suite_met
def test_every_problem_code_the_suite_met_is_documented_for_its_operation() -> None:
    # Run alone, this test has nothing to check: it reads the problems the rest of the suite met.
    assert len({code for _, _, code in RECORDER.met}) >= 20, f"run it with the suite ({LAST}): {RECORDER.met}"
    documented = documented_codes(load_spec())
    operations = {operation_id for operation_id, _ in documented}
    undocumented = sorted(
        (operation_id, status, code)
        for operation_id, status, code in RECORDER.met
        if operation_id in operations  # not a probe operation (tests/integration/probe)
        and code not in documented.get((operation_id, status), documented.get((operation_id, 0), set()))
    )
    assert undocumented == [], "\n".join(f"{op} {status} {code}" for op, status, code in undocumented)
