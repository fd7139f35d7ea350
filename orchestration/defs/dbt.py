"""The dbt project's models and tests as Dagster assets and asset checks.

dbt sources name the ingestion assets that write them through `meta.dagster.asset_key` in
`dbt_project/models/sources.yml`, which dagster-dbt's default translator honours, so the lineage
graph runs from the landing area to the marts. After each build the dbt docs site (with the
catalog of the warehouse just built) is regenerated into the home, for the dashboards to link.
"""

import os
import shutil
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import dagster as dg
from packaging.version import Version

from numlake.crashpoints import crash_point
from numlake.paths import DBT_PROJECT_DIR, Home
from orchestration import engine
from orchestration.dagster_dbt_light import dagster_dbt  # without dbt-core in this process
from orchestration.dbt_support import (
    build_args,
    dbt_executable,
    docs_args,
    docs_current,
    ensure_manifest,
    project_fingerprint,
    publish_docs,
    record_warehouse_built,
    target_path,
    warehouse_current,
)
from orchestration.dbt_warm import ensure_launcher
from orchestration.settings import Settings


class NumlakeTranslator(dagster_dbt.DagsterDbtTranslator):
    """Asset keys are dagster-dbt's defaults (sources: `meta.dagster.asset_key`); only the
    groups follow the project's layers so the UI shows staging, intermediate and marts apart."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn") or []
        for layer in ("staging", "intermediate", "marts"):
            if layer in fqn:
                return f"warehouse_{layer}"
        return "warehouse"


class NumlakeDbtCli(dagster_dbt.DbtCliResource):
    """dagster-dbt's resource without the two things it does before every dbt command that this
    project does not use, ~3 s of each daily run's fixed cost (BENCHMARKS.md, issue 17):

    - it runs `dbt --version` in a subprocess to learn the version of the dbt executable; ours is
      the venv's own (`dbt_executable`), whose version is the installed dbt-core package's;
    - it opens a dbt adapter in the Dagster process, which dagster-dbt needs only to fetch column
      metadata or row counts (`fetch_column_metadata`, `fetch_row_counts`), which the project
      does not ask for; the dbt subprocess opens its own.

    tests/orchestration/test_dbt_resource.py fails if a dagster-dbt upgrade renames either hook."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def _keep_latest_invocations(target: Path, keep: int) -> None:
    """Each dbt invocation leaves a folder of compiled SQL and run results; keep the last few (and
    `warm`, where each run's warm dbt process reads the manifest: orchestration/dbt_warm.py)."""
    runs = sorted((p for p in target.iterdir() if p.is_dir() and p.name != "warm"), key=lambda p: p.stat().st_mtime)
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def dbt_project_for(home: Home) -> dagster_dbt.DbtProject:
    return dagster_dbt.DbtProject(
        project_dir=DBT_PROJECT_DIR, target_path=target_path(home), profiles_dir=DBT_PROJECT_DIR
    )


def build_dbt_assets(home: Home) -> tuple[dg.AssetsDefinition, NumlakeDbtCli]:
    ensure_manifest(home)
    project = dbt_project_for(home)

    @dagster_dbt.dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=NumlakeTranslator(
            settings=dagster_dbt.DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        pool="warehouse_writer",
        name="warehouse_models",
    )
    def warehouse_models(context: dg.AssetExecutionContext, dbt: dagster_dbt.DbtCliResource):
        """`dbt build` of the warehouse: staging, number histories, findings and published marts,
        with every dbt data test reported as an asset check (dbt unit tests run in the test suite,
        not in every production build). Incremental models are rebuilt from
        scratch (`--full-refresh`) when the dbt project's rules changed since the warehouse was
        built (`dbt_support.rules_fingerprint`: a change of docs, tests or the other engine's
        macros is not one), or when ingestion asks for it (`Home.rebuild_request`).
        Then `dbt docs generate` writes the docs site of the warehouse into the home, when the
        warehouse's models or columns may have changed (a new dbt project, or no docs yet): a
        daily build changes rows, which the docs do not show."""
        fingerprint = project_fingerprint()
        chosen = engine.home_engine(home)  # the dbt target and its settings (orchestration/engine.py)
        full = not warehouse_current(home, chosen)
        requested = home.rebuild_request.exists()  # ingestion loaded deliveries again (Home.rebuild_request)
        if requested:
            context.log.warning("deliveries were loaded again after their lake file vanished: dbt builds from scratch")
        elif full and home.warehouse.exists():
            context.log.info("the dbt project's rules changed since the warehouse was built: dbt builds from scratch")
        os.environ.update(engine.dbt_env(home, chosen))
        if chosen == "spark":
            engine.copy_lake_schemas(home)
        crash_point("dbt.before_build")
        yield from dbt.cli(build_args(full or requested), context=context).stream()
        crash_point("dbt.after_build")
        home.rebuild_request.unlink(missing_ok=True)
        if chosen == "spark":  # readers find marts.* in warehouse.duckdb, as views over Spark's tables
            engine.expose_marts(home)
        record_warehouse_built(home, chosen)
        if not docs_current(home, fingerprint):
            docs = dbt.cli(docs_args(chosen), raise_on_error=False)
            docs.wait()
            if docs.is_successful():
                publish_docs(docs.target_path, home, fingerprint)
            else:
                context.log.warning("dbt docs generate failed; the previous docs site stays")
        _keep_latest_invocations(target_path(home), keep=5)

    # dbt runs through numlake's launcher: the run's warm dbt process when there is one (dbt_warm.py)
    launcher = ensure_launcher(target_path(home).parent, dbt_executable())
    resource = NumlakeDbtCli(project_dir=project, dbt_executable=str(launcher), profiles_dir=str(DBT_PROJECT_DIR))
    return warehouse_models, resource


def defs(settings: Settings) -> dg.Definitions:
    warehouse_models, dbt_resource = build_dbt_assets(settings.home)
    return dg.Definitions(assets=[warehouse_models], resources={"dbt": dbt_resource})
