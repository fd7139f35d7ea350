"""The manifest a warm dbt process parsed, kept for the next run (orchestration/dbt_warm.py).

`dbt parse` with partial parsing still costs ~0.7 s of CPU on every run, on the core ingestion is
using. The warm process keeps the manifest it parsed at `<target>/manifest.pickle` under a key of
everything the parse read: the parse arguments, the files of the project and its profiles (hidden
files aside), the environment the project may read and the installed dbt-core and adapters. A run
with the same key loads it in 0.01 s; a different key, or a file that does not load, and dbt
parses as before (then the new manifest is kept). The file is numlake's, in the home, like the
launcher beside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

KEPT_MANIFEST = "manifest.pickle"  # in the parse's --target-path
KEPT_FORMAT = 2  # 2: the parse's manifest.json kept after the manifest (a file of format 1 is parsed again)
KEY_DISTRIBUTIONS = ("dbt-core", "dbt-adapters", "dbt-duckdb", "dbt-spark")
PROJECT_FOLDERS = (("--project-dir", "DBT_PROJECT_DIR"), ("--profiles-dir", "DBT_PROFILES_DIR"))


def _arg(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def manifest_key(args: list[str], env: dict, parsed: dict) -> str:
    """What the manifest of `dbt parse args` depends on: the parse arguments, the files of the
    project and its profiles, the environment the project may read (`parsed`, the part of `env`
    that dbt_warm.parsed_env names), and the installed dbt."""
    from importlib.metadata import PackageNotFoundError, version

    from orchestration.dbt_support import project_fingerprint

    # the folders named (dbt's defaults, the working folder and ~/.dbt, are not hashed: numlake
    # always names both)
    folders = [Path(named).resolve() for f, v in PROJECT_FOLDERS if (named := _arg(args, f) or env.get(v))]

    versions = {}
    for dist in KEY_DISTRIBUTIONS:
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    key = {
        "args": args,
        "env": parsed,
        "project": [project_fingerprint(folder) for folder in folders],
        "versions": versions,
        "python": sys.version,
        "kept": KEPT_FORMAT,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def kept_path(args: list[str]) -> Path | None:
    target = _arg(args, "--target-path")
    return Path(target) / KEPT_MANIFEST if target else None


def _manifest_args(manifest) -> tuple:
    """dbt's own `Manifest.__reduce_ex__` lists its fields by position and is out of step with
    them in dbt-core 1.11 (the function lookup was added to the fields, not to the list): a
    manifest pickled that way comes back with its lookups in the wrong places. Keep its public
    fields by name instead; the private lookups and caches are rebuilt when first used."""
    import dataclasses

    public = [f.name for f in dataclasses.fields(manifest) if f.init and not f.name.startswith("_")]
    return type(manifest), {name: getattr(manifest, name) for name in public}


def rebuild_manifest(cls, fields: dict):
    return cls(**fields)


def dump_manifest(manifest, f) -> None:
    import copyreg

    pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = copyreg.dispatch_table.copy()
    pickler.dispatch_table[type(manifest)] = lambda m: (rebuild_manifest, _manifest_args(m))
    pickler.dump(manifest)


def load_kept(path: Path | None, key: str):
    """The manifest kept at `path` under `key` and the JSON its parse wrote (bytes, or None), or
    (None, None): absent, another key, unreadable."""
    if path is None:
        return None, None
    try:
        with open(path, "rb") as f:
            if pickle.load(f) != key:
                return None, None
            manifest = pickle.load(f)
            try:
                manifest_json = pickle.load(f)
            except EOFError:  # kept by an older numlake: no JSON beside it
                manifest_json = None
            return manifest, manifest_json if isinstance(manifest_json, bytes) else None
    except Exception:  # a partial or foreign file is only a missed shortcut: dbt parses
        return None, None


def keep(path: Path | None, key: str, manifest, manifest_json: bytes | None = None) -> None:
    """Keep the manifest for the next run, with the JSON its parse wrote (`manifest.json`, which
    the warm process copies instead of serializing the manifest again: dbt_warm_tuning.py); written
    aside, then renamed: never half a file, never a JSON of another parse."""
    if path is None:
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            pickle.dump(key, f, protocol=pickle.HIGHEST_PROTOCOL)  # read first: a stale manifest is not loaded
            dump_manifest(manifest, f)
            pickle.dump(manifest_json, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except Exception:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
