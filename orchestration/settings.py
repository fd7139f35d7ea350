"""Run settings shared by the CLI, the in-process runner and `dagster dev`.

Dagster loads definitions in other processes (the UI, sensors), so the settings travel as
environment variables: NUMLAKE_HOME, NUMLAKE_LANDING, NUMLAKE_REGISTRY.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ingestion.objectstore import LakeLocation
from numlake.errors import UsageError
from numlake.paths import Home

DAGSTER_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
"""


@dataclass(frozen=True)
class Settings:
    home: Home
    landing: Path
    registry: Path

    @classmethod
    def resolve(cls, home=None, landing=None, registry=None) -> Settings:
        for flag, value in (("--landing", landing), ("--registry", registry)):
            if value is not None and not str(value).strip():
                raise UsageError(f"{flag} is empty (leave it out for the default)")
        h = Home.resolve(home)
        land = Path(landing or os.environ.get("NUMLAKE_LANDING") or h.landing).expanduser().resolve()
        # absolute, but a link stays a link: messages name the path the operator gave
        reg = Path(
            os.path.abspath(Path(registry or os.environ.get("NUMLAKE_REGISTRY") or h.default_registry).expanduser())
        )
        return cls(h, land, reg)

    def validate(self) -> Settings:
        if not self.landing.is_dir():
            raise UsageError(f"landing area {self.landing} does not exist (run `numlake simulate` or pass --landing)")
        if not self.registry.is_file():
            if self.registry.is_symlink():
                target = os.readlink(self.registry)
                raise UsageError(
                    f"registry {self.registry} is a link to {target}, which does not exist (pass --registry)"
                )
            raise UsageError(f"registry {self.registry} does not exist (pass --registry)")
        return self

    def apply_env(self) -> None:
        """Export the settings (and the dbt/dagster environment they imply) to this process."""
        self.home.ensure()
        dagster_yaml = self.home.dagster_home / "dagster.yaml"
        # numlake owns this file: an older home gets the current settings (e.g. no community pop-up)
        if not dagster_yaml.exists() or dagster_yaml.read_text(encoding="utf-8") != DAGSTER_YAML:
            dagster_yaml.write_text(DAGSTER_YAML, encoding="utf-8")
        venv_bin = str(Path(sys.executable).parent)
        env = {
            "NUMLAKE_HOME": str(self.home.root),
            "NUMLAKE_LANDING": str(self.landing),
            "NUMLAKE_REGISTRY": str(self.registry),
            "NUMLAKE_WAREHOUSE": str(self.home.warehouse),
            # the lake root dbt reads (<home>/lake or s3://...) and its filesystems (ingestion.objectstore)
            **LakeLocation.resolve(self.home).dbt_env(self.home),
            "DAGSTER_HOME": str(self.home.dagster_home),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_LOG_PATH": str(self.home.logs / "dbt"),
            # dbt's file log (dbt.log beside each invocation's artefacts) at info, not debug: the
            # debug lines (every statement's SQL, every connection) cost ~0.3 s of a daily run's
            # dbt CPU. DBT_LOG_LEVEL_FILE=debug in the environment brings them back.
            "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE") or "info",
            # dagster-dbt puts each invocation's artefacts under $DBT_TARGET_PATH/<step>-<run>-<id>.
            "DBT_TARGET_PATH": str(self.home.root / "dbt" / "target"),
            "DBT_PROFILES_DIR": str(Path(__file__).resolve().parent.parent / "dbt_project"),
        }
        os.environ.update(env)
        if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
