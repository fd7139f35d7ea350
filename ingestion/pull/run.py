"""`pull()`: fetch every pull source of the registry (or the chosen ones), each failing alone.

Sources are fetched at once up to `PullOptions.connections` connections; a source whose
attempt fails for a passing reason (unreachable, timeout, transfer_interrupted) is tried
again within the same pull after a doubling back-off, and every attempt is a row of the
pull ledger. A source is fetched under its lock (`ingestion.pull.ledger.SourceLock`), so two
pulls at once take turns per source and the second finds nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.pull.config import PullEntry, load_pull_entries
from ingestion.pull.fetch import Attempt, Context, Hooks, PullOptions, attempt, remove_leftovers, use_disk_threads
from ingestion.pull.ledger import (
    FetchedState,
    SourceLock,
    append_attempt,
    clear_open,
    mark_open,
    now_cst,
    pull_dir,
    record_registered,
    take_orphan,
)
from ingestion.pull.remote import SharedConnections, encodable
from ingestion.pull.transport import import_asyncssh, skip_disabled_debug_logs
from numlake.errors import UsageError
from numlake.msisdn import mask_text, masked_logger
from numlake.paths import Home

log = masked_logger("numlake.pull")
ENV_PREFIX = "NUMLAKE_PULL_"


def options_from_env(**overrides) -> PullOptions:
    """Defaults, then `NUMLAKE_PULL_<FIELD>` variables (e.g. NUMLAKE_PULL_CONNECTIONS=8), then `overrides`."""
    values = {}
    for f in dataclasses.fields(PullOptions):
        raw = os.environ.get(ENV_PREFIX + f.name.upper())
        if raw is None:
            continue
        try:
            values[f.name] = type(f.default)(raw)
        except ValueError:
            raise UsageError(f"{ENV_PREFIX}{f.name.upper()} must be a number, got {raw!r}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    opts = PullOptions(**values)
    if opts.connections < 1 or opts.files_per_connection < 1 or opts.chunk_bytes < 1:
        raise UsageError("pull: connections, files_per_connection and chunk_bytes must be at least 1")
    if opts.processes < 0 or opts.disk_threads < 0:
        raise UsageError("pull: processes and disk_threads cannot be negative")
    waits = (opts.connect_timeout, opts.io_timeout, opts.backoff_s, opts.lock_wait_s)
    if opts.retries < 0 or not all(math.isfinite(w) and w >= 0 for w in waits):
        raise UsageError("pull: retries, timeouts and waits must be finite and not negative")
    return opts


@dataclass
class PullReport:
    """Every attempt of every source of one pull; the last attempt is the source's result."""

    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def final(self) -> dict[str, Attempt]:
        return {s: a[-1] for s, a in self.attempts.items()}

    @property
    def failed(self) -> dict[str, Attempt]:
        return {s: a for s, a in self.final.items() if a.outcome != "ok"}

    @property
    def files(self) -> int:
        return sum(a.files for tries in self.attempts.values() for a in tries)

    @property
    def bytes(self) -> int:
        return sum(a.bytes for tries in self.attempts.values() for a in tries)

    @property
    def sources_with_new_files(self) -> list[str]:
        return sorted(s for s, tries in self.attempts.items() if any(a.files for a in tries))

    def line(self) -> str:
        n = len(self.attempts)
        bad = f", {len(self.failed)} failed" if self.failed else ""
        return (
            f"numlake pull: {n} source{'s' if n != 1 else ''}{bad}; {self.files:,} files, "
            f"{self.bytes / 1e6:,.1f} MB fetched in {self.seconds:.1f}s"
        )


def _recorded_failure(entry: PullEntry, ctx: Context, reason: str, detail: str) -> Attempt:
    """A failed attempt that never reached the server, recorded in the pull ledger (when the ledger
    itself can be written: the attempt is reported either way)."""
    a = Attempt(entry.source_id, entry.url, now_cst(), outcome="failed", reason=reason, detail=detail)
    with contextlib.suppress(Exception):
        append_attempt(ctx.home, a.row(ctx.run_id))
    return a


