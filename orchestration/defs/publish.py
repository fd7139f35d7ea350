"""What the warehouse feeds once it is built: the dashboard site and the check service's snapshot."""
from datetime import datetime

import dagster as dg

from ingestion.state import CST
from orchestration.resources import NumlakeResource
from orchestration.settings import Settings


def recent_runs(instance: dg.DagsterInstance, limit: int = 30) -> list[dict]:
    """The latest pipeline runs with their status and duration, for the operations page."""
    out = []
    for rec in instance.get_run_records(limit=limit):
        run = rec.dagster_run
        start, end = rec.start_time, rec.end_time
        out.append({
            "run_id": run.run_id,
            "job": run.job_name,
            "status": run.status.value,
            "start": datetime.fromtimestamp(start, CST).isoformat() if start else None,
            "end": datetime.fromtimestamp(end, CST).isoformat() if end else None,
            "duration_s": round(end - start, 1) if start and end else None,
        })
    return out


def build_publish_assets(warehouse_keys: list[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    @dg.asset(name="check_snapshot", group_name="publish", deps=warehouse_keys, kinds={"duckdb"},
              pool="warehouse_reader")
    def check_snapshot(context: dg.AssetExecutionContext, numlake: NumlakeResource) -> dg.MaterializeResult:
        """Read-only index the check service answers from, switched atomically after each good run
        so `numlake serve` keeps answering while the warehouse is rebuilt."""
        from numlake.check.snapshot import SnapshotError, publish

        try:
            path = publish(numlake.settings.home)
        except SnapshotError as e:
            # Nothing loaded yet (every delivery quarantined or pending) is a data outcome, not a
            # failed run: there is simply no as_of to answer from.
            if "nothing has been loaded" not in str(e):
                raise
            context.log.warning(f"check snapshot not published: {e}")
            return dg.MaterializeResult(metadata={"published": False, "reason": str(e)})
        return dg.MaterializeResult(metadata={"published": True, "path": str(path)})

    @dg.asset(name="dashboard_site", group_name="publish", deps=warehouse_keys, kinds={"html"},
              pool="warehouse_reader")
    def dashboard_site(context: dg.AssetExecutionContext, numlake: NumlakeResource) -> dg.MaterializeResult:
        """Offline HTML site for regulators, carriers and the platform team (`<home>/dashboards`)."""
        from dashboards.site import build_site
        from orchestration.defs.automation import next_scheduled_run

        home = numlake.settings.home
        from ingestion.pull.ledger import source_status

        ops = {"runs": recent_runs(context.instance), "next_scheduled_run": next_scheduled_run(),
               "pull": source_status(home)}
        pages = build_site(home.warehouse, home.dashboards, ops=ops)
        return dg.MaterializeResult(metadata={"pages": len(pages), "index": str(home.dashboards / "index.html")})

    return [check_snapshot, dashboard_site]


def defs(settings: Settings, warehouse_keys: list[dg.AssetKey]) -> dg.Definitions:
    return dg.Definitions(assets=build_publish_assets(warehouse_keys))
