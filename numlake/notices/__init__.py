"""Notices (RULES 8): watchlists, the notices a run raises, and their delivery.

- `store`: the durable store in the home (SQLite): watchlists, notices, webhooks, delivery state;
- `watchlist`: validating and hashing watchlist input (API and CLI);
- `portal` and `raising`: what a run raises (plain Python, run by orchestration/defs/notices.py);
- `delivery`: the webhook worker; `api`: the HTTP routes; `command`: the CLI;
- `status`: figures for the dashboards and Dagster. See docs/NOTICES.md.
"""
