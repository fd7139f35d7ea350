"""What the warm dbt process (orchestration/dbt_warm.py) changes in dbt's own work, and why.

Each change keeps what dbt builds and writes the same; it only takes out work a daily build paid
for nothing. A dbt whose internals have moved (an upgrade) keeps its own behaviour: each patch
checks the names it replaces and does nothing when they are not there. The cold `dbt` executable
(no warm process) runs unpatched.

- **Critical path first.** dbt hands its threads the ready nodes in order of their depth in the
  graph (`GraphQueue._get_scores`), ties broken by name. In a daily build the nine staging views,
  their two dozen tests and the small marts all rank before `int_number_events__replayed`, the
  model the number histories, findings, tenures and monthly marts wait for: three threads spent
  0.3 s on tests nobody waits on while it was ready. Here a node ranks by the longest chain of
  nodes that still depends on it (then by dbt's depth and name), the usual list-scheduling rule.
  dbt's loop also hands every ready node to its thread pool at once (first come, first served),
  so it now waits for a free thread before it takes the best ready node. Every node still runs
  after everything it depends on; only the order of ready nodes changes.
- **The manifest written at the end.** dbt writes `manifest.json` into the invocation's target
  folder after the last node, serializing the whole manifest again: 0.2 s after the work is done.
  When the command used the manifest the warm process read ahead, that manifest's JSON, written
  by the parse that made it (kept beside it: orchestration/dbt_kept_manifest.py), is copied
  instead. It is the same manifest; it lacks the compiled SQL dbt adds to the nodes it ran, which
  the invocation's `compiled/` and `run/` folders hold as always.
- **Jinja's compiled code kept.** Every dbt process compiles each macro it calls, and each node's
  SQL, from Jinja source to Python code (`compiled_templates_kept`): ~0.7 s of CPU in a daily
  build, under the GIL all dbt threads share. The code is kept in the warm target folder for the
  next run, and every macro's template is made while the run ingests (`templates_made_ahead`).
- **Events no logger writes.** dbt builds a message for every event (~2,700 in a daily build,
  ~2,000 of them debug lines) before its loggers decide; one that nobody can see is dropped
  first (`unwritten_events_skipped`).
- **The warehouse checkpointed before the build** (`warehouse_checkpointed`), while the run
  ingests, instead of by DuckDB itself in the middle of the build.
- **Contract schemas built ahead.** Each invocation validates the project, its flags and
  packages, the profile and the adapter's credentials against JSON schemas dbt builds from their
  classes on first use and keeps for the life of the process (`schemas_made_ahead`): ~0.25 s of
  CPU before the build's first node, now spent while the run ingests.
"""

from __future__ import annotations

import contextlib
import os
import threading


def chain_first_scores(graph, depth: dict) -> dict:
    """A score per node of `graph` (lower runs first): the longest chain of nodes from it to the
    end of the graph, longest first, then dbt's own score (`depth`)."""
    import networkx as nx

    below: dict = {}
    for node in reversed(list(nx.topological_sort(graph))):
        below[node] = 1 + max((below[child] for child in graph.successors(node)), default=0)
    return {node: (-below[node], depth[node]) for node in graph.nodes()}


def critical_path_first() -> None:
    """Patch dbt's `GraphQueue` to rank ready nodes by the longest chain below them, and dbt's
    queue loop to take a node only when a thread is free to run it."""
    try:
        from dbt.flags import get_flags
        from dbt.graph.queue import GraphQueue
        from dbt.task.runnable import GraphRunnableTask
    except ImportError:
        return
    depth_scores = GraphQueue.__dict__.get("_get_scores")
    get, mark_done = GraphQueue.__dict__.get("get"), GraphQueue.__dict__.get("mark_done")
    run_queue = GraphRunnableTask.__dict__.get("run_queue")
    if None in (depth_scores, get, mark_done, run_queue) or getattr(depth_scores, "numlake", False):
        return

    def chain_scores(self, graph):
        return chain_first_scores(graph, depth_scores(self, graph))

    # dbt's loop takes every ready node at once and queues it in its thread pool, first come first
    # served: the ranking would only order nodes that became ready together. A semaphore with a
    # permit per thread makes the loop wait for a free thread, so a thread that frees up takes the
    # best node ready then. A permit comes back once the node's successors are queued.
    def gated_get(self, *args, **kwargs):
        free = getattr(self, "numlake_free", None)
        if free is not None:
            free.acquire()
        try:
            return get(self, *args, **kwargs)
        except BaseException:
            if free is not None:
                free.release()
            raise

    def gated_mark_done(self, node_id):
        try:
            mark_done(self, node_id)
        finally:
            free = getattr(self, "numlake_free", None)
            if free is not None:
                free.release()

    def gated_run_queue(self, pool):
        # fail-fast raises from dbt's callback before the node is marked done: no gate there
        if self.job_queue is not None and not getattr(get_flags(), "FAIL_FAST", False):
            self.job_queue.numlake_free = threading.Semaphore(max(1, int(self.config.threads or 1)))
        return run_queue(self, pool)

    chain_scores.numlake = True
    GraphQueue._get_scores = chain_scores
    GraphQueue.get = gated_get
    GraphQueue.mark_done = gated_mark_done
    GraphRunnableTask.run_queue = gated_run_queue


