"""Throughput of `numlake serve` (issue 17 item 3): `python -m benchmarks.check_load --numbers 10000000`.

One run measures several server configurations side by side on the same snapshot, each a fresh
`numlake serve` process, loaded from a separate process on loopback by wrk (Debian's `wrk`; without
it one line says so and nothing is measured) at 1, 16 and 64 connections. Keys, the rate limiter
(set high: 10^9 requests/s) and the audit log are on in every configuration. Configurations:

- `before`: the server as it was before this work (commit BEFORE, run from a `git archive` of it);
- `baseline`: 1 worker, asyncio's event loop, one audit write per request, no fast path;
- `uvloop`: the same on uvloop;
- `batched audit`: uvloop and the audit group commit;
- `fast path`: and plain single GETs answered without FastAPI's dependency tree (api/fastpath.py);
- `N workers`: all of it with N worker processes sharing the memory-mapped snapshot.

Every configuration but `before` has orjson answers and the scalar path of one number.

GETs cycle through 4,000 queries (45 % plain known numbers, 15 % other shapes, 20 % hashes, 20 %
unknown numbers), so every request does the work of a real one. The machine's load average is
recorded before and after each configuration: the two cores are shared with other work.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from benchmarks.check import _free_port, sample_queries
from numlake.check import snapshot
from numlake.check.keys import KeyStore
from numlake.paths import Home
from tests.support.check_warehouse import build_synthetic_warehouse

BEFORE = "f3541ff"  # the code before issue 17 item 3 (the server is run from `git archive` of this commit)
CONFIGS = {
    "before": {"workers": 1, "commit": BEFORE},
    "baseline": {"workers": 1, "loop": "asyncio", "audit_batch": False, "fast_path": False},
    "uvloop": {"workers": 1, "loop": "uvloop", "audit_batch": False, "fast_path": False},
    "batched audit": {"workers": 1, "loop": "uvloop", "audit_batch": True, "fast_path": False},
    "fast path": {"workers": 1, "loop": "uvloop", "audit_batch": True, "fast_path": True},
    "2 workers": {"workers": 2, "loop": "uvloop", "audit_batch": True, "fast_path": True},
    "4 workers": {"workers": 4, "loop": "uvloop", "audit_batch": True, "fast_path": True},
}
LUA = """
local paths = {%s}
local auth = "Bearer %s"
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1], {["Authorization"] = auth})
end
"""


def _old_tree(commit: str, work: Path) -> Path:
    """The `numlake` package as of `commit`, exported (the working tree is left alone)."""
    tree = work / f"numlake-{commit}"
    if not tree.exists():
        root = Path(__file__).resolve().parent.parent
        tmp = work / f".numlake-{commit}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", commit, "numlake"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
        tmp.rename(tree)
    return tree


def start(home: Home, cfg: dict, log: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env, cwd = dict(os.environ), None
    common = f"Home.resolve(sys.argv[1]), '127.0.0.1', {port}, rate=1e9, burst=10**9, reload_interval=1.0"
    if "commit" in cfg:
        # `python -c` puts the working directory first on sys.path: run in the old tree, not the checkout
        cwd = env["PYTHONPATH"] = str(_old_tree(cfg["commit"], home.root))
        call = f"serve({common})"
    else:
        call = (
            f"serve({common}, workers={cfg['workers']}, loop={cfg['loop']!r}, audit_batch={cfg['audit_batch']}, "
            f"fast_path={cfg['fast_path']})"
        )
    code = f"import sys; from numlake.check.server import serve; from numlake.paths import Home; sys.exit({call})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(home.root)], stdout=open(log, "ab"), stderr=subprocess.STDOUT,
        start_new_session=True, env=env, cwd=cwd,
    )  # fmt: skip
    import httpx

    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the benchmark server exited: see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the benchmark server did not start")


def stop(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its descendants, from /proc: the
    server's cost per request, which depends much less on the neighbours' load than its rate."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def _ms(text: str) -> float:
    m = re.match(r"([0-9.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNIT[m.group(2)]


def wrk(port: int, script: Path, connections: int, seconds: float) -> dict:
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout",
         "10s", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "connections": connections,
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def write_script(home: Home, numbers: int, token: str) -> Path:
    paths = [
        "/v1/reassigned?" + urlencode({"msisdn": q, "since": s}) for q, s in sample_queries(numbers, 4000, seed=17)
    ]
    script = home.root / "load.lua"
    script.write_text(LUA % (",".join(json.dumps(p) for p in paths), token))
    return script


def run(args, home: Home) -> dict:
    if not (args.reuse and snapshot.current_stamp(home)):
        build_synthetic_warehouse(home, args.numbers)
        snapshot.publish(home)
    _, token = KeyStore(home).create("LOAD")
    script = write_script(home, args.numbers, token)
    results = {"numbers": args.numbers, "cpus": os.cpu_count(), "seconds": args.seconds, "configs": {}}
    names = [n.strip() for n in args.configs.split(",")]
    for name in names:
        cfg = CONFIGS[name]
        proc, port = start(home, cfg, home.root / "serve.log")
        try:
            wrk(port, script, 16, 2)  # warm-up: pages of the snapshot, imports, connections
            entry = {"config": cfg, "load_before": os.getloadavg()[0], "points": []}
            for c in (int(x) for x in args.connections.split(",")):
                cpu = tree_cpu_s(proc.pid)
                point = wrk(port, script, c, args.seconds)
                point["server_cpu_us"] = (tree_cpu_s(proc.pid) - cpu) / max(1, point["requests"]) * 1e6
                entry["points"].append(point)
                print(f"{name}: {entry['points'][-1]}", file=sys.stderr, flush=True)
            entry["load_after"] = os.getloadavg()[0]
        finally:
            stop(proc)
        results["configs"][name] = entry
    results["audit_lines"] = sum(1 for _ in open(home.root / "check" / "audit.jsonl", "rb"))
    return results


def flat(r: dict) -> dict:
    out = {"numbers": r["numbers"]}
    base = r["configs"].get("before") or r["configs"].get("baseline")
    for name, e in r["configs"].items():
        tag = name.replace(" ", "_")
        for p in e["points"]:
            c = p["connections"]
            for k in ("rps", "p50_ms", "p99_ms", "server_cpu_us"):
                out[f"{tag}_c{c}_{k}"] = p[k]
            if base:
                b = next((q for q in base["points"] if q["connections"] == c), None)
                if b:
                    out[f"{tag}_c{c}_vs_before"] = p["rps"] / b["rps"]
        out[f"{tag}_load"] = (e["load_before"], e["load_after"])
    return out


def render(r: dict) -> str:
    points = next(iter(r["configs"].values()))["points"]
    lines = [
        f"Check API throughput: {r['numbers']:,} numbers, {r['cpus']} CPUs, wrk {r['seconds']:g} s per point "
        "(`python -m benchmarks.check_load`); keys, rate limit (10^9/s) and audit on",
        "",
        "| configuration | load before/after | "
        + " | ".join(f"{p['connections']} conn.: req/s (x before), p50 / p99, server CPU per request" for p in points)
        + " |",
        "|---|---|" + "---|" * len(points),
    ]  # fmt: skip
    base = r["configs"].get("before") or r["configs"].get("baseline")
    for name, e in r["configs"].items():
        cells = []
        for p in e["points"]:
            b = next((q for q in base["points"] if q["connections"] == p["connections"]), None) if base else None
            ratio = f" ({p['rps'] / b['rps']:.2f}x)" if b else ""
            bad = f", {p['non_2xx']} non-2xx" if p["non_2xx"] else ""
            cpu = f", {p['server_cpu_us']:.0f} µs CPU" if "server_cpu_us" in p else ""
            cells.append(f"{p['rps']:,.0f}{ratio}, {p['p50_ms']:.2f} / {p['p99_ms']:.2f} ms{cpu}{bad}")
        lines.append(f"| {name} | {e['load_before']:.1f} / {e['load_after']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.check_load", description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=10_000_000)
    ap.add_argument("--home", help="work folder (default: a new temp folder, removed at the end)")
    ap.add_argument("--reuse", action="store_true", help="reuse the snapshot in --home")
    ap.add_argument("--seconds", type=float, default=8.0, help="wrk duration per point")
    ap.add_argument("--connections", default="1,16,64")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--json", metavar="PATH", help="also write the figures, flat, as JSON here")
    args = ap.parse_args(argv)
    if not shutil.which("wrk"):
        print("check_load: wrk is not installed (apt-get install wrk): nothing measured", file=sys.stderr)
        return 0
    temporary = args.home is None
    home = Home.resolve(args.home or tempfile.mkdtemp(prefix="numlake-check-load-"))
    home.root.mkdir(parents=True, exist_ok=True)
    try:
        results = run(args, home)
    finally:
        if temporary:
            shutil.rmtree(home.root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(flat(results), indent=1))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
