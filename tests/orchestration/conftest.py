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


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """A fresh Dagster instance in `tmp_path` (SQLite storage, no telemetry)."""
    from dagster import DagsterInstance

    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    inst = DagsterInstance.get()
    yield inst
    inst.dispose()
