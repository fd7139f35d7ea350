"""Import dagster-dbt without loading dbt-core into the Dagster process.

dbt itself always runs in its own process (`dbt build`, `dbt parse`, `dbt docs`: dagster-dbt's
`DbtCliResource` starts the dbt executable). The Dagster process only reads the manifest, turns
its nodes into assets and asset checks, and turns dbt's JSON log lines into events. Yet importing
dagster-dbt imports dbt-core when it is installed (`dagster_dbt.compat` loads dbt's adapter base
classes and result enums, whose mashumaro classes generate their serialisers at import), and
building `@dbt_assets` then loads dbt's selection engine and a `Manifest` to select every node:
~0.7 s of CPU at every `numlake run`, `numlake ui` code load and daemon tick (BENCHMARKS.md,
issue 17), for work the dbt process does again.

dagster-dbt supports a Dagster process without dbt-core (for the dbt Fusion engine): it then uses
its own copies of dbt's status enums and selects every manifest node straight from the JSON. This
module imports dagster-dbt with `dbt` hidden from the import system for the length of that import,
so it takes that path, and puts it back afterwards. Two things make it safe here:

- the project's dbt resource (orchestration/defs/dbt.py, `NumlakeDbtCli`) reports the installed
  dbt-core version itself, so dagster-dbt drives the dbt executable as dbt-core (not as Fusion),
  and opens no adapter in this process;
- the project selects every node (`fqn:*`), which dagster-dbt does without dbt-core.

If dbt is already imported when this runs (e.g. a test process that ran dbt in-process), the import
is the ordinary one. tests/orchestration/test_dagster_dbt_light.py fails if dagster-dbt stops taking
that path, or if a numlake run would load dbt-core into the Dagster process.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from types import ModuleType


class _HideDbtCore(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "dbt" or fullname.startswith("dbt."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def import_dagster_dbt() -> ModuleType:
    """`dagster_dbt`, imported without dbt-core unless either is already loaded."""
    if "dagster_dbt" in sys.modules or "dbt" in sys.modules:
        return importlib.import_module("dagster_dbt")
    hide = _HideDbtCore()
    sys.meta_path.insert(0, hide)
    try:
        return importlib.import_module("dagster_dbt")
    finally:
        sys.meta_path.remove(hide)


dagster_dbt = import_dagster_dbt()
