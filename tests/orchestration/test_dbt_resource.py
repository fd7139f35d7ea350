"""The dbt resource skips dagster-dbt's `dbt --version` subprocess and its in-process adapter
(orchestration/defs/dbt.py, NumlakeDbtCli): these tests fail when that stops being true or
stops being right, e.g. after a dagster-dbt upgrade renames the hooks it overrides."""

import inspect
import re
import subprocess

from dagster_dbt import DbtCliResource

from numlake.paths import DBT_PROJECT_DIR
from orchestration.dbt_support import dbt_executable
from orchestration.defs.dbt import NumlakeDbtCli


def _resource() -> NumlakeDbtCli:
    return NumlakeDbtCli(project_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable())


def test_the_version_it_assumes_is_the_one_the_dbt_executable_reports():
    out = subprocess.run([dbt_executable(), "--version"], capture_output=True, text=True, check=True).stdout
    reported = re.search(r"(\d+\.\d+\.\d+)", out).group(1)
    assert str(_resource()._cli_version) == reported


def test_dagster_dbt_still_calls_the_two_hooks_it_overrides_before_every_command():
    source = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in source
    assert "self._initialize_dbt_core_adapter(" in source
    assert isinstance(
        inspect.getattr_static(DbtCliResource, "_cli_version"), type(NumlakeDbtCli.__dict__["_cli_version"])
    )


def test_no_adapter_is_opened_in_the_dagster_process():
    assert _resource()._initialize_dbt_core_adapter(["build"]) is None
