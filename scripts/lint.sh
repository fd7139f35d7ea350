#!/usr/bin/env bash
# Linters that `make test` (and so .ci/run) runs before the tests; each fails on any finding.
# Run from anywhere: `bash scripts/lint.sh`. SQL layout is fixed by `.venv/bin/sqlfluff fix dbt_project`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# SQL of the dbt project, rules in .sqlfluff (jinja templater: offline, no manifest needed).
"$BIN/sqlfluff" lint dbt_project/models dbt_project/tests --disable-progress-bar

# Python: rules and format in pyproject.toml ([tool.ruff]), over the whole tree.
"$BIN/ruff" check .
"$BIN/ruff" format --check .
