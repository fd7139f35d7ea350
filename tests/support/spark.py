"""A real Spark standalone cluster on 127.0.0.1: one master and one worker, from the pyspark package.

The pip package has no `sbin/start-master.sh`; `bin/spark-class` starts the master and the
worker classes directly. Both bind to 127.0.0.1 on free ports (REST submission off), the
worker offers one core and a little memory: the machine is small and shared. Java comes
from the machine (`java` on PATH or JAVA_HOME); without it the fixture says so in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import (
    ServerUnavailable,
    free_port,
    log_tail,
    stop_process,
    wait_for_port,
)


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(Path(java_home) / "bin" / "java", os.X_OK):
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise ServerUnavailable("java not found: apt-get install openjdk-17-jre-headless (scripts/setup_scale.sh)")
    return found


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError as exc:
        raise ServerUnavailable("pyspark not installed: make setup (pyspark is in requirements.lock)") from exc
    return Path(pyspark.__file__).parent


def spark_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(folder),
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
            "SPARK_DAEMON_MEMORY": "256m",
            "PYSPARK_PYTHON": sys.executable,
        }
    )
    return env


@dataclass
class SparkCluster:
    folder: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.ports['master']}"

    def status(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['master_ui']}/json/", timeout=5) as resp:
            return json.load(resp)

    def completed_apps(self) -> list[str]:
        return [app.get("name", "") for app in self.status().get("completedapps", [])]

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        spark_class = Path(sys.executable).with_name("spark-class")
        if not os.access(spark_class, os.X_OK):
            spark_class = spark_home() / "bin" / "spark-class"
        with open(self.folder / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [str(spark_class), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=spark_env(self.folder),
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 240) -> None:
        find_java()
        self.ports = {name: free_port() for name in ("master", "master_ui", "worker", "worker_ui")}
        p = self.ports
        master = self._spawn(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(p["master"]),
                "--webui-port",
                str(p["master_ui"]),
            ],
        )
        wait_for_port(p["master"], master, timeout, self.folder / "master.log", "Spark master")
        worker = self._spawn(
            "worker",
            [
                "org.apache.spark.deploy.worker.Worker",
                self.master_url,
                "--host",
                "127.0.0.1",
                "--port",
                str(p["worker"]),
                "--webui-port",
                str(p["worker_ui"]),
                "--cores",
                "1",
                "--memory",
                "1g",
                "--work-dir",
                str(self.folder / "work"),
            ],
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise ServerUnavailable(f"Spark worker exited: {log_tail(self.folder / 'worker.log')}")
            try:
                if self.status().get("aliveworkers", 0) >= 1:
                    return
            except OSError:
                pass
            time.sleep(1)
        raise ServerUnavailable(
            f"no Spark worker registered with {self.master_url}: {log_tail(self.folder / 'worker.log')}"
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc, grace=15)
        self.procs.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_spark_cluster() -> SparkCluster:
    cluster = SparkCluster(folder=Path(tempfile.mkdtemp(prefix="numlake-spark-")))
    try:
        cluster.start()
    except ServerUnavailable:
        cluster.stop()
        raise
    return cluster
