"""`numlake run --engine spark` publishes the same `marts.*` as the DuckDB engine, and `numlake check` answers the same.

Each world is run through the whole pipeline twice, once per engine, from the same landing
area into two homes; then every table of RULES 5 (and every other mart) is compared row for
row, order-independent. The worlds: the spec's samples, on a real standalone Spark cluster
(tests/support/spark.py); and a small simulated world with faults, in local mode, run a second
time after new days, the simulation's later wave of deliveries and a retro-active redelivery
of an early lifecycle file without a third of its records (it supersedes the first delivery:
the incremental path, with numbers replayed again and records withdrawn).

Values are compared after one normalisation, where the engines legitimately differ only in
physical type: every number as a float rounded to 9 significant digits (DuckDB's `sum` of
integers is a HUGEINT or DECIMAL where Spark's is a BIGINT, DuckDB's averages of decimals are
DECIMAL where Spark's are DOUBLE). Columns that say when a row was written (`built_at`,
`first_seen_at`, ...) are left out: they are times of the run, not of the data; so is
rule_findings' `number_block`, the block it is rewritten by, which each engine cuts to its own size.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.scale, pytest.mark.slow]

NUMLAKE = str(Path(sys.executable).parent / "numlake")
SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RULES_5 = (
    "number_tenures",
    "monthly_number_stats",
    "monthly_complaints",
    "segment_adoption",
    "rule_findings",
    "file_loads",
    "rejected_records",
    "source_freshness",
)
VARYING = {"built_at", "first_seen_at", "decided_at", "run_id", "published_at", "loaded_at", "generated_at"}
# the simulated world; `NUMLAKE_PARITY_SEED`, `_SCALE` and `_DAYS` run the same comparison on others
SEED = os.environ.get("NUMLAKE_PARITY_SEED", "11")
SCALE = os.environ.get("NUMLAKE_PARITY_SCALE", "0.003")
DAYS = os.environ.get("NUMLAKE_PARITY_DAYS", "7")
# the block a table is rewritten by, not data: the first nine digits on DuckDB, five (a partition) on Spark
ENGINE_KEYS = {"number_block"}


def samples_landing(dest: Path) -> tuple[Path, Path]:
    """A copy of the spec's sample deliveries and the registry they go with."""
    src = FIXTURES / "samples" if (FIXTURES / "samples").is_dir() else SPEC / "samples"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("README.md", "expected.json"))
    registry = FIXTURES / "samples_registry.yaml"
    return dest, registry if registry.is_file() else SPEC / "registry.example.yaml"


def numlake_run(home: Path, landing: Path, registry: Path, engine: str, master: str = "local[2]") -> None:
    env = dict(os.environ, NUMLAKE_SPARK_MASTER=master, NUMLAKE_SPARK_SHUFFLE_PARTITIONS="2")
    env.pop("NUMLAKE_ENGINE", None)
    args = ["run", "--engine", engine, "--home", str(home), "--landing", str(landing), "--registry", str(registry)]
    proc = subprocess.run([NUMLAKE, *args], capture_output=True, text=True, timeout=3600, env=env)
    assert proc.returncode == 0, f"numlake run --engine {engine}: " + (proc.stdout + proc.stderr)[-4000:]


def norm(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return float(f"{float(value):.9g}")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def marts(home: Path) -> dict[str, list]:
    """Every table of schema marts: its rows as sorted tuples of normalised values, by column name."""
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        out = {}
        for name in names:
            cols = sorted(
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns where table_schema = 'marts' "
                    "and table_name = ?",
                    [name],
                ).fetchall()
                if r[0] not in VARYING | ENGINE_KEYS
            )
            rows = con.execute(f'select {", ".join(cols)} from marts."{name}"').fetchall()
            out[name] = (cols, sorted((tuple(norm(v) for v in row) for row in rows), key=repr))
        return out
    finally:
        con.close()


