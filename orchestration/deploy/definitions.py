"""The deployment's definitions: the embedded default's, with steps in separate processes.

Only the executor differs from `orchestration.definitions.build_definitions`: the same assets,
checks, job, sensor and schedule, so a home moves between the two without change. The steps
that write the lake or the warehouse keep one writer through their pools (dagster.yaml).
"""

from __future__ import annotations

import dagster as dg
from dagster._record import replace

from orchestration.settings import Settings

MAX_CONCURRENT_STEPS = 2


def deployment_executor() -> dg.ExecutorDefinition:
    """Each step in its own process; at most two at a time (the pools keep writers to one)."""
    return dg.multiprocess_executor.configured({"max_concurrent": MAX_CONCURRENT_STEPS})


def build_deployment_definitions(settings: Settings) -> dg.Definitions:
    from orchestration.definitions import build_definitions

    return replace(build_definitions(settings), executor=deployment_executor())
