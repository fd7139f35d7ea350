"""Where everything a run produces lives: one *home* folder.

Resolution order for the home: ``--home`` argument, ``NUMLAKE_HOME``, then ``.numlake/`` in
the project's working tree (anchored to this file, never to the current directory; git
ignores it). Nothing in numlake writes outside the home, the paths it is given, or the
system temp dir.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from numlake.errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_HOME = PROJECT_ROOT / ".numlake"
# kernel file systems: nothing numlake reads or writes can live there
KERNEL_FILE_SYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))
MISSING = "does not exist"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def path_problem(path: str | os.PathLike, want: str) -> str | None:
    """Why `path` cannot serve as a `want` (``folder`` or ``file``), as the end of a sentence
    starting with the path (``MISSING`` when it does not exist but could be created); None
    when it can."""
    p = Path(os.path.abspath(path))
    for root in KERNEL_FILE_SYSTEMS:
        if p == root or root in p.parents:
            return f"is under {root}, a kernel file system, not a {want} numlake can use"
    try:
        mode = os.stat(p).st_mode
    except (FileNotFoundError, NotADirectoryError):
        for parent in p.parents:
            try:
                pmode = os.stat(parent).st_mode
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as e:
                return f"cannot be reached ({e.strerror})"
            if not stat.S_ISDIR(pmode):
                return f"is below {parent}, which is a {_kind(pmode)}, not a folder"
            break
        return MISSING
    except OSError as e:
        return f"cannot be reached ({e.strerror})"
    if want == "folder" and not stat.S_ISDIR(mode):
        return f"is a {_kind(mode)}, not a folder"
    if want == "file" and not stat.S_ISREG(mode):
        return f"is a {_kind(mode)}, not a file"
    return None


def check_path(
    path: str | os.PathLike, want: str, what: str, *, missing_ok: bool = False, missing: str = MISSING
) -> Path:
    """`path` if it can serve as a `want`; else UsageError("<what> <path> <why>") (one line)."""
    problem = path_problem(path, want)
    if problem is None or (problem == MISSING and missing_ok):
        return Path(path)
    raise UsageError(f"{what} {path} {missing if problem == MISSING else problem}")


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike | None = None) -> Home:
        """The home named by `home`, ``NUMLAKE_HOME`` or the default; a UsageError naming the
        problem when it cannot be a folder (a file, below a file, under /proc or /sys)."""
        if home is not None and not str(home).strip():
            raise UsageError("--home is empty (leave it out for $NUMLAKE_HOME or the default)")
        raw = home or os.environ.get("NUMLAKE_HOME") or DEFAULT_HOME
        try:
            root = Path(raw).expanduser().resolve()
        except (OSError, RuntimeError) as e:  # a symlink loop
            raise UsageError(f"home {raw} cannot be resolved ({e})") from None
        return cls(check_path(root, "folder", "home", missing_ok=True))

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
    def rebuild_request(self) -> Path:
        """Left by ingestion when deliveries were loaded again under new load numbers (their lake
        file had vanished, docs/LAKE.md): the next dbt build rebuilds the incremental models from
        scratch, as they cannot tell the reloaded records from the ones they already hold."""
        return self.root / "ingest" / "rebuild_warehouse"

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

    def ensure(self) -> Home:
        for p in (self.root, self.lake, self.logs, self.dagster_home):
            p.mkdir(parents=True, exist_ok=True)
        return self