async def _pull_source(entry: PullEntry, ctx: Context, slots: asyncio.Semaphore) -> list[Attempt]:
    lock = SourceLock(ctx.home, entry.source_id)
    deadline = time.monotonic() + ctx.options.lock_wait_s
    while not lock.try_acquire():
        if time.monotonic() >= deadline:
            held = f"another pull of {entry.source_id} held its lock for {ctx.options.lock_wait_s:g}s"
            return [_recorded_failure(entry, ctx, "timeout", held)]
        await asyncio.sleep(0.2)
    attempts: list[Attempt] = []
    try:
        if (orphan := take_orphan(ctx.home, entry.source_id)) is not None:
            append_attempt(ctx.home, orphan)
        remove_leftovers(ctx.landing / entry.source_id)
        state = FetchedState(ctx.home, entry.source_id)
        for try_no in range(1, ctx.options.retries + 2):
            async with slots:
                note = {"started_at": now_cst(), "run_id": ctx.run_id, "try": try_no, "url": entry.url}
                mark_open(ctx.home, entry.source_id, note)
                a = await attempt(entry, state, ctx, try_no)
            state.save()
            append_attempt(ctx.home, a.row(ctx.run_id))
            clear_open(ctx.home, entry.source_id)
            attempts.append(a)
            if a.outcome == "ok":
                log.info("pull %s: %d files, %d bytes in %.1fs", entry.source_id, a.files, a.bytes, a.duration_s)
                break
            log.info("pull %s: try %d failed: %s (%s)", entry.source_id, try_no, a.reason, a.detail)
            if not a.retryable or try_no > ctx.options.retries:
                break
            await asyncio.sleep(ctx.options.backoff_s * 2 ** (try_no - 1))
    except Exception as e:  # a local fault (the landing folder, the state file) fails this source alone
        detail = f"local error: {type(e).__name__}: {mask_text(encodable(str(e)))[:200]}"
        log.warning("pull %s: %s", entry.source_id, detail)
        attempts.append(_recorded_failure(entry, ctx, "transfer_interrupted", detail))
        with contextlib.suppress(Exception):
            clear_open(ctx.home, entry.source_id)  # this line records the attempt
    finally:
        lock.release()
    return attempts


async def _pull_all(entries: list[PullEntry], ctx: Context) -> dict[str, list[Attempt]]:
    use_disk_threads(ctx.options)
    ctx = dataclasses.replace(ctx, connections=SharedConnections())
    slots = asyncio.Semaphore(ctx.options.connections)
    try:
        results = await asyncio.gather(*(_pull_source(e, ctx, slots) for e in entries))
    finally:
        await ctx.connections.close()
    return {e.source_id: r for e, r in zip(entries, results)}


def processes_for(entries: list[PullEntry], ctx: Context) -> int:
    """How many processes share the sources (`processes`, or by default: one per connection when
    a source was never fetched, one per core otherwise), at most one per source.

    A first fetch is thousands of files: on shared cores a process gets a share of the CPU, and
    one or two processes ran at a quarter of the speed of eight `sftp` clients while using less
    CPU than they did (BENCHMARKS.md), so it gets one process per connection, as OpenSSH's
    client runs one per transfer. A routine pull is mostly listings: fewer processes share more
    SSH connections (fewer handshakes). A pull stays in one process when the caller runs other
    threads (a fork copies only the calling thread, and a lock another thread held would never
    be released in the copy) and when test hooks are set (they live in this process)."""
    wanted = ctx.options.processes
    if not wanted:
        states = pull_dir(ctx.home) / "state"
        first = any(not (states / f"{e.source_id}.json").is_file() for e in entries)
        wanted = ctx.options.connections if first else os.cpu_count() or 1
    n = min(wanted, len(entries), ctx.options.connections)
    if n <= 1 or ctx.hooks.on_chunk or threading.active_count() > 1 or not hasattr(os, "fork"):
        return 1
    return n


