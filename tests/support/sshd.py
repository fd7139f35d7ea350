"""A real OpenSSH sshd on 127.0.0.1 for the pull-mode tests, and a small world of pull sources around it.

The server is `ingestion.pull.sshd.SftpServer` (the demo's): a free port, a generated host
key, an authorized_keys for generated client keys, internal-sftp only. Without `sshd` the
tests are skipped with one line saying so, except under CI (CI=true), where they fail: a
missing install step must not pass for a green run. When the tests run as root, the server
logs in the unprivileged `nobody`, so that file modes (a folder the account may not read)
mean on the server what they mean in production.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from ingestion.pull.sshd import SftpServer, find_sshd, generate_keypair, prepare
from numlake.paths import Home

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def require_sshd() -> None:
    if find_sshd() is None:
        msg = "sshd not found: run scripts/setup_sshd.sh (Debian openssh-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def server_user() -> str:
    return "nobody" if os.geteuid() == 0 else __import__("getpass").getuser()


def open_tree(path: Path) -> None:
    """Make `path` and its content readable by the server's account (which may be `nobody`)."""
    for root, _dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


@dataclass
class PullWorld:
    """A home, a landing area, remote trees and a registry of pull sources served by one sshd."""

    base: Path
    server: SftpServer
    sources: dict[str, dict] = field(default_factory=dict)

    @property
    def home(self) -> Home:
        return Home(self.base / "home")

    @property
    def landing(self) -> Path:
        return self.base / "landing"

    @property
    def registry(self) -> Path:
        return self.base / "registry.yaml"

    def remote(self, source_id: str) -> Path:
        return self.base / "remote" / source_id

    def add_source(
        self,
        source_id: str,
        credential: str | None = None,
        host_key: str | None = None,
        url: str | None = None,
        copy_samples: bool = True,
    ) -> Path:
        """Register a sample source as a pull source, its sample deliveries on the server."""
        remote = self.remote(source_id)
        if copy_samples:
            shutil.copytree(FIXTURES / "samples" / source_id, remote)
        else:
            remote.mkdir(parents=True)
        open_tree(self.base / "remote")
        cred = credential or f"{source_id}-key"
        secret = self.home.root / "secrets" / cred
        if not secret.exists():
            pub = generate_keypair(secret)
            keys = self.server.state / "authorized_keys"
            keys.write_text(keys.read_text() + pub + "\n")
        self.sources[source_id] = {
            "url": url or self.server.url(remote),
            "user": self.server.user,
            "credential": cred,
            "host_key": host_key or self.server.host_key,
        }
        self.write_registry()
        return remote

    def write_registry(self) -> None:
        data = yaml.safe_load((FIXTURES / "samples_registry.yaml").read_text(encoding="utf-8"))
        for entry in data["sources"]:
            if entry["id"] in self.sources:
                entry["pull"] = self.sources[entry["id"]]
        self.registry.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    def pull(self, sources=None, hooks=None, **options):
        from ingestion.pull.run import options_from_env, pull

        opts = options_from_env(**{"retries": 0, "backoff_s": 0.1, **options})
        return pull(self.home, self.registry, self.landing, sources=sources, options=opts, hooks=hooks)

    def landing_files(self, source_id: str) -> list[str]:
        root = self.landing / source_id
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_landing_is_complete_copies(world, source_id: str) -> None:
    """No partial file: every file in the landing area is byte for byte the server's."""
    for rel in world.landing_files(source_id):
        assert (world.landing / source_id / rel).read_bytes() == (world.remote(source_id) / rel).read_bytes(), rel


def make_world(prefix: str = "numlake-pull-") -> PullWorld:
    """A world under a fresh temp folder that the server's account can traverse."""
    require_sshd()
    base = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(base, 0o755)
    (base / "landing").mkdir()
    secrets = base / "home" / "secrets"
    secrets.mkdir(parents=True, mode=0o700)
    server = prepare(base / "sshd", user=server_user())
    return PullWorld(base, server)


@pytest.fixture(name="pull_world")
def pull_world_fixture():
    """A PullWorld whose sshd is running; stopped and removed afterwards."""
    world = make_world()
    try:
        world.server.start()
        yield world
    finally:
        world.server.stop()
        shutil.rmtree(world.base, ignore_errors=True)
