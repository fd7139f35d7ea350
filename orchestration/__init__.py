"""Thin Dagster layer: assets, checks, sensor and schedule around ingestion/, dbt_project/,
dashboards/ and the check snapshot. Everything that decides anything lives in those packages."""
