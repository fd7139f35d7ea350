"""What the warehouse feeds once it is built: the dashboard site and the check service's snapshot."""

import dagster as dg

from numlake.msisdn import mask_text
from orchestration.resources import NumlakeResource
from orchestration.settings import Settings


def recent_runs(instance: dg.DagsterInstance, limit: int = 30, current_run_id: str | None = None) -> list[dict]:
    """The latest runs with their status, duration and step durations, for the operations page; the
    run building the page is marked current (dashboards.runs reads the instance)."""
    from dashboards.runs import runs_from_instance

    return runs_from_instance(instance, current_run_id=current_run_id, limit=limit)


def build_publish_assets(warehouse_keys: list[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    @dg.asset(
        name="check_snapshot", group_name="publish", deps=warehouse_keys, kinds={"duckdb"}, pool="warehouse_reader"
    )
    def check_snapshot(context: dg.AssetExecutionContext, numlake: NumlakeResource) -> dg.MaterializeResult:
        """Read-only index the check service answers from, switched atomically after each good run
        so `numlake serve` keeps answering while the warehouse is rebuilt."""
        from numlake.check.snapshot import SnapshotError, publish
        from numlake.errors import UsageError
        from numlake.notices.raising import catch_up

        try:  # the snapshot about to be replaced, if a run died before raising its notices
            if (caught := catch_up(numlake.settings.home)) is not None:
                context.log.warning(f"the previous snapshot's notices were never raised: {caught.line()}")
        except UsageError as e:  # the notices step says so too; the check must still publish
            context.log.warning(mask_text(f"notices of the previous snapshot not raised: {e}"))
        try:
            path = publish(numlake.settings.home)
        except SnapshotError as e:
            # Nothing loaded yet (every delivery quarantined or pending) is a data outcome, not a
            # failed run: there is simply no as_of to answer from.
            if "nothing has been loaded" not in str(e):
                raise
            context.log.warning(mask_text(f"check snapshot not published: {e}"))
            return dg.MaterializeResult(metadata={"published": False, "reason": str(e)})
        return dg.MaterializeResult(metadata={"published": True, "path": str(path)})

    @dg.asset(name="dashboard_site", group_name="publish", deps=warehouse_keys, kinds={"html"}, pool="warehouse_reader")
    def dashboard_site(context: dg.AssetExecutionContext, numlake: NumlakeResource) -> dg.MaterializeResult:
        """Offline HTML site for regulators, carriers and the platform team (`<home>/dashboards`)."""
        from dashboards.site import build_site
        from orchestration.defs.automation import next_scheduled_run

        home = numlake.settings.home
        from ingestion.pull.ledger import source_status

        ops = {
            "runs": recent_runs(context.instance, current_run_id=context.run.run_id),
            "next_scheduled_run": next_scheduled_run(),
            "pull": source_status(home),
        }
        from ingestion.lock import holds

        # under `numlake run` this process holds the home's run lock: no other build is under way
        pages = build_site(home.warehouse, home.dashboards, ops=ops, sole_builder=holds(home.lock_file))
        return dg.MaterializeResult(metadata={"pages": len(pages), "index": str(home.dashboards / "index.html")})

    return [check_snapshot, dashboard_site]


def defs(settings: Settings, warehouse_keys: list[dg.AssetKey]) -> dg.Definitions:
    return dg.Definitions(assets=build_publish_assets(warehouse_keys))
