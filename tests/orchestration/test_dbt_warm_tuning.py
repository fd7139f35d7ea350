"""What the warm dbt process changes in dbt's own work (orchestration/dbt_warm_tuning.py): the
order ready nodes run in, the manifest copied instead of serialized, Jinja's code kept across
runs. Each keeps dbt's results the same. The patches are process-wide, so each case runs in a
process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest

from orchestration.dbt_support import dbt_executable
from orchestration.dbt_warm import WarmDbt, ensure_launcher
from orchestration.dbt_warm_tuning import chain_first_scores

ROOT = Path(__file__).resolve().parents[2]


def test_a_node_with_the_longer_chain_below_it_ranks_first():
    graph = nx.DiGraph([("z_head", "y_mid"), ("y_mid", "x_tail"), ("a_leaf_parent", "a_leaf")])
    graph.add_node("b_alone")
    depth = {"z_head": 0, "y_mid": 1, "x_tail": 2, "a_leaf_parent": 0, "a_leaf": 1, "b_alone": 0}
    scores = chain_first_scores(graph, depth)
    ranked = sorted(graph.nodes(), key=lambda n: (scores[n], n))
    assert ranked == ["z_head", "a_leaf_parent", "y_mid", "b_alone", "a_leaf", "x_tail"]


@pytest.fixture
def chain_project(tmp_path) -> Path:
    """A leaf model that sorts first by name, and a chain of three that dbt ranks after it."""
    root = tmp_path / "proj"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: chain\nversion: '1.0'\nconfig-version: 2\nprofile: chain\nmodel-paths: ['models']\n"
    )
    (root / "profiles.yml").write_text(
        textwrap.dedent(
            """
            chain:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: "{{ env_var('CHAIN_DB') }}"
                  threads: 1
            """
        )
    )
    models = root / "models"
    (models / "a_leaf.sql").write_text("select 1 as one\n")
    (models / "z_head.sql").write_text("select 1 as one\n")
    (models / "y_mid.sql").write_text("select * from {{ ref('z_head') }}\n")
    (models / "x_tail.sql").write_text("select * from {{ ref('y_mid') }}\n")
    return root


def _build(project: Path, tmp_path: Path, warm: bool) -> tuple[list[str], Path]:
    """`dbt build` of `project` through numlake's launcher (in a warm process or not): the order
    its one thread ran the models in, and the invocation's target folder."""
    launcher = ensure_launcher(tmp_path / "dbt", dbt_executable())
    target = tmp_path / ("target-warm" if warm else "target-cold")
    env = dict(os.environ, CHAIN_DB=str(tmp_path / "chain.duckdb"), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    folders = ["--project-dir", str(project), "--profiles-dir", str(project)]
    cmd = [str(launcher), "build", *folders, "--target-path", str(target)]
    parse = ["parse", *folders, "--target-path", str(tmp_path / "w")]
    os.environ["CHAIN_DB"] = env["CHAIN_DB"]
    try:
        if warm:
            with WarmDbt(parse=parse) as process:
                done = subprocess.run(cmd, cwd=project, env=dict(os.environ), capture_output=True, text=True)
            assert process.read_ahead
        else:
            env.pop("NUMLAKE_DBT_WARM_SOCKET", None)
            done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    finally:
        del os.environ["CHAIN_DB"]
    assert done.returncode == 0, done.stdout[-2000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    started = sorted(results, key=lambda r: min(t["started_at"] for t in r["timing"]))
    return [r["unique_id"].rsplit(".", 1)[1] for r in started], target


def test_the_warm_process_runs_the_chain_first_and_waits_for_a_free_thread(chain_project, tmp_path):
    """dbt alone runs the leaf first (same depth, first by name). In the warm process the chain's
    head ranks first, and its next model runs before the leaf, which was ready all along: the
    queue loop took a node only when the one thread was free (handed to the pool at once, the leaf
    would have run second). The chain's last model and the leaf both have one node left: the
    shallower, the leaf, goes first."""
    cold, _ = _build(chain_project, tmp_path, warm=False)
    assert cold[0] == "a_leaf"
    warm, _ = _build(chain_project, tmp_path, warm=True)
    assert warm == ["z_head", "y_mid", "a_leaf", "x_tail"]


def test_the_warm_build_writes_the_parsed_manifest_into_its_target(chain_project, tmp_path):
    _, target = _build(chain_project, tmp_path, warm=True)
    written = (target / "manifest.json").read_bytes()
    assert written == (tmp_path / "w" / "manifest.json").read_bytes()
    nodes = json.loads(written)["nodes"]
    assert {n.rsplit(".", 1)[1] for n in nodes} == {"a_leaf", "z_head", "y_mid", "x_tail"}
    assert (target / "semantic_manifest.json").exists()


RENDER = textwrap.dedent(
    """
    import json, sys
    from orchestration.dbt_warm_tuning import compiled_templates_kept
    write_back = compiled_templates_kept(sys.argv[1])
    from dbt_common.clients import jinja
    out = []
    for text in json.loads(sys.argv[2]):
        for native in (False, True):
            value = jinja.get_template(text, {}, native=native).render({"x": 20})
            out.append([type(value).__name__, value])
    write_back()
    print(json.dumps({"renders": out, "compiled": write_back.compiled}))
    """
)


def _script(script: str, *args: str) -> dict:
    """The JSON a script prints last, run in a process of its own (the patches are process-wide)."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _render(folder: Path, texts: list[str]) -> dict:
    return _script(RENDER, str(folder), json.dumps(texts))


def test_jinjas_code_is_kept_for_the_next_process_and_renders_the_same(tmp_path):
    """The second process compiles nothing and renders what the first did; the text and the
    native environment (which compile the same source to different code) keep entries of their
    own; a new template is compiled, and the file then holds only what that process used."""
    texts = ["{{ x + 1 }}", "{% set y = [x, 2] %}{{ y | length }}-{{ y[0] }}"]
    first = _render(tmp_path, texts)
    assert first["compiled"] == 4
    assert first["renders"] == [["str", "21"], ["int", 21], ["str", "2-20"], ["str", "2-20"]]
    again = _render(tmp_path, texts)
    assert again == {**first, "compiled": 0}
    kept = (tmp_path / "jinja_code.pickle").stat()
    changed = _render(tmp_path, ["{{ x * 3 }}"])
    assert changed == {"renders": [["str", "60"], ["int", 60]], "compiled": 2}
    assert (tmp_path / "jinja_code.pickle").stat().st_mtime_ns >= kept.st_mtime_ns
    assert _render(tmp_path, texts)["compiled"] == 4  # not used by the last process: dropped


def test_a_torn_or_foreign_code_file_only_means_compiling(tmp_path):
    texts = ["{{ x - 1 }}"]
    _render(tmp_path, texts)
    path = tmp_path / "jinja_code.pickle"
    path.write_bytes(path.read_bytes()[:40])
    assert _render(tmp_path, texts) == {"renders": [["str", "19"], ["int", 19]], "compiled": 2}
    path.write_bytes(b"not a pickle")
    assert _render(tmp_path, texts)["compiled"] == 2


EVENTS = textwrap.dedent(
    """
    import io, json, sys
    from dbt_common.events import event_manager
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.logger import LineFormat, LoggerConfig
    from dbt_common.events.types import Note
    from orchestration.dbt_warm_tuning import unwritten_events_skipped
    if sys.argv[1] == "patched":
        unwritten_events_skipped()
    built = []
    build = event_manager.msg_from_base_event
    event_manager.msg_from_base_event = lambda e, level=None: built.append(e.msg) or build(e, level=level)
    out = io.StringIO()
    manager = event_manager.EventManager()
    config = LoggerConfig(name="t", line_format=LineFormat.Json, level=EventLevel[sys.argv[2]], output_stream=out)
    manager.add_logger(config)
    if sys.argv[3] == "callback":
        manager.add_callback(lambda msg: None)
    for level in (EventLevel.DEBUG, EventLevel.INFO, EventLevel.WARN):
        manager.fire_event(Note(msg=level.value), level=level)
    written = [json.loads(line)["info"]["msg"] for line in out.getvalue().splitlines()]
    print(json.dumps({"built": built, "written": written}))
    """
)


@pytest.mark.parametrize("logger_level", ["INFO", "DEBUG"])
@pytest.mark.parametrize("callback", ["callback", "none"])
def test_an_event_no_logger_writes_is_dropped_before_its_message_is_built(logger_level, callback):
    plain = _script(EVENTS, "plain", logger_level, callback)
    patched = _script(EVENTS, "patched", logger_level, callback)
    assert patched["written"] == plain["written"]
    assert plain["built"] == ["debug", "info", "warn"]
    kept_debug = logger_level == "DEBUG" or callback == "callback"
    assert patched["built"] == (["debug", "info", "warn"] if kept_debug else ["info", "warn"])


def _warehouse_with_a_log(path: Path) -> None:
    """A DuckDB file whose last writer exited without a checkpoint (as dbt's process does)."""
    script = (
        "import duckdb, os, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('create table t as select range as i from range(1000)')\n"
        "con.execute('insert into t select 5000')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert Path(f"{path}.wal").exists()


def test_the_warm_process_checkpoints_the_warehouse_before_the_build(tmp_path, monkeypatch):
    from orchestration.dbt_warm_tuning import warehouse_checkpointed

    path = tmp_path / "warehouse.duckdb"
    _warehouse_with_a_log(path)
    monkeypatch.setenv("NUMLAKE_WAREHOUSE", str(path))
    warehouse_checkpointed("spark")  # Spark's builds do not write this file
    assert Path(f"{path}.wal").exists()
    warehouse_checkpointed("duckdb")
    assert not Path(f"{path}.wal").exists()
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*), max(i) from t").fetchone() == (1001, 5000)


def test_a_warehouse_another_process_holds_is_left_alone(tmp_path, monkeypatch):
    from orchestration.dbt_warm_tuning import warehouse_checkpointed

    path = tmp_path / "warehouse.duckdb"
    _warehouse_with_a_log(path)
    hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('open', flush=True); input()"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        monkeypatch.setenv("NUMLAKE_WAREHOUSE", str(path))
        warehouse_checkpointed("duckdb")  # no error: dbt meets the lock itself, as before
    finally:
        holder.communicate("\n", timeout=60)


AHEAD = textwrap.dedent(
    """
    import json, sys
    from types import SimpleNamespace
    from orchestration.dbt_warm_tuning import compiled_templates_kept, templates_made_ahead
    write_back = compiled_templates_kept(sys.argv[1])
    from dbt_common.clients.jinja import template_cache
    macros = {
        "ok": SimpleNamespace(name="ok", macro_sql="{% macro ok(x) %}{{ x * 2 }}{% endmacro %}"),
        "broken": SimpleNamespace(name="broken", macro_sql="{% macro broken() %}{{ x + }}{% endmacro %}"),
    }
    if sys.argv[2] == "ahead":
        templates_made_ahead(SimpleNamespace(macros=macros))
    made = sorted(m for m, macro in macros.items() if macro.macro_sql in template_cache.file_cache)
    write_back()
    print(json.dumps({"made": made, "compiled": write_back.compiled}))
    """
)


def test_every_macro_is_made_ahead_and_its_code_kept(tmp_path):
    """A macro the build did not call is made ahead and kept all the same: the next process finds
    its code; one that does not compile is skipped here, to fail where a build calls it."""
    assert _script(AHEAD, str(tmp_path), "ahead") == {"made": ["ok"], "compiled": 1}
    assert _script(AHEAD, str(tmp_path), "ahead") == {"made": ["ok"], "compiled": 0}
    assert _script(AHEAD, str(tmp_path), "not") == {"made": [], "compiled": 0}


def test_the_contract_schemas_are_built_ahead_and_a_missing_adapter_is_skipped():
    """In a process of its own (the cache is process-wide): after `schemas_made_ahead`, the schemas
    an invocation validates against are in dbt's cache; an adapter module that is not there only
    means one schema fewer."""
    code = textwrap.dedent(
        """
        from dbt_common.dataclass_schema import dbtClassMixin
        from orchestration.dbt_warm_tuning import schemas_made_ahead
        cache = dbtClassMixin.__dict__["json_schema"].__func__
        before = cache.cache_info().currsize
        schemas_made_ahead("no.such.adapter")
        without_adapter = cache.cache_info().currsize
        schemas_made_ahead("dbt.adapters.duckdb")
        print(before, without_adapter, cache.cache_info().currsize)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    before, without_adapter, with_adapter = map(int, out.stdout.split())
    # Configuration, Project, ProjectFlags, PackageConfig, ProfileConfig
    assert without_adapter == before + 5
    assert with_adapter == without_adapter + 1  # DuckDBCredentials
