"""When an upgrade must rebuild the warehouse from scratch: the rules fingerprint.

The incremental tables continue from yesterday's rows only under the rules that wrote them, so
`warehouse_models` builds with `--full-refresh` when the dbt project's rules changed. Docs,
tests and the other engine's macros are not rules: a change there kept costing a full rebuild
of the whole history (113 s instead of 18 s on a 360-day lake, BENCHMARKS.md)."""

from __future__ import annotations

import shutil

import pytest

from numlake.paths import DBT_PROJECT_DIR, Home
from orchestration import dbt_support
from orchestration.dbt_support import project_fingerprint, rules_fingerprint


@pytest.fixture()
def project(tmp_path):
    root = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, root, ignore=shutil.ignore_patterns("target", "logs", ".*"))
    return root


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _fingerprints(root):
    return project_fingerprint(root), rules_fingerprint("duckdb", root), rules_fingerprint("spark", root)


# (file, old text, new text, rules changed on duckdb, rules changed on spark)
CHANGES = {
    "a model's description": (
        "models/marts/rule_findings.yml",
        "One row per finding",
        "One row for each finding",
        False,
        False,
    ),
    "a data test": ("models/marts/rule_findings.yml", "not_null: [rule, msisdn,", "not_null: [msisdn,", False, False),
    "a comment in dbt_project.yml": ("dbt_project.yml", "# RULES 1-2:", "# RULES 1 and 2:", False, False),
    "a Spark-only macro": (
        "macros/engine/engine_differences.sql",
        "{% macro spark__days_between(start, end) -%}",
        "{% macro spark__days_between(start, end) -%}\n  {#- reviewed -#}",
        False,
        True,
    ),
    "a DuckDB-only macro": (
        "macros/replay_changes.sql",
        "select rowid from {{ relation }}",
        "select rowid from {{ relation }} as r",
        True,
        False,
    ),
    "a rule's variable": ("dbt_project.yml", "cooling_days: 90", "cooling_days: 91", True, True),
    "a model's SQL": ("models/marts/rule_findings.sql", "select", "SELECT", True, True),
    "a source's location": ("models/sources.yml", "lifecycle/**/*.parquet", "lifecycle/*/*.parquet", True, True),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_only_a_change_of_rules_changes_the_rules_fingerprint(project, change):
    rel, old, new, duckdb_changes, spark_changes = CHANGES[change]
    path = project / rel
    before = _fingerprints(project)
    _edit(path, old, new)
    after = _fingerprints(project)
    assert before[0] != after[0], "every edit changes the project's files"
    assert (before[1] != after[1]) == duckdb_changes, "rules on DuckDB"
    assert (before[2] != after[2]) == spark_changes, "rules on Spark"


def test_adding_a_doc_block_or_a_singular_test_changes_no_rules(project):
    before = _fingerprints(project)
    (project / "models" / "overview.md").write_text("{% docs __overview__ %}numlake{% enddocs %}\n")
    (project / "tests" / "assert_nothing.sql").write_text("select 1 where false\n")
    after = _fingerprints(project)
    assert before[0] != after[0] and before[1:] == after[1:]


def test_engines_have_different_rules():
    from orchestration import engine

    assert set(dbt_support.ENGINE_PREFIXES) == set(engine.ENGINES), "a new engine names its dispatch prefix"
    assert rules_fingerprint("duckdb") != rules_fingerprint("spark")


def test_a_warehouse_is_current_only_when_built_under_todays_rules(tmp_path, monkeypatch):
    home = Home.resolve(tmp_path / "home")
    home.root.mkdir(parents=True)
    marker = dbt_support.target_path(home).parent / "warehouse_built_with"
    assert not dbt_support.warehouse_current(home, "duckdb"), "no warehouse"
    home.warehouse.write_bytes(b"")
    assert not dbt_support.warehouse_current(home, "duckdb"), "a warehouse with no marker"
    dbt_support.record_warehouse_built(home, "duckdb")
    assert marker.read_text() == rules_fingerprint("duckdb")
    assert dbt_support.warehouse_current(home, "duckdb")
    assert not dbt_support.warehouse_current(home, "spark")
    # a marker of the release before the rules fingerprint: the project's files' fingerprint
    marker.write_text(project_fingerprint())
    assert dbt_support.warehouse_current(home, "duckdb")
    marker.write_text("0" * 64)
    assert not dbt_support.warehouse_current(home, "duckdb")
    # the rules kept in the home follow the project: a changed rule is seen at once
    monkeypatch.setattr(dbt_support, "project_fingerprint", lambda root=DBT_PROJECT_DIR: "f" * 64)
    monkeypatch.setattr(dbt_support, "rules_fingerprint", lambda engine, root=DBT_PROJECT_DIR: "e" * 64)
    marker.write_text(rules_fingerprint("duckdb"))
    assert not dbt_support.warehouse_current(home, "duckdb")
