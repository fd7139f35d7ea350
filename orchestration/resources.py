"""The one Dagster resource every numlake asset, check and sensor receives: where the run works.

Definitions are built from `Settings` (the CLI's flags, or the environment `dagster dev` was
started with) and hand them to every step through this resource, so no step re-reads the
environment and a test can point the same definitions at any home.
"""

from __future__ import annotations

import dagster as dg

from orchestration.settings import Settings


class NumlakeResource(dg.ConfigurableResource):
    """The home folder, landing area and registry of this code location."""

    home: str
    landing: str
    registry: str

    @classmethod
    def from_settings(cls, settings: Settings) -> NumlakeResource:
        return cls(home=str(settings.home.root), landing=str(settings.landing), registry=str(settings.registry))

    @property
    def settings(self) -> Settings:
        return Settings.resolve(self.home, self.landing, self.registry)
