"""What every test module shares."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="module")
def _environment_of_the_module_restored():
    """A test that runs the pipeline in-process exports its home's settings (NUMLAKE_LANDING,
    NUMLAKE_REGISTRY, ...) to this process (`Settings.apply_env`), and every `numlake` subprocess
    of a later module would inherit them and read another home. Each module starts from the
    environment the previous one found."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
