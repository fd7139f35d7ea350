import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def samples_world(tmp_path) -> dict:
    """The spec's sample deliveries in a landing area of their own, with a fresh home."""
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURES / "samples", landing, ignore=shutil.ignore_patterns("README.md", "expected.json"))
    return {"home": tmp_path / "home", "landing": landing, "registry": FIXTURES / "samples_registry.yaml"}
