"""The runs the operations page lists, read from Dagster's instance by the asset that builds the site.

Dashboards stay plain Python: this module imports nothing from Dagster and only calls the
instance's public methods (``get_run_records``, ``get_run_step_stats``). The run that is building
the page cannot have finished yet; it is marked ``current`` instead of being listed as STARTED
for ever, and shows the steps done so far.
"""

from __future__ import annotations

from datetime import datetime

from numlake.china_time import CST


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, CST).isoformat() if ts else None


def _status(value) -> str:
    return str(getattr(value, "value", value) or "")


def runs_from_instance(instance, current_run_id: str | None = None, limit: int = 30) -> list[dict]:
    """The latest runs, newest first: run_id, job, status, start, end, duration_s, current, steps.

    `steps` maps each step key to its duration in seconds (steps that have not ended are left out).
    """
    out = []
    for rec in instance.get_run_records(limit=limit):
        run = rec.dagster_run
        start, end = rec.start_time, rec.end_time
        steps = {}
        try:
            stats = instance.get_run_step_stats(run.run_id)
        except Exception:
            stats = []
        for s in stats:
            if s.start_time and s.end_time:
                steps[s.step_key] = round(s.end_time - s.start_time, 2)
        current = run.run_id == current_run_id
        out.append(
            {
                "run_id": run.run_id,
                "job": run.job_name,
                "status": _status(run.status),
                "start": _iso(start),
                "end": _iso(end),
                "duration_s": round(end - start, 1) if start and end else None,
                "current": current,
                "steps": steps,
            }
        )
    return out
