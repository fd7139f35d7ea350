"""Pull mode over SFTP on loopback against OpenSSH's own client, side by side (BENCHMARKS.md).

    python -m benchmarks.pull --landing WORLD/landing --registry WORLD/registry.yaml [--sources 20]

Takes the first `--sources` carriers of a simulated landing area (every delivery of every
day), hard-links them into one remote tree per source, serves them from a real sshd on
127.0.0.1 (ingestion.pull.sshd), then measures, each in its own process:

- `numlake pull` from an empty landing area (the platform's fetch, with its default options);
- `numlake pull` again with nothing new on the server (listing and comparing only);
- OpenSSH's `sftp -b` fetching the same trees (`get -r`, the same number of connections at
  once as the pull uses), the machine's limit for this job;

and prints files, bytes, seconds and the ratio limit / pull (1.0 = as fast as OpenSSH), per pair
and of the medians.
`benchmarks/run.py` calls it on the benchmark world (`make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


def _link(src: Path, dst: Path) -> tuple[int, int]:
    files = size = 0
    for p in src.rglob("*"):
        if p.is_file():
            q = dst / p.relative_to(src)
            q.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, q)
            files += 1
            size += p.stat().st_size
    return files, size


def _server_cpu(server) -> float:
    """CPU seconds of the sshd's finished sessions (the listener reaps them: its cutime + cstime)."""
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


class _Cpu:
    """CPU seconds spent by the client (our children) and by the server during a `with` block."""

    def __init__(self, server, into: dict, side: str):
        self.server, self.into, self.side = server, into, side

    def __enter__(self) -> None:
        self.c0, self.s0 = _children_cpu(), _server_cpu(self.server)

    def __exit__(self, *exc) -> None:
        time.sleep(0.2)  # let the listener reap the last sessions
        user, system = (b - a for a, b in zip(self.c0, _children_cpu()))
        self.into.setdefault(f"{self.side}_client_cpu_s", []).append(round(user + system, 2))
        self.into.setdefault(f"{self.side}_client_sys_s", []).append(round(system, 2))
        self.into.setdefault(f"{self.side}_server_cpu_s", []).append(round(_server_cpu(self.server) - self.s0, 2))
        self.into.setdefault("load_avg_1min", []).append(round(os.getloadavg()[0], 1))


def _timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(cmd[:3])}: {proc.stderr[-2000:]}")
    return secs, proc.stderr


def _sftp_all(server, key: Path, remote: Path, dest: Path, ids: list[str], parallel: int) -> float:
    known = dest.parent / "known_hosts"
    known.write_text(f"[127.0.0.1]:{server.port} {server.host_key}\n")
    dest.mkdir(parents=True, exist_ok=True)

    def one(sid: str) -> None:
        batch = dest.parent / f"batch-{sid}"
        batch.write_text(f"get -r {remote / sid} {dest / sid}\n")
        subprocess.run(
            [
                "sftp",
                "-q",
                "-b",
                str(batch),
                "-i",
                str(key),
                "-P",
                str(server.port),
                "-o",
                f"UserKnownHostsFile={known}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                f"{server.user}@127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, ids))
    return time.perf_counter() - t0


