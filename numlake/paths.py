"""Where everything a run produces lives: one *home* folder.

Resolution order for the home: ``--home`` argument, ``NUMLAKE_HOME``, then ``.numlake/`` in
the project's working tree (anchored to this file, never to the current directory; git
ignores it). Nothing in numlake writes outside the home, the paths it is given, or the
system temp dir.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_HOME = PROJECT_ROOT / ".numlake"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike | None = None) -> "Home":
        raw = home or os.environ.get("NUMLAKE_HOME") or DEFAULT_HOME
        return cls(Path(raw).expanduser().resolve())

    @property
    def landing(self) -> Path:
        """Default landing area (sources upload here; numlake never modifies it)."""
        return self.root / "landing"

    @property
    def default_registry(self) -> Path:
        """Registry written by `numlake simulate` next to the landing folder."""
        return self.root / "registry.yaml"

    @property
    def lake(self) -> Path:
        """Parquet lake written by ingestion (see docs/LAKE.md)."""
        return self.root / "lake"

    @property
    def ingest_state(self) -> Path:
        """Ingestion's own DuckDB state (ledger, event-id index); only ingestion writes it."""
        return self.root / "ingest" / "state.duckdb"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def warehouse(self) -> Path:
        """The DuckDB warehouse built by dbt; schema `marts` is the published contract."""
        return self.root / "warehouse.duckdb"

    @property
    def snapshots(self) -> Path:
        """Read-only warehouse snapshots served by the check service."""
        return self.root / "snapshots"

    @property
    def dashboards(self) -> Path:
        return self.root / "dashboards"

    @property
    def dbt_docs(self) -> Path:
        """The dbt docs site of the warehouse (one self-contained index.html), linked from the dashboards."""
        return self.root / "dbt" / "docs"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def lock_file(self) -> Path:
        """Held for the whole of a pipeline run; a second run waits or refuses."""
        return self.root / ".run.lock"

    def ensure(self) -> "Home":
        for p in (self.root, self.lake, self.logs, self.dagster_home):
            p.mkdir(parents=True, exist_ok=True)
        return self
