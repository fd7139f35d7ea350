"""`numlake run` on the spec's sample deliveries publishes exactly what the spec expects.

This is the same scoring as ../shared/tools/check_samples.sh (a copy of its scorer and truth
lives in tests/fixtures), run the way a user meets the product: the console script, a fresh
home, then `numlake check` per case.
"""

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NUMLAKE = str(Path(sys.executable).parent / "numlake")


def test_numlake_run_on_the_samples_scores_every_published_row_and_check_answer(samples_world):
    home = samples_world["home"]
    run = subprocess.run(
        [
            NUMLAKE,
            "run",
            "--home",
            str(home),
            "--landing",
            str(samples_world["landing"]),
            "--registry",
            str(samples_world["registry"]),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    score = subprocess.run(
        [
            sys.executable,
            str(FIXTURES / "conformance.py"),
            "--truth",
            str(FIXTURES / "samples_truth.json"),
            "--home",
            str(home),
            "--check-cmd",
            NUMLAKE + " check",
            "--strict",
        ],
        capture_output=True,
        text=True,
    )
    assert score.returncode == 0, score.stdout


def test_a_second_run_on_the_same_home_changes_no_published_row(samples_world):
    import duckdb

    args = [
        "--home",
        str(samples_world["home"]),
        "--landing",
        str(samples_world["landing"]),
        "--registry",
        str(samples_world["registry"]),
    ]
    tables = ["file_loads", "rejected_records", "number_tenures", "rule_findings", "source_freshness"]

    def snapshot():
        con = duckdb.connect(str(samples_world["home"] / "warehouse.duckdb"), read_only=True)
        try:
            return {
                t: sorted(
                    map(
                        str,
                        con.execute(
                            f"select * exclude (decided_at, run_id) from marts.{t}"
                            if t == "file_loads"
                            else f"select * from marts.{t}"
                        ).fetchall(),
                    )
                )
                for t in tables
            }
        finally:
            con.close()

    assert subprocess.run([NUMLAKE, "run", *args], capture_output=True).returncode == 0
    first = snapshot()
    assert subprocess.run([NUMLAKE, "run", *args], capture_output=True).returncode == 0
    assert snapshot() == first


def test_a_bad_registry_is_refused_with_one_line_naming_entry_and_field(samples_world, tmp_path):
    bad = tmp_path / "registry.yaml"
    text = samples_world["registry"].read_text(encoding="utf-8").replace("encoding: gb18030", "encoding: big5", 1)
    bad.write_text(text, encoding="utf-8")
    run = subprocess.run(
        [
            NUMLAKE,
            "run",
            "--home",
            str(samples_world["home"]),
            "--landing",
            str(samples_world["landing"]),
            "--registry",
            str(bad),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "CM-GD" in lines[0] and "encoding" in lines[0], run.stderr


def test_a_run_where_every_delivery_is_quarantined_still_succeeds(samples_world, tmp_path):
    # Regression: with nothing loaded there is no as_of; the check snapshot step used to fail
    # the whole run although quarantining is a data outcome.
    import json
    import shutil

    landing = tmp_path / "only-bad"
    src = samples_world["landing"] / "CM-GD" / "lifecycle"
    dst = landing / "CM-GD" / "lifecycle"
    dst.mkdir(parents=True)
    shutil.copy(src / "CM-GD_lifecycle_20250301_01.csv", dst)
    ctl = json.loads((src / "CM-GD_lifecycle_20250301_01.csv.ctl").read_text())
    ctl["md5"] = "0" * 32
    (dst / "CM-GD_lifecycle_20250301_01.csv.ctl").write_text(json.dumps(ctl))
    run = subprocess.run(
        [
            NUMLAKE,
            "run",
            "--home",
            str(tmp_path / "home"),
            "--landing",
            str(landing),
            "--registry",
            str(samples_world["registry"]),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    import duckdb

    con = duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True)
    assert con.execute("select outcome, reason from marts.file_loads").fetchall() == [
        ("QUARANTINED", "checksum_mismatch")
    ]
