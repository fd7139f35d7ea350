"""The one line `numlake run` prints for a failed dbt step names what failed."""

from __future__ import annotations

from orchestration.runner import failure_reason

DATA_TEST_FAILED = """dagster_dbt.errors.DagsterDbtCliRuntimeError: The dbt CLI process with command

`dbt build --exclude-resource-type unit_test --select fqn:*`

failed with exit code `1`. Check the stdout in the Dagster compute logs for the full information.

Errors parsed from dbt logs:

79 of 98 FAIL 148 assert_lake_rows_match_the_ledger ............................ [\x1b[31mFAIL 148\x1b[0m in 0.08s]

\x1b[31mFailure in test assert_lake_rows_match_the_ledger (tests/assert_lake_rows_match_the_ledger.sql)\x1b[0m

  Got 148 results, configured to fail if != 0
"""


def test_a_failed_data_test_is_named_with_what_it_found():
    # before: "Got 148 results, configured to fail if != 0", the test's name only in the run's log
    assert failure_reason(DATA_TEST_FAILED) == (
        "test assert_lake_rows_match_the_ledger: Got 148 results, configured to fail if != 0"
    )


def test_a_step_error_without_dbt_lines_is_its_last_line():
    assert failure_reason("Traceback ...\nValueError: nope\n") == "ValueError: nope"