def _pull_forked(entries: list[PullEntry], ctx: Context, n: int) -> dict[str, list[Attempt]]:
    """Sources spread over `n` forked processes, each with its own event loop and its share of
    the connections; a process takes the next source when it has a free connection.

    A pull's work is a third Python (the SSH and SFTP packets) and much of the rest the kernel
    creating files: one process uses one core, and with other work on the machine it gets one
    process's share of the CPU."""
    import multiprocessing

    mp = multiprocessing.get_context("fork")
    next_index = mp.Value("i", 0)
    per_process = max(1, ctx.options.connections // n)
    workers = []
    for _ in range(n):
        receive, send = mp.Pipe(duplex=False)
        proc = mp.Process(target=_worker, args=(entries, ctx, per_process, next_index, send), daemon=True)
        proc.start()
        send.close()
        workers.append((proc, receive))
    done: dict[str, list[Attempt]] = {}
    dead = []
    for proc, receive in workers:
        try:
            done.update(receive.recv())
        except EOFError:
            dead.append(proc)
        proc.join()
    # a process that died (killed, out of memory) took its sources' reports with it: those sources
    # failed, alone (INTERCHANGE 5); what they fetched is whole in the landing area or not there,
    # and the next pull resumes them. The other processes' sources keep their results.
    for e in entries:
        if e.source_id not in done:
            codes = ", ".join(str(p.exitcode) for p in dead) or "none died"
            why = f"the pull process fetching it ended without its report (exit code {codes}); the next pull resumes"
            lock = SourceLock(ctx.home, e.source_id)
            if lock.try_acquire():  # the dead process's note of its attempt is this line: no second one later
                try:
                    clear_open(ctx.home, e.source_id)
                finally:
                    lock.release()
            done[e.source_id] = [_recorded_failure(e, ctx, "transfer_interrupted", why)]
    return {e.source_id: done[e.source_id] for e in entries}


def _worker(entries: list[PullEntry], ctx: Context, connections: int, next_index, send) -> None:
    ctx = dataclasses.replace(ctx, options=dataclasses.replace(ctx.options, connections=connections))

    def take() -> PullEntry | None:
        with next_index.get_lock():
            i = next_index.value
            next_index.value = i + 1
        return entries[i] if i < len(entries) else None

    async def lane(slots: asyncio.Semaphore, out: dict[str, list[Attempt]]) -> None:
        while (entry := take()) is not None:
            out[entry.source_id] = await _pull_source(entry, ctx, slots)

    async def main() -> dict[str, list[Attempt]]:
        nonlocal ctx
        use_disk_threads(ctx.options)
        ctx = dataclasses.replace(ctx, connections=SharedConnections())
        slots, out = asyncio.Semaphore(connections), {}
        try:
            await asyncio.gather(*(lane(slots, out) for _ in range(connections)))
        finally:
            await ctx.connections.close()
        return out

    send.send(asyncio.run(main()))
    send.close()


def pull(
    home: Home,
    registry: Path,
    landing: Path,
    sources: list[str] | None = None,
    options: PullOptions | None = None,
    hooks: Hooks | None = None,
    run_id: str | None = None,
    skip_unregistered: bool = False,
) -> PullReport:
    """Fetch the pull sources of `registry` (all, or `sources`) into `landing`; see the module docstring.

    `sources` may name sources without a pull entry (a run limited to uploading sources):
    they are skipped. An id that is in no registry entry is a UsageError (`numlake pull --source`),
    unless `skip_unregistered`: a pipeline run's selection may name an unregistered landing
    folder, which ingestion refuses as `unknown_source`; there is nothing to fetch for it.
    """
    entries = load_pull_entries(registry)
    record_registered(home, list(entries))  # the status pages leave out sources no longer pulled
    if sources:
        from ingestion.registry import load_registry

        known = load_registry(registry)
        unknown = [s for s in sources if s not in known]
        if unknown and not skip_unregistered:
            raise UsageError(f"pull: source {unknown[0]} is not in the registry {registry}")
        entries = {s: e for s, e in entries.items() if s in set(sources)}
    ctx = Context(home, Path(landing), options or options_from_env(), hooks or Hooks(), run_id)
    t0 = time.monotonic()
    report = PullReport()
    if entries:  # asyncssh is imported only for servers to fetch from (0.07 s of every run else)
        import_asyncssh()  # once, before any fork: a forked process finds it imported
        skip_disabled_debug_logs()
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        todo = list(entries.values())
        n = processes_for(todo, ctx)
        report.attempts = asyncio.run(_pull_all(todo, ctx)) if n == 1 else _pull_forked(todo, ctx, n)
    report.seconds = time.monotonic() - t0
    return report
