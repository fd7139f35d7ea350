"""The dbt project's models and tests as Dagster assets and asset checks.

dbt sources point at the ingestion assets through `meta.dagster.asset_key` in
`dbt_project/models/sources.yml`, so the lineage graph runs from the landing area to the marts.
"""

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from numlake.paths import DBT_PROJECT_DIR, Home
from orchestration.dbt_support import dbt_executable, ensure_manifest, project_fingerprint, target_path


class NumlakeTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        # Every dbt source is a table of the lake written by the ingestion multi-asset.
        if dbt_resource_props.get("resource_type") == "source":
            return dg.AssetKey(["lake", dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn") or []
        for layer in ("staging", "intermediate", "marts"):
            if layer in fqn:
                return f"warehouse_{layer}"
        return "warehouse"


def _keep_latest_invocations(target: Path, keep: int) -> None:
    """Each dbt invocation leaves a folder of compiled SQL and run results; keep the last few."""
    runs = sorted((p for p in target.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def dbt_project_for(home: Home) -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, target_path=target_path(home), profiles_dir=DBT_PROJECT_DIR)


def build_dbt_assets(home: Home) -> tuple[dg.AssetsDefinition, DbtCliResource]:
    ensure_manifest(home)
    project = dbt_project_for(home)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=NumlakeTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
        pool="warehouse_writer",
        name="warehouse_models",
    )
    def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
        """`dbt build` of the warehouse: staging, number histories, findings and published marts,
        with every dbt data test reported as an asset check (dbt unit tests run in the test suite,
        not in every production build). Incremental models are rebuilt from
        scratch (`--full-refresh`) when the dbt project changed since the warehouse was built."""
        marker = target_path(home).parent / "warehouse_built_with"
        fingerprint = project_fingerprint()
        full = not home.warehouse.exists() or not marker.exists() or marker.read_text() != fingerprint
        args = ["build", "--exclude-resource-type", "unit_test"] + (["--full-refresh"] if full else [])
        yield from dbt.cli(args, context=context).stream()
        marker.write_text(fingerprint)
        _keep_latest_invocations(target_path(home), keep=5)

    resource = DbtCliResource(project_dir=project, dbt_executable=dbt_executable(), profiles_dir=str(DBT_PROJECT_DIR))
    return warehouse_models, resource
