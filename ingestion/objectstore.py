"""Where the lake lives: the home's own folder (the default) or an S3-compatible object store.

The lake root is ``<home>/lake`` unless a root ``s3://bucket/prefix`` is configured, by
``NUMLAKE_LAKE_URL`` or else ``url`` in ``<home>/lake.yaml`` (docs/SCALE.md, "The lake on
object storage"):

    url: s3://numlake-lake/prod
    endpoint_url: https://s3.internal.example:9000   # an S3-compatible store; NUMLAKE_S3_ENDPOINT wins
    region: cn-north-1

Credentials are never part of this configuration: s3fs takes them from the standard AWS chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and ``~/.aws``, an instance
role), so they are in no file numlake writes, no log line and no dbt profile value.

A remote root is a ``upath.UPath`` over s3fs, so the lake's path arithmetic (``root / feed /
...``, ``exists``, ``unlink``) is the same for both; what differs (writing a file, listing
delivery files, reading with DuckDB) is in ``ingestion.lake``. DuckDB reads the store through
the same s3fs filesystem registered on its connection (DuckDB's own httpfs cannot be installed
on these machines); dbt-duckdb gets it from the profile's ``filesystems`` (``dbt_env``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from numlake.errors import UsageError
from numlake.paths import Home

if TYPE_CHECKING:
    import duckdb
    from upath import UPath

ENV_URL = "NUMLAKE_LAKE_URL"
ENV_ENDPOINT = "NUMLAKE_S3_ENDPOINT"
CONFIG_NAME = "lake.yaml"
CONFIG_KEYS = ("url", "endpoint_url", "region")
# what a bucket name may be (AWS's rules, which S3-compatible stores follow)
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

LakeRoot = Union[Path, "UPath"]


class LakeUnavailable(RuntimeError):
    """The object store holding the lake cannot be used now; the message is one line, without credentials."""


@dataclass(frozen=True)
class LakeLocation:
    url: str | None = None  # s3://bucket/prefix; None: the home's own folder
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def resolve(cls, home: Home) -> LakeLocation:
        """``<home>/lake.yaml`` (optional), with NUMLAKE_LAKE_URL over its `url` and
        NUMLAKE_S3_ENDPOINT over its `endpoint_url`; a bad value is one UsageError line."""
        path = home.root / CONFIG_NAME
        data: dict = {}
        if path.is_file():
            import yaml

            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as e:
                raise UsageError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
            if not isinstance(data, dict):
                raise UsageError(f"{path}: expected a mapping with the keys {', '.join(CONFIG_KEYS)}")
            extra = sorted(str(k) for k in data if k not in CONFIG_KEYS)
            if any(re.search(r"key|secret|token|password|credential", k, re.I) for k in extra):
                raise UsageError(
                    f"{path}: credentials do not belong in {CONFIG_NAME} "
                    "(use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role)"
                )
            if extra:
                raise UsageError(f"{path}: unknown key {extra[0]}: expected {', '.join(CONFIG_KEYS)}")
        url = os.environ.get(ENV_URL) or data.get("url") or None
        endpoint = os.environ.get(ENV_ENDPOINT) or data.get("endpoint_url") or None
        region = data.get("region") or None
        where = ENV_URL if os.environ.get(ENV_URL) else str(path)
        if url is not None:
            url = _check_url(str(url), where)
        return cls(url=url, endpoint_url=str(endpoint) if endpoint else None, region=str(region) if region else None)

    @property
    def remote(self) -> bool:
        return self.url is not None

    @property
    def bucket(self) -> str:
        return str(self.url)[len("s3://") :].split("/", 1)[0]

    def storage_options(self) -> dict[str, Any]:
        """s3fs's arguments for this store, credentials left to the AWS chain. No listing
        cache: another process (dbt, a second run) changes the lake between two listings."""
        opts: dict[str, Any] = {"use_listings_cache": False}
        if self.endpoint_url:
            opts["endpoint_url"] = self.endpoint_url
        if self.region:
            opts["client_kwargs"] = {"region_name": self.region}
        return opts

    def root(self, home: Home) -> LakeRoot:
        if self.url is None:
            return home.lake
        from upath import UPath

        return UPath(self.url, **self.storage_options())

    def dbt_env(self, home: Home) -> dict[str, str]:
        """NUMLAKE_LAKE (the root dbt's sources read) and NUMLAKE_LAKE_FILESYSTEMS (the fsspec
        filesystems dbt-duckdb registers on its connection: none for a local lake)."""
        filesystems = [{"fs": "s3", **self.storage_options()}] if self.remote else []
        return {
            "NUMLAKE_LAKE": self.url.rstrip("/") if self.url else str(home.lake),
            "NUMLAKE_LAKE_FILESYSTEMS": json.dumps(filesystems),
        }


def _check_url(url: str, where: str) -> str:
    if not url.startswith("s3://"):
        raise UsageError(
            f"{where}: lake url {url!r} is not s3://bucket/prefix (a local lake is <home>/lake, the default)"
        )
    bucket = url[len("s3://") :].split("/", 1)[0]
    if not BUCKET.match(bucket):
        raise UsageError(f"{where}: {bucket!r} in lake url {url!r} is not an S3 bucket name")
    return url.rstrip("/")


def lake_root(home: Home) -> LakeRoot:
    """The lake root of `home`: its own ``lake`` folder or the configured object store."""
    return LakeLocation.resolve(home).root(home)


def is_remote(root: Any) -> bool:
    return not isinstance(root, Path)


def register(con: duckdb.DuckDBPyConnection, root: LakeRoot) -> None:
    """Let DuckDB read `root`'s object store (``read_parquet('s3://...')``, ``glob``); nothing for a local lake."""
    if is_remote(root):
        con.register_filesystem(root.fs)


def store_errors(root: LakeRoot) -> tuple[type[BaseException], ...]:
    """What the object store under `root` raises when it cannot be reached or refuses a
    request (s3fs turns refusals into OSError subclasses, connection failures stay
    botocore's); nothing for a local lake, whose errors stay as they are. Imported only here,
    so a local lake never loads botocore."""
    if not is_remote(root):
        return ()
    import aiohttp
    from botocore.exceptions import BotoCoreError, ClientError
    from fsspec.exceptions import FSTimeoutError

    return (BotoCoreError, ClientError, aiohttp.ClientError, FSTimeoutError)


def from_store(root: LakeRoot, exc: BaseException) -> bool:
    """Whether `exc` is the object store's failure: one of `store_errors`, or what s3fs made of
    one (it raises an OSError, "[Errno 121] Internal Server Error" for a 5xx, while handling
    botocore's error, which stays its context)."""
    kinds = store_errors(root)
    seen = 0
    while exc is not None and seen < 10:
        if kinds and isinstance(exc, kinds):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def describe(root: LakeRoot, exc: BaseException) -> str:
    """One line saying why the store failed, naming the lake and the endpoint, not the credentials."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    endpoint = root.storage_options.get("endpoint_url") if is_remote(root) else None
    at = f" at {endpoint}" if endpoint else ""
    return f"lake {root}{at} unavailable: {type(exc).__name__}: {text[:300]}"
