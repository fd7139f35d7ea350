"""`numlake simulate`: a simulated China delivering exactly what INTERCHANGE.md allows.

See docs/SIMULATION.md for the model, its calibration, the faults and the volumes.
"""

from numlake.simulate.core import DEFAULT_DAYS, DEFAULT_START, simulate

__all__ = ["simulate", "DEFAULT_START", "DEFAULT_DAYS"]