def bench(landing: Path, registry: Path, n_sources: int, out: Path, repeat: int = 3) -> dict:
    from ingestion.pull.fetch import PullOptions
    from ingestion.pull.sshd import generate_keypair, prepare
    from numlake.simulate.pull import CREDENTIAL, pull_entry_lines

    if shutil.which("sftp") is None:
        raise SystemExit("benchmark needs OpenSSH's sftp client (Debian openssh-client)")
    data = yaml.safe_load(registry.read_text(encoding="utf-8"))
    ids = [s["id"] for s in data["sources"] if s["kind"] == "carrier" and (landing / s["id"]).is_dir()][:n_sources]
    base = Path(tempfile.mkdtemp(prefix="numlake-pull-bench-", dir=out))
    os.chmod(base, 0o755)
    remote = base / "remote"
    files = size = 0
    for sid in ids:
        f, s = _link(landing / sid, remote / sid)
        files, size = files + f, size + s
    home = base / "home"
    (home / "secrets").mkdir(parents=True, mode=0o700)
    pub = generate_keypair(home / "secrets" / CREDENTIAL)
    server = prepare(base / "sshd", client_keys=[pub])
    with server:
        host_key = server.host_key
        reg = base / "registry.yaml"
        entries = {sid: pull_entry_lines(server.url(remote / sid), server.user, host_key) for sid in ids}
        reg.write_text(_registry_with_pull(data, entries), encoding="utf-8")
        connections = PullOptions().connections
        results = {
            "sources": len(ids),
            "files": files,
            "bytes": size,
            "connections": connections,
            "empty_s": [],
            "nothing_new_s": [],
            "nothing_new_in_process_s": [],
            "sftp_s": [],
        }
        # bytecode cached as on an installed machine, outside the tree (PYTHONDONTWRITEBYTECODE may be set)
        env = {"PYTHONPYCACHEPREFIX": str(base / "pycache"), "PYTHONDONTWRITEBYTECODE": ""}
        warm = [str(BIN / "python"), "-c", "import asyncssh, ingestion.pull.run, numlake.cli, orchestration.settings"]
        _timed(warm, env)
        for i in range(repeat):
            run_home, run_landing = base / f"h{i}", base / f"l{i}"
            shutil.copytree(home, run_home)
            cmd = [
                str(BIN / "numlake"),
                "pull",
                "--home",
                str(run_home),
                "--landing",
                str(run_landing),
                "--registry",
                str(reg),
            ]

            def ours(cmd: list[str] = cmd, run_landing: Path = run_landing) -> None:
                with _Cpu(server, results, "empty"):
                    secs, err = _timed(cmd, env)
                results["empty_s"].append(round(secs, 3))
                with _Cpu(server, results, "nothing_new"):
                    secs, err = _timed(cmd, env)
                results["nothing_new_s"].append(round(secs, 3))
                results["nothing_new_in_process_s"].append(float(re.search(r"fetched in ([0-9.]+)s", err).group(1)))
                shutil.rmtree(run_landing)

            def theirs(i: int = i) -> None:
                with _Cpu(server, results, "sftp"):
                    secs = _sftp_all(server, home / "secrets" / CREDENTIAL, remote, base / f"s{i}", ids, connections)
                results["sftp_s"].append(round(secs, 3))
                shutil.rmtree(base / f"s{i}")

            for side in (ours, theirs) if i % 2 == 0 else (theirs, ours):  # alternate who goes first
                side()
    shutil.rmtree(base, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in results.items() if k.endswith("_s") and isinstance(v, list)}
    ratios = sorted(s / e for s, e in zip(results["sftp_s"], results["empty_s"]))
    results.update({f"median_{k}": v for k, v in med.items()})
    results["ratio_vs_sftp"] = round(med["sftp_s"] / med["empty_s"], 3)
    results["ratio_range"] = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"  # per side-by-side pair
    results["mb_per_s"] = round(size / 1e6 / med["empty_s"], 1)
    return results


def _registry_with_pull(data: dict, entries: dict[str, list[str]]) -> str:
    from numlake.simulate.pull import add_pull_entries

    lines = ["sources:"]
    for s in data["sources"]:
        lines.append(f"  - id: {s['id']}")
        for k, v in s.items():
            if k != "id":
                lines.append(f"    {k}: {json.dumps(v, ensure_ascii=False)}")
    return add_pull_entries("\n".join(lines) + "\n", entries)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--landing", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--sources", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="scratch folder on the landing's filesystem (default: beside the landing)")
    ap.add_argument("--json")
    a = ap.parse_args()
    landing = Path(a.landing).resolve()
    res = bench(landing, Path(a.registry).resolve(), a.sources, Path(a.out or landing.parent), a.repeat)
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
