"""Ingestion core: registry, readers per dialect, validation, ledger and the Parquet lake.

Plain Python (no Dagster); ``orchestration/`` wraps :func:`ingestion.pipeline.ingest`.
"""

import logging as _logging

# A library stays quiet unless the application configures logging.
_logging.getLogger("numlake.ingestion").addHandler(_logging.NullHandler())
