"""Dagster definitions for numlake: ingestion -> dbt warehouse -> dashboards and check snapshot.

Everything is defined in the modules of `orchestration/defs/`, each with a `defs(...)` function
returning its `dg.Definitions`; this module only lists them in pipeline order and merges them
with the resources and the executor. To add a step, write `defs/<step>.py` and add one line to
`_before_warehouse` (steps that `numlake ingest` also runs) or `_from_warehouse`, then
regenerate the definitions snapshot (tests/orchestration/test_defs_snapshot.py says how).

`numlake ui` runs `dagster dev -m orchestration.dagster_entry`, which builds them from the
environment set by `Settings.apply_env`; the CLI builds the same definitions in-process.
"""

import dagster as dg

from orchestration.defs import automation, ingestion, pull
from orchestration.resources import NumlakeResource
from orchestration.settings import Settings

PIPELINE_JOB = automation.PIPELINE_JOB
INGEST_JOB = ingestion.INGEST_JOB


def _before_warehouse(settings: Settings) -> list[dg.Definitions]:
    """Steps up to the lake: the whole of `numlake ingest` (no dbt manifest to load)."""
    return [pull.defs(settings), ingestion.defs(settings)]


def _from_warehouse(settings: Settings) -> list[dg.Definitions]:
    """The dbt warehouse and everything it feeds; each step depends on every warehouse model."""
    from orchestration.defs import dbt, freshness, notices, publish

    warehouse = dbt.defs(settings)
    models = [key for assets in warehouse.assets for key in assets.keys]
    return [
        warehouse,
        freshness.defs(settings, models),
        publish.defs(settings, models),
        notices.defs(settings),
        automation.defs(),
    ]


def _shared(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        resources={"numlake": NumlakeResource.from_settings(settings)}, executor=dg.in_process_executor
    )


def build_ingestion_definitions(settings: Settings) -> dg.Definitions:
    """Ingestion alone, for `numlake ingest`: a run with nothing new costs Dagster's start-up
    and the ledger comparison, not the warehouse's definitions."""
    settings.apply_env()
    return dg.Definitions.merge(*_before_warehouse(settings), _shared(settings))


def build_definitions(settings: Settings) -> dg.Definitions:
    """The whole pipeline with its job, schedule and sensor (`numlake run`, `numlake ui`)."""
    settings.apply_env()
    return dg.Definitions.merge(*_before_warehouse(settings), *_from_warehouse(settings), _shared(settings))
