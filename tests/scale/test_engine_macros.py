"""Each engine difference of the dbt project (dbt_project/macros/engine/) answers the same on both engines.

One `dbt show --inline` query calls every dispatched macro; it runs on DuckDB (target
`warehouse`) and on Spark (target `spark`, dbt-spark's session method, local[1]) and both
answers must be equal. The profile is the test's own, with the Spark settings numlake uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from numlake.paths import DBT_PROJECT_DIR

pytestmark = [pytest.mark.scale, pytest.mark.slow]

DBT = str(Path(sys.executable).parent / "dbt")

QUERY = """
select
    {{ days_between("cast('2025-01-31' as date)", "cast('2025-03-01' as date)") }} as days,
    {{ days_between("cast('2025-01-31 23:00:00' as timestamp)", "cast('2025-02-01 01:00:00' as timestamp)") }}
        as days_ts,
    {{ microseconds_between("cast('2025-01-01 00:00:00' as timestamp)", "cast('2025-01-02 00:00:01.5' as timestamp)") }}
        as micros,
    {{ microseconds_between("cast('1988-06-01 12:00:00' as timestamp)", "cast('2026-01-01 12:00:00' as timestamp)") }}
        as micros_dst,
    {{ microseconds_between(
        "cast('1991-04-14 02:30:00.123456' as timestamp)", "cast('1991-09-14 23:59:59.999999' as timestamp)") }}
        as micros_gap,
    {{ microseconds_between("cast('0001-01-01 00:00:00' as timestamp)", "cast('1900-01-01 00:00:00' as timestamp)") }}
        as micros_lmt,
    {{ text_starts_with("'13800138000'", "'138'") }} as starts,
    {{ number_block("'13800138000'") }} as block,
    (select count(*) from (
        select {{ series("cast('2025-01-01' as timestamp)", "cast('2025-04-01' as timestamp)", 'interval 1 month') }}
            as month) as m) as months,
    (select count(distinct d) from (
        select {{ day_series("cast('2025-02-27' as date)", "cast('2025-03-02' as date)") }} as d) as s) as days_listed,
    (select {{ value_at_max('v', 'k') }} from (select 'x' as v, 1 as k union all select 'y', 2) as t) as top,
    (select max(l) from (
        select last_value(v {{ ignoring_nulls() }})
            over (order by k rows between unbounded preceding and current row) as l
        from (select 'a' as v, 1 as k union all select null, 2) as t
        ) as w) as last_seen,
    {{ china_now() }} is not null as has_now
"""

PROFILES = """
numlake:
  target: warehouse
  outputs:
    warehouse:
      type: duckdb
      path: "{warehouse}"
      threads: 1
    spark:
      type: spark
      method: session
      host: NA
      schema: main
      threads: 1
      server_side_parameters:
        spark.master: "local[1]"
        spark.sql.warehouse.dir: "{spark_dir}"
        spark.driver.extraJavaOptions: "-Dderby.system.home={spark_dir}"
        spark.sql.session.timeZone: "Asia/Shanghai"
        spark.sql.timestampType: "TIMESTAMP_NTZ"
        spark.ui.enabled: "false"
        spark.driver.memory: "512m"
        spark.sql.shuffle.partitions: "1"
"""


def _show(target: str, tmp_path: Path) -> dict:
    env = dict(
        os.environ,
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        SPARK_LOCAL_IP="127.0.0.1",
        NUMLAKE_LAKE=str(tmp_path / "lake"),
        NUMLAKE_WAREHOUSE=str(tmp_path / "w.duckdb"),
        NUMLAKE_SPARK_WAREHOUSE=str(tmp_path / "spark"),
    )
    out = subprocess.run(
        [
            DBT,
            "show",
            "--inline",
            QUERY,
            "--target",
            target,
            "--output",
            "json",
            "--log-format",
            "json",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(tmp_path),
            "--target-path",
            str(tmp_path / f"target-{target}"),
            "--log-path",
            str(tmp_path / "logs"),
            "--no-partial-parse",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    for line in out.stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        preview = event.get("data", {}).get("preview")
        if preview:
            return json.loads(preview)[0]
    raise AssertionError(f"no preview in dbt show's output: {out.stdout[-2000:]}")


def test_every_engine_macro_answers_the_same_on_duckdb_and_on_spark(tmp_path):
    (tmp_path / "profiles.yml").write_text(
        PROFILES.format(warehouse=tmp_path / "w.duckdb", spark_dir=tmp_path / "spark")
    )
    duck = _show("warehouse", tmp_path)
    assert duck == {
        "days": 29,
        "days_ts": 1,
        "micros": 86_401_500_000,
        # Asia/Shanghai, Spark's session zone, kept summer time in 1986-91 (1991-04-14 02:30 did not
        # exist there) and local mean time before 1901: CST wall times know neither (INTERCHANGE 2.3)
        "micros_dst": 1_186_099_200_000_000,
        "micros_gap": 13_296_599_876_543,
        "micros_lmt": 59_926_608_000_000_000,
        "starts": True,
        "block": "13800",
        "months": 4,
        "days_listed": 4,
        "top": "y",
        "last_seen": "a",
        "has_now": True,
    }
    assert _show("spark", tmp_path) == duck
