"""Entry point for `dagster dev` / the webserver: `dagster dev -m orchestration.dagster_entry`."""

from orchestration.definitions import build_definitions
from orchestration.settings import Settings

defs = build_definitions(Settings.resolve())