def assert_same_marts(duck: Path, spark: Path, when: str) -> None:
    want, got = marts(duck), marts(spark)
    assert set(RULES_5) <= set(want), f"{when}: DuckDB lacks {set(RULES_5) - set(want)}"
    assert sorted(got) == sorted(want), f"{when}: the engines publish different tables"
    for name in want:
        assert got[name][0] == want[name][0], f"{when}: marts.{name} has other columns on Spark"
        extra = [r for r in got[name][1] if r not in want[name][1]][:3]
        missing = [r for r in want[name][1] if r not in got[name][1]][:3]
        assert got[name][1] == want[name][1], (
            f"{when}: marts.{name} differs ({len(got[name][1])} rows on Spark, {len(want[name][1])} on DuckDB; "
            f"only on Spark {extra}, only on DuckDB {missing})"
        )


def notices(home: Path) -> list[tuple]:
    """The notices the run raised (RULES 8), without what names or times this platform's copy."""
    import sqlite3

    con = sqlite3.connect(home / "notices" / "store.sqlite")
    try:
        rows = con.execute("select org_id, seq, kind, subject, body from notices order by org_id, seq").fetchall()
    finally:
        con.close()
    out = []
    for org_id, seq, kind, subject, body in rows:
        fields = {k: v for k, v in json.loads(body).items() if k not in {"notice_id", "raised_at"}}
        out.append((org_id, seq, kind, subject, json.dumps(fields, sort_keys=True)))
    return out


def assert_same_notices(duck: Path, spark: Path, when: str) -> None:
    want, got = notices(duck), notices(spark)
    assert want, f"{when}: the DuckDB run raised no notice to compare"
    assert got == want, f"{when}: {len(got)} notices on Spark, {len(want)} on DuckDB; first differing: " + repr(
        next((g, w) for g, w in zip(got + [None] * len(want), want + [None] * len(got)) if g != w)
    )


def check_answers(home: Path, queries: Path) -> list[dict]:
    out = home / "answers.jsonl"
    proc = subprocess.run(
        [NUMLAKE, "check", "--home", str(home), "--file", str(queries), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]


def assert_same_check_answers(duck: Path, spark: Path, tmp: Path) -> None:
    """`numlake check` on every number of the tenures (and one nobody holds), for three dates."""
    con = duckdb.connect(str(duck / "warehouse.duckdb"), read_only=True)
    try:
        numbers = [r[0] for r in con.execute("select distinct msisdn from marts.number_tenures order by 1").fetchall()]
    finally:
        con.close()
    queries = tmp / "queries.csv"
    lines = ["msisdn,since"]
    for msisdn in [*numbers, "13900000000"]:
        lines += [f"{msisdn},{since}" for since in ("2020-01-01", "2025-01-15", "2025-03-01")]
    queries.write_text("\n".join(lines) + "\n", encoding="utf-8")
    want = check_answers(duck, queries)
    assert len(want) == len(lines) - 1
    assert check_answers(spark, queries) == want


def test_the_samples_publish_the_same_marts_and_check_answers_on_a_spark_cluster_as_on_duckdb(tmp_path, spark_cluster):
    landing, registry = samples_landing(tmp_path / "landing")
    duck, spark = tmp_path / "duck", tmp_path / "spark"
    numlake_run(duck, landing, registry, "duckdb")
    apps_before = len(spark_cluster.completed_apps())
    numlake_run(spark, landing, registry, "spark", master=spark_cluster.master_url)
    assert len(spark_cluster.completed_apps()) > apps_before, "the dbt step did not run on the cluster"
    assert (spark / "warehouse" / "marts.db" / "number_tenures").is_dir()  # Spark's tables, exposed as views
    assert_same_marts(duck, spark, "samples")
    assert_same_notices(duck, spark, "samples")
    assert_same_check_answers(duck, spark, tmp_path)


DATED = re.compile(r"_(\d{8})_\d+\.")


def hold_back_days_after(landing: Path, cutoff: str, held: Path) -> int:
    """Move every delivery (data and control file) of a business date after `cutoff` to `held`."""
    moved = 0
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        m = DATED.search(path.name)
        if m and m.group(1) > cutoff:
            dest = held / path.relative_to(landing)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, dest)
            moved += 1
    return moved


