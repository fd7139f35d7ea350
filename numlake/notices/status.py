"""Figures about notices for the operations and regulator pages and for Dagster's metadata.

Read-only and small: one row per organisation, one per raising run, a few totals. Never a
number, never a webhook's path or query (which may hold the organisation's own token): only
its host.
"""

from __future__ import annotations

import datetime as dt
import statistics
from urllib.parse import urlsplit

from numlake.china_time import CST, shown
from numlake.msisdn import mask_text
from numlake.notices.store import KINDS, NoticeStore, store_path
from numlake.paths import Home


def _iso(ts: float | None) -> str | None:
    """A stored epoch time in CST, as every time the platform shows."""
    return None if ts is None else dt.datetime.fromtimestamp(ts, CST).isoformat(timespec="seconds")


def delivery_state(home: Home) -> list[dict]:
    """Per organisation with notices or a webhook: latest seq, last delivered seq, pending, failures,
    next retry, last error."""
    if not store_path(home).exists():
        return []
    with NoticeStore(home).read() as con:
        rows = con.execute("""
            with latest as (select org_id, max(seq) as latest_seq, count(*) as notices from notices group by org_id),
            orgs as (select org_id from latest union select org_id from webhooks)
            select o.org_id, coalesce(l.latest_seq, 0), coalesce(l.notices, 0), w.url, coalesce(d.last_seq, 0),
                   coalesce(d.failures, 0), d.next_retry_at, d.last_success_at, d.last_error
            from orgs o left join latest l using (org_id) left join webhooks w using (org_id)
            left join delivery d using (org_id) order by o.org_id""").fetchall()
    out = []
    for org_id, latest, count, url, last, failures, retry, success, error in rows:
        out.append(
            {
                "org_id": org_id,
                "notices": count,
                "latest_seq": latest,
                "webhook_host": mask_text(urlsplit(url).hostname or "") if url else None,
                "last_delivered_seq": last if url else None,
                "pending": max(0, latest - last) if url else None,
                "failures": failures,
                "next_retry_at": _iso(retry) if failures else None,
                "last_success_at": shown(success),
                "last_error": error,
            }
        )
    return out


def raising_runs(home: Home, limit: int = 10) -> list[dict]:
    if not store_path(home).exists():
        return []
    with NoticeStore(home).read() as con:
        rows = con.execute(
            "select run, as_of, started_at, entries, raised, seconds from runs order by run desc limit ?", [limit]
        ).fetchall()
    return [
        {
            "run": r[0],
            "as_of": r[1],
            "started_at": shown(r[2]),
            "entries": r[3],
            "raised": r[4],
            "seconds": round(r[5], 2),
        }
        for r in rows
    ]


def totals(home: Home) -> dict:
    """Notices raised and delivered per kind; watchlist entries and organisations."""
    out = {
        "raised": dict.fromkeys(KINDS, 0),
        "delivered": dict.fromkeys(KINDS, 0),
        "entries": 0,
        "watch_orgs": 0,
        "webhooks": 0,
    }
    if not store_path(home).exists():
        return out
    with NoticeStore(home).read() as con:
        for kind, n, d in con.execute("select kind, count(*), count(delivered_at) from notices group by kind"):
            out["raised"][kind], out["delivered"][kind] = n, d
        out["entries"], out["watch_orgs"] = con.execute(
            "select count(*), count(distinct org_id) from watchlist"
        ).fetchone()
        out["webhooks"] = con.execute("select count(*) from webhooks").fetchone()[0]
    return out


def _hours_between(end_of_day: str, at: str) -> float:
    start = dt.datetime.combine(dt.date.fromisoformat(end_of_day) + dt.timedelta(days=1), dt.time(), CST)
    return (dt.datetime.fromisoformat(at) - start).total_seconds() / 3600


def reassignment_reach(home: Home) -> dict:
    """For the regulator: how many organisations were told of how many reassigned numbers, and how
    fast — hours from the end of the notice's as_of day (the data it rests on) to its first
    delivery (webhook 2xx or feed read), and from raising to delivery."""
    out = {
        "orgs_told": 0,
        "numbers": 0,
        "notices": 0,
        "delivered": 0,
        "median_hours_as_of_to_delivery": None,
        "p90_hours_as_of_to_delivery": None,
        "median_minutes_raised_to_delivery": None,
    }
    if not store_path(home).exists():
        return out
    with NoticeStore(home).read() as con:
        rows = con.execute(
            "select org_id, subject, as_of, raised_at, delivered_at from notices where kind = 'CHANGED_HANDS'"
        ).fetchall()
    delivered = [r for r in rows if r[4]]
    out.update(
        notices=len(rows),
        delivered=len(delivered),
        orgs_told=len({r[0] for r in delivered}),
        numbers=len({r[1] for r in delivered}),
    )
    if delivered:
        lag = sorted(_hours_between(r[2], r[4]) for r in delivered)
        out["median_hours_as_of_to_delivery"] = round(statistics.median(lag), 1)
        out["p90_hours_as_of_to_delivery"] = round(lag[min(len(lag) - 1, int(0.9 * (len(lag) - 1) + 0.5))], 1)
        raised = [
            (dt.datetime.fromisoformat(r[4]) - dt.datetime.fromisoformat(r[3])).total_seconds() / 60 for r in delivered
        ]
        out["median_minutes_raised_to_delivery"] = round(statistics.median(raised), 2)
    return out


def dashboard_figures(home: Home) -> dict:
    """Everything the operations and regulator pages show about notices, read once."""
    return {
        "delivery": delivery_state(home),
        "runs": raising_runs(home),
        "totals": totals(home),
        "reach": reassignment_reach(home),
    }