def manifest_written_from(manifest, manifest_json: bytes | None) -> None:
    """Patch dbt's end-of-command `write_manifest` to copy `manifest_json` (the JSON of
    `manifest`, as its parse wrote it) when the manifest to write is that one; any other manifest
    is written by dbt as before."""
    if not manifest_json:
        return
    try:
        import dbt.task.runnable as runnable
        from dbt.parser.manifest import write_semantic_manifest
    except ImportError:
        return
    write_manifest = getattr(runnable, "write_manifest", None)
    if write_manifest is None:
        return

    def write_parsed_manifest(written, target_path: str, *args, **kwargs):
        if written is not manifest:
            return write_manifest(written, target_path, *args, **kwargs)
        path = os.path.join(target_path, "manifest.json")
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(manifest_json)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return write_manifest(written, target_path, *args, **kwargs)
        write_semantic_manifest(manifest=written, target_path=target_path)
        with contextlib.suppress(ImportError):
            from dbt.utils.artifact_upload import add_artifact_produced

            add_artifact_produced(path)

    runnable.write_manifest = write_parsed_manifest


JINJA_CODE = "jinja_code.pickle"  # in the warm process's target folder, beside the kept manifest
_ENV_OPTIONS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "is_async",
)


def _named(value) -> str:
    return getattr(value, "__qualname__", None) or repr(value)


def _callables_key(functions: dict) -> tuple:
    """The names of an environment's filters or tests and how each is called: Jinja compiles a
    call to a filter differently when it takes the context, the eval context or the environment."""
    return tuple(sorted((name, repr(getattr(f, "jinja_pass_arg", None))) for name, f in functions.items()))


def _environment_key(env) -> tuple:
    """What of a Jinja environment its compiled code depends on (its class, code generator,
    extensions, syntax options, filters and tests), in names that are the same in every process."""
    return (
        f"{type(env).__module__}.{type(env).__qualname__}",
        _callables_key(env.filters),
        _callables_key(env.tests),
        _named(env.code_generator_class),
        tuple(sorted(_named(type(ext)) for ext in env.extensions.values())),
        tuple(repr(getattr(env, option, None)) for option in _ENV_OPTIONS),
        _named(env.autoescape) if callable(env.autoescape) else repr(env.autoescape),
        _named(env.finalize) if env.finalize is not None else "",
    )