def redeliver_without_a_third(landing: Path, cutoff: str) -> Path:
    """A retro-active redelivery (`_02`) of the largest lifecycle delivery up to `cutoff`, without
    every third record: it supersedes the `_01`, whose numbers are replayed again."""
    candidates = []
    for path in landing.glob("*/lifecycle/*_01.csv"):
        m = DATED.search(path.name)
        ctl = path.with_name(path.name + ".ctl")
        lines = path.read_bytes().splitlines(keepends=True)
        if m and m.group(1) <= cutoff and ctl.is_file() and lines and b"msisdn" in lines[0] and len(lines) > 4:
            try:
                if {"rows", "md5"} <= set(json.loads(ctl.read_text(encoding="utf-8"))):
                    candidates.append((len(lines), path))
            except ValueError:
                continue
    assert candidates, "no lifecycle delivery to redeliver"
    _, path = max(candidates)
    lines = path.read_bytes().splitlines(keepends=True)
    kept = [line for i, line in enumerate(lines[1:]) if i % 3 != 1]
    body = lines[0] + b"".join(kept)
    out = path.with_name(path.name.replace("_01.csv", "_02.csv"))
    out.write_bytes(body)
    control = json.loads(path.with_name(path.name + ".ctl").read_text(encoding="utf-8"))
    control.update(rows=len(kept), md5=hashlib.md5(body).hexdigest())
    out.with_name(out.name + ".ctl").write_text(json.dumps(control), encoding="utf-8")
    return out


def deliver(src: Path, landing: Path) -> None:
    for path in sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith(".numlake")):
        dest = landing / path.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)


def test_a_simulated_world_with_faults_publishes_the_same_marts_on_spark_after_a_first_and_an_incremental_run(
    tmp_path,
):
    sim = tmp_path / "sim"
    args = ["simulate", "--home", str(sim), "--days", DAYS, "--scale", SCALE, "--seed", SEED, "--faults", "on"]
    proc = subprocess.run([NUMLAKE, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    landing, registry = sim / "landing", sim / "registry.yaml"
    summary = json.loads((sim / "simulation_summary.json").read_text(encoding="utf-8"))
    start = summary.get("parameters", {}).get("start", "2025-01-01").replace("-", "")
    first = datetime.strptime(start, "%Y%m%d").date()
    cutoff = date.fromordinal(first.toordinal() + 4).strftime("%Y%m%d")  # the first five business dates, then the rest
    assert hold_back_days_after(landing, cutoff, tmp_path / "later") > 0
    duck, spark = tmp_path / "duck", tmp_path / "spark"
    numlake_run(duck, landing, registry, "duckdb")
    numlake_run(spark, landing, registry, "spark")
    assert_same_marts(duck, spark, "first run")
    assert_same_notices(duck, spark, "first run")

    deliver(tmp_path / "later", landing)
    deliver(sim / "landing_redeliveries", landing)  # the simulation's later wave (faults on)
    redeliver_without_a_third(landing, cutoff)
    numlake_run(duck, landing, registry, "duckdb")
    numlake_run(spark, landing, registry, "spark")
    con = duckdb.connect(str(duck / "warehouse.duckdb"), read_only=True)
    try:
        superseded = con.execute("select count(*) from marts.file_loads where outcome = 'SUPERSEDED'").fetchone()[0]
    finally:
        con.close()
    assert superseded > 0, "the second run superseded no earlier delivery"
    assert_same_marts(duck, spark, "second run")
    assert_same_notices(duck, spark, "second run")
    assert_same_check_answers(duck, spark, tmp_path)
