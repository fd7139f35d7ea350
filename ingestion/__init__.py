"""Ingestion core: registry, readers per dialect, validation, ledger and the Parquet lake.

Plain Python (no Dagster); ``orchestration/`` wraps :func:`ingestion.pipeline.ingest`.
"""