def compiled_templates_kept(folder):
    """Keep the Python code Jinja compiles dbt's templates to, across runs, in `folder`.

    Each dbt process compiles every macro it calls (~370 of the project's and dbt's 609 in a daily
    build) and every node's SQL from Jinja source to Python code before it can render it: ~0.7 s
    of CPU per build, holding the GIL the other dbt threads wait for. The code is a function of
    the template's source and the environment's configuration only, so it is kept (marshalled,
    under a key of both, for this Python, Jinja and dbt) and the next run loads it instead of
    compiling. Only the templates a command used are written back, and only when it compiled a new
    one. dbt's macro debugging (DBT_MACRO_DEBUGGING, which names the code after a file of its own)
    compiles as before. Returns the function that writes the file after the command (or None); its
    `compiled` attribute counts the templates this process compiled."""
    import hashlib
    import marshal
    import pickle
    import sys
    from importlib.metadata import version
    from pathlib import Path

    try:
        from dbt_common.clients import jinja as dbt_jinja
    except ImportError:
        return None
    environment = getattr(dbt_jinja, "MacroFuzzEnvironment", None)
    if environment is None or "compile" in environment.__dict__:
        return None
    path = Path(folder) / JINJA_CODE
    header = (sys.version, version("jinja2"), version("dbt-common"))
    kept: dict = {}
    try:
        with open(path, "rb") as f:
            if pickle.load(f) == header:
                kept = pickle.load(f)
    except Exception:  # absent, partial or of another version: compile
        kept = {}
    used: dict = {}
    compile_source = environment.compile

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        if raw or not isinstance(source, str) or getattr(dbt_jinja, "MACRO_DEBUGGING", False):
            return compile_source(self, source, name, filename, raw, defer_init)
        key = hashlib.sha256(repr((_environment_key(self), source, name, filename, defer_init)).encode()).digest()
        code = kept.get(key) or used.get(key)
        if code is not None:
            used[key] = code
            return marshal.loads(code)
        compiled = compile_source(self, source, name, filename, raw, defer_init)
        used[key] = marshal.dumps(compiled)
        write_back.compiled += 1
        return compiled

    environment.compile = compile

    def write_back() -> None:
        if not used or set(used) <= set(kept):
            return
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                pickle.dump(header, f, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(dict(used), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    write_back.compiled = 0
    return write_back


def unwritten_events_skipped() -> None:
    """Patch dbt's event manager to drop an event no logger will write before it builds the
    event's message. dbt turns every event it fires into a message (a protobuf `ParseDict` of its
    info, the message text formatted) and only then asks each logger whether it wants it; in a
    daily build ~2,000 of ~2,700 events are debug lines (each query, each connection) that neither
    dagster-dbt's pipe nor dbt.log keeps at level info. An event is dropped here only when nothing
    else could see it: no callback is registered, it is below warn (warn and error events go
    through dbt's warn-error handling), it is not one of dbt's print events, and every logger
    writes through a Python logger that is not enabled for its level."""
    try:
        from dbt_common.events import logger as dbt_logger
        from dbt_common.events.event_manager import EventManager
    except ImportError:
        return
    fire_event = EventManager.__dict__.get("fire_event")
    print_events = getattr(dbt_logger, "PRINT_EVENT_NAMES", None)
    if fire_event is None or print_events is None or getattr(fire_event, "numlake", False):
        return
    numbers = {"test": 10, "debug": 10, "info": 20}

    def fire_written_event(self, e, level=None, node=None, force_warn_or_error_handling=False):
        if not self.callbacks and not force_warn_or_error_handling and type(e).__name__ not in print_events:
            number = numbers.get(getattr(level or e.level_tag(), "value", ""))
            if number is not None and all(
                (python_logger := getattr(logger, "_python_logger", None)) is not None
                and not python_logger.isEnabledFor(number)
                for logger in self.loggers
            ):
                return None
        return fire_event(self, e, level, node, force_warn_or_error_handling)

    fire_written_event.numlake = True
    EventManager.fire_event = fire_written_event


def warehouse_checkpointed(engine: str) -> None:
    """Checkpoint the DuckDB warehouse (NUMLAKE_WAREHOUSE) while the warm process waits for its
    command, i.e. while the run ingests the lake and nothing reads or writes the warehouse.

    A daily build leaves ~4-12 MB of write-ahead log behind (dbt's connection is never closed
    with a checkpoint), and DuckDB checkpoints by itself once the log passes 16 MB: in nearly every
    daily build, somewhere in the middle of it, where the checkpoint (~1 s of writing) holds up
    every other thread's commit (three models took 3 s instead of a fraction in one measured
    build). Checkpointed here, before the build, the build starts from an empty log. A warehouse
    that is not there yet, or that another process holds (dbt would then fail on it as before),
    is left alone."""
    path = os.environ.get("NUMLAKE_WAREHOUSE")
    if engine != "duckdb" or not path or not os.path.exists(f"{path}.wal"):
        return
    try:
        import duckdb

        con = duckdb.connect(path, config={"threads": 1})
    except Exception:  # held by another process, or not a DuckDB file: dbt reports it
        return
    try:
        con.execute("checkpoint")
    except Exception:
        pass
    finally:
        con.close()


def templates_made_ahead(manifest) -> None:
    """Make the template of every macro of `manifest` now, while the run ingests, as dbt would on
    a macro's first call in the build (`template_cache`, keyed by the macro's source). With the
    code kept (`compiled_templates_kept`) this costs ~0.2 s of the other core instead of the
    build's time, and every macro's code is kept: the incremental materializations a build after
    a full refresh calls for the first time too. A macro that does not compile is left to fail
    where the build calls it, as before."""
    try:
        from dbt_common.clients.jinja import template_cache
    except ImportError:
        return
    for macro in list(getattr(manifest, "macros", {}).values()):
        try:
            template_cache.get_node_template(macro)
        except Exception:
            continue


def schemas_made_ahead(adapter_module: str | None) -> None:
    """Build now, while the run ingests, the JSON schemas dbt checks its configuration against at
    the start of every invocation (`dbtClassMixin.json_schema`, cached per class): the project
    (`Configuration`, `Project`), its flags and packages, the profile and the adapter's
    credentials. A class an upgrade renamed is skipped; the invocation then builds what it needs."""
    import importlib

    classes = []
    with contextlib.suppress(ImportError):
        contracts = importlib.import_module("dbt.contracts.project")
        names = ("Configuration", "Project", "ProjectFlags", "PackageConfig", "ProfileConfig")
        classes += [getattr(contracts, name, None) for name in names]
    if adapter_module:
        with contextlib.suppress(ImportError, AttributeError):
            classes.append(importlib.import_module(adapter_module).Plugin.credentials)
    for cls in classes:
        try:
            cls.json_schema()
        except Exception:  # not a dbt contract class any more: nothing to build ahead
            continue
