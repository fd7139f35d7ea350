"""Benchmark of the check service: `python -m benchmarks.check --numbers 10000000`.

Builds a synthetic warehouse (realistic tenure histories: 1-3 tenures per number, gaps,
implicit ends, most numbers still held, sources onboarded after the first activation),
publishes it as a snapshot with the production code (`snapshot.publish`: in full, then
`--publish-days` more days incrementally beside a full publish of each, benchmarks/check_publish.py),
then measures:

- in-process single lookups (`CheckIndex.answer_one`): p50, p99 over a mix of number
  shapes, hashes and unknown numbers;
- HTTP GET /v1/reassigned on a `numlake serve` process bound to 127.0.0.1 at a few client
  concurrency levels (a bounded number of requests each): p50, p99, requests/s;
- bulk: 1M rows through `numlake check --file IN --out OUT` end to end (a fresh process:
  start, load the snapshot, read, answer, write), and one 250,000-item POST /v1/reassigned/bulk.

Prints a Markdown table (also written to <home>/bench.md; `--json PATH` writes the figures
flat). Everything stays under --home (default: a fresh folder in the system temp dir,
removed at the end; ~2 GB for 10M numbers); the server only listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import check_publish
from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.msisdn import sha256_hex
from numlake.paths import Home
from tests.support.check_warehouse import BASE, STRIDE

CLI = (
    "import sys; from numlake import cli; cli.COMMAND_MODULES = ('numlake.check.command',); "
    "sys.exit(cli.main(sys.argv[1:]))"
)


def sample_queries(numbers: int, count: int, seed: int = 11) -> list[tuple[str, str]]:
    """A mix: 45 % plain known numbers, 15 % other shapes, 20 % hashes, 20 % unknown numbers."""
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        n = str(BASE + rnd.randrange(numbers) * STRIDE)
        r = rnd.random()
        if r < 0.45:
            q = n
        elif r < 0.60:
            q = rnd.choice([f"+86{n}", f"{n[:3]}-{n[3:7]}-{n[7:]}", f"+86 {n[:3]} {n[3:7]} {n[7:]}"])
        elif r < 0.80:
            q = sha256_hex(n)
        else:
            q = str(BASE + rnd.randrange(numbers) * STRIDE + 1 + rnd.randrange(STRIDE - 1))
        since = f"{rnd.randrange(2012, 2026)}-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}"
        out.append((q, since))
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_in_process(home: Home, numbers: int, lookups: int) -> dict:
    t = time.perf_counter()
    index = snapshot.load_index(home)
    load_s = time.perf_counter() - t
    qs = sample_queries(numbers, lookups)
    times = []
    for q, s in qs:
        t = time.perf_counter()
        index.answer_one(q, s)
        times.append(time.perf_counter() - t)
    return {"load_s": load_s, "p50_us": pct(times, 50) * 1e6, "p99_us": pct(times, 99) * 1e6, "lookups": lookups}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Home, port: int) -> subprocess.Popen:
    code = (
        "import sys; from numlake.check.server import serve; from numlake.paths import Home; "
        f"sys.exit(serve(Home.resolve(sys.argv[1]), '127.0.0.1', {port}, rate=0, burst=1, reload_interval=1.0))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(home.root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import httpx

    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError("the benchmark server exited")
    proc.terminate()
    raise RuntimeError("the benchmark server did not start")


def bench_http(port: int, token: str, numbers: int, concurrency: int, requests: int) -> dict:
    import httpx

    qs = sample_queries(numbers, requests, seed=concurrency)
    per_thread = [qs[i::concurrency] for i in range(concurrency)]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(chunk):
        mine = []
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as c:
            for q, s in chunk:
                t = time.perf_counter()
                r = c.get("/v1/reassigned", params={"msisdn": q, "since": s})
                mine.append(time.perf_counter() - t)
                if r.status_code != 200:
                    with lock:
                        errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in per_thread]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    return {
        "concurrency": concurrency,
        "requests": requests,
        "p50_ms": pct(latencies, 50) * 1e3,
        "p99_ms": pct(latencies, 99) * 1e3,
        "rps": requests / wall,
        "errors": errors[0],
    }


def bench_http_bulk(port: int, token: str, numbers: int, items: int) -> dict:
    import httpx

    body = {"items": [{"msisdn": q, "since": s} for q, s in sample_queries(numbers, items, seed=5)]}
    payload = json.dumps(body).encode()
    t = time.perf_counter()
    r = httpx.post(
        f"http://127.0.0.1:{port}/v1/reassigned/bulk",
        content=payload,
        timeout=300,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    wall = time.perf_counter() - t
    assert r.status_code == 200 and r.json()["count"] == items, r.text[:200]
    return {"items": items, "seconds": wall}


def bench_bulk_file(home: Home, numbers: int, rows: int, work: Path) -> dict:
    src, out = work / "bulk_in.csv", work / "bulk_out.csv"
    with open(src, "w") as f:
        f.write("msisdn,since\n")
        f.writelines(f"{q},{s}\n" for q, s in sample_queries(numbers, rows, seed=3))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CLI, "check", "--file", str(src), "--out", str(out), "--home", str(home.root)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out) as f:
        lines = sum(1 for _ in f) - 1
    assert lines == rows, (lines, rows)
    return {"rows": rows, "seconds": wall, "cpu_seconds": cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.check", description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=10_000_000)
    ap.add_argument("--home", help="work folder (default: a new temp folder)")
    ap.add_argument("--lookups", type=int, default=50_000, help="in-process single lookups")
    ap.add_argument("--http-requests", type=int, default=3000, help="requests per concurrency level")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--bulk-rows", type=int, default=1_000_000)
    ap.add_argument("--http-bulk-items", type=int, default=250_000)
    ap.add_argument("--publish-days", type=int, default=2, help="days published incrementally and in full")
    ap.add_argument("--reuse", action="store_true", help="reuse the warehouse and snapshot in --home")
    ap.add_argument("--json", metavar="PATH", help="also write the figures, flat, as JSON here")
    args = ap.parse_args(argv)

    temporary = args.home is None
    home = Home.resolve(args.home or tempfile.mkdtemp(prefix="numlake-check-bench-"))
    try:
        return run(args, home)
    finally:
        if temporary:
            shutil.rmtree(home.root, ignore_errors=True)


def flat(results: dict) -> dict:
    """The figures as one flat dict (what `make bench` records)."""
    out = {"numbers": results["numbers"]}
    if "publish" in results:
        out["publish_s"] = results["publish"]["seconds"]
        out["snapshot_mib"] = results["publish"]["bytes"] / 2**20
    ip = results["in_process"]
    out.update(load_s=ip["load_s"], lookup_p50_us=ip["p50_us"], lookup_p99_us=ip["p99_us"])
    for h in results.get("http", []):
        c = h["concurrency"]
        out.update({f"http_c{c}_p50_ms": h["p50_ms"], f"http_c{c}_p99_ms": h["p99_ms"], f"http_c{c}_rps": h["rps"]})
    if "http_bulk" in results:
        out.update(http_bulk_items=results["http_bulk"]["items"], http_bulk_s=results["http_bulk"]["seconds"])
    if "bulk_file" in results:
        out.update(
            bulk_file_rows=results["bulk_file"]["rows"],
            bulk_file_s=results["bulk_file"]["seconds"],
            bulk_file_cpu_s=results["bulk_file"]["cpu_seconds"],
        )
    if "publish_days" in results:
        out.update(check_publish.flat(results["publish_days"]))
    out.update(load_before=results["load_before"], load_after=results["load_after"])
    return out


def run(args, home: Home) -> int:
    home.root.mkdir(parents=True, exist_ok=True)
    results: dict = {"numbers": args.numbers, "cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    if not (args.reuse and snapshot.current_stamp(home)):
        if home.warehouse.exists():
            home.warehouse.unlink()
        # the warehouse, its first full publish, then days published incrementally and in full side by
        # side (issue 17 item 4); what follows is measured on the last, layered, snapshot
        pub = check_publish.bench(home, args.numbers, args.publish_days, verify=False, log=log)
        results["warehouse"] = pub["warehouse"]
        results["publish"] = {"seconds": pub["first_full"]["seconds"], "bytes": pub["first_full"]["mib"] * 2**20}
        results["publish_days"] = pub
    results["in_process"] = bench_in_process(home, args.numbers, args.lookups)
    log(f"in-process: {results['in_process']}")

    _, token = KeyStore(home).create("BENCH")
    port = _free_port()
    t = time.perf_counter()
    proc = start_server(home, port)
    results["server_start_s"] = time.perf_counter() - t
    try:
        results["http"] = []
        for c in (int(x) for x in args.concurrency.split(",")):
            results["http"].append(bench_http(port, token, args.numbers, c, args.http_requests))
            log(f"http: {results['http'][-1]}")
        if args.http_bulk_items:
            results["http_bulk"] = bench_http_bulk(port, token, args.numbers, args.http_bulk_items)
            log(f"http bulk: {results['http_bulk']}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if args.bulk_rows:
        results["bulk_file"] = bench_bulk_file(home, args.numbers, args.bulk_rows, home.root)
        log(f"bulk file: {results['bulk_file']}")

    results["load_after"] = os.getloadavg()[0]
    md = render(results)
    (home.root / "bench.md").write_text(md)
    (home.root / "bench.json").write_text(json.dumps(results, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(flat(results), indent=1))
    print(md)
    return 0


def render(r: dict) -> str:
    lines = [
        f"Check service benchmark: {r['numbers']:,} numbers, {r['cpus']} CPUs "
        f"(`python -m benchmarks.check --numbers {r['numbers']}`)",
        "",
        "| measure | figure |",
        "|---|---|",
    ]
    if "warehouse" in r:
        w = r["warehouse"]
        lines.append(
            f"| synthetic warehouse | {w['numbers']:,} numbers, {w['tenures']:,} tenures, {w['seconds']:.1f} s |"
        )
        lines.append(
            f"| snapshot publish (warehouse -> index.parquet) | {r['publish']['seconds']:.1f} s, "
            f"{r['publish']['bytes'] / 2**20:.0f} MiB |"
        )
    ip = r["in_process"]
    lines.append(f"| load snapshot into memory | {ip['load_s']:.2f} s |")
    lines.append(
        f"| in-process single lookup ({ip['lookups']:,}) | p50 {ip['p50_us']:.1f} µs, p99 {ip['p99_us']:.1f} µs |"
    )
    lines.append(f"| server start to first /health | {r['server_start_s']:.1f} s |")
    for h in r.get("http", []):
        lines.append(
            f"| HTTP GET, concurrency {h['concurrency']} ({h['requests']:,} requests) | p50 {h['p50_ms']:.2f} ms, "
            f"p99 {h['p99_ms']:.2f} ms, {h['rps']:,.0f} req/s, {h['errors']} errors |"
        )
    if "http_bulk" in r:
        lines.append(f"| HTTP bulk POST, {r['http_bulk']['items']:,} items | {r['http_bulk']['seconds']:.2f} s |")
    if "bulk_file" in r:
        lines.append(
            f"| `numlake check --file` {r['bulk_file']['rows']:,} rows CSV, end to end | "
            f"{r['bulk_file']['seconds']:.2f} s wall, {r['bulk_file']['cpu_seconds']:.2f} s CPU |"
        )
    lines.append(f"| machine load average (1 min) before / after | {r['load_before']:.1f} / {r['load_after']:.1f} |")
    if "publish_days" in r:
        lines += ["", check_publish.render(r["publish_days"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
