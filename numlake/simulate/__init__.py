"""`numlake simulate`: a simulated China delivering exactly what INTERCHANGE.md allows.

See docs/SIMULATION.md for the model, its calibration, the faults and the volumes. The package
imports nothing heavy: `numlake --help` loads `numlake.simulate.command` through it, and
`simulate` (numpy, pyarrow) is imported on first use.
"""

from __future__ import annotations

__all__ = ["DEFAULT_DAYS", "DEFAULT_START", "simulate"]


def __getattr__(name: str):
    if name in __all__:
        from numlake.simulate import core

        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
