"""A numlake run keeps dbt-core out of the Dagster process (orchestration/dagster_dbt_light.py) and
still reports every dbt model as a materialization and every dbt test as an asset check, a
failing test as a failed check; dbt itself runs in the run's warm process (dbt_warm.py).

The pytest process may have imported dbt already (other tests do), so the runs happen in a fresh
interpreter, as `numlake run` does."""

import json
import subprocess
import sys
import textwrap

# Runs the pipeline twice on the samples, the second time after breaking a rule that one dbt test
# checks on an incremental table (the run keeps that row), and prints what the Dagster process
# loaded and what its run history holds.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import duckdb
    import dagster as dg

    from orchestration.runner import run_pipeline
    from orchestration.settings import Settings

    home, landing, registry = sys.argv[1:4]
    settings = Settings.resolve(home, landing, registry)
    first = run_pipeline(settings)
    con = duckdb.connect(str(settings.home.warehouse))
    con.execute(
        "update intermediate.int_number_events__replayed set state_after = 'LOST' "
        "where msisdn = (select min(msisdn) from intermediate.int_number_events__replayed)"
    )
    con.close()
    second = run_pipeline(settings)

    from dagster_dbt import compat

    instance = dg.DagsterInstance.get()
    manifest = json.loads((settings.home.root / "dbt" / "target" / "manifest.json").read_text())
    out = {
        "dbt_modules": sorted(m for m in sys.modules if m == "dbt" or m.startswith("dbt.")),
        "dbt_version_seen": str(compat.DBT_PYTHON_VERSION),
        "models": sum(n["resource_type"] == "model" for n in manifest["nodes"].values()),
        "tests": sum(n["resource_type"] == "test" for n in manifest["nodes"].values()),
        "first_success": first.success,
        "second_success": second.success,
        "dbt_warm": [first.dbt_warm, second.dbt_warm],
    }
    for name, run in (("first", first), ("second", second)):
        mats, checks = set(), {}
        for entry in instance.all_logs(run.run_id):
            ev = entry.dagster_event
            if ev is None:
                continue
            if ev.event_type_value == "ASSET_MATERIALIZATION":
                key = ev.event_specific_data.materialization.asset_key
                if key.path[0] in ("staging", "intermediate", "marts"):
                    mats.add(key.to_user_string())
            elif ev.event_type_value == "ASSET_CHECK_EVALUATION":
                data = ev.event_specific_data
                dbt_check = data.asset_key.path[0] in ("staging", "intermediate", "marts")
                if dbt_check and "delivered" not in data.check_name:
                    checks[data.check_name] = data.passed
        out[name] = {"materialized": len(mats), "checks": checks}
    print(json.dumps(out))
    """
)


def test_dbt_core_stays_out_of_the_dagster_process_and_every_model_and_test_is_reported(samples_world):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(samples_world["home"]),
            str(samples_world["landing"]),
            str(samples_world["registry"]),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["dbt_modules"] == [], "dbt-core was imported into the Dagster process"
    assert out["dbt_version_seen"] == "None"
    assert out["first_success"]
    assert out["first"]["materialized"] == out["models"]
    assert len(out["first"]["checks"]) == out["tests"]
    assert all(out["first"]["checks"].values())

    # the broken rule: its test is a failed check, the run fails, the other checks still pass
    assert not out["second_success"]
    assert out["second"]["checks"]["columns_hold_int_number_events__replayed"] is False
    assert sum(not passed for passed in out["second"]["checks"].values()) == 1
    # both builds ran in the run's warm dbt process (orchestration/dbt_warm.py), the failing one too:
    # the first with the manifest its warm process parsed, the second with that one, kept
    assert out["dbt_warm"] == ["read ahead", "kept"]
