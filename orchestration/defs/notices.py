"""Notices (RULES 8): raised from each newly published check snapshot, then one delivery pass.

The work is plain Python in `numlake.notices`; these assets only run it after the snapshot and
show what it did. Raising is exactly once whatever happens to the run (see numlake/notices/raising.py),
so a retried or re-executed run raises nothing twice. The delivery pass here is what a headless
`numlake run` delivers at once; `numlake serve` keeps delivering (retries with back-off) between runs.
"""

import dagster as dg

from orchestration.resources import NumlakeResource
from orchestration.settings import Settings

CHECK_SNAPSHOT = dg.AssetKey("check_snapshot")
DELIVERY_PASS_S = 60.0


def _state_table(rows: list[dict]) -> str:
    head = (
        "| org_id | notices | last delivered seq | pending | failures | next retry | last error |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    return head + "".join(
        f"| {r['org_id']} | {r['latest_seq']} | {r['last_delivered_seq'] if r['webhook_host'] else 'feed only'} | "
        f"{r['pending'] if r['pending'] is not None else '-'} | {r['failures']} | {r['next_retry_at'] or '-'} | "
        f"{(r['last_error'] or '-')[:80]} |\n"
        for r in rows
    )


@dg.asset(name="notices", group_name="notices", deps=[CHECK_SNAPSHOT], kinds={"sqlite"}, pool="warehouse_reader")
def notices(context: dg.AssetExecutionContext, numlake: NumlakeResource) -> dg.MaterializeResult:
    """Watchlist notices (CHANGED_HANDS, WITHDRAWN) and segment notices (SEGMENT_NOTICE,
    SEGMENT_REMINDER) raised from the published data into `<home>/notices/store.sqlite`,
    exactly once, seq without gaps per organisation."""
    from numlake.notices.raising import raise_notices

    result = raise_notices(numlake.settings.home)
    context.log.info(result.line())
    meta = {
        "run": result.run or 0,
        "as_of": result.as_of or "",
        "watchlist_entries": result.entries,
        "judge_seconds": round(result.judge_seconds, 3),
        "organisations_told": result.orgs_told,
    }
    meta.update({f"raised_{k.lower()}": v for k, v in result.raised.items()})
    if result.skipped:
        meta["skipped"] = result.skipped
    return dg.MaterializeResult(metadata=meta)


@dg.asset(name="notice_deliveries", group_name="notices", deps=["notices"], kinds={"python"})
def notice_deliveries(context: dg.AssetExecutionContext, numlake: NumlakeResource) -> dg.MaterializeResult:
    """One pass of webhook delivery (signed POSTs in seq order, back-off on failure) and every
    organisation's delivery state: last delivered seq, pending, failures, next retry."""
    from numlake.notices.delivery import Deliverer
    from numlake.notices.status import delivery_state

    home = numlake.settings.home
    summary = Deliverer(home).run_once(deadline_s=DELIVERY_PASS_S)
    context.log.info(summary.line())
    rows = delivery_state(home)
    return dg.MaterializeResult(
        metadata={
            "delivered": summary.delivered,
            "webhooks_due": summary.orgs,
            "failing": ", ".join(sorted(summary.failed_orgs)) or "none",
            "delivery_state": dg.MetadataValue.md(_state_table(rows)),
        }
    )


def defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=[notices, notice_deliveries])
