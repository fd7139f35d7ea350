#!/usr/bin/env bash
# Linters that `make test` (and so .ci/run) runs before the tests; each fails on any finding.
# Run from anywhere: `bash scripts/lint.sh`. SQL layout is fixed by `.venv/bin/sqlfluff fix dbt_project`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# SQL of the dbt project, rules in .sqlfluff (jinja templater: offline, no manifest needed).
"$BIN/sqlfluff" lint dbt_project/models dbt_project/tests --disable-progress-bar

# Python: rules and format in pyproject.toml ([tool.ruff]). Until the whole tree is formatted
# (the integrator's last step), only the paths known to be clean are checked; add a path here once
# `ruff check PATH && ruff format --check PATH` passes, and drop the list when it covers the tree.
RUFF_CLEAN=(
  benchmarks/check.py
  benchmarks/check_load.py
  benchmarks/dashboards.py
  benchmarks/startup.py
  benchmarks/notices.py
  dashboards/pages/notices.py
  dashboards/privacy.py
  numlake/check/__init__.py
  numlake/check/api
  numlake/check/audit.py
  numlake/check/bulk.py
  numlake/check/command.py
  numlake/check/index.py
  numlake/check/keys.py
  numlake/check/rules.py
  numlake/check/server.py
  numlake/check/snapshot.py
  numlake/china_time.py
  numlake/msisdn.py
  numlake/notices
  numlake/simulate/__init__.py
  numlake/simulate/calibration.py
  numlake/simulate/complaints.py
  numlake/simulate/core.py
  numlake/simulate/deliver.py
  numlake/simulate/deliveries.py
  numlake/simulate/delivery_faults.py
  numlake/simulate/faults.py
  numlake/simulate/lifecycle.py
  numlake/simulate/model.py
  numlake/simulate/names.py
  numlake/simulate/organisations.py
  numlake/simulate/plan.py
  numlake/simulate/population.py
  numlake/simulate/render.py
  numlake/simulate/segments.py
  numlake/simulate/tables.py
  numlake/simulate/truth.py
  numlake/simulate/world.py
  orchestration/defs/notices.py
  orchestration/__init__.py
  orchestration/command.py
  orchestration/dagster_entry.py
  orchestration/dbt_support.py
  orchestration/definitions.py
  orchestration/metadata.py
  orchestration/resources.py
  orchestration/runner.py
  orchestration/settings.py
  orchestration/defs/__init__.py
  orchestration/defs/automation.py
  orchestration/defs/dbt.py
  orchestration/defs/freshness.py
  orchestration/defs/ingestion.py
  orchestration/defs/publish.py
  tests/orchestration/conftest.py
  tests/orchestration/test_architecture_map.py
  tests/orchestration/test_dagster_ui_browser.py
  tests/orchestration/test_defs_snapshot.py
  tests/orchestration/test_metadata.py
  tests/orchestration/test_definitions.py
  tests/orchestration/test_run_samples.py
  tests/orchestration/test_sensor.py
  tests/orchestration/test_source_selection.py
  tests/integration/test_audit_log_durability.py
  tests/integration/test_check_throughput_workers.py
  tests/support/check_server.py
  tests/integration/test_check_api_fuzz.py
  tests/integration/test_check_e2e.py
  tests/integration/test_check_service.py
  tests/integration/test_check_synthetic.py
  tests/integration/test_notices_api.py
  tests/integration/test_notices_cli.py
  tests/integration/test_notices_crash.py
  tests/integration/test_notices_dagster.py
  tests/integration/test_notices_demo.py
  tests/integration/test_notices_raising.py
  tests/integration/test_notices_webhooks.py
  tests/support/check_warehouse.py
  tests/support/dashboards_warehouse.py
  tests/support/https_receiver.py
  tests/support/notices_world.py
  tests/unit/test_check_guard.py
  tests/unit/test_check_rules.py
  tests/unit/test_dashboards_privacy.py
  tests/unit/test_msisdn_mask.py
  tests/unit/test_notices_input.py
  tests/unit/test_simulate.py
  tests/unit/test_simulate_truth.py
)
"$BIN/ruff" check "${RUFF_CLEAN[@]}"
"$BIN/ruff" format --check "${RUFF_CLEAN[@]}"
